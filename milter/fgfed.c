/*
 * NAME
 *	fed.c - the foreground between couriers: its hands for the
 *	federation engine (lib/fed.c)
 * DESCRIPTION
 *	See fed.h. The engine decides; this file does what only a
 *	foreground does, all through outbox in the caller's transaction:
 *	an inter-courier wrap goes as "Tandem-Kind: inter-courier" mail
 *	from the service mailbox to the other FG's; a delivery is the
 *	sealed content re-wrapped to the agent; a hold also invites; a
 *	notice is plain mail to the sender, signed. The engine's notes
 *	become " key=value" pairs of the message's log line.
 */
#include <openssl/x509.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db.h"
#include "fed.h"
#include "fgfed.h"
#include "intro.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "tandem.h"

/* An engine's wrap, as mail from the service mailbox to box. */
static int
fgfed_queue(struct fed *fd, const char *box, const char *kind,
    const char *msgid, const unsigned char *wrap, size_t wlen, char *err)
{
	const char *self = fd->fd_endpoint;
	struct tmail_head th;
	char id[TN_MAX_MSGID + 1], *mail = NULL;
	size_t mlen;
	int rc = -1;

	(void)kind;
	(void)msgid;
	if (tmail_msgid(self, id, sizeof(id)) == -1) {
		tn_err(err, "out of memory");
		return -1;
	}
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_INTER_COURIER;
	th.th_from = self;
	th.th_to = &box;
	th.th_nto = 1;
	th.th_msgid = id;
	if (tmail_compose(&th, wrap, wlen, &mail, &mlen, err) == 0 &&
	    fgdb_outbox(fd->fd_db, id, self, box, mail, mlen, err) == 0)
		rc = 0;
	free(mail);
	return rc;
}

/* Re-wrap to the local agent; a content mail From: the sender. */
static int
fgfed_deliver(struct fed *fd, const struct fed_item *it, char *err)
{
	struct msg *mc = fd->fd_arg;
	const char *p[1] = { it->it_rcpt };
	STACK_OF(X509) *to = NULL;
	struct tmail_head th;
	unsigned char *wrap = NULL;
	char *mail = NULL;
	size_t wlen, mlen;
	PGresult *r = NULL;
	X509 *x = NULL;
	int rc = -1;

	if (db_exec(fd->fd_db, "SELECT agent_cert FROM accounts WHERE "
	    "address = lower($1) AND status = 'active' AND agent_cert IS NOT "
	    "NULL", 1, p, NULL, &r, err) == -1)
		goto out;
	if (PQntuples(r) != 1) {
		rc = 1;
		goto out;
	}
	if ((x = objcache_cert(mc->mc_fg->fg_cache, PQgetvalue(r, 0, 0),
	    (size_t)PQgetlength(r, 0, 0), err)) == NULL)
		goto out;
	if ((to = sk_X509_new_null()) == NULL || !sk_X509_push(to, x)) {
		tn_err(err, "out of memory");
		goto out;
	}
	x = NULL;
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_CONTENT;
	th.th_from = it->it_sender;
	th.th_to = &it->it_rcpt;
	th.th_nto = 1;
	th.th_msgid = it->it_msgid;
	if (cms_wrap(it->it_payload, it->it_paylen, fd->fd_id, to, 0, &wrap,
	    &wlen, err) == -1 ||
	    tmail_compose(&th, wrap, wlen, &mail, &mlen, err) == -1 ||
	    fgdb_outbox(fd->fd_db, it->it_msgid, it->it_sender, it->it_rcpt,
	    mail, mlen, err) == -1)
		goto out;
	rc = 0;
out:
	X509_free(x);
	sk_X509_pop_free(to, X509_free);
	PQclear(r);
	free(wrap);
	free(mail);
	return rc;
}

static int
fgfed_hold(struct fed *fd, const struct fed_item *it, char *err)
{
	struct msg *mc = fd->fd_arg;

	return fgdb_hold(mc->mc_fg, fd->fd_db, mc->mc_qid, it->it_msgid,
	    it->it_sender, it->it_rcpt, it->it_payload, it->it_paylen, err);
}

/* The notice mail: readable text, then the same text signed (opaque). */
static int
fgfed_notice_mail(struct fed *fd, const char *sender, const char *text,
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
	if (cms_sign((const unsigned char *)text, strlen(text), fd->fd_id,
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
	    fd->fd_endpoint, sender, date, id, text, b64);
	rc = 0;
out:
	free(der);
	free(b64);
	return rc;
}

/* A signed non-delivery notice to the sender, null envelope sender. */
static int
fgfed_notice(struct fed *fd, const struct fed_item *it, const char *reason,
    char *err)
{
	const struct conf *cf = fd->fd_conf;
	char id[TN_MAX_MSGID + 1], text[2048], *mail = NULL;
	size_t mlen;
	int rc = -1;

	msg_note(fd->fd_arg, " notice=\"%s\"", reason);
	snprintf(text, sizeof(text), "Your private message %s could not be "
	    "delivered to %s.\r\nReason: %s\r\n\r\nThis notice comes from "
	    "the Tandem foreground of %s (%s).\r\nIt carries no content and "
	    "no key; the signed part below says the same.\r\n", it->it_msgid,
	    it->it_rcpt, reason, cf->cf_name, fd->fd_endpoint);
	if (tmail_msgid(fd->fd_endpoint, id, sizeof(id)) == -1) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (fgfed_notice_mail(fd, it->it_sender, text, id, &mail, &mlen,
	    err) == 0 && fgdb_outbox(fd->fd_db, id, "", it->it_sender, mail,
	    mlen, err) == 0)
		rc = 0;
	free(mail);
	return rc;
}

/* Held mail, of address or all, each to the engine. */
static int
fgfed_held(struct fed *fd, const char *address,
    int (*each)(struct fed *, const struct fed_item *, char *), char *err)
{
	const char *p[1] = { address };
	struct fed_item it;
	unsigned char *body = NULL;
	size_t blen;
	PGresult *r = NULL;
	int i, rc = -1;

	if (db_exec(fd->fd_db, "SELECT id, message_id, sender, recipient, "
	    "body FROM held_messages WHERE released_at IS NULL AND purged_at "
	    "IS NULL AND ($1::text IS NULL OR lower(recipient) = lower($1)) "
	    "ORDER BY id FOR UPDATE", 1, p, NULL, &r, err) == -1)
		return -1;
	for (i = 0; i < PQntuples(r); i++) {
		if ((body = PQunescapeBytea((const unsigned char *)PQgetvalue(r,
		    i, 4), &blen)) == NULL) {
			tn_err(err, "out of memory");
			goto out;
		}
		memset(&it, 0, sizeof(it));
		it.it_held = PQgetvalue(r, i, 0);
		it.it_msgid = PQgetvalue(r, i, 1);
		it.it_sender = PQgetvalue(r, i, 2);
		it.it_rcpt = PQgetvalue(r, i, 3);
		it.it_hops = 1;
		it.it_payload = body;
		it.it_paylen = blen;
		if (each(fd, &it, err) == -1)
			goto out;
		PQfreemem(body);
		body = NULL;
	}
	rc = 0;
out:
	PQfreemem(body);
	PQclear(r);
	return rc;
}

/* A held message went; sent on elsewhere, its invitation is void. */
static int
fgfed_held_done(struct fed *fd, const struct fed_item *it,
    const char *courier, char *err)
{
	const char *p[1] = { it->it_held }, *q[1] = { it->it_rcpt };
	PGresult *r = NULL;

	if (db_run(fd->fd_db, "UPDATE held_messages SET released_at = now() "
	    "WHERE id = $1", 1, p, err) == -1)
		return -1;
	if (courier == NULL)
		return 0;
	if (db_exec(fd->fd_db, "UPDATE invitations SET status = 'rejected' "
	    "WHERE address = lower($1) AND status = 'pending'", 1, q, NULL, &r,
	    err) == -1)
		return -1;
	if (strcmp(PQcmdTuples(r), "0") != 0)
		log_info("withdrawn invitation rcpt=%s courier=%s", it->it_rcpt,
		    courier);
	PQclear(r);
	return 0;
}

/* What the engine did, in the message's log line. */
static void
fgfed_note(struct fed *fd, const struct fed_note *fn)
{
	struct msg *mc = fd->fd_arg;
	const struct fed_item *it = fn->fn_item;
	const struct intro_ic *ic = fn->fn_ic;

	switch (fn->fn_event) {
	case FED_EV_IC:
		msg_note(mc, " ic=%s msgid=%s origin=%s hops=%u", ic->ic_id,
		    ic->ic_msgid, ic->ic_origin, ic->ic_hops);
		break;
	case FED_EV_DUPLICATE:
		if (ic != NULL)
			msg_note(mc, " duplicate=yes");
		else
			msg_note(mc, " introduction=%s duplicate=yes",
			    fn->fn_courier);
		break;
	case FED_EV_ROUTE:
		msg_note(mc, " rcpt=%s route=%s", it->it_rcpt, fn->fn_text);
		break;
	case FED_EV_FORWARD:
		msg_note(mc, " forwarded=%s%s", fn->fn_courier, fn->fn_flag ?
		    " origin-replaced=yes" : "");
		break;
	case FED_EV_INTRODUCE:
		msg_note(mc, " introduced=%s", fn->fn_courier);
		break;
	case FED_EV_RELEASED:
		log_info("released msgid=%s rcpt=%s to=%s", it->it_msgid,
		    it->it_rcpt, fn->fn_courier != NULL ? fn->fn_courier :
		    "agent");
		break;
	case FED_EV_INTRO:
		msg_note(mc, " introduction=%s addresses=%zu released=%d%s",
		    fn->fn_courier, fn->fn_count, fn->fn_released, fn->fn_flag ?
		    " token=accepted" : "");
		break;
	default:
		break;
	}
}

static const struct fed_ops fgfed_ops = {
	.fo_queue = fgfed_queue,
	.fo_deliver = fgfed_deliver,
	.fo_hold = fgfed_hold,
	.fo_notice = fgfed_notice,
	.fo_held = fgfed_held,
	.fo_held_done = fgfed_held_done,
	.fo_note = fgfed_note,
};

void
fgfed_init(struct fed *fd, struct msg *mc, PGconn *db)
{
	const struct fg *fg = mc->mc_fg;

	memset(fd, 0, sizeof(*fd));
	fd->fd_kind = PKI_KIND_FG;
	fd->fd_conf = fg->fg_conf;
	fd->fd_endpoint = fg->fg_conf->cf_service_mailbox;
	fd->fd_id = &fg->fg_id;
	fd->fd_trust = fg->fg_trust;
	fd->fd_self_pem = fg->fg_self_pem;
	fd->fd_db = db;
	fd->fd_ops = &fgfed_ops;
	fd->fd_arg = mc;
}

int
fed_send_local(struct msg *mc, PGconn *db, const struct tmail *tm,
    const char *rcpt, const char *courier, const unsigned char *sealed,
    size_t sealedlen)
{
	struct fed fd;
	struct fed_item it;
	char used[ROUTE_IDLEN], err[TN_ERRLEN];

	fgfed_init(&fd, mc, db);
	memset(&it, 0, sizeof(it));
	it.it_msgid = tm->tm_msgid;
	it.it_sender = mc->mc_sender;
	it.it_rcpt = rcpt;
	it.it_hops = 1;
	it.it_payload = sealed;
	it.it_paylen = sealedlen;
	if (fed_send(&fd, courier, NULL, &it, used, err) != 0) {
		msg_fail(mc, MSG_TEMP, "4.3.0 recipient %s: %s", rcpt, err);
		return -1;
	}
	msg_note(mc, " to=%s", used);
	return 0;
}

int
fed_reject(struct msg *mc, PGconn *db, const struct proto_msg *pm)
{
	const struct fg *fg = mc->mc_fg;
	const struct proto_part *fc, *ch;
	const char *why, *addr = proto_get(pm, "Address");
	struct intro *peer = NULL;
	struct fed fd;
	char err[TN_ERRLEN];
	int fresh, rc = -1;

	fgfed_init(&fd, mc, db);
	if ((why = fed_reject_why(&fd, pm, mc->mc_sender)) != NULL ||
	    (fc = proto_part(pm, "fg-cert")) == NULL) {
		msg_fail(mc, MSG_PERM, "5.7.1 invitation-reject: %s", why !=
		    NULL ? why : "no fg-cert part: the inviting foreground is "
		    "unknown");
		return -1;
	}
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
	if ((fresh = fed_seen(&fd, proto_get(pm, "Id"), "invitation-reject",
	    err)) == -1 || (fresh && fed_introduce(&fd, peer, &addr, 1,
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

/* The service mailbox leaves the envelope; nobody else: discarded. */
static void
fgfed_consume(struct msg *mc)
{
	const char *box = mc->mc_fg->fg_conf->cf_service_mailbox;
	size_t i, others = 0;

	for (i = 0; i < mc->mc_nrcpts; i++) {
		if (strcmp(mc->mc_rcpts[i], box) == 0)
			mc->mc_drop[i] = 1;
		else
			others++;
	}
	if (others == 0)
		mc->mc_discard = 1;
}

/* Unwrap; the signer, an FG whose mailbox is the From, in *peer. */
static int
fgfed_open(struct msg *mc, struct tmail *tm, unsigned char **in,
    size_t *inlen, struct intro **peer)
{
	const struct fg *fg = mc->mc_fg;
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	enum cms_fail fail;
	char err[TN_ERRLEN];
	int rc = -1;

	if (cms_unwrap(tm->tm_der, tm->tm_derlen, &fg->fg_id,
	    pki_trust_store(fg->fg_trust), in, inlen, &signer, &certs, &fail,
	    err) == -1) {
		msg_fail(mc, fail == CMS_FAIL_INTERNAL ? MSG_TEMP : MSG_PERM,
		    "%s inter-courier: %s", fail == CMS_FAIL_INTERNAL ?
		    "4.3.0" : "5.7.7", err);
		goto out;
	}
	if (intro_check(fg->fg_trust, signer, certs, PKI_KIND_FG, peer,
	    err) == -1) {
		msg_fail(mc, MSG_PERM, "5.7.7 inter-courier: signer: %s", err);
		goto out;
	}
	if (strcasecmp((*peer)->in_endpoint, tm->tm_from) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 inter-courier: From: %s is not "
		    "the signer's mailbox", tm->tm_from);
		goto out;
	}
	rc = 0;
out:
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int
fed_process(struct msg *mc, PGconn *db, struct tmail *tm)
{
	struct proto_msg *pm = NULL;
	struct intro *peer = NULL;
	struct fed fd;
	unsigned char *in = NULL;
	size_t inlen = 0;
	const char *what;
	char why[TN_ERRLEN], err[TN_ERRLEN];
	enum fed_status st;
	int rc = -1;

	if (strcmp(tm->tm_from, mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 From: %s is not the envelope "
		    "sender", tm->tm_from);
		return -1;
	}
	if (fgfed_open(mc, tm, &in, &inlen, &peer) == -1)
		goto out;
	msg_note(mc, " peer=%s", peer->in_courier);
	if (proto_parse((const char *)in, inlen, &pm, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.6.0 inter-courier: %s", err);
		goto out;
	}
	fgfed_init(&fd, mc, db);
	why[0] = err[0] = '\0';
	if (pm->pm_kind == PROTO_INTER_COURIER) {
		what = "inter-courier";
		st = fed_take_ic(&fd, peer, (const char *)in, inlen, why, err);
	} else if (pm->pm_kind == PROTO_INTRODUCTION) {
		what = "introduction";
		st = fed_take_intro(&fd, peer, (const char *)in, inlen, why,
		    err);
	} else {
		msg_fail(mc, MSG_PERM, "5.6.0 inter-courier: kind %s not "
		    "handled here", proto_kind_name(pm->pm_kind));
		goto out;
	}
	switch (st) {
	case FED_TAKEN:
	case FED_DUPLICATE:
		fgfed_consume(mc);
		rc = 0;
		break;
	case FED_UNVERIFIED:
		msg_fail(mc, MSG_PERM, "5.7.7 %s: %s", what, why);
		break;
	case FED_REFUSED:
		msg_fail(mc, MSG_PERM, "5.7.1 %s: %s", what, why);
		break;
	case FED_BAD:
		msg_fail(mc, MSG_PERM, "5.6.0 %s: %s", what, why);
		break;
	default:
		msg_fail(mc, MSG_TEMP, "4.3.0 %s: %s", what, err);
		break;
	}
out:
	proto_msg_free(pm);
	intro_free(peer);
	free(in);
	return rc;
}
