# Unit tests of lib/proto.c and lib/arm.c.
check_PROGRAMS += t/unit/arm-test t/unit/proto-test
t_unit_arm_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_arm_test_SOURCES = t/unit/arm-test.c t/unit/tap.h
t_unit_arm_test_LDADD = $(UNIT_LIBS)
t_unit_proto_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_proto_test_SOURCES = t/unit/proto-test.c t/unit/tap.h
t_unit_proto_test_LDADD = $(UNIT_LIBS)

TESTS += t/unit/arm-test t/unit/proto-test

# Unit tests of lib/intro.c.
check_PROGRAMS += t/unit/intro-test
t_unit_intro_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_intro_test_SOURCES = t/unit/intro-test.c t/unit/tap.h
t_unit_intro_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/intro-test
