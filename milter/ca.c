/*
 * NAME
 *	ca.c - the CA process of tandem-milter
 * DESCRIPTION
 *	ca_start() forks, before any thread exists, a process that alone
 *	reads the courier CA key (foreground.ca_dir/ca.key and ca.crt)
 *	and answers over a socketpair. A request is a 4-byte length
 *	then "ADDRESS\0CSR-PEM"; the answer is a 4-byte length then
 *	"0" and "COURIER-KEY\0COURIER-CERT\0AGENT-CERT"; or "1" and a
 *	reason: refused, the same request would be refused again; or
 *	"2" and a reason: a failure of the moment (memory, randomness,
 *	OpenSSL) worth a retry. Each certificate is checked with
 *	pki_verify() (to the trust anchors, with the courier's chain,
 *	for the address and of the expected kind) before it is handed
 *	out; one that fails is refused with the verifier's reason (an
 *	address outside a private courier's name constraints). The
 *	process ends when the milter closes its end.
 *
 *	ca_issue() returns 0; 1 when the CA refused, with its reason in
 *	err (the registration gets a permanent error); -1 when it could
 *	not answer or failed for the moment, err "CA: ..." or about the
 *	process (a tempfail).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <errno.h>
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
	STACK_OF(X509)		*ck_chain;
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

static void __attribute__((noreturn))
ca_main(int fd, const char *dir, const struct ca_check *ck)
{
	char path[4096], err[TN_ERRLEN], *req, *ans;
	EVP_PKEY *cakey;
	X509 *cacert;
	size_t len, alen = 0;

	signal(SIGTERM, SIG_DFL);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if ((cakey = pki_load_key(path, NULL, err)) == NULL)
		log_fatal(78, "CA process: %s", err);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if ((cacert = pki_load_cert(path, err)) == NULL)
		log_fatal(78, "CA process: %s", err);
	while (ca_recv(fd, &req, &len) == 0) {
		ans = ca_answer(req, len, cacert, cakey, ck, &alen);
		free(req);
		if (ans == NULL || ca_send(fd, ans, alen) == -1)
			break;
		free(ans);
	}
	EVP_PKEY_free(cakey);
	X509_free(cacert);
	_exit(0);
}

int
ca_start(const char *dir, const struct pki_trust *trust,
    STACK_OF(X509) *chain, char *err)
{
	struct ca_check ck;
	int sv[2];
	pid_t pid;

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
		ca_main(sv[1], dir, &ck);
	}
	close(sv[1]);
	return sv[0];
}

int
ca_issue(const struct fg *fg, const char *address, const char *csr,
    char **key, char **ccert, char **acert, char *err)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&fg->fg_ca_lock;
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
	pthread_mutex_lock(lock);
	io = ca_send(fg->fg_ca_fd, req, al + 1 + cl) == -1 ||
	    ca_recv(fg->fg_ca_fd, &ans, &n) == -1;
	pthread_mutex_unlock(lock);
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
