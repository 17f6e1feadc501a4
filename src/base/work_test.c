#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/work.h"

#define JOBS 200

struct ctx {
	struct event_base *base;
	struct work_pool *pool;
	pthread_t loop_thread;
	atomic_int ran;
	atomic_int off_loop; /* run() calls seen outside the loop thread */
	int done;
	int chained; /* jobs submitted from done callbacks */
};

static void
job_run(void *arg)
{
	struct ctx *c = arg;

	if (!pthread_equal(pthread_self(), c->loop_thread))
		atomic_fetch_add(&c->off_loop, 1);
	usleep(100);
	atomic_fetch_add(&c->ran, 1);
}

static void
job_done(void *arg)
{
	struct ctx *c = arg;

	assert_true(pthread_equal(pthread_self(), c->loop_thread));
	if (++c->done == JOBS)
		event_base_loopbreak(c->base);
}

static void
test_work_completes_in_loop(void **state)
{
	struct ctx c = { 0 };
	int i;

	(void)state;
	c.base = event_base_new();
	c.loop_thread = pthread_self();
	c.pool = work_new(c.base, 4);
	for (i = 0; i < JOBS; i++)
		work_submit(c.pool, job_run, job_done, &c);
	event_base_dispatch(c.base);
	assert_int_equal(c.done, JOBS);
	assert_int_equal(atomic_load(&c.ran), JOBS);
	assert_int_equal(atomic_load(&c.off_loop), JOBS);
	work_free(c.pool);
	event_base_free(c.base);
}

static void
chain_done(void *arg)
{
	struct ctx *c = arg;

	c->done++;
	if (c->chained < 10) {
		c->chained++;
		work_submit(c->pool, job_run, chain_done, c);
	}
}

static void
test_work_drain_follows_chains(void **state)
{
	struct ctx c = { 0 };

	(void)state;
	c.base = event_base_new();
	c.loop_thread = pthread_self();
	c.pool = work_new(c.base, 2);
	work_submit(c.pool, job_run, chain_done, &c);
	work_submit(c.pool, job_run, NULL, &c);
	/* No loop runs: drain alone must see every chained job through. */
	work_drain(c.pool);
	assert_int_equal(c.done, 11);
	assert_int_equal(atomic_load(&c.ran), 12);
	work_free(c.pool);
	event_base_free(c.base);
}

struct nice_ctx {
	atomic_int seen[4]; /* nice value of each job's thread */
	atomic_int n;
};

static void
nice_run(void *arg)
{
	struct nice_ctx *c = arg;

	atomic_store(&c->seen[atomic_fetch_add(&c->n, 1)],
	    getpriority(PRIO_PROCESS, (id_t)gettid()));
	usleep(1000); /* keeps this thread busy: the other takes jobs too */
}

static void
run_nice_jobs(struct work_pool *pool, struct nice_ctx *c)
{
	int i;

	for (i = 0; i < 4; i++)
		work_submit(pool, nice_run, NULL, c);
	work_drain(pool);
}

/* Background threads step back by their nice increment; no one else does. */
static void
test_work_background_threads_are_nicer(void **state)
{
	struct event_base *base = event_base_new();
	int own = getpriority(PRIO_PROCESS, (id_t)gettid()), i;
	struct nice_ctx bg = { 0 }, fg = { 0 };
	struct work_pool *pool;

	(void)state;
	assert_true(own <= 14);
	pool = work_new_background(base, 2, 5);
	run_nice_jobs(pool, &bg);
	work_free(pool);
	pool = work_new(base, 2);
	run_nice_jobs(pool, &fg);
	work_free(pool);
	for (i = 0; i < 4; i++) {
		assert_int_equal(atomic_load(&bg.seen[i]), own + 5);
		assert_int_equal(atomic_load(&fg.seen[i]), own);
	}
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)gettid()), own);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_work_completes_in_loop),
		cmocka_unit_test(test_work_drain_follows_chains),
		cmocka_unit_test(test_work_background_threads_are_nicer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
