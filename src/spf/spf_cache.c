/*
 * The cache of parsed SPF records and of the other answers SPF uses: a
 * hash table with an LRU list, bounded in entries, each entry kept for the
 * TTL of the answer it came from. Parsing happens once per domain and TTL,
 * not once per check.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "spf/spf_int.h"

struct spf_cache {
	struct spf_entry **table;
	size_t mask, count, max;
	size_t bytes, max_bytes; /* what the entries hold, roughly */
	struct spf_entry *oldest, *newest;
	unsigned long hits, misses;
};

static size_t
hash_name(enum dns_type type, const char *s)
{
	size_t h = 2166136261u ^ (size_t)type; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct spf_cache *
spf_cache_new(size_t max)
{
	struct spf_cache *c = xcalloc(1, sizeof(*c));
	size_t n = 16;

	while (n < max)
		n *= 2;
	c->table = xcalloc(n, sizeof(*c->table));
	c->mask = n - 1;
	c->max = max;
	c->max_bytes = max * SPF_CACHE_ENTRY_BYTES;
	return c;
}

static void
entry_free(struct spf_entry *e)
{
	if (e->answer.rr != NULL)
		free((void *)e->answer.rr[0].data);
	free((void *)e->answer.rr);
	free(e->rec.term);
	free(e->text);
	free(e);
}

void
spf_entry_unref(struct spf_entry *e)
{
	if (e != NULL && --e->refs == 0)
		entry_free(e);
}

static void
cache_remove(struct spf_cache *c, struct spf_entry *e)
{
	struct spf_entry **pp = &c->table[hash_name(e->type, e->name) &
	    c->mask];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	c->count--;
	c->bytes -= e->bytes;
	e->cached = false;
	spf_entry_unref(e);
}

static void
lru_push(struct spf_cache *c, struct spf_entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
}

struct spf_entry *
spf_cache_get(struct spf_cache *c, enum dns_type type, const char *name,
    long long now)
{
	struct spf_entry *e;

	for (e = c->table[hash_name(type, name) & c->mask]; e; e = e->hnext)
		if (e->type == type && strcmp(e->name, name) == 0)
			break;
	if (e == NULL || e->expires <= now) {
		if (e != NULL)
			cache_remove(c, e);
		c->misses++;
		return NULL;
	}
	c->hits++;
	if (c->newest != e) {
		/* Move to the new end of the LRU list. */
		if (e->older)
			e->older->newer = e->newer;
		else
			c->oldest = e->newer;
		e->newer->older = e->older;
		lru_push(c, e);
	}
	e->refs++;
	return e;
}

/* RFC 7208 4.5: exactly one record starting with "v=spf1". */
static void
entry_fill(struct spf_entry *e, const struct dns_answer *a)
{
	const struct dns_rr *spf = NULL;
	size_t i, n = 0;
	int rc;

	for (i = 0; i < a->count; i++) {
		if (a->rr[i].type != DNS_T_TXT ||
		    !spf_record_is_spf1((const char *)a->rr[i].data,
		    a->rr[i].len))
			continue;
		spf = &a->rr[i];
		n++;
	}
	if (n == 0) {
		e->kind = SPF_E_NONE;
		return;
	}
	if (n > 1) {
		e->kind = SPF_E_ERROR;
		e->problem = "more than one SPF record";
		return;
	}
	e->text = xstrndup((const char *)spf->data, spf->len);
	e->rec.cap = spf_record_max_terms(spf->len);
	e->rec.term = xmalloc(e->rec.cap * sizeof(*e->rec.term));
	rc = spf_record_parse(e->text, spf->len, &e->rec);
	if (rc < 0) {
		e->kind = SPF_E_ERROR;
		e->problem = e->rec.err;
		return;
	}
	e->kind = SPF_E_RECORD;
	if (e->rec.n < e->rec.cap && e->rec.n > 0)
		e->rec.term = xrealloc(e->rec.term,
		    e->rec.n * sizeof(*e->rec.term));
}

/* A deep copy of the records, in one block for the data. */
static void
entry_copy(struct spf_entry *e, const struct dns_answer *a)
{
	struct dns_rr *rr = xcalloc(a->count, sizeof(*rr));
	size_t i, total = 0;
	unsigned char *data;

	for (i = 0; i < a->count; i++)
		total += a->rr[i].len + 1;
	data = xmalloc(total);
	for (i = 0; i < a->count; i++) {
		rr[i] = a->rr[i];
		rr[i].data = data;
		memcpy(data, a->rr[i].data, a->rr[i].len);
		data[a->rr[i].len] = '\0';
		data += a->rr[i].len + 1;
	}
	e->kind = SPF_E_ANSWER;
	e->answer.status = DNS_OK;
	e->answer.security = a->security;
	e->answer.count = a->count;
	e->answer.rr = rr;
}

struct spf_entry *
spf_cache_put(struct spf_cache *c, enum dns_type type, const char *name,
    const struct dns_answer *a, long long now)
{
	size_t len = strlen(name), i;
	uint32_t ttl = UINT32_MAX;
	struct spf_entry *e = xcalloc(1, sizeof(*e) + len + 1);
	struct spf_entry **slot;

	memcpy(e->name, name, len + 1);
	e->type = type;
	if (type == DNS_T_TXT)
		entry_fill(e, a);
	else
		entry_copy(e, a);
	e->refs = 1;
	for (i = 0; i < a->count; i++)
		if (a->rr[i].ttl < ttl)
			ttl = a->rr[i].ttl;
	e->bytes = sizeof(*e) + len + (e->text ? strlen(e->text) : 0) +
	    e->rec.n * sizeof(*e->rec.term);
	for (i = 0; i < e->answer.count; i++)
		e->bytes += sizeof(*e->answer.rr) + e->answer.rr[i].len + 1;
	if (c->max == 0 || ttl == 0 || ttl == UINT32_MAX ||
	    e->bytes > c->max_bytes / 4)
		return e;
	/* A check may have fetched the same name meanwhile: replace it. */
	slot = &c->table[hash_name(type, name) & c->mask];
	for (; *slot; slot = &(*slot)->hnext)
		if ((*slot)->type == type && strcmp((*slot)->name, name) == 0) {
			cache_remove(c, *slot);
			break;
		}
	/* Bounded in entries and in bytes: records can be 64 KB each. */
	while (c->count > 0 && (c->count >= c->max ||
	    c->bytes + e->bytes > c->max_bytes))
		cache_remove(c, c->oldest);
	slot = &c->table[hash_name(type, name) & c->mask];
	e->expires = now + ttl;
	e->hnext = *slot;
	*slot = e;
	e->cached = true;
	e->refs++;
	lru_push(c, e);
	c->count++;
	c->bytes += e->bytes;
	return e;
}

void
spf_cache_counts(const struct spf_cache *c, unsigned long *hits,
    unsigned long *misses, unsigned long *entries)
{
	*hits = c->hits;
	*misses = c->misses;
	*entries = c->count;
}

void
spf_cache_free(struct spf_cache *c)
{
	if (c == NULL)
		return;
	while (c->oldest)
		cache_remove(c, c->oldest);
	free(c->table);
	free(c);
}
