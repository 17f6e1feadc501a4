/*
 * Fuzz target: the tag-list parser, and the DKIM-Signature parser on top
 * of it, over arbitrary bytes. Every span they return must lie inside the
 * input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dkim/dkim_int.h"

static void
inside(const uint8_t *data, size_t size, struct span s)
{
	if (s.p && (s.p < (const char *)data ||
	    s.p + s.len > (const char *)data + size))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dkim_taglist tl;
	static struct dkim_sig sig;
	const char *why;
	size_t i;

	if (dkim_tags_parse((const char *)data, size, &tl, &why) == 0)
		for (i = 0; i < tl.n; i++) {
			inside(data, size, tl.tag[i].name);
			inside(data, size, tl.tag[i].value);
			inside(data, size, tl.tag[i].raw);
			if (tl.tag[i].name.len == 0)
				abort();
		}
	if (dkim_sig_parse((const char *)data, size, &sig, &why) == 0) {
		inside(data, size, sig.b_raw);
		inside(data, size, sig.d);
		if (sig.nh == 0 || sig.blen == 0 || sig.blen > DKIM_SIG_MAX)
			abort();
	}
	return 0;
}
