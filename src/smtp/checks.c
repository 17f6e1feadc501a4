/*
 * The sender checks inside a session (DESIGN.md "The policy"): what starts
 * when, what a decision waits for, and what ends up in the
 * Authentication-Results field. The rules themselves live in policy/; this
 * file only gathers the facts and maps module results onto them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres/authres.h"
#include "base/log.h"
#include "base/mem.h"
#include "conf/conf.h"
#include "smtp/smtp_int.h"

/*
 * Whether the RCPT decision still waits for reverse DNS. With "ptr_check =
 * exists" the PTR answer is enough; the forward confirmation goes on for
 * Authentication-Results, which waits for it at the end of DATA.
 */
static bool
ptr_pending(const struct smtp_session *s)
{
	if (s->iprev_done)
		return false;
	return s->srv->conf->ptr_check == CONF_PTR_FORWARD_CONFIRMED ||
	    !s->ptr_known;
}

static void
rcpt_resume(struct smtp_session *s)
{
	char *rcpt = s->rcpt_waiting;

	s->rcpt_waiting = NULL;
	checks_rcpt(s, s->rcpt_waiting_dom, rcpt);
	free(rcpt);
	session_resume(s);
}

static void
on_iprev_ptr(void *arg, const struct iprev_result *res)
{
	struct smtp_session *s = arg;

	s->ptr_known = true;
	s->iprev_res.ptr_exists = res->ptr_exists;
	memcpy(s->iprev_res.ptr_name, res->ptr_name,
	    sizeof(s->iprev_res.ptr_name));
	log_debug("s=%s iprev=pending ptr=%s", s->id,
	    res->ptr_name[0] ? res->ptr_name : "-");
	if (s->rcpt_waiting && !ptr_pending(s))
		rcpt_resume(s);
}

static void
on_iprev(void *arg, const struct iprev_result *res)
{
	struct smtp_session *s = arg;

	s->iprev = NULL;
	s->iprev_done = true;
	s->iprev_res = *res;
	log_debug("s=%s iprev=%s name=%s ptr=%s why=%s", s->id,
	    iprev_status_str(res->status), res->name[0] ? res->name : "-",
	    res->ptr_name[0] ? res->ptr_name : "-",
	    res->why[0] ? res->why : "-");
	if (s->rcpt_waiting)
		rcpt_resume(s);
	else if (s->txn.deciding)
		checks_data_end(s);
}

void
checks_connect(struct smtp_session *s)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->peer;
	bool trusted = conf_find_connector(s->srv->conf, sa) != NULL;

	policy_client_init(&s->client, sa, trusted);
	/* Started at once, in parallel with the banner: RCPT rarely waits. */
	if (s->srv->dns)
		s->iprev = iprev_start(s->srv->dns, sa, on_iprev, s);
	if (!s->iprev) {
		s->iprev_done = true;
		s->iprev_res.status = IPREV_TEMPERROR;
		snprintf(s->iprev_res.why, sizeof s->iprev_res.why,
		    "no resolver");
		return;
	}
	iprev_notify_ptr(s->iprev, on_iprev_ptr);
}

static void
on_spf(void *arg, const struct spf_outcome *res)
{
	struct smtp_session *s = arg;
	struct smtp_txn *t = &s->txn;

	t->spf = NULL;
	t->spf_done = true;
	t->spf_res = *res;
	if (t->deciding)
		checks_data_end(s);
}

void
checks_mail(struct smtp_session *s)
{
	struct smtp_txn *t = &s->txn;

	/* RFC 7208 2.4: a null reverse-path is checked as the HELO name. */
	if (s->srv->spf)
		t->spf = spf_check_start(s->srv->spf,
		    (const struct sockaddr *)&s->peer, t->from, s->helo,
		    on_spf, s);
	if (!t->spf) {
		t->spf_done = true;
		t->spf_res.result = SPF_TEMPERROR;
		t->spf_res.identity = t->from[0] ? SPF_ID_MAILFROM : SPF_ID_HELO;
		snprintf(t->spf_res.problem, sizeof t->spf_res.problem,
		    "no resolver");
	}
}

static enum policy_ptr
ptr_fact(const struct smtp_session *s)
{
	const struct iprev_result *r = &s->iprev_res;

	if (s->srv->conf->ptr_check == CONF_PTR_FORWARD_CONFIRMED) {
		if (r->status == IPREV_PASS)
			return POLICY_PTR_VALID;
	} else if (r->ptr_exists) {
		return POLICY_PTR_VALID;
	}
	return r->status == IPREV_TEMPERROR ? POLICY_PTR_TEMPFAIL :
	    POLICY_PTR_MISSING;
}

void
checks_rcpt(struct smtp_session *s, const struct conf_domain *d,
    const char *rcpt)
{
	struct smtp_txn *t = &s->txn;
	struct policy_reply r;
	char to[LOG_VALUE_MAX];
	size_t i;

	if (policy_rcpt_needs_ptr(&s->client, d) && ptr_pending(s)) {
		/* Parked: the pipelined commands behind it stay buffered. */
		s->rcpt_waiting = xstrdup(rcpt);
		s->rcpt_waiting_dom = d;
		session_park(s);
		return;
	}
	policy_rcpt(&s->client, d, d->name, ptr_fact(s), &r);
	log_escape(to, sizeof to, rcpt, strlen(rcpt));
	log_info("s=%s rcpt client=%s to=<%s> iprev=%s result=%s reason=%s",
	    s->id, s->ip, to, s->iprev_done ?
	    iprev_status_str(s->iprev_res.status) : "pending",
	    r.verdict == POLICY_ACCEPT ? "accepted" : r.verdict ==
	    POLICY_TEMPFAIL ? "tempfail" : "rejected", r.reason);
	if (r.verdict != POLICY_ACCEPT) {
		smtp_reply(s, r.code, r.enhanced, "%s", r.text);
		return;
	}
	/* The same mailbox twice is one delivery. */
	for (i = 0; i < t->rcpt_count; i++)
		if (strcmp(t->rcpts[i], rcpt) == 0)
			break;
	if (i == t->rcpt_count)
		t->rcpts[t->rcpt_count++] = xstrdup(rcpt);
	session_set_state(s, ST_RCPT);
	smtp_reply(s, r.code, r.enhanced, "%s", r.text);
}

void
checks_data_begin(struct smtp_session *s, smtp_emit_cb *emit)
{
	struct smtp_txn *t = &s->txn;
	const struct config *conf = s->srv->conf;

	smtp_hdr_filter_init(&t->filter, conf->hostname, emit, s);
	if (s->srv->dns) {
		struct dkim_options opt = {
			.max_signatures = conf->dkim_max_signatures,
			.cache = s->srv->dkim_keys,
		};

		t->dkim = dkim_verify_new(s->srv->dns, &opt);
	}
}

void
checks_data_feed(struct smtp_session *s, const char *p, size_t len)
{
	struct smtp_txn *t = &s->txn;

	/* DKIM sees the message as it came; the spool sees it filtered. */
	if (t->dkim)
		dkim_verify_feed(t->dkim, p, len);
	smtp_hdr_filter_feed(&t->filter, p, len);
}

static void
on_dkim(void *arg, const struct dkim_result *res, size_t n)
{
	struct smtp_session *s = arg;
	struct smtp_txn *t = &s->txn;

	t->dkim_done = true;
	t->dkim_res = res;
	t->dkim_count = n;
	if (t->deciding)
		checks_data_end(s);
}

/*
 * RFC 6376 3.6.1: a key in testing mode (t=y) must not make a message
 * count as signed; and a signature with l= whose body went on past it says
 * nothing about the added part. Neither lets a message through.
 */
static bool
dkim_counts(const struct dkim_result *r)
{
	return r->status == DKIM_PASS && !r->testing && !r->body_truncated;
}

static void
dkim_comment(const struct dkim_result *r, char *out, size_t outsz)
{
	const char *reason = r->reason ? r->reason : "";
	bool remark = r->testing || r->body_truncated;

	snprintf(out, outsz, "%s%s%s%s%s", reason, *reason && remark ? "; " :
	    "", r->testing ? "testing key" : "", r->testing &&
	    r->body_truncated ? ", " : "", r->body_truncated ?
	    "unsigned content after l=" : "");
}

static void
build_authres(struct smtp_session *s, struct buf *out)
{
	struct smtp_txn *t = &s->txn;
	struct authres_entry e[2 + DKIM_SIGNATURES_MAX * 4];
	char dkim_why[DKIM_SIGNATURES_MAX * 4][160];
	char bprefix[DKIM_SIGNATURES_MAX * 4][9];
	size_t n = 0, i;

	memset(e, 0, sizeof e);
	e[n].method = "iprev";
	e[n].result = iprev_status_str(s->iprev_res.status);
	e[n].comment = s->iprev_res.status == IPREV_PASS ?
	    s->iprev_res.name : s->iprev_res.why;
	e[n].props[0] = (struct authres_prop){ "policy.iprev", s->client.ip };
	e[n].prop_count = 1;
	n++;

	e[n].method = "spf";
	e[n].result = spf_result_str(t->spf_res.result);
	e[n].comment = t->spf_res.problem;
	if (t->spf_res.identity == SPF_ID_MAILFROM)
		e[n].props[0] = (struct authres_prop){ "smtp.mailfrom",
		    t->from };
	else
		e[n].props[0] = (struct authres_prop){ "smtp.helo", s->helo };
	e[n].prop_count = 1;
	n++;

	if (t->dkim_count == 0) {
		e[n].method = "dkim";
		e[n].result = "none";
		n++;
	}
	for (i = 0; i < t->dkim_count && i < sizeof dkim_why /
	    sizeof dkim_why[0]; i++) {
		const struct dkim_result *r = &t->dkim_res[i];
		struct authres_entry *d = &e[n++];

		dkim_comment(r, dkim_why[i], sizeof dkim_why[i]);
		/* RFC 8601 2.7.1: header.b needs only the first 8 octets. */
		snprintf(bprefix[i], sizeof bprefix[i], "%.8s", r->b);
		d->method = "dkim";
		d->result = dkim_status_str(r->status);
		d->comment = dkim_why[i];
		if (r->domain[0])
			d->props[d->prop_count++] = (struct authres_prop){
			    "header.d", r->domain };
		if (r->auid[0])
			d->props[d->prop_count++] = (struct authres_prop){
			    "header.i", r->auid };
		if (r->selector[0])
			d->props[d->prop_count++] = (struct authres_prop){
			    "header.s", r->selector };
		if (r->algorithm[0])
			d->props[d->prop_count++] = (struct authres_prop){
			    "header.a", r->algorithm };
		if (bprefix[i][0])
			d->props[d->prop_count++] = (struct authres_prop){
			    "header.b", bprefix[i] };
	}
	authres_write(out, s->srv->conf->hostname, e, n);
}

void
checks_data_end(struct smtp_session *s)
{
	struct smtp_txn *t = &s->txn;
	struct policy_auth auth = { 0 };
	struct policy_reply r;
	struct buf hdr = { 0 };
	size_t i;

	if (!t->deciding) {
		/* First call, at the final dot. */
		t->deciding = true;
		session_park(s);
		smtp_hdr_filter_finish(&t->filter);
		if (t->dkim) {
			if (dkim_verify_finish(t->dkim, on_dkim, s) != 0)
				t->dkim_done = true;
			/* on_dkim may have run inside and come back here. */
			if (!t->deciding)
				return;
		} else {
			t->dkim_done = true;
		}
	}
	/* Authentication-Results carries the forward-confirmed iprev. */
	if (!t->dkim_done || !t->spf_done || !s->iprev_done)
		return;
	t->deciding = false;

	auth.spf_pass = t->spf_res.result == SPF_PASS;
	auth.spf_temperror = t->spf_res.result == SPF_TEMPERROR;
	for (i = 0; i < t->dkim_count; i++) {
		if (dkim_counts(&t->dkim_res[i]))
			auth.dkim_pass = true;
		if (t->dkim_res[i].status == DKIM_TEMPERROR)
			auth.dkim_temperror = true;
	}
	policy_data(&s->client, &auth, &r);
	t->policy = r.reason;
	if (r.verdict == POLICY_ACCEPT)
		build_authres(s, &hdr);
	smtp_message_decided(s, &r, &hdr);
	buf_free(&hdr);
}

void
checks_txn_reset(struct smtp_session *s)
{
	struct smtp_txn *t = &s->txn;

	spf_check_cancel(t->spf);
	t->spf = NULL;
	dkim_verify_free(t->dkim);
	t->dkim = NULL;
	t->dkim_res = NULL;
	/* Not smtp_hdr_filter_finish(): nothing more may reach the spool. */
	buf_free(&t->filter.field);
}

void
checks_session_end(struct smtp_session *s)
{
	iprev_cancel(s->iprev);
	s->iprev = NULL;
	free(s->rcpt_waiting);
	s->rcpt_waiting = NULL;
}

void
checks_log_fields(const struct smtp_session *s, struct buf *out)
{
	const struct smtp_txn *t = &s->txn;
	size_t i;

	buf_addf(out, " iprev=%s", s->iprev_done ?
	    iprev_status_str(s->iprev_res.status) : "pending");
	buf_addf(out, " spf=%s", t->spf_done ?
	    spf_result_str(t->spf_res.result) : "-");
	buf_adds(out, " dkim=");
	if (!t->dkim_done || t->dkim_count == 0)
		buf_adds(out, t->dkim_done ? "none" : "-");
	for (i = 0; t->dkim_done && i < t->dkim_count; i++)
		buf_addf(out, "%s%s:%s", i ? "," : "",
		    dkim_status_str(t->dkim_res[i].status),
		    t->dkim_res[i].domain[0] ? t->dkim_res[i].domain : "-");
	buf_addf(out, " policy=%s", t->policy ? t->policy : "-");
}
