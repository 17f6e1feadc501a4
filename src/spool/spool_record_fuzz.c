/*
 * Fuzzes the queued slot scanner and the DONE records after END: the bytes
 * of a slot come from disk, where a crash can leave anything.
 */
#include <stddef.h>
#include <stdint.h>

#include "spool/spool_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_file_info info;
	size_t end, count;

	if (spool_file_scan(data, size, &info) != 0 || !info.complete)
		return 0;
	end = spool_done_walk(data, size, &info, NULL, &count);
	if (end < info.end_off || end > size ||
	    end - info.end_off != count * (SPOOL_REC_HDR + SPOOL_DONE_LEN))
		__builtin_trap();
	return 0;
}
