# tandem: the user's agent.
bin_PROGRAMS += agent/tandem
agent_tandem_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS) $(SQLITE_CFLAGS)
agent_tandem_SOURCES = agent/tandem.c
agent_tandem_LDADD = $(TANDEM_LIBS) $(SQLITE_LIBS)
dist_man_MANS += agent/tandem.1
