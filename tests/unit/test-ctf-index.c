/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the CTF index codec (src/proto/ctf-index.h) against byte
 * images written out by hand from doc/file-formats.md §2.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctf-index.h"

static const uint8_t hdr_1_1[16] = { 0xC1, 0xF1, 0xDC, 0xC1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 72 };
static const uint8_t hdr_1_0[16] = { 0xC1, 0xF1, 0xDC, 0xC1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 56 };

static const struct cl_index_entry sample = {
	.offset = 0x1000,
	.packet_size = 0x8000,
	.content_size = 0x7f00,
	.timestamp_begin = 0x0102030405060708,
	.timestamp_end = 0x1112131415161718,
	.events_discarded = 3,
	.stream_id = 2,
	.stream_instance_id = 7,
	.packet_seq_num = 9,
};

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void sample_bytes(uint8_t *b)
{
	const uint64_t *f = &sample.offset;

	for (size_t i = 0; i < 9; i++)
		put64(b + 8 * i, f[i]);
}

static void test_header_encode(void **state)
{
	uint8_t out[16];
	struct cl_wbuf wb = cl_wbuf_make(out, sizeof(out));

	(void)state;
	assert_int_equal(cl_index_header_encode(&wb, CL_INDEX_MINOR_1_1), 0);
	assert_memory_equal(out, hdr_1_1, 16);
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_index_header_encode(&wb, CL_INDEX_MINOR_1_0), 0);
	assert_memory_equal(out, hdr_1_0, 16);
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_index_header_encode(&wb, 2), -EINVAL);
	wb = cl_wbuf_make(out, 15);
	assert_int_equal(cl_index_header_encode(&wb, 1), -EMSGSIZE);
	assert_int_equal(wb.pos, 0);
}

static void test_header_decode_check(void **state)
{
	struct cl_index_header h;
	struct cl_rbuf rb = cl_rbuf_make(hdr_1_1, 16);
	uint8_t bad[16];

	(void)state;
	assert_int_equal(cl_index_header_decode(&rb, &h), 0);
	assert_int_equal(rb.pos, 16);
	assert_int_equal(h.magic, CL_INDEX_MAGIC);
	assert_int_equal(h.major, 1);
	assert_int_equal(h.minor, 1);
	assert_int_equal(h.entry_size, 72);
	assert_int_equal(cl_index_header_check(&h), 0);

	rb = cl_rbuf_make(hdr_1_1, 15);
	assert_int_equal(cl_index_header_decode(&rb, &h), -EMSGSIZE);
	assert_int_equal(rb.pos, 0);

	memcpy(bad, hdr_1_1, 16);
	bad[3] = 0xC2;
	rb = cl_rbuf_make(bad, 16);
	assert_int_equal(cl_index_header_decode(&rb, &h), 0);
	assert_int_equal(cl_index_header_check(&h), -EBADMSG);
	memcpy(bad, hdr_1_1, 16);
	bad[7] = 2;
	rb = cl_rbuf_make(bad, 16);
	assert_int_equal(cl_index_header_decode(&rb, &h), 0);
	assert_int_equal(cl_index_header_check(&h), -ENOTSUP);
	memcpy(bad, hdr_1_1, 16);
	bad[15] = 55;
	rb = cl_rbuf_make(bad, 16);
	assert_int_equal(cl_index_header_decode(&rb, &h), 0);
	assert_int_equal(cl_index_header_check(&h), -ERANGE);
	h.entry_size = CL_INDEX_ENTRY_SIZE_MAX + 1;
	assert_int_equal(cl_index_header_check(&h), -ERANGE);
	h.entry_size = CL_INDEX_ENTRY_SIZE_MAX;
	assert_int_equal(cl_index_header_check(&h), 0);
}

static void test_entry_round_trip(void **state)
{
	uint8_t want[72], out[72];
	struct cl_wbuf wb = cl_wbuf_make(out, sizeof(out));
	struct cl_rbuf rb;
	struct cl_index_entry e;

	(void)state;
	sample_bytes(want);
	assert_int_equal(cl_index_entry_encode(&wb, &sample, 72), 0);
	assert_int_equal(wb.pos, 72);
	assert_memory_equal(out, want, 72);
	rb = cl_rbuf_make(out, 72);
	assert_int_equal(cl_index_entry_decode(&rb, 72, &e), 0);
	assert_int_equal(rb.pos, 72);
	assert_memory_equal(&e, &sample, sizeof(e));

	/* 1.0: the first 56 bytes; the 1.1 fields read as all ones. */
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_index_entry_encode(&wb, &sample, 56), 0);
	assert_int_equal(wb.pos, 56);
	assert_memory_equal(out, want, 56);
	rb = cl_rbuf_make(out, 56);
	assert_int_equal(cl_index_entry_decode(&rb, 56, &e), 0);
	assert_int_equal(e.stream_id, 2);
	assert_true(e.stream_instance_id == UINT64_MAX);
	assert_true(e.packet_seq_num == UINT64_MAX);

	/* Only the sizes the relay writes are encoded. */
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_index_entry_encode(&wb, &sample, 64), -EINVAL);
	wb = cl_wbuf_make(out, 71);
	assert_int_equal(cl_index_entry_encode(&wb, &sample, 72), -EMSGSIZE);
	assert_int_equal(wb.pos, 0);
}

static void test_entry_decode_sizes(void **state)
{
	uint8_t raw[200];
	struct cl_rbuf rb;
	struct cl_index_entry e;

	(void)state;
	memset(raw, 0xAB, sizeof(raw));
	sample_bytes(raw);
	/* 64 bytes: stream_instance_id but no packet_seq_num. */
	rb = cl_rbuf_make(raw, sizeof(raw));
	assert_int_equal(cl_index_entry_decode(&rb, 64, &e), 0);
	assert_int_equal(rb.pos, 64);
	assert_int_equal(e.stream_instance_id, 7);
	assert_true(e.packet_seq_num == UINT64_MAX);
	/* Wider entries: known fields read, the rest skipped. */
	rb = cl_rbuf_make(raw, sizeof(raw));
	assert_int_equal(cl_index_entry_decode(&rb, 100, &e), 0);
	assert_int_equal(rb.pos, 100);
	assert_int_equal(e.packet_seq_num, 9);
	/* Too small, or short input: nothing consumed. */
	rb = cl_rbuf_make(raw, sizeof(raw));
	assert_int_equal(cl_index_entry_decode(&rb, 55, &e), -EINVAL);
	rb = cl_rbuf_make(raw, 71);
	assert_int_equal(cl_index_entry_decode(&rb, 72, &e), -EMSGSIZE);
	assert_int_equal(rb.pos, 0);
}

static void test_lost_and_positions(void **state)
{
	struct cl_index_entry e = sample;

	(void)state;
	assert_false(cl_index_entry_is_lost(&e));
	e.offset = UINT64_MAX;
	assert_true(cl_index_entry_is_lost(&e));
	assert_int_equal(cl_index_entry_pos(0, 72), 16);
	assert_int_equal(cl_index_entry_pos(3, 56), 16 + 3 * 56);
	assert_true(cl_index_entry_pos(UINT64_C(1) << 40, 72) == 16 + (UINT64_C(72) << 40));
	assert_int_equal(cl_index_entry_size(CL_INDEX_MINOR_1_0), 56);
	assert_int_equal(cl_index_entry_size(CL_INDEX_MINOR_1_1), 72);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_encode),
		cmocka_unit_test(test_header_decode_check),
		cmocka_unit_test(test_entry_round_trip),
		cmocka_unit_test(test_entry_decode_sizes),
		cmocka_unit_test(test_lost_and_positions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
