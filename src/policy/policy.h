/*
 * policy: the IPv6 anonymous-inbound rules of DESIGN.md as pure decisions.
 *
 * No I/O and no state: the session gathers facts (who the client is, what
 * reverse DNS, SPF and DKIM said) and asks for a verdict with the exact
 * reply to send. Facts are given in this module's own terms so that the
 * rules stay readable in one place; the session maps module results onto
 * them. Reply texts are the ones large mail services publish, to the letter.
 */
#ifndef MXGATE_POLICY_POLICY_H
#define MXGATE_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "iprev/iprev.h"

enum policy_verdict { POLICY_ACCEPT, POLICY_TEMPFAIL, POLICY_REJECT };

/* The longest reply text built here, with a domain of DNS_NAME_MAX. */
#define POLICY_TEXT_MAX 384

struct policy_reply {
	enum policy_verdict verdict;
	int code;          /* 250, 450, 451, 550 */
	const char *enhanced; /* "2.1.5", "4.7.25", ... */
	char text[POLICY_TEXT_MAX];
	const char *reason; /* one word for logs: "ok", "not_opted_in", ... */
};

/* What is known about the client for the whole session. */
struct policy_client {
	/* The three checks apply: IPv6 (not IPv4-mapped), not in a connector. */
	bool anonymous_ipv6;
	char ip[IPREV_ADDR_MAX]; /* RFC 5952 / dotted text */
};

/* Reverse DNS as the RCPT rule needs it (per [policy] ptr_check). */
enum policy_ptr {
	POLICY_PTR_VALID,   /* a valid PTR (exists, or forward-confirmed) */
	POLICY_PTR_MISSING, /* none, or not valid in the configured mode */
	POLICY_PTR_TEMPFAIL,
};

/* The sender authentication facts at the end of DATA. */
struct policy_auth {
	bool spf_pass;
	bool spf_temperror;
	bool dkim_pass; /* at least one signature verified */
	bool dkim_temperror; /* some signature could not be checked (DNS) */
};

/*
 * Fills c from the client address (already unwrapped from PROXY); trusted
 * says the address is inside a configured connector (conf_find_connector).
 */
void policy_client_init(struct policy_client *c, const struct sockaddr *sa,
    bool trusted);

/*
 * The decision for one recipient whose domain is dom (NULL: not served).
 * ptr is only looked at for an anonymous IPv6 client whose domain opted
 * in; policy_rcpt_needs_ptr() tells whether the session must wait for it.
 */
bool policy_rcpt_needs_ptr(const struct policy_client *c,
    const struct conf_domain *dom);
void policy_rcpt(const struct policy_client *c, const struct conf_domain *dom,
    const char *domain, enum policy_ptr ptr, struct policy_reply *out);

/* The end-of-DATA decision. */
void policy_data(const struct policy_client *c, const struct policy_auth *a,
    struct policy_reply *out);

#endif
