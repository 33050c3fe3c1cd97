/* SPDX-License-Identifier: MIT */
/* Bit-level integer reads and timestamp reconstruction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bits.h"

/* Reference implementation: one bit at a time, per ctf-decoding.md §3.2. */
static uint64_t slow_read(const uint8_t *buf, uint64_t pos, unsigned size, int bo)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++) {
		uint64_t p = pos + i;
		unsigned bit;

		if (bo == CL_BITS_LE) {
			bit = (buf[p / 8] >> (p % 8)) & 1u;
			v |= (uint64_t)bit << i;
		} else {
			bit = (buf[p / 8] >> (7 - p % 8)) & 1u;
			v = v << 1 | bit;
		}
	}
	return v;
}

static void test_le_known(void **state)
{
	/* compact header: 5-bit id then 27-bit timestamp in one LE word */
	const uint8_t w[4] = { 0x3f, 0x00, 0x00, 0x80 }; /* 0x8000003f */

	(void)state;
	assert_int_equal(cl_read_bits(w, 0, 5, CL_BITS_LE), 0x1f);
	assert_int_equal(cl_read_bits(w, 5, 27, CL_BITS_LE), 0x8000003fu >> 5);
	assert_int_equal(cl_read_bits(w, 0, 32, CL_BITS_LE), 0x8000003fu);
}

static void test_be_known(void **state)
{
	/* BE 7-bit then 9-bit sharing two bytes: -5 (0x7b) and 341 */
	uint16_t word = (uint16_t)(0x7bu << 9 | 341u);
	const uint8_t b[2] = { (uint8_t)(word >> 8), (uint8_t)word };

	(void)state;
	assert_int_equal(cl_read_bits(b, 0, 7, CL_BITS_BE), 0x7b);
	assert_int_equal(cl_read_bits(b, 7, 9, CL_BITS_BE), 341);
	assert_int_equal(cl_read_bits(b, 0, 16, CL_BITS_BE), word);
}

static void test_exhaustive_offsets(void **state)
{
	uint8_t buf[24];
	uint32_t x = 0x12345678u;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (unsigned size = 1; size <= 64; size++) {
		for (uint64_t pos = 0; pos + size <= 8 * 16; pos++) {
			assert_int_equal(cl_read_bits(buf, pos, size, CL_BITS_LE),
					 slow_read(buf, pos, size, CL_BITS_LE));
			assert_int_equal(cl_read_bits(buf, pos, size, CL_BITS_BE),
					 slow_read(buf, pos, size, CL_BITS_BE));
		}
	}
}

static void test_clock_update(void **state)
{
	(void)state;
	/* worked example of ctf-decoding.md §3.5 (27 bits) */
	assert_int_equal(cl_clock_update(UINT64_C(0x0000001930000010), 0x0000005, 27),
			 UINT64_C(0x0000001938000005));
	/* no wrap when the new low bits are larger or equal */
	assert_int_equal(cl_clock_update(100, 5, 3), 101);
	assert_int_equal(cl_clock_update(101, 2, 3), 106);
	assert_int_equal(cl_clock_update(106, 2, 3), 106);
	assert_int_equal(cl_clock_update(106, 1, 3), 113);
	/* 32-bit LTTng compact timestamp after an extended one (§3.9) */
	assert_int_equal(cl_clock_update(UINT64_C(108213922377), 840835031u, 32),
			 UINT64_C(108215017431));
	/* 64-bit values overwrite */
	assert_int_equal(cl_clock_update(UINT64_MAX, 7, 64), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_le_known),
		cmocka_unit_test(test_be_known),
		cmocka_unit_test(test_exhaustive_offsets),
		cmocka_unit_test(test_clock_update),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
