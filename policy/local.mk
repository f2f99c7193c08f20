# tandem-policyd: the background element, an HTTPS policy daemon.
sbin_PROGRAMS += policy/tandem-policyd
policy_tandem_policyd_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(PQ_CFLAGS) \
	$(EVENT_CFLAGS)
# All but its main(), also linked by bench/armlimit (bench/local.mk).
POLICYD_SOURCES = \
	policy/bgfed.c \
	policy/http.c \
	policy/httpd.c \
	policy/httpd.h \
	policy/listen.c \
	policy/load.c \
	policy/metrics.c \
	policy/outbox.c \
	policy/policyd.h \
	policy/rekey.c \
	policy/revoke.c \
	policy/send.c \
	policy/store.c \
	policy/workers.c
policy_tandem_policyd_SOURCES = policy/policyd.c $(POLICYD_SOURCES)
policy_tandem_policyd_LDADD = $(TANDEM_LIBS) $(PQ_LIBS) $(EVENT_LIBS)
# The page as installed: this build's folders in place of the tokens
# (MAN_SUBST, Makefile.am).
EXTRA_DIST += policy/tandem-policyd.8
man_MANS += man/tandem-policyd.8
CLEANFILES += man/tandem-policyd.8
man/tandem-policyd.8: $(srcdir)/policy/tandem-policyd.8 Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(MAN_SUBST) $(srcdir)/policy/tandem-policyd.8 >$@-t && mv $@-t $@

# Scenarios on a real courier: PKI, replicated clusters, the daemon.
POLICY_SCENARIOS = \
	t/0550-policyd-arm.sh \
	t/0551-policyd-refusals.sh \
	t/0552-policyd-hold-release.sh \
	t/0553-policyd-hostile-agent-cert.sh \
	t/0554-policyd-workers.sh \
	t/0555-policyd-hostile-names.sh \
	t/0556-policyd-revoke.sh \
	t/0557-policyd-rekey.sh \
	t/0558-policyd-transfer.sh \
	t/0559-policyd-many-clients.sh \
	t/0570-policyd-hostile-url.sh \
	t/0576-policyd-ux-startup.sh \
	t/0577-policyd-revoked-cert.sh \
	t/0579-policyd-crl-fetch.sh
TESTS += $(POLICY_SCENARIOS)
EXTRA_DIST += $(POLICY_SCENARIOS) t/lib-policyd.sh t/policyd-slow-clients.py

# Several couriers' backgrounds, BG to BG (doc/federation.md).
BGFED_SCENARIOS = \
	t/0700-bgfed-introduced.sh \
	t/0710-bgfed-deferral.sh \
	t/0715-bgfed-hop-one.sh \
	t/0720-bgfed-refusals.sh \
	t/0725-bgfed-refusal-told.sh \
	t/0730-bgfed-invitation-reject.sh \
	t/0735-bgfed-domain-release.sh \
	t/0740-bgfed-gateway.sh \
	t/0745-bgfed-revoke.sh
TESTS += $(BGFED_SCENARIOS)
EXTRA_DIST += $(BGFED_SCENARIOS) t/lib-bgfed.sh
