/*
 * Tests for the libunbound resolver against a scripted DNS server that runs
 * on a loopback UDP port inside the same event loop: forwarding, the
 * transparent test zones, every answer class, the cache, timeouts and
 * cancellation. No other process and no network are involved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/dns.h"

/* The scripted server: answers by the first label of the name. */
struct server {
	struct event_base *base;
	int fd;
	struct event *ev;
	unsigned queries;
};

/* "late" names are answered after this, as a recursing forwarder would. */
#define LATE_MS 1000

struct pkt {
	unsigned char b[1500];
	size_t len;
};

struct late {
	int fd;
	struct sockaddr_storage to;
	socklen_t tolen;
	struct pkt p;
};

static void
late_send(evutil_socket_t fd, short what, void *arg)
{
	struct late *l = arg;

	(void)fd;
	(void)what;
	sendto(l->fd, l->p.b, l->p.len, 0, (struct sockaddr *)&l->to,
	    l->tolen);
	free(l);
}

static void
put16(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (unsigned char)(v >> 8);
	p->b[p->len++] = (unsigned char)v;
}

static void
answer_rr(struct pkt *p, unsigned type, const void *rd, size_t rdlen)
{
	put16(p, 0xc00c); /* owner: the question name */
	put16(p, type);
	put16(p, 1);
	put16(p, 0);
	put16(p, 300);
	put16(p, (unsigned)rdlen);
	memcpy(p->b + p->len, rd, rdlen);
	p->len += rdlen;
}

static void
server_read(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	unsigned char q[512];
	struct pkt p;
	ssize_t n;
	size_t qend, an = 0;
	unsigned qtype;
	char label[64];

	(void)what;
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
	if (n < 12 + 5)
		return;
	s->queries++;
	for (qend = 12; qend < (size_t)n && q[qend] != 0; qend += q[qend] + 1)
		;
	qend += 5;
	if (qend > (size_t)n)
		return;
	qtype = (unsigned)q[qend - 4] << 8 | q[qend - 3];
	memcpy(label, q + 13, q[12]);
	label[q[12]] = '\0';
	for (size_t i = 0; label[i]; i++)
		if (label[i] >= 'A' && label[i] <= 'Z')
			label[i] += 32;
	if (strcmp(label, "silent") == 0)
		return;

	memcpy(p.b, q, qend);
	p.len = qend;
	p.b[2] = 0x84 | (q[2] & 1); /* QR, AA, RD as asked */
	p.b[3] = 0x80;              /* RA, RCODE 0 */
	p.b[10] = p.b[11] = 0;      /* no additional section */
	if (strcmp(label, "nx") == 0) {
		p.b[3] |= 3;
	} else if (strcmp(label, "broken") == 0) {
		p.b[3] |= 2;
	} else if (strcmp(label, "alias") == 0) {
		/* alias.X CNAME host.test */
		static const unsigned char rd[] = "\x04host\x04test";
		answer_rr(&p, 5, rd, sizeof(rd));
		an++;
	} else if (strcmp(label, "host") == 0 || strcmp(label, "1") == 0 ||
	    strcmp(label, "late") == 0) {
		if (qtype == 1) {
			answer_rr(&p, 1, "\xc0\x00\x02\x01", 4);
			answer_rr(&p, 1, "\xc0\x00\x02\x02", 4);
			an += 2;
		} else if (qtype == 28) {
			answer_rr(&p, 28, "\x20\x01\x0d\xb8\x00\x03\0\0"
			    "\0\0\0\0\0\0\0\x01", 16);
			an++;
		} else if (qtype == 12) {
			static const unsigned char rd[] =
			    "\x04mail\x07" "example\x04test";
			answer_rr(&p, 12, rd, sizeof(rd));
			an++;
		} else if (qtype == 16) {
			answer_rr(&p, 16, "\x07v=spf1 \x04-all", 13);
			an++;
		}
	}
	p.b[6] = 0;
	p.b[7] = (unsigned char)an;
	if (strcmp(label, "late") == 0) {
		struct late *l = malloc(sizeof(*l));
		struct timeval tv = { LATE_MS / 1000,
		    LATE_MS % 1000 * 1000 };

		l->fd = fd;
		l->to = from;
		l->tolen = fromlen;
		l->p = p;
		event_base_once(s->base, -1, EV_TIMEOUT, late_send, l, &tv);
		return;
	}
	sendto(fd, p.b, p.len, 0, (struct sockaddr *)&from, fromlen);
}

struct fix {
	struct event_base *base;
	struct server srv;
	struct dns *dns;
	char addr[64];
};

static struct dns *
resolver(struct fix *f, unsigned timeout_ms)
{
	const char *servers[] = { f->addr };
	struct dns_options opt = { servers, 1, timeout_ms, NULL, 0 };
	char err[256];
	struct dns *d = dns_new_unbound(f->base, &opt, err, sizeof(err));

	if (d == NULL)
		fail_msg("dns_new_unbound: %s", err);
	return d;
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	f->base = event_base_new();
	f->srv.base = f->base;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->srv.fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(bind(f->srv.fd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	assert_int_equal(getsockname(f->srv.fd, (struct sockaddr *)&sin,
	    &len), 0);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u",
	    ntohs(sin.sin_port));
	f->srv.ev = event_new(f->base, f->srv.fd, EV_READ | EV_PERSIST,
	    server_read, &f->srv);
	event_add(f->srv.ev, NULL);
	f->dns = resolver(f, 2000);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	dns_free(f->dns);
	event_free(f->srv.ev);
	close(f->srv.fd);
	event_base_free(f->base);
	free(f);
	return 0;
}

struct got {
	int calls;
	struct event_base *base;
	struct dns_answer a;
	struct dns_rr rr[4];
	unsigned char data[4][256];
};

static void
on_answer(void *arg, const struct dns_answer *a)
{
	struct got *g = arg;
	size_t i;

	g->calls++;
	g->a = *a;
	for (i = 0; i < a->count && i < 4; i++) {
		g->rr[i] = a->rr[i];
		memcpy(g->data[i], a->rr[i].data, a->rr[i].len + 1);
		g->rr[i].data = g->data[i];
	}
	g->a.rr = g->rr;
	event_base_loopbreak(g->base);
}

/* Exactly two records, one of them addr: libunbound rotates RRsets. */
static bool
has_addr(const struct got *g, const void *addr, size_t len)
{
	size_t i;

	if (g->a.count != 2)
		return false;
	for (i = 0; i < 2; i++)
		if (g->rr[i].len == len &&
		    memcmp(g->rr[i].data, addr, len) == 0)
			return true;
	return false;
}

static void
ask(struct fix *f, const char *name, enum dns_type type, struct got *g)
{
	memset(g, 0, sizeof(*g));
	g->base = f->base;
	assert_non_null(dns_query(f->dns, name, type, on_answer, g));
	assert_int_equal(g->calls, 0);
	event_base_dispatch(f->base);
	assert_int_equal(g->calls, 1);
}

static void
test_records(void **state)
{
	struct fix *f = *state;
	struct got g;
	unsigned before;

	ask(f, "host.example.test", DNS_T_A, &g);
	assert_int_equal(g.a.status, DNS_OK);
	assert_int_equal(g.a.security, DNS_INSECURE);
	assert_true(has_addr(&g, "\xc0\x00\x02\x01", 4));
	assert_true(has_addr(&g, "\xc0\x00\x02\x02", 4));
	ask(f, "host.example.test", DNS_T_AAAA, &g);
	assert_int_equal(g.a.status, DNS_OK);
	assert_int_equal(g.rr[0].len, 16);
	ask(f, "host.example.test", DNS_T_TXT, &g);
	assert_string_equal((const char *)g.rr[0].data, "v=spf1 -all");
	/* The RFC 6303 zone for 2001:db8::/32 goes to our server too. */
	ask(f, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.8.b.d.0.1.0."
	    "0.2.ip6.arpa", DNS_T_PTR, &g);
	assert_int_equal(g.a.status, DNS_OK);
	assert_string_equal((const char *)g.rr[0].data, "mail.example.test");
	ask(f, "1.2.0.192.in-addr.arpa", DNS_T_PTR, &g);
	assert_int_equal(g.a.status, DNS_OK);
	ask(f, "host.localhost", DNS_T_A, &g);
	assert_int_equal(g.a.status, DNS_OK);

	/* From the cache: no new query, and still not called back inline. */
	before = f->srv.queries;
	ask(f, "HOST.example.test.", DNS_T_A, &g);
	assert_int_equal(g.a.status, DNS_OK);
	assert_int_equal(f->srv.queries, before);
}

static void
test_negative(void **state)
{
	struct fix *f = *state;
	struct got g;

	ask(f, "nx.example.test", DNS_T_A, &g);
	assert_int_equal(g.a.status, DNS_NXDOMAIN);
	ask(f, "host.example.test", DNS_T_MX, &g);
	assert_int_equal(g.a.status, DNS_NODATA);
	ask(f, "broken.example.test", DNS_T_A, &g);
	assert_int_equal(g.a.status, DNS_TEMPFAIL);
	assert_string_equal(g.a.why, "servfail");
}

static void
test_cname(void **state)
{
	struct fix *f = *state;
	struct got g;

	ask(f, "alias.example.test", DNS_T_A, &g);
	assert_int_equal(g.a.status, DNS_OK);
	assert_true(has_addr(&g, "\xc0\x00\x02\x01", 4));
	assert_true(has_addr(&g, "\xc0\x00\x02\x02", 4));
}

static void
test_timeout(void **state)
{
	struct fix *f = *state;
	struct timeval t0, t1;
	struct got g;
	long ms;

	dns_free(f->dns);
	f->dns = resolver(f, 300);
	evutil_gettimeofday(&t0, NULL);
	ask(f, "silent.example.test", DNS_T_A, &g);
	evutil_gettimeofday(&t1, NULL);
	assert_int_equal(g.a.status, DNS_TEMPFAIL);
	assert_string_equal(g.a.why, "timeout");
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
	assert_true(ms >= 250 && ms < 1500);
	/* The resolver still answers others while the orphan is pending. */
	ask(f, "host.example.test", DNS_T_A, &g);
	assert_int_equal(g.a.status, DNS_OK);
}

static void
on_never(void *arg, const struct dns_answer *a)
{
	(void)arg;
	(void)a;
	fail_msg("a cancelled query called back");
}

static void
stop_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
test_cancel(void **state)
{
	struct fix *f = *state;
	struct dns_query *q;
	struct timeval tv = { 0, 300000 };
	struct got g;

	/* Cancelled while libunbound works on it, and after it answered. */
	q = dns_query(f->dns, "host.cancel.test", DNS_T_A, on_never, NULL);
	assert_non_null(q);
	dns_cancel(q);
	ask(f, "host.example.test", DNS_T_A, &g);
	q = dns_query(f->dns, "host.example.test", DNS_T_A, on_never, NULL);
	assert_non_null(q);
	dns_cancel(q);
	event_base_once(f->base, -1, EV_TIMEOUT, stop_loop, f->base, &tv);
	event_base_dispatch(f->base);
	/* Freed with queries still out: no callback, no leak. */
	assert_non_null(dns_query(f->dns, "silent.x.test", DNS_T_A, on_never,
	    NULL));
	assert_non_null(dns_query(f->dns, "host.y.test", DNS_T_A, on_never,
	    NULL));
	dns_free(f->dns);
	f->dns = NULL;
	event_base_once(f->base, -1, EV_TIMEOUT, stop_loop, f->base, &tv);
	event_base_dispatch(f->base);
}

/*
 * With two forwarders, a dead one does not stop answers from the other. A
 * query that tries the dead one first waits unknown-server-time-limit
 * (2 s) before it moves on, so the per-query limit here leaves room.
 */
static void
test_two_servers(void **state)
{
	struct fix *f = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char dead[64], err[256];
	const char *servers[2] = { dead, f->addr };
	struct dns_options opt = { servers, 2, 5000, NULL, 0 };
	struct got g;
	int fd, i;

	/* A port that was just free: nothing listens there any more. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", ntohs(sin.sin_port));
	dns_free(f->dns);
	f->dns = dns_new_unbound(f->base, &opt, err, sizeof(err));
	assert_non_null(f->dns);
	for (i = 0; i < 5; i++) {
		char name[64];

		snprintf(name, sizeof(name), "host.n%d.example.test", i);
		ask(f, name, DNS_T_A, &g);
		assert_int_equal(g.a.status, DNS_OK);
	}
}

/*
 * A forwarder answers cached names at once and a name it has to resolve a
 * second later. The fast answers must not shrink the resend timer below
 * that second: each resend would drop the answer to the query before it,
 * and the name would end in SERVFAIL after ten tries. One query, one
 * answer.
 */
static void
test_late_after_fast(void **state)
{
	struct fix *f = *state;
	struct got g;
	unsigned before;
	int i;

	for (i = 0; i < 20; i++) {
		char name[64];

		snprintf(name, sizeof(name), "host.n%d.example.test", i);
		ask(f, name, DNS_T_A, &g);
		assert_int_equal(g.a.status, DNS_OK);
	}
	before = f->srv.queries;
	ask(f, "late.example.test", DNS_T_A, &g);
	assert_int_equal(g.a.status, DNS_OK);
	assert_int_equal(f->srv.queries - before, 1);
}

static void
test_bad_options(void **state)
{
	struct fix *f = *state;
	static const char *const bad[] = {
		"dns.example.test", "127.0.0.1:0", "127.0.0.1:99999",
		"127.0.0.1:x", "[::1", "[::1]x", "",
	};
	static const char *const good[] = {
		"127.0.0.1", "::1", "[::1]:5353", "2001:db8:3::53",
	};
	struct dns_options opt = { 0 };
	char err[256];
	struct dns *d;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		opt.servers = &bad[i];
		opt.server_count = 1;
		err[0] = '\0';
		assert_null(dns_new_unbound(f->base, &opt, err, sizeof(err)));
		assert_non_null(strstr(err, "dns server"));
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		opt.servers = &good[i];
		opt.server_count = 1;
		d = dns_new_unbound(f->base, &opt, err, sizeof(err));
		if (d == NULL)
			fail_msg("%s: %s", good[i], err);
		dns_free(d);
	}
	opt.servers = &good[0];
	opt.trust_anchor = "no/such/file.key";
	assert_null(dns_new_unbound(f->base, &opt, err, sizeof(err)));
	assert_non_null(strstr(err, "trust anchor"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_servers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_late_after_fast, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
