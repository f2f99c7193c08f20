/*
 * NAME
 *	mkseeds - make the fixed test PKI and the seed corpora of fuzz/
 * SYNOPSIS
 *	mkseeds DIR
 *	mkseeds -p DIR
 * DESCRIPTION
 *	Writes, under DIR (the fuzz folder), a small PKI in DIR/pki:
 *	root.crt (the trust anchor, root.example), chain.crt (the
 *	private courier CA corp.example), and certificate and key of
 *	its foreground (fg), background (bg) and of an agent
 *	(agent, alice@corp.example), valid for 100 years; then seeds in
 *	DIR/corpus/TARGET/, made with the library's own functions as the
 *	programs make them: protocol messages, ARMs, sealed contents,
 *	wraps, invitations, introductions, inter-courier messages and
 *	the mails that carry them. Keys and wraps are random: running it
 *	again replaces the PKI and every seed together. tandem.conf
 *	seeds are not made here (bench/fuzz's doc, doc/fuzzing.md).
 *
 *	The policyd seeds (DIR/corpus/policyd/, fuzz-policyd.c's input:
 *	a state byte, then requests) are made too; with -p, only they
 *	are, with the PKI already in DIR/pki. The ARMs, receipts and
 *	revokes that the seeds carry wrapped are dated when they are
 *	made: the target's background takes them for a year
 *	(hygiene.replay_window = 365d), after which "mkseeds -p" makes
 *	them again. Those that the target wraps itself say "@NOW@"
 *	instead, which it replaces with the time: they never age.
 *
 *	Built by hand, never by the normal build:
 *	doc/fuzzing.md gives the command.
 * DIAGNOSTICS
 *	Exit 0, or 1 with the reason on stderr.
 */
#include <sys/stat.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tandem.h"
#include "arm.h"
#include "cms.h"
#include "intro.h"
#include "pki.h"
#include "proto.h"
#include "tmail.h"

static const char *dir;
static char err_[TN_ERRLEN];

struct node {
	EVP_PKEY	*n_key;
	X509		*n_cert;
	char		*n_pem;
};

static struct node root, corp, fg, bg, agent;
static STACK_OF(X509) *chain;
/* Another courier, under another root: the policyd target's peer. */
static struct node proot, isp, pbg;
static STACK_OF(X509) *pchain;

#define CHECK(x)	do { if ((x) == -1) errx(1, "%s: %s", #x, err_); } while (0)

static void
put(const char *sub, const char *name, int mode, const void *data,
    size_t len)
{
	const char *in = strcmp(sub, "pki") == 0 ? "" : "corpus/";
	char path[1024];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/corpus", dir);
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/%s%s", dir, in, sub);
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/%s%s/%s", dir, in, sub, name);
	if ((fp = fopen(path, "w")) == NULL)
		err(1, "%s", path);
	if (mode >= 0)
		fputc(mode, fp);
	if (fwrite(data, 1, len, fp) != len || fclose(fp) != 0)
		err(1, "%s", path);
}

static void
issue(struct node *n, const struct node *up, enum pki_kind kind,
    enum pki_role role, const char *cn, const char *email, const char *uri,
    const char *domain)
{
	struct pki_req rq;
	size_t len;

	memset(&rq, 0, sizeof(rq));
	if ((n->n_key = pki_key_generate(PKI_KEY_EC, err_)) == NULL)
		errx(1, "%s", err_);
	rq.rq_kind = kind;
	rq.rq_role = role;
	rq.rq_cn = cn;
	rq.rq_email = email;
	rq.rq_uri = uri;
	rq.rq_domain = domain;
	rq.rq_days = 36500;
	rq.rq_pubkey = n->n_key;
	rq.rq_issuer_cert = up == NULL ? NULL : up->n_cert;
	rq.rq_issuer_key = up == NULL ? n->n_key : up->n_key;
	CHECK(pki_issue(&rq, &n->n_cert, err_));
	CHECK(pki_cert_pem(n->n_cert, &n->n_pem, &len, err_));
}

static void
put_id(const char *name, const struct node *n)
{
	char file[64], *pem;
	size_t len;

	snprintf(file, sizeof(file), "%s.crt", name);
	put("pki", file, -1, n->n_pem, strlen(n->n_pem));
	if (n->n_key == NULL)
		return;
	CHECK(pki_key_pem(n->n_key, NULL, &pem, &len, err_));
	snprintf(file, sizeof(file), "%s.key", name);
	put("pki", file, -1, pem, len);
	free(pem);
}

static struct cms_id
id_of(const struct node *n)
{
	struct cms_id id = { n->n_cert, n->n_key, chain };

	return id;
}

static char *
cat2(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s%s", a, b) == -1)
		err(1, "asprintf");
	return s;
}

static void
make_pki(void)
{
	issue(&root, NULL, PKI_KIND_COURIER_CA, PKI_ROLE_ROOT, "root.example",
	    NULL, NULL, NULL);
	issue(&corp, &root, PKI_KIND_COURIER_CA, PKI_ROLE_PRIVATE,
	    "corp.example", NULL, NULL, "corp.example");
	issue(&fg, &corp, PKI_KIND_FG, 0, "fg", "tandem@corp.example", NULL,
	    NULL);
	issue(&bg, &corp, PKI_KIND_BG, 0, "bg", NULL,
	    "https://bg.corp.example/tandem", NULL);
	issue(&agent, &corp, PKI_KIND_AGENT, 0, "alice",
	    "alice@corp.example", NULL, NULL);
	if ((chain = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(chain, corp.n_cert))
		errx(1, "out of memory");
	put("pki", "root.crt", -1, root.n_pem, strlen(root.n_pem));
	put("pki", "chain.crt", -1, corp.n_pem, strlen(corp.n_pem));
	put_id("fg", &fg);
	put_id("bg", &bg);
	put_id("agent", &agent);
}

static void
mail(const char *target, const char *name, enum tmail_kind kind,
    const char *from, const char *to, const unsigned char *der, size_t len)
{
	struct tmail_head th;
	char *out;
	size_t outlen;

	memset(&th, 0, sizeof(th));
	th.th_kind = kind;
	th.th_from = from;
	th.th_to = &to;
	th.th_nto = 1;
	th.th_msgid = "0123456789abcdef01234567@corp.example";
	th.th_date = 1769860800;
	CHECK(tmail_compose(&th, der, len, &out, &outlen, err_));
	put(target, name, -1, out, outlen);
	free(out);
}

static char *
proto_text(enum proto_kind kind, const char *const *fields, size_t *len)
{
	struct proto_msg *pm;
	char *out;
	size_t i;

	if ((pm = proto_msg_new(kind)) == NULL)
		errx(1, "proto_msg_new");
	for (i = 0; fields[i] != NULL; i += 2)
		CHECK(proto_add(pm, fields[i], fields[i + 1], err_));
	CHECK(proto_format(pm, &out, len, err_));
	proto_msg_free(pm);
	return out;
}

static char *
arm_text(int restricted, size_t *len, unsigned char *key,
    unsigned char *digest)
{
	struct arm_record *ar;
	char *out;

	if ((ar = arm_new()) == NULL)
		errx(1, "arm_new");
	ar->ar_msgid = strdup("0123456789abcdef01234567@corp.example");
	ar->ar_sender = strdup("alice@corp.example");
	memcpy(ar->ar_key, key, ARM_KEYLEN);
	memcpy(ar->ar_digest, digest, ARM_DIGESTLEN);
	ar->ar_issued = 1769860800;
	CHECK(arm_add_rcpt(ar, "bob@corp.example", err_));
	if (restricted) {
		CHECK(arm_add_rcpt(ar, "carol@isp.example", err_));
		ar->ar_restr.rs_expires = 1769947200;
		ar->ar_restr.rs_no_forward = 1;
		ar->ar_restr.rs_max_opens = 3;
		ar->ar_restr.rs_read_receipt = 1;
	}
	CHECK(arm_format(ar, &out, len, err_));
	arm_free(ar);
	return out;
}

static char *
ic_text(const struct node *origin, enum pki_kind kind, enum intro_pay pay,
    const char *payload, size_t *len)
{
	static char *rcpts[] = { "bob@isp.example", "erin@isp.example" };
	struct intro_ic ic;
	char *pem, *out;

	pem = cat2(origin->n_pem, corp.n_pem);
	memset(&ic, 0, sizeof(ic));
	ic.ic_id = "ic0123456789@corp.example";
	ic.ic_from = "tandem@corp.example";
	ic.ic_to = "tandem@isp.example";
	ic.ic_msgid = "0123456789abcdef01234567@corp.example";
	ic.ic_sender = "alice@corp.example";
	ic.ic_rcpts = rcpts;
	ic.ic_nrcpts = 2;
	ic.ic_hops = 1;
	ic.ic_origin = "corp.example";
	ic.ic_kind = kind;
	ic.ic_pay = pay;
	ic.ic_payload = (unsigned char *)payload;
	ic.ic_paylen = strlen(payload);
	ic.ic_origin_pem = pem;
	ic.ic_origin_date = "2026-01-31T12:00:00Z";
	CHECK(intro_ic_sign(&ic, origin->n_key, &ic.ic_origin_sig, err_));
	CHECK(intro_ic_make(&ic, &out, len, err_));
	free(ic.ic_origin_sig);
	free(pem);
	return out;
}

static char *
intro_for(const struct node *n, STACK_OF(X509) *ch, const char *address,
    const char *token, size_t *len)
{
	const char *addrs[] = { address };
	struct intro_req rq;
	char *out;

	memset(&rq, 0, sizeof(rq));
	rq.ir_cert = n->n_cert;
	rq.ir_chain = ch;
	rq.ir_id = "intro0123@corp.example";
	rq.ir_addrs = addrs;
	rq.ir_naddrs = 1;
	rq.ir_token = token;
	CHECK(intro_make(&rq, &out, len, err_));
	return out;
}

static char *
intro_text(const struct node *n, size_t *len)
{
	return intro_for(n, chain, "alice@corp.example",
	    "dG9rZW4tZm9yLWZ1enppbmctb25seS0wMTIzNDU2Nzg", len);
}

static const char inner[] =
    "From: Alice <alice@corp.example>\r\n"
    "To: bob@corp.example\r\n"
    "Subject: lunch\r\n"
    "Message-ID: <0123456789abcdef01234567@corp.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Meet at noon.\r\n";

static void
wrap(const struct node *from, const struct node *to, const char *text,
    size_t len, unsigned char **der, size_t *derlen)
{
	struct cms_id id = id_of(from);

	CHECK(cms_wrap_to((const unsigned char *)text, len, &id, to->n_cert,
	    der, derlen, err_));
}

static void
seeds(void)
{
	static const char *alive[] = { "Id", "alive1@corp.example", "Date",
	    "2026-01-31T12:00:00Z", "Address", "alice@corp.example",
	    "Generation", "1", NULL };
	static const char *receipt[] = { "Id", "rcpt1@corp.example", "Date",
	    "2026-01-31T12:00:00Z", "Message-Id",
	    "0123456789abcdef01234567@corp.example", "Sender",
	    "alice@corp.example", "Recipient", "bob@corp.example", "Event",
	    "opened", NULL };
	struct cms_id fgid = id_of(&fg), alid = id_of(&agent);
	struct tmail_invite ti;
	STACK_OF(X509) *rcpts;
	unsigned char key[CMS_KEYLEN], digest[CMS_DIGESTLEN], *der;
	unsigned char hash[TMAIL_HASHLEN];
	char *t, *t2, *buf, msgid[TN_MAX_MSGID + 1];
	const char *id = "0123456789abcdef01234567@corp.example";
	size_t len, l2, derlen;

	/* A sealed content, and the ARM that opens it. */
	CHECK(cms_seal((const unsigned char *)inner, strlen(inner), &alid,
	    id, key, digest, &der, &derlen, err_));
	t = arm_text(0, &len, key, digest);
	put("arm", "private", -1, t, len);
	put("proto", "arm", -1, t, len);
	buf = malloc(CMS_KEYLEN + strlen(id) + 1 + derlen);
	memcpy(buf, key, CMS_KEYLEN);
	memcpy(buf + CMS_KEYLEN, id, strlen(id) + 1);
	memcpy(buf + CMS_KEYLEN + strlen(id) + 1, der, derlen);
	put("cms", "open", 0, buf, CMS_KEYLEN + strlen(id) + 1 + derlen);
	free(buf);
	mail("tmail", "content", TMAIL_CONTENT, "alice@corp.example",
	    "bob@corp.example", der, derlen);
	put("intro", "ic-fg", 1, (t2 = ic_text(&fg, PKI_KIND_FG,
	    INTRO_PAY_ITEM, "sealed", &l2)), l2);
	free(t2);
	free(der);

	/* The background's wrap of the ARM to the agent, as fetched. */
	wrap(&bg, &agent, t, len, &der, &derlen);
	put("cms", "unwrap-agent", 2, der, derlen);
	put("agent", "arm-wrap", -1, der, derlen);
	mail("agent", "arm-mail", TMAIL_SERVICE, "tandem@corp.example",
	    "alice@corp.example", der, derlen);
	free(der);
	put("intro", "ic-bg", 1, (t2 = ic_text(&bg, PKI_KIND_BG,
	    INTRO_PAY_ITEM, t, &l2)), l2);
	put("proto", "inter-courier", -1, t2, l2);
	wrap(&fg, &fg, t2, l2, &der, &derlen);
	mail("tmail", "inter-courier", TMAIL_INTER_COURIER,
	    "tandem@corp.example", "tandem@corp.example", der, derlen);
	free(der);
	free(t2);
	free(t);
	t = arm_text(1, &len, key, digest);
	put("arm", "restricted", -1, t, len);
	free(t);

	/* Service mail: an agent to its foreground, a receipt back. */
	t = proto_text(PROTO_AGENT_ALIVE, alive, &len);
	put("proto", "agent-alive", -1, t, len);
	wrap(&agent, &fg, t, len, &der, &derlen);
	put("cms", "unwrap-fg", 1, der, derlen);
	mail("tmail", "service", TMAIL_SERVICE, "alice@corp.example",
	    "tandem@corp.example", der, derlen);
	free(der);
	if ((rcpts = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(rcpts, bg.n_cert))
		errx(1, "out of memory");
	CHECK(cms_envelope((unsigned char *)t, len, rcpts, &der, &derlen,
	    err_));
	put("cms", "unenvelope", 4, der, derlen);
	sk_X509_free(rcpts);
	free(der);
	free(t);
	t = proto_text(PROTO_RECEIPT, receipt, &len);
	put("proto", "receipt", -1, t, len);
	wrap(&bg, &agent, t, len, &der, &derlen);
	mail("agent", "receipt-mail", TMAIL_SERVICE, "tandem@corp.example",
	    "alice@corp.example", der, derlen);
	free(der);
	CHECK(cms_sign((unsigned char *)t, len, &fgid, &der, &derlen, err_));
	put("cms", "verify", 3, der, derlen);
	free(der);
	free(t);

	/* Introductions, and the certificates alone. */
	t = intro_text(&fg, &len);
	put("intro", "intro-fg", 0, t, len);
	put("proto", "introduction", -1, t, len);
	free(t);
	t = intro_text(&bg, &len);
	put("intro", "intro-bg", 0, t, len);
	free(t);
	t = cat2(fg.n_pem, corp.n_pem);
	put("intro", "pem-fg", 2, t, strlen(t));
	free(t);

	/* An invitation, signed by the foreground. */
	memset(&ti, 0, sizeof(ti));
	ti.ti_address = "bob@corp.example";
	ti.ti_inviter = "alice@corp.example";
	ti.ti_courier = "corp.example";
	ti.ti_register = "tandem@corp.example";
	ti.ti_bg_url = "https://bg.corp.example/tandem";
	ti.ti_msgids = &id;
	ti.ti_nmsgids = 1;
	ti.ti_expires = 4102444800;
	ti.ti_id = &fgid;
	if (tmail_invitation(&ti, &buf, &len, msgid, sizeof(msgid), hash,
	    err_) == -1)
		errx(1, "tmail_invitation: %s", err_);
	put("tmail", "invitation", -1, buf, len);
	free(buf);
}

/*
 * The peer: root2.example, the public courier isp.example under it,
 * and its background element, in DIR/pki/peer-*; made once, then read
 * (with -p) as the rest of the PKI is.
 */
static void
make_peer(void)
{
	issue(&proot, NULL, PKI_KIND_COURIER_CA, PKI_ROLE_ROOT,
	    "root2.example", NULL, NULL, NULL);
	issue(&isp, &proot, PKI_KIND_COURIER_CA, PKI_ROLE_PUBLIC,
	    "isp.example", NULL, NULL, NULL);
	issue(&pbg, &isp, PKI_KIND_BG, 0, "bg", NULL,
	    "https://bg.isp.example/tandem", NULL);
	if ((pchain = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(pchain, isp.n_cert))
		errx(1, "out of memory");
	put("pki", "peer-root.crt", -1, proot.n_pem, strlen(proot.n_pem));
	put("pki", "peer-chain.crt", -1, isp.n_pem, strlen(isp.n_pem));
	put_id("peer-bg", &pbg);
}

/* The PKI that DIR/pki holds: the CAs' keys are not there. */
static void
load_node(struct node *n, const char *name, int key)
{
	char path[1024];
	size_t len;

	snprintf(path, sizeof(path), "%s/pki/%s.crt", dir, name);
	if ((n->n_cert = pki_load_cert(path, err_)) == NULL)
		errx(1, "%s", err_);
	CHECK(pki_cert_pem(n->n_cert, &n->n_pem, &len, err_));
	snprintf(path, sizeof(path), "%s/pki/%s.key", dir, name);
	if (key && (n->n_key = pki_load_key(path, NULL, err_)) == NULL)
		errx(1, "%s", err_);
}

static void
load_pki(void)
{
	char path[1024];
	size_t len;

	load_node(&root, "root", 0);
	load_node(&fg, "fg", 1);
	load_node(&bg, "bg", 1);
	load_node(&agent, "agent", 1);
	snprintf(path, sizeof(path), "%s/pki/chain.crt", dir);
	if ((chain = pki_load_certs(path, err_)) == NULL)
		errx(1, "%s", err_);
	corp.n_cert = sk_X509_value(chain, 0);
	CHECK(pki_cert_pem(corp.n_cert, &corp.n_pem, &len, err_));
	snprintf(path, sizeof(path), "%s/pki/peer-chain.crt", dir);
	if (access(path, R_OK) != 0) {
		make_peer();
		return;
	}
	load_node(&pbg, "peer-bg", 1);
	if ((pchain = pki_load_certs(path, err_)) == NULL)
		errx(1, "%s", err_);
	isp.n_cert = sk_X509_value(pchain, 0);
	CHECK(pki_cert_pem(isp.n_cert, &isp.n_pem, &len, err_));
}

/* A policyd input being written: its bytes. */
struct pd_in {
	char	*pi_buf;
	size_t	 pi_len;
};

enum { PD_AGENT, PD_BG, PD_FG, PD_NOCERT };
/* PD_WRAP: a POST whose body the target wraps. */
enum { PD_GET, PD_POST, PD_DELETE, PD_WRAP };
enum { PD_ARM, PD_REJECT, PD_REVOKE, PD_RECEIPT, PD_REKEY, PD_COURIER,
    PD_MAILBOX, PD_ENTRY, PD_LITERAL };

static void
pd_add(struct pd_in *pi, const void *data, size_t len)
{
	if ((pi->pi_buf = realloc(pi->pi_buf, pi->pi_len + len)) == NULL)
		errx(1, "out of memory");
	memcpy(pi->pi_buf + pi->pi_len, data, len);
	pi->pi_len += len;
}

/* One request; path: the entry's number, or the literal path. */
static void
pd_req(struct pd_in *pi, int client, int method, int which,
    const char *path, const void *body, size_t len)
{
	unsigned char b = client | method << 2;

	b |= which == PD_LITERAL ? 0x80 : which << 4;
	pd_add(pi, &b, 1);
	if (which == PD_LITERAL) {
		pd_add(pi, path, strlen(path));
		pd_add(pi, "\n", 1);
	}
	if (which == PD_ENTRY) {
		b = (unsigned char)atoi(path);
		pd_add(pi, &b, 1);
	}
	b = len & 0xff;
	pd_add(pi, &b, 1);
	b = len >> 8;
	pd_add(pi, &b, 1);
	pd_add(pi, body, len);
}

static void
pd_put(struct pd_in *pi, const char *name)
{
	put("policyd", name, -1, pi->pi_buf, pi->pi_len);
	free(pi->pi_buf);
	pi->pi_buf = NULL;
	pi->pi_len = 0;
}

/* A wrap of text by from to to, as a request's body. */
static void
pd_wrapped(struct pd_in *pi, int client, int which, const struct node *from,
    const struct node *to, const char *text, size_t len)
{
	unsigned char *der;
	size_t derlen;

	wrap(from, to, text, len, &der, &derlen);
	pd_req(pi, client, PD_POST, which, NULL, der, derlen);
	free(der);
}

static char *
pd_arm(time_t issued, size_t *len)
{
	struct arm_record *ar;
	unsigned char key[ARM_KEYLEN], digest[ARM_DIGESTLEN];
	char *out;

	memset(key, 0x5a, sizeof(key));
	memset(digest, 0xa5, sizeof(digest));
	if ((ar = arm_new()) == NULL)
		errx(1, "arm_new");
	ar->ar_msgid = strdup("0123456789abcdef01234568@corp.example");
	ar->ar_sender = strdup("alice@corp.example");
	memcpy(ar->ar_key, key, ARM_KEYLEN);
	memcpy(ar->ar_digest, digest, ARM_DIGESTLEN);
	ar->ar_issued = issued;
	CHECK(arm_add_rcpt(ar, "bob@corp.example", err_));
	CHECK(arm_add_rcpt(ar, "alice@corp.example", err_));
	CHECK(arm_add_rcpt(ar, "carol@isp.example", err_));
	ar->ar_restr.rs_expires = issued + 86400 * 400;
	CHECK(arm_format(ar, &out, len, err_));
	arm_free(ar);
	return out;
}

/*
 * Each stamp in t becomes "@NOW@", which fuzz-policyd writes back as
 * the time of the request in a body it wraps: a seed that never ages.
 */
static void
pd_timeless(char *t, size_t *len, const char *stamp)
{
	size_t n = strlen(stamp);
	char *p;

	while ((p = memmem(t, *len, stamp, n)) != NULL) {
		memcpy(p, "@NOW@", 5);
		memmove(p + 5, p + n, *len - (size_t)(p - t) - n);
		*len -= n - 5;
	}
}

/* An ARM issued "@NOW@", for the target to wrap. */
static char *
pd_arm_now(size_t *len)
{
	char *t = pd_arm(1769860800, len);

	pd_timeless(t, len, "2026-01-31T12:00:00Z");
	return t;
}

/*
 * fuzz-policyd's seeds: what an agent and another courier's background
 * send (ARMs, a receipt, a revoke, a rekey, an invitation's reject,
 * introductions, an inter-courier message), the mailbox fetched and
 * acknowledged, the account in each of its states, and the refusals.
 */
/*
 * An inter-courier message from the peer's background, at its first
 * hop: an ARM of carol@isp.example's for alice, issued at issued (the
 * origin's signature covers it: no "@NOW@" here).
 */
static char *
pd_ic_peer(time_t issued, size_t *len)
{
	static char *rcpts[] = { "alice@corp.example" };
	struct arm_record *ar;
	struct intro_ic ic;
	char *pem, *arm, *out, date[32];
	size_t armlen;

	if ((ar = arm_new()) == NULL)
		errx(1, "arm_new");
	ar->ar_msgid = strdup("0123456789abcdef01234569@isp.example");
	ar->ar_sender = strdup("carol@isp.example");
	memset(ar->ar_key, 0x3c, ARM_KEYLEN);
	memset(ar->ar_digest, 0xc3, ARM_DIGESTLEN);
	ar->ar_issued = issued;
	CHECK(arm_add_rcpt(ar, "alice@corp.example", err_));
	CHECK(arm_format(ar, &arm, &armlen, err_));
	arm_free(ar);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&issued));
	pem = cat2(pbg.n_pem, isp.n_pem);
	memset(&ic, 0, sizeof(ic));
	ic.ic_id = "ic0123456789@isp.example";
	ic.ic_from = "https://bg.isp.example/tandem";
	ic.ic_to = "https://bg.corp.example/tandem";
	ic.ic_msgid = "0123456789abcdef01234569@isp.example";
	ic.ic_sender = "carol@isp.example";
	ic.ic_rcpts = rcpts;
	ic.ic_nrcpts = 1;
	ic.ic_hops = 1;
	ic.ic_origin = "isp.example";
	ic.ic_kind = PKI_KIND_BG;
	ic.ic_pay = INTRO_PAY_ITEM;
	ic.ic_payload = (unsigned char *)arm;
	ic.ic_paylen = armlen;
	ic.ic_origin_pem = pem;
	ic.ic_origin_date = date;
	CHECK(intro_ic_sign(&ic, pbg.n_key, &ic.ic_origin_sig, err_));
	CHECK(intro_ic_make(&ic, &out, len, err_));
	free(ic.ic_origin_sig);
	free(pem);
	free(arm);
	return out;
}

/* A wrap by id (the peer's background) to to, for POST /v1/courier. */
static void
wrap_id(struct pd_in *pi, const struct cms_id *id, const struct node *to,
    const char *text, size_t len)
{
	unsigned char *der;
	size_t derlen;

	CHECK(cms_wrap_to((const unsigned char *)text, len, id, to->n_cert,
	    &der, &derlen, err_));
	pd_req(pi, PD_BG, PD_POST, PD_COURIER, NULL, der, derlen);
	free(der);
}

static void
pd_seeds(void)
{
	const char *msgid = "0123456789abcdef01234568@corp.example";
	const char *revoke[] = { "Id", "rv1@corp.example", "Date", NULL,
	    "Message-Id", msgid, "Sender", "alice@corp.example", "Recipient",
	    "alice@corp.example", "Recipient", "bob@corp.example", "Reason",
	    "sent too soon", NULL };
	const char *receipt[] = { "Id", "rc1@corp.example", "Date", NULL,
	    "Message-Id", msgid, "Sender", "alice@corp.example", "Recipient",
	    "alice@corp.example", "Event", "revoked", NULL };
	const char *reject[] = { "Id", "rj1@corp.example", "Date", NULL,
	    "Token", "dG9rZW4tZm9yLWZ1enppbmctb25seS0wMTIzNDU2Nzg",
	    "Address", "alice@corp.example", "Inviting-Courier",
	    "isp.example", "Registered-Courier", "corp.example",
	    "Message-Id", msgid, NULL };
	struct pd_in pi = { NULL, 0 };
	struct cms_id peer = { pbg.n_cert, pbg.n_key, pchain };
	unsigned char state;
	char date[32], *t, *pem;
	time_t now = time(NULL);
	size_t len;

	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	revoke[3] = receipt[3] = reject[3] = date;

	/*
	 * An ARM posted (issued "@NOW@", the target wraps it), then the
	 * mailbox listed, fetched, acknowledged.
	 */
	state = 0;
	pd_add(&pi, &state, 1);
	t = pd_arm_now(&len);
	pd_req(&pi, PD_AGENT, PD_WRAP, PD_ARM, NULL, t, len);
	free(t);
	t = pd_arm(now - 60, &len);
	pd_req(&pi, PD_AGENT, PD_GET, PD_MAILBOX, NULL, NULL, 0);
	pd_req(&pi, PD_AGENT, PD_GET, PD_ENTRY, "2", NULL, 0);
	pd_req(&pi, PD_AGENT, PD_GET, PD_ENTRY, "3", NULL, 0);
	pd_req(&pi, PD_AGENT, PD_DELETE, PD_ENTRY, "3", NULL, 0);
	pd_req(&pi, PD_AGENT, PD_DELETE, PD_ENTRY, "3", NULL, 0);
	pd_req(&pi, PD_AGENT, PD_POST, PD_ARM, NULL, NULL, 0);
	pd_put(&pi, "arm-fetch");
	/* The same ARM to the older courier-end key, twice. */
	pd_add(&pi, &state, 1);
	pd_wrapped(&pi, PD_AGENT, PD_ARM, &agent, &bg, t, len);
	pd_wrapped(&pi, PD_AGENT, PD_ARM, &agent, &bg, t, len);
	pd_put(&pi, "arm-older-key");
	/* Signed by another than the client; not an ARM. */
	pd_add(&pi, &state, 1);
	pd_wrapped(&pi, PD_AGENT, PD_ARM, &fg, &fg, t, len);
	pd_wrapped(&pi, PD_AGENT, PD_ARM, &agent, &fg, date, strlen(date));
	pd_put(&pi, "arm-refused");
	free(t);
	t = pd_arm(now - 86400 * 400, &len);
	pd_add(&pi, &state, 1);
	pd_wrapped(&pi, PD_AGENT, PD_ARM, &agent, &fg, t, len);
	pd_put(&pi, "arm-too-old");
	free(t);

	/* An ARM, its revoke, then the receipt of the revoked message. */
	pd_add(&pi, &state, 1);
	t = pd_arm(now - 60, &len);
	pd_wrapped(&pi, PD_AGENT, PD_ARM, &agent, &fg, t, len);
	free(t);
	t = proto_text(PROTO_REVOKE, revoke, &len);
	pd_wrapped(&pi, PD_AGENT, PD_REVOKE, &agent, &fg, t, len);
	free(t);
	t = proto_text(PROTO_RECEIPT, receipt, &len);
	pd_wrapped(&pi, PD_AGENT, PD_RECEIPT, &agent, &fg, t, len);
	free(t);
	pd_put(&pi, "revoke-receipt");
	pd_add(&pi, &state, 1);
	t = proto_text(PROTO_INVITATION_REJECT, reject, &len);
	pd_wrapped(&pi, PD_AGENT, PD_REJECT, &agent, &fg, t, len);
	free(t);
	pd_put(&pi, "invitation-reject");

	/* The agent offers a certificate (its own, as a PEM chain). */
	pd_add(&pi, &state, 1);
	pem = cat2(agent.n_pem, corp.n_pem);
	pd_req(&pi, PD_AGENT, PD_POST, PD_REKEY, NULL, pem, strlen(pem));
	pd_req(&pi, PD_AGENT, PD_POST, PD_REKEY, NULL, fg.n_pem,
	    strlen(fg.n_pem));
	free(pem);
	pd_put(&pi, "rekey");

	/*
	 * Another courier's background (isp.example's): its introduction
	 * answering carol's invitation, an ARM of carol's for alice (twice),
	 * which alice fetches, then what only this courier's own background
	 * could sign.
	 */
	pd_add(&pi, &state, 1);
	t = intro_for(&pbg, pchain, "carol@isp.example",
	    "Y2Fyb2wtdG9rZW4tZm9yLWZ1enppbmctb25seS0wMTI", &len);
	wrap_id(&pi, &peer, &bg, t, len);
	wrap_id(&pi, &peer, &bg, t, len);
	free(t);
	t = pd_ic_peer(now - 60, &len);
	wrap_id(&pi, &peer, &bg, t, len);
	pd_req(&pi, PD_BG, PD_WRAP, PD_COURIER, NULL, t, len);
	free(t);
	pd_req(&pi, PD_AGENT, PD_GET, PD_MAILBOX, NULL, NULL, 0);
	pd_req(&pi, PD_AGENT, PD_GET, PD_ENTRY, "2", NULL, 0);
	t = intro_text(&bg, &len);
	pd_wrapped(&pi, PD_BG, PD_COURIER, &bg, &bg, t, len);
	free(t);
	t = ic_text(&bg, PKI_KIND_BG, INTRO_PAY_ITEM, "sealed", &len);
	pd_wrapped(&pi, PD_BG, PD_COURIER, &bg, &bg, t, len);
	free(t);
	pd_put(&pi, "courier");
	pd_add(&pi, &state, 1);
	pd_req(&pi, PD_BG, PD_GET, PD_COURIER, NULL, NULL, 0);
	pd_req(&pi, PD_BG, PD_GET, PD_MAILBOX, NULL, NULL, 0);
	pd_put(&pi, "courier-refused");

	/* The account transferred away, pending, closed: the mailbox. */
	for (state = 1; state < 4; state++) {
		char name[32];

		pd_add(&pi, &state, 1);
		pd_req(&pi, PD_AGENT, PD_GET, PD_MAILBOX, NULL, NULL, 0);
		pd_req(&pi, PD_AGENT, PD_GET, PD_ENTRY, "1", NULL, 0);
		pd_req(&pi, PD_AGENT, PD_DELETE, PD_ENTRY, "1", NULL, 0);
		pd_req(&pi, PD_AGENT, PD_GET, PD_MAILBOX, NULL, NULL, 0);
		snprintf(name, sizeof(name), "mailbox-state%d", state);
		pd_put(&pi, name);
	}

	/*
	 * The same texts for the target to wrap (PD_WRAP): what the
	 * fuzzer changes in them reaches the parsers and the SQL.
	 */
	state = 0;
	pd_add(&pi, &state, 1);
	t = pd_arm_now(&len);
	pd_req(&pi, PD_AGENT, PD_WRAP, PD_ARM, NULL, t, len);
	free(t);
	t = proto_text(PROTO_REVOKE, revoke, &len);
	pd_timeless(t, &len, date);
	pd_req(&pi, PD_AGENT, PD_WRAP, PD_REVOKE, NULL, t, len);
	free(t);
	t = proto_text(PROTO_RECEIPT, receipt, &len);
	pd_timeless(t, &len, date);
	pd_req(&pi, PD_AGENT, PD_WRAP, PD_RECEIPT, NULL, t, len);
	free(t);
	pd_req(&pi, PD_AGENT, PD_GET, PD_MAILBOX, NULL, NULL, 0);
	pd_put(&pi, "wrap-arm-revoke-receipt");
	pd_add(&pi, &state, 1);
	t = proto_text(PROTO_INVITATION_REJECT, reject, &len);
	pd_req(&pi, PD_AGENT, PD_WRAP, PD_REJECT, NULL, t, len);
	free(t);
	pd_put(&pi, "wrap-invitation-reject");
	pd_add(&pi, &state, 1);
	t = intro_text(&bg, &len);
	pd_req(&pi, PD_BG, PD_WRAP, PD_COURIER, NULL, t, len);
	free(t);
	t = intro_for(&pbg, pchain, "carol@isp.example",
	    "Y2Fyb2wtdG9rZW4tZm9yLWZ1enppbmctb25seS0wMTI", &len);
	pd_req(&pi, PD_BG, PD_WRAP, PD_COURIER, NULL, t, len);
	pd_req(&pi, PD_BG, PD_WRAP, PD_COURIER, NULL, t, len);
	free(t);
	t = ic_text(&bg, PKI_KIND_BG, INTRO_PAY_ITEM, "sealed", &len);
	pd_req(&pi, PD_BG, PD_WRAP, PD_COURIER, NULL, t, len);
	free(t);
	pd_put(&pi, "wrap-courier");

	/* Refusals: certificates, methods, paths. */
	state = 0;
	pd_add(&pi, &state, 1);
	pd_req(&pi, PD_NOCERT, PD_GET, PD_MAILBOX, NULL, NULL, 0);
	pd_req(&pi, PD_FG, PD_GET, PD_MAILBOX, NULL, NULL, 0);
	pd_req(&pi, PD_BG, PD_POST, PD_ARM, NULL, "x", 1);
	pd_req(&pi, PD_AGENT, PD_GET, PD_ARM, NULL, NULL, 0);
	pd_req(&pi, PD_AGENT, PD_POST, PD_MAILBOX, NULL, "x", 1);
	pd_req(&pi, PD_AGENT, PD_GET, PD_LITERAL, "/v1/mailbox/0", NULL, 0);
	pd_req(&pi, PD_AGENT, PD_GET, PD_LITERAL,
	    "/v1/mailbox/9223372036854775807", NULL, 0);
	pd_req(&pi, PD_AGENT, PD_GET, PD_LITERAL, "/v1/mailbox?all", NULL, 0);
	pd_put(&pi, "refusals");
}

int
main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "-p") == 0) {
		dir = argv[2];
		load_pki();
		pd_seeds();
		return 0;
	}
	if (argc != 2)
		errx(1, "usage: mkseeds [-p] DIR");
	dir = argv[1];
	make_pki();
	make_peer();
	seeds();
	pd_seeds();
	return 0;
}
