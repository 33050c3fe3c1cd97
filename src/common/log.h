/* SPDX-License-Identifier: MIT */
/*
 * Logging for the ctflive programs (never used by libctflive, ctf/ or proto/,
 * which report errors through return values and diagnostics instead).
 *
 * Levels follow babeltrace's table: ERROR an operation failed, WARNING bad
 * input but continuing, INFO lifecycle (never per packet), DEBUG per
 * connection or per message. Messages are lowercase, without a final period,
 * failure first: "cannot open index '%s': %s".
 *
 * Output goes to stderr, one line per call, prefixed with the program name
 * and level. The *_errno variants append strerror(-r) and return r so that
 * callers can write `return log_error_errno(r, "...")`.
 */
#ifndef CL_LOG_H
#define CL_LOG_H

#include <stddef.h>

#include "macro.h"

enum cl_log_level {
	CL_LOG_ERROR = 0,
	CL_LOG_WARNING,
	CL_LOG_NOTICE,
	CL_LOG_INFO,
	CL_LOG_DEBUG,
};

/* Sets the program name used as prefix (borrowed; must outlive logging). */
void cl_log_set_program(const char *name);
/* Sets the most verbose level printed; default CL_LOG_NOTICE. */
void cl_log_set_level(enum cl_log_level level);
enum cl_log_level cl_log_get_level(void);

/*
 * Copies peer-supplied text `s` into `buf` (`cap` bytes, NUL-terminated) for a
 * log line: bytes outside printable ASCII become \xNN, so a name cannot
 * forge log lines; longer text is cut with "...". Returns buf.
 */
const char *cl_log_escape(const char *s, char *buf, size_t cap);

/* Logs one line at `level`; returns `r` (pass 0 when there is no error). */
int cl_log_internal(enum cl_log_level level, int r, const char *fmt, ...) CL_PRINTF(3, 4);

#define log_error(...)   (void)cl_log_internal(CL_LOG_ERROR, 0, __VA_ARGS__)
#define log_warning(...) (void)cl_log_internal(CL_LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...)  (void)cl_log_internal(CL_LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...)    (void)cl_log_internal(CL_LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...)                                                       \
	do {                                                                 \
		if (cl_log_get_level() >= CL_LOG_DEBUG)                      \
			(void)cl_log_internal(CL_LOG_DEBUG, 0, __VA_ARGS__); \
	} while (0)

/* r is a negative errno; its text is appended. Evaluates to r. */
#define log_error_errno(r, ...)   cl_log_internal(CL_LOG_ERROR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) cl_log_internal(CL_LOG_WARNING, (r), __VA_ARGS__)
#define log_debug_errno(r, ...)   cl_log_internal(CL_LOG_DEBUG, (r), __VA_ARGS__)

#endif
