/*
 * NAME
 *	crl.c - tandemctl crl fetch: the revocation lists of tls.crl_file,
 *	gathered from where the CAs publish them
 * SYNOPSIS
 *	tandemctl crl fetch --out FILE [--ca PEM] [--timeout SECONDS] URL...
 * DESCRIPTION
 *	Fetches every URL (http://, as CRL distribution points are
 *	published: a list is signed, the transport adds nothing; or a
 *	local file path), each holding one list in DER or any number in
 *	PEM, and writes them all, in PEM, to FILE: a new file renamed over
 *	the old, so that a daemon looking at it on its tls.crl_refresh
 *	reads either the old lists or the new, never half. All or nothing:
 *	if one URL fails, or one list is not signed by a certificate of
 *	--ca (when given: the CA certificates whose lists these are), FILE
 *	stays as it was and the exit status says so. A list already past
 *	its next update is written (the daemons decide, tls.crl_missing)
 *	and said on standard error. Meant for a timer (contrib/systemd).
 * DIAGNOSTICS
 *	0; EX_USAGE; EX_UNAVAILABLE when a URL cannot be fetched;
 *	EX_DATAERR when what it gives is no list, or a list no --ca
 *	certificate signed; EX_CANTCREAT when FILE cannot be written.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ctl.h"
#include "pki.h"
#include "util.h"

#define CRL_MAX_BODY	(16 * 1024 * 1024)	/* bytes a URL may give */

/* The body of url (http:// or a file), into *buf; a status. */
static int
crl_get(const char *url, int timeout, unsigned char **buf, size_t *len)
{
	char err[TN_ERRLEN];
	BIO *b = NULL, *mem = NULL;
	BUF_MEM *bm;
	char chunk[4096];
	time_t deadline;
	int n, rc = EX_UNAVAILABLE;

	*buf = NULL;
	*len = 0;
	if (strncmp(url, "http://", 7) != 0) {
		if (strstr(url, "://") != NULL)
			return ctl_fail(EX_USAGE, "%s: only http:// URLs and "
			    "files (a list is signed: no TLS is needed)", url);
		if (util_read_file(url, CRL_MAX_BODY, buf, len, err) == -1)
			return ctl_fail(EX_UNAVAILABLE, "%s", err);
		return 0;
	}
	if ((b = OSSL_HTTP_get(url, NULL, NULL, NULL, NULL, NULL, NULL, 0,
	    NULL, NULL, 0, CRL_MAX_BODY, timeout)) == NULL) {
		tn_err_ssl(err, "%s: cannot fetch", url);
		ctl_fail(0, "%s", err);
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
			ctl_fail(0, "%s: the body did not come within %d "
			    "seconds", url, timeout);
			goto out;
		}
	}
	BIO_get_mem_ptr(mem, &bm);
	if (bm->length > CRL_MAX_BODY) {
		ctl_fail(0, "%s: larger than %d bytes", url, CRL_MAX_BODY);
		rc = EX_DATAERR;
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
	rc = ctl_fail(EX_OSERR, "out of memory");
out:
	BIO_free_all(b);
	BIO_free(mem);
	ERR_clear_error();
	return rc;
}

/* The lists of buf (PEM, any number, or one in DER), added to crls. */
static int
crl_parse(const char *url, const unsigned char *buf, size_t len,
    STACK_OF(X509_CRL) *crls)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *xi;
	X509_CRL *crl;
	const unsigned char *p = buf;
	BIO *b;
	int i, n = 0;

	if (len > 10 && memcmp(buf, "-----BEGIN", 10) == 0) {
		if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
			return ctl_fail(EX_OSERR, "out of memory");
		infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
		BIO_free(b);
		for (i = 0; i < sk_X509_INFO_num(infos); i++) {
			xi = sk_X509_INFO_value(infos, i);
			if (xi->crl == NULL)
				continue;
			if (!X509_CRL_up_ref(xi->crl) ||
			    !sk_X509_CRL_push(crls, xi->crl)) {
				sk_X509_INFO_pop_free(infos, X509_INFO_free);
				return ctl_fail(EX_OSERR, "out of memory");
			}
			n++;
		}
		sk_X509_INFO_pop_free(infos, X509_INFO_free);
	} else if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) != NULL) {
		if (p != buf + len || !sk_X509_CRL_push(crls, crl)) {
			X509_CRL_free(crl);
			return ctl_fail(EX_DATAERR, "%s: bytes after the list",
			    url);
		}
		n++;
	}
	ERR_clear_error();
	if (n == 0)
		return ctl_fail(EX_DATAERR, "%s: no revocation list (X509 "
		    "CRL) in it", url);
	return 0;
}

/* The issuer's name of crl, for messages. */
static void
crl_issuer(X509_CRL *crl, char *out, size_t size)
{
	if (X509_NAME_get_text_by_NID(X509_CRL_get_issuer(crl),
	    NID_commonName, out, (int)size) <= 0)
		snprintf(out, size, "(no name)");
}

/* crl signed by a certificate of cas (its issuer, by name and key). */
static int
crl_signed(X509_CRL *crl, STACK_OF(X509) *cas)
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

/* Every list of crls, in PEM, into one buffer; a status. */
static int
crl_pem_all(STACK_OF(X509_CRL) *crls, char **out, size_t *outlen)
{
	BIO *mem;
	BUF_MEM *bm;
	int i;

	if ((mem = BIO_new(BIO_s_mem())) == NULL)
		return ctl_fail(EX_OSERR, "out of memory");
	for (i = 0; i < sk_X509_CRL_num(crls); i++)
		if (!PEM_write_bio_X509_CRL(mem, sk_X509_CRL_value(crls, i))) {
			BIO_free(mem);
			return ctl_fail(EX_OSERR, "out of memory");
		}
	BIO_get_mem_ptr(mem, &bm);
	if ((*out = malloc(bm->length + 1)) == NULL) {
		BIO_free(mem);
		return ctl_fail(EX_OSERR, "out of memory");
	}
	if (bm->length > 0)
		memcpy(*out, bm->data, bm->length);
	*outlen = bm->length;
	BIO_free(mem);
	return 0;
}

static int
crl_fetch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "ca", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	STACK_OF(X509_CRL) *crls = NULL;
	STACK_OF(X509) *cas = NULL;
	const char *out = NULL, *ca = NULL;
	unsigned char *buf = NULL;
	char err[TN_ERRLEN], name[80], when[32], *pem = NULL;
	const ASN1_TIME *next;
	size_t len, pemlen = 0;
	struct tm tm;
	time_t now = time(NULL), t;
	long timeout = 30;
	int ch, i, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'c': ca = optarg; break;
		case 't':
			if ((timeout = strtol(optarg, NULL, 10)) < 1 ||
			    timeout > 3600)
				return ctl_fail(EX_USAGE, "--timeout: 1 to 3600 "
				    "seconds");
			break;
		default: return EX_USAGE;
		}
	}
	if (out == NULL || optind >= argc)
		return ctl_fail(EX_USAGE, "usage: tandemctl crl fetch --out "
		    "FILE [--ca PEM] [--timeout SECONDS] URL...");
	if (ca != NULL && (cas = pki_load_certs(ca, err)) == NULL)
		return ctl_fail(EX_NOINPUT, "%s", err);
	if ((crls = sk_X509_CRL_new_null()) == NULL) {
		rc = ctl_fail(EX_OSERR, "out of memory");
		goto done;
	}
	for (i = optind; i < argc; i++) {
		if ((rc = crl_get(argv[i], (int)timeout, &buf, &len)) != 0 ||
		    (rc = crl_parse(argv[i], buf, len, crls)) != 0)
			goto done;
		free(buf);
		buf = NULL;
	}
	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);

		crl_issuer(crl, name, sizeof(name));
		if (cas != NULL && !crl_signed(crl, cas)) {
			rc = ctl_fail(EX_DATAERR, "the list of %s is signed by "
			    "no certificate of %s; %s is unchanged", name, ca,
			    out);
			goto done;
		}
		if ((next = X509_CRL_get0_nextUpdate(crl)) != NULL &&
		    ASN1_TIME_to_tm(next, &tm) && (t = timegm(&tm)) != -1 &&
		    t <= now) {
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			ctl_fail(0, "warning: the list of %s is past its next "
			    "update (%s)", name, when);
		}
	}
	if ((rc = crl_pem_all(crls, &pem, &pemlen)) != 0)
		goto done;
	if (util_write_file(out, pem, pemlen, 0644, 0, err) == -1) {
		rc = ctl_fail(EX_CANTCREAT, "%s", err);
		goto done;
	}
	printf("%s: %d list%s\n", out, sk_X509_CRL_num(crls),
	    sk_X509_CRL_num(crls) == 1 ? "" : "s");
	rc = 0;
done:
	free(buf);
	free(pem);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

int
ctl_crl(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "fetch") == 0)
		return crl_fetch(argc - 1, argv + 1);
	return ctl_fail(EX_USAGE, "usage: tandemctl crl fetch --out FILE "
	    "[--ca PEM] [--timeout SECONDS] URL...");
}
