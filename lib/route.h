/*
 * NAME
 *	route.h - the routing decision shared by foreground and background
 * SYNOPSIS
 *	#include "route.h"
 *
 *	int	route_decide(const struct route_courier *self,
 *		    const struct route_tables *tables, const char *address,
 *		    enum route_source source, const char *from_courier,
 *		    struct route_decision *out, char *err);
 *	const char *route_action_name(enum route_action action);
 *	int	route_domain_valid(const char *domain);
 *	int	route_domain_covers(const char *entry, const char *domain);
 * DESCRIPTION
 *	route_decide() says where one recipient address goes. The
 *	foreground and the background each call it with their own
 *	tables (struct route_tables: callbacks over their own database)
 *	and reach the same decision independently. Nothing here touches
 *	a database or a socket.
 *
 *	self describes this courier: its role, its own domains (for a
 *	private courier, those of its name constraints), whether its
 *	superior is a gateway, and the superior's courier id (NULL or ""
 *	for the root). The caller keeps ownership of everything passed
 *	in; route_decide() keeps no pointer after it returns.
 *
 *	source says where the message came from: ROUTE_SRC_LOCAL (a
 *	user of this courier), ROUTE_SRC_SUBORDINATE (deferred up to us
 *	by a subordinate courier), ROUTE_SRC_REMOTE (any other courier:
 *	our superior or an introduced one). from_courier is the sending
 *	courier's id, or NULL for ROUTE_SRC_LOCAL.
 *
 *	The address is local@domain (no angle brackets). The domain is
 *	compared without regard to case; it is lower-cased before any
 *	table sees it. The local part is passed to the tables verbatim:
 *	each table decides how it compares local parts, and the tables
 *	of both elements must decide alike.
 *
 *	Domains match as X.509 dNSName name constraints do: a domain
 *	entry "example.org" covers example.org and every name under it
 *	(a.example.org, b.a.example.org), never "badexample.org". A
 *	leading dot in an entry is ignored. When several entries cover a
 *	domain the longest (most specific) wins: rt_domain is asked for
 *	the full domain first, then for each parent in turn, and the
 *	first hit is taken.
 *
 *	The rules, tried in exactly this order; the first that matches
 *	decides:
 *	0. the address is malformed (no "@", empty part, an address
 *	   literal, a bad domain, longer than TN_MAX_ADDRESS)
 *	   -> ROUTE_REJECT;
 *	1. rt_local says it is an active local account
 *	   -> ROUTE_DELIVER_LOCAL; or else rt_closed says it is an
 *	   account of this courier that its operator closed (tandemctl
 *	   close) -> ROUTE_REJECT, "account closed", code 5.1.1: never
 *	   held, invited, or sent anywhere else;
 *	2. rt_transferred knows it was transferred away
 *	   -> ROUTE_TO_NEW_COURIER;
 *	3. rt_learned knows it from an invitation reject
 *	   -> ROUTE_TO_LEARNED_COURIER;
 *	4. rt_domain maps its domain (or a parent) to a courier: an
 *	   introduced private courier, or a subordinate's name
 *	   constraints -> ROUTE_TO_INTRODUCED_COURIER;
 *	5. this courier is private, or its superior is a gateway
 *	   (whatever its own role, even public or gateway)
 *	   -> ROUTE_DEFER_TO_SUPERIOR; except:
 *	   a. the domain is one of this courier's own domains: nobody
 *	      else may serve it (the name constraints say so), so it
 *	      falls through to rule 6 and is held here;
 *	   b. the message came from another courier (ROUTE_SRC_REMOTE):
 *	      a courier that defers is no transit relay, and sending it
 *	      back up would loop -> ROUTE_REJECT;
 *	6. otherwise (root, public, gateway, or a private courier's own
 *	   domain) -> ROUTE_HOLD_AND_INVITE.
 *	A decision of rules 2-5 whose target is from_courier would send
 *	the message straight back where it came from: ROUTE_REJECT.
 *
 *	A gateway keeps its segment's introductions to itself: its
 *	subordinates always defer to it (rule 5), it carries their
 *	domains in rt_domain (rule 4) so that traffic for its segment
 *	goes down, and anything else it holds and invites under its own
 *	introduction (rule 6), or defers if it sits under a gateway
 *	itself.
 *
 *	The decision (struct route_decision) carries the action, the
 *	rule that decided (0-6), the target courier id for rules 2-5,
 *	and for ROUTE_REJECT a static reason and a static enhanced
 *	status code (RFC 3463) for an SMTP reply: "5.1.1" for a closed
 *	account, "5.1.3" for every other refusal. It holds no pointer to
 *	free.
 *
 *	Each table callback returns 1 when it found the key (and, but
 *	for rt_local and rt_closed, copied the courier id, NUL-terminated, into the
 *	buffer of ROUTE_IDLEN bytes it was given), 0 when it did not,
 *	and -1 on failure with a reason in err. A callback may be NULL:
 *	that table is empty.
 *
 *	route_action_name() gives a short name for logs, such as
 *	"deliver-local".
 *
 *	route_domain_valid() is 1 if domain is a host name the router
 *	accepts (letters, digits and hyphens in labels of 1-63
 *	characters, no empty label, no trailing dot), 0 if not.
 *
 *	route_domain_covers() is 1 if the domain entry covers domain as
 *	described above (entry itself or a name under it; any case; a
 *	leading dot in entry ignored), 0 if not. tandemctl invite uses it
 *	to keep a private courier to its own domains.
 * DIAGNOSTICS
 *	route_decide() returns 0 with a decision (REJECT included), or
 *	-1 when a table failed or a target courier id is empty, or rule
 *	5 applies but self has no superior; err says which. The caller
 *	then answers tempfail, never reject.
 */
#ifndef TANDEM_ROUTE_H
#define TANDEM_ROUTE_H

#include <stddef.h>

#include "pki.h"

#define ROUTE_IDLEN	256	/* a courier id, with its NUL */

enum route_action {
	ROUTE_REJECT = 0,
	ROUTE_DELIVER_LOCAL,
	ROUTE_TO_NEW_COURIER,
	ROUTE_TO_LEARNED_COURIER,
	ROUTE_TO_INTRODUCED_COURIER,
	ROUTE_DEFER_TO_SUPERIOR,
	ROUTE_HOLD_AND_INVITE
};

enum route_source {
	ROUTE_SRC_LOCAL = 0,
	ROUTE_SRC_SUBORDINATE,
	ROUTE_SRC_REMOTE
};

struct route_courier {
	enum pki_role		 rc_role;
	const char *const	*rc_domains;	/* own domains */
	size_t			 rc_ndomains;
	int			 rc_superior_gateway;
	const char		*rc_superior;	/* courier id; NULL: none */
};

struct route_tables {
	void	*rt_ctx;	/* passed to every callback */
	int	(*rt_local)(void *ctx, const char *address, char *err);
	int	(*rt_transferred)(void *ctx, const char *address,
		    char *courier, char *err);
	int	(*rt_learned)(void *ctx, const char *address,
		    char *courier, char *err);
	int	(*rt_domain)(void *ctx, const char *domain,
		    char *courier, char *err);
	int	(*rt_closed)(void *ctx, const char *address, char *err);
};

struct route_decision {
	enum route_action	 rd_action;
	int			 rd_rule;
	char			 rd_courier[ROUTE_IDLEN];	/* "" if none */
	const char		*rd_reason;	/* static; REJECT only */
	const char		*rd_code;	/* static; REJECT only */
};

int	route_decide(const struct route_courier *,
	    const struct route_tables *, const char *, enum route_source,
	    const char *, struct route_decision *, char *);
const char *route_action_name(enum route_action);
int	route_domain_valid(const char *);
int	route_domain_covers(const char *, const char *);

#endif
