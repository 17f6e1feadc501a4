/*
 * Fuzz target: header canonicalisation of one field, and the streaming
 * body canonicaliser, which must give the same bytes whether the input
 * comes whole or cut at a point taken from the input itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "dkim/dkim_int.h"

static void
emit(void *arg, const char *p, size_t len)
{
	buf_add(arg, p, len);
}

static void
body(enum dkim_canon c, const char *p, size_t len, size_t cut,
    struct buf *out)
{
	struct dkim_bodycanon b;

	dkim_body_init(&b, c, emit, out);
	dkim_body_feed(&b, p, cut);
	dkim_body_feed(&b, p + cut, len - cut);
	dkim_body_finish(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char *out = xmalloc(size + 2);
	size_t n, cut = size ? data[0] % (size + 1) : 0;
	int c;

	for (c = DKIM_C_SIMPLE; c <= DKIM_C_RELAXED; c++) {
		struct buf whole = { 0 }, split = { 0 };

		n = dkim_canon_header((enum dkim_canon)c, p, size, out);
		if (n > size + 2)
			abort();
		body((enum dkim_canon)c, p, size, size, &whole);
		body((enum dkim_canon)c, p, size, cut, &split);
		if (whole.len != split.len || (whole.len &&
		    memcmp(whole.p, split.p, whole.len) != 0))
			abort();
		/* Canonical bodies end in CRLF, or are empty (relaxed). */
		if (whole.len && (whole.len < 2 ||
		    memcmp(whole.p + whole.len - 2, "\r\n", 2) != 0))
			abort();
		if (c == DKIM_C_SIMPLE && whole.len == 0)
			abort();
		buf_free(&whole);
		buf_free(&split);
	}
	free(out);
	return 0;
}
