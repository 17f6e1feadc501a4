/*
 * libFuzzer target: the forged Authentication-Results filter. The input is
 * cut where its first byte says; whatever the cut, the filter must give the
 * same output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
collect(void *arg, const char *p, size_t len)
{
	buf_add(arg, p, len);
}

static void
run(const char *p, size_t len, size_t step, struct buf *out)
{
	struct smtp_hdr_filter f;
	size_t i;

	smtp_hdr_filter_init(&f, "mx.example.test", collect, out);
	for (i = 0; i < len; i += step)
		smtp_hdr_filter_feed(&f, p + i, len - i < step ? len - i :
		    step);
	smtp_hdr_filter_finish(&f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole = { 0 }, cut = { 0 };
	size_t step;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	run((const char *)data + 1, size - 1, size, &whole);
	run((const char *)data + 1, size - 1, step, &cut);
	if (whole.len != cut.len || (whole.len &&
	    memcmp(whole.p, cut.p, whole.len) != 0))
		abort();
	buf_free(&whole);
	buf_free(&cut);
	return 0;
}
