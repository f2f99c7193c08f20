/*
 * NAME
 *	db.h - one way to run SQL on PostgreSQL, for every element
 * SYNOPSIS
 *	#include "db.h"
 *
 *	int	db_exec(PGconn *db, const char *sql, int n,
 *		    const char *const *vals, const int *lens,
 *		    PGresult **res, char *err);
 *	int	db_run(PGconn *db, const char *sql, int n,
 *		    const char *const *vals, char *err);
 *	int	db_one(PGconn *db, const char *sql, int n,
 *		    const char *const *vals, char *buf, size_t buflen,
 *		    char *err);
 *	int	db_begin(PGconn *db, char *err);
 *	int	db_commit(PGconn *db, char *err);
 *	void	db_rollback(PGconn *db);
 *	int	db_down(PGconn *db);
 *	int	db_cache(PGconn *db);
 *	int	db_schema_needed(const char *element);
 *	int	db_schema_check(PGconn *db, const char *element, char *err);
 *	int	db_schema_check_at(const char *conninfo, const char *element,
 *		    char *err);
 * DESCRIPTION
 *	The milter, the policy daemon and tandemctl speak SQL through
 *	these, always with $n placeholders, one statement at a time
 *	(tandemctl's migration files alone go through PQexec()):
 *	PQexecParams(), or on a connection given to db_cache() a
 *	prepared statement. The caller owns db, opens and closes it.
 *
 *	db_exec() runs sql with n parameters vals (NULL is SQL NULL).
 *	Parameter i is sent binary, lens[i] bytes, when lens is not NULL
 *	and lens[i] > 0, else as NUL-terminated text; results come back
 *	as text (bytea hex-escaped: PQunescapeBytea()). On success
 *	(PGRES_COMMAND_OK or PGRES_TUPLES_OK) *res, when res is not
 *	NULL, is the result, to be passed to PQclear(). A statement
 *	that fails on a connection that was idle (outside any
 *	transaction) and is now CONNECTION_BAD, such as the first one
 *	after the server restarted, is run once more after PQreset();
 *	inside a transaction nothing is retried, the caller rolls back.
 *
 *	db_run() is db_exec() with text parameters, for a statement
 *	whose result does not matter.
 *
 *	db_one() runs a statement with text parameters and copies
 *	column 0 of its first row, when buf is not NULL, into buf
 *	(buflen bytes, cut to fit, NUL-terminated).
 *
 *	db_begin() and db_commit() run BEGIN and COMMIT; a COMMIT that
 *	the server answers ROLLBACK (the transaction had failed) is a
 *	failure. db_rollback() rolls back the transaction in progress,
 *	if there is one, and says nothing when that fails: the server
 *	drops it with the connection anyway.
 *
 *	db_down() is 1 when db is NULL or not CONNECTION_OK: the failure
 *	came from a lost database, the caller should answer "try again
 *	later".
 *
 *	db_cache() gives db a statement cache: from then on each
 *	statement text run on it is prepared (PQprepare()) the first
 *	time, and run by name (PQexecPrepared()) each time, which spares
 *	the server parsing and planning it again; the first run costs
 *	one more round trip. The cache lives as long as the session: a
 *	new backend (PQreset(), a reconnect) empties it at its first use,
 *	PQfinish() frees it. It holds 64 statements;
 *	any others run unnamed, as without a cache. A server that has
 *	lost a statement the cache had (a connection pooler in between,
 *	DISCARD ALL) turns the cache off for that connection: outside a
 *	transaction the statement runs again unnamed, inside one it
 *	fails as any statement does (the caller rolls back). Nothing is
 *	ever tried in order to find out whether a statement is prepared.
 *	For a daemon's connections that run the same statements again
 *	and again, not for a database whose schema changes meanwhile.
 *
 *	db_schema_needed() is the newest migration this build ships for
 *	element ("fg" or "bg"): the last of sql/fg or sql/bg listed in
 *	sql/local.mk, taken at build time (schema.h, generated).
 *	db_schema_check() compares it with the newest one applied to db
 *	(schema_migrations); a daemon calls it once it is connected and
 *	refuses to run on a mismatch. db_schema_check_at() connects to
 *	conninfo, checks and disconnects, for a daemon's start-up.
 * DIAGNOSTICS
 *	db_exec(), db_run(), db_begin() and db_commit() return 0, or -1
 *	with *res NULL and "database: " and the first line of the
 *	server's message (or of libpq's, when the server said nothing)
 *	in err, a buffer of TN_ERRLEN bytes. db_one() returns 1 when
 *	there is a row, 0 when there is none, -1 the same way. Nothing
 *	is logged or printed. db_schema_check() and db_schema_check_at()
 *	return 0 when the versions match, 1 when the database cannot be
 *	reached (check again at the next connection), -1 with err saying
 *	which version the database has, which the build needs and what
 *	to do.
 */
#ifndef TANDEM_DB_H
#define TANDEM_DB_H

#include <stddef.h>

#include <libpq-fe.h>

int	db_exec(PGconn *, const char *, int, const char *const *,
	    const int *, PGresult **, char *);
int	db_run(PGconn *, const char *, int, const char *const *, char *);
int	db_one(PGconn *, const char *, int, const char *const *, char *,
	    size_t, char *);
int	db_begin(PGconn *, char *);
int	db_commit(PGconn *, char *);
void	db_rollback(PGconn *);
int	db_down(PGconn *);
int	db_cache(PGconn *);
int	db_schema_needed(const char *);
int	db_schema_check(PGconn *, const char *, char *);
int	db_schema_check_at(const char *, const char *, char *);

#endif
