# Numbered migrations, applied by "tandemctl db migrate".
sqlfgdir = $(pkgdatadir)/sql/fg
sqlbgdir = $(pkgdatadir)/sql/bg
dist_sqlfg_DATA = \
	sql/fg/001-schema.sql \
	sql/fg/002-helpdesk.sql \
	sql/fg/003-federation.sql \
	sql/fg/004-courier-claims.sql \
	sql/fg/005-helpdesk-history.sql \
	sql/fg/006-rekey.sql \
	sql/fg/007-transfer.sql \
	sql/fg/008-held-origin.sql \
	sql/fg/009-transfer-ca.sql \
	sql/fg/010-transfer-notice.sql \
	sql/fg/011-invitation-inviter.sql \
	sql/fg/012-account-notify.sql \
	sql/fg/013-invitation-decline.sql
dist_sqlbg_DATA = \
	sql/bg/001-schema.sql \
	sql/bg/002-helpdesk.sql \
	sql/bg/003-mailbox-expiry.sql \
	sql/bg/004-federation.sql \
	sql/bg/005-courier-claims.sql \
	sql/bg/006-agent-pins.sql \
	sql/bg/007-outbox-sender.sql \
	sql/bg/008-helpdesk-history.sql \
	sql/bg/009-revocation.sql \
	sql/bg/010-rekey.sql \
	sql/bg/011-transfer.sql \
	sql/bg/012-transfer-release.sql \
	sql/bg/013-transfer-pins.sql \
	sql/bg/014-account-close.sql \
	sql/bg/015-invitation-decline.sql

# The schema version each daemon needs: the newest migration listed
# above, taken here so that adding one moves it (lib/db.c).
BUILT_SOURCES += lib/schema.h
CLEANFILES += lib/schema.h
lib/schema.h: $(srcdir)/sql/local.mk
	$(AM_V_GEN)$(MKDIR_P) lib && \
	fg=`for f in $(dist_sqlfg_DATA); do echo $$f; done | \
	    sed 's|.*/||' | sort | tail -n 1 | cut -c 1-3` && \
	bg=`for f in $(dist_sqlbg_DATA); do echo $$f; done | \
	    sed 's|.*/||' | sort | tail -n 1 | cut -c 1-3` && \
	{ echo '/* Generated from sql/local.mk: the newest migrations. */'; \
	  echo "#define DB_SCHEMA_FG `expr $$fg + 0`"; \
	  echo "#define DB_SCHEMA_BG `expr $$bg + 0`"; } >$@-t && mv $@-t $@

# Scenarios on real clusters.
DB_SCENARIOS = \
	t/0300-db-migrate.sh \
	t/0310-db-replication.sh \
	t/0320-ctl-intro.sh \
	t/0325-ctl-transfer.sh \
	t/0326-ctl-crl-fetch.sh \
	t/0340-db-hostile-decode.sh \
	t/0350-db-ux-schema-check.sh \
	t/0355-db-ux-helpdesk.sh \
	t/0357-helpdesk-recipes.sh \
	t/0360-ctl-ux-man-paths.sh
TESTS += $(DB_SCENARIOS)
EXTRA_DIST += $(DB_SCENARIOS)
