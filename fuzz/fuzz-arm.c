/*
 * NAME
 *	fuzz-arm.c - libFuzzer target: ARM records (arm_parse)
 * DESCRIPTION
 *	The input is an ARM as the policy daemon takes it from an
 *	agent's HTTPS request (once unwrapped) or from another courier,
 *	and as an agent reads it back. A record arm_parse() accepts is
 *	matched against its own message id, sender and recipients, and
 *	written again with arm_format(), which must accept it.
 */
#include <stdlib.h>

#include "tandem.h"
#include "arm.h"
#include "fuzz.h"

int
FUZZ_ENTRY(arm)(const uint8_t *data, size_t size)
{
	struct arm_record *ar = NULL;
	char err[TN_ERRLEN], *out = NULL;
	size_t outlen;

	if (arm_parse((const char *)data, size, &ar, err) == -1)
		return 0;
	(void)arm_is_restricted(ar);
	if (arm_matches(ar, ar->ar_msgid, ar->ar_sender, ar->ar_rcpts,
	    ar->ar_nrcpts, err) == -1)
		abort();
	if (arm_format(ar, &out, &outlen, err) == -1)
		abort();
	free(out);
	arm_free(ar);
	return 0;
}
