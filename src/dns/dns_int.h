/*
 * dns_int.h: what the files of src/dns share; nothing outside src/dns may
 * include it.
 *
 * Each resolver starts with a struct dns whose ops table carries its
 * implementation of query, cancel and free, so dns.c can dispatch the
 * public calls and check names once for both.
 */
#ifndef MXGATE_DNS_DNS_INT_H
#define MXGATE_DNS_DNS_INT_H

#include <stdbool.h>

#include "dns/dns.h"

struct dns_ops {
	/* name is already checked and normalised (dns_name_norm) */
	struct dns_query *(*query)(struct dns *dns, const char *name,
	    enum dns_type type, dns_cb *cb, void *arg);
	void (*cancel)(struct dns_query *q);
	void (*free)(struct dns *dns);
};

struct dns {
	const struct dns_ops *ops;
	struct event_base *base;
};

/* The head of every implementation's query. */
struct dns_query {
	struct dns *dns;
	dns_cb *cb;
	void *arg;
};

/*
 * Checks a name in text form and writes it to out (DNS_NAME_MAX + 1 bytes)
 * in lower case without a trailing dot. Labels are 1..63 octets, the whole
 * name at most 253; bytes that cannot appear in a name we are asked for
 * (controls, space, DEL, and '\\', which resolvers read as an escape) are
 * refused. The root ("" or ".") is accepted only when allow_root is set,
 * as the target of a null MX is the root. Returns the length or -1.
 */
int dns_name_norm(const char *p, size_t len, char *out, bool allow_root);

/*
 * The wire parser (dns_wire.c): a pure function over one DNS response
 * (RFC 1035 4.1) as libunbound hands it over. It classifies the answer by
 * the header RCODE, follows the CNAME chain inside the answer section from
 * the question name, and decodes the records of the asked type into caller
 * storage: rr (rr_cap entries) and arena (arena_cap bytes), which
 * dns_wire_space() sizes for a packet. Names are decompressed with a loop
 * guard. A structurally broken packet gives -1 and a TEMPFAIL answer
 * ("malformed"); otherwise 0. answer->rr points into rr, whose data point
 * into arena. answer->security is left DNS_INSECURE for the caller to set.
 */
#define DNS_WIRE_HEADER 12 /* RFC 1035 4.1.1 */
/* Longest alias chain followed inside one answer (as BIND's limit). */
#define DNS_WIRE_CNAME_MAX 16

void dns_wire_space(const unsigned char *p, size_t len, size_t *rr_cap,
    size_t *arena_cap);
int dns_wire_parse(const unsigned char *p, size_t len, enum dns_type qtype,
    struct dns_answer *answer, struct dns_rr *rr, size_t rr_cap,
    unsigned char *arena, size_t arena_cap);

/* The text of a type for logs ("A", "TXT", ...). */
const char *dns_type_str(enum dns_type type);

#endif
