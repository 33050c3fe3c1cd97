/* SPDX-License-Identifier: MIT */
/*
 * Decoding through the pull interface: the hand-made bit-packing trace of
 * ctf-decoding.md §3.10 (mixed byte orders inside bytes, 3-bit clock with
 * wraps, 1 kHz clock with offset normalisation, float, enum, variant),
 * fed the way a live viewer would: metadata in small pieces, packet bytes
 * in two pushes with -EAGAIN in between.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctflive/ctf.h"

static const char metadata[] =
	"/* CTF 1.8 */\n"
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
	"typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
	"trace { major = 1; minor = 8; byte_order = le; };\n"
	"env { hostname = \"hm\"; };\n"
	"clock { name = c; freq = 1000; offset_s = 1000000000; offset = 1500; };\n"
	"typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := ts64;\n"
	"typealias integer { size = 3; align = 1; signed = false; map = clock.c.value; } := ts3;\n"
	"stream {\n"
	"\tpacket.context := struct { ts64 timestamp_begin; ts64 timestamp_end;\n"
	"\t\tuint32_t content_size; uint32_t packet_size; };\n"
	"\tevent.header := struct { integer { size = 5; align = 1; signed = false; } id; ts3 "
	"timestamp; };\n"
	"};\n"
	"event {\n"
	"\tname = bits;\n"
	"\tid = 0;\n"
	"\tfields := struct {\n"
	"\t\tinteger { size = 3; align = 1; signed = true; base = 8; } o3;\n"
	"\t\tinteger { size = 5; align = 1; signed = false; base = 2; } b5;\n"
	"\t\tinteger { size = 12; align = 1; signed = true; base = 16; } h12;\n"
	"\t\tinteger { size = 4; align = 1; signed = false; } pad4;\n"
	"\t\tinteger { size = 16; align = 8; signed = false; base = 16; byte_order = be; } be16;\n"
	"\t\tinteger { size = 7; align = 1; signed = true; byte_order = be; } be7;\n"
	"\t\tinteger { size = 9; align = 1; signed = false; base = 2; byte_order = be; } be9;\n"
	"\t\tfloating_point { exp_dig = 8; mant_dig = 24; align = 8; } f;\n"
	"\t\tenum : uint8_t { A, B, C = 5 ... 7 } sel;\n"
	"\t\tvariant <sel> { string A; uint32_t B; struct { uint8_t x; } C; } v;\n"
	"\t};\n"
	"};\n";

static const char expected[] =
	"[01:46:41.601000000] (+?.????????"
	"?) hm bits: { o3 = 05, b5 = 0b10110, h12 = 0xFFE, pad4 = "
	"0, be16 = 0xBEEF, be7 = -5, be9 = 0b101010101, f = 1.5, sel = ( \"A\" : container = 0 ), v "
	"= { \"hi\" } }\n"
	"[01:46:41.606000000] (+0.005000000) hm bits: { o3 = 03, b5 = 0b00001, h12 = 0x7FF, pad4 = "
	"0, be16 = 0x1, be7 = 63, be9 = 0b000000000, f = -0.25, sel = ( \"B\" : container = 1 ), v = "
	"{ 123456 } }\n"
	"[01:46:41.606000000] (+0.000000000) hm bits: { o3 = 04, b5 = 0b11111, h12 = 0x800, pad4 = "
	"0, be16 = 0x0, be7 = -64, be9 = 0b111111111, f = 3e+38, sel = ( \"C\" : container = 6 ), v = "
	"{ { x = 9 } } }\n"
	"[01:46:41.613000000] (+0.007000000) hm bits: { o3 = 00, b5 = 0b00000, h12 = 0x0, pad4 = 0, "
	"be16 = 0x0, be7 = 0, be9 = 0b000000000, f = nan, sel = ( \"C\" : container = 7 ), v = { { x "
	"= 0 } } }\n";

struct ev {
	unsigned ts3;
	int o3;
	unsigned b5;
	int h12;
	unsigned be16;
	int be7;
	unsigned be9;
	float f;
	unsigned sel;
	const char *a;
	uint32_t b;
	uint8_t x;
};

static size_t put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return n;
}

static size_t build_packet(uint8_t *buf)
{
	const struct ev evs[] = {
		{ 5, -3, 22, -2, 0xBEEF, -5, 341, 1.5f, 0, "hi", 0, 0 },
		{ 2, 3, 1, 0x7FF, 1, 63, 0, -0.25f, 1, NULL, 123456, 0 },
		{ 2, -4, 31, -2048, 0, -64, 511, 3e38f, 6, NULL, 0, 9 },
		{ 1, 0, 0, 0, 0, 0, 0, 0.0f, 7, NULL, 0, 0 },
	};
	size_t off = 24;

	for (size_t i = 0; i < 4; i++) {
		const struct ev *e = &evs[i];
		uint16_t w;
		float f = e->f;
		uint32_t fb;

		buf[off++] = (uint8_t)(0 | e->ts3 << 5);
		buf[off++] = (uint8_t)(((unsigned)e->o3 & 7u) | (e->b5 & 31u) << 3);
		off += put_le(buf + off, ((unsigned)e->h12 & 0xfffu), 2);
		buf[off++] = (uint8_t)(e->be16 >> 8);
		buf[off++] = (uint8_t)e->be16;
		w = (uint16_t)(((unsigned)e->be7 & 0x7fu) << 9 | (e->be9 & 0x1ffu));
		buf[off++] = (uint8_t)(w >> 8);
		buf[off++] = (uint8_t)w;
		if (i == 3)
			f = __builtin_nanf("");
		memcpy(&fb, &f, 4);
		off += put_le(buf + off, fb, 4);
		buf[off++] = (uint8_t)e->sel;
		if (e->sel == 0) {
			memcpy(buf + off, e->a, strlen(e->a) + 1);
			off += strlen(e->a) + 1;
		} else if (e->sel == 1) {
			off += put_le(buf + off, e->b, 4);
		} else {
			buf[off++] = e->x;
		}
	}
	put_le(buf, 100, 8);
	put_le(buf + 8, 113, 8);
	put_le(buf + 16, off * 8, 4);
	put_le(buf + 20, off * 8, 4);
	return off;
}

static void test_bits_trace(void **state)
{
	struct ctflive_ctf_trace *t;
	struct ctflive_ctf_bufsrc *b;
	struct ctflive_ctf_source src;
	struct ctflive_ctf_stream *s;
	struct ctflive_ctf_printer *p;
	struct ctflive_ctf_diag d;
	struct ctflive_ctf_msg m;
	uint8_t pkt[256];
	size_t len = build_packet(pkt), n = strlen(metadata);
	struct ctflive_bytes out;
	int r, events = 0;

	(void)state;
	assert_int_equal(ctflive_ctf_trace_new(&t), 0);
	for (size_t off = 0; off < n; off += 7)
		assert_int_equal(ctflive_ctf_trace_add_metadata(t, metadata + off,
								n - off < 7 ? n - off : 7, &d),
				 0);
	assert_int_equal(ctflive_ctf_bufsrc_new(&b), 0);
	src = ctflive_ctf_bufsrc_source(b);
	assert_int_equal(ctflive_ctf_stream_new(t, &src, &s), 0);
	assert_int_equal(
		ctflive_ctf_printer_new(CTFLIVE_CTF_PRINT_DEFAULT | CTFLIVE_CTF_CLOCK_GMT, &p), 0);
	/* nothing yet, then a partial packet: the decoder asks for more */
	assert_int_equal(ctflive_ctf_stream_next(s, &m, &d), -EAGAIN);
	assert_int_equal(ctflive_ctf_bufsrc_push(b, pkt, 30), 0);
	assert_int_equal(ctflive_ctf_stream_next(s, &m, &d), -EAGAIN);
	assert_int_equal(ctflive_ctf_bufsrc_push(b, pkt + 30, len - 30), 0);
	ctflive_ctf_bufsrc_end(b);
	while ((r = ctflive_ctf_stream_next(s, &m, &d)) == 0) {
		if (m.type == CTFLIVE_CTF_MSG_EVENT)
			events++;
		assert_true(ctflive_ctf_printer_msg(p, s, &m) >= 0);
	}
	if (r != CTFLIVE_CTF_END)
		fail_msg("decode error %d: %s", r, d.msg);
	assert_int_equal(events, 4);
	out = ctflive_ctf_printer_output(p, 0);
	if (out.len != strlen(expected) || memcmp(out.data, expected, out.len) != 0)
		fail_msg("got:\n%.*s\nexpected:\n%s", (int)out.len, (const char *)out.data,
			 expected);
	ctflive_ctf_printer_free(p);
	ctflive_ctf_stream_free(s);
	ctflive_ctf_bufsrc_free(b);
	ctflive_ctf_trace_free(t);
}

/* Every truncation of the packet is an error or a clean stop, never a crash. */
static void test_truncations(void **state)
{
	struct ctflive_ctf_trace *t;
	struct ctflive_ctf_diag d;
	uint8_t pkt[256];
	size_t len = build_packet(pkt);

	(void)state;
	assert_int_equal(ctflive_ctf_trace_new(&t), 0);
	assert_int_equal(ctflive_ctf_trace_add_metadata(t, metadata, strlen(metadata), &d), 0);
	assert_int_equal(ctflive_ctf_trace_end_metadata(t, &d), 0);
	for (size_t cut = 1; cut < len; cut++) {
		struct ctflive_ctf_bufsrc *b;
		struct ctflive_ctf_source src;
		struct ctflive_ctf_stream *s;
		struct ctflive_ctf_msg m;
		int r;

		assert_int_equal(ctflive_ctf_bufsrc_new(&b), 0);
		assert_int_equal(ctflive_ctf_bufsrc_push(b, pkt, cut), 0);
		ctflive_ctf_bufsrc_end(b);
		src = ctflive_ctf_bufsrc_source(b);
		assert_int_equal(ctflive_ctf_stream_new(t, &src, &s), 0);
		while ((r = ctflive_ctf_stream_next(s, &m, &d)) == 0)
			;
		assert_true(r == -EMSGSIZE || r == -EBADMSG);
		ctflive_ctf_stream_free(s);
		ctflive_ctf_bufsrc_free(b);
	}
	ctflive_ctf_trace_free(t);
}

/* Live case: an event class (with a sequence) declared after data was read. */
static void test_metadata_growth(void **state)
{
	static const char md1[] =
		"/* CTF 1.8 */\n"
		"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
		"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
		"trace { major = 1; minor = 8; byte_order = le; };\n"
		"stream { packet.context := struct { uint32_t content_size; uint32_t packet_size; };\n"
		"\tevent.header := struct { uint8_t id; }; };\n"
		"event { name = a; id = 0; fields := struct { uint8_t x; }; };\n"
		"event { name = b; id = 1; fi";
	static const char md2[] = "elds := struct { uint8_t n; uint8_t s[n]; }; };\n";
	const uint8_t p1[] = { 80, 0, 0, 0, 80, 0, 0, 0, 0, 5 };
	const uint8_t p2[] = { 112, 0, 0, 0, 112, 0, 0, 0, 1, 2, 7, 8, 0, 9 };
	static const char want[] = "a: { x = 5 }\nb: { n = 2, s = [ [0] = 7, [1] = 8 ] }\n"
				   "a: { x = 9 }\n";
	struct ctflive_ctf_trace *t;
	struct ctflive_ctf_bufsrc *b;
	struct ctflive_ctf_source src;
	struct ctflive_ctf_stream *s;
	struct ctflive_ctf_printer *p;
	struct ctflive_ctf_diag d;
	struct ctflive_ctf_msg m;
	struct ctflive_bytes out;
	int r;

	(void)state;
	assert_int_equal(ctflive_ctf_trace_new(&t), 0);
	assert_int_equal(ctflive_ctf_trace_add_metadata(t, md1, strlen(md1), &d), 0);
	assert_int_equal(ctflive_ctf_bufsrc_new(&b), 0);
	src = ctflive_ctf_bufsrc_source(b);
	assert_int_equal(ctflive_ctf_stream_new(t, &src, &s), 0);
	assert_int_equal(ctflive_ctf_printer_new(CTFLIVE_CTF_PRINT_DEFAULT, &p), 0);
	assert_int_equal(ctflive_ctf_bufsrc_push(b, p1, sizeof(p1)), 0);
	while (ctflive_ctf_stream_next(s, &m, &d) == 0)
		assert_true(ctflive_ctf_printer_msg(p, s, &m) >= 0);
	/* the rest of the metadata, then a packet using the new event */
	assert_int_equal(ctflive_ctf_trace_add_metadata(t, md2, strlen(md2), &d), 0);
	assert_int_equal(ctflive_ctf_bufsrc_push(b, p2, sizeof(p2)), 0);
	ctflive_ctf_bufsrc_end(b);
	while ((r = ctflive_ctf_stream_next(s, &m, &d)) == 0)
		assert_true(ctflive_ctf_printer_msg(p, s, &m) >= 0);
	if (r != CTFLIVE_CTF_END)
		fail_msg("decode error %d: %s", r, d.msg);
	out = ctflive_ctf_printer_output(p, 0);
	if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
		fail_msg("got:\n%.*s", (int)out.len, (const char *)out.data);
	assert_int_equal(ctflive_ctf_trace_end_metadata(t, &d), 0);
	ctflive_ctf_printer_free(p);
	ctflive_ctf_stream_free(s);
	ctflive_ctf_bufsrc_free(b);
	ctflive_ctf_trace_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bits_trace),
		cmocka_unit_test(test_metadata_growth),
		cmocka_unit_test(test_truncations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
