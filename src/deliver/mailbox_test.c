#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "deliver/deliver.h"

static const struct {
	const char *in;
	size_t len; /* 0: strlen(in) */
	int want;
	const char *name;
} cases[] = {
	{ "bob", 0, 0, "bob" },
	{ "Bob.Smith", 0, 0, "bob.smith" },
	{ "a+tag-1_x=y", 0, 0, "a+tag-1_x=y" },
	{ "trailing.", 0, 0, "trailing." },
	{ "", 0, ERR_SYNTAX, NULL },
	{ ".hidden", 0, ERR_SYNTAX, NULL },
	{ ".", 0, ERR_SYNTAX, NULL },
	{ "..", 0, ERR_SYNTAX, NULL },
	{ "a..b", 0, ERR_SYNTAX, NULL },
	{ "a/b", 0, ERR_SYNTAX, NULL },
	{ "../etc", 0, ERR_SYNTAX, NULL },
	{ "a\0b", 3, ERR_SYNTAX, NULL },
	{ "a\tb", 0, ERR_SYNTAX, NULL },
	{ "a\x7f", 0, ERR_SYNTAX, NULL },
	{ "a b", 0, ERR_SYNTAX, NULL },
	/* UTF-8 (RFC 6531): kept as it is, only ASCII is lower-cased. */
	{ "Caf\xc3\xa9", 0, 0, "caf\xc3\xa9" },
	{ "\xe7\x94\xb0\xe4\xb8\xad", 0, 0, "\xe7\x94\xb0\xe4\xb8\xad" },
	{ "caf\xc3", 0, ERR_SYNTAX, NULL },         /* cut short */
	{ "caf\xe9", 0, ERR_SYNTAX, NULL },         /* Latin-1, not UTF-8 */
	{ "a\xc0\xaf", 0, ERR_SYNTAX, NULL },       /* overlong '/' */
	{ "a\xc2\x85", 0, ERR_SYNTAX, NULL },       /* U+0085, a C1 control */
	{ "a\xed\xa0\x80", 0, ERR_SYNTAX, NULL },   /* a surrogate */
#define L64 "1234567890123456789012345678901234567890123456789012345678901234"
	{ L64, 0, 0, L64 },            /* RFC 5321 4.5.3.1.1: the limit */
	{ L64 "5", 0, ERR_TOOLONG, NULL },
};

static void
test_mailbox_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[DELIVER_MAILBOX_MAX + 1];
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		int rc = deliver_mailbox_name(cases[i].in, len, out,
		    sizeof out);

		assert_int_equal(rc, cases[i].want);
		if (rc == 0)
			assert_string_equal(out, cases[i].name);
	}
}

static void
test_mailbox_small_out(void **state)
{
	char out[4];

	(void)state;
	assert_int_equal(deliver_mailbox_name("abcd", 4, out, sizeof out),
	    ERR_TOOLONG);
	assert_int_equal(deliver_mailbox_name("abc", 3, out, sizeof out), 0);
	assert_string_equal(out, "abc");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailbox_table),
		cmocka_unit_test(test_mailbox_small_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
