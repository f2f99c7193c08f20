/*
 * NAME
 *	acache.c - the account rows a private message reads, kept between
 *	messages while the database says nothing changed
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	struct acache *acache_new(void);
 *	void	acache_free(struct acache *ac);
 *	void	*acache_main(void *fgproc);
 *	void	acache_forget(struct acache *ac);
 *	int	acache_exec(const struct fg *fg, PGconn *db, const char *sql,
 *		    const char *key, PGresult **res, char *err);
 * DESCRIPTION
 *	Every private message reads the sender's account and key and each
 *	local recipient's account: the same few rows, message after
 *	message, a round trip and a statement each. acache_exec() runs
 *	sql (one parameter, key) like db_exec(), and keeps a copy of the
 *	result; the same sql and key are answered from the copy until
 *	anything changes. The database says when: sql/fg/012 has every
 *	change to accounts, account_keys and rekeys notify the channel
 *	tandem_accounts at commit, and acache_main(), a thread of its own
 *	with a connection of its own, listens there. Each notice moves
 *	the cache to a new epoch, and only rows of the current epoch are
 *	given, so one notice forgets every row (account changes are rare
 *	beside mail). A row is kept only when the epoch did not move
 *	while it was being read: a change that commits during the read
 *	cannot leave the older row behind.
 *
 *	The cache answers only while the listener listens, on the
 *	database the message's snapshot uses (database.conninfo of a
 *	reload), and only outside a transaction: inside one, a statement
 *	must see what the transaction wrote, so it goes to the database.
 *	When the listening connection is lost, refused or not yet made,
 *	every statement goes to the database, as without a cache; the
 *	listener tries again every few seconds, and moves to a new epoch
 *	before it answers again, since changes made meanwhile were not
 *	heard. acache_forget() moves to a new epoch at once: the milter
 *	calls it after committing a change of its own, so a message that
 *	follows at once does not wait for the notice.
 *
 *	What the cache keeps is what the database said: every check made
 *	of a row (status, key generation, certificates) is made again
 *	for each message. A change by another program is seen by the
 *	messages that begin after its notice arrives, a moment after its
 *	commit.
 * DIAGNOSTICS
 *	acache_new() returns NULL when out of memory. acache_exec()
 *	returns 0, or -1 with err set as db_exec() does. The listener
 *	logs "account cache status=listening" when it (re)starts to
 *	answer and "account cache status=off reason=..." when it stops.
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "log.h"
#include "milter.h"
#include "tandem.h"

#define ACACHE_SLOTS	1024
#define ACACHE_RETRY	5	/* seconds between tries to listen */

struct acache_ent {
	uint64_t	 ae_epoch;	/* 0: empty */
	const char	*ae_sql;	/* the caller's constant */
	char		*ae_key;
	PGresult	*ae_res;
};

struct acache {
	pthread_mutex_t		 ac_lock;
	uint64_t		 ac_epoch;
	char			*ac_conninfo;	/* listening on it; NULL: not */
	struct acache_ent	 ac_ent[ACACHE_SLOTS];
};

struct acache *
acache_new(void)
{
	struct acache *ac;

	if ((ac = calloc(1, sizeof(*ac))) == NULL)
		return NULL;
	pthread_mutex_init(&ac->ac_lock, NULL);
	ac->ac_epoch = 1;
	return ac;
}

static void
acache_drop(struct acache_ent *ae)
{
	free(ae->ae_key);
	PQclear(ae->ae_res);
	memset(ae, 0, sizeof(*ae));
}

void
acache_free(struct acache *ac)
{
	size_t i;

	if (ac == NULL)
		return;
	for (i = 0; i < ACACHE_SLOTS; i++)
		acache_drop(&ac->ac_ent[i]);
	free(ac->ac_conninfo);
	pthread_mutex_destroy(&ac->ac_lock);
	free(ac);
}

void
acache_forget(struct acache *ac)
{
	pthread_mutex_lock(&ac->ac_lock);
	ac->ac_epoch++;
	pthread_mutex_unlock(&ac->ac_lock);
}

/* Listening on conninfo, or not (conninfo NULL): a new epoch. */
static void
acache_set(struct acache *ac, const char *conninfo)
{
	char *c = conninfo != NULL ? strdup(conninfo) : NULL;

	pthread_mutex_lock(&ac->ac_lock);
	ac->ac_epoch++;
	free(ac->ac_conninfo);
	ac->ac_conninfo = c;
	pthread_mutex_unlock(&ac->ac_lock);
}

/* FNV-1a of the statement and the key. */
static size_t
acache_slot(const char *sql, const char *key)
{
	uint64_t h = 14695981039346656037ULL;
	const char *s;

	for (s = sql; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h = (h ^ 0xff) * 1099511628211ULL;
	for (s = key; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(h % ACACHE_SLOTS);
}

int
acache_exec(const struct fg *fg, PGconn *db, const char *sql,
    const char *key, PGresult **res, char *err)
{
	struct acache *ac = fg->fg_proc->fp_acache;
	struct acache_ent *ae;
	const char *p[1] = { key };
	PGresult *copy;
	uint64_t epoch = 0;
	size_t slot;

	*res = NULL;
	if (ac == NULL || PQtransactionStatus(db) != PQTRANS_IDLE)
		return db_exec(db, sql, 1, p, NULL, res, err);
	slot = acache_slot(sql, key);
	ae = &ac->ac_ent[slot];
	pthread_mutex_lock(&ac->ac_lock);
	if (ac->ac_conninfo != NULL && strcmp(ac->ac_conninfo,
	    fg->fg_conf->cf_conninfo) == 0) {
		epoch = ac->ac_epoch;
		if (ae->ae_epoch == epoch && strcmp(ae->ae_sql, sql) == 0 &&
		    strcmp(ae->ae_key, key) == 0)
			*res = PQcopyResult(ae->ae_res, PG_COPYRES_ATTRS |
			    PG_COPYRES_TUPLES);
	}
	pthread_mutex_unlock(&ac->ac_lock);
	if (*res != NULL)
		return 0;
	if (db_exec(db, sql, 1, p, NULL, res, err) == -1)
		return -1;
	if (epoch == 0 || (copy = PQcopyResult(*res, PG_COPYRES_ATTRS |
	    PG_COPYRES_TUPLES)) == NULL)
		return 0;
	pthread_mutex_lock(&ac->ac_lock);
	if (ac->ac_epoch == epoch && ac->ac_conninfo != NULL &&
	    strcmp(ac->ac_conninfo, fg->fg_conf->cf_conninfo) == 0) {
		char *k = strdup(key);

		if (k != NULL) {
			acache_drop(ae);
			ae->ae_epoch = epoch;
			ae->ae_sql = sql;
			ae->ae_key = k;
			ae->ae_res = copy;
			copy = NULL;
		}
	}
	pthread_mutex_unlock(&ac->ac_lock);
	PQclear(copy);
	return 0;
}

/* A listening connection to conninfo, or NULL with err set. */
static PGconn *
acache_listen(const char *conninfo, char *err)
{
	static const char *const keys[] = { "dbname", "application_name",
	    NULL };
	const char *vals[] = { conninfo, "tandem-milter listener", NULL };
	PGconn *c;
	PGresult *r;

	c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		tn_err(err, "%s", PQerrorMessage(c));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(c);
		return NULL;
	}
	r = PQexec(c, "LISTEN tandem_accounts");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		tn_err(err, "LISTEN: %s", PQresultErrorMessage(r));
		err[strcspn(err, "\n")] = '\0';
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

/*
 * The listener: connects to the database of the current snapshot,
 * listens, and moves to a new epoch at each notice; reconnects when a
 * reload names another database or the connection is lost. Ends when
 * fp_stop is set (within a second).
 */
void *
acache_main(void *arg)
{
	struct fgproc *fp = arg;
	struct acache *ac = fp->fp_acache;
	struct fg *fg;
	struct pollfd pfd;
	PGnotify *n;
	PGconn *c = NULL;
	char err[TN_ERRLEN], *want = NULL, *have = NULL;
	time_t next = 0;
	int heard, ok, said_off = 0;

	while (!fp->fp_stop) {
		fg = fg_hold(fp);
		free(want);
		want = strdup(fg->fg_conf->cf_conninfo);
		fg_release(fg);
		if (want == NULL) {
			sleep(1);
			continue;
		}
		if (c != NULL && strcmp(want, have) != 0) {
			acache_set(ac, NULL);	/* another database now */
			PQfinish(c);
			c = NULL;
		}
		if (c == NULL) {
			if (time(NULL) < next) {
				sleep(1);
				continue;
			}
			if ((c = acache_listen(want, err)) == NULL) {
				if (!said_off)
					log_warn("account cache status=off "
					    "reason=\"%s\"; each message "
					    "reads the database", err);
				said_off = 1;
				next = time(NULL) + ACACHE_RETRY;
				continue;
			}
			free(have);
			have = strdup(want);
			if (have == NULL) {
				PQfinish(c);
				c = NULL;
				continue;
			}
			acache_set(ac, want);
			log_info("account cache status=listening");
			said_off = 0;
		}
		pfd.fd = PQsocket(c);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		ok = PQconsumeInput(c);
		heard = 0;
		while ((n = PQnotifies(c)) != NULL) {
			PQfreemem(n);
			heard = 1;
		}
		if (heard)
			acache_forget(ac);
		if (!ok || PQstatus(c) != CONNECTION_OK) {
			acache_set(ac, NULL);
			tn_err(err, "%s", PQerrorMessage(c));
			err[strcspn(err, "\n")] = '\0';
			log_warn("account cache status=off reason=\"listening "
			    "connection lost: %s\"; each message reads the "
			    "database", err);
			said_off = 1;
			PQfinish(c);
			c = NULL;
			next = time(NULL) + 1;
		}
	}
	acache_set(ac, NULL);
	PQfinish(c);
	free(want);
	free(have);
	return NULL;
}
