/*
 * libFuzzer target: the macro checker and expander. The first byte picks
 * the context and splits the rest into a macro-string and a value used for
 * every letter (8-bit bytes included). Checks: the expander accepts what
 * the checker accepts, stays within its buffer, NUL-terminates, and keeps
 * names to 253 octets; explanations are cut to a small buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf/spf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[SPF_NAME_MAX + 2], exp[64];
	struct spf_macro_env env;
	enum spf_macro_ctx ctx;
	struct span v, m;
	unsigned flags = 0;
	const char *why;
	size_t split;
	int n;

	if (size < 2)
		return 0;
	ctx = (enum spf_macro_ctx)(data[0] % 3);
	split = data[1] % (size - 1);
	v = span_make((const char *)data + 2, split > size - 2 ? 0 : split);
	m = span_make((const char *)data + 2 + v.len, size - 2 - v.len);
	env = (struct spf_macro_env){ v, v, v, v, v, v, v, v, v, v, v };
	if (spf_macro_check(m.p, m.len, ctx, &flags, &why) < 0)
		return 0;
	n = spf_macro_expand(m.p, m.len, &env, ctx, out, sizeof(out));
	if (n < 0 || (size_t)n >= sizeof(out) || out[n] != '\0')
		abort();
	if (ctx == SPF_CTX_DOMAIN && n > SPF_NAME_MAX)
		abort();
	if (ctx == SPF_CTX_DOMAIN)
		return 0;
	/* a small buffer: cut on the right, still terminated */
	n = spf_macro_expand(m.p, m.len, &env, ctx, exp, sizeof(exp));
	if (n < 0 || (size_t)n >= sizeof(exp) || exp[n] != '\0')
		abort();
	return 0;
}
