/*
 * mxgate ptr [--dns HOST:PORT] [--trust-anchor FILE] IP: the
 * forward-confirmed reverse DNS of an address (RFC 8601 iprev), the way the
 * server checks a client; with a trust anchor, answers that fail DNSSEC
 * validation count as DNS failures, as in the server.
 *
 * Prints "pass NAME", "fail" or "temperror" and exits 0. "fail" covers
 * RFC 8601's permerror too (no PTR record at all): for an operator both mean
 * "fix the reverse zone", while temperror means "try again".
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "dns/dns.h"
#include "iprev/iprev.h"

struct ptr_run {
	struct event_base *base;
	struct iprev_result result;
	bool done;
};

static void
ptr_done(void *arg, const struct iprev_result *r)
{
	struct ptr_run *run = arg;

	run->result = *r;
	run->done = true;
	event_base_loopbreak(run->base);
}

static int
ptr_usage(void)
{
	fprintf(stderr, "usage: mxgate ptr [--dns HOST:PORT] "
	    "[--trust-anchor FILE] IP\n");
	return 2;
}

static bool
ptr_parse_ip(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

int
cmd_ptr(int argc, char **argv)
{
	const char *server = NULL, *ip = NULL;
	struct dns_options opt = { 0 };
	struct ptr_run run = { 0 };
	struct sockaddr_storage ss;
	struct dns *dns;
	char err[256];
	int i, rc = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dns") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strncmp(argv[i], "--dns=", 6) == 0)
			server = argv[i] + 6;
		else if (strcmp(argv[i], "--trust-anchor") == 0 &&
		    i + 1 < argc)
			opt.trust_anchor = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return ptr_usage();
		else if (ip == NULL)
			ip = argv[i];
		else
			return ptr_usage();
	}
	if (ip == NULL)
		return ptr_usage();
	if (!ptr_parse_ip(ip, &ss)) {
		fprintf(stderr, "mxgate ptr: '%s' is not an IPv4 or IPv6 "
		    "address\n", ip);
		return 2;
	}
	if (server != NULL) {
		opt.servers = &server;
		opt.server_count = 1;
	}
	run.base = event_base_new();
	if (run.base == NULL) {
		fprintf(stderr, "mxgate ptr: cannot create an event loop\n");
		return 1;
	}
	dns = dns_new_unbound(run.base, &opt, err, sizeof(err));
	if (dns == NULL) {
		fprintf(stderr, "mxgate ptr: %s\n", err);
		event_base_free(run.base);
		return 2;
	}
	if (iprev_start(dns, (struct sockaddr *)&ss, ptr_done, &run) == NULL) {
		fprintf(stderr, "mxgate ptr: cannot start the lookup\n");
		rc = 1;
	} else {
		event_base_dispatch(run.base);
		if (!run.done) {
			fprintf(stderr, "mxgate ptr: no answer\n");
			rc = 1;
		} else if (run.result.status == IPREV_PASS) {
			printf("pass %s\n", run.result.name);
		} else if (run.result.status == IPREV_TEMPERROR) {
			printf("temperror\n");
		} else {
			printf("fail\n");
		}
	}
	dns_free(dns);
	event_base_free(run.base);
	return rc;
}
