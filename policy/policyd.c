/*
 * NAME
 *	policyd.c - tandem-policyd, the background element
 * SYNOPSIS
 *	tandem-policyd [-c FILE] [-f] [-n] [-u USER]
 * DESCRIPTION
 *	Loads tandem.conf and everything it names (trust anchors, the BG
 *	element certificate, key and chain, the keybox key) and checks
 *	its identity against the courier section (pd_load(), load.c;
 *	-n stops there), binds the HTTPS listener (and the counters'),
 *	maps the table of connections per address (peers_init()), drops
 *	root privileges (to USER, default nobody), leaves the terminal
 *	unless -f (until then, errors reach standard error too:
 *	log_detached()), and forks background.workers workers, which it
 *	then watches (workers_run(), workers.c). Each worker (pd_work())
 *	connects to the background database and runs one event loop:
 *	HTTPS requests (http.c); worker 0 also the counters on
 *	background.metrics_listen (metrics.c), notifications of
 *	activated accounts
 *	(listen.c), the sender of bg_outbox (send.c), and every
 *	hygiene.purge_interval the hygiene pass (store_purge(), then the
 *	release of whatever an account's activation left held, then the
 *	forwarding of held ARMs whose recipient now routes to another
 *	courier, bgfed_release()). SIGHUP reloads the configuration and
 *	what it names in the parent, then in each worker
 *	(pd_reload_now()). SIGTERM and SIGINT stop the workers; the
 *	parent logs "stopped" and exits 0.
 *
 *	See tandem-policyd(8).
 * DIAGNOSTICS
 *	Exit status: 0 after a clean stop; EX_USAGE for a bad command
 *	line; EX_CONFIG for a bad configuration or a file it names;
 *	EX_OSERR when it cannot listen or drop privileges; EX_SOFTWARE
 *	when the event loop fails.
 */
#include <sys/types.h>

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/x509.h>

#include "crlfetch.h"
#include "httpd.h"
#include "log.h"
#include "policyd.h"
#include "proto.h"
#include "tandem.h"

static void	pd_crl_arm(struct pd *);

static void
pd_usage(void)
{
	fprintf(stderr, "usage: tandem-policyd [-c FILE] [-f] [-n] "
	    "[-u USER]\n");
	exit(EX_USAGE);
}

static void
pd_drop(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(user)) == NULL)
		log_fatal(EX_OSERR, "user %s: no such user", user);
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1)
		log_fatal(EX_OSERR, "cannot become %s", user);
	if (setuid(0) != -1)
		log_panic("still root after dropping to %s", user);
}

static void
pd_signal(evutil_socket_t sig, short what, void *arg)
{
	struct pd *pd = arg;

	(void)what;
	(void)sig;		/* the parent logged it */
	event_base_loopbreak(pd->pd_base);
}

/* Exchange what pd_load() gave a and b. */
static void
pd_swap(struct pd *a, struct pd *b)
{
	struct pd t;

	t.pd_cf = a->pd_cf;
	t.pd_trust = a->pd_trust;
	t.pd_id = a->pd_id;
	t.pd_keybox = a->pd_keybox;
	t.pd_self_pem = a->pd_self_pem;
	a->pd_cf = b->pd_cf;
	a->pd_trust = b->pd_trust;
	a->pd_id = b->pd_id;
	a->pd_keybox = b->pd_keybox;
	a->pd_self_pem = b->pd_self_pem;
	b->pd_cf = t.pd_cf;
	b->pd_trust = t.pd_trust;
	b->pd_id = t.pd_id;
	b->pd_keybox = t.pd_keybox;
	b->pd_self_pem = t.pd_self_pem;
}

/*
 * SIGHUP: the configuration and everything it names are read again
 * (pd_load()) and the TLS contexts made from them, all into the side;
 * only when all of it loaded is it swapped in, else it is logged and
 * the daemon goes on as it was. A connection under way keeps the
 * context it started with (its SSL holds a reference), so no request
 * in progress is touched. The listening address and the user are
 * those of the start (a change is said: restart to take it); a new
 * conninfo reconnects both database connections.
 *
 * With again, the revocation lists changed (pd_crl_tick()): the same
 * configuration (conf_again(), not the file as edited since) is
 * loaded once more, which reads tls.crl_file anew.
 */
static void
pd_reload_now(struct pd *pd, int again)
{
	struct pd nw;
	struct conf *old;
	SSL_CTX *ssl = NULL, *client = NULL;
	char err[TN_ERRLEN];
	int reconnect;

	memset(&nw, 0, sizeof(nw));
	if ((again ? conf_again(pd->pd_cf, &nw.pd_cf, err) :
	    conf_load(pd->pd_conf_path, &nw.pd_cf, err)) == -1 ||
	    pd_load(&nw, err) == -1 ||
	    (ssl = http_tls_ctx(pd, &nw.pd_id, nw.pd_cf, err)) == NULL ||
	    (client = send_tls_ctx(pd, &nw.pd_id, nw.pd_cf, err)) == NULL) {
		if (again)
			log_warn("crl status=refused file=%s worker=%d "
			    "reason=\"%s\"; going on with the lists read "
			    "before", pd->pd_cf->cf_crl_file, pd->pd_worker,
			    err);
		else
			log_warn("reload status=refused reason=\"%s\"; going "
			    "on as before", err);
		SSL_CTX_free(ssl);
		pd_free_loaded(&nw);
		return;
	}
	old = pd->pd_cf;
	if (pd->pd_worker == -1 && !again &&
	    (strcmp(old->cf_listen_host, nw.pd_cf->cf_listen_host) != 0 ||
	    old->cf_listen_port != nw.pd_cf->cf_listen_port))
		log_warn("reload listen=%s:%d reason=\"the listening address "
		    "changes only at a restart\"", nw.pd_cf->cf_listen_host,
		    nw.pd_cf->cf_listen_port);
	if (pd->pd_worker == -1 && !again &&
	    old->cf_workers != nw.pd_cf->cf_workers)
		log_warn("reload workers=%d reason=\"the number of workers "
		    "changes only at a restart\"", nw.pd_cf->cf_workers);
	reconnect = strcmp(old->cf_conninfo, nw.pd_cf->cf_conninfo) != 0;
	if (reconnect) {
		listen_stop(pd);
		store_close(pd);
	}
	pd_swap(pd, &nw);
	SSL_CTX_free(pd->pd_ssl);
	pd->pd_ssl = ssl;
	SSL_CTX_free(pd->pd_client_ssl);
	pd->pd_client_ssl = client;
	pd_free_loaded(&nw);		/* what was in use until now */
	if (pd->pd_httpd != NULL)
		httpd_set_max_body(pd->pd_httpd,
		    (size_t)pd->pd_cf->cf_max_request);
	if (reconnect && pd->pd_worker == 0 && listen_start(pd, err) == -1)
		log_warn("listen status=error reason=\"%s\"", err);
	if (pd->pd_worker == -1) {
		if (!again)
			pki_expiry_check(pd->pd_cf, NULL, time(NULL),
			    log_warn);
		return;
	}
	pd_crl_arm(pd);
	if (again) {
		log_info("crl status=refreshed file=%s worker=%d",
		    pd->pd_cf->cf_crl_file, pd->pd_worker);
		return;
	}
	if (reconnect && store_connect(pd, err) == -1)
		log_warn("database status=unavailable reason=\"%s\"", err);
	pd->pd_certs_at = time(NULL);
	log_info("reloaded conf=%s worker=%d%s", pd->pd_conf_path,
	    pd->pd_worker, reconnect ? " database=reconnected" : "");
}

/* The parent's SIGHUP (workers.c), before each worker's own. */
static void
pd_reload_parent(struct pd *pd)
{
	pd_reload_now(pd, 0);
}

static void
pd_reload(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	pd_reload_now(arg, 0);
}

/* What the workers but the first leave unsaid: worker 0 says it. */
static void
pd_say_nothing(const char *fmt, ...)
{
	(void)fmt;
}

/*
 * Every tls.crl_refresh, in each worker: the lists looked at, and read
 * again (with everything else the same configuration names) when the
 * file changed; a stale or unreadable list is logged (pki_crl_watch()),
 * by the first worker only.
 */
static void
pd_crl_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pd *pd = arg;
	const struct conf *cf = pd->pd_cf;

	(void)fd;
	(void)what;
	if (cf->cf_crl_file[0] != '\0' && pki_crl_watch(&pd->pd_crl_watch,
	    pd->pd_trust, cf->cf_crl_file, cf->cf_crl_accept, time(NULL),
	    pd->pd_worker <= 0 ? log_warn : pd_say_nothing) == 1)
		pd_reload_now(pd, 1);
}

/* The timer of pd_crl_tick(), as the configuration now says. */
static void
pd_crl_arm(struct pd *pd)
{
	struct timeval tv = { pd->pd_cf->cf_crl_refresh, 0 };

	if (pd->pd_crl_ev == NULL)
		return;
	event_del(pd->pd_crl_ev);
	if (pd->pd_cf->cf_crl_file[0] != '\0' && tv.tv_sec > 0 &&
	    event_add(pd->pd_crl_ev, &tv) != 0)
		log_warn("crl status=error reason=\"cannot set the timer of "
		    "tls.crl_refresh\"");
}

static void
pd_hygiene(evutil_socket_t fd, short what, void *arg)
{
	struct pd *pd = arg;
	char err[TN_ERRLEN];

	(void)fd;
	(void)what;
	if (store_purge(pd, err) == -1 || bgfed_release(pd, NULL, err) == -1)
		log_warn("hygiene status=error reason=\"%s\"", err);
	if (time(NULL) - pd->pd_certs_at >= 86400) {
		pki_expiry_check(pd->pd_cf, NULL, time(NULL), log_warn);
		pd->pd_certs_at = time(NULL);
	}
}

static void
pd_free(struct pd *pd)
{
	send_stop(pd);
	listen_stop(pd);
	store_close(pd);
	if (pd->pd_httpd != NULL)
		httpd_free(pd->pd_httpd);
	else if (pd->pd_http_fd != -1)
		close(pd->pd_http_fd);	/* the parent's */
	if (pd->pd_metrics != NULL)
		metrics_free(pd);
	else if (pd->pd_metrics_fd != -1)
		close(pd->pd_metrics_fd);
	pd->pd_http_fd = pd->pd_metrics_fd = -1;
	SSL_CTX_free(pd->pd_ssl);
	pd_free_loaded(pd);
}

/*
 * Worker i: its event loop, until a signal; the exit status. Worker 0
 * also runs the hygiene (a first pass before it says it serves), the
 * LISTEN connection, the sender and the counters.
 */
static int
pd_work(struct pd *pd, int i)
{
	struct event *sigterm, *sigint, *sighup, *hyg = NULL;
	struct timeval tv = { pd->pd_cf->cf_purge_interval, 0 };
	char err[TN_ERRLEN];
	int rc;

	if ((pd->pd_base = event_base_new()) == NULL)
		log_fatal(EX_OSERR, "worker=%d: cannot make the event loop", i);
	if (http_setup(pd, err) == -1 || (i == 0 && metrics_setup(pd,
	    err) == -1))
		log_fatal(EX_OSERR, "worker=%d: %s", i, err);
	if (i != 0 && pd->pd_metrics_fd != -1) {
		close(pd->pd_metrics_fd);
		pd->pd_metrics_fd = -1;
	}
	sigterm = evsignal_new(pd->pd_base, SIGTERM, pd_signal, pd);
	sigint = evsignal_new(pd->pd_base, SIGINT, pd_signal, pd);
	sighup = evsignal_new(pd->pd_base, SIGHUP, pd_reload, pd);
	if (i == 0)
		hyg = event_new(pd->pd_base, -1, EV_PERSIST, pd_hygiene, pd);
	pd->pd_crl_ev = event_new(pd->pd_base, -1, EV_PERSIST, pd_crl_tick,
	    pd);
	if (sigterm == NULL || sigint == NULL || sighup == NULL ||
	    pd->pd_crl_ev == NULL ||
	    (i == 0 && hyg == NULL) || evsignal_add(sigterm, NULL) != 0 ||
	    evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sighup, NULL) != 0 ||
	    (hyg != NULL && event_add(hyg, &tv) != 0))
		log_fatal(EX_OSERR, "worker=%d: cannot set up the event loop",
		    i);
	pd_crl_arm(pd);
	pd_crl_tick(-1, 0, pd);	/* changed since the parent read them */
	if (store_connect(pd, err) == -1)
		log_warn("database status=unavailable reason=\"%s\"", err);
	else if (i == 0 && store_purge(pd, err) == -1)
		log_warn("hygiene status=error reason=\"%s\"", err);
	if (i == 0 && listen_start(pd, err) == -1)
		log_warn("listen status=error reason=\"%s\"", err);
	if (i == 0 && send_start(pd, err) == -1)
		log_fatal(EX_SOFTWARE, "%s", err);
	if (write(pd->pd_ready_fd, "", 1) != 1)
		log_warn("worker=%d status=error reason=\"cannot tell the "
		    "parent it serves\"", i);
	close(pd->pd_ready_fd);
	rc = event_base_dispatch(pd->pd_base) == -1 ? EX_SOFTWARE : 0;
	if (hyg != NULL)
		event_free(hyg);
	event_free(pd->pd_crl_ev);
	pd->pd_crl_ev = NULL;
	event_free(sighup);
	event_free(sigint);
	event_free(sigterm);
	pd_free(pd);
	event_base_free(pd->pd_base);
	proto_shutdown();
	return rc;
}

int
main(int argc, char **argv)
{
	struct pd pd;
	const char *path = CONF_PATH, *user = "nobody";
	char err[TN_ERRLEN];
	int ch, fg = 0, check = 0, rc, n;

	while ((ch = getopt(argc, argv, "c:fnu:")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': fg = 1; break;
		case 'n': check = 1; break;
		case 'u': user = optarg; break;
		default: pd_usage();
		}
	}
	if (optind != argc)
		pd_usage();
	log_init("tandem-policyd", fg || check);
	memset(&pd, 0, sizeof(pd));
	pd.pd_conf_path = path;
	pd.pd_http_fd = pd.pd_metrics_fd = pd.pd_ready_fd = -1;
	pd.pd_worker = -1;
	if (conf_load(path, &pd.pd_cf, err) == -1)
		log_fatal(EX_CONFIG, "%s", err);
	/* A first start with tls.crl_url: the lists before they are read. */
	if (!check && pd.pd_cf->cf_ncrl_urls > 0 &&
	    access(pd.pd_cf->cf_crl_file, F_OK) == -1)
		(void)crlfetch_round(pd.pd_cf, log_info, log_warn);
	if (pd_load(&pd, err) == -1)
		log_fatal(EX_CONFIG, "%s", err);
	if (check) {
		printf("configuration OK\n");
		pd_free(&pd);
		return 0;
	}
	if (db_schema_check_at(pd.pd_cf->cf_conninfo, "bg", err) == -1)
		log_fatal(EX_CONFIG, "%s", err);
	pki_expiry_check(pd.pd_cf, NULL, time(NULL), log_warn);
	pd.pd_certs_at = time(NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((n = pd.pd_cf->cf_workers) == 0 &&
	    (n = (int)sysconf(_SC_NPROCESSORS_ONLN)) < 2)
		n = 2;
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	if ((pd.pd_http_fd = workers_listen(pd.pd_cf->cf_listen_host,
	    pd.pd_cf->cf_listen_port, err)) == -1 ||
	    (pd.pd_cf->cf_metrics_host != NULL && (pd.pd_metrics_fd =
	    workers_listen(pd.pd_cf->cf_metrics_host,
	    pd.pd_cf->cf_metrics_port, err)) == -1) ||
	    peers_init(pd.pd_cf->cf_max_peer_connections,
	    pd.pd_cf->cf_max_peer_rate, err) == -1)
		log_fatal(EX_OSERR, "%s", err);
	pd_drop(user);
	if (!fg && daemon(0, 0) == -1)
		log_fatal(EX_OSERR, "cannot go to the background");
	log_detached();
	rc = workers_run(&pd, n, pd_work, pd_reload_parent);
	log_info("stopped status=%d", rc);
	pd_free(&pd);
	proto_shutdown();
	return rc;
}
