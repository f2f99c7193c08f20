/*
 * NAME
 *	armset.c - the prepared ARMs of one benchmark run
 * SYNOPSIS
 *	See armset.h.
 * DESCRIPTION
 *	Shared by bench/armload and bench/armlimit, so that both read
 *	the files bench/armprep wrote the same way.
 * DIAGNOSTICS
 *	See armset.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tandem.h"
#include "util.h"
#include "armset.h"

void
armset_free(struct armset *as)
{
	long i;

	if (as == NULL)
		return;
	for (i = 0; i < as->as_count; i++)
		free(as->as_items[i].ai_data);
	free(as->as_items);
	free(as);
}

/* 1 when DIR/NNNNNN.p7m exists; the path in path. */
static int
as_path(const char *dir, long n, char *path, size_t size)
{
	struct stat st;

	if (snprintf(path, size, "%s/%06ld.p7m", dir, n) >= (int)size)
		return 0;
	return stat(path, &st) == 0;
}

int
armset_load(const char *dir, long count, struct armset **out, char *err)
{
	struct armset *as = NULL;
	struct armset_item *ni;
	char path[4096];
	long cap = 0;
	int rc = -1;

	*out = NULL;
	if ((as = calloc(1, sizeof(*as))) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	while ((count == 0 || as->as_count < count) &&
	    as_path(dir, as->as_count + 1, path, sizeof(path))) {
		if (as->as_count == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			if ((ni = realloc(as->as_items, (size_t)cap *
			    sizeof(*ni))) == NULL) {
				tn_err(err, "out of memory");
				goto out;
			}
			as->as_items = ni;
		}
		ni = &as->as_items[as->as_count];
		if (util_read_file(path, ARMSET_MAX, &ni->ai_data,
		    &ni->ai_len, err) == -1)
			goto out;
		as->as_count++;
	}
	if (as->as_count == 0 || as->as_count < count) {
		tn_err(err, "%s: %ld prepared ARMs (NNNNNN.p7m), want %ld",
		    dir, as->as_count, count == 0 ? 1 : count);
		goto out;
	}
	*out = as;
	as = NULL;
	rc = 0;
out:
	armset_free(as);
	return rc;
}
