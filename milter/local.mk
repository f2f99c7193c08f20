# tandem-milter: the foreground element, a milter beside the MTA.

# Unit tests of lib/tmail.c and the sign/envelope parts of lib/cms.c.
check_PROGRAMS += t/unit/tmail-test
t_unit_tmail_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_tmail_test_SOURCES = t/unit/tmail-test.c t/unit/tap.h
t_unit_tmail_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/tmail-test
