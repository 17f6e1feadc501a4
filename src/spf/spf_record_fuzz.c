/*
 * libFuzzer target: the SPF record parser on arbitrary bytes. Checks the
 * parser's promises: it returns 0 or an error with a reason, never more
 * terms than the bound, and every span stays inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf/spf_int.h"

static void
check_span(struct span s, const uint8_t *data, size_t size)
{
	if (s.p == NULL)
		return;
	if ((const uint8_t *)s.p < data ||
	    (const uint8_t *)s.p + s.len > data + size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t cap = spf_record_max_terms(size), i;
	struct spf_record rec = { .cap = cap };
	int rc;

	if (!spf_record_is_spf1(p, size))
		return 0;
	rec.term = malloc(cap * sizeof(*rec.term));
	rc = spf_record_parse(p, size, &rec);
	if (rc < 0 && rec.err == NULL)
		abort();
	if (rc == 0) {
		if (rec.n > cap)
			abort();
		for (i = 0; i < rec.n; i++) {
			check_span(rec.term[i].text, data, size);
			check_span(rec.term[i].spec, data, size);
			if (rec.term[i].cidr4 > 32 || rec.term[i].cidr6 > 128)
				abort();
		}
		check_span(rec.redirect, data, size);
		check_span(rec.exp, data, size);
	}
	free(rec.term);
	return 0;
}
