/*
 * NAME
 *	fuzz-proto.c - libFuzzer target: protocol messages (proto_parse)
 * DESCRIPTION
 *	The input is one protocol message as it arrives in a wrap or an
 *	HTTPS body. What proto_parse() accepts is read back field by
 *	field and written again with proto_format(), which must accept
 *	it: a message that parses but does not format is a bug.
 */
#include <stdlib.h>

#include "tandem.h"
#include "fuzz.h"
#include "proto.h"

int
FUZZ_ENTRY(proto)(const uint8_t *data, size_t size)
{
	struct proto_msg *pm = NULL;
	char err[TN_ERRLEN], *out = NULL;
	size_t i, outlen;

	if (proto_parse((const char *)data, size, &pm, err) == -1)
		return 0;
	for (i = 0; i < pm->pm_nfields; i++)
		(void)proto_get_nth(pm, pm->pm_fields[i].pf_name, 0);
	(void)proto_kind_name(pm->pm_kind);
	if (proto_format(pm, &out, &outlen, err) == -1)
		abort();
	free(out);
	proto_msg_free(pm);
	return 0;
}
