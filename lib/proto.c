/*
 * NAME
 *	proto.c - Tandem protocol messages: schema, fields, MIME
 * DESCRIPTION
 *	See proto.h for the interface and doc/protocol.md for the wire
 *	format. The per-kind schema is the table kinds[] below: which
 *	fields a kind takes (required, optional, repeatable, and the
 *	syntax of each value) and which attached parts.
 *
 *	GMime does the MIME: writing (CRLF line endings) and parsing,
 *	with every parser warning treated as an error. The fields block
 *	inside the vnd.tandem part is read by a strict line parser here:
 *	no folding, no encoded words, ASCII only, so what is checked is
 *	exactly what was sent.
 * DIAGNOSTICS
 *	0 or -1 with the reason in err, as in proto.h. A reason shows a
 *	bad value (cut to 40 bytes), except that of a key or a token
 *	(Content-Key, Token, Route-Token), which it calls malformed.
 */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gmime/gmime.h>

#include "tandem.h"
#include "mimeutil.h"
#include "proto.h"

/* Syntax of a field value. */
enum ftype {
	FT_TEXT,	/* printable ASCII */
	FT_ADDR,	/* local@domain */
	FT_MSGID,	/* left@right, no brackets */
	FT_TIME,	/* RFC 3339 UTC */
	FT_TOKEN,	/* 16..128 of [A-Za-z0-9_-] */
	FT_UINT,	/* decimal, fits 32 bits */
	FT_BOOL,	/* yes | no */
	FT_NAME,	/* domain-like name */
	FT_URL,		/* https://... */
	FT_HEX64,	/* 64 hex digits */
	FT_KEY,		/* 32 bytes: 64 hex digits or 44 base64 */
	FT_ENUM,	/* one of fs_enum, '|'-separated */
	FT_ENDPOINT	/* an address or an https URL */
};

#define F_REQ	0x1	/* required */
#define F_REP	0x2	/* may repeat */

struct fspec {
	const char	*fs_name;
	enum ftype	 fs_type;
	int		 fs_flags;
	const char	*fs_enum;
};

#define P_PEM	0x4	/* data must be PEM text */

struct pspec {
	const char	*ps_role;
	const char	*ps_type;
	int		 ps_flags;
};

struct kspec {
	const char		*ks_name;
	const struct fspec	*ks_fields;
	const struct pspec	*ks_parts;
	int			(*ks_check)(const struct proto_msg *, char *);
};

#define COMMON \
	{ "Id", FT_MSGID, F_REQ, NULL }, \
	{ "Date", FT_TIME, F_REQ, NULL }

#define T_CERTS	"application/pem-certificate-chain"
#define T_PEM	"application/x-pem-file"
#define T_SMIME	"application/pkcs7-mime"
#define T_ARM	"application/vnd.tandem.arm"
#define T_REVOKE	"application/vnd.tandem.revoke"
#define T_RECEIPT	"application/vnd.tandem.receipt"

static const struct fspec f_arm[] = {
	{ "Message-Id", FT_MSGID, F_REQ, NULL },
	{ "Content-Key", FT_KEY, F_REQ, NULL },
	{ "Content-Digest", FT_HEX64, F_REQ, NULL },
	{ "Sender", FT_ADDR, F_REQ, NULL },
	{ "Recipient", FT_ADDR, F_REQ | F_REP, NULL },
	{ "Issued", FT_TIME, F_REQ, NULL },
	{ "Expires", FT_TIME, 0, NULL },
	{ "No-Forward", FT_BOOL, 0, NULL },
	{ "No-Reply-All", FT_BOOL, 0, NULL },
	{ "No-Print", FT_BOOL, 0, NULL },
	{ "No-Copy", FT_BOOL, 0, NULL },
	{ "Read-Receipt", FT_BOOL, 0, NULL },
	{ "Max-Opens", FT_UINT, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_invitation[] = {
	COMMON,
	{ "Token", FT_TOKEN, F_REQ, NULL },
	{ "Inviter", FT_ADDR, F_REQ, NULL },
	{ "Recipient", FT_ADDR, F_REQ, NULL },
	{ "Courier", FT_NAME, F_REQ, NULL },
	{ "Register-Address", FT_ADDR, F_REQ, NULL },
	{ "Background-Url", FT_URL, 0, NULL },
	{ "Message-Id", FT_MSGID, F_REQ | F_REP, NULL },
	{ "Expires", FT_TIME, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_registration[] = {
	COMMON,
	{ "Token", FT_TOKEN, F_REQ, NULL },
	{ "Address", FT_ADDR, F_REQ, NULL },
	{ "Agent-Version", FT_TEXT, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_exchange_keys[] = {
	COMMON,
	{ "Address", FT_ADDR, F_REQ, NULL },
	{ "Generation", FT_UINT, F_REQ, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_agent_alive[] = {
	COMMON,
	{ "Address", FT_ADDR, F_REQ, NULL },
	{ "Generation", FT_UINT, F_REQ, NULL },
	{ "Agent-Version", FT_TEXT, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_notice_to_rekey[] = {
	COMMON,
	{ "Address", FT_ADDR, F_REQ, NULL },
	{ "Generation", FT_UINT, F_REQ, NULL },
	{ "Reason", FT_TEXT, 0, NULL },
	{ "Deadline", FT_TIME, 0, NULL },
	{ "Courier", FT_NAME, 0, NULL },
	{ "Foreground-Address", FT_ADDR, 0, NULL },
	{ "Background-Url", FT_URL, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_rekeying_complete[] = {
	COMMON,
	{ "Address", FT_ADDR, F_REQ, NULL },
	{ "Generation", FT_UINT, F_REQ, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_config_update[] = {
	COMMON,
	{ "Address", FT_ADDR, F_REQ, NULL },
	{ "Courier", FT_NAME, F_REQ, NULL },
	{ "Foreground-Address", FT_ADDR, F_REQ, NULL },
	{ "Background-Url", FT_URL, F_REQ, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_transfer[] = {
	COMMON,
	{ "Address", FT_ADDR, F_REQ, NULL },
	{ "From-Courier", FT_NAME, F_REQ, NULL },
	{ "To-Courier", FT_NAME, F_REQ, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_inter_courier[] = {
	COMMON,
	{ "From-Element", FT_ENDPOINT, F_REQ, NULL },
	{ "To-Element", FT_ENDPOINT, F_REQ, NULL },
	{ "Message-Id", FT_MSGID, F_REQ, NULL },
	{ "Sender", FT_ADDR, F_REQ, NULL },
	{ "Recipient", FT_ADDR, F_REQ | F_REP, NULL },
	{ "Hops", FT_UINT, F_REQ, NULL },
	{ "Origin-Courier", FT_NAME, F_REQ, NULL },
	{ "Origin-Date", FT_TIME, 0, NULL },
	{ "Origin-Signature", FT_TEXT, 0, NULL },
	{ "Route-Token", FT_TOKEN, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_introduction[] = {
	COMMON,
	{ "Courier", FT_NAME, F_REQ, NULL },
	{ "Role", FT_ENUM, F_REQ, "root|public|private|gateway" },
	{ "Element", FT_ENUM, F_REQ, "foreground|background" },
	{ "Element-Address", FT_ENDPOINT, F_REQ, NULL },
	{ "Domain", FT_NAME, F_REP, NULL },
	{ "Address", FT_ADDR, F_REP, NULL },
	{ "Token", FT_TOKEN, 0, NULL },
	{ "Route-Proof", FT_TEXT, F_REP, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_invitation_reject[] = {
	COMMON,
	{ "Token", FT_TOKEN, F_REQ, NULL },
	{ "Address", FT_ADDR, F_REQ, NULL },
	{ "Inviting-Courier", FT_NAME, F_REQ, NULL },
	{ "Registered-Courier", FT_NAME, F_REQ, NULL },
	{ "Message-Id", FT_MSGID, F_REP, NULL },
	{ "Background-Url", FT_URL, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_revoke[] = {
	COMMON,
	{ "Message-Id", FT_MSGID, F_REQ, NULL },
	{ "Sender", FT_ADDR, F_REQ, NULL },
	{ "Recipient", FT_ADDR, F_REP, NULL },
	{ "Reason", FT_TEXT, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct fspec f_receipt[] = {
	COMMON,
	{ "Message-Id", FT_MSGID, F_REQ, NULL },
	{ "Sender", FT_ADDR, F_REQ, NULL },
	{ "Recipient", FT_ADDR, F_REQ, NULL },
	{ "Event", FT_ENUM, F_REQ, "delivered|opened|refused|expired|revoked" },
	{ "Reason", FT_TEXT, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct pspec p_none[] = {
	{ NULL, NULL, 0 }
};

static const struct pspec p_invitation[] = {
	{ "fg-cert", T_CERTS, F_REQ | P_PEM },
	{ "ca-chain", T_CERTS, P_PEM },
	{ NULL, NULL, 0 }
};

/*
 * The inviting FG's certificate, and the invitation itself as signed
 * (what the background takes the Background-Url from), passed on.
 */
static const struct pspec p_invitation_reject[] = {
	{ "fg-cert", T_CERTS, P_PEM },
	{ "ca-chain", T_CERTS, P_PEM },
	{ "invitation", T_SMIME, 0 },
	{ NULL, NULL, 0 }
};

static const struct pspec p_registration[] = {
	{ "agent-csr", T_PEM, F_REQ | P_PEM },
	{ NULL, NULL, 0 }
};

static const struct pspec p_exchange_keys[] = {
	{ "courier-cert", T_CERTS, P_PEM },
	{ "agent-cert", T_CERTS, P_PEM },
	{ "agent-csr", T_PEM, P_PEM },
	{ "ca-chain", T_CERTS, P_PEM },
	{ NULL, NULL, 0 }
};

static const struct pspec p_chain[] = {
	{ "ca-chain", T_CERTS, P_PEM },
	{ NULL, NULL, 0 }
};

static const struct pspec p_chain_req[] = {
	{ "ca-chain", T_CERTS, F_REQ | P_PEM },
	{ NULL, NULL, 0 }
};

static const struct pspec p_transfer_subscription[] = {
	{ "agent-cert", T_CERTS, P_PEM },
	{ NULL, NULL, 0 }
};

static const struct pspec p_inter_courier[] = {
	{ "sealed", T_SMIME, 0 },
	{ "arm", T_ARM, 0 },
	{ "revoke", T_REVOKE, 0 },
	{ "receipt", T_RECEIPT, 0 },
	{ "origin-cert", T_CERTS, F_REQ | P_PEM },
	{ "origin-chain", T_CERTS, F_REQ | P_PEM },
	{ NULL, NULL, 0 }
};

static const struct pspec p_introduction[] = {
	{ "element-cert", T_CERTS, F_REQ | P_PEM },
	{ "ca-chain", T_CERTS, F_REQ | P_PEM },
	{ NULL, NULL, 0 }
};

static int	check_exchange_keys(const struct proto_msg *, char *);
static int	check_notice_to_rekey(const struct proto_msg *, char *);
static int	check_inter_courier(const struct proto_msg *, char *);

static const struct kspec kinds[PROTO_NKINDS] = {
	[PROTO_ARM] = { "arm", f_arm, p_none, NULL },
	[PROTO_INVITATION] = { "invitation", f_invitation, p_invitation,
	    NULL },
	[PROTO_REGISTRATION] = { "registration", f_registration,
	    p_registration, NULL },
	[PROTO_EXCHANGE_KEYS] = { "exchange-keys", f_exchange_keys,
	    p_exchange_keys, check_exchange_keys },
	[PROTO_AGENT_ALIVE] = { "agent-alive", f_agent_alive, p_none, NULL },
	[PROTO_NOTICE_TO_REKEY] = { "notice-to-rekey", f_notice_to_rekey,
	    p_chain, check_notice_to_rekey },
	[PROTO_REKEYING_COMPLETE] = { "rekeying-complete",
	    f_rekeying_complete, p_none, NULL },
	[PROTO_CONFIG_UPDATE] = { "config-update", f_config_update,
	    p_chain_req, NULL },
	[PROTO_TRANSFER_SUBSCRIPTION] = { "transfer-subscription",
	    f_transfer, p_transfer_subscription, NULL },
	[PROTO_TRANSFER_COMPLETE] = { "transfer-complete", f_transfer,
	    p_none, NULL },
	[PROTO_INTER_COURIER] = { "inter-courier", f_inter_courier,
	    p_inter_courier, check_inter_courier },
	[PROTO_INTRODUCTION] = { "introduction", f_introduction,
	    p_introduction, NULL },
	[PROTO_INVITATION_REJECT] = { "invitation-reject",
	    f_invitation_reject, p_invitation_reject, NULL },
	[PROTO_REVOKE] = { "revoke", f_revoke, p_none, NULL },
	[PROTO_RECEIPT] = { "receipt", f_receipt, p_none, NULL },
};

#define VND_PREFIX	"vnd.tandem."
#define PART_HEADER	"Tandem-Part"

static pthread_mutex_t proto_lock = PTHREAD_MUTEX_INITIALIZER;
static int proto_inited;

void
proto_init(void)
{
	pthread_mutex_lock(&proto_lock);
	if (!proto_inited) {
		g_mime_init();
		proto_inited = 1;
	}
	pthread_mutex_unlock(&proto_lock);
}

void
proto_shutdown(void)
{
	pthread_mutex_lock(&proto_lock);
	if (proto_inited) {
		g_mime_shutdown();
		proto_inited = 0;
	}
	pthread_mutex_unlock(&proto_lock);
}

const char *
proto_kind_name(enum proto_kind kind)
{
	if (kind <= PROTO_NONE || kind >= PROTO_NKINDS)
		return NULL;
	return kinds[kind].ks_name;
}

enum proto_kind
proto_kind_from_name(const char *name)
{
	int k;

	if (name == NULL)
		return PROTO_NONE;
	for (k = PROTO_NONE + 1; k < PROTO_NKINDS; k++)
		if (strcmp(kinds[k].ks_name, name) == 0)
			return (enum proto_kind)k;
	return PROTO_NONE;
}

/* Value syntax. */

static int
valid_domain(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max || s[0] == '.' || s[0] == '-' ||
	    s[n - 1] == '.' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-')
			return 0;
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
	}
	return 1;
}

/* Printable ASCII without space or any of the bytes in bad. */
static int
valid_atoms(const char *s, size_t n, const char *bad)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || strchr(bad, s[i]) != NULL)
			return 0;
	return 1;
}

int
proto_valid_address(const char *s)
{
	const char *at;
	size_t n;

	if (s == NULL || (n = strlen(s)) > TN_MAX_ADDRESS)
		return 0;
	if ((at = strchr(s, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	if (at == s || at - s > 64 || s[0] == '.' || at[-1] == '.')
		return 0;
	if (!valid_atoms(s, (size_t)(at - s), "<>()[]\\,;:\"@"))
		return 0;
	return valid_domain(at + 1, 253);
}

int
proto_valid_msgid(const char *s)
{
	const char *at;
	size_t n;

	if (s == NULL || (n = strlen(s)) > TN_MAX_MSGID)
		return 0;
	if ((at = strchr(s, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	if (at == s || at[1] == '\0')
		return 0;
	return valid_atoms(s, n, "<>()[]\\,;:\"");
}

int
proto_format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	if (strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		return -1;
	return 0;
}

int
proto_parse_time(const char *s, time_t *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	char back[32];
	struct tm tm;
	time_t v;
	size_t i;

	if (s == NULL || strlen(s) != sizeof(shape) - 1)
		return -1;
	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) :
		    s[i] != shape[i])
			return -1;
	memset(&tm, 0, sizeof(tm));
	if (strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return -1;
	v = timegm(&tm);
	/* Refuse what timegm() silently normalised (Feb 30, 25:00). */
	if (proto_format_time(v, back, sizeof(back)) == -1 ||
	    strcmp(back, s) != 0)
		return -1;
	*t = v;
	return 0;
}

static int
valid_span(const char *s, size_t min, size_t max, const char *extra)
{
	size_t i, n = strlen(s);

	if (n < min || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

static int
valid_uint(const char *s)
{
	unsigned long long v;

	if (!valid_span(s, 1, 10, "") || strspn(s, "0123456789") !=
	    strlen(s) || (s[0] == '0' && s[1] != '\0'))
		return 0;
	v = strtoull(s, NULL, 10);
	return v <= UINT_MAX;
}

static int
valid_url(const char *s)
{
	if (strncmp(s, "https://", 8) != 0 || s[8] == '\0')
		return 0;
	return valid_atoms(s, strlen(s), "<>\"\\`{}|^");
}

static int
valid_enum(const char *s, const char *list)
{
	size_t n = strlen(s);
	const char *p;

	for (p = list; p != NULL; p = strchr(p, '|')) {
		if (*p == '|')
			p++;
		if (strncmp(p, s, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return 1;
	}
	return 0;
}

static int
valid_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdefABCDEF") == n;
}

static int
valid_key(const char *s)
{
	if (valid_hex(s, 64))
		return 1;
	return strlen(s) == 44 && s[43] == '=' && valid_span(s, 44, 44,
	    "+/=") && strchr(s, '=') == s + 43;
}

static int
valid_value(const struct fspec *fs, const char *v)
{
	time_t t;

	switch (fs->fs_type) {
	case FT_TEXT:
		return 1;	/* proto_add() checked it */
	case FT_ADDR:
		return proto_valid_address(v);
	case FT_MSGID:
		return proto_valid_msgid(v);
	case FT_TIME:
		return proto_parse_time(v, &t) == 0;
	case FT_TOKEN:
		return valid_span(v, 16, 128, "_-");
	case FT_UINT:
		return valid_uint(v);
	case FT_BOOL:
		return strcmp(v, "yes") == 0 || strcmp(v, "no") == 0;
	case FT_NAME:
		return valid_domain(v, 253);
	case FT_URL:
		return valid_url(v);
	case FT_HEX64:
		return valid_hex(v, 64);
	case FT_KEY:
		return valid_key(v);
	case FT_ENUM:
		return valid_enum(v, fs->fs_enum);
	case FT_ENDPOINT:
		return proto_valid_address(v) || valid_url(v);
	}
	return 0;
}

static const char *
ftype_what(const struct fspec *fs)
{
	static const char *what[] = {
		[FT_TEXT] = "text", [FT_ADDR] = "an address local@domain",
		[FT_MSGID] = "a message id left@right without brackets",
		[FT_TIME] = "an RFC 3339 UTC time like 2026-01-31T12:00:00Z",
		[FT_TOKEN] = "a token of 16 to 128 letters, digits, _ or -",
		[FT_UINT] = "a decimal number below 2^32",
		[FT_BOOL] = "yes or no", [FT_NAME] = "a domain name",
		[FT_URL] = "an https URL",
		[FT_HEX64] = "64 hex digits",
		[FT_KEY] = "32 bytes as 64 hex digits or 44 base64",
		[FT_ENUM] = "one of", [FT_ENDPOINT] = "an address or https URL",
	};

	return what[fs->fs_type];
}

/*
 * A key or a token is a secret even when malformed (a near miss is most
 * of the real one): a refusal names the field and never shows the value.
 */
static int
ftype_secret(const struct fspec *fs)
{
	return fs->fs_type == FT_KEY || fs->fs_type == FT_TOKEN;
}

/* Messages and fields. */

struct proto_msg *
proto_msg_new(enum proto_kind kind)
{
	struct proto_msg *pm;

	if (proto_kind_name(kind) == NULL)
		return NULL;
	if ((pm = calloc(1, sizeof(*pm))) == NULL)
		return NULL;
	pm->pm_kind = kind;
	return pm;
}

void
proto_msg_free(struct proto_msg *pm)
{
	size_t i;

	if (pm == NULL)
		return;
	for (i = 0; i < pm->pm_nfields; i++) {
		free(pm->pm_fields[i].pf_name);
		free(pm->pm_fields[i].pf_value);
	}
	free(pm->pm_fields);
	for (i = 0; i < pm->pm_nparts; i++) {
		free(pm->pm_parts[i].pp_role);
		free(pm->pm_parts[i].pp_data);
	}
	free(pm->pm_parts);
	free(pm);
}

/* s, cut to size - 1 bytes, with anything unprintable as '?'. */
static const char *
printable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < size; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static int
field_sane(const char *name, const char *value, char *err)
{
	char show[PROTO_MAX_NAME + 1];
	size_t i, n;

	n = name == NULL ? 0 : strlen(name);
	if (n == 0 || n > PROTO_MAX_NAME || !isalpha((unsigned char)name[0]) ||
	    !valid_span(name, 1, PROTO_MAX_NAME, "-")) {
		tn_err(err, "bad field name \"%s\"", printable(name, show,
		    sizeof(show)));
		return -1;
	}
	if (value == NULL || (n = strlen(value)) == 0) {
		tn_err(err, "field %s: empty value", name);
		return -1;
	}
	if (n > PROTO_MAX_VALUE) {
		tn_err(err, "field %s: value longer than %d bytes", name,
		    PROTO_MAX_VALUE);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (value[i] < 0x20 || value[i] > 0x7e) {
			tn_err(err, "field %s: value contains %s", name,
			    value[i] == '\r' || value[i] == '\n' ?
			    "CR or LF" : "a control or non-ASCII byte");
			return -1;
		}
	if (value[0] == ' ' || value[n - 1] == ' ') {
		tn_err(err, "field %s: value starts or ends with a space",
		    name);
		return -1;
	}
	return 0;
}

int
proto_add(struct proto_msg *pm, const char *name, const char *value,
    char *err)
{
	struct proto_field *nf;
	char *n = NULL, *v = NULL;

	if (field_sane(name, value, err) == -1)
		return -1;
	if (pm->pm_nfields >= PROTO_MAX_FIELDS) {
		tn_err(err, "more than %d fields", PROTO_MAX_FIELDS);
		return -1;
	}
	nf = realloc(pm->pm_fields, (pm->pm_nfields + 1) * sizeof(*nf));
	if (nf == NULL || (n = strdup(name)) == NULL ||
	    (v = strdup(value)) == NULL) {
		if (nf != NULL)
			pm->pm_fields = nf;
		free(n);
		tn_err(err, "out of memory");
		return -1;
	}
	pm->pm_fields = nf;
	nf[pm->pm_nfields].pf_name = n;
	nf[pm->pm_nfields].pf_value = v;
	pm->pm_nfields++;
	return 0;
}

int
proto_set(struct proto_msg *pm, const char *name, const char *value,
    char *err)
{
	size_t i, j, first = SIZE_MAX;
	char *v;

	if (field_sane(name, value, err) == -1)
		return -1;
	for (i = 0; i < pm->pm_nfields; i++)
		if (strcasecmp(pm->pm_fields[i].pf_name, name) == 0) {
			first = i;
			break;
		}
	if (first == SIZE_MAX)
		return proto_add(pm, name, value, err);
	if ((v = strdup(value)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	free(pm->pm_fields[first].pf_value);
	pm->pm_fields[first].pf_value = v;
	for (i = j = first + 1; i < pm->pm_nfields; i++) {
		if (strcasecmp(pm->pm_fields[i].pf_name, name) == 0) {
			free(pm->pm_fields[i].pf_name);
			free(pm->pm_fields[i].pf_value);
			continue;
		}
		pm->pm_fields[j++] = pm->pm_fields[i];
	}
	pm->pm_nfields = j;
	return 0;
}

const char *
proto_get_nth(const struct proto_msg *pm, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < pm->pm_nfields; i++)
		if (strcasecmp(pm->pm_fields[i].pf_name, name) == 0 &&
		    n-- == 0)
			return pm->pm_fields[i].pf_value;
	return NULL;
}

const char *
proto_get(const struct proto_msg *pm, const char *name)
{
	return proto_get_nth(pm, name, 0);
}

size_t
proto_count(const struct proto_msg *pm, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < pm->pm_nfields; i++)
		if (strcasecmp(pm->pm_fields[i].pf_name, name) == 0)
			n++;
	return n;
}

/* Parts. */

static const struct pspec *
pspec_find(enum proto_kind kind, const char *role)
{
	const struct pspec *ps;

	for (ps = kinds[kind].ks_parts; ps->ps_role != NULL; ps++)
		if (strcmp(ps->ps_role, role) == 0)
			return ps;
	return NULL;
}

const struct proto_part *
proto_part(const struct proto_msg *pm, const char *role)
{
	size_t i;

	for (i = 0; i < pm->pm_nparts; i++)
		if (strcmp(pm->pm_parts[i].pp_role, role) == 0)
			return &pm->pm_parts[i];
	return NULL;
}

static int
part_data_ok(const struct pspec *ps, const void *data, size_t len,
    char *err)
{
	static const char pem[] = "-----BEGIN ";

	if (len == 0) {
		tn_err(err, "part %s: empty", ps->ps_role);
		return -1;
	}
	if (len > TN_MAX_MESSAGE) {
		tn_err(err, "part %s: larger than %d bytes", ps->ps_role,
		    TN_MAX_MESSAGE);
		return -1;
	}
	if ((ps->ps_flags & P_PEM) && (len < sizeof(pem) - 1 ||
	    memcmp(data, pem, sizeof(pem) - 1) != 0)) {
		tn_err(err, "part %s: not PEM text", ps->ps_role);
		return -1;
	}
	return 0;
}

int
proto_attach(struct proto_msg *pm, const char *role, const void *data,
    size_t len, char *err)
{
	const struct pspec *ps;
	struct proto_part *pp;
	unsigned char *copy;
	char *r;

	if ((ps = pspec_find(pm->pm_kind, role)) == NULL) {
		tn_err(err, "%s takes no part \"%s\"",
		    kinds[pm->pm_kind].ks_name, role);
		return -1;
	}
	if (part_data_ok(ps, data, len, err) == -1)
		return -1;
	if ((copy = malloc(len + 1)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	memcpy(copy, data, len);
	copy[len] = '\0';
	if ((pp = (struct proto_part *)proto_part(pm, role)) != NULL) {
		free(pp->pp_data);
		pp->pp_data = copy;
		pp->pp_len = len;
		return 0;
	}
	pp = realloc(pm->pm_parts, (pm->pm_nparts + 1) * sizeof(*pp));
	if (pp == NULL || (r = strdup(role)) == NULL) {
		if (pp != NULL)
			pm->pm_parts = pp;
		free(copy);
		tn_err(err, "out of memory");
		return -1;
	}
	pm->pm_parts = pp;
	pp[pm->pm_nparts].pp_role = r;
	pp[pm->pm_nparts].pp_type = ps->ps_type;
	pp[pm->pm_nparts].pp_data = copy;
	pp[pm->pm_nparts].pp_len = len;
	pm->pm_nparts++;
	return 0;
}

/* The schema check. */

static const struct fspec *
fspec_find(enum proto_kind kind, const char *name)
{
	const struct fspec *fs;

	for (fs = kinds[kind].ks_fields; fs->fs_name != NULL; fs++)
		if (strcasecmp(fs->fs_name, name) == 0)
			return fs;
	return NULL;
}

static int
check_fields(const struct proto_msg *pm, char *err)
{
	const struct kspec *ks = &kinds[pm->pm_kind];
	const struct fspec *fs;
	const struct proto_field *pf;
	size_t i, n;

	for (i = 0; i < pm->pm_nfields; i++) {
		pf = &pm->pm_fields[i];
		if (field_sane(pf->pf_name, pf->pf_value, err) == -1)
			return -1;
		if ((fs = fspec_find(pm->pm_kind, pf->pf_name)) == NULL) {
			if (strncasecmp(pf->pf_name, "X-", 2) == 0)
				continue;
			tn_err(err, "%s: unknown field %s", ks->ks_name,
			    pf->pf_name);
			return -1;
		}
		if (!valid_value(fs, pf->pf_value) && ftype_secret(fs)) {
			tn_err(err, "%s: field %s: malformed, not %s",
			    ks->ks_name, fs->fs_name, ftype_what(fs));
			return -1;
		}
		if (!valid_value(fs, pf->pf_value)) {
			tn_err(err, "%s: field %s: \"%.40s\" is not %s%s%s",
			    ks->ks_name, fs->fs_name, pf->pf_value,
			    ftype_what(fs), fs->fs_enum ? " " : "",
			    fs->fs_enum ? fs->fs_enum : "");
			return -1;
		}
	}
	for (fs = ks->ks_fields; fs->fs_name != NULL; fs++) {
		n = proto_count(pm, fs->fs_name);
		if (n == 0 && (fs->fs_flags & F_REQ)) {
			tn_err(err, "%s: missing field %s", ks->ks_name,
			    fs->fs_name);
			return -1;
		}
		if (n > 1 && !(fs->fs_flags & F_REP)) {
			tn_err(err, "%s: field %s appears %zu times",
			    ks->ks_name, fs->fs_name, n);
			return -1;
		}
	}
	if (proto_count(pm, "Recipient") > TN_MAX_RCPTS) {
		tn_err(err, "%s: more than %d recipients", ks->ks_name,
		    TN_MAX_RCPTS);
		return -1;
	}
	return 0;
}

static int
check_parts(const struct proto_msg *pm, char *err)
{
	const struct kspec *ks = &kinds[pm->pm_kind];
	const struct pspec *ps;
	size_t i, j;

	if (pm->pm_nparts > PROTO_MAX_PARTS) {
		tn_err(err, "%s: more than %d parts", ks->ks_name,
		    PROTO_MAX_PARTS);
		return -1;
	}
	for (i = 0; i < pm->pm_nparts; i++) {
		if ((ps = pspec_find(pm->pm_kind,
		    pm->pm_parts[i].pp_role)) == NULL) {
			tn_err(err, "%s: unknown part %s", ks->ks_name,
			    pm->pm_parts[i].pp_role);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(pm->pm_parts[j].pp_role,
			    pm->pm_parts[i].pp_role) == 0) {
				tn_err(err, "%s: part %s appears twice",
				    ks->ks_name, ps->ps_role);
				return -1;
			}
	}
	for (ps = ks->ks_parts; ps->ps_role != NULL; ps++)
		if ((ps->ps_flags & F_REQ) && proto_part(pm,
		    ps->ps_role) == NULL) {
			tn_err(err, "%s: missing part %s", ks->ks_name,
			    ps->ps_role);
			return -1;
		}
	return 0;
}

/* The courier answers with both certificates; the agent asks with a CSR. */
static int
check_exchange_keys(const struct proto_msg *pm, char *err)
{
	int csr = proto_part(pm, "agent-csr") != NULL;
	int cc = proto_part(pm, "courier-cert") != NULL;
	int ac = proto_part(pm, "agent-cert") != NULL;

	if ((csr && !cc && !ac) || (!csr && cc && ac))
		return 0;
	tn_err(err, "exchange-keys: needs either part agent-csr alone or "
	    "parts courier-cert and agent-cert");
	return -1;
}

/* A notice naming a new courier carries its whole configuration. */
static int
check_notice_to_rekey(const struct proto_msg *pm, char *err)
{
	if (proto_get(pm, "Courier") == NULL)
		return 0;
	if (proto_get(pm, "Foreground-Address") != NULL &&
	    proto_get(pm, "Background-Url") != NULL &&
	    proto_part(pm, "ca-chain") != NULL)
		return 0;
	tn_err(err, "notice-to-rekey: with Courier it needs "
	    "Foreground-Address, Background-Url and part ca-chain");
	return -1;
}

/*
 * Exactly one payload (FG: sealed; BG: arm, revoke or receipt); a
 * bounded number of hops.
 */
static int
check_inter_courier(const struct proto_msg *pm, char *err)
{
	int n = (proto_part(pm, "sealed") != NULL) +
	    (proto_part(pm, "arm") != NULL) +
	    (proto_part(pm, "revoke") != NULL) +
	    (proto_part(pm, "receipt") != NULL);
	unsigned long hops;

	if (n != 1) {
		tn_err(err, "inter-courier: needs exactly one of parts "
		    "sealed, arm, revoke and receipt");
		return -1;
	}
	hops = strtoul(proto_get(pm, "Hops"), NULL, 10);
	if (hops < 1 || hops > PROTO_MAX_HOPS) {
		tn_err(err, "inter-courier: Hops %lu, not 1 to %d", hops,
		    PROTO_MAX_HOPS);
		return -1;
	}
	return 0;
}

int
proto_check(const struct proto_msg *pm, char *err)
{
	if (pm == NULL || proto_kind_name(pm->pm_kind) == NULL) {
		tn_err(err, "unknown message kind");
		return -1;
	}
	if (check_fields(pm, err) == -1 || check_parts(pm, err) == -1)
		return -1;
	if (kinds[pm->pm_kind].ks_check != NULL)
		return kinds[pm->pm_kind].ks_check(pm, err);
	return 0;
}

/* Writing. */

static GMimePart *
mime_leaf(const char *mimetype, const void *data, size_t len,
    GMimeContentEncoding enc)
{
	char type[64], *sub;
	GMimeStream *st;
	GMimeDataWrapper *dw;
	GMimePart *part;

	snprintf(type, sizeof(type), "%s", mimetype);
	if ((sub = strchr(type, '/')) == NULL)
		return NULL;
	*sub++ = '\0';
	st = g_mime_stream_mem_new_with_buffer(data, len);
	dw = g_mime_data_wrapper_new_with_stream(st,
	    GMIME_CONTENT_ENCODING_DEFAULT);
	part = g_mime_part_new_with_type(type, sub);
	g_mime_part_set_content(part, dw);
	g_mime_part_set_content_encoding(part, enc);
	g_object_unref(dw);
	g_object_unref(st);
	return part;
}

static char *
fields_block(const struct proto_msg *pm, size_t *lenp, char *err)
{
	size_t i, len = 0, off = 0;
	char *buf;

	for (i = 0; i < pm->pm_nfields; i++)
		len += strlen(pm->pm_fields[i].pf_name) +
		    strlen(pm->pm_fields[i].pf_value) + 3;
	if (len > TN_MAX_FIELDS_SIZE) {
		tn_err(err, "fields block larger than %d bytes",
		    TN_MAX_FIELDS_SIZE);
		return NULL;
	}
	if ((buf = malloc(len + 1)) == NULL) {
		tn_err(err, "out of memory");
		return NULL;
	}
	/* LF here: GMime's DOS newline format makes it CRLF. */
	for (i = 0; i < pm->pm_nfields; i++)
		off += (size_t)snprintf(buf + off, len + 1 - off, "%s: %s\n",
		    pm->pm_fields[i].pf_name, pm->pm_fields[i].pf_value);
	*lenp = off;
	return buf;
}

static GMimeObject *
mime_build(const struct proto_msg *pm, char *err)
{
	char type[64], *block;
	size_t i, blen;
	GMimeMultipart *mp;
	GMimePart *part;

	if ((block = fields_block(pm, &blen, err)) == NULL)
		return NULL;
	snprintf(type, sizeof(type), "application/" VND_PREFIX "%s",
	    kinds[pm->pm_kind].ks_name);
	part = mime_leaf(type, block, blen, GMIME_CONTENT_ENCODING_7BIT);
	free(block);
	if (pm->pm_nparts == 0)
		return GMIME_OBJECT(part);
	mp = g_mime_multipart_new_with_subtype("mixed");
	g_mime_multipart_add(mp, GMIME_OBJECT(part));
	g_object_unref(part);
	for (i = 0; i < pm->pm_nparts; i++) {
		part = mime_leaf(pm->pm_parts[i].pp_type,
		    pm->pm_parts[i].pp_data, pm->pm_parts[i].pp_len,
		    GMIME_CONTENT_ENCODING_BASE64);
		g_mime_object_set_header(GMIME_OBJECT(part), PART_HEADER,
		    pm->pm_parts[i].pp_role, NULL);
		g_mime_multipart_add(mp, GMIME_OBJECT(part));
		g_object_unref(part);
	}
	return GMIME_OBJECT(mp);
}

int
proto_format(const struct proto_msg *pm, char **out, size_t *outlen,
    char *err)
{
	GMimeObject *obj = NULL;
	GMimeStream *st = NULL;
	GMimeFormatOptions *fo = NULL;
	GByteArray *ba;
	char *buf;
	int rc = -1;

	proto_init();
	if (proto_check(pm, err) == -1)
		return -1;
	if ((obj = mime_build(pm, err)) == NULL)
		goto out;
	g_mime_object_prepend_header(obj, "MIME-Version", "1.0", NULL);
	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	st = g_mime_stream_mem_new();
	if (g_mime_object_write_to_stream(obj, fo, st) < 0) {
		tn_err(err, "%s: cannot write MIME",
		    kinds[pm->pm_kind].ks_name);
		goto out;
	}
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));
	if (ba->len > TN_MAX_MESSAGE) {
		tn_err(err, "%s: message larger than %d bytes",
		    kinds[pm->pm_kind].ks_name, TN_MAX_MESSAGE);
		goto out;
	}
	if ((buf = malloc(ba->len + 1)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	memcpy(buf, ba->data, ba->len);
	buf[ba->len] = '\0';
	*out = buf;
	*outlen = ba->len;
	rc = 0;
out:
	if (st != NULL)
		g_object_unref(st);
	if (fo != NULL)
		g_mime_format_options_free(fo);
	if (obj != NULL)
		g_object_unref(obj);
	return rc;
}

/* Reading. */

struct pwarn {
	int		 pw_code;
	char		 pw_item[64];
};

static void
parse_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
    gpointer arg)
{
	struct pwarn *pw = arg;

	if (pw->pw_code != 0)
		return;
	(void)offset;	/* not always known (-1 when truncated) */
	pw->pw_code = (int)code;
	snprintf(pw->pw_item, sizeof(pw->pw_item), "%s",
	    item == NULL ? "" : item);
}

static const char *
warning_what(int code)
{
	switch (code) {
	case GMIME_WARN_DUPLICATED_HEADER:
	case GMIME_CRIT_CONFLICTING_HEADER:
		return "duplicated header";
	case GMIME_WARN_DUPLICATED_PARAMETER:
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		return "duplicated parameter";
	case GMIME_WARN_UNENCODED_8BIT_HEADER:
		return "8-bit header";
	case GMIME_WARN_INVALID_CONTENT_TYPE:
		return "invalid Content-Type";
	case GMIME_WARN_MALFORMED_MULTIPART:
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		return "malformed multipart";
	case GMIME_WARN_TRUNCATED_MESSAGE:
		return "truncated";
	case GMIME_CRIT_INVALID_HEADER_NAME:
		return "invalid header name";
	case GMIME_CRIT_NESTING_OVERFLOW:
		return "MIME nesting too deep";
	case GMIME_WARN_PART_WITHOUT_CONTENT:
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		return "part without content";
	default:
		return "malformed MIME";
	}
}

/* See mimeutil.h. */
size_t
mime_type_count(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	size_t hits = 0, left;

	/* Both names start with an m: look closer only there. */
	for (; p < end; p++) {
		if ((*p | 0x20) != 'm')
			continue;
		left = (size_t)(end - p);
		if ((left >= 10 && strncasecmp(p, "multipart/", 10) == 0) ||
		    (left >= 8 && strncasecmp(p, "message/", 8) == 0))
			hits++;
	}
	return hits;
}

/*
 * GMime's parser recurses once per nesting level. Before handing it
 * the input, refuse anything that could nest much deeper than we
 * accept: our own messages name at most one multipart type.
 */
static int
nesting_prescan(const char *buf, size_t len, char *err)
{
	size_t hits = mime_type_count(buf, len);

	if (hits > 4 * TN_MAX_MIME_DEPTH) {
		tn_err(err, "MIME nesting deeper than %d levels "
		    "(%zu multipart or message types)", TN_MAX_MIME_DEPTH,
		    hits);
		return -1;
	}
	return 0;
}

static int
mime_depth(GMimeObject *obj, int depth)
{
	GMimeMultipart *mp;
	int i, n, d, max = depth;

	if (depth > TN_MAX_MIME_DEPTH)
		return depth;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(obj));

		if (m != NULL && g_mime_message_get_mime_part(m) != NULL)
			return mime_depth(g_mime_message_get_mime_part(m),
			    depth + 1);
		return depth;
	}
	if (!GMIME_IS_MULTIPART(obj))
		return depth;
	mp = GMIME_MULTIPART(obj);
	n = g_mime_multipart_get_count(mp);
	for (i = 0; i < n; i++) {
		d = mime_depth(g_mime_multipart_get_part(mp, i), depth + 1);
		if (d > max)
			max = d;
		if (max > TN_MAX_MIME_DEPTH)
			break;
	}
	return max;
}

/* Leaf parts under obj, counting stops past TN_MAX_MIME_PARTS. */
static size_t
mime_parts(GMimeObject *obj, size_t n)
{
	GMimeMultipart *mp;
	GMimeMessage *m;
	int i, count;

	if (n > TN_MAX_MIME_PARTS)
		return n;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (m == NULL || g_mime_message_get_mime_part(m) == NULL)
			return n + 1;
		return mime_parts(g_mime_message_get_mime_part(m), n);
	}
	if (!GMIME_IS_MULTIPART(obj))
		return n + 1;
	mp = GMIME_MULTIPART(obj);
	count = g_mime_multipart_get_count(mp);
	for (i = 0; i < count && n <= TN_MAX_MIME_PARTS; i++)
		n = mime_parts(g_mime_multipart_get_part(mp, i), n);
	return n;
}

/* See mimeutil.h. */
int
mime_prescan(const char *buf, size_t len, char *err)
{
	return nesting_prescan(buf, len, err);
}

/* See mimeutil.h. */
int
mime_check_shape(GMimeObject *obj, char *err)
{
	size_t n;

	if (mime_depth(obj, 1) > TN_MAX_MIME_DEPTH) {
		tn_err(err, "MIME nesting deeper than %d levels",
		    TN_MAX_MIME_DEPTH);
		return -1;
	}
	if ((n = mime_parts(obj, 0)) > TN_MAX_MIME_PARTS) {
		tn_err(err, "more than %d MIME parts", TN_MAX_MIME_PARTS);
		return -1;
	}
	return 0;
}

static GMimeObject *
mime_parse(const char *buf, size_t len, char *err)
{
	GMimeStream *st;
	GMimeParser *parser;
	GMimeParserOptions *po;
	GMimeObject *obj;
	struct pwarn pw;
	char show[41];

	memset(&pw, 0, sizeof(pw));
	po = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(po, parse_warning, &pw);
	st = g_mime_stream_mem_new_with_buffer(buf, len);
	parser = g_mime_parser_new_with_stream(st);
	obj = g_mime_parser_construct_part(parser, po);
	g_object_unref(parser);
	g_object_unref(st);
	g_mime_parser_options_free(po);
	if (obj == NULL) {
		tn_err(err, "not a MIME entity");
		return NULL;
	}
	if (pw.pw_code != 0) {
		tn_err(err, "MIME: %s%s%s", warning_what(pw.pw_code),
		    pw.pw_item[0] ? ": " : "", printable(pw.pw_item, show,
		    sizeof(show)));
		g_object_unref(obj);
		return NULL;
	}
	if (mime_depth(obj, 1) > TN_MAX_MIME_DEPTH) {
		tn_err(err, "MIME nesting deeper than %d levels",
		    TN_MAX_MIME_DEPTH);
		g_object_unref(obj);
		return NULL;
	}
	return obj;
}

/* See mimeutil.h. */
unsigned char *
mime_leaf_content(GMimePart *part, size_t max, size_t *lenp, const char *what,
    char *err)
{
	GMimeDataWrapper *dw;
	GMimeStream *st;
	GByteArray *ba;
	unsigned char *buf = NULL;

	if ((dw = g_mime_part_get_content(part)) == NULL) {
		tn_err(err, "%s: no content", what);
		return NULL;
	}
	st = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(dw, st) < 0) {
		tn_err(err, "%s: cannot decode", what);
		goto out;
	}
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));
	if (ba->len > max) {
		tn_err(err, "%s: larger than %zu bytes", what, max);
		goto out;
	}
	if ((buf = malloc(ba->len + 1)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (ba->len > 0)
		memcpy(buf, ba->data, ba->len);
	buf[ba->len] = '\0';
	*lenp = ba->len;
out:
	g_object_unref(st);
	return buf;
}

/* One "Name: value" line, without its line ending. */
static int
fields_line(struct proto_msg *pm, char *line, size_t lineno, char *err)
{
	char *colon, *value, why[TN_ERRLEN];

	if (line[0] == ' ' || line[0] == '\t') {
		tn_err(err, "fields line %zu: folded lines are not allowed",
		    lineno);
		return -1;
	}
	if ((colon = strchr(line, ':')) == NULL) {
		tn_err(err, "fields line %zu: not \"Name: value\"", lineno);
		return -1;
	}
	*colon = '\0';
	value = colon + 1;
	if (*value == ' ')
		value++;
	if (proto_add(pm, line, value, why) == -1) {
		tn_err(err, "fields line %zu: %s", lineno, why);
		return -1;
	}
	return 0;
}

static int
fields_parse(struct proto_msg *pm, char *block, size_t len, char *err)
{
	char *p = block, *end = block + len, *nl;
	size_t lineno = 0;

	if (memchr(block, '\0', len) != NULL) {
		tn_err(err, "fields block contains a NUL byte");
		return -1;
	}
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*p == '\0') {
			/* Only blank lines may follow a blank line. */
			p = nl + 1;
			if (p < end && strspn(p, "\r\n") != (size_t)(end - p)) {
				tn_err(err, "fields line %zu: blank line "
				    "inside the fields block", lineno);
				return -1;
			}
			break;
		}
		if (strchr(p, '\r') != NULL) {
			tn_err(err, "fields line %zu: bare CR", lineno);
			return -1;
		}
		if (fields_line(pm, p, lineno, err) == -1)
			return -1;
		p = nl + 1;
	}
	return 0;
}

static int
parse_vnd(GMimeObject *obj, struct proto_msg **pmp, char *err)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : "";
	GMimeContentEncoding enc;
	enum proto_kind kind;
	char show[41];
	unsigned char *block;
	size_t len;
	int rc;

	if (!GMIME_IS_PART(obj) || !g_mime_content_type_is_type(ct,
	    "application", "*") || strncasecmp(sub, VND_PREFIX,
	    strlen(VND_PREFIX)) != 0) {
		tn_err(err, "first entity is not application/" VND_PREFIX
		    "<kind>");
		return -1;
	}
	sub += strlen(VND_PREFIX);
	if ((kind = proto_kind_from_name(sub)) == PROTO_NONE) {
		tn_err(err, "unknown kind \"%s\"", printable(sub, show,
		    sizeof(show)));
		return -1;
	}
	enc = g_mime_part_get_content_encoding(GMIME_PART(obj));
	if (enc != GMIME_CONTENT_ENCODING_DEFAULT &&
	    enc != GMIME_CONTENT_ENCODING_7BIT) {
		tn_err(err, "%s: fields block must be 7bit", sub);
		return -1;
	}
	block = mime_leaf_content(GMIME_PART(obj), TN_MAX_FIELDS_SIZE, &len,
	    "fields block", err);
	if (block == NULL)
		return -1;
	if ((*pmp = proto_msg_new(kind)) == NULL) {
		free(block);
		tn_err(err, "out of memory");
		return -1;
	}
	rc = fields_parse(*pmp, (char *)block, len, err);
	free(block);
	return rc;
}

static int
parse_attached(struct proto_msg *pm, GMimeObject *obj, int idx, char *err)
{
	const struct pspec *ps;
	const char *role;
	char *mt = NULL, show[41];
	unsigned char *data = NULL;
	size_t len;
	int rc = -1;

	if (!GMIME_IS_PART(obj)) {
		tn_err(err, "part %d is not a leaf", idx);
		return -1;
	}
	if ((role = g_mime_object_get_header(obj, PART_HEADER)) == NULL) {
		tn_err(err, "part %d has no " PART_HEADER " header", idx);
		return -1;
	}
	if ((ps = pspec_find(pm->pm_kind, role)) == NULL) {
		tn_err(err, "%s: unknown part \"%s\"",
		    kinds[pm->pm_kind].ks_name, printable(role, show,
		    sizeof(show)));
		return -1;
	}
	mt = g_mime_content_type_get_mime_type(
	    g_mime_object_get_content_type(obj));
	if (mt == NULL || strcasecmp(mt, ps->ps_type) != 0) {
		tn_err(err, "part %s: type %s, not %s", role,
		    printable(mt, show, sizeof(show)), ps->ps_type);
		goto out;
	}
	if (proto_part(pm, role) != NULL) {
		tn_err(err, "%s: part %s appears twice",
		    kinds[pm->pm_kind].ks_name, role);
		goto out;
	}
	if ((data = mime_leaf_content(GMIME_PART(obj), TN_MAX_MESSAGE, &len,
	    role, err)) == NULL)
		goto out;
	rc = proto_attach(pm, role, data, len, err);
out:
	g_free(mt);
	free(data);
	return rc;
}

static int
parse_structure(GMimeObject *obj, struct proto_msg **pmp, char *err)
{
	GMimeMultipart *mp;
	int i, n;

	if (GMIME_IS_PART(obj))
		return parse_vnd(obj, pmp, err);
	if (!GMIME_IS_MULTIPART(obj) || !g_mime_content_type_is_type(
	    g_mime_object_get_content_type(obj), "multipart", "mixed")) {
		tn_err(err, "not application/" VND_PREFIX "<kind> or "
		    "multipart/mixed");
		return -1;
	}
	mp = GMIME_MULTIPART(obj);
	n = g_mime_multipart_get_count(mp);
	if (n < 1 || n > 1 + PROTO_MAX_PARTS) {
		tn_err(err, "multipart with %d parts (1 to %d allowed)", n,
		    1 + PROTO_MAX_PARTS);
		return -1;
	}
	if (parse_vnd(g_mime_multipart_get_part(mp, 0), pmp, err) == -1)
		return -1;
	for (i = 1; i < n; i++)
		if (parse_attached(*pmp, g_mime_multipart_get_part(mp, i), i,
		    err) == -1)
			return -1;
	return 0;
}

int
proto_parse(const char *buf, size_t len, struct proto_msg **out, char *err)
{
	GMimeObject *obj = NULL;
	struct proto_msg *pm = NULL;
	int rc = -1;

	*out = NULL;
	if (buf == NULL || len == 0) {
		tn_err(err, "empty message");
		return -1;
	}
	if (len > TN_MAX_MESSAGE) {
		tn_err(err, "message larger than %d bytes", TN_MAX_MESSAGE);
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		tn_err(err, "message contains a NUL byte");
		return -1;
	}
	if (nesting_prescan(buf, len, err) == -1)
		return -1;
	proto_init();
	if ((obj = mime_parse(buf, len, err)) == NULL)
		goto out;
	if (parse_structure(obj, &pm, err) == -1 || proto_check(pm, err) == -1)
		goto out;
	*out = pm;
	pm = NULL;
	rc = 0;
out:
	proto_msg_free(pm);
	if (obj != NULL)
		g_object_unref(obj);
	return rc;
}
