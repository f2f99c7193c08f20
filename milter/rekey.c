/*
 * NAME
 *	rekey.c - key replacement, the foreground's part (doc/flows.md 8)
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	int	rekey_unwrap(const struct fg *fg, PGconn *db,
 *		    const char *address, const struct tmail *tm,
 *		    const struct cms_id *id, X509 *agent,
 *		    const struct cms_certsrc *src, unsigned char **out,
 *		    size_t *outlen, X509 **signer, STACK_OF(X509) **certs,
 *		    enum cms_fail *fail, char *err);
 *
 *	int	rekey_exchange(struct msg *mc, PGconn *db,
 *		    const struct proto_msg *pm, X509 *signer, X509 *agent);
 *	int	rekey_complete(struct msg *mc, PGconn *db,
 *		    const struct proto_msg *pm, X509 *signer, X509 *agent);
 *
 *	int	rekey_policy(const struct fg *fg, PGconn *db, char *err);
 *	int	rekey_notices(const struct fg *fg, PGconn *db, char *err);
 * DESCRIPTION
 *	rekey_unwrap() opens a wrap the agent of address made (tm), as
 *	cms_unwrap_from() does: with id, the account's current
 *	identity, then, when that cannot decrypt it, with each other
 *	generation still taken: the new one of a rekey whose keys went
 *	out (keys-sent), and the one before each completed rekey while
 *	its retired_at lies ahead (hygiene.rekey_grace), newest first.
 *	0 when the signer is agent (the current one) or the agent of
 *	another generation still taken; 1 when it is someone else (*out
 *	and the rest set, for the caller to free); -1 with the first
 *	attempt's *fail and err (CMS_FAIL_INTERNAL when the other
 *	generations could not be loaded).
 *
 *	rekey_exchange() handles an agent's exchange-keys (part
 *	agent-csr; signer must be agent, the current certificate), and
 *	rekey_complete() its rekeying-complete (signer must be the new
 *	certificate of the rekey; said again once complete, it is taken
 *	and nothing done); both in the transaction of msg_process(). A
 *	refusal is a permanent error and changes nothing; the return is 0
 *	or -1 as for service_process(). A second exchange-keys for a
 *	generation whose keys went out is answered again for the same
 *	key and refused for another.
 *
 *	rekey_policy() records a rekey for the active accounts whose
 *	current generation is older than hygiene.rekey_after, at most
 *	hygiene.rekey_batch. rekey_notices() turns requested rekeys into
 *	notices to their agents through bg_relay (a savepoint each: one
 *	that fails is logged and goes to the end of the line), sends
 *	again a notice whose relay row expired unanswered, deletes
 *	expired relay rows, and cancels the rekeys of accounts no longer
 *	active (the generation they issued is retired, what they relayed
 *	withdrawn). Both run in the caller's transaction.
 * DIAGNOSTICS
 *	0, or -1 with the reason in err.
 */
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fed.h"
#include "fgfed.h"
#include "keybox.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "tandem.h"

/* Another generation of an account still taken. */
struct rekey_alt {
	struct cms_id	 ra_id;		/* courier-end key and certificate */
	X509		*ra_agent;	/* that generation's agent */
	int		 ra_generation;
};

struct rekey_alts {
	struct rekey_alt *rs_alt;
	size_t		 rs_n;
	int		 rs_loaded;
};

static void	rekey_alts_free(struct rekey_alts *);

/* One generation from row i of r: sealed key, courier cert, agent cert. */
static int
rekey_alt_row(const struct fg *fg, const char *address, PGresult *r, int i,
    struct rekey_alt *ra, char *err)
{
	unsigned char *sealed;
	size_t slen = 0;
	int rc = -1;

	memset(ra, 0, sizeof(*ra));
	if ((sealed = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i,
	    0), &slen)) == NULL) {
		tn_err(err, "sealed key: out of memory");
		return -1;
	}
	if ((ra->ra_id.ci_key = objcache_key(fg->fg_cache, fg->fg_keybox,
	    address, sealed, slen, err)) != NULL &&
	    (ra->ra_id.ci_cert = objcache_cert(fg->fg_cache,
	    PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), err)) != NULL &&
	    (ra->ra_agent = objcache_cert(fg->fg_cache, PQgetvalue(r, i, 2),
	    (size_t)PQgetlength(r, i, 2), err)) != NULL) {
		ra->ra_generation = atoi(PQgetvalue(r, i, 3));
		rc = 0;
	}
	PQfreemem(sealed);
	if (rc == -1) {
		fgdb_id_free(&ra->ra_id);
		X509_free(ra->ra_agent);
		ra->ra_agent = NULL;
	}
	return rc;
}

static int
rekey_alts_get(const struct fg *fg, PGconn *db, const char *address,
    struct rekey_alts *rs, char *err)
{
	const char *p[1] = { address };
	PGresult *r = NULL;
	int i, n, rc = -1;

	if (rs->rs_loaded)
		return 0;
	if (db_exec(db, "SELECT k.sealed_key, r.new_courier_cert, "
	    "r.new_agent_cert, k.generation FROM rekeys r JOIN account_keys k "
	    "ON k.address = r.address AND k.generation = r.generation WHERE "
	    "r.address = $1 AND r.state = 'keys-sent' UNION ALL "
	    "SELECT k.sealed_key, r.old_courier_cert, r.old_agent_cert, "
	    "k.generation FROM rekeys r JOIN account_keys k ON k.address = "
	    "r.address AND k.generation = r.generation - 1 WHERE r.address = "
	    "$1 AND r.state = 'complete' AND k.retired_at > now() AND "
	    "r.old_courier_cert IS NOT NULL AND r.old_agent_cert IS NOT NULL "
	    "ORDER BY 4 DESC", 1, p, NULL, &r, err) == -1)
		return -1;
	n = PQntuples(r);
	if (n > 0 && (rs->rs_alt = calloc((size_t)n, sizeof(*rs->rs_alt))) ==
	    NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++, rs->rs_n++)
		if (rekey_alt_row(fg, address, r, i, &rs->rs_alt[i], err) == -1)
			goto out;
	rs->rs_loaded = 1;
	rc = 0;
out:
	PQclear(r);
	if (rc == -1)
		rekey_alts_free(rs);
	return rc;
}

static int
rekey_alts_signer(const struct rekey_alts *rs, X509 *signer)
{
	size_t i;

	for (i = 0; signer != NULL && i < rs->rs_n; i++)
		if (X509_cmp(rs->rs_alt[i].ra_agent, signer) == 0)
			return 1;
	return 0;
}

static void
rekey_alts_free(struct rekey_alts *rs)
{
	size_t i;

	for (i = 0; i < rs->rs_n; i++) {
		fgdb_id_free(&rs->rs_alt[i].ra_id);
		X509_free(rs->rs_alt[i].ra_agent);
	}
	free(rs->rs_alt);
	memset(rs, 0, sizeof(*rs));
}

int
rekey_unwrap(const struct fg *fg, PGconn *db, const char *address,
    const struct tmail *tm, const struct cms_id *id, X509 *agent,
    const struct cms_certsrc *src, unsigned char **out, size_t *outlen,
    X509 **signer, STACK_OF(X509) **certs, enum cms_fail *fail, char *err)
{
	struct rekey_alts rs;
	enum cms_fail f2;
	char why[TN_ERRLEN];
	size_t i;
	int ok, rc = -1;

	memset(&rs, 0, sizeof(rs));
	ok = cms_unwrap_from(tm->tm_der, tm->tm_derlen, id,
	    pki_trust_store(fg->fg_trust), src, out, outlen, signer, certs,
	    fail, err) == 0;
	if (ok && X509_cmp(*signer, agent) == 0)
		return 0;
	if (!ok && *fail != CMS_FAIL_DECRYPT)
		return -1;
	/* Wrapped to, or signed by, another generation still taken. */
	if (rekey_alts_get(fg, db, address, &rs, why) == -1) {
		*fail = CMS_FAIL_INTERNAL;
		tn_err(err, "cannot load the other keys of %s: %s", address,
		    why);
		if (ok) {
			free(*out);
			*out = NULL;
			X509_free(*signer);
			*signer = NULL;
			if (certs != NULL) {
				sk_X509_pop_free(*certs, X509_free);
				*certs = NULL;
			}
		}
		goto out;
	}
	for (i = 0; !ok && i < rs.rs_n; i++)
		ok = cms_unwrap_from(tm->tm_der, tm->tm_derlen,
		    &rs.rs_alt[i].ra_id, pki_trust_store(fg->fg_trust), src,
		    out, outlen, signer, certs, &f2, why) == 0;
	if (!ok)
		goto out;	/* the first attempt's reason */
	if (X509_cmp(*signer, agent) == 0 || rekey_alts_signer(&rs, *signer))
		rc = 0;
	else
		rc = 1;
out:
	rekey_alts_free(&rs);
	return rc;
}

/*
 * A service text wrapped FG element -> the agent certificate acert,
 * filed in bg_relay for the background to pass on (doc/flows.md 8).
 */
int
rekey_relay(const struct fg *fg, PGconn *db, const char *address,
    const char *kind, const char *id, const char *acert, const char *text,
    size_t len, char *err)
{
	char exp[32];
	const char *p[5] = { address, kind, id, NULL, exp };
	int l[5] = { 0, 0, 0, 0, 0 }, rc = -1;
	unsigned char *wrap = NULL;
	size_t wlen;
	X509 *x;

	if ((x = pki_parse_cert(acert, strlen(acert), err)) == NULL)
		return -1;
	if (cms_wrap_to((const unsigned char *)text, len, &fg->fg_id, x,
	    &wrap, &wlen, err) == -1)
		goto out;
	p[3] = (const char *)wrap;
	l[3] = (int)wlen;
	snprintf(exp, sizeof(exp), "%ld", fg->fg_conf->cf_hold_limit);
	if (db_exec(db, "INSERT INTO bg_relay (address, kind, message_id, "
	    "body, expires_at) VALUES ($1, $2, $3, $4, now() + "
	    "make_interval(secs => $5::bigint))", 5, p, l, NULL, err) == -1)
		goto out;
	rc = 0;
out:
	free(wrap);
	X509_free(x);
	return rc;
}

/* The notice for one requested rekey (row i of r), then mark it noticed. */
static int
rekey_notice(const struct fg *fg, PGconn *db, PGresult *r, int i, char *err)
{
	const char *rid = PQgetvalue(r, i, 0), *address = PQgetvalue(r, i, 1);
	const char *gen = PQgetvalue(r, i, 2), *reason = PQgetvalue(r, i, 3);
	const char *acert = PQgetvalue(r, i, 4);
	struct proto_msg *pm = NULL;
	char id[TN_MAX_MSGID + 1], now[32], deadline[32], *text = NULL;
	size_t len;
	int rc = -1;

	proto_format_time(time(NULL), now, sizeof(now));
	proto_format_time(time(NULL) + fg->fg_conf->cf_hold_limit, deadline,
	    sizeof(deadline));
	if (tmail_msgid(fg->fg_conf->cf_service_mailbox, id, sizeof(id)) ==
	    -1 || (pm = proto_msg_new(PROTO_NOTICE_TO_REKEY)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (proto_set(pm, "Id", id, err) || proto_set(pm, "Date", now, err) ||
	    proto_set(pm, "Address", address, err) ||
	    proto_set(pm, "Generation", gen, err) ||
	    (reason[0] != '\0' && proto_set(pm, "Reason", reason, err)) ||
	    proto_set(pm, "Deadline", deadline, err) ||
	    proto_format(pm, &text, &len, err) == -1 ||
	    rekey_relay(fg, db, address, "notice-to-rekey", id, acert, text,
	    len, err) == -1)
		goto out;
	{
		const char *q[2] = { rid, id };

		if (db_run(db, "UPDATE rekeys SET state = 'noticed', "
		    "notice_id = $2, updated_at = now() WHERE id = $1", 2, q,
		    err) == -1)
			goto out;
	}
	log_info("rekey address=%s generation=%s status=noticed notice=%s",
	    address, gen, id);
	rc = 0;
out:
	proto_msg_free(pm);
	free(text);
	return rc;
}

int
rekey_notices(const struct fg *fg, PGconn *db, char *err)
{
	char batch[16], limit[32], why[TN_ERRLEN];
	const char *p[1] = { limit };
	const char *b[1] = { batch };
	PGresult *r = NULL;
	int i, n;

	snprintf(limit, sizeof(limit), "%ld", fg->fg_conf->cf_hold_limit);
	snprintf(batch, sizeof(batch), "%d", fg->fg_conf->cf_rekey_batch);
	/*
	 * A notice nobody fetched in time goes out again, with a new Id.
	 * The rekey of an account no longer active is cancelled: the keys
	 * it issued stop being taken, what it relayed is withdrawn.
	 */
	if (db_run(db, "UPDATE rekeys SET state = 'requested', updated_at = "
	    "now() WHERE state = 'noticed' AND requested_by <> 'transfer' "
	    "AND updated_at < now() - make_interval(secs => $1::bigint)", 1,
	    p, err) == -1 ||
	    db_run(db, "DELETE FROM bg_relay WHERE expires_at <= now()", 0,
	    NULL, err) == -1 ||
	    db_exec(db, "WITH c AS (UPDATE rekeys r SET state = 'cancelled', "
	    "updated_at = now() WHERE state NOT IN ('complete', 'cancelled') "
	    "AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.address = "
	    "r.address AND (a.status = 'active' OR (a.status = 'pending' AND "
	    "r.requested_by = 'transfer'))) RETURNING address, "
	    "generation, notice_id), k AS (UPDATE account_keys k SET "
	    "retired_at = now() FROM c WHERE k.address = c.address AND "
	    "k.generation = c.generation AND k.retired_at IS NULL), d AS "
	    "(DELETE FROM bg_relay b USING c WHERE b.address = c.address AND "
	    "b.kind IN ('notice-to-rekey', 'exchange-keys')) SELECT address, "
	    "generation FROM c", 0, NULL, NULL, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++)
		log_info("rekey address=%s generation=%s status=cancelled "
		    "reason=\"the account is not active\"", PQgetvalue(r, i, 0),
		    PQgetvalue(r, i, 1));
	PQclear(r);
	if (db_exec(db, "SELECT r.id, r.address, r.generation, r.reason, "
	    "a.agent_cert FROM rekeys r JOIN accounts a USING (address) WHERE "
	    "r.state = 'requested' AND a.status = 'active' AND a.agent_cert "
	    "IS NOT NULL ORDER BY r.updated_at, r.id LIMIT $1::int FOR UPDATE "
	    "OF r SKIP LOCKED", 1, b, NULL, &r, err) == -1)
		return -1;
	/*
	 * One rekey that cannot be noticed does not stop the others; it
	 * goes to the end of the line.
	 */
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		const char *q[1] = { PQgetvalue(r, i, 0) };

		if (db_run(db, "SAVEPOINT notice", 0, NULL, err) == -1)
			break;
		if (rekey_notice(fg, db, r, i, why) == 0) {
			if (db_run(db, "RELEASE SAVEPOINT notice", 0, NULL,
			    err) == -1)
				break;
			continue;
		}
		log_warn("rekey address=%s generation=%s status=deferred "
		    "error=\"%s\"", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
		    why);
		if (db_run(db, "ROLLBACK TO SAVEPOINT notice", 0, NULL,
		    err) == -1 ||
		    db_run(db, "UPDATE rekeys SET updated_at = now() WHERE "
		    "id = $1", 1, q, err) == -1)
			break;
	}
	PQclear(r);
	return i < n ? -1 : 0;
}

int
rekey_policy(const struct fg *fg, PGconn *db, char *err)
{
	char after[32], batch[16];
	const char *p[2] = { after, batch };
	PGresult *r = NULL;
	int i;

	if (fg->fg_conf->cf_rekey_after <= 0)
		return 0;
	snprintf(after, sizeof(after), "%ld", fg->fg_conf->cf_rekey_after);
	snprintf(batch, sizeof(batch), "%d", fg->fg_conf->cf_rekey_batch);
	/* The current generation's age is the agent certificate's. */
	if (db_exec(db, "INSERT INTO rekeys (address, generation, "
	    "requested_by, reason) SELECT a.address, k.generation + 1, "
	    "'policy', 'keys older than the courier keeps them' FROM accounts "
	    "a JOIN account_keys k ON k.address = a.address AND k.generation "
	    "= tandem_generation(a.address) WHERE a.status = 'active' AND "
	    "k.created_at < now() - make_interval(secs => $1::bigint) AND NOT "
	    "EXISTS (SELECT 1 FROM rekeys o WHERE o.address = a.address AND "
	    "o.state NOT IN ('complete', 'cancelled')) ORDER BY k.created_at "
	    "LIMIT $2::int ON CONFLICT DO NOTHING RETURNING address, "
	    "generation", 2, p, NULL, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++)
		log_info("rekey address=%s generation=%s status=requested "
		    "by=policy", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	PQclear(r);
	return 0;
}

/*
 * The rekey of address to generation gen in one of the states (a
 * comma-separated list), locked: 1 and its id, state and new agent
 * certificate in *r (to PQclear()); 0 when there is none; -1.
 */
static int
rekey_find(PGconn *db, const char *address, const char *gen,
    const char *states, PGresult **r, char *err)
{
	const char *p[3] = { address, gen, states };

	if (db_exec(db, "SELECT id, state, new_agent_cert, new_courier_cert "
	    "FROM rekeys WHERE address = $1 AND generation::text = $2 AND "
	    "state = ANY (string_to_array($3, ',')) ORDER BY id DESC LIMIT 1 "
	    "FOR UPDATE", 3, p, NULL, r, err) == -1)
		return -1;
	return PQntuples(*r) > 0;
}

/* 1 when the request csr is for the key of the certificate pem. */
static int
rekey_same_key(const struct proto_part *csr, const char *pem, char *err)
{
	X509_REQ *req = NULL;
	X509 *x = NULL;
	BIO *bio;
	int same = 0;

	if ((bio = BIO_new_mem_buf(csr->pp_data, (int)csr->pp_len)) != NULL)
		req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (req != NULL && (x = pki_parse_cert(pem, strlen(pem), err)) != NULL)
		same = EVP_PKEY_eq(X509_REQ_get0_pubkey(req),
		    X509_get0_pubkey(x)) == 1;
	X509_free(x);
	X509_REQ_free(req);
	return same;
}

/*
 * The exchange-keys answer for generation gen of address, wrapped to
 * the account's agent certificate, into bg_relay.
 */
static int
rekey_answer(const struct fg *fg, PGconn *db, const char *address,
    const char *gen, const char *ccert, const char *acert, char *err)
{
	const char *c[1] = { address };
	char aid[TN_MAX_MSGID + 1], *text = NULL;
	PGresult *r = NULL;
	size_t len;
	int rc = -1;

	if (db_exec(db, "SELECT agent_cert FROM accounts WHERE address = $1 "
	    "AND agent_cert IS NOT NULL", 1, c, NULL, &r, err) == -1)
		return -1;
	if (PQntuples(r) != 1) {
		tn_err(err, "%s has no agent certificate", address);
		goto out;
	}
	if (service_exchange_text(fg, address, gen, ccert, acert, aid, &text,
	    &len, err) == -1 ||
	    rekey_relay(fg, db, address, "exchange-keys", aid,
	    PQgetvalue(r, 0, 0), text, len, err) == -1)
		goto out;
	rc = 0;
out:
	free(text);
	PQclear(r);
	return rc;
}

/* New keys for the rekey rid: issued, stored, answered. */
static int
rekey_issue(struct msg *mc, PGconn *db, const char *rid,
    const char *address, const char *gen, const struct proto_part *csr)
{
	const struct fg *fg = mc->mc_fg;
	struct issued is;
	char err[TN_ERRLEN];
	int ca, rc = -1;

	if ((ca = service_issue(fg, address, (const char *)csr->pp_data, &is,
	    err)) != 0) {
		msg_fail(mc, ca == 1 ? MSG_PERM : MSG_TEMP, "%s exchange-keys: "
		    "%s", ca == 1 ? "5.7.1" : "4.3.0", err);
		return -1;
	}
	{
		const char *k[4] = { address, gen, is.is_serial,
		    (const char *)is.is_sealed };
		int kl[4] = { 0, 0, 0, (int)is.is_sealedlen };
		const char *u[3] = { rid, is.is_acert, is.is_ccert };

		/* The generation of a rekey cancelled once is replaced. */
		if (db_exec(db, "INSERT INTO account_keys (address, "
		    "generation, key_serial, sealed_key) VALUES ($1, "
		    "$2::int, $3, $4) ON CONFLICT (address, generation) DO "
		    "UPDATE SET key_serial = EXCLUDED.key_serial, sealed_key = "
		    "EXCLUDED.sealed_key, created_at = now(), retired_at = "
		    "NULL", 4, k, kl, NULL, err) == -1 ||
		    db_run(db, "UPDATE rekeys SET state = 'keys-sent', "
		    "new_agent_cert = $2, new_courier_cert = $3, updated_at = "
		    "now() WHERE id = $1", 3, u, err) == -1 ||
		    rekey_answer(fg, db, address, gen, is.is_ccert,
		    is.is_acert, err) == -1) {
			msg_fail(mc, MSG_TEMP, "4.3.0 exchange-keys: %s", err);
			goto out;
		}
	}
	log_info("%s rekey address=%s generation=%s status=keys-sent",
	    mc->mc_qid, address, gen);
	rc = 0;
out:
	service_issued_free(&is);
	return rc;
}

int
rekey_exchange(struct msg *mc, PGconn *db, const struct proto_msg *pm,
    X509 *signer, X509 *agent)
{
	const char *address = proto_get(pm, "Address");
	const char *gen = proto_get(pm, "Generation");
	const struct proto_part *csr = proto_part(pm, "agent-csr");
	struct fed fd;
	PGresult *r = NULL;
	char err[TN_ERRLEN];
	int found, rc = -1;

	if (csr == NULL) {
		msg_fail(mc, MSG_PERM, "5.6.0 exchange-keys: an agent sends "
		    "part agent-csr");
		return -1;
	}
	if (strcmp(address, mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: Address %s is not "
		    "the sender", address);
		return -1;
	}
	/* Not a key of a generation being replaced, nor the one to come. */
	if (X509_cmp(signer, agent) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.7 exchange-keys: not signed with "
		    "the account's current agent certificate");
		return -1;
	}
	fgfed_init(&fd, mc, db);
	if (fed_fresh(&fd, proto_get(pm, "Date"), "exchange-keys: Date",
	    err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.1 %s", err);
		return -1;
	}
	if ((found = rekey_find(db, address, gen, "noticed,keys-sent", &r,
	    err)) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 exchange-keys: %s", err);
		return -1;
	}
	if (found == 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: no rekey of %s to "
		    "generation %s was started", address, gen);
		goto out;
	}
	if ((found = fed_seen(&fd, proto_get(pm, "Id"), "exchange-keys",
	    err)) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 exchange-keys: %s", err);
		goto out;
	}
	if (found == 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: Id %s was taken "
		    "already (replay)", proto_get(pm, "Id"));
		goto out;
	}
	if (service_csr(csr, address, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: %s", err);
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "keys-sent") != 0) {
		rc = rekey_issue(mc, db, PQgetvalue(r, 0, 0), address, gen,
		    csr);
		goto out;
	}
	/*
	 * Asked again (a notice seen twice, an answer late): the same key
	 * gets the same answer again; another key nothing, as its
	 * generation is issued already.
	 */
	if (!rekey_same_key(csr, PQgetvalue(r, 0, 2), err)) {
		msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: generation %s of "
		    "%s was issued already, for another key", gen, address);
		goto out;
	}
	if (rekey_answer(mc->mc_fg, db, address, gen, PQgetvalue(r, 0, 3),
	    PQgetvalue(r, 0, 2), err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 exchange-keys: %s", err);
		goto out;
	}
	log_info("%s rekey address=%s generation=%s status=keys-sent "
	    "again=1", mc->mc_qid, address, gen);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int
rekey_complete(struct msg *mc, PGconn *db, const struct proto_msg *pm,
    X509 *signer, X509 *agent)
{
	const struct fg *fg = mc->mc_fg;
	const char *address = proto_get(pm, "Address");
	const char *gen = proto_get(pm, "Generation");
	char rid[32], err[TN_ERRLEN], grace[32];
	PGresult *r = NULL;
	X509 *x = NULL;
	int found, rc = -1;

	if (strcmp(address, mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 rekeying-complete: Address %s is "
		    "not the sender", address);
		return -1;
	}
	if ((found = rekey_find(db, address, gen, "keys-sent,complete", &r,
	    err)) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 rekeying-complete: %s", err);
		return -1;
	}
	if (found == 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 rekeying-complete: no rekey of %s "
		    "to generation %s awaits completion", address, gen);
		goto out;
	}
	if ((x = pki_parse_cert(PQgetvalue(r, 0, 2), (size_t)PQgetlength(r,
	    0, 2), err)) == NULL || X509_cmp(x, signer) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 rekeying-complete: not signed "
		    "with the new agent certificate");
		goto out;
	}
	/* Said again (the answer to the first was lost): done already. */
	if (strcmp(PQgetvalue(r, 0, 1), "complete") == 0 &&
	    X509_cmp(signer, agent) == 0) {
		log_info("%s rekey address=%s generation=%s status=complete "
		    "again=1", mc->mc_qid, address, gen);
		rc = 0;
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "complete") == 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 rekeying-complete: no rekey of %s "
		    "to generation %s awaits completion", address, gen);
		goto out;
	}
	snprintf(rid, sizeof(rid), "%s", PQgetvalue(r, 0, 0));
	snprintf(grace, sizeof(grace), "%ld", fg->fg_conf->cf_rekey_grace);
	{
		const char *p[3] = { rid, address, grace };

		/* The old certificates, taken while the old keys are. */
		if (db_run(db, "UPDATE rekeys r SET old_agent_cert = "
		    "a.agent_cert, old_courier_cert = a.courier_cert, state = "
		    "'complete', completed_at = now(), updated_at = now() FROM "
		    "accounts a WHERE r.id = $1 AND a.address = r.address", 1,
		    p, err) == -1 ||
		    db_run(db, "UPDATE accounts a SET agent_cert = "
		    "r.new_agent_cert, courier_cert = r.new_courier_cert, "
		    "updated_at = now() FROM rekeys r WHERE r.id = $1 AND "
		    "a.address = r.address", 1, p, err) == -1 ||
		    db_run(db, "UPDATE account_keys k SET retired_at = now() + "
		    "make_interval(secs => $3::bigint) FROM rekeys r WHERE "
		    "r.id = $1 AND k.address = $2 AND k.generation < "
		    "r.generation AND k.retired_at IS NULL", 3, p, err) == -1) {
			msg_fail(mc, MSG_TEMP, "4.3.0 rekeying-complete: %s",
			    err);
			goto out;
		}
	}
	if (transfer_activate(mc, db, address) == -1)
		goto out;
	log_info("%s rekey address=%s generation=%s status=complete",
	    mc->mc_qid, address, gen);
	rc = 0;
out:
	X509_free(x);
	PQclear(r);
	return rc;
}
