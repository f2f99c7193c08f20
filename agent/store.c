/*
 * NAME
 *	store.c - the agent's local store (SQLite)
 * DESCRIPTION
 *	See agent.h. The folder is created 0700 and the database file
 *	0600. Values are text: PEM for keys and certificates, the
 *	private key always encrypted (PKCS#8, scrypt) before it gets
 *	here.
 *
 *	Table arms keeps the ARM records fetched from the background,
 *	by message id; the record holds the content key, so the file
 *	stays 0600. store_arm_put() adds one unless the id is known
 *	(fetch is idempotent). store_arm_get() sets *text (free()) and
 *	*state: 0 unknown id, 1 present, 2 forgotten (expired: the
 *	key was deleted and text is NULL), 3 revoked by its sender (text
 *	NULL). store_arm_forget() deletes the record's key and keeps the
 *	id, so that a later fetch of the same ARM does not bring the key
 *	back; store_arm_revoke() does the same and also records the id in
 *	table revoked.
 *
 *	Every connection sets PRAGMA secure_delete = ON (SQLite's own
 *	default is off, though some distributions build it on): what is
 *	deleted or overwritten, a forgotten content key or a replaced
 *	private key, is zeroed in the database file, not left in free
 *	space. The rollback journal, unlinked at each commit, is not
 *	covered.
 * DIAGNOSTICS
 *	0 or -1 with a reason in err; store_open() NULL on failure.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tandem.h"
#include "cms.h"
#include "agent.h"

struct store {
	sqlite3	*st_db;
};

static const char store_schema[] =
    "CREATE TABLE IF NOT EXISTS config ("
    " name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS opens ("
    " msgid TEXT PRIMARY KEY, count INTEGER NOT NULL,"
    " last INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS arms ("
    " msgid TEXT PRIMARY KEY, arm TEXT, fetched INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS revoked ("
    " msgid TEXT PRIMARY KEY, at INTEGER NOT NULL);";

int
store_path(const char *dir, const char *name, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len)
		return -1;
	return 0;
}

/* Create the database file 0600 before SQLite opens it. */
static int
store_create(const char *dir, const char *path, char *err)
{
	int fd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		tn_err(err, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		tn_err(err, "%s: %s", path, errno == EEXIST ?
		    "a store already exists here" : strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

struct store *
store_open(const char *dir, int create, char *err)
{
	struct store *st = NULL;
	char path[1024], *msg = NULL;

	if (store_path(dir, "store.db", path, sizeof(path)) == -1) {
		tn_err(err, "%s: path too long", dir);
		return NULL;
	}
	if (create && store_create(dir, path, err) == -1)
		return NULL;
	if (!create && access(path, R_OK | W_OK) == -1) {
		tn_err(err, "%s: %s (run \"tandem init\" first)", path,
		    strerror(errno));
		return NULL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		tn_err(err, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &st->st_db, SQLITE_OPEN_READWRITE,
	    NULL) != SQLITE_OK ||
	    sqlite3_exec(st->st_db, "PRAGMA secure_delete = ON", NULL, NULL,
	    &msg) != SQLITE_OK ||
	    sqlite3_exec(st->st_db, store_schema, NULL, NULL, &msg) !=
	    SQLITE_OK) {
		tn_err(err, "%s: %s", path, msg ? msg :
		    sqlite3_errmsg(st->st_db));
		sqlite3_free(msg);
		store_close(st);
		return NULL;
	}
	return st;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	sqlite3_close(st->st_db);
	free(st);
}

/* Prepare sql and bind the text arguments, NULL-terminated. */
static sqlite3_stmt *
store_prepare(struct store *st, const char *sql, const char *a,
    const char *b, char *err)
{
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(st->st_db, sql, -1, &stmt, NULL) != SQLITE_OK ||
	    (a != NULL && sqlite3_bind_text(stmt, 1, a, -1,
	    SQLITE_STATIC) != SQLITE_OK) ||
	    (b != NULL && sqlite3_bind_text(stmt, 2, b, -1,
	    SQLITE_STATIC) != SQLITE_OK)) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		sqlite3_finalize(stmt);
		return NULL;
	}
	return stmt;
}

static int
store_run(struct store *st, const char *sql, const char *a, const char *b,
    char *err)
{
	sqlite3_stmt *stmt;
	int rc = 0;

	if ((stmt = store_prepare(st, sql, a, b, err)) == NULL)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		rc = -1;
	}
	sqlite3_finalize(stmt);
	return rc;
}

int
store_put(struct store *st, const char *name, const char *value, char *err)
{
	return store_run(st, "INSERT OR REPLACE INTO config (name, value) "
	    "VALUES (?1, ?2)", name, value, err);
}

int
store_get(struct store *st, const char *name, char **val, char *err)
{
	sqlite3_stmt *stmt;
	const unsigned char *t;
	int rc = -1, step;

	*val = NULL;
	if ((stmt = store_prepare(st, "SELECT value FROM config WHERE "
	    "name = ?1", name, NULL, err)) == NULL)
		return -1;
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		t = sqlite3_column_text(stmt, 0);
		if (t == NULL || (*val = strdup((const char *)t)) == NULL) {
			tn_err(err, "store: out of memory");
			goto out;
		}
	} else if (step != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

int
store_opens(struct store *st, const char *msgid, unsigned int *n, char *err)
{
	sqlite3_stmt *stmt;
	int rc = -1, step;

	*n = 0;
	if ((stmt = store_prepare(st, "SELECT count FROM opens WHERE "
	    "msgid = ?1", msgid, NULL, err)) == NULL)
		return -1;
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		*n = (unsigned int)sqlite3_column_int64(stmt, 0);
	else if (step != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

int
store_count_open(struct store *st, const char *msgid, char *err)
{
	return store_run(st, "INSERT INTO opens (msgid, count, last) "
	    "VALUES (?1, 1, strftime('%s','now')) ON CONFLICT (msgid) DO "
	    "UPDATE SET count = count + 1, last = strftime('%s','now')",
	    msgid, NULL, err);
}

int
store_arm_put(struct store *st, const char *msgid, const char *text,
    char *err)
{
	return store_run(st, "INSERT OR IGNORE INTO arms (msgid, arm, "
	    "fetched) VALUES (?1, ?2, strftime('%s','now'))", msgid, text,
	    err);
}

int
store_arm_get(struct store *st, const char *msgid, char **text, int *state,
    char *err)
{
	sqlite3_stmt *stmt;
	const unsigned char *t;
	int rc = -1, step;

	*text = NULL;
	*state = 0;
	if ((stmt = store_prepare(st, "SELECT arm, EXISTS (SELECT 1 FROM "
	    "revoked WHERE msgid = ?1) FROM arms WHERE msgid = ?1", msgid,
	    NULL, err)) == NULL)
		return -1;
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		*state = sqlite3_column_int(stmt, 1) ? 3 : 2;
		if ((t = sqlite3_column_text(stmt, 0)) != NULL) {
			*state = 1;
			if ((*text = strdup((const char *)t)) == NULL) {
				tn_err(err, "store: out of memory");
				goto out;
			}
		}
	} else if (step != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

int
store_arm_forget(struct store *st, const char *msgid, char *err)
{
	return store_run(st, "INSERT INTO arms (msgid, arm, fetched) "
	    "VALUES (?1, NULL, strftime('%s','now')) ON CONFLICT (msgid) "
	    "DO UPDATE SET arm = NULL", msgid, NULL, err);
}

int
store_arm_revoke(struct store *st, const char *msgid, char *err)
{
	if (store_run(st, "BEGIN", NULL, NULL, err) == -1)
		return -1;
	if (store_arm_forget(st, msgid, err) == -1 ||
	    store_run(st, "INSERT OR IGNORE INTO revoked (msgid, at) VALUES "
	    "(?1, strftime('%s','now'))", msgid, NULL, err) == -1 ||
	    store_run(st, "COMMIT", NULL, NULL, err) == -1) {
		sqlite3_exec(st->st_db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}
