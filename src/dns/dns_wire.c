/*
 * dns_wire.c: the bounded parser for DNS responses (RFC 1035 4.1).
 *
 * Every read goes through struct cur, which checks what remains; a name is
 * decompressed only by pointers that go strictly backwards, each before the
 * previous one, so a hostile packet cannot make it loop (RFC 1035 4.1.4
 * pointers always refer to a prior occurrence, so real packets pass).
 */
#include "dns/dns_int.h"

#include <string.h>

#include "base/ascii.h"
#include "base/log.h"

/* RFC 1035 3.1: a name is at most 255 octets on the wire. */
#define WIRE_NAME_MAX 255
/* The smallest resource record: root owner (1), then 10 fixed octets. */
#define WIRE_RR_MIN 11
#define CLASS_IN 1

enum { RCODE_NOERROR = 0, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3,
	RCODE_REFUSED = 5 };

struct cur {
	const unsigned char *p;
	size_t len, off;
	const char *err;
};

struct rr_head {
	char owner[DNS_NAME_MAX + 1];
	bool owner_ok; /* representable in text form */
	unsigned type, class;
	uint32_t ttl;
	size_t rdoff, rdlen;
};

static unsigned
cur_u16(struct cur *c)
{
	unsigned v;

	if (c->err || c->len - c->off < 2) {
		c->err = "short";
		return 0;
	}
	v = (unsigned)c->p[c->off] << 8 | c->p[c->off + 1];
	c->off += 2;
	return v;
}

static uint32_t
cur_u32(struct cur *c)
{
	uint32_t hi = cur_u16(c);

	return hi << 16 | cur_u16(c);
}

/*
 * Reads a possibly compressed name at c->off into out (text, lower case).
 * Sets *ok to false when a label holds bytes that have no plain text form
 * (a dot, controls, space, backslash): such a name is never one we asked
 * for, and never a valid host name.
 */
static void
cur_name(struct cur *c, char *out, bool *ok)
{
	size_t pos = c->off, limit = c->off, end = 0, wire = 0, n = 0;
	bool jumped = false;

	*ok = true;
	for (;;) {
		unsigned l;

		if (pos >= c->len) {
			c->err = "short name";
			return;
		}
		l = c->p[pos];
		if (l == 0) {
			pos++;
			break;
		}
		if ((l & 0xc0) == 0xc0) {
			size_t ptr;

			if (c->len - pos < 2) {
				c->err = "short pointer";
				return;
			}
			ptr = (size_t)(l & 0x3f) << 8 | c->p[pos + 1];
			if (ptr >= limit) {
				c->err = "pointer loop";
				return;
			}
			if (!jumped)
				end = pos + 2;
			jumped = true;
			limit = pos = ptr;
			continue;
		}
		if (l > DNS_LABEL_MAX) {
			c->err = "label type";
			return;
		}
		wire += l + 1;
		if (wire + 1 > WIRE_NAME_MAX || c->len - pos - 1 < l) {
			c->err = "long name";
			return;
		}
		if (n > 0)
			out[n++] = '.';
		for (pos++; l > 0; l--, pos++) {
			unsigned char b = c->p[pos];

			if (b < ' ' || b == '.' || b == 0x7f)
				*ok = false;
			out[n++] = (char)ascii_lower(b);
		}
	}
	out[n] = '\0';
	c->off = jumped ? end : pos;
}

static void
cur_rr(struct cur *c, struct rr_head *h)
{
	cur_name(c, h->owner, &h->owner_ok);
	h->type = cur_u16(c);
	h->class = cur_u16(c);
	h->ttl = cur_u32(c);
	h->rdlen = cur_u16(c);
	if (c->err)
		return;
	if (c->len - c->off < h->rdlen) {
		c->err = "short rdata";
		return;
	}
	h->rdoff = c->off;
	c->off += h->rdlen;
}

void
dns_wire_space(const unsigned char *p, size_t len, size_t *rr_cap,
    size_t *arena_cap)
{
	size_t an = 0;

	if (len >= DNS_WIRE_HEADER)
		an = (size_t)p[6] << 8 | p[7];
	if (an > len / WIRE_RR_MIN)
		an = len / WIRE_RR_MIN;
	*rr_cap = an;
	/* Per record: a name of 254 bytes, or its rdata plus a NUL. */
	*arena_cap = an * (DNS_NAME_MAX + 1) + len;
}

static bool
in_chain(char chain[][DNS_NAME_MAX + 1], size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(chain[i], name) == 0)
			return true;
	return false;
}

/* Finds the target of a CNAME owned by name; false when there is none. */
static bool
find_alias(struct cur c, size_t ancount, const char *name, char *target,
    const char **err)
{
	struct rr_head h;
	size_t i;

	for (i = 0; i < ancount; i++) {
		cur_rr(&c, &h);
		if (c.err) {
			*err = c.err;
			return false;
		}
		if (h.type == DNS_T_CNAME && h.class == CLASS_IN &&
		    h.owner_ok && strcmp(h.owner, name) == 0) {
			struct cur d = { c.p, h.rdoff + h.rdlen, h.rdoff,
				NULL };
			bool ok;

			cur_name(&d, target, &ok);
			if (d.err || d.off != d.len) {
				*err = d.err ? d.err : "cname rdata";
				return false;
			}
			return ok;
		}
	}
	return false;
}

struct out {
	struct dns_rr *rr;
	size_t rr_cap, count;
	unsigned char *arena;
	size_t arena_cap, used;
};

static unsigned char *
out_take(struct out *o, size_t n)
{
	unsigned char *p;

	if (o->arena_cap - o->used < n)
		return NULL;
	p = o->arena + o->used;
	o->used += n;
	return p;
}

/* Decodes one record of the asked type; "" when it is skipped, not bad. */
static const char *
decode(const unsigned char *pkt, const struct rr_head *h, struct out *o)
{
	struct cur d = { pkt, h->rdoff + h->rdlen, h->rdoff, NULL };
	struct dns_rr *rr;
	unsigned char *dst;
	char name[DNS_NAME_MAX + 1];
	size_t n, i;
	bool ok;

	if (o->count == o->rr_cap)
		return "rr space";
	rr = &o->rr[o->count];
	memset(rr, 0, sizeof(*rr));
	rr->type = (enum dns_type)h->type;
	/* RFC 2181 8: a TTL with the top bit set is read as zero. */
	rr->ttl = h->ttl > 0x7fffffffu ? 0 : h->ttl;
	switch (h->type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		n = h->type == DNS_T_A ? 4 : 16;
		if (h->rdlen != n)
			return "address length";
		if ((dst = out_take(o, n)) == NULL)
			return "arena";
		memcpy(dst, pkt + h->rdoff, n);
		break;
	case DNS_T_MX:
		rr->pref = (uint16_t)cur_u16(&d);
		/* fall through */
	case DNS_T_PTR:
	case DNS_T_CNAME:
		cur_name(&d, name, &ok);
		if (d.err || d.off != d.len)
			return d.err ? d.err : "name rdata";
		if (!ok)
			return "";
		n = strlen(name);
		if ((dst = out_take(o, n + 1)) == NULL)
			return "arena";
		memcpy(dst, name, n + 1);
		break;
	case DNS_T_TXT:
		/* The joined strings are shorter than rdlen; one NUL more. */
		if ((dst = out_take(o, h->rdlen + 1)) == NULL)
			return "arena";
		n = 0;
		for (i = h->rdoff; i < h->rdoff + h->rdlen; ) {
			size_t l = pkt[i++];

			if (h->rdoff + h->rdlen - i < l)
				return "txt string";
			memcpy(dst + n, pkt + i, l);
			n += l;
			i += l;
		}
		dst[n] = '\0';
		break;
	default:
		return "type";
	}
	rr->len = n;
	rr->data = dst;
	o->count++;
	return NULL;
}

static int
malformed(struct dns_answer *a, const char *why)
{
	log_debug("dns answer=malformed reason=%s", why);
	memset(a, 0, sizeof(*a));
	a->status = DNS_TEMPFAIL;
	a->why = "malformed";
	return -1;
}

int
dns_wire_parse(const unsigned char *p, size_t len, enum dns_type qtype,
    struct dns_answer *a, struct dns_rr *rr, size_t rr_cap,
    unsigned char *arena, size_t arena_cap)
{
	char chain[DNS_WIRE_CNAME_MAX + 1][DNS_NAME_MAX + 1];
	struct out o = { rr, rr_cap, 0, arena, arena_cap, 0 };
	struct cur c = { p, len, 0, NULL };
	const char *err = NULL;
	unsigned flags, qdcount, ancount, rcode;
	size_t n = 1, i;
	bool ok;

	memset(a, 0, sizeof(*a));
	a->security = DNS_INSECURE;
	(void)cur_u16(&c); /* id */
	flags = cur_u16(&c);
	qdcount = cur_u16(&c);
	ancount = cur_u16(&c);
	(void)cur_u32(&c); /* nscount, arcount */
	if (c.err)
		return malformed(a, c.err);
	rcode = flags & 0xf;
	if (rcode != RCODE_NOERROR && rcode != RCODE_NXDOMAIN) {
		a->status = DNS_TEMPFAIL;
		a->why = rcode == RCODE_SERVFAIL ? "servfail" :
		    rcode == RCODE_REFUSED ? "refused" : "rcode";
		return 0;
	}
	if (qdcount != 1)
		return malformed(a, "qdcount");
	cur_name(&c, chain[0], &ok);
	if (cur_u16(&c) != qtype || cur_u16(&c) != CLASS_IN || c.err || !ok)
		return malformed(a, c.err ? c.err : "question");
	if (rcode == RCODE_NXDOMAIN) {
		a->status = DNS_NXDOMAIN;
		return 0;
	}

	/* The alias chain, from the question name; a loop stops it. */
	while (qtype != DNS_T_CNAME && n <= DNS_WIRE_CNAME_MAX &&
	    find_alias(c, ancount, chain[n - 1], chain[n], &err) &&
	    !in_chain(chain, n, chain[n]))
		n++;
	if (err)
		return malformed(a, err);

	for (i = 0; i < ancount; i++) {
		struct rr_head h;

		cur_rr(&c, &h);
		if (c.err)
			return malformed(a, c.err);
		if (h.type != qtype || h.class != CLASS_IN || !h.owner_ok ||
		    !in_chain(chain, n, h.owner))
			continue;
		if ((err = decode(p, &h, &o)) != NULL && err[0] != '\0')
			return malformed(a, err);
	}
	a->status = o.count > 0 ? DNS_OK : DNS_NODATA;
	a->count = o.count;
	a->rr = o.count > 0 ? rr : NULL;
	return 0;
}
