/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the relayd receive state machine
 * (src/proto/relayd-rx.c). The first byte picks the socket (bit 0) and the
 * size of the pieces the rest is fed in (bits 1-7; 0 = all at once); the
 * rest is what a peer sent. The events must stay inside the input and
 * agree with the headers, and a control payload must never pass its limit.
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

static void check(const struct cl_relayd_rx_event *ev, const uint8_t *piece, size_t len)
{
	switch (ev->type) {
	case CL_RELAYD_RX_COMMAND:
		if (ev->len != ev->hdr.data_size || ev->len > LIMIT)
			__builtin_trap();
		break;
	case CL_RELAYD_RX_BODY:
		if (ev->len == 0 || ev->payload < piece || ev->len > len ||
		    ev->payload + ev->len > piece + len)
			__builtin_trap();
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_relayd_rx rx;
	size_t step, at;

	if (size < 1 || size > 1 << 16)
		return 0;
	cl_relayd_rx_init(&rx, data[0] & 1 ? CL_RELAYD_RX_DATA : CL_RELAYD_RX_CONTROL, limit, NULL);
	step = data[0] >> 1;
	data++;
	size--;
	for (at = 0; at < size || at == 0;) {
		size_t len = step && step < size - at ? step : size - at;
		const uint8_t *piece = data + at;
		size_t used = 0;
		int r = 0;

		for (;;) {
			struct cl_relayd_rx_event ev;

			r = cl_relayd_rx_feed(&rx, piece + used, len - used, &ev);
			if (r < 0)
				break;
			if ((size_t)r > len - used)
				__builtin_trap();
			check(&ev, piece + used, len - used);
			used += (size_t)r;
			if (ev.type == CL_RELAYD_RX_NONE)
				break;
		}
		if (r < 0)
			break;
		if (used != len || (cl_relayd_rx_want(&rx) == 0 && !cl_relayd_rx_idle(&rx)))
			__builtin_trap();
		at += len;
		if (len == 0)
			break;
	}
	cl_relayd_rx_release(&rx);
	return 0;
}
