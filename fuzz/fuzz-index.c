/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the CTF index codec (src/proto/ctf-index.c). The
 * input is an index file. Its header is decoded and judged; its entries are
 * decoded with the header's entry size when the header is sound, else with
 * a size taken from the header's last byte. Checks: a decoder consumes
 * exactly one entry or nothing; fields the entry size does not cover read
 * as all ones; an entry of a size the relay writes encodes back to the same
 * bytes; a header the relay could have written encodes back identically.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ctf-index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const uint8_t *raw, uint32_t esz, const struct cl_index_entry *e)
{
	uint8_t out[CL_INDEX_ENTRY_SIZE_1_1];
	struct cl_wbuf wb = cl_wbuf_make(out, sizeof(out));

	if (esz < CL_INDEX_OFF_STREAM_INSTANCE_ID + 8 && e->stream_instance_id != UINT64_MAX)
		__builtin_trap();
	if (esz < CL_INDEX_OFF_PACKET_SEQ_NUM + 8 && e->packet_seq_num != UINT64_MAX)
		__builtin_trap();
	if (esz != CL_INDEX_ENTRY_SIZE_1_0 && esz != CL_INDEX_ENTRY_SIZE_1_1)
		return;
	if (cl_index_entry_encode(&wb, e, esz) != 0 || wb.pos != esz || memcmp(out, raw, esz))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_rbuf rb = cl_rbuf_make(data, size);
	struct cl_index_header h;
	uint32_t esz;

	if (size > 1 << 20)
		return 0;
	if (cl_index_header_decode(&rb, &h) < 0) {
		if (rb.pos != 0 || size >= CL_INDEX_HEADER_SIZE)
			__builtin_trap();
		return 0;
	}
	if (cl_index_header_check(&h) == 0) {
		esz = h.entry_size;
		if ((h.minor == CL_INDEX_MINOR_1_0 || h.minor == CL_INDEX_MINOR_1_1) &&
		    h.entry_size == cl_index_entry_size(h.minor)) {
			uint8_t out[CL_INDEX_HEADER_SIZE];
			struct cl_wbuf wb = cl_wbuf_make(out, sizeof(out));

			if (cl_index_header_encode(&wb, h.minor) != 0 ||
			    memcmp(out, data, sizeof(out)))
				__builtin_trap();
		}
	} else {
		esz = data[CL_INDEX_HEADER_SIZE - 1];
	}
	for (;;) {
		struct cl_index_entry e;
		size_t at = rb.pos;
		int r = cl_index_entry_decode(&rb, esz, &e);

		if (r < 0) {
			if (rb.pos != at ||
			    (esz >= CL_INDEX_ENTRY_SIZE_MIN && cl_rbuf_left(&rb) >= esz))
				__builtin_trap();
			break;
		}
		if (rb.pos - at != esz)
			__builtin_trap();
		check_entry(data + at, esz, &e);
	}
	return 0;
}
