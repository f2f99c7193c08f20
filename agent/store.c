/*
 * NAME
 *	store.c - the agent's local store (SQLite)
 * DESCRIPTION
 *	See agent.h. The folder is created 0700 and the database file
 *	0600. Values are text: PEM for keys and certificates, the
 *	private key always encrypted (PKCS#8, scrypt) before it gets
 *	here.
 *
 *	Sealed at rest. store_unlock() opens the store key with the
 *	local password: a random 256-bit key kept in table vault wrapped
 *	with AES-256-GCM (vault.c) under a key derived from the password
 *	with scrypt (kdf, N, r, p and salt in the same row). A store
 *	without one (new, or written by an earlier version) gets one, the
 *	password first checked against the private key; and anything an
 *	earlier version kept in clear is sealed, all in one transaction,
 *	then the file is rewritten (store_scrub(): VACUUM, and a
 *	write-ahead log, if any, checkpointed and truncated). A wrong
 *	password returns -1 ("wrong password?") and writes nothing: the
 *	tables vault and opened are made by that transaction, not by
 *	store_open() (but for a new store). store_rewrap() wraps the store
 *	key again under another password (tandem passwd, in the caller's
 *	transaction: store_begin(), store_commit(), store_rollback()).
 *
 *	Table arms keeps the ARM records fetched from the background,
 *	by message id, each sealed under the store key with the message
 *	id as associated data (a row moved onto another id does not
 *	open); only the ids are in clear. store_arm_put() and
 *	store_arm_get() need the store unlocked; a row still in clear
 *	(put there by an earlier version) is read as it is until the next
 *	unlock seals it. store_arm_put() adds one unless the id is known
 *	(fetch is idempotent). store_arm_get() sets *text (free()) and
 *	*state: 0 unknown id, 1 present, 2 forgotten (expired: the
 *	key was deleted and text is NULL), 3 revoked by its sender (text
 *	NULL). store_arm_forget() deletes the record's key and keeps the
 *	id, so that a later fetch of the same ARM does not bring the key
 *	back; store_arm_revoke() does the same and also records the id in
 *	table revoked.
 *
 *	Table sent keeps what became of each recipient of each message
 *	sent: store_sent_add() records the recipients of a message
 *	just sent (state "sent", sent_at and at the time), keeping a row
 *	already there. store_sent_receipt() records a receipt's Event,
 *	Date and Reason for one recipient, adding the row when the
 *	message is not known (sent from another store, or before the
 *	table); *changed is 1 when the row was added or changed, 0 when
 *	it already said as much or more: a receipt replaces the state
 *	"sent", else only one with a later Date (on the same Date, a
 *	later event of delivered, opened, refused, expired, revoked),
 *	and never replaces revoked by expired (the foreground's purge of
 *	content whose key was destroyed). Seeing a receipt again thus
 *	changes nothing. store_sent_each() calls fn for each row of
 *	msgid (NULL: of every message), the messages in the order of
 *	their first date, the rows of one in the order they were
 *	recorded; the strings are the store's until fn returns.
 *
 *	store_install() makes the certificates given (chain NULL: none)
 *	the current ones of generation gen, "generation" included, in
 *	one transaction: registration's answer (register.c).
 *
 *	Table old_keys keeps the generations replaced by a rekey, for
 *	reading only: the encrypted key, the certificate, its chain and
 *	the courier-end certificate of each, and when it was retired.
 *	store_rekey_install() makes the next key of config (next-key,
 *	next-pubkey, next-generation, see rekey.c) the current one with
 *	the certificates given, in one transaction: the current key,
 *	cert, chain and courier-cert go into old_keys under the current
 *	generation (config "generation", 1 when absent: an agent set up
 *	by import), the next ones become current with the certificates
 *	as store_install() sets them, the next-* names are deleted and
 *	"rekey-complete-pending" is set to the new generation; also, when
 *	not NULL, is a NULL-terminated list of NAME, VALUE pairs set in
 *	the same transaction (VALUE NULL: NAME deleted), what a transfer
 *	moves with the keys.
 *	store_old_each() calls fn for each old
 *	generation, the newest first, until fn returns 1, and returns
 *	what fn last returned (0 or 1), -1 on a store error (the strings
 *	are the store's until fn returns).
 *	store_del() deletes a named value; an absent one is no error.
 *	store_old_key_put() replaces the encrypted key of generation gen
 *	(tandem passwd).
 *
 *	Table delivered keeps the message ids "tandem fetch --maildir"
 *	delivered (deliver.c), so that each goes there once:
 *	store_deliver_mark() records one (again: no change),
 *	store_delivered() sets *yes to 1 when it is recorded.
 *
 *	Table receipts keeps the read receipts owed (restrict.c): the
 *	message id and its sender (in clear, as table sent keeps them),
 *	the first open, and once told when and the background's answer.
 *	store_receipt_owe() records one at a first open (*first 1; an id
 *	already there is left as it is: a receipt is owed once),
 *	store_receipt_told() marks it told, store_receipt_state() sets
 *	*state (0 none, 1 owed, 2 told), store_receipt_each() calls fn
 *	for each not told yet, oldest first (fn may mark it told; -1 from
 *	fn stops the walk).
 *
 *	Counts of opens: "tandem open" counts without the password, so a
 *	count is sealed (table opened) under a key derived with HKDF from
 *	its message's own content key, the message id as associated data.
 *	store_opens() sets *n for ar's message (a count in clear in table
 *	opens, from an earlier version, is read too), store_count_open()
 *	adds one, in a transaction, and moves a count in clear to table
 *	opened. store_opened() sets *yes when the message was opened at
 *	all, which needs no key (a revoke's receipt, revoke.c). The
 *	upgrade seals a count in clear when the store has its ARM; when
 *	the ARM's key is already gone only "opened" is kept; without the
 *	ARM it stays until the message's next open.
 *
 *	Every connection sets PRAGMA secure_delete = ON (SQLite's own
 *	default is off, though some distributions build it on): what is
 *	deleted or overwritten, a forgotten content key or a replaced
 *	private key, is zeroed in the database file, not left in free
 *	space. The rollback journal, unlinked at each commit, is not
 *	zeroed; the journal of an upgrade holds the clear rows, which is
 *	why it is followed by store_scrub().
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

#include <openssl/crypto.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "pki.h"
#include "util.h"
#include "agent.h"

#define STORE_SCRYPT_N	32768
#define STORE_SCRYPT_R	8
#define STORE_SCRYPT_P	1
#define STORE_SALTLEN	16
#define STORE_KEY_AD	"tandem store key"
#define STORE_BUSY_MS	30000	/* another command holding the store */

struct store {
	sqlite3		*st_db;
	unsigned char	 st_key[VAULT_KEYLEN];	/* once unlocked */
	int		 st_unlocked;
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
    " msgid TEXT PRIMARY KEY, at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sent ("
    " msgid TEXT NOT NULL, recipient TEXT NOT NULL COLLATE NOCASE,"
    " sent_at INTEGER, state TEXT NOT NULL, at INTEGER NOT NULL,"
    " reason TEXT, PRIMARY KEY (msgid, recipient));"
    "CREATE TABLE IF NOT EXISTS old_keys ("
    " generation INTEGER PRIMARY KEY, key TEXT NOT NULL,"
    " cert TEXT NOT NULL, chain TEXT, courier_cert TEXT,"
    " retired INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS delivered ("
    " msgid TEXT PRIMARY KEY, at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS receipts ("
    " msgid TEXT PRIMARY KEY, sender TEXT NOT NULL,"
    " opened_at INTEGER NOT NULL, told_at INTEGER, outcome TEXT);";

/*
 * The tables of a sealed store: made with a new store, else by the
 * first unlock (or the first count of opens) in its transaction, so
 * that opening an older store with a wrong password writes nothing.
 */
static const char store_schema_sealed[] =
    "CREATE TABLE IF NOT EXISTS vault ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), kdf TEXT NOT NULL,"
    " n INTEGER NOT NULL, r INTEGER NOT NULL, p INTEGER NOT NULL,"
    " salt BLOB NOT NULL, wrapped BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS opened ("
    " msgid TEXT PRIMARY KEY, sealed BLOB, last INTEGER NOT NULL);";

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
	/*
	 * Another tandem command may hold the store (a fetch from a timer
	 * while the user reads): wait for it, a while, rather than fail.
	 */
	if (sqlite3_open_v2(path, &st->st_db, SQLITE_OPEN_READWRITE,
	    NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(st->st_db, STORE_BUSY_MS) != SQLITE_OK ||
	    sqlite3_exec(st->st_db, "PRAGMA secure_delete = ON", NULL, NULL,
	    &msg) != SQLITE_OK ||
	    sqlite3_exec(st->st_db, store_schema, NULL, NULL, &msg) !=
	    SQLITE_OK || (create && sqlite3_exec(st->st_db,
	    store_schema_sealed, NULL, NULL, &msg) != SQLITE_OK)) {
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
	OPENSSL_cleanse(st->st_key, sizeof(st->st_key));
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
store_del(struct store *st, const char *name, char *err)
{
	return store_run(st, "DELETE FROM config WHERE name = ?1", name, NULL,
	    err);
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

/* A count by msgid (sql: one row, one integer), into *n. */
static int
store_count(struct store *st, const char *sql, const char *msgid,
    unsigned int *n, char *err)
{
	sqlite3_stmt *stmt;
	int rc = -1, step;

	*n = 0;
	if ((stmt = store_prepare(st, sql, msgid, NULL, err)) == NULL)
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

/* Whether the store has table name (an older one has not all). */
static int
store_has(struct store *st, const char *name, int *yes, char *err)
{
	unsigned int n;

	if (store_count(st, "SELECT count(*) FROM sqlite_master WHERE "
	    "type = 'table' AND name = ?1", name, &n, err) == -1)
		return -1;
	*yes = n > 0;
	return 0;
}

static int
store_make_sealed(struct store *st, char *err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->st_db, store_schema_sealed, NULL, NULL, &msg) !=
	    SQLITE_OK) {
		tn_err(err, "store: %s", msg ? msg : sqlite3_errmsg(st->st_db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * The sealed count of opens of ar's message (opened.sealed) into *n;
 * *found 0 when there is no such row. A row whose count is NULL was
 * kept from an old store whose key for it was already gone: opened.
 */
static int
store_opens_sealed(struct store *st, const struct arm_record *ar,
    unsigned int *n, int *found, char *err)
{
	sqlite3_stmt *stmt;
	unsigned char key[VAULT_KEYLEN], *plain = NULL;
	size_t len = 0;
	int rc = -1, step;

	*n = 0;
	*found = 0;
	if (store_has(st, "opened", &step, err) == -1)
		return -1;
	if (!step)
		return 0;
	if ((stmt = store_prepare(st, "SELECT sealed FROM opened WHERE "
	    "msgid = ?1", ar->ar_msgid, NULL, err)) == NULL)
		return -1;
	if ((step = sqlite3_step(stmt)) == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (step != SQLITE_ROW) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	*found = 1;
	if (sqlite3_column_type(stmt, 0) == SQLITE_NULL) {
		*n = 1;
		rc = 0;
		goto out;
	}
	if (vault_count_key(ar->ar_key, ARM_KEYLEN, key, err) == -1 ||
	    vault_open(key, ar->ar_msgid, sqlite3_column_blob(stmt, 0),
	    (size_t)sqlite3_column_bytes(stmt, 0), &plain, &len, err) == -1)
		goto out;
	if (len != 4) {
		tn_err(err, "store: the count of opens of %s is not a count",
		    ar->ar_msgid);
		goto out;
	}
	*n = (unsigned int)plain[0] << 24 | (unsigned int)plain[1] << 16 |
	    (unsigned int)plain[2] << 8 | plain[3];
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(plain);
	sqlite3_finalize(stmt);
	return rc;
}

int
store_opens(struct store *st, const struct arm_record *ar, unsigned int *n,
    char *err)
{
	int found;

	if (store_opens_sealed(st, ar, n, &found, err) == -1)
		return -1;
	if (found)
		return 0;
	return store_count(st, "SELECT count FROM opens WHERE msgid = ?1",
	    ar->ar_msgid, n, err);
}

int
store_opened(struct store *st, const char *msgid, int *yes, char *err)
{
	unsigned int n;

	*yes = 0;
	if (store_has(st, "opened", yes, err) == -1)
		return -1;
	if (store_count(st, *yes ? "SELECT EXISTS (SELECT 1 FROM opened "
	    "WHERE msgid = ?1) OR EXISTS (SELECT 1 FROM opens WHERE "
	    "msgid = ?1 AND count > 0)" : "SELECT EXISTS (SELECT 1 FROM "
	    "opens WHERE msgid = ?1 AND count > 0)", msgid, &n, err) == -1)
		return -1;
	*yes = n > 0;
	return 0;
}

/* Seal n as the count of opens of ar's message; no transaction. */
static int
store_opens_put(struct store *st, const struct arm_record *ar,
    unsigned int n, char *err)
{
	sqlite3_stmt *stmt = NULL;
	unsigned char key[VAULT_KEYLEN], b[4], *sealed = NULL;
	size_t len;
	int rc = -1;

	b[0] = (unsigned char)(n >> 24);
	b[1] = (unsigned char)(n >> 16);
	b[2] = (unsigned char)(n >> 8);
	b[3] = (unsigned char)n;
	if (vault_count_key(ar->ar_key, ARM_KEYLEN, key, err) == -1 ||
	    vault_seal(key, ar->ar_msgid, b, sizeof(b), &sealed, &len,
	    err) == -1)
		goto out;
	if ((stmt = store_prepare(st, "INSERT OR REPLACE INTO opened (msgid, "
	    "sealed, last) VALUES (?1, ?2, strftime('%s','now'))",
	    ar->ar_msgid, NULL, err)) == NULL)
		goto out;
	if (sqlite3_bind_blob(stmt, 2, sealed, (int)len, SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	if (store_run(st, "DELETE FROM opens WHERE msgid = ?1", ar->ar_msgid,
	    NULL, err) == -1)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(b, sizeof(b));
	sqlite3_finalize(stmt);
	free(sealed);
	return rc;
}

int
store_count_open(struct store *st, const struct arm_record *ar, char *err)
{
	unsigned int n;

	if (store_run(st, "BEGIN IMMEDIATE", NULL, NULL, err) == -1)
		return -1;
	if (store_make_sealed(st, err) == -1 ||
	    store_opens(st, ar, &n, err) == -1 ||
	    store_opens_put(st, ar, n + 1, err) == -1 ||
	    store_run(st, "COMMIT", NULL, NULL, err) == -1) {
		sqlite3_exec(st->st_db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int
store_delivered(struct store *st, const char *msgid, int *yes, char *err)
{
	unsigned int n;

	*yes = 0;
	if (store_count(st, "SELECT count(*) FROM delivered WHERE msgid = ?1",
	    msgid, &n, err) == -1)
		return -1;
	*yes = n > 0;
	return 0;
}

int
store_deliver_mark(struct store *st, const char *msgid, char *err)
{
	return store_run(st, "INSERT OR IGNORE INTO delivered (msgid, at) "
	    "VALUES (?1, strftime('%s','now'))", msgid, NULL, err);
}

/*
 * A read receipt owed to sender for msgid, from its first open:
 * *first is 1 when this call recorded it (it was not owed before).
 */
int
store_receipt_owe(struct store *st, const char *msgid, const char *sender,
    int *first, char *err)
{
	*first = 0;
	if (store_run(st, "INSERT OR IGNORE INTO receipts (msgid, sender, "
	    "opened_at) VALUES (?1, ?2, strftime('%s','now'))", msgid,
	    sender, err) == -1)
		return -1;
	*first = sqlite3_changes(st->st_db) > 0;
	return 0;
}

/* The read receipt for msgid is told (outcome: the background's word). */
int
store_receipt_told(struct store *st, const char *msgid, const char *outcome,
    char *err)
{
	return store_run(st, "UPDATE receipts SET told_at = "
	    "strftime('%s','now'), outcome = ?2 WHERE msgid = ?1", msgid,
	    outcome, err);
}

/* *state: 0 no read receipt owed for msgid, 1 owed, 2 told. */
int
store_receipt_state(struct store *st, const char *msgid, int *state,
    char *err)
{
	unsigned int n;

	*state = 0;
	if (store_count(st, "SELECT CASE WHEN told_at IS NULL THEN 1 ELSE 2 "
	    "END FROM receipts WHERE msgid = ?1", msgid, &n, err) == -1)
		return -1;
	*state = (int)n;
	return 0;
}

/* fn for each read receipt owed and not told yet, oldest first. */
int
store_receipt_each(struct store *st, int (*fn)(const char *, const char *,
    time_t, void *), void *arg, char *err)
{
	sqlite3_stmt *stmt;
	char **row = NULL;
	time_t *at = NULL;
	size_t n = 0, i;
	int rc = -1, step;

	/* Collected first: fn writes to the same table. */
	if ((stmt = store_prepare(st, "SELECT msgid, sender, opened_at FROM "
	    "receipts WHERE told_at IS NULL ORDER BY opened_at, msgid", NULL,
	    NULL, err)) == NULL)
		return -1;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		char **r = realloc(row, (n + 1) * 2 * sizeof(*row));
		time_t *a = realloc(at, (n + 1) * sizeof(*at));

		if (r != NULL)
			row = r;
		if (a != NULL)
			at = a;
		if (r == NULL || a == NULL) {
			tn_err(err, "store: out of memory");
			goto out;
		}
		row[2 * n] = strdup((const char *)sqlite3_column_text(stmt,
		    0));
		row[2 * n + 1] = strdup((const char *)sqlite3_column_text(stmt,
		    1));
		at[n] = (time_t)sqlite3_column_int64(stmt, 2);
		n++;
		if (row[2 * n - 2] == NULL || row[2 * n - 1] == NULL) {
			tn_err(err, "store: out of memory");
			goto out;
		}
	}
	if (step != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	for (i = 0; i < n; i++)
		if (fn(row[2 * i], row[2 * i + 1], at[i], arg) == -1)
			break;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	for (i = 0; i < 2 * n; i++)
		free(row[i]);
	free(row);
	free(at);
	return rc;
}

/* Seal text under the store key as the ARM of msgid; no transaction. */
static int
store_arm_seal(struct store *st, const char *sql, const char *msgid,
    const unsigned char *text, size_t len, char *err)
{
	sqlite3_stmt *stmt = NULL;
	unsigned char *sealed = NULL;
	size_t slen;
	int rc = -1;

	if (!st->st_unlocked) {
		tn_err(err, "store: locked (no password given)");
		return -1;
	}
	if (vault_seal(st->st_key, msgid, text, len, &sealed, &slen,
	    err) == -1 ||
	    (stmt = store_prepare(st, sql, msgid, NULL, err)) == NULL)
		goto out;
	if (sqlite3_bind_blob(stmt, 2, sealed, (int)slen, SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(stmt);
	free(sealed);
	return rc;
}

int
store_arm_put(struct store *st, const char *msgid, const char *text,
    char *err)
{
	return store_arm_seal(st, "INSERT OR IGNORE INTO arms (msgid, arm, "
	    "fetched) VALUES (?1, ?2, strftime('%s','now'))", msgid,
	    (const unsigned char *)text, strlen(text), err);
}

/* The ARM kept for msgid, opened (or as it is, unsealed) into *text. */
static int
store_arm_text(struct store *st, const char *msgid, const void *b,
    size_t len, char **text, char *err)
{
	unsigned char *plain = NULL;
	size_t n;

	if (!vault_is_sealed(b, len)) {
		if ((*text = strndup(b, len)) == NULL) {
			tn_err(err, "store: out of memory");
			return -1;
		}
		return 0;
	}
	if (!st->st_unlocked) {
		tn_err(err, "store: locked (no password given)");
		return -1;
	}
	if (vault_open(st->st_key, msgid, b, len, &plain, &n, err) == -1)
		return -1;
	if (memchr(plain, '\0', n) != NULL) {
		tn_err(err, "store: the ARM of %s is not text", msgid);
		OPENSSL_cleanse(plain, n);
		free(plain);
		return -1;
	}
	*text = (char *)plain;
	return 0;
}

int
store_arm_get(struct store *st, const char *msgid, char **text, int *state,
    char *err)
{
	sqlite3_stmt *stmt;
	const void *b;
	int rc = -1, step;

	*text = NULL;
	*state = 0;
	if ((stmt = store_prepare(st, "SELECT arm, EXISTS (SELECT 1 FROM "
	    "revoked WHERE msgid = ?1) FROM arms WHERE msgid = ?1", msgid,
	    NULL, err)) == NULL)
		return -1;
	if ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		*state = sqlite3_column_int(stmt, 1) ? 3 : 2;
		if (sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
			if ((b = sqlite3_column_blob(stmt, 0)) == NULL) {
				tn_err(err, "store: out of memory");
				goto out;
			}
			if (store_arm_text(st, msgid, b,
			    (size_t)sqlite3_column_bytes(stmt, 0), text,
			    err) == -1)
				goto out;
			*state = 1;
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

/* Bind the text arguments from column 1 on; NULL binds SQL NULL. */
static int
store_bind(struct store *st, sqlite3_stmt *stmt, const char *const *v,
    int n, char *err)
{
	int i;

	for (i = 0; i < n; i++)
		if ((v[i] == NULL ? sqlite3_bind_null(stmt, i + 1) :
		    sqlite3_bind_text(stmt, i + 1, v[i], -1, SQLITE_STATIC)) !=
		    SQLITE_OK) {
			tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
			return -1;
		}
	return 0;
}

int
store_sent_add(struct store *st, const char *msgid, char *const *rcpts,
    size_t n, char *err)
{
	sqlite3_stmt *stmt = NULL;
	const char *v[2];
	size_t i;
	int rc = -1;

	if (store_run(st, "BEGIN", NULL, NULL, err) == -1)
		return -1;
	if ((stmt = store_prepare(st, "INSERT OR IGNORE INTO sent (msgid, "
	    "recipient, sent_at, state, at) VALUES (?1, ?2, "
	    "strftime('%s','now'), 'sent', strftime('%s','now'))", NULL, NULL,
	    err)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		v[0] = msgid;
		v[1] = rcpts[i];
		if (store_bind(st, stmt, v, 2, err) == -1)
			goto out;
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
			goto out;
		}
		sqlite3_reset(stmt);
	}
	if (store_run(st, "COMMIT", NULL, NULL, err) == -1)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	if (rc == -1)
		sqlite3_exec(st->st_db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * The order of events on the same Date; "sent" and others are 0.
 * "opened" is last, and nothing replaces it (store_sent_receipt()):
 * after a revocation the recipient's agent says whether the message
 * had been opened, which nothing undoes.
 */
#define STORE_RANK(x)	"CASE " x " WHEN 'delivered' THEN 1 "		\
			"WHEN 'refused' THEN 2 WHEN 'expired' THEN 3 "	\
			"WHEN 'revoked' THEN 4 WHEN 'opened' THEN 5 "	\
			"ELSE 0 END"

int
store_sent_receipt(struct store *st, const char *msgid, const char *rcpt,
    const char *event, time_t at, const char *reason, int *changed,
    char *err)
{
	sqlite3_stmt *stmt;
	const char *v[3] = { msgid, rcpt, event };
	int rc = -1;

	*changed = 0;
	if ((stmt = store_prepare(st, "INSERT INTO sent (msgid, recipient, "
	    "state, at, reason) VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT (msgid, recipient) DO UPDATE SET "
	    "state = excluded.state, at = excluded.at, "
	    "reason = excluded.reason "
	    "WHERE sent.state = 'sent' OR "
	    "(sent.state <> 'opened' AND "
	    "NOT (sent.state = 'revoked' AND excluded.state = 'expired') AND "
	    "(excluded.at > sent.at OR (excluded.at = sent.at AND ("
	    STORE_RANK("excluded.state") " > " STORE_RANK("sent.state") " OR "
	    "(excluded.state = sent.state AND "
	    "excluded.reason IS NOT sent.reason)))))",
	    NULL, NULL, err)) == NULL)
		return -1;
	if (store_bind(st, stmt, v, 3, err) == -1)
		goto out;
	if (sqlite3_bind_int64(stmt, 4, (sqlite3_int64)at) != SQLITE_OK ||
	    (reason == NULL ? sqlite3_bind_null(stmt, 5) :
	    sqlite3_bind_text(stmt, 5, reason, -1, SQLITE_STATIC)) !=
	    SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	*changed = sqlite3_changes(st->st_db) > 0;
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

int
store_sent_each(struct store *st, const char *msgid,
    void (*fn)(const struct store_sent *, void *), void *arg, char *err)
{
	struct store_sent ss;
	sqlite3_stmt *stmt;
	int rc = -1, step;

	if ((stmt = store_prepare(st, "SELECT msgid, recipient, state, at, "
	    "reason, (SELECT min(coalesce(f.sent_at, f.at)) FROM sent f "
	    "WHERE f.msgid = sent.msgid) AS first FROM sent "
	    "WHERE ?1 IS NULL OR msgid = ?1 ORDER BY first, msgid, rowid",
	    msgid, NULL, err)) == NULL)
		return -1;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		ss.ss_msgid = (const char *)sqlite3_column_text(stmt, 0);
		ss.ss_rcpt = (const char *)sqlite3_column_text(stmt, 1);
		ss.ss_state = (const char *)sqlite3_column_text(stmt, 2);
		ss.ss_at = (time_t)sqlite3_column_int64(stmt, 3);
		ss.ss_reason = (const char *)sqlite3_column_text(stmt, 4);
		ss.ss_first = (time_t)sqlite3_column_int64(stmt, 5);
		if (ss.ss_msgid == NULL || ss.ss_rcpt == NULL ||
		    ss.ss_state == NULL) {
			tn_err(err, "store: out of memory");
			goto out;
		}
		fn(&ss, arg);
	}
	if (step != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

/* The SQL of store_rekey_install(), after BEGIN; ?1 the new generation. */
static const char *const store_install_sql[] = {
	"INSERT OR REPLACE INTO old_keys (generation, key, cert, chain, "
	"courier_cert, retired) SELECT coalesce((SELECT CAST(value AS "
	"INTEGER) FROM config WHERE name = 'generation'), 1), k.value, "
	"c.value, (SELECT value FROM config WHERE name = 'chain'), "
	"(SELECT value FROM config WHERE name = 'courier-cert'), "
	"strftime('%s','now') FROM config k, config c "
	"WHERE k.name = 'key' AND c.name = 'cert'",
	"UPDATE config SET value = (SELECT value FROM config WHERE name = "
	"'next-key') WHERE name = 'key'",
	"UPDATE config SET value = (SELECT value FROM config WHERE name = "
	"'next-pubkey') WHERE name = 'pubkey'",
	"DELETE FROM config WHERE name IN ('next-key', 'next-pubkey', "
	"'next-generation')",
	"INSERT OR REPLACE INTO config (name, value) VALUES "
	"('rekey-complete-pending', ?1)",
};

/* The certificates of generation gen become current; no transaction. */
static int
store_certs_put(struct store *st, const char *gen, const char *cert,
    const char *chain, const char *courier, char *err)
{
	if (store_put(st, "cert", cert, err) == -1 ||
	    store_put(st, "chain", chain != NULL ? chain : "", err) == -1 ||
	    store_put(st, "courier-cert", courier, err) == -1 ||
	    store_put(st, "generation", gen, err) == -1)
		return -1;
	return 0;
}

int
store_install(struct store *st, const char *gen, const char *cert,
    const char *chain, const char *courier, char *err)
{
	if (store_run(st, "BEGIN", NULL, NULL, err) == -1)
		return -1;
	if (store_certs_put(st, gen, cert, chain, courier, err) == -1 ||
	    store_run(st, "COMMIT", NULL, NULL, err) == -1) {
		sqlite3_exec(st->st_db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

int
store_rekey_install(struct store *st, const char *gen, const char *cert,
    const char *chain, const char *courier, const char *const *also,
    char *err)
{
	char *next = NULL;
	size_t i;
	int rc = -1;

	if (store_run(st, "BEGIN", NULL, NULL, err) == -1)
		return -1;
	if (store_get(st, "next-key", &next, err) == -1)
		goto out;
	if (next == NULL) {
		tn_err(err, "store: no next key to install");
		goto out;
	}
	for (i = 0; i < sizeof(store_install_sql) /
	    sizeof(store_install_sql[0]); i++)
		if (store_run(st, store_install_sql[i], i == 4 ? gen : NULL,
		    NULL, err) == -1)
			goto out;
	if (store_certs_put(st, gen, cert, chain, courier, err) == -1)
		goto out;
	for (i = 0; also != NULL && also[i] != NULL; i += 2)
		if ((also[i + 1] != NULL ? store_put(st, also[i], also[i + 1],
		    err) : store_del(st, also[i], err)) == -1)
			goto out;
	if (store_run(st, "COMMIT", NULL, NULL, err) == -1)
		goto out;
	rc = 0;
out:
	free(next);
	if (rc == -1)
		sqlite3_exec(st->st_db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
store_old_key_put(struct store *st, unsigned long gen, const char *key,
    char *err)
{
	char g[32];

	snprintf(g, sizeof(g), "%lu", gen);
	return store_run(st, "UPDATE old_keys SET key = ?2 WHERE "
	    "generation = CAST(?1 AS INTEGER)", g, key, err);
}

int
store_old_each(struct store *st, int (*fn)(const struct store_old *, void *),
    void *arg, char *err)
{
	struct store_old so;
	sqlite3_stmt *stmt;
	int rc = -1, r = 0, step = SQLITE_DONE;

	if ((stmt = store_prepare(st, "SELECT generation, key, cert, chain, "
	    "courier_cert FROM old_keys ORDER BY generation DESC", NULL, NULL,
	    err)) == NULL)
		return -1;
	while (r == 0 && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
		so.so_generation = (unsigned long)sqlite3_column_int64(stmt,
		    0);
		so.so_key = (const char *)sqlite3_column_text(stmt, 1);
		so.so_cert = (const char *)sqlite3_column_text(stmt, 2);
		so.so_chain = (const char *)sqlite3_column_text(stmt, 3);
		so.so_courier = (const char *)sqlite3_column_text(stmt, 4);
		if (so.so_key == NULL || so.so_cert == NULL) {
			tn_err(err, "store: out of memory");
			goto out;
		}
		r = fn(&so, arg);
	}
	if (r == 0 && step != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	rc = r;
out:
	sqlite3_finalize(stmt);
	return rc;
}

int
store_begin(struct store *st, char *err)
{
	return store_run(st, "BEGIN IMMEDIATE", NULL, NULL, err);
}

int
store_commit(struct store *st, char *err)
{
	if (store_run(st, "COMMIT", NULL, NULL, err) == -1) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

void
store_rollback(struct store *st)
{
	sqlite3_exec(st->st_db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Leave no old page behind: VACUUM rewrites the file without its free
 * pages, a checkpoint empties a write-ahead log if there is one.
 */
int
store_scrub(struct store *st, char *err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->st_db, "VACUUM; PRAGMA wal_checkpoint(TRUNCATE)",
	    NULL, NULL, &msg) != SQLITE_OK) {
		tn_err(err, "store: %s", msg ? msg : sqlite3_errmsg(st->st_db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * The store key, opened from table vault with pass into st->st_key:
 * 1, or 0 when the store has none yet, -1 with err (a wrong password).
 */
static int
store_vault_open(struct store *st, const char *pass, char *err)
{
	sqlite3_stmt *stmt;
	unsigned char kek[VAULT_KEYLEN], *key = NULL;
	const char *kdf;
	size_t len = 0;
	int rc = -1, step;

	if ((stmt = store_prepare(st, "SELECT kdf, n, r, p, salt, wrapped "
	    "FROM vault WHERE id = 1", NULL, NULL, err)) == NULL)
		return -1;
	if ((step = sqlite3_step(stmt)) == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (step != SQLITE_ROW) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	kdf = (const char *)sqlite3_column_text(stmt, 0);
	if (kdf == NULL || strcmp(kdf, "scrypt") != 0 ||
	    sqlite3_column_int64(stmt, 1) < 2 ||
	    sqlite3_column_int64(stmt, 1) > (1 << 22) ||
	    sqlite3_column_int64(stmt, 2) < 1 ||
	    sqlite3_column_int64(stmt, 2) > 32 ||
	    sqlite3_column_int64(stmt, 3) < 1 ||
	    sqlite3_column_int64(stmt, 3) > 16) {
		tn_err(err, "store: the store key's parameters are not ones "
		    "this version knows");
		goto out;
	}
	if (vault_kek(pass, sqlite3_column_blob(stmt, 4),
	    (size_t)sqlite3_column_bytes(stmt, 4),
	    (uint64_t)sqlite3_column_int64(stmt, 1),
	    (uint64_t)sqlite3_column_int64(stmt, 2),
	    (uint64_t)sqlite3_column_int64(stmt, 3), kek, err) == -1)
		goto out;
	if (vault_open(kek, STORE_KEY_AD, sqlite3_column_blob(stmt, 5),
	    (size_t)sqlite3_column_bytes(stmt, 5), &key, &len, err) == -1 ||
	    len != VAULT_KEYLEN) {
		tn_err(err, "cannot unlock the store (wrong password?)");
		goto out;
	}
	memcpy(st->st_key, key, VAULT_KEYLEN);
	rc = 1;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_clear_free(key, len);
	sqlite3_finalize(stmt);
	return rc;
}

/* Wrap st->st_key under pass, with a new salt, into table vault. */
static int
store_vault_put(struct store *st, const char *pass, char *err)
{
	sqlite3_stmt *stmt = NULL;
	unsigned char salt[STORE_SALTLEN], kek[VAULT_KEYLEN], *w = NULL;
	size_t wlen;
	int rc = -1;

	if (util_random(salt, sizeof(salt)) == -1) {
		tn_err(err, "no random bytes");
		return -1;
	}
	if (vault_kek(pass, salt, sizeof(salt), STORE_SCRYPT_N,
	    STORE_SCRYPT_R, STORE_SCRYPT_P, kek, err) == -1 ||
	    vault_seal(kek, STORE_KEY_AD, st->st_key, VAULT_KEYLEN, &w, &wlen,
	    err) == -1 ||
	    (stmt = store_prepare(st, "INSERT OR REPLACE INTO vault (id, kdf, "
	    "n, r, p, salt, wrapped) VALUES (1, 'scrypt', ?1, ?2, ?3, ?4, ?5)",
	    NULL, NULL, err)) == NULL)
		goto out;
	if (sqlite3_bind_int64(stmt, 1, STORE_SCRYPT_N) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 2, STORE_SCRYPT_R) != SQLITE_OK ||
	    sqlite3_bind_int64(stmt, 3, STORE_SCRYPT_P) != SQLITE_OK ||
	    sqlite3_bind_blob(stmt, 4, salt, sizeof(salt), SQLITE_STATIC) !=
	    SQLITE_OK ||
	    sqlite3_bind_blob(stmt, 5, w, (int)wlen, SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	sqlite3_finalize(stmt);
	free(w);
	return rc;
}

int
store_rewrap(struct store *st, const char *pass, char *err)
{
	if (!st->st_unlocked) {
		tn_err(err, "store: locked (no password given)");
		return -1;
	}
	return store_vault_put(st, pass, err);
}

/* The first column of each row of sql: *ids (free each, then it). */
static int
store_ids(struct store *st, const char *sql, char ***ids, size_t *n,
    char *err)
{
	sqlite3_stmt *stmt;
	const unsigned char *t;
	char **v;
	int rc = -1, step;

	*ids = NULL;
	*n = 0;
	if ((stmt = store_prepare(st, sql, NULL, NULL, err)) == NULL)
		return -1;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((t = sqlite3_column_text(stmt, 0)) == NULL ||
		    (v = reallocarray(*ids, *n + 1, sizeof(*v))) == NULL) {
			tn_err(err, "store: out of memory");
			goto out;
		}
		*ids = v;
		if ((v[*n] = strdup((const char *)t)) == NULL) {
			tn_err(err, "store: out of memory");
			goto out;
		}
		(*n)++;
	}
	if (step != SQLITE_DONE) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(stmt);
	return rc;
}

static void
store_ids_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* Seal the ARM of msgid if it is kept in clear (an older store). */
static int
store_upgrade_arm(struct store *st, const char *msgid, int *changed,
    char *err)
{
	sqlite3_stmt *stmt;
	unsigned char *copy = NULL;
	size_t len = 0;
	int rc = -1;

	if ((stmt = store_prepare(st, "SELECT arm FROM arms WHERE msgid = ?1",
	    msgid, NULL, err)) == NULL)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		tn_err(err, "store: %s", sqlite3_errmsg(st->st_db));
		goto out;
	}
	len = (size_t)sqlite3_column_bytes(stmt, 0);
	if (vault_is_sealed(sqlite3_column_blob(stmt, 0), len)) {
		rc = 0;
		goto out;
	}
	if ((copy = malloc(len + 1)) == NULL) {
		tn_err(err, "store: out of memory");
		goto out;
	}
	memcpy(copy, sqlite3_column_blob(stmt, 0), len);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (store_arm_seal(st, "UPDATE arms SET arm = ?2 WHERE msgid = ?1",
	    msgid, copy, len, err) == -1)
		goto out;
	*changed = 1;
	rc = 0;
out:
	OPENSSL_clear_free(copy, len);
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * A count of opens kept in clear (table opens, an older store) sealed
 * under its message's content key when the store has the ARM; when
 * the ARM's key is gone, only that it was opened is kept. Without any
 * ARM for it (an open of an ARM file), it stays until the next open.
 */
static int
store_upgrade_opens(struct store *st, const char *msgid, int *changed,
    char *err)
{
	struct arm_record *ar = NULL;
	char *text = NULL;
	unsigned int n;
	int rc = -1, state;

	if (store_arm_get(st, msgid, &text, &state, err) == -1)
		return -1;
	if (state == 0) {
		rc = 0;
		goto out;
	}
	if (state == 1) {
		if (arm_parse(text, strlen(text), &ar, err) == -1 ||
		    strcmp(ar->ar_msgid, msgid) != 0) {
			rc = 0;		/* not readable: left as it was */
			goto out;
		}
		if (store_count(st, "SELECT count FROM opens WHERE msgid = ?1",
		    msgid, &n, err) == -1 ||
		    store_opens_put(st, ar, n, err) == -1)
			goto out;
	} else if (store_run(st, "INSERT OR REPLACE INTO opened (msgid, "
	    "sealed, last) SELECT msgid, NULL, last FROM opens WHERE "
	    "msgid = ?1", msgid, NULL, err) == -1 ||
	    store_run(st, "DELETE FROM opens WHERE msgid = ?1", msgid, NULL,
	    err) == -1)
		goto out;
	*changed = 1;
	rc = 0;
out:
	util_free_secret(text);
	arm_free(ar);
	return rc;
}

/* Everything kept in clear by an older store, sealed; in a transaction. */
static int
store_upgrade(struct store *st, int *changed, char *err)
{
	char **ids = NULL;
	size_t i, n = 0;
	int rc = -1;

	if (store_ids(st, "SELECT msgid FROM arms WHERE arm IS NOT NULL",
	    &ids, &n, err) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (store_upgrade_arm(st, ids[i], changed, err) == -1)
			goto out;
	store_ids_free(ids, n);
	if (store_ids(st, "SELECT msgid FROM opens", &ids, &n, err) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (store_upgrade_opens(st, ids[i], changed, err) == -1)
			goto out;
	rc = 0;
out:
	store_ids_free(ids, n);
	return rc;
}

/* Without a store key yet: pass must be the one of the private key. */
static int
store_check_pass(struct store *st, const char *pass, char *err)
{
	EVP_PKEY *pk = NULL;
	char *key = NULL;
	int rc;

	if (store_get(st, "key", &key, err) == -1)
		return -1;
	if (key != NULL && (pk = pki_parse_key(key, strlen(key), pass,
	    err)) == NULL)
		tn_err(err, "cannot decrypt the private key (wrong "
		    "password?)");
	rc = key == NULL || pk != NULL ? 0 : -1;
	EVP_PKEY_free(pk);
	util_free_secret(key);
	return rc;
}

int
store_unlock(struct store *st, const char *pass, char *err)
{
	int have, changed = 0;

	if (st->st_unlocked)
		return 0;
	if (store_has(st, "vault", &have, err) == -1 ||
	    (have && (have = store_vault_open(st, pass, err)) == -1))
		return -1;
	if (!have && (store_check_pass(st, pass, err) == -1 ||
	    util_random(st->st_key, sizeof(st->st_key)) == -1))
		return -1;
	if (store_begin(st, err) == -1)
		return -1;
	st->st_unlocked = 1;
	if (store_make_sealed(st, err) == -1 ||
	    (!have && store_vault_put(st, pass, err) == -1) ||
	    store_upgrade(st, &changed, err) == -1 ||
	    store_commit(st, err) == -1) {
		store_rollback(st);
		st->st_unlocked = 0;
		OPENSSL_cleanse(st->st_key, sizeof(st->st_key));
		return -1;
	}
	if ((!have || changed) && store_scrub(st, err) == -1)
		return -1;
	return 0;
}
