/*
 * spf: Sender Policy Framework, RFC 7208, as a resumable evaluator.
 *
 * A struct spf belongs to one event loop. It holds the options and a cache
 * shared by every check it runs: *parsed* SPF records keyed by domain, and
 * the positive A/AAAA/MX/PTR answers that "a", "mx", "ptr" and "exists"
 * use, each kept for its DNS TTL, bounded in entries and bytes. A check
 * walks the parsed terms; at each DNS query it yields to the loop and
 * resumes from the dns.h callback, so thousands of checks can be in flight
 * in one loop with no thread per check.
 *
 * Where RFC 7208 leaves a choice: "ptr" only confirms PTR names under its
 * target, so names outside it cost no query and no void lookup (pyspf
 * looks all of them up); a DNS error on the PTR query is no match
 * (5.5; pyspf says temperror); an unknown modifier may repeat (6 forbids
 * repeats of redirect and exp only); a record that includes itself is
 * evaluated in order until the lookup limit; %{i} of IPv6 uses upper-case
 * nibbles, as the openspf suite expects.
 *
 * Contract (STYLE.md): spf_check_start() returns NULL only for bad
 * arguments (no client address), and then its callback is never called.
 * Otherwise the callback runs exactly once, always from the event loop and
 * never from inside spf_check_start(), unless spf_check_cancel() is called
 * first; after that it never runs. The struct spf_outcome passed to the
 * callback is borrowed: valid only until the callback returns. The handle is
 * freed after the callback returns (do not cancel it from there).
 *
 * Failure modes follow RFC 7208: DNS trouble, and a check that runs past
 * its time limit (section 5), are SPF_TEMPERROR; bad records and exceeded
 * lookup limits are SPF_PERMERROR; never a pass.
 */
#ifndef MXGATE_SPF_SPF_H
#define MXGATE_SPF_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct dns;
struct event_base;

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

enum spf_identity {
	SPF_ID_MAILFROM, /* RFC 7208 2.4: the MAIL FROM domain */
	SPF_ID_HELO,     /* RFC 7208 2.3, or a null reverse-path (2.4) */
};

/* Room for struct spf_outcome's text fields, NUL included. */
#define SPF_OUTCOME_EXP_MAX 513
#define SPF_OUTCOME_PROBLEM_MAX 160
#define SPF_OUTCOME_DOMAIN_MAX 254

struct spf_outcome {
	enum spf_result result;
	enum spf_identity identity;
	/* The domain checked: the MAIL FROM domain or the HELO name. */
	char domain[SPF_OUTCOME_DOMAIN_MAX];
	/* For SPF_FAIL: the exp= text, or the default explanation. "" else. */
	char explanation[SPF_OUTCOME_EXP_MAX];
	/* Why, for permerror/temperror/none, for Authentication-Results
	 * comments and logs; "" when there is nothing to say. */
	char problem[SPF_OUTCOME_PROBLEM_MAX];
	/* What the evaluation cost (RFC 7208 4.6.4 counters). */
	unsigned lookups, voids;
};

typedef void spf_cb(void *arg, const struct spf_outcome *res);
/* One line of trace (no newline), for "mxgate spf --trace". */
typedef void spf_trace_cb(void *arg, const char *line);

struct spf_options {
	/* RFC 7208 4.6.4 void lookup limit; 0 means the default, 2. */
	unsigned max_void_lookups;
	/* Default explanation, a macro-string (RFC 7208 6.2); NULL: ours. */
	const char *default_exp;
	/* %{r}: our own domain name; NULL: "unknown" (RFC 7208 7.3). */
	const char *receiver;
	/* Parsed records kept; 0 means the default (10000). */
	size_t cache_size;
	/* Keep no parsed records at all (benchmarks of the cold path). */
	bool no_cache;
	/* RFC 7208 5: a limit on the time one check may take, at least 20 s;
	 * past it the result is temperror. 0 means 20 s. */
	unsigned timeout_ms;
	/* Optional sink for a trace of every term, query and counter. */
	spf_trace_cb *trace;
	void *trace_arg;
};

struct spf;
struct spf_check;

/* Copies what it needs from opt (which may be NULL for the defaults). */
struct spf *spf_new(struct event_base *base, struct dns *dns,
    const struct spf_options *opt);
/* Cancels every check still running (no callbacks), frees. NULL is fine. */
void spf_free(struct spf *spf);

/*
 * Starts check_host() for client (AF_INET or AF_INET6; an IPv4-mapped IPv6
 * address is evaluated as IPv4). sender is the MAIL FROM address without
 * brackets ("user@domain", "@domain" or "domain"); NULL or "" is the null
 * reverse-path, which checks the HELO identity with postmaster@helo (RFC
 * 7208 2.4), as does a HELO-only check. helo may be NULL.
 */
struct spf_check *spf_check_start(struct spf *spf,
    const struct sockaddr *client, const char *sender, const char *helo,
    spf_cb *cb, void *arg);
/* Stops a check whose callback has not run; it never will. */
void spf_check_cancel(struct spf_check *check);

/* "pass", "fail", ... as RFC 8601 and the CLI print them. */
const char *spf_result_str(enum spf_result r);

/* Cache statistics, for tests and benchmarks. */
struct spf_cache_stats {
	unsigned long hits, misses, entries;
};
void spf_cache_stats(const struct spf *spf, struct spf_cache_stats *st);

#endif
