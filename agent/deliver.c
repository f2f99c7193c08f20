/*
 * NAME
 *	deliver.c - "tandem fetch --maildir DIR": private mail for any client
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	agent_deliver(const struct agent_opts *o, const char *pass,
 *		    const char *dir, char *err);
 *	int	deliver_write(const char *dir, const void *buf, size_t len,
 *		    char *err);
 *	int	deliver_notice(const char *dir, const char *mail,
 *		    size_t maillen, const struct arm_record *ar, char *err);
 * DESCRIPTION
 *	agent_deliver() goes through the agent's Maildir (the configured
 *	one, else $HOME/Maildir: never DIR) as "tandem read" does
 *	(reader_scan(), mode AGENT_SCAN_DELIVER) and puts each private
 *	message it can open, and did not deliver before (table delivered,
 *	store.c), into the Maildir DIR (read.c: read_deliver()). A message
 *	without a Restricted ARM goes as the plain message its sender
 *	sealed, byte for byte, without counting an open; a Restricted one
 *	(arm_is_restricted(): an expiry, an open count, no-forward...)
 *	as a notice only, made without decrypting it. pass stays the
 *	caller's.
 *
 *	deliver_write() writes buf into DIR/tmp/ under a unique name
 *	(SECONDS.MMICROSECONDSPPIDQN.HOST, the Maildir way) and renames
 *	it into DIR/new/, making DIR, tmp/, new/ and cur/ (0700) if
 *	missing. The file is 0600 and synced before the rename.
 *
 *	deliver_notice() delivers, for the content mail mail whose ARM is
 *	ar, a text/plain message with the mail's From, To, Subject, Date
 *	and Message-ID (those of the Tandem mail, which say nothing of the
 *	content), then the restrictions as header fields a mail client can
 *	show (Tandem-Restrictions: the flags, "no-forward, no-reply-all,
 *	no-print, no-copy" as set; Tandem-Expires; Tandem-Max-Opens;
 *	Tandem-Read-Receipt naming whom the first open tells), a body
 *	naming them in words and the command that reads it: "tandem read
 *	--id MESSAGE-ID".
 * DIAGNOSTICS
 *	agent_deliver() returns 0 or an exit status, each failure said on
 *	standard error ("tandem: FILE: REASON" as "tandem read" says them,
 *	else "tandem fetch: --maildir DIR: REASON"); deliver_write() and
 *	deliver_notice() return 0 or EX_CANTCREAT, EX_IOERR, EX_OSERR with
 *	the reason in err.
 */
#include <sys/stat.h>

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
#include "agent.h"

#define DELIVER_MAX_HEAD	4096	/* of the fields copied */

static int
deliver_mkdirs(const char *dir, char *err)
{
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	char path[2048];
	size_t i;

	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s", dir,
		    sub[i]) >= sizeof(path)) {
			tn_err(err, "--maildir: name too long");
			return -1;
		}
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			tn_err(err, "%s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* SECONDS.MMICROSECONDSPPIDQN.HOST, '/' and ':' of HOST escaped. */
static void
deliver_name(char *name, size_t size)
{
	static unsigned int q;
	struct timespec ts;
	char host[256], safe[1024], *s = safe;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gethostname(host, sizeof(host)) == -1)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == ':') {
			snprintf(s, 5, "\\%03o", (unsigned char)host[i]);
			s += 4;
		} else
			*s++ = host[i];
	*s = '\0';
	snprintf(name, size, "%lld.M%06ldP%ldQ%u.%s", (long long)ts.tv_sec,
	    ts.tv_nsec / 1000, (long)getpid(), ++q, safe);
}

int
deliver_write(const char *dir, const void *buf, size_t len, char *err)
{
	char name[1400], tmp[4096], dst[4096];
	int fd = -1, rc = EX_CANTCREAT;

	if (deliver_mkdirs(dir, err) == -1)
		return EX_CANTCREAT;
	deliver_name(name, sizeof(name));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name) >=
	    sizeof(tmp) || (size_t)snprintf(dst, sizeof(dst), "%s/new/%s",
	    dir, name) >= sizeof(dst)) {
		tn_err(err, "--maildir: name too long");
		return EX_CANTCREAT;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		tn_err(err, "%s: %s", tmp, strerror(errno));
		return EX_CANTCREAT;
	}
	rc = EX_IOERR;
	errno = 0;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) == -1) {
		tn_err(err, "%s: %s", tmp, errno != 0 ? strerror(errno) :
		    "short write");
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		tn_err(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) == -1) {
		tn_err(err, "%s: %s", dst, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* The header field name of mail (folded lines included, CR dropped). */
static void
deliver_field(const char *mail, size_t len, const char *name, char *out,
    size_t *n, size_t size)
{
	const char *p = mail, *end = mail + len, *nl;
	size_t nlen = strlen(name);
	int in = 0;

	for (; p < end && *p != '\r' && *p != '\n'; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (*p != ' ' && *p != '\t')
			in = (size_t)(nl - p) > nlen && p[nlen] == ':' &&
			    strncasecmp(p, name, nlen) == 0;
		for (; in && p < nl && *n + 2 < size; p++)
			if (*p != '\r')
				out[(*n)++] = *p;
		if (in && *n + 1 < size)
			out[(*n)++] = '\n';
		if (nl == end)
			break;
	}
	out[*n] = '\0';
}

/* What the restrictions of ar are, in words. */
static void
deliver_restrictions(const struct arm_record *ar, char *out, size_t size)
{
	const struct arm_restrictions *rs = &ar->ar_restr;
	char when[32];
	struct tm tm;
	size_t n = 0;

	out[0] = '\0';
	if (rs->rs_expires != 0 && gmtime_r(&rs->rs_expires, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) != 0)
		n += (size_t)snprintf(out + n, size - n, "  - it expires at "
		    "%s\n", when);
	if (rs->rs_max_opens != 0 && n < size)
		n += (size_t)snprintf(out + n, size - n, "  - it may be opened "
		    "%u time%s\n", rs->rs_max_opens,
		    rs->rs_max_opens == 1 ? "" : "s");
	if (rs->rs_no_forward && n < size)
		n += (size_t)snprintf(out + n, size - n, "  - it may not be "
		    "forwarded\n");
	if (rs->rs_no_reply_all && n < size)
		n += (size_t)snprintf(out + n, size - n, "  - no reply to "
		    "all\n");
	if ((rs->rs_no_print || rs->rs_no_copy) && n < size)
		n += (size_t)snprintf(out + n, size - n, "  - it may not be "
		    "printed or copied\n");
	if (rs->rs_read_receipt && n < size)
		snprintf(out + n, size - n, "  - its first open sends a read "
		    "receipt to %s\n", ar->ar_sender);
}

/*
 * The restrictions of ar as header fields an ordinary mail client can
 * show (doc/flows.md), appended to out.
 */
static void
deliver_headers(const struct arm_record *ar, char *out, size_t *n,
    size_t size)
{
	const struct arm_restrictions *rs = &ar->ar_restr;
	char names[128], when[32];
	struct tm tm;

	restrict_names(ar, names, sizeof(names));
	if (names[0] != '\0' && *n < size)
		*n += (size_t)snprintf(out + *n, size - *n,
		    "Tandem-Restrictions: %s\n", names);
	if (rs->rs_expires != 0 && gmtime_r(&rs->rs_expires, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) != 0 &&
	    *n < size)
		*n += (size_t)snprintf(out + *n, size - *n,
		    "Tandem-Expires: %s\n", when);
	if (rs->rs_max_opens != 0 && *n < size)
		*n += (size_t)snprintf(out + *n, size - *n,
		    "Tandem-Max-Opens: %u\n", rs->rs_max_opens);
	if (rs->rs_read_receipt && *n < size)
		*n += (size_t)snprintf(out + *n, size - *n,
		    "Tandem-Read-Receipt: sent to %s when first opened\n",
		    ar->ar_sender);
	if (*n >= size)
		*n = size - 1;
	out[*n] = '\0';
}

int
deliver_notice(const char *dir, const char *mail, size_t maillen,
    const struct arm_record *ar, char *err)
{
	char head[DELIVER_MAX_HEAD], what[1024], *text = NULL;
	size_t n = 0;
	int len, rc;

	deliver_field(mail, maillen, "From", head, &n, sizeof(head));
	deliver_field(mail, maillen, "To", head, &n, sizeof(head));
	deliver_field(mail, maillen, "Subject", head, &n, sizeof(head));
	deliver_field(mail, maillen, "Date", head, &n, sizeof(head));
	deliver_field(mail, maillen, "Message-ID", head, &n, sizeof(head));
	deliver_restrictions(ar, what, sizeof(what));
	deliver_headers(ar, head, &n, sizeof(head));
	if ((len = asprintf(&text, "%sMIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=us-ascii\n"
	    "Content-Transfer-Encoding: 7bit\n\n"
	    "This is a restricted private message from %s:\n%s\n"
	    "Its sender's restrictions forbid a plain copy, so none is "
	    "here.\nRead it with the Tandem agent:\n\n"
	    "    tandem read --id %s\n", head, ar->ar_sender, what,
	    ar->ar_msgid)) == -1) {
		tn_err(err, "out of memory");
		return EX_OSERR;
	}
	rc = deliver_write(dir, text, (size_t)len, err);
	free(text);
	return rc;
}

int
agent_deliver(const struct agent_opts *o, const char *pass, const char *dir,
    char *err)
{
	struct agent_opts ro = *o;
	struct agent_reader rd;
	int rc;

	ro.o_maildir = NULL;	/* the configured one: DIR is the target */
	ro.o_nfiles = 0;
	ro.o_id = NULL;
	if ((rc = reader_open(&rd, &ro, pass, err)) == 0) {
		rd.rd_deliver = dir;
		rc = reader_scan(&rd, AGENT_SCAN_DELIVER, err);
	}
	if (rc != 0 && !rd.rd_reported)
		fprintf(stderr, "tandem fetch: --maildir %s: %s\n", dir, err);
	reader_close(&rd);
	return rc;
}
