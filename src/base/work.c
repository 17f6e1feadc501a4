#include "base/work.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/handoff.h"
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
	struct handoff *finished; /* run, for done() in the loop */
	pthread_t *threads;
	unsigned nthreads;
	int nice; /* added to each thread's nice value */

	pthread_mutex_t lock;
	pthread_cond_t todo_cv; /* a job was queued, or stopping */
	pthread_cond_t done_cv; /* a job finished (for work_drain) */
	struct work_list todo;
	unsigned long ran; /* jobs run and handed back */
	bool stopping;
	/* Loop thread only: submitted and not yet called back; called back. */
	unsigned long pending, completed;
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
		while (pool->todo.head == NULL && !pool->stopping)
			pthread_cond_wait(&pool->todo_cv, &pool->lock);
		j = list_pop(&pool->todo);
		if (j == NULL)
			break;
		pthread_mutex_unlock(&pool->lock);
		j->run(j->arg);
		/* Posted before it is counted: work_drain then finds it. */
		handoff_post(pool->finished, j);
		pthread_mutex_lock(&pool->lock);
		pool->ran++;
		pthread_cond_broadcast(&pool->done_cv);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* A finished job, handed back to the loop thread. */
static void
work_complete(void *arg, void *item)
{
	struct work_pool *pool = arg;
	struct work_job *j = item;

	pool->pending--;
	pool->completed++;
	if (j->done)
		j->done(j->arg);
	free(j);
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

	pool->nice = nice;
	pool->nthreads = nthreads ? nthreads : 1;
	list_init(&pool->todo);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->todo_cv, NULL);
	pthread_cond_init(&pool->done_cv, NULL);
	pool->finished = handoff_new(base, work_complete, pool);
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
		/* <=: a run may have taken a job before its worker counted it. */
		while (pool->ran <= pool->completed)
			pthread_cond_wait(&pool->done_cv, &pool->lock);
		pthread_mutex_unlock(&pool->lock);
		handoff_run(pool->finished);
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
	handoff_free(pool->finished, NULL);
	pthread_cond_destroy(&pool->todo_cv);
	pthread_cond_destroy(&pool->done_cv);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}
