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
	enum spool_rec_type type;
	struct span d;
	size_t off, idx;

	if (spool_file_scan(data, size, &info) != 0 || !info.complete)
		return 0;
	off = info.end_off;
	while (spool_file_next(data, size, &off, &type, &d) == 1)
		if (type != SPOOL_REC_DONE ||
		    spool_done_index(d, info.rcpt_count, info.nonce, &idx) < 0 ||
		    idx >= info.rcpt_count)
			break;
	return 0;
}
