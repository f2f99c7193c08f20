/*
 * NAME
 *	objcache-test - unit tests for milter/objcache.c
 * DESCRIPTION
 *	The same bytes give the same parsed object, other bytes another
 *	or a failure as without the cache; a sealed key opens only for
 *	its address; a remembered check holds inside its span only.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "keybox.h"
#include "milter.h"
#include "pki.h"
#include "tandem.h"

/* A self-signed certificate valid from now - before to now + after. */
static X509 *
mkcert(EVP_PKEY *key, const char *cn, long before, long after)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -before);
	X509_gmtime_adj(X509_getm_notAfter(x), after);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	return x;
}

static char *
pem_of(X509 *x, size_t *len)
{
	char *pem = NULL, err[TN_ERRLEN];

	if (pki_cert_pem(x, &pem, len, err) == -1)
		abort();
	return pem;
}

static void
test_certs(struct objcache *oc, X509 *a, X509 *b)
{
	char *pa, *pb, err[TN_ERRLEN];
	unsigned char *der = NULL, *long_der;
	size_t la, lb;
	X509 *x1, *x2, *x3, *d1, *d2;
	int dl;

	pa = pem_of(a, &la);
	pb = pem_of(b, &lb);
	x1 = objcache_cert(oc, pa, la, err);
	x2 = objcache_cert(oc, pa, la, err);
	x3 = objcache_cert(oc, pb, lb, err);
	ok(x1 != NULL && x1 == x2, "the same PEM gives the same certificate");
	ok(x3 != NULL && x3 != x1 && X509_cmp(x3, b) == 0,
	    "another PEM gives its own certificate");
	ok(X509_cmp(x1, a) == 0, "which is the certificate given");
	ok(objcache_cert(oc, "not a certificate", 17, err) == NULL,
	    "garbage is refused: %s", err);
	dl = i2d_X509(a, &der);
	d1 = objcache_der(oc, der, (size_t)dl);
	d2 = objcache_der(oc, der, (size_t)dl);
	ok(d1 != NULL && d1 == d2 && X509_cmp(d1, a) == 0,
	    "the same DER gives the same certificate");
	long_der = malloc((size_t)dl + 1);
	memcpy(long_der, der, (size_t)dl);
	long_der[dl] = 0;
	ok(objcache_der(oc, long_der, (size_t)dl + 1) == NULL,
	    "DER with a trailing byte is refused");
	ok(objcache_der(oc, der, (size_t)dl - 1) == NULL,
	    "truncated DER is refused");
	X509_free(x1);
	X509_free(x2);
	X509_free(x3);
	X509_free(d1);
	X509_free(d2);
	OPENSSL_free(der);
	free(long_der);
	free(pa);
	free(pb);
}

static void
test_key(struct objcache *oc, EVP_PKEY *key)
{
	static const unsigned char secret[KEYBOX_SECRET_LEN] = { 1, 2, 3 };
	struct keybox *kb;
	unsigned char *sealed = NULL;
	char *pem = NULL, err[TN_ERRLEN];
	size_t plen, slen;
	EVP_PKEY *k1, *k2, *k3;

	if ((kb = keybox_new(secret, sizeof(secret), err)) == NULL ||
	    pki_key_pem(key, NULL, &pem, &plen, err) == -1 ||
	    keybox_seal(kb, "alice@a.example", (unsigned char *)pem, plen,
	    &sealed, &slen, err) == -1)
		abort();
	k1 = objcache_key(oc, kb, "alice@a.example", sealed, slen, err);
	k2 = objcache_key(oc, kb, "alice@a.example", sealed, slen, err);
	ok(k1 != NULL && k1 == k2 && EVP_PKEY_eq(k1, key) == 1,
	    "a sealed key opens once, then comes from the cache");
	k3 = objcache_key(oc, kb, "bob@a.example", sealed, slen, err);
	ok(k3 == NULL, "the box of alice does not open for bob: %s", err);
	sealed[slen - 1] ^= 1;
	ok(objcache_key(oc, kb, "alice@a.example", sealed, slen,
	    err) == NULL, "an altered box does not open: %s", err);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	keybox_clear_free(sealed, slen);
	keybox_clear_free((unsigned char *)pem, plen);
	keybox_free(kb);
}

static int
recall(struct objcache *oc, const char *key, time_t now)
{
	return objcache_recall(oc, OBJCACHE_VERIFY, (const unsigned char *)key,
	    strlen(key), now);
}

static void
test_window(struct objcache *oc, X509 *a)
{
	time_t now = time(NULL), from = 0, until = now + 1000000;

	objcache_remember(oc, OBJCACHE_VERIFY, (const unsigned char *)"k1",
	    2, 100, 200);
	is_int(recall(oc, "k1", 99), 0,
	    "not before its span");
	is_int(recall(oc, "k1", 100), 1,
	    "from its start");
	is_int(recall(oc, "k1", 199), 1,
	    "until just before its end");
	is_int(recall(oc, "k1", 200), 0,
	    "not at its end");
	is_int(recall(oc, "k2", 150), 0,
	    "another key is not remembered");
	is_int(recall(oc, "k", 150), 0, "nor a prefix of it");
	is_int(objcache_chain_recall(oc, (const unsigned char *)"k1", 2, 150),
	    0, "nor the same key of another kind");
	objcache_chain_remember(oc, (const unsigned char *)"k1", 2, 100, 200);
	is_int(objcache_chain_recall(oc, (const unsigned char *)"k1", 2, 150),
	    1, "which is remembered apart");
	ok(pki_narrow(a, &from, &until) == 0, "dates read");
	ok(from >= now - 3601 && from <= now - 3599,
	    "from narrowed to notBefore");
	ok(until >= now + 59 && until <= now + 61,
	    "until narrowed to notAfter");
	from = now;
	until = now + 10;
	pki_narrow(a, &from, &until);
	ok(from == now && until == now + 10, "a narrower span stays");
}

int
main(void)
{
	struct objcache *oc = objcache_new();
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *a = mkcert(key, "a", 3600, 60), *b = mkcert(key, "b", 0, 60);

	test_certs(oc, a, b);
	test_key(oc, key);
	test_window(oc, a);
	objcache_free(oc);
	objcache_free(NULL);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(key);
	return tap_done();
}
