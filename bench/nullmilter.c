/*
 * NAME
 *	nullmilter - a milter that does nothing, the benchmark's yardstick
 * SYNOPSIS
 *	nullmilter -p SOCKET
 * DESCRIPTION
 *	Registers the callbacks a real content milter needs (envelope
 *	sender and recipients, each header, end of headers, body chunks,
 *	end of message, abort, close), keeps no state, answers CONTINUE
 *	at every stage and ACCEPT at end of message. Because it asks for
 *	every stage, the MTA sends it the whole message, headers and body:
 *	the cost measured against it is the milter protocol itself, which
 *	is the fair baseline for a milter that must read each message.
 *
 *	SOCKET is in libmilter syntax: unix:/path or inet:PORT@HOST. A
 *	stale UNIX socket is removed at start. The program runs in the
 *	foreground until SIGTERM or SIGINT (libmilter's own handling).
 * DIAGNOSTICS
 *	Exits 0 after a clean stop, EX_USAGE on bad arguments,
 *	EX_UNAVAILABLE when libmilter cannot register or listen.
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static sfsistat
nm_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	(void)ctx;
	(void)chunk;
	(void)len;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_eom(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_ACCEPT;
}

static sfsistat
nm_abort(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nm_close(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static struct smfiDesc nm_desc = {
	"nullmilter",		/* name */
	SMFI_VERSION,		/* version */
	0,			/* flags: never modifies a message */
	NULL,			/* connect */
	NULL,			/* helo */
	nm_envfrom,		/* envelope sender */
	nm_envrcpt,		/* envelope recipient */
	nm_header,		/* header */
	nm_eoh,			/* end of headers */
	nm_body,		/* body chunk */
	nm_eom,			/* end of message */
	nm_abort,		/* abort */
	nm_close,		/* close */
	NULL,			/* unknown command */
	NULL,			/* DATA */
	NULL			/* negotiate */
};

static void
nm_usage(void)
{
	fprintf(stderr, "usage: nullmilter -p SOCKET\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		switch (ch) {
		case 'p':
			sock = optarg;
			break;
		default:
			nm_usage();
		}
	}
	if (sock == NULL || optind != argc)
		nm_usage();
	if (strncmp(sock, "unix:", 5) == 0)
		(void)unlink(sock + 5);
	if (smfi_setconn((char *)sock) == MI_FAILURE ||
	    smfi_register(nm_desc) == MI_FAILURE) {
		fprintf(stderr, "nullmilter: cannot register on %s\n", sock);
		return EX_UNAVAILABLE;
	}
	(void)smfi_settimeout(30);
	(void)smfi_setbacklog(128);
	if (smfi_main() == MI_FAILURE) {
		fprintf(stderr, "nullmilter: cannot listen on %s\n", sock);
		return EX_UNAVAILABLE;
	}
	return 0;
}
