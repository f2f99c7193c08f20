/*
 * NAME
 *	status.c - tandemctl status: what an element's operator checks
 * SYNOPSIS
 *	#include "ctl.h"
 *
 *	int	ctl_status(int argc, char **argv);
 * DESCRIPTION
 *	tandemctl status --conf FILE [--ca-dir] reads an element's
 *	tandem.conf and prints, one line each: the certificates of
 *	tls.cert and tls.chain (and, with --ca-dir, the issuing CA of
 *	foreground.ca_dir) that expire within tls.expiry_warning
 *	(pki_expiry_check(), the lines the daemons log), how many there
 *	are, and the schema version of its database against the one this
 *	build needs (db_schema_check()), as the daemon would see them;
 *	then what the element holds and owes (status_counters()).
 * DIAGNOSTICS
 *	0 when nothing is to be done; 1 when a certificate expires within
 *	tls.expiry_warning; 78 when the schema does not match the build
 *	(or the configuration cannot be read); 69 when the database cannot
 *	be reached; 64 usage.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "conf.h"
#include "ctl.h"
#include "db.h"
#include "pki.h"

static void
status_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/*
 * What the element holds and owes, one key=value line each: "accounts"
 * by status, the invitations pending (foreground), what is held ("held": mail on the foreground, ARMs on the
 * background), what waits to go out ("outbox": how many, and the
 * oldest's age in seconds), replication (the foreground's logical
 * slots with their lag in bytes; the background's subscription and the
 * age of the last heartbeat it received, in seconds) and refusals (how
 * many in the last 24 hours, and the last one's time and reply). Each
 * query runs as the element's own role, on its own tables.
 */
static const struct status_query {
	const char	*sq_element;	/* NULL: both */
	const char	*sq_sql;
} status_queries[] = {
	{ NULL, "SELECT 'accounts' || coalesce(string_agg(' ' || status || "
	    "'=' || n, '' ORDER BY status), '') FROM (SELECT status, count(*) "
	    "AS n FROM accounts GROUP BY status) a" },
	{ "fg", "SELECT 'invitations pending=' || count(*) FROM invitations "
	    "WHERE status = 'pending'" },
	{ "fg", "SELECT 'held messages=' || count(*) FROM held_messages "
	    "WHERE released_at IS NULL AND purged_at IS NULL" },
	{ "bg", "SELECT 'held arms=' || count(*) FROM held_arms WHERE "
	    "released_at IS NULL AND purged_at IS NULL" },
	{ "fg", "SELECT 'outbox waiting=' || count(*) || ' oldest_seconds=' "
	    "|| coalesce(floor(extract(epoch FROM now() - min(created_at))), "
	    "0)::bigint FROM outbox WHERE sent_at IS NULL" },
	{ "bg", "SELECT 'outbox waiting=' || count(*) || ' oldest_seconds=' "
	    "|| coalesce(floor(extract(epoch FROM now() - min(created_at))), "
	    "0)::bigint FROM bg_outbox WHERE sent_at IS NULL" },
	{ "fg", "SELECT 'replication slot=' || slot_name || ' active=' || "
	    "CASE WHEN active THEN 'yes' ELSE 'no' END || ' lag_bytes=' || "
	    "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), "
	    "confirmed_flush_lsn)::bigint, 0) FROM pg_replication_slots WHERE "
	    "slot_type = 'logical' ORDER BY slot_name" },
	{ "bg", "SELECT 'replication subscription=' || coalesce((SELECT "
	    "string_agg(subname || CASE WHEN subenabled THEN '' ELSE "
	    "'(disabled)' END, ',') FROM pg_subscription WHERE subdbid = "
	    "(SELECT oid FROM pg_database WHERE datname = current_database())), "
	    "'none') || ' heartbeat_age_seconds=' || coalesce((SELECT "
	    "floor(extract(epoch FROM now() - beat_at))::bigint::text FROM "
	    "heartbeat WHERE id = 1), 'none')" },
	{ NULL, "SELECT 'refusals last_24h=' || count(*) || coalesce(' "
	    "last_at=' || to_char(max(at) AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ' last=\"' || (SELECT "
	    "translate(reply, '\"', '''') FROM refusals ORDER BY at DESC, id "
	    "DESC LIMIT 1) || '\"', '') FROM refusals WHERE at > now() - "
	    "interval '24 hours'" },
};

static int
status_counters(PGconn *db, const char *element, char *err)
{
	const struct status_query *sq;
	PGresult *r = NULL;
	size_t i;
	int j;

	for (i = 0; i < sizeof(status_queries) / sizeof(status_queries[0]);
	    i++) {
		sq = &status_queries[i];
		if (sq->sq_element != NULL &&
		    strcmp(sq->sq_element, element) != 0)
			continue;
		if (db_exec(db, sq->sq_sql, 0, NULL, NULL, &r, err) == -1)
			return -1;
		for (j = 0; j < PQntuples(r); j++)
			printf("%s\n", PQgetvalue(r, j, 0));
		PQclear(r);
	}
	return 0;
}

/* The element the database was migrated as, into out (3 bytes). */
static int
status_element(PGconn *db, char *out, char *err)
{
	if (db_one(db, "SELECT min(element) FROM schema_migrations", 0,
	    NULL, out, 3, err) != 1)
		return -1;
	return out[0] == '\0' ? -1 : 0;
}

int
ctl_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "ca-dir", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct conf *cf = NULL;
	const char *path = NULL;
	char err[TN_ERRLEN], element[3];
	PGconn *db = NULL;
	int c, ca = 0, n, r, status = EX_SOFTWARE;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'c')
			path = optarg;
		else if (c == 'a')
			ca = 1;
		else
			return EX_USAGE;
	}
	if (path == NULL || optind != argc)
		return ctl_fail(EX_USAGE, "status needs --conf");
	if (conf_load(path, &cf, err) == -1)
		return ctl_fail(EX_CONFIG, "%s", err);
	n = pki_expiry_check(cf, ca ? cf->cf_ca_dir : NULL, time(NULL),
	    status_say);
	printf("certificates expiring within %ld days: %d\n",
	    cf->cf_expiry_warning / 86400, n);
	db = PQconnectdb(cf->cf_conninfo);
	if (db_down(db)) {
		status = ctl_fail(EX_UNAVAILABLE, "database: %.200s",
		    db == NULL ? "out of memory" : PQerrorMessage(db));
		goto out;
	}
	if (status_element(db, element, err) == -1) {
		status = ctl_fail(EX_CONFIG, "database not migrated: run "
		    "tandemctl db migrate");
		goto out;
	}
	if ((r = db_schema_check(db, element, err)) != 0) {
		status = ctl_fail(r == 1 ? EX_UNAVAILABLE : EX_CONFIG, "%s",
		    err);
		goto out;
	}
	printf("database %s schema at %03d, as this build needs\n", element,
	    db_schema_needed(element));
	if (status_counters(db, element, err) == -1) {
		status = ctl_fail(EX_UNAVAILABLE, "database: %s", err);
		goto out;
	}
	status = n > 0 ? 1 : 0;
out:
	PQfinish(db);
	conf_free(cf);
	return status;
}
