#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "spool/spool_int.h"

#define NONCE 0x0123456789abcdefULL

/*
 * Builds a queued slot from a compact description: one letter per record
 * (Q I H F R B A E, as in enum spool_rec_type), each with a fixed payload;
 * 'e' is an END whose counts disagree with the records before it, 'c' one
 * whose CRC does not match.
 */
static void
build(struct buf *b, const char *recs)
{
	uint64_t body = 0;
	uint32_t rcpts = 0;
	const char *r;

	buf_reset(b);
	buf_add(b, SPOOL_MAGIC_QUEUED, SPOOL_MAGIC_LEN);
	for (r = recs; *r; r++) {
		unsigned char end[SPOOL_END_LEN];

		switch (*r) {
		case 'Q':
			spool_rec_put(b, SPOOL_REC_ID, "0123", 4);
			break;
		case 'I':
			spool_rec_put(b, SPOOL_REC_IP, "2001:db8:2::1", 13);
			break;
		case 'H':
			spool_rec_put(b, SPOOL_REC_HELO, "h.example", 9);
			break;
		case 'F':
			spool_rec_put(b, SPOOL_REC_FROM, "a@b.example", 11);
			break;
		case 'R':
			spool_rec_put(b, SPOOL_REC_RCPT, "c@d.example", 11);
			rcpts++;
			break;
		case 'B':
			spool_rec_put(b, SPOOL_REC_BODY, "body\r\n", 6);
			body += 6;
			break;
		case 'A':
			spool_rec_put(b, SPOOL_REC_HEADERS, "X: y\r\n", 6);
			break;
		case 'E':
		case 'e':
		case 'c':
			spool_put64(end, body + (*r == 'e'));
			spool_put32(end + 8, rcpts);
			spool_put64(end + 12, NONCE);
			spool_rec_header(b, SPOOL_REC_END, sizeof end);
			buf_add(b, end, sizeof end - 4);
			spool_put32(end + 20, spool_crc(0, b->p + SPOOL_MAGIC_LEN,
			    b->len - SPOOL_MAGIC_LEN) + (*r == 'c'));
			buf_add(b, end + 20, 4);
			break;
		case 'X':
			spool_rec_put(b, (enum spool_rec_type)'X', "", 0);
			break;
		}
	}
}

static const struct {
	const char *recs;
	int rc;
	int complete;
} cases[] = {
	{ "QIHFRBE", 0, 1 },
	{ "QIHFRE", 0, 1 },          /* empty body */
	{ "QIHFRRRBBBAE", 0, 1 },
	{ "QIHFRBc", 0, 0 },           /* damaged: CRC does not match */
	{ "IHFRBE", ERR_SYNTAX, 0 },   /* no id */
	{ "QIHFRBABE", ERR_SYNTAX, 0 }, /* body after the headers */
	{ "QIHFRAAE", ERR_SYNTAX, 0 },
	{ "QIHFRBe", ERR_SYNTAX, 0 },   /* END disagrees */
	{ "QIHFE", ERR_SYNTAX, 0 },     /* no recipient */
	{ "QHIFRBE", ERR_SYNTAX, 0 },   /* out of order */
	{ "QIHFRBRE", ERR_SYNTAX, 0 },
	{ "QIIHFRBE", ERR_SYNTAX, 0 },
	{ "QQIHFRBE", ERR_SYNTAX, 0 },
	{ "QIHFRXE", ERR_SYNTAX, 0 },   /* unknown type */
	{ "QIHFRB", 0, 0 },             /* cut before END */
	{ "", 0, 0 },
};

static void
test_scan_table(void **state)
{
	struct spool_file_info info;
	struct buf b = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		build(&b, cases[i].recs);
		assert_int_equal(spool_file_scan(b.p, b.len, &info),
		    cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(info.complete, cases[i].complete);
		assert_int_equal(info.damaged, strchr(cases[i].recs, 'c') !=
		    NULL);
	}
	buf_free(&b);
}

/* Every strict prefix of a good file reads as incomplete, never complete. */
static void
test_every_prefix_incomplete(void **state)
{
	struct spool_file_info info;
	struct buf b = { 0 };
	size_t n;

	(void)state;
	build(&b, "QIHFRRBBAE");
	assert_int_equal(spool_file_scan(b.p, b.len, &info), 0);
	assert_true(info.complete);
	assert_int_equal(info.end_off, b.len);
	assert_int_equal(info.rcpt_count, 2);
	assert_int_equal(info.body_chunks, 2);
	assert_int_equal(info.body_len, 12);
	assert_true(info.nonce == NONCE);
	assert_true(span_eq(info.id, span_cstr("0123")));
	for (n = 0; n < b.len; n++) {
		int rc = spool_file_scan(b.p, n, &info);

		if (n < SPOOL_MAGIC_LEN)
			assert_int_equal(rc, ERR_SYNTAX);
		else
			assert_true(rc == 0 && !info.complete);
	}
	buf_free(&b);
}

static void
test_magic_and_limits(void **state)
{
	struct spool_file_info info;
	struct buf b = { 0 };
	char helo[SPOOL_HELO_MAX + 1];

	(void)state;
	assert_int_equal(spool_file_scan("MXQ1", 4, &info), ERR_SYNTAX);
	assert_int_equal(spool_file_scan(SPOOL_MAGIC_FREE, 4, &info),
	    ERR_SYNTAX);
	build(&b, "QIHFRBE");
	memcpy(b.p, SPOOL_MAGIC_WRITING, SPOOL_MAGIC_LEN);
	assert_int_equal(spool_file_scan(b.p, b.len, &info), ERR_SYNTAX);
	memset(helo, 'h', sizeof helo);
	buf_reset(&b);
	buf_add(&b, SPOOL_MAGIC_QUEUED, SPOOL_MAGIC_LEN);
	spool_rec_put(&b, SPOOL_REC_ID, "0123", 4);
	spool_rec_put(&b, SPOOL_REC_IP, "::1", 3);
	spool_rec_put(&b, SPOOL_REC_HELO, helo, sizeof helo);
	assert_int_equal(spool_file_scan(b.p, b.len, &info), ERR_SYNTAX);
	buf_free(&b);
}

static void
test_done_index(void **state)
{
	struct buf b = { 0 };
	struct span d;
	size_t idx;

	(void)state;
	spool_done_put(&b, 3, NONCE);
	assert_int_equal(b.len, SPOOL_REC_HDR + SPOOL_DONE_LEN);
	assert_int_equal(b.p[0], SPOOL_REC_DONE);
	d = span_make(b.p + SPOOL_REC_HDR, SPOOL_DONE_LEN);
	assert_int_equal(spool_done_index(d, 4, NONCE, &idx), 0);
	assert_int_equal(idx, 3);
	assert_int_equal(spool_done_index(d, 3, NONCE, &idx), ERR_SYNTAX);
	/* Left in the slot by an earlier message. */
	assert_int_equal(spool_done_index(d, 4, NONCE + 1, &idx),
	    ERR_SYNTAX);
	d.len--;
	assert_int_equal(spool_done_index(d, 4, NONCE, &idx), ERR_SYNTAX);
	d.len++;
	memset(b.p + SPOOL_REC_HDR + 4, 0, 4); /* zeros left by a crash */
	assert_int_equal(spool_done_index(d, 4, NONCE, &idx), ERR_SYNTAX);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_table),
		cmocka_unit_test(test_every_prefix_incomplete),
		cmocka_unit_test(test_magic_and_limits),
		cmocka_unit_test(test_done_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
