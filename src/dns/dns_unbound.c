/*
 * dns_unbound.c: the production resolver, libunbound inside our own loop.
 *
 * ub_ctx_create_event() runs libunbound's resolver on our event_base, so
 * there is no helper thread and no pipe: queries, retries and answers are
 * events like any other. libunbound hands over answers in wire format, which
 * dns_wire.c unpacks.
 *
 * libunbound may call back from inside ub_resolve_event() (cache hits and
 * local zones are answered at once), and starting queries from inside its
 * callback would re-enter its mesh. So its callback only keeps a copy of the
 * packet and makes our per-query event active; the caller's callback runs
 * from that event, always from the loop, never nested in libunbound.
 *
 * Each event loop has a context of its own. Making a context, its first
 * ub_resolve_event() (which finishes setting it up) and deleting it write
 * process-wide state in libunbound without a lock (its log, the timeouts
 * config_apply() copies into globals, the hash seed): those go through
 * ub_global_lock, so two loops never do them at once.
 *
 * ub_cancel() is not used: for event contexts it frees the query while the
 * mesh still refers to it. A query that is cancelled or times out is left
 * to finish inside libunbound as an orphan whose answer is dropped, and
 * dns_free() releases orphans that never finish.
 */
#include "dns/dns_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound-event.h>
#include <unbound.h>

#include "base/log.h"
#include "base/mem.h"

#define UB_TIMEOUT_DEFAULT_MS 5000
#define CLASS_IN 1
#define UB_RCODE_SERVFAIL 2
/* The callback's sec argument (unbound-event.h). */
#define UB_SEC_BOGUS 1
#define UB_SEC_SECURE 2
/* "[" IPv6 "]:" port, and the "@port" form unbound wants. */
#define FWD_MAX (INET6_ADDRSTRLEN + 8)

/*
 * The zones libunbound answers itself by default (RFC 6303 and RFC 6761
 * names, the AS112 reverse zones, documentation prefixes). With our own
 * servers configured, test and documentation zones must reach them, so
 * each is made transparent: asked upstream like any other name.
 */
static const char *const ub_default_zones[] = {
	"localhost.", "127.in-addr.arpa.", "onion.", "test.", "invalid.",
	"home.arpa.", "resolver.arpa.", "service.arpa.",
	"10.in-addr.arpa.", "168.192.in-addr.arpa.", "0.in-addr.arpa.",
	"254.169.in-addr.arpa.", "2.0.192.in-addr.arpa.",
	"100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
	"255.255.255.255.in-addr.arpa.",
	"16.172.in-addr.arpa.", "17.172.in-addr.arpa.",
	"18.172.in-addr.arpa.", "19.172.in-addr.arpa.",
	"20.172.in-addr.arpa.", "21.172.in-addr.arpa.",
	"22.172.in-addr.arpa.", "23.172.in-addr.arpa.",
	"24.172.in-addr.arpa.", "25.172.in-addr.arpa.",
	"26.172.in-addr.arpa.", "27.172.in-addr.arpa.",
	"28.172.in-addr.arpa.", "29.172.in-addr.arpa.",
	"30.172.in-addr.arpa.", "31.172.in-addr.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "ip6.arpa.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "ip6.arpa.",
	"d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.",
	"a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
};
/* RFC 6598 shared address space: 64.100 .. 127.100.in-addr.arpa. */
#define UB_SHARED_FIRST 64
#define UB_SHARED_LAST 127

struct ubr {
	struct dns dns;
	struct ub_ctx *ctx;
	unsigned timeout_ms;
	bool started; /* its first query is made: libunbound is set up */
	bool closing;
	struct ubq *live; /* every query libunbound may still call back */
};

static pthread_mutex_t ub_global_lock = PTHREAD_MUTEX_INITIALIZER;

struct ubq {
	struct dns_query q;
	struct ubq *prev, *next;
	struct event *ev; /* the timeout, or made active to deliver */
	enum dns_type type;
	bool orphan; /* the caller is gone; drop the answer */
	bool have; /* libunbound has answered; deliver from ev */
	int err, sec;
	unsigned char *pkt;
	size_t pktlen;
};

static void
ubq_release(struct ubr *r, struct ubq *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		r->live = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	event_free(q->ev);
	free(q->pkt);
	free(q);
}

static void
ubq_deliver(struct ubq *q)
{
	struct dns_answer a;
	struct dns_rr *rr = NULL;
	size_t rr_cap, arena_cap;

	memset(&a, 0, sizeof(a));
	if (q->err != 0 || q->pkt == NULL) {
		/* For event contexts libunbound passes the mesh's RCODE here
		 * (SERVFAIL when resolution failed), and no usable packet. */
		a.status = DNS_TEMPFAIL;
		a.why = q->err == UB_RCODE_SERVFAIL ? "servfail" : "resolver";
		log_debug("dns answer=tempfail type=%s err=%d",
		    dns_type_str(q->type), q->err);
	} else {
		/* One block: the records, then the bytes they point to. */
		dns_wire_space(q->pkt, q->pktlen, &rr_cap, &arena_cap);
		rr = xmalloc(rr_cap * sizeof(*rr) + arena_cap);
		dns_wire_parse(q->pkt, q->pktlen, q->type, &a, rr, rr_cap,
		    (unsigned char *)(rr + rr_cap), arena_cap);
		if (q->sec == UB_SEC_SECURE) {
			a.security = DNS_SECURE;
		} else if (q->sec == UB_SEC_BOGUS) {
			/* RFC 4035 5.5: bogus data is never used. */
			memset(&a, 0, sizeof(a));
			a.status = DNS_TEMPFAIL;
			a.security = DNS_BOGUS;
			a.why = "bogus";
		}
	}
	q->q.cb(q->q.arg, &a);
	free(rr);
}

static void
ubq_event(evutil_socket_t fd, short what, void *arg)
{
	struct ubq *q = arg;
	struct ubr *r = (struct ubr *)q->q.dns;
	struct dns_answer a;

	(void)fd;
	(void)what;
	if (q->have) {
		ubq_deliver(q);
		ubq_release(r, q);
		return;
	}
	/* The answer, if it ever comes, is dropped by ubq_done(). */
	q->orphan = true;
	memset(&a, 0, sizeof(a));
	a.status = DNS_TEMPFAIL;
	a.why = "timeout";
	q->q.cb(q->q.arg, &a);
}

static void
ubq_done(void *arg, int err, void *pkt, int len, int sec, char *why_bogus,
    int ratelimited)
{
	struct ubq *q = arg;
	struct ubr *r = (struct ubr *)q->q.dns;

	(void)ratelimited;
	if (r->closing || q->orphan) {
		ubq_release(r, q);
		return;
	}
	if (sec == UB_SEC_BOGUS && why_bogus != NULL) {
		/* The reason quotes names and servers from DNS data. */
		char why[LOG_VALUE_MAX];

		log_warn("dns answer=bogus type=%s reason=%s",
		    dns_type_str(q->type), log_escape(why, sizeof(why),
		    why_bogus, strlen(why_bogus)));
	}
	q->have = true;
	q->err = err;
	q->sec = sec;
	if (pkt != NULL && len > 0) {
		q->pktlen = (size_t)len;
		q->pkt = xmalloc(q->pktlen);
		memcpy(q->pkt, pkt, q->pktlen);
	}
	event_del(q->ev);
	event_active(q->ev, EV_TIMEOUT, 1);
}

/*
 * libunbound reads names in presentation form: a byte other than a letter,
 * digit, '-', '_' or the dots between labels goes in as \DDD.
 */
static void
ub_escape_name(const char *name, char *out)
{
	size_t o = 0;

	for (; *name; name++) {
		unsigned char c = (unsigned char)*name;

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '*') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = (char)('0' + c / 100);
			out[o++] = (char)('0' + c / 10 % 10);
			out[o++] = (char)('0' + c % 10);
		}
	}
	out[o] = '\0';
}

static struct dns_query *
ub_query(struct dns *dns, const char *name, enum dns_type type, dns_cb *cb,
    void *arg)
{
	struct ubr *r = (struct ubr *)dns;
	char esc[DNS_NAME_MAX * 4 + 1];
	struct ubq *q = xcalloc(1, sizeof(*q));
	struct timeval tv;
	int rc, id;

	q->q.dns = dns;
	q->q.cb = cb;
	q->q.arg = arg;
	q->type = type;
	q->ev = evtimer_new(dns->base, ubq_event, q);
	if (q->ev == NULL)
		fatal("dns: evtimer_new failed");
	q->next = r->live;
	if (r->live != NULL)
		r->live->prev = q;
	r->live = q;
	ub_escape_name(name, esc);
	/* The first query finishes setting the context up (see the top). */
	if (!r->started)
		pthread_mutex_lock(&ub_global_lock);
	rc = ub_resolve_event(r->ctx, esc, (int)type, CLASS_IN, q, ubq_done,
	    &id);
	if (!r->started) {
		pthread_mutex_unlock(&ub_global_lock);
		r->started = true;
	}
	if (rc != 0) {
		log_warn("dns error=resolve name=%s reason=\"%s\"", name,
		    ub_strerror(rc));
		ubq_release(r, q);
		return NULL;
	}
	if (!q->have) {
		tv.tv_sec = r->timeout_ms / 1000;
		tv.tv_usec = (r->timeout_ms % 1000) * 1000;
		evtimer_add(q->ev, &tv);
	}
	return &q->q;
}

static void
ub_cancel_query(struct dns_query *dq)
{
	struct ubq *q = (struct ubq *)dq;

	if (q->have) {
		ubq_release((struct ubr *)dq->dns, q);
		return;
	}
	event_del(q->ev);
	q->orphan = true;
}

static void
ub_free(struct dns *dns)
{
	struct ubr *r = (struct ubr *)dns;

	/* libunbound may report unfinished queries as it tears down. */
	r->closing = true;
	pthread_mutex_lock(&ub_global_lock);
	ub_ctx_delete(r->ctx);
	pthread_mutex_unlock(&ub_global_lock);
	while (r->live != NULL)
		ubq_release(r, r->live);
	free(r);
}

static const struct dns_ops ub_ops = {
	.query = ub_query,
	.cancel = ub_cancel_query,
	.free = ub_free,
};

/*
 * "HOST:PORT", "[V6]:PORT", "HOST" or a bare IPv6 address, to the
 * "ADDR@PORT" form of unbound's forward-addr. HOST must be an address:
 * a forwarder named by a host name would need DNS to find DNS.
 */
static int
fwd_addr(const char *s, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN];
	const char *port = NULL, *end, *colon = strchr(s, ':');
	unsigned char addr[16];
	unsigned long p = 53;
	size_t n;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		s++;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		end = colon;
		port = colon + 1;
	} else {
		end = s + strlen(s);
	}
	n = (size_t)(end - s);
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, addr) != 1 &&
	    inet_pton(AF_INET6, host, addr) != 1)
		return -1;
	if (port != NULL) {
		char *stop;

		if (*port < '0' || *port > '9')
			return -1;
		p = strtoul(port, &stop, 10);
		if (*stop != '\0' || p == 0 || p > 65535)
			return -1;
	}
	if ((size_t)snprintf(out, outsz, "%s@%lu", host, p) >= outsz)
		return -1;
	return 0;
}

static int
ub_transparent(struct ub_ctx *ctx, const char *zone)
{
	char v[DNS_NAME_MAX + 16];

	snprintf(v, sizeof(v), "%s transparent", zone);
	return ub_ctx_set_option(ctx, "local-zone:", v);
}

/*
 * Tuned for a gateway that forwards to a recursive resolver: thousands of
 * lookups in flight (the defaults allow 1024 queries, spread over few
 * ports; here dns_options.ports ports, half as many queries), and a first
 * answer that may take a second while that resolver
 * recurses (the default waits 376 ms, then asks again and drops the late
 * answer, so a slow name costs several round trips).
 *
 * udp-connect: libunbound opens a socket on a random port for every query;
 * connecting it is one more system call of the eleven each query takes
 * (socket, setsockopt, two fcntl, bind, connect, sendto, two epoll_ctl,
 * recvfrom, close); those calls are about half of what a cold SPF check
 * costs. An answer is still only taken when its ID, its source address and
 * port and the random port it arrives on all match the query (the
 * pending-query lookup of libunbound's outside_network.c), and an ICMP
 * error on a connected socket does not end a query sooner there.
 */
static const char *const ub_tuning[][2] = {
	/* A forwarder not heard from yet: 2 s before asking again. */
	{ "unknown-server-time-limit:", "2000" },
	/*
	 * The same 2 s once it has answered. Its fast answers (cached names)
	 * would otherwise bring the resend timer down to 50 ms, and a name it
	 * takes a second to resolve would be asked for ten times, every late
	 * answer dropped, until SERVFAIL after 3 s.
	 */
	{ "infra-cache-min-rtt:", "2000" },
	{ "udp-connect:", "no" },
};

static int
ub_setup(struct ub_ctx *ctx, const struct dns_options *opt, char *err,
    size_t errsz)
{
	char fwd[FWD_MAX], zone[32], n[16];
	unsigned ports = opt->ports ? opt->ports : DNS_PORTS_DEFAULT;
	size_t i;
	int rc;

	/* Forwarders on loopback are normal here (a local cache, tests). */
	if ((rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")))
		goto fail;
	snprintf(n, sizeof(n), "%u", ports);
	if ((rc = ub_ctx_set_option(ctx, "outgoing-range:", n)))
		goto fail;
	snprintf(n, sizeof(n), "%u", ports / 2);
	if ((rc = ub_ctx_set_option(ctx, "num-queries-per-thread:", n)))
		goto fail;
	for (i = 0; i < sizeof(ub_tuning) / sizeof(ub_tuning[0]); i++)
		if ((rc = ub_ctx_set_option(ctx, ub_tuning[i][0],
		    ub_tuning[i][1])) != 0)
			goto fail;
	if (opt->server_count == 0 && (rc = ub_ctx_resolvconf(ctx, NULL))) {
		snprintf(err, errsz, "reading resolv.conf: %s",
		    ub_strerror(rc));
		return -1;
	}
	for (i = 0; i < opt->server_count; i++) {
		if (fwd_addr(opt->servers[i], fwd, sizeof(fwd)) < 0) {
			snprintf(err, errsz, "dns server '%s': expected "
			    "ADDRESS or ADDRESS:PORT", opt->servers[i]);
			return -1;
		}
		if ((rc = ub_ctx_set_fwd(ctx, fwd)) != 0)
			goto fail;
	}
	for (i = 0; opt->server_count > 0 && i < sizeof(ub_default_zones) /
	    sizeof(ub_default_zones[0]); i++)
		if ((rc = ub_transparent(ctx, ub_default_zones[i])) != 0)
			goto fail;
	for (i = UB_SHARED_FIRST; opt->server_count > 0 &&
	    i <= UB_SHARED_LAST; i++) {
		snprintf(zone, sizeof(zone), "%zu.100.in-addr.arpa.", i);
		if ((rc = ub_transparent(ctx, zone)) != 0)
			goto fail;
	}
	/* Without a trust anchor the validator can only pass every answer
	 * through as insecure, yet it keeps a state per query: about a tenth
	 * of the instructions of a lookup. */
	if (opt->trust_anchor == NULL && (rc = ub_ctx_set_option(ctx,
	    "module-config:", "iterator")) != 0)
		goto fail;
	/*
	 * harden-below-nxdomain (RFC 8020) answers a name from a cached
	 * NXDOMAIN of a parent, but only from a DNSSEC-secure one
	 * (dns_cache_lookup() in unbound's services/cache/dns.c), and without
	 * a validator nothing is secure. Its search still runs before every
	 * query that misses the cache: one message-cache lookup per parent,
	 * each hashing the whole parent name again, so quadratic in the
	 * labels. An IPv6 PTR name or an SPF exists:%{ir} name has 34-38
	 * labels: a fifth of the instructions of a cold SPF check.
	 */
	if (opt->trust_anchor == NULL && (rc = ub_ctx_set_option(ctx,
	    "harden-below-nxdomain:", "no")) != 0)
		goto fail;
	if (opt->trust_anchor != NULL) {
		/* libunbound reads the file only at the first query; a typo
		 * in the path should stop the start, not fail every lookup. */
		FILE *fp = fopen(opt->trust_anchor, "r");

		if (fp == NULL || (rc = ub_ctx_add_ta_file(ctx,
		    opt->trust_anchor)) != 0) {
			snprintf(err, errsz, "trust anchor %s: %s",
			    opt->trust_anchor, fp == NULL ? strerror(errno) :
			    ub_strerror(rc));
			if (fp != NULL)
				fclose(fp);
			return -1;
		}
		fclose(fp);
	}
	return 0;
fail:
	snprintf(err, errsz, "libunbound: %s", ub_strerror(rc));
	return -1;
}

struct dns *
dns_new_unbound(struct event_base *base, const struct dns_options *opt,
    char *err, size_t errsz)
{
	struct ub_ctx *ctx;
	struct ubr *r;
	int rc;

	pthread_mutex_lock(&ub_global_lock);
	ctx = ub_ctx_create_event(base);
	rc = ctx ? ub_setup(ctx, opt, err, errsz) : -1;
	if (ctx == NULL)
		snprintf(err, errsz, "libunbound: cannot create a context");
	else if (rc < 0)
		ub_ctx_delete(ctx);
	pthread_mutex_unlock(&ub_global_lock);
	if (rc < 0)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->dns.ops = &ub_ops;
	r->dns.base = base;
	r->ctx = ctx;
	r->timeout_ms = opt->timeout_ms ? opt->timeout_ms :
	    UB_TIMEOUT_DEFAULT_MS;
	return &r->dns;
}
