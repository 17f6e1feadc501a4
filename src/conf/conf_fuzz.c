/* Fuzz target: any bytes as a configuration file; a config or an error. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct config *c;

	c = conf_parse("fuzz.conf", (const char *)data, size, err, sizeof err);
	if (c) {
		conf_find_domain(c, (const char *)data, size < 64 ? size : 64);
		conf_free(c);
	} else if (memchr(err, '\0', sizeof err) == NULL) {
		__builtin_trap();
	}
	return 0;
}
