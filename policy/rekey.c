/*
 * NAME
 *	rekey.c - POST /v1/rekey: an agent offers its new certificate
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	Key replacement (doc/flows.md 8): the foreground issues the
 *	agent a new certificate and, once the agent says it installed it,
 *	replicates it as accounts.agent_cert. The background believes it
 *	only when the holder of the pinned certificate offered exactly
 *	that certificate first, or offers it later.
 *
 *	store_rekey() takes the offer. The client is the pinned agent
 *	certificate of an active account, or of a pending one a transfer
 *	brought here (http.c checked it; an offered one may not offer).
 *	The body is the new agent certificate in PEM, which may be
 *	followed by certificates between it and the root, used only to
 *	verify it. It must verify to tls.anchors (with
 *	tls.chain), be an agent certificate carrying the client's
 *	address, and be issued under this courier's CA key, the one
 *	above this background's own certificate (pki_courier_ca() among
 *	tls.chain and the body's other certificates, compared by
 *	pki_key_id()): for an account of this courier the pinned
 *	certificate's, for one a transfer brought the new courier's. Then
 *	tandem_agent_offer() (sql/bg/010-rekey.sql) records the offer
 *	as made by the client, for hygiene.replay_window, or moves the
 *	pin when the foreground's change already arrived; it refuses
 *	when the pin is no longer the client. Answers: 200 "offered" or
 *	"pinned"; 400 when the body holds no certificate; 403 naming
 *	what is wrong, nothing recorded.
 *
 *	store_cert_sha256() writes the hex SHA-256 of a certificate's
 *	DER: the identity of a certificate in agent_cert_changes and
 *	agent_pin_offers, the same as tandem_cert_sha256() of its PEM
 *	text in the database, whatever the layout of that text.
 *
 *	store_transfer_repin() replaces the pin of an address a transfer
 *	brought back (sql/bg/013-transfer-pins.sql), for address or, when
 *	NULL, for every one waiting: the certificate the transfer carried
 *	must be an agent certificate for the address, verify to the
 *	anchors, and be issued under another courier's CA key than this
 *	one's (the foreground's own CA could issue any); then
 *	tandem_transfer_repin() checks the rows again and moves the pin.
 *	Each is logged (status=repinned, or status=repin-refused with the
 *	reason); it returns -1 only when the candidates cannot be read.
 *
 *	store_agent_is() says whether client is the agent of pa: its
 *	pinned certificate, or, with offered non-zero, a certificate the
 *	pinned one offered (agent_pin_offers, tandem_offer_valid(): made
 *	by the pin of now, not expired): the agent switches to its new
 *	certificate before the foreground's change arrives.
 * DIAGNOSTICS
 *	One log line per offer, taken or refused (key=value).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "log.h"
#include "policyd.h"
#include "tandem.h"
#include "util.h"

int
store_cert_sha256(X509 *cert, char out[STORE_SHALEN + 1], char *err)
{
	unsigned char md[32], *der = NULL;
	unsigned int mdlen = 0;
	size_t i;
	int len, rc = -1;

	if ((len = i2d_X509(cert, &der)) <= 0) {
		tn_err(err, "cannot encode the certificate");
		goto out;
	}
	if (EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md)) {
		tn_err(err, "SHA-256 failed");
		goto out;
	}
	for (i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	OPENSSL_free(der);
	return rc;
}

int
store_agent_is(struct pd *pd, const struct pd_account *pa, X509 *client,
    int offered, char *err)
{
	char sha[STORE_SHALEN + 1];
	const char *vals[2] = { pa->pa_address, sha };

	if (pa->pa_agent == NULL)
		return 0;
	if (X509_cmp(pa->pa_agent, client) == 0)
		return 1;
	if (!offered)
		return 0;
	if (store_cert_sha256(client, sha, err) == -1)
		return -1;
	return db_one(pd->pd_db, "SELECT 1 WHERE tandem_offer_valid($1, $2)",
	    2, vals, NULL, 0, err);
}

/* The key id of the courier CA above cert among certs, or "". */
static void
rk_courier(X509 *cert, STACK_OF(X509) *certs, char kid[PKI_KEYIDLEN + 1])
{
	X509 *ca;

	if ((ca = pki_courier_ca(cert, certs)) == NULL ||
	    pki_key_id(ca, kid) == -1)
		kid[0] = '\0';
}

/* The offered certificate, checked against this courier; or a status. */
static enum pd_status
rk_check(struct pd *pd, const struct pd_account *pa, STACK_OF(X509) *body,
    char *msg, size_t msglen)
{
	X509 *offer = sk_X509_value(body, 0);
	STACK_OF(X509) *certs = NULL;
	enum pki_fail why;
	char err[TN_ERRLEN], mine[PKI_KEYIDLEN + 1], theirs[PKI_KEYIDLEN + 1];
	enum pd_status st = PD_FORBIDDEN;
	int i;

	if (pki_cert_kind(offer) != PKI_KIND_AGENT) {
		snprintf(msg, msglen, "the certificate is a %s certificate, "
		    "not an agent's", pki_kind_name(pki_cert_kind(offer)));
		goto out;
	}
	/* Ours, then what the body brought after the certificate. */
	if ((certs = sk_X509_new_null()) == NULL)
		goto oom;
	for (i = 0; i < sk_X509_num(pd->pd_id.ci_chain); i++)
		if (!sk_X509_push(certs, sk_X509_value(pd->pd_id.ci_chain, i)))
			goto oom;
	for (i = 1; i < sk_X509_num(body); i++)
		if (!sk_X509_push(certs, sk_X509_value(body, i)))
			goto oom;
	if (pki_verify_why(pd->pd_trust, offer, certs, pa->pa_address, &why,
	    err) == -1) {
		if (why == PKI_FAIL_EMAIL)
			snprintf(msg, msglen, "the certificate is not for "
			    "%s", pa->pa_address);
		else
			snprintf(msg, msglen, "the certificate does not "
			    "verify: %s", err);
		goto out;
	}
	rk_courier(pd->pd_id.ci_cert, certs, mine);
	rk_courier(offer, certs, theirs);
	if (mine[0] == '\0' || strcmp(mine, theirs) != 0) {
		snprintf(msg, msglen, "the certificate is not issued under "
		    "this courier's CA key");
		goto out;
	}
	st = PD_NONE;
	goto out;
oom:
	st = PD_INTERNAL;
	snprintf(msg, msglen, "internal error");
out:
	sk_X509_free(certs);
	return st;
}

enum pd_status
store_rekey(struct pd *pd, X509 *client, const char *address,
    const unsigned char *body, size_t len, char *msg, size_t msglen)
{
	struct pd_account *pa = NULL;
	STACK_OF(X509) *certs = NULL;
	char err[TN_ERRLEN], sha[STORE_SHALEN + 1], by[STORE_SHALEN + 1];
	char said[16], secs[32], *pem = NULL;
	char a[UTIL_ESCLEN], m[UTIL_ESCLEN];
	const char *vals[5];
	size_t pemlen;
	enum pd_status st = PD_BAD;

	sha[0] = '\0';
	if ((certs = pki_parse_certs((const char *)body, len, err)) == NULL ||
	    sk_X509_num(certs) < 1) {
		snprintf(msg, msglen, "not a PEM certificate: %s", err);
		goto out;
	}
	st = PD_INTERNAL;
	snprintf(msg, msglen, "internal error");
	if (store_account(pd, address, &pa, 0, err) == -1)
		goto fail;
	st = PD_FORBIDDEN;
	if (pa == NULL || !pa->pa_served ||
	    store_agent_is(pd, pa, client, 0, err) != 1) {
		snprintf(msg, msglen, "only the pinned agent certificate of an "
		    "active account may offer another");
		goto out;
	}
	if ((st = rk_check(pd, pa, certs, msg, msglen)) != PD_NONE)
		goto out;
	st = PD_INTERNAL;
	snprintf(msg, msglen, "internal error");
	if (store_cert_sha256(sk_X509_value(certs, 0), sha, err) == -1 ||
	    store_cert_sha256(client, by, err) == -1 ||
	    pki_cert_pem(sk_X509_value(certs, 0), &pem, &pemlen, err) == -1)
		goto out;
	snprintf(secs, sizeof(secs), "%ld", pd->pd_cf->cf_replay_window);
	vals[0] = pa->pa_address;
	vals[1] = by;
	vals[2] = sha;
	vals[3] = pem;
	vals[4] = secs;
	if (db_one(pd->pd_db, "SELECT tandem_agent_offer($1, $2, $3, $4, "
	    "$5::double precision)", 5, vals, said, sizeof(said), err) != 1)
		goto fail;
	if (strcmp(said, "not pinned") == 0) {
		st = PD_FORBIDDEN;
		snprintf(msg, msglen, "only the pinned agent certificate of an "
		    "active account may offer another");
		goto out;
	}
	if (strcmp(said, "offered") != 0 && strcmp(said, "pinned") != 0) {
		st = PD_FORBIDDEN;
		snprintf(msg, msglen, "no agent certificate is pinned for %s",
		    pa->pa_address);
		goto out;
	}
	st = PD_OK;
	snprintf(msg, msglen, "%s", said);
	goto out;
fail:
	log_warn("rekey client=%s status=error reason=\"%s\"",
	    util_escape(address, a, sizeof(a), 0), err);
	if (store_down(pd)) {
		st = PD_UNAVAILABLE;
		snprintf(msg, msglen, "database unavailable, try again later");
	}
out:
	log_info("rekey client=%s sha256=%.16s status=%d reason=\"%s\"",
	    util_escape(address, a, sizeof(a), 0), sha[0] != '\0' ? sha : "-",
	    (int)st, util_escape(msg, m, sizeof(m), UTIL_ESC_SPACE));
	free(pem);
	sk_X509_pop_free(certs, X509_free);
	store_account_free(pa);
	return st;
}

/*
 * A transfer brought back an address whose pin is of the time it was
 * served here (sql/bg/013): the certificate the transfer carried, if it
 * is an agent's for the address, verified to the anchors and issued
 * under another courier's CA key than this one's, replaces that pin.
 */
static void
rk_repin_one(struct pd *pd, const char *address, const char *pem,
    const char *sha)
{
	STACK_OF(X509) *certs = NULL;
	X509 *leaf = NULL, *dup;
	enum pki_fail fail;
	char err[TN_ERRLEN], mine[PKI_KEYIDLEN + 1], theirs[PKI_KEYIDLEN + 1];
	char said[48];
	const char *vals[2] = { address, sha };
	const char *why = NULL;
	int i;

	if ((certs = pki_parse_certs(pem, strlen(pem), err)) == NULL ||
	    (leaf = sk_X509_shift(certs)) == NULL) {
		why = "the certificate is unreadable";
		goto out;
	}
	for (i = 0; i < sk_X509_num(pd->pd_id.ci_chain); i++)
		if ((dup = X509_dup(sk_X509_value(pd->pd_id.ci_chain,
		    i))) == NULL || !sk_X509_push(certs, dup)) {
			X509_free(dup);
			why = "out of memory";
			goto out;
		}
	rk_courier(pd->pd_id.ci_cert, certs, mine);
	rk_courier(leaf, certs, theirs);
	if (pki_cert_kind(leaf) != PKI_KIND_AGENT)
		why = "not an agent certificate";
	else if (pki_verify_why(pd->pd_trust, leaf, certs, address, &fail,
	    err) == -1)
		why = err;
	else if (theirs[0] == '\0' || strcmp(mine, theirs) == 0)
		why = "issued under this courier's CA key, not the one it "
		    "came from";
	else if (db_one(pd->pd_db, "SELECT tandem_transfer_repin($1, $2)",
	    2, vals, said, sizeof(said), err) != 1)
		why = err;
	else if (strcmp(said, "repinned") != 0 && strcmp(said, "pinned") != 0)
		why = said;
out:
	if (why != NULL)
		log_warn("account address=%s status=repin-refused sha256=%.16s "
		    "reason=\"%s\"", address, sha, why);
	else
		log_info("account address=%s status=repinned by=transfer "
		    "sha256=%.16s", address, sha);
	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
}

int
store_transfer_repin(struct pd *pd, const char *address, char *err)
{
	static const char sql[] = "SELECT a.address, a.agent_cert, "
	    "tandem_cert_sha256(a.agent_cert) FROM agent_pins p JOIN accounts "
	    "a USING (address) WHERE p.left_at IS NOT NULL AND a.status = "
	    "'pending' AND a.transferred_from IS NOT NULL AND a.agent_cert "
	    "IS NOT NULL AND ($1::text IS NULL OR a.address = lower($1)) AND "
	    "tandem_cert_sha256(p.agent_cert) <> "
	    "tandem_cert_sha256(a.agent_cert)";
	PGresult *res = NULL;
	int i;

	if (db_exec(pd->pd_db, sql, 1, &address, NULL, &res, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(res); i++)
		rk_repin_one(pd, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2));
	PQclear(res);
	return 0;
}
