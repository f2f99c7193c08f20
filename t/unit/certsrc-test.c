/*
 * NAME
 *	certsrc-test - cms_unwrap_from() gives what cms_unwrap() gives
 * DESCRIPTION
 *	A small PKI in memory (root, intermediate, alice under it, bob,
 *	mallory under another root). Each wrap is unwrapped by
 *	cms_unwrap() and by cms_unwrap_from() with a certificate source
 *	that counts its calls, and one that always fails (the whole DER
 *	is then parsed): results, failures and certificates must agree.
 */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "cms.h"
#include "tandem.h"

struct party {
	EVP_PKEY	*p_key;
	X509		*p_cert;
};

/* When the first and the last certificate were made (party_make()). */
static time_t made_first, made_last;

static struct party root, inter, alice, bob, other, mallory;
static X509_STORE *store;
static int calls, recalls, remembers;

/* One remembered check, as a cache would keep it. */
static unsigned char memo_key[512];
static size_t memo_len;
static time_t memo_from, memo_until;

static int
ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int rc;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	rc = X509_add_ext(x, e, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(e);
	return rc;
}

/* email NULL: a CA. issuer NULL: self-signed. */
static void
party_make(struct party *p, const char *cn, const char *email,
    const struct party *issuer)
{
	X509_NAME *name;
	char san[128];
	X509 *x;
	int good;

	p->p_key = EVP_EC_gen("P-256");
	p->p_cert = x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffff));
	/* The span test_memo() expects, whatever the time between. */
	made_last = time(NULL);
	if (made_first == 0)
		made_first = made_last;
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer->p_cert) : name);
	X509_set_pubkey(x, p->p_key);
	good = ext(x, x, NID_subject_key_identifier, "hash") == 0;
	if (email == NULL) {
		good &= ext(x, x, NID_basic_constraints,
		    "critical,CA:TRUE") == 0;
		good &= ext(x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign") == 0;
	} else {
		snprintf(san, sizeof(san), "email:%s", email);
		good &= ext(x, x, NID_key_usage,
		    "digitalSignature,keyAgreement") == 0;
		good &= ext(x, x, NID_ext_key_usage, "emailProtection") == 0;
		good &= ext(x, x, NID_subject_alt_name, san) == 0;
	}
	if (!good || X509_sign(x, issuer != NULL ? issuer->p_key : p->p_key,
	    EVP_sha256()) == 0) {
		ERR_print_errors_fp(stdout);
		abort();
	}
}

static X509 *
src_count(void *ctx, const unsigned char *der, size_t len)
{
	const unsigned char *p = der;

	(void)ctx;
	calls++;
	return d2i_X509(NULL, &p, (long)len);
}

static X509 *
src_fail(void *ctx, const unsigned char *der, size_t len)
{
	(void)ctx;
	(void)der;
	(void)len;
	calls++;
	return NULL;
}

static int
memo_recall(void *ctx, const unsigned char *key, size_t len, time_t now)
{
	(void)ctx;
	recalls++;
	return memo_len == len && memcmp(memo_key, key, len) == 0 &&
	    memo_from <= now && now < memo_until;
}

static void
memo_remember(void *ctx, const unsigned char *key, size_t len, time_t from,
    time_t until)
{
	(void)ctx;
	remembers++;
	if (len > sizeof(memo_key))
		abort();
	memcpy(memo_key, key, len);
	memo_len = len;
	memo_from = from;
	memo_until = until;
}

/* alice (with the intermediate) wraps msg to bob; 0 or -1. */
static int
wrap(const struct party *from, STACK_OF(X509) *chain, unsigned char **w,
    size_t *wlen)
{
	struct cms_id id = { from->p_cert, from->p_key, chain };
	STACK_OF(X509) *to = sk_X509_new_null();
	char err[TN_ERRLEN];
	int rc;

	sk_X509_push(to, bob.p_cert);
	rc = cms_wrap((const unsigned char *)"hello", 5, &id, to, 0, w, wlen,
	    err);
	sk_X509_free(to);
	return rc;
}

/* Unwrap with src (NULL: cms_unwrap()); fills a summary line. */
static enum cms_fail
unwrap(const unsigned char *w, size_t wlen, const struct cms_certsrc *src,
    char *sum, size_t sumlen)
{
	struct cms_id id = { bob.p_cert, bob.p_key, NULL };
	STACK_OF(X509) *certs = NULL;
	unsigned char *out = NULL;
	enum cms_fail fail = CMS_FAIL_NONE;
	char err[TN_ERRLEN], cn[64] = "-";
	X509 *signer = NULL;
	size_t outlen = 0;
	int rc, i, n;

	rc = src == NULL ? cms_unwrap(w, wlen, &id, store, &out, &outlen,
	    &signer, &certs, &fail, err) : cms_unwrap_from(w, wlen, &id,
	    store, src, &out, &outlen, &signer, &certs, &fail, err);
	if (signer != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(signer),
		    NID_commonName, cn, sizeof(cn));
	n = snprintf(sum, sumlen, "rc=%d fail=%d out=%.*s signer=%s certs=",
	    rc, (int)fail, (int)outlen, out == NULL ? "" : (char *)out, cn);
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(
		    sk_X509_value(certs, i)), NID_commonName, cn, sizeof(cn));
		n += snprintf(sum + n, sumlen - (size_t)n, "%s,", cn);
	}
	free(out);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return fail;
}

static void
agree(const char *what, const unsigned char *w, size_t wlen,
    enum cms_fail want, int want_calls)
{
	struct cms_certsrc cnt = { src_count, NULL, NULL, NULL };
	struct cms_certsrc bad = { src_fail, NULL, NULL, NULL };
	char a[512], b[512], c[512], name[128];

	snprintf(name, sizeof(name), "%s: cms_unwrap fails with %d", what,
	    (int)want);
	is_int(unwrap(w, wlen, NULL, a, sizeof(a)), want, name);
	diag("%s", a);
	calls = 0;
	unwrap(w, wlen, &cnt, b, sizeof(b));
	snprintf(name, sizeof(name), "%s: the same through a source", what);
	is_str(b, a, name);
	snprintf(name, sizeof(name), "%s: the source gave %d certificates",
	    what, want_calls);
	is_int(calls, want_calls, name);
	calls = 0;
	unwrap(w, wlen, &bad, c, sizeof(c));
	snprintf(name, sizeof(name), "%s: the same when the source fails",
	    what);
	is_str(c, a, name);
}

/* The chain check remembered: asked again, recalled; never a failure. */
static void
test_memo(const unsigned char *good, size_t glen, const unsigned char *bad,
    size_t blen)
{
	struct cms_certsrc memo = { src_count, memo_recall, memo_remember,
	    NULL };
	char a[512], b[512];
	time_t now = time(NULL);

	memo_len = 0;
	recalls = remembers = 0;
	unwrap(bad, blen, &memo, a, sizeof(a));
	ok(recalls == 1 && remembers == 0, "a failed chain is not remembered");
	unwrap(good, glen, NULL, a, sizeof(a));
	unwrap(good, glen, &memo, b, sizeof(b));
	is_str(b, a, "memo: the same result the first time");
	is_int(remembers, 1, "the good chain is remembered");
	ok(memo_len == 3 * 32, "by the SHA-256 of the signer and two certs");
	ok(memo_from >= made_last - 61 && memo_from <= made_last - 59 &&
	    memo_until >= made_first + 86399 &&
	    memo_until <= made_first + 86401 && memo_from <= now - 59,
	    "for the span in which every certificate is valid");
	unwrap(good, glen, &memo, b, sizeof(b));
	is_str(b, a, "memo: the same result when recalled");
	is_int(remembers, 1, "recalled, not checked and remembered again");
	unwrap(bad, blen, &memo, b, sizeof(b));
	unwrap(bad, blen, NULL, a, sizeof(a));
	is_str(b, a, "another chain is not answered by the note");
	memo_until = now;
	unwrap(good, glen, &memo, b, sizeof(b));
	is_int(remembers, 2, "past its span it is checked again");
}

/*
 * Content of many sizes, across the sizes at which the SignedData
 * without its certificates needs a shorter length than with them
 * (the certificates are left out in place): the same bytes, signer
 * and certificates from cms_unwrap_from() as from cms_unwrap().
 */
static void
test_sizes(STACK_OF(X509) *chain)
{
	struct cms_id id = { alice.p_cert, alice.p_key, chain }, me = {
	    bob.p_cert, bob.p_key, NULL };
	struct cms_certsrc cnt = { src_count, NULL, NULL, NULL };
	STACK_OF(X509) *to = sk_X509_new_null(), *c1 = NULL, *c2 = NULL;
	unsigned char *msg, *w = NULL, *o1 = NULL, *o2 = NULL;
	size_t n, j, wlen, l1 = 0, l2 = 0;
	char err[TN_ERRLEN];
	X509 *s1 = NULL, *s2 = NULL;
	enum cms_fail fail;
	int same = 1, k;

	sk_X509_push(to, bob.p_cert);
	msg = malloc(1000004);
	for (j = 0; j < 1000004; j++)
		msg[j] = (unsigned char)(j * 13 + j / 997);
	for (k = 0; k <= 12; k++) {
		n = k < 12 ? 64900 + (size_t)k * 100 : 1000003;
		if (cms_wrap(msg, n, &id, to, 0, &w, &wlen, err) == -1 ||
		    cms_unwrap(w, wlen, &me, store, &o1, &l1, &s1, &c1, &fail,
		    err) == -1 || cms_unwrap_from(w, wlen, &me, store, &cnt,
		    &o2, &l2, &s2, &c2, &fail, err) == -1 || l1 != n ||
		    l2 != n || memcmp(o1, msg, n) != 0 ||
		    memcmp(o2, msg, n) != 0 || o2[n] != '\0' ||
		    X509_cmp(s1, s2) != 0 || sk_X509_num(c1) != 2 ||
		    sk_X509_num(c2) != 2) {
			diag("%zu bytes: %s", n, err);
			same = 0;
		}
		free(w);
		free(o1);
		free(o2);
		X509_free(s1);
		X509_free(s2);
		sk_X509_pop_free(c1, X509_free);
		sk_X509_pop_free(c2, X509_free);
		w = o1 = o2 = NULL;
		s1 = s2 = NULL;
		c1 = c2 = NULL;
	}
	ok(same, "64900 to 66000 and 1000003 bytes: the same through a "
	    "source");
	free(msg);
	sk_X509_free(to);
}

int
main(void)
{
	STACK_OF(X509) *chain = sk_X509_new_null(), *none = NULL;
	unsigned char *w = NULL, *w2 = NULL;
	size_t wlen, w2len;

	party_make(&root, "root", NULL, NULL);
	party_make(&inter, "inter", NULL, &root);
	party_make(&alice, "alice", "alice@a.example", &inter);
	party_make(&bob, "bob", "bob@a.example", &root);
	party_make(&other, "other", NULL, NULL);
	party_make(&mallory, "mallory", "alice@a.example", &other);
	store = X509_STORE_new();
	X509_STORE_add_cert(store, root.p_cert);
	sk_X509_push(chain, inter.p_cert);

	ok(wrap(&alice, chain, &w, &wlen) == 0, "alice wraps with her chain");
	agree("alice", w, wlen, CMS_FAIL_NONE, 2);
	ok(wrap(&alice, none, &w2, &w2len) == 0, "alice wraps without chain");
	agree("no chain", w2, w2len, CMS_FAIL_CHAIN, 1);
	test_memo(w, wlen, w2, w2len);
	test_sizes(chain);
	free(w);
	free(w2);
	ok(wrap(&mallory, none, &w, &wlen) == 0, "mallory wraps");
	agree("other root", w, wlen, CMS_FAIL_CHAIN, 1);
	free(w);
	agree("garbage", (const unsigned char *)"\x30\x03\x02\x01\x00", 5,
	    CMS_FAIL_INPUT, 0);

	X509_STORE_free(store);
	sk_X509_free(chain);
	X509_free(root.p_cert);
	X509_free(inter.p_cert);
	X509_free(alice.p_cert);
	X509_free(bob.p_cert);
	X509_free(other.p_cert);
	X509_free(mallory.p_cert);
	EVP_PKEY_free(root.p_key);
	EVP_PKEY_free(inter.p_key);
	EVP_PKEY_free(alice.p_key);
	EVP_PKEY_free(bob.p_key);
	EVP_PKEY_free(other.p_key);
	EVP_PKEY_free(mallory.p_key);
	return tap_done();
}
