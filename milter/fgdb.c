/*
 * NAME
 *	fgdb.c - the foreground database, for tandem-milter
 * DESCRIPTION
 *	See milter.h. Every statement goes through db_exec() and its kin
 *	(db.h); a route table is one db_one(). Callers own the
 *	transaction.
 * DIAGNOSTICS
 *	0, or -1 with the reason in err ("database: ..." from db.h);
 *	fgdb_account_id() says 1 when there is no such account, 2 when
 *	it is pending and only an active one would do.
 */
#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>

#include "fed.h"
#include "keybox.h"
#include "log.h"
#include "milter.h"
#include "tandem.h"
#include "util.h"

void
fgdb_id_free(struct cms_id *id)
{
	if (id == NULL)
		return;
	X509_free(id->ci_cert);
	EVP_PKEY_free(id->ci_key);
	memset(id, 0, sizeof(*id));
}

/*
 * The courier-end identity of an account (its current key, opened with
 * the keybox; not the new generation of a rekey still in progress) and its agent certificate: an active account, or with
 * pending_ok a pending one too (the service path: its agent-alive is
 * what makes it active). 0; 1 when there is no such account; 2 when it
 * is pending and pending_ok is 0; -1 on an internal failure.
 */
int
fgdb_account_id(const struct fg *fg, PGconn *db, const char *address,
    int pending_ok, struct cms_id *id, X509 **agent, char *err)
{
	unsigned char *sealed = NULL;
	size_t slen = 0;
	PGresult *r = NULL;
	int rc = -1;

	memset(id, 0, sizeof(*id));
	*agent = NULL;
	if (acache_exec(fg, db, "SELECT a.courier_cert, a.agent_cert, "
	    "k.sealed_key, a.status FROM accounts a JOIN account_keys k USING "
	    "(address) WHERE a.address = $1 AND a.status IN ('active', "
	    "'pending') AND k.retired_at IS NULL AND a.courier_cert IS NOT "
	    "NULL AND a.agent_cert IS NOT NULL AND k.generation = "
	    "tandem_generation(a.address)", address, &r, err) == -1)
		goto out;
	if (PQntuples(r) == 0) {
		rc = 1;
		goto out;
	}
	if (!pending_ok && strcmp(PQgetvalue(r, 0, 3), "active") != 0) {
		rc = 2;
		goto out;
	}
	sealed = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 2),
	    &slen);
	if (sealed == NULL) {
		tn_err(err, "sealed key: out of memory");
		goto out;
	}
	if ((id->ci_key = objcache_key(fg->fg_cache, fg->fg_keybox, address,
	    sealed, slen, err)) == NULL ||
	    (id->ci_cert = objcache_cert(fg->fg_cache, PQgetvalue(r, 0, 0),
	    (size_t)PQgetlength(r, 0, 0), err)) == NULL ||
	    (*agent = objcache_cert(fg->fg_cache, PQgetvalue(r, 0, 1),
	    (size_t)PQgetlength(r, 0, 1), err)) == NULL)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fgdb_id_free(id);
	PQfreemem(sealed);
	PQclear(r);
	return rc;
}

int
fgdb_outbox(PGconn *db, const char *msgid, const char *from,
    const char *rcpt, const char *mail, size_t len, char *err)
{
	const char *p[4] = { msgid, from, rcpt, mail };
	int lens[4] = { 0, 0, 0, (int)len };

	return db_exec(db, "INSERT INTO outbox (message_id, mail_from, "
	    "rcpt_to, body) VALUES ($1, $2, ARRAY[$3], $4)", 4, p, lens, NULL,
	    err);
}

/*
 * A mail of th (one recipient) into outbox: in wrapped by id to the
 * certificate to, or, with to NULL, in as the wrap already made.
 */
int
fgdb_mail(PGconn *db, const struct tmail_head *th, const struct cms_id *id,
    X509 *to, const unsigned char *in, size_t inlen, char *err)
{
	unsigned char *wrap = NULL;
	char *mail = NULL;
	size_t wlen = inlen, mlen;
	int rc = -1;

	if (to != NULL && cms_wrap_to(in, inlen, id, to, &wrap, &wlen,
	    err) == -1)
		goto out;
	if (tmail_compose(th, wrap != NULL ? wrap : in, wlen, &mail, &mlen,
	    err) == 0 && fgdb_outbox(db, th->th_msgid, th->th_from,
	    th->th_to[0], mail, mlen, err) == 0)
		rc = 0;
out:
	free(wrap);
	free(mail);
	return rc;
}

/*
 * 0 when sender may cause one more invitation (foreground.
 * max_invitations in 24 hours); -2 when not, the reason in err; -1.
 */
static int
fgdb_may_invite(const struct conf *cf, PGconn *db, const char *sender,
    char *err)
{
	char n[32];
	int r;

	if (cf->cf_max_invitations == 0)
		return 0;
	if ((r = db_one(db, "SELECT count(*) FROM invitations WHERE inviter = "
	    "lower($1) AND sent_at > now() - interval '1 day'", 1, &sender,
	    n, sizeof(n), err)) != 1)
		return -1;
	if (strtol(n, NULL, 10) < cf->cf_max_invitations)
		return 0;
	tn_err(err, "%s has caused %s invitations in 24 hours, the most "
	    "this courier sends for one sender (foreground.max_invitations); "
	    "try again later", sender, n);
	return -2;
}

/*
 * The signed notice (tmail_notice()) that rcpt declined Tandem
 * invitations, for message msgid of sender, into outbox with the null
 * envelope sender: local or another courier's, the sender reads it.
 */
int
fgdb_declined_notice(const struct fg *fg, PGconn *db, const char *msgid,
    const char *sender, const char *rcpt, char *err)
{
	const struct conf *cf = fg->fg_conf;
	struct tmail_notice tn;
	char id[TN_MAX_MSGID + 1], reason[TN_MAX_ADDRESS + 160];
	char *mail = NULL;
	size_t mlen;
	int rc = -1;

	snprintf(reason, sizeof(reason), "%s declined Tandem invitations: "
	    "the courier %s holds no private mail for that address and "
	    "invites it no more", rcpt, cf->cf_name);
	memset(&tn, 0, sizeof(tn));
	tn.tn_from = cf->cf_service_mailbox;
	tn.tn_to = sender;
	tn.tn_courier = cf->cf_name;
	tn.tn_msgid = msgid;
	tn.tn_rcpt = rcpt;
	tn.tn_reason = reason;
	tn.tn_id = &fg->fg_id;
	if (tmail_notice(&tn, &mail, &mlen, id, sizeof(id), err) == 0 &&
	    fgdb_outbox(db, id, "", sender, mail, mlen, err) == 0)
		rc = 0;
	free(mail);
	return rc;
}

/*
 * rcpt declined invitations (fg/013): 1, and the sender is told, the
 * message not held; 0 not declined; -1.
 */
static int
fgdb_declined(const struct fg *fg, PGconn *db, const char *qid,
    const char *msgid, const char *sender, const char *rcpt, char *err)
{
	int r;

	if ((r = db_one(db, "SELECT 1 FROM declined_addresses WHERE address "
	    "= lower($1)", 1, &rcpt, NULL, 0, err)) != 1)
		return r;
	if (fgdb_declined_notice(fg, db, msgid, sender, rcpt, err) == -1)
		return -1;
	log_info("%s msgid=%s rcpt=%s status=declined notice=%s", qid, msgid,
	    rcpt, sender);
	return 1;
}

/*
 * Hold sealed for rcpt, sealed again under the held key (keybox.h), and
 * invite rcpt unless already invited. from: the item as another courier
 * sent it, whose origin's assertion is kept with it (lib/fed.c releases
 * it under that origin), or NULL for a local sender's. Mail held and
 * sent on before, come back (its recipient moved here), is held again.
 * -2 (err) when sender has caused foreground.max_invitations already:
 * nothing of it should stay (the caller's transaction). A recipient
 * who declined invitations gets nothing: the sender gets a notice
 * (fgdb_declined_notice()), and 1 (for the caller, like a hold: the
 * recipient is done with here).
 */
int
fgdb_hold(const struct fg *fg, PGconn *db, const char *qid,
    const char *msgid, const char *sender, const char *rcpt,
    const unsigned char *sealed, size_t sealedlen,
    const struct fed_item *from, char *err)
{
	const struct conf *cf = fg->fg_conf;
	struct tmail_invite ti;
	unsigned char hash[TMAIL_HASHLEN], dhash[TMAIL_HASHLEN];
	char invid[TN_MAX_MSGID + 1], exp[32], hops[16], *mail = NULL;
	int asserted = from != NULL && from->it_origin != NULL &&
	    from->it_origin_sig != NULL && from->it_origin_date != NULL &&
	    from->it_origin_pem != NULL;
	const char *p[10] = { msgid, qid, sender, rcpt, NULL,
	    asserted ? from->it_origin : NULL, asserted ? hops : NULL,
	    asserted ? from->it_origin_pem : NULL, asserted ?
	    from->it_origin_date : NULL, asserted ? from->it_origin_sig : NULL };
	int lens[10] = { 0 }, rc = -1, pending;
	unsigned char *box = NULL;
	size_t mlen, boxlen = 0;

	if ((pending = fgdb_declined(fg, db, qid, msgid, sender, rcpt,
	    err)) != 0)
		return pending;
	if (asserted)
		snprintf(hops, sizeof(hops), "%u", from->it_hops);
	/* Under the held key: neither the BG nor its replication role. */
	if (keybox_seal_held(fg->fg_heldbox, msgid, rcpt, sealed, sealedlen,
	    &box, &boxlen, err) == -1)
		return -1;
	p[4] = (const char *)box;
	lens[4] = (int)boxlen;
	if (db_exec(db, "INSERT INTO held_messages (message_id, queue_id, "
	    "sender, recipient, body, origin, hops, origin_pem, origin_date, "
	    "origin_sig) VALUES ($1, $2, $3, $4, $5, lower($6), $7::int, $8, "
	    "$9, $10) ON CONFLICT (message_id, recipient) DO UPDATE SET "
	    "queue_id = EXCLUDED.queue_id, sender = EXCLUDED.sender, body = "
	    "EXCLUDED.body, origin = EXCLUDED.origin, hops = EXCLUDED.hops, "
	    "origin_pem = EXCLUDED.origin_pem, origin_date = "
	    "EXCLUDED.origin_date, origin_sig = EXCLUDED.origin_sig, "
	    "held_at = now(), released_at = NULL WHERE "
	    "held_messages.released_at IS NOT NULL AND "
	    "held_messages.purged_at IS NULL", 10, p, lens, NULL, err) == -1)
		goto out;
	if ((pending = db_one(db, "SELECT 1 FROM invitations WHERE "
	    "address = $1 AND status = 'pending' AND expires_at > now()", 1,
	    &rcpt, NULL, 0, err)) != 0) {
		rc = pending == 1 ? 0 : -1;
		goto out;
	}
	if ((rc = fgdb_may_invite(cf, db, sender, err)) != 0)
		goto out;
	rc = -1;
	memset(&ti, 0, sizeof(ti));
	ti.ti_address = rcpt;
	ti.ti_inviter = sender;
	ti.ti_courier = cf->cf_name;
	ti.ti_register = cf->cf_service_mailbox;
	ti.ti_bg_url = cf->cf_url != NULL && cf->cf_url[0] != '\0' ?
	    cf->cf_url : NULL;
	ti.ti_msgids = &msgid;
	ti.ti_nmsgids = 1;
	ti.ti_expires = time(NULL) + cf->cf_hold_limit;
	ti.ti_submission = cf->cf_user_submission[0] != '\0' ?
	    cf->cf_user_submission : NULL;
	ti.ti_anchor_url = cf->cf_anchor_url[0] != '\0' ?
	    cf->cf_anchor_url : NULL;
	ti.ti_anchors = cf->cf_anchors[0] != '\0' ? cf->cf_anchors : NULL;
	ti.ti_id = &fg->fg_id;
	ti.ti_decline = dhash;
	if (tmail_invitation(&ti, &mail, &mlen, invid, sizeof(invid), hash,
	    err) == -1)
		goto out;
	snprintf(exp, sizeof(exp), "%ld", (long)ti.ti_expires);
	{
		const char *q[6] = { rcpt, invid, (const char *)hash, exp,
		    sender, (const char *)dhash };
		int ql[6] = { 0, 0, TMAIL_HASHLEN, 0, 0, TMAIL_HASHLEN };

		if (db_exec(db, "INSERT INTO invitations (address, "
		    "message_id, token_hash, expires_at, inviter, "
		    "decline_hash) VALUES ($1, $2, $3, to_timestamp($4::"
		    "bigint), lower($5), $6)", 6, q, ql, NULL, err) == -1 ||
		    fgdb_outbox(db, invid, cf->cf_service_mailbox, rcpt, mail,
		    mlen, err) == -1)
			goto out;
	}
	rc = 0;
out:
	free(mail);
	free(box);
	return rc;
}
