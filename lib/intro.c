/*
 * NAME
 *	intro.c - introductions of elements and inter-courier messages
 * DESCRIPTION
 *	See intro.h for the interface and doc/federation.md for what an
 *	introduction means. Everything a receiver learns is read from
 *	certificates that pki_verify() accepted; the fields of a message
 *	are only compared with them. The issuing courier CA is taken from
 *	the chain OpenSSL built while verifying, never looked up by name
 *	in what the sender supplied.
 * DIAGNOSTICS
 *	0 or -1 with the reason in err, as in intro.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tandem.h"
#include "intro.h"
#include "pki.h"
#include "proto.h"
#include "util.h"

static const char *
kind_word(enum pki_kind kind)
{
	return kind == PKI_KIND_FG ? "foreground" : kind == PKI_KIND_BG ?
	    "background" : pki_kind_name(kind);
}

/* The courier CA that issued cert, from the verified path; up-ref'd. */
static X509 *
issuer_of(const struct pki_trust *tr, X509 *cert, STACK_OF(X509) *chain,
    char *err)
{
	X509_STORE_CTX *ctx;
	STACK_OF(X509) *path;
	X509 *ca = NULL;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, pki_trust_store(tr), cert, chain) != 1) {
		tn_err_ssl(err, "introduction: cannot build the path");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1 ||
	    (path = X509_STORE_CTX_get0_chain(ctx)) == NULL ||
	    sk_X509_num(path) < 2) {
		tn_err(err, "introduction: no path to the issuing courier");
		goto out;
	}
	ca = sk_X509_value(path, 1);
	X509_up_ref(ca);
out:
	X509_STORE_CTX_free(ctx);
	return ca;
}

static int
valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-' ||
	    s[n - 1] == '.' || s[n - 1] == '-' || strstr(s, "..") != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-')
			return 0;
	return 1;
}

/* The commonName of a courier CA, which names the courier. */
static char *
courier_name(X509 *ca, char *err)
{
	X509_NAME *nm = X509_get_subject_name(ca);
	unsigned char *u = NULL;
	char *s = NULL;
	int i, n;

	i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	if (i < 0 || (n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(nm, i)))) < 0) {
		tn_err(err, "introduction: courier CA without a name");
		return NULL;
	}
	if ((size_t)n != strlen((char *)u) || !valid_name((char *)u)) {
		for (i = 0; i < n; i++)
			if (u[i] < 0x20 || u[i] > 0x7e)
				u[i] = '?';
		tn_err(err, "introduction: courier CA name \"%.64s\" is not "
		    "a domain-like name", (char *)u);
	} else if ((s = strdup((char *)u)) == NULL)
		tn_err(err, "out of memory");
	OPENSSL_free(u);
	return s;
}

static int
domain_add(struct intro *in, const char *d, size_t n, char *err)
{
	char **nd, *s;
	size_t i;

	while (n > 0 && *d == '.') {
		d++;
		n--;
	}
	if ((s = strndup(d, n)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	for (i = 0; s[i] != '\0'; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	if (strlen(s) != n || !valid_name(s)) {
		free(s);
		return 0;	/* not a host name: nothing it could route */
	}
	for (i = 0; i < in->in_ndomains; i++)
		if (strcmp(in->in_domains[i], s) == 0) {
			free(s);
			return 0;
		}
	if (in->in_ndomains >= INTRO_MAX_DOMAINS || (nd = realloc(
	    in->in_domains, (in->in_ndomains + 1) * sizeof(*nd))) == NULL) {
		free(s);
		tn_err(err, "introduction: more than %d domains",
		    INTRO_MAX_DOMAINS);
		return -1;
	}
	in->in_domains = nd;
	nd[in->in_ndomains++] = s;
	return 0;
}

/* The dNSName permitted subtrees of a courier CA's name constraints. */
static int
constraint_domains(struct intro *in, X509 *ca, char *err)
{
	NAME_CONSTRAINTS *nc;
	GENERAL_SUBTREE *st;
	int i, rc = 0;

	if ((nc = X509_get_ext_d2i(ca, NID_name_constraints, NULL,
	    NULL)) == NULL)
		return 0;
	for (i = 0; rc == 0 && i < sk_GENERAL_SUBTREE_num(
	    nc->permittedSubtrees); i++) {
		st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
		if (st->base->type != GEN_DNS)
			continue;
		rc = domain_add(in, (const char *)ASN1_STRING_get0_data(
		    st->base->d.dNSName), (size_t)ASN1_STRING_length(
		    st->base->d.dNSName), err);
	}
	NAME_CONSTRAINTS_free(nc);
	return rc;
}

/* A private courier CA that gw signed; with tr, it must verify too. */
static int
is_subordinate(const struct pki_trust *tr, X509 *gw, X509 *sub,
    STACK_OF(X509) *chain)
{
	char why[TN_ERRLEN];

	if (pki_cert_kind(sub) != PKI_KIND_COURIER_CA ||
	    pki_cert_role(sub) != PKI_ROLE_PRIVATE ||
	    X509_NAME_cmp(X509_get_issuer_name(sub),
	    X509_get_subject_name(gw)) != 0 ||
	    X509_verify(sub, X509_get0_pubkey(gw)) != 1)
		return 0;
	return tr == NULL || pki_verify(tr, sub, chain, NULL, why) == 0;
}

/* Domains of the courier whose CA is ca; subs: a gateway's candidates. */
static int
courier_domains(const struct pki_trust *tr, struct intro *in, X509 *ca,
    STACK_OF(X509) *subs, STACK_OF(X509) *chain, char *err)
{
	int i;

	if (in->in_role == PKI_ROLE_PRIVATE)
		return constraint_domains(in, ca, err);
	if (in->in_role != PKI_ROLE_GATEWAY)
		return 0;
	for (i = 0; i < sk_X509_num(subs); i++)
		if (is_subordinate(tr, ca, sk_X509_value(subs, i), chain) &&
		    constraint_domains(in, sk_X509_value(subs, i), err) == -1)
			return -1;
	return 0;
}

static int
pem_append(char **buf, size_t *len, X509 *cert, char *err)
{
	char *pem = NULL, *nb;
	size_t n;

	if (pki_cert_pem(cert, &pem, &n, err) == -1)
		return -1;
	if ((nb = realloc(*buf, *len + n + 1)) == NULL) {
		free(pem);
		tn_err(err, "out of memory");
		return -1;
	}
	memcpy(nb + *len, pem, n + 1);
	*buf = nb;
	*len += n;
	free(pem);
	return 0;
}

static int
certs_pem(X509 *cert, STACK_OF(X509) *chain, char **out, char *err)
{
	size_t len = 0;
	int i;

	*out = NULL;
	if (cert != NULL && pem_append(out, &len, cert, err) == -1)
		return -1;
	for (i = 0; i < sk_X509_num(chain); i++)
		if (pem_append(out, &len, sk_X509_value(chain, i), err) == -1)
			return -1;
	if (*out == NULL && (*out = strdup("")) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	return 0;
}

/* What the certificates say; tr NULL: trusted already (intro_make). */
static struct intro *
intro_read_certs(const struct pki_trust *tr, X509 *cert, X509 *ca,
    STACK_OF(X509) *chain, STACK_OF(X509) *subs, char *err)
{
	struct intro *in;

	if ((in = calloc(1, sizeof(*in))) == NULL) {
		tn_err(err, "out of memory");
		return NULL;
	}
	in->in_kind = pki_cert_kind(cert);
	in->in_role = pki_cert_role(ca);
	if (pki_cert_kind(ca) != PKI_KIND_COURIER_CA ||
	    in->in_role == PKI_ROLE_NONE) {
		tn_err(err, "introduction: issuer is not a courier CA");
		goto fail;
	}
	if ((in->in_courier = courier_name(ca, err)) == NULL)
		goto fail;
	if (pki_key_id(ca, in->in_key) == -1) {
		tn_err(err, "introduction: cannot read the courier CA's key");
		goto fail;
	}
	in->in_endpoint = in->in_kind == PKI_KIND_FG ? pki_cert_email(cert) :
	    pki_cert_uri(cert);
	if (in->in_endpoint == NULL || (in->in_kind == PKI_KIND_BG &&
	    strncmp(in->in_endpoint, "https://", 8) != 0)) {
		tn_err(err, "introduction: %s certificate without its %s",
		    kind_word(in->in_kind), in->in_kind == PKI_KIND_FG ?
		    "mailbox (rfc822Name)" : "https URL (URI)");
		goto fail;
	}
	if (courier_domains(tr, in, ca, subs, chain, err) == -1 ||
	    certs_pem(cert, chain, &in->in_pem, err) == -1)
		goto fail;
	return in;
fail:
	intro_free(in);
	return NULL;
}

int
intro_check(const struct pki_trust *tr, X509 *cert, STACK_OF(X509) *chain,
    enum pki_kind want, struct intro **out, char *err)
{
	enum pki_kind kind = pki_cert_kind(cert);
	char why[TN_ERRLEN];
	X509 *ca = NULL;

	*out = NULL;
	if (kind != PKI_KIND_FG && kind != PKI_KIND_BG) {
		tn_err(err, "introduction: certificate of kind %s, not an element",
		    pki_kind_name(kind));
		return -1;
	}
	if (want != PKI_KIND_NONE && kind != want) {
		tn_err(err, "introduction of a %s, not a %s", kind_word(kind),
		    kind_word(want));
		return -1;
	}
	if (pki_verify(tr, cert, chain, NULL, why) == -1) {
		tn_err(err, "untrusted introduction: %s", why);
		return -1;
	}
	if ((ca = issuer_of(tr, cert, chain, err)) == NULL)
		return -1;
	*out = intro_read_certs(tr, cert, ca, chain, chain, err);
	X509_free(ca);
	return *out == NULL ? -1 : 0;
}

int
intro_check_pem(const struct pki_trust *tr, const char *cert,
    size_t certlen, const char *chain, size_t chainlen, enum pki_kind want,
    struct intro **out, char *err)
{
	STACK_OF(X509) *certs = NULL, *more = NULL;
	X509 *leaf;
	int rc = -1;

	*out = NULL;
	if ((certs = pki_parse_certs(cert, certlen, err)) == NULL)
		goto out;
	if (chain != NULL && chainlen > 0) {
		if ((more = pki_parse_certs(chain, chainlen, err)) == NULL)
			goto out;
		while (sk_X509_num(more) > 0)
			sk_X509_push(certs, sk_X509_shift(more));
	}
	leaf = sk_X509_shift(certs);
	rc = intro_check(tr, leaf, certs, want, out, err);
	X509_free(leaf);
out:
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(more, X509_free);
	return rc;
}

void
intro_free(struct intro *in)
{
	size_t i;

	if (in == NULL)
		return;
	free(in->in_courier);
	free(in->in_endpoint);
	for (i = 0; i < in->in_ndomains; i++)
		free(in->in_domains[i]);
	free(in->in_domains);
	free(in->in_pem);
	free(in);
}

int
intro_covers(const struct intro *in, const char *name)
{
	const char *at;
	size_t i, n, d;

	if (in == NULL || name == NULL)
		return 0;
	if ((at = strrchr(name, '@')) != NULL)
		name = at + 1;
	n = strlen(name);
	for (i = 0; i < in->in_ndomains; i++) {
		d = strlen(in->in_domains[i]);
		if (n == d && strcasecmp(name, in->in_domains[i]) == 0)
			return 1;
		if (n > d && name[n - d - 1] == '.' &&
		    strcasecmp(name + n - d, in->in_domains[i]) == 0)
			return 1;
	}
	return 0;
}

int
intro_domains_text(const struct intro *in, char **out, char *err)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < in->in_ndomains; i++)
		len += strlen(in->in_domains[i]) + 1;
	if ((s = malloc(len)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	s[0] = '\0';
	for (i = 0; i < in->in_ndomains; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, in->in_domains[i]);
	}
	*out = s;
	return 0;
}

int
intro_pem_with(const char *pem, STACK_OF(X509) *more, char **out, char *err)
{
	char *tail = NULL;
	size_t n;

	*out = NULL;
	if (certs_pem(NULL, more, &tail, err) == -1) {
		free(tail);
		return -1;
	}
	n = strlen(pem);
	if ((*out = malloc(n + strlen(tail) + 1)) == NULL)
		tn_err(err, "out of memory");
	else {
		memcpy(*out, pem, n);
		strcpy(*out + n, tail);
	}
	free(tail);
	return *out == NULL ? -1 : 0;
}

X509 *
intro_issuer(X509 *cert, STACK_OF(X509) *certs)
{
	int i;

	for (i = 0; i < sk_X509_num(certs); i++)
		if (X509_check_issued(sk_X509_value(certs, i), cert) ==
		    X509_V_OK)
			return sk_X509_value(certs, i);
	return NULL;
}

int
intro_sub_add(X509 *cert, STACK_OF(X509) *chain, const char *pem,
    STACK_OF(X509) *subs)
{
	STACK_OF(X509) *certs;
	X509 *ours, *theirs;
	char err[TN_ERRLEN];
	int rc = 0;

	if ((ours = intro_issuer(cert, chain)) == NULL ||
	    (certs = pki_parse_certs(pem, strlen(pem), err)) == NULL)
		return 0;
	if ((theirs = intro_issuer(sk_X509_value(certs, 0), certs)) != NULL &&
	    X509_check_issued(ours, theirs) == X509_V_OK) {
		if (X509_up_ref(theirs) != 1 || !sk_X509_push(subs, theirs)) {
			X509_free(theirs);
			rc = -1;
		}
	}
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int
intro_below(X509 *cert, STACK_OF(X509) *chain, const char *pem, int direct)
{
	STACK_OF(X509) *certs;
	X509 *ours, *theirs;
	char err[TN_ERRLEN];
	int i, yes = 0;

	if ((ours = intro_issuer(cert, chain)) == NULL ||
	    (certs = pki_parse_certs(pem, strlen(pem), err)) == NULL)
		return 0;
	if ((theirs = intro_issuer(sk_X509_value(certs, 0), certs)) != NULL &&
	    X509_cmp(theirs, ours) != 0) {
		yes = X509_check_issued(ours, theirs) == X509_V_OK;
		for (i = 1; !direct && !yes && i < sk_X509_num(certs); i++)
			yes = X509_cmp(sk_X509_value(certs, i), ours) == 0;
	}
	sk_X509_pop_free(certs, X509_free);
	return yes;
}

/* Id and Date of a new message; a fresh Id at the courier's name. */
static int
msg_head(struct proto_msg *pm, const char *id, const char *courier,
    char *err)
{
	unsigned char rnd[12];
	char buf[TN_MAX_MSGID + 1], now[32], *hex;

	if (id == NULL) {
		if (util_random(rnd, sizeof(rnd)) == -1 ||
		    (hex = util_hex(rnd, sizeof(rnd))) == NULL) {
			tn_err(err, "no random bytes for an Id");
			return -1;
		}
		snprintf(buf, sizeof(buf), "%s@%s", hex, courier);
		free(hex);
		id = buf;
	}
	if (proto_format_time(time(NULL), now, sizeof(now)) == -1) {
		tn_err(err, "cannot format the time");
		return -1;
	}
	if (proto_set(pm, "Id", id, err) == -1 ||
	    proto_set(pm, "Date", now, err) == -1)
		return -1;
	return 0;
}

/* The issuing CA of cert among the certificates of chain. */
static X509 *
issuer_in(X509 *cert, STACK_OF(X509) *chain)
{
	X509 *c;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++) {
		c = sk_X509_value(chain, i);
		if (X509_check_issued(c, cert) == X509_V_OK &&
		    X509_verify(cert, X509_get0_pubkey(c)) == 1)
			return c;
	}
	return NULL;
}

static int
intro_fields(struct proto_msg *pm, const struct intro *in,
    const struct intro_req *rq, char *err)
{
	size_t i;

	if (proto_set(pm, "Courier", in->in_courier, err) == -1 ||
	    proto_set(pm, "Role", pki_role_name(in->in_role), err) == -1 ||
	    proto_set(pm, "Element", kind_word(in->in_kind), err) == -1 ||
	    proto_set(pm, "Element-Address", in->in_endpoint, err) == -1)
		return -1;
	for (i = 0; i < in->in_ndomains; i++)
		if (proto_add(pm, "Domain", in->in_domains[i], err) == -1)
			return -1;
	for (i = 0; i < rq->ir_naddrs; i++)
		if (proto_add(pm, "Address", rq->ir_addrs[i], err) == -1)
			return -1;
	if (rq->ir_token != NULL &&
	    proto_set(pm, "Token", rq->ir_token, err) == -1)
		return -1;
	for (i = 0; rq->ir_proofs != NULL && i < rq->ir_naddrs; i++) {
		char proof[TN_MAX_ADDRESS + 160];

		if (rq->ir_proofs[i] == NULL)
			continue;
		snprintf(proof, sizeof(proof), "%s %s", rq->ir_addrs[i],
		    rq->ir_proofs[i]);
		if (proto_add(pm, "Route-Proof", proof, err) == -1)
			return -1;
	}
	return 0;
}

int
intro_make(const struct intro_req *rq, char **out, size_t *outlen,
    char *err)
{
	struct proto_msg *pm = NULL;
	struct intro *in = NULL;
	char *cert = NULL, *chain = NULL, *subs = NULL, *all = NULL;
	X509 *ca;
	int rc = -1;

	if ((ca = issuer_in(rq->ir_cert, rq->ir_chain)) == NULL) {
		tn_err(err, "introduction: the chain lacks the issuing "
		    "courier CA");
		return -1;
	}
	if ((in = intro_read_certs(NULL, rq->ir_cert, ca, rq->ir_chain,
	    rq->ir_subs, err)) == NULL)
		goto out;
	if ((pm = proto_msg_new(PROTO_INTRODUCTION)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (msg_head(pm, rq->ir_id, in->in_courier, err) == -1 ||
	    intro_fields(pm, in, rq, err) == -1 ||
	    certs_pem(rq->ir_cert, NULL, &cert, err) == -1 ||
	    certs_pem(NULL, rq->ir_chain, &chain, err) == -1 ||
	    certs_pem(NULL, rq->ir_subs, &subs, err) == -1)
		goto out;
	if ((all = malloc(strlen(chain) + strlen(subs) + 1)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	strcpy(all, chain);
	strcat(all, subs);
	if (proto_attach(pm, "element-cert", cert, strlen(cert), err) == -1 ||
	    proto_attach(pm, "ca-chain", all, strlen(all), err) == -1 ||
	    proto_format(pm, out, outlen, err) == -1)
		goto out;
	rc = 0;
out:
	free(cert);
	free(chain);
	free(subs);
	free(all);
	intro_free(in);
	proto_msg_free(pm);
	return rc;
}

static int
field_agrees(const struct proto_msg *pm, const char *name, const char *want,
    int nocase, char *err)
{
	const char *v = proto_get(pm, name);

	if (v != NULL && (nocase ? strcasecmp(v, want) : strcmp(v, want)) == 0)
		return 0;
	tn_err(err, "field %s says %s, the certificate %s",
	    name, v == NULL ? "nothing" : v, want);
	return -1;
}

/* The fields of an introduction against what its certificates say. */
static int
intro_agrees(const struct intro *in, const struct proto_msg *pm, char *err)
{
	const char *v;
	size_t i;

	if (field_agrees(pm, "Courier", in->in_courier, 1, err) == -1 ||
	    field_agrees(pm, "Role", pki_role_name(in->in_role), 0,
	    err) == -1 || field_agrees(pm, "Element", kind_word(in->in_kind),
	    0, err) == -1 || field_agrees(pm, "Element-Address",
	    in->in_endpoint, 0, err) == -1)
		return -1;
	for (i = 0; (v = proto_get_nth(pm, "Domain", i)) != NULL; i++)
		if (!intro_covers(in, v)) {
			tn_err(err, "%s courier %s claims domain %s outside "
			    "its name constraints", pki_role_name(in->in_role),
			    in->in_courier, v);
			return -1;
		}
	if (in->in_role != PKI_ROLE_PRIVATE)
		return 0;
	for (i = 0; (v = proto_get_nth(pm, "Address", i)) != NULL; i++)
		if (!intro_covers(in, v)) {
			tn_err(err, "private courier %s claims address %s "
			    "outside its name constraints", in->in_courier, v);
			return -1;
		}
	return 0;
}

int
intro_read(const struct pki_trust *tr, const char *buf, size_t len,
    enum pki_kind want, struct intro **out, struct proto_msg **msg,
    char *err)
{
	struct proto_msg *pm = NULL;
	const struct proto_part *c, *ch;
	struct intro *in = NULL;
	int rc = -1;

	*out = NULL;
	if (proto_parse(buf, len, &pm, err) == -1)
		return -1;
	if (pm->pm_kind != PROTO_INTRODUCTION) {
		tn_err(err, "a %s message, not an introduction",
		    proto_kind_name(pm->pm_kind));
		goto out;
	}
	c = proto_part(pm, "element-cert");
	ch = proto_part(pm, "ca-chain");
	if (intro_check_pem(tr, (const char *)c->pp_data, c->pp_len,
	    (const char *)ch->pp_data, ch->pp_len, want, &in, err) == -1 ||
	    intro_agrees(in, pm, err) == -1)
		goto out;
	*out = in;
	in = NULL;
	if (msg != NULL) {
		*msg = pm;
		pm = NULL;
	}
	rc = 0;
out:
	intro_free(in);
	proto_msg_free(pm);
	return rc;
}

/* Inter-courier messages. */

/* Split the origin PEM: the first certificate, then the rest. */
static int
origin_parts(const char *pem, char **cert, char **chain, char *err)
{
	const char *end = "-----END CERTIFICATE-----", *p;

	if (pem == NULL || (p = strstr(pem, end)) == NULL) {
		tn_err(err, "inter-courier: no origin certificate");
		return -1;
	}
	p += strlen(end);
	while (*p == '\r' || *p == '\n')
		p++;
	if (*p == '\0') {
		tn_err(err, "inter-courier: origin certificate without its "
		    "chain");
		return -1;
	}
	if ((*cert = strndup(pem, (size_t)(p - pem))) == NULL ||
	    (*chain = strdup(p)) == NULL) {
		free(*cert);
		*cert = NULL;
		tn_err(err, "out of memory");
		return -1;
	}
	return 0;
}

static int
ic_fields(struct proto_msg *pm, const struct intro_ic *ic, char *err)
{
	char hops[16];
	size_t i;

	snprintf(hops, sizeof(hops), "%u", ic->ic_hops);
	if (proto_set(pm, "From-Element", ic->ic_from, err) == -1 ||
	    proto_set(pm, "To-Element", ic->ic_to, err) == -1 ||
	    proto_set(pm, "Message-Id", ic->ic_msgid, err) == -1 ||
	    proto_set(pm, "Sender", ic->ic_sender, err) == -1)
		return -1;
	for (i = 0; i < ic->ic_nrcpts; i++)
		if (proto_add(pm, "Recipient", ic->ic_rcpts[i], err) == -1)
			return -1;
	if (proto_set(pm, "Hops", hops, err) == -1 ||
	    proto_set(pm, "Origin-Courier", ic->ic_origin, err) == -1 ||
	    (ic->ic_origin_date != NULL && proto_set(pm, "Origin-Date",
	    ic->ic_origin_date, err) == -1) ||
	    (ic->ic_origin_sig != NULL && proto_set(pm, "Origin-Signature",
	    ic->ic_origin_sig, err) == -1) ||
	    (ic->ic_token != NULL &&
	    proto_set(pm, "Route-Token", ic->ic_token, err) == -1))
		return -1;
	return 0;
}

/* The part an inter-courier message carries its payload in. */
static const char *
ic_part(const struct intro_ic *ic)
{
	switch (ic->ic_pay) {
	case INTRO_PAY_REVOKE:
		return "revoke";
	case INTRO_PAY_RECEIPT:
		return "receipt";
	default:
		return ic->ic_kind == PKI_KIND_FG ? "sealed" : "arm";
	}
}

int
intro_ic_make(const struct intro_ic *ic, char **out, size_t *outlen,
    char *err)
{
	struct proto_msg *pm;
	char *cert = NULL, *chain = NULL;
	int rc = -1;

	if ((ic->ic_kind != PKI_KIND_FG && ic->ic_kind != PKI_KIND_BG) ||
	    (ic->ic_kind == PKI_KIND_FG && ic->ic_pay != INTRO_PAY_ITEM)) {
		tn_err(err, "inter-courier: payload of no element kind");
		return -1;
	}
	if ((pm = proto_msg_new(PROTO_INTER_COURIER)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (msg_head(pm, ic->ic_id, ic->ic_origin, err) == -1 ||
	    ic_fields(pm, ic, err) == -1 ||
	    origin_parts(ic->ic_origin_pem, &cert, &chain, err) == -1)
		goto out;
	if (proto_attach(pm, ic_part(ic), ic->ic_payload, ic->ic_paylen,
	    err) == -1 ||
	    proto_attach(pm, "origin-cert", cert, strlen(cert), err) == -1 ||
	    proto_attach(pm, "origin-chain", chain, strlen(chain), err) == -1 ||
	    proto_format(pm, out, outlen, err) == -1)
		goto out;
	rc = 0;
out:
	free(cert);
	free(chain);
	proto_msg_free(pm);
	return rc;
}

static char *
dup_field(const struct proto_msg *pm, const char *name, size_t n, int *bad)
{
	const char *v = proto_get_nth(pm, name, n);
	char *s = v == NULL ? NULL : strdup(v);

	if (s == NULL)
		*bad = 1;
	return s;
}

/* A struct intro_ic from a checked inter-courier message. */
static struct intro_ic *
ic_take(const struct proto_msg *pm, const struct proto_part *pay,
    enum intro_pay what, const struct intro *origin, char *err)
{
	struct intro_ic *ic;
	int bad = 0;

	if ((ic = calloc(1, sizeof(*ic))) == NULL ||
	    (ic->ic_rcpts = calloc(proto_count(pm, "Recipient"),
	    sizeof(char *))) == NULL ||
	    (ic->ic_payload = malloc(pay->pp_len + 1)) == NULL) {
		intro_ic_free(ic);
		tn_err(err, "out of memory");
		return NULL;
	}
	ic->ic_id = dup_field(pm, "Id", 0, &bad);
	ic->ic_from = dup_field(pm, "From-Element", 0, &bad);
	ic->ic_to = dup_field(pm, "To-Element", 0, &bad);
	ic->ic_msgid = dup_field(pm, "Message-Id", 0, &bad);
	ic->ic_sender = dup_field(pm, "Sender", 0, &bad);
	ic->ic_origin = dup_field(pm, "Origin-Courier", 0, &bad);
	if (proto_get(pm, "Route-Token") != NULL)
		ic->ic_token = dup_field(pm, "Route-Token", 0, &bad);
	ic->ic_date = dup_field(pm, "Date", 0, &bad);
	if (proto_get(pm, "Origin-Date") != NULL)
		ic->ic_origin_date = dup_field(pm, "Origin-Date", 0, &bad);
	if (proto_get(pm, "Origin-Signature") != NULL)
		ic->ic_origin_sig = dup_field(pm, "Origin-Signature", 0, &bad);
	for (; ic->ic_nrcpts < proto_count(pm, "Recipient"); ic->ic_nrcpts++)
		ic->ic_rcpts[ic->ic_nrcpts] = dup_field(pm, "Recipient",
		    ic->ic_nrcpts, &bad);
	ic->ic_hops = (unsigned int)strtoul(proto_get(pm, "Hops"), NULL, 10);
	ic->ic_kind = origin->in_kind;
	ic->ic_pay = what;
	memcpy(ic->ic_payload, pay->pp_data, pay->pp_len + 1);
	ic->ic_paylen = pay->pp_len;
	if ((ic->ic_origin_pem = strdup(origin->in_pem)) == NULL)
		bad = 1;
	if (bad) {
		intro_ic_free(ic);
		tn_err(err, "out of memory");
		return NULL;
	}
	return ic;
}

int
intro_ic_read(const struct pki_trust *tr, const char *buf, size_t len,
    struct intro_ic **out, struct intro **origin, char *err)
{
	struct proto_msg *pm = NULL;
	const struct proto_part *c, *ch, *pay;
	struct intro *in = NULL;
	enum pki_kind want;
	enum intro_pay what;
	char why[TN_ERRLEN];
	int rc = -1;

	*out = NULL;
	if (proto_parse(buf, len, &pm, err) == -1)
		return -1;
	if (pm->pm_kind != PROTO_INTER_COURIER) {
		tn_err(err, "a %s message, not an inter-courier one",
		    proto_kind_name(pm->pm_kind));
		goto out;
	}
	want = PKI_KIND_BG;
	what = INTRO_PAY_ITEM;
	if ((pay = proto_part(pm, "sealed")) != NULL)
		want = PKI_KIND_FG;
	else if ((pay = proto_part(pm, "revoke")) != NULL)
		what = INTRO_PAY_REVOKE;
	else if ((pay = proto_part(pm, "receipt")) != NULL)
		what = INTRO_PAY_RECEIPT;
	else
		pay = proto_part(pm, "arm");
	c = proto_part(pm, "origin-cert");
	ch = proto_part(pm, "origin-chain");
	if (intro_check_pem(tr, (const char *)c->pp_data, c->pp_len,
	    (const char *)ch->pp_data, ch->pp_len, want, &in, why) == -1) {
		tn_err(err, "inter-courier origin: %.200s", why);
		goto out;
	}
	if (field_agrees(pm, "Origin-Courier", in->in_courier, 1, err) == -1 ||
	    (*out = ic_take(pm, pay, what, in, err)) == NULL)
		goto out;
	if (origin != NULL) {
		*origin = in;
		in = NULL;
	}
	rc = 0;
out:
	intro_free(in);
	proto_msg_free(pm);
	return rc;
}

void
intro_ic_free(struct intro_ic *ic)
{
	size_t i;

	if (ic == NULL)
		return;
	free(ic->ic_id);
	free(ic->ic_from);
	free(ic->ic_to);
	free(ic->ic_msgid);
	free(ic->ic_sender);
	for (i = 0; i < ic->ic_nrcpts; i++)
		free(ic->ic_rcpts[i]);
	free(ic->ic_rcpts);
	free(ic->ic_origin);
	free(ic->ic_token);
	free(ic->ic_payload);
	free(ic->ic_origin_pem);
	free(ic->ic_date);
	free(ic->ic_origin_date);
	free(ic->ic_origin_sig);
	free(ic);
}

/* Append one "Name: value" line, value lowered when lower. */
static int
stmt_line(char **buf, size_t *len, const char *name, const char *value,
    int lower)
{
	size_t n = strlen(name) + strlen(value) + 3, i, at;
	char *tmp;

	if ((tmp = realloc(*buf, *len + n + 1)) == NULL)
		return -1;
	*buf = tmp;
	at = *len + strlen(name) + 2;
	snprintf(*buf + *len, n + 1, "%s: %s\n", name, value);
	if (lower)
		for (i = at; i < at + strlen(value); i++)
			(*buf)[i] = (char)tolower((unsigned char)(*buf)[i]);
	*len += n;
	return 0;
}

/* What the origin signs (see intro.h), in *out (free()). */
static int
ic_statement(const struct intro_ic *ic, char **out, size_t *outlen,
    char *err)
{
	unsigned char md[32];
	char pay[16 + 2 * sizeof(md)], *hex = NULL, *buf = NULL;
	size_t len = 0, i;
	int bad;

	*out = NULL;
	if (ic->ic_origin_date == NULL) {
		tn_err(err, "no Origin-Date");
		return -1;
	}
	if (EVP_Digest(ic->ic_payload, ic->ic_paylen, md, NULL, EVP_sha256(),
	    NULL) != 1 || (hex = util_hex(md, sizeof(md))) == NULL) {
		tn_err(err, "cannot digest the payload");
		return -1;
	}
	snprintf(pay, sizeof(pay), "%s %s", ic_part(ic), hex);
	free(hex);
	bad = stmt_line(&buf, &len, "Statement", "tandem-origin/1", 0) ||
	    stmt_line(&buf, &len, "Origin-Courier", ic->ic_origin, 1) ||
	    stmt_line(&buf, &len, "Origin-Date", ic->ic_origin_date, 0) ||
	    stmt_line(&buf, &len, "Message-Id", ic->ic_msgid, 0) ||
	    stmt_line(&buf, &len, "Sender", ic->ic_sender, 1);
	for (i = 0; i < ic->ic_nrcpts && !bad; i++)
		bad = stmt_line(&buf, &len, "Recipient", ic->ic_rcpts[i], 1);
	if (bad || stmt_line(&buf, &len, "Payload", pay, 0)) {
		free(buf);
		tn_err(err, "out of memory");
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int
intro_ic_sign(const struct intro_ic *ic, EVP_PKEY *key, char **sig,
    char *err)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *raw = NULL;
	char *st = NULL;
	size_t stlen, rawlen = 0;
	int rc = -1;

	*sig = NULL;
	if (ic_statement(ic, &st, &stlen, err) == -1)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &rawlen, (unsigned char *)st,
	    stlen) != 1 || (raw = malloc(rawlen)) == NULL ||
	    EVP_DigestSign(ctx, raw, &rawlen, (unsigned char *)st,
	    stlen) != 1 || (*sig = malloc(4 * ((rawlen + 2) / 3) + 1)) ==
	    NULL) {
		tn_err(err, "cannot sign the origin's statement");
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)*sig, raw, (int)rawlen);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(raw);
	free(st);
	return rc;
}

int
intro_ic_verify(const struct intro_ic *ic, char *err)
{
	EVP_MD_CTX *ctx = NULL;
	X509 *cert = NULL;
	unsigned char *raw = NULL;
	char *st = NULL, why[TN_ERRLEN];
	size_t stlen, slen;
	int rawlen, rc = -1;

	if (ic->ic_origin_sig == NULL) {
		tn_err(err, "no Origin-Signature");
		return -1;
	}
	if (ic_statement(ic, &st, &stlen, err) == -1)
		return -1;
	slen = strlen(ic->ic_origin_sig);
	if (ic->ic_origin_pem == NULL || (cert = pki_parse_cert(
	    ic->ic_origin_pem, strlen(ic->ic_origin_pem), why)) == NULL) {
		tn_err(err, "no origin certificate");
		goto out;
	}
	if (slen % 4 != 0 || (raw = malloc(slen / 4 * 3 + 1)) == NULL ||
	    (rawlen = EVP_DecodeBlock(raw, (unsigned char *)ic->ic_origin_sig,
	    (int)slen)) < 0) {
		tn_err(err, "Origin-Signature is not base64");
		goto out;
	}
	/* EVP_DecodeBlock() counts the padding as bytes. */
	while (slen > 0 && ic->ic_origin_sig[slen - 1] == '=' && rawlen > 0) {
		slen--;
		rawlen--;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
	    X509_get0_pubkey(cert)) != 1 ||
	    EVP_DigestVerify(ctx, raw, (size_t)rawlen, (unsigned char *)st,
	    stlen) != 1) {
		tn_err(err, "Origin-Signature does not verify: the origin did "
		    "not sign this origin, sender, message and recipient");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	X509_free(cert);
	free(raw);
	free(st);
	return rc;
}

int
intro_ic_digest(const struct intro_ic *ic, char *hex, char *err)
{
	unsigned char md[32];
	char *st = NULL, *h;
	size_t stlen;

	if (ic_statement(ic, &st, &stlen, err) == -1)
		return -1;
	if (EVP_Digest(st, stlen, md, NULL, EVP_sha256(), NULL) != 1 ||
	    (h = util_hex(md, sizeof(md))) == NULL) {
		free(st);
		tn_err(err, "cannot digest the origin's statement");
		return -1;
	}
	snprintf(hex, 2 * sizeof(md) + 1, "%s", h);
	free(h);
	free(st);
	return 0;
}
