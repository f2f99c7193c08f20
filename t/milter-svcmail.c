/*
 * NAME
 *	milter-svcmail - an agent's service mail of any kind, for scenarios
 * SYNOPSIS
 *	milter-svcmail KEY PASS CERT TO-CERT FROM TO KIND [FIELD=VALUE |
 *	    @ROLE=FILE] ... >MAIL
 * DESCRIPTION
 *	Writes on standard output a "Tandem-Kind: service" mail from FROM
 *	to TO whose body is a protocol message of KIND (lib/proto.h
 *	names), with the fields given (Id and Date are made when not
 *	given) and each @ROLE=FILE as a part, signed with the key in KEY
 *	(PEM, encrypted with PASS, or "" for none) and its certificate,
 *	the first of CERT (the others are carried as its chain),
 *	enveloped to TO-CERT: the wrap agent -> courier that
 *	"tandem" sends. Unlike the agent it checks nothing, so that a
 *	scenario can send what the milter must refuse (t/0680: a
 *	rekeying-complete nobody asked for, a stale exchange-keys, a
 *	request for another address).
 * DIAGNOSTICS
 *	Exit 0, or 1 with a message on standard error; 64 on bad usage.
 */
#include <openssl/evp.h>
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

/* One FIELD=VALUE or @ROLE=FILE argument into pm. */
static int
svc_arg(struct proto_msg *pm, char *arg, char *err)
{
	unsigned char *data = NULL;
	size_t len;
	char *eq = strchr(arg, '=');
	int rc;

	if (eq == NULL || eq == arg) {
		tn_err(err, "\"%s\": not FIELD=VALUE or @ROLE=FILE", arg);
		return -1;
	}
	*eq++ = '\0';
	if (arg[0] != '@')
		return proto_set(pm, arg, eq, err);
	if (util_read_file(eq, 64 * 1024, &data, &len, err) == -1)
		return -1;
	rc = proto_attach(pm, arg + 1, data, len, err);
	free(data);
	return rc;
}

int
main(int argc, char **argv)
{
	struct proto_msg *pm = NULL;
	struct tmail_head th;
	struct cms_id id;
	char err[TN_ERRLEN], mid[TN_MAX_MSGID + 1], now[32];
	char *text = NULL, *mail = NULL;
	unsigned char *wrap = NULL;
	const char *rcpt;
	size_t tlen, wlen, mlen;
	X509 *to = NULL;
	enum proto_kind kind;
	int i, rc = 1;

	if (argc < 8) {
		fprintf(stderr, "usage: milter-svcmail KEY PASS CERT TO-CERT "
		    "FROM TO KIND [FIELD=VALUE | @ROLE=FILE] ...\n");
		return EX_USAGE;
	}
	memset(&id, 0, sizeof(id));
	rcpt = argv[6];
	err[0] = '\0';
	proto_init();
	proto_format_time(time(NULL), now, sizeof(now));
	if ((kind = proto_kind_from_name(argv[7])) == PROTO_NONE) {
		fprintf(stderr, "milter-svcmail: no kind %s\n", argv[7]);
		proto_shutdown();
		return EX_USAGE;
	}
	if ((id.ci_key = pki_load_key(argv[1], argv[2][0] != '\0' ? argv[2] :
	    NULL, err)) == NULL ||
	    (id.ci_chain = pki_load_certs(argv[3], err)) == NULL ||
	    (id.ci_cert = sk_X509_shift(id.ci_chain)) == NULL ||
	    (to = pki_load_cert(argv[4], err)) == NULL ||
	    tmail_msgid(argv[5], mid, sizeof(mid)) == -1 ||
	    (pm = proto_msg_new(kind)) == NULL)
		goto out;
	for (i = 8; i < argc; i++)
		if (svc_arg(pm, argv[i], err) == -1)
			goto out;
	if ((proto_get(pm, "Id") == NULL && proto_set(pm, "Id", mid, err)) ||
	    (proto_get(pm, "Date") == NULL &&
	    proto_set(pm, "Date", now, err)) ||
	    proto_format(pm, &text, &tlen, err) == -1 ||
	    cms_wrap_to((unsigned char *)text, tlen, &id, to, &wrap, &wlen,
	    err) == -1)
		goto out;
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_SERVICE;
	th.th_from = argv[5];
	th.th_to = &rcpt;
	th.th_nto = 1;
	th.th_msgid = proto_get(pm, "Id");
	if (tmail_compose(&th, wrap, wlen, &mail, &mlen, err) == -1)
		goto out;
	if (fwrite(mail, 1, mlen, stdout) != mlen || fflush(stdout) != 0) {
		tn_err(err, "cannot write the mail");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "milter-svcmail: %s\n", err[0] ? err :
		    "out of memory");
	X509_free(id.ci_cert);
	sk_X509_pop_free(id.ci_chain, X509_free);
	EVP_PKEY_free(id.ci_key);
	X509_free(to);
	proto_msg_free(pm);
	free(text);
	free(wrap);
	free(mail);
	proto_shutdown();
	return rc;
}
