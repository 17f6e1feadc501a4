/*
 * The streaming verifier: header buffering, signature set-up and key
 * lookups at the end of the header, one pass over the body, and the
 * verdicts (RFC 6376 6.1) once every key has answered.
 */
#include "dkim/dkim_int.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "base/ascii.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

/* Canonical body bytes collected before they go to the hashes. */
#define DKIM_BODY_BUF 8192
/* Pieces from this size on skip that buffer: below it, the cost of each
 * call into SHA-256 (a partial block kept and copied) outweighs a copy. */
#define DKIM_BODY_DIRECT 2048

enum vstate { V_HEADER, V_BODY, V_OVERFLOW, V_DONE };

struct field {
	size_t off, len; /* the whole field with its CRLF */
	size_t namelen;  /* the name, WSP before the colon dropped */
};

/* One lookup per distinct key name, shared by signatures naming it. */
struct keyreq {
	struct dkim_verify *v;
	char name[DNS_NAME_MAX + 1];
	struct dns_query *q;
	enum dkim_status status; /* DKIM_PASS: key is usable */
	const char *why;
	struct dkim_pubkey *key;
};

/* One SHA-256 per distinct (body canonicalisation, l=). */
struct hasher {
	enum dkim_canon c;
	bool has_l;
	unsigned long long l;
	unsigned long long seen; /* canonical body bytes, also past l= */
	EVP_MD_CTX *md;
	unsigned char digest[DKIM_SHA256_LEN];
};

struct body {
	struct dkim_verify *v;
	struct dkim_bodycanon bc;
	bool used;
	size_t len;
	char *buf; /* DKIM_BODY_BUF bytes, once used */
};

struct sigstate {
	struct dkim_sig sig;
	bool decided; /* res.status is final */
	int key;      /* index into keyreq, or -1 */
	int hasher;
	bool sig_ok;  /* the key is good and the signature verified */
	unsigned char hhash[DKIM_SHA256_LEN];
};

struct dkim_verify {
	struct dns *dns;
	struct dkim_options opt;
	enum vstate state;
	bool overflow;
	struct buf hdr;
	size_t scanned; /* hdr bytes known to hold no end of header */
	EVP_MD *sha256;

	struct field *field;
	size_t nfield;

	struct sigstate *sig;
	struct dkim_result *res;
	size_t nsig;
	unsigned skipped;

	struct keyreq *key;
	size_t nkey;
	unsigned pending;

	struct hasher *hasher;
	size_t nhasher;
	struct body body[2]; /* indexed by enum dkim_canon */

	bool finished;
	dkim_verify_cb *cb;
	void *cbarg;
};

const char *
dkim_status_str(enum dkim_status s)
{
	switch (s) {
	case DKIM_PASS:
		return "pass";
	case DKIM_FAIL:
		return "fail";
	case DKIM_NEUTRAL:
		return "neutral";
	case DKIM_POLICY:
		return "policy";
	case DKIM_TEMPERROR:
		return "temperror";
	case DKIM_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

static void
body_emit(void *arg, const char *p, size_t len);

struct dkim_verify *
dkim_verify_new(struct dns *dns, const struct dkim_options *opts)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	int c;

	v->dns = dns;
	if (opts)
		v->opt = *opts;
	if (v->opt.max_signatures == 0)
		v->opt.max_signatures = DKIM_SIGNATURES_MAX;
	if (v->opt.max_header == 0)
		v->opt.max_header = DKIM_HEADER_MAX;
	for (c = DKIM_C_SIMPLE; c <= DKIM_C_RELAXED; c++) {
		v->body[c].v = v;
		dkim_body_init(&v->body[c].bc, (enum dkim_canon)c, body_emit,
		    &v->body[c]);
	}
	return v;
}

void
dkim_verify_free(struct dkim_verify *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nkey; i++) {
		if (v->key[i].q)
			dns_cancel(v->key[i].q);
		dkim_pubkey_unref(v->key[i].key);
	}
	for (i = 0; i < v->nhasher; i++)
		EVP_MD_CTX_free(v->hasher[i].md);
	EVP_MD_free(v->sha256);
	free(v->body[DKIM_C_SIMPLE].buf);
	free(v->body[DKIM_C_RELAXED].buf);
	buf_free(&v->hdr);
	free(v->field);
	free(v->sig);
	free(v->res);
	free(v->key);
	free(v->hasher);
	free(v);
}

unsigned
dkim_verify_skipped(const struct dkim_verify *v)
{
	return v->skipped;
}

bool
dkim_verify_overflow(const struct dkim_verify *v)
{
	return v->overflow;
}

/* ---- body ---- */

static void
hashers_update(struct dkim_verify *v, enum dkim_canon c, const char *p,
    size_t len)
{
	size_t i;

	for (i = 0; i < v->nhasher; i++) {
		struct hasher *h = &v->hasher[i];
		size_t n = len;

		if (h->c != c)
			continue;
		/* RFC 6376 3.5 l=: hash that many canonical bytes only. */
		if (h->has_l)
			n = h->seen >= h->l ? 0 :
			    (h->l - h->seen < len ? (size_t)(h->l - h->seen) :
			    len);
		if (n)
			EVP_DigestUpdate(h->md, p, n);
		h->seen += len;
	}
}

static void
body_flush(struct body *b)
{
	if (b->len) {
		hashers_update(b->v, b->bc.c, b->buf, b->len);
		b->len = 0;
	}
}

static void
body_emit(void *arg, const char *p, size_t len)
{
	struct body *b = arg;

	/* Long runs go to the hashes as they are; shorter pieces are
	 * gathered first to save calls into OpenSSL. */
	if (len >= DKIM_BODY_DIRECT || len > DKIM_BODY_BUF - b->len) {
		body_flush(b);
		if (len >= DKIM_BODY_DIRECT) {
			hashers_update(b->v, b->bc.c, p, len);
			return;
		}
	}
	memcpy(b->buf + b->len, p, len);
	b->len += len;
}

static void
body_feed(struct dkim_verify *v, const char *p, size_t len)
{
	int c;

	for (c = DKIM_C_SIMPLE; c <= DKIM_C_RELAXED; c++)
		if (v->body[c].used)
			dkim_body_feed(&v->body[c].bc, p, len);
}

/* ---- header ---- */

static bool
field_is(const struct dkim_verify *v, const struct field *f, struct span n)
{
	return span_eq_nocase(span_make(v->hdr.p + f->off, f->namelen), n);
}

/* Splits the header section hdr[0..len) into fields. */
static void
index_fields(struct dkim_verify *v, size_t len)
{
	const char *p = v->hdr.p;
	size_t i = 0, cap = 0;

	while (i < len) {
		size_t start = i, end = i;
		const char *colon;
		struct field *f;

		/* A field ends at a CRLF not followed by WSP (RFC 5322 2.2.3
		 * unfolding); a bare LF is content, as in canonicalisation. */
		for (;;) {
			const char *q = memchr(p + end, '\n', len - end);

			if (q == NULL) {
				end = len;
				break;
			}
			end = (size_t)(q - p) + 1;
			if (end - start >= 2 && p[end - 2] == '\r' &&
			    (end == len || (p[end] != ' ' && p[end] != '\t')))
				break;
		}
		if (v->nfield == cap) {
			cap = cap ? 2 * cap : 32;
			v->field = xrealloc(v->field, cap * sizeof(*v->field));
		}
		f = &v->field[v->nfield++];
		f->off = start;
		f->len = end - start;
		colon = memchr(p + start, ':', f->len);
		f->namelen = colon ? (size_t)(colon - p) - start : 0;
		while (f->namelen && (p[start + f->namelen - 1] == ' ' ||
		    p[start + f->namelen - 1] == '\t'))
			f->namelen--;
		i = end;
	}
}

static void
copy_text(char *dst, size_t dstsz, struct span s)
{
	size_t n = s.len < dstsz - 1 ? s.len : dstsz - 1;

	if (s.p)
		memcpy(dst, s.p, n);
	else
		n = 0;
	dst[n] = '\0';
}

static void
decide(struct sigstate *s, struct dkim_result *r, enum dkim_status st,
    const char *why)
{
	s->decided = true;
	r->status = st;
	r->reason = why;
}

static void
name_result(struct sigstate *s, struct dkim_result *r)
{
	size_t i, n = 0;

	copy_text(r->domain, sizeof(r->domain), s->sig.d);
	copy_text(r->selector, sizeof(r->selector), s->sig.s);
	copy_text(r->algorithm, sizeof(r->algorithm), s->sig.a);
	if (s->sig.i.p)
		copy_text(r->auid, sizeof(r->auid), s->sig.i);
	else if (s->sig.d.p && s->sig.d.len < sizeof(r->auid) - 1) {
		r->auid[0] = '@';
		copy_text(r->auid + 1, sizeof(r->auid) - 1, s->sig.d);
	}
	for (i = 0; i < s->sig.b_text.len && n < DKIM_B_PREFIX; i++) {
		char c = s->sig.b_text.p[i];

		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			r->b[n++] = c;
	}
	r->b[n] = '\0';
	r->length_limited = s->sig.has_l;
	r->length = s->sig.l;
}

/*
 * RFC 6376 3.7: the selected fields, bottom-up per name, then the
 * signature field itself with b= emptied and without its final CRLF.
 */
static void
header_hash(struct dkim_verify *v, struct sigstate *s, const struct field *sf,
    bool *used, char *scratch)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const char *p = v->hdr.p;
	size_t k, n, m, flen;
	unsigned len;

	EVP_DigestInit_ex(md, v->sha256, NULL);
	memset(used, 0, v->nfield * sizeof(*used));
	for (k = 0; k < s->sig.nh; k++) {
		size_t j;

		for (j = v->nfield; j-- > 0;)
			if (!used[j] && field_is(v, &v->field[j], s->sig.h[k]))
				break;
		/* Oversigned: a name with no field left adds nothing. */
		if (j == (size_t)-1)
			continue;
		used[j] = true;
		n = dkim_canon_header(s->sig.hcanon, p + v->field[j].off,
		    v->field[j].len, scratch);
		EVP_DigestUpdate(md, scratch, n);
	}
	flen = sf->len;
	if (flen >= 2 && p[sf->off + flen - 2] == '\r' &&
	    p[sf->off + flen - 1] == '\n')
		flen -= 2;
	m = (size_t)(s->sig.b_raw.p - (p + sf->off));
	/* The field with the b= value cut out goes after the scratch area
	 * a canonical copy needs. */
	memcpy(scratch + flen + 2, p + sf->off, m);
	memcpy(scratch + flen + 2 + m, s->sig.b_raw.p + s->sig.b_raw.len,
	    flen - m - s->sig.b_raw.len);
	n = dkim_canon_header(s->sig.hcanon, scratch + flen + 2,
	    flen - s->sig.b_raw.len, scratch);
	if (s->sig.hcanon == DKIM_C_RELAXED)
		n -= 2;
	EVP_DigestUpdate(md, scratch, n);
	EVP_DigestFinal_ex(md, s->hhash, &len);
	EVP_MD_CTX_free(md);
}

static int
hasher_for(struct dkim_verify *v, const struct dkim_sig *sig)
{
	struct hasher *h;
	size_t i;

	for (i = 0; i < v->nhasher; i++) {
		h = &v->hasher[i];
		if (h->c == sig->bcanon && h->has_l == sig->has_l &&
		    (!h->has_l || h->l == sig->l))
			return (int)i;
	}
	h = &v->hasher[v->nhasher];
	h->c = sig->bcanon;
	h->has_l = sig->has_l;
	h->l = sig->l;
	h->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(h->md, v->sha256, NULL);
	if (!v->body[sig->bcanon].used) {
		v->body[sig->bcanon].used = true;
		v->body[sig->bcanon].buf = xmalloc(DKIM_BODY_BUF);
	}
	return (int)v->nhasher++;
}

static void
lower_into(char *dst, struct span s)
{
	size_t i;

	for (i = 0; i < s.len; i++) {
		char c = s.p[i];

		dst[i] = (char)ascii_lower((unsigned char)c);
	}
	dst[s.len] = '\0';
}

static int
keyreq_for(struct dkim_verify *v, const struct dkim_sig *sig)
{
	static const char mid[] = "._domainkey.";
	char name[DNS_NAME_MAX + 1];
	size_t i;

	/* RFC 6376 3.6.2.1: s._domainkey.d */
	if (sig->s.len + sizeof(mid) - 1 + sig->d.len > DNS_NAME_MAX)
		return -1;
	lower_into(name, sig->s);
	memcpy(name + sig->s.len, mid, sizeof(mid) - 1);
	lower_into(name + sig->s.len + sizeof(mid) - 1, sig->d);
	for (i = 0; i < v->nkey; i++)
		if (strcmp(v->key[i].name, name) == 0)
			return (int)i;
	memcpy(v->key[v->nkey].name, name, sizeof(name));
	v->key[v->nkey].v = v;
	return (int)v->nkey++;
}

static void
on_key(void *arg, const struct dns_answer *a);
static void
key_arrived(struct dkim_verify *v, const struct keyreq *k);

/* Checks that need the clock or the rest of the header, not the key. */
static void
sig_precheck(struct dkim_verify *v, struct sigstate *s,
    struct dkim_result *r, unsigned froms)
{
	time_t now = v->opt.now ? v->opt.now : time(NULL);

	if (s->sig.alg == DKIM_A_RSA_SHA1)
		decide(s, r, DKIM_FAIL, "rsa-sha1 is not accepted (RFC 8301)");
	else if (s->sig.has_x && s->sig.has_t && s->sig.x <= s->sig.t)
		/* RFC 6376 3.5 x=: it MUST be greater than t=. */
		decide(s, r, DKIM_FAIL, "x= is not after t=");
	else if (s->sig.has_x && s->sig.x < (unsigned long long)now)
		decide(s, r, DKIM_FAIL, "signature expired");
	else if (froms > 1)
		/* RFC 6376 8.15: an unsigned From above the signed one would
		 * be what a reader sees. RFC 5322 allows one From. */
		decide(s, r, DKIM_FAIL, "more than one From field");
}

static void
header_done(struct dkim_verify *v, size_t len)
{
	struct field **sf;
	unsigned froms = 0;
	size_t j, n, maxfield = 0;
	bool *used;
	char *scratch;

	index_fields(v, len);
	for (j = 0, n = 0; j < v->nfield; j++)
		if (field_is(v, &v->field[j], SPAN_LIT("dkim-signature")))
			n++;
	if (n == 0)
		return;
	if (n > v->opt.max_signatures)
		n = v->opt.max_signatures;
	/* One explicit fetch for all digests of the message (or none, with
	 * the cache's), instead of an implicit one per digest. */
	if ((v->sha256 = (EVP_MD *)dkim_keycache_sha256(v->opt.cache)))
		EVP_MD_up_ref(v->sha256);
	else if ((v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		fatal("dkim: OpenSSL has no SHA256");
	sf = xcalloc(n, sizeof(*sf));
	v->sig = xcalloc(n, sizeof(*v->sig));
	v->res = xcalloc(n, sizeof(*v->res));
	for (j = 0; j < v->nfield; j++) {
		struct field *f = &v->field[j];

		if (f->len > maxfield)
			maxfield = f->len;
		if (field_is(v, f, SPAN_LIT("from")))
			froms++;
		if (!field_is(v, f, SPAN_LIT("dkim-signature")))
			continue;
		if (v->nsig == v->opt.max_signatures) {
			v->skipped++;
			continue;
		}
		sf[v->nsig++] = f;
	}
	v->key = xcalloc(v->nsig, sizeof(*v->key));
	v->hasher = xcalloc(v->nsig, sizeof(*v->hasher));
	used = xcalloc(v->nfield, sizeof(*used));
	scratch = xmalloc(2 * maxfield + 4);
	for (j = 0; j < v->nsig; j++) {
		struct sigstate *s = &v->sig[j];
		struct dkim_result *r = &v->res[j];
		const struct field *f = sf[j];
		size_t vstart = f->off + f->namelen, vlen;
		const char *why = NULL;

		s->key = s->hasher = -1;
		/* The value: after the colon, without the final CRLF. */
		while (v->hdr.p[vstart] != ':')
			vstart++;
		vstart++;
		vlen = f->off + f->len - vstart;
		if (vlen >= 2 && v->hdr.p[vstart + vlen - 2] == '\r' &&
		    v->hdr.p[vstart + vlen - 1] == '\n')
			vlen -= 2;
		if (dkim_sig_parse(v->hdr.p + vstart, vlen, &s->sig, &why) < 0)
			decide(s, r, DKIM_PERMERROR, why);
		name_result(s, r);
		if (s->decided)
			continue;
		sig_precheck(v, s, r, froms);
		if (s->decided)
			continue;
		if ((s->key = keyreq_for(v, &s->sig)) < 0) {
			decide(s, r, DKIM_PERMERROR, "key name too long");
			continue;
		}
		header_hash(v, s, f, used, scratch);
		s->hasher = hasher_for(v, &s->sig);
	}
	free(used);
	free(scratch);
	free(sf);

	/* Lookups last: a cached key is applied at once, and DNS answers
	 * come from the loop, while the body streams. */
	for (j = 0; j < v->nkey; j++) {
		struct keyreq *k = &v->key[j];

		if ((k->key = dkim_keycache_get(v->opt.cache, k->name))) {
			k->status = DKIM_PASS;
			key_arrived(v, k);
			continue;
		}
		k->q = dns_query(v->dns, k->name, DNS_T_TXT, on_key, k);
		if (k->q == NULL) {
			k->status = DKIM_PERMERROR;
			k->why = "bad key name";
			key_arrived(v, k);
		} else {
			v->pending++;
		}
	}
}

/* Looks for any DKIM-Signature field in a header section cut short. */
static bool
overflow_has_sig(struct dkim_verify *v)
{
	size_t j;

	index_fields(v, v->hdr.len);
	for (j = 0; j < v->nfield; j++)
		if (field_is(v, &v->field[j], SPAN_LIT("dkim-signature")))
			return true;
	return false;
}

static void
header_overflow(struct dkim_verify *v)
{
	v->state = V_OVERFLOW;
	v->overflow = true;
	if (overflow_has_sig(v)) {
		v->res = xcalloc(1, sizeof(*v->res));
		v->res[0].status = DKIM_PERMERROR;
		v->res[0].reason = "header section too large";
		v->nsig = 1;
		v->sig = xcalloc(1, sizeof(*v->sig));
		v->sig[0].decided = true;
	}
	buf_free(&v->hdr);
	free(v->field);
	v->field = NULL;
	v->nfield = 0;
}

/* The first CRLF CRLF in p[0..len), or NULL; memchr finds the LFs far
 * faster than a general memmem. */
static const char *
blank_line(const char *p, size_t len)
{
	const char *q = p, *end = p + len;

	while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		if (q - p >= 3 && q[-1] == '\r' &&
		    q[-2] == '\n' && q[-3] == '\r')
			return q - 3;
		q++;
	}
	return NULL;
}

void
dkim_verify_feed(struct dkim_verify *v, const char *p, size_t len)
{
	size_t old, take, from, hlen, body_at;
	const char *end;

	if (v->finished)
		return;
	if (v->state == V_BODY) {
		body_feed(v, p, len);
		return;
	}
	if (v->state != V_HEADER || len == 0)
		return;
	/* Buffer no more than the bound (plus the blank line) of a chunk
	 * that may carry the whole message, and nothing past the blank
	 * line: the body is not copied. */
	old = v->hdr.len;
	take = v->opt.max_header + 4 - old;
	if (take > len)
		take = len;
	if ((end = blank_line(p, take)))
		take = (size_t)(end - p) + 4;
	buf_add(&v->hdr, p, take);
	if (v->hdr.len >= 2 && old < 2 && v->hdr.p[0] == '\r' &&
	    v->hdr.p[1] == '\n') {
		/* No header fields at all: the body starts at once. */
		hlen = 0;
	} else if (old == 0 && end) {
		/* The whole header came in this piece, and the search above
		 * found its end already. */
		hlen = (size_t)(end - p) + 2;
	} else {
		from = v->scanned >= 3 ? v->scanned - 3 : 0;
		end = blank_line(v->hdr.p + from, v->hdr.len - from);
		if (end == NULL) {
			v->scanned = v->hdr.len;
			if (v->hdr.len > v->opt.max_header)
				header_overflow(v);
			return;
		}
		/* hdr keeps the last field's CRLF; the blank line goes. */
		hlen = (size_t)(end - v->hdr.p) + 2;
	}
	if (hlen > v->opt.max_header) {
		header_overflow(v);
		return;
	}
	body_at = hlen + 2 - old;
	v->hdr.len = hlen;
	v->state = V_BODY;
	header_done(v, hlen);
	if (body_at < len)
		body_feed(v, p + body_at, len - body_at);
}

/* ---- keys and signatures ---- */

/* Turns the TXT records into a usable key, or a verdict with a reason. */
static void
key_from_answer(struct keyreq *k, const struct dns_answer *a)
{
	const char *first_why = NULL;
	size_t i;

	if (a->status == DNS_TEMPFAIL) {
		k->status = DKIM_TEMPERROR;
		k->why = "key lookup failed";
		return;
	}
	if (a->status != DNS_OK) {
		k->status = DKIM_PERMERROR;
		k->why = "no key record";
		return;
	}
	/* RFC 6376 3.6.2.2: with several records, use one that parses. */
	for (i = 0; i < a->count; i++) {
		const struct dns_rr *rr = &a->rr[i];
		struct dkim_keyrec kr;
		const char *why;

		if (rr->type != DNS_T_TXT)
			continue;
		if (dkim_keyrec_parse((const char *)rr->data, rr->len, &kr,
		    &why) < 0) {
			if (first_why == NULL)
				first_why = why;
			continue;
		}
		if (kr.revoked) {
			k->status = DKIM_FAIL;
			k->why = "key revoked";
			return;
		}
		if ((k->key = dkim_pubkey_new(&kr, &k->status, &k->why)) ==
		    NULL)
			return;
		k->status = DKIM_PASS;
		dkim_keycache_put(k->v->opt.cache, k->name, k->key, rr->ttl);
		return;
	}
	k->status = DKIM_PERMERROR;
	k->why = first_why ? first_why : "no key record";
}

/* RFC 6376 3.6.1 t=s: i= must be in d= itself, not a subdomain. */
static bool
auid_exact(const struct dkim_sig *sig)
{
	const char *at;
	size_t k;

	if (sig->i.p == NULL)
		return true;
	for (at = NULL, k = 0; k < sig->i.len; k++)
		if (sig->i.p[k] == '@')
			at = sig->i.p + k;
	return at && span_eq_nocase(span_make(at + 1,
	    (size_t)(sig->i.p + sig->i.len - at - 1)), sig->d);
}

/*
 * What the key decides, as soon as it is known, so that the public key
 * operation runs while the body is still arriving rather than after the
 * end of DATA, where the client waits for its reply.
 */
static void
key_arrived(struct dkim_verify *v, const struct keyreq *k)
{
	size_t j;

	for (j = 0; j < v->nsig; j++) {
		struct sigstate *s = &v->sig[j];
		struct dkim_result *r = &v->res[j];

		if (s->decided || &v->key[s->key] != k)
			continue;
		if (k->status != DKIM_PASS) {
			decide(s, r, k->status, k->why);
			continue;
		}
		r->testing = dkim_pubkey_testing(k->key);
		if ((dkim_pubkey_type(k->key) == DKIM_K_ED25519) !=
		    (s->sig.alg == DKIM_A_ED25519_SHA256))
			decide(s, r, DKIM_PERMERROR,
			    "key type does not match a=");
		else if (dkim_pubkey_strict(k->key) && !auid_exact(&s->sig))
			decide(s, r, DKIM_FAIL,
			    "i= is a subdomain and the key has t=s");
		else
			s->sig_ok = dkim_pubkey_verify(k->key, s->sig.b,
			    s->sig.blen, s->hhash);
	}
}

/* The verdict for one signature once its key and the body are known
 * (RFC 6376 6.1.3: the body hash first, then the signature). */
static void
sig_final(struct dkim_verify *v, size_t j)
{
	struct sigstate *s = &v->sig[j];
	struct dkim_result *r = &v->res[j];
	const struct hasher *h;

	if (s->decided)
		return;
	h = &v->hasher[s->hasher];
	if (h->has_l && h->l > h->seen) {
		decide(s, r, DKIM_FAIL, "l= is longer than the body");
		return;
	}
	if (memcmp(h->digest, s->sig.bh, DKIM_SHA256_LEN) != 0) {
		decide(s, r, DKIM_FAIL, "body hash mismatch");
		return;
	}
	if (!s->sig_ok) {
		decide(s, r, DKIM_FAIL, "signature did not verify");
		return;
	}
	r->body_truncated = h->has_l && h->seen > h->l;
	decide(s, r, DKIM_PASS, r->body_truncated ?
	    "body beyond l= not signed" : r->testing ?
	    "key in testing mode" : NULL);
}

/* Everything is known: verdicts, then the callback, as the last act. */
static void
deliver(struct dkim_verify *v)
{
	size_t j;

	for (j = 0; j < v->nsig; j++)
		sig_final(v, j);
	v->state = V_DONE;
	v->cb(v->cbarg, v->res, v->nsig);
}

static void
on_key(void *arg, const struct dns_answer *a)
{
	struct keyreq *k = arg;
	struct dkim_verify *v = k->v;

	k->q = NULL;
	key_from_answer(k, a);
	key_arrived(v, k);
	v->pending--;
	if (v->finished && v->pending == 0)
		deliver(v);
}

int
dkim_verify_finish(struct dkim_verify *v, dkim_verify_cb *cb, void *arg)
{
	size_t i;
	int c;

	if (v->finished)
		return ERR_BADSTATE;
	if (v->state == V_HEADER) {
		/* No blank line: all of it was header, the body is empty. */
		v->state = V_BODY;
		header_done(v, v->hdr.len);
	}
	for (c = DKIM_C_SIMPLE; c <= DKIM_C_RELAXED; c++) {
		if (!v->body[c].used)
			continue;
		dkim_body_finish(&v->body[c].bc);
		body_flush(&v->body[c]);
	}
	for (i = 0; i < v->nhasher; i++) {
		unsigned n;

		EVP_DigestFinal_ex(v->hasher[i].md, v->hasher[i].digest, &n);
	}
	v->finished = true;
	v->cb = cb;
	v->cbarg = arg;
	if (v->pending == 0)
		deliver(v);
	return 0;
}
