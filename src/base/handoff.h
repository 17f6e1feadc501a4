/*
 * handoff: hands items from any thread to one event loop. Where several
 * loops run (one per core), this is how one loop asks another to do
 * something: a message committed in one loop is delivered by the loop that
 * owns delivery, and the loop that catches SIGTERM tells the others to stop.
 *
 * handoff_post() may be called from any thread; fn(arg, item) runs in the
 * handoff's loop, once per item, in the order they were posted (items
 * posted together come through one eventfd wake-up). An item is any
 * pointer, NULL included; the handoff never looks at it.
 *
 * Ownership: the poster's item belongs to fn from the moment it is posted.
 * handoff_free() (from the handoff's loop thread, or once no thread posts
 * any more) passes the items never handed over to discard (when not NULL)
 * and frees the rest.
 */
#ifndef MXGATE_BASE_HANDOFF_H
#define MXGATE_BASE_HANDOFF_H

struct event_base;
struct handoff;

typedef void handoff_fn(void *arg, void *item);
typedef void handoff_discard_fn(void *item);

struct handoff *handoff_new(struct event_base *base, handoff_fn *fn,
    void *arg);
void handoff_post(struct handoff *ho, void *item);
/*
 * Hands over every item posted so far, now, in the calling thread (the
 * handoff's loop thread): what the wake-up would do, for a caller that
 * waits without returning to its loop.
 */
void handoff_run(struct handoff *ho);
/* NULL is fine. */
void handoff_free(struct handoff *ho, handoff_discard_fn *discard);

#endif
