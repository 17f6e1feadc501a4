/*
 * dns: asynchronous DNS lookups for everything that checks a sender.
 *
 * Two implementations sit behind one interface: dns_new_unbound() resolves
 * with libunbound inside our own libevent loop; dns_new_table() answers from
 * records a test puts in (see dns_table_*), also asynchronously from the loop,
 * so code under test sees the same call order as in production.
 *
 * Contract (STYLE.md): if dns_query() returns NULL, its callback is never
 * called. Otherwise the callback runs exactly once, later, from the event
 * loop - never from inside dns_query() - unless the query is cancelled with
 * dns_cancel() first, after which it never runs. An owner that goes away
 * cancels its outstanding queries.
 *
 * Every answer is classified: records, NXDOMAIN, NODATA or TEMPFAIL
 * (SERVFAIL, timeout, network or resolver error). The difference between
 * "does not exist" and "try again later" is the difference between a 5xx
 * and a 4xx reply, so no caller may treat TEMPFAIL as absence.
 *
 * The struct dns_answer passed to a callback, and everything it points to,
 * is borrowed: valid only until the callback returns.
 */
#ifndef MXGATE_DNS_DNS_H
#define MXGATE_DNS_DNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

enum dns_type {
	DNS_T_A = 1,
	DNS_T_CNAME = 5,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
};

enum dns_status {
	DNS_OK,       /* at least one record of the asked type */
	DNS_NXDOMAIN, /* the name does not exist */
	DNS_NODATA,   /* the name exists, no record of this type */
	DNS_TEMPFAIL, /* SERVFAIL, timeout, network error: try again later */
};

enum dns_security {
	DNS_INSECURE, /* no DNSSEC validation, or an unsigned zone */
	DNS_SECURE,   /* validated */
	DNS_BOGUS,    /* validation failed; status is then DNS_TEMPFAIL */
};

/* RFC 1035 3.1: 255 octets on the wire, 253 characters in text form. */
#define DNS_NAME_MAX 253
/* RFC 1035 2.3.4 */
#define DNS_LABEL_MAX 63

/*
 * One record of the asked type, already decoded:
 *   A, AAAA   data = the 4 or 16 address bytes
 *   PTR, CNAME data = the target name in text form, lower case, no trailing
 *             dot, NUL-terminated (len excludes the NUL)
 *   MX        data = the exchange as for PTR; pref = its preference
 *   TXT       data = all character-strings of the record joined with
 *             nothing in between (RFC 7208 3.3, RFC 6376 3.6.2.2),
 *             NUL-terminated; len counts the bytes, which may include NULs
 */
struct dns_rr {
	enum dns_type type;
	uint32_t ttl;
	uint16_t pref;
	size_t len;
	const unsigned char *data;
};

struct dns_answer {
	enum dns_status status;
	enum dns_security security;
	/* For DNS_TEMPFAIL: a short reason for logs ("timeout", "servfail"). */
	const char *why;
	size_t count; /* records in rr; 0 unless status is DNS_OK */
	const struct dns_rr *rr;
};

typedef void dns_cb(void *arg, const struct dns_answer *answer);

struct dns;
struct dns_query;

struct dns_options {
	/* "HOST:PORT" or "HOST" (port 53) of servers to forward to, or none
	 * for the system resolver configuration (/etc/resolv.conf). */
	const char *const *servers;
	size_t server_count;
	unsigned timeout_ms; /* per query, 0 for the default (5 s) */
	const char *trust_anchor; /* file, or NULL: no DNSSEC validation */
	/*
	 * Random source ports for the queries in flight, one a query (0 for
	 * DNS_PORTS_DEFAULT); up to half as many queries at once. Each costs
	 * memory at start whether used or not (about 0.8 KB), so several
	 * loops share DNS_PORTS_DEFAULT rather than take it each.
	 */
	unsigned ports;
};

#define DNS_PORTS_DEFAULT 8192
#define DNS_PORTS_MIN 1024

/*
 * A resolver running in base. On failure returns NULL and writes a one-line
 * reason to err (size errsz).
 */
struct dns *dns_new_unbound(struct event_base *base,
    const struct dns_options *opt, char *err, size_t errsz);
/* A resolver that answers only from dns_table_* records. */
struct dns *dns_new_table(struct event_base *base);
/* Cancels every outstanding query (no callbacks) and frees. NULL is fine. */
void dns_free(struct dns *dns);

/*
 * Starts a lookup of name (text form, trailing dot optional, case ignored).
 * Returns a handle that stays valid until the callback has run or the query
 * has been cancelled; NULL when the query could not start (bad name).
 */
struct dns_query *dns_query(struct dns *dns, const char *name,
    enum dns_type type, dns_cb *cb, void *arg);
/* Stops a query that has not answered yet; its callback never runs. */
void dns_cancel(struct dns_query *q);

/*
 * The table's records. A name with no record at all does not exist
 * (NXDOMAIN); a name with records, but none of the asked type, is NODATA.
 * A CNAME is followed for other types as a recursive resolver would (a loop
 * gives NODATA). dns_table_timeout() makes queries for the name of any type
 * not added time out (TEMPFAIL "timeout"); dns_table_servfail() makes every
 * query for the name answer SERVFAIL.
 */
void dns_table_add(struct dns *table, const char *name, enum dns_type type,
    const void *data, size_t len);
/* Parses text: "1.2.3.4", "2001:db8::1", a target name, or TXT text. */
int dns_table_add_text(struct dns *table, const char *name, enum dns_type type,
    const char *value);
void dns_table_add_mx(struct dns *table, const char *name, uint16_t pref,
    const char *exchange);
void dns_table_timeout(struct dns *table, const char *name);
void dns_table_servfail(struct dns *table, const char *name);
/*
 * Loads zone-file-like lines, one record each: "NAME TYPE VALUE" where TYPE
 * is A AAAA CNAME PTR MX TXT (MX value "PREF EXCHANGE"; TXT value one or more
 * "quoted strings", joined) or the words TIMEOUT / SERVFAIL with no value.
 * An "IN" class word and a TTL number before TYPE are accepted and ignored;
 * lines starting with ';' or '#' are comments. Returns 0, or -(line number)
 * of the first bad line.
 */
int dns_table_load(struct dns *table, const char *text, size_t len);
/* How many queries the table has been asked (tests count lookups). */
unsigned long dns_table_queries(const struct dns *table);

#endif
