/*
 * NAME
 *	fgfed.c - the foreground between couriers: its hands for the
 *	federation engine (lib/fed.c)
 * DESCRIPTION
 *	See fgfed.h. The engine decides; this file does what only a
 *	foreground does, all through outbox in the caller's transaction:
 *	an inter-courier wrap goes as "Tandem-Kind: inter-courier" mail
 *	from the service mailbox to the other FG's; a delivery is the
 *	sealed content re-wrapped to the agent; a hold also invites; a
 *	notice is plain mail to the sender, signed. The engine's notes
 *	become " key=value" pairs of the message's log line.
 */
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "fed.h"
#include "fgfed.h"
#include "intro.h"
#include "keybox.h"
#include "log.h"
#include "milter.h"
#include "proto.h"
#include "rate.h"
#include "tandem.h"
#include "util.h"

/* An engine's wrap, as mail from the service mailbox to box. */
static int
fgfed_queue(struct fed *fd, const char *box, const char *kind,
    const struct fed_item *it, const unsigned char *wrap, size_t wlen,
    char *err)
{
	struct tmail_head th;
	char id[TN_MAX_MSGID + 1];

	(void)kind;
	(void)it;
	if (tmail_msgid(fd->fd_endpoint, id, sizeof(id)) == -1) {
		tn_err(err, "out of memory");
		return -1;
	}
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_INTER_COURIER;
	th.th_from = fd->fd_endpoint;
	th.th_to = &box;
	th.th_nto = 1;
	th.th_msgid = id;
	return fgdb_mail(fd->fd_db, &th, NULL, NULL, wrap, wlen, err);
}

/* Re-wrap to the local agent; a content mail From: the sender. */
static int
fgfed_deliver(struct fed *fd, const struct fed_item *it, char *err)
{
	struct msg *mc = fd->fd_arg;
	const char *p[1] = { it->it_rcpt };
	struct tmail_head th;
	PGresult *r = NULL;
	X509 *x = NULL;
	int rc = -1;

	if (db_exec(fd->fd_db, "SELECT agent_cert FROM accounts WHERE "
	    "address = lower($1) AND status = 'active' AND agent_cert IS NOT "
	    "NULL", 1, p, NULL, &r, err) == -1)
		return -1;
	if (PQntuples(r) != 1)
		rc = 1;
	else if ((x = objcache_cert(mc->mc_fg->fg_cache, PQgetvalue(r, 0, 0),
	    (size_t)PQgetlength(r, 0, 0), err)) != NULL) {
		memset(&th, 0, sizeof(th));
		th.th_kind = TMAIL_CONTENT;
		th.th_from = it->it_sender;
		th.th_to = &it->it_rcpt;
		th.th_nto = 1;
		th.th_msgid = it->it_msgid;
		rc = fgdb_mail(fd->fd_db, &th, fd->fd_id, x, it->it_payload,
		    it->it_paylen, err);
	}
	X509_free(x);
	PQclear(r);
	return rc;
}

static int
fgfed_hold(struct fed *fd, const struct fed_item *it, char *err)
{
	struct msg *mc = fd->fd_arg;
	int r;

	/*
	 * Over foreground.max_invitations: the peer's MTA waits too. 1:
	 * declined, the sender told (fgdb.c).
	 */
	r = fgdb_hold(mc->mc_fg, fd->fd_db, mc->mc_qid, it->it_msgid,
	    it->it_sender, it->it_rcpt, it->it_payload, it->it_paylen, it,
	    err);
	return r == 0 || r == 1 ? r : -1;
}

/*
 * A held body, opened with the held key; one held before that key
 * existed is as received. 1 when it does not open (logged, kept).
 */
static int
fgfed_open_held(struct fed *fd, const struct fed_item *it,
    unsigned char **out, size_t *outlen, char *err)
{
	struct msg *mc = fd->fd_arg;
	char why[TN_ERRLEN];

	if (!keybox_is_held(it->it_payload, it->it_paylen)) {
		if ((*out = malloc(it->it_paylen)) == NULL) {
			tn_err(err, "out of memory");
			return -1;
		}
		memcpy(*out, it->it_payload, it->it_paylen);
		*outlen = it->it_paylen;
		return 0;
	}
	if (keybox_open_held(mc->mc_fg->fg_heldbox, it->it_msgid, it->it_rcpt,
	    it->it_payload, it->it_paylen, out, outlen, why) == -1) {
		log_warn("held msgid=%s rcpt=%s status=unopened reason=\"%s\"",
		    it->it_msgid, it->it_rcpt, why);
		return 1;
	}
	return 0;
}

/* A signed non-delivery notice to the sender, null envelope sender. */
static int
fgfed_notice(struct fed *fd, const struct fed_item *it, const char *reason,
    char *err)
{
	struct tmail_notice tn;
	char id[TN_MAX_MSGID + 1], *mail = NULL;
	size_t mlen;
	int rc = -1;

	msg_note(fd->fd_arg, " notice=\"%s\"", reason);
	memset(&tn, 0, sizeof(tn));
	tn.tn_from = fd->fd_endpoint;
	tn.tn_to = it->it_sender;
	tn.tn_courier = fd->fd_conf->cf_name;
	tn.tn_msgid = it->it_msgid;
	tn.tn_rcpt = it->it_rcpt;
	tn.tn_reason = reason;
	tn.tn_id = fd->fd_id;
	if (tmail_notice(&tn, &mail, &mlen, id, sizeof(id), err) == 0 &&
	    fgdb_outbox(fd->fd_db, id, "", it->it_sender, mail, mlen,
	    err) == 0)
		rc = 0;
	free(mail);
	return rc;
}

/* A held message sent on to courier: its invitation is void. */
static int
fgfed_released(struct fed *fd, const struct fed_item *it,
    const char *courier, char *err)
{
	const char *p[1] = { it->it_rcpt };
	PGresult *r = NULL;
	char c[UTIL_ESCLEN];

	if (courier == NULL)
		return 0;
	if (db_exec(fd->fd_db, "UPDATE invitations SET status = 'rejected' "
	    "WHERE address = lower($1) AND status = 'pending'", 1, p, NULL, &r,
	    err) == -1)
		return -1;
	if (strcmp(PQcmdTuples(r), "0") != 0)
		log_info("withdrawn invitation rcpt=%s courier=%s", it->it_rcpt,
		    util_escape(courier, c, sizeof(c), 0));
	PQclear(r);
	return 0;
}

/* What the engine did, in the message's log line; names escaped. */
static void
fgfed_note(struct fed *fd, const struct fed_note *fn)
{
	struct msg *mc = fd->fd_arg;
	const struct fed_item *it = fn->fn_item;
	const struct intro_ic *ic = fn->fn_ic;
	char c[UTIL_ESCLEN], o[UTIL_ESCLEN], t[UTIL_ESCLEN], w[UTIL_ESCLEN];

	util_escape(fn->fn_courier, c, sizeof(c), 0);
	util_escape(fn->fn_text, t, sizeof(t), 0);
	switch (fn->fn_event) {
	case FED_EV_IC:
		msg_note(mc, " ic=%s msgid=%s origin=%s hops=%u", ic->ic_id,
		    ic->ic_msgid, util_escape(ic->ic_origin, o, sizeof(o), 0),
		    ic->ic_hops);
		break;
	case FED_EV_DUPLICATE:
		if (ic != NULL)
			msg_note(mc, " duplicate=yes");
		else
			msg_note(mc, " introduction=%s duplicate=yes", c);
		break;
	case FED_EV_ROUTE:
		msg_note(mc, " rcpt=%s route=%s", it->it_rcpt, t);
		break;
	case FED_EV_FORWARD:
		msg_note(mc, " forwarded=%s%s", c, fn->fn_flag ?
		    " origin-replaced=yes" : "");
		break;
	case FED_EV_INTRODUCE:
		msg_note(mc, " introduced=%s", c);
		break;
	case FED_EV_RELEASED:
		log_info("released msgid=%s rcpt=%s to=%s", it->it_msgid,
		    it->it_rcpt, fn->fn_courier != NULL ? c : "agent");
		break;
	case FED_EV_REFUSED:
		log_info("courier refused courier=%s claim=\"%s\" "
		    "reason=\"%s\"", c, util_escape(fn->fn_text, t, sizeof(t),
		    UTIL_ESC_SPACE), util_escape(fn->fn_endpoint, w, sizeof(w),
		    UTIL_ESC_SPACE));
		break;
	case FED_EV_INTRO:
		msg_note(mc, " introduction=%s addresses=%zu released=%d%s", c,
		    fn->fn_count, fn->fn_released, fn->fn_flag ?
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
	.fo_open_held = fgfed_open_held,
	.fo_released = fgfed_released,
	.fo_note = fgfed_note,
};

void
fgfed_init(struct fed *fd, struct msg *mc, PGconn *db)
{
	const struct fg *fg = mc->mc_fg;

	fed_init(fd, PKI_KIND_FG, fg->fg_conf, &fg->fg_id, fg->fg_trust,
	    fg->fg_self_pem, db, &fgfed_ops, mc);
}

int
fed_send_local(struct msg *mc, PGconn *db, const struct tmail *tm,
    const char *rcpt, const char *courier, const unsigned char *sealed,
    size_t sealedlen)
{
	struct fed fd;
	char used[ROUTE_IDLEN], err[TN_ERRLEN];

	fgfed_init(&fd, mc, db);
	if (fed_send_own(&fd, courier, tm->tm_msgid, mc->mc_sender, rcpt,
	    sealed, sealedlen, used, err) != 0) {
		msg_fail(mc, MSG_TEMP, "4.3.0 recipient %s: %s", rcpt, err);
		return -1;
	}
	msg_note(mc, " to=%s", used);
	return 0;
}

int
fed_reject(struct msg *mc, PGconn *db, const struct proto_msg *pm)
{
	struct fed fd;
	char why[TN_ERRLEN], err[TN_ERRLEN];
	enum fed_status st;

	fgfed_init(&fd, mc, db);
	switch (st = fed_take_reject(&fd, pm, mc->mc_sender, why, err)) {
	case FED_TAKEN:
	case FED_DUPLICATE:
		msg_note(mc, " invitation-reject=%s inviting=%s status=%s",
		    proto_get(pm, "Address"), proto_get(pm,
		    "Inviting-Courier"), st == FED_TAKEN ? "introduced" :
		    "duplicate");
		return 0;
	case FED_ERROR:
		msg_fail(mc, MSG_TEMP, "4.3.0 invitation-reject: %s", err);
		return -1;
	default:
		msg_fail(mc, MSG_PERM, "%s invitation-reject: %s", st ==
		    FED_UNVERIFIED ? "5.7.7" : "5.7.1", why);
		return -1;
	}
}

int
fed_process(struct msg *mc, PGconn *db, struct tmail *tm)
{
	struct proto_msg *pm = NULL;
	struct intro *peer = NULL;
	struct fed fd;
	X509 *signer = NULL;
	unsigned char *in = NULL;
	size_t inlen = 0;
	const char *what = "inter-courier";
	char why[TN_ERRLEN], err[TN_ERRLEN];
	enum fed_status st;
	int rc = -1, tell;

	if (strcmp(tm->tm_from, mc->mc_sender) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 From: %s is not the envelope "
		    "sender", tm->tm_from);
		return -1;
	}
	fgfed_init(&fd, mc, db);
	why[0] = err[0] = '\0';
	if ((st = fed_open(&fd, tm->tm_der, tm->tm_derlen, &in, &inlen, &peer,
	    &signer, why)) != FED_TAKEN) {
		if (st == FED_ERROR)
			msg_fail(mc, MSG_TEMP, "4.3.0 inter-courier: %s", why);
		else
			msg_fail(mc, MSG_PERM, "5.7.7 inter-courier: %s", why);
		goto out;
	}
	if (strcasecmp(peer->in_endpoint, tm->tm_from) != 0) {
		msg_fail(mc, MSG_PERM, "5.7.1 inter-courier: From: %s is not "
		    "the signer's mailbox", tm->tm_from);
		goto out;
	}
	msg_note(mc, " peer=%s", peer->in_courier);
	if (rate_take(mc->mc_fg->fg_proc->fp_rate, peer->in_courier,
	    mc->mc_fg->fg_conf->cf_fg_peer_rate, &tell) == -1) {
		/* A flood: its MTA sends again later; said once a minute. */
		msg_fail(mc, MSG_TEMP, "4.7.0 inter-courier: more than %d "
		    "messages a minute from courier %s "
		    "(foreground.max_peer_rate); try again later",
		    mc->mc_fg->fg_conf->cf_fg_peer_rate, peer->in_courier);
		if (tell)
			msg_note(mc, " limited=once-a-minute");
		mc->mc_quiet = !tell;
		goto out;
	}
	if (proto_parse((const char *)in, inlen, &pm, err) == -1) {
		msg_fail(mc, MSG_PERM, "5.6.0 inter-courier: %s", err);
		goto out;
	}
	if (pm->pm_kind == PROTO_INTER_COURIER) {
		st = fed_take_ic(&fd, peer, (const char *)in, inlen, why, err);
	} else if (pm->pm_kind == PROTO_INTRODUCTION) {
		what = "introduction";
		st = fed_take_intro(&fd, peer, (const char *)in, inlen, why,
		    err);
	} else {
		/* A transfer's: its verdict set, its log line written. */
		if ((rc = transfer_take(mc, &fd, peer, signer, pm)) == 0)
			msg_consume(mc);
		goto out;
	}
	switch (st) {
	case FED_TAKEN:
	case FED_DUPLICATE:
		msg_consume(mc);
		rc = 0;
		break;
	case FED_UNVERIFIED:
		msg_fail(mc, MSG_PERM, "5.7.7 %s: %s", what, why);
		break;
	case FED_REFUSED:
		msg_fail(mc, MSG_PERM, "5.7.1 %s: %s", what, why);
		db_rollback(db);	/* the refusal alone is kept */
		if (fed_refusal(&fd, err) == -1)
			log_warn("%s refusal status=error reason=\"%s\"",
			    mc->mc_qid, err);
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
	X509_free(signer);
	if (in != NULL)
		OPENSSL_clear_free(in, inlen);
	return rc;
}
