/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: CTF 2 metadata (JSON text sequence, src/ctf/ctf2-meta.c).
 * The first input byte picks a cut; the rest is the metadata stream, fed
 * once whole and once in two pieces split at the cut, then declared
 * complete. Checks: never a crash, and both feedings agree on success.
 */
#include <stddef.h>
#include <stdint.h>

#include "ctflive/ctf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int feed(const uint8_t *data, size_t size, size_t cut)
{
	struct ctflive_ctf_trace *t;
	struct ctflive_ctf_diag d;
	int r;

	if (ctflive_ctf_trace_new(&t) < 0)
		return 1;
	r = ctflive_ctf_trace_add_metadata(t, data, cut, &d);
	if (r >= 0)
		r = ctflive_ctf_trace_add_metadata(t, data + cut, size - cut, &d);
	if (r >= 0)
		r = ctflive_ctf_trace_end_metadata(t, &d);
	ctflive_ctf_trace_free(t);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut;
	int whole, pieces;

	if (size < 1 || size > 1 << 20)
		return 0;
	cut = size > 1 ? (size_t)data[0] * (size - 1) / 255 : 0;
	data++;
	size--;
	whole = feed(data, size, size);
	pieces = feed(data, size, cut);
	if (whole == 1 || pieces == 1)
		return 0;
	if ((whole < 0) != (pieces < 0))
		__builtin_trap();
	return 0;
}
