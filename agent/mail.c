/*
 * NAME
 *	mail.c - what the network commands share: ids, submission, the
 *	courier's signature
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	char	*agent_new_id(const char *address);
 *	int	agent_submit(struct agent_net *an, enum tmail_kind kind,
 *		    const char *from, char *const *to, size_t nto,
 *		    const char *msgid, const unsigned char *der,
 *		    size_t derlen, char *err);
 *	int	agent_mail_courier(struct agent_net *an, struct store *st,
 *		    const struct cms_id *id, const char *address,
 *		    STACK_OF(X509) *courier, struct proto_msg *pm,
 *		    const char *gen, char *err);
 *	int	agent_mail_to(struct agent_net *an, const struct cms_id *id,
 *		    const char *address, const char *to,
 *		    STACK_OF(X509) *rcpts, struct proto_msg *pm,
 *		    const char *gen, char *err);
 *	int	agent_check_element(const struct pki_trust *trust,
 *		    X509 *signer, STACK_OF(X509) *certs,
 *		    enum pki_kind kind, X509 *own, STACK_OF(X509) *ownchain,
 *		    char *err);
 *	int	agent_check_content(struct store *st,
 *		    const struct pki_trust *trust, X509 *signer,
 *		    STACK_OF(X509) *certs, X509 *own,
 *		    STACK_OF(X509) *ownchain, char *err);
 *	int	agent_check_author(X509 *signer, STACK_OF(X509) *certs,
 *		    const char *sender, const struct cms_id *own, char *err);
 *	struct pki_trust *agent_trust(const char *dir, char *err);
 * DESCRIPTION
 *	agent_new_id() returns a fresh message id, 32 random hex digits
 *	@ the domain of address, to be passed to free(); NULL when out
 *	of memory.
 *
 *	agent_submit() writes a Tandem mail (tmail_compose(), neutral
 *	Subject) whose body is der and submits it by SMTP, envelope
 *	from "from", to the addresses of to. Returns 0 or an exit
 *	status: AGENT_EX_REFUSED for a permanent SMTP refusal (5xx, a
 *	failed AUTH among them), EX_PROTOCOL when the submission service
 *	offers no STARTTLS, no certificate that verifies or no AUTH for
 *	the configured user (nothing was sent), EX_TEMPFAIL for anything
 *	that may pass later.
 *
 *	agent_mail_courier() mails a service message to the courier (the
 *	store's register-address), From: address, Tandem-Kind: service:
 *	it sets pm's Id (a new one), Date, Address and Generation (gen),
 *	for agent-alive also Agent-Version, then wraps it signed by id to
 *	the courier-end certificate courier. pm, made by the caller with
 *	its parts, stays the caller's. agent-alive, exchange-keys and
 *	rekeying-complete go this way. Returns 0 or an exit status, as
 *	agent_submit(); EX_CONFIG when the store has no register-address.
 *	agent_mail_to() is the same to the mailbox to, wrapped to rcpts:
 *	what the agent of a transfer sends the new courier's foreground
 *	element before it holds keys of that courier (doc/flows.md 9).
 *
 *	agent_check_element() checks that signer chains to the trust
 *	anchors, is an element certificate of the given kind (PKI_KIND_FG
 *	for mail, PKI_KIND_BG for HTTPS), and was issued by the CA that
 *	issued own, the agent's certificate: the key of the courier CA
 *	that signed the signer (among certs, or among ownchain, where the
 *	root courier's agents have the root that certs may leave out) is
 *	the key of the courier CA that signed own, directly or through
 *	the courier's issuing CA
 *	(pki_courier_ca(), among ownchain: the agent's own chain, never
 *	the signer's, since any courier may certify another's public
 *	key). Names and key identifiers alone prove nothing: another
 *	courier may copy them. own may be NULL before registration ends:
 *	then the caller compares the signer with the certificate it
 *	expects. Returns 0,
 *	AGENT_EX_UNTRUSTED or AGENT_EX_COURIER.
 *
 *	agent_check_content() is that check for a content mail's
 *	foreground, which may also be the one of a courier the agent left
 *	(the courier of an old generation's certificate in st: a
 *	transfer), so that mail delivered before the move still reads.
 *
 *	agent_check_author() checks who signed a private message's
 *	content (signer, verified to the root already, certs its chain):
 *	an agent certificate (not an element, courier-end or CA one),
 *	for the address sender (the ARM's). With own (the reading agent,
 *	its certificate and chain) not NULL and sender in own's domain,
 *	when own's courier is private the signer must be certified by
 *	that same courier (its CA's key signed the signer, directly or
 *	through its issuing CA: pki_courier_ca()): a private
 *	courier's users are certified by it. Returns 0 or
 *	AGENT_EX_SENDER.
 *
 *	agent_trust() loads DIR/anchors.pem; pass the result to
 *	pki_trust_free().
 * DIAGNOSTICS
 *	As above, with the reason in err.
 */
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include "tandem.h"
#include "pki.h"
#include "proto.h"
#include "tmail.h"
#include "util.h"
#include "agent.h"

char *
agent_new_id(const char *address)
{
	unsigned char rnd[16];
	const char *at;
	char *hex, *id = NULL;

	if ((at = strchr(address, '@')) == NULL)
		return NULL;
	if (util_random(rnd, sizeof(rnd)) == -1 ||
	    (hex = util_hex(rnd, sizeof(rnd))) == NULL)
		return NULL;
	if (asprintf(&id, "%s@%s", hex, at + 1) == -1)
		id = NULL;
	free(hex);
	return id;
}

int
agent_submit(struct agent_net *an, enum tmail_kind kind, const char *from,
    char *const *to, size_t nto, const char *msgid, const unsigned char *der,
    size_t derlen, char *err)
{
	struct tmail_head th;
	char *mail = NULL;
	size_t len;
	long code;
	int rc = EX_SOFTWARE;

	memset(&th, 0, sizeof(th));
	th.th_kind = kind;
	th.th_from = from;
	th.th_to = (const char *const *)to;
	th.th_nto = nto;
	th.th_msgid = msgid;
	if (tmail_compose(&th, der, derlen, &mail, &len, err) == -1)
		goto out;
	switch (net_smtp(an, from, to, nto, mail, len, &code, err)) {
	case 0:
		break;
	case -2:	/* no STARTTLS, no verified certificate, no AUTH */
		rc = EX_PROTOCOL;
		goto out;
	default:
		rc = code >= 500 && code < 600 ? AGENT_EX_REFUSED :
		    EX_TEMPFAIL;
		goto out;
	}
	rc = 0;
out:
	free(mail);
	return rc;
}

int
agent_mail_courier(struct agent_net *an, struct store *st,
    const struct cms_id *id, const char *address, STACK_OF(X509) *courier,
    struct proto_msg *pm, const char *gen, char *err)
{
	char *to = NULL;
	int rc;

	if (store_get(st, "register-address", &to, err) == -1 || to == NULL) {
		tn_err(err, "no service address of the courier in the store");
		free(to);
		return EX_CONFIG;
	}
	rc = agent_mail_to(an, id, address, to, courier, pm, gen, err);
	free(to);
	return rc;
}

int
agent_mail_to(struct agent_net *an, const struct cms_id *id,
    const char *address, const char *to, STACK_OF(X509) *rcpts,
    struct proto_msg *pm, const char *gen, char *err)
{
	unsigned char *w = NULL;
	char date[32], *msgid = NULL, *text = NULL;
	size_t len, wlen;
	int rc = EX_SOFTWARE;

	proto_format_time(time(NULL), date, sizeof(date));
	if ((msgid = agent_new_id(address)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (proto_set(pm, "Id", msgid, err) == -1 ||
	    proto_set(pm, "Date", date, err) == -1 ||
	    proto_set(pm, "Address", address, err) == -1 ||
	    proto_set(pm, "Generation", gen, err) == -1 ||
	    (pm->pm_kind == PROTO_AGENT_ALIVE && proto_set(pm,
	    "Agent-Version", AGENT_VERSION, err) == -1) ||
	    proto_format(pm, &text, &len, err) == -1 ||
	    cms_wrap((unsigned char *)text, len, id, rcpts, 0, &w, &wlen,
	    err) == -1)
		goto out;
	rc = agent_submit(an, TMAIL_SERVICE, address, (char *const *)&to, 1,
	    msgid, w, wlen, err);
out:
	free(msgid);
	free(text);
	free(w);
	return rc;
}

/*
 * Is the courier CA key that issued signer the one that issued own?
 * The root courier's CA is a trust anchor, which the certificates a
 * message carries may leave out; its own agents have it in their
 * chain, so the signer's CA is looked for there too (a signature by a
 * courier CA of ownchain is the proof either way).
 */
static int
same_issuer(X509 *signer, STACK_OF(X509) *certs, X509 *own,
    STACK_OF(X509) *ownchain)
{
	X509 *ca = pki_courier_ca(signer, certs);
	X509 *mine = pki_courier_ca(own, ownchain);

	if (ca == NULL)
		ca = pki_courier_ca(signer, ownchain);

	return ca != NULL && mine != NULL &&
	    EVP_PKEY_eq(X509_get0_pubkey(ca), X509_get0_pubkey(mine)) == 1;
}

/* What agent_check_content() hands each old generation. */
struct mail_old {
	X509		*mo_signer;
	STACK_OF(X509)	*mo_certs;
};

/* store_old_each(): 1 when signer is of the old generation's courier. */
static int
mail_old_courier(const struct store_old *so, void *arg)
{
	struct mail_old *mo = arg;
	STACK_OF(X509) *chain = NULL;
	X509 *x;
	char why[TN_ERRLEN];
	int same = 0;

	if ((x = pki_parse_cert(so->so_cert, strlen(so->so_cert), why)) !=
	    NULL && (so->so_chain == NULL || *so->so_chain == '\0' ||
	    (chain = pki_parse_certs(so->so_chain, strlen(so->so_chain),
	    why)) != NULL))
		same = same_issuer(mo->mo_signer, mo->mo_certs, x, chain);
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	return same;
}

int
agent_check_content(struct store *st, const struct pki_trust *trust,
    X509 *signer, STACK_OF(X509) *certs, X509 *own, STACK_OF(X509) *ownchain,
    char *err)
{
	struct mail_old mo;
	char why[TN_ERRLEN];
	int rc;

	if ((rc = agent_check_element(trust, signer, certs, PKI_KIND_FG, own,
	    ownchain, err)) != AGENT_EX_COURIER ||
	    pki_cert_kind(signer) != PKI_KIND_FG)
		return rc;
	mo.mo_signer = signer;
	mo.mo_certs = certs;
	return store_old_each(st, mail_old_courier, &mo, why) == 1 ? 0 : rc;
}

int
agent_check_element(const struct pki_trust *trust, X509 *signer,
    STACK_OF(X509) *certs, enum pki_kind kind, X509 *own,
    STACK_OF(X509) *ownchain, char *err)
{
	char why[TN_ERRLEN];

	if (pki_verify(trust, signer, certs, NULL, why) == -1) {
		tn_err(err, "refused: signer not certified to the root: %s",
		    why);
		return AGENT_EX_UNTRUSTED;
	}
	if (pki_cert_kind(signer) != kind) {
		tn_err(err, "refused: signer is a %s certificate, not the "
		    "courier's %s element", pki_kind_name(pki_cert_kind(signer)),
		    kind == PKI_KIND_FG ? "foreground" : "background");
		return AGENT_EX_COURIER;
	}
	if (own != NULL && !same_issuer(signer, certs, own, ownchain)) {
		tn_err(err, "refused: signer is an element of another "
		    "courier");
		return AGENT_EX_COURIER;
	}
	return 0;
}

/* The domain of an address, or "". */
static const char *
mail_domain(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : "";
}

int
agent_check_author(X509 *signer, STACK_OF(X509) *certs, const char *sender,
    const struct cms_id *own, char *err)
{
	enum pki_kind kind = pki_cert_kind(signer);
	X509 *ca;
	char *mine = NULL;
	int rc = AGENT_EX_SENDER;

	if (kind != PKI_KIND_AGENT) {
		tn_err(err, "refused: the content is signed by a %s "
		    "certificate, not by a user's agent", pki_kind_name(kind));
		return rc;
	}
	if (sender == NULL || X509_check_email(signer, sender, strlen(sender),
	    0) != 1) {
		tn_err(err, "refused: the content's signer is not the sender "
		    "%s", sender != NULL ? sender : "(none)");
		return rc;
	}
	if (own == NULL || own->ci_cert == NULL ||
	    (mine = pki_cert_email(own->ci_cert)) == NULL ||
	    strcasecmp(mail_domain(mine), mail_domain(sender)) != 0 ||
	    (ca = pki_courier_ca(own->ci_cert, own->ci_chain)) == NULL ||
	    pki_cert_role(ca) != PKI_ROLE_PRIVATE) {
		free(mine);
		return 0;
	}
	free(mine);
	if (!same_issuer(signer, certs, own->ci_cert, own->ci_chain)) {
		tn_err(err, "refused: %s is certified by another courier than "
		    "the private courier of %s", sender, mail_domain(sender));
		return rc;
	}
	return 0;
}

struct pki_trust *
agent_trust(const char *dir, char *err)
{
	char path[1024];

	if (store_path(dir, "anchors.pem", path, sizeof(path)) == -1) {
		tn_err(err, "%s: path too long", dir);
		return NULL;
	}
	return pki_trust_load(path, err);
}
