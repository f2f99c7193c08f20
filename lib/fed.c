/*
 * NAME
 *	fed.c - the federation engine, for both elements
 * DESCRIPTION
 *	See fed.h and doc/federation.md. Every statement goes through
 *	db.c; the caller owns the transaction. Nothing here logs: what
 *	was decided goes to the element through fo_note.
 */
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db.h"
#include "fed.h"
#include "intro.h"
#include "proto.h"
#include "route.h"
#include "tandem.h"
#include "util.h"

/* One inter-courier message being taken. */
struct fed_in {
	const struct intro	*fi_peer;	/* the signer */
	struct intro_ic		*fi_ic;
	struct intro		*fi_origin;
	void			*fi_extra;	/* fo_check's */
	enum route_source	 fi_src;
	const char		*fi_done[TN_MAX_RCPTS];	/* delivered, held */
	const char		*fi_proofs[TN_MAX_RCPTS];	/* their tokens */
	size_t			 fi_ndone;
};

static const char *
fed_element(const struct fed *fd)
{
	return fd->fd_kind == PKI_KIND_FG ? "fg" : "bg";
}

static void
fed_note(struct fed *fd, enum fed_event ev, const struct fed_item *it,
    const char *courier, const char *text)
{
	struct fed_note fn;

	memset(&fn, 0, sizeof(fn));
	fn.fn_event = ev;
	fn.fn_item = it;
	fn.fn_courier = courier;
	fn.fn_text = text;
	fd->fd_ops->fo_note(fd, &fn);
}

void
fed_init(struct fed *fd, enum pki_kind kind, const struct conf *cf,
    const struct cms_id *id, const struct pki_trust *tr, const char *self_pem,
    PGconn *db, const struct fed_ops *ops, void *arg)
{
	memset(fd, 0, sizeof(*fd));
	fd->fd_kind = kind;
	fd->fd_conf = cf;
	fd->fd_endpoint = kind == PKI_KIND_FG ? cf->cf_service_mailbox :
	    cf->cf_url;
	fd->fd_id = id;
	fd->fd_trust = tr;
	fd->fd_self_pem = self_pem;
	fd->fd_db = db;
	fd->fd_ops = ops;
	fd->fd_arg = arg;
}

int
fed_self_pem(const struct cms_id *id, char **out, char *err)
{
	char *pem = NULL, *all = NULL, *tmp;
	size_t len, total = 0;
	int i;

	*out = NULL;
	for (i = -1; i < sk_X509_num(id->ci_chain); i++) {
		if (pki_cert_pem(i == -1 ? id->ci_cert :
		    sk_X509_value(id->ci_chain, i), &pem, &len, err) == -1)
			goto fail;
		if ((tmp = realloc(all, total + len + 1)) == NULL) {
			tn_err(err, "out of memory");
			goto fail;
		}
		all = tmp;
		memcpy(all + total, pem, len + 1);
		total += len;
		free(pem);
		pem = NULL;
	}
	*out = all;
	return 0;
fail:
	free(pem);
	free(all);
	return -1;
}

/* route_decide() tables over this element's database. */
static int
fed_rt_local(void *ctx, const char *address, char *err)
{
	struct fed *fd = ctx;
	const char *p[1] = { address };

	return db_one(fd->fd_db, "SELECT 1 FROM accounts WHERE address = "
	    "lower($1) AND status = 'active'", 1, p, NULL, 0, err);
}

static int
fed_rt_closed(void *ctx, const char *address, char *err)
{
	struct fed *fd = ctx;
	const char *p[1] = { address };

	return db_one(fd->fd_db, "SELECT 1 FROM accounts WHERE address = "
	    "lower($1) AND status = 'closed'", 1, p, NULL, 0, err);
}

static int
fed_rt_transferred(void *ctx, const char *address, char *courier, char *err)
{
	struct fed *fd = ctx;
	const char *p[1] = { address };

	return db_one(fd->fd_db, "SELECT courier FROM address_routes WHERE "
	    "address = lower($1) AND reason = 'transferred' UNION ALL "
	    "SELECT redirect_to FROM accounts WHERE address = lower($1) AND "
	    "status = 'transferred' AND redirect_to IS NOT NULL", 1, p,
	    courier, ROUTE_IDLEN, err);
}

static int
fed_rt_learned(void *ctx, const char *address, char *courier, char *err)
{
	struct fed *fd = ctx;
	const char *p[1] = { address };

	return db_one(fd->fd_db, "SELECT courier FROM address_routes WHERE "
	    "address = lower($1) AND reason IN ('rejected', 'introduced')", 1,
	    p, courier, ROUTE_IDLEN, err);
}

static int
fed_rt_domain(void *ctx, const char *domain, char *courier, char *err)
{
	struct fed *fd = ctx;
	const char *p[2] = { domain, fed_element(fd) };

	return db_one(fd->fd_db, "SELECT courier FROM introductions WHERE "
	    "element = $2 AND $1 = ANY (domains) ORDER BY courier LIMIT 1", 2,
	    p, courier, ROUTE_IDLEN, err);
}

void
fed_tables(struct fed *fd, struct route_tables *rt)
{
	memset(rt, 0, sizeof(*rt));
	rt->rt_ctx = fd;
	rt->rt_local = fed_rt_local;
	rt->rt_transferred = fed_rt_transferred;
	rt->rt_learned = fed_rt_learned;
	rt->rt_domain = fed_rt_domain;
	rt->rt_closed = fed_rt_closed;
}

void
fed_courier(const struct fed *fd, struct route_courier *self)
{
	const struct conf *cf = fd->fd_conf;

	memset(self, 0, sizeof(*self));
	self->rc_role = cf->cf_role;
	self->rc_domains = (const char *const *)cf->cf_domains;
	self->rc_ndomains = cf->cf_ndomains;
	self->rc_superior_gateway = cf->cf_superior_gateway;
	self->rc_superior = cf->cf_superior;
}

int
fed_route(struct fed *fd, const char *rcpt, enum route_source src,
    const char *from, struct route_decision *rd, char *err)
{
	struct route_courier self;
	struct route_tables rt;

	fed_courier(fd, &self);
	fed_tables(fd, &rt);
	return route_decide(&self, &rt, rcpt, src, from, rd, err);
}

int
fed_below(const struct fed *fd, const char *pem, int direct)
{
	return intro_below(fd->fd_id->ci_cert, fd->fd_id->ci_chain, pem,
	    direct);
}

int
fed_peer(struct fed *fd, const char *courier, const char *ca,
    char **endpoint, X509 **cert, char **pem, char *err)
{
	const char *p[3] = { courier, fed_element(fd), ca };
	PGresult *r = NULL;
	int rc = -1;

	*endpoint = NULL;
	*cert = NULL;
	if (pem != NULL)
		*pem = NULL;
	if (db_exec(fd->fd_db, "SELECT endpoint, certificate FROM "
	    "introductions WHERE lower(courier) = lower($1) AND element = $2 "
	    "AND ($3::text IS NULL OR courier_key = $3) ORDER BY courier = $1 "
	    "DESC LIMIT 1", 3, p, NULL, &r, err) == -1)
		return -1;
	if (PQntuples(r) != 1) {
		rc = 0;
		goto out;
	}
	if ((*cert = pki_parse_cert(PQgetvalue(r, 0, 1),
	    (size_t)PQgetlength(r, 0, 1), err)) == NULL)
		goto out;
	if ((*endpoint = strdup(PQgetvalue(r, 0, 0))) == NULL ||
	    (pem != NULL && (*pem = strdup(PQgetvalue(r, 0, 1))) == NULL)) {
		tn_err(err, "out of memory");
		free(*endpoint);
		*endpoint = NULL;
		X509_free(*cert);
		*cert = NULL;
		goto out;
	}
	rc = 1;
out:
	PQclear(r);
	return rc;
}

/* A gateway's direct subordinates' CA certificates, from introductions. */
static int
fed_subs(struct fed *fd, STACK_OF(X509) **subs, char *err)
{
	const char *p[1] = { fed_element(fd) };
	PGresult *r = NULL;
	int i, rc = -1;

	if ((*subs = sk_X509_new_null()) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (db_exec(fd->fd_db, "SELECT certificate FROM introductions WHERE "
	    "element = $1 ORDER BY courier", 1, p, NULL, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++)
		if (intro_sub_add(fd->fd_id->ci_cert, fd->fd_id->ci_chain,
		    PQgetvalue(r, i, 0), *subs) == -1) {
			tn_err(err, "out of memory");
			goto out;
		}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int
fed_seen(struct fed *fd, const char *id, const char *kind, char *err)
{
	const char *p[2] = { id, kind };

	return db_one(fd->fd_db, "INSERT INTO seen_messages (message_id, "
	    "kind) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1", 2, p,
	    NULL, 0, err);
}

int
fed_fresh(const struct fed *fd, const char *date, const char *what,
    char *why)
{
	const struct conf *cf = fd->fd_conf;
	time_t t, now = time(NULL);

	if (date == NULL || proto_parse_time(date, &t) == -1) {
		tn_err(why, "%s: no date", what);
		return -1;
	}
	if (t < now - cf->cf_replay_window) {
		tn_err(why, "%s %s is older than the replay window", what, date);
		return -1;
	}
	if (t > now + cf->cf_clock_skew) {
		tn_err(why, "%s %s is in the future", what, date);
		return -1;
	}
	return 0;
}

int
fed_purge(struct fed *fd, long *n, char *err)
{
	char secs[32], hold[32];
	const char *p[2] = { secs, hold };
	PGresult *r = NULL;

	*n = 0;
	snprintf(secs, sizeof(secs), "%ld", fd->fd_conf->cf_replay_window +
	    fd->fd_conf->cf_clock_skew);
	snprintf(hold, sizeof(hold), "%ld", fd->fd_conf->cf_hold_limit);
	/* A taken invitation token stays as long as its invitation. */
	if (db_exec(fd->fd_db, "DELETE FROM seen_messages WHERE seen_at < "
	    "now() - make_interval(secs => $1::bigint) AND (kind <> "
	    "'invitation-token' OR seen_at < now() - make_interval(secs => "
	    "$2::bigint))", 2, p, NULL, &r, err) == -1)
		return -1;
	*n = atol(PQcmdTuples(r));
	PQclear(r);
	return 0;
}

/*
 * Is name (a domain, or an address's) one of this courier's own
 * domains? Exactly: a subdomain may be a subordinate's.
 */
int
fed_serves(const struct fed *fd, const char *name)
{
	const struct conf *cf = fd->fd_conf;
	const char *at = strrchr(name, '@');
	size_t i;

	name = at != NULL ? at + 1 : name;
	for (i = 0; i < cf->cf_ndomains; i++)
		if (strcasecmp(name, cf->cf_domains[i]) == 0)
			return 1;
	return 0;
}

/* A claim of in refused: 1, with what fed_refusal() records. */
static int
fed_refuse(struct fed *fd, const struct intro *in, const char *claim,
    const char *fmt, ...)
{
	va_list ap;

	snprintf(fd->fd_claim_courier, sizeof(fd->fd_claim_courier), "%s",
	    in->in_courier);
	snprintf(fd->fd_claim_key, sizeof(fd->fd_claim_key), "%s",
	    in->in_key);
	snprintf(fd->fd_claim, sizeof(fd->fd_claim), "%s", claim);
	va_start(ap, fmt);
	vsnprintf(fd->fd_claim_why, sizeof(fd->fd_claim_why), fmt, ap);
	va_end(ap);
	return 1;
}

/*
 * Is the courier of in the one this element knows by that name (the
 * same CA key)? 0, 1 refused, -1. *pinned: the operator recorded it.
 */
static int
fed_known(struct fed *fd, const struct intro *in, int *pinned, char *err)
{
	const char *p[2] = { in->in_courier, fed_element(fd) };
	char own[PKI_KEYIDLEN + 1];
	PGresult *r = NULL;
	X509 *ca;
	int rc = 0;

	*pinned = 0;
	if (strcasecmp(in->in_courier, fd->fd_conf->cf_name) == 0)
		return (ca = pki_courier_ca(fd->fd_id->ci_cert,
		    fd->fd_id->ci_chain)) != NULL && pki_key_id(ca, own) == 0 &&
		    strcmp(own, in->in_key) == 0 ? 0 : fed_refuse(fd, in,
		    "courier", "courier %s presents another key than the one "
		    "known", in->in_courier);
	if (db_exec(fd->fd_db, "SELECT courier_key, pinned FROM introductions "
	    "WHERE courier = $1 AND element = $2", 2, p, NULL, &r, err) == -1)
		return -1;
	if (PQntuples(r) == 1) {
		*pinned = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
		if (!PQgetisnull(r, 0, 0) &&
		    strcmp(PQgetvalue(r, 0, 0), in->in_key) != 0)
			rc = fed_refuse(fd, in, "courier", "courier %s presents "
			    "another key than the one known", in->in_courier);
	}
	PQclear(r);
	return rc;
}

/* Is a domain of in served by this courier or another known one? */
static int
fed_domains_free(struct fed *fd, const struct intro *in, char *err)
{
	const char *p[3];
	char other[ROUTE_IDLEN], claim[TN_MAX_ADDRESS + 16];
	size_t i;
	int found;

	for (i = 0; i < in->in_ndomains; i++) {
		snprintf(claim, sizeof(claim), "Domain %s", in->in_domains[i]);
		if (fed_serves(fd, in->in_domains[i]))
			return fed_refuse(fd, in, claim, "Domain %s is served "
			    "by this courier", in->in_domains[i]);
		p[0] = in->in_domains[i];
		p[1] = fed_element(fd);
		p[2] = in->in_courier;
		if ((found = db_one(fd->fd_db, "SELECT courier FROM "
		    "introductions WHERE element = $2 AND $1 = ANY (domains) "
		    "AND courier <> $3 ORDER BY pinned DESC, learned_at LIMIT 1",
		    3, p, other, sizeof(other), err)) != 0)
			return found == 1 ? fed_refuse(fd, in, claim, "Domain "
			    "%s is already served by %s", in->in_domains[i],
			    other) : -1;
	}
	return 0;
}

int
fed_record(struct fed *fd, const struct intro *in, char *err)
{
	const char *p[7];
	char *domains = NULL;
	int pinned, rc;

	if ((rc = fed_known(fd, in, &pinned, err)) != 0 ||
	    (rc = fed_domains_free(fd, in, err)) != 0 || pinned)
		return rc;
	if (intro_domains_text(in, &domains, err) == -1)
		return -1;
	p[0] = in->in_courier;
	p[1] = in->in_endpoint;
	p[2] = in->in_pem;
	p[3] = domains;
	p[4] = pki_role_name(in->in_role);
	p[5] = fed_element(fd);
	p[6] = in->in_key;
	rc = db_run(fd->fd_db, "INSERT INTO introductions (courier, element, "
	    "endpoint, certificate, domains, role, courier_key) VALUES ($1, "
	    "$6, $2, $3, coalesce(string_to_array(nullif($4, ''), ' '), "
	    "'{}'), $5, $7) ON CONFLICT (courier, element) DO UPDATE SET "
	    "endpoint = $2, certificate = $3, domains = "
	    "coalesce(string_to_array(nullif($4, ''), ' '), '{}'), role = $5, "
	    "courier_key = $7, learned_at = now() WHERE NOT "
	    "introductions.pinned", 7, p, err);
	free(domains);
	return rc;
}

int
fed_refusal(struct fed *fd, char *err)
{
	const char *p[4] = { fd->fd_claim_courier, fd->fd_claim_key,
	    fd->fd_claim, fd->fd_claim_why };
	struct fed_note fn;
	char first[8];

	if (fd->fd_claim[0] == '\0')
		return 0;
	if (db_one(fd->fd_db, "INSERT INTO refused_claims (courier, "
	    "courier_key, claim, reason) VALUES ($1, $2, $3, $4) ON CONFLICT "
	    "(courier_key, claim) DO UPDATE SET times = refused_claims.times "
	    "+ 1, last_at = now(), reason = $4 RETURNING xmax = 0", 4, p,
	    first, sizeof(first), err) == -1)
		return -1;
	memset(&fn, 0, sizeof(fn));
	fn.fn_event = FED_EV_REFUSED;
	fn.fn_courier = fd->fd_claim_courier;
	fn.fn_text = fd->fd_claim;
	fn.fn_endpoint = fd->fd_claim_why;
	if (strcmp(first, "t") == 0)
		fd->fd_ops->fo_note(fd, &fn);
	fd->fd_claim[0] = '\0';
	return 0;
}

/* text wrapped by this element to cert, handed to the transport. */
static int
fed_queue(struct fed *fd, X509 *cert, const char *endpoint,
    const char *kind, const struct fed_item *it, const char *text,
    size_t len, char *err)
{
	unsigned char *wrap = NULL;
	size_t wlen;
	int rc = -1;

	if (cms_wrap_to((const unsigned char *)text, len, fd->fd_id, cert,
	    &wrap, &wlen, err) == 0 && fd->fd_ops->fo_queue(fd, endpoint, kind,
	    it, wrap, wlen, err) == 0) {
		fd->fd_sent++;
		rc = 0;
	}
	free(wrap);
	return rc;
}

/*
 * The origin of an item sent to the element of pem: this element for
 * its own users' items, and at a gateway for an item that leaves or
 * enters its segment (origin and target on different sides); else the
 * origin given. Leaving its segment, a gateway adds its subordinates'
 * CA certificates to its chain (doc/federation.md, section 6); *alloc
 * then holds that text. 1 when this element is the origin, 0, -1.
 */
static int
fed_origin(struct fed *fd, const struct fed_item *it, const char *pem,
    struct intro_ic *ic, char **alloc, char *err)
{
	STACK_OF(X509) *subs = NULL;
	int gw = fd->fd_conf->cf_role == PKI_ROLE_GATEWAY, rc;

	*alloc = NULL;
	ic->ic_origin = (char *)it->it_origin;
	ic->ic_origin_pem = (char *)it->it_origin_pem;
	if (it->it_origin != NULL && (!gw ||
	    fed_below(fd, it->it_origin_pem, 0) == fed_below(fd, pem, 0)))
		return 0;
	ic->ic_origin = fd->fd_conf->cf_name;
	ic->ic_origin_pem = (char *)fd->fd_self_pem;
	if (!gw || fed_below(fd, pem, 0))
		return 1;
	rc = fed_subs(fd, &subs, err) == -1 ||
	    intro_pem_with(fd->fd_self_pem, subs, alloc, err) == -1 ? -1 : 1;
	sk_X509_pop_free(subs, X509_free);
	ic->ic_origin_pem = *alloc;
	return rc;
}

/* The courier's introduction, or else the superior's; 1 if neither. */
static int
fed_target(struct fed *fd, const char *courier, char *used,
    char **endpoint, X509 **cert, char **pem, char *err)
{
	const char *sup = fd->fd_conf->cf_superior;
	int found;

	snprintf(used, ROUTE_IDLEN, "%s", courier);
	if ((found = fed_peer(fd, courier, NULL, endpoint, cert, pem,
	    err)) != 0)
		return found == 1 ? 0 : -1;
	if (sup != NULL && sup[0] != '\0' && strcasecmp(sup, courier) != 0) {
		snprintf(used, ROUTE_IDLEN, "%s", sup);
		if ((found = fed_peer(fd, sup, NULL, endpoint, cert, pem,
		    err)) != 0)
			return found == 1 ? 0 : -1;
	}
	tn_err(err, "no introduction of %s nor of the superior", courier);
	return 1;
}

/* A fresh route token for address, kept (its hash) in route_tokens. */
static int
fed_route_token(struct fed *fd, const char *address, char *tok,
    size_t size, char *err)
{
	unsigned char hash[32];
	char secs[32];
	const char *p[3] = { (const char *)hash, address, secs };
	int lens[3] = { sizeof(hash), 0, 0 };

	if (util_token(tok, size, hash) == -1) {
		tn_err(err, "cannot make a route token");
		return -1;
	}
	snprintf(secs, sizeof(secs), "%ld", fd->fd_conf->cf_hold_limit);
	return db_exec(fd->fd_db, "INSERT INTO route_tokens (token_hash, "
	    "address, expires_at) VALUES ($1, lower($2), now() + "
	    "make_interval(secs => $3::bigint))", 3, p, lens, NULL, err);
}

int
fed_send(struct fed *fd, const char *courier, const char *avoid,
    const struct fed_item *it, char *used, char *err)
{
	struct intro_ic ic;
	X509 *cert = NULL;
	char tok[48], now[32];
	char *endpoint = NULL, *pem = NULL, *origin = NULL, *text = NULL;
	char *rcpt = (char *)it->it_rcpt, *sig = NULL;
	size_t len;
	int self, rc = -1;

	if ((rc = fed_target(fd, courier, used, &endpoint, &cert, &pem,
	    err)) != 0)
		goto out;
	if (avoid != NULL && strcasecmp(used, avoid) == 0) {
		tn_err(err, "routing loop: the route leads back to the sender");
		rc = 1;
		goto out;
	}
	rc = -1;
	memset(&ic, 0, sizeof(ic));
	ic.ic_from = (char *)fd->fd_endpoint;
	ic.ic_to = endpoint;
	ic.ic_msgid = (char *)it->it_msgid;
	ic.ic_sender = (char *)it->it_sender;
	ic.ic_rcpts = &rcpt;
	ic.ic_nrcpts = 1;
	ic.ic_hops = it->it_hops;
	ic.ic_kind = fd->fd_kind;
	ic.ic_payload = (unsigned char *)it->it_payload;
	ic.ic_paylen = it->it_paylen;
	if ((self = fed_origin(fd, it, pem, &ic, &origin, err)) == -1)
		goto out;
	/*
	 * A gateway would sign a relayed revoke or receipt as its own at
	 * its segment's border, vouching for what it cannot check.
	 */
	if (self && it->it_origin != NULL && it->it_pay != INTRO_PAY_ITEM) {
		tn_err(err, "a revoke or a receipt does not cross a gateway's "
		    "border");
		rc = 1;
		goto out;
	}
	/* Who becomes the origin asks for the introduction back. */
	ic.ic_token = (char *)it->it_token;
	ic.ic_origin_date = (char *)it->it_origin_date;
	ic.ic_origin_sig = (char *)it->it_origin_sig;
	ic.ic_pay = it->it_pay;
	if (self) {
		/* A revoke or a receipt asks for no introduction back. */
		if (it->it_pay == INTRO_PAY_ITEM && fed_route_token(fd,
		    it->it_rcpt, tok, sizeof(tok), err) == -1)
			goto out;
		ic.ic_token = it->it_pay == INTRO_PAY_ITEM ? tok : NULL;
		/* ... and signs what it asserts (doc/security.md). */
		if (proto_format_time(time(NULL), now, sizeof(now)) == -1) {
			tn_err(err, "cannot format the time");
			goto out;
		}
		ic.ic_origin_date = now;
		if (intro_ic_sign(&ic, fd->fd_id->ci_key, &sig, err) == -1)
			goto out;
		ic.ic_origin_sig = sig;
	}
	if (intro_ic_make(&ic, &text, &len, err) == -1 ||
	    fed_queue(fd, cert, endpoint, "inter-courier", it, text,
	    len, err) == -1)
		goto out;
	rc = self && it->it_origin != NULL ? 2 : 0;
out:
	X509_free(cert);
	free(endpoint);
	free(pem);
	free(origin);
	free(text);
	free(sig);
	return rc;
}

int
fed_send_own(struct fed *fd, const char *courier, const char *msgid,
    const char *sender, const char *rcpt, const unsigned char *payload,
    size_t paylen, char *used, char *err)
{
	struct fed_item it;

	memset(&it, 0, sizeof(it));
	it.it_msgid = msgid;
	it.it_sender = sender;
	it.it_rcpt = rcpt;
	it.it_hops = 1;
	it.it_payload = payload;
	it.it_paylen = paylen;
	return fed_send(fd, courier, NULL, &it, used, err);
}

int
fed_introduce(struct fed *fd, const struct intro *to,
    const char *const *addrs, const char *const *proofs, size_t naddrs,
    const char *token, char *err)
{
	struct intro_req rq;
	struct fed_note fn;
	X509 *cert = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	memset(&rq, 0, sizeof(rq));
	rq.ir_cert = fd->fd_id->ci_cert;
	rq.ir_chain = fd->fd_id->ci_chain;
	rq.ir_addrs = addrs;
	rq.ir_proofs = proofs;
	rq.ir_naddrs = naddrs;
	rq.ir_token = token;
	/* Inside its segment a gateway is only itself. */
	if (fd->fd_conf->cf_role == PKI_ROLE_GATEWAY &&
	    !fed_below(fd, to->in_pem, 0) &&
	    fed_subs(fd, &rq.ir_subs, err) == -1)
		goto out;
	if ((cert = pki_parse_cert(to->in_pem, strlen(to->in_pem),
	    err)) == NULL || intro_make(&rq, &text, &len, err) == -1 ||
	    fed_queue(fd, cert, to->in_endpoint, "introduction", NULL, text,
	    len, err) == -1)
		goto out;
	memset(&fn, 0, sizeof(fn));
	fn.fn_event = FED_EV_INTRODUCE;
	fn.fn_courier = to->in_courier;
	fn.fn_endpoint = to->in_endpoint;
	fn.fn_count = naddrs;
	fd->fd_ops->fo_note(fd, &fn);
	rc = 0;
out:
	sk_X509_pop_free(rq.ir_subs, X509_free);
	X509_free(cert);
	free(text);
	return rc;
}

enum fed_status
fed_open(struct fed *fd, const unsigned char *der, size_t len,
    unsigned char **text, size_t *tlen, struct intro **peer, X509 **signer,
    char *why)
{
	STACK_OF(X509) *certs = NULL;
	enum cms_fail fail;
	char err[TN_ERRLEN];
	enum fed_status st = FED_TAKEN;

	*peer = NULL;
	*signer = NULL;
	if (cms_unwrap(der, len, fd->fd_id, pki_trust_store(fd->fd_trust),
	    text, tlen, signer, &certs, &fail, why) == -1)
		return fail == CMS_FAIL_CHAIN ? FED_UNVERIFIED : fail ==
		    CMS_FAIL_INTERNAL ? FED_ERROR : FED_BAD;
	if (intro_check(fd->fd_trust, *signer, certs, fd->fd_kind, peer,
	    err) == -1) {
		tn_err(why, "signer: %s", err);
		OPENSSL_clear_free(*text, *tlen);
		*text = NULL;
		X509_free(*signer);
		*signer = NULL;
		st = FED_UNVERIFIED;
	}
	sk_X509_pop_free(certs, X509_free);
	return st;
}

int
fed_check_endpoint(const struct fed *fd, X509 *cert, STACK_OF(X509) *chain,
    const char *endpoint, char *err)
{
	struct intro *in = NULL;
	int rc = -1;

	if (intro_check(fd->fd_trust, cert, chain, fd->fd_kind, &in,
	    err) == -1)
		return -1;
	if (strcmp(in->in_endpoint, endpoint) != 0)
		tn_err(err, "the certificate is for %s, not %s",
		    in->in_endpoint, endpoint);
	else
		rc = 0;
	intro_free(in);
	return rc;
}

/* Do two checked introductions name the same element? */
static int
fed_same(const struct intro *x, const struct intro *y)
{
	return x->in_kind == y->in_kind &&
	    strcasecmp(x->in_courier, y->in_courier) == 0 &&
	    strcasecmp(x->in_endpoint, y->in_endpoint) == 0;
}

/*
 * Why a read inter-courier message is refused, or NULL; relay_ok: a
 * private peer may relay it (fed_relay_ok()).
 */
static const char *
fed_ic_why(const struct fed *fd, const struct fed_in *fi, int relay_ok)
{
	const struct intro_ic *ic = fi->fi_ic;
	const struct intro *peer = fi->fi_peer, *org = fi->fi_origin;

	if (ic->ic_hops < 1 || ic->ic_hops > PROTO_MAX_HOPS)
		return "Hops out of range";
	if (ic->ic_hops == 1 && !fed_same(org, peer))
		return "at hop 1 the origin must be the client";
	if (org->in_role == PKI_ROLE_PRIVATE &&
	    !intro_covers(org, ic->ic_sender))
		return "private origin courier claims a sender outside its "
		    "name constraints";
	if (!relay_ok)
		return "a private courier relays another courier's message";
	if (strcasecmp(ic->ic_to, fd->fd_endpoint) != 0)
		return "To-Element is not this element";
	if (strcasecmp(ic->ic_from, peer->in_endpoint) != 0)
		return "From-Element is not the signer";
	return NULL;
}

/*
 * A private courier relays only its own messages, but for an address
 * that moved from it to this courier (accounts.transferred_from, the
 * account active: the transfer complete): it sends on what still
 * reaches it for the address (rule 2). 1 when
 * the relay is one to take, 0 when not, -1.
 */
static int
fed_relay_ok(struct fed *fd, const struct fed_in *fi, char *err)
{
	const struct intro_ic *ic = fi->fi_ic;
	const struct intro *peer = fi->fi_peer;
	size_t i;
	int r;

	if (peer->in_role != PKI_ROLE_PRIVATE ||
	    strcasecmp(peer->in_courier, fi->fi_origin->in_courier) == 0)
		return 1;
	for (i = 0; i < ic->ic_nrcpts; i++) {
		const char *p[2] = { ic->ic_rcpts[i], peer->in_courier };

		if ((r = db_one(fd->fd_db, "SELECT 1 FROM accounts WHERE "
		    "address = lower($1) AND lower(transferred_from) = "
		    "lower($2) AND status = 'active'", 2, p, NULL, 0,
		    err)) != 1)
			return r;
	}
	return 1;
}

/* A recipient taken here: the introduction back will name it. */
static void
fed_done(struct fed_in *fi, const struct fed_item *it)
{
	fi->fi_proofs[fi->fi_ndone] = fi->fi_ic->ic_token;
	fi->fi_done[fi->fi_ndone++] = it->it_rcpt;
}

/* Hops + 1 on, origin unchanged but at a gateway's border. */
static int
fed_forward(struct fed *fd, struct fed_in *fi, const struct fed_item *in,
    const struct route_decision *rd, char *err)
{
	const struct intro_ic *ic = fi->fi_ic;
	struct fed_item it = *in;
	struct fed_note fn;
	char used[ROUTE_IDLEN], why[TN_ERRLEN];
	int rc;

	if (ic->ic_hops + 1 > PROTO_MAX_HOPS)
		return fd->fd_ops->fo_notice(fd, in, "too many couriers "
		    "crossed (hop limit)", err);
	it.it_hops = ic->ic_hops + 1;
	if ((rc = fed_send(fd, rd->rd_courier, fi->fi_peer->in_courier, &it,
	    used, why)) == 1)
		return fd->fd_ops->fo_notice(fd, in, why, err);
	if (rc == -1) {
		snprintf(err, TN_ERRLEN, "%s", why);
		return -1;
	}
	if (rc == 2 || it.it_origin == NULL)
		it.it_origin = fd->fd_conf->cf_name;	/* as sent */
	memset(&fn, 0, sizeof(fn));
	fn.fn_event = FED_EV_FORWARD;
	fn.fn_item = &it;
	fn.fn_courier = used;
	fn.fn_for = strcasecmp(used, rd->rd_courier) != 0 ? rd->rd_courier :
	    NULL;
	fn.fn_text = route_action_name(rd->rd_action);
	fn.fn_flag = rc == 2;
	fd->fd_ops->fo_note(fd, &fn);
	/* Sent from outside into the segment: taken here. */
	if (rc == 2 && !fed_below(fd, ic->ic_origin_pem, 0))
		fed_done(fi, in);
	return 0;
}

/*
 * One recipient of an inter-courier message: 0, 1 a revoke or a
 * receipt the element refused (fed_refuse(), against the origin), -1.
 */
static int
fed_ic_rcpt(struct fed *fd, struct fed_in *fi, const char *rcpt, char *err)
{
	const struct fed_ops *ops = fd->fd_ops;
	const struct intro_ic *ic = fi->fi_ic;
	struct route_decision rd;
	struct fed_item it;
	char why[TN_ERRLEN];
	int r;

	memset(&it, 0, sizeof(it));
	it.it_msgid = ic->ic_msgid;
	it.it_sender = ic->ic_sender;
	it.it_rcpt = rcpt;
	it.it_hops = ic->ic_hops;
	it.it_origin = ic->ic_origin;
	it.it_origin_pem = ic->ic_origin_pem;
	it.it_payload = ic->ic_payload;
	it.it_paylen = ic->ic_paylen;
	it.it_extra = fi->fi_extra;
	it.it_token = ic->ic_token;
	it.it_origin_date = ic->ic_origin_date;
	it.it_origin_sig = ic->ic_origin_sig;
	it.it_pay = ic->ic_pay;
	if (fed_route(fd, rcpt, fi->fi_src, fi->fi_peer->in_courier, &rd,
	    err) == -1)
		return -1;
	fed_note(fd, FED_EV_ROUTE, &it, NULL, route_action_name(rd.rd_action));
	/* A revoke or a receipt at the courier that serves its recipient. */
	if (it.it_pay != INTRO_PAY_ITEM && (rd.rd_action ==
	    ROUTE_DELIVER_LOCAL || rd.rd_action == ROUTE_HOLD_AND_INVITE)) {
		if ((r = ops->fo_control(fd, &it, why)) == 1)
			return fed_refuse(fd, fi->fi_origin, it.it_pay ==
			    INTRO_PAY_REVOKE ? "Revoke" : "Receipt", "%s", why);
		if (r == -1)
			snprintf(err, TN_ERRLEN, "%s", why);
		return r;
	}
	switch (rd.rd_action) {
	case ROUTE_DELIVER_LOCAL:
		if ((r = ops->fo_deliver(fd, &it, err)) == -1)
			return -1;
		if (r == 0) {
			fed_note(fd, FED_EV_DELIVER, &it, NULL, NULL);
			fed_done(fi, &it);
			return 0;
		}
		/* Active without an agent certificate yet: hold. */
		/* FALLTHROUGH */
	case ROUTE_HOLD_AND_INVITE:
		if ((r = ops->fo_hold(fd, &it, err)) == -1)
			return -1;
		if (r == 0)	/* 1: declined, nothing held (logged) */
			fed_note(fd, FED_EV_HOLD, &it, NULL, NULL);
		fed_done(fi, &it);
		return 0;
	case ROUTE_REJECT:
		return ops->fo_notice(fd, &it, rd.rd_reason, err);
	default:
		return fed_forward(fd, fi, &it, &rd, err);
	}
}

/*
 * After the recipients: introduce this element back to the origin when
 * a recipient was delivered or held here (or sent into a gateway's
 * segment) and the origin did not find us by a route of its own: the
 * message came through another courier, or from a subordinate that
 * deferred to us.
 */
static int
fed_back(struct fed *fd, const struct fed_in *fi, char *err)
{
	const struct intro *org = fi->fi_origin;

	if (fi->fi_ndone == 0 || strcasecmp(org->in_courier,
	    fd->fd_conf->cf_name) == 0 || (fed_same(org, fi->fi_peer) &&
	    fi->fi_src != ROUTE_SRC_SUBORDINATE))
		return 0;
	return fed_introduce(fd, org, fi->fi_done, fi->fi_proofs, fi->fi_ndone,
	    NULL, err);
}

/*
 * The origin's assertion and the dates: 0, 1 refused (fed_refuse():
 * recorded against the element that handed it over), -1.
 */
static int
fed_asserted(struct fed *fd, const struct fed_in *fi, char *err)
{
	const struct intro_ic *ic = fi->fi_ic;
	char claim[ROUTE_IDLEN + 32], why[TN_ERRLEN];

	(void)err;
	snprintf(claim, sizeof(claim), "Origin %s", ic->ic_origin);
	if (intro_ic_verify(ic, why) == -1)
		return fed_refuse(fd, fi->fi_peer, claim, "origin %s, sender "
		    "%s: %s", ic->ic_origin, ic->ic_sender, why);
	if (fed_fresh(fd, ic->ic_date, "Date", why) == -1 ||
	    fed_fresh(fd, ic->ic_origin_date, "Origin-Date", why) == -1)
		return fed_refuse(fd, fi->fi_peer, "Date", "%s", why);
	return 0;
}

static enum fed_status
fed_ic_take(struct fed *fd, struct fed_in *fi, char *why, char *err)
{
	const struct intro_ic *ic = fi->fi_ic;
	const char *w;
	struct fed_note fn;
	size_t i;
	char digest[65];
	int fresh, pinned, r;

	if (ic->ic_kind != fd->fd_kind) {
		snprintf(why, TN_ERRLEN, "%s", fd->fd_kind == PKI_KIND_FG ?
		    "an ARM, not a sealed content" : "not an ARM: a "
		    "background carries ARMs");
		return FED_BAD;
	}
	if (ic->ic_pay != INTRO_PAY_ITEM &&
	    fd->fd_ops->fo_control == NULL) {
		snprintf(why, TN_ERRLEN, "a revoke or a receipt: only "
		    "backgrounds carry them");
		return FED_BAD;
	}
	if ((r = fed_relay_ok(fd, fi, err)) == -1)
		return FED_ERROR;
	if ((w = fed_ic_why(fd, fi, r)) != NULL) {
		snprintf(why, TN_ERRLEN, "%s", w);
		return FED_REFUSED;
	}
	if ((r = fed_known(fd, fi->fi_peer, &pinned, err)) != 0 ||
	    (r = fed_known(fd, fi->fi_origin, &pinned, err)) != 0 ||
	    (r = fed_asserted(fd, fi, err)) != 0) {
		snprintf(why, TN_ERRLEN, "%s", fd->fd_claim_why);
		return r == 1 ? FED_REFUSED : FED_ERROR;
	}
	if (ic->ic_pay == INTRO_PAY_ITEM && fd->fd_ops->fo_check != NULL &&
	    fd->fd_ops->fo_check(fd, ic, &fi->fi_extra, why) == -1)
		return FED_BAD;
	if ((fresh = fed_seen(fd, ic->ic_id, "inter-courier", err)) == -1)
		return FED_ERROR;
	if (!fresh) {
		memset(&fn, 0, sizeof(fn));
		fn.fn_event = FED_EV_DUPLICATE;
		fn.fn_ic = ic;
		fd->fd_ops->fo_note(fd, &fn);
		return FED_DUPLICATE;
	}
	/* The same assertion under another Id: a replay. */
	if (intro_ic_digest(ic, digest, err) == -1 ||
	    (fresh = fed_seen(fd, digest, "origin", err)) == -1)
		return FED_ERROR;
	if (!fresh) {
		fed_refuse(fd, fi->fi_peer, "Replay", "message %s for %s from "
		    "%s was taken already (replay)", ic->ic_msgid,
		    ic->ic_rcpts[0], ic->ic_origin);
		snprintf(why, TN_ERRLEN, "%s", fd->fd_claim_why);
		return FED_REFUSED;
	}
	if (strcasecmp(fi->fi_origin->in_courier, fd->fd_conf->cf_name) != 0 &&
	    (r = fed_record(fd, fi->fi_origin, err)) != 0) {
		snprintf(why, TN_ERRLEN, "%s", fd->fd_claim_why);
		return r == 1 ? FED_REFUSED : FED_ERROR;
	}
	for (i = 0; i < ic->ic_nrcpts; i++)
		if ((r = fed_ic_rcpt(fd, fi, ic->ic_rcpts[i], err)) != 0) {
			snprintf(why, TN_ERRLEN, "%s", fd->fd_claim_why);
			return r == 1 ? FED_REFUSED : FED_ERROR;
		}
	if (ic->ic_pay == INTRO_PAY_ITEM && fed_back(fd, fi, err) == -1)
		return FED_ERROR;
	return FED_TAKEN;
}

enum fed_status
fed_take_ic(struct fed *fd, const struct intro *peer, const char *text,
    size_t len, char *why, char *err)
{
	struct fed_in fi;
	struct fed_note fn;
	enum fed_status st;

	memset(&fi, 0, sizeof(fi));
	fi.fi_peer = peer;
	fi.fi_src = fed_below(fd, peer->in_pem, 1) ? ROUTE_SRC_SUBORDINATE :
	    ROUTE_SRC_REMOTE;
	if (intro_ic_read(fd->fd_trust, text, len, &fi.fi_ic, &fi.fi_origin,
	    why) == -1)
		return strstr(why, "untrusted") != NULL ||
		    strncmp(why, "field ", 6) == 0 ? FED_UNVERIFIED : FED_BAD;
	memset(&fn, 0, sizeof(fn));
	fn.fn_event = FED_EV_IC;
	fn.fn_ic = fi.fi_ic;
	fd->fd_ops->fo_note(fd, &fn);
	st = fed_ic_take(fd, &fi, why, err);
	if (fi.fi_ic->ic_payload != NULL)
		OPENSSL_cleanse(fi.fi_ic->ic_payload, fi.fi_ic->ic_paylen);
	if (fi.fi_extra != NULL && fd->fd_ops->fo_check_free != NULL)
		fd->fd_ops->fo_check_free(fi.fi_extra);
	intro_ic_free(fi.fi_ic);
	intro_free(fi.fi_origin);
	return st;
}

/*
 * A Token answers an invitation of address: 1, 0 (with why) or -1.
 * Both elements hold the tokens of invitations pending or answered,
 * until they expire (invitation_tokens: the foreground's own, the
 * background's replicated), and each element takes a token once
 * (seen_messages, kind "invitation-token", by its hash): whichever of
 * the two introductions arrives first, both are taken.
 */
static int
fed_token(struct fed *fd, const char *token, const char *address,
    char *why, char *err)
{
	const char *p[2] = { token, address };
	int found;

	if ((found = db_one(fd->fd_db, "SELECT 1 FROM invitation_tokens "
	    "WHERE token_hash = sha256(convert_to($1, 'UTF8')) AND "
	    "address = lower($2) AND expires_at > now()", 2, p, NULL, 0,
	    err)) == 0)
		tn_err(why, "the token answers no pending invitation");
	if (found == 1 && (found = db_one(fd->fd_db, "INSERT INTO "
	    "seen_messages (message_id, kind) VALUES (encode(sha256("
	    "convert_to($1, 'UTF8')), 'hex'), 'invitation-token') ON CONFLICT "
	    "DO NOTHING RETURNING 1", 1, p, NULL, 0, err)) == 0)
		tn_err(why, "the token was taken already");
	return found;
}

/* Route address to courier, for reason; 1 when learned, 0, -1. */
static int
fed_learn(struct fed *fd, const char *address, const char *courier,
    const char *reason, char *err)
{
	static const char over[] = "INSERT INTO address_routes (address, "
	    "courier, reason) VALUES (lower($1), $2, $3) ON CONFLICT (address) "
	    "DO UPDATE SET courier = $2, reason = $3, learned_at = now() ";
	const char *p[3] = { address, courier, reason };
	char sql[sizeof(over) + 64];
	struct fed_item it;
	PGresult *r;
	int n;

	/* Proof beats a plain claim; nothing beats a transfer. */
	snprintf(sql, sizeof(sql), "%sWHERE address_routes.reason %s", over,
	    strcmp(reason, "rejected") == 0 ? "<> 'transferred'" :
	    "= 'introduced'");
	if (db_exec(fd->fd_db, sql, 3, p, NULL, &r, err) == -1)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	if (n == 0)
		return 0;
	memset(&it, 0, sizeof(it));
	it.it_rcpt = address;
	fed_note(fd, FED_EV_LEARNED, &it, courier, reason);
	return 1;
}

/* The route token of address among the Route-Proof fields, or NULL. */
static const char *
fed_proof_of(const struct proto_msg *pm, const char *address, char *tok,
    size_t size)
{
	const char *v, *sp;
	size_t i;

	for (i = 0; (v = proto_get_nth(pm, "Route-Proof", i)) != NULL; i++)
		if ((sp = strchr(v, ' ')) != NULL &&
		    (size_t)(sp - v) == strlen(address) &&
		    strncasecmp(v, address, strlen(address)) == 0 &&
		    strlen(sp + 1) < size) {
			snprintf(tok, size, "%s", sp + 1);
			return tok;
		}
	return NULL;
}

/*
 * May in teach a route for address? 0 when proved: by an invitation
 * token (checked already, invited), by a route token this element
 * gave a message for address (taken once), by the introducer's
 * certified domains, or by a transfer of address from here to in.
 * 1 when refused (fed_refuse()), -1.
 */
static int
fed_proved(struct fed *fd, const struct intro *in, const struct proto_msg *pm,
    const char *address, int invited, char *err)
{
	const char *p[2];
	char claim[TN_MAX_ADDRESS + 16], tok[160], moved[ROUTE_IDLEN];
	int found;

	snprintf(claim, sizeof(claim), "Address %s", address);
	/* An address that moved from here to in: its new courier says so. */
	if ((found = fed_rt_transferred(fd, address, moved, err)) == -1)
		return -1;
	if (found == 1 && strcasecmp(moved, in->in_courier) == 0)
		return 0;
	if (fed_serves(fd, address))
		return fed_refuse(fd, in, claim, "Address %s is in a domain "
		    "this courier serves", address);
	if ((found = fed_rt_local(fd, address, err)) != 0)
		return found == 1 ? fed_refuse(fd, in, claim, "Address %s has "
		    "an account here", address) : -1;
	if (invited || intro_covers(in, address))
		return 0;
	if ((p[0] = fed_proof_of(pm, address, tok, sizeof(tok))) != NULL) {
		p[1] = address;
		if ((found = db_one(fd->fd_db, "DELETE FROM route_tokens WHERE "
		    "token_hash = sha256(convert_to($1, 'UTF8')) AND address = "
		    "lower($2) AND expires_at > now() RETURNING 1", 2, p, NULL,
		    0, err)) != 0)
			return found == 1 ? 0 : -1;
	}
	return fed_refuse(fd, in, claim, "Address %s comes with no proof",
	    address);
}

static enum fed_status
fed_intro_take(struct fed *fd, const struct intro *in,
    const struct proto_msg *pm, char *why, char *err)
{
	const char *token = proto_get(pm, "Token");
	size_t i, na = proto_count(pm, "Address");
	struct fed_note fn;
	char w[TN_ERRLEN], claim[TN_MAX_ADDRESS + 16];
	int fresh, n, pinned, r;

	if (fed_fresh(fd, proto_get(pm, "Date"), "Date", w) == -1) {
		fed_refuse(fd, in, "Date", "%s", w);
		snprintf(why, TN_ERRLEN, "%s", w);
		return FED_REFUSED;
	}
	if ((fresh = fed_seen(fd, proto_get(pm, "Id"), "introduction",
	    err)) == -1)
		return FED_ERROR;
	if (!fresh) {
		memset(&fn, 0, sizeof(fn));
		fn.fn_event = FED_EV_DUPLICATE;
		fn.fn_courier = in->in_courier;
		fd->fd_ops->fo_note(fd, &fn);
		return FED_DUPLICATE;
	}
	if (token != NULL) {
		if (na != 1) {
			tn_err(why, "a Token needs exactly one Address");
			return FED_BAD;
		}
		if ((r = fed_token(fd, token, proto_get(pm, "Address"), w,
		    err)) == -1)
			return FED_ERROR;
		if (r == 0) {
			snprintf(claim, sizeof(claim), "Token for %s",
			    proto_get(pm, "Address"));
			fed_refuse(fd, in, claim, "%s", w);
			snprintf(why, TN_ERRLEN, "%s", w);
			return FED_REFUSED;
		}
	}
	/* Who it is first, then what it claims. */
	r = fed_known(fd, in, &pinned, err);
	for (i = 0; i < na && r == 0; i++)
		r = fed_proved(fd, in, pm, proto_get_nth(pm, "Address", i),
		    token != NULL, err);
	if (r == 0)
		r = fed_record(fd, in, err);
	if (r != 0) {
		snprintf(why, TN_ERRLEN, "%s", fd->fd_claim_why);
		return r == 1 ? FED_REFUSED : FED_ERROR;
	}
	memset(&fn, 0, sizeof(fn));
	fn.fn_event = FED_EV_RECORDED;
	fn.fn_courier = in->in_courier;
	fn.fn_endpoint = in->in_endpoint;
	fd->fd_ops->fo_note(fd, &fn);
	for (i = 0; i < na; i++)
		if (fed_learn(fd, proto_get_nth(pm, "Address", i),
		    in->in_courier, token != NULL ? "rejected" : "introduced",
		    err) == -1)
			return FED_ERROR;
	if (fed_release(fd, NULL, &n, err) == -1)
		return FED_ERROR;
	memset(&fn, 0, sizeof(fn));
	fn.fn_event = FED_EV_INTRO;
	fn.fn_courier = in->in_courier;
	fn.fn_count = na;
	fn.fn_flag = token != NULL;
	fn.fn_released = n;
	fd->fd_ops->fo_note(fd, &fn);
	return FED_TAKEN;
}

enum fed_status
fed_take_intro(struct fed *fd, const struct intro *peer, const char *text,
    size_t len, char *why, char *err)
{
	struct intro *in = NULL;
	struct proto_msg *pm = NULL;
	enum fed_status st = FED_UNVERIFIED;

	if (intro_read(fd->fd_trust, text, len, fd->fd_kind, &in, &pm,
	    why) == -1)
		goto out;
	st = FED_REFUSED;
	if (strcmp(in->in_pem, peer->in_pem) != 0 && !fed_same(in, peer)) {
		tn_err(why, "introduction is not of the client");
		goto out;
	}
	st = fed_intro_take(fd, in, pm, why, err);
out:
	intro_free(in);
	proto_msg_free(pm);
	return st;
}

/*
 * The held items of each element, in order: the foreground's held mail
 * (the sealed content as received), the background's held ARMs (the
 * ARM record wrapped to a courier end, or to this BG), which expire.
 * Columns: id, message id, sender, recipient, payload, expiry (text or
 * NULL), expired, the origin courier of an ARM another courier brought
 * (or NULL).
 */
static const char fed_held_fg[] = "SELECT id, message_id, sender, "
    "recipient, body, NULL, false, origin, hops, origin_pem, origin_date, "
    "origin_sig FROM held_messages WHERE "
    "released_at IS NULL AND purged_at IS NULL AND ($1::text IS NULL OR "
    "lower(recipient) = lower($1)) ORDER BY id FOR UPDATE";
static const char fed_held_bg[] = "SELECT id, message_id, sender, "
    "recipient, arm, to_char(expires_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce(expires_at <= now(), "
    "false), origin, hops, origin_pem, origin_date, origin_sig FROM "
    "held_arms WHERE released_at IS NULL AND "
    "purged_at IS NULL AND ($1::text IS NULL OR lower(recipient) = "
    "lower($1)) ORDER BY id FOR UPDATE";

/* One held item routed again: 1 when it went, 0 when it stays. */
static int
fed_release_one(struct fed *fd, const struct fed_item *it, char *err)
{
	const char *p[1] = { it->it_held };
	struct route_decision rd;
	struct fed_item out = *it;
	struct fed_note fn;
	char used[ROUTE_IDLEN], why[TN_ERRLEN];
	int r;

	if (fed_route(fd, it->it_rcpt, ROUTE_SRC_LOCAL, NULL, &rd, err) == -1)
		return -1;
	switch (rd.rd_action) {
	case ROUTE_DELIVER_LOCAL:
		if ((r = fd->fd_ops->fo_deliver(fd, it, err)) != 0)
			return r == 1 ? 0 : -1;	/* still no agent */
		used[0] = '\0';
		break;
	case ROUTE_TO_NEW_COURIER:
	case ROUTE_TO_LEARNED_COURIER:
	case ROUTE_TO_INTRODUCED_COURIER:
		/*
		 * Held at a private courier from another: on under its
		 * origin, one hop more (a private courier may not assert
		 * another domain's sender), while the receivers still take
		 * the origin's date; else this courier is the origin (a
		 * gateway's own rule at its border, fed_origin()).
		 */
		if (fd->fd_conf->cf_role == PKI_ROLE_PRIVATE &&
		    it->it_origin_sig != NULL && it->it_hops < PROTO_MAX_HOPS &&
		    fed_fresh(fd, it->it_origin_date, "Origin-Date", why) == 0)
			out.it_hops = it->it_hops + 1;
		else {
			out.it_hops = 1;
			out.it_origin = NULL;
			out.it_origin_pem = NULL;
			out.it_origin_date = NULL;
			out.it_origin_sig = NULL;
		}
		if ((r = fed_send(fd, rd.rd_courier, NULL, &out, used,
		    err)) == 1)
			return 0;	/* no way yet: stays held */
		if (r == -1)
			return -1;
		break;
	default:
		return 0;	/* still held here */
	}
	if (db_run(fd->fd_db, fd->fd_kind == PKI_KIND_FG ? "UPDATE "
	    "held_messages SET released_at = now() WHERE id = $1" : "UPDATE "
	    "held_arms SET released_at = now() WHERE id = $1", 1, p,
	    err) == -1 || (fd->fd_ops->fo_released != NULL &&
	    fd->fd_ops->fo_released(fd, it, used[0] != '\0' ? used : NULL,
	    err) == -1))
		return -1;
	memset(&fn, 0, sizeof(fn));
	fn.fn_event = FED_EV_RELEASED;
	fn.fn_item = &out;
	if (used[0] != '\0') {
		fn.fn_courier = used;
		fn.fn_for = strcasecmp(used, rd.rd_courier) != 0 ?
		    rd.rd_courier : NULL;
		fn.fn_text = route_action_name(rd.rd_action);
	}
	fd->fd_ops->fo_note(fd, &fn);
	return 1;
}

/* Held row i: expired (purged), kept, or routed again. */
static int
fed_release_row(struct fed *fd, PGresult *r, int i, char *err)
{
	const char *hid = PQgetvalue(r, i, 0);
	struct fed_item it;
	unsigned char *raw = NULL, *open = NULL;
	size_t rawlen, openlen = 0;
	int rc = -1;

	memset(&it, 0, sizeof(it));
	it.it_held = hid;
	it.it_msgid = PQgetvalue(r, i, 1);
	it.it_sender = PQgetvalue(r, i, 2);
	it.it_rcpt = PQgetvalue(r, i, 3);
	it.it_hops = 1;
	it.it_expires = PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5);
	it.it_origin = PQgetisnull(r, i, 7) ? NULL : PQgetvalue(r, i, 7);
	/* The origin's assertion, kept when it came from another courier. */
	if (it.it_origin != NULL && !PQgetisnull(r, i, 8) &&
	    !PQgetisnull(r, i, 9) && !PQgetisnull(r, i, 10) &&
	    !PQgetisnull(r, i, 11)) {
		it.it_hops = (unsigned int)strtoul(PQgetvalue(r, i, 8), NULL,
		    10);
		it.it_origin_pem = PQgetvalue(r, i, 9);
		it.it_origin_date = PQgetvalue(r, i, 10);
		it.it_origin_sig = PQgetvalue(r, i, 11);
	}
	if (strcmp(PQgetvalue(r, i, 6), "t") == 0) {
		if (db_run(fd->fd_db, "UPDATE held_arms SET purged_at = now(), "
		    "arm = '\\x' WHERE id = $1", 1, &hid, err) == -1)
			return -1;
		fed_note(fd, FED_EV_EXPIRED, &it, NULL, NULL);
		return 0;
	}
	if ((raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 4),
	    &rawlen)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	it.it_payload = raw;
	it.it_paylen = rawlen;
	if (fd->fd_ops->fo_open_held != NULL) {
		if ((rc = fd->fd_ops->fo_open_held(fd, &it, &open, &openlen,
		    err)) != 0) {
			rc = rc == 1 ? 0 : -1;	/* 1: kept, logged */
			goto out;
		}
		it.it_payload = open;
		it.it_paylen = openlen;
	}
	if ((rc = fed_release_one(fd, &it, err)) == 1)
		fd->fd_released++;
	rc = rc == -1 ? -1 : 0;
out:
	if (open != NULL)
		OPENSSL_clear_free(open, openlen);
	PQfreemem(raw);
	return rc;
}

int
fed_release(struct fed *fd, const char *address, int *n, char *err)
{
	const char *p[1] = { address };
	PGresult *r = NULL;
	int i, rc = -1;

	fd->fd_released = 0;
	if (db_exec(fd->fd_db, fd->fd_kind == PKI_KIND_FG ? fed_held_fg :
	    fed_held_bg, 1, p, NULL, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++)
		if (fed_release_row(fd, r, i, err) == -1)
			goto out;
	rc = 0;
out:
	*n = fd->fd_released;
	PQclear(r);
	return rc;
}

/* Why an invitation-reject client sent is not one to act on, or NULL. */
static const char *
fed_reject_why(const struct fed *fd, const struct proto_msg *pm,
    const char *client)
{
	const char *name = fd->fd_conf->cf_name;
	const char *url = proto_get(pm, "Background-Url");

	if (strcasecmp(proto_get(pm, "Address"), client) != 0)
		return "Address is not the client's address";
	if (strcasecmp(proto_get(pm, "Registered-Courier"), name) != 0)
		return "Registered-Courier is not this courier";
	if (strcasecmp(proto_get(pm, "Inviting-Courier"), name) == 0)
		return "Inviting-Courier is this courier";
	if (fd->fd_kind == PKI_KIND_FG)
		return proto_part(pm, "fg-cert") == NULL ? "no fg-cert part: "
		    "the inviting foreground is unknown" : NULL;
	if (url == NULL || strncasecmp(url, "https://", 8) != 0)
		return "no https Background-Url";
	if (strcmp(url, fd->fd_endpoint) == 0)
		return "Background-Url is this background";
	return NULL;
}

/* The inviting foreground, from the fg-cert part the invitation gave. */
static enum fed_status
fed_reject_fg(struct fed *fd, const struct proto_msg *pm, struct intro **to,
    char *why)
{
	const struct proto_part *fc = proto_part(pm, "fg-cert");
	const struct proto_part *ch = proto_part(pm, "ca-chain");

	if (intro_check_pem(fd->fd_trust, (const char *)fc->pp_data,
	    fc->pp_len, ch == NULL ? NULL : (const char *)ch->pp_data,
	    ch == NULL ? 0 : ch->pp_len, PKI_KIND_FG, to, why) == -1)
		return FED_UNVERIFIED;
	if (strcasecmp((*to)->in_courier, proto_get(pm,
	    "Inviting-Courier")) != 0) {
		tn_err(why, "fg-cert is not of the Inviting-Courier");
		return FED_UNVERIFIED;
	}
	return FED_TAKEN;
}

enum fed_status
fed_take_reject(struct fed *fd, const struct proto_msg *pm,
    const char *client, char *why, char *err)
{
	const char *addr = proto_get(pm, "Address"), *w;
	struct intro_req rq;
	struct intro *to = NULL;
	char *text = NULL;
	size_t len;
	enum fed_status st = FED_REFUSED;
	int fresh;

	if (pm->pm_kind != PROTO_INVITATION_REJECT) {
		tn_err(why, "not an invitation-reject");
		return FED_BAD;
	}
	if ((w = fed_reject_why(fd, pm, client)) != NULL) {
		snprintf(why, TN_ERRLEN, "%s", w);
		return FED_REFUSED;
	}
	if (fed_fresh(fd, proto_get(pm, "Date"), "Date", why) == -1)
		return FED_REFUSED;
	if (fd->fd_kind == PKI_KIND_FG &&
	    (st = fed_reject_fg(fd, pm, &to, why)) != FED_TAKEN)
		goto out;
	st = FED_ERROR;
	if ((fresh = fed_seen(fd, proto_get(pm, "Id"), "invitation-reject",
	    err)) == -1)
		goto out;
	st = FED_DUPLICATE;
	if (!fresh)
		goto out;
	st = FED_ERROR;
	if (to != NULL) {
		if (fed_introduce(fd, to, &addr, NULL, 1, proto_get(pm,
		    "Token"), err) == -1)
			goto out;
	} else {
		/* No certificate of the inviting BG: sealed when sent. */
		memset(&rq, 0, sizeof(rq));
		rq.ir_cert = fd->fd_id->ci_cert;
		rq.ir_chain = fd->fd_id->ci_chain;
		rq.ir_addrs = &addr;
		rq.ir_naddrs = 1;
		rq.ir_token = proto_get(pm, "Token");
		if (intro_make(&rq, &text, &len, err) == -1 ||
		    fd->fd_ops->fo_queue(fd, proto_get(pm, "Background-Url"),
		    FED_UNSEALED, NULL, (unsigned char *)text, len, err) == -1)
			goto out;
		fd->fd_sent++;
	}
	st = FED_TAKEN;
out:
	intro_free(to);
	free(text);
	return st;
}
