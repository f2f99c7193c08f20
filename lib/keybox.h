/* keybox.h: to be written. */
#ifndef TANDEM_KEYBOX_H
#define TANDEM_KEYBOX_H
#endif
