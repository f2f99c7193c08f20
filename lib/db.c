/*
 * NAME
 *	db.c - one way to run SQL on PostgreSQL, for every element
 * DESCRIPTION
 *	See db.h. The formats of the parameters are allocated per call,
 *	only when some may be binary (lens not NULL): a statement takes
 *	any number of parameters.
 * DIAGNOSTICS
 *	See db.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "schema.h"
#include "tandem.h"

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

int
db_exec(PGconn *db, const char *sql, int n, const char *const *vals,
    const int *lens, PGresult **res, char *err)
{
	PGresult *r = NULL;
	int *fmts = NULL, i, idle, rc = -1;

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
	r = PQexecParams(db, sql, n, NULL, vals, lens, fmts, 0);
	if (!db_ok(r) && idle && PQstatus(db) == CONNECTION_BAD) {
		/* Lost outside a transaction: nothing to redo but this. */
		PQclear(r);
		PQreset(db);
		r = PQexecParams(db, sql, n, NULL, vals, lens, fmts, 0);
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
