# bench: the milter throughput benchmark (run by hand, as root; never
# part of "make check"). Its two helper programs are built on demand:
# "make bench/nullmilter bench/tmload" (bench/milter-throughput does it).
EXTRA_PROGRAMS = bench/nullmilter bench/tmload
CLEANFILES += $(EXTRA_PROGRAMS)

bench_nullmilter_CFLAGS = $(AM_CFLAGS) $(MILTER_CFLAGS) -pthread
bench_nullmilter_SOURCES = bench/nullmilter.c
bench_nullmilter_LDADD = $(MILTER_LIBS) -lpthread

bench_tmload_CFLAGS = $(AM_CFLAGS) -pthread
bench_tmload_SOURCES = \
	bench/bench.c \
	bench/bench.h \
	bench/tmload.c
bench_tmload_LDADD = -lpthread

EXTRA_DIST += bench/milter-throughput doc/performance.md

# tmprep links libtandem: the same seal, wrap and compose as the agent.
# Its arguments, loop and files are bench/prep.c's, shared with armprep.
EXTRA_PROGRAMS += bench/tmprep
bench_tmprep_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS)
bench_tmprep_SOURCES = \
	bench/bench.c \
	bench/bench.h \
	bench/prep.c \
	bench/prep.h \
	bench/tmprep.c
bench_tmprep_LDADD = $(TANDEM_LIBS)

# The federation bench: three live couriers (t/lib-federation.sh).
EXTRA_DIST += bench/federation

# The policyd throughput bench (bench/policyd-throughput; run by hand, as
# root): armprep writes wrapped ARMs as an agent does, armload POSTs them
# over keep-alive HTTPS, armlimit calls store_arm() in a loop without
# HTTP or TLS. Built on demand, as the helpers above.
EXTRA_PROGRAMS += bench/armprep bench/armload bench/armlimit
EXTRA_DIST += bench/policyd-throughput

bench_armprep_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS)
bench_armprep_SOURCES = \
	bench/armprep.c \
	bench/bench.c \
	bench/bench.h \
	bench/prep.c \
	bench/prep.h
bench_armprep_LDADD = $(TANDEM_LIBS)

bench_armload_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) -pthread
bench_armload_SOURCES = \
	bench/armload.c \
	bench/armset.c \
	bench/armset.h \
	bench/bench.c \
	bench/bench.h
bench_armload_LDADD = $(TANDEM_LIBS) -lpthread

# The daemon's own sources but policy/policyd.c, which holds its main()
# (POLICYD_SOURCES, policy/local.mk).
bench_armlimit_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(PQ_CFLAGS) \
	$(EVENT_CFLAGS) -I$(top_srcdir)/policy
bench_armlimit_SOURCES = \
	bench/armlimit.c \
	bench/armset.c \
	bench/armset.h \
	bench/bench.c \
	bench/bench.h \
	$(POLICYD_SOURCES)
bench_armlimit_LDADD = $(TANDEM_LIBS) $(PQ_LIBS) $(EVENT_LIBS)
