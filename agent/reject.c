/*
 * NAME
 *	reject.c - refuse an invitation from another courier (figure 9)
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	agent_reject(struct agent_reader *rd, const struct tmail *tm,
 *		    const char *path, char *err);
 * DESCRIPTION
 *	agent_reject() handles an invitation that "tandem read" finds
 *	while the agent is registered (rd->rd_id.ci_cert set). It checks
 *	the invitation's signature (an FG element certificate to the
 *	anchors, the very certificate of its fg-cert part, from the CA of
 *	the courier its Courier field names) and that it invites this
 *	agent's address, and that the inviting courier could have held
 *	mail for it: a private courier invites only inside its certified
 *	domains, so an invitation of one for any other address is refused
 *	and answered with nothing (no introduction of this agent's
 *	couriers to it). An invitation from the agent's own courier, or
 *	from a courier it left (the issuer of an old generation: a
 *	transfer), is left alone (the agent is registered). One from another courier is refused with no
 *	action from the user: an invitation-reject (Token, Address,
 *	Inviting-Courier, Registered-Courier = the CN of the CA that
 *	issued the agent certificate, the Message-Ids, Background-Url;
 *	parts fg-cert and ca-chain copied, and the invitation as signed,
 *	part invitation, from which the background takes the
 *	Background-Url), wrapped agent -> courier-end
 *	certificate, is mailed to the agent's FG (Tandem-Kind: service,
 *	to the stored register-address) and POSTed to its BG at
 *	/v1/invitation-reject.
 *
 *	The store remembers, by the invitation's Id, the Id of the
 *	invitation-reject (so that a retry is a duplicate to both
 *	elements) and which element took it; each later read sends only
 *	what is missing, and nothing once both took it.
 *
 *	Everything allocated here is freed here.
 * DIAGNOSTICS
 *	0 (also for an invitation left alone), or an exit status of
 *	tandem(1) with the reason in err. A note on standard error says
 *	what was done.
 */
#include <openssl/x509.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include "tandem.h"
#include "cms.h"
#include "intro.h"
#include "pki.h"
#include "proto.h"
#include "tmail.h"
#include "agent.h"

/* What a rejection needs, freed by rej_free(). */
struct rej {
	struct proto_msg	*rj_inv;	/* the invitation */
	char			*rj_mine;	/* our courier's name */
	char			*rj_key;	/* store name prefix */
	char			*rj_id;		/* Id of the reject */
	unsigned char		*rj_wrap;
	size_t			 rj_wraplen;
	const unsigned char	*rj_signed;	/* the invitation, borrowed */
	size_t			 rj_signedlen;
};

static void
rej_free(struct rej *rj)
{
	proto_msg_free(rj->rj_inv);
	free(rj->rj_mine);
	free(rj->rj_key);
	free(rj->rj_id);
	free(rj->rj_wrap);
	memset(rj, 0, sizeof(*rj));
}

/* The common name of the issuer of c, or NULL; free() it. */
static char *
issuer_cn(X509 *c)
{
	char buf[256];
	int n;

	n = X509_NAME_get_text_by_NID(X509_get_issuer_name(c),
	    NID_commonName, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return strdup(buf);
}

/* store_old_each(): 1 when an old generation was of courier (arg). */
static int
rej_was_mine(const struct store_old *so, void *arg)
{
	const char *courier = arg;
	char why[TN_ERRLEN], *cn;
	X509 *x;
	int same;

	if ((x = pki_parse_cert(so->so_cert, strlen(so->so_cert), why)) ==
	    NULL)
		return 0;
	cn = issuer_cn(x);
	same = cn != NULL && strcasecmp(cn, courier) == 0;
	free(cn);
	X509_free(x);
	return same;
}

/*
 * Could the inviting courier have held mail for this address? A private
 * courier invites only inside its certified domains (routing rule 6);
 * for any other address it defers to its superior (rule 5). An
 * invitation it sends outside them is hostile: answering it would make
 * this agent's couriers introduce themselves, and tell that the address
 * is registered here, to whoever sent it.
 */
static int
rej_inviter(const struct agent_reader *rd, X509 *signer,
    STACK_OF(X509) *certs, char *err)
{
	struct intro *in = NULL;
	char why[TN_ERRLEN];
	int rc = AGENT_EX_COURIER;

	if (intro_check(rd->rd_trust, signer, certs, PKI_KIND_FG, &in,
	    why) == -1) {
		tn_err(err, "refused: the inviting element: %s", why);
		goto out;
	}
	if (in->in_role == PKI_ROLE_PRIVATE &&
	    !intro_covers(in, rd->rd_address)) {
		tn_err(err, "refused: private courier %s cannot invite %s, "
		    "outside its domains; no reject sent", in->in_courier,
		    rd->rd_address);
		goto out;
	}
	rc = 0;
out:
	intro_free(in);
	return rc;
}

/* The signer is an FG element, the fg-cert part, of the named courier. */
static int
rej_signer(const struct agent_reader *rd, X509 *signer, STACK_OF(X509) *certs,
    const struct proto_msg *inv, char *err)
{
	char *cn = NULL;
	int rc;

	if ((rc = agent_invitation_signer(rd->rd_trust, signer, certs, inv,
	    err)) != 0)
		return rc;
	rc = AGENT_EX_COURIER;
	if ((cn = issuer_cn(signer)) == NULL ||
	    strcasecmp(cn, proto_get(inv, "Courier")) != 0) {
		tn_err(err, "refused: the invitation names courier %s but "
		    "is signed by an element of %s", proto_get(inv, "Courier"),
		    cn != NULL ? cn : "(no name)");
		goto out;
	}
	if ((rc = rej_inviter(rd, signer, certs, err)) != 0)
		goto out;
	rc = 0;
out:
	free(cn);
	return rc;
}

/* The invitation in tm, verified and for this agent. */
static int
rej_verify(struct agent_reader *rd, const struct tmail *tm, struct rej *rj,
    char *err)
{
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	unsigned char *out = NULL;
	size_t outlen;
	enum cms_fail fail;
	int rc;

	if (cms_verify(tm->tm_der, tm->tm_derlen,
	    pki_trust_store(rd->rd_trust), &out, &outlen, &signer, &certs,
	    &fail, err) == -1) {
		rc = fail == CMS_FAIL_CHAIN ? AGENT_EX_UNTRUSTED :
		    fail == CMS_FAIL_SIGNATURE ? AGENT_EX_TAMPERED : EX_DATAERR;
		goto out;
	}
	rc = EX_DATAERR;
	if (proto_parse((char *)out, outlen, &rj->rj_inv, err) == -1)
		goto out;
	rj->rj_signed = tm->tm_der;
	rj->rj_signedlen = tm->tm_derlen;
	if (rj->rj_inv->pm_kind != PROTO_INVITATION) {
		tn_err(err, "signed part is a %s, not an invitation",
		    proto_kind_name(rj->rj_inv->pm_kind));
		goto out;
	}
	if ((rc = rej_signer(rd, signer, certs, rj->rj_inv, err)) != 0)
		goto out;
	rc = EX_DATAERR;
	if (strcasecmp(proto_get(rj->rj_inv, "Recipient"),
	    rd->rd_address) != 0) {
		tn_err(err, "an invitation for %s, not for %s",
		    proto_get(rj->rj_inv, "Recipient"), rd->rd_address);
		goto out;
	}
	rc = 0;
out:
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	free(out);
	return rc;
}

/* The invitation-reject, wrapped to the courier end, in rj_wrap. */
static int
rej_message(struct agent_reader *rd, struct rej *rj, char *err)
{
	const struct proto_msg *inv = rj->rj_inv;
	const struct proto_part *pp;
	struct proto_msg *pm;
	char date[32], *text = NULL;
	const char *bg, *v;
	size_t len = 0, i;
	int rc = -1;

	proto_format_time(time(NULL), date, sizeof(date));
	if ((pm = proto_msg_new(PROTO_INVITATION_REJECT)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	bg = proto_get(inv, "Background-Url");
	if (proto_set(pm, "Id", rj->rj_id, err) == -1 ||
	    proto_set(pm, "Date", date, err) == -1 ||
	    proto_set(pm, "Token", proto_get(inv, "Token"), err) == -1 ||
	    proto_set(pm, "Address", rd->rd_address, err) == -1 ||
	    proto_set(pm, "Inviting-Courier", proto_get(inv, "Courier"),
	    err) == -1 ||
	    proto_set(pm, "Registered-Courier", rj->rj_mine, err) == -1 ||
	    (bg != NULL && proto_set(pm, "Background-Url", bg, err) == -1))
		goto out;
	for (i = 0; (v = proto_get_nth(inv, "Message-Id", i)) != NULL; i++)
		if (proto_add(pm, "Message-Id", v, err) == -1)
			goto out;
	if (((pp = proto_part(inv, "fg-cert")) != NULL && proto_attach(pm,
	    "fg-cert", pp->pp_data, pp->pp_len, err) == -1) ||
	    ((pp = proto_part(inv, "ca-chain")) != NULL && proto_attach(pm,
	    "ca-chain", pp->pp_data, pp->pp_len, err) == -1) ||
	    (rj->rj_signed != NULL && proto_attach(pm, "invitation",
	    rj->rj_signed, rj->rj_signedlen, err) == -1))
		goto out;
	if (proto_format(pm, &text, &len, err) == -1 ||
	    cms_wrap((unsigned char *)text, len, &rd->rd_id, rd->rd_courier,
	    0, &rj->rj_wrap, &rj->rj_wraplen, err) == -1)
		goto out;
	rc = 0;
out:
	proto_msg_free(pm);
	free(text);
	return rc;
}

/* Is store value PREFIX:what set? 1 yes, 0 no, -1 error. */
static int
rej_done(struct agent_reader *rd, struct rej *rj, const char *what,
    char *err)
{
	char name[512], *v = NULL;
	int r;

	snprintf(name, sizeof(name), "%s:%s", rj->rj_key, what);
	if (store_get(rd->rd_st, name, &v, err) == -1)
		return -1;
	r = v != NULL;
	free(v);
	return r;
}

static int
rej_mark(struct agent_reader *rd, struct rej *rj, const char *what,
    const char *val, char *err)
{
	char name[512];

	snprintf(name, sizeof(name), "%s:%s", rj->rj_key, what);
	return store_put(rd->rd_st, name, val, err);
}

/* Mail it to our FG's service mailbox. */
static int
rej_fg(struct agent_reader *rd, struct agent_net *an, struct rej *rj,
    char *err)
{
	char *to = NULL, *msgid = NULL;
	int rc = EX_SOFTWARE;

	if (store_get(rd->rd_st, "register-address", &to, err) == -1)
		goto out;
	rc = EX_CONFIG;
	if (to == NULL || *to == '\0') {
		tn_err(err, "no service address of the courier in the store");
		goto out;
	}
	rc = EX_SOFTWARE;
	if ((msgid = agent_new_id(rd->rd_address)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	rc = agent_submit(an, TMAIL_SERVICE, rd->rd_address, &to, 1, msgid,
	    rj->rj_wrap, rj->rj_wraplen, err);
out:
	free(to);
	free(msgid);
	return rc;
}

/* POST it to our BG. */
static int
rej_bg(struct agent_reader *rd, struct agent_net *an, struct rej *rj,
    char *err)
{
	unsigned char *resp = NULL;
	char path[1024], *bg = NULL;
	size_t rlen;
	long status;
	int rc = EX_SOFTWARE;

	if (net_bg(an) == NULL) {
		if (store_get(rd->rd_st, "bg-url", &bg, err) == -1)
			goto out;
		rc = EX_CONFIG;
		if (bg == NULL || *bg == '\0' || net_set_bg(an, bg, err) == -1) {
			if (bg == NULL || *bg == '\0')
				tn_err(err, "no background URL: use --bg, or "
				    "bg_url in tandem.conf");
			goto out;
		}
	}
	rc = EX_CONFIG;
	if (store_path(rd->rd_opts->o_dir, "anchors.pem", path,
	    sizeof(path)) == -1 ||
	    net_identity(an, &rd->rd_id, path, err) == -1)
		goto out;
	rc = EX_TEMPFAIL;
	if (net_https(an, "POST", "/v1/invitation-reject", rj->rj_wrap,
	    rj->rj_wraplen, &status, &resp, &rlen, err) == -1)
		goto out;
	resp[strcspn((char *)resp, "\r\n")] = '\0';
	if (status == 200 || status == 201)
		rc = 0;
	else {
		rc = status >= 400 && status < 500 ? AGENT_EX_REFUSED :
		    EX_TEMPFAIL;
		tn_err(err, "the background refused the invitation-reject: "
		    "%ld %.120s", status, resp);
	}
out:
	free(resp);
	free(bg);
	return rc;
}

typedef int (*rej_sender)(struct agent_reader *, struct agent_net *,
    struct rej *, char *);

/* Send to one element and remember that it took it. */
static int
rej_one(struct agent_reader *rd, struct agent_net *an, struct rej *rj,
    const char *what, rej_sender fn, int *sent, char *err)
{
	int rc;

	if ((rc = fn(rd, an, rj, err)) != 0)
		return rc;
	*sent = 1;
	return rej_mark(rd, rj, what, "sent", err) == -1 ? EX_SOFTWARE : 0;
}

/* Send what is not sent yet, to each element; *sent: anything sent. */
static int
rej_send(struct agent_reader *rd, struct rej *rj, int *sent, char *err)
{
	struct agent_net *an = NULL;
	char why[TN_ERRLEN];
	int rc = EX_SOFTWARE, r, fg, bg;

	*sent = 0;
	if ((fg = rej_done(rd, rj, "fg", err)) == -1 ||
	    (bg = rej_done(rd, rj, "bg", err)) == -1)
		goto out;
	rc = 0;
	if (fg && bg)
		goto out;
	rc = EX_SOFTWARE;
	if (rej_message(rd, rj, err) == -1)
		goto out;
	rc = EX_CONFIG;
	if ((an = net_new(rd->rd_opts, err)) == NULL)
		goto out;
	/* Each element on its own: one failing does not stop the other. */
	rc = 0;
	if (!fg)
		rc = rej_one(rd, an, rj, "fg", rej_fg, sent, err);
	if (!bg) {
		r = rej_one(rd, an, rj, "bg", rej_bg, sent, rc != 0 ? why :
		    err);
		if (r != 0 && rc == 0)
			rc = r;
		else if (r != 0) {
			fprintf(stderr, "tandem: %s\n", why);
			rd->rd_reported = 1;
		}
	}
out:
	net_free(an);
	return rc;
}

/* The Id of the reject for this invitation: kept, or made and kept. */
static int
rej_ident(struct agent_reader *rd, struct rej *rj, char *err)
{
	char name[512];

	if (asprintf(&rj->rj_key, "reject:%s", proto_get(rj->rj_inv,
	    "Id")) == -1) {
		rj->rj_key = NULL;
		tn_err(err, "out of memory");
		return -1;
	}
	snprintf(name, sizeof(name), "%s:id", rj->rj_key);
	if (store_get(rd->rd_st, name, &rj->rj_id, err) == -1)
		return -1;
	if (rj->rj_id != NULL)
		return 0;
	if ((rj->rj_id = agent_new_id(rd->rd_address)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	return store_put(rd->rd_st, name, rj->rj_id, err);
}

int
agent_reject(struct agent_reader *rd, const struct tmail *tm,
    const char *path, char *err)
{
	struct rej rj;
	const char *inviting;
	int rc, sent;

	memset(&rj, 0, sizeof(rj));
	if ((rc = rej_verify(rd, tm, &rj, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	inviting = proto_get(rj.rj_inv, "Courier");
	if ((rj.rj_mine = issuer_cn(rd->rd_id.ci_cert)) == NULL) {
		tn_err(err, "the agent certificate names no issuer");
		goto out;
	}
	rc = 0;
	if (strcasecmp(inviting, rj.rj_mine) == 0)
		goto out;	/* our own courier's: we are registered */
	/* A courier this agent left (a transfer): its old invitation. */
	if (store_old_each(rd->rd_st, rej_was_mine, (void *)inviting,
	    err) == 1)
		goto out;
	rc = EX_SOFTWARE;
	if (rej_ident(rd, &rj, err) == -1)
		goto out;
	if ((rc = rej_send(rd, &rj, &sent, err)) != 0)
		goto out;
	if (sent) {
		fprintf(stderr, "tandem: %s: invitation from %s refused: %s "
		    "is registered at %s (both elements told)\n", path,
		    inviting, rd->rd_address, rj.rj_mine);
		rd->rd_reported = 1;
	}
	rc = 0;
out:
	rej_free(&rj);
	return rc;
}
