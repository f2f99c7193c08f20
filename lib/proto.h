/* proto.h: to be written. */
#ifndef TANDEM_PROTO_H
#define TANDEM_PROTO_H
#endif
