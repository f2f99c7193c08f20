# Unit tests of lib/route.c and lib/conf.c; the tandem.conf(5) page; Postfix harness scenarios.
