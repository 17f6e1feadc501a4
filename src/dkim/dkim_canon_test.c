/*
 * Canonicalisation (RFC 6376 3.4): header fields, and the streaming body
 * canonicaliser fed whole, byte by byte and at every split point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "dkim/dkim_int.h"

static const struct {
	const char *in, *simple, *relaxed;
} hdr_cases[] = {
	/* RFC 6376 3.4.5 example. */
	{ "A: X\r\n", "A: X\r\n", "a:X\r\n" },
	{ "B : Y\t\r\n\tZ  \r\n", "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n" },
	{ "Subject:   lots   of\t \tspace \r\n",
	  "Subject:   lots   of\t \tspace \r\n", "subject:lots of space\r\n" },
	{ "X-Empty:\r\n", "X-Empty:\r\n", "x-empty:\r\n" },
	{ "X-Empty:  \r\n", "X-Empty:  \r\n", "x-empty:\r\n" },
	{ "To: a : b\r\n", "To: a : b\r\n", "to:a : b\r\n" },
	{ "FROM:\r\n x@y\r\n", "FROM:\r\n x@y\r\n", "from:x@y\r\n" },
	/* The DKIM-Signature field itself comes without its CRLF. */
	{ "DKIM-Signature: a=1;\r\n b=", "DKIM-Signature: a=1;\r\n b=",
	  "dkim-signature:a=1; b=\r\n" },
	/* 8-bit bytes pass through; only ASCII letters fold. */
	{ "X-\xc3\x84: \xc3\x84\r\n", "X-\xc3\x84: \xc3\x84\r\n",
	  "x-\xc3\x84:\xc3\x84\r\n" },
};

static void
test_header(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		char out[256];
		size_t len = strlen(hdr_cases[i].in), n;

		n = dkim_canon_header(DKIM_C_SIMPLE, hdr_cases[i].in, len,
		    out);
		assert_int_equal(n, strlen(hdr_cases[i].simple));
		assert_memory_equal(out, hdr_cases[i].simple, n);
		n = dkim_canon_header(DKIM_C_RELAXED, hdr_cases[i].in, len,
		    out);
		assert_true(n <= len + 2);
		out[n] = '\0';
		assert_string_equal(out, hdr_cases[i].relaxed);
	}
}

static const struct {
	const char *in, *simple, *relaxed;
} body_cases[] = {
	/* RFC 6376 3.4.5 example. */
	{ " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n", " C\r\nD E\r\n" },
	/* Empty body: simple is one CRLF, relaxed the empty string. */
	{ "", "\r\n", "" },
	{ "\r\n", "\r\n", "" },
	{ "\r\n\r\n\r\n", "\r\n", "" },
	/* Whitespace-only lines are empty lines for relaxed only. */
	{ "  \r\n\t\r\n", "  \r\n\t\r\n", "" },
	{ "x\r\n \r\n", "x\r\n \r\n", "x\r\n" },
	/* A missing final CRLF is added. */
	{ "abc", "abc\r\n", "abc\r\n" },
	{ "abc  ", "abc  \r\n", "abc\r\n" },
	{ "  x", "  x\r\n", " x\r\n" },
	/* Inner empty lines stay. */
	{ "a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n" },
	{ "\r\n\r\nx", "\r\n\r\nx\r\n", "\r\n\r\nx\r\n" },
	/* CR or LF alone is content, not a line end. */
	{ "a\rb\r\n", "a\rb\r\n", "a\rb\r\n" },
	{ "a \rb\r\n", "a \rb\r\n", "a \rb\r\n" },
	{ "a\nb\r\n", "a\nb\r\n", "a\nb\r\n" },
	{ "a\r", "a\r\r\n", "a\r\r\n" },
	{ "\r", "\r\r\n", "\r\r\n" },
	{ "a\r\r\n", "a\r\r\n", "a\r\r\n" },
	{ "a\t\r \r\n", "a\t\r \r\n", "a \r\r\n" },
	{ "one  two\t\tthree \r\n\r\n \r\n", "one  two\t\tthree \r\n\r\n \r\n",
	  "one two three\r\n" },
};

struct sink {
	char buf[512];
	size_t len;
};

static void
sink_emit(void *arg, const char *p, size_t len)
{
	struct sink *s = arg;

	assert_true(len <= sizeof(s->buf) - s->len);
	memcpy(s->buf + s->len, p, len);
	s->len += len;
}

/* Canonicalises in into s, fed in pieces cut at the given offsets. */
static void
run_body(enum dkim_canon c, const char *in, const size_t *cuts,
    size_t ncut, struct sink *s)
{
	struct dkim_bodycanon b;
	size_t len = strlen(in), at = 0, k;

	s->len = 0;
	dkim_body_init(&b, c, sink_emit, s);
	for (k = 0; k < ncut; k++) {
		dkim_body_feed(&b, in + at, cuts[k] - at);
		at = cuts[k];
	}
	dkim_body_feed(&b, in + at, len - at);
	dkim_body_finish(&b);
}

static void
check_body(enum dkim_canon c, const char *in, const char *want)
{
	size_t len = strlen(in), cuts[64], i, j;
	struct sink s;

	run_body(c, in, NULL, 0, &s);
	if (s.len != strlen(want) || memcmp(s.buf, want, s.len) != 0)
		fail_msg("%s body \"%s\": got \"%.*s\"", c == DKIM_C_SIMPLE ?
		    "simple" : "relaxed", in, (int)s.len, s.buf);
	/* Every single cut and every pair of cuts gives the same bytes. */
	for (i = 0; i <= len; i++)
		for (j = i; j <= len; j++) {
			cuts[0] = i;
			cuts[1] = j;
			run_body(c, in, cuts, 2, &s);
			assert_int_equal(s.len, strlen(want));
			assert_memory_equal(s.buf, want, s.len);
		}
	/* And one byte at a time. */
	for (i = 0; i < len && i < 64; i++)
		cuts[i] = i;
	if (len <= 64) {
		run_body(c, in, cuts, len, &s);
		assert_int_equal(s.len, strlen(want));
		assert_memory_equal(s.buf, want, s.len);
	}
}

static void
test_body(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		check_body(DKIM_C_SIMPLE, body_cases[i].in,
		    body_cases[i].simple);
		check_body(DKIM_C_RELAXED, body_cases[i].in,
		    body_cases[i].relaxed);
	}
}

struct counter {
	unsigned long long bytes;
	unsigned calls;
};

static void
count_emit(void *arg, const char *p, size_t len)
{
	struct counter *c = arg;

	(void)p;
	c->bytes += len;
	c->calls++;
}

/* A long run of trailing empty lines costs a counter, not memory, and
 * comes out in a few large writes once content proves it inner. */
static void
test_body_many_empty_lines(void **state)
{
	struct dkim_bodycanon b;
	struct counter c = { 0, 0 };
	unsigned i;

	(void)state;
	dkim_body_init(&b, DKIM_C_RELAXED, count_emit, &c);
	for (i = 0; i < 100000; i++)
		dkim_body_feed(&b, " \r\n", 3);
	assert_int_equal(c.bytes, 0);
	dkim_body_feed(&b, "x\r\n", 3);
	assert_int_equal(c.bytes, 2 * 100000 + 3);
	assert_true(c.calls < 100000 / 16);
	dkim_body_finish(&b);
	assert_int_equal(c.bytes, 2 * 100000 + 3);
}

/* RFC 6376 3.4.3/3.4.4 the plain way, line by line over the whole body. */
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
			if (c == DKIM_C_RELAXED &&
			    (p[start] == ' ' || p[start] == '\t')) {
				sp = true;
				continue;
			}
			if (sp)
				buf_addc(out, ' ');
			sp = false;
			buf_addc(out, p[start]);
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

static void
buf_emit(void *arg, const char *p, size_t len)
{
	buf_add(arg, p, len);
}

/*
 * Long bodies made of words, single and double spaces, tabs, line ends,
 * empty and blank lines and stray CRs, at every alignment the 64-byte
 * scan can meet them, with stretches of prose that the scan skips whole:
 * the stream must equal the plain reference.
 */
static void
test_body_long_random(void **state)
{
	static const char *piece[] = { "word", "x", " ", "  ", "\t", "\r\n",
		"\r\n\r\n", "\r\n \r\n", "\r", "\n", " \r\n", ".",
		"\r\n\r\n\r\n", "\xe9", "\r\n\r\n\t", "\r\n\r\n ",
		"\r\n\t", "\r\n ",
		"The quick brown fox jumps over the lazy dog, again.\r\n",
		"Paragraph ends here.\r\n\r\nAnd the next one starts" };
	uint32_t seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		struct buf in = { 0 }, ref = { 0 }, got = { 0 };
		struct dkim_bodycanon b;
		int k, n, c;

		n = 1 + round % 151;
		for (k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			buf_adds(&in, piece[(seed >> 16) %
			    (sizeof(piece) / sizeof(piece[0]))]);
		}
		for (c = DKIM_C_SIMPLE; c <= DKIM_C_RELAXED; c++) {
			buf_reset(&ref);
			buf_reset(&got);
			reference((enum dkim_canon)c, in.p, in.len, &ref);
			dkim_body_init(&b, (enum dkim_canon)c, buf_emit, &got);
			dkim_body_feed(&b, in.p, in.len);
			dkim_body_finish(&b);
			if (got.len != ref.len || (ref.len &&
			    memcmp(got.p, ref.p, ref.len) != 0))
				fail_msg("round %d canon %d: differs", round, c);
		}
		buf_free(&in);
		buf_free(&ref);
		buf_free(&got);
	}
}

/*
 * The scan each CPU can run (AVX2 on x86-64 when present) stops where the
 * baseline build of it stops, from every start offset of bodies like the
 * ones above.
 */
static void
test_scan_variants(void **state)
{
	static const char *piece[] = { "word ", "a", " ", "  ", "\t", "\r\n",
		"\r\n\r\n", "\r\n \r\n", "\r", "\n", " \r\n", "\r\n\r\n\r\n",
		"\xe9", "Some ordinary prose, with single spaces only. " };
	uint32_t seed = 54321;
	int round;

	(void)state;
	for (round = 0; round < 2000; round++) {
		struct buf in = { 0 };
		size_t j;
		int k;

		for (k = 0; k < 1 + round % 97; k++) {
			seed = seed * 1103515245u + 12345u;
			buf_adds(&in, piece[(seed >> 16) %
			    (sizeof(piece) / sizeof(piece[0]))]);
		}
		for (j = 0; j < in.len; j++) {
			assert_int_equal(dkim_scan_relaxed(in.p, j, in.len),
			    dkim_scan_relaxed_baseline(in.p, j, in.len));
			assert_int_equal(dkim_scan_simple(in.p, j, in.len),
			    dkim_scan_simple_baseline(in.p, j, in.len));
		}
		buf_free(&in);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_body_many_empty_lines),
		cmocka_unit_test(test_body_long_random),
		cmocka_unit_test(test_scan_variants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
