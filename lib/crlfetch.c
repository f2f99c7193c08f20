/*
 * NAME
 *	crlfetch.c - the revocation lists of tls.crl_file, gathered from
 *	where the CAs publish them (crlfetch.h)
 * DESCRIPTION
 *	Used by "tandemctl crl fetch" and by both daemons when tls.crl_url
 *	is set (the milter's thread of crlfetch, the background's
 *	fetching process). Nothing here prints: the callers say what
 *	happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crlfetch.h"
#include "pki.h"
#include "tandem.h"
#include "util.h"

/* The body of url (http:// or a file), into *buf; 0 or a failure. */
static int
crlfetch_get(const char *url, int timeout, unsigned char **buf,
    size_t *len, char *err)
{
	BIO *b = NULL, *mem = NULL;
	BUF_MEM *bm;
	char chunk[4096];
	time_t deadline;
	int n, rc = CRLFETCH_FETCH;

	*buf = NULL;
	*len = 0;
	if (strncmp(url, "http://", 7) != 0) {
		if (util_read_file(url, CRLFETCH_MAX_BODY, buf, len, err) == -1)
			return CRLFETCH_FETCH;
		return 0;
	}
	if ((b = OSSL_HTTP_get(url, NULL, NULL, NULL, NULL, NULL, NULL, 0,
	    NULL, NULL, 0, CRLFETCH_MAX_BODY, timeout)) == NULL) {
		tn_err_ssl(err, "%s: cannot fetch", url);
		goto out;
	}
	if ((mem = BIO_new(BIO_s_mem())) == NULL)
		goto oom;
	/* The body is read from the connection, which may make us wait. */
	deadline = time(NULL) + timeout;
	for (;;) {
		if ((n = BIO_read(b, chunk, (int)sizeof(chunk))) > 0) {
			if (BIO_write(mem, chunk, n) != n)
				goto oom;
			continue;
		}
		if (!BIO_should_retry(b))
			break;
		if (BIO_wait(b, deadline, 100) <= 0) {
			tn_err(err, "%s: the body did not come within %d "
			    "seconds", url, timeout);
			goto out;
		}
	}
	BIO_get_mem_ptr(mem, &bm);
	if (bm->length > CRLFETCH_MAX_BODY) {
		tn_err(err, "%s: larger than %d bytes", url, CRLFETCH_MAX_BODY);
		rc = CRLFETCH_DATA;
		goto out;
	}
	if ((*buf = malloc(bm->length + 1)) == NULL)
		goto oom;
	if (bm->length > 0)	/* an empty body has no data at all */
		memcpy(*buf, bm->data, bm->length);
	(*buf)[bm->length] = '\0';
	*len = bm->length;
	rc = 0;
	goto out;
oom:
	tn_err(err, "out of memory");
	rc = CRLFETCH_NOMEM;
out:
	BIO_free_all(b);
	BIO_free(mem);
	ERR_clear_error();
	return rc;
}

/* The lists of buf (PEM, any number, or one in DER), added to crls. */
static int
crlfetch_parse(const char *url, const unsigned char *buf, size_t len,
    STACK_OF(X509_CRL) *crls, char *err)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *xi;
	X509_CRL *crl;
	const unsigned char *p = buf;
	BIO *b;
	int i, n = 0;

	if (len > 10 && memcmp(buf, "-----BEGIN", 10) == 0) {
		if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
			goto oom;
		infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
		BIO_free(b);
		for (i = 0; i < sk_X509_INFO_num(infos); i++) {
			xi = sk_X509_INFO_value(infos, i);
			if (xi->crl == NULL)
				continue;
			if (!X509_CRL_up_ref(xi->crl) ||
			    !sk_X509_CRL_push(crls, xi->crl)) {
				sk_X509_INFO_pop_free(infos, X509_INFO_free);
				goto oom;
			}
			n++;
		}
		sk_X509_INFO_pop_free(infos, X509_INFO_free);
	} else if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) != NULL) {
		if (p != buf + len || !sk_X509_CRL_push(crls, crl)) {
			X509_CRL_free(crl);
			tn_err(err, "%s: bytes after the list", url);
			return CRLFETCH_DATA;
		}
		n++;
	}
	ERR_clear_error();
	if (n == 0) {
		tn_err(err, "%s: no revocation list (X509 CRL) in it", url);
		return CRLFETCH_DATA;
	}
	return 0;
oom:
	ERR_clear_error();
	tn_err(err, "out of memory");
	return CRLFETCH_NOMEM;
}

/* The common name of crl's issuer, for messages. */
static void
crlfetch_name(X509_CRL *crl, char *out, size_t size)
{
	if (X509_NAME_get_text_by_NID(X509_CRL_get_issuer(crl),
	    NID_commonName, out, (int)size) <= 0)
		snprintf(out, size, "(no name)");
}

/* crl signed by a certificate of cas (its issuer, by name and key). */
static int
crlfetch_signed(X509_CRL *crl, STACK_OF(X509) *cas)
{
	X509 *c;
	int i;

	for (i = 0; i < sk_X509_num(cas); i++) {
		c = sk_X509_value(cas, i);
		if (X509_NAME_cmp(X509_get_subject_name(c),
		    X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(c)) == 1)
			return 1;
	}
	ERR_clear_error();
	return 0;
}

/* The list of crl's CA in held (what out holds now), or NULL. */
static X509_CRL *
crlfetch_held(X509_CRL *crl, STACK_OF(X509_INFO) *held)
{
	X509_INFO *xi;
	int i;

	for (i = 0; i < sk_X509_INFO_num(held); i++) {
		xi = sk_X509_INFO_value(held, i);
		if (xi->crl != NULL && X509_NAME_cmp(X509_CRL_get_issuer(
		    xi->crl), X509_CRL_get_issuer(crl)) == 0)
			return xi->crl;
	}
	return NULL;
}

/* Every list of crls, in PEM, into one buffer. */
static int
crlfetch_pem(STACK_OF(X509_CRL) *crls, char **out, size_t *outlen, char *err)
{
	BIO *mem;
	BUF_MEM *bm;
	int i;

	if ((mem = BIO_new(BIO_s_mem())) == NULL)
		goto oom;
	for (i = 0; i < sk_X509_CRL_num(crls); i++)
		if (!PEM_write_bio_X509_CRL(mem, sk_X509_CRL_value(crls, i)))
			goto oom;
	BIO_get_mem_ptr(mem, &bm);
	if ((*out = malloc(bm->length + 1)) == NULL)
		goto oom;
	if (bm->length > 0)
		memcpy(*out, bm->data, bm->length);
	*outlen = bm->length;
	BIO_free(mem);
	return 0;
oom:
	BIO_free(mem);
	ERR_clear_error();
	tn_err(err, "out of memory");
	return CRLFETCH_NOMEM;
}

/* What out holds now (nothing when it cannot be read). */
static STACK_OF(X509_INFO) *
crlfetch_read_held(const char *out)
{
	STACK_OF(X509_INFO) *held = NULL;
	BIO *b;

	if ((b = BIO_new_file(out, "r")) != NULL) {
		held = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	ERR_clear_error();
	return held;
}

int
crlfetch_run(const char *const *urls, size_t n, STACK_OF(X509) *issuers,
    const char *from, int timeout, const char *out, int *count, char *stale,
    char *err)
{
	STACK_OF(X509_CRL) *crls = NULL;
	STACK_OF(X509_INFO) *held = NULL;
	X509_CRL *crl, *old;
	unsigned char *buf = NULL;
	char name[80], when[32], *pem = NULL;
	const ASN1_TIME *next;
	size_t len, pemlen = 0, u;
	struct tm tm;
	time_t now = time(NULL), t;
	int i, rc;

	*count = 0;
	stale[0] = '\0';
	if ((crls = sk_X509_CRL_new_null()) == NULL) {
		tn_err(err, "out of memory");
		rc = CRLFETCH_NOMEM;
		goto done;
	}
	for (u = 0; u < n; u++) {
		if ((rc = crlfetch_get(urls[u], timeout, &buf, &len,
		    err)) != 0 ||
		    (rc = crlfetch_parse(urls[u], buf, len, crls, err)) != 0)
			goto done;
		free(buf);
		buf = NULL;
	}
	held = crlfetch_read_held(out);
	rc = CRLFETCH_DATA;
	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		crl = sk_X509_CRL_value(crls, i);
		crlfetch_name(crl, name, sizeof(name));
		if (issuers != NULL && !crlfetch_signed(crl, issuers)) {
			tn_err(err, "the list of %s is signed by no certificate "
			    "of %s", name, from);
			goto done;
		}
		if ((old = crlfetch_held(crl, held)) != NULL &&
		    ASN1_TIME_compare(X509_CRL_get0_lastUpdate(crl),
		    X509_CRL_get0_lastUpdate(old)) < 0) {
			tn_err(err, "the list of %s is older than the one %s "
			    "holds (an old list served again?)", name, out);
			goto done;
		}
		if (stale[0] == '\0' &&
		    (next = X509_CRL_get0_nextUpdate(crl)) != NULL &&
		    ASN1_TIME_to_tm(next, &tm) && (t = timegm(&tm)) != -1 &&
		    t <= now) {
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			snprintf(stale, TN_ERRLEN, "the list of %s is past its "
			    "next update (%s)", name, when);
		}
	}
	if ((rc = crlfetch_pem(crls, &pem, &pemlen, err)) != 0)
		goto done;
	if (util_write_file(out, pem, pemlen, 0644, 0, err) == -1) {
		rc = CRLFETCH_WRITE;
		goto done;
	}
	*count = sk_X509_CRL_num(crls);
	rc = 0;
done:
	ERR_clear_error();
	free(buf);
	free(pem);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	sk_X509_INFO_pop_free(held, X509_INFO_free);
	return rc;
}

/* The certificates of path, added to cas. */
static int
crlfetch_add(STACK_OF(X509) *cas, const char *path, char *err)
{
	STACK_OF(X509) *certs;
	X509 *c;

	if ((certs = pki_load_certs(path, err)) == NULL)
		return -1;
	while ((c = sk_X509_shift(certs)) != NULL)
		if (!sk_X509_push(cas, c)) {
			X509_free(c);
			sk_X509_pop_free(certs, X509_free);
			tn_err(err, "out of memory");
			return -1;
		}
	sk_X509_free(certs);
	return 0;
}

STACK_OF(X509) *
crlfetch_issuers(const struct conf *cf, char *err)
{
	STACK_OF(X509) *cas;

	if ((cas = sk_X509_new_null()) == NULL) {
		tn_err(err, "out of memory");
		return NULL;
	}
	if (cf->cf_crl_issuers[0] != '\0' ?
	    crlfetch_add(cas, cf->cf_crl_issuers, err) == -1 :
	    crlfetch_add(cas, cf->cf_anchors, err) == -1 ||
	    (cf->cf_chain[0] != '\0' &&
	    crlfetch_add(cas, cf->cf_chain, err) == -1)) {
		sk_X509_pop_free(cas, X509_free);
		return NULL;
	}
	return cas;
}

int
crlfetch_round(const struct conf *cf, void (*info)(const char *, ...),
    void (*warn)(const char *, ...))
{
	STACK_OF(X509) *cas;
	char err[TN_ERRLEN], stale[TN_ERRLEN];
	int count, rc;

	if (cf->cf_ncrl_urls == 0)
		return 1;
	if ((cas = crlfetch_issuers(cf, err)) == NULL)
		rc = CRLFETCH_DATA;
	else
		rc = crlfetch_run((const char *const *)cf->cf_crl_urls,
		    cf->cf_ncrl_urls, cas, cf->cf_crl_issuers[0] != '\0' ?
		    "tls.crl_issuers" : "tls.anchors or tls.chain",
		    CRLFETCH_TIMEOUT, cf->cf_crl_file, &count, stale, err);
	sk_X509_pop_free(cas, X509_free);
	if (rc != 0) {
		warn("crl status=unfetched file=%s reason=\"%s\"; the file "
		    "is unchanged, tried again in %lds", cf->cf_crl_file, err,
		    CRLFETCH_RETRY(cf->cf_crl_fetch));
		return -1;
	}
	info("crl status=fetched file=%s lists=%d", cf->cf_crl_file, count);
	if (stale[0] != '\0')
		warn("crl status=stale file=%s reason=\"fetched, but %s\"",
		    cf->cf_crl_file, stale);
	return 0;
}

long
crlfetch_next(const struct conf *cf, int round)
{
	if (cf->cf_ncrl_urls == 0)
		return 0;
	return round == -1 ? CRLFETCH_RETRY(cf->cf_crl_fetch) :
	    cf->cf_crl_fetch;
}
