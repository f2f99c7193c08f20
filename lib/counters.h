/*
 * NAME
 *	counters.h - what an element holds and owes, for its operator
 * SYNOPSIS
 *	#include "counters.h"
 *
 *	int	counters_each(PGconn *db, const char *element,
 *		    enum counters_form form,
 *		    int (*fn)(const char *text, void *arg), void *arg,
 *		    char *err);
 * DESCRIPTION
 *	One list of queries, run on the element's database as its own
 *	role, says what the element ("fg" or "bg") holds and owes: its
 *	accounts by status, the invitations pending (foreground), what is
 *	held (mail on the foreground, ARMs on the background), what waits
 *	to go out (how many, and the oldest's age in seconds),
 *	replication (the foreground's logical slots with their lag in
 *	bytes; the background's subscription and the age of the last
 *	heartbeat it received), and refusals (how many in the last 24
 *	hours, and the last one).
 *
 *	Each query gives both forms of the same numbers: COUNTERS_LINES,
 *	the key=value lines of "tandemctl status" (a text may hold more
 *	than one line); COUNTERS_PROMETHEUS, the Prometheus text
 *	exposition format (version 0.0.4: a "# TYPE" line, then samples
 *	of metrics named tandem_*), which tandem-policyd serves on
 *	background.metrics_listen. The last refusal's text is in the lines
 *	only. counters_each() calls fn with each query's text, in order;
 *	a non-zero return from fn stops it and is returned.
 * DIAGNOSTICS
 *	0, fn's non-zero return, or -1 with a reason in err.
 */
#ifndef TANDEM_COUNTERS_H
#define TANDEM_COUNTERS_H

#include <libpq-fe.h>

enum counters_form {
	COUNTERS_LINES = 0,
	COUNTERS_PROMETHEUS = 1
};

int	counters_each(PGconn *, const char *, enum counters_form,
	    int (*)(const char *, void *), void *, char *);

#endif
