/*
 * NAME
 *	agent.h - the parts of tandem(1), the user's agent
 * SYNOPSIS
 *	#include "agent.h"
 * DESCRIPTION
 *	tandem.c reads the command line into a struct agent_opts and
 *	calls one cmd_*() function, which returns the exit status (see
 *	AGENT_EX_* and sysexits.h) after printing its own message.
 *
 *	store.c keeps the local store: DIR/store.db (SQLite), holding
 *	named values (address, encrypted key, certificates) and the
 *	count of opens per message id, and DIR/anchors.pem, the trust
 *	anchors. store_open() returns a handle to pass to store_close();
 *	store_get() returns a NUL-terminated copy to pass to free(), or
 *	sets *val to NULL when the name is absent.
 */
#ifndef TANDEM_AGENT_H
#define TANDEM_AGENT_H

#include <stddef.h>
#include <time.h>

#include "arm.h"
#include "cms.h"

/* Refusals of "tandem open", beside the sysexits.h codes. */
#define AGENT_EX_TAMPERED	10	/* altered content or signature */
#define AGENT_EX_DIGEST		11	/* not the content the ARM is for */
#define AGENT_EX_UNTRUSTED	12	/* signer not certified to the root */
#define AGENT_EX_SENDER		13	/* signer is not the From: address */
#define AGENT_EX_EXPIRED	14	/* restricted message past expiry */
#define AGENT_EX_OPENS		15	/* maximum number of opens reached */

#define AGENT_MAX_TO		TN_MAX_RCPTS

struct agent_opts {
	const char		*o_dir;
	const char		*o_password_file;
	const char		*o_address;
	const char		*o_key;		/* "ec" or "rsa" */
	const char		*o_csr;
	const char		*o_cert;
	const char		*o_anchor;
	const char		*o_chain;
	const char		*o_in;
	const char		*o_sealed;
	const char		*o_arm;
	const char		*o_out;
	const char		*o_to[AGENT_MAX_TO];
	size_t			 o_nto;
	const char		*o_expires;
	struct arm_restrictions	 o_restr;
};

struct store;

struct store *store_open(const char *dir, int create, char *err);
void	store_close(struct store *);
int	store_put(struct store *, const char *, const char *, char *);
int	store_get(struct store *, const char *, char **, char *);
int	store_opens(struct store *, const char *, unsigned int *, char *);
int	store_count_open(struct store *, const char *, char *);
int	store_path(const char *, const char *, char *, size_t);

int	agent_password(const struct agent_opts *, char **);
int	agent_load_id(struct store *, const char *, struct cms_id *,
	    char **, char *);
void	agent_free_id(struct cms_id *);

int	cmd_init(struct agent_opts *);
int	cmd_import(struct agent_opts *);
int	cmd_seal(struct agent_opts *);
int	cmd_open(struct agent_opts *);

#endif
