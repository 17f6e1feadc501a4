/*
 * The SPF record parser (RFC 7208 4.5, 4.6, 5, 6, 12 ABNF). Pure: no I/O,
 * no allocation; output goes into the caller's struct spf_record.
 */
#include <arpa/inet.h>
#include <string.h>

#include "base/ascii.h"
#include "base/err.h"
#include "spf/spf_int.h"

static const struct {
	const char *name;
	enum spf_mech mech;
} mechs[] = {
	{ "all", SPF_M_ALL },
	{ "include", SPF_M_INCLUDE },
	{ "a", SPF_M_A },
	{ "mx", SPF_M_MX },
	{ "ptr", SPF_M_PTR },
	{ "ip4", SPF_M_IP4 },
	{ "ip6", SPF_M_IP6 },
	{ "exists", SPF_M_EXISTS },
};

bool
spf_record_is_spf1(const char *p, size_t len)
{
	/* RFC 7208 4.5: "v=spf1" exactly, then a space or the end. */
	if (!span_has_prefix_nocase(span_make(p, len), "v=spf1"))
		return false;
	return len == 6 || p[6] == ' ';
}

size_t
spf_record_max_terms(size_t len)
{
	/* Terms are separated by at least one space. */
	return len / 2 + 1;
}

static int
fail(struct spf_record *rec, const char *why, struct span at)
{
	rec->err = why;
	rec->err_at = at;
	return ERR_SYNTAX;
}

/* A decimal without leading zeros, at most max (RFC 7208 5.6 cidr). */
static bool
parse_cidr(struct span s, unsigned max, uint8_t *out)
{
	unsigned long long v;

	if (s.len == 0 || (s.len > 1 && s.p[0] == '0'))
		return false;
	if (!span_to_u64(s, max, &v))
		return false;
	*out = (uint8_t)v;
	return true;
}

/* ip4-network: four qnum without leading zeros (RFC 7208 5.6). */
static bool
parse_ip4(struct span s, unsigned char out[4])
{
	size_t i = 0, start;
	int part;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= s.len || s.p[i] != '.')
				return false;
			i++;
		}
		start = i;
		while (i < s.len && ascii_is_digit((unsigned char)s.p[i]))
			i++;
		if (!parse_cidr(span_make(s.p + start, i - start), 255,
		    out + part))
			return false;
	}
	return i == s.len;
}

static bool
parse_ip6(struct span s, unsigned char out[16])
{
	char tmp[46]; /* INET6_ADDRSTRLEN */
	size_t i;

	if (s.len == 0 || s.len >= sizeof(tmp))
		return false;
	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (!(ascii_is_digit(c) || c == ':' || c == '.' ||
		    ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')))
			return false;
	}
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

/*
 * Splits a trailing dual-cidr-length (RFC 7208 5.6) off *s. With v6only
 * (ip6) only "/N" is an ip6 length; with v4only (ip4) only "/N" for ip4.
 */
enum cidr_kind { CIDR_DUAL, CIDR_4, CIDR_6 };

static bool
split_cidr(struct span *s, enum cidr_kind kind, struct spf_term *t)
{
	size_t i = s->len;
	struct span num;

	while (i > 0 && ascii_is_digit((unsigned char)s->p[i - 1]))
		i--;
	if (i == 0 || s->p[i - 1] != '/')
		return true; /* no cidr */
	if (i == s->len)
		return false; /* a bare trailing "/" */
	num = span_make(s->p + i, s->len - i);
	if (kind == CIDR_DUAL && i >= 2 && s->p[i - 2] == '/') {
		if (!parse_cidr(num, 128, &t->cidr6))
			return false;
		s->len = i - 2;
		return split_cidr(s, CIDR_4, t);
	}
	if (kind == CIDR_6) {
		if (!parse_cidr(num, 128, &t->cidr6))
			return false;
	} else if (!parse_cidr(num, 32, &t->cidr4)) {
		return false;
	}
	s->len = i - 1;
	return true;
}

static int
parse_mechanism(struct spf_record *rec, struct span term)
{
	struct spf_term *t;
	struct span name, arg;
	bool has_arg = false;
	const char *why = NULL;
	unsigned flags = 0;
	size_t i, n;

	if (rec->n == rec->cap)
		return ERR_LIMIT;
	t = &rec->term[rec->n];
	memset(t, 0, sizeof(*t));
	t->text = term;
	t->result = SPF_PASS;
	t->cidr4 = 32;
	t->cidr6 = 128;
	switch (term.p[0]) {
	case '+': t->result = SPF_PASS; break;
	case '-': t->result = SPF_FAIL; break;
	case '~': t->result = SPF_SOFTFAIL; break;
	case '?': t->result = SPF_NEUTRAL; break;
	default: goto named;
	}
	term.p++;
	term.len--;
named:
	for (i = 0; i < term.len && term.p[i] != ':' && term.p[i] != '/'; i++)
		;
	name = span_make(term.p, i);
	arg = span_make(term.p + i, term.len - i);
	for (n = 0; n < sizeof(mechs) / sizeof(mechs[0]); n++)
		if (span_eq_nocase_cstr(name, mechs[n].name))
			break;
	if (n == sizeof(mechs) / sizeof(mechs[0]))
		return fail(rec, "unknown mechanism", term);
	t->mech = (uint8_t)mechs[n].mech;
	if (arg.len && arg.p[0] == ':') {
		has_arg = true;
		arg.p++;
		arg.len--;
	}

	switch (t->mech) {
	case SPF_M_ALL:
		if (has_arg || arg.len)
			return fail(rec, "\"all\" takes no argument", term);
		break;
	case SPF_M_INCLUDE:
	case SPF_M_EXISTS:
	case SPF_M_PTR:
		if (!has_arg && (t->mech != SPF_M_PTR || arg.len))
			return fail(rec, "domain-spec expected", term);
		break;
	case SPF_M_A:
	case SPF_M_MX:
		if (!split_cidr(&arg, CIDR_DUAL, t))
			return fail(rec, "bad CIDR length", term);
		if (!has_arg && arg.len)
			return fail(rec, "bad mechanism argument", term);
		break;
	case SPF_M_IP4:
		if (!has_arg || !split_cidr(&arg, CIDR_4, t))
			return fail(rec, "bad ip4 network", term);
		if (!parse_ip4(arg, t->addr))
			return fail(rec, "bad ip4 address", term);
		break;
	case SPF_M_IP6:
		if (!has_arg || !split_cidr(&arg, CIDR_6, t))
			return fail(rec, "bad ip6 network", term);
		if (!parse_ip6(arg, t->addr))
			return fail(rec, "bad ip6 address", term);
		break;
	}
	if (has_arg && t->mech != SPF_M_IP4 && t->mech != SPF_M_IP6) {
		if (arg.len == 0)
			return fail(rec, "empty domain-spec", term);
		if (spf_macro_check(arg.p, arg.len, SPF_CTX_DOMAIN, &flags,
		    &why) < 0)
			return fail(rec, why, term);
		t->spec = arg;
		t->flags = (uint8_t)flags;
	}
	rec->n++;
	return 0;
}

static int
parse_modifier(struct spf_record *rec, struct span term, size_t eq)
{
	struct span name = span_make(term.p, eq);
	struct span val = span_make(term.p + eq + 1, term.len - eq - 1);
	struct span *slot = NULL;
	uint8_t *slot_flags = NULL;
	const char *why = NULL;
	unsigned flags = 0;
	size_t i;

	/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
	if (!ascii_is_alpha((unsigned char)name.p[0]))
		return fail(rec, "bad modifier name", term);
	for (i = 1; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];

		if (!ascii_is_alpha(c) && !ascii_is_digit(c) && c != '-' && c != '_' &&
		    c != '.')
			return fail(rec, "bad modifier name", term);
	}
	if (span_eq_nocase_cstr(name, "redirect")) {
		slot = &rec->redirect;
		slot_flags = &rec->redirect_flags;
	} else if (span_eq_nocase_cstr(name, "exp")) {
		slot = &rec->exp;
		slot_flags = &rec->exp_flags;
	}
	if (slot == NULL) {
		/* RFC 7208 6: unknown modifiers are ignored, but their value
		 * must still be a valid macro-string. */
		if (spf_macro_check(val.p, val.len, SPF_CTX_MOD, &flags,
		    &why) < 0)
			return fail(rec, why, term);
		return 0;
	}
	if (slot->p != NULL)
		return fail(rec, "modifier appears twice", term);
	if (val.len == 0)
		return fail(rec, "empty domain-spec", term);
	if (spf_macro_check(val.p, val.len, SPF_CTX_DOMAIN, &flags, &why) < 0)
		return fail(rec, why, term);
	*slot = val;
	*slot_flags = (uint8_t)flags;
	return 0;
}

int
spf_record_parse(const char *p, size_t len, struct spf_record *rec)
{
	size_t i = 6; /* after "v=spf1" */
	int rc;

	rec->n = 0;
	rec->redirect = rec->exp = span_make(NULL, 0);
	rec->redirect_flags = rec->exp_flags = 0;
	rec->err = NULL;
	rec->err_at = span_make(p, 0);
	if (!spf_record_is_spf1(p, len))
		return fail(rec, "not an SPF record", span_make(p, len));
	while (i < len) {
		struct span term;
		size_t start, eq = 0;
		bool is_mod = false;

		if (p[i] == ' ') {
			i++;
			continue;
		}
		start = i;
		while (i < len && p[i] != ' ')
			i++;
		term = span_make(p + start, i - start);
		/* A modifier is a name directly followed by '=' (RFC 7208
		 * 4.6.1); a mechanism name never contains '='. */
		for (eq = 0; eq < term.len; eq++) {
			unsigned char c = (unsigned char)term.p[eq];

			if (c == '=') {
				is_mod = eq > 0;
				break;
			}
			if (!ascii_is_alpha(c) && !ascii_is_digit(c) && c != '-' &&
			    c != '_' && c != '.')
				break;
		}
		rc = is_mod ? parse_modifier(rec, term, eq) :
		    parse_mechanism(rec, term);
		if (rc == ERR_LIMIT) {
			fail(rec, "too many terms", term);
			return ERR_LIMIT;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}
