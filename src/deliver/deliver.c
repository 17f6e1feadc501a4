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
 * Deliveries go in batches: the copies of up to DELIVER_BATCH messages
 * share one fsync per new/ directory, and a queue that grows while the
 * jobs run is taken in bigger bites. Few jobs at once leave the CPU and
 * the disk to the sessions waiting for their 250: delivery catches up
 * behind them. The batch is also what a crash may deliver twice (copies
 * renamed into new/ before their directory fsync and DONE records), so it
 * stays small.
 */
#define DELIVER_THREADS 2
#define DELIVER_BATCH 8
/*
 * Delivery threads run this much nicer than the sessions: in a burst the
 * CPU goes first to the clients waiting for a reply (each Maildir copy is
 * a file creation, which can cost a third of a millisecond of CPU), and
 * delivery catches up behind them. Measured in bench/README.md
 * (smtp_throughput.sh).
 */
#define DELIVER_NICE 10
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
	int pid;
	atomic_uint seq;
	bool stopping;
	struct deliver_msg *msgs; /* every message being worked on */
	struct deliver_msg *ready, **ready_tail; /* waiting for a job */
	struct deliver_batch *idle; /* free job slots */
};

struct deliver_msg {
	struct deliver *d;
	struct deliver_msg *prev, *next;
	struct deliver_msg *ready_next;
	struct event *timer;
	unsigned delay_s;
	int result; /* from the job: 0, or why some copy is still missing */
	char id[SPOOL_ID_MAX + 1];
};

/* A Maildir file being written: CRLF becomes LF on the way. */
struct deliver_out {
	int fd;
	int err;
	int errnum; /* the system's reason for err, for the log */
	bool cr; /* a CR is held back until we see what follows */
	size_t n;
	char buf[DELIVER_OUT_BUF];
};

static int
errno_err(int e)
{
	return e == ENOSPC || e == EDQUOT ? ERR_NOSPACE : ERR_IO;
}

/* A failed system call of a copy: its error, and errno kept for the log. */
static int
copy_err(struct deliver_out *o, int e)
{
	o->errnum = e;
	return errno_err(e);
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
				o->err = copy_err(o, errno);
			continue;
		}
		p += w;
		len -= (size_t)w;
	}
	o->n = 0;
}

static void
out_bytes(struct deliver_out *o, const char *p, size_t len)
{
	while (len) {
		size_t n = sizeof o->buf - o->n;

		if (n > len)
			n = len;
		memcpy(o->buf + o->n, p, n);
		o->n += n;
		p += n;
		len -= n;
		if (o->n == sizeof o->buf)
			out_flush(o);
	}
}

/*
 * Maildir files hold messages in the local (LF) line format, as Postfix
 * and qmail write them and as mail readers expect; the spool keeps the
 * CRLF that SMTP carried. The runs between CRs are copied whole.
 */
static void
out_put(struct deliver_out *o, const char *p, size_t len)
{
	while (len) {
		const char *cr;
		size_t run;

		if (o->cr) {
			o->cr = false;
			if (*p != '\n')
				out_bytes(o, "\r", 1);
		}
		cr = memchr(p, '\r', len);
		run = cr ? (size_t)(cr - p) : len;
		out_bytes(o, p, run);
		if (cr == NULL)
			return;
		o->cr = true;
		p = cr + 1;
		len -= run + 1;
	}
}

static void
out_end(struct deliver_out *o)
{
	if (o->cr)
		out_bytes(o, "\r", 1);
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

/*
 * tmp/ last: a crash between the mkdirs then leaves no tmp/, and the next
 * copy's open() in it fails and makes the rest.
 */
static int
maildir_make(const char mbox[DELIVER_MBOX_MAX])
{
	static const char *const subs[] = { "cur", "new", "tmp" };
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

/* 0, or the errno of the failure. */
static int
fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e = 0;

	if (fd < 0)
		return errno;
	if (fsync(fd) < 0)
		e = errno;
	close(fd);
	return e;
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

/*
 * Worker thread: one copy, the Maildir way, except the fsync of new/,
 * which the caller makes once for every copy of its batch in that
 * directory. newdir receives the directory's path.
 */
static int
deliver_copy(struct deliver *d, struct spool_queued *q, size_t i,
    struct deliver_out *o, char newdir[DELIVER_PATH_MAX])
{
	const struct spool_file_info *info = spool_queued_info(q);
	struct span rcpt = spool_queued_rcpt(q, i);
	char mbox[DELIVER_MBOX_MAX], tmp[DELIVER_PATH_MAX],
	    new[DELIVER_PATH_MAX], uniq[256];
	struct timeval tv;
	size_t c;
	int rc;

	o->errnum = 0;
	if ((rc = deliver_path(d, rcpt, mbox, sizeof mbox)) < 0)
		return rc;
	gettimeofday(&tv, NULL);
	snprintf(uniq, sizeof uniq, "%lld.M%ldP%dQ%u.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, d->pid, atomic_fetch_add(&d->seq, 1),
	    d->host);
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/tmp/%s", mbox, uniq) >=
	    sizeof tmp ||
	    (size_t)snprintf(new, sizeof new, "%s/new/%s", mbox, uniq) >=
	    sizeof new)
		return ERR_TOOLONG;
	o->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (o->fd < 0 && errno == ENOENT) {
		if ((rc = maildir_make(mbox)) < 0)
			return copy_err(o, errno);
		o->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
	}
	if (o->fd < 0)
		return copy_err(o, errno);
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
		rc = copy_err(o, errno);
	if (close(o->fd) < 0 && rc == 0)
		rc = copy_err(o, errno);
	/* No new/: a Maildir half made before this order (or a crash that
	 * kept a later mkdir and lost an earlier one): make it whole. */
	if (rc == 0 && rename(tmp, new) < 0 && (errno != ENOENT ||
	    maildir_make(mbox) < 0 || rename(tmp, new) < 0))
		rc = copy_err(o, errno);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	snprintf(newdir, DELIVER_PATH_MAX, "%s/new", mbox);
	return 0;
}

/* A copy made in a batch: it counts once its new/ has been fsync'd. */
struct deliver_copy {
	struct deliver_msg *m;
	size_t rcpt;
	size_t dir; /* index in the batch's directories */
	int rc;
	int errnum; /* the system's reason for rc, 0 if none */
};

struct deliver_batch {
	struct deliver *d;
	struct deliver_batch *next;
	struct deliver_msg *msgs[DELIVER_BATCH];
	struct spool_queued *q[DELIVER_BATCH];
	size_t n;
	struct deliver_copy *copies;
	size_t ncopies, capcopies;
	char (*dirs)[DELIVER_PATH_MAX];
	int *dir_errno; /* of each directory's fsync, 0 if it worked */
	size_t ndirs, capdirs;
	struct deliver_out out;
};

static size_t
batch_dir(struct deliver_batch *b, const char *dir)
{
	size_t i;

	for (i = 0; i < b->ndirs; i++)
		if (strcmp(b->dirs[i], dir) == 0)
			return i;
	if (b->ndirs == b->capdirs) {
		b->capdirs = b->capdirs ? b->capdirs * 2 : 8;
		b->dirs = xrealloc(b->dirs, b->capdirs * sizeof *b->dirs);
		b->dir_errno = xrealloc(b->dir_errno, b->capdirs *
		    sizeof *b->dir_errno);
	}
	memcpy(b->dirs[b->ndirs], dir, strlen(dir) + 1);
	return b->ndirs++;
}

static void
batch_add_copy(struct deliver_batch *b, struct deliver_msg *m, size_t rcpt,
    size_t dir, int rc, int errnum)
{
	if (b->ncopies == b->capcopies) {
		b->capcopies = b->capcopies ? b->capcopies * 2 : 64;
		b->copies = xrealloc(b->copies, b->capcopies *
		    sizeof *b->copies);
	}
	b->copies[b->ncopies++] = (struct deliver_copy){ m, rcpt, dir, rc,
		errnum };
}

/* The system's words when a call failed ("Not a directory"), else ours. */
static void
log_copy(struct deliver_msg *m, struct span rcpt, const struct deliver_copy *cp)
{
	char rbuf[LOG_VALUE_MAX], ebuf[128];

	log_escape(rbuf, sizeof rbuf, rcpt.p, rcpt.len);
	if (cp->rc == 0)
		log_info("deliver id=%s to=<%s> result=ok", m->id, rbuf);
	else
		log_warn("deliver id=%s to=<%s> result=deferred "
		    "error=\"%s\"", m->id, rbuf, cp->errnum ?
		    strerror_r(cp->errnum, ebuf, sizeof ebuf) :
		    err_str(cp->rc));
}

/*
 * Worker thread: a batch of messages. Every missing copy is written and
 * renamed into new/; then each new/ directory is fsync'd once for all the
 * copies in it; only then does a queue file go (every copy durable) or get
 * DONE records for the copies that made it (some still missing).
 */
static void
deliver_run(void *arg)
{
	struct deliver_batch *b = arg;
	char newdir[DELIVER_PATH_MAX];
	size_t k, i, c;

	b->ncopies = b->ndirs = 0;
	for (k = 0; k < b->n; k++) {
		struct deliver_msg *m = b->msgs[k];
		int rc = spool_queued_open(b->d->spool, m->id, &b->q[k]);

		m->result = 0;
		if (rc < 0) {
			/* Gone: delivered and removed by an earlier run. */
			m->result = rc == ERR_NOTFOUND ? 0 : rc;
			/* (A damaged one is logged when it is dropped.) */
			if (m->result < 0 && m->result != ERR_SYNTAX)
				log_warn("deliver id=%s error=\"queue file: "
				    "%s\"", m->id, err_str(rc));
			b->q[k] = NULL;
			continue;
		}
		for (i = 0; i < spool_queued_info(b->q[k])->rcpt_count; i++) {
			if (spool_queued_is_done(b->q[k], i))
				continue;
			rc = deliver_copy(b->d, b->q[k], i, &b->out, newdir);
			batch_add_copy(b, m, i, rc == 0 ?
			    batch_dir(b, newdir) : 0, rc, b->out.errnum);
		}
	}
	for (i = 0; i < b->ndirs; i++)
		b->dir_errno[i] = fsync_dir(b->dirs[i]);
	for (k = 0, c = 0; k < b->n; k++) {
		struct deliver_msg *m = b->msgs[k];
		struct spool_queued *q = b->q[k];
		size_t missing = 0, first = c;
		int rc = 0;

		if (q == NULL)
			continue;
		for (; c < b->ncopies && b->copies[c].m == m; c++) {
			struct deliver_copy *cp = &b->copies[c];

			if (cp->rc == 0 && b->dir_errno[cp->dir]) {
				cp->errnum = b->dir_errno[cp->dir];
				cp->rc = errno_err(cp->errnum);
			}
			log_copy(m, spool_queued_rcpt(q, cp->rcpt), cp);
			if (cp->rc < 0 && m->result == 0)
				m->result = cp->rc;
			missing += cp->rc < 0;
		}
		if (missing == 0) {
			rc = spool_queued_remove(q);
		} else {
			for (i = first; i < c && rc == 0; i++)
				if (b->copies[i].rc == 0)
					rc = spool_queued_mark_done(q,
					    b->copies[i].rcpt);
			if (rc == 0)
				rc = spool_queued_sync(q);
		}
		if (rc < 0 && m->result == 0)
			m->result = rc;
		spool_queued_close(q);
		b->q[k] = NULL;
	}
}

static void deliver_kick(struct deliver *d);

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
deliver_ready(struct deliver_msg *m)
{
	struct deliver *d = m->d;

	m->ready_next = NULL;
	*d->ready_tail = m;
	d->ready_tail = &m->ready_next;
	deliver_kick(d);
}

static void
deliver_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver_ready(arg);
}

static void
deliver_msg_done(struct deliver_msg *m)
{
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
deliver_done(void *arg)
{
	struct deliver_batch *b = arg;
	struct deliver *d = b->d;
	size_t k;

	for (k = 0; k < b->n; k++)
		deliver_msg_done(b->msgs[k]);
	b->n = 0;
	b->next = d->idle;
	d->idle = b;
	deliver_kick(d);
}

/* Starts batches while a job slot is free and messages wait. */
static void
deliver_kick(struct deliver *d)
{
	while (d->ready && d->idle && !d->stopping) {
		struct deliver_batch *b = d->idle;

		d->idle = b->next;
		while (d->ready && b->n < DELIVER_BATCH) {
			b->msgs[b->n++] = d->ready;
			d->ready = d->ready->ready_next;
		}
		if (d->ready == NULL)
			d->ready_tail = &d->ready;
		work_submit(d->pool, deliver_run, deliver_done, b);
	}
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
	deliver_ready(m);
}

unsigned
deliver_flush(struct deliver *d)
{
	struct deliver_msg *m;
	unsigned n = 0;

	for (m = d->msgs; m; m = m->next) {
		if (m->timer == NULL || !evtimer_pending(m->timer, NULL))
			continue;
		evtimer_del(m->timer);
		m->delay_s = 1;
		deliver_ready(m);
		n++;
	}
	return n;
}

struct deliver *
deliver_new(struct event_base *base, struct spool *spool,
    const struct config *conf)
{
	struct deliver *d = xcalloc(1, sizeof *d);
	unsigned i;
	char *s;

	d->base = base;
	d->spool = spool;
	d->conf = conf;
	d->pid = (int)getpid();
	if (gethostname(d->host, sizeof d->host - 1) < 0 || !d->host[0])
		snprintf(d->host, sizeof d->host, "localhost");
	/* Maildir reserves '/' and ':' in unique names. */
	for (s = d->host; *s; s++)
		if (*s == '/' || *s == ':')
			*s = '_';
	d->ready_tail = &d->ready;
	for (i = 0; i < DELIVER_THREADS; i++) {
		struct deliver_batch *b = xcalloc(1, sizeof *b);

		b->d = d;
		b->next = d->idle;
		d->idle = b;
	}
	d->pool = work_new_background(base, DELIVER_THREADS, DELIVER_NICE);
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
	while (d->idle) {
		struct deliver_batch *b = d->idle;

		d->idle = b->next;
		free(b->copies);
		free(b->dirs);
		free(b->dir_errno);
		free(b);
	}
	free(d);
}
