/*
 * Warm-cache throughput of libunbound's asynchronous APIs, to choose the
 * one dns/ uses (DESIGN.md): ub_resolve_event() inside our libevent loop,
 * ub_resolve_async() with ub_fd() and ub_process() (a helper thread and a
 * pipe), and our dns_query() on top of the first (wire parse, deferral).
 *
 * Usage: dns_unbound MODE SERVER NAME QUERIES   (MODE: event|async|dns)
 * Keeps INFLIGHT queries outstanding, all for NAME (A), after one query
 * that fills the cache; prints queries per second. bench/dns_unbound.py
 * builds it and runs it against Knot.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound-event.h>
#include <unbound.h>

#include "dns/dns.h"

#define INFLIGHT 100

static struct event_base *base;
static struct ub_ctx *ctx;
static struct dns *dns;
static const char *name;
static long target, started, answered, failed;

static struct event *refill;

/*
 * Answers only count; the refill event starts the next queries from the
 * loop. (ub_resolve_event() answers cache hits from inside itself, so
 * starting the next query in the callback would recurse.)
 */
static void
done(int ok)
{
	answered++;
	if (!ok)
		failed++;
	if (answered == target)
		event_base_loopbreak(base);
	else if (started < target)
		event_active(refill, EV_TIMEOUT, 1);
}

static void
on_event(void *arg, int err, void *pkt, int len, int sec, char *why, int rl)
{
	(void)arg, (void)pkt, (void)len, (void)sec, (void)why, (void)rl;
	done(err == 0);
}

static void
on_async(void *arg, int err, struct ub_result *r)
{
	(void)arg;
	done(err == 0 && r->havedata);
	ub_resolve_free(r);
}

static void
on_dns(void *arg, const struct dns_answer *a)
{
	(void)arg;
	done(a->status == DNS_OK);
}

static void
on_fd(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	ub_process(ctx);
}

static enum { M_EVENT, M_ASYNC, M_DNS } mode;

static void
start_one(void)
{
	int id;

	started++;
	if (mode == M_EVENT)
		ub_resolve_event(ctx, name, 1, 1, NULL, on_event, &id);
	else if (mode == M_ASYNC)
		ub_resolve_async(ctx, name, 1, 1, NULL, on_async, &id);
	else
		dns_query(dns, name, DNS_T_A, on_dns, NULL);
}

static void
kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	while (started < target && started - answered < INFLIGHT)
		start_one();
}

static double
run(long n)
{
	struct timespec t0, t1;

	target = n;
	started = answered = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	event_active(refill, EV_TIMEOUT, 1);
	event_base_dispatch(base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

int
main(int argc, char **argv)
{
	char fwd[128], err[256], *colon;
	struct event *ev = NULL;
	long n;
	double secs;

	if (argc != 5)
		return 2;
	mode = strcmp(argv[1], "event") == 0 ? M_EVENT :
	    strcmp(argv[1], "async") == 0 ? M_ASYNC : M_DNS;
	name = argv[3];
	n = atol(argv[4]);
	base = event_base_new();
	refill = event_new(base, -1, 0, kick, NULL);
	if (mode == M_DNS) {
		const char *servers[] = { argv[2] };
		struct dns_options opt = { servers, 1, 5000, NULL };

		if ((dns = dns_new_unbound(base, &opt, err, sizeof(err))) ==
		    NULL) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	} else {
		snprintf(fwd, sizeof(fwd), "%s", argv[2]);
		if ((colon = strrchr(fwd, ':')) != NULL)
			*colon = '@';
		ctx = mode == M_EVENT ? ub_ctx_create_event(base) :
		    ub_ctx_create();
		ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
		ub_ctx_set_option(ctx, "local-zone:", "test. transparent");
		ub_ctx_set_fwd(ctx, fwd);
		if (mode == M_ASYNC) {
			ub_ctx_async(ctx, 1);
			ev = event_new(base, ub_fd(ctx), EV_READ | EV_PERSIST,
			    on_fd, NULL);
			event_add(ev, NULL);
		}
	}
	run(1); /* fills the cache */
	secs = run(n);
	printf("%s: %ld queries in %.3f s = %.0f q/s (%ld failed)\n",
	    argv[1], n, secs, n / secs, failed);
	if (ev != NULL)
		event_free(ev);
	if (ctx != NULL)
		ub_ctx_delete(ctx);
	dns_free(dns);
	event_free(refill);
	event_base_free(base);
	return 0;
}
