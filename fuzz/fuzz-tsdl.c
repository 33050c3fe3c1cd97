/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: TSDL metadata (plain text or packetized), fed in two pieces
 * split at a position taken from the input, then declared complete.
 */
#include <stddef.h>
#include <stdint.h>

#include "ctflive/ctf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctflive_ctf_trace *t;
	struct ctflive_ctf_diag d;
	size_t cut;

	if (size < 1 || size > 1 << 20)
		return 0;
	cut = size > 1 ? (size_t)data[0] * (size - 1) / 255 : 0;
	data++;
	size--;
	if (ctflive_ctf_trace_new(&t) < 0)
		return 0;
	if (ctflive_ctf_trace_add_metadata(t, data, cut, &d) >= 0 &&
	    ctflive_ctf_trace_add_metadata(t, data + cut, size - cut, &d) >= 0)
		(void)ctflive_ctf_trace_end_metadata(t, &d);
	ctflive_ctf_trace_free(t);
	return 0;
}
