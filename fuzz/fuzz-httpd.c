/*
 * NAME
 *	fuzz-httpd.c - libFuzzer target: tandem-policyd's HTTP/1.1 framing
 * DESCRIPTION
 *	The input is what a client sends on one connection to the
 *	policy daemon once TLS is set up, behind four bytes: the first
 *	says how the daemon and the client behave (below), the three
 *	others, taken in turn, the sizes of the pieces in which the rest
 *	arrives (0: all that is left). A request line, a header or a
 *	body may so be cut anywhere, and several requests come in one
 *	piece (pipelined).
 *
 *	The bytes go through policy/httpd.c as in the daemon: its read
 *	callback, on one end of a bufferevent pair that httpd_conn()
 *	serves (no socket, no TLS, the callbacks run by the event loop
 *	as the daemon's are); the target writes each piece to the other
 *	end and runs the loop until nothing is left to do. Where the
 *	daemon's http_request() goes to the database, the target's
 *	handler checks what the framing hands over (a method, a path of
 *	visible characters without query or fragment, a body of exactly
 *	Content-Length bytes, nothing after a refusal or a request left
 *	unanswered) and answers, by the length of the path (plus the
 *	first byte's bits 4-5) modulo 4: 200 with a body (for a GET 256
 *	bytes for each byte of the path, at most 32 KiB, so that answers
 *	pile up; else the request's body), 404 in text, 204, or not at
 *	all (httpd.c's 500, which closes). The refusal callback checks
 *	the code (400, 411, 413, 501, 505, or 500 for want of memory).
 *
 *	The first byte: bits 0-1 the body limit (background.
 *	max_request_size: 1 MiB, the default; 4096, as in t/0551; 16;
 *	0); bit 2: the client reads no answer before it has sent
 *	everything (more than HTTPD_OUT_MAX bytes of answers stop the
 *	reading); bit 3: the refusal callback answers itself, as
 *	http_refuse() does, else httpd.c does; bits 4-5: added to the
 *	path's length to pick the handler's answer.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fuzz.h"
#include "httpd.h"

struct fh_conn {
	int	fc_answer;	/* added to the path's length */
	int	fc_refuse_answers;
	int	fc_over;	/* refused or not answered: closing */
};

static const size_t fh_max_body[] = { 1048576, 4096, 16, 0 };

static void
fh_check(const struct hreq *hr)
{
	const char *cl, *p;
	unsigned long long n = 0;

	if (hr->hr_method != HREQ_GET && hr->hr_method != HREQ_POST &&
	    hr->hr_method != HREQ_DELETE)
		abort();
	if (hr->hr_path == NULL || hr->hr_path[0] != '/')
		abort();
	for (p = hr->hr_path; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '?' || *p == '#')
			abort();
	if ((cl = hreq_header(hr, "content-length")) != NULL)
		n = strtoull(cl, NULL, 10);
	if (evbuffer_get_length(hr->hr_body) != n)
		abort();
}

static void
fh_request(struct hreq *hr, void *arg)
{
	static const char fill[256] = { 'x' };
	struct fh_conn *fc = arg;
	struct evbuffer *buf;
	const char *host;
	size_t i;

	if (fc->fc_over)
		abort();
	fh_check(hr);
	switch ((fc->fc_answer + strlen(hr->hr_path)) % 4) {
	case 0:
		if (hreq_add_header(hr, "X-Path", hr->hr_path) == -1)
			abort();
		/* A value with a lone CR is refused, not sent. */
		if ((host = hreq_header(hr, "Host")) != NULL)
			(void)hreq_add_header(hr, "X-Host", host);
		if (hr->hr_method != HREQ_GET) {
			hreq_reply(hr, 200, "application/pkcs7-mime",
			    hr->hr_body);
			break;
		}
		if ((buf = evbuffer_new()) == NULL)
			abort();
		for (i = 0; hr->hr_path[i] != '\0' && i < 128; i++)
			evbuffer_add(buf, fill, sizeof(fill));
		hreq_reply(hr, 200, "text/plain; charset=utf-8", buf);
		evbuffer_free(buf);
		break;
	case 1:
		hreq_text(hr, 404, "no such resource");
		break;
	case 2:
		hreq_reply(hr, 204, NULL, NULL);
		break;
	default:
		fc->fc_over = 1;	/* httpd.c answers 500, closes */
		break;
	}
}

static void
fh_refuse(struct hreq *hr, int code, const char *text, void *arg)
{
	struct fh_conn *fc = arg;

	if (fc->fc_over || text == NULL || text[0] == '\0')
		abort();
	if (code != 400 && code != 411 && code != 413 && code != 500 &&
	    code != 501 && code != 505)
		abort();
	fc->fc_over = 1;
	if (fc->fc_refuse_answers)
		hreq_text(hr, code, text);
}

/* Run the callbacks until none is left to run. */
static void
fh_settle(struct event_base *base)
{
	do
		(void)event_base_loop(base, EVLOOP_NONBLOCK);
	while (event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) > 0);
}

/* What the client has read: every answer starts with a status line. */
static void
fh_drain(struct bufferevent *client, int *seen)
{
	struct evbuffer *in = bufferevent_get_input(client);
	unsigned char *p;

	if (!*seen && evbuffer_get_length(in) >= 9) {
		if ((p = evbuffer_pullup(in, 9)) == NULL ||
		    memcmp(p, "HTTP/1.1 ", 9) != 0)
			abort();
		*seen = 1;
	}
	if (*seen)
		evbuffer_drain(in, evbuffer_get_length(in));
}

int
FUZZ_ENTRY(httpd)(const uint8_t *data, size_t size)
{
	static struct event_base *base;
	struct bufferevent *pair[2] = { NULL, NULL };
	struct fh_conn fc;
	struct httpd *hd;
	size_t off, n, piece;
	int seen = 0, hold;

	if (size < 4)
		return 0;
	if (base == NULL && (base = event_base_new()) == NULL)
		abort();
	memset(&fc, 0, sizeof(fc));
	fc.fc_answer = (data[0] >> 4) & 3;
	fc.fc_refuse_answers = (data[0] & 8) != 0;
	hold = (data[0] & 4) != 0;
	if ((hd = httpd_new(base, -1, NULL, fh_max_body[data[0] & 3],
	    fh_request, fh_refuse, &fc)) == NULL ||
	    bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair) == -1 ||
	    httpd_conn(hd, pair[0], NULL, "192.0.2.1") == -1)
		abort();
	if (hold)
		bufferevent_disable(pair[1], EV_READ);
	else
		bufferevent_enable(pair[1], EV_READ);
	for (off = 4, n = 0; off < size; off += piece, n++) {
		piece = data[1 + n % 3];
		if (piece == 0 || piece > size - off)
			piece = size - off;
		if (bufferevent_write(pair[1], data + off, piece) == -1)
			abort();
		fh_settle(base);
		if (!hold)
			fh_drain(pair[1], &seen);
	}
	bufferevent_enable(pair[1], EV_READ);
	fh_settle(base);
	fh_drain(pair[1], &seen);
	httpd_free(hd);		/* frees pair[0] if still open */
	bufferevent_free(pair[1]);
	fh_settle(base);
	return 0;
}
