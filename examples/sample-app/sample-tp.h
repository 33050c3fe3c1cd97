/* SPDX-License-Identifier: MIT */
/*
 * Tracepoint provider "ctflive_sample" of ctflive-sample-app.
 *
 * The events cover the field kinds a CTF decoder has to get right: signed and
 * unsigned integers (decimal and hexadecimal display), a string, a double, an
 * enumeration, a fixed-length array and a variable-length sequence.  Every
 * "tick" carries its index so a test can check that each event arrived once.
 *
 * This header is read several times by the lttng-ust macros (the
 * LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ dance below is theirs).
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER ctflive_sample

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./sample-tp.h"

#if !defined(CTFLIVE_SAMPLE_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define CTFLIVE_SAMPLE_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

/* The lttng-ust macro language reads better as written than as clang-format lays it out. */
// clang-format off

LTTNG_UST_TRACEPOINT_ENUM(ctflive_sample, phase,
	LTTNG_UST_TP_ENUM_VALUES(
		lttng_ust_field_enum_value("EVEN", 0)
		lttng_ust_field_enum_value("ODD", 1)
		lttng_ust_field_enum_range("HIGH", 2, 9)
	)
)

/* Once per program run, before the first tick. */
LTTNG_UST_TRACEPOINT_EVENT(ctflive_sample, start,
	LTTNG_UST_TP_ARGS(const char *, name, uint64_t, count, uint32_t, interval_us),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(name, name)
		lttng_ust_field_integer(uint64_t, count, count)
		lttng_ust_field_integer(uint32_t, interval_us, interval_us)
	)
)

/* One per loop iteration; index runs from 0 to count - 1. */
LTTNG_UST_TRACEPOINT_EVENT(ctflive_sample, tick,
	LTTNG_UST_TP_ARGS(const char *, name, uint64_t, index, const uint8_t *, bytes,
			  const int32_t *, seq, uint32_t, seq_len),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(name, name)
		lttng_ust_field_integer(uint64_t, index, index)
		lttng_ust_field_integer(int32_t, neg, -(int32_t) (index % 1000))
		lttng_ust_field_integer_hex(uint32_t, hex, (uint32_t) (index * 2654435761u))
		lttng_ust_field_float(double, ratio, (double) index / 4.0)
		lttng_ust_field_enum(ctflive_sample, phase, int, phase,
				     (int) (index % 10 < 2 ? index % 2 : 2 + index % 8))
		lttng_ust_field_array(uint8_t, bytes, bytes, 4)
		lttng_ust_field_sequence(int32_t, seq, seq, uint32_t, seq_len)
	)
)

/* Once per program run, after the last tick. */
LTTNG_UST_TRACEPOINT_EVENT(ctflive_sample, stop,
	LTTNG_UST_TP_ARGS(const char *, name, uint64_t, count),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(name, name)
		lttng_ust_field_integer(uint64_t, count, count)
	)
)

// clang-format on
#endif /* CTFLIVE_SAMPLE_TP_H */

#include <lttng/tracepoint-event.h>
