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

# The policyd target needs a database: its replay is its own program,
# linked with the daemon's sources but its main(), which
# t/0096-fuzz-policyd.sh runs with a cluster behind it.
check_PROGRAMS += t/unit/fuzz-replay-policyd
t_unit_fuzz_replay_policyd_CFLAGS = $(UNIT_CFLAGS) $(PQ_CFLAGS) \
	$(EVENT_CFLAGS) -DFUZZ_REPLAY -DFUZZ_POLICYD -I$(top_srcdir)/fuzz \
	-I$(top_srcdir)/policy
t_unit_fuzz_replay_policyd_SOURCES = \
	fuzz/fuzz-pki.c \
	fuzz/fuzz-policyd.c \
	fuzz/fuzz.h \
	t/unit/fuzz-replay.c \
	$(POLICYD_SOURCES)
t_unit_fuzz_replay_policyd_LDADD = $(UNIT_LIBS) $(PQ_LIBS) $(EVENT_LIBS)
TESTS += t/0096-fuzz-policyd.sh

EXTRA_DIST += t/0095-fuzz-regress.sh t/0096-fuzz-policyd.sh bench/fuzz \
	doc/fuzzing.md \
	fuzz/mkseeds.c fuzz/pki fuzz/corpus fuzz/regress
