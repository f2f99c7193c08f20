/*
 * NAME
 *	load.c - what tandem-policyd loads from its configuration
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	pd_load() loads everything pd_cf names (trust anchors, the BG
 *	element certificate, key and chain, the keybox key), checks that
 *	the certificate is a background element's, verifies it to the
 *	anchors and checks the identity against the courier section
 *	(selfcheck_identity()). pd_free_loaded() frees what pd_load() and
 *	conf_load() gave pd. At start-up, on SIGHUP (policyd.c), and in
 *	bench/armlimit, which does what the daemon does without HTTP.
 * DIAGNOSTICS
 *	pd_load() returns 0, or -1 with a reason naming the file in err.
 */
#include <stdlib.h>
#include <string.h>

#include "fed.h"
#include "log.h"
#include "policyd.h"
#include "selfcheck.h"
#include "tandem.h"

/* Everything the configuration names; 0, or -1 with err. */
int
pd_load(struct pd *pd, char *err)
{
	const struct conf *cf = pd->pd_cf;

	if ((pd->pd_trust = pki_trust_load(cf->cf_anchors, err)) == NULL)
		return -1;
	pki_trust_say(pd->pd_trust, log_warn);
	if ((cf->cf_crl_file[0] != '\0' && pki_trust_crls(pd->pd_trust,
	    cf->cf_crl_file, cf->cf_crl_accept, err) == -1) ||
	    (pd->pd_id.ci_cert = pki_load_cert(cf->cf_cert, err)) == NULL ||
	    (pd->pd_id.ci_key = pki_load_key(cf->cf_key, NULL, err)) == NULL ||
	    (pd->pd_id.ci_chain = pki_load_certs(cf->cf_chain, err)) == NULL ||
	    (pd->pd_keybox = keybox_load(cf->cf_keybox_key, err)) == NULL ||
	    fed_self_pem(&pd->pd_id, &pd->pd_self_pem, err) == -1)
		return -1;
	if (pki_cert_kind(pd->pd_id.ci_cert) != PKI_KIND_BG) {
		tn_err(err, "%s: not a background element certificate",
		    cf->cf_cert);
		return -1;
	}
	if (pki_verify(pd->pd_trust, pd->pd_id.ci_cert, pd->pd_id.ci_chain,
	    NULL, err) == -1) {
		char why[TN_ERRLEN];

		snprintf(why, sizeof(why), "%s", err);
		tn_err(err, "%s: %s", cf->cf_cert, why);
		return -1;
	}
	return selfcheck_identity(cf, pd->pd_trust, pd->pd_id.ci_cert,
	    pd->pd_id.ci_key, pd->pd_id.ci_chain, err);
}

/* What pd_load() (and conf_load()) gave pd. */
void
pd_free_loaded(struct pd *pd)
{
	free(pd->pd_self_pem);
	keybox_free(pd->pd_keybox);
	sk_X509_pop_free(pd->pd_id.ci_chain, X509_free);
	EVP_PKEY_free(pd->pd_id.ci_key);
	X509_free(pd->pd_id.ci_cert);
	pki_trust_free(pd->pd_trust);
	conf_free(pd->pd_cf);
	pd->pd_self_pem = NULL;
	pd->pd_keybox = NULL;
	memset(&pd->pd_id, 0, sizeof(pd->pd_id));
	pd->pd_trust = NULL;
	pd->pd_cf = NULL;
}
