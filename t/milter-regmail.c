/*
 * NAME
 *	milter-regmail - a registration service mail, for scenarios
 * SYNOPSIS
 *	milter-regmail FG-CERT FROM TO ADDRESS TOKEN CSR-FILE >MAIL
 * DESCRIPTION
 *	Writes on standard output the mail an agent sends to register
 *	(doc/flows.md 3, step 1): a registration protocol message
 *	(Token, Address, part agent-csr read from CSR-FILE), enveloped
 *	to the FG element certificate in FG-CERT, composed as a
 *	"Tandem-Kind: service" mail from FROM to TO. Unlike
 *	"tandem register" it checks nothing, so that t/0510 can send
 *	the registrations the milter must refuse: a wrong token, a CSR
 *	for another address, an Address that is not the sender.
 * DIAGNOSTICS
 *	Exit 0, or 1 with a message on standard error; 64 on bad usage.
 */
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cms.h"
#include "pki.h"
#include "proto.h"
#include "tandem.h"
#include "tmail.h"
#include "util.h"

int
main(int argc, char **argv)
{
	struct proto_msg *pm = NULL;
	STACK_OF(X509) *to = NULL;
	struct tmail_head th;
	unsigned char *csr = NULL, *wrap = NULL;
	char err[TN_ERRLEN], id[TN_MAX_MSGID + 1], now[32];
	char *text = NULL, *mail = NULL;
	const char *rcpt;
	size_t csrlen, tlen, wlen, mlen;
	X509 *fg = NULL;
	int rc = 1;

	if (argc != 7) {
		fprintf(stderr, "usage: milter-regmail FG-CERT FROM TO ADDRESS "
		    "TOKEN CSR-FILE\n");
		return EX_USAGE;
	}
	rcpt = argv[3];
	err[0] = '\0';
	proto_init();
	proto_format_time(time(NULL), now, sizeof(now));
	if ((fg = pki_load_cert(argv[1], err)) == NULL ||
	    util_read_file(argv[6], 64 * 1024, &csr, &csrlen, err) == -1 ||
	    tmail_msgid(argv[2], id, sizeof(id)) == -1 ||
	    (pm = proto_msg_new(PROTO_REGISTRATION)) == NULL ||
	    (to = sk_X509_new_null()) == NULL || !sk_X509_push(to, fg))
		goto out;
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_SERVICE;
	th.th_from = argv[2];
	th.th_to = &rcpt;
	th.th_nto = 1;
	th.th_msgid = id;
	if (proto_set(pm, "Id", id, err) || proto_set(pm, "Date", now, err) ||
	    proto_set(pm, "Token", argv[5], err) ||
	    proto_set(pm, "Address", argv[4], err) ||
	    proto_attach(pm, "agent-csr", csr, csrlen, err) ||
	    proto_format(pm, &text, &tlen, err) == -1 ||
	    cms_envelope((unsigned char *)text, tlen, to, &wrap, &wlen,
	    err) == -1 ||
	    tmail_compose(&th, wrap, wlen, &mail, &mlen, err) == -1)
		goto out;
	if (fwrite(mail, 1, mlen, stdout) != mlen || fflush(stdout) != 0) {
		tn_err(err, "cannot write the mail");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "milter-regmail: %s\n", err[0] ? err :
		    "out of memory");
	sk_X509_free(to);
	X509_free(fg);
	proto_msg_free(pm);
	free(csr);
	free(text);
	free(wrap);
	free(mail);
	proto_shutdown();
	return rc;
}
