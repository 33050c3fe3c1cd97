/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *program = "ctflive";
static enum cl_log_level max_level = CL_LOG_NOTICE;

void cl_log_set_program(const char *name)
{
	program = name;
}

void cl_log_set_level(enum cl_log_level level)
{
	max_level = level;
}

enum cl_log_level cl_log_get_level(void)
{
	return max_level;
}

int cl_log_internal(enum cl_log_level level, int r, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "notice", "info", "debug" };
	char msg[1024];
	va_list ap;

	if (level > max_level)
		return r;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (r < 0)
		(void)fprintf(stderr, "%s: %s: %s: %s\n", program, names[level], msg, strerror(-r));
	else
		(void)fprintf(stderr, "%s: %s: %s\n", program, names[level], msg);
	return r;
}

const char *cl_log_escape(const char *s, char *buf, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return buf;
	for (; *s && o + 5 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			buf[o++] = (char)ch;
		} else {
			(void)snprintf(buf + o, cap - o, "\\x%02x", ch);
			o += 4;
		}
	}
	if (*s && cap >= 4)
		o = CL_MIN(o, cap - 4), memcpy(buf + o, "...", 3), o += 3;
	buf[CL_MIN(o, cap - 1)] = '\0';
	return buf;
}
