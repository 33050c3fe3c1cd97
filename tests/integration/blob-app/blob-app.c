/* SPDX-License-Identifier: MIT */
/*
 * blob-app N: emits N ctflive_blob:blobs events, event i carrying BLOBs of
 * i % 17 bytes (variable length, the last empty) and 6 bytes (fixed length)
 * whose byte k is (i * 7 + k) & 0xff. Built against lttng-ust 2.16 only
 * (the integration tests' Debian sid root).
 */
#include <stdint.h>
#include <stdlib.h>

#define LTTNG_UST_TRACEPOINT_DEFINE
#include "blob-tp.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100;
	uint8_t data[32];

	for (long i = 0; i < n; i++) {
		for (unsigned k = 0; k < sizeof(data); k++)
			data[k] = (uint8_t)(i * 7 + k);
		lttng_ust_tracepoint(ctflive_blob, blobs, (uint64_t)i, data, (uint16_t)(i % 17));
	}
	return 0;
}
