/*
 * NAME
 *	sendmail.c - "tandem sendmail": sendmail(8) for a mail client
 * SYNOPSIS
 *	tandem sendmail [-t] [-i] [-oi] [-oem] [-f ADDR] [options]
 *	    [--] [ADDR ...]
 * DESCRIPTION
 *	Reads one RFC 5322 message on standard input, always to its end
 *	(a line of a single dot ends nothing, as with -i), and sends it as
 *	"tandem send" does, with agent_send() (send.c). The recipients
 *	are the arguments and, with -t, the addresses of To, Cc and Bcc
 *	(the members of groups too), each once (case aside). The Bcc
 *	fields are cut from the message before it is sealed; nothing
 *	else of it changes.
 *
 *	A recipient the message does not name in To or Cc (one of Bcc,
 *	or an argument only: mail clients pass their Bcc that way) is
 *	blind. The named recipients get one message; each blind one gets
 *	a copy of its own, under a fresh message id (a copy alone under
 *	the message's id when nobody is named), so that neither an ARM
 *	nor the To of a content mail names a blind recipient to another.
 *
 *	-f ADDR must be the agent's own address (case aside). -i, -oi and
 *	-oeX (-oem and the like) are taken and ignored. tandem's own
 *	options (tandem.c: -d, -c, the long ones, restrictions included)
 *	go with them.
 * DIAGNOSTICS
 *	One line on standard error, "tandem sendmail: REASON". The exit
 *	status is 0 or one of sysexits.h, as sendmail's callers expect:
 *	the agent's own codes (tandem(1)) become EX_UNAVAILABLE for a
 *	refusal (AGENT_EX_REFUSED), EX_PROTOCOL for an answer not from the
 *	courier, EX_SOFTWARE otherwise.
 */
#include <gmime/gmime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "tandem.h"
#include "agent.h"

struct sm_rcpts {
	char		*sr_addr[AGENT_MAX_TO];
	int		 sr_blind[AGENT_MAX_TO];
	size_t		 sr_n;
};

static int
sm_has(const struct sm_rcpts *r, const char *addr)
{
	size_t i;

	for (i = 0; i < r->sr_n; i++)
		if (strcasecmp(r->sr_addr[i], addr) == 0)
			return 1;
	return 0;
}

static int
sm_add(struct sm_rcpts *r, const char *addr, char *err)
{
	if (sm_has(r, addr))
		return 0;
	if (r->sr_n == AGENT_MAX_TO) {
		tn_err(err, "more than %d recipients", AGENT_MAX_TO);
		return -1;
	}
	if ((r->sr_addr[r->sr_n] = strdup(addr)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	r->sr_n++;
	return 0;
}

/* The mailboxes of list, those of groups included, added to r. */
static int
sm_add_list(struct sm_rcpts *r, InternetAddressList *list, char *err)
{
	InternetAddress *ia;
	const char *addr;
	int i, n;

	n = list != NULL ? internet_address_list_length(list) : 0;
	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			if (sm_add_list(r, internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), err) == -1)
				return -1;
			continue;
		}
		addr = internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia));
		if (addr != NULL && *addr != '\0' && sm_add(r, addr, err) == -1)
			return -1;
	}
	return 0;
}

static void
sm_free(struct sm_rcpts *r)
{
	size_t i;

	for (i = 0; i < r->sr_n; i++)
		free(r->sr_addr[i]);
	memset(r, 0, sizeof(*r));
}

/*
 * The recipients into r: the arguments, with -t To, Cc and Bcc; each
 * one blind unless To or Cc names it. 0 or an exit status, with err.
 */
static int
sm_rcpts(const struct agent_opts *o, const unsigned char *msg, size_t len,
    struct sm_rcpts *r, char *err)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *m;
	struct sm_rcpts named;
	size_t i;
	int rc = EX_DATAERR;

	memset(&named, 0, sizeof(named));
	g_mime_init();
	stream = g_mime_stream_mem_new_with_buffer((const char *)msg, len);
	parser = g_mime_parser_new_with_stream(stream);
	if ((m = g_mime_parser_construct_message(parser, NULL)) == NULL) {
		tn_err(err, "standard input: not a message");
		goto out;
	}
	if (sm_add_list(&named, g_mime_message_get_addresses(m,
	    GMIME_ADDRESS_TYPE_TO), err) == -1 ||
	    sm_add_list(&named, g_mime_message_get_addresses(m,
	    GMIME_ADDRESS_TYPE_CC), err) == -1)
		goto out;
	for (i = 0; i < o->o_nto; i++)
		if (sm_add(r, o->o_to[i], err) == -1)
			goto out;
	if (o->o_sm_extract && (sm_add_list(r, g_mime_message_get_addresses(m,
	    GMIME_ADDRESS_TYPE_TO), err) == -1 ||
	    sm_add_list(r, g_mime_message_get_addresses(m,
	    GMIME_ADDRESS_TYPE_CC), err) == -1 ||
	    sm_add_list(r, g_mime_message_get_addresses(m,
	    GMIME_ADDRESS_TYPE_BCC), err) == -1))
		goto out;
	rc = EX_USAGE;
	if (r->sr_n == 0) {
		tn_err(err, "no recipients: none given%s", o->o_sm_extract ?
		    ", none in To, Cc or Bcc" : " (-t takes them from the "
		    "message)");
		goto out;
	}
	for (i = 0; i < r->sr_n; i++)
		r->sr_blind[i] = !sm_has(&named, r->sr_addr[i]);
	rc = 0;
out:
	sm_free(&named);
	if (m != NULL)
		g_object_unref(m);
	g_object_unref(parser);
	g_object_unref(stream);
	return rc;
}

/* Is the header field at p (up to end) a Bcc? */
static int
sm_is_bcc(const unsigned char *p, const unsigned char *end)
{
	if (end - p < 4 || strncasecmp((const char *)p, "bcc", 3) != 0)
		return 0;
	for (p += 3; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	return p < end && *p == ':';
}

/* Cut each Bcc field, folded lines included, from the header: the length. */
static size_t
sm_cut_bcc(unsigned char *msg, size_t len)
{
	unsigned char *p = msg, *end = msg + len, *q, *nl;

	while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end &&
	    p[1] == '\n')) {
		if (!sm_is_bcc(p, end)) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				break;
			p = nl + 1;
			continue;
		}
		for (q = p; q < end; q = nl + 1) {
			if ((nl = memchr(q, '\n', (size_t)(end - q))) == NULL) {
				q = end;
				break;
			}
			if (nl + 1 < end && nl[1] != ' ' && nl[1] != '\t') {
				q = nl + 1;
				break;
			}
		}
		memmove(p, q, (size_t)(end - q));
		end -= q - p;
	}
	return (size_t)(end - msg);
}

/*
 * The named recipients in one message, each blind one in its own.
 * 0 or an exit status, with err (saying what went already).
 */
static int
sm_send(struct agent_session *as, const struct agent_opts *o,
    const unsigned char *msg, size_t len, const struct sm_rcpts *r,
    char *err)
{
	struct agent_opts so = *o;
	char *id = NULL, why[TN_ERRLEN];
	size_t i, sent = 0;
	int rc = 0;

	so.o_nto = 0;
	for (i = 0; i < r->sr_n; i++)
		if (!r->sr_blind[i])
			so.o_to[so.o_nto++] = r->sr_addr[i];
	if (so.o_nto > 0 && (rc = agent_send(as, &so, msg, len, 0, &id,
	    why)) == 0)
		sent++;
	for (i = 0; i < r->sr_n && rc == 0; i++) {
		if (!r->sr_blind[i])
			continue;
		free(id);
		id = NULL;
		so.o_to[0] = r->sr_addr[i];
		so.o_nto = 1;
		if ((rc = agent_send(as, &so, msg, len, sent > 0, &id,
		    why)) == 0)
			sent++;
	}
	free(id);
	if (rc != 0 && sent > 0)
		tn_err(err, "%s (%zu message%s of this mail went already)", why,
		    sent, sent == 1 ? "" : "s");
	else if (rc != 0)
		memcpy(err, why, TN_ERRLEN);
	return rc;
}

/* What sendmail's callers expect: 0 or a sysexits.h code. */
static int
sm_exit(int rc)
{
	if (rc == 0 || (rc >= EX__BASE && rc <= EX__MAX))
		return rc;
	if (rc == AGENT_EX_REFUSED)
		return EX_UNAVAILABLE;
	if (rc == AGENT_EX_COURIER)
		return EX_PROTOCOL;
	return EX_SOFTWARE;
}

int
cmd_sendmail(struct agent_opts *o)
{
	struct agent_session as;
	struct sm_rcpts r;
	unsigned char *msg = NULL;
	char err[TN_ERRLEN];
	size_t len;
	int rc;

	memset(&as, 0, sizeof(as));
	memset(&r, 0, sizeof(r));
	rc = EX_USAGE;
	if (o->o_in != NULL) {
		tn_err(err, "the message comes on standard input, not --in");
		goto out;
	}
	rc = EX_NOINPUT;
	if (agent_read_input("-", &msg, &len, err) == -1)
		goto out;
	if ((rc = sm_rcpts(o, msg, len, &r, err)) != 0)
		goto out;
	len = sm_cut_bcc(msg, len);
	if ((rc = agent_session(&as, o, err)) != 0)
		goto out;
	rc = EX_NOPERM;
	if (o->o_sm_from != NULL && strcasecmp(o->o_sm_from,
	    as.as_address) != 0) {
		tn_err(err, "-f %s: not this agent's address %s (it sends as "
		    "%s only)", o->o_sm_from, as.as_address, as.as_address);
		goto out;
	}
	rc = sm_send(&as, o, msg, len, &r, err);
out:
	if (rc != 0)
		fprintf(stderr, "tandem sendmail: %s\n", err);
	agent_session_free(&as);
	sm_free(&r);
	free(msg);
	return sm_exit(rc);
}
