/*
 * NAME
 *	selfcheck.c - a daemon's own identity against its configuration
 * DESCRIPTION
 *	See selfcheck.h.
 */
#include <openssl/err.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "intro.h"
#include "selfcheck.h"
#include "tandem.h"

/* The courier section against what the courier CA says. */
static int
selfcheck_courier(const struct conf *cf, const struct intro *in, char *err)
{
	size_t i;

	if (cf->cf_role != in->in_role) {
		tn_err(err, "%s: courier: role is %s, but the courier CA "
		    "certificate of %s (in %s) says %s", cf->cf_path,
		    pki_role_name(cf->cf_role), in->in_courier, cf->cf_chain,
		    pki_role_name(in->in_role));
		return -1;
	}
	if (cf->cf_name != NULL && cf->cf_name[0] != '\0' &&
	    strcasecmp(cf->cf_name, in->in_courier) != 0) {
		tn_err(err, "%s: courier: name is %s, but %s was issued by "
		    "the courier CA %s", cf->cf_path, cf->cf_name,
		    cf->cf_cert, in->in_courier);
		return -1;
	}
	if (in->in_role != PKI_ROLE_PRIVATE)
		return 0;
	for (i = 0; i < cf->cf_ndomains; i++)
		if (!intro_covers(in, cf->cf_domains[i])) {
			tn_err(err, "%s: courier: domains: %s is outside the "
			    "name constraints of the courier CA %s",
			    cf->cf_path, cf->cf_domains[i], in->in_courier);
			return -1;
		}
	return 0;
}

int
selfcheck_identity(const struct conf *cf, const struct pki_trust *tr,
    X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain, char *err)
{
	struct intro *in = NULL;
	char why[TN_ERRLEN];
	int rc = -1;

	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		tn_err(err, "%s: tls: key %s is not the key of cert %s",
		    cf->cf_path, cf->cf_key, cf->cf_cert);
		goto out;
	}
	if (intro_check(tr, cert, chain, PKI_KIND_NONE, &in, why) == -1) {
		tn_err(err, "%s: tls: cert %s: %s", cf->cf_path, cf->cf_cert,
		    why);
		goto out;
	}
	if (selfcheck_courier(cf, in, err) == -1)
		goto out;
	rc = 0;
out:
	intro_free(in);
	return rc;
}
