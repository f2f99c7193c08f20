/*
 * NAME
 *	transfer.c - registration transfer, the foreground's part
 *	(doc/flows.md 9)
 * SYNOPSIS
 *	#include "milter.h"
 *
 *	int	transfer_send(const struct fg *fg, PGconn *db, char *err);
 *
 *	int	transfer_take(struct msg *mc, struct fed *fd,
 *		    const struct intro *peer, X509 *signer,
 *		    const struct proto_msg *pm);
 *	int	transfer_agent(struct msg *mc, PGconn *db,
 *		    const unsigned char *in, size_t inlen);
 *	int	transfer_activate(struct msg *mc, PGconn *db,
 *		    const char *address);
 * DESCRIPTION
 *	transfer_send() runs in the sender thread's transaction: each
 *	outgoing transfer that is started, or subscribed and not answered
 *	within hygiene.hold_limit, gets its transfer-subscription (step
 *	3), wrapped to the other courier's foreground, the one under the
 *	CA key the transfer names; one that cannot go is left with its
 *	reason in last_error.
 *
 *	transfer_take() handles the three kinds one foreground sends
 *	another, read by fed_process() from a signer that verifies to
 *	the anchors as an FG element (peer): transfer-subscription at the
 *	new courier (step 4), config-update (steps 5-6) and
 *	transfer-complete (step 9) at the old one. Each is taken only
 *	from the courier the transfer names, under the CA key it was
 *	bound to, fresh and once; a refusal is a permanent error, logged
 *	"transfer=refused", and changes nothing.
 *
 *	transfer_agent() handles what the agent of an address being
 *	transferred here sends before it holds keys of this courier:
 *	in (inlen), the content of a service mail enveloped to the FG
 *	element, is a SignedData whose signer must be the account's
 *	agent certificate (exchange-keys, the transferred one) or the new
 *	one of its rekey (rekeying-complete); service_take() and rekey.c
 *	do the rest.
 *
 *	transfer_activate() is called by rekey_complete(): when address
 *	is pending by an incoming transfer, the account becomes active,
 *	the transfer complete, transfer-complete is queued to the old
 *	courier and the mail held for the address is released (step 8).
 *	0 when there is nothing to do.
 *
 *	All but transfer_send() run in the transaction of msg_process()
 *	and return 0, or -1 with the verdict set, as service_process()
 *	does.
 * DIAGNOSTICS
 *	transfer_send(): 0, or -1 with the reason in err.
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
#include "util.h"

/*
 * The transfer's rekey makes the agent's first generation here; the
 * agent's exchange-keys renumbers it to the one after its generation
 * at the old courier (the notice asked for that one).
 */
#define TRANSFER_GENERATION	"2"

/* pm with a new Id and Date, wrapped to cert, mailed to endpoint. */
static int
transfer_mail(const struct fg *fg, PGconn *db, struct proto_msg *pm,
    const char *endpoint, X509 *cert, char *id, char *err)
{
	struct tmail_head th;
	char now[32], *text = NULL;
	size_t len;
	int rc = -1;

	proto_format_time(time(NULL), now, sizeof(now));
	if (tmail_msgid(fg->fg_conf->cf_service_mailbox, id,
	    TN_MAX_MSGID + 1) == -1) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (proto_set(pm, "Id", id, err) || proto_set(pm, "Date", now, err) ||
	    proto_format(pm, &text, &len, err) == -1)
		goto out;
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_INTER_COURIER;
	th.th_from = fg->fg_conf->cf_service_mailbox;
	th.th_to = &endpoint;
	th.th_nto = 1;
	th.th_msgid = id;
	rc = fgdb_mail(db, &th, &fg->fg_id, cert, (unsigned char *)text, len,
	    err);
out:
	free(text);
	return rc;
}

/* The transfer-subscription of row i of r: sent, and subscribed. */
static int
transfer_subscribe(const struct fg *fg, struct fed *fd, PGresult *r, int i,
    char *err)
{
	PGconn *db = fd->fd_db;
	const char *tid = PQgetvalue(r, i, 0), *address = PQgetvalue(r, i, 1);
	const char *courier = PQgetvalue(r, i, 2), *ca = PQgetvalue(r, i, 3);
	const char *acert = PQgetvalue(r, i, 4);
	struct proto_msg *pm = NULL;
	char id[TN_MAX_MSGID + 1], *endpoint = NULL, *part = NULL;
	X509 *cert = NULL;
	int found, rc = -1;

	if (PQgetisnull(r, i, 4)) {
		tn_err(err, "%s is not an active account here", address);
		return -1;
	}
	if (PQgetisnull(r, i, 3) || (found = fed_peer(fd, courier, ca,
	    &endpoint, &cert, NULL, err)) == 0) {
		tn_err(err, "no foreground of %s under the CA key the transfer "
		    "names is introduced", courier);
		return -1;
	}
	if (found == -1)
		return -1;
	/* The agent certificate, then the chain of the CA that issued it. */
	if (asprintf(&part, "%s%s", acert, fg->fg_chain_pem) == -1) {
		part = NULL;
		tn_err(err, "out of memory");
		goto out;
	}
	if ((pm = proto_msg_new(PROTO_TRANSFER_SUBSCRIPTION)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (proto_set(pm, "Address", address, err) ||
	    proto_set(pm, "From-Courier", fg->fg_conf->cf_name, err) ||
	    proto_set(pm, "To-Courier", courier, err) ||
	    proto_attach(pm, "agent-cert", part, strlen(part), err) ||
	    transfer_mail(fg, db, pm, endpoint, cert, id, err) == -1)
		goto out;
	{
		const char *q[2] = { tid, id };

		if (db_run(db, "UPDATE transfers SET state = 'subscribed', "
		    "message_id = $2, sent_at = now(), last_error = NULL WHERE "
		    "id = $1", 2, q, err) == -1)
			goto out;
	}
	log_info("transfer address=%s to=%s status=subscribed id=%s", address,
	    courier, id);
	rc = 0;
out:
	proto_msg_free(pm);
	free(part);
	free(endpoint);
	X509_free(cert);
	return rc;
}

int
transfer_send(const struct fg *fg, PGconn *db, char *err)
{
	char limit[32], why[TN_ERRLEN];
	const char *p[1] = { limit };
	struct fed fd;
	PGresult *r = NULL;
	int i, n;

	fed_init(&fd, PKI_KIND_FG, fg->fg_conf, &fg->fg_id, fg->fg_trust,
	    fg->fg_self_pem, db, NULL, NULL);
	snprintf(limit, sizeof(limit), "%ld", fg->fg_conf->cf_hold_limit);
	if (db_exec(db, "SELECT t.id, t.address, t.other_courier, t.other_ca, "
	    "a.agent_cert FROM transfers t LEFT JOIN accounts a ON a.address "
	    "= t.address AND a.status = 'active' WHERE t.direction = "
	    "'outgoing' AND (t.state = 'started' OR (t.state = 'subscribed' "
	    "AND t.sent_at < now() - make_interval(secs => $1::bigint))) AND "
	    "(t.last_error IS NULL OR t.updated_at < now() - interval '60 "
	    "seconds') ORDER BY t.id FOR UPDATE OF t SKIP LOCKED", 1, p, NULL,
	    &r, err) == -1)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		const char *q[2] = { PQgetvalue(r, i, 0), why };

		if (db_run(db, "SAVEPOINT transfer", 0, NULL, err) == -1)
			break;
		if (transfer_subscribe(fg, &fd, r, i, why) == 0) {
			if (db_run(db, "RELEASE SAVEPOINT transfer", 0, NULL,
			    err) == -1)
				break;
			continue;
		}
		log_warn("transfer address=%s to=%s status=deferred "
		    "error=\"%s\"", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
		    why);
		if (db_run(db, "ROLLBACK TO SAVEPOINT transfer", 0, NULL,
		    err) == -1 ||
		    db_run(db, "UPDATE transfers SET last_error = $2 WHERE "
		    "id = $1", 2, q, err) == -1)
			break;
	}
	PQclear(r);
	return i < n ? -1 : 0;
}

/* A refusal: a permanent error for the other courier, and a log line. */
static int
transfer_refuse(struct msg *mc, const struct proto_msg *pm,
    const struct intro *peer, const char *fmt, ...) TN_PRINTF(4, 5);

static int
transfer_refuse(struct msg *mc, const struct proto_msg *pm,
    const struct intro *peer, const char *fmt, ...)
{
	char why[TN_ERRLEN], c[UTIL_ESCLEN], w[UTIL_ESCLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_info("%s transfer=refused kind=%s address=%s courier=%s "
	    "reason=\"%s\"", mc->mc_qid, proto_kind_name(pm->pm_kind),
	    proto_get(pm, "Address"), util_escape(peer->in_courier, c,
	    sizeof(c), 0), util_escape(why, w, sizeof(w), UTIL_ESC_SPACE));
	msg_fail(mc, MSG_PERM, "5.7.1 %s: %s", proto_kind_name(pm->pm_kind),
	    why);
	return -1;
}

static int
transfer_temp(struct msg *mc, const struct proto_msg *pm, const char *err)
{
	msg_fail(mc, MSG_TEMP, "4.3.0 %s: %s", proto_kind_name(pm->pm_kind),
	    err);
	return -1;
}

/*
 * The open transfer of address in direction, in one of states (a
 * comma-separated list), with courier, locked: 1 with its id, CA key
 * and state in *r; 0 when none.
 */
static int
transfer_find(PGconn *db, const char *address, const char *direction,
    const char *states, const char *courier, PGresult **r, char *err)
{
	const char *p[4] = { address, direction, states, courier };

	if (db_exec(db, "SELECT id, other_ca, state FROM transfers WHERE "
	    "address = lower($1) AND direction = $2 AND state = ANY "
	    "(string_to_array($3, ',')) AND lower(other_courier) = lower($4) "
	    "FOR UPDATE", 4, p, NULL, r, err) == -1)
		return -1;
	return PQntuples(*r) > 0;
}

/*
 * What every message of a transfer must be: for a transfer of this
 * Address with the signer's courier, under the CA key it names, fresh,
 * once. 0 with the transfer in *r; -1 with the verdict set.
 */
static int
transfer_check(struct msg *mc, struct fed *fd, const struct intro *peer,
    const struct proto_msg *pm, const char *direction, const char *states,
    PGresult **r)
{
	const char *address = proto_get(pm, "Address");
	const char *kind = proto_kind_name(pm->pm_kind);
	char err[TN_ERRLEN];
	int found;

	*r = NULL;
	if (fed_fresh(fd, proto_get(pm, "Date"), "Date", err) == -1)
		return transfer_refuse(mc, pm, peer, "%s", err);
	if ((found = transfer_find(fd->fd_db, address, direction, states,
	    peer->in_courier, r, err)) == -1)
		return transfer_temp(mc, pm, err);
	if (found == 0)
		return transfer_refuse(mc, pm, peer, "no transfer of %s %s %s "
		    "awaits a %s", address, strcmp(direction, "incoming") ==
		    0 ? "from" : "to", peer->in_courier, kind);
	if (PQgetisnull(*r, 0, 1) || strcmp(PQgetvalue(*r, 0, 1),
	    peer->in_key) != 0)
		return transfer_refuse(mc, pm, peer, "the signer is not under "
		    "the CA key the transfer of %s names", address);
	if ((found = fed_seen(fd, proto_get(pm, "Id"), kind, err)) == -1)
		return transfer_temp(mc, pm, err);
	if (found == 0)
		return transfer_refuse(mc, pm, peer, "Id %s was taken already "
		    "(replay)", proto_get(pm, "Id"));
	return 0;
}

/*
 * The agent certificate of part agent-cert: for address, to the
 * anchors, an agent's, issued by the courier CA of the signer (peer).
 */
static int
transfer_agent_cert(const struct fg *fg, const struct proto_part *pp,
    const char *address, const struct intro *peer, char *err)
{
	STACK_OF(X509) *certs;
	X509 *leaf, *ca;
	char kid[PKI_KEYIDLEN + 1];
	int rc = -1;

	if ((certs = pki_parse_certs((const char *)pp->pp_data, pp->pp_len,
	    err)) == NULL)
		return -1;
	if ((leaf = sk_X509_shift(certs)) == NULL)
		tn_err(err, "no certificate");
	else if (pki_verify(fg->fg_trust, leaf, certs, address, err) == -1)
		;
	else if (pki_cert_kind(leaf) != PKI_KIND_AGENT)
		tn_err(err, "not an agent certificate");
	else if ((ca = pki_courier_ca(leaf, certs)) == NULL ||
	    pki_key_id(ca, kid) == -1 || strcmp(kid, peer->in_key) != 0)
		tn_err(err, "not issued by the courier that sends it");
	else
		rc = 0;
	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/*
 * The account of a transfer: pending, the transferred agent certificate
 * (the first of pem), no keys of this courier yet, the rekey that will
 * make them; an address that once left comes back without its history.
 * 0; 1 when an account of the address was made meanwhile (err says so);
 * -1.
 */
static int
transfer_account(PGconn *db, const char *address, const char *pem,
    const char *from, char *err)
{
	const char *p[3] = { address, pem, from };
	const char *q[2] = { address, from };
	int r;

	/* Not an account made meanwhile: only one that left or closed. */
	if ((r = db_one(db, "INSERT INTO accounts (address, status, "
	    "agent_cert, transferred_from) VALUES (lower($1), 'pending', $2, "
	    "$3) ON CONFLICT (address) DO UPDATE SET status = 'pending', "
	    "agent_cert = $2, courier_cert = NULL, redirect_to = NULL, "
	    "transferred_from = $3, created_at = now() WHERE "
	    "accounts.status IN ('transferred', 'closed') RETURNING 1", 3, p,
	    NULL, 0, err)) != 1) {
		if (r == 0)
			tn_err(err, "%s is served here already", address);
		return r == 0 ? 1 : -1;
	}
	return db_run(db, "DELETE FROM rekeys WHERE address = lower($1)", 1,
	    p, err) == -1 ||
	    db_run(db, "DELETE FROM account_keys WHERE address = lower($1)",
	    1, p, err) == -1 ||
	    db_run(db, "INSERT INTO rekeys (address, generation, requested_by, "
	    "reason, state) VALUES (lower($1), " TRANSFER_GENERATION ", "
	    "'transfer', 'transfer from ' || $2, 'noticed')", 2, q,
	    err) == -1 ? -1 : 0;
}

/* Step 4 at the new courier: the account, and config-update back. */
static int
transfer_subscription(struct msg *mc, struct fed *fd,
    const struct intro *peer, X509 *signer, const struct proto_msg *pm)
{
	const struct fg *fg = mc->mc_fg;
	const char *address = proto_get(pm, "Address");
	const struct proto_part *acert = proto_part(pm, "agent-cert");
	struct proto_msg *up = NULL;
	char err[TN_ERRLEN], id[TN_MAX_MSGID + 1], *first = NULL, *end;
	PGresult *r = NULL;
	int again, made, rc = -1;

	if (strcasecmp(proto_get(pm, "To-Courier"), fg->fg_conf->cf_name) !=
	    0)
		return transfer_refuse(mc, pm, peer, "To-Courier %s is not this "
		    "courier", proto_get(pm, "To-Courier"));
	if (strcasecmp(proto_get(pm, "From-Courier"), peer->in_courier) != 0)
		return transfer_refuse(mc, pm, peer, "From-Courier %s is not "
		    "the signer's courier", proto_get(pm, "From-Courier"));
	if (fg->fg_conf->cf_role == PKI_ROLE_PRIVATE &&
	    !fed_serves(fd, address))
		return transfer_refuse(mc, pm, peer, "%s is outside the domains "
		    "of this private courier", address);
	if (acert == NULL)
		return transfer_refuse(mc, pm, peer, "no part agent-cert");
	if (fg->fg_conf->cf_url == NULL || fg->fg_conf->cf_url[0] == '\0')
		return transfer_temp(mc, pm, "background.url is not set here: "
		    "the agent could not reach this courier's background");
	/* Sent again (the answer was lost): answered again. */
	if (transfer_check(mc, fd, peer, pm, "incoming", "recorded,subscribed",
	    &r) == -1)
		goto out;
	again = strcmp(PQgetvalue(r, 0, 2), "subscribed") == 0;
	if (transfer_agent_cert(fg, acert, address, peer, err) == -1) {
		transfer_refuse(mc, pm, peer, "agent-cert: %s", err);
		goto out;
	}
	/* The account keeps the agent certificate alone, not its chain. */
	if ((end = strstr((const char *)acert->pp_data,
	    "-----END CERTIFICATE-----")) == NULL ||
	    (first = strndup((const char *)acert->pp_data, (size_t)(end -
	    (const char *)acert->pp_data) + 26)) == NULL) {
		transfer_temp(mc, pm, "out of memory");
		goto out;
	}
	if ((up = proto_msg_new(PROTO_CONFIG_UPDATE)) == NULL) {
		transfer_temp(mc, pm, "out of memory");
		goto out;
	}
	if (!again && (made = transfer_account(fd->fd_db, address, first,
	    peer->in_courier, err)) != 0) {
		if (made == 1)
			transfer_refuse(mc, pm, peer, "%s", err);
		else
			transfer_temp(mc, pm, err);
		goto out;
	}
	{
		const char *q[2] = { PQgetvalue(r, 0, 0), proto_get(pm, "Id") };

		if (db_run(fd->fd_db, "UPDATE transfers SET state = "
		    "'subscribed', message_id = $2, made_account = true, "
		    "last_error = NULL WHERE id = $1", 2, q, err) == -1 ||
		    proto_set(up, "Address", address, err) ||
		    proto_set(up, "Courier", fg->fg_conf->cf_name, err) ||
		    proto_set(up, "Foreground-Address",
		    fg->fg_conf->cf_service_mailbox, err) ||
		    proto_set(up, "Background-Url", fg->fg_conf->cf_url, err) ||
		    proto_attach(up, "ca-chain", fg->fg_self_pem,
		    strlen(fg->fg_self_pem), err) ||
		    transfer_mail(fg, fd->fd_db, up, peer->in_endpoint, signer,
		    id, err) == -1) {
			transfer_temp(mc, pm, err);
			goto out;
		}
	}
	msg_note(mc, " transfer=%s from=%s status=subscribed answer=%s%s",
	    address, peer->in_courier, id, again ? " again=1" : "");
	rc = 0;
out:
	proto_msg_free(up);
	free(first);
	PQclear(r);
	return rc;
}

/* Steps 5-6 at the old courier: the notice naming the new courier. */
static int
transfer_config(struct msg *mc, struct fed *fd, const struct intro *peer,
    X509 *signer, const struct proto_msg *pm)
{
	const struct fg *fg = mc->mc_fg;
	const char *address = proto_get(pm, "Address");
	const struct proto_part *chain = proto_part(pm, "ca-chain");
	struct proto_msg *nt = NULL;
	STACK_OF(X509) *certs = NULL;
	char err[TN_ERRLEN], id[TN_MAX_MSGID + 1], now[32], deadline[32];
	char reason[256], *text = NULL;
	PGresult *r = NULL, *a = NULL;
	size_t len;
	int rc = -1;

	if (strcasecmp(proto_get(pm, "Courier"), peer->in_courier) != 0)
		return transfer_refuse(mc, pm, peer, "Courier %s is not the "
		    "signer's courier", proto_get(pm, "Courier"));
	if (strcasecmp(proto_get(pm, "Foreground-Address"),
	    peer->in_endpoint) != 0)
		return transfer_refuse(mc, pm, peer, "Foreground-Address %s is "
		    "not the signer's mailbox", proto_get(pm,
		    "Foreground-Address"));
	if ((certs = pki_parse_certs((const char *)chain->pp_data,
	    chain->pp_len, err)) == NULL || sk_X509_num(certs) < 1 ||
	    X509_cmp(sk_X509_value(certs, 0), signer) != 0) {
		sk_X509_pop_free(certs, X509_free);
		return transfer_refuse(mc, pm, peer, "ca-chain does not start "
		    "with the signer's certificate");
	}
	sk_X509_pop_free(certs, X509_free);
	if (transfer_check(mc, fd, peer, pm, "outgoing", "subscribed,rekeying",
	    &r) == -1)
		goto out;
	/* The answer to a subscription sent again: the notice went. */
	if (strcmp(PQgetvalue(r, 0, 2), "rekeying") == 0) {
		msg_note(mc, " transfer=%s to=%s status=rekeying again=1",
		    address, peer->in_courier);
		rc = 0;
		goto out;
	}
	{
		const char *p[1] = { address };

		if (db_exec(fd->fd_db, "SELECT agent_cert, coalesce("
		    "tandem_generation(address), 1) + 1 FROM accounts WHERE "
		    "address = lower($1) AND status = 'active' AND agent_cert "
		    "IS NOT NULL FOR UPDATE", 1, p, NULL, &a, err) == -1) {
			transfer_temp(mc, pm, err);
			goto out;
		}
	}
	if (PQntuples(a) != 1) {
		transfer_refuse(mc, pm, peer, "%s is not an active account "
		    "here", address);
		goto out;
	}
	proto_format_time(time(NULL), now, sizeof(now));
	proto_format_time(time(NULL) + fg->fg_conf->cf_hold_limit, deadline,
	    sizeof(deadline));
	snprintf(reason, sizeof(reason), "your address moves to %s",
	    peer->in_courier);
	if (tmail_msgid(fg->fg_conf->cf_service_mailbox, id, sizeof(id)) ==
	    -1 || (nt = proto_msg_new(PROTO_NOTICE_TO_REKEY)) == NULL) {
		transfer_temp(mc, pm, "out of memory");
		goto out;
	}
	if (proto_set(nt, "Id", id, err) || proto_set(nt, "Date", now, err) ||
	    proto_set(nt, "Address", address, err) ||
	    proto_set(nt, "Generation", PQgetvalue(a, 0, 1), err) ||
	    proto_set(nt, "Reason", reason, err) ||
	    proto_set(nt, "Deadline", deadline, err) ||
	    proto_set(nt, "Courier", peer->in_courier, err) ||
	    proto_set(nt, "Foreground-Address", peer->in_endpoint, err) ||
	    proto_set(nt, "Background-Url", proto_get(pm, "Background-Url"),
	    err) ||
	    proto_attach(nt, "ca-chain", (const char *)chain->pp_data,
	    chain->pp_len, err) ||
	    proto_format(nt, &text, &len, err) == -1 ||
	    rekey_relay(fg, fd->fd_db, address, "notice-to-rekey", id,
	    PQgetvalue(a, 0, 0), text, len, err) == -1) {
		transfer_temp(mc, pm, err);
		goto out;
	}
	{
		const char *q[2] = { PQgetvalue(r, 0, 0), id };

		if (db_run(fd->fd_db, "UPDATE transfers SET state = "
		    "'rekeying', last_error = NULL, notice_id = $2 WHERE id = "
		    "$1", 2, q, err) == -1) {
			transfer_temp(mc, pm, err);
			goto out;
		}
	}
	msg_note(mc, " transfer=%s to=%s status=rekeying notice=%s", address,
	    peer->in_courier, id);
	rc = 0;
out:
	proto_msg_free(nt);
	free(text);
	PQclear(a);
	PQclear(r);
	return rc;
}

/* Step 9 at the old courier: transferred, and what is held goes on. */
static int
transfer_done(struct msg *mc, struct fed *fd, const struct intro *peer,
    const struct proto_msg *pm)
{
	const char *address = proto_get(pm, "Address");
	char err[TN_ERRLEN];
	PGresult *r = NULL;
	int n = 0, rc = -1;

	if (strcasecmp(proto_get(pm, "From-Courier"),
	    mc->mc_fg->fg_conf->cf_name) != 0)
		return transfer_refuse(mc, pm, peer, "From-Courier %s is not "
		    "this courier", proto_get(pm, "From-Courier"));
	if (strcasecmp(proto_get(pm, "To-Courier"), peer->in_courier) != 0)
		return transfer_refuse(mc, pm, peer, "To-Courier %s is not the "
		    "signer's courier", proto_get(pm, "To-Courier"));
	if (transfer_check(mc, fd, peer, pm, "outgoing", "rekeying", &r) == -1)
		goto out;
	{
		const char *t[1] = { PQgetvalue(r, 0, 0) };
		const char *p[2] = { address, peer->in_courier };

		if (db_run(fd->fd_db, "UPDATE accounts SET status = "
		    "'transferred', redirect_to = $2 WHERE address = lower($1) "
		    "AND status = 'active'", 2, p, err) == -1 ||
		    db_run(fd->fd_db, "UPDATE transfers SET state = 'complete', "
		    "completed_at = now(), last_error = NULL WHERE id = $1", 1,
		    t, err) == -1 ||
		    db_run(fd->fd_db, "DELETE FROM bg_relay b USING transfers "
		    "t WHERE t.id = $1 AND b.address = t.address AND "
		    "b.message_id = t.notice_id", 1, t, err) == -1 ||
		    fed_release(fd, address, &n, err) == -1) {
			transfer_temp(mc, pm, err);
			goto out;
		}
	}
	msg_note(mc, " transfer=%s to=%s status=transferred released=%d",
	    address, peer->in_courier, n);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int
transfer_take(struct msg *mc, struct fed *fd, const struct intro *peer,
    X509 *signer, const struct proto_msg *pm)
{
	switch (pm->pm_kind) {
	case PROTO_TRANSFER_SUBSCRIPTION:
		return transfer_subscription(mc, fd, peer, signer, pm);
	case PROTO_CONFIG_UPDATE:
		return transfer_config(mc, fd, peer, signer, pm);
	case PROTO_TRANSFER_COMPLETE:
		return transfer_done(mc, fd, peer, pm);
	default:
		msg_fail(mc, MSG_PERM, "5.6.0 inter-courier: kind %s not "
		    "handled here", proto_kind_name(pm->pm_kind));
		return -1;
	}
}

/*
 * What the agent of a transfer asks, for service_take(): arg is the
 * account's status.
 */
static int
transfer_kind(struct msg *mc, PGconn *db, const struct proto_msg *pm,
    void *arg)
{
	const char *status = arg;
	char err[TN_ERRLEN];

	if (strcmp(status, "active") == 0 &&
	    pm->pm_kind != PROTO_REKEYING_COMPLETE) {
		msg_fail(mc, MSG_PERM, "5.7.1 service mail from %s: no transfer "
		    "of it is in progress here", mc->mc_sender);
		return -1;
	}
	switch (pm->pm_kind) {
	case PROTO_EXCHANGE_KEYS:
		/*
		 * The agent's generations go on from the old courier's: the
		 * transfer's rekey, not answered yet, takes the one it asks.
		 */
		if (strtoul(proto_get(pm, "Generation"), NULL, 10) < 2) {
			msg_fail(mc, MSG_PERM, "5.7.1 exchange-keys: "
			    "Generation %s: a transfer makes generation 2 or "
			    "later", proto_get(pm, "Generation"));
			return -1;
		}
		{
			const char *q[2] = { mc->mc_sender,
			    proto_get(pm, "Generation") };

			if (db_run(db, "UPDATE rekeys SET generation = $2::int "
			    "WHERE address = lower($1) AND requested_by = "
			    "'transfer' AND state = 'noticed'", 2, q,
			    err) == -1) {
				msg_fail(mc, MSG_TEMP, "4.3.0 %s", err);
				return -1;
			}
		}
		return 1;
	case PROTO_REKEYING_COMPLETE:
		return 1;
	default:
		msg_fail(mc, MSG_PERM, "5.6.0 service mail: kind %s is not "
		    "taken from an agent being transferred",
		    proto_kind_name(pm->pm_kind));
		return -1;
	}
}

int
transfer_agent(struct msg *mc, PGconn *db, const unsigned char *in,
    size_t inlen)
{
	const struct fg *fg = mc->mc_fg;
	const char *p[1] = { mc->mc_sender };
	unsigned char *text = NULL;
	size_t tlen = 0;
	X509 *signer = NULL, *agent = NULL;
	PGresult *r = NULL;
	enum cms_fail fail;
	char err[TN_ERRLEN];
	int rc = -1;

	if (cms_verify(in, inlen, pki_trust_store(fg->fg_trust), &text, &tlen,
	    &signer, NULL, &fail, err) == -1) {
		msg_fail(mc, fail == CMS_FAIL_INTERNAL ||
		    fail == CMS_FAIL_CRL ? MSG_TEMP : MSG_PERM,
		    "%s bad service mail: %s", fail == CMS_FAIL_INTERNAL ?
		    "4.3.0" : fail == CMS_FAIL_CRL ? "4.7.0" : "5.7.7", err);
		return -1;
	}
	/*
	 * Pending by a transfer under way; or active by one complete, for
	 * a rekeying-complete said again (its answer was lost).
	 */
	if (db_exec(db, "SELECT a.agent_cert, a.status FROM accounts a JOIN "
	    "transfers t USING (address) WHERE a.address = lower($1) AND "
	    "a.agent_cert IS NOT NULL AND t.direction = 'incoming' AND "
	    "((a.status = 'pending' AND t.state = 'subscribed') OR (a.status "
	    "= 'active' AND t.state = 'complete')) ORDER BY t.id DESC LIMIT 1",
	    1, p, NULL, &r, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 %s", err);
		goto out;
	}
	if (PQntuples(r) != 1) {
		msg_fail(mc, MSG_PERM, "5.7.1 service mail from %s: no transfer "
		    "of it is in progress here", mc->mc_sender);
		goto out;
	}
	if ((agent = objcache_cert(fg->fg_cache, PQgetvalue(r, 0, 0),
	    (size_t)PQgetlength(r, 0, 0), err)) == NULL) {
		msg_fail(mc, MSG_TEMP, "4.3.0 %s", err);
		goto out;
	}
	rc = service_take(mc, db, text, tlen, signer, agent, transfer_kind,
	    PQgetvalue(r, 0, 1));
out:
	PQclear(r);
	X509_free(agent);
	X509_free(signer);
	free(text);
	return rc;
}

int
transfer_activate(struct msg *mc, PGconn *db, const char *address)
{
	const struct fg *fg = mc->mc_fg;
	const char *p[1] = { address };
	struct proto_msg *pm = NULL;
	struct fed fd;
	PGresult *r = NULL;
	X509 *cert = NULL;
	char err[TN_ERRLEN], id[TN_MAX_MSGID + 1], *endpoint = NULL;
	int found, n = 0, rc = -1;

	if (db_exec(db, "SELECT t.id, t.other_courier, t.other_ca FROM "
	    "transfers t JOIN accounts a USING (address) WHERE t.address = "
	    "lower($1) AND t.direction = 'incoming' AND t.state = "
	    "'subscribed' AND a.status = 'pending' FOR UPDATE OF t", 1, p,
	    NULL, &r, err) == -1) {
		msg_fail(mc, MSG_TEMP, "4.3.0 rekeying-complete: %s", err);
		return -1;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return 0;
	}
	fgfed_init(&fd, mc, db);
	if ((found = fed_peer(&fd, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
	    &endpoint, &cert, NULL, err)) == 0)
		tn_err(err, "no foreground of %s under the CA key the transfer "
		    "names is introduced", PQgetvalue(r, 0, 1));
	if (found != 1)
		goto fail;
	if ((pm = proto_msg_new(PROTO_TRANSFER_COMPLETE)) == NULL) {
		tn_err(err, "out of memory");
		goto fail;
	}
	{
		const char *q[1] = { PQgetvalue(r, 0, 0) };

		if (db_run(db, "UPDATE accounts SET status = 'active' WHERE "
		    "address = lower($1)", 1, p, err) == -1 ||
		    db_run(db, "UPDATE transfers SET state = 'complete', "
		    "completed_at = now(), last_error = NULL WHERE id = $1", 1,
		    q, err) == -1 ||
		    proto_set(pm, "Address", address, err) ||
		    proto_set(pm, "From-Courier", PQgetvalue(r, 0, 1), err) ||
		    proto_set(pm, "To-Courier", fg->fg_conf->cf_name, err) ||
		    transfer_mail(fg, db, pm, endpoint, cert, id, err) == -1 ||
		    fed_release(&fd, address, &n, err) == -1)
			goto fail;
	}
	msg_note(mc, " transfer=%s from=%s status=active released=%d",
	    address, PQgetvalue(r, 0, 1), n);
	rc = 0;
	goto out;
fail:
	msg_fail(mc, MSG_TEMP, "4.3.0 rekeying-complete: %s", err);
out:
	proto_msg_free(pm);
	free(endpoint);
	X509_free(cert);
	PQclear(r);
	return rc;
}
