/* SPDX-License-Identifier: MIT */
/*
 * Printers for the decoder harnesses, kept from one input to the next.
 *
 * ctflive_ctf_printer_new() allocates a 1 MiB output buffer up front; under
 * AddressSanitizer every such allocation is a fresh mapping whose shadow is
 * written on malloc and again on free, which made that, not decoding, most
 * of the time of each input. fuzz_printer() hands back the printer of
 * *slot in the state ctflive_ctf_printer_new() gives (the struct zeroed,
 * the warning and JSON caches freed) but keeps its first output buffer; a
 * printer whose output buffer grew is replaced by a new one. Every input so
 * sees a new printer, as a viewer does, and runs the same with or without
 * the inputs before it. Uses the printer's private layout (src/ctf/print.h).
 */
#ifndef FUZZ_PRINTER_H
#define FUZZ_PRINTER_H

#include <stdlib.h>
#include <string.h>

#include "ctflive/ctf.h"
#include "print.h"

static inline struct ctflive_ctf_printer *fuzz_printer(struct ctflive_ctf_printer **slot,
						       unsigned flags)
{
	static size_t fresh_cap;
	struct ctflive_ctf_printer *p = *slot;
	struct cl_obuf out;

	if (p && p->out.cap == fresh_cap && !p->out.oom) {
		out = p->out;
		free(p->warn.d);
		free(p->jev_text);
		memset(p, 0, sizeof(*p));
		p->flags = flags;
		p->out.d = out.d;
		p->out.cap = out.cap;
		return p;
	}
	*slot = ctflive_ctf_printer_free(p);
	if (ctflive_ctf_printer_new(flags, slot) < 0)
		return NULL;
	fresh_cap = (*slot)->out.cap;
	return *slot;
}

#endif
