/*
 * NAME
 *	armlimit - store prepared ARMs in one process, without HTTP or TLS
 * SYNOPSIS
 *	armlimit -c CONF -a ADDRESS -C CLIENTCERT [-n COUNT] DIR
 * DESCRIPTION
 *	The in-process limit of the policyd throughput benchmark: what
 *	tandem-policyd does for POST /v1/arm after the TLS layer, called
 *	in a loop. It loads tandem.conf CONF and what it names as the
 *	daemon does (trust anchors, the BG element's certificate, key
 *	and chain, the keybox key, its own introduction), connects to
 *	the background database (store_connect()), reads COUNT prepared
 *	ARMs (default: every one) from DIR (bench/armprep,
 *	bench/armset.c), then starts the clock and calls store_arm()
 *	(policy/store.c) for each, as from the client whose agent
 *	certificate is CLIENTCERT and whose address is ADDRESS: the same
 *	unwrap, checks of the signer and the sender, and transaction as
 *	the daemon's, its log lines on standard error.
 *
 *	It prints one line, as bench/armload does: "sent=N created=C
 *	errors=E seconds=T rate=R", R being C / T; an ARM counts only
 *	when store_arm() answers 201. The first error goes to standard
 *	error.
 *
 *	Not checked here, being what the daemon does before store_arm():
 *	the TLS handshake's verification of the client certificate and
 *	the request's authorisation (http.c).
 * DIAGNOSTICS
 *	Exits 0 when every ARM was created, 1 when some were not,
 *	EX_USAGE on bad arguments, EX_NOINPUT when a file cannot be read,
 *	EX_CONFIG for a bad configuration or a file it names,
 *	EX_UNAVAILABLE when the database cannot be reached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "policyd.h"
#include "proto.h"
#include "tandem.h"
#include "armset.h"
#include "bench.h"

#define AM_USAGE	"armlimit -c CONF -a ADDRESS -C CLIENTCERT " \
	"[-n COUNT] DIR"

int
main(int argc, char **argv)
{
	struct pd pd;
	struct armset *set = NULL;
	const char *conf = NULL, *address = NULL, *certpath = NULL;
	char err[TN_ERRLEN], msg[256], first[TN_ERRLEN + 64];
	X509 *client = NULL;
	enum pd_status st;
	double t0, t1;
	long count = 0, n, created = 0, errors = 0;
	int ch, rc = EX_CONFIG;

	while ((ch = getopt(argc, argv, "a:C:c:n:")) != -1) {
		switch (ch) {
		case 'a': address = optarg; break;
		case 'C': certpath = optarg; break;
		case 'c': conf = optarg; break;
		case 'n': count = bench_number(optarg, 1, 10000000, AM_USAGE);
		    break;
		default: bench_usage(AM_USAGE);
		}
	}
	if (argc - optind != 1 || conf == NULL || address == NULL ||
	    certpath == NULL)
		bench_usage(AM_USAGE);
	log_init("armlimit", 1);
	memset(&pd, 0, sizeof(pd));
	pd.pd_conf_path = conf;
	first[0] = '\0';
	/* What tandem-policyd loads at start-up (pd_load(), load.c). */
	if (conf_load(conf, &pd.pd_cf, err) == -1 || pd_load(&pd, err) == -1)
		goto out;
	rc = EX_NOINPUT;
	if ((client = pki_load_cert(certpath, err)) == NULL ||
	    armset_load(argv[optind], count, &set, err) == -1)
		goto out;
	rc = EX_UNAVAILABLE;
	if (store_connect(&pd, err) == -1)
		goto out;
	t0 = bench_now();
	for (n = 0; n < set->as_count; n++) {
		pd.pd_req_msgid[0] = '\0';
		st = store_arm(&pd, client, address, set->as_items[n].ai_data,
		    set->as_items[n].ai_len, msg, sizeof(msg));
		if (st == PD_CREATED)
			created++;
		else if (errors++ == 0)
			snprintf(first, sizeof(first), "ARM %ld: %d %s", n + 1,
			    (int)st, msg);
	}
	t1 = bench_now();
	printf("sent=%ld created=%ld errors=%ld seconds=%.3f rate=%.1f\n",
	    set->as_count, created, errors, t1 - t0,
	    t1 > t0 ? (double)created / (t1 - t0) : 0);
	if (errors > 0)
		fprintf(stderr, "armlimit: first error: %s\n", first);
	rc = errors == 0 ? 0 : 1;
out:
	if (rc > 1)
		fprintf(stderr, "armlimit: %s\n", err);
	armset_free(set);
	X509_free(client);
	store_close(&pd);
	pd_free_loaded(&pd);
	proto_shutdown();
	return rc;
}
