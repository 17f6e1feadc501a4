/*
 * The DKIM vectors of ../shared/conformance/dkim (its README, section 2),
 * each verified whole and in small chunks through the table resolver fed
 * from the vector's own .zone file. Where the README says "fail" for what
 * dkimpy merely rejects (a key record or signature that cannot be used),
 * the RFC 8601 result is permerror and that is what is asserted; the
 * generated/ set is held to expected.tsv's RFC column exactly.
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

#include "base/buf.h"
#include "dkim/dkim.h"
#include "dns/dns.h"

#define DIR "../shared/conformance/dkim/"

static struct event_base *base;
static unsigned checked;

static void
slurp(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	char tmp[8192];
	size_t n;

	if (f == NULL)
		fail_msg("cannot open %s (run from the repository root, with "
		    "../shared/conformance next to it)", path);
	buf_reset(b);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(b, tmp, n);
	fclose(f);
}

/* dkimpy's files are mostly LF-only: LF becomes CRLF as on the wire. */
static void
crlf(struct buf *b)
{
	struct buf out = { 0 };
	size_t i;

	for (i = 0; i < b->len; i++) {
		if (b->p[i] == '\n' && (i == 0 || b->p[i - 1] != '\r'))
			buf_addc(&out, '\r');
		buf_addc(&out, b->p[i]);
	}
	buf_free(b);
	*b = out;
}

static struct dns *
zone(const char *file)
{
	struct dns *dns = dns_new_table(base);
	struct buf z = { 0 };

	slurp(file, &z);
	assert_int_equal(dns_table_load(dns, z.p, z.len), 0);
	buf_free(&z);
	return dns;
}

struct got {
	bool done;
	size_t n;
	char line[512];
};

static void
on_done(void *arg, const struct dkim_result *res, size_t n)
{
	struct got *g = arg;
	size_t i, len = 0;

	g->done = true;
	g->n = n;
	g->line[0] = '\0';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(g->line + len, sizeof(g->line) - len,
		    "%s%s", i ? " " : "", dkim_status_str(res[i].status));
	if (n == 0)
		snprintf(g->line, sizeof(g->line), "none");
}

/*
 * Verifies msg with dns, whole and in chunks of 1, 13 and 4096 bytes, and
 * checks the space-separated results ("pass fail", or "none").
 */
static void
check(const char *name, const struct buf *msg, struct dns *dns,
    const char *want)
{
	static const size_t chunks[] = { 0, 1, 13, 4096 };
	size_t c;

	for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct dkim_options opt = { .now = 1700000001 };
		struct dkim_verify *v = dkim_verify_new(dns, &opt);
		size_t off = 0, step = chunks[c] ? chunks[c] : msg->len + 1;
		struct got g = { 0 };

		while (off < msg->len) {
			size_t n = msg->len - off < step ? msg->len - off :
			    step;

			dkim_verify_feed(v, msg->p + off, n);
			off += n;
		}
		dkim_verify_finish(v, on_done, &g);
		while (!g.done)
			assert_int_equal(event_base_loop(base, EVLOOP_ONCE),
			    0);
		dkim_verify_free(v);
		if (strcmp(g.line, want) != 0)
			fail_msg("%s (chunk %zu): got \"%s\", want \"%s\"",
			    name, chunks[c], g.line, want);
	}
	checked++;
}

static void
check_file(const char *file, const char *zonefile, const char *want)
{
	struct dns *dns = zone(zonefile);
	struct buf msg = { 0 };

	slurp(file, &msg);
	crlf(&msg);
	check(file, &msg, dns, want);
	buf_free(&msg);
	dns_free(dns);
}

/* generated/: every row of expected.tsv, RFC column. */
static void
test_generated(void **state)
{
	struct buf tsv = { 0 };
	char *line, *next;
	unsigned rows = 0;

	(void)state;
	slurp(DIR "generated/expected.tsv", &tsv);
	for (line = tsv.p; line && *line; line = next) {
		char file[256], want[32], path[512];

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == '#' || sscanf(line, "%255[^\t]\t%31[^\t]", file,
		    want) != 2)
			continue;
		snprintf(path, sizeof(path), DIR "generated/%s", file);
		check_file(path, DIR "generated/keys.zone", want);
		rows++;
	}
	assert_int_equal(rows, 17);
	buf_free(&tsv);
}

static void
test_rfc(void **state)
{
	(void)state;
	/* RFC 8463 A.3: ed25519 then rsa, relaxed, oversigned. */
	check_file(DIR "rfc8463/signed.eml", DIR "rfc8463/keys.zone",
	    "pass pass");
	/* RFC 6376 A: the printed example fails on its body hash; the
	 * corrected copy passes (README 2.2). */
	check_file(DIR "rfc6376/signed.eml", DIR "rfc6376/keys.zone", "fail");
	check_file(DIR "rfc6376/verified.eml", DIR "rfc6376/keys.zone",
	    "fail");
	check_file(DIR "rfc6376/signed-corrected.eml", DIR "rfc6376/keys.zone",
	    "pass");
	check_file(DIR "rfc6376/unsigned.eml", DIR "rfc6376/keys.zone",
	    "none");
}

static void
test_dkimpy_messages(void **state)
{
	static const struct {
		const char *file, *want;
	} c[] = {
		{ "rfc6376.signed.msg", "pass pass" },
		{ "rfc6376.signed.rsa.msg", "pass" },
		{ "ed25519test2.msg", "pass" },
		{ "test2.message", "pass" },
		/* A real message whose key is not in the zone. */
		{ "message.mbox", "permerror" },
		{ "rfc6376.msg", "none" },
		{ "test.message", "none" },
		{ "test_extra.message", "none" },
		{ "ed25519test.msg", "none" },
		{ "test_nofrom.message", "none" },
		{ "rfc6376.w1258.msg", "none" },
	};
	char path[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		snprintf(path, sizeof(path), DIR "dkimpy/%s", c[i].file);
		check_file(path, DIR "dkimpy.zone", c[i].want);
	}
}

/* d=legitimate.com(.attacker.com is refused before any DNS query. */
static void
test_baddomain(void **state)
{
	struct dns *dns = zone(DIR "dkimpy.zone");
	struct buf msg = { 0 };

	(void)state;
	slurp(DIR "dkimpy/test.message.baddomain", &msg);
	crlf(&msg);
	check("test.message.baddomain", &msg, dns, "permerror");
	assert_int_equal(dns_table_queries(dns), 0);
	buf_free(&msg);
	dns_free(dns);
}

/* rfc6376.signed.rsa.msg against each of dkimpy's key records. */
static void
test_dkimpy_key_records(void **state)
{
	static const struct {
		const char *file, *want;
	} c[] = {
		{ "test.txt", "pass" },
		{ "test2.txt", "pass" },        /* no k=: rsa */
		{ "test_bad.txt", "permerror" }, /* p= does not decode */
		{ "badversion.txt", "permerror" },
		{ "badk.txt", "permerror" },
		{ "test_tlsrpt.txt", "permerror" },
	};
	struct buf msg = { 0 }, rec = { 0 };
	char path[256];
	size_t i;

	(void)state;
	slurp(DIR "dkimpy/rfc6376.signed.rsa.msg", &msg);
	crlf(&msg);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct dns *dns = dns_new_table(base);

		snprintf(path, sizeof(path), DIR "dkimpy/%s", c[i].file);
		slurp(path, &rec);
		while (rec.len && (rec.p[rec.len - 1] == '\n' ||
		    rec.p[rec.len - 1] == '\r'))
			rec.len--;
		dns_table_add(dns, "test._domainkey.football.example.com",
		    DNS_T_TXT, rec.p, rec.len);
		check(path, &msg, dns, c[i].want);
		dns_free(dns);
	}
	buf_free(&rec);
	buf_free(&msg);
}

static void
test_count(void **state)
{
	(void)state;
	/* 17 generated + 5 RFC + 11 dkimpy + 1 + 6 key records. */
	assert_int_equal(checked, 40);
	printf("dkim conformance: %u vectors, each whole and in 3 chunk "
	    "sizes\n", checked);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_rfc),
		cmocka_unit_test(test_dkimpy_messages),
		cmocka_unit_test(test_baddomain),
		cmocka_unit_test(test_dkimpy_key_records),
		cmocka_unit_test(test_count),
	};
	int rc;

	base = event_base_new();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	event_base_free(base);
	return rc;
}
