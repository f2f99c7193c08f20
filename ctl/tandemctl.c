/*
 * NAME
 *	tandemctl - operator's command for Tandem databases and accounts
 * SYNOPSIS
 *	tandemctl db migrate --fg|--bg --db CONNINFO [--sqldir DIR]
 *	tandemctl db publish --db FGCONNINFO [--repl-password-file FILE]
 *	tandemctl db subscribe --db BGCONNINFO --publisher FGCONNINFO|
 *		--publisher-file FILE [--name NAME]
 *	tandemctl db status --db CONNINFO
 *	tandemctl account add --db FGCONNINFO --address A --status S
 *		--courier-key KEY --courier-cert CRT [--agent-cert CRT]
 *		--keybox-key FILE [--generation N]
 *	tandemctl account check-key --db CONNINFO --address A
 *		--keybox-key FILE
 *	tandemctl account repin --db BGCONNINFO --address A
 *	tandemctl account rekey --db FGCONNINFO [--address] A [--reason TEXT]
 *	tandemctl keybox new FILE
 *	tandemctl intro add --db CONNINFO --cert CRT --chain PEM
 *		--anchors PEM
 *	tandemctl intro list --db CONNINFO
 *	tandemctl intro remove --db CONNINFO --courier NAME [--element E]
 *	tandemctl route list --db CONNINFO [--address A]
 *	tandemctl route remove --db CONNINFO --address A
 *	tandemctl status --conf FILE [--ca-dir]
 *	tandemctl transfer expect|start|cancel|list --db FGCONNINFO ...
 *	tandemctl crl fetch --out FILE [--ca PEM] [--timeout SECONDS] URL...
 *	tandemctl close --db FGCONNINFO --ca-dir DIR [--ca-dir DIR]
 *		[--reason REASON] [--address] ADDRESS
 * DESCRIPTION
 *	The entry point: picks the command group, and holds the helpers
 *	every group uses (ctl.h), which print what db_exec() and its kin
 *	(db.h) say. See tandemctl(8) for the commands.
 * DIAGNOSTICS
 *	Exit status from sysexits.h: EX_USAGE for a bad command line,
 *	EX_NOINPUT for a missing file, EX_DATAERR for bad input,
 *	EX_UNAVAILABLE when the database cannot be reached, EX_SOFTWARE
 *	when it refuses a statement.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"

static void
ctl_usage(void)
{
	fprintf(stderr,
	    "usage: tandemctl db migrate --fg|--bg --db CONNINFO "
	    "[--sqldir DIR]\n"
	    "       tandemctl db publish --db FGCONNINFO "
	    "[--repl-password-file FILE]\n"
	    "       tandemctl db subscribe --db BGCONNINFO --publisher "
	    "FGCONNINFO|--publisher-file FILE [--name NAME]\n"
	    "       tandemctl db status --db CONNINFO\n"
	    "       tandemctl account add --db FGCONNINFO --address A "
	    "--status S\n"
	    "           --courier-key KEY --courier-cert CRT "
	    "[--agent-cert CRT]\n"
	    "           --keybox-key FILE [--generation N]\n"
	    "       tandemctl account check-key --db CONNINFO --address A "
	    "--keybox-key FILE\n"
	    "       tandemctl account repin --db BGCONNINFO --address A\n"
	    "       tandemctl account rekey --db FGCONNINFO [--address] A "
	    "[--reason TEXT]\n"
	    "       tandemctl keybox new FILE\n"
	    "       tandemctl invite --conf FILE --address A [--db CONNINFO]\n"
	    "           [--again]\n"
	    "       tandemctl intro add --db CONNINFO --cert CRT --chain PEM "
	    "--anchors PEM\n"
	    "       tandemctl intro list --db CONNINFO\n"
	    "       tandemctl intro remove --db CONNINFO --courier NAME "
	    "[--element fg|bg]\n"
	    "       tandemctl route list --db CONNINFO [--address A]\n"
	    "       tandemctl route remove --db CONNINFO --address A\n"
	    "       tandemctl status --conf FILE [--ca-dir]\n"
	    "       tandemctl transfer expect --db FGCONNINFO [--address] A "
	    "--from COURIER\n"
	    "       tandemctl transfer start --db FGCONNINFO [--address] A "
	    "--to COURIER\n"
	    "       tandemctl transfer cancel --db FGCONNINFO [--address] A "
	    "[--force]\n"
	    "       tandemctl transfer list --db FGCONNINFO\n"
	    "       tandemctl crl fetch --out FILE [--ca PEM] "
	    "[--timeout SECONDS] URL...\n"
	    "       tandemctl close --db FGCONNINFO --ca-dir DIR "
	    "[--ca-dir DIR] [--reason REASON]\n"
	    "           [--address] ADDRESS\n");
}

int
ctl_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("tandemctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static void
ctl_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

PGconn *
ctl_connect(const char *conninfo)
{
	PGconn *conn;
	char *nl;

	conn = PQconnectdb(conninfo);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		const char *m = conn ? PQerrorMessage(conn) : "out of memory";
		char msg[TN_ERRLEN];

		snprintf(msg, sizeof(msg), "%s", m);
		if ((nl = strchr(msg, '\n')) != NULL)
			*nl = '\0';
		ctl_fail(0, "cannot connect to the database: %s", msg);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, ctl_quiet, NULL);
	return conn;
}

PGresult *
ctl_sql(PGconn *conn, const char *sql, int n, const char *const *values)
{
	PGresult *res;
	char err[TN_ERRLEN];

	if (db_exec(conn, sql, n, values, NULL, &res, err) == -1)
		ctl_fail(0, "%s", err);
	return res;
}

int
ctl_begin(PGconn *conn)
{
	char err[TN_ERRLEN];

	if (db_begin(conn, err) == -1)
		return ctl_fail(-1, "%s", err);
	return 0;
}

int
ctl_end(PGconn *conn, int commit)
{
	char err[TN_ERRLEN];

	if (!commit)
		db_rollback(conn);
	else if (db_commit(conn, err) == -1)
		return ctl_fail(-1, "%s", err);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		ctl_usage();
		return EX_USAGE;
	}
	if (strcmp(argv[1], "db") == 0)
		return ctl_db(argc - 1, argv + 1);
	if (strcmp(argv[1], "account") == 0)
		return ctl_account(argc - 1, argv + 1);
	if (strcmp(argv[1], "keybox") == 0)
		return ctl_keybox(argc - 1, argv + 1);
	if (strcmp(argv[1], "invite") == 0)
		return ctl_invite(argc - 1, argv + 1);
	if (strcmp(argv[1], "intro") == 0)
		return ctl_intro(argc - 1, argv + 1);
	if (strcmp(argv[1], "route") == 0)
		return ctl_route(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return ctl_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "transfer") == 0)
		return ctl_transfer(argc - 1, argv + 1);
	if (strcmp(argv[1], "crl") == 0)
		return ctl_crl(argc - 1, argv + 1);
	if (strcmp(argv[1], "close") == 0)
		return ctl_close(argc - 1, argv + 1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		ctl_usage();
		return 0;
	}
	ctl_fail(0, "unknown command \"%s\"", argv[1]);
	ctl_usage();
	return EX_USAGE;
}
