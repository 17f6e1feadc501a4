#include "base/work.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/log.h"
#include "base/mem.h"

struct work_job {
	struct work_job *next;
	work_fn *run, *done;
	void *arg;
};

struct work_list {
	struct work_job *head, **tail;
};

struct work_pool {
	struct event_base *base;
	struct event *ev;
	int efd;
	pthread_t *threads;
	unsigned nthreads;
	int nice; /* added to each thread's nice value */

	pthread_mutex_t lock;
	pthread_cond_t todo_cv; /* a job was queued, or stopping */
	pthread_cond_t done_cv; /* a job finished (for work_drain) */
	struct work_list todo, finished;
	bool stopping;
	/* Submitted and not yet called back; loop thread only. */
	unsigned long pending;
};

static void
list_init(struct work_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void
list_push(struct work_list *l, struct work_job *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

static struct work_job *
list_pop(struct work_list *l)
{
	struct work_job *j = l->head;

	if (j) {
		l->head = j->next;
		if (l->head == NULL)
			l->tail = &l->head;
	}
	return j;
}

/* On Linux a nice value is per thread: this one alone steps back. */
static void
thread_nice(int nice)
{
	static atomic_bool warned;
	id_t tid = (id_t)gettid();
	int cur;

	errno = 0;
	cur = getpriority(PRIO_PROCESS, tid);
	if (errno == 0)
		cur = cur + nice > 19 ? 19 : cur + nice;
	if ((errno != 0 || setpriority(PRIO_PROCESS, tid, cur) < 0) &&
	    !atomic_exchange(&warned, true))
		log_warn("work: cannot lower a worker's priority: %s",
		    strerror(errno));
}

static void *
work_thread(void *p)
{
	struct work_pool *pool = p;
	struct work_job *j;

	if (pool->nice > 0)
		thread_nice(pool->nice);
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		bool wake;

		while (pool->todo.head == NULL && !pool->stopping)
			pthread_cond_wait(&pool->todo_cv, &pool->lock);
		j = list_pop(&pool->todo);
		if (j == NULL)
			break;
		pthread_mutex_unlock(&pool->lock);
		j->run(j->arg);
		pthread_mutex_lock(&pool->lock);
		/* One eventfd write per batch: the loop takes them all. */
		wake = pool->finished.head == NULL;
		list_push(&pool->finished, j);
		pthread_cond_broadcast(&pool->done_cv);
		if (wake) {
			uint64_t one = 1;

			if (write(pool->efd, &one, sizeof one) < 0 &&
			    errno != EAGAIN)
				fatal("work: eventfd write: %s",
				    strerror(errno));
		}
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Calls back every finished job; returns how many. Loop thread only. */
static unsigned long
work_complete(struct work_pool *pool)
{
	struct work_list batch;
	struct work_job *j;
	unsigned long n = 0;

	pthread_mutex_lock(&pool->lock);
	batch = pool->finished;
	if (batch.head == NULL)
		list_init(&batch);
	list_init(&pool->finished);
	pthread_mutex_unlock(&pool->lock);
	while ((j = list_pop(&batch)) != NULL) {
		pool->pending--;
		if (j->done)
			j->done(j->arg);
		free(j);
		n++;
	}
	return n;
}

static void
work_on_event(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	/* Read before completing: a later write then wakes us again. */
	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		fatal("work: eventfd read: %s", strerror(errno));
	work_complete(arg);
}

struct work_pool *
work_new(struct event_base *base, unsigned nthreads)
{
	return work_new_background(base, nthreads, 0);
}

struct work_pool *
work_new_background(struct event_base *base, unsigned nthreads, int nice)
{
	struct work_pool *pool = xcalloc(1, sizeof *pool);
	unsigned i;
	int rc;

	pool->base = base;
	pool->nice = nice;
	pool->nthreads = nthreads ? nthreads : 1;
	list_init(&pool->todo);
	list_init(&pool->finished);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->todo_cv, NULL);
	pthread_cond_init(&pool->done_cv, NULL);
	pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->efd < 0)
		fatal("work: eventfd: %s", strerror(errno));
	pool->ev = event_new(base, pool->efd, EV_READ | EV_PERSIST,
	    work_on_event, pool);
	event_add(pool->ev, NULL);
	pool->threads = xcalloc(pool->nthreads, sizeof *pool->threads);
	for (i = 0; i < pool->nthreads; i++) {
		rc = pthread_create(&pool->threads[i], NULL, work_thread,
		    pool);
		if (rc != 0)
			fatal("work: pthread_create: %s", strerror(rc));
	}
	return pool;
}

void
work_submit(struct work_pool *pool, work_fn *run, work_fn *done, void *arg)
{
	struct work_job *j = xmalloc(sizeof *j);

	j->run = run;
	j->done = done;
	j->arg = arg;
	pool->pending++;
	pthread_mutex_lock(&pool->lock);
	list_push(&pool->todo, j);
	pthread_cond_signal(&pool->todo_cv);
	pthread_mutex_unlock(&pool->lock);
}

void
work_drain(struct work_pool *pool)
{
	while (pool->pending) {
		pthread_mutex_lock(&pool->lock);
		while (pool->finished.head == NULL)
			pthread_cond_wait(&pool->done_cv, &pool->lock);
		pthread_mutex_unlock(&pool->lock);
		work_complete(pool);
	}
}

void
work_free(struct work_pool *pool)
{
	unsigned i;

	if (pool == NULL)
		return;
	work_drain(pool);
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->todo_cv);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	event_free(pool->ev);
	close(pool->efd);
	pthread_cond_destroy(&pool->todo_cv);
	pthread_cond_destroy(&pool->done_cv);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}
