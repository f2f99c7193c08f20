/*
 * NAME
 *	send.c - "tandem send": seal, ARM to the background, then the mail
 * DESCRIPTION
 *	Seals the message (agent_seal()), wraps the ARM record agent ->
 *	courier (signed by the agent key, enveloped to the courier-end
 *	certificate) and POSTs it to BG/v1/arm, retrying with a doubling
 *	delay (1 s up to 30 s) while the background is unreachable or
 *	answers 5xx, 408 or 429, for at most --retry-for seconds. Any
 *	other 4xx is final. Only after 201 or 200 does it submit the
 *	foreground mail (Tandem-Kind: content, body the wrap agent ->
 *	courier of the sealed content, Message-ID the sealed content's
 *	id) by SMTP; a temporary failure (4xx, no answer) submits the same
 *	mail again with the same delays, for --retry-for seconds more, so
 *	that the ARM already posted finds its content. Once the mail is
 *	taken, records each recipient as sent in the store
 *	(store_sent_add(); a failure there is said, but the message was
 *	sent: the exit status stays 0) and prints the message id.
 *	agent_send() does all of that but reading and printing, for send
 *	and sendmail (sendmail.c): the message comes in memory, the
 *	recipients and restrictions from the options given, and a blind
 *	copy may ask for a fresh message id.
 *
 *	agent_session() and agent_session_free() (also used by fetch;
 *	agent_session_with() when the password was asked already: read
 *	sending a read receipt, forward, reply)
 *	open the store, decrypt the identity, load the courier-end
 *	certificate and the anchors, and set up the network with the TLS
 *	identity; the session keeps the local password (as_pass, wiped
 *	by agent_session_free()) for what a fetch may decrypt or make
 *	(old generations' keys, the next key of a rekey).
 *	agent_session() also unlocks the store with the password
 *	(store_unlock(), EX_NOPERM when it does not), for the ARMs fetch
 *	keeps and revoke reads.
 *	agent_session_reload() reads the identity and the courier-end
 *	certificate again, and gives the network the new TLS identity
 *	(after a rekey). agent_session_free() accepts a zeroed struct
 *	and one that failed to open.
 *
 *	agent_post() POSTs a wrap to the background at path (send, revoke,
 *	and fetch's word after a revoke) and sorts the answer: 0 for 200
 *	or 201; AGENT_EX_REFUSED for any other 4xx but 408 and 429, which
 *	is final; EX_TEMPFAIL for anything else, *status 0 when there was
 *	no answer at all (err says why). The answer's first line goes
 *	into line.
 * DIAGNOSTICS
 *	Messages on standard error; exit statuses in tandem(1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "pki.h"
#include "tmail.h"
#include "agent.h"

#define SEND_RETRY_MAX	30	/* seconds between two tries, at most */

static int
session_courier(struct agent_session *as, char *err)
{
	char *pem = NULL;
	X509 *c;
	int rc = EX_SOFTWARE;

	if (store_get(as->as_st, "courier-cert", &pem, err) == -1)
		goto out;
	rc = EX_CONFIG;
	if (pem == NULL || *pem == '\0') {
		tn_err(err, "no courier certificate yet: finish \"tandem "
		    "register\"");
		goto out;
	}
	if ((as->as_rcpts = sk_X509_new_null()) == NULL ||
	    (c = pki_parse_cert(pem, strlen(pem), err)) == NULL)
		goto out;
	if (!sk_X509_push(as->as_rcpts, c)) {
		X509_free(c);
		goto out;
	}
	rc = 0;
out:
	free(pem);
	return rc;
}

static int
session_net(struct agent_session *as, const struct agent_opts *o,
    char *err)
{
	char path[1024], *bg = NULL;
	int rc = EX_CONFIG;

	if ((as->as_net = net_new(o, err)) == NULL)
		return EX_CONFIG;
	if (net_bg(as->as_net) == NULL) {
		if (store_get(as->as_st, "bg-url", &bg, err) == -1)
			goto out;
		if (bg != NULL && *bg != '\0' &&
		    net_set_bg(as->as_net, bg, err) == -1)
			goto out;
	}
	if (net_bg(as->as_net) == NULL) {
		tn_err(err, "no background URL: use --bg, or bg_url in "
		    "tandem.conf");
		goto out;
	}
	if (store_path(o->o_dir, "anchors.pem", path, sizeof(path)) == -1 ||
	    net_identity(as->as_net, &as->as_id, path, err) == -1)
		goto out;
	rc = 0;
out:
	free(bg);
	return rc;
}

int
agent_session(struct agent_session *as, const struct agent_opts *o,
    char *err)
{
	char *pass = NULL;
	int rc;

	memset(as, 0, sizeof(*as));
	if ((rc = agent_password(o, &pass)) != 0) {
		tn_err(err, "no password");
		return rc;
	}
	rc = agent_session_with(as, o, pass, err);
	OPENSSL_cleanse(pass, strlen(pass));
	free(pass);
	return rc;
}

/* agent_session() with the password already asked (pass stays ours). */
int
agent_session_with(struct agent_session *as, const struct agent_opts *o,
    const char *pass, char *err)
{
	int rc;

	memset(as, 0, sizeof(*as));
	rc = EX_OSERR;
	if ((as->as_pass = strdup(pass)) == NULL) {
		tn_err(err, "out of memory");
		return rc;
	}
	if ((as->as_dir = strdup(o->o_dir)) == NULL) {
		tn_err(err, "out of memory");
		return rc;
	}
	rc = EX_NOINPUT;
	if ((as->as_st = store_open(o->o_dir, 0, err)) == NULL)
		return rc;
	if ((rc = agent_load_id(as->as_st, as->as_pass, &as->as_id,
	    &as->as_address, err)) != 0)
		return rc;
	rc = EX_NOPERM;
	if (store_unlock(as->as_st, as->as_pass, err) == -1)
		return rc;
	if ((rc = session_courier(as, err)) != 0)
		return rc;
	rc = EX_CONFIG;
	if ((as->as_trust = agent_trust(o->o_dir, err)) == NULL)
		return rc;
	return session_net(as, o, err);
}

/*
 * After a rekey: the identity, the courier-end certificate and the
 * TLS client identity again from the store.
 */
int
agent_session_reload(struct agent_session *as, char *err)
{
	char path[1024];
	int rc;

	agent_free_id(&as->as_id);
	free(as->as_address);
	as->as_address = NULL;
	sk_X509_pop_free(as->as_rcpts, X509_free);
	as->as_rcpts = NULL;
	/* The store stays unlocked from agent_session(). */
	if ((rc = agent_load_id(as->as_st, as->as_pass, &as->as_id,
	    &as->as_address, err)) != 0 ||
	    (rc = session_courier(as, err)) != 0)
		return rc;
	if (store_path(as->as_dir, "anchors.pem", path, sizeof(path)) == -1 ||
	    net_identity(as->as_net, &as->as_id, path, err) == -1)
		return EX_CONFIG;
	return 0;
}

void
agent_session_free(struct agent_session *as)
{
	net_free(as->as_net);
	pki_trust_free(as->as_trust);
	sk_X509_pop_free(as->as_rcpts, X509_free);
	agent_free_id(&as->as_id);
	free(as->as_address);
	store_close(as->as_st);
	if (as->as_pass != NULL)
		OPENSSL_cleanse(as->as_pass, strlen(as->as_pass));
	free(as->as_pass);
	free(as->as_dir);
	memset(as, 0, sizeof(*as));
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Before another try: 1 after waiting the delay (then doubled, at most
 * SEND_RETRY_MAX), 0 when the try would start more than retry_for
 * seconds after the first (measured in milliseconds: whole seconds
 * would round the first try down and the budget with it).
 */
static int
send_wait(long long start, unsigned int *delay, long retry_for,
    const char *err)
{
	if (now_ms() - start + *delay * 1000LL > retry_for * 1000LL)
		return 0;
	fprintf(stderr, "tandem send: %s; again in %u s\n", err, *delay);
	sleep(*delay);
	if ((*delay *= 2) > SEND_RETRY_MAX)
		*delay = SEND_RETRY_MAX;
	return 1;
}

int
agent_post(struct agent_session *as, const char *path,
    const unsigned char *w, size_t wlen, long *status, char *line,
    size_t linelen, char *err)
{
	unsigned char *resp = NULL;
	size_t rlen;
	int rc;

	line[0] = '\0';
	if (net_https(as->as_net, "POST", path, w, wlen, status, &resp, &rlen,
	    err) == -1) {
		*status = 0;
		return EX_TEMPFAIL;
	}
	resp[strcspn((char *)resp, "\r\n")] = '\0';
	snprintf(line, linelen, "%s", (char *)resp);
	free(resp);
	if (*status == 200 || *status == 201)
		rc = 0;
	else if (*status >= 400 && *status < 500 && *status != 408 &&
	    *status != 429)
		rc = AGENT_EX_REFUSED;
	else
		rc = EX_TEMPFAIL;
	return rc;
}

/* One POST: 0 stored, 1 try again, or a final exit status. */
static int
send_post(struct agent_session *as, const unsigned char *w, size_t wlen,
    char *err)
{
	char line[TN_ERRLEN];
	long status;

	switch (agent_post(as, "/v1/arm", w, wlen, &status, line,
	    sizeof(line), err)) {
	case 0:
		return 0;
	case AGENT_EX_REFUSED:
		tn_err(err, "the background refused the ARM: %ld %.120s",
		    status, line);
		return AGENT_EX_REFUSED;
	default:
		if (status != 0)
			tn_err(err, "POST /v1/arm: %ld %.120s", status, line);
		return 1;
	}
}

static int
send_arm(struct agent_session *as, const struct arm_record *ar,
    long retry_for, char *err)
{
	unsigned char *w = NULL;
	char *text = NULL;
	size_t len = 0, wlen;
	long long start = now_ms();
	unsigned int delay = 1;
	int rc = EX_SOFTWARE;

	if (arm_format(ar, &text, &len, err) == -1 ||
	    cms_wrap((unsigned char *)text, len, &as->as_id, as->as_rcpts, 0,
	    &w, &wlen, err) == -1)
		goto out;
	while ((rc = send_post(as, w, wlen, err)) == 1)
		if (!send_wait(start, &delay, retry_for, err)) {
			fprintf(stderr, "tandem send: %s\n", err);
			tn_err(err, "the background did not take the ARM "
			    "within %ld s; nothing was mailed", retry_for);
			rc = EX_TEMPFAIL;
			break;
		}
out:
	if (text != NULL)
		OPENSSL_cleanse(text, len);
	free(text);
	free(w);
	return rc;
}

/*
 * Seal msg for o->o_to (o's restrictions, a fresh message id when
 * fresh), post its ARM, then submit the content mail, each retried for
 * o->o_retry_for seconds; once taken, record the recipients. *msgid
 * (free()) is the message id. 0 or an exit status, with err.
 */
int
agent_send(struct agent_session *as, const struct agent_opts *o,
    const unsigned char *msg, size_t msglen, int fresh, char **msgid,
    char *err)
{
	struct arm_record *ar = NULL;
	unsigned char *der = NULL, *w = NULL;
	char why[TN_ERRLEN];
	size_t derlen, wlen;
	long long start;
	unsigned int delay = 1;
	int rc;

	*msgid = NULL;
	if ((rc = agent_seal_msg(o, &as->as_id, as->as_address, msg, msglen,
	    fresh, &ar, &der, &derlen, err)) != 0 ||
	    (rc = send_arm(as, ar, o->o_retry_for, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if (cms_wrap(der, derlen, &as->as_id, as->as_rcpts, 0, &w, &wlen,
	    err) == -1)
		goto out;
	/* The ARM is at the background: the same mail, until it is taken. */
	start = now_ms();
	while ((rc = agent_submit(as->as_net, TMAIL_CONTENT, as->as_address,
	    ar->ar_rcpts, ar->ar_nrcpts, ar->ar_msgid, w, wlen, err)) ==
	    EX_TEMPFAIL && send_wait(start, &delay, o->o_retry_for, err))
		;
	if (rc == EX_TEMPFAIL) {
		fprintf(stderr, "tandem send: %s\n", err);
		tn_err(err, "message %s: the ARM is at the background but the "
		    "mail server did not take the mail within %ld s",
		    ar->ar_msgid, o->o_retry_for);
	}
	if (rc != 0)
		goto out;
	/* Sent: a store that fails now does not make it unsent. */
	if (store_sent_add(as->as_st, ar->ar_msgid, ar->ar_rcpts,
	    ar->ar_nrcpts, why) == -1)
		fprintf(stderr, "tandem send: %s was sent but is not recorded "
		    "for \"tandem status\": %s\n", ar->ar_msgid, why);
	if ((*msgid = strdup(ar->ar_msgid)) == NULL)
		fprintf(stderr, "tandem send: %s was sent; out of memory\n",
		    ar->ar_msgid);
	rc = 0;
out:
	arm_free(ar);
	free(der);
	free(w);
	return rc;
}

static int
send_run(struct agent_session *as, const struct agent_opts *o, char *err)
{
	unsigned char *msg = NULL;
	char *msgid = NULL;
	size_t msglen;
	int rc;

	if (agent_read_input(o->o_in, &msg, &msglen, err) == -1)
		return EX_NOINPUT;
	if ((rc = agent_send(as, o, msg, msglen, 0, &msgid, err)) == 0 &&
	    msgid != NULL)
		printf("%s\n", msgid);
	free(msgid);
	free(msg);
	return rc;
}

int
cmd_send(struct agent_opts *o)
{
	struct agent_session as;
	char err[TN_ERRLEN];
	int rc;

	if (o->o_in == NULL || o->o_nto == 0) {
		fprintf(stderr, "tandem send: need --to and --in\n");
		return EX_USAGE;
	}
	if ((rc = agent_session(&as, o, err)) == 0)
		rc = send_run(&as, o, err);
	if (rc != 0)
		fprintf(stderr, "tandem send: %s\n", err);
	agent_session_free(&as);
	return rc;
}
