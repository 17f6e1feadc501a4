/*
 * spool: durable queue files. A message is acknowledged with 250 only after
 * spool_msg_commit() has called back with 0.
 *
 * Queue files are slots: files in slots/ that are written over again and
 * again instead of being created, renamed and unlinked for each message.
 * Where every file creation, rename and unlink is a round trip to the host
 * (0.2-0.4 ms each in the sandbox this was measured in, against 0.15 ms for
 * a write and fdatasync of a file that exists), that is the difference
 * between metadata work on every message and one write and one fdatasync.
 * A slot's first 4 bytes say what it holds: a queued message
 * (SPOOL_MAGIC_QUEUED), one being written (SPOOL_MAGIC_WRITING) or nothing
 * (SPOOL_MAGIC_FREE). A queued message ends with an END record carrying a
 * CRC-32 of everything before it, so a slot cut short, or one still holding
 * bytes of an earlier message, never passes for a queued message. A slot
 * file is created only when no free one is left; its directory is fsync'd
 * before the first message in it is acknowledged.
 *
 * Writing side (used by the SMTP session): spool_msg_new() takes a slot;
 * the body streams in with spool_msg_write() as DATA arrives; the header
 * fields we add at the end of DATA (Received, Authentication-Results) are
 * given with spool_msg_set_headers() and stored apart, so the body is never
 * rewritten or read twice. spool_msg_commit() writes the rest, fdatasyncs
 * the slot off the event loop, then calls back from the loop.
 *
 * At start, queued slots are checked: intact ones are handed to delivery,
 * damaged ones are copied to quarantine/ for an operator and freed, and
 * slots still being written (never acknowledged) are freed.
 *
 * Ownership: the spool owns a struct spool_msg from spool_msg_new() until
 * spool_msg_abort(), or until the commit callback has returned. An owner
 * that goes away while a commit is in flight calls spool_msg_detach(): the
 * commit still completes (the message is then queued, the client saw no 250
 * and may send it again: at least once), but the callback never runs.
 *
 * Reading side (used by deliver/): spool_queued_open() maps a queued slot
 * and gives its envelope, header fields and body as spans; per-recipient
 * completion is recorded with spool_queued_mark_done(), and the slot is
 * freed with spool_queued_remove() once every copy is durable. These calls
 * do blocking file I/O: run them on a worker pool, never in the loop. A
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
 * Commit threads for each handle (spool_open, spool_attach) of a server
 * with this many loops: enough that every busy session can have its
 * fdatasync in flight, without hundreds of idle threads on a many-core
 * machine (16 a loop up to two loops, then fewer, at least 2).
 */
unsigned spool_commit_threads(unsigned loops);

/*
 * Opens (creating if needed) the spool in dir, committing on threads of
 * its own (spool_commit_threads()). A spool is open in one process at a
 * time (dir/lock): another open fails until this one is closed or its
 * process ends. On failure returns NULL and writes a one-line reason to
 * err.
 */
struct spool *spool_open(struct event_base *base, const char *dir,
    unsigned threads, char *err, size_t errsz);
/* Waits for commits in flight, then frees. NULL is fine. */
void spool_close(struct spool *spool);
/*
 * The process that has the spool in dir open (spool_open()), for another
 * process: 1 and *pid, 0 when none has (or it has not written its pid
 * yet), ERR_IO when dir/lock cannot be read. Changes nothing.
 */
int spool_holder(const char *dir, long *pid);

/*
 * The same spool for another event loop (one per core): messages started
 * through it commit on threads of its own and call back in base, and share
 * the slots, the queue and delivery with spool. Each message committed
 * through it reaches spool's spool_on_queued() callback in spool's loop.
 * Only the spool of spool_open() takes spool_on_queued(). Close attached
 * spools (their loops stopped) before spool.
 */
struct spool *spool_attach(struct spool *spool, struct event_base *base,
    unsigned threads);

/* Starts a message in a free slot. NULL on a bad envelope (*err). */
struct spool_msg *spool_msg_new(struct spool *spool,
    const struct spool_envelope *env, int *err);
/* Its queue id, NUL-terminated, valid as long as the message. */
const char *spool_msg_id(const struct spool_msg *msg);
/* Appends body bytes. 0, or ERR_NOSPACE / ERR_IO (then abort it). */
int spool_msg_write(struct spool_msg *msg, const void *p, size_t len);
/* The header fields to put before the body at delivery (replaces any). */
int spool_msg_set_headers(struct spool_msg *msg, const void *p, size_t len);
/* Frees the message and its slot. Not after spool_msg_commit(). */
void spool_msg_abort(struct spool_msg *msg);

/* err is 0 when the message is durably queued, else ERR_NOSPACE / ERR_IO. */
typedef void spool_commit_cb(void *arg, int err, const char *queue_id);
void spool_msg_commit(struct spool_msg *msg, spool_commit_cb *cb, void *arg);
void spool_msg_detach(struct spool_msg *msg);

/* Called from the loop for each message that has entered the queue. */
typedef void spool_queued_cb(void *arg, const char *queue_id);
void spool_on_queued(struct spool *spool, spool_queued_cb *cb, void *arg);

/*
 * Reads the queue of the spool in dir without changing anything, so it is
 * safe while a server runs (a message committed meanwhile may be missed):
 * cb (if not NULL) for each queued message, with its summary and how many
 * of its copies are delivered. The number of queued messages, or ERR_IO
 * (dir has no readable spool).
 */
struct spool_file_info;
typedef void spool_list_cb(void *arg, const struct spool_file_info *info,
    size_t done_count);
int spool_list(const char *dir, spool_list_cb *cb, void *arg);

/*
 * Queue file format: the 4 bytes SPOOL_MAGIC_QUEUED, then records of one
 * type byte, a 4-byte big-endian length and that many bytes: ID, IP, HELO,
 * FROM (once each, in that order), RCPT (one or more), BODY chunks (their
 * concatenation is the body), at most one HEADERS, then END: 8-byte body
 * length and 4-byte recipient count (to cross-check), the message's 8-byte
 * random nonce, and the CRC-32 of every byte from the first record to the
 * nonce, all big-endian. After END, delivery appends DONE records
 * (4-byte recipient index, its complement, the nonce): the first record
 * that is not a DONE of this message ends them, so a torn one, or bytes an
 * earlier message left in the slot, are ignored (at most one duplicate
 * copy after a crash).
 */
#define SPOOL_MAGIC_QUEUED "MXQ2"
#define SPOOL_MAGIC_WRITING "MXW2"
#define SPOOL_MAGIC_FREE "MXF2"
#define SPOOL_MAGIC_LEN 4
#define SPOOL_REC_HDR 5
#define SPOOL_END_LEN 24
#define SPOOL_DONE_LEN 16
#define SPOOL_IP_MAX 64      /* RFC 5952 text with a zone: generous */
#define SPOOL_HELO_MAX 255   /* RFC 5321 4.5.3.1.2 domain */
#define SPOOL_PATH_MAX 256   /* RFC 5321 4.5.3.1.3 path */

enum spool_rec_type {
	SPOOL_REC_ID = 'Q',
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
	bool complete; /* the END record is there, agrees and its CRC too */
	bool damaged;  /* all there, but the CRC does not match */
	struct span id, client_ip, helo, mail_from, headers;
	size_t rcpt_count, body_chunks;
	uint64_t body_len;
	uint64_t nonce;
	size_t end_off; /* offset just past END: DONE records follow */
};

/*
 * Checks a queued slot p[0..len) (bytes after END are ignored) and
 * summarises it. 0 with complete set: a deliverable message; 0 with
 * complete clear: cut short, or its CRC does not match (a crash while
 * writing, or a damaged disk); ERR_SYNTAX: not a queued slot, or records
 * out of order or over their limits. Pure: no I/O, no allocation, spans
 * point into p.
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
/*
 * The same, for a reader outside the server (mxgate queue ID): the queued
 * message queue_id of the spool in dir, read into memory, never written.
 * Only the accessors below and spool_queued_close() apply to it.
 */
int spool_queued_read(const char *dir, const char *queue_id,
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
/* Frees the slot (every copy is durable by now); reused after close. */
int spool_queued_remove(struct spool_queued *q);

#endif
