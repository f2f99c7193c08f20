/*
 * NAME
 *	crl.h - certificate revocation lists of a Tandem CA
 * SYNOPSIS
 *	#include "crl.h"
 *
 *	X509_CRL *crl_load(const char *path, char *err);
 *	int	crl_sign(X509 *issuer, EVP_PKEY *key, X509_CRL *old,
 *		    X509 *cert, int reason, int days, X509_CRL **out,
 *		    int *listed, char *err);
 *	int	crl_pem(X509_CRL *crl, char **out, size_t *outlen,
 *		    char *err);
 *	int	crl_reason_parse(const char *name);
 *	const char *crl_reason_name(int reason);
 * DESCRIPTION
 *	crl_load() reads a CRL in PEM.
 *
 *	crl_sign() makes the next CRL of the CA issuer (its certificate
 *	and key): the entries of old (NULL for the first), plus cert
 *	(NULL for none) with the revocation reason (CRL_REASON_* of
 *	OpenSSL, or CRL_REASON_NONE for no reason code) unless it is
 *	listed already (*listed is then 1 and the entry keeps its first
 *	date and reason). It is a version 2 CRL: issuer, lastUpdate now,
 *	nextUpdate in days, a CRL number one more than old's, the
 *	authority key identifier of issuer, signed with SHA-256. A cert
 *	that issuer did not sign (its issuer name, or the signature) is
 *	refused, and so is an old CRL that issuer did not sign.
 *
 *	crl_pem() writes crl in PEM into *out (free()).
 *
 *	crl_reason_parse() takes the names of RFC 5280 as OpenSSL spells
 *	them (unspecified, keyCompromise, CACompromise,
 *	affiliationChanged, superseded, cessationOfOperation,
 *	certificateHold is refused: Tandem has no hold) and gives the
 *	code, or -2 for a name it does not know; crl_reason_name() is the
 *	reverse.
 * DIAGNOSTICS
 *	crl_load() returns NULL and crl_sign(), crl_pem() -1, with a
 *	reason in err.
 */
#ifndef TANDEM_CRL_H
#define TANDEM_CRL_H

#include <stddef.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

X509_CRL	*crl_load(const char *, char *);
int		 crl_sign(X509 *, EVP_PKEY *, X509_CRL *, X509 *, int, int,
		    X509_CRL **, int *, char *);
int		 crl_pem(X509_CRL *, char **, size_t *, char *);
int		 crl_reason_parse(const char *);
const char	*crl_reason_name(int);

#endif
