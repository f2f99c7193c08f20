/*
 * NAME
 *	transfer.c - tandemctl transfer: the operators' half of a
 *	registration transfer (doc/flows.md 9)
 * SYNOPSIS
 *	int	ctl_transfer(int argc, char **argv);
 * DESCRIPTION
 *	All four commands work on a foreground database.
 *
 *	tandemctl transfer expect --db FGCONNINFO [--address] A --from
 *	COURIER records, at the new courier, that A may come from COURIER
 *	(transfers: incoming, recorded). tandemctl transfer start --db
 *	FGCONNINFO [--address] A --to COURIER records, at the old
 *	courier, that the active account A goes to COURIER (outgoing,
 *	started), for the milters to carry on from (doc/flows.md 9 step
 *	3; their part is not built yet, doc/status.md). Neither moves
 *	anything alone. Each binds the transfer to the CA
 *	key of COURIER's foreground introduction (transfers.other_ca from
 *	introductions.courier_key), so that a message of the transfer is
 *	taken only from that courier whatever name another gives itself.
 *	Each prints "transfer A incoming from COURIER recorded" or
 *	"transfer A outgoing to COURIER started".
 *
 *	tandemctl transfer cancel --db FGCONNINFO [--address] A cancels
 *	the open transfer of A. At the new courier, a pending account the
 *	transfer made is closed, its open rekey cancelled, its keys
 *	retired and its relay rows withdrawn, so that nothing more of it
 *	reaches the agent. At the old courier the account stays as it is.
 *	At the old courier, a transfer whose notice went to the agent
 *	(rekeying) is cancelled only with --force, once the new courier
 *	cancelled it too; its notice, if not fetched yet, is withdrawn.
 *	Prints "transfer A cancelled".
 *
 *	tandemctl transfer list --db FGCONNINFO prints each open transfer,
 *	"ADDRESS DIRECTION COURIER STATE STARTED_AT", oldest first, the
 *	time in UTC as 2026-01-31T12:00:00Z.
 * DIAGNOSTICS
 *	64 usage, 65 a refused transfer (why on standard error), 69
 *	database unreachable, 70 database refused.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"

struct tr_opts {
	const char	*to_db;
	const char	*to_address;
	const char	*to_courier;
	int		 to_force;
};

/*
 * Parse "--db D [--address] A" and, with flag (the name of the courier
 * option, or NULL), "--from C" or "--to C". 0, or a sysexits status.
 */
static int
tr_opts(int argc, char **argv, const char *flag, int want_address,
    struct tr_opts *o)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "address", required_argument, NULL, 'a' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->to_db = optarg; break;
		case 'a': o->to_address = optarg; break;
		case 'F': o->to_force = 1; break;
		case 'f':
		case 't':
			if (flag == NULL || strcmp(flag, c == 'f' ? "from" :
			    "to") != 0)
				return ctl_fail(EX_USAGE, "transfer %s takes no "
				    "--%s", argv[0], c == 'f' ? "from" : "to");
			o->to_courier = optarg;
			break;
		default: return EX_USAGE;
		}
	}
	if (want_address && o->to_address == NULL && optind < argc)
		o->to_address = argv[optind++];
	if (optind != argc)
		return ctl_fail(EX_USAGE, "unexpected argument \"%s\"",
		    argv[optind]);
	if (o->to_db == NULL)
		return ctl_fail(EX_USAGE, "transfer %s needs --db FGCONNINFO",
		    argv[0]);
	if (want_address && (o->to_address == NULL ||
	    strchr(o->to_address, '@') == NULL ||
	    strpbrk(o->to_address, " \t\r\n") != NULL))
		return ctl_fail(EX_USAGE, "transfer %s needs an address "
		    "(local@domain)", argv[0]);
	if (flag != NULL && o->to_courier == NULL)
		return ctl_fail(EX_USAGE, "transfer %s needs --%s COURIER",
		    argv[0], flag);
	return 0;
}

/*
 * What refuses a new transfer of o->to_address here, in the open
 * transaction: one already open, and for an incoming one an account
 * this courier serves. 0, 1 after printing why, -1 on a database error.
 */
static int
tr_refused(PGconn *conn, const struct tr_opts *o, int incoming)
{
	const char *p[1] = { o->to_address };
	PGresult *res;
	int rc = -1;

	if ((res = ctl_sql(conn, "SELECT direction, other_courier, state "
	    "FROM transfers WHERE address = lower($1) AND state NOT IN "
	    "('complete', 'cancelled')", 1, p)) == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		ctl_fail(0, "%s: a transfer is already open (%s, %s %s)",
		    o->to_address, PQgetvalue(res, 0, 0),
		    strcmp(PQgetvalue(res, 0, 0), "incoming") == 0 ? "from" :
		    "to", PQgetvalue(res, 0, 1));
		PQclear(res);
		return 1;
	}
	PQclear(res);
	if (!incoming)
		return 0;
	if ((res = ctl_sql(conn, "SELECT status FROM accounts WHERE address "
	    "= lower($1) AND status IN ('invited', 'pending', 'active')", 1,
	    p)) == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		ctl_fail(0, "%s: this courier serves the address already "
		    "(account %s)", o->to_address, PQgetvalue(res, 0, 0));
		rc = 1;
	} else
		rc = 0;
	PQclear(res);
	return rc;
}

/* "transfer expect" and "transfer start". */
static int
tr_open(int argc, char **argv, int incoming)
{
	struct tr_opts o;
	const char *p[4];
	char key[65];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int status, ok = 0, r;

	if ((status = tr_opts(argc, argv, incoming ? "from" : "to", 1,
	    &o)) != 0)
		return status;
	status = EX_SOFTWARE;
	if ((conn = ctl_connect(o.to_db)) == NULL)
		return EX_UNAVAILABLE;
	if (ctl_begin(conn) == -1)
		goto out;
	if ((r = tr_refused(conn, &o, incoming)) != 0) {
		if (r == 1)
			status = EX_DATAERR;
		goto end;
	}
	p[0] = o.to_address;
	p[1] = o.to_courier;
	if ((res = ctl_sql(conn, "SELECT courier_key FROM introductions "
	    "WHERE courier = $1 AND element = 'fg' AND courier_key IS NOT "
	    "NULL", 1, p + 1)) == NULL)
		goto end;
	if (PQntuples(res) != 1 ||
	    strlen(PQgetvalue(res, 0, 0)) >= sizeof(key)) {
		status = ctl_fail(EX_DATAERR, "%s: no introduction of the "
		    "foreground of %s (tandemctl intro add)", o.to_address,
		    o.to_courier);
		goto end;
	}
	snprintf(key, sizeof(key), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;
	p[2] = key;
	p[3] = incoming ? "incoming" : "outgoing";
	if (!incoming) {
		PGresult *acct;

		if ((acct = ctl_sql(conn, "SELECT 1 FROM accounts WHERE "
		    "address = lower($1) AND status = 'active' AND agent_cert "
		    "IS NOT NULL", 1, p)) == NULL)
			goto end;
		r = PQntuples(acct);
		PQclear(acct);
		if (r != 1) {
			status = ctl_fail(EX_DATAERR, "%s: no active account "
			    "with an agent certificate", o.to_address);
			goto end;
		}
	}
	/*
	 * Another tandemctl may have opened one since tr_refused(): the
	 * insert waits for it and does nothing if it commits, and the
	 * transfer it opened is then the reason (read committed).
	 */
	if ((res = ctl_sql(conn, "INSERT INTO transfers (address, direction, "
	    "other_courier, state, other_ca) SELECT lower($1::text), $4::text, "
	    "$2::text, CASE $4::text WHEN 'incoming' THEN 'recorded' ELSE "
	    "'started' END, $3::text ON CONFLICT (address) WHERE state NOT IN "
	    "('complete', 'cancelled') DO NOTHING RETURNING address, state", 4,
	    p)) == NULL)
		goto end;
	if (PQntuples(res) == 0) {
		if ((r = tr_refused(conn, &o, 0)) == 0)
			ctl_fail(0, "%s: a transfer was opened and closed "
			    "meanwhile; try again", o.to_address);
		if (r != -1)
			status = EX_DATAERR;
		goto end;
	}
	printf("transfer %s %s %s %s %s\n", PQgetvalue(res, 0, 0), p[3],
	    incoming ? "from" : "to", o.to_courier, PQgetvalue(res, 0, 1));
	ok = 1;
end:
	if (ctl_end(conn, ok) == 0 && ok)
		status = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return status;
}

/* "transfer cancel": see the DESCRIPTION. */
static int
tr_cancel(int argc, char **argv)
{
	struct tr_opts o;
	const char *p[1];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int status, ok = 0;

	if ((status = tr_opts(argc, argv, NULL, 1, &o)) != 0)
		return status;
	status = EX_SOFTWARE;
	p[0] = o.to_address;
	if ((conn = ctl_connect(o.to_db)) == NULL)
		return EX_UNAVAILABLE;
	if (ctl_begin(conn) == -1)
		goto out;
	if ((res = ctl_sql(conn, "SELECT direction, state, other_courier "
	    "FROM transfers WHERE address = lower($1) AND state NOT IN "
	    "('complete', 'cancelled') FOR UPDATE", 1, p)) == NULL)
		goto end;
	if (PQntuples(res) != 1) {
		status = ctl_fail(EX_DATAERR, "%s: no open transfer",
		    o.to_address);
		goto end;
	}
	/*
	 * The notice naming the new courier is in the agent's mailbox: the
	 * agent may move all the same, and only both operators cancelling
	 * leaves it one courier (doc/flows.md 9, Cancel).
	 */
	if (strcmp(PQgetvalue(res, 0, 0), "outgoing") == 0 &&
	    strcmp(PQgetvalue(res, 0, 1), "rekeying") == 0 && !o.to_force) {
		status = ctl_fail(EX_DATAERR, "%s: the notice naming %s went "
		    "to the agent already; cancel the transfer at %s too, "
		    "then here with --force", o.to_address,
		    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 2));
		goto end;
	}
	PQclear(res);
	if ((res = ctl_sql(conn, "UPDATE transfers SET state = 'cancelled', "
	    "completed_at = now() WHERE address = lower($1) AND state NOT IN "
	    "('complete', 'cancelled') RETURNING direction, made_account, id",
	    1, p)) == NULL)
		goto end;
	if (strcmp(PQgetvalue(res, 0, 0), "outgoing") == 0) {
		const char *q[1] = { PQgetvalue(res, 0, 2) };
		PGresult *r2;

		/* The transfer's notice, if not fetched yet, is withdrawn. */
		if ((r2 = ctl_sql(conn, "DELETE FROM bg_relay b USING "
		    "transfers t WHERE t.id = $1 AND b.address = t.address AND "
		    "b.message_id = t.notice_id", 1, q)) == NULL)
			goto end;
		PQclear(r2);
	}
	if (strcmp(PQgetvalue(res, 0, 0), "incoming") == 0 &&
	    strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		PGresult *r2;

		/* The pending account this transfer made, and its rekey. */
		if ((r2 = ctl_sql(conn, "WITH a AS (UPDATE accounts SET status "
		    "= 'closed' WHERE address = lower($1) AND status = "
		    "'pending' RETURNING address), r AS (UPDATE rekeys SET "
		    "state = 'cancelled', completed_at = now() WHERE address "
		    "IN (SELECT address FROM a) AND state NOT IN ('complete', "
		    "'cancelled') RETURNING address), k AS (UPDATE "
		    "account_keys SET retired_at = now() WHERE address IN "
		    "(SELECT address FROM a) AND (retired_at IS NULL OR "
		    "retired_at > now()) RETURNING address) DELETE FROM "
		    "bg_relay WHERE address IN (SELECT address FROM a)", 1,
		    p)) == NULL)
			goto end;
		PQclear(r2);
	}
	printf("transfer %s cancelled\n", o.to_address);
	ok = 1;
end:
	if (ctl_end(conn, ok) == 0 && ok)
		status = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return status;
}

/* "transfer list": the open transfers. */
static int
tr_list(int argc, char **argv)
{
	struct tr_opts o;
	PGconn *conn;
	PGresult *res;
	int status, i;

	if ((status = tr_opts(argc, argv, NULL, 0, &o)) != 0)
		return status;
	if ((conn = ctl_connect(o.to_db)) == NULL)
		return EX_UNAVAILABLE;
	status = EX_SOFTWARE;
	if ((res = ctl_sql(conn, "SELECT address, direction, other_courier, "
	    "state, to_char(started_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM transfers WHERE state "
	    "NOT IN ('complete', 'cancelled') ORDER BY started_at, id", 0,
	    NULL)) != NULL) {
		for (i = 0; i < PQntuples(res); i++)
			printf("%s %s %s %s %s\n", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			    PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
		status = 0;
	}
	PQclear(res);
	PQfinish(conn);
	return status;
}

int
ctl_transfer(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "expect") == 0)
		return tr_open(argc - 1, argv + 1, 1);
	if (argc >= 2 && strcmp(argv[1], "start") == 0)
		return tr_open(argc - 1, argv + 1, 0);
	if (argc >= 2 && strcmp(argv[1], "cancel") == 0)
		return tr_cancel(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return tr_list(argc - 1, argv + 1);
	return ctl_fail(EX_USAGE, "transfer: give expect, start, cancel or "
	    "list");
}
