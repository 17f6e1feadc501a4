/*
 * SPF macros (RFC 7208 7): the syntax check done at parse time and the
 * expander used during evaluation. Pure: no I/O, no allocation, 8-bit
 * clean (every byte is handled as unsigned char).
 */
#include <string.h>

#include "base/ascii.h"
#include "base/err.h"
#include "spf/spf_int.h"

#define DELIMS ".-+,/_="

/* The macro letters of RFC 7208 7.2, lower case; c r t only in exp. */
static bool
macro_letter(unsigned char c, enum spf_macro_ctx ctx)
{
	c |= 0x20;
	if (strchr("slodiphv", c) != NULL && c != '\0')
		return true;
	return ctx != SPF_CTX_DOMAIN && c != '\0' && strchr("crt", c) != NULL;
}

/*
 * Reads the macro-expand that starts at p[i] == '%'. Returns its length, or
 * 0 on a syntax error. For %{...} fills letter, digits, reverse and the
 * delimiter mask (bit n for DELIMS[n]); for %% %_ %- letter is that char.
 */
struct macro {
	unsigned char letter;
	bool braces, reverse, upper;
	unsigned long digits;
	unsigned delims;
};

static size_t
read_macro(const char *p, size_t len, size_t i, enum spf_macro_ctx ctx,
    struct macro *m, const char **why)
{
	size_t j;

	memset(m, 0, sizeof(*m));
	if (len - i < 2) {
		*why = "'%' at end of macro-string";
		return 0;
	}
	if (p[i + 1] == '%' || p[i + 1] == '_' || p[i + 1] == '-') {
		m->letter = (unsigned char)p[i + 1];
		return 2;
	}
	if (p[i + 1] != '{') {
		*why = "'%' not followed by '{', '%', '_' or '-'";
		return 0;
	}
	j = i + 2;
	if (j >= len || !macro_letter((unsigned char)p[j], ctx)) {
		*why = "bad macro letter";
		return 0;
	}
	m->braces = true;
	m->letter = (unsigned char)(p[j] | 0x20);
	m->upper = p[j] >= 'A' && p[j] <= 'Z';
	j++;
	if (j < len && p[j] >= '0' && p[j] <= '9') {
		while (j < len && p[j] >= '0' && p[j] <= '9') {
			/* Anything past 255 keeps every part anyway. */
			if (m->digits < 1000)
				m->digits = m->digits * 10 +
				    (unsigned long)(p[j] - '0');
			j++;
		}
		/* RFC 7208 7.1: a DIGIT transformer must be nonzero. */
		if (m->digits == 0) {
			*why = "zero macro transformer";
			return 0;
		}
	}
	if (j < len && (p[j] | 0x20) == 'r') {
		m->reverse = true;
		j++;
	}
	while (j < len && p[j] != '\0' && strchr(DELIMS, p[j]) != NULL) {
		m->delims |= 1u << (strchr(DELIMS, p[j]) - DELIMS);
		j++;
	}
	if (j >= len || p[j] != '}') {
		*why = "bad macro";
		return 0;
	}
	if (m->delims == 0)
		m->delims = 1; /* "." */
	return j + 1 - i;
}

/* RFC 7208 7.1 toplabel. */
static bool
is_toplabel(const char *p, size_t len)
{
	bool alpha = false, dash = false;
	size_t i;

	if (len == 0 || p[0] == '-' || p[len - 1] == '-')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '-')
			dash = true;
		else if (!ascii_is_alnum(c))
			return false;
		else if (c > '9')
			alpha = true;
	}
	return alpha || dash;
}

int
spf_macro_check(const char *p, size_t len, enum spf_macro_ctx ctx,
    unsigned *flags, const char **why)
{
	size_t i = 0, macro_end = 0, e, d;
	struct macro m;

	while (i < len) {
		unsigned char c = (unsigned char)p[i];
		size_t n;

		if (c == '%') {
			n = read_macro(p, len, i, ctx, &m, why);
			if (n == 0)
				return ERR_SYNTAX;
			*flags |= SPF_MF_MACRO;
			if (m.letter == 'p')
				*flags |= SPF_MF_P;
			i += n;
			macro_end = i;
			continue;
		}
		if (c == ' ' && ctx == SPF_CTX_EXP) {
			i++;
			continue;
		}
		if (c < 0x21 || c > 0x7e) {
			*why = "bad character in macro-string";
			return ERR_SYNTAX;
		}
		i++;
	}
	if (ctx != SPF_CTX_DOMAIN)
		return 0;
	/* domain-end = ( "." toplabel [ "." ] ) / macro-expand */
	if (len > 0 && macro_end == len)
		return 0;
	e = len;
	if (e > 0 && p[e - 1] == '.')
		e--;
	for (d = e; d > macro_end && p[d - 1] != '.'; d--)
		;
	if (d == macro_end || !is_toplabel(p + d, e - d)) {
		*why = "domain-spec does not end in a top label";
		return ERR_SYNTAX;
	}
	return 0;
}

/* Output that counts every byte but stores only [from, from + cap). */
struct out {
	char *p;
	size_t cap, from, pos;
};

static void
out_put(struct out *o, unsigned char c)
{
	if (o->pos >= o->from && o->pos - o->from < o->cap)
		o->p[o->pos - o->from] = (char)c;
	o->pos++;
}

static void
out_value(struct out *o, const char *p, size_t len, bool escape)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		/* RFC 7208 7.3: upper-case macros are URL-escaped (RFC 3986
		 * unreserved characters stay as they are). */
		if (!escape || ascii_is_alnum(c) || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			out_put(o, c);
		} else {
			out_put(o, '%');
			out_put(o, (unsigned char)hex[c >> 4]);
			out_put(o, (unsigned char)hex[c & 15]);
		}
	}
}

static bool
is_delim(const struct macro *m, unsigned char c)
{
	const char *d;

	if (c == '\0' || (d = strchr(DELIMS, c)) == NULL)
		return false;
	return (m->delims & (1u << (d - DELIMS))) != 0;
}

static struct span
macro_value(const struct spf_macro_env *env, unsigned char letter)
{
	switch (letter) {
	case 's': return env->s;
	case 'l': return env->l;
	case 'o': return env->o;
	case 'd': return env->d;
	case 'i': return env->i;
	case 'p': return env->p;
	case 'v': return env->v;
	case 'h': return env->h;
	case 'c': return env->c;
	case 'r': return env->r;
	default: return env->t;
	}
}

/* Splits v into parts, reverses and keeps the right-hand ones (7.3). */
static void
out_macro(struct out *o, const struct macro *m, struct span v)
{
	size_t parts = 1, keep, skip, i, s, e;
	bool first = true;

	if (v.p == NULL)
		v = span_make("", 0);
	for (i = 0; i < v.len; i++)
		if (is_delim(m, (unsigned char)v.p[i]))
			parts++;
	keep = m->digits && m->digits < parts ? m->digits : parts;
	skip = parts - keep;
	if (!m->reverse) {
		/* Parts skip .. parts-1, in order. */
		for (i = 0, s = 0; skip > 0; i++)
			if (is_delim(m, (unsigned char)v.p[i])) {
				skip--;
				s = i + 1;
			}
		for (i = s; i <= v.len; i++) {
			if (i < v.len && !is_delim(m, (unsigned char)v.p[i]))
				continue;
			if (!first)
				out_put(o, '.');
			out_value(o, v.p + s, i - s, m->upper);
			first = false;
			s = i + 1;
		}
		return;
	}
	/* Reversed and right-most keep: parts keep-1 down to 0. */
	for (e = 0, i = 0; e < v.len; e++)
		if (is_delim(m, (unsigned char)v.p[e]) && ++i == keep)
			break;
	for (;;) {
		for (s = e; s > 0 && !is_delim(m, (unsigned char)v.p[s - 1]);
		    s--)
			;
		if (!first)
			out_put(o, '.');
		out_value(o, v.p + s, e - s, m->upper);
		first = false;
		if (s == 0)
			break;
		e = s - 1;
	}
}

static int
expand(const char *p, size_t len, const struct spf_macro_env *env,
    enum spf_macro_ctx ctx, struct out *o)
{
	const char *why;
	struct macro m;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] != '%') {
			out_put(o, (unsigned char)p[i++]);
			continue;
		}
		n = read_macro(p, len, i, ctx, &m, &why);
		if (n == 0)
			return ERR_SYNTAX;
		i += n;
		if (!m.braces)
			out_put(o, m.letter == '%' ? '%' :
			    m.letter == '_' ? ' ' : '%');
		if (!m.braces && m.letter == '-') {
			/* "%-" is a URL-encoded space. */
			out_put(o, '2');
			out_put(o, '0');
		}
		if (m.braces)
			out_macro(o, &m, macro_value(env, m.letter));
	}
	return 0;
}

int
spf_macro_expand(const char *p, size_t len, const struct spf_macro_env *env,
    enum spf_macro_ctx ctx, char *out, size_t outsz)
{
	struct out o = { out, outsz - 1, 0, 0 };
	size_t n, k;

	if (expand(p, len, env, ctx, &o) < 0) {
		out[0] = '\0';
		return ERR_SYNTAX;
	}
	if (ctx != SPF_CTX_DOMAIN || o.pos <= SPF_NAME_MAX) {
		n = o.pos < o.cap ? o.pos : o.cap;
		out[n] = '\0';
		return (int)n;
	}
	/* RFC 7208 7.3: too long, so keep the last SPF_NAME_MAX + 1 bytes
	 * and drop whole labels on the left until it fits. */
	o.from = o.pos - (SPF_NAME_MAX + 1);
	o.cap = SPF_NAME_MAX + 1;
	o.pos = 0;
	expand(p, len, env, ctx, &o);
	for (k = 0; k < SPF_NAME_MAX + 1 && out[k] != '.'; k++)
		;
	if (k == SPF_NAME_MAX + 1)
		k = SPF_NAME_MAX; /* one label longer than a name: nothing */
	n = SPF_NAME_MAX - k;
	memmove(out, out + k + 1, n);
	out[n] = '\0';
	return (int)n;
}
