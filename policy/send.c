/*
 * NAME
 *	send.c - the sender of bg_outbox: POST /v1/courier to other BGs
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	send_start() builds the client TLS context (TLS 1.2 or later, the
 *	BG element certificate, key and chain of tls.* as the client
 *	certificate) and arms a timer of SEND_TICK seconds. Each tick,
 *	when nothing is in flight, takes up to SEND_BATCH due rows of
 *	bg_outbox (store_outbox_due()) and POSTs each body to
 *	URL/v1/courier, URL being the row's endpoint: the URL of the
 *	other background. send_kick(), after a commit, runs a tick at
 *	once when this process queued something in bg_outbox since the
 *	last kick (pd_queued, set by bgfed.c), and nothing otherwise:
 *	it is called after every stored ARM. send_wake() runs one in any
 *	case: in worker 0 at once, in another worker by NOTIFY
 *	tandem_outbox, which worker 0 hears (listen.c).
 *
 *	The server certificate must verify to tls.anchors with
 *	pki_verify() (the certificates it sent as intermediates), be a
 *	BG element certificate, and carry exactly the row's URL as its
 *	URI; otherwise the handshake fails and the row is retried. The
 *	resolve entries of tandem.conf ("host:port:address", section
 *	agent) map a host name to the address connected to, as they do
 *	for the agent; other names are resolved by the system.
 *
 *	A row of kind FED_UNSEALED holds the text of an introduction
 *	for a background this one has no certificate of (an invitation
 *	reject): a GET of the same URL first shows the server
 *	certificate (checked as above); the text is then wrapped to it
 *	and POSTed on a new connection, whose server must show the same
 *	certificate.
 *
 *	201 and 200 mark the row sent (store_outbox_sent()). Any other
 *	4xx but 408 and 429 is the other side refusing that body for
 *	good: the row is marked failed and never sent again
 *	(store_outbox_failed()). Anything else (5xx, 408, 429, a refused
 *	handshake, a connection failure) puts it back with a doubled
 *	delay (store_outbox_retry()). send_stop() frees
 *	the timer and the context; requests in flight are abandoned (their
 *	connections freed) and sent again by the next start.
 * DIAGNOSTICS
 *	One log line per attempt: courier-send id=N url=URL status=sent
 *	code=C, status=failed code=C reason="...", or status=retry
 *	reason="...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>

#include "fed.h"
#include "log.h"
#include "policyd.h"
#include "tandem.h"
#include "util.h"

#define SEND_TICK	1	/* seconds between looks at bg_outbox */
#define SEND_TIMEOUT	30	/* seconds for one request */

struct send_job {
	struct pd	*sj_pd;
	long long	 sj_id;
	char		*sj_url;
	unsigned char	*sj_text;	/* FED_UNSEALED: to seal */
	size_t		 sj_textlen;
	X509		*sj_peer;	/* the server certificate sealed to */
	char		 sj_why[TN_ERRLEN];	/* a failure before an answer */
	struct evhttp_connection *sj_con;	/* in flight */
	struct send_job	*sj_next;	/* pd_send_jobs */
};

/* A connection whose request is done, freed at the next tick. */
struct send_dead {
	struct evhttp_connection *sd_con;
	struct send_dead	*sd_next;
};

static int send_idx = -1;	/* SSL ex_data: the job of a connection */

/*
 * A connection cannot be freed in its own request callback: it is put
 * aside and freed by send_bury() (each tick, and at stop). On a failed
 * allocation it is freed at once, as libevent allows for a closed one.
 */
static void
send_retire(struct pd *pd, struct evhttp_connection *con)
{
	struct send_dead *sd;

	if (con == NULL)
		return;
	if ((sd = malloc(sizeof(*sd))) == NULL) {
		evhttp_connection_free(con);
		return;
	}
	sd->sd_con = con;
	sd->sd_next = pd->pd_send_dead;
	pd->pd_send_dead = sd;
}

static void
send_bury(struct pd *pd)
{
	struct send_dead *sd;

	while ((sd = pd->pd_send_dead) != NULL) {
		pd->pd_send_dead = sd->sd_next;
		evhttp_connection_free(sd->sd_con);
		free(sd);
	}
}

static void
send_job_free(struct send_job *sj)
{
	struct send_job **p;

	if (sj == NULL)
		return;
	for (p = &sj->sj_pd->pd_send_jobs; *p != NULL; p = &(*p)->sj_next)
		if (*p == sj) {
			*p = sj->sj_next;
			sj->sj_pd->pd_send_inflight--;
			break;
		}
	free(sj->sj_url);
	if (sj->sj_text != NULL)
		OPENSSL_clear_free(sj->sj_text, sj->sj_textlen);
	X509_free(sj->sj_peer);
	free(sj);
}

/* The server's certificate: a BG element of the URL, to the root. */
static int
send_verify_cb(X509_STORE_CTX *ctx, void *arg)
{
	struct pd *pd = arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(ctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct send_job *sj = ssl != NULL ? SSL_get_ex_data(ssl, send_idx) :
	    NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
	struct fed fd;
	char err[TN_ERRLEN];
	int ok = 0;

	bgfed_init(pd, &fd);
	if (sj == NULL || leaf == NULL) {
		tn_err(err, "no server certificate");
		goto out;
	}
	if (fed_check_endpoint(&fd, leaf, X509_STORE_CTX_get0_untrusted(ctx),
	    sj->sj_url, err) == -1)
		goto out;
	if (sj->sj_peer != NULL && X509_cmp(sj->sj_peer, leaf) != 0) {
		tn_err(err, "server certificate is not the one sealed to");
		goto out;
	}
	if (sj->sj_text != NULL && sj->sj_peer == NULL) {
		if (X509_up_ref(leaf) != 1) {
			tn_err(err, "out of memory");
			goto out;
		}
		sj->sj_peer = leaf;	/* to seal to (send_seal()) */
	}
	ok = 1;
out:
	if (!ok) {
		if (sj != NULL)
			snprintf(sj->sj_why, sizeof(sj->sj_why), "%s", err);
		X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
	}
	return ok;
}

SSL_CTX *
send_tls_ctx(struct pd *pd, const struct cms_id *id, const struct conf *cf,
    char *err)
{
	SSL_CTX *ctx;

	if (send_idx == -1 &&
	    (send_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL)) == -1) {
		tn_err_ssl(err, "TLS client context");
		return NULL;
	}
	if ((ctx = pki_tls_ctx(0, id->ci_cert, id->ci_key, id->ci_chain,
	    cf->cf_cert, err)) == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, send_verify_cb, pd);
	return ctx;
}

/* Why an attempt failed: the refused handshake, or the answer. */
static void
send_reason(struct send_job *sj, struct evhttp_request *req, int code,
    char *why)
{
	struct evbuffer *in;
	size_t n, off;
	int got;

	if (sj->sj_why[0] != '\0') {
		snprintf(why, TN_ERRLEN, "%s", sj->sj_why);
		return;
	}
	if (code == 0) {
		snprintf(why, TN_ERRLEN, "no answer");
		return;
	}
	in = evhttp_request_get_input_buffer(req);
	snprintf(why, TN_ERRLEN, "%d ", code);
	off = strlen(why);
	if ((n = evbuffer_get_length(in)) > TN_ERRLEN - off - 1)
		n = TN_ERRLEN - off - 1;
	got = evbuffer_remove(in, why + off, n);
	why[off + (got > 0 ? (size_t)got : 0)] = '\0';
	why[strcspn(why, "\r\n")] = '\0';
}

/* A refusal that sending the same body again cannot change. */
static int
send_final(int code)
{
	return code >= 400 && code < 500 && code != 408 && code != 429;
}

/*
 * The outcome of an attempt into bg_outbox, with its log line: on 200
 * or 201 the row is sent (store_outbox_sent()); on a final refusal
 * (send_final()) it is failed (store_outbox_failed()); otherwise put
 * back for send_reason() (store_outbox_retry()).
 */
static void
send_record(struct pd *pd, struct send_job *sj, struct evhttp_request *req,
    int code)
{
	char why[TN_ERRLEN], err[TN_ERRLEN], esc[UTIL_ESCLEN];
	int told;

	if (code == 200 || code == 201) {
		if (store_outbox_sent(pd, sj->sj_id, err) == -1)
			log_warn("courier-send id=%lld status=error "
			    "reason=\"%s\"", sj->sj_id, err);
		log_info("courier-send id=%lld url=%s status=sent code=%d",
		    sj->sj_id, sj->sj_url, code);
	} else if (send_final(code)) {
		send_reason(sj, req, code, why);
		if (store_outbox_failed(pd, sj->sj_id, why, &told, err) == -1)
			log_warn("courier-send id=%lld status=error "
			    "reason=\"%s\"", sj->sj_id, err);
		log_warn("courier-send id=%lld url=%s status=failed code=%d "
		    "reason=\"%s\" told=%s", sj->sj_id, sj->sj_url, code,
		    util_escape(why, esc, sizeof(esc), UTIL_ESC_SPACE),
		    told ? "sender" : "nobody");
	} else {
		send_reason(sj, req, code, why);
		log_info("courier-send id=%lld url=%s status=retry "
		    "reason=\"%s\"", sj->sj_id, sj->sj_url, util_escape(why,
		    esc, sizeof(esc), UTIL_ESC_SPACE));
		if (store_outbox_retry(pd, sj->sj_id, why, err) == -1)
			log_warn("courier-send id=%lld status=error "
			    "reason=\"%s\"", sj->sj_id, err);
	}
}

static int	send_post(struct pd *, struct send_job *,
		    const unsigned char *, size_t, char *);

/*
 * After the GET of an unsealed row: seal to the server certificate the
 * handshake showed (send_verify_cb() kept it), then POST.
 */
static int
send_seal(struct pd *pd, struct send_job *sj, char *err)
{
	unsigned char *wrap = NULL;
	size_t wlen;
	int rc = -1;

	if (sj->sj_peer == NULL) {
		tn_err(err, "no server certificate to seal to");
		goto out;
	}
	if (cms_wrap_to(sj->sj_text, sj->sj_textlen, &pd->pd_id, sj->sj_peer,
	    &wrap, &wlen, err) == -1 || send_post(pd, sj, wrap, wlen, err) == -1)
		goto out;
	OPENSSL_clear_free(sj->sj_text, sj->sj_textlen);
	sj->sj_text = NULL;
	rc = 0;
out:
	free(wrap);
	return rc;
}

static void
send_done(struct evhttp_request *req, void *arg)
{
	struct send_job *sj = arg;
	struct pd *pd = sj->sj_pd;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	struct evhttp_connection *con = sj->sj_con;
	char err[TN_ERRLEN];

	sj->sj_con = NULL;
	send_retire(pd, con);
	if (pd->pd_send_stopping) {
		send_job_free(sj);	/* sent again by the next start */
		return;
	}
	if (sj->sj_text != NULL && code != 0) {
		if (send_seal(pd, sj, err) == 0)
			return;		/* the same job, now the POST */
		snprintf(sj->sj_why, sizeof(sj->sj_why), "%s", err);
		code = 0;
	}
	send_record(pd, sj, req, code);
	send_job_free(sj);
}

/*
 * Where a job's URL sends to: *uri (to be passed to evhttp_uri_free(),
 * also on failure) holds *host; *port is 443 unless the URL names one;
 * target receives the URL's path followed by v1/courier.
 */
static int
send_target(const char *url, struct evhttp_uri **uri, const char **host,
    int *port, char *target, size_t size, char *err)
{
	const char *path;

	if ((*uri = evhttp_uri_parse(url)) == NULL ||
	    evhttp_uri_get_scheme(*uri) == NULL ||
	    strcasecmp(evhttp_uri_get_scheme(*uri), "https") != 0 ||
	    (*host = evhttp_uri_get_host(*uri)) == NULL) {
		tn_err(err, "%s: not an https URL", url);
		return -1;
	}
	*port = evhttp_uri_get_port(*uri) > 0 ? evhttp_uri_get_port(*uri) :
	    443;
	path = evhttp_uri_get_path(*uri) != NULL ? evhttp_uri_get_path(*uri) :
	    "";
	snprintf(target, size, "%s%sv1/courier", path,
	    path[0] != '\0' && path[strlen(path) - 1] == '/' ? "" : "/");
	return 0;
}

/*
 * The TLS connection of a job to host:port, or to the address
 * agent.resolve gives for them; its handshake is checked by
 * send_verify_cb(). NULL with err; the result should be passed to
 * evhttp_connection_free() unless the job takes it.
 */
static struct evhttp_connection *
send_connect(struct pd *pd, struct send_job *sj, const char *host, int port,
    char *err)
{
	struct evhttp_connection *con = NULL;
	struct bufferevent *bev;
	const char *to;
	char addr[256];
	SSL *ssl = NULL;

	to = conf_resolve(pd->pd_cf, host, port, addr, sizeof(addr));
	if ((ssl = SSL_new(pd->pd_client_ssl)) == NULL ||
	    !SSL_set_tlsext_host_name(ssl, host) ||
	    !SSL_set_ex_data(ssl, send_idx, sj)) {
		tn_err_ssl(err, "TLS connection");
		goto out;
	}
	if ((bev = bufferevent_openssl_socket_new(pd->pd_base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	ssl = NULL;		/* the bufferevent's, and it the connection's */
	if ((con = evhttp_connection_base_bufferevent_new(pd->pd_base, NULL,
	    bev, to, (unsigned short)port)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	evhttp_connection_set_timeout(con, SEND_TIMEOUT);
out:
	SSL_free(ssl);
	return con;
}

/*
 * The request of a job for host:port: POST of body, or with body NULL
 * the GET that shows the server certificate; send_done() gets its
 * answer. NULL when out of memory; the result should be passed to
 * evhttp_request_free() unless evhttp_make_request() takes it.
 */
static struct evhttp_request *
send_build(struct send_job *sj, const char *host, int port,
    const unsigned char *body, size_t len)
{
	struct evhttp_request *req;
	struct evkeyvalq *hd;
	char hostport[300];

	if ((req = evhttp_request_new(send_done, sj)) == NULL)
		return NULL;
	snprintf(hostport, sizeof(hostport), "%s:%d", host, port);
	hd = evhttp_request_get_output_headers(req);
	evhttp_add_header(hd, "Host", hostport);
	evhttp_add_header(hd, "Connection", "close");
	if (body != NULL) {
		evhttp_add_header(hd, "Content-Type", "application/pkcs7-mime");
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	}
	return req;
}

/*
 * Send the request of one job (send_build()) on its connection
 * (send_connect()) to the job's URL/v1/courier; 0, or -1 with err (the
 * job is not taken).
 */
static int
send_post(struct pd *pd, struct send_job *sj, const unsigned char *body,
    size_t len, char *err)
{
	struct evhttp_uri *uri = NULL;
	struct evhttp_connection *con = NULL;
	struct evhttp_request *req = NULL;
	const char *host;
	char target[1024];
	int port, rc = -1;

	if (send_target(sj->sj_url, &uri, &host, &port, target,
	    sizeof(target), err) == -1 ||
	    (con = send_connect(pd, sj, host, port, err)) == NULL)
		goto out;
	if ((req = send_build(sj, host, port, body, len)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (evhttp_make_request(con, req, body != NULL ? EVHTTP_REQ_POST :
	    EVHTTP_REQ_GET, target) != 0) {
		req = NULL;	/* freed by evhttp_make_request() */
		tn_err(err, "cannot send the request");
		goto out;
	}
	sj->sj_con = con;
	con = NULL;
	req = NULL;
	rc = 0;
out:
	if (req != NULL)
		evhttp_request_free(req);
	if (con != NULL)
		evhttp_connection_free(con);
	if (uri != NULL)
		evhttp_uri_free(uri);
	return rc;
}

/* Row i of store_outbox_due(): id, url, body, kind. */
static void
send_row(struct pd *pd, PGresult *res, int i)
{
	struct send_job *sj = NULL;
	unsigned char *body = NULL;
	size_t len;
	char err[TN_ERRLEN];

	if ((sj = calloc(1, sizeof(*sj))) == NULL ||
	    (sj->sj_url = strdup(PQgetvalue(res, i, 1))) == NULL ||
	    (body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i,
	    2), &len)) == NULL) {
		log_warn("courier-send status=error reason=\"out of memory\"");
		goto out;
	}
	sj->sj_pd = pd;
	sj->sj_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	if (strcmp(PQgetvalue(res, i, 3), FED_UNSEALED) == 0) {
		if ((sj->sj_text = malloc(len)) == NULL) {
			log_warn("courier-send status=error "
			    "reason=\"out of memory\"");
			goto out;
		}
		memcpy(sj->sj_text, body, len);
		sj->sj_textlen = len;
		OPENSSL_cleanse(body, len);
		PQfreemem(body);
		body = NULL;
	}
	if (send_post(pd, sj, body, len, err) == -1) {
		snprintf(sj->sj_why, sizeof(sj->sj_why), "%s", err);
		send_record(pd, sj, NULL, 0);
		goto out;
	}
	sj->sj_next = pd->pd_send_jobs;
	pd->pd_send_jobs = sj;
	pd->pd_send_inflight++;
	sj = NULL;
out:
	PQfreemem(body);
	send_job_free(sj);
}

static void
send_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pd *pd = arg;
	PGresult *res = NULL;
	char err[TN_ERRLEN];
	int i;

	(void)fd;
	(void)what;
	send_bury(pd);
	if (pd->pd_send_inflight > 0)
		return;
	if (store_connect(pd, err) == -1 ||
	    store_outbox_due(pd, &res, err) == -1) {
		log_warn("courier-send status=error reason=\"%s\"", err);
		return;
	}
	for (i = 0; i < PQntuples(res); i++)
		send_row(pd, res, i);
	PQclear(res);
}

void
send_wake(struct pd *pd)
{
	struct timeval now = { 0, 0 };
	char err[TN_ERRLEN];

	if (pd->pd_send_kick_ev != NULL)
		evtimer_add(pd->pd_send_kick_ev, &now);
	else if (pd->pd_db != NULL &&
	    db_run(pd->pd_db, "NOTIFY tandem_outbox", 0, NULL, err) == -1)
		log_warn("courier-send status=error reason=\"%s\"", err);
}

void
send_kick(struct pd *pd)
{
	if (!pd->pd_queued)
		return;		/* nothing new in bg_outbox */
	pd->pd_queued = 0;
	send_wake(pd);
}

int
send_start(struct pd *pd, char *err)
{
	struct timeval tv = { SEND_TICK, 0 };

	if ((pd->pd_client_ssl = send_tls_ctx(pd, &pd->pd_id, pd->pd_cf,
	    err)) == NULL)
		return -1;
	if ((pd->pd_send_ev = event_new(pd->pd_base, -1, EV_PERSIST,
	    send_tick, pd)) == NULL ||
	    (pd->pd_send_kick_ev = evtimer_new(pd->pd_base, send_tick,
	    pd)) == NULL ||
	    event_add(pd->pd_send_ev, &tv) != 0) {
		tn_err(err, "cannot set up the sender");
		return -1;
	}
	return 0;
}

void
send_stop(struct pd *pd)
{
	struct send_job *sj;
	struct evhttp_connection *con;

	pd->pd_send_stopping = 1;
	while ((sj = pd->pd_send_jobs) != NULL) {
		if ((con = sj->sj_con) != NULL) {
			sj->sj_con = NULL;
			evhttp_connection_free(con);
		}
		if (pd->pd_send_jobs == sj)	/* its callback did not run */
			send_job_free(sj);
	}
	send_bury(pd);
	if (pd->pd_send_ev != NULL)
		event_free(pd->pd_send_ev);
	pd->pd_send_ev = NULL;
	if (pd->pd_send_kick_ev != NULL)
		event_free(pd->pd_send_kick_ev);
	pd->pd_send_kick_ev = NULL;
	SSL_CTX_free(pd->pd_client_ssl);
	pd->pd_client_ssl = NULL;
}
