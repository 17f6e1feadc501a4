#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "conf/conf.h"
#include "deliver/deliver.h"
#include "spool/spool.h"

struct harness {
	char dir[64];
	char spooldir[96], maildir[96];
	struct event_base *base;
	struct config *conf;
	struct spool *spool;
	struct deliver *deliver;
	int commits;
	char id[SPOOL_ID_MAX + 1];
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Files in DIR (dot files aside); the last name into last if given. */
static int
count_files(const char *dir, char *last, size_t lastsz)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (last)
			snprintf(last, lastsz, "%s", e->d_name);
	}
	closedir(d);
	return n;
}

static int
mail_count(struct harness *h, const char *mbox, const char *sub)
{
	char path[256];

	snprintf(path, sizeof path, "%s/%s/%s", h->maildir, mbox, sub);
	return count_files(path, NULL, 0);
}

/* The messages still queued, as an operator's listing shows them. */
static int
queue_count(struct harness *h)
{
	int n = spool_list(h->spooldir, NULL, NULL);

	assert_true(n >= 0);
	return n;
}

static void
h_start_spool(struct harness *h)
{
	char err[256];

	h->spool = spool_open(h->base, h->spooldir, spool_commit_threads(1),
	    err, sizeof err);
	if (h->spool == NULL)
		fail_msg("spool_open: %s", err);
}

static int
setup(void **state)
{
	struct harness *h = xcalloc(1, sizeof *h);
	struct buf text = { 0 };
	char err[256];

	snprintf(h->dir, sizeof h->dir, "/tmp/mxgate-deliver-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->spooldir, sizeof h->spooldir, "%s/spool", h->dir);
	snprintf(h->maildir, sizeof h->maildir, "%s/mail/example.test",
	    h->dir);
	buf_addf(&text, "[server]\nhostname = mx.example.test\n"
	    "spool = %s\n[domain example.test]\ndeliver = maildir:%s\n"
	    "[domain other.test]\ndeliver = maildir:%s/blocked/other\n",
	    h->spooldir, h->maildir, h->dir);
	h->conf = conf_parse("test.conf", text.p, text.len, err, sizeof err);
	if (h->conf == NULL)
		fail_msg("conf_parse: %s", err);
	buf_free(&text);
	h->base = event_base_new();
	*state = h;
	return 0;
}

static int
teardown(void **state)
{
	struct harness *h = *state;

	deliver_free(h->deliver);
	spool_close(h->spool);
	conf_free(h->conf);
	event_base_free(h->base);
	nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(h);
	return 0;
}

static void
on_commit(void *arg, int err, const char *id)
{
	struct harness *h = arg;

	assert_int_equal(err, 0);
	snprintf(h->id, sizeof h->id, "%s", id);
	h->commits++;
}

static void
queue_msg(struct harness *h, const char *const *rcpts, size_t n)
{
	static const char body[] = "Subject: test\r\n\r\nline one\r\n"
	    "bare\rcr\r\n";
	struct spool_envelope env = {
		.client_ip = "2001:db8:2::5",
		.helo = "client.example.org",
		.mail_from = "sender@example.org",
		.rcpts = rcpts,
		.rcpt_count = n,
	};
	struct spool_msg *msg;
	int err, want = h->commits + 1;

	msg = spool_msg_new(h->spool, &env, &err);
	assert_non_null(msg);
	assert_int_equal(spool_msg_write(msg, body, sizeof body - 1), 0);
	assert_int_equal(spool_msg_set_headers(msg, "Received: from x\r\n",
	    18), 0);
	spool_msg_commit(msg, on_commit, h);
	while (h->commits < want)
		event_base_loop(h->base, EVLOOP_ONCE);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop until the queue holds want messages, or fails after secs. */
static void
run_until_queue(struct harness *h, int want, double secs)
{
	struct timeval iv = { 0, 10000 };
	struct event *ev = event_new(h->base, -1, EV_PERSIST, tick, NULL);
	struct timespec t0, t;

	event_add(ev, &iv);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		event_base_loop(h->base, EVLOOP_ONCE);
		if (queue_count(h) == want)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 >
		    secs)
			fail_msg("queue still has %d messages", queue_count(h));
	}
	event_free(ev);
}

/* Runs the loop for secs, whatever happens. */
static void
run_for(struct harness *h, double secs)
{
	struct timeval tv = { (time_t)secs,
		(suseconds_t)((secs - (time_t)secs) * 1e6) };

	event_base_loopexit(h->base, &tv);
	event_base_dispatch(h->base);
}

static void
read_whole(const char *path, struct buf *b)
{
	char tmp[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_add(b, tmp, (size_t)n);
	close(fd);
}

static void
test_delivers_each_recipient(void **state)
{
	static const char *const rcpts[] = { "alice@example.test",
		"Bob@Example.TEST" };
	static const char want[] = "Delivered-To: Bob@Example.TEST\n"
	    "Received: from x\nSubject: test\n\nline one\nbare\rcr\n";
	struct harness *h = *state;
	char path[512], name[256];
	struct buf got = { 0 };
	struct stat st;

	h_start_spool(h);
	h->deliver = deliver_new(h->base, h->spool, h->conf);
	queue_msg(h, rcpts, 2);
	run_until_queue(h, 0, 10);
	assert_int_equal(mail_count(h, "alice", "new"), 1);
	assert_int_equal(mail_count(h, "alice", "tmp"), 0);
	assert_int_equal(mail_count(h, "alice", "cur"), 0);
	snprintf(path, sizeof path, "%s/bob/new", h->maildir);
	assert_int_equal(count_files(path, name, sizeof name), 1);
	snprintf(path, sizeof path, "%s/bob/new/%s", h->maildir, name);
	read_whole(path, &got);
	assert_int_equal(got.len, sizeof want - 1);
	assert_memory_equal(got.p, want, sizeof want - 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof path, "%s/bob", h->maildir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	buf_free(&got);
}

/* Mail queued while nothing delivered is delivered at the next start. */
static void
test_delivers_queue_at_start(void **state)
{
	static const char *const rcpts[] = { "carol@example.test" };
	struct harness *h = *state;
	int i;

	h_start_spool(h);
	for (i = 0; i < 3; i++)
		queue_msg(h, rcpts, 1);
	assert_int_equal(queue_count(h), 3);
	spool_close(h->spool);
	h_start_spool(h);
	h->deliver = deliver_new(h->base, h->spool, h->conf);
	run_until_queue(h, 0, 10);
	assert_int_equal(mail_count(h, "carol", "new"), 3);
}

/*
 * A backlog bigger than a batch, to one mailbox and to several: every copy
 * arrives exactly once, whatever batch it was in.
 */
static void
test_backlog_in_batches(void **state)
{
	static const char *const one[] = { "ivy@example.test" };
	static const char *const two[] = { "ivy@example.test",
		"jay@example.test" };
	struct harness *h = *state;
	int i;

	h_start_spool(h);
	for (i = 0; i < 150; i++)
		queue_msg(h, i % 3 ? one : two, i % 3 ? 1 : 2);
	spool_close(h->spool);
	h_start_spool(h);
	h->deliver = deliver_new(h->base, h->spool, h->conf);
	run_until_queue(h, 0, 30);
	assert_int_equal(mail_count(h, "ivy", "new"), 150);
	assert_int_equal(mail_count(h, "jay", "new"), 50);
	assert_int_equal(mail_count(h, "ivy", "tmp"), 0);
}

/* A copy recorded as done before a restart is not made again. */
static void
test_no_second_copy_after_restart(void **state)
{
	static const char *const rcpts[] = { "dave@example.test",
		"erin@example.test" };
	struct harness *h = *state;
	struct spool_queued *q;

	h_start_spool(h);
	queue_msg(h, rcpts, 2);
	assert_int_equal(spool_queued_open(h->spool, h->id, &q), 0);
	assert_int_equal(spool_queued_mark_done(q, 0), 0);
	spool_queued_close(q);
	spool_close(h->spool);
	h_start_spool(h);
	h->deliver = deliver_new(h->base, h->spool, h->conf);
	run_until_queue(h, 0, 10);
	assert_int_equal(mail_count(h, "dave", "new"), -1);
	assert_int_equal(mail_count(h, "erin", "new"), 1);
}

/* A file where other.test's Maildirs should be: their copies fail. */
static void
block_other_test(struct harness *h, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "%s/blocked", h->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

/*
 * A copy that cannot be written (here: a file where the Maildir should
 * be) is retried with backoff until it can, while the other recipient's
 * copy, made at the first attempt, is not repeated.
 */
static void
test_failure_retried_not_dropped(void **state)
{
	static const char *const rcpts[] = { "frank@example.test",
		"gina@other.test" };
	struct harness *h = *state;
	char blocker[256], path[512];

	block_other_test(h, blocker, sizeof blocker);
	h_start_spool(h);
	h->deliver = deliver_new(h->base, h->spool, h->conf);
	queue_msg(h, rcpts, 1 + 1);
	run_for(h, 1.5); /* the first try and the 1s retry both fail */
	assert_int_equal(queue_count(h), 1);
	assert_int_equal(mail_count(h, "frank", "new"), 1);
	unlink(blocker);
	run_until_queue(h, 0, 5); /* the next retry, 2s later, succeeds */
	assert_int_equal(mail_count(h, "frank", "new"), 1);
	snprintf(path, sizeof path, "%s/blocked/other/gina/new", h->dir);
	assert_int_equal(count_files(path, NULL, 0), 1);
}

/*
 * A flush takes a deferred message off its timer and sends it again at
 * once; a message not waiting on a timer is not counted.
 */
static void
test_flush_retries_deferred_now(void **state)
{
	static const char *const rcpts[] = { "kim@other.test" };
	struct harness *h = *state;
	char blocker[256], path[512];
	unsigned n = 0;
	int i;

	block_other_test(h, blocker, sizeof blocker);
	h_start_spool(h);
	h->deliver = deliver_new(h->base, h->spool, h->conf);
	assert_int_equal(deliver_flush(h->deliver), 0);
	queue_msg(h, rcpts, 1);
	/* Until the first try has failed and set its timer. */
	for (i = 0; i < 500 && (n = deliver_flush(h->deliver)) == 0; i++)
		run_for(h, 0.01);
	assert_int_equal(n, 1);
	assert_int_equal(deliver_flush(h->deliver), 0);
	assert_int_equal(queue_count(h), 1);
	unlink(blocker);
	run_until_queue(h, 0, 5);
	snprintf(path, sizeof path, "%s/blocked/other/kim/new", h->dir);
	assert_int_equal(count_files(path, NULL, 0), 1);
}

/*
 * A Maildir that a crash left half made (the process killed between its
 * mkdirs): the next copies make it whole instead of failing for ever.
 */
static void
test_half_made_maildir_is_completed(void **state)
{
	static const char *const rcpts[] = { "lee@example.test",
		"max@example.test" };
	struct harness *h = *state;
	static const char *const dirs[] = { "/mail", "/mail/example.test",
		"/mail/example.test/lee", "/mail/example.test/lee/tmp",
		"/mail/example.test/max", "/mail/example.test/max/new" };
	char path[512];
	size_t i;

	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(path, sizeof path, "%s%s", h->dir, dirs[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	h_start_spool(h);
	h->deliver = deliver_new(h->base, h->spool, h->conf);
	queue_msg(h, rcpts, 2);
	run_until_queue(h, 0, 10);
	assert_int_equal(mail_count(h, "lee", "new"), 1);
	assert_int_equal(mail_count(h, "lee", "cur"), 0);
	assert_int_equal(mail_count(h, "max", "new"), 1);
	assert_int_equal(mail_count(h, "max", "tmp"), 0);
}

/* An unknown domain (the configuration changed) keeps the mail queued. */
static void
test_unknown_domain_stays_queued(void **state)
{
	static const char *const rcpts[] = { "hal@gone.test" };
	struct harness *h = *state;

	h_start_spool(h);
	h->deliver = deliver_new(h->base, h->spool, h->conf);
	queue_msg(h, rcpts, 1);
	run_for(h, 0.3);
	assert_int_equal(queue_count(h), 1);
	deliver_free(h->deliver);
	h->deliver = NULL;
	assert_int_equal(queue_count(h), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delivers_each_recipient,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivers_queue_at_start,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_in_batches,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_second_copy_after_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failure_retried_not_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unknown_domain_stays_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_flush_retries_deferred_now, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_half_made_maildir_is_completed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
