/*
 * NAME
 *	hygiene.c - the foreground's purge of held mail and invitations
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	int	hygiene_run(const struct fg *fg, char *err);
 *	int	hygiene_beat(const struct fg *fg, char *err);
 * DESCRIPTION
 *	hygiene_run() is called by the sender thread every
 *	hygiene.purge_interval. In one transaction on a connection of
 *	its own (db_begin() to db_commit()) it purges every held
 *	message older than hygiene.hold_limit that was neither released
 *	nor purged (purged_at is set and the sealed content dropped),
 *	tells the sender's agent with a receipt (Event: expired, one per
 *	message and recipient; a service mail wrapped FG -> the sender's
 *	agent certificate, queued in outbox; doc/flows.md 3a), and marks
 *	every pending invitation past its expiry "expired", which makes
 *	its token useless. A sender that has no active account any more
 *	gets no receipt; the purge is logged all the same. Then it
 *	deletes the help desk's history older than hygiene.history_limit:
 *	released and purged held messages, answered or expired
 *	invitations (a rejected one once past its expiry: its token
 *	serves until then), refusals.
 *
 *	Then it records the rekeys due by policy (rekey_policy()).
 *
 *	hygiene_beat(), called by the sender thread every
 *	HYGIENE_BEAT seconds, updates the heartbeat row, which replicates
 *	to the background: its age there is the replication lag; then,
 *	in a transaction, it sends the notices of requested rekeys
 *	(rekey_notices()), so that an operator's rekey goes out within
 *	seconds.
 * DIAGNOSTICS
 *	0, or -1 with the reason in err (nothing is changed then; the
 *	next run tries again).
 */
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fed.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "tandem.h"

/* The agent certificate of an active account; NULL if none. */
static X509 *
hygiene_agent(PGconn *db, const char *address, int *bad, char *err)
{
	const char *p[1] = { address };
	PGresult *r;
	X509 *x = NULL;

	*bad = 0;
	if (db_exec(db, "SELECT agent_cert FROM accounts WHERE address = $1 "
	    "AND status = 'active' AND agent_cert IS NOT NULL", 1, p, NULL, &r,
	    err) == -1) {
		*bad = 1;
		return NULL;
	}
	if (PQntuples(r) == 1 && (x = pki_parse_cert(PQgetvalue(r, 0, 0),
	    (size_t)PQgetlength(r, 0, 0), err)) == NULL)
		*bad = 1;
	PQclear(r);
	return x;
}

/* The receipt for one purged message, queued for the sender's agent. */
static int
hygiene_receipt(const struct fg *fg, PGconn *db, const char *msgid,
    const char *sender, const char *rcpt, X509 *agent, char *err)
{
	const char *box = fg->fg_conf->cf_service_mailbox;
	struct proto_msg *pm = NULL;
	struct tmail_head th;
	char id[TN_MAX_MSGID + 1], now[32], *body = NULL;
	size_t blen;
	int rc = -1;

	proto_format_time(time(NULL), now, sizeof(now));
	if (tmail_msgid(box, id, sizeof(id)) == -1 ||
	    (pm = proto_msg_new(PROTO_RECEIPT)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_SERVICE;
	th.th_from = box;
	th.th_to = &sender;
	th.th_nto = 1;
	th.th_msgid = id;
	if (proto_set(pm, "Id", id, err) || proto_set(pm, "Date", now, err) ||
	    proto_set(pm, "Message-Id", msgid, err) ||
	    proto_set(pm, "Sender", sender, err) ||
	    proto_set(pm, "Recipient", rcpt, err) ||
	    proto_set(pm, "Event", "expired", err) ||
	    proto_format(pm, &body, &blen, err) == -1 ||
	    fgdb_mail(db, &th, &fg->fg_id, agent, (unsigned char *)body, blen,
	    err) == -1)
		goto out;
	rc = 0;
out:
	proto_msg_free(pm);
	free(body);
	return rc;
}

/* Purge one held row: receipt (if the sender is active), then mark. */
static int
hygiene_one(const struct fg *fg, PGconn *db, PGresult *r, int i, char *err)
{
	const char *p[1] = { PQgetvalue(r, i, 0) };
	const char *msgid = PQgetvalue(r, i, 1), *sender = PQgetvalue(r, i, 2);
	const char *rcpt = PQgetvalue(r, i, 3);
	X509 *agent;
	int bad, rc = -1;

	agent = hygiene_agent(db, sender, &bad, err);
	if (bad || (agent != NULL && hygiene_receipt(fg, db, msgid, sender,
	    rcpt, agent, err) == -1) ||
	    db_run(db, "UPDATE held_messages SET purged_at = now(), body = "
	    "''::bytea WHERE id = $1", 1, p, err) == -1)
		goto out;
	log_info("hygiene msgid=%s sender=%s rcpt=%s status=purged "
	    "receipt=%s", msgid, sender, rcpt, agent != NULL ? "queued" :
	    "none");
	rc = 0;
out:
	X509_free(agent);
	return rc;
}

/* The help desk's history older than hygiene.history_limit. */
static int
hygiene_history(const struct fg *fg, PGconn *db, char *err)
{
	char limit[32];
	const char *p[1] = { limit };
	PGresult *r = NULL;
	int rc = -1;

	snprintf(limit, sizeof(limit), "%ld", fg->fg_conf->cf_history_limit);
	if (db_run(db, "DELETE FROM held_messages WHERE coalesce(released_at, "
	    "purged_at) < now() - make_interval(secs => $1::bigint)", 1, p,
	    err) == -1 ||
	    db_run(db, "DELETE FROM invitations WHERE status <> 'pending' AND "
	    "coalesce(answered_at, expires_at) < now() - make_interval(secs "
	    "=> $1::bigint) AND (status <> 'rejected' OR expires_at <= now())",
	    1, p, err) == -1 ||
	    db_exec(db, "DELETE FROM refusals WHERE at < now() - "
	    "make_interval(secs => $1::bigint)", 1, p, NULL, &r, err) == -1)
		goto out;
	if (strcmp(PQcmdTuples(r), "0") != 0)
		log_info("hygiene refusals purged=%s", PQcmdTuples(r));
	rc = 0;
out:
	PQclear(r);
	return rc;
}

static int
hygiene_purge(const struct fg *fg, PGconn *db, char *err)
{
	char limit[32];
	const char *p[1] = { limit };
	PGresult *r = NULL;
	struct fed fd;
	long n;
	int i, rc = -1;

	snprintf(limit, sizeof(limit), "%ld", fg->fg_conf->cf_hold_limit);
	if (db_exec(db, "SELECT id, message_id, sender, recipient FROM "
	    "held_messages WHERE released_at IS NULL AND purged_at IS NULL "
	    "AND held_at < now() - make_interval(secs => $1::bigint) "
	    "ORDER BY id FOR UPDATE SKIP LOCKED", 1, p, NULL, &r, err) == -1)
		goto out;
	for (i = 0; i < PQntuples(r); i++)
		if (hygiene_one(fg, db, r, i, err) == -1)
			goto out;
	PQclear(r);
	if (db_exec(db, "UPDATE invitations SET status = 'expired' WHERE "
	    "status = 'pending' AND expires_at <= now()", 0, NULL, NULL, &r,
	    err) == -1)
		goto out;
	if (strcmp(PQcmdTuples(r), "0") != 0)
		log_info("hygiene invitations=%s status=expired",
		    PQcmdTuples(r));
	/* Ids taken longer ago than the replay window. */
	fed_init(&fd, PKI_KIND_FG, fg->fg_conf, NULL, NULL, NULL, db, NULL,
	    NULL);
	if (fed_purge(&fd, &n, err) == -1)
		goto out;
	if (n > 0)
		log_info("hygiene seen_messages purged=%ld", n);
	if (rekey_policy(fg, db, err) == -1)
		goto out;
	rc = hygiene_history(fg, db, err);
out:
	PQclear(r);
	return rc;
}

int
hygiene_run(const struct fg *fg, char *err)
{
	PGconn *db;
	int rc = -1;

	db = PQconnectdb(fg->fg_conf->cf_conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		tn_err(err, "database unavailable");
		goto out;
	}
	if (db_begin(db, err) == -1 || hygiene_purge(fg, db, err) == -1 ||
	    db_commit(db, err) == -1)
		goto out;
	rc = 0;
out:
	PQfinish(db);	/* an open transaction is rolled back */
	return rc;
}

int
hygiene_beat(const struct fg *fg, char *err)
{
	PGconn *db;
	int rc = -1;

	db = PQconnectdb(fg->fg_conf->cf_conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		tn_err(err, "database unavailable");
		goto out;
	}
	if (db_run(db, "UPDATE heartbeat SET beat_at = now() WHERE id = 1", 0,
	    NULL, err) == -1 || db_begin(db, err) == -1 ||
	    rekey_notices(fg, db, err) == -1 ||
	    transfer_send(fg, db, err) == -1 || db_commit(db, err) == -1)
		goto out;
	rc = 0;
out:
	PQfinish(db);
	return rc;
}
