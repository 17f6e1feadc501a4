/*
 * The streaming verifier against the table resolver, with messages signed
 * here at test time by a small signer written independently of the
 * verifier's header selection: l=, x=, t=, oversigning, bottom-up
 * selection, key record flags, DNS failures, limits, the callback contract,
 * shared lookups and the key cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base/buf.h"
#include "base/err.h"
#include "dkim/dkim_int.h"
#include "dns/dns.h"

struct fixture {
	struct event_base *base;
	struct dns *dns;
	EVP_PKEY *ed, *rsa;
};

static struct fixture fx;

static void
b64(const unsigned char *p, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)len);
}

/* Publishes key at NAME with the extra tags given (before p=). */
static void
publish(const char *name, EVP_PKEY *key, const char *tags)
{
	unsigned char raw[600], *q = raw;
	char rec[1200], p64[900];
	size_t len = sizeof(raw);

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
		assert_int_equal(EVP_PKEY_get_raw_public_key(key, raw, &len),
		    1);
	} else {
		len = (size_t)i2d_PUBKEY(key, &q);
	}
	b64(raw, len, p64);
	snprintf(rec, sizeof(rec), "v=DKIM1; %sp=%s", tags, p64);
	dns_table_add(fx.dns, name, DNS_T_TXT, rec, strlen(rec));
}

static int
setup(void **state)
{
	(void)state;
	fx.base = event_base_new();
	fx.dns = dns_new_table(fx.base);
	fx.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	fx.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(fx.ed);
	assert_non_null(fx.rsa);
	publish("ed._domainkey.example.com", fx.ed, "k=ed25519; ");
	publish("rsa._domainkey.example.com", fx.rsa, "");
	publish("edtest._domainkey.example.com", fx.ed, "k=ed25519; t=y; ");
	publish("strict._domainkey.example.com", fx.ed, "k=ed25519; t=s; ");
	publish("edasrsa._domainkey.example.com", fx.ed, "k=rsa; ");
	dns_table_add_text(fx.dns, "revoked._domainkey.example.com",
	    DNS_T_TXT, "v=DKIM1; k=ed25519; p=");
	dns_table_timeout(fx.dns, "slow._domainkey.example.com");
	dns_table_servfail(fx.dns, "broken._domainkey.example.com");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(fx.ed);
	EVP_PKEY_free(fx.rsa);
	dns_free(fx.dns);
	event_base_free(fx.base);
	return 0;
}

static void
buf_emit(void *arg, const char *p, size_t len)
{
	buf_add(arg, p, len);
}

/*
 * Signs hdrs (fields with CRLFs) + blank line + body and returns the whole
 * message with the DKIM-Signature field on top. tags carries d=, s=, h=
 * and anything else; l >= 0 signs only that many canonical body bytes.
 */
static void
sign(struct buf *out, EVP_PKEY *key, const char *hdrs, const char *body,
    const char *c, const char *tags, long l)
{
	enum dkim_canon hc = strncmp(c, "relaxed", 7) == 0 ? DKIM_C_RELAXED :
	    DKIM_C_SIMPLE;
	enum dkim_canon bc = strstr(c, "/relaxed") ? DKIM_C_RELAXED :
	    DKIM_C_SIMPLE;
	bool ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
	char field[4096], canon[4096], bh64[64], lpart[32] = "";
	struct span list;
	unsigned char bh[32], hh[32], sig[600];
	struct dkim_bodycanon b;
	struct dkim_taglist tl;
	const char *why;
	size_t siglen = sizeof(sig), n, nf = 0, k;
	struct { const char *p; size_t len; bool used; } f[32];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct buf canonbody = { 0 };
	const char *p;
	unsigned len;

	dkim_body_init(&b, bc, buf_emit, &canonbody);
	dkim_body_feed(&b, body, strlen(body));
	dkim_body_finish(&b);
	EVP_Digest(canonbody.p ? canonbody.p : "", l >= 0 ? (size_t)l :
	    canonbody.len, bh, &len, EVP_sha256(), NULL);
	buf_free(&canonbody);
	b64(bh, 32, bh64);
	if (l >= 0)
		snprintf(lpart, sizeof(lpart), " l=%ld;", l);
	snprintf(field, sizeof(field), "DKIM-Signature: v=1; a=%s; c=%s; %s;%s"
	    "\r\n\tbh=%s; b=", ed ? "ed25519-sha256" : "rsa-sha256", c, tags,
	    lpart, bh64);

	/* Split the fields: a field ends at a CRLF not followed by WSP. */
	for (p = hdrs; *p; nf++) {
		const char *e = p;

		while ((e = strstr(e, "\r\n")) && (e[2] == ' ' || e[2] == '\t'))
			e += 2;
		f[nf].p = p;
		f[nf].len = (size_t)(e + 2 - p);
		f[nf].used = false;
		p = e + 2;
	}
	assert_int_equal(dkim_tags_parse(tags, strlen(tags), &tl, &why), 0);
	assert_non_null(dkim_tags_get(&tl, "h"));
	list = dkim_tags_get(&tl, "h")->value;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (list.len) {
		const char *colon = memchr(list.p, ':', list.len);
		struct span name = span_make(list.p, colon ?
		    (size_t)(colon - list.p) : list.len);

		list.p += name.len + (colon ? 1 : 0);
		list.len -= name.len + (colon ? 1 : 0);
		for (k = nf; k-- > 0;) {
			if (f[k].used || f[k].len <= name.len ||
			    f[k].p[name.len] != ':' || !span_eq_nocase(
			    span_make(f[k].p, name.len), name))
				continue;
			f[k].used = true;
			n = dkim_canon_header(hc, f[k].p, f[k].len, canon);
			EVP_DigestUpdate(md, canon, n);
			break;
		}
	}
	n = dkim_canon_header(hc, field, strlen(field), canon);
	EVP_DigestUpdate(md, canon, hc == DKIM_C_RELAXED ? n - 2 : n);
	EVP_DigestFinal_ex(md, hh, &len);
	EVP_MD_CTX_free(md);

	if (ed) {
		md = EVP_MD_CTX_new();
		assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, key),
		    1);
		assert_int_equal(EVP_DigestSign(md, sig, &siglen, hh, 32), 1);
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(key, NULL);

		EVP_PKEY_sign_init(pc);
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING);
		EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256());
		assert_int_equal(EVP_PKEY_sign(pc, sig, &siglen, hh, 32), 1);
		EVP_PKEY_CTX_free(pc);
	}
	buf_reset(out);
	buf_adds(out, field);
	b64(sig, siglen, canon);
	buf_adds(out, canon);
	buf_adds(out, "\r\n");
	buf_adds(out, hdrs);
	buf_adds(out, "\r\n");
	buf_adds(out, body);
}

struct outcome {
	bool done;
	unsigned calls;
	size_t n;
	struct dkim_result res[8];
};

static void
on_done(void *arg, const struct dkim_result *res, size_t n)
{
	struct outcome *o = arg;

	o->done = true;
	o->calls++;
	o->n = n;
	if (n)
		memcpy(o->res, res, (n < 8 ? n : 8) * sizeof(*res));
}

/* Verifies msg fed in chunks of the given size (0: all at once). */
static void
verify(const struct buf *msg, size_t chunk, const struct dkim_options *opt,
    struct outcome *o)
{
	struct dkim_verify *v = dkim_verify_new(fx.dns, opt);
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	if (chunk == 0)
		chunk = msg->len ? msg->len : 1;
	while (off < msg->len) {
		size_t n = msg->len - off < chunk ? msg->len - off : chunk;

		dkim_verify_feed(v, msg->p + off, n);
		off += n;
	}
	assert_int_equal(dkim_verify_finish(v, on_done, o), 0);
	while (!o->done)
		assert_int_equal(event_base_loop(fx.base, EVLOOP_ONCE), 0);
	assert_int_equal(o->calls, 1);
	dkim_verify_free(v);
}

static void
expect(const struct buf *msg, enum dkim_status st, const char *reason)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 7, 64, 1000 };
	struct outcome o;
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		verify(msg, chunks[i], NULL, &o);
		assert_int_equal(o.n, 1);
		if (o.res[0].status != st)
			fail_msg("chunk %zu: %s (%s), want %s", chunks[i],
			    dkim_status_str(o.res[0].status),
			    o.res[0].reason ? o.res[0].reason : "",
			    dkim_status_str(st));
		if (reason)
			assert_string_equal(o.res[0].reason, reason);
	}
}

#define HDRS                                                            \
	"Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"    \
	"From: Joe <joe@example.com>\r\n"                               \
	"To: Sue <sue@example.org>\r\n"                                 \
	"Subject: Is  dinner\r\n\tready?\r\n"                           \
	"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
#define BODY "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n"
#define TAGS_ED "d=example.com; s=ed; h=from:to:subject:date"

static void
test_pass_all_canons(void **state)
{
	static const char *c[] = { "simple/simple", "simple/relaxed",
		"relaxed/simple", "relaxed/relaxed" };
	struct buf msg = { 0 };
	struct outcome o;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		sign(&msg, fx.ed, HDRS, BODY, c[i], TAGS_ED, -1);
		expect(&msg, DKIM_PASS, NULL);
		sign(&msg, fx.rsa, HDRS, BODY, c[i],
		    "d=example.com; s=rsa; h=from:to", -1);
		expect(&msg, DKIM_PASS, NULL);
	}
	verify(&msg, 0, NULL, &o);
	assert_string_equal(o.res[0].domain, "example.com");
	assert_string_equal(o.res[0].selector, "rsa");
	assert_string_equal(o.res[0].algorithm, "rsa-sha256");
	assert_string_equal(o.res[0].auid, "@example.com");
	assert_int_equal(strlen(o.res[0].b), DKIM_B_PREFIX);
	assert_false(o.res[0].length_limited);
	assert_false(o.res[0].testing);
	buf_free(&msg);
}

/* Replaces the first occurrence of from in msg by to. */
static void
edit(struct buf *msg, const char *from, const char *to)
{
	char *at = strstr(msg->p, from);
	struct buf out = { 0 };

	assert_non_null(at);
	buf_add(&out, msg->p, (size_t)(at - msg->p));
	buf_adds(&out, to);
	buf_adds(&out, at + strlen(from));
	buf_free(msg);
	*msg = out;
}

static void
test_transit_changes(void **state)
{
	struct buf msg = { 0 };

	(void)state;
	/* Relaxed tolerates whitespace and header name case changes. */
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED, -1);
	edit(&msg, "Subject: Is  dinner\r\n\tready?", "SUBJECT:Is dinner "
	    "\r\n  ready?  ");
	edit(&msg, "game.  Are", "game. \t Are");
	edit(&msg, "Joe.\r\n", "Joe.  \r\n\r\n\r\n");
	expect(&msg, DKIM_PASS, NULL);
	/* Not a letter of content, though. */
	edit(&msg, "We lost", "We won");
	expect(&msg, DKIM_FAIL, "body hash mismatch");

	sign(&msg, fx.ed, HDRS, BODY, "simple/simple", TAGS_ED, -1);
	edit(&msg, "Subject: Is  dinner", "Subject: Is dinner");
	expect(&msg, DKIM_FAIL, "signature did not verify");
	sign(&msg, fx.ed, HDRS, BODY, "simple/simple", TAGS_ED, -1);
	edit(&msg, "game.  Are", "game. Are");
	expect(&msg, DKIM_FAIL, "body hash mismatch");
	/* Simple still ignores trailing empty lines. */
	sign(&msg, fx.ed, HDRS, BODY, "simple/simple", TAGS_ED, -1);
	edit(&msg, "Joe.\r\n", "Joe.\r\n\r\n\r\n");
	expect(&msg, DKIM_PASS, NULL);
	/* A field not signed may change; a signed one may not. */
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED, -1);
	edit(&msg, "from a by b", "from c by d");
	expect(&msg, DKIM_PASS, NULL);
	edit(&msg, "To: Sue", "To: Bob");
	expect(&msg, DKIM_FAIL, "signature did not verify");
	buf_free(&msg);
}

static void
test_body_length(void **state)
{
	struct buf msg = { 0 };
	struct outcome o;

	(void)state;
	/* l= covers "Hi.\r\n": content appended later is not signed. */
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED, 5);
	expect(&msg, DKIM_PASS, "body beyond l= not signed");
	verify(&msg, 0, NULL, &o);
	assert_true(o.res[0].length_limited);
	assert_true(o.res[0].body_truncated);
	assert_int_equal(o.res[0].length, 5);
	edit(&msg, "We lost", "Click here, we lost");
	expect(&msg, DKIM_PASS, "body beyond l= not signed");
	edit(&msg, "Hi.", "Ho.");
	expect(&msg, DKIM_FAIL, "body hash mismatch");
	/* l= exactly the body: nothing unsigned. */
	sign(&msg, fx.ed, HDRS, "x\r\n", "simple/simple", TAGS_ED, 3);
	verify(&msg, 1, NULL, &o);
	assert_int_equal(o.res[0].status, DKIM_PASS);
	assert_true(o.res[0].length_limited);
	assert_false(o.res[0].body_truncated);
	/* l= longer than the body that arrived. */
	sign(&msg, fx.ed, HDRS, "x\r\n", "simple/simple", TAGS_ED, 3);
	edit(&msg, "l=3;", "l=4;");
	expect(&msg, DKIM_FAIL, "l= is longer than the body");
	buf_free(&msg);
}

static void
test_times(void **state)
{
	struct dkim_options opt = { .now = 2000000000 };
	struct buf msg = { 0 };
	struct outcome o;

	(void)state;
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED
	    "; t=1700000000; x=1800000000", -1);
	verify(&msg, 0, &opt, &o);
	assert_int_equal(o.res[0].status, DKIM_FAIL);
	assert_string_equal(o.res[0].reason, "signature expired");
	opt.now = 1750000000;
	verify(&msg, 0, &opt, &o);
	assert_int_equal(o.res[0].status, DKIM_PASS);

	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED
	    "; t=1800000000; x=1700000000", -1);
	opt.now = 1600000000;
	verify(&msg, 0, &opt, &o);
	assert_int_equal(o.res[0].status, DKIM_FAIL);
	assert_string_equal(o.res[0].reason, "x= is not after t=");
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED
	    "; t=1700000000; x=1700000000", -1);
	verify(&msg, 0, &opt, &o);
	assert_int_equal(o.res[0].status, DKIM_FAIL);
	buf_free(&msg);
}

static void
test_header_selection(void **state)
{
	struct buf msg = { 0 };

	(void)state;
	/* Oversigned: a second Subject or To added later breaks it. */
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=ed; h=from:from:to:to:subject:subject:cc", -1);
	expect(&msg, DKIM_PASS, NULL);
	edit(&msg, "Date:", "Cc: someone@example.net\r\nDate:");
	expect(&msg, DKIM_FAIL, "signature did not verify");
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=ed; h=from:from:to:to:subject:subject", -1);
	edit(&msg, "Date:", "Subject: Buy now\r\nDate:");
	expect(&msg, DKIM_FAIL, "signature did not verify");

	/* Bottom-up: h=received signs the lower of two Received fields, so
	 * one added on top (as every relay does) changes nothing. */
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=ed; h=from:received", -1);
	edit(&msg, "Received: from a",
	    "Received: from z by y; Tue, 2 Jan 2024 00:00:00 +0000\r\n"
	    "Received: from a");
	expect(&msg, DKIM_PASS, NULL);
	/* A From above the signed one is what a reader would see. */
	edit(&msg, "Received: from z", "From: evil@example.net\r\n"
	    "Received: from z");
	expect(&msg, DKIM_FAIL, "more than one From field");
	buf_free(&msg);
}

static void
test_key_records(void **state)
{
	struct buf msg = { 0 };
	struct outcome o;

	(void)state;
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=edtest; h=from", -1);
	verify(&msg, 0, NULL, &o);
	assert_int_equal(o.res[0].status, DKIM_PASS);
	assert_true(o.res[0].testing);

	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=strict; h=from; i=joe@example.com", -1);
	expect(&msg, DKIM_PASS, NULL);
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=strict; h=from; i=joe@sub.example.com", -1);
	expect(&msg, DKIM_FAIL, "i= is a subdomain and the key has t=s");
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=ed; h=from; i=joe@sub.example.com", -1);
	verify(&msg, 0, NULL, &o);
	assert_int_equal(o.res[0].status, DKIM_PASS);
	assert_string_equal(o.res[0].auid, "joe@sub.example.com");

	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=revoked; h=from", -1);
	expect(&msg, DKIM_FAIL, "key revoked");
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=edasrsa; h=from", -1);
	expect(&msg, DKIM_PERMERROR, "RSA key cannot be decoded");
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=rsa; h=from", -1);
	expect(&msg, DKIM_PERMERROR, "key type does not match a=");
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=none; h=from", -1);
	expect(&msg, DKIM_PERMERROR, "no key record");
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=slow; h=from", -1);
	expect(&msg, DKIM_TEMPERROR, "key lookup failed");
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed",
	    "d=example.com; s=broken; h=from", -1);
	expect(&msg, DKIM_TEMPERROR, "key lookup failed");
	buf_free(&msg);
}

/* Several signatures: one lookup per key name, results top to bottom,
 * at most max_signatures examined. */
static void
test_several(void **state)
{
	struct dkim_options opt = { .max_signatures = 3 };
	struct buf a = { 0 }, b = { 0 };
	unsigned long q0;
	struct outcome o;
	struct dkim_verify *v;

	(void)state;
	sign(&a, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED, -1);
	/* Sign a's output again: the new signature goes on top. */
	{
		char *body = strstr(a.p, "\r\n\r\n") + 4;
		struct buf h = { 0 };

		buf_add(&h, a.p, (size_t)(body - 2 - a.p));
		sign(&b, fx.rsa, h.p, body, "simple/simple",
		    "d=example.com; s=rsa; h=from:dkim-signature", -1);
		buf_free(&h);
	}
	q0 = dns_table_queries(fx.dns);
	verify(&b, 5, NULL, &o);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.res[0].selector, "rsa");
	assert_int_equal(o.res[0].status, DKIM_PASS);
	assert_string_equal(o.res[1].selector, "ed");
	assert_int_equal(o.res[1].status, DKIM_PASS);
	assert_int_equal(dns_table_queries(fx.dns) - q0, 2);

	/* Four copies of one signature: one query, three examined. */
	buf_reset(&b);
	{
		char *body = strstr(a.p, "\r\n\r\n") + 2;
		size_t siglen = (size_t)(strstr(a.p, "\r\nReceived:") + 2 -
		    a.p);
		int i;

		for (i = 0; i < 4; i++)
			buf_add(&b, a.p, siglen);
		buf_add(&b, a.p + siglen, (size_t)(body - a.p) - siglen);
		buf_adds(&b, body);
	}
	q0 = dns_table_queries(fx.dns);
	v = dkim_verify_new(fx.dns, &opt);
	memset(&o, 0, sizeof(o));
	dkim_verify_feed(v, b.p, b.len);
	dkim_verify_finish(v, on_done, &o);
	while (!o.done)
		event_base_loop(fx.base, EVLOOP_ONCE);
	assert_int_equal(o.n, 3);
	assert_int_equal(dkim_verify_skipped(v), 1);
	assert_int_equal(o.res[2].status, DKIM_PASS);
	assert_int_equal(dns_table_queries(fx.dns) - q0, 1);
	dkim_verify_free(v);
	buf_free(&a);
	buf_free(&b);
}

static void
test_cache(void **state)
{
	struct dkim_options opt = { .cache = dkim_keycache_new(16, 3600) };
	struct buf msg = { 0 };
	unsigned long q0;
	struct outcome o;
	struct dkim_verify *v;

	(void)state;
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED, -1);
	q0 = dns_table_queries(fx.dns);
	verify(&msg, 0, &opt, &o);
	assert_int_equal(o.res[0].status, DKIM_PASS);
	verify(&msg, 0, &opt, &o);
	assert_int_equal(o.res[0].status, DKIM_PASS);
	assert_int_equal(dns_table_queries(fx.dns) - q0, 1);
	/* With every key cached the callback runs inside finish. */
	v = dkim_verify_new(fx.dns, &opt);
	memset(&o, 0, sizeof(o));
	dkim_verify_feed(v, msg.p, msg.len);
	dkim_verify_finish(v, on_done, &o);
	assert_true(o.done);
	assert_int_equal(o.res[0].status, DKIM_PASS);
	assert_int_equal(dkim_verify_finish(v, on_done, &o), ERR_BADSTATE);
	assert_int_equal(o.calls, 1);
	dkim_verify_free(v);
	/* The cached key's context is set up once: a bad signature between
	 * good ones fails, and leaves nothing behind for the next. */
	edit(&msg, "To: Sue", "To: Bob");
	verify(&msg, 0, &opt, &o);
	assert_int_equal(o.res[0].status, DKIM_FAIL);
	assert_string_equal(o.res[0].reason, "signature did not verify");
	edit(&msg, "To: Bob", "To: Sue");
	verify(&msg, 0, &opt, &o);
	assert_int_equal(o.res[0].status, DKIM_PASS);
	assert_int_equal(dns_table_queries(fx.dns) - q0, 1);
	dkim_keycache_free(opt.cache);
	buf_free(&msg);
}

static void
test_lifecycle(void **state)
{
	struct buf msg = { 0 };
	struct outcome o;
	struct dkim_verify *v;

	(void)state;
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED, -1);
	/* Freed with a lookup in flight: no callback, nothing leaks. */
	v = dkim_verify_new(fx.dns, NULL);
	memset(&o, 0, sizeof(o));
	dkim_verify_feed(v, msg.p, msg.len);
	dkim_verify_finish(v, on_done, &o);
	assert_false(o.done);
	dkim_verify_free(v);
	event_base_loop(fx.base, EVLOOP_NONBLOCK);
	assert_false(o.done);
	/* Freed before finish, mid-body. */
	v = dkim_verify_new(fx.dns, NULL);
	dkim_verify_feed(v, msg.p, msg.len - 5);
	dkim_verify_free(v);
	dkim_verify_free(NULL);
	/* Unsigned, and empty input: no result, at once. */
	buf_reset(&msg);
	buf_adds(&msg, HDRS "\r\n" BODY);
	verify(&msg, 3, NULL, &o);
	assert_int_equal(o.n, 0);
	buf_reset(&msg);
	verify(&msg, 0, NULL, &o);
	assert_int_equal(o.n, 0);
	/* No header fields at all: everything is body, nothing signed. */
	buf_adds(&msg, "\r\nDKIM-Signature: v=1; a=rsa-sha256\r\n");
	verify(&msg, 1, NULL, &o);
	assert_int_equal(o.n, 0);
	buf_free(&msg);
}

static void
test_odd_shapes(void **state)
{
	struct buf msg = { 0 };

	(void)state;
	/* Empty body, with and without the blank line. */
	sign(&msg, fx.ed, HDRS, "", "relaxed/relaxed", TAGS_ED, -1);
	expect(&msg, DKIM_PASS, NULL);
	msg.len -= 2;
	expect(&msg, DKIM_PASS, NULL);
	sign(&msg, fx.ed, HDRS, "", "simple/simple", TAGS_ED, -1);
	expect(&msg, DKIM_PASS, NULL);
	/* Body of blank lines only; body without a final CRLF. */
	sign(&msg, fx.ed, HDRS, "\r\n\r\n\r\n", "simple/relaxed", TAGS_ED, -1);
	expect(&msg, DKIM_PASS, NULL);
	sign(&msg, fx.ed, HDRS, "no newline", "simple/simple", TAGS_ED, -1);
	expect(&msg, DKIM_PASS, NULL);
	/* 8-bit bytes in header and body. */
	sign(&msg, fx.ed, HDRS "X-8bit: caf\xe9\r\n", "na\xefve\r\n",
	    "relaxed/relaxed", "d=example.com; s=ed; h=from:x-8bit", -1);
	expect(&msg, DKIM_PASS, NULL);
	buf_free(&msg);
}

static void
test_header_overflow(void **state)
{
	struct dkim_options opt = { .max_header = 1024 };
	struct buf msg = { 0 }, big = { 0 };
	struct outcome o;
	struct dkim_verify *v;
	int i;

	(void)state;
	sign(&msg, fx.ed, HDRS, BODY, "relaxed/relaxed", TAGS_ED, -1);
	buf_add(&big, msg.p, (size_t)(strstr(msg.p, "\r\n\r\n") + 2 - msg.p));
	for (i = 0; i < 40; i++)
		buf_adds(&big, "X-Filler: 0123456789012345678901234567890\r\n");
	buf_adds(&big, "\r\n" BODY);
	v = dkim_verify_new(fx.dns, &opt);
	memset(&o, 0, sizeof(o));
	dkim_verify_feed(v, big.p, big.len);
	assert_true(dkim_verify_overflow(v));
	dkim_verify_finish(v, on_done, &o);
	assert_true(o.done);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.res[0].status, DKIM_PERMERROR);
	assert_string_equal(o.res[0].reason, "header section too large");
	dkim_verify_free(v);
	/* The same size without a signature: nothing to report. */
	buf_reset(&big);
	for (i = 0; i < 40; i++)
		buf_adds(&big, "X-Filler: 0123456789012345678901234567890\r\n");
	v = dkim_verify_new(fx.dns, &opt);
	memset(&o, 0, sizeof(o));
	for (i = 0; i < 100; i++)
		dkim_verify_feed(v, big.p, big.len);
	assert_true(dkim_verify_overflow(v));
	dkim_verify_finish(v, on_done, &o);
	assert_int_equal(o.n, 0);
	dkim_verify_free(v);
	buf_free(&big);
	buf_free(&msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass_all_canons),
		cmocka_unit_test(test_transit_changes),
		cmocka_unit_test(test_body_length),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_header_selection),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_several),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_odd_shapes),
		cmocka_unit_test(test_header_overflow),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
