/*
 * NAME
 *	fuzz-intro.c - libFuzzer target: introductions and their chains
 * DESCRIPTION
 *	The first byte of the input picks what is read, the rest is the
 *	text (fuzz/corpus/intro holds seeds of each):
 *
 *	0	intro_read(): an introduction protocol message, its
 *		certificate and chain checked to the fixed test root.
 *	1	intro_ic_read(): an inter-courier message with its origin
 *		introduction; then the origin's signature and the digest.
 *	2	intro_check_pem(): a certificate and its chain, PEM, as the
 *		introductions table stores them; then intro_below() and
 *		intro_sub_add() against the foreground of fuzz/pki.
 *
 *	What is accepted has its domains written and covered.
 */
#include <stdlib.h>

#include "tandem.h"
#include "fuzz.h"
#include "intro.h"
#include "proto.h"

static void
intro_use(const struct intro *in)
{
	char err[TN_ERRLEN], *doms = NULL;
	size_t i;

	if (intro_domains_text(in, &doms, err) == 0)
		free(doms);
	for (i = 0; i < in->in_ndomains; i++)
		if (!intro_covers(in, in->in_domains[i]))
			abort();
	(void)intro_covers(in, "a@corp.example");
}

static void
intro_pem(const struct fuzz_pki *fp, const char *text, size_t len)
{
	struct intro *in = NULL;
	STACK_OF(X509) *subs;
	char err[TN_ERRLEN];

	if (intro_check_pem(fp->fp_trust, text, len, NULL, 0, PKI_KIND_NONE,
	    &in, err) == 0)
		intro_use(in);
	intro_free(in);
	(void)intro_below(fp->fp_fg.ci_cert, fp->fp_chain, text, 0);
	if ((subs = sk_X509_new_null()) == NULL)
		abort();
	(void)intro_sub_add(fp->fp_fg.ci_cert, fp->fp_chain, text, subs);
	sk_X509_pop_free(subs, X509_free);
}

int
FUZZ_ENTRY(intro)(const uint8_t *data, size_t size)
{
	const struct fuzz_pki *fp = fuzz_pki();
	struct intro *in = NULL;
	struct intro_ic *ic = NULL;
	struct proto_msg *pm = NULL;
	char err[TN_ERRLEN], hex[65], *text;

	if (size < 1)
		return 0;
	text = fuzz_str(data + 1, size - 1);
	switch (data[0]) {
	case 0:
		if (intro_read(fp->fp_trust, text, size - 1, PKI_KIND_NONE,
		    &in, &pm, err) == 0)
			intro_use(in);
		break;
	case 1:
		if (intro_ic_read(fp->fp_trust, text, size - 1, &ic, &in,
		    err) == 0) {
			intro_use(in);
			(void)intro_ic_verify(ic, err);
			(void)intro_ic_digest(ic, hex, err);
		}
		break;
	case 2:
		intro_pem(fp, text, size - 1);
		break;
	default:
		break;
	}
	intro_free(in);
	intro_ic_free(ic);
	proto_msg_free(pm);
	free(text);
	return 0;
}
