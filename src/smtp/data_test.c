/*
 * DATA reader tests: unstuffing, the one true end of data, every smuggling
 * variant, and the same results whatever way the input is cut in pieces.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "smtp/smtp_int.h"

struct result {
	bool end, bad;
	size_t consumed;
	char body[256];
	size_t body_len;
};

/* Feeds in in pieces of at most step bytes. */
static struct result
run(const char *in, size_t len, size_t step)
{
	struct smtp_data d;
	struct result r = { 0 };
	size_t off = 0;

	smtp_data_init(&d);
	while (off < len && d.state != SMTP_DATA_END) {
		char out[64];
		size_t n = len - off < step ? len - off : step, olen, used;

		used = smtp_data_feed(&d, in + off, n, out, &olen);
		assert_true(olen <= n + 1);
		assert_true(r.body_len + olen < sizeof r.body);
		memcpy(r.body + r.body_len, out, olen);
		r.body_len += olen;
		off += used;
		if (used < n)
			break;
	}
	r.end = d.state == SMTP_DATA_END;
	r.bad = d.bad;
	r.consumed = off;
	assert_int_equal(d.size, r.body_len);
	return r;
}

static const struct data_case {
	const char *in;
	bool end, bad;
	const char *body; /* when good */
	size_t consumed;  /* octets left after the end */
} cases[] = {
	{ "Subject: x\r\n\r\nhello\r\n.\r\n", true, false,
	    "Subject: x\r\n\r\nhello\r\n", 0 },
	{ ".\r\n", true, false, "", 0 },
	{ "..\r\n.\r\n", true, false, ".\r\n", 0 },
	{ "..x\r\n.x\r\n.\r\n", true, false, ".x\r\nx\r\n", 0 },
	{ "a\r\n.\r\nMAIL FROM:<x@y>\r\n", true, false, "a\r\n", 17 },
	{ "a\r\n. \r\n.\r\n", true, false, "a\r\n \r\n", 0 },
	{ "a\r\n", false, false, "a\r\n", 0 },
	/* Smuggling: none of these ends the message, all of them are bad. */
	{ "a\n.\n", false, true, NULL, 0 },
	{ "a\n.\r\n", false, true, NULL, 0 },
	{ "a\r\n.\n", false, true, NULL, 0 },
	{ "a\r.\r", false, true, NULL, 0 },
	{ "a\r.\r\n", false, true, NULL, 0 },
	{ "a\r\n.\rMAIL\r\n", false, true, NULL, 0 },
	{ "a\0b\r\n", false, true, NULL, 0 },
	{ "\n", false, true, NULL, 0 },
	{ ".\n", false, true, NULL, 0 },
	/* Bad, then read to the real end: the rest stays unread. */
	{ "a\n.\nMAIL FROM:<x@y>\r\n.\r\nQUIT\r\n", true, true, NULL, 6 },
	{ "a\r\r\n.\r\n", true, true, NULL, 0 },
	{ "a\r\n.\r\r\n.\r\n", true, true, NULL, 0 },
};

static void
test_cases(void **state)
{
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct data_case *t = &cases[i];
		size_t len = strlen(t->in);

		if (strncmp(t->in, "a\0b", 3) == 0)
			len = 6;
		for (step = 1; step <= len; step++) {
			struct result r = run(t->in, len, step);
			size_t want = len - t->consumed;

			if (r.end != t->end || r.bad != t->bad)
				fail_msg("case %zu step %zu: end %d bad %d", i,
				    step, r.end, r.bad);
			if (r.end && r.consumed != want)
				fail_msg("case %zu step %zu: consumed %zu", i,
				    step, r.consumed);
			if (t->body && (r.body_len != strlen(t->body) ||
			    memcmp(r.body, t->body, r.body_len) != 0))
				fail_msg("case %zu step %zu: body '%.*s'", i,
				    step, (int)r.body_len, r.body);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
