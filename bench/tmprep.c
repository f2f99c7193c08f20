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
 *	message From FROM To TO with SIZE bytes of body (default 4096,
 *	at most 16 MiB), sealed by the sender (cms_seal(), a fresh
 *	message id from tmail_msgid()), wrapped agent -> courier
 *	(cms_wrap(), signed with KEY and CERT, CHAIN sent along,
 *	enveloped to COURIERCERT, the sender's courier-end certificate),
 *	and composed as a
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
 * SEE ALSO
 *	bench/prep.c, the arguments and the files, shared with
 *	bench/armprep; this file only makes one mail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem.h"
#include "cms.h"
#include "tmail.h"
#include "prep.h"

/* The inner message: headers, then size bytes of 64-column text. */
static char *
tp_inner(const struct prep_opts *po, const char *msgid, long n, size_t *len)
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
	    po->po_from, po->po_to, n, msgid);
	if (hl >= sizeof(head) ||
	    (msg = malloc(hl + (size_t)po->po_size + 1)) == NULL)
		return NULL;
	memcpy(msg, head, hl);
	for (i = 0; i < (size_t)po->po_size; i++)
		msg[hl + i] = line[i % ll];
	*len = hl + (size_t)po->po_size;
	if (po->po_size >= 2) {		/* end on a line break */
		msg[*len - 2] = '\r';
		msg[*len - 1] = '\n';
	}
	msg[*len] = '\0';
	return msg;
}

/* One mail: seal, wrap, compose. 0, or -1 with the reason in err. */
static int
tp_make(const struct prep_opts *po, const struct cms_id *id,
    STACK_OF(X509) *rcpts, long n, unsigned char **out, size_t *outlen,
    char *err)
{
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN];
	unsigned char *der = NULL, *w = NULL;
	char msgid[256], *inner = NULL, *mail = NULL;
	const char *tos[1] = { po->po_to };
	struct tmail_head th;
	size_t innerlen, derlen, wlen, maillen;
	int rc = -1;

	if (tmail_msgid(po->po_from, msgid, sizeof(msgid)) == -1) {
		tn_err(err, "%s: no message id for it", po->po_from);
		goto out;
	}
	if ((inner = tp_inner(po, msgid, n, &innerlen)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_CONTENT;
	th.th_from = po->po_from;
	th.th_to = tos;
	th.th_nto = 1;
	th.th_msgid = msgid;
	if (cms_seal((unsigned char *)inner, innerlen, id, msgid, key,
	    digest, &der, &derlen, err) == -1 ||
	    cms_wrap(der, derlen, id, rcpts, 0, &w, &wlen, err) == -1 ||
	    tmail_compose(&th, w, wlen, &mail, &maillen, err) == -1)
		goto out;
	*out = (unsigned char *)mail;
	*outlen = maillen;
	mail = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	free(inner);
	free(der);
	free(w);
	free(mail);
	return rc;
}

const struct prep_kind prep_kind = {
	.pk_name = "tmprep",
	.pk_usage = "tmprep -k KEY -c CERT [-C CHAIN] -r COURIERCERT "
	    "-f FROM -t TO [-n COUNT] [-s SIZE] -o DIR",
	.pk_suffix = "eml",
	.pk_sized = 1,
	.pk_make = tp_make,
};
