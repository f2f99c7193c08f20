/*
 * NAME
 *	intro-test - unit tests for lib/intro.c
 * DESCRIPTION
 *	Builds a hierarchy in memory with pki_issue(): root -> public
 *	isp.example -> private corp.example, root -> gateway gw.example ->
 *	private sub.example, root -> private evil.example, and a second,
 *	untrusted root. Checks what intro_check() reads for each role,
 *	each refusal, a gateway's subordinate domains, the introduction
 *	message round trip with its refusals, and inter-courier messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "tap.h"
#include "intro.h"
#include "pki.h"
#include "proto.h"
#include "tandem.h"
#include "util.h"

struct node {
	X509		*n_cert;
	EVP_PKEY	*n_key;
};

enum {
	N_ROOT, N_PUB, N_PRIV, N_GW, N_SUB, N_EVIL, N_ROOT2,
	N_ROOTFG, N_PUBFG, N_PRIVFG, N_PRIVBG, N_GWFG, N_SUBBG, N_AGENT,
	N_STRAY, N_EVILFG, N_COUNT
};

static const struct {
	int		 up;	/* -1: self-signed */
	enum pki_kind	 kind;
	enum pki_role	 role;
	const char	*cn, *email, *uri, *domain;
} plan[N_COUNT] = {
	[N_ROOT] = { -1, PKI_KIND_COURIER_CA, PKI_ROLE_ROOT, "root.example",
	    NULL, NULL, NULL },
	[N_PUB] = { N_ROOT, PKI_KIND_COURIER_CA, PKI_ROLE_PUBLIC,
	    "isp.example", NULL, NULL, NULL },
	[N_PRIV] = { N_PUB, PKI_KIND_COURIER_CA, PKI_ROLE_PRIVATE,
	    "corp.example", NULL, NULL, "corp.example" },
	[N_GW] = { N_ROOT, PKI_KIND_COURIER_CA, PKI_ROLE_GATEWAY,
	    "gw.example", NULL, NULL, NULL },
	[N_SUB] = { N_GW, PKI_KIND_COURIER_CA, PKI_ROLE_PRIVATE,
	    "sub.example", NULL, NULL, "sub.example" },
	[N_EVIL] = { N_ROOT, PKI_KIND_COURIER_CA, PKI_ROLE_PRIVATE,
	    "evil.example", NULL, NULL, "evil.example" },
	[N_ROOT2] = { -1, PKI_KIND_COURIER_CA, PKI_ROLE_ROOT, "root.example",
	    NULL, NULL, NULL },
	[N_ROOTFG] = { N_ROOT, PKI_KIND_FG, 0, "fg", "tandem@root.example",
	    NULL, NULL },
	[N_PUBFG] = { N_PUB, PKI_KIND_FG, 0, "fg", "tandem@isp.example",
	    NULL, NULL },
	[N_PRIVFG] = { N_PRIV, PKI_KIND_FG, 0, "fg", "tandem@corp.example",
	    NULL, NULL },
	[N_PRIVBG] = { N_PRIV, PKI_KIND_BG, 0, "bg", NULL,
	    "https://bg.corp.example/tandem", NULL },
	[N_GWFG] = { N_GW, PKI_KIND_FG, 0, "fg", "tandem@gw.example", NULL,
	    NULL },
	[N_SUBBG] = { N_SUB, PKI_KIND_BG, 0, "bg", NULL,
	    "https://bg.sub.example/", NULL },
	[N_AGENT] = { N_PUB, PKI_KIND_AGENT, 0, "a", "a@isp.example", NULL,
	    NULL },
	[N_STRAY] = { N_ROOT2, PKI_KIND_FG, 0, "fg", "tandem@isp.example",
	    NULL, NULL },
	[N_EVILFG] = { N_EVIL, PKI_KIND_FG, 0, "fg", "tandem@evil.example",
	    NULL, NULL },
};

static struct node nodes[N_COUNT];
static struct pki_trust *trust;

static int
make_all(void)
{
	struct pki_req rq;
	char err[TN_ERRLEN];
	int i;

	for (i = 0; i < N_COUNT; i++) {
		memset(&rq, 0, sizeof(rq));
		if ((nodes[i].n_key = pki_key_generate(PKI_KEY_EC,
		    err)) == NULL)
			return -1;
		rq.rq_kind = plan[i].kind;
		rq.rq_role = plan[i].role;
		rq.rq_cn = plan[i].cn;
		rq.rq_email = plan[i].email;
		rq.rq_uri = plan[i].uri;
		rq.rq_domain = plan[i].domain;
		rq.rq_days = 30;
		rq.rq_pubkey = nodes[i].n_key;
		rq.rq_issuer_cert = plan[i].up < 0 ? NULL :
		    nodes[plan[i].up].n_cert;
		rq.rq_issuer_key = plan[i].up < 0 ? nodes[i].n_key :
		    nodes[plan[i].up].n_key;
		if (pki_issue(&rq, &nodes[i].n_cert, err) == -1) {
			diag("pki_issue %d: %s", i, err);
			return -1;
		}
	}
	return 0;
}

/* The CAs above node i, up to the root. */
static STACK_OF(X509) *
chain_up(int i)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	for (i = plan[i].up; i >= 0; i = plan[i].up)
		sk_X509_push(sk, nodes[i].n_cert);
	return sk;
}

static void
test_roles(void)
{
	static const struct {
		int node;
		enum pki_kind want;
		const char *courier, *role, *endpoint, *domains;
	} cases[] = {
		{ N_ROOTFG, PKI_KIND_FG, "root.example", "root",
		  "tandem@root.example", "" },
		{ N_PUBFG, PKI_KIND_NONE, "isp.example", "public",
		  "tandem@isp.example", "" },
		{ N_PRIVFG, PKI_KIND_FG, "corp.example", "private",
		  "tandem@corp.example", "corp.example" },
		{ N_PRIVBG, PKI_KIND_BG, "corp.example", "private",
		  "https://bg.corp.example/tandem", "corp.example" },
		{ N_GWFG, PKI_KIND_FG, "gw.example", "gateway",
		  "tandem@gw.example", "" },
		{ N_SUBBG, PKI_KIND_BG, "sub.example", "private",
		  "https://bg.sub.example/", "sub.example" },
	};
	struct intro *in;
	STACK_OF(X509) *chain;
	char err[TN_ERRLEN], *doms;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		chain = chain_up(cases[i].node);
		in = NULL;
		if (intro_check(trust, nodes[cases[i].node].n_cert, chain,
		    cases[i].want, &in, err) == -1) {
			ok(0, "%s %s: %s", cases[i].role, cases[i].courier,
			    err);
			sk_X509_free(chain);
			continue;
		}
		ok(strcmp(in->in_courier, cases[i].courier) == 0,
		    "courier of %s: %s", cases[i].endpoint, in->in_courier);
		is_str(pki_role_name(in->in_role), cases[i].role, "role");
		is_int(in->in_kind, plan[cases[i].node].kind, "kind");
		is_str(in->in_endpoint, cases[i].endpoint, "endpoint");
		doms = NULL;
		ok(intro_domains_text(in, &doms, err) == 0 && doms != NULL &&
		    strcmp(doms, cases[i].domains) == 0, "domains \"%s\"",
		    doms != NULL ? doms : "(null)");
		ok(strstr(in->in_pem, "-----BEGIN CERTIFICATE-----") ==
		    in->in_pem, "PEM kept");
		free(doms);
		intro_free(in);
		sk_X509_free(chain);
	}
	intro_free(NULL);
}

static void
test_refusals(void)
{
	static const struct {
		const char *name;
		int node, chain;	/* chain: node whose chain, -1 none */
		enum pki_kind want;
		const char *why;
	} cases[] = {
		{ "wrong kind", N_PRIVFG, N_PRIVFG, PKI_KIND_BG,
		  "introduction of a foreground, not a background" },
		{ "not an element", N_AGENT, N_AGENT, PKI_KIND_NONE,
		  "introduction: certificate of kind agent, not an element" },
		{ "a courier CA", N_PRIV, N_PRIV, PKI_KIND_NONE,
		  "of kind courier-ca, not an element" },
		{ "untrusted root", N_STRAY, N_STRAY, PKI_KIND_FG,
		  "untrusted introduction" },
		{ "missing chain", N_PRIVBG, -1, PKI_KIND_BG,
		  "untrusted introduction" },
		{ "chain of another courier", N_PRIVBG, N_SUBBG, PKI_KIND_BG,
		  "untrusted introduction" },
	};
	struct intro *in;
	STACK_OF(X509) *chain;
	char err[TN_ERRLEN];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		chain = cases[i].chain < 0 ? NULL : chain_up(cases[i].chain);
		in = NULL;
		err[0] = '\0';
		rc = intro_check(trust, nodes[cases[i].node].n_cert, chain,
		    cases[i].want, &in, err);
		ok(rc == -1 && in == NULL && strstr(err, cases[i].why) !=
		    NULL, "refused: %s (%s)", cases[i].name, err);
		intro_free(in);
		sk_X509_free(chain);
	}
}

static void
test_gateway(void)
{
	STACK_OF(X509) *chain = chain_up(N_GWFG);
	struct intro *in = NULL;
	char err[TN_ERRLEN], *doms = NULL;
	int rc;

	sk_X509_push(chain, nodes[N_SUB].n_cert);
	sk_X509_push(chain, nodes[N_PRIV].n_cert);	/* not the gateway's */
	sk_X509_push(chain, nodes[N_PUB].n_cert);
	sk_X509_push(chain, nodes[N_EVIL].n_cert);	/* not the gateway's */
	err[0] = '\0';
	rc = intro_check(trust, nodes[N_GWFG].n_cert, chain, PKI_KIND_FG, &in,
	    err);
	ok(rc == 0, "gateway with subordinates %s", err);
	if (in != NULL && intro_domains_text(in, &doms, err) == 0)
		is_str(doms, "sub.example", "only its subordinate's domains");
	ok(intro_covers(in, "dave@x.sub.example"), "covers a subordinate");
	ok(!intro_covers(in, "dave@corp.example"), "not another's domain");
	free(doms);
	intro_free(in);
	sk_X509_free(chain);
}

static void
test_covers(void)
{
	static const struct {
		const char *name;
		int want;
	} cases[] = {
		{ "corp.example", 1 }, { "CORP.example", 1 },
		{ "a.corp.example", 1 }, { "dave@b.a.corp.example", 1 },
		{ "dave@corp.example", 1 }, { "badcorp.example", 0 },
		{ "example", 0 }, { "dave@example", 0 }, { "", 0 },
		{ "corp.example.evil", 0 },
	};
	STACK_OF(X509) *chain = chain_up(N_PRIVFG);
	struct intro *in = NULL;
	char err[TN_ERRLEN];
	size_t i;

	if (intro_check(trust, nodes[N_PRIVFG].n_cert, chain, PKI_KIND_FG,
	    &in, err) == -1)
		diag("%s", err);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(intro_covers(in, cases[i].name) == cases[i].want,
		    "covers \"%s\": %d", cases[i].name, cases[i].want);
	is_int(intro_covers(NULL, "corp.example"), 0, "NULL covers nothing");
	intro_free(in);
	sk_X509_free(chain);
}

/* An introduction message of node i, then one field changed. */
static char *
intro_msg(int node, const char *addr, const char *field, const char *value,
    size_t *len)
{
	struct intro_req rq;
	struct proto_msg *pm = NULL;
	STACK_OF(X509) *chain = chain_up(node);
	STACK_OF(X509) *subs = sk_X509_new_null();
	char err[TN_ERRLEN], *out = NULL, *again = NULL;

	sk_X509_push(subs, nodes[N_SUB].n_cert);
	memset(&rq, 0, sizeof(rq));
	rq.ir_cert = nodes[node].n_cert;
	rq.ir_chain = chain;
	rq.ir_subs = node == N_GWFG ? subs : NULL;
	rq.ir_addrs = &addr;
	rq.ir_naddrs = addr != NULL;
	rq.ir_token = "Qm9iJ3MgcmVmZXJyYWwgdG9rZW4";
	if (intro_make(&rq, &out, len, err) == -1)
		diag("intro_make: %s", err);
	else if (field != NULL && (proto_parse(out, *len, &pm, err) == -1 ||
	    proto_add(pm, field, value, err) == -1 ||
	    proto_format(pm, &again, len, err) == -1))
		diag("changing %s: %s", field, err);
	if (field != NULL) {
		free(out);
		out = again;
	}
	proto_msg_free(pm);
	sk_X509_free(chain);
	sk_X509_free(subs);
	return out;
}

static void
test_messages(void)
{
	static const struct {
		const char *name;
		int node;
		const char *addr, *field, *value;
		enum pki_kind want;
		const char *why;	/* NULL: accepted */
		const char *domains;
	} cases[] = {
		{ "private BG", N_PRIVBG, "dave@corp.example", NULL, NULL,
		  PKI_KIND_BG, NULL, "corp.example" },
		{ "gateway FG", N_GWFG, "erin@sub.example", NULL, NULL,
		  PKI_KIND_FG, NULL, "sub.example" },
		{ "public FG, any address", N_PUBFG, "dave@b.example", NULL,
		  NULL, PKI_KIND_FG, NULL, "" },
		{ "private address outside", N_PRIVFG, "dave@evil.example",
		  NULL, NULL, PKI_KIND_FG, "private courier corp.example "
		  "claims address dave@evil.example outside its name "
		  "constraints", NULL },
		{ "private domain outside", N_PRIVFG, NULL, "Domain",
		  "evil.example", PKI_KIND_FG, "private courier corp.example "
		  "claims domain evil.example outside", NULL },
		{ "public claims a domain", N_PUBFG, NULL, "Domain",
		  "isp.example", PKI_KIND_FG, "public courier isp.example "
		  "claims domain isp.example", NULL },
		{ "wrong element kind", N_PRIVBG, NULL, NULL, NULL,
		  PKI_KIND_FG, "introduction of a background, not a "
		  "foreground", NULL },
		{ "from another courier CA", N_EVILFG, NULL, NULL, NULL,
		  PKI_KIND_FG, NULL, "evil.example" },
	};
	struct intro *in;
	struct proto_msg *pm;
	char err[TN_ERRLEN], *msg, *doms;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		msg = intro_msg(cases[i].node, cases[i].addr, cases[i].field,
		    cases[i].value, &len);
		in = NULL;
		pm = NULL;
		err[0] = '\0';
		rc = msg == NULL ? -2 : intro_read(trust, msg, len,
		    cases[i].want, &in, &pm, err);
		if (cases[i].why != NULL) {
			ok(rc == -1 && in == NULL && strstr(err,
			    cases[i].why) != NULL, "refused: %s (%s)",
			    cases[i].name, err);
		} else if (rc != 0) {
			ok(0, "%s: %s", cases[i].name, err);
		} else {
			doms = NULL;
			ok(intro_domains_text(in, &doms, err) == 0 &&
			    strcmp(doms, cases[i].domains) == 0,
			    "%s: domains \"%s\"", cases[i].name,
			    doms != NULL ? doms : "(null)");
			ok(proto_count(pm, "Domain") == in->in_ndomains,
			    "%s: a Domain field for each", cases[i].name);
			ok(cases[i].addr == NULL || strcmp(proto_get(pm,
			    "Address"), cases[i].addr) == 0, "%s: Address",
			    cases[i].name);
			free(doms);
		}
		intro_free(in);
		proto_msg_free(pm);
		free(msg);
	}
}

static void
test_forged_fields(void)
{
	static const char *const fields[][3] = {
		{ "Courier", "isp.example", "field Courier says isp.example, "
		  "the certificate corp.example" },
		{ "Role", "public", "field Role says public" },
		{ "Element-Address", "tandem@isp.example",
		  "field Element-Address says tandem@isp.example" },
	};
	struct proto_msg *pm = NULL;
	struct intro *in = NULL;
	char err[TN_ERRLEN], *msg, *out = NULL;
	size_t i, len;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		msg = intro_msg(N_PRIVFG, NULL, NULL, NULL, &len);
		if (msg == NULL || proto_parse(msg, len, &pm, err) == -1 ||
		    proto_set(pm, fields[i][0], fields[i][1], err) == -1 ||
		    proto_format(pm, &out, &len, err) == -1)
			diag("forging %s: %s", fields[i][0], err);
		err[0] = '\0';
		ok(out != NULL && intro_read(trust, out, len, PKI_KIND_FG,
		    &in, NULL, err) == -1 && strstr(err, fields[i][2]) !=
		    NULL, "refused: forged %s (%s)", fields[i][0], err);
		intro_free(in);
		in = NULL;
		proto_msg_free(pm);
		pm = NULL;
		free(msg);
		free(out);
		out = NULL;
	}
	ok(intro_read(trust, "garbage", 7, PKI_KIND_FG, &in, NULL, err) == -1,
	    "garbage refused (%s)", err);
}

/* A DER-looking payload; the parser carries it byte for byte. */
static const char ic_payload[] = "\x30\x80\x06\x09payload";

static void
ic_setup(struct intro_ic *ic, int origin, char **rcpts, char **pem)
{
	STACK_OF(X509) *chain = chain_up(origin);
	char err[TN_ERRLEN];
	int i;

	*pem = NULL;
	sk_X509_unshift(chain, nodes[origin].n_cert);
	for (i = 0; i < sk_X509_num(chain); i++) {
		char *one = NULL, *both;
		size_t n, have = *pem == NULL ? 0 : strlen(*pem);

		if (pki_cert_pem(sk_X509_value(chain, i), &one, &n, err) == -1)
			break;
		both = realloc(*pem, have + n + 1);
		memcpy(both + have, one, n + 1);
		*pem = both;
		free(one);
	}
	sk_X509_free(chain);
	memset(ic, 0, sizeof(*ic));
	ic->ic_from = "tandem@corp.example";
	ic->ic_to = "tandem@isp.example";
	ic->ic_msgid = "20260131.abc@corp.example";
	ic->ic_sender = "alice@corp.example";
	ic->ic_rcpts = rcpts;
	ic->ic_nrcpts = 2;
	ic->ic_hops = 2;
	ic->ic_origin = "corp.example";
	ic->ic_kind = plan[origin].kind;
	ic->ic_payload = (unsigned char *)ic_payload;
	ic->ic_paylen = sizeof(ic_payload) - 1;
	ic->ic_origin_pem = *pem;
}

/* A gateway as origin, its subordinates' CAs after its own chain. */
static void
test_origin_segment(void)
{
	STACK_OF(X509) *subs = sk_X509_new_null();
	struct intro_ic ic, *back = NULL;
	struct intro *org = NULL;
	char *rcpts[] = { "carol@isp.example", "dave@isp.example" };
	char err[TN_ERRLEN], *self = NULL, *with = NULL, *text = NULL;
	char *doms = NULL;
	size_t len;
	int i;

	for (i = 0; i < 2; i++) {
		ic_setup(&ic, N_GWFG, rcpts, &self);
		ic.ic_origin = "gw.example";
		ic.ic_sender = "erin@sub.example";
		if (i == 1)
			sk_X509_push(subs, nodes[N_SUB].n_cert);
		err[0] = '\0';
		ok(intro_pem_with(self, subs, &with, err) == 0,
		    "intro_pem_with, %d more %s", i, err);
		ok(with != NULL && strncmp(with, self, strlen(self)) == 0 &&
		    (i == 0 ? strlen(with) == strlen(self) :
		    strlen(with) > strlen(self)),
		    "%s: the chain first, then what was added",
		    i == 0 ? "nothing added" : "one CA added");
		ic.ic_origin_pem = with;
		ok(intro_ic_make(&ic, &text, &len, err) == 0 &&
		    intro_ic_read(trust, text, len, &back, &org, err) == 0,
		    "a gateway's inter-courier message reads back %s", err);
		if (org != NULL && intro_domains_text(org, &doms, err) == 0)
			is_str(doms, i == 0 ? "" : "sub.example",
			    i == 0 ? "no segment without its CAs" :
			    "the origin names its segment");
		free(doms);
		doms = NULL;
		intro_free(org);
		org = NULL;
		intro_ic_free(back);
		back = NULL;
		free(text);
		text = NULL;
		free(with);
		with = NULL;
		free(self);
		self = NULL;
	}
	sk_X509_free(subs);
}

static void
test_inter_courier(void)
{
	static const struct {
		const char *name;
		int origin;
		enum pki_kind kind;	/* payload */
		const char *courier;	/* Origin-Courier */
		unsigned int hops;
		const char *why;
		enum intro_pay pay;
	} cases[] = {
		{ "FG sealed", N_PRIVFG, PKI_KIND_FG, NULL, 2, NULL, 0 },
		{ "BG arm", N_PRIVBG, PKI_KIND_BG, NULL, 2, NULL, 0 },
		{ "arm from an FG", N_PRIVFG, PKI_KIND_BG, NULL, 2,
		  "inter-courier origin: introduction of a foreground, not a "
		  "background", 0 },
		{ "origin courier not the certificate's", N_PRIVFG,
		  PKI_KIND_FG, "isp.example", 2, "field Origin-Courier says "
		  "isp.example, the certificate corp.example", 0 },
		{ "untrusted origin", N_STRAY, PKI_KIND_FG, NULL, 1,
		  "inter-courier origin: untrusted introduction", 0 },
		{ "nine hops", N_PRIVFG, PKI_KIND_FG, NULL, 9,
		  "Hops 9, not 1 to 8", 0 },
		{ "BG revoke", N_PRIVBG, PKI_KIND_BG, NULL, 2, NULL,
		  INTRO_PAY_REVOKE },
		{ "BG receipt", N_PRIVBG, PKI_KIND_BG, NULL, 2, NULL,
		  INTRO_PAY_RECEIPT },
		{ "revoke from an FG", N_PRIVFG, PKI_KIND_FG, NULL, 2,
		  "payload of no element kind", INTRO_PAY_REVOKE },
	};
	char *rcpts[] = { "bob@isp.example", "erin@isp.example" };
	struct intro_ic ic, *got;
	struct intro *origin;
	char err[TN_ERRLEN], name[64], *pem, *msg;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ic_setup(&ic, cases[i].origin, rcpts, &pem);
		ic.ic_kind = cases[i].kind;
		ic.ic_pay = cases[i].pay;
		ic.ic_hops = cases[i].hops;
		if (cases[i].courier != NULL) {
			snprintf(name, sizeof(name), "%s", cases[i].courier);
			ic.ic_origin = name;
		}
		msg = NULL;
		got = NULL;
		origin = NULL;
		err[0] = '\0';
		rc = intro_ic_make(&ic, &msg, &len, err);
		if (rc == 0)
			rc = intro_ic_read(trust, msg, len, &got, &origin,
			    err);
		if (cases[i].why != NULL) {
			ok(rc == -1 && got == NULL && strstr(err,
			    cases[i].why) != NULL, "refused: %s (%s)",
			    cases[i].name, err);
		} else if (rc == -1) {
			ok(0, "%s: %s", cases[i].name, err);
		} else {
			ok(strcmp(got->ic_sender, ic.ic_sender) == 0 &&
			    strcmp(got->ic_msgid, ic.ic_msgid) == 0 &&
			    strcmp(got->ic_from, ic.ic_from) == 0 &&
			    strcmp(got->ic_to, ic.ic_to) == 0 &&
			    got->ic_nrcpts == 2 && strcmp(got->ic_rcpts[1],
			    rcpts[1]) == 0 && got->ic_hops == 2 &&
			    strcmp(got->ic_origin, "corp.example") == 0,
			    "%s: fields round trip", cases[i].name);
			ok(got->ic_kind == cases[i].kind && got->ic_pay ==
			    cases[i].pay && got->ic_paylen ==
			    sizeof(ic_payload) - 1 && memcmp(got->ic_payload,
			    ic.ic_payload, sizeof(ic_payload) - 1) ==
			    0, "%s: payload round trip", cases[i].name);
			ok(strcmp(got->ic_origin_pem, pem) == 0 &&
			    strcmp(origin->in_endpoint, ic.ic_kind ==
			    PKI_KIND_FG ? "tandem@corp.example" :
			    "https://bg.corp.example/tandem") == 0,
			    "%s: origin introduction", cases[i].name);
		}
		intro_ic_free(got);
		intro_free(origin);
		free(msg);
		free(pem);
	}
	intro_ic_free(NULL);
}

/* The origin signs which part it sends: a revoke's is not an ARM's. */
static void
test_pay_signed(void)
{
	char *rcpts[] = { "bob@isp.example", "erin@isp.example" };
	struct intro_ic ic;
	char err[TN_ERRLEN], *pem, *sig = NULL;

	ic_setup(&ic, N_PRIVBG, rcpts, &pem);
	ic.ic_pay = INTRO_PAY_REVOKE;
	ic.ic_origin_date = "2026-01-31T12:00:00Z";
	if (intro_ic_sign(&ic, nodes[N_PRIVBG].n_key, &sig, err) == -1) {
		ok(0, "sign a revoke: %s", err);
		free(pem);
		return;
	}
	ic.ic_origin_sig = sig;
	ok(intro_ic_verify(&ic, err) == 0, "a revoke's assertion verifies");
	ic.ic_pay = INTRO_PAY_ITEM;
	ok(intro_ic_verify(&ic, err) == -1 && strstr(err, "does not verify")
	    != NULL, "the same assertion as an ARM's does not (%s)", err);
	ic.ic_pay = INTRO_PAY_RECEIPT;
	ok(intro_ic_verify(&ic, err) == -1, "nor as a receipt's");
	free(sig);
	free(pem);
}

static struct pki_trust *
trust_file(void)
{
	static char dir[] = "/tmp/tandem-intro-XXXXXX";
	struct pki_trust *tr = NULL;
	char path[64], err[TN_ERRLEN], *pem = NULL;
	size_t len;

	if (mkdtemp(dir) == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/root.crt", dir);
	if (pki_cert_pem(nodes[N_ROOT].n_cert, &pem, &len, err) == 0 &&
	    util_write_file(path, pem, len, 0644, 1, err) == 0)
		tr = pki_trust_load(path, err);
	free(pem);
	unlink(path);
	rmdir(dir);
	return tr;
}

int
main(void)
{
	int i;

	if (make_all() == -1 || (trust = trust_file()) == NULL) {
		ok(0, "hierarchy and trust anchors");
		return tap_done() | 1;
	}
	test_roles();
	test_refusals();
	test_gateway();
	test_covers();
	test_messages();
	test_forged_fields();
	test_inter_courier();
	test_pay_signed();
	test_origin_segment();
	pki_trust_free(trust);
	for (i = 0; i < N_COUNT; i++) {
		X509_free(nodes[i].n_cert);
		EVP_PKEY_free(nodes[i].n_key);
	}
	proto_shutdown();
	return tap_done();
}
