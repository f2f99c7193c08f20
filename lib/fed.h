/*
 * NAME
 *	fed.h - the federation engine: every courier-to-courier decision,
 *	once, for both elements (doc/federation.md)
 * SYNOPSIS
 *	#include "fed.h"
 *
 *	void	fed_init(struct fed *fd, enum pki_kind kind,
 *		    const struct conf *cf, const struct cms_id *id,
 *		    const struct pki_trust *tr, const char *self_pem,
 *		    PGconn *db, const struct fed_ops *ops, void *arg);
 *	int	fed_self_pem(const struct cms_id *id, char **out, char *err);
 *	void	fed_courier(const struct fed *fd, struct route_courier *self);
 *	void	fed_tables(struct fed *fd, struct route_tables *rt);
 *	int	fed_route(struct fed *fd, const char *rcpt,
 *		    enum route_source src, const char *from,
 *		    struct route_decision *rd, char *err);
 *	int	fed_below(const struct fed *fd, const char *pem, int direct);
 *	int	fed_peer(struct fed *fd, const char *courier, const char *ca,
 *		    char **endpoint, X509 **cert, char **pem, char *err);
 *	enum fed_status fed_open(struct fed *fd, const unsigned char *der,
 *		    size_t len, unsigned char **text, size_t *tlen,
 *		    struct intro **peer, X509 **signer, char *why);
 *	int	fed_check_endpoint(const struct fed *fd, X509 *cert,
 *		    STACK_OF(X509) *chain, const char *endpoint, char *err);
 *	int	fed_seen(struct fed *fd, const char *id, const char *kind,
 *		    char *err);
 *	int	fed_fresh(const struct fed *fd, const char *date,
 *		    const char *what, char *why);
 *	int	fed_serves(const struct fed *fd, const char *name);
 *	int	fed_purge(struct fed *fd, long *n, char *err);
 *	int	fed_record(struct fed *fd, const struct intro *in, char *err);
 *	int	fed_send(struct fed *fd, const char *courier,
 *		    const char *avoid, const struct fed_item *it, char *used,
 *		    char *err);
 *	int	fed_send_own(struct fed *fd, const char *courier,
 *		    const char *msgid, const char *sender, const char *rcpt,
 *		    const unsigned char *payload, size_t paylen, char *used,
 *		    char *err);
 *	int	fed_introduce(struct fed *fd, const struct intro *to,
 *		    const char *const *addrs, const char *const *proofs,
 *		    size_t naddrs, const char *token, char *err);
 *	enum fed_status fed_take_ic(struct fed *fd, const struct intro *peer,
 *		    const char *text, size_t len, char *why, char *err);
 *	enum fed_status fed_take_intro(struct fed *fd,
 *		    const struct intro *peer, const char *text, size_t len,
 *		    char *why, char *err);
 *	int	fed_release(struct fed *fd, const char *address, int *n,
 *		    char *err);
 *	int	fed_refusal(struct fed *fd, char *err);
 *	enum fed_status fed_take_reject(struct fed *fd,
 *		    const struct proto_msg *pm, const char *client,
 *		    char *why, char *err);
 * DESCRIPTION
 *	The foreground (milter/) and the background (policy/) of a courier
 *	decide the same way, independently, what to do with what another
 *	courier sends: this file is where they decide. An element hands
 *	the engine a struct fed describing itself (its kind, its element
 *	identity, trust anchors, configuration and database connection)
 *	and a table of struct fed_ops: the few things that are truly its
 *	own. The engine keeps no state between calls; a struct fed is
 *	cheap to fill on the stack for each message.
 *
 *	The element's own hands (struct fed_ops), each returning 0 or -1
 *	with err:
 *	  fo_queue	store a wrap (DER) for the element at endpoint, in
 *			the caller's transaction: the foreground mails it
 *			from its service mailbox ("Tandem-Kind:
 *			inter-courier"), the background POSTs it over
 *			HTTPS (bg_outbox). kind is "inter-courier",
 *			"introduction", or FED_UNSEALED (a background's
 *			introduction in clear, sealed when sent); it the
 *			item an inter-courier message carries, else NULL.
 *	  fo_deliver	hand an item to the local account it is for (the
 *			foreground re-wraps the content to the agent, the
 *			background files the ARM in the agent's mailbox);
 *			1 when the account cannot take it yet (no agent
 *			certificate): the engine holds it instead.
 *	  fo_hold	keep an item for an address this courier serves
 *			but that has no account yet (the foreground also
 *			invites it); 1 when the address declined this
 *			courier's invitations: nothing kept, the element
 *			logged it (the foreground told the sender).
 *	  fo_notice	an item cannot go on: the foreground mails the
 *			sender a signed non-delivery notice, the background
 *			only logs (it has no way to the sender).
 *	  fo_check	(may be NULL) the element's own check of an
 *			inter-courier payload (the background parses the
 *			ARM record and compares it with the fields); 0, or
 *			-1 with the reason in err: refused as bad.
 *	  fo_open_held	(may be NULL: the payload is held as received)
 *			open a held item's payload into *out (to be passed
 *			to OPENSSL_clear_free()); 1 when it no longer
 *			opens: the element logs it, the row stays for the
 *			operator.
 *	  fo_released	(may be NULL) a held item went: delivered here
 *			(courier NULL) or sent on to courier; the
 *			foreground withdraws the pending invitation then.
 *	  fo_note	what the engine did (struct fed_note), for the
 *			element's log in its own words.
 *	  fo_control	(NULL at a foreground: refused as bad) a revoke
 *			or a receipt (it_pay) reached the courier serving
 *			its recipient (the route says deliver or hold):
 *			the element acts on it (doc/flows.md 7); 1
 *			when it does not believe it (the reason in
 *			err): the whole message is refused (FED_REFUSED,
 *			the claim "Revoke" or "Receipt" of the origin).
 *
 *	fed_init() fills a struct fed: the endpoint is the service
 *	mailbox of a foreground (PKI_KIND_FG), the URL of a background.
 *
 *	fed_self_pem() writes the introduction of an element, its
 *	certificate then its chain in PEM, into *out (free()); elements
 *	make it once at start and put it in fd_self_pem.
 *
 *	fed_courier() describes this courier for route_decide();
 *	fed_tables() fills route tables over this element's database (an
 *	element may wrap them, as the milter caches the agent of a local
 *	hit); fed_route() is route_decide() over them: active
 *	accounts (rule 1; closed ones refused), transfers (rule 2), routes learned by address
 *	(rule 3) and the domains of its peers' introductions of the same
 *	element kind (rule 4).
 *
 *	fed_below() is 1 when the courier introduced by pem (certificate
 *	then chain) is in the segment under this one: its CA issued by
 *	ours (direct), or with direct 0 ours anywhere in its chain.
 *
 *	fed_peer() finds the introduction of courier's element of this
 *	kind, under the CA key ca (hex, as introductions.courier_key has
 *	it) when ca is not NULL: 1 with *endpoint, *cert and, when pem is
 *	not NULL, *pem, each to be freed; 0 when unknown; -1.
 *
 *	fed_open() opens a wrap another courier's element sent to this
 *	one: unwrapped with this element's key, its signer must be an
 *	element of this kind whose introduction checks (intro_check()).
 *	On FED_TAKEN, *text (OPENSSL_clear_free()), *peer (intro_free())
 *	and *signer (X509_free()) are set; otherwise why says what failed
 *	(FED_UNVERIFIED, FED_BAD, or FED_ERROR when internal).
 *
 *	fed_check_endpoint() checks the certificate an element at
 *	endpoint shows (a TLS server): an element of this kind whose
 *	introduction checks, for exactly that endpoint; 0 or -1.
 *
 *	fed_seen() takes an Id of a kind once: 1 the first time, 0 after.
 *	fed_fresh() is 0 when date (a protocol time) lies within
 *	hygiene.replay_window before now and hygiene.clock_skew after;
 *	else -1 with why ("<what> ... is older than the replay window",
 *	"... is in the future"). fed_purge() deletes the seen_messages
 *	rows older than the replay window (and the clock skew), *n of
 *	them: the periodic sweep of each element calls it.
 *	fed_serves() is 1 when name (a domain, or an address's) is one
 *	of the courier's own domains, exactly.
 *	fed_record() stores (or refreshes) an introduction: 1 when the
 *	claim it makes is refused (FED_REFUSED to the caller; why in
 *	fd_claim_why): its courier's name is known with another CA key,
 *	or one of its domains is served by another known courier or by
 *	this one. An introduction the operator recorded (pinned) is
 *	never replaced.
 *
 *	fed_refusal() records the claim the last call refused (in
 *	refused_claims, once per courier key and claim, counting
 *	repeats) and notes it the first time (FED_EV_REFUSED). The
 *	element calls it after rolling back the refused transaction.
 *
 *	fed_send() sends one item (struct fed_item) to courier's element,
 *	with the route token it carries, or, for an item this element
 *	originates, a fresh one kept in route_tokens for its recipient,
 *	or, when that one is not introduced, to the superior's (rule 5);
 *	the courier used is copied into used (ROUTE_IDLEN). It returns 0
 *	when queued, 1 without queueing when the courier used is avoid
 *	(the one the item came from: a loop) or when neither is
 *	introduced (err says which), 2 when queued and this element put
 *	itself as the origin of a relayed item (a gateway at its
 *	segment's edge), -1. This element is the origin of its own users'
 *	items; a gateway also of an item that leaves or enters its
 *	segment, and an item leaving the segment carries its
 *	subordinates' CA certificates in the origin-chain.
 *
 *	The element that is the origin signs its assertion
 *	(intro_ic_sign(): Origin-Date now, Origin-Signature); a relay
 *	copies the item's it_origin_date and it_origin_sig.
 *
 *	fed_send_own() is fed_send() of a local user's message for one
 *	recipient: Hops 1, this element the origin.
 *
 *	An item may be a revoke or a receipt instead of the message
 *	(it_pay): it is signed, sent, taken and routed the same way (a
 *	receipt's Sender is the recipient it reports on, its Recipient the
 *	message's sender), but it carries no route token, the receiver
 *	does not introduce itself back, and where a message would be
 *	delivered or held the element's fo_control acts on it. A gateway
 *	does not carry one across its segment's border (fed_send() returns
 *	1: it would have to sign it as its own).
 *
 *	fed_introduce() queues this element's introduction, with addrs
 *	(each with the route token of proofs, when proofs is not NULL and
 *	the entry is not NULL, as a Route-Proof) and token, to the element introduced by to. A gateway speaks for
 *	its segment (its subordinates' domains) to a courier outside it,
 *	and is only itself to one inside.
 *
 *	fed_take_ic() takes an inter-courier message (text, unwrapped;
 *	peer: the checked introduction of the element that signed it),
 *	in the caller's transaction: it checks it (fed_ic_why() below),
 *	checks the origin's assertion (intro_ic_verify(): missing or not
 *	verifying is a claim of peer refused, "Origin C") and its dates
 *	(fed_fresh() of Date and Origin-Date: the claim "Date"), takes
 *	its Id once, takes the assertion once (intro_ic_digest(), kind
 *	"origin" in seen_messages: another Id with the same assertion is
 *	the claim "Replay" refused), records the origin's introduction, routes
 *	each recipient (deliver, hold, forward with Hops + 1, or notice),
 *	and introduces this element back to the origin when it delivered
 *	or held a message that did not come straight from the origin, or
 *	that a subordinate deferred to it.
 *
 *	fed_take_intro() takes an introduction signed by peer, in the
 *	caller's transaction: it must introduce peer itself; its Date
 *	must be fresh (fed_fresh(), else the claim "Date"); its Id is
 *	taken once; a Token must come with exactly one Address and answer
 *	a pending invitation of that address (the route is then learned
 *	with reason "rejected"; else the claim "Token for ADDRESS" is
 *	refused). Every other Address needs a proof
 *	(doc/security.md): a Route-Proof echoing the route token this
 *	element put into a message it originated for that address, or
 *	the address lying in the introducer's certified domains; an
 *	address of a domain this courier serves, or with an account
 *	here, is never learned. Then the introduction is recorded
 *	(fed_record()), each Address learned (reason "introduced", never
 *	over a route of another reason), and the held items that now
 *	route to another courier are sent on (fed_release()). Any claim
 *	refused refuses the whole introduction.
 *
 *	fed_release() routes every held item again (of address, or all
 *	when NULL): to the local account once it can take it, on to
 *	another courier when a route appeared; the others stay held. *n
 *	counts those sent or delivered.
 *
 *	fed_take_reject() takes an invitation-reject that client, an
 *	agent of this courier, sent it (opened and checked by the
 *	element), in the caller's transaction: Address must be the
 *	client's, Registered-Courier this courier and Inviting-Courier
 *	another; its Id is taken once; then this element's introduction,
 *	with the Address and the Token, is queued to the inviting element
 *	of the same kind. A foreground knows it from the fg-cert part the
 *	invitation carried, which must verify and be of the
 *	Inviting-Courier; a background knows only the Background-Url
 *	(https, not its own), and queues the text unsealed (kind
 *	FED_UNSEALED): its sender seals it to the certificate the server
 *	shows.
 * DIAGNOSTICS
 *	fed_take_ic() and fed_take_intro() return FED_TAKEN, FED_DUPLICATE
 *	(already taken: nothing done), FED_UNVERIFIED (its certificates
 *	or the fields they vouch for do not verify; why says what),
 *	FED_REFUSED (a verified peer's claim the checks refuse; why says
 *	which), FED_BAD (malformed; why says
 *	what) or FED_ERROR (internal: err; the caller rolls back and
 *	answers a temporary failure). Others: 0 or -1 with err.
 */
#ifndef TANDEM_FED_H
#define TANDEM_FED_H

#include <stddef.h>

#include <libpq-fe.h>
#include <openssl/x509.h>

#include "cms.h"
#include "conf.h"
#include "intro.h"
#include "pki.h"
#include "proto.h"
#include "route.h"

/* fo_queue's kind of an introduction in clear, sealed when sent. */
#define FED_UNSEALED	"introduction/unsealed"

/* One message for one recipient, on its way. Pointers are borrowed. */
struct fed_item {
	const char		*it_msgid;
	const char		*it_sender;
	const char		*it_rcpt;
	unsigned int		 it_hops;
	const char		*it_origin;	/* NULL: this element */
	const char		*it_origin_pem;
	const unsigned char	*it_payload;	/* sealed content or ARM */
	size_t			 it_paylen;
	const char		*it_expires;	/* ARM: or NULL */
	const void		*it_extra;	/* the element's: ARM record */
	const char		*it_held;	/* held row id, or NULL */
	const char		*it_token;	/* Route-Token carried, or NULL */
	const char		*it_origin_date;	/* relayed: the */
	const char		*it_origin_sig;		/* origin's, as read */
	enum intro_pay		 it_pay;	/* the message, or a revoke
						   or receipt about it */
};

struct fed;

/* What the engine did, for the element's log (fo_note). */
enum fed_event {
	FED_EV_IC = 0,		/* an inter-courier message read: ic */
	FED_EV_DUPLICATE,	/* already taken: ic, or courier */
	FED_EV_ROUTE,		/* item: text is the route action */
	FED_EV_DELIVER,		/* item delivered here */
	FED_EV_HOLD,		/* item held here */
	FED_EV_FORWARD,		/* item sent to courier (for: routed to),
				   with the origin it carries; text: the
				   route action */
	FED_EV_NOTICE,		/* item cannot go on: text is why */
	FED_EV_INTRODUCE,	/* introduced to courier, count addresses */
	FED_EV_RECORDED,	/* introduction of courier recorded */
	FED_EV_LEARNED,		/* item's rcpt routes to courier: text is
				   the reason */
	FED_EV_RELEASED,	/* held item sent to courier (text: the
				   route action), or delivered (NULL) */
	FED_EV_INTRO,		/* introduction taken: count, flag token */
	FED_EV_EXPIRED,		/* a held ARM past its expiry: purged */
	FED_EV_REFUSED		/* a claim refused, the first time from
				   this courier: courier, text the claim,
				   endpoint the reason */
};

struct fed_note {
	enum fed_event		 fn_event;
	const struct intro_ic	*fn_ic;		/* FED_EV_IC, DUPLICATE */
	const struct fed_item	*fn_item;
	const char		*fn_courier;
	const char		*fn_for;	/* NULL: fn_courier itself */
	const char		*fn_endpoint;
	const char		*fn_text;
	size_t			 fn_count;
	int			 fn_flag;	/* FORWARD: origin replaced,
						   INTRO: with a Token */
	int			 fn_released;	/* INTRO: held items sent */
};

struct fed_ops {
	int	(*fo_queue)(struct fed *, const char *endpoint,
		    const char *kind, const struct fed_item *it,
		    const unsigned char *wrap, size_t wlen, char *err);
	int	(*fo_deliver)(struct fed *, const struct fed_item *, char *);
	int	(*fo_hold)(struct fed *, const struct fed_item *, char *);
	int	(*fo_notice)(struct fed *, const struct fed_item *,
		    const char *reason, char *err);
	int	(*fo_check)(struct fed *, const struct intro_ic *,
		    void **extra, char *err);
	void	(*fo_check_free)(void *extra);
	int	(*fo_open_held)(struct fed *, const struct fed_item *,
		    unsigned char **out, size_t *outlen, char *err);
	int	(*fo_released)(struct fed *, const struct fed_item *,
		    const char *courier, char *err);
	void	(*fo_note)(struct fed *, const struct fed_note *);
	int	(*fo_control)(struct fed *, const struct fed_item *, char *);
};

/* This element, for one call. Pointers are borrowed. */
struct fed {
	enum pki_kind		 fd_kind;	/* PKI_KIND_FG or PKI_KIND_BG */
	const struct conf	*fd_conf;
	const char		*fd_endpoint;	/* own mailbox or URL */
	const struct cms_id	*fd_id;		/* element cert, key, chain */
	const struct pki_trust	*fd_trust;
	const char		*fd_self_pem;	/* fed_self_pem() */
	PGconn			*fd_db;
	const struct fed_ops	*fd_ops;
	void			*fd_arg;	/* the element's */
	int			 fd_sent;	/* wraps queued by this call */
	int			 fd_released;	/* fed_release()'s count */
	/* A claim refused by the last call (FED_REFUSED), for fed_refusal(). */
	char			 fd_claim_courier[ROUTE_IDLEN];
	char			 fd_claim_key[PKI_KEYIDLEN + 1];
	char			 fd_claim[TN_MAX_ADDRESS + 16];
	char			 fd_claim_why[TN_ERRLEN];
};

enum fed_status {
	FED_TAKEN = 0,
	FED_DUPLICATE,
	FED_UNVERIFIED,
	FED_REFUSED,
	FED_BAD,
	FED_ERROR
};

void	fed_init(struct fed *, enum pki_kind, const struct conf *,
	    const struct cms_id *, const struct pki_trust *, const char *,
	    PGconn *, const struct fed_ops *, void *);
int	fed_self_pem(const struct cms_id *, char **, char *);
void	fed_courier(const struct fed *, struct route_courier *);
void	fed_tables(struct fed *, struct route_tables *);
int	fed_route(struct fed *, const char *, enum route_source, const char *,
	    struct route_decision *, char *);
int	fed_below(const struct fed *, const char *, int);
int	fed_peer(struct fed *, const char *, const char *, char **, X509 **,
	    char **, char *);
enum fed_status fed_open(struct fed *, const unsigned char *, size_t,
	    unsigned char **, size_t *, struct intro **, X509 **, char *);
int	fed_check_endpoint(const struct fed *, X509 *, STACK_OF(X509) *,
	    const char *, char *);
int	fed_seen(struct fed *, const char *, const char *, char *);
int	fed_fresh(const struct fed *, const char *, const char *, char *);
int	fed_serves(const struct fed *, const char *);
int	fed_purge(struct fed *, long *, char *);
int	fed_record(struct fed *, const struct intro *, char *);
int	fed_send(struct fed *, const char *, const char *,
	    const struct fed_item *, char *, char *);
int	fed_send_own(struct fed *, const char *, const char *, const char *,
	    const char *, const unsigned char *, size_t, char *, char *);
int	fed_introduce(struct fed *, const struct intro *, const char *const *,
	    const char *const *, size_t, const char *, char *);
enum fed_status fed_take_ic(struct fed *, const struct intro *, const char *,
	    size_t, char *, char *);
enum fed_status fed_take_intro(struct fed *, const struct intro *,
	    const char *, size_t, char *, char *);
int	fed_release(struct fed *, const char *, int *, char *);
int	fed_refusal(struct fed *, char *);
enum fed_status fed_take_reject(struct fed *, const struct proto_msg *,
	    const char *, char *, char *);

#endif
