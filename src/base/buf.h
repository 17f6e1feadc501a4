/*
 * buf: a growable byte buffer that owns its memory.
 *
 * Used where output size is not known in advance (headers we build, log
 * lines, queue records). A zeroed struct buf is an empty buffer; buf_free()
 * releases it and leaves it empty. The bytes are always followed by a NUL
 * that is not counted in len, so p can be passed to C string functions when
 * the content has no NUL of its own.
 */
#ifndef MXGATE_BASE_BUF_H
#define MXGATE_BASE_BUF_H

#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap;
};

void buf_add(struct buf *b, const void *p, size_t len);
void buf_addc(struct buf *b, char c);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes and returns where they go (len unchanged). */
char *buf_reserve(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
