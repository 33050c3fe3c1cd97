/* SPDX-License-Identifier: MIT */
/* Instantiates the ctflive_sample tracepoint provider (probes + registration). */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "sample-tp.h"
