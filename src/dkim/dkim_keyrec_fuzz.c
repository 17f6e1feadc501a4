/*
 * Fuzz target: the key record parser (RFC 6376 3.6.1) over arbitrary
 * TXT data, as DNS hands it over.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dkim/dkim_int.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dkim_keyrec kr;
	const char *why = NULL;

	if (dkim_keyrec_parse((const char *)data, size, &kr, &why) == 0) {
		if (kr.plen > DKIM_KEY_MAX || (!kr.revoked && kr.plen == 0))
			abort();
	} else if (why == NULL) {
		abort();
	}
	return 0;
}
