/*
 * dns_table.c: a resolver that answers from an in-memory table of records
 * (put in with dns_table_add*() or loaded from zone text): the conformance
 * suites' zonedata (the resolver DESIGN.md has them run through), unit
 * tests, fuzzing, and `mxgate dkim --keys FILE`.
 *
 * Answers are computed when they are delivered, from a zero timeout set by
 * dns_query(), so callers see the same order of events as with a real
 * resolver: never a callback from inside dns_query().
 */
#include "dns/dns_int.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/span.h"

/* A chain of aliases longer than this is treated as a loop (no data). */
#define TABLE_CNAME_MAX 16
/* RFC 1035 3.3.14: the rdata length field bounds one TXT record. */
#define TABLE_TXT_MAX 65535
#define TABLE_TTL 3600

struct table_rr {
	enum dns_type type;
	uint16_t pref;
	size_t len;
	unsigned char *data; /* NUL-terminated, len excludes the NUL */
};

struct table_name {
	char *name;
	bool timeout, servfail;
	struct table_rr *rr;
	size_t count, cap;
};

struct table {
	struct dns dns;
	struct table_name *names;
	size_t count, cap;
	unsigned long queries;
	struct table_query *pending;
};

struct table_query {
	struct dns_query q;
	struct table_query *prev, *next;
	struct event *ev;
	enum dns_type type;
	char name[DNS_NAME_MAX + 1];
};

static const struct dns_ops table_ops;

static struct table *
table_of(struct dns *dns)
{
	if (dns->ops != &table_ops)
		return NULL;
	return (struct table *)dns;
}

static struct table_name *
table_find(struct table *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		if (strcmp(s->names[i].name, name) == 0)
			return &s->names[i];
	return NULL;
}

/* The entry for a name, made when missing; NULL for a name not valid. */
static struct table_name *
table_entry(struct table *s, const char *name)
{
	char norm[DNS_NAME_MAX + 1];
	struct table_name *e;

	if (dns_name_norm(name, strlen(name), norm, false) < 0)
		return NULL;
	if ((e = table_find(s, norm)) != NULL)
		return e;
	if (s->count == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->names = xrealloc(s->names, s->cap * sizeof(*s->names));
	}
	e = &s->names[s->count++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(norm);
	return e;
}

static void
table_put(struct table_name *e, enum dns_type type, uint16_t pref,
    const void *data, size_t len)
{
	struct table_rr *rr;

	if (e->count == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 4;
		e->rr = xrealloc(e->rr, e->cap * sizeof(*e->rr));
	}
	rr = &e->rr[e->count++];
	rr->type = type;
	rr->pref = pref;
	rr->len = len;
	rr->data = xmalloc(len + 1);
	if (len > 0)
		memcpy(rr->data, data, len);
	rr->data[len] = '\0';
}

/* Adds a record whose data is a host name (PTR, CNAME, MX). */
static int
table_put_name(struct table_name *e, enum dns_type type, uint16_t pref,
    const char *target, size_t len)
{
	char norm[DNS_NAME_MAX + 1];
	int n;

	/* Only a null MX (RFC 7505) may point at the root. */
	n = dns_name_norm(target, len, norm, type == DNS_T_MX);
	if (n < 0)
		return ERR_SYNTAX;
	table_put(e, type, pref, norm, (size_t)n);
	return 0;
}

void
dns_table_add(struct dns *dns, const char *name, enum dns_type type,
    const void *data, size_t len)
{
	struct table *s = table_of(dns);
	struct table_name *e;

	/* A name no query can reach is not worth keeping. */
	if (s == NULL || (e = table_entry(s, name)) == NULL)
		return;
	if (type == DNS_T_PTR || type == DNS_T_CNAME || type == DNS_T_MX)
		table_put_name(e, type, 0, data, len);
	else
		table_put(e, type, 0, data, len);
}

static int
table_add_value(struct table *s, const char *name, enum dns_type type,
    const char *v, size_t len)
{
	struct table_name *e = table_entry(s, name);
	unsigned char addr[16];
	char tmp[INET6_ADDRSTRLEN];
	unsigned long long pref;
	struct span sp;
	size_t i;

	if (e == NULL)
		return ERR_SYNTAX;
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (len >= sizeof(tmp))
			return ERR_SYNTAX;
		memcpy(tmp, v, len);
		tmp[len] = '\0';
		if (inet_pton(type == DNS_T_A ? AF_INET : AF_INET6, tmp,
		    addr) != 1)
			return ERR_SYNTAX;
		table_put(e, type, 0, addr, type == DNS_T_A ? 4 : 16);
		return 0;
	case DNS_T_PTR:
	case DNS_T_CNAME:
		return table_put_name(e, type, 0, v, len);
	case DNS_T_MX:
		for (i = 0; i < len && v[i] != ' ' && v[i] != '\t'; i++)
			;
		if (!span_to_u64(span_make(v, i), 65535, &pref))
			return ERR_SYNTAX;
		sp = span_trim(span_make(v + i, len - i));
		return table_put_name(e, type, (uint16_t)pref, sp.p, sp.len);
	case DNS_T_TXT:
		if (len > TABLE_TXT_MAX)
			return ERR_SYNTAX;
		table_put(e, type, 0, v, len);
		return 0;
	}
	return ERR_SYNTAX;
}

int
dns_table_add_text(struct dns *dns, const char *name, enum dns_type type,
    const char *value)
{
	struct table *s = table_of(dns);

	if (s == NULL)
		return ERR_BADSTATE;
	return table_add_value(s, name, type, value, strlen(value));
}

void
dns_table_add_mx(struct dns *dns, const char *name, uint16_t pref,
    const char *exchange)
{
	struct table *s = table_of(dns);
	struct table_name *e;

	if (s != NULL && (e = table_entry(s, name)) != NULL)
		table_put_name(e, DNS_T_MX, pref, exchange, strlen(exchange));
}

void
dns_table_timeout(struct dns *dns, const char *name)
{
	struct table *s = table_of(dns);
	struct table_name *e;

	if (s != NULL && (e = table_entry(s, name)) != NULL)
		e->timeout = true;
}

void
dns_table_servfail(struct dns *dns, const char *name)
{
	struct table *s = table_of(dns);
	struct table_name *e;

	if (s != NULL && (e = table_entry(s, name)) != NULL)
		e->servfail = true;
}

unsigned long
dns_table_queries(const struct dns *dns)
{
	if (dns->ops != &table_ops)
		return 0;
	return ((const struct table *)dns)->queries;
}

/*
 * Zone text. A line is "NAME [TTL] [IN] TYPE [VALUE]"; tokens are split on
 * spaces and tabs, and the parser works on (p, len) without a NUL.
 */
struct zcur {
	const char *p;
	size_t len, off;
};

static struct span
zone_token(struct zcur *c)
{
	size_t start;

	while (c->off < c->len && (c->p[c->off] == ' ' || c->p[c->off] == '\t'))
		c->off++;
	start = c->off;
	while (c->off < c->len && c->p[c->off] != ' ' && c->p[c->off] != '\t')
		c->off++;
	return span_make(c->p + start, c->off - start);
}

static struct span
zone_rest(struct zcur *c)
{
	return span_trim(span_make(c->p + c->off, c->len - c->off));
}

/*
 * Joins "quoted" "strings" into out (TABLE_TXT_MAX bytes), with the zone
 * file escapes \X and \DDD. Unquoted text is taken as one string.
 */
static int
zone_txt(struct span v, char *out, size_t *outlen)
{
	size_t i = 0, n = 0;

	if (v.len == 0)
		return -1;
	if (v.p[0] != '"') {
		if (v.len > TABLE_TXT_MAX)
			return -1;
		memcpy(out, v.p, v.len);
		*outlen = v.len;
		return 0;
	}
	while (i < v.len) {
		if (v.p[i] == ' ' || v.p[i] == '\t') {
			i++;
			continue;
		}
		if (v.p[i++] != '"')
			return -1;
		for (;;) {
			unsigned char c;

			if (i >= v.len)
				return -1;
			c = (unsigned char)v.p[i++];
			if (c == '"')
				break;
			if (c == '\\') {
				if (i >= v.len)
					return -1;
				if (v.len - i >= 3 && v.p[i] >= '0' &&
				    v.p[i] <= '9') {
					unsigned long long d;

					if (!span_to_u64(span_make(v.p + i, 3),
					    255, &d))
						return -1;
					c = (unsigned char)d;
					i += 3;
				} else {
					c = (unsigned char)v.p[i++];
				}
			}
			if (n == TABLE_TXT_MAX)
				return -1;
			out[n++] = (char)c;
		}
	}
	*outlen = n;
	return 0;
}

static bool
zone_type(struct span t, enum dns_type *type)
{
	static const struct {
		const char *name;
		enum dns_type type;
	} types[] = {
		{ "A", DNS_T_A }, { "AAAA", DNS_T_AAAA },
		{ "CNAME", DNS_T_CNAME }, { "PTR", DNS_T_PTR },
		{ "MX", DNS_T_MX }, { "TXT", DNS_T_TXT },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (span_eq_nocase_cstr(t, types[i].name)) {
			*type = types[i].type;
			return true;
		}
	return false;
}

static int
zone_line(struct table *s, struct span line, char *txt)
{
	struct zcur c = { line.p, line.len, 0 };
	char name[DNS_NAME_MAX + 2];
	unsigned long long ttl;
	struct span tok, nm, v;
	bool seen_ttl = false, seen_in = false;
	enum dns_type type;
	size_t n;
	int i;

	nm = zone_token(&c);
	if (nm.len == 0 || nm.len > DNS_NAME_MAX + 1)
		return -1;
	memcpy(name, nm.p, nm.len);
	name[nm.len] = '\0';
	/* The TTL and the class may come in either order, each at most once. */
	tok = zone_token(&c);
	for (i = 0; i < 2; i++) {
		if (!seen_ttl && span_to_u64(tok, UINT32_MAX, &ttl))
			seen_ttl = true;
		else if (!seen_in && span_eq_nocase_cstr(tok, "IN"))
			seen_in = true;
		else
			break;
		tok = zone_token(&c);
	}
	v = zone_rest(&c);
	if (span_eq_nocase_cstr(tok, "TIMEOUT") ||
	    span_eq_nocase_cstr(tok, "SERVFAIL")) {
		struct table_name *e;

		if (v.len != 0 || (e = table_entry(s, name)) == NULL)
			return -1;
		if (span_eq_nocase_cstr(tok, "TIMEOUT"))
			e->timeout = true;
		else
			e->servfail = true;
		return 0;
	}
	if (!zone_type(tok, &type) || v.len == 0)
		return -1;
	if (type == DNS_T_TXT) {
		if (zone_txt(v, txt, &n) < 0)
			return -1;
		return table_add_value(s, name, type, txt, n);
	}
	/* Every other value is one token, or "PREF EXCHANGE" for MX. */
	c.off = (size_t)(v.p - line.p);
	c.len = c.off + v.len;
	tok = zone_token(&c);
	if (type == DNS_T_MX)
		tok = zone_token(&c);
	if (zone_rest(&c).len != 0)
		return -1;
	return table_add_value(s, name, type, v.p,
	    (size_t)(tok.p + tok.len - v.p));
}

int
dns_table_load(struct dns *dns, const char *text, size_t len)
{
	struct table *s = table_of(dns);
	size_t off = 0, end;
	int lineno = 0, rc = 0;
	char *txt;

	if (s == NULL)
		return ERR_BADSTATE;
	txt = xmalloc(TABLE_TXT_MAX);
	while (off < len && rc == 0) {
		struct span line;

		lineno++;
		for (end = off; end < len && text[end] != '\n'; end++)
			;
		line = span_make(text + off, end - off);
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.len--;
		line = span_trim(line);
		off = end + 1;
		if (line.len == 0 || line.p[0] == ';' || line.p[0] == '#')
			continue;
		if (zone_line(s, line, txt) < 0)
			rc = -lineno;
	}
	free(txt);
	return rc;
}

/*
 * Lookup, as a recursive resolver answers: the asked type's records, or
 * the target's when the name is an alias.
 */
static void
table_answer(struct table *s, const char *name, enum dns_type type,
    struct dns_answer *a, struct dns_rr **rrs)
{
	struct table_name *e = table_find(s, name);
	size_t i, n, hops = 0;

	memset(a, 0, sizeof(*a));
	a->security = DNS_INSECURE;
	for (;;) {
		const struct table_name *alias = NULL;

		if (e == NULL) {
			a->status = DNS_NXDOMAIN;
			return;
		}
		if (e->servfail) {
			a->status = DNS_TEMPFAIL;
			a->why = "servfail";
			return;
		}
		for (i = n = 0; i < e->count; i++) {
			if (e->rr[i].type == type)
				n++;
			else if (e->rr[i].type == DNS_T_CNAME)
				alias = e;
		}
		if (n > 0)
			break;
		if (alias == NULL || type == DNS_T_CNAME) {
			a->status = e->timeout ? DNS_TEMPFAIL : DNS_NODATA;
			a->why = e->timeout ? "timeout" : NULL;
			return;
		}
		if (++hops > TABLE_CNAME_MAX) {
			a->status = DNS_NODATA;
			return;
		}
		for (i = 0; e->rr[i].type != DNS_T_CNAME; i++)
			;
		e = table_find(s, (const char *)e->rr[i].data);
	}
	*rrs = xcalloc(n, sizeof(**rrs));
	for (i = n = 0; i < e->count; i++) {
		if (e->rr[i].type != type)
			continue;
		(*rrs)[n].type = type;
		(*rrs)[n].ttl = TABLE_TTL;
		(*rrs)[n].pref = e->rr[i].pref;
		(*rrs)[n].len = e->rr[i].len;
		(*rrs)[n].data = e->rr[i].data;
		n++;
	}
	a->status = DNS_OK;
	a->count = n;
	a->rr = *rrs;
}

static void
table_unlink(struct table *s, struct table_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		s->pending = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	event_free(q->ev);
}

static void
table_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct table_query *q = arg;
	struct table *s = (struct table *)q->q.dns;
	struct dns_rr *rrs = NULL;
	struct dns_answer a;

	(void)fd;
	(void)what;
	table_unlink(s, q);
	table_answer(s, q->name, q->type, &a, &rrs);
	q->q.cb(q->q.arg, &a);
	free(rrs);
	free(q);
}

static struct dns_query *
table_query(struct dns *dns, const char *name, enum dns_type type, dns_cb *cb,
    void *arg)
{
	struct table *s = (struct table *)dns;
	struct table_query *q = xcalloc(1, sizeof(*q));
	static const struct timeval zero = { 0, 0 };

	q->q.dns = dns;
	q->q.cb = cb;
	q->q.arg = arg;
	q->type = type;
	memcpy(q->name, name, strlen(name) + 1);
	/* A zero timeout, not event_active(): answers to queries started
	 * from a callback come in the next loop round, one "round trip"
	 * per round, so a test can act between two of them. */
	q->ev = evtimer_new(dns->base, table_deliver, q);
	if (q->ev == NULL)
		fatal("dns: evtimer_new failed");
	q->next = s->pending;
	if (s->pending != NULL)
		s->pending->prev = q;
	s->pending = q;
	s->queries++;
	evtimer_add(q->ev, &zero);
	return &q->q;
}

static void
table_cancel(struct dns_query *dq)
{
	struct table_query *q = (struct table_query *)dq;

	table_unlink((struct table *)dq->dns, q);
	free(q);
}

static void
table_free(struct dns *dns)
{
	struct table *s = (struct table *)dns;
	size_t i, j;

	while (s->pending != NULL)
		table_cancel(&s->pending->q);
	for (i = 0; i < s->count; i++) {
		for (j = 0; j < s->names[i].count; j++)
			free(s->names[i].rr[j].data);
		free(s->names[i].rr);
		free(s->names[i].name);
	}
	free(s->names);
	free(s);
}

static const struct dns_ops table_ops = {
	.query = table_query,
	.cancel = table_cancel,
	.free = table_free,
};

struct dns *
dns_new_table(struct event_base *base)
{
	struct table *s = xcalloc(1, sizeof(*s));

	s->dns.ops = &table_ops;
	s->dns.base = base;
	return &s->dns;
}
