/*
 * NAME
 *	armprep - prepare wrapped ARMs for the policyd throughput benchmark
 * SYNOPSIS
 *	armprep -k KEY -c CERT [-C CHAIN] -r COURIERCERT -f FROM -t TO
 *	    [-n COUNT] -o DIR
 * DESCRIPTION
 *	Writes COUNT (default 1) files DIR/NNNNNN.p7m, numbered from 1,
 *	each the body an agent POSTs to its background's /v1/arm for one
 *	private message (doc/flows.md 2), built with the library calls
 *	"tandem send" makes: an ARM record (arm_format()) from FROM to
 *	TO with a fresh message id (tmail_msgid()), a random content key
 *	and digest and Issued now, wrapped agent -> courier (cms_wrap(),
 *	signed with KEY and CERT, CHAIN sent along, enveloped to
 *	COURIERCERT, FROM's courier-end certificate). Every file has its
 *	own message id, so that the background stores each one (201)
 *	instead of answering a retry (200).
 *
 *	KEY is the agent's private key as plain PEM: the benchmark makes
 *	its own agent key outside any agent store. No content is sealed:
 *	the background never sees it.
 * DIAGNOSTICS
 *	Exits 0 when every file was written; EX_USAGE on bad arguments,
 *	EX_NOINPUT when a key or certificate cannot be read, EX_CANTCREAT
 *	when a file cannot be written, EX_SOFTWARE when formatting or
 *	wrapping fails; the reason on standard error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "pki.h"
#include "tmail.h"

struct ap_opts {
	const char	*ao_key;
	const char	*ao_cert;
	const char	*ao_chain;
	const char	*ao_courier;
	const char	*ao_from;
	const char	*ao_to;
	const char	*ao_dir;
	long		 ao_count;
};

static void
ap_usage(void)
{
	fprintf(stderr, "usage: armprep -k KEY -c CERT [-C CHAIN] "
	    "-r COURIERCERT -f FROM -t TO [-n COUNT] -o DIR\n");
	exit(EX_USAGE);
}

static long
ap_number(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max)
		ap_usage();
	return v;
}

static void
ap_options(struct ap_opts *ao, int argc, char **argv)
{
	int ch;

	ao->ao_count = 1;
	while ((ch = getopt(argc, argv, "C:c:f:k:n:o:r:t:")) != -1) {
		switch (ch) {
		case 'C':
			ao->ao_chain = optarg;
			break;
		case 'c':
			ao->ao_cert = optarg;
			break;
		case 'f':
			ao->ao_from = optarg;
			break;
		case 'k':
			ao->ao_key = optarg;
			break;
		case 'n':
			ao->ao_count = ap_number(optarg, 1, 1000000);
			break;
		case 'o':
			ao->ao_dir = optarg;
			break;
		case 'r':
			ao->ao_courier = optarg;
			break;
		case 't':
			ao->ao_to = optarg;
			break;
		default:
			ap_usage();
		}
	}
	if (optind != argc || ao->ao_key == NULL || ao->ao_cert == NULL ||
	    ao->ao_courier == NULL || ao->ao_from == NULL ||
	    ao->ao_to == NULL || ao->ao_dir == NULL)
		ap_usage();
}

static int
ap_write(const char *dir, long n, const unsigned char *buf, size_t len,
    char *err)
{
	char path[4096];
	FILE *fp;
	int rc = -1;

	if (snprintf(path, sizeof(path), "%s/%06ld.p7m", dir, n) >=
	    (int)sizeof(path)) {
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

/* One ARM: record, format, wrap, write. 0, or an exit status. */
static int
ap_one(const struct ap_opts *ao, const struct cms_id *id,
    STACK_OF(X509) *rcpts, long n, char *err)
{
	struct arm_record *ar = NULL;
	unsigned char *w = NULL;
	char msgid[256], *text = NULL;
	size_t len = 0, wlen;
	int rc = EX_SOFTWARE;

	if ((ar = arm_new()) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (tmail_msgid(ao->ao_from, msgid, sizeof(msgid)) == -1 ||
	    (ar->ar_msgid = strdup(msgid)) == NULL ||
	    (ar->ar_sender = strdup(ao->ao_from)) == NULL) {
		tn_err(err, "%s: no message id for it", ao->ao_from);
		goto out;
	}
	if (RAND_bytes(ar->ar_key, sizeof(ar->ar_key)) != 1 ||
	    RAND_bytes(ar->ar_digest, sizeof(ar->ar_digest)) != 1) {
		tn_err_ssl(err, "no random bytes");
		goto out;
	}
	ar->ar_issued = time(NULL);
	if (arm_add_rcpt(ar, ao->ao_to, err) == -1 ||
	    arm_format(ar, &text, &len, err) == -1 ||
	    cms_wrap((unsigned char *)text, len, id, rcpts, 0, &w, &wlen,
	    err) == -1)
		goto out;
	rc = EX_CANTCREAT;
	if (ap_write(ao->ao_dir, n, w, wlen, err) == -1)
		goto out;
	rc = 0;
out:
	if (text != NULL)
		OPENSSL_clear_free(text, len);
	free(w);
	arm_free(ar);
	return rc;
}

int
main(int argc, char **argv)
{
	struct ap_opts ao;
	struct cms_id id;
	STACK_OF(X509) *rcpts = NULL;
	char err[TN_ERRLEN];
	long n;
	int rc = EX_NOINPUT;

	memset(&ao, 0, sizeof(ao));
	memset(&id, 0, sizeof(id));
	ap_options(&ao, argc, argv);
	if ((id.ci_key = pki_load_key(ao.ao_key, NULL, err)) == NULL ||
	    (id.ci_cert = pki_load_cert(ao.ao_cert, err)) == NULL ||
	    (ao.ao_chain != NULL &&
	    (id.ci_chain = pki_load_certs(ao.ao_chain, err)) == NULL) ||
	    (rcpts = pki_load_certs(ao.ao_courier, err)) == NULL)
		goto out;
	for (n = 1, rc = 0; rc == 0 && n <= ao.ao_count; n++)
		rc = ap_one(&ao, &id, rcpts, n, err);
out:
	if (rc != 0)
		fprintf(stderr, "armprep: %s\n", err);
	EVP_PKEY_free(id.ci_key);
	X509_free(id.ci_cert);
	sk_X509_pop_free(id.ci_chain, X509_free);
	sk_X509_pop_free(rcpts, X509_free);
	return rc;
}
