/*
 * utf8: the one check of UTF-8 that addresses and mailbox names share.
 */
#ifndef MXGATE_BASE_UTF8_H
#define MXGATE_BASE_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed UTF-8 sequence of two to four bytes at p
 * (RFC 3629), 0 if it is not one: overlong forms, surrogates and code
 * points past U+10FFFF are refused. len > 0.
 */
size_t utf8_seq(const unsigned char *p, size_t len);

#endif
