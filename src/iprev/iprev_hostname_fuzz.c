/*
 * Fuzz target: the host name check applied to PTR targets from DNS (any
 * bytes a remote zone can publish). Whatever passes must be letters,
 * digits, hyphens and dots in at least two labels of 1..63 octets, within
 * 253 octets.
 */
#include <stddef.h>
#include <stdint.h>

#include "iprev/iprev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t i, label = 0, labels = 1;

	if (!iprev_valid_hostname(p, size))
		return 0;
	if (size > 253)
		__builtin_trap();
	for (i = 0; i < size; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0 || p[i - 1] == '-')
				__builtin_trap();
			labels++;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			__builtin_trap();
		if (c == '-' && label == 0)
			__builtin_trap();
		if (++label > 63)
			__builtin_trap();
	}
	if (labels < 2 || label == 0 || p[size - 1] == '-')
		__builtin_trap();
	return 0;
}
