/*
 * NAME
 *	crl.c - certificate revocation lists of a Tandem CA (crl.h)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "crl.h"
#include "tandem.h"

static const struct {
	const char	*cr_name;
	int		 cr_code;
} crl_reasons[] = {
	{ "unspecified", CRL_REASON_UNSPECIFIED },
	{ "keyCompromise", CRL_REASON_KEY_COMPROMISE },
	{ "CACompromise", CRL_REASON_CA_COMPROMISE },
	{ "affiliationChanged", CRL_REASON_AFFILIATION_CHANGED },
	{ "superseded", CRL_REASON_SUPERSEDED },
	{ "cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION },
};

int
crl_reason_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(crl_reasons) / sizeof(crl_reasons[0]); i++)
		if (strcmp(name, crl_reasons[i].cr_name) == 0)
			return crl_reasons[i].cr_code;
	return -2;
}

const char *
crl_reason_name(int reason)
{
	size_t i;

	for (i = 0; i < sizeof(crl_reasons) / sizeof(crl_reasons[0]); i++)
		if (reason == crl_reasons[i].cr_code)
			return crl_reasons[i].cr_name;
	return "none";
}

/* The last OpenSSL error, after what. */
static void
crl_err(char *err, const char *what)
{
	unsigned long e = ERR_get_error();

	tn_err(err, "%s%s%s", what, e != 0 ? ": " : "",
	    e != 0 ? ERR_reason_error_string(e) : "");
	ERR_clear_error();
}

X509_CRL *
crl_load(const char *path, char *err)
{
	X509_CRL *crl = NULL;
	BIO *b;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		crl_err(err, path);
		return NULL;
	}
	if ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) == NULL)
		crl_err(err, path);
	BIO_free(b);
	return crl;
}

int
crl_pem(X509_CRL *crl, char **out, size_t *outlen, char *err)
{
	BIO *b;
	char *p;
	long n;
	int rc = -1;

	*out = NULL;
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_CRL(b, crl) != 1 ||
	    (n = BIO_get_mem_data(b, &p)) <= 0) {
		crl_err(err, "cannot write the CRL");
		goto out;
	}
	if ((*out = malloc((size_t)n + 1)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	memcpy(*out, p, (size_t)n);
	(*out)[n] = '\0';
	*outlen = (size_t)n;
	rc = 0;
out:
	BIO_free(b);
	return rc;
}

/* cert's entry in crl, or NULL. */
static X509_REVOKED *
crl_entry(X509_CRL *crl, X509 *cert)
{
	X509_REVOKED *r = NULL;

	if (crl == NULL || X509_CRL_get0_by_serial(crl, &r,
	    X509_get0_serialNumber(cert)) != 1)
		return NULL;
	return r;
}

/* A new entry for cert, revoked now for reason. */
static X509_REVOKED *
crl_new_entry(X509 *cert, int reason, char *err)
{
	X509_REVOKED *r;
	ASN1_TIME *now = NULL;
	ASN1_ENUMERATED *e = NULL;

	if ((r = X509_REVOKED_new()) == NULL ||
	    X509_REVOKED_set_serialNumber(r,
	    (ASN1_INTEGER *)X509_get0_serialNumber(cert)) != 1 ||
	    (now = ASN1_TIME_set(NULL, time(NULL))) == NULL ||
	    X509_REVOKED_set_revocationDate(r, now) != 1)
		goto fail;
	if (reason != CRL_REASON_NONE &&
	    ((e = ASN1_ENUMERATED_new()) == NULL ||
	    ASN1_ENUMERATED_set(e, reason) != 1 ||
	    X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0) != 1))
		goto fail;
	ASN1_TIME_free(now);
	ASN1_ENUMERATED_free(e);
	return r;
fail:
	crl_err(err, "cannot make the CRL entry");
	ASN1_TIME_free(now);
	ASN1_ENUMERATED_free(e);
	X509_REVOKED_free(r);
	return NULL;
}

/* The CRL number of old plus one (1 for the first), set on crl. */
static int
crl_number(X509_CRL *crl, X509_CRL *old, char *err)
{
	ASN1_INTEGER *n = NULL;
	BIGNUM *bn = NULL;
	int rc = -1;

	if (old != NULL && (n = X509_CRL_get_ext_d2i(old, NID_crl_number,
	    NULL, NULL)) != NULL)
		bn = ASN1_INTEGER_to_BN(n, NULL);
	else
		bn = BN_new();
	ASN1_INTEGER_free(n);
	n = NULL;
	if (bn == NULL || BN_add_word(bn, 1) != 1 ||
	    (n = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0) != 1)
		crl_err(err, "cannot number the CRL");
	else
		rc = 0;
	ASN1_INTEGER_free(n);
	BN_free(bn);
	return rc;
}

int
crl_sign(X509 *issuer, EVP_PKEY *key, X509_CRL *old, X509 *cert, int reason,
    int days, X509_CRL **out, int *listed, char *err)
{
	STACK_OF(X509_REVOKED) *rs;
	X509_CRL *crl = NULL;
	X509_REVOKED *r;
	X509V3_CTX ctx;
	X509_EXTENSION *akid = NULL;
	ASN1_TIME *now = NULL, *next = NULL;
	int i;

	*out = NULL;
	*listed = 0;
	if (old != NULL && (X509_NAME_cmp(X509_CRL_get_issuer(old),
	    X509_get_subject_name(issuer)) != 0 ||
	    X509_CRL_verify(old, key) != 1)) {
		ERR_clear_error();
		tn_err(err, "the CRL there is not this CA's");
		return -1;
	}
	if (cert != NULL && (X509_NAME_cmp(X509_get_issuer_name(cert),
	    X509_get_subject_name(issuer)) != 0 ||
	    X509_verify(cert, key) != 1)) {
		ERR_clear_error();
		tn_err(err, "the certificate was not issued by this CA");
		return -1;
	}
	if ((crl = X509_CRL_new()) == NULL ||
	    X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
	    (now = ASN1_TIME_set(NULL, time(NULL))) == NULL ||
	    (next = X509_time_adj_ex(NULL, days, 0, NULL)) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, now) != 1 ||
	    X509_CRL_set1_nextUpdate(crl, next) != 1) {
		crl_err(err, "cannot make the CRL");
		goto fail;
	}
	rs = old != NULL ? X509_CRL_get_REVOKED(old) : NULL;
	for (i = 0; i < sk_X509_REVOKED_num(rs); i++)
		if ((r = X509_REVOKED_dup(sk_X509_REVOKED_value(rs, i))) ==
		    NULL || X509_CRL_add0_revoked(crl, r) != 1) {
			X509_REVOKED_free(r);
			crl_err(err, "cannot copy the CRL");
			goto fail;
		}
	if (cert != NULL && crl_entry(old, cert) != NULL)
		*listed = 1;
	else if (cert != NULL) {
		if ((r = crl_new_entry(cert, reason, err)) == NULL)
			goto fail;
		if (X509_CRL_add0_revoked(crl, r) != 1) {
			X509_REVOKED_free(r);
			crl_err(err, "cannot add to the CRL");
			goto fail;
		}
	}
	X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
	if (crl_number(crl, old, err) == -1)
		goto fail;
	if ((akid = X509V3_EXT_conf_nid(NULL, &ctx,
	    NID_authority_key_identifier, "keyid:always")) == NULL ||
	    X509_CRL_add_ext(crl, akid, -1) != 1 ||
	    X509_CRL_sort(crl) != 1 ||
	    X509_CRL_sign(crl, key, EVP_sha256()) <= 0) {
		crl_err(err, "cannot sign the CRL");
		goto fail;
	}
	X509_EXTENSION_free(akid);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	*out = crl;
	return 0;
fail:
	X509_EXTENSION_free(akid);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	X509_CRL_free(crl);
	return -1;
}
