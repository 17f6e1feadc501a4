/*
 * libFuzzer target for the DNS response parser. The first input byte picks
 * the asked type; the rest is the packet. Beyond "no crash", it checks what
 * callers rely on: records only with DNS_OK, names NUL-terminated at len,
 * everything inside the storage dns_wire_space() asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "dns/dns_int.h"

static const enum dns_type types[] = {
	DNS_T_A, DNS_T_AAAA, DNS_T_CNAME, DNS_T_PTR, DNS_T_MX, DNS_T_TXT,
};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	size_t rr_cap, arena_cap, i;
	struct dns_answer a;
	struct dns_rr *rr;
	unsigned char *arena, *pkt;
	enum dns_type qtype;

	if (size < 1)
		return 0;
	log_threshold = LOG_WARN;
	qtype = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	/* A copy of exactly the packet's size, so ASan sees any overread. */
	pkt = malloc(size - 1);
	memcpy(pkt, data + 1, size - 1);
	dns_wire_space(pkt, size - 1, &rr_cap, &arena_cap);
	rr = malloc((rr_cap ? rr_cap : 1) * sizeof(*rr));
	arena = malloc(arena_cap ? arena_cap : 1);
	if (dns_wire_parse(pkt, size - 1, qtype, &a, rr, rr_cap, arena,
	    arena_cap) < 0 && a.status != DNS_TEMPFAIL)
		abort();
	if (a.status != DNS_OK && a.count != 0)
		abort();
	if (a.status == DNS_OK && (a.count == 0 || a.count > rr_cap))
		abort();
	for (i = 0; i < a.count; i++) {
		const struct dns_rr *r = &a.rr[i];

		if (r->type != qtype || r->data < arena ||
		    r->data + r->len > arena + arena_cap)
			abort();
		if (qtype != DNS_T_A && qtype != DNS_T_AAAA &&
		    (r->data[r->len] != '\0' || r->len > 65535))
			abort();
		if ((qtype == DNS_T_PTR || qtype == DNS_T_CNAME ||
		    qtype == DNS_T_MX) && (r->len > DNS_NAME_MAX ||
		    strlen((const char *)r->data) != r->len))
			abort();
	}
	free(arena);
	free(rr);
	free(pkt);
	return 0;
}
