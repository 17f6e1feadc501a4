/* Unit tables for SPF macro expansion: RFC 7208 7.4 examples and more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "spf/spf_int.h"

/* RFC 7208 7.4: sender strong-bad@email.example.com from 192.0.2.3. */
static const struct spf_macro_env env4 = {
	.s = SPAN_LIT("strong-bad@email.example.com"),
	.l = SPAN_LIT("strong-bad"),
	.o = SPAN_LIT("email.example.com"),
	.d = SPAN_LIT("email.example.com"),
	.i = SPAN_LIT("192.0.2.3"),
	.p = SPAN_LIT("mx.example.org"),
	.v = SPAN_LIT("in-addr"),
	.h = SPAN_LIT("mx.example.org"),
	.c = SPAN_LIT("192.0.2.3"),
	.r = SPAN_LIT("mx.example.net"),
	.t = SPAN_LIT("1700000000"),
};

static const struct spf_macro_env env6 = {
	.s = SPAN_LIT("strong-bad@email.example.com"),
	.l = SPAN_LIT("strong-bad"),
	.o = SPAN_LIT("email.example.com"),
	.d = SPAN_LIT("email.example.com"),
	.i = SPAN_LIT("2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1"),
	.v = SPAN_LIT("ip6"),
	.c = SPAN_LIT("2001:db8::cb01"),
};

static void
test_expand(void **state)
{
	static const struct {
		const struct spf_macro_env *env;
		enum spf_macro_ctx ctx;
		const char *in, *out;
	} cases[] = {
		{ &env4, SPF_CTX_DOMAIN, "%{s}",
		  "strong-bad@email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{o}", "email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{d}", "email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{d4}", "email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{d3}", "email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{d2}", "example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{d1}", "com" },
		{ &env4, SPF_CTX_DOMAIN, "%{dr}", "com.example.email" },
		{ &env4, SPF_CTX_DOMAIN, "%{d2r}", "example.email" },
		{ &env4, SPF_CTX_DOMAIN, "%{l}", "strong-bad" },
		{ &env4, SPF_CTX_DOMAIN, "%{l-}", "strong.bad" },
		{ &env4, SPF_CTX_DOMAIN, "%{lr}", "strong-bad" },
		{ &env4, SPF_CTX_DOMAIN, "%{lr-}", "bad.strong" },
		{ &env4, SPF_CTX_DOMAIN, "%{l1r-}", "strong" },
		{ &env4, SPF_CTX_DOMAIN, "%{ir}.%{v}._spf.%{d2}",
		  "3.2.0.192.in-addr._spf.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{lr-}.lp._spf.%{d2}",
		  "bad.strong.lp._spf.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
		  "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
		  "3.2.0.192.in-addr.strong.lp._spf.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{d2}.trusted-domains.example.net",
		  "example.com.trusted-domains.example.net" },
		{ &env6, SPF_CTX_DOMAIN, "%{ir}.%{v}._spf.%{d2}",
		  "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0."
		  "0.2.ip6._spf.example.com" },
		/* Upper case letters are URL-escaped (7.3). */
		{ &env4, SPF_CTX_DOMAIN, "%{S}",
		  "strong-bad%40email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{L}.%{D2R}",
		  "strong-bad.example.email" },
		{ &env4, SPF_CTX_DOMAIN, "%{IR}.x.example",
		  "3.2.0.192.x.example" },
		/* Escapes. */
		{ &env4, SPF_CTX_EXP, "a%%b%_c%-d", "a%b c%20d" },
		{ &env4, SPF_CTX_EXP, "%{c} via %{r} at %{t}",
		  "192.0.2.3 via mx.example.net at 1700000000" },
		{ &env6, SPF_CTX_EXP, "%{c} is %{v}", "2001:db8::cb01 is ip6" },
		{ &env4, SPF_CTX_DOMAIN, "%{p}.example.com",
		  "mx.example.org.example.com" },
		/* Several delimiters split on any of them; joined with "." */
		{ &env4, SPF_CTX_DOMAIN, "%{s-.}",
		  "strong.bad@email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{s2r-.}", "bad@email.strong" },
		{ &env4, SPF_CTX_DOMAIN, "%{d99}", "email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{d123456789012345678901}",
		  "email.example.com" },
		{ &env4, SPF_CTX_DOMAIN, "%{h+,/_=}", "mx.example.org" },
		{ &env4, SPF_CTX_DOMAIN, "", "" },
	};
	char out[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned flags = 0;
		const char *why;
		int n;

		if (cases[i].ctx == SPF_CTX_DOMAIN && cases[i].in[0] &&
		    spf_macro_check(cases[i].in, strlen(cases[i].in),
		    cases[i].ctx, &flags, &why) != 0)
			fail_msg("%s: %s", cases[i].in, why);
		n = spf_macro_expand(cases[i].in, strlen(cases[i].in),
		    cases[i].env, cases[i].ctx, out, sizeof(out));
		assert_int_equal(n, strlen(cases[i].out));
		assert_string_equal(out, cases[i].out);
	}
}

static void
test_check(void **state)
{
	static const struct {
		enum spf_macro_ctx ctx;
		const char *in;
		int rc;
		unsigned flags;
	} cases[] = {
		{ SPF_CTX_DOMAIN, "example.com", 0, 0 },
		{ SPF_CTX_DOMAIN, "%{d}", 0, SPF_MF_MACRO },
		{ SPF_CTX_DOMAIN, "%{p}.example.com", 0,
		  SPF_MF_MACRO | SPF_MF_P },
		{ SPF_CTX_DOMAIN, "%{P2r}.example.com", 0,
		  SPF_MF_MACRO | SPF_MF_P },
		{ SPF_CTX_DOMAIN, "%%.example.com", 0, SPF_MF_MACRO },
		{ SPF_CTX_DOMAIN, "foo%-", 0, SPF_MF_MACRO },
		{ SPF_CTX_DOMAIN, "%{c}.example.com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%{r}.example.com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%{t}.example.com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%{x}.example.com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%{d0}.example.com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%{d2rr}.example.com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%{d.", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%{s-@}", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%x.example.com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "a b.example.com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "example.c0m", 0, 0 },
		{ SPF_CTX_DOMAIN, "example.123", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "example.1-2", 0, 0 },
		{ SPF_CTX_DOMAIN, "com", ERR_SYNTAX, 0 },
		{ SPF_CTX_DOMAIN, "%{d}x", ERR_SYNTAX, 0 },
		{ SPF_CTX_EXP, "%{c} is not allowed, %{r} said at %{t}", 0,
		  SPF_MF_MACRO },
		{ SPF_CTX_EXP, "bad %{", ERR_SYNTAX, 0 },
		{ SPF_CTX_EXP, "caf\xc3\xa9", ERR_SYNTAX, 0 },
		{ SPF_CTX_EXP, "", 0, 0 },
		{ SPF_CTX_MOD, "%{t}", 0, SPF_MF_MACRO },
		{ SPF_CTX_MOD, "a b", ERR_SYNTAX, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned flags = 0;
		const char *why = NULL;
		int rc = spf_macro_check(cases[i].in, strlen(cases[i].in),
		    cases[i].ctx, &flags, &why);

		if (rc != cases[i].rc)
			fail_msg("%s: got %d", cases[i].in, rc);
		if (rc == 0)
			assert_int_equal(flags, cases[i].flags);
		else
			assert_non_null(why);
	}
}

/* RFC 7208 7.3: too long names lose whole labels on the left. */
static void
test_truncate(void **state)
{
	char local[64], in[200], out[SPF_NAME_MAX + 2];
	struct spf_macro_env env = env4;
	int n;

	(void)state;
	memset(local, 'x', 63);
	env.l = span_make(local, 63);
	/* 5 x 63 + 5 dots + "example.com" = 331 octets before cutting */
	snprintf(in, sizeof(in), "%%{l}.%%{l}.%%{l}.%%{l}.%%{l}.example.com");
	n = spf_macro_expand(in, strlen(in), &env, SPF_CTX_DOMAIN, out,
	    sizeof(out));
	assert_int_equal(n, 3 * 64 + 11);
	assert_int_equal(strlen(out), (size_t)n);
	assert_memory_equal(out + 3 * 64, "example.com", 11);
	assert_true(out[0] == 'x' && out[63] == '.');
	/* Exactly at the limit: not cut. */
	env.l = span_make(local, 60);
	snprintf(in, sizeof(in), "%%{l}.%%{l}.%%{l}.%%{l}.a.example");
	n = spf_macro_expand(in, strlen(in), &env, SPF_CTX_DOMAIN, out,
	    sizeof(out));
	assert_int_equal(n, SPF_NAME_MAX);
	/* Explanations are cut on the right. */
	n = spf_macro_expand("%{s} %{s}", 9, &env4, SPF_CTX_EXP, out, 10);
	assert_int_equal(n, 9);
	assert_string_equal(out, "strong-ba");
}

/* 8-bit values are copied as they are, or escaped for upper case. */
static void
test_8bit(void **state)
{
	struct spf_macro_env env = env4;
	char out[300];
	int n;

	(void)state;
	env.l = SPAN_LIT("j\xc3\xb8rn\xff");
	n = spf_macro_expand("%{L}.%{l}.ex.com", 16, &env, SPF_CTX_DOMAIN,
	    out, sizeof(out));
	assert_int_equal(n, strlen("j%C3%B8rn%FF.j\xc3\xb8rn\xff.ex.com"));
	assert_string_equal(out, "j%C3%B8rn%FF.j\xc3\xb8rn\xff.ex.com");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_8bit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
