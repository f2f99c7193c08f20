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
 * SEE ALSO
 *	bench/prep.c, the arguments and the files, shared with
 *	bench/tmprep; this file only makes one ARM.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "tmail.h"
#include "prep.h"

/* One ARM: record, format, wrap. 0, or -1 with the reason in err. */
static int
ap_make(const struct prep_opts *po, const struct cms_id *id,
    STACK_OF(X509) *rcpts, long n, unsigned char **out, size_t *outlen,
    char *err)
{
	struct arm_record *ar = NULL;
	char msgid[256], *text = NULL;
	size_t len = 0;
	int rc = -1;

	(void)n;
	if ((ar = arm_new()) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (tmail_msgid(po->po_from, msgid, sizeof(msgid)) == -1 ||
	    (ar->ar_msgid = strdup(msgid)) == NULL ||
	    (ar->ar_sender = strdup(po->po_from)) == NULL) {
		tn_err(err, "%s: no message id for it", po->po_from);
		goto out;
	}
	if (RAND_bytes(ar->ar_key, sizeof(ar->ar_key)) != 1 ||
	    RAND_bytes(ar->ar_digest, sizeof(ar->ar_digest)) != 1) {
		tn_err_ssl(err, "no random bytes");
		goto out;
	}
	ar->ar_issued = time(NULL);
	if (arm_add_rcpt(ar, po->po_to, err) == -1 ||
	    arm_format(ar, &text, &len, err) == -1 ||
	    cms_wrap((unsigned char *)text, len, id, rcpts, 0, out, outlen,
	    err) == -1)
		goto out;
	rc = 0;
out:
	if (text != NULL)
		OPENSSL_clear_free(text, len);
	arm_free(ar);
	return rc;
}

const struct prep_kind prep_kind = {
	.pk_name = "armprep",
	.pk_usage = "armprep -k KEY -c CERT [-C CHAIN] -r COURIERCERT "
	    "-f FROM -t TO [-n COUNT] -o DIR",
	.pk_suffix = "p7m",
	.pk_make = ap_make,
};
