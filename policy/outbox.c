/*
 * NAME
 *	outbox.c - bg_outbox: what this background must POST to others
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	Rows are queued by the transaction that decides to send them
 *	(fed.c) and taken by the sender (send.c). The statements go
 *	through db_exec() and db_run() (db.h) on pd_db.
 *
 *	store_outbox_due() selects up to 16 rows not yet sent
 *	whose next attempt is due, oldest first: id, url, body, kind. *res
 *	should be passed to PQclear().
 *
 *	store_outbox_sent() marks a row sent. store_outbox_retry()
 *	counts a failed attempt, keeps its reason and sets the next
 *	attempt after 2^attempts seconds (at most 300).
 *	store_outbox_failed() counts the attempt the other side refused
 *	for good and keeps its reason: the row is failed, never due
 *	again. No column of its own says so: a failed row is one not
 *	sent whose next_attempt_at is 'infinity', with its last_error.
 * DIAGNOSTICS
 *	0, or -1 with a reason in err.
 */
#include <stdio.h>

#include "policyd.h"
#include "tandem.h"

/* In the statements below: at most 16 rows, at most 300 s of delay. */

int
store_outbox_due(struct pd *pd, PGresult **res, char *err)
{
	static const char sql[] = "SELECT id, url, body, kind FROM bg_outbox "
	    "WHERE sent_at IS NULL AND next_attempt_at <= now() "
	    "ORDER BY id LIMIT 16";

	return db_exec(pd->pd_db, sql, 0, NULL, NULL, res, err);
}

/* One UPDATE of bg_outbox row id: $1 the id, $2 (if why) the reason. */
static int
outbox_update(struct pd *pd, const char *sql, long long id,
    const char *why, char *err)
{
	char idbuf[32];
	const char *vals[2] = { idbuf, why };

	snprintf(idbuf, sizeof(idbuf), "%lld", id);
	return db_run(pd->pd_db, sql, why != NULL ? 2 : 1, vals, err);
}

int
store_outbox_sent(struct pd *pd, long long id, char *err)
{
	return outbox_update(pd, "UPDATE bg_outbox SET sent_at = now(), "
	    "attempts = attempts + 1 WHERE id = $1", id, NULL, err);
}

int
store_outbox_retry(struct pd *pd, long long id, const char *why, char *err)
{
	return outbox_update(pd, "UPDATE bg_outbox SET attempts = attempts "
	    "+ 1, last_error = $2, next_attempt_at = now() + "
	    "make_interval(secs => least(power(2, attempts), 300)) "
	    "WHERE id = $1", id, why, err);
}

int
store_outbox_failed(struct pd *pd, long long id, const char *why, char *err)
{
	return outbox_update(pd, "UPDATE bg_outbox SET attempts = attempts "
	    "+ 1, last_error = $2, next_attempt_at = 'infinity' WHERE id = $1",
	    id, why, err);
}
