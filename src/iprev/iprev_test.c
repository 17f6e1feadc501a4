/*
 * Tests for iprev over the table resolver: every result class, the PTR
 * walk limits, CNAMEs on both sides, address forms, and the text helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "base/err.h"
#include "iprev/iprev.h"

/* 2001:db8:3::25 and 192.0.2.25, as reverse names. */
#define REV6 "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.8.b.d.0.1.0.0.2" \
	".ip6.arpa"
#define REV4 "25.2.0.192.in-addr.arpa"

static const char zone[] =
    /* pass, IPv6 and IPv4 */
    REV6 " PTR mx.example.test\n"
    "mx.example.test AAAA 2001:db8:3::25\n"
    REV4 " PTR mx4.example.test.\n"
    "mx4.example.test A 192.0.2.25\n"
    /* 2001:db8:3::26: NODATA at the reverse name */
    "6.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    " TXT \"not a ptr\"\n"
    /* 192.0.2.27: PTR to a name with another address */
    "27.2.0.192.in-addr.arpa PTR other.example.test\n"
    "other.example.test A 192.0.2.99\n"
    /* 192.0.2.28: PTR to a name that does not exist */
    "28.2.0.192.in-addr.arpa PTR gone.example.test\n"
    /* 192.0.2.29: three names, only the third maps back */
    "29.2.0.192.in-addr.arpa PTR one.example.test\n"
    "29.2.0.192.in-addr.arpa PTR two.example.test\n"
    "29.2.0.192.in-addr.arpa PTR three.example.test\n"
    "one.example.test A 192.0.2.1\n"
    "two.example.test AAAA 2001:db8:3::29\n"
    "three.example.test A 192.0.2.29\n"
    /* 192.0.2.30: not host names, though they map back */
    "30.2.0.192.in-addr.arpa PTR bad_name.example.test\n"
    "bad_name.example.test A 192.0.2.30\n"
    "30.2.0.192.in-addr.arpa PTR 192.0.2.30\n"
    "192.0.2.30 A 192.0.2.30\n"
    /* 192.0.2.31: RFC 2317 CNAME on the reverse side, CNAME forward */
    "31.2.0.192.in-addr.arpa CNAME 31.0-63.2.0.192.in-addr.arpa\n"
    "31.0-63.2.0.192.in-addr.arpa PTR www.example.test\n"
    "www.example.test CNAME host.example.test\n"
    "host.example.test A 192.0.2.31\n"
    /* temporary failures */
    "32.2.0.192.in-addr.arpa SERVFAIL\n"
    "33.2.0.192.in-addr.arpa TIMEOUT\n"
    "34.2.0.192.in-addr.arpa PTR slow.example.test\n"
    "slow.example.test TIMEOUT\n"
    "35.2.0.192.in-addr.arpa PTR slow.example.test\n"
    "35.2.0.192.in-addr.arpa PTR fast.example.test\n"
    "fast.example.test A 192.0.2.35\n"
    /* 2001:db8:3::36: a v6 client whose name has only an A record */
    "6.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    " PTR v4only.example.test\n"
    "v4only.example.test A 192.0.2.36\n";

struct fix {
	struct event_base *base;
	struct dns *dns;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char *many = malloc(4096);
	size_t n = 0;
	int i;

	f->base = event_base_new();
	f->dns = dns_new_table(f->base);
	assert_int_equal(dns_table_load(f->dns, zone, sizeof(zone) - 1), 0);
	/* 192.0.2.40: eleven names, only the eleventh maps back. */
	for (i = 1; i <= 11; i++)
		n += (size_t)snprintf(many + n, 4096 - n,
		    "40.2.0.192.in-addr.arpa PTR n%d.example.test\n"
		    "n%d.example.test A %s\n", i, i,
		    i == 11 ? "192.0.2.40" : "192.0.2.1");
	assert_int_equal(dns_table_load(f->dns, many, n), 0);
	free(many);
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

struct got {
	int calls;
	struct iprev_result r;
};

static void
on_result(void *arg, const struct iprev_result *r)
{
	struct got *g = arg;

	g->calls++;
	g->r = *r;
}

static void
sockaddr_of(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
}

static void
check(struct fix *f, const char *client, struct got *g)
{
	struct sockaddr_storage ss;

	memset(g, 0, sizeof(*g));
	sockaddr_of(client, &ss);
	assert_non_null(iprev_start(f->dns, (struct sockaddr *)&ss,
	    on_result, g));
	assert_int_equal(g->calls, 0);
	event_base_loop(f->base, 0);
	assert_int_equal(g->calls, 1);
}

static void
test_results(void **state)
{
	static const struct {
		const char *client;
		enum iprev_status status;
		const char *name;     /* confirmed name */
		const char *ptr_name; /* "" when ptr_exists is false */
		const char *addr;
	} cases[] = {
		{ "2001:db8:3::25", IPREV_PASS, "mx.example.test",
		  "mx.example.test", "2001:db8:3::25" },
		{ "192.0.2.25", IPREV_PASS, "mx4.example.test",
		  "mx4.example.test", "192.0.2.25" },
		{ "::ffff:192.0.2.25", IPREV_PASS, "mx4.example.test",
		  "mx4.example.test", "192.0.2.25" },
		{ "2001:db8:3::99", IPREV_PERMERROR, "", "", "2001:db8:3::99" },
		{ "2001:db8:3::26", IPREV_PERMERROR, "", "", "2001:db8:3::26" },
		{ "192.0.2.27", IPREV_FAIL, "", "other.example.test",
		  "192.0.2.27" },
		{ "192.0.2.28", IPREV_FAIL, "", "gone.example.test",
		  "192.0.2.28" },
		{ "192.0.2.29", IPREV_PASS, "three.example.test",
		  "one.example.test", "192.0.2.29" },
		{ "192.0.2.30", IPREV_FAIL, "", "", "192.0.2.30" },
		{ "192.0.2.31", IPREV_PASS, "www.example.test",
		  "www.example.test", "192.0.2.31" },
		{ "192.0.2.32", IPREV_TEMPERROR, "", "", "192.0.2.32" },
		{ "192.0.2.33", IPREV_TEMPERROR, "", "", "192.0.2.33" },
		{ "192.0.2.34", IPREV_TEMPERROR, "", "slow.example.test",
		  "192.0.2.34" },
		{ "192.0.2.35", IPREV_PASS, "fast.example.test",
		  "slow.example.test", "192.0.2.35" },
		{ "2001:db8:3::36", IPREV_FAIL, "", "v4only.example.test",
		  "2001:db8:3::36" },
		{ "192.0.2.40", IPREV_FAIL, "", "n1.example.test",
		  "192.0.2.40" },
	};
	struct fix *f = *state;
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check(f, cases[i].client, &g);
		if (g.r.status != cases[i].status)
			fail_msg("%s: got %s, want %s", cases[i].client,
			    iprev_status_str(g.r.status),
			    iprev_status_str(cases[i].status));
		assert_string_equal(g.r.name, cases[i].name);
		assert_string_equal(g.r.ptr_name, cases[i].ptr_name);
		assert_int_equal(g.r.ptr_exists, cases[i].ptr_name[0] != '\0');
		assert_string_equal(g.r.addr, cases[i].addr);
		assert_true(g.r.why[0] != '\0');
	}
}

static void
test_reasons(void **state)
{
	static const char *const cases[][2] = {
		{ "2001:db8:3::99", "no ptr" },
		{ "192.0.2.32", "servfail" },
		{ "192.0.2.33", "timeout" },
		{ "192.0.2.25", "forward-confirmed" },
		{ "192.0.2.27", "not forward-confirmed" },
	};
	struct fix *f = *state;
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check(f, cases[i][0], &g);
		assert_string_equal(g.r.why, cases[i][1]);
	}
}

/* Only IPREV_PTR_MAX forward lookups, however many PTR names there are. */
static void
test_ptr_limit(void **state)
{
	struct fix *f = *state;
	unsigned long before = dns_table_queries(f->dns);
	struct got g;

	check(f, "192.0.2.40", &g);
	assert_int_equal(g.r.status, IPREV_FAIL);
	assert_int_equal(dns_table_queries(f->dns) - before,
	    1 + IPREV_PTR_MAX);
}

static void
on_never(void *arg, const struct iprev_result *r)
{
	(void)arg;
	(void)r;
	fail_msg("a cancelled check called back");
}

static void
test_cancel(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage ss;
	unsigned long before;
	struct iprev *ip;

	/* Before the PTR answer. */
	sockaddr_of("192.0.2.29", &ss);
	ip = iprev_start(f->dns, (struct sockaddr *)&ss, on_never, NULL);
	assert_non_null(ip);
	iprev_cancel(ip);
	event_base_loop(f->base, 0);
	/* With the forward lookups out: the table answers the PTR query in
	 * the first loop round and the A queries it starts in the next. */
	ip = iprev_start(f->dns, (struct sockaddr *)&ss, on_never, NULL);
	before = dns_table_queries(f->dns);
	event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(dns_table_queries(f->dns) - before, 3);
	iprev_cancel(ip);
	event_base_loop(f->base, 0);
	iprev_cancel(NULL);
}

struct early {
	int ptr_calls, calls;
	int order; /* the final call came after the early one */
	struct iprev_result ptr, r;
	struct iprev *ip; /* cancel from the early callback when set */
};

static void
on_early_ptr(void *arg, const struct iprev_result *r)
{
	struct early *e = arg;

	e->ptr_calls++;
	e->ptr = *r;
	if (e->ip != NULL)
		iprev_cancel(e->ip);
}

static void
on_early_final(void *arg, const struct iprev_result *r)
{
	struct early *e = arg;

	e->calls++;
	e->order = e->ptr_calls;
	e->r = *r;
}

/*
 * iprev_notify_ptr(): the PTR name comes first, while the forward lookups
 * are out, and the forward-confirmed result still follows. A result
 * decided by the PTR answer alone has no early call.
 */
static void
test_notify_ptr(void **state)
{
	static const struct {
		const char *client;
		int ptr_calls;
		const char *ptr_name;
		enum iprev_status status;
	} cases[] = {
		{ "2001:db8:3::25", 1, "mx.example.test", IPREV_PASS },
		{ "192.0.2.28", 1, "gone.example.test", IPREV_FAIL },
		{ "192.0.2.34", 1, "slow.example.test", IPREV_TEMPERROR },
		{ "2001:db8:3::99", 0, "", IPREV_PERMERROR },
		{ "192.0.2.30", 0, "", IPREV_FAIL },
		{ "192.0.2.33", 0, "", IPREV_TEMPERROR },
	};
	struct fix *f = *state;
	struct sockaddr_storage ss;
	struct early e;
	struct iprev *ip;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		sockaddr_of(cases[i].client, &ss);
		ip = iprev_start(f->dns, (struct sockaddr *)&ss,
		    on_early_final, &e);
		assert_non_null(ip);
		iprev_notify_ptr(ip, on_early_ptr);
		event_base_loop(f->base, 0);
		assert_int_equal(e.ptr_calls, cases[i].ptr_calls);
		assert_int_equal(e.calls, 1);
		assert_int_equal(e.order, cases[i].ptr_calls);
		assert_int_equal(e.r.status, cases[i].status);
		if (e.ptr_calls == 0)
			continue;
		assert_true(e.ptr.ptr_exists);
		assert_string_equal(e.ptr.ptr_name, cases[i].ptr_name);
		assert_string_equal(e.ptr.addr, cases[i].client);
		/* Not a verdict yet: never a pass before the forward one. */
		assert_int_equal(e.ptr.status, IPREV_TEMPERROR);
		assert_string_equal(e.ptr.name, "");
	}

	/* Cancelled from inside the early call: nothing more runs. */
	memset(&e, 0, sizeof(e));
	sockaddr_of("192.0.2.29", &ss);
	e.ip = iprev_start(f->dns, (struct sockaddr *)&ss, on_early_final,
	    &e);
	assert_non_null(e.ip);
	iprev_notify_ptr(e.ip, on_early_ptr);
	event_base_loop(f->base, 0);
	assert_int_equal(e.ptr_calls, 1);
	assert_int_equal(e.calls, 0);
}

static void
test_bad_family(void **state)
{
	struct fix *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char text[IPREV_ADDR_MAX];

	assert_null(iprev_start(f->dns, (struct sockaddr *)&sun, on_never,
	    NULL));
	assert_int_equal(iprev_addr_text((struct sockaddr *)&sun, text,
	    sizeof(text)), ERR_RANGE);
	assert_string_equal(text, "");
	event_base_loop(f->base, 0);
}

static void
test_addr_text(void **state)
{
	/* RFC 5952 4 and 5. */
	static const char *const cases[][2] = {
		{ "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
		{ "2001:DB8::ABCD:12", "2001:db8::abcd:12" },
		{ "2001:db8:0:0:0:0:2:1", "2001:db8::2:1" },
		{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },
		{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
		{ "0:0:0:0:0:0:0:0", "::" },
		{ "::1", "::1" },
		{ "1::", "1::" },
		{ "::1:2", "::1:2" },
		{ "::0.1.0.2", "::1:2" },
		{ "fe80:0:0:0:1:0:0:0", "fe80::1:0:0:0" },
		{ "fe80:0:0:1:0:0:0:0", "fe80:0:0:1::" },
		{ "2001:db8:3::25", "2001:db8:3::25" },
		{ "::ffff:192.0.2.1", "192.0.2.1" },
		{ "::ffff:0:1", "0.0.0.1" },
		{ "192.0.2.1", "192.0.2.1" },
		{ "0.0.0.0", "0.0.0.0" },
		{ "255.255.255.255", "255.255.255.255" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	};
	struct sockaddr_storage ss;
	char text[IPREV_ADDR_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sockaddr_of(cases[i][0], &ss);
		assert_int_equal(iprev_addr_text((struct sockaddr *)&ss, text,
		    sizeof(text)), 0);
		assert_string_equal(text, cases[i][1]);
	}
}

static void
test_hostname(void **state)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{ "mx.example.test", true },
		{ "a-b.example.test", true },
		{ "1mx.example.test", true },
		{ "mx.example.t1", true },
		{ "xn--bcher-kva.example", true },
		{ "localhost", false },
		{ "192.0.2.1", false },
		{ "mx.123", false },
		{ "-mx.example.test", false },
		{ "mx-.example.test", false },
		{ "mx.example.test-", false },
		{ "bad_name.example.test", false },
		{ "a..b", false },
		{ ".a.b", false },
		{ "a.b.", false },
		{ "", false },
		{ "sp ace.test", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (iprev_valid_hostname(cases[i].name,
		    strlen(cases[i].name)) != cases[i].ok)
			fail_msg("%s: want %d", cases[i].name, cases[i].ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_ptr, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_family, setup,
		    teardown),
		cmocka_unit_test(test_addr_text),
		cmocka_unit_test(test_hostname),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
