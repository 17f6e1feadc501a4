/*
 * fsync ceiling of the disk under the spool, and what the spool gets out of
 * it. Modes:
 *   raw WRITERS SECONDS DIR    WRITERS threads, each looping write(1 KiB),
 *                              fdatasync, rename, fsync(dir)
 *   spool INFLIGHT SECONDS DIR spool_msg_commit() of 1 KiB messages with
 *                              INFLIGHT commits outstanding (as many SMTP
 *                              sessions waiting for their 250), each
 *                              slot freed again as soon as it is queued
 * Prints "MODE N msgs/s".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "spool/spool.h"

static char body[1024];
static atomic_long done_count;
static volatile int stop;
static const char *dir;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *
raw_writer(void *arg)
{
	long id = (long)arg, n = 0;
	char tmp[512], dst[512];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	while (!stop) {
		int fd;

		snprintf(tmp, sizeof tmp, "%s/t.%ld.%ld", dir, id, n);
		snprintf(dst, sizeof dst, "%s/q.%ld.%ld", dir, id, n++);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, body, sizeof body) != sizeof body ||
		    fdatasync(fd) < 0 || rename(tmp, dst) < 0 ||
		    fsync(dfd) < 0) {
			perror("raw");
			exit(1);
		}
		close(fd);
		unlink(dst);
		atomic_fetch_add(&done_count, 1);
	}
	close(dfd);
	return NULL;
}

struct bench {
	struct event_base *base;
	struct spool *spool;
	double end;
	int inflight;
};

static void submit(struct bench *b);

static void
on_commit(void *arg, int err, const char *id)
{
	struct bench *b = arg;
	struct spool_queued *q;

	if (err) {
		fprintf(stderr, "commit failed: %d\n", err);
		exit(1);
	}
	/* Delivered at once: the slot is free for the next message. */
	if (spool_queued_open(b->spool, id, &q) == 0) {
		spool_queued_remove(q);
		spool_queued_close(q);
	}
	atomic_fetch_add(&done_count, 1);
	b->inflight--;
	if (now() < b->end)
		submit(b);
	else if (b->inflight == 0)
		event_base_loopbreak(b->base);
}

static void
submit(struct bench *b)
{
	static const char *const rcpt[] = { "a@example.test" };
	const struct spool_envelope env = { "2001:db8:2::1", "h.example",
		"s@example.org", rcpt, 1 };
	int err;
	struct spool_msg *m = spool_msg_new(b->spool, &env, &err);

	b->inflight++;
	spool_msg_write(m, body, sizeof body);
	spool_msg_commit(m, on_commit, b);
}

int
main(int argc, char **argv)
{
	int n, secs;
	double t0, t;

	if (argc != 5) {
		fprintf(stderr, "usage: fsync raw|spool N SECONDS DIR\n");
		return 2;
	}
	n = atoi(argv[2]);
	secs = atoi(argv[3]);
	dir = argv[4];
	memset(body, 'x', sizeof body);
	t0 = now();
	if (strcmp(argv[1], "raw") == 0) {
		pthread_t th[256];
		long i;

		for (i = 0; i < n && i < 256; i++)
			pthread_create(&th[i], NULL, raw_writer, (void *)i);
		sleep((unsigned)secs);
		stop = 1;
		for (i = 0; i < n && i < 256; i++)
			pthread_join(th[i], NULL);
	} else {
		struct bench b = { 0 };
		char err[256];
		int i;

		b.base = event_base_new();
		b.spool = spool_open(b.base, dir, spool_commit_threads(1), err,
		    sizeof err);
		if (!b.spool) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		b.end = t0 + secs;
		for (i = 0; i < n; i++)
			submit(&b);
		event_base_dispatch(b.base);
		spool_close(b.spool);
		event_base_free(b.base);
	}
	t = now() - t0;
	printf("%s %d %.0f msgs/s\n", argv[1], n, done_count / t);
	return 0;
}
