/*
 * Fuzz target: header canonicalisation of one field, and the streaming
 * body canonicaliser, which must give the same bytes whether the input
 * comes whole or cut at a point taken from the input itself, and the same
 * bytes as a plain reference implementation of RFC 6376 3.4.3/3.4.4.
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

/*
 * RFC 6376 3.4.3 and 3.4.4 the plain way, over the whole body at once: a
 * reference for the streaming canonicaliser and its vector scan.
 */
static void
reference(enum dkim_canon c, const char *p, size_t len, struct buf *out)
{
	size_t i = 0, keep = 0;

	while (i < len) {
		size_t start = i, end, before = out->len;
		bool sp = false;

		while (i < len && !(p[i] == '\r' && i + 1 < len &&
		    p[i + 1] == '\n'))
			i++;
		end = i;
		i = i < len ? i + 2 : len;
		for (; start < end; start++) {
			char ch = p[start];

			if (c == DKIM_C_RELAXED && (ch == ' ' || ch == '\t')) {
				sp = true;
				continue;
			}
			if (sp)
				buf_addc(out, ' ');
			sp = false;
			buf_addc(out, ch);
		}
		buf_add(out, "\r\n", 2);
		/* Empty lines count only when a later line has content. */
		if (out->len - before > 2)
			keep = out->len;
	}
	out->len = keep;
	if (c == DKIM_C_SIMPLE && out->len == 0)
		buf_add(out, "\r\n", 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char *out = xmalloc(size + 2);
	size_t n, cut = size ? data[0] % (size + 1) : 0;
	int c;

	for (c = DKIM_C_SIMPLE; c <= DKIM_C_RELAXED; c++) {
		struct buf whole = { 0 }, split = { 0 }, ref = { 0 };

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
		reference((enum dkim_canon)c, p, size, &ref);
		if (whole.len != ref.len || (ref.len &&
		    memcmp(whole.p, ref.p, ref.len) != 0))
			abort();
		buf_free(&whole);
		buf_free(&split);
		buf_free(&ref);
	}
	free(out);
	return 0;
}
