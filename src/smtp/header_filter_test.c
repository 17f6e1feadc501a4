#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "smtp/smtp_int.h"

static void
collect(void *arg, const char *p, size_t len)
{
	buf_add(arg, p, len);
}

/* Runs the filter over msg cut into pieces of step bytes. */
static void
run(const char *msg, size_t step, struct buf *out, unsigned *removed)
{
	struct smtp_hdr_filter f;
	size_t len = strlen(msg), i;

	buf_reset(out);
	smtp_hdr_filter_init(&f, "mx.example.test", collect, out);
	for (i = 0; i < len; i += step)
		smtp_hdr_filter_feed(&f, msg + i, len - i < step ? len - i :
		    step);
	smtp_hdr_filter_finish(&f);
	*removed = f.removed;
}

static const struct {
	const char *in, *out;
	unsigned removed;
} cases[] = {
	{ "From: a@b\r\nAuthentication-Results: mx.example.test; spf=pass\r\n"
	  "Subject: s\r\n\r\nbody\r\n",
	  "From: a@b\r\nSubject: s\r\n\r\nbody\r\n", 1 },
	/* Folded, and with a comment before the id. */
	{ "Authentication-Results: (x)\r\n MX.EXAMPLE.TEST;\r\n\tdkim=pass\r\n"
	  "To: c@d\r\n\r\n",
	  "To: c@d\r\n\r\n", 1 },
	/* Another authserv-id stays, byte for byte. */
	{ "Authentication-Results: other.example; spf=pass\r\n\r\nx\r\n",
	  "Authentication-Results: other.example; spf=pass\r\n\r\nx\r\n", 0 },
	/* In the body it is text, not a field. */
	{ "Subject: s\r\n\r\nAuthentication-Results: mx.example.test; none\r\n",
	  "Subject: s\r\n\r\nAuthentication-Results: mx.example.test; none\r\n",
	  0 },
	/* A header section with no body and no empty line. */
	{ "Subject: s\r\nAuthentication-Results: mx.example.test; none\r\n",
	  "Subject: s\r\n", 1 },
	/* Several, one of them last before the body. */
	{ "Authentication-Results: mx.example.test; a=b\r\nX: 1\r\n"
	  "Authentication-Results: mx.example.test; c=d\r\n\r\nB\r\n",
	  "X: 1\r\n\r\nB\r\n", 2 },
};

static void
test_table_every_split(void **state)
{
	struct buf out = { 0 };
	size_t i, step;
	unsigned removed;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (step = 1; step <= strlen(cases[i].in); step++) {
			run(cases[i].in, step, &out, &removed);
			if (strcmp(out.p ? out.p : "", cases[i].out) != 0 ||
			    removed != cases[i].removed)
				fail_msg("case %zu step %zu: got [%s]", i, step,
				    out.p);
		}
	}
	buf_free(&out);
}

static void
test_overlong_fields(void **state)
{
	struct buf in = { 0 }, out = { 0 };
	unsigned removed;
	size_t i;

	(void)state;
	/* An over-long field of another name passes whole. */
	buf_adds(&in, "X-Long: ");
	for (i = 0; i < SMTP_HDR_FIELD_HOLD; i++)
		buf_addc(&in, 'a');
	buf_adds(&in, "\r\n\tmore\r\n\r\nbody\r\n");
	run(in.p, 4096, &out, &removed);
	assert_int_equal(removed, 0);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(out.p, in.p, in.len);

	/* An over-long Authentication-Results field is dropped whole. */
	buf_reset(&in);
	buf_adds(&in, "Authentication-Results: (");
	for (i = 0; i < SMTP_HDR_FIELD_HOLD; i++)
		buf_addc(&in, 'c');
	buf_adds(&in, "\r\n\tcc) mx.example.test; none\r\nTo: x\r\n\r\nb\r\n");
	run(in.p, 1000, &out, &removed);
	assert_int_equal(removed, 1);
	assert_string_equal(out.p, "To: x\r\n\r\nb\r\n");
	buf_free(&in);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_every_split),
		cmocka_unit_test(test_overlong_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
