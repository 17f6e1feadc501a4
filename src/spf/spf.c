/*
 * The SPF evaluator (RFC 7208 4 and 5): check_host() as a state machine
 * that yields at each DNS query and resumes from the dns.h callback.
 *
 * A check walks a stack of frames, one per record being evaluated: the
 * record of <domain> at the bottom, one more per "include" in progress. A
 * "redirect" replaces the record of its frame, as the RFC's tail call. The
 * parsed records come from the shared cache and are held by reference.
 * Every DNS answer is handled inside its callback (answers are borrowed),
 * then the walk continues until the next query or the end.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/ascii.h"
#include "base/log.h"
#include "base/mem.h"
#include "spf/spf.h"
#include "spf/spf_int.h"

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets; room for more. */
#define SPF_SENDER_MAX 512
#define SPF_CACHE_DEFAULT 10000
/* RFC 7208 5: "Such a limit SHOULD allow at least 20 seconds." */
#define SPF_TIMEOUT_DEFAULT_MS 20000
/* Depth: the first record plus one per include, and includes count. */
#define SPF_DEPTH_MAX (SPF_MAX_DNS_TERMS + 1)

struct spf {
	struct event_base *base;
	struct dns *dns;
	struct spf_cache *cache;
	bool caching;
	unsigned max_void;
	unsigned timeout_ms;
	char *default_exp;
	char *receiver;
	spf_trace_cb *trace;
	void *trace_arg;
	struct spf_check *checks; /* running, for spf_free() */
};

enum frame_kind { FRAME_TOP, FRAME_INCLUDE, FRAME_REDIRECT };

struct frame {
	struct spf_entry *e; /* NULL while its record is being fetched */
	size_t next;         /* the next term to evaluate */
	enum frame_kind kind;
	char domain[SPF_NAME_MAX + 1];
};

/* What the query in flight is for. */
enum wait {
	W_NONE,
	W_RECORD,    /* TXT of the top frame's domain */
	W_ADDR,      /* "a": A or AAAA of the target */
	W_MX,        /* "mx": the MX names */
	W_MX_ADDR,   /* "mx": A or AAAA of names[ni] */
	W_PTR,       /* "ptr" or %{p}: the PTR names of the client */
	W_PTR_ADDR,  /* "ptr" or %{p}: A or AAAA of names[ni] */
	W_EXISTS,    /* "exists": A of the target */
	W_EXP,       /* TXT of the exp= target */
};

/* Where the walk is; the query in flight, if any, is in wait. */
enum stage {
	STAGE_TERMS,    /* walking the records */
	STAGE_EXP,      /* result fail: fetch the exp= text */
	STAGE_EXP_WAIT, /* its TXT query is in flight */
	STAGE_EXP_TEXT, /* exp_text waits for %{p} */
};

struct spf_check {
	struct spf *spf;
	struct spf_check *prev, *next;
	spf_cb *cb;
	void *arg;
	struct dns_query *q;
	struct event *defer; /* to call back when done without any query */
	struct event *timer; /* the time limit, armed at the first query */
	enum wait wait;
	bool starting, done;
	enum stage stage;
	enum dns_type qtype;
	char qname[SPF_NAME_MAX + 1];
	char *exp_text; /* an exp= text kept while %{p} is fetched */

	int family;
	unsigned char ip[16];
	unsigned lookups, voids;

	struct frame stack[SPF_DEPTH_MAX];
	int depth;
	const struct spf_term *term; /* the mechanism in progress */
	char target[SPF_NAME_MAX + 2];

	/* "mx" and "ptr" names, and the state of %{p} */
	char names[SPF_MAX_PTR][SPF_NAME_MAX + 1];
	size_t nnames, ni, nvalid;
	bool p_fetch, p_done;

	struct spf_macro_env env;
	char sender[SPF_SENDER_MAX], helo[SPF_NAME_MAX + 2];
	char istr[64], cstr[INET6_ADDRSTRLEN], tstr[24];
	char pstr[SPF_NAME_MAX + 1];

	struct spf_outcome out;
};

static void check_run(struct spf_check *c);
static bool record_usable(struct spf_check *c);

const char *
spf_result_str(enum spf_result r)
{
	switch (r) {
	case SPF_NONE: return "none";
	case SPF_NEUTRAL: return "neutral";
	case SPF_PASS: return "pass";
	case SPF_FAIL: return "fail";
	case SPF_SOFTFAIL: return "softfail";
	case SPF_TEMPERROR: return "temperror";
	case SPF_PERMERROR: return "permerror";
	}
	return "permerror";
}

static const char *
status_str(enum dns_status s)
{
	switch (s) {
	case DNS_OK: return "ok";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_NODATA: return "nodata";
	case DNS_TEMPFAIL: return "tempfail";
	}
	return "?";
}

static void
trace(struct spf_check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
trace(struct spf_check *c, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (c->spf->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->spf->trace(c->spf->trace_arg, line);
}

static long long
now_s(struct spf *spf)
{
	struct timeval tv;

	if (event_base_gettimeofday_cached(spf->base, &tv) < 0)
		gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec;
}

/* Ends the check with r; the text goes to the problem field. */
static void
finish(struct spf_check *c, enum spf_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
finish(struct spf_check *c, enum spf_result r, const char *fmt, ...)
{
	va_list ap;

	c->out.result = r;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(c->out.problem, sizeof(c->out.problem), fmt, ap);
		va_end(ap);
	}
	c->done = true;
}

/* ---- address matching ---- */

static bool
prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[bytes] ^ b[bytes]) & (0xff00 >> rest) & 0xff) == 0;
}

/* Does a record of the client's family cover the client? */
static bool
addr_match(const struct spf_check *c, const struct dns_rr *rr,
    unsigned cidr4, unsigned cidr6)
{
	if (c->family == AF_INET && rr->type == DNS_T_A && rr->len == 4)
		return prefix_match(c->ip, rr->data, cidr4);
	if (c->family == AF_INET6 && rr->type == DNS_T_AAAA && rr->len == 16)
		return prefix_match(c->ip, rr->data, cidr6);
	return false;
}

static enum dns_type
addr_type(const struct spf_check *c)
{
	return c->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* ---- DNS ---- */

static const char *
type_str(enum dns_type t)
{
	switch (t) {
	case DNS_T_A: return "A";
	case DNS_T_AAAA: return "AAAA";
	case DNS_T_MX: return "MX";
	case DNS_T_PTR: return "PTR";
	case DNS_T_TXT: return "TXT";
	case DNS_T_CNAME: return "CNAME";
	}
	return "?";
}

static void on_answer(void *arg, const struct dns_answer *a);

enum ask {
	ASK_BAD,  /* the name cannot be asked for: no query */
	ASK_WAIT, /* a query is in flight */
	ASK_DONE, /* answered from the cache: its handler has already run */
};

static void dispatch(struct spf_check *c, enum wait w,
    const struct dns_answer *a);
static void arm_timer(struct spf_check *c);

/* Looks a name up: in the cache (not TXT, see fetch_record), or in DNS. */
static enum ask
ask(struct spf_check *c, const char *name, enum dns_type type, enum wait w)
{
	struct spf_entry *e;
	size_t n = strlen(name);

	if (n > SPF_NAME_MAX)
		n = SPF_NAME_MAX;
	memcpy(c->qname, name, n);
	c->qname[n] = '\0';
	c->qtype = type;
	if (type != DNS_T_TXT && (e = spf_cache_get(c->spf->cache, type,
	    c->qname, now_s(c->spf))) != NULL) {
		trace(c, "dns %s %s -> %zu record%s (cached)", type_str(type),
		    c->qname, e->answer.count, e->answer.count == 1 ? "" :
		    "s");
		dispatch(c, w, &e->answer);
		spf_entry_unref(e);
		return ASK_DONE;
	}
	c->q = dns_query(c->spf->dns, name, type, on_answer, c);
	if (c->q == NULL) {
		trace(c, "dns %s %s -> not a valid name", type_str(type), name);
		return ASK_BAD;
	}
	c->wait = w;
	if (c->timer == NULL)
		arm_timer(c);
	return ASK_WAIT;
}

/* RFC 7208 4.6.4: a limit on queries that answered nothing. */
static bool
count_void(struct spf_check *c, const struct dns_answer *a)
{
	if (a->status != DNS_NXDOMAIN && a->status != DNS_NODATA)
		return true;
	trace(c, "void lookup %u (limit %u)", c->voids + 1, c->spf->max_void);
	if (++c->voids > c->spf->max_void) {
		finish(c, SPF_PERMERROR, "more than %u void lookups",
		    c->spf->max_void);
		return false;
	}
	return true;
}

/* RFC 7208 4.6.4: at most 10 terms that cause DNS queries. */
static bool
count_lookup(struct spf_check *c)
{
	trace(c, "DNS lookup term %u (limit %d)", c->lookups + 1,
	    SPF_MAX_DNS_TERMS);
	if (++c->lookups > SPF_MAX_DNS_TERMS) {
		finish(c, SPF_PERMERROR, "more than %d DNS lookups",
		    SPF_MAX_DNS_TERMS);
		return false;
	}
	return true;
}

/* ---- names ---- */

/* Lower case, no trailing dot; false when not a usable domain name. */
static bool
name_norm(const char *in, size_t len, char *out, bool multi_label)
{
	size_t i, label = 0, dots = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
			dots++;
		} else if (++label > DNS_LABEL_MAX) {
			return false;
		}
		out[i] = (char)ascii_lower(ch);
	}
	out[len] = '\0';
	return !multi_label || dots > 0;
}

/* Is name the target or a subdomain of it? Both normalised. */
static bool
name_under(const char *name, const char *target)
{
	size_t n = strlen(name), t = strlen(target);

	if (n == t)
		return strcmp(name, target) == 0;
	return n > t && name[n - t - 1] == '.' &&
	    strcmp(name + n - t, target) == 0;
}

static struct frame *
top(struct spf_check *c)
{
	return &c->stack[c->depth];
}

/*
 * Expands a domain-spec (with its SPF_MF_* flags) into c->target, or
 * copies <domain> when it is empty. Returns false if the result is not a
 * name we can look up, which callers treat as a name that does not exist.
 */
static bool
expand_target(struct spf_check *c, struct span spec, unsigned flags)
{
	char buf[SPF_NAME_MAX + 2];
	struct frame *f = top(c);
	int n;

	if (spec.len == 0) {
		memcpy(c->target, f->domain, strlen(f->domain) + 1);
		return true;
	}
	/* Plain names skip the expander; long ones are cut there (7.3). */
	if (!(flags & SPF_MF_MACRO) && spec.len <= SPF_NAME_MAX)
		return name_norm(spec.p, spec.len, c->target, false);
	c->env.d = span_cstr(f->domain);
	n = spf_macro_expand(spec.p, spec.len, &c->env, SPF_CTX_DOMAIN, buf,
	    sizeof(buf));
	if (n < 0 || !name_norm(buf, (size_t)n, c->target, false)) {
		trace(c, "target %.*s -> not a valid name", (int)spec.len,
		    spec.p);
		c->target[0] = '\0';
		return false;
	}
	return true;
}

/* ---- %{p} (RFC 7208 7.3) ---- */

static void
reverse_name(const struct spf_check *c, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (c->family == AF_INET) {
		snprintf(out, outsz, "%u.%u.%u.%u.in-addr.arpa", c->ip[3],
		    c->ip[2], c->ip[1], c->ip[0]);
		return;
	}
	/* 16 bytes, 4 characters each, then "ip6.arpa": 73 of outsz 80 */
	for (i = 16; i-- > 0;) {
		out[o++] = hex[c->ip[i] & 15];
		out[o++] = '.';
		out[o++] = hex[c->ip[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", 9);
}

/*
 * Starts the PTR lookup shared by "ptr" and %{p}. Returns false when no
 * query started (then nothing is waited for).
 */
static bool
start_ptr(struct spf_check *c)
{
	char name[80];

	reverse_name(c, name, sizeof(name));
	c->nnames = c->ni = c->nvalid = 0;
	return ask(c, name, DNS_T_PTR, W_PTR) != ASK_BAD;
}

/*
 * RFC 7208 7.3: %{p} is a validated name of the client, preferably
 * <domain> itself, else one of its subdomains, else any; "unknown" when
 * none could be validated. names[0..nnames) holds the validated ones.
 */
static const char *
p_pick(const struct spf_check *c, const char *domain)
{
	size_t i;

	for (i = 0; i < c->nnames; i++)
		if (strcmp(c->names[i], domain) == 0)
			return c->names[i];
	for (i = 0; i < c->nnames; i++)
		if (name_under(c->names[i], domain))
			return c->names[i];
	return c->nnames > 0 ? c->names[0] : "unknown";
}

static void
p_choose(struct spf_check *c)
{
	const char *p = p_pick(c, top(c)->domain);

	memcpy(c->pstr, p, strlen(p) + 1);
	c->p_done = true;
	c->p_fetch = false;
	c->env.p = span_cstr(c->pstr);
	trace(c, "macro p = %s", c->pstr);
}

/*
 * Before a term whose domain-spec uses %{p}: fetch it first, then run the
 * same term again. Returns true when the caller must wait.
 */
static bool
need_p(struct spf_check *c, unsigned flags)
{
	if (!(flags & SPF_MF_P) || c->p_done)
		return false;
	c->p_fetch = true;
	if (start_ptr(c))
		return true;
	p_choose(c);
	return false;
}

/* ---- records and frames ---- */

/* The record for the top frame: from the cache, or a TXT query. */
static void
fetch_record(struct spf_check *c)
{
	struct frame *f = top(c);

	f->e = spf_cache_get(c->spf->cache, DNS_T_TXT, f->domain,
	    now_s(c->spf));
	if (f->e != NULL) {
		trace(c, "record %s (cached): %s", f->domain,
		    f->e->kind == SPF_E_RECORD ? f->e->text :
		    f->e->kind == SPF_E_NONE ? "no SPF record" :
		    f->e->problem);
		record_usable(c);
		return;
	}
	if (ask(c, f->domain, DNS_T_TXT, W_RECORD) == ASK_BAD)
		finish(c, f->kind == FRAME_TOP ? SPF_NONE : SPF_PERMERROR,
		    "invalid domain %s", f->domain);
}

static bool record_usable(struct spf_check *c);

static void
record_missing(struct spf_check *c, const char *why)
{
	struct frame *f = top(c);

	if (f->kind == FRAME_TOP) {
		finish(c, SPF_NONE, "no SPF record at %s (%s)", f->domain, why);
		return;
	}
	/* RFC 7208 5.2 and 6.1: include or redirect of a domain with no
	 * record is a permerror. */
	finish(c, SPF_PERMERROR, "no SPF record at %s, %s target (%s)",
	    f->domain, f->kind == FRAME_INCLUDE ? "include" : "redirect",
	    why);
}

static void
record_answer(struct spf_check *c, const struct dns_answer *a)
{
	struct frame *f = top(c);

	if (a->status == DNS_TEMPFAIL) {
		finish(c, SPF_TEMPERROR, "DNS failure for %s TXT: %s",
		    f->domain, a->why ? a->why : "temporary failure");
		return;
	}
	if (a->status != DNS_OK) {
		record_missing(c, status_str(a->status));
		return;
	}
	f->e = spf_cache_put(c->spf->cache, DNS_T_TXT, f->domain, a,
	    now_s(c->spf));
	trace(c, "record %s: %s", f->domain,
	    f->e->kind == SPF_E_RECORD ? f->e->text :
	    f->e->kind == SPF_E_NONE ? "no SPF record" : f->e->problem);
	record_usable(c);
}

/* Checks what the fetched record is, before walking it. */
static bool
record_usable(struct spf_check *c)
{
	struct frame *f = top(c);

	if (f->e->kind == SPF_E_NONE) {
		spf_entry_unref(f->e);
		f->e = NULL;
		record_missing(c, "no v=spf1 TXT record");
		return false;
	}
	if (f->e->kind == SPF_E_ERROR) {
		if (f->e->rec.err != NULL && f->e->rec.err_at.len > 0)
			finish(c, SPF_PERMERROR, "%s: %s at '%.*s'", f->domain,
			    f->e->problem, (int)f->e->rec.err_at.len,
			    f->e->rec.err_at.p);
		else
			finish(c, SPF_PERMERROR, "%s: %s", f->domain,
			    f->e->problem);
		return false;
	}
	return true;
}

static void
push_frame(struct spf_check *c, enum frame_kind kind)
{
	struct frame *f;

	c->depth++;
	f = top(c);
	f->e = NULL;
	f->next = 0;
	f->kind = kind;
	memcpy(f->domain, c->target, strlen(c->target) + 1);
}

/* ---- explanation (RFC 7208 6.2) ---- */

static void
default_exp(struct spf_check *c)
{
	const char *d = c->spf->default_exp;

	c->env.d = span_cstr(top(c)->domain);
	if (spf_macro_expand(d, strlen(d), &c->env, SPF_CTX_EXP,
	    c->out.explanation, sizeof(c->out.explanation)) < 0)
		snprintf(c->out.explanation, sizeof(c->out.explanation), "%s",
		    d);
	c->done = true;
}

static void
start_exp(struct spf_check *c)
{
	const struct spf_record *rec = &top(c)->e->rec;

	if (rec->exp.p == NULL) {
		default_exp(c);
		return;
	}
	if (need_p(c, rec->exp_flags))
		return;
	if (!expand_target(c, rec->exp, rec->exp_flags) ||
	    ask(c, c->target, DNS_T_TXT, W_EXP) == ASK_BAD) {
		default_exp(c);
		return;
	}
	c->stage = STAGE_EXP_WAIT;
}

static void
exp_expand(struct spf_check *c, const char *p, size_t len)
{
	c->env.d = span_cstr(top(c)->domain);
	spf_macro_expand(p, len, &c->env, SPF_CTX_EXP, c->out.explanation,
	    sizeof(c->out.explanation));
	c->done = true;
}

static void
exp_answer(struct spf_check *c, const struct dns_answer *a)
{
	const struct dns_rr *rr = a->count == 1 ? &a->rr[0] : NULL;
	const char *why = NULL;
	unsigned flags = 0;

	/* Any DNS error, no record or several, or a syntax error: as if
	 * there were no exp= at all. */
	if (a->status != DNS_OK || rr == NULL || spf_macro_check(
	    (const char *)rr->data, rr->len, SPF_CTX_EXP, &flags, &why) < 0) {
		trace(c, "exp %s ignored (%s)", c->target,
		    why ? why : a->status == DNS_OK ? "several records" :
		    status_str(a->status));
		default_exp(c);
		return;
	}
	if (!(flags & SPF_MF_P) || c->p_done) {
		exp_expand(c, (const char *)rr->data, rr->len);
		return;
	}
	/* The text asks for %{p}: keep it while that is fetched. */
	c->exp_text = xstrndup((const char *)rr->data, rr->len);
	c->stage = STAGE_EXP_TEXT;
	need_p(c, flags);
}

/* ---- walking the records ---- */

static void
frame_done(struct spf_check *c, enum spf_result r)
{
	const struct spf_term *inc;
	struct frame *f;

	for (;;) {
		f = top(c);
		trace(c, "%s -> %s", f->domain, spf_result_str(r));
		if (c->depth == 0) {
			c->out.result = r;
			if (r == SPF_FAIL)
				c->stage = STAGE_EXP;
			else
				c->done = true;
			return;
		}
		/* RFC 7208 5.2: what an include's result means for the
		 * record that included it. */
		spf_entry_unref(f->e);
		f->e = NULL;
		c->depth--;
		f = top(c);
		/* Only pass, fail, softfail and neutral get here: errors and
		 * a missing record end the whole check where they happen. */
		if (r != SPF_PASS)
			return; /* not a match: go on with the next term */
		inc = &f->e->rec.term[f->next - 1];
		r = (enum spf_result)inc->result;
		trace(c, "match %.*s -> %s", (int)inc->text.len, inc->text.p,
		    spf_result_str(r));
	}
}

static void
matched(struct spf_check *c)
{
	const struct spf_term *t = c->term;

	trace(c, "match %.*s -> %s", (int)t->text.len, t->text.p,
	    spf_result_str((enum spf_result)t->result));
	frame_done(c, (enum spf_result)t->result);
}

static void
eval_term(struct spf_check *c, const struct spf_term *t)
{
	struct frame *f = top(c);
	bool ok;

	c->term = t;
	trace(c, "term %.*s", (int)t->text.len, t->text.p);
	switch (t->mech) {
	case SPF_M_ALL:
		matched(c);
		return;
	case SPF_M_IP4:
		if (c->family == AF_INET && prefix_match(c->ip, t->addr,
		    t->cidr4))
			matched(c);
		return;
	case SPF_M_IP6:
		if (c->family == AF_INET6 && prefix_match(c->ip, t->addr,
		    t->cidr6))
			matched(c);
		return;
	default:
		break;
	}
	if (need_p(c, t->flags)) {
		f->next--; /* run this term again once %{p} is known */
		return;
	}
	if (!count_lookup(c))
		return;
	ok = expand_target(c, t->spec, t->flags);
	switch (t->mech) {
	case SPF_M_INCLUDE:
		if (!ok) {
			finish(c, SPF_PERMERROR, "include of an invalid name");
			return;
		}
		push_frame(c, FRAME_INCLUDE);
		fetch_record(c);
		return;
	case SPF_M_PTR:
		/* RFC 7208 5.5: no usable target or PTR: no match. */
		if (ok)
			start_ptr(c);
		return;
	case SPF_M_A:
		ok = ok && ask(c, c->target, addr_type(c), W_ADDR) != ASK_BAD;
		break;
	case SPF_M_MX:
		ok = ok && ask(c, c->target, DNS_T_MX, W_MX) != ASK_BAD;
		break;
	case SPF_M_EXISTS:
		/* RFC 7208 5.7: always an A query, whatever the client. */
		ok = ok && ask(c, c->target, DNS_T_A, W_EXISTS) != ASK_BAD;
		break;
	}
	if (!ok) {
		/* A name that cannot exist answers as NXDOMAIN would. */
		struct dns_answer nx = { .status = DNS_NXDOMAIN };

		count_void(c, &nx);
	}
}

/* One step of the walk: fetch a record, a term, or the redirect. */
static void
walk(struct spf_check *c)
{
	struct frame *f = top(c);
	const struct spf_record *rec;

	if (f->e == NULL) {
		fetch_record(c);
		return;
	}
	rec = &f->e->rec;
	if (f->next < rec->n) {
		eval_term(c, &rec->term[f->next++]);
		return;
	}
	if (rec->redirect.p == NULL) {
		/* RFC 7208 4.7: nothing matched, no redirect. */
		frame_done(c, SPF_NEUTRAL);
		return;
	}
	/* RFC 7208 6.1: evaluate the target's record instead. */
	if (need_p(c, rec->redirect_flags) || !count_lookup(c))
		return;
	trace(c, "redirect=%.*s", (int)rec->redirect.len, rec->redirect.p);
	if (!expand_target(c, rec->redirect, rec->redirect_flags)) {
		finish(c, SPF_PERMERROR, "redirect to an invalid name");
		return;
	}
	spf_entry_unref(f->e);
	f->e = NULL;
	f->next = 0;
	f->kind = FRAME_REDIRECT;
	memcpy(f->domain, c->target, strlen(c->target) + 1);
	fetch_record(c);
}

/* After "mx" or "ptr" names: the next address query, or the end. */
static void
next_name(struct spf_check *c, enum wait w)
{
	while (c->ni < c->nnames) {
		const char *name = c->names[c->ni];

		/* "ptr" only needs names under its target (RFC 7208 5.5);
		 * %{p} wants every name validated. */
		if (w == W_PTR_ADDR && !c->p_fetch &&
		    !name_under(name, c->target)) {
			c->ni++;
			continue;
		}
		if (ask(c, name, addr_type(c), w) != ASK_BAD)
			return; /* waiting, or answered from the cache */
		c->ni++;
	}
	if (w == W_PTR_ADDR && c->p_fetch) {
		c->nnames = c->nvalid;
		p_choose(c);
	}
}

static void
mx_answer(struct spf_check *c, const struct dns_answer *a)
{
	size_t i;

	if (a->status == DNS_TEMPFAIL) {
		finish(c, SPF_TEMPERROR, "DNS failure for %s MX", c->target);
		return;
	}
	if (!count_void(c, a))
		return;
	/* RFC 7208 4.6.4: more than 10 MX records is a permerror. */
	if (a->count > SPF_MAX_MX) {
		finish(c, SPF_PERMERROR, "%s has more than %d MX records",
		    c->target, SPF_MAX_MX);
		return;
	}
	c->nnames = c->ni = 0;
	for (i = 0; i < a->count; i++) {
		if (a->rr[i].len == 0 || a->rr[i].len > SPF_NAME_MAX)
			continue; /* null MX (RFC 7505): no host */
		memcpy(c->names[c->nnames++], a->rr[i].data,
		    a->rr[i].len + 1);
	}
	next_name(c, W_MX_ADDR);
}

static void
ptr_answer(struct spf_check *c, const struct dns_answer *a)
{
	size_t i;

	/* RFC 7208 5.5: a DNS error makes "ptr" not match, and %{p} is
	 * then "unknown"; past 10 names the rest are ignored (4.6.4). */
	if (!c->p_fetch && !count_void(c, a))
		return;
	for (i = 0; i < a->count && c->nnames < SPF_MAX_PTR; i++) {
		if (a->rr[i].len == 0 || a->rr[i].len > SPF_NAME_MAX)
			continue;
		memcpy(c->names[c->nnames++], a->rr[i].data,
		    a->rr[i].len + 1);
	}
	next_name(c, W_PTR_ADDR);
}

/* A or AAAA of a name from a PTR record: forward confirmation. */
static void
ptr_addr_answer(struct spf_check *c, const struct dns_answer *a)
{
	bool found = false;
	size_t i;

	/* DNS errors skip the name (RFC 7208 5.5). */
	for (i = 0; i < a->count; i++)
		if (addr_match(c, &a->rr[i], 32, 128))
			found = true;
	if (found && !c->p_fetch) {
		matched(c);
		return;
	}
	if (found) {
		if (c->nvalid != c->ni)
			memcpy(c->names[c->nvalid], c->names[c->ni],
			    sizeof(c->names[0]));
		c->nvalid++;
	}
	c->ni++;
	next_name(c, W_PTR_ADDR);
}

static void
addr_answer(struct spf_check *c, enum wait w, const struct dns_answer *a)
{
	const struct spf_term *t = c->term;
	size_t i;

	if (a->status == DNS_TEMPFAIL) {
		finish(c, SPF_TEMPERROR, "DNS failure for %s %s", c->qname,
		    type_str(c->qtype));
		return;
	}
	if (!count_void(c, a))
		return;
	if (w == W_EXISTS) {
		if (a->count > 0)
			matched(c);
		return;
	}
	for (i = 0; i < a->count; i++)
		if (addr_match(c, &a->rr[i], t->cidr4, t->cidr6)) {
			matched(c);
			return;
		}
	if (w == W_MX_ADDR) {
		c->ni++;
		next_name(c, W_MX_ADDR);
	}
}

/* ---- driving ---- */

static void
check_free(struct spf_check *c)
{
	struct spf *spf = c->spf;

	if (c->q != NULL)
		dns_cancel(c->q);
	for (; c->depth >= 0; c->depth--)
		spf_entry_unref(c->stack[c->depth].e);
	if (c->defer != NULL)
		event_free(c->defer);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c->exp_text);
	if (c->prev)
		c->prev->next = c->next;
	else
		spf->checks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

static void
deliver(struct spf_check *c)
{
	c->out.lookups = c->lookups;
	c->out.voids = c->voids;
	if (c->out.result != SPF_FAIL)
		c->out.explanation[0] = '\0';
	trace(c, "result %s lookups=%u voids=%u%s%s",
	    spf_result_str(c->out.result), c->lookups, c->voids,
	    c->out.problem[0] ? " problem=" : "", c->out.problem);
	c->cb(c->arg, &c->out);
	check_free(c);
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver(arg);
}

/* RFC 7208 5: the check took too long. */
static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct spf_check *c = arg;

	(void)fd;
	(void)what;
	dns_cancel(c->q);
	c->q = NULL;
	trace(c, "time limit of %u ms reached", c->spf->timeout_ms);
	if (c->stage == STAGE_EXP_WAIT || c->stage == STAGE_EXP_TEXT) {
		/* The result is fail already; only exp= is late (6.2). */
		default_exp(c);
	} else {
		finish(c, SPF_TEMPERROR, "no result within %u ms",
		    c->spf->timeout_ms);
	}
	deliver(c);
}

static void
arm_timer(struct spf_check *c)
{
	struct timeval tv = { c->spf->timeout_ms / 1000,
	    (c->spf->timeout_ms % 1000) * 1000 };

	c->timer = evtimer_new(c->spf->base, on_timeout, c);
	if (c->timer == NULL || evtimer_add(c->timer, &tv) < 0)
		fatal("spf: cannot arm the time limit");
}

static void
check_run(struct spf_check *c)
{
	while (!c->done && c->q == NULL) {
		switch (c->stage) {
		case STAGE_TERMS:
			walk(c);
			break;
		case STAGE_EXP:
			start_exp(c);
			break;
		case STAGE_EXP_TEXT:
			exp_expand(c, c->exp_text, strlen(c->exp_text));
			break;
		case STAGE_EXP_WAIT:
			fatal("spf: exp stage without a query");
		}
	}
	if (!c->done || c->q != NULL)
		return;
	if (!c->starting) {
		deliver(c);
		return;
	}
	/* Done without waiting for anything (cached record): the callback
	 * still comes from the loop, never from spf_check_start(). */
	c->defer = event_new(c->spf->base, -1, 0, on_defer, c);
	if (c->defer == NULL)
		fatal("spf: event_new failed");
	event_active(c->defer, 0, 1);
}

static void
dispatch(struct spf_check *c, enum wait w, const struct dns_answer *a)
{
	switch (w) {
	case W_RECORD:
		record_answer(c, a);
		break;
	case W_MX:
		mx_answer(c, a);
		break;
	case W_PTR:
		ptr_answer(c, a);
		break;
	case W_PTR_ADDR:
		ptr_addr_answer(c, a);
		break;
	case W_ADDR:
	case W_MX_ADDR:
	case W_EXISTS:
		addr_answer(c, w, a);
		break;
	case W_EXP:
		exp_answer(c, a);
		break;
	case W_NONE:
		fatal("spf: answer without a query");
	}
}

static void
on_answer(void *arg, const struct dns_answer *a)
{
	struct spf_check *c = arg;
	enum wait w = c->wait;

	c->q = NULL;
	c->wait = W_NONE;
	if (c->spf->trace != NULL) {
		if (a->status == DNS_OK)
			trace(c, "dns %s %s -> %zu record%s",
			    type_str(c->qtype), c->qname, a->count,
			    a->count == 1 ? "" : "s");
		else
			trace(c, "dns %s %s -> %s%s%s", type_str(c->qtype),
			    c->qname, status_str(a->status),
			    a->why ? " " : "", a->why ? a->why : "");
	}
	/* Positive answers other than TXT go to the cache as they are; TXT
	 * goes there parsed (record_answer). */
	if (a->status == DNS_OK && c->qtype != DNS_T_TXT && c->spf->caching)
		spf_entry_unref(spf_cache_put(c->spf->cache, c->qtype,
		    c->qname, a, now_s(c->spf)));
	dispatch(c, w, a);
	check_run(c);
}

/* ---- starting ---- */

/* The client address: IPv4-mapped IPv6 counts as IPv4 (RFC 7208 5). */
static bool
set_client(struct spf_check *c, const struct sockaddr *sa)
{
	/* Upper-case nibbles, as the openspf suite expects in explanations
	 * (test v-macro-ip6); names compare without case, so queries are the
	 * same either way. */
	static const char hex[] = "0123456789ABCDEF";
	const struct sockaddr_in6 *s6;
	size_t i, o = 0;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		c->family = AF_INET;
		memcpy(c->ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			c->family = AF_INET;
			memcpy(c->ip, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			c->family = AF_INET6;
			memcpy(c->ip, s6->sin6_addr.s6_addr, 16);
		}
	} else {
		return false;
	}
	inet_ntop(c->family, c->ip, c->cstr, sizeof(c->cstr));
	if (c->family == AF_INET) {
		memcpy(c->istr, c->cstr, strlen(c->cstr) + 1);
		c->env.v = SPAN_LIT("in-addr");
	} else {
		/* RFC 7208 7.3: %{i} of IPv6 is dot-separated nibbles. */
		for (i = 0; i < 16; i++) {
			c->istr[o++] = hex[c->ip[i] >> 4];
			c->istr[o++] = '.';
			c->istr[o++] = hex[c->ip[i] & 15];
			c->istr[o++] = i < 15 ? '.' : '\0';
		}
		c->env.v = SPAN_LIT("ip6");
	}
	c->env.i = span_cstr(c->istr);
	c->env.c = span_cstr(c->cstr);
	return true;
}

/*
 * RFC 7208 4.3 and 2.4: the identity, <sender> and <domain>. Returns false
 * (with the outcome set to none) when there is no domain to check.
 */
static bool
set_identity(struct spf_check *c, const char *sender, const char *helo)
{
	const char *at, *domain;
	size_t llen;
	int n;

	snprintf(c->helo, sizeof(c->helo), "%s", helo ? helo : "");
	if (sender == NULL || sender[0] == '\0') {
		c->out.identity = SPF_ID_HELO;
		n = snprintf(c->sender, sizeof(c->sender), "postmaster@%s",
		    c->helo);
	} else {
		c->out.identity = SPF_ID_MAILFROM;
		at = strrchr(sender, '@');
		/* "@domain" and "domain" mean postmaster (RFC 7208 4.3). */
		if (at == NULL || at == sender)
			n = snprintf(c->sender, sizeof(c->sender),
			    "postmaster@%s", at ? at + 1 : sender);
		else
			n = snprintf(c->sender, sizeof(c->sender), "%s",
			    sender);
	}
	at = strrchr(c->sender, '@');
	domain = at + 1;
	llen = (size_t)(at - c->sender);
	snprintf(c->out.domain, sizeof(c->out.domain), "%s", domain);
	if (n < 0 || (size_t)n >= sizeof(c->sender)) {
		finish(c, SPF_NONE, "sender too long");
		return false;
	}
	c->env.s = span_make(c->sender, (size_t)n);
	c->env.l = span_make(c->sender, llen);
	c->env.o = span_cstr(domain);
	c->env.h = span_cstr(c->helo);
	/* Malformed or single-label names, and address literals, have no
	 * SPF record: none, before any query (RFC 7208 4.3). */
	if (domain[0] == '[' || !name_norm(domain, strlen(domain),
	    c->stack[0].domain, true)) {
		finish(c, SPF_NONE, "%s is not a domain name", domain[0] ?
		    domain : "(empty)");
		return false;
	}
	return true;
}

struct spf_check *
spf_check_start(struct spf *spf, const struct sockaddr *client,
    const char *sender, const char *helo, spf_cb *cb, void *arg)
{
	struct spf_check *c;

	c = xcalloc(1, sizeof(*c));
	c->spf = spf;
	c->cb = cb;
	c->arg = arg;
	if (!set_client(c, client)) {
		free(c);
		return NULL;
	}
	c->next = spf->checks;
	if (spf->checks)
		spf->checks->prev = c;
	spf->checks = c;
	snprintf(c->tstr, sizeof(c->tstr), "%lld", now_s(spf));
	c->env.t = span_cstr(c->tstr);
	c->env.r = span_cstr(spf->receiver);
	c->env.p = SPAN_LIT("unknown");
	c->stack[0].kind = FRAME_TOP;
	c->starting = true;
	if (set_identity(c, sender, helo))
		trace(c, "check ip=%s sender=%s helo=%s domain=%s", c->cstr,
		    c->sender, c->helo[0] ? c->helo : "-",
		    c->stack[0].domain);
	check_run(c);
	c->starting = false;
	return c;
}

void
spf_check_cancel(struct spf_check *c)
{
	if (c != NULL)
		check_free(c);
}

struct spf *
spf_new(struct event_base *base, struct dns *dns,
    const struct spf_options *opt)
{
	static const struct spf_options defaults;
	struct spf *spf = xcalloc(1, sizeof(*spf));

	if (opt == NULL)
		opt = &defaults;
	spf->base = base;
	spf->dns = dns;
	spf->max_void = opt->max_void_lookups ? opt->max_void_lookups :
	    SPF_MAX_VOID;
	spf->timeout_ms = opt->timeout_ms ? opt->timeout_ms :
	    SPF_TIMEOUT_DEFAULT_MS;
	spf->default_exp = xstrdup(opt->default_exp ? opt->default_exp :
	    "%{o} does not designate %{c} as a permitted sender");
	spf->receiver = xstrdup(opt->receiver ? opt->receiver : "unknown");
	spf->trace = opt->trace;
	spf->trace_arg = opt->trace_arg;
	spf->caching = !opt->no_cache;
	spf->cache = spf_cache_new(opt->no_cache ? 0 : opt->cache_size ?
	    opt->cache_size : SPF_CACHE_DEFAULT);
	return spf;
}

void
spf_free(struct spf *spf)
{
	if (spf == NULL)
		return;
	while (spf->checks != NULL)
		check_free(spf->checks);
	spf_cache_free(spf->cache);
	free(spf->default_exp);
	free(spf->receiver);
	free(spf);
}

void
spf_cache_stats(const struct spf *spf, struct spf_cache_stats *st)
{
	spf_cache_counts(spf->cache, &st->hits, &st->misses, &st->entries);
}
