#include "spool/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

struct spool_queued {
	struct spool *spool;
	uint32_t slot;
	int fd;         /* -1 until needed for a message read from memory */
	void *map;      /* the slot mapped, or hot.p */
	size_t maplen;
	struct buf hot; /* the bytes, when the spool still had them */
	struct spool_file_info info;
	struct span *rcpts, *body;
	bool *done;
	size_t done_off; /* where the next DONE record goes */
	bool removed;
	char id[SPOOL_ID_MAX + 1];
};

/*
 * Walks the records once more to index recipients and body chunks (the
 * scan already proved them well formed), then reads the DONE records after
 * END; the next DONE is written where they end.
 */
static void
queued_index(struct spool_queued *q)
{
	enum spool_rec_type type;
	struct span d;
	size_t off = SPOOL_MAGIC_LEN, r = 0, b = 0;

	q->rcpts = xcalloc(q->info.rcpt_count, sizeof *q->rcpts);
	q->body = xcalloc(q->info.body_chunks ? q->info.body_chunks : 1,
	    sizeof *q->body);
	q->done = xcalloc(q->info.rcpt_count, sizeof *q->done);
	while (off < q->info.end_off &&
	    spool_file_next(q->map, q->info.end_off, &off, &type, &d) == 1) {
		if (type == SPOOL_REC_RCPT)
			q->rcpts[r++] = d;
		else if (type == SPOOL_REC_BODY)
			q->body[b++] = d;
	}
	q->done_off = spool_done_walk(q->map, q->maplen, &q->info, q->done,
	    NULL);
}

/* A slot that holds another message (or none) now: this one is gone. */
static int
queued_finish_open(struct spool_queued *q, struct spool_queued **out)
{
	int rc;

	if (q->maplen < SPOOL_MAGIC_LEN ||
	    memcmp(q->map, SPOOL_MAGIC_QUEUED, SPOOL_MAGIC_LEN) != 0) {
		spool_queued_close(q);
		return ERR_NOTFOUND;
	}
	rc = spool_file_scan(q->map, q->maplen, &q->info);
	if (rc == 0 && !q->info.complete)
		rc = ERR_SYNTAX;
	if (rc == 0 && !span_eq(q->info.id, span_cstr(q->id)))
		rc = ERR_NOTFOUND;
	if (rc < 0) {
		spool_queued_close(q);
		return rc;
	}
	queued_index(q);
	*out = q;
	return 0;
}

/*
 * The bytes of a slot file, for readers outside the server: read rather
 * than mapped, since the server may truncate a slot while we look (a
 * delivered message), and a mapping would then fault. A shorter read just
 * scans as incomplete.
 */
static size_t
slot_read(int fd, size_t size, char *p)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = pread(fd, p + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* A reader of the message queue_id in slot (spool NULL: from outside). */
static struct spool_queued *
queued_new(struct spool *spool, uint32_t slot, const char *queue_id)
{
	struct spool_queued *q = xcalloc(1, sizeof *q);

	q->spool = spool;
	q->slot = slot;
	q->fd = -1;
	memcpy(q->id, queue_id, strlen(queue_id) + 1);
	return q;
}

/* The message's bytes are in q->hot. */
static int
queued_open_memory(struct spool_queued *q, struct spool_queued **out)
{
	q->map = q->hot.p;
	q->maplen = q->hot.len;
	return queued_finish_open(q, out);
}

int
spool_queued_read(const char *dir, const char *queue_id,
    struct spool_queued **out)
{
	struct spool_queued *q;
	char path[4096], name[SPOOL_SLOT_NAME];
	struct stat st;
	uint32_t slot;
	int fd;

	if (spool_id_slot(queue_id, &slot) < 0)
		return ERR_NOTFOUND;
	spool_slot_name(slot, name);
	snprintf(path, sizeof path, "%s/slots/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ERR_IO;
	}
	q = queued_new(NULL, slot, queue_id);
	buf_reserve(&q->hot, (size_t)st.st_size + 1);
	q->hot.len = slot_read(fd, (size_t)st.st_size, q->hot.p);
	close(fd);
	return queued_open_memory(q, out);
}

int
spool_queued_open(struct spool *spool, const char *queue_id,
    struct spool_queued **out)
{
	struct spool_queued *q;
	struct stat st;
	uint32_t slot;
	int fd;

	if (spool_id_slot(queue_id, &slot) < 0)
		return ERR_NOTFOUND;
	q = queued_new(spool, slot, queue_id);
	if (spool_hot_take(spool, queue_id, &q->hot))
		return queued_open_memory(q, out);
	fd = spool_slot_open(spool, slot);
	if (fd < 0) {
		free(q);
		return fd;
	}
	q->fd = fd;
	if (fstat(fd, &st) < 0) {
		spool_queued_close(q);
		return ERR_IO;
	}
	q->maplen = (size_t)st.st_size;
	if (q->maplen == 0) {
		spool_queued_close(q);
		return ERR_NOTFOUND;
	}
	q->map = mmap(NULL, q->maplen, PROT_READ, MAP_SHARED, fd, 0);
	if (q->map == MAP_FAILED) {
		q->map = NULL;
		spool_queued_close(q);
		return ERR_IO;
	}
	return queued_finish_open(q, out);
}

void
spool_queued_close(struct spool_queued *q)
{
	if (q == NULL)
		return;
	if (q->hot.p)
		buf_free(&q->hot);
	else if (q->map)
		munmap(q->map, q->maplen);
	/* Only now may another message have the slot. */
	if (q->removed) {
		int rc = spool_slot_release(q->spool, q->slot, q->fd);

		if (rc < 0)
			log_warn("spool state id=%s error=\"%s\"", q->id,
			    err_str(rc));
	}
	if (q->fd >= 0)
		close(q->fd);
	free(q->rcpts);
	free(q->body);
	free(q->done);
	free(q);
}

const struct spool_file_info *
spool_queued_info(const struct spool_queued *q)
{
	return &q->info;
}

struct span
spool_queued_rcpt(const struct spool_queued *q, size_t i)
{
	return q->rcpts[i];
}

bool
spool_queued_is_done(const struct spool_queued *q, size_t i)
{
	return q->done[i];
}

struct span
spool_queued_body(const struct spool_queued *q, size_t i)
{
	return q->body[i];
}

static int
queued_fd(struct spool_queued *q)
{
	if (q->fd < 0)
		q->fd = spool_slot_open(q->spool, q->slot);
	return q->fd < 0 ? q->fd : 0;
}

int
spool_queued_mark_done(struct spool_queued *q, size_t i)
{
	struct buf b = { 0 };
	int rc;

	spool_done_put(&b, i, q->info.nonce);
	rc = queued_fd(q);
	/* One write, so a crash tears at most this record. */
	if (rc == 0)
		rc = spool_pwrite_all(q->fd, b.p, b.len, q->done_off);
	if (rc == 0) {
		q->done_off += b.len;
		q->done[i] = true;
	}
	buf_free(&b);
	return rc;
}

int
spool_queued_sync(struct spool_queued *q)
{
	if (q->fd < 0)
		return 0; /* nothing written */
	return fdatasync(q->fd) < 0 ? spool_errno_err(errno) : 0;
}

/*
 * The free mark is written at close, after the last read of the slot, and
 * is not synced: a crash before it reaches the disk brings the message
 * back at start (every copy is durable by now: at least once).
 */
int
spool_queued_remove(struct spool_queued *q)
{
	int rc = queued_fd(q);

	if (rc == 0)
		q->removed = true;
	return rc;
}

/* One slot for spool_list(): 1 listed, 0 not a queued message. */
static int
list_slot(int dirfd, const char *name, spool_list_cb *cb, void *arg)
{
	struct spool_file_info info;
	struct stat st;
	size_t done = 0, len;
	char magic[SPOOL_MAGIC_LEN], *p;
	int fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* Free and half-written slots are most of a busy spool: 4 bytes. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < SPOOL_MAGIC_LEN ||
	    pread(fd, magic, sizeof magic, 0) != sizeof magic ||
	    memcmp(magic, SPOOL_MAGIC_QUEUED, SPOOL_MAGIC_LEN) != 0) {
		close(fd);
		return 0;
	}
	p = xmalloc((size_t)st.st_size);
	len = slot_read(fd, (size_t)st.st_size, p);
	close(fd);
	if (spool_file_scan(p, len, &info) == 0 && info.complete) {
		spool_done_walk(p, len, &info, NULL, &done);
		if (cb)
			cb(arg, &info, done);
		rc = 1;
	}
	free(p);
	return rc;
}

int
spool_list(const char *dir, spool_list_cb *cb, void *arg)
{
	char path[4096];
	struct dirent *e;
	int count = 0;
	DIR *d;

	snprintf(path, sizeof path, "%s/slots", dir);
	d = opendir(path);
	if (d == NULL)
		return ERR_IO;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			count += list_slot(dirfd(d), e->d_name, cb, arg);
	closedir(d);
	return count;
}
