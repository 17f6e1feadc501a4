/* Connection limits: per IPv4 address, per IPv6 /64, per IPv6 /48. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "smtp/smtp_int.h"

static struct sockaddr *
v6(struct sockaddr_in6 *s, const char *ip)
{
	*s = (struct sockaddr_in6){ .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, ip, &s->sin6_addr);
	return (struct sockaddr *)s;
}

static struct sockaddr *
v4(struct sockaddr_in *s, const char *ip)
{
	*s = (struct sockaddr_in){ .sin_family = AF_INET };
	inet_pton(AF_INET, ip, &s->sin_addr);
	return (struct sockaddr *)s;
}

static void
test_v4(void **state)
{
	struct smtp_limits *l = smtp_limits_new(2);
	struct sockaddr_in a, b;

	(void)state;
	assert_true(smtp_limits_acquire(l, v4(&a, "192.0.2.1")));
	assert_true(smtp_limits_acquire(l, v4(&a, "192.0.2.1")));
	assert_false(smtp_limits_acquire(l, v4(&a, "192.0.2.1")));
	/* The neighbour is another client. */
	assert_true(smtp_limits_acquire(l, v4(&b, "192.0.2.2")));
	smtp_limits_release(l, v4(&a, "192.0.2.1"));
	assert_true(smtp_limits_acquire(l, v4(&a, "192.0.2.1")));
	smtp_limits_release(l, v4(&a, "192.0.2.1"));
	smtp_limits_release(l, v4(&a, "192.0.2.1"));
	smtp_limits_release(l, v4(&b, "192.0.2.2"));
	smtp_limits_free(l);
}

static void
test_v6(void **state)
{
	struct smtp_limits *l = smtp_limits_new(2);
	struct sockaddr_in6 a;
	char ip[64];
	unsigned i, ok = 0;

	(void)state;
	/* Two addresses of one /64 share its slots. */
	assert_true(smtp_limits_acquire(l, v6(&a, "2001:db8:1:1::1")));
	assert_true(smtp_limits_acquire(l, v6(&a, "2001:db8:1:1::2")));
	assert_false(smtp_limits_acquire(l, v6(&a, "2001:db8:1:1:ffff::9")));
	/* Other /64s of the /48 fill it up to 2 * SMTP_LIMIT_48_FACTOR. */
	for (i = 2; i < 40; i++) {
		snprintf(ip, sizeof ip, "2001:db8:1:%x::1", i);
		ok += smtp_limits_acquire(l, v6(&a, ip));
	}
	assert_int_equal(ok, 2 * SMTP_LIMIT_48_FACTOR - 2);
	/* Another /48 is not affected. */
	assert_true(smtp_limits_acquire(l, v6(&a, "2001:db8:2::1")));
	smtp_limits_release(l, v6(&a, "2001:db8:1:1::1"));
	assert_true(smtp_limits_acquire(l, v6(&a, "2001:db8:1:1::3")));
	/* Leftover entries are freed here (ASan checks for leaks). */
	smtp_limits_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4),
		cmocka_unit_test(test_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
