/*
 * NAME
 *	milter.h - tandem-milter, the foreground element
 * SYNOPSIS
 *	#include "milter.h"
 * DESCRIPTION
 *	struct fg is an immutable snapshot of what the configuration
 *	names: the configuration, the trust anchors, the keybox, the FG
 *	element's identity, with the connection pool fg_pool and the
 *	cache of parsed certificates and keys fg_cache made for it (each
 *	with its own lock). A message, and each round of the sender
 *	thread, takes the current one with fg_hold() and gives it back
 *	with fg_release(): it works with one consistent set from start
 *	to end, whatever a reload swaps in meanwhile. The last
 *	fg_release() frees it.
 *
 *	struct fgproc is what lasts as long as the process (reload.c):
 *	the current snapshot and the reference counts (under fp_lock,
 *	with the counter of messages in progress), the descriptor of the
 *	CA process (used under fp_ca_lock) and the issuing certificate it
 *	holds, the held key (tls.held_key), fp_stop. fg_new() makes a
 *	snapshot from a configuration (it takes cf, also on failure):
 *	-1 with err for a file or a setting that is not right, -2 out of
 *	memory. fg_signals_start() starts the thread that alone takes
 *	SIGHUP, SIGINT and SIGTERM: the last two stop the milter, each
 *	SIGHUP reads the configuration again into a new snapshot, swapped
 *	in only when all of it loaded; fg_signals_stop() ends it.
 *	fg_crlfetch_main() (its argument the struct fgproc) is the thread
 *	that fetches tls.crl_url into tls.crl_file (reload.c).
 *
 *	struct msg is one message from envfrom to eom or abort; the
 *	milter callbacks fill it, msg_process() decides (content.c,
 *	service.c), and the callbacks carry out the verdict. msg_note()
 *	adds " key=value" pairs to the one line logged at the end of
 *	the message (what is past MSG_NOTELEN is cut). msg_consume()
 *	takes the service mailbox out of the envelope once the mail to
 *	it is handled (the whole mail is discarded when it was the only
 *	recipient).
 *
 *	SQL goes through db_exec() and its kin (db.h); fgdb_*() (fgdb.c)
 *	are the milter's own queries over them; fgdb_mail() wraps a text
 *	to one certificate (or takes the wrap made) and queues the mail
 *	of a struct tmail_head in outbox. What crosses couriers is
 *	the federation engine's (lib/fed.h), with the milter's hands in
 *	fgfed.c.
 *
 *	ca_start() forks the CA process before any thread exists; it
 *	alone reads foreground.ca_dir (the issuing CA, never the courier
 *	CA key) and, started as root, runs as foreground.ca_user; it
 *	checks what it issues with the trust anchors and chain it
 *	inherits (those of the start: a reload does not reach it). It
 *	gives its issuing certificate in *issuing (for X509_free()), which
 *	ca_in_chain() looks for in a chain (1 if there). ca_unreadable() fails if the milter's own user can
 *	still read the issuing key. ca_issue() asks it for the
 *	courier-end key and certificate and the agent certificate of a
 *	new account; the three PEM strings should be passed to free().
 *	It returns 1 (not -1) when the CA process refused the request,
 *	which a retry would not change.
 *
 *	pool_*() (pool.c) share PostgreSQL connections between the
 *	message threads: pool_get() gives an idle one or opens one,
 *	pool_put() keeps a healthy idle one or closes it.
 *
 *	objcache_*() (objcache.c) remember what the exact bytes of a
 *	certificate or sealed key read from the database parse to; each
 *	returns a new reference.
 *
 *	outbox_main() (its argument the struct fgproc) is the sender
 *	thread: due outbox rows to the
 *	reinjection port, and every hygiene.purge_interval the purge,
 *	hygiene_run() (hygiene.c).
 * DIAGNOSTICS
 *	Functions return 0 or -1; a failing msg_* sets the verdict:
 *	MSG_TEMP (451, the MTA keeps the message) or MSG_PERM (550).
 */
#ifndef TANDEM_MILTER_H
#define TANDEM_MILTER_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "cms.h"
#include "conf.h"
#include "db.h"
#include "keybox.h"
#include "pki.h"
#include "route.h"
#include "tandem.h"
#include "tmail.h"

struct acache;
struct objcache;
struct pool;
struct proto_msg;
struct proto_part;

struct fgproc;

struct fg {
	struct fgproc		*fg_proc;	/* what lasts */
	long			 fg_refs;	/* under fp_lock */
	struct conf		*fg_conf;
	struct pool		*fg_pool;	/* message connections */
	struct objcache		*fg_cache;	/* parsed certs and keys */
	time_t			 fg_anchors_from;	/* all anchors valid */
	time_t			 fg_anchors_until;
	struct pki_trust	*fg_trust;
	struct keybox		*fg_keybox;
	struct keybox		*fg_heldbox;	/* fp_heldbox, not owned */
	struct cms_id		 fg_id;
	char			*fg_chain_pem;
	char			*fg_self_pem;	/* fed_self_pem() */
};

struct fgproc {
	pthread_mutex_t		 fp_lock;
	struct fg		*fp_cur;	/* holds one reference */
	long			 fp_busy;	/* messages in progress */
	const char		*fp_path;	/* -c FILE */
	const char		*fp_user;	/* -u USER, or NULL */
	int			 fp_ca_fd;
	pthread_mutex_t		 fp_ca_lock;
	X509			*fp_issuing;	/* the CA process's */
	struct keybox		*fp_heldbox;	/* tls.held_key */
	pthread_t		 fp_signals;
	volatile int		 fp_stop;
	struct rate		*fp_rate;	/* foreground.max_peer_rate */
	struct pki_crl_watch	 fp_crl_watch;	/* the signal thread's */
	struct acache		*fp_acache;	/* account rows, acache.c */
};

int		 fg_new(struct fgproc *, struct conf *, struct fg **, char *);
struct fg	*fg_hold(struct fgproc *);
void		 fg_release(struct fg *);
int		 fg_signals_start(struct fgproc *);
void		 fg_signals_stop(struct fgproc *);
void		*fg_crlfetch_main(void *);

#define MSG_NOTELEN	1024

enum msg_verdict {
	MSG_OK = 0,
	MSG_TEMP,
	MSG_PERM
};

struct msg {
	struct fg		*mc_fg;	/* fg_hold(), at envfrom */
	char			 mc_qid[64];
	char			*mc_sender;
	char			**mc_rcpts;
	size_t			 mc_nrcpts;
	char			*mc_head;	/* "Name: value\n" lines */
	size_t			 mc_headlen;
	size_t			 mc_headcap;
	char			*mc_mail;	/* head, "\n", body */
	size_t			 mc_maillen;
	size_t			 mc_mailcap;
	int			 mc_tandem;	/* saw Tandem-Kind, or
						   MSG_DECLINE */
	int			 mc_headfail;	/* msg_append() of a header */
	int			 mc_slot;	/* holds a busy slot */
	int			 mc_quiet;	/* no log line, no record */

	/* the decision */
	enum msg_verdict	 mc_verdict;
	char			 mc_reply[TN_ERRLEN];	/* "5.7.1 reason" */
	char			*mc_newbody;	/* replace the body */
	size_t			 mc_newbodylen;
	unsigned char		*mc_drop;	/* per rcpt: 1 delrcpt */
	int			 mc_discard;
	char			 mc_note[MSG_NOTELEN];	/* " key=value"... */
};

#define MSG_MAX_RCPTS	TN_MAX_RCPTS
#define MSG_DECLINE	2	/* mc_tandem: a decline code, no Tandem-Kind */

void	msg_fail(struct msg *, enum msg_verdict, const char *, ...)
	    TN_PRINTF(3, 4);
void	msg_note(struct msg *, const char *, ...) TN_PRINTF(2, 3);
void	msg_consume(struct msg *);
int	msg_process(struct msg *);
int	msg_db_write(struct msg *, PGconn *);
PGconn	*msg_db_get(struct msg *, int);
int	msg_db_end(struct msg *, PGconn *, int);
int	msg_for_service(const struct msg *);
int	decline_process(struct msg *);
int	content_process(struct msg *, PGconn *, struct tmail *);
int	service_process(struct msg *, PGconn *, struct tmail *);

/* A generation's keys, as service_issue() made them. */
struct issued {
	char		*is_key;	/* PEM, wiped by service_issued_free() */
	char		*is_ccert;	/* PEM, courier-end */
	char		*is_acert;	/* PEM, agent */
	unsigned char	*is_sealed;	/* the key, sealed (keybox.h) */
	size_t		 is_sealedlen;
	char		*is_serial;	/* of is_ccert, hex */
};

int	service_issue(const struct fg *, const char *, const char *,
	    struct issued *, char *);
void	service_issued_free(struct issued *);
int	service_exchange_text(const struct fg *, const char *, const char *,
	    const char *, const char *, char *, char **, size_t *, char *);
int	service_csr(const struct proto_part *, const char *, char *);
int	service_take(struct msg *, PGconn *, const unsigned char *, size_t,
	    X509 *, X509 *, int (*)(struct msg *, PGconn *,
	    const struct proto_msg *, void *), void *);

int	rekey_unwrap(const struct fg *, PGconn *, const char *,
	    const struct tmail *, const struct cms_id *, X509 *,
	    const struct cms_certsrc *, unsigned char **, size_t *, X509 **,
	    STACK_OF(X509) **, enum cms_fail *, char *);
int	rekey_exchange(struct msg *, PGconn *, const struct proto_msg *,
	    X509 *, X509 *);
int	rekey_complete(struct msg *, PGconn *, const struct proto_msg *,
	    X509 *, X509 *);
int	rekey_notices(const struct fg *, PGconn *, char *);
int	rekey_relay(const struct fg *, PGconn *, const char *, const char *,
	    const char *, const char *, const char *, size_t, char *);
int	transfer_send(const struct fg *, PGconn *, char *);
int	transfer_agent(struct msg *, PGconn *, const unsigned char *,
	    size_t);
int	transfer_activate(struct msg *, PGconn *, const char *);
int	rekey_policy(const struct fg *, PGconn *, char *);

int	fgdb_account_id(const struct fg *, PGconn *, const char *, int,
	    struct cms_id *, X509 **, char *);
int	fgdb_outbox(PGconn *, const char *, const char *, const char *,
	    const char *, size_t, char *);
int	fgdb_mail(PGconn *, const struct tmail_head *, const struct cms_id *,
	    X509 *, const unsigned char *, size_t, char *);
struct fed_item;
int	fgdb_declined_notice(const struct fg *, PGconn *, const char *,
	    const char *, const char *, char *);
int	fgdb_hold(const struct fg *, PGconn *, const char *, const char *,
	    const char *, const char *, const unsigned char *, size_t,
	    const struct fed_item *, char *);
void	fgdb_id_free(struct cms_id *);

struct pool	*pool_new(const char *, size_t);
void		 pool_free(struct pool *);
PGconn		*pool_get(struct pool *, int *);
void		 pool_put(struct pool *, PGconn *);

struct acache	*acache_new(void);
void		 acache_free(struct acache *);
void		*acache_main(void *);
void		 acache_forget(struct acache *);
int		 acache_exec(const struct fg *, PGconn *, const char *,
		    const char *, PGresult **, char *);

struct objcache	*objcache_new(void);
void		 objcache_free(struct objcache *);
X509		*objcache_cert(struct objcache *, const char *, size_t, char *);
X509		*objcache_der(void *, const unsigned char *, size_t);
#define OBJCACHE_VERIFY	0	/* kinds of remembered checks */
#define OBJCACHE_CHAIN	1
void		 objcache_remember(struct objcache *, int,
		    const unsigned char *, size_t, time_t, time_t);
int		 objcache_recall(struct objcache *, int, const unsigned char *,
		    size_t, time_t);
void		 objcache_chain_remember(void *, const unsigned char *, size_t,
		    time_t, time_t);
int		 objcache_chain_recall(void *, const unsigned char *, size_t,
		    time_t);
EVP_PKEY	*objcache_key(struct objcache *, const struct keybox *,
		    const char *, const unsigned char *, size_t, char *);

int	ca_start(const struct conf *, const struct pki_trust *,
	    STACK_OF(X509) *, X509 **, char *);
int	ca_in_chain(X509 *, STACK_OF(X509) *);
int	ca_unreadable(const struct conf *, const char *, char *);
int	ca_issue(const struct fg *, const char *, const char *, char **,
	    char **, char **, char *);

void	*outbox_main(void *);
int	hygiene_run(const struct fg *, char *);
int	hygiene_beat(const struct fg *, char *);

#define HYGIENE_BEAT	10	/* seconds between heartbeats */

#endif
