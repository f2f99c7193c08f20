/*
 * NAME
 *	revoke.c - POST /v1/revoke: a sender withdraws a message
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	store_revoke() takes a revoke (doc/protocol.md) wrapped by the
 *	client's agent to its courier end (store_agent_open()). Its
 *	Sender must be the client; the message must have been carried
 *	here (held_arms not released, or carried_arms) and every row of
 *	it must have the client as its sender; each Recipient named, if
 *	any, must be one of them. Then, in one transaction, for each
 *	recipient not yet revoked:
 *
 *	held - the held ARM is destroyed (arm emptied, purged_at and
 *	revoked_at set);
 *	waiting - an ARM in the recipient's agent_mailbox that its agent
 *	has not fetched is deleted;
 *	delivered - the agent took it already: the revoke itself waits
 *	in its agent_mailbox (kind "revoke"), and the agent destroys its
 *	copy of the ARM at its next fetch.
 *
 *	and the sender gets a receipt (Event: revoked, a Reason saying
 *	which of the three) in her own agent_mailbox. A recipient whose
 *	ARM was forwarded to another courier (carried_arms.courier) is
 *	not reached yet: it is counted and logged, never revoked.
 *
 *	The answer is 200 with "revoked N" (N recipients now), or
 *	"already revoked", followed by "; M at other couriers not
 *	reached: ..." when some were forwarded; 400 for what is not a
 *	revoke, 403 when the
 *	client is not the Sender or not the message's sender, 404 for a
 *	message (or a Recipient) this background never carried.
 * DIAGNOSTICS
 *	One log line per revocation: "revoke msgid=... sender=...
 *	status=... revoked=N"; the refusals with their reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "log.h"
#include "policyd.h"
#include "proto.h"
#include "tandem.h"

#define RV_HELD		"held until its recipient registers; destroyed"
#define RV_WAITING	"waiting at the background, not yet fetched by " \
			"its recipient's agent; destroyed"
#define RV_DELIVERED	"already fetched by its recipient's agent (it " \
			"may have been opened); its key is destroyed there " \
			"at its next fetch"

/* Is rcpt among the Recipient fields (none: every one is)? */
static int
rv_named(const struct proto_msg *pm, const char *rcpt)
{
	size_t i, n = proto_count(pm, "Recipient");

	for (i = 0; i < n; i++)
		if (strcasecmp(proto_get_nth(pm, "Recipient", i), rcpt) == 0)
			return 1;
	return n == 0;
}

/* 0 when every row is the client's and every Recipient is carried. */
static enum pd_status
rv_check(const struct proto_msg *pm, PGresult *res, const char *address,
    char *msg, size_t msglen)
{
	const char *msgid = proto_get(pm, "Message-Id"), *r;
	size_t i, n = proto_count(pm, "Recipient");
	int j, found;

	if (PQntuples(res) == 0) {
		snprintf(msg, msglen, "%s: no such message was carried here",
		    msgid);
		return PD_NOT_FOUND;
	}
	for (j = 0; j < PQntuples(res); j++)
		if (strcasecmp(PQgetvalue(res, j, 1), address) != 0) {
			snprintf(msg, msglen, "%s was not sent by %s: only "
			    "its sender may revoke it", msgid, address);
			return PD_FORBIDDEN;
		}
	for (i = 0; i < n; i++) {
		r = proto_get_nth(pm, "Recipient", i);
		for (found = 0, j = 0; j < PQntuples(res) && !found; j++)
			found = strcasecmp(PQgetvalue(res, j, 0), r) == 0;
		if (!found) {
			snprintf(msg, msglen, "%s was not carried here for "
			    "%s", msgid, r);
			return PD_NOT_FOUND;
		}
	}
	return PD_NONE;
}

/* A fetched ARM: the revoke waits for the recipient's agent. */
static int
rv_tell_agent(struct pd *pd, const char *msgid, const char *rcpt,
    const char *text, size_t len, char *err)
{
	struct pd_account *to = NULL;
	int rc = -1;

	if (store_account(pd, rcpt, &to, 0, err) == -1)
		goto out;
	rc = 0;
	if (to == NULL || strcmp(to->pa_status, "active") != 0 ||
	    to->pa_agent == NULL)
		goto out;	/* gone: nothing holds its key here */
	rc = store_deliver(pd, to, "revoke", msgid, NULL, NULL,
	    (const unsigned char *)text, len, err);
out:
	store_account_free(to);
	return rc;
}

/* One recipient: destroy what is here or pass the revoke on; *why. */
static int
rv_one(struct pd *pd, const char *msgid, const char *rcpt, int held,
    const char *text, size_t len, const char **why, char *err)
{
	const char *vals[2] = { msgid, rcpt };
	PGresult *res = NULL;
	int rc = -1;

	if (held) {
		*why = RV_HELD;
		rc = db_run(pd->pd_db, "UPDATE held_arms SET arm = '\\x', "
		    "purged_at = now(), revoked_at = now() WHERE message_id = "
		    "$1 AND recipient = $2 AND released_at IS NULL AND "
		    "revoked_at IS NULL", 2, vals, err);
		goto out;
	}
	if (db_exec(pd->pd_db, "DELETE FROM agent_mailbox WHERE message_id = "
	    "$1 AND address = $2 AND kind = 'arm' AND fetched_at IS NULL",
	    2, vals, NULL, &res, err) == -1)
		goto out;
	*why = RV_WAITING;
	if (strcmp(PQcmdTuples(res), "0") == 0) {
		*why = RV_DELIVERED;
		if (rv_tell_agent(pd, msgid, rcpt, text, len, err) == -1)
			goto out;
	}
	rc = db_run(pd->pd_db, "UPDATE carried_arms SET revoked_at = now() "
	    "WHERE message_id = $1 AND recipient = $2", 2, vals, err);
out:
	PQclear(res);
	return rc;
}

/* The transaction: each recipient not yet revoked, and its receipt. */
static enum pd_status
rv_commit(struct pd *pd, const struct pd_account *from,
    const struct proto_msg *pm, const char *text, size_t len, char *msg,
    size_t msglen)
{
	const char *msgid = proto_get(pm, "Message-Id"), *rcpt, *why;
	PGresult *res = NULL;
	enum pd_status st = PD_NONE;
	char err[TN_ERRLEN];
	int i, n = 0, far = 0;

	if (db_begin(pd->pd_db, err) == -1 ||
	    db_exec(pd->pd_db, "SELECT recipient, sender, true, "
	    "revoked_at IS NOT NULL, NULL FROM held_arms WHERE message_id = "
	    "$1 AND released_at IS NULL AND (purged_at IS NULL OR revoked_at "
	    "IS NOT NULL) UNION ALL SELECT recipient, sender, false, "
	    "revoked_at IS NOT NULL, courier FROM carried_arms WHERE "
	    "message_id = $1 ORDER BY 1",
	    1, &msgid, NULL, &res, err) == -1)
		goto fail;
	if ((st = rv_check(pm, res, from->pa_address, msg, msglen)) !=
	    PD_NONE) {
		db_rollback(pd->pd_db);
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++) {
		rcpt = PQgetvalue(res, i, 0);
		if (!rv_named(pm, rcpt))
			continue;
		if (!PQgetisnull(res, i, 4)) {
			log_info("revoke msgid=%s rcpt=%s status=not-reached "
			    "courier=%s", msgid, rcpt, PQgetvalue(res, i, 4));
			far++;
			continue;
		}
		if (strcmp(PQgetvalue(res, i, 3), "t") == 0)
			continue;
		if (rv_one(pd, msgid, rcpt, strcmp(PQgetvalue(res, i, 2),
		    "t") == 0, text, len, &why, err) == -1 ||
		    store_receipt(pd, from, msgid, rcpt, "revoked", why,
		    err) == -1)
			goto fail;
		log_info("revoke msgid=%s rcpt=%s status=revoked "
		    "reason=\"%s\"", msgid, rcpt, why);
		n++;
	}
	if (db_commit(pd->pd_db, err) == -1)
		goto fail;
	log_info("revoke msgid=%s sender=%s status=%s revoked=%d "
	    "not_reached=%d", msgid, from->pa_address, n > 0 ? "stored" :
	    "duplicate", n, far);
	if (n == 0 && far == 0)
		snprintf(msg, msglen, "already revoked");
	else if (far == 0)
		snprintf(msg, msglen, "revoked %d", n);
	else
		snprintf(msg, msglen, "revoked %d; %d at other couriers not "
		    "reached: revocation across couriers is not built yet", n,
		    far);
	st = PD_OK;
	goto out;
fail:
	db_rollback(pd->pd_db);
	log_warn("revoke msgid=%s status=error reason=\"%s\"", msgid, err);
	st = store_down(pd) ? PD_UNAVAILABLE : PD_INTERNAL;
	snprintf(msg, msglen, st == PD_UNAVAILABLE ? "database unavailable, "
	    "try again later" : "internal error");
out:
	PQclear(res);
	return st;
}

enum pd_status
store_revoke(struct pd *pd, X509 *client, const char *address,
    const unsigned char *body, size_t len, char *msg, size_t msglen)
{
	struct pd_account *from = NULL;
	struct proto_msg *pm = NULL;
	unsigned char *text = NULL;
	size_t tlen = 0;
	enum pd_status st;
	char err[TN_ERRLEN];

	if ((st = store_agent_open(pd, client, address, body, len, &text,
	    &tlen, msg, msglen)) != PD_NONE)
		goto out;
	st = PD_BAD;
	if (proto_parse((char *)text, tlen, &pm, err) == -1) {
		snprintf(msg, msglen, "not a revoke: %s", err);
		goto out;
	}
	if (pm->pm_kind != PROTO_REVOKE) {
		snprintf(msg, msglen, "not a revoke: a %s",
		    proto_kind_name(pm->pm_kind));
		goto out;
	}
	snprintf(pd->pd_req_msgid, sizeof(pd->pd_req_msgid), "%s",
	    proto_get(pm, "Message-Id"));
	st = PD_FORBIDDEN;
	if (strcasecmp(proto_get(pm, "Sender"), address) != 0) {
		snprintf(msg, msglen, "Sender is not the client's address");
		goto out;
	}
	if (store_account(pd, address, &from, 0, err) == -1 || from == NULL) {
		log_warn("revoke client=%s status=error reason=\"%s\"",
		    address, from == NULL ? "account vanished" : err);
		st = store_down(pd) ? PD_UNAVAILABLE : PD_INTERNAL;
		snprintf(msg, msglen, "internal error");
		goto out;
	}
	st = rv_commit(pd, from, pm, (char *)text, tlen, msg, msglen);
out:
	if (st != PD_OK && st != PD_UNAVAILABLE)
		log_info("revoke client=%s status=%d reason=\"%s\"", address,
		    (int)st, msg);
	if (text != NULL)
		OPENSSL_clear_free(text, tlen);
	proto_msg_free(pm);
	store_account_free(from);
	return st;
}
