/*
 * NAME
 *	ctl.h - pieces shared by the tandemctl commands
 * SYNOPSIS
 *	#include "ctl.h"
 *
 *	int	ctl_db(int argc, char **argv);
 *	int	ctl_account(int argc, char **argv);
 *	int	ctl_keybox(int argc, char **argv);
 *	int	ctl_invite(int argc, char **argv);
 *	int	ctl_intro(int argc, char **argv);
 *	int	ctl_route(int argc, char **argv);
 *	int	ctl_status(int argc, char **argv);
 *	int	ctl_transfer(int argc, char **argv);
 *	int	ctl_crl(int argc, char **argv);
 *	int	ctl_close(int argc, char **argv);
 *
 *	int	ctl_fail(int status, const char *fmt, ...);
 *	PGconn	*ctl_connect(const char *conninfo);
 *	PGresult *ctl_sql(PGconn *conn, const char *sql, int n,
 *		    const char *const *values);
 *	int	ctl_begin(PGconn *conn);
 *	int	ctl_end(PGconn *conn, int commit);
 * DESCRIPTION
 *	ctl_db(), ctl_account() and ctl_keybox() run one command group;
 *	argv[0] is the group's name. Each returns a sysexits.h status.
 *
 *	ctl_fail() prints "tandemctl: " and the message on standard
 *	error and returns status.
 *
 *	ctl_connect() opens a libpq connection, or prints why not and
 *	returns NULL; the caller passes it to PQfinish().
 *
 *	ctl_sql() runs one statement with n text parameters through
 *	db_exec() (db.h). It returns the result (to be passed to
 *	PQclear()) if the statement succeeded, else prints "database: "
 *	and the server's message and returns NULL.
 *
 *	ctl_begin() and ctl_end() open and close a transaction (ctl_end
 *	commits with commit, else rolls back, silently); 0, or -1 after
 *	printing why. A COMMIT that the server answers ROLLBACK is -1.
 * DIAGNOSTICS
 *	Everything goes to standard error, prefixed "tandemctl: ".
 */
#ifndef TANDEM_CTL_H
#define TANDEM_CTL_H

#include <libpq-fe.h>

#include "db.h"
#include "tandem.h"

int	ctl_db(int, char **);
int	ctl_account(int, char **);
int	ctl_keybox(int, char **);
int	ctl_invite(int, char **);
int	ctl_intro(int, char **);
int	ctl_route(int, char **);
int	ctl_status(int, char **);
int	ctl_transfer(int, char **);
int	ctl_crl(int, char **);
int	ctl_close(int, char **);

int	ctl_fail(int, const char *, ...) TN_PRINTF(2, 3);
PGconn	*ctl_connect(const char *);
PGresult *ctl_sql(PGconn *, const char *, int, const char *const *);
int	ctl_begin(PGconn *);
int	ctl_end(PGconn *, int);

#endif
