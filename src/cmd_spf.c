/*
 * mxgate spf: one SPF check (RFC 7208) from the command line, or a batch
 * of them for benchmarks.
 *
 *   mxgate spf [--dns HOST:PORT] [--trace] IP SENDER [HELO]
 *     SENDER "<>" (or "") is the null reverse-path, which checks HELO;
 *     prints the result word, then the explanation (fail only) and the
 *     problem, if any, as "problem: TEXT". --trace writes each term, each
 *     DNS query with its answer class and the counters to stderr.
 *   mxgate spf [--dns HOST:PORT] --batch FILE [--concurrency N]
 *       [--repeat N] [--no-cache] [--loops N]
 *     FILE has one "IP SENDER [HELO]" per line (SENDER "<>" is null);
 *     prints one result word per check in input order, and on stderr the
 *     rate and the latency percentiles. --loops splits the checks (and
 *     the concurrency) over N event loops on threads of their own, each
 *     with its own resolver and caches, as the server runs one per core.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "cmd.h"
#include "conf/conf.h"
#include "dns/dns.h"
#include "spf/spf.h"

#define BATCH_LINE_MAX 1024

struct job {
	struct batch *batch;
	struct sockaddr_storage ss;
	char *sender, *helo;
	enum spf_result result;
	double started, usec;
};

/*
 * One loop of a batch, run by batch_loop() on a thread of its own. The
 * loops take their next check from one shared counter, as connections go
 * to whichever loop accepts them, so none idles while another has a queue.
 */
struct batch {
	struct spf *spf;
	struct job *jobs;
	size_t count;
	atomic_size_t *next;
	size_t inflight, concurrency;
	struct event_base *base;
	struct dns *dns;
};

struct single {
	bool done;
	struct spf_outcome out;
};

static int
usage(void)
{
	fprintf(stderr, "usage: mxgate spf [--dns HOST:PORT] [--trace] IP "
	    "SENDER [HELO]\n"
	    "       (SENDER \"<>\" is the null reverse-path: HELO is "
	    "checked)\n"
	    "       mxgate spf [--dns HOST:PORT] --batch FILE "
	    "[--concurrency N] [--repeat N] [--no-cache] [--loops N]\n");
	return 2;
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static bool
parse_ip(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

static void
on_trace(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "trace: %s\n", line);
}

static void
on_single(void *arg, const struct spf_outcome *o)
{
	struct single *s = arg;

	s->done = true;
	s->out = *o;
}

static void batch_fill(struct batch *b);

static void
on_job(void *arg, const struct spf_outcome *o)
{
	struct job *j = arg;
	struct batch *b = j->batch;

	j->result = o->result;
	j->usec = now_us() - j->started;
	b->inflight--;
	batch_fill(b);
}

static void
batch_fill(struct batch *b)
{
	while (b->inflight < b->concurrency) {
		size_t i = atomic_fetch_add(b->next, 1);
		struct job *j;

		if (i >= b->count)
			return;
		j = &b->jobs[i];
		j->batch = b;
		j->started = now_us();
		b->inflight++;
		if (spf_check_start(b->spf, (struct sockaddr *)&j->ss,
		    j->sender, j->helo, on_job, j) == NULL) {
			b->inflight--;
			j->result = SPF_PERMERROR;
		}
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static size_t
batch_load(const char *file, unsigned repeat, struct job **out)
{
	char line[BATCH_LINE_MAX];
	struct job *jobs = NULL;
	size_t n = 0, cap = 0, base, i;
	unsigned r;
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *ip = strtok(line, " \t\r\n");
		char *sender = strtok(NULL, " \t\r\n");
		char *helo = strtok(NULL, " \t\r\n");

		if (ip == NULL || ip[0] == '#' || sender == NULL)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			jobs = xrealloc(jobs, cap * sizeof(*jobs));
		}
		memset(&jobs[n], 0, sizeof(jobs[n]));
		if (!parse_ip(ip, &jobs[n].ss)) {
			fprintf(stderr, "mxgate spf: bad IP '%s'\n", ip);
			continue;
		}
		jobs[n].sender = strcmp(sender, "<>") == 0 ? NULL :
		    xstrdup(sender);
		jobs[n].helo = helo ? xstrdup(helo) : NULL;
		n++;
	}
	if (f != stdin)
		fclose(f);
	base = n;
	jobs = xrealloc(jobs, (base * (repeat ? repeat : 1) + 1) *
	    sizeof(*jobs));
	for (r = 1; r < repeat; r++)
		for (i = 0; i < base; i++) {
			jobs[n] = jobs[i];
			jobs[n].sender = jobs[i].sender ?
			    xstrdup(jobs[i].sender) : NULL;
			jobs[n].helo = jobs[i].helo ?
			    xstrdup(jobs[i].helo) : NULL;
			n++;
		}
	*out = jobs;
	return n;
}

static void *
batch_loop(void *arg)
{
	struct batch *b = arg;

	batch_fill(b);
	/* Not event_base_dispatch(): the resolver keeps events of its own
	 * (a retry, a TCP connection) long after the last answer. */
	while (b->inflight > 0)
		if (event_base_loop(b->base, EVLOOP_ONCE) != 0)
			break;
	return NULL;
}

static int
run_batch(const struct dns_options *dns_opt,
    const struct spf_options *spf_opt, const char *file,
    unsigned concurrency, unsigned repeat, unsigned loops)
{
	struct batch *share = xcalloc(loops, sizeof(*share));
	pthread_t *threads = xcalloc(loops, sizeof(*threads));
	struct job *jobs = NULL;
	atomic_size_t next = 0;
	size_t count, i;
	double t0, secs, *lat;
	unsigned l;
	int rc = 0;

	count = batch_load(file, repeat, &jobs);
	if (count == 0) {
		fprintf(stderr, "mxgate spf: no checks in %s\n", file);
		rc = 2;
		goto out;
	}
	/* The loops are made first, as the server makes them at start. */
	for (l = 0; l < loops; l++) {
		struct batch *b = &share[l];
		char err[256];

		b->jobs = jobs;
		b->count = count;
		b->next = &next;
		b->concurrency = (concurrency + loops - 1 - l) / loops;
		b->base = event_base_new();
		b->dns = dns_new_unbound(b->base, dns_opt, err, sizeof(err));
		if (b->dns == NULL) {
			fprintf(stderr, "mxgate spf: resolver: %s\n", err);
			rc = 1;
			goto out;
		}
		b->spf = spf_new(b->base, b->dns, spf_opt);
	}
	t0 = now_us();
	for (l = 0; l < loops; l++)
		if (pthread_create(&threads[l], NULL, batch_loop, &share[l]) !=
		    0) {
			fprintf(stderr, "mxgate spf: no thread\n");
			exit(1);
		}
	for (l = 0; l < loops; l++)
		pthread_join(threads[l], NULL);
	secs = (now_us() - t0) / 1e6;
	lat = xmalloc(count * sizeof(*lat));
	for (i = 0; i < count; i++) {
		printf("%s\n", spf_result_str(jobs[i].result));
		lat[i] = jobs[i].usec;
	}
	qsort(lat, count, sizeof(*lat), cmp_double);
	fprintf(stderr, "checks=%zu seconds=%.3f rate=%.0f/s p50_us=%.1f "
	    "p99_us=%.1f concurrency=%u loops=%u\n", count, secs,
	    (double)count / secs, lat[count / 2], lat[count * 99 / 100],
	    concurrency, loops);
	free(lat);
out:
	for (l = 0; l < loops; l++) {
		spf_free(share[l].spf);
		dns_free(share[l].dns);
		if (share[l].base)
			event_base_free(share[l].base);
	}
	for (i = 0; i < count; i++) {
		free(jobs[i].sender);
		free(jobs[i].helo);
	}
	free(jobs);
	free(share);
	free(threads);
	return rc;
}

int
cmd_spf(int argc, char **argv)
{
	const char *server = NULL, *batch = NULL, *sender = NULL;
	struct spf_options opt = { 0 };
	struct dns_options dopt = { 0 };
	unsigned concurrency = 100, repeat = 1, loops = 1;
	struct sockaddr_storage ss;
	struct single one = { 0 };
	struct event_base *base;
	struct dns *dns;
	struct spf *spf;
	char err[256];
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (strcmp(argv[i], "--dns") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strcmp(argv[i], "--trace") == 0)
			opt.trace = on_trace;
		else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
			batch = argv[++i];
		else if (strcmp(argv[i], "--concurrency") == 0 && i + 1 < argc)
			concurrency = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--loops") == 0 && i + 1 < argc)
			loops = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--no-cache") == 0)
			opt.no_cache = true;
		else
			return usage();
	}
	/* Every loop needs a check in flight, or it would wait forever. */
	if (batch ? i != argc || loops == 0 || loops > CONF_LOOPS_MAX ||
	    concurrency < loops : argc - i < 2 || argc - i > 3)
		return usage();
	if (server != NULL) {
		dopt.servers = &server;
		dopt.server_count = 1;
	}
	if (batch)
		return run_batch(&dopt, &opt, batch, concurrency, repeat,
		    loops);
	if (!batch && !parse_ip(argv[i], &ss)) {
		fprintf(stderr, "mxgate spf: '%s' is not an IP address\n",
		    argv[i]);
		return 2;
	}
	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "mxgate spf: event_base_new failed\n");
		return 1;
	}
	dns = dns_new_unbound(base, &dopt, err, sizeof(err));
	if (dns == NULL) {
		fprintf(stderr, "mxgate spf: resolver: %s\n", err);
		event_base_free(base);
		return 1;
	}
	spf = spf_new(base, dns, &opt);
	if (strcmp(argv[i + 1], "<>") != 0)
		sender = argv[i + 1];
	spf_check_start(spf, (struct sockaddr *)&ss, sender,
	    i + 2 < argc ? argv[i + 2] : NULL, on_single, &one);
	while (!one.done)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	printf("%s\n", spf_result_str(one.out.result));
	if (one.out.explanation[0])
		printf("%s\n", one.out.explanation);
	if (one.out.problem[0])
		printf("problem: %s\n", one.out.problem);
	spf_free(spf);
	dns_free(dns);
	event_base_free(base);
	return 0;
}
