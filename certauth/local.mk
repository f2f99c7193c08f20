# tandem-ca: the certificate authority (operator's workstation).
bin_PROGRAMS += certauth/tandem-ca
certauth_tandem_ca_CFLAGS = $(AM_CFLAGS) $(TANDEM_CFLAGS)
certauth_tandem_ca_SOURCES = certauth/tandem-ca.c
certauth_tandem_ca_LDADD = $(TANDEM_LIBS)
dist_man_MANS += certauth/tandem-ca.1
