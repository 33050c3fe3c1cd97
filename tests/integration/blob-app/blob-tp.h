/* SPDX-License-Identifier: MIT */
/*
 * Tracepoint provider "ctflive_blob" of the test program blob-app: the BLOB
 * fields of lttng-ust 2.16 (fixed and variable length, with an IANA media
 * type). CTF 2 records them as BLOBs, CTF 1.8 as arrays/sequences of bytes.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER ctflive_blob

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./blob-tp.h"

#if !defined(CTFLIVE_BLOB_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define CTFLIVE_BLOB_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

// clang-format off

LTTNG_UST_TRACEPOINT_EVENT(ctflive_blob, blobs,
	LTTNG_UST_TP_ARGS(uint64_t, index, const uint8_t *, data, uint16_t, len),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(uint64_t, index, index)
		lttng_ust_field_fixed_length_blob(fixed, data, 6, "application/octet-stream")
		lttng_ust_field_variable_length_blob(var, data, uint16_t, len, "image/png")
		lttng_ust_field_variable_length_blob(var8, data + 1, uint8_t, len / 2,
						     "text/plain")
		lttng_ust_field_integer(uint32_t, after, (uint32_t) index * 3)
	)
)

// clang-format on

#endif /* CTFLIVE_BLOB_TP_H */

#include <lttng/tracepoint-event.h>
