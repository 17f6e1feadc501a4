/*
 * The server: listeners, the accept path with the total connection cap,
 * and shutdown. Sessions are in session.c. With several loops each has a
 * server of its own listening on the same addresses (SO_REUSEPORT: the
 * kernel spreads connections over the loops), and the connection caps are
 * the first server's, shared.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "conf/conf.h"
#include "smtp/smtp_int.h"

struct listener_ctx {
	struct smtp_server *srv;
	const struct conf_listen *conf;
};

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener_ctx *ctx = arg;
	struct smtp_server *srv = ctx->srv;

	(void)l;
	/* Taken here, given back when the session is freed. */
	if (atomic_fetch_add(srv->connections, 1) >=
	    srv->conf->max_connections) {
		static const char busy[] = "421 4.7.0 Too many connections, "
		    "try again later\r\n";
		ssize_t n;

		atomic_fetch_sub(srv->connections, 1);
		/* No session for it: one non-blocking write and close. */
		n = send(fd, busy, sizeof busy - 1,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n;
		log_warn("limit result=refused reason=max_connections "
		    "connections=%u", srv->conf->max_connections);
		close(fd);
		return;
	}
	session_new(srv, fd, sa, (socklen_t)salen, ctx->conf->proxy,
	    ctx->conf->text);
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server *srv = arg;
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < srv->listener_count; i++)
		evconnlistener_enable(srv->listeners[i]);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct listener_ctx *ctx = arg;
	struct smtp_server *srv = ctx->srv;
	static const struct timeval pause = { 0, SMTP_ACCEPT_PAUSE_MS * 1000 };
	int e = EVUTIL_SOCKET_ERROR();
	size_t i;

	(void)l;
	/*
	 * Out of descriptors or memory: the pending connection stays in the
	 * backlog and the listener stays readable, so accepting again at
	 * once would spin. Serve the sessions we have and retry shortly.
	 */
	log_warn("accept error=\"%s\" pause_ms=%d",
	    evutil_socket_error_to_string(e), SMTP_ACCEPT_PAUSE_MS);
	for (i = 0; i < srv->listener_count; i++)
		evconnlistener_disable(srv->listeners[i]);
	if (!srv->accept_pause_ev)
		srv->accept_pause_ev = evtimer_new(srv->base, on_accept_resume,
		    srv);
	evtimer_add(srv->accept_pause_ev, &pause);
}

static void
listen_text(const struct sockaddr *sa, char *out, size_t outsz)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
		snprintf(out, outsz, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
		snprintf(out, outsz, "%s:%u", ip, ntohs(s4->sin_port));
	}
}

/*
 * With SO_REUSEPORT a second process of the same user could bind the port
 * too and silently take half the mail. Binding it once without the option
 * first keeps "address in use" an error, and gives the real port when the
 * file says 0, for the loops to share.
 */
static int
listen_probe(const struct conf_listen *li, struct sockaddr_storage *out,
    char *err, size_t errsz)
{
	socklen_t len = sizeof *out;
	int one = 1, fd = socket(li->addr.ss_family, SOCK_STREAM |
	    SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof one) < 0 || (li->addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
	    bind(fd, (const struct sockaddr *)&li->addr, li->addrlen) < 0 ||
	    getsockname(fd, (struct sockaddr *)out, &len) < 0) {
		snprintf(err, errsz, "listen %s: %s", li->text,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static struct evconnlistener *
listen_one(struct smtp_server *srv, size_t i, struct listener_ctx *ctx,
    char *err, size_t errsz)
{
	const struct conf_listen *li = &srv->conf->listen[i];
	struct evconnlistener *l;
	struct sockaddr_storage *bound = &srv->bound[i];
	socklen_t blen = sizeof *bound;
	bool shared = conf_loops(srv->conf) > 1;
	char text[80];

	ctx->srv = srv;
	ctx->conf = li;
	if (srv->first)
		*bound = srv->first->bound[i];
	else if (!shared)
		*bound = li->addr;
	else if (listen_probe(li, bound, err, errsz) < 0)
		return NULL;
	/* V6ONLY: "[::]:25" and "0.0.0.0:25" can both be listed. */
	l = evconnlistener_new_bind(srv->base, on_accept, ctx,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
	    LEV_OPT_REUSEABLE | LEV_OPT_DISABLED |
	    (shared ? LEV_OPT_REUSEABLE_PORT : 0) |
	    (li->addr.ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0),
	    1024, (const struct sockaddr *)bound, (int)li->addrlen);
	if (!l) {
		snprintf(err, errsz, "listen %s: %s", li->text,
		    strerror(errno));
		return NULL;
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)bound,
	    &blen);
	/* The real port matters when the file said 0 (tests do). */
	if (!srv->first) {
		listen_text((const struct sockaddr *)bound, text, sizeof text);
		log_info("listening on %s%s", text, li->proxy ? " proxy" : "");
	}
	return l;
}

struct smtp_server *
smtp_server_new(struct event_base *base, const struct config *conf,
    struct smtp_server *first, char *err, size_t errsz)
{
	struct smtp_server *srv = xcalloc(1, sizeof *srv);
	size_t i;

	srv->base = base;
	srv->conf = conf;
	srv->first = first;
	if (first) {
		/* Session ids stay apart between the loops. */
		srv->id_base = first->id_base + ++first->loops_after;
		srv->limits = first->limits;
		srv->connections = first->connections;
	} else {
		srv->id_base = (uint32_t)time(NULL) ^
		    ((uint32_t)getpid() << 16);
		srv->limits = smtp_limits_new(conf->max_connections_per_ip);
		srv->connections = &srv->connections_own;
	}
	if (conf->tls_certificate) {
		srv->tls = smtp_tls_ctx_new(conf->tls_certificate,
		    conf->tls_key, err, errsz);
		if (!srv->tls) {
			smtp_server_free(srv);
			return NULL;
		}
	}
	srv->listeners = xcalloc(conf->listen_count, sizeof *srv->listeners);
	srv->bound = xcalloc(conf->listen_count, sizeof *srv->bound);
	srv->listener_args = xcalloc(conf->listen_count,
	    sizeof *srv->listener_args);
	for (i = 0; i < conf->listen_count; i++) {
		struct listener_ctx *ctx = xcalloc(1, sizeof *ctx);

		srv->listener_args[i] = ctx;
		srv->listeners[i] = listen_one(srv, i, ctx, err, errsz);
		srv->listener_count++;
		if (!srv->listeners[i]) {
			smtp_server_free(srv);
			return NULL;
		}
	}
	return srv;
}

void
smtp_server_start(struct smtp_server *srv, struct spool *spool,
    struct dns *dns)
{
	const struct config *conf = srv->conf;
	struct spf_options spf_opt = {
		.max_void_lookups = conf->spf_max_void_lookups,
		.receiver = conf->hostname,
	};
	size_t i;

	srv->spool = spool;
	srv->dns = dns;
	if (dns) {
		srv->spf = spf_new(srv->base, dns, &spf_opt);
		/* Keys are kept for their TTL, at most an hour. */
		srv->dkim_keys = dkim_keycache_new(SMTP_DKIM_KEY_SLOTS, 3600);
	}
	for (i = 0; i < srv->listener_count; i++)
		evconnlistener_enable(srv->listeners[i]);
}

static void
close_listeners(struct smtp_server *srv)
{
	size_t i;

	for (i = 0; i < srv->listener_count; i++) {
		if (srv->listeners[i])
			evconnlistener_free(srv->listeners[i]);
		free(srv->listener_args[i]);
	}
	free(srv->listeners);
	free(srv->listener_args);
	srv->listeners = NULL;
	srv->listener_args = NULL;
	srv->listener_count = 0;
}

static void
on_drained(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server *srv = arg;

	(void)fd;
	(void)what;
	if (srv->drained)
		srv->drained(srv->drained_arg);
}

void
smtp_server_session_gone(struct smtp_server *srv)
{
	static const struct timeval now = { 0, 0 };

	if (srv->shutting_down && srv->session_count == 0 && srv->drained &&
	    !srv->drained_ev) {
		srv->drained_ev = evtimer_new(srv->base, on_drained, srv);
		evtimer_add(srv->drained_ev, &now);
	}
}

void
smtp_server_shutdown(struct smtp_server *srv, smtp_drained_cb *done,
    void *arg)
{
	struct smtp_session *s, *next;

	srv->shutting_down = true;
	srv->drained = done;
	srv->drained_arg = arg;
	if (srv->accept_pause_ev)
		evtimer_del(srv->accept_pause_ev);
	close_listeners(srv);
	/* One line for the whole server, from the first loop. */
	if (!srv->first)
		log_info("shutdown sessions=%u", atomic_load(srv->connections));
	for (s = srv->sessions; s; s = next) {
		next = s->next;
		session_shutdown(s);
	}
	smtp_server_session_gone(srv);
}

void
smtp_server_free(struct smtp_server *srv)
{
	if (!srv)
		return;
	close_listeners(srv);
	if (srv->drained_ev)
		event_free(srv->drained_ev);
	if (srv->accept_pause_ev)
		event_free(srv->accept_pause_ev);
	if (!srv->first)
		smtp_limits_free(srv->limits);
	free(srv->bound);
	spf_free(srv->spf);
	dkim_keycache_free(srv->dkim_keys);
	smtp_tls_ctx_free(srv->tls);
	free(srv);
}

int
smtp_tls_check(const struct config *conf, char *err, size_t errsz)
{
	struct ssl_ctx_st *ctx;

	if (!conf->tls_certificate)
		return 0;
	ctx = smtp_tls_ctx_new(conf->tls_certificate, conf->tls_key, err,
	    errsz);
	if (!ctx)
		return ERR_TLS;
	smtp_tls_ctx_free(ctx);
	return 0;
}
