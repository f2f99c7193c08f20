/*
 * NAME
 *	fedin.c - what the foreground receives from other couriers
 * DESCRIPTION
 *	fed_process() (fed.h): an inter-courier mail to the service
 *	mailbox is unwrapped with the FG element key; its signer must be
 *	an FG element that verifies to the anchors (intro_check() of the
 *	certificates the wrap carries) and whose mailbox is the From.
 *	Duplicates (seen_messages) are dropped. Refusals answer 5xx to
 *	the sending MTA, so that the eom log line says why.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fed.h"
#include "intro.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "tandem.h"

/* One inter-courier message being handled. */
struct fed_in {
	struct msg		*fi_mc;
	PGconn			*fi_db;
	const struct intro	*fi_peer;	/* the signer */
	struct intro_ic		*fi_ic;
	struct intro		*fi_origin;
	enum route_source	 fi_src;
	const char		*fi_done[TN_MAX_RCPTS];	/* delivered, held */
	size_t			 fi_ndone;
};

/* 1 if the signer's courier CA was issued by this courier's CA. */
static int
fed_subordinate(const struct fg *fg, X509 *signer, STACK_OF(X509) *certs)
{
	X509 *own, *ca;
	int i;

	if (sk_X509_num(fg->fg_id.ci_chain) < 1)
		return 0;
	own = sk_X509_value(fg->fg_id.ci_chain, 0);
	for (i = 0; i < sk_X509_num(certs); i++) {
		ca = sk_X509_value(certs, i);
		if (X509_check_issued(ca, signer) == X509_V_OK)
			return X509_check_issued(own, ca) == X509_V_OK;
	}
	return 0;
}

/* Rewrap to the local agent; a content mail From: Sender, to outbox. */
static int
fed_deliver(struct fed_in *fi, const char *rcpt, char *err)
{
	const struct fg *fg = fi->fi_mc->mc_fg;
	const struct intro_ic *ic = fi->fi_ic;
	const char *p[1] = { rcpt };
	STACK_OF(X509) *to = NULL;
	struct tmail_head th;
	unsigned char *wrap = NULL;
	char *mail = NULL;
	size_t wlen, mlen;
	PGresult *r = NULL;
	X509 *x = NULL;
	int rc = -1;

	if (fgdb_exec(fi->fi_db, "SELECT agent_cert FROM accounts WHERE "
	    "address = $1 AND status = 'active' AND agent_cert IS NOT NULL",
	    1, p, NULL, PGRES_TUPLES_OK, &r, err) == -1)
		goto out;
	if (PQntuples(r) != 1) {
		tn_err(err, "%s: no agent certificate", rcpt);
		goto out;
	}
	if ((x = pki_parse_cert(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r,
	    0, 0), err)) == NULL || (to = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(to, x))
		goto out;
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_CONTENT;
	th.th_from = ic->ic_sender;
	th.th_to = &rcpt;
	th.th_nto = 1;
	th.th_msgid = ic->ic_msgid;
	if (cms_wrap(ic->ic_payload, ic->ic_paylen, &fg->fg_id, to, 0, &wrap,
	    &wlen, err) == -1 ||
	    tmail_compose(&th, wrap, wlen, &mail, &mlen, err) == -1 ||
	    fgdb_outbox(fi->fi_db, ic->ic_msgid, ic->ic_sender, rcpt, mail,
	    mlen, err) == -1)
		goto out;
	rc = 0;
out:
	if (to == NULL || sk_X509_num(to) == 0)
		X509_free(x);
	sk_X509_pop_free(to, X509_free);
	PQclear(r);
	free(wrap);
	free(mail);
	return rc;
}

/*
 * Hops + 1 to courier, origin unchanged but at a gateway's border. A
 * message from outside sent into the segment counts as taken here: the
 * gateway introduces itself back for it (fed_back()).
 */
static int
fed_forward(struct fed_in *fi, const char *rcpt, const char *courier,
    char *err)
{
	const struct fg *fg = fi->fi_mc->mc_fg;
	const struct intro_ic *ic = fi->fi_ic;
	struct fed_out fo;
	char used[ROUTE_IDLEN];
	int rc;

	if (ic->ic_hops + 1 > PROTO_MAX_HOPS)
		return fed_notice(fg, fi->fi_db, ic->ic_sender, ic->ic_msgid,
		    rcpt, "too many couriers crossed (hop limit)", err);
	memset(&fo, 0, sizeof(fo));
	fo.fo_msgid = ic->ic_msgid;
	fo.fo_sender = ic->ic_sender;
	fo.fo_rcpts = &rcpt;
	fo.fo_nrcpts = 1;
	fo.fo_hops = ic->ic_hops + 1;
	fo.fo_origin = ic->ic_origin;
	fo.fo_origin_pem = ic->ic_origin_pem;
	fo.fo_sealed = ic->ic_payload;
	fo.fo_sealedlen = ic->ic_paylen;
	if ((rc = fed_send_ic(fg, fi->fi_db, courier, fi->fi_peer->in_courier,
	    &fo, used, err)) == 1)
		return fed_notice(fg, fi->fi_db, ic->ic_sender, ic->ic_msgid,
		    rcpt, "routing loop", err);
	if (rc == -1)
		return -1;
	msg_note(fi->fi_mc, " forwarded=%s%s", used, rc == 2 ?
	    " origin-replaced=yes" : "");
	if (rc == 2 && !fed_below(fg, ic->ic_origin_pem, 0))
		fi->fi_done[fi->fi_ndone++] = rcpt;	/* into the segment */
	return 0;
}

/* One recipient of an inter-courier message, routed here. */
static int
fed_rcpt(struct fed_in *fi, const char *rcpt, char *err)
{
	struct msg *mc = fi->fi_mc;
	const struct intro_ic *ic = fi->fi_ic;
	struct route_courier self;
	struct route_tables rt;
	struct route_decision rd;

	fed_self(mc->mc_fg, &self);
	fgdb_tables(&rt, fi->fi_db);
	if (route_decide(&self, &rt, rcpt, fi->fi_src,
	    fi->fi_peer->in_courier, &rd, err) == -1)
		return -1;
	msg_note(mc, " rcpt=%s route=%s", rcpt,
	    route_action_name(rd.rd_action));
	switch (rd.rd_action) {
	case ROUTE_DELIVER_LOCAL:
		if (fed_deliver(fi, rcpt, err) == -1)
			return -1;
		fi->fi_done[fi->fi_ndone++] = rcpt;
		return 0;
	case ROUTE_HOLD_AND_INVITE:
		if (fgdb_hold(mc->mc_fg, fi->fi_db, mc->mc_qid, ic->ic_msgid,
		    ic->ic_sender, rcpt, ic->ic_payload, ic->ic_paylen,
		    err) == -1)
			return -1;
		fi->fi_done[fi->fi_ndone++] = rcpt;
		return 0;
	case ROUTE_REJECT:
		msg_note(mc, " notice=\"%s\"", rd.rd_reason);
		return fed_notice(mc->mc_fg, fi->fi_db, ic->ic_sender,
		    ic->ic_msgid, rcpt, rd.rd_reason, err);
	default:
		return fed_forward(fi, rcpt, rd.rd_courier, err);
	}
}

/*
 * A deferred message delivered or held here (or sent into a gateway's
 * segment): introduce ourselves back to the origin, unless it found us
 * by a route of its own: it is the sending element, not a subordinate
 * that deferred to us.
 */
static int
fed_back(struct fed_in *fi, char *err)
{
	const struct fg *fg = fi->fi_mc->mc_fg;
	const struct intro *org = fi->fi_origin, *peer = fi->fi_peer;
	int rc;

	if (fi->fi_ndone == 0 || strcasecmp(org->in_courier,
	    fg->fg_conf->cf_name) == 0 || (strcasecmp(org->in_courier,
	    peer->in_courier) == 0 && strcasecmp(org->in_endpoint,
	    peer->in_endpoint) == 0 && fi->fi_src != ROUTE_SRC_SUBORDINATE))
		return 0;
	rc = fed_introduce(fg, fi->fi_db, org, fi->fi_done, fi->fi_ndone,
	    NULL, err);
	if (rc == 0)
		msg_note(fi->fi_mc, " introduced=%s",
		    fi->fi_origin->in_courier);
	return rc;
}

/* Why this inter-courier message is refused, or NULL. */
static const char *
fed_ic_check(const struct fed_in *fi)
{
	const struct conf *cf = fi->fi_mc->mc_fg->fg_conf;
	const struct intro_ic *ic = fi->fi_ic;
	const struct intro *peer = fi->fi_peer, *org = fi->fi_origin;

	if (ic->ic_kind != PKI_KIND_FG)
		return "an ARM, not a sealed content";
	if (strcasecmp(ic->ic_to, cf->cf_service_mailbox) != 0)
		return "To-Element is not this foreground";
	if (strcasecmp(ic->ic_from, peer->in_endpoint) != 0)
		return "From-Element is not the signer";
	if (ic->ic_hops < 1 || ic->ic_hops > PROTO_MAX_HOPS)
		return NULL;	/* a notice, below */
	if (ic->ic_hops == 1 && strcasecmp(ic->ic_origin,
	    peer->in_courier) != 0)
		return "Hops 1 from another courier than the origin";
	if (org->in_role == PKI_ROLE_PRIVATE &&
	    !intro_covers(org, ic->ic_sender))
		return "private origin courier claims a sender outside its "
		    "name constraints";
	if (peer->in_role == PKI_ROLE_PRIVATE && strcasecmp(peer->in_courier,
	    org->in_courier) != 0)
		return "a private courier relays another courier's message";
	return NULL;
}

/* Every recipient, then the introduction back; verdict set on -1. */
static int
fed_ic_route(struct fed_in *fi)
{
	struct msg *mc = fi->fi_mc;
	const struct intro_ic *ic = fi->fi_ic;
	char err[TN_ERRLEN];
	size_t i;

	for (i = 0; i < ic->ic_nrcpts; i++) {
		if (ic->ic_hops > PROTO_MAX_HOPS) {
			msg_note(mc, " rcpt=%s notice=hop-limit",
			    ic->ic_rcpts[i]);
			if (fed_notice(mc->mc_fg, fi->fi_db, ic->ic_sender,
			    ic->ic_msgid, ic->ic_rcpts[i], "too many couriers "
			    "crossed (hop limit)", err) == -1)
				goto fail;
		} else if (fed_rcpt(fi, ic->ic_rcpts[i], err) == -1)
			goto fail;
	}
	if (fed_back(fi, err) == -1)
		goto fail;
	return 0;
fail:
	msg_fail(mc, MSG_TEMP, "4.3.0 inter-courier: %s", err);
	return -1;
}

static int
fed_ic(struct fed_in *fi, const unsigned char *in, size_t inlen)
{
	struct msg *mc = fi->fi_mc;
	const struct fg *fg = mc->mc_fg;
	const char *why;
	char err[TN_ERRLEN];
	int fresh;

	if (intro_ic_read(fg->fg_trust, (const char *)in, inlen, &fi->fi_ic,
	    &fi->fi_origin, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.7 inter-courier: %s", err);
		return -1;
	}
	msg_note(mc, " ic=%s msgid=%s origin=%s hops=%u", fi->fi_ic->ic_id,
	    fi->fi_ic->ic_msgid, fi->fi_ic->ic_origin, fi->fi_ic->ic_hops);
	if ((why = fed_ic_check(fi)) != NULL) {
		msg_fail(mc, MSG_PERM, "5.7.1 inter-courier: %s", why);
		return -1;
	}
	if ((fresh = fed_seen(fi->fi_db, fi->fi_ic->ic_id, "inter-courier",
	    err)) == -1 || (fresh && fi->fi_ic->ic_hops <= PROTO_MAX_HOPS &&
	    strcasecmp(fi->fi_origin->in_courier, fg->fg_conf->cf_name) != 0 &&
	    fed_record(fi->fi_db, fi->fi_origin, err) == -1)) {
		msg_fail(mc, MSG_TEMP, "4.3.0 inter-courier: %s", err);
		return -1;
	}
	if (!fresh) {
		msg_note(mc, " duplicate=yes");
		return 0;
	}
	return fed_ic_route(fi);
}

/* A Token: the pending invitation of address, now rejected. */
static int
fed_token(PGconn *db, const char *token, const char *address, char *err)
{
	unsigned char hash[TMAIL_HASHLEN];
	unsigned int n = 0;
	const char *p[2] = { (const char *)hash, address };
	int l[2] = { TMAIL_HASHLEN, 0 };
	PGresult *r;
	int found;

	if (EVP_Digest(token, strlen(token), hash, &n, EVP_sha256(),
	    NULL) != 1) {
		tn_err(err, "cannot hash the token");
		return -1;
	}
	if (fgdb_exec(db, "UPDATE invitations SET status = 'rejected' WHERE "
	    "token_hash = $1 AND address = $2 AND status = 'pending' AND "
	    "expires_at > now() RETURNING id", 2, p, l, PGRES_TUPLES_OK, &r,
	    err) == -1)
		return -1;
	found = PQntuples(r) == 1;
	PQclear(r);
	return found;
}

/*
 * Held mail of every address under the introduction's domains sent on
 * (fed_release() routes each again: rule 4 now names the courier).
 */
static int
fed_learn_domains(const struct fg *fg, PGconn *db, const struct intro *in,
    int *total, char *err)
{
	const char *p[1];
	char *domains = NULL;
	PGresult *r = NULL;
	int i, n, rc = -1;

	if (in->in_ndomains == 0)
		return 0;
	if (intro_domains_text(in, &domains, err) == -1)
		return -1;
	p[0] = domains;
	if (fgdb_exec(db, "SELECT DISTINCT recipient FROM held_messages, "
	    "unnest(string_to_array($1, ' ')) AS d WHERE released_at IS NULL "
	    "AND purged_at IS NULL AND (lower(split_part(recipient, '@', 2)) "
	    "= d OR lower(split_part(recipient, '@', 2)) LIKE '%.' || d) "
	    "ORDER BY recipient", 1, p, NULL, PGRES_TUPLES_OK, &r, err) == -1)
		goto out;
	for (i = 0; i < PQntuples(r); i++) {
		if (!intro_covers(in, PQgetvalue(r, i, 0)))
			continue;
		if (fed_release(fg, db, PQgetvalue(r, i, 0), &n, err) == -1)
			goto out;
		*total += n;
	}
	rc = 0;
out:
	PQclear(r);
	free(domains);
	return rc;
}

/*
 * What an introduction teaches: routes, then held mail sent on, for
 * each Address and for every held address under its Domains.
 */
static int
fed_learn(struct msg *mc, PGconn *db, const struct intro *in,
    const struct proto_msg *pm, char *err)
{
	const char *token = proto_get(pm, "Token"), *a;
	size_t i, na = proto_count(pm, "Address");
	int n, total = 0, ok;

	if (token != NULL && na != 1) {
		msg_fail(mc, MSG_PERM, "5.6.0 introduction: a Token needs "
		    "exactly one Address");
		return -1;
	}
	for (i = 0; i < na; i++) {
		const char *p[3] = { proto_get_nth(pm, "Address", i),
		    in->in_courier, token != NULL ? "rejected" : "introduced" };

		a = p[0];
		if (token != NULL && (ok = fed_token(db, token, a, err)) != 1) {
			if (ok == 0)
				msg_fail(mc, MSG_PERM, "5.7.1 introduction: "
				    "no pending invitation of %s for that "
				    "token", a);
			return -1;
		}
		if (fgdb_exec(db, "INSERT INTO address_routes (address, "
		    "courier, reason) VALUES ($1, $2, $3) ON CONFLICT "
		    "(address) DO UPDATE SET courier = $2, reason = $3, "
		    "learned_at = now() WHERE address_routes.reason <> "
		    "'transferred'", 3, p, NULL, PGRES_COMMAND_OK, NULL,
		    err) == -1 || fed_release(mc->mc_fg, db, a, &n, err) == -1)
			return -1;
		total += n;
	}
	if (fed_learn_domains(mc->mc_fg, db, in, &total, err) == -1)
		return -1;
	msg_note(mc, " introduction=%s addresses=%zu released=%d%s",
	    in->in_courier, na, total, token != NULL ? " token=accepted" : "");
	return 0;
}

static int
fed_intro(struct fed_in *fi, const unsigned char *in, size_t inlen)
{
	struct msg *mc = fi->fi_mc;
	struct proto_msg *pm = NULL;
	struct intro *ni = NULL;
	char err[TN_ERRLEN];
	int fresh, rc = -1;

	err[0] = '\0';
	if (intro_read(mc->mc_fg->fg_trust, (const char *)in, inlen,
	    PKI_KIND_FG, &ni, &pm, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.7 introduction: %s", err);
		goto out;
	}
	if (strcmp(ni->in_pem, fi->fi_peer->in_pem) != 0 &&
	    (strcasecmp(ni->in_courier, fi->fi_peer->in_courier) != 0 ||
	    strcasecmp(ni->in_endpoint, fi->fi_peer->in_endpoint) != 0)) {
		msg_fail(mc, MSG_PERM, "5.7.1 introduction: signed by another "
		    "element than it introduces");
		goto out;
	}
	if ((fresh = fed_seen(fi->fi_db, proto_get(pm, "Id"), "introduction",
	    err)) == 0) {
		msg_note(mc, " introduction=%s duplicate=yes", ni->in_courier);
		rc = 0;
		goto out;
	}
	if (fresh == -1 || fed_record(fi->fi_db, ni, err) == -1 ||
	    fed_learn(mc, fi->fi_db, ni, pm, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 introduction: %s", err);
		goto out;
	}
	rc = 0;
out:
	proto_msg_free(pm);
	intro_free(ni);
	return rc;
}

/* The service mailbox leaves the envelope; nobody else: discarded. */
static void
fed_consume(struct msg *mc)
{
	const char *box = mc->mc_fg->fg_conf->cf_service_mailbox;
	size_t i, others = 0;

	for (i = 0; i < mc->mc_nrcpts; i++) {
		if (strcmp(mc->mc_rcpts[i], box) == 0)
			mc->mc_drop[i] = 1;
		else
			others++;
	}
	if (others == 0)
		mc->mc_discard = 1;
}

/* Unwrap and check the signer; the peer it introduces in *peer. */
static int
fed_open(struct msg *mc, struct tmail *tm, unsigned char **in,
    size_t *inlen, struct intro **peer)
{
	const struct fg *fg = mc->mc_fg;
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	enum cms_fail fail;
	char err[TN_ERRLEN];
	int rc = -1;

	if (cms_unwrap(tm->tm_der, tm->tm_derlen, &fg->fg_id,
	    pki_trust_store(fg->fg_trust), in, inlen, &signer, &certs, &fail,
	    err) == -1) {
		msg_fail(mc, fail == CMS_FAIL_INTERNAL ? MSG_TEMP : MSG_PERM,
		    "%s inter-courier: %s", fail == CMS_FAIL_INTERNAL ?
		    "4.3.0" : "5.7.7", err);
		goto out;
	}
	if (intro_check(fg->fg_trust, signer, certs, PKI_KIND_FG, peer,
	    err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.7 inter-courier: signer: %s", err);
		goto out;
	}
	if (strcasecmp((*peer)->in_endpoint, tm->tm_from) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 inter-courier: From: %s is not "
		    "the signer's mailbox", tm->tm_from);
		goto out;
	}
	rc = fed_subordinate(fg, signer, certs);
out:
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int
fed_process(struct msg *mc, PGconn *db, struct tmail *tm)
{
	struct fed_in fi;
	struct proto_msg *pm = NULL;
	struct intro *peer = NULL;
	unsigned char *in = NULL;
	size_t inlen = 0;
	char err[TN_ERRLEN];
	int sub, rc = -1;

	memset(&fi, 0, sizeof(fi));
	if (strcmp(tm->tm_from, mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 From: %s is not the envelope "
		    "sender", tm->tm_from);
		return -1;
	}
	if ((sub = fed_open(mc, tm, &in, &inlen, &peer)) == -1)
		goto out;
	msg_note(mc, " peer=%s", peer->in_courier);
	fi.fi_mc = mc;
	fi.fi_db = db;
	fi.fi_peer = peer;
	fi.fi_src = sub ? ROUTE_SRC_SUBORDINATE : ROUTE_SRC_REMOTE;
	if (proto_parse((const char *)in, inlen, &pm, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.6.0 inter-courier: %s", err);
		goto out;
	}
	if (pm->pm_kind == PROTO_INTER_COURIER)
		rc = fed_ic(&fi, in, inlen);
	else if (pm->pm_kind == PROTO_INTRODUCTION)
		rc = fed_intro(&fi, in, inlen);
	else
		msg_fail(mc, MSG_PERM, "5.6.0 inter-courier: kind %s not "
		    "handled here", proto_kind_name(pm->pm_kind));
	if (rc == 0)
		fed_consume(mc);
out:
	proto_msg_free(pm);
	intro_ic_free(fi.fi_ic);
	intro_free(fi.fi_origin);
	intro_free(peer);
	free(in);
	return rc;
}
