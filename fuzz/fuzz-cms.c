/*
 * NAME
 *	fuzz-cms.c - libFuzzer target: CMS open, unwrap, verify, unenvelope
 * DESCRIPTION
 *	The first byte of the input picks the operation, the rest is
 *	its DER (fuzz/corpus/cms holds one seed of each):
 *
 *	0	cms_open(): 32 bytes of content key, the message id and a
 *		NUL, then the sealed content; the digest is that of the
 *		DER, so that decryption, signature, chain and sender
 *		checks are reached.
 *	1	cms_unwrap() as the foreground (fuzz/pki/fg).
 *	2	cms_unwrap() as the agent (fuzz/pki/agent).
 *	3	cms_verify() of an opaque SignedData.
 *	4	cms_unenvelope() as the background (a registration).
 *
 *	Every signer is checked to the fixed test root. What succeeds
 *	is freed as the header of cms.h says.
 */
#include <stdlib.h>
#include <string.h>

#include "tandem.h"
#include "cms.h"
#include "fuzz.h"

static void
cms_fuzz_open(const struct fuzz_pki *fp, const uint8_t *data, size_t size,
    unsigned char **out, size_t *outlen, X509 **signer,
    STACK_OF(X509) **certs, enum cms_fail *fail, char *err)
{
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN];
	const uint8_t *nul;
	char *msgid;

	if (size < CMS_KEYLEN)
		return;
	memcpy(key, data, CMS_KEYLEN);
	data += CMS_KEYLEN;
	size -= CMS_KEYLEN;
	if ((nul = memchr(data, '\0', size)) == NULL)
		return;
	msgid = fuzz_str(data, nul - data);
	size -= nul + 1 - data;
	data = nul + 1;
	if (cms_digest(data, size, digest) == 0)
		(void)cms_open(data, size, msgid, key, digest, fp->fp_store,
		    out, outlen, signer, certs, fail, err);
	free(msgid);
}

int
FUZZ_ENTRY(cms)(const uint8_t *data, size_t size)
{
	const struct fuzz_pki *fp = fuzz_pki();
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	enum cms_fail fail;
	unsigned char *out = NULL;
	size_t outlen;
	char err[TN_ERRLEN];

	if (size < 1)
		return 0;
	switch (data[0]) {
	case 0:
		cms_fuzz_open(fp, data + 1, size - 1, &out, &outlen, &signer,
		    &certs, &fail, err);
		break;
	case 1:
	case 2:
		(void)cms_unwrap(data + 1, size - 1, data[0] == 1 ?
		    &fp->fp_fg : &fp->fp_agent, fp->fp_store, &out, &outlen,
		    &signer, &certs, &fail, err);
		break;
	case 3:
		(void)cms_verify(data + 1, size - 1, fp->fp_store, &out,
		    &outlen, &signer, &certs, &fail, err);
		break;
	case 4:
		(void)cms_unenvelope(data + 1, size - 1, &fp->fp_bg, &out,
		    &outlen, &fail, err);
		break;
	default:
		break;
	}
	free(out);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return 0;
}
