/*
 * The session: one client connection, its bufferevent, its state and its
 * transaction. This file owns the I/O side: reading lines and DATA out of
 * the input buffer, parking and resuming, replies, STARTTLS, timeouts and
 * the single way out, session_free(). The commands live in commands.c.
 *
 * Replies are appended to the output buffer and written once the session
 * has handled all the input it has (session_flush(), run from the loop), so
 * all the replies to one pipelined group leave in one write.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "conf/conf.h"
#include "smtp/smtp_int.h"
#include "spool/spool.h"

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void session_free(struct smtp_session *s);
static void session_process(struct smtp_session *s);

static void
on_close_ev(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_free(arg);
}

static const char *
state_name(unsigned st)
{
	switch (st) {
	case ST_PROXY: return "proxy";
	case ST_GREET: return "greet";
	case ST_READY: return "ready";
	case ST_MAIL: return "mail";
	case ST_RCPT: return "rcpt";
	case ST_DATA: return "data";
	case ST_CLOSING: return "closing";
	}
	return "?";
}

void
session_set_state(struct smtp_session *s, unsigned state)
{
	log_debug("s=%s state %s -> %s", s->id, state_name(s->state),
	    state_name(state));
	s->state = state;
}

/* Text of a sockaddr: IPv4-mapped IPv6 becomes the IPv4 client it is. */
static void
peer_set(struct smtp_session *s, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0xff, 0xff };

	memset(&s->peer, 0, sizeof s->peer);
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		if (memcmp(s6->sin6_addr.s6_addr, mapped, 12) == 0) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&s->peer;

			s4->sin_family = AF_INET;
			s4->sin_port = s6->sin6_port;
			memcpy(&s4->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			memcpy(&s->peer, s6, sizeof *s6);
		}
	} else {
		memcpy(&s->peer, sa, sizeof(struct sockaddr_in));
	}
	/* RFC 5952 text, as in the policy replies (glibc's inet_ntop
	 * writes some addresses, ::1:2 say, in IPv4-compatible form). */
	iprev_addr_text((const struct sockaddr *)&s->peer, s->ip, sizeof s->ip);
	s->port = s->peer.ss_family == AF_INET6 ?
	    ntohs(((const struct sockaddr_in6 *)&s->peer)->sin6_port) :
	    ntohs(((const struct sockaddr_in *)&s->peer)->sin_port);
}

static void
set_timeout(struct smtp_session *s, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	s->deadline_armed = false;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* A new line (or PROXY header) may begin now: its deadline starts over. */
static void
line_begin(struct smtp_session *s)
{
	event_base_gettimeofday_cached(s->srv->base, &s->line_since);
	if (s->deadline_armed)
		set_timeout(s, s->srv->conf->timeout_command_s);
}

static void
session_timeout(struct smtp_session *s)
{
	log_info("s=%s timeout client=%s state=%s", s->id, s->ip,
	    state_name(s->state));
	/* A proxy that never completes its header gets no reply. */
	if (s->state == ST_PROXY) {
		session_close_after_reply(s, "timeout");
		return;
	}
	/* RFC 5321 4.5.3.2: a server may close after its timeout, and
	 * should say so with 421. */
	smtp_reply(s, 421, "4.4.2", "%s Timeout, closing connection",
	    s->srv->conf->hostname);
	session_txn_reset(s);
	session_close_after_reply(s, "timeout");
}

/*
 * Part of a line is buffered and more is needed. The bufferevent timeout
 * restarts at every read, so a client sending a byte now and then would
 * hold the session for ever: cut the timeout to what is left of the
 * line's deadline, and close once it has passed.
 */
static void
line_wait(struct smtp_session *s)
{
	struct timeval now, end, left;

	event_base_gettimeofday_cached(s->srv->base, &now);
	end = s->line_since;
	end.tv_sec += (time_t)s->srv->conf->timeout_command_s;
	if (!timercmp(&now, &end, <)) {
		session_timeout(s);
		return;
	}
	timersub(&end, &now, &left);
	s->deadline_armed = true;
	bufferevent_set_timeouts(s->bev, &left, &left);
}

/* The client address is known: count it, greet it. */
static void
session_begin(struct smtp_session *s)
{
	const struct config *conf = s->srv->conf;

	log_info("s=%s connect client=%s port=%u listener=%s", s->id, s->ip,
	    s->port, s->listener);
	if (!smtp_limits_acquire(s->srv->limits,
	    (const struct sockaddr *)&s->peer)) {
		log_warn("s=%s limit client=%s reason=per-network", s->id,
		    s->ip);
		smtp_reply(s, 421, "4.7.0", "%s Too many connections from "
		    "your network, try again later", conf->hostname);
		session_close_after_reply(s, "limit");
		return;
	}
	s->counted = true;
	line_begin(s);
	checks_connect(s);
	session_set_state(s, ST_GREET);
	smtp_banner(s);
}

/*
 * On plain TCP the replies are written here, straight from the output
 * buffer with one writev, and the bufferevent's EV_WRITE stays disabled
 * while nothing is left over: with it enabled, every reply would add the
 * write event (epoll_ctl), wait a loop round for it (epoll_wait), write,
 * and remove it again (epoll_ctl). Only what the socket does not take at
 * once (a slow reader) is left to the bufferevent, whose write event and
 * write timeout then work as usual until on_write sees the buffer empty.
 * A write error is left to it as well, so it is reported in one place
 * (on_event). Under TLS the filter must do the writing (it encrypts).
 */
static void
session_flush(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	int n;

	(void)fd;
	(void)what;
	if (bufferevent_get_underlying(s->bev) ||
	    (bufferevent_get_enabled(s->bev) & EV_WRITE) ||
	    evbuffer_get_length(out) == 0)
		return;
	/* A socket bufferevent keeps the start of its output frozen for its
	 * own writer; this write stands in for it. */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, s->fd);
	evbuffer_freeze(out, 1);
	if (n < 0 || evbuffer_get_length(out) > 0) {
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	if (s->state == ST_CLOSING) {
		session_free(s);
		return;
	}
	/* Answering may have stopped at the output cap (session_process). */
	if (!s->parked &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		session_process(s);
}

/* A reply was queued: write it once the current input is handled. */
static void
reply_queued(struct smtp_session *s)
{
	if (!bufferevent_get_underlying(s->bev))
		event_active(s->flush_ev, 0, 1);
}

struct smtp_session *
session_new(struct smtp_server *srv, int fd, const struct sockaddr *sa,
    socklen_t salen, bool proxy, const char *listener)
{
	struct smtp_session *s = xcalloc(1, sizeof *s);

	(void)salen;
	s->srv = srv;
	s->fd = fd;
	s->listener = listener;
	snprintf(s->id, sizeof s->id, "%08x%04x", srv->id_base,
	    (unsigned)(srv->next_id++ & 0xffff));
	peer_set(s, sa);
	s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	bufferevent_set_max_single_read(s->bev, SMTP_READ_MAX);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_INPUT_MAX);
	bufferevent_setwatermark(s->bev, EV_WRITE, SMTP_OUTPUT_MAX / 2, 0);
	/* EV_WRITE only when a write is left over (session_flush); a new
	 * bufferevent has it enabled. */
	bufferevent_disable(s->bev, EV_WRITE);
	bufferevent_enable(s->bev, EV_READ);
	set_timeout(s, srv->conf->timeout_command_s);
	s->flush_ev = event_new(srv->base, -1, 0, session_flush, s);

	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->session_count++;

	if (proxy) {
		s->state = ST_PROXY;
		line_begin(s);
		log_debug("s=%s accept proxy=%s port=%u", s->id, s->ip,
		    s->port);
	} else {
		session_begin(s);
	}
	return s;
}

static void
reply_vadd(struct smtp_session *s, int code, char sep, const char *enh,
    const char *fmt, va_list ap)
{
	char line[SMTP_REPLY_MAX];
	int n, m;

	/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets. */
	n = enh ? snprintf(line, sizeof line, "%03d%c%s ", code, sep, enh) :
	    snprintf(line, sizeof line, "%03d%c", code, sep);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 2, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof line - 3)
		m = (int)(sizeof line - 3) - n;
	memcpy(line + n + m, "\r\n", 2);
	evbuffer_add(bufferevent_get_output(s->bev), line, (size_t)(n + m + 2));
	reply_queued(s);
	log_debug("s=%s reply %03d %s", s->id, code, enh ? enh : "");
}

void
smtp_reply(struct smtp_session *s, int code, const char *enh,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_vadd(s, code, ' ', enh, fmt, ap);
	va_end(ap);
}

void
smtp_reply_line(struct smtp_session *s, int code, bool more,
    const char *text)
{
	evbuffer_add_printf(bufferevent_get_output(s->bev), "%03d%c%s\r\n",
	    code, more ? '-' : ' ', text);
	reply_queued(s);
}

void
session_close_after_reply(struct smtp_session *s, const char *reason)
{
	if (s->state == ST_CLOSING)
		return;
	s->close_reason = reason;
	session_set_state(s, ST_CLOSING);
	bufferevent_disable(s->bev, EV_READ);
	/* A client that never reads its last reply must not hold us. */
	set_timeout(s, s->srv->conf->timeout_command_s);
	/*
	 * With nothing left to write no write callback will come: close
	 * from the loop, never from here, as callers still use s.
	 */
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		static const struct timeval now = { 0, 0 };

		s->close_ev = evtimer_new(s->srv->base, on_close_ev, s);
		evtimer_add(s->close_ev, &now);
	}
}

void
session_txn_reset(struct smtp_session *s)
{
	struct smtp_txn *t = &s->txn;
	size_t i;

	checks_txn_reset(s);
	if (t->msg) {
		if (t->committing)
			spool_msg_detach(t->msg);
		else
			spool_msg_abort(t->msg);
	}
	for (i = 0; i < t->rcpt_count; i++)
		free(t->rcpts[i]);
	free(t->dbuf);
	memset(t, 0, sizeof *t);
}

void
session_txn_done(struct smtp_session *s)
{
	session_txn_reset(s);
	if (s->srv->shutting_down && s->state != ST_CLOSING) {
		smtp_reply(s, 421, "4.3.2", "%s Service shutting down",
		    s->srv->conf->hostname);
		session_close_after_reply(s, "shutdown");
	}
}

void
session_park(struct smtp_session *s)
{
	/*
	 * Reading goes on (no epoll_ctl per park) but nothing is processed;
	 * the input high-water mark bounds what a client that keeps sending
	 * can make us buffer. EOF is still noticed.
	 */
	s->parked = true;
}

/*
 * In DATA the timeout restarts at every read as well. The message started
 * at s->line_since (the DATA command); its deadline moves on with every
 * SMTP_DATA_MIN_RATE octets received. Until the deadline is nearer than
 * timeout_data, the per-read timeout (RFC 5321 4.5.3.2.5) stays as it is.
 */
static void
data_wait(struct smtp_session *s)
{
	unsigned per_read = s->srv->conf->timeout_data_s;
	struct timeval now, end, left;

	event_base_gettimeofday_cached(s->srv->base, &now);
	end = s->line_since;
	end.tv_sec += (time_t)(per_read +
	    s->txn.data.size / SMTP_DATA_MIN_RATE);
	if (!timercmp(&now, &end, <)) {
		session_timeout(s);
		return;
	}
	timersub(&end, &now, &left);
	if (left.tv_sec >= (time_t)per_read) {
		if (s->deadline_armed) {
			left = (struct timeval){ (time_t)per_read, 0 };
			s->deadline_armed = false;
			bufferevent_set_timeouts(s->bev, &left, &left);
		}
		return;
	}
	s->deadline_armed = true;
	bufferevent_set_timeouts(s->bev, &left, &left);
}

/*
 * The client has finished sending (it may still read): once everything it
 * sent has been answered, close.
 */
static void
session_eof_check(struct smtp_session *s)
{
	if (s->eof && !s->parked && !s->processing &&
	    s->state != ST_CLOSING)
		session_close_after_reply(s, "client-eof");
}

void
session_resume(struct smtp_session *s)
{
	s->parked = false;
	if (s->state == ST_CLOSING)
		return;
	/* The wait was ours: the client's next line starts now. */
	line_begin(s);
	session_process(s);
	session_eof_check(s);
}

/* A command line ends in CRLF and holds no other CR, LF or NUL. */
static bool
line_is_clean(const char *p, size_t len)
{
	size_t i;

	if (len < 2 || p[len - 2] != '\r')
		return false;
	for (i = 0; i + 2 < len; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return false;
	return true;
}

static void
process_proxy(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in), used = 0;
	size_t n = avail < SMTP_PROXY_V2_MAX ? avail : SMTP_PROXY_V2_MAX;
	struct sockaddr_storage src;
	socklen_t srclen;
	const char *p = (const char *)evbuffer_pullup(in, (ssize_t)n);
	int r;

	r = smtp_proxy_parse(p, n, &src, &srclen, &used);
	if (r == SMTP_PROXY_MORE && avail < SMTP_PROXY_V2_MAX) {
		line_wait(s);
		return;
	}
	if (r != 0) {
		/* No reply: whatever is on the other side is not a proxy
		 * we can talk to, and a reply would only help a scanner. */
		log_warn("s=%s proxy=%s result=refused reason=bad-header",
		    s->id, s->ip);
		session_close_after_reply(s, "bad-proxy-header");
		return;
	}
	evbuffer_drain(in, used);
	if (src.ss_family != AF_UNSPEC)
		peer_set(s, (const struct sockaddr *)&src);
	session_begin(s);
}

static void
process_line(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr eol;
	char line[SMTP_LINE_MAX + 1];
	size_t len;

	eol = evbuffer_search(in, "\n", 1, NULL);
	if (eol.pos < 0) {
		if (evbuffer_get_length(in) > SMTP_LINE_MAX) {
			/* Over-long line: answer once, then skip to its
			 * end. */
			evbuffer_drain(in, evbuffer_get_length(in));
			if (!s->skip_line)
				smtp_reply(s, 500, "5.5.2", "Line too long");
			s->skip_line = true;
		}
		line_wait(s);
		return;
	}
	len = (size_t)eol.pos + 1;
	line_begin(s);
	if (s->skip_line || len > SMTP_LINE_MAX) {
		evbuffer_drain(in, len);
		if (!s->skip_line)
			smtp_reply(s, 500, "5.5.2", "Line too long");
		s->skip_line = false;
		return;
	}
	evbuffer_remove(in, line, len);
	if (!line_is_clean(line, len)) {
		/*
		 * A bare CR or LF, or a NUL, in a command: a peer that does
		 * not agree with us on where lines end can smuggle commands,
		 * so the conversation ends here.
		 */
		log_warn("s=%s client=%s result=refused reason=bare-cr-lf-nul",
		    s->id, s->ip);
		smtp_reply(s, 500, "5.5.2", "Bare CR, LF or NUL in command, "
		    "closing");
		session_close_after_reply(s, "bare-cr-lf-nul");
		return;
	}
	smtp_dispatch(s, line, len - 2);
}

/* Handles buffered input until it runs out, the session parks or ends. */
static void
session_process(struct smtp_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	if (s->processing)
		return;
	s->processing = true;
	while (!s->parked && s->state != ST_CLOSING) {
		size_t before = evbuffer_get_length(in);
		unsigned st = s->state;

		if (before == 0)
			break;
		/* A client that sends commands but does not read the
		 * replies gets no more answers (and, once the input is
		 * full, no more reading) until it catches up; on_write
		 * starts again. */
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >=
		    SMTP_OUTPUT_MAX)
			break;
		if (s->state == ST_PROXY)
			process_proxy(s);
		else if (s->state == ST_DATA) {
			smtp_data_input(s);
			if (s->state != ST_DATA)
				line_begin(s);
			else if (s->txn.data.state != SMTP_DATA_END)
				data_wait(s);
		} else
			process_line(s);
		/* Nothing consumed and nothing changed: wait for more. */
		if (evbuffer_get_length(in) == before && s->state == st &&
		    !s->parked)
			break;
	}
	s->processing = false;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (s->parked || s->state == ST_CLOSING)
		return;
	session_process(s);
}

/*
 * One best-effort, non-blocking write of what the socket bufferevent below
 * a TLS filter still holds (our last reply, encrypted): the filter is about
 * to be freed and would drop it. A socket bufferevent keeps the start of
 * its output frozen for its own writer; it is going away, so thaw it.
 */
static void
flush_underlying(struct smtp_session *s, struct bufferevent *under)
{
	struct evbuffer *out = bufferevent_get_output(under);

	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, s->fd);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	struct bufferevent *under;

	if (s->state != ST_CLOSING) {
		/* All written: the next replies go direct (session_flush). */
		if (!bufferevent_get_underlying(bev) &&
		    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			bufferevent_disable(bev, EV_WRITE);
		if (!s->parked)
			session_process(s);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	/* Under TLS the last reply may still sit, encrypted, in the socket
	 * bufferevent below the filter: push it out before closing. */
	under = bufferevent_get_underlying(bev);
	if (under) {
		/* close_notify goes out with it (RFC 8446 6.1). */
		SSL_shutdown(bufferevent_openssl_get_ssl(bev));
		flush_underlying(s, under);
	}
	session_free(s);
}

static void
tls_connected(struct smtp_session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

	s->tls = true;
	line_begin(s);
	snprintf(s->tls_version, sizeof s->tls_version, "%s",
	    SSL_get_version(ssl));
	snprintf(s->tls_cipher, sizeof s->tls_cipher, "%s",
	    SSL_get_cipher_name(ssl));
	log_info("s=%s tls version=%s cipher=%s", s->id, s->tls_version,
	    s->tls_cipher);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		tls_connected(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		/* Closing, or a proxy that never sent its header: nothing
		 * more to say. */
		if (s->state == ST_CLOSING || s->state == ST_PROXY) {
			if (s->state == ST_PROXY)
				s->close_reason = "timeout";
			session_free(s);
			return;
		}
		session_timeout(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(s->bev);

		s->close_reason = e ? "tls-error" : "io-error";
		session_free(s);
		return;
	}
	if (s->state == ST_CLOSING) {
		session_free(s);
		return;
	}
	/*
	 * EOF: a client may pipeline its last commands, QUIT included, and
	 * shut its side down at once. What it sent still gets answered, a
	 * commit in flight still gets its 250; then we close.
	 */
	s->eof = true;
	if (!s->parked)
		session_process(s);
	session_eof_check(s);
}

void
session_start_tls(struct smtp_session *s)
{
	struct bufferevent *tls;
	SSL *ssl = SSL_new(s->srv->tls);

	/*
	 * RFC 3207 5 and CVE-2011-0411: anything the client pipelined after
	 * STARTTLS arrived in clear text and must not be taken as commands
	 * of the protected session.
	 */
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	/* From now on the socket bufferevent writes what the filter gives
	 * it, our 220 first. */
	bufferevent_enable(s->bev, EV_WRITE);
	tls = bufferevent_openssl_filter_new(s->srv->base, s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!tls) {
		SSL_free(ssl);
		smtp_reply(s, 454, "4.7.0", "TLS not available");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	bufferevent_setcb(tls, on_read, on_write, on_event, s);
	bufferevent_setwatermark(tls, EV_READ, 0, SMTP_INPUT_MAX);
	bufferevent_setwatermark(tls, EV_WRITE, SMTP_OUTPUT_MAX / 2, 0);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	set_timeout(s, s->srv->conf->timeout_command_s);
	/* RFC 3207 4.2: the client must start over with EHLO. */
	session_txn_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	session_set_state(s, ST_GREET);
}

void
session_shutdown(struct smtp_session *s)
{
	if (s->state == ST_CLOSING)
		return;
	if (s->state == ST_PROXY) {
		session_close_after_reply(s, "shutdown");
		return;
	}
	/* A transaction in flight finishes first (session_txn_done). */
	if (s->parked || (s->state & (ST_MAIL | ST_RCPT | ST_DATA)))
		return;
	smtp_reply(s, 421, "4.3.2", "%s Service shutting down",
	    s->srv->conf->hostname);
	session_close_after_reply(s, "shutdown");
}

static void
session_free(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	char helo[LOG_VALUE_MAX];

	log_escape(helo, sizeof helo, s->helo, strlen(s->helo));
	log_info("s=%s disconnect client=%s helo=%s tls=%s msgs=%u reason=%s",
	    s->id, s->ip, helo[0] ? helo : "-",
	    s->tls ? s->tls_version : "no", s->msgs,
	    s->close_reason ? s->close_reason : "quit");
	session_txn_reset(s);
	checks_session_end(s);
	if (s->close_ev)
		event_free(s->close_ev);
	event_free(s->flush_ev);
	if (s->counted)
		smtp_limits_release(srv->limits,
		    (const struct sockaddr *)&s->peer);
	bufferevent_free(s->bev);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->session_count--;
	atomic_fetch_sub(srv->connections, 1);
	free(s);
	smtp_server_session_gone(srv);
}
