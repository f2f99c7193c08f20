/*
 * NAME
 *	rate.c - how often each peer may come (rate.h)
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rate.h"

struct rate_slot {
	char		 rs_who[256];	/* "": free */
	double		 rs_tokens;
	double		 rs_at;		/* last refill, monotonic */
	time_t		 rs_told;
};

struct rate {
	pthread_mutex_t	 rt_lock;
	struct rate_slot rt_slot[RATE_SLOTS];
};

double
rate_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct rate *
rate_new(void)
{
	struct rate *rt;

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		return NULL;
	if (pthread_mutex_init(&rt->rt_lock, NULL) != 0) {
		free(rt);
		return NULL;
	}
	return rt;
}

/* who's slot, taken over from the peer seen longest ago if need be. */
static struct rate_slot *
rate_slot(struct rate *rt, const char *who, int per_minute, double now)
{
	struct rate_slot *rs, *old = &rt->rt_slot[0];
	size_t i;

	for (i = 0; i < RATE_SLOTS; i++) {
		rs = &rt->rt_slot[i];
		if (strcmp(rs->rs_who, who) == 0)
			return rs;
		if (rs->rs_who[0] == '\0' || (old->rs_who[0] != '\0' &&
		    rs->rs_at < old->rs_at))
			old = rs;
	}
	memset(old, 0, sizeof(*old));
	strncpy(old->rs_who, who, sizeof(old->rs_who) - 1);
	old->rs_tokens = per_minute;
	old->rs_at = now;
	return old;
}

int
rate_bucket(double *tokens, double *at, time_t *told, int per_minute,
    int *tell)
{
	double now = rate_now();

	*tell = 0;
	*tokens += (now - *at) * per_minute / 60.0;
	if (*tokens > per_minute)
		*tokens = per_minute;
	*at = now;
	if (*tokens >= 1.0) {
		*tokens -= 1.0;
		return 0;
	}
	if (time(NULL) - *told >= RATE_TELL) {
		*told = time(NULL);
		*tell = 1;
	}
	return -1;
}

int
rate_take(struct rate *rt, const char *who, int per_minute, int *tell)
{
	struct rate_slot *rs;
	int rc;

	*tell = 0;
	if (rt == NULL || per_minute <= 0 || who == NULL || *who == '\0')
		return 0;
	pthread_mutex_lock(&rt->rt_lock);
	rs = rate_slot(rt, who, per_minute, rate_now());
	rc = rate_bucket(&rs->rs_tokens, &rs->rs_at, &rs->rs_told,
	    per_minute, tell);
	pthread_mutex_unlock(&rt->rt_lock);
	return rc;
}

void
rate_free(struct rate *rt)
{
	if (rt == NULL)
		return;
	pthread_mutex_destroy(&rt->rt_lock);
	free(rt);
}
