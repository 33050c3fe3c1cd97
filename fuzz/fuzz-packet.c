/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: data stream bytes decoded against one of two fixed metadata
 * (an LTTng 2.13 UST layout, and a bit-packed one with variants, sequences,
 * mixed byte orders and a 3-bit clock), printed as text and JSON. The first
 * input byte selects the metadata.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ctflive/ctf.h"
#include "fuzz-printer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const metadata[] = {
	"/* CTF 1.8 */\n"
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
	"typealias integer { size = 16; align = 8; signed = false; } := uint16_t;\n"
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
	"typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
	"trace { major = 1; minor = 8; uuid = \"5ee81184-8c8e-4512-a7ca-d2704ea6387c\";\n"
	" byte_order = le; packet.header := struct { uint32_t magic; uint8_t uuid[16];\n"
	" uint32_t stream_id; uint64_t stream_instance_id; }; };\n"
	"env { hostname = \"h\"; procname = \"p\"; vpid = 3; };\n"
	"clock { name = monotonic; freq = 1000000000; offset = 1795949096209386637; };\n"
	"typealias integer { size = 32; align = 8; signed = false; map = clock.monotonic.value; } "
	":= t32;\n"
	"typealias integer { size = 64; align = 8; signed = false; map = clock.monotonic.value; } "
	":= t64;\n"
	"struct packet_context { t64 timestamp_begin; t64 timestamp_end; uint64_t content_size;\n"
	" uint64_t packet_size; uint64_t packet_seq_num; uint64_t events_discarded;\n"
	" uint32_t cpu_id; };\n"
	"struct event_header_large { enum : uint16_t { compact = 0 ... 65534, extended = 65535 } "
	"id;\n"
	" variant <id> { struct { t32 timestamp; } compact; struct { uint32_t id; t64 timestamp; "
	"} extended; } v; } align(8);\n"
	"stream { id = 0; event.header := struct event_header_large;\n"
	" packet.context := struct packet_context;\n"
	" event.context := struct { integer { size = 32; align = 8; signed = 1; } _vtid; }; };\n"
	"event { name = \"tracef\"; id = 0; stream_id = 0; loglevel = 14; fields := struct {\n"
	" integer { size = 32; align = 8; signed = 0; } __msg_length;\n"
	" integer { size = 8; align = 8; signed = 1; encoding = UTF8; } _msg[ __msg_length ]; "
	"}; };\n"
	"event { name = \"types\"; id = 1; stream_id = 0; fields := struct {\n"
	" floating_point { exp_dig = 11; mant_dig = 53; align = 8; } _d; string _s;\n"
	" enum : uint8_t { A, B = 3 ... 9, \"C\" } _e; uint16_t _a[3];\n"
	" integer { size = 32; align = 8; signed = 1; base = 16; byte_order = be; } _h;\n"
	" struct { } align(64) _pad; }; };\n",

	"/* CTF 1.8 */\n"
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
	"trace { major = 1; minor = 8; byte_order = be; };\n"
	"clock { name = c; freq = 1000; offset_s = 10; offset = 1500; };\n"
	"typealias integer { size = 3; align = 1; signed = false; map = clock.c.value; } := ts3;\n"
	"stream { packet.context := struct { uint32_t content_size; uint32_t packet_size;\n"
	" uint8_t events_discarded; };\n"
	" event.header := struct { integer { size = 5; align = 1; signed = false; } id; ts3 "
	"timestamp; }; };\n"
	"event { name = e0; id = 0; fields := struct {\n"
	" integer { size = 3; align = 1; signed = true; base = 8; } o3;\n"
	" integer { size = 13; align = 1; signed = false; base = 2; byte_order = le; } b13;\n"
	" enum : uint8_t { X, Y, Z = 5 ... 7 } sel;\n"
	" variant <sel> { string X; uint32_t Y; struct { uint8_t n; uint8_t s[n]; } Z; } v;\n"
	" uint8_t len; struct { integer { size = 1; align = 1; signed = false; } bit; } bits[len]; "
	"}; };\n"
	"event { name = e1; id = 1; };\n",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctflive_ctf_trace *traces[2];
	struct ctflive_ctf_bufsrc *b = NULL;
	struct ctflive_ctf_stream *s = NULL;
	static struct ctflive_ctf_printer *printers[2];
	struct ctflive_ctf_printer *p, *j;
	struct ctflive_ctf_source src;
	struct ctflive_ctf_diag d;
	struct ctflive_ctf_msg m;
	unsigned which;

	if (size < 1 || size > 1 << 20)
		return 0;
	which = data[0] & 1u;
	data++;
	size--;
	if (!traces[which]) {
		if (ctflive_ctf_trace_new(&traces[which]) < 0)
			return 0;
		if (ctflive_ctf_trace_add_metadata(traces[which], metadata[which],
						   strlen(metadata[which]), &d) < 0 ||
		    ctflive_ctf_trace_end_metadata(traces[which], &d) < 0)
			__builtin_trap(); /* the fixed metadata must parse */
	}
	if (ctflive_ctf_bufsrc_new(&b) < 0 || ctflive_ctf_bufsrc_push(b, data, size) < 0)
		goto out;
	ctflive_ctf_bufsrc_end(b);
	src = ctflive_ctf_bufsrc_source(b);
	if (ctflive_ctf_stream_new(traces[which], &src, &s) < 0)
		goto out;
	p = fuzz_printer(&printers[0], CTFLIVE_CTF_PRINT_DEFAULT | CTFLIVE_CTF_CLOCK_GMT);
	j = fuzz_printer(&printers[1], CTFLIVE_CTF_JSON);
	if (!p || !j)
		goto out;
	for (int n = 0; n < 100000 && ctflive_ctf_stream_next(s, &m, &d) == 0; n++) {
		(void)ctflive_ctf_printer_msg(p, s, &m);
		(void)ctflive_ctf_printer_msg(j, s, &m);
		(void)ctflive_ctf_printer_warning(p, s, &m);
		ctflive_ctf_printer_clear(p, 0);
		ctflive_ctf_printer_clear(p, 1);
		ctflive_ctf_printer_clear(j, 0);
	}
out:
	ctflive_ctf_stream_free(s);
	ctflive_ctf_bufsrc_free(b);
	return 0;
}
