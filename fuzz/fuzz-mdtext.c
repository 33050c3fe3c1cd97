/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the complete prefix of text metadata
 * (src/proto/metadata-text.c), which crash recovery cuts files at. The input
 * is a metadata file. Checks: the prefix is no longer than the input; it is
 * itself complete (cutting it again keeps it whole); a longer input never
 * gives a shorter prefix than the input without its last byte.
 */
#include <stddef.h>
#include <stdint.h>

#include "metadata-text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t keep, again;

	if (size > 1 << 20)
		return 0;
	keep = cl_metadata_text_complete_len(data, size);
	if (keep > size)
		__builtin_trap();
	again = cl_metadata_text_complete_len(data, keep);
	if (again != keep)
		__builtin_trap();
	if (size > 0 && cl_metadata_text_complete_len(data, size - 1) > keep)
		__builtin_trap();
	return 0;
}
