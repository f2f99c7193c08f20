/*
 * NAME
 *	log.c - syslog or stderr logging, and library error buffers
 * DESCRIPTION
 *	See log.h and tandem.h.
 */
#include <openssl/err.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"
#include "tandem.h"

static const char *log_ident = "tandem";
static int log_stderr = 1;
static int log_attached = 1;	/* syslog: errors to stderr as well */

void
log_init(const char *ident, int to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_detached(void)
{
	log_attached = 0;
}

/*
 * The last guard: a value that reached a line unescaped (callers pass
 * names through util_escape()) still cannot end the line or carry a
 * terminal's control sequence.
 */
static void
log_controls(char *line)
{
	unsigned char *p;

	for (p = (unsigned char *)line; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void
log_vwrite(int prio, const char *tag, const char *fmt, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	log_controls(line);
	if (log_stderr) {
		fprintf(stderr, "%s: %s%s\n", log_ident, tag, line);
		return;
	}
	syslog(prio, "%s%s", tag, line);
	if (log_attached && prio <= LOG_WARNING)
		fprintf(stderr, "%s: %s%s\n", log_ident, tag, line);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

void
log_fatal(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, "fatal: ", fmt, ap);
	va_end(ap);
	exit(status);
}

void
log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, "panic: ", fmt, ap);
	va_end(ap);
	abort();
}

void
tn_err(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err, TN_ERRLEN, fmt, ap);
	va_end(ap);
}

void
tn_err_ssl(char *err, const char *fmt, ...)
{
	char what[TN_ERRLEN], why[160];
	unsigned long e;
	va_list ap;

	e = ERR_peek_error();
	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* A reason cut short is still a reason. */
	if (e != 0 && snprintf(err, TN_ERRLEN, "%s (%s)", what, why) < 0)
		err[0] = '\0';
	else if (e == 0)
		memcpy(err, what, sizeof(what));
}
