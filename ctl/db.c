/*
 * NAME
 *	db.c - tandemctl db: migrations, publication, subscription, status
 * SYNOPSIS
 *	int	ctl_db(int argc, char **argv);
 * DESCRIPTION
 *	migrate applies the numbered files NNN-name.sql of DIR/fg or
 *	DIR/bg that the database has not seen, in order, each in its own
 *	transaction together with its row in schema_migrations. A file
 *	holds several statements, so it alone goes through PQexec(); the
 *	files come from the package, never from outside, and take no
 *	parameters. A database migrated as one element refuses the
 *	other's files.
 *
 *	publish creates (or resets) publication tandem_pub on the
 *	foreground for accounts, account_keys, bg_relay,
 *	invitation_tokens and heartbeat; with --repl-password-file it
 *	also creates (or updates) the background's replication role
 *	tandem_repl: LOGIN REPLICATION, the password as a SCRAM verifier
 *	made here, SELECT on the published tables only. subscribe
 *	creates the background's subscription to it (PostgreSQL 15:
 *	needs a superuser), or points an existing one at the publisher
 *	and refreshes it (tables published since); --publisher-file
 *	reads the publisher's conninfo, password included, from a file
 *	only its owner may read, so that it never shows on a command
 *	line. Neither the password nor that conninfo is ever printed.
 *	status prints what the database is and how replication goes.
 * DIAGNOSTICS
 *	See tandemctl.c. Strings from the server are printed as they are.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"
#include "util.h"

#define DB_PUBLICATION	"tandem_pub"
#define DB_PUBLISHED	"accounts, account_keys, bg_relay, " \
			"invitation_tokens, heartbeat"
#define DB_MAX_SQLFILE	(1024 * 1024)
#define DB_MAX_FILES	999
#define DB_MAX_SECRET	4096
#define DB_REPL_ROLE	"tandem_repl"

struct db_opts {
	const char	*do_db;
	const char	*do_sqldir;
	const char	*do_publisher;
	const char	*do_name;
	const char	*do_element;	/* "fg" or "bg" */
	const char	*do_repl_password;	/* file */
	const char	*do_publisher_file;
};

static int
db_parse(int argc, char **argv, struct db_opts *o)
{
	static const struct option longopts[] = {
		{ "fg", no_argument, NULL, 'f' },
		{ "bg", no_argument, NULL, 'b' },
		{ "db", required_argument, NULL, 'd' },
		{ "sqldir", required_argument, NULL, 's' },
		{ "publisher", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "repl-password-file", required_argument, NULL, 'r' },
		{ "publisher-file", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->do_sqldir = TANDEM_SQLDIR;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
		case 'b':
			if (o->do_element != NULL)
				return ctl_fail(-1, "give one of --fg, --bg");
			o->do_element = c == 'f' ? "fg" : "bg";
			break;
		case 'd':
			o->do_db = optarg;
			break;
		case 's':
			o->do_sqldir = optarg;
			break;
		case 'p':
			o->do_publisher = optarg;
			break;
		case 'n':
			o->do_name = optarg;
			break;
		case 'r':
			o->do_repl_password = optarg;
			break;
		case 'P':
			o->do_publisher_file = optarg;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc)
		return ctl_fail(-1, "unexpected argument \"%s\"", argv[optind]);
	if (o->do_db == NULL)
		return ctl_fail(-1, "--db CONNINFO is required");
	return 0;
}

static int
db_filter(const struct dirent *de)
{
	const char *n = de->d_name;
	size_t len = strlen(n);

	return len > 8 && isdigit((unsigned char)n[0]) &&
	    isdigit((unsigned char)n[1]) && isdigit((unsigned char)n[2]) &&
	    n[3] == '-' && strcmp(n + len - 4, ".sql") == 0;
}

/* Which element the database was migrated as: "fg", "bg" or "". */
static int
db_element(PGconn *conn, char *out, size_t outlen)
{
	PGresult *res;

	if ((res = ctl_sql(conn, "SELECT string_agg(DISTINCT element, ',') "
	    "FROM schema_migrations", 0, NULL)) == NULL)
		return -1;
	snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* One file: 0 applied, 1 already there, -1 failed. */
static int
db_apply(PGconn *conn, const char *dir, const char *element,
    const char *file)
{
	char path[PATH_MAX], version[4], err[TN_ERRLEN];
	const char *params[3] = { version, element, file };
	unsigned char *sql = NULL;
	PGresult *res = NULL;
	size_t len;
	int rc = -1;

	memcpy(version, file, 3);
	version[3] = '\0';
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    (int)sizeof(path))
		return ctl_fail(-1, "%s: path too long", dir);
	if (ctl_begin(conn) == -1)
		return -1;
	if ((res = ctl_sql(conn, "LOCK TABLE schema_migrations IN SHARE ROW "
	    "EXCLUSIVE MODE", 0, NULL)) == NULL)
		goto out;
	PQclear(res);
	if ((res = ctl_sql(conn, "SELECT name FROM schema_migrations "
	    "WHERE version = $1", 1, params)) == NULL)
		goto out;
	if (PQntuples(res) == 1) {
		if (strcmp(PQgetvalue(res, 0, 0), file) != 0) {
			ctl_fail(0, "%s: version %s was applied as %s", path,
			    version, PQgetvalue(res, 0, 0));
			goto out;
		}
		rc = 1;
		goto out;
	}
	PQclear(res);
	if (util_read_file(path, DB_MAX_SQLFILE, &sql, &len, err) == -1) {
		ctl_fail(0, "%s", err);
		res = NULL;
		goto out;
	}
	res = PQexec(conn, (const char *)sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		ctl_fail(0, "%s: %s", path, PQresultErrorField(res,
		    PG_DIAG_MESSAGE_PRIMARY));
		goto out;
	}
	PQclear(res);
	if ((res = ctl_sql(conn, "INSERT INTO schema_migrations "
	    "(version, element, name) VALUES ($1, $2, $3)", 3,
	    params)) == NULL)
		goto out;
	rc = 0;
out:
	PQclear(res);
	free(sql);
	if (ctl_end(conn, rc == 0) == -1)
		rc = -1;
	return rc;
}

static int
db_migrate(const struct db_opts *o, PGconn *conn)
{
	struct dirent **names = NULL;
	char dir[PATH_MAX], was[16];
	PGresult *res;
	int i, n, r, applied = 0, status = EX_SOFTWARE;

	if (snprintf(dir, sizeof(dir), "%s/%s", o->do_sqldir,
	    o->do_element) >= (int)sizeof(dir))
		return ctl_fail(EX_USAGE, "--sqldir: path too long");
	if ((n = scandir(dir, &names, db_filter, alphasort)) == -1)
		return ctl_fail(EX_NOINPUT, "%s: cannot read the migrations "
		    "folder (--sqldir)", dir);
	if (n == 0 || n > DB_MAX_FILES) {
		status = ctl_fail(EX_NOINPUT, "%s: no migrations", dir);
		goto out;
	}
	for (i = 1; i < n; i++)
		if (strncmp(names[i]->d_name, names[i - 1]->d_name, 3) == 0) {
			status = ctl_fail(EX_DATAERR, "%s: two files with "
			    "version %.3s", dir, names[i]->d_name);
			goto out;
		}
	if ((res = ctl_sql(conn, "CREATE TABLE IF NOT EXISTS "
	    "schema_migrations (version integer PRIMARY KEY, element text "
	    "NOT NULL CHECK (element IN ('fg', 'bg')), name text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())", 0,
	    NULL)) == NULL)
		goto out;
	PQclear(res);
	/* The daemons check the version at start (db_schema_check()). */
	if ((res = ctl_sql(conn, "GRANT SELECT ON schema_migrations TO "
	    "PUBLIC", 0, NULL)) == NULL)
		goto out;
	PQclear(res);
	if (db_element(conn, was, sizeof(was)) == -1)
		goto out;
	if (was[0] != '\0' && strcmp(was, o->do_element) != 0) {
		status = ctl_fail(EX_DATAERR, "this database holds %s "
		    "migrations; refusing the %s ones", was, o->do_element);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = db_apply(conn, dir, o->do_element,
		    names[i]->d_name)) == -1) {
			ctl_fail(0, "%s/%s: not applied, nothing changed by "
			    "it", o->do_element, names[i]->d_name);
			goto out;
		}
		if (r == 0) {
			printf("applied %s/%s\n", o->do_element,
			    names[i]->d_name);
			applied++;
		}
	}
	printf("%s schema at version %.3s, %d applied\n", o->do_element,
	    names[n - 1]->d_name, applied);
	status = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return status;
}

/* Whether schema_migrations exists: 1, 0, or -1 on error. */
static int
db_migrated(PGconn *conn)
{
	PGresult *res;
	int yes;

	if ((res = ctl_sql(conn, "SELECT to_regclass('schema_migrations') "
	    "IS NOT NULL", 0, NULL)) == NULL)
		return -1;
	yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return yes;
}

/* The element the database was migrated as must be want. */
static int
db_require(PGconn *conn, const char *want)
{
	char was[16];
	int m;

	if ((m = db_migrated(conn)) == -1)
		return EX_SOFTWARE;
	if (m == 0)
		return ctl_fail(EX_DATAERR, "database not migrated; run "
		    "\"tandemctl db migrate --%s\" first", want);
	if (db_element(conn, was, sizeof(was)) == -1)
		return EX_SOFTWARE;
	if (strcmp(was, want) != 0)
		return ctl_fail(EX_DATAERR, "database is migrated as \"%s\", "
		    "not %s", was, want);
	return 0;
}

/*
 * A secret from a file only its owner may read: its first line, into
 * *out (free() after OPENSSL_cleanse()). 0, or an exit status.
 */
static int
db_secret(const char *path, const char *what, char **out)
{
	unsigned char *buf = NULL;
	char err[TN_ERRLEN];
	struct stat st;
	size_t len = 0;

	*out = NULL;
	if (stat(path, &st) == -1)
		return ctl_fail(EX_NOINPUT, "%s: %s", path, strerror(errno));
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return ctl_fail(EX_DATAERR, "%s: %s file is accessible to "
		    "others than its owner (mode %03o); chmod 600", path, what,
		    (unsigned)(st.st_mode & 0777));
	if (util_read_file(path, DB_MAX_SECRET, &buf, &len, err) == -1)
		return ctl_fail(EX_NOINPUT, "%s", err);
	len = strcspn((char *)buf, "\r\n");
	buf[len] = '\0';
	if (len == 0) {
		free(buf);
		return ctl_fail(EX_DATAERR, "%s: empty %s file", path, what);
	}
	*out = (char *)buf;
	return 0;
}

static void
db_secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/*
 * The background's replication role: LOGIN REPLICATION, a SCRAM
 * verifier made here (the password never reaches the server or its
 * log), SELECT on the published tables and nothing else.
 */
static int
db_repl_role(PGconn *conn, const char *pwfile)
{
	char *pw = NULL, *verifier = NULL, *lit = NULL, *sql = NULL;
	PGresult *res = NULL;
	int st, exists, status = EX_SOFTWARE;

	if ((st = db_secret(pwfile, "password", &pw)) != 0)
		return st;
	if ((verifier = PQencryptPasswordConn(conn, pw, DB_REPL_ROLE,
	    "scram-sha-256")) == NULL) {
		status = ctl_fail(EX_SOFTWARE, "cannot make a SCRAM verifier: "
		    "%s", PQerrorMessage(conn));
		goto out;
	}
	if ((res = ctl_sql(conn, "SELECT count(*) FROM pg_roles WHERE "
	    "rolname = '" DB_REPL_ROLE "'", 0, NULL)) == NULL)
		goto out;
	exists = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	PQclear(res);
	res = NULL;
	if ((lit = PQescapeLiteral(conn, verifier, strlen(verifier))) == NULL ||
	    asprintf(&sql, "%s ROLE " DB_REPL_ROLE " LOGIN REPLICATION "
	    "NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS "
	    "PASSWORD %s", exists ? "ALTER" : "CREATE", lit) == -1) {
		sql = NULL;
		status = ctl_fail(EX_OSERR, "out of memory");
		goto out;
	}
	if ((res = ctl_sql(conn, sql, 0, NULL)) == NULL)
		goto out;
	PQclear(res);
	if ((res = ctl_sql(conn, "REVOKE ALL ON ALL TABLES IN SCHEMA public "
	    "FROM " DB_REPL_ROLE, 0, NULL)) == NULL)
		goto out;
	PQclear(res);
	if ((res = ctl_sql(conn, "GRANT USAGE ON SCHEMA public TO "
	    DB_REPL_ROLE, 0, NULL)) == NULL)
		goto out;
	PQclear(res);
	if ((res = ctl_sql(conn, "GRANT SELECT ON " DB_PUBLISHED " TO "
	    DB_REPL_ROLE, 0, NULL)) == NULL)
		goto out;
	printf("role " DB_REPL_ROLE " %s: LOGIN REPLICATION, SELECT on the "
	    "published tables\n", exists ? "updated" : "created");
	status = 0;
out:
	PQclear(res);
	PQfreemem(lit);
	if (sql != NULL)
		OPENSSL_cleanse(sql, strlen(sql));
	free(sql);
	PQfreemem(verifier);
	db_secret_free(pw);
	return status;
}

static int
db_publish(const struct db_opts *o, PGconn *conn)
{
	PGresult *res;
	int st, exists;

	if ((st = db_require(conn, "fg")) != 0)
		return st;
	if ((res = ctl_sql(conn, "SELECT count(*) FROM pg_publication "
	    "WHERE pubname = '" DB_PUBLICATION "'", 0, NULL)) == NULL)
		return EX_SOFTWARE;
	exists = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	PQclear(res);
	res = ctl_sql(conn, exists ?
	    "ALTER PUBLICATION " DB_PUBLICATION
	    " SET TABLE " DB_PUBLISHED : "CREATE PUBLICATION " DB_PUBLICATION
	    " FOR TABLE " DB_PUBLISHED, 0, NULL);
	if (res == NULL)
		return EX_SOFTWARE;
	PQclear(res);
	printf("publication " DB_PUBLICATION ": accounts account_keys "
	    "bg_relay invitation_tokens heartbeat\n");
	if (o->do_repl_password != NULL)
		return db_repl_role(conn, o->do_repl_password);
	return 0;
}

/* Subscription (and slot) name: given, or tandem_ and the database. */
static int
db_subname(PGconn *conn, const char *given, char *out, size_t outlen)
{
	const char *src = given ? given : PQdb(conn);
	size_t i, n;

	n = (size_t)snprintf(out, outlen, "%s%s", given ? "" : "tandem_",
	    src);
	if (n >= outlen || n >= 64)
		return ctl_fail(-1, "subscription name \"%s\" too long", src);
	for (i = 0; i < n; i++) {
		if (islower((unsigned char)out[i]) ||
		    isdigit((unsigned char)out[i]) || out[i] == '_')
			continue;
		if (given != NULL)
			return ctl_fail(-1, "--name: use a-z, 0-9 and _");
		out[i] = isupper((unsigned char)out[i]) ?
		    (char)tolower((unsigned char)out[i]) : '_';
	}
	return 0;
}

static int
db_subscribe(const struct db_opts *o, PGconn *conn)
{
	char name[128], *lit = NULL, *msg = NULL, *sql = NULL, *secret = NULL;
	const char *publisher = o->do_publisher;
	const char *params[1] = { name };
	PQconninfoOption *opts;
	PGresult *res = NULL;
	int st, exists, status = EX_SOFTWARE;

	if ((o->do_publisher == NULL) == (o->do_publisher_file == NULL))
		return ctl_fail(EX_USAGE, "give one of --publisher FGCONNINFO, "
		    "--publisher-file FILE");
	if (o->do_publisher_file != NULL) {
		if ((st = db_secret(o->do_publisher_file, "connection",
		    &secret)) != 0)
			return st;
		publisher = secret;
	}
	if ((opts = PQconninfoParse(publisher, &msg)) == NULL) {
		/* A file's text is not echoed: it holds a password. */
		st = ctl_fail(EX_USAGE, "%s: %s", secret != NULL ?
		    o->do_publisher_file : "--publisher", secret != NULL ?
		    "not a connection string" : msg ? msg : "out of memory");
		PQfreemem(msg);
		db_secret_free(secret);
		return st;
	}
	PQconninfoFree(opts);
	if (db_subname(conn, o->do_name, name, sizeof(name)) == -1) {
		status = EX_USAGE;
		goto out;
	}
	if ((st = db_require(conn, "bg")) != 0) {
		status = st;
		goto out;
	}
	if ((res = ctl_sql(conn, "SELECT rolsuper FROM pg_roles WHERE "
	    "rolname = current_user", 0, NULL)) == NULL)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		status = ctl_fail(EX_NOPERM, "CREATE SUBSCRIPTION needs a "
		    "superuser in PostgreSQL 15; connect as one");
		goto out;
	}
	PQclear(res);
	if ((res = ctl_sql(conn, "SELECT count(*), bool_or(NOT subenabled "
	    "AND subslotname IS NULL) FROM pg_subscription WHERE subname = "
	    "$1", 1, params)) == NULL)
		goto out;
	exists = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	/*
	 * A dump restored with its subscription brings it back disabled,
	 * without a slot, still naming the old publisher: PostgreSQL's own
	 * refusal to refresh it would not say what to do.
	 */
	if (exists && strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		status = ctl_fail(EX_DATAERR, "subscription %s is disabled "
		    "and has no replication slot (restored from a dump?): "
		    "restore with pg_restore --no-subscriptions, or DROP "
		    "SUBSCRIPTION %s, then subscribe again (doc/install.md)",
		    name, name);
		goto out;
	}
	PQclear(res);
	res = NULL;
	if ((lit = PQescapeLiteral(conn, publisher,
	    strlen(publisher))) == NULL ||
	    asprintf(&sql, exists ? "ALTER SUBSCRIPTION %s CONNECTION %s" :
	    "CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION "
	    DB_PUBLICATION, name, lit) == -1) {
		sql = NULL;
		status = ctl_fail(EX_OSERR, "out of memory");
		goto out;
	}
	if ((res = ctl_sql(conn, sql, 0, NULL)) == NULL)
		goto out;
	free(sql);
	sql = NULL;
	/* Tables published since it was created (a later migration). */
	if (exists && asprintf(&sql, "ALTER SUBSCRIPTION %s REFRESH "
	    "PUBLICATION", name) == -1) {
		sql = NULL;
		status = ctl_fail(EX_OSERR, "out of memory");
		goto out;
	}
	if (exists) {
		PQclear(res);
		if ((res = ctl_sql(conn, sql, 0, NULL)) == NULL)
			goto out;
	}
	printf("subscription %s %s\n", name, exists ? "updated" : "created");
	status = 0;
out:
	PQclear(res);
	if (lit != NULL)
		OPENSSL_cleanse(lit, strlen(lit));
	PQfreemem(lit);
	if (sql != NULL)
		OPENSSL_cleanse(sql, strlen(sql));
	free(sql);
	db_secret_free(secret);
	return status;
}

/* Print every row of a query as key=value pairs, or none= if empty. */
static int
db_print(PGconn *conn, const char *sql, const char *none)
{
	PGresult *res;
	int i, j;

	if ((res = ctl_sql(conn, sql, 0, NULL)) == NULL)
		return -1;
	if (PQntuples(res) == 0 && none != NULL)
		printf("%s\n", none);
	for (i = 0; i < PQntuples(res); i++)
		for (j = 0; j < PQnfields(res); j++)
			printf("%s=%s%s", PQfname(res, j),
			    PQgetisnull(res, i, j) ? "-" :
			    PQgetvalue(res, i, j),
			    j + 1 < PQnfields(res) ? " " : "\n");
	PQclear(res);
	return 0;
}

static int
db_status(PGconn *conn)
{
	char was[16];
	int m;

	if ((m = db_migrated(conn)) == -1)
		return EX_SOFTWARE;
	if (m == 0)
		return ctl_fail(EX_DATAERR, "database not migrated; run "
		    "\"tandemctl db migrate\" first");
	if (db_element(conn, was, sizeof(was)) == -1 ||
	    db_print(conn, "SELECT element, max(version) AS schema_version, "
	    "count(*) AS migrations FROM schema_migrations GROUP BY element",
	    NULL) == -1)
		return EX_SOFTWARE;
	if (strcmp(was, "fg") == 0) {
		if (db_print(conn, "SELECT pubname AS publication, count(*) "
		    "AS tables FROM pg_publication_tables WHERE pubname = '"
		    DB_PUBLICATION "' GROUP BY pubname", "publication=none")
		    == -1 ||
		    db_print(conn, "SELECT slot_name AS slot, active, "
		    "pg_wal_lsn_diff(pg_current_wal_lsn(), "
		    "confirmed_flush_lsn)::bigint AS lag_bytes FROM "
		    "pg_replication_slots WHERE slot_type = 'logical' AND "
		    "database = current_database() ORDER BY slot_name", NULL)
		    == -1)
			return EX_SOFTWARE;
		return 0;
	}
	if (db_print(conn, "SELECT s.subname AS subscription, s.subenabled "
	    "AS enabled, st.pid IS NOT NULL AS running, st.received_lsn, "
	    "st.latest_end_time FROM pg_subscription s LEFT JOIN "
	    "pg_stat_subscription st ON st.subid = s.oid AND st.relid IS "
	    "NULL WHERE s.subdbid = (SELECT oid FROM pg_database WHERE "
	    "datname = current_database()) ORDER BY s.subname",
	    "subscription=none") == -1)
		return EX_SOFTWARE;
	return 0;
}

int
ctl_db(int argc, char **argv)
{
	struct db_opts o;
	const char *cmd;
	PGconn *conn;
	int status;

	if (argc < 2)
		return ctl_fail(EX_USAGE, "db: give migrate, publish, "
		    "subscribe or status");
	cmd = argv[1];
	if (strcmp(cmd, "migrate") != 0 && strcmp(cmd, "publish") != 0 &&
	    strcmp(cmd, "subscribe") != 0 && strcmp(cmd, "status") != 0)
		return ctl_fail(EX_USAGE, "db: unknown command \"%s\"", cmd);
	if (db_parse(argc - 1, argv + 1, &o) == -1)
		return EX_USAGE;
	if (strcmp(cmd, "migrate") == 0 && o.do_element == NULL)
		return ctl_fail(EX_USAGE, "db migrate: give --fg or --bg");
	if ((conn = ctl_connect(o.do_db)) == NULL)
		return EX_UNAVAILABLE;
	if (strcmp(cmd, "migrate") == 0)
		status = db_migrate(&o, conn);
	else if (strcmp(cmd, "publish") == 0)
		status = db_publish(&o, conn);
	else if (strcmp(cmd, "subscribe") == 0)
		status = db_subscribe(&o, conn);
	else
		status = db_status(conn);
	PQfinish(conn);
	return status;
}
