/*
 * NAME
 *	vault.c - the agent store's secrets, sealed at rest
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	vault_seal(const unsigned char key[VAULT_KEYLEN],
 *		    const char *ad, const unsigned char *in, size_t len,
 *		    unsigned char **out, size_t *outlen, char *err);
 *
 *	int	vault_open(const unsigned char key[VAULT_KEYLEN],
 *		    const char *ad, const unsigned char *in, size_t len,
 *		    unsigned char **out, size_t *outlen, char *err);
 *
 *	int	vault_is_sealed(const unsigned char *in, size_t len);
 *
 *	int	vault_kek(const char *pass, const unsigned char *salt,
 *		    size_t saltlen, uint64_t n, uint64_t r, uint64_t p,
 *		    unsigned char kek[VAULT_KEYLEN], char *err);
 *
 *	int	vault_count_key(const unsigned char *ck, size_t cklen,
 *		    unsigned char key[VAULT_KEYLEN], char *err);
 * DESCRIPTION
 *	vault_seal() seals in under key with AES-256-GCM, a fresh 96-bit
 *	nonce and ad (a NUL-terminated string, the message id of the
 *	row) as associated data: *out (free()) is VAULT_MAGIC, the
 *	nonce, the ciphertext and the 16-byte tag. vault_open() undoes
 *	it; it fails when the key, the associated data or a byte is not
 *	the one sealed. *out is NUL-terminated beyond *outlen, and is
 *	wiped by the caller (OPENSSL_cleanse()) before free().
 *	vault_is_sealed() says whether in starts with VAULT_MAGIC (a
 *	row written before the store was sealed does not).
 *
 *	vault_kek() derives the key that wraps the store key from the
 *	local password with scrypt (parameters and salt are the store's,
 *	see store.c). vault_count_key() derives from a message's content
 *	key (HKDF-SHA256) the key that seals its count of opens, so that
 *	"tandem open", which has the content key but not the password,
 *	can count.
 * DIAGNOSTICS
 *	0, or -1 with a reason in err; vault_open() says "does not open"
 *	for a wrong key, associated data or altered bytes.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tandem.h"
#include "util.h"
#include "agent.h"

#define VAULT_NONCELEN	12
#define VAULT_TAGLEN	16
#define VAULT_HEAD	(sizeof(VAULT_MAGIC) - 1 + VAULT_NONCELEN)

int
vault_is_sealed(const unsigned char *in, size_t len)
{
	return len >= VAULT_HEAD + VAULT_TAGLEN &&
	    memcmp(in, VAULT_MAGIC, sizeof(VAULT_MAGIC) - 1) == 0;
}

/* One AES-256-GCM pass; enc 1 seals, 0 opens (tag checked). */
static int
vault_gcm(int enc, const unsigned char *key, const unsigned char *nonce,
    const char *ad, const unsigned char *in, size_t len, unsigned char *out,
    unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx;
	int n, rc = -1;

	if (len > INT32_MAX || strlen(ad) > INT32_MAX ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, VAULT_NONCELEN,
	    NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)ad,
	    (int)strlen(ad)) != 1 ||
	    (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1) ||
	    (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
	    VAULT_TAGLEN, tag) != 1) ||
	    EVP_CipherFinal_ex(ctx, out + len, &n) != 1 ||
	    (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
	    VAULT_TAGLEN, tag) != 1))
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
vault_seal(const unsigned char *key, const char *ad,
    const unsigned char *in, size_t len, unsigned char **out, size_t *outlen,
    char *err)
{
	unsigned char *b;
	size_t m = sizeof(VAULT_MAGIC) - 1;

	*out = NULL;
	if ((b = malloc(VAULT_HEAD + len + VAULT_TAGLEN + 1)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	memcpy(b, VAULT_MAGIC, m);
	if (util_random(b + m, VAULT_NONCELEN) == -1 ||
	    vault_gcm(1, key, b + m, ad, in, len, b + VAULT_HEAD,
	    b + VAULT_HEAD + len) == -1) {
		tn_err_ssl(err, "cannot seal the store's record of %s", ad);
		free(b);
		return -1;
	}
	*out = b;
	*outlen = VAULT_HEAD + len + VAULT_TAGLEN;
	return 0;
}

int
vault_open(const unsigned char *key, const char *ad,
    const unsigned char *in, size_t len, unsigned char **out, size_t *outlen,
    char *err)
{
	unsigned char *b, tag[VAULT_TAGLEN];
	size_t n;

	*out = NULL;
	if (!vault_is_sealed(in, len)) {
		tn_err(err, "the store's record of %s is not sealed", ad);
		return -1;
	}
	n = len - VAULT_HEAD - VAULT_TAGLEN;
	if ((b = malloc(n + 1)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	memcpy(tag, in + len - VAULT_TAGLEN, VAULT_TAGLEN);
	if (vault_gcm(0, key, in + sizeof(VAULT_MAGIC) - 1, ad,
	    in + VAULT_HEAD, n, b, tag) == -1) {
		OPENSSL_cleanse(b, n);
		free(b);
		tn_err(err, "the store's record of %s does not open (altered, "
		    "moved from another message, or another key)", ad);
		return -1;
	}
	b[n] = '\0';
	*out = b;
	*outlen = n;
	return 0;
}

int
vault_kek(const char *pass, const unsigned char *salt, size_t saltlen,
    uint64_t n, uint64_t r, uint64_t p, unsigned char *kek,
    char *err)
{
	if (EVP_PBE_scrypt(pass, strlen(pass), salt, saltlen, n, r, p,
	    VAULT_SCRYPT_MAXMEM, kek, VAULT_KEYLEN) != 1) {
		tn_err_ssl(err, "scrypt");
		return -1;
	}
	return 0;
}

int
vault_count_key(const unsigned char *ck, size_t cklen,
    unsigned char *key, char *err)
{
	static const char info[] = "tandem store: count of opens";
	EVP_PKEY_CTX *pctx;
	size_t len = VAULT_KEYLEN;
	int rc = -1;

	if ((pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL)) == NULL ||
	    EVP_PKEY_derive_init(pctx) != 1 ||
	    EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(pctx, ck, (int)cklen) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(pctx, (const unsigned char *)info,
	    (int)sizeof(info) - 1) != 1 ||
	    EVP_PKEY_derive(pctx, key, &len) != 1 || len != VAULT_KEYLEN) {
		tn_err_ssl(err, "HKDF");
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(pctx);
	return rc;
}
