/*
 * mem: allocation that aborts instead of failing.
 *
 * Callers never test for NULL: running out of memory is not a condition a
 * mail gateway can recover from mid-transaction, so it ends the process with
 * a message. Everything returned is released with free().
 */
#ifndef MXGATE_BASE_MEM_H
#define MXGATE_BASE_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* A NUL-terminated copy of the first n bytes of p (p needs no NUL). */
char *xstrndup(const char *p, size_t n);
char *xstrdup(const char *s);

#endif
