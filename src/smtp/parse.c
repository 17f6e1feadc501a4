/*
 * SMTP parsers: command line, paths (RFC 5321 4.1.2 with RFC 6531's UTF-8),
 * MAIL parameters and the HELO argument. Pure and bounded: they read only
 * p[0..len) and write only into the caller's structs.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "base/ascii.h"
#include "base/utf8.h"
#include "base/err.h"
#include "smtp/smtp_int.h"

/* The longest verb we know is 8 ("STARTTLS"); anything far longer is junk. */
#define SMTP_VERB_MAX 16
/* RFC 1870 SIZE: a 20-digit number overflows nothing in uint64_t. */
#define SMTP_SIZE_DIGITS_MAX 20

int
smtp_parse_cmdline(const char *p, size_t len, struct smtp_cmdline *out)
{
	size_t i = 0;

	while (i < len && ascii_is_alpha((unsigned char)p[i]))
		i++;
	if (i == 0 || i > SMTP_VERB_MAX || (i < len && p[i] != ' '))
		return ERR_SYNTAX;
	out->verb = span_make(p, i);
	out->arg = i < len ? span_make(p + i + 1, len - i - 1) :
	    span_make(p + len, 0);
	return 0;
}

struct cur {
	const unsigned char *p;
	size_t len, off;
};

static int
cur_peek(const struct cur *c)
{
	return c->off < c->len ? c->p[c->off] : -1;
}

/*
 * A dot-string (RFC 5321 4.1.2) with UTF-8 (RFC 6531 4.1), copied into
 * out. Returns its length, or 0 on a syntax error.
 */
static size_t
parse_dot_string(struct cur *c, char *out, size_t outsz, bool *utf8,
    int *err)
{
	size_t o = 0;
	bool need_atom = true;

	for (;;) {
		int ch = cur_peek(c);
		size_t n = 1;

		if (ch < 0)
			break;
		if (ch == '.') {
			if (need_atom)
				return 0;
			need_atom = true;
		} else if (ch >= 0x80) {
			n = utf8_seq(c->p + c->off, c->len - c->off);
			if (n == 0)
				return 0;
			*utf8 = true;
			need_atom = false;
		} else if (ascii_is_atext((unsigned char)ch)) {
			need_atom = false;
		} else {
			break;
		}
		if (o + n >= outsz) {
			*err = SMTP_ADDR_TOOLONG;
			return 0;
		}
		memcpy(out + o, c->p + c->off, n);
		o += n;
		c->off += n;
	}
	if (need_atom)
		return 0;
	out[o] = '\0';
	return o;
}

/* A quoted-string; out gets the content without quotes and escapes. */
static size_t
parse_quoted(struct cur *c, char *out, size_t outsz, bool *utf8, int *err)
{
	size_t o = 0;

	c->off++; /* the opening quote */
	for (;;) {
		int ch = cur_peek(c);
		size_t n = 1;

		if (ch < 0)
			return 0;
		if (ch == '"') {
			c->off++;
			break;
		}
		if (ch == '\\') {
			c->off++;
			ch = cur_peek(c);
			if (ch < 32 || ch > 126)
				return 0;
		} else if (ch >= 0x80) {
			n = utf8_seq(c->p + c->off, c->len - c->off);
			if (n == 0)
				return 0;
			*utf8 = true;
		} else if (ch < 32 || ch > 126) {
			return 0;
		}
		if (o + n >= outsz) {
			*err = SMTP_ADDR_TOOLONG;
			return 0;
		}
		memcpy(out + o, c->p + c->off, n);
		o += n;
		c->off += n;
	}
	out[o] = '\0';
	return o == 0 ? (size_t)-1 : o;
}

/* Whether s is a dot-string by itself (so its quotes can go). */
static bool
is_dot_string(const char *s, size_t len)
{
	struct cur c = { (const unsigned char *)s, len, 0 };
	char tmp[SMTP_LOCAL_MAX + 1];
	bool utf8 = false;
	int err = 0;

	return parse_dot_string(&c, tmp, sizeof tmp, &utf8, &err) == len;
}

/* A Domain (RFC 5321 4.1.2), U-labels allowed; no trailing dot. */
static size_t
parse_domain(struct cur *c, char *out, size_t outsz, bool *utf8, int *err)
{
	size_t o = 0, label = 0;

	for (;;) {
		int ch = cur_peek(c);
		size_t n = 1;

		if (ch < 0)
			break;
		if (ch == '.') {
			if (label == 0 || out[o - 1] == '-')
				return 0;
			label = 0;
		} else if (ch >= 0x80) {
			n = utf8_seq(c->p + c->off, c->len - c->off);
			if (n == 0)
				return 0;
			*utf8 = true;
			label += n;
		} else if (ascii_is_alpha((unsigned char)ch) ||
		    ascii_is_digit((unsigned char)ch)) {
			label++;
		} else if (ch == '-') {
			if (label == 0)
				return 0;
			label++;
		} else {
			break;
		}
		if (label > 63 || o + n >= outsz) {
			*err = SMTP_ADDR_TOOLONG;
			return 0;
		}
		memcpy(out + o, c->p + c->off, n);
		o += n;
		c->off += n;
	}
	if (o == 0 || label == 0 || out[o - 1] == '-')
		return 0;
	out[o] = '\0';
	return o;
}

/* "[192.0.2.1]", "[IPv6:2001:db8::1]" or a general "[tag:text]". */
static size_t
parse_literal(struct cur *c, char *out, size_t outsz)
{
	const unsigned char *start = c->p + c->off;
	const unsigned char *end;
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	size_t n, i;

	end = memchr(start, ']', c->len - c->off);
	if (!end)
		return 0;
	n = (size_t)(end - start) + 1;
	if (n >= outsz || n < 3)
		return 0;
	for (i = 1; i + 1 < n; i++)
		if (start[i] < 33 || start[i] > 126 || start[i] == '[' ||
		    start[i] == '\\')
			return 0;
	if (n - 2 < sizeof addr && ascii_is_digit(start[1])) {
		memcpy(addr, start + 1, n - 2);
		addr[n - 2] = '\0';
		if (inet_pton(AF_INET, addr, bin) != 1)
			return 0;
	} else if (n > 7 && memcmp(start + 1, "IPv6:", 5) == 0) {
		if (n - 7 >= sizeof addr)
			return 0;
		memcpy(addr, start + 6, n - 7);
		addr[n - 7] = '\0';
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return 0;
	} else if (!memchr(start, ':', n)) {
		return 0;
	}
	memcpy(out, start, n);
	out[n] = '\0';
	c->off += n;
	return n;
}

/* Skips an RFC 5321 A-d-l ("@a,@b:"): RFC 5321 4.1.1.3 says ignore it. */
static bool
skip_route(struct cur *c)
{
	char tmp[SMTP_DOMAIN_MAX + 1];
	bool utf8 = false;
	int err = 0;

	for (;;) {
		if (cur_peek(c) != '@')
			return false;
		c->off++;
		if (parse_domain(c, tmp, sizeof tmp, &utf8, &err) == 0)
			return false;
		if (cur_peek(c) == ':') {
			c->off++;
			return true;
		}
		if (cur_peek(c) != ',')
			return false;
		c->off++;
	}
}

static int
parse_mailbox(struct cur *c, struct smtp_addr *a)
{
	int err = SMTP_ADDR_SYNTAX;
	size_t n;

	if (cur_peek(c) == '@' && !skip_route(c))
		return SMTP_ADDR_SYNTAX;
	if (cur_peek(c) == '"') {
		n = parse_quoted(c, a->local, sizeof a->local, &a->utf8, &err);
		if (n == 0)
			return err;
		if (n == (size_t)-1) {
			a->local[0] = '\0';
			n = 0;
		}
		a->quoted = n == 0 || !is_dot_string(a->local, n);
	} else {
		n = parse_dot_string(c, a->local, sizeof a->local, &a->utf8,
		    &err);
		if (n == 0)
			return err;
	}
	if (c->off == c->len) {
		/* RFC 5321 4.5.1: "<Postmaster>" needs no domain. */
		if (!a->quoted && strcasecmp(a->local, "postmaster") == 0) {
			a->postmaster = true;
			return SMTP_ADDR_OK;
		}
		return SMTP_ADDR_SYNTAX;
	}
	if (cur_peek(c) != '@')
		return SMTP_ADDR_SYNTAX;
	c->off++;
	err = SMTP_ADDR_SYNTAX;
	if (cur_peek(c) == '[') {
		if (parse_literal(c, a->domain, sizeof a->domain) == 0)
			return SMTP_ADDR_SYNTAX;
		a->literal = true;
	} else if (parse_domain(c, a->domain, sizeof a->domain, &a->utf8,
	    &err) == 0) {
		return err;
	}
	if (c->off != c->len)
		return SMTP_ADDR_SYNTAX;
	/*
	 * The percent hack, bang paths and a quoted '@' all name another
	 * host inside the local part: a downstream system could relay on
	 * them, so they never pass as a local mailbox.
	 */
	if (strpbrk(a->local, "%!@"))
		return SMTP_ADDR_ROUTING;
	return SMTP_ADDR_OK;
}

int
smtp_parse_path(struct span arg, const char *kw, struct smtp_addr *out,
    struct span *params)
{
	size_t kwlen = strlen(kw), i, close;
	bool inq = false;
	struct cur c;

	memset(out, 0, sizeof *out);
	*params = span_make(arg.p + arg.len, 0);
	if (!span_has_prefix_nocase(arg, kw))
		return -1;
	i = kwlen;
	while (i < arg.len && arg.p[i] == ' ')
		i++;
	if (i == arg.len || arg.p[i] != '<')
		return -1;
	/* Find the closing bracket outside any quoted string. */
	for (close = i + 1; close < arg.len; close++) {
		char ch = arg.p[close];

		if (inq && ch == '\\' && close + 1 < arg.len)
			close++;
		else if (ch == '"')
			inq = !inq;
		else if (ch == '>' && !inq)
			break;
	}
	if (close >= arg.len)
		return -1;
	if (close - i + 1 > SMTP_PATH_MAX)
		return SMTP_ADDR_TOOLONG;
	if (close + 1 < arg.len && arg.p[close + 1] != ' ')
		return -1;
	*params = span_trim(span_make(arg.p + close + 1, arg.len - close - 1));
	if (close == i + 1) {
		out->null = true;
		return SMTP_ADDR_OK;
	}
	c = (struct cur){ (const unsigned char *)arg.p + i + 1, close - i - 1,
		0 };
	return parse_mailbox(&c, out);
}

/* esmtp-keyword and esmtp-value, RFC 5321 4.1.2. */
static bool
param_ok(struct span kw, struct span val, bool has_val)
{
	size_t i;

	if (kw.len == 0 || !(ascii_is_alpha((unsigned char)kw.p[0]) ||
	    ascii_is_digit((unsigned char)kw.p[0])))
		return false;
	for (i = 1; i < kw.len; i++)
		if (!ascii_is_alpha((unsigned char)kw.p[i]) &&
		    !ascii_is_digit((unsigned char)kw.p[i]) && kw.p[i] != '-')
			return false;
	if (has_val && val.len == 0)
		return false;
	for (i = 0; i < val.len; i++)
		if ((unsigned char)val.p[i] < 33 ||
		    (unsigned char)val.p[i] > 126 || val.p[i] == '=')
			return false;
	return true;
}

int
smtp_parse_mail_params(struct span params, struct smtp_mail_params *out)
{
	bool seen_size = false;

	memset(out, 0, sizeof *out);
	while (params.len) {
		const char *sp = memchr(params.p, ' ', params.len);
		size_t n = sp ? (size_t)(sp - params.p) : params.len;
		struct span tok = span_make(params.p, n), kw = tok, val = { 0 };
		const char *eq = memchr(tok.p, '=', tok.len);
		unsigned long long size;

		if (eq) {
			kw.len = (size_t)(eq - tok.p);
			val = span_make(eq + 1, tok.len - kw.len - 1);
		}
		if (!param_ok(kw, val, eq != NULL))
			return ERR_SYNTAX;
		if (span_eq_nocase_cstr(kw, "SIZE") && eq && !seen_size) {
			if (val.len > SMTP_SIZE_DIGITS_MAX ||
			    !span_to_u64(val, UINT64_MAX, &size))
				return ERR_SYNTAX;
			out->size = size;
			seen_size = true;
		} else if (span_eq_nocase_cstr(kw, "BODY") && eq &&
		    out->body == SMTP_BODY_NONE) {
			if (span_eq_nocase_cstr(val, "7BIT"))
				out->body = SMTP_BODY_7BIT;
			else if (span_eq_nocase_cstr(val, "8BITMIME"))
				out->body = SMTP_BODY_8BITMIME;
			else
				return ERR_SYNTAX;
		} else if (span_eq_nocase_cstr(kw, "SMTPUTF8") && !eq &&
		    !out->smtputf8) {
			out->smtputf8 = true;
		} else {
			return ERR_SYNTAX;
		}
		params = span_trim(span_make(params.p + n, params.len - n));
	}
	return 0;
}

/*
 * A HELO name: labels of letters, digits, hyphens and underscores, none
 * empty, none starting or ending with a hyphen. Underscores are not in
 * host names (RFC 1123), but Windows machines put them in theirs and
 * Postfix's valid_hostname() takes them too: refusing them would refuse
 * their mail for nothing the checks need.
 */
static bool
helo_name_valid(const char *p, size_t len)
{
	size_t i, label = 0;

	if (len > SMTP_DOMAIN_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '.') {
			if (label == 0 || p[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!ascii_is_alnum(ch) && ch != '_' &&
		    (ch != '-' || label == 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && p[len - 1] != '-';
}

bool
smtp_helo_valid(struct span arg)
{
	struct cur c = { (const unsigned char *)arg.p, arg.len, 0 };
	char tmp[SMTP_DOMAIN_MAX + 1];

	if (arg.len == 0)
		return false;
	if (arg.p[0] == '[')
		return parse_literal(&c, tmp, sizeof tmp) == arg.len;
	/* A trailing dot is common in the wild and harmless here. */
	if (arg.len > 1 && arg.p[arg.len - 1] == '.')
		return helo_name_valid(arg.p, arg.len - 1);
	return helo_name_valid(arg.p, arg.len);
}
