/*
 * Fuzz target: the DATA reader. The input is fed whole and again in pieces
 * cut at the first byte's value; both runs must agree exactly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
run(const char *in, size_t len, size_t step, char *body, struct smtp_data *d)
{
	size_t off = 0, blen = 0;

	smtp_data_init(d);
	while (off < len && d->state != SMTP_DATA_END) {
		size_t n = len - off < step ? len - off : step, olen, used;

		used = smtp_data_feed(d, in + off, n, body + blen, &olen);
		if (olen > n + 1 || used > n)
			__builtin_trap();
		blen += olen;
		off += used;
		if (used < n)
			break;
	}
	return blen;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data d1, d2;
	size_t step = size ? (size_t)data[0] % 17 + 1 : 1, b1, b2;
	char *o1 = malloc(size + 1), *o2 = malloc(size + 1);

	b1 = run((const char *)data, size, size ? size : 1, o1, &d1);
	b2 = run((const char *)data, size, step, o2, &d2);
	if (b1 != b2 || d1.state != d2.state || d1.bad != d2.bad ||
	    memcmp(o1, o2, b1) != 0 || d1.size != b1)
		__builtin_trap();
	free(o1);
	free(o2);
	return 0;
}
