/*
 * NAME
 *	mimeutil.h - GMime helpers shared by lib/proto.c and lib/tmail.c
 * SYNOPSIS
 *	#include <gmime/gmime.h>
 *	#include "mimeutil.h"
 *
 *	unsigned char *mime_leaf_content(GMimePart *part, size_t max,
 *		    size_t *len, const char *what, char *err);
 *	size_t	mime_type_count(const char *buf, size_t len);
 * DESCRIPTION
 *	mime_leaf_content() decodes a leaf part's content (base64 or
 *	quoted-printable undone) into a NUL-terminated buffer of at most
 *	max bytes, to be passed to free(); *len excludes the NUL. On
 *	failure it returns NULL with err naming what.
 *
 *	mime_type_count() counts the places in buf where a
 *	"multipart/" or "message/" media type name starts (any case):
 *	before GMime's parser, which recurses once per nesting level,
 *	sees a mail, its callers refuse one that names too many.
 */
#ifndef TANDEM_MIMEUTIL_H
#define TANDEM_MIMEUTIL_H

#include <gmime/gmime.h>
#include <stddef.h>

unsigned char *mime_leaf_content(GMimePart *, size_t, size_t *,
	    const char *, char *);
size_t	mime_type_count(const char *, size_t);

#endif
