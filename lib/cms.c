/*
 * NAME
 *	cms.c - the sealed content and the transport wrap (CMS)
 * DESCRIPTION
 *	See cms.h. Every layer is plain CMS as OpenSSL writes it:
 *	SignedData (binary, content included) inside AuthEnvelopedData
 *	(AES-256-GCM). Input is bounded by TN_MAX_MESSAGE before any
 *	parse, and the number of RecipientInfos and SignerInfos before
 *	any decryption or verification. A message passes through memory
 *	without growing buffers: DER is parsed in place, every output
 *	buffer is given its final size (cms_membio()), a result leaves
 *	OpenSSL without a copy (cms_bio_take(), cms_take_content()), and
 *	each layer is freed as soon as the next one is made.
 */
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <gmime/gmime.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cms.h"
#include "mimeutil.h"
#include "pki.h"
#include "tandem.h"
#include "util.h"

/*
 * A memory BIO whose buffer already holds cap bytes, for output of a
 * known or bounded size: written within cap it never grows, and so
 * never copies and cleanses what it holds (BUF_MEM_grow_clean()).
 * Its buffer comes from OPENSSL_malloc(), which is malloc(): nothing
 * in Tandem calls CRYPTO_set_mem_functions().
 */
static BIO *
cms_membio(size_t cap)
{
	BUF_MEM *bm;
	BIO *bio;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if ((bm = BUF_MEM_new()) == NULL ||
	    (bm->data = OPENSSL_malloc(cap > 0 ? cap : 1)) == NULL) {
		BUF_MEM_free(bm);
		BIO_free(bio);
		return NULL;
	}
	bm->max = cap > 0 ? cap : 1;
	bm->length = 0;
	BIO_set_mem_buf(bio, bm, BIO_CLOSE);
	return bio;
}

/*
 * Take what a memory BIO holds, NUL-terminated, without a copy: the
 * buffer leaves the BIO (which must still be freed) for the caller's
 * free().
 */
static int
cms_bio_take(BIO *bio, unsigned char **out, size_t *outlen, char *err)
{
	BUF_MEM *bm = NULL;
	size_t n;

	if (BIO_get_mem_ptr(bio, &bm) != 1 || bm == NULL) {
		tn_err_ssl(err, "no result");
		return -1;
	}
	if ((n = bm->length) > TN_MAX_MESSAGE) {
		tn_err(err, "result larger than %d bytes", TN_MAX_MESSAGE);
		return -1;
	}
	(void)BIO_set_close(bio, BIO_NOCLOSE);	/* bm is now ours */
	if (BUF_MEM_grow_clean(bm, n + 1) == 0) {	/* a copy only if full */
		BUF_MEM_free(bm);
		tn_err(err, "out of memory");
		return -1;
	}
	bm->data[n] = '\0';
	*out = (unsigned char *)bm->data;
	*outlen = n;
	bm->data = NULL;
	BUF_MEM_free(bm);
	return 0;
}

/* DER into a buffer of its exact size; S/MIME into one of its bound. */
static int
cms_to_buf(CMS_ContentInfo *cms, int smime, unsigned char **out,
    size_t *outlen, char *err)
{
	unsigned char *p;
	BIO *bio = NULL;
	int n, rc = -1;

	if ((n = i2d_CMS_ContentInfo(cms, NULL)) <= 0) {
		tn_err_ssl(err, "cannot encode CMS");
		return -1;
	}
	if (n > TN_MAX_MESSAGE) {
		tn_err(err, "result larger than %d bytes", TN_MAX_MESSAGE);
		return -1;
	}
	if (!smime) {
		if ((*out = p = malloc((size_t)n + 1)) == NULL) {
			tn_err(err, "out of memory");
			return -1;
		}
		if (i2d_CMS_ContentInfo(cms, &p) != n) {
			tn_err_ssl(err, "cannot encode CMS");
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[n] = '\0';
		*outlen = (size_t)n;
		return 0;
	}
	/* base64 of 64 columns, CRLF, and the MIME headers */
	if ((bio = cms_membio(((size_t)n + 2) / 3 * 4 + (size_t)n / 48 * 2 +
	    1024)) == NULL) {
		tn_err_ssl(err, "out of memory");
		return -1;
	}
	if (SMIME_write_CMS(bio, cms, NULL, CMS_BINARY) != 1) {
		tn_err_ssl(err, "cannot encode CMS");
		goto out;
	}
	rc = cms_bio_take(bio, out, outlen, err);
out:
	BIO_free(bio);
	return rc;
}

/* DER, or with allow_smime an S/MIME entity; NULL with err set. */
static CMS_ContentInfo *
cms_parse(const unsigned char *in, size_t inlen, int allow_smime, char *err)
{
	CMS_ContentInfo *cms = NULL;
	const unsigned char *p;
	BIO *bio;

	if (inlen == 0 || inlen > TN_MAX_MESSAGE) {
		tn_err(err, "CMS of %zu bytes refused (limit %d)", inlen,
		    TN_MAX_MESSAGE);
		return NULL;
	}
	if (in[0] == 0x30) {
		/* over in itself: d2i_CMS_bio() would copy it first */
		p = in;
		cms = d2i_CMS_ContentInfo(NULL, &p, (long)inlen);
	} else if (allow_smime) {
		if ((bio = BIO_new_mem_buf(in, (int)inlen)) == NULL) {
			tn_err_ssl(err, "out of memory");
			return NULL;
		}
		cms = SMIME_read_CMS(bio, NULL);
		BIO_free(bio);
	}
	if (cms == NULL)
		tn_err_ssl(err, "not a CMS structure");
	return cms;
}

int
cms_digest(const unsigned char *der, size_t derlen, unsigned char *digest)
{
	unsigned int n = 0;

	if (EVP_Digest(der, derlen, digest, &n, EVP_sha256(), NULL) != 1 ||
	    n != CMS_DIGESTLEN)
		return -1;
	return 0;
}

/*
 * The certificates of chain a SignedData carries: all but the trust
 * anchors (self-signed), which every verifier has configured. The
 * stack holds no references of its own; NULL when out of memory.
 */
static STACK_OF(X509) *
cms_carried(STACK_OF(X509) *chain)
{
	STACK_OF(X509) *c;
	X509 *x;
	int i;

	if ((c = sk_X509_new_null()) == NULL)
		return NULL;
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		x = sk_X509_value(chain, i);
		if (X509_self_signed(x, 0) != 1 && !sk_X509_push(c, x)) {
			sk_X509_free(c);
			return NULL;
		}
	}
	return c;
}

/*
 * Sign, or encrypt with an AuthEnvelopedData already given its RIs,
 * the bytes in. The content goes to a memory BIO of its final size,
 * given as CMS_final()'s dcont: CMS_dataFinal() hands that BIO's
 * buffer to the content OCTET STRING and marks the BIO read-only, so
 * freeing the BIO leaves the buffer to cms (without dcont, OpenSSL
 * makes the same BIO itself, empty, and grows it as the content
 * comes). CMS_BINARY: the content as is, and GCM adds no padding.
 */
static int
cms_final(CMS_ContentInfo *cms, const unsigned char *in, size_t inlen,
    const char *what, char *err)
{
	BIO *bio, *cont = NULL;
	int rc = -1;

	if ((bio = BIO_new_mem_buf(in, (int)inlen)) == NULL ||
	    (cont = cms_membio(inlen)) == NULL) {
		tn_err_ssl(err, "out of memory");
		goto out;
	}
	if (CMS_final(cms, bio, cont, CMS_BINARY) != 1) {
		tn_err_ssl(err, "%s", what);
		goto out;
	}
	rc = 0;
out:
	BIO_free(cont);
	BIO_free(bio);
	return rc;
}

/* SignedData of in, content included, as DER. */
static int
cms_sign_der(const unsigned char *in, size_t inlen, const struct cms_id *id,
    unsigned char **der, size_t *derlen, char *err)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *carried = NULL;
	int rc = -1;

	if (inlen > TN_MAX_MESSAGE) {
		tn_err(err, "message of %zu bytes refused (limit %d)", inlen,
		    TN_MAX_MESSAGE);
		return -1;
	}
	if (id == NULL || id->ci_cert == NULL || id->ci_key == NULL) {
		tn_err(err, "no signing certificate or key");
		return -1;
	}
	if ((carried = cms_carried(id->ci_chain)) == NULL) {
		tn_err_ssl(err, "out of memory");
		goto out;
	}
	/* SHA-256 named, no S/MIME capabilities: no lookups per message */
	if ((cms = CMS_sign(NULL, NULL, carried, NULL, CMS_BINARY |
	    CMS_PARTIAL)) == NULL ||
	    CMS_add1_signer(cms, id->ci_cert, id->ci_key, EVP_sha256(),
	    CMS_BINARY | CMS_NOSMIMECAP) == NULL) {
		tn_err_ssl(err, "cannot sign");
		goto out;
	}
	if (cms_final(cms, in, inlen, "cannot sign", err) == -1)
		goto out;
	rc = cms_to_buf(cms, 0, der, derlen, err);
out:
	CMS_ContentInfo_free(cms);
	sk_X509_free(carried);
	return rc;
}

int
cms_seal(const unsigned char *msg, size_t msglen, const struct cms_id *id,
    const char *msgid, unsigned char *key, unsigned char *digest,
    unsigned char **der, size_t *derlen, char *err)
{
	CMS_ContentInfo *cms = NULL;
	unsigned char *signed_der = NULL, *kek = NULL, *kid = NULL;
	size_t signed_len, idlen;
	int rc = -1;

	*der = NULL;
	if (msgid == NULL || (idlen = strlen(msgid)) == 0 ||
	    idlen > TN_MAX_MSGID) {
		tn_err(err, "bad message id");
		return -1;
	}
	if (cms_sign_der(msg, msglen, id, &signed_der, &signed_len, err) == -1)
		goto out;
	/* CMS_add0_recipient_key takes ownership of both buffers. */
	if ((kek = OPENSSL_malloc(CMS_KEYLEN)) == NULL ||
	    (kid = OPENSSL_memdup(msgid, idlen)) == NULL ||
	    util_random(kek, CMS_KEYLEN) == -1) {
		tn_err_ssl(err, "cannot make a content key");
		goto out;
	}
	memcpy(key, kek, CMS_KEYLEN);
	if ((cms = CMS_encrypt(NULL, NULL, EVP_aes_256_gcm(),
	    CMS_BINARY | CMS_PARTIAL)) == NULL) {
		tn_err_ssl(err, "cannot start AuthEnvelopedData");
		goto out;
	}
	if (CMS_add0_recipient_key(cms, NID_id_aes256_wrap, kek, CMS_KEYLEN,
	    kid, idlen, NULL, NULL, NULL) == NULL) {
		tn_err_ssl(err, "cannot add the KEK recipient");
		goto out;
	}
	kek = kid = NULL;
	if (cms_final(cms, signed_der, signed_len, "cannot encrypt",
	    err) == -1)
		goto out;
	free(signed_der);	/* cms holds it encrypted */
	signed_der = NULL;
	if (cms_to_buf(cms, 0, der, derlen, err) == -1)
		goto out;
	if (cms_digest(*der, *derlen, digest) == -1) {
		tn_err_ssl(err, "cannot compute the digest");
		goto out;
	}
	rc = 0;
out:
	if (rc == -1) {
		free(*der);
		*der = NULL;
		OPENSSL_cleanse(key, CMS_KEYLEN);
	}
	OPENSSL_clear_free(kek, CMS_KEYLEN);
	OPENSSL_free(kid);
	CMS_ContentInfo_free(cms);
	free(signed_der);
	return rc;
}

/*
 * A key agreement's key wrap is AES Key Wrap (RFC 3394), as
 * CMS_encrypt() chooses it; not the padded kind (RFC 5649), whose
 * unwrap in OpenSSL 3.0 writes 8 bytes past its output when the
 * check fails (CRYPTO_128_unwrap_pad()), as a message can make it.
 */
static int
cms_kari_wrap_ok(CMS_RecipientInfo *ri)
{
	X509_ALGOR *alg, *wrap;
	ASN1_OCTET_STRING *ukm;
	const ASN1_OBJECT *oid;
	const void *pval;
	const ASN1_STRING *seq;
	const unsigned char *p;
	int ptype, nid;

	if (CMS_RecipientInfo_type(ri) != CMS_RECIPINFO_AGREE)
		return 1;
	if (CMS_RecipientInfo_kari_get0_alg(ri, &alg, &ukm) != 1 ||
	    alg == NULL)
		return 0;
	X509_ALGOR_get0(&oid, &ptype, &pval, alg);
	if (ptype != V_ASN1_SEQUENCE || (seq = pval) == NULL)
		return 0;
	p = ASN1_STRING_get0_data(seq);
	if ((wrap = d2i_X509_ALGOR(NULL, &p, ASN1_STRING_length(seq))) ==
	    NULL)
		return 0;
	nid = OBJ_obj2nid(wrap->algorithm);
	X509_ALGOR_free(wrap);
	return nid == NID_id_aes128_wrap || nid == NID_id_aes192_wrap ||
	    nid == NID_id_aes256_wrap;
}

/* Parse an authenticated enveloped layer and bound its RecipientInfos. */
static CMS_ContentInfo *
cms_parse_enveloped(const unsigned char *in, size_t inlen, int allow_smime,
    char *err)
{
	CMS_ContentInfo *cms;
	STACK_OF(CMS_RecipientInfo) *ris;
	int i, nid, n;

	if ((cms = cms_parse(in, inlen, allow_smime, err)) == NULL)
		return NULL;
	nid = OBJ_obj2nid(CMS_get0_type(cms));
	if (nid == NID_pkcs7_enveloped) {
		/* CBC and its kin: a changed ciphertext would go unnoticed. */
		tn_err(err, "content encrypted without authentication (CMS "
		    "EnvelopedData) refused: Tandem content is "
		    "AuthEnvelopedData (AES-GCM)");
		goto bad;
	}
	if (nid != NID_id_smime_ct_authEnvelopedData) {
		tn_err(err, "CMS type %s is not the enveloped data expected",
		    OBJ_nid2sn(nid));
		goto bad;
	}
	ris = CMS_get0_RecipientInfos(cms);
	n = ris == NULL ? 0 : sk_CMS_RecipientInfo_num(ris);
	if (n < 1 || n > TN_MAX_RECIPINFOS) {
		tn_err(err, "%d RecipientInfos refused (1 to %d)", n,
		    TN_MAX_RECIPINFOS);
		goto bad;
	}
	for (i = 0; i < n; i++)
		if (!cms_kari_wrap_ok(sk_CMS_RecipientInfo_value(ris, i))) {
			tn_err(err, "RecipientInfo %d: key wrap other than "
			    "AES Key Wrap refused", i + 1);
			ERR_clear_error();
			goto bad;
		}
	return cms;
bad:
	CMS_ContentInfo_free(cms);
	return NULL;
}

/*
 * Check the signer's certificate to a trust anchor, for S/MIME signing;
 * -2 when a CA's revocation list is missing or out of date.
 */
static int
cms_chain(X509 *signer, STACK_OF(X509) *certs, X509_STORE *store, char *err)
{
	X509_STORE_CTX *ctx;
	int code, rc = -1;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, store, signer, certs) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN) != 1) {
		tn_err_ssl(err, "cannot set up certificate verification");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		code = X509_STORE_CTX_get_error(ctx);
		if (code == X509_V_ERR_UNABLE_TO_GET_CRL ||
		    code == X509_V_ERR_CRL_HAS_EXPIRED ||
		    code == X509_V_ERR_CRL_NOT_YET_VALID) {
			tn_err(err, "signer certificate cannot be checked: %s "
			    "(tls.crl_missing = refuse)",
			    X509_verify_cert_error_string(code));
			rc = -2;
		} else if (!pki_revoked(ctx, err))
			tn_err(err, "signer certificate does not chain to a "
			    "trust anchor: %s",
			    X509_verify_cert_error_string(code));
		ERR_clear_error();
		goto out;
	}
	rc = 0;
out:
	X509_STORE_CTX_free(ctx);
	return rc;
}

#define CMS_MEMO_MAXCERTS	8

/*
 * The SHA-256 of signer and of each of certs into key, and the span
 * in which they and every anchor of store are valid; -1 if any of it
 * cannot be had (the chain is then checked as usual).
 */
static int
cms_memo_key(X509 *signer, STACK_OF(X509) *certs, X509_STORE *store,
    unsigned char *key, size_t *klen, time_t *from, time_t *until)
{
	unsigned int n;
	X509 *x;
	int i, nc = sk_X509_num(certs);

	*from = 0;
	*until = (time_t)INT64_MAX;
	*klen = 0;
	if (nc < 0 || nc > CMS_MEMO_MAXCERTS)
		return -1;
	for (i = -1; i < nc; i++) {
		x = i < 0 ? signer : sk_X509_value(certs, i);
		if (X509_digest(x, EVP_sha256(), key + *klen, &n) != 1 ||
		    n != CMS_DIGESTLEN || pki_narrow(x, from, until) == -1)
			return -1;
		*klen += n;
	}
	/* Anchors and lists are fixed once loaded: only their dates. */
	return pki_store_narrow(store, from, until);
}

/*
 * cms_chain(), whose success src may remember: for the same signer
 * and certificates (by SHA-256) and the same store the answer only
 * changes with time, so it holds while all of them, every anchor and
 * every revocation list of store are within their validity (src
 * lives as long as store: a reload makes new ones of both).
 */
static int
cms_chain_memo(X509 *signer, STACK_OF(X509) *certs, X509_STORE *store,
    const struct cms_certsrc *src, char *err)
{
	unsigned char key[(CMS_MEMO_MAXCERTS + 1) * CMS_DIGESTLEN];
	size_t klen;
	time_t from, until, now = time(NULL);
	int memo, rc;

	memo = src != NULL && src->cs_recall != NULL &&
	    src->cs_remember != NULL && cms_memo_key(signer, certs, store,
	    key, &klen, &from, &until) == 0;
	if (memo && src->cs_recall(src->cs_ctx, key, klen, now))
		return 0;
	if ((rc = cms_chain(signer, certs, store, err)) != 0)
		return rc;
	if (memo)
		src->cs_remember(src->cs_ctx, key, klen, from, until);
	return 0;
}

static int
cms_signer_of(CMS_ContentInfo *cms, X509 **signer, char *err)
{
	STACK_OF(X509) *signers;

	if ((signers = CMS_get0_signers(cms)) == NULL ||
	    sk_X509_num(signers) != 1) {
		tn_err(err, "expected exactly one signer certificate");
		sk_X509_free(signers);
		return -1;
	}
	*signer = sk_X509_value(signers, 0);
	X509_up_ref(*signer);
	sk_X509_free(signers);
	return 0;
}

/* A DER TLV at p: its header and content lengths; -1 if not plain DER. */
static int
cms_tlv(const unsigned char *p, size_t avail, unsigned char tag, size_t *hlen,
    size_t *clen)
{
	size_t i, n, len = 0;

	if (avail < 2 || p[0] != tag)
		return -1;
	if (p[1] < 0x80) {
		*hlen = 2;
		len = p[1];
	} else {
		n = p[1] & 0x7f;
		if (n == 0 || n > 3 || avail < 2 + n)
			return -1;	/* indefinite, or over 16 MB */
		for (i = 0; i < n; i++)
			len = len << 8 | p[2 + i];
		*hlen = 2 + n;
	}
	if (len > avail - *hlen)
		return -1;
	*clen = len;
	return 0;
}

/* A DER header for tag and len into out (5 bytes at most); its length. */
static size_t
cms_der_head(unsigned char *out, unsigned char tag, size_t len)
{
	size_t i, n = 0;

	out[0] = tag;
	if (len < 0x80) {
		out[1] = (unsigned char)len;
		return 2;
	}
	for (i = len; i > 0; i >>= 8)
		n++;
	out[1] = (unsigned char)(0x80 | n);
	for (i = 0; i < n; i++)
		out[2 + i] = (unsigned char)(len >> (8 * (n - 1 - i)));
	return 2 + n;
}

/* Where the parts of a DER ContentInfo of SignedData lie. */
struct cms_sdpos {
	const unsigned char	*sp_oid;	/* contentType, whole TLV */
	size_t			 sp_oidlen;
	const unsigned char	*sp_sd;		/* SignedData contents */
	size_t			 sp_sdlen;
	const unsigned char	*sp_certs;	/* [0] certificates, TLV */
	size_t			 sp_certslen;
	size_t			 sp_certshead;
};

/*
 * ContentInfo SEQUENCE { OID, [0] { SEQUENCE { version, digest
 * algorithms, encapContentInfo, [0] certificates, ... } } }; -1 if
 * der is laid out otherwise, or carries no certificates.
 */
static int
cms_sd_locate(const unsigned char *der, size_t len, struct cms_sdpos *sp)
{
	static const unsigned char tags[3] = { 0x02, 0x31, 0x30 };
	const unsigned char *p, *end = der + len;
	size_t h, c, i;

	if (cms_tlv(der, len, 0x30, &h, &c) == -1 || h + c != len)
		return -1;
	p = der + h;
	if (cms_tlv(p, (size_t)(end - p), 0x06, &h, &c) == -1)
		return -1;
	sp->sp_oid = p;
	sp->sp_oidlen = h + c;
	p += h + c;
	if (cms_tlv(p, (size_t)(end - p), 0xa0, &h, &c) == -1 ||
	    p + h + c != end)
		return -1;
	p += h;
	if (cms_tlv(p, (size_t)(end - p), 0x30, &h, &c) == -1 ||
	    p + h + c != end)
		return -1;
	sp->sp_sd = p + h;
	sp->sp_sdlen = c;
	for (p = sp->sp_sd, i = 0; i < 3; i++, p += h + c)
		if (cms_tlv(p, (size_t)(end - p), tags[i], &h, &c) == -1)
			return -1;
	if (cms_tlv(p, (size_t)(end - p), 0xa0, &h, &c) == -1)
		return -1;
	sp->sp_certs = p;
	sp->sp_certshead = h;
	sp->sp_certslen = h + c;
	return 0;
}

/* Each certificate of the [0] field through src; -1 if one fails. */
static int
cms_sd_certs(const struct cms_sdpos *sp, const struct cms_certsrc *src,
    STACK_OF(X509) *certs)
{
	const unsigned char *p, *end = sp->sp_certs + sp->sp_certslen;
	size_t h, c;
	X509 *x;

	for (p = sp->sp_certs + sp->sp_certshead; p < end; p += h + c) {
		if (cms_tlv(p, (size_t)(end - p), 0x30, &h, &c) == -1 ||
		    (x = src->cs_get(src->cs_ctx, p, h + c)) == NULL)
			return -1;
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			return -1;
		}
	}
	return 0;
}

/*
 * Lay out bare within own, the writable der it was located in: the
 * new headers and contentType end where the SignedData contents
 * begin (they are no longer than the old ones), the fields after the
 * certificates move down over them, and the content stays where it
 * is. *bare points into own; -1 if the prefix is unusually long.
 */
static int
cms_strip_inplace(const unsigned char *der, unsigned char *own,
    const struct cms_sdpos *sp, unsigned char hd[3][8], const size_t *hl,
    size_t sdlen, unsigned char **bare, size_t *barelen)
{
	unsigned char head[64], *b;
	size_t before, plen;

	plen = hl[0] + sp->sp_oidlen + hl[1] + hl[2];
	if (plen > sizeof(head) || plen > (size_t)(sp->sp_sd - der))
		return -1;
	memcpy(head, hd[0], hl[0]);
	memcpy(b = head + hl[0], sp->sp_oid, sp->sp_oidlen);
	memcpy(b += sp->sp_oidlen, hd[1], hl[1]);
	memcpy(b + hl[1], hd[2], hl[2]);
	before = (size_t)(sp->sp_certs - sp->sp_sd);
	memmove(own + (sp->sp_certs - der), sp->sp_certs + sp->sp_certslen,
	    sdlen - before);
	*bare = own + (sp->sp_sd - der) - plen;
	memcpy(*bare, head, plen);
	*barelen = plen + sdlen;
	return 0;
}

/*
 * The DER SignedData without its certificates into *bare, and in
 * *certs what src gives for each of them. With own (der itself,
 * writable, which is then no longer der), *bare may point into own
 * (returns 1); else it is new, to be passed to free() (returns 0).
 * -1 with nothing allocated or changed when der is not laid out as
 * expected or src fails (the caller then parses der whole).
 */
static int
cms_strip_certs(const unsigned char *der, size_t len, unsigned char *own,
    const struct cms_certsrc *src, unsigned char **bare, size_t *barelen,
    STACK_OF(X509) **certs)
{
	struct cms_sdpos sp;
	unsigned char hd[3][8], *b;
	size_t hl[3], sdlen, before;

	*bare = NULL;
	*certs = NULL;
	if (cms_sd_locate(der, len, &sp) == -1 ||
	    (*certs = sk_X509_new_null()) == NULL ||
	    cms_sd_certs(&sp, src, *certs) == -1)
		goto fail;
	sdlen = sp.sp_sdlen - sp.sp_certslen;
	hl[2] = cms_der_head(hd[2], 0x30, sdlen);
	hl[1] = cms_der_head(hd[1], 0xa0, hl[2] + sdlen);
	hl[0] = cms_der_head(hd[0], 0x30, sp.sp_oidlen + hl[1] + hl[2] +
	    sdlen);
	if (own != NULL && cms_strip_inplace(der, own, &sp, hd, hl, sdlen,
	    bare, barelen) == 0)
		return 1;
	*barelen = hl[0] + sp.sp_oidlen + hl[1] + hl[2] + sdlen;
	if ((b = *bare = malloc(*barelen)) == NULL)
		goto fail;
	before = (size_t)(sp.sp_certs - sp.sp_sd);
	memcpy(b, hd[0], hl[0]);
	memcpy(b += hl[0], sp.sp_oid, sp.sp_oidlen);
	memcpy(b += sp.sp_oidlen, hd[1], hl[1]);
	memcpy(b += hl[1], hd[2], hl[2]);
	memcpy(b += hl[2], sp.sp_sd, before);
	memcpy(b + before, sp.sp_certs + sp.sp_certslen,
	    sdlen - before);
	return 0;
fail:
	sk_X509_pop_free(*certs, X509_free);
	*certs = NULL;
	return -1;
}

/*
 * Parse a SignedData DER and bound its SignerInfos (CMS_FAIL_INPUT);
 * with src, the certificates it carries are taken through src into
 * *carried and left out of the parse, in place when own (der itself,
 * writable, not valid DER afterwards) is not NULL.
 */
static CMS_ContentInfo *
cms_parse_signed(const unsigned char *der, size_t derlen, unsigned char *own,
    const struct cms_certsrc *src, STACK_OF(X509) **carried, char *err)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	unsigned char *bare = NULL;
	size_t barelen = 0;
	int n, inplace = 0;

	*carried = NULL;
	if (src != NULL && derlen <= TN_MAX_MESSAGE)
		inplace = cms_strip_certs(der, derlen, own, src, &bare,
		    &barelen, carried) == 1;
	cms = bare != NULL ? cms_parse(bare, barelen, 0, err) :
	    cms_parse(der, derlen, 0, err);
	if (!inplace)
		free(bare);
	if (cms == NULL)
		goto bad;
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		tn_err(err, "inner CMS is not signed data");
		goto bad;
	}
	sis = CMS_get0_SignerInfos(cms);
	n = sis == NULL ? 0 : sk_CMS_SignerInfo_num(sis);
	if (n < 1 || n > CMS_MAX_SIGNERS) {
		tn_err(err, "%d SignerInfos refused (1 to %d)", n,
		    CMS_MAX_SIGNERS);
		goto bad;
	}
	return cms;
bad:
	CMS_ContentInfo_free(cms);
	sk_X509_pop_free(*carried, X509_free);
	*carried = NULL;
	return NULL;
}

/*
 * Take the content of a verified SignedData out of cms without a
 * copy. The decoder gave it a buffer of its own, NUL-terminated
 * (ASN1_STRING_set(), or the constructed form's collected buffer),
 * from OPENSSL_malloc(), which is malloc() (see cms_membio()).
 */
static int
cms_take_content(CMS_ContentInfo *cms, unsigned char **out, size_t *outlen,
    char *err)
{
	ASN1_OCTET_STRING **pos;

	if ((pos = CMS_get0_content(cms)) == NULL || *pos == NULL) {
		tn_err_ssl(err, "signed data has no content");
		return -1;
	}
	if ((size_t)(*pos)->length > TN_MAX_MESSAGE) {
		tn_err(err, "result larger than %d bytes", TN_MAX_MESSAGE);
		return -1;
	}
	if ((*pos)->data == NULL) {	/* empty: no buffer to take */
		if ((*out = calloc(1, 1)) == NULL) {
			tn_err(err, "out of memory");
			return -1;
		}
		*outlen = 0;
		return 0;
	}
	*out = (*pos)->data;
	*outlen = (size_t)(*pos)->length;
	(*pos)->data = NULL;	/* ASN1_STRING_set0() would free it */
	(*pos)->length = 0;
	return 0;
}

/*
 * Verify a SignedData parsed by cms_parse_signed(): the signature
 * first (CMS_FAIL_SIGNATURE), then the signer to store
 * (CMS_FAIL_CHAIN); *carried (cms_parse_signed()'s) is taken, or left
 * for the caller to free on failure. CMS_verify() digests the content
 * in place and writes it nowhere; cms_take_content() then takes it.
 */
static int
cms_verify_cms(CMS_ContentInfo *cms, STACK_OF(X509) **carried,
    X509_STORE *store, const struct cms_certsrc *src, unsigned char **out,
    size_t *outlen, X509 **signer, STACK_OF(X509) **certsp,
    enum cms_fail *fail, char *err)
{
	STACK_OF(X509) *certs = NULL;
	int chained, rc = -1;

	*signer = NULL;
	*fail = CMS_FAIL_INTERNAL;
	if (CMS_verify(cms, *carried, store, NULL, NULL,
	    CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		*fail = CMS_FAIL_SIGNATURE;
		tn_err_ssl(err, "signature does not verify");
		goto out;
	}
	if (cms_signer_of(cms, signer, err) == -1) {
		*fail = CMS_FAIL_SIGNATURE;
		goto out;
	}
	if (*carried != NULL) {
		certs = *carried;	/* what the CMS carried, in order */
		*carried = NULL;
	} else
		certs = CMS_get1_certs(cms);
	if ((chained = cms_chain_memo(*signer, certs, store, src,
	    err)) != 0) {
		*fail = chained == -2 ? CMS_FAIL_CRL : CMS_FAIL_CHAIN;
		goto out;
	}
	if (cms_take_content(cms, out, outlen, err) == -1)
		goto out;
	if (certsp != NULL) {
		*certsp = certs;
		certs = NULL;
	}
	*fail = CMS_FAIL_NONE;
	rc = 0;
out:
	if (rc == -1) {
		X509_free(*signer);
		*signer = NULL;
	}
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/*
 * cms_parse_signed(), then cms_verify_cms(). With drop not NULL, der
 * is *drop, which is freed (and set NULL) once parsed: the parse holds
 * what is needed of it.
 */
static int
cms_verify_der(const unsigned char *der, size_t derlen, unsigned char **drop,
    X509_STORE *store, const struct cms_certsrc *src, unsigned char **out,
    size_t *outlen, X509 **signer, STACK_OF(X509) **certsp,
    enum cms_fail *fail, char *err)
{
	CMS_ContentInfo *cms;
	STACK_OF(X509) *carried = NULL;
	int rc;

	*signer = NULL;
	*fail = CMS_FAIL_INPUT;
	cms = cms_parse_signed(der, derlen, drop != NULL ? *drop : NULL, src,
	    &carried, err);
	if (drop != NULL) {
		free(*drop);
		*drop = NULL;
	}
	if (cms == NULL)
		return -1;
	rc = cms_verify_cms(cms, &carried, store, src, out, outlen, signer,
	    certsp, fail, err);
	sk_X509_pop_free(carried, X509_free);
	CMS_ContentInfo_free(cms);
	return rc;
}

/*
 * Decrypt an enveloped layer, already keyed, into a buffer sized to
 * the ciphertext (GCM: as long as the plaintext) and its NUL.
 */
static int
cms_decrypt_buf(CMS_ContentInfo *cms, EVP_PKEY *pkey, X509 *cert,
    unsigned char **out, size_t *outlen, char *err)
{
	ASN1_OCTET_STRING **pos;
	size_t cap = 1;
	BIO *bio;
	int rc = -1;

	if ((pos = CMS_get0_content(cms)) != NULL && *pos != NULL)
		cap += (size_t)ASN1_STRING_length(*pos);
	if ((bio = cms_membio(cap)) == NULL) {
		tn_err_ssl(err, "out of memory");
		return -1;
	}
	if (CMS_decrypt(cms, pkey, cert, NULL, bio, CMS_BINARY) != 1) {
		tn_err_ssl(err, "cannot decrypt (wrong key, or the content "
		    "was altered)");
		goto out;
	}
	rc = cms_bio_take(bio, out, outlen, err);
out:
	BIO_free(bio);
	return rc;
}

/*
 * The single From: address of the inner message; *shape is set when
 * the message itself is refused (not MIME, nested too deep, too many
 * parts: the limits of the outer mails, mimeutil.h), before GMime's
 * parser, which recurses once per level, sees too many types; shape
 * NULL: the From: alone (the sender's own message, before sealing).
 */
static int
cms_inner_from(const unsigned char *msg, size_t msglen, char **addr,
    int *shape, char *err)
{
	GMimeStream *stream = NULL;
	GMimeParser *parser = NULL;
	GMimeMessage *m = NULL;
	InternetAddressList *from;
	InternetAddress *ia;
	GMimeHeaderList *hl;
	const char *a;
	char why[TN_ERRLEN];
	int i, froms, rc = -1;

	*addr = NULL;
	if (shape != NULL) {
		*shape = 1;
		if (mime_prescan((const char *)msg, msglen, why) == -1) {
			tn_err(err, "inner message: %s", why);
			return -1;
		}
		*shape = 0;
	}
	g_mime_init();
	stream = g_mime_stream_mem_new_with_buffer((const char *)msg, msglen);
	parser = g_mime_parser_new_with_stream(stream);
	if ((m = g_mime_parser_construct_message(parser, NULL)) == NULL) {
		tn_err(err, "inner message is not a MIME message");
		goto out;
	}
	if (shape != NULL && g_mime_message_get_mime_part(m) != NULL &&
	    mime_check_shape(g_mime_message_get_mime_part(m), why) == -1) {
		*shape = 1;
		tn_err(err, "inner message: %s", why);
		goto out;
	}
	hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
	for (i = 0, froms = 0; i < g_mime_header_list_get_count(hl); i++)
		if (g_ascii_strcasecmp(g_mime_header_get_name(
		    g_mime_header_list_get_header_at(hl, i)), "From") == 0)
			froms++;
	if (froms != 1) {
		tn_err(err, "inner message has %d From: headers (exactly 1 "
		    "expected)", froms);
		goto out;
	}
	from = g_mime_message_get_from(m);
	if (from == NULL || internet_address_list_length(from) != 1 ||
	    !INTERNET_ADDRESS_IS_MAILBOX(ia =
	    internet_address_list_get_address(from, 0)) ||
	    (a = internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(ia))) == NULL || *a == '\0') {
		tn_err(err, "inner message has no single From: address");
		goto out;
	}
	if (strlen(a) > TN_MAX_ADDRESS || (*addr = strdup(a)) == NULL) {
		tn_err(err, "bad From: address");
		goto out;
	}
	rc = 0;
out:
	if (m != NULL)
		g_object_unref(m);
	if (parser != NULL)
		g_object_unref(parser);
	if (stream != NULL)
		g_object_unref(stream);
	return rc;
}

int
cms_from_address(const unsigned char *msg, size_t msglen, char **addr,
    char *err)
{
	return cms_inner_from(msg, msglen, addr, NULL, err);
}

static int
cms_check_sender(const unsigned char *msg, size_t msglen, X509 *signer,
    enum cms_fail *fail, char *err)
{
	char *from;
	int rc = -1, shape;

	if (cms_inner_from(msg, msglen, &from, &shape, err) == -1) {
		*fail = shape ? CMS_FAIL_INPUT : CMS_FAIL_SENDER;
		return -1;
	}
	if (X509_check_email(signer, from, strlen(from), 0) != 1) {
		*fail = CMS_FAIL_SENDER;
		tn_err(err, "signer certificate is not for the From: "
		    "address %s", from);
		goto out;
	}
	rc = 0;
out:
	free(from);
	return rc;
}

static int
cms_open_kek(const unsigned char *der, size_t derlen, const char *msgid,
    const unsigned char *key, unsigned char **signed_der, size_t *signed_len,
    enum cms_fail *fail, char *err)
{
	CMS_ContentInfo *cms;
	int rc = -1;

	*fail = CMS_FAIL_INPUT;
	if ((cms = cms_parse_enveloped(der, derlen, 0, err)) == NULL)
		return -1;
	*fail = CMS_FAIL_DECRYPT;
	if (CMS_decrypt_set1_key(cms, (unsigned char *)key, CMS_KEYLEN,
	    (const unsigned char *)msgid, strlen(msgid)) != 1) {
		tn_err_ssl(err, "cannot decrypt with the key for message id "
		    "%s (wrong key, or the content was altered)", msgid);
		goto out;
	}
	if (cms_decrypt_buf(cms, NULL, NULL, signed_der, signed_len,
	    err) == -1)
		goto out;
	*fail = CMS_FAIL_NONE;
	rc = 0;
out:
	CMS_ContentInfo_free(cms);
	return rc;
}

int
cms_open(const unsigned char *der, size_t derlen, const char *msgid,
    const unsigned char *key, const unsigned char *digest,
    X509_STORE *store, unsigned char **msg, size_t *msglen, X509 **signer,
    STACK_OF(X509) **certs, enum cms_fail *fail, char *err)
{
	unsigned char got[CMS_DIGESTLEN], *signed_der = NULL;
	size_t signed_len;
	X509 *who = NULL;
	int rc = -1;

	*msg = NULL;
	if (certs != NULL)
		*certs = NULL;
	*fail = CMS_FAIL_INPUT;
	if (derlen == 0 || derlen > TN_MAX_MESSAGE) {
		tn_err(err, "sealed content of %zu bytes refused (limit %d)",
		    derlen, TN_MAX_MESSAGE);
		goto out;
	}
	if (cms_digest(der, derlen, got) == -1) {
		*fail = CMS_FAIL_INTERNAL;
		tn_err_ssl(err, "cannot compute the digest");
		goto out;
	}
	if (CRYPTO_memcmp(got, digest, CMS_DIGESTLEN) != 0) {
		*fail = CMS_FAIL_DIGEST;
		tn_err(err, "sealed content does not match the digest in "
		    "the ARM record");
		goto out;
	}
	if (cms_open_kek(der, derlen, msgid, key, &signed_der, &signed_len,
	    fail, err) == -1)
		goto out;
	if (cms_verify_der(signed_der, signed_len, &signed_der, store, NULL,
	    msg, msglen, &who, certs, fail, err) == -1)
		goto out;
	if (cms_check_sender(*msg, *msglen, who, fail, err) == -1) {
		if (certs != NULL) {
			sk_X509_pop_free(*certs, X509_free);
			*certs = NULL;
		}
		goto out;
	}
	if (signer != NULL) {
		*signer = who;
		who = NULL;
	}
	rc = 0;
out:
	if (rc == -1) {
		free(*msg);
		*msg = NULL;
	}
	X509_free(who);
	free(signed_der);
	return rc;
}

/* Ask for ECDH with a SHA-256 KDF, or RSA-OAEP with SHA-256. */
static int
cms_recip_params(CMS_RecipientInfo *ri, X509 *cert, char *err)
{
	EVP_PKEY_CTX *pctx;
	EVP_PKEY *pk;

	if ((pctx = CMS_RecipientInfo_get0_pkey_ctx(ri)) == NULL ||
	    (pk = X509_get0_pubkey(cert)) == NULL) {
		tn_err_ssl(err, "recipient has no usable key");
		return -1;
	}
	if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0) {
			tn_err_ssl(err, "cannot set the ECDH KDF");
			return -1;
		}
	} else if (EVP_PKEY_is_a(pk, "RSA")) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_OAEP_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0) {
			tn_err_ssl(err, "cannot set RSA-OAEP");
			return -1;
		}
	} else {
		tn_err(err, "recipient key type %s not supported",
		    EVP_PKEY_get0_type_name(pk));
		return -1;
	}
	return 0;
}

/* An AuthEnvelopedData for the n certificates of rcpts, not final. */
static CMS_ContentInfo *
cms_envelope_new(STACK_OF(X509) *rcpts, int n, char *err)
{
	CMS_ContentInfo *cms;
	CMS_RecipientInfo *ri;
	X509 *x;
	int i;

	if ((cms = CMS_encrypt(NULL, NULL, EVP_aes_256_gcm(),
	    CMS_BINARY | CMS_PARTIAL)) == NULL) {
		tn_err_ssl(err, "cannot start AuthEnvelopedData");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		x = sk_X509_value(rcpts, i);
		if ((ri = CMS_add1_recipient_cert(cms, x,
		    CMS_KEY_PARAM)) == NULL) {
			tn_err_ssl(err, "cannot add recipient %d", i + 1);
			goto bad;
		}
		if (cms_recip_params(ri, x, err) == -1)
			goto bad;
	}
	return cms;
bad:
	CMS_ContentInfo_free(cms);
	return NULL;
}

/*
 * AuthEnvelopedData of in to every certificate of rcpts, as DER or
 * S/MIME. With drop not NULL, in is *drop, which is freed (and set
 * NULL) as soon as it is encrypted, before the result is encoded.
 */
static int
cms_envelope_buf(const unsigned char *in, size_t inlen,
    unsigned char **drop, STACK_OF(X509) *rcpts, int smime,
    unsigned char **out, size_t *outlen, char *err)
{
	CMS_ContentInfo *cms = NULL;
	int n, rc = -1;

	n = rcpts == NULL ? 0 : sk_X509_num(rcpts);
	if (n < 1 || n > TN_MAX_RECIPINFOS) {
		tn_err(err, "%d recipients refused (1 to %d)", n,
		    TN_MAX_RECIPINFOS);
		return -1;
	}
	if (inlen > TN_MAX_MESSAGE) {
		tn_err(err, "message of %zu bytes refused (limit %d)", inlen,
		    TN_MAX_MESSAGE);
		return -1;
	}
	if ((cms = cms_envelope_new(rcpts, n, err)) == NULL ||
	    cms_final(cms, in, inlen, "cannot encrypt", err) == -1)
		goto out;
	if (drop != NULL) {
		free(*drop);
		*drop = NULL;
	}
	if (cms_to_buf(cms, smime, out, outlen, err) == -1)
		goto out;
	rc = 0;
out:
	CMS_ContentInfo_free(cms);
	return rc;
}

int
cms_wrap(const unsigned char *in, size_t inlen, const struct cms_id *id,
    STACK_OF(X509) *rcpts, int smime, unsigned char **out, size_t *outlen,
    char *err)
{
	unsigned char *signed_der = NULL;
	size_t signed_len;
	int n, rc = -1;

	*out = NULL;
	n = rcpts == NULL ? 0 : sk_X509_num(rcpts);
	if (n < 1 || n > TN_MAX_RECIPINFOS) {
		tn_err(err, "%d recipients refused (1 to %d)", n,
		    TN_MAX_RECIPINFOS);
		return -1;
	}
	if (cms_sign_der(in, inlen, id, &signed_der, &signed_len, err) == -1)
		goto out;
	if (cms_envelope_buf(signed_der, signed_len, &signed_der, rcpts,
	    smime, out, outlen, err) == -1)
		goto out;
	rc = 0;
out:
	free(signed_der);
	return rc;
}

int
cms_wrap_to(const unsigned char *in, size_t inlen, const struct cms_id *id,
    X509 *to, unsigned char **out, size_t *outlen, char *err)
{
	STACK_OF(X509) *rcpts;
	int rc = -1;

	if ((rcpts = sk_X509_new_null()) == NULL || !sk_X509_push(rcpts, to))
		tn_err(err, "out of memory");
	else
		rc = cms_wrap(in, inlen, id, rcpts, 0, out, outlen, err);
	sk_X509_free(rcpts);	/* to is the caller's */
	return rc;
}

int
cms_sign(const unsigned char *in, size_t inlen, const struct cms_id *id,
    unsigned char **out, size_t *outlen, char *err)
{
	*out = NULL;
	return cms_sign_der(in, inlen, id, out, outlen, err);
}

int
cms_verify(const unsigned char *in, size_t inlen, X509_STORE *store,
    unsigned char **out, size_t *outlen, X509 **signer,
    STACK_OF(X509) **certs, enum cms_fail *fail, char *err)
{
	X509 *who = NULL;

	*out = NULL;
	if (certs != NULL)
		*certs = NULL;
	if (cms_verify_der(in, inlen, NULL, store, NULL, out, outlen, &who,
	    certs, fail, err) == -1)
		return -1;
	if (signer != NULL)
		*signer = who;
	else
		X509_free(who);
	return 0;
}

int
cms_envelope(const unsigned char *in, size_t inlen, STACK_OF(X509) *rcpts,
    unsigned char **out, size_t *outlen, char *err)
{
	*out = NULL;
	return cms_envelope_buf(in, inlen, NULL, rcpts, 0, out, outlen, err);
}

int
cms_unenvelope(const unsigned char *in, size_t inlen,
    const struct cms_id *id, unsigned char **out, size_t *outlen,
    enum cms_fail *fail, char *err)
{
	CMS_ContentInfo *cms = NULL;
	int rc = -1;

	*out = NULL;
	*fail = CMS_FAIL_INPUT;
	if ((cms = cms_parse_enveloped(in, inlen, 0, err)) == NULL)
		goto out;
	*fail = CMS_FAIL_DECRYPT;
	if (cms_decrypt_buf(cms, id->ci_key, id->ci_cert, out, outlen,
	    err) == -1)
		goto out;
	*fail = CMS_FAIL_NONE;
	rc = 0;
out:
	CMS_ContentInfo_free(cms);
	return rc;
}

int
cms_unwrap(const unsigned char *in, size_t inlen, const struct cms_id *id,
    X509_STORE *store, unsigned char **out, size_t *outlen, X509 **signer,
    STACK_OF(X509) **certs, enum cms_fail *fail, char *err)
{
	return cms_unwrap_from(in, inlen, id, store, NULL, out, outlen, signer,
	    certs, fail, err);
}

int
cms_unwrap_from(const unsigned char *in, size_t inlen,
    const struct cms_id *id, X509_STORE *store, const struct cms_certsrc *src,
    unsigned char **out, size_t *outlen, X509 **signer,
    STACK_OF(X509) **certs, enum cms_fail *fail, char *err)
{
	CMS_ContentInfo *cms = NULL;
	unsigned char *signed_der = NULL;
	size_t signed_len;
	X509 *who = NULL;
	int rc = -1;

	*out = NULL;
	if (certs != NULL)
		*certs = NULL;
	*fail = CMS_FAIL_INPUT;
	if ((cms = cms_parse_enveloped(in, inlen, 1, err)) == NULL)
		goto out;
	*fail = CMS_FAIL_DECRYPT;
	if (cms_decrypt_buf(cms, id->ci_key, id->ci_cert, &signed_der,
	    &signed_len, err) == -1)
		goto out;
	CMS_ContentInfo_free(cms);	/* the ciphertext, no longer needed */
	cms = NULL;
	if (cms_verify_der(signed_der, signed_len, &signed_der, store, src,
	    out, outlen, &who, certs, fail, err) == -1)
		goto out;
	if (signer != NULL) {
		*signer = who;
		who = NULL;
	}
	rc = 0;
out:
	X509_free(who);
	CMS_ContentInfo_free(cms);
	free(signed_der);
	return rc;
}
