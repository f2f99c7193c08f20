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
 *	int	mime_prescan(const char *buf, size_t len, char *err);
 *	int	mime_check_shape(GMimeObject *obj, char *err);
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
 *
 *	mime_prescan() is that refusal as the protocol messages make it:
 *	more than 4 * TN_MAX_MIME_DEPTH such names. mime_check_shape()
 *	refuses a parsed entity nested deeper than TN_MAX_MIME_DEPTH
 *	(multiparts and message/rfc822 parts) or with more than
 *	TN_MAX_MIME_PARTS leaf parts. The agent applies both to the inner
 *	message it opens (cms_open()), as the elements do to the outer
 *	mails and messages they parse. Both return 0, or -1 with err.
 */
#ifndef TANDEM_MIMEUTIL_H
#define TANDEM_MIMEUTIL_H

#include <gmime/gmime.h>
#include <stddef.h>

unsigned char *mime_leaf_content(GMimePart *, size_t, size_t *,
	    const char *, char *);
size_t	mime_type_count(const char *, size_t);
int	mime_prescan(const char *, size_t, char *);
int	mime_check_shape(GMimeObject *, char *);

#endif
