/* tandemctl: to be written. */
#include <stdio.h>
#include <sysexits.h>

int
main(void)
{
	fprintf(stderr, "tandemctl: not built yet\n");
	return EX_SOFTWARE;
}
