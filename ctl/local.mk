# tandemctl: database migrations and operator commands.
sbin_PROGRAMS += ctl/tandemctl
ctl_tandemctl_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(PQ_CFLAGS)
ctl_tandemctl_SOURCES = \
	ctl/account.c \
	ctl/close.c \
	ctl/crl.c \
	ctl/ctl.h \
	ctl/db.c \
	ctl/intro.c \
	ctl/invite.c \
	ctl/status.c \
	ctl/transfer.c \
	ctl/tandemctl.c
ctl_tandemctl_LDADD = $(TANDEM_LIBS) $(PQ_LIBS)
# The page as installed: this build's folders in place of the tokens
# (MAN_SUBST, Makefile.am).
EXTRA_DIST += ctl/tandemctl.8
man_MANS += man/tandemctl.8
CLEANFILES += man/tandemctl.8
man/tandemctl.8: $(srcdir)/ctl/tandemctl.8 Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(MAN_SUBST) $(srcdir)/ctl/tandemctl.8 >$@-t && mv $@-t $@

# Unit test of lib/keybox.c (owned with the storage code).
check_PROGRAMS += t/unit/keybox-test
t_unit_keybox_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_keybox_test_SOURCES = t/unit/keybox-test.c t/unit/tap.h
t_unit_keybox_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/keybox-test
