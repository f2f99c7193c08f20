/*
 * NAME
 *	bgfed.c - the background between couriers: its hands for the
 *	federation engine (lib/fed.c), and POST /v1/courier
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	The engine decides (doc/federation.md); this file does what only
 *	a background does: a wrap for another courier is queued in
 *	bg_outbox, which send.c POSTs; a delivery files the ARM record,
 *	wrapped to the agent, in agent_mailbox; a hold keeps the ARM
 *	record from another courier wrapped by this BG to itself (a local
 *	sender's stays as its agent wrapped it to its courier end); a
 *	recipient that cannot be reached is dropped and logged, since a
 *	background has no way to the sender.
 *
 *	store_courier() does all of POST /v1/courier once the TLS client
 *	certificate is known: the client must be a BG element whose
 *	introduction checks (intro_check()); the body is unwrapped with
 *	the BG element key; the signer must be the client; then the
 *	engine takes the inter-courier message or the introduction in
 *	one transaction.
 *
 *	bgfed_release() routes the held ARMs again (of an address, or all
 *	with NULL) in a transaction of its own: to the local agent, or on
 *	to another courier once a route appears.
 *
 *	store_invitation_reject() does POST /v1/invitation-reject: an
 *	agent of this courier refuses an invitation; the introduction it
 *	asks for is queued to the inviting BG, sealed when sent.
 * DIAGNOSTICS
 *	One log line per decision: "courier msgid=... rcpt=...
 *	action=...". Refusals are logged with their reason; ARM records
 *	and keys never are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "arm.h"
#include "db.h"
#include "fed.h"
#include "intro.h"
#include "log.h"
#include "policyd.h"
#include "proto.h"
#include "route.h"
#include "tandem.h"

/* An inter-courier ARM record, read by bgfed_check(). */
struct bgfed_arm {
	struct arm_record	*ba_ar;
	char			 ba_expires[32];	/* "": none */
};

static int
bgfed_queue(struct fed *fd, const char *url, const char *kind,
    const char *msgid, const unsigned char *wrap, size_t wlen, char *err)
{
	const char *p[4] = { url, kind, msgid, (const char *)wrap };
	int lens[4] = { 0, 0, 0, (int)wlen };

	return db_exec(fd->fd_db, "INSERT INTO bg_outbox (url, kind, "
	    "message_id, body) VALUES ($1, $2, $3, $4)", 4, p, lens, NULL,
	    err);
}

static const char *
bgfed_expires(const struct fed_item *it)
{
	const struct bgfed_arm *ba = it->it_extra;

	if (it->it_expires != NULL || ba == NULL)
		return it->it_expires;
	return ba->ba_expires[0] != '\0' ? ba->ba_expires : NULL;
}

static int
bgfed_deliver(struct fed *fd, const struct fed_item *it, char *err)
{
	struct pd *pd = fd->fd_arg;
	struct pd_account *to = NULL;
	int rc = -1;

	if (store_account(pd, it->it_rcpt, &to, 0, err) == -1)
		goto out;
	rc = 1;
	if (to == NULL || to->pa_agent == NULL)
		goto out;
	rc = store_deliver(pd, to, it->it_msgid, bgfed_expires(it),
	    it->it_payload, it->it_paylen, err);
out:
	store_account_free(to);
	return rc;
}

/* An ARM record from another courier, held wrapped to this BG. */
static int
bgfed_hold(struct fed *fd, const struct fed_item *it, char *err)
{
	STACK_OF(X509) *self = NULL;
	unsigned char *wrap = NULL;
	size_t wlen;
	const char *p[5] = { it->it_msgid, it->it_sender, it->it_rcpt, NULL,
	    bgfed_expires(it) };
	int lens[5] = { 0, 0, 0, 0, 0 }, rc = -1;

	if ((self = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(self, fd->fd_id->ci_cert)) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (cms_wrap(it->it_payload, it->it_paylen, fd->fd_id, self, 0, &wrap,
	    &wlen, err) == -1)
		goto out;
	p[3] = (const char *)wrap;
	lens[3] = (int)wlen;
	rc = db_exec(fd->fd_db, "INSERT INTO held_arms (message_id, sender, "
	    "recipient, arm, expires_at) VALUES ($1, $2, lower($3), $4, $5) "
	    "ON CONFLICT DO NOTHING", 5, p, lens, NULL, err);
out:
	free(wrap);
	sk_X509_free(self);
	return rc;
}

static int
bgfed_notice(struct fed *fd, const struct fed_item *it, const char *reason,
    char *err)
{
	(void)fd;
	(void)err;
	log_info("courier msgid=%s rcpt=%s action=drop reason=\"%s\" hops=%u",
	    it->it_msgid, it->it_rcpt, reason, it->it_hops);
	return 0;
}

/* Does the ARM record say what the inter-courier fields say? */
static int
bgfed_check(struct fed *fd, const struct intro_ic *ic, void **extra,
    char *err)
{
	struct bgfed_arm *ba;
	const struct arm_record *ar;
	size_t i, j;
	char why[TN_ERRLEN];

	(void)fd;
	if ((ba = calloc(1, sizeof(*ba))) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	*extra = ba;
	if (arm_parse((char *)ic->ic_payload, ic->ic_paylen, &ba->ba_ar,
	    why) == -1) {
		tn_err(err, "bad ARM: %s", why);
		return -1;
	}
	ar = ba->ba_ar;
	if (strcmp(ar->ar_msgid, ic->ic_msgid) != 0 ||
	    strcasecmp(ar->ar_sender, ic->ic_sender) != 0) {
		tn_err(err, "bad ARM: ARM record is not the one announced");
		return -1;
	}
	for (i = 0; i < ic->ic_nrcpts; i++) {
		for (j = 0; j < ar->ar_nrcpts; j++)
			if (strcasecmp(ic->ic_rcpts[i], ar->ar_rcpts[j]) == 0)
				break;
		if (j == ar->ar_nrcpts) {
			tn_err(err, "bad ARM: %s is not a recipient of the ARM",
			    ic->ic_rcpts[i]);
			return -1;
		}
	}
	if (ar->ar_restr.rs_expires != 0)
		(void)proto_format_time(ar->ar_restr.rs_expires,
		    ba->ba_expires, sizeof(ba->ba_expires));
	return 0;
}

static void
bgfed_check_free(void *extra)
{
	struct bgfed_arm *ba = extra;

	arm_free(ba->ba_ar);
	free(ba);
}

/*
 * The ARM record of a held row: a local sender's is wrapped to its
 * courier end, one from another courier to this BG. 1 when it cannot
 * be opened any more (logged, kept for the operator).
 */
static int
bgfed_open_held(struct pd *pd, PGresult *r, int i, unsigned char **arm,
    size_t *armlen, char *err)
{
	struct pd_account *from = NULL;
	struct cms_id id = pd->pd_id;
	unsigned char *wrap = NULL;
	size_t wlen;
	enum cms_fail fail;
	char why[TN_ERRLEN];
	int rc = -1;

	if (store_account(pd, PQgetvalue(r, i, 2), &from, 1, why) == -1 &&
	    pd->pd_db_down) {
		snprintf(err, TN_ERRLEN, "%s", why);
		goto out;
	}
	rc = 1;
	if (from != NULL) {
		id.ci_cert = from->pa_courier;
		id.ci_key = from->pa_key;
		id.ci_chain = NULL;
	}
	if ((wrap = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i,
	    4), &wlen)) == NULL)
		tn_err(why, "out of memory");
	else if (cms_unwrap(wrap, wlen, &id, pki_trust_store(pd->pd_trust),
	    arm, armlen, NULL, NULL, &fail, why) == 0)
		rc = 0;
out:
	if (rc == 1)
		log_warn("arm msgid=%s rcpt=%s status=kept reason=\"%s\"",
		    PQgetvalue(r, i, 1), PQgetvalue(r, i, 3), why);
	PQfreemem(wrap);
	store_account_free(from);
	return rc;
}

/* Held ARMs, of address or all, each to the engine; expired purged. */
static int
bgfed_held(struct fed *fd, const char *address,
    int (*each)(struct fed *, const struct fed_item *, char *), char *err)
{
	const char *p[1] = { address };
	struct fed_item it;
	unsigned char *arm = NULL;
	size_t armlen = 0;
	PGresult *r = NULL;
	int i, o, rc = -1;

	if (db_exec(fd->fd_db, "SELECT id, message_id, sender, recipient, "
	    "arm, to_char(expires_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce(expires_at <= now(), "
	    "false) FROM held_arms WHERE released_at IS NULL AND purged_at IS "
	    "NULL AND ($1::text IS NULL OR recipient = lower($1)) ORDER BY id "
	    "FOR UPDATE", 1, p, NULL, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		const char *hid = PQgetvalue(r, i, 0);

		if (strcmp(PQgetvalue(r, i, 6), "t") == 0) {
			if (db_run(fd->fd_db, "UPDATE held_arms SET purged_at "
			    "= now(), arm = '\\x' WHERE id = $1", 1, &hid,
			    err) == -1)
				goto out;
			log_info("arm msgid=%s rcpt=%s status=expired-dropped",
			    PQgetvalue(r, i, 1), PQgetvalue(r, i, 3));
			continue;
		}
		if ((o = bgfed_open_held(fd->fd_arg, r, i, &arm, &armlen,
		    err)) == -1)
			goto out;
		if (o == 1)
			continue;
		memset(&it, 0, sizeof(it));
		it.it_held = hid;
		it.it_msgid = PQgetvalue(r, i, 1);
		it.it_sender = PQgetvalue(r, i, 2);
		it.it_rcpt = PQgetvalue(r, i, 3);
		it.it_hops = 1;
		it.it_payload = arm;
		it.it_paylen = armlen;
		it.it_expires = PQgetisnull(r, i, 5) ? NULL :
		    PQgetvalue(r, i, 5);
		if (each(fd, &it, err) == -1)
			goto out;
		OPENSSL_clear_free(arm, armlen);
		arm = NULL;
	}
	rc = 0;
out:
	if (arm != NULL)
		OPENSSL_clear_free(arm, armlen);
	PQclear(r);
	return rc;
}

static int
bgfed_held_done(struct fed *fd, const struct fed_item *it,
    const char *courier, char *err)
{
	(void)courier;
	return db_run(fd->fd_db, "UPDATE held_arms SET released_at = now() "
	    "WHERE id = $1", 1, &it->it_held, err);
}

static void
bgfed_note(struct fed *fd, const struct fed_note *fn)
{
	const struct fed_item *it = fn->fn_item;

	switch (fn->fn_event) {
	case FED_EV_DUPLICATE:
		if (fn->fn_ic != NULL)
			log_info("courier id=%s msgid=%s status=duplicate",
			    fn->fn_ic->ic_id, fn->fn_ic->ic_msgid);
		break;
	case FED_EV_DELIVER:
	case FED_EV_HOLD:
		log_info("courier msgid=%s rcpt=%s action=%s hops=%u "
		    "origin=%s", it->it_msgid, it->it_rcpt, fn->fn_event ==
		    FED_EV_DELIVER ? "deliver" : "hold", it->it_hops,
		    it->it_origin);
		break;
	case FED_EV_RELEASED:
		if (fn->fn_courier == NULL) {
			log_info("arm msgid=%s rcpt=%s status=released",
			    it->it_msgid, it->it_rcpt);
			break;
		}
		/* FALLTHROUGH */
	case FED_EV_FORWARD:
		log_info("courier msgid=%s rcpt=%s action=forward courier=%s%s%s "
		    "hops=%u origin=%s route=%s", it->it_msgid, it->it_rcpt,
		    fn->fn_courier, fn->fn_for != NULL ? " for=" : "",
		    fn->fn_for != NULL ? fn->fn_for : "", it->it_hops,
		    it->it_origin != NULL ? it->it_origin :
		    fd->fd_conf->cf_name, fn->fn_text);
		break;
	case FED_EV_INTRODUCE:
		log_info("courier introduce courier=%s url=%s addresses=%zu",
		    fn->fn_courier, fn->fn_endpoint, fn->fn_count);
		break;
	case FED_EV_RECORDED:
		log_info("courier introduction courier=%s url=%s "
		    "status=recorded", fn->fn_courier, fn->fn_endpoint);
		break;
	case FED_EV_LEARNED:
		log_info("courier learned address=%s courier=%s reason=%s",
		    it->it_rcpt, fn->fn_courier, fn->fn_text);
		break;
	default:
		break;
	}
}

static const struct fed_ops bgfed_ops = {
	.fo_queue = bgfed_queue,
	.fo_deliver = bgfed_deliver,
	.fo_hold = bgfed_hold,
	.fo_notice = bgfed_notice,
	.fo_check = bgfed_check,
	.fo_check_free = bgfed_check_free,
	.fo_held = bgfed_held,
	.fo_held_done = bgfed_held_done,
	.fo_note = bgfed_note,
};

void
bgfed_init(struct pd *pd, struct fed *fd)
{
	memset(fd, 0, sizeof(*fd));
	fd->fd_kind = PKI_KIND_BG;
	fd->fd_conf = pd->pd_cf;
	fd->fd_endpoint = pd->pd_cf->cf_url;
	fd->fd_id = &pd->pd_id;
	fd->fd_trust = pd->pd_trust;
	fd->fd_self_pem = pd->pd_self_pem;
	fd->fd_db = pd->pd_db;
	fd->fd_ops = &bgfed_ops;
	fd->fd_arg = pd;
}

/* What to answer after a failed transaction; rolled back, logged. */
static enum pd_status
bgfed_failed(struct pd *pd, const char *what, const char *err, char *msg,
    size_t msglen)
{
	db_rollback(pd->pd_db);
	log_warn("courier %s status=error reason=\"%s\"", what, err);
	if (db_down(pd->pd_db))
		pd->pd_db_down = 1;
	snprintf(msg, msglen, pd->pd_db_down ? "database unavailable, try "
	    "again later" : "internal error");
	return pd->pd_db_down ? PD_UNAVAILABLE : PD_INTERNAL;
}

int
bgfed_release(struct pd *pd, const char *address, char *err)
{
	struct fed fd;
	int n, rc = -1;

	if (store_connect(pd, err) == -1)
		return -1;
	bgfed_init(pd, &fd);
	if (db_begin(pd->pd_db, err) == -1 ||
	    fed_release(&fd, address, &n, err) == -1 ||
	    db_commit(pd->pd_db, err) == -1)
		goto out;
	if (fd.fd_sent > 0)
		send_kick(pd);
	rc = 0;
out:
	db_rollback(pd->pd_db);
	return rc;
}

/* The engine's verdict on a courier's message, as an HTTP status. */
static enum pd_status
bgfed_take(struct pd *pd, const struct intro *peer, int intro,
    const char *text, size_t len, char *msg, size_t msglen)
{
	struct fed fd;
	char why[TN_ERRLEN], err[TN_ERRLEN];
	enum fed_status st;

	bgfed_init(pd, &fd);
	why[0] = err[0] = '\0';
	if (db_begin(pd->pd_db, err) == -1)
		return bgfed_failed(pd, intro ? "introduction" : "message",
		    err, msg, msglen);
	st = intro ? fed_take_intro(&fd, peer, text, len, why, err) :
	    fed_take_ic(&fd, peer, text, len, why, err);
	if (st == FED_TAKEN && db_commit(pd->pd_db, err) == -1)
		st = FED_ERROR;
	switch (st) {
	case FED_TAKEN:
		if (fd.fd_sent > 0)
			send_kick(pd);
		snprintf(msg, msglen, "stored");
		return PD_CREATED;
	case FED_DUPLICATE:
		db_rollback(pd->pd_db);
		snprintf(msg, msglen, "already stored");
		return PD_OK;
	case FED_UNVERIFIED:
	case FED_REFUSED:
	case FED_BAD:
		db_rollback(pd->pd_db);
		snprintf(msg, msglen, "%s", why);
		return st == FED_BAD ? PD_BAD : PD_FORBIDDEN;
	default:
		return bgfed_failed(pd, intro ? "introduction" : "message",
		    err, msg, msglen);
	}
}

enum pd_status
store_courier(struct pd *pd, X509 *client, STACK_OF(X509) *chain,
    const unsigned char *body, size_t len, char *msg, size_t msglen)
{
	struct intro *peer = NULL;
	struct proto_msg *pm = NULL;
	unsigned char *text = NULL;
	size_t tlen = 0;
	X509 *signer = NULL;
	STACK_OF(X509) *certs = NULL;
	enum cms_fail fail;
	enum pd_status st = PD_FORBIDDEN;
	char err[TN_ERRLEN];

	if (intro_check(pd->pd_trust, client, chain, PKI_KIND_BG, &peer,
	    err) == -1) {
		snprintf(msg, msglen, "client: %s", err);
		goto out;
	}
	if (cms_unwrap(body, len, &pd->pd_id, pki_trust_store(pd->pd_trust),
	    &text, &tlen, &signer, &certs, &fail, err) == -1) {
		st = fail == CMS_FAIL_CHAIN ? PD_FORBIDDEN : fail ==
		    CMS_FAIL_INTERNAL ? PD_INTERNAL : PD_BAD;
		snprintf(msg, msglen, "garbled wrap: %s", err);
		goto out;
	}
	if (X509_cmp(signer, client) != 0) {
		snprintf(msg, msglen, "signer is not the TLS client");
		goto out;
	}
	st = PD_BAD;
	if (proto_parse((char *)text, tlen, &pm, err) == -1) {
		snprintf(msg, msglen, "%s", err);
		goto out;
	}
	if (store_connect(pd, err) == -1) {
		snprintf(msg, msglen, "database unavailable, try again later");
		st = PD_UNAVAILABLE;
	} else if (pm->pm_kind == PROTO_INTER_COURIER ||
	    pm->pm_kind == PROTO_INTRODUCTION)
		st = bgfed_take(pd, peer, pm->pm_kind == PROTO_INTRODUCTION,
		    (char *)text, tlen, msg, msglen);
	else
		snprintf(msg, msglen, "a %s has no place here",
		    proto_kind_name(pm->pm_kind));
out:
	if (st != PD_CREATED && st != PD_OK)
		log_info("courier client=%s status=%d reason=\"%s\"",
		    peer != NULL ? peer->in_courier : "?", (int)st, msg);
	if (text != NULL)
		OPENSSL_clear_free(text, tlen);
	proto_msg_free(pm);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	intro_free(peer);
	return st;
}

/* The introduction an invitation-reject asks for, queued to seal later. */
static int
bgfed_reject_queue(struct pd *pd, const struct proto_msg *pm, char *err)
{
	const char *addr = proto_get(pm, "Address");
	const char *p[2] = { proto_get(pm, "Background-Url"), NULL };
	int lens[2] = { 0, 0 };
	struct intro_req rq;
	char *text = NULL;
	size_t len;
	int rc = -1;

	memset(&rq, 0, sizeof(rq));
	rq.ir_cert = pd->pd_id.ci_cert;
	rq.ir_chain = pd->pd_id.ci_chain;
	rq.ir_addrs = &addr;
	rq.ir_naddrs = 1;
	rq.ir_token = proto_get(pm, "Token");
	if (intro_make(&rq, &text, &len, err) == -1)
		goto out;
	p[1] = text;
	lens[1] = (int)len;
	rc = db_exec(pd->pd_db, "INSERT INTO bg_outbox (url, kind, body) "
	    "VALUES ($1, '" PD_KIND_UNSEALED "', $2)", 2, p, lens, NULL, err);
out:
	free(text);
	return rc;
}

/* Is this invitation-reject one this background acts on? NULL or why. */
static const char *
bgfed_reject_why(struct pd *pd, const struct proto_msg *pm,
    const char *address)
{
	const char *url = proto_get(pm, "Background-Url"), *why;
	struct fed fd;

	bgfed_init(pd, &fd);
	if ((why = fed_reject_why(&fd, pm, address)) != NULL)
		return why;
	if (url == NULL || strncasecmp(url, "https://", 8) != 0)
		return "no https Background-Url";
	if (strcmp(url, pd->pd_cf->cf_url) == 0)
		return "Background-Url is this background";
	return NULL;
}

enum pd_status
store_invitation_reject(struct pd *pd, X509 *client, const char *address,
    const unsigned char *body, size_t len, char *msg, size_t msglen)
{
	struct proto_msg *pm = NULL;
	unsigned char *text = NULL;
	size_t tlen = 0;
	struct fed fd;
	const char *why;
	char err[TN_ERRLEN];
	enum pd_status st;
	int fresh;

	if ((st = store_agent_open(pd, client, address, body, len, &text,
	    &tlen, msg, msglen)) != PD_NONE)
		goto out;
	st = PD_BAD;
	if (proto_parse((char *)text, tlen, &pm, err) == -1) {
		snprintf(msg, msglen, "%s", err);
		goto out;
	}
	if ((why = bgfed_reject_why(pd, pm, address)) != NULL) {
		snprintf(msg, msglen, "%s", why);
		st = pm->pm_kind == PROTO_INVITATION_REJECT ? PD_FORBIDDEN :
		    PD_BAD;
		goto out;
	}
	bgfed_init(pd, &fd);
	if (db_begin(pd->pd_db, err) == -1 ||
	    (fresh = fed_seen(&fd, proto_get(pm, "Id"), "invitation-reject",
	    err)) == -1 || (fresh && bgfed_reject_queue(pd, pm, err) == -1) ||
	    db_commit(pd->pd_db, err) == -1) {
		st = bgfed_failed(pd, "invitation-reject", err, msg, msglen);
		goto out;
	}
	log_info("invitation-reject client=%s inviting=%s url=%s status=%s",
	    address, proto_get(pm, "Inviting-Courier"),
	    proto_get(pm, "Background-Url"), fresh ? "queued" : "duplicate");
	snprintf(msg, msglen, fresh ? "stored" : "already stored");
	st = fresh ? PD_CREATED : PD_OK;
	if (fresh)
		send_kick(pd);
out:
	if (st != PD_CREATED && st != PD_OK && st != PD_UNAVAILABLE)
		log_info("invitation-reject client=%s status=%d reason=\"%s\"",
		    address, (int)st, msg);
	if (text != NULL)
		OPENSSL_clear_free(text, tlen);
	proto_msg_free(pm);
	return st;
}
