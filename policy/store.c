/*
 * NAME
 *	store.c - the background element's database work
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	Every statement goes through db_exec() and its kin (db.h):
 *	PQexecParams() with $n placeholders and text results; bytea comes
 *	back hex-escaped and is decoded with PQunescapeBytea(). The
 *	tables are those of sql/bg: accounts and account_keys
 *	(replicated, read only), agent_pins (the agent certificate
 *	believed, read only; moved by tandem_agent_offer(), rekey.c),
 *	held_arms, agent_mailbox,
 *	address_routes, introductions and seen_messages (written here).
 *
 *	A statement outside a transaction that finds the connection lost
 *	(the server restarted since) reconnects and runs once more
 *	(db_exec()). The next store_connect() sees the new backend PID
 *	and logs "database status=reconnected ok=yes", as it logs a
 *	reconnection of its own.
 *
 *	held_arms.arm keeps the ARM exactly as the sender's agent wrapped
 *	it to its courier end; agent_mailbox.body keeps the wrap BG ->
 *	agent. The ARM record in clear (it holds the content key) lives
 *	only in memory, between an unwrap and the next wrap, and is wiped
 *	before it is freed.
 *
 *	Route decisions come from route_decide() with tables read from
 *	this database. Recipients that route to another courier (rules
 *	2-5) are queued for it in the same transaction (fed_send());
 *	when neither that courier's BG nor the superior's is introduced,
 *	they are held like unregistered ones, never lost. A held ARM
 *	whose sender is not an account here came from another courier:
 *	it is wrapped by this BG to itself, and released with its key.
 * DIAGNOSTICS
 *	Failures are logged as key=value lines; the ARM record, keys and
 *	wraps are never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/crypto.h>

#include "arm.h"
#include "log.h"
#include "fed.h"
#include "policyd.h"
#include "proto.h"
#include "route.h"
#include "tandem.h"

#define ST_MAX_PEM	(64 * 1024)

/*
 * 1 when a failure came from a lost database: then, or since
 * store_connect(). Sets pd_db_down, which bgfed.c reads.
 */
int
store_down(struct pd *pd)
{
	if (db_down(pd->pd_db))
		pd->pd_db_down = 1;
	return pd->pd_db_down;
}

void
store_notice(void *arg, const char *message)
{
	(void)arg;
	log_info("database notice=\"%.*s\"", (int)strcspn(message, "\n"),
	    message);
}

int
store_connect(struct pd *pd, char *err)
{
	pd->pd_db_down = 0;
	if (pd->pd_db == NULL) {
		pd->pd_db = PQconnectdb(pd->pd_cf->cf_conninfo);
		if (pd->pd_db != NULL)
			PQsetNoticeProcessor(pd->pd_db, store_notice, NULL);
	} else if (PQstatus(pd->pd_db) != CONNECTION_OK) {
		PQreset(pd->pd_db);
		log_info("database status=reconnected ok=%s",
		    PQstatus(pd->pd_db) == CONNECTION_OK ? "yes" : "no");
	} else if (PQbackendPID(pd->pd_db) != pd->pd_db_pid)
		log_info("database status=reconnected ok=yes");	/* db_exec() */
	if (db_down(pd->pd_db)) {
		tn_err(err, "database: %.200s", pd->pd_db == NULL ?
		    "out of memory" : PQerrorMessage(pd->pd_db));
		err[strcspn(err, "\n")] = '\0';
		pd->pd_db_down = 1;
		return -1;
	}
	pd->pd_db_pid = PQbackendPID(pd->pd_db);
	/* Started with the database down: check its schema now. */
	if (!pd->pd_schema_ok) {
		if (db_schema_check(pd->pd_db, "bg", err) == -1)
			log_fatal(EX_CONFIG, "%s", err);
		pd->pd_schema_ok = 1;
	}
	return 0;
}

void
store_close(struct pd *pd)
{
	if (pd->pd_db != NULL)
		PQfinish(pd->pd_db);
	pd->pd_db = NULL;
}

void
store_account_free(struct pd_account *pa)
{
	if (pa == NULL)
		return;
	free(pa->pa_address);
	free(pa->pa_status);
	X509_free(pa->pa_agent);
	X509_free(pa->pa_courier);
	EVP_PKEY_free(pa->pa_key);
	free(pa);
}

/* Open the sealed courier-end key of address, hex-escaped bytea. */
static EVP_PKEY *
st_open_key(struct pd *pd, const char *address, const char *hex, char *err)
{
	unsigned char *sealed = NULL, *plain = NULL;
	size_t slen, plen = 0;
	EVP_PKEY *key = NULL;

	if ((sealed = PQunescapeBytea((const unsigned char *)hex,
	    &slen)) == NULL) {
		tn_err(err, "%s: bad sealed key", address);
		goto out;
	}
	if (keybox_open(pd->pd_keybox, address, sealed, slen, &plain,
	    &plen, err) == -1)
		goto out;
	key = pki_parse_key((char *)plain, plen, NULL, err);
out:
	PQfreemem(sealed);
	keybox_clear_free(plain, plen);
	return key;
}

/*
 * The live courier-end keys of pa, in the order to try them: the
 * generation of its courier-end certificate (account_keys.key_serial,
 * hex, either case), then every other generation not retired, or
 * retired in the future (in its grace), newest first.
 */
static int
st_keys(struct pd *pd, const struct pd_account *pa, PGresult **res,
    char *err)
{
	static const char sql[] = "SELECT generation, sealed_key FROM "
	    "account_keys WHERE address = $1 AND (lower(key_serial) = "
	    "lower($2) OR retired_at IS NULL OR retired_at > now()) "
	    "ORDER BY lower(key_serial) = lower($2) DESC, generation DESC";
	const char *vals[2] = { pa->pa_address, "" };
	ASN1_INTEGER *sn;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int rc = -1;

	if (pa->pa_courier != NULL &&
	    (sn = X509_get_serialNumber(pa->pa_courier)) != NULL &&
	    ((bn = ASN1_INTEGER_to_BN(sn, NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL)) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (hex != NULL)
		vals[1] = hex;
	rc = db_exec(pd->pd_db, sql, 2, vals, NULL, res, err);
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

/* The first of st_keys() into pa_key and pa_generation. */
static int
st_current_key(struct pd *pd, struct pd_account *pa, char *err)
{
	PGresult *res = NULL;
	int rc = -1;

	if (st_keys(pd, pa, &res, err) == -1)
		goto out;
	if (pa->pa_courier == NULL || PQntuples(res) == 0) {
		tn_err(err, "%s: no courier-end key", pa->pa_address);
		goto out;
	}
	pa->pa_generation = atoi(PQgetvalue(res, 0, 0));
	if ((pa->pa_key = st_open_key(pd, pa->pa_address, PQgetvalue(res, 0,
	    1), err)) == NULL)
		goto out;
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/*
 * cms_unwrap() of what pa's agent wrapped to its courier end: with
 * pa_key, then, when that cannot decrypt it, with each other live
 * generation (st_keys()), which a rekey leaves in its grace. Only a
 * failure to decrypt moves on to the next key. A database failure
 * while looking for them is CMS_FAIL_INTERNAL, err saying it: the
 * caller asks store_down() whether to answer "try again later".
 */
int
store_unwrap(struct pd *pd, const struct pd_account *pa,
    const unsigned char *in, size_t inlen, unsigned char **out,
    size_t *outlen, X509 **signer, STACK_OF(X509) **certs,
    enum cms_fail *fail, char *err)
{
	struct cms_id id = { pa->pa_courier, pa->pa_key, NULL };
	X509_STORE *store = pki_trust_store(pd->pd_trust);
	PGresult *res = NULL;
	EVP_PKEY *key = NULL;
	enum cms_fail f = CMS_FAIL_DECRYPT;
	char why[TN_ERRLEN];
	int i, rc = -1;

	if (cms_unwrap(in, inlen, &id, store, out, outlen, signer, certs,
	    fail, err) == 0)
		return 0;
	if (*fail != CMS_FAIL_DECRYPT)
		return -1;
	if (st_keys(pd, pa, &res, why) == -1) {
		log_warn("account address=%s status=error reason=\"%s\"",
		    pa->pa_address, why);
		snprintf(err, TN_ERRLEN, "%s", why);
		*fail = CMS_FAIL_INTERNAL;
		goto out;
	}
	for (i = 0; i < PQntuples(res) && f == CMS_FAIL_DECRYPT; i++) {
		if (atoi(PQgetvalue(res, i, 0)) == pa->pa_generation)
			continue;
		if ((key = st_open_key(pd, pa->pa_address, PQgetvalue(res, i,
		    1), why)) == NULL) {
			log_warn("account address=%s generation=%s "
			    "status=error reason=\"%s\"", pa->pa_address,
			    PQgetvalue(res, i, 0), why);
			continue;
		}
		/* Any recipient info of the wrap that this key opens. */
		id.ci_cert = NULL;
		id.ci_key = key;
		if (cms_unwrap(in, inlen, &id, store, out, outlen, signer,
		    certs, &f, why) == 0) {
			log_info("account address=%s generation=%s "
			    "status=opened-with-older-key", pa->pa_address,
			    PQgetvalue(res, i, 0));
			rc = 0;
		} else if (f != CMS_FAIL_DECRYPT)
			snprintf(err, TN_ERRLEN, "%s", why);	/* the answer */
		*fail = f;
		EVP_PKEY_free(key);
		key = NULL;
	}
out:
	PQclear(res);
	return rc;
}

static X509 *
st_cert(PGresult *res, int col, char *err)
{
	const char *pem;
	size_t len;

	if (PQgetisnull(res, 0, col))
		return NULL;
	pem = PQgetvalue(res, 0, col);
	if ((len = strlen(pem)) == 0 || len > ST_MAX_PEM)
		return NULL;
	return pki_parse_cert(pem, len, err);
}

/*
 * A replicated agent certificate that differs from the pinned one and
 * that the pinned one's holder did not offer (sql/bg/010-rekey.sql):
 * logged once.
 */
int
store_agent_changes(struct pd *pd, const char *address, char *err)
{
	static const char sql[] = "UPDATE agent_cert_changes SET logged_at "
	    "= now() WHERE address = lower($1) AND logged_at IS NULL AND "
	    "resolved_at IS NULL RETURNING offered_sha256";
	PGresult *res = NULL;
	int i;

	if (db_exec(pd->pd_db, sql, 1, &address, NULL, &res, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(res); i++)
		log_warn("account address=%s status=agent-cert-refused "
		    "offered=%.16s reason=\"agent certificate changed without "
		    "proof; kept the pinned one\"", address,
		    PQgetvalue(res, i, 0));
	PQclear(res);
	return 0;
}

/*
 * The agent certificate is the one pinned here (sql/bg/006), never a
 * replicated change of it: whoever owns the foreground could write one.
 */
int
store_account(struct pd *pd, const char *address, struct pd_account **out,
    int want_key, char *err)
{
	static const char sql[] =
	    "SELECT a.status, coalesce(p.agent_cert, a.agent_cert), "
	    "a.courier_cert, p.agent_cert IS NOT NULL AND "
	    "a.agent_cert IS DISTINCT FROM p.agent_cert, a.address, "
	    "a.status = 'active' OR (a.status = 'pending' AND "
	    "a.transferred_from IS NOT NULL), a.status = 'transferred' "
	    "FROM accounts a LEFT JOIN agent_pins p USING (address) "
	    "WHERE a.address = lower($1)";
	struct pd_account *pa = NULL;
	PGresult *res = NULL;
	int rc = -1;

	*out = NULL;
	if (db_exec(pd->pd_db, sql, 1, &address, NULL, &res, err) == -1)
		goto out;
	if (PQntuples(res) != 1) {
		rc = 0;
		goto out;
	}
	/*
	 * The address as the account has it (lower case), not as asked:
	 * agent_mailbox is filed, and the keybox opens, under that one.
	 */
	if ((pa = calloc(1, sizeof(*pa))) == NULL ||
	    (pa->pa_address = strdup(PQgetvalue(res, 0, 4))) == NULL ||
	    (pa->pa_status = strdup(PQgetvalue(res, 0, 0))) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	pa->pa_generation = -1;
	pa->pa_served = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
	pa->pa_left = strcmp(PQgetvalue(res, 0, 6), "t") == 0;
	pa->pa_agent = st_cert(res, 1, err);
	pa->pa_courier = st_cert(res, 2, err);
	if (strcmp(PQgetvalue(res, 0, 3), "t") == 0 &&
	    store_agent_changes(pd, pa->pa_address, err) == -1)
		goto out;
	if (want_key && st_current_key(pd, pa, err) == -1)
		goto out;
	*out = pa;
	pa = NULL;
	rc = 0;
out:
	store_account_free(pa);
	PQclear(res);
	return rc;
}

/*
 * Wrap BG -> agent of an ARM record, a receipt or a revoke, into
 * agent_mailbox; about is the ARM's sender (also kept in carried_arms,
 * for a revocation) or the recipient a receipt is about, or NULL.
 */
int
store_deliver(struct pd *pd, const struct pd_account *to, const char *kind,
    const char *msgid, const char *about, const char *expires,
    const unsigned char *arm, size_t armlen, char *err)
{
	static const char sql[] = "INSERT INTO agent_mailbox (address, kind, "
	    "message_id, body, expires_at, about) VALUES ($1, $5, $2, $3, $4, "
	    "coalesce($6, '')) ON CONFLICT DO NOTHING";
	static const char carried[] = "INSERT INTO carried_arms (message_id, "
	    "recipient, sender) VALUES ($2, $1, lower($3)) ON CONFLICT DO "
	    "NOTHING";
	STACK_OF(X509) *rcpts = NULL;
	unsigned char *wrap = NULL;
	size_t wraplen;
	const char *vals[6];
	int lens[6] = { 0, 0, 0, 0, 0, 0 }, rc = -1;

	if (to->pa_agent == NULL) {
		tn_err(err, "%s: no agent certificate", to->pa_address);
		goto out;
	}
	if ((rcpts = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(rcpts, to->pa_agent)) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (cms_wrap(arm, armlen, &pd->pd_id, rcpts, 0, &wrap, &wraplen,
	    err) == -1)
		goto out;
	vals[0] = to->pa_address;
	vals[1] = msgid;
	vals[2] = (const char *)wrap;
	lens[2] = (int)wraplen;
	vals[3] = expires;
	vals[4] = kind;
	vals[5] = about;
	if (db_exec(pd->pd_db, sql, 6, vals, lens, NULL, err) == -1)
		goto out;
	vals[2] = about;
	if (strcmp(kind, "arm") == 0 && about != NULL &&
	    db_run(pd->pd_db, carried, 3, vals, err) == -1)
		goto out;
	rc = 0;
out:
	free(wrap);
	sk_X509_free(rcpts);
	return rc;
}

/*
 * Hold the ARM for rcpt: 0, 1 when rcpt declined invitations (bg/015:
 * nothing is held, the foreground tells the sender), -1.
 */
static int
st_hold(struct pd *pd, const struct arm_record *ar, const char *rcpt,
    const char *expires, const unsigned char *body, size_t len, char *err)
{
	static const char sql[] = "INSERT INTO held_arms (message_id, sender, "
	    "recipient, arm, expires_at) VALUES ($1, $2, lower($3), $4, $5) "
	    "ON CONFLICT DO NOTHING";
	const char *vals[5] = { ar->ar_msgid, ar->ar_sender, rcpt,
	    (const char *)body, expires };
	int lens[5] = { 0, 0, 0, (int)len, 0 }, r;

	if ((r = db_one(pd->pd_db, "SELECT 1 FROM declined_addresses WHERE "
	    "address = lower($1)", 1, &rcpt, NULL, 0, err)) != 0)
		return r;
	return db_exec(pd->pd_db, sql, 5, vals, lens, NULL, err);
}

/* For a revocation: rcpt's ARM went to courier (revoke.c). */
static int
st_forwarded(struct pd *pd, const struct arm_record *ar, const char *rcpt,
    const char *courier, char *err)
{
	const char *vals[4] = { ar->ar_msgid, rcpt, ar->ar_sender, courier };

	return db_run(pd->pd_db, "INSERT INTO carried_arms (message_id, "
	    "recipient, sender, courier) VALUES ($1, lower($2), lower($3), "
	    "$4) ON CONFLICT DO NOTHING", 4, vals, err);
}

/*
 * Rules 2-5: queue the ARM record for another courier (fed_send()); 1
 * when neither it nor the superior is introduced.
 */
static int
st_forward(struct pd *pd, const struct arm_record *ar, const char *rcpt,
    const unsigned char *arm, size_t armlen,
    const struct route_decision *rd, char *err)
{
	struct fed fd;
	char used[ROUTE_IDLEN];
	int r;

	bgfed_init(pd, &fd);
	if ((r = fed_send_own(&fd, rd->rd_courier, ar->ar_msgid,
	    ar->ar_sender, rcpt, arm, armlen, used, err)) == -1 || r == 1)
		return r;
	if (st_forwarded(pd, ar, rcpt, used, err) == -1)
		return -1;
	log_info("courier msgid=%s rcpt=%s action=forward courier=%s%s%s "
	    "hops=1 origin=%s route=%s", ar->ar_msgid, rcpt, used,
	    strcasecmp(used, rd->rd_courier) != 0 ? " for=" : "",
	    strcasecmp(used, rd->rd_courier) != 0 ? rd->rd_courier : "",
	    pd->pd_cf->cf_name, route_action_name(rd->rd_action));
	return 0;
}

/*
 * One recipient of a new ARM: deliver, forward, hold, or leave out.
 * -2 (err the address) for an account closed here: the whole ARM is
 * refused.
 */
static int
st_recipient(struct pd *pd, const struct arm_record *ar, const char *rcpt,
    const char *expires, const unsigned char *arm, size_t armlen,
    const unsigned char *body, size_t len, int *ndel, int *nheld, char *err)
{
	struct route_decision rd;
	struct pd_account *to = NULL;
	struct fed fd;
	int r, rc = -1;

	bgfed_init(pd, &fd);
	if (fed_route(&fd, rcpt, ROUTE_SRC_LOCAL, NULL, &rd, err) == -1)
		goto out;
	if (rd.rd_courier[0] != '\0') {
		switch (st_forward(pd, ar, rcpt, arm, armlen, &rd, err)) {
		case 0:
			rc = 0;
			goto out;
		case -1:
			goto out;
		}
		/* No introduction of the target nor of the superior. */
	}
	if (rd.rd_action == ROUTE_REJECT && strcmp(rd.rd_code, "5.1.1") == 0) {
		tn_err(err, "%s", rcpt);
		rc = -2;
		goto out;
	} else if (rd.rd_action == ROUTE_REJECT) {
		log_info("arm msgid=%s rcpt=%s action=reject reason=\"%s\"",
		    ar->ar_msgid, rcpt, rd.rd_reason);
	} else if (rd.rd_action == ROUTE_DELIVER_LOCAL) {
		if (store_account(pd, rcpt, &to, 0, err) == -1)
			goto out;
		if (to == NULL) {
			tn_err(err, "%s: account vanished", rcpt);
			goto out;
		}
	}
	if (to != NULL && to->pa_agent != NULL) {
		if (store_deliver(pd, to, "arm", ar->ar_msgid, ar->ar_sender,
		    expires, arm, armlen, err) == -1)
			goto out;
		(*ndel)++;
	} else if (rd.rd_action != ROUTE_REJECT) {
		/* Not active here, or active without an agent certificate. */
		if ((r = st_hold(pd, ar, rcpt, expires, body, len, err)) ==
		    -1)
			goto out;
		if (r == 1) {
			log_info("arm msgid=%s rcpt=%s action=drop "
			    "reason=declined", ar->ar_msgid, rcpt);
			rc = 0;
			goto out;
		}
		log_info("arm msgid=%s rcpt=%s action=hold route=%s%s%s",
		    ar->ar_msgid, rcpt, route_action_name(rd.rd_action),
		    rd.rd_courier[0] != '\0' ? " courier=" : "",
		    rd.rd_courier);
		(*nheld)++;
	}
	rc = 0;
out:
	store_account_free(to);
	return rc;
}

static void
st_expires(const struct arm_record *ar, char *buf, size_t size)
{
	buf[0] = '\0';
	if (ar->ar_restr.rs_expires != 0)
		(void)proto_format_time(ar->ar_restr.rs_expires, buf, size);
}

static int
st_expired(const struct arm_record *ar)
{
	return ar->ar_restr.rs_expires != 0 &&
	    ar->ar_restr.rs_expires <= time(NULL);
}

/*
 * An ARM for an account closed here (tandemctl close): nothing of it
 * is kept, and the sender's agent is told for good, naming the
 * address, so that it mails nothing (doc/flows.md 11).
 */
static enum pd_status
st_closed(struct pd *pd, const struct arm_record *ar, const char *rcpt,
    char *msg, size_t msglen)
{
	db_rollback(pd->pd_db);
	log_info("arm msgid=%s sender=%s rcpt=%s status=refused "
	    "reason=\"account closed\"", ar->ar_msgid, ar->ar_sender, rcpt);
	snprintf(msg, msglen, "5.1.1 recipient %s: account closed; this "
	    "courier takes no mail for it", rcpt);
	return PD_GONE;
}

/* The transaction of POST /v1/arm, once the ARM is known good. */
static enum pd_status
st_commit(struct pd *pd, const struct arm_record *ar,
    const unsigned char *arm, size_t armlen, const unsigned char *body,
    size_t len, char *msg, size_t msglen)
{
	char err[TN_ERRLEN], expires[32];
	const char *exp;
	size_t i;
	int ndel = 0, nheld = 0, fresh, r;

	st_expires(ar, expires, sizeof(expires));
	exp = expires[0] != '\0' ? expires : NULL;
	if (db_begin(pd->pd_db, err) == -1 ||
	    (fresh = db_one(pd->pd_db, "INSERT INTO seen_messages "
	    "(message_id, kind) VALUES ($1, 'arm') ON CONFLICT DO NOTHING "
	    "RETURNING 1", 1, (const char *const *)&ar->ar_msgid, NULL, 0,
	    err)) == -1)
		goto out;
	if (!fresh) {
		db_rollback(pd->pd_db);
		log_info("arm msgid=%s sender=%s status=duplicate",
		    ar->ar_msgid, ar->ar_sender);
		snprintf(msg, msglen, "already stored");
		return PD_OK;
	}
	for (i = 0; i < ar->ar_nrcpts && !st_expired(ar); i++)
		if ((r = st_recipient(pd, ar, ar->ar_rcpts[i], exp, arm,
		    armlen, body, len, &ndel, &nheld, err)) == -2)
			return st_closed(pd, ar, err, msg, msglen);
		else if (r == -1)
			goto out;
	if (db_commit(pd->pd_db, err) == -1)
		goto out;
	send_kick(pd);
	log_info("arm msgid=%s sender=%s status=stored delivered=%d "
	    "held=%d%s", ar->ar_msgid, ar->ar_sender, ndel, nheld,
	    st_expired(ar) ? " expired=dropped" : "");
	snprintf(msg, msglen, st_expired(ar) ? "expired, dropped" : "stored");
	return PD_CREATED;
out:
	db_rollback(pd->pd_db);
	log_warn("arm msgid=%s status=error reason=\"%s\"", ar->ar_msgid, err);
	if (!store_down(pd)) {
		snprintf(msg, msglen, "internal error");
		return PD_INTERNAL;
	}
	snprintf(msg, msglen, "database unavailable, try again later");
	return PD_UNAVAILABLE;
}

static enum pd_status
st_unwrap_fail(struct pd *pd, enum cms_fail fail, const char *err,
    char *msg, size_t msglen)
{
	switch (fail) {
	case CMS_FAIL_CHAIN:
		snprintf(msg, msglen, "signer is not trusted");
		return PD_FORBIDDEN;
	case CMS_FAIL_CRL:
		snprintf(msg, msglen, "signer cannot be checked: a revocation "
		    "list is missing or out of date, try again later");
		return PD_UNAVAILABLE;
	case CMS_FAIL_INTERNAL:
		if (store_down(pd)) {
			snprintf(msg, msglen, "database unavailable, try "
			    "again later");
			return PD_UNAVAILABLE;
		}
		snprintf(msg, msglen, "internal error");
		return PD_INTERNAL;
	default:
		snprintf(msg, msglen, "garbled wrap: %s", err);
		return PD_BAD;
	}
}

/* The client's account with its courier-end key; PD_NONE or a status. */
static enum pd_status
st_sender(struct pd *pd, X509 *client, const char *address,
    struct pd_account **from, char *msg, size_t msglen)
{
	char err[TN_ERRLEN];
	int r = 0;

	if (store_connect(pd, err) == -1 ||
	    store_account(pd, address, from, 1, err) == -1) {
		log_warn("arm client=%s status=error reason=\"%s\"", address,
		    err);
		if (!store_down(pd)) {
			snprintf(msg, msglen, "internal error");
			return PD_INTERNAL;
		}
		snprintf(msg, msglen, "database unavailable, try again later");
		return PD_UNAVAILABLE;
	}
	if (*from == NULL || strcmp((*from)->pa_status, "active") != 0 ||
	    (r = store_agent_is(pd, *from, client, 1, err)) == 0) {
		snprintf(msg, msglen, "client is not an active account here");
		return PD_FORBIDDEN;
	}
	if (r == -1) {
		log_warn("arm client=%s status=error reason=\"%s\"", address,
		    err);
		snprintf(msg, msglen, store_down(pd) ? "database unavailable, "
		    "try again later" : "internal error");
		return store_down(pd) ? PD_UNAVAILABLE : PD_INTERNAL;
	}
	return PD_NONE;
}

enum pd_status
store_agent_open(struct pd *pd, X509 *client, const char *address,
    const unsigned char *body, size_t len, unsigned char **out,
    size_t *outlen, char *msg, size_t msglen)
{
	struct pd_account *from = NULL;
	X509 *signer = NULL;
	STACK_OF(X509) *certs = NULL;
	enum cms_fail fail;
	enum pd_status st;
	char err[TN_ERRLEN];

	*out = NULL;
	if ((st = st_sender(pd, client, address, &from, msg,
	    msglen)) != PD_NONE)
		goto out;
	if (store_unwrap(pd, from, body, len, out, outlen, &signer, &certs,
	    &fail, err) == -1) {
		st = st_unwrap_fail(pd, fail, err, msg, msglen);
		goto out;
	}
	if (X509_cmp(signer, client) != 0) {
		snprintf(msg, msglen, "signer is not the client");
		OPENSSL_clear_free(*out, *outlen);
		*out = NULL;
		st = PD_FORBIDDEN;
	}
out:
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	store_account_free(from);
	return st;
}

enum pd_status
store_arm(struct pd *pd, X509 *client, const char *address,
    const unsigned char *body, size_t len, char *msg, size_t msglen)
{
	struct pd_account *from = NULL;
	struct arm_record *ar = NULL;
	unsigned char *arm = NULL;
	size_t armlen = 0;
	X509 *signer = NULL;
	STACK_OF(X509) *certs = NULL;
	enum cms_fail fail;
	enum pd_status st = PD_UNAVAILABLE;
	char err[TN_ERRLEN];

	if ((st = st_sender(pd, client, address, &from, msg,
	    msglen)) != PD_NONE)
		goto out;
	st = PD_FORBIDDEN;
	if (store_unwrap(pd, from, body, len, &arm, &armlen, &signer, &certs,
	    &fail, err) == -1) {
		st = st_unwrap_fail(pd, fail, err, msg, msglen);
		goto out;
	}
	if (X509_cmp(signer, client) != 0) {
		snprintf(msg, msglen, "signer is not the client");
		goto out;
	}
	st = PD_BAD;
	if (arm_parse((char *)arm, armlen, &ar, err) == -1) {
		snprintf(msg, msglen, "not an ARM: %s", err);
		goto out;
	}
	snprintf(pd->pd_req_msgid, sizeof(pd->pd_req_msgid), "%s",
	    ar->ar_msgid);
	st = PD_FORBIDDEN;
	if (strcasecmp(ar->ar_sender, address) != 0) {
		snprintf(msg, msglen, "sender is not the client's address");
		goto out;
	}
	/* Dated within the replay window: its Message-Id is still known. */
	if (ar->ar_issued < time(NULL) - pd->pd_cf->cf_replay_window) {
		snprintf(msg, msglen, "Issued is older than the replay window");
		goto out;
	}
	if (ar->ar_issued > time(NULL) + pd->pd_cf->cf_clock_skew) {
		snprintf(msg, msglen, "Issued is in the future");
		goto out;
	}
	st = st_commit(pd, ar, arm, armlen, body, len, msg, msglen);
out:
	if (st != PD_CREATED && st != PD_OK && st != PD_UNAVAILABLE)
		log_info("arm client=%s status=%d reason=\"%s\"", address,
		    (int)st, msg);
	if (arm != NULL)
		OPENSSL_clear_free(arm, armlen);
	arm_free(ar);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	store_account_free(from);
	return st;
}

static int
st_drop_expired(struct pd *pd, const char *address, char *err)
{
	return db_run(pd->pd_db, "DELETE FROM agent_mailbox WHERE address = "
	    "$1 AND expires_at <= now()", 1, &address, err);
}

/* What the foreground relayed, which an agent that left does not take. */
#define ST_BG_KINDS	"kind NOT IN ('notice-to-rekey', 'exchange-keys')"

int
store_mailbox_list(struct pd *pd, const char *address, int left,
    struct evbuffer *out, char *err)
{
	PGresult *res = NULL;
	int i, rc = -1;

	if (store_connect(pd, err) == -1 ||
	    st_drop_expired(pd, address, err) == -1 ||
	    db_exec(pd->pd_db, left ? "SELECT id, message_id FROM "
	    "agent_mailbox WHERE address = $1 AND " ST_BG_KINDS " ORDER BY id" :
	    "SELECT id, message_id FROM agent_mailbox WHERE address = $1 "
	    "ORDER BY id", 1, &address, NULL, &res, err) == -1)
		goto out;
	store_fetched(pd, address);
	if (left && PQntuples(res) == 0) {
		rc = 1;
		goto out;
	}
	for (i = 0; i < PQntuples(res); i++)
		if (evbuffer_add_printf(out, "%s %s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1)) < 0) {
			tn_err(err, "out of memory");
			goto out;
		}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int
store_mailbox_get(struct pd *pd, const char *address, int left,
    long long id, struct evbuffer *out, char *err)
{
	char idbuf[32];
	const char *vals[2] = { idbuf, address };
	unsigned char *body = NULL;
	size_t len;
	PGresult *res = NULL;
	int rc = -1;

	snprintf(idbuf, sizeof(idbuf), "%lld", id);
	if (store_connect(pd, err) == -1 ||
	    st_drop_expired(pd, address, err) == -1 ||
	    db_exec(pd->pd_db, left ? "UPDATE agent_mailbox SET fetched_at = "
	    "now() WHERE id = $1 AND address = $2 AND " ST_BG_KINDS
	    " RETURNING body" : "UPDATE agent_mailbox SET fetched_at = now() "
	    "WHERE id = $1 AND address = $2 RETURNING body", 2, vals, NULL,
	    &res, err) == -1)
		goto out;
	if (PQntuples(res) != 1) {
		rc = 1;
		goto out;
	}
	if ((body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0,
	    0), &len)) == NULL || evbuffer_add(out, body, len) == -1) {
		tn_err(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	PQfreemem(body);
	PQclear(res);
	return rc;
}

int
store_mailbox_delete(struct pd *pd, const char *address, long long id,
    char *err)
{
	char idbuf[32];
	const char *vals[2] = { idbuf, address };
	PGresult *res = NULL;
	int rc = -1;

	snprintf(idbuf, sizeof(idbuf), "%lld", id);
	if (store_connect(pd, err) == -1 ||
	    db_exec(pd->pd_db, "DELETE FROM agent_mailbox WHERE id = $1 "
	    "AND address = $2", 2, vals, NULL, &res, err) == -1)
		goto out;
	rc = strcmp(PQcmdTuples(res), "1") == 0 ? 0 : 1;
out:
	PQclear(res);
	return rc;
}

int
store_purge(struct pd *pd, char *err)
{
	char secs[32];
	const char *val = secs;
	PGresult *res = NULL;
	struct fed fd;
	long n;
	int rc = -1;

	snprintf(secs, sizeof(secs), "%ld", pd->pd_cf->cf_hold_limit);
	if (store_connect(pd, err) == -1 ||
	    db_exec(pd->pd_db, "UPDATE held_arms SET purged_at = now(), "
	    "arm = '\\x' WHERE released_at IS NULL AND purged_at IS NULL AND "
	    "(received_at < now() - make_interval(secs => $1::double precision) "
	    "OR expires_at <= now())", 1, &val, NULL, &res, err) == -1)
		goto out;
	if (strcmp(PQcmdTuples(res), "0") != 0)
		log_info("hygiene held_arms purged=%s", PQcmdTuples(res));
	PQclear(res);
	res = NULL;
	if (db_exec(pd->pd_db, "DELETE FROM agent_mailbox WHERE expires_at <= "
	    "now()", 0, NULL, NULL, &res, err) == -1)
		goto out;
	if (strcmp(PQcmdTuples(res), "0") != 0)
		log_info("hygiene agent_mailbox expired=%s", PQcmdTuples(res));
	PQclear(res);
	res = NULL;
	/* Offers past their time, or made by a pin since moved (010). */
	if (db_exec(pd->pd_db, "DELETE FROM agent_pin_offers o WHERE "
	    "expires_at <= now() OR NOT EXISTS (SELECT 1 FROM agent_pins p "
	    "WHERE p.address = o.address AND tandem_cert_sha256(p.agent_cert) "
	    "= o.offered_by_sha256)", 0, NULL, NULL, &res, err) == -1)
		goto out;
	if (strcmp(PQcmdTuples(res), "0") != 0)
		log_info("hygiene agent_pin_offers expired=%s",
		    PQcmdTuples(res));
	PQclear(res);
	res = NULL;
	/* The help desk's history, older than hygiene.history_limit. */
	snprintf(secs, sizeof(secs), "%ld", pd->pd_cf->cf_history_limit);
	if (db_run(pd->pd_db, "DELETE FROM held_arms WHERE coalesce("
	    "released_at, purged_at) < now() - make_interval(secs => "
	    "$1::double precision)", 1, &val, err) == -1 ||
	    db_run(pd->pd_db, "DELETE FROM carried_arms WHERE delivered_at < "
	    "now() - make_interval(secs => $1::double precision)", 1, &val,
	    err) == -1 ||
	    db_exec(pd->pd_db, "DELETE FROM refusals WHERE at < now() - "
	    "make_interval(secs => $1::double precision)", 1, &val, NULL,
	    &res, err) == -1)
		goto out;
	if (strcmp(PQcmdTuples(res), "0") != 0)
		log_info("hygiene refusals purged=%s", PQcmdTuples(res));
	/* Ids taken longer ago than the replay window. */
	fed_init(&fd, PKI_KIND_BG, pd->pd_cf, NULL, NULL, NULL, pd->pd_db,
	    NULL, NULL);
	if (fed_purge(&fd, &n, err) == -1)
		goto out;
	if (n > 0)
		log_info("hygiene seen_messages purged=%ld", n);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

void
store_refusal(struct pd *pd, int code, const char *client, const char *who,
    const char *path, const char *reply)
{
	char c[16], err[TN_ERRLEN];
	const char *vals[6] = { c, client, who, path, pd->pd_req_msgid,
	    reply };

	if (code == PD_UNAVAILABLE && pd->pd_db_down)
		return;		/* the database is why */
	if (vals[4][0] == '\0')
		vals[4] = NULL;
	snprintf(c, sizeof(c), "%d", code);
	if (store_connect(pd, err) == -1 ||
	    db_run(pd->pd_db, "INSERT INTO refusals (code, client, who, path, "
	    "message_id, reply) VALUES ($1, $2, $3, $4, $5, $6)", 6, vals,
	    err) == -1)
		log_warn("refusal status=unrecorded reason=\"%s\"", err);
}

void
store_fetched(struct pd *pd, const char *address)
{
	char err[TN_ERRLEN];

	if (db_run(pd->pd_db, "INSERT INTO agent_fetches (address, "
	    "last_fetch_at) VALUES (lower($1), now()) ON CONFLICT (address) "
	    "DO UPDATE SET last_fetch_at = now()", 1, &address, err) == -1)
		log_warn("mailbox client=%s status=fetch-unrecorded "
		    "reason=\"%s\"", address, err);
}
