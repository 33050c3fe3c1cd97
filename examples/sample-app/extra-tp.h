/* SPDX-License-Identifier: MIT */
/*
 * Tracepoint provider "ctflive_extra" of ctflive-sample-app: a second
 * provider, with the field kinds "ctflive_sample" leaves out (hexadecimal and
 * network byte order arrays and sequences, an enumeration with an automatic
 * value and holes, a field that is not written, special float values) and
 * an event with a log level and an EMF URI. Emitted with --types.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER ctflive_extra

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./extra-tp.h"

#if !defined(CTFLIVE_EXTRA_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define CTFLIVE_EXTRA_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

// clang-format off

/* 0, 1 (automatic), 10..20; 2..9 have no label */
LTTNG_UST_TRACEPOINT_ENUM(ctflive_extra, level,
	LTTNG_UST_TP_ENUM_VALUES(
		lttng_ust_field_enum_value("LOW", 0)
		lttng_ust_field_enum_auto("NEXT")
		lttng_ust_field_enum_range("MANY", 10, 20)
	)
)

/* words: at least 8 elements; n: 0 to 8 */
LTTNG_UST_TRACEPOINT_EVENT(ctflive_extra, arrays,
	LTTNG_UST_TP_ARGS(uint64_t, v, const uint32_t *, words, uint32_t, n, double, special),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_array_hex(uint32_t, ahex, words, 3)
		lttng_ust_field_array_network(uint32_t, anet, words, 3)
		lttng_ust_field_array_network_hex(uint16_t, anethex, (const uint16_t *) words, 4)
		lttng_ust_field_sequence_hex(uint32_t, shex, words, uint32_t, n)
		lttng_ust_field_sequence_network(int32_t, snet, (const int32_t *) words, uint16_t,
						 (uint16_t) n)
		lttng_ust_field_sequence_network_hex(uint64_t, snethex, (const uint64_t *) words,
						     uint8_t, (uint8_t) (n / 2))
		lttng_ust_field_integer_nowrite(uint64_t, hidden, v)
		lttng_ust_field_enum(ctflive_extra, level, uint8_t, level, (uint8_t) (v % 21))
		lttng_ust_field_integer(char, ch, (char) ('a' + v % 26))
		lttng_ust_field_string(empty, "")
		lttng_ust_field_float(double, special, special)
	)
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(ctflive_extra, arrays, LTTNG_UST_TRACEPOINT_LOGLEVEL_NOTICE)
LTTNG_UST_TRACEPOINT_MODEL_EMF_URI(ctflive_extra, arrays, "http://example.com/ctflive#arrays")

// clang-format on
#endif /* CTFLIVE_EXTRA_TP_H */

#include <lttng/tracepoint-event.h>
