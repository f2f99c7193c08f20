/*
 * NAME
 *	proto-test - unit tests for lib/proto.c
 * DESCRIPTION
 *	A round trip for every kind (the examples of doc/protocol.md),
 *	then tables of messages that must be refused, each with a reason
 *	naming the field, part or limit, and never the value of a key or
 *	token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tandem.h"
#include "proto.h"

#define CERT	"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n" \
		"-----END CERTIFICATE-----\n"
#define CSR	"-----BEGIN CERTIFICATE REQUEST-----\nMIIBDzCBtgIBADA\n" \
		"-----END CERTIFICATE REQUEST-----\n"
#define SEALED	"\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03"
#define ARMREC	"MIME-Version: 1.0\r\nContent-Type: " \
		"application/vnd.tandem.arm\r\n\r\nMessage-Id: a@b\r\n"
#define ID	"Id: 1f3a.7@fg.a.example\nDate: 2026-01-31T12:00:00Z\n"
#define TOKEN	"Token: Qm9iJ3MgcmVmZXJyYWwgdG9rZW4\n"

struct kcase {
	enum proto_kind	 kc_kind;
	const char	*kc_fields;	/* "Name: value\n" lines */
	const char	*kc_parts[4][2];	/* role, data */
};

static const struct kcase kcases[] = {
	{ PROTO_ARM, "Message-Id: 20260131.abc@a.example\n"
	    "Content-Key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	    "Content-Digest: 00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n"
	    "Sender: alice@a.example\nRecipient: bob@b.example\n"
	    "Recipient: carol@c.example\nIssued: 2026-01-31T12:00:00Z\n"
	    "Expires: 2026-02-07T12:00:00Z\nNo-Forward: yes\n"
	    "Max-Opens: 3\n", { { NULL, NULL } } },
	{ PROTO_INVITATION, ID TOKEN "Inviter: alice@a.example\n"
	    "Recipient: dave@d.example\nCourier: a.example\n"
	    "Register-Address: tandem@fg.a.example\n"
	    "Background-Url: https://bg.a.example/tandem\n"
	    "Message-Id: 20260131.abc@a.example\n"
	    "Message-Id: 20260131.abd@a.example\n"
	    "Expires: 2026-03-01T00:00:00Z\n",
	    { { "fg-cert", CERT }, { "ca-chain", CERT CERT }, { NULL, NULL } } },
	{ PROTO_REGISTRATION, ID TOKEN "Address: dave@d.example\n"
	    "Agent-Version: tandem 0.1.0\n",
	    { { "agent-csr", CSR }, { NULL, NULL } } },
	{ PROTO_EXCHANGE_KEYS, ID "Address: dave@d.example\nGeneration: 1\n",
	    { { "courier-cert", CERT }, { "agent-cert", CERT },
	    { "ca-chain", CERT }, { NULL, NULL } } },
	{ PROTO_AGENT_ALIVE, ID "Address: dave@d.example\nGeneration: 1\n",
	    { { NULL, NULL } } },
	{ PROTO_NOTICE_TO_REKEY, ID "Address: dave@d.example\n"
	    "Generation: 2\nReason: transfer to b.example\n"
	    "Deadline: 2026-02-01T00:00:00Z\nCourier: b.example\n"
	    "Foreground-Address: tandem@fg.b.example\n"
	    "Background-Url: https://bg.b.example/tandem\n",
	    { { "ca-chain", CERT }, { NULL, NULL } } },
	{ PROTO_REKEYING_COMPLETE, ID "Address: dave@d.example\n"
	    "Generation: 2\n", { { NULL, NULL } } },
	{ PROTO_CONFIG_UPDATE, ID "Address: dave@d.example\n"
	    "Courier: b.example\nForeground-Address: tandem@fg.b.example\n"
	    "Background-Url: https://bg.b.example/tandem\n",
	    { { "ca-chain", CERT }, { NULL, NULL } } },
	{ PROTO_TRANSFER_SUBSCRIPTION, ID "Address: dave@d.example\n"
	    "From-Courier: a.example\nTo-Courier: b.example\n",
	    { { "agent-cert", CERT }, { NULL, NULL } } },
	{ PROTO_TRANSFER_COMPLETE, ID "Address: dave@d.example\n"
	    "From-Courier: a.example\nTo-Courier: b.example\n",
	    { { NULL, NULL } } },
	{ PROTO_INTER_COURIER, ID "From-Element: tandem@fg.a.example\n"
	    "To-Element: tandem@fg.b.example\n"
	    "Message-Id: 20260131.abc@a.example\n"
	    "Sender: alice@a.example\n"
	    "Recipient: bob@b.example\nRecipient: erin@b.example\n"
	    "Hops: 1\nOrigin-Courier: a.example\n",
	    { { "sealed", SEALED }, { "origin-cert", CERT },
	    { "origin-chain", CERT CERT }, { NULL, NULL } } },
	{ PROTO_INTRODUCTION, ID "Courier: c.example\nRole: private\n"
	    "Element: background\n"
	    "Element-Address: https://bg.c.example/tandem\n"
	    "Domain: c.example\nDomain: corp.c.example\n"
	    "Address: dave@c.example\n" TOKEN,
	    { { "element-cert", CERT }, { "ca-chain", CERT }, { NULL, NULL } } },
	{ PROTO_INVITATION_REJECT, ID TOKEN "Address: dave@d.example\n"
	    "Inviting-Courier: a.example\nRegistered-Courier: b.example\n"
	    "Message-Id: 20260131.abc@a.example\n", { { NULL, NULL } } },
	{ PROTO_REVOKE, ID "Message-Id: 20260131.abc@a.example\n"
	    "Sender: alice@a.example\nRecipient: bob@b.example\n"
	    "Reason: sent by mistake\nX-Client: test\n", { { NULL, NULL } } },
	{ PROTO_RECEIPT, ID "Message-Id: 20260131.abc@a.example\n"
	    "Sender: alice@a.example\nRecipient: bob@b.example\n"
	    "Event: opened\n", { { NULL, NULL } } },
};

/* Build a message from "Name: value\n" lines; NULL and a diag on error. */
static struct proto_msg *
build(enum proto_kind kind, const char *fields, const char *const parts[][2],
    char *err)
{
	struct proto_msg *pm = proto_msg_new(kind);
	char line[1024], *colon;
	const char *p, *nl;
	size_t i;

	for (p = fields; p != NULL && *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		colon = strchr(line, ':');
		*colon = '\0';
		if (proto_add(pm, line, colon + 2, err) == -1)
			goto fail;
	}
	for (i = 0; parts != NULL && parts[i][0] != NULL; i++)
		if (proto_attach(pm, parts[i][0], parts[i][1],
		    strlen(parts[i][1]), err) == -1)
			goto fail;
	return pm;
fail:
	diag("build: %s", err);
	proto_msg_free(pm);
	return NULL;
}

static int
same_msg(const struct proto_msg *a, const struct proto_msg *b)
{
	size_t i;

	if (a->pm_kind != b->pm_kind || a->pm_nfields != b->pm_nfields ||
	    a->pm_nparts != b->pm_nparts)
		return 0;
	for (i = 0; i < a->pm_nfields; i++)
		if (strcmp(a->pm_fields[i].pf_name, b->pm_fields[i].pf_name) ||
		    strcmp(a->pm_fields[i].pf_value,
		    b->pm_fields[i].pf_value))
			return 0;
	for (i = 0; i < a->pm_nparts; i++)
		if (strcmp(a->pm_parts[i].pp_role, b->pm_parts[i].pp_role) ||
		    a->pm_parts[i].pp_len != b->pm_parts[i].pp_len ||
		    memcmp(a->pm_parts[i].pp_data, b->pm_parts[i].pp_data,
		    a->pm_parts[i].pp_len))
			return 0;
	return 1;
}

static int
all_crlf(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
	return 1;
}

static void
test_kinds(void)
{
	int k;

	for (k = PROTO_NONE + 1; k < PROTO_NKINDS; k++)
		is_int(proto_kind_from_name(proto_kind_name(k)), k,
		    proto_kind_name(k));
	is_int(proto_kind_from_name("ARM"), PROTO_NONE, "names are exact");
	is_int(proto_kind_from_name("bogus"), PROTO_NONE, "unknown name");
	ok(proto_kind_name(PROTO_NKINDS) == NULL &&
	    proto_kind_name(PROTO_NONE) == NULL, "no name out of range");
	ok(proto_msg_new(PROTO_NONE) == NULL, "no message of kind none");
	is_int(sizeof(kcases) / sizeof(kcases[0]), PROTO_NKINDS - 1,
	    "a round trip case for every kind");
}

static void
test_round_trips(void)
{
	struct proto_msg *pm, *back;
	char err[TN_ERRLEN], *out, *again;
	size_t i, len, len2;
	const char *name;

	for (i = 0; i < sizeof(kcases) / sizeof(kcases[0]); i++) {
		name = proto_kind_name(kcases[i].kc_kind);
		out = again = NULL;
		back = NULL;
		if ((pm = build(kcases[i].kc_kind, kcases[i].kc_fields,
		    kcases[i].kc_parts, err)) == NULL) {
			ok(0, "%s: build", name);
			continue;
		}
		if (!ok(proto_format(pm, &out, &len, err) == 0, "%s: format",
		    name))
			diag("%s", err);
		else if (!ok(proto_parse(out, len, &back, err) == 0,
		    "%s: parse", name))
			diag("%s", err);
		else {
			ok(same_msg(pm, back), "%s: same fields and parts",
			    name);
			ok(all_crlf(out, len), "%s: CRLF only", name);
			ok(proto_format(back, &again, &len2, err) == 0 &&
			    (pm->pm_nparts > 0 || (len2 == len &&
			    memcmp(out, again, len) == 0)),
			    "%s: formats again%s", name, pm->pm_nparts ? "" :
			    " to the same bytes");
		}
		free(out);
		free(again);
		proto_msg_free(back);
		proto_msg_free(pm);
	}
}

static void
test_fields_api(void)
{
	struct proto_msg *pm = proto_msg_new(PROTO_REVOKE);
	char err[TN_ERRLEN];

	proto_add(pm, "Recipient", "a@b.example", err);
	proto_add(pm, "Reason", "one", err);
	proto_add(pm, "recipient", "c@b.example", err);
	is_int(proto_count(pm, "RECIPIENT"), 2, "names compare without case");
	is_str(proto_get_nth(pm, "Recipient", 1), "c@b.example", "n-th value");
	ok(proto_get_nth(pm, "Recipient", 2) == NULL, "past the end: NULL");
	is_int(proto_set(pm, "Recipient", "d@b.example", err), 0, "set");
	is_int(proto_count(pm, "Recipient"), 1, "set drops repeats");
	is_str(proto_get(pm, "Recipient"), "d@b.example", "set replaces");
	is_int(pm->pm_nfields, 2, "other fields kept");
	is_int(proto_set(pm, "Reason", "a\r\nBcc: eve@e.example", err), -1,
	    "CRLF in a value refused");
	ok(strstr(err, "CR or LF") != NULL, "%s", err);
	is_int(proto_add(pm, "Bcc:", "x", err), -1, "colon in a name refused");
	is_int(proto_add(pm, "Bad Name", "x", err), -1,
	    "space in a name refused");
	is_int(proto_add(pm, "Reason", "", err), -1, "empty value refused");
	is_int(proto_add(pm, "Reason", " padded", err), -1,
	    "leading space refused");
	is_int(proto_attach(pm, "agent-cert", CERT, strlen(CERT), err), -1,
	    "a part the kind does not take refused");
	ok(strstr(err, "revoke takes no part \"agent-cert\"") != NULL, "%s",
	    err);
	proto_msg_free(pm);
	proto_msg_free(NULL);
	ok(1, "proto_msg_free(NULL) is a no-op");
}

/* A formatted message of kcases[i] with one field line changed. */
static char *
variant(size_t i, const char *from, const char *to, size_t *lenp)
{
	struct proto_msg *pm;
	char err[TN_ERRLEN], *out = NULL, *hit, *res;
	size_t len, flen, tlen;

	pm = build(kcases[i].kc_kind, kcases[i].kc_fields, kcases[i].kc_parts,
	    err);
	if (pm == NULL || proto_format(pm, &out, &len, err) == -1) {
		proto_msg_free(pm);
		return NULL;
	}
	proto_msg_free(pm);
	if (from == NULL || (hit = strstr(out, from)) == NULL) {
		*lenp = len;
		return out;
	}
	flen = strlen(from);
	tlen = strlen(to);
	res = malloc(len - flen + tlen + 1);
	memcpy(res, out, (size_t)(hit - out));
	memcpy(res + (hit - out), to, tlen);
	memcpy(res + (hit - out) + tlen, hit + flen, len - (size_t)(hit - out)
	    - flen + 1);
	*lenp = len - flen + tlen;
	free(out);
	return res;
}

/* Schema rules checked before writing. */
static void
test_schema(void)
{
	static const struct {
		const char *name;
		size_t idx;	/* into kcases: its fields */
		const char *parts[5][2];
		const char *why;
	} cases[] = {
		{ "introduction without parts", 11, { { NULL, NULL } },
		    "introduction: missing part element-cert" },
		{ "registration without CSR", 2, { { NULL, NULL } },
		    "missing part agent-csr" },
		{ "exchange-keys with CSR and certs", 3, { { "agent-csr", CSR },
		    { "agent-cert", CERT }, { NULL, NULL } },
		    "exchange-keys: needs either" },
		{ "transfer notice without chain", 5, { { NULL, NULL } },
		    "with Courier it needs" },
		{ "inter-courier without payload", 10, { { "origin-cert",
		    CERT }, { "origin-chain", CERT }, { NULL, NULL } },
		    "needs exactly one of parts sealed, arm, revoke and receipt" },
		{ "inter-courier with both payloads", 10, { { "sealed",
		    SEALED }, { "arm", ARMREC }, { "origin-cert", CERT },
		    { "origin-chain", CERT } },
		    "needs exactly one of parts sealed, arm, revoke and receipt" },
		{ "inter-courier without origin", 10, { { "arm", ARMREC },
		    { NULL, NULL } }, "missing part origin-cert" },
	};
	struct proto_msg *pm;
	char err[TN_ERRLEN], *out = NULL;
	size_t i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm = build(kcases[cases[i].idx].kc_kind,
		    kcases[cases[i].idx].kc_fields, cases[i].parts, err);
		err[0] = '\0';
		ok(pm != NULL && proto_format(pm, &out, &len, err) == -1 &&
		    strstr(err, cases[i].why) != NULL, "refused: %s (%s)",
		    cases[i].name, err);
		proto_msg_free(pm);
	}
	pm = proto_msg_new(PROTO_REGISTRATION);
	is_int(proto_attach(pm, "agent-csr", "MIIBDzCBtgIBADA", 15, err), -1,
	    "a PEM part must be PEM");
	ok(strstr(err, "part agent-csr: not PEM text") != NULL, "%s", err);
	is_int(proto_attach(pm, "agent-csr", "", 0, err), -1,
	    "an empty part refused");
	proto_msg_free(pm);
}

static void
test_refusals(void)
{
	static const struct {
		const char *name;
		size_t idx;	/* into kcases */
		const char *from, *to, *why;
	} cases[] = {
		{ "unknown kind", 4, "vnd.tandem.agent-alive",
		    "vnd.tandem.agent-dead", "unknown kind \"agent-dead\"" },
		{ "not a tandem type", 4, "application/vnd.tandem.agent-alive",
		    "text/plain", "not application/vnd.tandem.<kind>" },
		{ "missing required field", 2, "Address: dave@d.example\r\n",
		    "", "registration: missing field Address" },
		{ "duplicated field", 4, "Generation: 1\r\n",
		    "Generation: 1\r\nGeneration: 2\r\n",
		    "field Generation appears 2 times" },
		{ "repeated single recipient", 1, "Recipient: dave@d.example\r\n",
		    "Recipient: dave@d.example\r\nRecipient: eve@d.example\r\n",
		    "field Recipient appears 2 times" },
		{ "bad address", 6, "Address: dave@d.example",
		    "Address: dave@d.example>", "field Address" },
		{ "bad enum", 11, "Role: private", "Role: admin",
		    "root|public|private|gateway" },
		{ "http url", 7, "https://bg", "http://bg", "field Background-Url" },
		{ "short token", 2, "Token: Qm9iJ3MgcmVmZXJyYWwgdG9rZW4",
		    "Token: short", "field Token" },
		{ "bad generation", 6, "Generation: 2", "Generation: 02",
		    "field Generation" },
		{ "unknown part", 2, "Tandem-Part: agent-csr",
		    "Tandem-Part: root-key", "unknown part \"root-key\"" },
		{ "missing part role", 2, "Tandem-Part: agent-csr",
		    "X-Part: agent-csr", "no Tandem-Part header" },
		{ "duplicated part", 11, "Tandem-Part: ca-chain",
		    "Tandem-Part: element-cert",
		    "part element-cert appears twice" },
		{ "wrong part type", 2, "application/x-pem-file",
		    "application/octet-stream", "part agent-csr: type" },
		{ "multipart/alternative", 1, "multipart/mixed",
		    "multipart/alternative", "multipart/mixed" },
		{ "fields in base64", 4, "Content-Transfer-Encoding: 7bit",
		    "Content-Transfer-Encoding: base64", "must be 7bit" },
		{ "duplicate Content-Type", 4, "Content-Transfer-Encoding",
		    "Content-Type: text/plain\r\nContent-Transfer-Encoding",
		    "MIME:" },
		{ "nine hops", 10, "Hops: 1", "Hops: 9",
		    "inter-courier: Hops 9, not 1 to 8" },
		{ "zero hops", 10, "Hops: 1", "Hops: 0",
		    "inter-courier: Hops 0, not 1 to 8" },
		{ "hops not a number", 10, "Hops: 1", "Hops: one",
		    "field Hops" },
		{ "missing origin courier", 10,
		    "Origin-Courier: a.example\r\n", "",
		    "inter-courier: missing field Origin-Courier" },
		{ "missing sender", 10, "Sender: alice@a.example\r\n", "",
		    "inter-courier: missing field Sender" },
		{ "origin chain as sealed", 10, "Tandem-Part: origin-chain",
		    "Tandem-Part: sealed", "part sealed: type" },
		{ "repeated token", 11, "Token: Qm9iJ3MgcmVmZXJyYWwgdG9rZW4",
		    "Token: Qm9iJ3MgcmVmZXJyYWwgdG9rZW4\r\nToken: "
		    "Qm9iJ3MgcmVmZXJyYWwgdG9rZW5", "field Token appears 2" },
		{ "bad introduced address", 11, "Address: dave@c.example",
		    "Address: dave", "field Address" },
		{ "blank line inside fields", 4, "Generation: 1\r\n",
		    "\r\nGeneration: 1\r\n", "blank line" },
	};
	struct proto_msg *pm;
	char err[TN_ERRLEN], *text;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = variant(cases[i].idx, cases[i].from, cases[i].to, &len);
		if (text == NULL || strstr(text, cases[i].to) == NULL) {
			ok(0, "refused: %s (variant not built)", cases[i].name);
			free(text);
			continue;
		}
		pm = NULL;
		err[0] = '\0';
		rc = proto_parse(text, len, &pm, err);
		ok(rc == -1 && pm == NULL && strstr(err, cases[i].why) != NULL,
		    "refused: %s (%s)", cases[i].name, err);
		proto_msg_free(pm);
		free(text);
	}
}

/*
 * A malformed secret (a Content-Key, a token) is refused by name: the
 * reason, which ends up in logs and answers, never carries its value.
 * The others still show what was wrong.
 */
static void
test_secret_values(void)
{
	static const struct {
		const char *name;
		size_t idx;	/* into kcases */
		const char *from, *to, *secret, *why;
	} cases[] = {
		{ "short Content-Key", 0, "Content-Key: AAECAwQFBgcICQoLDA0O",
		    "Content-Key: SECRETKEYSECRETKEY", "SECRETKEY",
		    "arm: field Content-Key: malformed, not 32 bytes" },
		{ "Content-Key with a bad character", 0, "Content-Key: AAECAw",
		    "Content-Key: s3cr3t!k3y!!AAECAw", "s3cr3t!k3y",
		    "arm: field Content-Key: malformed" },
		{ "token with a bad character", 2,
		    "Token: Qm9iJ3MgcmVmZXJyYWwgdG9rZW4",
		    "Token: Qm9iJ3MgcmVm.ZXJyYWwgdG9rZW4", "Qm9iJ3MgcmVm",
		    "registration: field Token: malformed" },
		{ "short route token", 10, "Hops: 1\r\n",
		    "Hops: 1\r\nRoute-Token: r0ute.t0ken\r\n", "r0ute",
		    "field Route-Token: malformed" },
	};
	struct proto_msg *pm;
	char err[TN_ERRLEN], *text;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = variant(cases[i].idx, cases[i].from, cases[i].to, &len);
		if (text == NULL || strstr(text, cases[i].to) == NULL) {
			ok(0, "refused: %s (variant not built)", cases[i].name);
			free(text);
			continue;
		}
		pm = NULL;
		err[0] = '\0';
		rc = proto_parse(text, len, &pm, err);
		ok(rc == -1 && strstr(err, cases[i].why) != NULL,
		    "refused: %s (%s)", cases[i].name, err);
		ok(strstr(err, cases[i].secret) == NULL,
		    "%s: the value is not in the reason", cases[i].name);
		proto_msg_free(pm);
		free(text);
	}
	text = variant(6, "Address: dave@d.example", "Address: dave@d@x",
	    &len);
	pm = NULL;
	ok(text != NULL && proto_parse(text, len, &pm, err) == -1 &&
	    strstr(err, "\"dave@d@x\" is not an address") != NULL,
	    "a bad address is still shown (%s)", err);
	proto_msg_free(pm);
	free(text);
}

static void
test_truncated(void)
{
	struct proto_msg *pm = NULL;
	char err[TN_ERRLEN], *text;
	size_t len, cut, refused = 0, tries = 0;

	/* Every cut of a multipart message must be refused or complete. */
	text = variant(11, NULL, NULL, &len);
	for (cut = 1; cut < len - 4; cut += 7) {
		tries++;
		if (proto_parse(text, cut, &pm, err) == -1)
			refused++;
		proto_msg_free(pm);
		pm = NULL;
	}
	is_int(refused, tries, "every truncation of an introduction refused");
	is_int(proto_parse(text, len - 30, &pm, err), -1,
	    "cut before the closing boundary");
	ok(strstr(err, "truncated") != NULL || strstr(err, "MIME") != NULL ||
	    strstr(err, "part") != NULL, "%s", err);
	free(text);
	ok(proto_parse("\x89PNG\r\n\x1a\n\x01\x02\x03", 11, &pm, err) == -1,
	    "binary garbage refused (%s)", err);
	is_int(proto_parse("", 0, &pm, err), -1, "empty refused");
	is_int(proto_parse("a\0b", 3, &pm, err), -1, "NUL byte refused");
	ok(strstr(err, "NUL") != NULL, "%s", err);
}

static char *
nested(int depth, size_t *lenp)
{
	size_t cap = (size_t)depth * 160 + 512, off = 0;
	char *buf = malloc(cap);
	int i;

	for (i = 0; i < depth; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%sContent-Type: "
		    "multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n",
		    i == 0 ? "MIME-Version: 1.0\r\n" : "", i, i);
	off += (size_t)snprintf(buf + off, cap - off, "Content-Type: "
	    "application/vnd.tandem.agent-alive\r\n\r\n"
	    "Id: x@a.example\r\n\r\n");
	for (i = depth - 1; i >= 0; i--)
		off += (size_t)snprintf(buf + off, cap - off, "--b%d--\r\n", i);
	*lenp = off;
	return buf;
}

static void
test_limits(void)
{
	struct proto_msg *pm = NULL;
	char err[TN_ERRLEN], addr[64], *text, *big;
	size_t len, i;

	text = nested(50, &len);
	is_int(proto_parse(text, len, &pm, err), -1, "50-deep multipart");
	ok(strstr(err, "MIME nesting deeper than 8") != NULL, "%s", err);
	free(text);
	text = nested(TN_MAX_MIME_DEPTH, &len);
	ok(proto_parse(text, len, &pm, err) == -1,
	    "%d-deep multipart (depth %d with the leaf)", TN_MAX_MIME_DEPTH,
	    TN_MAX_MIME_DEPTH + 1);
	ok(strstr(err, "MIME nesting deeper than 8 levels") != NULL, "%s", err);
	free(text);
	text = nested(TN_MAX_MIME_DEPTH - 1, &len);
	is_int(proto_parse(text, len, &pm, err), -1, "depth 8 passes the "
	    "depth check, not the shape check");
	ok(strstr(err, "first entity is not") != NULL, "%s", err);
	free(text);

	/* Recipient TN_MAX_RCPTS + 1 times on a revoke. */
	pm = build(PROTO_REVOKE, ID "Message-Id: m@a.example\n"
	    "Sender: alice@a.example\n", NULL, err);
	for (i = 0; i <= TN_MAX_RCPTS; i++) {
		snprintf(addr, sizeof(addr), "r%zu@b.example", i);
		proto_add(pm, "Recipient", addr, err);
	}
	is_int(proto_format(pm, &text, &len, err), -1,
	    "TN_MAX_RCPTS+1 recipients refused on writing");
	ok(strstr(err, "more than 100 recipients") != NULL, "%s", err);
	proto_msg_free(pm);

	/* A fields block over TN_MAX_FIELDS_SIZE. */
	len = TN_MAX_FIELDS_SIZE + 4096;
	big = malloc(len + 256);
	i = (size_t)snprintf(big, 256, "Content-Type: "
	    "application/vnd.tandem.revoke\r\n\r\n");
	while (i < len) {
		memcpy(big + i, "X-Pad: 0123456789012345678901234567890\r\n", 40);
		i += 40;
	}
	is_int(proto_parse(big, i, &pm, err), -1, "oversize fields block");
	ok(strstr(err, "fields block: larger than 65536") != NULL, "%s", err);
	free(big);
	is_int(proto_parse("x", (size_t)TN_MAX_MESSAGE + 1, &pm, err), -1,
	    "oversize message refused before reading");
	ok(strstr(err, "larger than") != NULL, "%s", err);
}

int
main(void)
{
	proto_init();
	proto_init();	/* idempotent */
	test_kinds();
	test_round_trips();
	test_fields_api();
	test_schema();
	test_refusals();
	test_secret_values();
	test_truncated();
	test_limits();
	proto_shutdown();
	return tap_done();
}
