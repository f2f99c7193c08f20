/*
 * NAME
 *	pki-test - unit tests for lib/pki.c
 * DESCRIPTION
 *	Builds a hierarchy in memory (root -> public -> private
 *	example.org, root -> gateway) with pki_issue(), then checks
 *	pki_verify() on good leaves and on leaves the rules refuse, and
 *	the PEM key round trip with and without a passphrase; an issuing
 *	CA under the private courier, what it may sign, and
 *	pki_courier_ca() through it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "tap.h"
#include "pki.h"
#include "tandem.h"
#include "util.h"

struct node {
	X509		*n_cert;
	EVP_PKEY	*n_key;
};

static struct node root, pub, priv, gw;
static char dir[] = "/tmp/tandem-pki-XXXXXX";

static int
make(struct node *n, struct node *up, enum pki_kind kind, enum pki_role role,
    const char *cn, const char *email, const char *dns, const char *uri,
    const char *domain)
{
	struct pki_req rq;
	char err[TN_ERRLEN];

	memset(&rq, 0, sizeof(rq));
	n->n_key = pki_key_generate(up == &pub ? PKI_KEY_RSA : PKI_KEY_EC,
	    err);
	rq.rq_kind = kind;
	rq.rq_role = role;
	rq.rq_cn = cn;
	rq.rq_email = email;
	rq.rq_dns = dns;
	rq.rq_uri = uri;
	rq.rq_domain = domain;
	rq.rq_days = 30;
	rq.rq_pubkey = n->n_key;
	rq.rq_issuer_cert = up != NULL ? up->n_cert : NULL;
	rq.rq_issuer_key = up != NULL ? up->n_key : n->n_key;
	if (pki_issue(&rq, &n->n_cert, err) == -1) {
		diag("pki_issue %s: %s", cn, err);
		return -1;
	}
	return 0;
}

static void
node_free(struct node *n)
{
	X509_free(n->n_cert);
	EVP_PKEY_free(n->n_key);
	memset(n, 0, sizeof(*n));
}

static STACK_OF(X509) *
chain_of(struct node *a, struct node *b)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	if (a != NULL)
		sk_X509_push(sk, a->n_cert);
	if (b != NULL)
		sk_X509_push(sk, b->n_cert);
	return sk;
}

static void
test_leaves(const struct pki_trust *tr)
{
	static const struct {
		const char *name;
		int under;	/* 0 pub, 1 priv, 2 gw */
		enum pki_kind kind;
		enum pki_role role;
		const char *email, *dns, *uri, *domain, *check;
		enum pki_fail want;
	} cases[] = {
		{ "agent under private", 1, PKI_KIND_AGENT, 0,
		  "a@example.org", NULL, NULL, NULL, "a@EXAMPLE.org",
		  PKI_FAIL_NONE },
		{ "BG under private", 1, PKI_KIND_BG, 0, NULL,
		  "bg.example.org", "https://bg.example.org/t", NULL, NULL,
		  PKI_FAIL_NONE },
		{ "agent under public", 0, PKI_KIND_AGENT, 0,
		  "b@isp.example", NULL, NULL, NULL, "b@isp.example",
		  PKI_FAIL_NONE },
		{ "FG under gateway", 2, PKI_KIND_FG, 0,
		  "tandem@gw.example", NULL, NULL, NULL, NULL,
		  PKI_FAIL_NONE },
		{ "email outside the domain", 1, PKI_KIND_AGENT, 0,
		  "a@evil.example", NULL, NULL, NULL, NULL, PKI_FAIL_NAME },
		{ "DNS outside the domain", 1, PKI_KIND_BG, 0, NULL,
		  "bg.evil.example", NULL, NULL, NULL, PKI_FAIL_NAME },
		{ "URI outside the domain", 1, PKI_KIND_BG, 0, NULL,
		  NULL, "https://bg.evil.example/", NULL, NULL,
		  PKI_FAIL_NAME },
		{ "look-alike domain", 1, PKI_KIND_AGENT, 0,
		  "a@badexample.org", NULL, NULL, NULL, NULL,
		  PKI_FAIL_NAME },
		{ "wrong email", 0, PKI_KIND_AGENT, 0, "b@isp.example",
		  NULL, NULL, NULL, "c@isp.example", PKI_FAIL_EMAIL },
		{ "courier under private", 1, PKI_KIND_COURIER_CA,
		  PKI_ROLE_PUBLIC, NULL, NULL, NULL, NULL, NULL,
		  PKI_FAIL_ROLE },
		{ "public courier under public", 0, PKI_KIND_COURIER_CA,
		  PKI_ROLE_PUBLIC, NULL, NULL, NULL, NULL, NULL,
		  PKI_FAIL_NONE },
		{ "root role under public", 0, PKI_KIND_COURIER_CA,
		  PKI_ROLE_ROOT, NULL, NULL, NULL, NULL, NULL,
		  PKI_FAIL_ROLE },
	};
	struct node *ups[] = { &pub, &priv, &gw };
	struct node leaf;
	STACK_OF(X509) *chain;
	enum pki_fail why;
	char err[TN_ERRLEN];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&leaf, 0, sizeof(leaf));
		if (make(&leaf, ups[cases[i].under], cases[i].kind,
		    cases[i].role, "leaf", cases[i].email, cases[i].dns,
		    cases[i].uri, cases[i].domain) == -1) {
			ok(0, "%s: issued", cases[i].name);
			continue;
		}
		chain = chain_of(ups[cases[i].under],
		    cases[i].under == 1 ? &pub : NULL);
		err[0] = '\0';
		rc = pki_verify_why(tr, leaf.n_cert, chain, cases[i].check,
		    &why, err);
		is_int(why, cases[i].want, cases[i].name);
		is_int(rc, cases[i].want == PKI_FAIL_NONE ? 0 : -1,
		    cases[i].name);
		if (rc == -1)
			diag("%s", err);
		sk_X509_free(chain);
		node_free(&leaf);
	}
}

/* An issuing CA under priv; 0, or -1 with why in err. */
static int
issuing(struct node *n, struct node *up, const char *const *doms,
    char *err)
{
	struct pki_req rq;

	memset(&rq, 0, sizeof(rq));
	if (n->n_key == NULL && (n->n_key = pki_key_generate(PKI_KEY_EC,
	    err)) == NULL)
		return -1;
	rq.rq_kind = PKI_KIND_ISSUING;
	rq.rq_cn = "corp";
	rq.rq_domains = doms;
	rq.rq_days = 30;
	rq.rq_pubkey = n->n_key;
	rq.rq_issuer_cert = up->n_cert;
	rq.rq_issuer_key = up->n_key;
	return pki_issue(&rq, &n->n_cert, err);
}

static void
test_issuing(const struct pki_trust *tr)
{
	static const char *const doms[] = { "example.org", NULL };
	static const char *const none[] = { NULL };
	struct node ica, ica2, agent, fg, direct;
	STACK_OF(X509) *chain = NULL;
	enum pki_fail why;
	char err[TN_ERRLEN];

	memset(&ica, 0, sizeof(ica));
	memset(&ica2, 0, sizeof(ica2));
	memset(&agent, 0, sizeof(agent));
	memset(&fg, 0, sizeof(fg));
	memset(&direct, 0, sizeof(direct));
	ok(issuing(&ica2, &priv, none, err) == -1, "issuing CA needs a domain");
	if (!ok(issuing(&ica, &priv, doms, err) == 0, "issuing CA issued")) {
		diag("%s", err);
		return;
	}
	ok(pki_cert_kind(ica.n_cert) == PKI_KIND_ISSUING &&
	    pki_cert_role(ica.n_cert) == PKI_ROLE_NONE &&
	    X509_get_pathlen(ica.n_cert) == 0, "issuing CA: kind, no role, "
	    "pathlen 0");
	ok(issuing(&ica2, &ica, doms, err) == -1,
	    "an issuing CA does not sign an issuing CA");
	chain = chain_of(&ica, &priv);
	sk_X509_push(chain, pub.n_cert);
	ok(pki_verify(tr, ica.n_cert, chain, NULL, err) == 0,
	    "issuing CA verifies");
	if (make(&agent, &ica, PKI_KIND_AGENT, 0, "agent", "a@example.org",
	    NULL, NULL, NULL) == 0) {
		ok(pki_verify(tr, agent.n_cert, chain, "a@example.org",
		    err) == 0, "agent under the issuing CA verifies");
		ok(pki_courier_ca(agent.n_cert, chain) == priv.n_cert,
		    "pki_courier_ca() skips the issuing CA");
	}
	if (make(&fg, &ica, PKI_KIND_FG, 0, "fg", "tandem@example.org",
	    NULL, NULL, NULL) == 0) {
		is_int(pki_verify_why(tr, fg.n_cert, chain, NULL, &why, err),
		    -1, "FG under the issuing CA refused");
		is_int(why, PKI_FAIL_ROLE, "FG under the issuing CA: role");
		ok(pki_courier_ca(fg.n_cert, chain) == NULL,
		    "pki_courier_ca(): no courier for an FG under it");
	}
	if (make(&direct, &priv, PKI_KIND_FG, 0, "fg2",
	    "tandem@example.org", NULL, NULL, NULL) == 0)
		ok(pki_courier_ca(direct.n_cert, chain) == priv.n_cert,
		    "pki_courier_ca() of an element: its courier CA");
	sk_X509_free(chain);
	node_free(&ica);
	node_free(&ica2);
	node_free(&agent);
	node_free(&fg);
	node_free(&direct);
}

static void
test_keys(void)
{
	char *pem = NULL, err[TN_ERRLEN];
	EVP_PKEY *k;
	size_t len;

	ok(pki_key_pem(root.n_key, "s3cret", &pem, &len, err) == 0,
	    "encrypted PKCS#8");
	ok(strstr(pem, "ENCRYPTED PRIVATE KEY") != NULL, "is encrypted");
	k = pki_parse_key(pem, len, "s3cret", err);
	ok(k != NULL && EVP_PKEY_eq(k, root.n_key) == 1, "decrypts");
	EVP_PKEY_free(k);
	k = pki_parse_key(pem, len, "wrong", err);
	ok(k == NULL, "wrong passphrase refused: %s", err);
	k = pki_parse_key(pem, len, NULL, err);
	ok(k == NULL && strstr(err, "no passphrase") != NULL,
	    "no passphrase refused: %s", err);
	free(pem);
	k = pki_parse_key("garbage", 7, NULL, err);
	ok(k == NULL, "garbage key refused");
}

static void
test_readers(void)
{
	char *s;

	is_int(pki_cert_role(root.n_cert), PKI_ROLE_ROOT, "root role");
	is_int(pki_cert_role(priv.n_cert), PKI_ROLE_PRIVATE, "private role");
	is_int(pki_cert_kind(gw.n_cert), PKI_KIND_COURIER_CA, "CA kind");
	is_str(pki_role_name(PKI_ROLE_GATEWAY), "gateway", "role name");
	is_int(pki_role_parse("public"), PKI_ROLE_PUBLIC, "role parse");
	is_int(pki_role_parse("bogus"), PKI_ROLE_NONE, "bad role");
	s = pki_cert_email(root.n_cert);
	ok(s == NULL, "root has no email");
	free(s);
}

static struct pki_trust *
trust_file(void)
{
	struct pki_trust *tr = NULL;
	char path[64], err[TN_ERRLEN], *pem = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/root.crt", dir);
	if (pki_cert_pem(root.n_cert, &pem, &len, err) == 0 &&
	    util_write_file(path, pem, len, 0644, 1, err) == 0)
		tr = pki_trust_load(path, err);
	ok(tr != NULL, "trust loaded");
	free(pem);
	unlink(path);
	return tr;
}

int
main(void)
{
	struct pki_trust *tr;
	char err[TN_ERRLEN];

	if (mkdtemp(dir) == NULL)
		return 1;
	ok(make(&root, NULL, PKI_KIND_COURIER_CA, PKI_ROLE_ROOT, "root",
	    NULL, NULL, NULL, NULL) == 0, "root");
	ok(make(&pub, &root, PKI_KIND_COURIER_CA, PKI_ROLE_PUBLIC, "isp",
	    NULL, NULL, NULL, NULL) == 0, "public");
	ok(make(&priv, &pub, PKI_KIND_COURIER_CA, PKI_ROLE_PRIVATE, "corp",
	    NULL, NULL, NULL, "example.org") == 0, "private (RSA, PSS)");
	ok(make(&gw, &root, PKI_KIND_COURIER_CA, PKI_ROLE_GATEWAY, "gw",
	    NULL, NULL, NULL, NULL) == 0, "gateway");
	if (root.n_cert == NULL || pub.n_cert == NULL ||
	    priv.n_cert == NULL || gw.n_cert == NULL) {
		diag("no hierarchy, stopping");
		return tap_done() | 1;
	}
	if ((tr = trust_file()) != NULL) {
		ok(pki_verify(tr, root.n_cert, NULL, NULL, err) == 0,
		    "root verifies");
		test_leaves(tr);
		test_issuing(tr);
	}
	test_keys();
	test_readers();
	ok(pki_trust_load("/nonexistent/x", err) == NULL, "missing trust");
	pki_trust_free(tr);
	pki_trust_free(NULL);
	node_free(&root);
	node_free(&pub);
	node_free(&priv);
	node_free(&gw);
	rmdir(dir);
	return tap_done();
}
