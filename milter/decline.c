/*
 * NAME
 *	decline.c - "do not invite me again": the invited address's
 *	answer, which needs no agent
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	int	decline_process(struct msg *mc);
 * DESCRIPTION
 *	decline_process() takes a mail without Tandem-Kind whose Subject
 *	carries a decline code (tmail_decline_code()): the answer that
 *	an invitation's text asks for (doc/flows.md 2, "Do not invite me
 *	again"). Mail that is not for the service mailbox passes
 *	untouched. The code is the proof: only the invitation mailed to
 *	the address carries it, and the database keeps only its SHA-256
 *	(invitations.decline_hash, fg/013). A code no invitation has,
 *	or one for an address registered here, is refused (5.7.1) and
 *	nothing changes. Otherwise, in one transaction of its own: the
 *	address goes into declined_addresses (once; an answer again is
 *	taken and changes nothing) and a bg_relay row of kind 'declined'
 *	tells the background, which drops the ARMs it holds for the
 *	address and holds none from then on (sql/bg/015); its pending
 *	invitations become
 *	'declined', and each held message for it that was neither
 *	released nor purged is purged (its body emptied) and its sender
 *	gets the signed notice that the address declined
 *	(fgdb_declined_notice()); the answer is consumed. The From: of
 *	the answer is not trusted and not needed: a forwarded mailbox
 *	may answer from another address.
 *
 *	mc keeps the mail (mc_mail: "Name: value" lines, an empty line,
 *	the body); nothing here is kept after the call.
 * DIAGNOSTICS
 *	0, or -1 with the verdict set (msg_fail()): 5.7.1 for a code
 *	nobody gave, 4.3.0 when the database fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "log.h"
#include "milter.h"
#include "tandem.h"
#include "tmail.h"

/*
 * The code from the Subject header of the head in mc (with its folded
 * lines: a mail program may fold a reply's long Subject); 0 or -1.
 */
static int
decline_code(const struct msg *mc, char *code, size_t size)
{
	const char *p = mc->mc_mail, *end = p + mc->mc_maillen, *nl;
	char line[1024];
	size_t n;

	while (p < end && *p != '\n') {
		nl = p;
		do {	/* the field ends at a line that is no continuation */
			if ((nl = memchr(nl, '\n', (size_t)(end - nl))) ==
			    NULL)
				nl = end;
			else
				nl++;
		} while (nl < end && (*nl == ' ' || *nl == '\t'));
		n = (size_t)(nl - p);
		if (n > 8 && strncasecmp(p, "Subject:", 8) == 0) {
			if (n >= sizeof(line))
				n = sizeof(line) - 1;
			memcpy(line, p, n);
			line[n] = '\0';
			return tmail_decline_code(line + 8, code, size);
		}
		p = nl;
	}
	return -1;
}

/*
 * Record that address declined, by invitation invid, and refuse what
 * waits for it: 0, or -1 (err).
 */
static int
decline_record(struct msg *mc, PGconn *db, const char *address,
    const char *invid, int *purged, char *err)
{
	const char *p[3] = { address, invid, mc->mc_sender };
	PGresult *r = NULL;
	int i, rc = -1;

	*purged = 0;
	/* The relay row tells the background (sql/bg/015). */
	if (db_run(db, "WITH d AS (INSERT INTO declined_addresses (address, "
	    "invitation_id, answered_by) VALUES (lower($1), $2::bigint, $3) "
	    "ON CONFLICT (address) DO NOTHING RETURNING address) INSERT INTO "
	    "bg_relay (address, kind, message_id, body, expires_at) SELECT "
	    "d.address, 'declined', i.message_id, '\\x', now() + interval "
	    "'1 day' FROM d, invitations i WHERE i.id = $2::bigint", 3, p,
	    err) == -1 ||
	    db_run(db, "UPDATE invitations SET status = 'declined' WHERE "
	    "address = lower($1) AND status = 'pending'", 1, p, err) == -1 ||
	    db_exec(db, "UPDATE held_messages SET purged_at = now(), body = "
	    "'\\x' WHERE recipient = lower($1) AND released_at IS NULL AND "
	    "purged_at IS NULL RETURNING message_id, sender", 1, p, NULL, &r,
	    err) == -1)
		goto out;
	for (i = 0; i < PQntuples(r); i++)
		if (fgdb_declined_notice(mc->mc_fg, db, PQgetvalue(r, i, 0),
		    PQgetvalue(r, i, 1), address, err) == -1)
			goto out;
	*purged = PQntuples(r);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* The answer with code, in the transaction of db. */
static int
decline_take(struct msg *mc, PGconn *db, const char *code)
{
	PGresult *r = NULL;
	char err[TN_ERRLEN];
	int purged, rc = -1;

	if (db_exec(db, "SELECT i.id, i.address, EXISTS (SELECT 1 FROM "
	    "accounts a WHERE a.address = i.address) FROM invitations i "
	    "WHERE i.decline_hash = sha256(convert_to($1, 'UTF8'))", 1, &code,
	    NULL, &r, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 database: %s", err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		msg_note(mc, " answer=decline status=refused");
		msg_fail(mc, MSG_PERM, "5.7.1 no invitation of this courier "
		    "carries this decline code");
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 2), "t") == 0) {
		msg_note(mc, " answer=decline address=%s status=registered",
		    PQgetvalue(r, 0, 1));
		msg_fail(mc, MSG_PERM, "5.7.1 %s is registered at this courier; a "
		    "decline answers an invitation only",
		    PQgetvalue(r, 0, 1));
		goto out;
	}
	if (decline_record(mc, db, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0),
	    &purged, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 decline: %s", err);
		goto out;
	}
	msg_note(mc, " answer=decline address=%s status=declined refused=%d",
	    PQgetvalue(r, 0, 1), purged);
	msg_consume(mc);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int
decline_process(struct msg *mc)
{
	char code[TMAIL_DECLINE_CODELEN + 1];
	PGconn *db;

	if (!msg_for_service(mc)) {	/* someone else's: untouched */
		msg_note(mc, " answer=decline passed=not-for-service");
		return 0;
	}
	if (decline_code(mc, code, sizeof(code)) == -1) {
		msg_note(mc, " answer=decline status=refused");
		msg_fail(mc, MSG_PERM, "5.7.1 the Subject carries no whole "
		    "decline code");
		return -1;
	}
	if ((db = msg_db_get(mc, 1)) == NULL)
		return -1;
	return msg_db_end(mc, db, decline_take(mc, db, code));
}
