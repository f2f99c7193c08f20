/*
 * NAME
 *	tandem-ca - the Tandem certificate authority
 * SYNOPSIS
 *	tandem-ca root -d DIR --name NAME [--key ec|rsa] [--days N]
 *	tandem-ca courier -d DIR --name NAME --role public|private|gateway
 *	    --superior SUPDIR [--domain DOMAIN] [--key ec|rsa] [--days N]
 *	tandem-ca element -d DIR --fg MAILBOX | --bg https://URL
 *	    [--key ec|rsa] [--days N]
 *	tandem-ca account -d DIR --address ADDR --csr AGENT.csr
 *	    [--key ec|rsa] [--days N]
 *	tandem-ca issuing -d DIR --domain DOMAIN [--domain DOMAIN ...]
 *	    [--key ec|rsa] [--days N]
 *	tandem-ca verify -d DIR | --anchor ROOT.pem [--chain CHAIN.pem]
 *	    [--email ADDR] CERT.pem
 *	tandem-ca revoke -d DIR [--reason REASON] [--days N] CERT.pem
 *	tandem-ca crl -d DIR [--days N]
 * DESCRIPTION
 *	Runs on the operator's workstation. Each courier has a folder
 *	(layout in tandem-ca(1)); its CA key is read from there and never
 *	written anywhere else. Keys are created 0600 with exclusive
 *	create; no file is ever overwritten. Every certificate issued is
 *	verified to the root with pki_verify() before it is written, so
 *	tandem-ca refuses what the hierarchy would refuse.
 *
 *	"issuing" makes the courier's issuing CA (DIR/issuing/): the only
 *	key the milter holds, limited to agent and courier-end
 *	certificates in the given domains; the courier CA key stays here.
 *
 *	"revoke" adds CERT, which the CA of DIR issued, to DIR/crl.pem,
 *	the CA's certificate revocation list, signed again with a next
 *	update in N days (7); "crl" signs the same list again, for the
 *	operator to run before that date. crl.pem is replaced whole
 *	(written aside, then renamed), the one file tandem-ca rewrites.
 *
 *	The logic is in lib/pki.c and lib/crl.c; this file reads options
 *	and files.
 * DIAGNOSTICS
 *	Messages on standard error. Exit 0 on success; verify exits with
 *	enum pki_fail (1..8) for a bad certificate; otherwise sysexits.h
 *	codes (see tandem-ca(1)).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crl.h"
#include "pki.h"
#include "tandem.h"
#include "util.h"

#define CA_MAX_PEM	(1024 * 1024)
#define CA_MAX_DIR	1024	/* -d, --superior, --anchor ... */
#define CA_MAX_DOMAINS	8	/* --domain of "issuing" */

struct ca_opts {
	const char	*o_dir;
	const char	*o_name;
	const char	*o_role;
	const char	*o_superior;
	const char	*o_domain;
	const char	*o_fg;
	const char	*o_bg;
	const char	*o_address;
	const char	*o_csr;
	const char	*o_anchor;
	const char	*o_chain;
	const char	*o_email;
	const char	*o_cert;
	const char	*o_reason;
	const char	*o_domains[CA_MAX_DOMAINS + 1]; /* NULL-ended */
	int		 o_ndomains;
	enum pki_keytype o_key;
	int		 o_days;
};

/* What a courier folder holds once loaded. */
struct ca_dir {
	EVP_PKEY	*cd_key;
	X509		*cd_cert;
	STACK_OF(X509)	*cd_chain;	/* ca.crt up to the root */
	struct pki_trust *cd_trust;	/* root.crt */
	char		*cd_chain_pem;
};

static int
ca_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tandem-ca: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return code;
}

static void
ca_usage(void)
{
	fprintf(stderr,
	    "usage: tandem-ca root -d DIR --name NAME [--key ec|rsa] "
	    "[--days N]\n"
	    "       tandem-ca courier -d DIR --name NAME "
	    "--role public|private|gateway\n"
	    "                 --superior SUPDIR [--domain DOMAIN] "
	    "[--key ec|rsa] [--days N]\n"
	    "       tandem-ca element -d DIR --fg MAILBOX | --bg "
	    "https://URL [--key ec|rsa] [--days N]\n"
	    "       tandem-ca account -d DIR --address ADDR --csr FILE "
	    "[--key ec|rsa] [--days N]\n"
	    "       tandem-ca issuing -d DIR --domain DOMAIN "
	    "[--domain DOMAIN ...] [--key ec|rsa] [--days N]\n"
	    "       tandem-ca verify -d DIR | --anchor ROOT.pem "
	    "[--chain CHAIN.pem] [--email ADDR] CERT.pem\n"
	    "       tandem-ca revoke -d DIR [--reason REASON] [--days N] "
	    "CERT.pem\n"
	    "       tandem-ca crl -d DIR [--days N]\n");
}

/* Paths are bounded: main() refuses a DIR longer than CA_MAX_DIR. */
static void
ca_path(char *buf, size_t len, const char *dir, const char *name)
{
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len)
		buf[0] = '\0';	/* cannot happen; fails to open */
}

/* A file that must be there: EX_NOINPUT if it is not. */
static int
ca_need(const char *path)
{
	if (access(path, R_OK) == -1)
		return ca_fail(EX_NOINPUT, "%s: %s", path, strerror(errno));
	return 0;
}

/* A file that must not be there yet. */
static int
ca_fresh(const char *path)
{
	if (access(path, F_OK) == 0)
		return ca_fail(EX_CANTCREAT, "%s: exists, refusing to "
		    "overwrite", path);
	return 0;
}

static int
ca_mkdir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		return ca_fail(EX_CANTCREAT, "%s: %s", path, strerror(errno));
	return 0;
}

static int
ca_write(const char *dir, const char *name, const char *data, int mode)
{
	char path[4096], err[TN_ERRLEN];

	ca_path(path, sizeof(path), dir, name);
	if (util_write_file(path, data, strlen(data), mode, 1, err) == -1)
		return ca_fail(EX_CANTCREAT, "%s", err);
	return 0;
}

static int
ca_write_key(const char *dir, const char *name, EVP_PKEY *key)
{
	char *pem = NULL, err[TN_ERRLEN];
	size_t len = 0;
	int rc;

	if (pki_key_pem(key, NULL, &pem, &len, err) == -1)
		return ca_fail(EX_SOFTWARE, "%s", err);
	rc = ca_write(dir, name, pem, 0600);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return rc;
}

static int
ca_write_cert(const char *dir, const char *name, X509 *x, const char *more)
{
	char *pem = NULL, *all = NULL, err[TN_ERRLEN];
	size_t len;
	int rc;

	if (pki_cert_pem(x, &pem, &len, err) == -1)
		return ca_fail(EX_SOFTWARE, "%s", err);
	if (more != NULL && asprintf(&all, "%s%s", pem, more) == -1) {
		free(pem);
		return ca_fail(EX_OSERR, "out of memory");
	}
	rc = ca_write(dir, name, all != NULL ? all : pem, 0644);
	free(all);
	free(pem);
	return rc;
}

static void
ca_dir_free(struct ca_dir *cd)
{
	EVP_PKEY_free(cd->cd_key);
	X509_free(cd->cd_cert);
	sk_X509_pop_free(cd->cd_chain, X509_free);
	pki_trust_free(cd->cd_trust);
	free(cd->cd_chain_pem);
	memset(cd, 0, sizeof(*cd));
}

/* Load a courier folder: its key, certificate, chain and root. */
static int
ca_dir_load(const char *dir, struct ca_dir *cd)
{
	static const char *files[] = { "ca.key", "ca.crt", "chain.pem",
	    "root.crt" };
	char path[4][4096], err[TN_ERRLEN];
	unsigned char *buf = NULL;
	size_t i, len;
	int rc;

	memset(cd, 0, sizeof(*cd));
	for (i = 0; i < 4; i++) {
		ca_path(path[i], sizeof(path[i]), dir, files[i]);
		if ((rc = ca_need(path[i])) != 0)
			return rc;
	}
	if ((cd->cd_key = pki_load_key(path[0], NULL, err)) == NULL ||
	    (cd->cd_cert = pki_load_cert(path[1], err)) == NULL ||
	    (cd->cd_chain = pki_load_certs(path[2], err)) == NULL ||
	    (cd->cd_trust = pki_trust_load(path[3], err)) == NULL ||
	    util_read_file(path[2], CA_MAX_PEM, &buf, &len, err) == -1) {
		ca_dir_free(cd);
		return ca_fail(EX_DATAERR, "%s", err);
	}
	cd->cd_chain_pem = (char *)buf;
	if (X509_check_private_key(cd->cd_cert, cd->cd_key) != 1) {
		ERR_clear_error();
		ca_dir_free(cd);
		return ca_fail(EX_DATAERR, "%s: key does not match %s",
		    path[0], path[1]);
	}
	return 0;
}

/* Check a new certificate to the root before it is handed out. */
static int
ca_check(const struct ca_dir *cd, X509 *x, const char *email)
{
	char err[TN_ERRLEN];

	if (pki_verify(cd->cd_trust, x, cd->cd_chain, email, err) == -1)
		return ca_fail(EX_NOPERM, "refusing to issue: %s", err);
	return 0;
}

static int
ca_issue(const struct ca_opts *o, struct pki_req *rq, const struct ca_dir *up,
    EVP_PKEY *key, X509 **out)
{
	char err[TN_ERRLEN];

	rq->rq_days = o->o_days;
	rq->rq_pubkey = key;
	rq->rq_issuer_cert = up != NULL ? up->cd_cert : NULL;
	rq->rq_issuer_key = up != NULL ? up->cd_key : key;
	if (pki_issue(rq, out, err) == -1)
		return ca_fail(EX_DATAERR, "%s", err);
	return 0;
}

static int
ca_newkey(const struct ca_opts *o, EVP_PKEY **key)
{
	char err[TN_ERRLEN];

	if ((*key = pki_key_generate(o->o_key, err)) == NULL)
		return ca_fail(EX_SOFTWARE, "%s", err);
	return 0;
}

/* Start a courier folder: it must not hold a CA yet. */
static int
ca_dir_new(const char *dir)
{
	char path[4096];
	int rc;

	if ((rc = ca_mkdir(dir, 0755)) != 0)
		return rc;
	ca_path(path, sizeof(path), dir, "ca.key");
	if ((rc = ca_fresh(path)) != 0)
		return rc;
	ca_path(path, sizeof(path), dir, "ca.crt");
	return ca_fresh(path);
}

static int
cmd_root(const struct ca_opts *o)
{
	struct pki_req rq;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rc;

	if (o->o_name == NULL || o->o_role != NULL || o->o_domain != NULL) {
		ca_usage();
		return EX_USAGE;
	}
	memset(&rq, 0, sizeof(rq));
	rq.rq_kind = PKI_KIND_COURIER_CA;
	rq.rq_role = PKI_ROLE_ROOT;
	rq.rq_cn = o->o_name;
	if ((rc = ca_dir_new(o->o_dir)) != 0 || (rc = ca_newkey(o, &key)) ||
	    (rc = ca_issue(o, &rq, NULL, key, &x)) != 0)
		goto out;
	if ((rc = ca_write_key(o->o_dir, "ca.key", key)) != 0 ||
	    (rc = ca_write_cert(o->o_dir, "ca.crt", x, NULL)) != 0 ||
	    (rc = ca_write_cert(o->o_dir, "chain.pem", x, NULL)) != 0 ||
	    (rc = ca_write_cert(o->o_dir, "root.crt", x, NULL)) != 0)
		goto out;
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static int
cmd_courier(const struct ca_opts *o)
{
	struct ca_dir up;
	struct pki_req rq;
	EVP_PKEY *key = NULL;
	X509 *x = NULL, *root;
	int rc;

	memset(&rq, 0, sizeof(rq));
	rq.rq_kind = PKI_KIND_COURIER_CA;
	rq.rq_role = pki_role_parse(o->o_role);
	rq.rq_cn = o->o_name;
	rq.rq_domain = o->o_domain;
	if (o->o_name == NULL || o->o_superior == NULL ||
	    (rq.rq_role != PKI_ROLE_PUBLIC && rq.rq_role != PKI_ROLE_PRIVATE &&
	    rq.rq_role != PKI_ROLE_GATEWAY)) {
		ca_usage();
		return EX_USAGE;
	}
	if ((rq.rq_role == PKI_ROLE_PRIVATE) != (o->o_domain != NULL))
		return ca_fail(EX_USAGE, "--domain is required for a private "
		    "courier, and only for it");
	if ((rc = ca_dir_load(o->o_superior, &up)) != 0)
		return rc;
	if ((rc = ca_dir_new(o->o_dir)) != 0 || (rc = ca_newkey(o, &key)) ||
	    (rc = ca_issue(o, &rq, &up, key, &x)) != 0 ||
	    (rc = ca_check(&up, x, NULL)) != 0)
		goto out;
	root = sk_X509_value(up.cd_chain, sk_X509_num(up.cd_chain) - 1);
	if ((rc = ca_write_key(o->o_dir, "ca.key", key)) != 0 ||
	    (rc = ca_write_cert(o->o_dir, "ca.crt", x, NULL)) != 0 ||
	    (rc = ca_write_cert(o->o_dir, "chain.pem", x,
	    up.cd_chain_pem)) != 0 ||
	    (rc = ca_write_cert(o->o_dir, "root.crt", root, NULL)) != 0)
		goto out;
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	ca_dir_free(&up);
	return rc;
}

/* Host of an https:// URL: LDH labels and dots, into host. */
static int
ca_url_host(const char *url, char *host, size_t len)
{
	const char *p;
	size_t n, i;

	if (strncmp(url, "https://", 8) != 0)
		return -1;
	p = url + 8;
	n = strcspn(p, ":/?#");
	if (n == 0 || n >= len || p[0] == '.' || p[n - 1] == '.')
		return -1;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-' &&
		    p[i] != '.')
			return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	return 0;
}

/* A mailbox local@domain usable as a folder name too. */
static int
ca_address_ok(const char *a)
{
	const char *at = strchr(a, '@');
	size_t i, n = strlen(a);

	if (n == 0 || n > TN_MAX_ADDRESS || at == NULL || at == a ||
	    strchr(at + 1, '@') != NULL || at[1] == '\0' || a[0] == '.' ||
	    at[1] == '.' || a[n - 1] == '.' || strstr(at, "..") != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)a[i] <= 0x20 || (unsigned char)a[i] >= 0x7f ||
		    a[i] == '/' || a[i] == '\\')
			return 0;
	for (i = (size_t)(at - a) + 1; i < n; i++)
		if (!isalnum((unsigned char)a[i]) && a[i] != '-' &&
		    a[i] != '.')
			return 0;
	return 1;
}

static int
cmd_element(const struct ca_opts *o)
{
	struct ca_dir cd;
	struct pki_req rq;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	char host[256], edir[4096], path[4096];
	const char *base;
	int rc;

	memset(&rq, 0, sizeof(rq));
	if ((o->o_fg == NULL) == (o->o_bg == NULL)) {
		ca_usage();
		return EX_USAGE;
	}
	if (o->o_fg != NULL) {
		if (!ca_address_ok(o->o_fg))
			return ca_fail(EX_USAGE, "bad mailbox: %s", o->o_fg);
		rq.rq_kind = PKI_KIND_FG;
		rq.rq_cn = rq.rq_email = o->o_fg;
		base = "fg";
	} else {
		if (ca_url_host(o->o_bg, host, sizeof(host)) == -1)
			return ca_fail(EX_USAGE, "bad URL (want https://host"
			    "[:port][/path]): %s", o->o_bg);
		rq.rq_kind = PKI_KIND_BG;
		rq.rq_cn = rq.rq_dns = host;
		rq.rq_uri = o->o_bg;
		base = "bg";
	}
	ca_path(edir, sizeof(edir), o->o_dir, "elements");
	if (snprintf(path, sizeof(path), "%s/%s.key", edir, base) >=
	    (int)sizeof(path))
		return ca_fail(EX_USAGE, "%s: path too long", edir);
	if ((rc = ca_dir_load(o->o_dir, &cd)) != 0)
		return rc;
	if ((rc = ca_fresh(path)) != 0 || (rc = ca_newkey(o, &key)) != 0 ||
	    (rc = ca_issue(o, &rq, &cd, key, &x)) != 0 ||
	    (rc = ca_check(&cd, x, rq.rq_email)) != 0 ||
	    (rc = ca_mkdir(edir, 0755)) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s.key", base);
	if ((rc = ca_write_key(edir, path, key)) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s.crt", base);
	rc = ca_write_cert(edir, path, x, NULL);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	ca_dir_free(&cd);
	return rc;
}

/* The agent's public key from its CSR, whose signature must hold. */
static int
ca_csr_key(const char *path, EVP_PKEY **key)
{
	unsigned char *buf = NULL;
	X509_REQ *req = NULL;
	BIO *bio = NULL;
	char err[TN_ERRLEN];
	size_t len;
	int rc;

	*key = NULL;
	if ((rc = ca_need(path)) != 0)
		return rc;
	rc = EX_DATAERR;
	if (util_read_file(path, CA_MAX_PEM, &buf, &len, err) == -1) {
		ca_fail(rc, "%s", err);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)) == NULL ||
	    (*key = X509_REQ_get_pubkey(req)) == NULL) {
		tn_err_ssl(err, "not a PEM certificate request");
		ca_fail(rc, "%s: %s", path, err);
		goto out;
	}
	if (X509_REQ_verify(req, *key) != 1) {
		ERR_clear_error();
		ca_fail(rc, "%s: request signature does not verify", path);
		EVP_PKEY_free(*key);
		*key = NULL;
		goto out;
	}
	rc = 0;
out:
	X509_REQ_free(req);
	BIO_free(bio);
	free(buf);
	return rc;
}

static int
ca_account_issue(const struct ca_opts *o, const struct ca_dir *cd,
    enum pki_kind kind, EVP_PKEY *key, X509 **x)
{
	struct pki_req rq;
	int rc;

	memset(&rq, 0, sizeof(rq));
	rq.rq_kind = kind;
	rq.rq_cn = rq.rq_email = o->o_address;
	if ((rc = ca_issue(o, &rq, cd, key, x)) != 0)
		return rc;
	return ca_check(cd, *x, o->o_address);
}

static int
cmd_account(const struct ca_opts *o)
{
	struct ca_dir cd;
	EVP_PKEY *ckey = NULL, *akey = NULL;
	X509 *cx = NULL, *ax = NULL;
	char adir[4096], path[4096];
	int rc;

	if (o->o_address == NULL || o->o_csr == NULL) {
		ca_usage();
		return EX_USAGE;
	}
	if (!ca_address_ok(o->o_address))
		return ca_fail(EX_USAGE, "bad address: %s", o->o_address);
	if (snprintf(adir, sizeof(adir), "%s/accounts/%s", o->o_dir,
	    o->o_address) >= (int)sizeof(adir))
		return ca_fail(EX_USAGE, "%s: path too long", o->o_dir);
	ca_path(path, sizeof(path), adir, "courier.key");
	memset(&cd, 0, sizeof(cd));
	if ((rc = ca_fresh(path)) != 0 ||
	    (rc = ca_csr_key(o->o_csr, &akey)) != 0 ||
	    (rc = ca_dir_load(o->o_dir, &cd)) != 0)
		goto out;
	if ((rc = ca_newkey(o, &ckey)) != 0 ||
	    (rc = ca_account_issue(o, &cd, PKI_KIND_COURIER_END, ckey,
	    &cx)) != 0 ||
	    (rc = ca_account_issue(o, &cd, PKI_KIND_AGENT, akey, &ax)) != 0)
		goto out;
	ca_path(path, sizeof(path), o->o_dir, "accounts");
	if ((rc = ca_mkdir(path, 0755)) != 0 ||
	    (rc = ca_mkdir(adir, 0700)) != 0 ||
	    (rc = ca_write_key(adir, "courier.key", ckey)) != 0 ||
	    (rc = ca_write_cert(adir, "courier.crt", cx, NULL)) != 0 ||
	    (rc = ca_write_cert(adir, "agent.crt", ax, NULL)) != 0)
		goto out;
	rc = 0;
out:
	X509_free(cx);
	X509_free(ax);
	EVP_PKEY_free(ckey);
	EVP_PKEY_free(akey);
	ca_dir_free(&cd);
	return rc;
}

/*
 * The courier's issuing CA in DIR/issuing/: issuing.key (0600),
 * issuing.crt, and chain.pem (issuing.crt, then the courier's chain).
 */
static int
cmd_issuing(const struct ca_opts *o)
{
	struct ca_dir cd;
	struct pki_req rq;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	char idir[4096], path[4096], cn[256];
	int rc;

	if (o->o_ndomains == 0 || o->o_name != NULL || o->o_role != NULL) {
		ca_usage();
		return EX_USAGE;
	}
	ca_path(idir, sizeof(idir), o->o_dir, "issuing");
	ca_path(path, sizeof(path), idir, "issuing.key");
	if ((rc = ca_fresh(path)) != 0 || (rc = ca_dir_load(o->o_dir, &cd)))
		return rc;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cd.cd_cert),
	    NID_commonName, cn, sizeof(cn)) <= 0) {
		rc = ca_fail(EX_DATAERR, "%s/ca.crt: no common name", o->o_dir);
		goto out;
	}
	if (X509_get_pathlen(cd.cd_cert) == 0) {
		rc = ca_fail(EX_NOPERM, "%s/ca.crt: path length 0 leaves no "
		    "room for an issuing CA; the superior must reissue it "
		    "(private couriers now get path length 1)", o->o_dir);
		goto out;
	}
	memset(&rq, 0, sizeof(rq));
	rq.rq_kind = PKI_KIND_ISSUING;
	rq.rq_cn = cn;
	rq.rq_domains = o->o_domains;
	if ((rc = ca_newkey(o, &key)) != 0 ||
	    (rc = ca_issue(o, &rq, &cd, key, &x)) != 0 ||
	    (rc = ca_check(&cd, x, NULL)) != 0 ||
	    (rc = ca_mkdir(idir, 0700)) != 0 ||
	    (rc = ca_write_key(idir, "issuing.key", key)) != 0 ||
	    (rc = ca_write_cert(idir, "issuing.crt", x, NULL)) != 0 ||
	    (rc = ca_write_cert(idir, "chain.pem", x, cd.cd_chain_pem)) != 0)
		goto out;
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	ca_dir_free(&cd);
	return rc;
}

static int
cmd_verify(const struct ca_opts *o)
{
	struct pki_trust *tr = NULL;
	STACK_OF(X509) *chain = NULL;
	X509 *x = NULL;
	enum pki_fail why;
	char anchor[4096], cpath[4096], err[TN_ERRLEN];
	const char *chainp = o->o_chain;
	int rc;

	if (o->o_cert == NULL || (o->o_dir == NULL) == (o->o_anchor == NULL)) {
		ca_usage();
		return EX_USAGE;
	}
	if (o->o_dir != NULL) {
		ca_path(anchor, sizeof(anchor), o->o_dir, "root.crt");
		ca_path(cpath, sizeof(cpath), o->o_dir, "chain.pem");
		if (chainp == NULL)
			chainp = cpath;
	} else
		snprintf(anchor, sizeof(anchor), "%s", o->o_anchor);
	if ((rc = ca_need(anchor)) != 0 || (rc = ca_need(o->o_cert)) != 0 ||
	    (chainp != NULL && (rc = ca_need(chainp)) != 0))
		return rc;
	rc = EX_DATAERR;
	if ((tr = pki_trust_load(anchor, err)) == NULL ||
	    (x = pki_load_cert(o->o_cert, err)) == NULL ||
	    (chainp != NULL && (chain = pki_load_certs(chainp, err)) == NULL)) {
		ca_fail(rc, "%s", err);
		goto out;
	}
	if (pki_verify_why(tr, x, chain, o->o_email, &why, err) == -1) {
		rc = (int)why;
		ca_fail(rc, "%s: %s", o->o_cert, err);
		goto out;
	}
	printf("ok\n");
	rc = 0;
out:
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	pki_trust_free(tr);
	return rc;
}

static int
ca_opts_parse(int argc, char **argv, struct ca_opts *o)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "key", required_argument, NULL, 'k' },
		{ "days", required_argument, NULL, 'D' },
		{ "role", required_argument, NULL, 'r' },
		{ "superior", required_argument, NULL, 's' },
		{ "domain", required_argument, NULL, 'm' },
		{ "fg", required_argument, NULL, 'f' },
		{ "bg", required_argument, NULL, 'b' },
		{ "address", required_argument, NULL, 'a' },
		{ "csr", required_argument, NULL, 'c' },
		{ "anchor", required_argument, NULL, 'A' },
		{ "chain", required_argument, NULL, 'C' },
		{ "email", required_argument, NULL, 'e' },
		{ "reason", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	const char **slot;
	char *end;
	long days;
	int ch;

	while ((ch = getopt_long(argc, argv, "d:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (strcmp(optarg, "ec") == 0)
				o->o_key = PKI_KEY_EC;
			else if (strcmp(optarg, "rsa") == 0)
				o->o_key = PKI_KEY_RSA;
			else
				return ca_fail(EX_USAGE, "--key: ec or rsa");
			continue;
		case 'D':
			errno = 0;
			days = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || days < 1 ||
			    days > 36500)
				return ca_fail(EX_USAGE, "--days: 1 to 36500");
			o->o_days = (int)days;
			continue;
		case 'd': slot = &o->o_dir; break;
		case 'n': slot = &o->o_name; break;
		case 'r': slot = &o->o_role; break;
		case 's': slot = &o->o_superior; break;
		case 'm':
			if (o->o_ndomains >= CA_MAX_DOMAINS)
				return ca_fail(EX_USAGE, "--domain: at most "
				    "%d", CA_MAX_DOMAINS);
			o->o_domains[o->o_ndomains++] = optarg;
			if (o->o_domain != NULL)
				continue;
			slot = &o->o_domain;
			break;
		case 'f': slot = &o->o_fg; break;
		case 'b': slot = &o->o_bg; break;
		case 'a': slot = &o->o_address; break;
		case 'c': slot = &o->o_csr; break;
		case 'A': slot = &o->o_anchor; break;
		case 'C': slot = &o->o_chain; break;
		case 'e': slot = &o->o_email; break;
		case 'R': slot = &o->o_reason; break;
		default:
			ca_usage();
			return EX_USAGE;
		}
		if (*slot != NULL)
			return ca_fail(EX_USAGE, "option given twice");
		*slot = optarg;
	}
	if (optind < argc)
		o->o_cert = argv[optind++];
	if (optind < argc) {
		ca_usage();
		return EX_USAGE;
	}
	return 0;
}

/*
 * The CA that signs DIR/crl.pem: ca.crt and ca.key of a root or
 * courier folder, or issuing.crt and issuing.key of an issuing folder
 * (DIR/issuing on the foreground host: the agents it certified).
 */
static int
ca_signer_load(const char *dir, X509 **cert, EVP_PKEY **key)
{
	struct ca_dir cd;
	char path[2][4096], err[TN_ERRLEN];
	int rc;

	*cert = NULL;
	*key = NULL;
	ca_path(path[0], sizeof(path[0]), dir, "issuing.key");
	ca_path(path[1], sizeof(path[1]), dir, "ca.key");
	if (access(path[0], F_OK) == -1 || access(path[1], F_OK) == 0) {
		if ((rc = ca_dir_load(dir, &cd)) != 0)
			return rc;
		*cert = cd.cd_cert;
		*key = cd.cd_key;
		cd.cd_cert = NULL;
		cd.cd_key = NULL;
		ca_dir_free(&cd);
		return 0;
	}
	ca_path(path[1], sizeof(path[1]), dir, "issuing.crt");
	if ((rc = ca_need(path[0])) != 0 || (rc = ca_need(path[1])) != 0)
		return rc;
	if ((*key = pki_load_key(path[0], NULL, err)) == NULL ||
	    (*cert = pki_load_cert(path[1], err)) == NULL) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return ca_fail(EX_DATAERR, "%s", err);
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		ERR_clear_error();
		X509_free(*cert);
		EVP_PKEY_free(*key);
		*cert = NULL;
		*key = NULL;
		return ca_fail(EX_DATAERR, "%s: key does not match %s",
		    path[0], path[1]);
	}
	return 0;
}

/*
 * DIR/crl.pem signed again, with cert (the CA of DIR issued it) added
 * for reason unless it is listed already; what it did on standard
 * output.
 */
static int
ca_crl(const struct ca_opts *o, X509 *cert, int reason)
{
	X509 *ca;
	EVP_PKEY *key;
	X509_CRL *old = NULL, *crl = NULL;
	char path[4096], *pem = NULL, err[TN_ERRLEN];
	size_t len;
	int rc, listed;

	if ((rc = ca_signer_load(o->o_dir, &ca, &key)) != 0)
		return rc;
	ca_path(path, sizeof(path), o->o_dir, "crl.pem");
	rc = EX_DATAERR;
	if (access(path, F_OK) == 0 && (old = crl_load(path, err)) == NULL) {
		ca_fail(rc, "%s", err);
		goto out;
	}
	if (crl_sign(ca, key, old, cert, reason, o->o_days,
	    &crl, &listed, err) == -1 || crl_pem(crl, &pem, &len, err) == -1) {
		ca_fail(rc, "%s: %s", cert != NULL ? o->o_cert : path, err);
		goto out;
	}
	rc = EX_CANTCREAT;
	if (util_write_file(path, pem, len, 0644, 0, err) == -1) {
		ca_fail(rc, "%s", err);
		goto out;
	}
	if (cert != NULL)
		printf("%s: %s\n", o->o_cert, listed ? "revoked already" :
		    "revoked");
	printf("%s: %d revoked, next update in %d days\n", path,
	    sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), o->o_days);
	rc = 0;
out:
	free(pem);
	X509_CRL_free(crl);
	X509_CRL_free(old);
	X509_free(ca);
	EVP_PKEY_free(key);
	return rc;
}

static int
cmd_revoke(const struct ca_opts *o)
{
	X509 *x;
	char err[TN_ERRLEN];
	int rc, reason = CRL_REASON_UNSPECIFIED;

	if (o->o_cert == NULL) {
		ca_usage();
		return EX_USAGE;
	}
	if (o->o_reason != NULL &&
	    (reason = crl_reason_parse(o->o_reason)) == -2)
		return ca_fail(EX_USAGE, "--reason: one of unspecified, "
		    "keyCompromise, CACompromise, affiliationChanged, "
		    "superseded, cessationOfOperation");
	if ((rc = ca_need(o->o_cert)) != 0)
		return rc;
	if ((x = pki_load_cert(o->o_cert, err)) == NULL)
		return ca_fail(EX_DATAERR, "%s", err);
	rc = ca_crl(o, x, reason);
	X509_free(x);
	return rc;
}

static int
cmd_crl(const struct ca_opts *o)
{
	if (o->o_reason != NULL) {
		ca_usage();
		return EX_USAGE;
	}
	return ca_crl(o, NULL, CRL_REASON_NONE);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct ca_opts *);
		int days;
	} cmds[] = {
		{ "root", cmd_root, 7300 },
		{ "courier", cmd_courier, 3650 },
		{ "element", cmd_element, 730 },
		{ "account", cmd_account, 365 },
		{ "issuing", cmd_issuing, 730 },
		{ "verify", cmd_verify, 0 },
		{ "revoke", cmd_revoke, 7 },
		{ "crl", cmd_crl, 7 },
	};
	struct ca_opts o;
	size_t i;
	int rc;

	memset(&o, 0, sizeof(o));
	for (i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			break;
	if (argc < 2 || i == sizeof(cmds) / sizeof(cmds[0])) {
		ca_usage();
		return EX_USAGE;
	}
	if ((rc = ca_opts_parse(argc - 1, argv + 1, &o)) != 0)
		return rc;
	if (o.o_ndomains > 1 && cmds[i].fn != cmd_issuing)
		return ca_fail(EX_USAGE, "option given twice");
	if ((o.o_dir != NULL && strlen(o.o_dir) > CA_MAX_DIR) ||
	    (o.o_superior != NULL && strlen(o.o_superior) > CA_MAX_DIR) ||
	    (o.o_anchor != NULL && strlen(o.o_anchor) > CA_MAX_DIR))
		return ca_fail(EX_USAGE, "path too long");
	if (o.o_days == 0)
		o.o_days = cmds[i].days;
	if (cmds[i].fn != cmd_verify && cmds[i].fn != cmd_revoke &&
	    (o.o_dir == NULL || o.o_cert != NULL)) {
		ca_usage();
		return EX_USAGE;
	}
	return cmds[i].fn(&o);
}
