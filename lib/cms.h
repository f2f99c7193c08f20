/* cms.h: to be written. */
#ifndef TANDEM_CMS_H
#define TANDEM_CMS_H
#endif
