/*
 * NAME
 *	cms.h - the sealed content and the transport wrap (CMS)
 * SYNOPSIS
 *	#include "cms.h"
 *
 *	int	cms_seal(const unsigned char *msg, size_t msglen,
 *		    const struct cms_id *id, const char *msgid,
 *		    unsigned char key[CMS_KEYLEN],
 *		    unsigned char digest[CMS_DIGESTLEN],
 *		    unsigned char **der, size_t *derlen, char *err);
 *	int	cms_open(const unsigned char *der, size_t derlen,
 *		    const char *msgid, const unsigned char key[CMS_KEYLEN],
 *		    const unsigned char digest[CMS_DIGESTLEN],
 *		    X509_STORE *store, unsigned char **msg, size_t *msglen,
 *		    X509 **signer, STACK_OF(X509) **certs,
 *		    enum cms_fail *fail, char *err);
 *	int	cms_wrap(const unsigned char *in, size_t inlen,
 *		    const struct cms_id *id, STACK_OF(X509) *rcpts,
 *		    int smime, unsigned char **out, size_t *outlen,
 *		    char *err);
 *	int	cms_wrap_to(const unsigned char *in, size_t inlen,
 *		    const struct cms_id *id, X509 *to, unsigned char **out,
 *		    size_t *outlen, char *err);
 *	int	cms_unwrap(const unsigned char *in, size_t inlen,
 *		    const struct cms_id *id, X509_STORE *store,
 *		    unsigned char **out, size_t *outlen, X509 **signer,
 *		    STACK_OF(X509) **certs, enum cms_fail *fail, char *err);
 *	int	cms_unwrap_from(const unsigned char *in, size_t inlen,
 *		    const struct cms_id *id, X509_STORE *store,
 *		    const struct cms_certsrc *src,
 *		    unsigned char **out, size_t *outlen, X509 **signer,
 *		    STACK_OF(X509) **certs, enum cms_fail *fail, char *err);
 *	int	cms_sign(const unsigned char *in, size_t inlen,
 *		    const struct cms_id *id, unsigned char **out,
 *		    size_t *outlen, char *err);
 *	int	cms_verify(const unsigned char *in, size_t inlen,
 *		    X509_STORE *store, unsigned char **out, size_t *outlen,
 *		    X509 **signer, STACK_OF(X509) **certs,
 *		    enum cms_fail *fail, char *err);
 *	int	cms_envelope(const unsigned char *in, size_t inlen,
 *		    STACK_OF(X509) *rcpts, unsigned char **out,
 *		    size_t *outlen, char *err);
 *	int	cms_unenvelope(const unsigned char *in, size_t inlen,
 *		    const struct cms_id *id, unsigned char **out,
 *		    size_t *outlen, enum cms_fail *fail, char *err);
 *	int	cms_digest(const unsigned char *der, size_t derlen,
 *		    unsigned char digest[CMS_DIGESTLEN]);
 *	int	cms_from_address(const unsigned char *msg, size_t msglen,
 *		    char **addr, char *err);
 * DESCRIPTION
 *	A struct cms_id names one party: its certificate, its private
 *	key and the certificates between it and the root (may be NULL);
 *	a SignedData made here carries them all but the self-signed
 *	ones (trust anchors, which every verifier has configured).
 *	The caller owns all three; nothing here keeps a reference.
 *
 *	cms_seal() signs msg, exactly the bytes given (CMS SignedData,
 *	binary, content included, signer certificate and chain
 *	included), and encrypts the signed DER as AuthEnvelopedData
 *	(AES-256-GCM) with one KEK RecipientInfo (id-aes256-wrap) whose
 *	key identifier is the bytes of msgid. The key-encryption key is
 *	32 fresh random bytes, returned in key; digest receives the
 *	SHA-256 of the DER result. Both go into the ARM record. *der
 *	should be passed to free(). Stock openssl opens the result:
 *	"openssl cms -decrypt -inform DER -secretkey HEX(key)
 *	-secretkeyid HEX(msgid)", then "openssl cms -verify -inform DER".
 *
 *	cms_open() is the reverse, in this order: digest of der against
 *	digest; decryption with key and msgid; the signature; the
 *	signer's certificate to a trust anchor in store (purpose S/MIME
 *	signing, the verifier's default name-constraint checks); the
 *	signer's certificate carries the address of the single From:
 *	mailbox of the inner message. The inner message is held to the
 *	MIME limits of the outer mails (mimeutil.h: at most
 *	TN_MAX_MIME_DEPTH levels, TN_MAX_MIME_PARTS parts) before its
 *	From: is read: beyond them it is refused (CMS_FAIL_INPUT). On success *msg (NUL-terminated,
 *	not counted in msglen) should be passed to free(), *signer, if
 *	signer is not NULL, to X509_free(), and *certs (the certificates
 *	the SignedData carries, for pki_verify()), if certs is not NULL,
 *	to sk_X509_pop_free(certs, X509_free).
 *
 *	cms_wrap() signs in with id and envelopes the signed DER to each
 *	certificate of rcpts (AES-256-GCM; EC recipients by ECDH with
 *	a SHA-256 KDF, RSA recipients by OAEP with SHA-256). With smime
 *	the result is an S/MIME entity (application/pkcs7-mime, base64),
 *	without it DER. *out should be passed to free(). cms_wrap_to()
 *	is cms_wrap() to the one certificate to, in DER: an element's
 *	wrap to another element, an agent or itself.
 *
 *	cms_unwrap() takes DER or S/MIME, decrypts with id's key and
 *	certificate, verifies the signature and the signer to store, and
 *	returns the content and the signer's certificate, which the
 *	caller checks is the party it expects. Ownership as cms_open().
 *	cms_unwrap_from() is the same, except that the certificates the
 *	signature carries are turned into X509 by src->cs_get(src->cs_ctx,
 *	der, len), which returns a new reference or NULL (a cache of
 *	certificates already parsed: with OpenSSL 3.0 parsing them is
 *	most of the cost of an unwrap). The checks and results are those
 *	of cms_unwrap(); a SignedData laid out otherwise than plain DER,
 *	or a certificate src cannot give, is parsed as cms_unwrap() does.
 *	With cs_recall and cs_remember, a successful check of the signer
 *	to store is remembered: cs_remember(ctx, key, len, from, until)
 *	notes that the check named by key (the SHA-256 of the signer and
 *	of each certificate carried) succeeded and holds from from until
 *	until (while all of them and every anchor in store are valid);
 *	cs_recall(ctx, key, len, now) returns 1 when such a note covers
 *	now. store must not change while notes are kept.
 *
 *	cms_sign() is the opaque SignedData alone (binary, content
 *	included, signer certificate and chain included), as DER, for
 *	what travels signed but not enveloped (the invitation).
 *	cms_verify() checks such a DER SignedData: the signature, then
 *	the signer to store. Ownership of *out, *signer and *certs as
 *	cms_open(); signer and certs may be NULL.
 *
 *	cms_envelope() is the AuthEnvelopedData alone, DER, to each
 *	certificate of rcpts, without a signature (the registration,
 *	whose CSR proves the key). cms_unenvelope() decrypts such DER
 *	with id's key and certificate. *out should be passed to free().
 *
 *	cms_digest() computes the SHA-256 of der: 0 or -1.
 *	cms_from_address() returns the address of the single mailbox in
 *	the single From: header of a MIME message (two From: headers are
 *	an error, whatever they say), without the inner message's shape
 *	limits (the sender's own message, before it is sealed); *addr
 *	should be passed to free().
 * DIAGNOSTICS
 *	All return 0 on success, -1 on failure with a one-line reason
 *	in err. cms_open() and cms_unwrap() also set *fail to the kind
 *	of failure, so that a program can tell them apart:
 *	CMS_FAIL_INPUT (not the expected CMS, over TN_MAX_MESSAGE or
 *	TN_MAX_RECIPINFOS; an EnvelopedData, encrypted without
 *	authentication such as AES-CBC, is never the expected CMS:
 *	cms_open(), cms_unwrap() and cms_unenvelope() take only
 *	AuthEnvelopedData and say so; nor is one whose key agreement
 *	wraps the key with anything but AES Key Wrap, RFC 3394),
 *	CMS_FAIL_DIGEST, CMS_FAIL_DECRYPT (wrong
 *	key, not a recipient, or altered ciphertext), CMS_FAIL_SIGNATURE
 *	(signature does not match the content), CMS_FAIL_CHAIN,
 *	CMS_FAIL_CRL (the chain could not be checked: a CA's revocation
 *	list is missing or past its next update, with tls.crl_missing =
 *	refuse; a matter of time, not of the message), CMS_FAIL_SENDER,
 *	CMS_FAIL_INTERNAL (out of memory and the like).
 */
#ifndef TANDEM_CMS_H
#define TANDEM_CMS_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <time.h>

#define CMS_KEYLEN	32	/* AES-256 key-encryption key */
#define CMS_DIGESTLEN	32	/* SHA-256 */
#define CMS_MAX_SIGNERS	4	/* SignerInfos accepted in one SignedData */

enum cms_fail {
	CMS_FAIL_NONE = 0,
	CMS_FAIL_INPUT,
	CMS_FAIL_DIGEST,
	CMS_FAIL_DECRYPT,
	CMS_FAIL_SIGNATURE,
	CMS_FAIL_CHAIN,
	CMS_FAIL_SENDER,
	CMS_FAIL_CRL,		/* a CA's revocation list missing or old */
	CMS_FAIL_INTERNAL
};

struct cms_id {
	X509		*ci_cert;
	EVP_PKEY	*ci_key;
	STACK_OF(X509)	*ci_chain;	/* may be NULL */
};

/*
 * Where cms_unwrap_from() gets certificates from their DER, and,
 * when cs_recall and cs_remember are not NULL, where it may remember
 * that a signer chains to the trust anchors (see cms_unwrap_from()).
 */
struct cms_certsrc {
	X509		*(*cs_get)(void *, const unsigned char *, size_t);
	int		 (*cs_recall)(void *, const unsigned char *, size_t,
			    time_t);
	void		 (*cs_remember)(void *, const unsigned char *, size_t,
			    time_t, time_t);
	void		*cs_ctx;
};

int	cms_seal(const unsigned char *, size_t, const struct cms_id *,
	    const char *, unsigned char *, unsigned char *,
	    unsigned char **, size_t *, char *);
int	cms_open(const unsigned char *, size_t, const char *,
	    const unsigned char *, const unsigned char *, X509_STORE *,
	    unsigned char **, size_t *, X509 **, STACK_OF(X509) **,
	    enum cms_fail *, char *);
int	cms_wrap(const unsigned char *, size_t, const struct cms_id *,
	    STACK_OF(X509) *, int, unsigned char **, size_t *, char *);
int	cms_wrap_to(const unsigned char *, size_t, const struct cms_id *,
	    X509 *, unsigned char **, size_t *, char *);
int	cms_unwrap(const unsigned char *, size_t, const struct cms_id *,
	    X509_STORE *, unsigned char **, size_t *, X509 **,
	    STACK_OF(X509) **, enum cms_fail *, char *);
int	cms_unwrap_from(const unsigned char *, size_t, const struct cms_id *,
	    X509_STORE *, const struct cms_certsrc *, unsigned char **,
	    size_t *, X509 **, STACK_OF(X509) **, enum cms_fail *, char *);
int	cms_sign(const unsigned char *, size_t, const struct cms_id *,
	    unsigned char **, size_t *, char *);
int	cms_verify(const unsigned char *, size_t, X509_STORE *,
	    unsigned char **, size_t *, X509 **, STACK_OF(X509) **,
	    enum cms_fail *, char *);
int	cms_envelope(const unsigned char *, size_t, STACK_OF(X509) *,
	    unsigned char **, size_t *, char *);
int	cms_unenvelope(const unsigned char *, size_t, const struct cms_id *,
	    unsigned char **, size_t *, enum cms_fail *, char *);
int	cms_digest(const unsigned char *, size_t, unsigned char *);
int	cms_from_address(const unsigned char *, size_t, char **, char *);

#endif
