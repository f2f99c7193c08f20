/* tandem: to be written. */
#include <stdio.h>
#include <sysexits.h>

int
main(void)
{
	fprintf(stderr, "tandem: not built yet\n");
	return EX_SOFTWARE;
}
