/*
 * NAME
 *	service.c - service mail to the foreground's service mailbox
 * DESCRIPTION
 *	service_process() handles "Tandem-Kind: service" (doc/flows.md 3):
 *	a registration, enveloped to the FG element certificate, creates
 *	a pending account (and forgets a decline of that address:
 *	decline.c) and queues the exchange-keys answer; any other
 *	kind is a wrap agent -> courier from a registered agent, of which
 *	agent-alive activates the account and releases its held mail,
 *	invitation-reject introduces this FG to the inviting one
 *	(fed_reject()), and exchange-keys and rekeying-complete replace
 *	the account's keys (rekey.c). service_take() parses what an agent
 *	asks and hands exchange-keys and rekeying-complete to rekey.c,
 *	for registered agents and for one being transferred here
 *	(transfer_agent()) alike.
 *	The service mailbox is then removed from the recipients, or the
 *	mail discarded when nobody else is left. The statements (db.h)
 *	run in the transaction msg_process() began and commits.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "fgfed.h"
#include "keybox.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "tandem.h"

/* 1 if the ASN.1 string is exactly address, ignoring case. */
static int
service_same(const ASN1_STRING *v, const char *address)
{
	size_t len = (size_t)ASN1_STRING_length(v);

	return len == strlen(address) && strncasecmp((const char *)
	    ASN1_STRING_get0_data(v), address, len) == 0;
}

/*
 * 0 if every name the request gives (subject CN, subjectAltName
 * rfc822Name) is address, and it gives at least one; else the first
 * other name in err.
 */
static int
service_csr_names(X509_REQ *req, const char *address, char *err)
{
	X509_NAME *subj = X509_REQ_get_subject_name(req);
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *g;
	const ASN1_STRING *v;
	int i = -1, n = 0, rc = -1;

	while ((i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0) {
		v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		if (!service_same(v, address)) {
			tn_err(err, "agent-csr: the request names another "
			    "address than %s", address);
			goto out;
		}
		n++;
	}
	if (exts != NULL)
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_EMAIL || !service_same(g->d.rfc822Name,
		    address)) {
			tn_err(err, "agent-csr: the request names another "
			    "address than %s", address);
			goto out;
		}
		n++;
	}
	if (n == 0) {
		tn_err(err, "agent-csr: the request names no address");
		goto out;
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* The CSR: parsed, self-signature checked, for address only. */
int
service_csr(const struct proto_part *pp, const char *address, char *err)
{
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	BIO *bio;
	int rc = -1;

	if ((bio = BIO_new_mem_buf(pp->pp_data, (int)pp->pp_len)) == NULL ||
	    (req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)) == NULL ||
	    (pk = X509_REQ_get0_pubkey(req)) == NULL ||
	    X509_REQ_verify(req, pk) != 1)
		tn_err_ssl(err, "agent-csr: not a valid certificate request");
	else
		rc = service_csr_names(req, address, err);
	X509_REQ_free(req);
	BIO_free(bio);
	return rc;
}

/* The invitation of token for address, locked; its id in idbuf. */
static int
service_token(struct msg *mc, PGconn *db, const char *token,
    const char *address, char *idbuf, size_t idsize)
{
	unsigned char hash[TMAIL_HASHLEN];
	unsigned int n = 0;
	const char *p[1] = { (const char *)hash };
	int l[1] = { TMAIL_HASHLEN };
	char err[TN_ERRLEN];
	PGresult *r;

	if (EVP_Digest(token, strlen(token), hash, &n, EVP_sha256(),
	    NULL) != 1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 cannot hash the token");
		return -1;
	}
	if (db_exec(db, "SELECT id, address FROM invitations WHERE "
	    "token_hash = $1 AND status = 'pending' AND expires_at > now() "
	    "FOR UPDATE", 1, p, l, &r, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 %s", err);
		return -1;
	}
	if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 1), address) != 0) {
		PQclear(r);
		msg_fail(mc, MSG_PERM, "5.7.1 registration: unknown, used or "
		    "expired token for %s", address);
		return -1;
	}
	snprintf(idbuf, idsize, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/*
 * The text of an exchange-keys answer: generation gen of address, both
 * certificates and the chain; its new Id in id (TN_MAX_MSGID + 1).
 */
int
service_exchange_text(const struct fg *fg, const char *address,
    const char *gen, const char *ccert, const char *acert, char *id,
    char **body, size_t *blen, char *err)
{
	struct proto_msg *pm = NULL;
	char now[32];
	int rc = -1;

	proto_format_time(time(NULL), now, sizeof(now));
	if (tmail_msgid(fg->fg_conf->cf_service_mailbox, id,
	    TN_MAX_MSGID + 1) == -1 ||
	    (pm = proto_msg_new(PROTO_EXCHANGE_KEYS)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (proto_set(pm, "Id", id, err) || proto_set(pm, "Date", now, err) ||
	    proto_set(pm, "Address", address, err) ||
	    proto_set(pm, "Generation", gen, err) ||
	    proto_attach(pm, "courier-cert", ccert, strlen(ccert), err) ||
	    proto_attach(pm, "agent-cert", acert, strlen(acert), err) ||
	    proto_attach(pm, "ca-chain", fg->fg_chain_pem,
	    strlen(fg->fg_chain_pem), err) ||
	    proto_format(pm, body, blen, err) == -1)
		goto out;
	rc = 0;
out:
	proto_msg_free(pm);
	return rc;
}

/* exchange-keys (generation 1) wrapped to the agent, into outbox. */
static int
service_answer(struct msg *mc, PGconn *db, const char *address,
    const char *ccert, const char *acert, char *err)
{
	const struct fg *fg = mc->mc_fg;
	struct tmail_head th;
	char id[TN_MAX_MSGID + 1], *body = NULL;
	size_t blen;
	X509 *x = NULL;
	int rc = -1;

	if (service_exchange_text(fg, address, "1", ccert, acert, id, &body,
	    &blen, err) == -1 ||
	    (x = pki_parse_cert(acert, strlen(acert), err)) == NULL)
		goto out;
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_SERVICE;
	th.th_from = fg->fg_conf->cf_service_mailbox;
	th.th_to = &address;
	th.th_nto = 1;
	th.th_msgid = id;
	if (fgdb_mail(db, &th, &fg->fg_id, x, (unsigned char *)body, blen,
	    err) == -1)
		goto out;
	rc = 0;
out:
	X509_free(x);
	free(body);
	return rc;
}

void
service_issued_free(struct issued *is)
{
	if (is->is_key != NULL)
		keybox_clear_free((unsigned char *)is->is_key,
		    strlen(is->is_key));
	keybox_clear_free(is->is_sealed, is->is_sealedlen);
	OPENSSL_free(is->is_serial);
	free(is->is_ccert);
	free(is->is_acert);
	memset(is, 0, sizeof(*is));
}

/*
 * A new generation for address: the CA process makes the courier-end
 * key and issues both certificates for the request csr; the key is
 * sealed with the keybox. 0; 1 when the CA refused (err says why);
 * -1 on an internal failure.
 */
int
service_issue(const struct fg *fg, const char *address, const char *csr,
    struct issued *is, char *err)
{
	BIGNUM *bn = NULL;
	X509 *x = NULL;
	int rc = -1, ca;

	memset(is, 0, sizeof(*is));
	if ((ca = ca_issue(fg, address, csr, &is->is_key, &is->is_ccert,
	    &is->is_acert, err)) != 0) {
		rc = ca;
		goto out;
	}
	if (keybox_seal(fg->fg_keybox, address, (unsigned char *)is->is_key,
	    strlen(is->is_key), &is->is_sealed, &is->is_sealedlen,
	    err) == -1 ||
	    (x = pki_parse_cert(is->is_ccert, strlen(is->is_ccert),
	    err)) == NULL)
		goto out;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) ==
	    NULL || (is->is_serial = BN_bn2hex(bn)) == NULL) {
		tn_err(err, "serial: out of memory");
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	X509_free(x);
	if (rc != 0)
		service_issued_free(is);
	return rc;
}

/* Store the new account; the certificates come from the CA process. */
static int
service_account(struct msg *mc, PGconn *db, const char *address,
    const char *invid, const char *csr)
{
	const struct fg *fg = mc->mc_fg;
	struct issued is;
	char err[TN_ERRLEN];
	int rc = -1, ca;

	if ((ca = service_issue(fg, address, csr, &is, err)) == 1) {
		msg_fail(mc, MSG_PERM, "5.7.1 registration refused by the "
		    "CA: %s", err);
		return -1;
	}
	if (ca == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 registration: %s", err);
		return -1;
	}
	{
		const char *p[4] = { address, is.is_ccert, is.is_acert, invid };
		const char *u[2] = { address, invid };
		const char *k[3] = { address, is.is_serial,
		    (const char *)is.is_sealed };
		int kl[3] = { 0, 0, (int)is.is_sealedlen };

		if (db_run(db, "INSERT INTO accounts (address, status, "
		    "courier_cert, agent_cert) VALUES ($1, 'pending', $2, $3)",
		    3, p, err) == -1 ||
		    db_exec(db, "INSERT INTO account_keys (address, "
		    "generation, key_serial, sealed_key) VALUES ($1, 1, $2, "
		    "$3)", 3, k, kl, NULL, err) == -1 ||
		    db_run(db, "UPDATE invitations SET status = 'accepted' "
		    "WHERE id = $1", 1, p + 3, err) == -1 ||
		    db_run(db, "WITH d AS (DELETE FROM declined_addresses "
		    "WHERE address = $1 RETURNING address) INSERT INTO "
		    "bg_relay (address, kind, message_id, body, expires_at) "
		    "SELECT d.address, 'undeclined', i.message_id, '\\x', "
		    "now() + interval '1 day' FROM d, invitations i WHERE "
		    "i.id = $2::bigint", 2, u, err) == -1 ||
		    service_answer(mc, db, address, is.is_ccert, is.is_acert,
		    err) == -1) {
			msg_fail(mc, MSG_TEMP, "4.3.0 registration: %s", err);
			goto out;
		}
	}
	log_info("%s registration address=%s status=pending", mc->mc_qid,
	    address);
	rc = 0;
out:
	service_issued_free(&is);
	return rc;
}

static int
service_register(struct msg *mc, PGconn *db, const unsigned char *in,
    size_t inlen)
{
	struct proto_msg *pm = NULL;
	const struct proto_part *csr;
	const char *address;
	char err[TN_ERRLEN], invid[32];
	int rc = -1;

	if (proto_parse((const char *)in, inlen, &pm, err) == -1 ||
	    pm->pm_kind != PROTO_REGISTRATION) {
		msg_fail(mc, MSG_PERM, "5.6.0 registration: %s", pm == NULL ?
		    err : "not a registration");
		goto out;
	}
	address = proto_get(pm, "Address");
	csr = proto_part(pm, "agent-csr");
	if (strcmp(address, mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 registration: Address %s is not "
		    "the envelope sender", address);
		goto out;
	}
	if (service_csr(csr, address, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.1 registration: %s", err);
		goto out;
	}
	if (service_token(mc, db, proto_get(pm, "Token"), address, invid,
	    sizeof(invid)) == -1 ||
	    service_account(mc, db, address, invid,
	    (const char *)csr->pp_data) == -1)
		goto out;
	rc = 0;
out:
	proto_msg_free(pm);
	return rc;
}

static int
service_alive(struct msg *mc, PGconn *db, const struct proto_msg *pm)
{
	const char *p[1] = { mc->mc_sender };
	struct fed fd;
	char err[TN_ERRLEN];
	int n = 0;

	if (strcmp(proto_get(pm, "Address"), mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 agent-alive: Address is not the "
		    "sender");
		return -1;
	}
	fgfed_init(&fd, mc, db);
	if (db_run(db, "UPDATE accounts SET status = 'active' WHERE "
	    "address = $1 AND status IN ('pending', 'active')", 1, p,
	    err) == -1 || fed_release(&fd, mc->mc_sender, &n, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 agent-alive: %s", err);
		return -1;
	}
	log_info("%s agent-alive address=%s status=active released=%d",
	    mc->mc_qid, mc->mc_sender, n);
	return 0;
}

/*
 * The protocol text in (inlen) of a service mail from the agent of
 * mc's sender, signed by signer; agent is the account's agent
 * certificate. It is parsed, then kind sees it first (arg is its
 * own): kind takes or refuses it (0, or -1 with the verdict set), or
 * answers 1 for exchange-keys and rekeying-complete, which rekey.c
 * takes. 0, or -1 with the verdict set.
 */
int
service_take(struct msg *mc, PGconn *db, const unsigned char *in,
    size_t inlen, X509 *signer, X509 *agent,
    int (*kind)(struct msg *, PGconn *, const struct proto_msg *, void *),
    void *arg)
{
	struct proto_msg *pm = NULL;
	char err[TN_ERRLEN];
	int rc;

	if (proto_parse((const char *)in, inlen, &pm, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.6.0 service mail: %s", err);
		return -1;
	}
	if ((rc = kind(mc, db, pm, arg)) == 1) {
		switch (pm->pm_kind) {
		case PROTO_EXCHANGE_KEYS:
			rc = rekey_exchange(mc, db, pm, signer, agent);
			break;
		case PROTO_REKEYING_COMPLETE:
			rc = rekey_complete(mc, db, pm, signer, agent);
			break;
		default:
			log_panic("service_take: kind %s is not rekey.c's",
			    proto_kind_name(pm->pm_kind));
		}
	}
	proto_msg_free(pm);
	return rc;
}

/* The kinds a registered agent sends: see service_take(). */
static int
service_kind(struct msg *mc, PGconn *db, const struct proto_msg *pm,
    void *arg)
{
	(void)arg;
	switch (pm->pm_kind) {
	case PROTO_INVITATION_REJECT:
		return fed_reject(mc, db, pm);
	case PROTO_AGENT_ALIVE:
		return service_alive(mc, db, pm);
	case PROTO_EXCHANGE_KEYS:
	case PROTO_REKEYING_COMPLETE:
		return 1;
	default:
		msg_fail(mc, MSG_PERM, "5.6.0 service mail: kind %s not "
		    "handled here", proto_kind_name(pm->pm_kind));
		return -1;
	}
}

/*
 * A wrap agent -> courier from a registered agent: opened with the
 * account's current key, or another generation still taken (a rekey
 * in progress or in its grace), and signed by one of their agents.
 */
static int
service_agent(struct msg *mc, PGconn *db, struct tmail *tm)
{
	const struct fg *fg = mc->mc_fg;
	struct cms_id id;
	X509 *agent = NULL, *signer = NULL;
	unsigned char *in = NULL;
	size_t inlen;
	enum cms_fail fail;
	char err[TN_ERRLEN];
	int rc = -1, found;

	if ((found = fgdb_account_id(fg, db, mc->mc_sender, 1, &id, &agent,
	    err)) != 0) {
		msg_fail(mc, found == 1 ? MSG_PERM : MSG_TEMP, found == 1 ?
		    "5.7.1 service mail from %s, which is not registered" :
		    "4.3.0 %s", found == 1 ? mc->mc_sender : err);
		return -1;
	}
	if ((found = rekey_unwrap(fg, db, mc->mc_sender, tm, &id, agent, NULL,
	    &in, &inlen, &signer, NULL, &fail, err)) != 0) {
		msg_fail(mc, found == -1 && (fail == CMS_FAIL_INTERNAL ||
		    fail == CMS_FAIL_CRL) ? MSG_TEMP : MSG_PERM,
		    "%s bad service mail: %s", found == -1 &&
		    fail == CMS_FAIL_INTERNAL ? "4.3.0" : found == -1 &&
		    fail == CMS_FAIL_CRL ? "4.7.0" : "5.7.7", found == 1 ?
		    "the signer is not the sender's agent" : err);
		goto out;
	}
	rc = service_take(mc, db, in, inlen, signer, agent, service_kind,
	    NULL);
out:
	fgdb_id_free(&id);
	X509_free(agent);
	X509_free(signer);
	free(in);
	return rc;
}

int
service_process(struct msg *mc, PGconn *db, struct tmail *tm)
{
	unsigned char *in = NULL;
	size_t inlen;
	enum cms_fail fail;
	char err[TN_ERRLEN];
	int rc;

	if (strcmp(tm->tm_from, mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 From: %s is not the envelope "
		    "sender", tm->tm_from);
		return -1;
	}
	/*
	 * Enveloped to the FG element: a registration (a protocol text),
	 * or what the agent of an address being transferred here signs
	 * before it holds keys of this courier (a SignedData, DER).
	 */
	if (cms_unenvelope(tm->tm_der, tm->tm_derlen, &mc->mc_fg->fg_id, &in,
	    &inlen, &fail, err) == 0)
		rc = inlen > 0 && in[0] == 0x30 ? transfer_agent(mc, db, in,
		    inlen) : service_register(mc, db, in, inlen);
	else
		rc = service_agent(mc, db, tm);
	free(in);
	if (rc == -1)
		return -1;
	msg_consume(mc);
	return 0;
}
