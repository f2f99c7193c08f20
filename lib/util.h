/*
 * NAME
 *	util.h - small helpers: files, hex, random bytes
 * SYNOPSIS
 *	#include "util.h"
 *
 *	int	util_read_file(const char *path, size_t max,
 *		    unsigned char **buf, size_t *len, char *err);
 *	int	util_read_fd(int fd, size_t max, unsigned char **buf,
 *		    size_t *len, char *err);
 *	const char *util_file_type(unsigned int mode);
 *	int	util_write_file(const char *path, const void *buf,
 *		    size_t len, int mode, int exclusive, char *err);
 *	char	*util_hex(const unsigned char *in, size_t len);
 *	void	util_free_secret(char *s);
 *	int	util_unhex(const char *in, unsigned char *out,
 *		    size_t outlen);
 *	int	util_random(unsigned char *buf, size_t len);
 *	int	util_token(char *tok, size_t size, unsigned char hash[32]);
 *	const char *util_escape(const char *in, char *out, size_t size,
 *		    int flags);
 * DESCRIPTION
 *	util_read_file() reads a whole file of at most max bytes. The
 *	result is NUL-terminated (not counted in len) and should be
 *	passed to free(). Only a regular file is read: anything else is
 *	refused, and a FIFO is refused at once, not waited on (the open
 *	does not block). util_read_fd() does the same on an open file
 *	descriptor, which stays the caller's to close; its reasons do
 *	not name the file. util_file_type() says what an st_mode is, as
 *	"a FIFO" or "a directory".
 *
 *	util_write_file() writes a file with the given mode, set at
 *	creation (the umask does not widen it). With exclusive, an
 *	existing file is an error (O_EXCL); without, the data goes to a
 *	temporary file in the same folder that is renamed over path.
 *
 *	util_hex() returns lower-case hex, to be passed to free(), or
 *	NULL when out of memory. util_unhex() decodes exactly outlen
 *	bytes and returns 0, or -1 if the text is not that.
 *
 *	util_random() fills buf from the OpenSSL CSPRNG; 0 or -1.
 *
 *	util_free_secret() wipes a string (a password, a PEM key, an ARM)
 *	and frees it; NULL does nothing. For a buffer of known length,
 *	OPENSSL_clear_free().
 *	util_token() writes a fresh token (32 random bytes, base64url
 *	without padding: 43 characters; size at least 44) and its SHA-256
 *	into hash, which is all a database keeps of it; 0 or -1.
 *
 *	util_escape() copies in into out (size bytes, NUL included) for a
 *	log line or an SMTP reply: a name taken from a certificate or a
 *	peer (a common name, an address, a courier's name, a claim).
 *	Printable ASCII stays; every other byte (control characters, CR,
 *	LF, DEL, non-ASCII), the double quote, the backslash, the percent
 *	sign (libmilter reads it as a format) and, unless flags has
 *	UTIL_ESC_SPACE, the space become "\xNN". The result can neither
 *	end a line nor a quoted value, nor, without UTIL_ESC_SPACE, start
 *	another key=value field. Cut short, it ends after a whole escape
 *	with "..."; NULL in gives "(none)". It returns out.
 */
#ifndef TANDEM_UTIL_H
#define TANDEM_UTIL_H

#include <stddef.h>

int	util_read_file(const char *, size_t, unsigned char **, size_t *,
	    char *);
int	util_read_fd(int, size_t, unsigned char **, size_t *, char *);
const char *util_file_type(unsigned int);
int	util_write_file(const char *, const void *, size_t, int, int,
	    char *);
char	*util_hex(const unsigned char *, size_t);
void	util_free_secret(char *);
int	util_unhex(const char *, unsigned char *, size_t);
int	util_random(unsigned char *, size_t);
int	util_token(char *, size_t, unsigned char *);

#define UTIL_ESC_SPACE	0x01	/* keep spaces: for quoted values, replies */
#define UTIL_ESCLEN	512	/* enough for a name of TN_MAX_ADDRESS */

const char *util_escape(const char *, char *, size_t, int);

#endif
