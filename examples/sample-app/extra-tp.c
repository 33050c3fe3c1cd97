/* SPDX-License-Identifier: MIT */
/* Instantiates the ctflive_extra tracepoint provider's probes. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "extra-tp.h"
