/*
 * NAME
 *	fed.h - the foreground between couriers (doc/federation.md)
 * SYNOPSIS
 *	#include "fed.h"
 *
 *	int	fed_send_local(struct msg *mc, PGconn *db,
 *		    const struct tmail *tm, const char *rcpt,
 *		    const char *courier, const unsigned char *sealed,
 *		    size_t sealedlen);
 *	int	fed_process(struct msg *mc, PGconn *db, struct tmail *tm);
 *	int	fed_reject(struct msg *mc, PGconn *db,
 *		    const struct proto_msg *pm);
 * DESCRIPTION
 *	fed_send_local() queues, in the caller's transaction, the
 *	inter-courier mail that carries the sealed content of a local
 *	user's message for rcpt to courier (route rules 2-5), Hops 1,
 *	this element as origin; a courier without an FG introduction is
 *	replaced by the superior.
 *
 *	fed_process() handles a "Tandem-Kind: inter-courier" mail to the
 *	service mailbox: an inter-courier message (delivered, held,
 *	forwarded, or answered with a non-delivery notice, recipient by
 *	recipient) or an introduction (recorded; the held mail of each
 *	Address, and of every held address under its Domains, that now
 *	routes elsewhere is sent on). Both are wraps from another FG
 *	element whose chain verifies to the trust anchors.
 *
 *	fed_reject() handles an invitation-reject an agent of this
 *	courier sent in a service mail (already unwrapped and its signer
 *	checked): it queues an introduction of this FG, with the Token
 *	and Address, to the inviting FG of the fg-cert part.
 *
 *	The helpers below them: fed_self() fills the route_courier of
 *	this courier; fed_peer() finds the FG introduction of a courier
 *	(1, its endpoint, certificate and, unless pem is NULL, the PEM
 *	of the certificate and its chain, each to be freed; 0 none; -1);
 *	fed_below() is 1 when the courier of an introduction (PEM, the
 *	certificate then its chain) is in the segment under this one:
 *	its CA issued by ours, or, with direct 0, ours anywhere in its
 *	chain; 0 otherwise and for this courier itself.
 *	fed_send_ic() queues one struct fed_out to a courier, or to the
 *	superior when that courier has no FG introduction (the courier
 *	used is copied into a ROUTE_IDLEN buffer; 1 without queueing
 *	when it is avoid, the courier the message came from). This
 *	element is the origin of its own users' mail; a gateway also
 *	puts itself as the origin of a message that leaves or enters
 *	its segment (the segment stays hidden) and then returns 2;
 *	otherwise the origin given is kept and it returns 0.
 *	fed_introduce() queues an introduction of this FG to the FG
 *	introduced by to; a gateway lists its subordinates' domains (the
 *	CA certificates of their FG introductions) and so speaks for its
 *	segment, but to a courier inside its segment it is only itself
 *	(the segment's domains would cover the subordinate's own). fed_notice() queues a non-delivery
 *	notice; fed_record() stores an introduction; fed_seen() is 1
 *	the first time an Id of a kind is seen, 0 after; fed_release()
 *	sends on the held mail of an address that routes elsewhere now
 *	(log "released msgid=... rcpt=... to=...") and withdraws its
 *	pending invitation (status rejected; log "withdrawn invitation
 *	rcpt=... courier=...").
 *
 *	Nothing here keeps a pointer to what it is given.
 * DIAGNOSTICS
 *	0, or -1 with the verdict of mc set (msg_fail()).
 */
#ifndef TANDEM_FED_H
#define TANDEM_FED_H

#include <stddef.h>

#include <libpq-fe.h>

#include "intro.h"
#include "milter.h"
#include "proto.h"
#include "tmail.h"

int	fed_send_local(struct msg *, PGconn *, const struct tmail *,
	    const char *, const char *, const unsigned char *, size_t);
int	fed_process(struct msg *, PGconn *, struct tmail *);
int	fed_reject(struct msg *, PGconn *, const struct proto_msg *);

/*
 * Shared by fed.c (what goes out) and fedin.c (what comes in).
 * struct fed_out is one inter-courier message to send; pointers are
 * borrowed, fo_origin_pem NULL means this element is the origin.
 */
struct fed_out {
	const char		*fo_msgid;
	const char		*fo_sender;
	const char *const	*fo_rcpts;
	size_t			 fo_nrcpts;
	unsigned int		 fo_hops;
	const char		*fo_origin;
	const char		*fo_origin_pem;
	const unsigned char	*fo_sealed;
	size_t			 fo_sealedlen;
};

void	fed_self(const struct fg *, struct route_courier *);
int	fed_peer(PGconn *, const char *, char **, X509 **, char **, char *);
int	fed_below(const struct fg *, const char *, int);
int	fed_send_ic(const struct fg *, PGconn *, const char *, const char *,
	    const struct fed_out *, char *, char *);
int	fed_introduce(const struct fg *, PGconn *, const struct intro *,
	    const char *const *, size_t, const char *, char *);
int	fed_notice(const struct fg *, PGconn *, const char *, const char *,
	    const char *, const char *, char *);
int	fed_record(PGconn *, const struct intro *, char *);
int	fed_seen(PGconn *, const char *, const char *, char *);
int	fed_release(const struct fg *, PGconn *, const char *, int *, char *);

#endif
