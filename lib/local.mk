# libtandem: all the logic; the programs are thin.
noinst_LIBRARIES += lib/libtandem.a
# libpq's headers only: db.o is linked only into the programs that
# call it, and they link $(PQ_LIBS) themselves.
lib_libtandem_a_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(PQ_CFLAGS)
lib_libtandem_a_SOURCES = \
	lib/arm.c \
	lib/arm.h \
	lib/cms.c \
	lib/cms.h \
	lib/conf.c \
	lib/conf.h \
	lib/counters.c \
	lib/counters.h \
	lib/crl.c \
	lib/crl.h \
	lib/crlfetch.c \
	lib/crlfetch.h \
	lib/db.c \
	lib/db.h \
	lib/fed.c \
	lib/fed.h \
	lib/intro.c \
	lib/intro.h \
	lib/keybox.c \
	lib/keybox.h \
	lib/log.c \
	lib/log.h \
	lib/mimeutil.h \
	lib/pki.c \
	lib/pki.h \
	lib/proto.c \
	lib/proto.h \
	lib/rate.c \
	lib/rate.h \
	lib/route.c \
	lib/route.h \
	lib/selfcheck.c \
	lib/selfcheck.h \
	lib/tandem.h \
	lib/tmail.c \
	lib/tmail.h \
	lib/util.c \
	lib/util.h
nodist_lib_libtandem_a_SOURCES = lib/schema.h
