/*
 * NAME
 *	prep.h - the shared half of bench/tmprep and bench/armprep
 * SYNOPSIS
 *	#include "prep.h"
 *
 *	const struct prep_kind prep_kind = { ... };
 * DESCRIPTION
 *	Both programs take the same arguments, -k KEY -c CERT [-C CHAIN]
 *	-r COURIERCERT -f FROM -t TO [-n COUNT] -o DIR, and tmprep
 *	[-s SIZE] too, and write COUNT (default 1) files DIR/NNNNNN.SUF,
 *	numbered from 1. prep.c holds their main(); each program
 *	defines only prep_kind, what sets it apart: its name, its usage
 *	line, SUF, whether it takes -s, and pk_make.
 *
 *	main() reads the arguments into a struct prep_opts (bad ones:
 *	"usage: " pk_usage, and exit EX_USAGE), loads the agent's
 *	identity (KEY, plain PEM, CERT and CHAIN) and the recipients
 *	COURIERCERT, then calls pk_make for n = 1, 2, ... COUNT and
 *	writes what it made as file n.
 *
 *	pk_make(po, id, rcpts, n, &buf, &len, err) makes file n: 0 with
 *	its len bytes in buf, which main() passes to free(), or -1 with
 *	the reason in err. po, id and rcpts stay main()'s.
 * DIAGNOSTICS
 *	The program exits 0 when every file was written; EX_NOINPUT
 *	when a key or certificate cannot be read, EX_SOFTWARE when
 *	pk_make fails, EX_CANTCREAT when a file cannot be written; the
 *	reason on standard error after pk_name.
 */
#ifndef TANDEM_BENCH_PREP_H
#define TANDEM_BENCH_PREP_H

#include <stddef.h>

#include "cms.h"

struct prep_opts {
	const char	*po_key;
	const char	*po_cert;
	const char	*po_chain;
	const char	*po_courier;
	const char	*po_from;
	const char	*po_to;
	const char	*po_dir;
	long		 po_count;
	long		 po_size;	/* -s, when pk_sized */
};

struct prep_kind {
	const char	*pk_name;	/* "tmprep" */
	const char	*pk_usage;	/* its synopsis */
	const char	*pk_suffix;	/* "eml": DIR/NNNNNN.eml */
	int		 pk_sized;	/* takes -s SIZE (default 4096) */
	int		(*pk_make)(const struct prep_opts *,
			    const struct cms_id *, STACK_OF(X509) *, long,
			    unsigned char **, size_t *, char *);
};

extern const struct prep_kind prep_kind;

#endif
