/* pki.c: to be written. */
#include "tandem.h"
