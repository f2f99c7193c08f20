/*
 * NAME
 *	status.c - "tandem status [MSGID]": what became of each recipient
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	cmd_status(struct agent_opts *o);
 *	int	agent_receipt(struct store *st, const char *address,
 *		    const struct proto_msg *pm, const char *who, char *err);
 * DESCRIPTION
 *	agent_receipt() records a receipt (doc/protocol.md) for a
 *	message this agent sent, whichever way it came: from the
 *	background through "tandem fetch" (fetch.c, which checked that
 *	it is for the message listed) or from the foreground as service
 *	mail (register.c). Its Sender must be address, the agent's own.
 *	store_sent_receipt() records the Event, the Date and the Reason
 *	for the Recipient; when that changed the record (not a receipt
 *	seen before, nor one older than what is recorded) it is said on
 *	standard error, each line beginning with who: "M was not
 *	delivered to R: its courier refused it: REASON" (refused), "M
 *	was never delivered to R: held for a recipient who never
 *	registered, then dropped; it may be sent again as a new message"
 *	(expired), else "M to R: EVENT: REASON". A receipt for a message
 *	the store does not know (sent before it had table sent, or from
 *	another store) is recorded and said all the same.
 *
 *	cmd_status() needs no password: it reads table sent only. With
 *	MSGID it prints a line per recipient, "RECIPIENT STATE DATE"
 *	then " REASON" if there is one (STATE "sent" or the last Event,
 *	DATE RFC 3339 UTC: when sent, or the receipt's Date); without,
 *	a line per message, "MSGID DATE N STATE=COUNT ...", DATE when it
 *	was first sent, N its recipients, the states counted in the
 *	order sent, delivered, opened, refused, expired, revoked (those
 *	with a count only). On the same Date, a receipt replaces another
 *	in the order of STORE_RANK (store.c), or for the same Event with
 *	another Reason (the recipient's agent's word after a revoke).
 * DIAGNOSTICS
 *	agent_receipt() returns 0 or an exit status with err: EX_DATAERR
 *	for another's receipt, EX_SOFTWARE when the store fails.
 *	cmd_status(): 0; EX_USAGE for a malformed MSGID; EX_NOINPUT when
 *	the store, or the message in it, is not there. Exit statuses in
 *	tandem(1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include "tandem.h"
#include "proto.h"
#include "agent.h"

static const char *const status_states[] = {
	"sent", "delivered", "opened", "refused", "expired", "revoked"
};

#define STATUS_NSTATES	(sizeof(status_states) / sizeof(status_states[0]))

/* What one message's rows add up to, for the list without MSGID. */
struct status_sum {
	char		*su_msgid;	/* NULL before the first row */
	time_t		 su_first;
	unsigned int	 su_n;
	unsigned int	 su_count[STATUS_NSTATES];
	int		 su_oom;
};

static void
receipt_say(const char *who, const char *msgid, const char *rcpt,
    const char *event, const char *reason)
{
	const char *sep = reason != NULL ? ": " : "";

	if (reason == NULL)
		reason = "";
	if (strcmp(event, "refused") == 0)
		fprintf(stderr, "%s: %s was not delivered to %s: its courier "
		    "refused it%s%s\n", who, msgid, rcpt, sep, reason);
	else if (strcmp(event, "expired") == 0)
		fprintf(stderr, "%s: %s was never delivered to %s: held for "
		    "a recipient who never registered, then dropped%s%s; it "
		    "may be sent again as a new message\n", who, msgid, rcpt,
		    sep, reason);
	else
		fprintf(stderr, "%s: %s to %s: %s%s%s\n", who, msgid, rcpt,
		    event, sep, reason);
}

int
agent_receipt(struct store *st, const char *address,
    const struct proto_msg *pm, const char *who, char *err)
{
	const char *msgid = proto_get(pm, "Message-Id");
	const char *rcpt = proto_get(pm, "Recipient");
	const char *event = proto_get(pm, "Event");
	const char *reason = proto_get(pm, "Reason");
	time_t at;
	int changed;

	if (strcasecmp(proto_get(pm, "Sender"), address) != 0) {
		tn_err(err, "a receipt for %s, who is not %s",
		    proto_get(pm, "Sender"), address);
		return EX_DATAERR;
	}
	if (proto_parse_time(proto_get(pm, "Date"), &at) == -1)
		at = time(NULL);
	if (store_sent_receipt(st, msgid, rcpt, event, at, reason, &changed,
	    err) == -1)
		return EX_SOFTWARE;
	if (changed)
		receipt_say(who, msgid, rcpt, event, reason);
	return 0;
}

/* One line per recipient of the message asked for. */
static void
status_row(const struct store_sent *ss, void *arg)
{
	char date[32];

	(*(unsigned int *)arg)++;
	proto_format_time(ss->ss_at, date, sizeof(date));
	printf("%s %s %s%s%s\n", ss->ss_rcpt, ss->ss_state, date,
	    ss->ss_reason != NULL ? " " : "",
	    ss->ss_reason != NULL ? ss->ss_reason : "");
}

static void
status_flush(struct status_sum *su)
{
	char date[32];
	size_t i;

	if (su->su_msgid == NULL)
		return;
	proto_format_time(su->su_first, date, sizeof(date));
	printf("%s %s %u", su->su_msgid, date, su->su_n);
	for (i = 0; i < STATUS_NSTATES; i++)
		if (su->su_count[i] > 0)
			printf(" %s=%u", status_states[i], su->su_count[i]);
	printf("\n");
	free(su->su_msgid);
	su->su_msgid = NULL;
	su->su_n = 0;
	memset(su->su_count, 0, sizeof(su->su_count));
}

/* Rows come message by message: a line when the message changes. */
static void
status_sum_row(const struct store_sent *ss, void *arg)
{
	struct status_sum *su = arg;
	size_t i;

	if (su->su_oom)
		return;
	if (su->su_msgid == NULL || strcmp(su->su_msgid, ss->ss_msgid) != 0) {
		status_flush(su);
		if ((su->su_msgid = strdup(ss->ss_msgid)) == NULL) {
			su->su_oom = 1;
			return;
		}
		su->su_first = ss->ss_first;
	}
	su->su_n++;
	for (i = 0; i < STATUS_NSTATES; i++)
		if (strcmp(ss->ss_state, status_states[i]) == 0)
			su->su_count[i]++;
}

static int
status_list(struct store *st, char *err)
{
	struct status_sum su;
	int rc = EX_SOFTWARE;

	memset(&su, 0, sizeof(su));
	if (store_sent_each(st, NULL, status_sum_row, &su, err) == -1)
		goto out;
	if (su.su_oom) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (su.su_msgid == NULL)
		fprintf(stderr, "tandem status: no message sent from this "
		    "store\n");
	status_flush(&su);
	rc = 0;
out:
	free(su.su_msgid);
	return rc;
}

int
cmd_status(struct agent_opts *o)
{
	struct store *st = NULL;
	const char *msgid = o->o_nfiles == 1 ? o->o_files[0] : NULL;
	char err[TN_ERRLEN];
	unsigned int n = 0;
	int rc;

	if (o->o_nfiles > 1 || (msgid != NULL && !proto_valid_msgid(msgid))) {
		fprintf(stderr, "tandem status: need at most one MESSAGE-ID "
		    "(as \"tandem send\" printed it)\n");
		return EX_USAGE;
	}
	rc = EX_NOINPUT;
	if ((st = store_open(o->o_dir, 0, err)) == NULL)
		goto out;
	rc = EX_SOFTWARE;
	if (msgid == NULL) {
		rc = status_list(st, err);
		goto out;
	}
	if (store_sent_each(st, msgid, status_row, &n, err) == -1)
		goto out;
	rc = EX_NOINPUT;
	if (n == 0) {
		tn_err(err, "%s: no such message sent from this store",
		    msgid);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "tandem status: %s\n", err);
	store_close(st);
	return rc;
}
