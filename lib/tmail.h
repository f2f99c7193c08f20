/*
 * NAME
 *	tmail.h - the mails Tandem sends and recognises (doc/flows.md 2)
 * SYNOPSIS
 *	#include "tmail.h"
 *
 *	const char *tmail_kind_name(enum tmail_kind kind);
 *	enum tmail_kind tmail_kind_from_name(const char *name);
 *
 *	int	tmail_compose(const struct tmail_head *th,
 *		    const unsigned char *der, size_t derlen,
 *		    char **out, size_t *outlen, char *err);
 *	int	tmail_body(const unsigned char *der, size_t derlen,
 *		    char **out, size_t *outlen, char *err);
 *	int	tmail_parse(const char *buf, size_t len, struct tmail **out,
 *		    char *err);
 *	void	tmail_free(struct tmail *tm);
 *	int	tmail_msgid(const char *mailbox, char *out, size_t size);
 *	int	tmail_notice(const struct tmail_notice *tn, char **mail,
 *		    size_t *len, char *msgid, size_t idsize, char *err);
 *	int	tmail_invitation(const struct tmail_invite *ti,
 *		    char **mail, size_t *len, char *msgid, size_t idsize,
 *		    unsigned char hash[TMAIL_HASHLEN], char *err);
 *	int	tmail_decline_code(const char *subject, char *code,
 *		    size_t size);
 * DESCRIPTION
 *	Three kinds of mail carry Tandem traffic, each marked by a
 *	"Tandem-Kind" header: content (the body is the base64 of a DER
 *	wrap of a sealed content), service (the body is the base64 of a
 *	DER wrap of a protocol message) and invitation (a multipart/mixed
 *	of a readable text/plain part and the base64 of the opaque DER
 *	SignedData of the invitation protocol message); a fourth,
 *	inter-courier, is shaped as service mail and carries a wrap
 *	element -> element between couriers (doc/federation.md 3).
 *
 *	tmail_compose() writes one such mail with CRLF line endings:
 *	From, To (one or more), Subject (th_subject, or the kind's
 *	neutral default), Date (th_date, or now when 0), Message-ID
 *	(th_msgid, given without angle brackets), MIME-Version,
 *	Tandem-Kind, then the body. For an invitation th_text is the
 *	readable part (UTF-8, lines ending in LF or CRLF; required). Every
 *	address must satisfy proto_valid_address(), the message id
 *	proto_valid_msgid(), and the subject must be printable ASCII.
 *	*out is NUL-terminated (not counted) and should be passed to
 *	free().
 *
 *	tmail_body() writes only the body of a content or service mail:
 *	der in base64, lines of 76 characters ending in CRLF. The milter
 *	uses it to replace a body in place. *out as above.
 *
 *	tmail_parse() reads one mail of at most TN_MAX_MESSAGE bytes with
 *	GMime and returns, in a struct tmail to be passed to tmail_free(),
 *	the kind, the single From address, the Message-ID (without
 *	brackets), the To addresses (at most TN_MAX_RCPTS), and the
 *	decoded DER of the wrap or of the signed invitation (at most
 *	TN_MAX_MESSAGE bytes; its first byte must start a DER SEQUENCE).
 *	It refuses: a NUL byte, any GMime parser warning, a missing or
 *	repeated or unknown Tandem-Kind, not exactly one From mailbox, an
 *	invalid address or Message-ID, a body of the wrong shape for the
 *	kind (content and service: a single application/pkcs7-mime part;
 *	invitation: multipart/mixed of text/plain then
 *	application/pkcs7-mime). tmail_free(NULL) does nothing.
 *
 *	tmail_parse() calls proto_init() itself.
 *
 *	tmail_msgid() writes a fresh message id, 24 random hex digits
 *	"@" the domain of mailbox; 0 or -1.
 *
 *	tmail_notice() composes the non-delivery notice a foreground
 *	mails to the sender of a private message it cannot deliver:
 *	readable text (the message id, the recipient, the reason, the
 *	courier), then the same text signed by tn_id (cms_sign(), opaque)
 *	in an application/pkcs7-mime part; From tn_from, To tn_to,
 *	"Auto-Submitted: auto-replied". It carries no content and no key.
 *	*mail is to be passed to free(); msgid gets its fresh message id.
 *
 *	tmail_invitation() makes a referral token (32 random bytes,
 *	base64url), builds the invitation protocol message of
 *	struct tmail_invite (part fg-cert: ti_id's certificate; part
 *	ca-chain: ti_id's chain, if any), signs it with ti_id
 *	(cms_sign()), and composes the invitation mail from ti_register
 *	to ti_address with a readable text. It returns the mail (*mail,
 *	to be passed to free()), the mail's message id (without
 *	brackets) in msgid, and the SHA-256 of the token in hash, which
 *	is all the database keeps of it. The token itself is never
 *	returned. The readable text says why the mail came (a held
 *	message waits, or, with no ti_msgids, an operator's "you are
 *	invited") and gives the commands to run: tandem register with
 *	the registration link (tandem:register,id=msgid[,smtp=
 *	ti_submission][,root=SHA-256 in hex]: doc/flows.md 3), which finds
 *	the mail in the Maildir, or with the mail saved as a file and
 *	--smtp ti_submission when set; where the root certificate is
 *	(ti_anchor_url, else the operator) and, with ti_anchors, the
 *	SHA-256 fingerprint of the anchor that issued the top of ti_id's
 *	chain (left out if none did). With ti_decline set it also makes
 *	a decline code (TMAIL_DECLINE and 43 random base64url
 *	characters: util_token()), writes its SHA-256 to ti_decline,
 *	and gives it in the text as the Subject of an answer to
 *	ti_register, with a mailto: link that writes that answer: the
 *	invited person declines all invitations from this courier with
 *	no agent (doc/flows.md 2, "Do not invite me again"). The code is
 *	only in the readable part, never in the signed one.
 *
 *	tmail_decline_code() finds the decline code in the value of a
 *	Subject header (anywhere in it, after "Re: " and the like) and
 *	copies its 43 characters, NUL-terminated, to code (size at
 *	least TMAIL_DECLINE_CODELEN + 1); 0, or -1 when there is none
 *	or it is cut short.
 * DIAGNOSTICS
 *	The int functions return 0, or -1 with a one-line reason in err
 *	that names the header, part or limit. tmail_kind_from_name()
 *	returns TMAIL_NONE for an unknown name.
 */
#ifndef TANDEM_TMAIL_H
#define TANDEM_TMAIL_H

#include <stddef.h>
#include <time.h>

#define TMAIL_HEADER	"Tandem-Kind"
#define TMAIL_DECLINE	"tandem-decline-"	/* then the 43-char code */
#define TMAIL_DECLINE_CODELEN	43

enum tmail_kind {
	TMAIL_NONE = 0,
	TMAIL_CONTENT,
	TMAIL_SERVICE,
	TMAIL_INVITATION,
	TMAIL_INTER_COURIER
};

/* What tmail_compose() writes. Pointers are borrowed. */
struct tmail_head {
	enum tmail_kind		 th_kind;
	const char		*th_from;
	const char *const	*th_to;
	size_t			 th_nto;
	const char		*th_subject;	/* NULL: the kind's default */
	const char		*th_msgid;	/* without brackets */
	time_t			 th_date;	/* 0: now */
	const char		*th_text;	/* invitation only */
};

#define TMAIL_HASHLEN	32	/* SHA-256 of a referral token */

struct cms_id;

/* What tmail_notice() writes. Pointers are borrowed. */
struct tmail_notice {
	const char		*tn_from;	/* FG service mailbox */
	const char		*tn_to;		/* the sender told */
	const char		*tn_courier;	/* courier name */
	const char		*tn_msgid;	/* the undelivered message */
	const char		*tn_rcpt;
	const char		*tn_reason;
	const struct cms_id	*tn_id;		/* the FG element */
};

/* What tmail_invitation() writes. Pointers are borrowed. */
struct tmail_invite {
	const char		*ti_address;	/* the invited address */
	const char		*ti_inviter;
	const char		*ti_courier;	/* courier name */
	const char		*ti_register;	/* FG service mailbox */
	const char		*ti_bg_url;	/* may be NULL */
	const char		*ti_submission;	/* users', may be NULL */
	const char		*ti_anchor_url;	/* the root's, may be NULL */
	const char		*ti_anchors;	/* file, may be NULL */
	const char *const	*ti_msgids;	/* held messages */
	size_t			 ti_nmsgids;	/* 0 for an operator's */
	time_t			 ti_expires;
	const struct cms_id	*ti_id;		/* the FG element */
	unsigned char		*ti_decline;	/* out: SHA-256 of the decline
						   code, or NULL for none */
};

struct tmail {
	enum tmail_kind		 tm_kind;
	char			*tm_from;
	char			*tm_msgid;
	char			**tm_to;
	size_t			 tm_nto;
	unsigned char		*tm_der;
	size_t			 tm_derlen;
	char			*tm_text;	/* invitation only, else NULL */
};

const char *tmail_kind_name(enum tmail_kind);
enum tmail_kind tmail_kind_from_name(const char *);
int	tmail_compose(const struct tmail_head *, const unsigned char *,
	    size_t, char **, size_t *, char *);
int	tmail_body(const unsigned char *, size_t, char **, size_t *, char *);
int	tmail_notice(const struct tmail_notice *, char **, size_t *, char *,
	    size_t, char *);
int	tmail_parse(const char *, size_t, struct tmail **, char *);
void	tmail_free(struct tmail *);
int	tmail_msgid(const char *, char *, size_t);
int	tmail_invitation(const struct tmail_invite *, char **, size_t *,
	    char *, size_t, unsigned char *, char *);
int	tmail_decline_code(const char *, char *, size_t);

#endif
