/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the live viewer protocol codec (src/proto/live.c).
 *
 * The first input byte picks a command; the rest is read as the stream a
 * peer would send for it: a request (header + fixed payload) for the server
 * side, then a reply with its records for the client side. Every successful
 * decode is re-encoded, which must succeed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "live-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[CL_LIVE_STREAM_SIZE];

/* Decodes; on success re-encoding must succeed (wb holds any message). */
#define DECODE_REENCODE(dec, enc, rb, msg)                          \
	do {                                                        \
		size_t pos_ = (rb)->pos;                            \
		struct cl_wbuf w_ = cl_wbuf_make(out, sizeof(out)); \
		if (dec(rb, msg) < 0) {                             \
			if ((rb)->pos != pos_)                      \
				__builtin_trap();                   \
			return 0;                                   \
		}                                                   \
		if (enc(&w_, msg) != 0)                             \
			__builtin_trap();                           \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cl_live_stream stream;
	struct cl_rbuf rb;
	struct cl_live_cmd_hdr h;
	struct cl_live_connect c;
	struct cl_live_attach_request a;
	struct cl_live_get_packet g;
	struct cl_live_session s;
	struct cl_live_streams_reply sr;
	struct cl_live_index x;
	struct cl_live_packet_reply pr;
	struct cl_live_metadata_reply mr;
	uint32_t u32, n;
	uint64_t u64;
	uint32_t cmd;

	if (size < 1 || size > 1 << 20)
		return 0;
	cmd = data[0] % 10;
	rb = cl_rbuf_make(data + 1, size - 1);

	DECODE_REENCODE(cl_live_cmd_hdr_decode, cl_live_cmd_hdr_encode, &rb, &h);
	switch (cmd) {
	case CL_LIVE_CMD_CONNECT:
		DECODE_REENCODE(cl_live_connect_decode, cl_live_connect_encode, &rb, &c);
		DECODE_REENCODE(cl_live_connect_decode, cl_live_connect_encode, &rb, &c);
		break;
	case CL_LIVE_CMD_LIST_SESSIONS:
		if (cl_live_list_reply_decode(&rb, &n) < 0)
			return 0;
		for (uint32_t i = 0; i < n; i++) {
			/* The first byte also picks the record layout: 2.4 or 2.15. */
			if ((data[0] / 10) & 1) {
				size_t pos = rb.pos;

				DECODE_REENCODE(cl_live_session_decode_2_15,
						cl_live_session_encode_2_15, &rb, &s);
				/* A 2.15 record re-encodes to the same bytes. */
				if (cl_live_session_size_2_15(&s) != rb.pos - pos ||
				    memcmp(out, rb.data + pos, rb.pos - pos) != 0)
					__builtin_trap();
			} else {
				DECODE_REENCODE(cl_live_session_decode, cl_live_session_encode, &rb,
						&s);
			}
		}
		break;
	case CL_LIVE_CMD_ATTACH_SESSION:
	case CL_LIVE_CMD_GET_NEW_STREAMS:
		if (cmd == CL_LIVE_CMD_ATTACH_SESSION) {
			DECODE_REENCODE(cl_live_attach_request_decode,
					cl_live_attach_request_encode, &rb, &a);
			DECODE_REENCODE(cl_live_attach_reply_decode, cl_live_attach_reply_encode,
					&rb, &sr);
		} else {
			(void)cl_live_new_streams_request_decode(&rb, &u64);
			DECODE_REENCODE(cl_live_new_streams_reply_decode,
					cl_live_new_streams_reply_encode, &rb, &sr);
		}
		for (uint32_t i = 0; i < sr.streams_count; i++)
			DECODE_REENCODE(cl_live_stream_decode, cl_live_stream_encode, &rb, &stream);
		break;
	case CL_LIVE_CMD_GET_NEXT_INDEX:
		(void)cl_live_get_next_index_decode(&rb, &u64);
		DECODE_REENCODE(cl_live_index_decode, cl_live_index_encode, &rb, &x);
		break;
	case CL_LIVE_CMD_GET_PACKET:
		DECODE_REENCODE(cl_live_get_packet_decode, cl_live_get_packet_encode, &rb, &g);
		DECODE_REENCODE(cl_live_packet_reply_decode, cl_live_packet_reply_encode, &rb, &pr);
		(void)cl_rbuf_skip(&rb, pr.len);
		break;
	case CL_LIVE_CMD_GET_METADATA:
		(void)cl_live_get_metadata_decode(&rb, &u64);
		DECODE_REENCODE(cl_live_metadata_reply_decode, cl_live_metadata_reply_encode, &rb,
				&mr);
		if (mr.len > CL_LIVE_MAX_METADATA_LEN)
			__builtin_trap();
		break;
	case CL_LIVE_CMD_CREATE_SESSION:
		(void)cl_live_create_session_reply_decode(&rb, &u32);
		break;
	case CL_LIVE_CMD_DETACH_SESSION:
		(void)cl_live_detach_request_decode(&rb, &u64);
		(void)cl_live_detach_reply_decode(&rb, &u32);
		break;
	default:
		(void)cl_live_request_payload_size(h.cmd);
		(void)cl_live_status_name(h.cmd, h.cmd_version);
		break;
	}
	return 0;
}
