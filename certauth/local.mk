# tandem-ca: the certificate authority (operator's workstation).
bin_PROGRAMS += certauth/tandem-ca
certauth_tandem_ca_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS)
certauth_tandem_ca_SOURCES = certauth/tandem-ca.c
certauth_tandem_ca_LDADD = $(TANDEM_LIBS)
# The page as installed: this build's folders in place of the tokens
# (MAN_SUBST, Makefile.am).
EXTRA_DIST += certauth/tandem-ca.1
man_MANS += man/tandem-ca.1
CLEANFILES += man/tandem-ca.1
man/tandem-ca.1: $(srcdir)/certauth/tandem-ca.1 Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(MAN_SUBST) $(srcdir)/certauth/tandem-ca.1 >$@-t && mv $@-t $@

check_PROGRAMS += t/unit/pki-test
t_unit_pki_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_pki_test_SOURCES = t/unit/pki-test.c t/unit/tap.h
t_unit_pki_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/pki-test

TESTS += t/0100-ca-hierarchy.sh t/0110-ca-refusals.sh t/0120-ca-revoke.sh \
	t/0115-ca-hostile-issuing.sh
EXTRA_DIST += t/0100-ca-hierarchy.sh t/0110-ca-refusals.sh t/0120-ca-revoke.sh \
	t/0115-ca-hostile-issuing.sh doc/pki.md
