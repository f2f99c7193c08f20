/*
 * NAME
 *	util-test - unit tests for lib/util.c
 * DESCRIPTION
 *	Hex, and files: exclusive create, modes, the size limit, and a
 *	FIFO refused without waiting (an alarm fails the test if it
 *	hangs).
 */
#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tandem.h"
#include "util.h"

static void
test_hex(void)
{
	static const struct {
		const char *hex;
		size_t len;
		int rc;
	} cases[] = {
		{ "00ff10", 3, 0 },
		{ "00FF10", 3, 0 },
		{ "00ff1", 3, -1 },	/* short */
		{ "00ff1g", 3, -1 },	/* not hex */
		{ "00ff1000", 3, -1 },	/* long */
	};
	unsigned char out[8];
	char *back;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(util_unhex(cases[i].hex, out, cases[i].len), cases[i].rc,
		    cases[i].hex);
	util_unhex("00ff10", out, 3);
	back = util_hex(out, 3);
	is_str(back, "00ff10", "hex round trip");
	free(back);
}

static void
test_escape(void)
{
	static const struct {
		const char *in;
		size_t size;
		int flags;
		const char *out;
	} cases[] = {
		{ "corp.example", 64, 0, "corp.example" },
		{ "evil\" reason=\"ok", 64, 0,
		    "evil\\x22\\x20reason=\\x22ok" },
		{ "evil\" reason=\"ok", 64, UTIL_ESC_SPACE,
		    "evil\\x22 reason=\\x22ok" },
		{ "a\r\nstatus=ok", 64, 0, "a\\x0d\\x0astatus=ok" },
		{ "caf\xc3\xa9\x7f\x01", 64, 0,
		    "caf\\xc3\\xa9\\x7f\\x01" },
		{ "back\\slash 100%", 64, UTIL_ESC_SPACE,
		    "back\\x5cslash 100\\x25" },
		{ NULL, 64, 0, "(none)" },
		{ "", 64, 0, "" },
		{ "abcdefgh", 9, 0, "abcdefgh" },	/* just fits */
		{ "abcdefghi", 9, 0, "abcde..." },	/* cut */
		{ "abcd\nfgh", 9, 0, "abcd..." },	/* no half escape */
		{ "\n\n\n", 8, 0, "\\x0a..." },
		{ "abc", 3, 0, "" },			/* no room at all */
	};
	char out[64];
	const char *got;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'Z', sizeof(out));
		got = util_escape(cases[i].in, out, cases[i].size,
		    cases[i].flags);
		if (!ok(got == out && strcmp(out, cases[i].out) == 0,
		    "escape case %zu", i))
			printf("#   got \"%s\", want \"%s\"\n", out,
			    cases[i].out);
		ok(strlen(out) < cases[i].size, "escape case %zu within %zu "
		    "bytes", i, cases[i].size);
	}
}

static void
test_files(void)
{
	char dir[] = "/tmp/tandem-util-XXXXXX", path[64], err[TN_ERRLEN];
	unsigned char *buf = NULL;
	struct stat st;
	size_t len;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/key", dir);
	is_int(util_write_file(path, "secret", 6, 0600, 1, err), 0,
	    "exclusive create");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "created 0600");
	is_int(util_write_file(path, "again", 5, 0600, 1, err), -1,
	    "exclusive create refuses an existing file");
	is_int(util_read_file(path, 100, &buf, &len, err), 0, "read back");
	ok(len == 6 && memcmp(buf, "secret", 6) == 0, "same bytes");
	free(buf);
	is_int(util_read_file(path, 3, &buf, &len, err), -1,
	    "a file over the limit is refused");
	ok(strstr(err, "larger than") != NULL, "and says why: %s", err);
	is_int(util_write_file(path, "new", 3, 0644, 0, err), 0,
	    "replace by rename");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644,
	    "replaced with the mode asked for");
	unlink(path);

	/* A FIFO with no writer: refused at once (a hang dies of SIGALRM). */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ok(mkfifo(path, 0600) == 0, "mkfifo");
	alarm(10);
	is_int(util_read_file(path, 100, &buf, &len, err), -1,
	    "a FIFO is refused, not waited on");
	alarm(0);
	ok(strstr(err, "fifo: not a regular file (a FIFO)") != NULL, "%s", err);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	test_hex();
	test_escape();
	test_files();
	return tap_done();
}
