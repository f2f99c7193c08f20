/*
 * NAME
 *	fed-test - the federation engine (lib/fed.c) on real databases
 * SYNOPSIS
 *	fed-test FG-CONNINFO BG-CONNINFO PKI
 *	TANDEM_FED_FG=... TANDEM_FED_BG=... TANDEM_FED_PKI=... fed-test
 * DESCRIPTION
 *	t/0330-fed-engine.sh makes the certificates with tandem-ca and two
 *	databases migrated as the elements' (tandemctl db migrate --fg,
 *	--bg), then runs this. PKI is a folder of courier folders as
 *	tandem-ca makes them: root; a (public) with b (private, b.example)
 *	under it; c and e (public); under c, d (private, d.example, yet
 *	certified for b.example: a second claimant of b's domain) and bx
 *	(private, an impostor named b.example); g (gateway) with s
 *	(private, s.example) under it; and z (public) under root2, which
 *	nobody here trusts. Each courier has an FG element and a BG
 *	element (tandem@X.example and https://bg.X.example/; d's are in
 *	b.example, bx's are b's).
 *
 *	Both element kinds go through the same cases. For each, a struct
 *	fed is filled for the courier under test (a, b or g) over that
 *	kind's database, with hands (struct fed_ops) that record what the
 *	engine asks of them: wraps queued (opened with the receiving
 *	element's key to see what was sent), deliveries, notices, held
 *	items opened and gone, and notes. A hold is kept as the element
 *	keeps it, a row of its own table that the engine reads back in
 *	fed_release(): the foreground's held_messages (the payload as
 *	received; it has no fo_open_held, and its fo_released stands for
 *	withdrawing the invitation), the background's held_arms (the ARM
 *	wrapped to itself, which its fo_open_held unwraps; it has no
 *	fo_released). Messages reach the engine as an element hands them
 *	over: wrapped by the sending element, opened with fed_open(). Each
 *	engine call runs as the element's database role (SET ROLE
 *	tandem_fg or tandem_bg) in a transaction, committed when the
 *	engine took the message and rolled back otherwise, a refused
 *	claim then recorded with fed_refusal(), as the elements do; the
 *	tables are set up and read back as the cluster's superuser.
 *
 *	Every case frees what it made; the certificates, keys and
 *	connections are freed at the end of main().
 * DIAGNOSTICS
 *	TAP on standard output. Exit 0 when every check passed, 1 when one
 *	failed; without databases, "1..0 # SKIP" and exit 77.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "tap.h"
#include "arm.h"
#include "cms.h"
#include "conf.h"
#include "db.h"
#include "fed.h"
#include "intro.h"
#include "pki.h"
#include "proto.h"
#include "route.h"
#include "tandem.h"

#define NSLOT		16	/* calls of one kind kept per step */
#define HOLD_LIMIT	(30 * 24 * 3600)	/* hold_limit's default */
#define REPLAY_WINDOW	(7 * 24 * 3600)		/* replay_window's */
#define CLOCK_SKEW	600			/* clock_skew's */
#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define KI(k)		((k) == PKI_KIND_FG ? 0 : 1)
#define OTHER(k)	((k) == PKI_KIND_FG ? PKI_KIND_BG : PKI_KIND_FG)

/* The couriers of the PKI folder; 0 is "none" in the tables. */
enum {
	C_NONE = 0, C_A, C_B, C_C, C_E, C_G, C_S, C_Z, C_D, C_BX, C_N
};

static const struct {
	const char	*cp_dir;
	const char	*cp_name;
	enum pki_role	 cp_role;
	const char	*cp_superior;
	int		 cp_supgw;
} couriers[C_N] = {
	[C_A] = { "a", "a.example", PKI_ROLE_PUBLIC, "root.example", 0 },
	[C_B] = { "b", "b.example", PKI_ROLE_PRIVATE, "a.example", 0 },
	[C_C] = { "c", "c.example", PKI_ROLE_PUBLIC, "root.example", 0 },
	[C_E] = { "e", "e.example", PKI_ROLE_PUBLIC, "root.example", 0 },
	[C_G] = { "g", "g.example", PKI_ROLE_GATEWAY, "root.example", 0 },
	[C_S] = { "s", "s.example", PKI_ROLE_PRIVATE, "g.example", 1 },
	[C_Z] = { "z", "z.example", PKI_ROLE_PUBLIC, "root.example", 0 },
	[C_D] = { "d", "d.example", PKI_ROLE_PRIVATE, "c.example", 0 },
	[C_BX] = { "bx", "b.example", PKI_ROLE_PRIVATE, "c.example", 0 },
};

/* One element of a courier, from the PKI folder. */
struct elem {
	struct cms_id	 el_id;
	char		*el_pem;	/* fed_self_pem() */
	char		*el_endpoint;
	struct intro	*el_in;		/* intro_check(); NULL for z */
};

static struct elem elems[C_N][2];
static X509 *seg_ca;			/* s's CA: g's segment */
static struct pki_trust *trust;

static struct elem *
el_of(int c, enum pki_kind k)
{
	return &elems[c][KI(k)];
}

static void *
xmemdup(const void *p, size_t n)
{
	void *q;

	if (p == NULL)
		return NULL;
	if ((q = malloc(n + 1)) == NULL)
		abort();
	memcpy(q, p, n);
	((char *)q)[n] = '\0';
	return q;
}

static char *
xstrdup(const char *s)
{
	return s == NULL ? NULL : xmemdup(s, strlen(s));
}

static int
pki_elem(const char *dir, int c, enum pki_kind k, char *err)
{
	struct elem *el = el_of(c, k);
	const char *w = k == PKI_KIND_FG ? "fg" : "bg", *d = couriers[c].cp_dir;
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s/elements/%s.crt", dir, d, w);
	if ((el->el_id.ci_cert = pki_load_cert(path, err)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/elements/%s.key", dir, d, w);
	if ((el->el_id.ci_key = pki_load_key(path, NULL, err)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/chain.pem", dir, d);
	if ((el->el_id.ci_chain = pki_load_certs(path, err)) == NULL ||
	    fed_self_pem(&el->el_id, &el->el_pem, err) == -1)
		return -1;
	el->el_endpoint = k == PKI_KIND_FG ? pki_cert_email(el->el_id.ci_cert) :
	    pki_cert_uri(el->el_id.ci_cert);
	if (el->el_endpoint == NULL) {
		tn_err(err, "%s: no endpoint in the %s certificate", d, w);
		return -1;
	}
	if (c != C_Z && intro_check(trust, el->el_id.ci_cert,
	    el->el_id.ci_chain, k, &el->el_in, err) == -1)
		return -1;
	return 0;
}

static int
pki_load(const char *dir, char *err)
{
	char path[1024];
	int c;

	snprintf(path, sizeof(path), "%s/root/root.crt", dir);
	if ((trust = pki_trust_load(path, err)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/s/ca.crt", dir);
	if ((seg_ca = pki_load_cert(path, err)) == NULL)
		return -1;
	for (c = C_A; c < C_N; c++)
		if (pki_elem(dir, c, PKI_KIND_FG, err) == -1 ||
		    pki_elem(dir, c, PKI_KIND_BG, err) == -1)
			return -1;
	return 0;
}

static void
pki_free(void)
{
	struct elem *el;
	int c, k;

	for (c = C_A; c < C_N; c++)
		for (k = 0; k < 2; k++) {
			el = &elems[c][k];
			X509_free(el->el_id.ci_cert);
			EVP_PKEY_free(el->el_id.ci_key);
			sk_X509_pop_free(el->el_id.ci_chain, X509_free);
			free(el->el_pem);
			free(el->el_endpoint);
			intro_free(el->el_in);
		}
	X509_free(seg_ca);
	pki_trust_free(trust);
}

/*
 * The element under test and what its hands were asked. A call keeps
 * copies: the engine's pointers are gone once it returns.
 */
struct call {
	char		*ca_endpoint;	/* queue */
	char		*ca_kind;	/* queue */
	char		*ca_msgid;
	char		*ca_sender;
	char		*ca_rcpt;
	char		*ca_origin;
	char		*ca_text;	/* notice: reason; done: courier;
				   open: why it did not */
	char		*ca_held;
	char		*ca_expires;
	unsigned int	 ca_hops;
	unsigned char	*ca_data;	/* queue: the wrap; else the payload */
	size_t		 ca_len;
	int		 ca_extra_ok;	/* it_extra: fo_check's, or NULL */
};

struct note {
	enum fed_event	 no_event;
	char		*no_courier;
	char		*no_for;
	char		*no_text;
	char		*no_endpoint;
	char		*no_rcpt;
	char		*no_origin;
	size_t		 no_count;
	int		 no_flag;
	int		 no_released;
};

/* The hands: fo_queue, fo_deliver, ..., fo_released, fo_open_held. */
enum { K_QUEUE, K_DELIVER, K_HOLD, K_NOTICE, K_DONE, K_CHECK, K_OPEN, K_N };

struct tf {
	enum pki_kind	 t_kind;
	const char	*t_kname;	/* "fg", "bg" */
	PGconn		*t_db;
	int		 t_self;
	struct conf	 t_cf;
	char		 t_name[64], t_sup[64], t_dom[64];
	char		*t_doms[1];
	struct fed_ops	 t_ops;
	struct call	 t_calls[K_N][NSLOT];
	int		 t_n[K_N];
	struct note	 t_notes[4 * NSLOT];
	int		 t_nnotes;
	int		 t_sent;	/* fd_sent of the last call */
	const char	*t_check_fail;	/* fo_check refuses with this */
	const void	*t_extra;	/* what fo_check made */
	int		 t_overflow;
};

static int arms_alive;		/* fo_check's records not yet freed */

static void
call_free(struct call *ca)
{
	free(ca->ca_endpoint);
	free(ca->ca_kind);
	free(ca->ca_msgid);
	free(ca->ca_sender);
	free(ca->ca_rcpt);
	free(ca->ca_origin);
	free(ca->ca_text);
	free(ca->ca_held);
	free(ca->ca_expires);
	free(ca->ca_data);
	memset(ca, 0, sizeof(*ca));
}

/* Forget what the hands were asked. */
static void
tf_clear(struct tf *t)
{
	struct note *no;
	int i, k;

	for (k = 0; k < K_N; k++) {
		for (i = 0; i < t->t_n[k]; i++)
			call_free(&t->t_calls[k][i]);
		t->t_n[k] = 0;
	}
	for (i = 0; i < t->t_nnotes; i++) {
		no = &t->t_notes[i];
		free(no->no_courier);
		free(no->no_for);
		free(no->no_text);
		free(no->no_endpoint);
		free(no->no_rcpt);
		free(no->no_origin);
	}
	t->t_nnotes = 0;
	t->t_sent = 0;
	t->t_extra = NULL;
}

static struct call *
tf_call(struct fed *fd, int k, const struct fed_item *it)
{
	struct tf *t = fd->fd_arg;
	struct call *ca;

	if (t->t_n[k] >= NSLOT) {
		t->t_overflow = 1;
		return NULL;
	}
	ca = &t->t_calls[k][t->t_n[k]++];
	if (it != NULL) {
		ca->ca_msgid = xstrdup(it->it_msgid);
		ca->ca_sender = xstrdup(it->it_sender);
		ca->ca_rcpt = xstrdup(it->it_rcpt);
		ca->ca_origin = xstrdup(it->it_origin);
		ca->ca_held = xstrdup(it->it_held);
		ca->ca_expires = xstrdup(it->it_expires);
		ca->ca_hops = it->it_hops;
		ca->ca_data = xmemdup(it->it_payload, it->it_paylen);
		ca->ca_len = it->it_paylen;
		ca->ca_extra_ok = it->it_extra == t->t_extra;
	}
	return ca;
}

static int
tf_queue(struct fed *fd, const char *endpoint, const char *kind,
    const struct fed_item *it, const unsigned char *wrap, size_t wlen,
    char *err)
{
	struct call *ca;

	if ((ca = tf_call(fd, K_QUEUE, NULL)) == NULL) {
		tn_err(err, "test: too many wraps");
		return -1;
	}
	ca->ca_endpoint = xstrdup(endpoint);
	ca->ca_kind = xstrdup(kind);
	ca->ca_msgid = xstrdup(it != NULL ? it->it_msgid : NULL);
	ca->ca_data = xmemdup(wrap, wlen);
	ca->ca_len = wlen;
	return 0;
}

/* As both elements: an account without its agent cannot take it yet. */
static int
tf_deliver(struct fed *fd, const struct fed_item *it, char *err)
{
	const char *p[1] = { it->it_rcpt };
	char agent[4];
	int r;

	if ((r = db_one(fd->fd_db, "SELECT agent_cert IS NOT NULL FROM "
	    "accounts WHERE address = lower($1) AND status = 'active'", 1, p,
	    agent, sizeof(agent), err)) == -1)
		return -1;
	if (r == 0 || strcmp(agent, "t") != 0)
		return 1;
	if (tf_call(fd, K_DELIVER, it) == NULL) {
		tn_err(err, "test: too many deliveries");
		return -1;
	}
	return 0;
}

/*
 * As the elements hold (milter/fgdb.c fgdb_hold(), policy/bgfed.c
 * bgfed_hold()): the foreground keeps the sealed content as received in
 * held_messages (its invitation is its own business); the background
 * keeps the ARM record wrapped to itself in held_arms, with the expiry
 * its restrictions give.
 */
static int
tf_hold(struct fed *fd, const struct fed_item *it, char *err)
{
	const struct arm_record *ar = it->it_extra;
	const char *p[5] = { it->it_msgid, it->it_sender, it->it_rcpt, NULL,
	    it->it_expires };
	int lens[5] = { 0, 0, 0, 0, 0 }, rc = -1;
	unsigned char *wrap = NULL;
	size_t wlen;
	char exp[32];

	if (tf_call(fd, K_HOLD, it) == NULL) {
		tn_err(err, "test: too many holds");
		return -1;
	}
	if (fd->fd_kind == PKI_KIND_FG) {
		p[3] = (const char *)it->it_payload;
		lens[3] = (int)it->it_paylen;
		return db_exec(fd->fd_db, "INSERT INTO held_messages "
		    "(message_id, sender, recipient, body) VALUES ($1, $2, $3, "
		    "$4) ON CONFLICT DO NOTHING", 4, p, lens, NULL, err);
	}
	if (p[4] == NULL && ar != NULL && ar->ar_restr.rs_expires != 0 &&
	    proto_format_time(ar->ar_restr.rs_expires, exp, sizeof(exp)) == 0)
		p[4] = exp;
	if (cms_wrap_to(it->it_payload, it->it_paylen, fd->fd_id,
	    fd->fd_id->ci_cert, &wrap, &wlen, err) == 0) {
		p[3] = (const char *)wrap;
		lens[3] = (int)wlen;
		rc = db_exec(fd->fd_db, "INSERT INTO held_arms (message_id, "
		    "sender, recipient, arm, expires_at) VALUES ($1, $2, "
		    "lower($3), $4, $5) ON CONFLICT DO NOTHING", 5, p, lens,
		    NULL, err);
	}
	free(wrap);
	return rc;
}

static int
tf_notice(struct fed *fd, const struct fed_item *it, const char *reason,
    char *err)
{
	struct call *ca;

	if ((ca = tf_call(fd, K_NOTICE, it)) == NULL) {
		tn_err(err, "test: too many notices");
		return -1;
	}
	ca->ca_text = xstrdup(reason);
	return 0;
}

/* The background's check, in short: an ARM record of that message. */
static int
tf_check(struct fed *fd, const struct intro_ic *ic, void **extra,
    char *err)
{
	struct tf *t = fd->fd_arg;
	struct arm_record *ar = NULL;
	struct call *ca;

	if ((ca = tf_call(fd, K_CHECK, NULL)) != NULL)
		ca->ca_msgid = xstrdup(ic->ic_msgid);
	if (arm_parse((const char *)ic->ic_payload, ic->ic_paylen, &ar,
	    err) == -1)
		return -1;
	*extra = ar;
	t->t_extra = ar;
	arms_alive++;
	if (t->t_check_fail != NULL) {
		tn_err(err, "%s", t->t_check_fail);
		return -1;
	}
	if (strcmp(ar->ar_msgid, ic->ic_msgid) != 0) {
		tn_err(err, "bad ARM: ARM record is not the one announced");
		return -1;
	}
	return 0;
}

static void
tf_check_free(void *extra)
{
	arms_alive--;
	arm_free(extra);
}

/*
 * The background's fo_open_held: the ARM it wrapped to itself when it
 * held it; 1 when that no longer opens (the row stays).
 */
static int
tf_open_held(struct fed *fd, const struct fed_item *it, unsigned char **out,
    size_t *outlen, char *err)
{
	struct call *ca;
	enum cms_fail fail;
	char why[TN_ERRLEN];

	if ((ca = tf_call(fd, K_OPEN, it)) == NULL) {
		tn_err(err, "test: too many held items opened");
		return -1;
	}
	if (cms_unwrap(it->it_payload, it->it_paylen, fd->fd_id,
	    pki_trust_store(fd->fd_trust), out, outlen, NULL, NULL, &fail,
	    why) == 0)
		return 0;
	ca->ca_text = xstrdup(why);
	return 1;
}

/* The foreground's fo_released: where it withdraws the invitation. */
static int
tf_released(struct fed *fd, const struct fed_item *it, const char *courier,
    char *err)
{
	struct call *ca;

	if ((ca = tf_call(fd, K_DONE, it)) == NULL) {
		tn_err(err, "test: too many held items released");
		return -1;
	}
	ca->ca_text = xstrdup(courier);
	return 0;
}

static void
tf_note(struct fed *fd, const struct fed_note *fn)
{
	struct tf *t = fd->fd_arg;
	struct note *no;

	if (t->t_nnotes >= (int)(sizeof(t->t_notes) / sizeof(*no))) {
		t->t_overflow = 1;
		return;
	}
	no = &t->t_notes[t->t_nnotes++];
	memset(no, 0, sizeof(*no));
	no->no_event = fn->fn_event;
	no->no_courier = xstrdup(fn->fn_courier);
	no->no_for = xstrdup(fn->fn_for);
	no->no_text = xstrdup(fn->fn_text);
	no->no_endpoint = xstrdup(fn->fn_endpoint);
	no->no_count = fn->fn_count;
	no->no_flag = fn->fn_flag;
	no->no_released = fn->fn_released;
	if (fn->fn_item != NULL) {
		no->no_rcpt = xstrdup(fn->fn_item->it_rcpt);
		no->no_origin = xstrdup(fn->fn_item->it_origin);
	}
}

/* The n-th note of an event (for rcpt, when not NULL), or NULL. */
static const struct note *
tf_note_of(const struct tf *t, enum fed_event ev, const char *rcpt)
{
	int i;

	for (i = 0; i < t->t_nnotes; i++)
		if (t->t_notes[i].no_event == ev && (rcpt == NULL ||
		    (t->t_notes[i].no_rcpt != NULL &&
		    strcmp(t->t_notes[i].no_rcpt, rcpt) == 0)))
			return &t->t_notes[i];
	return NULL;
}

/* This element: courier c's of kind t_kind. */
static void
tf_self(struct tf *t, int c)
{
	struct conf *cf = &t->t_cf;

	t->t_self = c;
	memset(cf, 0, sizeof(*cf));
	snprintf(t->t_name, sizeof(t->t_name), "%s", couriers[c].cp_name);
	snprintf(t->t_sup, sizeof(t->t_sup), "%s", couriers[c].cp_superior);
	snprintf(t->t_dom, sizeof(t->t_dom), "%s", couriers[c].cp_name);
	t->t_doms[0] = t->t_dom;
	cf->cf_name = t->t_name;
	cf->cf_role = couriers[c].cp_role;
	cf->cf_domains = t->t_doms;
	cf->cf_ndomains = 1;
	cf->cf_superior = t->t_sup;
	cf->cf_superior_gateway = couriers[c].cp_supgw;
	cf->cf_hold_limit = HOLD_LIMIT;
	cf->cf_replay_window = REPLAY_WINDOW;
	cf->cf_clock_skew = CLOCK_SKEW;
}

/* A struct fed as an element fills it for one message. */
static void
tf_fed(struct tf *t, struct fed *fd)
{
	struct elem *el = el_of(t->t_self, t->t_kind);

	memset(fd, 0, sizeof(*fd));
	fd->fd_kind = t->t_kind;
	fd->fd_conf = &t->t_cf;
	fd->fd_endpoint = el->el_endpoint;
	fd->fd_id = &el->el_id;
	fd->fd_trust = trust;
	fd->fd_self_pem = el->el_pem;
	fd->fd_db = t->t_db;
	fd->fd_ops = &t->t_ops;
	fd->fd_arg = t;
}

static int
tf_sql(struct tf *t, const char *sql, int n, const char *const *p)
{
	char err[TN_ERRLEN];

	if (db_run(t->t_db, sql, n, p, err) == -1) {
		diag("%s: %s: %s", t->t_kname, sql, err);
		return -1;
	}
	return 0;
}

/* Column 0 of the first row as text, "(none)" or "(error)". */
static void
tf_get(struct tf *t, char *buf, size_t len, const char *sql, int n,
    const char *const *p)
{
	char err[TN_ERRLEN];
	int r;

	if ((r = db_one(t->t_db, sql, n, p, buf, len, err)) == -1)
		diag("%s: %s: %s", t->t_kname, sql, err);
	if (r != 1)
		snprintf(buf, len, "%s", r == 0 ? "(none)" : "(error)");
}

/* As the element's role, in a transaction; tf_leave() ends both. */
static int
tf_enter(struct tf *t)
{
	char err[TN_ERRLEN];

	if (tf_sql(t, t->t_kind == PKI_KIND_FG ? "SET ROLE tandem_fg" :
	    "SET ROLE tandem_bg", 0, NULL) == -1)
		return -1;
	if (db_begin(t->t_db, err) == -1) {
		diag("%s: %s", t->t_kname, err);
		return -1;
	}
	return 0;
}

static int
tf_leave(struct tf *t, int commit)
{
	char err[TN_ERRLEN];
	int rc = 0;

	if (commit && db_commit(t->t_db, err) == -1) {
		diag("%s: %s", t->t_kname, err);
		rc = -1;
	}
	db_rollback(t->t_db);
	if (tf_sql(t, "RESET ROLE", 0, NULL) == -1)
		rc = -1;
	return rc;
}

/* A new case: this element is courier c's; empty tables, nothing held. */
static int
tf_reset(struct tf *t, int c)
{
	tf_clear(t);
	tf_self(t, c);
	t->t_check_fail = NULL;
	return tf_sql(t, t->t_kind == PKI_KIND_FG ? "TRUNCATE accounts, "
	    "account_keys, address_routes, introductions, seen_messages, "
	    "invitations, invitation_tokens, held_messages, route_tokens, "
	    "refused_claims, rekeys" : "TRUNCATE accounts, address_routes, "
	    "introductions, seen_messages, invitation_tokens, held_arms, "
	    "route_tokens, refused_claims", 0, NULL);
}

/* Rows a case starts from, put in as the operator or replication would. */
enum {
	ROW_END = 0, ROW_ACCOUNT, ROW_ROUTE, ROW_INTRO, ROW_TOKEN, ROW_RTOKEN
};

struct row {
	int		 rw_what;
	const char	*rw_a;	/* account, route: address; tokens: token */
	const char	*rw_b;	/* account: status; route: courier; tokens:
				   address; intro: how */
	const char	*rw_c;	/* account: redirect_to; route: reason;
				   tokens: expires in; intro: learned at */
	int		 rw_n;	/* account: has its agent; intro: courier */
};

#define ACCOUNT(a, st, agent)	{ ROW_ACCOUNT, a, st, NULL, agent }
#define MOVED(a, to)		{ ROW_ACCOUNT, a, "transferred", to, 0 }
#define ROUTE(a, to, why)	{ ROW_ROUTE, a, to, why, 0 }
#define KNOWS(c)		{ ROW_INTRO, NULL, NULL, NULL, c }
#define PINNED_AT(c, at)	{ ROW_INTRO, NULL, NULL, at, c }
#define LEARNT(c, at)		{ ROW_INTRO, NULL, "learned", at, c }
#define KEYLESS(c)		{ ROW_INTRO, NULL, "keyless", NULL, c }
#define TOKEN(tok, a, in)	{ ROW_TOKEN, tok, a, in, 0 }
#define RTOKEN(tok, a, in)	{ ROW_RTOKEN, tok, a, in, 0 }

/*
 * The introduction of courier c's element: as tandemctl intro add
 * records it (pinned, with its courier's key), as an earlier
 * introduction left it ("learned"), or as it was before the keys
 * ("keyless", fg/004 and bg/005); at is its learned_at, or now.
 */
static int
tf_knows(struct tf *t, int c, const char *how, const char *at)
{
	const struct intro *in = el_of(c, t->t_kind)->el_in;
	const char *p[9];
	char *dom = NULL, err[TN_ERRLEN];
	int rc;

	if (intro_domains_text(in, &dom, err) == -1) {
		diag("%s", err);
		return -1;
	}
	p[0] = in->in_courier;
	p[1] = t->t_kname;
	p[2] = in->in_endpoint;
	p[3] = in->in_pem;
	p[4] = dom;
	p[5] = pki_role_name(in->in_role);
	p[6] = how != NULL && strcmp(how, "keyless") == 0 ? NULL : in->in_key;
	p[7] = how == NULL ? "t" : "f";
	p[8] = at;
	rc = tf_sql(t, "INSERT INTO introductions (courier, element, "
	    "endpoint, certificate, domains, role, courier_key, pinned, "
	    "learned_at) VALUES ($1, $2, $3, $4, coalesce(string_to_array("
	    "nullif($5, ''), ' '), '{}'), $6, $7, $8, "
	    "coalesce($9::timestamptz, now()))", 9, p);
	free(dom);
	return rc;
}

static int
tf_row(struct tf *t, const struct row *rw)
{
	const char *p[4] = { rw->rw_a, rw->rw_b, rw->rw_c, NULL };

	switch (rw->rw_what) {
	case ROW_ACCOUNT:
		p[3] = rw->rw_n ? "agent certificate" : NULL;
		return tf_sql(t, "INSERT INTO accounts (address, status, "
		    "redirect_to, agent_cert, created_at, updated_at) VALUES "
		    "($1, $2, $3, $4, now(), now())", 4, p);
	case ROW_ROUTE:
		return tf_sql(t, "INSERT INTO address_routes (address, "
		    "courier, reason) VALUES ($1, $2, $3)", 3, p);
	case ROW_INTRO:
		return tf_knows(t, rw->rw_n, rw->rw_b, rw->rw_c);
	case ROW_TOKEN:
		/* The FG's invitation; its trigger fills invitation_tokens. */
		if (t->t_kind == PKI_KIND_FG)
			return tf_sql(t, "INSERT INTO invitations (address, "
			    "message_id, token_hash, expires_at) VALUES ($2, "
			    "'invitation@a.example', sha256(convert_to($1, "
			    "'UTF8')), now() + $3::interval)", 3, p);
		return tf_sql(t, "INSERT INTO invitation_tokens (token_hash, "
		    "address, expires_at) VALUES (sha256(convert_to($1, "
		    "'UTF8')), $2, now() + $3::interval)", 3, p);
	case ROW_RTOKEN:
		/* As fed_send() keeps the token of a message it originated. */
		return tf_sql(t, "INSERT INTO route_tokens (token_hash, "
		    "address, expires_at) VALUES (sha256(convert_to($1, "
		    "'UTF8')), lower($2), now() + $3::interval)", 3, p);
	}
	return 0;
}

static int
tf_rows(struct tf *t, const struct row *rw, size_t n)
{
	size_t i;

	for (i = 0; i < n && rw[i].rw_what != ROW_END; i++)
		if (tf_row(t, &rw[i]) == -1)
			return -1;
	return 0;
}

/*
 * A name for a check, formatted into one of eight buffers in turn: a
 * name may be made from another one made just before.
 */
static const char *nm(const char *, ...) __attribute__((format(printf, 1, 2)));

static const char *
nm(const char *fmt, ...)
{
	static char buf[8][512];
	static unsigned int next;
	char *b = buf[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(buf[0]), fmt, ap);
	va_end(ap);
	return b;
}

static int
same(const char *got, const char *want)
{
	return (got == NULL && want == NULL) || (got != NULL && want != NULL &&
	    strcmp(got, want) == 0);
}

/* is_same() as a function: GCC 12 sees a NULL %s in the macro inlined. */
static void
is_same(const char *got, const char *want, const char *name)
{
	if (!ok(same(got, want), "%s", name))
		diag("  got \"%s\", want \"%s\"", got ? got : "(null)",
		    want ? want : "(null)");
}

static const char *
st_name(enum fed_status st)
{
	static const char *const names[] = { "taken", "duplicate",
	    "unverified", "refused", "bad", "error" };

	return (unsigned int)st <= FED_ERROR ? names[st] : "?";
}

static void
is_status(enum fed_status got, enum fed_status want, const char *name)
{
	if (!ok(got == want, "%s", name))
		diag("  got %s, want %s", st_name(got), st_name(want));
}

/*
 * The payload: sealed bytes (binary) from an FG, an ARM record from a BG
 * (expiring at expires, when not 0).
 */
static int
msg_payload(enum pki_kind k, const char *msgid, const char *sender,
    const char *const *rcpts, size_t n, time_t expires, unsigned char **pay,
    size_t *len, char *err)
{
	struct arm_record *ar;
	const char *p;
	unsigned int h = 0;
	size_t i;
	int rc = -1;

	if (k == PKI_KIND_FG) {
		for (p = msgid; *p != '\0'; p++)
			h = h * 31 + (unsigned char)*p;
		*len = 300 + strlen(msgid);
		if ((*pay = malloc(*len)) == NULL)
			abort();
		for (i = 0; i < *len; i++)	/* every byte value, NUL too */
			(*pay)[i] = (unsigned char)(i * 7 + h);
		return 0;
	}
	if ((ar = arm_new()) == NULL)
		abort();
	ar->ar_msgid = xstrdup(msgid);
	ar->ar_sender = xstrdup(sender);
	memset(ar->ar_key, 0x5a, sizeof(ar->ar_key));
	memset(ar->ar_digest, 0xa5, sizeof(ar->ar_digest));
	ar->ar_issued = 1767225600;	/* 2026-01-01 */
	ar->ar_restr.rs_expires = expires;
	for (i = 0; i < n; i++)
		if (arm_add_rcpt(ar, rcpts[i], err) == -1)
			goto out;
	rc = arm_format(ar, (char **)pay, len, err);
out:
	arm_free(ar);
	return rc;
}

/* An inter-courier message of a case, as its sending element makes it. */
struct ic_spec {
	const char	*is_id;		/* Id; the Message-Id is "m" + Id */
	int		 is_from;	/* the element that signs and sends */
	int		 is_origin;
	unsigned int	 is_hops;
	const char	*is_sender;
	const char	*is_rcpts[3];
	int		 is_to;		/* To-Element; 0: this element */
	int		 is_from_ep;	/* From-Element; 0: is_from's */
	const char	*is_origin_name;	/* NULL: the origin's */
	int		 is_other;	/* of the other element kind */
	char		 is_bad_hops;	/* Hops rewritten to this digit */
	const char	*is_token;	/* Route-Token, or NULL */
	time_t		 is_expires;	/* the ARM's expiry, or 0 */
	int		 is_sig;	/* Origin-Signature: SIG_ORIGIN... */
	long		 is_age;	/* Date and Origin-Date: now - this */
	const char	*is_odate;	/* or else this Origin-Date */
};

/* Who makes the Origin-Signature of a case's message. */
enum {
	SIG_ORIGIN = 0,		/* the origin element: honest */
	SIG_NONE,		/* nobody: no field */
	SIG_RELAY,		/* the element that sends it (is_from) */
	SIG_OTHER_SENDER	/* the origin, for another Sender */
};

static size_t
count3(const char *const *v)
{
	size_t n;

	for (n = 0; n < 3 && v[n] != NULL; n++)
		;
	return n;
}

static int
msg_ic(struct tf *t, const struct ic_spec *is, char **text, size_t *len,
    unsigned char **pay, size_t *paylen)
{
	enum pki_kind k = is->is_other ? OTHER(t->t_kind) : t->t_kind;
	struct intro_ic ic;
	char msgid[TN_MAX_MSGID + 1], err[TN_ERRLEN], date[32], *h;
	char *sig = NULL;
	size_t n = count3(is->is_rcpts);

	*text = NULL;
	snprintf(msgid, sizeof(msgid), "m%s", is->is_id);
	if (msg_payload(k, msgid, is->is_sender, is->is_rcpts, n,
	    is->is_expires, pay, paylen, err) == -1)
		goto fail;
	memset(&ic, 0, sizeof(ic));
	ic.ic_id = (char *)is->is_id;
	ic.ic_from = el_of(is->is_from_ep ? is->is_from_ep : is->is_from,
	    k)->el_endpoint;
	ic.ic_to = el_of(is->is_to ? is->is_to : t->t_self, k)->el_endpoint;
	ic.ic_msgid = msgid;
	ic.ic_sender = (char *)is->is_sender;
	ic.ic_rcpts = (char **)is->is_rcpts;
	ic.ic_nrcpts = n;
	ic.ic_hops = is->is_hops;
	ic.ic_origin = (char *)(is->is_origin_name != NULL ?
	    is->is_origin_name : couriers[is->is_origin].cp_name);
	ic.ic_kind = k;
	ic.ic_payload = *pay;
	ic.ic_paylen = *paylen;
	ic.ic_origin_pem = el_of(is->is_origin, k)->el_pem;
	ic.ic_token = (char *)is->is_token;
	if (proto_format_time(time(NULL) - is->is_age, date,
	    sizeof(date)) == -1)
		abort();
	ic.ic_origin_date = (char *)(is->is_odate != NULL ? is->is_odate :
	    date);
	if (is->is_sig == SIG_OTHER_SENDER)
		ic.ic_sender = "boss@c.example";
	if (is->is_sig != SIG_NONE && intro_ic_sign(&ic, el_of(is->is_sig ==
	    SIG_RELAY ? is->is_from : is->is_origin, k)->el_id.ci_key, &sig,
	    err) == -1)
		goto fail;
	ic.ic_sender = (char *)is->is_sender;
	ic.ic_origin_sig = sig;
	if (intro_ic_make(&ic, text, len, err) == -1)
		goto fail;
	free(sig);
	sig = NULL;
	if (is->is_age != 0) {	/* this hop's Date too */
		if ((h = strstr(*text, "\nDate: ")) == NULL) {
			tn_err(err, "no Date field");
			goto fail;
		}
		memcpy(h + 7, date, strlen(date));
	}
	if (is->is_bad_hops != '\0') {
		if ((h = strstr(*text, "\nHops: ")) == NULL) {
			tn_err(err, "no Hops field");
			goto fail;
		}
		h[7] = is->is_bad_hops;
	}
	return 0;
fail:
	diag("%s: message %s: %s", t->t_kname, is->is_id, err);
	free(sig);
	free(*text);
	*text = NULL;
	return -1;
}

/* What an introduction of a case says. */
struct intro_spec {
	int		 sp_of;		/* the element introduced */
	int		 sp_other;	/* of the other element kind */
	int		 sp_subs;	/* g: its segment (s's CA) too */
	const char	*sp_id;
	const char *const *sp_addrs;	/* three at most, or NULL */
	const char *const *sp_proofs;	/* route token of each, or NULL */
	const char	*sp_token;
};

/* An introduction of courier sp_of's element, as that element makes it. */
static int
msg_intro(struct tf *t, const struct intro_spec *sp, char **text,
    size_t *len)
{
	struct elem *el = el_of(sp->sp_of, sp->sp_other ? OTHER(t->t_kind) :
	    t->t_kind);
	struct intro_req rq;
	char err[TN_ERRLEN];
	int rc = -1;

	memset(&rq, 0, sizeof(rq));
	rq.ir_cert = el->el_id.ci_cert;
	rq.ir_chain = el->el_id.ci_chain;
	rq.ir_id = sp->sp_id;
	rq.ir_addrs = sp->sp_addrs;
	rq.ir_naddrs = sp->sp_addrs == NULL ? 0 : count3(sp->sp_addrs);
	rq.ir_proofs = sp->sp_proofs;
	rq.ir_token = sp->sp_token;
	if (sp->sp_subs && ((rq.ir_subs = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(rq.ir_subs, seg_ca)))
		abort();
	if (intro_make(&rq, text, len, err) == -1)
		diag("%s: introduction %s: %s", t->t_kname, sp->sp_id, err);
	else
		rc = 0;
	sk_X509_free(rq.ir_subs);
	return rc;
}

/* text wrapped by courier from's element to this one. */
static int
tf_wrap(struct tf *t, int from, const char *text, size_t len,
    unsigned char **wrap, size_t *wlen)
{
	char err[TN_ERRLEN];

	if (cms_wrap_to((const unsigned char *)text, len, &el_of(from,
	    t->t_kind)->el_id, el_of(t->t_self, t->t_kind)->el_id.ci_cert,
	    wrap, wlen, err) == -1) {
		diag("%s: wrap from %s: %s", t->t_kname,
		    couriers[from].cp_name, err);
		return -1;
	}
	return 0;
}

/*
 * text as this element receives it from courier from's element: wrapped
 * by that one, opened by fed_open() as the elements open it.
 */
static int
tf_carry(struct tf *t, int from, const char *text, size_t len,
    unsigned char **in, size_t *inlen, struct intro **peer)
{
	struct fed fd;
	X509 *signer = NULL;
	unsigned char *wrap = NULL;
	size_t wlen;
	char why[TN_ERRLEN];
	enum fed_status st;

	*in = NULL;
	*peer = NULL;
	if (tf_wrap(t, from, text, len, &wrap, &wlen) == -1)
		return -1;
	tf_fed(t, &fd);
	if ((st = fed_open(&fd, wrap, wlen, in, inlen, peer, &signer,
	    why)) != FED_TAKEN)
		diag("%s: carry from %s: %s: %s", t->t_kname,
		    couriers[from].cp_name, st_name(st), why);
	X509_free(signer);
	free(wrap);
	return st == FED_TAKEN ? 0 : -1;
}

/* As the elements do after a refusal: the claim refused, recorded. */
static int
tf_refusal(struct tf *t, struct fed *fd)
{
	char err[TN_ERRLEN];
	int rc = 0;

	if (tf_sql(t, t->t_kind == PKI_KIND_FG ? "SET ROLE tandem_fg" :
	    "SET ROLE tandem_bg", 0, NULL) == -1)
		return -1;
	if (fed_refusal(fd, err) == -1) {
		diag("%s: fed_refusal: %s", t->t_kname, err);
		rc = -1;
	}
	if (tf_sql(t, "RESET ROLE", 0, NULL) == -1)
		rc = -1;
	return rc;
}

/* fed_take_ic() or fed_take_intro(), as an element runs it. */
static enum fed_status
tf_take(struct tf *t, int intro, int from, const char *text, size_t len,
    char *why)
{
	struct intro *peer = NULL;
	unsigned char *in = NULL;
	size_t inlen = 0;
	struct fed fd;
	char err[TN_ERRLEN];
	enum fed_status st = FED_ERROR;

	tf_clear(t);
	why[0] = err[0] = '\0';
	if (tf_carry(t, from, text, len, &in, &inlen, &peer) == -1 ||
	    tf_enter(t) == -1)
		goto out;
	tf_fed(t, &fd);
	st = intro ? fed_take_intro(&fd, peer, (const char *)in, inlen, why,
	    err) : fed_take_ic(&fd, peer, (const char *)in, inlen, why, err);
	t->t_sent = fd.fd_sent;
	if (st == FED_ERROR)
		diag("%s: engine: %s", t->t_kname, err);
	if (tf_leave(t, st == FED_TAKEN) == -1)
		st = FED_ERROR;
	if (st == FED_REFUSED && tf_refusal(t, &fd) == -1)
		st = FED_ERROR;
out:
	intro_free(peer);
	if (in != NULL)
		OPENSSL_clear_free(in, inlen);
	return st;
}

static int
tf_release(struct tf *t, const char *address, int *n)
{
	struct fed fd;
	char err[TN_ERRLEN];
	int rc = -1;

	tf_clear(t);
	*n = -1;
	if (tf_enter(t) == -1)
		return -1;
	tf_fed(t, &fd);
	if ((rc = fed_release(&fd, address, n, err)) == -1)
		diag("%s: fed_release: %s", t->t_kname, err);
	t->t_sent = fd.fd_sent;
	if (tf_leave(t, rc == 0) == -1)
		rc = -1;
	return rc;
}

/* The q-th wrap queued, opened by courier to's element; NULL if it does
 * not open, or was not signed by this element. */
static char *
tf_open(struct tf *t, int q, int to, size_t *len)
{
	const struct call *ca = &t->t_calls[K_QUEUE][q];
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	unsigned char *out = NULL;
	enum cms_fail fail;
	char err[TN_ERRLEN];

	if (cms_unwrap(ca->ca_data, ca->ca_len, &el_of(to, t->t_kind)->el_id,
	    pki_trust_store(trust), &out, len, &signer, &certs, &fail,
	    err) == -1)
		diag("%s: unwrap at %s: %s", t->t_kname, couriers[to].cp_name,
		    err);
	else if (X509_cmp(signer, el_of(t->t_self,
	    t->t_kind)->el_id.ci_cert) != 0) {
		diag("%s: not signed by this element", t->t_kname);
		free(out);
		out = NULL;
	}
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return (char *)out;
}

/* The origin-cert and origin-chain courier c's element sends: its own
 * introduction, and for g leaving its segment, s's CA too. */
static char *
want_origin_pem(struct tf *t, int c, int subs)
{
	STACK_OF(X509) *sk;
	char *pem = NULL, err[TN_ERRLEN];

	if (!subs)
		return xstrdup(el_of(c, t->t_kind)->el_pem);
	if ((sk = sk_X509_new_null()) == NULL || !sk_X509_push(sk, seg_ca))
		abort();
	if (intro_pem_with(el_of(c, t->t_kind)->el_pem, sk, &pem, err) == -1)
		diag("%s", err);
	sk_X509_free(sk);
	return pem;
}

/* What an inter-courier message sent on must say. */
struct want_ic {
	int			 wi_to;
	unsigned int		 wi_hops;
	int			 wi_origin;
	int			 wi_subs;	/* g's segment in its chain */
	const char		*wi_rcpt;
	const char		*wi_msgid;
	const char		*wi_sender;
	const char		*wi_id_in;	/* the Id received, or NULL */
	const unsigned char	*wi_pay;
	size_t			 wi_paylen;
	const char		*wi_token;	/* Route-Token carried */
	int			 wi_fresh;	/* a new one, kept instead */
};

/*
 * The Route-Token sent: the one carried, or (this element the origin)
 * a fresh one whose hash route_tokens keeps for the recipient until
 * hold_limit.
 */
static void
check_route_token(struct tf *t, const struct intro_ic *ic,
    const struct want_ic *w, const char *name)
{
	const char *p[2] = { ic->ic_token, w->wi_rcpt };
	char got[64];

	if (!w->wi_fresh) {
		is_same(ic->ic_token, w->wi_token, nm("%s: Route-Token %s",
		    name, w->wi_token != NULL ? w->wi_token : "none"));
		return;
	}
	if (!ok(ic->ic_token != NULL && !same(ic->ic_token, w->wi_token),
	    "%s: a fresh Route-Token", name)) {
		diag("Route-Token %s", ic->ic_token ? ic->ic_token : "none");
		return;
	}
	tf_get(t, got, sizeof(got), "SELECT count(*) FROM route_tokens WHERE "
	    "token_hash = sha256(convert_to($1, 'UTF8')) AND address = "
	    "lower($2) AND expires_at > now() + interval '29 days' AND "
	    "expires_at <= now() + interval '30 days'", 2, p);
	is_same(got, "1", nm("%s: route_tokens keeps it for %s, 30 days",
	    name, w->wi_rcpt));
}

static void
check_ic_fields(struct tf *t, const struct intro_ic *ic,
    const struct intro *org, const struct want_ic *w, const char *name)
{
	const char *to = el_of(w->wi_to, t->t_kind)->el_endpoint;
	const char *me = el_of(t->t_self, t->t_kind)->el_endpoint;
	char *opem = want_origin_pem(t, w->wi_origin, w->wi_subs);

	if (!ok(same(ic->ic_from, me) && same(ic->ic_to, to),
	    "%s: From-Element this element, To-Element %s", name, to))
		diag("From-Element %s, To-Element %s", ic->ic_from, ic->ic_to);
	if (!ok(same(ic->ic_msgid, w->wi_msgid) &&
	    same(ic->ic_sender, w->wi_sender) && ic->ic_nrcpts == 1 &&
	    same(ic->ic_rcpts[0], w->wi_rcpt), "%s: Message-Id %s, Sender "
	    "%s, the one Recipient %s", name, w->wi_msgid, w->wi_sender,
	    w->wi_rcpt))
		diag("Message-Id %s, Sender %s, %zu recipients, first %s",
		    ic->ic_msgid, ic->ic_sender, ic->ic_nrcpts,
		    ic->ic_nrcpts > 0 ? ic->ic_rcpts[0] : "-");
	is_int(ic->ic_hops, w->wi_hops, nm("%s: Hops %u", name, w->wi_hops));
	is_same(ic->ic_origin, couriers[w->wi_origin].cp_name,
	    nm("%s: Origin-Courier %s", name, couriers[w->wi_origin].cp_name));
	ok(same(ic->ic_origin_pem, opem), "%s: origin parts: %s's element%s",
	    name, couriers[w->wi_origin].cp_name, w->wi_subs ?
	    ", then g's segment (s's CA)" : ", nothing more");
	if (w->wi_subs && !ok(org->in_ndomains == 1 &&
	    same(org->in_domains[0], "s.example"), "%s: the receiver reads "
	    "the segment's domain s.example", name))
		diag("%zu domains", org->in_ndomains);
	ok(ic->ic_paylen == w->wi_paylen && memcmp(ic->ic_payload, w->wi_pay,
	    w->wi_paylen) == 0, "%s: %s byte for byte", name,
	    t->t_kind == PKI_KIND_FG ? "sealed part" : "ARM record");
	if (w->wi_id_in != NULL)
		ok(!same(ic->ic_id, w->wi_id_in), "%s: a fresh Id", name);
	check_route_token(t, ic, w, name);
	free(opem);
}

/* The q-th wrap queued: an inter-courier message as w says. */
static void
check_ic(struct tf *t, int q, const struct want_ic *w, const char *name)
{
	const struct call *ca = &t->t_calls[K_QUEUE][q];
	const char *to = el_of(w->wi_to, t->t_kind)->el_endpoint;
	struct intro_ic *ic = NULL;
	struct intro *org = NULL;
	char *text = NULL, err[TN_ERRLEN] = "does not open";
	size_t len = 0;

	if (!ok(q < t->t_n[K_QUEUE], "%s: a wrap for %s", name,
	    couriers[w->wi_to].cp_name))
		return;
	if (!ok(same(ca->ca_endpoint, to) && same(ca->ca_kind,
	    "inter-courier") && same(ca->ca_msgid, w->wi_msgid),
	    "%s: queued for %s, inter-courier, %s", name, to, w->wi_msgid))
		diag("queued for %s, %s, %s", ca->ca_endpoint, ca->ca_kind,
		    ca->ca_msgid ? ca->ca_msgid : "(null)");
	text = tf_open(t, q, w->wi_to, &len);
	if (ok(text != NULL && intro_ic_read(trust, text, len, &ic, &org,
	    err) == 0, "%s: %s's element opens it, signed by this one, and "
	    "reads it", name, couriers[w->wi_to].cp_name))
		check_ic_fields(t, ic, org, w, name);
	else
		diag("%s", err);
	intro_ic_free(ic);
	intro_free(org);
	free(text);
}

/* What an introduction queued must say. */
struct want_in {
	int		 wn_to;
	const char	*wn_addrs[3];
	const char	*wn_domains[2];
	const char	*wn_token;
	const char	*wn_proofs[3];	/* Route-Proof fields: "<addr> <tok>" */
};

/* Are the values of field name those of want, in that order? */
static int
same_fields(const struct proto_msg *pm, const char *name,
    const char *const *want, size_t nwant)
{
	size_t i, n = proto_count(pm, name);
	int yes = n == nwant;

	for (i = 0; yes && i < n; i++)
		yes = same(proto_get_nth(pm, name, i), want[i]);
	if (!yes)
		for (i = 0; i < n; i++)
			diag("%s: %s", name, proto_get_nth(pm, name, i));
	return yes;
}

static void
check_intro_fields(struct tf *t, const struct intro *in,
    const struct proto_msg *pm, const struct want_in *w, const char *name)
{
	const struct elem *me = el_of(t->t_self, t->t_kind);

	ok(same(in->in_courier, t->t_name) && same(in->in_endpoint,
	    me->el_endpoint), "%s: it introduces this element", name);
	ok(same_fields(pm, "Address", w->wn_addrs, count3(w->wn_addrs)),
	    "%s: Address fields: %s%s%s", name, w->wn_addrs[0] ?
	    w->wn_addrs[0] : "none", w->wn_addrs[1] ? " " : "",
	    w->wn_addrs[1] ? w->wn_addrs[1] : "");
	ok(same_fields(pm, "Domain", w->wn_domains, w->wn_domains[0] == NULL ?
	    0 : 1), "%s: Domain fields: %s", name, w->wn_domains[0] ?
	    w->wn_domains[0] : "none");
	is_same(proto_get(pm, "Token"), w->wn_token, nm("%s: Token", name));
	ok(same_fields(pm, "Route-Proof", w->wn_proofs, count3(w->wn_proofs)),
	    "%s: Route-Proof fields: %s%s%s", name, w->wn_proofs[0] ?
	    w->wn_proofs[0] : "none", w->wn_proofs[1] ? ", " : "",
	    w->wn_proofs[1] ? w->wn_proofs[1] : "");
}

/* The q-th wrap queued: an introduction of this element as w says. */
static void
check_intro(struct tf *t, int q, const struct want_in *w, const char *name)
{
	const struct call *ca = &t->t_calls[K_QUEUE][q];
	const char *to = el_of(w->wn_to, t->t_kind)->el_endpoint;
	struct intro *in = NULL;
	struct proto_msg *pm = NULL;
	char *text = NULL, err[TN_ERRLEN] = "does not open";
	size_t len = 0;

	if (!ok(q < t->t_n[K_QUEUE], "%s: an introduction for %s", name,
	    couriers[w->wn_to].cp_name))
		return;
	if (!ok(same(ca->ca_endpoint, to) && same(ca->ca_kind,
	    "introduction") && ca->ca_msgid == NULL, "%s: queued for %s, "
	    "introduction, no Message-Id", name, to))
		diag("queued for %s, %s", ca->ca_endpoint, ca->ca_kind);
	text = tf_open(t, q, w->wn_to, &len);
	if (ok(text != NULL && intro_read(trust, text, len, t->t_kind, &in,
	    &pm, err) == 0, "%s: %s's element opens it, signed by this one, "
	    "and reads it", name, couriers[w->wn_to].cp_name))
		check_intro_fields(t, in, pm, w, name);
	else
		diag("%s", err);
	intro_free(in);
	proto_msg_free(pm);
	free(text);
}

static void
check_why(const char *why, const char *want, const char *name)
{
	if (!ok(want != NULL && strncmp(why, want, strlen(want)) == 0,
	    "%s: why: %s", name, want ? want : "(none)"))
		diag("why: %s", why);
}

/*
 * Inter-courier messages: what each recipient became. A forward is
 * checked against the wrap queued (in recipients' order), an
 * introduction back to the origin comes after them.
 */
enum { A_NONE = 0, A_DELIVER, A_HOLD, A_FORWARD, A_NOTICE };

struct want_rcpt {
	const char	*wr_rcpt;
	int		 wr_act;
	const char	*wr_text;	/* notice: reason; forward: action */
	int		 wr_to;		/* forward: the element sent to */
	unsigned int	 wr_hops;
	int		 wr_origin;	/* Origin-Courier sent */
	int		 wr_for;	/* deferred: the courier routed to */
	int		 wr_subs;	/* g's segment in the origin chain */
	int		 wr_replaced;	/* the note says origin replaced */
};

#define DELIVER(r)		{ r, A_DELIVER, NULL, 0, 0, 0, 0, 0, 0 }
#define HOLD(r)			{ r, A_HOLD, NULL, 0, 0, 0, 0, 0, 0 }
#define NOTICE(r, why)		{ r, A_NOTICE, why, 0, 0, 0, 0, 0, 0 }
#define FORWARD(r, act, to, hops, origin) \
	{ r, A_FORWARD, act, to, hops, origin, 0, 0, 0 }

struct ic_case {
	const char	*c_name;
	int		 c_self;
	struct row	 c_rows[4];
	struct ic_spec	 c_in;
	enum fed_status	 c_st;
	const char	*c_why[2];	/* FG, BG: the start of why */
	struct want_rcpt c_want[3];
	struct want_in	 c_back;	/* wn_to 0: nobody introduced; the
					   Route-Proofs echo is_token */
	int		 c_bg_only;
	const char	*c_check_fail;	/* fo_check refuses with this */
	const char	*c_claim;	/* refused_claims: the claim refused */
	int		 c_claim_by;	/* and whose */
};

#define WHY(w)		{ w, w }
#define LOOP		"routing loop: the route leads back to the sender"

static void
check_item(struct tf *t, int k, int i, const struct ic_case *c,
    const struct want_rcpt *w, const unsigned char *pay, size_t paylen,
    const char *name)
{
	const struct call *ca = &t->t_calls[k][i];
	const char *origin = c->c_in.is_origin_name != NULL ?
	    c->c_in.is_origin_name : couriers[c->c_in.is_origin].cp_name;
	char msgid[TN_MAX_MSGID + 1];

	snprintf(msgid, sizeof(msgid), "m%s", c->c_in.is_id);
	if (!ok(i < t->t_n[k], "%s: %s %s", name, k == K_DELIVER ?
	    "delivered" : "held", w->wr_rcpt))
		return;
	if (!ok(same(ca->ca_rcpt, w->wr_rcpt) && same(ca->ca_msgid, msgid) &&
	    same(ca->ca_sender, c->c_in.is_sender) &&
	    ca->ca_hops == c->c_in.is_hops && same(ca->ca_origin, origin) &&
	    ca->ca_extra_ok, "%s: the item of %s: Message-Id, Sender, Hops "
	    "%u, origin %s%s", name, w->wr_rcpt, c->c_in.is_hops, origin,
	    t->t_kind == PKI_KIND_BG ? ", fo_check's record" : ""))
		diag("got %s %s %s hops %u origin %s extra %s", ca->ca_rcpt,
		    ca->ca_msgid, ca->ca_sender, ca->ca_hops, ca->ca_origin ?
		    ca->ca_origin : "(null)", ca->ca_extra_ok ? "ok" : "other");
	ok(ca->ca_len == paylen && memcmp(ca->ca_data, pay, paylen) == 0,
	    "%s: the payload of %s byte for byte", name, w->wr_rcpt);
}

static void
check_forward(struct tf *t, int q, const struct ic_case *c,
    const struct want_rcpt *w, const unsigned char *pay, size_t paylen,
    const char *name)
{
	struct want_ic wi;
	const struct note *no = tf_note_of(t, FED_EV_FORWARD, w->wr_rcpt);
	char msgid[TN_MAX_MSGID + 1], nmb[256];
	const char *used = couriers[w->wr_to].cp_name;
	const char *forc = w->wr_for ? couriers[w->wr_for].cp_name : NULL;

	snprintf(msgid, sizeof(msgid), "m%s", c->c_in.is_id);
	memset(&wi, 0, sizeof(wi));
	wi.wi_to = w->wr_to;
	wi.wi_hops = w->wr_hops;
	wi.wi_origin = w->wr_origin;
	wi.wi_subs = w->wr_subs;
	wi.wi_rcpt = w->wr_rcpt;
	wi.wi_msgid = msgid;
	wi.wi_sender = c->c_in.is_sender;
	wi.wi_id_in = c->c_in.is_id;
	wi.wi_pay = pay;
	wi.wi_paylen = paylen;
	wi.wi_token = c->c_in.is_token;
	wi.wi_fresh = w->wr_origin == t->t_self;
	snprintf(nmb, sizeof(nmb), "%s: %s", name, w->wr_rcpt);
	check_ic(t, q, &wi, nmb);
	if (!ok(no != NULL && same(no->no_courier, used) &&
	    same(no->no_for, forc) && same(no->no_text, w->wr_text) &&
	    no->no_flag == w->wr_replaced, "%s: noted forwarded %s to %s%s%s "
	    "(%s)%s", name, w->wr_rcpt, used, forc ? " for " : "",
	    forc ? forc : "", w->wr_text, w->wr_replaced ?
	    ", origin replaced" : ""))
		diag("note: %s", no == NULL ? "none" : nm("to %s for %s, %s, "
		    "flag %d", no->no_courier, no->no_for ? no->no_for : "-",
		    no->no_text, no->no_flag));
}

static void
check_notice(const struct call *ca, const struct want_rcpt *w,
    const char *name)
{
	if (!ok(same(ca->ca_rcpt, w->wr_rcpt) && same(ca->ca_text,
	    w->wr_text), "%s: the notice of %s says: %s", name, w->wr_rcpt,
	    w->wr_text))
		diag("notice of %s: %s", ca->ca_rcpt ? ca->ca_rcpt : "-",
		    ca->ca_text ? ca->ca_text : "-");
}

/* Each recipient; then nothing else delivered, held, noticed or sent. */
static void
check_rcpts(struct tf *t, const struct ic_case *c,
    const unsigned char *pay, size_t paylen, const char *name)
{
	const struct want_rcpt *w;
	struct want_in back;
	char nmb[256], proofs[3][TN_MAX_ADDRESS + 64];
	int n[K_N], i, q = 0;

	memset(n, 0, sizeof(n));
	for (i = 0; i < 3 && c->c_want[i].wr_rcpt != NULL; i++) {
		w = &c->c_want[i];
		if (w->wr_act == A_DELIVER)
			check_item(t, K_DELIVER, n[K_DELIVER]++, c, w, pay,
			    paylen, name);
		else if (w->wr_act == A_HOLD)
			check_item(t, K_HOLD, n[K_HOLD]++, c, w, pay, paylen,
			    name);
		else if (w->wr_act == A_FORWARD)
			check_forward(t, q++, c, w, pay, paylen, name);
		else if (ok(n[K_NOTICE] < t->t_n[K_NOTICE], "%s: a notice "
		    "for %s", name, w->wr_rcpt))
			check_notice(&t->t_calls[K_NOTICE][n[K_NOTICE]++], w,
			    name);
	}
	if (c->c_back.wn_to != C_NONE) {
		back = c->c_back;
		for (i = 0; c->c_in.is_token != NULL && i < 3 &&
		    back.wn_addrs[i] != NULL; i++) {
			snprintf(proofs[i], sizeof(proofs[i]), "%s %s",
			    back.wn_addrs[i], c->c_in.is_token);
			back.wn_proofs[i] = proofs[i];
		}
		snprintf(nmb, sizeof(nmb), "%s: back to %s", name,
		    couriers[c->c_back.wn_to].cp_name);
		check_intro(t, q++, &back, nmb);
	}
	if (!ok(t->t_n[K_DELIVER] == n[K_DELIVER] && t->t_n[K_HOLD] ==
	    n[K_HOLD] && t->t_n[K_NOTICE] == n[K_NOTICE] &&
	    t->t_n[K_QUEUE] == q && t->t_sent == q && !t->t_overflow,
	    "%s: %d delivered, %d held, %d noticed, %d queued, nothing else",
	    name, n[K_DELIVER], n[K_HOLD], n[K_NOTICE], q))
		diag("%d delivered, %d held, %d noticed, %d queued (fd_sent "
		    "%d)", t->t_n[K_DELIVER], t->t_n[K_HOLD], t->t_n[K_NOTICE],
		    t->t_n[K_QUEUE], t->t_sent);
}

/*
 * The claim a refusal recorded (fed_refusal()): one row of
 * refused_claims for courier by's key, the reason why, and a note; or,
 * with claim NULL, none.
 */
static void
check_claim(struct tf *t, const char *claim, int by, const char *why,
    const char *name)
{
	const struct intro *in = claim != NULL ? el_of(by, t->t_kind)->el_in :
	    NULL;
	const struct note *no = tf_note_of(t, FED_EV_REFUSED, NULL);
	char got[TN_ERRLEN + 512];

	tf_get(t, got, sizeof(got), "SELECT string_agg(courier || '|' || "
	    "courier_key || '|' || claim || '|' || reason || '|' || times, "
	    "', ') FROM refused_claims", 0, NULL);
	if (claim == NULL) {
		is_same(got, "", nm("%s: no claim recorded as refused", name));
		ok(no == NULL, "%s: no refusal noted", name);
		return;
	}
	is_same(got, nm("%s|%s|%s|%s|1", in->in_courier, in->in_key, claim,
	    why), nm("%s: refused_claims: %s's key, \"%s\", once", name,
	    couriers[by].cp_dir, claim));
	if (!ok(no != NULL && same(no->no_courier, in->in_courier) &&
	    same(no->no_text, claim) && same(no->no_endpoint, why),
	    "%s: noted refused: %s, %s", name, in->in_courier, claim))
		diag("note: %s", no == NULL ? "none" : nm("%s, %s, %s",
		    no->no_courier, no->no_text, no->no_endpoint));
}

/* The Id taken once, the origin's introduction recorded; or nothing. */
static void
check_ic_tables(struct tf *t, const struct ic_case *c, const char *name)
{
	const char *p[3] = { c->c_in.is_id, couriers[c->c_in.is_origin].cp_name,
	    t->t_kname };
	char got[512];
	int taken = c->c_st == FED_TAKEN, i, known = 0;

	tf_get(t, got, sizeof(got), "SELECT count(*) FROM seen_messages "
	    "WHERE message_id = $1 AND kind = 'inter-courier'", 1, p);
	is_same(got, taken ? "1" : "0", nm("%s: the Id is %s", name, taken ?
	    "taken once" : "not taken"));
	for (i = 0; i < 4; i++)
		known += c->c_rows[i].rw_what == ROW_INTRO;
	if (taken && c->c_in.is_origin != c->c_self) {
		tf_get(t, got, sizeof(got), "SELECT endpoint || ' ' || "
		    "courier_key FROM introductions WHERE courier = $1 AND "
		    "element = $2", 2, p + 1);
		is_same(got, nm("%s %s", el_of(c->c_in.is_origin,
		    t->t_kind)->el_endpoint, el_of(c->c_in.is_origin,
		    t->t_kind)->el_in->in_key), nm("%s: the origin's "
		    "introduction is recorded, with its key", name));
		return;
	}
	tf_get(t, got, sizeof(got), "SELECT count(*) FROM introductions", 0,
	    NULL);
	is_int(atoi(got), known, nm("%s: no introduction recorded", name));
}

static void
run_ic(struct tf *t, const struct ic_case *c)
{
	char name[160], why[TN_ERRLEN], *text = NULL;
	unsigned char *pay = NULL;
	size_t len, paylen = 0;
	enum fed_status st;

	snprintf(name, sizeof(name), "%s: %s", t->t_kname, c->c_name);
	if (!ok(tf_reset(t, c->c_self) == 0 && tf_rows(t, c->c_rows, 4) == 0 &&
	    msg_ic(t, &c->c_in, &text, &len, &pay, &paylen) == 0,
	    "%s: set up", name))
		goto out;
	t->t_check_fail = c->c_check_fail;
	st = tf_take(t, 0, c->c_in.is_from, text, len, why);
	is_status(st, c->c_st, nm("%s: %s", name, st_name(c->c_st)));
	if (c->c_st != FED_TAKEN)
		check_why(why, c->c_why[KI(t->t_kind)], name);
	check_rcpts(t, c, pay, paylen, name);
	check_ic_tables(t, c, name);
	if (c->c_st == FED_REFUSED)	/* then fed_refusal() is called */
		check_claim(t, c->c_claim, c->c_claim_by, why, name);
	if (t->t_kind == PKI_KIND_BG)
		is_int(arms_alive, 0, nm("%s: fo_check's records freed",
		    name));
out:
	free(text);
	free(pay);
}

/* A Route-Token an inter-courier message brings. */
#define RTIN	"rt-in-0123456789abcdef"

/* The message of a case: Id, signer, origin, Hops, Sender. */
#define MSG(id, from, origin, hops, sender) \
	.is_id = id, .is_from = from, .is_origin = origin, .is_hops = hops, \
	.is_sender = sender

static const struct ic_case ic_refusals[] = {
	{ .c_name = "To-Element names another element", .c_self = C_A,
	  .c_in = { MSG("r1@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" }, .is_to = C_E },
	  .c_st = FED_REFUSED, .c_why = WHY("To-Element is not this element") },
	{ .c_name = "From-Element is not the signer", .c_self = C_A,
	  .c_in = { MSG("r2@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" }, .is_from_ep = C_E },
	  .c_st = FED_REFUSED, .c_why = WHY("From-Element is not the signer") },
	{ .c_name = "at hop 1 the origin must be the sender", .c_self = C_A,
	  .c_in = { MSG("r3@c.example", C_C, C_E, 1, "x@e.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_REFUSED,
	  .c_why = WHY("at hop 1 the origin must be the client") },
	{ .c_name = "a private origin with a sender outside its domain",
	  .c_self = C_A,
	  .c_in = { MSG("r4@c.example", C_C, C_B, 2, "x@c.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_REFUSED,
	  .c_why = WHY("private origin courier claims a sender outside its "
	  "name constraints") },
	{ .c_name = "a private courier relaying another courier's message",
	  .c_self = C_A,
	  .c_in = { MSG("r5@b.example", C_B, C_C, 2, "x@c.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_REFUSED,
	  .c_why = WHY("a private courier relays another courier's message") },
	{ .c_name = "Hops 9", .c_self = C_A,
	  .c_in = { MSG("r6@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" }, .is_bad_hops = '9' },
	  .c_st = FED_BAD, .c_why = WHY("inter-courier: Hops 9, not 1 to 8") },
	{ .c_name = "a payload of the other element kind", .c_self = C_A,
	  .c_in = { MSG("r7@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" }, .is_other = 1 },
	  .c_st = FED_BAD, .c_why = { "an ARM, not a sealed content",
	    "not an ARM: a background carries ARMs" } },
	{ .c_name = "the background's own check refuses the ARM",
	  .c_self = C_A, .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r8@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_BAD, .c_why = WHY("bad ARM: alice@a.example is not a "
	  "recipient of the ARM"), .c_bg_only = 1,
	  .c_check_fail = "bad ARM: alice@a.example is not a recipient of "
	  "the ARM" },
	/*
	 * fed.h: FED_UNVERIFIED when "its certificates or the fields
	 * they vouch for do not verify"; the origin's introduction is
	 * part of the message (5.7.7, 403). These two failed while
	 * fed_take_ic() answered FED_BAD for them (fixed in 160ac6c).
	 */
	{ .c_name = "an origin of a hierarchy nobody trusts", .c_self = C_A,
	  .c_in = { MSG("r9@c.example", C_C, C_Z, 2, "x@z.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_UNVERIFIED,
	  .c_why = WHY("inter-courier origin: untrusted introduction") },
	{ .c_name = "Origin-Courier names another courier than its "
	  "certificate", .c_self = C_A,
	  .c_in = { MSG("r10@c.example", C_C, C_E, 2, "x@e.example"),
	    .is_rcpts = { "alice@a.example" }, .is_origin_name = "c.example" },
	  .c_st = FED_UNVERIFIED,
	  .c_why = WHY("field Origin-Courier says c.example, the certificate "
	  "e.example") },
	/* doc/security.md, section 1: a courier is its CA's key. */
	{ .c_name = "an impostor of a known courier signs: refused",
	  .c_self = C_A, .c_rows = { KNOWS(C_B),
	    ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r11@b.example", C_BX, C_BX, 1, "x@b.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_REFUSED, .c_why = WHY("courier b.example presents "
	  "another key than the one known"), .c_claim = "courier",
	  .c_claim_by = C_BX },
	{ .c_name = "an impostor of a known courier as the origin: refused",
	  .c_self = C_A, .c_rows = { KNOWS(C_B),
	    ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r12@c.example", C_C, C_BX, 2, "x@b.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_REFUSED, .c_why = WHY("courier b.example presents "
	  "another key than the one known"), .c_claim = "courier",
	  .c_claim_by = C_BX },
	{ .c_name = "an impostor of a courier learned before, as the "
	  "origin: refused", .c_self = C_A,
	  .c_rows = { LEARNT(C_B, NULL),
	    ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r13@c.example", C_C, C_BX, 2, "x@b.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_REFUSED, .c_why = WHY("courier b.example presents "
	  "another key than the one known"), .c_claim = "courier",
	  .c_claim_by = C_BX },
	{ .c_name = "an impostor of this courier as the origin: refused",
	  .c_self = C_B, .c_rows = { KNOWS(C_A),
	    ACCOUNT("carol@b.example", "active", 1) },
	  .c_in = { MSG("r14@a.example", C_A, C_BX, 2, "x@b.example"),
	    .is_rcpts = { "carol@b.example" } },
	  .c_st = FED_REFUSED, .c_why = WHY("courier b.example presents "
	  "another key than the one known"), .c_claim = "courier",
	  .c_claim_by = C_BX },
	{ .c_name = "an origin certified for a domain already served: "
	  "refused", .c_self = C_A,
	  .c_rows = { KNOWS(C_B), ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r15@c.example", C_C, C_D, 2, "x@b.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_st = FED_REFUSED, .c_why = WHY("Domain b.example is already "
	  "served by b.example"), .c_claim = "Domain b.example",
	  .c_claim_by = C_D },
	/* doc/security.md: the origin signs what it asserts. */
	{ .c_name = "a relay states an origin that signed nothing: refused",
	  .c_self = C_A, .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r16@c.example", C_C, C_E, 2, "x@e.example"),
	    .is_rcpts = { "alice@a.example" }, .is_sig = SIG_NONE },
	  .c_st = FED_REFUSED, .c_why = WHY("origin e.example, sender "
	  "x@e.example: no Origin-Signature"), .c_claim = "Origin e.example",
	  .c_claim_by = C_C },
	{ .c_name = "a relay signs for the origin it names: refused",
	  .c_self = C_A, .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r17@c.example", C_C, C_E, 2, "x@e.example"),
	    .is_rcpts = { "alice@a.example" }, .is_sig = SIG_RELAY },
	  .c_st = FED_REFUSED, .c_why = WHY("origin e.example, sender "
	  "x@e.example: Origin-Signature does not verify"),
	  .c_claim = "Origin e.example", .c_claim_by = C_C },
	{ .c_name = "a relay changes the Sender the origin signed: refused",
	  .c_self = C_A, .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r18@c.example", C_C, C_E, 2, "x@e.example"),
	    .is_rcpts = { "alice@a.example" }, .is_sig = SIG_OTHER_SENDER },
	  .c_st = FED_REFUSED, .c_why = WHY("origin e.example, sender "
	  "x@e.example: Origin-Signature does not verify"),
	  .c_claim = "Origin e.example", .c_claim_by = C_C },
	{ .c_name = "at hop 1 without an Origin-Signature: refused",
	  .c_self = C_A, .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r19@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" }, .is_sig = SIG_NONE },
	  .c_st = FED_REFUSED, .c_why = WHY("origin c.example, sender "
	  "x@c.example: no Origin-Signature"), .c_claim = "Origin c.example",
	  .c_claim_by = C_C },
	/* Freshness: hygiene.replay_window and hygiene.clock_skew. */
	{ .c_name = "dated before the replay window: refused", .c_self = C_A,
	  .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r20@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" },
	    .is_age = REPLAY_WINDOW + 60 },
	  .c_st = FED_REFUSED, .c_why = WHY("Date "), .c_claim = "Date",
	  .c_claim_by = C_C },
	{ .c_name = "dated beyond the clock skew: refused", .c_self = C_A,
	  .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r21@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" }, .is_age = -(CLOCK_SKEW + 60) },
	  .c_st = FED_REFUSED, .c_why = WHY("Date "), .c_claim = "Date",
	  .c_claim_by = C_C },
	{ .c_name = "an Origin-Date before the replay window: refused",
	  .c_self = C_A, .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("r22@c.example", C_C, C_E, 2, "x@e.example"),
	    .is_rcpts = { "alice@a.example" },
	    .is_odate = "2020-01-01T00:00:00Z" },
	  .c_st = FED_REFUSED, .c_why = WHY("Origin-Date 2020-01-01T00:00:00Z "
	  "is older than the replay window"), .c_claim = "Date",
	  .c_claim_by = C_C },
};

static const struct ic_case ic_decisions[] = {
	{ .c_name = "deliver to an active account", .c_self = C_A,
	  .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("d1@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_want = { DELIVER("alice@a.example") } },
	{ .c_name = "no account: held (rule 6)", .c_self = C_A,
	  .c_in = { MSG("d2@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "newbie@a.example" } },
	  .c_want = { HOLD("newbie@a.example") } },
	{ .c_name = "an account without its agent yet: held", .c_self = C_A,
	  .c_rows = { ACCOUNT("alice@a.example", "active", 0) },
	  .c_in = { MSG("d3@c.example", C_C, C_C, 1, "x@c.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_want = { HOLD("alice@a.example") } },
	{ .c_name = "a learned address: forwarded, Hops + 1, origin kept",
	  .c_self = C_A,
	  .c_rows = { ROUTE("x@e.example", "e.example", "introduced"),
	    KNOWS(C_E) },
	  .c_in = { MSG("d4@c.example", C_C, C_C, 1, "y@c.example"),
	    .is_rcpts = { "x@e.example" }, .is_token = RTIN },
	  .c_want = { FORWARD("x@e.example", "to-learned-courier", C_E, 2,
	    C_C) } },
	{ .c_name = "a transferred account: forwarded to its new courier",
	  .c_self = C_A,
	  .c_rows = { MOVED("moved@a.example", "e.example"), KNOWS(C_E) },
	  .c_in = { MSG("d5@c.example", C_C, C_C, 1, "y@c.example"),
	    .is_rcpts = { "moved@a.example" } },
	  .c_want = { FORWARD("moved@a.example", "to-new-courier", C_E, 2,
	    C_C) } },
	{ .c_name = "an introduced domain: forwarded", .c_self = C_A,
	  .c_rows = { KNOWS(C_B) },
	  .c_in = { MSG("d6@c.example", C_C, C_C, 1, "y@c.example"),
	    .is_rcpts = { "x@b.example" } },
	  .c_want = { FORWARD("x@b.example", "to-introduced-courier", C_B, 2,
	    C_C) } },
	{ .c_name = "the target not introduced: deferred to the superior",
	  .c_self = C_B,
	  .c_rows = { ROUTE("x@e.example", "e.example", "introduced"),
	    KNOWS(C_A) },
	  .c_in = { MSG("d7@c.example", C_C, C_C, 1, "y@c.example"),
	    .is_rcpts = { "x@e.example" }, .is_token = RTIN },
	  .c_want = { { "x@e.example", A_FORWARD, "to-learned-courier", C_A,
	    2, C_C, C_E, 0, 0 } } },
	{ .c_name = "a route back to the sender: a loop, noticed",
	  .c_self = C_A,
	  .c_rows = { ROUTE("x@e.example", "c.example", "introduced"),
	    KNOWS(C_C) },
	  .c_in = { MSG("d8@c.example", C_C, C_C, 1, "y@c.example"),
	    .is_rcpts = { "x@e.example" } },
	  .c_want = { NOTICE("x@e.example", LOOP) } },
	{ .c_name = "deferred back to the superior it came from: a loop, "
	  "noticed", .c_self = C_B,
	  .c_rows = { ROUTE("x@e.example", "e.example", "introduced"),
	    KNOWS(C_A) },
	  .c_in = { MSG("d9@a.example", C_A, C_A, 1, "y@a.example"),
	    .is_rcpts = { "x@e.example" } },
	  .c_want = { NOTICE("x@e.example", LOOP) } },
	{ .c_name = "neither the target nor the superior introduced: "
	  "noticed", .c_self = C_B,
	  .c_rows = { ROUTE("x@e.example", "e.example", "introduced") },
	  .c_in = { MSG("d10@c.example", C_C, C_C, 1, "y@c.example"),
	    .is_rcpts = { "x@e.example" } },
	  .c_want = { NOTICE("x@e.example",
	    "no introduction of e.example nor of the superior") } },
	{ .c_name = "a private courier is no relay: noticed", .c_self = C_B,
	  .c_rows = { KNOWS(C_A) },
	  .c_in = { MSG("d11@a.example", C_A, C_A, 1, "y@a.example"),
	    .is_rcpts = { "q@elsewhere.example" } },
	  .c_want = { NOTICE("q@elsewhere.example",
	    "no route from here: this courier is no relay") } },
	{ .c_name = "a private courier holds for its own domain",
	  .c_self = C_B,
	  .c_in = { MSG("d12@a.example", C_A, C_A, 1, "y@a.example"),
	    .is_rcpts = { "newbie@b.example" } },
	  .c_want = { HOLD("newbie@b.example") } },
	{ .c_name = "Hops 8 that must forward: noticed (hop limit)",
	  .c_self = C_A,
	  .c_rows = { ROUTE("x@e.example", "e.example", "introduced"),
	    KNOWS(C_E) },
	  .c_in = { MSG("d13@c.example", C_C, C_B, 8, "y@b.example"),
	    .is_rcpts = { "x@e.example" } },
	  .c_want = { NOTICE("x@e.example",
	    "too many couriers crossed (hop limit)") } },
	{ .c_name = "Hops 7 forwarded as Hops 8", .c_self = C_A,
	  .c_rows = { ROUTE("x@e.example", "e.example", "introduced"),
	    KNOWS(C_E) },
	  .c_in = { MSG("d14@c.example", C_C, C_B, 7, "y@b.example"),
	    .is_rcpts = { "x@e.example" }, .is_token = RTIN },
	  .c_want = { FORWARD("x@e.example", "to-learned-courier", C_E, 8,
	    C_B) } },
	{ .c_name = "Hops 8 delivered here, introduced back to the origin",
	  .c_self = C_A,
	  .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("d15@c.example", C_C, C_B, 8, "y@b.example"),
	    .is_rcpts = { "alice@a.example" }, .is_token = RTIN },
	  .c_want = { DELIVER("alice@a.example") },
	  .c_back = { C_B, { "alice@a.example" }, { NULL }, NULL } },
	{ .c_name = "through another courier: delivered, held, forwarded; "
	  "one introduction back", .c_self = C_A,
	  .c_rows = { ACCOUNT("alice@a.example", "active", 1),
	    ROUTE("x@e.example", "e.example", "introduced"), KNOWS(C_E) },
	  .c_in = { MSG("d16@c.example", C_C, C_B, 2, "y@b.example"),
	    .is_rcpts = { "alice@a.example", "newbie@a.example",
	    "x@e.example" }, .is_token = RTIN },
	  .c_want = { DELIVER("alice@a.example"), HOLD("newbie@a.example"),
	    FORWARD("x@e.example", "to-learned-courier", C_E, 3, C_B) },
	  .c_back = { C_B, { "alice@a.example", "newbie@a.example" },
	    { NULL }, NULL } },
	{ .c_name = "deferred by a subordinate: introduced back",
	  .c_self = C_A,
	  .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("d17@b.example", C_B, C_B, 1, "y@b.example"),
	    .is_rcpts = { "alice@a.example" }, .is_token = RTIN },
	  .c_want = { DELIVER("alice@a.example") },
	  .c_back = { C_B, { "alice@a.example" }, { NULL }, NULL } },
	{ .c_name = "its own message back: delivered, origin not recorded",
	  .c_self = C_A,
	  .c_rows = { ACCOUNT("alice@a.example", "active", 1) },
	  .c_in = { MSG("d18@c.example", C_C, C_A, 2, "u@a.example"),
	    .is_rcpts = { "alice@a.example" } },
	  .c_want = { DELIVER("alice@a.example") } },
	{ .c_name = "gateway: into its segment through a relay: origin "
	  "replaced, introduced back for the segment", .c_self = C_G,
	  .c_rows = { KNOWS(C_S) },
	  .c_in = { MSG("g1@c.example", C_C, C_B, 2, "y@b.example"),
	    .is_rcpts = { "u@s.example" }, .is_token = RTIN },
	  .c_want = { { "u@s.example", A_FORWARD, "to-introduced-courier",
	    C_S, 3, C_G, 0, 0, 1 } },
	  .c_back = { C_B, { "u@s.example" }, { "s.example" }, NULL } },
	{ .c_name = "gateway: into its segment from the origin: origin "
	  "replaced", .c_self = C_G,
	  .c_rows = { KNOWS(C_S) },
	  .c_in = { MSG("g2@c.example", C_C, C_C, 1, "y@c.example"),
	    .is_rcpts = { "u@s.example" }, .is_token = RTIN },
	  .c_want = { { "u@s.example", A_FORWARD, "to-introduced-courier",
	    C_S, 2, C_G, 0, 0, 1 } } },
	{ .c_name = "gateway: out of its segment: origin replaced, the "
	  "segment in its chain", .c_self = C_G,
	  .c_rows = { KNOWS(C_S), KNOWS(C_C),
	    ROUTE("y@c.example", "c.example", "introduced") },
	  .c_in = { MSG("g3@s.example", C_S, C_S, 1, "w@s.example"),
	    .is_rcpts = { "y@c.example" }, .is_token = RTIN },
	  .c_want = { { "y@c.example", A_FORWARD, "to-learned-courier", C_C,
	    2, C_G, 0, 1, 1 } } },
	{ .c_name = "gateway: outside to outside: origin kept",
	  .c_self = C_G,
	  .c_rows = { KNOWS(C_S), KNOWS(C_E),
	    ROUTE("x@e.example", "e.example", "introduced") },
	  .c_in = { MSG("g4@c.example", C_C, C_C, 1, "y@c.example"),
	    .is_rcpts = { "x@e.example" }, .is_token = RTIN },
	  .c_want = { FORWARD("x@e.example", "to-learned-courier", C_E, 2,
	    C_C) } },
	{ .c_name = "gateway: its own user, through a relay: introduced "
	  "back for the segment", .c_self = C_G,
	  .c_rows = { ACCOUNT("gus@g.example", "active", 1), KNOWS(C_S) },
	  .c_in = { MSG("g5@c.example", C_C, C_B, 2, "y@b.example"),
	    .is_rcpts = { "gus@g.example" }, .is_token = RTIN },
	  .c_want = { DELIVER("gus@g.example") },
	  .c_back = { C_B, { "gus@g.example" }, { "s.example" }, NULL } },
	{ .c_name = "gateway: its own user, from a subordinate: introduced "
	  "back as itself", .c_self = C_G,
	  .c_rows = { ACCOUNT("gus@g.example", "active", 1), KNOWS(C_S) },
	  .c_in = { MSG("g6@s.example", C_S, C_S, 1, "w@s.example"),
	    .is_rcpts = { "gus@g.example" } },
	  .c_want = { DELIVER("gus@g.example") },
	  .c_back = { C_S, { "gus@g.example" }, { NULL }, NULL } },
};

/* The same message twice: taken, then a duplicate that does nothing. */
static void
run_duplicate(struct tf *t)
{
	static const struct ic_spec is = { MSG("dup@c.example", C_C, C_C, 1,
	    "x@c.example"), .is_rcpts = { "alice@a.example" } };
	static const struct row rows[] = {
		ACCOUNT("alice@a.example", "active", 1)
	};
	const char *p[1] = { is.is_id };
	char why[TN_ERRLEN], got[64], *text = NULL;
	unsigned char *pay = NULL;
	size_t len, paylen;
	const struct note *no;

	if (!ok(tf_reset(t, C_A) == 0 && tf_rows(t, rows, 1) == 0 &&
	    msg_ic(t, &is, &text, &len, &pay, &paylen) == 0,
	    "%s: duplicate: set up", t->t_kname))
		goto out;
	is_status(tf_take(t, 0, C_C, text, len, why), FED_TAKEN,
	    nm("%s: duplicate: the first time taken", t->t_kname));
	is_int(t->t_n[K_DELIVER], 1, nm("%s: duplicate: delivered once",
	    t->t_kname));
	is_status(tf_take(t, 0, C_C, text, len, why), FED_DUPLICATE,
	    nm("%s: duplicate: the second time a duplicate", t->t_kname));
	no = tf_note_of(t, FED_EV_DUPLICATE, NULL);
	ok(t->t_n[K_DELIVER] == 0 && t->t_n[K_HOLD] == 0 &&
	    t->t_n[K_QUEUE] == 0 && t->t_n[K_NOTICE] == 0 && no != NULL,
	    "%s: duplicate: nothing done, noted", t->t_kname);
	tf_get(t, got, sizeof(got), "SELECT count(*) FROM seen_messages "
	    "WHERE message_id = $1 AND kind = 'inter-courier'", 1, p);
	is_same(got, "1", nm("%s: duplicate: seen_messages holds its Id once",
	    t->t_kname));
out:
	free(text);
	free(pay);
}

/*
 * A relay hands over again a message taken already, under a fresh Id
 * (the origin's assertion unchanged): refused as a replay, nothing
 * delivered twice. Then the purge: rows older than the replay window
 * go, younger ones stay.
 */
static void
run_replay(struct tf *t)
{
	static const struct row rows[] = {
		ACCOUNT("alice@a.example", "active", 1)
	};
	struct ic_spec is = { MSG("rp1@c.example", C_C, C_E, 2,
	    "x@e.example"), .is_rcpts = { "alice@a.example" } };
	char why[TN_ERRLEN], got[256], odate[32], *text = NULL;
	unsigned char *pay = NULL;
	size_t len, paylen;
	struct fed fd;
	long n;

	if (proto_format_time(time(NULL) - 60, odate, sizeof(odate)) == -1)
		abort();
	is.is_odate = odate;
	if (!ok(tf_reset(t, C_A) == 0 && tf_rows(t, rows, 1) == 0 &&
	    msg_ic(t, &is, &text, &len, &pay, &paylen) == 0,
	    "%s: replay: set up", t->t_kname))
		goto out;
	is_status(tf_take(t, 0, C_C, text, len, why), FED_TAKEN,
	    nm("%s: replay: the first time taken", t->t_kname));
	free(text);
	free(pay);
	text = NULL;
	pay = NULL;
	if (msg_ic(t, &is, &text, &len, &pay, &paylen) != 0)
		goto out;
	/* A fresh Id, the rest as the origin signed it. */
	{
		char *idp = strstr(text, "Id: rp1@c.example");

		if (idp == NULL)
			abort();
		idp[6] = '9';
	}
	is_status(tf_take(t, 0, C_C, text, len, why), FED_REFUSED,
	    nm("%s: replay: under another Id refused", t->t_kname));
	check_why(why, "message mrp1@c.example for alice@a.example from "
	    "e.example was taken already (replay)", nm("%s: replay",
	    t->t_kname));
	is_int(t->t_n[K_DELIVER], 0, nm("%s: replay: not delivered again",
	    t->t_kname));
	check_claim(t, "Replay", C_C, why, nm("%s: replay", t->t_kname));

	tf_sql(t, "UPDATE seen_messages SET seen_at = now() - interval "
	    "'8 days' WHERE kind = 'origin'", 0, NULL);
	tf_fed(t, &fd);
	ok(fed_purge(&fd, &n, why) == 0 && n == 1, "%s: purge: the row "
	    "older than the replay window purged", t->t_kname);
	tf_get(t, got, sizeof(got), "SELECT string_agg(kind, ' ' ORDER BY "
	    "kind) FROM seen_messages", 0, NULL);
	is_same(got, "inter-courier", nm("%s: purge: the younger row stays",
	    t->t_kname));
out:
	free(text);
	free(pay);
}

/* fed_peer() finds a courier whatever the case of its name. */
static void
run_peer_case(struct tf *t)
{
	static const struct row rows[] = { KNOWS(C_C) };
	struct fed fd;
	char err[TN_ERRLEN], *ep = NULL;
	X509 *cert = NULL;

	if (!ok(tf_reset(t, C_A) == 0 && tf_rows(t, rows, 1) == 0,
	    "%s: peer case: set up", t->t_kname))
		return;
	tf_fed(t, &fd);
	is_int(fed_peer(&fd, "C.Example", NULL, &ep, &cert, NULL, err), 1,
	    nm("%s: fed_peer() of C.Example finds c.example", t->t_kname));
	is_same(ep, el_of(C_C, t->t_kind)->el_endpoint,
	    nm("%s: peer case: its endpoint", t->t_kname));
	free(ep);
	X509_free(cert);
}

/* Introductions taken: status, what is recorded and learned. */
struct intro_case {
	const char	*n_name;
	int		 n_self;
	struct row	 n_rows[4];
	int		 n_of;		/* the element introduced */
	int		 n_by;		/* signs and sends it; 0: n_of */
	int		 n_other;	/* of the other element kind */
	int		 n_subs;	/* g: with its segment */
	const char	*n_addrs[3];
	const char	*n_proofs[3];	/* each Address's Route-Proof token */
	const char	*n_token;
	enum fed_status	 n_st;
	const char	*n_why[2];
	const char	*n_route[2];	/* address, then "courier|reason" */
	const char	*n_claim;	/* refused_claims: the claim refused */
	const char	*n_sql;		/* one more check, and its answer */
	const char	*n_sql_want;
};

#define TOK1	"tok-dave-0123456789abcdef"
#define TOK2	"tok-nobody-0123456789abcdef"
#define RT1	"rt-one-0123456789abcdef"
#define RT2	"rt-two-0123456789abcdef"

/* The case's introduction: who, and its Address fields. */
#define INTRO(name, self, of)	.n_name = name, .n_self = self, .n_of = of
#define NOPROOF(a)	"Address " a " comes with no proof"
#define IMPOSTOR	"courier b.example presents another key than the " \
			"one known"
#define RTOKENS		"SELECT count(*) FROM route_tokens"
#define LEARNED_AT_NOW	"SELECT learned_at > '2001-01-02' FROM " \
			"introductions WHERE courier = 'e.example'"

static const struct intro_case intro_cases[] = {
	/* doc/security.md, section 2: an Address only with proof. */
	{ INTRO("an Address without proof: refused", C_A, C_C),
	  .n_addrs = { "newx@c.example" }, .n_st = FED_REFUSED,
	  .n_why = WHY(NOPROOF("newx@c.example")),
	  .n_route = { "newx@c.example", "(none)" },
	  .n_claim = "Address newx@c.example" },
	{ INTRO("an Address with the Route-Proof of a message sent there: "
	  "learned, the token spent", C_A, C_C),
	  .n_rows = { RTOKEN(RT1, "newx@c.example", "1 day") },
	  .n_addrs = { "newx@c.example" }, .n_proofs = { RT1 },
	  .n_route = { "newx@c.example", "c.example|introduced" },
	  .n_sql = RTOKENS, .n_sql_want = "0" },
	{ INTRO("an Address in mixed case with its Route-Proof: learned in "
	  "lower case", C_A, C_C),
	  .n_rows = { RTOKEN(RT1, "newy@c.example", "1 day") },
	  .n_addrs = { "NewY@C.Example" }, .n_proofs = { RT1 },
	  .n_route = { "newy@c.example", "c.example|introduced" } },
	{ INTRO("a Route-Proof with another token: refused", C_A, C_C),
	  .n_rows = { RTOKEN(RT1, "newx@c.example", "1 day") },
	  .n_addrs = { "newx@c.example" }, .n_proofs = { RT2 },
	  .n_st = FED_REFUSED, .n_why = WHY(NOPROOF("newx@c.example")),
	  .n_route = { "newx@c.example", "(none)" },
	  .n_claim = "Address newx@c.example", .n_sql = RTOKENS,
	  .n_sql_want = "1" },
	{ INTRO("a Route-Proof with another address's token: refused", C_A,
	  C_C),
	  .n_rows = { RTOKEN(RT1, "other@c.example", "1 day") },
	  .n_addrs = { "newx@c.example" }, .n_proofs = { RT1 },
	  .n_st = FED_REFUSED, .n_why = WHY(NOPROOF("newx@c.example")),
	  .n_route = { "newx@c.example", "(none)" },
	  .n_claim = "Address newx@c.example", .n_sql = RTOKENS,
	  .n_sql_want = "1" },
	{ INTRO("an expired Route-Proof: refused", C_A, C_C),
	  .n_rows = { RTOKEN(RT1, "newx@c.example", "-1 hour") },
	  .n_addrs = { "newx@c.example" }, .n_proofs = { RT1 },
	  .n_st = FED_REFUSED, .n_why = WHY(NOPROOF("newx@c.example")),
	  .n_route = { "newx@c.example", "(none)" },
	  .n_claim = "Address newx@c.example" },
	{ INTRO("one Address unproved refuses the whole introduction, the "
	  "other's proof unspent", C_A, C_E),
	  .n_rows = { RTOKEN(RT1, "p@f.example", "1 day") },
	  .n_addrs = { "p@f.example", "u@f.example" },
	  .n_proofs = { RT1, NULL }, .n_st = FED_REFUSED,
	  .n_why = WHY(NOPROOF("u@f.example")),
	  .n_route = { "p@f.example", "(none)" },
	  .n_claim = "Address u@f.example", .n_sql = RTOKENS,
	  .n_sql_want = "1" },
	{ INTRO("an Address in the introducer's certified domain: learned",
	  C_A, C_B),
	  .n_addrs = { "carol@b.example" },
	  .n_route = { "carol@b.example", "b.example|introduced" } },
	{ INTRO("an Address below the introducer's certified domain: "
	  "learned", C_A, C_B),
	  .n_addrs = { "carol@mail.b.example" },
	  .n_route = { "carol@mail.b.example", "b.example|introduced" } },
	{ INTRO("a gateway without its segment: its own address unproved, "
	  "refused", C_A, C_G),
	  .n_addrs = { "gus@g.example" }, .n_st = FED_REFUSED,
	  .n_why = WHY(NOPROOF("gus@g.example")),
	  .n_route = { "gus@g.example", "(none)" },
	  .n_claim = "Address gus@g.example" },
	{ INTRO("a gateway with its segment: an address of it learned, the "
	  "segment's domain recorded", C_A, C_G), .n_subs = 1,
	  .n_addrs = { "u@s.example" },
	  .n_route = { "u@s.example", "g.example|introduced" } },
	{ INTRO("an Address of this courier's domain, even with a Token: "
	  "refused", C_A, C_E),
	  .n_rows = { TOKEN(TOK1, "newbie@a.example", "1 day") },
	  .n_addrs = { "newbie@a.example" }, .n_token = TOK1,
	  .n_st = FED_REFUSED, .n_why = WHY("Address newbie@a.example is in "
	  "a domain this courier serves"),
	  .n_route = { "newbie@a.example", "(none)" },
	  .n_claim = "Address newbie@a.example" },
	{ INTRO("an Address of this courier's domain, even with a "
	  "Route-Proof: refused", C_A, C_E),
	  .n_rows = { RTOKEN(RT1, "x@a.example", "1 day") },
	  .n_addrs = { "X@A.example" }, .n_proofs = { RT1 },
	  .n_st = FED_REFUSED, .n_why = WHY("Address X@A.example is in a "
	  "domain this courier serves"),
	  .n_route = { "x@a.example", "(none)" },
	  .n_claim = "Address X@A.example" },
	{ INTRO("an Address of a subdomain of this courier's is not of its "
	  "own: learned with its proof", C_A, C_E),
	  .n_rows = { RTOKEN(RT1, "x@sub.a.example", "1 day") },
	  .n_addrs = { "x@sub.a.example" }, .n_proofs = { RT1 },
	  .n_route = { "x@sub.a.example", "e.example|introduced" } },
	{ INTRO("an Address with an active account here, even with a "
	  "Route-Proof: refused", C_A, C_E),
	  .n_rows = { ACCOUNT("alice@old.example", "active", 1),
	    RTOKEN(RT1, "alice@old.example", "1 day") },
	  .n_addrs = { "alice@old.example" }, .n_proofs = { RT1 },
	  .n_st = FED_REFUSED, .n_why = WHY("Address alice@old.example has "
	  "an account here"),
	  .n_route = { "alice@old.example", "(none)" },
	  .n_claim = "Address alice@old.example" },
	{ INTRO("an Address of an account closed here: learned with its "
	  "proof", C_A, C_E),
	  .n_rows = { ACCOUNT("bob@old.example", "closed", 0),
	    RTOKEN(RT1, "bob@old.example", "1 day") },
	  .n_addrs = { "bob@old.example" }, .n_proofs = { RT1 },
	  .n_route = { "bob@old.example", "e.example|introduced" } },

	/* What the certificates and the signer say. */
	{ INTRO("a private courier: its domain recorded", C_A, C_B) },
	{ INTRO("not of the client: refused", C_A, C_C), .n_by = C_E,
	  .n_addrs = { "newx@c.example" }, .n_proofs = { RT1 },
	  .n_rows = { RTOKEN(RT1, "newx@c.example", "1 day") },
	  .n_st = FED_REFUSED, .n_why = WHY("introduction is not of the "
	  "client"), .n_route = { "newx@c.example", "(none)" } },
	{ INTRO("of the other element kind: unverified", C_A, C_C),
	  .n_other = 1, .n_addrs = { "newx@c.example" },
	  .n_st = FED_UNVERIFIED,
	  .n_why = { "introduction of a background, not a foreground",
	    "introduction of a foreground, not a background" },
	  .n_route = { "newx@c.example", "(none)" } },
	{ INTRO("of a hierarchy nobody trusts: unverified", C_A, C_Z),
	  .n_by = C_C, .n_addrs = { "newx@z.example" },
	  .n_st = FED_UNVERIFIED, .n_why = WHY("untrusted introduction"),
	  .n_route = { "newx@z.example", "(none)" } },
	{ INTRO("a private courier claiming an address outside its domain",
	  C_A, C_B), .n_addrs = { "x@c.example" }, .n_st = FED_UNVERIFIED,
	  .n_why = WHY("private courier b.example claims address "
	  "x@c.example outside its name constraints"),
	  .n_route = { "x@c.example", "(none)" } },

	/*
	 * An invitation's Token. A Token refused is a refused claim like
	 * the others (doc/security.md: "every refused claim is recorded"):
	 * refused_claims keeps "Token for <address>".
	 */
	{ INTRO("a Token of a pending invitation: learned as rejected, "
	  "the token taken", C_A, C_E),
	  .n_rows = { TOKEN(TOK1, "dave@f.example", "1 day") },
	  .n_addrs = { "dave@f.example" }, .n_token = TOK1,
	  .n_route = { "dave@f.example", "e.example|rejected" },
	  .n_sql = "SELECT count(*) FROM seen_messages WHERE kind = "
	  "'invitation-token' AND message_id = encode(sha256(convert_to('"
	  TOK1 "', 'UTF8')), 'hex')", .n_sql_want = "1" },
	{ INTRO("a Token that answers nothing: refused", C_A, C_E),
	  .n_rows = { TOKEN(TOK1, "dave@f.example", "1 day") },
	  .n_addrs = { "dave@f.example" }, .n_token = TOK2,
	  .n_st = FED_REFUSED,
	  .n_why = WHY("the token answers no pending invitation"),
	  .n_route = { "dave@f.example", "(none)" },
	  .n_claim = "Token for dave@f.example" },
	{ INTRO("the Token of an expired invitation: refused", C_A, C_E),
	  .n_rows = { TOKEN(TOK1, "dave@f.example", "-1 hour") },
	  .n_addrs = { "dave@f.example" }, .n_token = TOK1,
	  .n_st = FED_REFUSED,
	  .n_why = WHY("the token answers no pending invitation"),
	  .n_route = { "dave@f.example", "(none)" },
	  .n_claim = "Token for dave@f.example" },
	{ INTRO("the Token of another address: refused", C_A, C_E),
	  .n_rows = { TOKEN(TOK1, "dave@f.example", "1 day") },
	  .n_addrs = { "eve@f.example" }, .n_token = TOK1,
	  .n_st = FED_REFUSED,
	  .n_why = WHY("the token answers no pending invitation"),
	  .n_route = { "eve@f.example", "(none)" },
	  .n_claim = "Token for eve@f.example" },
	{ INTRO("a Token with two Addresses: bad", C_A, C_E),
	  .n_rows = { TOKEN(TOK1, "dave@f.example", "1 day") },
	  .n_addrs = { "dave@f.example", "eve@f.example" }, .n_token = TOK1,
	  .n_st = FED_BAD, .n_why = WHY("a Token needs exactly one Address"),
	  .n_route = { "dave@f.example", "(none)" } },
	{ INTRO("a Token without an Address: bad", C_A, C_E),
	  .n_rows = { TOKEN(TOK1, "dave@f.example", "1 day") },
	  .n_token = TOK1, .n_st = FED_BAD,
	  .n_why = WHY("a Token needs exactly one Address"),
	  .n_route = { "dave@f.example", "(none)" } },

	/* Which reason a route learned may replace. */
	{ INTRO("a proved claim never over a transfer", C_A, C_E),
	  .n_rows = { ROUTE("moved@f.example", "c.example", "transferred"),
	    RTOKEN(RT1, "moved@f.example", "1 day") },
	  .n_addrs = { "moved@f.example" }, .n_proofs = { RT1 },
	  .n_route = { "moved@f.example", "c.example|transferred" } },
	{ INTRO("a proved claim never over an invitation's proof", C_A,
	  C_E),
	  .n_rows = { ROUTE("dave@f.example", "c.example", "rejected"),
	    RTOKEN(RT1, "dave@f.example", "1 day") },
	  .n_addrs = { "dave@f.example" }, .n_proofs = { RT1 },
	  .n_route = { "dave@f.example", "c.example|rejected" } },
	{ INTRO("a newer proved claim over an older one", C_A, C_E),
	  .n_rows = { ROUTE("x@f.example", "c.example", "introduced"),
	    RTOKEN(RT1, "x@f.example", "1 day") },
	  .n_addrs = { "x@f.example" }, .n_proofs = { RT1 },
	  .n_route = { "x@f.example", "e.example|introduced" } },
	{ INTRO("an invitation's proof over a claim", C_A, C_E),
	  .n_rows = { ROUTE("dave@f.example", "c.example", "introduced"),
	    TOKEN(TOK1, "dave@f.example", "1 day") },
	  .n_addrs = { "dave@f.example" }, .n_token = TOK1,
	  .n_route = { "dave@f.example", "e.example|rejected" } },
	{ INTRO("an invitation's proof never over a transfer", C_A, C_E),
	  .n_rows = { ROUTE("dave@f.example", "c.example", "transferred"),
	    TOKEN(TOK1, "dave@f.example", "1 day") },
	  .n_addrs = { "dave@f.example" }, .n_token = TOK1,
	  .n_route = { "dave@f.example", "c.example|transferred" } },

	/* doc/security.md, section 1: a courier is its CA's key. */
	{ INTRO("an impostor of a courier the operator recorded: refused",
	  C_A, C_BX), .n_rows = { KNOWS(C_B) }, .n_st = FED_REFUSED,
	  .n_why = WHY(IMPOSTOR), .n_claim = "courier" },
	{ INTRO("an impostor of a courier learned before: refused", C_A,
	  C_BX), .n_rows = { LEARNT(C_B, NULL) }, .n_st = FED_REFUSED,
	  .n_why = WHY(IMPOSTOR), .n_claim = "courier" },
	{ INTRO("an impostor of this courier itself: refused", C_B, C_BX),
	  .n_st = FED_REFUSED, .n_why = WHY(IMPOSTOR),
	  .n_claim = "courier" },
	{ INTRO("a courier known from before the keys: its key filled in",
	  C_A, C_E), .n_rows = { KEYLESS(C_E) } },
	{ INTRO("a courier learned before: its introduction refreshed", C_A,
	  C_E), .n_rows = { LEARNT(C_E, "2001-01-01") },
	  .n_sql = LEARNED_AT_NOW, .n_sql_want = "t" },
	{ INTRO("a courier the operator recorded (pinned): its "
	  "introduction never replaced", C_A, C_E),
	  .n_rows = { PINNED_AT(C_E, "2001-01-01") },
	  .n_sql = LEARNED_AT_NOW, .n_sql_want = "f" },

	/* A Domain: its first courier keeps it. */
	{ INTRO("the first claimant of a domain: recorded", C_A, C_D) },
	{ INTRO("a courier claiming its own domain again: recorded", C_A,
	  C_B), .n_rows = { LEARNT(C_B, NULL) } },
	{ INTRO("a second claimant of a domain the operator recorded: "
	  "refused", C_A, C_D), .n_rows = { KNOWS(C_B) },
	  .n_st = FED_REFUSED, .n_why = WHY("Domain b.example is already "
	  "served by b.example"), .n_claim = "Domain b.example" },
	{ INTRO("a second claimant of a domain learned before: refused",
	  C_A, C_D), .n_rows = { LEARNT(C_B, NULL) }, .n_st = FED_REFUSED,
	  .n_why = WHY("Domain b.example is already served by b.example"),
	  .n_claim = "Domain b.example" },
	{ INTRO("a claimant of this courier's own domain: refused", C_B,
	  C_D), .n_st = FED_REFUSED, .n_why = WHY("Domain b.example is "
	  "served by this courier"), .n_claim = "Domain b.example" },
};

/* Every introduction known, as text: what a refusal must leave alone. */
static void
tf_intros(struct tf *t, char *buf, size_t len)
{
	tf_get(t, buf, len, "SELECT coalesce(string_agg(courier || ' ' || "
	    "element || ' ' || endpoint || ' ' || domains::text || ' ' || "
	    "coalesce(courier_key, '-') || ' ' || pinned || ' ' || "
	    "learned_at, ', ' ORDER BY courier, element), 'none') FROM "
	    "introductions", 0, NULL);
}

/* After an introduction taken: its row, the notes; or nothing changed. */
static void
check_intro_tables(struct tf *t, const struct intro_case *c,
    const char *text, size_t len, const char *id, const char *before,
    const char *name)
{
	const char *p[2] = { id, couriers[c->n_of].cp_name };
	const struct note *rec = tf_note_of(t, FED_EV_RECORDED, NULL);
	const struct note *fin = tf_note_of(t, FED_EV_INTRO, NULL);
	struct intro *in = NULL;
	char got[4096], *dom = NULL, err[TN_ERRLEN];
	int taken = c->n_st == FED_TAKEN;

	tf_get(t, got, sizeof(got), "SELECT count(*) FROM seen_messages "
	    "WHERE message_id = $1 AND kind = 'introduction'", 1, p);
	is_same(got, taken ? "1" : "0", nm("%s: the Id is %s", name, taken ?
	    "taken once" : "not taken"));
	if (!taken) {
		tf_intros(t, got, sizeof(got));
		is_same(got, before, nm("%s: the introductions known are "
		    "unchanged", name));
		return;
	}
	/* What it says, as the receiver reads it. */
	if (intro_read(trust, text, len, t->t_kind, &in, NULL, err) == -1 ||
	    intro_domains_text(in, &dom, err) == -1) {
		ok(0, "%s: %s", name, err);
		goto out;
	}
	tf_get(t, got, sizeof(got), "SELECT endpoint || ' ' || role || ' ' || "
	    "domains::text || ' ' || courier_key FROM introductions WHERE "
	    "courier = $1", 1, p + 1);
	is_same(got, nm("%s %s {%s} %s", in->in_endpoint,
	    pki_role_name(in->in_role), dom, in->in_key), nm("%s: recorded: "
	    "endpoint, role, domains, its courier's key", name));
	ok(rec != NULL && same(rec->no_courier, in->in_courier) &&
	    fin != NULL && same(fin->no_courier, in->in_courier) &&
	    fin->no_count == count3(c->n_addrs) &&
	    fin->no_flag == (c->n_token != NULL) && fin->no_released == 0,
	    "%s: noted recorded, and taken with %zu addresses%s", name,
	    count3(c->n_addrs), c->n_token != NULL ? " and a token" : "");
out:
	free(dom);
	intro_free(in);
}

static void
run_intro(struct tf *t, const struct intro_case *c, size_t i)
{
	struct intro_spec sp;
	char name[200], why[TN_ERRLEN], id[64], got[128], *text = NULL;
	char before[4096];
	const char *p[1] = { c->n_route[0] };
	size_t len;

	snprintf(name, sizeof(name), "%s: introduction: %s", t->t_kname,
	    c->n_name);
	snprintf(id, sizeof(id), "in%zu@%s", i, couriers[c->n_of].cp_name);
	memset(&sp, 0, sizeof(sp));
	sp.sp_of = c->n_of;
	sp.sp_other = c->n_other;
	sp.sp_subs = c->n_subs;
	sp.sp_id = id;
	sp.sp_addrs = c->n_addrs;
	sp.sp_proofs = c->n_proofs;
	sp.sp_token = c->n_token;
	if (!ok(tf_reset(t, c->n_self) == 0 && tf_rows(t, c->n_rows, 4) == 0 &&
	    msg_intro(t, &sp, &text, &len) == 0, "%s: set up", name))
		return;
	tf_intros(t, before, sizeof(before));
	is_status(tf_take(t, 1, c->n_by ? c->n_by : c->n_of, text, len, why),
	    c->n_st, nm("%s: %s", name, st_name(c->n_st)));
	if (c->n_st != FED_TAKEN)
		check_why(why, c->n_why[KI(t->t_kind)], name);
	check_intro_tables(t, c, text, len, id, before, name);
	if (c->n_st == FED_REFUSED)	/* then fed_refusal() is called */
		check_claim(t, c->n_claim, c->n_of, why, name);
	if (c->n_route[0] != NULL) {
		tf_get(t, got, sizeof(got), "SELECT courier || '|' || reason "
		    "FROM address_routes WHERE address = $1", 1, p);
		is_same(got, c->n_route[1], nm("%s: route of %s", name,
		    c->n_route[0]));
	}
	if (c->n_sql != NULL) {
		tf_get(t, got, sizeof(got), c->n_sql, 0, NULL);
		is_same(got, c->n_sql_want, nm("%s: %s: %s", name, c->n_sql,
		    c->n_sql_want));
	}
	ok(t->t_n[K_QUEUE] == 0 && t->t_n[K_DELIVER] == 0 &&
	    t->t_n[K_DONE] == 0 && t->t_sent == 0, "%s: nothing held, "
	    "nothing sent", name);
	free(text);
}

/* The same introduction twice. */
static void
run_intro_duplicate(struct tf *t)
{
	const char *p[1] = { "indup@c.example" };
	const struct note *no;
	struct intro_spec sp = { .sp_of = C_C, .sp_id = p[0] };
	char why[TN_ERRLEN], got[64], *text = NULL;
	size_t len;

	if (!ok(tf_reset(t, C_A) == 0 && msg_intro(t, &sp, &text, &len) == 0,
	    "%s: introduction twice: set up", t->t_kname))
		return;
	is_status(tf_take(t, 1, C_C, text, len, why), FED_TAKEN,
	    nm("%s: introduction twice: taken", t->t_kname));
	is_status(tf_take(t, 1, C_C, text, len, why), FED_DUPLICATE,
	    nm("%s: introduction twice: then a duplicate", t->t_kname));
	no = tf_note_of(t, FED_EV_DUPLICATE, NULL);
	ok(no != NULL && same(no->no_courier, "c.example") &&
	    tf_note_of(t, FED_EV_RECORDED, NULL) == NULL,
	    "%s: introduction twice: noted a duplicate of c.example, not "
	    "recorded again", t->t_kname);
	tf_get(t, got, sizeof(got), "SELECT count(*) FROM seen_messages "
	    "WHERE message_id = $1 AND kind = 'introduction'", 1, p);
	is_same(got, "1", nm("%s: introduction twice: its Id seen once",
	    t->t_kname));
	free(text);
}

/* fed_send() on its own. */
struct send_case {
	const char	*s_name;
	int		 s_self;
	struct row	 s_rows[3];
	int		 s_origin;	/* 0: this element's own user */
	int		 s_target;
	int		 s_avoid;
	int		 s_rc;
	int		 s_used;	/* rc 0, 2 */
	const char	*s_err;		/* rc 1 */
	int		 s_wire;	/* Origin-Courier sent */
	int		 s_subs;
	const char	*s_token;	/* the Route-Token the item carries */
};

/* The Route-Token a relayed item of a send case carries. */
#define RTC	"rt-carried-0123456789"

static const struct send_case send_cases[] = {
	{ "its own user's, to an introduced courier", C_A, { KNOWS(C_E) },
	  0, C_E, 0, 0, C_E, NULL, C_A, 0, NULL },
	{ "a relayed item: origin kept, its Route-Token carried", C_A,
	  { KNOWS(C_E) }, C_C, C_E, 0, 0, C_E, NULL, C_C, 0, RTC },
	{ "a relayed item without a Route-Token: none made", C_A,
	  { KNOWS(C_E) }, C_C, C_E, 0, 0, C_E, NULL, C_C, 0, NULL },
	{ "nobody introduced: not sent", C_A, { { 0 } },
	  0, C_E, 0, 1, 0, "no introduction of e.example nor of the "
	  "superior", 0, 0, NULL },
	{ "the courier not introduced: to the superior", C_B, { KNOWS(C_A) },
	  0, C_E, 0, 0, C_A, NULL, C_B, 0, NULL },
	{ "the superior it would go to is where it came from: a loop", C_B,
	  { KNOWS(C_A) }, C_C, C_E, C_A, 1, 0, LOOP, 0, 0, RTC },
	{ "the courier is where it came from: a loop", C_A, { KNOWS(C_E) },
	  C_C, C_E, C_E, 1, 0, LOOP, 0, 0, RTC },
	{ "gateway: relayed out of its segment: 2, its own origin and "
	  "segment, a Route-Token of its own", C_G, { KNOWS(C_S), KNOWS(C_C) },
	  C_S, C_C, 0, 2, C_C, NULL, C_G, 1, RTC },
	{ "gateway: relayed into its segment: 2, its own origin and "
	  "Route-Token", C_G, { KNOWS(C_S) }, C_C, C_S, 0, 2, C_S, NULL, C_G,
	  0, RTC },
	{ "gateway: relayed outside to outside: origin and Route-Token "
	  "kept", C_G, { KNOWS(C_S), KNOWS(C_E) }, C_C, C_E, 0, 0, C_E, NULL,
	  C_C, 0, RTC },
	{ "gateway: inside to inside: origin and Route-Token kept", C_G,
	  { KNOWS(C_S) }, C_S, C_S, 0, 0, C_S, NULL, C_S, 0, RTC },
	{ "gateway: its own user's out of the segment: the segment in its "
	  "chain", C_G, { KNOWS(C_S), KNOWS(C_C) },
	  0, C_C, 0, 0, C_C, NULL, C_G, 1, NULL },
	{ "gateway: its own user's into the segment: only itself", C_G,
	  { KNOWS(C_S) }, 0, C_S, 0, 0, C_S, NULL, C_G, 0, NULL },
};

static int
tf_send(struct tf *t, const char *courier, const char *avoid,
    const struct fed_item *it, char *used, char *err)
{
	struct fed fd;
	int rc = -1;

	tf_clear(t);
	used[0] = err[0] = '\0';
	if (tf_enter(t) == -1)
		return -1;
	tf_fed(t, &fd);
	rc = fed_send(&fd, courier, avoid, it, used, err);
	t->t_sent = fd.fd_sent;
	if (tf_leave(t, rc == 0 || rc == 2) == -1)
		rc = -1;
	return rc;
}

static void
run_send(struct tf *t, const struct send_case *c, size_t i)
{
	int oc = c->s_origin ? c->s_origin : c->s_self;
	const char *od = couriers[oc].cp_name;
	char name[160], msgid[64], sender[64], rcpt[64];
	char used[ROUTE_IDLEN], err[TN_ERRLEN];
	const char *rcpts[1] = { rcpt };
	struct fed_item it;
	struct want_ic wi;
	unsigned char *pay = NULL;
	size_t paylen;
	int rc;

	snprintf(name, sizeof(name), "%s: fed_send: %s", t->t_kname,
	    c->s_name);
	snprintf(msgid, sizeof(msgid), "ms%zu@%s", i, od);
	snprintf(sender, sizeof(sender), "u@%s", od);
	snprintf(rcpt, sizeof(rcpt), "r@%s", couriers[c->s_target].cp_name);
	if (!ok(tf_reset(t, c->s_self) == 0 && tf_rows(t, c->s_rows, 3) == 0 &&
	    msg_payload(t->t_kind, msgid, sender, rcpts, 1, 0, &pay, &paylen,
	    err) == 0, "%s: set up", name))
		goto out;
	memset(&it, 0, sizeof(it));
	it.it_msgid = msgid;
	it.it_sender = sender;
	it.it_rcpt = rcpt;
	it.it_hops = c->s_origin ? 2 : 1;
	it.it_origin = c->s_origin ? couriers[c->s_origin].cp_name : NULL;
	it.it_origin_pem = c->s_origin ? el_of(c->s_origin,
	    t->t_kind)->el_pem : NULL;
	it.it_payload = pay;
	it.it_paylen = paylen;
	it.it_token = c->s_token;
	rc = tf_send(t, couriers[c->s_target].cp_name, c->s_avoid ?
	    couriers[c->s_avoid].cp_name : NULL, &it, used, err);
	is_int(rc, c->s_rc, nm("%s: returns %d", name, c->s_rc));
	if (c->s_rc == 1) {
		check_why(err, c->s_err, name);
		ok(t->t_n[K_QUEUE] == 0 && t->t_sent == 0, "%s: nothing "
		    "queued", name);
		goto out;
	}
	is_same(used, couriers[c->s_used].cp_name, nm("%s: used", name));
	memset(&wi, 0, sizeof(wi));
	wi.wi_to = c->s_used;
	wi.wi_hops = it.it_hops;
	wi.wi_origin = c->s_wire;
	wi.wi_subs = c->s_subs;
	wi.wi_rcpt = rcpt;
	wi.wi_msgid = msgid;
	wi.wi_sender = sender;
	wi.wi_pay = pay;
	wi.wi_paylen = paylen;
	wi.wi_token = c->s_token;
	wi.wi_fresh = c->s_wire == c->s_self;
	check_ic(t, 0, &wi, name);
	ok(t->t_n[K_QUEUE] == 1 && t->t_sent == 1, "%s: one wrap queued",
	    name);
out:
	free(pay);
}

/* fed_introduce() on its own. */
struct introduce_case {
	const char	*i_name;
	int		 i_self;
	struct row	 i_rows[2];
	int		 i_to;
	const char	*i_addrs[3];
	const char	*i_token;
	const char	*i_domains[2];
	const char	*i_proofs[3];	/* a route token for each, or NULL */
	const char	*i_want[3];	/* the Route-Proof fields */
};

static const struct introduce_case introduce_cases[] = {
	{ "a public courier: its addresses, no domain", C_A, { { 0 } }, C_C,
	  { "alice@a.example", "newbie@a.example" }, NULL, { NULL },
	  { NULL }, { NULL } },
	{ "a private courier: its domain", C_B, { { 0 } }, C_A,
	  { "carol@b.example" }, NULL, { "b.example" }, { NULL }, { NULL } },
	{ "with a Token", C_A, { { 0 } }, C_E, { "dave@a.example" }, TOK1,
	  { NULL }, { NULL }, { NULL } },
	{ "with a Route-Proof for each address that has a token", C_A,
	  { { 0 } }, C_E, { "alice@a.example", "newbie@a.example",
	  "bob@a.example" }, NULL, { NULL }, { RT1, NULL, RT2 },
	  { "alice@a.example " RT1, "bob@a.example " RT2 } },
	{ "a gateway outside its segment: the segment's domain", C_G,
	  { KNOWS(C_S) }, C_C, { "gus@g.example" }, NULL, { "s.example" },
	  { NULL }, { NULL } },
	{ "a gateway inside its segment: only itself", C_G, { KNOWS(C_S) },
	  C_S, { "gus@g.example" }, NULL, { NULL }, { NULL }, { NULL } },
};

static void
run_introduce(struct tf *t, const struct introduce_case *c)
{
	struct fed fd;
	struct want_in wn;
	const struct note *no;
	char name[160], err[TN_ERRLEN];
	int rc = -1;

	snprintf(name, sizeof(name), "%s: fed_introduce: %s", t->t_kname,
	    c->i_name);
	if (!ok(tf_reset(t, c->i_self) == 0 && tf_rows(t, c->i_rows, 2) == 0 &&
	    tf_enter(t) == 0, "%s: set up", name))
		return;
	tf_fed(t, &fd);
	if ((rc = fed_introduce(&fd, el_of(c->i_to, t->t_kind)->el_in,
	    c->i_addrs, c->i_want[0] != NULL ? c->i_proofs : NULL,
	    count3(c->i_addrs), c->i_token, err)) == -1)
		diag("%s", err);
	t->t_sent = fd.fd_sent;
	tf_leave(t, rc == 0);
	is_int(rc, 0, nm("%s: queued", name));
	memset(&wn, 0, sizeof(wn));
	wn.wn_to = c->i_to;
	memcpy(wn.wn_addrs, c->i_addrs, sizeof(wn.wn_addrs));
	memcpy(wn.wn_domains, c->i_domains, sizeof(wn.wn_domains));
	memcpy(wn.wn_proofs, c->i_want, sizeof(wn.wn_proofs));
	wn.wn_token = c->i_token;
	check_intro(t, 0, &wn, name);
	no = tf_note_of(t, FED_EV_INTRODUCE, NULL);
	ok(t->t_n[K_QUEUE] == 1 && t->t_sent == 1 && no != NULL &&
	    same(no->no_courier, couriers[c->i_to].cp_name) &&
	    no->no_count == count3(c->i_addrs), "%s: one wrap, noted", name);
}

/*
 * Release: held items go once a route appears, through an introduction's
 * proved Address, a Token, its Domain, or an account able to take them.
 * They are rows of the element's own table, which the engine reads.
 */
struct held_msg {
	struct ic_spec	 hm_in;
	char		*hm_text;
	size_t		 hm_len;
	unsigned char	*hm_pay;
	size_t		 hm_paylen;
};

/* 2100-01-01T00:00:00Z: the expiry of an ARM held for long. */
#define Y2100	((time_t)4102444800)

static const char *
held_table(const struct tf *t)
{
	return t->t_kind == PKI_KIND_FG ? "held_messages" : "held_arms";
}

/* The rows still held (neither released nor purged). */
static int
held_left(struct tf *t)
{
	char got[32];

	tf_get(t, got, sizeof(got), nm("SELECT count(*) FROM %s WHERE "
	    "released_at IS NULL AND purged_at IS NULL", held_table(t)), 0,
	    NULL);
	return atoi(got);
}

/* Hold what hm says; 1 if every recipient was held, a row each. */
static int
hold_msg(struct tf *t, struct held_msg *hm, const char *name)
{
	char why[TN_ERRLEN], msgid[TN_MAX_MSGID + 1], got[32];
	const char *p[1] = { msgid };
	size_t n = count3(hm->hm_in.is_rcpts);
	int taken;

	hm->hm_text = NULL;
	hm->hm_pay = NULL;
	snprintf(msgid, sizeof(msgid), "m%s", hm->hm_in.is_id);
	if (msg_ic(t, &hm->hm_in, &hm->hm_text, &hm->hm_len, &hm->hm_pay,
	    &hm->hm_paylen) == -1)
		return ok(0, "%s: held: %s", name, hm->hm_in.is_id);
	taken = tf_take(t, 0, hm->hm_in.is_from, hm->hm_text, hm->hm_len,
	    why) == FED_TAKEN;
	tf_get(t, got, sizeof(got), nm("SELECT count(*) FROM %s WHERE "
	    "message_id = $1 AND released_at IS NULL AND purged_at IS NULL",
	    held_table(t)), 1, p);
	return ok(taken && t->t_n[K_HOLD] == (int)n && t->t_sent == 0 &&
	    atoi(got) == (int)n, "%s: held: %zu recipients of %s, a row of "
	    "%s each", name, n, hm->hm_in.is_id, held_table(t));
}

static void
held_msg_free(struct held_msg *hm)
{
	free(hm->hm_text);
	free(hm->hm_pay);
}

/*
 * The q-th wrap: held rcpt of hm sent on to courier to, from here: Hops
 * 1, this element the origin, a Route-Token of its own.
 */
static void
check_released(struct tf *t, int q, const struct held_msg *hm,
    const char *rcpt, int to, int subs, const char *name)
{
	struct want_ic wi;
	char msgid[TN_MAX_MSGID + 1];

	snprintf(msgid, sizeof(msgid), "m%s", hm->hm_in.is_id);
	memset(&wi, 0, sizeof(wi));
	wi.wi_to = to;
	wi.wi_hops = 1;
	wi.wi_origin = t->t_self;
	wi.wi_subs = subs;
	wi.wi_rcpt = rcpt;
	wi.wi_msgid = msgid;
	wi.wi_sender = hm->hm_in.is_sender;
	wi.wi_pay = hm->hm_pay;
	wi.wi_paylen = hm->hm_paylen;
	wi.wi_token = hm->hm_in.is_token;
	wi.wi_fresh = 1;
	check_ic(t, q, &wi, name);
}

/*
 * The one held item gone this step: rcpt, to courier (NULL: here). Its
 * row is released; the foreground's fo_released named it.
 */
static void
check_done(struct tf *t, const char *rcpt, const char *courier,
    const char *action, const char *name)
{
	const struct call *ca = &t->t_calls[K_DONE][0];
	const struct note *no = tf_note_of(t, FED_EV_RELEASED, rcpt);
	const char *p[1] = { rcpt };
	char got[512];

	if (t->t_kind == PKI_KIND_FG) {
		if (ok(t->t_n[K_DONE] == 1 && same(ca->ca_rcpt, rcpt) &&
		    same(ca->ca_text, courier) && ca->ca_held != NULL,
		    "%s: fo_released for %s, %s", name, rcpt, courier ?
		    courier : "delivered here")) {
			tf_get(t, got, sizeof(got), "SELECT recipient FROM "
			    "held_messages WHERE id = $1::bigint AND "
			    "released_at IS NOT NULL", 1,
			    (const char *const *)&ca->ca_held);
			is_same(got, rcpt, nm("%s: fo_released names its row",
			    name));
		} else
			diag("%d calls, first for %s, %s", t->t_n[K_DONE],
			    ca->ca_rcpt ? ca->ca_rcpt : "-", ca->ca_text ?
			    ca->ca_text : "-");
	}
	tf_get(t, got, sizeof(got), nm("SELECT count(*) FILTER (WHERE "
	    "released_at IS NULL) || ' ' || count(*) FILTER (WHERE released_at "
	    "IS NOT NULL AND purged_at IS NULL) FROM %s WHERE recipient = "
	    "lower($1)", held_table(t)), 1, p);
	is_same(got, "0 1", nm("%s: %s is held no more: its row released",
	    name, rcpt));
	ok(no != NULL && same(no->no_courier, courier) &&
	    same(no->no_text, action), "%s: noted released", name);
}

/* An introduction of courier of, taken; *released from the note. */
static void
release_by_intro(struct tf *t, const struct intro_spec *sp, int want,
    const char *name)
{
	const struct note *fin;
	char why[TN_ERRLEN], *text = NULL;
	size_t len;

	if (msg_intro(t, sp, &text, &len) == -1) {
		ok(0, "%s: introduction of %s", name,
		    couriers[sp->sp_of].cp_name);
		return;
	}
	is_status(tf_take(t, 1, sp->sp_of, text, len, why), FED_TAKEN,
	    nm("%s: introduction of %s taken", name,
	    couriers[sp->sp_of].cp_name));
	fin = tf_note_of(t, FED_EV_INTRO, NULL);
	if (!ok(fin != NULL && fin->no_released == want && t->t_n[K_QUEUE] ==
	    want && t->t_sent == want, "%s: %d released and sent", name, want))
		diag("why: %s; released %d, %d queued, fd_sent %d", why,
		    fin != NULL ? fin->no_released : -1, t->t_n[K_QUEUE],
		    t->t_sent);
	free(text);
}

static void
release_steps(struct tf *t, struct held_msg *hm, const char *k)
{
	static const char *const r[] = { "r@e.example", NULL, NULL };
	static const char *const rp[] = { RT1, NULL, NULL };
	static const char *const dave[] = { "dave@f.example", NULL, NULL };
	static const struct row tok = TOKEN(TOK1, "dave@f.example", "1 day");
	static const struct row rtok = RTOKEN(RT1, "r@e.example", "1 day");
	struct intro_spec sp = { .sp_of = C_E, .sp_id = "rel0@e.example",
	    .sp_addrs = r };
	char name[128], why[TN_ERRLEN], *text = NULL;
	size_t len;

	snprintf(name, sizeof(name), "%s: no release by an Address without "
	    "proof", k);
	if (msg_intro(t, &sp, &text, &len) == 0) {
		is_status(tf_take(t, 1, C_E, text, len, why), FED_REFUSED,
		    nm("%s: refused", name));
		ok(t->t_n[K_QUEUE] == 0 && t->t_sent == 0 &&
		    held_left(t) == 5, "%s: nothing sent, five held", name);
	} else
		ok(0, "%s: introduction", name);
	free(text);

	snprintf(name, sizeof(name), "%s: release by an Address and its "
	    "Route-Proof", k);
	ok(tf_rows(t, &rtok, 1) == 0, "%s: the route token of a message "
	    "sent there", name);
	sp.sp_id = "rel1@e.example";
	sp.sp_proofs = rp;
	release_by_intro(t, &sp, 1, name);
	check_released(t, 0, &hm[0], "r@e.example", C_E, 0, name);
	check_done(t, "r@e.example", "e.example", "to-learned-courier", name);
	is_int(held_left(t), 4, nm("%s: the others stay held", name));

	snprintf(name, sizeof(name), "%s: release by a Token", k);
	ok(tf_rows(t, &tok, 1) == 0, "%s: the invitation's token", name);
	sp.sp_id = "rel2@e.example";
	sp.sp_addrs = dave;
	sp.sp_proofs = NULL;
	sp.sp_token = TOK1;
	release_by_intro(t, &sp, 1, name);
	check_released(t, 0, &hm[1], "dave@f.example", C_E, 0, name);
	check_done(t, "dave@f.example", "e.example", "to-learned-courier",
	    name);

	snprintf(name, sizeof(name), "%s: release by a Domain", k);
	memset(&sp, 0, sizeof(sp));
	sp.sp_of = C_B;
	sp.sp_id = "rel3@b.example";
	release_by_intro(t, &sp, 1, name);
	check_released(t, 0, &hm[0], "q@b.example", C_B, 0, name);
	check_done(t, "q@b.example", "b.example", "to-introduced-courier",
	    name);
	is_int(held_left(t), 2, nm("%s: two stay held", name));
}

/* The background's held ARMs expire: purged, noted, never sent. */
static void
release_expired(struct tf *t, const char *k)
{
	const struct note *no;
	char name[128], got[64];
	int n;

	snprintf(name, sizeof(name), "%s: a held ARM past its expiry", k);
	ok(tf_sql(t, "UPDATE held_arms SET expires_at = now() - interval "
	    "'1 second' WHERE recipient = 'stay@x.example'", 0, NULL) == 0 &&
	    tf_release(t, NULL, &n) == 0 && n == 0 && t->t_n[K_QUEUE] == 0 &&
	    t->t_n[K_OPEN] == 0, "%s: not released, not opened, nothing sent",
	    name);
	no = tf_note_of(t, FED_EV_EXPIRED, "stay@x.example");
	ok(no != NULL, "%s: noted expired", name);
	tf_get(t, got, sizeof(got), "SELECT (purged_at IS NOT NULL) || ' ' || "
	    "(released_at IS NULL) || ' ' || octet_length(arm) FROM held_arms "
	    "WHERE recipient = 'stay@x.example'", 0, NULL);
	is_same(got, "true true 0", nm("%s: purged, its ARM dropped", name));
	is_int(held_left(t), 0, nm("%s: nothing held any more", name));
}

static void
release_local(struct tf *t, const struct held_msg *hm, const char *k)
{
	static const struct row nobody = ACCOUNT("newbie@a.example", "active",
	    0);
	static const struct row nowhere = ROUTE("stay@x.example",
	    "x.example", "introduced");
	const struct call *ca = &t->t_calls[K_DELIVER][0];
	char name[128];
	int n;

	snprintf(name, sizeof(name), "%s: release with nothing new", k);
	ok(tf_release(t, NULL, &n) == 0 && n == 0 && t->t_n[K_QUEUE] == 0 &&
	    t->t_n[K_DONE] == 0 && held_left(t) == 2, "%s: none", name);

	snprintf(name, sizeof(name), "%s: release to an account without its "
	    "agent", k);
	ok(tf_rows(t, &nobody, 1) == 0 && tf_release(t, NULL, &n) == 0 &&
	    n == 0 && t->t_n[K_DELIVER] == 0 && t->t_n[K_DONE] == 0 &&
	    held_left(t) == 2, "%s: it stays held", name);

	snprintf(name, sizeof(name), "%s: release of one address to its "
	    "agent", k);
	ok(tf_sql(t, "UPDATE accounts SET agent_cert = 'agent certificate'",
	    0, NULL) == 0 && tf_release(t, "NewBie@a.example", &n) == 0 &&
	    n == 1, "%s: one released", name);
	ok(t->t_n[K_DELIVER] == 1 && same(ca->ca_rcpt, "newbie@a.example") &&
	    same(ca->ca_msgid, "mh2@c.example") && same(ca->ca_sender,
	    "x@c.example") && ca->ca_len == hm->hm_paylen &&
	    memcmp(ca->ca_data, hm->hm_pay, hm->hm_paylen) == 0 &&
	    t->t_n[K_QUEUE] == 0, "%s: delivered here as held, nothing sent",
	    name);
	is_same(t->t_n[K_DELIVER] == 1 ? ca->ca_expires : "(none)",
	    t->t_kind == PKI_KIND_BG ? "2100-01-01T00:00:00Z" : NULL,
	    nm("%s: with the expiry held (the ARM's, at a background)", name));
	check_done(t, "newbie@a.example", NULL, NULL, name);

	snprintf(name, sizeof(name), "%s: release to a courier nobody "
	    "introduced", k);
	ok(tf_rows(t, &nowhere, 1) == 0 && tf_release(t, NULL, &n) == 0 &&
	    n == 0 && t->t_n[K_QUEUE] == 0 && t->t_n[K_DONE] == 0 &&
	    held_left(t) == 1, "%s: it stays held, nothing sent", name);
	ok(tf_release(t, "r@e.example", &n) == 0 && n == 0 &&
	    t->t_n[K_QUEUE] == 0 && t->t_n[K_DELIVER] == 0,
	    "%s: an address released before: nothing", name);
	if (t->t_kind == PKI_KIND_BG)
		release_expired(t, k);
}

static void
run_release(struct tf *t)
{
	struct held_msg hm[2] = {
		{ .hm_in = { MSG("h1@c.example", C_C, C_C, 1, "x@c.example"),
		    .is_rcpts = { "r@e.example", "q@b.example",
		    "stay@x.example" }, .is_token = RTIN } },
		{ .hm_in = { MSG("h2@c.example", C_C, C_C, 3, "x@c.example"),
		    .is_rcpts = { "dave@f.example", "newbie@a.example" },
		    .is_expires = Y2100 } },
	};
	char kk[64];

	snprintf(kk, sizeof(kk), "%s: release", t->t_kname);
	if (ok(tf_reset(t, C_A) == 0, "%s: set up", kk) &&
	    hold_msg(t, &hm[0], kk) && hold_msg(t, &hm[1], kk)) {
		release_steps(t, hm, kk);
		release_local(t, &hm[1], kk);
	}
	held_msg_free(&hm[0]);
	held_msg_free(&hm[1]);
}

/*
 * A background's held ARM that no longer opens (wrapped to another
 * element) stays for the operator; the others go on.
 */
static void
run_release_kept(struct tf *t)
{
	static const char *const rcpts[] = { "kept@b.example", NULL, NULL };
	struct held_msg hm = { .hm_in = { MSG("h5@c.example", C_C, C_C, 1,
	    "x@c.example"), .is_rcpts = { "q@b.example" } } };
	struct intro_spec sp = { .sp_of = C_B, .sp_id = "rel5@b.example" };
	struct elem *c = el_of(C_C, t->t_kind);
	unsigned char *arm = NULL, *wrap = NULL;
	size_t armlen, wlen;
	const char *p[1];
	int lens[1];
	char name[128], err[TN_ERRLEN], got[64];

	snprintf(name, sizeof(name), "%s: a held ARM that no longer opens",
	    t->t_kname);
	if (!ok(tf_reset(t, C_A) == 0 && hold_msg(t, &hm, name) &&
	    msg_payload(t->t_kind, "mh6@c.example", "x@c.example", rcpts, 1,
	    0, &arm, &armlen, err) == 0 && cms_wrap_to(arm, armlen, &c->el_id,
	    c->el_id.ci_cert, &wrap, &wlen, err) == 0, "%s: set up", name)) {
		diag("%s", err);
		goto out;
	}
	p[0] = (const char *)wrap;
	lens[0] = (int)wlen;
	if (db_exec(t->t_db, "INSERT INTO held_arms (message_id, sender, "
	    "recipient, arm) VALUES ('mh6@c.example', 'x@c.example', "
	    "'kept@b.example', $1)", 1, p, lens, NULL, err) == -1)
		diag("%s", err);
	release_by_intro(t, &sp, 1, name);
	check_released(t, 0, &hm, "q@b.example", C_B, 0, name);
	ok(t->t_n[K_OPEN] == 2 && t->t_calls[K_OPEN][1].ca_text != NULL &&
	    same(t->t_calls[K_OPEN][1].ca_rcpt, "kept@b.example"),
	    "%s: fo_open_held asked for both, the second does not open", name);
	tf_get(t, got, sizeof(got), "SELECT (released_at IS NULL AND "
	    "purged_at IS NULL AND octet_length(arm) > 0) || '' FROM held_arms "
	    "WHERE recipient = 'kept@b.example'", 0, NULL);
	is_same(got, "true", nm("%s: its row stays as it was", name));
	is_int(held_left(t), 1, nm("%s: the other one went", name));
out:
	free(arm);
	free(wrap);
	held_msg_free(&hm);
}

/* At a gateway, and at a private courier through its superior. */
static void
run_release_edges(struct tf *t)
{
	static const struct row gw[] = {
		KNOWS(C_S), RTOKEN(RT1, "y@c.example", "1 day")
	};
	/* a's introduction: recorded from the message held. */
	static const struct row sup =
	    ROUTE("newbie@b.example", "e.example", "introduced");
	static const char *const y[] = { "y@c.example", NULL, NULL };
	static const char *const yp[] = { RT1, NULL, NULL };
	struct intro_spec sp = { .sp_of = C_C, .sp_id = "rel4@c.example",
	    .sp_addrs = y, .sp_proofs = yp };
	struct held_msg hm = { .hm_in = { MSG("h3@c.example", C_C, C_C, 1,
	    "x@c.example"), .is_rcpts = { "y@c.example" } } };
	struct held_msg hb = { .hm_in = { MSG("h4@a.example", C_A, C_A, 1,
	    "x@a.example"), .is_rcpts = { "newbie@b.example" } } };
	const struct note *no;
	char name[128];
	int n;

	snprintf(name, sizeof(name), "%s: gateway release", t->t_kname);
	if (ok(tf_reset(t, C_G) == 0 && tf_rows(t, gw, 2) == 0, "%s: set up",
	    name) && hold_msg(t, &hm, name)) {
		release_by_intro(t, &sp, 1, name);
		check_released(t, 0, &hm, "y@c.example", C_C, 1, name);
	}
	snprintf(name, sizeof(name), "%s: release through the superior",
	    t->t_kname);
	if (ok(tf_reset(t, C_B) == 0, "%s: set up", name) &&
	    hold_msg(t, &hb, name)) {
		ok(tf_rows(t, &sup, 1) == 0 && tf_release(t, NULL, &n) == 0 &&
		    n == 1, "%s: one released", name);
		check_released(t, 0, &hb, "newbie@b.example", C_A, 0, name);
		no = tf_note_of(t, FED_EV_RELEASED, "newbie@b.example");
		ok(no != NULL && same(no->no_courier, "a.example") &&
		    same(no->no_for, "e.example"), "%s: noted sent to "
		    "a.example for e.example", name);
	}
	held_msg_free(&hm);
	held_msg_free(&hb);
}

/* fed_below(), fed_seen(), fed_record() and fed_peer(). */
static void
run_basics(struct tf *t)
{
	const struct elem *b = el_of(C_B, t->t_kind);
	struct fed fd;
	X509 *x = NULL;
	char *ep = NULL, *pem = NULL, err[TN_ERRLEN], got[512];
	const char *k = t->t_kname;

	tf_reset(t, C_A);
	tf_fed(t, &fd);
	is_int(fed_below(&fd, b->el_pem, 1), 1,
	    nm("%s: b is right below a", k));
	is_int(fed_below(&fd, el_of(C_C, t->t_kind)->el_pem, 0), 0,
	    nm("%s: c is not below a", k));
	is_int(fed_below(&fd, fd.fd_self_pem, 0), 0,
	    nm("%s: a is not below itself", k));
	is_int(fed_below(&fd, el_of(C_S, t->t_kind)->el_pem, 0), 0,
	    nm("%s: s is not below a", k));
	tf_self(t, C_G);
	tf_fed(t, &fd);
	is_int(fed_below(&fd, el_of(C_S, t->t_kind)->el_pem, 1), 1,
	    nm("%s: s is right below g", k));
	is_int(fed_below(&fd, b->el_pem, 0), 0, nm("%s: b is not below g", k));

	tf_self(t, C_A);
	if (!ok(tf_enter(t) == 0, "%s: as the element", k))
		return;
	tf_fed(t, &fd);
	is_int(fed_seen(&fd, "s1@x.example", "inter-courier", err), 1,
	    nm("%s: fed_seen: the first time", k));
	is_int(fed_seen(&fd, "s1@x.example", "inter-courier", err), 0,
	    nm("%s: fed_seen: the second time", k));
	is_int(fed_seen(&fd, "s1@x.example", "introduction", err), 1,
	    nm("%s: fed_seen: the same Id of another kind", k));
	is_int(fed_peer(&fd, "b.example", NULL, &ep, &x, &pem, err), 0,
	    nm("%s: fed_peer: b unknown", k));
	is_int(fed_record(&fd, b->el_in, err), 0, nm("%s: fed_record", k));
	is_int(fed_record(&fd, b->el_in, err), 0,
	    nm("%s: fed_record again", k));
	is_int(fed_peer(&fd, "b.example", NULL, &ep, &x, &pem, err), 1,
	    nm("%s: fed_peer: b known", k));
	ok(same(ep, b->el_endpoint) && same(pem, b->el_in->in_pem) &&
	    x != NULL && X509_cmp(x, b->el_id.ci_cert) == 0,
	    "%s: fed_peer: b's endpoint, introduction and certificate", k);
	free(ep);
	free(pem);
	X509_free(x);
	is_int(fed_peer(&fd, "b.example", b->el_in->in_key, &ep, &x, &pem,
	    err), 1, nm("%s: fed_peer: b under its CA key", k));
	ok(same(ep, b->el_endpoint), "%s: fed_peer: b's endpoint under its "
	    "CA key", k);
	free(ep);
	free(pem);
	X509_free(x);
	is_int(fed_peer(&fd, "b.example", el_of(C_BX, t->t_kind)->el_in->in_key,
	    &ep, &x, &pem, err), 0, nm("%s: fed_peer: not b under the CA key "
	    "of an impostor of b", k));
	is_int(fed_record(&fd, el_of(C_BX, t->t_kind)->el_in, err), 1,
	    nm("%s: fed_record: an impostor of b refused", k));
	is_same(fd.fd_claim_why, IMPOSTOR, nm("%s: fed_record: why", k));
	is_int(fed_record(&fd, el_of(C_D, t->t_kind)->el_in, err), 1,
	    nm("%s: fed_record: a second claimant of b.example refused", k));
	is_same(fd.fd_claim, "Domain b.example", nm("%s: fed_record: the "
	    "claim", k));
	tf_leave(t, 1);
	tf_get(t, got, sizeof(got), "SELECT count(*) || ' ' || min(role) || "
	    "' ' || min(domains::text) || ' ' || min(courier_key) || ' ' || "
	    "bool_or(pinned) FROM introductions", 0, NULL);
	is_same(got, nm("1 private {b.example} %s false", b->el_in->in_key),
	    nm("%s: fed_record: one row, role, domains, key, not pinned", k));
	tf_fed(t, &fd);
	is_int(tf_refusal(t, &fd), 0, nm("%s: fed_refusal: nothing refused",
	    k));
	tf_get(t, got, sizeof(got), "SELECT count(*) FROM refused_claims", 0,
	    NULL);
	is_same(got, "0", nm("%s: fed_refusal: nothing recorded", k));
	free(ep);
	free(pem);
	X509_free(x);
}

/* fed_open() and fed_check_endpoint(): which element an element lets in. */
static void
run_open(struct tf *t)
{
	static const char text[] = "what an element sends";
	static const unsigned char junk[] = "not CMS at all";
	const struct {
		const char	*o_name;
		int		 o_from;
		int		 o_other;	/* by its other element */
		int		 o_to;		/* wrapped to; 0: this one */
		enum fed_status	 o_st;
		const char	*o_why;
	} cases[] = {
		{ "from c's element", C_C, 0, 0, FED_TAKEN, NULL },
		{ "signed by an element of the other kind", C_C, 1, 0,
		  FED_UNVERIFIED, "signer: introduction of a " },
		{ "from a hierarchy nobody trusts", C_Z, 0, 0, FED_UNVERIFIED,
		  "signer certificate does not chain to a trust anchor" },
		{ "wrapped to another element", C_C, 0, C_E, FED_BAD,
		  "cannot decrypt" },
		{ "not CMS", 0, 0, 0, FED_BAD, "not a CMS structure" },
	};
	struct elem *me;
	struct fed fd;
	struct intro *peer;
	X509 *signer;
	unsigned char *wrap, *out;
	size_t i, wlen, olen;
	enum fed_status st;
	char name[160], why[TN_ERRLEN], err[TN_ERRLEN];

	tf_self(t, C_A);
	tf_fed(t, &fd);
	me = el_of(C_A, t->t_kind);
	for (i = 0; i < NITEMS(cases); i++) {
		snprintf(name, sizeof(name), "%s: fed_open: %s", t->t_kname,
		    cases[i].o_name);
		wrap = NULL;
		wlen = 0;
		if (cases[i].o_from != C_NONE && cms_wrap_to((const unsigned
		    char *)text, strlen(text), &el_of(cases[i].o_from,
		    cases[i].o_other ? OTHER(t->t_kind) : t->t_kind)->el_id,
		    cases[i].o_to ? el_of(cases[i].o_to,
		    t->t_kind)->el_id.ci_cert : me->el_id.ci_cert, &wrap, &wlen,
		    err) == -1) {
			ok(0, "%s: %s", name, err);
			continue;
		}
		why[0] = '\0';
		out = (unsigned char *)1;
		peer = (struct intro *)1;
		signer = (X509 *)1;
		st = fed_open(&fd, wrap != NULL ? wrap : junk, wrap != NULL ?
		    wlen : sizeof(junk) - 1, &out, &olen, &peer, &signer, why);
		is_status(st, cases[i].o_st, nm("%s: %s", name,
		    st_name(cases[i].o_st)));
		if (cases[i].o_st == FED_TAKEN) {
			ok(out != NULL && olen == strlen(text) &&
			    memcmp(out, text, olen) == 0, "%s: the text", name);
			ok(peer != NULL && same(peer->in_courier,
			    "c.example") && same(peer->in_endpoint, el_of(C_C,
			    t->t_kind)->el_endpoint), "%s: the peer, checked",
			    name);
			ok(signer != NULL && X509_cmp(signer, el_of(C_C,
			    t->t_kind)->el_id.ci_cert) == 0, "%s: the signer",
			    name);
		} else {
			check_why(why, cases[i].o_why, name);
			ok(out == NULL && peer == NULL && signer == NULL,
			    "%s: nothing handed back", name);
		}
		if (st == FED_TAKEN) {
			OPENSSL_clear_free(out, olen);
			intro_free(peer);
			X509_free(signer);
		}
		free(wrap);
	}
}

/* fed_check_endpoint(): the certificate an element at a URL shows. */
static void
run_endpoint(struct tf *t)
{
	const struct elem *e = el_of(C_E, t->t_kind);
	const struct elem *eo = el_of(C_E, OTHER(t->t_kind));
	const struct elem *z = el_of(C_Z, t->t_kind);
	const char *k = t->t_kname;
	struct fed fd;
	char err[TN_ERRLEN];

	tf_self(t, C_A);
	tf_fed(t, &fd);
	is_int(fed_check_endpoint(&fd, e->el_id.ci_cert, e->el_id.ci_chain,
	    e->el_endpoint, err), 0, nm("%s: fed_check_endpoint: e's element "
	    "at its endpoint", k));
	err[0] = '\0';
	is_int(fed_check_endpoint(&fd, e->el_id.ci_cert, e->el_id.ci_chain,
	    el_of(C_C, t->t_kind)->el_endpoint, err), -1,
	    nm("%s: fed_check_endpoint: e's element at c's endpoint", k));
	check_why(err, nm("the certificate is for %s, not %s", e->el_endpoint,
	    el_of(C_C, t->t_kind)->el_endpoint), nm("%s: fed_check_endpoint: "
	    "at c's endpoint", k));
	err[0] = '\0';
	is_int(fed_check_endpoint(&fd, eo->el_id.ci_cert, eo->el_id.ci_chain,
	    eo->el_endpoint, err), -1, nm("%s: fed_check_endpoint: e's "
	    "element of the other kind", k));
	check_why(err, "introduction of a ", nm("%s: fed_check_endpoint: of "
	    "the other kind", k));
	err[0] = '\0';
	is_int(fed_check_endpoint(&fd, z->el_id.ci_cert, z->el_id.ci_chain,
	    z->el_endpoint, err), -1, nm("%s: fed_check_endpoint: z's "
	    "element, whose root nobody trusts", k));
	check_why(err, "untrusted introduction", nm("%s: fed_check_endpoint: "
	    "untrusted", k));
}

/* fed_take_reject(): an agent's invitation-reject. */
struct reject_case {
	const char	*rj_name;
	enum proto_kind	 rj_kind;
	const char	*rj_addr, *rj_reg, *rj_inv;
	int		 rj_fgcert;	/* the fg-cert part's courier, or 0 */
	int		 rj_bgcert;	/* it is that courier's BG element */
	const char	*rj_url;	/* Background-Url, or NULL */
	enum fed_status	 rj_st[2];	/* FG, BG */
	const char	*rj_why[2];
};

#define BGE	"https://bg.e.example/"

static const struct reject_case reject_cases[] = {
	{ "not an invitation-reject", PROTO_INTRODUCTION, NULL, NULL, NULL,
	  0, 0, NULL, { FED_BAD, FED_BAD }, WHY("not an invitation-reject") },
	{ "another address than the client's", PROTO_INVITATION_REJECT,
	  "eve@a.example", "a.example", "e.example", C_E, 0, BGE,
	  { FED_REFUSED, FED_REFUSED },
	  WHY("Address is not the client's address") },
	{ "registered at another courier", PROTO_INVITATION_REJECT,
	  "dave@a.example", "c.example", "e.example", C_E, 0, BGE,
	  { FED_REFUSED, FED_REFUSED },
	  WHY("Registered-Courier is not this courier") },
	{ "invited by this courier", PROTO_INVITATION_REJECT,
	  "dave@a.example", "a.example", "A.example", C_E, 0, BGE,
	  { FED_REFUSED, FED_REFUSED },
	  WHY("Inviting-Courier is this courier") },
	{ "neither an fg-cert part nor a Background-Url",
	  PROTO_INVITATION_REJECT, "dave@a.example", "a.example", "e.example",
	  0, 0, NULL, { FED_REFUSED, FED_REFUSED },
	  { "no fg-cert part: the inviting foreground is unknown",
	    "no https Background-Url" } },
	{ "a Background-Url that is not https", PROTO_INVITATION_REJECT,
	  "dave@a.example", "a.example", "e.example", C_E, 0,
	  "http://bg.e.example/", { FED_TAKEN, FED_REFUSED },
	  { NULL, "no https Background-Url" } },
	{ "this background's own Background-Url", PROTO_INVITATION_REJECT,
	  "dave@a.example", "a.example", "e.example", C_E, 0,
	  "https://bg.a.example/", { FED_TAKEN, FED_REFUSED },
	  { NULL, "Background-Url is this background" } },
	{ "an fg-cert of another courier than the Inviting-Courier",
	  PROTO_INVITATION_REJECT, "dave@a.example", "a.example", "e.example",
	  C_C, 0, BGE, { FED_UNVERIFIED, FED_TAKEN },
	  { "fg-cert is not of the Inviting-Courier", NULL } },
	{ "an fg-cert of a hierarchy nobody trusts",
	  PROTO_INVITATION_REJECT, "dave@a.example", "a.example", "z.example",
	  C_Z, 0, "https://bg.z.example/", { FED_UNVERIFIED, FED_TAKEN },
	  { "untrusted introduction", NULL } },
	{ "an fg-cert of a background element", PROTO_INVITATION_REJECT,
	  "dave@a.example", "a.example", "e.example", C_E, 1, BGE,
	  { FED_UNVERIFIED, FED_TAKEN },
	  { "introduction of a background, not a foreground", NULL } },
	{ "one to act on, whatever the case", PROTO_INVITATION_REJECT,
	  "Dave@a.example", "A.EXAMPLE", "e.example", C_E, 0, BGE,
	  { FED_TAKEN, FED_TAKEN }, { NULL, NULL } },
};

/* The invitation-reject of a case, as the agent makes it. */
static struct proto_msg *
msg_reject(struct tf *t, const struct reject_case *rc, const char *id)
{
	const struct elem *el;
	struct proto_msg *pm;
	char *cert = NULL, err[TN_ERRLEN] = "", date[32];
	size_t clen;
	int bad = 0;

	if ((pm = proto_msg_new(rc->rj_kind)) == NULL)
		abort();
	if (rc->rj_kind != PROTO_INVITATION_REJECT)
		return pm;
	if (proto_format_time(time(NULL), date, sizeof(date)) == -1)
		abort();
	bad = proto_set(pm, "Id", id, err) == -1 ||
	    proto_set(pm, "Date", date, err) == -1 ||
	    proto_set(pm, "Token", TOK1, err) == -1 ||
	    proto_set(pm, "Address", rc->rj_addr, err) == -1 ||
	    proto_set(pm, "Inviting-Courier", rc->rj_inv, err) == -1 ||
	    proto_set(pm, "Registered-Courier", rc->rj_reg, err) == -1 ||
	    (rc->rj_url != NULL && proto_set(pm, "Background-Url",
	    rc->rj_url, err) == -1);
	if (!bad && rc->rj_fgcert != C_NONE) {
		el = el_of(rc->rj_fgcert, rc->rj_bgcert ? PKI_KIND_BG :
		    PKI_KIND_FG);
		/* fed_self_pem(): the certificate, then its chain. */
		bad = pki_cert_pem(el->el_id.ci_cert, &cert, &clen,
		    err) == -1 || proto_attach(pm, "fg-cert", cert, clen,
		    err) == -1 || proto_attach(pm, "ca-chain",
		    el->el_pem + clen, strlen(el->el_pem + clen), err) == -1;
	}
	if (bad) {
		diag("%s: invitation-reject %s: %s", t->t_kname, id, err);
		proto_msg_free(pm);
		pm = NULL;
	}
	free(cert);
	return pm;
}

/* fed_take_reject(), as an element runs it. */
static enum fed_status
tf_reject(struct tf *t, const struct proto_msg *pm, const char *client,
    char *why)
{
	struct fed fd;
	char err[TN_ERRLEN];
	enum fed_status st;

	tf_clear(t);
	why[0] = err[0] = '\0';
	if (tf_enter(t) == -1)
		return FED_ERROR;
	tf_fed(t, &fd);
	st = fed_take_reject(&fd, pm, client, why, err);
	t->t_sent = fd.fd_sent;
	if (st == FED_ERROR)
		diag("%s: engine: %s", t->t_kname, err);
	if (tf_leave(t, st == FED_TAKEN) == -1)
		st = FED_ERROR;
	if (st == FED_REFUSED && tf_refusal(t, &fd) == -1)
		st = FED_ERROR;
	return st;
}

/*
 * What a reject taken queued: the foreground's introduction sealed to
 * the inviting foreground; the background's in clear to the
 * Background-Url (FED_UNSEALED), its sender seals it there.
 */
static void
check_reject_intro(struct tf *t, const struct reject_case *rc,
    const char *name)
{
	const struct call *ca = &t->t_calls[K_QUEUE][0];
	struct want_in wn;
	struct intro *in = NULL;
	struct proto_msg *pm = NULL;
	char err[TN_ERRLEN];

	memset(&wn, 0, sizeof(wn));
	wn.wn_to = rc->rj_fgcert;
	wn.wn_addrs[0] = rc->rj_addr;
	wn.wn_token = TOK1;
	if (t->t_kind == PKI_KIND_FG) {
		check_intro(t, 0, &wn, name);
		goto out;
	}
	if (!ok(t->t_n[K_QUEUE] > 0 && same(ca->ca_endpoint, rc->rj_url) &&
	    same(ca->ca_kind, FED_UNSEALED) && ca->ca_msgid == NULL,
	    "%s: queued for %s, %s, no Message-Id", name, rc->rj_url,
	    FED_UNSEALED))
		goto out;
	if (ok(intro_read(trust, (const char *)ca->ca_data, ca->ca_len,
	    t->t_kind, &in, &pm, err) == 0, "%s: an introduction in clear",
	    name))
		check_intro_fields(t, in, pm, &wn, name);
	else
		diag("%s", err);
out:
	ok(t->t_n[K_QUEUE] == 1 && t->t_sent == 1, "%s: one queued", name);
	intro_free(in);
	proto_msg_free(pm);
}

static void
run_reject(struct tf *t, const struct reject_case *rc, size_t i)
{
	enum fed_status want = rc->rj_st[KI(t->t_kind)];
	struct proto_msg *pm = NULL;
	char name[200], why[TN_ERRLEN], id[64], got[32];
	const char *p[1] = { id };

	snprintf(name, sizeof(name), "%s: fed_take_reject: %s", t->t_kname,
	    rc->rj_name);
	snprintf(id, sizeof(id), "rj%zu@dave.example", i);
	if (!ok(tf_reset(t, C_A) == 0 && (pm = msg_reject(t, rc, id)) != NULL,
	    "%s: set up", name))
		return;
	is_status(tf_reject(t, pm, "dave@a.example", why), want,
	    nm("%s: %s", name, st_name(want)));
	tf_get(t, got, sizeof(got), "SELECT count(*) FROM seen_messages WHERE "
	    "message_id = $1 AND kind = 'invitation-reject'", 1, p);
	is_same(got, want == FED_TAKEN ? "1" : "0", nm("%s: the Id %s", name,
	    want == FED_TAKEN ? "taken once" : "not taken"));
	if (want != FED_TAKEN) {
		check_why(why, rc->rj_why[KI(t->t_kind)], name);
		ok(t->t_n[K_QUEUE] == 0 && t->t_sent == 0, "%s: nothing "
		    "queued", name);
		if (want == FED_REFUSED)
			check_claim(t, NULL, 0, why, name);
		goto out;
	}
	check_reject_intro(t, rc, name);
	is_status(tf_reject(t, pm, "dave@a.example", why), FED_DUPLICATE,
	    nm("%s: again: a duplicate", name));
	ok(t->t_n[K_QUEUE] == 0 && t->t_sent == 0, "%s: again: nothing "
	    "queued", name);
out:
	proto_msg_free(pm);
}

/*
 * A route token end to end (doc/security.md, section 2): a message this
 * element originates for x@e.example (fed_send_own()) carries a fresh
 * Route-Token; e's introduction back echoes it as a Route-Proof, which
 * proves the address once.
 */
struct rt_step {
	const char	*rs_name;
	int		 rs_of;
	const char	*rs_addr;
	int		 rs_tok;	/* the token sent; else RT2 */
	enum fed_status	 rs_st;
	const char	*rs_route;	/* x@e.example's route after */
	const char	*rs_left;	/* route_tokens left */
};

static void
run_route_token(struct tf *t)
{
	static const struct row knows = KNOWS(C_E);
	static const struct rt_step steps[] = {
		{ "a Route-Proof with another token: refused", C_E,
		  "x@e.example", 0, FED_REFUSED, "(none)", "1" },
		{ "the token echoed for another address: refused", C_E,
		  "y@e.example", 1, FED_REFUSED, "(none)", "1" },
		{ "the token echoed: x@e.example learned, the token spent",
		  C_E, "x@e.example", 1, FED_TAKEN, "e.example|introduced",
		  "0" },
		{ "the token echoed again, by another courier: refused", C_C,
		  "x@e.example", 1, FED_REFUSED, "e.example|introduced", "0" },
	};
	static const char *const rcpts[] = { "x@e.example", NULL, NULL };
	const char *addrs[3] = { NULL, NULL, NULL }, *proofs[3] = { NULL };
	const char *p[1] = { "x@e.example" };
	struct intro_spec sp;
	struct want_ic wi;
	struct intro_ic *ic = NULL;
	struct fed fd;
	unsigned char *pay = NULL;
	size_t len, paylen, i;
	char used[ROUTE_IDLEN], err[TN_ERRLEN], name[160], why[TN_ERRLEN];
	char got[128], id[64], *text = NULL, *tok = NULL;
	int rc = -1;

	snprintf(name, sizeof(name), "%s: route token: fed_send_own",
	    t->t_kname);
	if (!ok(tf_reset(t, C_A) == 0 && tf_rows(t, &knows, 1) == 0 &&
	    msg_payload(t->t_kind, "mo1@a.example", "u@a.example", rcpts, 1, 0,
	    &pay, &paylen, err) == 0 && tf_enter(t) == 0, "%s: set up", name))
		goto out;
	tf_clear(t);
	tf_fed(t, &fd);
	used[0] = '\0';
	if ((rc = fed_send_own(&fd, "e.example", "mo1@a.example",
	    "u@a.example", "x@e.example", pay, paylen, used, err)) != 0)
		diag("%s", err);
	t->t_sent = fd.fd_sent;
	tf_leave(t, rc == 0);
	is_int(rc, 0, nm("%s: queued", name));
	is_same(used, "e.example", nm("%s: for e", name));
	memset(&wi, 0, sizeof(wi));
	wi.wi_to = C_E;
	wi.wi_hops = 1;
	wi.wi_origin = C_A;
	wi.wi_rcpt = "x@e.example";
	wi.wi_msgid = "mo1@a.example";
	wi.wi_sender = "u@a.example";
	wi.wi_pay = pay;
	wi.wi_paylen = paylen;
	wi.wi_fresh = 1;
	check_ic(t, 0, &wi, name);
	/* What e reads in it. */
	if ((text = tf_open(t, 0, C_E, &len)) == NULL || intro_ic_read(trust,
	    text, len, &ic, NULL, err) == -1 || ic->ic_token == NULL) {
		ok(0, "%s: the Route-Token e reads", name);
		goto out;
	}
	tok = xstrdup(ic->ic_token);
	for (i = 0; i < NITEMS(steps); i++) {
		snprintf(name, sizeof(name), "%s: route token: %s", t->t_kname,
		    steps[i].rs_name);
		snprintf(id, sizeof(id), "rt%zu@%s", i,
		    couriers[steps[i].rs_of].cp_name);
		addrs[0] = steps[i].rs_addr;
		proofs[0] = steps[i].rs_tok ? tok : RT2;
		memset(&sp, 0, sizeof(sp));
		sp.sp_of = steps[i].rs_of;
		sp.sp_id = id;
		sp.sp_addrs = addrs;
		sp.sp_proofs = proofs;
		free(text);
		if (msg_intro(t, &sp, &text, &len) == -1) {
			ok(0, "%s: introduction", name);
			text = NULL;
			continue;
		}
		is_status(tf_take(t, 1, steps[i].rs_of, text, len, why),
		    steps[i].rs_st, nm("%s: %s", name,
		    st_name(steps[i].rs_st)));
		if (steps[i].rs_st == FED_REFUSED)
			check_why(why, nm("Address %s comes with no proof",
			    steps[i].rs_addr), name);
		tf_get(t, got, sizeof(got), "SELECT courier || '|' || reason "
		    "FROM address_routes WHERE address = $1", 1, p);
		is_same(got, steps[i].rs_route, nm("%s: route of x@e.example",
		    name));
		tf_get(t, got, sizeof(got), "SELECT count(*) FROM "
		    "route_tokens", 0, NULL);
		is_same(got, steps[i].rs_left, nm("%s: %s route token left",
		    name, steps[i].rs_left));
	}
out:
	intro_ic_free(ic);
	free(text);
	free(tok);
	free(pay);
}

/* An invitation's Token is taken once by this element (seen_messages). */
static void
run_token_once(struct tf *t)
{
	static const struct row tok = TOKEN(TOK1, "dave@f.example", "1 day");
	static const char *const dave[] = { "dave@f.example", NULL, NULL };
	static const struct {
		int		 tk_of;
		enum fed_status	 tk_st;
	} steps[] = {
		{ C_E, FED_TAKEN }, { C_C, FED_REFUSED }, { C_E, FED_REFUSED },
	};
	const char *p[1] = { "dave@f.example" };
	struct intro_spec sp;
	char name[160], why[TN_ERRLEN], id[64], got[128], *text = NULL;
	size_t i, len;

	if (!ok(tf_reset(t, C_A) == 0 && tf_rows(t, &tok, 1) == 0,
	    "%s: a token taken once: set up", t->t_kname))
		return;
	for (i = 0; i < NITEMS(steps); i++) {
		snprintf(name, sizeof(name), "%s: a token taken once: %s, by "
		    "%s", t->t_kname, i == 0 ? "the first time" : "again",
		    couriers[steps[i].tk_of].cp_name);
		snprintf(id, sizeof(id), "tk%zu@%s", i,
		    couriers[steps[i].tk_of].cp_name);
		memset(&sp, 0, sizeof(sp));
		sp.sp_of = steps[i].tk_of;
		sp.sp_id = id;
		sp.sp_addrs = dave;
		sp.sp_token = TOK1;
		if (msg_intro(t, &sp, &text, &len) == -1) {
			ok(0, "%s: introduction", name);
			continue;
		}
		is_status(tf_take(t, 1, steps[i].tk_of, text, len, why),
		    steps[i].tk_st, nm("%s: %s", name,
		    st_name(steps[i].tk_st)));
		if (steps[i].tk_st != FED_TAKEN)
			check_why(why, "the token was taken already", name);
		tf_get(t, got, sizeof(got), "SELECT courier || '|' || reason "
		    "FROM address_routes WHERE address = $1", 1, p);
		is_same(got, "e.example|rejected", nm("%s: the route of "
		    "dave@f.example", name));
		tf_get(t, got, sizeof(got), "SELECT count(*) FROM "
		    "seen_messages WHERE kind = 'invitation-token' AND "
		    "message_id = encode(sha256(convert_to('" TOK1 "', "
		    "'UTF8')), 'hex')", 0, NULL);
		is_same(got, "1", nm("%s: seen_messages holds the token's "
		    "hash once", name));
		free(text);
		text = NULL;
	}
}

/* A claim refused twice: recorded once, counted, noted the first time. */
static void
run_refused_twice(struct tf *t)
{
	static const char *const newx[] = { "newx@c.example", NULL, NULL };
	static const char *const newy[] = { "newy@c.example", NULL, NULL };
	struct intro_spec sp = { .sp_of = C_C, .sp_addrs = newx };
	const struct intro *c = el_of(C_C, t->t_kind)->el_in;
	const char *ids[] = { "rc1@c.example", "rc2@c.example",
	    "rc3@c.example" };
	char name[160], why[TN_ERRLEN], got[512], *text = NULL;
	size_t i, len;
	int noted[3] = { 0, 0, 0 };

	snprintf(name, sizeof(name), "%s: a claim refused twice",
	    t->t_kname);
	if (!ok(tf_reset(t, C_A) == 0, "%s: set up", name))
		return;
	for (i = 0; i < 3; i++) {
		sp.sp_id = ids[i];
		sp.sp_addrs = i < 2 ? newx : newy;
		if (msg_intro(t, &sp, &text, &len) == -1 || tf_take(t, 1, C_C,
		    text, len, why) != FED_REFUSED)
			diag("%s: %s: not refused: %s", name, ids[i], why);
		noted[i] = tf_note_of(t, FED_EV_REFUSED, NULL) != NULL;
		free(text);
		text = NULL;
	}
	ok(noted[0] && !noted[1] && noted[2], "%s: noted the first time of "
	    "each claim only", name);
	tf_get(t, got, sizeof(got), "SELECT string_agg(courier || '|' || "
	    "courier_key || '|' || claim || '|' || times || '|' || (last_at "
	    ">= first_at), ', ' ORDER BY claim) FROM refused_claims", 0, NULL);
	is_same(got, nm("c.example|%s|Address newx@c.example|2|true, "
	    "c.example|%s|Address newy@c.example|1|true", c->in_key,
	    c->in_key), nm("%s: one row a claim, counted", name));
}

static void
run_all(struct tf *t)
{
	size_t i;

	run_basics(t);
	run_open(t);
	run_endpoint(t);
	for (i = 0; i < NITEMS(reject_cases); i++)
		run_reject(t, &reject_cases[i], i);
	for (i = 0; i < NITEMS(ic_refusals); i++)
		if (!ic_refusals[i].c_bg_only || t->t_kind == PKI_KIND_BG)
			run_ic(t, &ic_refusals[i]);
	for (i = 0; i < NITEMS(ic_decisions); i++)
		run_ic(t, &ic_decisions[i]);
	run_duplicate(t);
	run_replay(t);
	run_peer_case(t);
	for (i = 0; i < NITEMS(intro_cases); i++)
		run_intro(t, &intro_cases[i], i);
	run_intro_duplicate(t);
	run_route_token(t);
	run_token_once(t);
	run_refused_twice(t);
	for (i = 0; i < NITEMS(send_cases); i++)
		run_send(t, &send_cases[i], i);
	for (i = 0; i < NITEMS(introduce_cases); i++)
		run_introduce(t, &introduce_cases[i]);
	run_release(t);
	if (t->t_kind == PKI_KIND_BG)	/* only it opens what it held */
		run_release_kept(t);
	run_release_edges(t);
	tf_clear(t);
	ok(!t->t_overflow, "%s: the recorder kept every call", t->t_kname);
}

static struct tf tfs[2];

/* The hands of each element, as milter/fgfed.c and policy/bgfed.c. */
static int
tf_init(struct tf *t, enum pki_kind k, const char *conninfo)
{
	static const struct fed_ops ops = {
		.fo_queue = tf_queue,
		.fo_deliver = tf_deliver,
		.fo_hold = tf_hold,
		.fo_notice = tf_notice,
		.fo_check = tf_check,
		.fo_check_free = tf_check_free,
		.fo_open_held = tf_open_held,
		.fo_released = tf_released,
		.fo_note = tf_note,
	};

	t->t_kind = k;
	t->t_kname = k == PKI_KIND_FG ? "fg" : "bg";
	t->t_ops = ops;
	if (k == PKI_KIND_FG) {
		/* No check of its own; the payload is held as received. */
		t->t_ops.fo_check = NULL;
		t->t_ops.fo_check_free = NULL;
		t->t_ops.fo_open_held = NULL;
	} else
		t->t_ops.fo_released = NULL;	/* no invitation to withdraw */
	t->t_db = PQconnectdb(conninfo);
	if (PQstatus(t->t_db) != CONNECTION_OK) {
		diag("%s: %s", t->t_kname, PQerrorMessage(t->t_db));
		return -1;
	}
	/* Far from UTC: what the engine writes must not depend on it. */
	return tf_sql(t, "SET TIME ZONE 'Pacific/Chatham'", 0, NULL);
}

int
main(int argc, char **argv)
{
	const char *db[2], *pki;
	char err[TN_ERRLEN];
	int i;

	db[0] = argc == 4 ? argv[1] : getenv("TANDEM_FED_FG");
	db[1] = argc == 4 ? argv[2] : getenv("TANDEM_FED_BG");
	pki = argc == 4 ? argv[3] : getenv("TANDEM_FED_PKI");
	if (db[0] == NULL || db[1] == NULL || pki == NULL) {
		printf("1..0 # SKIP needs an FG and a BG database and a PKI "
		    "folder: t/0330-fed-engine.sh runs it\n");
		return 77;
	}
	if (ok(pki_load(pki, err) == 0, "the PKI in the folder given")) {
		for (i = 0; i < 2; i++)
			if (ok(tf_init(&tfs[i], i == 0 ? PKI_KIND_FG :
			    PKI_KIND_BG, db[i]) == 0, "%s: the database",
			    i == 0 ? "fg" : "bg"))
				run_all(&tfs[i]);
	} else
		diag("%s", err);
	for (i = 0; i < 2; i++)
		PQfinish(tfs[i].t_db);
	pki_free();
	proto_shutdown();
	return tap_done();
}
