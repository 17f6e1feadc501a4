#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/handoff.h"

#define POSTERS 4
#define ITEMS 5000

struct ctx {
	struct event_base *base;
	struct handoff *ho;
	pthread_t loop_thread;
	int received;
	int null_items;
	uintptr_t last[POSTERS]; /* the last sequence number seen per poster */
	bool in_order;
};

struct poster {
	struct ctx *c;
	uintptr_t id;
};

/* Items encode poster id and sequence: id * ITEMS + seq + 1. */
static void
on_item(void *arg, void *item)
{
	struct ctx *c = arg;
	uintptr_t v = (uintptr_t)item;

	assert_true(pthread_equal(pthread_self(), c->loop_thread));
	if (v == 0) {
		c->null_items++;
	} else {
		uintptr_t id = (v - 1) / ITEMS, seq = (v - 1) % ITEMS + 1;

		if (seq != c->last[id] + 1)
			c->in_order = false;
		c->last[id] = seq;
	}
	if (++c->received == POSTERS * ITEMS + 1)
		event_base_loopbreak(c->base);
}

static void *
post_all(void *arg)
{
	struct poster *p = arg;
	uintptr_t i;

	for (i = 0; i < ITEMS; i++)
		handoff_post(p->c->ho, (void *)(p->id * ITEMS + i + 1));
	return NULL;
}

static void
test_items_from_threads_reach_the_loop_in_order(void **state)
{
	struct ctx c = { .in_order = true };
	struct poster p[POSTERS];
	pthread_t th[POSTERS];
	int i;

	(void)state;
	c.base = event_base_new();
	c.loop_thread = pthread_self();
	c.ho = handoff_new(c.base, on_item, &c);
	for (i = 0; i < POSTERS; i++) {
		p[i] = (struct poster){ &c, (uintptr_t)i };
		assert_int_equal(pthread_create(&th[i], NULL, post_all, &p[i]),
		    0);
	}
	handoff_post(c.ho, NULL);
	event_base_dispatch(c.base);
	for (i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(c.received, POSTERS * ITEMS + 1);
	assert_int_equal(c.null_items, 1);
	assert_true(c.in_order);
	for (i = 0; i < POSTERS; i++)
		assert_int_equal(c.last[i], ITEMS);
	handoff_free(c.ho, NULL);
	event_base_free(c.base);
}

static int discarded;

static void
count_discard(void *item)
{
	free(item);
	discarded++;
}

static void
never(void *arg, void *item)
{
	(void)arg;
	(void)item;
	fail_msg("an item was handed over after the loop stopped");
}

static void
test_free_discards_what_was_never_handed_over(void **state)
{
	struct event_base *base = event_base_new();
	struct handoff *ho = handoff_new(base, never, NULL);

	(void)state;
	handoff_post(ho, malloc(16));
	handoff_post(ho, malloc(16));
	handoff_free(ho, count_discard);
	assert_int_equal(discarded, 2);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_items_from_threads_reach_the_loop_in_order),
		cmocka_unit_test(test_free_discards_what_was_never_handed_over),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
