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
 *	count of opens per message id (sealed), and DIR/anchors.pem, the
 *	trust anchors; store_unlock() opens the store key with the
 *	password (vault.c seals and opens). store_open() returns a handle to pass to store_close();
 *	store_get() returns a NUL-terminated copy to pass to free(), or
 *	sets *val to NULL when the name is absent. The ARMs fetched are
 *	kept by message id (store_arm_*(), see store.c), what became of
 *	each recipient of each message sent (store_sent_*()), and the
 *	generations a rekey replaced (store_old_each()).
 *
 *	The network side: net.c (settings, HTTPS and SMTP with libcurl),
 *	mail.c (ids, submission, the courier's signature), send.c
 *	(send; struct agent_session for send and fetch), fetch.c,
 *	sendmail.c (sendmail, for mail clients), register.c (register;
 *	service mail), reglink.c (register's registration link and
 *	Maildir search), read.c (read, inbox; struct agent_reader),
 *	deliver.c (fetch --maildir: into a Maildir), reject.c (an invitation from another
 *	courier, refused), revoke.c (revoke; a revoke fetched),
 *	status.c (status; a receipt, fetched or mailed, recorded),
 *	passwd.c (passwd) and
 *	rekey.c (a notice to rekey and the courier's answer, fetched;
 *	the keys of old generations, for reading). Each
 *	file's header says who frees what.
 */
#ifndef TANDEM_AGENT_H
#define TANDEM_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "arm.h"
#include "cms.h"
#include "pki.h"
#include "tmail.h"

/* Refusals of "tandem open", beside the sysexits.h codes. */
#define AGENT_EX_TAMPERED	10	/* altered content or signature */
#define AGENT_EX_DIGEST		11	/* not the content the ARM is for */
#define AGENT_EX_UNTRUSTED	12	/* signer not certified to the root */
#define AGENT_EX_SENDER		13	/* signer is not the From: address */
#define AGENT_EX_EXPIRED	14	/* restricted message past expiry */
#define AGENT_EX_OPENS		15	/* maximum number of opens reached */
/* Network commands (send, fetch, read, register). */
#define AGENT_EX_NOARM		16	/* content mail whose ARM is not here */
#define AGENT_EX_REFUSED	17	/* the background or the MTA said no */
#define AGENT_EX_COURIER	18	/* answer not from our own courier */
#define AGENT_EX_REVOKED	19	/* the sender revoked the message */
#define AGENT_EX_RESTRICTED	20	/* the sender's restrictions forbid it */

#define AGENT_MAX_TO		TN_MAX_RCPTS
#define AGENT_MAX_RESOLVE	16
#define AGENT_MAX_FILES		1024
#define AGENT_VERSION		"tandem " PACKAGE_VERSION

struct agent_opts {
	const char		*o_dir;
	const char		*o_password_file;
	const char		*o_new_password_file;	/* passwd */
	const char		*o_address;
	const char		*o_key;		/* "ec" or "rsa" */
	const char		*o_csr;
	const char		*o_cert;
	const char		*o_courier_cert;
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
	/* network side */
	const char		*o_conf;	/* -c tandem.conf */
	const char		*o_smtp;	/* HOST:PORT */
	int			 o_smtp_starttls;
	const char		*o_smtp_ca;	/* PEM file */
	const char		*o_smtp_user;	/* SMTP AUTH */
	const char		*o_smtp_pwfile;	/* its password */
	const char		*o_bg;		/* https URL */
	const char		*o_maildir;
	const char		*o_resolve[AGENT_MAX_RESOLVE];
	size_t			 o_nresolve;
	const char		*o_invitation;
	const char		*o_out_dir;
	const char		*o_id;		/* read: one message id */
	long			 o_timeout;	/* register: seconds */
	long			 o_retry_for;	/* send: seconds */
	int			 o_no_wait;	/* register */
	int			 o_all;		/* read: what was read too */
	int			 o_password_fd;	/* -1: none */
	char			**o_files;	/* read: positional */
	size_t			 o_nfiles;
	int			 o_sm_extract;	/* sendmail -t */
	const char		*o_sm_from;	/* sendmail -f ADDR */
};

struct store;
struct proto_msg;

struct store *store_open(const char *dir, int create, char *err);
void	store_close(struct store *);
int	store_put(struct store *, const char *, const char *, char *);
int	store_get(struct store *, const char *, char **, char *);
int	store_unlock(struct store *, const char *, char *);
int	store_rewrap(struct store *, const char *, char *);
int	store_begin(struct store *, char *);
int	store_commit(struct store *, char *);
void	store_rollback(struct store *);
int	store_scrub(struct store *, char *);
int	store_opens(struct store *, const struct arm_record *, unsigned int *,
	    char *);
int	store_opened(struct store *, const char *, int *, char *);
int	store_count_open(struct store *, const struct arm_record *, char *);
int	store_old_key_put(struct store *, unsigned long, const char *, char *);
int	store_path(const char *, const char *, char *, size_t);
int	store_arm_put(struct store *, const char *, const char *, char *);
int	store_arm_get(struct store *, const char *, char **, int *, char *);
int	store_arm_forget(struct store *, const char *, char *);
int	store_arm_revoke(struct store *, const char *, char *);
int	store_del(struct store *, const char *, char *);
int	store_delivered(struct store *, const char *, int *, char *);
int	store_deliver_mark(struct store *, const char *, char *);
int	store_receipt_owe(struct store *, const char *, const char *, int *,
	    char *);
int	store_receipt_told(struct store *, const char *, const char *, char *);
int	store_receipt_state(struct store *, const char *, int *, char *);
int	store_receipt_each(struct store *, int (*)(const char *, const char *,
	    time_t, void *), void *, char *);

/* vault.c: the store's secrets sealed at rest (AES-256-GCM) */
#define VAULT_KEYLEN		32
#define VAULT_MAGIC		"TNS1"
#define VAULT_SCRYPT_MAXMEM	(256UL * 1024 * 1024)

int	vault_seal(const unsigned char *, const char *, const unsigned char *,
	    size_t, unsigned char **, size_t *, char *);
int	vault_open(const unsigned char *, const char *, const unsigned char *,
	    size_t, unsigned char **, size_t *, char *);
int	vault_is_sealed(const unsigned char *, size_t);
int	vault_kek(const char *, const unsigned char *, size_t, uint64_t,
	    uint64_t, uint64_t, unsigned char *, char *);
int	vault_count_key(const unsigned char *, size_t, unsigned char *,
	    char *);

/* One row of table old_keys (store.c), for store_old_each(). */
struct store_old {
	unsigned long		 so_generation;
	const char		*so_key;	/* encrypted PKCS#8 */
	const char		*so_cert;
	const char		*so_chain;	/* NULL: none */
	const char		*so_courier;	/* NULL: none */
};

int	store_install(struct store *, const char *, const char *,
	    const char *, const char *, char *);
int	store_rekey_install(struct store *, const char *, const char *,
	    const char *, const char *, const char *const *, char *);
int	store_old_each(struct store *, int (*)(const struct store_old *,
	    void *), void *, char *);

/* One row of table sent (store.c), for store_sent_each(). */
struct store_sent {
	const char		*ss_msgid;
	const char		*ss_rcpt;
	const char		*ss_state;	/* "sent" or an Event */
	const char		*ss_reason;	/* NULL: none */
	time_t			 ss_at;		/* of the state */
	time_t			 ss_first;	/* the message's first date */
};

int	store_sent_add(struct store *, const char *, char *const *, size_t,
	    char *);
int	store_sent_receipt(struct store *, const char *, const char *,
	    const char *, time_t, const char *, int *, char *);
int	store_sent_each(struct store *, const char *,
	    void (*)(const struct store_sent *, void *), void *, char *);

/* net.c */
struct agent_net;

struct agent_net *net_new(const struct agent_opts *, char *);
void	net_free(struct agent_net *);
const char *net_maildir(const struct agent_net *);
const char *net_store_dir(const struct agent_net *);
const char *net_bg(const struct agent_net *);
int	net_set_bg(struct agent_net *, const char *, char *);
int	net_pin(struct agent_net *, X509 *, STACK_OF(X509) *, char *);
int	net_save(const struct agent_net *, const char *, const char *,
	    char *);
int	net_identity(struct agent_net *, const struct cms_id *, const char *,
	    char *);
int	net_https(struct agent_net *, const char *, const char *,
	    const unsigned char *, size_t, long *, unsigned char **, size_t *,
	    char *);
int	net_https_pem(struct agent_net *, const char *, const char *, long *,
	    unsigned char **, size_t *, char *);
int	net_smtp(struct agent_net *, const char *, char *const *, size_t,
	    const char *, size_t, long *, char *);

int	agent_password(const struct agent_opts *, char **);
int	agent_password_new(const struct agent_opts *, int, char **);
int	agent_password_next(const struct agent_opts *, char **);
int	agent_load_id(struct store *, const char *, struct cms_id *,
	    char **, char *);
void	agent_free_id(struct cms_id *);
EVP_PKEY *agent_load_key(struct store *, const char *, char *);
char	*agent_key_encrypt(EVP_PKEY *, const char *, char *);
int	agent_init_keys(struct store *, const char *, const char *,
	    const char *, char **, char *);
int	agent_next_key(struct store *, const char *, const char *,
	    const char *, char **, char *);
int	agent_seal(const struct agent_opts *, const struct cms_id *,
	    const char *, struct arm_record **, unsigned char **, size_t *,
	    char *);
int	agent_seal_msg(const struct agent_opts *, const struct cms_id *,
	    const char *, const unsigned char *, size_t, int,
	    struct arm_record **, unsigned char **, size_t *, char *);
int	agent_read_input(const char *, unsigned char **, size_t *, char *);
int	agent_open(struct store *, const struct pki_trust *,
	    const struct arm_record *, const unsigned char *, size_t, int,
	    unsigned char **, size_t *, char *);

/* send.c: what a network command holds; see send.c */
struct agent_session {
	struct store		*as_st;
	struct cms_id		 as_id;
	char			*as_address;
	STACK_OF(X509)		*as_rcpts;	/* the courier-end cert */
	struct pki_trust	*as_trust;
	struct agent_net	*as_net;
	char			*as_pass;	/* wiped by _free() */
	char			*as_dir;	/* the store's folder */
	int			 as_later;	/* a status owed at the end */
	X509			*as_tr_fg;	/* fetching from a transfer's
						   new courier: its FG */
	STACK_OF(X509)		*as_tr_chain;	/* and that FG's chain */
	const char		*as_tr_back;	/* and the background left */
	int			 as_left;	/* fetching from the courier
						   it left (fetch.c) */
};

int	agent_session(struct agent_session *, const struct agent_opts *,
	    char *);
int	agent_session_with(struct agent_session *, const struct agent_opts *,
	    const char *, char *);
void	agent_session_free(struct agent_session *);
int	agent_session_reload(struct agent_session *, char *);
int	agent_post(struct agent_session *, const char *, const unsigned char *,
	    size_t, long *, char *, size_t, char *);
int	agent_send(struct agent_session *, const struct agent_opts *,
	    const unsigned char *, size_t, int, char **, char *);

/* read.c: the Maildir side; register.c: service mail */
struct agent_reader {
	const struct agent_opts	*rd_opts;
	const char		*rd_pass;
	struct store		*rd_st;
	struct pki_trust	*rd_trust;
	struct cms_id		 rd_id;		/* no cert before registered */
	char			*rd_address;
	STACK_OF(X509)		*rd_courier;	/* courier-end cert, or NULL */
	struct agent_net	*rd_net;
	int			 rd_quiet;	/* no message per file */
	int			 rd_mbox;	/* several to stdout: mbox */
	int			 rd_reported;	/* a failure was printed */
	unsigned int		 rd_shown;	/* read: messages written */
	unsigned int		 rd_old;	/* read: already read, skipped */
	unsigned int		 rd_held;	/* read: restricted, not named */
	const char		*rd_deliver;	/* deliver: the target Maildir */
	/* AGENT_SCAN_GET (forward, reply): the message o_id, opened */
	int			 rd_forbid;	/* RESTRICT_*: refused if set */
	int			 rd_count;	/* the open counts */
	struct arm_record	*rd_got_ar;	/* taken by the caller */
	unsigned char		*rd_got_msg;	/* likewise */
	size_t			 rd_got_len;
	int			 rd_got_rc;	/* a failure, said in: */
	char			 rd_got_err[TN_ERRLEN];
};

#define AGENT_SCAN_READ		0
#define AGENT_SCAN_SERVICE	1
#define AGENT_SCAN_INBOX	2
#define AGENT_SCAN_DELIVER	3
#define AGENT_SCAN_GET		4

/* restrict.c: the restrictions honoured, the read receipt */
#define RESTRICT_NONE		0
#define RESTRICT_FORWARD	1
#define RESTRICT_REPLY_ALL	2
#define RESTRICT_COPY		3

int	restrict_refuse(const struct arm_record *, int, char *);
void	restrict_names(const struct arm_record *, char *, size_t);
void	restrict_show(const struct arm_record *);
int	restrict_stdout_file(void);
int	restrict_owe(struct store *, const struct arm_record *, char *);
int	restrict_owed(struct store *, unsigned int *, char *);
int	restrict_receipts(struct agent_session *, const char *, char *);

int	reader_open(struct agent_reader *, const struct agent_opts *,
	    const char *, char *);
int	reader_reload(struct agent_reader *, char *);
int	reader_scan(struct agent_reader *, int, char *);
void	reader_close(struct agent_reader *);
int	agent_service(struct agent_reader *, const struct tmail *, char *);
int	agent_reject(struct agent_reader *, const struct tmail *, const char *,
	    char *);
/* deliver.c */
int	agent_deliver(const struct agent_opts *, const char *, const char *,
	    char *);
int	deliver_write(const char *, const void *, size_t, char *);
int	deliver_notice(const char *, const char *, size_t,
	    const struct arm_record *, char *);
X509	*agent_part_cert(const struct proto_msg *, const char *, char *);
int	agent_check_keys(const struct pki_trust *, const char *, EVP_PKEY *,
	    const struct proto_msg *, X509 *, STACK_OF(X509) **, char *);
int	agent_invitation_signer(const struct pki_trust *, X509 *,
	    STACK_OF(X509) *, const struct proto_msg *, char *);
int	agent_invitation_verify(const struct pki_trust *,
	    const unsigned char *, size_t, struct proto_msg **, X509 **,
	    char *);

/* reglink.c: register from a registration link or the Maildir */
struct reg_link {
	char			 rl_id[TN_MAX_MSGID + 1];
	char			 rl_smtp[256];		/* "": none */
	char			 rl_root[2 * 32 + 1];	/* "": none */
};

int	reglink_parse(const char *, struct reg_link *, char *);
int	reglink_root(const char *, const char *, char *);
int	reglink_find(const struct agent_opts *, const struct pki_trust *,
	    const char *, char **, unsigned char **, size_t *, char *);

/* mail.c */
char	*agent_new_id(const char *);
int	agent_submit(struct agent_net *, enum tmail_kind, const char *,
	    char *const *, size_t, const char *, const unsigned char *,
	    size_t, char *);
int	agent_mail_courier(struct agent_net *, struct store *,
	    const struct cms_id *, const char *, STACK_OF(X509) *,
	    struct proto_msg *, const char *, char *);
int	agent_mail_to(struct agent_net *, const struct cms_id *, const char *,
	    const char *, STACK_OF(X509) *, struct proto_msg *, const char *,
	    char *);
int	agent_check_content(struct store *, const struct pki_trust *, X509 *,
	    STACK_OF(X509) *, X509 *, STACK_OF(X509) *, char *);
int	agent_check_element(const struct pki_trust *, X509 *,
	    STACK_OF(X509) *, enum pki_kind, X509 *, STACK_OF(X509) *, char *);
int	agent_check_author(X509 *, STACK_OF(X509) *, const char *,
	    const struct cms_id *, char *);
struct pki_trust *agent_trust(const char *, char *);

int	cmd_init(struct agent_opts *);
int	cmd_import(struct agent_opts *);
int	cmd_seal(struct agent_opts *);
int	cmd_open(struct agent_opts *);
int	cmd_register(struct agent_opts *);
int	cmd_send(struct agent_opts *);
int	cmd_sendmail(struct agent_opts *);
int	cmd_fetch(struct agent_opts *);
int	cmd_read(struct agent_opts *);
int	cmd_inbox(struct agent_opts *);
int	cmd_revoke(struct agent_opts *);
int	cmd_status(struct agent_opts *);
int	cmd_passwd(struct agent_opts *);
int	cmd_arm(struct agent_opts *);
int	cmd_forward(struct agent_opts *);
int	cmd_reply(struct agent_opts *);
int	revoke_apply(struct agent_session *, const struct proto_msg *,
	    const char *, char *);
int	agent_receipt(struct store *, const char *, const struct proto_msg *,
	    const char *, char *);

/* rekey.c */
int	agent_unwrap(struct store *, const char *, const struct cms_id *,
	    X509_STORE *, const unsigned char *, size_t, unsigned char **,
	    size_t *, X509 **, STACK_OF(X509) **, enum cms_fail *, char *);
int	agent_old_id(struct store *, const char *, unsigned long,
	    struct cms_id *, char *);
int	rekey_notice(struct agent_session *, const struct proto_msg *,
	    char *);
int	rekey_answer(struct agent_session *, const struct proto_msg *,
	    X509 *, char *);
int	rekey_pending(struct agent_session *, char *);

#endif
