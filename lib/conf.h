/*
 * NAME
 *	conf.h - tandem.conf, read once into an immutable structure
 * SYNOPSIS
 *	#include "conf.h"
 *
 *	int	conf_load(const char *path, struct conf **out, char *err);
 *	int	conf_again(const struct conf *cf, struct conf **out, char *err);
 *	void	conf_free(struct conf *cf);
 *	int	conf_option(size_t i, const char **section, const char **key);
 *	int	conf_duration(const char *text, long *seconds);
 *	const char *conf_resolve(const struct conf *cf, const char *host,
 *		    int port, char *buf, size_t size);
 * DESCRIPTION
 *	conf_load() parses one tandem.conf (libconfuse syntax; see
 *	tandem.conf(5), which documents every option and its default)
 *	and copies every value once into a struct conf. Options not in
 *	the file take their defaults. The result should be passed to
 *	conf_free(); nothing in it changes afterwards, so threads may
 *	share it. conf_free(NULL) does nothing. CONF_PATH is the usual
 *	place of the file.
 *
 *	conf_again() parses once more the text cf was read from (kept in
 *	cf_text), not the file as it is now: what a daemon uses to load
 *	again what its configuration names (the revocation lists of
 *	tls.crl_file, on its schedule) without taking edits to the file
 *	that only a reload should take. Same results as conf_load().
 *
 *	Durations (cf_hold_limit, cf_purge_interval, cf_replay_window,
 *	cf_clock_skew, cf_expiry_warning, cf_history_limit, cf_rekey_after,
 *	cf_rekey_grace, cf_crl_refresh, cf_crl_fetch) are in seconds;
 *	host:port options are split into cf_*_host (a string) and
 *	cf_*_port. In cf_agent_maildir and cf_agent_store a leading "~/"
 *	is replaced by $HOME at load time. Domains are lower-cased.
 *	cf_held_key, when tls.held_key is not set, is held.key in the
 *	folder of cf_keybox_key.
 *
 *	conf_option() walks the option table: for i = 0, 1, ... it sets
 *	*section and *key (static strings) and returns 1, then 0 past the
 *	last option. The test that checks the manual page uses it.
 *
 *	conf_resolve() is the address to connect to for host:port: the
 *	one an agent.resolve entry ("host:port:address") gives, copied
 *	into buf, or else host itself, for the system to resolve.
 *
 *	conf_duration() reads "90s", "15m", "12h", "30d", "2w" or a bare
 *	number of seconds; 0, or -1 if the text is not a duration or
 *	overflows.
 * DIAGNOSTICS
 *	conf_load() returns 0, or -1 with err set to
 *	"FILE:LINE: SECTION: KEY: reason" (libconfuse's own messages,
 *	such as "no such option 'foo'", name the key themselves), or
 *	"FILE: reason" when the file cannot be read. Unknown keys, wrong
 *	types, out-of-range values and inconsistent courier settings
 *	(a private courier without domains or superior, a root with a
 *	superior) are all errors.
 */
#ifndef TANDEM_CONF_H
#define TANDEM_CONF_H

#include <stddef.h>

#include "pki.h"

#ifndef TANDEM_SYSCONFDIR
#define TANDEM_SYSCONFDIR	"/etc/tandem"
#endif
#define CONF_PATH	TANDEM_SYSCONFDIR "/tandem.conf"
#define CONF_MAX_TEXT	(1 << 20)	/* bytes of a tandem.conf */

struct conf {
	char		*cf_path;
	char		*cf_text;	/* as read, for conf_again() */
	size_t		 cf_textlen;

	/* courier */
	char		*cf_name;
	enum pki_role	 cf_role;
	char		**cf_domains;
	size_t		 cf_ndomains;
	char		*cf_superior;
	int		 cf_superior_gateway;

	/* foreground */
	char		*cf_milter_socket;
	char		*cf_socket_group;	/* of a unix: socket */
	long		 cf_socket_mode;	/* of a unix: socket */
	char		*cf_milter_user;	/* the milter runs as */
	char		*cf_reinject_host;
	int		 cf_reinject_port;
	int		 cf_max_invitations;	/* a sender, a day; 0: any */
	long		 cf_max_messages;
	int		 cf_fg_peer_rate;	/* a minute; 0: any */
	char		*cf_service_mailbox;
	char		*cf_ca_dir;
	char		*cf_ca_user;	/* "": none */
	char		*cf_user_submission;	/* in invitations; "": none */
	char		*cf_anchor_url;	/* in invitations; "": none */

	/* background */
	char		*cf_listen_host;
	int		 cf_listen_port;
	char		*cf_url;
	long		 cf_max_request;
	char		*cf_metrics_host;	/* NULL: no counters served */
	int		 cf_metrics_port;
	int		 cf_workers;		/* 0: one per CPU */
	int		 cf_max_peer_connections;
	int		 cf_max_peer_rate;	/* a minute; 0: any */

	/* database */
	char		*cf_conninfo;

	/* tls */
	char		*cf_anchors;
	char		*cf_cert;
	char		*cf_key;
	char		*cf_chain;
	char		*cf_keybox_key;
	char		*cf_held_key;	/* foreground only */
	long		 cf_expiry_warning;	/* warn this long before */
	char		*cf_crl_file;	/* "": no revocation check */
	int		 cf_crl_accept;	/* a CA's list missing or old: pass */
	long		 cf_crl_refresh;	/* crl_file looked at; 0: never */
	char		**cf_crl_urls;	/* fetched into crl_file */
	size_t		 cf_ncrl_urls;
	long		 cf_crl_fetch;	/* fetched this often */
	char		*cf_crl_issuers;	/* "": tls.anchors, tls.chain */

	/* hygiene */
	long		 cf_hold_limit;
	long		 cf_purge_interval;
	long		 cf_replay_window;	/* ids kept, oldest Date taken */
	long		 cf_clock_skew;		/* latest Date taken: now + */
	long		 cf_history_limit;	/* help-desk history kept */
	long		 cf_rekey_after;	/* agent cert age; 0: never */
	int		 cf_rekey_batch;	/* rekeys started a sweep */
	long		 cf_rekey_grace;	/* old generation accepted */

	/* agent */
	char		*cf_submission_host;
	int		 cf_submission_port;
	int		 cf_submission_starttls;
	char		*cf_submission_ca;	/* "": the system's */
	char		*cf_submission_user;	/* "": no SMTP AUTH */
	char		*cf_submission_password_file;
	char		*cf_bg_url;
	char		*cf_agent_maildir;
	char		*cf_agent_store;
	char		**cf_resolve;	/* "host:port:address" */
	size_t		 cf_nresolve;
};

int	conf_load(const char *, struct conf **, char *);
int	conf_again(const struct conf *, struct conf **, char *);
void	conf_free(struct conf *);
int	conf_option(size_t, const char **, const char **);
int	conf_duration(const char *, long *);
const char *conf_resolve(const struct conf *, const char *, int, char *,
	    size_t);

#endif
