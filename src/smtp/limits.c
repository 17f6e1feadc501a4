/*
 * Connection counts per client network: one IPv4 address, one IPv6 /64 (a
 * single host usually owns a whole /64, so counting addresses would let it
 * open millions of connections), and a looser cap per IPv6 /48.
 *
 * A small chained hash table; an entry goes away when its count drops to
 * zero, so memory follows the number of connected networks. Every loop's
 * server counts into the same table: a mutex, taken once at connect and
 * once at close.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "smtp/smtp_int.h"

#define LIMIT_BUCKETS 1024

struct limit_entry {
	struct limit_entry *next;
	unsigned char key[9]; /* kind, then up to 8 address bytes */
	unsigned count;
};

struct smtp_limits {
	pthread_mutex_t lock;
	unsigned per_ip;
	struct limit_entry *bucket[LIMIT_BUCKETS];
};

enum { KEY_V4 = 4, KEY_V6_64 = 64, KEY_V6_48 = 48 };

static void
make_key(unsigned char key[9], int kind, const unsigned char *a, size_t n)
{
	memset(key, 0, 9);
	key[0] = (unsigned char)kind;
	memcpy(key + 1, a, n);
}

static unsigned
hash(const unsigned char key[9])
{
	unsigned h = 2166136261u;
	size_t i;

	for (i = 0; i < 9; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % LIMIT_BUCKETS;
}

static struct limit_entry **
find(struct smtp_limits *l, const unsigned char key[9])
{
	struct limit_entry **e = &l->bucket[hash(key)];

	while (*e && memcmp((*e)->key, key, 9) != 0)
		e = &(*e)->next;
	return e;
}

static unsigned
count_of(struct smtp_limits *l, const unsigned char key[9])
{
	struct limit_entry *e = *find(l, key);

	return e ? e->count : 0;
}

static void
add(struct smtp_limits *l, const unsigned char key[9], int delta)
{
	struct limit_entry **pe = find(l, key), *e = *pe;

	if (!e) {
		if (delta < 0)
			return;
		e = xcalloc(1, sizeof *e);
		memcpy(e->key, key, 9);
		*pe = e;
	}
	if (delta < 0 && --e->count == 0) {
		*pe = e->next;
		free(e);
	} else if (delta > 0) {
		e->count++;
	}
}

/* The keys a connection counts against: one for IPv4, two for IPv6. */
static size_t
keys_of(const struct sockaddr *sa, unsigned char keys[2][9])
{
	if (sa->sa_family == AF_INET) {
		make_key(keys[0], KEY_V4,
		    (const unsigned char *)&((const struct sockaddr_in *)sa)
		    ->sin_addr, 4);
		return 1;
	}
	make_key(keys[0], KEY_V6_64,
	    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 8);
	make_key(keys[1], KEY_V6_48,
	    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 6);
	return 2;
}

struct smtp_limits *
smtp_limits_new(unsigned per_ip)
{
	struct smtp_limits *l = xcalloc(1, sizeof *l);

	l->per_ip = per_ip;
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

void
smtp_limits_free(struct smtp_limits *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < LIMIT_BUCKETS; i++)
		while (l->bucket[i]) {
			struct limit_entry *e = l->bucket[i];

			l->bucket[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&l->lock);
	free(l);
}

bool
smtp_limits_acquire(struct smtp_limits *l, const struct sockaddr *sa)
{
	unsigned char keys[2][9];
	size_t n = keys_of(sa, keys), i;
	bool ok;

	pthread_mutex_lock(&l->lock);
	ok = count_of(l, keys[0]) < l->per_ip && (n == 1 ||
	    count_of(l, keys[1]) < l->per_ip * SMTP_LIMIT_48_FACTOR);
	for (i = 0; ok && i < n; i++)
		add(l, keys[i], 1);
	pthread_mutex_unlock(&l->lock);
	return ok;
}

void
smtp_limits_release(struct smtp_limits *l, const struct sockaddr *sa)
{
	unsigned char keys[2][9];
	size_t n = keys_of(sa, keys), i;

	pthread_mutex_lock(&l->lock);
	for (i = 0; i < n; i++)
		add(l, keys[i], -1);
	pthread_mutex_unlock(&l->lock);
}
