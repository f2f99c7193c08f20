/*
 * NAME
 *	read.c - "tandem read", "tandem inbox" and "tandem arm": the
 *	Maildir side
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	reader_open(struct agent_reader *rd,
 *		    const struct agent_opts *o, const char *pass,
 *		    char *err);
 *	int	reader_reload(struct agent_reader *rd, char *err);
 *	int	reader_scan(struct agent_reader *rd, int service_only,
 *		    char *err);
 *	void	reader_close(struct agent_reader *rd);
 * DESCRIPTION
 *	reader_open() opens the store, the anchors, the decrypted key
 *	and, once registered, the certificate, its chain and the
 *	courier-end certificate (reader_reload() reads these again), and
 *	the network settings, then unlocks the store with the password
 *	(store_unlock(): the sealed ARMs; EX_NOPERM for a wrong one).
 *	reader_close() frees it all; it accepts a
 *	reader that failed to open.
 *
 *	cmd_arm() ("tandem arm MSGID") writes the ARM record the store
 *	keeps for MSGID, opened with the password, to --out (0600) or
 *	standard output: for "tandem open --arm", and for tests, since
 *	the store keeps it sealed (store.c).
 *
 *	reader_scan() goes through the files named on the command line,
 *	or else the Maildir's new/ and cur/ (in name order, at most
 *	AGENT_MAX_FILES), and handles each Tandem mail (a Tandem-Kind
 *	header; other mail in the Maildir is skipped, a named file that
 *	is not Tandem mail is an error). No file is waited on: what in
 *	the Maildir is not a regular file (a FIFO, a folder, a symbolic
 *	link, which is not followed) is reported and skipped, without
 *	changing the exit status; a named file that is not regular (a
 *	FIFO) is refused.
 *	Each Tandem mail:
 *	content - unwrap with the agent key, or the key of an old
 *	generation (agent_unwrap(), rekey.c; signer: the FG element of
 *	the agent's courier), find the ARM by the Message-ID in the
 *	store, check that the mail's From is the ARM's sender, that the
 *	content's signer is the sender's agent (agent_check_author()),
 *	then agent_open() (digest, restrictions, signature, sender) and write
 *	the message to standard output or to --out-dir DIR/MESSAGE-ID.eml
 *	(printing that path); --id limits this to one message. A message
 *	not named (by --id or as a FILE) is opened only if never opened
 *	before (--all: also then) and not Restricted (an open of it
 *	counts): a Restricted one is only named on standard error. When
 *	more than one message may go to standard output (no --id, not
 *	exactly one FILE) each goes as mboxrd (From_ line, LF line ends,
 *	">From " quoted); what was left out is summed up on standard
 *	error. Without --maildir nor a configured one, $HOME/Maildir;
 *	service - agent_service(); invitation - a hint to run register,
 *	or once registered agent_reject() (reject.c).
 *	With service_only, content and invitations are left alone.
 *	Every file is tried; the first failure gives the exit status.
 *	Each failure is also reported on standard error, unless
 *	rd_quiet is set (register's wait, after its first pass).
 *
 *	With AGENT_SCAN_DELIVER (fetch --maildir, deliver.c) each content
 *	mail not delivered before and that can be opened now goes into
 *	rd_deliver (read_deliver()); the rest is left alone.
 *
 *	The sender's restrictions (restrict.c): a Restricted message
 *	opened has them said on standard error (restrict_show()); No-Copy
 *	refuses --out-dir or a standard output that is a regular file
 *	(AGENT_EX_RESTRICTED) before anything is decrypted; the first
 *	open of one asking for a read receipt owes one (restrict_owe()),
 *	sent through the background when the read is done
 *	(restrict_receipts(), with a session made from the same password;
 *	one that cannot go waits for the next read or fetch).
 *
 *	With AGENT_SCAN_GET (forward, reply: forward.c) the content mail
 *	o_id is opened for the caller (rd_got_ar, rd_got_msg, taken and
 *	freed by reader_close() if left), unless its restrictions forbid
 *	rd_forbid (restrict_refuse()); the open counts with rd_count. A
 *	failure is kept in rd_got_rc and rd_got_err.
 *
 *	inbox lists each Tandem mail without opening it: "MESSAGE-ID
 *	FROM STATUS", STATUS one of readable, no-arm, expired, revoked,
 *	opens-used, service, invitation, or refused: REASON. A readable
 *	one goes on with " restrictions=FLAG,..." (the flags set) and
 *	" receipt=SENDER" when its first open sends a read receipt
 *	(once opened " receipt=waiting", then " receipt=sent" once the
 *	background took it).
 * DIAGNOSTICS
 *	Messages on standard error, naming the file; exit statuses in
 *	tandem(1).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "pki.h"
#include "tmail.h"
#include "util.h"
#include "agent.h"

#define READ_SKIPPED	(-1)	/* not mail: reported, not an error */

static int
reader_certs(struct agent_reader *rd, char *err)
{
	char *pem = NULL;
	X509 *c = NULL;
	int rc = EX_SOFTWARE;

	agent_free_id(&rd->rd_id);
	free(rd->rd_address);
	rd->rd_address = NULL;
	sk_X509_pop_free(rd->rd_courier, X509_free);
	rd->rd_courier = NULL;
	if (store_get(rd->rd_st, "cert", &pem, err) == -1)
		goto out;
	if (pem != NULL) {
		rc = agent_load_id(rd->rd_st, rd->rd_pass, &rd->rd_id,
		    &rd->rd_address, err);
		goto out;
	}
	if (store_get(rd->rd_st, "address", &rd->rd_address, err) == -1)
		goto out;
	rc = EX_CONFIG;
	if (rd->rd_address == NULL) {
		tn_err(err, "store has no address");
		goto out;
	}
	rc = EX_NOPERM;
	if ((rd->rd_id.ci_key = agent_load_key(rd->rd_st, rd->rd_pass,
	    err)) == NULL)
		goto out;
	rc = 0;
out:
	free(pem);
	pem = NULL;
	if (rc == 0 && store_get(rd->rd_st, "courier-cert", &pem, err) == 0 &&
	    pem != NULL && *pem != '\0' &&
	    (c = pki_parse_cert(pem, strlen(pem), err)) != NULL &&
	    (rd->rd_courier = sk_X509_new_null()) != NULL &&
	    sk_X509_push(rd->rd_courier, c))
		c = NULL;
	X509_free(c);
	free(pem);
	return rc;
}

int
reader_reload(struct agent_reader *rd, char *err)
{
	return reader_certs(rd, err);
}

int
reader_open(struct agent_reader *rd, const struct agent_opts *o,
    const char *pass, char *err)
{
	int rc;

	memset(rd, 0, sizeof(*rd));
	rd->rd_opts = o;
	rd->rd_pass = pass;
	if ((rd->rd_st = store_open(o->o_dir, 0, err)) == NULL)
		return EX_NOINPUT;
	if ((rd->rd_trust = agent_trust(o->o_dir, err)) == NULL ||
	    (rd->rd_net = net_new(o, err)) == NULL)
		return EX_CONFIG;
	if ((rc = reader_certs(rd, err)) != 0)
		return rc;
	if (store_unlock(rd->rd_st, pass, err) == -1)
		return EX_NOPERM;
	return 0;
}

void
reader_close(struct agent_reader *rd)
{
	agent_free_id(&rd->rd_id);
	free(rd->rd_address);
	sk_X509_pop_free(rd->rd_courier, X509_free);
	net_free(rd->rd_net);
	pki_trust_free(rd->rd_trust);
	store_close(rd->rd_st);
	arm_free(rd->rd_got_ar);
	if (rd->rd_got_msg != NULL)
		OPENSSL_clear_free(rd->rd_got_msg, rd->rd_got_len);
	memset(rd, 0, sizeof(*rd));
}

/* Does the header block carry Tandem-Kind? */
static int
has_kind(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;

	while (p < end && *p != '\r' && *p != '\n') {
		if ((size_t)(end - p) > 12 && strncasecmp(p, "Tandem-Kind:",
		    12) == 0)
			return 1;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		p = nl + 1;
	}
	return 0;
}

/* The sealed content of a content mail, and its ARM, checked. */
static int
read_unwrap(struct agent_reader *rd, const struct tmail *tm,
    unsigned char **der, size_t *derlen, struct arm_record **ar, char *err)
{
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	enum cms_fail fail;
	char *text = NULL;
	int rc = EX_CONFIG, state;

	if (rd->rd_id.ci_cert == NULL) {
		tn_err(err, "not registered yet");
		goto out;
	}
	if (agent_unwrap(rd->rd_st, rd->rd_pass, &rd->rd_id,
	    pki_trust_store(rd->rd_trust), tm->tm_der, tm->tm_derlen, der,
	    derlen, &signer, &certs, &fail, err) == -1) {
		rc = fail == CMS_FAIL_CHAIN ? AGENT_EX_UNTRUSTED :
		    fail == CMS_FAIL_INTERNAL ? EX_SOFTWARE : AGENT_EX_TAMPERED;
		goto out;
	}
	if ((rc = agent_check_content(rd->rd_st, rd->rd_trust, signer, certs,
	    rd->rd_id.ci_cert, rd->rd_id.ci_chain, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if (store_arm_get(rd->rd_st, tm->tm_msgid, &text, &state, err) == -1)
		goto out;
	rc = state == 0 ? AGENT_EX_NOARM : state == 3 ? AGENT_EX_REVOKED :
	    AGENT_EX_EXPIRED;
	if (state != 1) {
		tn_err(err, state == 0 ? "no ARM yet for %s (run \"tandem "
		    "fetch\")" : state == 3 ? "%s was revoked by its sender" :
		    "refused: message %s expired, its key is deleted",
		    tm->tm_msgid);
		goto out;
	}
	rc = EX_DATAERR;
	if (arm_parse(text, strlen(text), ar, err) == -1)
		goto out;
	rc = AGENT_EX_SENDER;
	if (strcasecmp((*ar)->ar_sender, tm->tm_from) != 0) {
		tn_err(err, "refused: mail from %s, but the ARM's sender is %s",
		    tm->tm_from, (*ar)->ar_sender);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		free(*der);
		*der = NULL;
	}
	util_free_secret(text);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* The address of the inner message's From (at most size), or "". */
static void
read_inner_from(const unsigned char *msg, size_t len, char *addr,
    size_t size)
{
	const char *p = (const char *)msg, *end = p + len, *eol, *v, *lt;
	size_t n;

	addr[0] = '\0';
	for (; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			return;		/* the end of the header */
		if ((size_t)(eol - p) < 5 || strncasecmp(p, "From:", 5) != 0)
			continue;
		v = p + 5;
		if ((lt = memchr(v, '<', (size_t)(eol - v))) != NULL)
			v = lt + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		for (n = 0; v + n < eol && v[n] != '>' && v[n] != '\r' &&
		    v[n] != ' ' && n + 1 < size; n++)
			addr[n] = v[n];
		addr[n] = '\0';
		return;
	}
}

/*
 * Who wrote it (doc/security.md): the content's signer is a user's
 * agent, for the ARM's sender, certified by the private courier of
 * the sender's domain when that is this agent's own (mail.c:
 * agent_check_author()), and the inner message is From the sender.
 * 0, or an exit status with err (as agent_open() says them).
 */
static int
read_author(struct agent_reader *rd, const struct arm_record *ar,
    const unsigned char *der, size_t derlen, char *err)
{
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	unsigned char *msg = NULL;
	size_t msglen = 0;
	enum cms_fail fail;
	char why[TN_ERRLEN], from[TN_MAX_ADDRESS + 1];
	int rc = 0;

	if (cms_open(der, derlen, ar->ar_msgid, ar->ar_key, ar->ar_digest,
	    pki_trust_store(rd->rd_trust), &msg, &msglen, &signer, &certs,
	    &fail, why) == -1) {
		rc = fail == CMS_FAIL_DIGEST ? AGENT_EX_DIGEST :
		    fail == CMS_FAIL_DECRYPT || fail == CMS_FAIL_SIGNATURE ?
		    AGENT_EX_TAMPERED : fail == CMS_FAIL_CHAIN ?
		    AGENT_EX_UNTRUSTED : fail == CMS_FAIL_SENDER ?
		    AGENT_EX_SENDER : fail == CMS_FAIL_INPUT ? EX_DATAERR :
		    EX_SOFTWARE;
		tn_err(err, "%s%s", rc == EX_DATAERR ? "" : "refused: ", why);
		goto out;
	}
	if ((rc = agent_check_author(signer, certs, ar->ar_sender, &rd->rd_id,
	    err)) != 0)
		goto out;
	read_inner_from(msg, msglen, from, sizeof(from));
	if (strcasecmp(from, ar->ar_sender) != 0) {
		tn_err(err, "refused: the message inside is from %s, not the "
		    "sender %s", from[0] != '\0' ? from : "nobody",
		    ar->ar_sender);
		rc = AGENT_EX_SENDER;
	}
out:
	if (msg != NULL)
		OPENSSL_clear_free(msg, msglen);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* One message as mboxrd: a From_ line, LF line ends, ">From " quoted. */
static int
read_mbox(const char *sender, time_t when, const unsigned char *msg,
    size_t len, char *err)
{
	const unsigned char *p = msg, *end = msg + len, *nl;
	char date[64];
	struct tm tm;
	size_t n, q;

	if (gmtime_r(&when, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		strcpy(date, "Thu Jan  1 00:00:00 1970");
	printf("From %s %s\n", sender, date);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (nl != NULL ? (size_t)(nl - p) : (size_t)(end - p));
		if (n > 0 && p[n - 1] == '\r')
			n--;
		for (q = 0; q < n && p[q] == '>'; q++)
			;
		if (n - q >= 5 && memcmp(p + q, "From ", 5) == 0)
			putchar('>');
		fwrite(p, 1, n, stdout);
		putchar('\n');
		p = nl != NULL ? nl + 1 : end;
	}
	putchar('\n');
	if (ferror(stdout)) {
		tn_err(err, "standard output: write error");
		return EX_IOERR;
	}
	return 0;
}

static int
read_write(struct agent_reader *rd, const struct arm_record *ar,
    const unsigned char *msg, size_t len, char *err)
{
	const struct agent_opts *o = rd->rd_opts;
	char path[2048], *p;
	int n;

	rd->rd_shown++;
	if (o->o_out_dir == NULL && rd->rd_mbox)
		return read_mbox(ar->ar_sender, ar->ar_issued, msg, len, err);
	if (o->o_out_dir == NULL) {
		if (fwrite(msg, 1, len, stdout) != len) {
			tn_err(err, "standard output: write error");
			return EX_IOERR;
		}
		return 0;
	}
	n = snprintf(path, sizeof(path), "%s/", o->o_out_dir);
	if (n < 0 || (size_t)n + strlen(ar->ar_msgid) + 5 > sizeof(path)) {
		tn_err(err, "--out-dir: name too long");
		return EX_CANTCREAT;
	}
	p = path + n;
	snprintf(p, sizeof(path) - (size_t)n, "%s.eml", ar->ar_msgid);
	for (; *p != '\0'; p++)
		if (*p == '/' || !isprint((unsigned char)*p))
			*p = '_';
	if (util_write_file(path, msg, len, 0600, 0, err) == -1)
		return EX_CANTCREAT;
	printf("%s\n", path);
	return 0;
}

/*
 * A message not named (neither --id nor a FILE) is opened only if it
 * was never opened (--all: also then) and it is not Restricted: its
 * opens are counted and may be limited, so only naming it spends one.
 */
static int
read_content(struct agent_reader *rd, const struct tmail *tm, int named,
    char *err)
{
	struct arm_record *ar = NULL;
	unsigned char *der = NULL, *msg = NULL;
	size_t derlen, msglen;
	unsigned int opened = 0;
	int rc;

	if ((rc = read_unwrap(rd, tm, &der, &derlen, &ar, err)) != 0)
		goto out;
	if (!named) {
		if (store_opens(rd->rd_st, ar, &opened, err) == -1) {
			rc = EX_SOFTWARE;
			goto out;
		}
		if (opened > 0 && !rd->rd_opts->o_all) {
			rd->rd_old++;
			goto out;
		}
		if (arm_is_restricted(ar)) {
			rd->rd_held++;
			fprintf(stderr, "tandem: %s from %s is restricted; not "
			    "opened: tandem read --id %s%s%s%s\n", ar->ar_msgid,
			    ar->ar_sender, ar->ar_msgid,
			    ar->ar_restr.rs_read_receipt ? " (its first open "
			    "sends a read receipt to " : "",
			    ar->ar_restr.rs_read_receipt ? ar->ar_sender : "",
			    ar->ar_restr.rs_read_receipt ? ")" : "");
			goto out;
		}
	}
	/* No-Copy: refused before anything is decrypted or counted. */
	if ((rd->rd_opts->o_out_dir != NULL || restrict_stdout_file()) &&
	    (rc = restrict_refuse(ar, RESTRICT_COPY, err)) != 0)
		goto out;
	if ((rc = read_author(rd, ar, der, derlen, err)) != 0 ||
	    (rc = agent_open(rd->rd_st, rd->rd_trust, ar, der, derlen, 1,
	    &msg, &msglen, err)) != 0)
		goto out;
	restrict_show(ar);
	if ((rc = restrict_owe(rd->rd_st, ar, err)) != 0)
		goto out;
	rc = read_write(rd, ar, msg, msglen, err);
out:
	arm_free(ar);
	free(der);
	free(msg);
	return rc;
}

/*
 * forward, reply (forward.c): the message named, opened for the caller
 * unless its restrictions forbid what rd_forbid says. A failure is
 * kept in rd_got_rc and rd_got_err (0 returned: the scan goes on).
 */
static int
read_get(struct agent_reader *rd, const struct tmail *tm, char *err)
{
	struct arm_record *ar = NULL;
	unsigned char *der = NULL, *msg = NULL;
	size_t derlen, msglen = 0;
	int rc;

	if ((rc = read_unwrap(rd, tm, &der, &derlen, &ar, err)) != 0 ||
	    (rc = restrict_refuse(ar, rd->rd_forbid, err)) != 0 ||
	    (rc = read_author(rd, ar, der, derlen, err)) != 0 ||
	    (rc = agent_open(rd->rd_st, rd->rd_trust, ar, der, derlen,
	    rd->rd_count, &msg, &msglen, err)) != 0 ||
	    (rd->rd_count && (rc = restrict_owe(rd->rd_st, ar, err)) != 0)) {
		rd->rd_got_rc = rc;
		snprintf(rd->rd_got_err, sizeof(rd->rd_got_err), "%s", err);
		arm_free(ar);
		if (msg != NULL)
			OPENSSL_clear_free(msg, msglen);
	} else {
		rd->rd_got_ar = ar;
		rd->rd_got_msg = msg;
		rd->rd_got_len = msglen;
	}
	free(der);
	return 0;
}

/*
 * fetch --maildir (deliver.c): a message not delivered before and that
 * can be opened now goes into rd_deliver, as it was sealed, its open
 * not counted; a Restricted one as a notice only, not decrypted. One
 * without its ARM yet, expired or revoked is left (0).
 */
static int
read_deliver(struct agent_reader *rd, const struct tmail *tm,
    const char *mail, size_t maillen, char *err)
{
	struct arm_record *ar = NULL;
	unsigned char *der = NULL, *msg = NULL;
	size_t derlen, msglen = 0;
	int rc, done;

	if (store_delivered(rd->rd_st, tm->tm_msgid, &done, err) == -1)
		return EX_SOFTWARE;
	if (done)
		return 0;
	rc = read_unwrap(rd, tm, &der, &derlen, &ar, err);
	if (rc == AGENT_EX_NOARM || rc == AGENT_EX_EXPIRED ||
	    rc == AGENT_EX_REVOKED) {
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
	if (arm_is_restricted(ar))
		rc = deliver_notice(rd->rd_deliver, mail, maillen, ar, err);
	else if ((rc = read_author(rd, ar, der, derlen, err)) == 0 &&
	    (rc = agent_open(rd->rd_st, rd->rd_trust, ar, der, derlen, 0,
	    &msg, &msglen, err)) == 0)
		rc = deliver_write(rd->rd_deliver, msg, msglen, err);
	if (rc == 0 && store_deliver_mark(rd->rd_st, ar->ar_msgid, err) == -1)
		rc = EX_SOFTWARE;
	if (rc == 0)
		rd->rd_shown++;
out:
	arm_free(ar);
	free(der);
	if (msg != NULL)
		OPENSSL_clear_free(msg, msglen);
	return rc;
}

/*
 * inbox, a readable message: what its restrictions forbid, and whom
 * its first open tells (a read receipt; once opened "receipt=waiting"
 * until the background took it, then "receipt=sent").
 */
static void
inbox_restrictions(struct agent_reader *rd, const struct tmail *tm,
    const struct arm_record *ar)
{
	char names[128], err[TN_ERRLEN], *p, *q;
	int state = 0;

	restrict_names(ar, names, sizeof(names));
	for (p = q = names; *p != '\0'; p++)
		if (*p != ' ')
			*q++ = *p;
	*q = '\0';
	printf("%s %s readable", tm->tm_msgid, tm->tm_from);
	if (names[0] != '\0')
		printf(" restrictions=%s", names);
	if (ar->ar_restr.rs_read_receipt) {
		if (store_receipt_state(rd->rd_st, ar->ar_msgid, &state,
		    err) == -1)
			state = 0;
		printf(" receipt=%s", state == 2 ? "sent" : state == 1 ?
		    "waiting" : ar->ar_sender);
	}
	putchar('\n');
}

/* inbox: what a read would say, without opening. */
static int
inbox_content(struct agent_reader *rd, const struct tmail *tm, char *err)
{
	struct arm_record *ar = NULL;
	unsigned char *der = NULL, dg[CMS_DIGESTLEN];
	const char *st = "readable";
	size_t derlen;
	unsigned int n = 0;
	int rc;

	rc = read_unwrap(rd, tm, &der, &derlen, &ar, err);
	if (rc == AGENT_EX_NOARM)
		st = "no-arm";
	else if (rc == AGENT_EX_REVOKED)
		st = "revoked";
	else if (rc == AGENT_EX_EXPIRED || (rc == 0 &&
	    ar->ar_restr.rs_expires != 0 &&
	    time(NULL) >= ar->ar_restr.rs_expires))
		st = "expired";
	else if (rc == 0 && (cms_digest(der, derlen, dg) == -1 ||
	    memcmp(dg, ar->ar_digest, CMS_DIGESTLEN) != 0))
		st = "refused: not the content its ARM is for";
	else if (rc == 0 && (rc = read_author(rd, ar, der, derlen,
	    err)) != 0)
		st = NULL;	/* refused: err says why */
	else if (rc == 0 && ar->ar_restr.rs_max_opens != 0 &&
	    store_opens(rd->rd_st, ar, &n, err) == 0 &&
	    n >= ar->ar_restr.rs_max_opens)
		st = "opens-used";
	if (rc != 0 && rc != AGENT_EX_NOARM && rc != AGENT_EX_EXPIRED &&
	    rc != AGENT_EX_REVOKED)
		printf("%s %s refused: %s\n", tm->tm_msgid, tm->tm_from, err);
	else if (rc == 0 && strcmp(st, "readable") == 0)
		inbox_restrictions(rd, tm, ar);
	else
		printf("%s %s %s\n", tm->tm_msgid, tm->tm_from, st);
	arm_free(ar);
	free(der);
	return 0;
}

/*
 * The bytes of a file of the Maildir, or of one named. The open never
 * waits (O_NONBLOCK: a FIFO would hang it) and in the Maildir never
 * follows a link. 0, READ_SKIPPED for a Maildir entry that is not a
 * regular file (a FIFO, a link, a folder: not mail, reported and
 * skipped), or an exit status.
 */
static int
read_file(const char *path, int named, unsigned char **buf, size_t *len,
    char *err)
{
	struct stat st;
	int fd, rc = EX_NOINPUT;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (named ? 0 :
	    O_NOFOLLOW));
	if (fd == -1 && errno == ELOOP && !named) {
		tn_err(err, "a symbolic link: skipped");
		rc = READ_SKIPPED;
	} else if (fd == -1)
		tn_err(err, "%s", strerror(errno));
	else if (fstat(fd, &st) == -1)
		tn_err(err, "%s", strerror(errno));
	else if (!S_ISREG(st.st_mode)) {
		tn_err(err, "not a regular file (%s)%s",
		    util_file_type(st.st_mode), named ? "" : ": skipped");
		rc = named ? EX_NOINPUT : READ_SKIPPED;
	} else if (util_read_fd(fd, TN_MAX_MESSAGE, buf, len, err) == 0)
		rc = 0;
	if (fd != -1)
		close(fd);
	return rc;
}

static int
read_one(struct agent_reader *rd, const char *path, int named, int mode,
    char *err)
{
	const struct agent_opts *o = rd->rd_opts;
	struct tmail *tm = NULL;
	unsigned char *buf = NULL;
	size_t len;
	int rc;

	if ((rc = read_file(path, named, &buf, &len, err)) != 0)
		goto out;
	if (!has_kind((char *)buf, len)) {
		if (named) {
			tn_err(err, "not a Tandem mail (no Tandem-Kind)");
			rc = EX_DATAERR;
		}
		goto out;
	}
	rc = EX_DATAERR;
	if (tmail_parse((char *)buf, len, &tm, err) == -1)
		goto out;
	rc = 0;
	if (mode == AGENT_SCAN_GET) {
		if (tm->tm_kind == TMAIL_CONTENT && o->o_id != NULL &&
		    strcmp(o->o_id, tm->tm_msgid) == 0 &&
		    rd->rd_got_ar == NULL && rd->rd_got_rc == 0)
			rc = read_get(rd, tm, err);
	} else if (mode == AGENT_SCAN_DELIVER) {
		if (tm->tm_kind == TMAIL_CONTENT)
			rc = read_deliver(rd, tm, (char *)buf, len, err);
	} else if (tm->tm_kind == TMAIL_SERVICE && mode != AGENT_SCAN_INBOX)
		rc = agent_service(rd, tm, err);
	else if (tm->tm_kind == TMAIL_SERVICE || (tm->tm_kind ==
	    TMAIL_INVITATION && mode == AGENT_SCAN_INBOX))
		printf("%s %s %s\n", tm->tm_msgid, tm->tm_from,
		    tmail_kind_name(tm->tm_kind));
	else if (tm->tm_kind == TMAIL_INVITATION && mode == AGENT_SCAN_READ &&
	    rd->rd_id.ci_cert != NULL && rd->rd_courier != NULL)
		rc = agent_reject(rd, tm, path, err);
	else if (tm->tm_kind == TMAIL_INVITATION && mode == AGENT_SCAN_READ) {
		fprintf(stderr, "tandem: %s: an invitation from %s: see "
		    "\"tandem register\" (its link, or --invitation FILE)\n",
		    path, tm->tm_from);
		rd->rd_reported = 1;
	}
	else if (tm->tm_kind != TMAIL_CONTENT || mode == AGENT_SCAN_SERVICE ||
	    (o->o_id != NULL && strcmp(o->o_id, tm->tm_msgid) != 0))
		rc = 0;
	else if (mode == AGENT_SCAN_INBOX)
		rc = inbox_content(rd, tm, err);
	else
		rc = read_content(rd, tm, named || o->o_id != NULL, err);
out:
	tmail_free(tm);
	free(buf);
	return rc;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of DIR/sub, sorted, appended to *list. */
static int
maildir_list(const char *dir, const char *sub, char ***list, size_t *n,
    char *err)
{
	DIR *d;
	struct dirent *de;
	char *p, **l;
	size_t first = *n;

	if (asprintf(&p, "%s/%s", dir, sub) == -1)
		return -1;
	d = opendir(p);
	free(p);
	if (d == NULL)
		return 0;	/* checked by the caller for new/ */
	while ((de = readdir(d)) != NULL && *n < AGENT_MAX_FILES) {
		if (de->d_name[0] == '.')
			continue;
		if ((l = realloc(*list, (*n + 1) * sizeof(*l))) == NULL ||
		    asprintf(&l[*n], "%s/%s/%s", dir, sub, de->d_name) == -1) {
			if (l != NULL)
				*list = l;
			tn_err(err, "out of memory");
			closedir(d);
			return -1;
		}
		*list = l;
		(*n)++;
	}
	closedir(d);
	if (*n > first)
		qsort(*list + first, *n - first, sizeof(**list), name_cmp);
	return 0;
}

/* What a read without names left out, on standard error. */
static void
reader_summary(const struct agent_reader *rd)
{
	const struct agent_opts *o = rd->rd_opts;

	if (o->o_nfiles != 0 || o->o_id != NULL)
		return;
	if (rd->rd_old > 0)
		fprintf(stderr, "tandem: %u message%s read before, not shown "
		    "(--all shows them)\n", rd->rd_old,
		    rd->rd_old == 1 ? "" : "s");
	if (rd->rd_shown == 0 && rd->rd_held == 0 && !rd->rd_reported)
		fprintf(stderr, "tandem: no new messages\n");
}

int
reader_scan(struct agent_reader *rd, int mode, char *err)
{
	const struct agent_opts *o = rd->rd_opts;
	const char *md = o->o_maildir != NULL ? o->o_maildir :
	    net_maildir(rd->rd_net);
	char **list = NULL, why[TN_ERRLEN], *p, *home = NULL;
	size_t n = 0, i;
	int rc = 0, r;

	rd->rd_mbox = mode == AGENT_SCAN_READ && o->o_out_dir == NULL &&
	    o->o_id == NULL && o->o_nfiles != 1;
	if (o->o_nfiles == 0 && md == NULL && (p = getenv("HOME")) != NULL &&
	    *p != '\0' && asprintf(&home, "%s/Maildir", p) != -1)
		md = home;
	if (o->o_nfiles == 0) {
		if (md == NULL || asprintf(&p, "%s/new", md) == -1) {
			tn_err(err, "no Maildir: use --maildir");
			return EX_USAGE;
		}
		r = access(p, R_OK);
		free(p);
		if (r == -1) {
			tn_err(err, "%s: not a Maildir (no new/; --maildir "
			    "names another)", md);
			free(home);
			return EX_NOINPUT;
		}
		if (maildir_list(md, "new", &list, &n, err) == -1 ||
		    maildir_list(md, "cur", &list, &n, err) == -1)
			rc = EX_OSERR;
	}
	for (i = 0; rc != EX_OSERR && i < (o->o_nfiles ? o->o_nfiles : n);
	    i++) {
		p = o->o_nfiles ? o->o_files[i] : list[i];
		if ((r = read_one(rd, p, o->o_nfiles != 0, mode, why)) == 0)
			continue;
		if (!rd->rd_quiet) {
			fprintf(stderr, "tandem: %s: %s\n", p, why);
			rd->rd_reported = 1;
		}
		if (rc == 0 && r != READ_SKIPPED) {
			rc = r;
			tn_err(err, "%s: %s", p, why);
		}
	}
	if (mode == AGENT_SCAN_READ && !rd->rd_quiet)
		reader_summary(rd);
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	free(home);
	return rc;
}

/*
 * The read receipts owed (restrict.c), through the background; one
 * that cannot go now waits for the next read or fetch: the read's exit
 * status is the read's.
 */
static void
read_receipts(const struct agent_opts *o, const char *pass)
{
	struct agent_session as;
	char err[TN_ERRLEN];

	if (agent_session_with(&as, o, pass, err) != 0 ||
	    restrict_receipts(&as, "tandem read", err) != 0)
		fprintf(stderr, "tandem read: the read receipt waits for the "
		    "next tandem fetch or read: %s\n", err);
	agent_session_free(&as);
}

static int
read_cmd(struct agent_opts *o, int mode)
{
	struct agent_reader rd;
	char err[TN_ERRLEN], *pass = NULL;
	unsigned int owed = 0;
	int rc;

	if ((rc = agent_password(o, &pass)) != 0)
		return rc;
	if ((rc = reader_open(&rd, o, pass, err)) == 0)
		rc = reader_scan(&rd, mode, err);
	if (rc != 0 && !rd.rd_reported)
		fprintf(stderr, "tandem: %s\n", err);
	if (mode == AGENT_SCAN_READ && rd.rd_st != NULL &&
	    restrict_owed(rd.rd_st, &owed, err) == 0 && owed > 0) {
		reader_close(&rd);
		read_receipts(o, pass);
	}
	reader_close(&rd);
	util_free_secret(pass);
	return rc;
}

/* "tandem arm MSGID": the ARM record kept for MSGID, opened. */
static int
arm_run(const struct agent_opts *o, const char *pass, char *err)
{
	struct store *st = NULL;
	const char *id = o->o_files[0];
	char *text = NULL;
	int rc = EX_NOINPUT, state;

	if ((st = store_open(o->o_dir, 0, err)) == NULL)
		goto out;
	rc = EX_NOPERM;
	if (store_unlock(st, pass, err) == -1)
		goto out;
	rc = EX_SOFTWARE;
	if (store_arm_get(st, id, &text, &state, err) == -1)
		goto out;
	rc = state == 0 ? AGENT_EX_NOARM : state == 3 ? AGENT_EX_REVOKED :
	    AGENT_EX_EXPIRED;
	if (state != 1) {
		tn_err(err, state == 0 ? "no ARM for %s" : state == 3 ?
		    "%s was revoked by its sender" : "message %s expired, "
		    "its key is deleted", id);
		goto out;
	}
	rc = EX_CANTCREAT;
	if (o->o_out != NULL ? util_write_file(o->o_out, text, strlen(text),
	    0600, 0, err) == -1 : fputs(text, stdout) == EOF) {
		if (o->o_out == NULL)
			tn_err(err, "standard output: write error");
		goto out;
	}
	rc = 0;
out:
	util_free_secret(text);
	store_close(st);
	return rc;
}

int
cmd_arm(struct agent_opts *o)
{
	char err[TN_ERRLEN], *pass = NULL;
	int rc;

	if (o->o_nfiles != 1) {
		fprintf(stderr, "tandem arm: need one message id\n");
		return EX_USAGE;
	}
	if ((rc = agent_password(o, &pass)) != 0)
		return rc;
	if ((rc = arm_run(o, pass, err)) != 0)
		fprintf(stderr, "tandem arm: %s\n", err);
	util_free_secret(pass);
	return rc;
}

int
cmd_read(struct agent_opts *o)
{
	return read_cmd(o, AGENT_SCAN_READ);
}

int
cmd_inbox(struct agent_opts *o)
{
	return read_cmd(o, AGENT_SCAN_INBOX);
}
