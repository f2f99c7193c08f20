/*
 * NAME
 *	tmail.c - the mails Tandem sends and recognises
 * DESCRIPTION
 *	See tmail.h. Mails are written by hand (every byte is ours and
 *	known, so the output is exact CRLF) and read with GMime, with
 *	every parser warning treated as an error.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <gmime/gmime.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cms.h"
#include "mimeutil.h"
#include "pki.h"
#include "proto.h"
#include "tandem.h"
#include "tmail.h"
#include "util.h"

#define TMAIL_MAX_TYPES	16	/* multipart/ or message/ names in a mail */
#define TMAIL_MAX_LINE	998	/* RFC 5322 line, without CRLF */

static const char *const kind_names[] = {
	NULL, "content", "service", "invitation", "inter-courier"
};

static const char *const kind_subjects[] = {
	NULL, "Tandem private message", "Tandem service message",
	"You have been sent a private message",
	"Tandem inter-courier message"
};

const char *
tmail_kind_name(enum tmail_kind kind)
{
	if (kind <= TMAIL_NONE || kind > TMAIL_INTER_COURIER)
		return NULL;
	return kind_names[kind];
}

enum tmail_kind
tmail_kind_from_name(const char *name)
{
	int k;

	if (name == NULL)
		return TMAIL_NONE;
	for (k = TMAIL_CONTENT; k <= TMAIL_INTER_COURIER; k++)
		if (strcmp(name, kind_names[k]) == 0)
			return (enum tmail_kind)k;
	return TMAIL_NONE;
}

/* Base64 of der in lines of 76 characters, each ending in CRLF. */
static int
b64_lines(FILE *fp, const unsigned char *der, size_t derlen)
{
	unsigned char line[80];
	size_t off, n;

	for (off = 0; off < derlen; off += n) {
		n = derlen - off > 57 ? 57 : derlen - off;
		EVP_EncodeBlock(line, der + off, (int)n);
		if (fprintf(fp, "%s\r\n", line) < 0)
			return -1;
	}
	return 0;
}

/* Take what an open_memstream() stream wrote; closes it. */
static int
stream_take(FILE *fp, char **buf, size_t *len, char **out, size_t *outlen,
    char *err)
{
	int bad;

	bad = ferror(fp);
	if (fclose(fp) != 0 || bad || *buf == NULL) {
		free(*buf);
		*buf = NULL;
		tn_err(err, "out of memory");
		return -1;
	}
	*out = *buf;
	*outlen = *len;
	return 0;
}

int
tmail_body(const unsigned char *der, size_t derlen, char **out,
    size_t *outlen, char *err)
{
	FILE *fp;
	char *buf = NULL;
	size_t len = 0;

	*out = NULL;
	if (der == NULL || derlen == 0 || derlen > TN_MAX_MESSAGE / 2) {
		tn_err(err, "body of %zu bytes refused", derlen);
		return -1;
	}
	if ((fp = open_memstream(&buf, &len)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	(void)b64_lines(fp, der, derlen);
	return stream_take(fp, &buf, &len, out, outlen, err);
}

static int
printable_line(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

static int
check_head(const struct tmail_head *th, size_t derlen, char *err)
{
	size_t i;

	if (tmail_kind_name(th->th_kind) == NULL) {
		tn_err(err, "unknown mail kind");
		return -1;
	}
	if (th->th_from == NULL || !proto_valid_address(th->th_from)) {
		tn_err(err, "From: not a valid address");
		return -1;
	}
	if (th->th_nto < 1 || th->th_nto > TN_MAX_RCPTS) {
		tn_err(err, "To: %zu addresses (1 to %d)", th->th_nto,
		    TN_MAX_RCPTS);
		return -1;
	}
	for (i = 0; i < th->th_nto; i++)
		if (th->th_to[i] == NULL || !proto_valid_address(th->th_to[i])) {
			tn_err(err, "To: address %zu is not valid", i + 1);
			return -1;
		}
	if (th->th_msgid == NULL || !proto_valid_msgid(th->th_msgid)) {
		tn_err(err, "Message-ID: not a valid message id");
		return -1;
	}
	if (th->th_subject != NULL && (!printable_line(th->th_subject) ||
	    strlen(th->th_subject) > 200)) {
		tn_err(err, "Subject: not printable ASCII of at most 200 bytes");
		return -1;
	}
	if (th->th_kind == TMAIL_INVITATION && th->th_text == NULL) {
		tn_err(err, "invitation without its text");
		return -1;
	}
	if (derlen == 0 || derlen > TN_MAX_MESSAGE / 2) {
		tn_err(err, "body of %zu bytes refused", derlen);
		return -1;
	}
	return 0;
}

static void
write_head(FILE *fp, const struct tmail_head *th)
{
	char date[64];
	struct tm tm;
	time_t t;
	size_t i;

	t = th->th_date != 0 ? th->th_date : time(NULL);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	fprintf(fp, "From: %s\r\nTo: ", th->th_from);
	for (i = 0; i < th->th_nto; i++)
		fprintf(fp, "%s%s", i == 0 ? "" : ",\r\n\t", th->th_to[i]);
	fprintf(fp, "\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n"
	    "MIME-Version: 1.0\r\n%s: %s\r\n",
	    th->th_subject != NULL ? th->th_subject :
	    kind_subjects[th->th_kind], date, th->th_msgid, TMAIL_HEADER,
	    kind_names[th->th_kind]);
}

/* The readable part: LF or CRLF lines, written with CRLF. */
static int
write_text(FILE *fp, const char *text, char *err)
{
	const char *p, *nl;
	size_t n;

	for (p = text; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > TMAIL_MAX_LINE || memchr(p, '\r', n) != NULL) {
			tn_err(err, "invitation text: line too long or bare CR");
			return -1;
		}
		fprintf(fp, "%.*s\r\n", (int)n, p);
		if (*nl == '\0')
			break;
	}
	return 0;
}

int
tmail_compose(const struct tmail_head *th, const unsigned char *der,
    size_t derlen, char **out, size_t *outlen, char *err)
{
	unsigned char rnd[12];
	char *hex = NULL, *buf = NULL;
	size_t len = 0;
	FILE *fp;

	*out = NULL;
	if (check_head(th, derlen, err) == -1)
		return -1;
	if ((fp = open_memstream(&buf, &len)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	write_head(fp, th);
	if (th->th_kind != TMAIL_INVITATION) {
		fprintf(fp, "Content-Type: application/pkcs7-mime; "
		    "smime-type=authEnveloped-data; name=tandem.p7m\r\n"
		    "Content-Disposition: attachment; filename=tandem.p7m\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n");
		(void)b64_lines(fp, der, derlen);
		return stream_take(fp, &buf, &len, out, outlen, err);
	}
	if (util_random(rnd, sizeof(rnd)) == -1 ||
	    (hex = util_hex(rnd, sizeof(rnd))) == NULL) {
		fclose(fp);
		free(buf);
		tn_err(err, "cannot make a MIME boundary");
		return -1;
	}
	fprintf(fp, "Content-Type: multipart/mixed; boundary=\"=-tandem-%s\""
	    "\r\n\r\n--=-tandem-%s\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
	    hex, hex);
	if (write_text(fp, th->th_text, err) == -1) {
		fclose(fp);
		free(buf);
		free(hex);
		return -1;
	}
	fprintf(fp, "\r\n--=-tandem-%s\r\n"
	    "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=invitation.p7m\r\n"
	    "Content-Disposition: attachment; filename=invitation.p7m\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", hex);
	(void)b64_lines(fp, der, derlen);
	fprintf(fp, "--=-tandem-%s--\r\n", hex);
	free(hex);
	return stream_take(fp, &buf, &len, out, outlen, err);
}

void
tmail_free(struct tmail *tm)
{
	size_t i;

	if (tm == NULL)
		return;
	free(tm->tm_from);
	free(tm->tm_msgid);
	for (i = 0; i < tm->tm_nto; i++)
		free(tm->tm_to[i]);
	free(tm->tm_to);
	free(tm->tm_der);
	free(tm->tm_text);
	free(tm);
}

/* The first GMime parser warning, which refuses the mail. */
static void
tmail_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
    gpointer arg)
{
	int *first = arg;

	(void)offset;
	(void)item;
	if (*first == 0)
		*first = (int)code;
}

static int
prescan(const char *buf, size_t len, char *err)
{
	size_t hits;

	if (len == 0 || len > TN_MAX_MESSAGE) {
		tn_err(err, "mail of %zu bytes refused (limit %d)", len,
		    TN_MAX_MESSAGE);
		return -1;
	}
	if (memchr(buf, '\0', len) != NULL) {
		tn_err(err, "mail contains a NUL byte");
		return -1;
	}
	if ((hits = mime_type_count(buf, len)) > TMAIL_MAX_TYPES) {
		tn_err(err, "MIME nesting: %zu multipart or message types",
		    hits);
		return -1;
	}
	return 0;
}

static GMimeMessage *
tmail_gmime(const char *buf, size_t len, char *err)
{
	GMimeParserOptions *po;
	GMimeParser *parser;
	GMimeStream *st;
	GMimeMessage *msg;
	int warned = 0;

	proto_init();
	po = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(po, tmail_warning,
	    &warned);
	st = g_mime_stream_mem_new_with_buffer(buf, len);
	parser = g_mime_parser_new_with_stream(st);
	msg = g_mime_parser_construct_message(parser, po);
	g_object_unref(parser);
	g_object_unref(st);
	g_mime_parser_options_free(po);
	if (msg == NULL) {
		tn_err(err, "not a mail message");
		return NULL;
	}
	if (warned != 0) {
		tn_err(err, "malformed MIME: %s (GMime warning %d)",
		    warned == GMIME_WARN_DUPLICATED_HEADER ||
		    warned == GMIME_CRIT_CONFLICTING_HEADER ?
		    "duplicated header" :
		    warned == GMIME_WARN_TRUNCATED_MESSAGE ?
		    "truncated" : "bad structure", warned);
		g_object_unref(msg);
		return NULL;
	}
	return msg;
}

/* Lower-cased copy of a valid address, or NULL. */
static char *
addr_copy(const char *a)
{
	char *s, *p;

	if (a == NULL || !proto_valid_address(a) || (s = strdup(a)) == NULL)
		return NULL;
	for (p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

/* Exactly one Tandem-Kind and one From header. */
static int
parse_kind(GMimeMessage *msg, struct tmail *tm, char *err)
{
	GMimeHeaderList *hl;
	GMimeHeader *h;
	const char *name, *value = NULL;
	int i, n, kinds = 0, froms = 0;

	hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	n = g_mime_header_list_get_count(hl);
	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(hl, i);
		name = g_mime_header_get_name(h);
		if (strcasecmp(name, TMAIL_HEADER) == 0) {
			kinds++;
			value = g_mime_header_get_value(h);
		} else if (strcasecmp(name, "From") == 0)
			froms++;
	}
	if (kinds != 1) {
		tn_err(err, "%s: %d headers (exactly 1 expected)",
		    TMAIL_HEADER, kinds);
		return -1;
	}
	if (froms != 1) {
		tn_err(err, "From: %d headers (exactly 1 expected)", froms);
		return -1;
	}
	while (value != NULL && *value == ' ')
		value++;
	if ((tm->tm_kind = tmail_kind_from_name(value)) == TMAIL_NONE) {
		tn_err(err, "%s: unknown kind", TMAIL_HEADER);
		return -1;
	}
	return 0;
}

static int
parse_addrs(GMimeMessage *msg, struct tmail *tm, char *err)
{
	InternetAddressList *l;
	InternetAddress *ia;
	const char *id;
	int i, n;

	l = g_mime_message_get_from(msg);
	if (l == NULL || internet_address_list_length(l) != 1 ||
	    !INTERNET_ADDRESS_IS_MAILBOX(ia =
	    internet_address_list_get_address(l, 0)) ||
	    (tm->tm_from = addr_copy(internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(ia)))) == NULL) {
		tn_err(err, "From: not exactly one valid address");
		return -1;
	}
	l = g_mime_message_get_to(msg);
	n = l == NULL ? 0 : internet_address_list_length(l);
	if (n < 1 || n > TN_MAX_RCPTS) {
		tn_err(err, "To: %d addresses (1 to %d)", n, TN_MAX_RCPTS);
		return -1;
	}
	if ((tm->tm_to = calloc((size_t)n, sizeof(char *))) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(l, i);
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia) ||
		    (tm->tm_to[i] = addr_copy(internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia)))) == NULL) {
			tn_err(err, "To: address %d is not valid", i + 1);
			return -1;
		}
		tm->tm_nto++;
	}
	id = g_mime_message_get_message_id(msg);
	if (id == NULL || !proto_valid_msgid(id) ||
	    (tm->tm_msgid = strdup(id)) == NULL) {
		tn_err(err, "Message-ID: missing or not valid");
		return -1;
	}
	return 0;
}

/* The decoded content of a leaf of the given type, NUL-terminated. */
static unsigned char *
leaf_bytes(GMimeObject *obj, const char *type, const char *subtype,
    size_t *lenp, const char *what, char *err)
{
	GMimeContentType *ct;
	unsigned char *buf;

	ct = g_mime_object_get_content_type(obj);
	if (!GMIME_IS_PART(obj) || ct == NULL ||
	    !g_mime_content_type_is_type(ct, type, subtype)) {
		tn_err(err, "%s: not %s/%s", what, type, subtype);
		return NULL;
	}
	if ((buf = mime_leaf_content(GMIME_PART(obj), TN_MAX_MESSAGE, lenp,
	    what, err)) != NULL && *lenp == 0) {
		tn_err(err, "%s: empty", what);
		free(buf);
		buf = NULL;
	}
	return buf;
}

static int
parse_body(GMimeMessage *msg, struct tmail *tm, char *err)
{
	GMimeObject *body, *text = NULL, *wrap;
	size_t tlen;

	if ((body = g_mime_message_get_mime_part(msg)) == NULL) {
		tn_err(err, "mail without a body");
		return -1;
	}
	wrap = body;
	if (tm->tm_kind == TMAIL_INVITATION) {
		if (!GMIME_IS_MULTIPART(body) ||
		    g_mime_multipart_get_count(GMIME_MULTIPART(body)) != 2) {
			tn_err(err, "invitation: not a multipart of 2 parts");
			return -1;
		}
		text = g_mime_multipart_get_part(GMIME_MULTIPART(body), 0);
		wrap = g_mime_multipart_get_part(GMIME_MULTIPART(body), 1);
		if ((tm->tm_text = (char *)leaf_bytes(text, "text", "plain",
		    &tlen, "invitation text", err)) == NULL)
			return -1;
	}
	if ((tm->tm_der = leaf_bytes(wrap, "application", "pkcs7-mime",
	    &tm->tm_derlen, "body", err)) == NULL)
		return -1;
	if (tm->tm_der[0] != 0x30) {
		tn_err(err, "body: not DER");
		return -1;
	}
	return 0;
}

int
tmail_parse(const char *buf, size_t len, struct tmail **out, char *err)
{
	GMimeMessage *msg = NULL;
	struct tmail *tm = NULL;
	int rc = -1;

	*out = NULL;
	if (prescan(buf, len, err) == -1)
		return -1;
	if ((msg = tmail_gmime(buf, len, err)) == NULL)
		goto out;
	if ((tm = calloc(1, sizeof(*tm))) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (parse_kind(msg, tm, err) == -1 ||
	    parse_addrs(msg, tm, err) == -1 ||
	    parse_body(msg, tm, err) == -1)
		goto out;
	*out = tm;
	tm = NULL;
	rc = 0;
out:
	tmail_free(tm);
	if (msg != NULL)
		g_object_unref(msg);
	return rc;
}

int
tmail_msgid(const char *mailbox, char *out, size_t size)
{
	unsigned char rnd[12];
	const char *dom;
	char *hex;
	int n;

	if (mailbox == NULL || (dom = strrchr(mailbox, '@')) == NULL ||
	    util_random(rnd, sizeof(rnd)) == -1 ||
	    (hex = util_hex(rnd, sizeof(rnd))) == NULL)
		return -1;
	n = snprintf(out, size, "%s%s", hex, dom);
	free(hex);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* leaf (may be NULL) then chain as one PEM block; NULL with err set. */
static char *
invite_pem(X509 *leaf, STACK_OF(X509) *chain, size_t *len, char *err)
{
	char *buf = NULL, *pem;
	size_t n, total = 0;
	FILE *fp;
	int i;

	if ((fp = open_memstream(&buf, &total)) == NULL) {
		tn_err(err, "out of memory");
		return NULL;
	}
	for (i = leaf == NULL ? 0 : -1;
	    i < (chain == NULL ? 0 : sk_X509_num(chain)); i++) {
		if (pki_cert_pem(i < 0 ? leaf : sk_X509_value(chain, i), &pem,
		    &n, err) == -1) {
			fclose(fp);
			free(buf);
			return NULL;
		}
		fwrite(pem, 1, n, fp);
		free(pem);
	}
	if (stream_take(fp, &buf, &total, &pem, len, err) == -1)
		return NULL;
	return pem;
}

static struct proto_msg *
invite_msg(const struct tmail_invite *ti, const char *tok, const char *id,
    char *err)
{
	struct proto_msg *pm;
	char now[32], exp[32], *pem = NULL;
	size_t i, len;
	int bad;

	if ((pm = proto_msg_new(PROTO_INVITATION)) == NULL) {
		tn_err(err, "out of memory");
		return NULL;
	}
	proto_format_time(time(NULL), now, sizeof(now));
	proto_format_time(ti->ti_expires, exp, sizeof(exp));
	bad = proto_set(pm, "Id", id, err) || proto_set(pm, "Date", now, err) ||
	    proto_set(pm, "Token", tok, err) ||
	    proto_set(pm, "Inviter", ti->ti_inviter, err) ||
	    proto_set(pm, "Recipient", ti->ti_address, err) ||
	    proto_set(pm, "Courier", ti->ti_courier, err) ||
	    proto_set(pm, "Register-Address", ti->ti_register, err) ||
	    (ti->ti_bg_url != NULL &&
	    proto_set(pm, "Background-Url", ti->ti_bg_url, err)) ||
	    proto_set(pm, "Expires", exp, err);
	for (i = 0; !bad && i < ti->ti_nmsgids; i++)
		bad = proto_add(pm, "Message-Id", ti->ti_msgids[i], err);
	if (!bad && ti->ti_nmsgids == 0)
		bad = proto_add(pm, "Message-Id", id, err);
	if (!bad) {
		pem = invite_pem(ti->ti_id->ci_cert, NULL, &len, err);
		bad = pem == NULL || proto_attach(pm, "fg-cert", pem, len,
		    err);
		free(pem);
	}
	if (!bad && ti->ti_id->ci_chain != NULL &&
	    sk_X509_num(ti->ti_id->ci_chain) > 0) {
		pem = invite_pem(NULL, ti->ti_id->ci_chain, &len, err);
		bad = pem == NULL || proto_attach(pm, "ca-chain", pem, len,
		    err);
		free(pem);
	}
	if (bad) {
		proto_msg_free(pm);
		return NULL;
	}
	return pm;
}

/*
 * The SHA-256 fingerprint (openssl's "AB:CD:..." form) of the trust
 * anchor in the file anchors that issued the top of the FG's chain.
 */
static int
invite_root_fp(const struct tmail_invite *ti, char *out, size_t size,
    char *err)
{
	STACK_OF(X509) *roots;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen, j;
	X509 *top, *root = NULL;
	int i, n;

	top = ti->ti_id->ci_chain != NULL &&
	    (n = sk_X509_num(ti->ti_id->ci_chain)) > 0 ?
	    sk_X509_value(ti->ti_id->ci_chain, n - 1) : ti->ti_id->ci_cert;
	if ((roots = pki_load_certs(ti->ti_anchors, err)) == NULL)
		return -1;
	for (i = 0; root == NULL && i < sk_X509_num(roots); i++)
		if (X509_cmp(sk_X509_value(roots, i), top) == 0 ||
		    X509_check_issued(sk_X509_value(roots, i), top) ==
		    X509_V_OK)
			root = sk_X509_value(roots, i);
	if (root == NULL || X509_digest(root, EVP_sha256(), md, &mdlen) != 1 ||
	    size < 3 * mdlen) {
		tn_err(err, "%s: no root certificate above the foreground's "
		    "chain", ti->ti_anchors);
		sk_X509_pop_free(roots, X509_free);
		return -1;
	}
	for (j = 0; j < mdlen; j++)
		snprintf(out + 3 * j, size - 3 * j, "%02X%s", md[j],
		    j + 1 < mdlen ? ":" : "");
	sk_X509_pop_free(roots, X509_free);
	return 0;
}

/*
 * The registration link (doc/flows.md 3): "tandem:register," then
 * id= the invitation's Id, smtp= the users' submission server and
 * root= the root's SHA-256 in hex, when known, comma-separated. It
 * needs no quoting in a shell; it carries no token.
 */
static void
invite_link(FILE *f, const struct tmail_invite *ti, const char *msgid,
    const char *fp)
{
	fprintf(f, "tandem:register,id=%s", msgid);
	if (ti->ti_submission != NULL)
		fprintf(f, ",smtp=%s", ti->ti_submission);
	if (fp[0] != '\0') {
		fputs(",root=", f);
		for (; *fp != '\0'; fp++)
			if (*fp != ':')
				fputc(*fp, f);
	}
}

/*
 * The answer that declines: no agent needed, the code its proof (only
 * the mail sent to the invited address carries it).
 */
static void
invite_decline(FILE *f, const struct tmail_invite *ti, const char *code)
{
	fprintf(f, "\nIf you do not want Tandem invitations, you need not "
	    "install anything:\nanswer with a mail to %s whose Subject is\n"
	    "\n     Do not invite me again " TMAIL_DECLINE "%s\n\n"
	    "(this link writes it: mailto:%s?subject=Do%%20not%%20invite%%20"
	    "me%%20again%%20" TMAIL_DECLINE "%s ).\nThe courier %s then "
	    "invites %s no more, holds no private\nmail for it, and tells "
	    "each sender, %s too, that you declined.\nThe code is for this "
	    "address alone: do not pass this mail on.\n", ti->ti_register,
	    code, ti->ti_register, code, ti->ti_courier, ti->ti_address,
	    ti->ti_nmsgids > 0 ? ti->ti_inviter : "from now on");
}

/* The readable part: why this mail came, then how to answer it. */
static int
invite_text(const struct tmail_invite *ti, const char *msgid,
    const char *code, char **text, char *err)
{
	char exp[32], fp[3 * EVP_MAX_MD_SIZE + 1] = "";
	size_t len;
	FILE *f;

	/* Without it the text still stands: the root's place is said. */
	if (ti->ti_anchors != NULL &&
	    invite_root_fp(ti, fp, sizeof(fp), err) == -1)
		fp[0] = '\0';
	proto_format_time(ti->ti_expires, exp, sizeof(exp));
	if ((f = open_memstream(text, &len)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (ti->ti_nmsgids > 0)
		fprintf(f, "%s sent you a private message through the "
		    "Tandem courier %s.\nIt waits for you, held by the "
		    "courier, until %s.\n", ti->ti_inviter, ti->ti_courier,
		    exp);
	else
		fprintf(f, "You are invited to receive private mail as %s\n"
		    "through the Tandem courier %s. This invitation is valid "
		    "until %s.\n", ti->ti_address, ti->ti_courier, exp);
	fprintf(f, "\nTo accept it:\n\n"
	    "1. Install the Tandem agent (the \"tandem\" command).\n\n"
	    "2. Get the courier's root certificate, here root.crt,\n   %s%s."
	    "\n", ti->ti_anchor_url != NULL ? "from " : "from the "
	    "courier's operator", ti->ti_anchor_url != NULL ?
	    ti->ti_anchor_url : "");
	if (fp[0] != '\0')
		fprintf(f, "   Check that its SHA-256 fingerprint is\n\n"
		    "     %s\n\n   as \"openssl x509 -in root.crt -noout "
		    "-fingerprint -sha256\" says.\n", fp);
	fprintf(f, "\n3. Register. With this mail in your Maildir (~/Maildir, "
	    "else add\n   --maildir DIR), its registration link is enough: "
	    "\"tandem register\"\n   finds the mail by it and checks its "
	    "signature.\n\n     tandem register --anchor root.crt ");
	invite_link(f, ti, msgid, fp);
	fprintf(f, "\n\n   Or save this whole mail as a file, here "
	    "invitation.eml, and:\n\n"
	    "     tandem register --invitation invitation.eml "
	    "--anchor root.crt%s%s\n\n"
	    "   Either asks for a new password for your keys twice, and saves "
	    "the\n   settings; then \"tandem fetch\" gets the keys of your "
	    "messages\n   and \"tandem read\" shows them.\n",
	    ti->ti_submission != NULL ? " --smtp " : "",
	    ti->ti_submission != NULL ? ti->ti_submission : "");
	if (code != NULL)
		invite_decline(f, ti, code);
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		tn_err(err, "out of memory");
		return -1;
	}
	return 0;
}

int
tmail_notice(const struct tmail_notice *tn, char **mail, size_t *len,
    char *msgid, size_t idsize, char *err)
{
	unsigned char *der = NULL;
	char date[64], text[2048], *b64 = NULL;
	size_t dlen, blen, n;
	time_t now = time(NULL);
	struct tm tmv;
	int rc = -1;

	*mail = NULL;
	snprintf(text, sizeof(text), "Your private message %s could not be "
	    "delivered to %s.\r\nReason: %s\r\n\r\nThis notice comes from "
	    "the Tandem foreground of %s (%s).\r\nIt carries no content and "
	    "no key; the signed part below says the same.\r\n", tn->tn_msgid,
	    tn->tn_rcpt, tn->tn_reason, tn->tn_courier, tn->tn_from);
	gmtime_r(&now, &tmv);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tmv);
	if (tmail_msgid(tn->tn_from, msgid, idsize) == -1) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (cms_sign((const unsigned char *)text, strlen(text), tn->tn_id,
	    &der, &dlen, err) == -1 ||
	    tmail_body(der, dlen, &b64, &blen, err) == -1)
		goto out;
	n = strlen(text) + blen + 1024 + 2 * TN_MAX_ADDRESS + TN_MAX_MSGID;
	if ((*mail = malloc(n)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	*len = (size_t)snprintf(*mail, n, "From: %s\r\nTo: %s\r\n"
	    "Subject: Tandem: undeliverable private message\r\nDate: %s\r\n"
	    "Message-ID: <%s>\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
	    "boundary=\"=tandem-notice\"\r\n\r\n--=tandem-notice\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
	    "--=tandem-notice\r\nContent-Type: application/pkcs7-mime; "
	    "smime-type=signed-data; name=notice.p7m\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n%s--=tandem-notice--\r\n",
	    tn->tn_from, tn->tn_to, date, msgid, text, b64);
	rc = 0;
out:
	free(der);
	free(b64);
	return rc;
}

int
tmail_invitation(const struct tmail_invite *ti, char **mail, size_t *len,
    char *msgid, size_t idsize, unsigned char *hash, char *err)
{
	struct proto_msg *pm = NULL;
	struct tmail_head th;
	unsigned char *der = NULL;
	char tok[48], dtok[48], subj[TN_MAX_ADDRESS + 40];
	char *body = NULL, *text = NULL;
	size_t bodylen, derlen;
	int rc = -1;

	*mail = NULL;
	if (tmail_msgid(ti->ti_register, msgid, idsize) == -1 ||
	    util_token(tok, sizeof(tok), hash) == -1) {
		tn_err(err, "cannot make a token or a message id");
		goto out;
	}
	if ((pm = invite_msg(ti, tok, msgid, err)) == NULL ||
	    proto_format(pm, &body, &bodylen, err) == -1 ||
	    cms_sign((unsigned char *)body, bodylen, ti->ti_id, &der, &derlen,
	    err) == -1)
		goto out;
	if (ti->ti_decline != NULL && util_token(dtok, sizeof(dtok),
	    ti->ti_decline) == -1) {
		tn_err(err, "cannot make a decline code");
		goto out;
	}
	if (invite_text(ti, msgid, ti->ti_decline != NULL ? dtok : NULL,
	    &text, err) == -1)
		goto out;
	memset(&th, 0, sizeof(th));
	th.th_kind = TMAIL_INVITATION;
	th.th_from = ti->ti_register;
	th.th_to = &ti->ti_address;
	th.th_nto = 1;
	th.th_msgid = msgid;
	th.th_text = text;
	if (ti->ti_nmsgids > 0)
		snprintf(subj, sizeof(subj), "%s sent you a private message",
		    ti->ti_inviter);
	else
		snprintf(subj, sizeof(subj), "You are invited to Tandem "
		    "private mail");
	th.th_subject = subj;
	if (tmail_compose(&th, der, derlen, mail, len, err) == -1)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(tok, sizeof(tok));
	OPENSSL_cleanse(dtok, sizeof(dtok));
	proto_msg_free(pm);
	free(body);
	free(der);
	free(text);
	return rc;
}

int
tmail_decline_code(const char *subject, char *code, size_t size)
{
	const char *p = strstr(subject, TMAIL_DECLINE);
	size_t n;

	if (p == NULL || size < TMAIL_DECLINE_CODELEN + 1)
		return -1;
	p += strlen(TMAIL_DECLINE);
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_");
	if (n != TMAIL_DECLINE_CODELEN)
		return -1;
	memcpy(code, p, n);
	code[n] = '\0';
	return 0;
}
