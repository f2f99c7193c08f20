/*
 * NAME
 *	bench.h - the command-line helpers the benchmark programs share
 * SYNOPSIS
 *	#include "bench.h"
 *
 *	void	bench_usage(const char *synopsis);
 *	long	bench_number(const char *s, long min, long max,
 *		    const char *synopsis);
 *	int	bench_addr(const char *spec, struct sockaddr_in *sin);
 *	double	bench_now(void);
 * DESCRIPTION
 *	bench_usage() prints "usage: " and synopsis, the program's name
 *	and its arguments, on standard error and exits EX_USAGE.
 *
 *	bench_number() returns s as a decimal number from min to max;
 *	anything else is a usage error: bench_usage(synopsis).
 *
 *	bench_addr() reads spec, an IPv4 address and a port as
 *	"ADDR:PORT", into sin.
 *
 *	bench_now() returns the seconds on the monotonic clock, for
 *	differences.
 * DIAGNOSTICS
 *	bench_addr() returns 0, or -1 when spec is no IPv4 ADDR:PORT.
 */
#ifndef TANDEM_BENCH_BENCH_H
#define TANDEM_BENCH_BENCH_H

#include <netinet/in.h>

void	bench_usage(const char *);
long	bench_number(const char *, long, long, const char *);
int	bench_addr(const char *, struct sockaddr_in *);
double	bench_now(void);

#endif
