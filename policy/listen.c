/*
 * NAME
 *	listen.c - LISTEN tandem_account: release held ARMs on activation
 * SYNOPSIS
 *	See policyd.h.
 * DESCRIPTION
 *	listen_start() opens a second database connection, dedicated to
 *	LISTEN tandem_account (sent by the trigger of sql/bg when an
 *	account becomes active or its keys change, or when it is
 *	transferred to another courier), watches its socket in
 *	the event loop, and then releases every held ARM whose account is
 *	already active: what arrived while nobody listened (start-up,
 *	downtime, a lost connection) is caught up. Each notification
 *	releases the held ARMs of its address (bgfed_release()),
 *	logs an agent certificate change not believed
 *	(store_agent_changes()), and replaces the pin of an address a
 *	transfer brought back when its certificate passes the checks
 *	(store_transfer_repin(); the catch-up does it for every one).
 *	The same connection LISTENs tandem_outbox, which send_wake()
 *	NOTIFYs from a worker without the sender: the sender of worker 0
 *	then looks at bg_outbox at once (send_wake()).
 *
 *	LISTEN goes through db_run() (db.h) like every statement. When
 *	the connection is lost, it is retried every LISTEN_RETRY
 *	seconds, each success followed by the same catch-up.
 *	listen_stop() closes it and frees its events.
 * DIAGNOSTICS
 *	listen_start() returns 0, or -1 with a reason in err (the daemon
 *	then retries later). Failures in the loop are logged.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "policyd.h"
#include "tandem.h"

#define LISTEN_RETRY	5

static void	listen_read(evutil_socket_t, short, void *);

static void
listen_drop(struct pd *pd)
{
	if (pd->pd_listen_ev != NULL)
		event_free(pd->pd_listen_ev);
	pd->pd_listen_ev = NULL;
	if (pd->pd_listen != NULL)
		PQfinish(pd->pd_listen);
	pd->pd_listen = NULL;
}

static void
listen_retry(evutil_socket_t fd, short what, void *arg)
{
	struct pd *pd = arg;
	char err[TN_ERRLEN];

	(void)fd;
	(void)what;
	if (listen_start(pd, err) == -1)
		log_warn("listen status=error reason=\"%s\" retry=%ds", err,
		    LISTEN_RETRY);
}

static void
listen_later(struct pd *pd)
{
	struct timeval tv = { LISTEN_RETRY, 0 };

	listen_drop(pd);
	if (pd->pd_retry_ev == NULL)
		pd->pd_retry_ev = evtimer_new(pd->pd_base, listen_retry, pd);
	if (pd->pd_retry_ev != NULL)
		evtimer_add(pd->pd_retry_ev, &tv);
}

int
listen_start(struct pd *pd, char *err)
{
	char why[TN_ERRLEN];
	int rc = -1;

	err[0] = '\0';
	listen_drop(pd);
	pd->pd_listen = PQconnectdb(pd->pd_cf->cf_conninfo);
	if (pd->pd_listen == NULL || PQstatus(pd->pd_listen) != CONNECTION_OK) {
		tn_err(err, "database: %.200s", pd->pd_listen == NULL ?
		    "out of memory" : PQerrorMessage(pd->pd_listen));
		goto out;
	}
	PQsetNoticeProcessor(pd->pd_listen, store_notice, NULL);
	if (db_run(pd->pd_listen, "LISTEN tandem_account", 0, NULL,
	    why) == -1 || db_run(pd->pd_listen, "LISTEN tandem_outbox", 0,
	    NULL, why) == -1) {
		tn_err(err, "LISTEN: %s", why);
		goto out;
	}
	if (PQsetnonblocking(pd->pd_listen, 1) != 0 ||
	    (pd->pd_listen_ev = event_new(pd->pd_base, PQsocket(pd->pd_listen),
	    EV_READ | EV_PERSIST, listen_read, pd)) == NULL ||
	    event_add(pd->pd_listen_ev, NULL) != 0) {
		tn_err(err, "cannot watch the LISTEN connection");
		goto out;
	}
	if (bgfed_release(pd, NULL, err) == -1 ||
	    store_transfer_repin(pd, NULL, err) == -1)
		goto out;
	rc = 0;
out:
	err[strcspn(err, "\n")] = '\0';
	if (rc == -1)
		listen_later(pd);
	return rc;
}

static void
listen_read(evutil_socket_t fd, short what, void *arg)
{
	struct pd *pd = arg;
	PGnotify *n;
	char err[TN_ERRLEN];

	(void)fd;
	(void)what;
	if (PQconsumeInput(pd->pd_listen) != 1) {
		snprintf(err, sizeof(err), "%s", PQerrorMessage(pd->pd_listen));
		err[strcspn(err, "\n")] = '\0';
		log_warn("listen status=lost reason=\"%s\"", err);
		listen_later(pd);
		return;
	}
	while ((n = PQnotifies(pd->pd_listen)) != NULL) {
		if (strcmp(n->relname, "tandem_outbox") == 0) {
			send_wake(pd);	/* another worker queued */
			PQfreemem(n);
			continue;
		}
		log_info("account address=%s status=notified", n->extra);
		if (store_connect(pd, err) == -1 ||
		    store_agent_changes(pd, n->extra, err) == -1 ||
		    store_transfer_repin(pd, n->extra, err) == -1)
			log_warn("account address=%s status=error "
			    "reason=\"%s\"", n->extra, err);
		if (bgfed_release(pd, n->extra, err) == -1)
			log_warn("release address=%s status=error "
			    "reason=\"%s\"", n->extra, err);
		PQfreemem(n);
	}
}

void
listen_stop(struct pd *pd)
{
	listen_drop(pd);
	if (pd->pd_retry_ev != NULL)
		event_free(pd->pd_retry_ev);
	pd->pd_retry_ev = NULL;
}
