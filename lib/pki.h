/*
 * NAME
 *	pki.h - certificates, keys and verification to the root
 * SYNOPSIS
 *	#include "pki.h"
 *
 *	struct pki_trust *pki_trust_load(const char *path, char *err);
 *	void	pki_trust_free(struct pki_trust *tr);
 *	int	pki_trust_crls(struct pki_trust *tr, const char *path,
 *		    int accept, char *err);
 *	void	pki_trust_say(struct pki_trust *tr,
 *		    void (*say)(const char *, ...));
 *	int	pki_crl_watch(struct pki_crl_watch *w,
 *		    const struct pki_trust *tr, const char *path, int accept,
 *		    time_t now, void (*say)(const char *, ...));
 *	int	pki_revoked(X509_STORE_CTX *ctx, char *err);
 *	X509_STORE *pki_trust_store(const struct pki_trust *tr);
 *	int	pki_verify(const struct pki_trust *tr, X509 *leaf,
 *		    STACK_OF(X509) *chain, const char *email, char *err);
 *	int	pki_verify_why(const struct pki_trust *tr, X509 *leaf,
 *		    STACK_OF(X509) *chain, const char *email,
 *		    enum pki_fail *why, char *err);
 *
 *	SSL_CTX	*pki_tls_ctx(int server, X509 *cert, EVP_PKEY *key,
 *		    STACK_OF(X509) *chain, const char *name, char *err);
 *
 *	X509	*pki_load_cert(const char *path, char *err);
 *	STACK_OF(X509) *pki_load_certs(const char *path, char *err);
 *	EVP_PKEY *pki_load_key(const char *path, const char *pass,
 *		    char *err);
 *	X509	*pki_parse_cert(const char *pem, size_t len, char *err);
 *	STACK_OF(X509) *pki_parse_certs(const char *pem, size_t len,
 *		    char *err);
 *	EVP_PKEY *pki_parse_key(const char *pem, size_t len,
 *		    const char *pass, char *err);
 *
 *	EVP_PKEY *pki_key_generate(enum pki_keytype type, char *err);
 *	int	pki_key_pem(EVP_PKEY *key, const char *pass, char **out,
 *		    size_t *outlen, char *err);
 *	int	pki_cert_pem(X509 *cert, char **out, size_t *outlen,
 *		    char *err);
 *
 *	enum pki_role pki_cert_role(X509 *cert);
 *	enum pki_kind pki_cert_kind(X509 *cert);
 *	char	*pki_cert_email(X509 *cert);
 *	char	*pki_cert_uri(X509 *cert);
 *	char	*pki_cert_dns(X509 *cert);
 *	int	pki_narrow(const X509 *cert, time_t *from, time_t *until);
 *	int	pki_store_narrow(X509_STORE *store, time_t *from,
 *		    time_t *until);
 *	int	pki_key_id(X509 *cert, char out[PKI_KEYIDLEN + 1]);
 *	X509	*pki_courier_ca(X509 *cert, STACK_OF(X509) *certs);
 *	const char *pki_role_name(enum pki_role role);
 *	enum pki_role pki_role_parse(const char *name);
 *	const char *pki_kind_name(enum pki_kind kind);
 *
 *	int	pki_issue(const struct pki_req *req, X509 **out, char *err);
 *
 *	int	pki_expiry_check(const struct conf *cf, const char *ca_dir,
 *		    time_t now, void (*say)(const char *, ...));
 * DESCRIPTION
 *	The certificate hierarchy of doc/pki.md: one root courier, courier
 *	CA certificates each signed by exactly one superior, and under each
 *	courier its element, courier-end and agent certificates. The role
 *	of a courier and the kind of every certificate are policy OIDs in
 *	certificatePolicies (PKI_OID_* below).
 *
 *	pki_trust_load() reads the configured trust anchors (PEM, one or
 *	more root certificates); never fetched. The result should be
 *	passed to pki_trust_free(). pki_trust_crls() adds the revocation
 *	lists (X.509 CRLs in PEM, any number, one per CA) of the file path
 *	(tls.crl_file) to tr: from then on every certificate of a chain,
 *	the root's included, is checked against its CA's list, by
 *	pki_verify() and by CMS_verify() on pki_trust_store(). A CA whose
 *	list is not in the file, or is past its next update, fails the
 *	chain (PKI_FAIL_CRL), unless accept (tls.crl_missing = accept); a
 *	listed certificate always does (PKI_FAIL_REVOKED, "certificate
 *	SERIAL (NAME) of CA NAME is revoked: REASON"). 0, or -1 with the
 *	reason in err (a file with no CRL in it is one).
 *
 *	pki_trust_say() gives tr a function (a daemon's log_warn()) to
 *	say, with tls.crl_missing = accept, that a chain was taken
 *	though its CA has no list in the file ("crl status=missing", the
 *	CA named), once an hour per CA from any thread; without it (the
 *	tools) nothing is said. tr keeps path (tls.crl_file) to name it.
 *
 *	pki_crl_watch() is what a daemon calls every tls.crl_refresh, w
 *	zeroed at first and kept between calls, with the path and accept
 *	of tr's pki_trust_crls(). It says (with say) which lists of tr are
 *	past their next update ("crl status=stale", a line for each, with
 *	the CA, the date and what chains through it get) and when the file
 *	cannot be looked at ("crl status=unreadable"), each once an hour
 *	at most.
 *	It returns 1 when the file is no longer the one tr read (another
 *	inode, size or modification time) and was not found so before:
 *	the daemon should read its lists again (a file it could not read
 *	is tried again only once it changes again); else 0. A tr without
 *	lists gives 0. pki_revoked(),
 *	after X509_verify_cert() failed on ctx: 1 and that message in err
 *	when the reason is a listed certificate, else 0.
 *
 *	pki_trust_store() gives the X509_STORE for CMS_verify(), owned by
 *	the trust object (CMS_verify() checks the chain but not the Tandem
 *	role rules: call pki_verify() on the signer too).
 *
 *	pki_verify() checks leaf to a trust anchor with OpenSSL's
 *	verifier (purpose S/MIME signing, which accepts Tandem's EC
 *	certificates with keyAgreement; name constraints enforced) and the
 *	Tandem role rules: the anchor has role root; every courier CA in
 *	the path carries exactly one role and the courier CA kind; a
 *	courier CA is signed only by root, public or gateway; a private
 *	courier CA carries critical name constraints covering both
 *	rfc822Name and dNSName; a leaf carries exactly one kind and only
 *	rfc822Name, dNSName and URI names. An issuing CA (PKI_KIND_ISSUING)
 *	sits only directly above a leaf, is signed by a courier CA, has
 *	path length 0 and critical rfc822Name and dNSName constraints, and
 *	signs only agent and courier-end certificates. chain holds untrusted
 *	intermediates (may be NULL); neither leaf nor chain is taken
 *	over. With email non-NULL the leaf must carry that address as an
 *	rfc822Name subjectAltName (domain compared without case). Returns
 *	0, or -1 with the reason in err. pki_verify_why() does the same
 *	and, on failure, stores the class of failure in *why (may be
 *	NULL).
 *
 *	pki_load_cert() reads the first certificate of a PEM file;
 *	pki_load_certs() all of them (at least one). pki_load_key() reads
 *	a PEM private key, PKCS#8 encrypted with pass, or plain when pass
 *	is NULL (an encrypted key with pass NULL is an error, never a
 *	prompt). The pki_parse_*() functions do the same from memory.
 *	Results should be passed to X509_free(),
 *	OSSL_STACK_OF_X509_free() (sk_X509_pop_free(sk, X509_free)) and
 *	EVP_PKEY_free().
 *
 *	pki_key_generate() makes a new key: EC P-256 (PKI_KEY_EC, the
 *	default) or RSA-3072 (PKI_KEY_RSA). pki_key_pem() writes it as
 *	PKCS#8 PEM, encrypted with AES-256-CBC under pass unless pass is
 *	NULL; pki_cert_pem() writes a certificate as PEM. *out is
 *	NUL-terminated and should be passed to free() (keys: after
 *	OPENSSL_cleanse() if the caller cares).
 *
 *	pki_cert_role() and pki_cert_kind() read the role and kind OIDs;
 *	PKI_ROLE_NONE / PKI_KIND_NONE when absent or ambiguous.
 *	pki_cert_email(), pki_cert_uri() and pki_cert_dns() return a copy
 *	of the first subjectAltName of that type, to be passed to free(),
 *	or NULL when there is none. pki_role_name() and pki_kind_name()
 *	return static strings ("root", "courier-ca", ...);
 *	pki_role_parse() the reverse, PKI_ROLE_NONE if unknown.
 *	pki_key_id() writes the SHA-256 of cert's SubjectPublicKeyInfo in
 *	lower-case hex: what identifies a courier (its CA's key), whatever
 *	name it carries; 0 or -1.
 *
 *	pki_courier_ca() answers "which courier issued cert": the courier
 *	CA certificate among certs whose key signed cert, or, when an
 *	issuing CA of certs signed it, the courier CA whose key signed
 *	that issuing CA. Signatures are checked, names only select
 *	candidates. The result is borrowed from certs (not up-ref'd);
 *	NULL when certs holds no such courier CA. It does not verify to
 *	the root: call pki_verify() first.
 *
 *	pki_narrow() narrows [*from, *until) to the validity period of
 *	cert: 0, or -1 when its dates cannot be read.
 *	pki_store_narrow() does the same for every anchor of store and
 *	every revocation list in it (from its last to its next update):
 *	the span in which a chain checked against store keeps its answer.
 *
 *	pki_issue() builds and signs one certificate from req (see struct
 *	pki_req): random 128-bit serial, SHA-256 (RSA: PSS), the key usages
 *	of doc/pki.md for its kind, and for a private courier CA the name
 *	constraints of its domain. With issuer_cert NULL the certificate is
 *	self-signed by issuer_key (the root). *out should be passed to
 *	X509_free(). pki_issue() does not check the result to the root:
 *	callers run pki_verify() before they hand it out.
 *	pki_tls_ctx() makes a TLS context (TLS 1.2 or later) that
 *	presents cert, key (checked against cert) and chain (may be NULL)
 *	as a server's (server 1) or a client's (0); the caller sets how
 *	it verifies the other end. NULL on failure, err naming name.
 *
 *
 *	pki_expiry_check() reads cf's tls.cert, every certificate of its
 *	tls.chain and, when ca_dir is not NULL, ca_dir/issuing.crt if
 *	there is one (the milter's issuing CA), and calls say() once for
 *	each that expires before now + tls.expiry_warning (or has
 *	expired), and once for each file it cannot read, with a
 *	key=value line (status=expiring|expired|unreadable, file,
 *	subject, not_after, days_left). The daemons pass log_warn() at
 *	start and once a day; tandemctl status a printer. Returns how
 *	many certificates expire so.
 * DIAGNOSTICS
 *	All functions returning int give 0 or -1; pointer results are
 *	NULL on failure. err gets a one-line reason.
 */
#ifndef TANDEM_PKI_H
#define TANDEM_PKI_H

#include <sys/stat.h>

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct conf;

/* 2.25.<UUID 52bfc128-b2a3-422d-9b08-f4cd4cd85aa1 as a decimal> */
#define PKI_OID_ARC	"2.25.109992342083808958172386236843414805153"
#define PKI_OID_KIND	PKI_OID_ARC ".1"	/* .1 .. .6: enum pki_kind */
#define PKI_OID_ROLE	PKI_OID_ARC ".2"	/* .1 .. .4: enum pki_role */

enum pki_role {
	PKI_ROLE_NONE = 0,
	PKI_ROLE_ROOT,
	PKI_ROLE_PUBLIC,
	PKI_ROLE_PRIVATE,
	PKI_ROLE_GATEWAY
};

enum pki_kind {
	PKI_KIND_NONE = 0,
	PKI_KIND_COURIER_CA,
	PKI_KIND_FG,		/* foreground element */
	PKI_KIND_BG,		/* background element, also TLS */
	PKI_KIND_COURIER_END,	/* per account, held by FG and BG */
	PKI_KIND_AGENT,
	PKI_KIND_ISSUING	/* a courier's issuing CA (the milter's) */
};

enum pki_keytype {
	PKI_KEY_EC = 0,		/* P-256 */
	PKI_KEY_RSA		/* 3072 bits */
};

/* Why a verification failed; tandem-ca verify exits with these. */
enum pki_fail {
	PKI_FAIL_NONE = 0,
	PKI_FAIL_UNTRUSTED,	/* no path to a trust anchor */
	PKI_FAIL_SIGNATURE,	/* a signature does not verify */
	PKI_FAIL_TIME,		/* expired or not yet valid */
	PKI_FAIL_NAME,		/* name constraints */
	PKI_FAIL_ROLE,		/* Tandem role and kind rules */
	PKI_FAIL_EMAIL,		/* the address is not the leaf's */
	PKI_FAIL_PURPOSE,	/* key usage, basic constraints, path length */
	PKI_FAIL_REVOKED,	/* listed in its CA's revocation list */
	PKI_FAIL_CRL,		/* a CA's list missing, old or bad */
	PKI_FAIL_OTHER
};

/* What pki_issue() makes. Pointers are borrowed. */
struct pki_req {
	enum pki_kind	 rq_kind;
	enum pki_role	 rq_role;	/* courier CA only */
	const char	*rq_cn;		/* subject commonName */
	const char	*rq_email;	/* rfc822Name SAN, or NULL */
	const char	*rq_dns;	/* dNSName SAN, or NULL */
	const char	*rq_uri;	/* URI SAN, or NULL */
	const char	*rq_domain;	/* private courier CA: constraints */
	const char *const *rq_domains;	/* issuing CA: constraints, NULL-ended */
	int		 rq_days;	/* validity from now */
	EVP_PKEY	*rq_pubkey;	/* the subject's key */
	X509		*rq_issuer_cert;	/* NULL: self-signed */
	EVP_PKEY	*rq_issuer_key;
};

#define PKI_KEYIDLEN	64	/* hex SHA-256 of a SubjectPublicKeyInfo */

struct pki_trust;

/* What pki_crl_watch() remembers between its calls; zeroed at first. */
struct pki_crl_watch {
	struct stat	 cw_tried;	/* the file last found changed */
	int		 cw_tried_set;
	time_t		 cw_stale_said;
	time_t		 cw_error_said;
};

#define PKI_CRL_RESAY	3600	/* a stale or unreadable list: said again */

struct pki_trust *pki_trust_load(const char *, char *);
void	pki_trust_free(struct pki_trust *);
int	pki_trust_crls(struct pki_trust *, const char *, int, char *);
void	pki_trust_say(struct pki_trust *, void (*)(const char *, ...));
int	pki_crl_watch(struct pki_crl_watch *, const struct pki_trust *,
	    const char *, int, time_t, void (*)(const char *, ...));
int	pki_revoked(X509_STORE_CTX *, char *);
X509_STORE *pki_trust_store(const struct pki_trust *);
int	pki_verify(const struct pki_trust *, X509 *, STACK_OF(X509) *,
	    const char *, char *);
int	pki_verify_why(const struct pki_trust *, X509 *, STACK_OF(X509) *,
	    const char *, enum pki_fail *, char *);

SSL_CTX	*pki_tls_ctx(int, X509 *, EVP_PKEY *, STACK_OF(X509) *, const char *,
	    char *);

X509	*pki_load_cert(const char *, char *);
STACK_OF(X509) *pki_load_certs(const char *, char *);
EVP_PKEY *pki_load_key(const char *, const char *, char *);
X509	*pki_parse_cert(const char *, size_t, char *);
STACK_OF(X509) *pki_parse_certs(const char *, size_t, char *);
EVP_PKEY *pki_parse_key(const char *, size_t, const char *, char *);

EVP_PKEY *pki_key_generate(enum pki_keytype, char *);
int	pki_key_pem(EVP_PKEY *, const char *, char **, size_t *, char *);
int	pki_cert_pem(X509 *, char **, size_t *, char *);

enum pki_role pki_cert_role(X509 *);
enum pki_kind pki_cert_kind(X509 *);
char	*pki_cert_email(X509 *);
char	*pki_cert_uri(X509 *);
char	*pki_cert_dns(X509 *);
int	pki_narrow(const X509 *, time_t *, time_t *);
int	pki_store_narrow(X509_STORE *, time_t *, time_t *);
int	pki_key_id(X509 *, char *);
X509	*pki_courier_ca(X509 *, STACK_OF(X509) *);
const char *pki_role_name(enum pki_role);
enum pki_role pki_role_parse(const char *);
const char *pki_kind_name(enum pki_kind);

int	pki_issue(const struct pki_req *, X509 **, char *);
int	pki_expiry_check(const struct conf *, const char *, time_t,
	    void (*)(const char *, ...));

#endif
