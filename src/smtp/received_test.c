/* The Received: field: protocol names, address literals, TLS, "for". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "conf/conf.h"
#include "smtp/smtp_int.h"

static struct config conf = { .hostname = "mx.example.test" };
static struct smtp_server srv = { .conf = &conf };

static void
match(const struct buf *b, const char *re)
{
	regex_t rx;
	int r;

	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	r = regexec(&rx, b->p, 0, NULL, 0);
	regfree(&rx);
	if (r != 0)
		fail_msg("no match for /%s/ in:\n%s", re, b->p);
}

static void
test_plain_ipv4_one_rcpt(void **state)
{
	struct smtp_session s = { .srv = &srv, .esmtp = true };
	char rcpt[] = "bob@example.test";
	struct buf b = { 0 };

	(void)state;
	snprintf(s.helo, sizeof s.helo, "client.test");
	snprintf(s.ip, sizeof s.ip, "192.0.2.7");
	s.txn.rcpts[0] = rcpt;
	s.txn.rcpt_count = 1;
	smtp_received(&b, &s, "Q1");
	match(&b, "^Received: from client\\.test "
	    "\\(\\[192\\.0\\.2\\.7\\]\\)\r\n"
	    "\tby mx\\.example\\.test \\(mxgate\\) with ESMTP id Q1\r\n"
	    "\tfor <bob@example\\.test>; [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} "
	    "[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000\r\n$");
	buf_free(&b);
}

static void
test_tls_ipv6_utf8_many_rcpts(void **state)
{
	struct smtp_session s = { .srv = &srv, .esmtp = true, .tls = true };
	struct buf b = { 0 };

	(void)state;
	snprintf(s.helo, sizeof s.helo, "[IPv6:2001:db8::1]");
	snprintf(s.ip, sizeof s.ip, "2001:db8:1::2");
	snprintf(s.tls_version, sizeof s.tls_version, "TLSv1.3");
	snprintf(s.tls_cipher, sizeof s.tls_cipher, "TLS_AES_128_GCM_SHA256");
	s.txn.params.smtputf8 = true;
	s.txn.rcpt_count = 2; /* more than one: nobody is named */
	smtp_received(&b, &s, "Q2");
	match(&b, "^Received: from \\[IPv6:2001:db8::1\\] "
	    "\\(\\[IPv6:2001:db8:1::2\\]\\)\r\n"
	    "\tby mx\\.example\\.test \\(mxgate\\) with UTF8SMTPS id Q2\r\n"
	    "\t\\(version=TLSv1\\.3 cipher=TLS_AES_128_GCM_SHA256\\); "
	    "[^\r\n]+\r\n$");
	buf_free(&b);
}

static void
test_helo_is_smtp(void **state)
{
	struct smtp_session s = { .srv = &srv };
	struct buf b = { 0 };

	(void)state;
	snprintf(s.helo, sizeof s.helo, "old.test");
	snprintf(s.ip, sizeof s.ip, "::1");
	smtp_received(&b, &s, "Q3");
	match(&b, "with SMTP id Q3; ");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_ipv4_one_rcpt),
		cmocka_unit_test(test_tls_ipv6_utf8_many_rcpts),
		cmocka_unit_test(test_helo_is_smtp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
