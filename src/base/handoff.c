#include "base/handoff.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/log.h"
#include "base/mem.h"

struct handoff_item {
	struct handoff_item *next;
	void *item;
};

struct handoff {
	struct event *ev;
	int efd;
	handoff_fn *fn;
	void *arg;
	pthread_mutex_t lock;
	struct handoff_item *head, **tail;
};

void
handoff_run(struct handoff *ho)
{
	struct handoff_item *batch, *it;

	pthread_mutex_lock(&ho->lock);
	batch = ho->head;
	ho->head = NULL;
	ho->tail = &ho->head;
	pthread_mutex_unlock(&ho->lock);
	while ((it = batch) != NULL) {
		batch = it->next;
		ho->fn(ho->arg, it->item);
		free(it);
	}
}

static void
handoff_on_event(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	/* Read before taking the batch: a later post then wakes us again. */
	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		fatal("handoff: eventfd read: %s", strerror(errno));
	handoff_run(arg);
}

struct handoff *
handoff_new(struct event_base *base, handoff_fn *fn, void *arg)
{
	struct handoff *ho = xcalloc(1, sizeof *ho);

	ho->fn = fn;
	ho->arg = arg;
	ho->tail = &ho->head;
	pthread_mutex_init(&ho->lock, NULL);
	ho->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ho->efd < 0)
		fatal("handoff: eventfd: %s", strerror(errno));
	ho->ev = event_new(base, ho->efd, EV_READ | EV_PERSIST,
	    handoff_on_event, ho);
	event_add(ho->ev, NULL);
	return ho;
}

void
handoff_post(struct handoff *ho, void *item)
{
	struct handoff_item *it = xmalloc(sizeof *it);
	bool wake;

	it->next = NULL;
	it->item = item;
	pthread_mutex_lock(&ho->lock);
	/* One eventfd write per batch: the loop takes them all. */
	wake = ho->head == NULL;
	*ho->tail = it;
	ho->tail = &it->next;
	pthread_mutex_unlock(&ho->lock);
	if (wake) {
		uint64_t one = 1;

		if (write(ho->efd, &one, sizeof one) < 0 && errno != EAGAIN)
			fatal("handoff: eventfd write: %s", strerror(errno));
	}
}

void
handoff_free(struct handoff *ho, handoff_discard_fn *discard)
{
	struct handoff_item *it;

	if (ho == NULL)
		return;
	while ((it = ho->head) != NULL) {
		ho->head = it->next;
		if (discard)
			discard(it->item);
		free(it);
	}
	event_free(ho->ev);
	close(ho->efd);
	pthread_mutex_destroy(&ho->lock);
	free(ho);
}
