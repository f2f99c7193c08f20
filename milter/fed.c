/*
 * NAME
 *	fed.c - what the foreground sends to other couriers
 * DESCRIPTION
 *	See fed.h. Every mail goes through outbox in the caller's
 *	transaction: inter-courier messages and introductions as
 *	"Tandem-Kind: inter-courier" mail from the service mailbox to
 *	the other FG's (a wrap element -> element, doc/federation.md 3),
 *	non-delivery notices as plain mail to the sender, signed.
 */
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fed.h"
#include "intro.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "tandem.h"

void
fed_self(const struct fg *fg, struct route_courier *self)
{
	const struct conf *cf = fg->fg_conf;

	memset(self, 0, sizeof(*self));
	self->rc_role = cf->cf_role;
	self->rc_domains = (const char *const *)cf->cf_domains;
	self->rc_ndomains = cf->cf_ndomains;
	self->rc_superior_gateway = cf->cf_superior_gateway;
	self->rc_superior = cf->cf_superior;
}

int
fed_peer(PGconn *db, const char *courier, char **endpoint, X509 **cert,
    char **pem, char *err)
{
	const char *p[1] = { courier };
	PGresult *r;
	int rc = -1;

	*endpoint = NULL;
	*cert = NULL;
	if (pem != NULL)
		*pem = NULL;
	if (fgdb_exec(db, "SELECT endpoint, certificate FROM introductions "
	    "WHERE courier = $1 AND element = 'fg'", 1, p, NULL,
	    PGRES_TUPLES_OK, &r, err) == -1)
		return -1;
	if (PQntuples(r) == 0) {
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

int
fed_below(const struct fg *fg, const char *pem, int direct)
{
	return intro_below(fg->fg_id.ci_cert, fg->fg_id.ci_chain, pem,
	    direct);
}

/* A gateway's subordinate courier CAs, from its FG introductions. */
static int
fed_subs(const struct fg *fg, PGconn *db, STACK_OF(X509) **subs, char *err)
{
	PGresult *r = NULL;
	int i, rc = -1;

	if ((*subs = sk_X509_new_null()) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (fgdb_exec(db, "SELECT certificate FROM introductions WHERE "
	    "element = 'fg' ORDER BY courier", 0, NULL, NULL,
	    PGRES_TUPLES_OK, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++)
		if (intro_sub_add(fg->fg_id.ci_cert, fg->fg_id.ci_chain,
		    PQgetvalue(r, i, 0), *subs) == -1) {
			tn_err(err, "out of memory");
			goto out;
		}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* This element's certificate followed by its chain, PEM. */
static char *
fed_self_pem(const struct fg *fg, char *err)
{
	char *pem = NULL, *all;
	size_t n;

	if (pki_cert_pem(fg->fg_id.ci_cert, &pem, &n, err) == -1)
		return NULL;
	if ((all = malloc(n + strlen(fg->fg_chain_pem) + 1)) == NULL)
		tn_err(err, "out of memory");
	else {
		memcpy(all, pem, n);
		strcpy(all + n, fg->fg_chain_pem);
	}
	free(pem);
	return all;
}

/* text wrapped to cert, as inter-courier mail to box, into outbox. */
static int
fed_mail(const struct fg *fg, PGconn *db, X509 *cert, const char *box,
    const char *text, size_t len, char *err)
{
	const char *self = fg->fg_conf->cf_service_mailbox;
	STACK_OF(X509) *to = NULL;
	struct tmail_head th;
	unsigned char *wrap = NULL;
	char id[TN_MAX_MSGID + 1], *mail = NULL;
	size_t wlen, mlen;
	int rc = -1;

	if (tmail_msgid(self, id, sizeof(id)) == -1 ||
	    (to = sk_X509_new_null()) == NULL || !sk_X509_push(to, cert)) {
		tn_err(err, "out of memory");
		goto out;
	}
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_INTER_COURIER;
	th.th_from = self;
	th.th_to = &box;
	th.th_nto = 1;
	th.th_msgid = id;
	if (cms_wrap((const unsigned char *)text, len, &fg->fg_id, to, 0,
	    &wrap, &wlen, err) == -1 ||
	    tmail_compose(&th, wrap, wlen, &mail, &mlen, err) == -1 ||
	    fgdb_outbox(db, id, self, box, mail, mlen, err) == -1)
		goto out;
	rc = 0;
out:
	sk_X509_free(to);	/* cert is the caller's */
	free(wrap);
	free(mail);
	return rc;
}

/* The courier's FG introduction, or else the superior's. */
static int
fed_target(const struct fg *fg, PGconn *db, const char *courier,
    char *used, char **box, X509 **cert, char **pem, char *err)
{
	const char *sup = fg->fg_conf->cf_superior;
	int found;

	snprintf(used, ROUTE_IDLEN, "%s", courier);
	if ((found = fed_peer(db, courier, box, cert, pem, err)) != 0)
		return found == 1 ? 0 : -1;
	if (sup == NULL || sup[0] == '\0' || strcasecmp(sup, courier) == 0) {
		tn_err(err, "no foreground introduction of %s", courier);
		return -1;
	}
	snprintf(used, ROUTE_IDLEN, "%s", sup);
	if ((found = fed_peer(db, sup, box, cert, pem, err)) != 0)
		return found == 1 ? 0 : -1;
	tn_err(err, "no foreground introduction of %s nor of the superior "
	    "%s", courier, sup);
	return -1;
}

/*
 * Does this element put itself as the origin? Yes for its own users'
 * mail, and at a gateway when the message leaves or enters its segment
 * (origin and target, pem, on different sides).
 */
static int
fed_origin_self(const struct fg *fg, const struct fed_out *fo,
    const char *pem)
{
	if (fo->fo_origin_pem == NULL)
		return 1;
	return fg->fg_conf->cf_role == PKI_ROLE_GATEWAY &&
	    fed_below(fg, fo->fo_origin_pem, 0) != fed_below(fg, pem, 0);
}

/*
 * This element as the origin of a message to the element of pem: its
 * certificate and chain, and at a gateway sending out of its segment
 * its subordinates' CA certificates too, which name the segment's
 * domains to the receiver (doc/federation.md, section 6).
 */
static char *
fed_origin_pem(const struct fg *fg, PGconn *db, const char *pem, char *err)
{
	STACK_OF(X509) *subs = NULL;
	char *self, *all = NULL;

	if ((self = fed_self_pem(fg, err)) == NULL ||
	    fg->fg_conf->cf_role != PKI_ROLE_GATEWAY || fed_below(fg, pem, 0))
		return self;
	if (fed_subs(fg, db, &subs, err) == 0)
		(void)intro_pem_with(self, subs, &all, err);
	sk_X509_pop_free(subs, X509_free);
	free(self);
	return all;
}

int
fed_send_ic(const struct fg *fg, PGconn *db, const char *courier,
    const char *avoid, const struct fed_out *fo, char *used, char *err)
{
	struct intro_ic ic;
	X509 *cert = NULL;
	char *box = NULL, *pem = NULL, *self = NULL, *text = NULL;
	size_t len;
	int rc = -1;

	if (fed_target(fg, db, courier, used, &box, &cert, &pem, err) == -1)
		goto out;
	if (avoid != NULL && strcasecmp(used, avoid) == 0) {
		rc = 1;
		goto out;
	}
	if (fed_origin_self(fg, fo, pem) &&
	    (self = fed_origin_pem(fg, db, pem, err)) == NULL)
		goto out;
	memset(&ic, 0, sizeof(ic));
	ic.ic_from = fg->fg_conf->cf_service_mailbox;
	ic.ic_to = box;
	ic.ic_msgid = (char *)fo->fo_msgid;
	ic.ic_sender = (char *)fo->fo_sender;
	ic.ic_rcpts = (char **)fo->fo_rcpts;
	ic.ic_nrcpts = fo->fo_nrcpts;
	ic.ic_hops = fo->fo_hops;
	ic.ic_origin = (char *)(self != NULL ? fg->fg_conf->cf_name :
	    fo->fo_origin);
	ic.ic_kind = PKI_KIND_FG;
	ic.ic_payload = (unsigned char *)fo->fo_sealed;
	ic.ic_paylen = fo->fo_sealedlen;
	ic.ic_origin_pem = self != NULL ? self : (char *)fo->fo_origin_pem;
	if (intro_ic_make(&ic, &text, &len, err) == -1 ||
	    fed_mail(fg, db, cert, box, text, len, err) == -1)
		goto out;
	rc = self != NULL && fo->fo_origin_pem != NULL ? 2 : 0;
out:
	X509_free(cert);
	free(box);
	free(pem);
	free(self);
	free(text);
	return rc;
}

int
fed_introduce(const struct fg *fg, PGconn *db, const struct intro *to,
    const char *const *addrs, size_t naddrs, const char *token, char *err)
{
	struct intro_req rq;
	X509 *cert = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	memset(&rq, 0, sizeof(rq));
	rq.ir_cert = fg->fg_id.ci_cert;
	rq.ir_chain = fg->fg_id.ci_chain;
	rq.ir_addrs = addrs;
	rq.ir_naddrs = naddrs;
	rq.ir_token = token;
	/* Inside its segment a gateway is only itself. */
	if (fg->fg_conf->cf_role == PKI_ROLE_GATEWAY &&
	    !fed_below(fg, to->in_pem, 0) &&
	    fed_subs(fg, db, &rq.ir_subs, err) == -1)
		goto out;
	if ((cert = pki_parse_cert(to->in_pem, strlen(to->in_pem),
	    err)) == NULL || intro_make(&rq, &text, &len, err) == -1 ||
	    fed_mail(fg, db, cert, to->in_endpoint, text, len, err) == -1)
		goto out;
	rc = 0;
out:
	sk_X509_pop_free(rq.ir_subs, X509_free);
	X509_free(cert);
	free(text);
	return rc;
}

int
fed_send_local(struct msg *mc, PGconn *db, const struct tmail *tm,
    const char *rcpt, const char *courier, const unsigned char *sealed,
    size_t sealedlen)
{
	struct fed_out fo;
	char used[ROUTE_IDLEN], err[TN_ERRLEN];

	memset(&fo, 0, sizeof(fo));
	fo.fo_msgid = tm->tm_msgid;
	fo.fo_sender = mc->mc_sender;
	fo.fo_rcpts = &rcpt;
	fo.fo_nrcpts = 1;
	fo.fo_hops = 1;
	fo.fo_sealed = sealed;
	fo.fo_sealedlen = sealedlen;
	if (fed_send_ic(mc->mc_fg, db, courier, NULL, &fo, used, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 recipient %s: %s", rcpt, err);
		return -1;
	}
	msg_note(mc, " to=%s", used);
	return 0;
}

int
fed_record(PGconn *db, const struct intro *in, char *err)
{
	const char *p[5];
	char *domains = NULL;
	int rc;

	if (intro_domains_text(in, &domains, err) == -1)
		return -1;
	p[0] = in->in_courier;
	p[1] = in->in_endpoint;
	p[2] = in->in_pem;
	p[3] = domains;
	p[4] = pki_role_name(in->in_role);
	rc = fgdb_exec(db, "INSERT INTO introductions (courier, element, "
	    "endpoint, certificate, domains, role) VALUES ($1, 'fg', $2, $3, "
	    "coalesce(string_to_array(nullif($4, ''), ' '), '{}'), $5) ON "
	    "CONFLICT (courier, element) DO UPDATE SET endpoint = $2, "
	    "certificate = $3, domains = coalesce(string_to_array(nullif($4, "
	    "''), ' '), '{}'), role = $5, learned_at = now()", 5, p, NULL,
	    PGRES_COMMAND_OK, NULL, err);
	free(domains);
	return rc;
}

int
fed_seen(PGconn *db, const char *id, const char *kind, char *err)
{
	const char *p[2] = { id, kind };
	PGresult *r;
	int fresh;

	if (fgdb_exec(db, "INSERT INTO seen_messages (message_id, kind) "
	    "VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1", 2, p, NULL,
	    PGRES_TUPLES_OK, &r, err) == -1)
		return -1;
	fresh = PQntuples(r) == 1;
	PQclear(r);
	return fresh;
}

/* The notice mail: readable text, then the same text signed (opaque). */
static int
fed_notice_mail(const struct fg *fg, const char *sender, const char *text,
    const char *id, char **mail, size_t *mlen, char *err)
{
	unsigned char *der = NULL;
	char date[64], *b64 = NULL;
	size_t dlen, blen, n;
	time_t now = time(NULL);
	struct tm tmv;
	int rc = -1;

	gmtime_r(&now, &tmv);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tmv);
	if (cms_sign((const unsigned char *)text, strlen(text), &fg->fg_id,
	    &der, &dlen, err) == -1 ||
	    tmail_body(der, dlen, &b64, &blen, err) == -1)
		goto out;
	n = strlen(text) + blen + 1024 + 2 * TN_MAX_ADDRESS + TN_MAX_MSGID;
	if ((*mail = malloc(n)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	*mlen = (size_t)snprintf(*mail, n, "From: %s\r\nTo: %s\r\n"
	    "Subject: Tandem: undeliverable private message\r\nDate: %s\r\n"
	    "Message-ID: <%s>\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
	    "boundary=\"=tandem-notice\"\r\n\r\n--=tandem-notice\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
	    "--=tandem-notice\r\nContent-Type: application/pkcs7-mime; "
	    "smime-type=signed-data; name=notice.p7m\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n%s--=tandem-notice--\r\n",
	    fg->fg_conf->cf_service_mailbox, sender, date, id, text, b64);
	rc = 0;
out:
	free(der);
	free(b64);
	return rc;
}

int
fed_notice(const struct fg *fg, PGconn *db, const char *sender,
    const char *msgid, const char *rcpt, const char *reason, char *err)
{
	char id[TN_MAX_MSGID + 1], text[2048], *mail = NULL;
	size_t mlen;
	int rc = -1;

	snprintf(text, sizeof(text), "Your private message %s could not be "
	    "delivered to %s.\r\nReason: %s\r\n\r\nThis notice comes from "
	    "the Tandem foreground of %s (%s).\r\nIt carries no content and "
	    "no key; the signed part below says the same.\r\n", msgid, rcpt,
	    reason, fg->fg_conf->cf_name, fg->fg_conf->cf_service_mailbox);
	if (tmail_msgid(fg->fg_conf->cf_service_mailbox, id,
	    sizeof(id)) == -1) {
		tn_err(err, "out of memory");
		return -1;
	}
	/* The null envelope sender: nobody answers a notice. */
	if (fed_notice_mail(fg, sender, text, id, &mail, &mlen, err) == 0 &&
	    fgdb_outbox(db, id, "", sender, mail, mlen, err) == 0)
		rc = 0;
	free(mail);
	return rc;
}

/* One held row sent to courier; marked released. */
static int
fed_release_row(const struct fg *fg, PGconn *db, PGresult *r, int i,
    const char *address, const char *courier, char *err)
{
	const char *q[1] = { PQgetvalue(r, i, 0) };
	struct fed_out fo;
	unsigned char *body;
	char used[ROUTE_IDLEN];
	size_t blen;
	int rc = -1;

	if ((body = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i,
	    3), &blen)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	memset(&fo, 0, sizeof(fo));
	fo.fo_msgid = PQgetvalue(r, i, 1);
	fo.fo_sender = PQgetvalue(r, i, 2);
	fo.fo_rcpts = &address;
	fo.fo_nrcpts = 1;
	fo.fo_hops = 1;
	fo.fo_sealed = body;
	fo.fo_sealedlen = blen;
	if (fed_send_ic(fg, db, courier, NULL, &fo, used, err) == 0 &&
	    fgdb_exec(db, "UPDATE held_messages SET released_at = now() "
	    "WHERE id = $1", 1, q, NULL, PGRES_COMMAND_OK, NULL, err) == 0) {
		log_info("released msgid=%s rcpt=%s to=%s", fo.fo_msgid,
		    address, used);
		rc = 0;
	}
	PQfreemem(body);
	return rc;
}

int
fed_release(const struct fg *fg, PGconn *db, const char *address, int *n,
    char *err)
{
	const char *p[1] = { address };
	struct route_courier self;
	struct route_tables rt;
	struct route_decision rd;
	PGresult *r = NULL;
	int i, rc = -1;

	*n = 0;
	fed_self(fg, &self);
	fgdb_tables(&rt, db);
	if (route_decide(&self, &rt, address, ROUTE_SRC_LOCAL, NULL, &rd,
	    err) == -1)
		return -1;
	if (rd.rd_action != ROUTE_TO_NEW_COURIER &&
	    rd.rd_action != ROUTE_TO_LEARNED_COURIER &&
	    rd.rd_action != ROUTE_TO_INTRODUCED_COURIER)
		return 0;	/* still held here */
	if (fgdb_exec(db, "SELECT id, message_id, sender, body FROM "
	    "held_messages WHERE recipient = $1 AND released_at IS NULL AND "
	    "purged_at IS NULL ORDER BY id FOR UPDATE", 1, p, NULL,
	    PGRES_TUPLES_OK, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++, (*n)++)
		if (fed_release_row(fg, db, r, i, address, rd.rd_courier,
		    err) == -1)
			goto out;
	PQclear(r);
	r = NULL;
	if (fgdb_exec(db, "UPDATE invitations SET status = 'rejected' WHERE "
	    "address = $1 AND status = 'pending'", 1, p, NULL,
	    PGRES_COMMAND_OK, &r, err) == -1)
		goto out;
	if (strcmp(PQcmdTuples(r), "0") != 0)
		log_info("withdrawn invitation rcpt=%s courier=%s", address,
		    rd.rd_courier);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* Why this invitation-reject is refused, or NULL. */
static const char *
fed_reject_check(struct msg *mc, const struct proto_msg *pm)
{
	const char *name = mc->mc_fg->fg_conf->cf_name;

	if (strcasecmp(proto_get(pm, "Address"), mc->mc_sender) != 0)
		return "Address is not the sender";
	if (strcasecmp(proto_get(pm, "Registered-Courier"), name) != 0)
		return "Registered-Courier is not this courier";
	if (strcasecmp(proto_get(pm, "Inviting-Courier"), name) == 0)
		return "Inviting-Courier is this courier";
	if (proto_part(pm, "fg-cert") == NULL)
		return "no fg-cert part: the inviting foreground is unknown";
	return NULL;
}

int
fed_reject(struct msg *mc, PGconn *db, const struct proto_msg *pm)
{
	const struct fg *fg = mc->mc_fg;
	const struct proto_part *fc, *ch;
	const char *why, *addr = proto_get(pm, "Address");
	struct intro *peer = NULL;
	char err[TN_ERRLEN];
	int fresh, rc = -1;

	if ((why = fed_reject_check(mc, pm)) != NULL) {
		msg_fail(mc, MSG_PERM, "5.7.1 invitation-reject: %s", why);
		return -1;
	}
	fc = proto_part(pm, "fg-cert");
	ch = proto_part(pm, "ca-chain");
	if (intro_check_pem(fg->fg_trust, (const char *)fc->pp_data,
	    fc->pp_len, ch == NULL ? NULL : (const char *)ch->pp_data,
	    ch == NULL ? 0 : ch->pp_len, PKI_KIND_FG, &peer, err) == -1 ||
	    strcasecmp(peer->in_courier, proto_get(pm,
	    "Inviting-Courier")) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.7 invitation-reject: %s", peer ==
		    NULL ? err : "fg-cert is not of the Inviting-Courier");
		goto out;
	}
	if ((fresh = fed_seen(db, proto_get(pm, "Id"), "invitation-reject",
	    err)) == -1 || (fresh && fed_introduce(fg, db, peer, &addr, 1,
	    proto_get(pm, "Token"), err) == -1)) {
		msg_fail(mc, MSG_TEMP, "4.3.0 invitation-reject: %s", err);
		goto out;
	}
	msg_note(mc, " invitation-reject=%s inviting=%s status=%s", addr,
	    peer->in_courier, fresh ? "introduced" : "duplicate");
	rc = 0;
out:
	intro_free(peer);
	return rc;
}
