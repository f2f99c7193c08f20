/*
 * NAME
 *	bench.c - the command-line helpers the benchmark programs share
 * SYNOPSIS
 *	See bench.h.
 * DESCRIPTION
 *	Linked into each program of bench/ that takes numbers, an
 *	address or times its run, so that all of them read their
 *	arguments the same way.
 * DIAGNOSTICS
 *	See bench.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "bench.h"

void
bench_usage(const char *synopsis)
{
	fprintf(stderr, "usage: %s\n", synopsis);
	exit(EX_USAGE);
}

/* s as a number from min to max: 0 with it in *v, or -1. */
static int
bench_parse(const char *s, long min, long max, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || *v < min || *v > max)
		return -1;
	return 0;
}

long
bench_number(const char *s, long min, long max, const char *synopsis)
{
	long v;

	if (bench_parse(s, min, max, &v) == -1)
		bench_usage(synopsis);
	return v;
}

int
bench_addr(const char *spec, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	long port;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host) ||
	    bench_parse(colon + 1, 1, 65535, &port) == -1)
		return -1;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
