/*
 * libFuzzer target: the whole evaluator. The input is zone text for the
 * table resolver (dns_table_load: "NAME TYPE VALUE" lines); checks run for
 * a.test from an IPv4 and an IPv6 client, with a tight void limit and the
 * explanation on. Checks: each callback comes exactly once, with a result
 * in range and counters within the RFC 7208 4.6.4 limits.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "spf/spf.h"

struct run {
	int calls;
	struct spf_outcome out;
};

static void
on_result(void *arg, const struct spf_outcome *o)
{
	struct run *r = arg;

	r->calls++;
	r->out = *o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct spf_options opt = { .max_void_lookups = 2,
	    .default_exp = "%{i} %{d} %{p}" };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct event_base *base = event_base_new();
	struct dns *dns = dns_new_table(base);
	struct spf *spf;
	struct run r[3] = { 0 };
	int i;

	dns_table_load(dns, (const char *)data, size);
	spf = spf_new(base, dns, &opt);
	inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
	inet_pton(AF_INET6, "2001:db8:4::1", &s6.sin6_addr);
	spf_check_start(spf, (struct sockaddr *)&s4, "x@a.test", "b.test",
	    on_result, &r[0]);
	spf_check_start(spf, (struct sockaddr *)&s6, "x.y@a.test", "b.test",
	    on_result, &r[1]);
	spf_check_start(spf, (struct sockaddr *)&s6, NULL, "b.test",
	    on_result, &r[2]);
	event_base_dispatch(base);
	for (i = 0; i < 3; i++) {
		if (r[i].calls != 1 || r[i].out.result > SPF_PERMERROR ||
		    r[i].out.lookups > 11 || r[i].out.voids > 3)
			abort();
		if (r[i].out.result != SPF_FAIL &&
		    r[i].out.explanation[0] != '\0')
			abort();
	}
	spf_free(spf);
	dns_free(dns);
	event_base_free(base);
	return 0;
}
