/*
 * NAME
 *	reglink.c - "tandem register" from a registration link or the
 *	Maildir
 * SYNOPSIS
 *	#include "agent.h"
 *
 *	int	reglink_parse(const char *link, struct reg_link *rl,
 *		    char *err);
 *	int	reglink_root(const char *anchor, const char *hex, char *err);
 *	int	reglink_find(const struct agent_opts *o,
 *		    const struct pki_trust *trust, const char *id,
 *		    char **path, unsigned char **der, size_t *len, char *err);
 * DESCRIPTION
 *	The registration link of an invitation's text (doc/flows.md 3)
 *	is "tandem:register," then comma-separated key=value pairs: id
 *	(the invitation's Id, required), smtp (the users' submission
 *	server, HOST:PORT) and root (the SHA-256 of the courier's root
 *	certificate, 64 hex digits). "?" and "&" are taken for ","; an
 *	unknown key is ignored (a later courier may add one), a repeated
 *	one is refused. The link carries no token and no signature: it
 *	only names the signed invitation, which must be in the Maildir.
 *	reglink_parse() fills rl (fixed buffers, nothing to free).
 *
 *	reglink_root() is 0 when the PEM file anchor holds a certificate
 *	of SHA-256 hex, AGENT_EX_UNTRUSTED with err otherwise.
 *
 *	reglink_find() looks at the mail of the Maildir (--maildir, the
 *	configured one, else $HOME/Maildir), new/ and cur/: each
 *	invitation there is verified as a file would be
 *	(agent_invitation_verify()). With id, it is the one whose signed
 *	Id is id; without, the newest (by its signed Date) of those for
 *	o->o_address, or for any address when that is NULL and they are
 *	all for one; for several addresses it names them and asks for
 *	--address (EX_USAGE). Invitations it cannot use (another CA's,
 *	altered, expired) are named on standard error with why, and left
 *	alone. On 0, *path (to free()) names the mail taken and *der (to
 *	free()) is its signed part.
 * DIAGNOSTICS
 *	0, or an exit status of tandem(1) with a one-line reason in err:
 *	EX_USAGE for a bad link or no Maildir, EX_NOINPUT when no usable
 *	invitation is there (the reason says how many were refused).
 */
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "tandem.h"
#include "pki.h"
#include "proto.h"
#include "tmail.h"
#include "util.h"
#include "agent.h"

#define RL_MAX_MAIL	(1024 * 1024)
#define RL_PREFIX	"tandem:register"

/* value of n bytes into buf, if every byte is one ok allows. */
static int
rl_value(char *buf, size_t size, const char *v, size_t n, const char *ok)
{
	size_t i;

	if (buf[0] != '\0' || n == 0 || n >= size)
		return -1;
	for (i = 0; i < n; i++)
		if (strchr(ok, v[i]) == NULL && !((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9')))
			return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return 0;
}

int
reglink_parse(const char *link, struct reg_link *rl, char *err)
{
	const char *p, *eq;
	size_t n, k;
	int bad = 0;

	memset(rl, 0, sizeof(*rl));
	if (strncasecmp(link, RL_PREFIX, strlen(RL_PREFIX)) != 0 ||
	    strchr(",?", link[strlen(RL_PREFIX)]) == NULL ||
	    link[strlen(RL_PREFIX)] == '\0') {
		tn_err(err, "not a registration link (tandem:register,id=...)");
		return EX_USAGE;
	}
	for (p = link + strlen(RL_PREFIX); !bad && *p != '\0'; p += n) {
		p++;			/* the separator */
		n = strcspn(p, ",?&");
		if (n == 0)
			continue;
		if ((eq = memchr(p, '=', n)) == NULL) {
			bad = 1;
			break;
		}
		k = (size_t)(eq - p);
		eq++;
		if (k == 2 && strncmp(p, "id", 2) == 0)
			bad = rl_value(rl->rl_id, sizeof(rl->rl_id), eq,
			    n - 3, "@.-_+$!%/=^{}|~#*'") == -1 ||
			    !proto_valid_msgid(rl->rl_id);
		else if (k == 4 && strncmp(p, "smtp", 4) == 0)
			bad = rl_value(rl->rl_smtp, sizeof(rl->rl_smtp), eq,
			    n - 5, ".-:[]") == -1;
		else if (k == 4 && strncmp(p, "root", 4) == 0)
			bad = rl_value(rl->rl_root, sizeof(rl->rl_root), eq,
			    n - 5, "") == -1 || strlen(rl->rl_root) != 64 ||
			    strspn(rl->rl_root, "0123456789abcdefABCDEF") != 64;
	}
	if (bad || rl->rl_id[0] == '\0') {
		tn_err(err, "not a registration link: %s", bad ?
		    "a bad or repeated value" : "no id=");
		return EX_USAGE;
	}
	return 0;
}

int
reglink_root(const char *anchor, const char *hex, char *err)
{
	STACK_OF(X509) *certs;
	unsigned char md[EVP_MAX_MD_SIZE];
	char fp[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int mdlen, j;
	int i, rc = AGENT_EX_UNTRUSTED;

	if ((certs = pki_load_certs(anchor, err)) == NULL)
		return EX_CONFIG;
	for (i = 0; rc != 0 && i < sk_X509_num(certs); i++) {
		if (X509_digest(sk_X509_value(certs, i), EVP_sha256(), md,
		    &mdlen) != 1)
			continue;
		for (j = 0; j < mdlen; j++)
			snprintf(fp + 2 * j, 3, "%02X", md[j]);
		if (strcasecmp(fp, hex) == 0)
			rc = 0;
	}
	sk_X509_pop_free(certs, X509_free);
	if (rc != 0)
		tn_err(err, "%s is not the root certificate the link names "
		    "(SHA-256 %s): get the courier's root certificate", anchor,
		    hex);
	return rc;
}

/* One invitation of the Maildir that verified. */
struct rl_found {
	char		*rf_path;
	char		*rf_to;		/* its Recipient */
	time_t		 rf_date;
	unsigned char	*rf_der;
	size_t		 rf_len;
};

struct rl_scan {
	const struct agent_opts	*rs_o;
	const struct pki_trust	*rs_trust;
	const char		*rs_id;
	struct rl_found		*rs_found;
	size_t			 rs_n;
	unsigned int		 rs_refused;	/* named, not usable */
	int			 rs_rc;		/* of the last refused */
	char			 rs_why[TN_ERRLEN];
};

/* A verified invitation is kept when it is the one sought. */
static int
rl_keep(struct rl_scan *rs, const char *path, struct proto_msg *pm,
    unsigned char *der, size_t len)
{
	struct rl_found *f;
	const char *to = proto_get(pm, "Recipient"), *d;
	time_t date = 0;

	if (rs->rs_id != NULL && strcmp(proto_get(pm, "Id"), rs->rs_id) != 0)
		return 0;
	if (rs->rs_id == NULL && rs->rs_o->o_address != NULL &&
	    strcasecmp(to, rs->rs_o->o_address) != 0)
		return 0;
	if ((d = proto_get(pm, "Date")) != NULL)
		(void)proto_parse_time(d, &date);
	if ((f = reallocarray(rs->rs_found, rs->rs_n + 1, sizeof(*f))) ==
	    NULL)
		return -1;
	rs->rs_found = f;
	f += rs->rs_n;
	if ((f->rf_path = strdup(path)) == NULL ||
	    (f->rf_to = strdup(to)) == NULL) {
		free(f->rf_path);
		return -1;
	}
	f->rf_date = date;
	f->rf_der = der;
	f->rf_len = len;
	rs->rs_n++;
	return 1;
}

/* One mail of the Maildir: -1 only when out of memory. */
static int
rl_one(struct rl_scan *rs, const char *path)
{
	struct tmail *tm = NULL;
	struct proto_msg *pm = NULL;
	unsigned char *buf = NULL;
	X509 *signer = NULL;
	char why[TN_ERRLEN];
	size_t n;
	int rc = 0, v;

	if (util_read_file(path, RL_MAX_MAIL, &buf, &n, why) == -1 ||
	    memmem(buf, n, "invitation", 10) == NULL ||
	    tmail_parse((char *)buf, n, &tm, why) == -1 ||
	    tm->tm_kind != TMAIL_INVITATION)
		goto out;		/* not an invitation: not ours */
	if ((v = agent_invitation_verify(rs->rs_trust, tm->tm_der,
	    tm->tm_derlen, &pm, &signer, why)) != 0) {
		/* With a link, only the mail it names is worth a word. */
		if (rs->rs_id == NULL || strcmp(tm->tm_msgid, rs->rs_id) == 0) {
			fprintf(stderr, "tandem register: %s: not used: %s\n",
			    path, why);
			rs->rs_refused++;
			rs->rs_rc = v;
			snprintf(rs->rs_why, sizeof(rs->rs_why), "%s", why);
		}
		goto out;
	}
	if ((rc = rl_keep(rs, path, pm, tm->tm_der, tm->tm_derlen)) == 1)
		tm->tm_der = NULL;	/* kept */
	rc = rc == -1 ? -1 : 0;
out:
	proto_msg_free(pm);
	X509_free(signer);
	tmail_free(tm);
	free(buf);
	return rc;
}

/* Every file of md/sub. */
static int
rl_dir(struct rl_scan *rs, const char *md, const char *sub, char *err)
{
	DIR *d;
	struct dirent *de;
	char *p;
	int rc = 0;

	if (asprintf(&p, "%s/%s", md, sub) == -1)
		goto oom;
	d = opendir(p);
	free(p);
	if (d == NULL)
		return 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s/%s", md, sub, de->d_name) == -1)
			rc = -1;
		else {
			rc = rl_one(rs, p);
			free(p);
		}
	}
	closedir(d);
	if (rc == 0)
		return 0;
oom:
	tn_err(err, "out of memory");
	return -1;
}

/* The Maildir: --maildir, the configured one, else ~/Maildir. */
static int
rl_maildir(const struct agent_opts *o, char **md, char *err)
{
	struct agent_net *an;
	const char *home;

	*md = NULL;
	if (o->o_maildir != NULL)
		*md = strdup(o->o_maildir);
	else {
		if ((an = net_new(o, err)) == NULL)
			return EX_CONFIG;
		if (net_maildir(an) != NULL)
			*md = strdup(net_maildir(an));
		net_free(an);
		if (*md == NULL && (home = getenv("HOME")) != NULL &&
		    *home != '\0' && asprintf(md, "%s/Maildir", home) == -1)
			*md = NULL;
	}
	if (*md == NULL) {
		tn_err(err, "no Maildir: use --maildir, or give the "
		    "invitation as a file (--invitation)");
		return EX_USAGE;
	}
	return 0;
}

/* Several addresses, and no --address: name them (EX_USAGE). */
static int
rl_which(const struct rl_scan *rs, char *err)
{
	size_t i;

	for (i = 1; i < rs->rs_n; i++)
		if (strcasecmp(rs->rs_found[i].rf_to, rs->rs_found[0].rf_to) !=
		    0)
			break;
	if (i == rs->rs_n)
		return 0;
	for (i = 0; i < rs->rs_n; i++)
		fprintf(stderr, "tandem register: %s: an invitation for %s\n",
		    rs->rs_found[i].rf_path, rs->rs_found[i].rf_to);
	tn_err(err, "invitations for several addresses: choose one with "
	    "--address, or give the file");
	return EX_USAGE;
}

/* Nothing to take: why, and the exit status. */
static int
rl_none(const struct rl_scan *rs, const char *md, char *err)
{
	const struct agent_opts *o = rs->rs_o;

	if (rs->rs_id != NULL && rs->rs_refused > 0) {
		tn_err(err, "the invitation %s in %s: %s", rs->rs_id, md,
		    rs->rs_why);
		return rs->rs_rc;
	}
	tn_err(err, "no invitation%s%s%s%s in %s%s; give the invitation as a "
	    "file (--invitation) if it is elsewhere", rs->rs_id != NULL ?
	    " " : "", rs->rs_id != NULL ? rs->rs_id : "", rs->rs_id == NULL &&
	    o->o_address != NULL ? " for " : "", rs->rs_id == NULL &&
	    o->o_address != NULL ? o->o_address : "", md, rs->rs_refused > 0 ?
	    " that this agent can use" : "");
	return EX_NOINPUT;
}

int
reglink_find(const struct agent_opts *o, const struct pki_trust *trust,
    const char *id, char **path, unsigned char **der, size_t *len,
    char *err)
{
	struct rl_scan rs;
	char *md = NULL, *p = NULL;
	size_t i, best = 0;
	int rc;

	memset(&rs, 0, sizeof(rs));
	rs.rs_o = o;
	rs.rs_trust = trust;
	rs.rs_id = id;
	if ((rc = rl_maildir(o, &md, err)) != 0)
		goto out;
	rc = EX_NOINPUT;
	if (asprintf(&p, "%s/new", md) == -1 || access(p, R_OK) == -1) {
		tn_err(err, "%s: not a Maildir (no new/; --maildir names "
		    "another)", md);
		goto out;
	}
	rc = EX_OSERR;
	if (rl_dir(&rs, md, "new", err) == -1 ||
	    rl_dir(&rs, md, "cur", err) == -1)
		goto out;
	if (rs.rs_n == 0) {
		rc = rl_none(&rs, md, err);
		goto out;
	}
	if (id == NULL && o->o_address == NULL &&
	    (rc = rl_which(&rs, err)) != 0)
		goto out;
	for (i = 1; i < rs.rs_n; i++)
		if (rs.rs_found[i].rf_date > rs.rs_found[best].rf_date ||
		    (rs.rs_found[i].rf_date == rs.rs_found[best].rf_date &&
		    strcmp(rs.rs_found[i].rf_path,
		    rs.rs_found[best].rf_path) > 0))
			best = i;
	if (rs.rs_n > 1)
		fprintf(stderr, "tandem register: %zu invitations; the newest "
		    "is taken\n", rs.rs_n);
	*path = rs.rs_found[best].rf_path;
	*der = rs.rs_found[best].rf_der;
	*len = rs.rs_found[best].rf_len;
	rs.rs_found[best].rf_path = NULL;
	rs.rs_found[best].rf_der = NULL;
	rc = 0;
out:
	for (i = 0; i < rs.rs_n; i++) {
		free(rs.rs_found[i].rf_path);
		free(rs.rs_found[i].rf_to);
		free(rs.rs_found[i].rf_der);
	}
	free(rs.rs_found);
	free(md);
	free(p);
	return rc;
}
