/* SPDX-License-Identifier: MIT */
/* Receive state machine of the relayd sockets: see relayd-rx.h. */
#include "relayd-rx.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "macro.h"

static_assert(CL_RELAYD_CTRL_HDR_SIZE <= CL_RELAYD_DATA_HDR_SIZE, "header buffer");
static_assert(CL_RELAYD_METADATA_HDR_SIZE <= CL_RELAYD_DATA_HDR_SIZE, "header buffer");

/* First allocation for a payload split across feeds, bytes. */
#define PAYLOAD_MIN_CAP 4096

void cl_relayd_rx_init(struct cl_relayd_rx *rx, enum cl_relayd_rx_socket socket,
		       cl_relayd_rx_limit_fn limit, void *userdata)
{
	*rx = (struct cl_relayd_rx){ .socket = socket, .limit = limit, .limit_data = userdata };
}

void cl_relayd_rx_release(struct cl_relayd_rx *rx)
{
	cl_buf_free(&rx->payload);
}

static size_t header_size(const struct cl_relayd_rx *rx)
{
	if (rx->state == CL_RELAYD_RX_S_MD_HEADER)
		return CL_RELAYD_METADATA_HDR_SIZE;
	return rx->socket == CL_RELAYD_RX_CONTROL ? CL_RELAYD_CTRL_HDR_SIZE
						  : CL_RELAYD_DATA_HDR_SIZE;
}

uint64_t cl_relayd_rx_want(const struct cl_relayd_rx *rx)
{
	switch (rx->state) {
	case CL_RELAYD_RX_S_HEADER:
	case CL_RELAYD_RX_S_MD_HEADER:
		return header_size(rx) - rx->hdr_have;
	case CL_RELAYD_RX_S_PAYLOAD:
		return rx->payload_len - rx->payload.len;
	case CL_RELAYD_RX_S_BODY:
		return rx->body_left;
	case CL_RELAYD_RX_S_BODY_DONE:
	default:
		return 0;
	}
}

bool cl_relayd_rx_idle(const struct cl_relayd_rx *rx)
{
	return rx->state == CL_RELAYD_RX_S_HEADER && rx->hdr_have == 0;
}

static void start_header(struct cl_relayd_rx *rx)
{
	rx->state = CL_RELAYD_RX_S_HEADER;
	rx->hdr_have = 0;
}

/* A complete header is in rx->hdr: decides what follows. */
static int on_header(struct cl_relayd_rx *rx, struct cl_relayd_rx_event *ev)
{
	if (rx->socket == CL_RELAYD_RX_DATA) {
		(void)cl_relayd_decode_data_hdr(rx->hdr, CL_RELAYD_DATA_HDR_SIZE, &ev->data_hdr);
		ev->type = CL_RELAYD_RX_PACKET;
		rx->body_left = ev->data_hdr.data_size;
		rx->state = rx->body_left ? CL_RELAYD_RX_S_BODY : CL_RELAYD_RX_S_BODY_DONE;
		return 0;
	}
	(void)cl_relayd_decode_hdr(rx->hdr, CL_RELAYD_CTRL_HDR_SIZE, &rx->chdr);
	ev->hdr = rx->chdr;
	/* Checked before a byte of the payload is taken or a buffer allocated. */
	if (rx->chdr.data_size > rx->limit(rx->chdr.cmd, rx->limit_data))
		return -E2BIG;
	if (rx->chdr.cmd == CL_RELAYD_SEND_METADATA) {
		if (rx->chdr.data_size < CL_RELAYD_METADATA_HDR_SIZE)
			return -EPROTO;
		ev->type = CL_RELAYD_RX_METADATA_START;
		rx->state = CL_RELAYD_RX_S_MD_HEADER;
		rx->hdr_have = 0;
		return 0;
	}
	/* Within a limit that fits in memory, so it fits in a size_t. */
	rx->payload_len = (size_t)rx->chdr.data_size;
	cl_buf_clear(&rx->payload);
	rx->state = CL_RELAYD_RX_S_PAYLOAD;
	return 0;
}

static int feed_payload(struct cl_relayd_rx *rx, const uint8_t *data, size_t len,
			struct cl_relayd_rx_event *ev)
{
	size_t need = rx->payload_len - rx->payload.len;
	size_t take = CL_MIN(need, len);
	int r;

	if (rx->payload.len == 0 && take == need) {
		/* Whole in this input: handed over without a copy. */
		ev->payload = data;
	} else {
		/* Grow with the bytes that actually arrive (at least PAYLOAD_MIN_CAP). */
		if (rx->payload.cap < PAYLOAD_MIN_CAP) {
			r = cl_buf_reserve(&rx->payload, CL_MIN(rx->payload_len, PAYLOAD_MIN_CAP));
			if (r < 0)
				return -ENOMEM;
		}
		r = cl_buf_append(&rx->payload, data, take);
		if (r < 0)
			return -ENOMEM;
		if (rx->payload.len < rx->payload_len)
			return (int)take;
		ev->payload = rx->payload.data;
	}
	ev->type = CL_RELAYD_RX_COMMAND;
	ev->hdr = rx->chdr;
	ev->len = rx->payload_len;
	start_header(rx);
	return (int)take;
}

int cl_relayd_rx_feed(struct cl_relayd_rx *rx, const uint8_t *data, size_t len,
		      struct cl_relayd_rx_event *ret)
{
	static const uint8_t none[1];
	struct cl_relayd_rx_event ev = { .type = CL_RELAYD_RX_NONE };
	size_t used = 0;
	int r = 0;

	/* Results are byte counts of one feed: keep them representable. */
	len = CL_MIN(len, (size_t)INT32_MAX);
	if (len == 0)
		data = none; /* callers may pass NULL with no bytes */
	while (ev.type == CL_RELAYD_RX_NONE) {
		switch (rx->state) {
		case CL_RELAYD_RX_S_HEADER:
		case CL_RELAYD_RX_S_MD_HEADER: {
			size_t want = header_size(rx) - rx->hdr_have;
			size_t take = CL_MIN(want, len - used);

			memcpy(rx->hdr + rx->hdr_have, data + used, take);
			rx->hdr_have += take;
			used += take;
			if (rx->hdr_have < header_size(rx))
				goto out;
			if (rx->state == CL_RELAYD_RX_S_MD_HEADER) {
				ev.hdr = rx->chdr;
				(void)cl_relayd_decode_metadata_hdr(
					rx->hdr, CL_RELAYD_METADATA_HDR_SIZE, &ev.metadata);
				ev.type = CL_RELAYD_RX_METADATA;
				rx->body_left = rx->chdr.data_size - CL_RELAYD_METADATA_HDR_SIZE;
				rx->state = rx->body_left ? CL_RELAYD_RX_S_BODY
							  : CL_RELAYD_RX_S_BODY_DONE;
				break;
			}
			r = on_header(rx, &ev);
			if (r < 0)
				goto fail;
			if (ev.type == CL_RELAYD_RX_NONE && rx->state == CL_RELAYD_RX_S_PAYLOAD &&
			    rx->payload_len == 0) {
				ev.type = CL_RELAYD_RX_COMMAND;
				ev.hdr = rx->chdr;
				ev.payload = rx->hdr; /* any valid pointer; len 0 */
				ev.len = 0;
				start_header(rx);
			}
			break;
		}
		case CL_RELAYD_RX_S_PAYLOAD:
			if (used == len)
				goto out;
			r = feed_payload(rx, data + used, len - used, &ev);
			if (r < 0)
				goto fail;
			used += (size_t)r;
			if (ev.type == CL_RELAYD_RX_NONE)
				goto out;
			break;
		case CL_RELAYD_RX_S_BODY: {
			size_t take = (size_t)CL_MIN(rx->body_left, (uint64_t)(len - used));

			if (take == 0)
				goto out;
			ev.type = CL_RELAYD_RX_BODY;
			ev.payload = data + used;
			ev.len = take;
			used += take;
			rx->body_left -= take;
			if (rx->body_left == 0)
				rx->state = CL_RELAYD_RX_S_BODY_DONE;
			break;
		}
		case CL_RELAYD_RX_S_BODY_DONE:
			ev.type = CL_RELAYD_RX_BODY_END;
			start_header(rx);
			break;
		default:
			return -EINVAL;
		}
	}
out:
	*ret = ev;
	return (int)used;
fail:
	*ret = ev;
	return r;
}
