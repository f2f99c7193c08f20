/*
 * NAME
 *	fetch.c - "tandem fetch": the ARMs waiting at the background
 * DESCRIPTION
 *	GET BG/v1/mailbox lists "ID MESSAGE-ID" lines. For each, GET
 *	BG/v1/mailbox/ID, unwrap it with the agent's key, check that the
 *	signer is the background element of the agent's own courier
 *	(chaining to the anchors), parse the ARM record, check it is the
 *	message listed and that this agent is one of its recipients,
 *	store it (store_arm_put(), a known id is kept as it is), and
 *	only then DELETE BG/v1/mailbox/ID. Running it twice does no
 *	harm. A refused ARM is reported and left at the background.
 *	Prints one line per ARM stored: "MESSAGE-ID".
 *	An item may instead be a receipt for a message this agent sent
 *	(Message-Id as listed), signed by the same background:
 *	agent_receipt() (status.c) checks that its Sender is the agent,
 *	records what happened at one recipient in the store and, unless
 *	it was recorded already, says it on standard error ("M was not
 *	delivered to R: its courier refused it: REASON" when a peer
 *	refused it for good; "M to R: revoked: REASON" after "tandem
 *	revoke"), then the item is deleted.
 *	An item may also be a revoke of a message this agent received,
 *	passed on by the same background: revoke_apply() (revoke.c)
 *	deletes the ARM's key and marks the message revoked.
 *	The background also relays what the foreground element of the
 *	agent's own courier sends it for a rekey (doc/flows.md 8): an
 *	item signed by that FG element (the same checks, kind FG) is a
 *	notice-to-rekey (rekey_notice()) or the courier's exchange-keys
 *	answer (rekey_answer(), rekey.c); anything else signed by the FG,
 *	or a notice or answer signed by the BG, is refused
 *	(AGENT_EX_COURIER) and left. Each wrap is opened with the
 *	current key, or an old generation's (agent_unwrap()). Before
 *	anything else, a rekeying-complete still owed is mailed
 *	(rekey_pending()); if it fails again that is said, the items are
 *	fetched all the same, and the exit status is its failure's. The
 *	mail server's permanent refusal of it (a 5xx) is said once, with
 *	the server's reply, and it is not sent again (AGENT_EX_REFUSED
 *	for that fetch only).
 *	Then each read receipt still owed (a "tandem read" that could not
 *	reach the background) is sent (restrict_receipts(), restrict.c).
 *	With --maildir DIR, then, each private message that can now be
 *	opened goes into the Maildir DIR once (agent_deliver(),
 *	deliver.c), even when the background could not be reached.
 * DIAGNOSTICS
 *	Messages on standard error; exit statuses in tandem(1): the
 *	first failure decides, after every ARM was tried. A listing that
 *	is not "ID MESSAGE-ID" lines is refused as a whole (EX_PROTOCOL).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "pki.h"
#include "proto.h"
#include "agent.h"

#define FETCH_MAX_ID	64

static int
fetch_status(long status, const unsigned char *resp, const char *what,
    char *err)
{
	tn_err(err, "%s: %ld %.120s", what, status, (const char *)resp);
	return status >= 400 && status < 500 && status != 408 &&
	    status != 429 ? AGENT_EX_REFUSED : EX_TEMPFAIL;
}

static int
fetch_is_rcpt(const struct arm_record *ar, const char *address)
{
	size_t i;

	for (i = 0; i < ar->ar_nrcpts; i++)
		if (strcasecmp(ar->ar_rcpts[i], address) == 0)
			return 1;
	return 0;
}

/*
 * A receipt for one of this agent's messages: what happened at a
 * recipient (the background files one when a peer refuses the message
 * for good, and one per recipient after a revocation). It must be for
 * the message listed; agent_receipt() records it and says it.
 */
static int
fetch_receipt(struct agent_session *as, const struct proto_msg *pm,
    const char *msgid, char *err)
{
	if (strcmp(proto_get(pm, "Message-Id"), msgid) != 0) {
		tn_err(err, "listed as %s but the receipt is for %s", msgid,
		    proto_get(pm, "Message-Id"));
		return EX_DATAERR;
	}
	return agent_receipt(as->as_st, as->as_address, pm, "tandem fetch",
	    err);
}

/*
 * An item signed by the FG element of the agent's own courier, which
 * the background relays: a notice-to-rekey, or the courier's
 * exchange-keys answer (rekey.c). Anything else from the FG is refused.
 */
static int
fetch_from_fg(struct agent_session *as, const unsigned char *text,
    size_t len, X509 *signer, char *err)
{
	struct proto_msg *pm = NULL;
	char why[TN_ERRLEN];
	int rc = AGENT_EX_COURIER;

	if (proto_parse((const char *)text, len, &pm, why) == -1 ||
	    (pm->pm_kind != PROTO_NOTICE_TO_REKEY &&
	    pm->pm_kind != PROTO_EXCHANGE_KEYS)) {
		tn_err(err, "refused: %s signed by the foreground element, not "
		    "the courier's background element (from the foreground, "
		    "only a notice-to-rekey or an exchange-keys answer)",
		    pm != NULL ? proto_kind_name(pm->pm_kind) : "an item");
		goto out;
	}
	if (as->as_tr_fg != NULL && pm->pm_kind != PROTO_EXCHANGE_KEYS) {
		tn_err(err, "refused: a %s from the new courier; before the "
		    "transfer completes only its exchange-keys answer is "
		    "taken", proto_kind_name(pm->pm_kind));
		goto out;
	}
	rc = pm->pm_kind == PROTO_NOTICE_TO_REKEY ?
	    rekey_notice(as, pm, err) : rekey_answer(as, pm, signer, err);
out:
	proto_msg_free(pm);
	return rc;
}

/*
 * One mailbox item: unwrapped with the agent's key (or an old
 * generation's), signed by the background element of the agent's own
 * courier, or by its foreground element (fetch_from_fg()). An ARM
 * record for this agent goes into *text (to be stored); a receipt is
 * said at once (*text stays NULL).
 */
static int
fetch_check(struct agent_session *as, const unsigned char *der, size_t len,
    const char *msgid, char **text, char *err)
{
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	struct proto_msg *pm = NULL;
	struct arm_record *ar = NULL;
	unsigned char *out = NULL;
	size_t outlen;
	enum cms_fail fail;
	enum pki_kind kind;
	char why[TN_ERRLEN];
	int rc;

	if (agent_unwrap(as->as_st, as->as_pass, &as->as_id,
	    pki_trust_store(as->as_trust), der, len, &out, &outlen, &signer,
	    &certs, &fail, err) == -1) {
		rc = fail == CMS_FAIL_CHAIN ? AGENT_EX_UNTRUSTED :
		    fail == CMS_FAIL_INTERNAL ? EX_SOFTWARE : EX_DATAERR;
		goto out;
	}
	kind = pki_cert_kind(signer) == PKI_KIND_FG ? PKI_KIND_FG :
	    PKI_KIND_BG;
	/* At a transfer's new courier, its elements are the ones to be. */
	if ((rc = agent_check_element(as->as_trust, signer, certs, kind,
	    as->as_tr_fg != NULL ? as->as_tr_fg : as->as_id.ci_cert,
	    as->as_tr_fg != NULL ? as->as_tr_chain : as->as_id.ci_chain,
	    err)) != 0)
		goto out;
	if (as->as_left && kind != PKI_KIND_BG) {
		tn_err(err, "refused: an item signed by the foreground of the "
		    "courier this agent left; only what its background "
		    "signed is taken there");
		rc = AGENT_EX_COURIER;
		goto out;
	}
	if (as->as_tr_fg != NULL && kind != PKI_KIND_FG) {
		tn_err(err, "refused: an item signed by the new courier's "
		    "background; before the transfer completes only its "
		    "foreground's exchange-keys answer is taken");
		rc = AGENT_EX_COURIER;
		goto out;
	}
	if (kind == PKI_KIND_FG) {
		rc = fetch_from_fg(as, out, outlen, signer, err);
		goto out;
	}
	rc = EX_DATAERR;
	if (arm_parse((char *)out, outlen, &ar, err) == -1) {
		/* Not an ARM: a receipt, a revoke, or what arm_parse() said. */
		if (proto_parse((char *)out, outlen, &pm, why) == 0 &&
		    pm->pm_kind == PROTO_RECEIPT)
			rc = fetch_receipt(as, pm, msgid, err);
		else if (pm != NULL && pm->pm_kind == PROTO_REVOKE)
			rc = revoke_apply(as, pm, msgid, err);
		else if (pm != NULL && (pm->pm_kind == PROTO_NOTICE_TO_REKEY ||
		    pm->pm_kind == PROTO_EXCHANGE_KEYS)) {
			tn_err(err, "refused: %s signed by the background "
			    "element, not the courier's foreground element; "
			    "nothing changed", proto_kind_name(pm->pm_kind));
			rc = AGENT_EX_COURIER;
		}
		goto out;
	}
	if (strcmp(ar->ar_msgid, msgid) != 0) {
		tn_err(err, "listed as %s but the ARM is for %s", msgid,
		    ar->ar_msgid);
		goto out;
	}
	if (!fetch_is_rcpt(ar, as->as_address)) {
		tn_err(err, "%s is not a recipient of %s", as->as_address,
		    msgid);
		goto out;
	}
	*text = (char *)out;
	out = NULL;
	rc = 0;
out:
	if (out != NULL)
		OPENSSL_cleanse(out, outlen);
	free(out);
	proto_msg_free(pm);
	arm_free(ar);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

static int
fetch_one(struct agent_session *as, const char *id, const char *msgid,
    char *err)
{
	unsigned char *resp = NULL;
	char path[FETCH_MAX_ID + 16], *text = NULL;
	size_t len;
	long status;
	int rc = EX_TEMPFAIL;

	snprintf(path, sizeof(path), "/v1/mailbox/%s", id);
	if (net_https(as->as_net, "GET", path, NULL, 0, &status, &resp, &len,
	    err) == -1)
		goto out;
	if (status == 404) {
		rc = 0;		/* gone meanwhile */
		goto out;
	}
	if (status != 200) {
		rc = fetch_status(status, resp, path, err);
		goto out;
	}
	if ((rc = fetch_check(as, resp, len, msgid, &text, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if (text != NULL && store_arm_put(as->as_st, msgid, text, err) == -1)
		goto out;
	free(resp);
	resp = NULL;
	rc = EX_TEMPFAIL;
	if (net_https(as->as_net, "DELETE", path, NULL, 0, &status, &resp,
	    &len, err) == -1)
		goto out;
	if (status != 204 && status != 200 && status != 404) {
		rc = fetch_status(status, resp, path, err);
		goto out;
	}
	if (text != NULL)
		printf("%s\n", msgid);
	rc = 0;
out:
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	free(text);
	free(resp);
	return rc;
}

static int
fetch_id_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= FETCH_MAX_ID &&
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-.") == n && id[0] != '.';
}

/* Each "ID MESSAGE-ID" line of the listing; the first failure wins. */
static int
fetch_list(struct agent_session *as, char *list, char *err)
{
	char *line, *next, *sp, why[TN_ERRLEN];
	int rc = 0, r;

	for (line = list; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (*line == '\0')
			continue;
		if ((sp = strchr(line, ' ')) == NULL ||
		    (*sp++ = '\0', !fetch_id_ok(line)) ||
		    !proto_valid_msgid(sp)) {
			tn_err(err, "mailbox listing: not \"ID MESSAGE-ID\" "
			    "lines");
			return EX_PROTOCOL;
		}
		r = fetch_one(as, line, sp, why);
		if (r != 0) {
			fprintf(stderr, "tandem fetch: %s\n", why);
			if (rc == 0) {
				rc = r;
				memcpy(err, why, TN_ERRLEN);
			}
		}
	}
	return rc;
}

/*
 * GET /v1/mailbox of the background the session points at now, then
 * each item it lists (fetch_list(), which says each failure). *status
 * is the answer (0 when none came). One of keep (0-terminated) is left
 * to the caller, with the first line of its text in err, and 0. Else 0
 * or an exit status with err; *said when every failure is said.
 */
static int
fetch_mailbox(struct agent_session *as, const char *what, const long *keep,
    long *status, int *said, char *err)
{
	unsigned char *resp = NULL;
	size_t len;
	int rc;

	*said = 0;
	*status = 0;
	if (net_https(as->as_net, "GET", "/v1/mailbox", NULL, 0, status,
	    &resp, &len, err) == -1)
		return EX_TEMPFAIL;
	for (; *keep != 0; keep++)
		if (*status == *keep) {
			resp[strcspn((char *)resp, "\r\n")] = '\0';
			tn_err(err, "%.120s", (char *)resp);
			free(resp);
			return 0;
		}
	if (*status != 200)
		rc = fetch_status(*status, resp, what, err);
	else {
		rc = fetch_list(as, (char *)resp, err);
		*said = rc != EX_PROTOCOL;
	}
	free(resp);
	return rc;
}

/*
 * The new courier's background refuses this agent past the deadline of
 * the notice (the transfer was cancelled there): the transfer is given
 * up, said, and the agent stays with its courier. 1 when given up.
 */
static int
fetch_transfer_late(struct agent_session *as, char *err)
{
	static const char *const names[] = { "transfer-bg", "transfer-chain",
	    "transfer-fg", "transfer-courier", "transfer-deadline" };
	char *deadline = NULL, *courier = NULL;
	time_t t;
	size_t i;
	int rc = 0;

	if (store_get(as->as_st, "transfer-deadline", &deadline, err) == -1 ||
	    deadline == NULL || proto_parse_time(deadline, &t) == -1 ||
	    t > time(NULL) ||
	    store_get(as->as_st, "transfer-courier", &courier, err) == -1)
		goto out;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (store_del(as->as_st, names[i], err) == -1)
			goto out;
	fprintf(stderr, "tandem fetch: the transfer to %s was not taken up "
	    "by its new courier before %s: given up; this agent stays with "
	    "its courier\n", courier != NULL ? courier : "another courier",
	    deadline);
	rc = 1;
out:
	free(deadline);
	free(courier);
	return rc;
}

/*
 * While a transfer is under way (transfer-bg in the store), the new
 * courier's background holds the answer to the exchange-keys sent it:
 * its mailbox is fetched as this courier's is, over TLS pinned to the
 * new courier, taking only that courier's FG element's answer
 * (rekey_answer() installs it and moves the agent). Until then the
 * agent goes back to its own courier's background. 0 or an exit
 * status, each failure said on standard error.
 */
static int
fetch_transfer(struct agent_session *as, char *err)
{
	static const long keep[] = { 403, 0 };
	STACK_OF(X509) *certs = NULL;
	X509 *leaf = NULL;
	char *bg = NULL, *pem = NULL, *old = NULL, *still = NULL;
	char why[TN_ERRLEN], body[TN_ERRLEN];
	long status;
	int rc = EX_SOFTWARE, said = 0;

	if (store_get(as->as_st, "transfer-bg", &bg, err) == -1 ||
	    store_get(as->as_st, "transfer-chain", &pem, err) == -1)
		goto out;
	rc = 0;
	if (bg == NULL || pem == NULL)
		goto out;
	rc = EX_SOFTWARE;
	if ((certs = pki_parse_certs(pem, strlen(pem), err)) == NULL ||
	    (leaf = sk_X509_shift(certs)) == NULL) {
		tn_err(err, "the transfer's foreground in the store is "
		    "unreadable");
		goto out;
	}
	if ((old = strdup(net_bg(as->as_net))) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	rc = EX_CONFIG;
	if (net_set_bg(as->as_net, bg, err) == -1 ||
	    net_pin(as->as_net, leaf, certs, err) == -1)
		goto back;
	as->as_tr_fg = leaf;
	as->as_tr_chain = certs;
	as->as_tr_back = old;
	if ((rc = fetch_mailbox(as, "the new courier's /v1/mailbox", keep,
	    &status, &said, err)) != 0 || status != 403)
		goto back;
	snprintf(body, sizeof(body), "%s", err);
	if (fetch_transfer_late(as, err) == 1)
		goto back;
	/*
	 * Before the deadline, a refusal there is the new courier's
	 * replication not yet bringing the account its foreground made:
	 * asked again at the next fetch.
	 */
	tn_err(err, "the new courier's background does not serve this agent "
	    "yet (403 %.120s); it is asked again at the next fetch", body);
	rc = EX_TEMPFAIL;
back:
	as->as_tr_fg = NULL;
	as->as_tr_chain = NULL;
	as->as_tr_back = NULL;
	/* Not moved (no answer yet, or refused): back to its own courier. */
	if (store_get(as->as_st, "transfer-bg", &still, why) == 0 &&
	    still != NULL && (net_set_bg(as->as_net, old, why) == -1 ||
	    net_pin(as->as_net, as->as_id.ci_cert, as->as_id.ci_chain,
	    why) == -1) && rc == 0) {
		memcpy(err, why, TN_ERRLEN);
		rc = EX_SOFTWARE;
		said = 0;
	}
out:
	if (rc != 0 && !said)
		fprintf(stderr, "tandem fetch: %s\n", err);
	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
	free(bg);
	free(pem);
	free(old);
	free(still);
	return rc;
}

/*
 * The background of the courier this agent left (left-bg, from the
 * move: rekey.c) may still hold what was filed there before it learnt
 * of the move: ARMs, receipts, revokes, wrapped to the generation the
 * agent left with. It is fetched as the agent's own was, with that
 * generation's identity and pinned to that courier, until it answers
 * 410 (it knows of the move and holds nothing more) or FETCH_LEFT_DAYS
 * passed; then it is forgotten, and said. 0 or an exit status, each
 * failure said on standard error.
 */
#define FETCH_LEFT_DAYS	14

static int
fetch_left_forget(struct agent_session *as, char *err)
{
	return store_del(as->as_st, "left-bg", err) == -1 ||
	    store_del(as->as_st, "left-generation", err) == -1 ||
	    store_del(as->as_st, "left-since", err) == -1 ? EX_SOFTWARE : 0;
}

static int
fetch_left(struct agent_session *as, char *err)
{
	static const long keep[] = { 410, 403, 0 };
	struct cms_id cur, old;
	char *bg = NULL, *gen = NULL, *since = NULL, *back = NULL;
	char path[1024], why[TN_ERRLEN], body[TN_ERRLEN];
	long status;
	int rc = EX_SOFTWARE, said = 0;

	memset(&old, 0, sizeof(old));
	cur = as->as_id;
	if (store_get(as->as_st, "left-bg", &bg, err) == -1 ||
	    store_get(as->as_st, "left-generation", &gen, err) == -1 ||
	    store_get(as->as_st, "left-since", &since, err) == -1)
		goto out;
	rc = 0;
	if (bg == NULL || gen == NULL || since == NULL)
		goto out;
	if (time(NULL) - strtoll(since, NULL, 10) > FETCH_LEFT_DAYS * 86400) {
		if ((rc = fetch_left_forget(as, err)) == 0)
			fprintf(stderr, "tandem fetch: %s, the background of "
			    "the courier this agent left, is no longer asked: "
			    "%d days passed\n", bg, FETCH_LEFT_DAYS);
		goto out;
	}
	rc = EX_SOFTWARE;
	if (agent_old_id(as->as_st, as->as_pass, strtoul(gen, NULL, 10), &old,
	    err) == -1)
		goto out;
	if ((back = strdup(net_bg(as->as_net))) == NULL ||
	    store_path(as->as_dir, "anchors.pem", path, sizeof(path)) == -1) {
		tn_err(err, "out of memory, or the store's path is too long");
		goto out;
	}
	as->as_id = old;
	as->as_left = 1;
	rc = EX_CONFIG;
	if (net_set_bg(as->as_net, bg, err) == -1 ||
	    net_identity(as->as_net, &old, path, err) == -1)
		goto back;
	if ((rc = fetch_mailbox(as, "the left courier's /v1/mailbox", keep,
	    &status, &said, err)) != 0 || (status != 410 && status != 403))
		goto back;
	/* It knows of the move and holds nothing more, or refuses for good. */
	snprintf(body, sizeof(body), "%s", err);
	if ((rc = fetch_left_forget(as, err)) != 0)
		goto back;
	if (status == 410)
		fprintf(stderr, "tandem fetch: the courier this agent left "
		    "holds nothing more for it\n");
	else
		fprintf(stderr, "tandem fetch: %s, the background of the "
		    "courier this agent left, refuses it (403 %s): no longer "
		    "asked\n", bg, body);
back:
	as->as_id = cur;
	as->as_left = 0;
	if ((net_set_bg(as->as_net, back, why) == -1 ||
	    net_identity(as->as_net, &as->as_id, path, why) == -1) &&
	    rc == 0) {
		memcpy(err, why, TN_ERRLEN);
		rc = EX_SOFTWARE;
		said = 0;
	}
out:
	if (rc != 0 && !said)
		fprintf(stderr, "tandem fetch: %s\n", err);
	agent_free_id(&old);
	free(bg);
	free(gen);
	free(since);
	free(back);
	return rc;
}

/* What the mailbox holds, fetched: 0 or an exit status, *said if so. */
static int
fetch_all(struct agent_session *as, int *said, char *err)
{
	static const long none[] = { 0 };
	char why[TN_ERRLEN];
	long status;
	int rc, r;

	*said = 0;
	if ((rc = rekey_pending(as, err)) != 0)
		return rc;
	rc = fetch_mailbox(as, "/v1/mailbox", none, &status, said, err);
	if (status != 200 || rc == EX_PROTOCOL)
		return rc;
	/* Each failure of these two is said by itself. */
	if ((r = fetch_transfer(as, why)) != 0 && rc == 0)
		rc = r;
	if ((r = fetch_left(as, why)) != 0 && rc == 0)
		rc = r;
	if (rc == 0)
		rc = as->as_later;	/* said already */
	*said = 1;
	return rc;
}

/*
 * --maildir DIR names where to deliver (deliver.c), not the agent's
 * Maildir: the session takes the configured one. What can be opened
 * is delivered even when the background could not be reached.
 */
int
cmd_fetch(struct agent_opts *o)
{
	struct agent_session as;
	const char *deliver = o->o_maildir;
	char err[TN_ERRLEN], why[TN_ERRLEN];
	int rc, r, said = 0;

	o->o_maildir = NULL;
	if ((rc = agent_session(&as, o, err)) != 0)
		goto out;
	rc = fetch_all(&as, &said, err);
	if (rc != 0 && !said)
		fprintf(stderr, "tandem fetch: %s\n", err);
	said = 1;
	/* Read receipts a read could not send (restrict.c). */
	if ((r = restrict_receipts(&as, "tandem fetch", why)) != 0) {
		fprintf(stderr, "tandem fetch: %s\n", why);
		if (rc == 0)
			rc = r;
	}
	if (deliver != NULL && (r = agent_deliver(o, as.as_pass, deliver,
	    why)) != 0 && rc == 0)
		rc = r;		/* said by agent_deliver() */
out:
	if (rc != 0 && !said)
		fprintf(stderr, "tandem fetch: %s\n", err);
	agent_session_free(&as);
	o->o_maildir = deliver;
	return rc;
}
