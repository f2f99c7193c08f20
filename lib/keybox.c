/*
 * NAME
 *	keybox.c - AES-256-GCM boxes for courier-end private keys
 * DESCRIPTION
 *	See keybox.h. The additional authenticated data is the version
 *	byte followed by the address (without its NUL), or by the held
 *	message's "msgid\nrecipient", so none can be changed without
 *	keybox_open() or keybox_open_held() noticing.
 * DIAGNOSTICS
 *	Errors are returned in err; nothing is printed.
 */
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tandem.h"
#include "keybox.h"
#include "util.h"

struct keybox {
	unsigned char	kb_secret[KEYBOX_SECRET_LEN];
};

struct keybox *
keybox_new(const unsigned char *secret, size_t len, char *err)
{
	struct keybox *kb;

	if (len != KEYBOX_SECRET_LEN) {
		tn_err(err, "keybox secret must be %d bytes, not %zu",
		    KEYBOX_SECRET_LEN, len);
		return NULL;
	}
	if ((kb = calloc(1, sizeof(*kb))) == NULL) {
		tn_err(err, "out of memory");
		return NULL;
	}
	memcpy(kb->kb_secret, secret, KEYBOX_SECRET_LEN);
	return kb;
}

void
keybox_free(struct keybox *kb)
{
	if (kb == NULL)
		return;
	OPENSSL_cleanse(kb->kb_secret, sizeof(kb->kb_secret));
	free(kb);
}

void
keybox_clear_free(unsigned char *buf, size_t len)
{
	if (buf == NULL)
		return;
	OPENSSL_cleanse(buf, len);
	free(buf);
}

struct keybox *
keybox_load(const char *path, char *err)
{
	unsigned char *buf = NULL, secret[KEYBOX_SECRET_LEN];
	struct keybox *kb = NULL;
	struct stat st;
	size_t len = 0;

	if (stat(path, &st) == -1) {
		tn_err(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((st.st_mode & S_IRWXO) != 0) {
		tn_err(err, "%s: keybox key file is accessible to others "
		    "(mode %03o); chmod o-rwx", path,
		    (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	if (util_read_file(path, 2 * KEYBOX_SECRET_LEN + 1, &buf, &len,
	    err) == -1)
		return NULL;
	if (len == 2 * KEYBOX_SECRET_LEN + 1 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len != 2 * KEYBOX_SECRET_LEN ||
	    util_unhex((char *)buf, secret, sizeof(secret)) == -1) {
		tn_err(err, "%s: keybox key file must hold exactly %d hex "
		    "digits", path, 2 * KEYBOX_SECRET_LEN);
		goto out;
	}
	kb = keybox_new(secret, sizeof(secret), err);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	keybox_clear_free(buf, len);
	return kb;
}

/* Key, nonce and additional data into a fresh GCM context. */
static EVP_CIPHER_CTX *
keybox_ctx(const struct keybox *kb, unsigned char version, const char *ad,
    const unsigned char *nonce, int enc, char *err)
{
	EVP_CIPHER_CTX *ctx;
	int n;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		tn_err_ssl(err, "keybox: cipher context");
		return NULL;
	}
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
	    KEYBOX_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, kb->kb_secret, nonce,
	    enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, &version, 1) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)ad,
	    (int)strlen(ad)) != 1) {
		tn_err_ssl(err, "keybox: cipher set-up");
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* What one kind of box is: its version byte, largest plaintext, name. */
struct keybox_kind {
	unsigned char	 kk_version;
	size_t		 kk_max;
	size_t		 kk_max_ad;
	const char	*kk_what;
};

static const struct keybox_kind keybox_key_kind = {
	KEYBOX_VERSION, KEYBOX_MAX_PLAIN, TN_MAX_ADDRESS, "sealed key"
};
static const struct keybox_kind keybox_held_kind = {
	KEYBOX_HELD_VERSION, TN_MAX_MESSAGE, TN_MAX_ADDRESS + 1 + TN_MAX_MSGID,
	"held message"
};

static int
keybox_check_args(const struct keybox_kind *kk, const char *ad,
    size_t inlen, char *err)
{
	if (ad == NULL || *ad == '\0' || strlen(ad) > kk->kk_max_ad) {
		tn_err(err, "keybox: address missing or too long");
		return -1;
	}
	if (inlen > kk->kk_max + KEYBOX_OVERHEAD) {
		tn_err(err, "keybox: %zu bytes is too large", inlen);
		return -1;
	}
	return 0;
}

static int
keybox_seal_kind(const struct keybox *kb, const struct keybox_kind *kk,
    const char *ad, const unsigned char *in, size_t inlen,
    unsigned char **outp, size_t *outlenp, char *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *out = NULL, *nonce, *tag, *ct;
	size_t outlen = inlen + KEYBOX_OVERHEAD;
	int n, rc = -1;

	if (keybox_check_args(kk, ad, inlen, err) == -1)
		return -1;
	if (inlen == 0 || inlen > kk->kk_max) {
		tn_err(err, "keybox: cannot seal %zu bytes", inlen);
		return -1;
	}
	if ((out = malloc(outlen)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	out[0] = kk->kk_version;
	nonce = out + 1;
	tag = nonce + KEYBOX_NONCE_LEN;
	ct = tag + KEYBOX_TAG_LEN;
	if (util_random(nonce, KEYBOX_NONCE_LEN) == -1) {
		tn_err_ssl(err, "keybox: random nonce");
		goto out;
	}
	if ((ctx = keybox_ctx(kb, kk->kk_version, ad, nonce, 1, err)) == NULL)
		goto out;
	if (EVP_EncryptUpdate(ctx, ct, &n, in, (int)inlen) != 1 ||
	    (size_t)n != inlen ||
	    EVP_EncryptFinal_ex(ctx, ct + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KEYBOX_TAG_LEN,
	    tag) != 1) {
		tn_err_ssl(err, "keybox: encryption");
		goto out;
	}
	*outp = out;
	*outlenp = outlen;
	out = NULL;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	keybox_clear_free(out, outlen);
	return rc;
}

static int
keybox_open_kind(const struct keybox *kb, const struct keybox_kind *kk,
    const char *ad, const unsigned char *in, size_t inlen,
    unsigned char **outp, size_t *outlenp, char *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *out = NULL, tag[KEYBOX_TAG_LEN];
	size_t outlen = 0;
	int n, rc = -1;

	if (keybox_check_args(kk, ad, inlen, err) == -1)
		return -1;
	if (inlen <= KEYBOX_OVERHEAD) {
		tn_err(err, "keybox: %s truncated (%zu bytes)", kk->kk_what,
		    inlen);
		return -1;
	}
	if (in[0] != kk->kk_version) {
		tn_err(err, "keybox: unknown version %u", (unsigned)in[0]);
		return -1;
	}
	outlen = inlen - KEYBOX_OVERHEAD;
	if ((out = malloc(outlen + 1)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	memcpy(tag, in + 1 + KEYBOX_NONCE_LEN, KEYBOX_TAG_LEN);
	if ((ctx = keybox_ctx(kb, kk->kk_version, ad, in + 1, 0,
	    err)) == NULL)
		goto out;
	if (EVP_DecryptUpdate(ctx, out, &n, in + KEYBOX_OVERHEAD,
	    (int)outlen) != 1 || (size_t)n != outlen ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KEYBOX_TAG_LEN,
	    tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, out + n, &n) != 1) {
		tn_err_ssl(err, "keybox: cannot open %s", kk->kk_what);
		goto out;
	}
	out[outlen] = '\0';
	*outp = out;
	*outlenp = outlen;
	out = NULL;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	keybox_clear_free(out, outlen + 1);
	return rc;
}

int
keybox_seal(const struct keybox *kb, const char *address,
    const unsigned char *in, size_t inlen, unsigned char **outp,
    size_t *outlenp, char *err)
{
	return keybox_seal_kind(kb, &keybox_key_kind, address, in, inlen,
	    outp, outlenp, err);
}

int
keybox_open(const struct keybox *kb, const char *address,
    const unsigned char *in, size_t inlen, unsigned char **outp,
    size_t *outlenp, char *err)
{
	return keybox_open_kind(kb, &keybox_key_kind, address, in, inlen,
	    outp, outlenp, err);
}

/* The additional data of a held message: "msgid\nrecipient". */
static int
keybox_held_ad(const char *msgid, const char *rcpt, char *ad, size_t len,
    char *err)
{
	if (msgid == NULL || rcpt == NULL || strchr(msgid, '\n') != NULL ||
	    (size_t)snprintf(ad, len, "%s\n%s", msgid, rcpt) >= len) {
		tn_err(err, "keybox: message id or recipient missing or too "
		    "long");
		return -1;
	}
	return 0;
}

int
keybox_seal_held(const struct keybox *kb, const char *msgid,
    const char *rcpt, const unsigned char *in, size_t inlen,
    unsigned char **outp, size_t *outlenp, char *err)
{
	char ad[TN_MAX_ADDRESS + TN_MAX_MSGID + 2];

	if (keybox_held_ad(msgid, rcpt, ad, sizeof(ad), err) == -1)
		return -1;
	return keybox_seal_kind(kb, &keybox_held_kind, ad, in, inlen, outp,
	    outlenp, err);
}

int
keybox_open_held(const struct keybox *kb, const char *msgid,
    const char *rcpt, const unsigned char *in, size_t inlen,
    unsigned char **outp, size_t *outlenp, char *err)
{
	char ad[TN_MAX_ADDRESS + TN_MAX_MSGID + 2];

	if (keybox_held_ad(msgid, rcpt, ad, sizeof(ad), err) == -1)
		return -1;
	return keybox_open_kind(kb, &keybox_held_kind, ad, in, inlen, outp,
	    outlenp, err);
}

int
keybox_is_held(const unsigned char *in, size_t inlen)
{
	return inlen > KEYBOX_OVERHEAD && in[0] == KEYBOX_HELD_VERSION;
}

/* A fresh key file at path, put in place at once (link), never replaced. */
static int
keybox_create(const char *path, char *err)
{
	unsigned char secret[KEYBOX_SECRET_LEN];
	char tmp[PATH_MAX], *hex = NULL, line[2 * KEYBOX_SECRET_LEN + 2];
	int rc = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.new%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		tn_err(err, "%s: path too long", path);
		return -1;
	}
	if (util_random(secret, sizeof(secret)) == -1 ||
	    (hex = util_hex(secret, sizeof(secret))) == NULL) {
		tn_err(err, "%s: cannot make a random key", path);
		goto out;
	}
	snprintf(line, sizeof(line), "%s\n", hex);
	(void)unlink(tmp);
	if (util_write_file(tmp, line, strlen(line), 0600, 1, err) == -1)
		goto out;
	if (link(tmp, path) == -1 && errno != EEXIST)
		tn_err(err, "%s: %s", path, strerror(errno));
	else
		rc = 0;
	(void)unlink(tmp);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(line, sizeof(line));
	if (hex != NULL) {
		OPENSSL_cleanse(hex, strlen(hex));
		free(hex);
	}
	return rc;
}

struct keybox *
keybox_load_private(const char *path, int create, char *err)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		if (errno != ENOENT || !create) {
			tn_err(err, "%s: %s", path, strerror(errno));
			return NULL;
		}
		if (keybox_create(path, err) == -1)
			return NULL;
		if (stat(path, &st) == -1) {
			tn_err(err, "%s: %s", path, strerror(errno));
			return NULL;
		}
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		tn_err(err, "%s: key file is accessible to others than its "
		    "owner (mode %03o); chmod 600", path,
		    (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	return keybox_load(path, err);
}
