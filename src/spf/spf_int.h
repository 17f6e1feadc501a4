/*
 * spf_int.h: what the files of src/spf/ share. Nothing outside src/spf/ may
 * include it.
 *
 * The record parser and the macro expander are pure functions over bounded
 * input: no I/O, no globals, no allocation. The parser writes into caller
 * storage (struct spf_record with a term array the caller sized with
 * spf_record_max_terms()); its spans point into the record text, which must
 * outlive the parsed record.
 */
#ifndef MXGATE_SPF_SPF_INT_H
#define MXGATE_SPF_SPF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/span.h"
#include "dns/dns.h"
#include "spf/spf.h"

/* RFC 7208 4.6.4: terms that cause DNS queries, per evaluation. */
#define SPF_MAX_DNS_TERMS 10
/* RFC 7208 4.6.4: MX names per "mx", PTR names per "ptr" or %{p}. */
#define SPF_MAX_MX 10
#define SPF_MAX_PTR 10
/* RFC 7208 4.6.4: default limit on void lookups. */
#define SPF_MAX_VOID 2
/* RFC 7208 7.3 (RFC 1035 3.1): expanded names are cut to 253 octets. */
#define SPF_NAME_MAX 253

enum spf_mech {
	SPF_M_ALL,
	SPF_M_INCLUDE,
	SPF_M_A,
	SPF_M_MX,
	SPF_M_PTR,
	SPF_M_IP4,
	SPF_M_IP6,
	SPF_M_EXISTS,
};

/* Flags of a macro-string, filled by spf_macro_check(). */
#define SPF_MF_MACRO 0x01 /* has a macro-expand: needs expanding */
#define SPF_MF_P 0x02     /* uses %{p}, which needs DNS lookups first */

/* Where a macro-string appears (RFC 7208 7.1). */
enum spf_macro_ctx {
	SPF_CTX_DOMAIN, /* domain-spec: no SP, no %{c} %{r} %{t} */
	SPF_CTX_EXP,    /* explain-string: SP allowed, all letters */
	SPF_CTX_MOD,    /* value of an unknown modifier: no SP, all letters */
};

struct spf_term {
	struct span text;       /* the whole term, for traces and problems */
	struct span spec;       /* domain-spec; len 0: use <domain> */
	unsigned char addr[16]; /* ip4 (4 bytes used) and ip6 */
	uint8_t mech;           /* enum spf_mech */
	uint8_t result;         /* the qualifier as enum spf_result */
	uint8_t cidr4, cidr6;   /* prefix lengths; 32 and 128 by default */
	uint8_t flags;          /* SPF_MF_* of spec */
};

struct spf_record {
	struct spf_term *term; /* caller storage for cap terms */
	size_t cap, n;
	struct span redirect, exp; /* p == NULL when absent */
	uint8_t redirect_flags, exp_flags;
	const char *err;       /* static text when parsing failed */
	struct span err_at;    /* the offending term */
};

/* True when p[0..len) is an SPF version 1 record (RFC 7208 4.5). */
bool spf_record_is_spf1(const char *p, size_t len);
/* How many terms a record of len bytes can hold, at most. */
size_t spf_record_max_terms(size_t len);
/*
 * Parses an SPF record (which must pass spf_record_is_spf1()). Any syntax
 * error anywhere fails the whole record (RFC 7208 4.6): returns ERR_SYNTAX
 * with rec->err and rec->err_at set. ERR_LIMIT when more than rec->cap terms.
 */
int spf_record_parse(const char *p, size_t len, struct spf_record *rec);

/*
 * Checks a macro-string (RFC 7208 7.1) for ctx and ORs SPF_MF_* into
 * *flags. For SPF_CTX_DOMAIN also checks domain-end (a literal "." toplabel
 * or a macro at the end). Returns 0 or ERR_SYNTAX with *why set.
 */
int spf_macro_check(const char *p, size_t len, enum spf_macro_ctx ctx,
    unsigned *flags, const char **why);

/* The value of each macro letter, precomputed by the evaluator. */
struct spf_macro_env {
	struct span s, l, o, d, i, p, v, h, c, r, t;
};

/*
 * Expands a macro-string checked by spf_macro_check() into out (outsz
 * bytes, NUL-terminated), 8-bit clean. For SPF_CTX_DOMAIN (outsz at least
 * SPF_NAME_MAX + 2) a result longer than SPF_NAME_MAX loses whole
 * labels on the left (RFC 7208 7.3); otherwise it is cut on the right at
 * outsz - 1. Returns the length written, or ERR_SYNTAX.
 */
int spf_macro_expand(const char *p, size_t len, const struct spf_macro_env *env,
    enum spf_macro_ctx ctx, char *out, size_t outsz);

/*
 * The cache (spf_cache.c), keyed by query type and the lower-case name
 * without a trailing dot. A TXT entry is what the answer meant for SPF: a
 * parsed record, no SPF record, or a permanent error. An A, AAAA, MX or
 * PTR entry is a copy of a positive answer, so that warm checks of "a",
 * "mx", "ptr" and "exists" ask nothing either. Entries are reference
 * counted: a check holds the entries it is walking, so eviction or expiry
 * never frees one in use.
 */
enum spf_entry_kind {
	SPF_E_RECORD, /* one SPF record, parsed into rec */
	SPF_E_NONE,   /* TXT records, but none is SPF (RFC 7208 4.5) */
	SPF_E_ERROR,  /* several SPF records, or a syntax error: permerror */
	SPF_E_ANSWER, /* a copy of a positive answer of another type */
};

struct spf_entry {
	struct spf_entry *hnext, *older, *newer;
	unsigned refs;
	bool cached;
	enum dns_type type;
	enum spf_entry_kind kind;
	long long expires; /* seconds, on the clock given to the cache */
	size_t bytes;       /* its share of the cache's byte budget */
	const char *problem; /* static text for SPF_E_ERROR */
	char *text;         /* the SPF record, owned; rec points into it */
	struct spf_record rec;
	struct dns_answer answer; /* SPF_E_ANSWER: rr and data owned */
	char name[];
};

struct spf_cache;

/*
 * Keeps at most max entries and max * SPF_CACHE_ENTRY_BYTES bytes (SPF
 * records can be 64 KB, so a count alone does not bound memory); one entry
 * larger than a quarter of that is not kept. max 0: nothing is kept.
 */
#define SPF_CACHE_ENTRY_BYTES 2048
struct spf_cache *spf_cache_new(size_t max);
void spf_cache_free(struct spf_cache *c);
/* The live entry for (type, name) with a reference taken, or NULL. */
struct spf_entry *spf_cache_get(struct spf_cache *c, enum dns_type type,
    const char *name, long long now);
/*
 * Makes the entry for a DNS_OK answer to (type, name) and keeps it for the
 * answer's TTL; for TXT it selects the SPF record and parses it. Returns it
 * with a reference taken.
 */
struct spf_entry *spf_cache_put(struct spf_cache *c, enum dns_type type,
    const char *name, const struct dns_answer *a, long long now);
void spf_entry_unref(struct spf_entry *e);
void spf_cache_counts(const struct spf_cache *c, unsigned long *hits,
    unsigned long *misses, unsigned long *entries);

#endif
