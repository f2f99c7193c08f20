/*
 * NAME
 *	passwd.c - "tandem passwd": a new local password
 * DESCRIPTION
 *	cmd_passwd() takes the current password the usual way (see
 *	tandem.c) and the new one from --new-password-file,
 *	$TANDEM_NEW_PASSWORD or the terminal (twice, with a strength
 *	check). The current password must unlock the store (store.c:
 *	an older store is sealed then, as at any first unlock); then, in
 *	one transaction, every private key the store keeps (the current
 *	one, the next one of a rekey under way, those of old generations)
 *	is decrypted with the current password and encrypted again under
 *	the new one, and the store key is wrapped again under the new
 *	one with a new salt. Nothing sealed under the store key is
 *	touched: the messages stay as they are. A wrong current password
 *	changes nothing.
 * DIAGNOSTICS
 *	Messages on standard error; exit statuses in tandem(1): 77
 *	(EX_NOPERM) for a wrong current password.
 */
#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "tandem.h"
#include "pki.h"
#include "agent.h"
#include "util.h"

/* The private key pem, decrypted with old, as encrypted under new. */
static char *
passwd_key(const char *pem, const char *old, const char *new, char *err)
{
	EVP_PKEY *pk;
	char *enc;

	if ((pk = pki_parse_key(pem, strlen(pem), old, err)) == NULL) {
		tn_err(err, "cannot decrypt the private key (wrong "
		    "password?)");
		return NULL;
	}
	enc = agent_key_encrypt(pk, new, err);
	EVP_PKEY_free(pk);
	return enc;
}

/* A named private key of table config, if there is one. */
static int
passwd_config(struct store *st, const char *name, const char *old,
    const char *new, char *err)
{
	char *pem = NULL, *enc = NULL;
	int rc = -1;

	if (store_get(st, name, &pem, err) == -1)
		return -1;
	if (pem != NULL && ((enc = passwd_key(pem, old, new, err)) == NULL ||
	    store_put(st, name, enc, err) == -1))
		goto out;
	rc = 0;
out:
	util_free_secret(pem);
	free(enc);
	return rc;
}

struct passwd_old {
	unsigned long	*po_gens;
	char		**po_keys;
	size_t		 po_n;
	int		 po_fail;
};

static int
passwd_collect(const struct store_old *so, void *arg)
{
	struct passwd_old *po = arg;
	unsigned long *g;
	char **k;

	if ((g = reallocarray(po->po_gens, po->po_n + 1, sizeof(*g))) ==
	    NULL)
		goto fail;
	po->po_gens = g;
	if ((k = reallocarray(po->po_keys, po->po_n + 1, sizeof(*k))) ==
	    NULL)
		goto fail;
	po->po_keys = k;
	if ((k[po->po_n] = strdup(so->so_key)) == NULL)
		goto fail;
	g[po->po_n++] = so->so_generation;
	return 0;
fail:
	po->po_fail = 1;
	return 1;
}

/* The keys of old generations, under the new password. */
static int
passwd_old_keys(struct store *st, const char *old, const char *new,
    char *err)
{
	struct passwd_old po;
	char *enc;
	size_t i;
	int rc = -1;

	memset(&po, 0, sizeof(po));
	if (store_old_each(st, passwd_collect, &po, err) == -1)
		goto out;
	if (po.po_fail) {
		tn_err(err, "out of memory");
		goto out;
	}
	for (i = 0; i < po.po_n; i++) {
		if ((enc = passwd_key(po.po_keys[i], old, new, err)) == NULL)
			goto out;
		if (store_old_key_put(st, po.po_gens[i], enc, err) == -1) {
			free(enc);
			goto out;
		}
		free(enc);
	}
	rc = 0;
out:
	for (i = 0; i < po.po_n; i++) {
		util_free_secret(po.po_keys[i]);
	}
	free(po.po_keys);
	free(po.po_gens);
	return rc;
}

static int
passwd_run(struct store *st, const char *old, const char *new, char *err)
{
	if (store_unlock(st, old, err) == -1)
		return EX_NOPERM;
	if (store_begin(st, err) == -1)
		return EX_SOFTWARE;
	if (passwd_config(st, "key", old, new, err) == -1 ||
	    passwd_config(st, "next-key", old, new, err) == -1 ||
	    passwd_old_keys(st, old, new, err) == -1 ||
	    store_rewrap(st, new, err) == -1) {
		store_rollback(st);
		return strstr(err, "wrong password") != NULL ? EX_NOPERM :
		    EX_SOFTWARE;
	}
	if (store_commit(st, err) == -1 || store_scrub(st, err) == -1)
		return EX_SOFTWARE;
	return 0;
}

int
cmd_passwd(struct agent_opts *o)
{
	struct store *st = NULL;
	char err[TN_ERRLEN], *old = NULL, *new = NULL;
	int rc;

	if ((rc = agent_password(o, &old)) != 0)
		return rc;
	rc = EX_NOINPUT;
	if ((st = store_open(o->o_dir, 0, err)) == NULL)
		goto out;
	rc = EX_NOPERM;
	if (store_unlock(st, old, err) == -1)
		goto out;
	if ((rc = agent_password_next(o, &new)) != 0) {
		snprintf(err, sizeof(err), "no new password");
		goto out;
	}
	if ((rc = passwd_run(st, old, new, err)) != 0)
		goto out;
	fprintf(stderr, "tandem passwd: the password is changed\n");
out:
	if (rc != 0)
		fprintf(stderr, "tandem passwd: %s\n", err);
	store_close(st);
	util_free_secret(old);
	util_free_secret(new);
	return rc;
}
