/*
 * NAME
 *	forward.c - "tandem forward" and "tandem reply": passing a private
 *	message on, answering it
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	cmd_forward(struct agent_opts *o);
 *	int	cmd_reply(struct agent_opts *o);
 * DESCRIPTION
 *	Both find the content mail --id MSGID in the Maildir as "tandem
 *	read" does (reader_scan(), mode AGENT_SCAN_GET), ask the sender's
 *	restrictions before anything is decrypted (restrict_refuse()),
 *	then open it with every check of a read.
 *
 *	cmd_forward() ("tandem forward --id MSGID --to ADDR ...") refuses
 *	a No-Forward message (AGENT_EX_RESTRICTED). Otherwise the open
 *	counts (the plaintext leaves the store: a maximum of opens is
 *	spent, a read receipt is owed), and the message goes, as it
 *	came, attached (message/rfc822) to a new private message From
 *	the agent's address, Subject "Fwd: " and the original's, sealed
 *	to the --to recipients with the same restrictions as the original
 *	(its expiry the same date), under a fresh message id, printed as
 *	"tandem send" prints it.
 *
 *	cmd_reply() ("tandem reply --id MSGID [--all] --in TEXT") refuses
 *	--all for a No-Reply-All message. Otherwise it sends TEXT (plain
 *	text, UTF-8) as a new private message to the sender, and with
 *	--all also to the other recipients of the ARM (the agent's own
 *	address left out), Subject "Re: " and the original's, In-Reply-To
 *	and References the original's Message-ID; restrictions given on
 *	the command line apply to the reply. The open is not counted:
 *	nothing of the message is shown.
 * DIAGNOSTICS
 *	"tandem forward: REASON" or "tandem reply: REASON" on standard
 *	error; exit statuses in tandem(1), 20 for a refusal by a
 *	restriction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include "tandem.h"
#include "arm.h"
#include "util.h"
#include "agent.h"

#define FWD_MAX_FIELD	998

/*
 * The value of header field name of msg, unfolded, into out (at most
 * size - 1 bytes); "" when there is none.
 */
static void
fwd_field(const unsigned char *msg, size_t len, const char *name, char *out,
    size_t size)
{
	const char *p = (const char *)msg, *end = p + len, *eol;
	size_t nlen = strlen(name), n = 0;
	int in = 0;

	out[0] = '\0';
	for (; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			break;		/* the end of the header */
		if (*p != ' ' && *p != '\t') {
			if (in)
				break;
			if ((size_t)(eol - p) <= nlen || p[nlen] != ':' ||
			    strncasecmp(p, name, nlen) != 0)
				continue;
			in = 1;
			p += nlen + 1;
		}
		if (!in)
			continue;
		for (; p < eol && *p != '\r' && n + 1 < size; p++)
			out[n++] = *p == '\t' ? ' ' : *p;
		if (eol == end)
			break;
	}
	for (p = out; *p == ' '; p++)
		;
	memmove(out, p, strlen(p) + 1);
}

/* The message o->o_id from the Maildir, opened (rd: the caller's). */
static int
fwd_get(struct agent_reader *rd, const struct agent_opts *o, const char *pass,
    int forbid, int count, char *err)
{
	int rc;

	if ((rc = reader_open(rd, o, pass, err)) != 0)
		return rc;
	rd->rd_forbid = forbid;
	rd->rd_count = count;
	rd->rd_quiet = 1;
	if ((rc = reader_scan(rd, AGENT_SCAN_GET, err)) != 0 &&
	    rd->rd_got_ar == NULL && rd->rd_got_rc == 0)
		return rc;
	if (rd->rd_got_rc != 0) {
		snprintf(err, TN_ERRLEN, "%s", rd->rd_got_err);
		return rd->rd_got_rc;
	}
	if (rd->rd_got_ar == NULL) {
		tn_err(err, "%s: no such content mail in the Maildir", o->o_id);
		return EX_NOINPUT;
	}
	return 0;
}

/* The recipients, "A, B", into a new string (free()). */
static char *
fwd_list(const char *const *to, size_t n)
{
	char *s = NULL, *t;
	size_t i;

	for (i = 0; i < n; i++) {
		if (asprintf(&t, "%s%s%s", s != NULL ? s : "",
		    s != NULL ? ", " : "", to[i]) == -1) {
			free(s);
			return NULL;
		}
		free(s);
		s = t;
	}
	return s;
}

/* Send text (a whole message) as o says, print its id. */
static int
fwd_send(const struct agent_opts *o, const char *pass, const char *text,
    const char *who, char *err)
{
	struct agent_session as;
	char *msgid = NULL, why[TN_ERRLEN];
	int rc;

	if ((rc = agent_session_with(&as, o, pass, err)) == 0 &&
	    (rc = agent_send(&as, o, (const unsigned char *)text,
	    strlen(text), 1, &msgid, err)) == 0 && msgid != NULL)
		printf("%s\n", msgid);
	/* The open of a forward may owe a read receipt: told now. */
	if (rc == 0 && restrict_receipts(&as, who, why) != 0)
		fprintf(stderr, "%s: the read receipt waits for the next "
		    "tandem fetch or read: %s\n", who, why);
	agent_session_free(&as);
	free(msgid);
	return rc;
}

static int
forward_run(struct agent_opts *o, const char *pass, char *err)
{
	struct agent_reader rd;
	struct agent_opts fo = *o;
	char subj[FWD_MAX_FIELD + 1], date[64], *to = NULL, *text = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	if ((rc = fwd_get(&rd, o, pass, RESTRICT_FORWARD, 1, err)) != 0)
		goto out;
	rc = EX_OSERR;
	fwd_field(rd.rd_got_msg, rd.rd_got_len, "Subject", subj, sizeof(subj));
	if (gmtime_r(&now, &tm) == NULL || strftime(date, sizeof(date),
	    "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0 ||
	    (to = fwd_list(o->o_to, o->o_nto)) == NULL ||
	    asprintf(&text, "From: %s\r\nTo: %s\r\nSubject: Fwd: %s\r\n"
	    "Date: %s\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "Content-Disposition: inline\r\n\r\n%.*s", rd.rd_address, to, subj,
	    date, (int)rd.rd_got_len, (const char *)rd.rd_got_msg) == -1) {
		text = NULL;
		tn_err(err, "out of memory");
		goto out;
	}
	/* The same restrictions, the same expiry date. */
	fo.o_restr = rd.rd_got_ar->ar_restr;
	fo.o_expires = NULL;
	reader_close(&rd);
	rc = fwd_send(&fo, pass, text, "tandem forward", err);
out:
	reader_close(&rd);
	free(to);
	util_free_secret(text);
	return rc;
}

int
cmd_forward(struct agent_opts *o)
{
	char err[TN_ERRLEN], *pass = NULL;
	int rc;

	if (o->o_id == NULL || o->o_nto == 0) {
		fprintf(stderr, "tandem forward: need --id MESSAGE-ID and "
		    "--to ADDR\n");
		return EX_USAGE;
	}
	if ((rc = agent_password(o, &pass)) != 0)
		return rc;
	if ((rc = forward_run(o, pass, err)) != 0)
		fprintf(stderr, "tandem forward: %s\n", err);
	util_free_secret(pass);
	return rc;
}

/* The reply's recipients: the sender, with --all the others too. */
static int
reply_rcpts(struct agent_opts *fo, const struct arm_record *ar,
    const char *self, char *err)
{
	size_t i;

	fo->o_nto = 0;
	fo->o_to[fo->o_nto++] = ar->ar_sender;
	for (i = 0; fo->o_all && i < ar->ar_nrcpts; i++) {
		if (strcasecmp(ar->ar_rcpts[i], self) == 0 ||
		    strcasecmp(ar->ar_rcpts[i], ar->ar_sender) == 0)
			continue;
		if (fo->o_nto == AGENT_MAX_TO) {
			tn_err(err, "more than %d recipients", AGENT_MAX_TO);
			return EX_USAGE;
		}
		fo->o_to[fo->o_nto++] = ar->ar_rcpts[i];
	}
	return 0;
}

static int
reply_run(struct agent_opts *o, const char *pass, char *err)
{
	struct agent_reader rd;
	struct agent_opts fo = *o;
	char subj[FWD_MAX_FIELD + 1], mid[FWD_MAX_FIELD + 1], date[64];
	char *cc = NULL, *text = NULL;
	unsigned char *body = NULL;
	size_t blen = 0;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	memset(&rd, 0, sizeof(rd));
	if (agent_read_input(o->o_in, &body, &blen, err) == -1)
		return EX_NOINPUT;
	if ((rc = fwd_get(&rd, o, pass, o->o_all ? RESTRICT_REPLY_ALL :
	    RESTRICT_NONE, 0, err)) != 0 ||
	    (rc = reply_rcpts(&fo, rd.rd_got_ar, rd.rd_address, err)) != 0)
		goto out;
	rc = EX_OSERR;
	fwd_field(rd.rd_got_msg, rd.rd_got_len, "Subject", subj, sizeof(subj));
	fwd_field(rd.rd_got_msg, rd.rd_got_len, "Message-ID", mid,
	    sizeof(mid));
	if (gmtime_r(&now, &tm) == NULL || strftime(date, sizeof(date),
	    "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0 ||
	    (fo.o_nto > 1 && (cc = fwd_list(fo.o_to + 1, fo.o_nto - 1)) ==
	    NULL) ||
	    asprintf(&text, "From: %s\r\nTo: %s\r\n%s%s%sSubject: %s%s\r\n"
	    "Date: %s\r\n%s%s%s%s%s%sMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n%.*s", rd.rd_address,
	    fo.o_to[0], cc != NULL ? "Cc: " : "", cc != NULL ? cc : "",
	    cc != NULL ? "\r\n" : "", strncasecmp(subj, "Re:", 3) == 0 ? "" :
	    "Re: ", subj, date, mid[0] != '\0' ? "In-Reply-To: " : "", mid,
	    mid[0] != '\0' ? "\r\n" : "", mid[0] != '\0' ? "References: " : "",
	    mid, mid[0] != '\0' ? "\r\n" : "", (int)blen,
	    (const char *)body) == -1) {
		text = NULL;
		tn_err(err, "out of memory");
		goto out;
	}
	rc = fwd_send(&fo, pass, text, "tandem reply", err);
out:
	reader_close(&rd);
	free(cc);
	free(body);
	util_free_secret(text);
	return rc;
}

int
cmd_reply(struct agent_opts *o)
{
	char err[TN_ERRLEN], *pass = NULL;
	int rc;

	if (o->o_id == NULL || o->o_in == NULL || o->o_nto != 0) {
		fprintf(stderr, "tandem reply: need --id MESSAGE-ID and --in "
		    "TEXT (the recipients are the message's: --all for all "
		    "of them)\n");
		return EX_USAGE;
	}
	if ((rc = agent_password(o, &pass)) != 0)
		return rc;
	if ((rc = reply_run(o, pass, err)) != 0)
		fprintf(stderr, "tandem reply: %s\n", err);
	util_free_secret(pass);
	return rc;
}
