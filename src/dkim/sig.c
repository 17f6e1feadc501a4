/*
 * DKIM-Signature fields (RFC 6376 3.5) and key records (RFC 6376 3.6.1,
 * RFC 8463 4) parsed into structs, with every rule that needs neither the
 * key nor the clock.
 */
#include "dkim/dkim_int.h"

#include <string.h>

#include "base/err.h"

/* RFC 6376 3.5 l=: "no more than 76 decimal digits". */
#define DKIM_L_DIGITS_MAX 76

static int
fail(const char **why, const char *text)
{
	*why = text;
	return ERR_SYNTAX;
}

static bool
is_fws_byte(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Takes the next element of a colon-separated list with FWS around the
 * elements (h=, q=, and the key's h=, s=, t=) off rest. Returns false at
 * the end of the list; an element may be empty.
 */
static bool
list_next(struct span *rest, struct span *elem)
{
	const char *p = rest->p, *colon;
	size_t len;

	if (rest->len == 0 && rest->p == NULL)
		return false;
	colon = memchr(p, ':', rest->len);
	len = colon ? (size_t)(colon - p) : rest->len;
	*elem = span_make(p, len);
	/* Folding inside a list element is whitespace around it. */
	while (elem->len && is_fws_byte(elem->p[0])) {
		elem->p++;
		elem->len--;
	}
	while (elem->len && is_fws_byte(elem->p[elem->len - 1]))
		elem->len--;
	if (colon) {
		rest->p = colon + 1;
		rest->len -= len + 1;
	} else {
		rest->p = NULL;
		rest->len = 0;
	}
	return true;
}

static bool
list_has(struct span list, const char *want)
{
	struct span e;

	while (list_next(&list, &e))
		if (span_eq_nocase_cstr(e, want))
			return true;
	return false;
}

/* RFC 5322 3.6.8 ftext: printable ASCII except colon. */
static bool
field_name_valid(struct span n)
{
	size_t i;

	if (n.len == 0)
		return false;
	for (i = 0; i < n.len; i++)
		if ((unsigned char)n.p[i] < 33 || (unsigned char)n.p[i] > 126 ||
		    n.p[i] == ':')
			return false;
	return true;
}

static bool
parse_number(struct span v, unsigned maxdigits, unsigned long long *out)
{
	size_t i;

	if (v.len == 0 || v.len > maxdigits)
		return false;
	for (i = 0; i < v.len; i++)
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
	/* Longer than 64 bits (l= may have 76 digits): as good as infinite. */
	if (!span_to_u64(v, ~0ULL, out))
		*out = ~0ULL;
	return true;
}

static int
parse_canon(struct span c, struct dkim_sig *sig)
{
	const char *slash = memchr(c.p, '/', c.len);
	struct span hc = span_make(c.p, slash ? (size_t)(slash - c.p) : c.len);
	struct span bc = slash ? span_make(slash + 1,
	    c.len - hc.len - 1) : SPAN_LIT("simple");

	if (span_eq(hc, SPAN_LIT("simple")))
		sig->hcanon = DKIM_C_SIMPLE;
	else if (span_eq(hc, SPAN_LIT("relaxed")))
		sig->hcanon = DKIM_C_RELAXED;
	else
		return -1;
	if (span_eq(bc, SPAN_LIT("simple")))
		sig->bcanon = DKIM_C_SIMPLE;
	else if (span_eq(bc, SPAN_LIT("relaxed")))
		sig->bcanon = DKIM_C_RELAXED;
	else
		return -1;
	return 0;
}

/* RFC 6376 3.5 i=: its domain is d= or a subdomain of it. */
static bool
auid_within(struct span i, struct span d)
{
	const char *at = NULL;
	struct span dom;
	size_t k;

	for (k = 0; k < i.len; k++)
		if (i.p[k] == '@')
			at = i.p + k;
	if (at == NULL)
		return false;
	dom = span_make(at + 1, (size_t)(i.p + i.len - at - 1));
	if (span_eq_nocase(dom, d))
		return true;
	return dom.len > d.len + 1 && dom.p[dom.len - d.len - 1] == '.' &&
	    span_eq_nocase(span_make(dom.p + dom.len - d.len, d.len), d);
}

int
dkim_sig_parse(const char *p, size_t len, struct dkim_sig *sig,
    const char **why)
{
	struct dkim_taglist tl;
	const struct dkim_tag *t;
	struct span h, e;
	bool from = false;
	long n;
	int rc;

	memset(sig, 0, sizeof(*sig));
	sig->hcanon = sig->bcanon = DKIM_C_SIMPLE;
	if ((rc = dkim_tags_parse(p, len, &tl, why)) < 0)
		return ERR_SYNTAX;
	/* Names for the result first, so even a bad signature is named. */
	if ((t = dkim_tags_get(&tl, "d")))
		sig->d = t->value;
	if ((t = dkim_tags_get(&tl, "s")))
		sig->s = t->value;
	if ((t = dkim_tags_get(&tl, "a")))
		sig->a = t->value;
	if ((t = dkim_tags_get(&tl, "b")))
		sig->b_text = t->value;

	if ((t = dkim_tags_get(&tl, "v")) == NULL)
		return fail(why, "missing v=");
	if (!span_eq(t->value, SPAN_LIT("1")))
		return fail(why, "unsupported version");
	if (sig->a.p == NULL)
		return fail(why, "missing a=");
	if (span_eq(sig->a, SPAN_LIT("rsa-sha256")))
		sig->alg = DKIM_A_RSA_SHA256;
	else if (span_eq(sig->a, SPAN_LIT("ed25519-sha256")))
		sig->alg = DKIM_A_ED25519_SHA256;
	else if (span_eq(sig->a, SPAN_LIT("rsa-sha1")))
		sig->alg = DKIM_A_RSA_SHA1;
	else
		return fail(why, "unknown algorithm");

	if ((t = dkim_tags_get(&tl, "b")) == NULL)
		return fail(why, "missing b=");
	sig->b_raw = t->raw;
	n = dkim_base64_decode(t->value, sig->b, sizeof(sig->b));
	if (n <= 0)
		return fail(why, "bad b= value");
	sig->blen = (size_t)n;

	if ((t = dkim_tags_get(&tl, "bh")) == NULL)
		return fail(why, "missing bh=");
	{
		/* rsa-sha1's 20 bytes are checked only far enough to refuse
		 * the algorithm later with its own reason. */
		unsigned char tmp[DKIM_SHA256_LEN];
		size_t want = sig->alg == DKIM_A_RSA_SHA1 ? 20 :
		    DKIM_SHA256_LEN;

		n = dkim_base64_decode(t->value, tmp, sizeof(tmp));
		if (n != (long)want)
			return fail(why, "bad bh= value");
		memcpy(sig->bh, tmp, want);
	}

	if ((t = dkim_tags_get(&tl, "c")) && parse_canon(t->value, sig) < 0)
		return fail(why, "unknown canonicalization");

	if (sig->d.p == NULL)
		return fail(why, "missing d=");
	if (!dkim_domain_valid(sig->d, false))
		return fail(why, "bad d= domain");

	if ((t = dkim_tags_get(&tl, "h")) == NULL)
		return fail(why, "missing h=");
	h = t->value;
	while (list_next(&h, &e)) {
		if (!field_name_valid(e))
			return fail(why, "bad h= field name");
		if (sig->nh == DKIM_H_MAX)
			return fail(why, "too many h= fields");
		sig->h[sig->nh++] = e;
		if (span_eq_nocase_cstr(e, "from"))
			from = true;
	}
	/* RFC 6376 5.4 and 6.1.1: the From field must be signed. */
	if (!from)
		return fail(why, "From not signed");

	if ((t = dkim_tags_get(&tl, "i"))) {
		sig->i = t->value;
		if (!auid_within(sig->i, sig->d))
			return fail(why, "i= not within d=");
	}
	if ((t = dkim_tags_get(&tl, "l"))) {
		if (!parse_number(t->value, DKIM_L_DIGITS_MAX, &sig->l))
			return fail(why, "bad l= value");
		sig->has_l = true;
	}
	if ((t = dkim_tags_get(&tl, "q")) && !list_has(t->value, "dns/txt"))
		return fail(why, "no usable q= method");

	if (sig->s.p == NULL)
		return fail(why, "missing s=");
	if (!dkim_domain_valid(sig->s, true))
		return fail(why, "bad s= selector");

	/* RFC 6376 3.5 t=, x=: 12 digits is "at least" - accept up to 20. */
	if ((t = dkim_tags_get(&tl, "t"))) {
		if (!parse_number(t->value, 20, &sig->t))
			return fail(why, "bad t= value");
		sig->has_t = true;
	}
	if ((t = dkim_tags_get(&tl, "x"))) {
		if (!parse_number(t->value, 20, &sig->x))
			return fail(why, "bad x= value");
		sig->has_x = true;
	}
	return 0;
}

int
dkim_keyrec_parse(const char *p, size_t len, struct dkim_keyrec *kr,
    const char **why)
{
	struct dkim_taglist tl;
	const struct dkim_tag *t;
	struct span list, e;
	long n;

	memset(kr, 0, sizeof(*kr));
	if (dkim_tags_parse(p, len, &tl, why) < 0)
		return fail(why, "key record syntax error");
	/* RFC 6376 3.6.1 v=: if present, the first tag, exactly DKIM1. */
	if ((t = dkim_tags_get(&tl, "v")) &&
	    (t != &tl.tag[0] || !span_eq(t->value, SPAN_LIT("DKIM1"))))
		return fail(why, "bad key record version");
	if ((t = dkim_tags_get(&tl, "h")) && !list_has(t->value, "sha256"))
		return fail(why, "key does not allow sha256");
	kr->k = DKIM_K_RSA;
	if ((t = dkim_tags_get(&tl, "k"))) {
		if (span_eq(t->value, SPAN_LIT("rsa")))
			kr->k = DKIM_K_RSA;
		else if (span_eq(t->value, SPAN_LIT("ed25519")))
			kr->k = DKIM_K_ED25519;
		else
			return fail(why, "unknown key type");
	}
	if ((t = dkim_tags_get(&tl, "s")) && !list_has(t->value, "*") &&
	    !list_has(t->value, "email"))
		return fail(why, "key not for email");
	if ((t = dkim_tags_get(&tl, "t"))) {
		list = t->value;
		while (list_next(&list, &e)) {
			if (span_eq(e, SPAN_LIT("y")))
				kr->testing = true;
			else if (span_eq(e, SPAN_LIT("s")))
				kr->strict = true;
		}
	}
	if ((t = dkim_tags_get(&tl, "p")) == NULL)
		return fail(why, "key record without p=");
	if (t->value.len == 0) {
		kr->revoked = true;
		return 0;
	}
	n = dkim_base64_decode(t->value, kr->p, sizeof(kr->p));
	if (n <= 0)
		return fail(why, "bad p= value");
	kr->plen = (size_t)n;
	return 0;
}
