/*
 * NAME
 *	tandem - the user's agent
 * SYNOPSIS
 *	tandem init -d DIR --address ADDR [--key ec|rsa] [--csr FILE]
 *	tandem import -d DIR --cert AGENT.crt --anchor ROOT.pem
 *	    [--chain CHAIN.pem] [--courier-cert COURIER.crt]
 *	tandem seal -d DIR --to ADDR ... [restrictions] --in MESSAGE
 *	    --sealed OUT.der --arm OUT.arm
 *	tandem open -d DIR --sealed FILE --arm FILE [--out FILE]
 *	tandem register -d DIR --anchor ROOT.pem [--invitation FILE |
 *	    FILE | LINK] [--address ADDR] [--key ec|rsa] [--timeout S]
 *	    [--no-wait]
 *	tandem send -d DIR --to ADDR ... [restrictions] --in MESSAGE
 *	    [--retry-for S]
 *	tandem sendmail [-d DIR] [-t] [-i] [-oi] [-oem] [-f ADDR]
 *	    [restrictions] [--] [ADDR ...] <MESSAGE
 *	tandem fetch -d DIR [--maildir DELIVER-TO]
 *	tandem revoke -d DIR MSGID [RECIPIENT ...]
 *	tandem status -d DIR [MSGID]
 *	tandem read -d DIR [--out-dir DIR] [--id MSGID] [FILE ...]
 *	tandem inbox -d DIR [FILE ...]
 *	tandem forward -d DIR --id MSGID --to ADDR ...
 *	tandem reply -d DIR --id MSGID [--all] [restrictions] --in TEXT
 *	tandem passwd -d DIR [--new-password-file FILE]
 *	tandem arm -d DIR [--out FILE] MSGID
 *	(network commands: [-c tandem.conf] [--smtp HOST:PORT]
 *	    [--smtp-starttls] [--smtp-ca FILE] [--smtp-user USER]
 *	    [--smtp-password-file FILE] [--bg URL] [--maildir DIR]
 *	    [--resolve HOST:PORT:ADDR ...])
 * DESCRIPTION
 *	Reads the command line and runs one command; the commands are in
 *	init.c (init, import), seal.c (seal, open), register.c, send.c,
 *	sendmail.c (whose sendmail-style command line sendmail_args()
 *	sorts first),
 *	fetch.c, revoke.c, status.c, read.c (read, inbox, arm) and
 *	passwd.c.
 *	The store
 *	folder is -d DIR, else $TANDEM_HOME, else ~/.tandem; without -c, the
 *	settings are its tandem.conf when there is one (register writes
 *	it). The local password comes from --password-fd N,
 *	--password-file FILE, $TANDEM_PASSWORD or the terminal.
 * DIAGNOSTICS
 *	Messages on standard error; exit statuses in tandem(1).
 */
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "tandem.h"
#include "util.h"
#include "agent.h"

#define AGENT_MAX_PASSWORD	1024

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: tandem init [-d DIR] --address ADDR [--key ec|rsa] "
	    "[--csr FILE]\n"
	    "       tandem import [-d DIR] --cert AGENT.crt --anchor ROOT.pem "
	    "[--chain CHAIN.pem]\n"
	    "                   [--courier-cert COURIER.crt]\n"
	    "       tandem seal [-d DIR] --to ADDR [--to ADDR ...] "
	    "[--expires SECONDS|DATE]\n"
	    "                   [--no-forward] [--no-reply-all] [--no-print] "
	    "[--no-copy]\n"
	    "                   [--read-receipt] [--max-opens N] --in MESSAGE "
	    "--sealed OUT --arm OUT\n"
	    "       tandem open [-d DIR] --sealed FILE --arm FILE "
	    "[--out FILE]\n"
	    "       tandem register [-d DIR] --anchor ROOT.pem "
	    "[--invitation FILE | FILE | LINK]\n"
	    "                   [--address ADDR] [--key ec|rsa] "
	    "[--timeout SECONDS] [--no-wait]\n"
	    "                   (no invitation: the newest in the Maildir)\n"
	    "       tandem send [-d DIR] --to ADDR [--to ADDR ...] "
	    "[restrictions] --in MESSAGE\n"
	    "                   [--retry-for SECONDS]\n"
	    "       tandem sendmail [-d DIR] [-t] [-i] [-oi] [-oem] "
	    "[-f ADDR] [restrictions]\n"
	    "                   [--] [ADDR ...] <MESSAGE\n"
	    "       tandem fetch [-d DIR] [--maildir DELIVER-TO]   (ARMs, "
	    "receipts, revocations;\n"
	    "                   key replacement)\n"
	    "       tandem revoke [-d DIR] MESSAGE-ID [RECIPIENT ...]\n"
	    "       tandem status [-d DIR] [MESSAGE-ID]\n"
	    "       tandem read [-d DIR] [--out-dir DIR] [--id MSGID] [--all] "
	    "[FILE ...]\n"
	    "       tandem inbox [-d DIR] [FILE ...]\n"
	    "       tandem forward [-d DIR] --id MSGID --to ADDR [--to ADDR "
	    "...]\n"
	    "       tandem reply [-d DIR] --id MSGID [--all] [restrictions] "
	    "--in TEXT\n"
	    "       tandem passwd [-d DIR] [--new-password-file FILE]\n"
	    "       tandem arm [-d DIR] [--out FILE] MESSAGE-ID\n"
	    "       (network: [-c tandem.conf] [--smtp HOST:PORT] "
	    "[--smtp-starttls] [--smtp-ca FILE]\n"
	    "                 [--smtp-user USER --smtp-password-file FILE] "
	    "[--bg URL]\n"
	    "                 [--maildir DIR] [--resolve HOST:PORT:ADDR ...])\n"
	    "       (password: --password-fd N, --password-file FILE, "
	    "$TANDEM_PASSWORD,\n"
	    "                  else asked on the terminal; import and open "
	    "need none)\n"
	    "       tandem --help | --version\n");
}

/* The first line of file descriptor fd (not closed), or NULL. */
static char *
password_from_fd(int fd)
{
	char *buf;
	size_t len = 0;
	ssize_t n;

	if ((buf = calloc(1, AGENT_MAX_PASSWORD + 1)) == NULL)
		return NULL;
	while (len < AGENT_MAX_PASSWORD && (n = read(fd, buf + len, 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "tandem: --password-fd %d: %s\n", fd,
			    strerror(errno));
			free(buf);
			return NULL;
		}
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

/* One line from the terminal tty, not echoed; NULL on end of file. */
static char *
password_ask(int tty, const char *prompt)
{
	struct termios old, quiet;
	char *line;
	int restore;

	/*
	 * Echo goes off (flushing what was typed before) ahead of the
	 * prompt: what the user types once the prompt shows is neither
	 * shown nor thrown away.
	 */
	restore = tcgetattr(tty, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(tty, TCSAFLUSH, &quiet);
	}
	if (write(tty, prompt, strlen(prompt)) < 0)
		line = NULL;
	else
		line = password_from_fd(tty);
	if (restore)
		tcsetattr(tty, TCSAFLUSH, &old);
	return line;
}

/*
 * Why a new password is too weak, or NULL: fewer than 12 characters;
 * under 20, of one kind only (a passphrase of several words has its
 * spaces: two kinds); one character repeated; the address, its local
 * part, or the address within it.
 */
static const char *
password_weak(const char *p, const char *address)
{
	int lower = 0, upper = 0, digit = 0, other = 0;
	size_t len = strlen(p), local;
	const char *q;

	if (address != NULL) {
		local = strcspn(address, "@");
		if (strcasestr(p, address) != NULL ||
		    (len == local && strncasecmp(p, address, local) == 0))
			return "it is your address";
	}
	if (len < 12)
		return "shorter than 12 characters (a passphrase of several "
		    "words is easy to remember)";
	for (q = p; *q != '\0'; q++)
		if (islower((unsigned char)*q))
			lower = 1;
		else if (isupper((unsigned char)*q))
			upper = 1;
		else if (isdigit((unsigned char)*q))
			digit = 1;
		else
			other = 1;
	if (len < 20 && lower + upper + digit + other < 2)
		return "only one kind of character (mix letters, digits, "
		    "spaces or signs, or make it 20 characters or more)";
	for (q = p; *q == p[0]; q++)
		;
	if (*q == '\0')
		return "one character repeated";
	return NULL;
}

/*
 * From the terminal: asked once, or for a new store twice with a
 * strength check (password_weak(); address: the store's, or NULL),
 * three tries. 0, or an exit status.
 */
static int
password_terminal(int tty, int fresh, const char *address, char **pass)
{
	char *again = NULL;
	const char *weak;
	int i, rc = EX_USAGE;

	for (i = 0; i < 3; i++) {
		if ((*pass = password_ask(tty, fresh ? "New password for "
		    "the agent's store: " : "Password: ")) == NULL ||
		    **pass == '\0') {
			dprintf(tty, "tandem: no password given\n");
			break;
		}
		if (!fresh)
			return 0;
		if ((weak = password_weak(*pass, address)) != NULL)
			dprintf(tty, "tandem: too weak: %s\n", weak);
		else if ((again = password_ask(tty, "The same again: ")) ==
		    NULL || strcmp(again, *pass) != 0)
			dprintf(tty, "tandem: the two differ\n");
		else {
			rc = 0;
			break;
		}
		free(again);
		again = NULL;
		OPENSSL_cleanse(*pass, strlen(*pass));
		free(*pass);
		*pass = NULL;
	}
	if (again != NULL)
		OPENSSL_cleanse(again, strlen(again));
	free(again);
	if (rc != 0 && *pass != NULL) {
		OPENSSL_cleanse(*pass, strlen(*pass));
		free(*pass);
		*pass = NULL;
	}
	return rc;
}

/*
 * The password: --password-fd N, the first line of --password-file,
 * $TANDEM_PASSWORD, or asked on the terminal (for a new store, fresh:
 * twice, with a strength check).
 */
int
agent_password_new(const struct agent_opts *o, int fresh, char **pass)
{
	unsigned char *buf = NULL;
	const char *env;
	char err[TN_ERRLEN];
	size_t len;
	int tty, rc;

	*pass = NULL;
	if (o->o_password_fd >= 0) {
		if ((*pass = password_from_fd(o->o_password_fd)) == NULL)
			return EX_NOINPUT;
	} else if (o->o_password_file != NULL) {
		if (util_read_file(o->o_password_file, AGENT_MAX_PASSWORD,
		    &buf, &len, err) == -1) {
			fprintf(stderr, "tandem: password: %s\n", err);
			return EX_NOINPUT;
		}
		buf[strcspn((char *)buf, "\r\n")] = '\0';
		*pass = (char *)buf;
	} else if ((env = getenv("TANDEM_PASSWORD")) != NULL)
		*pass = strdup(env);
	else if ((tty = open("/dev/tty", O_RDWR | O_CLOEXEC)) != -1) {
		rc = password_terminal(tty, fresh, o->o_address, pass);
		close(tty);
		if (rc != 0)
			return rc;
	} else {
		fprintf(stderr, "tandem: no password: use --password-fd, "
		    "--password-file or TANDEM_PASSWORD (no terminal to ask "
		    "on)\n");
		return EX_USAGE;
	}
	if (*pass == NULL || **pass == '\0') {
		fprintf(stderr, "tandem: empty password\n");
		free(*pass);
		*pass = NULL;
		return EX_USAGE;
	}
	return 0;
}

int
agent_password(const struct agent_opts *o, char **pass)
{
	return agent_password_new(o, 0, pass);
}

/*
 * The new password of "tandem passwd": the first line of
 * --new-password-file, $TANDEM_NEW_PASSWORD, or asked on the terminal
 * twice, with a strength check.
 */
int
agent_password_next(const struct agent_opts *o, char **pass)
{
	struct agent_opts no;

	memset(&no, 0, sizeof(no));
	no.o_password_fd = -1;
	no.o_password_file = o->o_new_password_file;
	if (no.o_password_file == NULL &&
	    getenv("TANDEM_NEW_PASSWORD") != NULL) {
		*pass = strdup(getenv("TANDEM_NEW_PASSWORD"));
		if (*pass == NULL || **pass == '\0') {
			fprintf(stderr, "tandem: empty new password\n");
			free(*pass);
			*pass = NULL;
			return EX_USAGE;
		}
		return 0;
	}
	if (no.o_password_file == NULL && getenv("TANDEM_PASSWORD") != NULL) {
		fprintf(stderr, "tandem: no new password: use "
		    "--new-password-file or TANDEM_NEW_PASSWORD\n");
		return EX_USAGE;
	}
	return agent_password_new(&no, 1, pass);
}

static int
parse_restriction(struct agent_opts *o, int c, const char *arg)
{
	char *end;
	unsigned long n;

	switch (c) {
	case 'F': o->o_restr.rs_no_forward = 1; return 0;
	case 'R': o->o_restr.rs_no_reply_all = 1; return 0;
	case 'P': o->o_restr.rs_no_print = 1; return 0;
	case 'C': o->o_restr.rs_no_copy = 1; return 0;
	case 'r': o->o_restr.rs_read_receipt = 1; return 0;
	case 'm':
		n = strtoul(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || n == 0 || n > 1000000) {
			fprintf(stderr, "tandem: --max-opens: not a number "
			    "from 1 to 1000000: %s\n", arg);
			return -1;
		}
		o->o_restr.rs_max_opens = (unsigned int)n;
		return 0;
	}
	return -1;
}

enum {
	OPT_SMTP = 256, OPT_BG, OPT_MAILDIR, OPT_RESOLVE, OPT_INVITATION,
	OPT_OUT_DIR, OPT_ID, OPT_TIMEOUT, OPT_RETRY_FOR, OPT_NO_WAIT,
	OPT_COURIER_CERT, OPT_ALL, OPT_PASSWORD_FD, OPT_SMTP_STARTTLS,
	OPT_SMTP_CA, OPT_SMTP_USER, OPT_SMTP_PASSWORD_FILE,
	OPT_NEW_PASSWORD_FILE
};

static const struct option longopts[] = {
	{ "address", required_argument, NULL, 'a' },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "anchor", required_argument, NULL, 'A' },
	{ "arm", required_argument, NULL, 'M' },
	{ "bg", required_argument, NULL, OPT_BG },
	{ "id", required_argument, NULL, OPT_ID },
	{ "invitation", required_argument, NULL, OPT_INVITATION },
	{ "maildir", required_argument, NULL, OPT_MAILDIR },
	{ "new-password-file", required_argument, NULL,
	    OPT_NEW_PASSWORD_FILE },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	{ "out-dir", required_argument, NULL, OPT_OUT_DIR },
	{ "resolve", required_argument, NULL, OPT_RESOLVE },
	{ "retry-for", required_argument, NULL, OPT_RETRY_FOR },
	{ "smtp", required_argument, NULL, OPT_SMTP },
	{ "smtp-ca", required_argument, NULL, OPT_SMTP_CA },
	{ "smtp-password-file", required_argument, NULL,
	    OPT_SMTP_PASSWORD_FILE },
	{ "smtp-starttls", no_argument, NULL, OPT_SMTP_STARTTLS },
	{ "smtp-user", required_argument, NULL, OPT_SMTP_USER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "cert", required_argument, NULL, 'T' },
	{ "chain", required_argument, NULL, 'h' },
	{ "courier-cert", required_argument, NULL, OPT_COURIER_CERT },
	{ "csr", required_argument, NULL, 'q' },
	{ "expires", required_argument, NULL, 'e' },
	{ "in", required_argument, NULL, 'i' },
	{ "key", required_argument, NULL, 'k' },
	{ "max-opens", required_argument, NULL, 'm' },
	{ "no-copy", no_argument, NULL, 'C' },
	{ "no-forward", no_argument, NULL, 'F' },
	{ "no-print", no_argument, NULL, 'P' },
	{ "no-reply-all", no_argument, NULL, 'R' },
	{ "out", required_argument, NULL, 'o' },
	{ "password-fd", required_argument, NULL, OPT_PASSWORD_FD },
	{ "password-file", required_argument, NULL, 'p' },
	{ "read-receipt", no_argument, NULL, 'r' },
	{ "sealed", required_argument, NULL, 's' },
	{ "to", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 }
};

static const char **
opt_slot(struct agent_opts *o, int c)
{
	switch (c) {
	case 'd': return &o->o_dir;
	case 'a': return &o->o_address;
	case 'A': return &o->o_anchor;
	case 'M': return &o->o_arm;
	case 'T': return &o->o_cert;
	case 'h': return &o->o_chain;
	case 'q': return &o->o_csr;
	case 'e': return &o->o_expires;
	case 'i': return &o->o_in;
	case 'k': return &o->o_key;
	case 'o': return &o->o_out;
	case 'p': return &o->o_password_file;
	case 's': return &o->o_sealed;
	case 'c': return &o->o_conf;
	case OPT_SMTP: return &o->o_smtp;
	case OPT_SMTP_CA: return &o->o_smtp_ca;
	case OPT_SMTP_USER: return &o->o_smtp_user;
	case OPT_SMTP_PASSWORD_FILE: return &o->o_smtp_pwfile;
	case OPT_NEW_PASSWORD_FILE: return &o->o_new_password_file;
	case OPT_BG: return &o->o_bg;
	case OPT_MAILDIR: return &o->o_maildir;
	case OPT_INVITATION: return &o->o_invitation;
	case OPT_OUT_DIR: return &o->o_out_dir;
	case OPT_ID: return &o->o_id;
	case OPT_COURIER_CERT: return &o->o_courier_cert;
	}
	return NULL;
}

/* A number of seconds, 0 to a week. */
static int
parse_seconds(const char *name, const char *arg, long *out)
{
	char *end;
	long n;

	n = strtol(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end != '\0' || n > 7 * 86400L) {
		fprintf(stderr, "tandem: --%s: not a number of seconds from "
		    "0 to 604800: %s\n", name, arg);
		return -1;
	}
	*out = n;
	return 0;
}

static int
parse_fd(const char *arg, int *fd)
{
	char *end;
	long n;

	n = strtol(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end != '\0' || n > 1024) {
		fprintf(stderr, "tandem: --password-fd: not a file descriptor: "
		    "%s\n", arg);
		return -1;
	}
	*fd = (int)n;
	return 0;
}

static int
parse_net(struct agent_opts *o, int c, const char *arg)
{
	switch (c) {
	case OPT_RESOLVE:
		if (o->o_nresolve == AGENT_MAX_RESOLVE) {
			fprintf(stderr, "tandem: more than %d --resolve\n",
			    AGENT_MAX_RESOLVE);
			return -1;
		}
		o->o_resolve[o->o_nresolve++] = arg;
		return 0;
	case OPT_TIMEOUT:
		return parse_seconds("timeout", arg, &o->o_timeout);
	case OPT_RETRY_FOR:
		return parse_seconds("retry-for", arg, &o->o_retry_for);
	case OPT_ALL:
		o->o_all = 1;
		return 0;
	case OPT_PASSWORD_FD:
		return parse_fd(arg, &o->o_password_fd);
	case OPT_NO_WAIT:
		o->o_no_wait = 1;
		return 0;
	case OPT_SMTP_STARTTLS:
		o->o_smtp_starttls = 1;
		return 0;
	}
	return parse_restriction(o, c, arg);
}

static int
parse_opts(struct agent_opts *o, int files, int argc, char **argv)
{
	const char **slot;
	int c;

	while ((c = getopt_long(argc, argv, "c:d:", longopts, NULL)) != -1) {
		if (c == 't') {
			if (o->o_nto == AGENT_MAX_TO) {
				fprintf(stderr, "tandem: more than %d --to\n",
				    AGENT_MAX_TO);
				return -1;
			}
			o->o_to[o->o_nto++] = optarg;
		} else if ((slot = opt_slot(o, c)) != NULL)
			*slot = optarg;
		else if (parse_net(o, c, optarg) == -1)
			return -1;
	}
	if (files && optind < argc) {
		if (argc - optind > AGENT_MAX_FILES) {
			fprintf(stderr, "tandem: more than %d files\n",
			    AGENT_MAX_FILES);
			return -1;
		}
		o->o_files = argv + optind;
		o->o_nfiles = (size_t)(argc - optind);
		optind = argc;
	}
	if (optind != argc) {
		fprintf(stderr, "tandem: unexpected argument: %s\n",
		    argv[optind]);
		return -1;
	}
	return 0;
}

/*
 * sendmail's command line (sendmail.c): its options into o, the
 * recipients into o->o_to, tandem's own options (-c, -d and the long
 * ones, with their arguments) into targv, NULL-terminated, for
 * parse_opts().
 */
static int
sendmail_args(struct agent_opts *o, int argc, char **argv, char **targv,
    int *targc)
{
	const struct option *lo;
	const char *a;
	size_t n;
	int i, rcpts = 0;

	targv[0] = argv[0];
	*targc = 1;
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (rcpts || a[0] != '-' || a[1] == '\0') {
			if (o->o_nto == AGENT_MAX_TO) {
				fprintf(stderr, "tandem sendmail: more than "
				    "%d recipients\n", AGENT_MAX_TO);
				return -1;
			}
			o->o_to[o->o_nto++] = a;
		} else if (strcmp(a, "--") == 0)
			rcpts = 1;
		else if (strncmp(a, "--", 2) == 0 || strcmp(a, "-c") == 0 ||
		    strcmp(a, "-d") == 0) {
			targv[(*targc)++] = argv[i];
			n = strcspn(a + 2, "=");
			for (lo = longopts; lo->name != NULL; lo++)
				if (strlen(lo->name) == n &&
				    strncmp(lo->name, a + 2, n) == 0)
					break;
			if ((a[1] != '-' || (lo->name != NULL &&
			    lo->has_arg == required_argument &&
			    a[2 + n] == '\0')) && i + 1 < argc)
				targv[(*targc)++] = argv[++i];
		} else if (strcmp(a, "-t") == 0)
			o->o_sm_extract = 1;
		else if (strcmp(a, "-i") == 0 || strcmp(a, "-oi") == 0 ||
		    (strncmp(a, "-oe", 3) == 0 && strlen(a) == 4))
			continue;	/* read to the end; errors: exit */
		else if (strcmp(a, "-f") == 0 && i + 1 < argc)
			o->o_sm_from = argv[++i];
		else if (strncmp(a, "-f", 2) == 0 && a[2] != '\0')
			o->o_sm_from = a + 2;
		else {
			fprintf(stderr, "tandem sendmail: option not "
			    "supported: %s\n", a);
			return -1;
		}
	}
	targv[*targc] = NULL;
	return 0;
}

static char *
default_dir(void)
{
	const char *home;
	char *dir;

	if ((home = getenv("TANDEM_HOME")) != NULL && *home != '\0')
		return strdup(home);
	if ((home = getenv("HOME")) == NULL || *home == '\0')
		return NULL;
	if (asprintf(&dir, "%s/.tandem", home) == -1)
		return NULL;
	return dir;
}

/* Without -d: the folder of the agent "store" option of -c FILE. */
static int
conf_store_dir(struct agent_opts *o, char **dir)
{
	struct agent_net *an;
	char err[TN_ERRLEN];

	if ((an = net_new(o, err)) == NULL) {
		fprintf(stderr, "tandem: %s\n", err);
		return EX_CONFIG;
	}
	if (net_store_dir(an) != NULL && getenv("TANDEM_HOME") == NULL &&
	    (o->o_dir = *dir = strdup(net_store_dir(an))) == NULL) {
		net_free(an);
		return EX_OSERR;
	}
	net_free(an);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct agent_opts *);
	} cmds[] = {
		{ "init", cmd_init },
		{ "import", cmd_import },
		{ "seal", cmd_seal },
		{ "open", cmd_open },
		{ "register", cmd_register },
		{ "send", cmd_send },
		{ "sendmail", cmd_sendmail },
		{ "fetch", cmd_fetch },
		{ "revoke", cmd_revoke },
		{ "status", cmd_status },
		{ "read", cmd_read },
		{ "inbox", cmd_inbox },
		{ "passwd", cmd_passwd },
		{ "arm", cmd_arm },
		{ "forward", cmd_forward },
		{ "reply", cmd_reply },
	};
	struct agent_opts o;
	char *dir = NULL, conf[1024], **targv = NULL;
	size_t i;
	int targc, rc = EX_USAGE;

	memset(&o, 0, sizeof(o));
	o.o_password_fd = -1;
	o.o_timeout = 300;
	o.o_retry_for = 180;
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("tandem %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (i = 1; i < (size_t)argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			break;
	if (i < sizeof(cmds) / sizeof(cmds[0]) && cmds[i].fn == cmd_sendmail) {
		if ((targv = calloc((size_t)argc + 1, sizeof(*targv))) ==
		    NULL || sendmail_args(&o, argc - 1, argv + 1, targv,
		    &targc) == -1 || parse_opts(&o, 0, targc, targv) == -1) {
			free(targv);
			usage(stderr);
			return EX_USAGE;
		}
	} else if (i == sizeof(cmds) / sizeof(cmds[0]) ||
	    parse_opts(&o, strcmp(argv[1], "read") == 0 ||
	    strcmp(argv[1], "register") == 0 ||
	    strcmp(argv[1], "inbox") == 0 || strcmp(argv[1], "revoke") == 0 ||
	    strcmp(argv[1], "status") == 0 || strcmp(argv[1], "arm") == 0,
	    argc - 1, argv + 1) == -1) {
		usage(stderr);
		return EX_USAGE;
	}
	if (o.o_dir == NULL && o.o_conf != NULL &&
	    (rc = conf_store_dir(&o, &dir)) != 0)
		return rc;
	if (o.o_dir == NULL && (o.o_dir = dir = default_dir()) == NULL) {
		fprintf(stderr, "tandem: no store folder: use -d DIR, "
		    "TANDEM_HOME or HOME\n");
		return EX_USAGE;
	}
	if (strlen(o.o_dir) > 900) {
		fprintf(stderr, "tandem: store folder name too long\n");
		goto out;
	}
	/* Without -c: the settings "tandem register" saved, if any. */
	if (o.o_conf == NULL) {
		snprintf(conf, sizeof(conf), "%s/tandem.conf", o.o_dir);
		if (access(conf, F_OK) == 0)
			o.o_conf = conf;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmds[i].fn(&o);
	curl_global_cleanup();
out:
	free(targv);
	free(dir);
	return rc;
}
