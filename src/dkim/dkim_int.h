/*
 * dkim_int: the DKIM module's own interfaces, for its files and tests
 * only. The parsers and canonicalisers here are bounded transforms over
 * (p, len) with output in caller storage: no allocation, no I/O. The key
 * objects (key.c) and the key cache (keycache.c) are shared by verify.c.
 */
#ifndef MXGATE_DKIM_DKIM_INT_H
#define MXGATE_DKIM_DKIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/span.h"
#include "dkim/dkim.h"

/*
 * Tag lists (RFC 6376 3.2). No RFC limit on the number of tags; a real
 * signature has about 12, so 64 leaves room for unknown tags and refuses
 * lists built to be expensive.
 */
#define DKIM_TAGS_MAX 64

struct dkim_tag {
	struct span name;
	struct span value; /* without the FWS around it; may contain FWS */
	/* From just after '=' to just before ';' or the end: what RFC 6376
	 * 3.5 b= deletes ("including all surrounding whitespace"). */
	struct span raw;
};

struct dkim_taglist {
	size_t n;
	struct dkim_tag tag[DKIM_TAGS_MAX];
};

/*
 * Parses p[0..len) as a tag-list (a header field value, folding included,
 * or a key record). Returns 0, ERR_SYNTAX (bad grammar, duplicate tag; *why
 * says which) or ERR_LIMIT (more than DKIM_TAGS_MAX tags).
 */
int dkim_tags_parse(const char *p, size_t len, struct dkim_taglist *tl,
    const char **why);
/* The tag named name, or NULL. */
const struct dkim_tag *dkim_tags_get(const struct dkim_taglist *tl,
    const char *name);

/*
 * Decodes base64 with embedded FWS (RFC 6376 2.4 and 3.5 b=). Padding
 * must be correct. Returns the decoded length, or -1 for bad input or more
 * than outsz bytes.
 */
long dkim_base64_decode(struct span in, unsigned char *out, size_t outsz);

/* RFC 6376 3.5 / RFC 8301 / RFC 8463. */
enum dkim_alg { DKIM_A_RSA_SHA256, DKIM_A_ED25519_SHA256, DKIM_A_RSA_SHA1 };
enum dkim_canon { DKIM_C_SIMPLE, DKIM_C_RELAXED };

/* RFC 8301 3.2 asks verifiers to handle keys up to 4096 bits; room for
 * 8192-bit signatures and SubjectPublicKeyInfo keys. */
#define DKIM_SIG_MAX 1024
#define DKIM_KEY_MAX 1100
/* h= entries; 64 is far above any real signer and bounds the header work. */
#define DKIM_H_MAX 64
#define DKIM_SHA256_LEN 32

struct dkim_sig {
	enum dkim_alg alg;
	enum dkim_canon hcanon, bcanon;
	struct span a, d, s, i, b_text;
	struct span h[DKIM_H_MAX];
	size_t nh;
	bool has_l, has_t, has_x;
	unsigned long long l;
	unsigned long long t, x;
	unsigned char bh[DKIM_SHA256_LEN];
	unsigned char b[DKIM_SIG_MAX];
	size_t blen;
	struct span b_raw; /* the b= value to empty when hashing the field */
};

/*
 * Parses the value of a DKIM-Signature field (after the colon, without the
 * final CRLF). Returns 0, or ERR_SYNTAX with *why set; sig->d, s and a are
 * filled as far as they were found so that results can name them.
 * Signature rules that need no key are checked here: v=1, required tags,
 * from in h=, i= within d=, x= not before t=, valid d= and s=.
 */
int dkim_sig_parse(const char *p, size_t len, struct dkim_sig *sig,
    const char **why);

enum dkim_keytype { DKIM_K_RSA, DKIM_K_ED25519 };

struct dkim_keyrec {
	enum dkim_keytype k;
	bool testing; /* t=y */
	bool strict;  /* t=s */
	bool revoked; /* p= empty */
	unsigned char p[DKIM_KEY_MAX];
	size_t plen;
};

/*
 * Parses a key record (RFC 6376 3.6.1): v=DKIM1 first if present, h= must
 * allow sha256 (the only hash left, RFC 8301), k= known, s= must allow
 * email. Whether k= suits the signature's a= is the caller's check.
 * Returns 0 or ERR_SYNTAX with *why.
 */
int dkim_keyrec_parse(const char *p, size_t len, struct dkim_keyrec *kr,
    const char **why);

/*
 * A usable public key: what a key record becomes after decoding, with its
 * verify context set up once (OpenSSL 3 fetches the algorithm on every
 * init, a fifth of an RSA-2048 verify): reused for RSA, copied for each
 * Ed25519 check, as OpenSSL does not promise that a one-shot verify
 * leaves its context fit for another. Reference counted, not
 * thread-safe: a key belongs to one event loop, shared by its cache and
 * its verifiers.
 */
struct dkim_pubkey;

/*
 * Decodes a parsed key record: returns a key (one reference) or NULL with
 * a verdict in *st (PERMERROR: undecodable; FAIL: RSA under 1024 bits,
 * RFC 8301 3.2) and a reason in *why.
 */
struct dkim_pubkey *dkim_pubkey_new(const struct dkim_keyrec *kr,
    enum dkim_status *st, const char **why);
struct dkim_pubkey *dkim_pubkey_ref(struct dkim_pubkey *k);
/* Drops one reference. NULL is fine. */
void dkim_pubkey_unref(struct dkim_pubkey *k);
enum dkim_keytype dkim_pubkey_type(const struct dkim_pubkey *k);
bool dkim_pubkey_testing(const struct dkim_pubkey *k);
bool dkim_pubkey_strict(const struct dkim_pubkey *k);
/* True when sig is a valid signature of the SHA-256 hash by k (PKCS#1
 * v1.5 for RSA; RFC 8463 3 Ed25519 over the hash). */
bool dkim_pubkey_verify(struct dkim_pubkey *k, const unsigned char *sig,
    size_t siglen, const unsigned char hash[DKIM_SHA256_LEN]);

struct evp_md_st; /* OpenSSL's EVP_MD */

/* SHA-256 as fetched once for the cache's loop, or NULL without a cache:
 * OpenSSL 3 looks an algorithm up on every fetch. */
const struct evp_md_st *dkim_keycache_sha256(const struct dkim_keycache *c);

/* The cached key for name (s._domainkey.d, lower case) with a new
 * reference, or NULL. */
struct dkim_pubkey *dkim_keycache_get(struct dkim_keycache *c,
    const char *name);
/* Keeps a reference to key under name for ttl seconds (capped). */
void dkim_keycache_put(struct dkim_keycache *c, const char *name,
    struct dkim_pubkey *key, unsigned ttl);

/* True for an RFC 5321 Domain (ldh labels; '_' allowed for selectors). */
bool dkim_domain_valid(struct span d, bool underscore);

/*
 * Header canonicalisation (RFC 6376 3.4.1, 3.4.2) of one whole field
 * (name, colon, value, final CRLF if any) into out (room for len + 2
 * bytes is always enough). Returns the output length.
 */
size_t dkim_canon_header(enum dkim_canon c, const char *p, size_t len,
    char *out);

/*
 * Body canonicalisation (RFC 6376 3.4.3, 3.4.4), streaming: output goes
 * to emit in pieces. The state is a few words; nothing is buffered except
 * counts of deferred empty lines and whitespace.
 */
typedef void dkim_emit_fn(void *arg, const char *p, size_t len);

struct dkim_bodycanon {
	enum dkim_canon c;
	dkim_emit_fn *emit;
	void *arg;
	unsigned long long empty; /* empty lines not yet known to be inner */
	bool bol;     /* at the beginning of a line */
	bool cr;      /* the last byte seen was a CR not yet written */
	bool wsp;     /* relaxed: WSP seen in the line, not yet written */
	bool any;     /* something was written */
};

/*
 * The body scans (scan.c): from p[j], the offset of the first byte that
 * may need a decision in a run of relaxed or simple canonicalisation (see
 * canon.c), or an offset within DKIM_SCAN_WIN bytes of len where the scan
 * stopped for lack of look-ahead. The caller's byte loop decides from
 * there. The baseline variants leave out CPU-specific code, for tests to
 * compare against.
 */
#define DKIM_SCAN_WIN 64
size_t dkim_scan_relaxed(const char *p, size_t j, size_t len);
size_t dkim_scan_simple(const char *p, size_t j, size_t len);
size_t dkim_scan_relaxed_baseline(const char *p, size_t j, size_t len);
size_t dkim_scan_simple_baseline(const char *p, size_t j, size_t len);

void dkim_body_init(struct dkim_bodycanon *b, enum dkim_canon c,
    dkim_emit_fn *emit, void *arg);
void dkim_body_feed(struct dkim_bodycanon *b, const char *p, size_t len);
void dkim_body_finish(struct dkim_bodycanon *b);

#endif
