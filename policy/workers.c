/*
 * NAME
 *	workers.c - tandem-policyd's worker processes and its limit of
 *	connections per client address
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	workers_listen() makes a listening TCP socket (as root, before
 *	the daemon drops its privileges); the workers inherit it. It has
 *	TCP_NODELAY, which the connections it accepts inherit (Linux):
 *	an answer that does not fit one TLS record (httpd.c writes each
 *	in one piece) is several, and with Nagle the second would wait
 *	for the client's delayed ACK of the first, some 40 ms, on every
 *	answer of a kept-alive connection (bench/policyd-throughput
 *	showed it when evhttp wrote head and body apart).
 *
 *	workers_run() is the parent process: it forks n workers, each
 *	running work(pd, i) and exiting with its return, then only
 *	watches them. It has no event loop, no database connection and
 *	no TLS connection of its own, so that a worker it forks again
 *	inherits nothing in use. TERM and INT are passed on to every
 *	worker, and workers_run() returns once all have exited (after
 *	WORKERS_GRACE seconds the ones left are killed). HUP calls
 *	reload(pd) in the parent, so that a worker forked later starts
 *	with what was reloaded, and is then passed on to every worker,
 *	which reloads on its own. A worker that exits or dies otherwise
 *	is logged and forked again (a second later when it lived less
 *	than a second), but one that exits EX_CONFIG (a database schema
 *	this build cannot use, say) stops them all: workers_run() then
 *	returns EX_CONFIG, which a service manager should not restart on.
 *	A worker gets TERM when the parent dies (PR_SET_PDEATHSIG): a
 *	parent killed by SIGKILL leaves no worker holding the listening
 *	socket that a new daemon must bind.
 *	With tls.crl_url the parent also forks, at start and every
 *	tls.crl_fetch (5 minutes after a failed round, or sooner with a
 *	shorter tls.crl_fetch), a process that fetches the lists into
 *	tls.crl_file (crlfetch_round()) and exits; the workers take the
 *	new file on their tls.crl_refresh. Its exit is not a worker's.
 *	Each worker writes one byte on pd_ready_fd once
 *	it serves; when all of the first ones did, the parent logs
 *	"started".
 *
 *	peers_init() maps a table shared by the parent and the workers:
 *	per client address, how many connections each worker holds.
 *	peers_hello() is the TLS client hello callback of the HTTPS
 *	context (http_tls_ctx()): it counts the connection for its
 *	address, or, with background.max_peer_connections already held
 *	by that address over all workers, refuses the handshake and logs
 *	it (once a minute per address). The count is given back when the
 *	connection's SSL is freed (an ex_data free callback).
 *	peers_forget(i) drops what worker i held, when it is gone. A
 *	table that is full refuses new addresses the same way, logged
 *	once a minute (it has PEERS_SLOTS slots; a worker serves at most
 *	as many connections as it has descriptors).
 *
 *	peers_request() is the request rate limit of the same table: each
 *	address has a bucket of background.max_peer_rate requests,
 *	refilled at that rate a minute; a request when it is empty is
 *	refused (-1), and *tell says to log it: once per address per
 *	RATE_TELL seconds (rate_bucket(), rate.h), not once per request,
 *	so that a flood does not flood the log and the help desk's
 *	refusals too.
 *
 *	The table's lock is a robust process-shared mutex: a worker that
 *	dies holding it leaves it usable.
 * DIAGNOSTICS
 *	workers_listen() returns a descriptor, peers_init() 0; both -1
 *	with a reason in err. workers_run() returns 0 once every worker
 *	exited after a TERM or INT, EX_CONFIG once every worker exited
 *	after one exited EX_CONFIG, or EX_OSERR when it cannot fork or
 *	watch its workers.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "crlfetch.h"
#include "log.h"
#include "policyd.h"
#include "rate.h"
#include "tandem.h"

#define WORKERS_GRACE	10	/* seconds between TERM and KILL */
#define PEERS_SLOTS	4096

struct peer_slot {
	unsigned char	ps_addr[16];	/* IPv6, or IPv4-mapped */
	unsigned char	ps_used;	/* ever: ends a probe */
	uint16_t	ps_count[WORKERS_MAX];
	double		ps_tokens;	/* requests it may still make */
	double		ps_at;		/* ...as of then (monotonic) */
	time_t		ps_told;	/* its last 429 logged */
	time_t		ps_conn_told;	/* its last refused hello logged */
};

struct peer_table {
	pthread_mutex_t	pt_lock;
	time_t		pt_full_told;	/* "table full" last logged */
	struct peer_slot pt_slot[PEERS_SLOTS];
};

static struct peer_table *peers;
static int peers_worker = -1;	/* this process's column */
static int peers_max;
static int peers_rate;		/* requests a minute; 0: any */
static int peers_index = -1;	/* SSL ex_data */

int
workers_listen(const char *host, int port, char *err)
{
	struct addrinfo hints, *res = NULL;
	char serv[16];
	int fd = -1, one = 1, gai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((gai = getaddrinfo(host, serv, &hints, &res)) != 0) {
		tn_err(err, "cannot listen on %s:%d: %s", host, port,
		    gai_strerror(gai));
		return -1;
	}
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK,
	    0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
	    -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ==
	    -1 || bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		tn_err(err, "cannot listen on %s:%d: %s", host, port,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void
peers_lock(void)
{
	if (pthread_mutex_lock(&peers->pt_lock) == EOWNERDEAD)
		pthread_mutex_consistent(&peers->pt_lock);
}

static void peers_free(void *, void *, CRYPTO_EX_DATA *, int, long, void *);

int
peers_init(int max, int rate, char *err)
{
	pthread_mutexattr_t ma;

	peers_max = max;
	peers_rate = rate;
	if ((peers_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
	    peers_free)) == -1) {
		tn_err(err, "cannot set up the connection limit");
		return -1;
	}
	peers = mmap(NULL, sizeof(*peers), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (peers == MAP_FAILED) {
		peers = NULL;
		tn_err(err, "cannot map the connection table: %s",
		    strerror(errno));
		return -1;
	}
	if (pthread_mutexattr_init(&ma) != 0 ||
	    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&peers->pt_lock, &ma) != 0) {
		tn_err(err, "cannot set up the connection table's lock");
		return -1;
	}
	pthread_mutexattr_destroy(&ma);
	return 0;
}

/* The slot of addr, or NULL; *room: the first slot it may take. */
static struct peer_slot *
peers_find(const unsigned char *addr, struct peer_slot **room)
{
	struct peer_slot *ps;
	uint32_t h = 2166136261u;
	size_t i, n;
	int w, held;

	for (i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	*room = NULL;
	for (n = 0; n < PEERS_SLOTS; n++) {
		ps = &peers->pt_slot[(h + n) % PEERS_SLOTS];
		if (!ps->ps_used) {
			if (*room == NULL)
				*room = ps;
			return NULL;
		}
		if (memcmp(ps->ps_addr, addr, 16) == 0)
			return ps;
		for (w = 0, held = 0; w < WORKERS_MAX && !held; w++)
			held = ps->ps_count[w] != 0;
		if (!held && *room == NULL)
			*room = ps;
	}
	return NULL;
}

static void
peers_new(struct peer_slot *ps, const unsigned char *addr)
{
	memset(ps, 0, sizeof(*ps));
	memcpy(ps->ps_addr, addr, 16);
	ps->ps_used = 1;
	ps->ps_tokens = peers_rate;
	ps->ps_at = rate_now();
}

/*
 * Count one more connection of addr: 0, -1 over the limit, -2 when the
 * table has no room for a new address. *tell: log the refusal (once
 * per RATE_TELL seconds per address, as peers_request() does).
 */
static int
peers_take(const unsigned char *addr, int *held, int *tell)
{
	struct peer_slot *ps, *room;
	int w;

	*held = *tell = 0;
	peers_lock();
	if ((ps = peers_find(addr, &room)) == NULL) {
		if ((ps = room) == NULL) {
			if (time(NULL) - peers->pt_full_told >= RATE_TELL) {
				peers->pt_full_told = time(NULL);
				*tell = 1;
			}
			pthread_mutex_unlock(&peers->pt_lock);
			return -2;
		}
		peers_new(ps, addr);
	}
	for (w = 0; w < WORKERS_MAX; w++)
		*held += ps->ps_count[w];
	if (*held >= peers_max || ps->ps_count[peers_worker] == UINT16_MAX) {
		if (time(NULL) - ps->ps_conn_told >= RATE_TELL) {
			ps->ps_conn_told = time(NULL);
			*tell = 1;
		}
		pthread_mutex_unlock(&peers->pt_lock);
		return -1;
	}
	ps->ps_count[peers_worker]++;
	pthread_mutex_unlock(&peers->pt_lock);
	return 0;
}

/* Give back what peers_take() counted. */
static void
peers_give(const unsigned char *addr)
{
	struct peer_slot *ps, *room;

	peers_lock();
	if ((ps = peers_find(addr, &room)) != NULL &&
	    ps->ps_count[peers_worker] > 0)
		ps->ps_count[peers_worker]--;
	pthread_mutex_unlock(&peers->pt_lock);
}

static void
peers_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr == NULL)
		return;
	peers_give(ptr);
	free(ptr);
}

int
peers_request(const char *host, int *tell)
{
	struct peer_slot *ps, *room;
	unsigned char addr[16];
	int rc;

	*tell = 0;
	if (peers == NULL || peers_rate == 0 || host == NULL)
		return 0;
	memset(addr, 0, sizeof(addr));
	if (inet_pton(AF_INET, host, addr + 12) == 1)
		addr[10] = addr[11] = 0xff;
	else if (inet_pton(AF_INET6, host, addr) != 1)
		return 0;
	peers_lock();
	if ((ps = peers_find(addr, &room)) == NULL) {
		if ((ps = room) == NULL) {
			pthread_mutex_unlock(&peers->pt_lock);
			return 0;	/* full: the connection limit said */
		}
		peers_new(ps, addr);
	}
	rc = rate_bucket(&ps->ps_tokens, &ps->ps_at, &ps->ps_told,
	    peers_rate, tell);
	pthread_mutex_unlock(&peers->pt_lock);
	return rc;
}

void
peers_forget(int worker)
{
	size_t i;

	if (peers == NULL)
		return;
	peers_lock();
	for (i = 0; i < PEERS_SLOTS; i++)
		peers->pt_slot[i].ps_count[worker] = 0;
	pthread_mutex_unlock(&peers->pt_lock);
}

int
peers_hello(SSL *ssl, int *alert, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	unsigned char addr[16], *mine;
	char text[INET6_ADDRSTRLEN];
	int fd, held, tell, rc;

	(void)arg;
	if (peers == NULL || peers_worker == -1 ||
	    SSL_get_ex_data(ssl, peers_index) != NULL)
		return SSL_CLIENT_HELLO_SUCCESS;	/* counted: a retry */
	if ((fd = SSL_get_fd(ssl)) == -1 ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return SSL_CLIENT_HELLO_SUCCESS;
	memset(addr, 0, sizeof(addr));
	if (ss.ss_family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		inet_ntop(AF_INET, addr + 12, text, sizeof(text));
	} else if (ss.ss_family == AF_INET6) {
		memcpy(addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		inet_ntop(AF_INET6, addr, text, sizeof(text));
	} else
		return SSL_CLIENT_HELLO_SUCCESS;
	if ((rc = peers_take(addr, &held, &tell)) != 0) {
		if (tell && rc == -1)
			log_warn("connection client=%s status=refused "
			    "reason=\"%d connections from this address "
			    "already, background.max_peer_connections\" "
			    "logged=once-a-minute", text, held);
		else if (tell)
			log_warn("connection client=%s status=refused "
			    "reason=\"%d addresses hold connections already\" "
			    "logged=once-a-minute", text, PEERS_SLOTS);
		*alert = SSL_AD_HANDSHAKE_FAILURE;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if ((mine = malloc(16)) == NULL) {
		peers_give(addr);
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	memcpy(mine, addr, 16);
	if (SSL_set_ex_data(ssl, peers_index, mine) != 1) {
		peers_free(NULL, mine, NULL, 0, 0, NULL);
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static pid_t
workers_fork(struct pd *pd, int i, const sigset_t *old, int sfd, int rfd,
    int (*work)(struct pd *, int))
{
	pid_t pid, parent = getpid();

	if ((pid = fork()) != 0)
		return pid;
	/*
	 * A parent killed (SIGKILL, the OOM killer) must not leave its
	 * workers serving: they hold the listening socket, and a new
	 * tandem-policyd could not bind it (bench/chaos). TERM ends a
	 * worker as the parent's TERM would; a parent gone already ends
	 * it here.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(EX_OSERR);
	close(sfd);
	close(rfd);
	peers_worker = i;
	pd->pd_worker = i;
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, old, NULL);
	exit(work(pd, i));
}

/*
 * The process of one round of tls.crl_url (crlfetch_round()), forked
 * as a worker is (workers_fork(), i -1) so that a slow URL holds up
 * neither the parent's signals nor a worker's clients; it exits 0 when
 * the lists were fetched.
 */
static int
workers_crl(struct pd *pd, int i)
{
	(void)i;
	return crlfetch_round(pd->pd_cf, log_info, log_warn) == -1 ? 1 : 0;
}

int
workers_run(struct pd *pd, int n, int (*work)(struct pd *, int),
    void (*reload)(struct pd *))
{
	struct workers {
		pid_t	w_pid;		/* 0: to fork at w_due */
		time_t	w_born, w_due;
	} w[WORKERS_MAX];
	struct signalfd_siginfo si;
	struct pollfd pfd[2];
	sigset_t set, old;
	time_t stop_at = 0, now, fetch_at = 0;
	int pipefd[2], sfd, i, st, live, ready = 0, started = 0, rc = 0;
	int timeout;
	char buf[64];
	ssize_t r;
	pid_t pid, fetcher = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &old) == -1 ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1 ||
	    pipe2(pipefd, O_CLOEXEC) == -1) {
		log_warn("workers status=error reason=\"%s\"", strerror(errno));
		return EX_OSERR;
	}
	pd->pd_ready_fd = pipefd[1];
	memset(w, 0, sizeof(w));
	for (i = 0; i < n; i++) {
		if ((w[i].w_pid = workers_fork(pd, i, &old, sfd, pipefd[0],
		    work)) == -1) {
			log_warn("workers status=error reason=\"fork: %s\"",
			    strerror(errno));
			w[i].w_pid = 0;
			for (i--; i >= 0; i--)
				kill(w[i].w_pid, SIGTERM);
			stop_at = time(NULL);
			break;
		}
		w[i].w_born = time(NULL);
	}
	pfd[0].fd = sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = pipefd[0];
	pfd[1].events = POLLIN;
	for (;;) {
		now = time(NULL);
		for (i = 0, live = 0; i < n; i++) {
			if (w[i].w_pid > 0)
				live++;
			else if (!stop_at && w[i].w_due <= now) {
				w[i].w_pid = workers_fork(pd, i, &old, sfd,
				    pipefd[0], work);
				if (w[i].w_pid == -1) {
					w[i].w_pid = 0;
					w[i].w_due = now + 1;
				} else {
					w[i].w_born = now;
					live++;
				}
			}
		}
		if (!stop_at && fetcher == 0 && pd->pd_cf->cf_ncrl_urls > 0 &&
		    fetch_at <= now &&
		    (fetcher = workers_fork(pd, -1, &old, sfd, pipefd[0],
		    workers_crl)) == -1) {
			log_warn("crl status=unfetched reason=\"fork: %s\"",
			    strerror(errno));
			fetcher = 0;
			fetch_at = now + 60;
		}
		if (stop_at && live == 0 && fetcher == 0)
			break;
		if (stop_at && now - stop_at >= WORKERS_GRACE) {
			for (i = 0; i < n; i++)
				if (w[i].w_pid > 0)
					kill(w[i].w_pid, SIGKILL);
			if (fetcher > 0)
				kill(fetcher, SIGKILL);
		}
		timeout = live < n || stop_at ? 1000 : -1;
		if (!stop_at && fetcher == 0 && pd->pd_cf->cf_ncrl_urls > 0 &&
		    (timeout == -1 || fetch_at - now < timeout / 1000))
			timeout = fetch_at > now ? (int)(fetch_at - now) *
			    1000 : 0;
		if (poll(pfd, 2, timeout) == -1 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN &&
		    (r = read(pipefd[0], buf, sizeof(buf))) > 0 && !started &&
		    (ready += (int)r) >= n) {
			started = 1;
			log_info("started listen=%s:%d workers=%d",
			    pd->pd_cf->cf_listen_host,
			    pd->pd_cf->cf_listen_port, n);
		}
		if (!(pfd[0].revents & POLLIN) ||
		    read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!stop_at)
				log_info("stopping signal=%d", (int)si.ssi_signo);
			stop_at = time(NULL);
			for (i = 0; i < n; i++)
				if (w[i].w_pid > 0)
					kill(w[i].w_pid, SIGTERM);
			if (fetcher > 0)
				kill(fetcher, SIGTERM);
			break;
		case SIGHUP:
			reload(pd);
			for (i = 0; i < n; i++)
				if (w[i].w_pid > 0)
					kill(w[i].w_pid, SIGHUP);
			break;
		case SIGCHLD:
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
				if (pid == fetcher) {
					fetcher = 0;
					fetch_at = time(NULL) +
					    crlfetch_next(pd->pd_cf,
					    WIFEXITED(st) &&
					    WEXITSTATUS(st) == 0 ? 0 : -1);
					continue;
				}
				for (i = 0; i < n && w[i].w_pid != pid; i++)
					;
				if (i == n)
					continue;
				w[i].w_pid = 0;
				peers_forget(i);
				if (stop_at && WIFEXITED(st) &&
				    WEXITSTATUS(st) == 0)
					continue;
				if (WIFSIGNALED(st))
					log_warn("worker=%d pid=%ld status=killed "
					    "signal=%d", i, (long)pid,
					    WTERMSIG(st));
				else
					log_warn("worker=%d pid=%ld status=exited "
					    "code=%d", i, (long)pid,
					    WEXITSTATUS(st));
				if (WIFEXITED(st) &&
				    WEXITSTATUS(st) == EX_CONFIG && !stop_at) {
					/* Forking it again would not mend it. */
					rc = EX_CONFIG;
					stop_at = time(NULL);
					for (i = 0; i < n; i++)
						if (w[i].w_pid > 0)
							kill(w[i].w_pid,
							    SIGTERM);
					continue;
				}
				w[i].w_due = time(NULL) - w[i].w_born < 1 ?
				    time(NULL) + 1 : 0;
			}
			break;
		}
	}
	close(sfd);
	close(pipefd[0]);
	close(pipefd[1]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
