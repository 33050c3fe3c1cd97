/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the live viewer protocol codec (src/proto/live.c).
 *
 * Byte vectors come from the babeltrace2 2.0.4 <-> lttng-relayd 2.13.9
 * captures described in live-protocol.md §5 (cap v1, cap v2, cap v3). When
 * tshark and the shared fixtures are available, whole captured connections
 * are also replayed through every decoder and re-encoded byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "live-proto.h"

/* Parses hex (spaces allowed) into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*hex) {
		unsigned int v;

		if (*hex == ' ') {
			hex++;
			continue;
		}
		assert_true(sscanf(hex, "%2x", &v) == 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

/* ---- Tables and constants ---- */

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_CONNECT), 20);
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_LIST_SESSIONS), 0);
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_ATTACH_SESSION), 20);
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_GET_NEXT_INDEX), 8);
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_GET_PACKET), 20);
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_GET_METADATA), 8);
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_GET_NEW_STREAMS), 8);
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_CREATE_SESSION), 0);
	assert_int_equal(cl_live_request_payload_size(CL_LIVE_CMD_DETACH_SESSION), 8);
	assert_int_equal(cl_live_request_payload_size(0), -EPROTO);
	assert_int_equal(cl_live_request_payload_size(10), -EPROTO);
	assert_int_equal(cl_live_request_payload_size(99), -EPROTO);
	assert_int_equal(cl_live_request_payload_size(UINT32_MAX), -EPROTO);

	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_CONNECT), 20);
	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_LIST_SESSIONS), 4);
	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_ATTACH_SESSION), 8);
	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_GET_NEXT_INDEX), 64);
	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_GET_PACKET), 12);
	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_GET_METADATA), 12);
	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_GET_NEW_STREAMS), 8);
	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_CREATE_SESSION), 4);
	assert_int_equal(cl_live_reply_fixed_size(CL_LIVE_CMD_DETACH_SESSION), 4);
	assert_int_equal(cl_live_reply_fixed_size(11), -EPROTO);

	assert_string_equal(cl_live_cmd_name(CL_LIVE_CMD_GET_NEXT_INDEX), "GET_NEXT_INDEX");
	assert_string_equal(cl_live_cmd_name(42), "UNKNOWN");
	assert_string_equal(cl_live_status_name(CL_LIVE_CMD_GET_NEXT_INDEX, 5), "INACTIVE");
	assert_string_equal(cl_live_status_name(CL_LIVE_CMD_ATTACH_SESSION, 6), "NO_SESSION");
	assert_string_equal(cl_live_status_name(CL_LIVE_CMD_GET_METADATA, 2), "NO_NEW");
	assert_string_equal(cl_live_status_name(CL_LIVE_CMD_DETACH_SESSION, 0), "UNKNOWN");
	assert_string_equal(cl_live_status_name(CL_LIVE_CMD_DETACH_SESSION, 4), "UNKNOWN");
	assert_string_equal(cl_live_status_name(CL_LIVE_CMD_CONNECT, 1), "UNKNOWN");
}

/* ---- Real bytes: cap v1 (live-protocol.md §5.2, §5.3) ---- */

static void test_connect_capture(void **state)
{
	uint8_t b[64], out[64];
	struct cl_live_cmd_hdr h;
	struct cl_live_connect c;
	struct cl_rbuf rb;
	struct cl_wbuf wb = cl_wbuf_make(out, sizeof(out));
	size_t n;

	(void)state;
	/* Request: one 36-byte segment, header + payload. */
	n = unhex("0000000000000014 00000001 00000000"
		  "ffffffffffffffff 00000002 00000004 00000001",
		  b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_cmd_hdr_decode(&rb, &h), 0);
	assert_int_equal(h.data_size, 20);
	assert_int_equal(h.cmd, CL_LIVE_CMD_CONNECT);
	assert_int_equal(h.cmd_version, 0);
	assert_int_equal(cl_live_connect_decode(&rb, &c), 0);
	assert_true(c.viewer_session_id == UINT64_MAX);
	assert_int_equal(c.major, 2);
	assert_int_equal(c.minor, 4);
	assert_int_equal(c.type, CL_LIVE_CONN_COMMAND);
	assert_int_equal(rb.pos, 36);

	/* Our encoding of the same request is identical. */
	h = cl_live_cmd_hdr_make(CL_LIVE_CMD_CONNECT);
	assert_int_equal(cl_live_cmd_hdr_encode(&wb, &h), 0);
	assert_int_equal(cl_live_connect_encode(&wb, &c), 0);
	assert_int_equal(wb.pos, 36);
	assert_memory_equal(out, b, 36);

	/* Reply: id 1, 2.13, type 0. */
	n = unhex("0000000000000001 00000002 0000000d 00000000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_connect_decode(&rb, &c), 0);
	assert_int_equal(c.viewer_session_id, 1);
	assert_int_equal(c.minor, 13);
	assert_int_equal(c.type, 0);
	assert_int_equal(cl_live_connect_check_reply(&c), 0);
	c.major = 3;
	assert_int_equal(cl_live_connect_check_reply(&c), -ENOTSUP);
}

static void test_list_capture(void **state)
{
	uint8_t b[4 + CL_LIVE_SESSION_SIZE], out[CL_LIVE_SESSION_SIZE];
	struct cl_live_session s;
	struct cl_wbuf wb = cl_wbuf_make(out, sizeof(out));
	struct cl_rbuf rb;
	uint32_t count;

	(void)state;
	/* LIST reply of cap v1 #3: count 1, then {1, 1e6 µs, 0, 0, "vm", "lc1"}. */
	memset(b, 0, sizeof(b));
	unhex("00000001 0000000000000001 000f4240 00000000 00000000", b, sizeof(b));
	memcpy(b + 4 + 20, "vm", 2);
	memcpy(b + 4 + 84, "lc1", 3);
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_list_reply_decode(&rb, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(cl_live_session_decode(&rb, &s), 0);
	assert_int_equal(rb.pos, sizeof(b));
	assert_int_equal(s.id, 1);
	assert_int_equal(s.live_timer, 1000000);
	assert_int_equal(s.clients, 0);
	assert_int_equal(s.streams, 0);
	assert_string_equal(s.hostname, "vm");
	assert_string_equal(s.session_name, "lc1");
	assert_int_equal(cl_live_session_encode(&wb, &s), 0);
	assert_memory_equal(out, b + 4, CL_LIVE_SESSION_SIZE);

	/* Garbage after the NUL (2.13.9 leaves realloc'ed bytes) is dropped. */
	b[4 + 20 + 10] = 'X';
	b[4 + 84 + 200] = 'Y';
	rb = cl_rbuf_make(b + 4, CL_LIVE_SESSION_SIZE);
	assert_int_equal(cl_live_session_decode(&rb, &s), 0);
	assert_string_equal(s.hostname, "vm");
	assert_int_equal(s.hostname[10], 0);
	assert_int_equal(s.session_name[200], 0);

	/* A hostname filling its 64 bytes without NUL is malformed. */
	memset(b + 4 + 20, 'h', CL_LIVE_HOST_NAME_MAX);
	rb = cl_rbuf_make(b + 4, CL_LIVE_SESSION_SIZE);
	assert_int_equal(cl_live_session_decode(&rb, &s), -EPROTO);
	assert_int_equal(rb.pos, 0);
	/* Same for the session name. */
	memcpy(b + 4 + 20, "vm\0", 3);
	memset(b + 4 + 84, 's', CL_LIVE_NAME_MAX);
	rb = cl_rbuf_make(b + 4, CL_LIVE_SESSION_SIZE);
	assert_int_equal(cl_live_session_decode(&rb, &s), -EPROTO);

	/* Counts are bounded. */
	unhex("00010001", b, sizeof(b));
	rb = cl_rbuf_make(b, 4);
	assert_int_equal(cl_live_list_reply_decode(&rb, &count), -E2BIG);
	assert_int_equal(rb.pos, 0);
	unhex("00010000", b, sizeof(b));
	rb = cl_rbuf_make(b, 4);
	assert_int_equal(cl_live_list_reply_decode(&rb, &count), 0);
	assert_int_equal(count, CL_LIVE_MAX_SESSIONS);
}

/* 2.15 session records (lttng_viewer_session_2_15): lengths, no NUL. */
static void test_session_2_15(void **state)
{
	uint8_t b[128], out[128];
	struct cl_live_session s, s2;
	struct cl_rbuf rb;
	struct cl_wbuf wb = cl_wbuf_make(out, sizeof(out));

	(void)state;
	/* {7, 1e6 µs, 2 clients, 4 streams, "vm", "s2", CTF 2} as lttng-relayd
	 * 2.16 lays it out. */
	memset(b, 0, sizeof(b));
	unhex("0000000000000007 000f4240 00000002 00000004 00000002 00000002 00000001", b,
	      sizeof(b));
	memcpy(b + 32, "vms2", 4);
	rb = cl_rbuf_make(b, 36);
	assert_int_equal(cl_live_session_decode_2_15(&rb, &s), 0);
	assert_int_equal(rb.pos, 36);
	assert_int_equal(s.id, 7);
	assert_int_equal(s.live_timer, 1000000);
	assert_int_equal(s.clients, 2);
	assert_int_equal(s.streams, 4);
	assert_string_equal(s.hostname, "vm");
	assert_string_equal(s.session_name, "s2");
	assert_int_equal(s.trace_format, CL_LIVE_TRACE_FORMAT_CTF_2);
	assert_int_equal(cl_live_session_size_2_15(&s), 36);
	assert_int_equal(cl_live_session_encode_2_15(&wb, &s), 0);
	assert_int_equal(wb.pos, 36);
	assert_memory_equal(out, b, 36);
	/* Two records back to back. */
	memcpy(b + 36, b, 36);
	rb = cl_rbuf_make(b, 72);
	assert_int_equal(cl_live_session_decode_2_15(&rb, &s2), 0);
	assert_int_equal(cl_live_session_decode_2_15(&rb, &s2), 0);
	assert_int_equal(rb.pos, 72);

	/* Every truncation: -EMSGSIZE, cursor unchanged. */
	for (size_t cut = 0; cut < 36; cut++) {
		rb = cl_rbuf_make(b, cut);
		assert_int_equal(cl_live_session_decode_2_15(&rb, &s2), -EMSGSIZE);
		assert_int_equal(rb.pos, 0);
	}
	/* Names too long for lttng-relayd (host 64, session 255) or holding a
	 * NUL are malformed; huge lengths never read past the buffer. */
	cl_store_be32(b + 20, CL_LIVE_HOST_NAME_MAX);
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_session_decode_2_15(&rb, &s2), -EPROTO);
	assert_int_equal(rb.pos, 0);
	cl_store_be32(b + 20, 2);
	cl_store_be32(b + 24, UINT32_MAX);
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_session_decode_2_15(&rb, &s2), -EPROTO);
	cl_store_be32(b + 24, 100);
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_session_decode_2_15(&rb, &s2), -EMSGSIZE);
	cl_store_be32(b + 24, 2);
	b[33] = 0;
	rb = cl_rbuf_make(b, 36);
	assert_int_equal(cl_live_session_decode_2_15(&rb, &s2), -EPROTO);

	/* Longest names round-trip; the 2.4 decoder says CTF 1.8. */
	memset(&s, 0, sizeof(s));
	memset(s.hostname, 'h', sizeof(s.hostname) - 1);
	memset(s.session_name, 'n', sizeof(s.session_name) - 1);
	s.trace_format = CL_LIVE_TRACE_FORMAT_CTF_1_8;
	{
		uint8_t big[512];
		struct cl_wbuf w = cl_wbuf_make(big, sizeof(big));

		assert_int_equal(cl_live_session_encode_2_15(&w, &s), 0);
		assert_int_equal(w.pos, 32 + 63 + 254);
		rb = cl_rbuf_make(big, w.pos);
		assert_int_equal(cl_live_session_decode_2_15(&rb, &s2), 0);
		assert_memory_equal(&s.hostname, &s2.hostname, sizeof(s.hostname));
		assert_string_equal(s.session_name, s2.session_name);
		w = cl_wbuf_make(big, 40);
		assert_int_equal(cl_live_session_encode_2_15(&w, &s), -EMSGSIZE);
		w = cl_wbuf_make(big, sizeof(big));
		s.trace_format = CL_LIVE_TRACE_FORMAT_CTF_2;
		assert_int_equal(cl_live_session_encode(&w, &s), 0);
		rb = cl_rbuf_make(big, w.pos);
		assert_int_equal(cl_live_session_decode(&rb, &s2), 0);
		assert_int_equal(s2.trace_format, CL_LIVE_TRACE_FORMAT_CTF_1_8);
	}
}

static void test_attach_capture(void **state)
{
	uint8_t b[64], out[64];
	struct cl_live_cmd_hdr h;
	struct cl_live_attach_request a;
	struct cl_live_streams_reply r;
	struct cl_rbuf rb;
	struct cl_wbuf wb = cl_wbuf_make(out, sizeof(out));
	size_t n;

	(void)state;
	n = unhex("0000000000000014 00000003 00000000"
		  "0000000000000001 0000000000000000 00000002",
		  b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_cmd_hdr_decode(&rb, &h), 0);
	assert_int_equal(h.cmd, CL_LIVE_CMD_ATTACH_SESSION);
	assert_int_equal(cl_live_attach_request_decode(&rb, &a), 0);
	assert_int_equal(a.session_id, 1);
	assert_int_equal(a.offset, 0);
	assert_int_equal(a.seek, CL_LIVE_SEEK_LAST);
	h = cl_live_cmd_hdr_make(CL_LIVE_CMD_ATTACH_SESSION);
	assert_int_equal(cl_live_cmd_hdr_encode(&wb, &h), 0);
	assert_int_equal(cl_live_attach_request_encode(&wb, &a), 0);
	assert_memory_equal(out, b, n);

	/* An invalid seek reaches the server (it must answer SEEK_ERR). */
	b[n - 1] = 3;
	rb = cl_rbuf_make(b + 16, 20);
	assert_int_equal(cl_live_attach_request_decode(&rb, &a), 0);
	assert_int_equal(a.seek, 3);

	/* Replies: OK 0 streams (cap v1 #4), the cap v3 error statuses. */
	static const struct {
		const char *hex;
		int r;
		uint32_t status;
	} replies[] = {
		{ "00000001 00000000", 0, CL_LIVE_ATTACH_OK },
		{ "00000001 00000003", 0, CL_LIVE_ATTACH_OK },
		{ "00000002 00000000", 0, CL_LIVE_ATTACH_ALREADY },    /* T7b */
		{ "00000003 00000000", 0, CL_LIVE_ATTACH_UNK },        /* T6 */
		{ "00000004 00000000", 0, CL_LIVE_ATTACH_NOT_LIVE },   /* T19 */
		{ "00000005 00000000", 0, CL_LIVE_ATTACH_SEEK_ERR },   /* T7 */
		{ "00000006 00000000", 0, CL_LIVE_ATTACH_NO_SESSION }, /* T5 */
		{ "00000000 00000000", -EPROTO, 0 },
		{ "00000007 00000000", -EPROTO, 0 },
		{ "00000003 00000001", -EPROTO, 0 },
		{ "00000001 00010001", -E2BIG, 0 },
		{ "00000001 ffffffff", -E2BIG, 0 },
	};
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		n = unhex(replies[i].hex, b, sizeof(b));
		rb = cl_rbuf_make(b, n);
		r.status = 0xdead;
		assert_int_equal(cl_live_attach_reply_decode(&rb, &r), replies[i].r);
		if (replies[i].r == 0) {
			assert_int_equal(r.status, replies[i].status);
			assert_int_equal(rb.pos, 8);
			wb = cl_wbuf_make(out, sizeof(out));
			assert_int_equal(cl_live_attach_reply_encode(&wb, &r), 0);
			assert_memory_equal(out, b, 8);
		} else {
			assert_int_equal(r.status, 0xdead);
			assert_int_equal(rb.pos, 0);
		}
	}
	wb = cl_wbuf_make(out, sizeof(out));
	r = (struct cl_live_streams_reply){ .status = CL_LIVE_ATTACH_UNK, .streams_count = 2 };
	assert_int_equal(cl_live_attach_reply_encode(&wb, &r), -EINVAL);
	assert_int_equal(wb.pos, 0);
}

static void test_new_streams(void **state)
{
	uint8_t b[16];
	struct cl_live_streams_reply r;
	struct cl_rbuf rb;
	uint64_t id;
	size_t n;

	(void)state;
	n = unhex("0000000000000001", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_new_streams_request_decode(&rb, &id), 0);
	assert_int_equal(id, 1);

	n = unhex("00000004 00000000", b, sizeof(b)); /* HUP after destroy */
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_new_streams_reply_decode(&rb, &r), 0);
	assert_int_equal(r.status, CL_LIVE_NEW_STREAMS_HUP);
	n = unhex("00000005 00000000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_new_streams_reply_decode(&rb, &r), -EPROTO);
	n = unhex("00000002 00000001", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_new_streams_reply_decode(&rb, &r), -EPROTO);
}

/* Builds the first stream record of cap v1 #24 into b (4371 bytes). */
static void make_stream_record(uint8_t *b)
{
	memset(b, 0, CL_LIVE_STREAM_SIZE);
	unhex("0000000000000002 0000000000000001 00000000", b, CL_LIVE_STREAM_SIZE);
	memcpy(b + 20, "ust/uid/0/64-bit", 16);
	memcpy(b + 20 + CL_LIVE_PATH_MAX, "channel0_1", 10);
}

static void test_stream_record(void **state)
{
	static uint8_t b[CL_LIVE_STREAM_SIZE], out[CL_LIVE_STREAM_SIZE + 1];
	static struct cl_live_stream s;
	struct cl_wbuf wb;
	struct cl_rbuf rb;

	(void)state;
	make_stream_record(b);
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_stream_decode(&rb, &s), 0);
	assert_int_equal(rb.pos, CL_LIVE_STREAM_SIZE);
	assert_int_equal(s.id, 2);
	assert_int_equal(s.ctf_trace_id, 1);
	assert_false(s.metadata_flag);
	assert_string_equal(s.path_name, "ust/uid/0/64-bit");
	assert_string_equal(s.channel_name, "channel0_1");
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_live_stream_encode(&wb, &s), 0);
	assert_int_equal(wb.pos, CL_LIVE_STREAM_SIZE);
	assert_memory_equal(out, b, CL_LIVE_STREAM_SIZE);

	/* Too small a buffer: nothing written. */
	wb = cl_wbuf_make(out, CL_LIVE_STREAM_SIZE - 1);
	assert_int_equal(cl_live_stream_encode(&wb, &s), -EMSGSIZE);
	assert_int_equal(wb.pos, 0);

	/* Metadata stream. */
	b[19] = 1;
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_stream_decode(&rb, &s), 0);
	assert_true(s.metadata_flag);
	/* Flag 2 is malformed. */
	b[19] = 2;
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_stream_decode(&rb, &s), -EPROTO);
	assert_int_equal(rb.pos, 0);
	b[19] = 0;
	/* Path without NUL. */
	memset(b + 20, 'p', CL_LIVE_PATH_MAX);
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_stream_decode(&rb, &s), -EPROTO);
	/* Channel name without NUL. */
	make_stream_record(b);
	memset(b + 20 + CL_LIVE_PATH_MAX, 'c', CL_LIVE_NAME_MAX);
	rb = cl_rbuf_make(b, sizeof(b));
	assert_int_equal(cl_live_stream_decode(&rb, &s), -EPROTO);

	/* Encoding truncates long strings and zero-fills. */
	memset(s.channel_name, 'c', sizeof(s.channel_name)); /* no NUL at all */
	memset(out, 0xaa, sizeof(out));
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_live_stream_encode(&wb, &s), 0);
	assert_int_equal(out[20 + CL_LIVE_PATH_MAX + CL_LIVE_NAME_MAX - 1], 0);
	assert_int_equal(out[20 + 16], 0);
	assert_int_equal(out[20 + CL_LIVE_PATH_MAX - 1], 0);
}

static void test_index_capture(void **state)
{
	uint8_t b[64], out[64];
	struct cl_live_index x;
	struct cl_rbuf rb;
	struct cl_wbuf wb;
	uint64_t id;
	size_t n;

	(void)state;
	n = unhex("0000000000000002", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_get_next_index_decode(&rb, &id), 0);
	assert_int_equal(id, 2);

	/* cap v1 #37: OK + NEW_STREAM, 163840 bits, content 133920. */
	n = unhex("0000000000000000 0000000000028000 0000000000020b20"
		  "00000056a2b404c3 00000056de66e893 0000000000000000"
		  "0000000000000000 00000001 00000002",
		  b, sizeof(b));
	assert_int_equal(n, CL_LIVE_INDEX_SIZE);
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_index_decode(&rb, &x), 0);
	assert_int_equal(x.status, CL_LIVE_INDEX_OK);
	assert_int_equal(x.flags, CL_LIVE_FLAG_NEW_STREAM);
	assert_int_equal(x.offset, 0);
	assert_int_equal(x.packet_size, 163840);
	assert_int_equal(x.content_size, 133920);
	assert_int_equal(x.timestamp_begin, 372096894147ULL);
	assert_int_equal(x.timestamp_end, 373098473619ULL);
	assert_int_equal(x.stream_id, 0);
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_live_index_encode(&wb, &x), 0);
	assert_memory_equal(out, b, 64);

	/* cap v1 #54: INACTIVE with the beacon time only. */
	n = unhex("0000000000000000 0000000000000000 0000000000000000"
		  "0000000000000000 0000005719eb4954 0000000000000000"
		  "0000000000000000 00000005 00000000",
		  b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_index_decode(&rb, &x), 0);
	assert_int_equal(x.status, CL_LIVE_INDEX_INACTIVE);
	assert_int_equal(x.timestamp_end, 374097004884ULL);

	/* cap v3 :36308: HUP with NEW_METADATA (metadata never fetched). */
	memset(b, 0, 64);
	b[59] = CL_LIVE_INDEX_HUP;
	b[63] = CL_LIVE_FLAG_NEW_METADATA;
	rb = cl_rbuf_make(b, 64);
	assert_int_equal(cl_live_index_decode(&rb, &x), 0);
	assert_int_equal(x.status, CL_LIVE_INDEX_HUP);
	assert_int_equal(x.flags, CL_LIVE_FLAG_NEW_METADATA);

	/* RETRY, ERR, EOF decode; 0 and 7 do not. */
	for (uint8_t st = 0; st < 9; st++) {
		b[59] = st;
		rb = cl_rbuf_make(b, 64);
		assert_int_equal(cl_live_index_decode(&rb, &x), st >= 1 && st <= 6 ? 0 : -EPROTO);
	}

	/* OK index sanity: content > packet, packet not whole bytes, overflow. */
	memset(b, 0, 64);
	b[59] = CL_LIVE_INDEX_OK;
	b[15] = 0x10; /* packet_size 16 bits */
	b[23] = 0x20; /* content_size 32 bits */
	rb = cl_rbuf_make(b, 64);
	assert_int_equal(cl_live_index_decode(&rb, &x), -EPROTO);
	assert_int_equal(rb.pos, 0);
	b[23] = 0x08;
	b[15] = 0x0c; /* 12 bits */
	rb = cl_rbuf_make(b, 64);
	assert_int_equal(cl_live_index_decode(&rb, &x), -EPROTO);
	b[15] = 0x10;
	memset(b, 0xff, 8); /* offset UINT64_MAX + 2 bytes */
	rb = cl_rbuf_make(b, 64);
	assert_int_equal(cl_live_index_decode(&rb, &x), -EPROTO);
	/* The same fields are irrelevant on INACTIVE. */
	b[59] = CL_LIVE_INDEX_INACTIVE;
	rb = cl_rbuf_make(b, 64);
	assert_int_equal(cl_live_index_decode(&rb, &x), 0);
}

static void test_packet(void **state)
{
	uint8_t b[64], out[64];
	struct cl_live_get_packet g;
	struct cl_live_packet_reply p;
	struct cl_rbuf rb;
	struct cl_wbuf wb;
	size_t n;

	(void)state;
	/* cap v1 #39: GET_PACKET stream 2 @0 len 20480; reply OK 20480. */
	n = unhex("0000000000000002 0000000000000000 00005000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_get_packet_decode(&rb, &g), 0);
	assert_int_equal(g.stream_id, 2);
	assert_int_equal(g.offset, 0);
	assert_int_equal(g.len, 20480);
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_live_get_packet_encode(&wb, &g), 0);
	assert_memory_equal(out, b, n);

	n = unhex("00000001 00005000 00000000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_packet_reply_decode(&rb, &p), 0);
	assert_int_equal(p.status, CL_LIVE_PACKET_OK);
	assert_int_equal(p.len, 20480);
	/* T11: ERR, header only. */
	n = unhex("00000003 00000000 00000000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_packet_reply_decode(&rb, &p), 0);
	assert_int_equal(p.status, CL_LIVE_PACKET_ERR);
	/* Pre-2.13 ERR followed by a payload cannot be framed. */
	n = unhex("00000003 00001000 00000000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_packet_reply_decode(&rb, &p), -EPROTO);
	/* T20: OK with len 0 decodes (the client decides). */
	n = unhex("00000001 00000000 00000000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_packet_reply_decode(&rb, &p), 0);
	n = unhex("00000005 00000000 00000000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_packet_reply_decode(&rb, &p), -EPROTO);
	n = unhex("00000000 00000000 00000000", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_packet_reply_decode(&rb, &p), -EPROTO);

	wb = cl_wbuf_make(out, sizeof(out));
	p = (struct cl_live_packet_reply){ .status = CL_LIVE_PACKET_ERR, .len = 1 };
	assert_int_equal(cl_live_packet_reply_encode(&wb, &p), -EINVAL);
	p.len = 0;
	assert_int_equal(cl_live_packet_reply_encode(&wb, &p), 0);
	assert_memory_equal(out, "\0\0\0\3\0\0\0\0\0\0\0\0", 12);
}

static void test_metadata(void **state)
{
	uint8_t b[64], out[64];
	struct cl_live_metadata_reply m;
	struct cl_rbuf rb;
	struct cl_wbuf wb;
	uint64_t id;
	size_t n;

	(void)state;
	n = unhex("0000000000000003", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_get_metadata_decode(&rb, &id), 0);
	assert_int_equal(id, 3);

	/* cap v1 #35: u64 len 4096 first, then status OK. */
	n = unhex("0000000000001000 00000001", b, sizeof(b));
	rb = cl_rbuf_make(b, n);
	assert_int_equal(cl_live_metadata_reply_decode(&rb, &m), 0);
	assert_int_equal(m.len, 4096);
	assert_int_equal(m.status, CL_LIVE_METADATA_OK);
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_live_metadata_reply_encode(&wb, &m), 0);
	assert_memory_equal(out, b, 12);

	static const struct {
		const char *hex;
		int r;
	} cases[] = {
		{ "0000000000000000 00000002", 0 },       /* NO_NEW */
		{ "0000000000000000 00000003", 0 },       /* ERR */
		{ "0000000000000000 00000001", 0 },       /* OK, 0: retry later */
		{ "0000000004000000 00000001", 0 },       /* 64 MiB */
		{ "0000000004000001 00000001", -E2BIG },  /* over the limit */
		{ "ffffffffffffffff 00000001", -E2BIG },  /* absurd */
		{ "0000000000000010 00000002", -EPROTO }, /* len without OK */
		{ "0000000000000000 00000000", -EPROTO }, { "0000000000000000 00000004", -EPROTO },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = unhex(cases[i].hex, b, sizeof(b));
		rb = cl_rbuf_make(b, n);
		assert_int_equal(cl_live_metadata_reply_decode(&rb, &m), cases[i].r);
		assert_int_equal(rb.pos, cases[i].r == 0 ? 12 : 0);
	}
	wb = cl_wbuf_make(out, sizeof(out));
	m = (struct cl_live_metadata_reply){ .len = 5, .status = CL_LIVE_METADATA_NO_NEW };
	assert_int_equal(cl_live_metadata_reply_encode(&wb, &m), -EINVAL);
}

static void test_status_replies(void **state)
{
	uint8_t b[8], out[8];
	struct cl_rbuf rb;
	struct cl_wbuf wb;
	uint32_t st;
	uint64_t id;

	(void)state;
	for (uint8_t v = 0; v < 5; v++) {
		memset(b, 0, sizeof(b));
		b[3] = v;
		rb = cl_rbuf_make(b, 4);
		assert_int_equal(cl_live_create_session_reply_decode(&rb, &st),
				 v >= 1 && v <= 2 ? 0 : -EPROTO);
		rb = cl_rbuf_make(b, 4);
		assert_int_equal(cl_live_detach_reply_decode(&rb, &st),
				 v >= 1 && v <= 3 ? 0 : -EPROTO);
	}
	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_live_create_session_reply_encode(&wb, CL_LIVE_CREATE_SESSION_OK), 0);
	assert_int_equal(cl_live_detach_reply_encode(&wb, CL_LIVE_DETACH_UNK), 0);
	assert_memory_equal(out, "\0\0\0\1\0\0\0\2", 8);
	assert_int_equal(cl_live_detach_reply_encode(&wb, CL_LIVE_DETACH_UNK), -EMSGSIZE);

	wb = cl_wbuf_make(out, sizeof(out));
	assert_int_equal(cl_live_detach_request_encode(&wb, 0x0102030405060708ULL), 0);
	rb = cl_rbuf_make(out, 8);
	assert_int_equal(cl_live_detach_request_decode(&rb, &id), 0);
	assert_int_equal(id, 0x0102030405060708ULL);

	/* A header announcing a wrong data_size still decodes (Trace Compass). */
	memset(out, 0, sizeof(out));
	uint8_t h[16] = { 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 77 };
	struct cl_live_cmd_hdr hdr;
	rb = cl_rbuf_make(h, 16);
	assert_int_equal(cl_live_cmd_hdr_decode(&rb, &hdr), 0);
	assert_int_equal(hdr.cmd, CL_LIVE_CMD_LIST_SESSIONS);
	assert_int_equal(hdr.cmd_version, 77);
	assert_int_equal(cl_live_request_payload_size(hdr.cmd), 0);
}

/*
 * Every decoder, given any strict prefix of a valid message, returns
 * -EMSGSIZE and leaves the cursor where it was.
 */
static void test_truncation(void **state)
{
	static uint8_t b[CL_LIVE_STREAM_SIZE];
	static struct cl_live_stream st;
	struct cl_live_cmd_hdr h;
	struct cl_live_connect c;
	struct cl_live_session s;
	struct cl_live_attach_request a;
	struct cl_live_streams_reply sr;
	struct cl_live_index x;
	struct cl_live_get_packet g;
	struct cl_live_packet_reply p;
	struct cl_live_metadata_reply m;
	uint64_t u64;
	uint32_t u32;

	(void)state;
#define CHECK_TRUNC(size, call)                                   \
	do {                                                      \
		for (size_t len = 0; len < (size); len++) {       \
			struct cl_rbuf rb = cl_rbuf_make(b, len); \
			assert_int_equal((call), -EMSGSIZE);      \
			assert_int_equal(rb.pos, 0);              \
		}                                                 \
	} while (0)

	memset(b, 0, sizeof(b));
	b[3] = 1; /* make status-first messages valid when complete */
	CHECK_TRUNC(16, cl_live_cmd_hdr_decode(&rb, &h));
	CHECK_TRUNC(20, cl_live_connect_decode(&rb, &c));
	CHECK_TRUNC(4, cl_live_list_reply_decode(&rb, &u32));
	CHECK_TRUNC(339, cl_live_session_decode(&rb, &s));
	CHECK_TRUNC(20, cl_live_attach_request_decode(&rb, &a));
	CHECK_TRUNC(8, cl_live_attach_reply_decode(&rb, &sr));
	CHECK_TRUNC(4371, cl_live_stream_decode(&rb, &st));
	CHECK_TRUNC(8, cl_live_get_next_index_decode(&rb, &u64));
	CHECK_TRUNC(64, cl_live_index_decode(&rb, &x));
	CHECK_TRUNC(20, cl_live_get_packet_decode(&rb, &g));
	CHECK_TRUNC(12, cl_live_packet_reply_decode(&rb, &p));
	CHECK_TRUNC(8, cl_live_get_metadata_decode(&rb, &u64));
	CHECK_TRUNC(12, cl_live_metadata_reply_decode(&rb, &m));
	CHECK_TRUNC(8, cl_live_new_streams_request_decode(&rb, &u64));
	CHECK_TRUNC(8, cl_live_new_streams_reply_decode(&rb, &sr));
	CHECK_TRUNC(4, cl_live_create_session_reply_decode(&rb, &u32));
	CHECK_TRUNC(8, cl_live_detach_request_decode(&rb, &u64));
	CHECK_TRUNC(4, cl_live_detach_reply_decode(&rb, &u32));
#undef CHECK_TRUNC
}

/* ---- Whole-connection replay of the captures (needs tshark) ---- */

struct bytes {
	uint8_t *data;
	size_t len, cap;
};

static void bytes_push(struct bytes *b, uint8_t v)
{
	if (b->len == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4096;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	b->data[b->len++] = v;
}

/*
 * Extracts both directions of TCP stream `n` of a capture with tshark's
 * "follow,tcp,raw" output (client lines at column 0, server lines indented
 * by a tab). Returns false if tshark or the file is unavailable.
 */
static bool extract(const char *pcap, int n, struct bytes *c2s, struct bytes *s2c)
{
	const char *dir = getenv("CTFLIVE_FIXTURES_DIR");
	char cmd[4096], line[65536];
	bool started = false;
	FILE *f;

	if (!dir)
		dir = CTFLIVE_FIXTURES_DIR_DEFAULT;
	if (system("command -v tshark >/dev/null 2>&1") != 0)
		return false;
	snprintf(cmd, sizeof(cmd), "%s/captures/%s", dir, pcap);
	if (access(cmd, R_OK) != 0)
		return false;
	snprintf(cmd, sizeof(cmd), "tshark -r '%s/captures/%s' -q -z follow,tcp,raw,%d 2>/dev/null",
		 dir, pcap, n);
	f = popen(cmd, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		struct bytes *dst = c2s;
		const char *p = line;

		if (!started) {
			started = strncmp(line, "Node 1:", 7) == 0;
			continue;
		}
		if (line[0] == '=')
			continue;
		if (line[0] == '\t') {
			dst = s2c;
			p++;
		}
		for (; p[0] && p[1] && p[0] != '\n'; p += 2) {
			unsigned int v;

			assert_true(sscanf(p, "%2x", &v) == 1);
			bytes_push(dst, (uint8_t)v);
		}
	}
	assert_int_equal(pclose(f), 0);
	return started;
}

struct replay_stats {
	unsigned int requests;
	unsigned int per_cmd[10];
	unsigned int index_status[7];
	unsigned int metadata_bytes;
	unsigned int packet_bytes;
	unsigned int streams;
	bool unknown_cmd;
};

/* Re-encodes with `enc` and checks the bytes are identical to [p, p+n). */
#define ROUNDTRIP(enc, msg, p, n)                                 \
	do {                                                      \
		uint8_t o_[CL_LIVE_STREAM_SIZE];                  \
		struct cl_wbuf w_ = cl_wbuf_make(o_, sizeof(o_)); \
		assert_int_equal(enc(&w_, msg), 0);               \
		assert_int_equal(w_.pos, (n));                    \
		assert_memory_equal(o_, (p), (n));                \
	} while (0)

/*
 * Walks a captured viewer connection: decodes every request with the size
 * table (ignoring data_size) and every reply with the reply decoders,
 * re-encoding each message and comparing bytes. Stops when the relay closed
 * the connection (no reply bytes left) or after an unknown command.
 */
static void replay(const struct bytes *c2s, const struct bytes *s2c, struct replay_stats *st)
{
	static struct cl_live_stream stream;
	struct cl_rbuf c = cl_rbuf_make(c2s->data, c2s->len);
	struct cl_rbuf s = cl_rbuf_make(s2c->data, s2c->len);

	memset(st, 0, sizeof(*st));
	while (cl_rbuf_left(&c) > 0) {
		struct cl_live_cmd_hdr h;
		const uint8_t *p = c.data + c.pos;
		int size;

		assert_int_equal(cl_live_cmd_hdr_decode(&c, &h), 0);
		size = cl_live_request_payload_size(h.cmd);
		if (size < 0) {
			uint32_t v;

			/* The relay answers 11 then closes. */
			assert_int_equal(cl_rbuf_get_be32(&s, &v), 0);
			assert_int_equal(v, CL_LIVE_ERR_UNK);
			st->unknown_cmd = true;
			break;
		}
		ROUNDTRIP(cl_live_cmd_hdr_encode, &h, p, 16);
		p = c.data + c.pos;
		st->requests++;
		st->per_cmd[h.cmd]++;

		/* Requests. */
		switch (h.cmd) {
		case CL_LIVE_CMD_CONNECT: {
			struct cl_live_connect m;

			assert_int_equal(cl_live_connect_decode(&c, &m), 0);
			ROUNDTRIP(cl_live_connect_encode, &m, p, 20);
			break;
		}
		case CL_LIVE_CMD_ATTACH_SESSION: {
			struct cl_live_attach_request m;

			assert_int_equal(cl_live_attach_request_decode(&c, &m), 0);
			ROUNDTRIP(cl_live_attach_request_encode, &m, p, 20);
			break;
		}
		case CL_LIVE_CMD_GET_PACKET: {
			struct cl_live_get_packet m;

			assert_int_equal(cl_live_get_packet_decode(&c, &m), 0);
			ROUNDTRIP(cl_live_get_packet_encode, &m, p, 20);
			break;
		}
		case CL_LIVE_CMD_GET_NEXT_INDEX:
		case CL_LIVE_CMD_GET_METADATA:
		case CL_LIVE_CMD_GET_NEW_STREAMS:
		case CL_LIVE_CMD_DETACH_SESSION: {
			uint64_t id;

			assert_int_equal(cl_live_get_next_index_decode(&c, &id), 0);
			ROUNDTRIP(cl_live_detach_request_encode, id, p, 8);
			break;
		}
		default:
			assert_int_equal(size, 0);
		}

		/* The relay closed without replying (T1, T2, T4b). */
		if (cl_rbuf_left(&s) == 0)
			break;

		/* Replies. */
		p = s.data + s.pos;
		switch (h.cmd) {
		case CL_LIVE_CMD_CONNECT: {
			struct cl_live_connect m;

			assert_int_equal(cl_live_connect_decode(&s, &m), 0);
			assert_int_equal(cl_live_connect_check_reply(&m), 0);
			ROUNDTRIP(cl_live_connect_encode, &m, p, 20);
			break;
		}
		case CL_LIVE_CMD_LIST_SESSIONS: {
			uint32_t n;

			assert_int_equal(cl_live_list_reply_decode(&s, &n), 0);
			for (uint32_t i = 0; i < n; i++) {
				struct cl_live_session m;

				p = s.data + s.pos;
				assert_int_equal(cl_live_session_decode(&s, &m), 0);
				ROUNDTRIP(cl_live_session_encode, &m, p, CL_LIVE_SESSION_SIZE);
			}
			break;
		}
		case CL_LIVE_CMD_ATTACH_SESSION:
		case CL_LIVE_CMD_GET_NEW_STREAMS: {
			struct cl_live_streams_reply m;

			if (h.cmd == CL_LIVE_CMD_ATTACH_SESSION) {
				assert_int_equal(cl_live_attach_reply_decode(&s, &m), 0);
				ROUNDTRIP(cl_live_attach_reply_encode, &m, p, 8);
			} else {
				assert_int_equal(cl_live_new_streams_reply_decode(&s, &m), 0);
				ROUNDTRIP(cl_live_new_streams_reply_encode, &m, p, 8);
			}
			for (uint32_t i = 0; i < m.streams_count; i++) {
				p = s.data + s.pos;
				assert_int_equal(cl_live_stream_decode(&s, &stream), 0);
				ROUNDTRIP(cl_live_stream_encode, &stream, p, CL_LIVE_STREAM_SIZE);
				st->streams++;
			}
			break;
		}
		case CL_LIVE_CMD_GET_NEXT_INDEX: {
			struct cl_live_index m;

			assert_int_equal(cl_live_index_decode(&s, &m), 0);
			ROUNDTRIP(cl_live_index_encode, &m, p, 64);
			st->index_status[m.status]++;
			break;
		}
		case CL_LIVE_CMD_GET_PACKET: {
			struct cl_live_packet_reply m;

			assert_int_equal(cl_live_packet_reply_decode(&s, &m), 0);
			ROUNDTRIP(cl_live_packet_reply_encode, &m, p, 12);
			assert_int_equal(cl_rbuf_skip(&s, m.len), 0);
			st->packet_bytes += m.len;
			break;
		}
		case CL_LIVE_CMD_GET_METADATA: {
			struct cl_live_metadata_reply m;

			assert_int_equal(cl_live_metadata_reply_decode(&s, &m), 0);
			ROUNDTRIP(cl_live_metadata_reply_encode, &m, p, 12);
			assert_int_equal(cl_rbuf_skip(&s, (size_t)m.len), 0);
			st->metadata_bytes += (unsigned int)m.len;
			break;
		}
		case CL_LIVE_CMD_CREATE_SESSION: {
			uint32_t v;

			assert_int_equal(cl_live_create_session_reply_decode(&s, &v), 0);
			ROUNDTRIP(cl_live_create_session_reply_encode, v, p, 4);
			break;
		}
		case CL_LIVE_CMD_DETACH_SESSION: {
			uint32_t v;

			assert_int_equal(cl_live_detach_reply_decode(&s, &v), 0);
			ROUNDTRIP(cl_live_detach_reply_encode, v, p, 4);
			break;
		}
		}
	}
	/* Every reply byte was accounted for. */
	assert_int_equal(cl_rbuf_left(&s), 0);
}

static void bytes_release(struct bytes *b)
{
	free(b->data);
	*b = (struct bytes){ 0 };
}

static void test_replay_v1(void **state)
{
	struct bytes c = { 0 }, s = { 0 };
	struct replay_stats st;

	(void)state;
	if (!extract("live-viewer-bt2-uid.pcap", 0, &c, &s)) {
		skip();
		return;
	}
	assert_int_equal(c.len, 11644);
	assert_int_equal(s.len, 107744);
	replay(&c, &s, &st);
	/* Totals given in live-protocol.md §5.3. */
	assert_int_equal(st.requests, 654);
	assert_int_equal(st.per_cmd[CL_LIVE_CMD_GET_NEXT_INDEX], 90);
	assert_int_equal(st.index_status[CL_LIVE_INDEX_OK], 7);
	assert_int_equal(st.index_status[CL_LIVE_INDEX_RETRY], 21);
	assert_int_equal(st.index_status[CL_LIVE_INDEX_INACTIVE], 60);
	assert_int_equal(st.index_status[CL_LIVE_INDEX_HUP], 2);
	assert_int_equal(st.per_cmd[CL_LIVE_CMD_GET_PACKET], 7);
	assert_int_equal(st.per_cmd[CL_LIVE_CMD_GET_METADATA], 12);
	assert_int_equal(st.per_cmd[CL_LIVE_CMD_GET_NEW_STREAMS], 22);
	assert_int_equal(st.metadata_bytes, 4096);
	assert_int_equal(st.streams, 3);
	bytes_release(&c);
	bytes_release(&s);
}

static void test_replay_v2(void **state)
{
	struct bytes c = { 0 }, s = { 0 };
	struct replay_stats st;

	(void)state;
	if (!extract("live-viewer-bt2-pid.pcap", 1, &c, &s)) {
		skip();
		return;
	}
	replay(&c, &s, &st);
	assert_int_equal(st.requests, 107);
	assert_int_equal(st.streams, 6); /* app A and app B, 3 each */
	assert_int_equal(st.per_cmd[CL_LIVE_CMD_DETACH_SESSION], 1);
	assert_int_equal(st.index_status[CL_LIVE_INDEX_HUP], 4);
	bytes_release(&c);
	bytes_release(&s);
}

static void test_replay_probes(void **state)
{
	struct replay_stats st;
	bool any = false;

	(void)state;
	for (int n = 0; n <= 10; n++) {
		struct bytes c = { 0 }, s = { 0 };

		if (!extract("live-viewer-probes.pcap", n, &c, &s))
			continue;
		any = true;
		replay(&c, &s, &st);
		if (n == 5) /* T14: unknown command 99 */
			assert_true(st.unknown_cmd);
		if (n == 9) { /* drain after destroy: OK..., HUP, ERR per stream */
			assert_int_equal(st.index_status[CL_LIVE_INDEX_OK], 7);
			assert_int_equal(st.index_status[CL_LIVE_INDEX_HUP], 2);
			assert_int_equal(st.index_status[CL_LIVE_INDEX_ERR], 2);
		}
		bytes_release(&c);
		bytes_release(&s);
	}
	if (!any)
		skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),          cmocka_unit_test(test_connect_capture),
		cmocka_unit_test(test_list_capture),   cmocka_unit_test(test_session_2_15),
		cmocka_unit_test(test_attach_capture), cmocka_unit_test(test_new_streams),
		cmocka_unit_test(test_stream_record),  cmocka_unit_test(test_index_capture),
		cmocka_unit_test(test_packet),         cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_status_replies), cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_replay_v1),      cmocka_unit_test(test_replay_v2),
		cmocka_unit_test(test_replay_probes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
