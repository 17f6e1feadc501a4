#include "authres/authres.h"

#include <string.h>

#include "base/ascii.h"
#include "base/span.h"

/* RFC 2045 5.1: tspecials may not appear in a token. */
static bool
is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!is_token_char((unsigned char)*s))
			return false;
	return true;
}

static bool
is_dot_atom(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || p[0] == '.' || p[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (p[i - 1] == '.')
				return false;
		} else if (!ascii_is_atext((unsigned char)p[i])) {
			return false;
		}
	}
	return true;
}

/*
 * RFC 8601 2.2: pvalue = value / [ [ local-part ] "@" ] domain-name, so an
 * address or a domain may stand bare; anything else that is not a token is
 * written as a quoted-string.
 */
static bool
is_bare_pvalue(const char *s)
{
	const char *at = strrchr(s, '@');
	const char *dom = at ? at + 1 : s;

	if (is_token(s))
		return true;
	if (at && at != s && !is_dot_atom(s, (size_t)(at - s)))
		return false;
	return is_dot_atom(dom, strlen(dom)) && strchr(dom, '.') != NULL;
}

static void
put_quoted(struct buf *out, const char *s)
{
	buf_addc(out, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			buf_addc(out, '\\');
		buf_addc(out, (char)c);
	}
	buf_addc(out, '"');
}

static void
put_comment(struct buf *out, const char *s)
{
	buf_adds(out, " (");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c == '(' || c == ')' || c == '\\')
			buf_addc(out, '\\');
		buf_addc(out, (char)c);
	}
	buf_addc(out, ')');
}

void
authres_write(struct buf *out, const char *authserv_id,
    const struct authres_entry *entries, size_t count)
{
	size_t i, j;

	buf_adds(out, "Authentication-Results: ");
	buf_adds(out, authserv_id);
	buf_addc(out, ';');
	if (count == 0)
		buf_adds(out, " none");
	for (i = 0; i < count; i++) {
		const struct authres_entry *e = &entries[i];

		buf_adds(out, "\r\n\t");
		buf_adds(out, e->method);
		buf_addc(out, '=');
		buf_adds(out, e->result);
		if (e->comment && *e->comment)
			put_comment(out, e->comment);
		for (j = 0; j < e->prop_count && j < AUTHRES_PROPS_MAX; j++) {
			const struct authres_prop *p = &e->props[j];

			buf_addc(out, ' ');
			buf_adds(out, p->name);
			buf_addc(out, '=');
			if (is_bare_pvalue(p->value))
				buf_adds(out, p->value);
			else
				put_quoted(out, p->value);
		}
		if (i + 1 < count)
			buf_addc(out, ';');
	}
	buf_adds(out, "\r\n");
}

/* Skips folding white space and nested comments (RFC 5322 CFWS). */
static size_t
skip_cfws(const char *p, size_t len, size_t i)
{
	unsigned depth = 0;

	while (i < len) {
		char c = p[i];

		if (depth) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			break;
		}
		i++;
	}
	return i;
}

bool
authres_is_forged(const char *field, size_t len, const char *authserv_id)
{
	static const char name[] = "authentication-results";
	struct span id = span_cstr(authserv_id);
	char value[256];
	size_t i, n = 0;

	if (!span_has_prefix_nocase(span_make(field, len), name))
		return false;
	i = skip_cfws(field, len, sizeof name - 1);
	if (i >= len || field[i] != ':')
		return false;
	i = skip_cfws(field, len, i + 1);
	if (i < len && field[i] == '"') {
		/* A quoted-string authserv-id: unescape it before comparing. */
		for (i++; i < len && field[i] != '"'; i++) {
			if (field[i] == '\\' && i + 1 < len)
				i++;
			if (field[i] == '\r' || field[i] == '\n')
				continue;
			if (n == sizeof value)
				return false;
			value[n++] = field[i];
		}
	} else {
		for (; i < len && is_token_char((unsigned char)field[i]); i++) {
			if (n == sizeof value)
				return false;
			value[n++] = field[i];
		}
	}
	/* A trailing dot names the same host. */
	if (n > 1 && value[n - 1] == '.')
		n--;
	return span_eq_nocase(span_make(value, n), id);
}
