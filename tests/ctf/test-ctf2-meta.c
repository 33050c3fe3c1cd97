/* SPDX-License-Identifier: MIT */
/*
 * CTF 2 metadata (JSON text sequence): a small trace decoded with its
 * metadata given whole, byte by byte and cut in two at every offset gives
 * the same text; hostile metadata is an error, never a crash.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctflive/ctf.h"
#include "fuzz-ctf2-packet.h"

#define RS "\x1e"

#define U(n, extra)                                                  \
	"{\"type\":\"fixed-length-unsigned-integer\",\"length\":" #n \
	",\"byte-order\":\"little-endian\",\"alignment\":8" extra "}"

static const char
	metadata
		[] =
			RS "{\"type\":\"preamble\",\"version\":2}\n" RS
			   "{\"type\":\"trace-class\",\"uid\":\"test-uid\","
			   "\"environment\":{\"hostname\":\"h\",\"vpid\":12},"
			   "\"packet-header-field-class\":{\"type\":\"structure\",\"member-classes\":["
			   "{\"name\":\"magic\",\"field-class\":" U(
				   32,
				   ",\"roles\":[\"packet-magic-number\"]") "}]}}\n" RS
									   "{\"type\":\"clock-class\",\"id\":\"clk\",\"frequency\":1000000000,"
									   "\"offset-from-origin\":{\"seconds\":1000,\"cycles\":5},\"origin\":\"unix-epoch\"}\n" RS "{\"type\":\"field-class-alias\",\"name\":\"u8\",\"field-class\":" U(8, "") "}\n" RS "{\"type\":\"field-class-alias\",\"name\":\"e8\",\"field-class\":" U(8, ",\"mappings\":{\"A\":[[0,0]],\"B\":[[1,5],[7,7]]}") "}\n" RS "{\"type\":\"data-stream-class\",\"default-clock-class-id\":\"clk\","
																																														      "\"packet-context-field-class\":{\"type\":\"structure\",\"member-classes\":["
																																														      "{\"name\":\"packet_size\",\"field-class\":" U(32, ",\"roles\":[\"packet-total-length\"]") "},"
																																																										 "{\"name\":\"content_size\",\"field-class\":" U(32, ",\"roles\":[\"packet-content-length\"]") "},"
																																																																					       "{\"name\":\"timestamp_begin\",\"field-class\":" U(
																																																																						       64,
																																																																						       ",\"roles\":[\"default-clock-timestamp\"]") "},"
																																																																												   "{\"name\":\"timestamp_end\",\"field-class\":" U(64,
																																																																																		    ",\"roles\":[\"packet-end-default-clock-timestamp\"]") "}]},"
																																																																																									   "\"event-record-header-field-class\":{\"type\":\"structure\",\"member-classes\":["
																																																																																									   "{\"name\":\"id\",\"field-class\":" U(8,
																																																																																														 ",\"roles\":[\"event-record-class-id\"]") "},"
																																																																																																			   "{\"name\":\"timestamp\",\"field-class\":" U(32,
																																																																																																									",\"roles\":[\"default-clock-timestamp\"]") "}]}}\n" RS
																																																																																																														    "{\"type\":\"event-record-class\",\"id\":0,\"name\":\"ev\","
																																																																																																														    "\"payload-field-class\":{\"type\":\"structure\",\"member-classes\":["
																																																																																																														    "{\"name\":\"x\",\"field-class\":\"e8\"},"
																																																																																																														    "{\"name\":\"n\",\"field-class\":\"u8\"},"
																																																																																																														    "{\"name\":\"arr\",\"field-class\":{\"type\":\"dynamic-length-array\","
																																																																																																														    "\"length-field-location\":{\"origin\":\"event-record-payload\",\"path\":[\"n\"]},"
																																																																																																														    "\"element-field-class\":\"u8\"}},"
																																																																																																														    "{\"name\":\"sel\",\"field-class\":{\"type\":\"fixed-length-signed-integer\",\"length\":8,"
																																																																																																														    "\"byte-order\":\"little-endian\",\"alignment\":8}},"
																																																																																																														    "{\"name\":\"v\",\"field-class\":{\"type\":\"variant\","
																																																																																																														    "\"selector-field-location\":{\"path\":[\"sel\"]},\"options\":["
																																																																																																														    "{\"name\":\"a\",\"selector-field-ranges\":[[-3,0]],\"field-class\":" U(16,
																																																																																																																							    "") "},"
																																																																																																																								"{\"name\":\"b\",\"selector-field-ranges\":[[1,100]],"
																																																																																																																								"\"field-class\":{\"type\":\"null-terminated-string\"}}]}},"
																																																																																																																								"{\"name\":\"s\",\"field-class\":{\"type\":\"static-length-string\",\"length\":3}},"
																																																																																																																								"{\"name\":\"f\",\"field-class\":{\"type\":\"fixed-length-floating-point-number\","
																																																																																																																								"\"length\":64,\"byte-order\":\"little-endian\",\"alignment\":8}}]}}\n";

static size_t put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return n;
}

static size_t event(uint8_t *p, uint32_t ts, uint8_t x, int8_t sel)
{
	size_t o = 0;
	double f = 1.5;
	uint64_t fb;

	o += put_le(p + o, 0, 1);
	o += put_le(p + o, ts, 4);
	o += put_le(p + o, x, 1);
	o += put_le(p + o, 2, 1);
	o += put_le(p + o, 10, 1);
	o += put_le(p + o, 20, 1);
	o += put_le(p + o, (uint8_t)sel, 1);
	if (sel <= 0) {
		o += put_le(p + o, 0x1234, 2);
	} else {
		memcpy(p + o, "hi", 3);
		o += 3;
	}
	memcpy(p + o, "abc", 3);
	o += 3;
	memcpy(&fb, &f, sizeof(fb));
	o += put_le(p + o, fb, 8);
	return o;
}

static size_t build_packet(uint8_t *buf)
{
	size_t o = 0, size_off;

	o += put_le(buf + o, 0xc1fc1fc1, 4);
	size_off = o;
	o += 8;
	o += put_le(buf + o, 100, 8);
	o += put_le(buf + o, 300, 8);
	o += event(buf + o, 150, 7, -2);
	o += event(buf + o, 250, 0, 3);
	put_le(buf + size_off, o * 8, 4);
	put_le(buf + size_off + 4, o * 8, 4);
	return o;
}

/* Metadata `md` (n bytes) given in pieces of `step` bytes (0: cut once at
 * `cut`), then the packet (len bytes) decoded; returns the printed text
 * (malloc) or NULL on error, with *rc. */
static char *decode_md(const char *md, size_t n, size_t step, size_t cut, const uint8_t *pkt,
		       size_t len, int *rc)
{
	struct ctflive_ctf_trace *t;
	struct ctflive_ctf_bufsrc *b;
	struct ctflive_ctf_source src;
	struct ctflive_ctf_stream *s;
	struct ctflive_ctf_printer *p;
	struct ctflive_ctf_diag d;
	struct ctflive_ctf_msg m;
	struct ctflive_bytes out;
	char *ret = NULL;
	int r = 0;

	assert_int_equal(ctflive_ctf_trace_new(&t), 0);
	if (step) {
		for (size_t off = 0; off < n && r == 0; off += step)
			r = ctflive_ctf_trace_add_metadata(t, md + off,
							   n - off < step ? n - off : step, &d);
	} else {
		r = ctflive_ctf_trace_add_metadata(t, md, cut, &d);
		if (r == 0)
			r = ctflive_ctf_trace_add_metadata(t, md + cut, n - cut, &d);
	}
	if (r == 0)
		r = ctflive_ctf_trace_end_metadata(t, &d);
	*rc = r;
	if (r < 0) {
		fprintf(stderr, "metadata: %s\n", d.msg);
		ctflive_ctf_trace_free(t);
		return NULL;
	}
	assert_int_equal(ctflive_ctf_bufsrc_new(&b), 0);
	src = ctflive_ctf_bufsrc_source(b);
	assert_int_equal(ctflive_ctf_stream_new(t, &src, &s), 0);
	assert_int_equal(
		ctflive_ctf_printer_new(CTFLIVE_CTF_PRINT_DEFAULT | CTFLIVE_CTF_CLOCK_GMT, &p), 0);
	assert_int_equal(ctflive_ctf_bufsrc_push(b, pkt, len), 0);
	ctflive_ctf_bufsrc_end(b);
	while ((r = ctflive_ctf_stream_next(s, &m, &d)) == 0)
		assert_true(ctflive_ctf_printer_msg(p, s, &m) >= 0);
	if (r != CTFLIVE_CTF_END)
		fail_msg("decode error %d: %s", r, d.msg);
	out = ctflive_ctf_printer_output(p, 0);
	ret = strndup((const char *)out.data, out.len);
	ctflive_ctf_printer_free(p);
	ctflive_ctf_stream_free(s);
	ctflive_ctf_bufsrc_free(b);
	ctflive_ctf_trace_free(t);
	return ret;
}

/* The small trace above: metadata in pieces of `step` bytes or cut at `cut`. */
static char *decode(size_t step, size_t cut, int *rc)
{
	uint8_t pkt[256];
	size_t len = build_packet(pkt);

	return decode_md(metadata, strlen(metadata), step, cut, pkt, len, rc);
}

static const char expected[] =
	"[00:16:40.000000155] (+?.\?\?\?\?\?\?\?\?\?) h:(12) ev: { x = ( \"B\" : container = 7 ), "
	"n = 2, arr = [ [0] = 10, [1] = 20 ], sel = -2, v = { 4660 }, s = \"abc\", f = 1.5 }\n"
	"[00:16:40.000000255] (+0.000000100) h:(12) ev: { x = ( \"A\" : container = 0 ), "
	"n = 2, arr = [ [0] = 10, [1] = 20 ], sel = 3, v = { \"hi\" }, s = \"abc\", f = 1.5 }\n";

static void test_whole_equals_pieces(void **state)
{
	int rc;
	char *whole = decode(strlen(metadata), 0, &rc), *o;

	(void)state;
	assert_int_equal(rc, 0);
	if (strcmp(whole, expected))
		fail_msg("got:\n%s\nexpected:\n%s", whole, expected);
	o = decode(1, 0, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(o, whole);
	free(o);
	for (size_t cut = 0; cut <= strlen(metadata); cut += 3) {
		o = decode(0, cut, &rc);
		assert_int_equal(rc, 0);
		assert_string_equal(o, whole);
		free(o);
	}
	free(whole);
}

static int parse(const char *text, size_t len, struct ctflive_ctf_diag *d)
{
	struct ctflive_ctf_trace *t;
	int r;

	memset(d, 0, sizeof(*d));
	assert_int_equal(ctflive_ctf_trace_new(&t), 0);
	r = ctflive_ctf_trace_add_metadata(t, text, len, d);
	if (r == 0)
		r = ctflive_ctf_trace_end_metadata(t, d);
	ctflive_ctf_trace_free(t);
	return r;
}

#define PRE RS "{\"type\":\"preamble\",\"version\":2}\n"
#define DSC RS "{\"type\":\"data-stream-class\"}\n"

static void expect_err(const char *text, int err, const char *needle)
{
	struct ctflive_ctf_diag d;
	int r = parse(text, strlen(text), &d);

	if (r != err)
		fail_msg("expected %d, got %d (%s) for %s", err, r, d.msg, text);
	if (needle && !strstr(d.msg, needle))
		fail_msg("message '%s' lacks '%s'", d.msg, needle);
}

static void test_hostile(void **state)
{
	char *deep;
	size_t n = 0;

	(void)state;
	expect_err(RS "{\"type\":\"trace-class\"}\n", -EBADMSG, "not a preamble");
	expect_err(PRE RS "{\"type\":\"nope\"}\n" DSC, -EBADMSG, "unknown fragment type");
	expect_err(PRE RS "[1,2]\n", -EBADMSG, "fragment is not an object");
	expect_err(PRE RS "{\"type\":\n", -EBADMSG, "invalid JSON");
	expect_err(PRE RS "{\"type\":\"preamble\",\"version\":2}\n", -EBADMSG, "duplicate");
	expect_err(RS "{\"type\":\"preamble\",\"version\":3}\n", -ENOTSUP, "version 3");
	expect_err(RS "{\"type\":\"preamble\",\"version\":\"2\"}\n", -EBADMSG, "not an integer");
	expect_err(RS "{\"type\":\"preamble\",\"version\":99999999999999999999999}\n", -EBADMSG,
		   "out of range");
	expect_err(PRE DSC RS
		   "{\"type\":\"event-record-class\",\"payload-field-class\":"
		   "{\"type\":\"structure\",\"member-classes\":[{\"name\":\"a\","
		   "\"field-class\":{\"type\":\"fixed-length-unsigned-integer\","
		   "\"length\":99999999999999999999,\"byte-order\":\"little-endian\"}}]}}\n",
		   -EBADMSG, NULL);
	expect_err(PRE DSC RS "{\"type\":\"event-record-class\",\"payload-field-class\":"
			      "{\"type\":\"structure\",\"member-classes\":[{\"name\":\"a\","
			      "\"field-class\":{\"type\":\"optional\"}}]}}\n",
		   -EBADMSG, "invalid field location");
#define EV1(fc)                                                                \
	PRE DSC RS "{\"type\":\"event-record-class\",\"payload-field-class\":" \
		   "{\"type\":\"structure\",\"member-classes\":[" fc "]}}\n"
	/* optionals: selector of the wrong kind, itself, a later field */
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":\"fixed-length-unsigned-"
		       "integer\",\"length\":8,\"byte-order\":\"little-endian\"}},"
		       "{\"name\":\"o\",\"field-class\":{\"type\":\"optional\","
		       "\"selector-field-location\":{\"path\":[\"a\"]},\"field-class\":"
		       "{\"type\":\"null-terminated-string\"}}}"),
		   -EBADMSG, "is not a boolean");
	expect_err(EV1("{\"name\":\"o\",\"field-class\":{\"type\":\"optional\","
		       "\"selector-field-location\":{\"path\":[\"o\"]},\"field-class\":"
		       "{\"type\":\"null-terminated-string\"}}}"),
		   -EBADMSG, "locates nothing");
	expect_err(EV1("{\"name\":\"o\",\"field-class\":{\"type\":\"optional\","
		       "\"selector-field-location\":{\"path\":[\"b\"]},\"field-class\":"
		       "{\"type\":\"null-terminated-string\"}}},"
		       "{\"name\":\"b\",\"field-class\":{\"type\":\"fixed-length-boolean\","
		       "\"length\":8,\"byte-order\":\"little-endian\"}}"),
		   -EBADMSG, "after the requesting one");
	/* a length that is its own array, parent items above the scope, a
	 * parent item in an absolute location */
	expect_err(EV1("{\"name\":\"d\",\"field-class\":{\"type\":\"dynamic-length-array\","
		       "\"length-field-location\":{\"path\":[\"d\"]},\"element-field-class\":"
		       "{\"type\":\"null-terminated-string\"}}}"),
		   -EBADMSG, "locates nothing");
	expect_err(EV1("{\"name\":\"d\",\"field-class\":{\"type\":\"dynamic-length-blob\","
		       "\"length-field-location\":{\"path\":[null,null,\"x\"]}}}"),
		   -EBADMSG, "above the root of its scope");
	expect_err(EV1("{\"name\":\"d\",\"field-class\":{\"type\":\"dynamic-length-blob\","
		       "\"length-field-location\":{\"origin\":\"event-record-payload\","
		       "\"path\":[null,\"x\"]}}}"),
		   -EBADMSG, "absolute");
	expect_err(EV1("{\"name\":\"d\",\"field-class\":{\"type\":\"dynamic-length-blob\","
		       "\"length-field-location\":{\"path\":[7]}}}"),
		   -EBADMSG, "neither a name nor null");
#define U8 \
	"{\"type\":\"fixed-length-unsigned-integer\",\"length\":8,\"byte-order\":\"little-endian\"}"
#define BLOB(loc) "{\"type\":\"dynamic-length-blob\",\"length-field-location\":" loc "}"
	/* locations babeltrace2 2.1.2 refuses too: into an array or optional
	 * the requesting field is not in, onto a structure, past an integer,
	 * variant options holding different kinds, a later scope */
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":\"static-length-array\","
		       "\"length\":1,\"element-field-class\":{\"type\":\"structure\","
		       "\"member-classes\":[{\"name\":\"n\",\"field-class\":" U8 "}]}}},"
		       "{\"name\":\"d\",\"field-class\":" BLOB("{\"path\":[\"a\",\"n\"]}") "}"),
		   -EBADMSG, "goes into an array");
	expect_err(EV1("{\"name\":\"f\",\"field-class\":{\"type\":\"fixed-length-boolean\","
		       "\"length\":8,\"byte-order\":\"little-endian\"}},"
		       "{\"name\":\"a\",\"field-class\":{\"type\":\"optional\","
		       "\"selector-field-location\":{\"path\":[\"f\"]},\"field-class\":" U8 "}},"
		       "{\"name\":\"d\",\"field-class\":" BLOB("{\"path\":[\"a\"]}") "}"),
		   -EBADMSG, "goes into an optional");
	expect_err(EV1("{\"name\":\"s\",\"field-class\":{\"type\":\"structure\"}},"
		       "{\"name\":\"d\",\"field-class\":" BLOB("{\"path\":[\"s\"]}") "}"),
		   -EBADMSG, "locates a structure");
	expect_err(EV1("{\"name\":\"n\",\"field-class\":" U8 "},"
		       "{\"name\":\"d\",\"field-class\":" BLOB("{\"path\":[\"n\",\"x\"]}") "}"),
		   -EBADMSG, "goes past an integer");
	expect_err(EV1("{\"name\":\"s\",\"field-class\":" U8 "},"
		       "{\"name\":\"v\",\"field-class\":{\"type\":\"variant\","
		       "\"selector-field-location\":{\"path\":[\"s\"]},\"options\":["
		       "{\"selector-field-ranges\":[[0,0]],\"field-class\":" U8 "},"
		       "{\"selector-field-ranges\":[[1,1]],\"field-class\":"
		       "{\"type\":\"fixed-length-signed-integer\",\"length\":8,"
		       "\"byte-order\":\"little-endian\"}}]}},"
		       "{\"name\":\"d\",\"field-class\":{\"type\":\"optional\","
		       "\"selector-field-location\":{\"path\":[\"v\"]},"
		       "\"selector-field-ranges\":[[1,1]],\"field-class\":" U8 "}}"),
		   -EBADMSG, "different kinds");
	expect_err(PRE RS "{\"type\":\"trace-class\",\"packet-header-field-class\":"
			  "{\"type\":\"structure\",\"member-classes\":[{\"name\":\"d\","
			  "\"field-class\":" BLOB(
				  "{\"origin\":\"packet-context\",\"path\":[\"n\"]}") "}]}}\n" DSC,
		   -EBADMSG, "cannot depend on");
#undef BLOB
#undef U8
	/* as babeltrace2 2.1.2: no extension is supported, empty ones are fine */
	expect_err(RS "{\"type\":\"preamble\",\"version\":2,\"extensions\":{\"a\":{}}}\n", -ENOTSUP,
		   "extensions");
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":\"null-terminated-string\","
		       "\"extensions\":{\"x.org\":{\"y\":1}}}}"),
		   -ENOTSUP, "extensions");
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":\"null-terminated-string\","
		       "\"extensions\":[]}}"),
		   -EBADMSG, "'extensions' is not an object");
	/* wrong types and values in the new field classes */
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":\"null-terminated-string\","
		       "\"encoding\":\"utf-7\"}}"),
		   -EBADMSG, "encoding");
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":\"fixed-length-boolean\","
		       "\"length\":65,\"byte-order\":\"little-endian\"}}"),
		   -ENOTSUP, "boolean length");
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":\"fixed-length-bit-array\","
		       "\"length\":8,\"byte-order\":\"little-endian\",\"bit-order\":\"up\"}}"),
		   -EBADMSG, "bit order");
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":"
		       "\"fixed-length-floating-point-number\",\"length\":128,"
		       "\"byte-order\":\"little-endian\"}}"),
		   -ENOTSUP, "floating point length 128");
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":"
		       "\"variable-length-unsigned-integer\",\"mappings\":{\"A\":[[1]]}}}"),
		   -EBADMSG, "invalid range");
	expect_err(EV1("{\"name\":\"a\",\"field-class\":{\"type\":\"static-length-blob\","
		       "\"length\":2,\"media-type\":7}}"),
		   -EBADMSG, "'media-type' is not a string");
#undef EV1
	expect_err(PRE DSC RS "{\"type\":\"event-record-class\",\"payload-field-class\":"
			      "{\"type\":\"structure\",\"member-classes\":[{\"name\":\"a\","
			      "\"field-class\":{\"type\":\"fixed-length-bit-map\",\"length\":8,"
			      "\"byte-order\":\"little-endian\",\"flags\":{\"A\":[[3,9]]}}}]}}\n",
		   -EBADMSG, "outside the bit map");
	expect_err(PRE DSC RS "{\"type\":\"event-record-class\",\"payload-field-class\":"
			      "{\"type\":\"structure\",\"member-classes\":[{\"name\":\"a\","
			      "\"field-class\":{\"type\":\"fixed-length-bit-map\",\"length\":8,"
			      "\"byte-order\":\"little-endian\",\"flags\":{\"A\":[[3,5]]}}},"
			      "{\"name\":\"s\",\"field-class\":{\"type\":\"dynamic-length-string\","
			      "\"length-field-location\":{\"path\":[\"a\"]}}}]}}\n",
		   -EBADMSG, "is a bit map");
	/* an alias naming itself, or one not yet defined */
	expect_err(PRE RS "{\"type\":\"field-class-alias\",\"name\":\"x\",\"field-class\":\"x\"}\n",
		   -EBADMSG, "unknown field class alias 'x'");
	expect_err(PRE RS "{\"type\":\"field-class-alias\",\"name\":\"x\",\"field-class\":"
			  "{\"type\":\"structure\",\"member-classes\":[{\"name\":\"a\","
			  "\"field-class\":\"y\"}]}}\n",
		   -EBADMSG, "unknown field class alias 'y'");
	/* a variant whose selector is the variant itself */
	expect_err(PRE DSC RS "{\"type\":\"event-record-class\",\"payload-field-class\":"
			      "{\"type\":\"structure\",\"member-classes\":[{\"name\":\"v\","
			      "\"field-class\":{\"type\":\"variant\",\"selector-field-location\":"
			      "{\"path\":[\"v\"]},\"options\":[{\"name\":\"a\","
			      "\"selector-field-ranges\":[[0,0]],\"field-class\":"
			      "{\"type\":\"null-terminated-string\"}}]}}]}}\n",
		   -EBADMSG, NULL);
	expect_err(PRE, -EBADMSG, "no trace class");
	/* aliases of aliases: each use expands, 2^40 field classes */
	deep = malloc(200000);
	assert_non_null(deep);
	n = (size_t)sprintf(deep,
			    PRE RS "{\"type\":\"field-class-alias\",\"name\":\"a0\","
				   "\"field-class\":{\"type\":\"null-terminated-string\"}}\n");
	for (int i = 1; i <= 40; i++)
		n += (size_t)sprintf(deep + n,
				     RS
				     "{\"type\":\"field-class-alias\",\"name\":\"a%d\","
				     "\"field-class\":{\"type\":\"structure\",\"member-classes\":["
				     "{\"name\":\"x\",\"field-class\":\"a%d\"},"
				     "{\"name\":\"y\",\"field-class\":\"a%d\"}]}}\n",
				     i, i - 1, i - 1);
	expect_err(deep, -E2BIG, "field classes");
	free(deep);
	/* deep nesting: JSON arrays, then structures */
	deep = malloc(200000);
	assert_non_null(deep);
	n = (size_t)sprintf(deep, PRE RS);
	for (int i = 0; i < 50000; i++)
		deep[n++] = '[';
	deep[n++] = '\n';
	deep[n] = '\0';
	expect_err(deep, -EBADMSG, "invalid JSON");
	n = (size_t)sprintf(deep,
			    PRE DSC RS "{\"type\":\"event-record-class\",\"payload-field-class\":");
	for (int i = 0; i < 30; i++)
		n += (size_t)sprintf(deep + n, "{\"type\":\"structure\",\"member-classes\":"
					       "[{\"name\":\"a\",\"field-class\":");
	n += (size_t)sprintf(deep + n, "\"u\"");
	for (int i = 0; i < 30; i++)
		n += (size_t)sprintf(deep + n, "}]}");
	sprintf(deep + n, "}\n");
	expect_err(deep, -EBADMSG, NULL);
	free(deep);
}

/* Whitespace after a fragment that was applied when it ended a line. */
/* Metadata packet of CTF 1.8 / CTF2-PMETA-1.0 (37-byte header, little
 * endian, version 1.8) holding `text`, 8 bytes of padding, at `out`. */
static size_t md_packet(uint8_t *out, const char *text, size_t len)
{
	uint32_t content = (uint32_t)(37 + len), total = content + 8;
	uint32_t h[3] = { 0, content * 8, total * 8 };
	uint32_t magic = 0x75D11D57u;

	memset(out, 0, total);
	memcpy(out, &magic, 4); /* (the test hosts are little-endian) */
	memcpy(out + 20, h, sizeof(h));
	out[35] = 1;
	out[36] = 8;
	memcpy(out + 37, text, len);
	return total;
}

/* CTF 2 metadata in metadata packets is refused as babeltrace2 2.1.2 refuses
 * it, given whole or byte by byte; TSDL in the same packets still reads. */
static void test_packetized_refused(void **state)
{
	static const char tsdl[] = "/* CTF 1.8 */ trace { major = 1; minor = 8; "
				   "byte_order = le; }; stream { };";
	size_t half = strlen(metadata) / 2, n;
	uint8_t *buf = malloc(strlen(metadata) + strlen(tsdl) + 200);
	struct ctflive_ctf_trace *t;
	struct ctflive_ctf_diag d;
	int r = 0;

	(void)state;
	assert_non_null(buf);
	n = md_packet(buf, metadata, half);
	n += md_packet(buf + n, metadata + half, strlen(metadata) - half);
	assert_int_equal(parse((const char *)buf, n, &d), -ENOTSUP);
	assert_non_null(strstr(d.msg, "in metadata packets"));
	memset(&d, 0, sizeof(d));
	assert_int_equal(ctflive_ctf_trace_new(&t), 0);
	for (size_t i = 0; i < n && r == 0; i++)
		r = ctflive_ctf_trace_add_metadata(t, buf + i, 1, &d);
	if (r == 0)
		r = ctflive_ctf_trace_end_metadata(t, &d);
	assert_int_equal(r, -ENOTSUP);
	ctflive_ctf_trace_free(t);
	n = md_packet(buf, tsdl, strlen(tsdl));
	assert_int_equal(parse((const char *)buf, n, &d), 0);
	free(buf);
}

static void test_trailing_whitespace(void **state)
{
	static const char text[] = RS "{\"type\":\"preamble\",\"version\":2}\n\n  \t" RS
				      "{\"type\":\"data-stream-class\"}\n \r\n" RS
				      "{\"type\":\"event-record-class\",\"payload-field-class\":"
				      "{\"type\":\"structure\"}}\n\n";
	size_t n = strlen(text);
	struct ctflive_ctf_diag d;

	(void)state;
	assert_int_equal(parse(text, n, &d), 0);
	for (size_t step = 1; step < 8; step++) {
		struct ctflive_ctf_trace *t;
		int r = 0;

		assert_int_equal(ctflive_ctf_trace_new(&t), 0);
		for (size_t off = 0; off < n && r == 0; off += step)
			r = ctflive_ctf_trace_add_metadata(t, text + off,
							   n - off < step ? n - off : step, &d);
		if (r == 0)
			r = ctflive_ctf_trace_end_metadata(t, &d);
		if (r != 0)
			fail_msg("step %zu: %d %s", step, r, d.msg);
		ctflive_ctf_trace_free(t);
	}
}

/*
 * Metadata with every CTF 2 field class (the one of fuzz-ctf2-packet.c) and
 * a data stream with events of each: the metadata cut at every byte of its
 * first fragments and of the first event record class, near every fragment
 * boundary and every 23rd byte elsewhere, decodes the stream to the same text.
 */
static void test_every_field_class_cut_anywhere(void **state)
{
	char *md = NULL, *whole, *o;
	size_t n = 0, cap = 0, len;
	uint8_t *pkt = malloc(1 << 16);
	FILE *f = fopen(CTF2_PACKET_SEED, "rb");
	size_t first_erc;
	int rc;

	(void)state;
	assert_non_null(pkt);
	assert_non_null(f);
	len = fread(pkt, 1, 1 << 16, f);
	fclose(f);
	for (size_t i = 0; ctf2_packet_metadata[i]; i++) {
		size_t l = strlen(ctf2_packet_metadata[i]);

		if (n + l + 1 > cap) {
			cap = (n + l + 1) * 2;
			md = realloc(md, cap);
			assert_non_null(md);
		}
		memcpy(md + n, ctf2_packet_metadata[i], l + 1);
		n += l;
	}
	whole = decode_md(md, n, 0, n, pkt, len, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(whole, "optional:opts: { f = true, o = { 513 }"));
	first_erc = (size_t)(strstr(md, "\"event-record-class\"") - md);
	for (size_t cut = 0; cut <= n; cut++) {
		bool near_rs = false;

		for (size_t k = cut > 2 ? cut - 2 : 0; k <= cut + 2 && k < n && !near_rs; k++)
			near_rs = md[k] == 0x1e;
		if (cut > first_erc + 800 && !near_rs && cut % 23)
			continue;
		o = decode_md(md, n, 0, cut, pkt, len, &rc);
		if (rc != 0 || strcmp(o, whole))
			fail_msg("cut at %zu differs (rc %d)", cut, rc);
		free(o);
	}
	free(whole);
	free(md);
	free(pkt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_equals_pieces),
		cmocka_unit_test(test_every_field_class_cut_anywhere),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_trailing_whitespace),
		cmocka_unit_test(test_packetized_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
