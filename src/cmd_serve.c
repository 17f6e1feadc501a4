/*
 * mxgate serve [-c FILE] [-d]: runs the gateway in the foreground, logging
 * to stderr. SIGTERM or SIGINT stops accepting, lets transactions in
 * flight finish, and exits 0.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "cmd.h"
#include "conf/conf.h"
#include "deliver/deliver.h"
#include "dns/dns.h"
#include "smtp/smtp.h"
#include "spool/spool.h"

struct serve {
	struct event_base *base;
	struct smtp_server *srv;
	bool stopping;
};

static void
on_drained(void *arg)
{
	struct serve *sv = arg;

	log_info("shutdown complete");
	event_base_loopexit(sv->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct serve *sv = arg;

	(void)what;
	if (sv->stopping) {
		log_info("signal=%d again: waiting for transactions in flight",
		    (int)sig);
		return;
	}
	sv->stopping = true;
	log_info("signal=%d shutting down", (int)sig);
	smtp_server_shutdown(sv->srv, on_drained, sv);
}

/*
 * Every connection is a descriptor, and so is every DNS query in flight
 * (libunbound's outgoing-range is 8192); the usual soft limit (1024) is far
 * below that. Take the whole hard limit, and while still root raise the
 * hard limit too when it cannot hold max_connections.
 */
static void
raise_fd_limit(const struct config *conf)
{
	/* Sessions, resolver ports, listeners, spool and delivery files. */
	rlim_t want = (rlim_t)conf->max_connections + 8192 + 256;
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

int
cmd_serve(int argc, char **argv)
{
	const char *file = NULL;
	char err[512];
	struct config *conf;
	struct spool *spool = NULL;
	struct deliver *dl = NULL;
	struct dns *dns = NULL;
	struct dns_options dns_opt;
	struct serve sv = { 0 };
	struct event *sigterm = NULL, *sigint = NULL;
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
	/* A client that goes away mid-write must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	/* Queue files and mail are nobody else's business, whatever the
	 * directories they land in allow. */
	umask(077);
	raise_fd_limit(conf);
	sv.base = event_base_new();
	sv.srv = smtp_server_new(sv.base, conf, err, sizeof err);
	if (!sv.srv) {
		log_warn("startup error=\"%s\"", err);
		goto out;
	}
	if (drop_privileges(conf->user) != 0)
		goto out;
	spool = spool_open(sv.base, conf->spool, err, sizeof err);
	if (!spool) {
		log_warn("spool dir=%s error=\"%s\"", conf->spool, err);
		goto out;
	}
	dns_opt = (struct dns_options){
		.servers = (const char *const *)conf->dns_servers,
		.server_count = conf->dns_server_count,
		.timeout_ms = conf->dns_timeout_ms,
		.trust_anchor = conf->dns_trust_anchor,
	};
	dns = dns_new_unbound(sv.base, &dns_opt, err, sizeof err);
	if (!dns) {
		log_warn("dns error=\"%s\"", err);
		goto out;
	}
	dl = deliver_new(sv.base, spool, conf);
	smtp_server_start(sv.srv, spool, dns);
	sigterm = evsignal_new(sv.base, SIGTERM, on_signal, &sv);
	sigint = evsignal_new(sv.base, SIGINT, on_signal, &sv);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	log_info("ready hostname=%s config=%s spool=%s", conf->hostname,
	    conf->file, conf->spool);
	event_base_dispatch(sv.base);
	rc = 0;
out:
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	smtp_server_free(sv.srv);
	dns_free(dns);
	deliver_free(dl);
	spool_close(spool);
	event_base_free(sv.base);
	conf_free(conf);
	return rc;
}
