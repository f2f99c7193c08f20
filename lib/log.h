/*
 * NAME
 *	log.h - the one logging module
 * SYNOPSIS
 *	#include "log.h"
 *
 *	void	log_init(const char *ident, int to_stderr);
 *	void	log_detached(void);
 *	void	log_info(const char *fmt, ...);
 *	void	log_warn(const char *fmt, ...);
 *	void	log_fatal(int status, const char *fmt, ...);
 *	void	log_panic(const char *fmt, ...);
 * DESCRIPTION
 *	Lines go to syslog (facility mail) or, after log_init(ident, 1),
 *	to standard error prefixed with the ident. Lines about a message
 *	start with its MTA queue id and go on as key=value pairs. A value
 *	taken from a certificate or a peer (a name, an address, a claim,
 *	a reason quoting them) goes through util_escape() first; as a last
 *	guard, any control character left in a line is written "?", so
 *	that no value ends a line.
 *
 *	With syslog, warnings, fatal errors and panics also go to standard
 *	error until log_detached() says that the daemon has left its
 *	terminal: an administrator who starts a daemon sees why it did
 *	not start, not only its exit status.
 *
 *	log_fatal() is for start-up and configuration errors: it logs and
 *	exits with status (a sysexits.h code). log_panic() is for broken
 *	invariants: it logs and aborts.
 */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

#include "tandem.h"

void	log_init(const char *, int);
void	log_detached(void);
void	log_info(const char *, ...) TN_PRINTF(1, 2);
void	log_warn(const char *, ...) TN_PRINTF(1, 2);
void	log_fatal(int, const char *, ...) TN_PRINTF(2, 3)
	    __attribute__((noreturn));
void	log_panic(const char *, ...) TN_PRINTF(1, 2)
	    __attribute__((noreturn));

#endif
