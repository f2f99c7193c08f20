/*
 * NAME
 *	fuzz-pki.c - the fixed test PKI the fuzz targets check against
 * DESCRIPTION
 *	See fuzz.h. Linked into every target and into the replay driver.
 * DIAGNOSTICS
 *	A file that cannot be read is reported on stderr, then abort().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem.h"
#include "fuzz.h"

static struct fuzz_pki	pki;
static int		pki_loaded;

static const char *
pki_path(const char *name)
{
	static char path[4096];
	const char *dir;

	if ((dir = getenv("TANDEM_FUZZ_PKI")) == NULL || *dir == '\0')
		dir = "fuzz/pki";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void
pki_id(struct cms_id *id, const char *name)
{
	char file[64], err[TN_ERRLEN];

	snprintf(file, sizeof(file), "%s.crt", name);
	if ((id->ci_cert = pki_load_cert(pki_path(file), err)) == NULL)
		goto fail;
	snprintf(file, sizeof(file), "%s.key", name);
	if ((id->ci_key = pki_load_key(pki_path(file), NULL, err)) == NULL)
		goto fail;
	id->ci_chain = pki.fp_chain;
	return;
fail:
	fprintf(stderr, "fuzz: %s (set TANDEM_FUZZ_PKI)\n", err);
	abort();
}

const struct fuzz_pki *
fuzz_pki(void)
{
	char err[TN_ERRLEN];

	if (pki_loaded)
		return &pki;
	if ((pki.fp_trust = pki_trust_load(pki_path("root.crt"),
	    err)) == NULL || (pki.fp_chain = pki_load_certs(
	    pki_path("chain.crt"), err)) == NULL) {
		fprintf(stderr, "fuzz: %s (set TANDEM_FUZZ_PKI)\n", err);
		abort();
	}
	pki.fp_store = pki_trust_store(pki.fp_trust);
	pki_id(&pki.fp_fg, "fg");
	pki_id(&pki.fp_bg, "bg");
	pki_id(&pki.fp_agent, "agent");
	pki_loaded = 1;
	return &pki;
}

char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}
