/* conf.h: to be written. */
#ifndef TANDEM_CONF_H
#define TANDEM_CONF_H
#endif
