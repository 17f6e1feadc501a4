/*
 * ascii: character classes of the mail RFCs, for bytes of any value.
 *
 * Parsers must not depend on the C locale (isalpha() and friends do, and
 * take int with EOF), so every module classifies octets through these.
 * Octets above 0x7F are never letters, digits or atext here.
 */
#ifndef MXGATE_BASE_ASCII_H
#define MXGATE_BASE_ASCII_H

#include <stdbool.h>
#include <string.h>

static inline bool
ascii_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
ascii_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
ascii_is_alnum(unsigned char c)
{
	return ascii_is_alpha(c) || ascii_is_digit(c);
}

/* RFC 5234 WSP: space and horizontal tab. */
static inline bool
ascii_is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 3.2.3 atext. */
static inline bool
ascii_is_atext(unsigned char c)
{
	return ascii_is_alnum(c) ||
	    (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static inline unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

#endif
