/*
 * NAME
 *	keybox-test - unit tests for lib/keybox.c
 * DESCRIPTION
 *	Round trip, then a table of boxes that must not open: wrong
 *	secret, wrong address, truncated, every kind of flipped bit.
 *	Then the key file reader: good files and bad ones. Then the held
 *	key and held boxes.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tandem.h"
#include "keybox.h"

static const char plain[] =
    "-----BEGIN PRIVATE KEY-----\nnot really a key\n"
    "-----END PRIVATE KEY-----\n";

enum damage { D_NONE, D_SECRET, D_ADDRESS, D_TRUNCATE, D_FLIP, D_SHORT,
	D_VERSION };

static const struct {
	const char	*name;
	enum damage	 damage;
	size_t		 where;	/* byte to flip or length to keep */
} damages[] = {
	{ "opens with the same secret and address", D_NONE, 0 },
	{ "wrong secret is refused", D_SECRET, 0 },
	{ "wrong address is refused", D_ADDRESS, 0 },
	{ "truncated by one byte is refused", D_TRUNCATE, 1 },
	{ "header only is refused", D_SHORT, KEYBOX_OVERHEAD },
	{ "empty is refused", D_SHORT, 0 },
	{ "flipped version is refused", D_VERSION, 0 },
	{ "flipped nonce bit is refused", D_FLIP, 1 },
	{ "flipped tag bit is refused", D_FLIP, 1 + KEYBOX_NONCE_LEN },
	{ "flipped ciphertext bit is refused", D_FLIP, KEYBOX_OVERHEAD + 3 },
	{ "flipped last bit is refused", D_FLIP, (size_t)-1 },
};

/* Open box, damaged each way of the table, with kb (or other). */
static void
test_damage(const struct keybox *kb, const struct keybox *other,
    const unsigned char *box, size_t boxlen)
{
	unsigned char *out, buf[512];
	char err[TN_ERRLEN];
	size_t i, len, outlen = 0;
	const char *addr;
	int rc;

	for (i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		memcpy(buf, box, boxlen);
		len = boxlen;
		addr = "ann@a.example";
		switch (damages[i].damage) {
		case D_ADDRESS:
			addr = "bob@a.example";
			break;
		case D_TRUNCATE:
			len -= damages[i].where;
			break;
		case D_SHORT:
			len = damages[i].where;
			break;
		case D_VERSION:
			buf[0] ^= 0x02;
			break;
		case D_FLIP:
			buf[damages[i].where == (size_t)-1 ? len - 1 :
			    damages[i].where] ^= 0x10;
			break;
		default:
			break;
		}
		out = NULL;
		rc = keybox_open(damages[i].damage == D_SECRET ? other : kb,
		    addr, buf, len, &out, &outlen, err);
		if (damages[i].damage == D_NONE)
			ok(rc == 0 && outlen == strlen(plain) &&
			    strcmp((char *)out, plain) == 0, "%s",
			    damages[i].name);
		else
			ok(rc == -1 && out == NULL, "%s: %s", damages[i].name,
			    err);
		keybox_clear_free(out, outlen);
	}
}

static void
test_box(void)
{
	unsigned char secret[KEYBOX_SECRET_LEN], *box = NULL, *box2 = NULL;
	unsigned char *out, buf[8];
	char err[TN_ERRLEN];
	struct keybox *kb, *other;
	size_t boxlen, box2len, outlen;
	int rc;

	memset(secret, 7, sizeof(secret));
	kb = keybox_new(secret, sizeof(secret), err);
	secret[0] ^= 1;
	other = keybox_new(secret, sizeof(secret), err);
	ok(kb != NULL && other != NULL, "keybox_new");
	ok(keybox_new(secret, 16, err) == NULL && strstr(err, "32") != NULL,
	    "a short secret is refused: %s", err);
	rc = keybox_seal(kb, "ann@a.example", (const unsigned char *)plain,
	    strlen(plain), &box, &boxlen, err);
	is_int(rc, 0, "seal");
	if (rc == -1)
		goto out;
	is_int(boxlen, strlen(plain) + KEYBOX_OVERHEAD, "box length");
	is_int(box[0], KEYBOX_VERSION, "version byte first");
	ok(memmem(box, boxlen, "PRIVATE KEY", 11) == NULL,
	    "no plaintext in the box");
	rc = keybox_seal(kb, "ann@a.example", (const unsigned char *)plain,
	    strlen(plain), &box2, &box2len, err);
	ok(rc == 0 && memcmp(box + 1, box2 + 1, KEYBOX_NONCE_LEN) != 0,
	    "a fresh nonce each time");
	is_int(keybox_seal(kb, "ann@a.example", buf, 0, &out, &outlen, err),
	    -1, "sealing nothing is refused");
	is_int(keybox_seal(kb, "", (const unsigned char *)plain, 3, &out,
	    &outlen, err), -1, "sealing without an address is refused");
	test_damage(kb, other, box, boxlen);
out:
	free(box);
	free(box2);
	keybox_free(kb);
	keybox_free(other);
	keybox_free(NULL);
	keybox_clear_free(NULL, 0);
}

static void
test_file(void)
{
	static const struct {
		const char	*name;
		const char	*text;
		int		 mode;
		int		 good;
	} cases[] = {
		{ "64 hex digits and a newline", "0123456789abcdef0123456789"
		    "abcdef0123456789abcdef0123456789abcdef\n", 0600, 1 },
		{ "64 hex digits, upper case, no newline", "0123456789ABCDEF"
		    "0123456789abcdef0123456789abcdef0123456789abcdef", 0640,
		    1 },
		{ "63 digits", "0123456789abcdef0123456789abcdef0123456789ab"
		    "cdef0123456789abcde\n", 0600, 0 },
		{ "not hex", "0123456789abcdef0123456789abcdef0123456789abcd"
		    "ef0123456789abcdez\n", 0600, 0 },
		{ "two newlines", "0123456789abcdef0123456789abcdef0123456789"
		    "abcdef0123456789abcdef\n\n", 0600, 0 },
		{ "empty", "", 0600, 0 },
		{ "readable by others", "0123456789abcdef0123456789abcdef0123"
		    "456789abcdef0123456789abcdef\n", 0644, 0 },
	};
	char dir[] = "/tmp/tandem-keybox-XXXXXX", path[64], err[TN_ERRLEN];
	struct keybox *kb;
	FILE *fp;
	size_t i;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/key", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if ((fp = fopen(path, "w")) == NULL) {
			ok(0, "fopen");
			break;
		}
		fputs(cases[i].text, fp);
		fclose(fp);
		chmod(path, (mode_t)cases[i].mode);
		err[0] = '\0';
		kb = keybox_load(path, err);
		ok((kb != NULL) == cases[i].good, "key file: %s%s%s",
		    cases[i].name, cases[i].good ? "" : ": ", err);
		keybox_free(kb);
		unlink(path);
	}
	ok(keybox_load(path, err) == NULL && strstr(err, "No such") != NULL,
	    "a missing key file: %s", err);
	rmdir(dir);
}

/* Held messages: their own key file, their own boxes. */
static void
test_held(void)
{
	char dir[] = "/tmp/tandem-heldkey-XXXXXX", path[64], err[TN_ERRLEN];
	static const unsigned char body[] = "0\x82 not really CMS";
	unsigned char *box = NULL, *out = NULL, *big = NULL;
	size_t boxlen = 0, outlen = 0, biglen = 100 * 1024;
	struct keybox *kb = NULL, *again = NULL;
	struct stat st;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/held.key", dir);
	err[0] = '\0';
	ok(keybox_load_private(path, 0, err) == NULL &&
	    strstr(err, "No such") != NULL,
	    "held key: missing, not created: %s", err);
	kb = keybox_load_private(path, 1, err);
	ok(kb != NULL && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "held key: created at first load, mode 0600");
	again = keybox_load_private(path, 1, err);
	ok(again != NULL, "held key: loaded again, not replaced");
	ok(kb != NULL && keybox_seal_held(kb, "m1@a.example", "bob@b.example",
	    body, sizeof(body), &box, &boxlen, err) == 0 &&
	    keybox_is_held(box, boxlen) && !keybox_is_held(body, sizeof(body)),
	    "held: sealed, and told from a body as received");
	ok(box != NULL && keybox_open_held(again, "m1@a.example",
	    "bob@b.example", box, boxlen, &out, &outlen, err) == 0 &&
	    outlen == sizeof(body) && memcmp(out, body, outlen) == 0,
	    "held: opens with the same key, message id and recipient");
	keybox_clear_free(out, outlen);
	out = NULL;
	ok(box != NULL && keybox_open_held(kb, "m1@a.example",
	    "eve@b.example", box, boxlen, &out, &outlen, err) == -1,
	    "held: another recipient's row does not open it");
	ok(box != NULL && keybox_open_held(kb, "m2@a.example",
	    "bob@b.example", box, boxlen, &out, &outlen, err) == -1,
	    "held: another message's row does not open it");
	ok(box != NULL && keybox_open(kb, "m1@a.example\nbob@b.example", box,
	    boxlen, &out, &outlen, err) == -1,
	    "held: not a sealed key (version byte)");
	keybox_clear_free(box, boxlen);
	box = NULL;
	big = calloc(1, biglen);
	ok(big != NULL && kb != NULL && keybox_seal_held(kb, "m3@a.example",
	    "bob@b.example", big, biglen, &box, &boxlen, err) == 0 &&
	    keybox_open_held(kb, "m3@a.example", "bob@b.example", box, boxlen,
	    &out, &outlen, err) == 0 && outlen == biglen,
	    "held: larger than a sealed key may be");
	keybox_clear_free(out, outlen);
	keybox_clear_free(box, boxlen);
	free(big);
	chmod(path, 0640);
	ok(keybox_load_private(path, 1, err) == NULL &&
	    strstr(err, "chmod 600") != NULL,
	    "held key: group-readable is refused: %s", err);
	keybox_free(kb);
	keybox_free(again);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	test_box();
	test_file();
	test_held();
	return tap_done();
}
