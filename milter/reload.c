/*
 * NAME
 *	reload.c - the configuration snapshots of tandem-milter, and
 *	their reload on SIGHUP
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	int	fg_new(struct fgproc *fp, struct conf *cf, struct fg **out,
 *		    char *err);
 *	struct fg *fg_hold(struct fgproc *fp);
 *	void	fg_release(struct fg *fg);
 *	int	fg_signals_start(struct fgproc *fp);
 *	void	fg_signals_stop(struct fgproc *fp);
 * DESCRIPTION
 *	fg_new() loads everything cf names (trust anchors, keybox key,
 *	the FG element's certificate, key and chain), checks the element
 *	certificate and the identity (selfcheck_identity()), and, once
 *	the CA process runs, that the chain still carries its issuing
 *	certificate; it makes the snapshot's own connection pool and
 *	cache. The snapshot borrows the held key of fp. It takes cf: on
 *	failure cf is freed too. *out, with one reference, is for
 *	fg_release().
 *
 *	fg_hold() gives a new reference to the current snapshot;
 *	fg_release() gives one back and frees the snapshot with the last
 *	(its pool closes its idle connections then). fg_release(NULL)
 *	does nothing.
 *
 *	fg_signals_start() starts the signal thread, once SIGHUP, SIGINT
 *	and SIGTERM are blocked (every thread inherits the mask); it alone
 *	waits for them. SIGINT and SIGTERM stop the milter (smfi_stop()),
 *	SIGHUP reloads. libmilter's own signal thread waits for the same
 *	three with sigwait() and stops the milter on SIGHUP
 *	(libmilter/signal.c, mi_signal_thread()); two threads waiting for
 *	one signal would race for it. The sigwait() defined here takes the
 *	place of the C library's in the whole process, libmilter included
 *	(symbol lookup starts with the program), and waits for the given
 *	set less these three: libmilter's thread waits for nothing.
 *
 *	Every tls.crl_refresh (when tls.crl_file is set) the signal
 *	thread looks at the lists (pki_crl_watch()): when the file
 *	changed it makes a new snapshot of the same configuration
 *	(conf_again(), not the file as edited since) and swaps it in the
 *	same way, logging "crl status=refreshed file=FILE", or "crl
 *	status=refused ..." and going on with the lists read before.
 *
 *	With tls.crl_url, fg_crlfetch_main() (a thread of its own, so
 *	that a slow URL holds up neither signals nor mail) fetches the
 *	lists into tls.crl_file at start and every tls.crl_fetch
 *	(crlfetch_round()), with the snapshot current at each round; the
 *	watch above then takes the new file. It ends when fp_stop is set
 *	(within a second, or when a fetch under way gives up).
 *
 *	Each SIGHUP reads fp_path again into a new snapshot, as the user
 *	the milter runs as, and swaps it in only when all of it loaded;
 *	a message in progress keeps the snapshot it took at its envfrom.
 *	The socket, its group and mode, the users, foreground.ca_dir and
 *	tls.held_key stay those of the start (a change is logged); so do
 *	the trust anchors and chain of the CA process.
 *
 *	fg_signals_stop() sets fp_stop and ends the signal thread.
 * DIAGNOSTICS
 *	fg_new(): 0; -1 with err naming the file or setting; -2 out of
 *	memory. fg_signals_start(): 0, or -1 if the thread cannot start.
 *	A reload logs "reloaded conf=FILE", or "reload status=refused
 *	reason=\"...\"; going on as before".
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmilter/mfapi.h>

#include "crlfetch.h"
#include "fed.h"
#include "log.h"
#include "milter.h"
#include "selfcheck.h"
#include "tandem.h"

/* The chain as one PEM string, for free(); NULL with err. */
static char *
fg_chain_pem(STACK_OF(X509) *chain, char *err)
{
	char *all = NULL, *pem, *n;
	size_t len = 0, plen;
	int i;

	if ((all = calloc(1, 1)) == NULL)
		goto oom;
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (pki_cert_pem(sk_X509_value(chain, i), &pem, &plen,
		    err) == -1) {
			free(all);
			return NULL;
		}
		if ((n = realloc(all, len + plen + 1)) == NULL) {
			free(pem);
			free(all);
			goto oom;
		}
		all = n;
		memcpy(all + len, pem, plen);
		len += plen;
		all[len] = '\0';
		free(pem);
	}
	return all;
oom:
	tn_err(err, "out of memory");
	return NULL;
}

/* When every trust anchor and revocation list is valid: [from, until). */
static int
fg_anchors_window(struct fg *fg)
{
	fg->fg_anchors_from = 0;
	fg->fg_anchors_until = (time_t)INT64_MAX;
	return pki_store_narrow(pki_trust_store(fg->fg_trust),
	    &fg->fg_anchors_from, &fg->fg_anchors_until);
}

static void
fg_free(struct fg *fg)
{
	if (fg == NULL)
		return;
	pool_free(fg->fg_pool);
	objcache_free(fg->fg_cache);
	pki_trust_free(fg->fg_trust);
	keybox_free(fg->fg_keybox);
	sk_X509_pop_free(fg->fg_id.ci_chain, X509_free);
	fgdb_id_free(&fg->fg_id);
	free(fg->fg_chain_pem);
	free(fg->fg_self_pem);
	conf_free(fg->fg_conf);
	free(fg);
}

/* The files of the snapshot and their checks; -1 with err. */
static int
fg_files(struct fg *fg, char *err)
{
	const struct conf *cf = fg->fg_conf;
	char why[TN_ERRLEN];

	if (cf->cf_service_mailbox[0] == '\0') {
		tn_err(err, "%s: foreground: service_mailbox is not set",
		    cf->cf_path);
		return -1;
	}
	if ((fg->fg_trust = pki_trust_load(cf->cf_anchors, err)) == NULL)
		return -1;
	pki_trust_say(fg->fg_trust, log_warn);
	if ((cf->cf_crl_file[0] != '\0' && pki_trust_crls(fg->fg_trust,
	    cf->cf_crl_file, cf->cf_crl_accept, err) == -1) ||
	    (fg->fg_keybox = keybox_load(cf->cf_keybox_key, err)) == NULL ||
	    (fg->fg_id.ci_cert = pki_load_cert(cf->cf_cert, err)) == NULL ||
	    (fg->fg_id.ci_key = pki_load_key(cf->cf_key, NULL, err)) == NULL ||
	    (fg->fg_id.ci_chain = pki_load_certs(cf->cf_chain, err)) == NULL ||
	    (fg->fg_chain_pem = fg_chain_pem(fg->fg_id.ci_chain,
	    err)) == NULL ||
	    fed_self_pem(&fg->fg_id, &fg->fg_self_pem, err) == -1)
		return -1;
	err[0] = '\0';
	if (pki_verify(fg->fg_trust, fg->fg_id.ci_cert, fg->fg_id.ci_chain,
	    NULL, err) == -1 ||
	    pki_cert_kind(fg->fg_id.ci_cert) != PKI_KIND_FG) {
		snprintf(why, sizeof(why), "%s", err);
		tn_err(err, "%s: not a valid FG element certificate%s%s",
		    cf->cf_cert, why[0] ? ": " : "", why);
		return -1;
	}
	if (selfcheck_identity(cf, fg->fg_trust, fg->fg_id.ci_cert,
	    fg->fg_id.ci_key, fg->fg_id.ci_chain, err) == -1)
		return -1;
	if (fg_anchors_window(fg) == -1) {
		tn_err(err, "%s: cannot read the dates of the trust anchors",
		    cf->cf_anchors);
		return -1;
	}
	if (fg->fg_proc->fp_issuing != NULL &&
	    !ca_in_chain(fg->fg_proc->fp_issuing, fg->fg_id.ci_chain)) {
		tn_err(err, "%s: tls.chain %s lacks the issuing CA "
		    "certificate of the CA process", cf->cf_path,
		    cf->cf_chain);
		return -1;
	}
	return 0;
}

int
fg_new(struct fgproc *fp, struct conf *cf, struct fg **out, char *err)
{
	struct fg *fg;
	int rc = -1;

	*out = NULL;
	if ((fg = calloc(1, sizeof(*fg))) == NULL) {
		conf_free(cf);
		tn_err(err, "out of memory");
		return -2;
	}
	fg->fg_proc = fp;
	fg->fg_refs = 1;
	fg->fg_conf = cf;
	fg->fg_heldbox = fp->fp_heldbox;
	if (fg_files(fg, err) == -1)
		goto out;
	if ((fg->fg_pool = pool_new(cf->cf_conninfo,
	    (size_t)cf->cf_max_messages)) == NULL ||
	    (fg->fg_cache = objcache_new()) == NULL) {
		tn_err(err, "out of memory");
		rc = -2;
		goto out;
	}
	*out = fg;
	fg = NULL;
	rc = 0;
out:
	fg_free(fg);
	return rc;
}

struct fg *
fg_hold(struct fgproc *fp)
{
	struct fg *fg;

	pthread_mutex_lock(&fp->fp_lock);
	fg = fp->fp_cur;
	fg->fg_refs++;
	pthread_mutex_unlock(&fp->fp_lock);
	return fg;
}

void
fg_release(struct fg *fg)
{
	struct fgproc *fp;
	long left;

	if (fg == NULL)
		return;
	fp = fg->fg_proc;
	pthread_mutex_lock(&fp->fp_lock);
	left = --fg->fg_refs;
	pthread_mutex_unlock(&fp->fp_lock);
	if (left < 0)
		log_panic("snapshot released once too often");
	if (left == 0)
		fg_free(fg);
}

/* A string setting that changes only at a restart. */
static void
fg_restart_only(const char *key, const char *old, const char *nw)
{
	if (strcmp(old, nw) != 0)
		log_warn("reload %s=%s reason=\"%s changes only at a "
		    "restart\"", key, nw, key);
}

/* What the new configuration cannot change: said, not taken. */
static void
fg_reload_compare(const struct fgproc *fp, const struct conf *old,
    const struct conf *nw)
{
	char om[16], nm[16];

	fg_restart_only("foreground.milter_socket", old->cf_milter_socket,
	    nw->cf_milter_socket);
	fg_restart_only("foreground.socket_group", old->cf_socket_group,
	    nw->cf_socket_group);
	snprintf(om, sizeof(om), "%04lo", old->cf_socket_mode);
	snprintf(nm, sizeof(nm), "%04lo", nw->cf_socket_mode);
	fg_restart_only("foreground.socket_mode", om, nm);
	if (fp->fp_user == NULL)
		fg_restart_only("foreground.user", old->cf_milter_user,
		    nw->cf_milter_user);
	fg_restart_only("foreground.ca_dir", old->cf_ca_dir, nw->cf_ca_dir);
	fg_restart_only("foreground.ca_user", old->cf_ca_user,
	    nw->cf_ca_user);
	fg_restart_only("tls.held_key", old->cf_held_key, nw->cf_held_key);
}

/*
 * One SIGHUP: a new snapshot, or the reason to go on with the old.
 * With again, the revocation lists changed: the same configuration
 * (conf_again()) loaded once more, which reads tls.crl_file anew.
 */
static void
fg_reload(struct fgproc *fp, int again)
{
	struct conf *cf = NULL;
	struct fg *nw = NULL, *old;
	char err[TN_ERRLEN];

	/* Only this thread swaps: fp_cur stays until the swap below. */
	if ((again ? conf_again(fp->fp_cur->fg_conf, &cf, err) :
	    conf_load(fp->fp_path, &cf, err)) == -1 ||
	    fg_new(fp, cf, &nw, err) != 0) {
		if (again)
			log_warn("crl status=refused file=%s reason=\"%s\"; "
			    "going on with the lists read before",
			    fp->fp_cur->fg_conf->cf_crl_file, err);
		else
			log_warn("reload status=refused reason=\"%s\"; going "
			    "on as before", err);
		return;
	}
	if (!again)
		fg_reload_compare(fp, fp->fp_cur->fg_conf, nw->fg_conf);
	pthread_mutex_lock(&fp->fp_lock);
	old = fp->fp_cur;
	fp->fp_cur = nw;
	pthread_mutex_unlock(&fp->fp_lock);
	fg_release(old);	/* freed now, or by the last message on it */
	if (again) {
		log_info("crl status=refreshed file=%s",
		    nw->fg_conf->cf_crl_file);
		return;
	}
	pki_expiry_check(nw->fg_conf, nw->fg_conf->cf_ca_dir, time(NULL),
	    log_warn);
	log_info("reloaded conf=%s", fp->fp_path);
}

/* tls.crl_refresh: the lists looked at, read again if they changed. */
static void
fg_crl_tick(struct fgproc *fp)
{
	const struct conf *cf = fp->fp_cur->fg_conf;

	if (cf->cf_crl_file[0] != '\0' && pki_crl_watch(&fp->fp_crl_watch,
	    fp->fp_cur->fg_trust, cf->cf_crl_file, cf->cf_crl_accept,
	    time(NULL), log_warn) == 1)
		fg_reload(fp, 1);
}

void *
fg_crlfetch_main(void *arg)
{
	struct fgproc *fp = arg;
	struct fg *fg;
	time_t next = 0;
	long wait;

	while (!fp->fp_stop) {
		if (time(NULL) >= next) {
			fg = fg_hold(fp);
			wait = crlfetch_next(fg->fg_conf,
			    crlfetch_round(fg->fg_conf, log_info, log_warn));
			fg_release(fg);
			/* Not set: looked at again after a reload. */
			next = time(NULL) + (wait > 0 ? wait : 1);
		}
		sleep(1);
	}
	return NULL;
}

/* The milter's signals, all three; see DESCRIPTION. */
static void
fg_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

static void *
fg_signals_main(void *arg)
{
	struct fgproc *fp = arg;
	struct timespec wait;
	sigset_t set;
	time_t now, next = 0;
	long every;
	int sig, stop;

	fg_sigset(&set);
	for (;;) {
		/* fp_cur changes only in this thread: read without the lock. */
		every = fp->fp_cur->fg_conf->cf_crl_file[0] != '\0' ?
		    fp->fp_cur->fg_conf->cf_crl_refresh : 0;
		now = time(NULL);
		if (every > 0 && (next == 0 || next > now + every))
			next = now + every;
		if (every > 0 && next <= now) {
			fg_crl_tick(fp);
			next = now + every;
			continue;
		}
		wait.tv_sec = every > 0 ? next - now : 0;
		wait.tv_nsec = 0;
		if ((sig = every > 0 ? sigtimedwait(&set, NULL, &wait) :
		    sigwaitinfo(&set, NULL)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_warn("signals status=stopped reason=\"sigwaitinfo: "
			    "%s\"", strerror(errno));
			return NULL;
		}
		pthread_mutex_lock(&fp->fp_lock);
		stop = fp->fp_stop;
		pthread_mutex_unlock(&fp->fp_lock);
		if (stop)
			return NULL;
		if (sig == SIGHUP) {
			fg_reload(fp, 0);
			continue;
		}
		log_info("stopping signal=%d", sig);
		smfi_stop();		/* smfi_main() returns */
		return NULL;
	}
}

int
fg_signals_start(struct fgproc *fp)
{
	return pthread_create(&fp->fp_signals, NULL, fg_signals_main,
	    fp) == 0 ? 0 : -1;
}

/* The thread is joinable until joined: pthread_kill() is safe. */
void
fg_signals_stop(struct fgproc *fp)
{
	pthread_mutex_lock(&fp->fp_lock);
	fp->fp_stop = 1;
	pthread_mutex_unlock(&fp->fp_lock);
	pthread_kill(fp->fp_signals, SIGHUP);	/* to that thread alone */
	pthread_join(fp->fp_signals, NULL);
}

/*
 * The C library's sigwait() for the whole process, less the milter's
 * signals (see DESCRIPTION): libmilter's signal thread calls it with
 * just these and waits for nothing; the signal thread takes them.
 */
int
sigwait(const sigset_t *restrict set, int *restrict sig)
{
	sigset_t s = *set, ours;
	int n;

	fg_sigset(&ours);
	for (n = 1; n < NSIG; n++)
		if (sigismember(&ours, n) == 1)
			sigdelset(&s, n);
	do
		n = sigwaitinfo(&s, NULL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return errno;
	*sig = n;
	return 0;
}
