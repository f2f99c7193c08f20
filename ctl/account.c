/*
 * NAME
 *	account.c - tandemctl account add, check-key, repin, rekey;
 *	keybox new
 * SYNOPSIS
 *	int	ctl_account(int argc, char **argv);
 *	int	ctl_keybox(int argc, char **argv);
 * DESCRIPTION
 *	account add records an account on the foreground database: its
 *	row in accounts (status, courier-end and agent certificates as
 *	PEM) and its courier-end private key in account_keys, sealed by
 *	keybox (lib/keybox.h) under the key file both elements share,
 *	with the address as additional data. The sealed plaintext is the
 *	key as unencrypted PKCS#8 PEM. The key must match the courier-end
 *	certificate; key_serial is that certificate's serial in hex.
 *	Both rows go in one transaction.
 *
 *	account check-key opens the current sealed key of an account, on
 *	either database, with a keybox key file, and checks it against
 *	the courier-end certificate; it never prints the key.
 *
 *	account repin, on the background database, pins the agent
 *	certificate the foreground now has for an active account
 *	(agent_pins, sql/bg/006): the operator's word for a change the
 *	background refused to believe on its own. In the same
 *	transaction it deletes the address's offers (agent_pin_offers,
 *	sql/bg/010): an offer made by the certificate pinned before
 *	(maybe a stolen key) must not outlive it. The sha256 it prints
 *	is that of the certificate's DER from bg/010 on (what the help
 *	desk sees), of its PEM text before.
 *
 *	account rekey, on the foreground database, records a rekey of an
 *	active account asked by the operator (rekeys, sql/fg/006; state
 *	requested, the generation after the newest); the milter sends
 *	the notice within seconds (doc/flows.md 8). One already open is
 *	refused, naming its state.
 *
 *	keybox new writes a fresh keybox key file (64 hex digits and a
 *	newline, mode 0600); it refuses to overwrite a file.
 * DIAGNOSTICS
 *	See tandemctl.c.
 */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "keybox.h"
#include "util.h"

struct acct_opts {
	const char	*ao_db;
	const char	*ao_address;
	const char	*ao_status;
	const char	*ao_key;
	const char	*ao_cert;
	const char	*ao_agent;
	const char	*ao_keybox;
	const char	*ao_generation;
};

/* What goes into the database, all text. */
struct acct_rows {
	char		*ar_cert;	/* PEM */
	char		*ar_agent;	/* PEM, or NULL */
	char		*ar_serial;	/* hex */
	char		*ar_sealed;	/* \x and hex, for bytea */
};

static int
acct_parse(int argc, char **argv, struct acct_opts *o)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "address", required_argument, NULL, 'a' },
		{ "status", required_argument, NULL, 's' },
		{ "courier-key", required_argument, NULL, 'k' },
		{ "courier-cert", required_argument, NULL, 'c' },
		{ "agent-cert", required_argument, NULL, 'A' },
		{ "keybox-key", required_argument, NULL, 'K' },
		{ "generation", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 }
	};
	const char **slot;
	int c;

	memset(o, 0, sizeof(*o));
	o->ao_generation = "1";
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': slot = &o->ao_db; break;
		case 'a': slot = &o->ao_address; break;
		case 's': slot = &o->ao_status; break;
		case 'k': slot = &o->ao_key; break;
		case 'c': slot = &o->ao_cert; break;
		case 'A': slot = &o->ao_agent; break;
		case 'K': slot = &o->ao_keybox; break;
		case 'g': slot = &o->ao_generation; break;
		default: return -1;
		}
		*slot = optarg;
	}
	if (optind != argc)
		return ctl_fail(-1, "unexpected argument \"%s\"", argv[optind]);
	return 0;
}

static int
acct_check(const struct acct_opts *o)
{
	static const char *statuses[] = { "invited", "pending", "active",
		"transferred", "closed" };
	const char *a = o->ao_address, *at = strchr(a, '@'), *p;
	char *end;
	long g;
	size_t i;

	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') ||
	    strlen(a) > TN_MAX_ADDRESS)
		return ctl_fail(-1, "--address \"%s\": not local@domain", a);
	for (p = a; *p != '\0'; p++)
		if (!isgraph((unsigned char)*p) || isupper((unsigned char)*p))
			return ctl_fail(-1, "--address \"%s\": use lower "
			    "case, no spaces or control characters", a);
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(o->ao_status, statuses[i]) == 0)
			break;
	if (i == sizeof(statuses) / sizeof(statuses[0]))
		return ctl_fail(-1, "--status \"%s\": one of invited, pending, "
		    "active, transferred, closed", o->ao_status);
	g = strtol(o->ao_generation, &end, 10);
	if (*o->ao_generation == '\0' || *end != '\0' || g < 1 ||
	    g > 1000000)
		return ctl_fail(-1, "--generation \"%s\": a number from 1",
		    o->ao_generation);
	return 0;
}

/* BIO contents as a NUL-terminated string, to be freed. */
static char *
acct_bio_text(BIO *bio)
{
	char *data, *out;
	long len;

	len = BIO_get_mem_data(bio, &data);
	if (len < 0 || (out = malloc((size_t)len + 1)) == NULL)
		return NULL;
	memcpy(out, data, (size_t)len);
	out[len] = '\0';
	return out;
}

static X509 *
acct_read_cert(const char *path, char **pem)
{
	X509 *x = NULL;
	BIO *in, *out = NULL;

	if ((in = BIO_new_file(path, "r")) == NULL)
		ctl_fail(0, "%s: cannot open", path);
	else if ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) == NULL)
		ctl_fail(0, "%s: not a PEM certificate", path);
	else if ((out = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(out, x) != 1 ||
	    (*pem = acct_bio_text(out)) == NULL) {
		ctl_fail(0, "%s: out of memory", path);
		X509_free(x);
		x = NULL;
	}
	BIO_free(in);
	BIO_free(out);
	return x;
}

static int
acct_no_password(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return 0;
}

/* The private key in path, checked against cert, sealed for address. */
static int
acct_seal_key(const struct acct_opts *o, X509 *cert, struct acct_rows *r)
{
	struct keybox *kb = NULL;
	EVP_PKEY *key = NULL;
	BIO *in = NULL, *out = NULL;
	unsigned char *box = NULL;
	char *data, *hex = NULL, err[TN_ERRLEN];
	size_t boxlen = 0;
	long len;
	int rc = -1;

	if ((kb = keybox_load(o->ao_keybox, err)) == NULL) {
		ctl_fail(0, "%s", err);
		goto out;
	}
	if ((in = BIO_new_file(o->ao_key, "r")) == NULL) {
		ctl_fail(0, "%s: cannot open", o->ao_key);
		goto out;
	}
	if ((key = PEM_read_bio_PrivateKey(in, NULL, acct_no_password,
	    NULL)) == NULL) {
		ctl_fail(0, "%s: not an unencrypted PEM private key",
		    o->ao_key);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ctl_fail(0, "%s: does not match %s", o->ao_key, o->ao_cert);
		goto out;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(out, key, NULL, NULL, 0, NULL,
	    NULL) != 1 || (len = BIO_get_mem_data(out, &data)) <= 0) {
		ctl_fail(0, "%s: cannot encode the key", o->ao_key);
		goto out;
	}
	if (keybox_seal(kb, o->ao_address, (unsigned char *)data,
	    (size_t)len, &box, &boxlen, err) == -1) {
		ctl_fail(0, "%s", err);
		goto out;
	}
	if ((hex = util_hex(box, boxlen)) == NULL ||
	    asprintf(&r->ar_sealed, "\\x%s", hex) == -1) {
		r->ar_sealed = NULL;
		ctl_fail(0, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (out != NULL && BIO_get_mem_data(out, &data) > 0)
		OPENSSL_cleanse(data, (size_t)BIO_get_mem_data(out, &data));
	BIO_free(in);
	BIO_free(out);
	EVP_PKEY_free(key);
	keybox_free(kb);
	free(box);
	free(hex);
	return rc;
}

static char *
acct_serial(X509 *x)
{
	BIGNUM *bn;
	char *hex, *out = NULL, *p;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL)
		return NULL;
	if ((hex = BN_bn2hex(bn)) != NULL) {
		for (p = hex; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		out = strdup(hex);
		OPENSSL_free(hex);
	}
	BN_free(bn);
	return out;
}

static int
acct_store(PGconn *conn, const struct acct_opts *o,
    const struct acct_rows *r)
{
	const char *acct[4] = { o->ao_address, o->ao_status, r->ar_cert,
		r->ar_agent };
	const char *key[4] = { o->ao_address, o->ao_generation, r->ar_serial,
		r->ar_sealed };
	PGresult *res;
	int rc = -1;

	if (ctl_begin(conn) == -1)
		return -1;
	if ((res = ctl_sql(conn, "INSERT INTO accounts (address, status, "
	    "courier_cert, agent_cert) VALUES ($1, $2, $3, $4)", 4,
	    acct)) == NULL)
		goto out;
	PQclear(res);
	if ((res = ctl_sql(conn, "INSERT INTO account_keys (address, "
	    "generation, key_serial, sealed_key) VALUES ($1, $2, $3, $4)", 4,
	    key)) == NULL)
		goto out;
	PQclear(res);
	rc = 0;
out:
	if (ctl_end(conn, rc == 0) == -1)
		rc = -1;
	return rc;
}

static int
acct_add(int argc, char **argv)
{
	struct acct_opts o;
	struct acct_rows r;
	X509 *cert = NULL, *agent = NULL;
	PGconn *conn = NULL;
	int status = EX_DATAERR;

	memset(&r, 0, sizeof(r));
	if (acct_parse(argc, argv, &o) == -1)
		return EX_USAGE;
	if (o.ao_db == NULL || o.ao_address == NULL || o.ao_status == NULL ||
	    o.ao_key == NULL || o.ao_cert == NULL || o.ao_keybox == NULL)
		return ctl_fail(EX_USAGE, "account add needs --db, --address, "
		    "--status, --courier-key, --courier-cert and --keybox-key");
	if (acct_check(&o) == -1)
		return EX_USAGE;
	if ((cert = acct_read_cert(o.ao_cert, &r.ar_cert)) == NULL ||
	    (o.ao_agent != NULL &&
	    (agent = acct_read_cert(o.ao_agent, &r.ar_agent)) == NULL))
		goto out;
	if ((r.ar_serial = acct_serial(cert)) == NULL) {
		ctl_fail(0, "%s: cannot read the serial", o.ao_cert);
		goto out;
	}
	if (acct_seal_key(&o, cert, &r) == -1)
		goto out;
	if ((conn = ctl_connect(o.ao_db)) == NULL) {
		status = EX_UNAVAILABLE;
		goto out;
	}
	if (acct_store(conn, &o, &r) == -1) {
		status = EX_SOFTWARE;
		goto out;
	}
	printf("account %s added: status %s, key generation %s, serial %s\n",
	    o.ao_address, o.ao_status, o.ao_generation, r.ar_serial);
	status = 0;
out:
	PQfinish(conn);
	X509_free(cert);
	X509_free(agent);
	free(r.ar_cert);
	free(r.ar_agent);
	free(r.ar_serial);
	free(r.ar_sealed);
	return status;
}

/* The current key of an account, opened and checked; 0 or a status. */
static int
acct_open_key(PGresult *res, const struct acct_opts *o)
{
	const char *hex = PQgetvalue(res, 0, 1), *pem = PQgetvalue(res, 0, 2);
	unsigned char *box = NULL, *plain = NULL;
	size_t boxlen, plainlen = 0;
	struct keybox *kb = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *bio = NULL;
	char err[TN_ERRLEN];
	int status = EX_DATAERR;

	boxlen = strlen(hex) / 2;
	if (strncmp(hex, "\\x", 2) != 0 || strlen(hex) % 2 != 0 ||
	    (box = malloc(boxlen)) == NULL ||
	    util_unhex(hex + 2, box, --boxlen) == -1) {
		ctl_fail(0, "%s: sealed key unreadable", o->ao_address);
		goto out;
	}
	if ((kb = keybox_load(o->ao_keybox, err)) == NULL ||
	    keybox_open(kb, o->ao_address, box, boxlen, &plain, &plainlen,
	    err) == -1) {
		ctl_fail(0, "%s: %s", o->ao_address, err);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(plain, (int)plainlen)) == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL, acct_no_password,
	    NULL)) == NULL) {
		ctl_fail(0, "%s: the opened key is not a PEM key",
		    o->ao_address);
		goto out;
	}
	BIO_free(bio);
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
	    X509_check_private_key(cert, key) != 1) {
		ctl_fail(0, "%s: the key does not match the courier-end "
		    "certificate", o->ao_address);
		goto out;
	}
	status = 0;
out:
	BIO_free(bio);
	X509_free(cert);
	EVP_PKEY_free(key);
	keybox_clear_free(plain, plainlen);
	keybox_free(kb);
	free(box);
	return status;
}

static int
acct_check_key(int argc, char **argv)
{
	struct acct_opts o;
	const char *params[1];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int status = EX_SOFTWARE;

	if (acct_parse(argc, argv, &o) == -1)
		return EX_USAGE;
	if (o.ao_db == NULL || o.ao_address == NULL || o.ao_keybox == NULL)
		return ctl_fail(EX_USAGE, "account check-key needs --db, "
		    "--address and --keybox-key");
	params[0] = o.ao_address;
	if ((conn = ctl_connect(o.ao_db)) == NULL)
		return EX_UNAVAILABLE;
	if ((res = ctl_sql(conn, "SELECT k.generation, k.sealed_key, "
	    "a.courier_cert FROM account_keys k JOIN accounts a USING "
	    "(address) WHERE k.address = $1 AND k.retired_at IS NULL AND "
	    "a.courier_cert IS NOT NULL ORDER BY k.generation DESC LIMIT 1",
	    1, params)) == NULL)
		goto out;
	if (PQntuples(res) != 1) {
		status = ctl_fail(EX_DATAERR, "%s: no current key",
		    o.ao_address);
		goto out;
	}
	if ((status = acct_open_key(res, &o)) == 0)
		printf("account %s key generation %s opens and matches its "
		    "certificate\n", o.ao_address, PQgetvalue(res, 0, 0));
out:
	PQclear(res);
	PQfinish(conn);
	return status;
}

/*
 * The operator believes the agent certificate the foreground now has
 * for an active account: the background pins it, and the changes shown
 * to the help desk are resolved.
 */
static int
acct_repin(int argc, char **argv)
{
	struct acct_opts o;
	static const char pin[] = "INSERT INTO agent_pins (address, "
	    "agent_cert) SELECT address, agent_cert FROM accounts WHERE "
	    "address = lower($1) AND status = 'active' AND agent_cert IS NOT "
	    "NULL ON CONFLICT (address) DO UPDATE SET agent_cert = "
	    "EXCLUDED.agent_cert, pinned_at = now() RETURNING ";
	char sql[sizeof(pin) + 64];
	const char *params[1];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int status = EX_SOFTWARE, ok = 0, offers;

	if (acct_parse(argc, argv, &o) == -1)
		return EX_USAGE;
	if (o.ao_db == NULL || o.ao_address == NULL)
		return ctl_fail(EX_USAGE, "account repin needs --db BGCONNINFO "
		    "and --address");
	params[0] = o.ao_address;
	if ((conn = ctl_connect(o.ao_db)) == NULL)
		return EX_UNAVAILABLE;
	if ((res = ctl_sql(conn, "SELECT to_regclass('agent_pins') IS NOT "
	    "NULL, to_regclass('agent_pin_offers') IS NOT NULL", 0,
	    NULL)) == NULL)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		status = ctl_fail(EX_DATAERR, "no agent_pins here: repin runs "
		    "on a background database migrated to bg/006");
		goto out;
	}
	offers = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	snprintf(sql, sizeof(sql), "%s%s", pin, offers ?
	    "tandem_cert_sha256(agent_cert)" :
	    "encode(sha256(convert_to(agent_cert, 'UTF8')), 'hex')");
	PQclear(res);
	res = NULL;
	if (ctl_begin(conn) == -1)
		goto out;
	if ((res = ctl_sql(conn, sql, 1, params)) == NULL)
		goto end;
	if (PQntuples(res) != 1) {
		status = ctl_fail(EX_DATAERR, "%s: no active account with an "
		    "agent certificate", o.ao_address);
		goto end;
	}
	printf("account %s agent certificate pinned sha256=%s\n",
	    o.ao_address, PQgetvalue(res, 0, 0));
	PQclear(res);
	if ((res = ctl_sql(conn, "UPDATE agent_cert_changes SET resolved_at "
	    "= now() WHERE address = lower($1) AND resolved_at IS NULL", 1,
	    params)) == NULL)
		goto end;
	PQclear(res);
	res = NULL;
	if (offers && (res = ctl_sql(conn, "DELETE FROM agent_pin_offers "
	    "WHERE address = lower($1)", 1, params)) == NULL)
		goto end;
	ok = 1;
end:
	if (ctl_end(conn, ok) == 0 && ok)
		status = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return status;
}

/*
 * "account rekey --db FGCONNINFO [--address] A [--reason TEXT]": a rekey
 * asked by the operator, for the milter to notice (doc/flows.md 8).
 */
static int
acct_rekey(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "address", required_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	const char *db = NULL, *address = NULL, *reason = "";
	const char *params[3];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int c, status = EX_SOFTWARE, ok = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'a': address = optarg; break;
		case 'r': reason = optarg; break;
		default: return EX_USAGE;
		}
	}
	if (address == NULL && optind < argc)
		address = argv[optind++];
	if (optind != argc)
		return ctl_fail(EX_USAGE, "unexpected argument \"%s\"",
		    argv[optind]);
	if (db == NULL || address == NULL)
		return ctl_fail(EX_USAGE, "account rekey needs --db FGCONNINFO "
		    "and an address");
	if (strlen(reason) > 200 || strpbrk(reason, "\r\n") != NULL)
		return ctl_fail(EX_USAGE, "--reason: one line of at most 200 "
		    "characters");
	params[0] = address;
	params[1] = reason;
	if ((conn = ctl_connect(db)) == NULL)
		return EX_UNAVAILABLE;
	if (ctl_begin(conn) == -1)
		goto out;
	if ((res = ctl_sql(conn, "SELECT r.state, r.generation FROM rekeys r "
	    "WHERE r.address = lower($1) AND r.state NOT IN ('complete', "
	    "'cancelled')", 1, params)) == NULL)
		goto end;
	if (PQntuples(res) > 0) {
		status = ctl_fail(EX_DATAERR, "%s: a rekey to generation %s is "
		    "already open (%s)", address, PQgetvalue(res, 0, 1),
		    PQgetvalue(res, 0, 0));
		goto end;
	}
	PQclear(res);
	if ((res = ctl_sql(conn, "INSERT INTO rekeys (address, generation, "
	    "requested_by, reason) SELECT address, "
	    "tandem_generation(address) + 1, 'operator', $2 FROM accounts "
	    "WHERE address = lower($1) AND status = 'active' AND agent_cert "
	    "IS NOT NULL AND tandem_generation(address) IS NOT NULL "
	    "RETURNING generation", 2, params)) == NULL)
		goto end;
	if (PQntuples(res) != 1) {
		status = ctl_fail(EX_DATAERR, "%s: no active account with an "
		    "agent certificate", address);
		goto end;
	}
	printf("account %s rekey to generation %s requested\n", address,
	    PQgetvalue(res, 0, 0));
	ok = 1;
end:
	if (ctl_end(conn, ok) == 0 && ok)
		status = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return status;
}

int
ctl_account(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return acct_add(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "check-key") == 0)
		return acct_check_key(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "repin") == 0)
		return acct_repin(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "rekey") == 0)
		return acct_rekey(argc - 1, argv + 1);
	return ctl_fail(EX_USAGE, "account: give add, check-key, repin or "
	    "rekey");
}

int
ctl_keybox(int argc, char **argv)
{
	unsigned char secret[KEYBOX_SECRET_LEN];
	char *hex, line[2 * KEYBOX_SECRET_LEN + 2], err[TN_ERRLEN];
	int status = EX_CANTCREAT;

	if (argc != 3 || strcmp(argv[1], "new") != 0)
		return ctl_fail(EX_USAGE, "usage: tandemctl keybox new FILE");
	if (util_random(secret, sizeof(secret)) == -1 ||
	    (hex = util_hex(secret, sizeof(secret))) == NULL) {
		OPENSSL_cleanse(secret, sizeof(secret));
		return ctl_fail(EX_SOFTWARE, "cannot make a random key");
	}
	snprintf(line, sizeof(line), "%s\n", hex);
	if (util_write_file(argv[2], line, strlen(line), 0600, 1, err) == -1)
		ctl_fail(0, "%s", err);
	else
		status = 0;
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(hex, strlen(hex));
	OPENSSL_cleanse(line, sizeof(line));
	free(hex);
	return status;
}
