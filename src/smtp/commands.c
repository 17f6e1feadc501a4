/*
 * The SMTP commands: a table of verbs with the states each is allowed in,
 * one dispatcher that sends the only 503, and one handler per verb. The
 * DATA stream and the end of a message are here too, because they are the
 * last steps of the DATA command.
 *
 * The sender checks (checks.c) plug in at one call each: checks_mail()
 * when a transaction starts, checks_rcpt() for a served recipient (it may
 * park the session until reverse DNS answers), checks_data_feed() for every
 * body byte (DKIM, and the header filter in front of the spool), and
 * checks_data_end() at the final dot, which comes back through
 * smtp_message_decided().
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "conf/conf.h"
#include "deliver/deliver.h"
#include "smtp/smtp_int.h"
#include "spool/spool.h"

#define ANY_CMD (ST_GREET | ST_READY | ST_MAIL | ST_RCPT)

static smtp_emit_cb txn_spool;

struct smtp_cmd {
	const char *verb;
	unsigned allowed;
	void (*run)(struct smtp_session *s, struct span arg);
};

static void
log_value(char *out, size_t outsz, const char *p)
{
	log_escape(out, outsz, p, strlen(p));
}

/* The one log line per transaction outcome (STYLE.md: key=value). */
static void
log_txn(struct smtp_session *s, const char *queue_id, const char *result,
    const char *reason)
{
	struct smtp_txn *t = &s->txn;
	char from[LOG_VALUE_MAX], helo[LOG_VALUE_MAX], to[LOG_VALUE_MAX];
	struct buf rcpts = { 0 }, verdicts = { 0 };
	size_t i;

	for (i = 0; i < t->rcpt_count; i++) {
		if (i)
			buf_addc(&rcpts, ',');
		buf_adds(&rcpts, t->rcpts[i]);
	}
	log_value(from, sizeof from, t->from);
	log_value(helo, sizeof helo, s->helo);
	log_escape(to, sizeof to, rcpts.p ? rcpts.p : "", rcpts.len);
	checks_log_fields(s, &verdicts);
	log_info("s=%s msg id=%s client=%s helo=%s from=<%s> to=%s nrcpt=%zu "
	    "size=%llu%s result=%s reason=%s", s->id, queue_id ? queue_id : "-",
	    s->ip, helo[0] ? helo : "-", from, rcpts.len ? to : "-",
	    t->rcpt_count, (unsigned long long)t->data.size, verdicts.p,
	    result, reason);
	buf_free(&rcpts);
	buf_free(&verdicts);
}

/* The spool could not take the message: a full disk says so (RFC 3463). */
static void
reply_spool_error(struct smtp_session *s, int err)
{
	if (err == ERR_NOSPACE)
		smtp_reply(s, 452, "4.3.1", "Insufficient system storage");
	else
		smtp_reply(s, 451, "4.3.0", "Local error in processing");
}

void
smtp_banner(struct smtp_session *s)
{
	smtp_reply(s, 220, NULL, "%s ESMTP mxgate", s->srv->conf->hostname);
}

static void
cmd_helo_common(struct smtp_session *s, struct span arg, bool esmtp)
{
	const struct config *conf = s->srv->conf;

	if (!smtp_helo_valid(arg)) {
		smtp_reply(s, 501, "5.5.4", "Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	/* RFC 5321 4.1.4: EHLO in a transaction resets it. */
	session_txn_reset(s);
	memcpy(s->helo, arg.p, arg.len);
	s->helo[arg.len] = '\0';
	s->esmtp = esmtp;
	session_set_state(s, ST_READY);
	/* RFC 2034 3: no enhanced code in the replies to EHLO and HELO. */
	if (!esmtp) {
		smtp_reply(s, 250, NULL, "%s", conf->hostname);
		return;
	}
	{
		char size[32];

		smtp_reply_line(s, 250, true, conf->hostname);
		smtp_reply_line(s, 250, true, "PIPELINING");
		snprintf(size, sizeof size, "SIZE %llu",
		    (unsigned long long)conf->max_message_size);
		smtp_reply_line(s, 250, true, size);
		smtp_reply_line(s, 250, true, "8BITMIME");
		if (s->srv->tls && !s->tls)
			smtp_reply_line(s, 250, true, "STARTTLS");
		smtp_reply_line(s, 250, true, "ENHANCEDSTATUSCODES");
		smtp_reply_line(s, 250, false, "SMTPUTF8");
	}
}

static void
cmd_ehlo(struct smtp_session *s, struct span arg)
{
	cmd_helo_common(s, arg, true);
}

static void
cmd_helo(struct smtp_session *s, struct span arg)
{
	cmd_helo_common(s, arg, false);
}

static void
cmd_mail(struct smtp_session *s, struct span arg)
{
	struct smtp_txn *t = &s->txn;
	struct smtp_addr a;
	struct span params;
	int r;

	r = smtp_parse_path(arg, "FROM:", &a, &params);
	if (r < 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return;
	}
	/* Routing characters in a sender harm nobody: it is not relayed. */
	if ((r != SMTP_ADDR_OK && r != SMTP_ADDR_ROUTING) || a.postmaster) {
		smtp_reply(s, 501, "5.1.7", "Bad sender address syntax");
		return;
	}
	/* Service extensions exist only after EHLO (RFC 5321 2.2.1). */
	if ((params.len && !s->esmtp) ||
	    smtp_parse_mail_params(params, &t->params) != 0) {
		memset(&t->params, 0, sizeof t->params);
		smtp_reply(s, 555, "5.5.4", "Unsupported MAIL parameter");
		return;
	}
	if (a.utf8 && !t->params.smtputf8) {
		memset(&t->params, 0, sizeof t->params);
		smtp_reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return;
	}
	if (t->params.size > s->srv->conf->max_message_size) {
		memset(&t->params, 0, sizeof t->params);
		smtp_reply(s, 552, "5.3.4", "Message size exceeds limit of "
		    "%llu", (unsigned long long)s->srv->conf->max_message_size);
		return;
	}
	if (a.null)
		t->from[0] = '\0';
	else if (a.quoted)
		snprintf(t->from, sizeof t->from, "\"%s\"@%s", a.local,
		    a.domain);
	else
		snprintf(t->from, sizeof t->from, "%s@%s", a.local, a.domain);
	session_set_state(s, ST_MAIL);
	checks_mail(s);
	smtp_reply(s, 250, "2.1.0", "Ok");
}

static void
log_rcpt(struct smtp_session *s, struct span arg, const char *result,
    const char *reason)
{
	char to[LOG_VALUE_MAX];

	log_escape(to, sizeof to, arg.p, arg.len);
	log_info("s=%s rcpt client=%s arg=%s result=%s reason=%s", s->id,
	    s->ip, to, result, reason);
}

static void
cmd_rcpt(struct smtp_session *s, struct span arg)
{
	const struct config *conf = s->srv->conf;
	struct smtp_txn *t = &s->txn;
	const struct conf_domain *d;
	char mbox[DELIVER_MAILBOX_MAX + 1];
	char rcpt[SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX + 1];
	struct smtp_addr a;
	struct span params;
	int r;

	r = smtp_parse_path(arg, "TO:", &a, &params);
	if (r < 0) {
		smtp_reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return;
	}
	if (t->rcpt_count >= SMTP_RCPT_MAX) {
		smtp_reply(s, 452, "4.5.3", "Too many recipients");
		log_rcpt(s, arg, "tempfail", "too-many-recipients");
		return;
	}
	if (r == SMTP_ADDR_SYNTAX || r == SMTP_ADDR_TOOLONG || a.null) {
		smtp_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		log_rcpt(s, arg, "rejected", "syntax");
		return;
	}
	if (params.len) {
		smtp_reply(s, 555, "5.5.4", "Unsupported RCPT parameter");
		return;
	}
	if (a.postmaster)
		/* RFC 5321 4.5.1: postmaster without a domain is ours. */
		snprintf(a.domain, sizeof a.domain, "%s",
		    conf->domains[0].name);
	d = a.literal ? NULL : conf_find_domain(conf, a.domain,
	    strlen(a.domain));
	if (!d || r == SMTP_ADDR_ROUTING) {
		smtp_reply(s, 550, "5.7.1", "Relay access denied");
		log_rcpt(s, arg, "rejected", d ? "routing" : "relay");
		return;
	}
	if (a.utf8 && !t->params.smtputf8) {
		smtp_reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		log_rcpt(s, arg, "rejected", "utf8");
		return;
	}
	/* The local part becomes a Maildir directory name: nothing that
	 * could climb out of the domain's directory. */
	if (a.quoted || deliver_mailbox_name(a.local, strlen(a.local), mbox,
	    sizeof mbox) != 0) {
		smtp_reply(s, 501, "5.1.3", "Bad recipient mailbox name");
		log_rcpt(s, arg, "rejected", "mailbox-name");
		return;
	}
	snprintf(rcpt, sizeof rcpt, "%s@%s", mbox, d->name);
	checks_rcpt(s, d, rcpt);
}

static void
cmd_data(struct smtp_session *s, struct span arg)
{
	struct smtp_txn *t = &s->txn;
	struct spool_envelope env;
	int err = 0;

	if (arg.len) {
		smtp_reply(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	env = (struct spool_envelope){
		.client_ip = s->ip,
		.helo = s->helo,
		.mail_from = t->from,
		.rcpts = (const char *const *)t->rcpts,
		.rcpt_count = t->rcpt_count,
	};
	t->msg = spool_msg_new(s->srv->spool, &env, &err);
	if (!t->msg) {
		log_warn("s=%s spool error=%s", s->id, err_str(err));
		reply_spool_error(s, err);
		log_txn(s, NULL, "tempfail", "spool");
		session_set_state(s, ST_READY);
		session_txn_done(s);
		return;
	}
	smtp_data_init(&t->data);
	t->dbuf = xmalloc(SMTP_DATA_CHUNK + 1);
	checks_data_begin(s, txn_spool);
	session_set_state(s, ST_DATA);
	{
		struct timeval tv = { (time_t)s->srv->conf->timeout_data_s, 0 };

		/* RFC 5321 4.5.3.2.5: the data block timeout. */
		bufferevent_set_timeouts(s->bev, &tv, &tv);
	}
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void
cmd_rset(struct smtp_session *s, struct span arg)
{
	(void)arg;
	session_txn_reset(s);
	if (s->state != ST_GREET)
		session_set_state(s, ST_READY);
	smtp_reply(s, 250, "2.0.0", "Ok");
	session_txn_done(s);
}

static void
cmd_noop(struct smtp_session *s, struct span arg)
{
	(void)arg;
	smtp_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct smtp_session *s, struct span arg)
{
	(void)arg;
	smtp_reply(s, 221, "2.0.0", "%s Bye", s->srv->conf->hostname);
	session_close_after_reply(s, "quit");
}

static void
cmd_help(struct smtp_session *s, struct span arg)
{
	(void)arg;
	smtp_reply(s, 214, "2.0.0", "See RFC 5321");
}

static void
cmd_vrfy(struct smtp_session *s, struct span arg)
{
	(void)arg;
	/* RFC 5321 3.5.3: 252 keeps the user list private. */
	smtp_reply(s, 252, "2.0.0", "Cannot VRFY user, but will accept "
	    "message and attempt delivery");
}

static void
cmd_starttls(struct smtp_session *s, struct span arg)
{
	if (arg.len) {
		smtp_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (!s->srv->tls || s->tls) {
		smtp_reply(s, 502, "5.5.1", "STARTTLS not available");
		return;
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	session_start_tls(s);
}

static const struct smtp_cmd cmds[] = {
	{ "EHLO", ANY_CMD, cmd_ehlo },
	{ "HELO", ANY_CMD, cmd_helo },
	{ "MAIL", ST_READY, cmd_mail },
	{ "RCPT", ST_MAIL | ST_RCPT, cmd_rcpt },
	{ "DATA", ST_RCPT, cmd_data },
	{ "RSET", ANY_CMD, cmd_rset },
	{ "NOOP", ANY_CMD, cmd_noop },
	{ "QUIT", ANY_CMD, cmd_quit },
	{ "HELP", ANY_CMD, cmd_help },
	{ "VRFY", ANY_CMD, cmd_vrfy },
	{ "STARTTLS", ST_GREET | ST_READY, cmd_starttls },
};

void
smtp_dispatch(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmdline cl;
	size_t i;

	if (smtp_parse_cmdline(line, len, &cl) != 0) {
		smtp_reply(s, 500, "5.5.2", "Syntax error, command "
		    "unrecognized");
		return;
	}
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (!span_eq_nocase_cstr(cl.verb, cmds[i].verb))
			continue;
		if (!(cmds[i].allowed & s->state)) {
			smtp_reply(s, 503, "5.5.1", "Bad sequence of "
			    "commands");
			return;
		}
		cmds[i].run(s, cl.arg);
		return;
	}
	smtp_reply(s, 500, "5.5.1", "Command unrecognized");
}

/* What the header filter lets through goes to the spool. */
static void
txn_spool(void *arg, const char *p, size_t len)
{
	struct smtp_session *s = arg;
	struct smtp_txn *t = &s->txn;
	int r;

	if (!t->msg || len == 0)
		return;
	r = spool_msg_write(t->msg, p, len);
	if (r != 0) {
		t->write_err = r;
		spool_msg_abort(t->msg);
		t->msg = NULL;
	}
}

/* Every body byte, once, in order, as it arrives. */
static void
txn_body(struct smtp_session *s, const char *p, size_t len)
{
	struct smtp_txn *t = &s->txn;

	if (t->data.bad || t->too_big || t->write_err || len == 0)
		return;
	if (t->data.size > s->srv->conf->max_message_size) {
		/* Nothing of an oversized message is kept. */
		t->too_big = true;
		spool_msg_abort(t->msg);
		t->msg = NULL;
		return;
	}
	checks_data_feed(s, p, len);
}

static void
on_commit(void *arg, int err, const char *queue_id)
{
	struct smtp_session *s = arg;
	struct smtp_txn *t = &s->txn;

	t->committing = false;
	t->msg = NULL; /* the spool has released it */
	if (err) {
		log_txn(s, queue_id, "tempfail", err_str(err));
		reply_spool_error(s, err);
	} else {
		s->msgs++;
		log_txn(s, queue_id, "queued", "-");
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", queue_id);
	}
	session_set_state(s, ST_READY);
	session_txn_done(s);
	session_resume(s);
}

/*
 * The policy has decided on a clean, complete message: commit it with our
 * header fields, or drop it and say why.
 */
void
smtp_message_decided(struct smtp_session *s, const struct policy_reply *r,
    const struct buf *authres)
{
	struct smtp_txn *t = &s->txn;
	int err = t->write_err;

	if (r->verdict == POLICY_ACCEPT && err == 0 && t->msg) {
		struct buf hdr = { 0 };

		/* RFC 8601 5: our Authentication-Results goes above the
		 * others. */
		smtp_received(&hdr, s, spool_msg_id(t->msg));
		buf_add(&hdr, authres->p, authres->len);
		err = spool_msg_set_headers(t->msg, hdr.p, hdr.len);
		buf_free(&hdr);
		if (err == 0) {
			t->committing = true;
			spool_msg_commit(t->msg, on_commit, s);
			return;
		}
	}
	if (t->msg)
		spool_msg_abort(t->msg);
	t->msg = NULL;
	if (r->verdict != POLICY_ACCEPT) {
		log_txn(s, NULL, r->verdict == POLICY_TEMPFAIL ? "tempfail" :
		    "rejected", r->reason);
		smtp_reply(s, r->code, r->enhanced, "%s", r->text);
	} else {
		log_txn(s, NULL, "tempfail", err_str(err));
		reply_spool_error(s, err);
	}
	session_set_state(s, ST_READY);
	session_txn_done(s);
	session_resume(s);
}

/* The message is complete (the final dot was read): reply or commit. */
static void
data_done(struct smtp_session *s)
{
	struct smtp_txn *t = &s->txn;
	struct timeval tv = { (time_t)s->srv->conf->timeout_command_s, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
	if (t->data.bad) {
		log_txn(s, NULL, "rejected", "bare-cr-lf-nul");
		smtp_reply(s, 550, "5.5.2", "Message refused: bare CR, LF or "
		    "NUL in message");
	} else if (t->too_big) {
		log_txn(s, NULL, "rejected", "size");
		smtp_reply(s, 552, "5.3.4", "Message size exceeds limit of "
		    "%llu", (unsigned long long)s->srv->conf->max_message_size);
	} else if (t->write_err) {
		log_txn(s, NULL, "tempfail", err_str(t->write_err));
		reply_spool_error(s, t->write_err);
	} else {
		/* Parks until SPF and DKIM have answered, then decides. */
		checks_data_end(s);
		return;
	}
	session_set_state(s, ST_READY);
	session_txn_done(s);
}

void
smtp_data_input(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct smtp_txn *t = &s->txn;

	while (t->data.state != SMTP_DATA_END) {
		struct evbuffer_iovec v;
		size_t n, used, olen;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		n = v.iov_len < SMTP_DATA_CHUNK ? v.iov_len : SMTP_DATA_CHUNK;
		used = smtp_data_feed(&t->data, v.iov_base, n, t->dbuf, &olen);
		txn_body(s, t->dbuf, olen);
		evbuffer_drain(in, used);
	}
	data_done(s);
}
