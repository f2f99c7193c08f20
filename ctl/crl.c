/*
 * NAME
 *	crl.c - tandemctl crl fetch: the revocation lists of tls.crl_file,
 *	gathered from where the CAs publish them
 * SYNOPSIS
 *	tandemctl crl fetch --out FILE [--ca PEM] [--timeout SECONDS] URL...
 * DESCRIPTION
 *	Fetches every URL (http://, as CRL distribution points are
 *	published: a list is signed, the transport adds nothing; or a
 *	local file path), each holding one list in DER or any number in
 *	PEM, and writes them all, in PEM, to FILE: a new file renamed over
 *	the old, so that a daemon looking at it on its tls.crl_refresh
 *	reads either the old lists or the new, never half. All or nothing:
 *	if one URL fails, or one list is not signed by a certificate of
 *	--ca (when given: the CA certificates whose lists these are), FILE
 *	stays as it was and the exit status says so. A list already past
 *	its next update is written (the daemons decide, tls.crl_missing)
 *	and said on standard error. Meant for a timer (contrib/systemd).
 * DIAGNOSTICS
 *	0; EX_USAGE; EX_UNAVAILABLE when a URL cannot be fetched;
 *	EX_DATAERR when what it gives is no list, or a list no --ca
 *	certificate signed; EX_CANTCREAT when FILE cannot be written.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crlfetch.h"
#include "ctl.h"
#include "pki.h"
#include "util.h"

static int
crl_fetch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "ca", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	STACK_OF(X509) *cas = NULL;
	const char *out = NULL, *ca = NULL;
	char err[TN_ERRLEN], stale[TN_ERRLEN];
	long timeout = 30;
	int ch, count, i, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'c': ca = optarg; break;
		case 't':
			if ((timeout = strtol(optarg, NULL, 10)) < 1 ||
			    timeout > 3600)
				return ctl_fail(EX_USAGE, "--timeout: 1 to 3600 "
				    "seconds");
			break;
		default: return EX_USAGE;
		}
	}
	if (out == NULL || optind >= argc)
		return ctl_fail(EX_USAGE, "usage: tandemctl crl fetch --out "
		    "FILE [--ca PEM] [--timeout SECONDS] URL...");
	for (i = optind; i < argc; i++)
		if (strncmp(argv[i], "http://", 7) != 0 &&
		    strstr(argv[i], "://") != NULL)
			return ctl_fail(EX_USAGE, "%s: only http:// URLs and "
			    "files (a list is signed: no TLS is needed)",
			    argv[i]);
	if (ca != NULL && (cas = pki_load_certs(ca, err)) == NULL)
		return ctl_fail(EX_NOINPUT, "%s", err);
	switch (crlfetch_run((const char *const *)argv + optind,
	    (size_t)(argc - optind), cas, ca, (int)timeout, out, &count,
	    stale, err)) {
	case 0:
		break;
	case CRLFETCH_FETCH:
		rc = ctl_fail(EX_UNAVAILABLE, "%s; %s is unchanged", err, out);
		goto done;
	case CRLFETCH_DATA:
		rc = ctl_fail(EX_DATAERR, "%s; %s is unchanged", err, out);
		goto done;
	case CRLFETCH_WRITE:
		rc = ctl_fail(EX_CANTCREAT, "%s", err);
		goto done;
	default:
		rc = ctl_fail(EX_OSERR, "%s", err);
		goto done;
	}
	if (stale[0] != '\0')
		ctl_fail(0, "warning: %s", stale);
	printf("%s: %d list%s\n", out, count, count == 1 ? "" : "s");
	rc = 0;
done:
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

int
ctl_crl(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "fetch") == 0)
		return crl_fetch(argc - 1, argv + 1);
	return ctl_fail(EX_USAGE, "usage: tandemctl crl fetch --out FILE "
	    "[--ca PEM] [--timeout SECONDS] URL...");
}
