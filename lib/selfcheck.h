/*
 * NAME
 *	selfcheck.h - what a daemon checks of its own identity at start
 * SYNOPSIS
 *	#include "selfcheck.h"
 *
 *	int	selfcheck_identity(const struct conf *cf,
 *		    const struct pki_trust *tr, X509 *cert, EVP_PKEY *key,
 *		    STACK_OF(X509) *chain, char *err);
 * DESCRIPTION
 *	selfcheck_identity() is for tandem-milter and tandem-policyd,
 *	before they start and with -n: cert and key are the element's
 *	(tls.cert and tls.key of cf), chain its tls.chain, tr its trust
 *	anchors; nothing is taken over. It checks that key is the
 *	private key of cert, and that the courier section of cf says
 *	what the courier CA certificate that issued cert says (what
 *	"tandem-ca courier" wrote into it, read as introductions read
 *	it, intro_check()): the same role; the same name (courier.name,
 *	compared without case) when courier.name is set; and, for a
 *	private courier, every domain of courier.domains inside the CA's
 *	name constraints. A public, root or gateway CA certificate names
 *	no domains, so their courier.domains cannot contradict it.
 * DIAGNOSTICS
 *	0, or -1 with err naming the file and the option at fault.
 */
#ifndef TANDEM_SELFCHECK_H
#define TANDEM_SELFCHECK_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "conf.h"
#include "pki.h"

int	selfcheck_identity(const struct conf *, const struct pki_trust *,
	    X509 *, EVP_PKEY *, STACK_OF(X509) *, char *);

#endif
