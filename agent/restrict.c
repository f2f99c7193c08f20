/*
 * NAME
 *	restrict.c - the sender's restrictions, honoured: what the agent
 *	refuses, what it says, and the read receipt
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	restrict_refuse(const struct arm_record *ar, int what,
 *		    char *err);
 *	void	restrict_names(const struct arm_record *ar, char *out,
 *		    size_t size);
 *	void	restrict_show(const struct arm_record *ar);
 *	int	restrict_stdout_file(void);
 *	int	restrict_owe(struct store *st, const struct arm_record *ar,
 *		    char *err);
 *	int	restrict_owed(struct store *st, unsigned int *n, char *err);
 *	int	restrict_receipts(struct agent_session *as, const char *who,
 *		    char *err);
 * DESCRIPTION
 *	restrict_refuse() returns AGENT_EX_RESTRICTED, with the reason in
 *	err, when ar's restrictions forbid what (RESTRICT_FORWARD: passing
 *	the message on, No-Forward; RESTRICT_REPLY_ALL: a reply to all,
 *	No-Reply-All; RESTRICT_COPY: a copy of the plaintext in a file,
 *	No-Copy), else 0. It is asked before anything is decrypted, so a
 *	refusal spends no open.
 *
 *	restrict_names() writes the restriction flags of ar as the
 *	header Tandem-Restrictions says them ("no-forward, no-reply-all,
 *	no-print, no-copy", in that order; "" when none). restrict_show()
 *	says on standard error, when a Restricted message is opened,
 *	every restriction it carries.
 *
 *	restrict_stdout_file() is 1 when standard output is a regular
 *	file (a shell's ">FILE"): a copy, which No-Copy forbids; a
 *	terminal or a pipe is showing it.
 *
 *	restrict_owe() records, at the first open of a message whose ARM
 *	asks for a read receipt, that one is owed to its sender
 *	(store_receipt_owe()) and says so; a later open owes nothing
 *	more. restrict_owed() counts the receipts owed and not yet told.
 *
 *	restrict_receipts() tells each owed receipt: a receipt
 *	(doc/protocol.md; Event opened, Date the first open, Reason
 *	READ_REASON) wrapped agent -> courier and POSTed to
 *	BG/v1/receipt, which files it for the sender's agent. Told (200,
 *	or a final refusal, said) it is marked so and never sent again;
 *	no answer, or a temporary one, leaves it owed for the next
 *	"tandem read" or "tandem fetch", said on standard error with who.
 * DIAGNOSTICS
 *	restrict_owe(), restrict_owed() and restrict_receipts() return 0
 *	or an exit status with err (EX_SOFTWARE: the store).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "proto.h"
#include "agent.h"

#define READ_REASON	"read receipt: its recipient opened it"

int
restrict_refuse(const struct arm_record *ar, int what, char *err)
{
	const struct arm_restrictions *rs = &ar->ar_restr;

	if (what == RESTRICT_FORWARD && rs->rs_no_forward)
		tn_err(err, "refused: %s: its sender %s forbids forwarding it "
		    "(No-Forward)", ar->ar_msgid, ar->ar_sender);
	else if (what == RESTRICT_REPLY_ALL && rs->rs_no_reply_all)
		tn_err(err, "refused: %s: its sender %s forbids a reply to "
		    "all (No-Reply-All); reply to the sender alone, without "
		    "--all", ar->ar_msgid, ar->ar_sender);
	else if (what == RESTRICT_COPY && rs->rs_no_copy)
		tn_err(err, "refused: %s: its sender %s forbids a copy "
		    "(No-Copy): it is shown on a terminal or a pipe, never "
		    "written to a file", ar->ar_msgid, ar->ar_sender);
	else
		return 0;
	return AGENT_EX_RESTRICTED;
}

int
restrict_stdout_file(void)
{
	struct stat sb;

	return fstat(1, &sb) == 0 && S_ISREG(sb.st_mode);
}

void
restrict_names(const struct arm_record *ar, char *out, size_t size)
{
	const struct arm_restrictions *rs = &ar->ar_restr;
	const int on[] = { rs->rs_no_forward, rs->rs_no_reply_all,
	    rs->rs_no_print, rs->rs_no_copy };
	static const char *const name[] = { "no-forward", "no-reply-all",
	    "no-print", "no-copy" };
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++)
		if (on[i] && n < size)
			n += (size_t)snprintf(out + n, size - n, "%s%s",
			    n > 0 ? ", " : "", name[i]);
}

void
restrict_show(const struct arm_record *ar)
{
	const struct arm_restrictions *rs = &ar->ar_restr;
	char names[128], when[32];
	struct tm tm;

	if (!arm_is_restricted(ar))
		return;
	restrict_names(ar, names, sizeof(names));
	fprintf(stderr, "tandem: %s from %s is restricted:\n", ar->ar_msgid,
	    ar->ar_sender);
	if (rs->rs_expires != 0 && gmtime_r(&rs->rs_expires, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) != 0)
		fprintf(stderr, "  expires %s: its key is deleted then\n",
		    when);
	if (rs->rs_max_opens != 0)
		fprintf(stderr, "  max-opens %u: each read spends one\n",
		    rs->rs_max_opens);
	if (rs->rs_no_forward)
		fprintf(stderr, "  no-forward: tandem forward refuses it\n");
	if (rs->rs_no_reply_all)
		fprintf(stderr, "  no-reply-all: tandem reply --all refuses "
		    "it\n");
	if (rs->rs_no_print)
		fprintf(stderr, "  no-print: a request: please do not print "
		    "it\n");
	if (rs->rs_no_copy)
		fprintf(stderr, "  no-copy: never written to a file by "
		    "tandem; please do not copy it\n");
	if (rs->rs_read_receipt)
		fprintf(stderr, "  read-receipt: its first open is told to "
		    "%s\n", ar->ar_sender);
}

int
restrict_owe(struct store *st, const struct arm_record *ar, char *err)
{
	int first;

	if (!ar->ar_restr.rs_read_receipt)
		return 0;
	if (store_receipt_owe(st, ar->ar_msgid, ar->ar_sender, &first,
	    err) == -1)
		return EX_SOFTWARE;
	if (first)
		fprintf(stderr, "tandem: %s: a read receipt goes to %s\n",
		    ar->ar_msgid, ar->ar_sender);
	return 0;
}

static int
owed_count(const char *msgid, const char *sender, time_t at, void *arg)
{
	(void)msgid;
	(void)sender;
	(void)at;
	(*(unsigned int *)arg)++;
	return 0;
}

int
restrict_owed(struct store *st, unsigned int *n, char *err)
{
	*n = 0;
	return store_receipt_each(st, owed_count, n, err) == -1 ?
	    EX_SOFTWARE : 0;
}

/* The receipt for msgid, wrapped agent -> courier: *w to free(). */
static int
receipt_wrap(struct agent_session *as, const char *msgid, const char *sender,
    time_t at, unsigned char **w, size_t *wlen, char *err)
{
	struct proto_msg *pm = NULL;
	char date[32], *id = NULL, *text = NULL;
	size_t len = 0;
	int rc = -1;

	if ((pm = proto_msg_new(PROTO_RECEIPT)) == NULL ||
	    (id = agent_new_id(as->as_address)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	proto_format_time(at, date, sizeof(date));
	if (proto_set(pm, "Id", id, err) == -1 ||
	    proto_set(pm, "Date", date, err) == -1 ||
	    proto_set(pm, "Message-Id", msgid, err) == -1 ||
	    proto_set(pm, "Sender", sender, err) == -1 ||
	    proto_set(pm, "Recipient", as->as_address, err) == -1 ||
	    proto_set(pm, "Event", "opened", err) == -1 ||
	    proto_set(pm, "Reason", READ_REASON, err) == -1 ||
	    proto_format(pm, &text, &len, err) == -1 ||
	    cms_wrap((unsigned char *)text, len, &as->as_id, as->as_rcpts, 0,
	    w, wlen, err) == -1)
		goto out;
	rc = 0;
out:
	proto_msg_free(pm);
	free(id);
	free(text);
	return rc;
}

struct receipt_run {
	struct agent_session	*rr_as;
	const char		*rr_who;
	int			 rr_rc;
	char			*rr_err;
};

static int
receipt_one(const char *msgid, const char *sender, time_t at, void *arg)
{
	struct receipt_run *rr = arg;
	unsigned char *w = NULL;
	char line[TN_ERRLEN], why[TN_ERRLEN], told[TN_ERRLEN + 32];
	size_t wlen;
	long status = 0;
	int rc;

	if (receipt_wrap(rr->rr_as, msgid, sender, at, &w, &wlen, why) == -1) {
		rr->rr_rc = EX_SOFTWARE;
		tn_err(rr->rr_err, "%s: read receipt: %s", msgid, why);
		return -1;
	}
	rc = agent_post(rr->rr_as, "/v1/receipt", w, wlen, &status, line,
	    sizeof(line), why);
	free(w);
	if (rc == 0)
		fprintf(stderr, "%s: %s: read receipt sent to %s\n",
		    rr->rr_who, msgid, sender);
	else if (rc == AGENT_EX_REFUSED)
		fprintf(stderr, "%s: %s: the background refused the read "
		    "receipt to %s: %ld %.200s\n", rr->rr_who, msgid, sender,
		    status, line);
	else {
		fprintf(stderr, "%s: %s: the read receipt to %s waits (%s); "
		    "the next tandem fetch or read sends it\n", rr->rr_who,
		    msgid, sender, status != 0 ? line : why);
		return 0;
	}
	snprintf(told, sizeof(told), "%s%.200s", rc == 0 ? "" : "refused: ",
	    line);
	if (store_receipt_told(rr->rr_as->as_st, msgid, told, why) == -1) {
		rr->rr_rc = EX_SOFTWARE;
		tn_err(rr->rr_err, "%s", why);
		return -1;
	}
	return 0;
}

int
restrict_receipts(struct agent_session *as, const char *who, char *err)
{
	struct receipt_run rr = { as, who, 0, err };

	if (store_receipt_each(as->as_st, receipt_one, &rr, err) == -1)
		return EX_SOFTWARE;
	return rr.rr_rc;
}
