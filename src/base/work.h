/*
 * work: a small pool of threads for the blocking calls the event loop must
 * never make itself (fsync, rename, Maildir writes).
 *
 * work_submit() queues a job from the loop thread; run(arg) executes on one
 * of the pool's threads, then done(arg) is called back in the loop thread
 * (through a base/handoff: the completions ready together come back in one
 * wake-up). A job's run() must not touch loop-owned state; done() may, and
 * may submit more jobs. Jobs start in submission order but run in parallel,
 * so they may finish in any order.
 *
 * Ownership: arg belongs to the caller throughout. work_drain() blocks the
 * caller until every submitted job (including ones submitted by done
 * callbacks meanwhile) has run and had its done() called; work_free() drains
 * and then stops the threads. Thread creation failure at work_new() is fatal
 * (a broken environment, not bad input).
 */
#ifndef MXGATE_BASE_WORK_H
#define MXGATE_BASE_WORK_H

struct event_base;
struct work_pool;

typedef void work_fn(void *arg);

struct work_pool *work_new(struct event_base *base, unsigned nthreads);
/*
 * The same, for work nobody is waiting for (delivery after the 250): each
 * thread raises its own nice value by nice, up to 19, so that the CPU goes
 * to the loop's sessions first. It is still scheduled under full load (a
 * tenth of a core per thread at +10). Failing to lower the priority is
 * logged once, not fatal.
 */
struct work_pool *work_new_background(struct event_base *base,
    unsigned nthreads, int nice);
/* Drains, then stops the threads and frees. NULL is fine. */
void work_free(struct work_pool *pool);

/* run on a pool thread, then done in the loop; done may be NULL. */
void work_submit(struct work_pool *pool, work_fn *run, work_fn *done,
    void *arg);
/* Waits in the calling (loop) thread until no job is left. */
void work_drain(struct work_pool *pool);

#endif
