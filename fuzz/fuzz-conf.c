/*
 * NAME
 *	fuzz-conf.c - libFuzzer target: the configuration reader
 * DESCRIPTION
 *	The input is a tandem.conf, written to a temporary file and read
 *	with conf_load(), then the submission host:port, when set, is
 *	resolved through conf_resolve(). conf_load() must either
 *	refuse it with a reason or return a complete struct conf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tandem.h"
#include "conf.h"
#include "fuzz.h"

int
FUZZ_ENTRY(conf)(const uint8_t *data, size_t size)
{
	static char path[] = "/tmp/tandem-fuzz-conf.XXXXXX";
	struct conf *cf = NULL;
	char err[TN_ERRLEN], tmpl[sizeof(path)], buf[256];
	int fd;

	memcpy(tmpl, path, sizeof(path));
	if ((fd = mkstemp(tmpl)) == -1)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	err[0] = '\0';
	if (conf_load(tmpl, &cf, err) == 0) {
		if (cf == NULL || cf->cf_path == NULL)
			abort();
		if (cf->cf_submission_host != NULL)
			(void)conf_resolve(cf, cf->cf_submission_host,
			    cf->cf_submission_port, buf, sizeof(buf));
		conf_free(cf);
	} else if (err[0] == '\0')
		abort();
	unlink(tmpl);
	return 0;
}
