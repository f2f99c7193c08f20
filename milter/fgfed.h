/*
 * NAME
 *	fgfed.h - the foreground between couriers (doc/federation.md)
 * SYNOPSIS
 *	#include "fgfed.h"
 *
 *	void	fgfed_init(struct fed *fd, struct msg *mc, PGconn *db);
 *	int	fed_send_local(struct msg *mc, PGconn *db,
 *		    const struct tmail *tm, const char *rcpt,
 *		    const char *courier, const unsigned char *sealed,
 *		    size_t sealedlen);
 *	int	fed_process(struct msg *mc, PGconn *db, struct tmail *tm);
 *	int	fed_reject(struct msg *mc, PGconn *db,
 *		    const struct proto_msg *pm);
 * DESCRIPTION
 *	The foreground's side of the federation engine (lib/fed.h): the
 *	engine decides, these carry a message's part of it.
 *
 *	fgfed_init() fills a struct fed for this foreground and one
 *	message (mc, its connection db): kind FG, the service mailbox as
 *	endpoint, and the hands of milter/fed.c.
 *
 *	fed_send_local() queues, in the caller's transaction, the
 *	inter-courier mail that carries the sealed content of a local
 *	user's message for rcpt to courier (route rules 2-5), Hops 1,
 *	this element as origin; a courier without an FG introduction is
 *	replaced by the superior.
 *
 *	fed_process() handles a "Tandem-Kind: inter-courier" mail to the
 *	service mailbox: the wrap is opened with the FG element key, its
 *	signer must be an FG element that verifies to the anchors and
 *	whose mailbox is the From, then the engine takes the
 *	inter-courier message (fed_take_ic()) or the introduction
 *	(fed_take_intro()).
 *
 *	fed_reject() handles an invitation-reject an agent of this
 *	courier sent in a service mail (already unwrapped and its signer
 *	checked): it queues an introduction of this FG, with the Token
 *	and Address, to the inviting FG of the fg-cert part.
 * DIAGNOSTICS
 *	0, or -1 with the verdict of mc set (msg_fail()): 5.7.7 for what
 *	does not verify, 5.7.1 for a refused claim, 5.6.0 for a malformed
 *	message, 4.3.0 for an internal failure.
 */
#ifndef TANDEM_MILTER_FED_H
#define TANDEM_MILTER_FED_H

#include <stddef.h>

#include <libpq-fe.h>

#include "fed.h"
#include "milter.h"
#include "proto.h"
#include "tmail.h"

void	fgfed_init(struct fed *, struct msg *, PGconn *);
int	fed_send_local(struct msg *, PGconn *, const struct tmail *,
	    const char *, const char *, const unsigned char *, size_t);
int	fed_process(struct msg *, PGconn *, struct tmail *);
int	fed_reject(struct msg *, PGconn *, const struct proto_msg *);

/* transfer.c */
int	transfer_take(struct msg *, struct fed *, const struct intro *,
	    X509 *, const struct proto_msg *);

#endif
