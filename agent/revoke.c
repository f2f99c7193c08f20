/*
 * NAME
 *	revoke.c - "tandem revoke MSGID [RECIPIENT ...]": withdraw a message
 * DESCRIPTION
 *	cmd_revoke() writes a revoke (doc/protocol.md): Message-Id MSGID,
 *	Sender the agent's address, a Recipient field per RECIPIENT named
 *	(none: every recipient), wraps it agent -> courier (signed by the
 *	agent key, enveloped to the courier-end certificate) and POSTs it
 *	to BG/v1/revoke, the path of ARMs. 200: the background's answer
 *	("revoked N", "already revoked") goes to standard output; what
 *	happened at each recipient comes later as receipts, said by
 *	"tandem fetch". 4xx but 408 and 429: refused, the answer said
 *	(AGENT_EX_REFUSED); anything else, or no answer: EX_TEMPFAIL, to
 *	be run again (a revocation may be repeated).
 *
 *	revoke_apply() is the recipient's side, called by fetch for a
 *	revoke its background passed on: the ARM's key is deleted from
 *	the store and the id is marked revoked (store_arm_revoke()), so
 *	that "tandem read" refuses the message and a later fetch of the
 *	ARM does not bring the key back. The revoke must be for the
 *	message listed and come from the ARM's sender; when the ARM is
 *	not in the store the id is marked all the same. Then the agent
 *	tells its background what became of the message here, a receipt
 *	wrapped agent -> courier POSTed to BG/v1/receipt: Event opened
 *	when it had been opened (the store counts opens), else revoked;
 *	the background sends it on to the sender. An answer 4xx but 408
 *	and 429 is said and the fetch goes on (the background will not
 *	take it later either); no answer or another one is EX_TEMPFAIL:
 *	the revoke stays in the mailbox, the next fetch applies it again
 *	(nothing changes) and tells again.
 * DIAGNOSTICS
 *	Messages on standard error; exit statuses in tandem(1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/crypto.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "proto.h"
#include "agent.h"

/* The revoke, formatted: *out to free(). */
static int
revoke_format(const struct agent_session *as, const struct agent_opts *o,
    char **out, size_t *len, char *err)
{
	struct proto_msg *pm = NULL;
	char now[32], *id = NULL;
	size_t i;
	int rc = EX_SOFTWARE;

	if ((pm = proto_msg_new(PROTO_REVOKE)) == NULL ||
	    (id = agent_new_id(as->as_address)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	proto_format_time(time(NULL), now, sizeof(now));
	rc = EX_USAGE;
	if (proto_set(pm, "Id", id, err) == -1 ||
	    proto_set(pm, "Date", now, err) == -1 ||
	    proto_set(pm, "Message-Id", o->o_files[0], err) == -1 ||
	    proto_set(pm, "Sender", as->as_address, err) == -1)
		goto out;
	for (i = 1; i < o->o_nfiles; i++)
		if (proto_add(pm, "Recipient", o->o_files[i], err) == -1)
			goto out;
	if (proto_format(pm, out, len, err) == -1)
		goto out;
	rc = 0;
out:
	proto_msg_free(pm);
	free(id);
	return rc;
}

static int
revoke_post(struct agent_session *as, const unsigned char *w, size_t wlen,
    char *err)
{
	char line[TN_ERRLEN];
	long status;
	int rc;

	rc = agent_post(as, "/v1/revoke", w, wlen, &status, line,
	    sizeof(line), err);
	if (rc == 0)
		printf("%s\n", line);
	else if (rc == AGENT_EX_REFUSED)
		tn_err(err, "the background refused the revocation: %ld "
		    "%.200s", status, line);
	else if (status != 0)
		tn_err(err, "POST /v1/revoke: %ld %.200s", status, line);
	return rc;
}

int
cmd_revoke(struct agent_opts *o)
{
	struct agent_session as;
	unsigned char *w = NULL;
	char err[TN_ERRLEN], *text = NULL;
	size_t len = 0, wlen;
	int rc;

	memset(&as, 0, sizeof(as));
	if (o->o_nfiles == 0 || !proto_valid_msgid(o->o_files[0])) {
		fprintf(stderr, "tandem revoke: need a MESSAGE-ID (as "
		    "\"tandem send\" printed it), then any RECIPIENTs\n");
		return EX_USAGE;
	}
	if ((rc = agent_session(&as, o, err)) != 0 ||
	    (rc = revoke_format(&as, o, &text, &len, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if (cms_wrap((unsigned char *)text, len, &as.as_id, as.as_rcpts, 0,
	    &w, &wlen, err) == -1)
		goto out;
	rc = revoke_post(&as, w, wlen, err);
out:
	if (rc != 0)
		fprintf(stderr, "tandem revoke: %s\n", err);
	agent_session_free(&as);
	free(text);
	free(w);
	return rc;
}

#define RV_OPENED	"it had been opened before the revocation; its key " \
			"is deleted now"
#define RV_UNOPENED	"its recipient's agent deleted its key before it " \
			"was opened"
#define RV_NEVER	"its recipient's agent never held its key"

/*
 * What became of msgid here, to the background (held: the store had
 * its ARM): 0 or an exit status.
 */
static int
revoke_tell(struct agent_session *as, const char *msgid, const char *sender,
    int held, char *err)
{
	struct proto_msg *pm = NULL;
	unsigned char *w = NULL;
	char now[32], line[TN_ERRLEN], *id = NULL, *text = NULL;
	size_t len = 0, wlen;
	long status;
	int rc = EX_SOFTWARE, opens = 0;

	if (store_opened(as->as_st, msgid, &opens, err) == -1)
		goto out;
	if ((pm = proto_msg_new(PROTO_RECEIPT)) == NULL ||
	    (id = agent_new_id(as->as_address)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	proto_format_time(time(NULL), now, sizeof(now));
	if (proto_set(pm, "Id", id, err) == -1 ||
	    proto_set(pm, "Date", now, err) == -1 ||
	    proto_set(pm, "Message-Id", msgid, err) == -1 ||
	    proto_set(pm, "Sender", sender, err) == -1 ||
	    proto_set(pm, "Recipient", as->as_address, err) == -1 ||
	    proto_set(pm, "Event", opens > 0 ? "opened" : "revoked",
	    err) == -1 ||
	    proto_set(pm, "Reason", opens > 0 ? RV_OPENED : held ?
	    RV_UNOPENED : RV_NEVER, err) == -1 ||
	    proto_format(pm, &text, &len, err) == -1 ||
	    cms_wrap((unsigned char *)text, len, &as->as_id, as->as_rcpts, 0,
	    &w, &wlen, err) == -1)
		goto out;
	rc = agent_post(as, "/v1/receipt", w, wlen, &status, line,
	    sizeof(line), err);
	if (rc == AGENT_EX_REFUSED) {
		fprintf(stderr, "tandem fetch: %s: the background refused to "
		    "tell its sender: %ld %.200s\n", msgid, status, line);
		rc = 0;
	} else if (rc != 0 && status != 0)
		tn_err(err, "POST /v1/receipt: %ld %.200s", status, line);
out:
	proto_msg_free(pm);
	free(id);
	free(text);
	free(w);
	return rc;
}

int
revoke_apply(struct agent_session *as, const struct proto_msg *pm,
    const char *msgid, char *err)
{
	struct store *st = as->as_st;
	struct arm_record *ar = NULL;
	const char *sender = proto_get(pm, "Sender");
	char *text = NULL;
	int rc = EX_DATAERR, state;

	if (strcmp(proto_get(pm, "Message-Id"), msgid) != 0) {
		tn_err(err, "listed as %s but the revoke is for %s", msgid,
		    proto_get(pm, "Message-Id"));
		goto out;
	}
	rc = EX_SOFTWARE;
	if (store_arm_get(st, msgid, &text, &state, err) == -1)
		goto out;
	rc = EX_DATAERR;
	if (state == 1 && arm_parse(text, strlen(text), &ar, err) == -1)
		goto out;
	if (ar != NULL && strcasecmp(ar->ar_sender, sender) != 0) {
		tn_err(err, "a revoke of %s by %s, who is not its sender %s",
		    msgid, sender, ar->ar_sender);
		goto out;
	}
	rc = EX_SOFTWARE;
	if (store_arm_revoke(st, msgid, err) == -1)
		goto out;
	if (state != 3)
		fprintf(stderr, "tandem fetch: %s was revoked by its sender "
		    "%s; its key is deleted\n", msgid, sender);
	rc = revoke_tell(as, msgid, sender, state != 0, err);
out:
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	free(text);
	arm_free(ar);
	return rc;
}
