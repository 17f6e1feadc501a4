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

/* The payload of a DONE record: a recipient index below rcpt_count. */
int spool_done_index(struct span data, size_t rcpt_count, size_t *index);

/* Appends a record header announcing len bytes of payload. */
void spool_rec_header(struct buf *b, enum spool_rec_type type, uint32_t len);
/* Appends a whole record. */
void spool_rec_put(struct buf *b, enum spool_rec_type type, const void *p,
    size_t len);
void spool_put32(unsigned char *p, uint32_t v);

/* ERR_NOSPACE for a full disk or quota, ERR_IO for anything else. */
int spool_errno_err(int e);
int spool_write_all(int fd, const char *p, size_t len);
/*
 * The bytes of a queue file committed in one piece and not yet opened for
 * delivery: 1 and *out owns them (the entry is gone), or 0. Thread-safe.
 */
int spool_hot_take(struct spool *spool, const char *id, struct buf *out);
/* The queue directory, for the reading side in queued.c. */
int spool_queue_fd(const struct spool *spool);

#endif
