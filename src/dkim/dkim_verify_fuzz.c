/*
 * Fuzz target: the whole verifier on arbitrary messages, fed in two pieces
 * cut at a point taken from the input, with keys for the selectors of the
 * seed messages in a table resolver. The callback must run exactly once.
 */
#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"
#include "dns/dns.h"

static const char keys[] =
    "ed._domainkey.example.com TXT \"v=DKIM1; k=ed25519; "
    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n"
    "test._domainkey.example.com TXT \"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3"
    "DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2"
    "jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMK"
    "rM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\"\n"
    "slow._domainkey.example.com TIMEOUT\n";

static struct event_base *base;
static struct dns *dns;

static void
on_done(void *arg, const struct dkim_result *res, size_t n)
{
	size_t i;

	(*(unsigned *)arg)++;
	for (i = 0; i < n; i++)
		if (res[i].reason && strlen(res[i].reason) == 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_options opt = { .max_header = 4096, .now = 1700000001 };
	struct dkim_verify *v;
	size_t cut = size ? data[size - 1] % (size + 1) : 0;
	unsigned calls = 0;

	if (base == NULL) {
		base = event_base_new();
		dns = dns_new_table(base);
		if (dns_table_load(dns, keys, sizeof(keys) - 1) != 0)
			abort();
	}
	v = dkim_verify_new(dns, &opt);
	dkim_verify_feed(v, (const char *)data, cut);
	dkim_verify_feed(v, (const char *)data + cut, size - cut);
	if (dkim_verify_finish(v, on_done, &calls) != 0)
		abort();
	while (calls == 0)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			abort();
	if (calls != 1)
		abort();
	dkim_verify_free(v);
	return 0;
}
