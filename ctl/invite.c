/*
 * NAME
 *	invite.c - tandemctl invite: the operator invites a first user
 * SYNOPSIS
 *	int	ctl_invite(int argc, char **argv);
 * DESCRIPTION
 *	tandemctl invite --conf FILE --address A [--db CONNINFO] [--again]
 *	reads the
 *	foreground's tandem.conf (courier name, service mailbox, hold
 *	limit, the FG element certificate, key and chain, the database
 *	unless --db is given), makes the same signed invitation the
 *	milter sends for a held message (tmail_invitation(), no held
 *	message ids), and in one transaction records it in invitations
 *	(only the SHA-256 of the referral token; a trigger of
 *	sql/fg/003-federation.sql adds it to invitation_tokens in the same
 *	transaction, for the background) and queues the mail in
 *	outbox, from which tandem-milter's sender submits it. It refuses
 *	an address that has an account, or a pending invitation that has
 *	not expired, and for a private courier an address outside its
 *	domains (courier.domains, each covering its subdomains: its name
 *	constraints). An address that declined invitations (sql/fg/013,
 *	doc/flows.md 2) is refused unless --again is given, which
 *	forgets the decline in the same transaction. Prints
 *	"invitation MSGID for A queued".
 * DIAGNOSTICS
 *	See tandemctl.c: 64 usage, 65 bad address, outside a private
 *	courier's domains, already invited or registered, or declined, 69
 *	database unreachable, 70 database refused, 78 bad
 *	configuration or element files.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "ctl.h"
#include "cms.h"
#include "conf.h"
#include "pki.h"
#include "proto.h"
#include "route.h"
#include "tmail.h"

struct inv_opts {
	const char	*io_conf;
	const char	*io_address;
	const char	*io_db;
	int		 io_again;
};

static int
invite_opts(int argc, char **argv, struct inv_opts *o)
{
	static const struct option longopts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "address", required_argument, NULL, 'a' },
		{ "db", required_argument, NULL, 'D' },
		{ "again", no_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->io_conf = optarg; break;
		case 'a': o->io_address = optarg; break;
		case 'D': o->io_db = optarg; break;
		case 'g': o->io_again = 1; break;
		default: return -1;
		}
	}
	if (optind != argc || o->io_conf == NULL || o->io_address == NULL) {
		ctl_fail(0, "invite needs --conf and --address");
		return -1;
	}
	return 0;
}

/* The FG element identity of cf, checked to be one. */
static int
invite_id(const struct conf *cf, struct cms_id *id, char *err)
{
	memset(id, 0, sizeof(*id));
	if ((id->ci_cert = pki_load_cert(cf->cf_cert, err)) == NULL ||
	    (id->ci_key = pki_load_key(cf->cf_key, NULL, err)) == NULL ||
	    (id->ci_chain = pki_load_certs(cf->cf_chain, err)) == NULL)
		return -1;
	if (pki_cert_kind(id->ci_cert) != PKI_KIND_FG) {
		tn_err(err, "%s: not a foreground element certificate",
		    cf->cf_cert);
		return -1;
	}
	return 0;
}

static void
invite_id_free(struct cms_id *id)
{
	X509_free(id->ci_cert);
	EVP_PKEY_free(id->ci_key);
	sk_X509_pop_free(id->ci_chain, X509_free);
}

/*
 * A private courier invites only in its own domains, which the
 * router would otherwise defer to its superior: 0 free to invite,
 * EX_DATAERR refused (said why, naming the domains).
 */
static int
invite_domain(const struct conf *cf, const char *address)
{
	const char *domain = strrchr(address, '@') + 1;
	char list[TN_ERRLEN];
	size_t i, n = 0;

	if (cf->cf_role != PKI_ROLE_PRIVATE)
		return 0;
	for (i = 0; i < cf->cf_ndomains; i++)
		if (route_domain_covers(cf->cf_domains[i], domain))
			return 0;
	list[0] = '\0';
	for (i = 0; i < cf->cf_ndomains && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    i > 0 ? ", " : "", cf->cf_domains[i]);
	return ctl_fail(EX_DATAERR, "%s: not in the domains of private "
	    "courier %s (%s)", address, cf->cf_name, list);
}

/*
 * An address that declined invitations (sql/fg/013) is invited again
 * only with --again, at its own request: 0 free, 1 refused, -1.
 */
static int
invite_declined(PGconn *conn, const char *address, int again)
{
	const char *p[1] = { address };
	PGresult *res;
	int n;

	if ((res = ctl_sql(conn, "SELECT to_char(declined_at AT TIME ZONE "
	    "'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM declined_addresses WHERE "
	    "address = $1", 1, p)) == NULL)
		return -1;
	n = PQntuples(res);
	if (n == 1 && !again)
		ctl_fail(0, "%s declined Tandem invitations on %s UTC; invite "
		    "it again only at its request, with --again", address,
		    PQgetvalue(res, 0, 0));
	PQclear(res);
	return n == 1 && !again ? 1 : 0;
}

/* 0 free to invite, 1 refused (said why), -1 database error. */
static int
invite_check(PGconn *conn, const char *address, int again)
{
	const char *p[1] = { address };
	PGresult *res;
	int n;

	if ((n = invite_declined(conn, address, again)) != 0)
		return n;

	if ((res = ctl_sql(conn, "SELECT (SELECT count(*) FROM accounts "
	    "WHERE address = $1) + (SELECT count(*) FROM invitations WHERE "
	    "address = $1 AND status = 'pending' AND expires_at > now())",
	    1, p)) == NULL)
		return -1;
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (n == 0)
		return 0;
	ctl_fail(0, "%s: already registered or invited", address);
	return 1;
}

/* Record the invitation and queue its mail, in one transaction. */
static int
invite_store(PGconn *conn, const struct conf *cf, const char *address,
    const char *msgid, const unsigned char *hash,
    const unsigned char *dhash, time_t expires, const char *mail)
{
	char hex[2 + 2 * TMAIL_HASHLEN + 1], dhex[sizeof(hex)], exp[32];
	const char *p[5] = { address, msgid, hex, exp, dhex };
	const char *q[4] = { msgid, cf->cf_service_mailbox, address, mail };
	PGresult *res;
	size_t i;
	int ok;

	hex[0] = dhex[0] = '\\';
	hex[1] = dhex[1] = 'x';
	for (i = 0; i < TMAIL_HASHLEN; i++) {
		snprintf(hex + 2 + 2 * i, 3, "%02x", hash[i]);
		snprintf(dhex + 2 + 2 * i, 3, "%02x", dhash[i]);
	}
	snprintf(exp, sizeof(exp), "%lld", (long long)expires);
	if (ctl_begin(conn) == -1)
		return -1;
	/* --again: the decline goes, for the background too (bg/015). */
	if ((res = ctl_sql(conn, "WITH d AS (DELETE FROM declined_addresses "
	    "WHERE address = $1 RETURNING address) INSERT INTO bg_relay "
	    "(address, kind, message_id, body, expires_at) SELECT address, "
	    "'undeclined', $2, '\\x', now() + interval '1 day' FROM d", 2,
	    p)) == NULL) {
		ctl_end(conn, 0);
		return -1;
	}
	PQclear(res);
	if ((res = ctl_sql(conn, "INSERT INTO invitations (address, "
	    "message_id, token_hash, expires_at, decline_hash) VALUES ($1, "
	    "$2, $3::bytea, to_timestamp($4::bigint), $5::bytea)", 5,
	    p)) == NULL) {
		ctl_end(conn, 0);
		return -1;
	}
	PQclear(res);
	if ((res = ctl_sql(conn, "INSERT INTO outbox (message_id, mail_from, "
	    "rcpt_to, body) VALUES ($1, $2, ARRAY[$3], convert_to($4, "
	    "'UTF8'))", 4, q)) == NULL) {
		ctl_end(conn, 0);
		return -1;
	}
	PQclear(res);
	ok = ctl_end(conn, 1);
	return ok;
}

static int
invite_run(const struct inv_opts *o, const struct conf *cf)
{
	struct tmail_invite ti;
	struct cms_id id;
	unsigned char hash[TMAIL_HASHLEN], dhash[TMAIL_HASHLEN];
	char err[TN_ERRLEN], msgid[TN_MAX_MSGID + 1], *mail = NULL;
	PGconn *conn = NULL;
	size_t mlen;
	int rc;

	if (invite_id(cf, &id, err) == -1) {
		rc = ctl_fail(EX_CONFIG, "%s", err);
		goto out;
	}
	if ((conn = ctl_connect(o->io_db != NULL ? o->io_db :
	    cf->cf_conninfo)) == NULL) {
		rc = EX_UNAVAILABLE;
		goto out;
	}
	if ((rc = invite_check(conn, o->io_address, o->io_again)) != 0) {
		rc = rc == 1 ? EX_DATAERR : EX_SOFTWARE;
		goto out;
	}
	memset(&ti, 0, sizeof(ti));
	ti.ti_address = o->io_address;
	ti.ti_inviter = cf->cf_service_mailbox;
	ti.ti_courier = cf->cf_name;
	ti.ti_register = cf->cf_service_mailbox;
	ti.ti_bg_url = cf->cf_url != NULL && cf->cf_url[0] != '\0' ?
	    cf->cf_url : NULL;
	ti.ti_expires = time(NULL) + cf->cf_hold_limit;
	ti.ti_submission = cf->cf_user_submission[0] != '\0' ?
	    cf->cf_user_submission : NULL;
	ti.ti_anchor_url = cf->cf_anchor_url[0] != '\0' ?
	    cf->cf_anchor_url : NULL;
	ti.ti_anchors = cf->cf_anchors[0] != '\0' ? cf->cf_anchors : NULL;
	ti.ti_id = &id;
	ti.ti_decline = dhash;
	if (tmail_invitation(&ti, &mail, &mlen, msgid, sizeof(msgid), hash,
	    err) == -1) {
		rc = ctl_fail(EX_SOFTWARE, "invitation: %s", err);
		goto out;
	}
	if (invite_store(conn, cf, o->io_address, msgid, hash, dhash,
	    ti.ti_expires, mail) == -1) {
		rc = EX_SOFTWARE;
		goto out;
	}
	printf("invitation %s for %s queued\n", msgid, o->io_address);
	rc = 0;
out:
	free(mail);
	if (conn != NULL)
		PQfinish(conn);
	invite_id_free(&id);
	return rc;
}

int
ctl_invite(int argc, char **argv)
{
	struct inv_opts o;
	struct conf *cf = NULL;
	char err[TN_ERRLEN];
	int rc;

	if (invite_opts(argc, argv, &o) == -1)
		return EX_USAGE;
	proto_init();
	if (!proto_valid_address(o.io_address) ||
	    strpbrk(o.io_address, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != NULL)
		return ctl_fail(EX_DATAERR, "%s: not an address in lower case",
		    o.io_address);
	if (conf_load(o.io_conf, &cf, err) == -1)
		return ctl_fail(EX_CONFIG, "%s", err);
	if (cf->cf_service_mailbox == NULL ||
	    cf->cf_service_mailbox[0] == '\0' || cf->cf_name == NULL ||
	    cf->cf_name[0] == '\0') {
		rc = ctl_fail(EX_CONFIG, "%s: courier name and foreground "
		    "service_mailbox are needed", o.io_conf);
		goto out;
	}
	if ((rc = invite_domain(cf, o.io_address)) == 0)
		rc = invite_run(&o, cf);
out:
	conf_free(cf);
	return rc;
}
