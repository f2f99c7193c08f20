/*
 * NAME
 *	crlfetch.h - the revocation lists of tls.crl_file, gathered from
 *	where the CAs publish them
 * SYNOPSIS
 *	#include "crlfetch.h"
 *
 *	int	crlfetch_run(const char *const *urls, size_t n,
 *		    STACK_OF(X509) *issuers, const char *from, int timeout,
 *		    const char *out, int *count, char *stale, char *err);
 *	STACK_OF(X509) *crlfetch_issuers(const struct conf *cf, char *err);
 *	int	crlfetch_round(const struct conf *cf,
 *		    void (*info)(const char *, ...),
 *		    void (*warn)(const char *, ...));
 *	long	crlfetch_next(const struct conf *cf, int round);
 * DESCRIPTION
 *	crlfetch_run() fetches every URL of urls (http://, as CRL
 *	distribution points are published: a list is signed, the
 *	transport adds nothing; or a local file's path), each holding one
 *	list in DER or any number in PEM, at most timeout seconds each,
 *	and writes them all, in PEM, to out: a new file renamed over the
 *	old, so that a daemon looking at it on its tls.crl_refresh reads
 *	either the old lists or the new, never half. All or nothing: out
 *	stays as it was when a URL fails, when a list is signed by no
 *	certificate of issuers (NULL: not checked; from names them in
 *	the reason), or when a list is
 *	older (its last update) than the list of the same CA that out
 *	holds: an old list served again would take back a revocation.
 *	*count is the number of lists written. A list already past its
 *	next update is written (the daemons decide, tls.crl_missing);
 *	stale (TN_ERRLEN bytes) then names the first such, else it is "".
 *
 *	crlfetch_issuers() is what a daemon checks its fetched lists
 *	against: the certificates of tls.crl_issuers, or, when it is
 *	not set, those of tls.anchors and tls.chain (the CAs of the
 *	element's own chain); to sk_X509_pop_free(..., X509_free).
 *
 *	crlfetch_round() is one round of a daemon's fetching (the
 *	milter's thread, the background's fetching process): the lists
 *	of tls.crl_url into tls.crl_file, checked against
 *	crlfetch_issuers(); it logs with info "crl status=fetched
 *	file=FILE lists=N", or with warn "crl status=unfetched" and the
 *	reason (the file unchanged), and a list fetched past its next
 *	update "crl status=stale". It returns 0 (fetched), -1 (not: the
 *	file is unchanged) or 1 (tls.crl_url is not set: nothing done).
 *	crlfetch_next() is the seconds from a round that returned round
 *	to the next: tls.crl_fetch, after a failure CRLFETCH_RETRY() of
 *	it; 0 when tls.crl_url is not set.
 * DIAGNOSTICS
 *	crlfetch_run() returns 0 or, with a reason in err, CRLFETCH_FETCH
 *	(a URL could not be fetched or read), CRLFETCH_DATA (no list in
 *	what it gave, a list no issuer signed, an older list),
 *	CRLFETCH_WRITE (out cannot be written) or CRLFETCH_NOMEM.
 *	crlfetch_issuers() returns NULL with err.
 */
#ifndef TANDEM_CRLFETCH_H
#define TANDEM_CRLFETCH_H

#include <stddef.h>

#include <openssl/x509.h>

#include "conf.h"

#define CRLFETCH_FETCH	1
#define CRLFETCH_DATA	2
#define CRLFETCH_WRITE	3
#define CRLFETCH_NOMEM	4

#define CRLFETCH_MAX_BODY	(16 * 1024 * 1024)	/* bytes a URL may give */
#define CRLFETCH_TIMEOUT	10	/* seconds a daemon waits for a URL */
/* After a failed round: 5 minutes, or tls.crl_fetch if shorter. */
#define CRLFETCH_RETRY(every)	((every) < 300 ? (every) : 300L)

int	crlfetch_run(const char *const *, size_t, STACK_OF(X509) *,
	    const char *, int, const char *, int *, char *, char *);
STACK_OF(X509) *crlfetch_issuers(const struct conf *, char *);
int	crlfetch_round(const struct conf *, void (*)(const char *, ...),
	    void (*)(const char *, ...));
long	crlfetch_next(const struct conf *, int);

#endif
