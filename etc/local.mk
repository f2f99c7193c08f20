# What an administrator installs beside the programs (doc/install.md):
# one commented tandem.conf per element, as examples in the
# documentation folder (never into sysconfdir, where make install would
# meet the administrator's own tandem.conf), the systemd units of the
# two daemons and the tmpfiles.d entry of the milter's socket folder.
# They name the configured folders through ETC_SUBST, as the man pages
# do (MAN_SUBST, Makefile.am). Packagers set systemdunitdir and
# tmpfilesdir on the make command line (systemdunitdir=/lib/systemd/system);
# the defaults lie under prefix, where systemd looks as well
# (/usr/local/lib/systemd/system, /usr/local/lib/tmpfiles.d).
examplesdir = $(docdir)/examples
systemdunitdir = $(prefix)/lib/systemd/system
tmpfilesdir = $(prefix)/lib/tmpfiles.d

examples_DATA = etc/examples/tandem-milter.conf \
	etc/examples/tandem-policyd.conf \
	etc/examples/tandem-agent.conf
systemdunit_DATA = etc/systemd/tandem-milter.service \
	etc/systemd/tandem-policyd.service
tmpfiles_DATA = etc/tmpfiles.d/tandem-milter.conf
CLEANFILES += $(examples_DATA) $(systemdunit_DATA) $(tmpfiles_DATA)
EXTRA_DIST += etc/tandem-milter.conf.in etc/tandem-policyd.conf.in \
	etc/tandem-agent.conf.in etc/tandem-milter.service.in \
	etc/tandem-policyd.service.in etc/tandem-milter.tmpfiles.in \
	t/0365-install-units.sh

ETC_SUBST = sed -e 's|@TANDEM_SYSCONFDIR@|$(sysconfdir)/tandem|g' \
	-e 's|@TANDEM_SBINDIR@|$(sbindir)|g'
ETC_GEN = $(AM_V_GEN)$(MKDIR_P) `dirname $@` && $(ETC_SUBST)

etc/examples/tandem-milter.conf: $(srcdir)/etc/tandem-milter.conf.in Makefile
	$(ETC_GEN) $(srcdir)/etc/tandem-milter.conf.in >$@-t && mv $@-t $@
etc/examples/tandem-policyd.conf: $(srcdir)/etc/tandem-policyd.conf.in Makefile
	$(ETC_GEN) $(srcdir)/etc/tandem-policyd.conf.in >$@-t && mv $@-t $@
etc/examples/tandem-agent.conf: $(srcdir)/etc/tandem-agent.conf.in Makefile
	$(ETC_GEN) $(srcdir)/etc/tandem-agent.conf.in >$@-t && mv $@-t $@
etc/systemd/tandem-milter.service: $(srcdir)/etc/tandem-milter.service.in Makefile
	$(ETC_GEN) $(srcdir)/etc/tandem-milter.service.in >$@-t && mv $@-t $@
etc/systemd/tandem-policyd.service: $(srcdir)/etc/tandem-policyd.service.in Makefile
	$(ETC_GEN) $(srcdir)/etc/tandem-policyd.service.in >$@-t && mv $@-t $@
etc/tmpfiles.d/tandem-milter.conf: $(srcdir)/etc/tandem-milter.tmpfiles.in Makefile
	$(ETC_GEN) $(srcdir)/etc/tandem-milter.tmpfiles.in >$@-t && mv $@-t $@
EXTRA_DIST += doc/install.md
