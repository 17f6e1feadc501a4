/*
 * mxgate dkim [--dns HOST:PORT | --keys FILE] [--bench N] [FILE|-]
 *
 * Verifies every DKIM signature of one message and prints one line per
 * signature, "RESULT d=DOMAIN s=SELECTOR a=ALG [reason]", or "none".
 * Bare LF line ends are turned into CRLF first, as the message would be on
 * the wire. --keys takes zone-file-like lines ("NAME TXT "..."", as
 * dns_table_load() reads them) instead of DNS, like OpenDKIM's
 * TestPublicKeys. --bench N verifies the message N times in one process
 * with a key cache and prints the rate on stderr, per second of CPU time
 * as openssl speed counts, so that a busy host skews both alike.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/span.h"
#include "cmd.h"
#include "dkim/dkim.h"
#include "dns/dns.h"

/* Chunks as a DATA reader would hand them over. */
#define CMD_DKIM_CHUNK 16384

struct run {
	bool done;
	bool quiet; /* --bench repeats: the lines are known already */
	struct buf out;
};

static int
read_all(const char *path, struct buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char tmp[65536];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "mxgate dkim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(b, tmp, n);
	if (ferror(f)) {
		fprintf(stderr, "mxgate dkim: %s: read error\n", path);
		if (f != stdin)
			fclose(f);
		return -1;
	}
	if (f != stdin)
		fclose(f);
	return 0;
}

/* Bare LF becomes CRLF; CRLF stays. */
static void
to_crlf(const struct buf *in, struct buf *out)
{
	size_t i, start = 0;

	for (i = 0; i < in->len; i++) {
		if (in->p[i] != '\n' || (i > 0 && in->p[i - 1] == '\r'))
			continue;
		buf_add(out, in->p + start, i - start);
		buf_add(out, "\r\n", 2);
		start = i + 1;
	}
	buf_add(out, in->p + start, in->len - start);
}

static void
on_results(void *arg, const struct dkim_result *res, size_t n)
{
	struct run *r = arg;
	size_t i;

	r->done = true;
	if (r->quiet)
		return;
	buf_reset(&r->out);
	if (n == 0)
		buf_adds(&r->out, "none\n");
	for (i = 0; i < n; i++) {
		buf_addf(&r->out, "%s d=%s s=%s a=%s",
		    dkim_status_str(res[i].status), res[i].domain,
		    res[i].selector, res[i].algorithm);
		if (res[i].reason)
			buf_addf(&r->out, " %s", res[i].reason);
		buf_addc(&r->out, '\n');
	}
}

static int
verify_once(struct event_base *base, struct dns *dns,
    const struct dkim_options *opt, const struct buf *msg, struct run *r)
{
	struct dkim_verify *v = dkim_verify_new(dns, opt);
	size_t off;

	r->done = false;
	for (off = 0; off < msg->len; off += CMD_DKIM_CHUNK)
		dkim_verify_feed(v, msg->p + off, msg->len - off <
		    CMD_DKIM_CHUNK ? msg->len - off : CMD_DKIM_CHUNK);
	dkim_verify_finish(v, on_results, r);
	while (!r->done)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	dkim_verify_free(v);
	return r->done ? 0 : -1;
}

static int
usage(void)
{
	fprintf(stderr, "usage: mxgate dkim [--dns HOST:PORT | --keys FILE] "
	    "[--bench N] [FILE|-]\n");
	return 2;
}

static struct dns *
make_dns(struct event_base *base, const char *server, const char *keys)
{
	struct dns *dns;

	if (keys) {
		struct buf text = { 0 };
		int rc;

		if (read_all(keys, &text) < 0)
			return NULL;
		dns = dns_new_table(base);
		rc = dns_table_load(dns, text.p ? text.p : "", text.len);
		buf_free(&text);
		if (rc < 0) {
			fprintf(stderr, "mxgate dkim: %s:%d: bad record\n",
			    keys, -rc);
			dns_free(dns);
			return NULL;
		}
	} else {
		struct dns_options o = { 0 };
		char err[256];

		if (server) {
			o.servers = &server;
			o.server_count = 1;
		}
		dns = dns_new_unbound(base, &o, err, sizeof(err));
		if (dns == NULL)
			fprintf(stderr, "mxgate dkim: dns: %s\n", err);
	}
	return dns;
}

int
cmd_dkim(int argc, char **argv)
{
	const char *server = NULL, *keys = NULL, *path = "-";
	unsigned long long bench = 0;
	struct buf raw = { 0 }, msg = { 0 };
	struct dkim_options opt = { 0 };
	struct event_base *base;
	struct dns *dns;
	struct run r = { 0 };
	int i, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dns") == 0 && i + 1 < argc)
			server = argv[++i];
		else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
			keys = argv[++i];
		else if (strcmp(argv[i], "--bench") == 0 && i + 1 < argc) {
			if (!span_to_u64(span_cstr(argv[++i]), 100000000,
			    &bench) || bench == 0)
				return usage();
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return usage();
		else if (i == argc - 1)
			path = argv[i];
		else
			return usage();
	}
	if (server && keys)
		return usage();
	if (read_all(path, &raw) < 0)
		return 1;
	to_crlf(&raw, &msg);
	buf_free(&raw);
	base = event_base_new();
	if ((dns = make_dns(base, server, keys)) == NULL) {
		buf_free(&msg);
		event_base_free(base);
		return keys ? 2 : 1;
	}
	opt.cache = dkim_keycache_new(64, 3600);
	if (verify_once(base, dns, &opt, &msg, &r) == 0) {
		struct timespec t0, t1;
		unsigned long long k;
		double s;

		fwrite(r.out.p, 1, r.out.len, stdout);
		rc = 0;
		r.quiet = true;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
		for (k = 0; k < bench && rc == 0; k++)
			rc = verify_once(base, dns, &opt, &msg, &r) ? 1 : 0;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
		s = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (bench)
			fprintf(stderr,
			    "%llu verifications in %.3f s CPU: %.0f/s\n", bench,
			    s, (double)bench / s);
	}
	dkim_keycache_free(opt.cache);
	dns_free(dns);
	event_base_free(base);
	buf_free(&r.out);
	buf_free(&msg);
	return rc;
}
