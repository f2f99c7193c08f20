# Test harness. Unit tests are C programs printing TAP; scenarios are
# t/NNNN-area-topic.sh scripts sourcing t/test-lib.sh. Each area's
# local.mk may add its own to TESTS; the shared ones are here.
UNIT_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) -I$(top_srcdir)/t/unit
UNIT_LIBS = $(TANDEM_LIBS)

check_PROGRAMS += t/unit/util-test
t_unit_util_test_CFLAGS = $(UNIT_CFLAGS)
t_unit_util_test_SOURCES = t/unit/util-test.c t/unit/tap.h
t_unit_util_test_LDADD = $(UNIT_LIBS)

TESTS += t/unit/util-test
TESTS += t/0365-install-units.sh

SH_LOG_COMPILER = $(SHELL)
EXTRA_DIST += t/lsan.supp t/test-lib.sh t/lib-pg.sh t/lib-postfix.sh

# end to end
TESTS += t/0600-e2e-registration.sh t/0605-e2e-ux-invitation.sh t/0606-e2e-register-link.sh t/0607-e2e-restrict-agent.sh t/0610-e2e-private.sh t/0620-e2e-held.sh \
	t/0625-e2e-invitation-limit.sh t/0626-e2e-invite-never.sh t/0630-e2e-expiry.sh t/0636-e2e-revocation.sh t/0637-e2e-close-account.sh t/0640-e2e-ordinary.sh t/0650-e2e-split-trust.sh \
	t/0660-e2e-faults.sh t/0670-e2e-hygiene.sh t/0690-courier-harness.sh
EXTRA_DIST += t/lib-courier.sh t/keybox-open.py t/0600-e2e-registration.sh \
	t/0605-e2e-ux-invitation.sh t/0606-e2e-register-link.sh t/0607-e2e-restrict-agent.sh \
	t/0610-e2e-private.sh t/0620-e2e-held.sh t/0625-e2e-invitation-limit.sh \
	t/0626-e2e-invite-never.sh \
	t/0630-e2e-expiry.sh t/0636-e2e-revocation.sh t/0637-e2e-close-account.sh \
	t/0640-e2e-ordinary.sh t/0650-e2e-split-trust.sh \
	t/0660-e2e-faults.sh t/0670-e2e-hygiene.sh t/0690-courier-harness.sh

# federation
TESTS += t/0280-agent-invitation-reject.sh
EXTRA_DIST += t/0280-agent-invitation-reject.sh
TESTS += t/0285-agent-hostile-invite.sh
EXTRA_DIST += t/0285-agent-hostile-invite.sh
EXTRA_DIST += t/lib-federation.sh t/0890-federation-harness.sh
TESTS += t/0800-fed-introduced.sh t/0608-e2e-restrict-two-couriers.sh
EXTRA_DIST += t/0800-fed-introduced.sh t/0608-e2e-restrict-two-couriers.sh
TESTS += t/0820-fed-invitation-reject.sh t/0850-fed-bg-down.sh
EXTRA_DIST += t/0820-fed-invitation-reject.sh t/0850-fed-bg-down.sh
TESTS += t/0826-fed-invitation-abuse.sh
EXTRA_DIST += t/0826-fed-invitation-abuse.sh
TESTS += t/0810-fed-deferral.sh
EXTRA_DIST += t/0810-fed-deferral.sh
EXTRA_DIST += t/0815-fed-two-superiors.sh t/0840-fed-refusals.sh
EXTRA_DIST += t/0830-fed-gateway.sh
EXTRA_DIST += contrib/sandbox/federation.sh
TESTS += t/0845-fed-revoked-courier.sh
EXTRA_DIST += t/0845-fed-revoked-courier.sh
TESTS += t/0860-fed-relearn.sh
EXTRA_DIST += t/0860-fed-relearn.sh
TESTS += t/0865-fed-multi-courier.sh
EXTRA_DIST += t/0865-fed-multi-courier.sh
EXTRA_DIST += t/0895-demo.sh
TESTS += t/0870-fed-hostile-claims.sh
EXTRA_DIST += t/lib-hostile.sh t/0870-fed-hostile-claims.sh
TESTS += t/0875-fed-hostile-identity.sh
EXTRA_DIST += t/0875-fed-hostile-identity.sh
TESTS += t/0880-fed-hostile-origin.sh
EXTRA_DIST += t/0880-fed-hostile-origin.sh
EXTRA_DIST += t/0885-fed-transfer-rekey.sh

# The federation engine (lib/fed.c) on real databases, both elements:
# fed-test needs them, so t/0330-fed-engine.sh makes them and runs it.
check_PROGRAMS += t/unit/fed-test
t_unit_fed_test_CFLAGS = $(UNIT_CFLAGS) $(PQ_CFLAGS)
t_unit_fed_test_SOURCES = t/unit/fed-test.c t/unit/tap.h
t_unit_fed_test_LDADD = $(UNIT_LIBS) $(PQ_LIBS)
TESTS += t/0330-fed-engine.sh
EXTRA_DIST += t/0330-fed-engine.sh

# The cluster t/lib-pg.sh makes once and copies for each scenario.
clean-local: clean-pg-template
clean-pg-template:
	-rm -rf t/pg-template-*
.PHONY: clean-pg-template

# backup and restore (doc/install.md, "Backup and restore")
TESTS += t/0695-e2e-backup-restore.sh
EXTRA_DIST += t/0695-e2e-backup-restore.sh
