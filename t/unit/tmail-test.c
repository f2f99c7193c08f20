/*
 * NAME
 *	tmail-test - unit tests for lib/tmail.c and the opaque sign and
 *	envelope-only functions of lib/cms.c
 * DESCRIPTION
 *	Makes a root, a courier CA, an FG element and an agent with
 *	pki_issue(), then: signs and verifies an invitation; envelopes
 *	and unenvelopes a registration; composes each kind of Tandem
 *	mail and parses it back; and feeds the parser a table of bad
 *	mails, each of which must be refused with the expected reason.
 */
#include <openssl/x509.h>

#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "cms.h"
#include "pki.h"
#include "proto.h"
#include "tandem.h"
#include "tmail.h"

struct node {
	X509		*n_cert;
	EVP_PKEY	*n_key;
};

static struct node root, ca, fg, agent, other;

static int
make(struct node *n, struct node *up, enum pki_kind kind, enum pki_role role,
    const char *email)
{
	struct pki_req rq;
	char err[TN_ERRLEN];

	memset(&rq, 0, sizeof(rq));
	n->n_key = pki_key_generate(PKI_KEY_EC, err);
	rq.rq_kind = kind;
	rq.rq_role = role;
	rq.rq_cn = email != NULL ? email : "ca";
	rq.rq_email = email;
	rq.rq_days = 30;
	rq.rq_pubkey = n->n_key;
	rq.rq_issuer_cert = up != NULL ? up->n_cert : NULL;
	rq.rq_issuer_key = up != NULL ? up->n_key : n->n_key;
	if (pki_issue(&rq, &n->n_cert, err) == -1) {
		diag("pki_issue: %s", err);
		return -1;
	}
	return 0;
}

static void
node_free(struct node *n)
{
	X509_free(n->n_cert);
	EVP_PKEY_free(n->n_key);
}

static void
test_sign(X509_STORE *store, X509_STORE *wrong)
{
	static const char inv[] = "Token: abc\r\n";
	STACK_OF(X509) *chain = sk_X509_new_null(), *certs = NULL;
	struct cms_id id = { fg.n_cert, fg.n_key, chain };
	unsigned char *der = NULL, *out = NULL;
	size_t derlen = 0, outlen = 0;
	X509 *signer = NULL;
	enum cms_fail fail;
	char err[TN_ERRLEN];

	sk_X509_push(chain, ca.n_cert);
	ok(cms_sign((const unsigned char *)inv, strlen(inv), &id, &der,
	    &derlen, err) == 0, "cms_sign");
	ok(cms_verify(der, derlen, store, &out, &outlen, &signer, &certs,
	    &fail, err) == 0 && fail == CMS_FAIL_NONE, "cms_verify");
	ok(out != NULL && outlen == strlen(inv) && memcmp(out, inv,
	    outlen) == 0, "the content comes back");
	ok(signer != NULL && X509_cmp(signer, fg.n_cert) == 0,
	    "the signer is the FG element");
	ok(certs != NULL && sk_X509_num(certs) == 2, "with its chain");
	free(out);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	ok(cms_verify(der, derlen, wrong, &out, &outlen, NULL, NULL,
	    &fail, err) == -1 && fail == CMS_FAIL_CHAIN && out == NULL,
	    "another root: chain failure (%s)", err);
	der[derlen - 3] ^= 1;
	ok(cms_verify(der, derlen, store, &out, &outlen, NULL, NULL,
	    &fail, err) == -1 && fail == CMS_FAIL_SIGNATURE,
	    "altered content: signature failure (%s)", err);
	ok(cms_verify((const unsigned char *)"garbage", 7, store, &out,
	    &outlen, NULL, NULL, &fail, err) == -1 && fail == CMS_FAIL_INPUT,
	    "garbage: input failure (%s)", err);
	free(der);
	sk_X509_free(chain);
}

static void
test_envelope(void)
{
	static const char reg[] = "Token: abc\r\nAddress: d@a.example\r\n";
	STACK_OF(X509) *rcpts = sk_X509_new_null();
	struct cms_id fgid = { fg.n_cert, fg.n_key, NULL };
	struct cms_id agid = { agent.n_cert, agent.n_key, NULL };
	unsigned char *der = NULL, *out = NULL;
	size_t derlen = 0, outlen = 0;
	enum cms_fail fail;
	char err[TN_ERRLEN];

	sk_X509_push(rcpts, fg.n_cert);
	ok(cms_envelope((const unsigned char *)reg, strlen(reg), rcpts,
	    &der, &derlen, err) == 0, "cms_envelope");
	ok(cms_unenvelope(der, derlen, &fgid, &out, &outlen, &fail,
	    err) == 0 && outlen == strlen(reg) && memcmp(out, reg,
	    outlen) == 0, "cms_unenvelope with the FG key");
	free(out);
	ok(cms_unenvelope(der, derlen, &agid, &out, &outlen, &fail,
	    err) == -1 && fail == CMS_FAIL_DECRYPT && out == NULL,
	    "another key: decrypt failure (%s)", err);
	ok(cms_unenvelope((const unsigned char *)"\x30\x03\x02\x01\x01", 5,
	    &fgid, &out, &outlen, &fail, err) == -1 &&
	    fail == CMS_FAIL_INPUT, "not CMS: input failure (%s)", err);
	sk_X509_pop(rcpts);
	ok(cms_envelope((const unsigned char *)reg, strlen(reg), rcpts,
	    &out, &outlen, err) == -1, "no recipient refused (%s)", err);
	free(der);
	sk_X509_free(rcpts);
}

static const unsigned char der1[] = {
	0x30, 0x82, 0x01, 0x00, 0xff, 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
};

static void
test_roundtrip(enum tmail_kind kind)
{
	static const char *const to[] = { "bob@a.example", "Carol@A.example" };
	unsigned char big[300];
	struct tmail_head th;
	struct tmail *tm = NULL;
	char *mail = NULL, err[TN_ERRLEN];
	size_t len, i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	big[0] = 0x30;
	memset(&th, 0, sizeof(th));
	th.th_kind = kind;
	th.th_from = "alice@a.example";
	th.th_to = to;
	th.th_nto = 2;
	th.th_msgid = "m1.x@a.example";
	th.th_text = "Hello.\nRun: tandem register --invitation FILE\n";
	if (!ok(tmail_compose(&th, big, sizeof(big), &mail, &len, err) == 0,
	    "compose %s", tmail_kind_name(kind))) {
		diag("%s", err);
		return;
	}
	ok(strstr(mail, "\n") != NULL && strstr(mail, "\r\r") == NULL &&
	    strlen(mail) == len, "%s: NUL-terminated", tmail_kind_name(kind));
	for (i = 0; i < len; i++)
		if (mail[i] == '\n' && (i == 0 || mail[i - 1] != '\r'))
			break;
	ok(i == len, "%s: every line ends in CRLF", tmail_kind_name(kind));
	if (!ok(tmail_parse(mail, len, &tm, err) == 0, "parse %s",
	    tmail_kind_name(kind))) {
		diag("%s", err);
		free(mail);
		return;
	}
	ok(tm->tm_kind == kind, "kind");
	is_str(tm->tm_from, "alice@a.example", "From");
	is_str(tm->tm_msgid, "m1.x@a.example", "Message-ID");
	ok(tm->tm_nto == 2 && strcmp(tm->tm_to[0], "bob@a.example") == 0 &&
	    strcmp(tm->tm_to[1], "carol@a.example") == 0,
	    "To, lower-cased");
	ok(tm->tm_derlen == sizeof(big) && memcmp(tm->tm_der, big,
	    sizeof(big)) == 0, "the DER comes back");
	if (kind == TMAIL_INVITATION)
		ok(tm->tm_text != NULL && strstr(tm->tm_text,
		    "tandem register --invitation FILE\r\n") != NULL,
		    "the text part, CRLF");
	else
		ok(tm->tm_text == NULL, "no text part");
	tmail_free(tm);
	free(mail);
}

static void
test_body(void)
{
	unsigned char big[200];
	char *b = NULL, err[TN_ERRLEN];
	size_t len;

	memset(big, 0xab, sizeof(big));
	ok(tmail_body(big, sizeof(big), &b, &len, err) == 0, "tmail_body");
	/* 200 bytes: 57+57+57+29 -> lines of 76, 76, 76, 40 */
	ok(b != NULL && len == 3 * 78 + 42 && b[76] == '\r' && b[77] == '\n',
	    "lines of 76 characters with CRLF");
	free(b);
	ok(tmail_body(big, 0, &b, &len, err) == -1 && b == NULL,
	    "empty body refused");
}

#define HEAD	"From: alice@a.example\r\nTo: bob@a.example\r\n" \
		"Message-ID: <m1@a.example>\r\nMIME-Version: 1.0\r\n"
#define P7M	"Content-Type: application/pkcs7-mime\r\n" \
		"Content-Transfer-Encoding: base64\r\n\r\nMIIBAA==\r\n"

static void
test_bad(void)
{
	static const struct {
		const char *name, *mail, *want;
	} cases[] = {
		{ "no Tandem-Kind", HEAD P7M, "Tandem-Kind: 0 headers" },
		{ "two Tandem-Kind", HEAD "Tandem-Kind: content\r\n"
		  "Tandem-Kind: content\r\n" P7M, "Tandem-Kind: 2 headers" },
		{ "unknown kind", HEAD "Tandem-Kind: spam\r\n" P7M,
		  "unknown kind" },
		{ "two From", HEAD "From: x@a.example\r\n"
		  "Tandem-Kind: content\r\n" P7M, "duplicated header" },
		{ "From a group", "From: g: a@a.example, b@a.example;\r\n"
		  "To: bob@a.example\r\nMessage-ID: <m1@a.example>\r\n"
		  "Tandem-Kind: content\r\n" P7M, "From: not exactly one" },
		{ "From not an address", "From: alice\r\n"
		  "To: bob@a.example\r\nMessage-ID: <m1@a.example>\r\n"
		  "Tandem-Kind: content\r\n" P7M, "From: not exactly one" },
		{ "no To", "From: alice@a.example\r\n"
		  "Message-ID: <m1@a.example>\r\n"
		  "Tandem-Kind: content\r\n" P7M, "To: 0 addresses" },
		{ "no Message-ID", "From: alice@a.example\r\n"
		  "To: bob@a.example\r\nTandem-Kind: content\r\n" P7M,
		  "Message-ID" },
		{ "text body", HEAD "Tandem-Kind: content\r\n"
		  "Content-Type: text/plain\r\n\r\nhello\r\n",
		  "body: not application/pkcs7-mime" },
		{ "body not DER", HEAD "Tandem-Kind: service\r\n"
		  "Content-Type: application/pkcs7-mime\r\n"
		  "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
		  "body: not DER" },
		{ "empty body", HEAD "Tandem-Kind: service\r\n"
		  "Content-Type: application/pkcs7-mime\r\n\r\n",
		  "body" },
		{ "invitation of one part", HEAD "Tandem-Kind: invitation\r\n"
		  P7M, "invitation: not a multipart of 2 parts" },
		{ "NUL byte", HEAD "Tandem-Kind: content\r\n\0" P7M,
		  "NUL byte" },
	};
	struct tmail *tm;
	char err[TN_ERRLEN];
	size_t i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].mail);
		if (strcmp(cases[i].name, "NUL byte") == 0)
			len = sizeof(HEAD "Tandem-Kind: content\r\n\0" P7M) - 1;
		err[0] = '\0';
		tm = NULL;
		ok(tmail_parse(cases[i].mail, len, &tm, err) == -1 &&
		    tm == NULL && strstr(err, cases[i].want) != NULL,
		    "%s refused: %s", cases[i].name, err);
		tmail_free(tm);
	}
}

static void
test_deep(void)
{
	char *buf, err[TN_ERRLEN];
	struct tmail *tm = NULL;
	size_t i, n = 0;

	buf = malloc(64 * 1024);
	n += (size_t)sprintf(buf, HEAD "Tandem-Kind: content\r\n");
	for (i = 0; i < 40; i++)
		n += (size_t)sprintf(buf + n, "Content-Type: multipart/mixed; "
		    "boundary=b%zu\r\n\r\n--b%zu\r\n", i, i);
	ok(tmail_parse(buf, n, &tm, err) == -1 && strstr(err,
	    "nesting") != NULL, "deep nesting refused before GMime: %s",
	    err);
	free(buf);
	ok(tmail_parse("x", 0, &tm, err) == -1, "empty mail refused");
}

static void
test_compose_bad(void)
{
	static const char *const to[] = { "bob@a.example" };
	static const char *const badto[] = { "bob" };
	struct tmail_head th;
	char *out = NULL, err[TN_ERRLEN];
	size_t len;

	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_CONTENT;
	th.th_from = "alice@a.example";
	th.th_to = to;
	th.th_nto = 1;
	th.th_msgid = "m1@a.example";
	th.th_subject = "bad\r\nBcc: x@evil.example";
	ok(tmail_compose(&th, der1, sizeof(der1), &out, &len, err) == -1 &&
	    out == NULL && strstr(err, "Subject") != NULL,
	    "a subject with CRLF refused: %s", err);
	th.th_subject = NULL;
	th.th_msgid = "<m1@a.example>";
	ok(tmail_compose(&th, der1, sizeof(der1), &out, &len, err) == -1 &&
	    strstr(err, "Message-ID") != NULL, "bracketed id refused: %s",
	    err);
	th.th_msgid = "m1@a.example";
	th.th_to = badto;
	ok(tmail_compose(&th, der1, sizeof(der1), &out, &len, err) == -1 &&
	    strstr(err, "To:") != NULL, "bad To refused: %s", err);
	th.th_to = to;
	th.th_kind = TMAIL_INVITATION;
	ok(tmail_compose(&th, der1, sizeof(der1), &out, &len, err) == -1 &&
	    strstr(err, "text") != NULL, "invitation without text: %s", err);
	th.th_text = "a\rb\n";
	ok(tmail_compose(&th, der1, sizeof(der1), &out, &len, err) == -1 &&
	    strstr(err, "bare CR") != NULL, "bare CR in text: %s", err);
	ok(tmail_kind_from_name("service") == TMAIL_SERVICE &&
	    tmail_kind_from_name("Service") == TMAIL_NONE &&
	    tmail_kind_name(TMAIL_NONE) == NULL, "kind names");
}

/* An operator's invitation: "invited", no held message, no --smtp. */
static void
invite_operator(const struct tmail_invite *held)
{
	struct tmail_invite ti = *held;
	unsigned char hash[TMAIL_HASHLEN];
	char *mail = NULL, msgid[TN_MAX_MSGID + 1], err[TN_ERRLEN];
	size_t len;

	ti.ti_msgids = NULL;
	ti.ti_nmsgids = 0;
	ti.ti_submission = NULL;
	ti.ti_anchor_url = "https://a.example/root.crt";
	if (!ok(tmail_invitation(&ti, &mail, &len, msgid, sizeof(msgid), hash,
	    err) == 0, "an operator's invitation")) {
		diag("%s", err);
		return;
	}
	ok(strstr(mail, "Subject: You are invited to Tandem private "
	    "mail\r\n") != NULL && strstr(mail, "You are invited to receive "
	    "private mail as dave@a.example") != NULL && strstr(mail,
	    "waits") == NULL && strstr(mail, "sent you") == NULL,
	    "an operator's says invited, not waits");
	ok(strstr(mail, "--anchor root.crt\r\n") != NULL && strstr(mail,
	    "from https://a.example/root.crt.") != NULL,
	    "no --smtp when none is set; the root's URL");
	free(mail);
}

/* The decline code: in the text, not in the signed part; found again. */
static void
invite_decline(const struct tmail_invite *held)
{
	struct tmail_invite ti = *held;
	unsigned char hash[TMAIL_HASHLEN], dh[TMAIL_HASHLEN], h2[32];
	char *mail = NULL, msgid[TN_MAX_MSGID + 1], err[TN_ERRLEN];
	char code[TMAIL_DECLINE_CODELEN + 1], subj[128];
	const char *p;
	size_t len;
	unsigned int n;

	ti.ti_decline = dh;
	if (!ok(tmail_invitation(&ti, &mail, &len, msgid, sizeof(msgid), hash,
	    err) == 0, "an invitation with a decline code")) {
		diag("%s", err);
		return;
	}
	p = strstr(mail, "     Do not invite me again " TMAIL_DECLINE);
	ok(p != NULL && tmail_decline_code(p, code, sizeof(code)) == 0 &&
	    EVP_Digest(code, strlen(code), h2, &n, EVP_sha256(), NULL) == 1 &&
	    memcmp(h2, dh, sizeof(h2)) == 0 && memcmp(dh, hash,
	    sizeof(dh)) != 0, "the Subject to write; its code's SHA-256 "
	    "is kept, not the token's");
	snprintf(subj, sizeof(subj), "mailto:tandem@a.example?subject=Do%%20"
	    "not%%20invite%%20me%%20again%%20" TMAIL_DECLINE "%s ", code);
	ok(strstr(mail, subj) != NULL && strstr(mail, "each sender, "
	    "alice@a.example too, that you declined") != NULL,
	    "the mailto: link to the service mailbox; who is told");
	snprintf(subj, sizeof(subj), " Re: Do not invite me again "
	    TMAIL_DECLINE "%s", code);
	ok(tmail_decline_code(subj, code, sizeof(code)) == 0 &&
	    tmail_decline_code("Re: " TMAIL_DECLINE "abc", code,
	    sizeof(code)) == -1 && tmail_decline_code("Hello", code,
	    sizeof(code)) == -1, "a code in a reply's Subject; a short one "
	    "and none refused");
	free(mail);
}

static void
test_invitation(X509_STORE *store)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct cms_id id = { fg.n_cert, fg.n_key, chain };
	static const char *const ids[] = { "m1@a.example" };
	struct tmail_invite ti;
	struct tmail *tm = NULL;
	struct proto_msg *pm = NULL;
	unsigned char hash[TMAIL_HASHLEN], h2[TMAIL_HASHLEN], *in = NULL;
	char *mail = NULL, msgid[TN_MAX_MSGID + 1], err[TN_ERRLEN];
	const char *tok;
	size_t len, inlen;
	unsigned int n;
	enum cms_fail fail;

	sk_X509_push(chain, ca.n_cert);
	memset(&ti, 0, sizeof(ti));
	ti.ti_address = "dave@a.example";
	ti.ti_inviter = "alice@a.example";
	ti.ti_courier = "a.example";
	ti.ti_register = "tandem@a.example";
	ti.ti_msgids = ids;
	ti.ti_nmsgids = 1;
	ti.ti_expires = time(NULL) + 3600;
	ti.ti_id = &id;
	ti.ti_submission = "mail.a.example:587";
	if (!ok(tmail_invitation(&ti, &mail, &len, msgid, sizeof(msgid), hash,
	    err) == 0, "tmail_invitation")) {
		diag("%s", err);
		goto out;
	}
	ok(strstr(mail, "Subject: alice@a.example sent you a private "
	    "message\r\n") != NULL && strstr(mail, "To: dave@a.example\r\n")
	    != NULL, "subject and recipient");
	ok(strstr(mail, "It waits for you, held by the courier") != NULL &&
	    strstr(mail, "You are invited") == NULL, "a held message waits");
	ok(strstr(mail, "  tandem register --invitation invitation.eml "
	    "--anchor root.crt --smtp mail.a.example:587\r\n") != NULL &&
	    strstr(mail, "from the courier's operator") != NULL,
	    "the whole command; the root from the operator");
	ok(strstr(mail, "then \"tandem fetch\" gets the keys of your "
	    "messages\r\n   and \"tandem read\" shows them.") != NULL,
	    "fetch before read: a held message's key waits at the "
	    "background");
	invite_operator(&ti);
	invite_decline(&ti);
	ok(strstr(mail, TMAIL_DECLINE) == NULL, "no decline code unless "
	    "asked for");
	if (!ok(tmail_parse(mail, len, &tm, err) == 0 &&
	    tm->tm_kind == TMAIL_INVITATION &&
	    strcmp(tm->tm_msgid, msgid) == 0, "parses as an invitation") ||
	    !ok(cms_verify(tm->tm_der, tm->tm_derlen, store, &in, &inlen,
	    NULL, NULL, &fail, err) == 0, "the signed part verifies") ||
	    !ok(proto_parse((char *)in, inlen, &pm, err) == 0 &&
	    pm->pm_kind == PROTO_INVITATION, "an invitation message")) {
		diag("%s", err);
		goto out;
	}
	is_str(proto_get(pm, "Message-Id"), "m1@a.example", "held id");
	is_str(proto_get(pm, "Register-Address"), "tandem@a.example",
	    "register address");
	ok(proto_part(pm, "fg-cert") != NULL &&
	    proto_part(pm, "ca-chain") != NULL, "fg-cert and ca-chain");
	tok = proto_get(pm, "Token");
	ok(tok != NULL && strlen(tok) == 43 && EVP_Digest(tok, strlen(tok),
	    h2, &n, EVP_sha256(), NULL) == 1 && memcmp(h2, hash,
	    sizeof(h2)) == 0, "the hash is the token's SHA-256");
out:
	proto_msg_free(pm);
	tmail_free(tm);
	free(in);
	free(mail);
	sk_X509_free(chain);
}

int
main(void)
{
	X509_STORE *store, *wrong;

	if (make(&root, NULL, PKI_KIND_COURIER_CA, PKI_ROLE_ROOT, NULL) ||
	    make(&ca, &root, PKI_KIND_COURIER_CA, PKI_ROLE_PUBLIC, NULL) ||
	    make(&fg, &ca, PKI_KIND_FG, 0, "tandem@a.example") ||
	    make(&agent, &ca, PKI_KIND_AGENT, 0, "bob@a.example") ||
	    make(&other, NULL, PKI_KIND_COURIER_CA, PKI_ROLE_ROOT, NULL)) {
		ok(0, "test PKI");
		return tap_done();
	}
	store = X509_STORE_new();
	X509_STORE_add_cert(store, root.n_cert);
	wrong = X509_STORE_new();
	X509_STORE_add_cert(wrong, other.n_cert);

	test_sign(store, wrong);
	test_envelope();
	test_roundtrip(TMAIL_CONTENT);
	test_roundtrip(TMAIL_SERVICE);
	test_roundtrip(TMAIL_INVITATION);
	test_body();
	test_bad();
	test_deep();
	test_compose_bad();
	test_invitation(store);

	X509_STORE_free(store);
	X509_STORE_free(wrong);
	node_free(&root);
	node_free(&ca);
	node_free(&fg);
	node_free(&agent);
	node_free(&other);
	proto_shutdown();
	return tap_done();
}
