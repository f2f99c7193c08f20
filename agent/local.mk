# tandem: the user's agent.
bin_PROGRAMS += agent/tandem
agent_tandem_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(SQLITE_CFLAGS) \
	$(CURL_CFLAGS)
agent_tandem_SOURCES = \
	agent/agent.h \
	agent/deliver.c \
	agent/fetch.c \
	agent/forward.c \
	agent/init.c \
	agent/mail.c \
	agent/net.c \
	agent/passwd.c \
	agent/read.c \
	agent/rekey.c \
	agent/restrict.c \
	agent/register.c \
	agent/reglink.c \
	agent/reject.c \
	agent/revoke.c \
	agent/seal.c \
	agent/send.c \
	agent/sendmail.c \
	agent/status.c \
	agent/store.c \
	agent/tandem.c \
	agent/vault.c
agent_tandem_LDADD = $(TANDEM_LIBS) $(SQLITE_LIBS) $(CURL_LIBS)
# The page as installed: this build's folders in place of the tokens
# (MAN_SUBST, Makefile.am).
EXTRA_DIST += agent/tandem.1
man_MANS += man/tandem.1
CLEANFILES += man/tandem.1
man/tandem.1: $(srcdir)/agent/tandem.1 Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(MAN_SUBST) $(srcdir)/agent/tandem.1 >$@-t && mv $@-t $@

# Unit tests of lib/cms.c.
check_PROGRAMS += t/unit/cms-test
t_unit_cms_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_cms_test_SOURCES = t/unit/cms-test.c t/unit/tap.h
t_unit_cms_test_LDADD = $(UNIT_LIBS)
TESTS += t/unit/cms-test

TESTS += t/0200-agent-seal-open.sh
EXTRA_DIST += t/0200-agent-seal-open.sh
TESTS += t/0205-agent-hostile-nesting.sh
EXTRA_DIST += t/0205-agent-hostile-nesting.sh

TESTS += t/0207-agent-ux-password.sh
EXTRA_DIST += t/0207-agent-ux-password.sh t/pty-run.py
TESTS += t/0208-agent-store-at-rest.sh
EXTRA_DIST += t/0208-agent-store-at-rest.sh
TESTS += t/0250-agent-register.sh
EXTRA_DIST += t/0250-agent-register.sh t/lib-agent.sh
TESTS += t/0260-agent-read.sh
EXTRA_DIST += t/0260-agent-read.sh
TESTS += t/0262-agent-ux-read.sh
EXTRA_DIST += t/0262-agent-ux-read.sh
TESTS += t/0265-agent-hostile-maildir.sh
EXTRA_DIST += t/0265-agent-hostile-maildir.sh
TESTS += t/0266-agent-hostile-signer.sh
EXTRA_DIST += t/0266-agent-hostile-signer.sh
TESTS += t/0270-agent-send-fetch.sh
EXTRA_DIST += t/0270-agent-send-fetch.sh t/agent-bg-stub.py
TESTS += t/0274-agent-mail-client.sh
EXTRA_DIST += t/0274-agent-mail-client.sh
TESTS += t/0278-agent-rekey.sh
EXTRA_DIST += t/0278-agent-rekey.sh
TESTS += t/0272-agent-ux-settings.sh
EXTRA_DIST += t/0272-agent-ux-settings.sh
TESTS += t/0275-agent-status.sh
EXTRA_DIST += t/0275-agent-status.sh
TESTS += t/0276-agent-submission-auth.sh
EXTRA_DIST += t/0276-agent-submission-auth.sh
TESTS += t/0290-agent-hostile-tls.sh
EXTRA_DIST += t/0290-agent-hostile-tls.sh
