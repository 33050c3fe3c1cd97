/* SPDX-License-Identifier: MIT */
/*
 * Events of lttng-ust's own tracepoint providers. Kept apart from
 * sample-app.c: that file defines its providers' tracepoints
 * (LTTNG_UST_TRACEPOINT_DEFINE), which must not cover these.
 */
#include "sample-log.h"

#include <inttypes.h>
#include <lttng/tracef.h>
#include <lttng/tracelog.h>

void sample_log(uint64_t i, const char *name)
{
	lttng_ust_tracef("tracef %" PRIu64 " %s", i, name);
	lttng_ust_tracelog(LTTNG_UST_TRACEPOINT_LOGLEVEL_WARNING, "tracelog %" PRIu64, i);
}
