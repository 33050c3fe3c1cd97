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

LTTNG_UST_TRACEPOINT_ENUM(ctflive_sample, sign,
	LTTNG_UST_TP_ENUM_VALUES(
		lttng_ust_field_enum_range("NEGATIVE", -1000000, -1)
		lttng_ust_field_enum_value("ZERO", 0)
		lttng_ust_field_enum_range("POSITIVE", 1, 1000000)
	)
)

/*
 * With --types, one per tick: the remaining field kinds of lttng-ust (every
 * integer width and signedness, network byte order, 32-bit float, text
 * arrays and sequences, a signed enumeration, unsigned sequence length).
 */
LTTNG_UST_TRACEPOINT_EVENT(ctflive_sample, types,
	LTTNG_UST_TP_ARGS(int64_t, v, const char *, text, uint32_t, text_len),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int8_t, i8, (int8_t) v)
		lttng_ust_field_integer(uint8_t, u8, (uint8_t) v)
		lttng_ust_field_integer(int16_t, i16, (int16_t) (v * 257))
		lttng_ust_field_integer(uint16_t, u16, (uint16_t) (v * 257))
		lttng_ust_field_integer(int32_t, i32, (int32_t) (v * 65599))
		lttng_ust_field_integer(int64_t, i64, v * 1000000007LL)
		lttng_ust_field_integer(uint64_t, u64, (uint64_t) v * 11400714819323198485ULL)
		lttng_ust_field_integer_hex(uint64_t, x64, (uint64_t) v << 40)
		lttng_ust_field_integer_network(uint32_t, net32, (uint32_t) v * 16777619u)
		lttng_ust_field_integer_network_hex(uint16_t, net16, (uint16_t) v)
		lttng_ust_field_float(float, f32, (float) v / 3.0f)
		lttng_ust_field_float(double, f64, (double) v * -1.5e-3)
		lttng_ust_field_array_text(char, atext, text, 8)
		lttng_ust_field_sequence_text(char, stext, text, uint32_t, text_len)
		lttng_ust_field_sequence(uint16_t, useq, (const uint16_t *) text, uint8_t,
					 (uint8_t) (text_len / 2))
		lttng_ust_field_enum(ctflive_sample, sign, int64_t, sign, v - 5)
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
