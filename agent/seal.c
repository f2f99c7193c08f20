/*
 * NAME
 *	seal.c - "tandem seal" and "tandem open": the two halves
 * DESCRIPTION
 *	seal signs and encrypts a message (cms_seal()) and writes the
 *	sealed content and its ARM record (arm_format()). The ARM file
 *	holds the content key: it is written 0600.
 *
 *	open checks, in this order, the restrictions in the ARM record
 *	(expiry; opens counted in the store against the maximum), the
 *	digest, decryption, the signature, the signer to the trust
 *	anchors (cms_open(), then pki_verify() for the Tandem rules), the
 *	signer against From: and against the ARM sender; then counts the
 *	open and writes the message. An expired message's ARM is also
 *	dropped from the store (its content key is gone for good).
 *
 *	agent_seal() and agent_open() do the same in memory for send
 *	and read (see agent.h).
 * DIAGNOSTICS
 *	Messages on standard error; exit statuses in tandem(1).
 */
#include <openssl/x509v3.h>

#include <gmime/gmime.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "pki.h"
#include "util.h"
#include "agent.h"

#define AGENT_MAX_ARM	(1024 * 1024)

/* SECONDS from now, or an absolute YYYY-MM-DD[THH:MM:SSZ] in UTC. */
static int
parse_expires(const char *s, time_t now, time_t *t)
{
	struct tm tm;
	const char *end;
	char *e;
	unsigned long n;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		n = strtoul(s, &e, 10);
		if (n == 0 || n > 100UL * 365 * 86400)
			return -1;
		*t = now + (time_t)n;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, "%Y-%m-%d", &tm)) == NULL ||
		    *end != '\0')
			return -1;
	}
	*t = timegm(&tm);
	return *t > now ? 0 : -1;
}

/* The Message-ID of msg without brackets (unless fresh), else a new one. */
static char *
message_id(const unsigned char *msg, size_t len, const char *address,
    int fresh)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *m = NULL;
	const char *id = NULL;
	unsigned char rnd[16];
	char *hex, *out = NULL;

	g_mime_init();
	stream = g_mime_stream_mem_new_with_buffer((const char *)msg, len);
	parser = g_mime_parser_new_with_stream(stream);
	if (!fresh && (m = g_mime_parser_construct_message(parser, NULL)) !=
	    NULL)
		id = g_mime_message_get_message_id(m);
	if (id != NULL && *id != '\0' && strlen(id) <= TN_MAX_MSGID &&
	    strpbrk(id, " \t\r\n<>") == NULL)
		out = strdup(id);
	else if (util_random(rnd, sizeof(rnd)) == 0 &&
	    (hex = util_hex(rnd, sizeof(rnd))) != NULL) {
		if (asprintf(&out, "%s@%s", hex, strchr(address, '@') + 1)
		    == -1)
			out = NULL;
		free(hex);
	}
	if (m != NULL)
		g_object_unref(m);
	g_object_unref(parser);
	g_object_unref(stream);
	return out;
}

static int
seal_record(struct arm_record *ar, const struct agent_opts *o,
    const char *address, time_t now, char *err)
{
	size_t i;

	ar->ar_restr = o->o_restr;
	ar->ar_issued = now;
	if (o->o_expires != NULL && parse_expires(o->o_expires, now,
	    &ar->ar_restr.rs_expires) == -1) {
		tn_err(err, "--expires: not a number of seconds or a future "
		    "date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ): %s",
		    o->o_expires);
		return -1;
	}
	if ((ar->ar_sender = strdup(address)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	for (i = 0; i < o->o_nto; i++)
		if (arm_add_rcpt(ar, o->o_to[i], err) == -1)
			return -1;
	return 0;
}

static int
seal_write(const struct agent_opts *o, const unsigned char *der,
    size_t derlen, const struct arm_record *ar, char *err)
{
	char *text = NULL;
	size_t len;
	int rc = -1;

	if (arm_format(ar, &text, &len, err) == -1)
		return -1;
	if (util_write_file(o->o_sealed, der, derlen, 0644, 0, err) == -1 ||
	    util_write_file(o->o_arm, text, len, 0600, 0, err) == -1)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

/*
 * The recipients' agents refuse content whose single From: is not the
 * signer's address: refuse it here, before anything is posted.
 */
static int
seal_check_from(const unsigned char *msg, size_t msglen, X509 *cert,
    const char *address, char *err)
{
	char *from;
	int rc = -1;

	if (cms_from_address(msg, msglen, &from, err) == -1)
		return -1;
	if (X509_check_email(cert, from, strlen(from), 0) != 1)
		tn_err(err, "From: %s is not your address %s (the recipients "
		    "would refuse the message)", from, address);
	else
		rc = 0;
	free(from);
	return rc;
}

/* --in -: standard input to its end (a pipe, a file, a terminal). */
static int
seal_read_stdin(unsigned char **msg, size_t *len, char *err)
{
	unsigned char *buf;
	size_t n = 0, r;

	/* One byte more than the largest message tells a larger one. */
	if ((buf = malloc(TN_MAX_MESSAGE + 2)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	while (n <= TN_MAX_MESSAGE && (r = fread(buf + n, 1,
	    TN_MAX_MESSAGE + 1 - n, stdin)) > 0)
		n += r;
	if (ferror(stdin) || n > TN_MAX_MESSAGE) {
		if (ferror(stdin))
			tn_err(err, "standard input: %s", strerror(errno));
		else
			tn_err(err, "standard input: larger than %d bytes",
			    TN_MAX_MESSAGE);
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*msg = buf;
	*len = n;
	return 0;
}

/*
 * o->o_in ("-": standard input) into *msg (free()), at most
 * TN_MAX_MESSAGE bytes. 0, or -1 with err.
 */
int
agent_read_input(const char *in, unsigned char **msg, size_t *len,
    char *err)
{
	if (strcmp(in, "-") == 0)
		return seal_read_stdin(msg, len, err);
	return util_read_file(in, TN_MAX_MESSAGE, msg, len, err);
}

/*
 * Seal msg for o->o_to with id: *ar (arm_free()) and the sealed DER
 * *der (free()); the message id is msg's Message-ID unless fresh.
 * Returns 0 or an exit status, with err.
 */
int
agent_seal_msg(const struct agent_opts *o, const struct cms_id *id,
    const char *address, const unsigned char *msg, size_t msglen, int fresh,
    struct arm_record **ar, unsigned char **der, size_t *derlen, char *err)
{
	time_t now = time(NULL);
	int rc;

	*ar = NULL;
	*der = NULL;
	rc = EX_DATAERR;
	if (seal_check_from(msg, msglen, id->ci_cert, address, err) == -1)
		goto out;
	rc = EX_USAGE;
	if ((*ar = arm_new()) == NULL ||
	    seal_record(*ar, o, address, now, err) == -1)
		goto out;
	rc = EX_DATAERR;
	if (((*ar)->ar_msgid = message_id(msg, msglen, address, fresh)) ==
	    NULL) {
		tn_err(err, "cannot make a message id");
		goto out;
	}
	if (cms_seal(msg, msglen, id, (*ar)->ar_msgid, (*ar)->ar_key,
	    (*ar)->ar_digest, der, derlen, err) == -1)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		arm_free(*ar);
		*ar = NULL;
	}
	return rc;
}

/* agent_seal_msg() of o->o_in. */
int
agent_seal(const struct agent_opts *o, const struct cms_id *id,
    const char *address, struct arm_record **ar, unsigned char **der,
    size_t *derlen, char *err)
{
	unsigned char *msg = NULL;
	size_t msglen;
	int rc;

	*ar = NULL;
	*der = NULL;
	if (agent_read_input(o->o_in, &msg, &msglen, err) == -1)
		return EX_NOINPUT;
	rc = agent_seal_msg(o, id, address, msg, msglen, 0, ar, der, derlen,
	    err);
	free(msg);
	return rc;
}

static int
seal_run(const struct agent_opts *o, struct store *st, const char *pass,
    char *err)
{
	struct cms_id id;
	struct arm_record *ar = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	char *address = NULL;
	int rc;

	if ((rc = agent_load_id(st, pass, &id, &address, err)) != 0)
		return rc;
	if ((rc = agent_seal(o, &id, address, &ar, &der, &derlen, err)) != 0)
		goto out;
	rc = EX_CANTCREAT;
	if (seal_write(o, der, derlen, ar, err) == -1)
		goto out;
	printf("%s\n", ar->ar_msgid);
	rc = 0;
out:
	agent_free_id(&id);
	arm_free(ar);
	free(address);
	free(der);
	return rc;
}

int
cmd_seal(struct agent_opts *o)
{
	struct store *st = NULL;
	char err[TN_ERRLEN], *pass = NULL;
	int rc;

	if (o->o_in == NULL || o->o_sealed == NULL || o->o_arm == NULL ||
	    o->o_nto == 0) {
		fprintf(stderr, "tandem seal: need --to, --in, --sealed and "
		    "--arm\n");
		return EX_USAGE;
	}
	if ((rc = agent_password(o, &pass)) != 0)
		return rc;
	rc = EX_NOINPUT;
	if ((st = store_open(o->o_dir, 0, err)) != NULL)
		rc = seal_run(o, st, pass, err);
	if (rc != 0)
		fprintf(stderr, "tandem seal: %s\n", err);
	store_close(st);
	free(pass);
	return rc;
}

static int
open_exit(enum cms_fail fail)
{
	switch (fail) {
	case CMS_FAIL_DIGEST:
		return AGENT_EX_DIGEST;
	case CMS_FAIL_DECRYPT:
	case CMS_FAIL_SIGNATURE:
		return AGENT_EX_TAMPERED;
	case CMS_FAIL_CHAIN:
		return AGENT_EX_UNTRUSTED;
	case CMS_FAIL_SENDER:
		return AGENT_EX_SENDER;
	case CMS_FAIL_INPUT:
		return EX_DATAERR;
	default:
		return EX_SOFTWARE;
	}
}

/* The restrictions that stop an open before any decryption. */
static int
open_restrictions(struct store *st, const struct arm_record *ar, char *err)
{
	unsigned int n;

	if (ar->ar_restr.rs_expires != 0 &&
	    time(NULL) >= ar->ar_restr.rs_expires) {
		tn_err(err, "refused: message %s expired", ar->ar_msgid);
		if (store_arm_forget(st, ar->ar_msgid, err) == -1)
			return EX_SOFTWARE;
		return AGENT_EX_EXPIRED;
	}
	if (store_opens(st, ar, &n, err) == -1)
		return EX_SOFTWARE;
	if (ar->ar_restr.rs_max_opens != 0 && n >= ar->ar_restr.rs_max_opens) {
		tn_err(err, "refused: message %s already opened %u times "
		    "(at most %u)", ar->ar_msgid, n, ar->ar_restr.rs_max_opens);
		return AGENT_EX_OPENS;
	}
	return 0;
}

static int
open_read(const struct agent_opts *o, struct arm_record **ar,
    unsigned char **der, size_t *derlen, char *err)
{
	unsigned char *text = NULL;
	size_t len;
	int rc = EX_NOINPUT;

	if (util_read_file(o->o_arm, AGENT_MAX_ARM, &text, &len, err) == -1 ||
	    util_read_file(o->o_sealed, TN_MAX_MESSAGE, der, derlen,
	    err) == -1)
		goto out;
	rc = EX_DATAERR;
	if (arm_parse((const char *)text, len, ar, err) == -1)
		goto out;
	rc = 0;
out:
	if (text != NULL)
		OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

/* Tandem's rules for the signer, and the ARM sender is the signer. */
static int
open_check_signer(const struct pki_trust *trust, X509 *signer,
    STACK_OF(X509) *certs, const struct arm_record *ar, char *err)
{
	char why[TN_ERRLEN];

	if (pki_verify(trust, signer, certs, NULL, why) == -1) {
		tn_err(err, "refused: signer not certified to the root: %s",
		    why);
		return AGENT_EX_UNTRUSTED;
	}
	if (ar->ar_sender == NULL || X509_check_email(signer, ar->ar_sender,
	    strlen(ar->ar_sender), 0) != 1) {
		tn_err(err, "refused: signer is not the ARM sender %s",
		    ar->ar_sender ? ar->ar_sender : "(none)");
		return AGENT_EX_SENDER;
	}
	return agent_check_author(signer, certs, ar->ar_sender, NULL, err);
}

/*
 * Every check of an open, then count it (unless !count: a delivery of
 * an unrestricted message, deliver.c): *msg (free()) is the inner
 * message. Returns 0 or an exit status, with err.
 */
int
agent_open(struct store *st, const struct pki_trust *trust,
    const struct arm_record *ar, const unsigned char *der, size_t derlen,
    int count, unsigned char **msg, size_t *msglen, char *err)
{
	STACK_OF(X509) *certs = NULL;
	X509 *signer = NULL;
	enum cms_fail fail;
	char why[TN_ERRLEN];
	int rc;

	*msg = NULL;
	if ((rc = open_restrictions(st, ar, err)) != 0)
		goto out;
	if (cms_open(der, derlen, ar->ar_msgid, ar->ar_key, ar->ar_digest,
	    pki_trust_store(trust), msg, msglen, &signer, &certs, &fail,
	    why) == -1) {
		rc = open_exit(fail);
		tn_err(err, "%s%s", rc == EX_DATAERR ? "" : "refused: ", why);
		goto out;
	}
	if ((rc = open_check_signer(trust, signer, certs, ar, err)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if (count && store_count_open(st, ar, err) == -1)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		free(*msg);
		*msg = NULL;
	}
	sk_X509_pop_free(certs, X509_free);
	X509_free(signer);
	return rc;
}

static int
open_run(const struct agent_opts *o, struct store *st,
    const struct pki_trust *trust, char *err)
{
	struct arm_record *ar = NULL;
	unsigned char *der = NULL, *msg = NULL;
	size_t derlen, msglen;
	int rc;

	if ((rc = open_read(o, &ar, &der, &derlen, err)) != 0 ||
	    (rc = agent_open(st, trust, ar, der, derlen, 1, &msg, &msglen,
	    err)) != 0)
		goto out;
	rc = EX_CANTCREAT;
	if (o->o_out != NULL ? util_write_file(o->o_out, msg, msglen, 0600, 0,
	    err) == -1 : fwrite(msg, 1, msglen, stdout) != msglen) {
		if (o->o_out == NULL)
			tn_err(err, "standard output: write error");
		goto out;
	}
	rc = 0;
out:
	arm_free(ar);
	free(der);
	free(msg);
	return rc;
}

int
cmd_open(struct agent_opts *o)
{
	struct store *st = NULL;
	struct pki_trust *trust = NULL;
	char err[TN_ERRLEN], path[1024];
	int rc = EX_NOINPUT;

	if (o->o_sealed == NULL || o->o_arm == NULL) {
		fprintf(stderr, "tandem open: need --sealed and --arm\n");
		return EX_USAGE;
	}
	if ((st = store_open(o->o_dir, 0, err)) == NULL)
		goto out;
	rc = EX_CONFIG;
	if (store_path(o->o_dir, "anchors.pem", path, sizeof(path)) == -1 ||
	    (trust = pki_trust_load(path, err)) == NULL)
		goto out;
	rc = open_run(o, st, trust, err);
out:
	if (rc != 0)
		fprintf(stderr, "tandem open: %s\n", err);
	pki_trust_free(trust);
	store_close(st);
	return rc;
}
