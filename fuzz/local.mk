# fuzz: libFuzzer targets (bench/fuzz builds them with clang) and,
# in the normal build, t/unit/fuzz-replay, which runs the same targets
# on fuzz/regress and the corpora (t/0095-fuzz-regress.sh).
check_PROGRAMS += t/unit/fuzz-replay
t_unit_fuzz_replay_CFLAGS = $(UNIT_CFLAGS) $(PQ_CFLAGS) $(EVENT_CFLAGS) \
	-DFUZZ_REPLAY -I$(top_srcdir)/fuzz -I$(top_srcdir)/policy
t_unit_fuzz_replay_SOURCES = \
	fuzz/fuzz-agent.c \
	fuzz/fuzz-arm.c \
	fuzz/fuzz-cms.c \
	fuzz/fuzz-conf.c \
	fuzz/fuzz-httpd.c \
	fuzz/fuzz-intro.c \
	fuzz/fuzz-pki.c \
	fuzz/fuzz-proto.c \
	fuzz/fuzz-tmail.c \
	fuzz/fuzz.h \
	policy/httpd.c \
	policy/httpd.h \
	t/unit/fuzz-replay.c
t_unit_fuzz_replay_LDADD = $(UNIT_LIBS) $(PQ_LIBS) $(EVENT_LIBS)
TESTS += t/0095-fuzz-regress.sh
EXTRA_DIST += t/0095-fuzz-regress.sh bench/fuzz doc/fuzzing.md \
	fuzz/mkseeds.c fuzz/pki fuzz/corpus fuzz/regress
