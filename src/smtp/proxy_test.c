/* PROXY v1 and v2 header parser tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "base/err.h"
#include "smtp/smtp_int.h"

static int
parse(const char *p, size_t len, struct sockaddr_storage *ss, size_t *used)
{
	socklen_t sl = 0;

	*used = 0;
	return smtp_proxy_parse(p, len, ss, &sl, used);
}

static void
test_v1(void **state)
{
	static const char h4[] = "PROXY TCP4 192.0.2.7 198.51.100.1 5555 25\r\n"
	    "EHLO x\r\n";
	static const char h6[] =
	    "PROXY TCP6 2001:db8:1::7 2001:db8::1 1 25\r\n";
	struct sockaddr_storage ss;
	char txt[INET6_ADDRSTRLEN];
	size_t used, i;

	(void)state;
	assert_int_equal(parse(h4, sizeof h4 - 1, &ss, &used), 0);
	assert_int_equal(used, sizeof h4 - 1 - 8);
	assert_int_equal(ss.ss_family, AF_INET);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, txt,
	    sizeof txt);
	assert_string_equal(txt, "192.0.2.7");
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5555);

	assert_int_equal(parse(h6, sizeof h6 - 1, &ss, &used), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, txt,
	    sizeof txt);
	assert_string_equal(txt, "2001:db8:1::7");

	/* Every prefix of a good header asks for more. */
	for (i = 0; i < sizeof h6 - 1; i++)
		assert_int_equal(parse(h6, i, &ss, &used), SMTP_PROXY_MORE);

	assert_int_equal(parse("PROXY UNKNOWN\r\n", 15, &ss, &used), 0);
	assert_int_equal(ss.ss_family, AF_UNSPEC);
	assert_int_equal(used, 15);
	assert_int_equal(parse("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", 31, &ss,
	    &used), 0);
	assert_int_equal(ss.ss_family, AF_UNSPEC);
}

static void
test_v1_bad(void **state)
{
	static const char *const bad[] = {
		"EHLO x\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 5555 25\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 5555\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 5555 25 x\r\n",
		"PROXY TCP4 192.0.2.7  198.51.100.1 5555 25\r\n",
		"PROXY TCP4 2001:db8::1 198.51.100.1 5555 25\r\n",
		"PROXY TCP6 192.0.2.7 2001:db8::1 5555 25\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 65536 25\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 0555 25\r\n",
		"PROXY UDP4 192.0.2.7 198.51.100.1 5555 25\r\n",
		"PROXY \r\n",
		"proxy TCP4 192.0.2.7 198.51.100.1 5555 25\r\n",
	};
	char longline[200];
	struct sockaddr_storage ss;
	size_t used, i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (parse(bad[i], strlen(bad[i]), &ss, &used) != ERR_SYNTAX)
			fail_msg("case %zu accepted", i);
	/* No line end within the 107 octets the spec allows. */
	memset(longline, 'x', sizeof longline);
	memcpy(longline, "PROXY TCP4 ", 11);
	assert_int_equal(parse(longline, 106, &ss, &used), SMTP_PROXY_MORE);
	assert_int_equal(parse(longline, 107, &ss, &used), ERR_SYNTAX);
}

static size_t
v2(unsigned char *out, unsigned char ver_cmd, unsigned char fam,
    const unsigned char *body, size_t blen)
{
	static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00,
		0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (unsigned char)(blen >> 8);
	out[15] = (unsigned char)blen;
	if (blen)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

static void
test_v2(void **state)
{
	unsigned char b4[12] = { 192, 0, 2, 9, 198, 51, 100, 1, 0x15, 0xb3,
		0, 25 };
	unsigned char b6[36 + 7] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1 };
	unsigned char h[128];
	struct sockaddr_storage ss;
	size_t n, used, i;

	(void)state;
	n = v2(h, 0x21, 0x11, b4, sizeof b4);
	assert_int_equal(parse((char *)h, n, &ss, &used), 0);
	assert_int_equal(used, n);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr),
	    0xc0000209);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5555);
	for (i = 0; i < n; i++)
		assert_int_equal(parse((char *)h, i, &ss, &used),
		    SMTP_PROXY_MORE);

	/* IPv6 with a TLV after the addresses (skipped). */
	b6[15] = 7;
	b6[36] = 0x04;
	b6[38] = 4;
	n = v2(h, 0x21, 0x21, b6, sizeof b6);
	assert_int_equal(parse((char *)h, n, &ss, &used), 0);
	assert_int_equal(used, n);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr[15],
	    7);

	n = v2(h, 0x20, 0x00, NULL, 0); /* LOCAL */
	assert_int_equal(parse((char *)h, n, &ss, &used), 0);
	assert_int_equal(ss.ss_family, AF_UNSPEC);

	n = v2(h, 0x11, 0x11, b4, sizeof b4); /* version 1 in a v2 header */
	assert_int_equal(parse((char *)h, n, &ss, &used), ERR_SYNTAX);
	n = v2(h, 0x22, 0x11, b4, sizeof b4); /* unknown command */
	assert_int_equal(parse((char *)h, n, &ss, &used), ERR_SYNTAX);
	n = v2(h, 0x21, 0x12, b4, sizeof b4); /* UDP */
	assert_int_equal(parse((char *)h, n, &ss, &used), ERR_SYNTAX);
	n = v2(h, 0x21, 0x21, b4, sizeof b4); /* too short for IPv6 */
	assert_int_equal(parse((char *)h, n, &ss, &used), ERR_SYNTAX);
	n = v2(h, 0x21, 0x11, b4, 0);
	h[14] = 0xff; /* longer than we accept */
	assert_int_equal(parse((char *)h, n, &ss, &used), ERR_SYNTAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_v1_bad),
		cmocka_unit_test(test_v2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
