/*
 * NAME
 *	tandem-milter - the foreground element of a Tandem courier
 * SYNOPSIS
 *	tandem-milter -c FILE [-f] [-n] [-u USER]
 * DESCRIPTION
 *	See tandem-milter(8). The callbacks only gather the message and
 *	carry out the verdict; msg_process() decides at end of message,
 *	in one database transaction that commits before the reply (for
 *	content mail, begun only before its first write: msg_db_write()),
 *	and rolls back on a failure or a refusal (db.h).
 *	Started as root, it loads its files and checks its identity
 *	against the configuration (selfcheck_identity(); -n stops
 *	there), refuses a unix: socket that another milter still
 *	answers on (sock_refuse_running()), forks the CA process
 *	(ca_start()), opens the milter socket (a unix: one mode 0660,
 *	group foreground.socket_group), then becomes foreground.user
 *	(-u USER overrides it; default nobody; never root, never
 *	foreground.ca_user) and checks that it can no longer read the
 *	issuing key (ca_unreadable()). Only then does it leave the
 *	terminal (without -f): every reason not to start reaches
 *	standard error (log_detached()). SIGHUP, SIGINT and SIGTERM are
 *	blocked before any thread starts (signals_block()), so that the
 *	signal thread alone takes them (reload.c; not libmilter's, which
 *	would stop on SIGHUP): SIGINT and SIGTERM end smfi_main() (the
 *	milter logs "stopped" and exits 0), SIGHUP reloads.
 *	The MTA connection's private pointer is the connection context
 *	(struct conn, made at the first envfrom, freed at close), which
 *	holds the message context in progress (struct msg, made at
 *	envfrom, freed at eom, abort or close). The message takes the
 *	current configuration snapshot at envfrom (fg_hold()) and gives
 *	it back when it is freed: it ends with what it started with.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <libmilter/mfapi.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "crlfetch.h"
#include "fgfed.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "rate.h"
#include "selfcheck.h"
#include "tandem.h"
#include "util.h"

#define MSG_REPLBODY_SMALL	1000	/* bytes per smfi_replacebody() */
#define MSG_REPLBODY_LARGE	65535	/* the protocol's chunk */

static struct fgproc *proc;	/* what lasts: the current snapshot */

/*
 * The connection context, the MTA connection's private pointer: the
 * message in progress (NULL between messages). Made at the first
 * envfrom, freed at close (which libmilter also calls when the MTA
 * keeps the connection for a new SMTP session: the next envfrom makes
 * another).
 */
struct conn {
	struct msg	*cn_msg;
};

void
msg_fail(struct msg *mc, enum msg_verdict v, const char *fmt, ...)
{
	va_list ap;

	if (mc->mc_verdict != MSG_OK)
		return;
	mc->mc_verdict = v;
	va_start(ap, fmt);
	vsnprintf(mc->mc_reply, sizeof(mc->mc_reply), fmt, ap);
	va_end(ap);
}

void
msg_note(struct msg *mc, const char *fmt, ...)
{
	size_t n = strlen(mc->mc_note);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mc->mc_note + n, sizeof(mc->mc_note) - n, fmt, ap);
	va_end(ap);
}

/* Is one of the recipients this courier's service mailbox? */
int
msg_for_service(const struct msg *mc)
{
	const char *box = mc->mc_fg->fg_conf->cf_service_mailbox;
	size_t i;

	for (i = 0; i < mc->mc_nrcpts; i++)
		if (strcasecmp(mc->mc_rcpts[i], box) == 0)
			return 1;
	return 0;
}

void
msg_consume(struct msg *mc)
{
	const char *box = mc->mc_fg->fg_conf->cf_service_mailbox;
	size_t i, others = 0;

	for (i = 0; i < mc->mc_nrcpts; i++) {
		if (strcmp(mc->mc_rcpts[i], box) == 0)
			mc->mc_drop[i] = 1;
		else
			others++;
	}
	if (others == 0)
		mc->mc_discard = 1;
}

static void
msg_free(struct msg *mc)
{
	size_t i;

	if (mc == NULL)
		return;
	if (mc->mc_slot) {
		pthread_mutex_lock(&proc->fp_lock);
		proc->fp_busy--;
		pthread_mutex_unlock(&proc->fp_lock);
	}
	fg_release(mc->mc_fg);
	free(mc->mc_sender);
	for (i = 0; i < mc->mc_nrcpts; i++)
		free(mc->mc_rcpts[i]);
	free(mc->mc_rcpts);
	free(mc->mc_head);
	free(mc->mc_mail);
	free(mc->mc_newbody);
	free(mc->mc_drop);
	free(mc);
}

/* "<Foo@Example>" -> "foo@example"; NULL if not an address. */
static char *
msg_addr(const char *arg)
{
	size_t n;
	char *s, *p;

	if (arg == NULL)
		return NULL;
	if (*arg == '<')
		arg++;
	n = strcspn(arg, ">");
	if ((s = strndup(arg, n)) == NULL)
		return NULL;
	for (p = s; *p != '\0'; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	return s;
}

/*
 * Appends a to *buf, of *cap bytes, grown by doubling (one realloc()
 * per doubling, not one per header or body chunk): -1 beyond
 * TN_MAX_MESSAGE, -2 out of memory.
 */
static int
msg_append(char **buf, size_t *len, size_t *cap, const char *a,
    size_t alen)
{
	size_t want = *len + alen + 1, c;
	char *n;

	if (*len + alen > TN_MAX_MESSAGE)
		return -1;
	if (want > *cap) {
		for (c = *cap < 1024 ? 1024 : *cap; c < want; c *= 2)
			;
		if (c > TN_MAX_MESSAGE + 1)
			c = TN_MAX_MESSAGE + 1;
		if ((n = realloc(*buf, c)) == NULL)
			return -2;
		*buf = n;
		*cap = c;
	}
	memcpy(*buf + *len, a, alen);
	*len += alen;
	(*buf)[*len] = '\0';
	return 0;
}

/*
 * A connection from the pool, inside a new transaction when begin is
 * set. pool_get() drops idle ones the server has visibly closed (a
 * restarted database); one that went away unseen is reconnected by
 * its first statement, outside any transaction yet (db_exec()). With
 * begin, one whose BEGIN still fails is dropped and the next taken,
 * so the loop ends at the latest with a new connection. Without
 * begin, a first statement that still fails gives the message a 451.
 * NULL with the verdict set (4.3.0) and the reason logged.
 */
PGconn *
msg_db_get(struct msg *mc, int begin)
{
	struct pool *po = mc->mc_fg->fg_pool;
	char err[TN_ERRLEN];
	PGconn *db;
	int fresh;

	for (;;) {
		if ((db = pool_get(po, &fresh)) == NULL) {
			tn_err(err, "out of memory");
			return NULL;
		}
		if (PQstatus(db) == CONNECTION_OK && (!begin ||
		    db_begin(db, err) == 0))
			return db;
		if (PQstatus(db) != CONNECTION_OK)
			tn_err(err, "%s", PQerrorMessage(db));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(db);
		if (fresh)
			break;
	}
	msg_fail(mc, MSG_TEMP, "4.3.0 database unavailable");
	log_warn("%s status=tempfail reason=\"database: %s\"", mc->mc_qid,
	    err);
	return NULL;
}

/*
 * The end of a message's use of db (NULL: none): what it began
 * committed when rc is 0 and the verdict is to pass it, else rolled
 * back; the connection back to the pool. rc, or -1 when the commit
 * fails (the verdict then 4.3.0).
 */
int
msg_db_end(struct msg *mc, PGconn *db, int rc)
{
	char err[TN_ERRLEN];

	if (db != NULL && PQtransactionStatus(db) != PQTRANS_IDLE &&
	    rc == 0 && mc->mc_verdict == MSG_OK) {
		if (db_commit(db, err) == -1) {
			msg_fail(mc, MSG_TEMP, "4.3.0 database commit failed");
			rc = -1;
		} else	/* what it wrote, for the next message at once */
			acache_forget(mc->mc_fg->fg_proc->fp_acache);
	}
	db_rollback(db);	/* a failure or a refusal: what it began */
	pool_put(mc->mc_fg->fg_pool, db);	/* or closes it */
	return rc;
}

/*
 * Content mail reads without a transaction (each statement of one
 * would see its own snapshot anyway, at READ COMMITTED), and begins
 * one before its first write: the common case, rewrapped in place for
 * local recipients, writes nothing and saves two round trips.
 */
int
msg_db_write(struct msg *mc, PGconn *db)
{
	char err[TN_ERRLEN];

	if (PQtransactionStatus(db) != PQTRANS_IDLE)
		return 0;
	if (db_begin(db, err) == 0)
		return 0;
	msg_fail(mc, MSG_TEMP, "4.3.0 database: %s", err);
	return -1;
}

int
msg_process(struct msg *mc)
{
	struct tmail *tm = NULL;
	char err[TN_ERRLEN];
	PGconn *db = NULL;
	int rc = -1;

	if (mc->mc_mail == NULL) {	/* cb_eoh() could not begin it */
		msg_fail(mc, MSG_TEMP, "4.3.0 out of memory");
		goto out;
	}
	if (mc->mc_tandem == MSG_DECLINE) {	/* no Tandem-Kind: decline.c */
		rc = decline_process(mc);
		goto out;
	}
	rc = tmail_parse(mc->mc_mail, mc->mc_maillen, &tm, err);
	/* Everything from here on reads tm: the mail goes now. */
	free(mc->mc_mail);
	mc->mc_mail = NULL;
	mc->mc_maillen = mc->mc_mailcap = 0;
	if (rc == -1) {
		msg_fail(mc, MSG_PERM, "5.6.0 bad Tandem mail: %s", err);
		goto out;
	}
	rc = -1;
	if (tm->tm_kind == TMAIL_INVITATION) {
		rc = 0;		/* an invitation for a user: deliver as is */
		goto out;
	}
	/*
	 * Service mail for another courier (an agent moving to it, doc/
	 * flows.md 9) passes through as it is: only that courier opens it.
	 */
	if (tm->tm_kind != TMAIL_CONTENT && !msg_for_service(mc)) {
		msg_note(mc, " kind=%s passed=another-courier",
		    tm->tm_kind == TMAIL_SERVICE ? "service" : "inter-courier");
		rc = 0;
		goto out;
	}
	if ((db = msg_db_get(mc, tm->tm_kind != TMAIL_CONTENT)) == NULL)
		goto out;
	if ((tm->tm_kind == TMAIL_CONTENT ? content_process(mc, db, tm) :
	    tm->tm_kind == TMAIL_INTER_COURIER ? fed_process(mc, db, tm) :
	    service_process(mc, db, tm)) == -1)
		goto out;
	rc = 0;
out:
	rc = msg_db_end(mc, db, rc);
	tmail_free(tm);
	return rc;
}

/* The connection context, made on first use; NULL if out of memory. */
static struct conn *
conn_get(SMFICTX *ctx)
{
	struct conn *cn = smfi_getpriv(ctx);

	if (cn == NULL && (cn = calloc(1, sizeof(*cn))) != NULL &&
	    smfi_setpriv(ctx, cn) != MI_SUCCESS) {
		free(cn);
		cn = NULL;
	}
	return cn;
}

/* The message in progress on this connection, or NULL. */
static struct msg *
conn_msg(SMFICTX *ctx)
{
	struct conn *cn = smfi_getpriv(ctx);

	return cn == NULL ? NULL : cn->cn_msg;
}

/* Ends the message in progress, if any. */
static void
conn_msg_end(SMFICTX *ctx)
{
	struct conn *cn = smfi_getpriv(ctx);

	if (cn != NULL) {
		msg_free(cn->cn_msg);
		cn->cn_msg = NULL;
	}
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct conn *cn;
	struct msg *mc;

	if ((cn = conn_get(ctx)) == NULL)
		return SMFIS_TEMPFAIL;
	msg_free(cn->cn_msg);
	cn->cn_msg = NULL;
	if ((mc = calloc(1, sizeof(*mc))) == NULL ||
	    (mc->mc_sender = msg_addr(argv[0])) == NULL ||
	    (mc->mc_rcpts = calloc(MSG_MAX_RCPTS, sizeof(char *))) == NULL ||
	    (mc->mc_drop = calloc(MSG_MAX_RCPTS, 1)) == NULL) {
		msg_free(mc);
		return SMFIS_TEMPFAIL;
	}
	mc->mc_fg = fg_hold(proc);
	snprintf(mc->mc_qid, sizeof(mc->mc_qid), "NOQUEUE");
	cn->cn_msg = mc;
	return SMFIS_CONTINUE;
}

static sfsistat
cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct msg *mc = conn_msg(ctx);

	if (mc == NULL)
		return SMFIS_TEMPFAIL;
	if (mc->mc_nrcpts >= MSG_MAX_RCPTS) {
		smfi_setreply(ctx, "452", "4.5.3", "too many recipients");
		return SMFIS_TEMPFAIL;
	}
	if ((mc->mc_rcpts[mc->mc_nrcpts] = msg_addr(argv[0])) == NULL)
		return SMFIS_TEMPFAIL;
	mc->mc_nrcpts++;
	return SMFIS_CONTINUE;
}

/*
 * No reply to each header (every header would cost a round trip; the
 * library answers for us when the MTA cannot skip them), and none of
 * the steps that have no callback here. At the end of the message the
 * queue id (what the MTA sends by default) and the MTA's version.
 */
static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long want = SMFIF_CHGBODY | SMFIF_DELRCPT;

	(void)f2;
	(void)f3;
	if ((f0 & want) != want || (f1 & SMFIP_NR_HDR) == 0)
		return SMFIS_REJECT;	/* the MTA then applies its default */
	*pf0 = want;
	/* The queue id, and the MTA's version: see msg_apply(). */
	if ((f0 & SMFIF_SETSYMLIST) != 0 &&
	    smfi_setsymlist(ctx, SMFIM_EOM, "i v") == MI_SUCCESS)
		*pf0 |= SMFIF_SETSYMLIST;
	*pf1 = f1 & (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN |
	    SMFIP_NODATA | SMFIP_NR_HDR);
	*pf2 = 0;
	*pf3 = 0;
	return SMFIS_CONTINUE;
}

/*
 * Headers get no reply: what goes wrong here is kept in the message
 * context and answered at the end of the headers.
 */
static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct msg *mc = conn_msg(ctx);
	size_t nl = strlen(name), vl = strlen(value);
	int rc;

	if (mc == NULL || mc->mc_headfail != 0)
		return SMFIS_NOREPLY;	/* cb_eoh answers */
	if (strcasecmp(name, TMAIL_HEADER) == 0)
		mc->mc_tandem = 1;
	else if (mc->mc_tandem == 0 && strcasecmp(name, "Subject") == 0 &&
	    strstr(value, TMAIL_DECLINE) != NULL)
		mc->mc_tandem = MSG_DECLINE;	/* an invitation's answer */
	if ((rc = msg_append(&mc->mc_head, &mc->mc_headlen, &mc->mc_headcap,
	    name, nl)) < 0 || (rc = msg_append(&mc->mc_head, &mc->mc_headlen,
	    &mc->mc_headcap, ": ", 2)) < 0 || (rc = msg_append(&mc->mc_head,
	    &mc->mc_headlen, &mc->mc_headcap, value, vl)) < 0 ||
	    (rc = msg_append(&mc->mc_head, &mc->mc_headlen, &mc->mc_headcap,
	    "\n", 1)) < 0)
		mc->mc_headfail = rc;
	return SMFIS_NOREPLY;
}

static sfsistat
cb_eoh(SMFICTX *ctx)
{
	struct msg *mc = conn_msg(ctx);
	int full, rc;

	if (mc == NULL)
		return SMFIS_TEMPFAIL;
	if (mc->mc_headfail == -2)
		return SMFIS_TEMPFAIL;
	if (mc->mc_headfail == -1) {
		smfi_setreply(ctx, "552", "5.3.4", "message too large");
		return SMFIS_REJECT;
	}
	if (!mc->mc_tandem)
		return SMFIS_ACCEPT;	/* not ours: untouched */
	pthread_mutex_lock(&proc->fp_lock);
	full = proc->fp_busy >= mc->mc_fg->fg_conf->cf_max_messages;
	if (!full)
		proc->fp_busy++;
	pthread_mutex_unlock(&proc->fp_lock);
	if (full) {
		smfi_setreply(ctx, "451", "4.3.2", "too many messages in "
		    "progress, try again later");
		return SMFIS_TEMPFAIL;
	}
	mc->mc_slot = 1;
	/*
	 * The mail tmail_parse() reads is built here, in one buffer:
	 * the headers, an empty line, then the body as it comes.
	 */
	if ((rc = msg_append(&mc->mc_mail, &mc->mc_maillen,
	    &mc->mc_mailcap, mc->mc_head == NULL ? "" : mc->mc_head,
	    mc->mc_headlen)) == 0)
		rc = msg_append(&mc->mc_mail, &mc->mc_maillen,
		    &mc->mc_mailcap, "\n", 1);
	if (rc == -1) {
		smfi_setreply(ctx, "552", "5.3.4", "message too large");
		return SMFIS_REJECT;
	}
	return rc == 0 ? SMFIS_CONTINUE : SMFIS_TEMPFAIL;
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *b, size_t len)
{
	struct msg *mc = conn_msg(ctx);

	if (mc == NULL)
		return SMFIS_TEMPFAIL;
	if (mc->mc_mail == NULL)	/* cb_eoh() could not begin it */
		return SMFIS_TEMPFAIL;
	switch (msg_append(&mc->mc_mail, &mc->mc_maillen, &mc->mc_mailcap,
	    (char *)b, len)) {
	case -1:
		smfi_setreply(ctx, "552", "5.3.4", "message too large");
		return SMFIS_REJECT;
	case -2:
		return SMFIS_TEMPFAIL;
	}
	return SMFIS_CONTINUE;
}

/* Carry out an accepted decision; -1 if the MTA refused a change. */
static int
msg_apply(SMFICTX *ctx, struct msg *mc)
{
	char rc[TN_MAX_ADDRESS + 3];
	size_t i, off, n, piece;

	for (i = 0; i < mc->mc_nrcpts; i++) {
		if (!mc->mc_drop[i] || mc->mc_discard)
			continue;
		snprintf(rc, sizeof(rc), "<%s>", mc->mc_rcpts[i]);
		if (smfi_delrcpt(ctx, rc) != MI_SUCCESS)
			return -1;
	}
	if (mc->mc_newbody == NULL || mc->mc_discard)
		return 0;
	/*
	 * The new body goes in pieces (the MTA appends them): milter
	 * clients with small reply buffers, miltertest among them
	 * (OpenDKIM issue 66), overflow on one large SMFIR_REPLBODY. An
	 * MTA that gives its version (macro v, asked for at the end of the
	 * message: Postfix, Sendmail) takes the protocol's 64 KB pieces,
	 * one or two writes for a wrap instead of a dozen.
	 */
	piece = smfi_getsymval(ctx, "v") != NULL ? MSG_REPLBODY_LARGE :
	    MSG_REPLBODY_SMALL;
	for (off = 0; off < mc->mc_newbodylen; off += n) {
		n = mc->mc_newbodylen - off;
		if (n > piece)
			n = piece;
		if (smfi_replacebody(ctx, (unsigned char *)mc->mc_newbody +
		    off, (int)n) != MI_SUCCESS)
			return -1;
	}
	return 0;
}

/*
 * reply is "X.Y.Z text": the enhanced code goes to its own argument,
 * the text escaped (util_escape()): no CR, LF, '%' or non-ASCII byte
 * of a name it quotes reaches the SMTP reply.
 */
static void
msg_reply(SMFICTX *ctx, const char *code, const char *reply)
{
	char xcode[16], text[UTIL_ESCLEN];
	size_t n = strspn(reply, "0123456789.");

	if (n >= 5 && n < sizeof(xcode) && reply[n] == ' ' &&
	    reply[0] == code[0]) {
		memcpy(xcode, reply, n);
		xcode[n] = '\0';
		smfi_setreply(ctx, (char *)code, xcode, (char *)util_escape(
		    reply + n + 1, text, sizeof(text), UTIL_ESC_SPACE));
	} else
		smfi_setreply(ctx, (char *)code, NULL, (char *)util_escape(
		    reply, text, sizeof(text), UTIL_ESC_SPACE));
}

/* The Message-ID header's value without brackets, or "" if none. */
static void
msg_header_id(const struct msg *mc, char *out, size_t outlen)
{
	static const char name[] = "Message-ID:";
	const char *p = mc->mc_head, *end = p + mc->mc_headlen, *nl, *v;
	size_t n;

	out[0] = '\0';
	for (; p != NULL && p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((size_t)(nl - p) <= sizeof(name) - 1 ||
		    strncasecmp(p, name, sizeof(name) - 1) != 0)
			continue;
		for (v = p + sizeof(name) - 1; v < nl && (*v == ' ' ||
		    *v == '\t' || *v == '<'); v++)
			;
		for (n = 0; v + n < nl && v[n] != '>' && v[n] != ' ' &&
		    v[n] != '\t' && v[n] != '\r'; n++)
			;
		if (n > TN_MAX_MSGID || n >= outlen)
			n = 0;		/* too long to be one: none */
		memcpy(out, v, n);
		out[n] = '\0';
		return;
	}
}

/*
 * A refusal or temporary failure, for the help desk (table refusals:
 * no content, key or wrap). A failure to record is logged; the answer
 * stays what it was. A database that is the refusal's cause is not
 * asked again.
 */
static void
msg_record(SMFICTX *ctx, struct msg *mc)
{
	char id[TN_MAX_MSGID + 1], err[TN_ERRLEN], *rcpts = NULL;
	const char *p[7];
	PGconn *db = NULL;
	size_t i, len = 1;
	int fresh;

	if (strncmp(mc->mc_reply, "4.3.0 database", 14) == 0)
		return;
	msg_header_id(mc, id, sizeof(id));
	for (i = 0; i < mc->mc_nrcpts; i++)
		len += strlen(mc->mc_rcpts[i]) + 1;
	if ((rcpts = calloc(1, len)) == NULL) {
		tn_err(err, "out of memory");
		goto fail;
	}
	for (i = 0; i < mc->mc_nrcpts; i++) {
		if (i > 0)
			strcat(rcpts, ",");
		strcat(rcpts, mc->mc_rcpts[i]);
	}
	p[0] = mc->mc_verdict == MSG_TEMP ? "tempfail" : "reject";
	p[1] = strcmp(mc->mc_qid, "NOQUEUE") != 0 ? mc->mc_qid : NULL;
	p[2] = smfi_getsymval(ctx, "{client_addr}");
	p[3] = mc->mc_sender;
	p[4] = rcpts;
	p[5] = id[0] != '\0' ? id : NULL;
	p[6] = mc->mc_reply;
	if ((db = pool_get(mc->mc_fg->fg_pool, &fresh)) == NULL) {
		tn_err(err, "out of memory");
		goto fail;
	}
	if (PQstatus(db) != CONNECTION_OK) {
		tn_err(err, "database unavailable");
		goto fail;
	}
	if (db_run(db, "INSERT INTO refusals (status, queue_id, client, "
	    "sender, recipients, message_id, reply) VALUES ($1, $2, $3, $4, "
	    "$5, $6, $7)", 7, p, err) == -1)
		goto fail;
	goto out;
fail:
	log_warn("%s status=unrecorded reason=\"%s\"", mc->mc_qid, err);
out:
	pool_put(mc->mc_fg->fg_pool, db);
	free(rcpts);
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	struct msg *mc = conn_msg(ctx);
	const char *qid, *code;
	char why[UTIL_ESCLEN];
	sfsistat st;

	if (mc == NULL)
		return SMFIS_TEMPFAIL;
	if ((qid = smfi_getsymval(ctx, "i")) != NULL)
		snprintf(mc->mc_qid, sizeof(mc->mc_qid), "%s", qid);
	if (msg_process(mc) == 0 && mc->mc_verdict == MSG_OK &&
	    msg_apply(ctx, mc) == -1)
		msg_fail(mc, MSG_TEMP, "4.3.0 the MTA refused a change");
	if (mc->mc_verdict != MSG_OK) {
		code = mc->mc_verdict == MSG_TEMP ? "451" : "550";
		msg_reply(ctx, code, mc->mc_reply);
		if (!mc->mc_quiet) {
			log_info("%s from=%s status=%s reason=\"%s\"%s",
			    mc->mc_qid, mc->mc_sender, mc->mc_verdict ==
			    MSG_TEMP ? "tempfail" : "reject",
			    util_escape(mc->mc_reply, why, sizeof(why),
			    UTIL_ESC_SPACE), mc->mc_note);
			msg_record(ctx, mc);
		}
		st = mc->mc_verdict == MSG_TEMP ? SMFIS_TEMPFAIL :
		    SMFIS_REJECT;
	} else {
		log_info("%s from=%s status=%s%s", mc->mc_qid, mc->mc_sender,
		    mc->mc_discard ? "consumed" : "accepted", mc->mc_note);
		st = mc->mc_discard ? SMFIS_DISCARD : SMFIS_ACCEPT;
	}
	conn_msg_end(ctx);
	return st;
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	conn_msg_end(ctx);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	struct conn *cn = smfi_getpriv(ctx);

	if (cn != NULL) {
		msg_free(cn->cn_msg);
		free(cn);
		smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
	"tandem-milter", SMFI_VERSION, SMFIF_CHGBODY | SMFIF_DELRCPT,
	NULL, NULL, cb_envfrom, cb_envrcpt, cb_header, cb_eoh, cb_body,
	cb_eom, cb_abort, cb_close, NULL, NULL, cb_negotiate
};

static void
usage(void)
{
	fprintf(stderr, "usage: tandem-milter [-c FILE] [-f] [-n] [-u USER]\n");
	exit(EX_USAGE);
}

/* Who the milter becomes, looked up before anything starts. */
struct privs {
	const char *pv_user;	/* -u USER, or foreground.user */
	uid_t	pv_uid;
	gid_t	pv_gid;		/* the user's group */
	gid_t	pv_sockgid;	/* foreground.socket_group */
};

/* user: -u USER, or NULL for foreground.user. */
static void
privs_lookup(const struct conf *cf, const char *user, struct privs *pv)
{
	struct passwd *pw;
	struct group *gr;
	char what[TN_ERRLEN];

	if (user != NULL)
		snprintf(what, sizeof(what), "-u %s", user);
	else
		snprintf(what, sizeof(what), "%s: foreground: user",
		    cf->cf_path);
	pv->pv_user = user != NULL ? user : cf->cf_milter_user;
	if ((pw = getpwnam(pv->pv_user)) == NULL)
		log_fatal(EX_CONFIG, "%s: no such user %s", what,
		    pv->pv_user);
	if (pw->pw_uid == 0)
		log_fatal(EX_CONFIG, "%s: %s is root; tandem-milter does not "
		    "run as root", what, pv->pv_user);
	if ((gr = getgrnam(cf->cf_socket_group)) == NULL)
		log_fatal(EX_CONFIG, "%s: foreground: socket_group: no such "
		    "group %s", cf->cf_path, cf->cf_socket_group);
	pv->pv_uid = pw->pw_uid;
	pv->pv_gid = pw->pw_gid;
	pv->pv_sockgid = gr->gr_gid;
	if (cf->cf_ca_user[0] == '\0')
		return;
	if ((pw = getpwnam(cf->cf_ca_user)) == NULL)
		log_fatal(EX_CONFIG, "%s: foreground: ca_user %s: no such "
		    "user", cf->cf_path, cf->cf_ca_user);
	if (pw->pw_uid == pv->pv_uid)
		log_fatal(EX_CONFIG, "%s: foreground: ca_user %s: the same "
		    "user as %s; the CA process and the milter need two "
		    "users", cf->cf_path, cf->cf_ca_user,
		    user != NULL ? "-u" : "foreground.user");
}

/*
 * Bound: become foreground.user for good (its own group only), which
 * must not read the issuing key the CA process holds. Not started as
 * root: nothing to drop.
 */
static void
privs_drop(const struct conf *cf, const struct privs *pv)
{
	char err[TN_ERRLEN];

	if (geteuid() != 0)
		return;
	if (setgroups(1, &pv->pv_gid) == -1 || setgid(pv->pv_gid) == -1 ||
	    setuid(pv->pv_uid) == -1)
		log_fatal(EX_OSERR, "cannot become %s: %s", pv->pv_user,
		    strerror(errno));
	if (setuid(0) != -1 || seteuid(0) != -1)
		log_panic("still root after dropping to %s", pv->pv_user);
	if (ca_unreadable(cf, pv->pv_user, err) == -1)
		log_fatal(EX_CONFIG, "%s", err);
}

/* The path of a unix: (or local:) socket, NULL for an inet one. */
static const char *
sock_path(const char *sock)
{
	if (strncmp(sock, "unix:", 5) == 0)
		return sock + 5;
	if (strncmp(sock, "local:", 6) == 0)
		return sock + 6;
	return NULL;
}

/*
 * smfi_opensocket() removes the socket file before it binds: a file
 * that still answers belongs to a running milter, which would go on
 * running without its socket. Refuse instead; a file that refuses
 * the connection is stale, and is replaced.
 */
static void
sock_refuse_running(const char *sock)
{
	struct sockaddr_un sa;
	const char *path = sock_path(sock);
	int fd, rc;

	if (path == NULL || strlen(path) >= sizeof(sa.sun_path))
		return;		/* libmilter says what is wrong */
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		log_fatal(EX_OSERR, "socket: %s", strerror(errno));
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0)
		log_fatal(EX_CONFIG, "%s: a milter already answers on this "
		    "socket; stop it first, or give this one another "
		    "foreground.milter_socket", path);
}

/*
 * Before any thread starts: every thread inherits the mask, so that
 * a signal meant to stop or reload the milter reaches only the signal
 * thread (fg_signals_start(), which waits for these three), never
 * kills another thread.
 */
static void
signals_block(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		log_fatal(EX_OSERR, "cannot block signals");
}

/*
 * A unix: socket is made mode 0600 (umask) and only then opened to
 * foreground.socket_group with foreground.socket_mode (0660 unless
 * set; never writable by others): the MTA's user in that group
 * connects, nobody else. It stays root's, so the milter's own user
 * cannot connect to it either. An inet: socket has no permissions:
 * tandem-milter(8) says to bind it to loopback.
 */
static void
listen_on(const char *sock, gid_t group, mode_t mode)
{
	const char *path = sock_path(sock);
	mode_t old;
	int rc;

	old = umask(0177);
	rc = smfi_register(desc) == MI_FAILURE ||
	    smfi_setconn((char *)sock) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE;
	umask(old);
	if (rc)
		log_fatal(EX_UNAVAILABLE, "cannot listen on %s", sock);
	if (path != NULL && chown(path, (uid_t)-1, group) == -1)
		log_fatal(EX_OSERR, "chown %s to group %u: %s", path,
		    (unsigned int)group, strerror(errno));
	if (path != NULL && chmod(path, mode) == -1)
		log_fatal(EX_OSERR, "chmod %s: %s", path, strerror(errno));
}

/* Loads the configuration and what it names into fp; exits if not. */
static void
setup(struct fgproc *fp, struct privs *pv, int check)
{
	struct conf *cf;
	struct fg *fg;
	char err[TN_ERRLEN];
	int rc;

	if (conf_load(fp->fp_path, &cf, err) == -1) {
		if (check) {
			printf("%s\n", err);
			exit(EX_CONFIG);
		}
		log_fatal(EX_CONFIG, "%s", err);
	}
	privs_lookup(cf, fp->fp_user, pv);
	if (cf->cf_service_mailbox[0] != '\0' &&
	    (fp->fp_heldbox = keybox_load_private(cf->cf_held_key, 1,
	    err)) == NULL) {
		conf_free(cf);
		log_fatal(EX_CONFIG, "%s", err);
	}
	/* A first start with tls.crl_url: the lists before they are read. */
	if (!check && cf->cf_ncrl_urls > 0 && access(cf->cf_crl_file, F_OK) ==
	    -1)
		(void)crlfetch_round(cf, log_info, log_warn);
	if ((rc = fg_new(fp, cf, &fg, err)) != 0)
		log_fatal(rc == -2 ? EX_OSERR : EX_CONFIG, "%s", err);
	fp->fp_cur = fg;
}

int
main(int argc, char **argv)
{
	struct fgproc fp;
	struct privs pv;
	const struct conf *cf;
	char err[TN_ERRLEN];
	pthread_t sender, crls, listener;
	int ch, fore = 0, check = 0, rc;

	memset(&fp, 0, sizeof(fp));
	fp.fp_path = CONF_PATH;
	fp.fp_ca_fd = -1;
	while ((ch = getopt(argc, argv, "c:fnu:")) != -1) {
		switch (ch) {
		case 'c':
			fp.fp_path = optarg;
			break;
		case 'f':
			fore = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'u':
			fp.fp_user = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init("tandem-milter", fore || check);
	pthread_mutex_init(&fp.fp_lock, NULL);
	pthread_mutex_init(&fp.fp_ca_lock, NULL);
	if ((fp.fp_rate = rate_new()) == NULL ||
	    (fp.fp_acache = acache_new()) == NULL)
		log_fatal(EX_OSERR, "out of memory");
	setup(&fp, &pv, check);
	cf = fp.fp_cur->fg_conf;
	if (check) {
		printf("configuration OK\n");
		rc = EX_OK;
		goto out;
	}
	sock_refuse_running(cf->cf_milter_socket);
	if (db_schema_check_at(cf->cf_conninfo, "fg", err) == -1)
		log_fatal(EX_CONFIG, "%s", err);
	pki_expiry_check(cf, cf->cf_ca_dir, time(NULL), log_warn);
	signal(SIGPIPE, SIG_IGN);
	if ((fp.fp_ca_fd = ca_start(cf, fp.fp_cur->fg_trust,
	    fp.fp_cur->fg_id.ci_chain, &fp.fp_issuing, err)) == -1)
		log_fatal(EX_CONFIG, "%s", err);
	proc = &fp;
	signals_block();	/* from when the socket is there: pending */
	listen_on(cf->cf_milter_socket, pv.pv_sockgid,
	    (mode_t)cf->cf_socket_mode);
	privs_drop(cf, &pv);
	if (!fore && daemon(0, 0) == -1)
		log_fatal(EX_OSERR, "daemon: %s", strerror(errno));
	log_detached();
	if (pthread_create(&sender, NULL, outbox_main, &fp) != 0 ||
	    pthread_create(&crls, NULL, fg_crlfetch_main, &fp) != 0 ||
	    pthread_create(&listener, NULL, acache_main, &fp) != 0 ||
	    fg_signals_start(&fp) == -1)
		log_fatal(EX_OSERR, "cannot start the sender, revocation list, "
		    "listener or signal thread");
	log_info("started socket=%s user=%s", cf->cf_milter_socket,
	    pv.pv_user);
	rc = smfi_main() == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
	fg_signals_stop(&fp);	/* sets fp_stop */
	pthread_join(sender, NULL);
	pthread_join(crls, NULL);
	pthread_join(listener, NULL);
	close(fp.fp_ca_fd);
	log_info("stopped");
out:
	fg_release(fp.fp_cur);
	keybox_free(fp.fp_heldbox);
	rate_free(fp.fp_rate);
	acache_free(fp.fp_acache);
	X509_free(fp.fp_issuing);
	proto_shutdown();
	return rc;
}
