/*
 * NAME
 *	rate.h - how often each peer may come: a token bucket a name
 * SYNOPSIS
 *	#include "rate.h"
 *
 *	struct rate	*rate_new(void);
 *	int	rate_take(struct rate *rt, const char *who, int per_minute,
 *		    int *tell);
 *	void	rate_free(struct rate *rt);
 *
 *	int	rate_bucket(double *tokens, double *at, time_t *told,
 *		    int per_minute, int *tell);
 *	double	rate_now(void);
 * DESCRIPTION
 *	A rate table keeps, for up to RATE_SLOTS peers named by a string
 *	(a courier's name), a bucket of per_minute tokens refilled at
 *	per_minute a minute: a peer may use a minute's worth at once,
 *	then keeps to the rate. rate_take() takes one token of who's
 *	bucket: 0, or -1 when it is empty (per_minute 0 takes nothing and
 *	always gives 0). With -1, *tell is 1 once per RATE_TELL seconds
 *	per peer, so that the caller logs a flood once a minute, not once
 *	a message. When the table is full, the peer seen longest ago
 *	gives its slot up. The calls are safe from several threads.
 *
 *	rate_bucket() is that arithmetic on one bucket the caller keeps
 *	(and locks): tokens, the time of its last refill (*at, rate_now(),
 *	monotonic seconds; a new bucket starts full at now) and of its
 *	last refusal told (*told); tandem-policyd keeps its buckets in a
 *	table its workers share.
 * DIAGNOSTICS
 *	rate_new() returns NULL when out of memory.
 */
#ifndef TANDEM_RATE_H
#define TANDEM_RATE_H

#define RATE_SLOTS	256
#define RATE_TELL	60

#include <time.h>

struct rate;

struct rate	*rate_new(void);
int		 rate_take(struct rate *, const char *, int, int *);
void		 rate_free(struct rate *);
int		 rate_bucket(double *, double *, time_t *, int, int *);
double		 rate_now(void);

#endif
