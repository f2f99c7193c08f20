/*
 * NAME
 *	net.c - the agent's network side: settings, HTTPS and SMTP
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	struct agent_net *net_new(const struct agent_opts *o, char *err);
 *	void	net_free(struct agent_net *an);
 *	int	net_identity(struct agent_net *an, const struct cms_id *id,
 *		    const char *anchors, char *err);
 *	int	net_https(struct agent_net *an, const char *method,
 *		    const char *path, const unsigned char *body,
 *		    size_t len, long *status, unsigned char **resp,
 *		    size_t *resplen, char *err);
 *	int	net_https_pem(struct agent_net *an, const char *path,
 *		    const char *pem, long *status, unsigned char **resp,
 *		    size_t *resplen, char *err);
 *	int	net_smtp(struct agent_net *an, const char *from,
 *		    char *const *rcpts, size_t nrcpts, const char *msg,
 *		    size_t len, long *code, char *err);
 * DESCRIPTION
 *	net_new() merges the settings: the agent section of the
 *	tandem.conf named by -c (if any), then the command-line options
 *	--smtp, --smtp-starttls, --smtp-ca, --smtp-user,
 *	--smtp-password-file, --bg, --maildir and --resolve, which win.
 *	It refuses, before anything connects, a submission user without
 *	STARTTLS or without a password file (a password is never sent in
 *	clear), and a password file that the group or others may read or
 *	that holds no password. The result should be passed to
 *	net_free(), which accepts NULL.
 *
 *	net_identity() gives libcurl the agent's TLS client identity:
 *	the certificate and chain as PEM and the private key, decrypted
 *	in memory only and passed as a blob (never a clear file). The
 *	trust anchors (a PEM file) verify the background's certificate.
 *	The key bytes are wiped by net_free(), or by the next
 *	net_identity(), which replaces the identity (after a rekey).
 *	The background must
 *	moreover be this agent's own courier's: its certificate a BG
 *	element certificate signed by the key of the courier CA that
 *	issued the agent's certificate (pinned by key from the agent's
 *	chain, directly or above an issuing CA). Another courier's
 *	background, however well certified, is refused in the handshake.
 *
 *	net_save() writes the merged settings as the agent section of a
 *	new tandem.conf at path (mode 0600; an existing file is an
 *	error): submission, submission_tls, submission_ca,
 *	submission_user, submission_password_file, bg_url (bg if not
 *	NULL, else the merged one), maildir and resolve, those that are
 *	set (the files made absolute).
 *
 *	net_set_bg() replaces the background URL (https:// only).
 *	net_pin() pins the background to another courier: the courier CA
 *	above cert (in chain), for the new courier's background during a
 *	transfer; net_identity() pins it back to the agent's own.
 *	net_maildir(), net_store_dir() and net_bg() return the settings
 *	(owned by an, NULL when unset).
 *
 *	net_https() sends one request to the background URL followed by
 *	path. *status gets the HTTP status; *resp (NUL-terminated, not
 *	counted in *resplen, to free()) the body. It returns -1 only if
 *	no answer came (connection, TLS); any status is an answer. The
 *	body is a wrap (Content-Type: application/pkcs7-mime).
 *	net_https_pem() is a POST of PEM text instead (Content-Type:
 *	application/pem-certificate-chain): the certificate a rekey
 *	offers (POST /v1/rekey).
 *
 *	net_smtp() submits msg (CRLF lines) to the submission service
 *	with the envelope from and rcpts. *code gets the last SMTP reply
 *	code (0 if none came); a failure's reason is the server's last
 *	reply as it wrote it (control bytes dropped), or libcurl's when
 *	no reply came. With STARTTLS, the session is TLS 1.2 or later
 *	before any command but EHLO: a server that does not offer it is
 *	left, and its certificate must verify (to submission_ca, else the
 *	system's CAs) for the host name (or address) of the submission
 *	setting. With a user, the password is read from its file for
 *	this one submission and wiped when it is over (libcurl's own
 *	copies are freed by curl_easy_cleanup()); when the server did not
 *	authenticate the user (no AUTH offered), the message is not sent:
 *	the DATA is cut short.
 * DIAGNOSTICS
 *	0 or -1 with a one-line reason in err. net_smtp() returns -2 for
 *	what no retry mends and no SMTP reply says: the server offers no
 *	STARTTLS, its certificate does not verify, or it offers no AUTH
 *	for the user; nothing was sent.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tandem.h"
#include "conf.h"
#include "pki.h"
#include "util.h"
#include "agent.h"

#define NET_MAX_RESP	(TN_MAX_MESSAGE + 1024)
#define NET_MAX_PASSWORD 1024	/* SMTP AUTH password, bytes */

struct agent_net {
	char			*an_smtp;	/* host:port */
	int			 an_starttls;
	char			*an_smtp_ca;	/* PEM file; NULL: the system's */
	char			*an_smtp_user;	/* NULL: no SMTP AUTH */
	char			*an_smtp_pwfile;
	char			*an_bg;		/* https URL, no trailing / */
	char			*an_maildir;
	char			*an_store_dir;	/* from conf, or NULL */
	struct curl_slist	*an_resolve;
	char			*an_cert;	/* PEM: cert + chain */
	char			*an_key;	/* PEM, clear: wiped */
	size_t			 an_keylen;
	char			*an_anchors;	/* path */
	char			 an_courier[PKI_KEYIDLEN + 1];	/* CA key */
	char			 an_tls_why[TN_ERRLEN];	/* a refused BG */
};

struct net_buf {
	unsigned char	*nb_data;
	size_t		 nb_len;
	size_t		 nb_pos;	/* for reading */
	int		 nb_over;
};

static int
net_dup(char **dst, const char *src, char *err)
{
	char *d = NULL;

	if (src != NULL && (d = strdup(src)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = d;
	return 0;
}

static int
net_add_resolve(struct agent_net *an, const char *r, char *err)
{
	struct curl_slist *l;

	if (strchr(r, ':') == NULL || strchr(strchr(r, ':') + 1, ':') ==
	    NULL) {
		tn_err(err, "--resolve: not HOST:PORT:ADDRESS: %s", r);
		return -1;
	}
	if ((l = curl_slist_append(an->an_resolve, r)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	an->an_resolve = l;
	return 0;
}

static int
net_from_conf(struct agent_net *an, const char *path, char *err)
{
	struct conf *cf = NULL;
	char hp[600], *slash;
	size_t i;
	int rc = -1;

	if (conf_load(path, &cf, err) == -1)
		return -1;
	snprintf(hp, sizeof(hp), "%s:%d", cf->cf_submission_host,
	    cf->cf_submission_port);
	an->an_starttls = cf->cf_submission_starttls;
	if (net_dup(&an->an_smtp, hp, err) == -1 ||
	    net_dup(&an->an_smtp_ca, *cf->cf_submission_ca ?
	    cf->cf_submission_ca : NULL, err) == -1 ||
	    net_dup(&an->an_smtp_user, *cf->cf_submission_user ?
	    cf->cf_submission_user : NULL, err) == -1 ||
	    net_dup(&an->an_smtp_pwfile, *cf->cf_submission_password_file ?
	    cf->cf_submission_password_file : NULL, err) == -1 ||
	    net_dup(&an->an_bg, *cf->cf_bg_url ? cf->cf_bg_url : NULL,
	    err) == -1 ||
	    net_dup(&an->an_maildir, cf->cf_agent_maildir, err) == -1 ||
	    net_dup(&an->an_store_dir, cf->cf_agent_store, err) == -1)
		goto out;
	if ((slash = strrchr(an->an_store_dir, '/')) != NULL)
		*slash = '\0';
	else {
		free(an->an_store_dir);
		an->an_store_dir = NULL;
	}
	for (i = 0; i < cf->cf_nresolve; i++)
		if (net_add_resolve(an, cf->cf_resolve[i], err) == -1)
			goto out;
	rc = 0;
out:
	conf_free(cf);
	return rc;
}

/*
 * The SMTP AUTH password: the first line of path, without its end, into
 * buf (size bytes). The file must be the user's alone, as ssh wants
 * of a key: a mode that lets the group or others in is refused. Read
 * with read(2), so that no stdio buffer keeps a copy; what is left of
 * the password in buf after a failure is wiped.
 */
static int
net_password(const char *path, char *buf, size_t size, char *err)
{
	struct stat sb;
	size_t len = 0;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		tn_err(err, "submission password file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		tn_err(err, "submission password file %s: not a file", path);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		tn_err(err, "submission password file %s: mode %04o lets "
		    "the group or others in: refused (chmod 600 it)", path,
		    (unsigned int)(sb.st_mode & 07777));
		goto out;
	}
	while (len + 1 < size && memchr(buf, '\n', len) == NULL) {
		if ((n = read(fd, buf + len, size - 1 - len)) == -1 &&
		    errno == EINTR)
			continue;
		if (n == -1) {
			tn_err(err, "submission password file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (memchr(buf, '\n', len) == NULL && len + 1 == size) {
		tn_err(err, "submission password file %s: first line longer "
		    "than %zu bytes", path, size - 2);
		goto out;
	}
	len = strcspn(buf, "\r\n");
	if (len == 0) {
		tn_err(err, "submission password file %s: no password on "
		    "its first line", path);
		goto out;
	}
	OPENSSL_cleanse(buf + len, size - len);
	rc = 0;
out:
	if (rc == -1)
		OPENSSL_cleanse(buf, size);
	close(fd);
	return rc;
}

/*
 * SMTP AUTH only over a verified TLS session, with a password: checked
 * before anything connects.
 */
static int
net_check_submission(struct agent_net *an, char *err)
{
	char pw[NET_MAX_PASSWORD + 2];

	if (an->an_smtp_ca != NULL && access(an->an_smtp_ca, R_OK) == -1) {
		tn_err(err, "submission_ca %s: %s", an->an_smtp_ca,
		    strerror(errno));
		return -1;
	}
	if (an->an_smtp_user == NULL)
		return 0;
	if (!an->an_starttls) {
		tn_err(err, "submission_user %s without submission_tls = "
		    "starttls (--smtp-starttls): refused, a password is "
		    "never sent in clear", an->an_smtp_user);
		return -1;
	}
	if (an->an_smtp_pwfile == NULL) {
		tn_err(err, "submission_user %s without "
		    "submission_password_file (--smtp-password-file): "
		    "refused, a password is never sent in clear",
		    an->an_smtp_user);
		return -1;
	}
	if (net_password(an->an_smtp_pwfile, pw, sizeof(pw), err) == -1)
		return -1;
	OPENSSL_cleanse(pw, sizeof(pw));
	return 0;
}

/* The command-line options over the file's settings. */
static int
net_from_opts(struct agent_net *an, const struct agent_opts *o, char *err)
{
	if (o->o_smtp_starttls)
		an->an_starttls = 1;
	return (o->o_smtp != NULL && net_dup(&an->an_smtp, o->o_smtp,
	    err) == -1) ||
	    (o->o_smtp_ca != NULL && net_dup(&an->an_smtp_ca, *o->o_smtp_ca ?
	    o->o_smtp_ca : NULL, err) == -1) ||
	    (o->o_smtp_user != NULL && net_dup(&an->an_smtp_user,
	    *o->o_smtp_user ? o->o_smtp_user : NULL, err) == -1) ||
	    (o->o_smtp_pwfile != NULL && net_dup(&an->an_smtp_pwfile,
	    *o->o_smtp_pwfile ? o->o_smtp_pwfile : NULL, err) == -1) ||
	    (o->o_bg != NULL && net_dup(&an->an_bg, o->o_bg, err) == -1) ||
	    (o->o_maildir != NULL && net_dup(&an->an_maildir, o->o_maildir,
	    err) == -1) ? -1 : 0;
}

struct agent_net *
net_new(const struct agent_opts *o, char *err)
{
	struct agent_net *an;
	size_t i;

	if ((an = calloc(1, sizeof(*an))) == NULL) {
		tn_err(err, "out of memory");
		return NULL;
	}
	if ((o->o_conf != NULL && net_from_conf(an, o->o_conf, err) == -1) ||
	    net_from_opts(an, o, err) == -1)
		goto fail;
	for (i = 0; i < o->o_nresolve; i++)
		if (net_add_resolve(an, o->o_resolve[i], err) == -1)
			goto fail;
	if (an->an_bg != NULL && net_set_bg(an, an->an_bg, err) == -1)
		goto fail;
	if (an->an_smtp == NULL && net_dup(&an->an_smtp, "127.0.0.1:587",
	    err) == -1)
		goto fail;
	if (net_check_submission(an, err) == -1)
		goto fail;
	return an;
fail:
	net_free(an);
	return NULL;
}

void
net_free(struct agent_net *an)
{
	if (an == NULL)
		return;
	free(an->an_smtp);
	free(an->an_smtp_ca);
	free(an->an_smtp_user);
	free(an->an_smtp_pwfile);
	free(an->an_bg);
	free(an->an_maildir);
	free(an->an_store_dir);
	free(an->an_cert);
	free(an->an_anchors);
	if (an->an_key != NULL)
		OPENSSL_cleanse(an->an_key, an->an_keylen);
	free(an->an_key);
	curl_slist_free_all(an->an_resolve);
	free(an);
}

const char *
net_maildir(const struct agent_net *an)
{
	return an->an_maildir;
}

const char *
net_store_dir(const struct agent_net *an)
{
	return an->an_store_dir;
}

const char *
net_bg(const struct agent_net *an)
{
	return an->an_bg;
}

/* One "name = value" line of the agent section, quoted for libconfuse. */
static int
net_save_str(FILE *fp, const char *name, const char *v, int list)
{
	if (!list)
		fprintf(fp, "\t%s = ", name);
	fputc('"', fp);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', fp);
		else if ((unsigned char)*v < 0x20)
			return -1;
		fputc(*v, fp);
	}
	fputc('"', fp);
	return 0;
}

/* A file name of the settings, made absolute when it can be. */
static int
net_save_file(FILE *fp, const char *name, const char *v)
{
	char *abs = NULL;
	int rc;

	if (v[0] != '/')
		abs = realpath(v, NULL);
	rc = net_save_str(fp, name, abs != NULL ? abs : v, 0);
	fputc('\n', fp);
	free(abs);
	return rc;
}

/* The submission's TLS and AUTH settings, those that are set. */
static int
net_save_submission(FILE *fp, const struct agent_net *an)
{
	int bad = 0;

	if (an->an_starttls)
		fprintf(fp, "\tsubmission_tls = \"starttls\"\n");
	if (an->an_smtp_ca != NULL)
		bad |= net_save_file(fp, "submission_ca", an->an_smtp_ca);
	if (an->an_smtp_user != NULL) {
		bad |= net_save_str(fp, "submission_user", an->an_smtp_user,
		    0);
		fputc('\n', fp);
	}
	if (an->an_smtp_pwfile != NULL)
		bad |= net_save_file(fp, "submission_password_file",
		    an->an_smtp_pwfile);
	return bad;
}

int
net_save(const struct agent_net *an, const char *bg, const char *path,
    char *err)
{
	const struct curl_slist *r;
	char *buf = NULL, *md = NULL;
	size_t len = 0;
	FILE *fp;
	int bad = 0, rc = -1;

	if (bg == NULL)
		bg = an->an_bg;
	if (an->an_maildir != NULL && an->an_maildir[0] != '/')
		md = realpath(an->an_maildir, NULL);
	if ((fp = open_memstream(&buf, &len)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	fprintf(fp, "# Written by \"tandem register\": what later commands "
	    "need.\n# Options on the command line win; see tandem.conf(5)."
	    "\nagent {\n");
	bad |= net_save_str(fp, "submission", an->an_smtp, 0);
	fputc('\n', fp);
	bad |= net_save_submission(fp, an);
	if (bg != NULL) {
		bad |= net_save_str(fp, "bg_url", bg, 0);
		fputc('\n', fp);
	}
	if (an->an_maildir != NULL) {
		bad |= net_save_str(fp, "maildir", md != NULL ? md :
		    an->an_maildir, 0);
		fputc('\n', fp);
	}
	if (an->an_resolve != NULL) {
		fprintf(fp, "\tresolve = {");
		for (r = an->an_resolve; r != NULL; r = r->next) {
			bad |= net_save_str(fp, NULL, r->data, 1);
			fputs(r->next != NULL ? ", " : "", fp);
		}
		fprintf(fp, "}\n");
	}
	fprintf(fp, "}\n");
	if (fclose(fp) != 0 || bad) {
		tn_err(err, "%s: cannot write the settings (a control "
		    "character in one?)", path);
		goto out;
	}
	rc = util_write_file(path, buf, len, 0600, 1, err);
out:
	free(buf);
	free(md);
	return rc;
}

static int
net_cert_chain(struct agent_net *an, const struct cms_id *id, char *err)
{
	char *pem = NULL, *all = NULL;
	size_t len, total = 0;
	int i, n, rc = -1;

	n = id->ci_chain != NULL ? sk_X509_num(id->ci_chain) : 0;
	for (i = -1; i < n; i++) {
		if (pki_cert_pem(i < 0 ? id->ci_cert :
		    sk_X509_value(id->ci_chain, i), &pem, &len, err) == -1)
			goto out;
		if ((all = realloc(an->an_cert, total + len + 1)) == NULL) {
			tn_err(err, "out of memory");
			goto out;
		}
		memcpy(all + total, pem, len + 1);
		total += len;
		an->an_cert = all;
		free(pem);
		pem = NULL;
	}
	rc = 0;
out:
	free(pem);
	return rc;
}

/*
 * The key id (pki_key_id()) of the courier CA above cert in chain: the
 * first certificate of kind courier CA on the way up, each step
 * checked by its signature.
 */
static int
net_courier_key(X509 *cert, STACK_OF(X509) *chain, char *out, char *err)
{
	X509 *cur = cert, *up;
	int i, depth;

	for (depth = 0; chain != NULL && depth < 8; depth++) {
		for (i = 0, up = NULL; i < sk_X509_num(chain) && up == NULL;
		    i++) {
			up = sk_X509_value(chain, i);
			if (up == cur || X509_check_issued(up, cur) !=
			    X509_V_OK || X509_verify(cur,
			    X509_get0_pubkey(up)) != 1)
				up = NULL;
		}
		if (up == NULL)
			break;
		if (pki_cert_kind(up) == PKI_KIND_COURIER_CA)
			return pki_key_id(up, out) == -1 ?
			    (tn_err(err, "cannot read the courier CA's key"),
			    -1) : 0;
		cur = up;
	}
	tn_err(err, "the agent's chain does not hold the CA of its courier: "
	    "the background cannot be checked");
	return -1;
}

int
net_pin(struct agent_net *an, X509 *cert, STACK_OF(X509) *chain, char *err)
{
	return net_courier_key(cert, chain, an->an_courier, err);
}

int
net_identity(struct agent_net *an, const struct cms_id *id,
    const char *anchors, char *err)
{
	if (an->an_key != NULL)
		OPENSSL_cleanse(an->an_key, an->an_keylen);
	free(an->an_key);
	an->an_key = NULL;
	free(an->an_cert);
	an->an_cert = NULL;
	if (net_cert_chain(an, id, err) == -1 ||
	    net_courier_key(id->ci_cert, id->ci_chain, an->an_courier,
	    err) == -1 ||
	    pki_key_pem(id->ci_key, NULL, &an->an_key, &an->an_keylen,
	    err) == -1 ||
	    net_dup(&an->an_anchors, anchors, err) == -1)
		return -1;
	return 0;
}

/* A name for a certificate in an error: its subject's common name. */
static void
net_cert_name(X509 *x, char *buf, size_t size)
{
	X509_NAME *n = x == NULL ? NULL : X509_get_subject_name(x);

	if (n == NULL || X509_NAME_get_text_by_NID(n, NID_commonName, buf,
	    (int)size) < 0)
		snprintf(buf, size, "?");
	buf[strcspn(buf, "\r\n")] = '\0';
}

/*
 * The handshake's check: OpenSSL's to the anchors (curl then checks
 * the host name), then the pin. The reason of a refusal goes to
 * an_tls_why.
 */
static int
net_verify_cb(X509_STORE_CTX *x, void *arg)
{
	struct agent_net *an = arg;
	STACK_OF(X509) *chain;
	X509 *leaf, *ca;
	char kid[PKI_KEYIDLEN + 1], name[128];

	if (X509_verify_cert(x) != 1)
		return 0;
	chain = X509_STORE_CTX_get0_chain(x);
	leaf = chain != NULL ? sk_X509_value(chain, 0) : NULL;
	ca = chain != NULL && sk_X509_num(chain) > 1 ?
	    sk_X509_value(chain, 1) : NULL;
	net_cert_name(ca, name, sizeof(name));
	if (leaf == NULL || pki_cert_kind(leaf) != PKI_KIND_BG)
		tn_err(an->an_tls_why, "the server's certificate is not a "
		    "background's");
	else if (ca == NULL || pki_cert_kind(ca) != PKI_KIND_COURIER_CA ||
	    pki_key_id(ca, kid) == -1 || strcmp(kid, an->an_courier) != 0)
		tn_err(an->an_tls_why, "the background's certificate is not "
		    "of this agent's courier (issued by %s, key %.16s, not "
		    "key %.16s): refused", name,
		    ca == NULL || pki_key_id(ca, kid) == -1 ? "?" : kid,
		    an->an_courier);
	else
		return 1;
	X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
	return 0;
}

static int net_ctx_idx = -1;	/* SSL_CTX ex_data: its agent_net */

/*
 * A fatal alert from the background (its refusal of this agent's
 * certificate, say "certificate revoked"), kept in an_tls_why: more
 * than libcurl's "Failure when receiving data from the peer".
 */
static void
net_alert_cb(const SSL *ssl, int where, int ret)
{
	struct agent_net *an;

	if ((where & SSL_CB_ALERT) == 0 || (where & SSL_CB_READ) == 0 ||
	    (ret >> 8) != SSL3_AL_FATAL ||
	    (an = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl),
	    net_ctx_idx)) == NULL || an->an_tls_why[0] != '\0')
		return;
	tn_err(an->an_tls_why, "the background refused the TLS connection: "
	    "%s", SSL_alert_desc_string_long(ret));
}

static CURLcode
net_ssl_ctx_cb(CURL *c, void *ssl_ctx, void *arg)
{
	(void)c;
	SSL_CTX_set_cert_verify_callback(ssl_ctx, net_verify_cb, arg);
	if (net_ctx_idx == -1 && (net_ctx_idx = SSL_CTX_get_ex_new_index(0,
	    NULL, NULL, NULL, NULL)) == -1)
		return CURLE_OK;	/* the alert goes unsaid */
	if (SSL_CTX_set_ex_data(ssl_ctx, net_ctx_idx, arg))
		SSL_CTX_set_info_callback(ssl_ctx, net_alert_cb);
	return CURLE_OK;
}

static size_t
net_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct net_buf *nb = arg;
	unsigned char *d;

	n *= size;
	if (nb->nb_len + n > NET_MAX_RESP) {
		nb->nb_over = 1;
		return 0;
	}
	if ((d = realloc(nb->nb_data, nb->nb_len + n + 1)) == NULL)
		return 0;
	memcpy(d + nb->nb_len, p, n);
	nb->nb_len += n;
	d[nb->nb_len] = '\0';
	nb->nb_data = d;
	return n;
}

static size_t
net_read_cb(char *p, size_t size, size_t n, void *arg)
{
	struct net_buf *nb = arg;

	n *= size;
	if (n > nb->nb_len - nb->nb_pos)
		n = nb->nb_len - nb->nb_pos;
	memcpy(p, nb->nb_data + nb->nb_pos, n);
	nb->nb_pos += n;
	return n;
}

static int
net_tls(CURL *c, struct agent_net *an)
{
	struct curl_blob cert, key;

	cert.data = an->an_cert;
	cert.len = strlen(an->an_cert);
	cert.flags = CURL_BLOB_COPY;
	key.data = an->an_key;
	key.len = an->an_keylen;
	key.flags = CURL_BLOB_NOCOPY;
	return curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CAINFO, an->an_anchors) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, net_ssl_ctx_cb) !=
	    CURLE_OK || curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, an) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ? -1 : 0;
}

static int
net_https_setup(CURL *c, struct agent_net *an, const char *method,
    const char *url, struct curl_slist *hdrs, struct net_buf *in,
    struct net_buf *out)
{
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_RESOLVE, an->an_resolve) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, net_write_cb) !=
	    CURLE_OK || curl_easy_setopt(c, CURLOPT_WRITEDATA, out) !=
	    CURLE_OK || net_tls(c, an) == -1)
		return -1;
	if (strcmp(method, "POST") == 0)
		return curl_easy_setopt(c, CURLOPT_POSTFIELDS, in->nb_data) !=
		    CURLE_OK || curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)in->nb_len) != CURLE_OK ? -1 : 0;
	if (strcmp(method, "GET") != 0)
		return curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) !=
		    CURLE_OK ? -1 : 0;
	return 0;
}

/* One request, the body of the content type given. */
static int
net_request(struct agent_net *an, const char *ctype, const char *method,
    const char *path, const unsigned char *body, size_t len, long *status,
    unsigned char **resp, size_t *resplen, char *err)
{
	CURL *c = NULL;
	CURLcode cc;
	struct curl_slist *hdrs = NULL;
	struct net_buf in, out;
	char url[2048], hdr[128];
	int rc = -1;

	memset(&out, 0, sizeof(out));
	in.nb_data = (unsigned char *)(uintptr_t)body;
	in.nb_len = len;
	*status = 0;
	*resp = NULL;
	*resplen = 0;
	if (an->an_bg == NULL) {
		tn_err(err, "no background URL: use --bg or bg_url in "
		    "tandem.conf");
		return -1;
	}
	if (an->an_key == NULL || an->an_cert == NULL) {
		tn_err(err, "no TLS identity");
		return -1;
	}
	if ((size_t)snprintf(url, sizeof(url), "%s%s", an->an_bg, path) >=
	    sizeof(url)) {
		tn_err(err, "background URL too long");
		return -1;
	}
	snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
	if ((c = curl_easy_init()) == NULL ||
	    (hdrs = curl_slist_append(NULL, hdr)) == NULL ||
	    net_https_setup(c, an, method, url, hdrs, &in, &out) == -1) {
		tn_err(err, "cannot set up the HTTPS request");
		goto out;
	}
	an->an_tls_why[0] = '\0';
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		tn_err(err, "%s %s: %s", method, url, out.nb_over ?
		    "answer too large" : an->an_tls_why[0] != '\0' ?
		    an->an_tls_why : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (out.nb_data == NULL && (out.nb_data = calloc(1, 1)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	*resp = out.nb_data;
	*resplen = out.nb_len;
	out.nb_data = NULL;
	rc = 0;
out:
	free(out.nb_data);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return rc;
}

int
net_https(struct agent_net *an, const char *method, const char *path,
    const unsigned char *body, size_t len, long *status,
    unsigned char **resp, size_t *resplen, char *err)
{
	return net_request(an, "application/pkcs7-mime", method, path, body,
	    len, status, resp, resplen, err);
}

int
net_https_pem(struct agent_net *an, const char *path, const char *pem,
    long *status, unsigned char **resp, size_t *resplen, char *err)
{
	return net_request(an, "application/pem-certificate-chain", "POST",
	    path, (const unsigned char *)pem, strlen(pem), status, resp,
	    resplen, err);
}

/*
 * One submission: the message going out, the server's replies (lines
 * joined; the last 4xx or 5xx is kept, as the QUIT's 221 that follows
 * it is not what a failure shows) and how far AUTH went.
 */
struct net_submit {
	struct net_buf	ns_in;
	char		ns_text[512];
	size_t		ns_len;
	int		ns_done;	/* the last line came: next starts anew */
	char		ns_fail[512];	/* the last 4xx or 5xx, or "" */
	int		ns_need_auth;	/* a user is set */
	int		ns_auth;	/* 0, 1: AUTH sent, 2: 235 came */
	char		ns_curl[CURL_ERROR_SIZE];
};

/* The message; cut short when the user should be and is not logged in. */
static size_t
net_submit_read_cb(char *p, size_t size, size_t n, void *arg)
{
	struct net_submit *ns = arg;

	if (ns->ns_need_auth && ns->ns_auth != 2)
		return CURL_READFUNC_ABORT;
	return net_read_cb(p, size, n, &ns->ns_in);
}

static int
net_smtp_debug(CURL *c, curl_infotype type, char *data, size_t size,
    void *arg)
{
	struct net_submit *ns = arg;
	size_t i;

	(void)c;
	if (type == CURLINFO_HEADER_OUT && size >= 5 &&
	    strncasecmp(data, "AUTH ", 5) == 0)
		ns->ns_auth = 1;
	if (type != CURLINFO_HEADER_IN)
		return 0;
	if (ns->ns_done)
		ns->ns_len = 0;
	if (ns->ns_len > 0 && ns->ns_len + 1 < sizeof(ns->ns_text))
		ns->ns_text[ns->ns_len++] = ' ';
	for (i = 0; i < size && ns->ns_len + 1 < sizeof(ns->ns_text); i++)
		if (data[i] >= 0x20 && data[i] < 0x7f)
			ns->ns_text[ns->ns_len++] = data[i];
	ns->ns_text[ns->ns_len] = '\0';
	/* "250-..." goes on; "250 ..." (or a bare code) ends the reply. */
	ns->ns_done = size < 4 || data[3] != '-';
	if (ns->ns_done && (ns->ns_text[0] == '4' || ns->ns_text[0] == '5'))
		memcpy(ns->ns_fail, ns->ns_text, ns->ns_len + 1);
	if (ns->ns_done && ns->ns_auth == 1 &&
	    strncmp(ns->ns_text, "235", 3) == 0)
		ns->ns_auth = 2;
	return 0;
}

static int
net_smtp_setup(CURL *c, struct agent_net *an, const char *from,
    struct curl_slist *rl, struct net_submit *ns, char *err)
{
	char url[700], mfrom[TN_MAX_ADDRESS + 3];

	if ((size_t)snprintf(url, sizeof(url), "smtp://%s", an->an_smtp) >=
	    sizeof(url)) {
		tn_err(err, "submission address too long");
		return -1;
	}
	snprintf(mfrom, sizeof(mfrom), "<%s>", from);
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_RESOLVE, an->an_resolve) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ns->ns_curl) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAIL_FROM, mfrom) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rl) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_READFUNCTION, net_submit_read_cb) !=
	    CURLE_OK || curl_easy_setopt(c, CURLOPT_READDATA, ns) !=
	    CURLE_OK || curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)ns->ns_in.nb_len) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, net_smtp_debug) !=
	    CURLE_OK || curl_easy_setopt(c, CURLOPT_DEBUGDATA, ns) !=
	    CURLE_OK || curl_easy_setopt(c, CURLOPT_VERBOSE, 1L) !=
	    CURLE_OK) {
		tn_err(err, "cannot set up the SMTP submission");
		return -1;
	}
	return 0;
}

/*
 * STARTTLS, or nothing; with a user, the password (read into pw, which
 * the caller wipes) and the user name.
 */
static int
net_smtp_secure(CURL *c, struct agent_net *an, char *pw, size_t pwsize,
    char *err)
{
	if (an->an_starttls && (curl_easy_setopt(c, CURLOPT_USE_SSL,
	    (long)CURLUSESSL_ALL) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    (an->an_smtp_ca != NULL && curl_easy_setopt(c, CURLOPT_CAINFO,
	    an->an_smtp_ca) != CURLE_OK))) {
		tn_err(err, "cannot set up STARTTLS for the submission");
		return -1;
	}
	if (an->an_smtp_user == NULL)
		return 0;
	/* net_new() checked; this is the last line of defence. */
	if (!an->an_starttls || an->an_smtp_pwfile == NULL) {
		tn_err(err, "SMTP AUTH without STARTTLS: refused");
		return -1;
	}
	if (net_password(an->an_smtp_pwfile, pw, pwsize, err) == -1)
		return -1;
	if (curl_easy_setopt(c, CURLOPT_USERNAME, an->an_smtp_user) !=
	    CURLE_OK || curl_easy_setopt(c, CURLOPT_PASSWORD, pw) !=
	    CURLE_OK) {
		tn_err(err, "cannot set up SMTP AUTH");
		return -1;
	}
	return 0;
}

/*
 * Why a submission failed: -1 with *code for what the server said or a
 * network failure, -2 for what no retry mends (nothing was sent).
 */
static int
net_smtp_why(struct agent_net *an, CURLcode cc, const struct net_submit *ns,
    char *err)
{
	const char *why = ns->ns_curl[0] != '\0' ? ns->ns_curl :
	    curl_easy_strerror(cc);

	if (cc == CURLE_USE_SSL_FAILED && ns->ns_fail[0] != '\0') {
		tn_err(err, "smtp://%s refused STARTTLS: %s", an->an_smtp,
		    ns->ns_fail);
		return -1;
	}
	if (cc == CURLE_USE_SSL_FAILED) {
		tn_err(err, "smtp://%s does not offer STARTTLS "
		    "(submission_tls = starttls): nothing was sent",
		    an->an_smtp);
		return -2;
	}
	if (cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CACERT_BADFILE) {
		tn_err(err, "smtp://%s: TLS certificate verification failed "
		    "(%s; CAs: %s): nothing was sent", an->an_smtp, why,
		    an->an_smtp_ca != NULL ? an->an_smtp_ca : "the system's");
		return -2;
	}
	if (an->an_smtp_user != NULL && ns->ns_auth == 1 &&
	    ns->ns_fail[0] != '\0') {
		tn_err(err, "smtp://%s: authentication as %s failed: %s",
		    an->an_smtp, an->an_smtp_user, ns->ns_fail);
		return -1;
	}
	if (an->an_smtp_user != NULL && ns->ns_auth == 0 &&
	    (cc == CURLE_LOGIN_DENIED || cc == CURLE_ABORTED_BY_CALLBACK)) {
		tn_err(err, "smtp://%s offers no AUTH that libcurl can use: "
		    "%s not authenticated, nothing was sent", an->an_smtp,
		    an->an_smtp_user);
		return -2;
	}
	if (ns->ns_fail[0] != '\0')
		tn_err(err, "smtp://%s answered: %s", an->an_smtp,
		    ns->ns_fail);
	else
		tn_err(err, "smtp://%s: %s", an->an_smtp,
		    curl_easy_strerror(cc));
	return -1;
}

int
net_smtp(struct agent_net *an, const char *from, char *const *rcpts,
    size_t nrcpts, const char *msg, size_t len, long *code, char *err)
{
	CURL *c = NULL;
	CURLcode cc;
	struct curl_slist *rl = NULL, *l;
	struct net_submit ns;
	char r[TN_MAX_ADDRESS + 3], pw[NET_MAX_PASSWORD + 2];
	size_t i;
	int rc = -1;

	*code = 0;
	memset(&ns, 0, sizeof(ns));
	memset(pw, 0, sizeof(pw));
	ns.ns_in.nb_data = (unsigned char *)(uintptr_t)msg;
	ns.ns_in.nb_len = len;
	ns.ns_need_auth = an->an_smtp_user != NULL;
	for (i = 0; i < nrcpts; i++) {
		snprintf(r, sizeof(r), "<%s>", rcpts[i]);
		if ((l = curl_slist_append(rl, r)) == NULL) {
			tn_err(err, "out of memory");
			goto out;
		}
		rl = l;
	}
	if ((c = curl_easy_init()) == NULL) {
		tn_err(err, "cannot set up the SMTP submission");
		goto out;
	}
	if (net_smtp_setup(c, an, from, rl, &ns, err) == -1 ||
	    net_smtp_secure(c, an, pw, sizeof(pw), err) == -1)
		goto out;
	cc = curl_easy_perform(c);
	OPENSSL_cleanse(pw, sizeof(pw));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	if (cc != CURLE_OK) {
		rc = net_smtp_why(an, cc, &ns, err);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	curl_slist_free_all(rl);
	curl_easy_cleanup(c);
	return rc;
}

int
net_set_bg(struct agent_net *an, const char *url, char *err)
{
	size_t n;

	if (strncmp(url, "https://", 8) != 0) {
		tn_err(err, "background URL: not https://: %s", url);
		return -1;
	}
	if (net_dup(&an->an_bg, url, err) == -1)
		return -1;
	n = strlen(an->an_bg);
	while (n > 8 && an->an_bg[n - 1] == '/')
		an->an_bg[--n] = '\0';
	return 0;
}
