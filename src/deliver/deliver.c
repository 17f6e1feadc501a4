#include "deliver/deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/span.h"
#include "base/work.h"
#include "conf/conf.h"
#include "spool/spool.h"

/*
 * Each delivery waits on two fsyncs (the file, then new/); threads let the
 * file system fold concurrent ones into one journal commit.
 */
#define DELIVER_THREADS 8
/* Maildir files are written through a buffer of this size. */
#define DELIVER_OUT_BUF (64 * 1024)
#define DELIVER_PATH_MAX 4096
/* A mailbox path leaves room for "/tmp/" and a unique name after it. */
#define DELIVER_MBOX_MAX (DELIVER_PATH_MAX - 512)

struct deliver {
	struct event_base *base;
	struct spool *spool;
	const struct config *conf;
	struct work_pool *pool;
	char host[128]; /* for unique names: no '/' or ':' */
	atomic_uint seq;
	bool stopping;
	struct deliver_msg *msgs; /* every message being worked on */
};

struct deliver_msg {
	struct deliver *d;
	struct deliver_msg *prev, *next;
	struct event *timer;
	unsigned delay_s;
	int result; /* from the job: 0, or why some copy is still missing */
	char id[SPOOL_ID_MAX + 1];
};

/* A Maildir file being written: CRLF becomes LF on the way. */
struct deliver_out {
	int fd;
	int err;
	bool cr; /* a CR is held back until we see what follows */
	size_t n;
	char buf[DELIVER_OUT_BUF];
};

static int
errno_err(int e)
{
	return e == ENOSPC || e == EDQUOT ? ERR_NOSPACE : ERR_IO;
}

static void
out_flush(struct deliver_out *o)
{
	const char *p = o->buf;
	size_t len = o->n;

	while (len && o->err == 0) {
		ssize_t w = write(o->fd, p, len);

		if (w < 0) {
			if (errno != EINTR)
				o->err = errno_err(errno);
			continue;
		}
		p += w;
		len -= (size_t)w;
	}
	o->n = 0;
}

static void
out_byte(struct deliver_out *o, char c)
{
	if (o->n == sizeof o->buf)
		out_flush(o);
	o->buf[o->n++] = c;
}

/*
 * Maildir files hold messages in the local (LF) line format, as Postfix
 * and qmail write them and as mail readers expect; the spool keeps the
 * CRLF that SMTP carried.
 */
static void
out_put(struct deliver_out *o, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (o->cr) {
			o->cr = false;
			if (p[i] != '\n')
				out_byte(o, '\r');
		}
		if (p[i] == '\r')
			o->cr = true;
		else
			out_byte(o, p[i]);
	}
}

static void
out_end(struct deliver_out *o)
{
	if (o->cr)
		out_byte(o, '\r');
	o->cr = false;
	out_flush(o);
}

static int
mkdir_p(char *path)
{
	char *s;

	for (s = path + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*s = '/';
			return errno_err(errno);
		}
		*s = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return errno_err(errno);
	return 0;
}

static int
maildir_make(const char mbox[DELIVER_MBOX_MAX])
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char path[DELIVER_PATH_MAX];
	size_t i;
	int rc;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", mbox, subs[i]);
		if ((rc = mkdir_p(path)) < 0)
			return rc;
	}
	return 0;
}

static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return errno_err(errno);
	if (fsync(fd) < 0)
		rc = errno_err(errno);
	close(fd);
	return rc;
}

/* The Maildir of recipient rcpt (local@domain), into mbox. */
static int
deliver_path(struct deliver *d, struct span rcpt, char *mbox, size_t sz)
{
	const struct conf_domain *dom;
	char name[DELIVER_MAILBOX_MAX + 1];
	size_t at = rcpt.len;
	int rc;

	while (at > 0 && rcpt.p[at - 1] != '@')
		at--;
	if (at == 0)
		return ERR_SYNTAX;
	dom = conf_find_domain(d->conf, rcpt.p + at, rcpt.len - at);
	if (dom == NULL || dom->maildir == NULL)
		return ERR_NOTFOUND;
	rc = deliver_mailbox_name(rcpt.p, at - 1, name, sizeof name);
	if (rc < 0)
		return rc;
	if ((size_t)snprintf(mbox, sz, "%s/%s", dom->maildir, name) >= sz)
		return ERR_TOOLONG;
	return 0;
}

/* Worker thread: one copy, the Maildir way. */
static int
deliver_copy(struct deliver *d, struct spool_queued *q, size_t i,
    struct deliver_out *o)
{
	const struct spool_file_info *info = spool_queued_info(q);
	struct span rcpt = spool_queued_rcpt(q, i);
	char mbox[DELIVER_MBOX_MAX], tmp[DELIVER_PATH_MAX],
	    new[DELIVER_PATH_MAX], uniq[256];
	struct timeval tv;
	size_t c;
	int rc;

	if ((rc = deliver_path(d, rcpt, mbox, sizeof mbox)) < 0)
		return rc;
	gettimeofday(&tv, NULL);
	snprintf(uniq, sizeof uniq, "%lld.M%ldP%dQ%u.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (int)getpid(), atomic_fetch_add(&d->seq, 1),
	    d->host);
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/tmp/%s", mbox, uniq) >=
	    sizeof tmp ||
	    (size_t)snprintf(new, sizeof new, "%s/new/%s", mbox, uniq) >=
	    sizeof new)
		return ERR_TOOLONG;
	o->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (o->fd < 0 && errno == ENOENT) {
		if ((rc = maildir_make(mbox)) < 0)
			return rc;
		o->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	}
	if (o->fd < 0)
		return errno_err(errno);
	o->err = 0;
	o->n = 0;
	o->cr = false;
	out_put(o, "Delivered-To: ", 14);
	out_put(o, rcpt.p, rcpt.len);
	out_put(o, "\n", 1);
	out_put(o, info->headers.p, info->headers.len);
	for (c = 0; c < info->body_chunks; c++) {
		struct span s = spool_queued_body(q, c);

		out_put(o, s.p, s.len);
	}
	out_end(o);
	rc = o->err;
	if (rc == 0 && fsync(o->fd) < 0)
		rc = errno_err(errno);
	if (close(o->fd) < 0 && rc == 0)
		rc = errno_err(errno);
	if (rc == 0 && rename(tmp, new) < 0)
		rc = errno_err(errno);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	snprintf(new, sizeof new, "%s/new", mbox);
	return fsync_dir(new);
}

/* Worker thread: every copy still missing, then the queue file's fate. */
static void
deliver_run(void *arg)
{
	struct deliver_msg *m = arg;
	struct deliver *d = m->d;
	struct spool_queued *q;
	struct deliver_out *o;
	size_t i, missing = 0;
	int rc, first = 0;

	rc = spool_queued_open(d->spool, m->id, &q);
	if (rc < 0) {
		/* Gone: delivered and removed by an earlier run. */
		m->result = rc == ERR_NOTFOUND ? 0 : rc;
		return;
	}
	o = xmalloc(sizeof *o);
	for (i = 0; i < spool_queued_info(q)->rcpt_count; i++) {
		struct span r = spool_queued_rcpt(q, i);
		char rbuf[LOG_VALUE_MAX];

		if (spool_queued_is_done(q, i))
			continue;
		rc = deliver_copy(d, q, i, o);
		log_escape(rbuf, sizeof rbuf, r.p, r.len);
		if (rc == 0)
			rc = spool_queued_mark_done(q, i);
		if (rc == 0) {
			log_info("deliver id=%s to=<%s> result=ok", m->id,
			    rbuf);
			continue;
		}
		log_warn("deliver id=%s to=<%s> result=deferred error=\"%s\"",
		    m->id, rbuf, err_str(rc));
		missing++;
		if (first == 0)
			first = rc;
	}
	free(o);
	/*
	 * Every copy is fsync'd in new/ before its DONE record exists, so the
	 * queue file can go; when copies are missing, their DONE records are
	 * made durable so a crash does not repeat the ones that succeeded.
	 */
	if (missing == 0)
		rc = spool_queued_remove(q);
	else
		rc = spool_queued_sync(q);
	if (rc < 0 && first == 0)
		first = rc;
	spool_queued_close(q);
	m->result = first;
}

static void deliver_start(struct deliver_msg *m);

static void
deliver_msg_free(struct deliver_msg *m)
{
	struct deliver *d = m->d;

	if (m->prev)
		m->prev->next = m->next;
	else
		d->msgs = m->next;
	if (m->next)
		m->next->prev = m->prev;
	if (m->timer)
		event_free(m->timer);
	free(m);
}

static void
deliver_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver_start(arg);
}

static void
deliver_done(void *arg)
{
	struct deliver_msg *m = arg;
	struct deliver *d = m->d;
	struct timeval tv = { 0, 0 };

	if (m->result == 0 || m->result == ERR_SYNTAX || d->stopping) {
		/* A damaged queue file is quarantined at the next start. */
		if (m->result == ERR_SYNTAX)
			log_warn("deliver id=%s error=\"unreadable queue "
			    "file\"", m->id);
		deliver_msg_free(m);
		return;
	}
	tv.tv_sec = m->delay_s;
	log_warn("deliver id=%s retry_in=%us", m->id, m->delay_s);
	m->delay_s = m->delay_s * 2 > DELIVER_RETRY_MAX_S ?
	    DELIVER_RETRY_MAX_S : m->delay_s * 2;
	if (m->timer == NULL)
		m->timer = evtimer_new(d->base, deliver_retry, m);
	evtimer_add(m->timer, &tv);
}

static void
deliver_start(struct deliver_msg *m)
{
	m->result = 0;
	work_submit(m->d->pool, deliver_run, deliver_done, m);
}

static void
deliver_on_queued(void *arg, const char *queue_id)
{
	struct deliver *d = arg;
	struct deliver_msg *m = xcalloc(1, sizeof *m);

	m->d = d;
	m->delay_s = 1;
	snprintf(m->id, sizeof m->id, "%s", queue_id);
	m->next = d->msgs;
	if (d->msgs)
		d->msgs->prev = m;
	d->msgs = m;
	deliver_start(m);
}

struct deliver *
deliver_new(struct event_base *base, struct spool *spool,
    const struct config *conf)
{
	struct deliver *d = xcalloc(1, sizeof *d);
	char *s;

	d->base = base;
	d->spool = spool;
	d->conf = conf;
	if (gethostname(d->host, sizeof d->host - 1) < 0 || !d->host[0])
		snprintf(d->host, sizeof d->host, "localhost");
	/* Maildir reserves '/' and ':' in unique names. */
	for (s = d->host; *s; s++)
		if (*s == '/' || *s == ':')
			*s = '_';
	d->pool = work_new(base, DELIVER_THREADS);
	spool_on_queued(spool, deliver_on_queued, d);
	return d;
}

void
deliver_free(struct deliver *d)
{
	if (d == NULL)
		return;
	spool_on_queued(d->spool, NULL, NULL);
	d->stopping = true;
	work_free(d->pool);
	while (d->msgs)
		deliver_msg_free(d->msgs);
	free(d);
}
