/*
 * NAME
 *	init.c - "tandem init" and "tandem import": the agent's identity
 * DESCRIPTION
 *	init creates the store, a key pair and a certificate request for
 *	the address; the private key is stored only as encrypted PKCS#8
 *	(AES-256-CBC, key derived from the local password with scrypt).
 *	import stores the certificate the courier issued for that key,
 *	after checking it to the trust anchors, and the anchors; with
 *	--courier-cert also the account's courier-end certificate
 *	(checked: that kind, that address, the same CA), which send needs
 *	(register gets both from the courier's exchange-keys instead).
 *
 *	agent_init_keys() makes the key pair for an address in an open
 *	store (also used by "tandem register") and returns the request
 *	as PEM in *csr, to be passed to free().
 *
 *	agent_key_encrypt() returns key as encrypted PKCS#8 PEM under a
 *	password (free()); also for "tandem passwd".
 *
 *	init also makes the store key (store_unlock()), so that a new
 *	store seals what it keeps from the start.
 *
 *	agent_next_key() makes or finds the key of the next generation,
 *	for a rekey (rekey.c): see there.
 *
 *	agent_load_id() reads the identity back for signing: fills id
 *	(free with agent_free_id()) and *address (free()).
 *	agent_load_key() reads only the decrypted key (to pass to
 *	EVP_PKEY_free()), for the answer to a registration, which comes
 *	before the certificate.
 * DIAGNOSTICS
 *	Messages on standard error; exit statuses in tandem(1).
 */
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "tandem.h"
#include "pki.h"
#include "util.h"
#include "agent.h"

#define AGENT_SCRYPT_N	16384
#define AGENT_SCRYPT_R	8
#define AGENT_SCRYPT_P	1
#define AGENT_MAX_PEM	(1024 * 1024)

/* PKCS#8, encrypted with pass under scrypt + AES-256-CBC, as PEM. */
char *
agent_key_encrypt(EVP_PKEY *key, const char *pass, char *err)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *enc = NULL;
	BIO *bio = NULL;
	char *pem = NULL, *p;
	long n;

	if ((p8 = EVP_PKEY2PKCS8(key)) == NULL ||
	    (pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 0, NULL,
	    AGENT_SCRYPT_N, AGENT_SCRYPT_R, AGENT_SCRYPT_P)) == NULL ||
	    (enc = PKCS8_set0_pbe(pass, (int)strlen(pass), p8, pbe)) == NULL) {
		tn_err_ssl(err, "cannot encrypt the private key");
		goto out;
	}
	pbe = NULL;	/* now owned by enc */
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PKCS8(bio, enc) != 1) {
		tn_err_ssl(err, "cannot write the private key");
		goto out;
	}
	n = BIO_get_mem_data(bio, &p);
	if ((pem = strndup(p, (size_t)n)) == NULL)
		tn_err(err, "out of memory");
out:
	BIO_free(bio);
	X509_SIG_free(enc);
	X509_ALGOR_free(pbe);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return pem;
}

static char *
pem_of(int (*write)(BIO *, void *), void *obj)
{
	BIO *bio;
	char *p, *pem = NULL;
	long n;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (write(bio, obj) == 1) {
		n = BIO_get_mem_data(bio, &p);
		pem = strndup(p, (size_t)n);
	}
	BIO_free(bio);
	return pem;
}

static int
write_pubkey(BIO *bio, void *key)
{
	return PEM_write_bio_PUBKEY(bio, key);
}

static int
write_req(BIO *bio, void *req)
{
	return PEM_write_bio_X509_REQ(bio, req);
}

/* A request for address, signed by key; PEM to free(). */
static char *
make_csr(EVP_PKEY *key, const char *address, char *err)
{
	X509_REQ *req = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	char san[TN_MAX_ADDRESS + 8], *pem = NULL;

	snprintf(san, sizeof(san), "email:%s", address);
	if ((req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	    MBSTRING_UTF8, (const unsigned char *)address, -1, -1, 0) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    (ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
	    san)) == NULL || !sk_X509_EXTENSION_push(exts, ext)) {
		tn_err_ssl(err, "cannot build the certificate request");
		X509_EXTENSION_free(ext);
		goto out;
	}
	if (X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) == 0 ||
	    (pem = pem_of(write_req, req)) == NULL)
		tn_err_ssl(err, "cannot sign the certificate request");
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return pem;
}

static int
address_ok(const char *a)
{
	const char *at = strchr(a, '@');

	return at != NULL && at != a && at[1] != '\0' &&
	    strchr(at + 1, '@') == NULL && strlen(a) <= TN_MAX_ADDRESS &&
	    strpbrk(a, " \t\r\n<>()[],;:\"\\") == NULL;
}

/* A new key pair: *enc (encrypted PKCS#8) and *pub, PEM, to free(). */
static EVP_PKEY *
key_new(const char *type, const char *pass, char **enc, char **pub,
    char *err)
{
	EVP_PKEY *key;

	*enc = *pub = NULL;
	if ((key = pki_key_generate(type != NULL &&
	    strcmp(type, "rsa") == 0 ? PKI_KEY_RSA : PKI_KEY_EC,
	    err)) == NULL)
		return NULL;
	if ((*enc = agent_key_encrypt(key, pass, err)) == NULL ||
	    (*pub = pem_of(write_pubkey, key)) == NULL) {
		if (*enc != NULL)
			tn_err_ssl(err, "cannot write the public key");
		free(*enc);
		*enc = NULL;
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

/* New key for address (type "ec", "rsa" or NULL); *csr to free(). */
int
agent_init_keys(struct store *st, const char *address, const char *type,
    const char *pass, char **csr, char *err)
{
	EVP_PKEY *key = NULL;
	char *enc = NULL, *pub = NULL;
	int rc = -1;

	if ((key = key_new(type, pass, &enc, &pub, err)) == NULL)
		goto out;
	if (store_put(st, "address", address, err) == -1 ||
	    store_put(st, "key", enc, err) == -1 ||
	    store_put(st, "pubkey", pub, err) == -1 ||
	    (*csr = make_csr(key, address, err)) == NULL)
		goto out;
	rc = 0;
out:
	free(enc);
	free(pub);
	EVP_PKEY_free(key);
	return rc;
}

/* The type of the current key ("rsa" or "ec"), from its public half. */
static const char *
key_type(struct store *st, char *err)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	char *pub = NULL;
	const char *type = "ec";

	if (store_get(st, "pubkey", &pub, err) == 0 && pub != NULL &&
	    (bio = BIO_new_mem_buf(pub, -1)) != NULL &&
	    (pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) != NULL &&
	    EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
		type = "rsa";
	EVP_PKEY_free(pk);
	BIO_free(bio);
	free(pub);
	return type;
}

/*
 * The next key, for generation gen: the one kept for gen if there is
 * one (a notice seen again), else a new one of the current key's type,
 * kept as next-key (encrypted under pass), next-pubkey and
 * next-generation (written last). *csr to free().
 */
int
agent_next_key(struct store *st, const char *address, const char *gen,
    const char *pass, char **csr, char *err)
{
	EVP_PKEY *key = NULL;
	char *have = NULL, *enc = NULL, *pub = NULL;
	int rc = -1;

	if (store_get(st, "next-generation", &have, err) == -1)
		goto out;
	if (have != NULL && strcmp(have, gen) == 0) {
		if (store_get(st, "next-key", &enc, err) == -1)
			goto out;
		if (enc != NULL && (key = pki_parse_key(enc, strlen(enc),
		    pass, err)) == NULL) {
			tn_err(err, "cannot decrypt the next key (wrong "
			    "password?)");
			goto out;
		}
	}
	if (key == NULL) {
		free(enc);
		if ((key = key_new(key_type(st, err), pass, &enc, &pub,
		    err)) == NULL ||
		    store_put(st, "next-key", enc, err) == -1 ||
		    store_put(st, "next-pubkey", pub, err) == -1 ||
		    store_put(st, "next-generation", gen, err) == -1)
			goto out;
	}
	if ((*csr = make_csr(key, address, err)) == NULL)
		goto out;
	rc = 0;
out:
	free(have);
	free(enc);
	free(pub);
	EVP_PKEY_free(key);
	return rc;
}

int
cmd_init(struct agent_opts *o)
{
	struct store *st = NULL;
	char err[TN_ERRLEN], path[1024], *pass = NULL, *csr = NULL;
	int rc;

	if (o->o_address == NULL || !address_ok(o->o_address)) {
		fprintf(stderr, "tandem init: --address: need one mail "
		    "address (local@domain)\n");
		return EX_USAGE;
	}
	if (o->o_key != NULL && strcmp(o->o_key, "ec") != 0 &&
	    strcmp(o->o_key, "rsa") != 0) {
		fprintf(stderr, "tandem init: --key: ec or rsa\n");
		return EX_USAGE;
	}
	if ((rc = agent_password_new(o, 1, &pass)) != 0)
		return rc;
	snprintf(err, sizeof(err), "cannot write the request");
	rc = EX_CANTCREAT;
	if ((st = store_open(o->o_dir, 1, err)) == NULL)
		goto out;
	rc = EX_SOFTWARE;
	if (agent_init_keys(st, o->o_address, o->o_key, pass, &csr,
	    err) == -1 || store_unlock(st, pass, err) == -1)
		goto out;
	rc = EX_CANTCREAT;
	if (o->o_csr != NULL ? util_write_file(o->o_csr, csr, strlen(csr),
	    0644, 0, err) == -1 : fputs(csr, stdout) == EOF)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "tandem init: %s\n", err);
	if (rc != 0 && st != NULL &&
	    store_path(o->o_dir, "store.db", path, sizeof(path)) == 0)
		unlink(path);
	store_close(st);
	free(csr);
	free(pass);
	return rc;
}

/* Check the certificate is for this store's key and address. */
static int
import_check(struct store *st, X509 *cert, STACK_OF(X509) *chain,
    const struct pki_trust *trust, char *err)
{
	char *address = NULL, *pub = NULL;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	int rc = EX_SOFTWARE;

	if (store_get(st, "address", &address, err) == -1 ||
	    store_get(st, "pubkey", &pub, err) == -1)
		goto out;
	rc = EX_CONFIG;
	if (address == NULL || pub == NULL) {
		tn_err(err, "store has no key: run \"tandem init\" first");
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pub, -1)) == NULL ||
	    (pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
		tn_err_ssl(err, "stored public key unreadable");
		goto out;
	}
	rc = EX_DATAERR;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), pk) != 1) {
		tn_err(err, "certificate is not for this agent's key");
		goto out;
	}
	rc = AGENT_EX_UNTRUSTED;
	if (pki_verify(trust, cert, chain, address, err) == -1)
		goto out;
	rc = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pk);
	free(address);
	free(pub);
	return rc;
}

/* The courier-end certificate: that kind, this address, same CA. */
static int
import_courier(struct store *st, const char *path, X509 *agent,
    STACK_OF(X509) *chain, const struct pki_trust *trust, char *err)
{
	unsigned char *pem = NULL;
	char *address = NULL;
	X509 *cc = NULL;
	size_t len;
	int rc = EX_NOINPUT;

	if (util_read_file(path, AGENT_MAX_PEM, &pem, &len, err) == -1)
		goto out;
	rc = EX_DATAERR;
	if ((cc = pki_parse_cert((char *)pem, len, err)) == NULL)
		goto out;
	if (pki_cert_kind(cc) != PKI_KIND_COURIER_END ||
	    X509_NAME_cmp(X509_get_issuer_name(cc),
	    X509_get_issuer_name(agent)) != 0) {
		tn_err(err, "%s: not a courier-end certificate of the agent's "
		    "courier", path);
		goto out;
	}
	rc = EX_SOFTWARE;
	if (store_get(st, "address", &address, err) == -1)
		goto out;
	rc = AGENT_EX_UNTRUSTED;
	if (pki_verify(trust, cc, chain, address, err) == -1)
		goto out;
	rc = EX_CANTCREAT;
	if (store_put(st, "courier-cert", (char *)pem, err) == -1)
		goto out;
	rc = 0;
out:
	X509_free(cc);
	free(address);
	free(pem);
	return rc;
}

static int
import_read(const char *path, char **text, char *err)
{
	size_t len;

	return util_read_file(path, AGENT_MAX_PEM, (unsigned char **)text,
	    &len, err);
}

int
cmd_import(struct agent_opts *o)
{
	struct store *st = NULL;
	struct pki_trust *trust = NULL;
	STACK_OF(X509) *chain = NULL;
	X509 *cert = NULL;
	char err[TN_ERRLEN], path[1024], *c = NULL, *ch = NULL, *an = NULL;
	int rc = EX_USAGE;

	if (o->o_cert == NULL || o->o_anchor == NULL) {
		fprintf(stderr, "tandem import: need --cert and --anchor\n");
		return EX_USAGE;
	}
	rc = EX_NOINPUT;
	if ((st = store_open(o->o_dir, 0, err)) == NULL ||
	    import_read(o->o_cert, &c, err) == -1 ||
	    import_read(o->o_anchor, &an, err) == -1 ||
	    (o->o_chain != NULL && import_read(o->o_chain, &ch, err) == -1))
		goto out;
	rc = EX_DATAERR;
	if ((cert = pki_parse_cert(c, strlen(c), err)) == NULL ||
	    (ch != NULL && (chain = pki_parse_certs(ch, strlen(ch),
	    err)) == NULL) ||
	    (trust = pki_trust_load(o->o_anchor, err)) == NULL)
		goto out;
	if ((rc = import_check(st, cert, chain, trust, err)) != 0 ||
	    (o->o_courier_cert != NULL && (rc = import_courier(st,
	    o->o_courier_cert, cert, chain, trust, err)) != 0))
		goto out;
	rc = EX_CANTCREAT;
	if (store_path(o->o_dir, "anchors.pem", path, sizeof(path)) == -1 ||
	    util_write_file(path, an, strlen(an), 0644, 0, err) == -1 ||
	    store_put(st, "cert", c, err) == -1 ||
	    store_put(st, "chain", ch != NULL ? ch : "", err) == -1)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "tandem import: %s\n", err);
	sk_X509_pop_free(chain, X509_free);
	X509_free(cert);
	pki_trust_free(trust);
	store_close(st);
	free(c);
	free(ch);
	free(an);
	return rc;
}

void
agent_free_id(struct cms_id *id)
{
	X509_free(id->ci_cert);
	EVP_PKEY_free(id->ci_key);
	sk_X509_pop_free(id->ci_chain, X509_free);
	memset(id, 0, sizeof(*id));
}

EVP_PKEY *
agent_load_key(struct store *st, const char *pass, char *err)
{
	EVP_PKEY *pk = NULL;
	char *key = NULL;

	if (store_get(st, "key", &key, err) == -1)
		return NULL;
	if (key == NULL)
		tn_err(err, "store has no key");
	else if ((pk = pki_parse_key(key, strlen(key), pass, err)) == NULL)
		tn_err(err, "cannot decrypt the private key (wrong "
		    "password?)");
	if (key != NULL)
		OPENSSL_cleanse(key, strlen(key));
	free(key);
	return pk;
}

/* The signing identity: certificate, chain and the decrypted key. */
int
agent_load_id(struct store *st, const char *pass, struct cms_id *id,
    char **address, char *err)
{
	char *key = NULL, *cert = NULL, *chain = NULL;
	int rc = EX_SOFTWARE;

	memset(id, 0, sizeof(*id));
	if (store_get(st, "address", address, err) == -1 ||
	    store_get(st, "key", &key, err) == -1 ||
	    store_get(st, "cert", &cert, err) == -1 ||
	    store_get(st, "chain", &chain, err) == -1)
		goto out;
	rc = EX_CONFIG;
	if (*address == NULL || key == NULL || cert == NULL) {
		tn_err(err, "no certificate yet: run \"tandem import\"");
		goto out;
	}
	if ((id->ci_cert = pki_parse_cert(cert, strlen(cert), err)) == NULL ||
	    (chain != NULL && *chain != '\0' && (id->ci_chain = pki_parse_certs(chain,
	    strlen(chain), err)) == NULL))
		goto out;
	rc = EX_NOPERM;
	if ((id->ci_key = pki_parse_key(key, strlen(key), pass,
	    err)) == NULL) {
		tn_err(err, "cannot decrypt the private key (wrong "
		    "password?)");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		agent_free_id(id);
		free(*address);
		*address = NULL;
	}
	if (key != NULL)
		OPENSSL_cleanse(key, strlen(key));
	free(key);
	free(cert);
	free(chain);
	return rc;
}
