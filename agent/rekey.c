/*
 * NAME
 *	rekey.c - key replacement, the agent's side (doc/flows.md 8)
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	agent_unwrap(struct store *st, const char *pass,
 *		    const struct cms_id *id, X509_STORE *store,
 *		    const unsigned char *in, size_t inlen,
 *		    unsigned char **out, size_t *outlen, X509 **signer,
 *		    STACK_OF(X509) **certs, enum cms_fail *fail, char *err);
 *	int	agent_old_id(struct store *st, const char *pass,
 *		    unsigned long gen, struct cms_id *id, char *err);
 *	int	rekey_notice(struct agent_session *as,
 *		    const struct proto_msg *pm, char *err);
 *	int	rekey_answer(struct agent_session *as,
 *		    const struct proto_msg *pm, X509 *signer, char *err);
 *	int	rekey_pending(struct agent_session *as, char *err);
 * DESCRIPTION
 *	agent_unwrap() is cms_unwrap() with the agent's identity id and,
 *	when that cannot decrypt (CMS_FAIL_DECRYPT), with each old
 *	generation's key and certificate of the store (newest first, each
 *	key decrypted with pass): what was wrapped to a certificate a
 *	rekey replaced still opens. Old keys only ever decrypt: nothing
 *	is signed or sent with them. Results and ownership as
 *	cms_unwrap(); a failure is the one of the current identity.
 *	agent_old_id() fills id (to free with agent_free_id()) with old
 *	generation gen of the store, its key decrypted with pass: the
 *	identity a fetch from a courier the agent left presents there.
 *
 *	fetch (fetch.c) gives the next two what its background relays
 *	from the foreground, once the wrap is known to be signed by the
 *	FG element of the agent's own courier. Both return 0 when the
 *	item is done with (to be deleted from the mailbox), else an exit
 *	status with err, and the item is left.
 *
 *	rekey_notice() takes a notice-to-rekey: for the agent's address
 *	and for the generation after its own (config "generation", 1
 *	when absent). It makes the next key (agent_next_key(): a notice
 *	seen again reuses it) and mails exchange-keys (Address,
 *	Generation, part agent-csr), wrapped with the current key to the
 *	current courier-end certificate, to the courier's service mailbox
 *	(agent_mail_courier()), and prints "rekey: asked for generation
 *	N". A notice for a generation the agent has already is said on
 *	standard error and done with; another generation or another
 *	address is refused (EX_DATAERR).
 *
 *	A notice naming another courier (Courier, Foreground-Address,
 *	Background-Url, part ca-chain: a registration transfer,
 *	doc/flows.md 9 step 7) is taken when its ca-chain verifies to the
 *	anchors as an FG element certificate of that Courier for that
 *	Foreground-Address (else EX_DATAERR, or AGENT_EX_UNTRUSTED when
 *	it does not verify). The agent makes its next key for the
 *	Generation the notice gives (the one after its own, as for a
 *	rekey: generations go on across a transfer), remembers
 *	the transfer in its store (transfer-courier, transfer-fg,
 *	transfer-bg, transfer-chain), mails exchange-keys signed with the
 *	current key and wrapped to the new FG element certificate, to
 *	Foreground-Address (agent_mail_to()), and prints "transfer: asked
 *	COURIER for generation N". fetch then also fetches from the new
 *	courier's background (fetch.c), whose answer rekey_answer() takes
 *	as any other, offered there; once installed (rekey_moved()) the
 *	new background and service mailbox are the agent's, and
 *	rekeying-complete goes wrapped to the new FG element.
 *
 *	rekey_answer() takes the courier's exchange-keys answer for the
 *	generation asked for (config "next-generation"), checks it
 *	(agent_check_keys(): an agent certificate of the next key's
 *	public key, a courier-end certificate, for the address, under
 *	the same CA key), offers the new agent certificate to the
 *	background (POST /v1/rekey, the certificate's PEM, over TLS with
 *	the current identity: only 200 goes on; a 4xx but 408 and 429 is
 *	AGENT_EX_REFUSED, anything else EX_TEMPFAIL), then installs it
 *	(store_rekey_install(): the current generation is kept for
 *	reading), makes the session use it (agent_session_reload(), TLS
 *	included) and prints "rekey: now at generation N". It then mails
 *	rekeying-complete (Address, Generation) with the new key to the
 *	new courier-end certificate. Should that fail, it is said, the
 *	status is the fetch's at its end (as_later), and rekey_pending()
 *	sends it again at the next fetch; but a permanent refusal by the
 *	mail server (a 5xx: AGENT_EX_REFUSED) is said with the server's
 *	reply ("the courier refused rekeying-complete for generation N
 *	for good: REPLY; it is not sent again: its operator must look
 *	into it") and it is owed no longer: that fetch alone ends with
 *	that status. An answer for a generation the agent has is said
 *	and done with.
 *
 *	rekey_pending() sends the rekeying-complete still owed (config
 *	"rekey-complete-pending"), if any, as above, saying it when it
 *	went ("rekeying-complete for generation N sent"): fetch calls it
 *	first. It returns EX_SOFTWARE with err when the store cannot be
 *	read, else 0 (a failure to send is in as_later).
 * DIAGNOSTICS
 *	As above; messages about items go to standard error by fetch.
 */
#include <openssl/pem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include "tandem.h"
#include "cms.h"
#include "pki.h"
#include "intro.h"
#include "proto.h"
#include "agent.h"

/* What agent_unwrap() hands each old generation. */
struct rekey_try {
	const char		*rt_pass;
	X509_STORE		*rt_store;
	const unsigned char	*rt_in;
	size_t			 rt_inlen;
	unsigned char		**rt_out;
	size_t			*rt_outlen;
	X509			**rt_signer;
	STACK_OF(X509)		**rt_certs;
	enum cms_fail		 rt_fail;
	char			 rt_why[TN_ERRLEN];
};

/* An old generation's identity, its key decrypted with pass. */
static int
rekey_old_id(const struct store_old *so, const char *pass,
    struct cms_id *id, char *err)
{
	memset(id, 0, sizeof(*id));
	if ((id->ci_cert = pki_parse_cert(so->so_cert, strlen(so->so_cert),
	    err)) == NULL ||
	    (so->so_chain != NULL && *so->so_chain != '\0' &&
	    (id->ci_chain = pki_parse_certs(so->so_chain,
	    strlen(so->so_chain), err)) == NULL) ||
	    (id->ci_key = pki_parse_key(so->so_key, strlen(so->so_key),
	    pass, err)) == NULL) {
		agent_free_id(id);
		return -1;
	}
	return 0;
}

/* store_old_each(): 1 when this old generation opened it. */
static int
rekey_try_old(const struct store_old *so, void *arg)
{
	struct rekey_try *rt = arg;
	struct cms_id id;
	int ok;

	if (rekey_old_id(so, rt->rt_pass, &id, rt->rt_why) == -1)
		return 0;
	ok = cms_unwrap(rt->rt_in, rt->rt_inlen, &id, rt->rt_store,
	    rt->rt_out, rt->rt_outlen, rt->rt_signer, rt->rt_certs,
	    &rt->rt_fail, rt->rt_why) == 0;
	agent_free_id(&id);
	return ok;
}

/* What agent_old_id() hands store_old_each(). */
struct rekey_find {
	unsigned long	 rf_generation;
	const char	*rf_pass;
	struct cms_id	*rf_id;
	int		 rf_bad;
	char		 rf_why[TN_ERRLEN];
};

static int
rekey_find_old(const struct store_old *so, void *arg)
{
	struct rekey_find *rf = arg;

	if (so->so_generation != rf->rf_generation)
		return 0;
	rf->rf_bad = rekey_old_id(so, rf->rf_pass, rf->rf_id,
	    rf->rf_why) == -1;
	return 1;
}

int
agent_old_id(struct store *st, const char *pass, unsigned long gen,
    struct cms_id *id, char *err)
{
	struct rekey_find rf;

	memset(&rf, 0, sizeof(rf));
	rf.rf_generation = gen;
	rf.rf_pass = pass;
	rf.rf_id = id;
	switch (store_old_each(st, rekey_find_old, &rf, err)) {
	case -1:
		return -1;
	case 1:
		if (!rf.rf_bad)
			return 0;
		tn_err(err, "generation %lu: %s", gen, rf.rf_why);
		return -1;
	default:
		tn_err(err, "generation %lu is not in the store", gen);
		return -1;
	}
}

int
agent_unwrap(struct store *st, const char *pass, const struct cms_id *id,
    X509_STORE *store, const unsigned char *in, size_t inlen,
    unsigned char **out, size_t *outlen, X509 **signer,
    STACK_OF(X509) **certs, enum cms_fail *fail, char *err)
{
	struct rekey_try rt;

	if (cms_unwrap(in, inlen, id, store, out, outlen, signer, certs,
	    fail, err) == 0)
		return 0;
	if (*fail != CMS_FAIL_DECRYPT || pass == NULL)
		return -1;
	memset(&rt, 0, sizeof(rt));
	rt.rt_pass = pass;
	rt.rt_store = store;
	rt.rt_in = in;
	rt.rt_inlen = inlen;
	rt.rt_out = out;
	rt.rt_outlen = outlen;
	rt.rt_signer = signer;
	rt.rt_certs = certs;
	if (store_old_each(st, rekey_try_old, &rt, rt.rt_why) != 1)
		return -1;	/* the current identity's failure */
	*fail = CMS_FAIL_NONE;
	return 0;
}

/* The generation in use: config "generation", 1 when absent (import). */
static int
rekey_have(struct agent_session *as, unsigned long *have, char *err)
{
	char *g = NULL;

	if (store_get(as->as_st, "generation", &g, err) == -1)
		return EX_SOFTWARE;
	*have = g != NULL ? strtoul(g, NULL, 10) : 1;
	free(g);
	return 0;
}

/*
 * The checks both kinds share: for this address, and the generation
 * wanted (*want) is after the one in use (*have). 0 with *done set
 * when the agent has it already (said), else an exit status.
 */
static int
rekey_common(struct agent_session *as, const struct proto_msg *pm,
    unsigned long *have, unsigned long *want, int *done, char *err)
{
	const char *kind = proto_kind_name(pm->pm_kind);
	int rc;

	*done = 0;
	if (strcasecmp(proto_get(pm, "Address"), as->as_address) != 0) {
		tn_err(err, "refused: %s for %s, not %s", kind,
		    proto_get(pm, "Address"), as->as_address);
		return EX_DATAERR;
	}
	if ((rc = rekey_have(as, have, err)) != 0)
		return rc;
	*want = strtoul(proto_get(pm, "Generation"), NULL, 10);
	if (*want <= *have) {
		fprintf(stderr, "tandem fetch: %s for generation %lu: already "
		    "at generation %lu\n", kind, *want, *have);
		*done = 1;
	}
	return 0;
}

/*
 * The new courier's foreground, as the notice of a transfer gives it
 * (part ca-chain): an FG element certificate to the anchors, of the
 * Courier named, for the Foreground-Address named. The certificate
 * alone in *fg (to free with sk_X509_pop_free()).
 */
static int
rekey_new_fg(struct agent_session *as, const struct proto_msg *pm,
    STACK_OF(X509) **fg, char *err)
{
	const struct proto_part *pp = proto_part(pm, "ca-chain");
	const char *courier = proto_get(pm, "Courier");
	const char *mailbox = proto_get(pm, "Foreground-Address");
	STACK_OF(X509) *certs;
	struct intro *in = NULL;
	X509 *leaf = NULL;
	char why[TN_ERRLEN];
	int rc = EX_DATAERR;

	*fg = NULL;
	if ((certs = pki_parse_certs((const char *)pp->pp_data, pp->pp_len,
	    why)) == NULL || (leaf = sk_X509_shift(certs)) == NULL) {
		tn_err(err, "refused: notice-to-rekey for a transfer to %s: "
		    "ca-chain: %s", courier, certs == NULL ? why :
		    "no certificate");
		goto out;
	}
	if (intro_check(as->as_trust, leaf, certs, PKI_KIND_FG, &in,
	    why) == -1) {
		tn_err(err, "refused: notice-to-rekey for a transfer to %s: "
		    "its foreground does not verify: %s", courier, why);
		rc = AGENT_EX_UNTRUSTED;
		goto out;
	}
	if (strcasecmp(in->in_courier, courier) != 0 ||
	    strcasecmp(in->in_endpoint, mailbox) != 0) {
		tn_err(err, "refused: notice-to-rekey for a transfer to %s at "
		    "%s, but its ca-chain is the foreground of %s at %s",
		    courier, mailbox, in->in_courier, in->in_endpoint);
		goto out;
	}
	if ((*fg = sk_X509_new_null()) == NULL || sk_X509_push(*fg, leaf) ==
	    0) {
		tn_err(err, "out of memory");
		rc = EX_SOFTWARE;
		goto out;
	}
	leaf = NULL;
	rc = 0;
out:
	if (rc != 0) {
		sk_X509_pop_free(*fg, X509_free);
		*fg = NULL;
	}
	intro_free(in);
	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/*
 * The next key for gen (agent_next_key(): made once, reused), asked of
 * the courier by exchange-keys with its CSR: to mailbox, wrapped to fg,
 * for a transfer's new courier; else to the agent's own courier.
 */
static int
rekey_ask(struct agent_session *as, const char *gen, const char *mailbox,
    STACK_OF(X509) *fg, char *err)
{
	struct proto_msg *ek = NULL;
	char *csr = NULL;
	int rc = EX_SOFTWARE;

	if (agent_next_key(as->as_st, as->as_address, gen, as->as_pass, &csr,
	    err) == -1)
		goto out;
	if ((ek = proto_msg_new(PROTO_EXCHANGE_KEYS)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (proto_attach(ek, "agent-csr", csr, strlen(csr), err) == -1)
		goto out;
	rc = mailbox != NULL ? agent_mail_to(as->as_net, &as->as_id,
	    as->as_address, mailbox, fg, ek, gen, err) :
	    agent_mail_courier(as->as_net, as->as_st, &as->as_id,
	    as->as_address, as->as_rcpts, ek, gen, err);
out:
	proto_msg_free(ek);
	free(csr);
	return rc;
}

/*
 * A notice naming another courier (doc/flows.md 9 step 7): signed by
 * this agent's courier (fetch checked it), for its address and the
 * generation after its own (rekey_notice() checked them), with the new
 * courier's foreground. The next key is asked of that foreground,
 * wrapped to its element certificate; the transfer is remembered
 * (transfer-courier, transfer-fg, transfer-bg, transfer-chain).
 */
static int
rekey_transfer(struct agent_session *as, const struct proto_msg *pm,
    char *err)
{
	const char *courier = proto_get(pm, "Courier");
	const char *mailbox = proto_get(pm, "Foreground-Address");
	const char *gen = proto_get(pm, "Generation");
	const struct proto_part *chain = proto_part(pm, "ca-chain");
	STACK_OF(X509) *fg = NULL;
	int rc;

	if ((rc = rekey_new_fg(as, pm, &fg, err)) != 0)
		return rc;
	rc = EX_SOFTWARE;
	if (store_put(as->as_st, "transfer-courier", courier, err) == -1 ||
	    store_put(as->as_st, "transfer-fg", mailbox, err) == -1 ||
	    store_put(as->as_st, "transfer-bg", proto_get(pm,
	    "Background-Url"), err) == -1 ||
	    store_put(as->as_st, "transfer-chain", (const char *)
	    chain->pp_data, err) == -1 ||
	    (proto_get(pm, "Deadline") != NULL && store_put(as->as_st,
	    "transfer-deadline", proto_get(pm, "Deadline"), err) == -1))
		goto out;
	if ((rc = rekey_ask(as, gen, mailbox, fg, err)) == 0)
		printf("transfer: asked %s for generation %s\n", courier, gen);
out:
	sk_X509_pop_free(fg, X509_free);
	return rc;
}

int
rekey_notice(struct agent_session *as, const struct proto_msg *pm,
    char *err)
{
	unsigned long have, want;
	char gen[24];
	int rc, done;

	if ((rc = rekey_common(as, pm, &have, &want, &done, err)) != 0 ||
	    done)
		return rc;
	if (want != have + 1) {
		tn_err(err, "refused: notice-to-rekey for generation %lu, but "
		    "this agent is at generation %lu", want, have);
		return EX_DATAERR;
	}
	if (proto_get(pm, "Courier") != NULL)
		return rekey_transfer(as, pm, err);
	snprintf(gen, sizeof(gen), "%lu", want);
	if ((rc = rekey_ask(as, gen, NULL, NULL, err)) == 0)
		printf("rekey: asked for generation %s\n", gen);
	return rc;
}

/* The next key's public half (config next-pubkey), or NULL. */
static EVP_PKEY *
rekey_next_pub(struct agent_session *as, const char *gen, char *err)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	char *have = NULL, *pub = NULL;

	if (store_get(as->as_st, "next-generation", &have, err) == -1 ||
	    store_get(as->as_st, "next-pubkey", &pub, err) == -1)
		goto out;
	if (have == NULL || strcmp(have, gen) != 0 || pub == NULL) {
		tn_err(err, "refused: exchange-keys for generation %s, which "
		    "this agent did not ask for", gen);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pub, -1)) == NULL ||
	    (pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL)
		tn_err_ssl(err, "the next public key is unreadable");
out:
	BIO_free(bio);
	free(have);
	free(pub);
	return pk;
}

/* POST /v1/rekey: the background has the offer only on 200. */
static int
rekey_offer(struct agent_session *as, const char *pem, char *err)
{
	unsigned char *resp = NULL;
	size_t len;
	long status;
	int rc = EX_TEMPFAIL;

	if (net_https_pem(as->as_net, "/v1/rekey", pem, &status, &resp, &len,
	    err) == -1)
		goto out;
	if (status == 200) {
		rc = 0;
		goto out;
	}
	resp[strcspn((char *)resp, "\r\n")] = '\0';
	tn_err(err, "the background did not take the new certificate "
	    "(POST /v1/rekey: %ld %.120s); it stays at the old generation",
	    status, (char *)resp);
	if (status >= 400 && status < 500 && status != 408 && status != 429)
		rc = AGENT_EX_REFUSED;
out:
	free(resp);
	return rc;
}

/*
 * Mail rekeying-complete for gen with the session's (new) identity;
 * again: it was owed by an earlier fetch. Taken, or refused for good
 * (a 5xx), it is owed no longer; a refusal, or any other failure, is
 * said and its status kept for the end of the fetch (as_later).
 */
static void
rekey_complete(struct agent_session *as, const char *gen, int again)
{
	struct proto_msg *pm = NULL;
	STACK_OF(X509) *fg = NULL;
	char why[TN_ERRLEN], *pem = NULL;
	int rc = EX_SOFTWARE;

	/* After a transfer: to the new FG element, as the exchange-keys. */
	if (store_get(as->as_st, "rekey-complete-fg", &pem, why) == -1 ||
	    (pem != NULL && (fg = pki_parse_certs(pem, strlen(pem),
	    why)) == NULL))
		;
	else if ((pm = proto_msg_new(PROTO_REKEYING_COMPLETE)) == NULL)
		tn_err(why, "out of memory");
	else
		rc = agent_mail_courier(as->as_net, as->as_st, &as->as_id,
		    as->as_address, fg != NULL ? fg : as->as_rcpts, pm, gen,
		    why);
	proto_msg_free(pm);
	sk_X509_pop_free(fg, X509_free);
	free(pem);
	if ((rc == 0 || rc == AGENT_EX_REFUSED) &&
	    (store_del(as->as_st, "rekey-complete-pending", why) == -1 ||
	    store_del(as->as_st, "rekey-complete-fg", why) == -1)) {
		fprintf(stderr, "tandem fetch: %s\n", why);
		rc = EX_SOFTWARE;
	} else if (rc == 0 && again)
		fprintf(stderr, "tandem fetch: rekeying-complete for "
		    "generation %s sent\n", gen);
	else if (rc == AGENT_EX_REFUSED)
		fprintf(stderr, "tandem fetch: the courier refused "
		    "rekeying-complete for generation %s for good: %s; it is "
		    "not sent again: its operator must look into it (this "
		    "agent now uses generation %s)\n", gen, why, gen);
	else if (rc != 0)
		fprintf(stderr, "tandem fetch: rekeying-complete for "
		    "generation %s not sent: %s; it is sent again at the "
		    "next fetch\n", gen, why);
	if (as->as_later == 0)
		as->as_later = rc;
}

int
rekey_pending(struct agent_session *as, char *err)
{
	char *gen = NULL;

	if (store_get(as->as_st, "rekey-complete-pending", &gen, err) == -1)
		return EX_SOFTWARE;
	if (gen != NULL)
		rekey_complete(as, gen, 1);
	free(gen);
	return 0;
}

/*
 * What a transfer moves with the keys of its new courier
 * (store_rekey_install() sets it in the same transaction): that
 * courier's background and service mailbox become the agent's, the
 * transfer is over, and rekeying-complete goes wrapped to the new FG
 * element (the account has no courier-end certificate there before it
 * is taken). rm gets the NAME, VALUE list (rm_also) and what it
 * points to; free it with rekey_moved_free().
 */
struct rekey_move {
	char		*rm_courier;
	char		*rm_fg;
	char		*rm_bg;
	char		*rm_pem;
	char		 rm_gen[24];	/* the generation it leaves */
	char		 rm_now[24];
	const char	*rm_also[23];
};

static void
rekey_moved_free(struct rekey_move *rm)
{
	free(rm->rm_courier);
	free(rm->rm_fg);
	free(rm->rm_bg);
	free(rm->rm_pem);
	memset(rm, 0, sizeof(*rm));
}

static int
rekey_moved(struct agent_session *as, struct rekey_move *rm, char *err)
{
	const char **a = rm->rm_also;
	unsigned long have;
	size_t len;
	int rc;

	memset(rm, 0, sizeof(*rm));
	if ((rc = rekey_have(as, &have, err)) != 0)
		return rc;
	snprintf(rm->rm_gen, sizeof(rm->rm_gen), "%lu", have);
	snprintf(rm->rm_now, sizeof(rm->rm_now), "%lld",
	    (long long)time(NULL));
	if (store_get(as->as_st, "transfer-courier", &rm->rm_courier,
	    err) == -1 || store_get(as->as_st, "transfer-fg", &rm->rm_fg,
	    err) == -1 || store_get(as->as_st, "transfer-bg", &rm->rm_bg,
	    err) == -1 || pki_cert_pem(as->as_tr_fg, &rm->rm_pem, &len,
	    err) == -1)
		return EX_SOFTWARE;
	if (rm->rm_courier == NULL || rm->rm_fg == NULL || rm->rm_bg == NULL) {
		tn_err(err, "the transfer in the store is incomplete");
		return EX_SOFTWARE;
	}
	*a++ = "rekey-complete-fg";	*a++ = rm->rm_pem;
	*a++ = "bg-url";		*a++ = rm->rm_bg;
	*a++ = "register-address";	*a++ = rm->rm_fg;
	*a++ = "transfer-bg";		*a++ = NULL;
	*a++ = "transfer-chain";	*a++ = NULL;
	*a++ = "transfer-fg";		*a++ = NULL;
	*a++ = "transfer-courier";	*a++ = NULL;
	*a++ = "transfer-deadline";	*a++ = NULL;
	/* What the courier it leaves still holds: fetch.c, fetch_left(). */
	*a++ = "left-bg";		*a++ = as->as_tr_back;
	*a++ = "left-generation";	*a++ = rm->rm_gen;
	*a++ = "left-since";		*a++ = rm->rm_now;
	*a = NULL;
	return 0;
}

/* Keep the old generation, make the new one current, tell the FG. */
static int
rekey_install(struct agent_session *as, const struct proto_msg *pm,
    const char *cert, const char *gen, char *err)
{
	const struct proto_part *ch = proto_part(pm, "ca-chain");
	const struct proto_part *cc = proto_part(pm, "courier-cert");
	struct rekey_move rm;
	int rc;

	memset(&rm, 0, sizeof(rm));
	if (as->as_tr_fg != NULL && (rc = rekey_moved(as, &rm, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if (store_rekey_install(as->as_st, gen, cert, ch != NULL ?
	    (const char *)ch->pp_data : NULL, (const char *)cc->pp_data,
	    as->as_tr_fg != NULL ? rm.rm_also : NULL, err) == -1)
		goto out;
	if ((rc = agent_session_reload(as, err)) != 0)
		goto out;
	printf("rekey: now at generation %s\n", gen);
	if (as->as_tr_fg != NULL)
		printf("transfer: now with %s (background %s)\n",
		    rm.rm_courier, rm.rm_bg);
	rekey_complete(as, gen, 0);
	rc = 0;
out:
	rekey_moved_free(&rm);
	return rc;
}

int
rekey_answer(struct agent_session *as, const struct proto_msg *pm,
    X509 *signer, char *err)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *next = NULL;
	X509 *x = NULL;
	unsigned long have, want;
	char gen[24], *cert = NULL;
	size_t len;
	int rc, done;

	if ((rc = rekey_common(as, pm, &have, &want, &done, err)) != 0 ||
	    done)
		return rc;
	rc = EX_DATAERR;
	if (proto_part(pm, "agent-cert") == NULL ||
	    proto_part(pm, "courier-cert") == NULL) {
		tn_err(err, "refused: exchange-keys: not the courier's answer");
		goto out;
	}
	snprintf(gen, sizeof(gen), "%lu", want);
	if ((next = rekey_next_pub(as, gen, err)) == NULL)
		goto out;
	if ((rc = agent_check_keys(as->as_trust, as->as_address, next, pm,
	    signer, &chain, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if ((x = agent_part_cert(pm, "agent-cert", err)) == NULL ||
	    pki_cert_pem(x, &cert, &len, err) == -1)
		goto out;
	if ((rc = rekey_offer(as, cert, err)) != 0)
		goto out;
	rc = rekey_install(as, pm, cert, gen, err);
out:
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(next);
	X509_free(x);
	free(cert);
	return rc;
}
