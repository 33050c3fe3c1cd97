/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the relayd receive state machine
 * (src/proto/relayd-rx.c). The first byte picks the socket (bit 0) and the
 * size of the pieces the rest is fed in (bits 1-7; 0 = one byte at a time);
 * the rest is what a peer sent. The input runs twice, whole and in pieces:
 * both runs must see the same events (body bytes in the same order) and end
 * the same way; every event must stay inside its input and agree with its
 * header, and a control payload must never pass its limit.
 */
#include <stddef.h>
#include <stdint.h>

#include "relayd-rx.h"

#define LIMIT 4096 /* bytes, every command */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t limit(uint32_t cmd, void *userdata)
{
	(void)cmd;
	(void)userdata;
	return LIMIT;
}

/* FNV-1a over what the events say, so that two runs can be compared. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * UINT64_C(0x100000001b3);
	return h;
}

static uint64_t record(uint64_t h, const struct cl_relayd_rx_event *ev, const uint8_t *piece,
		       size_t len)
{
	uint8_t type = (uint8_t)ev->type;

	switch (ev->type) {
	case CL_RELAYD_RX_COMMAND:
		if (ev->len != ev->hdr.data_size || ev->len > LIMIT)
			__builtin_trap();
		h = mix(h, &ev->hdr.cmd, sizeof(ev->hdr.cmd));
		return mix(mix(h, &type, 1), ev->payload, ev->len);
	case CL_RELAYD_RX_BODY:
		if (ev->len == 0 || ev->payload < piece || ev->len > len ||
		    ev->payload + ev->len > piece + len)
			__builtin_trap();
		/* Only the bytes: a body cut differently must hash the same. */
		return mix(h, ev->payload, ev->len);
	case CL_RELAYD_RX_METADATA:
		h = mix(h, &ev->metadata.stream_id, sizeof(ev->metadata.stream_id));
		return mix(h, &type, 1);
	case CL_RELAYD_RX_PACKET:
		h = mix(h, &ev->data_hdr.stream_id, sizeof(ev->data_hdr.stream_id));
		h = mix(h, &ev->data_hdr.data_size, sizeof(ev->data_hdr.data_size));
		return mix(h, &type, 1);
	default:
		return mix(h, &type, 1);
	}
}

/* Feeds data in pieces of `step` bytes (0: all at once); returns the hash of the events. */
static uint64_t run(int sock, const uint8_t *data, size_t size, size_t step, int *ret_err)
{
	struct cl_relayd_rx rx;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t at = 0;
	int r = 0;

	cl_relayd_rx_init(&rx, sock ? CL_RELAYD_RX_DATA : CL_RELAYD_RX_CONTROL, limit, NULL);
	do {
		size_t len = step && step < size - at ? step : size - at;
		const uint8_t *piece = data + at;
		size_t used = 0;

		for (;;) {
			struct cl_relayd_rx_event ev;

			r = cl_relayd_rx_feed(&rx, piece + used, len - used, &ev);
			if (r < 0)
				break;
			if ((size_t)r > len - used)
				__builtin_trap();
			used += (size_t)r;
			if (ev.type == CL_RELAYD_RX_NONE)
				break;
			h = record(h, &ev, piece + used - (size_t)r, len - used + (size_t)r);
		}
		if (r < 0)
			break;
		if (used != len || (cl_relayd_rx_want(&rx) == 0 && !cl_relayd_rx_idle(&rx)))
			__builtin_trap();
		at += len;
	} while (at < size);
	*ret_err = r < 0 ? r : 0;
	h = mix(h, &rx.state, sizeof(rx.state));
	cl_relayd_rx_release(&rx);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t whole, pieces;
	int err_whole, err_pieces;
	size_t step;

	if (size < 1 || size > 1 << 16)
		return 0;
	step = data[0] >> 1 ? (size_t)(data[0] >> 1) : 1;
	whole = run(data[0] & 1, data + 1, size - 1, 0, &err_whole);
	pieces = run(data[0] & 1, data + 1, size - 1, step, &err_pieces);
	if (whole != pieces || err_whole != err_pieces)
		__builtin_trap();
	return 0;
}
