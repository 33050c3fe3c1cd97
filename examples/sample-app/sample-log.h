/* SPDX-License-Identifier: MIT */
#ifndef CTFLIVE_SAMPLE_LOG_H
#define CTFLIVE_SAMPLE_LOG_H

#include <stdint.h>

/* One lttng_ust_tracef:event and one lttng_ust_tracelog:LTTNG_UST_TRACEPOINT_LOGLEVEL_WARNING
 * (lttng-ust's own providers) for tick `i` of the run called `name`. */
void sample_log(uint64_t i, const char *name);

#endif
