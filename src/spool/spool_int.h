/*
 * spool internals shared by the files of src/spool/ (record encoding and
 * the checks on DONE records). Nothing outside the folder includes this.
 */
#ifndef MXGATE_SPOOL_SPOOL_INT_H
#define MXGATE_SPOOL_SPOOL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "spool/spool.h"

/*
 * The payload of a DONE record of the message with this nonce: a recipient
 * index below rcpt_count. ERR_SYNTAX for anything else.
 */
int spool_done_index(struct span data, size_t rcpt_count, uint64_t nonce,
    size_t *index);
/* Appends the DONE record of recipient i. */
void spool_done_put(struct buf *b, size_t i, uint64_t nonce);
/*
 * Walks the DONE records after END in a complete slot p[0..len): the first
 * record that is not a DONE of this message ends them. Marks done[i] for
 * each (done may be NULL), counts them into *count (may be NULL), and
 * returns the offset where the next DONE record goes.
 */
size_t spool_done_walk(const void *p, size_t len,
    const struct spool_file_info *info, bool *done, size_t *count);

/*
 * The CRC-32 (zlib's) that END carries for the len bytes at p, continuing
 * from crc (0 to start).
 */
uint32_t spool_crc(uint32_t crc, const void *p, size_t len);

/* Appends a record header announcing len bytes of payload. */
void spool_rec_header(struct buf *b, enum spool_rec_type type, uint32_t len);
/* Appends a whole record. */
void spool_rec_put(struct buf *b, enum spool_rec_type type, const void *p,
    size_t len);
void spool_put32(unsigned char *p, uint32_t v);
void spool_put64(unsigned char *p, uint64_t v);

/* ERR_NOSPACE for a full disk or quota, ERR_IO for anything else. */
int spool_errno_err(int e);
/* pwrite() of all len bytes at off. 0 or ERR_NOSPACE / ERR_IO. */
int spool_pwrite_all(int fd, const void *p, size_t len, uint64_t off);
/*
 * The bytes of a queued slot committed in one piece and not yet opened for
 * delivery: 1 and *out owns them (the entry is gone), or 0. Thread-safe.
 */
int spool_hot_take(struct spool *spool, const char *id, struct buf *out);
/*
 * The slot a queue id names: 0 and *slot, or ERR_NOTFOUND for an id that
 * is not ours. Opens the slot file (O_RDWR): the fd, or a negative ERR_*.
 */
int spool_id_slot(const char *id, uint32_t *slot);
int spool_slot_open(struct spool *spool, uint32_t slot);
/* A slot's file name in slots/: 8 lower-case hex digits. */
#define SPOOL_SLOT_NAME 9
void spool_slot_name(uint32_t slot, char name[SPOOL_SLOT_NAME]);
/* Marks the slot free on disk (not synced) and hands it back for reuse. */
int spool_slot_release(struct spool *spool, uint32_t slot, int fd);

#endif
