/*
 * NAME
 *	arm.c - the Access Restrictions Message record
 * DESCRIPTION
 *	See arm.h. The record travels as a protocol message of kind arm
 *	(proto.h); the fields and their syntax are in doc/protocol.md.
 *	The content key is written in hex; on reading, hex or base64 are
 *	accepted. A restriction that is not set is not written, so a
 *	Private message carries none of the restriction fields.
 * DIAGNOSTICS
 *	0 or -1 with the reason in err.
 */
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tandem.h"
#include "arm.h"
#include "proto.h"
#include "util.h"

struct arm_record *
arm_new(void)
{
	return calloc(1, sizeof(struct arm_record));
}

void
arm_free(struct arm_record *ar)
{
	size_t i;

	if (ar == NULL)
		return;
	free(ar->ar_msgid);
	free(ar->ar_sender);
	for (i = 0; i < ar->ar_nrcpts; i++)
		free(ar->ar_rcpts[i]);
	free(ar->ar_rcpts);
	OPENSSL_cleanse(ar->ar_key, sizeof(ar->ar_key));
	free(ar);
}

int
arm_add_rcpt(struct arm_record *ar, const char *address, char *err)
{
	char **nr, *copy;
	size_t i;

	if (!proto_valid_address(address)) {
		tn_err(err, "bad recipient address \"%.60s\"",
		    address == NULL ? "" : address);
		return -1;
	}
	if (ar->ar_nrcpts >= TN_MAX_RCPTS) {
		tn_err(err, "more than %d recipients", TN_MAX_RCPTS);
		return -1;
	}
	for (i = 0; i < ar->ar_nrcpts; i++)
		if (strcasecmp(ar->ar_rcpts[i], address) == 0) {
			tn_err(err, "recipient %s given twice", address);
			return -1;
		}
	if ((copy = strdup(address)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	nr = realloc(ar->ar_rcpts, (ar->ar_nrcpts + 1) * sizeof(*nr));
	if (nr == NULL) {
		free(copy);
		tn_err(err, "out of memory");
		return -1;
	}
	nr[ar->ar_nrcpts++] = copy;
	ar->ar_rcpts = nr;
	return 0;
}

int
arm_is_restricted(const struct arm_record *ar)
{
	const struct arm_restrictions *rs = &ar->ar_restr;

	return rs->rs_expires != 0 || rs->rs_no_forward ||
	    rs->rs_no_reply_all || rs->rs_no_print || rs->rs_no_copy ||
	    rs->rs_read_receipt || rs->rs_max_opens != 0;
}

/* Wipe the content key held in the fields, then free. */
static void
arm_proto_free(struct proto_msg *pm)
{
	const char *key;

	if (pm != NULL && (key = proto_get(pm, "Content-Key")) != NULL)
		OPENSSL_cleanse((char *)key, strlen(key));
	proto_msg_free(pm);
}

static int
arm_set_bytes(struct proto_msg *pm, const char *name,
    const unsigned char *b, size_t len, char *err)
{
	char *hex;
	int rc;

	if ((hex = util_hex(b, len)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	rc = proto_set(pm, name, hex, err);
	OPENSSL_cleanse(hex, strlen(hex));
	free(hex);
	return rc;
}

static int
arm_set_time(struct proto_msg *pm, const char *name, time_t t, char *err)
{
	char buf[32];

	if (proto_format_time(t, buf, sizeof(buf)) == -1) {
		tn_err(err, "field %s: time out of range", name);
		return -1;
	}
	return proto_set(pm, name, buf, err);
}

static int
arm_set_restrictions(struct proto_msg *pm, const struct arm_restrictions *rs,
    char *err)
{
	char num[16];

	if (rs->rs_expires != 0 && arm_set_time(pm, "Expires",
	    rs->rs_expires, err) == -1)
		return -1;
	if ((rs->rs_no_forward && proto_set(pm, "No-Forward", "yes",
	    err) == -1) ||
	    (rs->rs_no_reply_all && proto_set(pm, "No-Reply-All", "yes",
	    err) == -1) ||
	    (rs->rs_no_print && proto_set(pm, "No-Print", "yes",
	    err) == -1) ||
	    (rs->rs_no_copy && proto_set(pm, "No-Copy", "yes", err) == -1) ||
	    (rs->rs_read_receipt && proto_set(pm, "Read-Receipt", "yes",
	    err) == -1))
		return -1;
	if (rs->rs_max_opens != 0) {
		snprintf(num, sizeof(num), "%u", rs->rs_max_opens);
		if (proto_set(pm, "Max-Opens", num, err) == -1)
			return -1;
	}
	return 0;
}

static int
arm_to_proto(const struct arm_record *ar, struct proto_msg *pm, char *err)
{
	size_t i;

	if (ar->ar_msgid == NULL || !proto_valid_msgid(ar->ar_msgid)) {
		tn_err(err, "arm: bad message id");
		return -1;
	}
	if (ar->ar_sender == NULL || !proto_valid_address(ar->ar_sender)) {
		tn_err(err, "arm: bad sender address");
		return -1;
	}
	if (ar->ar_nrcpts == 0) {
		tn_err(err, "arm: no recipient");
		return -1;
	}
	if (proto_set(pm, "Message-Id", ar->ar_msgid, err) == -1 ||
	    arm_set_bytes(pm, "Content-Key", ar->ar_key, ARM_KEYLEN,
	    err) == -1 ||
	    arm_set_bytes(pm, "Content-Digest", ar->ar_digest, ARM_DIGESTLEN,
	    err) == -1 ||
	    proto_set(pm, "Sender", ar->ar_sender, err) == -1)
		return -1;
	for (i = 0; i < ar->ar_nrcpts; i++)
		if (proto_add(pm, "Recipient", ar->ar_rcpts[i], err) == -1)
			return -1;
	if (arm_set_time(pm, "Issued", ar->ar_issued, err) == -1)
		return -1;
	return arm_set_restrictions(pm, &ar->ar_restr, err);
}

int
arm_format(const struct arm_record *ar, char **out, size_t *outlen,
    char *err)
{
	struct proto_msg *pm;
	int rc = -1;

	if ((pm = proto_msg_new(PROTO_ARM)) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (arm_to_proto(ar, pm, err) == -1)
		goto out;
	if (proto_format(pm, out, outlen, err) == -1)
		goto out;
	rc = 0;
out:
	arm_proto_free(pm);
	return rc;
}

/* 64 hex digits or 44 base64 characters, as proto checked. */
static int
arm_decode_key(const char *s, unsigned char *key, char *err)
{
	unsigned char buf[36];
	int n;

	if (strlen(s) == 2 * ARM_KEYLEN)
		return util_unhex(s, key, ARM_KEYLEN) == 0 ? 0 :
		    (tn_err(err, "arm: field Content-Key: bad hex"), -1);
	n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)strlen(s));
	/* 44 characters decode to 33 bytes, the last one padding. */
	if (n != ARM_KEYLEN + 1) {
		tn_err(err, "arm: field Content-Key: bad base64");
		return -1;
	}
	memcpy(key, buf, ARM_KEYLEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static int
arm_get_flag(const struct proto_msg *pm, const char *name)
{
	const char *v = proto_get(pm, name);

	return v != NULL && strcmp(v, "yes") == 0;
}

static int
arm_get_restrictions(const struct proto_msg *pm, struct arm_record *ar,
    char *err)
{
	struct arm_restrictions *rs = &ar->ar_restr;
	const char *v;

	if ((v = proto_get(pm, "Expires")) != NULL) {
		if (proto_parse_time(v, &rs->rs_expires) == -1 ||
		    rs->rs_expires == 0) {
			tn_err(err, "arm: field Expires: bad time");
			return -1;
		}
		if (rs->rs_expires < ar->ar_issued) {
			tn_err(err, "arm: Expires is before Issued");
			return -1;
		}
	}
	rs->rs_no_forward = arm_get_flag(pm, "No-Forward");
	rs->rs_no_reply_all = arm_get_flag(pm, "No-Reply-All");
	rs->rs_no_print = arm_get_flag(pm, "No-Print");
	rs->rs_no_copy = arm_get_flag(pm, "No-Copy");
	rs->rs_read_receipt = arm_get_flag(pm, "Read-Receipt");
	if ((v = proto_get(pm, "Max-Opens")) != NULL)
		rs->rs_max_opens = (unsigned int)strtoul(v, NULL, 10);
	return 0;
}

static int
arm_from_proto(const struct proto_msg *pm, struct arm_record *ar,
    char *err)
{
	const char *v;
	size_t i, n;

	if ((ar->ar_msgid = strdup(proto_get(pm, "Message-Id"))) == NULL ||
	    (ar->ar_sender = strdup(proto_get(pm, "Sender"))) == NULL) {
		tn_err(err, "out of memory");
		return -1;
	}
	if (arm_decode_key(proto_get(pm, "Content-Key"), ar->ar_key,
	    err) == -1)
		return -1;
	if (util_unhex(proto_get(pm, "Content-Digest"), ar->ar_digest,
	    ARM_DIGESTLEN) == -1) {
		tn_err(err, "arm: field Content-Digest: bad hex");
		return -1;
	}
	n = proto_count(pm, "Recipient");
	for (i = 0; i < n; i++) {
		v = proto_get_nth(pm, "Recipient", i);
		if (arm_add_rcpt(ar, v, err) == -1)
			return -1;
	}
	if (proto_parse_time(proto_get(pm, "Issued"), &ar->ar_issued) == -1) {
		tn_err(err, "arm: field Issued: bad time");
		return -1;
	}
	return arm_get_restrictions(pm, ar, err);
}

int
arm_parse(const char *buf, size_t len, struct arm_record **out, char *err)
{
	struct proto_msg *pm = NULL;
	struct arm_record *ar = NULL;
	int rc = -1;

	*out = NULL;
	if (proto_parse(buf, len, &pm, err) == -1)
		goto out;
	if (pm->pm_kind != PROTO_ARM) {
		tn_err(err, "arm: got a %s message, not an arm",
		    proto_kind_name(pm->pm_kind));
		goto out;
	}
	if ((ar = arm_new()) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	if (arm_from_proto(pm, ar, err) == -1)
		goto out;
	*out = ar;
	ar = NULL;
	rc = 0;
out:
	arm_free(ar);
	arm_proto_free(pm);
	return rc;
}

int
arm_matches(const struct arm_record *ar, const char *msgid,
    const char *sender, char *const *rcpts, size_t nrcpts, char *err)
{
	size_t i, j;

	if (strcmp(ar->ar_msgid, msgid) != 0 ||
	    strcasecmp(ar->ar_sender, sender) != 0) {
		tn_err(err, "ARM record is not the one announced");
		return -1;
	}
	for (i = 0; i < nrcpts; i++) {
		for (j = 0; j < ar->ar_nrcpts; j++)
			if (strcasecmp(rcpts[i], ar->ar_rcpts[j]) == 0)
				break;
		if (j == ar->ar_nrcpts) {
			tn_err(err, "%s is not a recipient of the ARM",
			    rcpts[i]);
			return -1;
		}
	}
	return 0;
}
