/*
 * NAME
 *	cms-test - unit tests for lib/cms.c
 * DESCRIPTION
 *	Makes a small PKI in memory (two roots, EC and RSA leaves), then
 *	seals and opens, wraps and unwraps, and feeds each opener
 *	altered, truncated and oversized input.
 */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "cms.h"
#include "tandem.h"

struct party {
	EVP_PKEY	*p_key;
	X509		*p_cert;
};

static const char msg_alice[] =
    "From: Alice <alice@a.example>\r\n"
    "To: bob@b.example\r\n"
    "Subject: the real subject\r\n"
    "Message-ID: <m1@a.example>\r\n"
    "\r\n"
    "Meet at noon.\r\n";

static const char msg_carol[] =
    "From: carol@a.example\r\n"
    "Subject: forged\r\n"
    "\r\n"
    "Meet at noon.\r\n";

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int rc;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	rc = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

/* A certificate for key, signed by issuer (itself when NULL). */
static X509 *
mkcert(const char *cn, const char *email, EVP_PKEY *key,
    const struct party *issuer)
{
	char san[128];
	X509 *x;
	X509_NAME *name;
	int ok_;

	x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->p_cert)
	    : name);
	X509_set_pubkey(x, key);
	ok_ = add_ext(x, x, NID_subject_key_identifier, "hash") == 0;
	if (email == NULL) {
		ok_ &= add_ext(x, x, NID_basic_constraints,
		    "critical,CA:TRUE") == 0;
		ok_ &= add_ext(x, x, NID_key_usage,
		    "critical,keyCertSign,cRLSign") == 0;
	} else {
		snprintf(san, sizeof(san), "email:%s", email);
		ok_ &= add_ext(x, issuer->p_cert, NID_authority_key_identifier,
		    "keyid") == 0;
		ok_ &= add_ext(x, x, NID_basic_constraints, "CA:FALSE") == 0;
		ok_ &= add_ext(x, x, NID_key_usage, EVP_PKEY_is_a(key, "EC") ?
		    "digitalSignature,keyAgreement" :
		    "digitalSignature,keyEncipherment") == 0;
		ok_ &= add_ext(x, x, NID_ext_key_usage,
		    "emailProtection") == 0;
		ok_ &= add_ext(x, x, NID_subject_alt_name, san) == 0;
	}
	if (!ok_ || X509_sign(x, issuer ? issuer->p_key : key,
	    EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void
party_make(struct party *p, const char *cn, const char *email, int rsa,
    const struct party *issuer)
{
	p->p_key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	p->p_cert = mkcert(cn, email, p->p_key, issuer);
	if (p->p_key == NULL || p->p_cert == NULL) {
		ERR_print_errors_fp(stdout);
		abort();
	}
}

static void
party_free(struct party *p)
{
	EVP_PKEY_free(p->p_key);
	X509_free(p->p_cert);
}

static struct party root, other_root, alice, bob_rsa, mallory;
static X509_STORE *store;

static void
pki_setup(void)
{
	party_make(&root, "Root", NULL, 0, NULL);
	party_make(&other_root, "Other root", NULL, 0, NULL);
	party_make(&alice, "alice", "alice@a.example", 0, &root);
	party_make(&bob_rsa, "bob", "bob@b.example", 1, &root);
	party_make(&mallory, "mallory", "alice@a.example", 0, &other_root);
	store = X509_STORE_new();
	X509_STORE_add_cert(store, root.p_cert);
}

static struct cms_id
id_of(const struct party *p)
{
	struct cms_id id = { p->p_cert, p->p_key, NULL };

	return id;
}

static int
seal(const struct party *p, const char *msg, const char *msgid,
    unsigned char *key, unsigned char *digest, unsigned char **der,
    size_t *derlen)
{
	struct cms_id id = id_of(p);
	char err[TN_ERRLEN];
	int rc;

	rc = cms_seal((const unsigned char *)msg, strlen(msg), &id, msgid, key,
	    digest, der, derlen, err);
	if (rc == -1)
		diag("cms_seal: %s", err);
	return rc;
}

/* Open and return the failure kind (CMS_FAIL_NONE on success). */
static enum cms_fail
try_open(const unsigned char *der, size_t derlen, const char *msgid,
    const unsigned char *key, const unsigned char *digest, char *err)
{
	enum cms_fail fail = CMS_FAIL_NONE;
	unsigned char *out = NULL;
	size_t outlen;
	X509 *signer = NULL;
	int rc;

	rc = cms_open(der, derlen, msgid, key, digest, store, &out, &outlen,
	    &signer, NULL, &fail, err);
	if (rc == 0 && (out == NULL || signer == NULL))
		fail = CMS_FAIL_INTERNAL;
	if (rc == -1 && (out != NULL || fail == CMS_FAIL_NONE))
		fail = CMS_FAIL_INTERNAL;
	free(out);
	X509_free(signer);
	return fail;
}

static void
test_seal_round_trip(void)
{
	unsigned char key[CMS_KEYLEN], key2[CMS_KEYLEN], digest[CMS_DIGESTLEN];
	unsigned char digest2[CMS_DIGESTLEN], *der = NULL, *der2 = NULL, *out;
	size_t derlen, derlen2, outlen;
	char err[TN_ERRLEN];
	enum cms_fail fail;
	X509 *signer = NULL;
	STACK_OF(X509) *certs = NULL;

	if (seal(&alice, msg_alice, "m1@a.example", key, digest, &der,
	    &derlen) == -1 || seal(&alice, msg_alice, "m1@a.example", key2,
	    digest2, &der2, &derlen2) == -1) {
		ok(0, "seal");
		return;
	}
	ok(memcmp(key, key2, CMS_KEYLEN) != 0, "each seal has a fresh key");
	is_int(cms_open(der, derlen, "m1@a.example", key, digest, store, &out,
	    &outlen, &signer, &certs, &fail, err), 0, "sealed content opens");
	ok(certs != NULL && sk_X509_num(certs) == 1, "with the certificates");
	sk_X509_pop_free(certs, X509_free);
	ok(out != NULL && outlen == strlen(msg_alice) &&
	    memcmp(out, msg_alice, outlen) == 0, "same bytes, real Subject");
	ok(signer != NULL && X509_cmp(signer, alice.p_cert) == 0,
	    "signer is alice");
	free(out);
	X509_free(signer);
	is_int(try_open(der, derlen, "m1@a.example", key, digest2, err),
	    CMS_FAIL_DIGEST, "another seal's digest is refused");
	ok(strstr(err, "digest") != NULL, "and says so: %s", err);
	is_int(try_open(der, derlen, "m1@a.example", key2, digest2, err),
	    CMS_FAIL_DIGEST, "another seal's whole record is refused");
	is_int(try_open(der2, derlen2, "m1@a.example", key, digest2, err),
	    CMS_FAIL_DECRYPT, "wrong key: cannot decrypt");
	ok(strstr(err, "cannot decrypt") != NULL, "and says so: %s", err);
	is_int(try_open(der2, derlen2, "m2@a.example", key2, digest2, err),
	    CMS_FAIL_DECRYPT, "wrong message id: no recipient");
	free(der);
	free(der2);
}

/* Alter der in place at off, fix the digest, and open. */
static enum cms_fail
open_altered(unsigned char *der, size_t derlen, size_t off,
    const unsigned char *key, char *err)
{
	unsigned char digest[CMS_DIGESTLEN];

	der[off] ^= 0x01;
	cms_digest(der, derlen, digest);
	return try_open(der, derlen, "m1@a.example", key, digest, err);
}

static void
test_seal_bad_input(void)
{
	static const unsigned char garbage[] = "not CMS at all";
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN], *der = NULL;
	unsigned char *big;
	size_t derlen, cut;
	char err[TN_ERRLEN];

	if (seal(&alice, msg_alice, "m1@a.example", key, digest, &der,
	    &derlen) == -1) {
		ok(0, "seal");
		return;
	}
	is_int(open_altered(der, derlen, derlen - 5, key, err),
	    CMS_FAIL_DECRYPT, "altered ciphertext (digest fixed): refused");
	der[derlen - 5] ^= 0x01;
	for (cut = 1; cut < derlen; cut += derlen / 7) {
		cms_digest(der, cut, digest);
		if (!ok(try_open(der, cut, "m1@a.example", key, digest,
		    err) == CMS_FAIL_INPUT, "truncated to %zu bytes: %s",
		    cut, err))
			break;
	}
	free(der);
	der = NULL;
	cms_digest(garbage, sizeof(garbage), digest);
	is_int(try_open(garbage, sizeof(garbage), "m1@a.example", key, digest,
	    err), CMS_FAIL_INPUT, "garbage refused");
	ok(strstr(err, "not a CMS") != NULL, "as not CMS: %s", err);
	big = calloc(1, TN_MAX_MESSAGE + 1);
	is_int(try_open(big, TN_MAX_MESSAGE + 1, "m1@a.example", key, digest,
	    err), CMS_FAIL_INPUT, "oversize sealed content refused");
	is_int(cms_seal(big, TN_MAX_MESSAGE + 1, &(struct cms_id){
	    alice.p_cert, alice.p_key, NULL }, "m", key, digest, &der, &derlen,
	    err), -1, "oversize message not sealed");
	ok(der == NULL, "and nothing returned");
	free(big);
	is_int(cms_seal((const unsigned char *)"x", 1, &(struct cms_id){
	    alice.p_cert, alice.p_key, NULL }, "", key, digest, &der, &derlen,
	    err), -1, "empty message id refused");
}

static void
test_seal_trust(void)
{
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN], *der = NULL;
	size_t derlen;
	char err[TN_ERRLEN];

	if (seal(&mallory, msg_alice, "m1@a.example", key, digest, &der,
	    &derlen) == 0) {
		is_int(try_open(der, derlen, "m1@a.example", key, digest, err),
		    CMS_FAIL_CHAIN, "signer under another root: refused");
		ok(strstr(err, "trust anchor") != NULL, "says why: %s", err);
	}
	free(der);
	der = NULL;
	if (seal(&alice, msg_carol, "m1@a.example", key, digest, &der,
	    &derlen) == 0) {
		is_int(try_open(der, derlen, "m1@a.example", key, digest, err),
		    CMS_FAIL_SENDER, "From: not the signer: refused");
		ok(strstr(err, "carol@a.example") != NULL, "names it: %s",
		    err);
	}
	free(der);
}

/*
 * A key holder who alters the signed content and re-encrypts it:
 * the digest and the decryption pass, the signature must not.
 */
static void
test_seal_forged_content(void)
{
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN], *p, *der = NULL;
	unsigned char *signed_der = NULL, *kek, *kid;
	CMS_ContentInfo *sd, *env = NULL;
	BIO *in, *out;
	char err[TN_ERRLEN];
	long n;
	int len;

	in = BIO_new_mem_buf(msg_alice, (int)strlen(msg_alice));
	sd = CMS_sign(alice.p_cert, alice.p_key, NULL, in, CMS_BINARY);
	BIO_free(in);
	len = i2d_CMS_ContentInfo(sd, &signed_der);
	CMS_ContentInfo_free(sd);
	p = memmem(signed_der, (size_t)len, "noon", 4);
	if (p != NULL)
		p[0] = 'N';
	kek = OPENSSL_malloc(CMS_KEYLEN);
	memset(kek, 7, CMS_KEYLEN);
	memset(key, 7, CMS_KEYLEN);
	kid = (unsigned char *)OPENSSL_strdup("m1@a.example");
	env = CMS_encrypt(NULL, NULL, EVP_aes_256_gcm(),
	    CMS_BINARY | CMS_PARTIAL);
	CMS_add0_recipient_key(env, NID_id_aes256_wrap, kek, CMS_KEYLEN, kid,
	    strlen((char *)kid), NULL, NULL, NULL);
	in = BIO_new_mem_buf(signed_der, len);
	CMS_final(env, in, NULL, CMS_BINARY);
	BIO_free(in);
	out = BIO_new(BIO_s_mem());
	i2d_CMS_bio(out, env);
	n = BIO_get_mem_data(out, (char **)&der);
	cms_digest(der, (size_t)n, digest);
	ok(p != NULL, "content altered inside the signature");
	is_int(try_open(der, (size_t)n, "m1@a.example", key, digest, err),
	    CMS_FAIL_SIGNATURE, "altered signed content: signature refused");
	BIO_free(out);
	CMS_ContentInfo_free(env);
	OPENSSL_free(signed_der);
}

static int
wrap_to(X509 *to, int smime, unsigned char **out, size_t *outlen)
{
	struct cms_id id = id_of(&alice);
	STACK_OF(X509) *rcpts = sk_X509_new_null();
	char err[TN_ERRLEN];
	int rc;

	sk_X509_push(rcpts, to);
	rc = cms_wrap((const unsigned char *)msg_alice, strlen(msg_alice),
	    &id, rcpts, smime, out, outlen, err);
	if (rc == -1)
		diag("cms_wrap: %s", err);
	sk_X509_free(rcpts);
	return rc;
}

/* The key-management algorithm of the first RecipientInfo. */
static int
first_ri_alg(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms;
	CMS_RecipientInfo *ri;
	X509_ALGOR *alg = NULL;
	int nid = NID_undef;

	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL)
		return NID_undef;
	ri = sk_CMS_RecipientInfo_value(CMS_get0_RecipientInfos(cms), 0);
	if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE)
		CMS_RecipientInfo_kari_get0_alg(ri, &alg, NULL);
	else if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS)
		CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg);
	if (alg != NULL)
		nid = OBJ_obj2nid(alg->algorithm);
	CMS_ContentInfo_free(cms);
	return nid;
}

static enum cms_fail
try_unwrap(const struct party *me, const unsigned char *in, size_t len,
    char *err)
{
	struct cms_id id = id_of(me);
	enum cms_fail fail = CMS_FAIL_NONE;
	unsigned char *out = NULL;
	size_t outlen;
	X509 *signer = NULL;

	if (cms_unwrap(in, len, &id, store, &out, &outlen, &signer, NULL,
	    &fail, err) == 0 && (outlen != strlen(msg_alice) ||
	    memcmp(out, msg_alice, outlen) != 0 ||
	    X509_cmp(signer, alice.p_cert) != 0))
		fail = CMS_FAIL_INTERNAL;
	free(out);
	X509_free(signer);
	return fail;
}

/* cms_unwrap() gives the n bytes of want, NUL-terminated, or fails. */
static enum cms_fail
try_unwrap_bytes(const struct party *me, const unsigned char *in,
    size_t len, const unsigned char *want, size_t n, char *err)
{
	struct cms_id id = id_of(me);
	enum cms_fail fail = CMS_FAIL_NONE;
	unsigned char *out = NULL;
	size_t outlen;

	if (cms_unwrap(in, len, &id, store, &out, &outlen, NULL, NULL,
	    &fail, err) == 0 && (outlen != n || memcmp(out, want, n) != 0 ||
	    out[n] != '\0'))
		fail = CMS_FAIL_INTERNAL;
	free(out);
	return fail;
}

static void
test_wrap(void)
{
	struct party bob_ec;
	unsigned char *w = NULL;
	size_t wlen;
	char err[TN_ERRLEN];

	party_make(&bob_ec, "bob", "bob@b.example", 0, &root);
	if (wrap_to(bob_ec.p_cert, 0, &w, &wlen) == 0) {
		is_int(first_ri_alg(w, wlen),
		    NID_dhSinglePass_stdDH_sha256kdf_scheme,
		    "EC recipient: ECDH with the SHA-256 KDF");
		is_int(try_unwrap(&bob_ec, w, wlen, err), CMS_FAIL_NONE,
		    "EC recipient unwraps, signer alice");
		is_int(try_unwrap(&mallory, w, wlen, err), CMS_FAIL_DECRYPT,
		    "another key cannot unwrap");
	}
	free(w);
	w = NULL;
	if (wrap_to(bob_rsa.p_cert, 0, &w, &wlen) == 0) {
		is_int(first_ri_alg(w, wlen), NID_rsaesOaep,
		    "RSA recipient: OAEP");
		is_int(try_unwrap(&bob_rsa, w, wlen, err), CMS_FAIL_NONE,
		    "RSA recipient unwraps");
	}
	free(w);
	w = NULL;
	if (wrap_to(bob_ec.p_cert, 1, &w, &wlen) == 0) {
		ok(strstr((char *)w, "application/pkcs7-mime") != NULL,
		    "S/MIME output");
		is_int(try_unwrap(&bob_ec, w, wlen, err), CMS_FAIL_NONE,
		    "S/MIME unwraps");
		w[wlen / 2] = w[wlen / 2] == 'A' ? 'B' : 'A';
		ok(try_unwrap(&bob_ec, w, wlen, err) != CMS_FAIL_NONE,
		    "altered S/MIME refused: %s", err);
	}
	free(w);
	party_free(&bob_ec);
}

/*
 * Large and odd-sized content, NUL bytes included, through the
 * pre-sized buffers of lib/cms.c: the same bytes come back,
 * NUL-terminated, and stock OpenSSL (memory BIOs that grow) reads
 * the same from the wrap; the empty content too.
 */
static void
test_large(void)
{
	static const size_t sizes[] = { 0, 1, 4095, 4097, 1000003 };
	struct cms_id id = id_of(&alice);
	STACK_OF(X509) *rcpts = sk_X509_new_null();
	CMS_ContentInfo *outer = NULL, *inner = NULL;
	unsigned char *msg, *w, *out, *der;
	const unsigned char *p;
	size_t i, j, n, wlen, outlen, derlen;
	char err[TN_ERRLEN];
	BIO *b1 = NULL, *b2 = NULL;
	char *d = NULL;
	long dl;
	enum cms_fail fail;

	sk_X509_push(rcpts, bob_rsa.p_cert);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		msg = malloc(n + 1);
		for (j = 0; j < n; j++)
			msg[j] = (unsigned char)(j * 7 + j / 251);
		w = out = der = NULL;
		ok(cms_sign(msg, n, &id, &der, &derlen, err) == 0 &&
		    cms_verify(der, derlen, store, &out, &outlen, NULL, NULL,
		    &fail, err) == 0 && outlen == n &&
		    memcmp(out, msg, n) == 0 && out[n] == '\0',
		    "%zu bytes: sign, verify, the same bytes", n);
		free(der);
		free(out);
		out = NULL;
		if (!ok(cms_wrap(msg, n, &id, rcpts, 0, &w, &wlen, err) == 0,
		    "%zu bytes: wrap", n)) {
			diag("cms_wrap: %s", err);
			free(msg);
			continue;
		}
		ok(try_unwrap_bytes(&bob_rsa, w, wlen, msg, n, err) ==
		    CMS_FAIL_NONE, "%zu bytes: unwrap, the same bytes", n);
		/* stock OpenSSL, growing memory BIOs */
		p = w;
		outer = d2i_CMS_ContentInfo(NULL, &p, (long)wlen);
		b1 = BIO_new(BIO_s_mem());
		b2 = BIO_new(BIO_s_mem());
		dl = 0;
		if (outer != NULL && CMS_decrypt(outer, bob_rsa.p_key,
		    bob_rsa.p_cert, NULL, b1, CMS_BINARY) == 1 &&
		    (inner = d2i_CMS_bio(b1, NULL)) != NULL &&
		    CMS_verify(inner, NULL, store, NULL, b2, CMS_BINARY) == 1)
			dl = BIO_get_mem_data(b2, &d);
		ok(dl == (long)n && (n == 0 || memcmp(d, msg, n) == 0),
		    "%zu bytes: stock OpenSSL reads the same", n);
		CMS_ContentInfo_free(inner);
		CMS_ContentInfo_free(outer);
		inner = outer = NULL;
		BIO_free(b1);
		BIO_free(b2);
		free(w);
		free(msg);
	}
	sk_X509_free(rcpts);
}

static void
test_wrap_limits(void)
{
	struct cms_id id = id_of(&alice);
	STACK_OF(X509) *many = sk_X509_new_null();
	CMS_ContentInfo *cms;
	unsigned char *w = NULL;
	char err[TN_ERRLEN];
	size_t wlen;
	BIO *in, *out;
	long n;
	int i;

	for (i = 0; i <= TN_MAX_RECIPINFOS; i++)
		sk_X509_push(many, bob_rsa.p_cert);
	is_int(cms_wrap((const unsigned char *)"x", 1, &id, many, 0, &w,
	    &wlen, err), -1, "wrap to too many recipients refused");
	/* The same built by hand must be refused before decryption. */
	in = BIO_new_mem_buf("x", 1);
	cms = CMS_encrypt(many, in, EVP_aes_256_gcm(), CMS_BINARY);
	BIO_free(in);
	out = BIO_new(BIO_s_mem());
	i2d_CMS_bio(out, cms);
	n = BIO_get_mem_data(out, (char **)&w);
	is_int(try_unwrap(&bob_rsa, w, (size_t)n, err), CMS_FAIL_INPUT,
	    "too many RecipientInfos refused");
	ok(strstr(err, "RecipientInfos") != NULL, "says so: %s", err);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	sk_X509_free(many);
	is_int(try_unwrap(&bob_rsa, (const unsigned char *)"\x30\x03\x02\x01",
	    4, err), CMS_FAIL_INPUT, "truncated DER refused");
	is_int(try_unwrap(&bob_rsa, (const unsigned char *)"MIME-Version: 1.0\r\n"
	    "\r\n", 21, err), CMS_FAIL_INPUT, "S/MIME without CMS refused");
}

/*
 * Content encrypted without authentication (EnvelopedData, AES-CBC)
 * is refused before any decryption: as a transport wrap to an agent
 * or an element, and as sealed content under the message key.
 */
static void
test_cbc_refused(void)
{
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN], *der;
	unsigned char *signed_der = NULL, *kek, *kid;
	STACK_OF(X509) *to = sk_X509_new_null();
	CMS_ContentInfo *sd, *env;
	BIO *in, *out;
	char err[TN_ERRLEN];
	long n;
	int len;

	in = BIO_new_mem_buf(msg_alice, (int)strlen(msg_alice));
	sd = CMS_sign(alice.p_cert, alice.p_key, NULL, in, CMS_BINARY);
	BIO_free(in);
	len = i2d_CMS_ContentInfo(sd, &signed_der);
	CMS_ContentInfo_free(sd);

	/* The transport wrap: signed, then enveloped to bob with CBC. */
	sk_X509_push(to, bob_rsa.p_cert);
	in = BIO_new_mem_buf(signed_der, len);
	env = CMS_encrypt(to, in, EVP_aes_256_cbc(), CMS_BINARY);
	BIO_free(in);
	out = BIO_new(BIO_s_mem());
	i2d_CMS_bio(out, env);
	n = BIO_get_mem_data(out, (char **)&der);
	is_int(try_unwrap(&bob_rsa, der, (size_t)n, err), CMS_FAIL_INPUT,
	    "CBC transport wrap refused");
	ok(strstr(err, "without authentication") != NULL, "says so: %s",
	    err);
	BIO_free(out);
	CMS_ContentInfo_free(env);
	sk_X509_free(to);

	/* The sealed content: the message key, a KEK RecipientInfo, CBC. */
	kek = OPENSSL_malloc(CMS_KEYLEN);
	memset(kek, 7, CMS_KEYLEN);
	memset(key, 7, CMS_KEYLEN);
	kid = (unsigned char *)OPENSSL_strdup("m1@a.example");
	env = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(),
	    CMS_BINARY | CMS_PARTIAL);
	CMS_add0_recipient_key(env, NID_id_aes256_wrap, kek, CMS_KEYLEN, kid,
	    strlen((char *)kid), NULL, NULL, NULL);
	in = BIO_new_mem_buf(signed_der, len);
	CMS_final(env, in, NULL, CMS_BINARY);
	BIO_free(in);
	out = BIO_new(BIO_s_mem());
	i2d_CMS_bio(out, env);
	n = BIO_get_mem_data(out, (char **)&der);
	cms_digest(der, (size_t)n, digest);
	is_int(try_open(der, (size_t)n, "m1@a.example", key, digest, err),
	    CMS_FAIL_INPUT, "CBC sealed content refused");
	ok(strstr(err, "without authentication") != NULL, "says so: %s",
	    err);
	BIO_free(out);
	CMS_ContentInfo_free(env);
	OPENSSL_free(signed_der);
}

/* Nested multiparts: depth levels, each with one text part. */
static char *
nested_msg(int depth, int parts)
{
	size_t size = 4096 + (size_t)depth * 160 + (size_t)parts * 80;
	char *m = malloc(size), *p = m;
	int i;

	p += sprintf(p, "From: alice@a.example\r\nTo: bob@b.example\r\n"
	    "Subject: deep\r\nMessage-ID: <m1@a.example>\r\n"
	    "MIME-Version: 1.0\r\n");
	for (i = 0; i < depth; i++)
		p += sprintf(p, "Content-Type: multipart/mixed; "
		    "boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
	p += sprintf(p, "Content-Type: text/plain\r\n\r\nhello\r\n");
	for (i = 1; i < parts; i++)
		p += sprintf(p, "--b%d\r\nContent-Type: text/plain\r\n\r\n"
		    "part %d\r\n", depth - 1, i);
	for (i = depth - 1; i >= 0; i--)
		p += sprintf(p, "--b%d--\r\n", i);
	return m;
}

/* The inner message is held to the outer mails' MIME limits. */
static void
test_inner_shape(void)
{
	static const struct {
		int depth, parts;
		enum cms_fail fail;
		const char *what;
	} cases[] = {
		{ TN_MAX_MIME_DEPTH - 1, 1, CMS_FAIL_NONE, "nested to the limit" },
		{ TN_MAX_MIME_DEPTH, 1, CMS_FAIL_INPUT, "nested too deep" },
		{ 40, 1, CMS_FAIL_INPUT, "too many multipart types" },
		{ 1, TN_MAX_MIME_PARTS, CMS_FAIL_NONE, "parts to the limit" },
		{ 1, TN_MAX_MIME_PARTS + 1, CMS_FAIL_INPUT, "too many parts" },
	};
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN], *der;
	char err[TN_ERRLEN], *m;
	size_t i, derlen;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m = nested_msg(cases[i].depth, cases[i].parts);
		der = NULL;
		if (seal(&alice, m, "m1@a.example", key, digest, &der,
		    &derlen) == 0) {
			err[0] = '\0';
			is_int(try_open(der, derlen, "m1@a.example", key,
			    digest, err), cases[i].fail, cases[i].what);
			if (cases[i].fail != CMS_FAIL_NONE)
				ok(strstr(err, "inner message: ") != NULL,
				    "says so: %s", err);
			else if (err[0] != '\0')
				printf("# %s\n", err);
		}
		free(der);
		free(m);
	}
}

int
main(void)
{
	pki_setup();
	test_seal_round_trip();
	test_seal_bad_input();
	test_seal_trust();
	test_seal_forged_content();
	test_wrap();
	test_large();
	test_wrap_limits();
	test_cbc_refused();
	test_inner_shape();
	party_free(&root);
	party_free(&other_root);
	party_free(&alice);
	party_free(&bob_rsa);
	party_free(&mallory);
	X509_STORE_free(store);
	return tap_done();
}
