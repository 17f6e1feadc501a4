/*
 * span: a borrowed, length-bounded view of bytes (never NUL-terminated).
 *
 * Parsers take and return spans that point into their input, so they never
 * allocate and never read past len. A span is valid as long as the bytes it
 * points into.
 */
#ifndef MXGATE_BASE_SPAN_H
#define MXGATE_BASE_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct span {
	const char *p;
	size_t len;
};

#define SPAN_LIT(s) ((struct span){ (s), sizeof(s) - 1 })

static inline struct span
span_make(const char *p, size_t len)
{
	return (struct span){ p, len };
}

static inline struct span
span_cstr(const char *s)
{
	return (struct span){ s, strlen(s) };
}

bool span_eq(struct span a, struct span b);
/* ASCII case-insensitive equality; other bytes compare exactly. */
bool span_eq_nocase(struct span a, struct span b);
bool span_eq_nocase_cstr(struct span a, const char *s);
bool span_has_prefix_nocase(struct span a, const char *prefix);
/* Drops leading and trailing spaces and tabs. */
struct span span_trim(struct span a);
/* Parses a decimal number without sign; false on junk or overflow past max. */
bool span_to_u64(struct span a, unsigned long long max,
    unsigned long long *out);

#endif
