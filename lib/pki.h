/*
 * NAME
 *	pki.h - certificates, keys and verification to the root
 * SYNOPSIS
 *	#include "pki.h"
 * DESCRIPTION
 *	(The pki module's owner completes this page.)
 *
 *	pki_trust_load() reads the configured trust anchors (PEM, one or
 *	more root certificates); never fetched. pki_trust_store() gives
 *	the X509_STORE for CMS_verify(), owned by the trust object.
 *
 *	pki_verify() checks leaf to a trust anchor with OpenSSL's
 *	verifier (purpose S/MIME, name constraints enforced) and the
 *	Tandem role rules; with email non-NULL the leaf must carry that
 *	address as an rfc822Name. 0, or -1 with the reason in err.
 */
#ifndef TANDEM_PKI_H
#define TANDEM_PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>

enum pki_role {
	PKI_ROLE_NONE = 0,
	PKI_ROLE_ROOT,
	PKI_ROLE_PUBLIC,
	PKI_ROLE_PRIVATE,
	PKI_ROLE_GATEWAY
};

struct pki_trust;

struct pki_trust *pki_trust_load(const char *, char *);
void	pki_trust_free(struct pki_trust *);
X509_STORE *pki_trust_store(const struct pki_trust *);
int	pki_verify(const struct pki_trust *, X509 *, STACK_OF(X509) *,
	    const char *, char *);

X509	*pki_load_cert(const char *, char *);
STACK_OF(X509) *pki_load_certs(const char *, char *);
EVP_PKEY *pki_load_key(const char *, const char *, char *);

#endif
