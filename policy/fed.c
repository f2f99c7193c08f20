/*
 * NAME
 *	fed.c - the background between couriers (doc/federation.md)
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	fed_forward() queues, in the caller's transaction, an
 *	inter-courier message carrying one ARM record for one recipient
 *	to the BG of courier, or, when this background has no
 *	introduction of that courier's BG, to the BG of courier.superior
 *	(rule 5). The message is wrapped BG element -> that BG's
 *	certificate (from its introduction) into bg_outbox; send.c posts
 *	it. It returns 0 when queued, 1, without queueing, when neither
 *	introduction is known, -1 on failure. A gateway puts itself as
 *	the origin of what leaves or enters its segment (the segment
 *	stays hidden), and then returns 2; others keep the origin given.
 *
 *	store_courier() does all of POST /v1/courier once the TLS client
 *	certificate is known: the client must be a BG element whose
 *	introduction checks (intro_check()); the body is unwrapped with
 *	the BG element key; the signer must be the client. As on the
 *	foreground, an inter-courier message is refused when at hop 1 its
 *	origin is not the client, when a private origin names a sender
 *	outside its name constraints, or when a private client relays
 *	another courier's message. Each Id is
 *	taken once (seen_messages, kind inter-courier or introduction);
 *	a repeat answers 200. An inter-courier message is routed
 *	recipient by recipient: rule 1 delivers to agent_mailbox, rule 6
 *	holds (the ARM record wrapped by this BG to itself), rules 2-5
 *	forward with Hops + 1, and a recipient over the hop limit, or
 *	with no way on, is dropped and logged. The origin's introduction
 *	is recorded for every message taken (within the hop limit, not
 *	this courier's own). When it delivers or holds a message that
 *	reached it through another courier (the origin is not the
 *	client), or that a subordinate deferred to it (hop 1, the client
 *	a courier whose CA ours issued), it queues its own introduction
 *	back to the origin BG (Address: those recipients), as the
 *	foreground does. A gateway that sends a message from outside into
 *	its segment does the same on behalf of the segment: its
 *	introduction to a courier outside lists its subordinates' domains
 *	(from the CA certificates in their introductions); to one inside
 *	it lists none. An introduction is recorded (introductions, and
 *	address_routes reason introduced for each Address) and the held
 *	ARMs whose recipient now routes to another courier are forwarded
 *	(fed_release()).
 *
 *	fed_release() forwards held ARMs whose recipient now routes to
 *	another courier, with this BG as origin, and marks them released.
 *	Every held ARM is routed again, so an introduction releases those
 *	of its Address fields (rule 3) and of every address under its
 *	Domains (rule 4) alike; the BG keeps no invitation state of its
 *	own (invitation_tokens is the foreground's, replicated).
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
#include "intro.h"
#include "log.h"
#include "policyd.h"
#include "proto.h"
#include "route.h"
#include "tandem.h"

#define FED_MAX_HOPS	8

/* This element's introduction: certificate, then chain, PEM. */
static const char *
fed_self_pem(struct pd *pd, char *err)
{
	char *pem = NULL, *all = NULL, *tmp;
	size_t len, total = 0;
	int i;

	if (pd->pd_self_pem != NULL)
		return pd->pd_self_pem;
	for (i = -1; i < sk_X509_num(pd->pd_id.ci_chain); i++) {
		if (pki_cert_pem(i == -1 ? pd->pd_id.ci_cert :
		    sk_X509_value(pd->pd_id.ci_chain, i), &pem, &len,
		    err) == -1)
			goto fail;
		if ((tmp = realloc(all, total + len + 1)) == NULL) {
			tn_err(err, "out of memory");
			goto fail;
		}
		all = tmp;
		memcpy(all + total, pem, len + 1);
		total += len;
		free(pem);
		pem = NULL;
	}
	return pd->pd_self_pem = all;
fail:
	free(pem);
	free(all);
	return NULL;
}

/*
 * Is the courier of the introduction pem (certificate, then chain) in
 * the segment under this courier: its CA issued by ours (direct), or
 * with direct 0, ours anywhere in its chain? 0 for this courier itself.
 */
static int
fed_below(struct pd *pd, const char *pem, int direct)
{
	return intro_below(pd->pd_id.ci_cert, pd->pd_id.ci_chain, pem,
	    direct);
}

/* Is the courier of in a subordinate of this one (its CA ours)? */
static int
fed_subordinate(struct pd *pd, const struct intro *in)
{
	return fed_below(pd, in->in_pem, 1);
}

/* The BG introduction of courier: 1 with *url, *cert, *pem; 0; -1. */
static int
fed_peer(struct pd *pd, const char *courier, char **url, X509 **cert,
    char **pem_out, char *err)
{
	PGresult *res = NULL;
	const char *pem;
	int rc = -1;

	if (store_exec(pd, "SELECT endpoint, certificate FROM introductions "
	    "WHERE courier = $1 AND element = 'bg'", 1, &courier, NULL, NULL,
	    &res, err) == -1)
		goto out;
	rc = 0;
	if (PQntuples(res) != 1)
		goto out;
	pem = PQgetvalue(res, 0, 1);
	rc = -1;
	if ((*cert = pki_parse_cert(pem, strlen(pem), err)) == NULL)
		goto out;
	if ((*url = strdup(PQgetvalue(res, 0, 0))) == NULL ||
	    (*pem_out = strdup(pem)) == NULL) {
		free(*url);
		*url = NULL;
		X509_free(*cert);
		*cert = NULL;
		tn_err(err, "out of memory");
		goto out;
	}
	rc = 1;
out:
	PQclear(res);
	return rc;
}

/* Wrap text to cert and queue it for url. */
static int
fed_enqueue(struct pd *pd, const char *url, X509 *cert, const char *kind,
    const char *msgid, const char *text, size_t len, char *err)
{
	static const char sql[] = "INSERT INTO bg_outbox (url, kind, "
	    "message_id, body) VALUES ($1, $2, $3, $4)";
	STACK_OF(X509) *rcpts = NULL;
	unsigned char *wrap = NULL;
	size_t wlen;
	const char *vals[4] = { url, kind, msgid, NULL };
	int lens[4] = { 0, 0, 0, 0 }, fmts[4] = { 0, 0, 0, 1 };
	PGresult *res = NULL;
	int rc = -1;

	if ((rcpts = sk_X509_new_null()) == NULL || !sk_X509_push(rcpts, cert)) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (cms_wrap((const unsigned char *)text, len, &pd->pd_id, rcpts, 0,
	    &wrap, &wlen, err) == -1)
		goto out;
	vals[3] = (const char *)wrap;
	lens[3] = (int)wlen;
	if (store_exec(pd, sql, 4, vals, lens, fmts, &res, err) == -1)
		goto out;
	rc = 0;
out:
	PQclear(res);
	free(wrap);
	sk_X509_free(rcpts);
	return rc;
}

/*
 * The origin of a forwarded message: this element for its own users;
 * at a gateway, this element too when the message leaves or enters its
 * segment (origin and target, pem, on different sides); else the
 * origin given. A gateway sending out of its segment adds its
 * subordinates' CA certificates to its own chain (doc/federation.md,
 * section 6); *alloc, to be freed, then holds that text. 1 when
 * replaced, 0, -1.
 */
static int fed_subs(struct pd *, STACK_OF(X509) **, char *);

static int
fed_origin(struct pd *pd, const struct fed_arm *fa, const char *pem,
    struct intro_ic *ic, char **alloc, char *err)
{
	const struct conf *cf = pd->pd_cf;
	STACK_OF(X509) *subs = NULL;
	const char *self;
	int rc;

	*alloc = NULL;
	ic->ic_origin = (char *)fa->fa_origin;
	ic->ic_origin_pem = (char *)fa->fa_origin_pem;
	if (fa->fa_origin != NULL && (cf->cf_role != PKI_ROLE_GATEWAY ||
	    fed_below(pd, fa->fa_origin_pem, 0) == fed_below(pd, pem, 0)))
		return 0;
	ic->ic_origin = cf->cf_name;
	if ((self = fed_self_pem(pd, err)) == NULL)
		return -1;
	ic->ic_origin_pem = (char *)self;
	if (cf->cf_role != PKI_ROLE_GATEWAY || fed_below(pd, pem, 0))
		return fa->fa_origin != NULL;
	/* Out of its segment: the subordinates' CAs name its domains. */
	rc = fed_subs(pd, &subs, err) == -1 ||
	    intro_pem_with(self, subs, alloc, err) == -1 ? -1 :
	    fa->fa_origin != NULL;
	sk_X509_pop_free(subs, X509_free);
	ic->ic_origin_pem = *alloc;
	return rc;
}

int
fed_forward(struct pd *pd, const char *courier, const struct fed_arm *fa,
    char *err)
{
	const struct conf *cf = pd->pd_cf;
	struct intro_ic ic;
	char *url = NULL, *text = NULL, *pem = NULL, *origin = NULL;
	char *rcpt = (char *)fa->fa_rcpt;
	const char *target = courier;
	X509 *cert = NULL;
	size_t len;
	int found, replaced, rc = -1;

	if ((found = fed_peer(pd, courier, &url, &cert, &pem, err)) == 0 &&
	    cf->cf_superior != NULL && strcmp(courier, cf->cf_superior) != 0)
		found = fed_peer(pd, target = cf->cf_superior, &url, &cert,
		    &pem, err);
	if (found != 1) {
		rc = found == 0 ? 1 : -1;
		goto out;
	}
	memset(&ic, 0, sizeof(ic));
	ic.ic_from = cf->cf_url;
	ic.ic_to = url;
	ic.ic_msgid = (char *)fa->fa_msgid;
	ic.ic_sender = (char *)fa->fa_sender;
	ic.ic_rcpts = &rcpt;
	ic.ic_nrcpts = 1;
	ic.ic_hops = fa->fa_hops;
	ic.ic_kind = PKI_KIND_BG;
	ic.ic_payload = (unsigned char *)fa->fa_arm;
	ic.ic_paylen = fa->fa_armlen;
	if ((replaced = fed_origin(pd, fa, pem, &ic, &origin, err)) == -1 ||
	    intro_ic_make(&ic, &text, &len, err) == -1 ||
	    fed_enqueue(pd, url, cert, "inter-courier", fa->fa_msgid,
	    text, len, err) == -1)
		goto out;
	log_info("courier msgid=%s rcpt=%s action=forward courier=%s%s%s "
	    "hops=%u origin=%s route=%s", fa->fa_msgid, fa->fa_rcpt, target,
	    target != courier ? " for=" : "", target != courier ? courier : "",
	    fa->fa_hops, ic.ic_origin, route_action_name(fa->fa_route));
	rc = replaced ? 2 : 0;
out:
	free(origin);
	free(text);
	free(pem);
	free(url);
	X509_free(cert);
	return rc;
}

/* A gateway's subordinate courier CAs, from its introductions. */
static int
fed_subs(struct pd *pd, STACK_OF(X509) **subs, char *err)
{
	PGresult *res = NULL;
	int i, rc = -1;

	if ((*subs = sk_X509_new_null()) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (store_exec(pd, "SELECT certificate FROM introductions WHERE "
	    "element = 'bg' ORDER BY courier", 0, NULL, NULL, NULL, &res,
	    err) == -1)
		goto out;
	for (i = 0; i < PQntuples(res); i++)
		if (intro_sub_add(pd->pd_id.ci_cert, pd->pd_id.ci_chain,
		    PQgetvalue(res, i, 0), *subs) == -1) {
			tn_err(err, "out of memory");
			goto out;
		}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/*
 * Queue this element's introduction, with addrs, to the BG of in; a
 * gateway speaks for its segment (its subordinates' domains) to a
 * courier outside it, never to one inside: the segment's domains
 * would cover the subordinate's own.
 */
static int
fed_introduce(struct pd *pd, const struct intro *in, const char *const *addrs,
    size_t naddrs, char *err)
{
	struct intro_req rq;
	X509 *cert = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	memset(&rq, 0, sizeof(rq));
	rq.ir_cert = pd->pd_id.ci_cert;
	rq.ir_chain = pd->pd_id.ci_chain;
	rq.ir_addrs = addrs;
	rq.ir_naddrs = naddrs;
	if (pd->pd_cf->cf_role == PKI_ROLE_GATEWAY &&
	    !fed_below(pd, in->in_pem, 0) &&
	    fed_subs(pd, &rq.ir_subs, err) == -1)
		goto out;
	if ((cert = pki_parse_cert(in->in_pem, strlen(in->in_pem),
	    err)) == NULL ||
	    intro_make(&rq, &text, &len, err) == -1 ||
	    fed_enqueue(pd, in->in_endpoint, cert, "introduction", NULL,
	    text, len, err) == -1)
		goto out;
	log_info("courier introduce courier=%s url=%s addresses=%zu",
	    in->in_courier, in->in_endpoint, naddrs);
	rc = 0;
out:
	sk_X509_pop_free(rq.ir_subs, X509_free);
	free(text);
	X509_free(cert);
	return rc;
}

/* Record (or refresh) the introduction of a BG. */
static int
fed_record(struct pd *pd, const struct intro *in, char *err)
{
	static const char sql[] = "INSERT INTO introductions (courier, "
	    "element, endpoint, certificate, domains, role) VALUES ($1, 'bg', "
	    "$2, $3, coalesce(string_to_array(nullif($4, ''), ' '), '{}'), "
	    "$5) ON CONFLICT (courier, element) DO UPDATE SET endpoint = $2, "
	    "certificate = $3, domains = coalesce(string_to_array(nullif($4, "
	    "''), ' '), '{}'), role = $5, learned_at = now()";
	char *domains = NULL;
	const char *vals[5];
	int rc = -1;

	if (intro_domains_text(in, &domains, err) == -1)
		goto out;
	vals[0] = in->in_courier;
	vals[1] = in->in_endpoint;
	vals[2] = in->in_pem;
	vals[3] = domains;
	vals[4] = pki_role_name(in->in_role);
	if (store_run(pd, sql, 5, vals, err) == -1)
		goto out;
	rc = 0;
out:
	free(domains);
	return rc;
}

/* Do two checked introductions name the same element? */
static int
fed_same(const struct intro *x, const struct intro *y)
{
	return x->in_kind == y->in_kind &&
	    strcmp(x->in_courier, y->in_courier) == 0 &&
	    strcmp(x->in_endpoint, y->in_endpoint) == 0;
}

/* Take an Id once: 1 fresh, 0 already seen, -1. In a transaction. */
static int
fed_seen(struct pd *pd, const char *id, const char *kind, char *err)
{
	const char *vals[2] = { id, kind };
	PGresult *res;
	int fresh;

	if (store_exec(pd, "INSERT INTO seen_messages (message_id, kind) "
	    "VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1", 2, vals,
	    NULL, NULL, &res, err) == -1)
		return -1;
	fresh = PQntuples(res) == 1;
	PQclear(res);
	return fresh;
}

/* Hold an ARM record from another courier, wrapped to this BG. */
static int
fed_hold(struct pd *pd, const struct arm_record *ar, const char *rcpt,
    const char *expires, const unsigned char *arm, size_t armlen, char *err)
{
	static const char sql[] = "INSERT INTO held_arms (message_id, sender, "
	    "recipient, arm, expires_at) VALUES ($1, $2, lower($3), $4, $5) "
	    "ON CONFLICT DO NOTHING";
	STACK_OF(X509) *rcpts = NULL;
	unsigned char *wrap = NULL;
	size_t wlen;
	const char *vals[5] = { ar->ar_msgid, ar->ar_sender, rcpt, NULL,
	    expires };
	int lens[5] = { 0, 0, 0, 0, 0 }, fmts[5] = { 0, 0, 0, 1, 0 };
	PGresult *res = NULL;
	int rc = -1;

	if ((rcpts = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(rcpts, pd->pd_id.ci_cert)) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (cms_wrap(arm, armlen, &pd->pd_id, rcpts, 0, &wrap, &wlen,
	    err) == -1)
		goto out;
	vals[3] = (const char *)wrap;
	lens[3] = (int)wlen;
	if (store_exec(pd, sql, 5, vals, lens, fmts, &res, err) == -1)
		goto out;
	rc = 0;
out:
	PQclear(res);
	free(wrap);
	sk_X509_free(rcpts);
	return rc;
}

struct fed_in {
	struct intro		*fi_peer;	/* the client */
	struct intro		*fi_origin;
	struct intro_ic		*fi_ic;
	struct arm_record	*fi_ar;
	const char		*fi_expires;	/* NULL: none */
	const char		*fi_done[TN_MAX_RCPTS];	/* delivered, held */
	size_t			 fi_ndone;
};

/* One recipient of an inter-courier message. */
static int
fed_ic_rcpt(struct pd *pd, struct fed_in *fi, const char *rcpt, char *err)
{
	const struct intro_ic *ic = fi->fi_ic;
	enum route_source src = fed_subordinate(pd, fi->fi_peer) ?
	    ROUTE_SRC_SUBORDINATE : ROUTE_SRC_REMOTE;
	struct route_decision rd;
	struct pd_account *to = NULL;
	struct fed_arm fa;
	int rc = -1, r;

	if (store_route(pd, rcpt, src, fi->fi_peer->in_courier, &rd,
	    err) == -1)
		goto out;
	switch (rd.rd_action) {
	case ROUTE_DELIVER_LOCAL:
		if (store_account(pd, rcpt, &to, 0, err) == -1)
			goto out;
		if (to != NULL && to->pa_agent != NULL) {
			if (store_deliver(pd, to, ic->ic_msgid, fi->fi_expires,
			    ic->ic_payload, ic->ic_paylen, err) == -1)
				goto out;
			log_info("courier msgid=%s rcpt=%s action=deliver "
			    "hops=%u origin=%s", ic->ic_msgid, rcpt,
			    ic->ic_hops, ic->ic_origin);
			fi->fi_done[fi->fi_ndone++] = rcpt;
			break;
		}
		/* Active without an agent certificate yet: hold. */
		/* FALLTHROUGH */
	case ROUTE_HOLD_AND_INVITE:
		if (fed_hold(pd, fi->fi_ar, rcpt, fi->fi_expires,
		    ic->ic_payload, ic->ic_paylen, err) == -1)
			goto out;
		log_info("courier msgid=%s rcpt=%s action=hold hops=%u "
		    "origin=%s", ic->ic_msgid, rcpt, ic->ic_hops,
		    ic->ic_origin);
		fi->fi_done[fi->fi_ndone++] = rcpt;
		break;
	case ROUTE_REJECT:
		log_info("courier msgid=%s rcpt=%s action=drop reason=\"%s\"",
		    ic->ic_msgid, rcpt, rd.rd_reason);
		break;
	default:
		if (ic->ic_hops + 1 > FED_MAX_HOPS) {
			log_info("courier msgid=%s rcpt=%s action=drop "
			    "reason=\"hop limit\" hops=%u", ic->ic_msgid, rcpt,
			    ic->ic_hops);
			break;
		}
		fa.fa_msgid = ic->ic_msgid;
		fa.fa_sender = ic->ic_sender;
		fa.fa_rcpt = rcpt;
		fa.fa_hops = ic->ic_hops + 1;
		fa.fa_origin = ic->ic_origin;
		fa.fa_origin_pem = ic->ic_origin_pem;
		fa.fa_route = rd.rd_action;
		fa.fa_arm = ic->ic_payload;
		fa.fa_armlen = ic->ic_paylen;
		if ((r = fed_forward(pd, rd.rd_courier, &fa, err)) == -1)
			goto out;
		if (r == 2 && !fed_below(pd, ic->ic_origin_pem, 0))
			fi->fi_done[fi->fi_ndone++] = rcpt;	/* into the segment */
		if (r == 1)
			log_info("courier msgid=%s rcpt=%s action=drop "
			    "reason=\"no introduction of %s nor of the "
			    "superior\"", ic->ic_msgid, rcpt, rd.rd_courier);
	}
	rc = 0;
out:
	store_account_free(to);
	return rc;
}

/* Does the ARM record say what the inter-courier fields say? */
static int
fed_ic_consistent(const struct intro_ic *ic, const struct arm_record *ar,
    char *err)
{
	size_t i, j;

	if (strcmp(ar->ar_msgid, ic->ic_msgid) != 0 ||
	    strcasecmp(ar->ar_sender, ic->ic_sender) != 0) {
		tn_err(err, "ARM record is not the one announced");
		return -1;
	}
	for (i = 0; i < ic->ic_nrcpts; i++) {
		for (j = 0; j < ar->ar_nrcpts; j++)
			if (strcasecmp(ic->ic_rcpts[i], ar->ar_rcpts[j]) == 0)
				break;
		if (j == ar->ar_nrcpts) {
			tn_err(err, "%s is not a recipient of the ARM",
			    ic->ic_rcpts[i]);
			return -1;
		}
	}
	return 0;
}

/*
 * After the recipients of a fresh message: record the origin's
 * introduction, and introduce this element back to the origin when a
 * recipient was delivered or held here (or sent into a gateway's
 * segment) and the origin did not find us by a route of its own: the
 * message came through another courier, or from a subordinate that
 * deferred to us (hop 1).
 */
static int
fed_back(struct pd *pd, const struct fed_in *fi, char *err)
{
	const struct intro *org = fi->fi_origin;

	if (strcasecmp(org->in_courier, pd->pd_cf->cf_name) == 0)
		return 0;
	if (fed_record(pd, org, err) == -1)
		return -1;
	if (fi->fi_ndone == 0 || (fed_same(org, fi->fi_peer) &&
	    !fed_subordinate(pd, fi->fi_peer)))
		return 0;
	return fed_introduce(pd, org, fi->fi_done, fi->fi_ndone, err);
}

/* The transaction of an inter-courier message. */
static enum pd_status
fed_ic_commit(struct pd *pd, struct fed_in *fi, char *msg, size_t msglen,
    char *err)
{
	const struct intro_ic *ic = fi->fi_ic;
	int fresh;
	size_t i;

	if (store_run(pd, "BEGIN", 0, NULL, err) == -1 ||
	    (fresh = fed_seen(pd, ic->ic_id, "inter-courier", err)) == -1)
		return PD_INTERNAL;
	if (!fresh) {
		store_rollback(pd);
		log_info("courier id=%s msgid=%s status=duplicate", ic->ic_id,
		    ic->ic_msgid);
		snprintf(msg, msglen, "already stored");
		return PD_OK;
	}
	if (ic->ic_hops > FED_MAX_HOPS) {
		log_info("courier msgid=%s action=drop reason=\"hop limit\" "
		    "hops=%u", ic->ic_msgid, ic->ic_hops);
	} else {
		for (i = 0; i < ic->ic_nrcpts; i++)
			if (fed_ic_rcpt(pd, fi, ic->ic_rcpts[i], err) == -1)
				return PD_INTERNAL;
	}
	if (ic->ic_hops <= FED_MAX_HOPS && fed_back(pd, fi, err) == -1)
		return PD_INTERNAL;
	if (store_run(pd, "COMMIT", 0, NULL, err) == -1)
		return PD_INTERNAL;
	snprintf(msg, msglen, "stored");
	return PD_CREATED;
}

/* Why a checked inter-courier message is refused (403), or NULL. */
static const char *
fed_ic_why(const struct intro_ic *ic, const struct intro *org,
    const struct intro *peer)
{
	if (ic->ic_hops == 1 && !fed_same(org, peer))
		return "at hop 1 the origin must be the client";
	if (org->in_role == PKI_ROLE_PRIVATE &&
	    !intro_covers(org, ic->ic_sender))
		return "private origin courier claims a sender outside its "
		    "name constraints";
	if (peer->in_role == PKI_ROLE_PRIVATE &&
	    strcasecmp(peer->in_courier, org->in_courier) != 0)
		return "a private courier relays another courier's message";
	return NULL;
}

static enum pd_status
fed_inter_courier(struct pd *pd, struct intro *peer, const char *text,
    size_t len, char *msg, size_t msglen)
{
	struct fed_in fi;
	const char *why;
	char err[TN_ERRLEN], expires[32];
	enum pd_status st = PD_BAD;

	memset(&fi, 0, sizeof(fi));
	fi.fi_peer = peer;
	if (intro_ic_read(pd->pd_trust, text, len, &fi.fi_ic, &fi.fi_origin,
	    err) == -1) {
		snprintf(msg, msglen, "%s", err);
		st = strncmp(err, "untrusted", 9) == 0 ? PD_FORBIDDEN : PD_BAD;
		goto out;
	}
	if (fi.fi_ic->ic_kind != PKI_KIND_BG) {
		snprintf(msg, msglen, "not an ARM: a background carries ARMs");
		goto out;
	}
	if ((why = fed_ic_why(fi.fi_ic, fi.fi_origin, peer)) != NULL) {
		snprintf(msg, msglen, "%s", why);
		st = PD_FORBIDDEN;
		goto out;
	}
	if (arm_parse((char *)fi.fi_ic->ic_payload, fi.fi_ic->ic_paylen,
	    &fi.fi_ar, err) == -1 ||
	    fed_ic_consistent(fi.fi_ic, fi.fi_ar, err) == -1) {
		snprintf(msg, msglen, "bad ARM: %s", err);
		goto out;
	}
	expires[0] = '\0';
	if (fi.fi_ar->ar_restr.rs_expires != 0)
		(void)proto_format_time(fi.fi_ar->ar_restr.rs_expires, expires,
		    sizeof(expires));
	fi.fi_expires = expires[0] != '\0' ? expires : NULL;
	if ((st = fed_ic_commit(pd, &fi, msg, msglen, err)) == PD_INTERNAL) {
		store_rollback(pd);
		log_warn("courier msgid=%s status=error reason=\"%s\"",
		    fi.fi_ic->ic_msgid, err);
		st = pd->pd_db_down ? PD_UNAVAILABLE : PD_INTERNAL;
		snprintf(msg, msglen, pd->pd_db_down ? "database unavailable, "
		    "try again later" : "internal error");
	} else if (st == PD_CREATED)
		send_kick(pd);
out:
	if (fi.fi_ic != NULL && fi.fi_ic->ic_payload != NULL)
		OPENSSL_cleanse(fi.fi_ic->ic_payload, fi.fi_ic->ic_paylen);
	intro_ic_free(fi.fi_ic);
	intro_free(fi.fi_origin);
	arm_free(fi.fi_ar);
	return st;
}

/* Learn each Address of an introduction. */
static int
fed_learn(struct pd *pd, const struct intro *in, const struct proto_msg *pm,
    char *err)
{
	static const char sql[] = "INSERT INTO address_routes (address, "
	    "courier, reason) VALUES (lower($1), $2, 'introduced') "
	    "ON CONFLICT (address) DO UPDATE SET courier = $2, "
	    "reason = 'introduced', learned_at = now() "
	    "WHERE address_routes.reason = 'introduced'";
	const char *vals[2];
	PGresult *res;
	size_t i;
	int n;

	for (i = 0; i < proto_count(pm, "Address"); i++) {
		vals[0] = proto_get_nth(pm, "Address", i);
		vals[1] = in->in_courier;
		if (store_exec(pd, sql, 2, vals, NULL, NULL, &res, err) == -1)
			return -1;
		n = atoi(PQcmdTuples(res));
		PQclear(res);
		if (n > 0)
			log_info("courier learned address=%s courier=%s "
			    "reason=introduced", vals[0], in->in_courier);
	}
	return 0;
}

/*
 * The Token of an introduction answers a pending invitation of one of its
 * Addresses: learn that address (reason rejected). 1, 0 with the reason
 * in err, or -1. In the transaction of the introduction.
 */
static int
fed_token(struct pd *pd, const struct intro *in, const struct proto_msg *pm,
    char *err)
{
	static const char sql[] = "INSERT INTO address_routes (address, "
	    "courier, reason) VALUES ($1, $2, 'rejected') ON CONFLICT (address) "
	    "DO UPDATE SET courier = $2, reason = 'rejected', learned_at = "
	    "now() WHERE address_routes.reason <> 'transferred'";
	const char *tok = proto_get(pm, "Token"), *vals[2];
	PGresult *res = NULL;
	size_t i;
	int rc = -1;

	if (store_exec(pd, "SELECT address FROM invitation_tokens WHERE "
	    "token_hash = sha256(convert_to($1, 'UTF8')) AND expires_at > "
	    "now()", 1, &tok, NULL, NULL, &res, err) == -1)
		goto out;
	rc = 0;
	tn_err(err, "the token answers no pending invitation");
	if (PQntuples(res) != 1)
		goto out;
	vals[0] = PQgetvalue(res, 0, 0);
	vals[1] = in->in_courier;
	for (i = 0; i < proto_count(pm, "Address"); i++)
		if (strcasecmp(proto_get_nth(pm, "Address", i), vals[0]) == 0)
			break;
	if (i == proto_count(pm, "Address")) {
		tn_err(err, "the token is not for an Address of the "
		    "introduction");
		goto out;
	}
	rc = -1;
	if (store_run(pd, sql, 2, vals, err) == -1)
		goto out;
	log_info("courier learned address=%s courier=%s reason=rejected",
	    vals[0], in->in_courier);
	rc = 1;
out:
	PQclear(res);
	return rc;
}

static enum pd_status
fed_introduction(struct pd *pd, struct intro *peer, const char *text,
    size_t len, char *msg, size_t msglen)
{
	struct intro *in = NULL;
	struct proto_msg *pm = NULL;
	char err[TN_ERRLEN];
	enum pd_status st = PD_FORBIDDEN;
	int fresh, r;

	if (intro_read(pd->pd_trust, text, len, PKI_KIND_BG, &in, &pm,
	    err) == -1) {
		snprintf(msg, msglen, "%s", err);
		goto out;
	}
	if (!fed_same(in, peer)) {
		snprintf(msg, msglen, "introduction is not of the client");
		goto out;
	}
	st = PD_INTERNAL;
	if (store_run(pd, "BEGIN", 0, NULL, err) == -1 ||
	    (fresh = fed_seen(pd, proto_get(pm, "Id"), "introduction",
	    err)) == -1)
		goto fail;
	if (!fresh) {
		store_rollback(pd);
		snprintf(msg, msglen, "already stored");
		st = PD_OK;
		goto out;
	}
	if (proto_get(pm, "Token") != NULL &&
	    (r = fed_token(pd, in, pm, err)) != 1) {
		if (r == -1)
			goto fail;
		store_rollback(pd);
		snprintf(msg, msglen, "%s", err);
		st = PD_FORBIDDEN;
		goto out;
	}
	if (fed_record(pd, in, err) == -1 || fed_learn(pd, in, pm, err) == -1 ||
	    store_run(pd, "COMMIT", 0, NULL, err) == -1)
		goto fail;
	log_info("courier introduction courier=%s url=%s status=recorded",
	    in->in_courier, in->in_endpoint);
	if (fed_release(pd, err) == -1)
		log_warn("courier release status=error reason=\"%s\"", err);
	snprintf(msg, msglen, "stored");
	st = PD_CREATED;
	goto out;
fail:
	store_rollback(pd);
	log_warn("courier introduction status=error reason=\"%s\"", err);
	st = pd->pd_db_down ? PD_UNAVAILABLE : PD_INTERNAL;
	snprintf(msg, msglen, pd->pd_db_down ? "database unavailable, try "
	    "again later" : "internal error");
out:
	intro_free(in);
	proto_msg_free(pm);
	return st;
}

/* The ARM record of held row i (id, message_id, sender, recipient, arm). */
static int
fed_held_arm(struct pd *pd, PGresult *res, int i, unsigned char **arm,
    size_t *armlen, char *err)
{
	struct pd_account *from = NULL;
	struct cms_id id = pd->pd_id;
	unsigned char *wrap = NULL;
	size_t wlen;
	enum cms_fail fail;
	int rc = -1;

	if (store_account(pd, PQgetvalue(res, i, 2), &from, 1, err) == -1)
		goto out;
	if (from != NULL) {
		id.ci_cert = from->pa_courier;
		id.ci_key = from->pa_key;
		id.ci_chain = NULL;
	}
	if ((wrap = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i,
	    4), &wlen)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (cms_unwrap(wrap, wlen, &id, pki_trust_store(pd->pd_trust), arm,
	    armlen, NULL, NULL, &fail, err) == -1)
		goto out;
	rc = 0;
out:
	PQfreemem(wrap);
	store_account_free(from);
	return rc;
}

/* Forward held row i if its recipient now routes to another courier. */
static int
fed_release_one(struct pd *pd, PGresult *res, int i, char *err)
{
	const char *hid = PQgetvalue(res, i, 0);
	struct route_decision rd;
	struct fed_arm fa;
	unsigned char *arm = NULL;
	size_t armlen = 0;
	int rc = -1, r;

	if (store_route(pd, PQgetvalue(res, i, 3), ROUTE_SRC_LOCAL, NULL, &rd,
	    err) == -1)
		goto out;
	rc = 0;
	if (rd.rd_action != ROUTE_TO_NEW_COURIER &&
	    rd.rd_action != ROUTE_TO_LEARNED_COURIER &&
	    rd.rd_action != ROUTE_TO_INTRODUCED_COURIER)
		goto out;
	rc = -1;
	if (fed_held_arm(pd, res, i, &arm, &armlen, err) == -1)
		goto out;
	memset(&fa, 0, sizeof(fa));
	fa.fa_msgid = PQgetvalue(res, i, 1);
	fa.fa_sender = PQgetvalue(res, i, 2);
	fa.fa_rcpt = PQgetvalue(res, i, 3);
	fa.fa_hops = 1;
	fa.fa_route = rd.rd_action;
	fa.fa_arm = arm;
	fa.fa_armlen = armlen;
	if ((r = fed_forward(pd, rd.rd_courier, &fa, err)) == -1 ||
	    (r == 0 && store_run(pd, "UPDATE held_arms SET released_at = "
	    "now() WHERE id = $1", 1, &hid, err) == -1))
		goto out;
	rc = 0;
out:
	if (arm != NULL)
		OPENSSL_clear_free(arm, armlen);
	return rc;
}

int
fed_release(struct pd *pd, char *err)
{
	PGresult *res = NULL;
	int i, rc = -1;

	if (store_connect(pd, err) == -1 ||
	    store_run(pd, "BEGIN", 0, NULL, err) == -1 ||
	    store_exec(pd, "SELECT id, message_id, sender, recipient, arm "
	    "FROM held_arms WHERE released_at IS NULL AND purged_at IS NULL "
	    "AND (expires_at IS NULL OR expires_at > now()) ORDER BY id "
	    "FOR UPDATE", 0, NULL, NULL, NULL, &res, err) == -1)
		goto out;
	for (i = 0; i < PQntuples(res); i++)
		if (fed_release_one(pd, res, i, err) == -1)
			goto out;
	if (store_run(pd, "COMMIT", 0, NULL, err) == -1)
		goto out;
	send_kick(pd);
	rc = 0;
out:
	store_rollback(pd);
	PQclear(res);
	return rc;
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
	} else if (pm->pm_kind == PROTO_INTER_COURIER)
		st = fed_inter_courier(pd, peer, (char *)text, tlen, msg, msglen);
	else if (pm->pm_kind == PROTO_INTRODUCTION)
		st = fed_introduction(pd, peer, (char *)text, tlen, msg, msglen);
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
fed_reject_queue(struct pd *pd, const struct proto_msg *pm, char *err)
{
	const char *addr = proto_get(pm, "Address");
	const char *url = proto_get(pm, "Background-Url");
	const char *vals[2];
	struct intro_req rq;
	char *text = NULL;
	size_t len;
	int lens[2] = { 0, 0 }, fmts[2] = { 0, 1 };
	PGresult *res = NULL;
	int rc = -1;

	memset(&rq, 0, sizeof(rq));
	rq.ir_cert = pd->pd_id.ci_cert;
	rq.ir_chain = pd->pd_id.ci_chain;
	rq.ir_addrs = &addr;
	rq.ir_naddrs = 1;
	rq.ir_token = proto_get(pm, "Token");
	if (intro_make(&rq, &text, &len, err) == -1)
		goto out;
	vals[0] = url;
	vals[1] = text;
	lens[1] = (int)len;
	if (store_exec(pd, "INSERT INTO bg_outbox (url, kind, body) VALUES "
	    "($1, '" PD_KIND_UNSEALED "', $2)", 2, vals, lens, fmts, &res,
	    err) == -1)
		goto out;
	rc = 0;
out:
	PQclear(res);
	free(text);
	return rc;
}

/* Is this invitation-reject one this background acts on? NULL or why. */
static const char *
fed_reject_check(struct pd *pd, const struct proto_msg *pm,
    const char *address)
{
	const char *url = proto_get(pm, "Background-Url");

	if (pm->pm_kind != PROTO_INVITATION_REJECT)
		return "not an invitation-reject";
	if (strcasecmp(proto_get(pm, "Address"), address) != 0)
		return "Address is not the client's address";
	if (strcasecmp(proto_get(pm, "Registered-Courier"),
	    pd->pd_cf->cf_name) != 0)
		return "Registered-Courier is not this courier";
	if (strcasecmp(proto_get(pm, "Inviting-Courier"),
	    pd->pd_cf->cf_name) == 0)
		return "Inviting-Courier is this courier";
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
	if ((why = fed_reject_check(pd, pm, address)) != NULL) {
		snprintf(msg, msglen, "%s", why);
		st = pm->pm_kind == PROTO_INVITATION_REJECT ? PD_FORBIDDEN :
		    PD_BAD;
		goto out;
	}
	if (store_run(pd, "BEGIN", 0, NULL, err) == -1 ||
	    (fresh = fed_seen(pd, proto_get(pm, "Id"), "invitation-reject",
	    err)) == -1 || (fresh && fed_reject_queue(pd, pm, err) == -1) ||
	    store_run(pd, "COMMIT", 0, NULL, err) == -1) {
		store_rollback(pd);
		log_warn("invitation-reject client=%s status=error "
		    "reason=\"%s\"", address, err);
		st = pd->pd_db_down ? PD_UNAVAILABLE : PD_INTERNAL;
		snprintf(msg, msglen, pd->pd_db_down ? "database unavailable, "
		    "try again later" : "internal error");
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
