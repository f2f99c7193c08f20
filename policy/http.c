/*
 * NAME
 *	http.c - the HTTPS interface of tandem-policyd (doc/flows.md 5)
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	http_setup() builds the TLS context (TLS 1.2 or later, the BG
 *	element certificate, key and chain of tls.*, client certificates
 *	required, peers_hello() counting connections per address), takes
 *	connections on pd_http_fd (background.listen, bound by
 *	workers_listen()) with httpd.c's HTTP/1.1 framing, and installs
 *	http_request() as its handler and http_refuse() for what the
 *	framing refuses by itself (a malformed request, one over its
 *	limits, an unknown method or HTTP version).
 *
 *	A client certificate is checked during the handshake by
 *	pki_verify() to tls.anchors (roles, name constraints), with the
 *	certificates the client sent and tls.chain as intermediates, and
 *	must be an agent certificate carrying an address, or the BG
 *	element certificate of a courier; a client without one, or with
 *	one that fails, never completes the handshake. A background may
 *	only POST /v1/courier (store_courier() checks its introduction).
 *	Every other request checks, against the database, that the
 *	certificate is the agent certificate of an active account of
 *	this courier (for the mailbox and the offer, also of a pending
 *	one a transfer brought, pa_served; for the mailbox, also of one
 *	transferred away, whose mailbox drains: GET and DELETE of what
 *	this background signed, and 410 once none is left, so that the
 *	agent stops asking): the one pinned (agent_pins),
 *	or one that the pinned one offered (agent_pin_offers), except for
 *	POST /v1/rekey, the offer itself, which only the pinned one may
 *	make (rekey.c).
 *
 *	Every 4xx or 5xx answer, the framing's too, goes through
 *	http_text(), which records it for the help desk first
 *	(store_refusal(); not a 503 whose cause is the database itself),
 *	then answers with hreq_text(): a one-line text/plain body
 *	(metrics.c answers its own evhttp requests the same way).
 *
 *	http_request() is httpd.c's handler of every request the framing
 *	took (arg is the struct pd); fuzz/fuzz-policyd.c calls it as well,
 *	with requests of its own making and no connection behind them.
 *
 *	Handlers translate requests to store_*() calls and answer with a
 *	one-line text/plain body, or a wrap (application/pkcs7-mime); a
 *	failure is 503 when store_down() says the database is lost, else
 *	500.
 * DIAGNOSTICS
 *	Refused handshakes and requests are logged as key=value lines.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "httpd.h"
#include "log.h"
#include "policyd.h"
#include "tandem.h"
#include "util.h"

#define HTTP_MSGLEN	512

/* The handshake's verification: the Tandem rules, not OpenSSL's purpose. */
static int
http_verify_cb(X509_STORE_CTX *ctx, void *arg)
{
	struct pd *pd = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
	STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(ctx);
	STACK_OF(X509) *chain = NULL;
	char err[TN_ERRLEN], *email = NULL;
	enum pki_fail why = PKI_FAIL_NONE;
	int i, ok = 0;

	if (leaf == NULL) {
		tn_err(err, "no client certificate");
		goto out;
	}
	/* What the client sent, then our own chain: its CA is ours. */
	if ((chain = sent != NULL ? sk_X509_dup(sent) :
	    sk_X509_new_null()) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(pd->pd_id.ci_chain); i++)
		if (!sk_X509_push(chain, sk_X509_value(pd->pd_id.ci_chain, i))) {
			tn_err(err, "out of memory");
			goto out;
		}
	if (pki_verify_why(pd->pd_trust, leaf, chain, NULL, &why, err) == -1)
		goto out;
	if (pki_cert_kind(leaf) == PKI_KIND_BG) {
		ok = 1;		/* another courier's background */
		goto out;
	}
	if (pki_cert_kind(leaf) != PKI_KIND_AGENT) {
		tn_err(err, "client certificate is a %s certificate, not an "
		    "agent's or a background's",
		    pki_kind_name(pki_cert_kind(leaf)));
		goto out;
	}
	if ((email = pki_cert_email(leaf)) == NULL) {
		tn_err(err, "client certificate carries no address");
		goto out;
	}
	ok = 1;
out:
	if (!ok) {
		/* err names certificates by pki_cn(), escaped. */
		log_info("tls status=refused reason=\"%s\"", err);
		/* The alert the client gets: "certificate revoked", or "bad
		 * certificate" for the rest. */
		X509_STORE_CTX_set_error(ctx, why == PKI_FAIL_REVOKED ?
		    X509_V_ERR_CERT_REVOKED : X509_V_ERR_CERT_REJECTED);
	}
	sk_X509_free(chain);
	free(email);
	return ok;
}

SSL_CTX *
http_tls_ctx(struct pd *pd, const struct cms_id *id, const struct conf *cf,
    char *err)
{
	SSL_CTX *ctx;

	if ((ctx = pki_tls_ctx(1, id->ci_cert, id->ci_key, id->ci_chain,
	    cf->cf_cert, err)) == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, http_verify_cb, pd);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_client_hello_cb(ctx, peers_hello, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

/* The client's certificate (owned by the connection) and address. */
static X509 *
http_client(struct hreq *hr, char **address)
{
	*address = NULL;
	if (hr->hr_cert == NULL)
		return NULL;
	*address = pki_cert_email(hr->hr_cert);	/* NULL for a background */
	return hr->hr_cert;
}

/*
 * A 4xx or 5xx answer, for the help desk: who asked (the agent's
 * address, the peer courier's name, or its certificate's name), from
 * where, for what, and the text answered.
 */
static void
http_refusal(struct pd *pd, struct hreq *hr, int code, const char *text)
{
	const char *who = pd->pd_req_who;
	char *name = NULL;
	X509 *cert;

	if (who[0] == '\0' && (cert = http_client(hr, &name)) != NULL &&
	    name == NULL)
		name = pki_cert_dns(cert);	/* a background */
	store_refusal(pd, code, hr->hr_peer, who[0] != '\0' ? who : name,
	    hr->hr_path, text);
	free(name);
}

/* Answer with a one-line text body; a refusal is recorded first. */
static void
http_text(struct pd *pd, struct hreq *hr, int code, const char *text)
{
	if (code >= 400)
		http_refusal(pd, hr, code, text);
	hreq_text(hr, code, text);
}

/*
 * background.max_peer_rate: a 429 with Retry-After, logged and recorded
 * once a minute per address, not for each request (peers_request()).
 */
static int
http_limited(struct pd *pd, struct hreq *hr)
{
	const char *host = hr->hr_peer;
	char text[160];
	int tell;

	if (peers_request(host, &tell) == 0)
		return 0;
	snprintf(text, sizeof(text), "too many requests from this address: "
	    "more than %d a minute (background.max_peer_rate); try again "
	    "later", pd->pd_cf->cf_max_peer_rate);
	if (tell) {
		log_warn("request client=%s status=429 reason=\"%s\" "
		    "logged=once-a-minute", host, text);
		http_refusal(pd, hr, 429, text);
	}
	hreq_add_header(hr, "Retry-After", "60");
	hreq_text(hr, 429, text);
	return 1;
}

/* The store function of a POST from an agent. */
typedef enum pd_status (*http_store_fn)(struct pd *, X509 *, const char *,
    const unsigned char *, size_t, char *, size_t);

static void
http_post_agent(struct pd *pd, struct hreq *hr, X509 *client,
    const char *address, http_store_fn fn)
{
	struct evbuffer *in = hr->hr_body;
	size_t len = evbuffer_get_length(in);
	unsigned char *body;
	char msg[HTTP_MSGLEN];
	enum pd_status st;

	if (len == 0) {
		http_text(pd, hr, 400, "empty body");
		return;
	}
	if (len > (size_t)pd->pd_cf->cf_max_request) {
		http_text(pd, hr, 413, "request too large");
		return;
	}
	if ((body = evbuffer_pullup(in, -1)) == NULL) {
		http_text(pd, hr, 500, "internal error");
		return;
	}
	st = fn(pd, client, address, body, len, msg, sizeof(msg));
	http_text(pd, hr, (int)st, msg);
}

/* POST /v1/courier from another courier's background. */
static void
http_post_courier(struct pd *pd, struct hreq *hr, X509 *client)
{
	struct evbuffer *in = hr->hr_body;
	size_t len = evbuffer_get_length(in);
	STACK_OF(X509) *chain;
	unsigned char *body;
	char msg[HTTP_MSGLEN];

	if (hr->hr_method != HREQ_POST) {
		http_text(pd, hr, 405, "method not allowed");
		return;
	}
	if (len == 0 || len > (size_t)pd->pd_cf->cf_max_request) {
		http_text(pd, hr, len == 0 ? 400 : 413, len == 0 ?
		    "empty body" : "request too large");
		return;
	}
	if ((body = evbuffer_pullup(in, -1)) == NULL) {
		http_text(pd, hr, 500, "internal error");
		return;
	}
	chain = SSL_get_peer_cert_chain(hr->hr_ssl);
	http_text(pd, hr, (int)store_courier(pd, client, chain, body, len,
	    msg, sizeof(msg)), msg);
}

/* "/v1/mailbox/ID": the ID, or -1 when the path is not that. */
static long long
http_mailbox_id(const char *path)
{
	static const char prefix[] = "/v1/mailbox/";
	char *end;
	long long id;

	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	path += sizeof(prefix) - 1;
	if (*path < '0' || *path > '9' || strlen(path) > 18)
		return -1;
	errno = 0;
	id = strtoll(path, &end, 10);
	if (errno != 0 || *end != '\0' || id <= 0)
		return -1;
	return id;
}

/*
 * Is client the agent of an account served here: its pinned
 * certificate, or with offered one the pinned one offered? 0, or a
 * status. For the mailbox (left not NULL), also of an account that was
 * transferred away, whose mailbox drains (*left set).
 */
static int
http_authorize(struct pd *pd, X509 *client, const char *address,
    int offered, int *left, const char **why)
{
	struct pd_account *pa = NULL;
	char err[TN_ERRLEN];
	int code = 0, r = 0;

	if (store_connect(pd, err) == -1 ||
	    store_account(pd, address, &pa, 0, err) == -1 ||
	    (pa != NULL && (r = store_agent_is(pd, pa, client, offered,
	    err)) == -1)) {
		log_warn("request client=%s status=error reason=\"%s\"",
		    address, err);
		*why = "database unavailable, try again later";
		code = store_down(pd) ? 503 : 500;
	} else if (pa != NULL && pa->pa_left && left != NULL && r == 1)
		*left = 1;
	else if (pa == NULL || !pa->pa_served || r != 1) {
		*why = offered ? "client is not an active account here" :
		    "only the pinned agent certificate of an active account "
		    "may offer another";
		code = 403;
	}
	store_account_free(pa);
	return code;
}

static void
http_mailbox(struct pd *pd, struct hreq *hr, const char *path,
    const char *address, int left)
{
	enum hreq_method cmd = hr->hr_method;
	struct evbuffer *buf = NULL;
	char err[TN_ERRLEN];
	long long id = 0;
	int rc;

	if (strcmp(path, "/v1/mailbox") != 0 &&
	    (id = http_mailbox_id(path)) == -1) {
		http_text(pd, hr, 404, "no such resource");
		return;
	}
	if ((id == 0 && cmd != HREQ_GET) ||
	    (id != 0 && cmd != HREQ_GET && cmd != HREQ_DELETE)) {
		http_text(pd, hr, 405, "method not allowed");
		return;
	}
	if ((buf = evbuffer_new()) == NULL) {
		http_text(pd, hr, 500, "internal error");
		return;
	}
	if (id == 0)
		rc = store_mailbox_list(pd, address, left, buf, err);
	else if (cmd == HREQ_GET)
		rc = store_mailbox_get(pd, address, left, id, buf, err);
	else
		rc = store_mailbox_delete(pd, address, id, err);
	if (rc == -1) {
		log_warn("mailbox client=%s status=error reason=\"%s\"",
		    address, err);
		http_text(pd, hr, store_down(pd) ? 503 : 500,
		    "database unavailable, try again later");
	} else if (rc == 1 && id == 0) {
		log_info("mailbox client=%s status=drained reason=\"account "
		    "transferred away; nothing is left for it\"", address);
		http_text(pd, hr, 410, "account transferred to another "
		    "courier; nothing is left for it here");
	}
	else if (rc == 1)
		http_text(pd, hr, 404, "no such entry");
	else if (cmd == HREQ_DELETE) {
		log_info("mailbox client=%s id=%lld status=acknowledged",
		    address, id);
		hreq_reply(hr, 204, NULL, NULL);
	} else
		hreq_reply(hr, 200, id == 0 ? "text/plain; charset=utf-8" :
		    "application/pkcs7-mime", buf);
	evbuffer_free(buf);
}

void
http_request(struct hreq *hr, void *arg)
{
	struct pd *pd = arg;
	const char *path = hr->hr_path;
	const char *why = NULL;
	char *address = NULL, a[UTIL_ESCLEN], p[UTIL_ESCLEN];
	http_store_fn post;
	X509 *client;
	int code, left = 0;

	pd->pd_req_msgid[0] = '\0';
	pd->pd_req_who[0] = '\0';
	if (http_limited(pd, hr))
		goto out;
	if (path == NULL) {
		http_text(pd, hr, 400, "bad request");
		goto out;
	}
	if ((client = http_client(hr, &address)) != NULL &&
	    pki_cert_kind(client) == PKI_KIND_BG) {
		if (strcmp(path, "/v1/courier") == 0)
			http_post_courier(pd, hr, client);
		else
			http_text(pd, hr, 403, "a background may only POST "
			    "/v1/courier");
		goto out;
	}
	if (client == NULL || address == NULL) {
		http_text(pd, hr, 403, "no client certificate");
		goto out;
	}
	post = strcmp(path, "/v1/arm") == 0 ? store_arm :
	    strcmp(path, "/v1/invitation-reject") == 0 ?
	    store_invitation_reject : strcmp(path, "/v1/revoke") == 0 ?
	    store_revoke : strcmp(path, "/v1/receipt") == 0 ? store_report :
	    strcmp(path, "/v1/rekey") == 0 ? store_rekey : NULL;
	if (post == NULL && strcmp(path, "/v1/mailbox") != 0 &&
	    http_mailbox_id(path) == -1) {
		http_text(pd, hr, 404, "no such resource");
		goto out;
	}
	if (post != NULL && hr->hr_method != HREQ_POST) {
		http_text(pd, hr, 405, "method not allowed");
		goto out;
	}
	/* Only the pinned certificate may offer another. */
	if ((code = http_authorize(pd, client, address, post != store_rekey,
	    post == NULL ? &left : NULL, &why)) != 0) {
		log_info("request client=%s path=%s status=%d reason=\"%s\"",
		    util_escape(address, a, sizeof(a), 0), util_escape(path, p,
		    sizeof(p), 0), code, why);
		http_text(pd, hr, code, why);
	} else if (post != NULL)
		http_post_agent(pd, hr, client, address, post);
	else
		http_mailbox(pd, hr, path, address, left);
out:
	free(address);
}

/* What httpd.c refuses before a handler: recorded as a handler's is. */
static void
http_refuse(struct hreq *hr, int code, const char *text, void *arg)
{
	struct pd *pd = arg;

	pd->pd_req_msgid[0] = '\0';
	pd->pd_req_who[0] = '\0';
	http_text(pd, hr, code, text);
}

int
http_setup(struct pd *pd, char *err)
{
	const struct conf *cf = pd->pd_cf;

	if ((pd->pd_ssl = http_tls_ctx(pd, &pd->pd_id, cf, err)) == NULL)
		return -1;
	if ((pd->pd_httpd = httpd_new(pd->pd_base, pd->pd_http_fd,
	    &pd->pd_ssl, (size_t)cf->cf_max_request, http_request,
	    http_refuse, pd)) == NULL) {
		tn_err(err, "cannot accept on %s:%d: %s", cf->cf_listen_host,
		    cf->cf_listen_port, strerror(errno));
		return -1;
	}
	return 0;
}
