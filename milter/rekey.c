/*
 * NAME
 *	rekey.c - key replacement, the foreground's part (doc/flows.md 8)
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	int	rekey_alts_get(const struct fg *fg, PGconn *db,
 *		    const char *address, struct rekey_alts *rs, char *err);
 *	int	rekey_alts_signer(const struct rekey_alts *rs, X509 *signer);
 *	void	rekey_alts_free(struct rekey_alts *rs);
 *
 *	int	rekey_exchange(struct msg *mc, PGconn *db,
 *		    const struct proto_msg *pm);
 *	int	rekey_complete(struct msg *mc, PGconn *db,
 *		    const struct proto_msg *pm, X509 *signer);
 *
 *	int	rekey_policy(const struct fg *fg, PGconn *db, char *err);
 *	int	rekey_notices(const struct fg *fg, PGconn *db, char *err);
 * DESCRIPTION
 *	rekey_alts_get() loads, once per rs (zeroed by the caller), the
 *	generations of address other than the current one that are still
 *	taken: the new one of a rekey whose keys went out (keys-sent),
 *	and the one before each completed rekey while its retired_at lies
 *	ahead (hygiene.rekey_grace). Newest first; each with its
 *	courier-end identity and its agent certificate. A caller tries
 *	them when the current identity cannot decrypt a wrap, and
 *	rekey_alts_signer() says 1 when signer is one of their agents.
 *
 *	rekey_exchange() handles an agent's exchange-keys (part
 *	agent-csr), rekey_complete() its rekeying-complete (signer: the
 *	certificate the wrap was signed with); both in the transaction
 *	of msg_process(). A refusal is a permanent error and changes
 *	nothing; the return is 0 or -1 as for service_process().
 *
 *	rekey_policy() records a rekey for the active accounts whose
 *	current generation is older than hygiene.rekey_after, at most
 *	hygiene.rekey_batch. rekey_notices() turns requested rekeys into
 *	notices to their agents through bg_relay, sends again a notice
 *	whose relay row expired unanswered, and deletes expired relay
 *	rows. Both run in the caller's transaction.
 * DIAGNOSTICS
 *	0, or -1 with the reason in err.
 */
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keybox.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "tandem.h"

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
	return rc;
}

int
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

int
rekey_alts_signer(const struct rekey_alts *rs, X509 *signer)
{
	size_t i;

	for (i = 0; signer != NULL && i < rs->rs_n; i++)
		if (X509_cmp(rs->rs_alt[i].ra_agent, signer) == 0)
			return 1;
	return 0;
}

void
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

/*
 * A service text wrapped FG element -> the agent certificate acert,
 * filed in bg_relay for the background to pass on (doc/flows.md 8).
 */
static int
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
	char batch[16], limit[32];
	const char *p[1] = { limit };
	const char *b[1] = { batch };
	PGresult *r = NULL;
	int i, rc = -1;

	snprintf(limit, sizeof(limit), "%ld", fg->fg_conf->cf_hold_limit);
	snprintf(batch, sizeof(batch), "%d", fg->fg_conf->cf_rekey_batch);
	/* A notice nobody fetched in time goes out again, with a new Id. */
	if (db_run(db, "UPDATE rekeys SET state = 'requested', updated_at = "
	    "now() WHERE state = 'noticed' AND updated_at < now() - "
	    "make_interval(secs => $1::bigint)", 1, p, err) == -1 ||
	    db_run(db, "DELETE FROM bg_relay WHERE expires_at <= now()", 0,
	    NULL, err) == -1 ||
	    db_run(db, "UPDATE rekeys r SET state = 'cancelled', updated_at = "
	    "now() WHERE state NOT IN ('complete', 'cancelled') AND NOT "
	    "EXISTS (SELECT 1 FROM accounts a WHERE a.address = r.address AND "
	    "a.status = 'active')", 0, NULL, err) == -1)
		return -1;
	if (db_exec(db, "SELECT r.id, r.address, r.generation, r.reason, "
	    "a.agent_cert FROM rekeys r JOIN accounts a USING (address) WHERE "
	    "r.state = 'requested' AND a.status = 'active' AND a.agent_cert "
	    "IS NOT NULL ORDER BY r.id LIMIT $1::int FOR UPDATE OF r SKIP "
	    "LOCKED", 1, b, NULL, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++)
		if (rekey_notice(fg, db, r, i, err) == -1)
			goto out;
	rc = 0;
out:
	PQclear(r);
	return rc;
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
	    "LIMIT $2::int RETURNING address, "
	    "generation", 2, p, NULL, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++)
		log_info("rekey address=%s generation=%s status=requested "
		    "by=policy", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	PQclear(r);
	return 0;
}

/* Date within the replay window and the clock skew; else a reason. */
static int
rekey_fresh(const struct fg *fg, const char *date, char *err)
{
	time_t t, now = time(NULL);

	if (proto_parse_time(date, &t) == -1) {
		tn_err(err, "Date \"%s\" unreadable", date);
		return -1;
	}
	if (t < now - fg->fg_conf->cf_replay_window ||
	    t > now + fg->fg_conf->cf_clock_skew) {
		tn_err(err, "Date %s outside the accepted window", date);
		return -1;
	}
	return 0;
}

/*
 * The rekey of address to generation gen in one of the states (a
 * comma-separated list), locked, its id in rid: 1; 0 when there is
 * none; -1.
 */
static int
rekey_find(PGconn *db, const char *address, const char *gen,
    const char *states, char *rid, size_t size, char *err)
{
	const char *p[3] = { address, gen, states };

	return db_one(db, "SELECT id FROM rekeys WHERE address = $1 AND "
	    "generation::text = $2 AND state = ANY (string_to_array($3, ',')) "
	    "FOR UPDATE", 3, p, rid, size, err);
}

int
rekey_exchange(struct msg *mc, PGconn *db, const struct proto_msg *pm)
{
	const struct fg *fg = mc->mc_fg;
	const char *address = proto_get(pm, "Address");
	const char *gen = proto_get(pm, "Generation");
	const char *xid = proto_get(pm, "Id");
	const struct proto_part *csr = proto_part(pm, "agent-csr");
	char rid[32], aid[TN_MAX_MSGID + 1], err[TN_ERRLEN], *text = NULL;
	struct issued is;
	size_t len;
	int found, ca, rc = -1;

	memset(&is, 0, sizeof(is));
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
	if (rekey_fresh(fg, proto_get(pm, "Date"), err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: %s", err);
		return -1;
	}
	if ((found = rekey_find(db, address, gen, "noticed,keys-sent", rid,
	    sizeof(rid), err)) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 exchange-keys: %s", err);
		return -1;
	}
	if (found == 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: no rekey of %s to "
		    "generation %s was started", address, gen);
		return -1;
	}
	{
		const char *p[1] = { xid };

		if ((found = db_one(db, "SELECT 1 FROM rekeys WHERE "
		    "exchange_id = $1", 1, p, NULL, 0, err)) == -1) {
			msg_fail(mc, MSG_TEMP, "4.3.0 exchange-keys: %s", err);
			return -1;
		}
		if (found == 1) {
			msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: Id %s was "
			    "taken already (replay)", xid);
			return -1;
		}
	}
	if (service_csr(csr, address, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: %s", err);
		return -1;
	}
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
		const char *u[4] = { rid, xid, is.is_acert, is.is_ccert };
		const char *c[1] = { address };
		PGresult *r = NULL;

		/* Asked again (the answer lost): the generation is replaced. */
		if (db_exec(db, "INSERT INTO account_keys (address, "
		    "generation, key_serial, sealed_key) VALUES ($1, "
		    "$2::int, $3, $4) ON CONFLICT (address, generation) DO "
		    "UPDATE SET key_serial = EXCLUDED.key_serial, sealed_key = "
		    "EXCLUDED.sealed_key, created_at = now()", 4, k, kl, NULL,
		    err) == -1 ||
		    db_run(db, "UPDATE rekeys SET state = 'keys-sent', "
		    "exchange_id = $2, new_agent_cert = $3, new_courier_cert = "
		    "$4, updated_at = now() WHERE id = $1", 4, u, err) == -1 ||
		    db_exec(db, "SELECT agent_cert FROM accounts WHERE "
		    "address = $1 AND agent_cert IS NOT NULL", 1, c, NULL, &r,
		    err) == -1 || PQntuples(r) != 1 ||
		    service_exchange_text(fg, address, gen, is.is_ccert,
		    is.is_acert, aid, &text, &len, err) == -1 ||
		    rekey_relay(fg, db, address, "exchange-keys", aid,
		    PQgetvalue(r, 0, 0), text, len, err) == -1) {
			if (r != NULL && PQntuples(r) != 1)
				tn_err(err, "%s has no agent certificate",
				    address);
			msg_fail(mc, MSG_TEMP, "4.3.0 exchange-keys: %s", err);
			PQclear(r);
			goto out;
		}
		PQclear(r);
	}
	log_info("%s rekey address=%s generation=%s status=keys-sent",
	    mc->mc_qid, address, gen);
	rc = 0;
out:
	free(text);
	service_issued_free(&is);
	return rc;
}

int
rekey_complete(struct msg *mc, PGconn *db, const struct proto_msg *pm,
    X509 *signer)
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
	if ((found = rekey_find(db, address, gen, "keys-sent", rid,
	    sizeof(rid), err)) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 rekeying-complete: %s", err);
		return -1;
	}
	if (found == 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 rekeying-complete: no rekey of %s "
		    "to generation %s awaits completion", address, gen);
		return -1;
	}
	{
		const char *p[1] = { rid };

		if (db_exec(db, "SELECT new_agent_cert FROM rekeys WHERE id = "
		    "$1", 1, p, NULL, &r, err) == -1) {
			msg_fail(mc, MSG_TEMP, "4.3.0 rekeying-complete: %s",
			    err);
			return -1;
		}
	}
	if ((x = pki_parse_cert(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r,
	    0, 0), err)) == NULL || X509_cmp(x, signer) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 rekeying-complete: not signed "
		    "with the new agent certificate");
		goto out;
	}
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
	log_info("%s rekey address=%s generation=%s status=complete",
	    mc->mc_qid, address, gen);
	rc = 0;
out:
	X509_free(x);
	PQclear(r);
	return rc;
}
