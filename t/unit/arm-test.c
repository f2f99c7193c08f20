/*
 * NAME
 *	arm-test - unit tests for lib/arm.c
 * DESCRIPTION
 *	Round trips of Private and Restricted records, the exact bytes of
 *	one record, and a table of malformed ARMs, each of which must be
 *	refused with a reason naming what is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tandem.h"
#include "arm.h"
#include "proto.h"

#define HEAD	"MIME-Version: 1.0\r\n" \
		"Content-Type: application/vnd.tandem.arm\r\n" \
		"Content-Transfer-Encoding: 7bit\r\n\r\n"

#define KEYHEX	"000102030405060708090a0b0c0d0e0f" \
		"101112131415161718191a1b1c1d1e1f"
#define DIGHEX	"ffeeddccbbaa99887766554433221100" \
		"ffeeddccbbaa99887766554433221100"

static const char *base_fields[] = {
	"Message-Id: 20260131.abc@a.example",
	"Content-Key: " KEYHEX,
	"Content-Digest: " DIGHEX,
	"Sender: alice@a.example",
	"Recipient: bob@b.example",
	"Issued: 2026-01-31T12:00:00Z",
	NULL
};

static struct arm_record *
sample(void)
{
	struct arm_record *ar = arm_new();
	char err[TN_ERRLEN];
	size_t i;

	ar->ar_msgid = strdup("20260131.abc@a.example");
	ar->ar_sender = strdup("alice@a.example");
	for (i = 0; i < ARM_KEYLEN; i++)
		ar->ar_key[i] = (unsigned char)i;
	for (i = 0; i < ARM_DIGESTLEN; i++)
		ar->ar_digest[i] = (unsigned char)(0xff - 0x11 * (i % 16));
	ar->ar_issued = 1769860800;	/* 2026-01-31T12:00:00Z */
	if (arm_add_rcpt(ar, "bob@b.example", err) == -1)
		diag("sample: %s", err);
	return ar;
}

/* The base fields minus the one called drop, plus extra lines. */
static char *
arm_text(const char *drop, const char *extra)
{
	size_t cap = 4096 + (extra ? 2 * strlen(extra) : 0), off, i;
	char *buf = malloc(cap);
	const char *p;

	off = (size_t)snprintf(buf, cap, "%s", HEAD);
	for (i = 0; base_fields[i] != NULL; i++) {
		if (drop != NULL && strncmp(base_fields[i], drop,
		    strlen(drop)) == 0 && base_fields[i][strlen(drop)] == ':')
			continue;
		off += (size_t)snprintf(buf + off, cap - off, "%s\r\n",
		    base_fields[i]);
	}
	for (p = extra; p != NULL && *p != '\0'; p++) {
		if (*p == '\n')
			buf[off++] = '\r';
		buf[off++] = *p;
	}
	buf[off] = '\0';
	return buf;
}

static void
test_exact(void)
{
	static const char want[] = HEAD
	    "Message-Id: 20260131.abc@a.example\r\n"
	    "Content-Key: " KEYHEX "\r\n"
	    "Content-Digest: " DIGHEX "\r\n"
	    "Sender: alice@a.example\r\n"
	    "Recipient: bob@b.example\r\n"
	    "Issued: 2026-01-31T12:00:00Z\r\n";
	struct arm_record *ar = sample();
	char err[TN_ERRLEN], *out = NULL;
	size_t len = 0;

	is_int(arm_format(ar, &out, &len, err), 0, "format a Private ARM");
	is_str(out, want, "exact bytes, CRLF line endings");
	is_int(len, strlen(want), "length counts every byte");
	ok(!arm_is_restricted(ar), "no restriction: Private");
	free(out);
	arm_free(ar);
}

static void
test_round_trip(void)
{
	struct arm_record *ar = sample(), *back = NULL;
	char err[TN_ERRLEN], *out = NULL;
	size_t len;
	int rc;

	arm_add_rcpt(ar, "carol@c.example", err);
	ar->ar_restr.rs_expires = ar->ar_issued + 86400;
	ar->ar_restr.rs_no_forward = 1;
	ar->ar_restr.rs_no_reply_all = 1;
	ar->ar_restr.rs_no_print = 1;
	ar->ar_restr.rs_no_copy = 1;
	ar->ar_restr.rs_read_receipt = 1;
	ar->ar_restr.rs_max_opens = 3;
	ok(arm_is_restricted(ar), "restrictions: Restricted");
	is_int(arm_format(ar, &out, &len, err), 0, "format a Restricted ARM");
	rc = arm_parse(out, len, &back, err);
	if (!ok(rc == 0, "parse it back"))
		diag("%s", err);
	if (back != NULL) {
		is_str(back->ar_msgid, ar->ar_msgid, "message id");
		is_str(back->ar_sender, ar->ar_sender, "sender");
		is_int(back->ar_nrcpts, 2, "two recipients");
		is_str(back->ar_rcpts[1], "carol@c.example", "in order");
		ok(memcmp(back->ar_key, ar->ar_key, ARM_KEYLEN) == 0, "key");
		ok(memcmp(back->ar_digest, ar->ar_digest, ARM_DIGESTLEN) == 0,
		    "digest");
		is_int(back->ar_issued, ar->ar_issued, "issued");
		ok(memcmp(&back->ar_restr, &ar->ar_restr,
		    sizeof(ar->ar_restr)) == 0, "all restrictions");
	}
	ok(strstr(out, "Expires: 2026-02-01T12:00:00Z\r\n") != NULL &&
	    strstr(out, "Max-Opens: 3\r\n") != NULL, "restriction fields");
	free(out);
	arm_free(back);
	arm_free(ar);
}

static void
test_base64_key(void)
{
	/* The bytes 00..1f in base64. */
	char *text = arm_text("Content-Key", "Content-Key: "
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	struct arm_record *ar = NULL;
	char err[TN_ERRLEN];
	int rc;

	rc = arm_parse(text, strlen(text), &ar, err);
	if (!ok(rc == 0, "a base64 content key is accepted"))
		diag("%s", err);
	ok(ar != NULL && ar->ar_key[0] == 0 && ar->ar_key[31] == 0x1f,
	    "and decoded");
	arm_free(ar);
	free(text);
}

static char *
many_rcpts(int n)
{
	char *buf = malloc((size_t)n * 40 + 1);
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(buf + off, "Recipient: r%d@b.example\n",
		    i);
	return buf;
}

static void
test_refusals(void)
{
	static const struct {
		const char *name, *drop, *extra, *why;
	} cases[] = {
		{ "missing sender", "Sender", NULL, "missing field Sender" },
		{ "missing key", "Content-Key", NULL,
		    "missing field Content-Key" },
		{ "missing recipient", "Recipient", NULL,
		    "missing field Recipient" },
		{ "duplicated sender", NULL, "Sender: eve@e.example\n",
		    "field Sender appears 2 times" },
		{ "duplicated issued", NULL,
		    "Issued: 2026-01-31T12:00:00Z\n", "Issued appears" },
		{ "double @", "Recipient", "Recipient: bob@@b.example\n",
		    "field Recipient" },
		{ "space in address", "Recipient",
		    "Recipient: bob smith@b.example\n", "field Recipient" },
		{ "angle brackets", "Sender", "Sender: <alice@a.example>\n",
		    "field Sender" },
		{ "no domain", "Sender", "Sender: alice@\n", "field Sender" },
		{ "bad domain", "Sender", "Sender: alice@a..example\n",
		    "field Sender" },
		{ "short hex key", "Content-Key", "Content-Key: "
		    "000102030405060708090a0b0c0d0e0f"
		    "101112131415161718191a1b1c1d1e1\n", "field Content-Key" },
		{ "long hex key", "Content-Key", "Content-Key: " KEYHEX "00\n",
		    "field Content-Key" },
		{ "non-hex key", "Content-Key", "Content-Key: "
		    "000102030405060708090a0b0c0d0e0f"
		    "101112131415161718191a1b1c1d1e1g\n", "field Content-Key" },
		{ "short digest", "Content-Digest", "Content-Digest: abcd\n",
		    "field Content-Digest" },
		{ "bracketed id", "Message-Id",
		    "Message-Id: <x@a.example>\n", "field Message-Id" },
		{ "Feb 30", "Issued", "Issued: 2026-02-30T12:00:00Z\n",
		    "field Issued" },
		{ "local time", "Issued", "Issued: 2026-01-31T12:00:00+01:00\n",
		    "field Issued" },
		{ "expires before issued", NULL,
		    "Expires: 2026-01-30T12:00:00Z\n", "before Issued" },
		{ "not yes/no", NULL, "No-Forward: maybe\n",
		    "field No-Forward" },
		{ "max-opens overflow", NULL, "Max-Opens: 4294967296\n",
		    "field Max-Opens" },
		{ "max-opens negative", NULL, "Max-Opens: -1\n",
		    "field Max-Opens" },
		{ "unknown field", NULL, "Forward-To: eve@e.example\n",
		    "unknown field Forward-To" },
		{ "bare CR injection", NULL,
		    "Read-Receipt: no\rSender: eve@e.example\n", "bare CR" },
		{ "folded line", NULL, "Read-Receipt: y\n es\n", "folded" },
		{ "no colon", NULL, "Read-Receipt yes\n", "not \"Name: value\"" },
		{ "control byte", NULL, "Reason\x01: x\n", "bad field name" },
		{ "8-bit value", NULL, "X-Note: caf\xc3\xa9\n",
		    "non-ASCII" },
	};
	struct arm_record *ar;
	char err[TN_ERRLEN], *text;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = arm_text(cases[i].drop, cases[i].extra);
		ar = NULL;
		err[0] = '\0';
		rc = arm_parse(text, strlen(text), &ar, err);
		ok(rc == -1 && ar == NULL && strstr(err, cases[i].why) != NULL,
		    "refused: %s (%s)", cases[i].name, err);
		arm_free(ar);
		free(text);
	}
}

static void
test_limits(void)
{
	struct arm_record *ar = NULL;
	char err[TN_ERRLEN], *extra, *text, *out = NULL;
	size_t len;

	extra = many_rcpts(TN_MAX_RCPTS);	/* plus the base one */
	text = arm_text(NULL, extra);
	is_int(arm_parse(text, strlen(text), &ar, err), -1,
	    "TN_MAX_RCPTS+1 recipients refused");
	ok(strstr(err, "more than 100 recipients") != NULL, "%s", err);
	free(text);
	free(extra);

	extra = many_rcpts(TN_MAX_RCPTS - 1);
	text = arm_text(NULL, extra);
	is_int(arm_parse(text, strlen(text), &ar, err), 0,
	    "TN_MAX_RCPTS recipients accepted");
	arm_free(ar);
	free(text);
	free(extra);

	text = arm_text(NULL, NULL);
	len = strlen(text);
	ar = NULL;
	is_int(arm_parse(text, len / 2, &ar, err), -1, "truncated refused");
	ok(strstr(err, "missing field") != NULL || strstr(err, "field") !=
	    NULL, "%s", err);
	is_int(arm_parse(text, 0, &ar, err), -1, "empty refused");
	free(text);
	ok(arm_parse("garbage\x01\x02", 9, &ar, err) == -1,
	    "garbage refused (%s)", err);

	ar = sample();
	is_int(arm_add_rcpt(ar, "bob@B.example", err), -1,
	    "duplicate recipient refused");
	is_int(arm_add_rcpt(ar, "x y@b.example", err), -1,
	    "bad recipient refused");
	free(ar->ar_msgid);
	ar->ar_msgid = strdup("no-at-sign");
	ok(arm_format(ar, &out, &len, err) == -1,
	    "format refuses a bad message id (%s)", err);
	arm_free(ar);
	arm_free(NULL);
	ok(1, "arm_free(NULL) is a no-op");
}

static void
test_wrong_kind(void)
{
	static const char revoke[] = "Content-Type: "
	    "application/vnd.tandem.revoke\r\n\r\n"
	    "Id: r1@a.example\r\nDate: 2026-01-31T12:00:00Z\r\n"
	    "Message-Id: m1@a.example\r\nSender: alice@a.example\r\n";
	struct arm_record *ar = NULL;
	char err[TN_ERRLEN];

	is_int(arm_parse(revoke, strlen(revoke), &ar, err), -1,
	    "a revoke is not an ARM");
	ok(strstr(err, "not an arm") != NULL, "%s", err);
}

int
main(void)
{
	test_exact();
	test_round_trip();
	test_base64_key();
	test_refusals();
	test_limits();
	test_wrong_kind();
	proto_shutdown();
	return tap_done();
}
