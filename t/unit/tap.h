/*
 * NAME
 *	tap.h - Test Anything Protocol output for the C unit tests
 * SYNOPSIS
 *	#include "tap.h"
 *
 *	ok(cond, fmt, ...);
 *	is_int(got, want, name);
 *	is_str(got, want, name);
 *	return tap_done();
 * DESCRIPTION
 *	Each check prints one TAP line; tap_done() prints the plan and
 *	returns the exit status (0 only if every check passed). Header
 *	only: each unit test is one program.
 */
#ifndef TANDEM_TAP_H
#define TANDEM_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int TN_TAP_PRINTF(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline int
TN_TAP_PRINTF(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

#define ok(cond, ...)	TN_TAP_PRINTF(!!(cond), __VA_ARGS__)

#define is_int(got, want, name) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	if (!ok(g_ == w_, "%s", (name)))				\
		printf("#   got %lld, want %lld\n", g_, w_);	\
} while (0)

#define is_str(got, want, name) do {					\
	const char *g_ = (got), *w_ = (want);				\
	int same_ = (g_ == NULL && w_ == NULL) ||			\
	    (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0);		\
	if (!ok(same_, "%s", (name)))					\
		printf("#   got \"%s\", want \"%s\"\n",			\
		    g_ ? g_ : "(null)", w_ ? w_ : "(null)");		\
} while (0)

static inline void
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
