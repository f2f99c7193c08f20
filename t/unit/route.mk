# Unit tests of lib/route.c and lib/conf.c; the tandem.conf(5) page; Postfix harness scenarios.
check_PROGRAMS += t/unit/route-test
t_unit_route_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_route_test_SOURCES = t/unit/route-test.c t/unit/tap.h
t_unit_route_test_LDADD = $(UNIT_LIBS)

TESTS += t/unit/route-test

check_PROGRAMS += t/unit/conf-test
t_unit_conf_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_conf_test_SOURCES = t/unit/conf-test.c t/unit/tap.h
t_unit_conf_test_LDADD = $(UNIT_LIBS)

TESTS += t/unit/conf-test

# The page as installed: this build's folders in place of the tokens
# (MAN_SUBST, Makefile.am).
EXTRA_DIST += doc/tandem.conf.5
man_MANS += man/tandem.conf.5
CLEANFILES += man/tandem.conf.5
man/tandem.conf.5: $(srcdir)/doc/tandem.conf.5 Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(MAN_SUBST) $(srcdir)/doc/tandem.conf.5 >$@-t && mv $@-t $@

TESTS += t/0400-postfix-relay.sh
EXTRA_DIST += t/0400-postfix-relay.sh
TESTS += t/0410-postfix-ux-contrib.sh
EXTRA_DIST += t/0410-postfix-ux-contrib.sh
TESTS += t/0420-sendmail-milter.sh
EXTRA_DIST += t/0420-sendmail-milter.sh t/lib-sendmail.sh t/lib-milter.sh
