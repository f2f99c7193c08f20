# bench: the milter throughput benchmark (run by hand, as root; never
# part of "make check"). Its two helper programs are built on demand:
# "make bench/nullmilter bench/tmload" (bench/milter-throughput does it).
EXTRA_PROGRAMS = bench/nullmilter bench/tmload
CLEANFILES += $(EXTRA_PROGRAMS)

bench_nullmilter_CFLAGS = $(AM_CFLAGS) $(MILTER_CFLAGS) -pthread
bench_nullmilter_SOURCES = bench/nullmilter.c
bench_nullmilter_LDADD = $(MILTER_LIBS) -lpthread

bench_tmload_CFLAGS = $(AM_CFLAGS) -pthread
bench_tmload_SOURCES = bench/tmload.c
bench_tmload_LDADD = -lpthread

EXTRA_DIST += bench/milter-throughput doc/performance.md

# tmprep links libtandem: the same seal, wrap and compose as the agent.
EXTRA_PROGRAMS += bench/tmprep
bench_tmprep_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS)
bench_tmprep_SOURCES = bench/tmprep.c
bench_tmprep_LDADD = $(TANDEM_LIBS)

# The federation bench: three live couriers (t/lib-federation.sh).
EXTRA_DIST += bench/federation
