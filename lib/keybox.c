/* keybox.c: to be written. */
#include "tandem.h"
