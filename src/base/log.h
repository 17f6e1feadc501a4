/*
 * log: one line per event, key=value pairs, on stderr.
 *
 * The level is tested before anything is formatted, so a disabled
 * log_debug() costs one comparison. Client bytes must go through
 * log_escape() before they reach a log line; AUTH data is never logged.
 * fatal() is for broken invariants only: it logs and aborts.
 */
#ifndef MXGATE_BASE_LOG_H
#define MXGATE_BASE_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN };

extern enum log_level log_threshold;

void log_write(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
_Noreturn void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#define log_at(level, ...)                                              \
	do {                                                            \
		if ((level) >= log_threshold)                           \
			log_write((level), __VA_ARGS__);                \
	} while (0)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)

/* Room for a value escaped by log_escape(): client values are cut here. */
#define LOG_VALUE_MAX 256

/*
 * Writes p[0..len) into out (size outsz, at least 8) as printable ASCII:
 * control bytes, space, '"', '\\', '=' and 8-bit bytes become \xHH, and the
 * result is cut with "..." when it does not fit. Returns out, NUL-terminated.
 */
char *log_escape(char *out, size_t outsz, const char *p, size_t len);

#endif
