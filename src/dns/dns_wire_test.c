/*
 * Tests for the wire parser: packets built byte by byte, including the
 * hostile ones (pointer loops, short data) a fuzzer would find.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dns/dns_int.h"

struct pkt {
	unsigned char b[4096];
	size_t len;
};

static void
put16(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (unsigned char)(v >> 8);
	p->b[p->len++] = (unsigned char)v;
}

static void
put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

static void
putbytes(struct pkt *p, const void *v, size_t n)
{
	memcpy(p->b + p->len, v, n);
	p->len += n;
}

/* A name in text form, uncompressed; "" is the root. */
static void
putname(struct pkt *p, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		p->b[p->len++] = (unsigned char)l;
		putbytes(p, name, l);
		name += l + (dot ? 1 : 0);
	}
	p->b[p->len++] = 0;
}

static void
putptr(struct pkt *p, size_t off)
{
	put16(p, 0xc000 | (unsigned)off);
}

static void
header(struct pkt *p, unsigned rcode, unsigned an, const char *qname,
    unsigned qtype)
{
	p->len = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode);
	put16(p, 1);
	put16(p, an);
	put32(p, 0);
	putname(p, qname);
	put16(p, qtype);
	put16(p, 1);
}

/* Owner as a pointer to the question name (offset 12), then type..rdlen. */
static void
rrhead(struct pkt *p, size_t owner, unsigned type, size_t rdlen)
{
	putptr(p, owner);
	put16(p, type);
	put16(p, 1);
	put32(p, 300);
	put16(p, (unsigned)rdlen);
}

struct res {
	int rc;
	struct dns_answer a;
	struct dns_rr rr[64];
	unsigned char arena[65536];
};

static struct res R;

static int
parse(const struct pkt *p, enum dns_type qtype)
{
	size_t rr_cap, arena_cap;

	dns_wire_space(p->b, p->len, &rr_cap, &arena_cap);
	assert_true(rr_cap <= 64 && arena_cap <= sizeof(R.arena));
	R.rc = dns_wire_parse(p->b, p->len, qtype, &R.a, R.rr, rr_cap,
	    R.arena, arena_cap);
	return R.rc;
}

static void
test_a_records(void **state)
{
	struct pkt p;

	(void)state;
	header(&p, 0, 2, "Mx.Example.Test", DNS_T_A);
	rrhead(&p, 12, DNS_T_A, 4);
	putbytes(&p, "\xc0\x00\x02\x01", 4);
	rrhead(&p, 12, DNS_T_A, 4);
	putbytes(&p, "\xc0\x00\x02\x02", 4);
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_int_equal(R.a.status, DNS_OK);
	assert_int_equal(R.a.count, 2);
	assert_int_equal(R.a.rr[0].ttl, 300);
	/* RFC 2181 8: a TTL above 2^31 - 1 counts as zero. */
	p.b[p.len - 10] = 0x80;
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_int_equal(R.a.rr[1].ttl, 0);
	assert_int_equal(R.a.rr[1].len, 4);
	assert_memory_equal(R.a.rr[1].data, "\xc0\x00\x02\x02", 4);
	/* An address of the wrong size is a broken packet. */
	header(&p, 0, 1, "mx.example.test", DNS_T_AAAA);
	rrhead(&p, 12, DNS_T_AAAA, 4);
	putbytes(&p, "\xc0\x00\x02\x01", 4);
	assert_int_equal(parse(&p, DNS_T_AAAA), -1);
	assert_int_equal(R.a.status, DNS_TEMPFAIL);
	assert_string_equal(R.a.why, "malformed");
}

static void
test_rcodes(void **state)
{
	struct pkt p;

	(void)state;
	header(&p, 3, 0, "nx.test", DNS_T_A);
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_int_equal(R.a.status, DNS_NXDOMAIN);
	header(&p, 0, 0, "empty.test", DNS_T_A);
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_int_equal(R.a.status, DNS_NODATA);
	header(&p, 2, 0, "sf.test", DNS_T_A);
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_int_equal(R.a.status, DNS_TEMPFAIL);
	assert_string_equal(R.a.why, "servfail");
	header(&p, 5, 0, "ref.test", DNS_T_A);
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_string_equal(R.a.why, "refused");
	/* A SERVFAIL needs no question section to be understood. */
	p.len = 0;
	put16(&p, 0);
	put16(&p, 0x8182);
	put32(&p, 0);
	put32(&p, 0);
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_int_equal(R.a.status, DNS_TEMPFAIL);
	/* The question must be the one asked. */
	header(&p, 0, 0, "q.test", DNS_T_TXT);
	assert_int_equal(parse(&p, DNS_T_A), -1);
}

static void
test_cname_chain(void **state)
{
	struct pkt p;
	size_t a1, a2;

	(void)state;
	/* q.test CNAME a1.test; a1 CNAME a2; a2 A; other.test A (ignored) */
	header(&p, 0, 4, "q.test", DNS_T_A);
	rrhead(&p, 12, DNS_T_CNAME, 5);
	a1 = p.len;
	p.b[p.len++] = 2;
	putbytes(&p, "a1", 2);
	putptr(&p, 14); /* "test" in the question */
	putptr(&p, a1);
	put16(&p, DNS_T_CNAME);
	put16(&p, 1);
	put32(&p, 60);
	put16(&p, 5);
	a2 = p.len;
	p.b[p.len++] = 2;
	putbytes(&p, "A2", 2);
	putptr(&p, 14);
	putname(&p, "other.test");
	put16(&p, DNS_T_A);
	put16(&p, 1);
	put32(&p, 60);
	put16(&p, 4);
	putbytes(&p, "\x0a\x00\x00\x01", 4);
	putptr(&p, a2);
	put16(&p, DNS_T_A);
	put16(&p, 1);
	put32(&p, 60);
	put16(&p, 4);
	putbytes(&p, "\xc0\x00\x02\x09", 4);
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_int_equal(R.a.status, DNS_OK);
	assert_int_equal(R.a.count, 1);
	assert_memory_equal(R.a.rr[0].data, "\xc0\x00\x02\x09", 4);
	/* Asked for the CNAME itself: the first link only. */
	p.b[12 + 8] = 0;
	p.b[12 + 9] = DNS_T_CNAME;
	assert_int_equal(parse(&p, DNS_T_CNAME), 0);
	assert_int_equal(R.a.count, 1);
	assert_string_equal((const char *)R.a.rr[0].data, "a1.test");
}

static void
test_cname_loop(void **state)
{
	struct pkt p;
	size_t b;

	(void)state;
	/* l.test CNAME b.test; b.test CNAME l.test; asked A: no data */
	header(&p, 0, 2, "l.test", DNS_T_A);
	rrhead(&p, 12, DNS_T_CNAME, 4);
	b = p.len;
	p.b[p.len++] = 1;
	p.b[p.len++] = 'b';
	putptr(&p, 14);
	putptr(&p, b);
	put16(&p, DNS_T_CNAME);
	put16(&p, 1);
	put32(&p, 60);
	put16(&p, 2);
	putptr(&p, 12);
	assert_int_equal(parse(&p, DNS_T_A), 0);
	assert_int_equal(R.a.status, DNS_NODATA);
}

static void
test_hostile_names(void **state)
{
	struct pkt p;
	size_t at;

	(void)state;
	/* A pointer to itself. */
	header(&p, 0, 1, "x.test", DNS_T_PTR);
	at = p.len;
	putptr(&p, at);
	put16(&p, DNS_T_PTR);
	put16(&p, 1);
	put32(&p, 1);
	put16(&p, 0);
	assert_int_equal(parse(&p, DNS_T_PTR), -1);
	/* A forward pointer. */
	header(&p, 0, 1, "x.test", DNS_T_PTR);
	putptr(&p, p.len + 2);
	assert_int_equal(parse(&p, DNS_T_PTR), -1);
	/* Two labels pointing at each other through a backwards pointer. */
	header(&p, 0, 1, "x.test", DNS_T_PTR);
	rrhead(&p, 12, DNS_T_PTR, 6);
	at = p.len;
	p.b[p.len++] = 1;
	p.b[p.len++] = 'a';
	putptr(&p, at + 4);
	putptr(&p, at);
	assert_int_equal(parse(&p, DNS_T_PTR), -1);
	/* Label type 0x40 (RFC 6891 extended labels are obsolete). */
	header(&p, 0, 1, "x.test", DNS_T_PTR);
	rrhead(&p, 12, DNS_T_PTR, 2);
	p.b[p.len++] = 0x41;
	p.b[p.len++] = 0;
	assert_int_equal(parse(&p, DNS_T_PTR), -1);
	/* Rdata longer than the packet. */
	header(&p, 0, 1, "x.test", DNS_T_PTR);
	rrhead(&p, 12, DNS_T_PTR, 40);
	putname(&p, "a.test");
	assert_int_equal(parse(&p, DNS_T_PTR), -1);
	/* A name longer than 255 octets, by compression. */
	header(&p, 0, 1, "x.test", DNS_T_PTR);
	rrhead(&p, 12, DNS_T_PTR, 0);
	at = p.len;
	{
		size_t i, start = p.len;

		for (i = 0; i < 5; i++) {
			p.b[p.len++] = 63;
			memset(p.b + p.len, 'a', 63);
			p.len += 63;
		}
		p.b[p.len++] = 0;
		p.b[at - 1] = (unsigned char)(p.len - start);
		p.b[at - 2] = (unsigned char)((p.len - start) >> 8);
	}
	assert_int_equal(parse(&p, DNS_T_PTR), -1);
}

static void
test_ptr_mx_txt(void **state)
{
	struct pkt p;

	(void)state;
	/* Two PTRs; the second has a dot inside a label and is skipped. */
	header(&p, 0, 2, "1.2.0.192.in-addr.arpa", DNS_T_PTR);
	rrhead(&p, 12, DNS_T_PTR, 19);
	putname(&p, "MAIL.example.test");
	rrhead(&p, 12, DNS_T_PTR, 9);
	p.b[p.len++] = 7;
	putbytes(&p, "evil.co", 7);
	p.b[p.len++] = 0;
	assert_int_equal(parse(&p, DNS_T_PTR), 0);
	assert_int_equal(R.a.status, DNS_OK);
	assert_int_equal(R.a.count, 1);
	assert_string_equal((const char *)R.a.rr[0].data, "mail.example.test");
	assert_int_equal(R.a.rr[0].len, 17);

	header(&p, 0, 2, "example.test", DNS_T_MX);
	rrhead(&p, 12, DNS_T_MX, 7);
	put16(&p, 10);
	p.b[p.len++] = 2;
	putbytes(&p, "mx", 2);
	putptr(&p, 12);
	rrhead(&p, 12, DNS_T_MX, 3); /* null MX, RFC 7505 */
	put16(&p, 0);
	p.b[p.len++] = 0;
	assert_int_equal(parse(&p, DNS_T_MX), 0);
	assert_int_equal(R.a.count, 2);
	assert_int_equal(R.a.rr[0].pref, 10);
	assert_string_equal((const char *)R.a.rr[0].data, "mx.example.test");
	assert_int_equal(R.a.rr[1].len, 0);

	header(&p, 0, 1, "example.test", DNS_T_TXT);
	rrhead(&p, 12, DNS_T_TXT, 14);
	putbytes(&p, "\x07v=spf1 \x00\x04-all", 14);
	assert_int_equal(parse(&p, DNS_T_TXT), 0);
	assert_int_equal(R.a.rr[0].len, 11);
	assert_memory_equal(R.a.rr[0].data, "v=spf1 -all", 12);
	/* A character-string running past the rdata. */
	header(&p, 0, 1, "example.test", DNS_T_TXT);
	rrhead(&p, 12, DNS_T_TXT, 3);
	putbytes(&p, "\x05" "ab", 3);
	assert_int_equal(parse(&p, DNS_T_TXT), -1);
}

static void
test_truncated_everywhere(void **state)
{
	struct pkt p;
	size_t full, cut;

	(void)state;
	header(&p, 0, 1, "example.test", DNS_T_MX);
	rrhead(&p, 12, DNS_T_MX, 7);
	put16(&p, 10);
	p.b[p.len++] = 2;
	putbytes(&p, "mx", 2);
	putptr(&p, 12);
	full = p.len;
	assert_int_equal(parse(&p, DNS_T_MX), 0);
	for (cut = 0; cut < full; cut++) {
		p.len = cut;
		assert_int_equal(parse(&p, DNS_T_MX), -1);
		assert_int_equal(R.a.status, DNS_TEMPFAIL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_records),
		cmocka_unit_test(test_rcodes),
		cmocka_unit_test(test_cname_chain),
		cmocka_unit_test(test_cname_loop),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_ptr_mx_txt),
		cmocka_unit_test(test_truncated_everywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
