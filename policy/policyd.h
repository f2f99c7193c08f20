/*
 * NAME
 *	policyd.h - tandem-policyd, the background element
 * SYNOPSIS
 *	#include "policyd.h"
 *
 *	int	pd_load(struct pd *pd, char *err);
 *	void	pd_free_loaded(struct pd *pd);
 *
 *	int	http_setup(struct pd *pd, char *err);
 *	void	http_request(struct hreq *hr, void *pd);
 *	int	metrics_setup(struct pd *pd, char *err);
 *	void	metrics_free(struct pd *pd);
 *	SSL_CTX	*http_tls_ctx(struct pd *pd, const struct cms_id *id,
 *		    const struct conf *cf, char *err);
 *
 *	int	store_connect(struct pd *pd, char *err);
 *	void	store_notice(void *arg, const char *message);
 *	void	store_close(struct pd *pd);
 *	int	store_account(struct pd *pd, const char *address,
 *		    struct pd_account **out, int want_key, char *err);
 *	void	store_account_free(struct pd_account *pa);
 *	int	store_unwrap(struct pd *pd, const struct pd_account *pa,
 *		    const unsigned char *in, size_t inlen,
 *		    unsigned char **out, size_t *outlen, X509 **signer,
 *		    STACK_OF(X509) **certs, enum cms_fail *fail,
 *		    char *err);
 *	int	store_agent_is(struct pd *pd, const struct pd_account *pa,
 *		    X509 *client, int offered, char *err);
 *	int	store_cert_sha256(X509 *cert,
 *		    char out[STORE_SHALEN + 1], char *err);
 *	enum pd_status store_rekey(struct pd *pd, X509 *client,
 *		    const char *address, const unsigned char *body,
 *		    size_t len, char *msg, size_t msglen);
 *	int	store_agent_changes(struct pd *pd, const char *address,
 *		    char *err);
 *	enum pd_status store_arm(struct pd *pd, X509 *client,
 *		    const char *address, const unsigned char *body,
 *		    size_t len, char *msg, size_t msglen);
 *	enum pd_status store_agent_open(struct pd *pd, X509 *client,
 *		    const char *address, const unsigned char *body,
 *		    size_t len, unsigned char **out, size_t *outlen,
 *		    char *msg, size_t msglen);
 *	enum pd_status store_invitation_reject(struct pd *pd,
 *		    X509 *client, const char *address,
 *		    const unsigned char *body, size_t len, char *msg,
 *		    size_t msglen);
 *	int	store_mailbox_list(struct pd *pd, const char *address,
 *		    int left, struct evbuffer *out, char *err);
 *	int	store_mailbox_get(struct pd *pd, const char *address,
 *		    int left, long long id, struct evbuffer *out,
 *		    char *err);
 *	int	store_mailbox_delete(struct pd *pd, const char *address,
 *		    long long id, char *err);
 *	int	store_purge(struct pd *pd, char *err);
 *	void	store_refusal(struct pd *pd, int code, const char *client,
 *		    const char *who, const char *path, const char *reply);
 *	void	store_fetched(struct pd *pd, const char *address);
 *
 *	void	bgfed_init(struct pd *pd, struct fed *fd);
 *	int	bgfed_release(struct pd *pd, const char *address,
 *		    char *err);
 *	enum pd_status store_courier(struct pd *pd, X509 *client,
 *		    STACK_OF(X509) *chain, const unsigned char *body,
 *		    size_t len, char *msg, size_t msglen);
 *
 *	int	send_start(struct pd *pd, char *err);
 *	SSL_CTX	*send_tls_ctx(struct pd *pd, const struct cms_id *id,
 *		    const struct conf *cf, char *err);
 *	void	send_kick(struct pd *pd);
 *	void	send_wake(struct pd *pd);
 *	void	send_stop(struct pd *pd);
 *
 *	int	store_down(struct pd *pd);
 *	int	store_deliver(struct pd *pd, const struct pd_account *to,
 *		    const char *kind, const char *msgid, const char *about,
 *		    const char *expires, const unsigned char *arm,
 *		    size_t armlen, char *err);
 *	int	store_receipt(struct pd *pd, const struct pd_account *pa,
 *		    const char *msgid, const char *rcpt, const char *event,
 *		    const char *why, char *err);
 *	int	store_receipt_text(struct pd *pd, const char *sender,
 *		    const char *msgid, const char *rcpt, const char *event,
 *		    const char *why, char **body, size_t *blen, char *err);
 *	enum pd_status store_revoke(struct pd *pd, X509 *client,
 *		    const char *address, const unsigned char *body,
 *		    size_t len, char *msg, size_t msglen);
 *	enum pd_status store_report(struct pd *pd, X509 *client,
 *		    const char *address, const unsigned char *body,
 *		    size_t len, char *msg, size_t msglen);
 *	int	revoke_control(struct pd *pd, struct fed *fd,
 *		    const struct fed_item *it, char *err);
 *	int	store_outbox_due(struct pd *pd, PGresult **res, char *err);
 *	int	store_outbox_sent(struct pd *pd, long long id, char *err);
 *	int	store_outbox_retry(struct pd *pd, long long id,
 *		    const char *why, char *err);
 *	int	store_outbox_failed(struct pd *pd, long long id,
 *		    const char *why, int *told, char *err);
 *
 *	int	listen_start(struct pd *pd, char *err);
 *	void	listen_stop(struct pd *pd);
 *
 *	int	workers_listen(const char *host, int port, char *err);
 *	int	workers_run(struct pd *pd, int n,
 *		    int (*work)(struct pd *, int),
 *		    void (*reload)(struct pd *));
 *	int	peers_init(int max, int rate, char *err);
 *	int	peers_request(const char *host, int *tell);
 *	int	peers_hello(SSL *ssl, int *alert, void *arg);
 *	void	peers_forget(int worker);
 * DESCRIPTION
 *	A parent process forks background.workers workers and watches
 *	them (workers.c). Each worker is one process, one thread, one
 *	libevent loop serving HTTPS on the listening socket they share,
 *	with its own database connections; worker 0 also runs the
 *	hygiene, the LISTEN connection, the sender and the counters for
 *	Prometheus. In a worker, struct pd holds what
 *	the daemon loaded at start-up, or at the last SIGHUP
 *	(configuration, trust anchors, the BG element identity, the
 *	keybox, the TLS contexts http_tls_ctx() and send_tls_ctx() make
 *	from them) and its two database
 *	connections: pd_db for requests, releases and hygiene, pd_listen
 *	for LISTEN tandem_account only. Database calls are synchronous:
 *	a slow database slows every request, never loses one.
 *
 *	store_*() are the only functions that speak SQL, through
 *	db_exec() and its kin (db.h) on pd_db. Those returning int give
 *	0, or -1 with a reason in err; store_mailbox_get() and
 *	store_mailbox_delete() return 1 when the entry is not the
 *	client's or does not exist. With left (an account transferred
 *	away, pa_left), the mailbox drains: only what this background
 *	signed (ARMs, receipts, revokes) is listed and served, not what
 *	the foreground relayed (a notice or an answer is moot once the
 *	agent left), and store_mailbox_list() returns 1 when none is
 *	left. store_down() says whether a -1 came
 *	from a lost database, so that the caller answers 503; it sets
 *	pd_db_down, which store_connect() clears.
 *
 *	store_arm() does all of POST /v1/arm after the TLS layer: it
 *	unwraps body with the courier-end key of address, checks the
 *	signer and the sender, and stores in one transaction. It returns
 *	the status to answer and a one-line text in msg.
 *
 *	store_agent_open() is the first half of such a POST: the client
 *	is the agent of an active account (else 403, or 503 when the
 *	database is down), the body a wrap to its courier end signed by
 *	the client; it returns PD_NONE with the content in *out (to be
 *	passed to OPENSSL_clear_free()), or the status to answer with a
 *	text in msg. store_invitation_reject() does POST
 *	/v1/invitation-reject (bgfed.c).
 *
 *	store_refusal() records a 4xx or 5xx answer for the help desk
 *	(table refusals: when, code, client IP, who, path, the Message-ID
 *	the request named, pd_req_msgid, and the text answered; never
 *	content, keys or wraps); store_fetched() records an agent's
 *	GET /v1/mailbox (agent_fetches). A failure of either is logged
 *	and changes no answer.
 *
 *	store_notice() is the libpq notice processor of both
 *	connections: one log line per server notice.
 *
 *	store_account() reads an account row (lower-cased address);
 *	pa_address is the row's own address, in lower case whatever the
 *	case asked for, so that what is filed under it (agent_mailbox)
 *	is where its agent looks. *out is NULL when there is none, else
 *	it should be passed to store_account_free(). With want_key it
 *	also opens, with the keybox, the courier-end key of the
 *	generation whose key_serial is that of accounts.courier_cert (or
 *	else the newest live one: retired_at NULL or in the future) into
 *	pa_key, its generation in pa_generation. Its agent certificate
 *	is the one the background pinned (agent_pins), whatever the
 *	foreground replicated since; a replicated change is logged once
 *	by store_agent_changes(), which the LISTEN handler also calls.
 *	The pin moves only to a certificate its holder offered
 *	(store_rekey(), rekey.c, and sql/bg/010-rekey.sql), or by the
 *	operator's repin.
 *
 *	store_unwrap() is cms_unwrap() of a wrap made by pa's agent to
 *	its courier end: with pa_key first, then, on a failure to
 *	decrypt, with the other live generations, newest first (the old
 *	one, during a rekey's grace). It returns as cms_unwrap() does.
 *
 *	store_agent_is(), store_cert_sha256(), store_rekey() and
 *	store_transfer_repin(): see rekey.c.
 */
#ifndef TANDEM_POLICYD_H
#define TANDEM_POLICYD_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "cms.h"
#include "conf.h"
#include "db.h"
#include "keybox.h"
#include "pki.h"
#include "route.h"
#include "tandem.h"

enum pd_status {
	PD_NONE = 0,		/* no answer yet */
	PD_CREATED = 201,
	PD_OK = 200,
	PD_BAD = 400,
	PD_FORBIDDEN = 403,
	PD_NOT_FOUND = 404,
	PD_GONE = 410,
	PD_INTERNAL = 500,
	PD_UNAVAILABLE = 503
};

struct hreq;
struct httpd;
struct send_dead;
struct send_job;

struct pd {
	struct conf		*pd_cf;
	struct pki_trust	*pd_trust;
	struct cms_id		 pd_id;		/* BG element: cert, key, chain */
	struct keybox		*pd_keybox;
	SSL_CTX			*pd_ssl;
	struct event_base	*pd_base;
	struct httpd		*pd_httpd;	/* httpd.c, on pd_http_fd */
	PGconn			*pd_db;
	int			 pd_db_down;	/* store_down() */
	int			 pd_db_pid;	/* its backend, at connect */
	int			 pd_schema_ok;	/* db_schema_check() passed */
	time_t			 pd_certs_at;	/* pki_expiry_check() last */
	const char		*pd_conf_path;	/* -c, read again on SIGHUP */
	struct event		*pd_crl_ev;	/* every tls.crl_refresh */
	struct pki_crl_watch	 pd_crl_watch;
	PGconn			*pd_listen;
	struct event		*pd_listen_ev;
	struct event		*pd_retry_ev;	/* reconnects pd_listen */
	SSL_CTX			*pd_client_ssl;	/* POST /v1/courier */
	struct evhttp		*pd_metrics;	/* metrics.c, or NULL */
	struct event		*pd_send_ev;	/* looks at bg_outbox */
	struct event		*pd_send_kick_ev;
	int			 pd_send_inflight;
	struct send_job		*pd_send_jobs;	/* send.c: in flight */
	struct send_dead	*pd_send_dead;	/* send.c: to free */
	int			 pd_send_stopping;
	int			 pd_queued;	/* bg_outbox, since send_kick() */
	char			*pd_self_pem;	/* own introduction */
	int			 pd_http_fd;	/* background.listen */
	int			 pd_metrics_fd;	/* metrics_listen, or -1 */
	int			 pd_ready_fd;	/* a byte once serving */
	int			 pd_worker;	/* -1: the parent */
	/* the request in progress, for store_refusal(); "": unknown */
	char			 pd_req_msgid[TN_MAX_MSGID + 1];
	char			 pd_req_who[TN_MAX_ADDRESS + 1];
};

struct pd_account {
	char		*pa_address;
	char		*pa_status;
	X509		*pa_agent;	/* NULL if none yet */
	X509		*pa_courier;	/* NULL if none */
	EVP_PKEY	*pa_key;	/* courier-end key, opened; or NULL */
	int		 pa_generation;	/* of pa_key; -1 if none */
	int		 pa_served;	/* active, or a transfer's pending */
	int		 pa_left;	/* transferred: its mailbox drains */
};

#define STORE_SHALEN	64	/* hex SHA-256 */

int	pd_load(struct pd *, char *);
void	pd_free_loaded(struct pd *);
int	http_setup(struct pd *, char *);
void	http_request(struct hreq *, void *);
int	metrics_setup(struct pd *, char *);
void	metrics_free(struct pd *);
SSL_CTX	*http_tls_ctx(struct pd *, const struct cms_id *, const struct conf *,
	    char *);

struct fed;
void	bgfed_init(struct pd *, struct fed *);
int	bgfed_release(struct pd *, const char *, char *);
enum pd_status store_courier(struct pd *, X509 *, STACK_OF(X509) *,
	    const unsigned char *, size_t, char *, size_t);

int	send_start(struct pd *, char *);
SSL_CTX	*send_tls_ctx(struct pd *, const struct cms_id *, const struct conf *,
	    char *);
void	send_kick(struct pd *);
void	send_wake(struct pd *);
void	send_stop(struct pd *);

int	store_down(struct pd *);
int	store_deliver(struct pd *, const struct pd_account *, const char *,
	    const char *, const char *, const char *, const unsigned char *,
	    size_t, char *);
int	store_receipt(struct pd *, const struct pd_account *, const char *,
	    const char *, const char *, const char *, char *);
int	store_receipt_text(struct pd *, const char *, const char *,
	    const char *, const char *, const char *, char **, size_t *,
	    char *);
enum pd_status store_revoke(struct pd *, X509 *, const char *,
	    const unsigned char *, size_t, char *, size_t);
enum pd_status store_report(struct pd *, X509 *, const char *,
	    const unsigned char *, size_t, char *, size_t);
struct fed_item;
int	revoke_control(struct pd *, struct fed *, const struct fed_item *,
	    char *);
int	store_outbox_due(struct pd *, PGresult **, char *);
int	store_outbox_sent(struct pd *, long long, char *);
int	store_outbox_retry(struct pd *, long long, const char *, char *);
int	store_outbox_failed(struct pd *, long long, const char *, int *,
	    char *);
int	store_connect(struct pd *, char *);
void	store_notice(void *, const char *);
void	store_close(struct pd *);
int	store_account(struct pd *, const char *, struct pd_account **, int,
	    char *);
int	store_agent_changes(struct pd *, const char *, char *);
void	store_account_free(struct pd_account *);
int	store_unwrap(struct pd *, const struct pd_account *,
	    const unsigned char *, size_t, unsigned char **, size_t *,
	    X509 **, STACK_OF(X509) **, enum cms_fail *, char *);
int	store_agent_is(struct pd *, const struct pd_account *, X509 *, int,
	    char *);
int	store_cert_sha256(X509 *, char [STORE_SHALEN + 1], char *);
int	store_transfer_repin(struct pd *, const char *, char *);
enum pd_status store_rekey(struct pd *, X509 *, const char *,
	    const unsigned char *, size_t, char *, size_t);
enum pd_status store_arm(struct pd *, X509 *, const char *,
	    const unsigned char *, size_t, char *, size_t);
enum pd_status store_agent_open(struct pd *, X509 *, const char *,
	    const unsigned char *, size_t, unsigned char **, size_t *, char *,
	    size_t);
enum pd_status store_invitation_reject(struct pd *, X509 *, const char *,
	    const unsigned char *, size_t, char *, size_t);
int	store_mailbox_list(struct pd *, const char *, int, struct evbuffer *,
	    char *);
int	store_mailbox_get(struct pd *, const char *, int, long long,
	    struct evbuffer *, char *);
int	store_mailbox_delete(struct pd *, const char *, long long, char *);
int	store_purge(struct pd *, char *);
void	store_refusal(struct pd *, int, const char *, const char *,
	    const char *, const char *);
void	store_fetched(struct pd *, const char *);

int	listen_start(struct pd *, char *);
void	listen_stop(struct pd *);

#define WORKERS_MAX	64
int	workers_listen(const char *, int, char *);
int	workers_run(struct pd *, int, int (*)(struct pd *, int),
	    void (*)(struct pd *));
int	peers_init(int, int, char *);
int	peers_request(const char *, int *);
int	peers_hello(SSL *, int *, void *);
void	peers_forget(int);

#endif
