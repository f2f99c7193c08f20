/*
 * NAME
 *	tmprep - prepare Tandem content mails for the throughput benchmark
 * SYNOPSIS
 *	tmprep -k KEY -c CERT [-C CHAIN] -r COURIERCERT -f FROM -t TO
 *	    [-n COUNT] [-s SIZE] -o DIR
 * DESCRIPTION
 *	Writes COUNT (default 1) files DIR/NNNNNN.eml, each the mail an
 *	agent submits for one private message (doc/flows.md 2), built
 *	with the library calls "tandem send" makes: a plain-text MIME
 *	message From FROM To TO with SIZE bytes of body (default 4096),
 *	sealed by the sender (cms_seal(), a fresh message id from
 *	tmail_msgid()), wrapped agent -> courier (cms_wrap(), signed with
 *	KEY and CERT, CHAIN sent along, enveloped to COURIERCERT, the
 *	sender's courier-end certificate), and composed as a
 *	"Tandem-Kind: content" mail (tmail_compose()). Every file has its
 *	own message id, so that no receiver drops one as a duplicate.
 *
 *	KEY is the agent's private key as plain PEM: the benchmark makes
 *	its own agent key outside any agent store. The ARM record is not
 *	written: the benchmark runs no background element.
 * DIAGNOSTICS
 *	Exits 0 when every file was written; EX_USAGE on bad arguments,
 *	EX_NOINPUT when a key or certificate cannot be read, EX_CANTCREAT
 *	when a file cannot be written, EX_SOFTWARE when sealing fails;
 *	the reason on standard error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "tandem.h"
#include "cms.h"
#include "pki.h"
#include "tmail.h"

struct tp_opts {
	const char	*to_key;
	const char	*to_cert;
	const char	*to_chain;
	const char	*to_courier;
	const char	*to_from;
	const char	*to_to;
	const char	*to_dir;
	long		 to_count;
	long		 to_size;
};

static void
tp_usage(void)
{
	fprintf(stderr, "usage: tmprep -k KEY -c CERT [-C CHAIN] "
	    "-r COURIERCERT -f FROM -t TO [-n COUNT] [-s SIZE] -o DIR\n");
	exit(EX_USAGE);
}

static long
tp_number(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max)
		tp_usage();
	return v;
}

static void
tp_options(struct tp_opts *to, int argc, char **argv)
{
	int ch;

	to->to_count = 1;
	to->to_size = 4096;
	while ((ch = getopt(argc, argv, "C:c:f:k:n:o:r:s:t:")) != -1) {
		switch (ch) {
		case 'C':
			to->to_chain = optarg;
			break;
		case 'c':
			to->to_cert = optarg;
			break;
		case 'f':
			to->to_from = optarg;
			break;
		case 'k':
			to->to_key = optarg;
			break;
		case 'n':
			to->to_count = tp_number(optarg, 1, 1000000);
			break;
		case 'o':
			to->to_dir = optarg;
			break;
		case 'r':
			to->to_courier = optarg;
			break;
		case 's':
			to->to_size = tp_number(optarg, 0, 1048576);
			break;
		case 't':
			to->to_to = optarg;
			break;
		default:
			tp_usage();
		}
	}
	if (optind != argc || to->to_key == NULL || to->to_cert == NULL ||
	    to->to_courier == NULL || to->to_from == NULL ||
	    to->to_to == NULL || to->to_dir == NULL)
		tp_usage();
}

/* The inner message: headers, then size bytes of 64-column text. */
static char *
tp_inner(const struct tp_opts *to, const char *msgid, long n, size_t *len)
{
	static const char line[] = "Tandem benchmark text, the same "
	    "in every message, line after line.\r\n";
	char head[1024];
	char *msg;
	size_t hl, ll = sizeof(line) - 1, i;

	hl = (size_t)snprintf(head, sizeof(head), "From: %s\r\nTo: %s\r\n"
	    "Subject: benchmark message %ld\r\nMessage-ID: <%s>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
	    to->to_from, to->to_to, n, msgid);
	if (hl >= sizeof(head) ||
	    (msg = malloc(hl + (size_t)to->to_size + 1)) == NULL)
		return NULL;
	memcpy(msg, head, hl);
	for (i = 0; i < (size_t)to->to_size; i++)
		msg[hl + i] = line[i % ll];
	*len = hl + (size_t)to->to_size;
	if (to->to_size >= 2) {		/* end on a line break */
		msg[*len - 2] = '\r';
		msg[*len - 1] = '\n';
	}
	msg[*len] = '\0';
	return msg;
}

static int
tp_write(const char *dir, long n, const char *buf, size_t len, char *err)
{
	char path[4096];
	FILE *fp;
	int rc = -1;

	if (snprintf(path, sizeof(path), "%s/%06ld.eml", dir, n) >=
	    (int)sizeof(path)) {
		tn_err(err, "%s: path too long", dir);
		return -1;
	}
	if ((fp = fopen(path, "wb")) == NULL) {
		tn_err(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fwrite(buf, 1, len, fp) == len)
		rc = 0;
	if (fclose(fp) == EOF || rc == -1) {
		tn_err(err, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* One mail: seal, wrap, compose, write. 0, or an exit status. */
static int
tp_one(const struct tp_opts *to, const struct cms_id *id,
    STACK_OF(X509) *rcpts, long n, char *err)
{
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN];
	unsigned char *der = NULL, *w = NULL;
	char msgid[256], *inner = NULL, *mail = NULL;
	const char *tos[1] = { to->to_to };
	struct tmail_head th;
	size_t innerlen, derlen, wlen, maillen;
	int rc = EX_SOFTWARE;

	if (tmail_msgid(to->to_from, msgid, sizeof(msgid)) == -1) {
		tn_err(err, "%s: no message id for it", to->to_from);
		goto out;
	}
	if ((inner = tp_inner(to, msgid, n, &innerlen)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_CONTENT;
	th.th_from = to->to_from;
	th.th_to = tos;
	th.th_nto = 1;
	th.th_msgid = msgid;
	if (cms_seal((unsigned char *)inner, innerlen, id, msgid, key,
	    digest, &der, &derlen, err) == -1 ||
	    cms_wrap(der, derlen, id, rcpts, 0, &w, &wlen, err) == -1 ||
	    tmail_compose(&th, w, wlen, &mail, &maillen, err) == -1)
		goto out;
	rc = EX_CANTCREAT;
	if (tp_write(to->to_dir, n, mail, maillen, err) == -1)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(inner);
	free(der);
	free(w);
	free(mail);
	return rc;
}

int
main(int argc, char **argv)
{
	struct tp_opts to;
	struct cms_id id;
	STACK_OF(X509) *rcpts = NULL;
	char err[TN_ERRLEN];
	long n;
	int rc = EX_NOINPUT;

	memset(&to, 0, sizeof(to));
	memset(&id, 0, sizeof(id));
	tp_options(&to, argc, argv);
	if ((id.ci_key = pki_load_key(to.to_key, NULL, err)) == NULL ||
	    (id.ci_cert = pki_load_cert(to.to_cert, err)) == NULL ||
	    (to.to_chain != NULL &&
	    (id.ci_chain = pki_load_certs(to.to_chain, err)) == NULL) ||
	    (rcpts = pki_load_certs(to.to_courier, err)) == NULL)
		goto out;
	for (n = 1, rc = 0; rc == 0 && n <= to.to_count; n++)
		rc = tp_one(&to, &id, rcpts, n, err);
out:
	if (rc != 0)
		fprintf(stderr, "tmprep: %s\n", err);
	EVP_PKEY_free(id.ci_key);
	X509_free(id.ci_cert);
	sk_X509_pop_free(id.ci_chain, X509_free);
	sk_X509_pop_free(rcpts, X509_free);
	return rc;
}
