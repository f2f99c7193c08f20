/*
 * NAME
 *	proto.h - Tandem protocol messages (application/vnd.tandem.<kind>)
 * SYNOPSIS
 *	#include "proto.h"
 *
 *	void	proto_init(void);
 *	void	proto_shutdown(void);
 *
 *	const char *proto_kind_name(enum proto_kind kind);
 *	enum proto_kind proto_kind_from_name(const char *name);
 *
 *	struct proto_msg *proto_msg_new(enum proto_kind kind);
 *	void	proto_msg_free(struct proto_msg *pm);
 *
 *	int	proto_set(struct proto_msg *pm, const char *name,
 *		    const char *value, char *err);
 *	int	proto_add(struct proto_msg *pm, const char *name,
 *		    const char *value, char *err);
 *	const char *proto_get(const struct proto_msg *pm, const char *name);
 *	const char *proto_get_nth(const struct proto_msg *pm,
 *		    const char *name, size_t n);
 *	size_t	proto_count(const struct proto_msg *pm, const char *name);
 *
 *	int	proto_attach(struct proto_msg *pm, const char *role,
 *		    const void *data, size_t len, char *err);
 *	const struct proto_part *proto_part(const struct proto_msg *pm,
 *		    const char *role);
 *
 *	int	proto_check(const struct proto_msg *pm, char *err);
 *	int	proto_format(const struct proto_msg *pm, char **out,
 *		    size_t *outlen, char *err);
 *	int	proto_parse(const char *buf, size_t len,
 *		    struct proto_msg **out, char *err);
 *
 *	int	proto_valid_address(const char *s);
 *	int	proto_valid_msgid(const char *s);
 *	int	proto_format_time(time_t t, char *buf, size_t size);
 *	int	proto_parse_time(const char *s, time_t *t);
 * DESCRIPTION
 *	Every Tandem protocol message is one MIME entity. Without attached
 *	parts it is a single part of type application/vnd.tandem.<kind>;
 *	with parts it is a multipart/mixed whose first part is that entity
 *	and whose other parts are leaves, each named by a "Tandem-Part:
 *	<role>" header and base64-encoded. The body of the vnd.tandem part
 *	is a block of "Name: value" lines. doc/protocol.md gives the wire
 *	format and, for every kind, its fields and parts.
 *
 *	proto_init() initialises GMime once per process (idempotent and
 *	thread-safe); proto_format() and proto_parse() call it themselves.
 *	proto_shutdown() undoes it, for programs and tests that want a
 *	clean exit under valgrind; call it last, after every GMime user.
 *
 *	proto_kind_name() returns the wire name ("exchange-keys") or NULL;
 *	proto_kind_from_name() returns PROTO_NONE for an unknown name.
 *
 *	A struct proto_msg holds the kind, the fields in order and the
 *	attached parts. proto_msg_new() returns NULL when out of memory or
 *	for an unknown kind; the result should be passed to
 *	proto_msg_free(), which accepts NULL. Strings passed in are copied.
 *
 *	proto_set() replaces the first field called name (dropping any
 *	repeats) or appends it; proto_add() always appends (for repeatable
 *	fields such as Recipient). Both refuse names or values that are
 *	not sane (CR, LF or other control characters, non-ASCII, empty,
 *	too long). Names compare case-insensitively. proto_get() returns
 *	the first value, proto_get_nth() the n-th (from 0), or NULL; the
 *	pointers belong to pm.
 *
 *	proto_attach() adds or replaces the part of the given role; the
 *	role must be one the kind's schema allows, which also fixes its
 *	content type. The data are copied. proto_part() returns the part
 *	(owned by pm) or NULL.
 *
 *	proto_check() checks pm against its kind's schema: required fields
 *	present, non-repeatable fields at most once, unknown fields (other
 *	than "X-" extensions) refused, every value of the right syntax,
 *	required parts present, at most TN_MAX_RCPTS Recipient fields.
 *	proto_format() checks, then writes pm with CRLF line endings;
 *	*out is NUL-terminated (not counted in *outlen) and should be passed
 *	to free(). proto_parse() reads one message of at most
 *	TN_MAX_MESSAGE bytes, refusing any GMime parser warning, nesting
 *	beyond TN_MAX_MIME_DEPTH, a fields block beyond TN_MAX_FIELDS_SIZE,
 *	an unknown kind, and anything proto_check() refuses; the result
 *	should be passed to proto_msg_free().
 *
 *	proto_valid_address() is true for local@domain of at most
 *	TN_MAX_ADDRESS bytes, printable ASCII without spaces, angle
 *	brackets, quotes or a second "@". proto_valid_msgid() is true for
 *	a message id without brackets of at most TN_MAX_MSGID bytes, with
 *	one "@", printable, no spaces or brackets.
 *
 *	proto_format_time() writes t as RFC 3339 UTC
 *	("2026-01-31T12:00:00Z"); proto_parse_time() reads exactly that.
 *	Both return 0 or -1.
 * DIAGNOSTICS
 *	Functions returning int return 0 on success and -1 on failure,
 *	with a one-line reason in err naming the field, part or limit.
 *	The reason never holds the value of a key or token field, even a
 *	malformed one: callers log it and send it back.
 */
#ifndef TANDEM_PROTO_H
#define TANDEM_PROTO_H

#include <stddef.h>
#include <time.h>

#include "tandem.h"

enum proto_kind {
	PROTO_NONE = 0,
	PROTO_ARM,
	PROTO_INVITATION,
	PROTO_REGISTRATION,
	PROTO_EXCHANGE_KEYS,
	PROTO_AGENT_ALIVE,
	PROTO_NOTICE_TO_REKEY,
	PROTO_REKEYING_COMPLETE,
	PROTO_CONFIG_UPDATE,
	PROTO_TRANSFER_SUBSCRIPTION,
	PROTO_TRANSFER_COMPLETE,
	PROTO_INTER_COURIER,
	PROTO_INTRODUCTION,
	PROTO_INVITATION_REJECT,
	PROTO_REVOKE,
	PROTO_RECEIPT,
	PROTO_NKINDS
};

#define PROTO_MAX_NAME		64	/* field name, bytes */
#define PROTO_MAX_VALUE		900	/* field value, bytes */
#define PROTO_MAX_FIELDS	(TN_MAX_RCPTS + 64)	/* fields in one block */
#define PROTO_MAX_PARTS		8	/* attached parts */
#define PROTO_MAX_HOPS		8	/* couriers an inter-courier crosses */

struct proto_field {
	char		*pf_name;
	char		*pf_value;
};

struct proto_part {
	char		*pp_role;	/* "agent-cert" */
	const char	*pp_type;	/* from the schema, not owned */
	unsigned char	*pp_data;	/* NUL-terminated, not counted */
	size_t		 pp_len;
};

struct proto_msg {
	enum proto_kind		 pm_kind;
	struct proto_field	*pm_fields;
	size_t			 pm_nfields;
	struct proto_part	*pm_parts;
	size_t			 pm_nparts;
};

void	proto_init(void);
void	proto_shutdown(void);
const char *proto_kind_name(enum proto_kind);
enum proto_kind proto_kind_from_name(const char *);

struct proto_msg *proto_msg_new(enum proto_kind);
void	proto_msg_free(struct proto_msg *);
int	proto_set(struct proto_msg *, const char *, const char *, char *);
int	proto_add(struct proto_msg *, const char *, const char *, char *);
const char *proto_get(const struct proto_msg *, const char *);
const char *proto_get_nth(const struct proto_msg *, const char *, size_t);
size_t	proto_count(const struct proto_msg *, const char *);
int	proto_attach(struct proto_msg *, const char *, const void *, size_t,
	    char *);
const struct proto_part *proto_part(const struct proto_msg *, const char *);

int	proto_check(const struct proto_msg *, char *);
int	proto_format(const struct proto_msg *, char **, size_t *, char *);
int	proto_parse(const char *, size_t, struct proto_msg **, char *);

int	proto_valid_address(const char *);
int	proto_valid_msgid(const char *);
int	proto_format_time(time_t, char *, size_t);
int	proto_parse_time(const char *, time_t *);

#endif
