#include "base/span.h"

#include "base/ascii.h"

bool
span_eq(struct span a, struct span b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool
span_eq_nocase(struct span a, struct span b)
{
	size_t i;

	if (a.len != b.len)
		return false;
	for (i = 0; i < a.len; i++)
		if (ascii_lower((unsigned char)a.p[i]) !=
		    ascii_lower((unsigned char)b.p[i]))
			return false;
	return true;
}

bool
span_eq_nocase_cstr(struct span a, const char *s)
{
	return span_eq_nocase(a, span_cstr(s));
}

bool
span_has_prefix_nocase(struct span a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.len >= n && span_eq_nocase(span_make(a.p, n),
	    span_make(prefix, n));
}

struct span
span_trim(struct span a)
{
	while (a.len && (a.p[0] == ' ' || a.p[0] == '\t')) {
		a.p++;
		a.len--;
	}
	while (a.len && (a.p[a.len - 1] == ' ' || a.p[a.len - 1] == '\t'))
		a.len--;
	return a;
}

bool
span_to_u64(struct span a, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (a.len == 0)
		return false;
	for (i = 0; i < a.len; i++) {
		unsigned d;

		if (a.p[i] < '0' || a.p[i] > '9')
			return false;
		d = (unsigned)(a.p[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}
