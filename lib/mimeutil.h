/*
 * NAME
 *	mimeutil.h - GMime helpers shared by lib/proto.c and lib/tmail.c
 * SYNOPSIS
 *	#include <gmime/gmime.h>
 *	#include "mimeutil.h"
 *
 *	unsigned char *mime_leaf_content(GMimePart *part, size_t max,
 *		    size_t *len, const char *what, char *err);
 * DESCRIPTION
 *	mime_leaf_content() decodes a leaf part's content (base64 or
 *	quoted-printable undone) into a NUL-terminated buffer of at most
 *	max bytes, to be passed to free(); *len excludes the NUL. On
 *	failure it returns NULL with err naming what.
 */
#ifndef TANDEM_MIMEUTIL_H
#define TANDEM_MIMEUTIL_H

#include <gmime/gmime.h>
#include <stddef.h>

unsigned char *mime_leaf_content(GMimePart *, size_t, size_t *,
	    const char *, char *);

#endif
