/*
 * NAME
 *	pool.c - a small pool of PostgreSQL connections for the milter
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	struct pool *pool_new(const char *conninfo, size_t max);
 *	void	pool_free(struct pool *po);
 *	PGconn	*pool_get(struct pool *po, int *fresh);
 *	void	pool_put(struct pool *po, PGconn *db);
 * DESCRIPTION
 *	The milter threads share up to max idle connections; a message
 *	takes one with pool_get() and gives it back with pool_put(). The
 *	number in use is bounded by the caller (foreground.max_messages
 *	busy slots), so pool_get() never waits: with no idle connection
 *	it opens a new one, and *fresh tells which it was.
 *
 *	pool_get() returns NULL only when out of memory; otherwise the
 *	caller checks PQstatus(). An idle connection that the server has
 *	closed meanwhile (a restarted database) shows it by being
 *	readable: pool_get() looks without waiting and closes such ones.
 *	One can still be closed between that look and its first
 *	statement, which then reconnects once (db_exec(), outside a
 *	transaction); if that fails too the caller should PQfinish() it
 *	and ask again when it can (never a lost message).
 *
 *	Each connection it opens has a statement cache (db_cache()): a
 *	message's statements are parsed and planned once per connection,
 *	not once per message.
 *
 *	pool_put() keeps db only when it is healthy, outside any
 *	transaction, and there is room; otherwise it closes it (an open
 *	transaction is rolled back). pool_put(po, NULL) does nothing.
 *	pool_free() closes every idle connection; pool_free(NULL) does
 *	nothing.
 * DIAGNOSTICS
 *	pool_new() returns NULL when out of memory.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "milter.h"

struct pool {
	pthread_mutex_t	 po_lock;
	char		*po_conninfo;
	PGconn		**po_idle;
	size_t		 po_nidle;
	size_t		 po_max;
	int		 po_schema_ok;	/* db_schema_check() passed */
};

struct pool *
pool_new(const char *conninfo, size_t max)
{
	struct pool *po;

	if ((po = calloc(1, sizeof(*po))) == NULL)
		return NULL;
	po->po_max = max;
	if ((po->po_conninfo = strdup(conninfo)) == NULL ||
	    (po->po_idle = calloc(max == 0 ? 1 : max,
	    sizeof(PGconn *))) == NULL) {
		free(po->po_conninfo);
		free(po);
		return NULL;
	}
	pthread_mutex_init(&po->po_lock, NULL);
	return po;
}

void
pool_free(struct pool *po)
{
	size_t i;

	if (po == NULL)
		return;
	for (i = 0; i < po->po_nidle; i++)
		PQfinish(po->po_idle[i]);
	pthread_mutex_destroy(&po->po_lock);
	free(po->po_idle);
	free(po->po_conninfo);
	free(po);
}

/*
 * Has the server closed this idle connection? An idle connection has
 * nothing to read unless the server went away (its last words, then
 * the end of the stream) or, rarely, sent a notice; look without
 * waiting, and give up on any that has something: a new connection
 * costs less than a message answered 451.
 */
static int
pool_dead(PGconn *db)
{
	struct pollfd pfd;

	pfd.fd = PQsocket(db);
	pfd.events = POLLIN;
	pfd.revents = 0;
	return pfd.fd < 0 || poll(&pfd, 1, 0) != 0;
}

/*
 * The first connection that works after a start with the database down
 * checks the schema version: a mismatch stops the milter (EX_CONFIG).
 */
static void
pool_schema(struct pool *po, PGconn *db)
{
	char err[TN_ERRLEN];
	int ok;

	pthread_mutex_lock(&po->po_lock);
	ok = po->po_schema_ok;
	pthread_mutex_unlock(&po->po_lock);
	if (ok)
		return;
	if (db_schema_check(db, "fg", err) == -1)
		log_fatal(EX_CONFIG, "%s", err);
	if (!db_down(db)) {
		pthread_mutex_lock(&po->po_lock);
		po->po_schema_ok = 1;
		pthread_mutex_unlock(&po->po_lock);
	}
}

PGconn *
pool_get(struct pool *po, int *fresh)
{
	PGconn *db;

	for (;;) {
		db = NULL;
		pthread_mutex_lock(&po->po_lock);
		if (po->po_nidle > 0)
			db = po->po_idle[--po->po_nidle];
		pthread_mutex_unlock(&po->po_lock);
		if (db == NULL || !pool_dead(db))
			break;
		PQfinish(db);
	}
	*fresh = db == NULL;
	if (db == NULL) {
		db = PQconnectdb(po->po_conninfo);
		(void)db_cache(db);	/* without one, slower, as well */
		pool_schema(po, db);
	}
	return db;
}

void
pool_put(struct pool *po, PGconn *db)
{
	int kept = 0;

	if (db == NULL)
		return;
	if (PQstatus(db) == CONNECTION_OK &&
	    PQtransactionStatus(db) == PQTRANS_IDLE) {
		pthread_mutex_lock(&po->po_lock);
		if (po->po_nidle < po->po_max) {
			po->po_idle[po->po_nidle++] = db;
			kept = 1;
		}
		pthread_mutex_unlock(&po->po_lock);
	}
	if (!kept)
		PQfinish(db);
}
