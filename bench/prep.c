/*
 * NAME
 *	prep.c - the shared half of bench/tmprep and bench/armprep
 * SYNOPSIS
 *	See prep.h.
 * DESCRIPTION
 *	The arguments, the agent's identity and the courier's
 *	certificate, the loop and the numbered files: everything of the
 *	two programs but what one file holds, which the program's
 *	prep_kind makes.
 * DIAGNOSTICS
 *	See prep.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "tandem.h"
#include "cms.h"
#include "pki.h"
#include "bench.h"
#include "prep.h"

static void
prep_options(const struct prep_kind *pk, struct prep_opts *po, int argc,
    char **argv)
{
	const char *optstring;
	int ch;

	optstring = pk->pk_sized ? "C:c:f:k:n:o:r:s:t:" : "C:c:f:k:n:o:r:t:";
	po->po_count = 1;
	po->po_size = 4096;
	while ((ch = getopt(argc, argv, optstring)) != -1) {
		switch (ch) {
		case 'C':
			po->po_chain = optarg;
			break;
		case 'c':
			po->po_cert = optarg;
			break;
		case 'f':
			po->po_from = optarg;
			break;
		case 'k':
			po->po_key = optarg;
			break;
		case 'n':
			po->po_count = bench_number(optarg, 1, 1000000,
			    pk->pk_usage);
			break;
		case 'o':
			po->po_dir = optarg;
			break;
		case 'r':
			po->po_courier = optarg;
			break;
		case 's':
			po->po_size = bench_number(optarg, 0, 16777216,
			    pk->pk_usage);
			break;
		case 't':
			po->po_to = optarg;
			break;
		default:
			bench_usage(pk->pk_usage);
		}
	}
	if (optind != argc || po->po_key == NULL || po->po_cert == NULL ||
	    po->po_courier == NULL || po->po_from == NULL ||
	    po->po_to == NULL || po->po_dir == NULL)
		bench_usage(pk->pk_usage);
}

/* DIR/NNNNNN.SUF: 0, or -1 with the reason in err. */
static int
prep_write(const struct prep_kind *pk, const char *dir, long n,
    const unsigned char *buf, size_t len, char *err)
{
	char path[4096];
	FILE *fp;
	int rc = -1;

	if (snprintf(path, sizeof(path), "%s/%06ld.%s", dir, n,
	    pk->pk_suffix) >= (int)sizeof(path)) {
		tn_err(err, "%s: path too long", dir);
		return -1;
	}
	if ((fp = fopen(path, "wb")) == NULL) {
		tn_err(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fwrite(buf, 1, len, fp) == len)
		rc = 0;
	if (fclose(fp) == EOF || rc == -1) {
		tn_err(err, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* File n: made, then written. 0, or an exit status. */
static int
prep_one(const struct prep_kind *pk, const struct prep_opts *po,
    const struct cms_id *id, STACK_OF(X509) *rcpts, long n, char *err)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = EX_SOFTWARE;

	if (pk->pk_make(po, id, rcpts, n, &buf, &len, err) == -1)
		goto out;
	rc = EX_CANTCREAT;
	if (prep_write(pk, po->po_dir, n, buf, len, err) == -1)
		goto out;
	rc = 0;
out:
	free(buf);
	return rc;
}

int
main(int argc, char **argv)
{
	const struct prep_kind *pk = &prep_kind;
	struct prep_opts po;
	struct cms_id id;
	STACK_OF(X509) *rcpts = NULL;
	char err[TN_ERRLEN];
	long n;
	int rc = EX_NOINPUT;

	memset(&po, 0, sizeof(po));
	memset(&id, 0, sizeof(id));
	prep_options(pk, &po, argc, argv);
	if ((id.ci_key = pki_load_key(po.po_key, NULL, err)) == NULL ||
	    (id.ci_cert = pki_load_cert(po.po_cert, err)) == NULL ||
	    (po.po_chain != NULL &&
	    (id.ci_chain = pki_load_certs(po.po_chain, err)) == NULL) ||
	    (rcpts = pki_load_certs(po.po_courier, err)) == NULL)
		goto out;
	for (n = 1, rc = 0; rc == 0 && n <= po.po_count; n++)
		rc = prep_one(pk, &po, &id, rcpts, n, err);
out:
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", pk->pk_name, err);
	EVP_PKEY_free(id.ci_key);
	X509_free(id.ci_cert);
	sk_X509_pop_free(id.ci_chain, X509_free);
	sk_X509_pop_free(rcpts, X509_free);
	return rc;
}
