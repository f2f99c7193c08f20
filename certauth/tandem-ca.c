/* tandem-ca: to be written. */
#include <stdio.h>
#include <sysexits.h>

int
main(void)
{
	fprintf(stderr, "tandem-ca: not built yet\n");
	return EX_SOFTWARE;
}
