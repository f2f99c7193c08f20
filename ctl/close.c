/*
 * NAME
 *	close.c - tandemctl close: an account of this courier closed for
 *	good
 * SYNOPSIS
 *	tandemctl close --db FGCONNINFO --ca-dir DIR [--ca-dir DIR]
 *	    [--reason REASON] [--address] ADDRESS
 *
 *	int	ctl_close(int argc, char **argv);
 * DESCRIPTION
 *	The foreground database owns account state, so close works there
 *	alone; the background learns it by replication (its trigger,
 *	sql/bg/014, purges its held ARMs and the agent's mailbox).
 *
 *	In one transaction on the foreground database it locks the
 *	account, sets its status to closed, and purges every held message
 *	for the address that was neither released nor purged (purged_at
 *	set, the sealed content dropped, as the hygiene purge does). An
 *	address with no account, one transferred away (it is the new
 *	courier's) and one with a transfer in flight (cancel it first)
 *	are refused and nothing changes. An account closed already is
 *	said so, and the rest is done again: it finishes a close whose
 *	revocation failed.
 *
 *	After the commit, every agent certificate the foreground has on
 *	record for the address (the account's, and those of its rekeys,
 *	old and new) is revoked by "tandem-ca revoke -d DIR --reason
 *	REASON" (found on PATH), DIR being the --ca-dir whose CA issued
 *	it (its issuing.crt, else its ca.crt): the revocation of issue 9,
 *	not a second one. tandem-ca reads the certificate from a file,
 *	agent-SERIAL.crt in a folder of its own made under $TMPDIR (or
 *	/tmp), removed after; what tandem-ca says names that file.
 *	REASON is cessationOfOperation unless given. The lists must then
 *	reach both elements (tls.crl_file; tandemctl crl fetch).
 *
 *	ctl_close() returns a sysexits.h status.
 * DIAGNOSTICS
 *	EX_USAGE for a bad command line; EX_NOINPUT for a --ca-dir
 *	without a CA certificate; EX_DATAERR for an address that cannot
 *	be closed, or a certificate no --ca-dir issued (the account is
 *	closed then: run it again with the right folder); EX_UNAVAILABLE
 *	when the database cannot be reached; EX_SOFTWARE when it refuses
 *	a statement or tandem-ca fails.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "crl.h"
#include "ctl.h"
#include "pki.h"
#include "util.h"

#define CLOSE_MAXDIRS	4

struct close_opts {
	const char	*co_db;
	const char	*co_address;
	const char	*co_reason;
	const char	*co_dirs[CLOSE_MAXDIRS];
	X509		*co_cas[CLOSE_MAXDIRS];
	int		 co_ndirs;
};

static int
close_usage(void)
{
	return ctl_fail(EX_USAGE, "usage: tandemctl close --db FGCONNINFO "
	    "--ca-dir DIR [--ca-dir DIR] [--reason REASON] [--address] "
	    "ADDRESS");
}

static int
close_parse(int argc, char **argv, struct close_opts *o)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "address", required_argument, NULL, 'a' },
		{ "ca-dir", required_argument, NULL, 'C' },
		{ "reason", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->co_db = optarg; break;
		case 'a': o->co_address = optarg; break;
		case 'r': o->co_reason = optarg; break;
		case 'C':
			if (o->co_ndirs == CLOSE_MAXDIRS)
				return ctl_fail(EX_USAGE, "--ca-dir: at most "
				    "%d", CLOSE_MAXDIRS);
			o->co_dirs[o->co_ndirs++] = optarg;
			break;
		default: return EX_USAGE;
		}
	}
	if (o->co_address == NULL && optind < argc)
		o->co_address = argv[optind++];
	if (optind != argc)
		return ctl_fail(EX_USAGE, "unexpected argument \"%s\"",
		    argv[optind]);
	if (o->co_db == NULL || o->co_address == NULL || o->co_ndirs == 0)
		return close_usage();
	if (strchr(o->co_address, '@') == NULL ||
	    strlen(o->co_address) > TN_MAX_ADDRESS)
		return ctl_fail(EX_USAGE, "\"%s\": not local@domain",
		    o->co_address);
	if (crl_reason_parse(o->co_reason) == -2)
		return ctl_fail(EX_USAGE, "--reason: one of unspecified, "
		    "keyCompromise, CACompromise, affiliationChanged, "
		    "superseded, cessationOfOperation");
	return 0;
}

/* The CA certificate of each --ca-dir, before anything changes. */
static int
close_load_cas(struct close_opts *o)
{
	char path[4096], err[TN_ERRLEN];
	int i;

	for (i = 0; i < o->co_ndirs; i++) {
		snprintf(path, sizeof(path), "%s/issuing.crt", o->co_dirs[i]);
		if (access(path, F_OK) == -1)
			snprintf(path, sizeof(path), "%s/ca.crt",
			    o->co_dirs[i]);
		if ((o->co_cas[i] = pki_load_cert(path, err)) == NULL)
			return ctl_fail(EX_NOINPUT, "--ca-dir %s: %s",
			    o->co_dirs[i], err);
	}
	return 0;
}

/* Refused, said why; 0 to go on (*already set for a closed one). */
static int
close_check(PGconn *conn, const char *address, int *already)
{
	const char *p[1] = { address };
	PGresult *res;
	int status = EX_SOFTWARE;

	if ((res = ctl_sql(conn, "SELECT status, coalesce(redirect_to, ''), "
	    "to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS TZ') FROM accounts "
	    "WHERE address = lower($1) FOR UPDATE", 1, p)) == NULL)
		return status;
	if (PQntuples(res) == 0)
		status = ctl_fail(EX_DATAERR, "%s: no account here; nothing "
		    "to close", address);
	else if (strcmp(PQgetvalue(res, 0, 0), "transferred") == 0)
		status = ctl_fail(EX_DATAERR, "%s: transferred to %s; the "
		    "account is that courier's now", address,
		    PQgetvalue(res, 0, 1));
	else {
		if ((*already = strcmp(PQgetvalue(res, 0, 0), "closed") == 0))
			printf("account %s closed already, since %s\n",
			    address, PQgetvalue(res, 0, 2));
		status = 0;
	}
	PQclear(res);
	if (status != 0)
		return status;
	if ((res = ctl_sql(conn, "SELECT direction, other_courier, state "
	    "FROM transfers WHERE address = lower($1) AND state NOT IN "
	    "('complete', 'cancelled')", 1, p)) == NULL)
		return EX_SOFTWARE;
	if (PQntuples(res) > 0)
		status = ctl_fail(EX_DATAERR, "%s: an %s transfer with %s is "
		    "in flight (%s); cancel it first (tandemctl transfer "
		    "cancel)", address, PQgetvalue(res, 0, 0),
		    PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	PQclear(res);
	return status;
}

/*
 * The transaction: closed, held mail purged; *certs the agent
 * certificates on record (PQclear()). 0 or a status.
 */
static int
close_store(PGconn *conn, const char *address, PGresult **certs)
{
	const char *p[1] = { address };
	PGresult *res = NULL;
	char held[32] = "0";
	int already = 0, ok = 0, status;

	if (ctl_begin(conn) == -1)
		return EX_SOFTWARE;
	if ((status = close_check(conn, address, &already)) != 0)
		goto end;
	status = EX_SOFTWARE;
	if ((res = ctl_sql(conn, "UPDATE accounts SET status = 'closed' "
	    "WHERE address = lower($1) AND status <> 'closed'", 1,
	    p)) == NULL)
		goto end;
	PQclear(res);
	if ((res = ctl_sql(conn, "UPDATE held_messages SET purged_at = "
	    "now(), body = ''::bytea WHERE recipient = lower($1) AND "
	    "released_at IS NULL AND purged_at IS NULL", 1, p)) == NULL)
		goto end;
	snprintf(held, sizeof(held), "%s", PQcmdTuples(res));
	PQclear(res);
	if ((*certs = ctl_sql(conn, "SELECT agent_cert FROM accounts WHERE "
	    "address = lower($1) AND agent_cert IS NOT NULL UNION SELECT "
	    "new_agent_cert FROM rekeys WHERE address = lower($1) AND "
	    "new_agent_cert IS NOT NULL UNION SELECT old_agent_cert FROM "
	    "rekeys WHERE address = lower($1) AND old_agent_cert IS NOT "
	    "NULL", 1, p)) == NULL)
		goto end;
	ok = 1;
end:
	if (ctl_end(conn, ok) == 0 && ok) {
		if (!already)
			printf("account %s closed\n", address);
		printf("held messages purged: %s\n", held);
		status = 0;
	} else if (ok)
		status = EX_SOFTWARE;
	if (status != 0) {
		PQclear(*certs);
		*certs = NULL;
	}
	return status;
}

/*
 * tandem-ca revoke -d dir --reason reason name, run in the folder
 * tmp that holds name (so that what it says names the certificate by
 * its serial, not by a temporary path); 0 or a status.
 */
static int
close_run_ca(const char *dir, const char *reason, const char *tmp,
    const char *name)
{
	char abs[PATH_MAX];
	char *const args[] = { "tandem-ca", "revoke", "-d", abs,
		"--reason", (char *)reason, (char *)name, NULL };
	pid_t pid;
	int ws;

	if (realpath(dir, abs) == NULL)
		return ctl_fail(EX_NOINPUT, "%s: %s", dir, strerror(errno));
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return ctl_fail(EX_OSERR, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (chdir(tmp) == -1) {
			fprintf(stderr, "tandemctl: %s: %s\n", tmp,
			    strerror(errno));
			_exit(EX_OSERR);
		}
		execvp(args[0], args);
		fprintf(stderr, "tandemctl: tandem-ca: %s\n", strerror(errno));
		_exit(EX_UNAVAILABLE);
	}
	while (waitpid(pid, &ws, 0) == -1)
		if (errno != EINTR)
			return ctl_fail(EX_OSERR, "waitpid: %s",
			    strerror(errno));
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return ctl_fail(EX_SOFTWARE, "tandem-ca revoke -d %s failed "
		    "(status %d)", dir, WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
	return 0;
}

/* One certificate (PEM) revoked by the CA of the --ca-dir that issued it. */
static int
close_revoke(const struct close_opts *o, const char *pem)
{
	char dir[4096], path[4096 + 100], name[96], issuer[256];
	char err[TN_ERRLEN], *hex = NULL;
	const char *tmp = getenv("TMPDIR");
	BIGNUM *bn = NULL;
	X509 *x = NULL;
	BIO *bio = NULL;
	int i, status = EX_DATAERR;

	dir[0] = path[0] = '\0';
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		ctl_fail(0, "%s: an agent certificate on record is no PEM "
		    "certificate; not revoked", o->co_address);
		goto out;
	}
	for (i = 0; i < o->co_ndirs; i++)
		if (X509_check_issued(o->co_cas[i], x) == X509_V_OK)
			break;
	if (i == o->co_ndirs) {
		X509_NAME_oneline(X509_get_issuer_name(x), issuer,
		    sizeof(issuer));
		ctl_fail(0, "%s: an agent certificate issued by %s, the CA "
		    "of no --ca-dir given; not revoked", o->co_address,
		    issuer);
		goto out;
	}
	/* tandem-ca reads a file: one in a folder of our own, 0700. */
	snprintf(dir, sizeof(dir), "%s/tandemctl-close-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		ctl_fail(0, "%s: %s", dir, strerror(errno));
		dir[0] = '\0';
		status = EX_CANTCREAT;
		goto out;
	}
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) ==
	    NULL || (hex = BN_bn2hex(bn)) == NULL) {
		ctl_fail(0, "out of memory");
		status = EX_OSERR;
		goto out;
	}
	snprintf(name, sizeof(name), "agent-%.80s.crt", hex);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (util_write_file(path, pem, strlen(pem), 0600, 1, err) == -1) {
		ctl_fail(0, "%s", err);
		path[0] = '\0';
		status = EX_CANTCREAT;
		goto out;
	}
	status = close_run_ca(o->co_dirs[i], o->co_reason, dir, name);
out:
	if (path[0] != '\0')
		unlink(path);
	if (dir[0] != '\0')
		rmdir(dir);
	BIO_free(bio);
	BN_free(bn);
	OPENSSL_free(hex);
	X509_free(x);
	return status;
}

int
ctl_close(int argc, char **argv)
{
	struct close_opts o;
	PGconn *conn = NULL;
	PGresult *certs = NULL;
	int i, r, status;

	memset(&o, 0, sizeof(o));
	o.co_reason = "cessationOfOperation";
	if ((status = close_parse(argc, argv, &o)) != 0 ||
	    (status = close_load_cas(&o)) != 0)
		goto out;
	if ((conn = ctl_connect(o.co_db)) == NULL) {
		status = EX_UNAVAILABLE;
		goto out;
	}
	if ((status = close_store(conn, o.co_address, &certs)) != 0)
		goto out;
	for (i = 0; i < PQntuples(certs); i++)
		if ((r = close_revoke(&o, PQgetvalue(certs, i, 0))) != 0)
			status = r;
	printf("agent certificates on record: %d%s\n", PQntuples(certs),
	    status == 0 ? ", all revoked" : "");
	if (status != 0)
		ctl_fail(0, "%s is closed, but a certificate is not revoked: "
		    "run tandemctl close again once that is mended",
		    o.co_address);
out:
	for (i = 0; i < o.co_ndirs; i++)
		X509_free(o.co_cas[i]);
	PQclear(certs);
	PQfinish(conn);
	return status;
}
