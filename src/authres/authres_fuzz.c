/* libFuzzer target: the forged Authentication-Results recogniser. */
#include <stddef.h>
#include <stdint.h>

#include "authres/authres.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	authres_is_forged((const char *)data, size, "mx.example.test");
	return 0;
}
