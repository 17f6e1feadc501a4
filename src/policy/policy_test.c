#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "policy/policy.h"

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof ss);
	if (strchr(text, ':')) {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return ss;
}

static struct conf_domain opted_in = { "example.test", true, NULL };
static struct conf_domain not_opted = { "contoso.com", false, NULL };

static const struct {
	const char *ip;
	bool trusted;
	const struct conf_domain *dom;
	const char *domain;
	enum policy_ptr ptr;
	int code;
	const char *enhanced;
	const char *text;
} rcpt_cases[] = {
	{ "2001:db8::1", false, NULL, "other.test", POLICY_PTR_VALID, 550,
	    "5.7.1", "Relay access denied" },
	{ "192.0.2.1", false, NULL, "other.test", POLICY_PTR_VALID, 550,
	    "5.7.1", "Relay access denied" },
	{ "2a01:111:f200:2004:0:0:0:240", false, &not_opted, "contoso.com",
	    POLICY_PTR_VALID, 550, "5.2.1",
	    "Service unavailable, [contoso.com] does not accept email over "
	    "IPv6." },
	{ "192.0.2.1", false, &not_opted, "contoso.com", POLICY_PTR_MISSING,
	    250, "2.1.5", "Ok" },
	{ "::ffff:192.0.2.1", false, &not_opted, "contoso.com",
	    POLICY_PTR_MISSING, 250, "2.1.5", "Ok" },
	{ "2001:db8:100::1", true, &not_opted, "contoso.com",
	    POLICY_PTR_MISSING, 250, "2.1.5", "Ok" },
	{ "2A01:111:F200:2004::240", false, &opted_in, "example.test",
	    POLICY_PTR_MISSING, 450, "4.7.25",
	    "Service unavailable, sending IPv6 address "
	    "[2a01:111:f200:2004::240] must have reverse DNS record." },
	{ "2001:db8::1", false, &opted_in, "example.test",
	    POLICY_PTR_TEMPFAIL, 450, "4.4.3",
	    "Temporary DNS failure looking up reverse DNS of [2001:db8::1], "
	    "try again later" },
	{ "2001:db8::1", false, &opted_in, "example.test", POLICY_PTR_VALID,
	    250, "2.1.5", "Ok" },
};

static void
test_rcpt_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof rcpt_cases / sizeof rcpt_cases[0]; i++) {
		struct sockaddr_storage ss = addr(rcpt_cases[i].ip);
		struct policy_client c;
		struct policy_reply r;

		policy_client_init(&c, (struct sockaddr *)&ss,
		    rcpt_cases[i].trusted);
		policy_rcpt(&c, rcpt_cases[i].dom, rcpt_cases[i].domain,
		    rcpt_cases[i].ptr, &r);
		assert_int_equal(r.code, rcpt_cases[i].code);
		assert_string_equal(r.enhanced, rcpt_cases[i].enhanced);
		assert_string_equal(r.text, rcpt_cases[i].text);
	}
}

static void
test_needs_ptr_only_for_opted_in_anonymous_ipv6(void **state)
{
	struct sockaddr_storage v6 = addr("2001:db8::7");
	struct sockaddr_storage v4 = addr("198.51.100.7");
	struct policy_client c6, c4, trusted;

	(void)state;
	policy_client_init(&c6, (struct sockaddr *)&v6, false);
	policy_client_init(&c4, (struct sockaddr *)&v4, false);
	policy_client_init(&trusted, (struct sockaddr *)&v6, true);
	assert_true(policy_rcpt_needs_ptr(&c6, &opted_in));
	assert_false(policy_rcpt_needs_ptr(&c6, &not_opted));
	assert_false(policy_rcpt_needs_ptr(&c6, NULL));
	assert_false(policy_rcpt_needs_ptr(&c4, &opted_in));
	assert_false(policy_rcpt_needs_ptr(&trusted, &opted_in));
}

static const struct {
	const char *ip;
	struct policy_auth auth;
	int code;
	const char *enhanced;
} data_cases[] = {
	{ "2001:db8::1", { true, false, false, false }, 250, "2.0.0" },
	{ "2001:db8::1", { false, false, true, false }, 250, "2.0.0" },
	{ "2001:db8::1", { false, true, true, false }, 250, "2.0.0" },
	{ "2001:db8::1", { false, false, false, false }, 450, "4.7.26" },
	{ "2001:db8::1", { false, true, false, false }, 451, "4.4.3" },
	{ "2001:db8::1", { false, false, false, true }, 451, "4.4.3" },
	{ "192.0.2.9", { false, false, false, false }, 250, "2.0.0" },
	{ "::ffff:192.0.2.9", { false, false, false, false }, 250, "2.0.0" },
};

static void
test_data_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof data_cases / sizeof data_cases[0]; i++) {
		struct sockaddr_storage ss = addr(data_cases[i].ip);
		struct policy_client c;
		struct policy_reply r;

		policy_client_init(&c, (struct sockaddr *)&ss, false);
		policy_data(&c, &data_cases[i].auth, &r);
		assert_int_equal(r.code, data_cases[i].code);
		assert_string_equal(r.enhanced, data_cases[i].enhanced);
	}
}

static void
test_data_text_to_the_letter(void **state)
{
	struct sockaddr_storage ss = addr("2a01:0111:f200:2004::0240");
	struct policy_client c;
	struct policy_reply r;
	struct policy_auth none = { false, false, false, false };

	(void)state;
	policy_client_init(&c, (struct sockaddr *)&ss, false);
	policy_data(&c, &none, &r);
	assert_string_equal(r.text,
	    "Service unavailable, message sent over IPv6 "
	    "[2a01:111:f200:2004::240] must pass either SPF or DKIM "
	    "validation.");
}

static void
test_ip_text_is_rfc5952(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "2001:DB8:0:0:0:0:2:1", "2001:db8::2:1" },
		{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },
		{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
		{ "::ffff:192.0.2.1", "192.0.2.1" },
		{ "192.0.2.1", "192.0.2.1" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_storage ss = addr(cases[i].in);
		struct policy_client c;

		policy_client_init(&c, (struct sockaddr *)&ss, false);
		assert_string_equal(c.ip, cases[i].out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rcpt_table),
		cmocka_unit_test(test_needs_ptr_only_for_opted_in_anonymous_ipv6),
		cmocka_unit_test(test_data_table),
		cmocka_unit_test(test_data_text_to_the_letter),
		cmocka_unit_test(test_ip_text_is_rfc5952),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
