/*
 * Tag lists, base64, domain syntax, DKIM-Signature and key record parsing
 * (RFC 6376 3.2, 3.5, 3.6.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "dkim/dkim_int.h"

static const struct {
	const char *in;
	int rc;
	const char *dump; /* name=value| per tag when rc == 0 */
} tag_cases[] = {
	{ "", 0, "" },
	{ "a=1", 0, "a=1|" },
	{ "a=1;", 0, "a=1|" },
	{ "a=1; ", 0, "a=1|" },
	{ " a = 1 ; b=2 ", 0, "a=1|b=2|" },
	/* Folding around tags and inside values (RFC 6376 3.2 FWS). */
	{ "a=1;\r\n\tb=x y\r\n z;\r\n c=", 0, "a=1|b=x y\r\n z|c=|" },
	{ "v=1; h=from : to", 0, "v=1|h=from : to|" },
	{ "k_2=v", 0, "k_2=v|" },
	/* Empty values are values (p= revoked). */
	{ "p=", 0, "p=|" },
	{ "p=;t=y", 0, "p=|t=y|" },
	/* Case matters: A and a are different tags. */
	{ "a=1;A=2", 0, "a=1|A=2|" },
	/* Duplicates make the list invalid (3.2). */
	{ "a=1;a=2", ERR_SYNTAX, NULL },
	{ "a=1; b=2; a=1", ERR_SYNTAX, NULL },
	{ "=1", ERR_SYNTAX, NULL },
	{ "1a=1", ERR_SYNTAX, NULL },
	{ "_a=1", ERR_SYNTAX, NULL },
	{ "a", ERR_SYNTAX, NULL },
	{ "a 1=2", ERR_SYNTAX, NULL },
	{ ";", ERR_SYNTAX, NULL },
	{ "a=1;;b=2", ERR_SYNTAX, NULL },
	/* A CRLF not followed by WSP is not folding. */
	{ "a=1\r\nb=2", ERR_SYNTAX, NULL },
	{ "a=1\r\n", ERR_SYNTAX, NULL },
	{ "a=x\ry", ERR_SYNTAX, NULL },
	{ "a=x\ny", ERR_SYNTAX, NULL },
	{ "a=\x01", ERR_SYNTAX, NULL },
	/* "v=DKIM1:" is one tag v with the value "DKIM1: g=*". */
	{ "v=DKIM1: g=*; k=rsa", 0, "v=DKIM1: g=*|k=rsa|" },
	{ "i=j\xc3\xb6rg@example.com", 0, "i=j\xc3\xb6rg@example.com|" },
};

static void
test_tags(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tag_cases) / sizeof(tag_cases[0]); i++) {
		struct dkim_taglist tl;
		const char *why = NULL;
		char dump[512];
		size_t k, n = 0;
		int rc;

		rc = dkim_tags_parse(tag_cases[i].in, strlen(tag_cases[i].in),
		    &tl, &why);
		if (rc != tag_cases[i].rc)
			fail_msg("case %zu \"%s\": rc %d", i, tag_cases[i].in,
			    rc);
		if (rc < 0) {
			assert_non_null(why);
			continue;
		}
		for (k = 0; k < tl.n; k++)
			n += (size_t)snprintf(dump + n, sizeof(dump) - n,
			    "%.*s=%.*s|", (int)tl.tag[k].name.len,
			    tl.tag[k].name.p, (int)tl.tag[k].value.len,
			    tl.tag[k].value.p);
		dump[n] = '\0';
		assert_string_equal(dump, tag_cases[i].dump);
	}
}

static void
test_tags_raw_and_limit(void **state)
{
	const char *in = "a=1; b= AB\r\n CD ; c=2";
	struct dkim_taglist tl;
	const char *why;
	char big[DKIM_TAGS_MAX * 8 + 16];
	size_t i, n = 0;

	(void)state;
	assert_int_equal(dkim_tags_parse(in, strlen(in), &tl, &why), 0);
	/* raw: everything between '=' and ';', what b= emptying removes. */
	assert_int_equal(tl.tag[1].raw.len, strlen(" AB\r\n CD "));
	assert_memory_equal(tl.tag[1].raw.p, " AB\r\n CD ", tl.tag[1].raw.len);
	assert_non_null(dkim_tags_get(&tl, "c"));
	assert_null(dkim_tags_get(&tl, "d"));

	for (i = 0; i < DKIM_TAGS_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "t%zu=1;", i);
	assert_int_equal(dkim_tags_parse(big, n, &tl, &why), 0);
	assert_int_equal(tl.n, DKIM_TAGS_MAX);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "x=1");
	assert_int_equal(dkim_tags_parse(big, n, &tl, &why), ERR_LIMIT);
}

static void
test_base64(void **state)
{
	static const struct {
		const char *in;
		long n;
		const char *out;
	} c[] = {
		{ "", 0, "" },
		{ "QQ==", 1, "A" },
		{ "QUI=", 2, "AB" },
		{ "QUJD", 3, "ABC" },
		{ " Q U\r\n\tJ D R A = = ", 4, "ABCD" },
		{ "QUJDRA=", -1, NULL },
		{ "QUJDRA===", -1, NULL },
		{ "QQ==QQ==", -1, NULL },
		{ "QUJ", -1, NULL },
		{ "QU*D", -1, NULL },
		{ "Q===", -1, NULL },
		/* Whole groups and groups cut by folding, in turn. */
		{ "QUJDREVGR0hJSg==", 10, "ABCDEFGHIJ" },
		{ "QU JDREVG\r\n\tR0hJ Sg= =", 10, "ABCDEFGHIJ" },
		{ "QUJDREVGR0hJSg==QUJD", -1, NULL },
		{ "QUJDREVG*0hJSg==", -1, NULL },
	};
	unsigned char out[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		long n = dkim_base64_decode(span_cstr(c[i].in), out,
		    sizeof(out));

		if (n != c[i].n)
			fail_msg("base64 \"%s\": %ld", c[i].in, n);
		if (n > 0)
			assert_memory_equal(out, c[i].out, (size_t)n);
	}
	/* Output bound. */
	assert_int_equal(dkim_base64_decode(span_cstr("QUJDRA=="), out, 3),
	    -1);
}

static void
test_domain(void **state)
{
	(void)state;
	assert_true(dkim_domain_valid(span_cstr("example.com"), false));
	assert_true(dkim_domain_valid(span_cstr("a-b.c0"), false));
	assert_true(dkim_domain_valid(span_cstr("20120113"), true));
	assert_true(dkim_domain_valid(span_cstr("s_1.sub"), true));
	assert_false(dkim_domain_valid(span_cstr("s_1"), false));
	assert_false(dkim_domain_valid(
	    span_cstr("legitimate.com(.attacker.com"), false));
	assert_false(dkim_domain_valid(span_cstr(""), false));
	assert_false(dkim_domain_valid(span_cstr("a..b"), false));
	assert_false(dkim_domain_valid(span_cstr(".a"), false));
	assert_false(dkim_domain_valid(span_cstr("a."), false));
	assert_false(dkim_domain_valid(span_cstr("-a.b"), false));
	assert_false(dkim_domain_valid(span_cstr("a-.b"), false));
	assert_false(dkim_domain_valid(span_cstr("a b"), false));
	assert_false(dkim_domain_valid(span_cstr(
	    "a234567890123456789012345678901234567890123456789012345678901234"
	    ".com"), false));
}

/* A valid signature; cases below replace or add one tag. */
#define SIG_B "dGVzdA=="
#define SIG_BH "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

static const struct {
	const char *in;
	int rc;
	const char *why;
} sig_cases[] = {
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; bh=" SIG_BH
	  "; b=" SIG_B, 0, NULL },
	{ "v=1; a=ed25519-sha256; c=relaxed; d=example.com; s=s.sel;\r\n"
	  "\th=From : Subject; i=@mail.example.com; q=dns/txt; l=10;"
	  " t=1; x=2; z=foo; unknown=ignored; bh=" SIG_BH "; b=" SIG_B,
	  0, NULL },
	{ "v=1; a=rsa-sha1; d=example.com; s=sel; h=from; "
	  "bh=2jmj7l5rSw0yVb/vlWAYkK/YBwk=; b=" SIG_B, 0, NULL },
	{ "v=2; a=rsa-sha256; d=example.com; s=sel; h=from; bh=" SIG_BH
	  "; b=" SIG_B, ERR_SYNTAX, "unsupported version" },
	{ "a=rsa-sha256; d=example.com; s=sel; h=from; bh=" SIG_BH
	  "; b=" SIG_B, ERR_SYNTAX, "missing v=" },
	{ "v=1; a=rsa-sha512; d=example.com; s=sel; h=from; bh=" SIG_BH
	  "; b=" SIG_B, ERR_SYNTAX, "unknown algorithm" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=" SIG_BH,
	  ERR_SYNTAX, "missing b=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; b=" SIG_B,
	  ERR_SYNTAX, "missing bh=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=" SIG_B
	  "; b=" SIG_B, ERR_SYNTAX, "bad bh= value" },
	{ "v=1; a=rsa-sha256; s=sel; h=from; bh=" SIG_BH "; b=" SIG_B,
	  ERR_SYNTAX, "missing d=" },
	{ "v=1; a=rsa-sha256; d=example.com; h=from; bh=" SIG_BH
	  "; b=" SIG_B, ERR_SYNTAX, "missing s=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; bh=" SIG_BH
	  "; b=" SIG_B, ERR_SYNTAX, "missing h=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=to:subject; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "From not signed" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from::to; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "bad h= field name" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from;"
	  " i=u@example.org; bh=" SIG_BH "; b=" SIG_B,
	  ERR_SYNTAX, "i= not within d=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from;"
	  " i=u@badexample.com; bh=" SIG_BH "; b=" SIG_B,
	  ERR_SYNTAX, "i= not within d=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from;"
	  " i=example.com; bh=" SIG_BH "; b=" SIG_B,
	  ERR_SYNTAX, "i= not within d=" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; c=fancy; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "unknown canonicalization" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; c=simple/x;"
	  " bh=" SIG_BH "; b=" SIG_B, ERR_SYNTAX, "unknown canonicalization" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; l=-1; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "bad l= value" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; q=http; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "no usable q= method" },
	{ "v=1; a=rsa-sha256; d=exa_mple.com; s=sel; h=from; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "bad d= domain" },
	{ "v=1; a=rsa-sha256; d=example.com; s=se l; h=from; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "bad s= selector" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; t=x; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "bad t= value" },
	{ "v=1; v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh="
	  SIG_BH "; b=" SIG_B, ERR_SYNTAX, "duplicate tag" },
	{ "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=" SIG_BH
	  "; b=", ERR_SYNTAX, "bad b= value" },
};

static void
test_sig(void **state)
{
	static struct dkim_sig sig;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sig_cases) / sizeof(sig_cases[0]); i++) {
		const char *why = NULL;
		int rc = dkim_sig_parse(sig_cases[i].in,
		    strlen(sig_cases[i].in), &sig, &why);

		if (rc != sig_cases[i].rc)
			fail_msg("sig case %zu: rc %d (%s)", i, rc,
			    why ? why : "");
		if (rc < 0)
			assert_string_equal(why, sig_cases[i].why);
	}
}

static void
test_sig_fields(void **state)
{
	static struct dkim_sig sig;
	const char *in = sig_cases[1].in, *why;

	(void)state;
	assert_int_equal(dkim_sig_parse(in, strlen(in), &sig, &why), 0);
	assert_int_equal(sig.alg, DKIM_A_ED25519_SHA256);
	/* c=relaxed alone means relaxed/simple (3.5 c=). */
	assert_int_equal(sig.hcanon, DKIM_C_RELAXED);
	assert_int_equal(sig.bcanon, DKIM_C_SIMPLE);
	assert_int_equal(sig.nh, 2);
	assert_memory_equal(sig.h[0].p, "From", 4);
	assert_memory_equal(sig.h[1].p, "Subject", 7);
	assert_true(sig.has_l);
	assert_int_equal(sig.l, 10);
	assert_int_equal(sig.t, 1);
	assert_int_equal(sig.x, 2);
	assert_int_equal(sig.blen, 4);
	assert_memory_equal(sig.b, "test", 4);

	/* An l= beyond 64 bits is as good as unlimited, not an error. */
	in = "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; "
	    "l=99999999999999999999999999999; bh=" SIG_BH "; b=" SIG_B;
	assert_int_equal(dkim_sig_parse(in, strlen(in), &sig, &why), 0);
	assert_true(sig.l == ~0ULL);

	/* d=, s= and a= are kept even when the signature is bad. */
	in = "v=1; a=rsa-sha256; d=example.com; s=sel; h=to; bh=" SIG_BH
	    "; b=" SIG_B;
	assert_int_equal(dkim_sig_parse(in, strlen(in), &sig, &why),
	    ERR_SYNTAX);
	assert_int_equal(sig.d.len, 11);
	assert_int_equal(sig.s.len, 3);
}

static const struct {
	const char *in;
	int rc;
	const char *why;
	enum dkim_keytype k;
	bool testing, strict, revoked;
} key_cases[] = {
	{ "v=DKIM1; k=rsa; p=QUJD", 0, NULL, DKIM_K_RSA, 0, 0, 0 },
	{ "p=QUJD", 0, NULL, DKIM_K_RSA, 0, 0, 0 },
	{ "k=ed25519; p=QUJD", 0, NULL, DKIM_K_ED25519, 0, 0, 0 },
	{ "v=DKIM1; h=sha1:sha256; s=email; t=y:s:q; n=hi; p=QUJD", 0, NULL,
	  DKIM_K_RSA, 1, 1, 0 },
	{ "v=DKIM1; s=*; p=", 0, NULL, DKIM_K_RSA, 0, 0, 1 },
	{ "v=DKIM1; p = QU\r\n JD ;", 0, NULL, DKIM_K_RSA, 0, 0, 0 },
	{ "k=rsa; v=DKIM1; p=QUJD", ERR_SYNTAX, "bad key record version",
	  DKIM_K_RSA, 0, 0, 0 },
	{ "v=DKIM2; p=QUJD", ERR_SYNTAX, "bad key record version",
	  DKIM_K_RSA, 0, 0, 0 },
	{ "v=DKIM1: g=*; k=rsa; p=QUJD", ERR_SYNTAX,
	  "bad key record version", DKIM_K_RSA, 0, 0, 0 },
	{ "v=DKIM1; h=sha1; p=QUJD", ERR_SYNTAX, "key does not allow sha256",
	  DKIM_K_RSA, 0, 0, 0 },
	{ "v=DKIM1; k=ed25519-sha256; p=QUJD", ERR_SYNTAX,
	  "unknown key type", DKIM_K_RSA, 0, 0, 0 },
	{ "v=DKIM1; s=tlsrpt; p=QUJD", ERR_SYNTAX, "key not for email",
	  DKIM_K_RSA, 0, 0, 0 },
	{ "v=DKIM1; k=rsa", ERR_SYNTAX, "key record without p=",
	  DKIM_K_RSA, 0, 0, 0 },
	{ "v=DKIM1; p=QUJ", ERR_SYNTAX, "bad p= value", DKIM_K_RSA, 0, 0, 0 },
	{ "v=DKIM1; p=1; p=2", ERR_SYNTAX, "key record syntax error",
	  DKIM_K_RSA, 0, 0, 0 },
};

static void
test_keyrec(void **state)
{
	struct dkim_keyrec kr;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const char *why = NULL;
		int rc = dkim_keyrec_parse(key_cases[i].in,
		    strlen(key_cases[i].in), &kr, &why);

		if (rc != key_cases[i].rc)
			fail_msg("key case %zu: rc %d (%s)", i, rc,
			    why ? why : "");
		if (rc < 0) {
			assert_string_equal(why, key_cases[i].why);
			continue;
		}
		assert_int_equal(kr.k, key_cases[i].k);
		assert_int_equal(kr.testing, key_cases[i].testing);
		assert_int_equal(kr.strict, key_cases[i].strict);
		assert_int_equal(kr.revoked, key_cases[i].revoked);
		if (!kr.revoked) {
			assert_int_equal(kr.plen, 3);
			assert_memory_equal(kr.p, "ABC", 3);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_tags_raw_and_limit),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_sig),
		cmocka_unit_test(test_sig_fields),
		cmocka_unit_test(test_keyrec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
