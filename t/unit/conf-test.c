/*
 * NAME
 *	conf-test - unit tests for lib/conf.c and the tandem.conf(5) page
 * DESCRIPTION
 *	Defaults, a file that sets everything, a table of bad files with
 *	the exact error each must give (file, line, section, key), the
 *	duration syntax, and a check that doc/tandem.conf.5 documents
 *	every option of the table, with its default, and nothing else
 *	(like Postfix's check-postconf-undocumented). The page is found
 *	through $TANDEM_SRC, which make check sets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tandem.h"
#include "conf.h"
#include "util.h"

static char dir[] = "/tmp/tandem-conf-XXXXXX";
static char path[64];

static int
write_conf(const char *text)
{
	FILE *fp;

	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

static void
test_defaults(void)
{
	struct conf *cf = NULL;
	char err[TN_ERRLEN];

	setenv("HOME", "/home/u", 1);
	write_conf("# nothing\n");
	if (!ok(conf_load(path, &cf, err) == 0, "an empty file loads")) {
		diag("%s", err);
		return;
	}
	is_str(cf->cf_name, "", "courier.name");
	is_int(cf->cf_role, PKI_ROLE_PUBLIC, "courier.role");
	is_int(cf->cf_ndomains, 0, "courier.domains");
	ok(cf->cf_domains != NULL && cf->cf_domains[0] == NULL,
	    "domains is an empty NULL-terminated array");
	is_str(cf->cf_superior, "", "courier.superior");
	is_int(cf->cf_superior_gateway, 0, "courier.superior_gateway");
	is_str(cf->cf_milter_socket, "unix:/run/tandem/milter.sock",
	    "foreground.milter_socket");
	is_str(cf->cf_socket_group, "postfix", "foreground.socket_group");
	is_int(cf->cf_socket_mode, 0660, "foreground.socket_mode");
	is_str(cf->cf_milter_user, "nobody", "foreground.user");
	is_str(cf->cf_reinject_host, "127.0.0.1", "foreground.reinject host");
	is_int(cf->cf_reinject_port, 10026, "foreground.reinject port");
	is_int(cf->cf_max_messages, 64, "foreground.max_messages");
	is_int(cf->cf_max_invitations, 50, "foreground.max_invitations");
	is_str(cf->cf_service_mailbox, "", "foreground.service_mailbox");
	is_str(cf->cf_ca_dir, TANDEM_SYSCONFDIR "/ca", "foreground.ca_dir");
	is_str(cf->cf_ca_user, "", "foreground.ca_user");
	is_str(cf->cf_listen_host, "127.0.0.1", "background.listen host");
	is_int(cf->cf_listen_port, 8443, "background.listen port");
	is_str(cf->cf_url, "", "background.url");
	is_int(cf->cf_max_request, 1048576, "background.max_request_size");
	ok(cf->cf_metrics_host == NULL, "background.metrics_listen: unset");
	is_str(cf->cf_conninfo, "dbname=tandem", "database.conninfo");
	is_str(cf->cf_anchors, TANDEM_SYSCONFDIR "/anchors.pem",
	    "tls.anchors");
	is_str(cf->cf_cert, TANDEM_SYSCONFDIR "/element.pem", "tls.cert");
	is_str(cf->cf_key, TANDEM_SYSCONFDIR "/element.key", "tls.key");
	is_str(cf->cf_chain, TANDEM_SYSCONFDIR "/chain.pem", "tls.chain");
	is_int(cf->cf_nresolve, 0, "agent.resolve is empty");
	is_str(cf->cf_keybox_key, TANDEM_SYSCONFDIR "/keybox.key",
	    "tls.keybox_key");
	is_str(cf->cf_held_key, TANDEM_SYSCONFDIR "/held.key",
	    "tls.held_key beside tls.keybox_key");
	is_int(cf->cf_hold_limit, 30 * 86400, "hygiene.hold_limit");
	is_int(cf->cf_expiry_warning, 30 * 86400, "tls.expiry_warning");
	is_str(cf->cf_crl_file, "", "tls.crl_file");
	is_int(cf->cf_crl_accept, 0, "tls.crl_missing");
	is_int(cf->cf_ncrl_urls, 0, "tls.crl_url is empty");
	is_int(cf->cf_crl_fetch, 3600, "tls.crl_fetch");
	is_str(cf->cf_crl_issuers, "", "tls.crl_issuers");
	is_int(cf->cf_history_limit, 30 * 86400, "hygiene.history_limit");
	is_int(cf->cf_rekey_after, 0, "hygiene.rekey_after: never");
	is_int(cf->cf_rekey_batch, 10, "hygiene.rekey_batch");
	is_int(cf->cf_rekey_grace, 7 * 86400, "hygiene.rekey_grace");
	is_int(cf->cf_purge_interval, 3600, "hygiene.purge_interval");
	is_int(cf->cf_replay_window, 7 * 86400, "hygiene.replay_window");
	is_int(cf->cf_clock_skew, 600, "hygiene.clock_skew");
	is_str(cf->cf_submission_host, "127.0.0.1", "agent.submission host");
	is_int(cf->cf_submission_port, 587, "agent.submission port");
	is_str(cf->cf_bg_url, "", "agent.bg_url");
	is_str(cf->cf_agent_maildir, "/home/u/Maildir",
	    "agent.maildir, ~/ expanded");
	is_str(cf->cf_agent_store, "/home/u/.tandem/agent.db", "agent.store");
	is_str(cf->cf_path, path, "the path is kept");
	conf_free(cf);
	conf_free(NULL);
}

static const char full[] =
    "courier {\n"
    "  name = \"c.example\"\n"
    "  role = private\n"
    "  domains = {\"C.Example\", \"corp.c.example\"}\n"
    "  superior = \"b.example\"\n"
    "  superior_gateway = true\n"
    "}\n"
    "foreground {\n"
    "  milter_socket = \"inet:8891@127.0.0.1\"\n"
    "  reinject = \"[::1]:10027\"\n"
    "  max_messages = 10000\n"
    "  service_mailbox = \"tandem@c.example\"\n"
    "}\n"
    "background {\n"
    "  listen = \"127.1.2.3:443\"\n"
    "  url = \"https://bg.c.example/tandem\"\n"
    "  max_request_size = 1024\n"
    "}\n"
    "database { conninfo = \"host=/run/pg dbname=fg\" }\n"
    "tls {\n"
    "  anchors = \"/a.pem\"\n  cert = \"/c.pem\"\n"
    "  key = \"/k.pem\"\n  keybox_key = \"/kb.key\"\n"
    "  crl_file = \"/crls.pem\"\n  crl_fetch = 2h\n"
    "  crl_url = { \"http://pki.example/a.crl\", \"/srv/b.crl\" }\n"
    "  crl_issuers = \"/i.pem\"\n"
    "}\n"
    "hygiene {\n  hold_limit = 2w\n  purge_interval = 90s\n"
    "  history_limit = 7d\n  rekey_after = 300d\n  rekey_batch = 3\n"
    "  rekey_grace = 2d\n}\n"
    "agent {\n"
    "  submission = \"mail.c.example:2525\"\n"
    "  bg_url = \"https://bg.c.example\"\n"
    "  maildir = \"/var/mail/u\"\n"
    "  store = \"~/t.db\"\n"
    "  resolve = { \"bg.c.example:443:127.0.0.9\", \"x.example:1:127.0.0.8\" }\n"
    "}\n";

static void
test_full(void)
{
	struct conf *cf = NULL;
	char err[TN_ERRLEN];

	setenv("HOME", "/h", 1);
	write_conf(full);
	if (!ok(conf_load(path, &cf, err) == 0, "a file setting everything")) {
		diag("%s", err);
		return;
	}
	is_str(cf->cf_name, "c.example", "name");
	is_int(cf->cf_role, PKI_ROLE_PRIVATE, "role");
	is_int(cf->cf_ndomains, 2, "two domains");
	is_str(cf->cf_domains[0], "c.example", "lower-cased");
	is_str(cf->cf_domains[1], "corp.c.example", "second domain");
	ok(cf->cf_domains[2] == NULL, "NULL-terminated");
	is_str(cf->cf_superior, "b.example", "superior");
	is_int(cf->cf_superior_gateway, 1, "superior_gateway");
	is_str(cf->cf_milter_socket, "inet:8891@127.0.0.1", "milter_socket");
	is_str(cf->cf_reinject_host, "::1", "IPv6 host without brackets");
	is_int(cf->cf_reinject_port, 10027, "its port");
	is_int(cf->cf_max_messages, 10000, "max_messages at its maximum");
	is_str(cf->cf_service_mailbox, "tandem@c.example", "service_mailbox");
	is_str(cf->cf_listen_host, "127.1.2.3", "listen host");
	is_int(cf->cf_listen_port, 443, "listen port");
	is_str(cf->cf_url, "https://bg.c.example/tandem", "url");
	is_int(cf->cf_max_request, 1024, "max_request_size at its minimum");
	is_str(cf->cf_conninfo, "host=/run/pg dbname=fg", "conninfo");
	is_str(cf->cf_anchors, "/a.pem", "anchors");
	is_str(cf->cf_cert, "/c.pem", "cert");
	is_str(cf->cf_key, "/k.pem", "key");
	is_str(cf->cf_keybox_key, "/kb.key", "keybox_key");
	is_str(cf->cf_held_key, "/held.key", "held_key beside keybox_key");
	if (ok(cf->cf_ncrl_urls == 2, "two crl_url")) {
		is_str(cf->cf_crl_urls[0], "http://pki.example/a.crl",
		    "crl_url[0]");
		is_str(cf->cf_crl_urls[1], "/srv/b.crl", "crl_url[1]");
	}
	is_int(cf->cf_crl_fetch, 7200, "crl_fetch 2h");
	is_str(cf->cf_crl_issuers, "/i.pem", "crl_issuers");
	is_int(cf->cf_hold_limit, 14 * 86400, "hold_limit 2w");
	is_int(cf->cf_purge_interval, 90, "purge_interval 90s");
	is_int(cf->cf_history_limit, 7 * 86400, "history_limit 7d");
	is_int(cf->cf_rekey_after, 300 * 86400, "rekey_after 300d");
	is_int(cf->cf_rekey_batch, 3, "rekey_batch 3");
	is_int(cf->cf_rekey_grace, 2 * 86400, "rekey_grace 2d");
	is_str(cf->cf_submission_host, "mail.c.example", "submission host");
	is_int(cf->cf_submission_port, 2525, "submission port");
	is_str(cf->cf_bg_url, "https://bg.c.example", "bg_url");
	is_str(cf->cf_agent_maildir, "/var/mail/u", "absolute maildir kept");
	is_str(cf->cf_agent_store, "/h/t.db", "store under HOME");
	is_int(cf->cf_nresolve, 2, "two resolve entries");
	if (cf->cf_nresolve == 2) {
		is_str(cf->cf_resolve[0], "bg.c.example:443:127.0.0.9",
		    "resolve[0]");
		is_str(cf->cf_resolve[1], "x.example:1:127.0.0.8",
		    "resolve[1]");
	}
	conf_free(cf);
}

static const struct {
	const char *text;
	const char *want;	/* the error after the file name */
} bad[] = {
	{ "bogus = 1\n", ":1: no such option 'bogus'" },
	{ "frontground {\n}\n", ":1: no such option 'frontground'" },
	{ "foreground {\n  bogus = 1\n}\n",
	    ":2: foreground: no such option 'bogus'" },
	{ "\n\nforeground {\n  max_messages = 0\n}\n",
	    ":4: foreground: max_messages: 0 is out of range 1..10000" },
	{ "foreground { max_messages = 10001 }\n",
	    ":1: foreground: max_messages: 10001 is out of range 1..10000" },
	{ "foreground {\n  max_messages = many\n}\n",
	    ":2: foreground: invalid integer value for option "
	    "'max_messages'" },
	{ "background {\n  metrics_listen = \"192.0.2.1:9464\"\n}\n",
	    ":2: background: metrics_listen: \"192.0.2.1:9464\" is not a "
	    "loopback address (127.0.0.0/8, ::1, localhost): the counters "
	    "are served without TLS or client certificates, to this host "
	    "only" },
	{ "background {\n\n  max_request_size = 100\n}\n",
	    ":3: background: max_request_size: 100 is out of range "
	    "1024..33554432" },
	{ "tls {\n  crl_missing = maybe\n}\n",
	    ":2: tls: crl_missing: \"maybe\" is not one of refuse, accept" },
	{ "tls {\n  crl_file = \"/c.pem\"\n  crl_url = {\"https://a/b.crl\"}\n}\n",
	    ":3: tls: crl_url: \"https://a/b.crl\" is not an http:// URL or a "
	    "file's path (a list is signed: no TLS is needed)" },
	{ "tls {\n  crl_file = \"/c.pem\"\n  crl_url = {\"/a.crl\", \"http://\"}\n}\n",
	    ":3: tls: crl_url: \"http://\" is not an http:// URL or a "
	    "file's path (a list is signed: no TLS is needed)" },
	{ "tls {\n  crl_url = {\"http://pki.example/a.crl\"}\n}\n",
	    ":3: tls: crl_url: the lists fetched are written to crl_file, "
	    "which is not set" },
	{ "tls {\n  crl_fetch = 2d\n}\n",
	    ":2: tls: crl_fetch: 172800 is out of range 1..86400" },
	{ "tls {\n  expiry_warning = 366d\n}\n",
	    ":2: tls: expiry_warning: 31622400 is out of range 0..31536000" },
	{ "hygiene {\n  hold_limit = 30x\n}\n",
	    ":2: hygiene: hold_limit: bad duration \"30x\" "
	    "(use 90s, 15m, 12h, 30d, 2w)" },
	{ "hygiene {\n  replay_window = 30s\n}\n",
	    ":2: hygiene: replay_window: 30 is out of range 60..31536000" },
	{ "hygiene {\n  clock_skew = 2d\n}\n",
	    ":2: hygiene: clock_skew: 172800 is out of range 0..86400" },
	{ "hygiene {\n  hold_limit = 400d\n}\n",
	    ":2: hygiene: hold_limit: 34560000 is out of range 1..31536000" },
	{ "hygiene {\n  purge_interval = 2d\n}\n",
	    ":2: hygiene: purge_interval: 172800 is out of range 1..86400" },
	{ "hygiene { purge_interval = -5 }\n",
	    ":1: hygiene: purge_interval: bad duration \"-5\" "
	    "(use 90s, 15m, 12h, 30d, 2w)" },
	{ "courier {\n  role = boss\n}\n",
	    ":2: courier: role: \"boss\" is not one of root, public, "
	    "private, gateway" },
	{ "courier {\n  name = c\n  role = private\n  superior = b\n}\n",
	    ":5: courier: domains: a private courier needs its domains" },
	{ "courier {\n  role = root\n  superior = b\n}\n",
	    ":4: courier: superior: the root courier has no superior" },
	{ "courier {\n  name = c\n}\n",
	    ":3: courier: superior: only the root courier may have none" },
	{ "courier {\n  superior_gateway = maybe\n}\n",
	    ":2: courier: invalid boolean value for option "
	    "'superior_gateway'" },
	{ "courier {\n  domains = {\"ok.example\", \"bad_one\"}\n}\n",
	    ":2: courier: domains: \"bad_one\" is not a domain name" },
	{ "courier { role = public }\ncourier { role = root }\n",
	    ":2: courier: section given twice" },
	{ "tls {\n}\n\ntls {\n}\n", ":5: tls: section given twice" },
	{ "foreground {\n  reinject = \"localhost\"\n}\n",
	    ":2: foreground: reinject: \"localhost\" is not host:port "
	    "(port 1..65535)" },
	{ "foreground {\n  reinject = \"192.0.2.1:10026\"\n}\n",
	    ":2: foreground: reinject: \"192.0.2.1:10026\" is not a loopback "
	    "address (127.0.0.0/8, ::1, localhost): the reinjection smtpd "
	    "has no milter" },
	{ "foreground {\n  reinject = \"[2001:db8::1]:10026\"\n}\n",
	    ":2: foreground: reinject: \"[2001:db8::1]:10026\" is not a "
	    "loopback address (127.0.0.0/8, ::1, localhost): the reinjection "
	    "smtpd has no milter" },
	{ "foreground {\n  user = \"\"\n}\n",
	    ":2: foreground: user: \"\" is not a user or group name" },
	{ "foreground {\n  socket_group = \"post fix\"\n}\n",
	    ":2: foreground: socket_group: \"post fix\" is not a user or "
	    "group name" },
	{ "foreground {\n  socket_mode = \"0666\"\n}\n",
	    ":2: foreground: socket_mode: \"0666\" is not an octal mode up "
	    "to 0777 that others cannot write" },
	{ "foreground {\n  socket_mode = \"rw\"\n}\n",
	    ":2: foreground: socket_mode: \"rw\" is not an octal mode up "
	    "to 0777 that others cannot write" },
	{ "foreground {\n  socket_mode = \"01660\"\n}\n",
	    ":2: foreground: socket_mode: \"01660\" is not an octal mode up "
	    "to 0777 that others cannot write" },
	{ "agent {\n  submission = \"h:70000\"\n}\n",
	    ":2: agent: submission: \"h:70000\" is not host:port "
	    "(port 1..65535)" },
	{ "foreground {\n  user_submission = \"mail.example\"\n}\n",
	    ":2: foreground: user_submission: \"mail.example\" is not "
	    "host:port (port 1..65535)" },
	{ "foreground {\n  anchor_url = \"https://a b/root.crt\"\n}\n",
	    ":2: foreground: anchor_url: \"https://a b/root.crt\" is not an "
	    "https:// URL" },
	{ "background {\n  listen = \"a:b:25\"\n}\n",
	    ":2: background: listen: \"a:b:25\" is not host:port "
	    "(port 1..65535)" },
	{ "background {\n  url = \"http://bg.example\"\n}\n",
	    ":2: background: url: \"http://bg.example\" is not an https:// "
	    "URL" },
	{ "foreground {\n  milter_socket = \"/run/m.sock\"\n}\n",
	    ":2: foreground: milter_socket: \"/run/m.sock\" is not "
	    "unix:/PATH, local:/PATH, inet:PORT@HOST or inet6:PORT@HOST" },
	{ "foreground {\n  service_mailbox = \"tandem\"\n}\n",
	    ":2: foreground: service_mailbox: \"tandem\" is not an address" },
};

static void
test_bad(void)
{
	struct conf *cf;
	char err[TN_ERRLEN], want[TN_ERRLEN];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_conf(bad[i].text);
		cf = (struct conf *)&cf;	/* must be reset */
		err[0] = '\0';
		is_int(conf_load(path, &cf, err), -1, bad[i].want);
		ok(cf == NULL, "and gives no configuration");
		snprintf(want, sizeof(want), "%s%s", path, bad[i].want);
		is_str(err, want, "exact error");
	}
	unlink(path);
	is_int(conf_load(path, &cf, err), -1, "a missing file");
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	is_str(err, want, "names the file");

	/* More than CONF_MAX_TEXT: refused, not read into memory. */
	{
		char *big = malloc(CONF_MAX_TEXT + 2);

		if (big != NULL) {
			memset(big, '#', CONF_MAX_TEXT + 1);
			big[CONF_MAX_TEXT + 1] = '\0';
			write_conf(big);
			free(big);
		}
		is_int(conf_load(path, &cf, err), -1, "a file over 1 MiB");
		snprintf(want, sizeof(want), "%s: larger than %d bytes", path,
		    CONF_MAX_TEXT);
		is_str(err, want, "says so, naming the file");
	}

	write_conf("");
	unsetenv("HOME");
	is_int(conf_load(path, &cf, err), -1, "~/ without HOME");
	ok(strstr(err, "maildir starts with ~/ but HOME is not set") != NULL,
	    "says so: %s", err);
	setenv("HOME", "/h", 1);
}

/* conf_again(): the text as it was loaded, not the file as it is now. */
static void
test_again(void)
{
	struct conf *cf = NULL, *again = NULL;
	char err[TN_ERRLEN];

	write_conf("tls {\n  crl_refresh = 5m\n}\n");
	if (!ok(conf_load(path, &cf, err) == 0, "loaded: %s", err))
		return;
	write_conf("this line is no tandem.conf\n");
	ok(conf_again(cf, &again, err) == 0, "parsed again, the file since "
	    "broken: %s", err);
	if (again != NULL) {
		is_int(again->cf_crl_refresh, 300, "the same value");
		is_str(again->cf_path, path, "the same path");
	}
	conf_free(again);
	conf_free(cf);
}

static void
test_duration(void)
{
	static const struct {
		const char *text;
		int rc;
		long secs;
	} cases[] = {
		{ "90s", 0, 90 }, { "15m", 0, 900 }, { "12h", 0, 43200 },
		{ "30d", 0, 2592000 }, { "2w", 0, 1209600 }, { "45", 0, 45 },
		{ "0", 0, 0 }, { "", -1, 0 }, { "d", -1, 0 }, { "5x", -1, 0 },
		{ "5dd", -1, 0 }, { "-1", -1, 0 }, { " 5", -1, 0 },
		{ "5 d", -1, 0 }, { "99999999999999999999", -1, 0 },
		{ "999999999999999999w", -1, 0 },
	};
	size_t i;
	long secs;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		secs = -7;
		is_int(conf_duration(cases[i].text, &secs), cases[i].rc,
		    cases[i].text);
		if (cases[i].rc == 0)
			is_int(secs, cases[i].secs, "its seconds");
	}
}

/* The text between ".SS name" and the next .SS or .SH, or NULL. */
static const char *
man_section(const char *page, const char *name, size_t *len)
{
	char head[64];
	const char *p, *e, *e2;

	snprintf(head, sizeof(head), "\n.SS %s\n", name);
	if ((p = strstr(page, head)) == NULL)
		return NULL;
	p += strlen(head);
	e = strstr(p, "\n.SS ");
	e2 = strstr(p, "\n.SH ");
	if (e == NULL || (e2 != NULL && e2 < e))
		e = e2;
	*len = e != NULL ? (size_t)(e - p) : strlen(p);
	return p;
}

/* Is the option documented in its section, with its default? */
static int
man_documents(const char *page, const char *section, const char *key)
{
	char item[128], *span;
	const char *s, *p, *end;
	size_t len;
	int found = 0;

	if ((s = man_section(page, section, &len)) == NULL)
		return 0;
	if ((span = strndup(s - 1, len + 1)) == NULL)
		return 0;
	snprintf(item, sizeof(item), "\n.TP\n.B %s\n", key);
	if ((p = strstr(span, item)) != NULL) {
		p += strlen(item);
		if ((end = strstr(p, "\n.TP\n")) == NULL)
			end = p + strlen(p);
		found = memmem(p, (size_t)(end - p), "Default:", 8) != NULL;
	}
	free(span);
	return found;
}

static int
conf_has(const char *section, const char *key, size_t keylen)
{
	const char *s, *k;
	size_t i;

	for (i = 0; conf_option(i, &s, &k); i++)
		if (strcmp(s, section) == 0 && strlen(k) == keylen &&
		    strncmp(k, key, keylen) == 0)
			return 1;
	return 0;
}

static void
test_man(void)
{
	static const char *sections[] = { "courier", "foreground",
		"background", "database", "tls", "hygiene", "agent" };
	const char *src, *s, *k, *sec, *p;
	unsigned char *page = NULL;
	char file[1024], err[TN_ERRLEN];
	size_t i, len, n = 0, extra = 0;

	if ((src = getenv("TANDEM_SRC")) == NULL)
		src = "..";
	snprintf(file, sizeof(file), "%s/doc/tandem.conf.5", src);
	if (!ok(util_read_file(file, 1 << 20, &page, &len, err) == 0,
	    "read tandem.conf(5)")) {
		diag("%s", err);
		return;
	}
	for (i = 0; conf_option(i, &s, &k); i++, n++)
		ok(man_documents((char *)page, s, k),
		    "tandem.conf(5) documents %s.%s with its default", s, k);
	is_int(n, 56, "the option table has 56 options");
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if ((sec = man_section((char *)page, sections[i], &len)) ==
		    NULL)
			continue;
		for (p = sec - 1; (p = strstr(p, "\n.TP\n.B ")) != NULL &&
		    p < sec + len; p += 8) {
			if (!conf_has(sections[i], p + 8, strcspn(p + 8, "\n")))
				extra++;
		}
	}
	is_int(extra, 0, "the page documents no option that does not exist");
	free(page);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(path, sizeof(path), "%s/tandem.conf", dir);
	test_defaults();
	test_full();
	test_bad();
	test_again();
	test_duration();
	test_man();
	unlink(path);
	rmdir(dir);
	return tap_done();
}
