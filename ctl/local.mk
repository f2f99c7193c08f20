# tandemctl: database migrations and operator commands.
sbin_PROGRAMS += ctl/tandemctl
ctl_tandemctl_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(PQ_CFLAGS)
ctl_tandemctl_SOURCES = ctl/tandemctl.c
ctl_tandemctl_LDADD = $(TANDEM_LIBS) $(PQ_LIBS)
dist_man_MANS += ctl/tandemctl.8
