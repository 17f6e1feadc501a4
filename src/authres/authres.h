/*
 * authres: the Authentication-Results header field (RFC 8601).
 *
 * authres_write() builds the field we prepend to accepted mail from a list
 * of method results; it quotes values and escapes comments itself, so
 * callers pass raw strings (a DKIM d= or a PTR name never breaks the field).
 * authres_is_forged() recognises an incoming field that claims to come from
 * us - our authserv-id, compared without regard to case and after any
 * comments and folding - so the session can drop it: only we may write one.
 * Both are pure; neither keeps a pointer to its input.
 */
#ifndef MXGATE_AUTHRES_AUTHRES_H
#define MXGATE_AUTHRES_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

#define AUTHRES_PROPS_MAX 6

struct authres_prop {
	const char *name;  /* ptype.property, e.g. "smtp.mailfrom" */
	const char *value; /* raw; quoted as RFC 8601 requires */
};

struct authres_entry {
	const char *method;  /* "iprev", "spf", "dkim" */
	const char *result;  /* "pass", "fail", "temperror", ... */
	const char *comment; /* raw text for a (comment) after the result, or NULL */
	struct authres_prop props[AUTHRES_PROPS_MAX];
	size_t prop_count;
};

/*
 * Appends "Authentication-Results: ID;" and one folded line per entry,
 * ending in CRLF. With no entries the result is "none" (RFC 8601 2.2).
 */
void authres_write(struct buf *out, const char *authserv_id,
    const struct authres_entry *entries, size_t count);

/*
 * field points at a whole header field as received ("Name: value", folding
 * included, with or without the final CRLF). True when it is an
 * Authentication-Results field whose authserv-id equals ours.
 */
bool authres_is_forged(const char *field, size_t len, const char *authserv_id);

#endif
