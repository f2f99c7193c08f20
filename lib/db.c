/*
 * NAME
 *	db.c - one way to run SQL on PostgreSQL, for every element
 * DESCRIPTION
 *	See db.h. The formats of the parameters are allocated per call,
 *	only when some may be binary (lens not NULL): a statement takes
 *	any number of parameters.
 *
 *	The statement cache of a connection (db_cache()) is libpq
 *	instance data of an event procedure, db_event(), which frees it
 *	with the connection (PQfinish()). It is for the backend whose PID
 *	it holds: a new session (PQreset(), a reconnect) forgot every
 *	statement, and the cache is emptied at the first use after it.
 *	Statement i is named "tn_i".
 * DIAGNOSTICS
 *	See db.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-events.h>

#include "db.h"
#include "schema.h"
#include "tandem.h"

#define DB_NSTMT	64	/* statements prepared per connection, at most */

struct db_stmt {
	unsigned long	 ds_hash;
	char		*ds_sql;
};

struct db_cache {
	int		 dc_pid;	/* the backend they live in */
	int		 dc_off;	/* the server lost one: never again */
	size_t		 dc_n;
	struct db_stmt	 dc_stmt[DB_NSTMT];
};

static void
db_cache_clear(struct db_cache *dc)
{
	size_t i;

	if (dc == NULL)
		return;
	for (i = 0; i < dc->dc_n; i++)
		free(dc->dc_stmt[i].ds_sql);
	dc->dc_n = 0;
	dc->dc_pid = 0;
}

static int
db_event(PGEventId id, void *info, void *pass)
{
	struct db_cache *dc;

	(void)pass;
	if (id == PGEVT_CONNDESTROY) {
		dc = PQinstanceData(((PGEventConnDestroy *)info)->conn,
		    db_event);
		db_cache_clear(dc);
		free(dc);
	}
	return 1;
}

int
db_cache(PGconn *db)
{
	struct db_cache *dc;

	if (db == NULL)
		return -1;
	if (PQinstanceData(db, db_event) != NULL)
		return 0;
	if ((dc = calloc(1, sizeof(*dc))) == NULL)
		return -1;
	if (!PQregisterEventProc(db, db_event, "tandem statements", NULL)) {
		free(dc);
		return -1;
	}
	if (!PQsetInstanceData(db, db_event, dc)) {
		free(dc);	/* cannot happen: registered just above */
		return -1;
	}
	return 0;
}

static unsigned long
db_hash(const char *s)
{
	unsigned long h = 2166136261UL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619UL;
	return h;
}

static int
db_ok(const PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	return r != NULL && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

/* "database: " and the first line of what the server (or libpq) said. */
static void
db_error(PGconn *db, const PGresult *r, char *err)
{
	const char *m = NULL;
	size_t len;

	if (r != NULL)
		m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	if ((m == NULL || *m == '\0') && r != NULL)
		m = PQresultErrorMessage(r);
	if (m == NULL || *m == '\0')
		m = PQerrorMessage(db);
	if ((m == NULL || *m == '\0') && r != NULL)
		m = PQresStatus(PQresultStatus(r));
	if (m == NULL || *m == '\0')
		m = "out of memory";
	if ((len = strcspn(m, "\n")) > 200)
		len = 200;
	tn_err(err, "database: %.*s", (int)len, m);
}

/*
 * Did the server lose a statement the cache says it has (a pooler in
 * between that changes sessions, a DISCARD ALL)? Then the cache is
 * off for this connection from now on.
 */
static int
db_lost(struct db_cache *dc, const PGresult *r)
{
	const char *st;

	if (r == NULL || (st = PQresultErrorField(r,
	    PG_DIAG_SQLSTATE)) == NULL)
		return 0;
	if (strcmp(st, "26000") != 0 && strcmp(st, "42P05") != 0)
		return 0;
	dc->dc_off = 1;
	return 1;
}

/*
 * sql run on db: with a cache, as the statement prepared for it
 * (prepared on first use: one more round trip, once), else unnamed
 * (PQexecParams()). A failed preparation's result stands for the
 * statement's. *lost is set when the server did not have a statement
 * the cache had (db_lost()).
 */
static PGresult *
db_send(PGconn *db, const char *sql, int n, const char *const *vals,
    const int *lens, const int *fmts, int *lost)
{
	struct db_cache *dc = PQinstanceData(db, db_event);
	char name[32], *copy;
	unsigned long h;
	PGresult *r;
	size_t i;

	*lost = 0;
	if (dc == NULL || dc->dc_off || PQbackendPID(db) == 0)
		return PQexecParams(db, sql, n, NULL, vals, lens, fmts, 0);
	if (dc->dc_pid != PQbackendPID(db)) {	/* a new session */
		db_cache_clear(dc);
		dc->dc_pid = PQbackendPID(db);
	}
	h = db_hash(sql);
	for (i = 0; i < dc->dc_n; i++)
		if (dc->dc_stmt[i].ds_hash == h &&
		    strcmp(dc->dc_stmt[i].ds_sql, sql) == 0)
			break;
	snprintf(name, sizeof(name), "tn_%zu", i);
	if (i == dc->dc_n) {
		if (i == DB_NSTMT || (copy = strdup(sql)) == NULL)
			return PQexecParams(db, sql, n, NULL, vals, lens,
			    fmts, 0);
		r = PQprepare(db, name, sql, 0, NULL);
		if (!db_ok(r)) {
			free(copy);
			*lost = db_lost(dc, r);
			return r;
		}
		PQclear(r);
		dc->dc_stmt[i].ds_hash = h;
		dc->dc_stmt[i].ds_sql = copy;
		dc->dc_n++;
	}
	r = PQexecPrepared(db, name, n, vals, lens, fmts, 0);
	if (!db_ok(r))
		*lost = db_lost(dc, r);
	return r;
}

int
db_exec(PGconn *db, const char *sql, int n, const char *const *vals,
    const int *lens, PGresult **res, char *err)
{
	PGresult *r = NULL;
	int *fmts = NULL, i, idle, lost, rc = -1;

	if (res != NULL)
		*res = NULL;
	if (lens != NULL && n > 0) {
		if ((fmts = calloc((size_t)n, sizeof(*fmts))) == NULL) {
			tn_err(err, "database: out of memory");
			goto out;
		}
		for (i = 0; i < n; i++)
			fmts[i] = lens[i] > 0;
	}
	idle = PQtransactionStatus(db) == PQTRANS_IDLE;
	r = db_send(db, sql, n, vals, lens, fmts, &lost);
	if (!db_ok(r) && idle && PQstatus(db) == CONNECTION_BAD) {
		/* Lost outside a transaction: nothing to redo but this. */
		PQclear(r);
		PQreset(db);
		r = db_send(db, sql, n, vals, lens, fmts, &lost);
	}
	if (!db_ok(r) && idle && lost) {
		/* The cache is off now: the statement unnamed, once. */
		PQclear(r);
		r = db_send(db, sql, n, vals, lens, fmts, &lost);
	}
	if (!db_ok(r)) {
		db_error(db, r, err);
		goto out;
	}
	if (res != NULL) {
		*res = r;
		r = NULL;
	}
	rc = 0;
out:
	PQclear(r);
	free(fmts);
	return rc;
}

int
db_run(PGconn *db, const char *sql, int n, const char *const *vals,
    char *err)
{
	return db_exec(db, sql, n, vals, NULL, NULL, err);
}

int
db_one(PGconn *db, const char *sql, int n, const char *const *vals,
    char *buf, size_t buflen, char *err)
{
	PGresult *r;
	int rc;

	if (db_exec(db, sql, n, vals, NULL, &r, err) == -1)
		return -1;
	rc = PQntuples(r) > 0;
	if (rc && buf != NULL && buflen > 0)
		snprintf(buf, buflen, "%s", PQnfields(r) > 0 ?
		    PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return rc;
}

int
db_begin(PGconn *db, char *err)
{
	return db_run(db, "BEGIN", 0, NULL, err);
}

int
db_commit(PGconn *db, char *err)
{
	PGresult *r;
	int rc = -1;

	if (db_exec(db, "COMMIT", 0, NULL, NULL, &r, err) == -1)
		return -1;
	/* A COMMIT of a failed transaction answers ROLLBACK. */
	if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
		tn_err(err, "database: the transaction had failed and was "
		    "rolled back");
	else
		rc = 0;
	PQclear(r);
	return rc;
}

void
db_rollback(PGconn *db)
{
	PGTransactionStatusType ts = PQtransactionStatus(db);
	char err[TN_ERRLEN];

	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
		(void)db_run(db, "ROLLBACK", 0, NULL, err);
}

int
db_down(PGconn *db)
{
	return db == NULL || PQstatus(db) != CONNECTION_OK;
}

/* The newest migration this build ships for element, 0 if unknown. */
int
db_schema_needed(const char *element)
{
	if (strcmp(element, "fg") == 0)
		return DB_SCHEMA_FG;
	if (strcmp(element, "bg") == 0)
		return DB_SCHEMA_BG;
	return 0;
}

int
db_schema_check(PGconn *db, const char *element, char *err)
{
	const char *params[1] = { element };
	char buf[32], why[200];
	int need = db_schema_needed(element), have;

	if (db_down(db))
		return 1;
	if (db_one(db, "SELECT to_regclass('schema_migrations') IS NOT NULL",
	    0, NULL, buf, sizeof(buf), err) == -1)
		return db_down(db) ? 1 : -1;
	if (strcmp(buf, "t") != 0) {
		tn_err(err, "database %s schema not migrated, this build "
		    "needs %03d: run tandemctl db migrate --%s", element, need,
		    element);
		return -1;
	}
	if (db_one(db, "SELECT coalesce(max(version), 0) FROM "
	    "schema_migrations WHERE element = $1", 1, params, buf,
	    sizeof(buf), err) == -1) {
		if (db_down(db))
			return 1;
		snprintf(why, sizeof(why), "%s", err);
		tn_err(err, "database %s schema: cannot read its version "
		    "(%s): run tandemctl db migrate --%s", element, why,
		    element);
		return -1;
	}
	have = atoi(buf);
	if (have < need) {
		tn_err(err, "database %s schema at %03d, this build needs "
		    "%03d: run tandemctl db migrate --%s", element, have, need,
		    element);
		return -1;
	}
	if (have > need) {
		tn_err(err, "database %s schema at %03d, ahead of this build, "
		    "which needs %03d: install the build that migrated it",
		    element, have, need);
		return -1;
	}
	return 0;
}

int
db_schema_check_at(const char *conninfo, const char *element, char *err)
{
	PGconn *db;
	int rc;

	db = PQconnectdb(conninfo);
	rc = db_schema_check(db, element, err);
	PQfinish(db);
	return rc;
}
