/*
 * NAME
 *	httpd.c - tandem-policyd's HTTP/1.1 framing on TLS
 * SYNOPSIS
 *	See httpd.h.
 * DESCRIPTION
 *	httpd_new() takes connections on the listening socket fd (which
 *	it then owns: httpd_free() closes it) in the event loop of base.
 *	Each connection gets an SSL of *ctx as it is at the accept, so
 *	that a context swapped in by a reload serves the connections
 *	that come after it, and a TLS bufferevent, which httpd_conn()
 *	then serves. With fd -1, httpd_new() listens on nothing and
 *	serves only what the caller hands to httpd_conn(): bev, which it
 *	then owns (freed when the connection closes, or at once when
 *	httpd_conn() fails; with BEV_OPT_CLOSE_ON_FREE, its SSL and
 *	socket with it), ssl, bev's, or NULL for a bufferevent in clear
 *	without a socket (the fuzz target's pair, fuzz/fuzz-httpd.c:
 *	closed without lingering), and peer, the client's numeric
 *	address or NULL (copied). On a connection, httpd.c reads
 *	requests one at a time: a request line "METHOD TARGET
 *	HTTP/1.x", header lines, an empty line (the head, at most
 *	HTTPD_HEAD_MAX bytes), then a body of Content-Length bytes, at
 *	most max_body (httpd_set_max_body() changes it, for a reload).
 *	It then calls request(hr, arg), which must answer with
 *	hreq_reply() or hreq_text() before it returns.
 *
 *	What the framing refuses by itself goes to refuse(hr, code,
 *	text, arg), which must answer too (hreq_text(), after recording
 *	it), and the connection is then closed: 400 "malformed request
 *	line" or "malformed header", 413 "request over N bytes" (the
 *	head, or the body's Content-Length), 501 "method X not supported"
 *	(all but GET, POST and DELETE), 505 "HTTP version not supported"
 *	(all but HTTP/1.x), 411 "Content-Length required" (a chunked
 *	body) and 501 for another Transfer-Encoding. A body has a
 *	Content-Length or is empty. hr_path is NULL when the request
 *	line was not understood.
 *
 *	A connection is kept alive after an answer unless the client
 *	said "Connection: close", or spoke HTTP/1.0 without
 *	"Connection: keep-alive"; requests sent ahead (pipelined) are
 *	answered in order, but none is read while more than
 *	HTTPD_OUT_MAX bytes of answers wait for the client to read
 *	them. "Expect: 100-continue" is answered "100
 *	Continue" when the body is welcome. A connection is closed when
 *	it is silent for HTTPD_TIMEOUT seconds, or on a TLS or socket
 *	error.
 *
 *	hreq_reply() answers with the status line, Date, Content-Type
 *	(type, unless NULL), Content-Length (but for 204), the headers
 *	hreq_add_header() added, Connection when needed, and body (which
 *	it drains; NULL for none), all in one buffer made contiguous and
 *	written once: one TLS record when it fits, never a head waiting
 *	for the client's ACK of another. hreq_text() is hreq_reply()
 *	with a one-line text/plain body. When the connection closes
 *	after the answer, httpd.c waits until the answer is written,
 *	sends the TLS close_notify, shuts the socket's sending side, and
 *	reads what the client still sends for at most HTTPD_LINGER
 *	seconds before it closes, so that the client is not reset before
 *	it has read the answer. A TLS handshake refused (a revoked client
 *	certificate, say) lingers the same way, its socket kept past the
 *	connection, so that a TLS 1.3 client reads the alert rather than
 *	a reset.
 *
 *	hreq_header() is the first value of a request header (the name
 *	in any case), or NULL.
 * DIAGNOSTICS
 *	httpd_new() returns NULL when out of memory or the socket cannot
 *	be listened on (errno says). A connection that cannot be set up
 *	is closed; httpd_conn() then returns -1, else 0.
 *	hreq_add_header() returns 0, or -1 when out of memory or the
 *	value is not a header's.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/err.h>

#include "httpd.h"

#define HTTPD_HEAD_MAX		(16 * 1024)
#define HTTPD_METHOD_MAX	32
#define HTTPD_TIMEOUT		60
#define HTTPD_LINGER		2
#define HTTPD_OUT_MAX		(256 * 1024)
#define HTTPD_NOMEM		"HTTP/1.1 500 Internal Server Error\r\n" \
				"Content-Length: 0\r\nConnection: close\r\n\r\n"

enum hconn_state {
	HC_LINE,		/* before the request line */
	HC_HEAD,		/* header lines */
	HC_BODY,		/* hc_need bytes of body */
	HC_CLOSING,		/* the last answer is being written */
	HC_LINGER		/* answered, closed on our side */
};

struct hconn {
	TAILQ_ENTRY(hconn)	 hc_entry;
	struct httpd		*hc_httpd;
	struct bufferevent	*hc_bev;
	enum hconn_state	 hc_state;
	size_t			 hc_headlen;	/* of the head so far */
	size_t			 hc_need;	/* body bytes to come */
	int			 hc_minor;	/* HTTP/1.x */
	int			 hc_keep;	/* open after the answer */
	int			 hc_paused;	/* answers not read: wait */
	struct hreq		 hc_req;
	char			 hc_peer[NI_MAXHOST];
};

/* A socket whose handshake was refused, read and dropped a while. */
struct hdrop {
	TAILQ_ENTRY(hdrop)	 hx_entry;
	struct httpd		*hx_httpd;
	struct event		*hx_ev;
	evutil_socket_t		 hx_fd;
	time_t			 hx_until;
};

struct httpd {
	struct event_base	*hd_base;
	struct evconnlistener	*hd_listener;
	SSL_CTX *const		*hd_ctx;
	size_t			 hd_max_body;
	httpd_request_fn	 hd_request;
	httpd_refuse_fn		 hd_refuse;
	void			*hd_arg;
	TAILQ_HEAD(, hconn)	 hd_conns;
	TAILQ_HEAD(, hdrop)	 hd_drops;
};

static const char *
httpd_reason(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

/* A token character (RFC 9110 tchar). */
static int
httpd_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
httpd_token(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!httpd_tchar((unsigned char)s[n]))
			return 0;
	return n > 0 && n <= max;
}

/* Does the comma-separated list of header value v hold token t? */
static int
httpd_has(const char *v, const char *t)
{
	size_t len = strlen(t);

	while (v != NULL && *v != '\0') {
		v += strspn(v, " \t,");
		if (strncasecmp(v, t, len) == 0 &&
		    strchr(" \t,", v[len]) != NULL)	/* also '\0' */
			return 1;
		v = strchr(v, ',');
	}
	return 0;
}

/* Forget the request; ready for the next one. */
static void
httpd_reset(struct hconn *hc)
{
	struct hreq *hr = &hc->hc_req;

	evhttp_clear_headers(&hr->hr_in);
	evbuffer_drain(hr->hr_body, evbuffer_get_length(hr->hr_body));
	evbuffer_drain(hr->hr_out, evbuffer_get_length(hr->hr_out));
	free(hr->hr_line);
	hr->hr_line = NULL;
	hr->hr_path = hr->hr_query = NULL;
	hr->hr_method = 0;
	hr->hr_answered = 0;
	hc->hc_state = HC_LINE;
	hc->hc_headlen = hc->hc_need = 0;
	hc->hc_minor = 1;
	hc->hc_keep = 1;
}

static void
httpd_close(struct hconn *hc)
{
	struct hreq *hr = &hc->hc_req;

	TAILQ_REMOVE(&hc->hc_httpd->hd_conns, hc, hc_entry);
	bufferevent_free(hc->hc_bev);	/* closes the socket */
	evhttp_clear_headers(&hr->hr_in);
	evbuffer_free(hr->hr_body);
	evbuffer_free(hr->hr_out);
	free(hr->hr_line);
	free(hc);
}

/* The answer is written: close_notify, then read what still comes. */
static void
httpd_linger(struct hconn *hc)
{
	struct timeval tv = { HTTPD_LINGER, 0 };
	struct evbuffer *in = bufferevent_get_input(hc->hc_bev);
	evutil_socket_t fd = bufferevent_getfd(hc->hc_bev);

	if (hc->hc_req.hr_ssl != NULL &&
	    SSL_is_init_finished(hc->hc_req.hr_ssl))
		(void)SSL_shutdown(hc->hc_req.hr_ssl);
	ERR_clear_error();
	if (fd == -1 || shutdown(fd, SHUT_WR) == -1) {
		httpd_close(hc);
		return;
	}
	hc->hc_state = HC_LINGER;
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_set_timeouts(hc->hc_bev, &tv, &tv);
	bufferevent_enable(hc->hc_bev, EV_READ);
}

void
hreq_reply(struct hreq *hr, int code, const char *type, struct evbuffer *body)
{
	struct hconn *hc = hr->hr_conn;
	struct evbuffer *out;
	char date[64];
	struct tm tm;
	time_t now = time(NULL);
	size_t len = body != NULL ? evbuffer_get_length(body) : 0;

	hr->hr_answered = 1;
	if ((out = evbuffer_new()) == NULL) {
		hc->hc_keep = 0;
		hc->hc_state = HC_CLOSING;
		bufferevent_disable(hc->hc_bev, EV_READ);
		bufferevent_write(hc->hc_bev, HTTPD_NOMEM, strlen(HTTPD_NOMEM));
		return;
	}
	if (gmtime_r(&now, &tm) == NULL || strftime(date, sizeof(date),
	    "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		date[0] = '\0';
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", code,
	    httpd_reason(code));
	if (date[0] != '\0')
		evbuffer_add_printf(out, "Date: %s\r\n", date);
	if (type != NULL)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", type);
	if (code != 204)
		evbuffer_add_printf(out, "Content-Length: %zu\r\n", len);
	evbuffer_add_buffer(out, hr->hr_out);
	if (!hc->hc_keep)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (hc->hc_minor == 0)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	evbuffer_add(out, "\r\n", 2);
	if (body != NULL && code != 204)
		evbuffer_add_buffer(out, body);
	(void)evbuffer_pullup(out, -1);	/* one TLS record */
	bufferevent_write_buffer(hc->hc_bev, out);
	evbuffer_free(out);
	if (!hc->hc_keep) {
		hc->hc_state = HC_CLOSING;
		bufferevent_disable(hc->hc_bev, EV_READ);
	}
}

void
hreq_text(struct hreq *hr, int code, const char *text)
{
	struct evbuffer *buf;

	if ((buf = evbuffer_new()) != NULL)
		evbuffer_add_printf(buf, "%s\n", text);
	hreq_reply(hr, code, "text/plain; charset=utf-8", buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

const char *
hreq_header(const struct hreq *hr, const char *name)
{
	return evhttp_find_header(&hr->hr_in, name);
}

int
hreq_add_header(struct hreq *hr, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		return -1;
	return evbuffer_add_printf(hr->hr_out, "%s: %s\r\n", name,
	    value) < 0 ? -1 : 0;
}

/* A refusal of the framing: answered by hd_refuse, then closed. */
static int
httpd_fail(struct hconn *hc, int code, const char *text)
{
	struct httpd *hd = hc->hc_httpd;

	hc->hc_keep = 0;
	hd->hd_refuse(&hc->hc_req, code, text, hd->hd_arg);
	if (!hc->hc_req.hr_answered)
		hreq_text(&hc->hc_req, code, text);
	return -1;
}

/* "METHOD TARGET HTTP/1.x"; line is kept, cut, as hr_line. */
static int
httpd_line(struct hconn *hc, char *line)
{
	struct hreq *hr = &hc->hc_req;
	char *target, *version, *p, text[HTTPD_METHOD_MAX + 40];

	hr->hr_line = line;
	if ((target = strchr(line, ' ')) == NULL ||
	    (version = strchr(target + 1, ' ')) == NULL ||
	    strchr(version + 1, ' ') != NULL)
		return httpd_fail(hc, 400, "malformed request line");
	*target++ = '\0';
	*version++ = '\0';
	if (strncmp(version, "HTTP/1.", 7) != 0 ||
	    version[7] < '0' || version[7] > '9' || version[8] != '\0')
		return httpd_fail(hc, 505, "HTTP version not supported");
	hc->hc_minor = version[7] - '0';
	if (!httpd_token(line, HTTPD_METHOD_MAX) || target[0] != '/')
		return httpd_fail(hc, 400, "malformed request line");
	for (p = target; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return httpd_fail(hc, 400, "malformed request line");
	if (strcmp(line, "GET") == 0)
		hr->hr_method = HREQ_GET;
	else if (strcmp(line, "POST") == 0)
		hr->hr_method = HREQ_POST;
	else if (strcmp(line, "DELETE") == 0)
		hr->hr_method = HREQ_DELETE;
	else {
		snprintf(text, sizeof(text), "method %s not supported", line);
		return httpd_fail(hc, 501, text);
	}
	if ((p = strchr(target, '#')) != NULL)
		*p = '\0';
	if ((p = strchr(target, '?')) != NULL) {
		*p = '\0';
		hr->hr_query = p + 1;
	}
	hr->hr_path = target;
	hc->hc_state = HC_HEAD;
	return 1;
}

/* "Name: value"; line is freed. */
static int
httpd_header(struct hconn *hc, char *line)
{
	char *colon, *value, *end;
	int rc;

	if ((colon = strchr(line, ':')) == NULL) {
		free(line);
		return httpd_fail(hc, 400, "malformed header");
	}
	*colon = '\0';
	value = colon + 1 + strspn(colon + 1, " \t");
	for (end = value + strlen(value); end > value &&
	    (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	rc = httpd_token(line, HTTPD_HEAD_MAX) &&
	    evhttp_add_header(&hc->hc_req.hr_in, line, value) == 0;
	free(line);
	return rc ? 1 : httpd_fail(hc, 400, "malformed header");
}

/* The empty line: how the body comes and whether to keep alive. */
static int
httpd_head_done(struct hconn *hc, struct evbuffer *in)
{
	struct hreq *hr = &hc->hc_req;
	struct evkeyval *kv;
	const char *cl = NULL, *te, *conn, *expect;
	char *end, text[64];
	unsigned long long n = 0;
	int ncl = 0;

	conn = hreq_header(hr, "Connection");
	hc->hc_keep = hc->hc_minor >= 1 ? !httpd_has(conn, "close") :
	    httpd_has(conn, "keep-alive");
	if ((te = hreq_header(hr, "Transfer-Encoding")) != NULL)
		return httpd_has(te, "chunked") ? httpd_fail(hc, 411,
		    "Content-Length required") : httpd_fail(hc, 501,
		    "Transfer-Encoding not supported");
	TAILQ_FOREACH(kv, &hr->hr_in, next)
		if (strcasecmp(kv->key, "Content-Length") == 0) {
			cl = kv->value;
			ncl++;
		}
	if (cl != NULL) {
		if (ncl > 1 || cl[0] < '0' || cl[0] > '9' || strlen(cl) > 18)
			return httpd_fail(hc, 400, "malformed header");
		n = strtoull(cl, &end, 10);
		if (*end != '\0')
			return httpd_fail(hc, 400, "malformed header");
	}
	if (n > hc->hc_httpd->hd_max_body) {
		snprintf(text, sizeof(text), "request over %zu bytes",
		    hc->hc_httpd->hd_max_body);
		return httpd_fail(hc, 413, text);
	}
	hc->hc_need = (size_t)n;
	if ((expect = hreq_header(hr, "Expect")) != NULL &&
	    hc->hc_minor >= 1 && strcasecmp(expect, "100-continue") == 0 &&
	    evbuffer_get_length(in) < hc->hc_need)
		bufferevent_write(hc->hc_bev, "HTTP/1.1 100 Continue\r\n\r\n",
		    25);
	hc->hc_state = HC_BODY;
	return 1;
}

/* Lines of the head: 1 when it is read, 0 for more, -1 when refused. */
static int
httpd_head(struct hconn *hc, struct evbuffer *in)
{
	char *line, text[64];
	size_t len;
	int r;

	for (;;) {
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line != NULL)
			hc->hc_headlen += len + 1;
		if ((line == NULL && hc->hc_headlen + evbuffer_get_length(in) >
		    HTTPD_HEAD_MAX) || hc->hc_headlen > HTTPD_HEAD_MAX) {
			free(line);
			snprintf(text, sizeof(text), "request head over %d "
			    "bytes", HTTPD_HEAD_MAX);
			return httpd_fail(hc, 413, text);
		}
		if (line == NULL)
			return 0;
		if (hc->hc_state == HC_LINE) {
			if (len == 0) {
				free(line);	/* a stray CRLF: ignored */
				continue;
			}
			r = httpd_line(hc, line);
		} else if (len == 0) {
			free(line);
			return httpd_head_done(hc, in);
		} else
			r = httpd_header(hc, line);
		if (r == -1)
			return -1;
	}
}

static void
httpd_dispatch(struct hconn *hc)
{
	struct httpd *hd = hc->hc_httpd;
	struct hreq *hr = &hc->hc_req;

	hd->hd_request(hr, hd->hd_arg);
	if (!hr->hr_answered) {
		hc->hc_keep = 0;
		hreq_text(hr, 500, "internal error");
	}
	if (hc->hc_state != HC_CLOSING)
		httpd_reset(hc);
}

static void
httpd_read(struct bufferevent *bev, void *arg)
{
	struct hconn *hc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t take;

	if (hc->hc_state == HC_LINGER) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (hc->hc_req.hr_cert == NULL && hc->hc_req.hr_ssl != NULL)
		hc->hc_req.hr_cert =
		    SSL_get0_peer_certificate(hc->hc_req.hr_ssl);
	while (hc->hc_state != HC_CLOSING) {
		if (hc->hc_state == HC_LINE && evbuffer_get_length(
		    bufferevent_get_output(bev)) > HTTPD_OUT_MAX) {
			hc->hc_paused = 1;	/* httpd_write() resumes */
			bufferevent_disable(bev, EV_READ);
			return;
		}
		if (hc->hc_state != HC_BODY) {
			if (httpd_head(hc, in) != 1)
				return;
			continue;
		}
		take = evbuffer_get_length(in);
		if (take > hc->hc_need)
			take = hc->hc_need;
		if (take > 0 && evbuffer_remove_buffer(in, hc->hc_req.hr_body,
		    take) != (int)take) {
			httpd_fail(hc, 500, "internal error");
			return;
		}
		hc->hc_need -= take;
		if (hc->hc_need > 0)
			return;
		httpd_dispatch(hc);
	}
}

static void
httpd_write(struct bufferevent *bev, void *arg)
{
	struct hconn *hc = arg;

	if (hc->hc_state == HC_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		httpd_linger(hc);
	else if (hc->hc_paused) {
		hc->hc_paused = 0;
		bufferevent_enable(bev, EV_READ);
		httpd_read(bev, hc);
	}
}

static void
httpd_drop_end(struct hdrop *hx)
{
	TAILQ_REMOVE(&hx->hx_httpd->hd_drops, hx, hx_entry);
	event_free(hx->hx_ev);
	close(hx->hx_fd);
	free(hx);
}

static void
httpd_drop_read(evutil_socket_t fd, short what, void *arg)
{
	struct hdrop *hx = arg;
	char buf[4096];
	ssize_t n;

	if (what & EV_READ) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR) && time(NULL) < hx->hx_until)
			return;
	}
	httpd_drop_end(hx);	/* EOF, error, or time is up */
}

/*
 * A refused handshake (a revoked or unknown client certificate): the
 * TLS alert is written, but with TLS 1.3 the client has finished its
 * side and sent its request already; a socket closed with that unread
 * answers with a reset, which may reach the client before the alert
 * and tell it only "connection reset" (t/0577). So the socket lives on
 * past the bufferevent (a duplicate of its descriptor): its sending
 * side shut, what still comes read and dropped, closed at the client's
 * end or after HTTPD_LINGER seconds. 0, or -1 to close it at once.
 */
static int
httpd_drop(struct hconn *hc)
{
	struct httpd *hd = hc->hc_httpd;
	struct timeval tv = { HTTPD_LINGER, 0 };
	struct hdrop *hx;
	evutil_socket_t fd = bufferevent_getfd(hc->hc_bev);

	if (fd == -1 || (hx = calloc(1, sizeof(*hx))) == NULL)
		return -1;
	if ((hx->hx_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    shutdown(hx->hx_fd, SHUT_WR) == -1 ||
	    evutil_make_socket_nonblocking(hx->hx_fd) == -1 ||
	    (hx->hx_ev = event_new(hd->hd_base, hx->hx_fd,
	    EV_READ | EV_PERSIST, httpd_drop_read, hx)) == NULL ||
	    event_add(hx->hx_ev, &tv) == -1) {
		if (hx->hx_ev != NULL)
			event_free(hx->hx_ev);
		if (hx->hx_fd != -1)
			close(hx->hx_fd);
		free(hx);
		return -1;
	}
	hx->hx_httpd = hd;
	hx->hx_until = time(NULL) + HTTPD_LINGER;
	TAILQ_INSERT_TAIL(&hd->hd_drops, hx, hx_entry);
	return 0;
}

static void
httpd_event(struct bufferevent *bev, short what, void *arg)
{
	struct hconn *hc = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;		/* the handshake is done */
	if ((what & BEV_EVENT_ERROR) && hc->hc_req.hr_ssl != NULL &&
	    !SSL_is_init_finished(hc->hc_req.hr_ssl))
		(void)httpd_drop(hc);
	httpd_close(hc);	/* EOF, error, timeout */
}

int
httpd_conn(struct httpd *hd, struct bufferevent *bev, SSL *ssl,
    const char *peer)
{
	struct timeval tv = { HTTPD_TIMEOUT, 0 };
	struct hconn *hc;

	if ((hc = calloc(1, sizeof(*hc))) == NULL ||
	    (hc->hc_req.hr_body = evbuffer_new()) == NULL ||
	    (hc->hc_req.hr_out = evbuffer_new()) == NULL) {
		if (hc != NULL && hc->hc_req.hr_body != NULL)
			evbuffer_free(hc->hc_req.hr_body);
		free(hc);
		bufferevent_free(bev);
		return -1;
	}
	if (peer != NULL)
		snprintf(hc->hc_peer, sizeof(hc->hc_peer), "%s", peer);
	hc->hc_httpd = hd;
	hc->hc_bev = bev;
	TAILQ_INIT(&hc->hc_req.hr_in);
	hc->hc_req.hr_conn = hc;
	hc->hc_req.hr_ssl = ssl;
	hc->hc_req.hr_peer = hc->hc_peer[0] != '\0' ? hc->hc_peer : NULL;
	httpd_reset(hc);
	TAILQ_INSERT_TAIL(&hd->hd_conns, hc, hc_entry);
	bufferevent_setcb(hc->hc_bev, httpd_read, httpd_write, httpd_event,
	    hc);
	bufferevent_set_timeouts(hc->hc_bev, &tv, &tv);
	bufferevent_enable(hc->hc_bev, EV_READ | EV_WRITE);
	return 0;
}

static void
httpd_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct httpd *hd = arg;
	struct bufferevent *bev;
	char peer[NI_MAXHOST];
	SSL *ssl;

	(void)l;
	if ((ssl = SSL_new(*hd->hd_ctx)) == NULL) {
		close(fd);
		return;
	}
	/* On failure, ssl may be libevent's to free: left (a leak at worst). */
	if ((bev = bufferevent_openssl_socket_new(hd->hd_base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		return;
	}
	if (getnameinfo(sa, (socklen_t)salen, peer, sizeof(peer), NULL, 0,
	    NI_NUMERICHOST) != 0)
		peer[0] = '\0';
	/* On failure, bev is freed, and with it ssl and the socket. */
	(void)httpd_conn(hd, bev, ssl, peer[0] != '\0' ? peer : NULL);
}

struct httpd *
httpd_new(struct event_base *base, int fd, SSL_CTX *const *ctx,
    size_t max_body, httpd_request_fn request, httpd_refuse_fn refuse,
    void *arg)
{
	struct httpd *hd;

	if ((hd = calloc(1, sizeof(*hd))) == NULL)
		return NULL;
	hd->hd_base = base;
	hd->hd_ctx = ctx;
	hd->hd_max_body = max_body;
	hd->hd_request = request;
	hd->hd_refuse = refuse;
	hd->hd_arg = arg;
	TAILQ_INIT(&hd->hd_conns);
	TAILQ_INIT(&hd->hd_drops);
	/* Listening already (workers_listen()): backlog 0 keeps it. */
	if (fd != -1 && (hd->hd_listener = evconnlistener_new(base,
	    httpd_accept, hd, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
	    fd)) == NULL) {
		free(hd);
		return NULL;
	}
	return hd;
}

void
httpd_set_max_body(struct httpd *hd, size_t max_body)
{
	hd->hd_max_body = max_body;
}

void
httpd_free(struct httpd *hd)
{
	if (hd == NULL)
		return;
	while (!TAILQ_EMPTY(&hd->hd_conns))
		httpd_close(TAILQ_FIRST(&hd->hd_conns));
	while (!TAILQ_EMPTY(&hd->hd_drops))
		httpd_drop_end(TAILQ_FIRST(&hd->hd_drops));
	if (hd->hd_listener != NULL)
		evconnlistener_free(hd->hd_listener);
	free(hd);
}
