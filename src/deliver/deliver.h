/*
 * deliver: hands queued messages to their mailboxes (Maildir by default).
 *
 * deliver_new() registers with the spool (spool_on_queued) and delivers each
 * queued message, including the ones found in the queue at start. For every
 * recipient it writes DIR/<mailbox>/tmp/UNIQUE (DIR is the recipient
 * domain's maildir, conf_find_domain()), with "Delivered-To: <rcpt>" and the
 * spooled header fields before the body, fsyncs it, renames it into new/ and
 * fsyncs new/: the Maildir way, so a reader never sees a partial message. All
 * blocking file I/O runs on a worker pool, never in the event loop.
 *
 * Completion is recorded per recipient in the queue file, so a restart does
 * not deliver a copy twice in the normal case (a crash between the rename and
 * that record gives one duplicate: at least once, never lost). The queue file
 * is removed only when every copy is durable. A failed delivery (disk full,
 * permissions, unknown domain after a configuration change) is retried with
 * backoff (1s, 2s, 4s ... capped at DELIVER_RETRY_MAX_S), never dropped.
 *
 * Ownership: the config and the spool must outlive the struct deliver.
 * deliver_free() waits for the deliveries in progress, then stops; messages
 * not yet delivered stay queued for the next start.
 */
#ifndef MXGATE_DELIVER_DELIVER_H
#define MXGATE_DELIVER_DELIVER_H

#include <stddef.h>

struct config;
struct event_base;
struct spool;
struct deliver;

/* RFC 5321 4.5.3.1.1: a local part is at most 64 octets. */
#define DELIVER_MAILBOX_MAX 64
#define DELIVER_RETRY_MAX_S 300

/*
 * Validates a recipient local part p[0..len) (as written in RCPT TO, not
 * NUL-terminated) and writes its Maildir directory name into out (outsz at
 * least DELIVER_MAILBOX_MAX + 1): the local part with ASCII letters lower
 * cased, NUL-terminated. Refused with ERR_SYNTAX: empty, a '/', a leading
 * '.', "..", NUL, control bytes, space, 8-bit bytes; with ERR_TOOLONG:
 * longer than DELIVER_MAILBOX_MAX. Used at RCPT time (so a refused
 * recipient gets a 5xx there) and again at delivery. Pure, thread-safe.
 */
int deliver_mailbox_name(const char *p, size_t len, char *out, size_t outsz);

/* Starts delivering; never fails (directories are made as they are needed). */
struct deliver *deliver_new(struct event_base *base, struct spool *spool,
    const struct config *conf);
/*
 * Retries every deferred message now (mxgate flush), its backoff starting
 * again at 1 s; returns how many were waiting. Loop thread.
 */
unsigned deliver_flush(struct deliver *d);
/* NULL is fine. */
void deliver_free(struct deliver *d);

#endif
