/* SPDX-License-Identifier: MIT */
/* Instantiates the ctflive_blob tracepoint provider's probes. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "blob-tp.h"
