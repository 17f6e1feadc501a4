/*
 * Unit tables for the evaluator: one row per mechanism behaviour, run
 * against the table resolver (no network), plus the contract: callback from
 * the loop only, cancel, the cache, many checks in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/dns.h"
#include "spf/spf.h"

static const char zone[] =
	"example.com TXT \"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:4::/48 -all\"\n"
	"a.example.com TXT \"v=spf1 a/24//64 -all\"\n"
	"a.example.com A 198.51.100.1\n"
	"a.example.com AAAA 2001:db8:4:1::1\n"
	"mx.example.com TXT \"v=spf1 mx ~all\"\n"
	"mx.example.com MX 10 mail.example.com\n"
	"mx.example.com MX 20 mail6.example.com\n"
	"mail.example.com A 203.0.113.5\n"
	"mail6.example.com AAAA 2001:db8:4::25\n"
	"nullmx.example.com TXT \"v=spf1 mx -all\"\n"
	"nullmx.example.com MX 0 .\n"
	"ptr.example.com TXT \"v=spf1 ptr:example.com -all\"\n"
	"5.113.0.203.in-addr.arpa PTR mail.example.com\n"
	"6.113.0.203.in-addr.arpa PTR liar.example.com\n"
	"liar.example.com A 203.0.113.99\n"
	"7.113.0.203.in-addr.arpa PTR host.example.org\n"
	"host.example.org A 203.0.113.7\n"
	"exists.example.com TXT"
	" \"v=spf1 exists:%{ir}.%{v}.wl.example.com -all\"\n"
	"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.0.0.0.8.b.d.0.1.0.0.2"
	".ip6.wl.example.com A 127.0.0.2\n"
	"inc.example.com TXT"
	" \"v=spf1 include:example.com include:mx.example.com ?all\"\n"
	"incnone.example.com TXT \"v=spf1 include:nothing.example.com -all\"\n"
	"inctemp.example.com TXT \"v=spf1 include:slow.example.com -all\"\n"
	"slow.example.com TIMEOUT\n"
	"redir.example.com TXT \"v=spf1 ip4:10.0.0.1 redirect=example.com\"\n"
	"redirnone.example.com TXT \"v=spf1 redirect=nothing.example.com\"\n"
	"exp.example.com TXT \"v=spf1 -all exp=why.example.com\"\n"
	"why.example.com TXT"
	" \"%{i} is not one of %{d}'s \" \"servers (%{l})\"\n"
	"expslow.example.com TXT \"v=spf1 -all exp=slow.example.com\"\n"
	"void.example.com TXT \"v=spf1 a:n1.example.com a:n2.example.com "
	"a:n3.example.com ip4:192.0.2.1 -all\"\n"
	"many.example.com TXT \"v=spf1 a a a a a a a a a a a -all\"\n"
	"many.example.com A 192.0.2.200\n"
	"two.example.com TXT \"v=spf1 -all\"\n"
	"two.example.com TXT \"v=spf1 +all\"\n"
	"other.example.com TXT \"google-site-verification=x\"\n"
	"bad.example.com TXT \"v=spf1 ip4:1.2.3.4/33 -all\"\n"
	"helo.example.com TXT \"v=spf1 a -all\"\n"
	"helo.example.com A 192.0.2.77\n"
	"v4mapped.example.com TXT \"v=spf1 ip4:192.0.2.9 -all\"\n"
	"p.example.com TXT \"v=spf1 -all exp=pexp.example.com\"\n"
	"pexp.example.com TXT \"you are %{p}\"\n";

struct fixture {
	struct event_base *base;
	struct dns *dns;
	struct spf *spf;
};

struct run {
	bool done, in_start;
	struct spf_outcome out;
};

static void
on_result(void *arg, const struct spf_outcome *o)
{
	struct run *r = arg;

	assert_false(r->in_start);
	assert_false(r->done);
	r->done = true;
	r->out = *o;
}

static void
addr(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	s6->sin6_family = AF_INET6;
}

static struct fixture *
setup(const struct spf_options *opt)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->base = event_base_new();
	f->dns = dns_new_table(f->base);
	assert_int_equal(dns_table_load(f->dns, zone, sizeof(zone) - 1), 0);
	f->spf = spf_new(f->base, f->dns, opt);
	return f;
}

static void
teardown(struct fixture *f)
{
	spf_free(f->spf);
	dns_free(f->dns);
	event_base_free(f->base);
	free(f);
}

static void
check(struct fixture *f, const char *ip, const char *sender,
    const char *helo, struct run *r)
{
	struct sockaddr_storage ss;

	addr(ip, &ss);
	memset(r, 0, sizeof(*r));
	r->in_start = true;
	assert_non_null(spf_check_start(f->spf, (struct sockaddr *)&ss,
	    sender, helo, on_result, r));
	r->in_start = false;
	assert_false(r->done);
	event_base_dispatch(f->base);
	assert_true(r->done);
}

static void
test_table(void **state)
{
	static const struct {
		const char *ip, *sender;
		enum spf_result want;
		const char *problem; /* a substring, or NULL */
	} cases[] = {
		/* ip4, ip6 */
		{ "192.0.2.7", "a@example.com", SPF_PASS, NULL },
		{ "192.0.3.7", "a@example.com", SPF_FAIL, NULL },
		{ "2001:db8:4:ffff::1", "a@example.com", SPF_PASS, NULL },
		{ "2001:db8:5::1", "a@example.com", SPF_FAIL, NULL },
		{ "::ffff:192.0.2.7", "a@example.com", SPF_PASS, NULL },
		{ "::ffff:192.0.2.9", "x@v4mapped.example.com", SPF_PASS,
		  NULL },
		/* a with dual CIDR */
		{ "198.51.100.200", "a@a.example.com", SPF_PASS, NULL },
		{ "198.51.101.1", "a@a.example.com", SPF_FAIL, NULL },
		{ "2001:db8:4:1:ffff::1", "a@a.example.com", SPF_PASS, NULL },
		{ "2001:db8:4:2::1", "a@a.example.com", SPF_FAIL, NULL },
		/* mx, over IPv4 and IPv6; null MX */
		{ "203.0.113.5", "a@mx.example.com", SPF_PASS, NULL },
		{ "2001:db8:4::25", "a@mx.example.com", SPF_PASS, NULL },
		{ "2001:db8:4::26", "a@mx.example.com", SPF_SOFTFAIL, NULL },
		{ "203.0.113.5", "a@nullmx.example.com", SPF_FAIL, NULL },
		/* ptr: confirmed, not confirmed, outside the target */
		{ "203.0.113.5", "a@ptr.example.com", SPF_PASS, NULL },
		{ "203.0.113.6", "a@ptr.example.com", SPF_FAIL, NULL },
		{ "203.0.113.7", "a@ptr.example.com", SPF_FAIL, NULL },
		/* exists with %{ir} of an IPv6 client */
		{ "2001:db8:4::5", "a@exists.example.com", SPF_PASS, NULL },
		{ "2001:db8:4::6", "a@exists.example.com", SPF_FAIL, NULL },
		/* include */
		{ "192.0.2.1", "a@inc.example.com", SPF_PASS, NULL },
		{ "203.0.113.5", "a@inc.example.com", SPF_PASS, NULL },
		{ "198.51.100.1", "a@inc.example.com", SPF_NEUTRAL, NULL },
		{ "2001:db8:4::25", "a@inc.example.com", SPF_PASS, NULL },
		{ "192.0.2.1", "a@incnone.example.com", SPF_PERMERROR,
		  "nothing.example.com" },
		{ "192.0.2.1", "a@inctemp.example.com", SPF_TEMPERROR,
		  "timeout" },
		/* redirect */
		{ "192.0.2.1", "a@redir.example.com", SPF_PASS, NULL },
		{ "10.0.0.1", "a@redir.example.com", SPF_PASS, NULL },
		{ "10.0.0.2", "a@redir.example.com", SPF_FAIL, NULL },
		{ "10.0.0.2", "a@redirnone.example.com", SPF_PERMERROR,
		  "redirect" },
		/* records */
		{ "192.0.2.1", "a@two.example.com", SPF_PERMERROR,
		  "more than one" },
		{ "192.0.2.1", "a@other.example.com", SPF_NONE, NULL },
		{ "192.0.2.1", "a@nothing.example.com", SPF_NONE, NULL },
		{ "192.0.2.1", "a@slow.example.com", SPF_TEMPERROR, NULL },
		{ "192.0.2.1", "a@bad.example.com", SPF_PERMERROR, "/33" },
		/* limits */
		{ "192.0.2.1", "a@void.example.com", SPF_PERMERROR, "void" },
		{ "192.0.2.1", "a@many.example.com", SPF_PERMERROR,
		  "more than 10 DNS" },
	};
	struct fixture *f = setup(NULL);
	struct run r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check(f, cases[i].ip, cases[i].sender, "helo.example.com", &r);
		if (r.out.result != cases[i].want)
			fail_msg("%s %s: got %s, want %s (%s)", cases[i].ip,
			    cases[i].sender, spf_result_str(r.out.result),
			    spf_result_str(cases[i].want), r.out.problem);
		if (cases[i].problem != NULL &&
		    strstr(r.out.problem, cases[i].problem) == NULL)
			fail_msg("%s: problem '%s'", cases[i].sender,
			    r.out.problem);
		assert_int_equal(r.out.identity, SPF_ID_MAILFROM);
	}
	teardown(f);
}

static void
test_explanation(void **state)
{
	static const struct spf_options opt = {
		.default_exp = "default for %{d}",
	};
	struct fixture *f = setup(&opt);
	struct run r;

	(void)state;
	check(f, "192.0.2.99", "joe@exp.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_FAIL);
	assert_string_equal(r.out.explanation,
	    "192.0.2.99 is not one of exp.example.com's servers (joe)");
	/* exp= that times out: the default, never a temperror (6.2) */
	check(f, "192.0.2.99", "joe@expslow.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_FAIL);
	assert_string_equal(r.out.explanation,
	    "default for expslow.example.com");
	/* only fail has an explanation */
	check(f, "192.0.2.7", "joe@example.com", NULL, &r);
	assert_string_equal(r.out.explanation, "");
	/* %{p} in the explanation text: PTR, then forward confirmation */
	check(f, "203.0.113.5", "joe@p.example.com", NULL, &r);
	assert_string_equal(r.out.explanation, "you are mail.example.com");
	check(f, "203.0.113.6", "joe@p.example.com", NULL, &r);
	assert_string_equal(r.out.explanation, "you are unknown");
	teardown(f);
}

/* RFC 7208 2.3, 2.4 and 4.3: which identity and domain are checked. */
static void
test_identity(void **state)
{
	static const struct spf_options opt = { .max_void_lookups = 5 };
	struct fixture *f = setup(&opt);
	char longlabel[100];
	unsigned long before;
	struct run r;

	(void)state;
	check(f, "192.0.2.77", NULL, "helo.example.com", &r);
	assert_int_equal(r.out.result, SPF_PASS);
	assert_int_equal(r.out.identity, SPF_ID_HELO);
	assert_string_equal(r.out.domain, "helo.example.com");
	check(f, "192.0.2.77", "", "helo.example.com", &r);
	assert_int_equal(r.out.identity, SPF_ID_HELO);
	check(f, "192.0.2.7", "@example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_PASS);
	assert_string_equal(r.out.domain, "example.com");
	/* malformed domains: none, without any query */
	before = dns_table_queries(f->dns);
	snprintf(longlabel, sizeof(longlabel), "a@%064d.example.com", 0);
	check(f, "192.0.2.7", longlabel, NULL, &r);
	assert_int_equal(r.out.result, SPF_NONE);
	check(f, "192.0.2.7", "a@foo..example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_NONE);
	check(f, "192.0.2.7", "a@localhost", NULL, &r);
	assert_int_equal(r.out.result, SPF_NONE);
	check(f, "192.0.2.7", "a@[192.0.2.7]", NULL, &r);
	assert_int_equal(r.out.result, SPF_NONE);
	check(f, "192.0.2.7", NULL, NULL, &r);
	assert_int_equal(r.out.result, SPF_NONE);
	assert_int_equal(dns_table_queries(f->dns), before);
	/* the void limit is configurable: 3 voids are fine with 5 */
	check(f, "192.0.2.1", "a@void.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_PASS);
	assert_int_equal(r.out.voids, 3);
	assert_int_equal(r.out.lookups, 3);
	teardown(f);
}

/* Parsed records are cached: a second check asks DNS nothing. */
static void
test_cache(void **state)
{
	struct fixture *f = setup(NULL);
	struct spf_cache_stats st;
	unsigned long q;
	struct run r;

	(void)state;
	check(f, "192.0.2.1", "a@inc.example.com", NULL, &r);
	q = dns_table_queries(f->dns);
	check(f, "192.0.2.1", "a@inc.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_PASS);
	assert_int_equal(dns_table_queries(f->dns), q);
	spf_cache_stats(f->spf, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.hits, 2);
	/* "mx", "a", "ptr" and "exists" answers are kept too (positive
	 * ones: dns.h gives no TTL for a negative answer) */
	check(f, "203.0.113.5", "a@mx.example.com", NULL, &r);
	check(f, "203.0.113.5", "a@ptr.example.com", NULL, &r);
	check(f, "2001:db8:4::5", "a@exists.example.com", NULL, &r);
	check(f, "198.51.100.9", "a@a.example.com", NULL, &r);
	q = dns_table_queries(f->dns);
	check(f, "203.0.113.5", "a@mx.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_PASS);
	check(f, "203.0.113.5", "a@ptr.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_PASS);
	check(f, "2001:db8:4::5", "a@exists.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_PASS);
	check(f, "198.51.100.9", "a@a.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_PASS);
	assert_int_equal(dns_table_queries(f->dns), q);
	teardown(f);
}

static void
never(void *arg, const struct spf_outcome *o)
{
	(void)arg;
	(void)o;
	fail_msg("callback after cancel");
}

static void
test_cancel(void **state)
{
	struct fixture *f = setup(NULL);
	struct sockaddr_storage ss;
	struct spf_check *c;

	(void)state;
	addr("192.0.2.1", &ss);
	/* in flight on DNS */
	c = spf_check_start(f->spf, (struct sockaddr *)&ss, "a@inc.example.com",
	    NULL, never, NULL);
	assert_non_null(c);
	spf_check_cancel(c);
	event_base_dispatch(f->base);
	/* done at once (nothing to check), callback still pending */
	c = spf_check_start(f->spf, (struct sockaddr *)&ss, NULL, NULL, never,
	    NULL);
	spf_check_cancel(c);
	event_base_dispatch(f->base);
	assert_null(spf_check_start(f->spf, NULL, "a@example.com", NULL,
	    never, NULL));
	teardown(f);
}

/* Thousands of checks in flight in one loop, each called back once. */
static void
test_many(void **state)
{
	enum { N = 3000 };
	static const char *const senders[] = {
		"a@inc.example.com", "a@mx.example.com", "a@exists.example.com",
		"a@redir.example.com", "a@void.example.com",
	};
	struct fixture *f = setup(NULL);
	struct run *r = calloc(N, sizeof(*r));
	struct sockaddr_storage ss;
	size_t i;

	(void)state;
	addr("2001:db8:4::5", &ss);
	for (i = 0; i < N; i++)
		assert_non_null(spf_check_start(f->spf, (struct sockaddr *)&ss,
		    senders[i % 5], NULL, on_result, &r[i]));
	event_base_dispatch(f->base);
	for (i = 0; i < N; i++) {
		static const enum spf_result want[] = { SPF_PASS, SPF_SOFTFAIL,
		    SPF_PASS, SPF_PASS, SPF_PERMERROR };

		assert_true(r[i].done);
		assert_int_equal(r[i].out.result, want[i % 5]);
	}
	free(r);
	teardown(f);
}

/*
 * RFC 7208 5: a time limit on the whole check. A UDP socket that never
 * answers stands in for a dead server; the resolver would wait 5 s per
 * query, the check gives up after 300 ms with temperror.
 */
static void
test_time_limit(void **state)
{
	static const struct spf_options opt = { .timeout_ms = 300 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct event_base *base = event_base_new();
	struct dns_options dopt = { 0 };
	struct sockaddr_storage ss;
	char server[64], err[128];
	const char *servers[1] = { server };
	socklen_t len = sizeof(sin);
	struct run r = { 0 };
	struct dns *dns;
	struct spf *spf;
	int fd;

	(void)state;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(server, sizeof(server), "127.0.0.1:%u", ntohs(sin.sin_port));
	dopt.servers = servers;
	dopt.server_count = 1;
	dns = dns_new_unbound(base, &dopt, err, sizeof(err));
	assert_non_null(dns);
	spf = spf_new(base, dns, &opt);
	addr("192.0.2.1", &ss);
	assert_non_null(spf_check_start(spf, (struct sockaddr *)&ss,
	    "a@example.com", NULL, on_result, &r));
	/* not dispatch: the resolver's own query stays pending for 5 s */
	while (!r.done)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(r.out.result, SPF_TEMPERROR);
	assert_non_null(strstr(r.out.problem, "300 ms"));
	spf_free(spf);
	dns_free(dns);
	event_base_free(base);
	close(fd);
}

static void
trace_line(void *arg, const char *line)
{
	size_t *n = arg;

	assert_non_null(line);
	(*n)++;
}

static void
test_trace(void **state)
{
	size_t lines = 0;
	struct spf_options opt = { .trace = trace_line, .trace_arg = &lines };
	struct fixture *f = setup(&opt);
	struct run r;

	(void)state;
	check(f, "198.51.100.1", "a@inc.example.com", NULL, &r);
	assert_int_equal(r.out.result, SPF_NEUTRAL);
	assert_int_equal(r.out.lookups, 3);
	/* check, records, terms, queries, matches and the result */
	assert_true(lines >= 12);
	teardown(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_explanation),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_time_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
