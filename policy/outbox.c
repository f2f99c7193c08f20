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
 *	When the row is an inter-courier message whose sender is an
 *	active account here, the sender is told in the same transaction:
 *	a receipt (Event: refused, the answer, escaped, as Reason) waits
 *	in its agent_mailbox (kind "receipt"), and *told is 1. A relayed
 *	message's sender is elsewhere and is not told (*told 0): this
 *	background has no way back to the courier that relayed it.
 *
 *	store_receipt() files such a receipt, any Event, for revoke.c too;
 *	store_receipt_text() only writes one (a receipt revoke.c sends
 *	back to another courier).
 * DIAGNOSTICS
 *	0, or -1 with a reason in err.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policyd.h"
#include "proto.h"
#include "tandem.h"
#include "util.h"

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

/*
 * A receipt telling sender what happened to msgid at rcpt: event, why
 * (escaped) as Reason; *body (free()) is its text.
 */
int
store_receipt_text(struct pd *pd, const char *sender, const char *msgid,
    const char *rcpt, const char *event, const char *why, char **body,
    size_t *blen, char *err)
{
	struct proto_msg *pm = NULL;
	unsigned char rnd[12];
	char id[TN_MAX_MSGID + 1], now[32], reason[UTIL_ESCLEN];
	char *hex = NULL;
	int rc = -1;

	*body = NULL;
	if (util_random(rnd, sizeof(rnd)) == -1 ||
	    (hex = util_hex(rnd, sizeof(rnd))) == NULL ||
	    (pm = proto_msg_new(PROTO_RECEIPT)) == NULL) {
		tn_err(err, "out of memory or random bytes");
		goto out;
	}
	snprintf(id, sizeof(id), "%s@%s", hex, pd->pd_cf->cf_name);
	proto_format_time(time(NULL), now, sizeof(now));
	/* The peer's words: escaped, as they are in the log. */
	util_escape(why, reason, sizeof(reason), UTIL_ESC_SPACE);
	if (proto_set(pm, "Id", id, err) == -1 ||
	    proto_set(pm, "Date", now, err) == -1 ||
	    proto_set(pm, "Message-Id", msgid, err) == -1 ||
	    proto_set(pm, "Sender", sender, err) == -1 ||
	    proto_set(pm, "Recipient", rcpt, err) == -1 ||
	    proto_set(pm, "Event", event, err) == -1 ||
	    (reason[0] != '\0' &&
	    proto_set(pm, "Reason", reason, err) == -1) ||
	    proto_format(pm, body, blen, err) == -1)
		goto out;
	rc = 0;
out:
	proto_msg_free(pm);
	free(hex);
	return rc;
}

/*
 * The receipt for pa (an active account here), wrapped to pa's agent
 * into its agent_mailbox. Also for a revocation (revoke.c).
 */
int
store_receipt(struct pd *pd, const struct pd_account *pa,
    const char *msgid, const char *rcpt, const char *event,
    const char *why, char *err)
{
	char *body = NULL;
	size_t blen = 0;
	int rc;

	rc = store_receipt_text(pd, pa->pa_address, msgid, rcpt, event, why,
	    &body, &blen, err) == -1 || store_deliver(pd, pa, "receipt",
	    msgid, rcpt, NULL, (unsigned char *)body, blen, err) == -1 ? -1 :
	    0;
	free(body);
	return rc;
}

int
store_outbox_failed(struct pd *pd, long long id, const char *why,
    int *told, char *err)
{
	char idbuf[32];
	const char *vals[2] = { idbuf, why }, *sender, *msgid, *rcpt;
	struct pd_account *pa = NULL;
	PGresult *r = NULL;
	int rc = -1;

	*told = 0;
	snprintf(idbuf, sizeof(idbuf), "%lld", id);
	if (db_begin(pd->pd_db, err) == -1 ||
	    db_exec(pd->pd_db, "UPDATE bg_outbox SET attempts = attempts + 1, "
	    "last_error = $2, next_attempt_at = 'infinity' WHERE id = $1 "
	    "RETURNING kind, message_id, sender, recipient", 2, vals, NULL, &r,
	    err) == -1)
		goto out;
	if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0),
	    "inter-courier") == 0 && !PQgetisnull(r, 0, 1) &&
	    !PQgetisnull(r, 0, 2) && !PQgetisnull(r, 0, 3)) {
		msgid = PQgetvalue(r, 0, 1);
		sender = PQgetvalue(r, 0, 2);
		rcpt = PQgetvalue(r, 0, 3);
		if (store_account(pd, sender, &pa, 0, err) == -1)
			goto out;
		/* A relayed message's sender is not here: only logged. */
		if (pa != NULL && strcmp(pa->pa_status, "active") == 0 &&
		    pa->pa_agent != NULL) {
			if (store_receipt(pd, pa, msgid, rcpt, "refused",
			    why, err) == -1)
				goto out;
			*told = 1;
		}
	}
	if (db_commit(pd->pd_db, err) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1) {
		db_rollback(pd->pd_db);
		*told = 0;
	}
	store_account_free(pa);
	PQclear(r);
	return rc;
}
