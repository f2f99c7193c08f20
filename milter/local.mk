# tandem-milter: the foreground element, a milter beside the MTA.

# Unit tests of lib/tmail.c and the sign/envelope parts of lib/cms.c.
check_PROGRAMS += t/unit/tmail-test
t_unit_tmail_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_tmail_test_SOURCES = t/unit/tmail-test.c t/unit/tap.h
t_unit_tmail_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/tmail-test

# cms_unwrap_from() against cms_unwrap(), for the milter's cache.
check_PROGRAMS += t/unit/certsrc-test
t_unit_certsrc_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_certsrc_test_SOURCES = t/unit/certsrc-test.c t/unit/tap.h
t_unit_certsrc_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/certsrc-test

check_PROGRAMS += t/unit/objcache-test
t_unit_objcache_test_CFLAGS = $(UNIT_CFLAGS) $(PQ_CFLAGS) \
	-I$(top_srcdir)/milter
t_unit_objcache_test_SOURCES = t/unit/objcache-test.c t/unit/tap.h \
	milter/objcache.c
t_unit_objcache_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/objcache-test

sbin_PROGRAMS += milter/tandem-milter
milter_tandem_milter_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(PQ_CFLAGS) \
	$(MILTER_CFLAGS)
milter_tandem_milter_SOURCES = \
	milter/acache.c \
	milter/ca.c \
	milter/content.c \
	milter/decline.c \
	milter/fgfed.c \
	milter/fgfed.h \
	milter/fgdb.c \
	milter/hygiene.c \
	milter/rekey.c \
	milter/milter.h \
	milter/objcache.c \
	milter/outbox.c \
	milter/pool.c \
	milter/reload.c \
	milter/service.c \
	milter/transfer.c \
	milter/tandem-milter.c
milter_tandem_milter_LDADD = $(TANDEM_LIBS) $(PQ_LIBS) $(MILTER_LIBS) \
	-lpthread

TESTS += t/0500-milter-content.sh
EXTRA_DIST += t/0500-milter-content.sh
TESTS += t/0505-milter-reload.sh
EXTRA_DIST += t/0505-milter-reload.sh
TESTS += t/0509-milter-account-cache.sh
EXTRA_DIST += t/0509-milter-account-cache.sh

# A registration mail as an agent sends it, without the agent's checks.
check_PROGRAMS += t/milter-regmail
t_milter_regmail_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS)
t_milter_regmail_SOURCES = t/milter-regmail.c
t_milter_regmail_LDADD = $(TANDEM_LIBS)
check_PROGRAMS += t/milter-svcmail
t_milter_svcmail_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS)
t_milter_svcmail_SOURCES = t/milter-svcmail.c
t_milter_svcmail_LDADD = $(TANDEM_LIBS)

TESTS += t/0510-milter-registration.sh
EXTRA_DIST += t/0510-milter-registration.sh
TESTS += t/0680-e2e-rekey.sh
EXTRA_DIST += t/0515-milter-rekey.sh t/0680-e2e-rekey.sh
TESTS += t/0530-milter-hygiene.sh
EXTRA_DIST += t/0530-milter-hygiene.sh
TESTS += t/0520-milter-database-down.sh
EXTRA_DIST += t/0520-milter-database-down.sh
TESTS += t/0585-milter-ux-cert-expiry.sh
EXTRA_DIST += t/0585-milter-ux-cert-expiry.sh

# The page as installed: this build's folders in place of the tokens
# (MAN_SUBST, Makefile.am).
EXTRA_DIST += milter/tandem-milter.8
man_MANS += man/tandem-milter.8
CLEANFILES += man/tandem-milter.8
man/tandem-milter.8: $(srcdir)/milter/tandem-milter.8 Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(MAN_SUBST) $(srcdir)/milter/tandem-milter.8 >$@-t && mv $@-t $@
EXTRA_DIST += contrib/postfix/README contrib/postfix/main.cf.snippet \
	contrib/postfix/master.cf.snippet contrib/postfix/vmailbox \
	contrib/sendmail/README contrib/sendmail/tandem.mc
TESTS += t/0540-milter-miltertest.sh
EXTRA_DIST += t/0540-milter-miltertest.sh t/milter-content.lua
TESTS += t/0560-milter-hostile-content.sh
EXTRA_DIST += t/0560-milter-hostile-content.sh
TESTS += t/0565-milter-hostile-privileges.sh
EXTRA_DIST += t/0565-milter-hostile-privileges.sh
TESTS += t/0575-milter-ux-startup.sh
EXTRA_DIST += t/0575-milter-ux-startup.sh
TESTS += t/0578-milter-revoked-cert.sh
EXTRA_DIST += t/0578-milter-revoked-cert.sh

TESTS += t/0750-fgfed-direct.sh
TESTS += t/0760-fgfed-release-domain.sh
TESTS += t/0765-fgfed-peer-rate.sh
EXTRA_DIST += t/0750-fgfed-direct.sh t/0755-fgfed-transfer.sh
EXTRA_DIST += t/0760-fgfed-release-domain.sh t/0765-fgfed-peer-rate.sh \
	t/lib-fgfed.sh
