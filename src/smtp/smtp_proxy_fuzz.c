/* Fuzz target: the PROXY v1/v2 header parser. */
#include <stddef.h>
#include <stdint.h>

#include "smtp/smtp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	size_t used = 0;

	if (smtp_proxy_parse((const char *)data, size, &ss, &sl, &used) == 0 &&
	    (used == 0 || used > size || sl > sizeof ss))
		__builtin_trap();
	return 0;
}
