/*
 * NAME
 *	register.c - "tandem register" and the courier's service mail
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	cmd_register(struct agent_opts *o);
 *	int	agent_service(struct agent_reader *rd, const struct tmail *tm,
 *		    char *err);
 *	int	agent_invitation_verify(const struct pki_trust *trust,
 *		    const unsigned char *der, size_t len,
 *		    struct proto_msg **pm, X509 **signer, char *err);
 *	int	agent_check_keys(const struct pki_trust *trust,
 *		    const char *address, EVP_PKEY *key,
 *		    const struct proto_msg *pm, X509 *signer,
 *		    STACK_OF(X509) **chain, char *err);
 *	X509	*agent_part_cert(const struct proto_msg *pm,
 *		    const char *role, char *err);
 * DESCRIPTION
 *	register reads an invitation (the mail as received, or the DER
 *	of its signed part; or, for a registration link or no argument,
 *	the one reglink.c finds in the Maildir), checks its signature
 *	(agent_invitation_verify()): an FG element certificate chaining
 *	to --anchor, and the very certificate of its fg-cert part, not
 *	expired. Only then does it take the new store's password (on a
 *	terminal checked against the invited address). It then creates
 *	the store for the invited
 *	address (like init), keeps the anchors, the FG certificate, the
 *	Register-Address and the Background-Url, and mails a
 *	registration (Token, Address, part agent-csr), enveloped to the
 *	FG certificate, Tandem-Kind: service, to Register-Address. If
 *	that fails the new store is removed again. Unless --no-wait, it
 *	then polls the Maildir once a second, for at most --timeout
 *	seconds, handling service mail as "tandem read" does, until the
 *	certificates are installed; mail it cannot use (another's, or
 *	refused) is reported once and does not end the wait.
 *
 *	agent_check_keys() is the check of the certificates of an
 *	exchange-keys answer, for registration and for a rekey (rekey.c);
 *	agent_part_cert() returns the first certificate of the part of
 *	pm in that role (to X509_free()), NULL with err.
 *
 *	agent_service() handles one service mail from the courier (opened
 *	with the current key or an old generation's: agent_unwrap()): the
 *	wrap must be signed by the FG element of the agent's courier (or,
 *	before the first certificate, by the FG certificate of the
 *	invitation). An exchange-keys answer is checked (address, the
 *	agent certificate is for the stored key and for the address,
 *	the courier-end certificate is of that kind, for that address,
 *	from the same CA, both to the anchors), stored, and answered
 *	with agent-alive (wrap agent -> courier-end certificate) to the
 *	Register-Address. A generation already installed is not stored
 *	again; agent-alive is sent once per generation. Once registered
 *	(agent-alive sent, or a certificate installed or imported), only
 *	the generation registered with is taken by mail (a resend of the
 *	answer); another is refused (EX_DATAERR) and nothing changes: a
 *	rekey's answer is taken only by fetch from the background (after
 *	the offer of its certificate, rekey.c). A receipt (the
 *	foreground's purge of a message held for a recipient who never
 *	registered: Event expired) is recorded by agent_receipt()
 *	(status.c), which says it the first time it is seen. Other kinds
 *	are reported and left alone.
 * DIAGNOSTICS
 *	Messages on standard error; exit statuses in tandem(1).
 */
#include <openssl/pem.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "tandem.h"
#include "cms.h"
#include "pki.h"
#include "proto.h"
#include "tmail.h"
#include "util.h"
#include "agent.h"

#define REG_MAX_INVITATION	(1024 * 1024)

/* The invitation's signed DER, from the mail or as it is. */
static int
reg_read(const char *path, unsigned char **der, size_t *len, char *err)
{
	struct tmail *tm = NULL;
	unsigned char *buf = NULL;
	size_t n;
	int rc = EX_NOINPUT;

	if (util_read_file(path, REG_MAX_INVITATION, &buf, &n, err) == -1)
		goto out;
	rc = EX_DATAERR;
	if (n > 0 && buf[0] == 0x30) {
		*der = buf;
		*len = n;
		return 0;
	}
	if (tmail_parse((char *)buf, n, &tm, err) == -1)
		goto out;
	if (tm->tm_kind != TMAIL_INVITATION) {
		tn_err(err, "%s: not an invitation (Tandem-Kind: %s)", path,
		    tmail_kind_name(tm->tm_kind));
		goto out;
	}
	*der = tm->tm_der;
	*len = tm->tm_derlen;
	tm->tm_der = NULL;
	rc = 0;
out:
	tmail_free(tm);
	free(buf);
	return rc;
}

/*
 * The signer of invitation pm is an FG element and the invitation's own
 * fg-cert: 0, or the agent's exit status with err. Registration and
 * invitation reject both check this first.
 */
int
agent_invitation_signer(const struct pki_trust *trust, X509 *signer,
    STACK_OF(X509) *certs, const struct proto_msg *pm, char *err)
{
	const struct proto_part *pp;
	X509 *fg = NULL;
	int rc;

	if ((rc = agent_check_element(trust, signer, certs, PKI_KIND_FG, NULL,
	    NULL, err)) != 0)
		return rc;
	rc = EX_DATAERR;
	if ((pp = proto_part(pm, "fg-cert")) == NULL ||
	    (fg = pki_parse_cert((char *)pp->pp_data, pp->pp_len,
	    err)) == NULL)
		goto out;
	rc = AGENT_EX_COURIER;
	if (X509_cmp(fg, signer) != 0) {
		tn_err(err, "refused: the invitation is not signed by its "
		    "fg-cert");
		goto out;
	}
	rc = 0;
out:
	X509_free(fg);
	return rc;
}

/*
 * The signed invitation der, verified: signed by an FG element to the
 * anchors and by its own fg-cert, not expired. *pm and *signer, set
 * even on failure, for the caller to free.
 */
int
agent_invitation_verify(const struct pki_trust *trust,
    const unsigned char *der, size_t len, struct proto_msg **pm,
    X509 **signer, char *err)
{
	STACK_OF(X509) *certs = NULL;
	unsigned char *out = NULL;
	size_t outlen;
	enum cms_fail fail;
	time_t exp;
	const char *e;
	int rc;

	*pm = NULL;
	*signer = NULL;
	if (cms_verify(der, len, pki_trust_store(trust), &out, &outlen,
	    signer, &certs, &fail, err) == -1) {
		rc = fail == CMS_FAIL_CHAIN ? AGENT_EX_UNTRUSTED :
		    fail == CMS_FAIL_SIGNATURE ? AGENT_EX_TAMPERED : EX_DATAERR;
		goto out;
	}
	rc = EX_DATAERR;
	if (proto_parse((char *)out, outlen, pm, err) == -1)
		goto out;
	if ((*pm)->pm_kind != PROTO_INVITATION) {
		tn_err(err, "signed part is a %s, not an invitation",
		    proto_kind_name((*pm)->pm_kind));
		goto out;
	}
	if ((e = proto_get(*pm, "Expires")) != NULL &&
	    proto_parse_time(e, &exp) == 0 && exp <= time(NULL)) {
		tn_err(err, "the invitation expired at %s", e);
		goto out;
	}
	rc = agent_invitation_signer(trust, *signer, certs, *pm, err);
out:
	sk_X509_pop_free(certs, X509_free);
	free(out);
	return rc;
}

/*
 * The invitation: the file given, else the one of the link, else the
 * newest in the Maildir (reglink.c), verified.
 */
static int
reg_verify(const struct agent_opts *o, const struct reg_link *rl,
    const struct pki_trust *trust, struct proto_msg **pm, X509 **signer,
    char *err)
{
	unsigned char *der = NULL;
	char *path = NULL;
	size_t len;
	int rc;

	if (o->o_invitation != NULL)
		rc = reg_read(o->o_invitation, &der, &len, err);
	else
		rc = reglink_find(o, trust, rl->rl_id[0] != '\0' ?
		    rl->rl_id : NULL, &path, &der, &len, err);
	if (rc != 0)
		goto out;
	if ((rc = agent_invitation_verify(trust, der, len, pm, signer,
	    err)) == 0 && path != NULL)
		fprintf(stderr, "tandem register: the invitation %s for %s, "
		    "of %s: %s\n", proto_get(*pm, "Id"), proto_get(*pm,
		    "Recipient"), proto_get(*pm, "Date"), path);
out:
	free(der);
	free(path);
	return rc;
}

/* The registration message, enveloped to fg: *w to free(). */
static int
reg_message(const struct proto_msg *inv, const char *id, const char *csr,
    X509 *fg, unsigned char **w, size_t *wlen, char *err)
{
	struct proto_msg *pm;
	STACK_OF(X509) *rcpts = NULL;
	char date[32], *text = NULL;
	size_t len;
	int rc = -1;

	proto_format_time(time(NULL), date, sizeof(date));
	if ((pm = proto_msg_new(PROTO_REGISTRATION)) == NULL ||
	    (rcpts = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(rcpts, fg)) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (proto_set(pm, "Id", id, err) == -1 ||
	    proto_set(pm, "Date", date, err) == -1 ||
	    proto_set(pm, "Token", proto_get(inv, "Token"), err) == -1 ||
	    proto_set(pm, "Address", proto_get(inv, "Recipient"), err) == -1 ||
	    proto_set(pm, "Agent-Version", AGENT_VERSION, err) == -1 ||
	    proto_attach(pm, "agent-csr", csr, strlen(csr), err) == -1 ||
	    proto_format(pm, &text, &len, err) == -1 ||
	    cms_envelope((unsigned char *)text, len, rcpts, w, wlen,
	    err) == -1)
		goto out;
	rc = 0;
out:
	sk_X509_free(rcpts);	/* fg stays the caller's */
	proto_msg_free(pm);
	free(text);
	return rc;
}

static int
reg_remember(struct store *st, const struct agent_opts *o,
    const struct proto_msg *inv, X509 *fg, char *err)
{
	unsigned char *an = NULL;
	char path[1024], *pem = NULL;
	const char *bg;
	size_t len;
	int rc = -1;

	bg = proto_get(inv, "Background-Url");
	if (util_read_file(o->o_anchor, REG_MAX_INVITATION, &an, &len,
	    err) == -1 ||
	    store_path(o->o_dir, "anchors.pem", path, sizeof(path)) == -1 ||
	    util_write_file(path, an, len, 0644, 0, err) == -1 ||
	    pki_cert_pem(fg, &pem, &len, err) == -1 ||
	    store_put(st, "fg-cert", pem, err) == -1 ||
	    store_put(st, "register-address", proto_get(inv,
	    "Register-Address"), err) == -1 ||
	    store_put(st, "courier", proto_get(inv, "Courier"), err) == -1 ||
	    (bg != NULL && store_put(st, "bg-url", bg, err) == -1))
		goto out;
	rc = 0;
out:
	free(an);
	free(pem);
	return rc;
}

/* Make the key, remember the invitation, mail the registration. */
static int
reg_send(struct store *st, const struct agent_opts *o, const char *pass,
    const struct proto_msg *inv, X509 *fg, char *err)
{
	struct agent_net *an = NULL;
	unsigned char *w = NULL;
	char *csr = NULL, *id = NULL, *to[1];
	const char *address = proto_get(inv, "Recipient");
	size_t wlen;
	int rc = EX_SOFTWARE;

	if (agent_init_keys(st, address, o->o_key, pass, &csr, err) == -1)
		goto out;
	rc = EX_CANTCREAT;
	if (reg_remember(st, o, inv, fg, err) == -1)
		goto out;
	rc = EX_SOFTWARE;
	if ((id = agent_new_id(address)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (reg_message(inv, id, csr, fg, &w, &wlen, err) == -1)
		goto out;
	rc = EX_CONFIG;
	if ((an = net_new(o, err)) == NULL)
		goto out;
	to[0] = (char *)(uintptr_t)proto_get(inv, "Register-Address");
	rc = agent_submit(an, TMAIL_SERVICE, address, to, 1, id, w, wlen,
	    err);
out:
	net_free(an);
	free(csr);
	free(id);
	free(w);
	return rc;
}

/* Poll the Maildir until the certificate is there, or time is up. */
static int
reg_wait(const struct agent_opts *o, const char *pass, char *err)
{
	struct agent_reader rd;
	time_t end = time(NULL) + o->o_timeout;
	char *cert = NULL;
	int rc, pass_no;

	for (pass_no = 0;; pass_no++) {
		if ((rc = reader_open(&rd, o, pass, err)) != 0) {
			reader_close(&rd);
			return rc;
		}
		rd.rd_quiet = pass_no > 0;
		rc = reader_scan(&rd, AGENT_SCAN_SERVICE, err);
		if (rc != EX_USAGE && rc != EX_NOINPUT && rc != EX_OSERR)
			rc = store_get(rd.rd_st, "cert", &cert, err) == -1 ?
			    EX_SOFTWARE : 0;
		reader_close(&rd);
		if (rc != 0 || cert != NULL)
			break;
		if (time(NULL) >= end) {
			tn_err(err, "no answer from the courier within %ld s; "
			    "\"tandem read\" finishes the registration when "
			    "it comes", o->o_timeout);
			rc = EX_TEMPFAIL;
			break;
		}
		sleep(1);
	}
	free(cert);
	return rc;
}

/*
 * The settings later commands need, in the store folder's tandem.conf
 * unless there is one already (the user's own, or an earlier one).
 */
static int
reg_save(const struct agent_opts *o, const struct proto_msg *inv,
    char *err)
{
	struct agent_net *an;
	char path[1024];
	int rc;

	if (store_path(o->o_dir, "tandem.conf", path, sizeof(path)) == -1) {
		tn_err(err, "store folder name too long");
		return EX_CANTCREAT;
	}
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "tandem register: %s kept as it is\n", path);
		return 0;
	}
	if ((an = net_new(o, err)) == NULL)
		return EX_CONFIG;
	rc = net_save(an, net_bg(an) != NULL ? NULL :
	    proto_get(inv, "Background-Url"), path, err) == -1 ?
	    EX_CANTCREAT : 0;
	net_free(an);
	if (rc == 0)
		fprintf(stderr, "tandem register: settings saved in %s\n",
		    path);
	return rc;
}

/*
 * The new store's password, asked once the invitation is known to be
 * good: on a terminal it may not be the invited address.
 */
static int
reg_password(const struct agent_opts *o, const struct proto_msg *inv,
    char **pass, char *err)
{
	struct agent_opts po = *o;
	int rc;

	po.o_address = proto_get(inv, "Recipient");
	if ((rc = agent_password_new(&po, 1, pass)) != 0)
		tn_err(err, "no new password for the store of %s: nothing "
		    "was sent", po.o_address);
	return rc;
}

static int
reg_run(const struct agent_opts *o, const struct reg_link *rl, char *err)
{
	struct pki_trust *trust = NULL;
	struct proto_msg *inv = NULL;
	struct store *st = NULL;
	X509 *fg = NULL;
	char path[1024], *pass = NULL;
	int rc = EX_NOINPUT, made = 0;

	/* A missing file is 66, as for import (tandem(1)). */
	if (access(o->o_anchor, F_OK) == -1) {
		tn_err(err, "%s: %s", o->o_anchor, strerror(errno));
		goto out;
	}
	if (rl->rl_root[0] != '\0' &&
	    (rc = reglink_root(o->o_anchor, rl->rl_root, err)) != 0)
		goto out;
	rc = EX_CONFIG;
	if ((trust = pki_trust_load(o->o_anchor, err)) == NULL)
		goto out;
	if ((rc = reg_verify(o, rl, trust, &inv, &fg, err)) != 0)
		goto out;
	rc = EX_USAGE;
	if (o->o_address != NULL && strcasecmp(o->o_address,
	    proto_get(inv, "Recipient")) != 0) {
		tn_err(err, "the invitation is for %s, not %s",
		    proto_get(inv, "Recipient"), o->o_address);
		goto out;
	}
	if ((rc = reg_password(o, inv, &pass, err)) != 0)
		goto out;
	rc = EX_CANTCREAT;
	if ((st = store_open(o->o_dir, 1, err)) == NULL)
		goto out;
	made = 1;
	if ((rc = reg_send(st, o, pass, inv, fg, err)) != 0)
		goto out;
	made = 0;
	store_close(st);
	st = NULL;
	fprintf(stderr, "tandem register: registration for %s sent to %s\n",
	    proto_get(inv, "Recipient"), proto_get(inv, "Register-Address"));
	if ((rc = reg_save(o, inv, err)) != 0)
		goto out;
	if (!o->o_no_wait && (rc = reg_wait(o, pass, err)) != 0)
		goto out;
	rc = 0;
out:
	store_close(st);
	if (made && store_path(o->o_dir, "store.db", path, sizeof(path)) == 0)
		unlink(path);
	if (made && store_path(o->o_dir, "anchors.pem", path,
	    sizeof(path)) == 0)
		unlink(path);
	pki_trust_free(trust);
	proto_msg_free(inv);
	X509_free(fg);
	if (pass != NULL)
		OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
	return rc;
}

/*
 * The invitation: --invitation FILE, or one argument, a registration
 * link or a file; with neither, the newest in the Maildir.
 */
int
cmd_register(struct agent_opts *o)
{
	struct agent_opts ro = *o;
	struct reg_link rl;
	char err[TN_ERRLEN];
	int rc;

	memset(&rl, 0, sizeof(rl));
	if (o->o_anchor == NULL || o->o_nfiles > 1 ||
	    (o->o_nfiles == 1 && o->o_invitation != NULL)) {
		fprintf(stderr, "tandem register: need --anchor ROOT.pem, and "
		    "at most one invitation: a registration link, a file or "
		    "--invitation FILE (none: the newest in the Maildir)\n");
		return EX_USAGE;
	}
	ro.o_files = NULL;
	ro.o_nfiles = 0;
	if (o->o_nfiles == 1 && strncasecmp(o->o_files[0], "tandem:", 7) == 0) {
		if ((rc = reglink_parse(o->o_files[0], &rl, err)) != 0) {
			fprintf(stderr, "tandem register: %s\n", err);
			return rc;
		}
	} else if (o->o_nfiles == 1)
		ro.o_invitation = o->o_files[0];
	/* The link's server is as if given with --smtp, which wins. */
	if (rl.rl_smtp[0] != '\0' && ro.o_smtp == NULL)
		ro.o_smtp = rl.rl_smtp;
	if ((rc = reg_run(&ro, &rl, err)) != 0)
		fprintf(stderr, "tandem register: %s\n", err);
	return rc;
}

/* The first certificate of a part, to X509_free(). */
X509 *
agent_part_cert(const struct proto_msg *pm, const char *role, char *err)
{
	const struct proto_part *pp;

	if ((pp = proto_part(pm, role)) == NULL) {
		tn_err(err, "exchange-keys: no part %s", role);
		return NULL;
	}
	return pki_parse_cert((char *)pp->pp_data, pp->pp_len, err);
}

/*
 * The certificates of an exchange-keys answer pm, checked: the agent
 * certificate is for key and address, the courier-end certificate of
 * that kind for address, both to the anchors, from the CA of signer,
 * an FG element. *chain (the ca-chain part, or NULL) to free on 0.
 */
int
agent_check_keys(const struct pki_trust *trust, const char *address,
    EVP_PKEY *key, const struct proto_msg *pm, X509 *signer,
    STACK_OF(X509) **chain, char *err)
{
	const struct proto_part *pp;
	X509 *agent = NULL, *courier = NULL;
	int rc = EX_DATAERR;

	*chain = NULL;
	if ((agent = agent_part_cert(pm, "agent-cert", err)) == NULL ||
	    (courier = agent_part_cert(pm, "courier-cert", err)) == NULL ||
	    ((pp = proto_part(pm, "ca-chain")) != NULL &&
	    (*chain = pki_parse_certs((char *)pp->pp_data, pp->pp_len,
	    err)) == NULL))
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(agent), key) != 1) {
		tn_err(err, "exchange-keys: agent-cert is not for this "
		    "agent's key");
		goto out;
	}
	if (pki_cert_kind(courier) != PKI_KIND_COURIER_END) {
		tn_err(err, "exchange-keys: courier-cert is not a "
		    "courier-end certificate");
		goto out;
	}
	rc = AGENT_EX_UNTRUSTED;
	if (pki_verify(trust, agent, *chain, address, err) == -1 ||
	    pki_verify(trust, courier, *chain, address, err) == -1)
		goto out;
	rc = AGENT_EX_COURIER;
	if (agent_check_element(trust, signer, *chain, PKI_KIND_FG, agent,
	    *chain, err) != 0 || agent_check_element(trust, signer, *chain,
	    PKI_KIND_FG, courier, *chain, err) != 0)
		goto out;
	rc = 0;
out:
	X509_free(agent);
	X509_free(courier);
	if (rc != 0) {
		sk_X509_pop_free(*chain, X509_free);
		*chain = NULL;
	}
	return rc;
}

static int
svc_alive(struct agent_reader *rd, const char *gen, char *err)
{
	struct cms_id id;
	struct proto_msg *pm = NULL;
	char *a = NULL;
	int rc;

	memset(&id, 0, sizeof(id));
	if ((rc = agent_load_id(rd->rd_st, rd->rd_pass, &id, &a, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if ((pm = proto_msg_new(PROTO_AGENT_ALIVE)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if ((rc = agent_mail_courier(rd->rd_net, rd->rd_st, &id, a,
	    rd->rd_courier, pm, gen, err)) != 0)
		goto out;
	rc = store_put(rd->rd_st, "alive-sent", gen, err) == -1 ?
	    EX_SOFTWARE : 0;
out:
	agent_free_id(&id);
	proto_msg_free(pm);
	free(a);
	return rc;
}

static int
svc_install(struct agent_reader *rd, const struct proto_msg *pm,
    X509 *signer, char *err)
{
	STACK_OF(X509) *chain = NULL;
	const struct proto_part *ch;
	int rc;

	if ((rc = agent_check_keys(rd->rd_trust, rd->rd_address,
	    rd->rd_id.ci_key, pm, signer, &chain, err)) != 0)
		return rc;
	ch = proto_part(pm, "ca-chain");
	rc = EX_SOFTWARE;
	if (store_install(rd->rd_st, proto_get(pm, "Generation"),
	    (char *)proto_part(pm, "agent-cert")->pp_data, ch != NULL ?
	    (char *)ch->pp_data : NULL, (char *)proto_part(pm,
	    "courier-cert")->pp_data, err) == -1)
		goto out;
	rc = reader_reload(rd, err);
	if (rc == 0)
		fprintf(stderr, "tandem: certificates of generation %s "
		    "installed for %s\n", proto_get(pm, "Generation"),
		    rd->rd_address);
out:
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* store_old_each(): keeps the generation, the oldest comes last. */
static int
svc_oldest(const struct store_old *so, void *arg)
{
	*(unsigned long *)arg = so->so_generation;
	return 0;
}

/*
 * The generation the agent registered with, 0 while it has no
 * certificate: the one agent-alive was sent for, else the oldest the
 * store holds (an old generation, "generation", 1 after import).
 */
static int
svc_registered(struct agent_reader *rd, const char *sent,
    const char *have, unsigned long *reg, char *err)
{
	char *cert = NULL;

	*reg = 0;
	if (sent != NULL) {
		*reg = strtoul(sent, NULL, 10);
		return 0;
	}
	if (store_get(rd->rd_st, "cert", &cert, err) == -1)
		return -1;
	if (cert != NULL) {
		*reg = have != NULL ? strtoul(have, NULL, 10) : 1;
		if (store_old_each(rd->rd_st, svc_oldest, reg, err) == -1) {
			free(cert);
			return -1;
		}
	}
	free(cert);
	return 0;
}

/*
 * An exchange-keys by mail is registration's answer: once registered,
 * only a resend of it (the generation registered with) is taken. A
 * rekey's answer comes through the background (tandem fetch, rekey.c),
 * after the new certificate was offered to it.
 */
static int
svc_exchange(struct agent_reader *rd, const struct proto_msg *pm,
    X509 *signer, char *err)
{
	char *have = NULL, *sent = NULL;
	const char *gen = proto_get(pm, "Generation");
	unsigned long reg;
	int rc = EX_DATAERR;

	if (strcasecmp(proto_get(pm, "Address"), rd->rd_address) != 0) {
		tn_err(err, "exchange-keys for %s, not %s",
		    proto_get(pm, "Address"), rd->rd_address);
		goto out;
	}
	if (proto_part(pm, "agent-cert") == NULL) {
		tn_err(err, "exchange-keys: not the courier's answer");
		goto out;
	}
	rc = EX_SOFTWARE;
	if (store_get(rd->rd_st, "generation", &have, err) == -1 ||
	    store_get(rd->rd_st, "alive-sent", &sent, err) == -1 ||
	    svc_registered(rd, sent, have, &reg, err) == -1)
		goto out;
	rc = EX_DATAERR;
	if (reg != 0 && strtoul(gen, NULL, 10) != reg) {
		tn_err(err, "refused: exchange-keys for generation %s by mail, "
		    "but this agent registered with generation %lu: a new "
		    "generation is taken only from the background, by "
		    "\"tandem fetch\"; nothing changed", gen, reg);
		goto out;
	}
	rc = 0;
	if (have != NULL && strtoul(have, NULL, 10) > strtoul(gen, NULL, 10))
		goto out;		/* registration's, after a rekey */
	if ((have == NULL || strcmp(have, gen) != 0) &&
	    (rc = svc_install(rd, pm, signer, err)) != 0)
		goto out;
	if (sent == NULL || strcmp(sent, gen) != 0)
		rc = svc_alive(rd, gen, err);
out:
	free(have);
	free(sent);
	return rc;
}

/* Before the first certificate: the FG of the invitation only. */
static int
svc_signer(struct agent_reader *rd, X509 *signer, STACK_OF(X509) *certs,
    char *err)
{
	char *pem = NULL;
	X509 *fg = NULL;
	int rc;

	/*
	 * Registered: the own courier's, or one this agent left (its
	 * registration answer, a receipt; no generation is taken by mail).
	 */
	if (rd->rd_id.ci_cert != NULL)
		return agent_check_content(rd->rd_st, rd->rd_trust, signer,
		    certs, rd->rd_id.ci_cert, rd->rd_id.ci_chain, err);
	if ((rc = agent_check_element(rd->rd_trust, signer, certs,
	    PKI_KIND_FG, NULL, NULL, err)) != 0)
		return rc;
	rc = AGENT_EX_COURIER;
	if (store_get(rd->rd_st, "fg-cert", &pem, err) == 0 && pem != NULL &&
	    (fg = pki_parse_cert(pem, strlen(pem), err)) != NULL &&
	    X509_cmp(fg, signer) == 0)
		rc = 0;
	else
		tn_err(err, "refused: service mail not signed by the "
		    "courier that invited us");
	X509_free(fg);
	free(pem);
	return rc;
}

int
agent_service(struct agent_reader *rd, const struct tmail *tm, char *err)
{
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	struct proto_msg *pm = NULL;
	unsigned char *out = NULL;
	size_t outlen;
	enum cms_fail fail;
	int rc;

	if (agent_unwrap(rd->rd_st, rd->rd_pass, &rd->rd_id,
	    pki_trust_store(rd->rd_trust), tm->tm_der, tm->tm_derlen, &out,
	    &outlen, &signer, &certs, &fail, err) == -1) {
		rc = fail == CMS_FAIL_CHAIN ? AGENT_EX_UNTRUSTED :
		    fail == CMS_FAIL_INTERNAL ? EX_SOFTWARE : EX_DATAERR;
		goto out;
	}
	if ((rc = svc_signer(rd, signer, certs, err)) != 0)
		goto out;
	rc = EX_DATAERR;
	if (proto_parse((char *)out, outlen, &pm, err) == -1)
		goto out;
	if (pm->pm_kind == PROTO_EXCHANGE_KEYS)
		rc = svc_exchange(rd, pm, signer, err);
	else if (pm->pm_kind == PROTO_RECEIPT)
		rc = agent_receipt(rd->rd_st, rd->rd_address, pm,
		    "tandem: receipt from the courier", err);
	else {
		fprintf(stderr, "tandem: %s: %s from the courier, not "
		    "handled by this agent\n", tm->tm_msgid,
		    proto_kind_name(pm->pm_kind));
		rc = 0;
	}
out:
	proto_msg_free(pm);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	free(out);
	return rc;
}
