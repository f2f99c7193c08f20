/*
 * NAME
 *	counters.c - what an element holds and owes (counters.h)
 */
#include <string.h>

#include "tandem.h"
#include "counters.h"
#include "db.h"

/* A TYPE line, then samples: the Prometheus text of one metric. */
#define CT_TYPE(m)	"'# TYPE " m " gauge' || E'\\n' || "

static const struct counters_query {
	const char	*cq_element;	/* NULL: both */
	const char	*cq_sql;	/* two columns: lines, metrics */
} counters_queries[] = {
	{ NULL, "SELECT 'accounts' || coalesce(string_agg(' ' || status || "
	    "'=' || n, '' ORDER BY status), ''), " CT_TYPE("tandem_accounts")
	    "coalesce(string_agg('tandem_accounts{status=\"' || status || "
	    "'\"} ' || n || E'\\n', '' ORDER BY status), '') FROM (SELECT "
	    "status, count(*) AS n FROM accounts GROUP BY status) a" },
	{ "fg", "SELECT 'invitations pending=' || n, "
	    CT_TYPE("tandem_invitations_pending")
	    "'tandem_invitations_pending ' || n || E'\\n' FROM (SELECT "
	    "count(*) AS n FROM invitations WHERE status = 'pending') i" },
	{ "fg", "SELECT 'held messages=' || n, "
	    CT_TYPE("tandem_held_messages")
	    "'tandem_held_messages ' || n || E'\\n' FROM (SELECT count(*) AS "
	    "n FROM held_messages WHERE released_at IS NULL AND purged_at IS "
	    "NULL) h" },
	{ "bg", "SELECT 'held arms=' || n, " CT_TYPE("tandem_held_arms")
	    "'tandem_held_arms ' || n || E'\\n' FROM (SELECT count(*) AS n "
	    "FROM held_arms WHERE released_at IS NULL AND purged_at IS NULL) "
	    "h" },
	{ "fg", "SELECT 'outbox waiting=' || n || ' oldest_seconds=' || s, "
	    CT_TYPE("tandem_outbox_waiting")
	    "'tandem_outbox_waiting ' || n || E'\\n' || "
	    CT_TYPE("tandem_outbox_oldest_seconds")
	    "'tandem_outbox_oldest_seconds ' || s || E'\\n' FROM (SELECT "
	    "count(*) AS n, coalesce(floor(extract(epoch FROM now() - "
	    "min(created_at))), 0)::bigint AS s FROM outbox WHERE sent_at IS "
	    "NULL) o" },
	{ "bg", "SELECT 'outbox waiting=' || n || ' oldest_seconds=' || s, "
	    CT_TYPE("tandem_outbox_waiting")
	    "'tandem_outbox_waiting ' || n || E'\\n' || "
	    CT_TYPE("tandem_outbox_oldest_seconds")
	    "'tandem_outbox_oldest_seconds ' || s || E'\\n' FROM (SELECT "
	    "count(*) AS n, coalesce(floor(extract(epoch FROM now() - "
	    "min(created_at))), 0)::bigint AS s FROM bg_outbox WHERE sent_at "
	    "IS NULL) o" },
	{ "fg", "SELECT coalesce(string_agg('replication slot=' || slot_name "
	    "|| ' active=' || CASE WHEN active THEN 'yes' ELSE 'no' END || "
	    "' lag_bytes=' || lag, E'\\n' ORDER BY slot_name), "
	    "'replication slot=none'), "
	    CT_TYPE("tandem_replication_slot_active")
	    "coalesce(string_agg('tandem_replication_slot_active{slot=\"' || "
	    "slot_name || '\"} ' || CASE WHEN active THEN 1 ELSE 0 END || "
	    "E'\\n', '' ORDER BY slot_name), '') || "
	    CT_TYPE("tandem_replication_lag_bytes")
	    "coalesce(string_agg('tandem_replication_lag_bytes{slot=\"' || "
	    "slot_name || '\"} ' || lag || E'\\n', '' ORDER BY slot_name), '') "
	    "FROM (SELECT slot_name, active, coalesce(pg_wal_lsn_diff("
	    "pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, 0) AS lag "
	    "FROM pg_replication_slots WHERE slot_type = 'logical') r" },
	{ "bg", "SELECT 'replication subscription=' || coalesce(subs, 'none') "
	    "|| ' heartbeat_age_seconds=' || coalesce(age::text, 'none'), "
	    CT_TYPE("tandem_replication_subscription_enabled")
	    "'tandem_replication_subscription_enabled ' || CASE WHEN enabled "
	    "THEN 1 ELSE 0 END || E'\\n' || "
	    CT_TYPE("tandem_replication_heartbeat_age_seconds")
	    "'tandem_replication_heartbeat_age_seconds ' || coalesce("
	    "age::text, 'NaN') || E'\\n' FROM (SELECT (SELECT "
	    "string_agg(subname || CASE WHEN subenabled THEN '' ELSE "
	    "'(disabled)' END, ',') FROM pg_subscription WHERE subdbid = "
	    "(SELECT oid FROM pg_database WHERE datname = current_database())) "
	    "AS subs, coalesce((SELECT bool_and(subenabled) FROM "
	    "pg_subscription WHERE subdbid = (SELECT oid FROM pg_database "
	    "WHERE datname = current_database())), false) AS enabled, (SELECT "
	    "floor(extract(epoch FROM now() - beat_at))::bigint FROM "
	    "heartbeat WHERE id = 1) AS age) r" },
	{ NULL, "SELECT 'refusals last_24h=' || n || coalesce(' last_at=' || "
	    "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
	    "|| ' last=\"' || translate(reply, '\"', '''') || '\"', ''), "
	    CT_TYPE("tandem_refusals_last_24h")
	    "'tandem_refusals_last_24h ' || n || E'\\n' FROM (SELECT count(*) "
	    "AS n FROM refusals WHERE at > now() - interval '24 hours') c "
	    "LEFT JOIN (SELECT at, reply FROM refusals WHERE at > now() - "
	    "interval '24 hours' ORDER BY at DESC, id DESC LIMIT 1) l ON true" },
};

int
counters_each(PGconn *db, const char *element, enum counters_form form,
    int (*fn)(const char *, void *), void *arg, char *err)
{
	const struct counters_query *cq;
	PGresult *r = NULL;
	size_t i;
	int j, rc;

	for (i = 0; i < sizeof(counters_queries) /
	    sizeof(counters_queries[0]); i++) {
		cq = &counters_queries[i];
		if (cq->cq_element != NULL &&
		    strcmp(cq->cq_element, element) != 0)
			continue;
		if (db_exec(db, cq->cq_sql, 0, NULL, NULL, &r, err) == -1)
			return -1;
		for (j = 0; j < PQntuples(r); j++)
			if ((rc = fn(PQgetvalue(r, j, (int)form), arg)) != 0) {
				PQclear(r);
				return rc;
			}
		PQclear(r);
	}
	return 0;
}
