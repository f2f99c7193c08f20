/*
 * NAME
 *	httpd.h - tandem-policyd's HTTP/1.1 framing on TLS
 * SYNOPSIS
 *	#include "httpd.h"
 *
 *	struct httpd *httpd_new(struct event_base *base, int fd,
 *		    SSL_CTX *const *ctx, size_t max_body,
 *		    httpd_request_fn request, httpd_refuse_fn refuse,
 *		    void *arg);
 *	int	httpd_conn(struct httpd *hd, struct bufferevent *bev, SSL *ssl,
 *		    const char *peer);
 *	void	httpd_set_max_body(struct httpd *hd, size_t max_body);
 *	void	httpd_free(struct httpd *hd);
 *
 *	const char *hreq_header(const struct hreq *hr, const char *name);
 *	int	hreq_add_header(struct hreq *hr, const char *name,
 *		    const char *value);
 *	void	hreq_reply(struct hreq *hr, int code, const char *type,
 *		    struct evbuffer *body);
 *	void	hreq_text(struct hreq *hr, int code, const char *text);
 * DESCRIPTION
 *	See httpd.c.
 */
#ifndef TANDEM_HTTPD_H
#define TANDEM_HTTPD_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>

enum hreq_method {
	HREQ_GET = 1,
	HREQ_POST,
	HREQ_DELETE
};

struct hconn;

/* A request, owned by its connection; valid during the handler. */
struct hreq {
	enum hreq_method	 hr_method;
	const char		*hr_path;	/* as sent, NULL if unparsed */
	const char		*hr_query;	/* after '?', or NULL */
	struct evbuffer		*hr_body;	/* Content-Length bytes */
	const char		*hr_peer;	/* numeric client address */
	SSL			*hr_ssl;
	X509			*hr_cert;	/* the client's, or NULL */
	/* httpd.c's own */
	struct hconn		*hr_conn;
	char			*hr_line;	/* the request line, cut */
	struct evkeyvalq	 hr_in;		/* request headers */
	struct evbuffer		*hr_out;	/* extra answer headers */
	int			 hr_answered;
};

struct httpd;
typedef void (*httpd_request_fn)(struct hreq *, void *);
typedef void (*httpd_refuse_fn)(struct hreq *, int, const char *, void *);

struct httpd *httpd_new(struct event_base *, int, SSL_CTX *const *, size_t,
	    httpd_request_fn, httpd_refuse_fn, void *);
int	httpd_conn(struct httpd *, struct bufferevent *, SSL *, const char *);
void	httpd_set_max_body(struct httpd *, size_t);
void	httpd_free(struct httpd *);
const char *hreq_header(const struct hreq *, const char *);
int	hreq_add_header(struct hreq *, const char *, const char *);
void	hreq_reply(struct hreq *, int, const char *, struct evbuffer *);
void	hreq_text(struct hreq *, int, const char *);

#endif
