/*
 * err: the error codes every module returns, and their messages.
 *
 * Ordinary calls return 0 on success or a negative ERR_* code. The codes
 * and their text come from this one X-macro list, so adding a code is one
 * line here and nothing else.
 */
#ifndef MXGATE_BASE_ERR_H
#define MXGATE_BASE_ERR_H

#define ERR_LIST(X)                                                     \
	X(ERR_NOMEM, "out of memory")                                   \
	X(ERR_SYNTAX, "syntax error")                                   \
	X(ERR_TOOLONG, "input too long")                                \
	X(ERR_RANGE, "value out of range")                              \
	X(ERR_IO, "input/output error")                                 \
	X(ERR_NOSPACE, "no space left on device")                       \
	X(ERR_NOTFOUND, "not found")                                    \
	X(ERR_TEMP, "temporary failure")                                \
	X(ERR_EXISTS, "already exists")                                 \
	X(ERR_LIMIT, "limit reached")                                   \
	X(ERR_BADSTATE, "not allowed in this state")                       \
	X(ERR_TLS, "TLS error")                                         \
	X(ERR_CANCELLED, "cancelled")

enum err_code {
	ERR_NONE_ = 0,
#define ERR_ENUM(name, text) name##_,
	ERR_LIST(ERR_ENUM)
#undef ERR_ENUM
};

/* The public codes are negative: ERR_SYNTAX == -2, and so on. */
#define ERR_DEFINE(name, text) enum { name = -(int)name##_ };
ERR_LIST(ERR_DEFINE)
#undef ERR_DEFINE

/* The message for a code (negative ERR_* or 0); never NULL. */
const char *err_str(int code);

#endif
