/*
 * NAME
 *	route.c - the routing decision shared by foreground and background
 * DESCRIPTION
 *	See route.h. The address is checked and split, its domain
 *	lower-cased into a local buffer, and the six rules are tried in
 *	order against the caller's tables.
 * DIAGNOSTICS
 *	See route.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tandem.h"
#include "route.h"

/* The address, split and normalised: local@domain, domain lower-case. */
struct route_addr {
	char	ra_full[TN_MAX_ADDRESS + 1];
	char	*ra_domain;	/* points into ra_full */
};

const char *
route_action_name(enum route_action action)
{
	switch (action) {
	case ROUTE_REJECT:
		return "reject";
	case ROUTE_DELIVER_LOCAL:
		return "deliver-local";
	case ROUTE_TO_NEW_COURIER:
		return "to-new-courier";
	case ROUTE_TO_LEARNED_COURIER:
		return "to-learned-courier";
	case ROUTE_TO_INTRODUCED_COURIER:
		return "to-introduced-courier";
	case ROUTE_DEFER_TO_SUPERIOR:
		return "defer-to-superior";
	case ROUTE_HOLD_AND_INVITE:
		return "hold-and-invite";
	}
	return "unknown";
}

/* A host name: LDH labels of 1-63 characters separated by dots. */
int
route_domain_valid(const char *d)
{
	size_t label = 0;

	if (*d == '\0' || *d == '.')
		return 0;
	for (; *d != '\0'; d++) {
		if (*d == '.') {
			if (label == 0 || d[-1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*d) && *d != '-')
			return 0;
		if (label == 0 && *d == '-')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && d[-1] != '-';
}

/* Split and normalise; NULL, or a static reason for a rejection. */
static const char *
route_addr_parse(const char *address, struct route_addr *ra)
{
	size_t len;
	char *at, *p;

	len = strlen(address);
	if (len == 0)
		return "empty address";
	if (len > TN_MAX_ADDRESS)
		return "address too long";
	memcpy(ra->ra_full, address, len + 1);
	if ((at = strrchr(ra->ra_full, '@')) == NULL)
		return "address has no domain";
	if (at == ra->ra_full)
		return "address has an empty local part";
	for (p = ra->ra_full; p < at; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' ||
		    (unsigned char)*p >= 0x7f)
			return "bad character in local part";
	ra->ra_domain = at + 1;
	if (*ra->ra_domain == '[')
		return "address literals are not routed";
	for (p = ra->ra_domain; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	/* One trailing dot is the root of the DNS: drop it. */
	if (p > ra->ra_domain && p[-1] == '.')
		p[-1] = '\0';
	if (!route_domain_valid(ra->ra_domain))
		return "bad domain";
	return NULL;
}

/* See route.h. */
int
route_domain_covers(const char *entry, const char *domain)
{
	size_t el, dl;

	if (*entry == '.')
		entry++;
	el = strlen(entry);
	dl = strlen(domain);
	if (el == 0 || el > dl)
		return 0;
	if (strcasecmp(domain + dl - el, entry) != 0)
		return 0;
	return dl == el || domain[dl - el - 1] == '.';
}

static int
route_own_domain(const struct route_courier *self, const char *domain)
{
	size_t i;

	for (i = 0; i < self->rc_ndomains; i++)
		if (self->rc_domains[i] != NULL &&
		    route_domain_covers(self->rc_domains[i], domain))
			return 1;
	return 0;
}

/* Rule 4: the domain, then each parent, the first hit wins. */
static int
route_lookup_domain(const struct route_tables *t, const char *domain,
    char *courier, char *err)
{
	const char *d;
	int found;

	if (t->rt_domain == NULL)
		return 0;
	d = domain;
	for (;;) {
		if ((found = t->rt_domain(t->rt_ctx, d, courier, err)) != 0)
			return found;
		if ((d = strchr(d, '.')) == NULL)
			return 0;
		d++;
	}
}

static int
route_lookup(int (*fn)(void *, const char *, char *, char *), void *ctx,
    const char *key, char *courier, char *err)
{
	if (fn == NULL)
		return 0;
	return fn(ctx, key, courier, err);
}

static void
route_set(struct route_decision *out, enum route_action action, int rule,
    const char *reason)
{
	out->rd_action = action;
	out->rd_rule = rule;
	out->rd_reason = reason;
	out->rd_code = action == ROUTE_REJECT ? "5.1.3" : NULL;
}

/* Rules 1-4, one after the other: 1 decided, 0 not yet, -1 error. */
static int
route_tables_decide(const struct route_tables *t, const struct route_addr *ra,
    struct route_decision *out, char *err)
{
	int found;

	if (t->rt_local != NULL) {
		if ((found = t->rt_local(t->rt_ctx, ra->ra_full, err)) == -1)
			return -1;
		if (found) {
			route_set(out, ROUTE_DELIVER_LOCAL, 1, NULL);
			return 1;
		}
	}
	if (t->rt_closed != NULL) {
		if ((found = t->rt_closed(t->rt_ctx, ra->ra_full, err)) == -1)
			return -1;
		if (found) {
			route_set(out, ROUTE_REJECT, 1, "account closed");
			out->rd_code = "5.1.1";
			return 1;
		}
	}
	found = route_lookup(t->rt_transferred, t->rt_ctx, ra->ra_full,
	    out->rd_courier, err);
	if (found != 0) {
		route_set(out, ROUTE_TO_NEW_COURIER, 2, NULL);
		return found;
	}
	found = route_lookup(t->rt_learned, t->rt_ctx, ra->ra_full,
	    out->rd_courier, err);
	if (found != 0) {
		route_set(out, ROUTE_TO_LEARNED_COURIER, 3, NULL);
		return found;
	}
	found = route_lookup_domain(t, ra->ra_domain, out->rd_courier, err);
	if (found != 0) {
		route_set(out, ROUTE_TO_INTRODUCED_COURIER, 4, NULL);
		return found;
	}
	return 0;
}

/* Rules 5 and 6, when no table knew the address. */
static int
route_self_decide(const struct route_courier *self,
    const struct route_addr *ra, enum route_source source,
    struct route_decision *out, char *err)
{
	int defers;

	defers = self->rc_role == PKI_ROLE_PRIVATE || self->rc_superior_gateway;
	if (defers && !route_own_domain(self, ra->ra_domain)) {
		if (source == ROUTE_SRC_REMOTE) {
			route_set(out, ROUTE_REJECT, 5,
			    "no route from here: this courier is no relay");
			return 0;
		}
		if (self->rc_superior == NULL || *self->rc_superior == '\0') {
			tn_err(err, "route: %s must defer to its superior, "
			    "but none is configured", ra->ra_full);
			return -1;
		}
		if (strlen(self->rc_superior) >= ROUTE_IDLEN) {
			tn_err(err, "route: superior courier id too long");
			return -1;
		}
		strcpy(out->rd_courier, self->rc_superior);
		route_set(out, ROUTE_DEFER_TO_SUPERIOR, 5, NULL);
		return 0;
	}
	route_set(out, ROUTE_HOLD_AND_INVITE, 6, NULL);
	return 0;
}

int
route_decide(const struct route_courier *self, const struct route_tables *t,
    const char *address, enum route_source source, const char *from_courier,
    struct route_decision *out, char *err)
{
	struct route_addr ra;
	const char *reason;
	int rc = -1, found;

	memset(out, 0, sizeof(*out));
	if ((reason = route_addr_parse(address, &ra)) != NULL) {
		route_set(out, ROUTE_REJECT, 0, reason);
		return 0;
	}
	if ((found = route_tables_decide(t, &ra, out, err)) == -1)
		goto out;
	if (found == 0 && route_self_decide(self, &ra, source, out, err) == -1)
		goto out;
	out->rd_courier[ROUTE_IDLEN - 1] = '\0';
	if (out->rd_rule >= 2 && out->rd_rule <= 5 &&
	    out->rd_action != ROUTE_REJECT) {
		if (out->rd_courier[0] == '\0') {
			tn_err(err, "route: rule %d gave no courier for %s",
			    out->rd_rule, ra.ra_full);
			goto out;
		}
		if (from_courier != NULL &&
		    strcasecmp(out->rd_courier, from_courier) == 0)
			route_set(out, ROUTE_REJECT, out->rd_rule,
			    "routing loop: the route leads back to the sender");
	}
	rc = 0;
out:
	if (rc == -1)
		memset(out, 0, sizeof(*out));
	return rc;
}
