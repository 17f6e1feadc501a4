#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_work_completes_in_loop),
		cmocka_unit_test(test_work_drain_follows_chains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
