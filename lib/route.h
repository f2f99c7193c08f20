/* route.h: to be written. */
#ifndef TANDEM_ROUTE_H
#define TANDEM_ROUTE_H
#endif
