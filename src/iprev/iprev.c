/*
 * iprev.c: PTR lookup, then forward confirmation of the PTR names in
 * parallel. The result is decided in PTR answer order, so the same DNS
 * data always gives the same confirmed name, whatever order the forward
 * answers come back in.
 */
#include "iprev/iprev.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

/* "x.x.(32 nibbles).ip6.arpa" is the longest reverse name: 72 bytes. */
#define IPREV_REVERSE_MAX 80

struct fwd {
	struct iprev *ip;
	struct dns_query *q;
	bool done, match, temp;
	char name[DNS_NAME_MAX + 1];
};

struct iprev {
	struct dns *dns;
	iprev_cb *cb;
	iprev_cb *ptr_cb; /* iprev_notify_ptr(), or NULL */
	void *arg;
	int family; /* AF_INET or AF_INET6, after unmapping */
	unsigned char addr[16];
	struct dns_query *ptrq;
	size_t nfwd;
	struct fwd fwd[IPREV_PTR_MAX];
	struct iprev_result res;
};

static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* The address as a family and bytes; IPv4-mapped IPv6 becomes IPv4. */
static int
addr_of(const struct sockaddr *sa, int *family, unsigned char *addr)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		memcpy(addr, &sin->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		const unsigned char *b = sin6->sin6_addr.s6_addr;

		if (memcmp(b, v4mapped, sizeof(v4mapped)) == 0) {
			memcpy(addr, b + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(addr, b, 16);
			*family = AF_INET6;
		}
		return 0;
	}
	return ERR_RANGE;
}

static char *
put_dec(char *p, unsigned v)
{
	if (v >= 100)
		*p++ = (char)('0' + v / 100);
	if (v >= 10)
		*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

static char *
put_hex(char *p, unsigned v)
{
	static const char hex[] = "0123456789abcdef";
	int shift, started = 0;

	for (shift = 12; shift >= 0; shift -= 4) {
		unsigned d = (v >> shift) & 0xf;

		if (d != 0 || started || shift == 0) {
			*p++ = hex[d];
			started = 1;
		}
	}
	return p;
}

/* RFC 5952 4: lower case, no leading zeros, "::" for the longest run of
 * two or more zero groups (the first such run on a tie). */
static void
addr_text(int family, const unsigned char *a, char *out)
{
	unsigned g[8];
	int i, best = -1, bestlen = 1, run;
	char *p = out;

	if (family == AF_INET) {
		for (i = 0; i < 4; i++) {
			p = put_dec(p, a[i]);
			if (i < 3)
				*p++ = '.';
		}
		*p = '\0';
		return;
	}
	for (i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	for (i = 0; i < 8; i += run > 0 ? run : 1) {
		for (run = 0; i + run < 8 && g[i + run] == 0; run++)
			;
		if (run > bestlen) {
			best = i;
			bestlen = run;
		}
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			if (i == 0)
				*p++ = ':';
			i += bestlen - 1;
			continue;
		}
		p = put_hex(p, g[i]);
		if (i < 7)
			*p++ = ':';
	}
	*p = '\0';
}

int
iprev_addr_text(const struct sockaddr *sa, char *out, size_t outsz)
{
	unsigned char addr[16];
	int family;

	if (outsz < IPREV_ADDR_MAX || addr_of(sa, &family, addr) < 0) {
		if (outsz > 0)
			out[0] = '\0';
		return ERR_RANGE;
	}
	addr_text(family, addr, out);
	return 0;
}

/* RFC 1035 3.5 and RFC 3596 2.5: the name the PTR records live at. */
static void
reverse_name(int family, const unsigned char *a, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	int i;

	if (family == AF_INET) {
		for (i = 3; i >= 0; i--) {
			p = put_dec(p, a[i]);
			*p++ = '.';
		}
		memcpy(p, "in-addr.arpa", sizeof("in-addr.arpa"));
		return;
	}
	for (i = 15; i >= 0; i--) {
		*p++ = hex[a[i] & 0xf];
		*p++ = '.';
		*p++ = hex[a[i] >> 4];
		*p++ = '.';
	}
	memcpy(p, "ip6.arpa", sizeof("ip6.arpa"));
}

bool
iprev_valid_hostname(const char *name, size_t len)
{
	size_t i, label = 0, labels = 1;
	bool digits_only = true;

	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return false;
			label = 0;
			labels++;
			digits_only = true;
			continue;
		}
		if (c == '-') {
			if (label == 0)
				return false;
		} else if (c >= '0' && c <= '9') {
			/* stays digits_only */
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			digits_only = false;
		} else {
			return false;
		}
		if (c == '-')
			digits_only = false;
		if (++label > DNS_LABEL_MAX)
			return false;
	}
	return label > 0 && name[len - 1] != '-' && labels >= 2 &&
	    !digits_only;
}

const char *
iprev_status_str(enum iprev_status status)
{
	switch (status) {
	case IPREV_PASS:
		return "pass";
	case IPREV_FAIL:
		return "fail";
	case IPREV_TEMPERROR:
		return "temperror";
	case IPREV_PERMERROR:
		return "permerror";
	}
	return "?";
}

static void
finish(struct iprev *ip, enum iprev_status status, const char *why)
{
	size_t i;

	for (i = 0; i < ip->nfwd; i++)
		if (!ip->fwd[i].done)
			dns_cancel(ip->fwd[i].q);
	ip->res.status = status;
	/* A copy: the DNS answer that may have given the reason is gone
	 * once the caller keeps the result. */
	snprintf(ip->res.why, sizeof(ip->res.why), "%s", why);
	log_debug("iprev addr=%s result=%s reason=\"%s\" name=%s",
	    ip->res.addr, iprev_status_str(status), why,
	    ip->res.name[0] ? ip->res.name : "-");
	ip->cb(ip->arg, &ip->res);
	free(ip);
}

/*
 * Decides once it can: the first name, in PTR order, that maps back wins,
 * as soon as every name before it has answered without a match.
 */
static void
decide(struct iprev *ip)
{
	bool temp = false;
	size_t i;

	for (i = 0; i < ip->nfwd; i++) {
		const struct fwd *f = &ip->fwd[i];

		if (!f->done)
			return;
		if (f->match) {
			memcpy(ip->res.name, f->name, sizeof(f->name));
			finish(ip, IPREV_PASS, "forward-confirmed");
			return;
		}
		temp |= f->temp;
	}
	if (temp)
		finish(ip, IPREV_TEMPERROR, "forward lookup failed");
	else
		finish(ip, IPREV_FAIL, "not forward-confirmed");
}

static void
on_forward(void *arg, const struct dns_answer *a)
{
	struct fwd *f = arg;
	struct iprev *ip = f->ip;
	size_t i, n = ip->family == AF_INET ? 4 : 16;

	f->done = true;
	f->q = NULL;
	if (a->status == DNS_TEMPFAIL)
		f->temp = true;
	for (i = 0; i < a->count; i++)
		if (a->rr[i].len == n &&
		    memcmp(a->rr[i].data, ip->addr, n) == 0)
			f->match = true;
	decide(ip);
}

/*
 * The PTR half of the result, while the forward lookups are out. A copy,
 * and the last use of ip: the callee may cancel the check.
 */
static void
notify_ptr(struct iprev *ip)
{
	struct iprev_result r = ip->res;

	r.status = IPREV_TEMPERROR;
	snprintf(r.why, sizeof(r.why), "forward lookup pending");
	ip->ptr_cb(ip->arg, &r);
}

static void
on_ptr(void *arg, const struct dns_answer *a)
{
	struct iprev *ip = arg;
	enum dns_type type = ip->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
	size_t i;

	ip->ptrq = NULL;
	switch (a->status) {
	case DNS_TEMPFAIL:
		finish(ip, IPREV_TEMPERROR, a->why ? a->why : "dns");
		return;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		finish(ip, IPREV_PERMERROR, "no ptr");
		return;
	case DNS_OK:
		break;
	}
	for (i = 0; i < a->count && ip->nfwd < IPREV_PTR_MAX; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (!iprev_valid_hostname((const char *)rr->data, rr->len))
			continue;
		memcpy(ip->fwd[ip->nfwd].name, rr->data, rr->len + 1);
		ip->fwd[ip->nfwd].ip = ip;
		ip->nfwd++;
	}
	if (ip->nfwd == 0) {
		finish(ip, IPREV_FAIL, "no valid ptr name");
		return;
	}
	ip->res.ptr_exists = true;
	memcpy(ip->res.ptr_name, ip->fwd[0].name, sizeof(ip->fwd[0].name));
	for (i = 0; i < ip->nfwd; i++) {
		struct fwd *f = &ip->fwd[i];

		f->q = dns_query(ip->dns, f->name, type, on_forward, f);
		/* A name dns refuses can confirm nothing. */
		if (f->q == NULL)
			f->done = true;
	}
	/* Only when no query started is nothing left to call back. */
	for (i = 0; i < ip->nfwd; i++)
		if (ip->fwd[i].q != NULL)
			break;
	if (i == ip->nfwd)
		decide(ip);
	else if (ip->ptr_cb != NULL)
		notify_ptr(ip);
}

struct iprev *
iprev_start(struct dns *dns, const struct sockaddr *sa, iprev_cb *cb,
    void *arg)
{
	char rev[IPREV_REVERSE_MAX];
	struct iprev *ip;
	unsigned char addr[16];
	int family;

	if (addr_of(sa, &family, addr) < 0)
		return NULL;
	ip = xcalloc(1, sizeof(*ip));
	ip->dns = dns;
	ip->cb = cb;
	ip->arg = arg;
	ip->family = family;
	memcpy(ip->addr, addr, sizeof(addr));
	addr_text(family, addr, ip->res.addr);
	reverse_name(family, addr, rev);
	ip->ptrq = dns_query(dns, rev, DNS_T_PTR, on_ptr, ip);
	if (ip->ptrq == NULL) {
		free(ip);
		return NULL;
	}
	return ip;
}

void
iprev_notify_ptr(struct iprev *ip, iprev_cb *cb)
{
	ip->ptr_cb = cb;
}

void
iprev_cancel(struct iprev *ip)
{
	size_t i;

	if (ip == NULL)
		return;
	if (ip->ptrq != NULL)
		dns_cancel(ip->ptrq);
	for (i = 0; i < ip->nfwd; i++)
		if (!ip->fwd[i].done)
			dns_cancel(ip->fwd[i].q);
	free(ip);
}
