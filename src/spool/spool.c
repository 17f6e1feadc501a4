#include "spool/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/work.h"

/*
 * Body bytes collect in memory and reach the file in chunks of this size, so
 * a message of up to SPOOL_CHUNK bytes costs one write() in all.
 */
#define SPOOL_CHUNK (64 * 1024)
/*
 * Concurrent fsyncs of different files share one journal commit in the
 * file system, so throughput grows with the commits in flight: enough
 * threads that every busy session can have its fsync outstanding.
 */
#define SPOOL_THREADS 16
#define SPOOL_SYNC_ROUNDS 4
#define SPOOL_NO_REC SIZE_MAX

struct spool {
	struct event_base *base;
	struct work_pool *pool;
	int tmpfd, queuefd, quarfd;
	unsigned instance;
	unsigned counter;

	spool_queued_cb *queued_cb;
	void *queued_arg;
	struct event *recover_ev;
	char **recovered;
	size_t recovered_count;

	/*
	 * Group commit of queue/ (worker threads only, spool_sync_queue()):
	 * each rename takes a ticket; a directory fsync round covers the
	 * tickets issued before it started. The latest round's result answers
	 * for everyone waiting, since a later successful fsync of the
	 * directory covers earlier renames too.
	 */
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cv;
	uint64_t sync_issued, sync_started, sync_done;
	unsigned sync_running;
	int sync_err;
};

struct spool_msg {
	struct spool *spool;
	struct spool_msg *next;
	char id[SPOOL_ID_MAX + 1];
	int fd;
	struct buf out;      /* records not yet written */
	size_t body_rec;     /* offset in out of the open BODY record */
	struct buf headers;
	uint64_t body_len;
	uint32_t rcpt_count;
	int err;             /* set by the commit job */
	bool queued;         /* renamed into queue/ by the commit job */
	spool_commit_cb *cb;
	void *arg;
	bool committing, detached;
};

int
spool_errno_err(int e)
{
	return e == ENOSPC || e == EDQUOT ? ERR_NOSPACE : ERR_IO;
}

int
spool_queue_fd(const struct spool *spool)
{
	return spool->queuefd;
}

int
spool_write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return spool_errno_err(errno);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
mkdir_p(const char *path)
{
	char *tmp = xstrdup(path);
	char *s;
	int rc = 0;

	for (s = tmp + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(tmp);
	return rc;
}

static int
open_subdir(const char *dir, const char *sub, char *err, size_t errsz)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, sub);
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
	return fd;
}

/* Leftovers in tmp/ were never acknowledged: nobody is waiting for them. */
static void
spool_clean_tmp(struct spool *spool)
{
	DIR *d = fdopendir(dup(spool->tmpfd));
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(spool->tmpfd, e->d_name, 0) == 0)
			log_info("spool clean tmp=%s", e->d_name);
	}
	closedir(d);
}

/* 1 complete, 0 incomplete, ERR_SYNTAX corrupt, ERR_IO unreadable. */
static int
spool_check_file(int dirfd, const char *name)
{
	struct spool_file_info info;
	struct stat st;
	void *map;
	int fd, rc;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ERR_IO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ERR_IO;
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return ERR_IO;
	rc = spool_file_scan(map, (size_t)st.st_size, &info);
	munmap(map, (size_t)st.st_size);
	if (rc < 0)
		return rc;
	return info.complete ? 1 : 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Complete queue files are remembered for delivery; anything else was cut
 * short (or damaged) and goes to quarantine/, where an operator can look.
 */
static void
spool_recover(struct spool *spool)
{
	DIR *d = fdopendir(dup(spool->queuefd));
	struct dirent *e;
	size_t cap = 0;
	bool moved = false;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int rc;

		if (e->d_name[0] == '.')
			continue;
		rc = spool_check_file(spool->queuefd, e->d_name);
		if (rc == 1) {
			if (spool->recovered_count == cap) {
				cap = cap ? cap * 2 : 64;
				spool->recovered = xrealloc(spool->recovered,
				    cap * sizeof *spool->recovered);
			}
			spool->recovered[spool->recovered_count++] =
			    xstrdup(e->d_name);
			continue;
		}
		if (rc == ERR_IO) {
			log_warn("spool recover id=%s error=unreadable",
			    e->d_name);
			continue;
		}
		if (renameat(spool->queuefd, e->d_name, spool->quarfd,
		    e->d_name) < 0) {
			log_warn("spool quarantine id=%s error=\"%s\"",
			    e->d_name, strerror(errno));
			continue;
		}
		moved = true;
		log_warn("spool quarantine id=%s reason=%s", e->d_name,
		    rc == 0 ? "incomplete" : "corrupt");
	}
	closedir(d);
	if (moved) {
		fsync(spool->quarfd);
		fsync(spool->queuefd);
	}
	if (spool->recovered_count)
		qsort(spool->recovered, spool->recovered_count,
		    sizeof *spool->recovered, name_cmp);
	log_info("spool recover queued=%zu", spool->recovered_count);
}

struct spool *
spool_open(struct event_base *base, const char *dir, char *err, size_t errsz)
{
	struct spool *spool;
	unsigned short rnd;

	if (mkdir_p(dir) < 0) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	spool = xcalloc(1, sizeof *spool);
	spool->base = base;
	spool->tmpfd = spool->queuefd = spool->quarfd = -1;
	pthread_mutex_init(&spool->sync_lock, NULL);
	pthread_cond_init(&spool->sync_cv, NULL);
	if ((spool->tmpfd = open_subdir(dir, "tmp", err, errsz)) < 0 ||
	    (spool->queuefd = open_subdir(dir, "queue", err, errsz)) < 0 ||
	    (spool->quarfd = open_subdir(dir, "quarantine", err, errsz)) < 0) {
		spool_close(spool);
		return NULL;
	}
	/* Ids stay unique between several spools in one process. */
	if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
		rnd = (unsigned short)getpid();
	spool->instance = rnd;
	spool_clean_tmp(spool);
	spool_recover(spool);
	spool->pool = work_new(base, SPOOL_THREADS);
	return spool;
}

void
spool_close(struct spool *spool)
{
	size_t i;

	if (spool == NULL)
		return;
	work_free(spool->pool);
	if (spool->recover_ev)
		event_free(spool->recover_ev);
	for (i = 0; i < spool->recovered_count; i++)
		free(spool->recovered[i]);
	free(spool->recovered);
	if (spool->tmpfd >= 0)
		close(spool->tmpfd);
	if (spool->queuefd >= 0)
		close(spool->queuefd);
	if (spool->quarfd >= 0)
		close(spool->quarfd);
	pthread_cond_destroy(&spool->sync_cv);
	pthread_mutex_destroy(&spool->sync_lock);
	free(spool);
}

static void
spool_new_id(struct spool *spool, char *id)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	/* Time first, so names sort in arrival order. */
	snprintf(id, SPOOL_ID_MAX + 1, "%09llx%05lx%04x%06x",
	    (unsigned long long)tv.tv_sec, (unsigned long)tv.tv_usec,
	    spool->instance & 0xffff, spool->counter++ & 0xffffff);
}

struct spool_msg *
spool_msg_new(struct spool *spool, const struct spool_envelope *env,
    int *err)
{
	struct spool_msg *msg;
	size_t i, iplen = strlen(env->client_ip), helolen = strlen(env->helo),
	    fromlen = strlen(env->mail_from);

	if (env->rcpt_count == 0 || env->rcpt_count > UINT32_MAX) {
		*err = ERR_BADSTATE;
		return NULL;
	}
	if (iplen > SPOOL_IP_MAX || helolen > SPOOL_HELO_MAX ||
	    fromlen > SPOOL_PATH_MAX) {
		*err = ERR_TOOLONG;
		return NULL;
	}
	for (i = 0; i < env->rcpt_count; i++) {
		size_t n = strlen(env->rcpts[i]);

		if (n == 0 || n > SPOOL_PATH_MAX) {
			*err = ERR_TOOLONG;
			return NULL;
		}
	}
	msg = xcalloc(1, sizeof *msg);
	msg->spool = spool;
	msg->fd = -1;
	msg->body_rec = SPOOL_NO_REC;
	spool_new_id(spool, msg->id);
	buf_reserve(&msg->out, SPOOL_CHUNK + SPOOL_REC_HDR);
	buf_add(&msg->out, SPOOL_MAGIC, SPOOL_MAGIC_LEN);
	spool_rec_put(&msg->out, SPOOL_REC_IP, env->client_ip, iplen);
	spool_rec_put(&msg->out, SPOOL_REC_HELO, env->helo, helolen);
	spool_rec_put(&msg->out, SPOOL_REC_FROM, env->mail_from, fromlen);
	for (i = 0; i < env->rcpt_count; i++)
		spool_rec_put(&msg->out, SPOOL_REC_RCPT, env->rcpts[i],
		    strlen(env->rcpts[i]));
	msg->rcpt_count = (uint32_t)env->rcpt_count;
	return msg;
}

const char *
spool_msg_id(const struct spool_msg *msg)
{
	return msg->id;
}

/* Gives the open BODY record its final length. */
static void
msg_close_body(struct spool_msg *msg)
{
	if (msg->body_rec == SPOOL_NO_REC)
		return;
	spool_put32((unsigned char *)msg->out.p + msg->body_rec + 1,
	    (uint32_t)(msg->out.len - msg->body_rec - SPOOL_REC_HDR));
	msg->body_rec = SPOOL_NO_REC;
}

/* Writes what is buffered; creates the file on first use. */
static int
msg_flush(struct spool_msg *msg)
{
	int rc;

	msg_close_body(msg);
	if (msg->fd < 0) {
		msg->fd = openat(msg->spool->tmpfd, msg->id,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (msg->fd < 0)
			return spool_errno_err(errno);
	}
	rc = spool_write_all(msg->fd, msg->out.p, msg->out.len);
	buf_reset(&msg->out);
	return rc;
}

int
spool_msg_write(struct spool_msg *msg, const void *p, size_t len)
{
	const char *s = p;

	while (len) {
		size_t room, n;

		if (msg->body_rec == SPOOL_NO_REC) {
			msg->body_rec = msg->out.len;
			spool_rec_header(&msg->out, SPOOL_REC_BODY, 0);
		}
		room = SPOOL_CHUNK - (msg->out.len - msg->body_rec -
		    SPOOL_REC_HDR);
		n = len < room ? len : room;
		buf_add(&msg->out, s, n);
		msg->body_len += n;
		s += n;
		len -= n;
		if (n == room) {
			int rc = msg_flush(msg);

			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int
spool_msg_set_headers(struct spool_msg *msg, const void *p, size_t len)
{
	if (len > UINT32_MAX)
		return ERR_TOOLONG;
	buf_reset(&msg->headers);
	buf_add(&msg->headers, p, len);
	return 0;
}

static void
msg_free(struct spool_msg *msg)
{
	buf_free(&msg->out);
	buf_free(&msg->headers);
	free(msg);
}

void
spool_msg_abort(struct spool_msg *msg)
{
	if (msg == NULL)
		return;
	if (msg->fd >= 0) {
		close(msg->fd);
		unlinkat(msg->spool->tmpfd, msg->id, 0);
	}
	msg_free(msg);
}

void
spool_msg_detach(struct spool_msg *msg)
{
	if (msg->committing)
		msg->detached = true;
	else
		spool_msg_abort(msg);
}

/*
 * Worker thread: returns once a directory fsync that started after our
 * rename has finished. A round started after ticket T covers every rename
 * up to T, so rounds may finish in any order. Up to SPOOL_SYNC_ROUNDS run
 * at once: the file system merges concurrent fsyncs into one journal
 * commit, and a thread that finds a round already covering it just waits.
 */
static int
spool_sync_queue(struct spool *spool)
{
	uint64_t ticket, upto;
	int rc;

	pthread_mutex_lock(&spool->sync_lock);
	ticket = ++spool->sync_issued;
	while (spool->sync_done < ticket) {
		if (spool->sync_started >= ticket ||
		    spool->sync_running >= SPOOL_SYNC_ROUNDS) {
			pthread_cond_wait(&spool->sync_cv, &spool->sync_lock);
			continue;
		}
		upto = spool->sync_started = spool->sync_issued;
		spool->sync_running++;
		pthread_mutex_unlock(&spool->sync_lock);
		rc = fsync(spool->queuefd) < 0 ? spool_errno_err(errno) : 0;
		pthread_mutex_lock(&spool->sync_lock);
		spool->sync_running--;
		spool->sync_err = rc;
		if (upto > spool->sync_done)
			spool->sync_done = upto;
		pthread_cond_broadcast(&spool->sync_cv);
	}
	rc = spool->sync_err;
	pthread_mutex_unlock(&spool->sync_lock);
	return rc;
}

/* Worker thread: the file's write, fsync and rename, then the group's. */
static void
commit_run(void *arg)
{
	struct spool_msg *msg = arg;
	struct spool *spool = msg->spool;
	int rc;

	rc = msg_flush(msg);
	if (rc == 0 && fdatasync(msg->fd) < 0)
		rc = spool_errno_err(errno);
	if (msg->fd >= 0 && close(msg->fd) < 0 && rc == 0)
		rc = spool_errno_err(errno);
	msg->fd = -1;
	if (rc == 0 && renameat2(spool->tmpfd, msg->id, spool->queuefd,
	    msg->id, RENAME_NOREPLACE) < 0)
		rc = spool_errno_err(errno);
	if (rc < 0) {
		unlinkat(spool->tmpfd, msg->id, 0);
		msg->err = rc;
		return;
	}
	msg->queued = true;
	msg->err = spool_sync_queue(spool);
}

static void
msg_finish(struct spool_msg *msg, int err)
{
	if (!msg->detached && msg->cb)
		msg->cb(msg->arg, err, err == 0 ? msg->id : NULL);
	if (err < 0)
		log_warn("spool commit id=%s error=\"%s\"", msg->id,
		    err_str(err));
	msg_free(msg);
}

static void
commit_done(void *arg)
{
	struct spool_msg *msg = arg;
	struct spool *spool = msg->spool;
	char id[SPOOL_ID_MAX + 1];
	bool queued = msg->queued;

	memcpy(id, msg->id, sizeof id);
	msg_finish(msg, msg->err);
	/*
	 * Even if the directory fsync failed the file is in queue/ and would
	 * be found again at start: deliver it now (at least once).
	 */
	if (queued && spool->queued_cb)
		spool->queued_cb(spool->queued_arg, id);
}

void
spool_msg_commit(struct spool_msg *msg, spool_commit_cb *cb, void *arg)
{
	unsigned char end[12];

	msg_close_body(msg);
	if (msg->headers.len)
		spool_rec_put(&msg->out, SPOOL_REC_HEADERS, msg->headers.p,
		    msg->headers.len);
	spool_put32(end, (uint32_t)(msg->body_len >> 32));
	spool_put32(end + 4, (uint32_t)msg->body_len);
	spool_put32(end + 8, msg->rcpt_count);
	spool_rec_put(&msg->out, SPOOL_REC_END, end, sizeof end);
	msg->cb = cb;
	msg->arg = arg;
	msg->committing = true;
	work_submit(msg->spool->pool, commit_run, commit_done, msg);
}

static void
recover_fire(evutil_socket_t fd, short what, void *arg)
{
	struct spool *spool = arg;
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < spool->recovered_count; i++) {
		if (spool->queued_cb)
			spool->queued_cb(spool->queued_arg,
			    spool->recovered[i]);
		free(spool->recovered[i]);
	}
	free(spool->recovered);
	spool->recovered = NULL;
	spool->recovered_count = 0;
}

void
spool_on_queued(struct spool *spool, spool_queued_cb *cb, void *arg)
{
	struct timeval now = { 0, 0 };

	spool->queued_cb = cb;
	spool->queued_arg = arg;
	/* What was queued before the start is handed over from the loop. */
	if (cb && spool->recovered_count && spool->recover_ev == NULL) {
		spool->recover_ev = evtimer_new(spool->base, recover_fire,
		    spool);
		evtimer_add(spool->recover_ev, &now);
	}
}
