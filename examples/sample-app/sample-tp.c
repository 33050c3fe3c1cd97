/* SPDX-License-Identifier: MIT */
/* Instantiates the ctflive_sample tracepoint provider's probes. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "sample-tp.h"
