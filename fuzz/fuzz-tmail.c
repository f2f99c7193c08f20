/*
 * NAME
 *	fuzz-tmail.c - libFuzzer target: a mail as the milter sees it
 * DESCRIPTION
 *	The input is a whole mail (headers and body) as the milter
 *	collects it. tmail_parse() reads it; then, up to the first
 *	database call, what the milter does with each kind: a service
 *	or inter-courier mail is unwrapped with the foreground's key
 *	(cms_unwrap(): decryption, signature, signer to the root) and
 *	its content read as a protocol message, or as an inter-courier
 *	message with its origin introduction (intro_ic_read()); an
 *	invitation's SignedData is verified (cms_verify()) and read as
 *	a protocol message; a content mail's DER only gets its digest.
 */
#include <stdlib.h>

#include "tandem.h"
#include "cms.h"
#include "fuzz.h"
#include "intro.h"
#include "proto.h"
#include "tmail.h"

static void
tmail_inner(const struct fuzz_pki *fp, const struct tmail *tm)
{
	struct proto_msg *pm = NULL;
	struct intro_ic *ic = NULL;
	struct intro *origin = NULL;
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	enum cms_fail fail;
	unsigned char *out = NULL, digest[CMS_DIGESTLEN];
	size_t outlen;
	char err[TN_ERRLEN];
	int rc;

	switch (tm->tm_kind) {
	case TMAIL_SERVICE:
	case TMAIL_INTER_COURIER:
		rc = cms_unwrap(tm->tm_der, tm->tm_derlen, &fp->fp_fg,
		    fp->fp_store, &out, &outlen, &signer, &certs, &fail, err);
		break;
	case TMAIL_INVITATION:
		rc = cms_verify(tm->tm_der, tm->tm_derlen, fp->fp_store, &out,
		    &outlen, &signer, &certs, &fail, err);
		break;
	default:
		(void)cms_digest(tm->tm_der, tm->tm_derlen, digest);
		return;
	}
	if (rc == -1)
		return;
	if (tm->tm_kind == TMAIL_INTER_COURIER &&
	    intro_ic_read(fp->fp_trust, (char *)out, outlen, &ic, &origin,
	    err) == 0)
		(void)intro_ic_verify(ic, err);
	else if (proto_parse((char *)out, outlen, &pm, err) == 0)
		(void)proto_get(pm, "Id");
	proto_msg_free(pm);
	intro_ic_free(ic);
	intro_free(origin);
	free(out);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
}

int
FUZZ_ENTRY(tmail)(const uint8_t *data, size_t size)
{
	const struct fuzz_pki *fp = fuzz_pki();
	struct tmail *tm = NULL;
	char err[TN_ERRLEN];

	if (tmail_parse((const char *)data, size, &tm, err) == -1)
		return 0;
	tmail_inner(fp, tm);
	tmail_free(tm);
	return 0;
}
