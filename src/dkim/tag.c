/*
 * Tag lists (RFC 6376 3.2), base64 with folding whitespace (RFC 6376 2.4)
 * and domain name syntax: the lexical layer under signatures and keys.
 */
#include "dkim/dkim_int.h"

#include <stdint.h>
#include <string.h>

#include "base/ascii.h"
#include "base/err.h"
#include "dns/dns.h"

/*
 * RFC 6376 3.2 VALCHAR is %x21-3A / %x3C-7E. Octets above 0x7F are let
 * through as well: RFC 6376 3.5 allows UTF-8 in i= (through RFC 6532
 * messages) and they cannot be confused with the list's own syntax.
 */
static const unsigned char valchar[256] = {
	/* 0x00-0x1f: controls; 0x20: SP. */
	[0x21] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,    /* !../ */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1,         /* 0..? */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         /* @..O */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         /* P.._ */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         /* `..o */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,         /* p..DEL */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         /* 0x80.. */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,         /* ..0xff */
};

/*
 * True when one of the eight bytes at p is not VALCHAR: below 0x21, ';' or
 * DEL. Each test is the classic exact "some byte is below n / is zero"
 * word trick, so a long value (b=, p=) goes eight bytes a step.
 */
static bool
word_has_stop(const char *p)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t highs = UINT64_C(0x8080808080808080);
	uint64_t w, semi, del;

	memcpy(&w, p, sizeof(w));
	semi = w ^ (ones * ';');
	del = w ^ (ones * 0x7f);
	return ((((w - ones * 0x21) & ~w) | ((semi - ones) & ~semi) |
	    ((del - ones) & ~del)) & highs) != 0;
}

/* Tag names are short: comparing them in place beats calls to memcmp. */
static bool
name_eq(struct span a, const char *b, size_t n)
{
	size_t i;

	if (a.len != n)
		return false;
	for (i = 0; i < n; i++)
		if (a.p[i] != b[i])
			return false;
	return true;
}

/*
 * Skips FWS (RFC 5322 3.2.2: [*WSP CRLF] 1*WSP), repeated. A CRLF not
 * followed by WSP is not folding: it stays, and the caller sees a byte it
 * does not accept.
 */
static size_t
skip_fws(const char *p, size_t len, size_t i)
{
	for (;;) {
		while (i < len && ascii_is_wsp((unsigned char)p[i]))
			i++;
		if (len - i >= 3 && p[i] == '\r' && p[i + 1] == '\n' &&
		    ascii_is_wsp((unsigned char)p[i + 2])) {
			i += 2;
			continue;
		}
		return i;
	}
}

int
dkim_tags_parse(const char *p, size_t len, struct dkim_taglist *tl,
    const char **why)
{
	size_t i = 0;

	tl->n = 0;
	for (;;) {
		struct dkim_tag t;
		size_t start, vend, k;

		i = skip_fws(p, len, i);
		/* An empty list, or the optional ';' after the last tag. */
		if (i == len)
			return 0;
		start = i;
		if (!ascii_is_alpha((unsigned char)p[i])) {
			*why = "bad tag name";
			return ERR_SYNTAX;
		}
		while (i < len && (ascii_is_alpha((unsigned char)p[i]) ||
		    ascii_is_digit((unsigned char)p[i]) || p[i] == '_'))
			i++;
		t.name = span_make(p + start, i - start);
		i = skip_fws(p, len, i);
		if (i == len || p[i] != '=') {
			*why = "tag without '='";
			return ERR_SYNTAX;
		}
		i++;
		start = i;
		i = skip_fws(p, len, i);
		t.value.p = p + i;
		vend = i;
		/* Runs of VALCHAR, most values whole, in a tight loop; FWS
		 * between them. */
		for (;;) {
			size_t j = i;

			while (len - i >= 8 && !word_has_stop(p + i))
				i += 8;
			while (i < len && valchar[(unsigned char)p[i]])
				i++;
			if (i > j)
				vend = i;
			if (i == len || p[i] == ';')
				break;
			j = skip_fws(p, len, i);
			if (j == i) {
				*why = "bad character in tag value";
				return ERR_SYNTAX;
			}
			i = j;
		}
		t.value.len = (size_t)(p + vend - t.value.p);
		t.raw = span_make(p + start, i - start);
		/* RFC 6376 3.2: tags are case-sensitive, duplicates invalid. */
		for (k = 0; k < tl->n; k++)
			if (name_eq(tl->tag[k].name, t.name.p, t.name.len)) {
				*why = "duplicate tag";
				return ERR_SYNTAX;
			}
		if (tl->n == DKIM_TAGS_MAX) {
			*why = "too many tags";
			return ERR_LIMIT;
		}
		tl->tag[tl->n++] = t;
		if (i == len)
			return 0;
		i++;
	}
}

const struct dkim_tag *
dkim_tags_get(const struct dkim_taglist *tl, const char *name)
{
	size_t k, n = strlen(name);

	for (k = 0; k < tl->n; k++)
		if (name_eq(tl->tag[k].name, name, n))
			return &tl->tag[k];
	return NULL;
}

/* Base64 digit values plus one; B64_WSP for folding whitespace, B64_PAD
 * for '=', 0 for everything else. */
#define B64_WSP 65
#define B64_PAD 66

static const unsigned char b64_class[256] = {
	[' '] = B64_WSP, ['\t'] = B64_WSP, ['\r'] = B64_WSP, ['\n'] = B64_WSP,
	['='] = B64_PAD,
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17,
	['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,
	['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31,
	['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41,
	['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46,
	['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51,
	['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61,
	['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/*
 * Decodes whole groups of four digits from p[0..len) into out while there
 * is room: the bulk of b= and p=, without the checks one character needs.
 * Returns the number of groups.
 */
static size_t
b64_groups(const unsigned char *p, size_t len, unsigned char *out,
    size_t outsz)
{
	size_t g, max = len / 4 < outsz / 3 ? len / 4 : outsz / 3;

	for (g = 0; g < max; g++, p += 4, out += 3) {
		unsigned a = b64_class[p[0]] - 1u, b = b64_class[p[1]] - 1u;
		unsigned c = b64_class[p[2]] - 1u, d = b64_class[p[3]] - 1u;
		uint32_t v;

		if ((a | b | c | d) >= 64)
			break;
		v = a << 18 | b << 12 | c << 6 | d;
		out[0] = (unsigned char)(v >> 16);
		out[1] = (unsigned char)(v >> 8);
		out[2] = (unsigned char)v;
	}
	return g;
}

long
dkim_base64_decode(struct span in, unsigned char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)in.p;
	unsigned long acc = 0;
	size_t i = 0, n = 0, quads = 0, pad = 0;

	while (i < in.len) {
		unsigned v;

		if (quads % 4 == 0 && pad == 0) {
			size_t g = b64_groups(p + i, in.len - i, out + n,
			    outsz - n);

			i += 4 * g;
			n += 3 * g;
			quads += 4 * g;
			if (i == in.len)
				break;
		}
		v = b64_class[p[i++]];
		if (v == B64_WSP)
			continue;
		if (v == B64_PAD) {
			/* At most two, and nothing but whitespace after. */
			if (++pad > 2)
				return -1;
			quads++;
			continue;
		}
		if (pad || v == 0)
			return -1;
		acc = (acc << 6) | (v - 1);
		if (++quads % 4 == 0) {
			if (outsz - n < 3)
				return -1;
			out[n++] = (unsigned char)(acc >> 16);
			out[n++] = (unsigned char)(acc >> 8);
			out[n++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (quads % 4 != 0)
		return -1;
	if (pad) {
		/* The group with padding: 4 - pad characters carry data. */
		size_t keep = 3 - pad;
		size_t k;

		acc <<= 6 * pad;
		if (outsz - n < keep)
			return -1;
		for (k = 0; k < keep; k++)
			out[n++] = (unsigned char)(acc >> (16 - 8 * k));
	}
	return (long)n;
}

bool
dkim_domain_valid(struct span d, bool underscore)
{
	size_t i, label = 0;

	if (d.len == 0 || d.len > DNS_NAME_MAX)
		return false;
	for (i = 0; i < d.len; i++) {
		unsigned char c = (unsigned char)d.p[i];

		if (c == '.') {
			if (label == 0 || d.p[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!ascii_is_alpha(c) && !ascii_is_digit(c) && c != '-' &&
		    !(underscore && c == '_'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > DNS_LABEL_MAX)
			return false;
	}
	return label > 0 && d.p[d.len - 1] != '-';
}
