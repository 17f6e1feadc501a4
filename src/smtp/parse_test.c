/* Tests of the command line, path, MAIL parameter and HELO parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "smtp/smtp_int.h"

static void
test_cmdline(void **state)
{
	struct smtp_cmdline c;

	(void)state;
	assert_int_equal(smtp_parse_cmdline("QUIT", 4, &c), 0);
	assert_true(span_eq_nocase_cstr(c.verb, "quit"));
	assert_int_equal(c.arg.len, 0);
	assert_int_equal(smtp_parse_cmdline("mail FROM:<a@b>", 15, &c), 0);
	assert_true(span_eq_nocase_cstr(c.verb, "MAIL"));
	assert_true(span_eq(c.arg, SPAN_LIT("FROM:<a@b>")));
	assert_int_equal(smtp_parse_cmdline("", 0, &c), ERR_SYNTAX);
	assert_int_equal(smtp_parse_cmdline(" QUIT", 5, &c), ERR_SYNTAX);
	assert_int_equal(smtp_parse_cmdline("QU1T", 4, &c), ERR_SYNTAX);
	assert_int_equal(smtp_parse_cmdline("QUIT\t", 5, &c), ERR_SYNTAX);
	assert_int_equal(smtp_parse_cmdline("ABCDEFGHIJKLMNOPQ", 17, &c),
	    ERR_SYNTAX);
}

static const struct path_case {
	const char *arg;
	int want;
	const char *local, *domain, *params;
	unsigned flags; /* 1 null, 2 postmaster, 4 literal, 8 utf8, 16 quoted */
} path_cases[] = {
	{ "TO:<bob@example.test>", SMTP_ADDR_OK, "bob", "example.test", "",
	    0 },
	{ "to: <Bob@Example.TEST> ", SMTP_ADDR_OK, "Bob", "Example.TEST", "",
	    0 },
	{ "TO:<bob@example.test> NOTIFY=NEVER", SMTP_ADDR_OK, "bob",
	    "example.test", "NOTIFY=NEVER", 0 },
	{ "TO:<>", SMTP_ADDR_OK, "", "", "", 1 },
	{ "TO:<Postmaster>", SMTP_ADDR_OK, "Postmaster", "", "", 2 },
	{ "TO:<bob>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<@relay.test:bob@example.test>", SMTP_ADDR_OK, "bob",
	    "example.test", "", 0 },
	{ "TO:<@a.test,@b.test:bob@evil.test>", SMTP_ADDR_OK, "bob",
	    "evil.test", "", 0 },
	{ "TO:<@a.test:>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<bob%evil.test@example.test>", SMTP_ADDR_ROUTING, "bob%evil.test",
	    "example.test", "", 0 },
	{ "TO:<evil.test!bob@example.test>", SMTP_ADDR_ROUTING,
	    "evil.test!bob", "example.test", "", 0 },
	{ "TO:<\"bob@evil.test\"@example.test>", SMTP_ADDR_ROUTING,
	    "bob@evil.test", "example.test", "", 16 },
	{ "TO:<\"bob\"@example.test>", SMTP_ADDR_OK, "bob", "example.test", "",
	    0 },
	{ "TO:<\"b o\\\"b\"@example.test>", SMTP_ADDR_OK, "b o\"b",
	    "example.test", "", 16 },
	{ "TO:<\"\"@example.test>", SMTP_ADDR_OK, "", "example.test", "", 16 },
	{ "TO:<\"a>b\"@example.test>", SMTP_ADDR_OK, "a>b", "example.test", "",
	    16 },
	{ "TO:<bob@example.test.>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<bob@evil.test@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL,
	    NULL, 0 },
	{ "TO:<bob@[192.0.2.1]>", SMTP_ADDR_OK, "bob", "[192.0.2.1]", "", 4 },
	{ "TO:<bob@[IPv6:2001:db8::1]>", SMTP_ADDR_OK, "bob",
	    "[IPv6:2001:db8::1]", "", 4 },
	{ "TO:<bob@[300.0.2.1]>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<bob@[IPv6:zz]>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<.bob@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<bob.@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<b..ob@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<a/b@example.test>", SMTP_ADDR_OK, "a/b", "example.test", "",
	    0 },
	{ "TO:<b ob@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<bob@-x.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<bob@x-.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<bob@x..test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<bob@x_y.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<j\xc3\xb6rg@b\xc3\xbc.test>", SMTP_ADDR_OK, "j\xc3\xb6rg",
	    "b\xc3\xbc.test", "", 8 },
	{ "TO:<j\xc3rg@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<j\xc0\xafrg@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL,
	    0 },
	{ "TO:bob@example.test", -1, NULL, NULL, NULL, 0 },
	{ "TO:<bob@example.test", -1, NULL, NULL, NULL, 0 },
	{ "TO:<bob@example.test>x", -1, NULL, NULL, NULL, 0 },
	{ "FROM:<bob@example.test>", -1, NULL, NULL, NULL, 0 },
	{ "TO <bob@example.test>", -1, NULL, NULL, NULL, 0 },
	{ "TO:<bob\x01@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL, 0 },
	{ "TO:<\"a\x01\"@example.test>", SMTP_ADDR_SYNTAX, NULL, NULL, NULL,
	    0 },
	{ "TO:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaa@example.test>", SMTP_ADDR_TOOLONG, NULL, NULL, NULL, 0 },
};

static void
test_paths(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof path_cases / sizeof path_cases[0]; i++) {
		const struct path_case *t = &path_cases[i];
		struct smtp_addr a;
		struct span params;
		unsigned flags;
		int r;

		r = smtp_parse_path(span_cstr(t->arg), "TO:", &a, &params);
		if (r != t->want)
			fail_msg("case %zu %s: got %d want %d", i, t->arg, r,
			    t->want);
		if (!t->local)
			continue;
		flags = (a.null ? 1 : 0) | (a.postmaster ? 2 : 0) |
		    (a.literal ? 4 : 0) | (a.utf8 ? 8 : 0) |
		    (a.quoted ? 16 : 0);
		if (strcmp(a.local, t->local) || strcmp(a.domain, t->domain) ||
		    !span_eq(params, span_cstr(t->params)) ||
		    flags != t->flags)
			fail_msg("case %zu %s: got %s @ %s [%.*s] %u", i,
			    t->arg, a.local, a.domain, (int)params.len,
			    params.p, flags);
	}
}

/* "TO:<" 64 octets "@" a domain of dlen octets ">" */
static size_t
make_path(char *out, size_t dlen)
{
	size_t n = 0, i;

	memcpy(out, "TO:<", 4);
	n = 4;
	memset(out + n, 'a', 64);
	n += 64;
	out[n++] = '@';
	for (i = 0; i < dlen; i++)
		out[n++] = (i % 10 == 9 && i + 1 < dlen) ? '.' : 'x';
	out[n++] = '>';
	return n;
}

static void
test_path_length(void **state)
{
	char arg[SMTP_PATH_MAX + 16];
	struct smtp_addr a;
	struct span params;
	size_t n;

	(void)state;
	/* "<" + 64 + "@" + 189 + ">" = 256 octets: exactly the limit. */
	n = make_path(arg, 189);
	assert_int_equal(smtp_parse_path(span_make(arg, n), "TO:", &a,
	    &params), SMTP_ADDR_OK);
	assert_int_equal(strlen(a.domain), 189);
	n = make_path(arg, 190);
	assert_int_equal(smtp_parse_path(span_make(arg, n), "TO:", &a,
	    &params), SMTP_ADDR_TOOLONG);
}

static void
test_mail_params(void **state)
{
	struct smtp_mail_params mp;

	(void)state;
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT(""), &mp), 0);
	assert_int_equal(mp.size, 0);
	assert_int_equal(mp.body, SMTP_BODY_NONE);
	assert_int_equal(smtp_parse_mail_params(
	    SPAN_LIT("SIZE=1000 body=8bitmime SMTPUTF8"), &mp), 0);
	assert_int_equal(mp.size, 1000);
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);
	assert_true(mp.smtputf8);
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT("BODY=7BIT"), &mp),
	    0);
	assert_int_equal(mp.body, SMTP_BODY_7BIT);
	assert_int_equal(smtp_parse_mail_params(
	    SPAN_LIT("SIZE=18446744073709551615"), &mp), 0);
	assert_int_equal(smtp_parse_mail_params(
	    SPAN_LIT("SIZE=18446744073709551616"), &mp), ERR_SYNTAX);
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT("SIZE=1 SIZE=2"),
	    &mp), ERR_SYNTAX);
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT("SIZE="), &mp),
	    ERR_SYNTAX);
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT("SIZE=-1"), &mp),
	    ERR_SYNTAX);
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT("BODY=BINARYMIME"),
	    &mp), ERR_SYNTAX);
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT("SMTPUTF8=yes"),
	    &mp), ERR_SYNTAX);
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT("AUTH=<>"), &mp),
	    ERR_SYNTAX);
	assert_int_equal(smtp_parse_mail_params(SPAN_LIT("X-FOO"), &mp),
	    ERR_SYNTAX);
}

static void
test_helo(void **state)
{
	(void)state;
	assert_true(smtp_helo_valid(SPAN_LIT("mail.example.test")));
	assert_true(smtp_helo_valid(SPAN_LIT("mail.example.test.")));
	assert_true(smtp_helo_valid(SPAN_LIT("localhost")));
	assert_true(smtp_helo_valid(SPAN_LIT("[192.0.2.1]")));
	assert_true(smtp_helo_valid(SPAN_LIT("[IPv6:2001:db8::1]")));
	assert_false(smtp_helo_valid(SPAN_LIT("")));
	assert_false(smtp_helo_valid(SPAN_LIT("a b")));
	assert_false(smtp_helo_valid(SPAN_LIT("a(b)")));
	assert_false(smtp_helo_valid(SPAN_LIT("[192.0.2.1")));
	assert_false(smtp_helo_valid(SPAN_LIT("x\xc3\xa9.test")));
	assert_false(smtp_helo_valid(SPAN_LIT(".")));
	/* Windows host names: Postfix takes them, and so do we. */
	assert_true(smtp_helo_valid(SPAN_LIT("DESKTOP_4F2A.corp.example")));
	assert_true(smtp_helo_valid(SPAN_LIT("_x.example")));
	assert_false(smtp_helo_valid(SPAN_LIT("-x.example")));
	assert_false(smtp_helo_valid(SPAN_LIT("x-.example")));
	assert_false(smtp_helo_valid(SPAN_LIT("a..example")));
	assert_false(smtp_helo_valid(SPAN_LIT("a.example..")));
	assert_false(smtp_helo_valid(SPAN_LIT("a/b.example")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_path_length),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_helo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
