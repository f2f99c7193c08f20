/*
 * NAME
 *	tandem.h - definitions shared by every part of Tandem
 * SYNOPSIS
 *	#include "tandem.h"
 * DESCRIPTION
 *	Limits on untrusted input, the size of error buffers, and the
 *	error-reporting helper used by libtandem.
 *
 *	Library functions that can fail take a caller-supplied buffer
 *	"char err[TN_ERRLEN]" and return 0 on success, -1 on failure with
 *	a one-line reason in err. Nothing in lib/ prints or exits on bad
 *	input.
 *
 *	tn_err() formats into err. tn_err_ssl() does the same and appends
 *	the oldest reason left on OpenSSL's error queue, then clears it.
 */
#ifndef TANDEM_H
#define TANDEM_H

#include <stddef.h>

#define TN_ERRLEN	256

/* Limits on input from outside; a parser refuses anything beyond. */
#define TN_MAX_MESSAGE		(32 * 1024 * 1024)	/* one mail or ARM, bytes */
#define TN_MAX_FIELDS_SIZE	(64 * 1024)	/* protocol fields block */
#define TN_MAX_MIME_DEPTH	8	/* MIME nesting */
#define TN_MAX_MIME_PARTS	256	/* leaf parts of an inner message */
#define TN_MAX_RCPTS		100	/* recipients of one message */
#define TN_MAX_RECIPINFOS	(TN_MAX_RCPTS + 4)	/* CMS RecipientInfos */
#define TN_MAX_ADDRESS		254	/* RFC 5321 path */
#define TN_MAX_MSGID		250	/* Message-ID, without brackets */

#if defined(__GNUC__)
#define TN_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#else
#define TN_PRINTF(f, a)
#endif

void	tn_err(char *, const char *, ...) TN_PRINTF(2, 3);
void	tn_err_ssl(char *, const char *, ...) TN_PRINTF(2, 3);

#endif
