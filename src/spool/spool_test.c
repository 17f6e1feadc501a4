#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "spool/spool_int.h"

struct harness {
	char dir[64];
	char spooldir[96];
	struct event_base *base;
	struct spool *spool;
	int commits, commit_err;
	char last_id[SPOOL_ID_MAX + 1];
	int queued;
	char queued_ids[8][SPOOL_ID_MAX + 1];
	pthread_t loop_thread;
	int queued_off_loop; /* queued callbacks outside the main loop */
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Queued messages, as an operator's listing sees them. */
static int
count_queued(const char *spooldir)
{
	int n = spool_list(spooldir, NULL, NULL);

	assert_true(n >= 0);
	return n;
}

/* The slot file of a queue id: its last 8 characters. */
static void
slot_path(const struct harness *h, const char *id, char *path, size_t size)
{
	snprintf(path, size, "%s/slots/%s", h->spooldir, id + strlen(id) - 8);
}

static int
count_files(const char *spooldir, const char *sub)
{
	char path[256];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof path, "%s/%s", spooldir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
on_commit(void *arg, int err, const char *id)
{
	struct harness *h = arg;

	h->commits++;
	h->commit_err = err;
	if (id)
		snprintf(h->last_id, sizeof h->last_id, "%s", id);
	else
		h->last_id[0] = '\0';
}

static void
on_queued(void *arg, const char *id)
{
	struct harness *h = arg;

	if (h->queued < 8)
		snprintf(h->queued_ids[h->queued], SPOOL_ID_MAX + 1, "%s", id);
	h->queued++;
	if (!pthread_equal(pthread_self(), h->loop_thread))
		h->queued_off_loop++;
}

static void
h_open(struct harness *h)
{
	char err[256];

	h->spool = spool_open(h->base, h->spooldir, spool_commit_threads(1),
	    err, sizeof err);
	if (h->spool == NULL)
		fail_msg("spool_open: %s", err);
	spool_on_queued(h->spool, on_queued, h);
}

static int
setup(void **state)
{
	struct harness *h = xcalloc(1, sizeof *h);

	snprintf(h->dir, sizeof h->dir, "/tmp/mxgate-spool-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->spooldir, sizeof h->spooldir, "%s/spool", h->dir);
	h->base = event_base_new();
	h->loop_thread = pthread_self();
	*state = h;
	return 0;
}

static int
teardown(void **state)
{
	struct harness *h = *state;

	spool_close(h->spool);
	event_base_free(h->base);
	umount2(h->dir, MNT_DETACH);
	rm_rf(h->dir);
	free(h);
	return 0;
}

static const char *const rcpts2[] = { "alice@example.test",
	"Bob@example.test" };
static const struct spool_envelope env2 = {
	.client_ip = "2001:db8:2::1",
	.helo = "client.example.test",
	.mail_from = "sender@example.org",
	.rcpts = rcpts2,
	.rcpt_count = 2,
};

/* Runs the loop until n commit callbacks have come back. */
static void
wait_commits(struct harness *h, int n)
{
	while (h->commits < n)
		event_base_loop(h->base, EVLOOP_ONCE);
}

static void
fill(char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + seed) % 26);
}

static void
test_commit_and_read_back(void **state)
{
	struct harness *h = *state;
	const size_t body_len = 150 * 1024 + 17; /* three chunks */
	char *body = xmalloc(body_len);
	struct spool_msg *msg;
	struct spool_queued *q;
	const struct spool_file_info *info;
	struct buf got = { 0 };
	size_t off, i;
	int err = 0;

	fill(body, body_len, 1);
	h_open(h);
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_non_null(msg);
	/* In pieces the size of SMTP lines, as a session streams them. */
	for (off = 0; off < body_len; off += 77) {
		size_t n = body_len - off < 77 ? body_len - off : 77;

		assert_int_equal(spool_msg_write(msg, body + off, n), 0);
	}
	assert_int_equal(spool_msg_set_headers(msg, "X-Old: 1\r\n", 10), 0);
	assert_int_equal(spool_msg_set_headers(msg, "Received: x\r\n", 13),
	    0);
	spool_msg_commit(msg, on_commit, h);
	wait_commits(h, 1);
	assert_int_equal(h->commit_err, 0);
	assert_int_equal(h->queued, 1);
	assert_string_equal(h->queued_ids[0], h->last_id);
	assert_int_equal(count_queued(h->spooldir), 1);
	assert_int_equal(count_files(h->spooldir, "slots"), 1);

	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q), 0);
	info = spool_queued_info(q);
	assert_true(info->complete);
	assert_int_equal(info->rcpt_count, 2);
	assert_int_equal(info->body_len, body_len);
	assert_int_equal(info->body_chunks, 3);
	assert_true(span_eq(info->client_ip, span_cstr("2001:db8:2::1")));
	assert_true(span_eq(info->helo, span_cstr("client.example.test")));
	assert_true(span_eq(info->mail_from, span_cstr("sender@example.org")));
	assert_true(span_eq(info->headers, span_cstr("Received: x\r\n")));
	assert_true(span_eq(spool_queued_rcpt(q, 1),
	    span_cstr("Bob@example.test")));
	for (i = 0; i < info->body_chunks; i++) {
		struct span s = spool_queued_body(q, i);

		buf_add(&got, s.p, s.len);
	}
	assert_int_equal(got.len, body_len);
	assert_memory_equal(got.p, body, body_len);
	assert_false(spool_queued_is_done(q, 0));
	assert_int_equal(spool_queued_mark_done(q, 0), 0);
	assert_int_equal(spool_queued_sync(q), 0);
	spool_queued_close(q);

	/* A restart hands the message to delivery again, state intact. */
	spool_close(h->spool);
	h->queued = 0;
	h_open(h);
	event_base_loop(h->base, EVLOOP_NONBLOCK);
	assert_int_equal(h->queued, 1);
	assert_string_equal(h->queued_ids[0], h->last_id);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q), 0);
	assert_true(spool_queued_is_done(q, 0));
	assert_false(spool_queued_is_done(q, 1));
	spool_queued_close(q);
	/* As mxgate queue ID reads it, from outside the server. */
	assert_int_equal(spool_queued_read(h->spooldir, h->last_id, &q), 0);
	assert_int_equal(spool_queued_info(q)->body_len, body_len);
	assert_true(span_eq(spool_queued_info(q)->headers,
	    span_cstr("Received: x\r\n")));
	assert_true(spool_queued_is_done(q, 0));
	assert_false(spool_queued_is_done(q, 1));
	spool_queued_close(q);
	assert_int_equal(spool_queued_read(h->spooldir, "../../etc/passwd", &q),
	    ERR_NOTFOUND);
	assert_int_equal(spool_queued_read(h->spooldir,
	    "00000000000000000000007777", &q), ERR_NOTFOUND);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q), 0);
	assert_int_equal(spool_queued_remove(q), 0);
	spool_queued_close(q);
	assert_int_equal(spool_queued_read(h->spooldir, h->last_id, &q),
	    ERR_NOTFOUND);
	assert_int_equal(count_queued(h->spooldir), 0);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q),
	    ERR_NOTFOUND);
	/* The slot is written over by the next message, not created anew. */
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_int_equal(spool_msg_write(msg, "x\r\n", 3), 0);
	spool_msg_commit(msg, on_commit, h);
	wait_commits(h, 2);
	assert_int_equal(h->commit_err, 0);
	assert_int_equal(count_files(h->spooldir, "slots"), 1);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q), 0);
	assert_int_equal(spool_queued_info(q)->body_len, 3);
	/* The first message's DONE record does not count for this one. */
	assert_false(spool_queued_is_done(q, 0));
	spool_queued_close(q);
	assert_int_equal(count_queued(h->spooldir), 1);
	buf_free(&got);
	free(body);
}

/*
 * Delivery of a message committed in one piece reads it from memory, not
 * back from the disk: here the file is gone, and the first open still
 * works; the bytes are handed over once, so the next open looks at the
 * disk.
 */
static void
test_delivery_reads_from_memory(void **state)
{
	struct harness *h = *state;
	struct spool_msg *msg;
	struct spool_queued *q;
	char path[256];
	int err;

	h_open(h);
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_int_equal(spool_msg_write(msg, "Subject: m\r\n\r\nx\r\n", 17),
	    0);
	spool_msg_commit(msg, on_commit, h);
	wait_commits(h, 1);
	slot_path(h, h->last_id, path, sizeof path);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q), 0);
	assert_int_equal(spool_queued_info(q)->body_len, 17);
	assert_true(span_eq(spool_queued_body(q, 0),
	    span_cstr("Subject: m\r\n\r\nx\r\n")));
	spool_queued_close(q);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q),
	    ERR_NOTFOUND);
}

static void
test_many_commits_together(void **state)
{
	struct harness *h = *state;
	struct spool_msg *msgs[100];
	int i, err;

	h_open(h);
	for (i = 0; i < 100; i++) {
		msgs[i] = spool_msg_new(h->spool, &env2, &err);
		assert_non_null(msgs[i]);
		assert_int_equal(spool_msg_write(msgs[i], "Subject: x\r\n\r\n"
		    "hi\r\n", 18), 0);
	}
	for (i = 0; i < 100; i++)
		spool_msg_commit(msgs[i], on_commit, h);
	wait_commits(h, 100);
	assert_int_equal(h->commit_err, 0);
	assert_int_equal(h->queued, 100);
	assert_int_equal(count_queued(h->spooldir), 100);
	assert_int_equal(count_files(h->spooldir, "slots"), 100);
}

/* A second event loop committing through its attached spool. */
struct other_loop {
	struct harness *h;
	int commits, commit_err;
	char ids[50][SPOOL_ID_MAX + 1];
};

static void
on_other_commit(void *arg, int err, const char *id)
{
	struct other_loop *o = arg;

	if (err != 0)
		o->commit_err = err;
	else
		snprintf(o->ids[o->commits], SPOOL_ID_MAX + 1, "%s", id);
	o->commits++;
}

static void *
other_loop_run(void *arg)
{
	struct other_loop *o = arg;
	struct event_base *base = event_base_new();
	struct spool *spool = spool_attach(o->h->spool, base,
	    spool_commit_threads(2));
	int i, err;

	/* No cmocka asserts off the test's thread: failures are recorded. */
	for (i = 0; i < 50; i++) {
		struct spool_msg *m = spool_msg_new(spool, &env2, &err);

		if (m == NULL || spool_msg_write(m, "Subject: o\r\n\r\n"
		    "other\r\n", 21) != 0) {
			o->commit_err = ERR_IO;
			spool_msg_abort(m);
			o->commits++;
			continue;
		}
		spool_msg_commit(m, on_other_commit, o);
	}
	while (o->commits < 50)
		event_base_loop(base, EVLOOP_ONCE);
	spool_close(spool);
	event_base_free(base);
	return NULL;
}

static void
test_attached_spool_commits_from_another_loop(void **state)
{
	struct harness *h = *state;
	struct other_loop o = { .h = h };
	struct spool_queued *q;
	pthread_t th;
	int i, err;

	h_open(h);
	assert_int_equal(pthread_create(&th, NULL, other_loop_run, &o), 0);
	for (i = 0; i < 50; i++) {
		struct spool_msg *m = spool_msg_new(h->spool, &env2, &err);

		assert_non_null(m);
		assert_int_equal(spool_msg_write(m, "Subject: x\r\n\r\n"
		    "hi\r\n", 18), 0);
		spool_msg_commit(m, on_commit, h);
	}
	/* Delivery hears of all 100 in its own loop, whoever committed. */
	while (h->queued < 100)
		event_base_loop(h->base, EVLOOP_ONCE);
	pthread_join(th, NULL);
	assert_int_equal(h->commits, 50);
	assert_int_equal(h->commit_err, 0);
	assert_int_equal(o.commits, 50);
	assert_int_equal(o.commit_err, 0);
	assert_int_equal(h->queued_off_loop, 0);
	/* One slot each: the two loops never took the same one. */
	assert_int_equal(count_queued(h->spooldir), 100);
	assert_int_equal(count_files(h->spooldir, "slots"), 100);
	assert_int_equal(spool_queued_open(h->spool, o.ids[49], &q), 0);
	assert_int_equal(spool_queued_info(q)->body_len, 21);
	spool_queued_close(q);
}

static void
test_abort_and_detach(void **state)
{
	struct harness *h = *state;
	struct spool_queued *q;
	struct spool_msg *msg;
	char *big = xcalloc(1, 100 * 1024);
	int err;

	h_open(h);
	msg = spool_msg_new(h->spool, &env2, &err);
	/* Big enough that a chunk reached its new slot already. */
	assert_int_equal(spool_msg_write(msg, big, 100 * 1024), 0);
	assert_int_equal(count_files(h->spooldir, "slots"), 1);
	spool_msg_abort(msg);
	while (count_files(h->spooldir, "slots") > 0)
		event_base_loop(h->base, EVLOOP_ONCE);
	assert_int_equal(count_queued(h->spooldir), 0);

	/* A detached commit still queues, but never calls back. */
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_int_equal(spool_msg_write(msg, "x\r\n", 3), 0);
	spool_msg_commit(msg, on_commit, h);
	spool_msg_detach(msg);
	while (h->queued < 1)
		event_base_loop(h->base, EVLOOP_ONCE);
	assert_int_equal(h->commits, 0);
	assert_int_equal(count_queued(h->spooldir), 1);

	/* An aborted message in a slot used before leaves it free. */
	assert_int_equal(spool_queued_open(h->spool, h->queued_ids[0], &q),
	    0);
	assert_int_equal(spool_queued_remove(q), 0);
	spool_queued_close(q);
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_int_equal(spool_msg_write(msg, big, 100 * 1024), 0);
	spool_msg_abort(msg);
	spool_close(h->spool); /* waits for the abort's job */
	h->spool = NULL;
	assert_int_equal(count_files(h->spooldir, "slots"), 1);
	assert_int_equal(count_queued(h->spooldir), 0);
	free(big);
}

static void
write_file(const char *dir, const char *sub, const char *name,
    const void *p, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static void
read_file(const char *dir, const char *sub, const char *name, struct buf *b)
{
	char path[256], tmp[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_add(b, tmp, (size_t)n);
	close(fd);
}

/* A copy of a good slot's bytes whose queue id names another slot. */
static void
moved_copy(const struct buf *good, const char *slot, struct buf *out)
{
	/* The ID record comes first; the slot is its last 8 characters. */
	const size_t id_off = SPOOL_MAGIC_LEN + SPOOL_REC_HDR;

	buf_reset(out);
	buf_add(out, good->p, good->len);
	memcpy(out->p + id_off + strlen("00000000000000000000000000") - 8,
	    slot, 8);
}

static void
test_recover_quarantines_incomplete(void **state)
{
	struct harness *h = *state;
	struct spool_msg *msg;
	struct buf good = { 0 }, b = { 0 };
	char path[256], id1[SPOOL_ID_MAX + 1];
	int err, i;

	h_open(h);
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_int_equal(spool_msg_write(msg, "Subject: t\r\n\r\nbody\r\n",
	    20), 0);
	spool_msg_commit(msg, on_commit, h);
	wait_commits(h, 1);
	assert_int_equal(h->commit_err, 0);
	assert_string_equal(h->last_id + strlen(h->last_id) - 8, "00000000");
	spool_close(h->spool);
	h->spool = NULL;

	read_file(h->spooldir, "slots", "00000000", &good);
	/* A crash mid-write: the same message without its END record. */
	moved_copy(&good, "00000001", &b);
	write_file(h->spooldir, "slots", "00000001", b.p,
	    b.len - SPOOL_REC_HDR - SPOOL_END_LEN);
	memcpy(id1, b.p + SPOOL_MAGIC_LEN + SPOOL_REC_HDR, 26);
	id1[26] = '\0';
	write_file(h->spooldir, "slots", "00000002", "hello", 5);
	write_file(h->spooldir, "slots", "00000003", "", 0);
	/* Never acknowledged: cleaned, not quarantined. */
	moved_copy(&good, "00000004", &b);
	memcpy(b.p, SPOOL_MAGIC_WRITING, SPOOL_MAGIC_LEN);
	write_file(h->spooldir, "slots", "00000004", b.p, b.len / 2);
	/* Whole, but a bit flipped on the disk: the CRC says so. */
	moved_copy(&good, "00000005", &b);
	b.p[b.len - SPOOL_REC_HDR - SPOOL_END_LEN - 3] ^= 1;
	write_file(h->spooldir, "slots", "00000005", b.p, b.len);
	/* Not a slot's name: left alone. */
	write_file(h->spooldir, "slots", "notes.txt", "x", 1);

	h->queued = 0;
	h_open(h);
	event_base_loop(h->base, EVLOOP_NONBLOCK);
	assert_int_equal(h->queued, 1);
	assert_string_equal(h->queued_ids[0], h->last_id);
	assert_int_equal(count_queued(h->spooldir), 1);
	assert_int_equal(count_files(h->spooldir, "slots"), 7);
	assert_int_equal(count_files(h->spooldir, "quarantine"), 3);
	snprintf(path, sizeof path, "%s/quarantine/%s", h->spooldir, id1);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/quarantine/slot-00000002",
	    h->spooldir);
	assert_int_equal(access(path, F_OK), 0);

	/* The freed slots take new mail; no new slot file is needed. */
	for (i = 0; i < 5; i++) {
		msg = spool_msg_new(h->spool, &env2, &err);
		assert_int_equal(spool_msg_write(msg, "x\r\n", 3), 0);
		spool_msg_commit(msg, on_commit, h);
	}
	wait_commits(h, 6);
	assert_int_equal(h->commit_err, 0);
	assert_int_equal(count_queued(h->spooldir), 6);
	assert_int_equal(count_files(h->spooldir, "slots"), 7);
	buf_free(&good);
	buf_free(&b);
}

static void
test_torn_done_record_ignored(void **state)
{
	struct harness *h = *state;
	struct spool_msg *msg;
	struct spool_queued *q;
	char path[256];
	int err, fd;

	h_open(h);
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_int_equal(spool_msg_write(msg, "x\r\n", 3), 0);
	spool_msg_commit(msg, on_commit, h);
	wait_commits(h, 1);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q), 0);
	assert_int_equal(spool_queued_mark_done(q, 1), 0);
	spool_queued_close(q);
	/* A crash in the middle of the next DONE append. */
	slot_path(h, h->last_id, path, sizeof path);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "D\0\0\0\x08\0\0", 7), 7);
	close(fd);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q), 0);
	assert_false(spool_queued_is_done(q, 0));
	assert_true(spool_queued_is_done(q, 1));
	/* The next DONE goes over the torn one, readable afterwards. */
	assert_int_equal(spool_queued_mark_done(q, 0), 0);
	spool_queued_close(q);
	assert_int_equal(spool_queued_open(h->spool, h->last_id, &q), 0);
	assert_true(spool_queued_is_done(q, 0));
	assert_true(spool_queued_is_done(q, 1));
	spool_queued_close(q);
}

/*
 * A full disk while receiving: the message fails with ERR_NOSPACE, the
 * slot file it created goes, and the spool keeps working once space is
 * back.
 */
static void
test_enospc(void **state)
{
	struct harness *h = *state;
	struct spool_msg *msg;
	char *big = xcalloc(1, 64 * 1024);
	int err, i, rc = 0;
	DIR *d;
	struct dirent *e;
	char path[512];

	if (mount("mxgate-test", h->dir, "tmpfs", 0, "size=256k") < 0) {
		free(big);
		skip();
	}
	h_open(h);
	msg = spool_msg_new(h->spool, &env2, &err);
	for (i = 0; i < 64 && rc == 0; i++)
		rc = spool_msg_write(msg, big, 64 * 1024);
	assert_int_equal(rc, ERR_NOSPACE);
	spool_msg_abort(msg);
	while (count_files(h->spooldir, "slots") > 0)
		event_base_loop(h->base, EVLOOP_ONCE);

	/* A session that commits anyway gets the error, never a queue file
	 * with a chunk missing. */
	msg = spool_msg_new(h->spool, &env2, &err);
	for (i = 0, rc = 0; i < 64 && rc == 0; i++)
		rc = spool_msg_write(msg, big, 64 * 1024);
	assert_int_equal(rc, ERR_NOSPACE);
	assert_int_equal(spool_msg_write(msg, "x", 1), ERR_NOSPACE);
	spool_msg_commit(msg, on_commit, h);
	wait_commits(h, 1);
	assert_int_equal(h->commit_err, ERR_NOSPACE);
	assert_int_equal(count_files(h->spooldir, "slots"), 0);
	h->commits = 0;
	h->commit_err = 0;

	/* Small messages until the commit itself meets the full disk. */
	for (i = 0; i < 20 && h->commit_err == 0; i++) {
		msg = spool_msg_new(h->spool, &env2, &err);
		assert_int_equal(spool_msg_write(msg, big, 40 * 1024), 0);
		spool_msg_commit(msg, on_commit, h);
		wait_commits(h, i + 1);
	}
	assert_int_equal(h->commit_err, ERR_NOSPACE);
	/* The failed one's new slot went; the queued ones stay. */
	assert_true(count_queued(h->spooldir) >= 1);
	assert_int_equal(count_files(h->spooldir, "slots"),
	    count_queued(h->spooldir));

	/* Space comes back: the same spool accepts mail again. */
	snprintf(path, sizeof path, "%s/slots", h->spooldir);
	d = opendir(path);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/slots/%s", h->spooldir,
		    e->d_name);
		unlink(path);
	}
	closedir(d);
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_int_equal(spool_msg_write(msg, big, 40 * 1024), 0);
	spool_msg_commit(msg, on_commit, h);
	wait_commits(h, h->commits + 1);
	assert_int_equal(h->commit_err, 0);
	spool_close(h->spool);
	h->spool = NULL;
	free(big);
}

static void
test_envelope_limits(void **state)
{
	struct harness *h = *state;
	struct spool_envelope env = env2;
	char longhelo[300];
	int err = 0;

	h_open(h);
	memset(longhelo, 'a', sizeof longhelo - 1);
	longhelo[sizeof longhelo - 1] = '\0';
	env.helo = longhelo;
	assert_null(spool_msg_new(h->spool, &env, &err));
	assert_int_equal(err, ERR_TOOLONG);
	env = env2;
	env.rcpt_count = 0;
	assert_null(spool_msg_new(h->spool, &env, &err));
	assert_int_equal(err, ERR_BADSTATE);
}

/*
 * Cuts a slot file to nothing and writes it back, until told to stop
 * (cmocka asserts only in the test's own thread: failures are counted).
 */
struct truncator {
	const char *path;
	const struct buf *bytes;
	atomic_bool stop;
	atomic_int failures;
};

static void *
truncate_loop(void *arg)
{
	struct truncator *t = arg;
	int fd = open(t->path, O_RDWR);

	if (fd < 0) {
		atomic_fetch_add(&t->failures, 1);
		return NULL;
	}
	while (!atomic_load(&t->stop)) {
		if (ftruncate(fd, 0) < 0 || pwrite(fd, t->bytes->p,
		    t->bytes->len, 0) != (ssize_t)t->bytes->len)
			atomic_fetch_add(&t->failures, 1);
		usleep(300); /* whole for a while: listings start reading */
	}
	close(fd);
	return NULL;
}

/*
 * `mxgate queue` reads slots while the server frees them (a big slot is
 * truncated): the listing sees the message or not, and never faults. A
 * 2 MiB slot keeps each listing long enough for the cut to land in it.
 */
static void
test_list_while_slots_are_truncated(void **state)
{
	struct harness *h = *state;
	const size_t body_len = 2 * 1024 * 1024;
	char *body = xmalloc(body_len), path[256];
	struct truncator t = { .path = path };
	struct spool_msg *msg;
	struct buf bytes = { 0 };
	pthread_t thread;
	int err = 0, i, n;
	FILE *f;

	fill(body, body_len, 3);
	h_open(h);
	msg = spool_msg_new(h->spool, &env2, &err);
	assert_int_equal(spool_msg_write(msg, body, body_len), 0);
	spool_msg_commit(msg, on_commit, h);
	wait_commits(h, 1);
	assert_int_equal(h->commit_err, 0);
	slot_path(h, h->last_id, path, sizeof path);
	f = fopen(path, "rb");
	assert_non_null(f);
	buf_reserve(&bytes, body_len * 2);
	bytes.len = fread(bytes.p, 1, body_len * 2, f);
	fclose(f);
	t.bytes = &bytes;
	assert_int_equal(pthread_create(&thread, NULL, truncate_loop, &t), 0);
	for (i = 0; i < 1000; i++) {
		n = count_queued(h->spooldir);
		assert_true(n == 0 || n == 1);
	}
	atomic_store(&t.stop, true);
	pthread_join(thread, NULL);
	assert_int_equal(atomic_load(&t.failures), 0);
	assert_int_equal(count_queued(h->spooldir), 1);
	buf_free(&bytes);
	free(body);
}

/* A second server on the same spool is refused, and told who holds it;
 * mxgate flush finds the holder the same way. */
static void
test_one_process_per_spool(void **state)
{
	struct harness *h = *state;
	char err[256], want[64];
	long pid = -1;

	assert_int_equal(spool_holder(h->spooldir, &pid), 0);
	h_open(h);
	assert_null(spool_open(h->base, h->spooldir, 2, err, sizeof err));
	snprintf(want, sizeof want, "in use by another mxgate (pid %d)",
	    (int)getpid());
	assert_non_null(strstr(err, want));
	assert_int_equal(spool_holder(h->spooldir, &pid), 1);
	assert_int_equal(pid, getpid());
	spool_close(h->spool);
	h->spool = NULL;
	assert_int_equal(spool_holder(h->spooldir, &pid), 0);
	h_open(h);
}

/* Loops share the commit threads: 16 a loop at most, 2 at least. */
static void
test_commit_threads_per_loop(void **state)
{
	static const unsigned loops[] = { 0, 1, 2, 3, 4, 8, 16, 64 };
	static const unsigned want[] = { 16, 16, 16, 10, 8, 4, 2, 2 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof loops / sizeof loops[0]; i++)
		assert_int_equal(spool_commit_threads(loops[i]), want[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_threads_per_loop),
		cmocka_unit_test_setup_teardown(test_commit_and_read_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_reads_from_memory,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_commits_together,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_attached_spool_commits_from_another_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort_and_detach,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_recover_quarantines_incomplete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_done_record_ignored,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_while_slots_are_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_process_per_spool,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
