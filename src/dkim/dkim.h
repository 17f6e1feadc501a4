/*
 * dkim: streaming DKIM verification (RFC 6376, RFC 8463 ed25519-sha256,
 * RFC 8301 algorithm and key size rules).
 *
 * The SMTP session feeds the message to a verifier as DATA arrives (already
 * dot-unstuffed, CRLF line ends) in chunks of any size. The header section
 * is buffered up to opts->max_header bytes; the moment it ends, the
 * DKIM-Signature fields are parsed, their header hashes computed and their
 * key lookups started through dns/, while the body keeps streaming through
 * one canonicaliser per body canonicalisation, into one SHA-256 per distinct
 * (canonicalisation, l=) pair. Memory stays bounded whatever the message
 * size: the header buffer, and fixed state per signature.
 *
 * Results: one struct dkim_result per DKIM-Signature field, top to bottom,
 * for at most opts->max_signatures fields; fields beyond that are counted
 * in dkim_verify_skipped() and not examined. A message without signature
 * gives no result (RFC 8601 "none").
 *
 * Verdicts (RFC 8601 2.7.1): PASS; FAIL for a signature that is well
 * formed but does not verify or is not acceptable (body hash or signature
 * mismatch, rsa-sha1 (RFC 8301 3.1), an RSA key under 1024 bits (RFC 8301
 * 3.2), a revoked key (empty p=), an expired signature, x= not after t=,
 * an i= in a subdomain when the key says t=s, l= longer than the body,
 * more than one From field (RFC 6376 8.15)); PERMERROR for a signature or
 * key record that cannot be used (syntax, missing tag, From not signed,
 * no key record, unknown algorithm, key type or service); TEMPERROR when
 * the key lookup failed for now (DNS). NEUTRAL is not produced today;
 * POLICY is left to callers with a local policy. The reason text says
 * which rule decided.
 *
 * Ownership: a verifier owns everything it allocates; dkim_verify_free()
 * cancels pending key lookups and releases it. Results passed to the
 * callback are borrowed until dkim_verify_free(). A key cache is shared by
 * verifiers of one event loop (it is not thread-safe) and must outlive them.
 */
#ifndef MXGATE_DKIM_DKIM_H
#define MXGATE_DKIM_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "dns/dns.h"

enum dkim_status {
	DKIM_PASS,
	DKIM_FAIL,
	DKIM_NEUTRAL,
	DKIM_POLICY,
	DKIM_TEMPERROR,
	DKIM_PERMERROR,
};

/* Default bound of the buffered header section. */
#define DKIM_HEADER_MAX (256 * 1024)
/* Default number of signatures examined per message (DESIGN.md [dkim]). */
#define DKIM_SIGNATURES_MAX 5
/* RFC 6008 2: header.b carries at least the first 8 characters of b=. */
#define DKIM_B_PREFIX 12
/* RFC 6376 3.5 i=: a local-part (RFC 5321 4.5.3.1.1: 64) "@" domain. */
#define DKIM_AUID_MAX (64 + 1 + DNS_NAME_MAX)
#define DKIM_ALG_MAX 31

struct dkim_result {
	enum dkim_status status;
	/* Why it is not a pass, or a remark on a pass; static text. */
	const char *reason;
	/* Copied from the signature; empty when it could not be parsed. */
	char domain[DNS_NAME_MAX + 1];    /* d= */
	char selector[DNS_NAME_MAX + 1];  /* s= */
	char auid[DKIM_AUID_MAX + 1];     /* i=, or "@" d= by default */
	char algorithm[DKIM_ALG_MAX + 1]; /* a= as written */
	char b[DKIM_B_PREFIX + 1];        /* b= start, whitespace removed */
	bool length_limited;  /* l= was present and honoured */
	/* The body had bytes past l= that no signature covered: a caller that
	 * trusts the pass must know that content may have been appended. */
	bool body_truncated;
	unsigned long long length; /* l= when length_limited */
	bool testing; /* key record t=y: the domain is testing DKIM */
};

struct dkim_keycache;

struct dkim_options {
	unsigned max_signatures; /* 0: DKIM_SIGNATURES_MAX */
	size_t max_header;       /* 0: DKIM_HEADER_MAX */
	struct dkim_keycache *cache; /* NULL: no key caching */
	time_t now;              /* 0: time(NULL); for x= (tests pin it) */
};

/*
 * Called once per verifier with n results (n may be 0: unsigned, and res
 * then NULL). The
 * callback may call dkim_verify_free() on v.
 */
typedef void dkim_verify_cb(void *arg, const struct dkim_result *res,
    size_t n);

struct dkim_verify;

/* opts may be NULL for the defaults. dns must outlive the verifier. */
struct dkim_verify *dkim_verify_new(struct dns *dns,
    const struct dkim_options *opts);
/* Feeds the next len bytes of the message. Bytes after finish are ignored. */
void dkim_verify_feed(struct dkim_verify *v, const char *p, size_t len);
/*
 * The message is complete. cb runs exactly once, when every key lookup has
 * answered: inside this call if none is pending, otherwise later from the
 * event loop. Returns 0, or ERR_BADSTATE if called twice (cb then never runs).
 */
int dkim_verify_finish(struct dkim_verify *v, dkim_verify_cb *cb, void *arg);
/* DKIM-Signature fields beyond max_signatures, not examined. */
unsigned dkim_verify_skipped(const struct dkim_verify *v);
/* True when the header section went past max_header (results are then
 * PERMERROR for a signature seen, or none). */
bool dkim_verify_overflow(const struct dkim_verify *v);
/* Cancels pending lookups (no callback) and frees. NULL is fine. */
void dkim_verify_free(struct dkim_verify *v);

/* "pass", "fail", ... as RFC 8601 writes them. */
const char *dkim_status_str(enum dkim_status s);

/*
 * A cache of parsed public keys by (selector, domain), each kept for the
 * TTL of its DNS record (at most max_ttl seconds). slots bounds its size.
 */
struct dkim_keycache *dkim_keycache_new(unsigned slots, unsigned max_ttl);
void dkim_keycache_free(struct dkim_keycache *c);

#endif
