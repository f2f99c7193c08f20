/*
 * NAME
 *	ca.c - the CA process of tandem-milter
 * DESCRIPTION
 *	ca_start() forks, before any thread exists, a process that alone
 *	reads the courier's issuing CA (foreground.ca_dir/issuing.key and
 *	issuing.crt, made by "tandem-ca issuing"; never the courier CA
 *	key, which stays with tandem-ca) and answers over a socketpair.
 *	Before it forks it refuses a ca_dir holding ca.key and an
 *	issuing.key that is not a regular file of mode 0600 or stricter.
 *	Started as root, the process becomes foreground.ca_user once it
 *	has read the key. Every message is a 4-byte length then the
 *	bytes. First the process says "0" and its issuing certificate
 *	(PEM), or "1" and why it cannot issue; ca_start() waits for it,
 *	checks that the milter's chain carries that certificate, and
 *	fails with the reason, or gives that certificate to the caller
 *	(ca_in_chain() finds it in the chain of a reload). The process
 *	keeps the trust anchors and chain of the start: a reload of the
 *	milter does not reach it. Then a request is "ADDRESS\0CSR-PEM"; the
 *	answer is "0" and "COURIER-KEY\0COURIER-CERT\0AGENT-CERT"; or "1"
 *	and a reason: refused, the same request would be refused again;
 *	or "2" and a reason: a failure of the moment (memory, randomness,
 *	OpenSSL) worth a retry. Each certificate is checked with
 *	pki_verify() (to the trust anchors, with the issuing CA and the
 *	courier's chain, for the address and of the expected kind) before
 *	it is handed out; one that fails is refused with the verifier's
 *	reason (an address outside the issuing CA's name constraints).
 *	The process ends when the milter closes its end.
 *
 *	ca_unreadable() is for the milter once it has dropped to its own
 *	user (foreground.user): -1 (err naming the file) if it can still
 *	read the key.
 *
 *	ca_issue() returns 0; 1 when the CA refused, with its reason in
 *	err (the registration gets a permanent error); -1 when it could
 *	not answer or failed for the moment, err "CA: ..." or about the
 *	process (a tempfail).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "milter.h"
#include "proto.h"
#include "tandem.h"

#define CA_MAX		(64 * 1024)
#define CA_DAYS		365

static int
ca_io(int fd, void *buf, size_t len, int wr)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = wr ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
ca_send(int fd, const char *buf, size_t len)
{
	uint32_t n = (uint32_t)len;

	return ca_io(fd, &n, sizeof(n), 1) == -1 ? -1 :
	    ca_io(fd, (void *)buf, len, 1);
}

/* A NUL-terminated message; *buf should be passed to free(). */
static int
ca_recv(int fd, char **buf, size_t *len)
{
	uint32_t n;

	*buf = NULL;
	if (ca_io(fd, &n, sizeof(n), 0) == -1 || n == 0 || n > CA_MAX ||
	    (*buf = calloc(1, (size_t)n + 1)) == NULL)
		return -1;
	if (ca_io(fd, *buf, n, 0) == -1) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	*len = n;
	return 0;
}

/* What the CA process needs to check what it issues; borrowed. */
struct ca_check {
	const struct pki_trust	*ck_trust;
	STACK_OF(X509)		*ck_chain;	/* up from issuing */
	const char		*ck_dir;
	const struct passwd	*ck_pw;		/* NULL: stay */
};

/* A certificate for address, checked; NULL with *refused set if not. */
static X509 *
ca_one(enum pki_kind kind, const char *address, EVP_PKEY *pub,
    X509 *cacert, EVP_PKEY *cakey, const struct ca_check *ck, int *refused,
    char *err)
{
	struct pki_req rq;
	X509 *x = NULL;
	char why[TN_ERRLEN];

	memset(&rq, 0, sizeof(rq));
	rq.rq_kind = kind;
	rq.rq_cn = address;
	rq.rq_email = address;
	rq.rq_days = CA_DAYS;
	rq.rq_pubkey = pub;
	rq.rq_issuer_cert = cacert;
	rq.rq_issuer_key = cakey;
	if (pki_issue(&rq, &x, err) == -1)
		return NULL;
	if (pki_verify(ck->ck_trust, x, ck->ck_chain, address, why) == -1 ||
	    pki_cert_kind(x) != kind) {
		tn_err(err, "issued %s certificate does not verify: %s",
		    pki_kind_name(kind), pki_cert_kind(x) != kind ?
		    "wrong kind" : why);
		*refused = 1;
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Issue for one request; the answer in a malloc'ed buffer. */
static char *
ca_answer(const char *req, size_t reqlen, X509 *cacert, EVP_PKEY *cakey,
    const struct ca_check *ck, size_t *outlen)
{
	const char *addr = req, *csr = req + strlen(req) + 1;
	X509_REQ *xr = NULL;
	EVP_PKEY *ckey = NULL, *apub;
	X509 *cc = NULL, *ac = NULL;
	BIO *bio = NULL;
	char *k = NULL, *c = NULL, *a = NULL, *out = NULL, err[TN_ERRLEN];
	size_t kl, cl, al;
	int refused = 0;

	err[0] = '\0';
	if ((size_t)(csr - req) >= reqlen || !proto_valid_address(addr) ||
	    (bio = BIO_new_mem_buf(csr, -1)) == NULL ||
	    (xr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)) == NULL ||
	    (apub = X509_REQ_get0_pubkey(xr)) == NULL) {
		tn_err(err, "bad request");
		refused = bio != NULL;	/* else out of memory */
		goto out;
	}
	if ((ckey = pki_key_generate(PKI_KEY_EC, err)) == NULL ||
	    (cc = ca_one(PKI_KIND_COURIER_END, addr, ckey, cacert, cakey,
	    ck, &refused, err)) == NULL ||
	    (ac = ca_one(PKI_KIND_AGENT, addr, apub, cacert, cakey,
	    ck, &refused, err)) == NULL ||
	    pki_key_pem(ckey, NULL, &k, &kl, err) == -1 ||
	    pki_cert_pem(cc, &c, &cl, err) == -1 ||
	    pki_cert_pem(ac, &a, &al, err) == -1)
		goto out;
	*outlen = 1 + kl + 1 + cl + 1 + al;
	if ((out = malloc(*outlen)) != NULL) {
		out[0] = '0';
		memcpy(out + 1, k, kl + 1);
		memcpy(out + 2 + kl, c, cl + 1);
		memcpy(out + 3 + kl + cl, a, al);
	}
out:
	if (out == NULL && asprintf(&out, "%c%s", refused ? '1' : '2',
	    err[0] ? err : "out of memory") >= 0)
		*outlen = strlen(out);
	if (k != NULL)
		OPENSSL_clear_free(k, kl);
	free(c);
	free(a);
	X509_free(cc);
	X509_free(ac);
	EVP_PKEY_free(ckey);
	X509_REQ_free(xr);
	BIO_free(bio);
	return out;
}

/* Read the issuing CA in dir; *why says what is wrong. */
static int
ca_load(const char *dir, EVP_PKEY **key, X509 **cert, char *why)
{
	char path[4096], err[TN_ERRLEN];

	snprintf(path, sizeof(path), "%s/issuing.key", dir);
	if ((*key = pki_load_key(path, NULL, err)) == NULL) {
		tn_err(why, "%s", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/issuing.crt", dir);
	if ((*cert = pki_load_cert(path, err)) == NULL) {
		tn_err(why, "%s", err);
		return -1;
	}
	if (pki_cert_kind(*cert) != PKI_KIND_ISSUING) {
		tn_err(why, "%s: not an issuing CA certificate (tandem-ca "
		    "issuing)", path);
		return -1;
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		tn_err(why, "%s/issuing.key does not match %s", dir, path);
		return -1;
	}
	return 0;
}

/* Become pw (the CA process's own user); we were root. */
static int
ca_become(const struct passwd *pw, char *why)
{
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		tn_err(why, "cannot become foreground.ca_user %s: %s",
		    pw->pw_name, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1)
		log_panic("CA process still root after becoming %s",
		    pw->pw_name);
	return 0;
}

/* "0" and the issuing certificate, or "1" and why; NULL if no memory. */
static char *
ca_hello(X509 *cert, const char *why, size_t *len)
{
	char *pem = NULL, *out = NULL, err[TN_ERRLEN];

	if (why == NULL && pki_cert_pem(cert, &pem, NULL, err) == -1)
		why = err;
	if (asprintf(&out, "%s%s", why == NULL ? "0" : "1",
	    why == NULL ? pem : why) == -1)
		out = NULL;
	else
		*len = strlen(out);
	free(pem);
	return out;
}

static void __attribute__((noreturn))
ca_main(int fd, const struct ca_check *ck)
{
	struct ca_check own = *ck;
	char why[TN_ERRLEN], *req, *ans;
	EVP_PKEY *cakey = NULL;
	X509 *cacert = NULL;
	size_t len, alen = 0;
	int ok;

	signal(SIGTERM, SIG_DFL);
	why[0] = '\0';
	ok = ca_load(ck->ck_dir, &cakey, &cacert, why) == 0 &&
	    (ck->ck_pw == NULL || ca_become(ck->ck_pw, why) == 0) &&
	    (own.ck_chain = sk_X509_dup(ck->ck_chain)) != NULL &&
	    sk_X509_unshift(own.ck_chain, cacert) > 0;
	if (ok)
		log_info("CA process pid=%ld uid=%ld issuing=%s/issuing.crt",
		    (long)getpid(), (long)getuid(), ck->ck_dir);
	if ((ans = ca_hello(cacert, ok ? NULL : why[0] ? why :
	    "out of memory", &alen)) == NULL || ca_send(fd, ans, alen) == -1)
		ok = 0;
	free(ans);
	while (ok && ca_recv(fd, &req, &len) == 0) {
		ans = ca_answer(req, len, cacert, cakey, &own, &alen);
		free(req);
		if (ans == NULL || ca_send(fd, ans, alen) == -1)
			break;
		free(ans);
	}
	sk_X509_free(own.ck_chain);
	EVP_PKEY_free(cakey);
	X509_free(cacert);
	_exit(0);
}

/* What must hold before any process reads ca_dir. */
static int
ca_precheck(const struct conf *cf, struct passwd **pw, char *err)
{
	char path[4096];
	struct stat sb;

	*pw = NULL;
	snprintf(path, sizeof(path), "%s/ca.key", cf->cf_ca_dir);
	if (lstat(path, &sb) == 0) {
		tn_err(err, "%s: a courier CA key has no place on the "
		    "foreground; give foreground.ca_dir the issuing CA of "
		    "\"tandem-ca issuing\" instead", path);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/issuing.key", cf->cf_ca_dir);
	if (stat(path, &sb) == -1) {
		tn_err(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0) {
		tn_err(err, "%s: the issuing key is readable or writable by "
		    "group or other (mode %04o); it must be 0600, readable "
		    "only by the CA process", path,
		    (unsigned int)(sb.st_mode & 07777));
		return -1;
	}
	if (geteuid() != 0)
		return 0;
	if (cf->cf_ca_user[0] == '\0') {
		tn_err(err, "%s: foreground: ca_user is not set; started as "
		    "root, the CA process needs a user of its own",
		    cf->cf_path);
		return -1;
	}
	if ((*pw = getpwnam(cf->cf_ca_user)) == NULL ||
	    (*pw)->pw_uid == 0) {
		tn_err(err, "%s: foreground: ca_user %s: %s", cf->cf_path,
		    cf->cf_ca_user, *pw == NULL ? "no such user" :
		    "must not be root");
		return -1;
	}
	return 0;
}

int
ca_in_chain(X509 *x, STACK_OF(X509) *chain)
{
	int i;

	for (i = 0; i < sk_X509_num(chain); i++)
		if (X509_cmp(sk_X509_value(chain, i), x) == 0)
			return 1;
	return 0;
}

/*
 * Wait for the CA process's hello; its certificate must be in chain,
 * and goes to *issuing.
 */
static int
ca_ready(int fd, const struct conf *cf, STACK_OF(X509) *chain,
    X509 **issuing, char *err)
{
	char *ans = NULL;
	X509 *x = NULL;
	size_t n = 0;
	int rc = -1;

	if (ca_recv(fd, &ans, &n) == -1) {
		tn_err(err, "the CA process ended before it was ready");
		goto out;
	}
	if (ans[0] != '0') {
		tn_err(err, "CA process: %s", ans + 1);
		goto out;
	}
	if ((x = pki_parse_cert(ans + 1, n - 1, err)) == NULL)
		goto out;
	if (!ca_in_chain(x, chain)) {
		tn_err(err, "%s: tls.chain %s lacks the issuing CA "
		    "certificate of %s (use the chain.pem that tandem-ca "
		    "issuing wrote beside it)", cf->cf_path, cf->cf_chain,
		    cf->cf_ca_dir);
		goto out;
	}
	*issuing = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	free(ans);
	return rc;
}

int
ca_start(const struct conf *cf, const struct pki_trust *trust,
    STACK_OF(X509) *chain, X509 **issuing, char *err)
{
	struct ca_check ck;
	struct passwd *pw;
	int sv[2];
	pid_t pid;

	*issuing = NULL;
	if (ca_precheck(cf, &pw, err) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		tn_err(err, "socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		tn_err(err, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		ck.ck_trust = trust;
		ck.ck_chain = chain;
		ck.ck_dir = cf->cf_ca_dir;
		ck.ck_pw = pw;
		ca_main(sv[1], &ck);
	}
	close(sv[1]);
	if (ca_ready(sv[0], cf, chain, issuing, err) == -1) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

int
ca_unreadable(const struct conf *cf, const char *user, char *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/issuing.key", cf->cf_ca_dir);
	if (access(path, R_OK) == 0) {
		tn_err(err, "%s: readable by the milter's user %s; only the "
		    "CA process (foreground.ca_user) may read it", path, user);
		return -1;
	}
	return 0;
}

int
ca_issue(const struct fg *fg, const char *address, const char *csr,
    char **key, char **ccert, char **acert, char *err)
{
	struct fgproc *fp = fg->fg_proc;
	char *req = NULL, *ans = NULL, *p;
	size_t al = strlen(address), cl = strlen(csr), n = 0;
	int rc = -1, io;

	*key = *ccert = *acert = NULL;
	if ((req = malloc(al + 1 + cl)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	memcpy(req, address, al + 1);
	memcpy(req + al + 1, csr, cl);
	pthread_mutex_lock(&fp->fp_ca_lock);
	io = ca_send(fp->fp_ca_fd, req, al + 1 + cl) == -1 ||
	    ca_recv(fp->fp_ca_fd, &ans, &n) == -1;
	pthread_mutex_unlock(&fp->fp_ca_lock);
	if (io) {
		tn_err(err, "the CA process does not answer");
		goto out;
	}
	if (ans[0] == '1') {
		tn_err(err, "%s", ans + 1);
		rc = 1;
		goto out;
	}
	if (ans[0] != '0') {
		tn_err(err, "CA: %s", ans + 1);
		goto out;
	}
	p = ans + 1;
	if ((*key = strdup(p)) == NULL ||
	    (p += strlen(p) + 1) >= ans + n || (*ccert = strdup(p)) == NULL ||
	    (p += strlen(p) + 1) >= ans + n || (*acert = strdup(p)) == NULL) {
		tn_err(err, "CA: short answer");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		free(*key);
		free(*ccert);
		free(*acert);
		*key = *ccert = *acert = NULL;
	}
	if (ans != NULL)
		OPENSSL_cleanse(ans, n);
	free(ans);
	free(req);
	return rc;
}
