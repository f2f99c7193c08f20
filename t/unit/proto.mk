# Unit tests of lib/proto.c and lib/arm.c.
