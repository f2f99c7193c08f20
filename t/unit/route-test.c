/*
 * NAME
 *	route-test - unit tests for lib/route.c
 * DESCRIPTION
 *	One set of tables, six couriers (root, public, private, gateway,
 *	public under a gateway, private under a gateway), and a table of
 *	addresses with the decision each courier must reach. Some
 *	addresses match several rules at once, to pin the order.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "tandem.h"
#include "route.h"

struct pair {
	const char *key, *courier;
};

static const char *locals[] = {
	"alice@a.example", "dave@p.example", "gina@priv.example", NULL
};
/* Closed here (tandemctl close); kate also has stale routes. */
static const char *closed[] = {
	"kate@a.example", "liam@priv.example", NULL
};
static const struct pair transferred[] = {
	{ "kate@a.example", "courier-t" },
	{ "bob@a.example", "courier-t" },
	{ "dave@p.example", "courier-t" },
	{ "erin@p.example", "courier-t" },
	{ "hank@priv.example", "courier-t" },
	{ "ivan@elsewhere.example", "pub" },
	{ NULL, NULL }
};
static const struct pair learned[] = {
	{ "carol@x.example", "courier-l" },
	{ "dave@p.example", "courier-l" },
	{ "erin@p.example", "courier-l" },
	{ "fay@p.example", "courier-l" },
	{ "judy@elsewhere.example", "" },	/* broken row */
	{ NULL, NULL }
};
static const struct pair domains[] = {
	{ "a.example", "courier-a" },
	{ "p.example", "courier-p" },
	{ "sub.p.example", "courier-sp" },
	{ NULL, NULL }
};

static int fail_tables;		/* every callback fails */

static int
find(const struct pair *p, const char *key, char *courier, char *err)
{
	if (fail_tables) {
		tn_err(err, "database down");
		return -1;
	}
	for (; p->key != NULL; p++)
		if (strcmp(p->key, key) == 0) {
			snprintf(courier, ROUTE_IDLEN, "%s", p->courier);
			return 1;
		}
	return 0;
}

static int
cb_local(void *ctx, const char *address, char *err)
{
	const char **p;

	(void)ctx;
	if (fail_tables) {
		tn_err(err, "database down");
		return -1;
	}
	for (p = locals; *p != NULL; p++)
		if (strcmp(*p, address) == 0)
			return 1;
	return 0;
}

static int
cb_transferred(void *ctx, const char *a, char *c, char *err)
{
	(void)ctx;
	return find(transferred, a, c, err);
}

static int
cb_learned(void *ctx, const char *a, char *c, char *err)
{
	(void)ctx;
	return find(learned, a, c, err);
}

static int
cb_closed(void *ctx, const char *address, char *err)
{
	const char **p;

	(void)ctx;
	if (fail_tables) {
		tn_err(err, "database down");
		return -1;
	}
	for (p = closed; *p != NULL; p++)
		if (strcmp(*p, address) == 0)
			return 1;
	return 0;
}

static char queried[512];	/* the domains rt_domain was asked for */

static int
cb_domain(void *ctx, const char *d, char *c, char *err)
{
	(void)ctx;
	if (strlen(queried) + strlen(d) + 2 < sizeof(queried)) {
		strcat(queried, d);
		strcat(queried, " ");
	}
	return find(domains, d, c, err);
}

static const struct route_tables tables = {
	NULL, cb_local, cb_transferred, cb_learned, cb_domain, cb_closed
};

static const char *priv_domains[] = { "priv.example", ".Corp.Example" };

enum { ROOT, PUB, PRIV, GW, PUB_UGW, PRIV_UGW, NSELF };

static const struct route_courier selves[NSELF] = {
	[ROOT] = { PKI_ROLE_ROOT, NULL, 0, 0, NULL },
	[PUB] = { PKI_ROLE_PUBLIC, NULL, 0, 0, "root" },
	[PRIV] = { PKI_ROLE_PRIVATE, priv_domains, 2, 0, "pub" },
	[GW] = { PKI_ROLE_GATEWAY, NULL, 0, 0, "root" },
	[PUB_UGW] = { PKI_ROLE_PUBLIC, NULL, 0, 1, "gw" },
	[PRIV_UGW] = { PKI_ROLE_PRIVATE, priv_domains, 2, 1, "gw" },
};
static const char *self_names[NSELF] = {
	"root", "public", "private", "gateway", "public-under-gateway",
	"private-under-gateway"
};

#define L	ROUTE_SRC_LOCAL
#define S	ROUTE_SRC_SUBORDINATE
#define R	ROUTE_SRC_REMOTE
#define ALL	(-1)

static const struct {
	int self;	/* index in selves, or ALL */
	const char *addr;
	enum route_source src;
	const char *from;
	enum route_action action;
	int rule;
	const char *courier;
} cases[] = {
	/* Rules 1-4 decide the same for every role, in order. */
	{ ALL, "alice@a.example", L, NULL, ROUTE_DELIVER_LOCAL, 1, "" },
	{ ALL, "alice@A.Example", R, "x", ROUTE_DELIVER_LOCAL, 1, "" },
	{ ALL, "alice@a.example.", L, NULL, ROUTE_DELIVER_LOCAL, 1, "" },
	{ ALL, "dave@p.example", L, NULL, ROUTE_DELIVER_LOCAL, 1, "" },
	{ ALL, "gina@priv.example", R, "x", ROUTE_DELIVER_LOCAL, 1, "" },
	{ ALL, "bob@a.example", L, NULL, ROUTE_TO_NEW_COURIER, 2,
	    "courier-t" },
	{ ALL, "erin@p.example", S, "sub", ROUTE_TO_NEW_COURIER, 2,
	    "courier-t" },
	{ ALL, "hank@PRIV.example", R, "x", ROUTE_TO_NEW_COURIER, 2,
	    "courier-t" },
	{ ALL, "carol@x.example", L, NULL, ROUTE_TO_LEARNED_COURIER, 3,
	    "courier-l" },
	{ ALL, "fay@p.example", R, "x", ROUTE_TO_LEARNED_COURIER, 3,
	    "courier-l" },
	{ ALL, "zed@p.example", L, NULL, ROUTE_TO_INTRODUCED_COURIER, 4,
	    "courier-p" },
	{ ALL, "zed@deep.P.example", R, "x", ROUTE_TO_INTRODUCED_COURIER,
	    4, "courier-p" },
	{ ALL, "zed@sub.p.example", L, NULL, ROUTE_TO_INTRODUCED_COURIER,
	    4, "courier-sp" },
	{ ALL, "zed@a.sub.p.example", S, "sub",
	    ROUTE_TO_INTRODUCED_COURIER, 4, "courier-sp" },
	/*
	 * A closed account is refused before any other table (kate has
	 * a transfer route and her domain an introduction), from any
	 * source; an active account is never taken for a closed one.
	 */
	{ ALL, "kate@a.example", L, NULL, ROUTE_REJECT, 1, "" },
	{ ALL, "kate@A.example", R, "x", ROUTE_REJECT, 1, "" },
	{ ALL, "liam@priv.example", S, "sub", ROUTE_REJECT, 1, "" },
	{ ALL, "kate2@a.example", L, NULL, ROUTE_TO_INTRODUCED_COURIER, 4,
	    "courier-a" },
	/* A route back to where the message came from is a loop. */
	{ ALL, "zed@p.example", R, "courier-p", ROUTE_REJECT, 4,
	    "courier-p" },
	{ ALL, "bob@a.example", R, "Courier-T", ROUTE_REJECT, 2,
	    "courier-t" },
	/* Malformed addresses. */
	{ ALL, "", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "nobody", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "@a.example", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "x@", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "x@[127.0.0.1]", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "x@a..example", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "x@-a.example", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "x@a_b.example", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "<x@a.example>", L, NULL, ROUTE_REJECT, 0, "" },
	{ ALL, "x y@a.example", L, NULL, ROUTE_REJECT, 0, "" },
	/* Unknown elsewhere: 5 or 6 depending on who we are. */
	{ ROOT, "yves@nowhere.example", L, NULL, ROUTE_HOLD_AND_INVITE, 6,
	    "" },
	{ ROOT, "yves@nowhere.example", R, "x", ROUTE_HOLD_AND_INVITE, 6,
	    "" },
	{ PUB, "yves@nowhere.example", L, NULL, ROUTE_HOLD_AND_INVITE, 6,
	    "" },
	{ PUB, "yves@nowhere.example", S, "sub", ROUTE_HOLD_AND_INVITE, 6,
	    "" },
	{ GW, "yves@nowhere.example", S, "sub", ROUTE_HOLD_AND_INVITE, 6,
	    "" },
	{ PRIV, "yves@nowhere.example", L, NULL, ROUTE_DEFER_TO_SUPERIOR,
	    5, "pub" },
	{ PRIV, "yves@nowhere.example", S, "sub", ROUTE_DEFER_TO_SUPERIOR,
	    5, "pub" },
	{ PRIV, "yves@nowhere.example", R, "x", ROUTE_REJECT, 5, "" },
	{ PUB_UGW, "yves@nowhere.example", L, NULL,
	    ROUTE_DEFER_TO_SUPERIOR, 5, "gw" },
	{ PUB_UGW, "yves@nowhere.example", R, "x", ROUTE_REJECT, 5, "" },
	{ PRIV_UGW, "yves@nowhere.example", L, NULL,
	    ROUTE_DEFER_TO_SUPERIOR, 5, "gw" },
	/* Our own domain is served here (rule 5 does not send it up). */
	{ PRIV, "yves@priv.example", L, NULL, ROUTE_HOLD_AND_INVITE, 6, "" },
	{ PRIV, "yves@Priv.Example", R, "pub", ROUTE_HOLD_AND_INVITE, 6,
	    "" },
	{ PRIV, "yves@a.corp.example", R, "pub", ROUTE_HOLD_AND_INVITE, 6,
	    "" },
	{ PRIV, "yves@badpriv.example", L, NULL, ROUTE_DEFER_TO_SUPERIOR,
	    5, "pub" },
	{ PRIV_UGW, "yves@corp.example", L, NULL, ROUTE_HOLD_AND_INVITE, 6,
	    "" },
	/* A deferral straight back to the courier that sent it. */
	{ PUB_UGW, "yves@nowhere.example", S, "gw", ROUTE_REJECT, 5, "gw" },
	{ PRIV, "ivan@elsewhere.example", R, "pub", ROUTE_REJECT, 2,
	    "pub" },
};

static void
test_cases(void)
{
	struct route_decision d;
	char err[TN_ERRLEN], name[200];
	size_t i;
	int s, rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (s = 0; s < NSELF; s++) {
			if (cases[i].self != ALL && cases[i].self != s)
				continue;
			err[0] = '\0';
			rc = route_decide(&selves[s], &tables, cases[i].addr,
			    cases[i].src, cases[i].from, &d, err);
			snprintf(name, sizeof(name), "%s: <%s> src %d: %s "
			    "rule %d %s", self_names[s], cases[i].addr,
			    (int)cases[i].src,
			    route_action_name(cases[i].action), cases[i].rule,
			    cases[i].courier);
			if (!ok(rc == 0 && d.rd_action == cases[i].action &&
			    d.rd_rule == cases[i].rule &&
			    strcmp(d.rd_courier, cases[i].courier) == 0 &&
			    (d.rd_action == ROUTE_REJECT) ==
			    (d.rd_reason != NULL), "%s", name))
				diag("got rc %d %s rule %d courier \"%s\" %s",
				    rc, route_action_name(d.rd_action),
				    d.rd_rule, d.rd_courier, err);
		}
	}
}

static void
test_domain_walk(void)
{
	struct route_decision d;
	char err[TN_ERRLEN];

	queried[0] = '\0';
	route_decide(&selves[PUB], &tables, "zed@A.B.Sub.P.Example", L, NULL,
	    &d, err);
	is_str(queried, "a.b.sub.p.example b.sub.p.example sub.p.example ",
	    "rule 4 asks for the lower-cased domain, then each parent, "
	    "and stops at the first hit");
	queried[0] = '\0';
	route_decide(&selves[PUB], &tables, "zed@q.example", L, NULL, &d,
	    err);
	is_str(queried, "q.example example ", "up to the top label");
}

static void
test_errors(void)
{
	static const struct route_courier orphan = {
		PKI_ROLE_PRIVATE, NULL, 0, 0, NULL
	};
	static const struct route_tables none = { NULL, NULL, NULL, NULL,
		NULL, NULL };
	struct route_decision d;
	char err[TN_ERRLEN];

	fail_tables = 1;
	err[0] = '\0';
	is_int(route_decide(&selves[PUB], &tables, "alice@a.example", L,
	    NULL, &d, err), -1, "a failing table is an error, not a decision");
	is_str(err, "database down", "with the table's reason");
	fail_tables = 0;
	is_int(route_decide(&orphan, &none, "x@y.example", L, NULL, &d, err),
	    -1, "a private courier without a superior cannot defer");
	ok(strstr(err, "no") != NULL && strstr(err, "superior") != NULL,
	    "and says so: %s", err);
	is_int(route_decide(&orphan, &none, "x@y.example", R, "a", &d, err),
	    0, "but it can still reject remote traffic");
	is_int(d.rd_action, ROUTE_REJECT, "which it does");
	is_int(route_decide(&selves[PUB], &tables, "judy@elsewhere.example",
	    L, NULL, &d, err), -1, "an empty courier id from a table");
	is_int(route_decide(&selves[PUB], &none, "alice@a.example", L, NULL,
	    &d, err), 0, "NULL callbacks are empty tables");
	is_int(d.rd_action, ROUTE_HOLD_AND_INVITE, "so a public one invites");
	route_decide(&selves[PUB], &tables, "kate@a.example", L, NULL, &d,
	    err);
	ok(d.rd_action == ROUTE_REJECT && strcmp(d.rd_reason,
	    "account closed") == 0 && strcmp(d.rd_code, "5.1.1") == 0,
	    "a closed account: \"account closed\", 5.1.1");
	route_decide(&selves[PUB], &tables, "x@a..example", L, NULL, &d, err);
	ok(d.rd_action == ROUTE_REJECT && strcmp(d.rd_code, "5.1.3") == 0,
	    "any other refusal: 5.1.3");
	route_decide(&selves[PUB], &tables, "alice@a.example", L, NULL, &d,
	    err);
	ok(d.rd_code == NULL, "no code but for a refusal");
	is_str(route_action_name(ROUTE_DEFER_TO_SUPERIOR), "defer-to-superior",
	    "action names for logs");
}

/* route_domain_covers(): dNSName matching, as tandemctl invite uses. */
static void
test_covers(void)
{
	static const struct {
		const char *entry, *domain;
		int want;
	} covers[] = {
		{ "c.example", "c.example", 1 },
		{ "c.example", "mail.corp.c.example", 1 },
		{ ".c.example", "corp.c.example", 1 },
		{ "C.Example", "c.EXAMPLE", 1 },
		{ "c.example", "xc.example", 0 },
		{ "c.example", "example", 0 },
		{ "corp.c.example", "c.example", 0 },
		{ "", "c.example", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(covers) / sizeof(covers[0]); i++)
		is_int(route_domain_covers(covers[i].entry, covers[i].domain),
		    covers[i].want, covers[i].domain);
}

int
main(void)
{
	test_cases();
	test_domain_walk();
	test_covers();
	test_errors();
	return tap_done();
}
