#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "authres/authres.h"

static const struct {
	const char *field;
	bool forged;
} forged_cases[] = {
	{ "Authentication-Results: mx.example.test; spf=pass", true },
	{ "authentication-results:MX.Example.TEST;spf=pass", true },
	{ "Authentication-Results: (c (nested)) mx.example.test 1; none", true },
	{ "Authentication-Results:\r\n\tmx.example.test;\r\n\tdkim=pass", true },
	{ "Authentication-Results: \"mx.example.test\"; none", true },
	{ "Authentication-Results: mx.example.test.; none", true },
	{ "Authentication-Results : mx.example.test; none", true },
	{ "Authentication-Results: mx.example.test", true },
	{ "Authentication-Results: mx.example.test.evil; none", false },
	{ "Authentication-Results: other.example; spf=pass", false },
	{ "Authentication-Results: xmx.example.test; none", false },
	{ "Authentication-Results-Original: mx.example.test; none", false },
	{ "X-Authentication-Results: mx.example.test; none", false },
	{ "Received: from mx.example.test", false },
	{ "Authentication-Results: (unterminated mx.example.test; none", false },
	{ "Authentication-Results", false },
};

static void
test_forged_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof forged_cases / sizeof forged_cases[0]; i++) {
		const char *f = forged_cases[i].field;

		if (authres_is_forged(f, strlen(f), "mx.example.test") !=
		    forged_cases[i].forged)
			fail_msg("case %zu: %s", i, f);
	}
}

static void
test_write_full(void **state)
{
	struct buf out = { 0 };
	struct authres_entry e[] = {
		{ "iprev", "pass", "mail.example.org",
		    { { "policy.iprev", "2001:db8::1" } }, 1 },
		{ "spf", "pass", NULL,
		    { { "smtp.mailfrom", "alice@example.org" } }, 1 },
		{ "dkim", "fail", "body hash mismatch",
		    { { "header.d", "example.org" },
		      { "header.i", "@example.org" },
		      { "header.s", "sel(1)" },
		      { "header.a", "rsa-sha256" },
		      { "header.b", "ab/c+d=e" } }, 5 },
	};

	(void)state;
	authres_write(&out, "mx.example.test", e, 3);
	assert_string_equal(out.p,
	    "Authentication-Results: mx.example.test;\r\n"
	    "\tiprev=pass (mail.example.org) policy.iprev=\"2001:db8::1\";\r\n"
	    "\tspf=pass smtp.mailfrom=alice@example.org;\r\n"
	    "\tdkim=fail (body hash mismatch) header.d=example.org "
	    "header.i=@example.org header.s=\"sel(1)\" header.a=rsa-sha256 "
	    "header.b=\"ab/c+d=e\"\r\n");
	buf_free(&out);
}

static void
test_write_none_and_escaping(void **state)
{
	struct buf out = { 0 };
	struct authres_entry e = { "spf", "none", "a (b) \\ c\r\n",
		{ { "smtp.helo", "bad\"name\\x" } }, 1 };

	(void)state;
	authres_write(&out, "mx.example.test", NULL, 0);
	assert_string_equal(out.p,
	    "Authentication-Results: mx.example.test; none\r\n");
	buf_reset(&out);
	authres_write(&out, "mx.example.test", &e, 1);
	assert_string_equal(out.p,
	    "Authentication-Results: mx.example.test;\r\n"
	    "\tspf=none (a \\(b\\) \\\\ c) smtp.helo=\"bad\\\"name\\\\x\"\r\n");
	buf_free(&out);
}

static void
test_written_field_is_recognised(void **state)
{
	struct buf out = { 0 };
	struct authres_entry e = { "spf", "pass", NULL,
		{ { "smtp.mailfrom", "example.org" } }, 1 };

	(void)state;
	authres_write(&out, "mx.example.test", &e, 1);
	assert_true(authres_is_forged(out.p, out.len, "mx.example.test"));
	assert_false(authres_is_forged(out.p, out.len, "mx2.example.test"));
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forged_table),
		cmocka_unit_test(test_write_full),
		cmocka_unit_test(test_write_none_and_escaping),
		cmocka_unit_test(test_written_field_is_recognised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
