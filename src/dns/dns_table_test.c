/*
 * Tests for the table resolver and the dispatch in dns.c: what SPF, DKIM and
 * iprev tests rely on when they fake DNS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "dns/dns.h"

struct got {
	int calls;
	enum dns_status status;
	const char *why;
	size_t count;
	char data[8][300];
	size_t len[8];
	uint16_t pref[8];
};

static void
on_answer(void *arg, const struct dns_answer *a)
{
	struct got *g = arg;
	size_t i;

	g->calls++;
	g->status = a->status;
	g->why = a->why;
	g->count = a->count;
	for (i = 0; i < a->count && i < 8; i++) {
		assert_true(a->rr[i].len < sizeof(g->data[i]));
		memcpy(g->data[i], a->rr[i].data, a->rr[i].len + 1);
		g->len[i] = a->rr[i].len;
		g->pref[i] = a->rr[i].pref;
	}
}

struct fix {
	struct event_base *base;
	struct dns *dns;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	f->base = event_base_new();
	f->dns = dns_new_table(f->base);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	dns_free(f->dns);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* Runs one query to completion and checks the callback ran exactly once. */
static void
ask(struct fix *f, const char *name, enum dns_type type, struct got *g)
{
	memset(g, 0, sizeof(*g));
	assert_non_null(dns_query(f->dns, name, type, on_answer, g));
	assert_int_equal(g->calls, 0); /* never from inside dns_query() */
	event_base_loop(f->base, 0);
	assert_int_equal(g->calls, 1);
}

static void
test_a_aaaa(void **state)
{
	struct fix *f = *state;
	static const unsigned char v4[4] = { 192, 0, 2, 1 };
	static const unsigned char v6[16] = { 0x20, 0x01, 0x0d, 0xb8,
		[15] = 1 };
	struct got g;

	assert_int_equal(dns_table_add_text(f->dns, "mx.example.test",
	    DNS_T_A, "192.0.2.1"), 0);
	assert_int_equal(dns_table_add_text(f->dns, "mx.example.test",
	    DNS_T_AAAA, "2001:db8::1"), 0);
	assert_int_equal(dns_table_add_text(f->dns, "bad.test", DNS_T_A,
	    "192.0.2.300"), ERR_SYNTAX);
	ask(f, "mx.example.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_OK);
	assert_int_equal(g.count, 1);
	assert_int_equal(g.len[0], 4);
	assert_memory_equal(g.data[0], v4, 4);
	ask(f, "MX.Example.TEST.", DNS_T_AAAA, &g);
	assert_int_equal(g.status, DNS_OK);
	assert_int_equal(g.len[0], 16);
	assert_memory_equal(g.data[0], v6, 16);
	assert_int_equal(dns_table_queries(f->dns), 2);
}

static void
test_nxdomain_nodata(void **state)
{
	struct fix *f = *state;
	struct got g;

	dns_table_add_text(f->dns, "a.test", DNS_T_A, "192.0.2.1");
	ask(f, "b.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_NXDOMAIN);
	assert_int_equal(g.count, 0);
	ask(f, "a.test", DNS_T_TXT, &g);
	assert_int_equal(g.status, DNS_NODATA);
	assert_int_equal(g.count, 0);
}

static void
test_cname(void **state)
{
	struct fix *f = *state;
	struct got g;

	dns_table_add_text(f->dns, "alias.test", DNS_T_CNAME, "mid.test.");
	dns_table_add_text(f->dns, "mid.test", DNS_T_CNAME, "Target.test");
	dns_table_add_text(f->dns, "target.test", DNS_T_A, "192.0.2.7");
	dns_table_add_text(f->dns, "loop1.test", DNS_T_CNAME, "loop2.test");
	dns_table_add_text(f->dns, "loop2.test", DNS_T_CNAME, "loop1.test");
	dns_table_add_text(f->dns, "dangling.test", DNS_T_CNAME, "gone.test");

	ask(f, "alias.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_OK);
	assert_int_equal(g.count, 1);
	assert_memory_equal(g.data[0], "\xc0\x00\x02\x07", 4);
	ask(f, "alias.test", DNS_T_TXT, &g);
	assert_int_equal(g.status, DNS_NODATA);
	ask(f, "alias.test", DNS_T_CNAME, &g);
	assert_int_equal(g.status, DNS_OK);
	assert_string_equal(g.data[0], "mid.test");
	ask(f, "loop1.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_NODATA);
	ask(f, "dangling.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_NXDOMAIN);
}

static void
test_tempfail(void **state)
{
	struct fix *f = *state;
	struct got g;

	dns_table_add_text(f->dns, "slow.test", DNS_T_TXT, "v=spf1 -all");
	dns_table_timeout(f->dns, "slow.test");
	dns_table_servfail(f->dns, "broken.test");
	dns_table_add_text(f->dns, "via.test", DNS_T_CNAME, "broken.test");

	/* Records that were added still answer; other types time out. */
	ask(f, "slow.test", DNS_T_TXT, &g);
	assert_int_equal(g.status, DNS_OK);
	ask(f, "slow.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_TEMPFAIL);
	assert_string_equal(g.why, "timeout");
	ask(f, "broken.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_TEMPFAIL);
	assert_string_equal(g.why, "servfail");
	ask(f, "via.test", DNS_T_MX, &g);
	assert_int_equal(g.status, DNS_TEMPFAIL);
}

static void
test_cancel_and_free(void **state)
{
	struct fix *f = *state;
	struct dns_query *q1, *q2;
	struct got g1 = { 0 }, g2 = { 0 }, g3 = { 0 };

	dns_table_add_text(f->dns, "a.test", DNS_T_A, "192.0.2.1");
	q1 = dns_query(f->dns, "a.test", DNS_T_A, on_answer, &g1);
	q2 = dns_query(f->dns, "a.test", DNS_T_A, on_answer, &g2);
	assert_non_null(q1);
	assert_non_null(q2);
	dns_cancel(q1);
	event_base_loop(f->base, 0);
	assert_int_equal(g1.calls, 0);
	assert_int_equal(g2.calls, 1);

	/* dns_free() drops outstanding queries without calling back. */
	assert_non_null(dns_query(f->dns, "a.test", DNS_T_A, on_answer, &g3));
	dns_free(f->dns);
	f->dns = NULL;
	event_base_loop(f->base, 0);
	assert_int_equal(g3.calls, 0);
	dns_free(NULL);
}

static void
test_bad_names(void **state)
{
	struct fix *f = *state;
	static const char *const bad[] = {
		"", ".", "..", "a..b", ".a", "a\tb", "a\177b",
		("x2345678901234567890123456789012345678901234567890123456789"
		"01234.test"),
	};
	char longname[300];
	struct got g = { 0 };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(dns_query(f->dns, bad[i], DNS_T_A, on_answer, &g));
	/* 254 characters: one past the limit of RFC 1035. */
	for (i = 0; i < 254; i++)
		longname[i] = i % 2 ? '.' : 'a';
	longname[254] = '\0';
	longname[253] = 'a';
	assert_null(dns_query(f->dns, longname, DNS_T_A, on_answer, &g));
	longname[252] = '\0';
	assert_non_null(dns_query(f->dns, longname, DNS_T_A, on_answer, &g));
	assert_null(dns_query(f->dns, "ok.test", (enum dns_type)99, on_answer,
	    &g));
	/* Labels are octets (RFC 2181 11): SPF's "%_" makes spaces. */
	assert_non_null(dns_query(f->dns, "a b.test", DNS_T_A, on_answer, &g));
	event_base_loop(f->base, 0);
	assert_int_equal(g.calls, 2);
	assert_int_equal(g.status, DNS_NXDOMAIN);
	assert_int_equal(dns_table_queries(f->dns), 2);
	/* A label of 63 octets is fine, 64 is not. */
	assert_non_null(dns_query(f->dns,
	    "x2345678901234567890123456789012345678901234567890123456789012"
	    "3.test", DNS_T_A, on_answer, &g));
	event_base_loop(f->base, 0);
}

static void
test_mx(void **state)
{
	struct fix *f = *state;
	struct got g;

	dns_table_add_mx(f->dns, "example.test", 10, "MX1.example.test.");
	assert_int_equal(dns_table_add_text(f->dns, "example.test", DNS_T_MX,
	    "20 mx2.example.test"), 0);
	dns_table_add_mx(f->dns, "null.test", 0, "."); /* RFC 7505 */
	assert_int_equal(dns_table_add_text(f->dns, "x.test", DNS_T_MX,
	    "mx.test"), ERR_SYNTAX);
	ask(f, "example.test", DNS_T_MX, &g);
	assert_int_equal(g.count, 2);
	assert_int_equal(g.pref[0], 10);
	assert_string_equal(g.data[0], "mx1.example.test");
	assert_int_equal(g.pref[1], 20);
	assert_string_equal(g.data[1], "mx2.example.test");
	ask(f, "null.test", DNS_T_MX, &g);
	assert_int_equal(g.count, 1);
	assert_int_equal(g.len[0], 0);
}

static void
test_load(void **state)
{
	struct fix *f = *state;
	static const char zone[] =
	    "; a comment\n"
	    "# another\n"
	    "\n"
	    "example.test. 300 IN TXT \"v=spf1 \" \"ip4:192.0.2.0/24\" "
	    "\"-all\"\r\n"
	    "example.test IN 300 MX 10 mx.example.test.\n"
	    "  mx.example.test A 192.0.2.25\n"
	    "mx.example.test aaaa 2001:db8:3::25\n"
	    "25.2.0.192.in-addr.arpa PTR mx.example.test\n"
	    "www.example.test CNAME mx.example.test\n"
	    "esc.test TXT \"a\\\"b\\\\c\\059d\"\n"
	    "bare.test TXT v=DKIM1; p=abc\n"
	    "slow.test TIMEOUT\n"
	    "broken.test servfail";
	struct got g;

	assert_int_equal(dns_table_load(f->dns, zone, sizeof(zone) - 1), 0);
	ask(f, "example.test", DNS_T_TXT, &g);
	assert_int_equal(g.status, DNS_OK);
	assert_string_equal(g.data[0], "v=spf1 ip4:192.0.2.0/24-all");
	ask(f, "example.test", DNS_T_MX, &g);
	assert_int_equal(g.pref[0], 10);
	assert_string_equal(g.data[0], "mx.example.test");
	ask(f, "www.example.test", DNS_T_AAAA, &g);
	assert_int_equal(g.status, DNS_OK);
	assert_int_equal(g.len[0], 16);
	ask(f, "25.2.0.192.in-addr.arpa", DNS_T_PTR, &g);
	assert_string_equal(g.data[0], "mx.example.test");
	ask(f, "esc.test", DNS_T_TXT, &g);
	assert_string_equal(g.data[0], "a\"b\\c;d");
	ask(f, "bare.test", DNS_T_TXT, &g);
	assert_string_equal(g.data[0], "v=DKIM1; p=abc");
	ask(f, "slow.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_TEMPFAIL);
	ask(f, "broken.test", DNS_T_TXT, &g);
	assert_int_equal(g.status, DNS_TEMPFAIL);
}

static void
test_load_errors(void **state)
{
	struct fix *f = *state;
	static const struct {
		const char *text;
		int rc;
	} cases[] = {
		{ "a.test A 192.0.2.1\nb.test A nope\n", -2 },
		{ "a.test BOGUS x\n", -1 },
		{ "a.test A\n", -1 },
		{ "a.test A 192.0.2.1 extra\n", -1 },
		{ "a..test A 192.0.2.1\n", -1 },
		{ "a.test TXT \"unterminated\n", -1 },
		{ "a.test TXT \"x\" junk\n", -1 },
		{ "a.test TXT \"\\25\"\n", -1 },
		{ "a.test TIMEOUT now\n", -1 },
		{ "a.test 300 300 A 192.0.2.1\n", -1 },
		{ "a.test IN IN A 192.0.2.1\n", -1 },
		{ "a.test MX 70000 mx.test\n", -1 },
		{ "a.test PTR bad..name\n", -1 },
		{ "; ok\n\na.test CNAME b.test\nc.test\n", -4 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(dns_table_load(f->dns, cases[i].text,
		    strlen(cases[i].text)), cases[i].rc);
}

/* The parser reads only len bytes: no NUL needed, none read past. */
static void
test_load_bounded(void **state)
{
	struct fix *f = *state;
	char *buf = malloc(18);
	struct got g;

	memcpy(buf, "z.test A 192.0.2.9", 18);
	assert_int_equal(dns_table_load(f->dns, buf, 18), 0);
	free(buf);
	ask(f, "z.test", DNS_T_A, &g);
	assert_int_equal(g.status, DNS_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_aaaa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain_nodata, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tempfail, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_free, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_bounded, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
