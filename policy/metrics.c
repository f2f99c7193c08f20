/*
 * NAME
 *	metrics.c - the background's counters for Prometheus
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	metrics_setup() serves, when background.metrics_listen is set
 *	(loopback only: lib/conf.c refuses another address), plain HTTP
 *	on that address: GET /metrics answers what "tandemctl status"
 *	says of this background (counters_each(), counters.h) in the
 *	Prometheus text format, version 0.0.4; every other path 404, and
 *	every other method 405, a line of text each. A database that
 *	cannot be reached is 503, logged. The counters are read on the
 *	request connection of the daemon (pd_db), like any request.
 *	metrics_free() stops it.
 * DIAGNOSTICS
 *	metrics_setup() returns 0, or -1 with a reason in err.
 */
#include <errno.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "counters.h"
#include "log.h"
#include "policyd.h"
#include "tandem.h"

/* A one-line text/plain answer, as http.c gives on the HTTPS side. */
static void
metrics_plain(struct evhttp_request *req, int code, const char *text)
{
	struct evbuffer *buf;

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	if ((buf = evbuffer_new()) != NULL)
		evbuffer_add_printf(buf, "%s\n", text);
	evhttp_send_reply(req, code, NULL, buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

static int
metrics_add(const char *text, void *arg)
{
	return evbuffer_add(arg, text, strlen(text)) == 0 ? 0 : -2;
}

static void
metrics_request(struct evhttp_request *req, void *arg)
{
	struct pd *pd = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *buf = NULL;
	char err[TN_ERRLEN];
	int r;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		metrics_plain(req, 404, "no such resource: GET /metrics");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		metrics_plain(req, 405, "method not allowed: GET /metrics");
		return;
	}
	if ((buf = evbuffer_new()) == NULL) {
		metrics_plain(req, 500, "out of memory");
		return;
	}
	if (store_connect(pd, err) == -1 ||
	    (r = counters_each(pd->pd_db, "bg", COUNTERS_PROMETHEUS,
	    metrics_add, buf, err)) == -1) {
		log_warn("metrics status=error reason=\"%s\"", err);
		metrics_plain(req, 503,
		    "database unavailable, try again later");
	} else if (r != 0)
		metrics_plain(req, 500, "out of memory");
	else {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, 200, NULL, buf);
	}
	evbuffer_free(buf);
}

int
metrics_setup(struct pd *pd, char *err)
{
	const struct conf *cf = pd->pd_cf;

	if (pd->pd_metrics_fd == -1)
		return 0;
	if ((pd->pd_metrics = evhttp_new(pd->pd_base)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	evhttp_set_gencb(pd->pd_metrics, metrics_request, pd);
	evhttp_set_allowed_methods(pd->pd_metrics, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_max_body_size(pd->pd_metrics, 0);
	evhttp_set_timeout(pd->pd_metrics, 10);
	if (evhttp_accept_socket(pd->pd_metrics, pd->pd_metrics_fd) != 0) {
		tn_err(err, "cannot accept on %s:%d for the counters: %s",
		    cf->cf_metrics_host, cf->cf_metrics_port, strerror(errno));
		return -1;
	}
	return 0;
}

void
metrics_free(struct pd *pd)
{
	if (pd->pd_metrics != NULL)
		evhttp_free(pd->pd_metrics);
	pd->pd_metrics = NULL;
}
