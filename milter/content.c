/*
 * NAME
 *	content.c - a private message through the foreground element
 * DESCRIPTION
 *	content_process() handles a "Tandem-Kind: content" mail from the
 *	agent of an active account (doc/flows.md 4; a pending one is
 *	refused, 5.7.1): it unwraps the body with the
 *	sender's courier-end key, checks that the signer is the sender's
 *	agent and that envelope sender, From and certificate agree,
 *	routes every recipient, holds and invites the unregistered ones,
 *	sends those of other couriers on (fed_send_local()), and rewraps
 *	the sealed content to the agents of the local ones. The same
 *	sealed content is taken once: again, it is refused (5.7.1).
 *	It reads outside any transaction (db_exec()) and calls
 *	msg_db_write() before a write of routing, which begins one; the
 *	record that the content was taken comes last, in it or alone
 *	(content_once()). The caller commits or rolls back whatever was
 *	begun and carries out the verdict.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "fgfed.h"
#include "log.h"
#include "milter.h"
#include "tandem.h"
#include "util.h"

static const char *
fail_code(enum cms_fail f)
{
	switch (f) {
	case CMS_FAIL_DECRYPT:
		return "5.7.5";
	case CMS_FAIL_SIGNATURE:
	case CMS_FAIL_CHAIN:
		return "5.7.7";
	default:
		return "5.6.0";
	}
}

#define CONTENT_VERIFY_MAXCERTS	8

/*
 * pki_verify() of the signer, its chain and the sender's address,
 * remembered on success: for the same certificates (by SHA-256) and
 * address, with the same fixed trust anchors, it gives the same
 * answer as long as every one of them and every anchor is within its
 * validity (and every revocation list of tls.crl_file within its
 * next update: fg_anchors_window()), so the answer is kept for that
 * span only.
 */
static int
content_verify(const struct fg *fg, X509 *signer, STACK_OF(X509) *certs,
    const char *sender, char *err)
{
	unsigned char key[TN_MAX_ADDRESS + 1 +
	    (CONTENT_VERIFY_MAXCERTS + 1) * EVP_MAX_MD_SIZE];
	size_t klen, alen = strlen(sender) + 1;
	unsigned int n = 0;
	time_t now = time(NULL), from, until;
	int i, nc = sk_X509_num(certs), cacheable;
	X509 *x;

	cacheable = alen <= TN_MAX_ADDRESS + 1 && nc >= 0 &&
	    nc <= CONTENT_VERIFY_MAXCERTS;
	from = fg->fg_anchors_from;
	until = fg->fg_anchors_until;
	klen = alen;
	if (cacheable)
		memcpy(key, sender, alen);	/* with its NUL */
	for (i = -1; cacheable && i < nc; i++) {
		x = i < 0 ? signer : sk_X509_value(certs, i);
		if (X509_digest(x, EVP_sha256(), key + klen, &n) != 1 ||
		    pki_narrow(x, &from, &until) == -1)
			cacheable = 0;
		klen += n;
	}
	if (cacheable && objcache_recall(fg->fg_cache, OBJCACHE_VERIFY, key, klen,
	    now))
		return 0;
	if (pki_verify(fg->fg_trust, signer, certs, sender, err) == -1)
		return -1;
	if (cacheable)
		objcache_remember(fg->fg_cache, OBJCACHE_VERIFY, key, klen,
		    from, until);
	return 0;
}

/*
 * Is every recipient an address that moved away from here (a
 * transfer)? Then a content mail this courier cannot open is the new
 * courier's delivery passing through the old one's mail server, on
 * its way to the recipient's mailbox: it goes on as it is (the agent
 * checks whose it is). 1; 0; -1 with the verdict set, a temporary one
 * while a recipient is still moving (its transfer-complete may not
 * have come yet).
 */
static int
content_moved_away(struct msg *mc, PGconn *db)
{
	char err[TN_ERRLEN], how[8];
	size_t i;
	int r, moving = 0;

	for (i = 0; i < mc->mc_nrcpts; i++) {
		const char *p[1] = { mc->mc_rcpts[i] };

		if ((r = db_one(db, "SELECT CASE WHEN status = 'transferred' "
		    "THEN 'moved' WHEN EXISTS (SELECT 1 FROM transfers t WHERE "
		    "t.address = a.address AND t.direction = 'outgoing' AND "
		    "t.state = 'rekeying') THEN 'moving' ELSE 'here' END FROM "
		    "accounts a WHERE address = $1", 1, p, how, sizeof(how),
		    err)) == -1) {
			msg_fail(mc, MSG_TEMP, "4.3.0 %s", err);
			return -1;
		}
		if (r == 0 || strcmp(how, "here") == 0)
			return 0;
		moving |= strcmp(how, "moving") == 0;
	}
	if (mc->mc_nrcpts == 0)
		return 0;
	if (moving) {
		msg_fail(mc, MSG_TEMP, "4.2.0 a recipient is moving to another "
		    "courier: try again later");
		return -1;
	}
	return 1;
}

/*
 * The sealed content, unwrapped and checked: 0; 1 when it is another
 * courier's delivery to an address that moved away (content_moved_
 * away()); -1 with the verdict set.
 */
static int
content_open(struct msg *mc, PGconn *db, struct tmail *tm,
    unsigned char **sealed, size_t *sealedlen)
{
	const struct fg *fg = mc->mc_fg;
	struct cms_certsrc src;
	struct cms_id id;
	X509 *agent = NULL, *signer = NULL;
	STACK_OF(X509) *certs = NULL;
	enum cms_fail fail;
	char err[TN_ERRLEN];
	int rc = -1, found;

	if (strcmp(tm->tm_from, mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 From: %s is not the envelope "
		    "sender", tm->tm_from);
		return -1;
	}
	if ((found = fgdb_account_id(fg, db, mc->mc_sender, 0, &id, &agent,
	    err)) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 cannot load the sender's keys: "
		    "%s", err);
		return -1;
	}
	if (found == 1) {
		if ((found = content_moved_away(mc, db)) != 0)
			return found;
		msg_fail(mc, MSG_PERM, "5.7.1 sender %s is not registered "
		    "here", mc->mc_sender);
		return -1;
	}
	if (found == 2) {
		msg_fail(mc, MSG_PERM, "5.7.1 sender %s is not active here "
		    "(pending: no agent-alive yet)", mc->mc_sender);
		return -1;
	}
	src.cs_get = objcache_der;
	src.cs_recall = objcache_chain_recall;
	src.cs_remember = objcache_chain_remember;
	src.cs_ctx = fg->fg_cache;
	if ((found = rekey_unwrap(fg, db, mc->mc_sender, tm, &id, agent, &src,
	    sealed, sealedlen, &signer, &certs, &fail, err)) == -1 &&
	    fail == CMS_FAIL_DECRYPT && (rc = content_moved_away(mc,
	    db)) != 0) {
		rc = rc == 1 ? 1 : -1;
		goto out;
	}
	rc = -1;
	if (found == -1 && fail == CMS_FAIL_CRL) {
		/* Fail closed, and the sender's MTA keeps it meanwhile. */
		msg_fail(mc, MSG_TEMP, "4.7.0 Tandem content: %s", err);
		goto out;
	}
	if (found == -1) {
		msg_fail(mc, fail == CMS_FAIL_INTERNAL ? MSG_TEMP : MSG_PERM,
		    "%s bad Tandem content: %s", fail == CMS_FAIL_INTERNAL ?
		    "4.3.0" : fail_code(fail), err);
		goto out;
	}
	if (found == 1 ||
	    content_verify(fg, signer, certs, mc->mc_sender, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.7 the signer is not the agent of "
		    "%s", mc->mc_sender);
		free(*sealed);
		*sealed = NULL;
		goto out;
	}
	rc = 0;
out:
	fgdb_id_free(&id);
	X509_free(agent);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/*
 * The route tables of the federation engine (fed_tables()), except that the local-account
 * lookup also reads the agent certificate of the account it finds,
 * so delivering to it takes no second statement. With several
 * recipients, their active accounts are read in one statement first
 * (content_prefetch()); the lookup asks on its own only for an
 * address not among those rows.
 */
struct content_rt {
	struct route_tables	 cr_db;		/* fed_tables() */
	const struct fg		*cr_fg;
	X509			*cr_agent;	/* of the last local hit */
	PGresult		*cr_pre;	/* address, agent_cert */
};

/* A local hit: row's agent certificate (column col) into cr_agent. */
static int
crt_hit(struct content_rt *c, const PGresult *r, int row, int col,
    char *err)
{
	if (!PQgetisnull(r, row, col) && (c->cr_agent = objcache_cert(
	    c->cr_fg->fg_cache, PQgetvalue(r, row, col),
	    (size_t)PQgetlength(r, row, col), err)) == NULL)
		return -1;
	return 1;
}

static int
crt_local(void *ctx, const char *address, char *err)
{
	struct content_rt *c = ctx;
	PGresult *r;
	int i, rc = 0;

	X509_free(c->cr_agent);
	c->cr_agent = NULL;
	for (i = 0; c->cr_pre != NULL && i < PQntuples(c->cr_pre); i++)
		if (strcmp(PQgetvalue(c->cr_pre, i, 0), address) == 0)
			return crt_hit(c, c->cr_pre, i, 1, err);
	if (acache_exec(c->cr_fg, ((struct fed *)c->cr_db.rt_ctx)->fd_db,
	    "SELECT agent_cert FROM accounts WHERE address = $1 AND status "
	    "= 'active'", address, &r, err) == -1)
		return -1;
	if (PQntuples(r) > 0)
		rc = crt_hit(c, r, 0, 0, err);
	PQclear(r);
	return rc;
}

/*
 * The active accounts among several recipients, in one statement
 * instead of one per recipient: crt_local()'s condition, for a list
 * (one address a line; none has a line break, SMTP has no way to
 * send one, but then nothing is read ahead, nor when out of memory).
 * 0, or -1 with the verdict set when the statement fails.
 */
static int
content_prefetch(struct content_rt *c, struct msg *mc, PGconn *db)
{
	const char *p[1];
	char err[TN_ERRLEN], *list, *q;
	size_t i, len = 1, n;
	int rc = 0;

	if (mc->mc_nrcpts < 2)
		return 0;
	for (i = 0; i < mc->mc_nrcpts; i++) {
		if (strchr(mc->mc_rcpts[i], '\n') != NULL)
			return 0;
		len += strlen(mc->mc_rcpts[i]) + 1;
	}
	if ((list = malloc(len)) == NULL)
		return 0;
	for (i = 0, q = list; i < mc->mc_nrcpts; i++) {
		n = strlen(mc->mc_rcpts[i]);
		memcpy(q, mc->mc_rcpts[i], n);
		q += n;
		*q++ = i + 1 < mc->mc_nrcpts ? '\n' : '\0';
	}
	p[0] = list;
	if (db_exec(db, "SELECT address, agent_cert FROM accounts WHERE "
	    "address = ANY (string_to_array($1, E'\\n')) AND status = "
	    "'active'", 1, p, NULL, &c->cr_pre, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 %s", err);
		rc = -1;
	}
	free(list);
	return rc;
}

static int
crt_transferred(void *ctx, const char *address, char *courier, char *err)
{
	struct content_rt *c = ctx;

	return c->cr_db.rt_transferred(c->cr_db.rt_ctx, address, courier,
	    err);
}

static int
crt_learned(void *ctx, const char *address, char *courier, char *err)
{
	struct content_rt *c = ctx;

	return c->cr_db.rt_learned(c->cr_db.rt_ctx, address, courier, err);
}

static int
crt_domain(void *ctx, const char *domain, char *courier, char *err)
{
	struct content_rt *c = ctx;

	return c->cr_db.rt_domain(c->cr_db.rt_ctx, domain, courier, err);
}

static int
crt_closed(void *ctx, const char *address, char *err)
{
	struct content_rt *c = ctx;

	return c->cr_db.rt_closed(c->cr_db.rt_ctx, address, err);
}

static void
content_tables(struct route_tables *rt, struct content_rt *c,
    const struct fg *fg, struct fed *fd)
{
	memset(c, 0, sizeof(*c));
	fed_tables(fd, &c->cr_db);
	c->cr_fg = fg;
	memset(rt, 0, sizeof(*rt));
	rt->rt_ctx = c;
	rt->rt_local = crt_local;
	rt->rt_transferred = crt_transferred;
	rt->rt_learned = crt_learned;
	rt->rt_domain = crt_domain;
	rt->rt_closed = crt_closed;
}

/* The agent certificate crt_local() found for rcpt, onto to. */
static int
content_agent(struct content_rt *c, const char *rcpt, STACK_OF(X509) *to,
    char *err)
{
	if (c->cr_agent == NULL) {
		tn_err(err, "%s: no agent certificate", rcpt);
		return -1;
	}
	if (!sk_X509_push(to, c->cr_agent)) {
		tn_err(err, "out of memory");
		return -1;
	}
	c->cr_agent = NULL;
	return 0;
}

/* Route every envelope recipient; fills to and mc_drop. */
static int
content_route(struct msg *mc, PGconn *db, struct tmail *tm,
    const unsigned char *sealed, size_t sealedlen, STACK_OF(X509) *to)
{
	struct route_courier self;
	struct route_tables rt;
	struct route_decision rd;
	struct content_rt crt;
	struct fed fd;
	char err[TN_ERRLEN];
	const char *a;
	size_t i;
	int r, rc = -1;

	fgfed_init(&fd, mc, db);
	fed_courier(&fd, &self);
	content_tables(&rt, &crt, mc->mc_fg, &fd);
	if (content_prefetch(&crt, mc, db) == -1)
		goto out;
	for (i = 0; i < mc->mc_nrcpts; i++) {
		a = mc->mc_rcpts[i];
		if (route_decide(&self, &rt, a, ROUTE_SRC_LOCAL, NULL, &rd,
		    err) == -1) {
			msg_fail(mc, MSG_TEMP, "4.3.0 routing %s: %s", a, err);
			goto out;
		}
		msg_note(mc, " rcpt=%s route=%s", a,
		    route_action_name(rd.rd_action));
		switch (rd.rd_action) {
		case ROUTE_DELIVER_LOCAL:
			if (content_agent(&crt, a, to, err) == -1) {
				msg_fail(mc, MSG_TEMP, "4.3.0 %s", err);
				goto out;
			}
			break;
		case ROUTE_HOLD_AND_INVITE:
			if (msg_db_write(mc, db) == -1)
				goto out;
			if ((r = fgdb_hold(mc->mc_fg, db, mc->mc_qid,
			    tm->tm_msgid, mc->mc_sender, a, sealed, sealedlen,
			    NULL, err)) == -2) {
				msg_note(mc, " invitations=limited");
				msg_fail(mc, MSG_TEMP, "4.7.0 %s", err);
				goto out;
			}
			if (r == -1) {
				msg_fail(mc, MSG_TEMP, "4.3.0 holding for %s: "
				    "%s", a, err);
				goto out;
			}
			mc->mc_drop[i] = 1;
			break;
		case ROUTE_REJECT:
			msg_fail(mc, MSG_PERM, "%s recipient %s: %s",
			    rd.rd_code, a, rd.rd_reason);
			goto out;
		default:	/* rules 2-5: to another courier's FG */
			if (msg_db_write(mc, db) == -1)
				goto out;
			if (fed_send_local(mc, db, tm, a, rd.rd_courier,
			    sealed, sealedlen) == -1)
				goto out;
			mc->mc_drop[i] = 1;
			break;
		}
	}
	rc = 0;
out:
	X509_free(crt.cr_agent);
	PQclear(crt.cr_pre);
	return rc;
}

/*
 * The same sealed content taken once (seen_messages, kind "content",
 * by its SHA-256, kept for hygiene.replay_window): 0, or -1 with the
 * verdict set. It is the last thing written: inside the transaction
 * when routing wrote (held, sent on; a replay rolls those back), else
 * alone, committed by itself (a rewrap in place for local recipients:
 * one round trip, not BEGIN, INSERT and COMMIT). Anything that fails
 * before it leaves no record, so the sender's MTA can try again.
 */
static int
content_once(struct msg *mc, PGconn *db, const unsigned char *sealed,
    size_t sealedlen)
{
	unsigned char dg[CMS_DIGESTLEN];
	const char *p[1];
	char err[TN_ERRLEN], *hex = NULL;
	int fresh = -1;

	if (cms_digest(sealed, sealedlen, dg) == 0 &&
	    (hex = util_hex(dg, sizeof(dg))) != NULL) {
		p[0] = hex;
		fresh = db_one(db, "INSERT INTO seen_messages (message_id, "
		    "kind) VALUES ($1, 'content') ON CONFLICT DO NOTHING "
		    "RETURNING 1", 1, p, NULL, 0, err);
	} else
		tn_err(err, "cannot digest the sealed content");
	free(hex);
	if (fresh == 1)
		return 0;
	if (fresh == 0)
		msg_fail(mc, MSG_PERM, "5.7.1 this sealed content was taken "
		    "already (replay)");
	else
		msg_fail(mc, MSG_TEMP, "4.3.0 %s", err);
	return -1;
}

int
content_process(struct msg *mc, PGconn *db, struct tmail *tm)
{
	STACK_OF(X509) *to = NULL;
	unsigned char *sealed = NULL, *wrap = NULL;
	size_t sealedlen = 0, wlen;
	char err[TN_ERRLEN];
	int rc = -1;

	msg_note(mc, " msgid=%s", tm->tm_msgid);
	if ((rc = content_open(mc, db, tm, &sealed, &sealedlen)) == 1) {
		msg_note(mc, " passed=moved-away");
		rc = 0;
		goto out;
	}
	if (rc == -1)
		goto out;
	/* Opened: the wrap is not read again, its memory goes now. */
	free(tm->tm_der);
	tm->tm_der = NULL;
	tm->tm_derlen = 0;
	rc = -1;
	if ((to = sk_X509_new_null()) == NULL) {
		msg_fail(mc, MSG_TEMP, "4.3.0 out of memory");
		goto out;
	}
	if (content_route(mc, db, tm, sealed, sealedlen, to) == -1)
		goto out;
	if (sk_X509_num(to) > 0 && (cms_wrap(sealed, sealedlen,
	    &mc->mc_fg->fg_id, to, 0, &wrap, &wlen, err) == -1 ||
	    tmail_body(wrap, wlen, &mc->mc_newbody, &mc->mc_newbodylen,
	    err) == -1)) {
		msg_fail(mc, MSG_TEMP, "4.3.0 cannot rewrap: %s", err);
		goto out;
	}
	if (content_once(mc, db, sealed, sealedlen) == -1)
		goto out;
	if (sk_X509_num(to) == 0)
		mc->mc_discard = 1;
	else
		msg_note(mc, " rewrapped=%d", sk_X509_num(to));
	rc = 0;
out:
	free(sealed);
	free(wrap);
	sk_X509_pop_free(to, X509_free);
	return rc;
}
