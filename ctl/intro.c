/*
 * NAME
 *	intro.c - tandemctl intro and route: what a courier knows of others
 * SYNOPSIS
 *	int	ctl_intro(int argc, char **argv);
 *	int	ctl_route(int argc, char **argv);
 * DESCRIPTION
 *	tandemctl intro add --db CONNINFO --cert ELEMENT.crt --chain
 *	CHAIN.pem --anchors ROOT.pem checks the element certificate with
 *	intro_check() (to the trust anchors in ROOT.pem) and stores what
 *	it learned in introductions, replacing the row of the same courier
 *	and element: endpoint, role, domains, and the certificate followed
 *	by its chain. Prints "introduction COURIER ELEMENT ENDPOINT
 *	domains D" (D: the domains separated by commas, or "-").
 *
 *	tandemctl intro list --db CONNINFO prints one line per row, sorted
 *	by courier and element: "COURIER ELEMENT ENDPOINT DOMAINS
 *	LEARNED_AT", domains separated by commas or "-", the time in UTC
 *	as 2026-01-31T12:00:00Z.
 *
 *	tandemctl intro remove --db CONNINFO --courier NAME [--element
 *	fg|bg] deletes the courier's introductions (of one element only
 *	with --element) and prints "removed N introductions of NAME".
 *
 *	tandemctl route list --db CONNINFO [--address A] prints the learned
 *	routes, "ADDRESS COURIER REASON LEARNED_AT", sorted by address.
 *	tandemctl route remove --db CONNINFO --address A deletes one and
 *	prints "removed route of A".
 *
 *	The foreground and the background databases have the same tables
 *	for these: each command works on either.
 * DIAGNOSTICS
 *	64 usage, 65 a refused certificate or nothing to remove, 66 a
 *	file that cannot be read, 69 database unreachable, 70 database
 *	refused.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "intro.h"
#include "pki.h"
#include "util.h"

#define TIME_SQL(col) "to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

struct in_opts {
	const char	*io_db;
	const char	*io_cert;
	const char	*io_chain;
	const char	*io_anchors;
	const char	*io_courier;
	const char	*io_element;
	const char	*io_address;
};

static int
intro_opts(int argc, char **argv, struct in_opts *o)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "cert", required_argument, NULL, 'c' },
		{ "chain", required_argument, NULL, 'C' },
		{ "anchors", required_argument, NULL, 'A' },
		{ "courier", required_argument, NULL, 'n' },
		{ "element", required_argument, NULL, 'e' },
		{ "address", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': o->io_db = optarg; break;
		case 'c': o->io_cert = optarg; break;
		case 'C': o->io_chain = optarg; break;
		case 'A': o->io_anchors = optarg; break;
		case 'n': o->io_courier = optarg; break;
		case 'e': o->io_element = optarg; break;
		case 'a': o->io_address = optarg; break;
		default: return -1;
		}
	}
	if (optind != argc) {
		ctl_fail(0, "unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	if (o->io_db == NULL) {
		ctl_fail(0, "--db CONNINFO is required");
		return -1;
	}
	return 0;
}

/* Read and check the introduction given on the command line. */
static int
intro_load(const struct in_opts *o, struct intro **in)
{
	struct pki_trust *tr = NULL;
	unsigned char *cert = NULL, *chain = NULL;
	size_t clen, chlen;
	char err[TN_ERRLEN];
	int st = EX_NOINPUT;

	if ((tr = pki_trust_load(o->io_anchors, err)) == NULL ||
	    util_read_file(o->io_cert, TN_MAX_MESSAGE, &cert, &clen,
	    err) == -1 || util_read_file(o->io_chain, TN_MAX_MESSAGE, &chain,
	    &chlen, err) == -1) {
		st = ctl_fail(EX_NOINPUT, "%s", err);
		goto out;
	}
	if (intro_check_pem(tr, (char *)cert, clen, (char *)chain, chlen,
	    PKI_KIND_NONE, in, err) == -1) {
		st = ctl_fail(EX_DATAERR, "%s: %s", o->io_cert, err);
		goto out;
	}
	st = 0;
out:
	free(cert);
	free(chain);
	pki_trust_free(tr);
	return st;
}

/* "a,b" for printing and "{a,b}" for an SQL array; names need no quotes. */
static int
intro_lists(const struct intro *in, char **comma, char **array)
{
	char err[TN_ERRLEN], *sp, *p;

	if (intro_domains_text(in, &sp, err) == -1)
		return -1;
	for (p = sp; *p != '\0'; p++)
		if (*p == ' ')
			*p = ',';
	*comma = sp;
	if (asprintf(array, "{%s}", sp) == -1) {
		*array = NULL;
		return -1;
	}
	return 0;
}

static int
intro_add(PGconn *conn, const struct in_opts *o)
{
	static const char sql[] = "INSERT INTO introductions (courier, "
	    "element, endpoint, certificate, domains, role, courier_key, "
	    "pinned) VALUES ($1, $2, $3, $4, $5::text[], $6, $7, true) ON "
	    "CONFLICT (courier, element) DO UPDATE SET endpoint = "
	    "EXCLUDED.endpoint, certificate = EXCLUDED.certificate, domains = "
	    "EXCLUDED.domains, role = EXCLUDED.role, courier_key = "
	    "EXCLUDED.courier_key, pinned = true, learned_at = now()";
	struct intro *in = NULL;
	const char *vals[7];
	char *comma = NULL, *array = NULL;
	PGresult *res;
	int st;

	if (o->io_cert == NULL || o->io_chain == NULL || o->io_anchors == NULL)
		return ctl_fail(EX_USAGE, "intro add needs --cert, --chain "
		    "and --anchors");
	if ((st = intro_load(o, &in)) != 0)
		return st;
	st = EX_SOFTWARE;
	if (intro_lists(in, &comma, &array) == -1) {
		st = ctl_fail(EX_OSERR, "out of memory");
		goto out;
	}
	vals[0] = in->in_courier;
	vals[1] = in->in_kind == PKI_KIND_FG ? "fg" : "bg";
	vals[2] = in->in_endpoint;
	vals[3] = in->in_pem;
	vals[4] = array;
	vals[5] = pki_role_name(in->in_role);
	vals[6] = in->in_key;
	if ((res = ctl_sql(conn, sql, 7, vals)) == NULL)
		goto out;
	PQclear(res);
	printf("introduction %s %s %s domains %s\n", vals[0], vals[1], vals[2],
	    *comma != '\0' ? comma : "-");
	st = 0;
out:
	free(comma);
	free(array);
	intro_free(in);
	return st;
}

/* Print every row, fields separated by one space, NULL or "" as "-". */
static int
intro_print(PGconn *conn, const char *sql, int n, const char *const *vals)
{
	PGresult *res;
	const char *v;
	int i, j;

	if ((res = ctl_sql(conn, sql, n, vals)) == NULL)
		return EX_SOFTWARE;
	for (i = 0; i < PQntuples(res); i++)
		for (j = 0; j < PQnfields(res); j++) {
			v = PQgetisnull(res, i, j) ? "" : PQgetvalue(res, i, j);
			printf("%s%c", *v != '\0' ? v : "-",
			    j + 1 < PQnfields(res) ? ' ' : '\n');
		}
	PQclear(res);
	return 0;
}

/* Run a DELETE and count what it removed; 0 or EX_SOFTWARE. */
static int
intro_delete(PGconn *conn, const char *sql, int n, const char *const *vals,
    long *count)
{
	PGresult *res;

	if ((res = ctl_sql(conn, sql, n, vals)) == NULL)
		return EX_SOFTWARE;
	*count = atol(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

static int
intro_remove(PGconn *conn, const struct in_opts *o)
{
	const char *vals[2] = { o->io_courier, o->io_element };
	long n;
	int st;

	if (o->io_courier == NULL)
		return ctl_fail(EX_USAGE, "intro remove needs --courier NAME");
	if (o->io_element != NULL && strcmp(o->io_element, "fg") != 0 &&
	    strcmp(o->io_element, "bg") != 0)
		return ctl_fail(EX_USAGE, "--element: fg or bg, not \"%s\"",
		    o->io_element);
	if ((st = intro_delete(conn, "DELETE FROM introductions WHERE "
	    "courier = $1 AND ($2::text IS NULL OR element = $2)", 2, vals,
	    &n)) != 0)
		return st;
	if (n == 0)
		return ctl_fail(EX_DATAERR, "no introduction of %s%s%s",
		    o->io_courier, o->io_element ? " for element " : "",
		    o->io_element ? o->io_element : "");
	printf("removed %ld introduction%s of %s\n", n, n == 1 ? "" : "s",
	    o->io_courier);
	return 0;
}

static int
ctl_group(int argc, char **argv, const char *const *cmds,
    int (*run)(PGconn *, const char *, const struct in_opts *))
{
	struct in_opts o;
	PGconn *conn;
	size_t i;
	int st;

	if (argc < 2)
		return ctl_fail(EX_USAGE, "%s: give %s or %s", argv[0],
		    cmds[0], cmds[1]);
	for (i = 0; cmds[i] != NULL; i++)
		if (strcmp(argv[1], cmds[i]) == 0)
			break;
	if (cmds[i] == NULL)
		return ctl_fail(EX_USAGE, "%s: unknown command \"%s\"",
		    argv[0], argv[1]);
	if (intro_opts(argc - 1, argv + 1, &o) == -1)
		return EX_USAGE;
	if ((conn = ctl_connect(o.io_db)) == NULL)
		return EX_UNAVAILABLE;
	st = run(conn, argv[1], &o);
	PQfinish(conn);
	return st;
}

static int
intro_run(PGconn *conn, const char *cmd, const struct in_opts *o)
{
	if (strcmp(cmd, "add") == 0)
		return intro_add(conn, o);
	if (strcmp(cmd, "remove") == 0)
		return intro_remove(conn, o);
	return intro_print(conn, "SELECT courier, element, endpoint, "
	    "array_to_string(domains, ','), " TIME_SQL("learned_at")
	    " FROM introductions ORDER BY courier, element", 0, NULL);
}

int
ctl_intro(int argc, char **argv)
{
	static const char *const cmds[] = { "add", "list", "remove", NULL };

	return ctl_group(argc, argv, cmds, intro_run);
}

static int
route_run(PGconn *conn, const char *cmd, const struct in_opts *o)
{
	const char *vals[1] = { o->io_address };
	long n;
	int st;

	if (strcmp(cmd, "list") == 0)
		return intro_print(conn, "SELECT address, courier, reason, "
		    TIME_SQL("learned_at") " FROM address_routes WHERE "
		    "$1::text IS NULL OR address = $1 ORDER BY address", 1,
		    vals);
	if (o->io_address == NULL)
		return ctl_fail(EX_USAGE, "route remove needs --address A");
	if ((st = intro_delete(conn, "DELETE FROM address_routes WHERE "
	    "address = $1", 1, vals, &n)) != 0)
		return st;
	if (n == 0)
		return ctl_fail(EX_DATAERR, "no route of %s", o->io_address);
	printf("removed route of %s\n", o->io_address);
	return 0;
}

int
ctl_route(int argc, char **argv)
{
	static const char *const cmds[] = { "list", "remove", NULL };

	return ctl_group(argc, argv, cmds, route_run);
}
