/*
 * smtpload: the benchmarks' SMTP load driver.
 *
 * Sends ready-made messages (already DKIM-signed, so every server under test
 * gets the same bytes) over N parallel SMTP sessions, each bound to its own
 * source address (-S: consecutive from one; -A: a file of them; session i
 * uses address i modulo their number), and measures what an administrator
 * cares about: accepted messages per second, the end-of-DATA latency (from
 * writing the final "." to reading the reply: where a server spends its
 * checks and its fsync), the RCPT reply latency and the time to the banner.
 * MAIL, RCPT and DATA are pipelined (RFC 2920) when the server offers
 * PIPELINING, as MTAs do.
 *
 * It is C on one epoll loop, not Python, so that the driver is never what
 * limits the rate: on this 2-core machine an asyncio driver tops out near
 * 1000 msg/s against smtp-sink, below the rate the bench must show.
 *
 * Work is bounded twice: by the message count and by -t SECONDS (no new
 * message starts after it; sessions still open 30 s later are cut). The
 * summary is one JSON object on stdout. Exit 0 when at least one message
 * was accepted. Build: cc -O2 -std=c17 -o smtpload smtpload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX 4096	/* longest reply we keep; RFC 5321 4.5.3.1.5: 512 */
#define MAX_RCPT 16
#define MAX_CODES 64
#define MAX_ERRORS 5
#define GRACE_S 30.0	/* after the deadline, for sessions to finish */

enum state { ST_CONNECT, ST_BANNER, ST_EHLO, ST_ENVELOPE, ST_EOD, ST_RSET,
	ST_QUIT };

static const char *const stage_name[] = { "connect", "banner", "ehlo",
	"envelope", "eod", "rset", "quit" };

struct msg {
	char *p;
	size_t len;
};

struct conn {
	int fd;
	int source;		/* index into opt.sources */
	enum state state;
	bool pipelining;
	unsigned replies;	/* replies read in ST_ENVELOPE */
	unsigned done;		/* transactions on this connection */
	const struct msg *msg;
	const char *out;	/* pending output */
	size_t outlen;
	char in[REPLY_MAX];
	size_t inlen;
	double t_start;		/* connect() issued */
	double t_sent;		/* last command (or final dot) written */
};

struct lat {
	double *v;
	size_t n, cap;
};

struct code_count {
	char stage[12];
	int code;
	unsigned long n;
};

static struct {
	struct sockaddr_storage server;
	socklen_t server_len;
	char server_text[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage *sources;
	size_t source_count;
	unsigned sessions, per_conn;
	unsigned long messages;
	double max_seconds;
	char *envelope;		/* MAIL..RCPT..DATA lines */
	size_t envelope_len;
	char **env_lines;	/* the same one by one, without PIPELINING */
	size_t *env_lens;
	unsigned env_count;	/* 1 + rcpts + 1 */
	char *ehlo;
	size_t ehlo_len;
	struct msg *msgs;
	size_t msg_count;
} opt;

static struct {
	unsigned long started, accepted, conn_errors;
	size_t next_msg;
	double t0, deadline;
	struct lat eod, rcpt, banner;
	struct code_count codes[MAX_CODES];
	size_t code_count;
	char errors[MAX_ERRORS][160];
	size_t error_count;
	int ep;
	unsigned open;
} run;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		perror("smtpload: malloc");
		exit(3);
	}
	return p;
}

static void
die(const char *what)
{
	fprintf(stderr, "smtpload: %s\n", what);
	exit(2);
}

static void
lat_add(struct lat *l, double v)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (l->v == NULL)
			die("out of memory");
	}
	l->v[l->n++] = v;
}

static void
note_error(const char *fmt, const char *a, int b)
{
	if (run.error_count < MAX_ERRORS)
		snprintf(run.errors[run.error_count++],
		    sizeof(run.errors[0]), fmt, a, b);
}

static void
count_code(const char *stage, int code)
{
	size_t i;

	for (i = 0; i < run.code_count; i++)
		if (run.codes[i].code == code &&
		    strcmp(run.codes[i].stage, stage) == 0) {
			run.codes[i].n++;
			return;
		}
	if (run.code_count == MAX_CODES)
		return;
	snprintf(run.codes[i].stage, sizeof(run.codes[i].stage), "%s", stage);
	run.codes[i].code = code;
	run.codes[i].n = 1;
	run.code_count++;
}

static int
parse_addr(const char *text, int port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	return -1;
}

/* "[HOST]:PORT" or "V4:PORT" */
static void
parse_server(const char *text)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *end;
	size_t n;
	long port;
	char *tail;

	if (text[0] == '[') {
		end = strchr(text, ']');
		if (end == NULL || end[1] != ':')
			die("-s wants [HOST]:PORT");
		colon = end + 1;
		text++;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			die("-s wants HOST:PORT");
		end = colon;
	}
	n = (size_t)(end - text);
	if (n >= sizeof(host))
		die("-s: host too long");
	memcpy(host, text, n);
	host[n] = '\0';
	port = strtol(colon + 1, &tail, 10);
	if (*tail || port <= 0 || port > 65535 ||
	    parse_addr(host, (int)port, &opt.server, &opt.server_len) < 0)
		die("-s: bad address");
	snprintf(opt.server_text, sizeof(opt.server_text), "%s%s%s:%ld",
	    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
	    port);
}

/* count consecutive addresses from first (the last octet increments) */
static void
make_sources(const char *first, size_t count)
{
	struct sockaddr_storage base;
	socklen_t len;
	size_t i;
	int b;

	if (parse_addr(first, 0, &base, &len) < 0)
		die("-S: bad address");
	opt.sources = xmalloc(count * sizeof(*opt.sources));
	opt.source_count = count;
	for (i = 0; i < count; i++) {
		unsigned char *a;
		size_t alen;
		unsigned carry = (unsigned)i;

		opt.sources[i] = base;
		if (base.ss_family == AF_INET6) {
			a = ((struct sockaddr_in6 *)&opt.sources[i])
			    ->sin6_addr.s6_addr;
			alen = 16;
		} else {
			a = (unsigned char *)&((struct sockaddr_in *)
			    &opt.sources[i])->sin_addr.s_addr;
			alen = 4;
		}
		for (b = (int)alen - 1; b >= 0 && carry; b--) {
			carry += a[b];
			a[b] = (unsigned char)(carry & 0xff);
			carry >>= 8;
		}
	}
}

/* A message file -> DATA payload: CRLF lines, dot-stuffed, final dot. */
static void
wire_message(const char *raw, size_t len, struct msg *m)
{
	size_t i, o = 0;
	bool bol = true;

	m->p = xmalloc(len * 2 + 8);
	for (i = 0; i < len; i++) {
		char c = raw[i];

		if (bol && c == '.')
			m->p[o++] = '.';
		bol = false;
		if (c == '\r' && i + 1 < len && raw[i + 1] == '\n')
			continue;
		if (c == '\n') {
			m->p[o++] = '\r';
			bol = true;
		}
		m->p[o++] = c;
	}
	if (!bol) {
		m->p[o++] = '\r';
		m->p[o++] = '\n';
	}
	memcpy(m->p + o, ".\r\n", 3);
	m->len = o + 3;
}

/* One source address per line of path. */
static void
read_sources(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[128];
	size_t cap = 0;

	if (f == NULL)
		die("-A: cannot open the address file");
	while (fgets(line, sizeof(line), f) != NULL) {
		socklen_t len;

		line[strcspn(line, " \t\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (opt.source_count == cap) {
			cap = cap ? cap * 2 : 64;
			opt.sources = realloc(opt.sources,
			    cap * sizeof(*opt.sources));
			if (opt.sources == NULL)
				die("out of memory");
		}
		if (parse_addr(line, 0, &opt.sources[opt.source_count],
		    &len) < 0)
			die("-A: bad address");
		opt.source_count++;
	}
	fclose(f);
	if (opt.source_count == 0)
		die("-A: no addresses");
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
load_messages(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;

	if (d == NULL)
		die("-d: cannot open the message directory");
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l < 5 || strcmp(e->d_name + l - 4, ".eml") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (names == NULL)
				die("out of memory");
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n == 0)
		die("-d: no *.eml files");
	qsort(names, n, sizeof(*names), cmp_name);
	opt.msgs = xmalloc(n * sizeof(*opt.msgs));
	for (i = 0; i < n; i++) {
		struct stat st;
		char *raw;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) < 0)
			die("cannot read a message file");
		raw = xmalloc((size_t)st.st_size);
		if (read(fd, raw, (size_t)st.st_size) != st.st_size)
			die("short read of a message file");
		close(fd);
		wire_message(raw, (size_t)st.st_size, &opt.msgs[i]);
		free(raw);
		free(names[i]);
	}
	free(names);
	opt.msg_count = n;
}

static void
make_envelope(const char *from, char **rcpt, unsigned nrcpt)
{
	size_t cap = strlen(from) + 16, off = 0;
	unsigned i;

	for (i = 0; i < nrcpt; i++)
		cap += strlen(rcpt[i]) + 16;
	cap += 8;
	opt.envelope = xmalloc(cap);
	opt.env_count = nrcpt + 2;
	opt.env_lines = xmalloc(opt.env_count * sizeof(char *));
	opt.env_lens = xmalloc(opt.env_count * sizeof(size_t));
	opt.env_lines[0] = opt.envelope;
	off += (size_t)snprintf(opt.envelope, cap, "MAIL FROM:<%s>\r\n",
	    from);
	opt.env_lens[0] = off;
	for (i = 0; i < nrcpt; i++) {
		size_t l = (size_t)snprintf(opt.envelope + off, cap - off,
		    "RCPT TO:<%s>\r\n", rcpt[i]);

		opt.env_lines[i + 1] = opt.envelope + off;
		opt.env_lens[i + 1] = l;
		off += l;
	}
	opt.env_lines[nrcpt + 1] = opt.envelope + off;
	opt.env_lens[nrcpt + 1] = 6;
	off += (size_t)snprintf(opt.envelope + off, cap - off, "DATA\r\n");
	opt.envelope_len = off;
}

static bool
budget_take(void)
{
	if (run.started >= opt.messages || now() >= run.deadline)
		return false;
	run.started++;
	return true;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		run.open--;
	}
}

static void conn_open(struct conn *c);

/* The connection is done; start the next one if the budget allows. */
static void
conn_next(struct conn *c)
{
	conn_close(c);
	if (budget_take())
		conn_open(c);
}

static void
conn_fail(struct conn *c, const char *why, int err)
{
	run.conn_errors++;
	count_code(stage_name[c->state], -1);
	note_error("%s: errno %d", why, err);
	conn_next(c);
}

static void
conn_send(struct conn *c, const char *p, size_t len, enum state st)
{
	uint32_t ev = EPOLLIN;
	struct epoll_event e;

	c->state = st;
	c->out = p;
	c->outlen = len;
	while (c->outlen) {
		ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			conn_fail(c, "send", errno);
			return;
		}
		c->out += n;
		c->outlen -= (size_t)n;
	}
	/* Latencies count from the moment the last byte went out. */
	c->t_sent = now();
	if (c->outlen)
		ev |= EPOLLOUT;
	e.events = ev;
	e.data.ptr = c;
	epoll_ctl(run.ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void
conn_open(struct conn *c)
{
	struct epoll_event e;
	const struct sockaddr_storage *src = NULL;
	int one = 1;

	c->fd = socket(opt.server.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	run.open++;
	c->state = ST_CONNECT;
	c->inlen = 0;
	c->done = 0;
	c->msg = NULL;
	c->outlen = 0;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (opt.source_count) {
		src = &opt.sources[(size_t)c->source % opt.source_count];
		if (bind(c->fd, (const struct sockaddr *)src,
		    src->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
		    sizeof(struct sockaddr_in)) < 0) {
			conn_fail(c, "bind", errno);
			return;
		}
	}
	c->t_start = now();
	if (connect(c->fd, (struct sockaddr *)&opt.server, opt.server_len) < 0
	    && errno != EINPROGRESS) {
		conn_fail(c, "connect", errno);
		return;
	}
	e.events = EPOLLIN | EPOLLOUT;
	e.data.ptr = c;
	epoll_ctl(run.ep, EPOLL_CTL_ADD, c->fd, &e);
}

static void
start_transaction(struct conn *c)
{
	c->msg = &opt.msgs[run.next_msg++ % opt.msg_count];
	c->replies = 0;
	if (c->pipelining)
		conn_send(c, opt.envelope, opt.envelope_len, ST_ENVELOPE);
	else
		conn_send(c, opt.env_lines[0], opt.env_lens[0], ST_ENVELOPE);
}

/* After a transaction: another on this connection, or QUIT. */
static void
after_transaction(struct conn *c)
{
	c->done++;
	if (c->done < opt.per_conn && budget_take())
		start_transaction(c);
	else
		conn_send(c, "QUIT\r\n", 6, ST_QUIT);
}

/* One complete reply: code, and whether its text holds PIPELINING. */
static void
on_reply(struct conn *c, int code, bool pipelining)
{
	double t = now();

	switch (c->state) {
	case ST_BANNER:
		lat_add(&run.banner, t - c->t_start);
		if (code != 220) {
			count_code("banner", code);
			conn_next(c);
			return;
		}
		conn_send(c, opt.ehlo, opt.ehlo_len, ST_EHLO);
		return;
	case ST_EHLO:
		if (code != 250) {
			count_code("ehlo", code);
			conn_send(c, "QUIT\r\n", 6, ST_QUIT);
			return;
		}
		c->pipelining = pipelining;
		start_transaction(c);
		return;
	case ST_ENVELOPE: {
		unsigned i = c->replies++;
		bool last = i + 1 == opt.env_count;

		if (i > 0 && !last)
			lat_add(&run.rcpt, t - c->t_sent);
		if (code != (last ? 354 : 250))
			count_code(i == 0 ? "mail" : last ? "data" : "rcpt",
			    code);
		if (!last && !c->pipelining) {
			if (code >= 400 && i == 0) {
				c->replies = opt.env_count;
				conn_send(c, "RSET\r\n", 6, ST_RSET);
				return;
			}
			conn_send(c, opt.env_lines[i + 1],
			    opt.env_lens[i + 1], ST_ENVELOPE);
			return;
		}
		if (!last)
			return;
		if (code == 354)
			conn_send(c, c->msg->p, c->msg->len, ST_EOD);
		else
			conn_send(c, "RSET\r\n", 6, ST_RSET);
		return;
	}
	case ST_EOD:
		if (code == 250) {
			run.accepted++;
			lat_add(&run.eod, t - c->t_sent);
		} else {
			count_code("eod", code);
		}
		after_transaction(c);
		return;
	case ST_RSET:
		after_transaction(c);
		return;
	case ST_QUIT:
		conn_next(c);
		return;
	case ST_CONNECT:
		break;
	}
	count_code("unexpected", code);
	conn_next(c);
}

/* Splits the input into replies; a reply ends at "DDD " or "DDD\r\n". */
static void
on_input(struct conn *c)
{
	size_t start = 0, i;
	bool pipelining = false;

	for (;;) {
		char *nl = memchr(c->in + start, '\n', c->inlen - start);
		size_t linelen;
		const char *l = c->in + start;
		int code;

		if (nl == NULL)
			break;
		linelen = (size_t)(nl - l) + 1;
		if (linelen < 5 || l[0] < '0' || l[0] > '9') {
			count_code("garbage", 0);
			conn_next(c);
			return;
		}
		code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if (linelen >= 14 && strncasecmp(l + 4, "PIPELINING", 10) == 0)
			pipelining = true;
		start += linelen;
		if (l[3] == '-')
			continue;
		/* consume before the handler, which may reuse the buffer */
		memmove(c->in, c->in + start, c->inlen - start);
		c->inlen -= start;
		start = 0;
		on_reply(c, code, pipelining);
		pipelining = false;
		if (c->fd < 0 || c->state == ST_CONNECT)
			return;
	}
	if (start == 0 && c->inlen == sizeof(c->in)) {
		count_code("toolong", 0);
		conn_next(c);
		return;
	}
	i = c->inlen - start;
	memmove(c->in, c->in + start, i);
	c->inlen = i;
}

static void
on_event(struct conn *c, uint32_t ev)
{
	if (c->state == ST_CONNECT) {
		int err = 0;
		socklen_t l = sizeof(err);
		struct epoll_event e;

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			conn_fail(c, "connect", err);
			return;
		}
		c->state = ST_BANNER;
		e.events = EPOLLIN;
		e.data.ptr = c;
		epoll_ctl(run.ep, EPOLL_CTL_MOD, c->fd, &e);
		if (!(ev & EPOLLIN))
			return;
	}
	if (ev & EPOLLOUT && c->outlen) {
		conn_send(c, c->out, c->outlen, c->state);
		if (c->fd < 0 || c->state == ST_CONNECT)
			return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(c->fd, c->in + c->inlen,
		    sizeof(c->in) - c->inlen, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			if (c->state != ST_QUIT)
				conn_fail(c, "connection closed by server",
				    n < 0 ? errno : 0);
			else
				conn_next(c);
			return;
		}
		c->inlen += (size_t)n;
		on_input(c);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, in milliseconds; "null" when empty. */
static void
print_lat(const char *name, struct lat *l)
{
	static const int ps[] = { 50, 90, 99 };
	size_t i;

	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_double);
	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		size_t k;

		if (l->n == 0) {
			printf(",\n \"%s_p%d_ms\": null", name, ps[i]);
			continue;
		}
		k = ((size_t)ps[i] * l->n + 99) / 100;
		printf(",\n \"%s_p%d_ms\": %.3f", name, ps[i],
		    l->v[k ? k - 1 : 0] * 1000.0);
	}
	if (l->n)
		printf(",\n \"%s_max_ms\": %.3f", name,
		    l->v[l->n - 1] * 1000.0);
	else
		printf(",\n \"%s_max_ms\": null", name);
}

static void
free_all(struct conn *conns)
{
	size_t i;

	for (i = 0; i < opt.msg_count; i++)
		free(opt.msgs[i].p);
	free(opt.msgs);
	free(opt.sources);
	free(opt.envelope);
	free(opt.env_lines);
	free(opt.env_lens);
	free(opt.ehlo);
	free(run.eod.v);
	free(run.rcpt.v);
	free(run.banner.v);
	free(conns);
	close(run.ep);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: smtpload -s [HOST]:PORT -d MSGDIR -f FROM -r RCPT [-r ..]\n"
	    "  [-S FIRST_SOURCE_ADDR | -A SOURCE_ADDR_FILE] [-c SESSIONS=20]\n"
	    "  [-m MESSAGES=1000]"
	    "  [-k MSGS_PER_CONNECTION=1] [-t MAX_SECONDS=120] "
	    "[-H HELO=client.sender.example]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *msgdir = NULL, *from = NULL, *source = NULL;
	const char *source_file = NULL;
	const char *helo = "client.sender.example";
	char *rcpt[MAX_RCPT];
	unsigned nrcpt = 0, i;
	struct conn *conns;
	struct epoll_event evs[256];
	double t1;
	int ch;

	opt.sessions = 20;
	opt.messages = 1000;
	opt.per_conn = 1;
	opt.max_seconds = 120;
	while ((ch = getopt(argc, argv, "s:d:f:r:S:A:c:m:k:t:H:")) != -1) {
		switch (ch) {
		case 's': parse_server(optarg); break;
		case 'd': msgdir = optarg; break;
		case 'f': from = optarg; break;
		case 'r':
			if (nrcpt == MAX_RCPT)
				die("too many -r");
			rcpt[nrcpt++] = optarg;
			break;
		case 'S': source = optarg; break;
		case 'A': source_file = optarg; break;
		case 'c': opt.sessions = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'm': opt.messages = strtoul(optarg, NULL, 10); break;
		case 'k': opt.per_conn = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't': opt.max_seconds = strtod(optarg, NULL); break;
		case 'H': helo = optarg; break;
		default: usage();
		}
	}
	if (!opt.server_len || !msgdir || !from || !nrcpt || !opt.sessions ||
	    !opt.per_conn)
		usage();
	load_messages(msgdir);
	make_envelope(from, rcpt, nrcpt);
	opt.ehlo_len = strlen(helo) + 7;
	opt.ehlo = xmalloc(opt.ehlo_len + 1);
	snprintf(opt.ehlo, opt.ehlo_len + 1, "EHLO %s\r\n", helo);
	if (source)
		make_sources(source, opt.sessions);
	else if (source_file)
		read_sources(source_file);

	run.ep = epoll_create1(EPOLL_CLOEXEC);
	if (run.ep < 0)
		die("epoll_create1");
	conns = xmalloc(opt.sessions * sizeof(*conns));
	run.t0 = now();
	run.deadline = run.t0 + opt.max_seconds;
	for (i = 0; i < opt.sessions; i++) {
		memset(&conns[i], 0, sizeof(conns[i]));
		conns[i].fd = -1;
		conns[i].source = (int)i;
		if (budget_take())
			conn_open(&conns[i]);
	}
	while (run.open) {
		int n = epoll_wait(run.ep, evs, 256, 200), k;

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (k = 0; k < n; k++)
			on_event(evs[k].data.ptr, evs[k].events);
		if (now() > run.deadline + GRACE_S) {
			for (i = 0; i < opt.sessions; i++)
				if (conns[i].fd >= 0) {
					count_code("cut", conns[i].state);
					conn_close(&conns[i]);
				}
		}
	}
	t1 = now();

	printf("{\n \"server\": \"%s\",\n \"sessions\": %u,\n"
	    " \"per_conn\": %u,\n \"attempted\": %lu,\n \"accepted\": %lu,\n"
	    " \"connection_errors\": %lu,\n \"elapsed_s\": %.3f,\n"
	    " \"rate\": %.1f", opt.server_text, opt.sessions, opt.per_conn,
	    run.started, run.accepted, run.conn_errors, t1 - run.t0,
	    (double)run.accepted / (t1 - run.t0));
	print_lat("eod", &run.eod);
	print_lat("rcpt", &run.rcpt);
	print_lat("banner", &run.banner);
	printf(",\n \"refused\": {");
	for (i = 0; i < run.code_count; i++)
		printf("%s\"%s %d\": %lu", i ? ", " : "", run.codes[i].stage,
		    run.codes[i].code, run.codes[i].n);
	printf("},\n \"errors\": [");
	for (i = 0; i < run.error_count; i++)
		printf("%s\"%s\"", i ? ", " : "", run.errors[i]);
	printf("]\n}\n");
	fflush(stdout);
	free_all(conns);
	return run.accepted ? 0 : 1;
}
