# tandemctl: database migrations and operator commands.
sbin_PROGRAMS += ctl/tandemctl
ctl_tandemctl_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(PQ_CFLAGS)
ctl_tandemctl_SOURCES = \
	ctl/account.c \
	ctl/ctl.h \
	ctl/db.c \
	ctl/intro.c \
	ctl/invite.c \
	ctl/status.c \
	ctl/tandemctl.c
ctl_tandemctl_LDADD = $(TANDEM_LIBS) $(PQ_LIBS)
dist_man_MANS += ctl/tandemctl.8

# Unit test of lib/keybox.c (owned with the storage code).
check_PROGRAMS += t/unit/keybox-test
t_unit_keybox_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_keybox_test_SOURCES = t/unit/keybox-test.c t/unit/tap.h
t_unit_keybox_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/keybox-test
