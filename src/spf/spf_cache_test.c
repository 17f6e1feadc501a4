/* The record cache: TTL, LRU eviction, byte budget, references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "spf/spf_int.h"

static struct dns_answer
txt(const char *text, uint32_t ttl, struct dns_rr *rr)
{
	rr->type = DNS_T_TXT;
	rr->ttl = ttl;
	rr->len = strlen(text);
	rr->data = (const unsigned char *)text;
	return (struct dns_answer){ .status = DNS_OK, .count = 1, .rr = rr };
}

static void
test_kinds(void **state)
{
	struct spf_cache *c = spf_cache_new(10);
	struct dns_rr rr[2];
	struct dns_answer a;
	struct spf_entry *e;

	(void)state;
	a = txt("v=spf1 ip4:192.0.2.0/24 -all", 300, rr);
	e = spf_cache_put(c, DNS_T_TXT, "a.example", &a, 1000);
	assert_int_equal(e->kind, SPF_E_RECORD);
	assert_int_equal(e->rec.n, 2);
	spf_entry_unref(e);
	a = txt("some other text", 300, rr);
	e = spf_cache_put(c, DNS_T_TXT, "b.example", &a, 1000);
	assert_int_equal(e->kind, SPF_E_NONE);
	spf_entry_unref(e);
	a = txt("v=spf1 a:", 300, rr);
	e = spf_cache_put(c, DNS_T_TXT, "c.example", &a, 1000);
	assert_int_equal(e->kind, SPF_E_ERROR);
	spf_entry_unref(e);
	/* two SPF records among other TXT: permerror (RFC 7208 4.5) */
	a = txt("v=spf1 -all", 300, rr);
	rr[1] = rr[0];
	a.count = 2;
	e = spf_cache_put(c, DNS_T_TXT, "d.example", &a, 1000);
	assert_int_equal(e->kind, SPF_E_ERROR);
	spf_entry_unref(e);
	/* the same name, another type, is another entry */
	rr[0] = (struct dns_rr){ DNS_T_A, 60, 0, 4,
	    (const unsigned char *)"\xc0\x00\x02\x01" };
	a.count = 1;
	spf_entry_unref(spf_cache_put(c, DNS_T_A, "a.example", &a, 1000));
	e = spf_cache_get(c, DNS_T_A, "a.example", 1000);
	assert_non_null(e);
	assert_int_equal(e->kind, SPF_E_ANSWER);
	assert_memory_equal(e->answer.rr[0].data, "\xc0\x00\x02\x01", 4);
	spf_entry_unref(e);
	e = spf_cache_get(c, DNS_T_TXT, "a.example", 1000);
	assert_int_equal(e->kind, SPF_E_RECORD);
	spf_entry_unref(e);
	/* expiry: the A answer had 60 s */
	assert_null(spf_cache_get(c, DNS_T_A, "a.example", 1060));
	assert_non_null(e = spf_cache_get(c, DNS_T_TXT, "a.example", 1060));
	spf_entry_unref(e);
	spf_cache_free(c);
}

static void
test_bounds(void **state)
{
	struct spf_cache *c = spf_cache_new(2);
	unsigned long hits, misses, entries;
	struct dns_rr rr;
	struct dns_answer a = txt("v=spf1 -all", 300, &rr);
	struct spf_entry *held;
	char *big;

	(void)state;
	held = spf_cache_put(c, DNS_T_TXT, "1.example", &a, 0);
	spf_entry_unref(spf_cache_put(c, DNS_T_TXT, "2.example", &a, 0));
	spf_entry_unref(spf_cache_get(c, DNS_T_TXT, "1.example", 0));
	/* 3 evicts the least recently used, 2; 1 was just used */
	spf_entry_unref(spf_cache_put(c, DNS_T_TXT, "3.example", &a, 0));
	assert_null(spf_cache_get(c, DNS_T_TXT, "2.example", 0));
	spf_entry_unref(spf_cache_get(c, DNS_T_TXT, "1.example", 0));
	/* 4 evicts 3; then 5 evicts 1, still held by us: it stays valid */
	spf_entry_unref(spf_cache_put(c, DNS_T_TXT, "4.example", &a, 0));
	spf_entry_unref(spf_cache_put(c, DNS_T_TXT, "5.example", &a, 0));
	assert_null(spf_cache_get(c, DNS_T_TXT, "1.example", 0));
	assert_int_equal(held->kind, SPF_E_RECORD);
	assert_string_equal(held->text, "v=spf1 -all");
	spf_entry_unref(held);
	spf_cache_counts(c, &hits, &misses, &entries);
	assert_int_equal(entries, 2);
	assert_int_equal(hits, 2);
	assert_int_equal(misses, 2);
	/* a record too large for the byte budget is used, not kept */
	big = malloc(4000);
	memset(big, 'a', 3999);
	memcpy(big, "v=spf1 ", 7);
	big[3999] = '\0';
	a = txt(big, 300, &rr);
	held = spf_cache_put(c, DNS_T_TXT, "big.example", &a, 0);
	assert_false(held->cached);
	spf_entry_unref(held);
	assert_null(spf_cache_get(c, DNS_T_TXT, "big.example", 0));
	free(big);
	spf_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
