/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the relayd control/data codec against messages laid out as
 * relayd-protocol.md §5 and §9.2 show them (bytes of a real 2.13 session).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "relayd-proto.h"

static size_t put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return n;
}

static size_t be32(uint8_t *p, uint32_t v)
{
	cl_store_be32(p, v);
	return 4;
}

static size_t be64(uint8_t *p, uint64_t v)
{
	cl_store_be64(p, v);
	return 8;
}

/* C#2 of the live-uid capture: CREATE_SESSION 2.11 for rrlive1 on host vm. */
static size_t make_create_session(uint8_t *b, uint32_t name_len, const char *names, size_t n)
{
	size_t o = 0;

	o += be32(b + o, name_len);
	o += be32(b + o, 3);
	o += be32(b + o, 1);
	o += be32(b + o, 1000000);
	b[o++] = 0;
	b[o++] = 0;
	memset(b + o, 0x2d, 16);
	o += 16;
	o += be64(b + o, 2);
	o += be64(b + o, 0x6b0c036a);
	b[o++] = 0;
	o += be64(b + o, 0);
	o += put(b + o, names, n);
	return o;
}

static void create_session_2_11(void **state)
{
	uint8_t b[128];
	struct cl_relayd_create_session s;
	size_t n = make_create_session(b, 8, "rrlive1\0vm\0", 12);

	(void)state;
	assert_int_equal(n, 71);
	assert_int_equal(cl_relayd_decode_create_session(b, n, 13, &s), 0);
	assert_string_equal(s.session_name, "rrlive1");
	assert_string_equal(s.hostname, "vm");
	assert_string_equal(s.base_path, "");
	assert_int_equal(s.live_timer, 1000000);
	assert_int_equal(s.sessiond_session_id, 2);
	assert_int_equal(s.creation_time, 0x6b0c036a);
	assert_false(s.has_current_chunk_id);

	/* Every truncation fails without reading past the end. */
	for (size_t cut = 0; cut < n; cut++)
		assert_int_not_equal(cl_relayd_decode_create_session(b, cut, 13, &s), 0);
}

/* The 2.15 layout: the 2.11 fixed part, u32 trace_format, then the names. */
static size_t make_create_session_2_15(uint8_t *b, uint32_t format)
{
	uint8_t tmp[128];
	size_t n = make_create_session(tmp, 8, "rrlive1\0vm\0", 12);
	size_t fixed = CL_RELAYD_CREATE_SESSION_2_11_SIZE;

	memcpy(b, tmp, fixed);
	be32(b + fixed, format);
	memcpy(b + fixed + 4, tmp + fixed, n - fixed);
	return n + 4;
}

static void create_session_2_15(void **state)
{
	uint8_t b[128];
	struct cl_relayd_create_session s;
	size_t n = make_create_session_2_15(b, CL_RELAYD_TRACE_FORMAT_CTF_2);

	(void)state;
	assert_int_equal(n, CL_RELAYD_CREATE_SESSION_2_15_SIZE + 12);
	assert_int_equal(cl_relayd_decode_create_session(b, n, 15, &s), 0);
	assert_string_equal(s.session_name, "rrlive1");
	assert_string_equal(s.hostname, "vm");
	assert_int_equal(s.live_timer, 1000000);
	assert_int_equal(s.trace_format, CL_RELAYD_TRACE_FORMAT_CTF_2);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_not_equal(cl_relayd_decode_create_session(b, cut, 15, &s), 0);

	n = make_create_session_2_15(b, CL_RELAYD_TRACE_FORMAT_CTF_1_8);
	assert_int_equal(cl_relayd_decode_create_session(b, n, 16, &s), 0);
	assert_int_equal(s.trace_format, CL_RELAYD_TRACE_FORMAT_CTF_1_8);
	/* 0 (LTTNG_TRACE_FORMAT_DEFAULT) and unknown formats are refused. */
	for (uint32_t f = 0; f < 5; f++) {
		if (f == CL_RELAYD_TRACE_FORMAT_CTF_1_8 || f == CL_RELAYD_TRACE_FORMAT_CTF_2)
			continue;
		n = make_create_session_2_15(b, f);
		assert_int_equal(cl_relayd_decode_create_session(b, n, 15, &s), -EPROTO);
	}
	/* Read with the 2.11 layout (minor 14), the format word is taken for
	 * the start of the names, which no longer parse. */
	n = make_create_session_2_15(b, CL_RELAYD_TRACE_FORMAT_CTF_2);
	assert_int_not_equal(cl_relayd_decode_create_session(b, n, 14, &s), 0);
	/* Layouts without a format are CTF 1.8. */
	n = make_create_session(b, 8, "rrlive1\0vm\0", 12);
	assert_int_equal(cl_relayd_decode_create_session(b, n, 14, &s), 0);
	assert_int_equal(s.trace_format, CL_RELAYD_TRACE_FORMAT_CTF_1_8);
	assert_int_equal(cl_relayd_decode_create_session(b, 0, 2, &s), 0);
	assert_int_equal(s.trace_format, CL_RELAYD_TRACE_FORMAT_CTF_1_8);
}

static void create_session_bad_strings(void **state)
{
	uint8_t b[128];
	struct cl_relayd_create_session s;
	size_t n;

	(void)state;
	/* Name not NUL-terminated inside its announced length. */
	n = make_create_session(b, 8, "rrlive1Xvm\0", 12);
	assert_int_equal(cl_relayd_decode_create_session(b, n, 13, &s), -EPROTO);
	/* Name length 0 and > 255 are refused. */
	n = make_create_session(b, 0, "vm\0", 4);
	assert_int_equal(cl_relayd_decode_create_session(b, n, 13, &s), -EPROTO);
	n = make_create_session(b, 1000, "rrlive1\0vm\0", 12);
	assert_int_equal(cl_relayd_decode_create_session(b, n, 13, &s), -EPROTO);
}

static void add_stream_layouts(void **state)
{
	uint8_t b[CL_RELAYD_ADD_STREAM_2_2_SIZE];
	struct cl_relayd_add_stream a;
	size_t o = 0;

	(void)state;
	o += be32(b + o, 11);
	o += be32(b + o, 17);
	o += be64(b + o, 8192);
	o += be64(b + o, 3);
	o += be64(b + o, 0);
	o += put(b + o, "channel0_0\0ust/uid/0/64-bit\0", 28);
	assert_int_equal(cl_relayd_decode_add_stream(b, o, 13, &a), 0);
	assert_string_equal(a.channel_name, "channel0_0");
	assert_string_equal(a.pathname, "ust/uid/0/64-bit");
	assert_int_equal(a.tracefile_size, 8192);
	assert_int_equal(a.tracefile_count, 3);
	/* Path length over the 255-byte limit of 2.11. */
	cl_store_be32(b + 4, 300);
	assert_int_equal(cl_relayd_decode_add_stream(b, o, 13, &a), -EPROTO);

	/* 2.2 layout: fixed arrays, then the tracefile limits. */
	memset(b, 0, sizeof(b));
	memcpy(b, "metadata", 8);
	memcpy(b + 264, "/vm/s-20261129-105252//ust/uid/0/64-bit", 39);
	cl_store_be64(b + 4360, 0);
	cl_store_be64(b + 4368, 0);
	assert_int_equal(cl_relayd_decode_add_stream(b, sizeof(b), 7, &a), 0);
	assert_string_equal(a.channel_name, "metadata");
	assert_string_equal(a.pathname, "/vm/s-20261129-105252//ust/uid/0/64-bit");
	/* A channel name filling its whole array has no NUL: refused. */
	memset(b, 'a', 264);
	assert_int_equal(cl_relayd_decode_add_stream(b, sizeof(b), 7, &a), -EPROTO);
	assert_int_equal(cl_relayd_decode_add_stream(b, 100, 7, &a), -EMSGSIZE);
}

static void send_index_sizes(void **state)
{
	uint64_t v[10] = { 2, 0, 131072, 102120, 0x4b7c9b1245, 0x4bb83b39be, 0, 0, 1, 0 };
	uint8_t b[80];
	struct cl_relayd_index ix;

	(void)state;
	for (int i = 0; i < 10; i++)
		cl_store_be64(b + 8 * i, v[i]);
	assert_int_equal(cl_relayd_decode_index(b, 80, 13, &ix), 0);
	assert_int_equal(ix.relay_stream_id, 2);
	assert_int_equal(ix.packet_size, 131072);
	assert_int_equal(ix.content_size, 102120);
	assert_int_equal(ix.stream_instance_id, 1);
	assert_int_equal(ix.packet_seq_num, 0);
	/* 64-byte layout of minors below 8: no instance id or sequence number. */
	assert_int_equal(cl_relayd_decode_index(b, 64, 7, &ix), 0);
	assert_true(ix.packet_seq_num == UINT64_MAX);
	assert_int_equal(cl_relayd_decode_index(b, 64, 13, &ix), -EMSGSIZE);
}

static void rotate_streams_layouts(void **state)
{
	/* amd64 sender: 20-byte header with uninitialised padding (§5.15). */
	static const uint8_t amd64[] = { 0, 0, 0, 2, 1, 0, 0, 0, 0xdf, 0xc2, 4, 0x2e, 0,
					 0, 0, 0, 0, 0, 0, 1, 0, 0,    0,    0, 0,    0,
					 0, 4, 0, 0, 0, 0, 0, 0, 0,    1,    0, 0,    0,
					 0, 0, 0, 0, 5, 0, 0, 0, 0,    0,    0, 0,    1 };
	struct cl_relayd_rotate_streams rs;
	uint64_t id, seq;
	uint8_t packed[13 + 16];

	(void)state;
	assert_int_equal(sizeof(amd64), 52);
	assert_int_equal(cl_relayd_decode_rotate_streams(amd64, sizeof(amd64), 16, &rs), 0);
	assert_int_equal(rs.stream_count, 2);
	assert_true(rs.has_new_chunk_id);
	assert_int_equal(rs.new_chunk_id, 1);
	cl_relayd_rotate_position(&rs, 1, &id, &seq);
	assert_int_equal(id, 5);
	assert_int_equal(seq, 1);
	assert_int_equal(cl_relayd_decode_rotate_streams(amd64, sizeof(amd64), 1, &rs), -E2BIG);
	assert_int_equal(cl_relayd_decode_rotate_streams(amd64, 51, 16, &rs), -EPROTO);

	memset(packed, 0, sizeof(packed));
	cl_store_be32(packed, 1);
	packed[4] = 1;
	cl_store_be64(packed + 5, 7);
	cl_store_be64(packed + 13, 6);
	assert_int_equal(cl_relayd_decode_rotate_streams(packed, sizeof(packed), 16, &rs), 0);
	assert_int_equal(rs.new_chunk_id, 7);
	cl_relayd_rotate_position(&rs, 0, &id, &seq);
	assert_int_equal(id, 6);
}

static void chunk_names(void **state)
{
	uint8_t b[64];
	struct cl_relayd_create_chunk c;
	size_t o = 0;

	(void)state;
	o += be64(b + o, 0);
	o += be64(b + o, 1795949491);
	o += be32(b + o, 8);
	o += put(b + o, "../evil", 8);
	assert_int_equal(cl_relayd_decode_create_chunk(b, o, &c), -EPROTO);
	memcpy(b + 20, "a/b/c\0\0\0", 8);
	assert_int_equal(cl_relayd_decode_create_chunk(b, o, &c), -EPROTO);
	memcpy(b + 20, "snap-0\0\0", 8);
	cl_store_be32(b + 16, 7);
	assert_int_equal(cl_relayd_decode_create_chunk(b, o - 1, &c), 0);
	assert_string_equal(c.override_name, "snap-0");
}

static void replies(void **state)
{
	uint8_t b[64];

	(void)state;
	/* C#2 reply: id 1, OK, 27-byte path with its NUL. */
	assert_int_equal(cl_relayd_encode_create_session_reply(b, sizeof(b), 1, CL_LTTNG_OK,
							       "vm/rrlive1-20261129-105018"),
			 16 + 27);
	assert_int_equal(cl_load_be32(b + 8), 10);
	assert_int_equal(cl_load_be32(b + 12), 27);
	assert_memory_equal(b + 16, "vm/rrlive1-20261129-105018", 27);
	/* Error replies carry no path. */
	assert_int_equal(cl_relayd_encode_close_chunk_reply(b, sizeof(b), 152, "x"), 8);
	assert_int_equal(cl_load_be32(b + 4), 0);
	assert_int_equal(cl_relayd_encode_create_session_reply(b, 20, 1, 10, "a-long-path-name"),
			 -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_session_2_11),
		cmocka_unit_test(create_session_2_15),
		cmocka_unit_test(create_session_bad_strings),
		cmocka_unit_test(add_stream_layouts),
		cmocka_unit_test(send_index_sizes),
		cmocka_unit_test(rotate_streams_layouts),
		cmocka_unit_test(chunk_names),
		cmocka_unit_test(replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
