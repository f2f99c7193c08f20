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

#include "db.h"
#include "fed.h"
#include "intro.h"
#include "log.h"
#include "policyd.h"
#include "proto.h"
#include "route.h"
#include "tandem.h"
#include "util.h"

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

/* A transaction that failed: rolled back, logged, the status to answer. */
static enum pd_status
rv_failed(struct pd *pd, const char *what, const char *msgid,
    const char *err, char *msg, size_t msglen)
{
	enum pd_status st;

	db_rollback(pd->pd_db);
	log_warn("%s msgid=%s status=error reason=\"%s\"", what, msgid, err);
	st = store_down(pd) ? PD_UNAVAILABLE : PD_INTERNAL;
	snprintf(msg, msglen, st == PD_UNAVAILABLE ? "database unavailable, "
	    "try again later" : "internal error");
	return st;
}

/*
 * What the client's agent POSTed: unwrapped (store_agent_open()) and
 * parsed into *pm, which must be of kind; PD_NONE, or the status with
 * msg. *text (OPENSSL_clear_free(), *tlen) is set either way.
 */
static enum pd_status
rv_open(struct pd *pd, X509 *client, const char *address,
    const unsigned char *body, size_t len, enum proto_kind kind,
    unsigned char **text, size_t *tlen, struct proto_msg **pm, char *msg,
    size_t msglen)
{
	enum pd_status st;
	char err[TN_ERRLEN];

	*pm = NULL;
	if ((st = store_agent_open(pd, client, address, body, len, text,
	    tlen, msg, msglen)) != PD_NONE)
		return st;
	if (proto_parse((char *)*text, *tlen, pm, err) == -1) {
		snprintf(msg, msglen, "not a %s: %s", proto_kind_name(kind),
		    err);
		return PD_BAD;
	}
	if ((*pm)->pm_kind != kind) {
		snprintf(msg, msglen, "not a %s: a %s", proto_kind_name(kind),
		    proto_kind_name((*pm)->pm_kind));
		return PD_BAD;
	}
	snprintf(pd->pd_req_msgid, sizeof(pd->pd_req_msgid), "%s",
	    proto_get(*pm, "Message-Id"));
	return PD_NONE;
}

/*
 * PD_NONE when a row is the client's and every Recipient was carried for
 * it; rows of another sender (an ARM of the same id from elsewhere) are
 * left alone.
 */
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
	for (found = 0, j = 0; j < PQntuples(res) && !found; j++)
		found = strcasecmp(PQgetvalue(res, j, 1), address) == 0;
	if (!found) {
		snprintf(msg, msglen, "%s was not sent by %s: only its sender "
		    "may revoke it", msgid, address);
		return PD_FORBIDDEN;
	}
	for (i = 0; i < n; i++) {
		r = proto_get_nth(pm, "Recipient", i);
		for (found = 0, j = 0; j < PQntuples(res) && !found; j++)
			found = strcasecmp(PQgetvalue(res, j, 0), r) == 0 &&
			    strcasecmp(PQgetvalue(res, j, 1), address) == 0;
		if (!found) {
			snprintf(msg, msglen, "%s was not carried here for "
			    "%s", msgid, r);
			return PD_NOT_FOUND;
		}
	}
	return PD_NONE;
}

/*
 * The revoke as it goes on for one recipient: the sender's fields, the
 * one Recipient, so that no recipient learns of the others. *text
 * (free()).
 */
static int
rv_for(const struct proto_msg *pm, const char *rcpt, char **text,
    size_t *len, char *err)
{
	static const char *const keep[] = { "Id", "Date", "Message-Id",
	    "Sender" };
	struct proto_msg *one;
	const char *reason = proto_get(pm, "Reason");
	size_t i;
	int rc = -1;

	*text = NULL;
	if ((one = proto_msg_new(PROTO_REVOKE)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (proto_set(one, keep[i], proto_get(pm, keep[i]), err) == -1)
			goto out;
	if (proto_set(one, "Recipient", rcpt, err) == -1 ||
	    (reason != NULL && proto_set(one, "Reason", reason, err) == -1) ||
	    proto_format(one, text, len, err) == -1)
		goto out;
	rc = 0;
out:
	proto_msg_free(one);
	return rc;
}

/* A fetched ARM: the revoke waits for the recipient's agent. */
static int
rv_tell_agent(struct pd *pd, const char *msgid, const char *rcpt,
    const struct proto_msg *pm, char *err)
{
	struct pd_account *to = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	if (store_account(pd, rcpt, &to, 0, err) == -1)
		goto out;
	rc = 0;
	if (to == NULL || strcmp(to->pa_status, "active") != 0 ||
	    to->pa_agent == NULL)
		goto out;	/* gone: nothing holds its key here */
	rc = rv_for(pm, rcpt, &text, &len, err) == -1 ||
	    store_deliver(pd, to, "revoke", msgid, NULL, NULL,
	    (const unsigned char *)text, len, err) == -1 ? -1 : 0;
out:
	free(text);
	store_account_free(to);
	return rc;
}

/* One recipient: destroy what is here or pass the revoke on; *why. */
static int
rv_one(struct pd *pd, const char *msgid, const char *sender,
    const char *rcpt, int held, const struct proto_msg *pm,
    const char **why, char *err)
{
	const char *vals[3] = { msgid, rcpt, sender };
	PGresult *res = NULL;
	int rc = -1;

	if (held) {
		*why = RV_HELD;
		rc = db_run(pd->pd_db, "UPDATE held_arms SET arm = '\\x', "
		    "purged_at = now(), revoked_at = now() WHERE message_id = "
		    "$1 AND recipient = lower($2) AND lower(sender) = "
		    "lower($3) AND released_at IS NULL AND revoked_at IS NULL",
		    3, vals, err);
		goto out;
	}
	if (db_exec(pd->pd_db, "DELETE FROM agent_mailbox WHERE message_id = "
	    "$1 AND address = lower($2) AND kind = 'arm' AND fetched_at IS "
	    "NULL AND lower(about) = lower($3)", 3, vals, NULL, &res,
	    err) == -1)
		goto out;
	*why = RV_WAITING;
	if (strcmp(PQcmdTuples(res), "0") == 0) {
		*why = RV_DELIVERED;
		if (rv_tell_agent(pd, msgid, rcpt, pm, err) == -1 ||
		    db_run(pd->pd_db, "UPDATE carried_arms SET told_agent_at = "
		    "now() WHERE message_id = $1 AND recipient = lower($2)", 2,
		    vals, err) == -1)
			goto out;
	}
	rc = db_run(pd->pd_db, "UPDATE carried_arms SET revoked_at = now() "
	    "WHERE message_id = $1 AND recipient = lower($2)", 2, vals, err);
out:
	PQclear(res);
	return rc;
}

/*
 * rcpt's ARM went to another courier: the revoke follows it, by the
 * route rcpt has now (a route learned since), else to the courier the
 * ARM went to; the courier used (in used, ROUTE_IDLEN) is kept for the
 * receipt to answer. 0 sent, 1 no way there (err says why), -1.
 */
static int
rv_relay(struct fed *fd, const char *msgid, const char *sender,
    const char *rcpt, const char *courier, const struct proto_msg *pm,
    char *used, char *err)
{
	struct route_decision rd;
	struct fed_item it;
	const char *vals[3] = { msgid, rcpt, NULL };
	char *text = NULL;
	size_t len;
	int r, direct;

	if (fed_route(fd, rcpt, ROUTE_SRC_LOCAL, NULL, &rd, err) == -1)
		return -1;
	direct = rd.rd_action == ROUTE_TO_NEW_COURIER ||
	    rd.rd_action == ROUTE_TO_LEARNED_COURIER ||
	    rd.rd_action == ROUTE_TO_INTRODUCED_COURIER;
	if (direct || rd.rd_action == ROUTE_DEFER_TO_SUPERIOR)
		courier = rd.rd_courier;
	if (rv_for(pm, rcpt, &text, &len, err) == -1)
		return -1;
	memset(&it, 0, sizeof(it));
	it.it_msgid = msgid;
	it.it_sender = sender;
	it.it_rcpt = rcpt;
	it.it_hops = 1;
	it.it_payload = (const unsigned char *)text;
	it.it_paylen = len;
	it.it_pay = INTRO_PAY_REVOKE;
	r = fed_send(fd, courier, NULL, &it, used, err);
	free(text);
	if (r != 0)
		return r;
	/*
	 * The courier that may answer: the one the route names, reached
	 * directly; a superior relaying it (a deferral, or the target's
	 * introduction missing) only relays and may not.
	 */
	vals[2] = direct && strcasecmp(used, rd.rd_courier) == 0 ? used :
	    NULL;
	return db_run(fd->fd_db, "UPDATE carried_arms SET revoked_at = now(), "
	    "revoke_via = $3 WHERE message_id = $1 AND recipient = lower($2)",
	    3, vals, err);
}

/* The transaction: each recipient not yet revoked, and its receipt. */
static enum pd_status
rv_commit(struct pd *pd, const struct pd_account *from,
    const struct proto_msg *pm, char *msg, size_t msglen)
{
	const char *msgid = proto_get(pm, "Message-Id"), *rcpt, *why;
	PGresult *res = NULL;
	struct fed fd;
	enum pd_status st = PD_NONE;
	char err[TN_ERRLEN], why2[TN_ERRLEN], used[ROUTE_IDLEN];
	char c[UTIL_ESCLEN], w[UTIL_ESCLEN];
	int i, r, n = 0, sent = 0, far = 0;

	bgfed_init(pd, &fd);
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
		if (!rv_named(pm, rcpt) || strcasecmp(PQgetvalue(res, i, 1),
		    from->pa_address) != 0)
			continue;
		if (strcmp(PQgetvalue(res, i, 3), "t") == 0)
			continue;
		if (!PQgetisnull(res, i, 4)) {
			if ((r = rv_relay(&fd, msgid, from->pa_address, rcpt,
			    PQgetvalue(res, i, 4), pm, used, why2)) == -1) {
				snprintf(err, sizeof(err), "%s", why2);
				goto fail;
			}
			if (r == 0)
				sent++;
			else
				far++;
			log_info("revoke msgid=%s rcpt=%s status=%s courier=%s "
			    "reason=\"%s\"", msgid, rcpt, r == 0 ? "sent" :
			    "not-reached", util_escape(r == 0 ? used :
			    PQgetvalue(res, i, 4), c, sizeof(c), 0),
			    r == 0 ? "" : util_escape(why2, w, sizeof(w),
			    UTIL_ESC_SPACE));
			continue;
		}
		if (rv_one(pd, msgid, from->pa_address, rcpt,
		    strcmp(PQgetvalue(res, i, 2), "t") == 0, pm, &why,
		    err) == -1 ||
		    store_receipt(pd, from, msgid, rcpt, "revoked", why,
		    err) == -1)
			goto fail;
		log_info("revoke msgid=%s rcpt=%s status=revoked "
		    "reason=\"%s\"", msgid, rcpt, why);
		n++;
	}
	if (db_commit(pd->pd_db, err) == -1)
		goto fail;
	if (fd.fd_sent > 0)
		send_kick(pd);
	log_info("revoke msgid=%s sender=%s status=%s revoked=%d sent=%d "
	    "not_reached=%d", msgid, from->pa_address, n + sent > 0 ?
	    "stored" : "duplicate", n, sent, far);
	if (n + sent + far == 0)
		snprintf(msg, msglen, "already revoked");
	else
		snprintf(msg, msglen, "revoked %d%s", n, sent + far == 0 ? "" :
		    ";");
	if (sent > 0)
		snprintf(msg + strlen(msg), msglen - strlen(msg), " %d sent on "
		    "to other couriers, their receipts follow%s", sent,
		    far > 0 ? ";" : "");
	if (far > 0)
		snprintf(msg + strlen(msg), msglen - strlen(msg), " %d not "
		    "reached: no way to their courier", far);
	st = PD_OK;
	goto out;
fail:
	st = rv_failed(pd, "revoke", msgid, err, msg, msglen);
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

	if ((st = rv_open(pd, client, address, body, len, PROTO_REVOKE, &text,
	    &tlen, &pm, msg, msglen)) != PD_NONE)
		goto out;
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
	st = rv_commit(pd, from, pm, msg, msglen);
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

/*
 * A revoke or a receipt from another courier not acted on: logged, 1
 * with why in err (the engine refuses the message: 403).
 */
static int
rv_refused(const struct fed_item *it, const char *what, const char *why,
    char *err)
{
	char o[UTIL_ESCLEN], w[UTIL_ESCLEN];

	log_info("courier %s msgid=%s rcpt=%s origin=%s status=refused "
	    "reason=\"%s\"", what, it->it_msgid, it->it_rcpt,
	    util_escape(it->it_origin, o, sizeof(o), 0),
	    util_escape(why, w, sizeof(w), UTIL_ESC_SPACE));
	snprintf(err, TN_ERRLEN, "%s %s for %s: %s", what, it->it_msgid,
	    it->it_rcpt, why);
	return 1;
}

/*
 * A receipt about msgid at rcpt, for sender, to the courier the ARM or
 * the revoke came from (origin): 0 queued, 1 no way there (logged), -1.
 */
static int
rv_answer(struct pd *pd, struct fed *fd, const char *msgid,
    const char *sender, const char *rcpt, const char *origin,
    const char *event, const char *why, char *err)
{
	struct fed_item it;
	char used[ROUTE_IDLEN], o[UTIL_ESCLEN], w[UTIL_ESCLEN], e[TN_ERRLEN];
	char *body = NULL;
	size_t blen;
	int r;

	if (store_receipt_text(pd, sender, msgid, rcpt, event, why, &body,
	    &blen, err) == -1)
		return -1;
	memset(&it, 0, sizeof(it));
	it.it_msgid = msgid;
	it.it_sender = rcpt;	/* the recipient it reports on */
	it.it_rcpt = sender;	/* to the message's sender */
	it.it_hops = 1;
	it.it_payload = (const unsigned char *)body;
	it.it_paylen = blen;
	it.it_pay = INTRO_PAY_RECEIPT;
	r = fed_send(fd, origin, NULL, &it, used, e);
	free(body);
	if (r == -1) {
		snprintf(err, TN_ERRLEN, "%s", e);
		return -1;
	}
	if (r == 1)
		log_info("courier receipt msgid=%s rcpt=%s origin=%s "
		    "status=not-sent reason=\"%s\"", msgid, rcpt,
		    util_escape(origin, o, sizeof(o), 0),
		    util_escape(e, w, sizeof(w), UTIL_ESC_SPACE));
	return r;
}

/*
 * A revoke another courier sent for rcpt, served here: believed only
 * for an ARM carried here for rcpt from the same sender and the same
 * origin courier; then as for a local sender's (rv_one()), and the
 * receipt goes back to the origin.
 */
static int
rv_take(struct pd *pd, struct fed *fd, const struct fed_item *it,
    char *err)
{
	const char *vals[2] = { it->it_msgid, it->it_rcpt }, *why = NULL;
	const char *done;
	struct proto_msg *pm = NULL;
	PGresult *res = NULL;
	char perr[TN_ERRLEN], o[UTIL_ESCLEN];
	int rc = -1;

	if (proto_parse((const char *)it->it_payload, it->it_paylen, &pm,
	    perr) == -1)
		why = perr;
	else if (pm->pm_kind != PROTO_REVOKE)
		why = "not a revoke";
	else if (strcmp(proto_get(pm, "Message-Id"), it->it_msgid) != 0)
		why = "the revoke is for another Message-Id";
	else if (strcasecmp(proto_get(pm, "Sender"), it->it_sender) != 0)
		why = "the revoke's Sender is not the message's";
	else if (!rv_named(pm, it->it_rcpt))
		why = "the revoke does not name this recipient";
	if (why != NULL) {
		rc = rv_refused(it, "revoke", why, err);
		goto out;
	}
	if (db_exec(fd->fd_db, "SELECT true, sender, coalesce(origin, ''), "
	    "revoked_at IS NOT NULL FROM held_arms WHERE message_id = $1 AND "
	    "recipient = lower($2) AND released_at IS NULL AND (purged_at IS "
	    "NULL OR revoked_at IS NOT NULL) UNION ALL SELECT false, sender, "
	    "coalesce(origin, ''), revoked_at IS NOT NULL FROM carried_arms "
	    "WHERE message_id = $1 AND recipient = lower($2) AND courier IS "
	    "NULL", 2, vals, NULL, &res, err) == -1)
		goto out;
	if (PQntuples(res) == 0)
		why = "no such message was carried here for this recipient";
	else if (strcasecmp(PQgetvalue(res, 0, 1), it->it_sender) != 0)
		why = "the message was not sent by the revoke's Sender";
	else if (strcasecmp(PQgetvalue(res, 0, 2), it->it_origin) != 0)
		why = "the ARM came from another courier than the revoke";
	if (why != NULL) {
		rc = rv_refused(it, "revoke", why, err);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "t") == 0) {
		log_info("courier revoke msgid=%s rcpt=%s status=duplicate",
		    it->it_msgid, it->it_rcpt);
		rc = 0;
		goto out;
	}
	/* rv_answer() 1: done here all the same, the receipt logged. */
	if (rv_one(pd, it->it_msgid, it->it_sender, it->it_rcpt,
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0, pm, &done, err) == -1 ||
	    rv_answer(pd, fd, it->it_msgid, it->it_sender, it->it_rcpt,
	    it->it_origin, "revoked", done, err) == -1)
		goto out;
	log_info("courier revoke msgid=%s rcpt=%s origin=%s status=revoked "
	    "reason=\"%s\"", it->it_msgid, it->it_rcpt,
	    util_escape(it->it_origin, o, sizeof(o), 0), done);
	rc = 0;
out:
	PQclear(res);
	proto_msg_free(pm);
	return rc;
}

/*
 * A receipt about msgid at rcpt filed for pa (NULL, not active or
 * without an agent: nobody to tell), replacing one not fetched yet.
 */
static int
rv_file(struct pd *pd, const struct pd_account *pa, const char *msgid,
    const char *rcpt, const char *event, const char *why, char *err)
{
	const char *vals[3];

	if (pa == NULL || strcmp(pa->pa_status, "active") != 0 ||
	    pa->pa_agent == NULL)
		return 0;
	vals[0] = pa->pa_address;
	vals[1] = msgid;
	vals[2] = rcpt;
	if (db_run(pd->pd_db, "DELETE FROM agent_mailbox WHERE address = $1 "
	    "AND kind = 'receipt' AND message_id = $2 AND lower(about) = "
	    "lower($3)",
	    3, vals, err) == -1)
		return -1;
	return store_receipt(pd, pa, msgid, rcpt, event, why != NULL ? why :
	    "", err);
}

/*
 * A receipt for a revoke this background sent on: believed only when
 * one awaits it (carried_arms: revoked, not settled: the first answer,
 * then the recipient's agent's word) and it comes from the courier the
 * revoke went to directly (revoke_via: never a superior that relayed
 * it) or the one the recipient's route names now (an introduction
 * whose claim was checked, or a route learned with proof); then filed
 * for the sender. A read receipt (Event opened, no revoke) likewise
 * from the courier the ARM went to (carried_arms.courier) or the
 * route's; the recipient's background sends it once, and the sender's
 * agent says an "opened" once however often it comes.
 */
static int
rv_receipt(struct pd *pd, struct fed *fd, const struct fed_item *it,
    char *err)
{
	const char *vals[3] = { it->it_msgid, it->it_sender, NULL };
	const char *why = NULL;
	struct proto_msg *pm = NULL;
	struct pd_account *pa = NULL;
	struct route_decision rd;
	PGresult *res = NULL;
	char perr[TN_ERRLEN], o[UTIL_ESCLEN];
	int rc = -1, reading;

	if (proto_parse((const char *)it->it_payload, it->it_paylen, &pm,
	    perr) == -1)
		why = perr;
	else if (pm->pm_kind != PROTO_RECEIPT)
		why = "not a receipt";
	else if (strcmp(proto_get(pm, "Message-Id"), it->it_msgid) != 0)
		why = "the receipt is for another Message-Id";
	else if (strcasecmp(proto_get(pm, "Sender"), it->it_rcpt) != 0 ||
	    strcasecmp(proto_get(pm, "Recipient"), it->it_sender) != 0)
		why = "the receipt's Sender and Recipient are not the "
		    "message's";
	else if (strcmp(proto_get(pm, "Event"), "revoked") != 0 &&
	    strcmp(proto_get(pm, "Event"), "opened") != 0)
		why = "only a revocation's receipt crosses couriers";
	if (why != NULL) {
		rc = rv_refused(it, "receipt", why, err);
		goto out;
	}
	/* Or a read receipt: Event opened for an ARM sent there, unrevoked. */
	vals[2] = proto_get(pm, "Event");
	if (db_exec(fd->fd_db, "SELECT CASE WHEN revoked_at IS NULL THEN "
	    "courier ELSE revoke_via END, sender, revoked_at IS NULL FROM "
	    "carried_arms WHERE message_id = $1 AND recipient = lower($2) AND "
	    "courier IS NOT NULL AND ((revoked_at IS NOT NULL AND settled_at "
	    "IS NULL) OR (revoked_at IS NULL AND $3 = 'opened'))",
	    3, vals, NULL, &res, err) == -1 ||
	    fed_route(fd, it->it_sender, ROUTE_SRC_LOCAL, NULL, &rd, err) == -1)
		goto out;
	reading = PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 2),
	    "t") == 0;
	if (PQntuples(res) == 0 || strcasecmp(PQgetvalue(res, 0, 1),
	    it->it_rcpt) != 0)
		why = "no revoke sent for this recipient awaits a receipt";
	else if (strcasecmp(PQgetvalue(res, 0, 0), it->it_origin) != 0 &&
	    strcasecmp(rd.rd_courier, it->it_origin) != 0)
		why = reading ? "the read receipt comes from a courier the ARM "
		    "did not go to" : "the receipt comes from a courier the "
		    "revoke did not go to";
	if (why != NULL) {
		rc = rv_refused(it, "receipt", why, err);
		goto out;
	}
	if (store_account(pd, it->it_rcpt, &pa, 0, err) == -1)
		goto out;
	if (rv_file(pd, pa, it->it_msgid, it->it_sender,
	    proto_get(pm, "Event"), proto_get(pm, "Reason"), err) == -1)
		goto out;
	/* The first answer, then the recipient's agent's word. */
	if (!reading && db_run(fd->fd_db, "UPDATE carried_arms SET settled_at = CASE "
	    "WHEN answered_at IS NOT NULL THEN now() END, answered_at = "
	    "coalesce(answered_at, now()) WHERE message_id = $1 AND recipient "
	    "= lower($2)", 2, vals, err) == -1)
		goto out;
	log_info("courier receipt msgid=%s rcpt=%s origin=%s status=filed "
	    "event=%s", it->it_msgid, it->it_sender,
	    util_escape(it->it_origin, o, sizeof(o), 0),
	    proto_get(pm, "Event"));
	rc = 0;
out:
	store_account_free(pa);
	PQclear(res);
	proto_msg_free(pm);
	return rc;
}

int
revoke_control(struct pd *pd, struct fed *fd, const struct fed_item *it,
    char *err)
{
	if (it->it_pay == INTRO_PAY_REVOKE)
		return rv_take(pd, fd, it, err);
	return rv_receipt(pd, fd, it, err);
}

/*
 * The recipient's agent's word on a revoked message (POST /v1/receipt):
 * the sender learns whether it had been opened. Taken once, only from
 * an agent the revoke was filed for. Or its read receipt (Event opened,
 * no revoke): the sender asked to learn of the first open.
 */
static enum pd_status
rp_commit(struct pd *pd, const struct proto_msg *pm, const char *address,
    char *msg, size_t msglen)
{
	const char *msgid = proto_get(pm, "Message-Id");
	const char *event = proto_get(pm, "Event");
	const char *why = proto_get(pm, "Reason"), *sender, *origin;
	const char *vals[2] = { msgid, address };
	struct pd_account *pa = NULL;
	PGresult *res = NULL;
	struct fed fd;
	enum pd_status st = PD_NONE;
	char err[TN_ERRLEN], o[UTIL_ESCLEN];
	int r, reading;

	bgfed_init(pd, &fd);
	if (why == NULL)
		why = "";
	/*
	 * Told: the revoke was filed for the agent. Neither told nor
	 * revoked: a read receipt (Event opened) for a message delivered
	 * to that agent, its first open; taken once like the word after a
	 * revoke (settled_at), and sent on as that word is.
	 */
	if (db_begin(pd->pd_db, err) == -1 ||
	    db_exec(pd->pd_db, "SELECT sender, coalesce(origin, ''), "
	    "settled_at IS NOT NULL, told_agent_at IS NULL AND revoked_at IS "
	    "NULL FROM carried_arms WHERE message_id = $1 AND recipient = "
	    "lower($2) AND courier IS NULL AND (told_agent_at IS NOT NULL OR "
	    "revoked_at IS NULL) FOR UPDATE", 2, vals, NULL, &res, err) == -1)
		goto fail;
	reading = PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 3),
	    "t") == 0;
	if (PQntuples(res) == 0 || (reading && strcmp(event, "opened") !=
	    0)) {
		snprintf(msg, msglen, "%s: no revocation of it was passed on "
		    "to %s", msgid, address);
		st = PD_NOT_FOUND;
	} else if (strcasecmp(PQgetvalue(res, 0, 0),
	    proto_get(pm, "Sender")) != 0) {
		snprintf(msg, msglen, "%s was not sent by %s", msgid,
		    proto_get(pm, "Sender"));
		st = PD_FORBIDDEN;
	} else if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
		snprintf(msg, msglen, "already told");
		st = PD_OK;
	}
	if (st != PD_NONE) {
		db_rollback(pd->pd_db);
		goto out;
	}
	sender = PQgetvalue(res, 0, 0);
	origin = PQgetvalue(res, 0, 1);
	if (origin[0] == '\0') {
		if (store_account(pd, sender, &pa, 0, err) == -1 ||
		    rv_file(pd, pa, msgid, address, event, why, err) == -1)
			goto fail;
	} else if ((r = rv_answer(pd, &fd, msgid, sender, address, origin,
	    event, why, err)) != 0) {
		if (r == -1)
			goto fail;
		/* No way to that courier now: the agent tells again later. */
		db_rollback(pd->pd_db);
		snprintf(msg, msglen, "cannot reach the courier of %s now, "
		    "try again later", sender);
		st = PD_UNAVAILABLE;
		goto out;
	}
	if (db_run(pd->pd_db, "UPDATE carried_arms SET settled_at = now() "
	    "WHERE message_id = $1 AND recipient = lower($2)", 2, vals,
	    err) == -1 || db_commit(pd->pd_db, err) == -1)
		goto fail;
	if (fd.fd_sent > 0)
		send_kick(pd);
	log_info("receipt msgid=%s rcpt=%s sender=%s event=%s status=%s%s",
	    msgid, address, sender, event, origin[0] == '\0' ? "filed" :
	    "sent courier=", util_escape(origin, o, sizeof(o), 0));
	snprintf(msg, msglen, "told");
	st = PD_OK;
	goto out;
fail:
	st = rv_failed(pd, "receipt", msgid, err, msg, msglen);
out:
	store_account_free(pa);
	PQclear(res);
	return st;
}

enum pd_status
store_report(struct pd *pd, X509 *client, const char *address,
    const unsigned char *body, size_t len, char *msg, size_t msglen)
{
	struct proto_msg *pm = NULL;
	unsigned char *text = NULL;
	size_t tlen = 0;
	enum pd_status st;

	if ((st = rv_open(pd, client, address, body, len, PROTO_RECEIPT,
	    &text, &tlen, &pm, msg, msglen)) != PD_NONE)
		goto out;
	st = PD_BAD;
	if (strcmp(proto_get(pm, "Event"), "opened") != 0 &&
	    strcmp(proto_get(pm, "Event"), "revoked") != 0) {
		snprintf(msg, msglen, "Event %s: an agent tells only whether "
		    "a message was opened (opened, or revoked for a revoked "
		    "message not opened)",
		    proto_get(pm, "Event"));
		goto out;
	}
	st = PD_FORBIDDEN;
	if (strcasecmp(proto_get(pm, "Recipient"), address) != 0) {
		snprintf(msg, msglen, "Recipient is not the client's address");
		goto out;
	}
	st = rp_commit(pd, pm, address, msg, msglen);
out:
	if (st != PD_OK && st != PD_UNAVAILABLE)
		log_info("receipt client=%s status=%d reason=\"%s\"", address,
		    (int)st, msg);
	if (text != NULL)
		OPENSSL_clear_free(text, tlen);
	proto_msg_free(pm);
	return st;
}
