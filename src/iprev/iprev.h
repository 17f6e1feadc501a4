/*
 * iprev: reverse DNS of a client address, RFC 8601 2.7.3 and 3 ("iprev").
 *
 * iprev_start() looks up the PTR records of the address (in-addr.arpa or
 * the ip6.arpa nibble form; an IPv4-mapped IPv6 address is an IPv4 client),
 * then, in parallel, the A or AAAA records of up to IPREV_PTR_MAX of the
 * names that are valid host names. The address is forward-confirmed when one
 * of those lookups returns it.
 *
 * Results (RFC 8601 2.7.3):
 *   IPREV_PASS       a PTR name maps back to the address; name holds it
 *                    (the first such name in PTR answer order)
 *   IPREV_FAIL       PTR names exist, none maps back (their forward lookup
 *                    gave other addresses, no data, or NXDOMAIN)
 *   IPREV_PERMERROR  no PTR data at all (NXDOMAIN or NODATA)
 *   IPREV_TEMPERROR  a DNS failure prevented the answer; never reported as
 *                    pass or fail, since a retry may give either
 * Independently, ptr_exists tells whether a PTR record names a
 * syntactically valid host name (the policy's "ptr_check = exists" mode),
 * and ptr_name holds the first one.
 *
 * Contract (STYLE.md): if iprev_start() returns NULL (an address family
 * other than IPv4/IPv6), the callback never runs. Otherwise it runs exactly
 * once, later, from the event loop, unless iprev_cancel() is called first.
 * The handle is freed when the callback returns or by iprev_cancel(); it is
 * not valid after either. The struct iprev_result passed to the callback is
 * a plain value: copy it (a session keeps it for RCPT time and for the
 * Authentication-Results header). A session starts the check at connect and
 * cancels it on close if it has not finished:
 *
 *	at connect:  s->iprev = iprev_start(dns, peer, on_iprev, s);
 *	             iprev_notify_ptr(s->iprev, on_ptr);   (optional)
 *	on_ptr():    keep r->ptr_exists; resume if parked on it
 *	on_iprev():  s->iprev = NULL; s->iprev_result = *r; resume if parked
 *	at RCPT:     s->iprev == NULL ? decide : park until on_iprev()
 *	             (or on_ptr(), when the PTR answer is all it needs)
 *	at close:    iprev_cancel(s->iprev);
 */
#ifndef MXGATE_IPREV_IPREV_H
#define MXGATE_IPREV_IPREV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "dns/dns.h"

/* RFC 8601 3 leaves the count open; RFC 7208 4.6.4 sets 10 for the same
 * PTR-then-forward walk, and resolvers return PTR sets in any order. */
#define IPREV_PTR_MAX 10
/* The longest RFC 5952 text of an address, with its NUL (INET6_ADDRSTRLEN). */
#define IPREV_ADDR_MAX 46
/* Room for the short reason kept with a result. */
#define IPREV_WHY_MAX 32

enum iprev_status {
	IPREV_PASS,
	IPREV_FAIL,
	IPREV_TEMPERROR,
	IPREV_PERMERROR,
};

struct iprev_result {
	enum iprev_status status;
	char name[DNS_NAME_MAX + 1];     /* PASS: the confirmed name, else "" */
	bool ptr_exists;
	char ptr_name[DNS_NAME_MAX + 1]; /* first valid PTR name, or "" */
	char addr[IPREV_ADDR_MAX];       /* the client, RFC 5952 text */
	char why[IPREV_WHY_MAX]; /* for logs: "no ptr", "timeout", ... */
};

typedef void iprev_cb(void *arg, const struct iprev_result *result);

struct iprev;

/* Starts the check of sa (AF_INET or AF_INET6) with dns. */
struct iprev *iprev_start(struct dns *dns, const struct sockaddr *sa,
    iprev_cb *cb, void *arg);
/*
 * Asks for an earlier call of cb (with the same arg) as soon as the PTR
 * answer names a valid host name while its forward lookups are still out:
 * what the policy's "ptr_check = exists" needs, a round trip before the
 * forward-confirmed result. Set it right after iprev_start() (neither
 * callback can run before the loop does). It runs at most once, from the
 * loop, and the final callback still follows. Its result has ptr_exists,
 * ptr_name and addr; status is IPREV_TEMPERROR ("forward lookup
 * pending") until the final one. cb may call iprev_cancel(), after which
 * nothing more runs.
 */
void iprev_notify_ptr(struct iprev *ip, iprev_cb *cb);
/* Stops a check that has not called back; NULL is fine. */
void iprev_cancel(struct iprev *ip);

/* "pass", "fail", "temperror", "permerror" (RFC 8601 2.7.3). */
const char *iprev_status_str(enum iprev_status status);

/*
 * Writes the address of sa in RFC 5952 canonical text to out (at least
 * IPREV_ADDR_MAX bytes): IPv6 in lower case with the longest run of zero
 * groups shortened, an IPv4-mapped IPv6 address as plain IPv4. Returns 0,
 * or ERR_RANGE for another address family (out is then "").
 */
int iprev_addr_text(const struct sockaddr *sa, char *out, size_t outsz);

/*
 * True when name (len bytes, no trailing dot) is a syntactically valid
 * host name: two or more labels of letters, digits and hyphens, none
 * starting or ending with a hyphen (RFC 952, RFC 1123 2.1), and a top label
 * that is not all digits (RFC 3696 2), so that an address is not a name.
 */
bool iprev_valid_hostname(const char *name, size_t len);

#endif
