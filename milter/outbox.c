/*
 * NAME
 *	outbox.c - the sender thread of tandem-milter
 * DESCRIPTION
 *	outbox_main() submits every due outbox row to the reinjection
 *	smtpd (foreground.reinject, no milters there) over plain SMTP,
 *	marks it sent, or records the error and retries later with a
 *	doubling delay (30 s to 1 h). Delivery is at least once: a row is
 *	marked sent only after the smtpd accepted it. Every
 *	hygiene.purge_interval it runs hygiene_run() first, so that the
 *	receipts it queues go out in the same round, and every
 *	HYGIENE_BEAT seconds hygiene_beat(). Each round takes the
 *	current snapshot (fg_hold()) and gives it back at its end, so that
 *	a reload reaches the next round. It stops when fp_stop is set.
 *	Each round opens its own connection; its statements run outside
 *	any transaction (db.h).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "milter.h"
#include "tandem.h"

#define OUTBOX_BATCH	20

/* Read one SMTP reply; 0 if its code starts with want. */
static int
smtp_reply(FILE *fp, char want, char *err)
{
	char line[1024];

	do {
		if (fgets(line, sizeof(line), fp) == NULL) {
			tn_err(err, "connection closed");
			return -1;
		}
	} while (strlen(line) > 3 && line[3] == '-');
	if (line[0] != want) {
		line[strcspn(line, "\r\n")] = '\0';
		tn_err(err, "smtpd: %s", line);
		return -1;
	}
	return 0;
}

static int
smtp_cmd(FILE *fp, char want, char *err, const char *verb, const char *arg)
{
	if (arg != NULL)
		fprintf(fp, "%s<%s>\r\n", verb, arg);
	else
		fprintf(fp, "%s\r\n", verb);
	fflush(fp);
	return smtp_reply(fp, want, err);
}

/* Body with dot-stuffing and CRLF line ends. */
static void
smtp_data(FILE *fp, const unsigned char *b, size_t len)
{
	size_t i;
	int bol = 1;

	for (i = 0; i < len; i++) {
		if (bol && b[i] == '.')
			fputc('.', fp);
		if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
			fputc('\r', fp);
		fputc(b[i], fp);
		bol = b[i] == '\n';
	}
	if (!bol)
		fputs("\r\n", fp);
	fputs(".\r\n", fp);
}

static FILE *
smtp_open(const struct conf *cf, char *err)
{
	struct addrinfo hints, *ai = NULL;
	char port[16];
	FILE *fp;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", cf->cf_reinject_port);
	if (getaddrinfo(cf->cf_reinject_host, port, &hints, &ai) != 0 ||
	    (fd = socket(ai->ai_family, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    (fp = fdopen(fd, "r+")) == NULL) {
		tn_err(err, "cannot connect to %s:%d", cf->cf_reinject_host,
		    cf->cf_reinject_port);
		if (fd != -1)
			close(fd);
		if (ai != NULL)
			freeaddrinfo(ai);
		return NULL;
	}
	freeaddrinfo(ai);
	return fp;
}

static int
outbox_send(const struct conf *cf, const char *from, const char *rcpts,
    const unsigned char *body, size_t len, char *err)
{
	char *list, *r, *save = NULL;
	FILE *fp;
	int rc = -1;

	if ((list = strdup(rcpts)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	if ((fp = smtp_open(cf, err)) == NULL) {
		free(list);
		return -1;
	}
	if (smtp_reply(fp, '2', err) == -1 ||
	    smtp_cmd(fp, '2', err, "EHLO localhost", NULL) == -1 ||
	    smtp_cmd(fp, '2', err, "MAIL FROM:", from) == -1)
		goto out;
	for (r = strtok_r(list, " ", &save); r != NULL;
	    r = strtok_r(NULL, " ", &save))
		if (smtp_cmd(fp, '2', err, "RCPT TO:", r) == -1)
			goto out;
	if (smtp_cmd(fp, '3', err, "DATA", NULL) == -1)
		goto out;
	smtp_data(fp, body, len);
	fflush(fp);
	if (smtp_reply(fp, '2', err) == -1)
		goto out;
	(void)smtp_cmd(fp, '2', err, "QUIT", NULL);
	rc = 0;
out:
	fclose(fp);
	free(list);
	return rc;
}

static void
outbox_row(const struct fg *fg, PGconn *db, PGresult *r, int i)
{
	const char *id = PQgetvalue(r, i, 0);
	unsigned char *body;
	size_t len;
	char err[TN_ERRLEN], err2[TN_ERRLEN];

	body = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 3),
	    &len);
	if (body != NULL && outbox_send(fg->fg_conf, PQgetvalue(r, i, 1),
	    PQgetvalue(r, i, 2), body, len, err) == 0) {
		const char *p[1] = { id };

		if (db_run(db, "UPDATE outbox SET sent_at = now(), "
		    "attempts = attempts + 1 WHERE id = $1", 1, p, err2) == -1)
			log_warn("outbox id=%s status=sent-unrecorded "
			    "error=\"%s\"", id, err2);
		else
			log_info("outbox id=%s msgid=%s status=sent", id,
			    PQgetvalue(r, i, 4));
	} else {
		const char *p[2] = { id, body == NULL ? "out of memory" : err };

		log_warn("outbox id=%s status=deferred error=\"%s\"", id, p[1]);
		(void)db_run(db, "UPDATE outbox SET attempts = attempts + 1,"
		    " last_error = $2, next_attempt_at = now() + least("
		    "interval '30 seconds' * power(2, attempts), "
		    "interval '1 hour') WHERE id = $1", 2, p, err2);
	}
	PQfreemem(body);
}

static void
outbox_run(const struct fg *fg)
{
	PGconn *db;
	PGresult *r;
	char err[TN_ERRLEN];
	int i;

	db = PQconnectdb(fg->fg_conf->cf_conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		PQfinish(db);
		return;
	}
	if (db_exec(db, "SELECT id, mail_from, array_to_string(rcpt_to, "
	    "' '), body, message_id FROM outbox WHERE sent_at IS NULL AND "
	    "next_attempt_at <= now() ORDER BY id LIMIT 20", 0, NULL, NULL, &r,
	    err) == 0) {
		for (i = 0; i < PQntuples(r) && !fg->fg_proc->fp_stop; i++)
			outbox_row(fg, db, r, i);
		PQclear(r);
	}
	PQfinish(db);
}

void *
outbox_main(void *arg)
{
	struct fgproc *fp = arg;
	struct fg *fg;
	char err[TN_ERRLEN];
	time_t next, beat = 0;
	time_t certs = time(NULL) + 86400;	/* main() checked at start */
	int i;

	fg = fg_hold(fp);
	next = time(NULL) + fg->fg_conf->cf_purge_interval;
	fg_release(fg);
	while (!fp->fp_stop) {
		fg = fg_hold(fp);
		if (time(NULL) >= beat) {
			if (hygiene_beat(fg, err) == -1)
				log_warn("heartbeat status=deferred "
				    "error=\"%s\"", err);
			beat = time(NULL) + HYGIENE_BEAT;
		}
		if (time(NULL) >= next) {
			if (hygiene_run(fg, err) == -1)
				log_warn("hygiene status=deferred error=\"%s\"",
				    err);
			next = time(NULL) + fg->fg_conf->cf_purge_interval;
		}
		if (time(NULL) >= certs) {
			pki_expiry_check(fg->fg_conf, fg->fg_conf->cf_ca_dir,
			    time(NULL), log_warn);
			certs = time(NULL) + 86400;
		}
		outbox_run(fg);
		fg_release(fg);
		for (i = 0; i < 10 && !fp->fp_stop; i++)
			usleep(100000);
	}
	return NULL;
}
