/*
 * NAME
 *	pki.c - certificates, keys and verification to the root
 * SYNOPSIS
 *	See pki.h.
 * DESCRIPTION
 *	Loading and writing PEM, key generation, the Tandem role and kind
 *	policy OIDs, issuing one certificate, and verification with
 *	OpenSSL's X509_verify_cert() followed by the Tandem role rules.
 *	doc/pki.md explains the choices (OIDs, key usages, constraints).
 *
 *	Every function takes borrowed arguments and returns new objects
 *	that the caller frees (see pki.h); nothing here keeps state
 *	besides a struct pki_trust.
 * DIAGNOSTICS
 *	0 or -1 (or NULL) with a one-line reason in err.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "crl.h"
#include "pki.h"
#include "tandem.h"
#include "util.h"

#define PKI_MAX_PEM	(1024 * 1024)	/* one PEM file */
#define PKI_MAX_CN	64		/* ub-common-name */
#define PKI_MAX_DOMAINS	8		/* of an issuing CA */

#define PKI_SAID_MAX	64	/* CAs without a list, said an hour apart */

struct pki_trust {
	X509_STORE	*tr_store;
	struct stat	 tr_crl_st;	/* the tls.crl_file read, as it was */
	int		 tr_crl_read;
	const char	*tr_crl_path;
	void		(*tr_say)(const char *, ...);	/* NULL: silent */
	CRYPTO_RWLOCK	*tr_lock;	/* tr_said, from any thread */
	struct {
		unsigned long	 sd_hash;	/* X509_NAME_hash_ex() */
		time_t		 sd_at;
	}		 tr_said[PKI_SAID_MAX];
	int		 tr_nsaid;
};

static int pki_store_idx = -1;	/* X509_STORE ex_data: its pki_trust */

static const char *pki_role_names[] = {
	"none", "root", "public", "private", "gateway"
};

static const char *pki_kind_names[] = {
	"none", "courier-ca", "fg", "bg", "courier-end", "agent", "issuing-ca"
};

/* ---- names ---- */

const char *
pki_role_name(enum pki_role role)
{
	if ((unsigned int)role > PKI_ROLE_GATEWAY)
		return "none";
	return pki_role_names[role];
}

enum pki_role
pki_role_parse(const char *name)
{
	int i;

	for (i = PKI_ROLE_ROOT; i <= PKI_ROLE_GATEWAY; i++)
		if (name != NULL && strcmp(name, pki_role_names[i]) == 0)
			return (enum pki_role)i;
	return PKI_ROLE_NONE;
}

const char *
pki_kind_name(enum pki_kind kind)
{
	if ((unsigned int)kind > PKI_KIND_ISSUING)
		return "none";
	return pki_kind_names[kind];
}

/* Subject commonName for messages; "(no name)" if there is none. */
static void
pki_cn(X509 *x, char *buf, size_t len)
{
	char raw[256];

	/* Escaped: it goes into errors, logs and SMTP replies. */
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, raw, (int)sizeof(raw)) <= 0)
		snprintf(buf, len, "(no name)");
	else
		util_escape(raw, buf, len, UTIL_ESC_SPACE);
}

/* ---- reading PEM ---- */

static int
pki_pass_cb(char *buf, int size, int rwflag, void *u)
{
	size_t len;

	(void)rwflag;
	if (u == NULL)
		return -1;	/* never prompt */
	len = strlen(u);
	if (len > (size_t)size)
		return -1;
	memcpy(buf, u, len);
	return (int)len;
}

X509 *
pki_parse_cert(const char *pem, size_t len, char *err)
{
	BIO *bio;
	X509 *x;

	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		tn_err(err, "PEM certificate too large");
		return NULL;
	}
	if ((x = PEM_read_bio_X509(bio, NULL, pki_pass_cb, NULL)) == NULL)
		tn_err_ssl(err, "not a PEM certificate");
	BIO_free(bio);
	return x;
}

STACK_OF(X509) *
pki_parse_certs(const char *pem, size_t len, char *err)
{
	STACK_OF(X509) *sk = NULL;
	BIO *bio;
	X509 *x;
	unsigned long e;
	int rc = -1;

	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		tn_err(err, "PEM certificates too large");
		return NULL;
	}
	if ((sk = sk_X509_new_null()) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, pki_pass_cb, NULL)) != NULL)
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			tn_err(err, "out of memory");
			goto out;
		}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();	/* the normal end */
		if (sk_X509_num(sk) == 0) {
			tn_err(err, "no PEM certificate");
			goto out;
		}
	} else {
		tn_err_ssl(err, "not a PEM certificate");
		goto out;
	}
	rc = 0;
out:
	if (rc == -1) {
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	}
	BIO_free(bio);
	return sk;
}

EVP_PKEY *
pki_parse_key(const char *pem, size_t len, const char *pass, char *err)
{
	static const char enc[] = "ENCRYPTED PRIVATE KEY";
	EVP_PKEY *key;
	BIO *bio;

	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		tn_err(err, "PEM key too large");
		return NULL;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, pki_pass_cb, (void *)pass);
	BIO_free(bio);
	if (key != NULL)
		return key;
	if (pass == NULL && memmem(pem, len, enc, sizeof(enc) - 1) != NULL)
		tn_err(err, "key is encrypted and no passphrase was given");
	else if (pass != NULL && memmem(pem, len, enc, sizeof(enc) - 1))
		tn_err_ssl(err, "cannot decrypt key (wrong passphrase?)");
	else
		tn_err_ssl(err, "not a PEM private key");
	ERR_clear_error();
	return NULL;
}

/* Read path, then parse it with the caller's parser; err names path. */
static unsigned char *
pki_read(const char *path, size_t *len, char *err)
{
	unsigned char *buf = NULL;

	if (util_read_file(path, PKI_MAX_PEM, &buf, len, err) == -1)
		return NULL;
	return buf;
}

static void
pki_prefix(char *err, const char *path)
{
	char tmp[TN_ERRLEN];

	if (err == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s", err);
	tn_err(err, "%s: %s", path, tmp);
}

X509 *
pki_load_cert(const char *path, char *err)
{
	unsigned char *buf;
	size_t len;
	X509 *x;

	if ((buf = pki_read(path, &len, err)) == NULL)
		return NULL;
	if ((x = pki_parse_cert((char *)buf, len, err)) == NULL)
		pki_prefix(err, path);
	free(buf);
	return x;
}

STACK_OF(X509) *
pki_load_certs(const char *path, char *err)
{
	STACK_OF(X509) *sk;
	unsigned char *buf;
	size_t len;

	if ((buf = pki_read(path, &len, err)) == NULL)
		return NULL;
	if ((sk = pki_parse_certs((char *)buf, len, err)) == NULL)
		pki_prefix(err, path);
	free(buf);
	return sk;
}

EVP_PKEY *
pki_load_key(const char *path, const char *pass, char *err)
{
	unsigned char *buf;
	EVP_PKEY *key;
	size_t len;

	if ((buf = pki_read(path, &len, err)) == NULL)
		return NULL;
	if ((key = pki_parse_key((char *)buf, len, pass, err)) == NULL)
		pki_prefix(err, path);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return key;
}

/* ---- writing PEM, keys ---- */

static int
pki_bio_string(BIO *bio, char **out, size_t *outlen, char *err)
{
	char *data;
	long n;

	if ((n = BIO_get_mem_data(bio, &data)) <= 0 ||
	    (*out = malloc((size_t)n + 1)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	if (outlen != NULL)
		*outlen = (size_t)n;
	return 0;
}

EVP_PKEY *
pki_key_generate(enum pki_keytype type, char *err)
{
	EVP_PKEY *key;

	if (type == PKI_KEY_RSA)
		key = EVP_RSA_gen(3072);
	else
		key = EVP_EC_gen("P-256");
	if (key == NULL)
		tn_err_ssl(err, "cannot generate %s key",
		    type == PKI_KEY_RSA ? "RSA-3072" : "EC P-256");
	return key;
}

int
pki_key_pem(EVP_PKEY *key, const char *pass, char **out, size_t *outlen,
    char *err)
{
	BIO *bio;
	int rc = -1;

	if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
		tn_err_ssl(err, "out of memory");
		return -1;
	}
	if (!PEM_write_bio_PKCS8PrivateKey(bio, key,
	    pass != NULL ? EVP_aes_256_cbc() : NULL,
	    (const char *)pass, pass != NULL ? (int)strlen(pass) : 0,
	    NULL, NULL)) {
		tn_err_ssl(err, "cannot write private key");
		goto out;
	}
	rc = pki_bio_string(bio, out, outlen, err);
out:
	BIO_free(bio);
	return rc;
}

int
pki_cert_pem(X509 *x, char **out, size_t *outlen, char *err)
{
	BIO *bio;
	int rc = -1;

	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		tn_err_ssl(err, "out of memory");
		return -1;
	}
	if (!PEM_write_bio_X509(bio, x)) {
		tn_err_ssl(err, "cannot write certificate");
		goto out;
	}
	rc = pki_bio_string(bio, out, outlen, err);
out:
	BIO_free(bio);
	return rc;
}

/* ---- reading certificates ---- */

/*
 * Count the policy OIDs of x directly under arc (arc.N, N 1..9) and
 * store the last N in *val.
 */
static int
pki_policy_scan(X509 *x, const char *arc, int *val)
{
	CERTIFICATEPOLICIES *cp;
	POLICYINFO *pi;
	char buf[128];
	size_t alen = strlen(arc);
	int i, n = 0;

	*val = 0;
	cp = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
	if (cp == NULL)
		return 0;
	for (i = 0; i < sk_POLICYINFO_num(cp); i++) {
		pi = sk_POLICYINFO_value(cp, i);
		if (OBJ_obj2txt(buf, sizeof(buf), pi->policyid, 1) <= 0)
			continue;
		if (strncmp(buf, arc, alen) != 0 || buf[alen] != '.' ||
		    buf[alen + 1] < '1' || buf[alen + 1] > '9' ||
		    buf[alen + 2] != '\0')
			continue;
		*val = buf[alen + 1] - '0';
		n++;
	}
	CERTIFICATEPOLICIES_free(cp);
	return n;
}

enum pki_role
pki_cert_role(X509 *x)
{
	int v;

	if (pki_policy_scan(x, PKI_OID_ROLE, &v) != 1 || v > PKI_ROLE_GATEWAY)
		return PKI_ROLE_NONE;
	return (enum pki_role)v;
}

enum pki_kind
pki_cert_kind(X509 *x)
{
	int v;

	if (pki_policy_scan(x, PKI_OID_KIND, &v) != 1 || v > PKI_KIND_ISSUING)
		return PKI_KIND_NONE;
	return (enum pki_kind)v;
}

static char *
pki_cert_san(X509 *x, int type)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gen;
	const unsigned char *data;
	char *s = NULL;
	int i, len;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; s == NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		gen = sk_GENERAL_NAME_value(gens, i);
		if (gen->type != type)
			continue;
		data = ASN1_STRING_get0_data(gen->d.ia5);
		len = ASN1_STRING_length(gen->d.ia5);
		if (len <= 0 || memchr(data, '\0', (size_t)len) != NULL)
			break;	/* refuse, do not look further */
		s = strndup((const char *)data, (size_t)len);
	}
	GENERAL_NAMES_free(gens);
	return s;
}

/* at as a time_t: 0, or -1 if it cannot be read. */
static int
pki_time(const ASN1_TIME *at, time_t *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(at, &tm) != 1)
		return -1;
	*t = timegm(&tm);
	return 0;
}

/* *bound moved to at: later (a start) or earlier (an end). */
static int
pki_narrow_time(const ASN1_TIME *at, time_t *bound, int later)
{
	time_t t;

	if (pki_time(at, &t) == -1)
		return -1;
	if (later ? t > *bound : t < *bound)
		*bound = t;
	return 0;
}

int
pki_narrow(const X509 *x, time_t *from, time_t *until)
{
	return pki_narrow_time(X509_get0_notBefore(x), from, 1) == -1 ||
	    pki_narrow_time(X509_get0_notAfter(x), until, 0) == -1 ? -1 : 0;
}

int
pki_store_narrow(X509_STORE *store, time_t *from, time_t *until)
{
	STACK_OF(X509_OBJECT) *objs;
	X509_OBJECT *o;
	X509_CRL *crl;
	X509 *x;
	int i, rc = 0;

	if (!X509_STORE_lock(store))
		return -1;
	objs = X509_STORE_get0_objects(store);
	for (i = 0; rc == 0 && i < sk_X509_OBJECT_num(objs); i++) {
		o = sk_X509_OBJECT_value(objs, i);
		if ((x = X509_OBJECT_get0_X509(o)) != NULL)
			rc = pki_narrow(x, from, until);
		else if ((crl = X509_OBJECT_get0_X509_CRL(o)) != NULL)
			rc = pki_narrow_time(X509_CRL_get0_lastUpdate(crl),
			    from, 1) == -1 ||
			    (X509_CRL_get0_nextUpdate(crl) != NULL &&
			    pki_narrow_time(X509_CRL_get0_nextUpdate(crl),
			    until, 0) == -1) ? -1 : 0;
	}
	X509_STORE_unlock(store);
	return rc;
}

char *
pki_cert_email(X509 *x)
{
	return pki_cert_san(x, GEN_EMAIL);
}

char *
pki_cert_uri(X509 *x)
{
	return pki_cert_san(x, GEN_URI);
}

char *
pki_cert_dns(X509 *x)
{
	return pki_cert_san(x, GEN_DNS);
}

/* ---- issuing ---- */

/* IA5String names: printable ASCII without spaces, bounded. */
static int
pki_ia5_ok(const char *s)
{
	size_t n;

	if (s == NULL || *s == '\0' || (n = strlen(s)) > 2048)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* Domain for name constraints: LDH labels and dots, no edge dots. */
static int
pki_domain_ok(const char *d)
{
	size_t i, n;

	if (d == NULL || (n = strlen(d)) == 0 || n > 253 || d[0] == '.' ||
	    d[n - 1] == '.' || strstr(d, "..") != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)d[i]) && d[i] != '-' &&
		    d[i] != '.')
			return 0;
	return 1;
}

static int
pki_san_push(GENERAL_NAMES *gens, int type, const char *value)
{
	GENERAL_NAME *gen;
	ASN1_IA5STRING *s;

	if (value == NULL)
		return 0;
	if ((gen = GENERAL_NAME_new()) == NULL)
		return -1;
	if ((s = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(s, value, (int)strlen(value))) {
		ASN1_IA5STRING_free(s);
		GENERAL_NAME_free(gen);
		return -1;
	}
	GENERAL_NAME_set0_value(gen, type, s);
	if (!sk_GENERAL_NAME_push(gens, gen)) {
		GENERAL_NAME_free(gen);
		return -1;
	}
	return 0;
}

static int
pki_add_san(X509 *x, const struct pki_req *rq, char *err)
{
	GENERAL_NAMES *gens;
	int rc = -1;

	if ((rq->rq_email != NULL && !pki_ia5_ok(rq->rq_email)) ||
	    (rq->rq_dns != NULL && !pki_ia5_ok(rq->rq_dns)) ||
	    (rq->rq_uri != NULL && !pki_ia5_ok(rq->rq_uri))) {
		tn_err(err, "subjectAltName must be printable ASCII");
		return -1;
	}
	if ((gens = GENERAL_NAMES_new()) == NULL ||
	    pki_san_push(gens, GEN_EMAIL, rq->rq_email) == -1 ||
	    pki_san_push(gens, GEN_DNS, rq->rq_dns) == -1 ||
	    pki_san_push(gens, GEN_URI, rq->rq_uri) == -1) {
		tn_err_ssl(err, "out of memory");
		goto out;
	}
	if (sk_GENERAL_NAME_num(gens) == 0) {
		rc = 0;
		goto out;
	}
	if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT)) {
		tn_err_ssl(err, "cannot add subjectAltName");
		goto out;
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static int
pki_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, char *err)
{
	X509_EXTENSION *ext;
	int ok;

	ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	if (ext == NULL) {
		tn_err_ssl(err, "cannot make %s = %s", OBJ_nid2sn(nid), value);
		return -1;
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok) {
		tn_err_ssl(err, "cannot add %s", OBJ_nid2sn(nid));
		return -1;
	}
	return 0;
}

/* Critical name constraints to the domains doms (doc/pki.md). */
static int
pki_add_nc(X509 *x, X509V3_CTX *ctx, const char *const *doms, char *err)
{
	char nc[PKI_MAX_DOMAINS * 1300 + 80];
	size_t n = 0, i;

	n = (size_t)snprintf(nc, sizeof(nc), "critical");
	for (i = 0; doms[i] != NULL && i < PKI_MAX_DOMAINS; i++)
		n += (size_t)snprintf(nc + n, sizeof(nc) - n,
		    ",permitted;email:%s,permitted;email:.%s,"
		    "permitted;DNS:%s,"
		    "permitted;URI:%s,permitted;URI:.%s", doms[i], doms[i],
		    doms[i], doms[i], doms[i]);
	snprintf(nc + n, sizeof(nc) - n,
	    ",excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:::/::");
	return pki_add_ext(x, ctx, NID_name_constraints, nc, err);
}

static int
pki_add_ca_exts(X509 *x, X509V3_CTX *ctx, const struct pki_req *rq,
    char *err)
{
	const char *one[2] = { rq->rq_domain, NULL }, *bc;

	/* A private courier: room for its issuing CA, which signs leaves. */
	if (rq->rq_kind == PKI_KIND_ISSUING)
		bc = "critical,CA:TRUE,pathlen:0";
	else if (rq->rq_role == PKI_ROLE_PRIVATE)
		bc = "critical,CA:TRUE,pathlen:1";
	else
		bc = "critical,CA:TRUE";
	if (pki_add_ext(x, ctx, NID_basic_constraints, bc, err) == -1 ||
	    pki_add_ext(x, ctx, NID_key_usage,
	    "critical,digitalSignature,keyCertSign,cRLSign", err) == -1)
		return -1;
	if (rq->rq_kind == PKI_KIND_ISSUING)
		return pki_add_nc(x, ctx, rq->rq_domains, err);
	if (rq->rq_role != PKI_ROLE_PRIVATE)
		return 0;
	return pki_add_nc(x, ctx, one, err);
}

static int
pki_add_leaf_exts(X509 *x, X509V3_CTX *ctx, const struct pki_req *rq,
    char *err)
{
	const char *ku;

	if (EVP_PKEY_is_a(rq->rq_pubkey, "RSA"))
		ku = "critical,digitalSignature,keyEncipherment";
	else
		ku = "critical,digitalSignature,keyAgreement";
	if (pki_add_ext(x, ctx, NID_basic_constraints, "critical,CA:FALSE",
	    err) == -1 ||
	    pki_add_ext(x, ctx, NID_key_usage, ku, err) == -1 ||
	    pki_add_ext(x, ctx, NID_ext_key_usage,
	    rq->rq_kind == PKI_KIND_BG ?
	    "serverAuth,clientAuth,emailProtection" : "emailProtection",
	    err) == -1)
		return -1;
	return pki_add_san(x, rq, err);
}

static int
pki_policy_push(CERTIFICATEPOLICIES *cp, const char *arc, int n)
{
	POLICYINFO *pi;
	char oid[128];

	snprintf(oid, sizeof(oid), "%s.%d", arc, n);
	if ((pi = POLICYINFO_new()) == NULL)
		return -1;
	ASN1_OBJECT_free(pi->policyid);
	if ((pi->policyid = OBJ_txt2obj(oid, 1)) == NULL ||
	    !sk_POLICYINFO_push(cp, pi)) {
		POLICYINFO_free(pi);
		return -1;
	}
	return 0;
}

/* The kind (and for a courier CA the role) as policy OIDs. */
static int
pki_add_policies(X509 *x, const struct pki_req *rq, char *err)
{
	CERTIFICATEPOLICIES *cp;
	int rc = -1;

	if ((cp = CERTIFICATEPOLICIES_new()) == NULL ||
	    pki_policy_push(cp, PKI_OID_KIND, (int)rq->rq_kind) == -1 ||
	    (rq->rq_role != PKI_ROLE_NONE &&
	    pki_policy_push(cp, PKI_OID_ROLE, (int)rq->rq_role) == -1) ||
	    !X509_add1_ext_i2d(x, NID_certificate_policies, cp, 0,
	    X509V3_ADD_DEFAULT)) {
		tn_err_ssl(err, "cannot add certificatePolicies");
		goto out;
	}
	rc = 0;
out:
	CERTIFICATEPOLICIES_free(cp);
	return rc;
}

static int
pki_add_exts(X509 *x, const struct pki_req *rq, char *err)
{
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, rq->rq_issuer_cert != NULL ? rq->rq_issuer_cert :
	    x, x, NULL, NULL, 0);
	if (pki_add_ext(x, &ctx, NID_subject_key_identifier, "hash",
	    err) == -1 ||
	    (rq->rq_issuer_cert != NULL && pki_add_ext(x, &ctx,
	    NID_authority_key_identifier, "keyid", err) == -1) ||
	    pki_add_policies(x, rq, err) == -1)
		return -1;
	if (rq->rq_kind == PKI_KIND_COURIER_CA ||
	    rq->rq_kind == PKI_KIND_ISSUING)
		return pki_add_ca_exts(x, &ctx, rq, err);
	return pki_add_leaf_exts(x, &ctx, rq, err);
}

static int
pki_sign(X509 *x, EVP_PKEY *key, char *err)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *mctx;
	int rc = -1;

	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestSignInit(mctx, &pctx, EVP_sha256(), NULL, key)) {
		tn_err_ssl(err, "cannot sign certificate");
		goto out;
	}
	if (EVP_PKEY_is_a(key, "RSA") &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
	    RSA_PSS_SALTLEN_DIGEST) <= 0)) {
		tn_err_ssl(err, "cannot set RSA-PSS");
		goto out;
	}
	if (X509_sign_ctx(x, mctx) <= 0) {
		tn_err_ssl(err, "cannot sign certificate");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	return rc;
}

/* An issuing CA: under a courier CA, for 1..PKI_MAX_DOMAINS domains. */
static int
pki_check_issuing_req(const struct pki_req *rq, char *err)
{
	size_t i;

	if (rq->rq_issuer_cert == NULL ||
	    pki_cert_kind(rq->rq_issuer_cert) != PKI_KIND_COURIER_CA) {
		tn_err(err, "an issuing CA is signed by a courier CA");
		return -1;
	}
	if (rq->rq_domains == NULL || rq->rq_domains[0] == NULL) {
		tn_err(err, "an issuing CA needs at least one domain");
		return -1;
	}
	for (i = 0; rq->rq_domains[i] != NULL; i++) {
		if (i >= PKI_MAX_DOMAINS) {
			tn_err(err, "an issuing CA has at most %d domains",
			    PKI_MAX_DOMAINS);
			return -1;
		}
		if (!pki_domain_ok(rq->rq_domains[i])) {
			tn_err(err, "bad domain name: %s", rq->rq_domains[i]);
			return -1;
		}
	}
	return 0;
}

static int
pki_check_req(const struct pki_req *rq, char *err)
{
	if (rq->rq_kind <= PKI_KIND_NONE || rq->rq_kind > PKI_KIND_ISSUING ||
	    rq->rq_pubkey == NULL || rq->rq_issuer_key == NULL ||
	    rq->rq_cn == NULL || rq->rq_days <= 0 || rq->rq_days > 36500) {
		tn_err(err, "incomplete certificate request");
		return -1;
	}
	if ((rq->rq_kind == PKI_KIND_COURIER_CA) !=
	    (rq->rq_role != PKI_ROLE_NONE)) {
		tn_err(err, "a role belongs to courier CA certificates only");
		return -1;
	}
	if ((rq->rq_role == PKI_ROLE_PRIVATE) != (rq->rq_domain != NULL)) {
		tn_err(err, "a domain belongs to private couriers only");
		return -1;
	}
	if (rq->rq_domain != NULL && !pki_domain_ok(rq->rq_domain)) {
		tn_err(err, "bad domain name: %s", rq->rq_domain);
		return -1;
	}
	if (rq->rq_kind == PKI_KIND_ISSUING)
		return pki_check_issuing_req(rq, err);
	if (rq->rq_domains != NULL) {
		tn_err(err, "a domain list belongs to issuing CAs only");
		return -1;
	}
	return 0;
}

static int
pki_set_names(X509 *x, const struct pki_req *rq, char *err)
{
	X509_NAME *name;
	const char *cn = rq->rq_cn;
	int rc = -1;

	/* A long address does not fit; the SAN carries it anyway. */
	if (strlen(cn) > PKI_MAX_CN)
		cn = pki_kind_name(rq->rq_kind);
	/* An issuing CA: its courier's name, told apart by the unit. */
	if ((name = X509_NAME_new()) == NULL ||
	    (rq->rq_kind == PKI_KIND_ISSUING &&
	    !X509_NAME_add_entry_by_NID(name, NID_organizationalUnitName,
	    MBSTRING_UTF8, (const unsigned char *)"issuing CA", -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, rq->rq_issuer_cert != NULL ?
	    X509_get_subject_name(rq->rq_issuer_cert) : name)) {
		tn_err_ssl(err, "bad subject name %s", cn);
		goto out;
	}
	rc = 0;
out:
	X509_NAME_free(name);
	return rc;
}

static int
pki_set_serial(X509 *x, char *err)
{
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn;
	int rc = -1;

	if ((bn = BN_new()) == NULL ||
	    !BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(x, ai)) {
		tn_err_ssl(err, "cannot make a serial number");
		goto out;
	}
	rc = 0;
out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

int
pki_issue(const struct pki_req *rq, X509 **out, char *err)
{
	X509 *x;
	int rc = -1;

	*out = NULL;
	if (pki_check_req(rq, err) == -1)
		return -1;
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), rq->rq_days, 0,
	    NULL) == NULL || !X509_set_pubkey(x, rq->rq_pubkey)) {
		tn_err_ssl(err, "cannot make certificate");
		goto out;
	}
	if (pki_set_serial(x, err) == -1 || pki_set_names(x, rq, err) == -1 ||
	    pki_add_exts(x, rq, err) == -1 ||
	    pki_sign(x, rq->rq_issuer_key, err) == -1)
		goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

/* ---- trust and verification ---- */

struct pki_trust *
pki_trust_load(const char *path, char *err)
{
	struct pki_trust *tr;
	STACK_OF(X509) *sk;
	int i;

	if ((sk = pki_load_certs(path, err)) == NULL)
		return NULL;
	if (pki_store_idx == -1)	/* at start, before any thread */
		pki_store_idx = X509_STORE_get_ex_new_index(0, NULL, NULL,
		    NULL, NULL);
	if ((tr = calloc(1, sizeof(*tr))) == NULL ||
	    (tr->tr_store = X509_STORE_new()) == NULL ||
	    (tr->tr_lock = CRYPTO_THREAD_lock_new()) == NULL ||
	    pki_store_idx == -1 ||
	    !X509_STORE_set_ex_data(tr->tr_store, pki_store_idx, tr)) {
		tn_err(err, "out of memory");
		goto fail;
	}
	for (i = 0; i < sk_X509_num(sk); i++)
		if (!X509_STORE_add_cert(tr->tr_store, sk_X509_value(sk, i))) {
			tn_err_ssl(err, "%s: cannot add trust anchor", path);
			goto fail;
		}
	sk_X509_pop_free(sk, X509_free);
	return tr;
fail:
	sk_X509_pop_free(sk, X509_free);
	pki_trust_free(tr);
	return NULL;
}

void
pki_trust_free(struct pki_trust *tr)
{
	if (tr == NULL)
		return;
	X509_STORE_free(tr->tr_store);
	CRYPTO_THREAD_lock_free(tr->tr_lock);
	free(tr);
}

/*
 * With tls.crl_missing = accept, a CA without a list: said with
 * tr_say, once an hour per CA (by the hash of its name; a full table
 * says nothing more rather than say it each time).
 */
static void
pki_crl_missing(X509_STORE_CTX *ctx)
{
	struct pki_trust *tr;
	X509 *x = X509_STORE_CTX_get_current_cert(ctx);
	unsigned long h;
	time_t now = time(NULL);
	char ca[80];
	int i, say = 0;

	if (x == NULL || pki_store_idx == -1 ||
	    (tr = X509_STORE_get_ex_data(X509_STORE_CTX_get0_store(ctx),
	    pki_store_idx)) == NULL || tr->tr_say == NULL ||
	    !CRYPTO_THREAD_write_lock(tr->tr_lock))
		return;
	h = X509_NAME_hash_ex(X509_get_issuer_name(x), NULL, NULL, NULL);
	for (i = 0; i < tr->tr_nsaid && tr->tr_said[i].sd_hash != h; i++)
		;
	if (i < tr->tr_nsaid && now - tr->tr_said[i].sd_at >= PKI_CRL_RESAY) {
		tr->tr_said[i].sd_at = now;
		say = 1;
	} else if (i == tr->tr_nsaid && i < PKI_SAID_MAX) {
		tr->tr_said[i].sd_hash = h;
		tr->tr_said[i].sd_at = now;
		tr->tr_nsaid++;
		say = 1;
	}
	CRYPTO_THREAD_unlock(tr->tr_lock);
	if (!say)
		return;
	if (X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName,
	    ca, (int)sizeof(ca)) <= 0)
		snprintf(ca, sizeof(ca), "(no name)");
	tr->tr_say("crl status=missing file=%s ca=\"%s\" action=accept "
	    "reason=\"no revocation list of this CA in the file\"",
	    tr->tr_crl_path != NULL ? tr->tr_crl_path : "-", ca);
}

/*
 * With tls.crl_missing = accept: a CA whose list is not in the file, or
 * past its next update, does not fail the chain; a listed certificate
 * still does.
 */
static int
pki_crl_lenient(int ok, X509_STORE_CTX *ctx)
{
	if (ok)
		return 1;
	switch (X509_STORE_CTX_get_error(ctx)) {
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		pki_crl_missing(ctx);
		return 1;
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return 1;
	default:
		return 0;
	}
}

int
pki_trust_crls(struct pki_trust *tr, const char *path, int accept,
    char *err)
{
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *xi;
	BIO *b = NULL;
	FILE *fp;
	int i, n = 0, rc = -1;

	/* The file's identity from the descriptor read: pki_crl_watch(). */
	if ((fp = fopen(path, "r")) == NULL) {
		tn_err(err, "%s: cannot read revocation lists: %s", path,
		    strerror(errno));
		goto out;
	}
	if (fstat(fileno(fp), &tr->tr_crl_st) == -1 ||
	    (b = BIO_new_fp(fp, BIO_CLOSE)) == NULL) {
		tn_err(err, "%s: cannot read revocation lists: %s", path,
		    strerror(errno));
		fclose(fp);
		goto out;
	}
	if ((infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL)) == NULL) {
		tn_err_ssl(err, "%s: cannot read revocation lists", path);
		goto out;
	}
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		xi = sk_X509_INFO_value(infos, i);
		if (xi->crl == NULL)
			continue;
		if (!X509_STORE_add_crl(tr->tr_store, xi->crl)) {
			tn_err_ssl(err, "%s: cannot add a revocation list",
			    path);
			goto out;
		}
		n++;
	}
	if (n == 0) {
		tn_err(err, "%s: no revocation list (X509 CRL) in it", path);
		goto out;
	}
	X509_STORE_set_flags(tr->tr_store, X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_CRL_CHECK_ALL);
	if (accept)
		X509_STORE_set_verify_cb(tr->tr_store, pki_crl_lenient);
	tr->tr_crl_read = 1;
	tr->tr_crl_path = path;
	rc = 0;
out:
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(b);
	return rc;
}

void
pki_trust_say(struct pki_trust *tr, void (*say)(const char *, ...))
{
	tr->tr_say = say;
}

/* The same file, unchanged: same inode, size and modification time. */
static int
pki_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * Each list of store past its next update at now, said (with the file,
 * its CA, the date and what tls.crl_missing does with it); 1 if any.
 */
static int
pki_crl_stale(X509_STORE *store, time_t now, const char *path, int accept,
    void (*say)(const char *, ...))
{
	STACK_OF(X509_OBJECT) *objs;
	const ASN1_TIME *next;
	X509_CRL *crl;
	struct tm tm;
	char ca[80], when[32];
	time_t t;
	int i, any = 0;

	if (!X509_STORE_lock(store))
		return 0;
	objs = X509_STORE_get0_objects(store);
	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		if ((crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs,
		    i))) == NULL ||
		    (next = X509_CRL_get0_nextUpdate(crl)) == NULL ||
		    pki_time(next, &t) == -1 || t > now)
			continue;
		if (X509_NAME_get_text_by_NID(X509_CRL_get_issuer(crl),
		    NID_commonName, ca, (int)sizeof(ca)) <= 0)
			snprintf(ca, sizeof(ca), "(no name)");
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		say("crl status=stale file=%s ca=\"%s\" next_update=%s "
		    "action=%s", path, ca, when, accept ? "accept" : "refuse");
		any = 1;
	}
	X509_STORE_unlock(store);
	return any;
}

int
pki_crl_watch(struct pki_crl_watch *w, const struct pki_trust *tr,
    const char *path, int accept, time_t now,
    void (*say)(const char *, ...))
{
	struct stat st;

	if (!tr->tr_crl_read)
		return 0;
	if ((w->cw_stale_said == 0 || now - w->cw_stale_said >=
	    PKI_CRL_RESAY) && pki_crl_stale(tr->tr_store, now, path, accept,
	    say))
		w->cw_stale_said = now;
	if (stat(path, &st) == -1) {
		if (w->cw_error_said == 0 ||
		    now - w->cw_error_said >= PKI_CRL_RESAY) {
			say("crl status=unreadable file=%s reason=\"%s\"; "
			    "going on with the lists read before", path,
			    strerror(errno));
			w->cw_error_said = now;
		}
		return 0;
	}
	w->cw_error_said = 0;
	if (pki_same_file(&st, &tr->tr_crl_st) ||
	    (w->cw_tried_set && pki_same_file(&st, &w->cw_tried)))
		return 0;
	w->cw_tried = st;
	w->cw_tried_set = 1;
	w->cw_stale_said = 0;
	return 1;
}

/* The entry of x in a list of store, or NULL. */
static X509_REVOKED *
pki_crl_entry(X509_STORE *store, X509 *x)
{
	STACK_OF(X509_OBJECT) *objs;
	X509_REVOKED *rev = NULL;
	X509_CRL *crl;
	int i;

	if (store == NULL || !X509_STORE_lock(store))
		return NULL;
	objs = X509_STORE_get0_objects(store);
	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		if ((crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs,
		    i))) != NULL && X509_NAME_cmp(X509_CRL_get_issuer(crl),
		    X509_get_issuer_name(x)) == 0 &&
		    X509_CRL_get0_by_cert(crl, &rev, x) == 1)
			break;
		rev = NULL;
	}
	X509_STORE_unlock(store);
	return rev;
}

int
pki_revoked(X509_STORE_CTX *ctx, char *err)
{
	X509_REVOKED *rev;
	ASN1_ENUMERATED *why;
	BIGNUM *bn;
	X509 *x;
	char cn[80], ca[80], raw[256], *hex = NULL;
	int reason = -1;

	if (X509_STORE_CTX_get_error(ctx) != X509_V_ERR_CERT_REVOKED ||
	    (x = X509_STORE_CTX_get_current_cert(ctx)) == NULL)
		return 0;
	pki_cn(x, cn, sizeof(cn));
	if (X509_NAME_get_text_by_NID(X509_get_issuer_name(x),
	    NID_commonName, raw, (int)sizeof(raw)) <= 0)
		snprintf(ca, sizeof(ca), "(no name)");
	else
		util_escape(raw, ca, sizeof(ca), UTIL_ESC_SPACE);
	if ((rev = pki_crl_entry(X509_STORE_CTX_get0_store(ctx), x)) !=
	    NULL && (why = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL,
	    NULL)) != NULL) {
		reason = (int)ASN1_ENUMERATED_get(why);
		ASN1_ENUMERATED_free(why);
	}
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) !=
	    NULL)
		hex = BN_bn2hex(bn);
	tn_err(err, "certificate %s (%s) of CA %s is revoked: %s",
	    hex != NULL ? hex : "?", cn, ca,
	    reason >= 0 ? crl_reason_name(reason) : "unspecified");
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return 1;
}

X509_STORE *
pki_trust_store(const struct pki_trust *tr)
{
	return tr->tr_store;
}

static enum pki_fail
pki_fail_class(int code)
{
	switch (code) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return PKI_FAIL_UNTRUSTED;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		return PKI_FAIL_SIGNATURE;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
		return PKI_FAIL_TIME;
	case X509_V_ERR_PERMITTED_VIOLATION:
	case X509_V_ERR_EXCLUDED_VIOLATION:
	case X509_V_ERR_SUBTREE_MINMAX:
	case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
	case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
	case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
		return PKI_FAIL_NAME;
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_INVALID_NON_CA:
		return PKI_FAIL_PURPOSE;
	case X509_V_ERR_CERT_REVOKED:
		return PKI_FAIL_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
		return PKI_FAIL_CRL;
	default:
		return PKI_FAIL_OTHER;
	}
}

/* A private courier CA must constrain both rfc822Name and dNSName. */
static int
pki_private_nc_ok(X509 *ca)
{
	NAME_CONSTRAINTS *nc;
	GENERAL_SUBTREE *st;
	int crit, i, email = 0, dns = 0;

	nc = X509_get_ext_d2i(ca, NID_name_constraints, &crit, NULL);
	if (nc == NULL)
		return 0;
	for (i = 0; i < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); i++) {
		st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
		email |= st->base->type == GEN_EMAIL;
		dns |= st->base->type == GEN_DNS;
	}
	NAME_CONSTRAINTS_free(nc);
	return crit == 1 && email && dns;
}

/* A leaf names itself only by rfc822Name, dNSName and URI. */
static int
pki_leaf_names_ok(X509 *x)
{
	GENERAL_NAMES *gens;
	int i, t, ok = 1;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		t = sk_GENERAL_NAME_value(gens, i)->type;
		if (t != GEN_EMAIL && t != GEN_DNS && t != GEN_URI)
			ok = 0;
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

/* The courier CA at path[i] (i > 0, or a CA leaf), issued by path[i+1]. */
static int
pki_check_ca(STACK_OF(X509) *path, int i, enum pki_fail *why, char *err)
{
	X509 *x = sk_X509_value(path, i), *up;
	enum pki_role role = pki_cert_role(x), uprole;
	char cn[80], upcn[80];

	pki_cn(x, cn, sizeof(cn));
	*why = PKI_FAIL_ROLE;
	if (pki_cert_kind(x) != PKI_KIND_COURIER_CA || role == PKI_ROLE_NONE) {
		tn_err(err, "%s: not a courier CA with exactly one role", cn);
		return -1;
	}
	if (role == PKI_ROLE_PRIVATE && !pki_private_nc_ok(x)) {
		tn_err(err, "%s: private courier without critical email and "
		    "DNS name constraints", cn);
		return -1;
	}
	if (i == sk_X509_num(path) - 1)
		return 0;
	up = sk_X509_value(path, i + 1);
	uprole = pki_cert_role(up);
	pki_cn(up, upcn, sizeof(upcn));
	if (role == PKI_ROLE_ROOT) {
		tn_err(err, "%s: role root below the top (signed by %s)", cn,
		    upcn);
		return -1;
	}
	if (pki_cert_kind(up) == PKI_KIND_ISSUING) {
		tn_err(err, "%s: courier signed by the issuing CA %s; an "
		    "issuing CA signs only agent and courier-end certificates",
		    cn, upcn);
		return -1;
	}
	if (uprole != PKI_ROLE_ROOT && uprole != PKI_ROLE_PUBLIC &&
	    uprole != PKI_ROLE_GATEWAY) {
		tn_err(err, "%s: courier signed by %s, whose role %s may not "
		    "sign couriers", cn, upcn, pki_role_name(uprole));
		return -1;
	}
	return 0;
}

/*
 * The issuing CA at path[i] (1, or 0 when it is the leaf checked):
 * no role, path length 0, critical email and DNS name constraints,
 * signed by a courier CA.
 */
static int
pki_check_issuing(STACK_OF(X509) *path, int i, enum pki_fail *why,
    char *err)
{
	X509 *x = sk_X509_value(path, i), *up;
	char cn[80], upcn[80];

	pki_cn(x, cn, sizeof(cn));
	*why = PKI_FAIL_ROLE;
	if (i > 1) {
		tn_err(err, "%s: an issuing CA signs only agent and "
		    "courier-end certificates, not a CA", cn);
		return -1;
	}
	if (pki_cert_role(x) != PKI_ROLE_NONE || X509_get_pathlen(x) != 0 ||
	    !pki_private_nc_ok(x)) {
		tn_err(err, "%s: issuing CA with a role, without path length 0 "
		    "or without critical email and DNS name constraints", cn);
		return -1;
	}
	if (i + 1 >= sk_X509_num(path)) {
		tn_err(err, "%s: an issuing CA is no trust anchor", cn);
		return -1;
	}
	up = sk_X509_value(path, i + 1);
	if (pki_cert_kind(up) != PKI_KIND_COURIER_CA) {
		pki_cn(up, upcn, sizeof(upcn));
		tn_err(err, "%s: issuing CA signed by %s, which is not a "
		    "courier CA", cn, upcn);
		return -1;
	}
	return 0;
}

/* A leaf below an issuing CA: agent or courier-end, addresses only. */
static int
pki_check_issued(X509 *leaf, X509 *ica, enum pki_fail *why, char *err)
{
	enum pki_kind kind = pki_cert_kind(leaf);
	GENERAL_NAMES *gens;
	char cn[80], icn[80];
	int i, ok = 1;

	if (kind != PKI_KIND_AGENT && kind != PKI_KIND_COURIER_END) {
		pki_cn(leaf, cn, sizeof(cn));
		pki_cn(ica, icn, sizeof(icn));
		*why = PKI_FAIL_ROLE;
		tn_err(err, "%s: a %s certificate signed by the issuing CA %s, "
		    "which signs only agent and courier-end certificates", cn,
		    pki_kind_name(kind), icn);
		return -1;
	}
	gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++)
		if (sk_GENERAL_NAME_value(gens, i)->type != GEN_EMAIL)
			ok = 0;
	GENERAL_NAMES_free(gens);
	if (!ok) {
		pki_cn(leaf, cn, sizeof(cn));
		*why = PKI_FAIL_NAME;
		tn_err(err, "%s: below an issuing CA, a certificate names "
		    "only addresses (rfc822Name)", cn);
		return -1;
	}
	return 0;
}

/* Tandem's rules on a path that OpenSSL accepted: leaf first. */
static int
pki_check_path(STACK_OF(X509) *path, enum pki_fail *why, char *err)
{
	X509 *top, *leaf;
	char cn[80];
	int i, n = sk_X509_num(path);

	top = sk_X509_value(path, n - 1);
	leaf = sk_X509_value(path, 0);
	*why = PKI_FAIL_ROLE;
	if (pki_cert_role(top) != PKI_ROLE_ROOT) {
		pki_cn(top, cn, sizeof(cn));
		tn_err(err, "trust anchor %s is not a root courier", cn);
		return -1;
	}
	for (i = n - 1; i > 0; i--)
		if ((pki_cert_kind(sk_X509_value(path, i)) == PKI_KIND_ISSUING ?
		    pki_check_issuing(path, i, why, err) :
		    pki_check_ca(path, i, why, err)) == -1)
			return -1;
	if (pki_cert_kind(leaf) == PKI_KIND_COURIER_CA)
		return pki_check_ca(path, 0, why, err);
	if (pki_cert_kind(leaf) == PKI_KIND_ISSUING)
		return pki_check_issuing(path, 0, why, err);
	if (n > 1 && pki_cert_kind(sk_X509_value(path, 1)) ==
	    PKI_KIND_ISSUING && pki_check_issued(leaf, sk_X509_value(path, 1),
	    why, err) == -1)
		return -1;
	pki_cn(leaf, cn, sizeof(cn));
	if (pki_cert_kind(leaf) == PKI_KIND_NONE ||
	    pki_cert_role(leaf) != PKI_ROLE_NONE) {
		tn_err(err, "%s: not a Tandem certificate (kind missing, "
		    "ambiguous or with a role)", cn);
		return -1;
	}
	if (!pki_leaf_names_ok(leaf)) {
		*why = PKI_FAIL_NAME;
		tn_err(err, "%s: subjectAltName of a type other than email, "
		    "DNS or URI", cn);
		return -1;
	}
	return 0;
}

static int
pki_check_email(X509 *leaf, const char *email, enum pki_fail *why,
    char *err)
{
	char cn[80];

	if (X509_check_email(leaf, email, strlen(email),
	    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT) == 1)
		return 0;
	ERR_clear_error();
	pki_cn(leaf, cn, sizeof(cn));
	*why = PKI_FAIL_EMAIL;
	tn_err(err, "%s: certificate is not for %s", cn, email);
	return -1;
}

int
pki_verify_why(const struct pki_trust *tr, X509 *leaf,
    STACK_OF(X509) *chain, const char *email, enum pki_fail *whyp,
    char *err)
{
	X509_STORE_CTX *ctx;
	enum pki_fail why = PKI_FAIL_OTHER;
	char cn[80];
	int code, rc = -1;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, tr->tr_store, leaf, chain) ||
	    !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN)) {
		tn_err_ssl(err, "cannot set up verification");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		code = X509_STORE_CTX_get_error(ctx);
		why = pki_fail_class(code);
		if (X509_STORE_CTX_get_current_cert(ctx) != NULL)
			pki_cn(X509_STORE_CTX_get_current_cert(ctx), cn,
			    sizeof(cn));
		else
			pki_cn(leaf, cn, sizeof(cn));
		if (pki_revoked(ctx, err))
			;	/* err names it */
		else if (code == X509_V_ERR_UNABLE_TO_GET_CRL ||
		    code == X509_V_ERR_CRL_HAS_EXPIRED ||
		    code == X509_V_ERR_CRL_NOT_YET_VALID)
			tn_err(err, "%s: %s (tls.crl_missing = refuse)", cn,
			    X509_verify_cert_error_string(code));
		else
			tn_err(err, "%s: %s", cn,
			    X509_verify_cert_error_string(code));
		ERR_clear_error();
		goto out;
	}
	if (pki_check_path(X509_STORE_CTX_get0_chain(ctx), &why, err) == -1)
		goto out;
	if (email != NULL && pki_check_email(leaf, email, &why, err) == -1)
		goto out;
	why = PKI_FAIL_NONE;
	rc = 0;
out:
	X509_STORE_CTX_free(ctx);
	if (whyp != NULL)
		*whyp = why;
	return rc;
}

int
pki_verify(const struct pki_trust *tr, X509 *leaf, STACK_OF(X509) *chain,
    const char *email, char *err)
{
	return pki_verify_why(tr, leaf, chain, email, NULL, err);
}

SSL_CTX *
pki_tls_ctx(int server, X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    const char *name, char *err)
{
	SSL_CTX *ctx;
	int i;

	if ((ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method())) == NULL) {
		tn_err_ssl(err, "TLS context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1)
			goto fail;
	return ctx;
fail:
	tn_err_ssl(err, "%s", name);
	SSL_CTX_free(ctx);
	return NULL;
}

/* The certificate of certs whose key signed cert, or NULL. */
static X509 *
pki_signer_in(X509 *cert, STACK_OF(X509) *certs)
{
	X509 *c;
	int i;

	for (i = 0; i < sk_X509_num(certs); i++) {
		c = sk_X509_value(certs, i);
		if (X509_cmp(c, cert) != 0 &&
		    X509_check_issued(c, cert) == X509_V_OK &&
		    X509_verify(cert, X509_get0_pubkey(c)) == 1)
			return c;
	}
	ERR_clear_error();
	return NULL;
}

X509 *
pki_courier_ca(X509 *cert, STACK_OF(X509) *certs)
{
	enum pki_kind kind = pki_cert_kind(cert);
	X509 *up;

	if ((up = pki_signer_in(cert, certs)) != NULL &&
	    pki_cert_kind(up) == PKI_KIND_ISSUING &&
	    (kind == PKI_KIND_AGENT || kind == PKI_KIND_COURIER_END))
		up = pki_signer_in(up, certs);
	return up != NULL && pki_cert_kind(up) == PKI_KIND_COURIER_CA ? up :
	    NULL;
}

int
pki_key_id(X509 *cert, char *out)
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	int len, i, rc = -1;

	if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der)) > 0 &&
	    EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
	    mdlen == sizeof(md)) {
		for (i = 0; i < (int)sizeof(md); i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
		rc = 0;
	}
	OPENSSL_free(der);
	return rc;
}

/* One certificate: 1 when it expires before now + within, else 0. */
static int
pki_expiry_one(X509 *x, const char *what, const char *path, time_t now,
    long within, void (*say)(const char *, ...))
{
	const ASN1_TIME *na = X509_get0_notAfter(x);
	time_t limit = now + within;
	char subject[256], when[32];
	struct tm tm;
	int days = 0, secs = 0;

	if (X509_cmp_time(na, &limit) > 0)
		return 0;
	X509_NAME_oneline(X509_get_subject_name(x), subject,
	    sizeof(subject));
	if (ASN1_TIME_to_tm(na, &tm) != 1 ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(when, sizeof(when), "(unreadable date)");
	if (ASN1_TIME_diff(&days, &secs, NULL, na) != 1)
		days = secs = 0;
	if (days < 0 || secs < 0)
		say("certificate status=expired file=%s (%s) subject=\"%s\" "
		    "not_after=\"%s\"", path, what, subject, when);
	else
		say("certificate status=expiring file=%s (%s) subject=\"%s\" "
		    "not_after=\"%s\" days_left=%d", path, what, subject,
		    when, days);
	return 1;
}

int
pki_expiry_check(const struct conf *cf, const char *ca_dir, time_t now,
    void (*say)(const char *, ...))
{
	STACK_OF(X509) *sk = NULL;
	X509 *x = NULL;
	char err[TN_ERRLEN], path[PATH_MAX];
	int i, n = 0;

	if ((x = pki_load_cert(cf->cf_cert, err)) == NULL)
		say("certificate status=unreadable reason=\"%s\"", err);
	else
		n += pki_expiry_one(x, "tls.cert", cf->cf_cert, now,
		    cf->cf_expiry_warning, say);
	X509_free(x);
	x = NULL;
	if ((sk = pki_load_certs(cf->cf_chain, err)) == NULL)
		say("certificate status=unreadable reason=\"%s\"", err);
	for (i = 0; sk != NULL && i < sk_X509_num(sk); i++)
		n += pki_expiry_one(sk_X509_value(sk, i), "tls.chain",
		    cf->cf_chain, now, cf->cf_expiry_warning, say);
	sk_X509_pop_free(sk, X509_free);
	if (ca_dir != NULL && ca_dir[0] != '\0' &&
	    snprintf(path, sizeof(path), "%s/issuing.crt", ca_dir) <
	    (int)sizeof(path) && access(path, F_OK) == 0) {
		if ((x = pki_load_cert(path, err)) == NULL)
			say("certificate status=unreadable reason=\"%s\"",
			    err);
		else
			n += pki_expiry_one(x, "issuing CA", path, now,
			    cf->cf_expiry_warning, say);
		X509_free(x);
	}
	return n;
}
