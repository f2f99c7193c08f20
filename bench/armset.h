/*
 * NAME
 *	armset.h - the prepared ARMs of one benchmark run
 * SYNOPSIS
 *	#include "armset.h"
 *
 *	int	armset_load(const char *dir, long count,
 *		    struct armset **out, char *err);
 *	void	armset_free(struct armset *as);
 * DESCRIPTION
 *	armset_load() reads DIR/000001.p7m, DIR/000002.p7m and so on (as
 *	bench/armprep writes them) into memory: count of them, or with
 *	count 0 every one up to the first number missing. The set
 *	should be passed to armset_free(); armset_free(NULL) does
 *	nothing.
 * DIAGNOSTICS
 *	armset_load() returns 0, or -1 with the reason in err (a file
 *	that cannot be read, none at all, or fewer than count).
 */
#ifndef TANDEM_BENCH_ARMSET_H
#define TANDEM_BENCH_ARMSET_H

#include <stddef.h>

#define ARMSET_MAX	(1024 * 1024)	/* bytes of one wrapped ARM */

struct armset_item {
	unsigned char	*ai_data;
	size_t		 ai_len;
};

struct armset {
	struct armset_item *as_items;
	long		 as_count;
};

int	armset_load(const char *, long, struct armset **, char *);
void	armset_free(struct armset *);

#endif
