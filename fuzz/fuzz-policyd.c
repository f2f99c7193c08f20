/*
 * NAME
 *	fuzz-policyd.c - libFuzzer target: tandem-policyd's request
 *	handling, on a real background database
 * DESCRIPTION
 *	The input is a few requests (at most FP_MAX_REQ) that clients
 *	send to the policy daemon over one connection, past TLS. Each
 *	goes through policy/httpd.c's framing, as in fuzz-httpd, to the
 *	daemon's own handler, http_request() (policy/http.c), with the
 *	client certificate that the TLS layer would have given it; so
 *	the request's path, its body (wraps of ARMs, reports, revokes,
 *	rekeys, invitation rejects, courier messages) and the mailbox's
 *	GET and DELETE reach store.c, revoke.c, rekey.c, bgfed.c and the
 *	database as the daemon's do. Each answer must be one that the
 *	daemon gives to a client (200, 201, 204, 400, 403, 404, 405, 410,
 *	413); anything else, or no answer, aborts. That includes 500 and
 *	503: with the database up and memory to spare, the daemon
 *	failing on its own over what a client sent is a bug.
 *
 *	The input: a first byte whose bits 0-1 set the state of the
 *	account alice@corp.example for this input (active; transferred
 *	away, its mailbox draining; pending, brought by a transfer;
 *	closed); then requests, each
 *
 *	    byte   bits 0-1: the client certificate (alice's agent
 *		   certificate; the background element of another
 *		   courier, isp.example, under another root,
 *		   root2.example, that the daemon trusts too; this
 *		   courier's foreground element, an address without
 *		   account; none)
 *		   bits 2-3: the method (GET, POST, DELETE, POST of a
 *		   body that the harness wraps: fp_body())
 *		   bits 4-6: the path: /v1/arm, /v1/invitation-reject,
 *		   /v1/revoke, /v1/receipt, /v1/rekey, /v1/courier,
 *		   /v1/mailbox, /v1/mailbox/N (N: the next byte)
 *		   bit 7: the path is the bytes up to the next newline
 *		   instead (at most 255; a byte that HTTP does not allow
 *		   in a path becomes '%')
 *	    2 bytes the body's length, little-endian (at most what is
 *		   left)
 *	    body
 *
 *	A POST whose body the harness wraps, as the client would, carries
 *	hostile ARMs, reports, revokes and courier messages past the
 *	unwrap and its signature checks, to their parsers and to the
 *	SQL that stores what they say; a wrap from the input reaches the
 *	CMS parsing and, when it is a seed left whole, the rest.
 *
 *	The daemon is set up as a worker sets itself up (conf_load() and
 *	pd_load() of a tandem.conf for the test PKI of fuzz/pki, the
 *	private courier corp.example, written once into a scratch folder
 *	and removed; store_connect()), on the database that
 *	$TANDEM_FUZZ_PD_DB names: a libpq conninfo of a background
 *	database migrated with the sql/bg files, as a superuser (the
 *	daemon connects as tandem_bg, the harness as given). Once, the
 *	harness empties it (of what an earlier run left) and adds the
 *	accounts alice@corp.example and bob@corp.example (agent
 *	certificate: fuzz/pki's agent; courier end: the foreground's
 *	certificate and key, the key sealed with a fixed keybox key;
 *	for alice also an older generation, the background's key, in
 *	its grace), one entry in alice's mailbox and the token of an
 *	invitation to her and to carol@isp.example (the seeds'
 *	introductions answer them), and keeps a copy of every table
 *	that the daemon may write (all but the subscribed copies
 *	accounts, account_keys and bg_relay) in temporary tables.
 *	Before each input one call of a function of its session
 *	(pg_temp.fz_reset(), plans kept) puts them back as they were
 *	then (DELETE, INSERT of the copies, sequences set back, triggers
 *	off as for the subscription), with alice's account active, then
 *	sets her account's state: an input runs the same way every time,
 *	and the database does not grow.
 *
 *	The background client's TLS session is a real one, made once
 *	in memory: the daemon's own TLS context (http_tls_ctx(), its
 *	verification callback) on one side, a client with isp.example's
 *	element certificate and chain (fuzz/pki/peer-*) on the other;
 *	its peer chain is what POST /v1/courier hands to
 *	store_courier().
 *
 *	The daemon's log lines go to standard error (bench/fuzz runs
 *	this target with -close_fd_mask=2; the replay's scenario keeps
 *	them in a file); with $TANDEM_FUZZ_PD_SAY set, so does each
 *	answer's status, "fuzz-policyd: answer CODE".
 * DIAGNOSTICS
 *	A harness that cannot be set up (no $TANDEM_FUZZ_PD_DB, a
 *	database that cannot be reached or is not a background one, a
 *	database that another harness uses (an advisory lock says so:
 *	libFuzzer's -jobs and -fork need a database each), a test PKI
 *	that cannot be read) says why on stderr and aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/bn.h>
#include <openssl/err.h>

#include "conf.h"
#include "db.h"
#include "fuzz.h"
#include "httpd.h"
#include "keybox.h"
#include "log.h"
#include "pki.h"
#include "policyd.h"

#define FP_MAX_REQ	8
#define FP_MAX_BODY	(256 * 1024)
#define FP_KEYBOX	"1f2e3d4c5b6a79880796a5b4c3d2e1f0" \
			"0f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define FP_ALICE	"alice@corp.example"
#define FP_BOB		"bob@corp.example"

enum fp_client { FP_AGENT, FP_BG, FP_FG, FP_NONE };

struct fp_state {
	struct pd	 fs_pd;
	PGconn		*fs_admin;	/* the harness's: superuser */
	struct event_base *fs_base;
	SSL		*fs_bg_ssl;	/* the BG client's TLS session */
	X509		*fs_certs[3];	/* agent, BG (the peer's), FG */
	struct cms_id	 fs_peer;	/* isp.example's background */
};

struct fp_conn {
	struct fp_state	*fc_fs;
	enum fp_client	 fc_client;
	int		 fc_asked;	/* requests handed to the daemon */
	int		 fc_refused;	/* by the framing: it closes */
};

static const char *const fp_paths[] = {
	"/v1/arm", "/v1/invitation-reject", "/v1/revoke", "/v1/receipt",
	"/v1/rekey", "/v1/courier", "/v1/mailbox", "/v1/mailbox/"
};

static const char *const fp_methods[] = { "GET", "POST", "DELETE", "POST" };

static void fp_fail(const char *, const char *) __attribute__((noreturn));

static void
fp_fail(const char *what, const char *why)
{
	fprintf(stderr, "fuzz-policyd: %s: %s\n", what, why);
	abort();
}

static void
fp_sql(PGconn *db, const char *sql, int n, const char *const *vals,
    const int *lens)
{
	char err[TN_ERRLEN];

	if (db_exec(db, sql, n, vals, lens, NULL, err) == -1)
		fp_fail("database", err);
}

static const char *
fp_pki_dir(void)
{
	const char *pki = getenv("TANDEM_FUZZ_PKI");

	return pki == NULL || *pki == '\0' ? "fuzz/pki" : pki;
}

/* The anchors: root.example, and the peer's root2.example. */
static void
fp_anchors(const char *path)
{
	static const char *const names[] = { "root.crt", "peer-root.crt" };
	char src[4200], buf[4096];
	FILE *in, *out;
	size_t i, n;

	if ((out = fopen(path, "w")) == NULL)
		fp_fail(path, "cannot write");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(src, sizeof(src), "%s/%s", fp_pki_dir(), names[i]);
		if ((in = fopen(src, "r")) == NULL)
			fp_fail(src, "cannot read (set TANDEM_FUZZ_PKI)");
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			if (fwrite(buf, 1, n, out) != n)
				fp_fail(path, "cannot write");
		fclose(in);
	}
	if (fclose(out) != 0)
		fp_fail(path, "cannot write");
}

/* The tandem.conf of the test courier, in a scratch folder. */
static void
fp_conf(struct pd *pd, const char *conninfo)
{
	const char *pki = fp_pki_dir(), *tmp = getenv("TMPDIR");
	char dir[4096], conf[4200], kb[4200], an[4200], err[TN_ERRLEN];
	FILE *fp;
	mode_t was;

	snprintf(dir, sizeof(dir), "%s/fuzz-policyd.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		fp_fail(dir, "cannot make the scratch folder");
	snprintf(conf, sizeof(conf), "%s/tandem.conf", dir);
	snprintf(kb, sizeof(kb), "%s/keybox.key", dir);
	snprintf(an, sizeof(an), "%s/anchors.pem", dir);
	was = umask(077);
	fp_anchors(an);
	if ((fp = fopen(kb, "w")) == NULL || fprintf(fp, "%s\n",
	    FP_KEYBOX) < 0 || fclose(fp) != 0)
		fp_fail(kb, "cannot write");
	if ((fp = fopen(conf, "w")) == NULL)
		fp_fail(conf, "cannot write");
	fprintf(fp, "courier {\n name = \"corp.example\"\n role = private\n"
	    " domains = {\"corp.example\"}\n superior = \"root.example\"\n}\n"
	    "background {\n listen = \"127.0.0.1:9\"\n"
	    " url = \"https://bg.corp.example/tandem\"\n"
	    " max_request_size = 65536\n}\n"
	    "database {\n conninfo = \"%s user=tandem_bg\"\n}\n"
	    "tls {\n anchors = \"%s\"\n cert = \"%s/bg.crt\"\n"
	    " key = \"%s/bg.key\"\n chain = \"%s/chain.crt\"\n"
	    " keybox_key = \"%s\"\n}\n"
	    "hygiene {\n replay_window = 365d\n}\n", conninfo, an, pki,
	    pki, pki, kb);
	if (fclose(fp) != 0)
		fp_fail(conf, "cannot write");
	umask(was);
	if (conf_load(conf, &pd->pd_cf, err) == -1 || pd_load(pd, err) == -1)
		fp_fail("tandem.conf", err);
	unlink(conf);
	unlink(kb);
	unlink(an);
	rmdir(dir);
}

/* One generation of a courier-end key: id's key, sealed for address. */
static void
fp_key(struct fp_state *fs, const char *address, const char *gen,
    const struct cms_id *id, const char *retired)
{
	static const char sql[] = "INSERT INTO account_keys (address, "
	    "generation, key_serial, sealed_key, created_at, retired_at) "
	    "VALUES ($1, $2, $3, $4, now(), now() + $5::interval)";
	const char *vals[5];
	int lens[5] = { 0, 0, 0, 0, 0 };
	unsigned char *sealed;
	size_t slen, plen;
	char *pem, *hex, err[TN_ERRLEN];
	BIGNUM *bn;

	if (pki_key_pem(id->ci_key, NULL, &pem, &plen, err) == -1 ||
	    keybox_seal(fs->fs_pd.pd_keybox, address, (unsigned char *)pem,
	    plen, &sealed, &slen, err) == -1)
		fp_fail("courier-end key", err);
	if ((bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(id->ci_cert),
	    NULL)) == NULL || (hex = BN_bn2hex(bn)) == NULL)
		fp_fail("courier-end key", "out of memory");
	vals[0] = address;
	vals[1] = gen;
	vals[2] = hex;
	vals[3] = (const char *)sealed;
	lens[3] = (int)slen;
	vals[4] = retired;
	fp_sql(fs->fs_admin, sql, 5, vals, lens);
	OPENSSL_free(hex);
	BN_free(bn);
	keybox_clear_free(sealed, slen);
	OPENSSL_clear_free(pem, plen);
}

static char *
fp_pem(X509 *cert)
{
	char *pem, err[TN_ERRLEN];
	size_t len;

	if (pki_cert_pem(cert, &pem, &len, err) == -1)
		fp_fail("certificate", err);
	return pem;
}

/*
 * The accounts, their keys and a mailbox entry; then the copies of
 * every table and the statement that puts them back.
 */
static void
fp_seed(struct fp_state *fs)
{
	static const char account[] = "INSERT INTO accounts (address, status, "
	    "courier_cert, agent_cert, created_at, updated_at) VALUES ($1, "
	    "'active', $2, $3, now(), now())";
	static const char entry[] = "INSERT INTO agent_mailbox (address, "
	    "kind, message_id, body) VALUES ($1, 'arm', "
	    "'0123456789abcdef01234567@corp.example', '\\x3082')";
	/* The tokens of invitations (fuzz/mkseeds.c's introductions). */
	static const char token[] = "INSERT INTO invitation_tokens "
	    "(token_hash, address, expires_at) VALUES (sha256(convert_to("
	    "$2, 'UTF8')), $1, now() + interval '100 years')";
	/* Every table but schema_migrations, copied; the DO statement. */
	/*
	 * Every table the daemon may change (not the subscribed copies,
	 * which only the subscription writes), copied; the function that
	 * puts them back (rows, sequences), alice's account active while
	 * it does and in the state asked for after.
	 */
	static const char copy[] = "SELECT format('CREATE TEMP TABLE %I AS "
	    "SELECT * FROM public.%I', 'fz_' || relname, relname) FROM "
	    "pg_class WHERE relkind = 'r' AND relnamespace = "
	    "'public'::regnamespace AND relname NOT IN ('schema_migrations', "
	    "'accounts', 'account_keys', 'bg_relay')";
	static const char reset[] = "SELECT 'CREATE FUNCTION "
	    "pg_temp.fz_reset(st text, src text) RETURNS void LANGUAGE "
	    "plpgsql AS $fz$ BEGIN UPDATE public.accounts SET status = "
	    "''active'', transferred_from = NULL WHERE address = ''" FP_ALICE
	    "'' AND (status <> ''active'' OR transferred_from IS NOT NULL); "
	    "PERFORM set_config(''session_replication_role'', ''replica'', "
	    "true); ' || (SELECT string_agg(format('DELETE FROM public.%I; ', "
	    "substr(c.relname, 4)), '') FROM pg_class c WHERE "
	    "c.relnamespace = pg_my_temp_schema() AND c.relkind = 'r') || "
	    "(SELECT coalesce(string_agg(format('INSERT INTO public.%I "
	    "OVERRIDING SYSTEM VALUE SELECT * FROM pg_temp.%I; ', "
	    "substr(c.relname, 4), c.relname), ''), '') FROM pg_class c "
	    "WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'r' "
	    "AND (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) "
	    "AS n FROM pg_temp.%I', c.relname), false, true, '')))[1]::text "
	    "<> '0') || (SELECT coalesce(string_agg(format("
	    "'PERFORM setval(%L, %s, %s); ', schemaname || '.' || "
	    "sequencename, coalesce(last_value, 1), CASE WHEN last_value IS "
	    "NULL THEN 'false' ELSE 'true' END), ''), '') FROM pg_sequences "
	    "WHERE schemaname = 'public') || 'PERFORM set_config("
	    "''session_replication_role'', ''origin'', true); IF st <> "
	    "''active'' THEN UPDATE public.accounts SET status = st, "
	    "transferred_from = src WHERE address = ''" FP_ALICE "''; END IF; "
	    "END $fz$'";
	/* What an earlier run left: every table emptied, as reset does. */
	static const char clear[] = "SELECT 'DO $fz$ BEGIN PERFORM "
	    "set_config(''session_replication_role'', ''replica'', true); ' "
	    "|| (SELECT string_agg(format('DELETE FROM public.%I; ', "
	    "relname), '') FROM pg_class WHERE relkind = 'r' AND relnamespace "
	    "= 'public'::regnamespace AND relname <> 'schema_migrations') || "
	    "(SELECT coalesce(string_agg(format('PERFORM setval(%L, 1, "
	    "false); ', schemaname || '.' || sequencename), ''), '') FROM "
	    "pg_sequences WHERE schemaname = 'public') || 'END $fz$'";
	const struct fuzz_pki *fp = fuzz_pki();
	char *agent = fp_pem(fp->fp_agent.ci_cert), *courier =
	    fp_pem(fp->fp_fg.ci_cert), err[TN_ERRLEN];
	const char *vals[3];
	PGresult *res = NULL;
	int i;

	if (db_exec(fs->fs_admin, clear, 0, NULL, NULL, &res, err) == -1)
		fp_fail("database", err);
	fp_sql(fs->fs_admin, PQgetvalue(res, 0, 0), 0, NULL, NULL);
	PQclear(res);
	vals[1] = courier;
	vals[2] = agent;
	vals[0] = FP_ALICE;
	fp_sql(fs->fs_admin, account, 3, vals, NULL);
	vals[0] = FP_BOB;
	fp_sql(fs->fs_admin, account, 3, vals, NULL);
	fp_key(fs, FP_ALICE, "1", &fp->fp_bg, "1 day");
	fp_key(fs, FP_ALICE, "2", &fp->fp_fg, NULL);
	fp_key(fs, FP_BOB, "1", &fp->fp_fg, NULL);
	vals[0] = FP_ALICE;
	fp_sql(fs->fs_admin, entry, 1, vals, NULL);
	vals[1] = "dG9rZW4tZm9yLWZ1enppbmctb25seS0wMTIzNDU2Nzg";
	fp_sql(fs->fs_admin, token, 2, vals, NULL);
	vals[0] = "carol@isp.example";
	vals[1] = "Y2Fyb2wtdG9rZW4tZm9yLWZ1enppbmctb25seS0wMTI";
	fp_sql(fs->fs_admin, token, 2, vals, NULL);
	free(agent);
	free(courier);
	if (db_exec(fs->fs_admin, copy, 0, NULL, NULL, &res, err) == -1)
		fp_fail("database", err);
	for (i = 0; i < PQntuples(res); i++)
		fp_sql(fs->fs_admin, PQgetvalue(res, i, 0), 0, NULL, NULL);
	PQclear(res);
	if (db_exec(fs->fs_admin, reset, 0, NULL, NULL, &res, err) == -1)
		fp_fail("database", err);
	fp_sql(fs->fs_admin, PQgetvalue(res, 0, 0), 0, NULL, NULL);
	PQclear(res);
}

/* The peer's background element: fuzz/pki/peer-bg.*, peer-chain.crt. */
static void
fp_peer(struct cms_id *id)
{
	char path[4200], err[TN_ERRLEN];

	snprintf(path, sizeof(path), "%s/peer-bg.crt", fp_pki_dir());
	if ((id->ci_cert = pki_load_cert(path, err)) == NULL)
		fp_fail("peer", err);
	snprintf(path, sizeof(path), "%s/peer-bg.key", fp_pki_dir());
	if ((id->ci_key = pki_load_key(path, NULL, err)) == NULL)
		fp_fail("peer", err);
	snprintf(path, sizeof(path), "%s/peer-chain.crt", fp_pki_dir());
	if ((id->ci_chain = pki_load_certs(path, err)) == NULL)
		fp_fail("peer", err);
}

/* A TLS session, in memory, of the background client with the daemon. */
static void
fp_bg_session(struct fp_state *fs)
{
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
	BIO *sb, *cb;
	char err[TN_ERRLEN];
	int i, sd = 0, cd = 0;

	if ((sctx = http_tls_ctx(&fs->fs_pd, &fs->fs_pd.pd_id,
	    fs->fs_pd.pd_cf, err)) == NULL ||
	    (cctx = pki_tls_ctx(0, fs->fs_peer.ci_cert, fs->fs_peer.ci_key,
	    fs->fs_peer.ci_chain, "peer-bg.crt", err)) == NULL)
		fp_fail("TLS", err);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	if ((s = SSL_new(sctx)) == NULL || (c = SSL_new(cctx)) == NULL ||
	    BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		fp_fail("TLS", "out of memory");
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (i = 0; i < 100 && !(sd && cd); i++) {
		if (!cd)
			cd = SSL_do_handshake(c) == 1;
		if (!sd)
			sd = SSL_do_handshake(s) == 1;
	}
	if (!sd || !cd || SSL_get_peer_cert_chain(s) == NULL) {
		ERR_print_errors_fp(stderr);
		fp_fail("TLS", "the background client's handshake failed");
	}
	fs->fs_bg_ssl = s;
	SSL_free(c);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static struct fp_state *
fp_init(void)
{
	static struct fp_state fs;
	static int done;
	const char *conninfo = getenv("TANDEM_FUZZ_PD_DB");
	const struct fuzz_pki *fp;
	char err[TN_ERRLEN], got[8];

	if (done)
		return &fs;
	if (conninfo == NULL || *conninfo == '\0' || strchr(conninfo, '"'))
		fp_fail("TANDEM_FUZZ_PD_DB", "the conninfo of a migrated, "
		    "empty background database, as a superuser, is needed");
	log_init("fuzz-policyd", 1);
	fp = fuzz_pki();
	memset(&fs, 0, sizeof(fs));
	fs.fs_pd.pd_http_fd = fs.fs_pd.pd_metrics_fd = -1;
	fs.fs_pd.pd_ready_fd = -1;
	fs.fs_pd.pd_worker = 0;
	fp_conf(&fs.fs_pd, conninfo);
	fs.fs_admin = PQconnectdb(conninfo);
	if (fs.fs_admin == NULL || PQstatus(fs.fs_admin) != CONNECTION_OK)
		fp_fail(conninfo, fs.fs_admin != NULL ?
		    PQerrorMessage(fs.fs_admin) : "out of memory");
	/* One harness a database: another's resets would be this one's. */
	if (db_one(fs.fs_admin, "SELECT pg_try_advisory_lock(7305, 1)", 0,
	    NULL, got, sizeof(got), err) != 1 || strcmp(got, "t") != 0)
		fp_fail(conninfo, "another fuzz-policyd uses this database "
		    "(libFuzzer's -jobs and -fork need one each)");
	if (store_connect(&fs.fs_pd, err) == -1)
		fp_fail("store_connect", err);
	fp_seed(&fs);
	fp_peer(&fs.fs_peer);
	fp_bg_session(&fs);
	fs.fs_certs[FP_AGENT] = fp->fp_agent.ci_cert;
	fs.fs_certs[FP_BG] = fs.fs_peer.ci_cert;
	fs.fs_certs[FP_FG] = fp->fp_fg.ci_cert;
	if ((fs.fs_base = event_base_new()) == NULL)
		fp_fail("libevent", "out of memory");
	done = 1;
	return &fs;
}

/* The database as fp_seed() left it, alice's account in state. */
static void
fp_reset(struct fp_state *fs, int state)
{
	static const char *const status[] = { "active", "transferred",
	    "pending", "closed" };
	const char *vals[2] = { status[state], NULL };

	if (state == 2)
		vals[1] = "old.example";
	fp_sql(fs->fs_admin, "SELECT pg_temp.fz_reset($1, $2)", 2, vals,
	    NULL);
}

/* What the TLS layer gives the handler, then the daemon's handler. */
static void
fp_request(struct hreq *hr, void *arg)
{
	struct fp_conn *fc = arg;
	struct fp_state *fs = fc->fc_fs;

	fc->fc_asked++;
	hr->hr_cert = fc->fc_client == FP_NONE ? NULL :
	    fs->fs_certs[fc->fc_client];
	hr->hr_ssl = fc->fc_client == FP_BG ? fs->fs_bg_ssl : NULL;
	http_request(hr, &fs->fs_pd);
	hr->hr_ssl = NULL;
	hr->hr_cert = NULL;
}

/* The framing's refusals (a path with a '%' escape it cannot take). */
static void
fp_refuse(struct hreq *hr, int code, const char *text, void *arg)
{
	struct fp_conn *fc = arg;

	fc->fc_asked++;
	fc->fc_refused = 1;
	if (code != 400 && code != 500)
		abort();
	hreq_text(hr, code, text);
}

static void
fp_settle(struct event_base *base)
{
	do
		(void)event_base_loop(base, EVLOOP_NONBLOCK);
	while (event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) > 0);
}

/* The status of the one answer the client got; aborts on anything else. */
static void
fp_answer(struct bufferevent *client)
{
	/* Not 500 or 503: the database is up, memory is there. */
	static const int codes[] = { 200, 201, 204, 400, 403, 404, 405, 410,
	    413 };
	struct evbuffer *in = bufferevent_get_input(client);
	unsigned char *p;
	size_t i;
	int code;

	if (evbuffer_get_length(in) < 12 ||
	    (p = evbuffer_pullup(in, 12)) == NULL ||
	    memcmp(p, "HTTP/1.1 ", 9) != 0) {
		fprintf(stderr, "fuzz-policyd: no answer\n");
		abort();
	}
	code = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (getenv("TANDEM_FUZZ_PD_SAY") != NULL)
		fprintf(stderr, "fuzz-policyd: answer %d\n", code);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i] == code)
			break;
	if (i == sizeof(codes) / sizeof(codes[0])) {
		fprintf(stderr, "fuzz-policyd: answered %d\n", code);
		abort();
	}
	evbuffer_drain(in, evbuffer_get_length(in));
}

/*
 * The body of a POST whose method bits are 3: wrapped here as a client
 * wraps it, signed with the client's key (an agent's without client),
 * enveloped to alice's courier end, or for /v1/courier to this
 * background, each "@NOW@" in it first replaced with the time (a seed's
 * ARM or message that never ages). The body as it is when it cannot be
 * wrapped.
 */
static void
fp_body(const struct fp_state *fs, struct evbuffer *out,
    enum fp_client client, int which, const uint8_t *data, size_t len)
{
	const struct fuzz_pki *fp = fuzz_pki();
	const struct cms_id *id = client == FP_BG ? &fs->fs_peer :
	    client == FP_FG ? &fp->fp_fg : &fp->fp_agent;
	unsigned char *der = NULL, *text;
	const uint8_t *p, *at;
	size_t derlen, n = 0;
	char err[TN_ERRLEN], now[32];
	time_t t = time(NULL);

	/* "@NOW@" is the time, as ARMs and messages write it. */
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	if ((text = malloc(len / 5 * strlen(now) + len)) == NULL)
		fp_fail("wrap", "out of memory");
	for (p = data; (at = memmem(p, len - (size_t)(p - data), "@NOW@",
	    5)) != NULL; p = at + 5) {
		memcpy(text + n, p, (size_t)(at - p));
		n += (size_t)(at - p);
		memcpy(text + n, now, strlen(now));
		n += strlen(now);
	}
	memcpy(text + n, p, len - (size_t)(p - data));
	n += len - (size_t)(p - data);
	if (cms_wrap_to(text, n, id, which == 5 ? fp->fp_bg.ci_cert :
	    fp->fp_fg.ci_cert, &der, &derlen, err) == -1) {
		evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n", len);
		evbuffer_add(out, data, len);
	} else {
		evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n",
		    derlen);
		evbuffer_add(out, der, derlen);
	}
	free(der);
	free(text);
}

/* One request of the input at *off, framed as a client does. */
static int
fp_frame(const struct fp_state *fs, const uint8_t *data, size_t size,
    size_t *off, struct evbuffer *out, enum fp_client *client)
{
	size_t i, n, len;
	unsigned b;
	int which = -1, method;

	if (*off >= size)
		return 0;
	b = data[(*off)++];
	*client = (enum fp_client)(b & 3);
	method = (b >> 2) & 3;
	evbuffer_add_printf(out, "%s ", fp_methods[method]);
	if (b & 0x80) {
		for (n = 0; *off < size && data[*off] != '\n' && n < 255;
		    n++, (*off)++)
			evbuffer_add_printf(out, "%c", data[*off] > 0x20 &&
			    data[*off] < 0x7f ? data[*off] : '%');
		if (*off < size && data[*off] == '\n')
			(*off)++;
		if (n == 0)
			evbuffer_add(out, "/", 1);
	} else {
		which = (b >> 4) & 7;
		evbuffer_add_printf(out, "%s", fp_paths[which]);
		if (which == 7)
			evbuffer_add_printf(out, "%u", *off < size ?
			    data[(*off)++] : 1);
	}
	len = 0;
	for (i = 0; i < 2 && *off < size; i++)
		len |= (size_t)data[(*off)++] << (8 * i);
	if (len > size - *off)
		len = size - *off;
	evbuffer_add_printf(out, " HTTP/1.1\r\nHost: bg.corp.example\r\n"
	    "Content-Type: application/pkcs7-mime\r\n");
	if (method == 3 && len > 0)
		fp_body(fs, out, *client, which, data + *off, len);
	else {
		evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n", len);
		evbuffer_add(out, data + *off, len);
	}
	*off += len;
	return 1;
}

int
FUZZ_ENTRY(policyd)(const uint8_t *data, size_t size)
{
	struct fp_state *fs;
	struct bufferevent *pair[2] = { NULL, NULL };
	struct evbuffer *req;
	struct fp_conn fc;
	struct httpd *hd;
	size_t off = 1;
	int n, asked;

	if (size < 2)
		return 0;
	fs = fp_init();
	fp_reset(fs, data[0] & 3);
	memset(&fc, 0, sizeof(fc));
	fc.fc_fs = fs;
	if ((req = evbuffer_new()) == NULL ||
	    (hd = httpd_new(fs->fs_base, -1, NULL, FP_MAX_BODY, fp_request,
	    fp_refuse, &fc)) == NULL ||
	    bufferevent_pair_new(fs->fs_base, BEV_OPT_DEFER_CALLBACKS,
	    pair) == -1 || httpd_conn(hd, pair[0], NULL, "192.0.2.1") == -1)
		fp_fail("libevent", "out of memory");
	bufferevent_enable(pair[1], EV_READ);
	for (n = 0; n < FP_MAX_REQ && fp_frame(fs, data, size, &off, req,
	    &fc.fc_client); n++) {
		asked = fc.fc_asked;
		if (bufferevent_write_buffer(pair[1], req) == -1)
			fp_fail("libevent", "out of memory");
		fp_settle(fs->fs_base);
		if (fc.fc_asked != asked + 1) {
			fprintf(stderr, "fuzz-policyd: request %d not handed "
			    "over\n", n + 1);
			abort();
		}
		fp_answer(pair[1]);
		if (fc.fc_refused)
			break;
	}
	httpd_free(hd);
	bufferevent_free(pair[1]);
	evbuffer_free(req);
	fp_settle(fs->fs_base);
	return 0;
}
