/*
 * spool: durable queue files. A message is acknowledged with 250 only after
 * spool_msg_commit() has called back with 0.
 *
 * Writing side (used by the SMTP session): spool_msg_new() opens a file in
 * the temporary area; the body streams in with spool_msg_write() as DATA
 * arrives; the header fields we add at the end of DATA (Received,
 * Authentication-Results) are given with spool_msg_set_headers() and stored
 * apart, so the body is never rewritten or read twice. spool_msg_commit()
 * writes the END record, fsyncs the file off the event loop, renames it into
 * the queue and fsyncs the directory - one directory fsync shared by the
 * messages that commit together - then calls back from the loop.
 *
 * Queue files are typed, length-prefixed records ending in an END record; a
 * file without it is incomplete and is never delivered (quarantined at
 * start). Leftovers in the temporary area are removed at start.
 *
 * Ownership: the spool owns a struct spool_msg from spool_msg_new() until
 * spool_msg_abort(), or until the commit callback has returned. An owner
 * that goes away while a commit is in flight calls spool_msg_detach(): the
 * commit still completes (the message is then queued, the client saw no 250
 * and may send it again: at least once), but the callback never runs.
 */
#ifndef MXGATE_SPOOL_SPOOL_H
#define MXGATE_SPOOL_SPOOL_H

#include <stddef.h>

struct event_base;
struct spool;
struct spool_msg;

/* Queue ids are short, unique, and safe in file names and headers. */
#define SPOOL_ID_MAX 32

struct spool_envelope {
	const char *client_ip; /* RFC 5952 / dotted text */
	const char *helo;
	const char *mail_from; /* without <>; "" for the null reverse-path */
	const char *const *rcpts; /* without <>, as accepted */
	size_t rcpt_count;
};

/*
 * Opens (creating if needed) the spool in dir. On failure returns NULL and
 * writes a one-line reason to err.
 */
struct spool *spool_open(struct event_base *base, const char *dir, char *err,
    size_t errsz);
/* Waits for commits in flight, then frees. NULL is fine. */
void spool_close(struct spool *spool);

/* Starts a message. NULL when the file cannot be created (*err = ERR_*). */
struct spool_msg *spool_msg_new(struct spool *spool,
    const struct spool_envelope *env, int *err);
/* Its queue id, NUL-terminated, valid as long as the message. */
const char *spool_msg_id(const struct spool_msg *msg);
/* Appends body bytes. 0, or ERR_NOSPACE / ERR_IO (then abort it). */
int spool_msg_write(struct spool_msg *msg, const void *p, size_t len);
/* The header fields to put before the body at delivery (replaces any). */
int spool_msg_set_headers(struct spool_msg *msg, const void *p, size_t len);
/* Removes the temporary file and frees. Not after spool_msg_commit(). */
void spool_msg_abort(struct spool_msg *msg);

/* err is 0 when the message is durably queued, else ERR_NOSPACE / ERR_IO. */
typedef void spool_commit_cb(void *arg, int err, const char *queue_id);
void spool_msg_commit(struct spool_msg *msg, spool_commit_cb *cb, void *arg);
void spool_msg_detach(struct spool_msg *msg);

/* Called from the loop for each message that has entered the queue. */
typedef void spool_queued_cb(void *arg, const char *queue_id);
void spool_on_queued(struct spool *spool, spool_queued_cb *cb, void *arg);

#endif
