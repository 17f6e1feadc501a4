/*
 * Key cache: decoded public keys by DNS name, kept for their record's TTL.
 *
 * Direct-mapped: a name hashes to one slot and a newer key takes the slot
 * over. A busy MX sees the same few hundred signing domains all day, so
 * this keeps the hit rate of a real LRU at a fraction of its code, and
 * both lookup and insertion cost one hash and one string comparison.
 */
#include "dkim/dkim_int.h"

#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"

struct cache_slot {
	char name[DNS_NAME_MAX + 1];
	time_t expires; /* CLOCK_MONOTONIC seconds */
	struct dkim_pubkey *key; /* NULL: empty slot */
};

struct dkim_keycache {
	unsigned slots, max_ttl;
	struct cache_slot *slot;
	EVP_MD *sha256;
};

static time_t
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* FNV-1a: names are short, so anything that mixes well will do. */
static unsigned
name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h;
}

struct dkim_keycache *
dkim_keycache_new(unsigned slots, unsigned max_ttl)
{
	struct dkim_keycache *c = xcalloc(1, sizeof(*c));

	c->slots = slots ? slots : 1;
	c->max_ttl = max_ttl;
	c->slot = xcalloc(c->slots, sizeof(*c->slot));
	if ((c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		fatal("dkim: OpenSSL has no SHA256");
	return c;
}

void
dkim_keycache_free(struct dkim_keycache *c)
{
	unsigned i;

	if (c == NULL)
		return;
	for (i = 0; i < c->slots; i++)
		dkim_pubkey_unref(c->slot[i].key);
	free(c->slot);
	EVP_MD_free(c->sha256);
	free(c);
}

const struct evp_md_st *
dkim_keycache_sha256(const struct dkim_keycache *c)
{
	return c ? c->sha256 : NULL;
}

struct dkim_pubkey *
dkim_keycache_get(struct dkim_keycache *c, const char *name)
{
	struct cache_slot *s;

	if (c == NULL)
		return NULL;
	s = &c->slot[name_hash(name) % c->slots];
	if (s->key == NULL || strcmp(s->name, name) != 0)
		return NULL;
	if (now_mono() >= s->expires) {
		dkim_pubkey_unref(s->key);
		s->key = NULL;
		return NULL;
	}
	return dkim_pubkey_ref(s->key);
}

void
dkim_keycache_put(struct dkim_keycache *c, const char *name,
    struct dkim_pubkey *key, unsigned ttl)
{
	struct cache_slot *s;
	size_t n = strlen(name);

	if (c == NULL || ttl == 0 || n > DNS_NAME_MAX)
		return;
	if (ttl > c->max_ttl)
		ttl = c->max_ttl;
	s = &c->slot[name_hash(name) % c->slots];
	dkim_pubkey_unref(s->key);
	memcpy(s->name, name, n + 1);
	s->expires = now_mono() + (time_t)ttl;
	s->key = dkim_pubkey_ref(key);
}
