/*
 * NAME
 *	armload - POST prepared ARMs over concurrent keep-alive HTTPS
 *	connections
 * SYNOPSIS
 *	armload -c CERT -k KEY -A ANCHORS -H HOST [-s CLIENTS] [-n COUNT]
 *	    [-q] [-w SECONDS] ADDR:PORT DIR
 * DESCRIPTION
 *	Loads COUNT prepared ARMs (default: every one) from DIR (as
 *	bench/armprep writes them, bench/armset.c), then starts CLIENTS
 *	threads (default 1). Each opens one TLS connection to the
 *	background at ADDR:PORT (an IPv4 address), with the client
 *	certificate and chain CERT and its key KEY (PEM), checking the
 *	server's certificate to the trust anchors ANCHORS and to the
 *	name HOST (also the SNI and the Host header). Once every client
 *	has finished its handshake, the clock starts: client i POSTs
 *	ARMs i, i + CLIENTS, i + 2 CLIENTS... to /v1/arm, back to back on
 *	its connection (HTTP/1.1 keep-alive, one request at a time),
 *	reading each answer (status line, headers, a body of
 *	Content-Length bytes) before the next request. The clock stops
 *	when the last client has its last answer.
 *
 *	An ARM counts as created only when answered 201; any other
 *	answer, or none, is an error. A connection the server closes
 *	(Connection: close, or end of file) is opened again for the
 *	next ARM; one that cannot be opened again ends that client, its
 *	ARMs left counted as errors. Each read and write waits at most
 *	-w SECONDS (default 60). Every socket has TCP_NODELAY, and each
 *	request goes out in one write.
 *
 *	-q asks the kernel before every read to acknowledge at once
 *	(TCP_QUICKACK), which no ordinary client does: a server that
 *	sends one answer in two small segments without TCP_NODELAY then
 *	no longer waits for the client's delayed acknowledgement (about
 *	40 ms on Linux) before the second. For diagnosis only: the
 *	figures without -q are what clients see.
 *
 *	At the end armload prints one line: "sent=N created=C errors=E
 *	seconds=T rate=R connect=H reconnects=X", R being C / T (ARMs
 *	created per second) and H the seconds the handshakes took before
 *	the clock started; and the first error, if any, on standard
 *	error with the number of errors of each status.
 * DIAGNOSTICS
 *	Exits 0 when every ARM was created, 1 when some were not,
 *	EX_USAGE on bad arguments, EX_NOINPUT when a file cannot be read,
 *	EX_SOFTWARE when the TLS context cannot be made, EX_OSERR when a
 *	thread cannot start.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tandem.h"
#include "armset.h"
#include "bench.h"

#define AL_MAXCLIENTS	1024
#define AL_LINE		256
#define AL_BUF		16384
#define AL_NSTATUS	600

struct al_run {
	struct sockaddr_in ar_addr;
	const char	*ar_host;
	char		 ar_hosthdr[300];	/* host:port */
	SSL_CTX		*ar_ctx;
	struct armset	*ar_set;
	long		 ar_count;
	int		 ar_clients;
	int		 ar_wait;
	int		 ar_quickack;	/* -q */
	pthread_barrier_t ar_start;
	pthread_mutex_t	 ar_lock;
	long		 ar_created;	/* under ar_lock, as the four below */
	long		 ar_errors;
	long		 ar_reconnects;
	long		 ar_status[AL_NSTATUS];	/* [0]: no answer */
	char		 ar_first[2 * AL_LINE];
};

struct al_client {
	struct al_run	*ac_run;
	int		 ac_index;
	int		 ac_fd;
	SSL		*ac_ssl;
	unsigned char	*ac_req;	/* one request, headers and body */
	size_t		 ac_reqsize;
	char		 ac_buf[AL_BUF];
	size_t		 ac_have;
	char		 ac_why[AL_LINE];
};

#define AL_USAGE	"armload -c CERT -k KEY -A ANCHORS -H HOST " \
	"[-s CLIENTS] [-n COUNT] [-q] [-w SECONDS] ADDR:PORT DIR"

static void
al_addr(struct al_run *ar, const char *spec)
{
	if (bench_addr(spec, &ar->ar_addr) == -1)
		bench_usage(AL_USAGE);
	snprintf(ar->ar_hosthdr, sizeof(ar->ar_hosthdr), "%s:%s",
	    ar->ar_host, strrchr(spec, ':') + 1);
}

/* The client context: our certificate, the anchors, TLS 1.2 or later. */
static SSL_CTX *
al_ctx(const char *cert, const char *key, const char *anchors)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, anchors, NULL) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static void
al_close(struct al_client *ac)
{
	if (ac->ac_ssl != NULL) {
		SSL_shutdown(ac->ac_ssl);
		SSL_free(ac->ac_ssl);
	}
	if (ac->ac_fd != -1)
		close(ac->ac_fd);
	ac->ac_ssl = NULL;
	ac->ac_fd = -1;
	ac->ac_have = 0;
}

static void
al_tls_why(struct al_client *ac)
{
	unsigned long e = ERR_peek_last_error();
	long v = ac->ac_ssl != NULL ? SSL_get_verify_result(ac->ac_ssl) :
	    X509_V_OK;
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(ac->ac_why, sizeof(ac->ac_why), "TLS: %s%s%s",
	    r != NULL ? r : "handshake failed", v != X509_V_OK ? ": " : "",
	    v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
	ERR_clear_error();
}

/* TCP, then TLS: 0, or -1 with ac_why. */
static int
al_connect(struct al_client *ac)
{
	struct al_run *ar = ac->ac_run;
	struct timeval tv = { ar->ar_wait, 0 };
	int one = 1;

	al_close(ac);
	if ((ac->ac_fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(ac->ac_fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) == -1 ||
	    setsockopt(ac->ac_fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)) == -1 ||
	    setsockopt(ac->ac_fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1 ||
	    connect(ac->ac_fd, (struct sockaddr *)&ar->ar_addr,
	    sizeof(ar->ar_addr)) == -1) {
		snprintf(ac->ac_why, sizeof(ac->ac_why), "connect: %s",
		    strerror(errno));
		return -1;
	}
	if ((ac->ac_ssl = SSL_new(ar->ar_ctx)) == NULL ||
	    !SSL_set_fd(ac->ac_ssl, ac->ac_fd) ||
	    !SSL_set_tlsext_host_name(ac->ac_ssl, ar->ar_host) ||
	    !SSL_set1_host(ac->ac_ssl, ar->ar_host) ||
	    SSL_connect(ac->ac_ssl) != 1) {
		al_tls_why(ac);
		return -1;
	}
	return 0;
}

/* More bytes into ac_buf: the number read, or -1 (end or error). */
static int
al_fill(struct al_client *ac)
{
	int n, e, one = 1;

	if (ac->ac_have >= sizeof(ac->ac_buf) - 1) {
		snprintf(ac->ac_why, sizeof(ac->ac_why), "answer headers "
		    "longer than %zu bytes", sizeof(ac->ac_buf));
		return -1;
	}
	/* Linux leaves quick-ack mode by itself: asked again each time. */
	if (ac->ac_run->ar_quickack)
		(void)setsockopt(ac->ac_fd, IPPROTO_TCP, TCP_QUICKACK,
		    &one, sizeof(one));
	errno = 0;
	n = SSL_read(ac->ac_ssl, ac->ac_buf + ac->ac_have,
	    (int)(sizeof(ac->ac_buf) - 1 - ac->ac_have));
	if (n <= 0) {
		e = SSL_get_error(ac->ac_ssl, n);
		snprintf(ac->ac_why, sizeof(ac->ac_why), "%s",
		    e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL &&
		    errno == 0) ? "connection closed" : errno == EAGAIN ||
		    errno == EWOULDBLOCK ? "no answer in time" :
		    "read error");
		ERR_clear_error();
		return -1;
	}
	ac->ac_have += (size_t)n;
	ac->ac_buf[ac->ac_have] = '\0';
	return n;
}

/* A header's value in the header block hdr, or NULL. */
static const char *
al_header(const char *hdr, const char *name)
{
	size_t nl = strlen(name);
	const char *p = hdr;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	}
	return NULL;
}

/*
 * One answer: its status (0 for none, ac_why set), the first line of
 * its body in line; *closing when the server said it closes.
 */
static int
al_answer(struct al_client *ac, char *line, size_t linesize, int *closing)
{
	const char *v;
	char *end;
	size_t hlen, blen, ll;
	long clen;
	int status;

	*closing = 0;
	while ((end = strstr(ac->ac_buf, "\r\n\r\n")) == NULL)
		if (al_fill(ac) == -1)
			return 0;
	*end = '\0';
	hlen = (size_t)(end - ac->ac_buf) + 4;
	if (sscanf(ac->ac_buf, "HTTP/1.%*d %d", &status) != 1 ||
	    status < 100 || status >= AL_NSTATUS) {
		snprintf(ac->ac_why, sizeof(ac->ac_why), "bad status line "
		    "\"%.60s\"", ac->ac_buf);
		return 0;
	}
	if ((v = al_header(ac->ac_buf, "Content-Length")) == NULL ||
	    (clen = strtol(v, NULL, 10)) < 0 || clen > AL_BUF / 2) {
		snprintf(ac->ac_why, sizeof(ac->ac_why), "status %d without "
		    "a usable Content-Length", status);
		return 0;
	}
	if ((v = al_header(ac->ac_buf, "Connection")) != NULL &&
	    strncasecmp(v, "close", 5) == 0)
		*closing = 1;
	blen = (size_t)clen;
	while (ac->ac_have < hlen + blen)
		if (al_fill(ac) == -1)
			return 0;
	if ((ll = strcspn(ac->ac_buf + hlen, "\r\n")) > blen)
		ll = blen;
	snprintf(line, linesize, "%.*s", (int)ll, ac->ac_buf + hlen);
	/* What is left belongs to no request: none is pipelined. */
	ac->ac_have = 0;
	return status;
}

/* POST ARM n; its status, 0 when none came (ac_why). */
static int
al_post(struct al_client *ac, long n, char *line, size_t linesize,
    int *closing)
{
	struct al_run *ar = ac->ac_run;
	const struct armset_item *it = &ar->ar_set->as_items[n];
	char head[512];
	size_t hl;

	hl = (size_t)snprintf(head, sizeof(head), "POST /v1/arm HTTP/1.1\r\n"
	    "Host: %s\r\nContent-Type: application/pkcs7-mime\r\n"
	    "Content-Length: %zu\r\n\r\n", ar->ar_hosthdr, it->ai_len);
	if (hl >= sizeof(head) || hl + it->ai_len > ac->ac_reqsize) {
		snprintf(ac->ac_why, sizeof(ac->ac_why), "request too large");
		return 0;
	}
	/* One write: headers and body in one TLS record, no Nagle wait. */
	memcpy(ac->ac_req, head, hl);
	memcpy(ac->ac_req + hl, it->ai_data, it->ai_len);
	if (SSL_write(ac->ac_ssl, ac->ac_req, (int)(hl + it->ai_len)) !=
	    (int)(hl + it->ai_len)) {
		snprintf(ac->ac_why, sizeof(ac->ac_why), "write error");
		ERR_clear_error();
		*closing = 1;
		return 0;
	}
	return al_answer(ac, line, linesize, closing);
}

static void
al_tally(struct al_client *ac, long n, int status, const char *line)
{
	struct al_run *ar = ac->ac_run;

	pthread_mutex_lock(&ar->ar_lock);
	ar->ar_status[status]++;
	if (status == 201)
		ar->ar_created++;
	else if (ar->ar_errors++ == 0) {
		if (status == 0)
			snprintf(ar->ar_first, sizeof(ar->ar_first), "ARM %ld: "
			    "no answer: %s", n + 1, ac->ac_why);
		else
			snprintf(ar->ar_first, sizeof(ar->ar_first), "ARM %ld: "
			    "%d %s", n + 1, status, line);
	}
	pthread_mutex_unlock(&ar->ar_lock);
}

static void *
al_client_main(void *arg)
{
	struct al_client *ac = arg;
	struct al_run *ar = ac->ac_run;
	char line[AL_LINE];
	long n;
	int status, closing = 0, up;

	up = al_connect(ac) == 0;
	pthread_barrier_wait(&ar->ar_start);
	for (n = ac->ac_index; n < ar->ar_count; n += ar->ar_clients) {
		if (!up || closing) {
			if (closing) {
				pthread_mutex_lock(&ar->ar_lock);
				ar->ar_reconnects++;
				pthread_mutex_unlock(&ar->ar_lock);
			}
			up = al_connect(ac) == 0;
			closing = 0;
		}
		if (!up) {
			al_tally(ac, n, 0, "");
			continue;
		}
		line[0] = '\0';
		status = al_post(ac, n, line, sizeof(line), &closing);
		if (status == 0)
			closing = 1;
		al_tally(ac, n, status, line);
	}
	al_close(ac);
	return NULL;
}

static void
al_report(const struct al_run *ar, double secs, double hs)
{
	int i;

	printf("sent=%ld created=%ld errors=%ld seconds=%.3f rate=%.1f "
	    "connect=%.3f reconnects=%ld\n", ar->ar_count, ar->ar_created,
	    ar->ar_errors, secs, secs > 0 ? (double)ar->ar_created / secs : 0,
	    hs, ar->ar_reconnects);
	if (ar->ar_errors == 0)
		return;
	fprintf(stderr, "armload: first error: %s\narmload: errors:",
	    ar->ar_first);
	for (i = 0; i < AL_NSTATUS; i++)
		if (i != 201 && ar->ar_status[i] != 0) {
			if (i == 0)
				fprintf(stderr, " none=%ld", ar->ar_status[i]);
			else
				fprintf(stderr, " %d=%ld", i, ar->ar_status[i]);
		}
	fprintf(stderr, "\n");
}

int
main(int argc, char **argv)
{
	struct al_run ar;
	struct al_client *acs = NULL;
	pthread_t *tids = NULL;
	const char *cert = NULL, *key = NULL, *anchors = NULL;
	char err[TN_ERRLEN];
	double t0, t1, hs;
	long count = 0;
	size_t maxlen = 0;
	int ch, i, started = 0, rc = EX_OSERR;

	memset(&ar, 0, sizeof(ar));
	ar.ar_clients = 1;
	ar.ar_wait = 60;
	while ((ch = getopt(argc, argv, "A:c:H:k:n:qs:w:")) != -1) {
		switch (ch) {
		case 'A': anchors = optarg; break;
		case 'c': cert = optarg; break;
		case 'H': ar.ar_host = optarg; break;
		case 'k': key = optarg; break;
		case 'n': count = bench_number(optarg, 1, 10000000, AL_USAGE);
		    break;
		case 'q': ar.ar_quickack = 1; break;
		case 's': ar.ar_clients = (int)bench_number(optarg, 1,
		    AL_MAXCLIENTS, AL_USAGE); break;
		case 'w': ar.ar_wait = (int)bench_number(optarg, 1, 3600,
		    AL_USAGE); break;
		default: bench_usage(AL_USAGE);
		}
	}
	if (argc - optind != 2 || cert == NULL || key == NULL ||
	    anchors == NULL || ar.ar_host == NULL ||
	    strlen(ar.ar_host) > 255)
		bench_usage(AL_USAGE);
	al_addr(&ar, argv[optind]);
	if (armset_load(argv[optind + 1], count, &ar.ar_set, err) == -1) {
		fprintf(stderr, "armload: %s\n", err);
		return EX_NOINPUT;
	}
	ar.ar_count = ar.ar_set->as_count;
	for (i = 0; i < ar.ar_count; i++)
		if (ar.ar_set->as_items[i].ai_len > maxlen)
			maxlen = ar.ar_set->as_items[i].ai_len;
	if ((ar.ar_ctx = al_ctx(cert, key, anchors)) == NULL) {
		fprintf(stderr, "armload: cannot make the TLS context\n");
		rc = EX_SOFTWARE;
		goto out;
	}
	if ((acs = calloc((size_t)ar.ar_clients, sizeof(*acs))) == NULL ||
	    (tids = calloc((size_t)ar.ar_clients, sizeof(*tids))) == NULL)
		goto out;
	for (i = 0; i < ar.ar_clients; i++) {
		acs[i].ac_run = &ar;
		acs[i].ac_index = i;
		acs[i].ac_fd = -1;
		acs[i].ac_reqsize = maxlen + 512;
		if ((acs[i].ac_req = malloc(acs[i].ac_reqsize)) == NULL)
			goto out;
	}
	pthread_mutex_init(&ar.ar_lock, NULL);
	pthread_barrier_init(&ar.ar_start, NULL,
	    (unsigned int)ar.ar_clients + 1);
	hs = bench_now();
	for (; started < ar.ar_clients; started++)
		if (pthread_create(&tids[started], NULL, al_client_main,
		    &acs[started]) != 0) {
			/* The barrier would wait for it for ever. */
			fprintf(stderr, "armload: cannot start a thread\n");
			exit(EX_OSERR);
		}
	pthread_barrier_wait(&ar.ar_start);
	t0 = bench_now();
	hs = t0 - hs;
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	t1 = bench_now();
	al_report(&ar, t1 - t0, hs);
	rc = ar.ar_errors == 0 ? 0 : 1;
out:
	if (acs != NULL)
		for (i = 0; i < ar.ar_clients; i++)
			free(acs[i].ac_req);
	free(acs);
	free(tids);
	SSL_CTX_free(ar.ar_ctx);
	armset_free(ar.ar_set);
	return rc;
}
