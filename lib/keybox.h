/*
 * NAME
 *	keybox.h - seal courier-end keys for the replication link, and held mail
 * SYNOPSIS
 *	#include "keybox.h"
 *
 *	struct keybox *keybox_load(const char *path, char *err);
 *	struct keybox *keybox_new(const unsigned char *secret, size_t len,
 *		    char *err);
 *	void	keybox_free(struct keybox *kb);
 *
 *	int	keybox_seal(const struct keybox *kb, const char *address,
 *		    const unsigned char *in, size_t inlen,
 *		    unsigned char **out, size_t *outlen, char *err);
 *	int	keybox_open(const struct keybox *kb, const char *address,
 *		    const unsigned char *in, size_t inlen,
 *		    unsigned char **out, size_t *outlen, char *err);
 *	void	keybox_clear_free(unsigned char *buf, size_t len);
 *
 *	struct keybox *keybox_load_private(const char *path, int create,
 *		    char *err);
 *	int	keybox_seal_held(const struct keybox *kb,
 *		    const char *msgid, const char *rcpt, const unsigned char *in, size_t inlen,
 *		    unsigned char **out, size_t *outlen, char *err);
 *	int	keybox_open_held(const struct keybox *kb,
 *		    const char *msgid, const char *rcpt, const unsigned char *in, size_t inlen,
 *		    unsigned char **out, size_t *outlen, char *err);
 *	int	keybox_is_held(const unsigned char *in, size_t inlen);
 * DESCRIPTION
 *	Courier-end private keys are shared by the foreground and the
 *	background element and cross the replication link only sealed
 *	(DESIGN.md section 3). Both elements read the same 32-byte
 *	secret from a key file named in their configuration.
 *
 *	keybox_load() reads the key file: exactly 64 hexadecimal digits,
 *	optionally followed by one newline. A file that others (not the
 *	owner or its group) may read or write is refused. keybox_new()
 *	takes the secret itself (KEYBOX_SECRET_LEN bytes). Both return a
 *	keybox to be passed to keybox_free(), which wipes the secret;
 *	keybox_free(NULL) does nothing.
 *
 *	keybox_seal() encrypts in with AES-256-GCM under the secret, with
 *	the account address as additional authenticated data, so that a
 *	sealed key moved to another account's row no longer opens. The
 *	result is, byte for byte:
 *
 *	    version (1 byte, KEYBOX_VERSION) | nonce (12) | tag (16) |
 *	    ciphertext (inlen)
 *
 *	with the version byte also authenticated. keybox_open() reverses
 *	it and fails on a wrong secret, a wrong address, a truncated or a
 *	modified box; the opened bytes are followed by a NUL that
 *	*outlen does not count. Each result is stored in *out (length in *outlen)
 *	and should be passed to keybox_clear_free(), which wipes it
 *	before free(); keybox_clear_free(NULL, 0) does nothing.
 *
 *	The foreground's held mail (held_messages.body) is sealed the same
 *	way under a key only the foreground holds (the held key, never
 *	replicated: the background's courier-end keys would open the
 *	content, and its replication role can decode the whole
 *	foreground database). keybox_load_private() loads such a key
 *	file, refusing one that its group or others may access; with
 *	create, a missing file is made first (a fresh secret, mode 0600,
 *	put in place by link() so that two starters agree).
 *	keybox_seal_held() and keybox_open_held() seal and open a held
 *	message of up to TN_MAX_MESSAGE bytes, with version byte
 *	KEYBOX_HELD_VERSION and "msgid\nrecipient" as additional data: a
 *	body moved to another row no longer opens. keybox_is_held() says
 *	whether bytes look like such a box (1) or not (0: a body held
 *	before the held key existed, as received).
 * DIAGNOSTICS
 *	keybox_load(), keybox_load_private() and keybox_new() return
 *	NULL, the others -1, with a one-line reason in err. keybox_open() reports every
 *	authentication failure (wrong secret, address or bytes) alike as
 *	"cannot open sealed key".
 */
#ifndef TANDEM_KEYBOX_H
#define TANDEM_KEYBOX_H

#include <stddef.h>

#define KEYBOX_SECRET_LEN	32
#define KEYBOX_VERSION		1
#define KEYBOX_HELD_VERSION	2
#define KEYBOX_NONCE_LEN	12
#define KEYBOX_TAG_LEN		16
#define KEYBOX_OVERHEAD		(1 + KEYBOX_NONCE_LEN + KEYBOX_TAG_LEN)
#define KEYBOX_MAX_PLAIN	(64 * 1024)

struct keybox;

struct keybox *keybox_load(const char *, char *);
struct keybox *keybox_new(const unsigned char *, size_t, char *);
void	keybox_free(struct keybox *);
int	keybox_seal(const struct keybox *, const char *,
	    const unsigned char *, size_t, unsigned char **, size_t *, char *);
int	keybox_open(const struct keybox *, const char *,
	    const unsigned char *, size_t, unsigned char **, size_t *, char *);
void	keybox_clear_free(unsigned char *, size_t);
struct keybox *keybox_load_private(const char *, int, char *);
int	keybox_seal_held(const struct keybox *, const char *, const char *,
	    const unsigned char *, size_t, unsigned char **, size_t *, char *);
int	keybox_open_held(const struct keybox *, const char *, const char *,
	    const unsigned char *, size_t, unsigned char **, size_t *, char *);
int	keybox_is_held(const unsigned char *, size_t);

#endif
