/*
 * NAME
 *	status.c - tandemctl status: what an element's operator checks
 * SYNOPSIS
 *	#include "ctl.h"
 *
 *	int	ctl_status(int argc, char **argv);
 * DESCRIPTION
 *	tandemctl status --conf FILE [--ca-dir] reads an element's
 *	tandem.conf and prints, one line each: the certificates of
 *	tls.cert and tls.chain (and, with --ca-dir, the issuing CA of
 *	foreground.ca_dir) that expire within tls.expiry_warning
 *	(pki_expiry_check(), the lines the daemons log), how many there
 *	are, and the schema version of its database against the one this
 *	build needs (db_schema_check()), as the daemon would see them;
 *	then what the element holds and owes (counters_each(), the lines
 *	form).
 * DIAGNOSTICS
 *	0 when nothing is to be done; 1 when a certificate expires within
 *	tls.expiry_warning; 78 when the schema does not match the build
 *	(or the configuration cannot be read); 69 when the database cannot
 *	be reached; 64 usage.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "conf.h"
#include "counters.h"
#include "ctl.h"
#include "db.h"
#include "pki.h"

static void
status_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int
status_print(const char *text, void *arg)
{
	(void)arg;
	printf("%s\n", text);
	return 0;
}

/* The element the database was migrated as, into out (3 bytes). */
static int
status_element(PGconn *db, char *out, char *err)
{
	if (db_one(db, "SELECT min(element) FROM schema_migrations", 0,
	    NULL, out, 3, err) != 1)
		return -1;
	return out[0] == '\0' ? -1 : 0;
}

int
ctl_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "conf", required_argument, NULL, 'c' },
		{ "ca-dir", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct conf *cf = NULL;
	const char *path = NULL;
	char err[TN_ERRLEN], element[3];
	PGconn *db = NULL;
	int c, ca = 0, n, r, status = EX_SOFTWARE;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'c')
			path = optarg;
		else if (c == 'a')
			ca = 1;
		else
			return EX_USAGE;
	}
	if (path == NULL || optind != argc)
		return ctl_fail(EX_USAGE, "status needs --conf");
	if (conf_load(path, &cf, err) == -1)
		return ctl_fail(EX_CONFIG, "%s", err);
	n = pki_expiry_check(cf, ca ? cf->cf_ca_dir : NULL, time(NULL),
	    status_say);
	printf("certificates expiring within %ld days: %d\n",
	    cf->cf_expiry_warning / 86400, n);
	db = PQconnectdb(cf->cf_conninfo);
	if (db_down(db)) {
		status = ctl_fail(EX_UNAVAILABLE, "database: %.200s",
		    db == NULL ? "out of memory" : PQerrorMessage(db));
		goto out;
	}
	if (status_element(db, element, err) == -1) {
		status = ctl_fail(EX_CONFIG, "database not migrated: run "
		    "tandemctl db migrate");
		goto out;
	}
	if ((r = db_schema_check(db, element, err)) != 0) {
		status = ctl_fail(r == 1 ? EX_UNAVAILABLE : EX_CONFIG, "%s",
		    err);
		goto out;
	}
	printf("database %s schema at %03d, as this build needs\n", element,
	    db_schema_needed(element));
	if (counters_each(db, element, COUNTERS_LINES, status_print, NULL,
	    err) == -1) {
		status = ctl_fail(EX_UNAVAILABLE, "database: %s", err);
		goto out;
	}
	status = n > 0 ? 1 : 0;
out:
	PQfinish(db);
	conf_free(cf);
	return status;
}
