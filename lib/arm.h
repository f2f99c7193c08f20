/*
 * NAME
 *	arm.h - the Access Restrictions Message record
 * SYNOPSIS
 *	#include "arm.h"
 *
 *	struct arm_record *arm_new(void);
 *	void	arm_free(struct arm_record *ar);
 *	int	arm_add_rcpt(struct arm_record *ar, const char *address,
 *		    char *err);
 *	int	arm_format(const struct arm_record *ar, char **out,
 *		    size_t *outlen, char *err);
 *	int	arm_parse(const char *buf, size_t len,
 *		    struct arm_record **out, char *err);
 *	int	arm_is_restricted(const struct arm_record *ar);
 *	int	arm_matches(const struct arm_record *ar, const char *msgid,
 *		    const char *sender, char *const *rcpts, size_t nrcpts,
 *		    char *err);
 * DESCRIPTION
 *	An ARM record carries what the background path needs to know
 *	about one sealed content: its message id (also the CMS KEK key
 *	identifier), the AES-256 content key, the SHA-256 digest of the
 *	sealed content's DER encoding, the sender, the recipients, the
 *	restrictions and the time it was issued.
 *
 *	arm_format() writes the record as a MIME entity of type
 *	application/vnd.tandem.arm (see doc/protocol.md); *out is
 *	NUL-terminated and should be passed to free(). arm_parse() reads
 *	one back, refusing anything malformed or beyond the limits of
 *	tandem.h; the result should be passed to arm_free().
 *
 *	A record with no restriction set is a Private message; any
 *	restriction makes it Restricted (arm_is_restricted()).
 *
 *	arm_matches() checks a record against what a message carrying it
 *	announces: the same message id and sender (case aside), and each
 *	of rcpts one of its recipients; 0, or -1 with the reason in err.
 */
#ifndef TANDEM_ARM_H
#define TANDEM_ARM_H

#include <stddef.h>
#include <time.h>

#define ARM_KEYLEN	32	/* AES-256 */
#define ARM_DIGESTLEN	32	/* SHA-256 */

struct arm_restrictions {
	time_t		 rs_expires;	/* 0: never */
	int		 rs_no_forward;
	int		 rs_no_reply_all;
	int		 rs_no_print;	/* hint to the reader */
	int		 rs_no_copy;	/* hint to the reader */
	int		 rs_read_receipt;
	unsigned int	 rs_max_opens;	/* 0: no limit */
};

struct arm_record {
	char			*ar_msgid;	/* without angle brackets */
	unsigned char		 ar_key[ARM_KEYLEN];
	unsigned char		 ar_digest[ARM_DIGESTLEN];
	char			*ar_sender;
	char			**ar_rcpts;
	size_t			 ar_nrcpts;
	struct arm_restrictions	 ar_restr;
	time_t			 ar_issued;
};

struct arm_record *arm_new(void);
void	arm_free(struct arm_record *);
int	arm_add_rcpt(struct arm_record *, const char *, char *);
int	arm_format(const struct arm_record *, char **, size_t *, char *);
int	arm_parse(const char *, size_t, struct arm_record **, char *);
int	arm_is_restricted(const struct arm_record *);
int	arm_matches(const struct arm_record *, const char *, const char *,
	    char *const *, size_t, char *);

#endif
