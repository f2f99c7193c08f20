/*
 * NAME
 *	fuzz-agent.c - libFuzzer target: what an agent reads when it fetches
 * DESCRIPTION
 *	The input is a mail in the agent's maildir or a body fetched
 *	from its background. tmail_parse() reads it (a body that is
 *	not a mail is taken as the DER of a wrap); the wrap is opened
 *	with the agent's key (cms_unwrap(): decryption, signature,
 *	signer to the root), and its content read as the agent does:
 *	first as an ARM (arm_parse()), else as a protocol message (a
 *	receipt, a revoke, a notice). Opening a sealed content with
 *	the ARM's key is fuzz-cms's.
 */
#include <stdlib.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "fuzz.h"
#include "proto.h"
#include "tmail.h"

static void
agent_read(const struct fuzz_pki *fp, const unsigned char *wrap,
    size_t wraplen)
{
	struct arm_record *ar = NULL;
	struct proto_msg *pm = NULL;
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	enum cms_fail fail;
	unsigned char *out = NULL;
	size_t outlen;
	char err[TN_ERRLEN];

	if (cms_unwrap(wrap, wraplen, &fp->fp_agent, fp->fp_store, &out,
	    &outlen, &signer, &certs, &fail, err) == -1)
		return;
	if (arm_parse((char *)out, outlen, &ar, err) == 0)
		(void)arm_is_restricted(ar);
	else if (proto_parse((char *)out, outlen, &pm, err) == 0)
		(void)proto_get(pm, "Message-Id");
	arm_free(ar);
	proto_msg_free(pm);
	free(out);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
}

int
FUZZ_ENTRY(agent)(const uint8_t *data, size_t size)
{
	const struct fuzz_pki *fp = fuzz_pki();
	struct tmail *tm = NULL;
	char err[TN_ERRLEN];

	if (tmail_parse((const char *)data, size, &tm, err) == -1) {
		agent_read(fp, data, size);
		return 0;
	}
	if (tm->tm_kind == TMAIL_SERVICE)
		agent_read(fp, tm->tm_der, tm->tm_derlen);
	tmail_free(tm);
	return 0;
}
