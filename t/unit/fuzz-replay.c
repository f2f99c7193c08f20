/*
 * NAME
 *	fuzz-replay - run inputs through a fuzz target without libFuzzer
 * SYNOPSIS
 *	fuzz-replay TARGET FILE...
 * DESCRIPTION
 *	Calls the entry of fuzz/fuzz-TARGET.c (built with -DFUZZ_REPLAY,
 *	fuzz.h) once per FILE with its bytes, as libFuzzer does, and
 *	prints one TAP line per file. The normal build makes it, so
 *	that the gcc and sanitizer builds replay fuzz/regress and the
 *	corpora (t/0095-fuzz-regress.sh). The test PKI is found as the
 *	targets find it: $TANDEM_FUZZ_PKI.
 *
 *	Built with -DFUZZ_POLICYD (t/unit/fuzz-replay-policyd, linked with
 *	the policy daemon's sources and run by t/0096-fuzz-policyd.sh,
 *	which gives it a database) it knows one target: policyd; without
 *	$TANDEM_FUZZ_PD_DB it says "1..0 # SKIP" and exits 77.
 * DIAGNOSTICS
 *	Exit 0; 1 when a file cannot be read; 2 on usage. A crash is
 *	the sanitizer's or the signal's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static const struct {
	const char	*name;
	int		(*fn)(const uint8_t *, size_t);
} targets[] = {
#ifdef FUZZ_POLICYD
	{ "policyd", fuzz_policyd },
#else
	{ "agent", fuzz_agent },
	{ "arm", fuzz_arm },
	{ "cms", fuzz_cms },
	{ "conf", fuzz_conf },
	{ "httpd", fuzz_httpd },
	{ "intro", fuzz_intro },
	{ "proto", fuzz_proto },
	{ "tmail", fuzz_tmail },
#endif
};

static int
replay_file(int (*fn)(const uint8_t *, size_t), const char *path)
{
	FILE *fp;
	uint8_t *buf = NULL, *nbuf;
	size_t len = 0, size = 0, n;
	int rc = -1;

	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	for (;;) {
		if (len == size) {
			size = size ? size * 2 : 65536;
			if ((nbuf = realloc(buf, size)) == NULL)
				goto out;
			buf = nbuf;
		}
		if ((n = fread(buf + len, 1, size - len, fp)) == 0)
			break;
		len += n;
	}
	if (ferror(fp))
		goto out;
	(void)fn(buf, len);
	rc = 0;
out:
	fclose(fp);
	free(buf);
	return rc;
}

int
main(int argc, char *argv[])
{
	size_t i;
	int a, bad = 0;

#ifdef FUZZ_POLICYD
	if (getenv("TANDEM_FUZZ_PD_DB") == NULL) {
		printf("1..0 # SKIP no database: TANDEM_FUZZ_PD_DB "
		    "(t/0096-fuzz-policyd.sh)\n");
		return 77;
	}
#endif
	if (argc < 2) {
		fprintf(stderr, "usage: fuzz-replay TARGET FILE...\n");
		return 2;
	}
	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		if (strcmp(targets[i].name, argv[1]) == 0)
			break;
	if (i == sizeof(targets) / sizeof(targets[0])) {
		fprintf(stderr, "fuzz-replay: no target %s\n", argv[1]);
		return 2;
	}
	for (a = 2; a < argc; a++) {
		if (replay_file(targets[i].fn, argv[a]) == -1) {
			printf("not ok - %s %s: cannot read\n", argv[1],
			    argv[a]);
			bad = 1;
		} else
			printf("ok - %s %s\n", argv[1], argv[a]);
		fflush(stdout);
	}
	return bad;
}
