/*
 * conf tests: a table of bad files with the exact message each must give,
 * and good files whose parsed values are checked field by field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"

#define DOM "[domain example.test]\ndeliver = maildir:mail\n"

static const struct bad_case {
	const char *text;
	const char *err;
} bad_cases[] = {
	{ "[server]\nlisten = [::1]:25\n",
	    "/etc/mx/m.conf:2: no [domain NAME] section: nothing to serve" },
	{ "[bogus]\n" DOM, "/etc/mx/m.conf:1: unknown section [bogus]" },
	{ DOM "[server]\nhostnam = x\n",
	    "/etc/mx/m.conf:4: unknown key 'hostnam' in [server]" },
	{ "hostname = x\n" DOM,
	    "/etc/mx/m.conf:1: 'hostname' is outside any section" },
	{ DOM "[server]\nmax_message_size = 10X\n",
	    "/etc/mx/m.conf:4: bad value for max_message_size: '10X'" },
	{ DOM "[server]\nmax_message_size = 0\n",
	    "/etc/mx/m.conf:4: bad value for max_message_size: '0'" },
	{ DOM "[server]\nmax_message_size = 99999999999G\n",
	    "/etc/mx/m.conf:4: bad value for max_message_size: "
	    "'99999999999G'" },
	{ DOM "[server]\nloops = 0\n",
	    "/etc/mx/m.conf:4: bad value for loops: '0'" },
	{ DOM "[server]\nloops = 65\n",
	    "/etc/mx/m.conf:4: bad value for loops: '65'" },
	{ DOM "[server]\nloops = many\n",
	    "/etc/mx/m.conf:4: bad value for loops: 'many'" },
	{ DOM "[server]\ntimeout_command = 5d\n",
	    "/etc/mx/m.conf:4: bad value for timeout_command: '5d'" },
	{ DOM "[server]\nlisten = ::1:25\n",
	    "/etc/mx/m.conf:4: bad value for listen: '::1:25'" },
	{ DOM "[server]\nlisten = [::1]:25 proxi\n",
	    "/etc/mx/m.conf:4: bad value for listen: '[::1]:25 proxi'" },
	{ DOM "[server]\nlisten = [::1]:65536\n",
	    "/etc/mx/m.conf:4: bad value for listen: '[::1]:65536'" },
	{ DOM "[server]\nlisten = 127.0.0.1:25,\n",
	    "/etc/mx/m.conf:4: bad value for listen: '127.0.0.1:25,'" },
	{ DOM "[server]\nhostname = a..b\n",
	    "/etc/mx/m.conf:4: bad value for hostname: 'a..b'" },
	{ DOM "[server]\nhostname = a\nhostname = b\n",
	    "/etc/mx/m.conf:5: 'hostname' given twice" },
	{ DOM "[server]\ntls_certificate = c.pem\n",
	    "/etc/mx/m.conf:4: tls_certificate and tls_key go together" },
	{ DOM "[domain EXAMPLE.test.]\ndeliver = maildir:x\n",
	    "/etc/mx/m.conf:3: domain 'example.test' defined twice" },
	{ "[domain -bad.test]\n",
	    "/etc/mx/m.conf:1: bad domain name '-bad.test'" },
	{ "[domain a.test]\nipv6_anonymous = maybe\n",
	    "/etc/mx/m.conf:2: bad value for ipv6_anonymous: 'maybe'" },
	{ "[domain a.test]\ndeliver = mbox:x\n",
	    "/etc/mx/m.conf:2: bad value for deliver: 'mbox:x'" },
	{ "[domain a.test]\nipv6_anonymous = yes\n",
	    "/etc/mx/m.conf:2: [domain a.test] has no deliver" },
	{ DOM "[connector c]\nfrom = 2001:db8::1/32\n",
	    "/etc/mx/m.conf:4: bad value for from: '2001:db8::1/32'" },
	{ DOM "[connector c]\nfrom = 192.0.2.0/33\n",
	    "/etc/mx/m.conf:4: bad value for from: '192.0.2.0/33'" },
	{ DOM "[connector c]\nfrom = 10.0.0.0/8\n[connector c]\n",
	    "/etc/mx/m.conf:5: connector 'c' defined twice" },
	{ DOM "[connector c]\n",
	    "/etc/mx/m.conf:3: [connector c] has no from" },
	{ DOM "[policy]\nptr_check = fcrdns\n",
	    "/etc/mx/m.conf:4: bad value for ptr_check: 'fcrdns'" },
	{ DOM "[dns]\nservers = 127.0.0.1:5353 proxy\n",
	    "/etc/mx/m.conf:4: bad value for servers: '127.0.0.1:5353 proxy'" },
	{ DOM "[dkim]\nmax_signatures = 0\n",
	    "/etc/mx/m.conf:4: bad value for max_signatures: '0'" },
	{ DOM "[spf]\nmax_void_lookups = -1\n",
	    "/etc/mx/m.conf:4: bad value for max_void_lookups: '-1'" },
	{ DOM "[server\n", "/etc/mx/m.conf:3: section header without ']'" },
	{ DOM "just words\n",
	    "/etc/mx/m.conf:3: expected 'key = value' or '[section]'" },
	{ "[server]\ntls_key = k\n[server]\ntls_key = k\n",
	    "/etc/mx/m.conf:3: [server] given twice" },
	{ DOM "[dns]\n[dns]\n", "/etc/mx/m.conf:4: [dns] given twice" },
	{ DOM "[server]\nuser = a b\n",
	    "/etc/mx/m.conf:4: bad value for user: 'a b'" },
};

static void
test_bad_files(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		char err[256] = "";
		struct config *c = conf_parse("/etc/mx/m.conf",
		    bad_cases[i].text, strlen(bad_cases[i].text), err,
		    sizeof err);

		if (c != NULL || strcmp(err, bad_cases[i].err) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, err,
			    bad_cases[i].err);
	}
}

static void
test_nul_and_long_lines(void **state)
{
	static const char nul[] = DOM "[server]\nhostname = a\0b\n";
	char err[256], longline[600];
	struct config *c;

	(void)state;
	c = conf_parse("m.conf", nul, sizeof nul - 1, err, sizeof err);
	assert_null(c);
	assert_string_equal(err, "m.conf:4: NUL byte in line");

	memset(longline, 'a', sizeof longline);
	memcpy(longline, "[server]\nhostname = ", 20);
	c = conf_parse("m.conf", longline, sizeof longline, err, sizeof err);
	assert_null(c);
	assert_string_equal(err, "m.conf:2: line too long");
}

static const char good[] =
    "; a comment\n"
    "[server]\n"
    "hostname = MX.Example.TEST.   ; banner\n"
    "listen = [::1]:2525 proxy, 127.0.0.1:25\n"
    "spool = ./var/spool\n"
    "user = mxgate\n"
    "max_message_size = 10M\n"
    "max_connections = 500\n"
    "max_connections_per_ip = 7\n"
    "loops = 3\n"
    "tls_certificate = tls/cert.pem\n"
    "tls_key = /etc/key.pem\n"
    "timeout_command = 2m\n"
    "timeout_data = 30s\n"
    "[dns]\n"
    "servers = 127.0.0.1:5353, ::1, [2001:db8::53]:54, 192.0.2.1\n"
    "timeout = 3s\n"
    "trust_anchor = root.key\n"
    "[policy]\n"
    "ptr_check = forward-confirmed\n"
    "[spf]\n"
    "max_void_lookups = 3\n"
    "[dkim]\n"
    "max_signatures = 9\n"
    "[connector partners]\n"
    "from = 2001:db8:100::/48, 192.0.2.0/24\n"
    "[domain Example.TEST]\n"
    "ipv6_anonymous = yes\n"
    "deliver = maildir:./var/mail/example.test\n"
    "[domain other.test]\n"
    "deliver = maildir:/srv/mail\n";

static void
test_good_file(void **state)
{
	char err[256] = "";
	struct config *c;
	const struct sockaddr_in6 *s6;

	(void)state;
	c = conf_parse("/etc/mx/m.conf", good, sizeof good - 1, err,
	    sizeof err);
	if (!c)
		fail_msg("%s", err);
	assert_string_equal(c->hostname, "mx.example.test");
	assert_int_equal(c->listen_count, 2);
	assert_true(c->listen[0].proxy);
	assert_false(c->listen[1].proxy);
	s6 = (const struct sockaddr_in6 *)&c->listen[0].addr;
	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(s6->sin6_port), 2525);
	assert_int_equal(c->listen[1].addr.ss_family, AF_INET);
	assert_int_equal(ntohs(((const struct sockaddr_in *)&c->listen[1]
	    .addr)->sin_port), 25);
	assert_string_equal(c->listen[0].text, "[::1]:2525 proxy");
	assert_string_equal(c->spool, "/etc/mx/var/spool");
	assert_string_equal(c->user, "mxgate");
	assert_int_equal(c->max_message_size, 10 * 1024 * 1024);
	assert_int_equal(c->max_connections, 500);
	assert_int_equal(c->max_connections_per_ip, 7);
	assert_int_equal(conf_loops(c), 3);
	assert_string_equal(c->tls_certificate, "/etc/mx/tls/cert.pem");
	assert_string_equal(c->tls_key, "/etc/key.pem");
	assert_int_equal(c->timeout_command_s, 120);
	assert_int_equal(c->timeout_data_s, 30);
	assert_int_equal(c->dns_server_count, 4);
	assert_string_equal(c->dns_servers[0], "127.0.0.1:5353");
	assert_string_equal(c->dns_servers[1], "[::1]:53");
	assert_string_equal(c->dns_servers[2], "[2001:db8::53]:54");
	assert_string_equal(c->dns_servers[3], "192.0.2.1:53");
	assert_int_equal(c->dns_timeout_ms, 3000);
	assert_string_equal(c->dns_trust_anchor, "/etc/mx/root.key");
	assert_int_equal(c->ptr_check, CONF_PTR_FORWARD_CONFIRMED);
	assert_int_equal(c->spf_max_void_lookups, 3);
	assert_int_equal(c->dkim_max_signatures, 9);
	assert_int_equal(c->connector_count, 1);
	assert_string_equal(c->connectors[0].name, "partners");
	assert_int_equal(c->connectors[0].from_count, 2);
	assert_int_equal(c->domain_count, 2);
	assert_string_equal(c->domains[0].name, "example.test");
	assert_true(c->domains[0].ipv6_anonymous);
	assert_string_equal(c->domains[0].maildir,
	    "/etc/mx/var/mail/example.test");
	assert_false(c->domains[1].ipv6_anonymous);
	assert_string_equal(c->domains[1].maildir, "/srv/mail");
	conf_free(c);
}

static void
test_defaults(void **state)
{
	char err[256] = "";
	struct config *c;

	(void)state;
	c = conf_parse("m.conf", DOM, strlen(DOM), err, sizeof err);
	assert_non_null(c);
	assert_int_equal(c->listen_count, 2);
	assert_string_equal(c->spool, "./var/spool");
	assert_string_equal(c->domains[0].maildir, "./mail");
	assert_int_equal(c->max_message_size, 25 * 1024 * 1024);
	assert_int_equal(c->timeout_command_s, 300);
	assert_int_equal(c->timeout_data_s, 180);
	assert_int_equal(c->spf_max_void_lookups, 2);
	assert_int_equal(c->dkim_max_signatures, 5);
	assert_int_equal(c->ptr_check, CONF_PTR_EXISTS);
	assert_null(c->tls_certificate);
	assert_null(c->user);
	/* auto: one loop per online core */
	assert_int_equal(c->loops, 0);
	assert_int_equal(conf_loops(c),
	    sysconf(_SC_NPROCESSORS_ONLN) > CONF_LOOPS_MAX ? CONF_LOOPS_MAX :
	    sysconf(_SC_NPROCESSORS_ONLN));
	conf_free(c);

	c = conf_default(err, sizeof err);
	assert_non_null(c);
	assert_string_equal(c->listen[0].text, "[::1]:2525");
	assert_string_equal(c->listen[1].text, "127.0.0.1:2525");
	assert_string_equal(c->spool, "./mxgate-data/spool");
	assert_string_equal(c->domains[0].name, "localhost");
	assert_string_equal(c->domains[0].maildir,
	    "./mxgate-data/mail/localhost");
	conf_free(c);
}

static void
test_find(void **state)
{
	char err[256] = "";
	struct config *c;
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	(void)state;
	c = conf_parse("m.conf", good, sizeof good - 1, err, sizeof err);
	assert_non_null(c);
	assert_non_null(conf_find_domain(c, "EXAMPLE.test", 12));
	assert_non_null(conf_find_domain(c, "example.test.", 13));
	assert_null(conf_find_domain(c, "example.test..", 14));
	assert_null(conf_find_domain(c, "xexample.test", 13));
	assert_null(conf_find_domain(c, "example.tes", 11));

	inet_pton(AF_INET6, "2001:db8:100:ffff::1", &s6.sin6_addr);
	assert_non_null(conf_find_connector(c, (struct sockaddr *)&s6));
	inet_pton(AF_INET6, "2001:db8:101::1", &s6.sin6_addr);
	assert_null(conf_find_connector(c, (struct sockaddr *)&s6));
	inet_pton(AF_INET, "192.0.2.200", &s4.sin_addr);
	assert_non_null(conf_find_connector(c, (struct sockaddr *)&s4));
	inet_pton(AF_INET, "192.0.3.1", &s4.sin_addr);
	assert_null(conf_find_connector(c, (struct sockaddr *)&s4));
	/* A mapped address is the IPv4 client it carries. */
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &s6.sin6_addr);
	assert_non_null(conf_find_connector(c, (struct sockaddr *)&s6));
	conf_free(c);
}

static void
test_load_file(void **state)
{
	char path[] = "/tmp/mxgate-conf-XXXXXX";
	char err[256] = "";
	struct config *c;
	int fd;

	(void)state;
	c = conf_load("/nonexistent/mxgate.conf", err, sizeof err);
	assert_null(c);
	assert_string_equal(err, "/nonexistent/mxgate.conf:0: cannot open: "
	    "No such file or directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, DOM, strlen(DOM)), (ssize_t)strlen(DOM));
	close(fd);
	c = conf_load(path, err, sizeof err);
	unlink(path);
	assert_non_null(c);
	assert_string_equal(c->domains[0].maildir, "/tmp/mail");
	conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_nul_and_long_lines),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
