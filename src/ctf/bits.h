/* SPDX-License-Identifier: MIT */
/*
 * Bit-level integer reads (ctf-decoding.md §3.2) and the clock update rule.
 * Header-only so the decoder inlines them and unit tests reach them.
 */
#ifndef CL_CTF_BITS_H
#define CL_CTF_BITS_H

#include <stdint.h>
#include <string.h>

enum { CL_BITS_LE = 1, CL_BITS_BE = 2 }; /* same values as enum cl_bo */

static inline uint64_t load_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	if (n == 8) {
		memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		v = __builtin_bswap64(v);
#endif
		return v;
	}
	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t load_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Reads `size` bits (1..64) at bit `pos`; caller checked bounds. */
static inline uint64_t cl_read_bits(const uint8_t *buf, uint64_t pos, unsigned size, int bo)
{
	const uint8_t *p = buf + pos / 8;
	unsigned shift = (unsigned)(pos % 8);
	unsigned nbytes = (shift + size + 7) / 8;
	uint64_t v;

	if (shift == 0 && size % 8 == 0) {
		if (bo == CL_BITS_LE) {
			switch (size) {
			case 8:
				return p[0];
			case 16:
				return (uint64_t)p[0] | (uint64_t)p[1] << 8;
			case 32: {
				uint32_t x;

				memcpy(&x, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
				x = __builtin_bswap32(x);
#endif
				return x;
			}
			default:
				return load_le(p, size / 8);
			}
		}
		return load_be(p, size / 8);
	}
	if (bo == CL_BITS_LE) {
		if (nbytes <= 8) {
			v = load_le(p, nbytes) >> shift;
		} else {
			v = load_le(p, 8) >> shift;
			v |= (uint64_t)p[8] << (64 - shift);
		}
		return size == 64 ? v : v & ((UINT64_C(1) << size) - 1);
	}
	if (nbytes <= 8) {
		v = load_be(p, nbytes);
		v >>= nbytes * 8 - shift - size;
	} else {
		v = load_be(p, 8) << shift;
		v |= (uint64_t)p[8] >> (8 - shift);
		v >>= 64 - size;
	}
	return size == 64 ? v : v & ((UINT64_C(1) << size) - 1);
}

/*
 * Clock update rule of babeltrace2 (ctf-decoding.md §3.5): a clock-mapped
 * N-bit value replaces the low N bits of the running 64-bit clock, adding
 * 2^N first when it is smaller than the current low bits (one wrap).
 */
static inline uint64_t cl_clock_update(uint64_t clk, uint64_t v, unsigned size)
{
	uint64_t mask;

	if (size >= 64)
		return v;
	mask = (UINT64_C(1) << size) - 1;
	if (v < (clk & mask))
		clk += mask + 1;
	return (clk & ~mask) | v;
}

#endif
