/* Unit tables for the SPF record parser: one row per mechanism form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/err.h"
#include "spf/spf_int.h"

#define NTERMS 64

static int
parse(const char *text, struct spf_record *rec, struct spf_term *terms)
{
	rec->term = terms;
	rec->cap = NTERMS;
	return spf_record_parse(text, strlen(text), rec);
}

static void
test_version(void **state)
{
	static const struct {
		const char *text;
		bool spf1;
	} cases[] = {
		{ "v=spf1", true },
		{ "v=spf1 -all", true },
		{ "V=SpF1 -all", true },
		{ "v=spf10 -all", false },
		{ "v=spf1-all", false },
		{ " v=spf1 -all", false },
		{ "spf2.0/pra -all", false },
		{ "v=spf", false },
		{ "", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(spf_record_is_spf1(cases[i].text,
		    strlen(cases[i].text)), cases[i].spf1);
}

/* Valid records: the first term's mechanism, qualifier, spec and CIDRs. */
static void
test_mechanisms(void **state)
{
	static const struct {
		const char *text;
		enum spf_mech mech;
		enum spf_result result;
		const char *spec;
		unsigned cidr4, cidr6;
	} cases[] = {
		{ "v=spf1 all", SPF_M_ALL, SPF_PASS, "", 32, 128 },
		{ "v=spf1 -all", SPF_M_ALL, SPF_FAIL, "", 32, 128 },
		{ "v=spf1 ~ALL", SPF_M_ALL, SPF_SOFTFAIL, "", 32, 128 },
		{ "v=spf1 ?all", SPF_M_ALL, SPF_NEUTRAL, "", 32, 128 },
		{ "v=spf1 +all", SPF_M_ALL, SPF_PASS, "", 32, 128 },
		{ "v=spf1 include:_spf.example.com", SPF_M_INCLUDE, SPF_PASS,
		  "_spf.example.com", 32, 128 },
		{ "v=spf1 a", SPF_M_A, SPF_PASS, "", 32, 128 },
		{ "v=spf1 a/24", SPF_M_A, SPF_PASS, "", 24, 128 },
		{ "v=spf1 a//64", SPF_M_A, SPF_PASS, "", 32, 64 },
		{ "v=spf1 a/24//64", SPF_M_A, SPF_PASS, "", 24, 64 },
		{ "v=spf1 a:foo.example.com/0//0", SPF_M_A, SPF_PASS,
		  "foo.example.com", 0, 0 },
		{ "v=spf1 a:a:b.example.com", SPF_M_A, SPF_PASS,
		  "a:b.example.com", 32, 128 },
		{ "v=spf1 ?mx:%{d}/30", SPF_M_MX, SPF_NEUTRAL, "%{d}", 30,
		  128 },
		{ "v=spf1 MX//128", SPF_M_MX, SPF_PASS, "", 32, 128 },
		{ "v=spf1 ptr", SPF_M_PTR, SPF_PASS, "", 32, 128 },
		{ "v=spf1 ptr:example.com", SPF_M_PTR, SPF_PASS,
		  "example.com", 32, 128 },
		{ "v=spf1 ip4:192.0.2.0/24", SPF_M_IP4, SPF_PASS, "", 24,
		  128 },
		{ "v=spf1 ip4:0.0.0.0/0", SPF_M_IP4, SPF_PASS, "", 0, 128 },
		{ "v=spf1 -ip6:2001:db8::/32", SPF_M_IP6, SPF_FAIL, "", 32,
		  32 },
		{ "v=spf1 ip6:::1", SPF_M_IP6, SPF_PASS, "", 32, 128 },
		{ "v=spf1 ip6:::ffff:1.2.3.4/120", SPF_M_IP6, SPF_PASS, "",
		  32, 120 },
		{ "v=spf1 exists:%{ir}.%{v}._spf.%{d2}", SPF_M_EXISTS,
		  SPF_PASS, "%{ir}.%{v}._spf.%{d2}", 32, 128 },
		{ "v=spf1 a:xn--zckzah.xn--zckzah", SPF_M_A, SPF_PASS,
		  "xn--zckzah.xn--zckzah", 32, 128 },
		{ "v=spf1 a:foo.example.com.", SPF_M_A, SPF_PASS,
		  "foo.example.com.", 32, 128 },
		{ "v=spf1 a:foo.%{d}", SPF_M_A, SPF_PASS, "foo.%{d}", 32,
		  128 },
		{ "v=spf1    a    ", SPF_M_A, SPF_PASS, "", 32, 128 },
	};
	struct spf_term terms[NTERMS];
	struct spf_record rec;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse(cases[i].text, &rec, terms);

		if (rc != 0)
			fail_msg("%s: %s", cases[i].text, rec.err);
		assert_int_equal(rec.n, 1);
		assert_int_equal(terms[0].mech, cases[i].mech);
		assert_int_equal(terms[0].result, cases[i].result);
		assert_int_equal(terms[0].spec.len, strlen(cases[i].spec));
		assert_memory_equal(terms[0].spec.p ? terms[0].spec.p : "",
		    cases[i].spec, strlen(cases[i].spec));
		assert_int_equal(terms[0].cidr4, cases[i].cidr4);
		assert_int_equal(terms[0].cidr6, cases[i].cidr6);
	}
}

/* RFC 7208 4.6: a syntax error anywhere makes the record a permerror. */
static void
test_syntax_errors(void **state)
{
	static const char *const cases[] = {
		"v=spf1 foo",
		"v=spf1 -all:x",
		"v=spf1 all/24",
		"v=spf1 include",
		"v=spf1 include:",
		"v=spf1 exists",
		"v=spf1 a:",
		"v=spf1 a/33",
		"v=spf1 a//129",
		"v=spf1 a/024",
		"v=spf1 a/",
		"v=spf1 a:example.com/24/64",
		"v=spf1 a:museum",
		"v=spf1 a:museum.",
		"v=spf1 a:foo.1example.123",
		"v=spf1 a:foo.-bar",
		"v=spf1 a:foo.bar-",
		"v=spf1 ptr/24",
		"v=spf1 ip4",
		"v=spf1 ip4:",
		"v=spf1 ip4:1.2.3",
		"v=spf1 ip4:1.2.3.4.5",
		"v=spf1 ip4:1.2.3.256",
		"v=spf1 ip4:01.2.3.4",
		"v=spf1 ip4:1.2.3.4/33",
		"v=spf1 ip4:1.2.3.4//32",
		"v=spf1 ip6:1.2.3.4",
		"v=spf1 ip6:2001:db8::/129",
		"v=spf1 ip6:2001:db8::g",
		"v=spf1 ip6",
		"v=spf1 redirect=",
		"v=spf1 exp=",
		"v=spf1 redirect=a.example.com redirect=b.example.com",
		"v=spf1 exp=a.example.com exp=b.example.com",
		"v=spf1 1foo=bar",
		"v=spf1 -all foo=%{q}",
		"v=spf1 a:%{c}.example.com",
		"v=spf1 a:%{d0}.example.com",
		"v=spf1 a:%{d",
		"v=spf1 a:foo%.example.com",
		"v=spf1 a:\xc3\xa9.example.com",
		"v=spf1 -all x=\x01",
		"v=spf1 =foo",
		"v=spf1 a:%{d}.",
	};
	struct spf_term terms[NTERMS];
	struct spf_record rec;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i], &rec, terms) != ERR_SYNTAX)
			fail_msg("accepted: %s", cases[i]);
		assert_non_null(rec.err);
	}
}

static void
test_modifiers(void **state)
{
	static const char text[] = "v=spf1 ip4:192.0.2.1 Redirect=_spf.%{d}"
	    " exp=explain._spf.%{d} moo.cow-far_out=man:dog/cat x=%{c}%{r}%{t}"
	    " -ip6:2001:db8::1 ?ip4:10.0.0.0/8";
	struct spf_term terms[NTERMS];
	struct spf_record rec;

	(void)state;
	assert_int_equal(parse(text, &rec, terms), 0);
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.redirect.len, strlen("_spf.%{d}"));
	assert_memory_equal(rec.redirect.p, "_spf.%{d}", rec.redirect.len);
	assert_true(rec.redirect_flags & SPF_MF_MACRO);
	assert_memory_equal(rec.exp.p, "explain._spf.%{d}", rec.exp.len);
	assert_int_equal(terms[0].mech, SPF_M_IP4);
	assert_memory_equal(terms[0].addr, "\xc0\x00\x02\x01", 4);
	assert_int_equal(terms[1].mech, SPF_M_IP6);
	assert_int_equal(terms[1].result, SPF_FAIL);
	assert_memory_equal(terms[1].addr,
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	assert_int_equal(terms[2].cidr4, 8);
	assert_int_equal(terms[2].result, SPF_NEUTRAL);
}

static void
test_limits(void **state)
{
	static const char text[] = "v=spf1 a a a a";
	struct spf_term terms[3];
	struct spf_record rec = { .term = terms, .cap = 3 };

	(void)state;
	assert_int_equal(spf_record_parse(text, strlen(text), &rec),
	    ERR_LIMIT);
	assert_true(spf_record_max_terms(strlen(text)) >= 4);
	/* A record that is only the version has no terms. */
	rec.cap = 3;
	assert_int_equal(spf_record_parse("v=spf1", 6, &rec), 0);
	assert_int_equal(rec.n, 0);
	/* The parser must not read past len (no NUL needed). */
	assert_int_equal(spf_record_parse("v=spf1 -allx", 11, &rec), 0);
	assert_int_equal(rec.n, 1);
	assert_int_equal(terms[0].mech, SPF_M_ALL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_modifiers),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
