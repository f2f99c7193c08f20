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
 *	asks for is queued to the inviting BG, sealed when sent. The
 *	Background-Url is never the client's word: the reject must carry
 *	the invitation as its inviting foreground signed it (part
 *	invitation), verified to the anchors, signed by an FG element of
 *	the Inviting-Courier, for the client's address, with the same
 *	Token and the same Background-Url (bgfed_reject_url()); otherwise
 *	403, and nothing is contacted.
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
#include "cms.h"
#include "db.h"
#include "fed.h"
#include "intro.h"
#include "log.h"
#include "policyd.h"
#include "proto.h"
#include "route.h"
#include "tandem.h"
#include "util.h"

/* An inter-courier ARM record, read by bgfed_check(). */
struct bgfed_arm {
	struct arm_record	*ba_ar;
	char			 ba_expires[32];	/* "": none */
};

/* Into bg_outbox; an item's sender and recipient, to tell a refusal. */
static int
bgfed_queue(struct fed *fd, const char *url, const char *kind,
    const struct fed_item *it, const unsigned char *wrap, size_t wlen,
    char *err)
{
	/* A revoke or a receipt refused for good tells nobody: logged. */
	int item = it != NULL && it->it_pay == INTRO_PAY_ITEM;
	const char *p[6] = { url, kind, it != NULL ? it->it_msgid : NULL,
	    (const char *)wrap, item ? it->it_sender : NULL,
	    item ? it->it_rcpt : NULL };
	int lens[6] = { 0, 0, 0, (int)wlen, 0, 0 };

	if (db_exec(fd->fd_db, "INSERT INTO bg_outbox (url, kind, "
	    "message_id, body, sender, recipient) VALUES ($1, $2, $3, $4, "
	    "$5, $6)", 6, p, lens, NULL, err) == -1)
		return -1;
	((struct pd *)fd->fd_arg)->pd_queued = 1;	/* send_kick() */
	return 0;
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
	const char *p[4] = { it->it_msgid, it->it_rcpt, it->it_sender,
	    it->it_origin };
	PGresult *res = NULL;
	int rc = -1;

	if (store_account(pd, it->it_rcpt, &to, 0, err) == -1)
		goto out;
	rc = 1;
	if (to == NULL || to->pa_agent == NULL)
		goto out;
	/*
	 * Who may revoke it: its sender, from the courier it came from
	 * (revoke.c), recorded once. Another ARM of the same id for the
	 * same recipient, from another sender or courier, is dropped.
	 */
	rc = -1;
	if (db_exec(fd->fd_db, "INSERT INTO carried_arms (message_id, "
	    "recipient, sender, origin) VALUES ($1, lower($2), lower($3), "
	    "lower($4)) ON CONFLICT (message_id, recipient) DO UPDATE SET "
	    "delivered_at = carried_arms.delivered_at RETURNING sender = "
	    "lower($3) AND origin IS NOT DISTINCT FROM lower($4)", 4, p, NULL,
	    &res, err) == -1)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		log_info("courier msgid=%s rcpt=%s action=drop "
		    "reason=\"another ARM of this id came here from another "
		    "sender or courier\"", it->it_msgid, it->it_rcpt);
		rc = 0;
		goto out;
	}
	rc = store_deliver(pd, to, "arm", it->it_msgid, it->it_sender,
	    bgfed_expires(it), it->it_payload, it->it_paylen, err);
out:
	PQclear(res);
	store_account_free(to);
	return rc;
}

/*
 * An ARM record from another courier, held wrapped to this BG, with
 * its origin's assertion (lib/fed.c releases it under that origin).
 * One this BG held and sent on before, come back (its recipient moved
 * here), is held again; one still held is a duplicate.
 */
static int
bgfed_hold(struct fed *fd, const struct fed_item *it, char *err)
{
	unsigned char *wrap = NULL;
	size_t wlen;
	char hops[16];
	int asserted = it->it_origin != NULL && it->it_origin_sig != NULL &&
	    it->it_origin_date != NULL && it->it_origin_pem != NULL;
	const char *p[10] = { it->it_msgid, it->it_sender, it->it_rcpt, NULL,
	    bgfed_expires(it), it->it_origin, asserted ? hops : NULL,
	    asserted ? it->it_origin_pem : NULL, asserted ?
	    it->it_origin_date : NULL, asserted ? it->it_origin_sig : NULL };
	int lens[10] = { 0 }, rc = -1;

	/* Declined (bg/015): not held; the foreground tells the sender. */
	if ((rc = db_one(fd->fd_db, "SELECT 1 FROM declined_addresses WHERE "
	    "address = lower($1)", 1, &it->it_rcpt, NULL, 0, err)) != 0) {
		if (rc == 1)
			log_info("courier msgid=%s rcpt=%s action=drop "
			    "reason=declined", it->it_msgid, it->it_rcpt);
		return rc == 1 ? 1 : -1;
	}
	rc = -1;
	snprintf(hops, sizeof(hops), "%u", it->it_hops);
	if (cms_wrap_to(it->it_payload, it->it_paylen, fd->fd_id,
	    fd->fd_id->ci_cert, &wrap, &wlen, err) == 0) {
		p[3] = (const char *)wrap;
		lens[3] = (int)wlen;
		rc = db_exec(fd->fd_db, "INSERT INTO held_arms (message_id, "
		    "sender, recipient, arm, expires_at, origin, hops, "
		    "origin_pem, origin_date, origin_sig) VALUES ($1, $2, "
		    "lower($3), $4, $5, lower($6), $7::int, $8, $9, $10) ON "
		    "CONFLICT (message_id, recipient) DO UPDATE SET sender = "
		    "EXCLUDED.sender, arm = EXCLUDED.arm, expires_at = "
		    "EXCLUDED.expires_at, origin = EXCLUDED.origin, hops = "
		    "EXCLUDED.hops, origin_pem = EXCLUDED.origin_pem, "
		    "origin_date = EXCLUDED.origin_date, origin_sig = "
		    "EXCLUDED.origin_sig, received_at = now(), released_at = "
		    "NULL WHERE held_arms.released_at IS NOT NULL AND "
		    "held_arms.purged_at IS NULL", 10, p, lens, NULL, err);
	}
	free(wrap);
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
	char why[TN_ERRLEN];

	(void)fd;
	if ((ba = calloc(1, sizeof(*ba))) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	*extra = ba;
	if (arm_parse((char *)ic->ic_payload, ic->ic_paylen, &ba->ba_ar,
	    why) == -1 || arm_matches(ba->ba_ar, ic->ic_msgid, ic->ic_sender,
	    ic->ic_rcpts, ic->ic_nrcpts, why) == -1) {
		tn_err(err, "bad ARM: %s", why);
		return -1;
	}
	if (ba->ba_ar->ar_restr.rs_expires != 0)
		(void)proto_format_time(ba->ba_ar->ar_restr.rs_expires,
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
 * The ARM record of a held item: a local sender's is wrapped to its
 * courier end, one from another courier to this BG. 1 when it cannot
 * be opened any more (logged, kept for the operator).
 */
static int
bgfed_open_held(struct fed *fd, const struct fed_item *it,
    unsigned char **arm, size_t *armlen, char *err)
{
	struct pd *pd = fd->fd_arg;
	struct pd_account *from = NULL;
	struct cms_id id = pd->pd_id;
	enum cms_fail fail;
	char why[TN_ERRLEN];
	int rc = -1;

	if (store_account(pd, it->it_sender, &from, 1, why) == -1 &&
	    store_down(pd)) {
		snprintf(err, TN_ERRLEN, "%s", why);
		goto out;
	}
	rc = 1;
	if (from != NULL ? store_unwrap(pd, from, it->it_payload,
	    it->it_paylen, arm, armlen, NULL, NULL, &fail, why) == 0 :
	    cms_unwrap(it->it_payload, it->it_paylen, &id,
	    pki_trust_store(pd->pd_trust), arm, armlen, NULL, NULL, &fail,
	    why) == 0)
		rc = 0;
	else if (from != NULL && fail == CMS_FAIL_INTERNAL &&
	    store_down(pd)) {
		snprintf(err, TN_ERRLEN, "%s", why);
		rc = -1;
	} else
		log_warn("arm msgid=%s rcpt=%s status=kept reason=\"%s\"",
		    it->it_msgid, it->it_rcpt, why);
out:
	store_account_free(from);
	return rc;
}

static void
bgfed_note(struct fed *fd, const struct fed_note *fn)
{
	const struct fed_item *it = fn->fn_item;
	char c[UTIL_ESCLEN], o[UTIL_ESCLEN], t[UTIL_ESCLEN], w[UTIL_ESCLEN],
	    f[UTIL_ESCLEN];

	/* Names from certificates and peers, escaped (util.h). */
	util_escape(fn->fn_courier, c, sizeof(c), 0);
	util_escape(fn->fn_text, t, sizeof(t), 0);
	util_escape(fn->fn_endpoint, w, sizeof(w), 0);
	util_escape(it != NULL && it->it_origin != NULL ? it->it_origin :
	    fd->fd_conf->cf_name, o, sizeof(o), 0);
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
		    util_escape(it->it_origin, o, sizeof(o), 0));
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
		    "hops=%u origin=%s route=%s%s", it->it_msgid, it->it_rcpt,
		    c, fn->fn_for != NULL ? " for=" : "",
		    fn->fn_for != NULL ? util_escape(fn->fn_for, f, sizeof(f),
		    0) : "", it->it_hops, o, t, it->it_pay == INTRO_PAY_REVOKE ?
		    " part=revoke" : it->it_pay == INTRO_PAY_RECEIPT ?
		    " part=receipt" : "");
		break;
	case FED_EV_INTRODUCE:
		log_info("courier introduce courier=%s url=%s addresses=%zu",
		    c, w, fn->fn_count);
		break;
	case FED_EV_RECORDED:
		log_info("courier introduction courier=%s url=%s "
		    "status=recorded", c, w);
		break;
	case FED_EV_REFUSED:
		log_info("courier refused courier=%s claim=\"%s\" "
		    "reason=\"%s\"", c, util_escape(fn->fn_text, t, sizeof(t),
		    UTIL_ESC_SPACE), util_escape(fn->fn_endpoint, w, sizeof(w),
		    UTIL_ESC_SPACE));
		break;
	case FED_EV_EXPIRED:
		log_info("arm msgid=%s rcpt=%s status=expired-dropped",
		    it->it_msgid, it->it_rcpt);
		break;
	case FED_EV_LEARNED:
		log_info("courier learned address=%s courier=%s reason=%s",
		    it->it_rcpt, c, t);
		break;
	default:
		break;
	}
}

/*
 * A held ARM went on to courier (NULL: delivered here, which
 * bgfed_deliver() records): for a revocation, where it went.
 */
static int
bgfed_released(struct fed *fd, const struct fed_item *it,
    const char *courier, char *err)
{
	const char *p[4] = { it->it_msgid, it->it_rcpt, it->it_sender,
	    courier };

	if (courier == NULL)
		return 0;
	return db_run(fd->fd_db, "INSERT INTO carried_arms (message_id, "
	    "recipient, sender, courier) VALUES ($1, lower($2), lower($3), "
	    "$4) ON CONFLICT DO NOTHING", 4, p, err);
}

static int
bgfed_control(struct fed *fd, const struct fed_item *it, char *err)
{
	return revoke_control(fd->fd_arg, fd, it, err);
}

static const struct fed_ops bgfed_ops = {
	.fo_queue = bgfed_queue,
	.fo_deliver = bgfed_deliver,
	.fo_hold = bgfed_hold,
	.fo_notice = bgfed_notice,
	.fo_check = bgfed_check,
	.fo_check_free = bgfed_check_free,
	.fo_open_held = bgfed_open_held,
	.fo_released = bgfed_released,
	.fo_note = bgfed_note,
	.fo_control = bgfed_control,
};

void
bgfed_init(struct pd *pd, struct fed *fd)
{
	fed_init(fd, PKI_KIND_BG, pd->pd_cf, &pd->pd_id, pd->pd_trust,
	    pd->pd_self_pem, pd->pd_db, &bgfed_ops, pd);
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

/*
 * One message another courier (peer) or an agent of ours (client) sent,
 * taken by the engine in a transaction of its own; the engine's verdict
 * as the status to answer, with a text in msg.
 */
static enum pd_status
bgfed_take(struct pd *pd, const struct proto_msg *pm,
    const struct intro *peer, const char *client, const char *text,
    size_t len, char *msg, size_t msglen)
{
	struct fed fd;
	char why[TN_ERRLEN], err[TN_ERRLEN];
	enum fed_status st = FED_ERROR;

	bgfed_init(pd, &fd);
	why[0] = err[0] = '\0';
	if (db_begin(pd->pd_db, err) == 0) {
		st = pm->pm_kind == PROTO_INTER_COURIER ? fed_take_ic(&fd, peer,
		    text, len, why, err) : pm->pm_kind == PROTO_INTRODUCTION ?
		    fed_take_intro(&fd, peer, text, len, why, err) :
		    fed_take_reject(&fd, pm, client, why, err);
		if (st == FED_TAKEN && db_commit(pd->pd_db, err) == -1)
			st = FED_ERROR;
	}
	db_rollback(pd->pd_db);
	if (st == FED_REFUSED && fed_refusal(&fd, err) == -1)
		log_warn("courier refusal status=error reason=\"%s\"", err);
	switch (st) {
	case FED_TAKEN:
		if (fd.fd_sent > 0)
			send_kick(pd);
		snprintf(msg, msglen, "stored");
		return PD_CREATED;
	case FED_DUPLICATE:
		snprintf(msg, msglen, "already stored");
		return PD_OK;
	case FED_UNVERIFIED:
	case FED_REFUSED:
	case FED_BAD:
		snprintf(msg, msglen, "%s", why);
		return st == FED_BAD ? PD_BAD : PD_FORBIDDEN;
	default:
		log_warn("courier %s status=error reason=\"%s\"",
		    proto_kind_name(pm->pm_kind), err);
		if (store_down(pd)) {
			snprintf(msg, msglen, "database unavailable, try "
			    "again later");
			return PD_UNAVAILABLE;
		}
		snprintf(msg, msglen, "internal error");
		return PD_INTERNAL;
	}
}

enum pd_status
store_courier(struct pd *pd, X509 *client, STACK_OF(X509) *chain,
    const unsigned char *body, size_t len, char *msg, size_t msglen)
{
	struct intro *peer = NULL, *sg = NULL;
	struct proto_msg *pm = NULL;
	struct fed fd;
	unsigned char *text = NULL;
	size_t tlen = 0;
	X509 *signer = NULL;
	enum fed_status fs;
	enum pd_status st = PD_FORBIDDEN;
	char err[TN_ERRLEN], c[UTIL_ESCLEN], w[UTIL_ESCLEN];

	if (intro_check(pd->pd_trust, client, chain, PKI_KIND_BG, &peer,
	    err) == -1) {
		snprintf(msg, msglen, "client: %s", err);
		goto out;
	}
	bgfed_init(pd, &fd);
	if ((fs = fed_open(&fd, body, len, &text, &tlen, &sg, &signer,
	    err)) != FED_TAKEN) {
		st = fs == FED_UNVERIFIED ? PD_FORBIDDEN : fs == FED_ERROR ?
		    PD_INTERNAL : PD_BAD;
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
		st = bgfed_take(pd, pm, peer, NULL, (char *)text, tlen, msg,
		    msglen);
	else
		snprintf(msg, msglen, "a %s has no place here",
		    proto_kind_name(pm->pm_kind));
out:
	if (peer != NULL)
		snprintf(pd->pd_req_who, sizeof(pd->pd_req_who), "%s",
		    peer->in_courier);
	if (st != PD_CREATED && st != PD_OK)
		log_info("courier client=%s status=%d reason=\"%s\"",
		    peer != NULL ? util_escape(peer->in_courier, c, sizeof(c),
		    0) : "?", (int)st, util_escape(msg, w, sizeof(w),
		    UTIL_ESC_SPACE));
	if (text != NULL)
		OPENSSL_clear_free(text, tlen);
	proto_msg_free(pm);
	X509_free(signer);
	intro_free(sg);
	intro_free(peer);
	return st;
}

/*
 * The reject's Background-Url comes from the invitation its inviting
 * foreground signed, not from the client: PD_NONE, or PD_FORBIDDEN
 * with the reason in msg.
 */
static enum pd_status
bgfed_reject_url(struct pd *pd, const struct proto_msg *pm, char *msg,
    size_t msglen)
{
	const struct proto_part *pp = proto_part(pm, "invitation");
	const char *url = proto_get(pm, "Background-Url"), *iurl, *why = NULL;
	struct proto_msg *inv = NULL;
	STACK_OF(X509) *certs = NULL;
	struct intro *fg = NULL;
	unsigned char *text = NULL;
	size_t tlen = 0;
	X509 *signer = NULL;
	enum cms_fail fail;
	char err[TN_ERRLEN];

	if (pp == NULL) {
		snprintf(msg, msglen, "no invitation part: the Background-Url "
		    "is taken only from the signed invitation");
		return PD_FORBIDDEN;
	}
	if (cms_verify(pp->pp_data, pp->pp_len, pki_trust_store(pd->pd_trust),
	    &text, &tlen, &signer, &certs, &fail, err) == -1 ||
	    intro_check(pd->pd_trust, signer, certs, PKI_KIND_FG, &fg,
	    err) == -1 || proto_parse((char *)text, tlen, &inv, err) == -1)
		why = err;
	else if (inv->pm_kind != PROTO_INVITATION)
		why = "the invitation part is not an invitation";
	else if (strcasecmp(fg->in_courier, proto_get(pm,
	    "Inviting-Courier")) != 0)
		why = "the invitation is not signed by the Inviting-Courier";
	else if (strcasecmp(proto_get(inv, "Recipient"), proto_get(pm,
	    "Address")) != 0 || strcmp(proto_get(inv, "Token"),
	    proto_get(pm, "Token")) != 0)
		why = "the invitation is not the one rejected";
	else if ((iurl = proto_get(inv, "Background-Url")) == NULL ||
	    url == NULL || strcmp(iurl, url) != 0)
		why = "the Background-Url is not the signed invitation's";
	if (why != NULL)
		snprintf(msg, msglen, "invitation part: %s", why);
	if (text != NULL)
		OPENSSL_clear_free(text, tlen);
	proto_msg_free(inv);
	intro_free(fg);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return why == NULL ? PD_NONE : PD_FORBIDDEN;
}

enum pd_status
store_invitation_reject(struct pd *pd, X509 *client, const char *address,
    const unsigned char *body, size_t len, char *msg, size_t msglen)
{
	struct proto_msg *pm = NULL;
	unsigned char *text = NULL;
	size_t tlen = 0;
	char err[TN_ERRLEN];
	enum pd_status st;
	char a[UTIL_ESCLEN], c[UTIL_ESCLEN], u[UTIL_ESCLEN];

	if ((st = store_agent_open(pd, client, address, body, len, &text,
	    &tlen, msg, msglen)) != PD_NONE)
		goto out;
	st = PD_BAD;
	if (proto_parse((char *)text, tlen, &pm, err) == -1) {
		snprintf(msg, msglen, "%s", err);
		goto out;
	}
	if (pm->pm_kind == PROTO_INVITATION_REJECT &&
	    (st = bgfed_reject_url(pd, pm, msg, msglen)) != PD_NONE)
		goto out;
	st = bgfed_take(pd, pm, NULL, address, (char *)text, tlen, msg,
	    msglen);
	if (st == PD_CREATED || st == PD_OK)
		log_info("invitation-reject client=%s inviting=%s url=%s "
		    "status=%s", util_escape(address, a, sizeof(a), 0),
		    util_escape(proto_get(pm, "Inviting-Courier"), c,
		    sizeof(c), 0), util_escape(proto_get(pm, "Background-Url"),
		    u, sizeof(u), 0), st == PD_CREATED ? "queued" :
		    "duplicate");
out:
	if (st != PD_CREATED && st != PD_OK && st != PD_UNAVAILABLE)
		log_info("invitation-reject client=%s status=%d reason=\"%s\"",
		    util_escape(address, a, sizeof(a), 0), (int)st,
		    util_escape(msg, u, sizeof(u), UTIL_ESC_SPACE));
	if (text != NULL)
		OPENSSL_clear_free(text, tlen);
	proto_msg_free(pm);
	return st;
}
