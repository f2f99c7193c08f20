/*
 * NAME
 *	tmload - send prepared message files over concurrent SMTP sessions
 * SYNOPSIS
 *	tmload [-s SESSIONS] [-m COUNT] [-w SECONDS] -f SENDER -t RCPT
 *	    [-t RCPT ...] ADDR:PORT FILE...
 * DESCRIPTION
 *	Sends COUNT messages (default 1) to the SMTP server at ADDR:PORT
 *	(an IPv4 address), SESSIONS (default 1) at a time, one new
 *	connection per message as smtp-source does: EHLO, MAIL FROM
 *	SENDER, RCPT TO each RCPT, DATA, the message, QUIT. Message i is
 *	FILE number i modulo the number of files, read once at start,
 *	its line ends turned into CRLF and its lines dot-stuffed.
 *	smtp-source cannot do this: it makes up its own messages.
 *
 *	A message counts as accepted when the server answers 250 to the
 *	end of its data. Each read and write waits at most -w SECONDS
 *	(default 30). At the end tmload prints one line:
 *	"sent=N accepted=A failed=F", and the first failure's reply, if
 *	any, on standard error.
 * DIAGNOSTICS
 *	Exits 0 when every message was accepted, 1 when some were not,
 *	EX_USAGE on bad arguments, EX_NOINPUT when a file cannot be read,
 *	EX_OSERR when a thread cannot start.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <unistd.h>

#include "bench.h"

#define TM_MAXFILE	(16 * 1024 * 1024)
#define TM_MAXRCPT	64
#define TM_MAXSESS	256
#define TM_LINE		1024

struct tm_msg {
	char		*tg_data;	/* CRLF, dot-stuffed, ends with CRLF */
	size_t		 tg_len;
};

struct tm_run {
	struct sockaddr_in tr_addr;
	const char	*tr_from;
	const char	*tr_rcpt[TM_MAXRCPT];
	int		 tr_nrcpt;
	struct tm_msg	*tr_msgs;
	int		 tr_nmsgs;
	long		 tr_count;
	int		 tr_wait;
	pthread_mutex_t	 tr_lock;
	long		 tr_next;	/* under tr_lock, as the three below */
	long		 tr_ok;
	long		 tr_failed;
	char		 tr_first[TM_LINE];
};

struct tm_conn {
	int		 tc_fd;
	char		 tc_buf[4096];
	size_t		 tc_have;
	char		 tc_reply[TM_LINE];	/* last reply line */
};

#define TM_USAGE	"tmload [-s SESSIONS] [-m COUNT] [-w SECONDS] " \
	"-f SENDER -t RCPT [-t RCPT ...] ADDR:PORT FILE..."

/* Read one line (without CRLF) into tc_reply: 0, or -1 at EOF/error. */
static int
tm_getline(struct tm_conn *tc)
{
	char *nl;
	size_t n;
	ssize_t r;

	while ((nl = memchr(tc->tc_buf, '\n', tc->tc_have)) == NULL) {
		if (tc->tc_have == sizeof(tc->tc_buf))
			return -1;
		r = read(tc->tc_fd, tc->tc_buf + tc->tc_have,
		    sizeof(tc->tc_buf) - tc->tc_have);
		if (r <= 0)
			return -1;
		tc->tc_have += (size_t)r;
	}
	n = (size_t)(nl - tc->tc_buf);
	if (n > 0 && tc->tc_buf[n - 1] == '\r')
		n--;
	if (n >= sizeof(tc->tc_reply))
		n = sizeof(tc->tc_reply) - 1;
	memcpy(tc->tc_reply, tc->tc_buf, n);
	tc->tc_reply[n] = '\0';
	n = (size_t)(nl - tc->tc_buf) + 1;
	memmove(tc->tc_buf, tc->tc_buf + n, tc->tc_have - n);
	tc->tc_have -= n;
	return 0;
}

/* Read a whole (multi-line) reply: its code, or -1. */
static int
tm_reply(struct tm_conn *tc)
{
	do {
		if (tm_getline(tc) == -1) {
			snprintf(tc->tc_reply, sizeof(tc->tc_reply),
			    "connection lost: %s",
			    errno ? strerror(errno) : "end of file");
			return -1;
		}
		if (strlen(tc->tc_reply) < 3)
			return -1;
	} while (tc->tc_reply[3] == '-');
	return atoi(tc->tc_reply);
}

static int
tm_write(struct tm_conn *tc, const char *p, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(tc->tc_fd, p, len);
		if (w <= 0) {
			snprintf(tc->tc_reply, sizeof(tc->tc_reply),
			    "write: %s", strerror(errno));
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Send the line pre arg post CRLF and expect the reply code want. */
static int
tm_command(struct tm_conn *tc, int want, const char *pre, const char *arg,
    const char *post)
{
	char line[TM_LINE];
	int n;

	n = snprintf(line, sizeof(line), "%s%s%s\r\n", pre, arg, post);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		snprintf(tc->tc_reply, sizeof(tc->tc_reply),
		    "command too long");
		return -1;
	}
	if (tm_write(tc, line, (size_t)n) == -1)
		return -1;
	return tm_reply(tc) == want ? 0 : -1;
}

static int
tm_connect(struct tm_run *tr, struct tm_conn *tc)
{
	struct timeval tv;

	tc->tc_have = 0;
	tc->tc_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (tc->tc_fd == -1)
		goto fail;
	tv.tv_sec = tr->tr_wait;
	tv.tv_usec = 0;
	if (setsockopt(tc->tc_fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) == -1 ||
	    setsockopt(tc->tc_fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)) == -1)
		goto fail;
	if (connect(tc->tc_fd, (struct sockaddr *)&tr->tr_addr,
	    sizeof(tr->tr_addr)) == -1)
		goto fail;
	return 0;
fail:
	snprintf(tc->tc_reply, sizeof(tc->tc_reply), "connect: %s",
	    strerror(errno));
	return -1;
}

/* One message over one new connection: 0 when the data got a 250. */
static int
tm_send(struct tm_run *tr, struct tm_conn *tc, const struct tm_msg *tg)
{
	int i, rc = -1;

	if (tm_connect(tr, tc) == -1)
		goto out;
	if (tm_reply(tc) != 220 ||
	    tm_command(tc, 250, "EHLO ", "tmload.bench.test", "") == -1 ||
	    tm_command(tc, 250, "MAIL FROM:<", tr->tr_from, ">") == -1)
		goto out;
	for (i = 0; i < tr->tr_nrcpt; i++)
		if (tm_command(tc, 250, "RCPT TO:<", tr->tr_rcpt[i],
		    ">") == -1)
			goto out;
	if (tm_command(tc, 354, "DATA", "", "") == -1 ||
	    tm_write(tc, tg->tg_data, tg->tg_len) == -1 ||
	    tm_write(tc, ".\r\n", 3) == -1 ||
	    tm_reply(tc) != 250)
		goto out;
	rc = 0;
	(void)tm_command(tc, 221, "QUIT", "", "");
out:
	if (tc->tc_fd != -1)
		close(tc->tc_fd);
	tc->tc_fd = -1;
	return rc;
}

static void *
tm_session(void *arg)
{
	struct tm_run *tr = arg;
	struct tm_conn *tc;
	long i;
	int rc;

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return NULL;
	tc->tc_fd = -1;
	for (;;) {
		pthread_mutex_lock(&tr->tr_lock);
		i = tr->tr_next < tr->tr_count ? tr->tr_next++ : -1;
		pthread_mutex_unlock(&tr->tr_lock);
		if (i == -1)
			break;
		rc = tm_send(tr, tc, &tr->tr_msgs[i % tr->tr_nmsgs]);
		pthread_mutex_lock(&tr->tr_lock);
		if (rc == 0)
			tr->tr_ok++;
		else if (tr->tr_failed++ == 0)
			snprintf(tr->tr_first, sizeof(tr->tr_first), "%s",
			    tc->tc_reply);
		pthread_mutex_unlock(&tr->tr_lock);
	}
	free(tc);
	return NULL;
}

/* Append c to the buffer; tm_load() sized it for the worst case. */
static void
tm_put(char *out, size_t *len, char c)
{
	out[(*len)++] = c;
}

/* Read path into tg: CRLF line ends, dot-stuffed. 0 or -1. */
static int
tm_load(const char *path, struct tm_msg *tg)
{
	FILE *fp;
	struct stat st;
	char *out = NULL;
	size_t len = 0;
	int c, bol = 1, rc = -1;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &st) == -1) {
		fprintf(stderr, "tmload: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (st.st_size > TM_MAXFILE) {
		fprintf(stderr, "tmload: %s: larger than %d bytes\n", path,
		    TM_MAXFILE);
		goto out;
	}
	/* Each byte in gives at most two out ("\n", or "." at a line's
	 * start), plus a final CRLF; a file that grew since is cut. */
	if ((out = malloc(2 * (size_t)st.st_size + 4)) == NULL)
		goto out;
	while (len < 2 * (size_t)st.st_size && (c = getc(fp)) != EOF) {
		if (c == '\r')
			continue;
		if (bol && c == '.')
			tm_put(out, &len, '.');
		if (c == '\n')
			tm_put(out, &len, '\r');
		tm_put(out, &len, (char)c);
		bol = c == '\n';
	}
	if (ferror(fp)) {
		fprintf(stderr, "tmload: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!bol) {
		tm_put(out, &len, '\r');
		tm_put(out, &len, '\n');
	}
	tg->tg_data = out;
	tg->tg_len = len;
	out = NULL;
	rc = 0;
out:
	free(out);
	if (fp != NULL)
		fclose(fp);
	return rc;
}

static void
tm_options(struct tm_run *tr, int *nsess, int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "f:m:s:t:w:")) != -1) {
		switch (ch) {
		case 'f':
			tr->tr_from = optarg;
			break;
		case 'm':
			tr->tr_count = bench_number(optarg, 1, 100000000,
			    TM_USAGE);
			break;
		case 's':
			*nsess = (int)bench_number(optarg, 1, TM_MAXSESS,
			    TM_USAGE);
			break;
		case 't':
			if (tr->tr_nrcpt == TM_MAXRCPT)
				bench_usage(TM_USAGE);
			tr->tr_rcpt[tr->tr_nrcpt++] = optarg;
			break;
		case 'w':
			tr->tr_wait = (int)bench_number(optarg, 1, 3600,
			    TM_USAGE);
			break;
		default:
			bench_usage(TM_USAGE);
		}
	}
	if (tr->tr_from == NULL || tr->tr_nrcpt == 0 || argc - optind < 2)
		bench_usage(TM_USAGE);
	if (bench_addr(argv[optind], &tr->tr_addr) == -1) {
		fprintf(stderr, "tmload: %s: not an IPv4 ADDR:PORT\n",
		    argv[optind]);
		exit(EX_USAGE);
	}
}

int
main(int argc, char **argv)
{
	static struct tm_run tr;
	pthread_t th[TM_MAXSESS];
	int i, nsess = 1, started = 0, rc = EX_OSERR;

	tr.tr_count = 1;
	tr.tr_wait = 30;
	tm_options(&tr, &nsess, argc, argv);
	tr.tr_nmsgs = argc - optind - 1;
	if ((tr.tr_msgs = calloc((size_t)tr.tr_nmsgs,
	    sizeof(*tr.tr_msgs))) == NULL)
		goto out;
	for (i = 0; i < tr.tr_nmsgs; i++)
		if (tm_load(argv[optind + 1 + i], &tr.tr_msgs[i]) == -1) {
			rc = EX_NOINPUT;
			goto out;
		}
	pthread_mutex_init(&tr.tr_lock, NULL);
	for (; started < nsess; started++)
		if (pthread_create(&th[started], NULL, tm_session, &tr) != 0)
			break;
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (started < nsess) {
		fprintf(stderr, "tmload: cannot start a thread\n");
		goto out;
	}
	printf("sent=%ld accepted=%ld failed=%ld\n", tr.tr_next, tr.tr_ok,
	    tr.tr_failed + (tr.tr_count - tr.tr_next));
	if (tr.tr_failed > 0)
		fprintf(stderr, "tmload: first failure: %s\n", tr.tr_first);
	rc = tr.tr_ok == tr.tr_count ? 0 : 1;
out:
	for (i = 0; tr.tr_msgs != NULL && i < tr.tr_nmsgs; i++)
		free(tr.tr_msgs[i].tg_data);
	free(tr.tr_msgs);
	return rc;
}
