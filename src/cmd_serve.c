/*
 * mxgate serve [-c FILE] [-d]: runs the gateway in the foreground, logging
 * to stderr. SIGTERM or SIGINT stops accepting, lets transactions in
 * flight finish in every loop, and exits 0.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/handoff.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd.h"
#include "conf/conf.h"
#include "deliver/deliver.h"
#include "dns/dns.h"
#include "smtp/smtp.h"
#include "spool/spool.h"

/*
 * One event loop per core (conf_loops()): each has a server listening on
 * the same addresses, a resolver and a handle on the spool of its own. The
 * first loop also delivers and catches the signals; it tells the others to
 * stop through their handoffs, and they say back when their sessions are
 * gone.
 */
struct loop {
	struct serve *sv;
	struct event_base *base;
	struct smtp_server *srv;
	struct dns *dns;
	struct spool *spool; /* the first loop's is the main spool */
	struct handoff *stop; /* loops after the first */
	pthread_t thread;
};

struct serve {
	struct loop *loops;
	unsigned count;
	unsigned drained; /* loops without sessions (first loop's thread) */
	struct handoff *loop_drained;
	bool stopping;
};

static void
serve_loop_drained(struct serve *sv)
{
	if (++sv->drained < sv->count)
		return;
	log_info("shutdown complete");
	event_base_loopexit(sv->loops[0].base, NULL);
}

static void
on_loop_drained(void *arg, void *item)
{
	(void)item;
	serve_loop_drained(arg);
}

static void
on_drained(void *arg)
{
	struct loop *lp = arg;

	if (lp == &lp->sv->loops[0]) {
		serve_loop_drained(lp->sv);
		return;
	}
	event_base_loopexit(lp->base, NULL);
	handoff_post(lp->sv->loop_drained, lp);
}

static void
on_stop(void *arg, void *item)
{
	struct loop *lp = arg;

	(void)item;
	smtp_server_shutdown(lp->srv, on_drained, lp);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;
	unsigned i;

	(void)what;
	if (sv->stopping) {
		log_info("signal=%d again: waiting for transactions in flight",
		    (int)sig);
		return;
	}
	sv->stopping = true;
	log_info("signal=%d shutting down", (int)sig);
	/* The first loop's shutdown logs the sessions of every loop: it goes
	 * before the others start closing theirs. */
	smtp_server_shutdown(sv->loops[0].srv, on_drained, &sv->loops[0]);
	for (i = 1; i < sv->count; i++)
		handoff_post(sv->loops[i].stop, NULL);
}

/* mxgate flush: deferred mail is tried again now. */
static void
on_flush(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	log_info("flush deferred=%u", deliver_flush(arg));
}

static void *
loop_run(void *arg)
{
	struct loop *lp = arg;

	event_base_dispatch(lp->base);
	return NULL;
}

/*
 * The loops share DNS_PORTS_DEFAULT source ports for their queries in
 * flight (each port is memory in every context, used or not), down to
 * DNS_PORTS_MIN a loop.
 */
static unsigned
serve_dns_ports(unsigned loops)
{
	unsigned ports = DNS_PORTS_DEFAULT / loops;

	return ports < DNS_PORTS_MIN ? DNS_PORTS_MIN : ports;
}

/*
 * Every connection is a descriptor, and so is every DNS query in flight
 * (a port each, serve_dns_ports() in each loop); the usual soft limit
 * (1024) is far below that. Take the whole hard limit, and while
 * still root raise the hard limit too when it cannot hold
 * max_connections.
 */
static void
raise_fd_limit(const struct config *conf, unsigned loops)
{
	/* Sessions, resolver ports, listeners, spool and delivery files. */
	rlim_t want = (rlim_t)conf->max_connections +
	    (rlim_t)serve_dns_ports(loops) * loops + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_max < want && geteuid() == 0) {
		struct rlimit up = { want, want };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		log_warn("descriptors limit=%llu max_connections=%u: raise "
		    "the hard limit (LimitNOFILE=)",
		    (unsigned long long)rl.rlim_cur, conf->max_connections);
}

/* After binding: ports below 1024 need root, nothing afterwards does. */
static int
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (!user) {
		if (geteuid() == 0)
			log_warn("RUNNING AS ROOT: set 'user =' in [server] so "
			    "that mxgate drops privileges after binding");
		return 0;
	}
	if (geteuid() != 0) {
		log_warn("user=%s ignored: not started as root", user);
		return 0;
	}
	pw = getpwnam(user);
	if (!pw) {
		log_warn("user=%s unknown", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		log_warn("user=%s cannot switch: %s", user, strerror(errno));
		return -1;
	}
	/* Make sure there is no way back. */
	if (setuid(0) == 0) {
		log_warn("user=%s could regain root: refusing to run", user);
		return -1;
	}
	log_info("running as user=%s uid=%u", user, (unsigned)pw->pw_uid);
	return 0;
}

/* Everything each loop needs, made before any loop thread starts. */
static int
serve_start_loops(struct serve *sv, const struct config *conf,
    struct spool *spool)
{
	struct dns_options dns_opt = {
		.servers = (const char *const *)conf->dns_servers,
		.server_count = conf->dns_server_count,
		.timeout_ms = conf->dns_timeout_ms,
		.trust_anchor = conf->dns_trust_anchor,
		.ports = serve_dns_ports(sv->count),
	};
	char err[512];
	unsigned i;

	for (i = 0; i < sv->count; i++) {
		struct loop *lp = &sv->loops[i];

		lp->dns = dns_new_unbound(lp->base, &dns_opt, err, sizeof err);
		if (!lp->dns) {
			log_warn("dns error=\"%s\"", err);
			return -1;
		}
		lp->spool = i == 0 ? spool : spool_attach(spool, lp->base,
		    spool_commit_threads(sv->count));
		if (i > 0)
			lp->stop = handoff_new(lp->base, on_stop, lp);
		smtp_server_start(lp->srv, lp->spool, lp->dns);
	}
	return 0;
}

static void
serve_free_loops(struct serve *sv)
{
	unsigned i = sv->count;

	/* The first server owns the shared caps: it goes last. */
	while (i-- > 0) {
		struct loop *lp = &sv->loops[i];

		smtp_server_free(lp->srv);
		handoff_free(lp->stop, NULL);
		if (i > 0)
			spool_close(lp->spool);
		dns_free(lp->dns);
	}
}

int
cmd_serve(int argc, char **argv)
{
	const char *file = NULL;
	char err[512];
	struct config *conf;
	struct spool *spool = NULL;
	struct deliver *dl = NULL;
	struct serve sv = { 0 };
	struct event *sigterm = NULL, *sigint = NULL, *sigusr1 = NULL;
	unsigned i, started = 0;
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "c:d")) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 'd':
			log_threshold = LOG_DEBUG;
			break;
		default:
			fprintf(stderr, "usage: mxgate serve [-c FILE] [-d]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: mxgate serve [-c FILE] [-d]\n");
		return 2;
	}
	conf = file ? conf_load(file, err, sizeof err) :
	    conf_default(err, sizeof err);
	if (!conf) {
		fprintf(stderr, "mxgate: %s\n", err);
		return 2;
	}
	/* A client that goes away mid-write must not kill the process, nor
	 * a flush that comes before delivery has started. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	/* Queue files and mail are nobody else's business, whatever the
	 * directories they land in allow. */
	umask(077);
	sv.count = conf_loops(conf);
	sv.loops = xcalloc(sv.count, sizeof *sv.loops);
	raise_fd_limit(conf, sv.count);
	/* Every listener is bound before the privilege drop. */
	for (i = 0; i < sv.count; i++) {
		struct loop *lp = &sv.loops[i];

		lp->sv = &sv;
		lp->base = event_base_new();
		lp->srv = smtp_server_new(lp->base, conf,
		    i ? sv.loops[0].srv : NULL, err, sizeof err);
		if (!lp->srv) {
			log_warn("startup error=\"%s\"", err);
			goto out;
		}
	}
	if (drop_privileges(conf->user) != 0)
		goto out;
	spool = spool_open(sv.loops[0].base, conf->spool,
	    spool_commit_threads(sv.count), err, sizeof err);
	if (!spool) {
		log_warn("spool dir=%s error=\"%s\"", conf->spool, err);
		goto out;
	}
	if (serve_start_loops(&sv, conf, spool) != 0)
		goto out;
	dl = deliver_new(sv.loops[0].base, spool, conf);
	sv.loop_drained = handoff_new(sv.loops[0].base, on_loop_drained,
	    &sv);
	sigterm = evsignal_new(sv.loops[0].base, SIGTERM, on_signal, &sv);
	sigint = evsignal_new(sv.loops[0].base, SIGINT, on_signal, &sv);
	sigusr1 = evsignal_new(sv.loops[0].base, SIGUSR1, on_flush, dl);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evsignal_add(sigusr1, NULL);
	for (started = 1; started < sv.count; started++) {
		int e = pthread_create(&sv.loops[started].thread, NULL,
		    loop_run, &sv.loops[started]);

		if (e != 0)
			fatal("serve: pthread_create: %s", strerror(e));
	}
	log_info("ready hostname=%s config=%s spool=%s loops=%u",
	    conf->hostname, conf->file, conf->spool, sv.count);
	event_base_dispatch(sv.loops[0].base);
	rc = 0;
out:
	for (i = 1; i < started; i++)
		pthread_join(sv.loops[i].thread, NULL);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (sigusr1)
		event_free(sigusr1);
	serve_free_loops(&sv);
	deliver_free(dl);
	handoff_free(sv.loop_drained, NULL);
	spool_close(spool);
	for (i = 0; i < sv.count; i++)
		if (sv.loops[i].base)
			event_base_free(sv.loops[i].base);
	free(sv.loops);
	conf_free(conf);
	return rc;
}
