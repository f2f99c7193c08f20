/*
 * NAME
 *	objcache.c - parsed certificates and opened keys, by their bytes
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	struct objcache *objcache_new(void);
 *	void	objcache_free(struct objcache *oc);
 *	X509	*objcache_cert(struct objcache *oc, const char *pem,
 *		    size_t len, char *err);
 *	X509	*objcache_der(void *oc, const unsigned char *der,
 *		    size_t len);
 *	EVP_PKEY *objcache_key(struct objcache *oc, const struct keybox *kb,
 *		    const char *address, const unsigned char *sealed,
 *		    size_t len, char *err);
 *	void	objcache_remember(struct objcache *oc, int kind,
 *		    const unsigned char *key, size_t len, time_t from,
 *		    time_t until);
 *	int	objcache_recall(struct objcache *oc, int kind,
 *		    const unsigned char *key, size_t len, time_t now);
 *	void	objcache_chain_remember(void *oc, const unsigned char *key,
 *		    size_t len, time_t from, time_t until);
 *	int	objcache_chain_recall(void *oc, const unsigned char *key,
 *		    size_t len, time_t now);
 * DESCRIPTION
 *	Parsing a certificate or a private key costs more than the rest
 *	of a message's public-key work with OpenSSL 3.0 (every public key
 *	goes through the decoder machinery). The database stays the one
 *	source of truth: the rows of an account come from it (or from
 *	acache.c, which forgets them at any change); this cache only
 *	remembers what the exact bytes of a row parsed to, so a changed
 *	certificate or a new key generation is simply a miss.
 *
 *	objcache_cert() is pki_parse_cert() of the PEM bytes;
 *	objcache_der() is d2i_X509() of exactly the DER bytes given, in
 *	the form of a struct cms_certsrc (cms.h) getter: the certificates
 *	a wrap carries are the same from one message to the next;
 *	objcache_key() is keybox_open() of the sealed bytes for address
 *	followed by pki_parse_key() of the result (the key is cached by
 *	address and sealed bytes together, so a box sealed for another
 *	address still fails to open). Each returns a new reference, to be
 *	passed to X509_free() or EVP_PKEY_free(), or NULL with err set.
 *
 *	objcache_remember() notes that a check of kind (OBJCACHE_VERIFY,
 *	OBJCACHE_CHAIN: kinds never answer for each other) named by the
 *	key bytes succeeded and keeps giving the same answer from from to
 *	until; objcache_recall() returns 1 when such a note covers now,
 *	else 0. The caller decides what a key names and how long an
 *	answer holds. objcache_chain_*() are the same for OBJCACHE_CHAIN
 *	in the form of struct cms_certsrc callbacks;
 *	pki_narrow() (lib/pki.h) gives the validity to remember.
 *
 *	The cache is direct-mapped (OBJCACHE_SLOTS entries; a collision
 *	replaces the older entry), shared by the threads under one lock
 *	that is never held while parsing. objcache_free() drops every
 *	entry; objcache_free(NULL) does nothing.
 * DIAGNOSTICS
 *	objcache_new() returns NULL when out of memory.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "keybox.h"
#include "milter.h"
#include "pki.h"

#define OBJCACHE_SLOTS	1024

enum objcache_type {
	OC_NONE = 0,
	OC_CERT,
	OC_DER,
	OC_KEY,
	OC_WINDOW	/* + kind */
};

struct objcache_ent {
	enum objcache_type	 oe_type;
	unsigned char		*oe_blob;	/* what was parsed */
	size_t			 oe_len;
	void			*oe_obj;	/* X509 or EVP_PKEY */
};

struct objcache {
	pthread_mutex_t		 oc_lock;
	struct objcache_ent	 oc_ent[OBJCACHE_SLOTS];
};

static void
objcache_drop(struct objcache_ent *oe)
{
	if (oe->oe_type == OC_CERT || oe->oe_type == OC_DER)
		X509_free(oe->oe_obj);
	else if (oe->oe_type == OC_KEY)
		EVP_PKEY_free(oe->oe_obj);
	else
		free(oe->oe_obj);
	free(oe->oe_blob);
	memset(oe, 0, sizeof(*oe));
}

struct objcache *
objcache_new(void)
{
	struct objcache *oc;

	if ((oc = calloc(1, sizeof(*oc))) == NULL)
		return NULL;
	pthread_mutex_init(&oc->oc_lock, NULL);
	return oc;
}

void
objcache_free(struct objcache *oc)
{
	size_t i;

	if (oc == NULL)
		return;
	for (i = 0; i < OBJCACHE_SLOTS; i++)
		objcache_drop(&oc->oc_ent[i]);
	pthread_mutex_destroy(&oc->oc_lock);
	free(oc);
}

/* FNV-1a of the bytes and the type. */
static size_t
objcache_slot(enum objcache_type type, const unsigned char *blob, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	h = (h ^ (uint64_t)type) * 1099511628211ULL;
	for (i = 0; i < len; i++)
		h = (h ^ blob[i]) * 1099511628211ULL;
	return (size_t)(h % OBJCACHE_SLOTS);
}

/* A new reference to the object cached for exactly these bytes. */
static void *
objcache_find(struct objcache *oc, enum objcache_type type,
    const unsigned char *blob, size_t len)
{
	struct objcache_ent *oe;
	void *obj = NULL;

	oe = &oc->oc_ent[objcache_slot(type, blob, len)];
	pthread_mutex_lock(&oc->oc_lock);
	if (oe->oe_type == type && oe->oe_len == len &&
	    memcmp(oe->oe_blob, blob, len) == 0) {
		obj = oe->oe_obj;
		if (type != OC_KEY)
			X509_up_ref(obj);
		else
			EVP_PKEY_up_ref(obj);
	}
	pthread_mutex_unlock(&oc->oc_lock);
	return obj;
}

/* Remember obj (the cache takes a reference of its own) for the bytes. */
static void
objcache_add(struct objcache *oc, enum objcache_type type,
    const unsigned char *blob, size_t len, void *obj)
{
	struct objcache_ent *oe, ne;

	memset(&ne, 0, sizeof(ne));
	if ((ne.oe_blob = malloc(len == 0 ? 1 : len)) == NULL)
		return;		/* not cached: still correct */
	memcpy(ne.oe_blob, blob, len);
	ne.oe_len = len;
	ne.oe_type = type;
	ne.oe_obj = obj;
	if (type != OC_KEY)
		X509_up_ref(obj);
	else
		EVP_PKEY_up_ref(obj);
	oe = &oc->oc_ent[objcache_slot(type, blob, len)];
	pthread_mutex_lock(&oc->oc_lock);
	objcache_drop(oe);
	*oe = ne;
	pthread_mutex_unlock(&oc->oc_lock);
}

X509 *
objcache_cert(struct objcache *oc, const char *pem, size_t len, char *err)
{
	X509 *x;

	if ((x = objcache_find(oc, OC_CERT, (const unsigned char *)pem,
	    len)) != NULL)
		return x;
	if ((x = pki_parse_cert(pem, len, err)) != NULL)
		objcache_add(oc, OC_CERT, (const unsigned char *)pem, len, x);
	return x;
}

X509 *
objcache_der(void *ctx, const unsigned char *der, size_t len)
{
	struct objcache *oc = ctx;
	const unsigned char *p = der;
	X509 *x;

	if ((x = objcache_find(oc, OC_DER, der, len)) != NULL)
		return x;
	if (len > TN_MAX_MESSAGE ||
	    (x = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len) {
		X509_free(x);
		ERR_clear_error();	/* the caller parses otherwise */
		return NULL;
	}
	objcache_add(oc, OC_DER, der, len, x);
	return x;
}

EVP_PKEY *
objcache_key(struct objcache *oc, const struct keybox *kb,
    const char *address, const unsigned char *sealed, size_t len,
    char *err)
{
	unsigned char *blob = NULL, *plain = NULL;
	size_t alen = strlen(address) + 1, blen = alen + len, plen = 0;
	EVP_PKEY *pk = NULL;

	if (len > TN_MAX_MESSAGE || (blob = malloc(blen)) == NULL) {
		tn_err(err, "sealed key: out of memory");
		return NULL;
	}
	memcpy(blob, address, alen);	/* with its NUL */
	memcpy(blob + alen, sealed, len);
	if ((pk = objcache_find(oc, OC_KEY, blob, blen)) != NULL)
		goto out;
	if (keybox_open(kb, address, sealed, len, &plain, &plen, err) == -1 ||
	    (pk = pki_parse_key((char *)plain, plen, NULL, err)) == NULL)
		goto out;
	objcache_add(oc, OC_KEY, blob, blen, pk);
out:
	keybox_clear_free(plain, plen);
	free(blob);
	return pk;
}

/* The span during which a remembered check holds. */
struct objcache_window {
	time_t		ow_from;
	time_t		ow_until;
};

void
objcache_remember(struct objcache *oc, int kind, const unsigned char *key,
    size_t len, time_t from, time_t until)
{
	enum objcache_type type = (enum objcache_type)(OC_WINDOW + kind);
	struct objcache_ent *oe, ne;
	struct objcache_window *ow;

	memset(&ne, 0, sizeof(ne));
	if ((ow = malloc(sizeof(*ow))) == NULL ||
	    (ne.oe_blob = malloc(len == 0 ? 1 : len)) == NULL) {
		free(ow);
		return;		/* not remembered: checked again next time */
	}
	ow->ow_from = from;
	ow->ow_until = until;
	memcpy(ne.oe_blob, key, len);
	ne.oe_len = len;
	ne.oe_type = type;
	ne.oe_obj = ow;
	oe = &oc->oc_ent[objcache_slot(type, key, len)];
	pthread_mutex_lock(&oc->oc_lock);
	objcache_drop(oe);
	*oe = ne;
	pthread_mutex_unlock(&oc->oc_lock);
}

int
objcache_recall(struct objcache *oc, int kind, const unsigned char *key,
    size_t len, time_t now)
{
	enum objcache_type type = (enum objcache_type)(OC_WINDOW + kind);
	struct objcache_ent *oe;
	struct objcache_window *ow;
	int hit = 0;

	oe = &oc->oc_ent[objcache_slot(type, key, len)];
	pthread_mutex_lock(&oc->oc_lock);
	if (oe->oe_type == type && oe->oe_len == len &&
	    memcmp(oe->oe_blob, key, len) == 0) {
		ow = oe->oe_obj;
		hit = ow->ow_from <= now && now < ow->ow_until;
	}
	pthread_mutex_unlock(&oc->oc_lock);
	return hit;
}

void
objcache_chain_remember(void *oc, const unsigned char *key, size_t len,
    time_t from, time_t until)
{
	objcache_remember(oc, OBJCACHE_CHAIN, key, len, from, until);
}

int
objcache_chain_recall(void *oc, const unsigned char *key, size_t len,
    time_t now)
{
	return objcache_recall(oc, OBJCACHE_CHAIN, key, len, now);
}
