#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "spool/spool_int.h"

/*
 * Builds a queue file from a compact description: one letter per record
 * (I H F R B A E, as in enum spool_rec_type), each with a fixed payload;
 * 'e' is an END whose counts disagree with the records before it.
 */
static void
build(struct buf *b, const char *recs)
{
	uint64_t body = 0;
	uint32_t rcpts = 0;
	const char *r;

	buf_reset(b);
	buf_add(b, SPOOL_MAGIC, SPOOL_MAGIC_LEN);
	for (r = recs; *r; r++) {
		unsigned char end[12];

		switch (*r) {
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
			spool_put32(end, 0);
			spool_put32(end + 4, (uint32_t)body + (*r == 'e'));
			spool_put32(end + 8, rcpts);
			spool_rec_put(b, SPOOL_REC_END, end, sizeof end);
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
	{ "IHFRBE", 0, 1 },
	{ "IHFRE", 0, 1 },          /* empty body */
	{ "IHFRRRBBBAE", 0, 1 },
	{ "IHFRBABE", ERR_SYNTAX, 0 }, /* body after the headers */
	{ "IHFRAAE", ERR_SYNTAX, 0 },
	{ "IHFRBe", ERR_SYNTAX, 0 },   /* END disagrees */
	{ "IHFE", ERR_SYNTAX, 0 },     /* no recipient */
	{ "HIFRBE", ERR_SYNTAX, 0 },   /* out of order */
	{ "IHFRBRE", ERR_SYNTAX, 0 },
	{ "IIHFRBE", ERR_SYNTAX, 0 },
	{ "IHFRXE", ERR_SYNTAX, 0 },   /* unknown type */
	{ "IHFRB", 0, 0 },             /* cut before END */
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
	build(&b, "IHFRRBBAE");
	assert_int_equal(spool_file_scan(b.p, b.len, &info), 0);
	assert_true(info.complete);
	assert_int_equal(info.end_off, b.len);
	assert_int_equal(info.rcpt_count, 2);
	assert_int_equal(info.body_chunks, 2);
	assert_int_equal(info.body_len, 12);
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
	assert_int_equal(spool_file_scan("MXQ2", 4, &info), ERR_SYNTAX);
	memset(helo, 'h', sizeof helo);
	buf_add(&b, SPOOL_MAGIC, SPOOL_MAGIC_LEN);
	spool_rec_put(&b, SPOOL_REC_IP, "::1", 3);
	spool_rec_put(&b, SPOOL_REC_HELO, helo, sizeof helo);
	assert_int_equal(spool_file_scan(b.p, b.len, &info), ERR_SYNTAX);
	buf_free(&b);
}

static void
test_done_index(void **state)
{
	unsigned char d[8];
	size_t idx;

	(void)state;
	spool_put32(d, 3);
	spool_put32(d + 4, ~(uint32_t)3);
	assert_int_equal(spool_done_index(span_make((char *)d, 8), 4, &idx),
	    0);
	assert_int_equal(idx, 3);
	assert_int_equal(spool_done_index(span_make((char *)d, 8), 3, &idx),
	    ERR_SYNTAX);
	assert_int_equal(spool_done_index(span_make((char *)d, 7), 4, &idx),
	    ERR_SYNTAX);
	memset(d + 4, 0, 4); /* a tail of zeros left by a crash */
	assert_int_equal(spool_done_index(span_make((char *)d, 8), 4, &idx),
	    ERR_SYNTAX);
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
