/*
 * NAME
 *	intro.h - introductions of elements and inter-courier messages
 * SYNOPSIS
 *	#include "intro.h"
 *
 *	int	intro_check(const struct pki_trust *tr, X509 *cert,
 *		    STACK_OF(X509) *chain, enum pki_kind want,
 *		    struct intro **out, char *err);
 *	int	intro_check_pem(const struct pki_trust *tr, const char *cert,
 *		    size_t certlen, const char *chain, size_t chainlen,
 *		    enum pki_kind want, struct intro **out, char *err);
 *	void	intro_free(struct intro *in);
 *	int	intro_covers(const struct intro *in, const char *name);
 *	int	intro_domains_text(const struct intro *in, char **out,
 *		    char *err);
 *	int	intro_pem_with(const char *pem, STACK_OF(X509) *more,
 *		    char **out, char *err);
 *	X509	*intro_issuer(X509 *cert, STACK_OF(X509) *certs);
 *	int	intro_below(X509 *cert, STACK_OF(X509) *chain,
 *		    const char *pem, int direct);
 *	int	intro_sub_add(X509 *cert, STACK_OF(X509) *chain,
 *		    const char *pem, STACK_OF(X509) *subs);
 *
 *	int	intro_make(const struct intro_req *rq, char **out,
 *		    size_t *outlen, char *err);
 *	int	intro_read(const struct pki_trust *tr, const char *buf,
 *		    size_t len, enum pki_kind want, struct intro **out,
 *		    struct proto_msg **msg, char *err);
 *
 *	int	intro_ic_make(const struct intro_ic *ic, char **out,
 *		    size_t *outlen, char *err);
 *	int	intro_ic_read(const struct pki_trust *tr, const char *buf,
 *		    size_t len, struct intro_ic **out, struct intro **origin,
 *		    char *err);
 *	void	intro_ic_free(struct intro_ic *ic);
 *	int	intro_ic_sign(const struct intro_ic *ic, EVP_PKEY *key,
 *		    char **sig, char *err);
 *	int	intro_ic_verify(const struct intro_ic *ic, char *err);
 *	int	intro_ic_digest(const struct intro_ic *ic, char *hex,
 *		    char *err);
 * DESCRIPTION
 *	An introduction of an element is its element certificate plus the
 *	chain up to the root (doc/federation.md, section 1).
 *
 *	intro_check() verifies cert with pki_verify() to the anchors in tr,
 *	chain holding the untrusted intermediates (may be NULL; neither
 *	is taken over), and reads what the receiver learns: the courier
 *	(commonName of the courier CA that issued cert), its role, the
 *	element kind (PKI_KIND_FG or PKI_KIND_BG; with want not
 *	PKI_KIND_NONE it must be want), the endpoint (FG: the rfc822Name
 *	of cert, its service mailbox; BG: its URI, the https URL) and the
 *	domains (a courier whose CA common name is not domain-like, such
 *	as "Tandem Root", is refused: protocol fields name couriers as
 *	domains). A private courier's domains are the dNSName permitted
 *	subtrees of its CA's name constraints. A gateway's are those of
 *	its subordinates: the private courier CA certificates in chain
 *	that the gateway issued and that verify to the anchors. Other
 *	roles have none. Domains are lower case, without a leading dot,
 *	without repeats. *out should be passed to intro_free(), which
 *	accepts NULL. in_key identifies the courier, whatever its name:
 *	pki_key_id() of its CA certificate. in_pem holds cert followed by
 *	every certificate of
 *	chain, PEM: what the introductions table stores.
 *
 *	intro_check_pem() does the same from PEM text: cert is the first
 *	certificate of its text (the others, if any, join the chain), and
 *	chain may be NULL.
 *
 *	intro_covers() is 1 when name (a domain, or an address whose
 *	domain is taken) is one of in's domains or below one, as dNSName
 *	constraints match (example.org covers a.example.org, never
 *	badexample.org), 0 otherwise.
 *
 *	intro_domains_text() writes the domains separated by one space
 *	("" when none) into *out, to be passed to free().
 *
 *	intro_pem_with() writes pem followed by the certificates of more
 *	(NULL or empty: none) in PEM into *out, to be passed to free(). A
 *	gateway uses it to name its segment when it is the origin of a
 *	message leaving the segment: its subordinates' CA certificates in
 *	the origin-chain give the receiver the segment's domains, as in
 *	an introduction.
 *
 *	intro_issuer() returns the certificate of certs that issued cert
 *	(not a new reference), or NULL. intro_below() tells whether the
 *	courier introduced by pem (a certificate, then its chain, PEM) is
 *	in the segment under the courier of the element certificate cert
 *	(chain: its chain): its CA issued by that courier's CA (direct),
 *	or with direct 0, that CA anywhere in its chain. It is 0 for the
 *	courier itself, and for text that does not parse.
 *	intro_sub_add() pushes onto subs the CA certificate of the
 *	courier introduced by pem when that courier's CA issued it (a
 *	direct subordinate: what a gateway names its segment by); 0, or
 *	-1 when out of memory. Text that does not parse adds nothing.
 *
 *	intro_make() writes an introduction protocol message of this
 *	element (struct intro_req): Courier, Role, Element,
 *	Element-Address and every Domain are read from the certificates
 *	themselves (the chain must hold the issuing courier CA; for a
 *	gateway, its subordinates' CA certificates in rq_subs give its
 *	domains and travel in the ca-chain part); Address and Token are
 *	copied from the request, and each Address with a route token in
 *	ir_proofs gets a "Route-Proof: <address> <token>" field. With rq_id NULL a fresh Id is made.
 *	*out is NUL-terminated and should be passed to free().
 *
 *	intro_read() parses an introduction message, checks its
 *	certificates with intro_check() and its fields against them:
 *	Courier, Role, Element and Element-Address must say what the
 *	certificates say, every Domain must be covered by the checked
 *	domains, and at a private courier every Address too. *out
 *	(intro_free()) and *msg (proto_msg_free(); msg may be NULL) are
 *	set only on success.
 *
 *	struct intro_ic is an inter-courier message taken apart: fields
 *	(ic_token is the optional Route-Token),
 *	the payload (ic_kind PKI_KIND_FG: part sealed; PKI_KIND_BG: part
 *	arm, or with ic_pay INTRO_PAY_REVOKE or INTRO_PAY_RECEIPT part
 *	revoke or receipt, which only backgrounds carry) and the
 *	introduction of the origin element, PEM (its certificate first,
 *	then its chain). intro_ic_make() writes one
 *	(rq_id NULL: a fresh Id), *out to be passed to free().
 *	intro_ic_read() parses one, checks the origin introduction with
 *	intro_check() (the origin's kind must match the payload: sealed
 *	from an FG; arm, revoke or receipt from a BG) and that
 *	Origin-Courier names it;
 *	*out (intro_ic_free(), which accepts NULL) and *origin
 *	(intro_free(); origin may be NULL) are set only on success. The
 *	strings of a struct intro_ic returned are owned by it.
 *
 *	The origin's assertion: intro_ic_sign() signs, with key (the
 *	origin element's), what the origin asserts of an inter-courier
 *	message (doc/protocol.md, "inter-courier"): Origin-Courier,
 *	Origin-Date, Message-Id, Sender, every Recipient and the SHA-256
 *	of the payload, one statement of lines in a fixed order, names
 *	and addresses in lower case; *sig (free()) is the signature in
 *	base64, the Origin-Signature field. ic_origin_date must be set.
 *	Relays copy Origin-Date and Origin-Signature unchanged.
 *	intro_ic_verify() checks ic_origin_sig over that statement with
 *	the key of the origin certificate (the first of ic_origin_pem,
 *	checked to the root by intro_ic_read()); 0, or -1 with the reason
 *	("no Origin-Signature", "Origin-Signature does not verify").
 *	intro_ic_digest() writes the SHA-256 of the statement in hex
 *	(65 bytes with the NUL) into hex: what a receiver remembers to
 *	refuse the same message again under another Id.
 * DIAGNOSTICS
 *	Functions returning int return 0, or -1 with a one-line reason in
 *	err: "untrusted introduction: <why>", "introduction of a <kind>,
 *	not a <kind>", "field <Name> says <value>, the certificate
 *	<value>", "private courier <name> claims <what> outside its name
 *	constraints", ...
 */
#ifndef TANDEM_INTRO_H
#define TANDEM_INTRO_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pki.h"
#include "proto.h"

#define INTRO_MAX_DOMAINS	64	/* domains of one introduction */

struct intro {
	char		*in_courier;	/* CN of the issuing courier CA */
	enum pki_role	 in_role;
	enum pki_kind	 in_kind;	/* PKI_KIND_FG or PKI_KIND_BG */
	char		*in_endpoint;	/* FG mailbox or BG https URL */
	char		**in_domains;
	size_t		 in_ndomains;
	char		*in_pem;	/* certificate, then its chain */
	char		 in_key[PKI_KEYIDLEN + 1];	/* its CA's key */
};

/* What intro_make() needs. Pointers are borrowed. */
struct intro_req {
	X509		*ir_cert;	/* this element */
	STACK_OF(X509)	*ir_chain;	/* its CA and above */
	STACK_OF(X509)	*ir_subs;	/* gateway: subordinate CAs, or NULL */
	const char	*ir_id;		/* NULL: a fresh one */
	const char *const *ir_addrs;	/* Address fields */
	size_t		 ir_naddrs;
	const char	*ir_token;	/* NULL: none */
	const char *const *ir_proofs;	/* route token of each Address,
					   or NULL; may be NULL */
};

/* What an inter-courier message carries besides the message itself. */
enum intro_pay {
	INTRO_PAY_ITEM = 0,	/* sealed (FG) or arm (BG): the message */
	INTRO_PAY_REVOKE,	/* a sender's revoke (BG) */
	INTRO_PAY_RECEIPT	/* a receipt back to the sender (BG) */
};

struct intro_ic {
	char		*ic_id;		/* Id of the protocol message */
	char		*ic_from;	/* From-Element */
	char		*ic_to;		/* To-Element */
	char		*ic_msgid;	/* Message-Id */
	char		*ic_sender;
	char		**ic_rcpts;
	size_t		 ic_nrcpts;
	unsigned int	 ic_hops;
	char		*ic_origin;	/* Origin-Courier */
	char		*ic_token;	/* Route-Token, or NULL */
	enum pki_kind	 ic_kind;	/* FG: sealed, BG: arm */
	enum intro_pay	 ic_pay;	/* or revoke, receipt (BG) */
	unsigned char	*ic_payload;
	size_t		 ic_paylen;
	char		*ic_origin_pem;	/* origin cert, then its chain */
	char		*ic_date;	/* Date of this hop (read only) */
	char		*ic_origin_date;	/* Origin-Date, or NULL */
	char		*ic_origin_sig;	/* Origin-Signature, or NULL */
};

int	intro_check(const struct pki_trust *, X509 *, STACK_OF(X509) *,
	    enum pki_kind, struct intro **, char *);
int	intro_check_pem(const struct pki_trust *, const char *, size_t,
	    const char *, size_t, enum pki_kind, struct intro **, char *);
void	intro_free(struct intro *);
int	intro_covers(const struct intro *, const char *);
int	intro_domains_text(const struct intro *, char **, char *);
int	intro_pem_with(const char *, STACK_OF(X509) *, char **, char *);
X509	*intro_issuer(X509 *, STACK_OF(X509) *);
int	intro_below(X509 *, STACK_OF(X509) *, const char *, int);
int	intro_sub_add(X509 *, STACK_OF(X509) *, const char *,
	    STACK_OF(X509) *);

int	intro_make(const struct intro_req *, char **, size_t *, char *);
int	intro_read(const struct pki_trust *, const char *, size_t,
	    enum pki_kind, struct intro **, struct proto_msg **, char *);

int	intro_ic_make(const struct intro_ic *, char **, size_t *, char *);
int	intro_ic_read(const struct pki_trust *, const char *, size_t,
	    struct intro_ic **, struct intro **, char *);
void	intro_ic_free(struct intro_ic *);
int	intro_ic_sign(const struct intro_ic *, EVP_PKEY *, char **, char *);
int	intro_ic_verify(const struct intro_ic *, char *);
int	intro_ic_digest(const struct intro_ic *, char *, char *);

#endif
