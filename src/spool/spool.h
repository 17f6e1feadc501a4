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
 *
 * Reading side (used by deliver/): spool_queued_open() maps a queued file
 * and gives its envelope, header fields and body as spans; per-recipient
 * completion is recorded with spool_queued_mark_done(), and the file goes
 * with spool_queued_remove() once every copy is durable. These calls do
 * blocking file I/O: run them on a worker pool, never in the loop. A
 * message committed in one piece (up to 64 KiB) is given to its first
 * spool_queued_open() from memory, so delivery does not read it back. The
 * record parser underneath, spool_file_scan(), is pure and bounded.
 */
#ifndef MXGATE_SPOOL_SPOOL_H
#define MXGATE_SPOOL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/span.h"

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

/*
 * Queue file format: the 4 bytes SPOOL_MAGIC, then records of one type byte,
 * a 4-byte big-endian length and that many bytes: IP, HELO, FROM (once each,
 * in that order), RCPT (one or more), BODY chunks (their concatenation is
 * the body), at most one HEADERS, then END (8-byte body length, 4-byte
 * recipient count, both big-endian, to cross-check). After END, delivery
 * appends DONE records (4-byte recipient index and its complement): a torn
 * DONE at the tail after a crash is ignored, which costs at most one
 * duplicate copy.
 */
#define SPOOL_MAGIC "MXQ1"
#define SPOOL_MAGIC_LEN 4
#define SPOOL_REC_HDR 5
#define SPOOL_IP_MAX 64      /* RFC 5952 text with a zone: generous */
#define SPOOL_HELO_MAX 255   /* RFC 5321 4.5.3.1.2 domain */
#define SPOOL_PATH_MAX 256   /* RFC 5321 4.5.3.1.3 path */

enum spool_rec_type {
	SPOOL_REC_IP = 'I',
	SPOOL_REC_HELO = 'H',
	SPOOL_REC_FROM = 'F',
	SPOOL_REC_RCPT = 'R',
	SPOOL_REC_BODY = 'B',
	SPOOL_REC_HEADERS = 'A',
	SPOOL_REC_END = 'E',
	SPOOL_REC_DONE = 'D',
};

struct spool_file_info {
	bool complete; /* the END record is there and agrees */
	struct span client_ip, helo, mail_from, headers;
	size_t rcpt_count, body_chunks;
	uint64_t body_len;
	size_t end_off; /* offset just past END: DONE records follow */
};

/*
 * Checks a whole queue file p[0..len) and summarises it. 0 with complete
 * set: a deliverable message; 0 with complete clear: cut short (a crash
 * while writing); ERR_SYNTAX: not a queue file, or records out of order or
 * over their limits. Pure: no I/O, no allocation, spans point into p.
 */
int spool_file_scan(const void *p, size_t len, struct spool_file_info *out);

/*
 * One record at *off (start at SPOOL_MAGIC_LEN). 1 and *off advanced past
 * it; 0 at the end of the data; ERR_SYNTAX when the record is cut short.
 */
int spool_file_next(const void *p, size_t len, size_t *off,
    enum spool_rec_type *type, struct span *data);

/* A queued message opened for delivery (blocking: worker threads only). */
struct spool_queued;

/* ERR_NOTFOUND when gone, ERR_SYNTAX when incomplete or corrupt, ERR_IO. */
int spool_queued_open(struct spool *spool, const char *queue_id,
    struct spool_queued **out);
void spool_queued_close(struct spool_queued *q);
const struct spool_file_info *spool_queued_info(const struct spool_queued *q);
/* Recipient i (0 <= i < rcpt_count), and whether a copy is already done. */
struct span spool_queued_rcpt(const struct spool_queued *q, size_t i);
bool spool_queued_is_done(const struct spool_queued *q, size_t i);
/* Body chunk i (0 <= i < body_chunks), in order. */
struct span spool_queued_body(const struct spool_queued *q, size_t i);
/* Appends DONE for recipient i (not synced: see spool_queued_sync). */
int spool_queued_mark_done(struct spool_queued *q, size_t i);
/* Makes the DONE records durable. */
int spool_queued_sync(struct spool_queued *q);
/* Removes the queue file (every copy is durable by now). */
int spool_queued_remove(struct spool_queued *q);

#endif
