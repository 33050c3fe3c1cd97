/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: data stream bytes decoded against a fixed CTF 2 metadata
 * holding every CTF 2 field class (booleans, bit arrays and maps, LEB128,
 * UTF-16/32 strings, BLOBs, optionals, variants with unnamed options,
 * minimum alignments, field locations of every form; generated at build
 * time by gen-corpus.py into fuzz-ctf2-packet.h), printed as text and JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ctflive/ctf.h"
#include "fuzz-ctf2-packet.h"
#include "fuzz-printer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctflive_ctf_trace *trace;
	struct ctflive_ctf_bufsrc *b = NULL;
	struct ctflive_ctf_stream *s = NULL;
	static struct ctflive_ctf_printer *printers[2];
	struct ctflive_ctf_printer *p, *j;
	struct ctflive_ctf_source src;
	struct ctflive_ctf_diag d;
	struct ctflive_ctf_msg m;

	if (size > 1 << 20)
		return 0;
	if (!trace) {
		if (ctflive_ctf_trace_new(&trace) < 0)
			return 0;
		/* line by line, as a live metadata stream may come */
		for (size_t i = 0; ctf2_packet_metadata[i]; i++)
			if (ctflive_ctf_trace_add_metadata(trace, ctf2_packet_metadata[i],
							   strlen(ctf2_packet_metadata[i]), &d) < 0)
				__builtin_trap(); /* the fixed metadata must parse */
		if (ctflive_ctf_trace_end_metadata(trace, &d) < 0)
			__builtin_trap();
	}
	if (ctflive_ctf_bufsrc_new(&b) < 0 || ctflive_ctf_bufsrc_push(b, data, size) < 0)
		goto out;
	ctflive_ctf_bufsrc_end(b);
	src = ctflive_ctf_bufsrc_source(b);
	if (ctflive_ctf_stream_new(trace, &src, &s) < 0)
		goto out;
	p = fuzz_printer(&printers[0], CTFLIVE_CTF_PRINT_DEFAULT | CTFLIVE_CTF_CLOCK_GMT);
	j = fuzz_printer(&printers[1], CTFLIVE_CTF_JSON);
	if (!p || !j)
		goto out;
	for (int n = 0; n < 100000 && ctflive_ctf_stream_next(s, &m, &d) == 0; n++) {
		(void)ctflive_ctf_printer_msg(p, s, &m);
		(void)ctflive_ctf_printer_msg(j, s, &m);
		ctflive_ctf_printer_clear(p, 0);
		ctflive_ctf_printer_clear(j, 0);
	}
out:
	ctflive_ctf_stream_free(s);
	ctflive_ctf_bufsrc_free(b);
	return 0;
}
