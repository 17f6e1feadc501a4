#include "spool/spool_int.h"

#include <errno.h>
#include <fcntl.h>
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
	int fd;         /* -1 until needed for a message read from memory */
	void *map;      /* the file mapped, or hot.p */
	size_t maplen;
	struct buf hot; /* the bytes, when the spool still had them */
	struct spool_file_info info;
	struct span *rcpts, *body;
	bool *done;
	char id[SPOOL_ID_MAX + 1];
};

/*
 * Walks the records once more to index recipients and body chunks (the
 * scan already proved them well formed), then reads the DONE records after
 * END. The first one that is torn or invalid ends them: it is cut off, so
 * that later appends stay readable.
 */
static void
queued_index(struct spool_queued *q)
{
	enum spool_rec_type type;
	struct span d;
	size_t off = SPOOL_MAGIC_LEN, r = 0, b = 0, idx;

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
	off = q->info.end_off;
	for (;;) {
		size_t at = off;

		if (spool_file_next(q->map, q->maplen, &off, &type, &d) != 1 ||
		    type != SPOOL_REC_DONE ||
		    spool_done_index(d, q->info.rcpt_count, &idx) < 0) {
			if (at < q->maplen) {
				log_warn("spool state id=%s torn=%zu", q->id,
				    q->maplen - at);
				if (q->fd >= 0 &&
				    ftruncate(q->fd, (off_t)at) < 0)
					log_warn("spool state id=%s "
					    "error=\"%s\"", q->id,
					    strerror(errno));
			}
			break;
		}
		q->done[idx] = true;
	}
}

static int
queued_finish_open(struct spool_queued *q, struct spool_queued **out)
{
	int rc = spool_file_scan(q->map, q->maplen, &q->info);

	if (rc == 0 && !q->info.complete)
		rc = ERR_SYNTAX;
	if (rc < 0) {
		spool_queued_close(q);
		return rc;
	}
	queued_index(q);
	*out = q;
	return 0;
}

int
spool_queued_open(struct spool *spool, const char *queue_id,
    struct spool_queued **out)
{
	struct spool_queued *q;
	struct stat st;
	int fd;

	if (strlen(queue_id) > SPOOL_ID_MAX || strchr(queue_id, '/'))
		return ERR_NOTFOUND;
	q = xcalloc(1, sizeof *q);
	q->spool = spool;
	q->fd = -1;
	memcpy(q->id, queue_id, strlen(queue_id) + 1);
	if (spool_hot_take(spool, queue_id, &q->hot)) {
		q->map = q->hot.p;
		q->maplen = q->hot.len;
		return queued_finish_open(q, out);
	}
	fd = openat(spool_queue_fd(spool), queue_id,
	    O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		free(q);
		return errno == ENOENT ? ERR_NOTFOUND : ERR_IO;
	}
	q->fd = fd;
	if (fstat(fd, &st) < 0) {
		spool_queued_close(q);
		return ERR_IO;
	}
	if (st.st_size == 0) {
		spool_queued_close(q);
		return ERR_SYNTAX;
	}
	q->maplen = (size_t)st.st_size;
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

int
spool_queued_mark_done(struct spool_queued *q, size_t i)
{
	struct buf b = { 0 };
	unsigned char d[8];
	int rc;

	spool_put32(d, (uint32_t)i);
	spool_put32(d + 4, ~(uint32_t)i);
	spool_rec_put(&b, SPOOL_REC_DONE, d, sizeof d);
	if (q->fd < 0) {
		q->fd = openat(spool_queue_fd(q->spool), q->id,
		    O_WRONLY | O_APPEND | O_CLOEXEC);
		if (q->fd < 0) {
			buf_free(&b);
			return spool_errno_err(errno);
		}
	}
	/* O_APPEND: one write, so a crash tears at most this record. */
	rc = spool_write_all(q->fd, b.p, b.len);
	buf_free(&b);
	if (rc == 0)
		q->done[i] = true;
	return rc;
}

int
spool_queued_sync(struct spool_queued *q)
{
	if (q->fd < 0)
		return 0; /* nothing appended */
	return fdatasync(q->fd) < 0 ? spool_errno_err(errno) : 0;
}

int
spool_queued_remove(struct spool_queued *q)
{
	if (unlinkat(spool_queue_fd(q->spool), q->id, 0) < 0 &&
	    errno != ENOENT)
		return spool_errno_err(errno);
	return 0;
}
