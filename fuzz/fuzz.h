/*
 * NAME
 *	fuzz.h - what the libFuzzer targets share
 * SYNOPSIS
 *	#include "fuzz.h"
 *
 *	int	FUZZ_ENTRY(name)(const uint8_t *data, size_t size);
 *
 *	const struct fuzz_pki *fuzz_pki(void);
 *	char	*fuzz_str(const uint8_t *data, size_t size);
 * DESCRIPTION
 *	Each fuzz/fuzz-NAME.c is one target. Built for libFuzzer (clang
 *	-fsanitize=fuzzer) its entry point is LLVMFuzzerTestOneInput();
 *	built with -DFUZZ_REPLAY (the normal build's replay driver,
 *	t/unit/fuzz-replay.c) it is fuzz_NAME(), so that one program
 *	replays every target's inputs.
 *
 *	fuzz_pki() loads, once per process, the fixed test PKI of
 *	fuzz/pki (made by fuzz/mkseeds.c; the folder is
 *	$TANDEM_FUZZ_PKI, or fuzz/pki under the current folder): the trust
 *	anchors, and the identities of a foreground, a background and an
 *	agent of the private courier corp.example. It aborts when the
 *	files cannot be read: a broken harness, not an input. The result
 *	belongs to the process.
 *
 *	fuzz_str() copies data into a NUL-terminated string, to be passed
 *	to free(); it aborts when out of memory.
 */
#ifndef TANDEM_FUZZ_H
#define TANDEM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "cms.h"
#include "pki.h"

#ifdef FUZZ_REPLAY
#define FUZZ_ENTRY(name)	fuzz_##name
#else
#define FUZZ_ENTRY(name)	LLVMFuzzerTestOneInput
#endif

struct fuzz_pki {
	struct pki_trust	*fp_trust;
	X509_STORE		*fp_store;	/* owned by fp_trust */
	STACK_OF(X509)		*fp_chain;	/* the courier CA */
	struct cms_id		 fp_fg;
	struct cms_id		 fp_bg;
	struct cms_id		 fp_agent;
};

const struct fuzz_pki *fuzz_pki(void);
char	*fuzz_str(const uint8_t *, size_t);

int	FUZZ_ENTRY(agent)(const uint8_t *, size_t);
int	FUZZ_ENTRY(arm)(const uint8_t *, size_t);
int	FUZZ_ENTRY(cms)(const uint8_t *, size_t);
int	FUZZ_ENTRY(conf)(const uint8_t *, size_t);
int	FUZZ_ENTRY(httpd)(const uint8_t *, size_t);
int	FUZZ_ENTRY(intro)(const uint8_t *, size_t);
int	FUZZ_ENTRY(policyd)(const uint8_t *, size_t);
int	FUZZ_ENTRY(proto)(const uint8_t *, size_t);
int	FUZZ_ENTRY(tmail)(const uint8_t *, size_t);

#endif
