/*
 * NAME
 *	conf.c - tandem.conf, read once into an immutable structure
 * DESCRIPTION
 *	See conf.h. One libconfuse option table with every default,
 *	validate callbacks for every bound, an error function that
 *	writes "FILE:LINE: SECTION: message" into the caller's buffer,
 *	then one copy of every value into struct conf and cfg_free().
 *
 *	libconfuse's error function has no user pointer; the buffer and
 *	the file name are passed to it through thread-local variables
 *	that only live during conf_load().
 * DIAGNOSTICS
 *	See conf.h.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tandem.h"
#include "conf.h"
#include "route.h"
#include "util.h"

#define DAY	86400L

static __thread char *conf_errbuf;
static __thread const char *conf_errpath;
static __thread unsigned int conf_seen[16];	/* per section of conf_opts */

static cfg_opt_t conf_courier_opts[] = {
	CFG_STR("name", "", CFGF_NONE),
	CFG_STR("role", "public", CFGF_NONE),
	CFG_STR_LIST("domains", "{}", CFGF_NONE),
	CFG_STR("superior", "", CFGF_NONE),
	CFG_BOOL("superior_gateway", cfg_false, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t conf_foreground_opts[] = {
	CFG_STR("milter_socket", "unix:/run/tandem/milter.sock", CFGF_NONE),
	CFG_STR("socket_group", "postfix", CFGF_NONE),
	CFG_STR("socket_mode", "0660", CFGF_NONE),
	CFG_STR("user", "nobody", CFGF_NONE),
	CFG_STR("reinject", "127.0.0.1:10026", CFGF_NONE),
	CFG_INT("max_messages", 64, CFGF_NONE),
	CFG_INT("max_peer_rate", 600, CFGF_NONE),
	CFG_INT("max_invitations", 50, CFGF_NONE),
	CFG_STR("service_mailbox", "", CFGF_NONE),
	CFG_STR("ca_dir", TANDEM_SYSCONFDIR "/ca", CFGF_NONE),
	CFG_STR("ca_user", "", CFGF_NONE),
	CFG_STR("user_submission", "", CFGF_NONE),
	CFG_STR("anchor_url", "", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t conf_background_opts[] = {
	CFG_STR("listen", "127.0.0.1:8443", CFGF_NONE),
	CFG_STR("url", "", CFGF_NONE),
	CFG_INT("max_request_size", 1048576, CFGF_NONE),
	CFG_STR("metrics_listen", "", CFGF_NONE),
	CFG_INT("workers", 0, CFGF_NONE),
	CFG_INT("max_peer_connections", 64, CFGF_NONE),
	CFG_INT("max_peer_rate", 6000, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t conf_database_opts[] = {
	CFG_STR("conninfo", "dbname=tandem", CFGF_NONE),
	CFG_END()
};

static int	conf_parse_duration(cfg_t *, cfg_opt_t *, const char *, void *);

static cfg_opt_t conf_tls_opts[] = {
	CFG_STR("anchors", TANDEM_SYSCONFDIR "/anchors.pem", CFGF_NONE),
	CFG_STR("cert", TANDEM_SYSCONFDIR "/element.pem", CFGF_NONE),
	CFG_STR("key", TANDEM_SYSCONFDIR "/element.key", CFGF_NONE),
	CFG_STR("chain", TANDEM_SYSCONFDIR "/chain.pem", CFGF_NONE),
	CFG_STR("keybox_key", TANDEM_SYSCONFDIR "/keybox.key", CFGF_NONE),
	CFG_STR("held_key", "", CFGF_NONE),
	CFG_INT_CB("expiry_warning", 30 * DAY, CFGF_NONE, conf_parse_duration),
	CFG_STR("crl_file", "", CFGF_NONE),
	CFG_STR("crl_missing", "refuse", CFGF_NONE),
	CFG_INT_CB("crl_refresh", 60, CFGF_NONE, conf_parse_duration),
	CFG_STR_LIST("crl_url", "{}", CFGF_NONE),
	CFG_INT_CB("crl_fetch", 3600, CFGF_NONE, conf_parse_duration),
	CFG_STR("crl_issuers", "", CFGF_NONE),
	CFG_END()
};


static cfg_opt_t conf_hygiene_opts[] = {
	CFG_INT_CB("hold_limit", 30 * DAY, CFGF_NONE, conf_parse_duration),
	CFG_INT_CB("purge_interval", 3600, CFGF_NONE, conf_parse_duration),
	CFG_INT_CB("replay_window", 7 * DAY, CFGF_NONE, conf_parse_duration),
	CFG_INT_CB("clock_skew", 600, CFGF_NONE, conf_parse_duration),
	CFG_INT_CB("history_limit", 30 * DAY, CFGF_NONE,
	    conf_parse_duration),
	CFG_INT_CB("rekey_after", 0, CFGF_NONE, conf_parse_duration),
	CFG_INT("rekey_batch", 10, CFGF_NONE),
	CFG_INT_CB("rekey_grace", 7 * DAY, CFGF_NONE, conf_parse_duration),
	CFG_END()
};

static cfg_opt_t conf_agent_opts[] = {
	CFG_STR("submission", "127.0.0.1:587", CFGF_NONE),
	CFG_STR("submission_tls", "none", CFGF_NONE),
	CFG_STR("submission_ca", "", CFGF_NONE),
	CFG_STR("submission_user", "", CFGF_NONE),
	CFG_STR("submission_password_file", "", CFGF_NONE),
	CFG_STR("bg_url", "", CFGF_NONE),
	CFG_STR("maildir", "~/Maildir", CFGF_NONE),
	CFG_STR("store", "~/.tandem/agent.db", CFGF_NONE),
	CFG_STR_LIST("resolve", "{}", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t conf_opts[] = {
	CFG_SEC("courier", conf_courier_opts, CFGF_NONE),
	CFG_SEC("foreground", conf_foreground_opts, CFGF_NONE),
	CFG_SEC("background", conf_background_opts, CFGF_NONE),
	CFG_SEC("database", conf_database_opts, CFGF_NONE),
	CFG_SEC("tls", conf_tls_opts, CFGF_NONE),
	CFG_SEC("hygiene", conf_hygiene_opts, CFGF_NONE),
	CFG_SEC("agent", conf_agent_opts, CFGF_NONE),
	CFG_END()
};

/* Bounds of the integer options, checked by conf_check_range(). */
static const struct {
	const char	*cb_section, *cb_key;
	long		 cb_min, cb_max;
} conf_bounds[] = {
	{ "foreground", "max_messages", 1, 10000 },
	{ "foreground", "max_peer_rate", 0, 1000000 },
	{ "foreground", "max_invitations", 0, 1000000 },
	{ "background", "max_request_size", 1024, TN_MAX_MESSAGE },
	{ "background", "workers", 0, 64 },
	{ "background", "max_peer_connections", 1, 10000 },
	{ "background", "max_peer_rate", 0, 1000000 },
	{ "hygiene", "hold_limit", 1, 365 * DAY },
	{ "hygiene", "purge_interval", 1, DAY },
	{ "hygiene", "replay_window", 60, 365 * DAY },
	{ "hygiene", "clock_skew", 0, DAY },
	{ "tls", "expiry_warning", 0, 365 * DAY },
	{ "tls", "crl_refresh", 0, DAY },
	{ "tls", "crl_fetch", 1, DAY },
	{ "hygiene", "history_limit", 1, 3650 * DAY },
	{ "hygiene", "rekey_after", 0, 3650 * DAY },
	{ "hygiene", "rekey_batch", 1, 1000 },
	{ "hygiene", "rekey_grace", 0, 365 * DAY },
};

static const struct {
	const char	*cr_name;
	enum pki_role	 cr_role;
} conf_roles[] = {
	{ "root", PKI_ROLE_ROOT },
	{ "public", PKI_ROLE_PUBLIC },
	{ "private", PKI_ROLE_PRIVATE },
	{ "gateway", PKI_ROLE_GATEWAY },
};

int
conf_option(size_t i, const char **section, const char **key)
{
	cfg_opt_t *sec, *o;

	for (sec = conf_opts; sec->name != NULL; sec++)
		for (o = sec->subopts; o->name != NULL; o++)
			if (i-- == 0) {
				*section = sec->name;
				*key = o->name;
				return 1;
			}
	return 0;
}

int
conf_duration(const char *text, long *seconds)
{
	static const struct {
		char	u_c;
		long	u_mul;
	} units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', DAY },
		{ 'w', 7 * DAY },
	};
	unsigned long n;
	char *end;
	size_t i;

	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	n = strtoul(text, &end, 10);
	if (errno != 0 || n > LONG_MAX)
		return -1;
	if (*end == '\0') {
		*seconds = (long)n;
		return 0;
	}
	if (end[1] != '\0')
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (*end == units[i].u_c) {
			if (n > (unsigned long)(LONG_MAX / units[i].u_mul))
				return -1;
			*seconds = (long)n * units[i].u_mul;
			return 0;
		}
	return -1;
}

static int
conf_parse_duration(cfg_t *cfg, cfg_opt_t *opt, const char *value,
    void *result)
{
	if (conf_duration(value, result) == -1) {
		cfg_error(cfg, "%s: bad duration \"%s\" (use 90s, 15m, 12h, "
		    "30d, 2w)", opt->name, value);
		return -1;
	}
	return 0;
}

static void
conf_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[TN_ERRLEN];
	const char *sec = "";

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (conf_errbuf == NULL || conf_errbuf[0] != '\0')
		return;		/* keep the first error */
	if (cfg != NULL && cfg->name != NULL && strcmp(cfg->name, "root") != 0)
		sec = cfg->name;
	tn_err(conf_errbuf, "%s:%d: %s%s%s", conf_errpath,
	    cfg != NULL ? cfg->line : 0, sec, *sec ? ": " : "", msg);
}

static int
conf_check_range(cfg_t *cfg, cfg_opt_t *opt)
{
	long v;
	size_t i;

	v = cfg_opt_getnint(opt, cfg_opt_size(opt) - 1);
	for (i = 0; i < sizeof(conf_bounds) / sizeof(conf_bounds[0]); i++) {
		if (strcmp(conf_bounds[i].cb_section, cfg->name) != 0 ||
		    strcmp(conf_bounds[i].cb_key, opt->name) != 0)
			continue;
		if (v < conf_bounds[i].cb_min || v > conf_bounds[i].cb_max) {
			cfg_error(cfg, "%s: %ld is out of range %ld..%ld",
			    opt->name, v, conf_bounds[i].cb_min,
			    conf_bounds[i].cb_max);
			return -1;
		}
	}
	return 0;
}

static int
conf_role_parse(const char *name, enum pki_role *role)
{
	size_t i;

	for (i = 0; i < sizeof(conf_roles) / sizeof(conf_roles[0]); i++)
		if (strcmp(conf_roles[i].cr_name, name) == 0) {
			*role = conf_roles[i].cr_role;
			return 0;
		}
	return -1;
}

static int
conf_check_role(cfg_t *cfg, cfg_opt_t *opt)
{
	enum pki_role role;
	const char *v;

	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	if (conf_role_parse(v, &role) == -1) {
		cfg_error(cfg, "%s: \"%s\" is not one of root, public, "
		    "private, gateway", opt->name, v);
		return -1;
	}
	return 0;
}

static int
conf_check_domains(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v;
	unsigned int i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		v = cfg_opt_getnstr(opt, i);
		if (!route_domain_valid(v)) {
			cfg_error(cfg, "%s: \"%s\" is not a domain name",
			    opt->name, v);
			return -1;
		}
	}
	return 0;
}

/* host:port or [v6]:port; host and port may be NULL. */
static int
conf_hostport(const char *v, char **host, int *port)
{
	const char *colon, *h = v, *he;
	char *end;
	long p;

	if ((colon = strrchr(v, ':')) == NULL || colon == v)
		return -1;
	he = colon;
	if (*v == '[') {
		if (colon[-1] != ']' || colon - v < 3)
			return -1;
		h = v + 1;
		he = colon - 1;
	} else if (memchr(v, ':', (size_t)(colon - v)) != NULL)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || *end != '\0' || errno != 0 ||
	    p < 1 || p > 65535)
		return -1;
	if (host != NULL && (*host = strndup(h, (size_t)(he - h))) == NULL)
		return -1;
	if (port != NULL)
		*port = (int)p;
	return 0;
}

static int
conf_check_hostport(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v;

	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	if (conf_hostport(v, NULL, NULL) == -1) {
		cfg_error(cfg, "%s: \"%s\" is not host:port (port 1..65535)",
		    opt->name, v);
		return -1;
	}
	return 0;
}

/*
 * host:port on loopback only (127.0.0.0/8, ::1 or localhost); why says
 * why, in the error. 1 when it is, 0 when not (said), -1.
 */
static int
conf_loopback(cfg_t *cfg, cfg_opt_t *opt, const char *why)
{
	struct in6_addr a6;
	struct in_addr a4;
	const char *v;
	char *host = NULL;
	int ok;

	if (conf_check_hostport(cfg, opt) == -1)
		return -1;
	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	if (conf_hostport(v, &host, NULL) == -1) {
		cfg_error(cfg, "%s: out of memory", opt->name);
		return -1;
	}
	ok = strcasecmp(host, "localhost") == 0 ||
	    (inet_pton(AF_INET, host, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127) ||
	    (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
	free(host);
	if (!ok) {
		cfg_error(cfg, "%s: \"%s\" is not a loopback address "
		    "(127.0.0.0/8, ::1, localhost): %s", opt->name, v, why);
		return -1;
	}
	return 0;
}

/*
 * The reinjection smtpd runs without the milter: it must listen on
 * loopback only, never where another host could hand it mail that
 * skips the courier's checks.
 */
static int
conf_check_reinject(cfg_t *cfg, cfg_opt_t *opt)
{
	return conf_loopback(cfg, opt, "the reinjection smtpd has no milter");
}

/* The counters are for the operator's own host: loopback, or unset. */
static int
conf_check_metrics(cfg_t *cfg, cfg_opt_t *opt)
{
	if (*cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1) == '\0')
		return 0;
	return conf_loopback(cfg, opt, "the counters are served without "
	    "TLS or client certificates, to this host only");
}

/* A user or group name: not empty, no blanks. */
static int
conf_check_name(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v;

	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	if (*v == '\0' || strpbrk(v, " \t\r\n:") != NULL) {
		cfg_error(cfg, "%s: \"%s\" is not a user or group name",
		    opt->name, v);
		return -1;
	}
	return 0;
}

/*
 * A unix: socket's mode: octal, at most 0777, and never writable by
 * others, who could then speak the milter protocol to the milter.
 */
static int
conf_socket_mode(const char *v, long *mode)
{
	char *end;

	if (*v < '0' || *v > '7')
		return -1;
	errno = 0;
	*mode = strtol(v, &end, 8);
	if (errno != 0 || *end != '\0' || *mode > 0777 || (*mode & 0002))
		return -1;
	return 0;
}

static int
conf_check_mode(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v;
	long mode;

	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	if (conf_socket_mode(v, &mode) == -1) {
		cfg_error(cfg, "%s: \"%s\" is not an octal mode up to 0777 "
		    "that others cannot write", opt->name, v);
		return -1;
	}
	return 0;
}

/* The options that take one of a few words, checked by conf_check_oneof(). */
static const struct {
	const char	*co_section, *co_key;
	const char	*co_words[3];	/* NULL-ended */
} conf_oneof[] = {
	{ "agent", "submission_tls", { "none", "starttls", NULL } },
	{ "tls", "crl_missing", { "refuse", "accept", NULL } },
};

static int
conf_check_oneof(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v, *const *w;
	char list[64];
	size_t i;

	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	for (i = 0; i < sizeof(conf_oneof) / sizeof(conf_oneof[0]); i++) {
		if (strcmp(conf_oneof[i].co_section, cfg->name) != 0 ||
		    strcmp(conf_oneof[i].co_key, opt->name) != 0)
			continue;
		list[0] = '\0';
		for (w = conf_oneof[i].co_words; *w != NULL; w++) {
			if (strcmp(v, *w) == 0)
				return 0;
			snprintf(list + strlen(list), sizeof(list) - strlen(list),
			    "%s%s", list[0] != '\0' ? ", " : "", *w);
		}
		cfg_error(cfg, "%s: \"%s\" is not one of %s", opt->name, v,
		    list);
		return -1;
	}
	return 0;
}

static int
conf_check_url(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v;

	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	if (*v != '\0' && (strncmp(v, "https://", 8) != 0 || v[8] == '\0' ||
	    v[8] == '/' || strpbrk(v, " \t\r\n") != NULL)) {
		cfg_error(cfg, "%s: \"%s\" is not an https:// URL",
		    opt->name, v);
		return -1;
	}
	return 0;
}

static int
conf_check_socket(cfg_t *cfg, cfg_opt_t *opt)
{
	static const char *prefixes[] = { "unix:/", "local:/", "inet:",
		"inet6:" };
	const char *v;
	size_t i;

	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(v, prefixes[i], strlen(prefixes[i])) == 0 &&
		    v[strlen(prefixes[i])] != '\0')
			return 0;
	cfg_error(cfg, "%s: \"%s\" is not unix:/PATH, local:/PATH, "
	    "inet:PORT@HOST or inet6:PORT@HOST", opt->name, v);
	return -1;
}

static int
conf_check_mailbox(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v, *at;

	v = cfg_opt_getnstr(opt, cfg_opt_size(opt) - 1);
	if (*v == '\0')
		return 0;
	at = strrchr(v, '@');
	if (at == NULL || at == v || !route_domain_valid(at + 1) ||
	    strlen(v) > TN_MAX_ADDRESS) {
		cfg_error(cfg, "%s: \"%s\" is not an address", opt->name, v);
		return -1;
	}
	return 0;
}

/* Called at each closing brace: a section may appear once. */
static int
conf_check_once(cfg_t *cfg, cfg_opt_t *opt)
{
	size_t i;

	for (i = 0; conf_opts[i].name != NULL; i++)
		if (strcmp(conf_opts[i].name, opt->name) == 0 &&
		    i < sizeof(conf_seen) / sizeof(conf_seen[0]) &&
		    ++conf_seen[i] > 1) {
			cfg_error(cfg, "%s: section given twice", opt->name);
			return -1;
		}
	return 0;
}

/* The courier section as a whole, at its closing brace. */
static int
conf_check_courier(cfg_t *cfg, cfg_opt_t *opt)
{
	enum pki_role role = PKI_ROLE_PUBLIC;
	const char *name, *superior, *why = NULL;
	cfg_t *sec;

	if (conf_check_once(cfg, opt) == -1)
		return -1;
	sec = cfg_opt_getnsec(opt, 0);
	name = cfg_getstr(sec, "name");
	superior = cfg_getstr(sec, "superior");
	(void)conf_role_parse(cfg_getstr(sec, "role"), &role);
	if (role == PKI_ROLE_PRIVATE && cfg_size(sec, "domains") == 0)
		why = "domains: a private courier needs its domains";
	else if (role == PKI_ROLE_ROOT && *superior != '\0')
		why = "superior: the root courier has no superior";
	else if (role == PKI_ROLE_ROOT && cfg_getbool(sec, "superior_gateway"))
		why = "superior_gateway: the root courier has no superior";
	else if (role != PKI_ROLE_ROOT && *name != '\0' && *superior == '\0')
		why = "superior: only the root courier may have none";
	if (why != NULL) {
		cfg_error(cfg, "courier: %s", why);
		return -1;
	}
	return 0;
}

/* tls.crl_url: http:// URLs (a list is signed) or files. */
static int
conf_check_crl_url(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v;
	unsigned int i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		v = cfg_opt_getnstr(opt, i);
		if (strpbrk(v, " \t\r\n") == NULL && (*v == '/' ||
		    (strncmp(v, "http://", 7) == 0 && v[7] != '\0' &&
		    v[7] != '/')))
			continue;
		cfg_error(cfg, "%s: \"%s\" is not an http:// URL or a file's "
		    "path (a list is signed: no TLS is needed)", opt->name, v);
		return -1;
	}
	return 0;
}

/* The tls section as a whole, at its closing brace. */
static int
conf_check_tls(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec;

	if (conf_check_once(cfg, opt) == -1)
		return -1;
	sec = cfg_opt_getnsec(opt, 0);
	if (cfg_size(sec, "crl_url") > 0 && *cfg_getstr(sec, "crl_file") ==
	    '\0') {
		cfg_error(cfg, "tls: crl_url: the lists fetched are written "
		    "to crl_file, which is not set");
		return -1;
	}
	return 0;
}

static void
conf_validators(cfg_t *cfg)
{
	size_t i;
	char name[64];

	for (i = 0; conf_opts[i].name != NULL; i++)
		cfg_set_validate_func(cfg, conf_opts[i].name, conf_check_once);
	for (i = 0; i < sizeof(conf_bounds) / sizeof(conf_bounds[0]); i++) {
		snprintf(name, sizeof(name), "%s|%s", conf_bounds[i].cb_section,
		    conf_bounds[i].cb_key);
		cfg_set_validate_func(cfg, name, conf_check_range);
	}
	for (i = 0; i < sizeof(conf_oneof) / sizeof(conf_oneof[0]); i++) {
		snprintf(name, sizeof(name), "%s|%s", conf_oneof[i].co_section,
		    conf_oneof[i].co_key);
		cfg_set_validate_func(cfg, name, conf_check_oneof);
	}
	cfg_set_validate_func(cfg, "courier|role", conf_check_role);
	cfg_set_validate_func(cfg, "courier|domains", conf_check_domains);
	cfg_set_validate_func(cfg, "courier", conf_check_courier);
	cfg_set_validate_func(cfg, "foreground|milter_socket",
	    conf_check_socket);
	cfg_set_validate_func(cfg, "foreground|reinject", conf_check_reinject);
	cfg_set_validate_func(cfg, "foreground|socket_group", conf_check_name);
	cfg_set_validate_func(cfg, "foreground|socket_mode", conf_check_mode);
	cfg_set_validate_func(cfg, "foreground|user_submission",
	    conf_check_hostport);
	cfg_set_validate_func(cfg, "foreground|anchor_url", conf_check_url);
	cfg_set_validate_func(cfg, "foreground|user", conf_check_name);
	cfg_set_validate_func(cfg, "foreground|service_mailbox",
	    conf_check_mailbox);
	cfg_set_validate_func(cfg, "background|listen", conf_check_hostport);
	cfg_set_validate_func(cfg, "background|url", conf_check_url);
	cfg_set_validate_func(cfg, "background|metrics_listen",
	    conf_check_metrics);
	cfg_set_validate_func(cfg, "agent|submission", conf_check_hostport);
	cfg_set_validate_func(cfg, "agent|bg_url", conf_check_url);
	cfg_set_validate_func(cfg, "tls", conf_check_tls);
	cfg_set_validate_func(cfg, "tls|crl_url", conf_check_crl_url);
}

/* Copy one string; with home, a leading "~/" becomes $HOME/. */
static int
conf_str(cfg_t *cfg, const char *name, int home, char **dst, char *err)
{
	const char *v = cfg_getstr(cfg, name), *h;

	if (home && strncmp(v, "~/", 2) == 0) {
		if ((h = getenv("HOME")) == NULL || *h == '\0') {
			tn_err(err, "%s: %s starts with ~/ but HOME is not set",
			    conf_errpath, name);
			return -1;
		}
		if (asprintf(dst, "%s/%s", h, v + 2) == -1) {
			*dst = NULL;
			tn_err(err, "out of memory");
			return -1;
		}
		return 0;
	}
	if ((*dst = strdup(v)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	return 0;
}

/* tls.held_key, or held.key in the folder of tls.keybox_key. */
static int
conf_held_key(cfg_t *tls, struct conf *cf, char *err)
{
	const char *v = cfg_getstr(tls, "held_key"), *slash;
	int n;

	if (*v != '\0')
		return conf_str(tls, "held_key", 0, &cf->cf_held_key, err);
	slash = strrchr(cf->cf_keybox_key, '/');
	n = slash == NULL ? asprintf(&cf->cf_held_key, "held.key") :
	    asprintf(&cf->cf_held_key, "%.*s/held.key",
	    (int)(slash - cf->cf_keybox_key), cf->cf_keybox_key);
	if (n == -1) {
		cf->cf_held_key = NULL;
		tn_err(err, "out of memory");
		return -1;
	}
	return 0;
}

static int
conf_copy_courier(cfg_t *sec, struct conf *cf, char *err)
{
	size_t i, n;
	char *p;

	if (conf_str(sec, "name", 0, &cf->cf_name, err) == -1 ||
	    conf_str(sec, "superior", 0, &cf->cf_superior, err) == -1)
		return -1;
	(void)conf_role_parse(cfg_getstr(sec, "role"), &cf->cf_role);
	cf->cf_superior_gateway = cfg_getbool(sec, "superior_gateway");
	n = cfg_size(sec, "domains");
	if ((cf->cf_domains = calloc(n + 1, sizeof(char *))) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((p = strdup(cfg_getnstr(sec, "domains", i))) == NULL) {
			tn_err(err, "out of memory");
			return -1;
		}
		cf->cf_domains[cf->cf_ndomains++] = p;
		for (; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	return 0;
}

static int
conf_copy_hostport(cfg_t *sec, const char *name, char **host, int *port,
    char *err)
{
	if (conf_hostport(cfg_getstr(sec, name), host, port) == -1) {
		tn_err(err, "%s: %s: cannot copy", conf_errpath, name);
		return -1;
	}
	return 0;
}

static int
conf_copy_list(cfg_t *sec, const char *key, char ***dst, size_t *n,
    char *err)
{
	size_t i, count;

	count = cfg_size(sec, key);
	if ((*dst = calloc(count + 1, sizeof(char *))) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (((*dst)[i] = strdup(cfg_getnstr(sec, key, i))) == NULL) {
			tn_err(err, "out of memory");
			return -1;
		}
		*n = i + 1;
	}
	return 0;
}

static int
conf_copy(cfg_t *cfg, struct conf *cf, char *err)
{
	cfg_t *fg, *bg, *tls, *hy, *ag;

	fg = cfg_getsec(cfg, "foreground");
	bg = cfg_getsec(cfg, "background");
	tls = cfg_getsec(cfg, "tls");
	hy = cfg_getsec(cfg, "hygiene");
	ag = cfg_getsec(cfg, "agent");
	if (conf_copy_courier(cfg_getsec(cfg, "courier"), cf, err) == -1 ||
	    conf_str(fg, "milter_socket", 0, &cf->cf_milter_socket, err) ||
	    conf_str(fg, "socket_group", 0, &cf->cf_socket_group, err) ||
	    conf_socket_mode(cfg_getstr(fg, "socket_mode"),
	    &cf->cf_socket_mode) == -1 ||
	    conf_str(fg, "user", 0, &cf->cf_milter_user, err) ||
	    conf_copy_hostport(fg, "reinject", &cf->cf_reinject_host,
	    &cf->cf_reinject_port, err) ||
	    conf_str(fg, "service_mailbox", 0, &cf->cf_service_mailbox,
	    err) ||
	    conf_str(fg, "ca_dir", 0, &cf->cf_ca_dir, err) ||
	    conf_str(fg, "ca_user", 0, &cf->cf_ca_user, err) ||
	    conf_str(fg, "user_submission", 0, &cf->cf_user_submission,
	    err) ||
	    conf_str(fg, "anchor_url", 0, &cf->cf_anchor_url, err) ||
	    conf_copy_hostport(bg, "listen", &cf->cf_listen_host,
	    &cf->cf_listen_port, err) ||
	    conf_str(bg, "url", 0, &cf->cf_url, err) ||
	    (*cfg_getstr(bg, "metrics_listen") != '\0' &&
	    conf_copy_hostport(bg, "metrics_listen", &cf->cf_metrics_host,
	    &cf->cf_metrics_port, err)) ||
	    conf_str(cfg_getsec(cfg, "database"), "conninfo", 0,
	    &cf->cf_conninfo, err) ||
	    conf_str(tls, "anchors", 0, &cf->cf_anchors, err) ||
	    conf_str(tls, "cert", 0, &cf->cf_cert, err) ||
	    conf_str(tls, "key", 0, &cf->cf_key, err) ||
	    conf_str(tls, "chain", 0, &cf->cf_chain, err) ||
	    conf_str(tls, "keybox_key", 0, &cf->cf_keybox_key, err) ||
	    conf_str(tls, "crl_file", 0, &cf->cf_crl_file, err) ||
	    conf_str(tls, "crl_issuers", 0, &cf->cf_crl_issuers, err) ||
	    conf_copy_list(tls, "crl_url", &cf->cf_crl_urls, &cf->cf_ncrl_urls,
	    err) ||
	    conf_copy_hostport(ag, "submission", &cf->cf_submission_host,
	    &cf->cf_submission_port, err) ||
	    conf_str(ag, "submission_ca", 1, &cf->cf_submission_ca, err) ||
	    conf_str(ag, "submission_user", 0, &cf->cf_submission_user,
	    err) ||
	    conf_str(ag, "submission_password_file", 1,
	    &cf->cf_submission_password_file, err) ||
	    conf_str(ag, "bg_url", 0, &cf->cf_bg_url, err) ||
	    conf_str(ag, "maildir", 1, &cf->cf_agent_maildir, err) ||
	    conf_str(ag, "store", 1, &cf->cf_agent_store, err) ||
	    conf_copy_list(ag, "resolve", &cf->cf_resolve, &cf->cf_nresolve,
	    err))
		return -1;
	if (conf_held_key(tls, cf, err) == -1)
		return -1;
	cf->cf_max_messages = cfg_getint(fg, "max_messages");
	cf->cf_fg_peer_rate = (int)cfg_getint(fg, "max_peer_rate");
	cf->cf_max_invitations = (int)cfg_getint(fg, "max_invitations");
	cf->cf_max_request = cfg_getint(bg, "max_request_size");
	cf->cf_workers = (int)cfg_getint(bg, "workers");
	cf->cf_max_peer_connections = (int)cfg_getint(bg,
	    "max_peer_connections");
	cf->cf_max_peer_rate = (int)cfg_getint(bg, "max_peer_rate");
	cf->cf_submission_starttls = strcmp(cfg_getstr(ag, "submission_tls"),
	    "starttls") == 0;
	cf->cf_hold_limit = cfg_getint(hy, "hold_limit");
	cf->cf_purge_interval = cfg_getint(hy, "purge_interval");
	cf->cf_replay_window = cfg_getint(hy, "replay_window");
	cf->cf_clock_skew = cfg_getint(hy, "clock_skew");
	cf->cf_expiry_warning = cfg_getint(tls, "expiry_warning");
	cf->cf_crl_accept = strcmp(cfg_getstr(tls, "crl_missing"),
	    "accept") == 0;
	cf->cf_crl_refresh = cfg_getint(tls, "crl_refresh");
	cf->cf_crl_fetch = cfg_getint(tls, "crl_fetch");
	cf->cf_history_limit = cfg_getint(hy, "history_limit");
	cf->cf_rekey_after = cfg_getint(hy, "rekey_after");
	cf->cf_rekey_batch = (int)cfg_getint(hy, "rekey_batch");
	cf->cf_rekey_grace = cfg_getint(hy, "rekey_grace");
	return 0;
}

static char conf_blank[] = "\n";

/* Parse text (len bytes, from path) into *out, which takes text. */
static int
conf_parse(const char *path, char *text, size_t len, struct conf **out,
    char *err)
{
	struct conf *cf = NULL;
	cfg_t *cfg = NULL;
	FILE *fp = NULL;
	int rc = -1;

	*out = NULL;
	err[0] = '\0';
	conf_errbuf = err;
	conf_errpath = path;
	memset(conf_seen, 0, sizeof(conf_seen));
	/* An empty file is all defaults; fmemopen() wants a byte. */
	if ((fp = len > 0 ? fmemopen(text, len, "r") : fmemopen(conf_blank,
	    1, "r")) == NULL) {
		tn_err(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((cfg = cfg_init(conf_opts, CFGF_NONE)) == NULL) {
		tn_err(err, "%s: cannot set up the parser", path);
		goto out;
	}
	cfg_set_error_function(cfg, conf_errfunc);
	conf_validators(cfg);
	if (cfg_parse_fp(cfg, fp) != CFG_SUCCESS) {
		if (err[0] == '\0')
			tn_err(err, "%s: cannot parse", path);
		goto out;
	}
	if ((cf = calloc(1, sizeof(*cf))) == NULL ||
	    (cf->cf_path = strdup(path)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	cf->cf_text = text;
	cf->cf_textlen = len;
	text = NULL;
	if (conf_copy(cfg, cf, err) == -1)
		goto out;
	*out = cf;
	cf = NULL;
	rc = 0;
out:
	free(text);
	conf_free(cf);
	cfg_free(cfg);
	if (fp != NULL)
		fclose(fp);
	conf_errbuf = NULL;
	conf_errpath = NULL;
	return rc;
}

int
conf_load(const char *path, struct conf **out, char *err)
{
	unsigned char *text;
	size_t len;

	*out = NULL;
	if (util_read_file(path, CONF_MAX_TEXT, &text, &len, err) == -1)
		return -1;
	return conf_parse(path, (char *)text, len, out, err);
}

int
conf_again(const struct conf *cf, struct conf **out, char *err)
{
	char *text;
	size_t len = cf->cf_textlen;

	*out = NULL;
	if ((text = malloc(len + 1)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	memcpy(text, cf->cf_text, len + 1);
	return conf_parse(cf->cf_path, text, len, out, err);
}

void
conf_free(struct conf *cf)
{
	size_t i;

	if (cf == NULL)
		return;
	for (i = 0; i < cf->cf_ndomains; i++)
		free(cf->cf_domains[i]);
	free(cf->cf_domains);
	free(cf->cf_path);
	free(cf->cf_text);
	free(cf->cf_name);
	free(cf->cf_superior);
	free(cf->cf_milter_socket);
	free(cf->cf_socket_group);
	free(cf->cf_milter_user);
	free(cf->cf_reinject_host);
	free(cf->cf_service_mailbox);
	free(cf->cf_ca_dir);
	free(cf->cf_ca_user);
	free(cf->cf_user_submission);
	free(cf->cf_anchor_url);
	free(cf->cf_chain);
	for (i = 0; i < cf->cf_nresolve; i++)
		free(cf->cf_resolve[i]);
	free(cf->cf_resolve);
	free(cf->cf_listen_host);
	free(cf->cf_metrics_host);
	free(cf->cf_url);
	free(cf->cf_conninfo);
	free(cf->cf_anchors);
	free(cf->cf_cert);
	free(cf->cf_key);
	free(cf->cf_keybox_key);
	free(cf->cf_crl_file);
	free(cf->cf_crl_issuers);
	for (i = 0; i < cf->cf_ncrl_urls; i++)
		free(cf->cf_crl_urls[i]);
	free(cf->cf_crl_urls);
	free(cf->cf_held_key);
	free(cf->cf_submission_host);
	free(cf->cf_submission_ca);
	free(cf->cf_submission_user);
	free(cf->cf_submission_password_file);
	free(cf->cf_bg_url);
	free(cf->cf_agent_maildir);
	free(cf->cf_agent_store);
	free(cf);
}

const char *
conf_resolve(const struct conf *cf, const char *host, int port, char *buf,
    size_t size)
{
	size_t i, hl = strlen(host);
	char pfx[16];

	snprintf(pfx, sizeof(pfx), ":%d:", port);
	for (i = 0; i < cf->cf_nresolve; i++) {
		const char *r = cf->cf_resolve[i];

		if (strncasecmp(r, host, hl) == 0 &&
		    strncmp(r + hl, pfx, strlen(pfx)) == 0) {
			snprintf(buf, size, "%s", r + hl + strlen(pfx));
			return buf;
		}
	}
	return host;
}
