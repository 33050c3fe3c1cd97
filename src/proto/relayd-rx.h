/* SPDX-License-Identifier: MIT */
/*
 * Receive state machine of the relayd control and data sockets
 * (relayd-protocol.md §2.1, §2.3, §2.5): bytes in, events out, no I/O. The
 * relay feeds it what recv() returned; the fuzzer and the unit tests feed it
 * arbitrary splits of arbitrary bytes.
 *
 * Framing:
 * - control socket: 24-byte header, then data_size payload bytes. The
 *   payload is buffered and handed over whole (CL_RELAYD_RX_COMMAND), except
 *   for SEND_METADATA (CL_RELAYD_RX_METADATA_START), whose 12-byte
 *   sub-header is decoded (CL_RELAYD_RX_METADATA) and whose metadata bytes
 *   are streamed
 *   (CL_RELAYD_RX_BODY... then CL_RELAYD_RX_BODY_END).
 * - data socket: 32-byte header (CL_RELAYD_RX_PACKET), then data_size packet
 *   bytes, streamed (CL_RELAYD_RX_BODY... then CL_RELAYD_RX_BODY_END).
 *
 * Bounds: a control header's data_size is checked against the caller's limit
 * for its command (`max_payload`) before any byte of the payload is taken:
 * over it, cl_relayd_rx_feed() fails with -E2BIG. The payload buffer grows
 * with the bytes that actually arrive, never to the announced size at once.
 * Streamed bodies are never buffered; data packet sizes are the caller's to
 * check when it gets CL_RELAYD_RX_PACKET (they are u32 on the wire).
 *
 * Errors are final: after a negative return the machine must not be fed
 * again (the connection is closed), but cl_relayd_rx_release() is still due.
 */
#ifndef CL_PROTO_RELAYD_RX_H
#define CL_PROTO_RELAYD_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grow.h"
#include "relayd-proto.h"

enum cl_relayd_rx_socket {
	CL_RELAYD_RX_CONTROL,
	CL_RELAYD_RX_DATA,
};

enum cl_relayd_rx_event_type {
	CL_RELAYD_RX_NONE,           /* every byte given was consumed, nothing complete yet */
	CL_RELAYD_RX_COMMAND,        /* control message complete: hdr, payload */
	CL_RELAYD_RX_METADATA_START, /* SEND_METADATA header: hdr; the sub-header follows */
	CL_RELAYD_RX_METADATA,       /* SEND_METADATA sub-header: hdr, metadata; body follows */
	CL_RELAYD_RX_PACKET,         /* data header: data_hdr; body follows */
	CL_RELAYD_RX_BODY,           /* body bytes: payload (borrowed from the input) */
	CL_RELAYD_RX_BODY_END,       /* the body of the last METADATA or PACKET is complete */
};

struct cl_relayd_rx_event {
	enum cl_relayd_rx_event_type type;
	struct cl_relayd_hdr hdr;               /* COMMAND, METADATA_START, METADATA */
	struct cl_relayd_metadata_hdr metadata; /* METADATA */
	struct cl_relayd_data_hdr data_hdr;     /* PACKET */
	/* COMMAND: the whole payload; BODY: the bytes received. Borrowed from the
	 * input or from the machine, valid until the next feed. */
	const uint8_t *payload;
	size_t len;
};

/* Largest control payload accepted for `cmd`, in bytes. */
typedef uint64_t (*cl_relayd_rx_limit_fn)(uint32_t cmd, void *userdata);

enum cl_relayd_rx_state {
	CL_RELAYD_RX_S_HEADER,
	CL_RELAYD_RX_S_PAYLOAD,   /* control payload, buffered */
	CL_RELAYD_RX_S_MD_HEADER, /* SEND_METADATA sub-header */
	CL_RELAYD_RX_S_BODY,      /* metadata or packet bytes, streamed */
	CL_RELAYD_RX_S_BODY_DONE, /* body complete: BODY_END is next */
};

/* The machine; treat fields as private. Zero-initialise, then cl_relayd_rx_init(). */
struct cl_relayd_rx {
	enum cl_relayd_rx_socket socket;
	enum cl_relayd_rx_state state;
	cl_relayd_rx_limit_fn limit;
	void *limit_data;
	uint8_t hdr[CL_RELAYD_DATA_HDR_SIZE]; /* header bytes received so far */
	size_t hdr_have;
	struct cl_relayd_hdr chdr;
	struct cl_buf payload; /* owned: a control payload split across feeds */
	size_t payload_len;    /* bytes announced */
	uint64_t body_left;    /* bytes of the streamed body still to come */
};

/* Sets up a machine for one socket; `limit` is required for control sockets. */
void cl_relayd_rx_init(struct cl_relayd_rx *rx, enum cl_relayd_rx_socket socket,
		       cl_relayd_rx_limit_fn limit, void *userdata);
/* Frees the payload buffer. */
void cl_relayd_rx_release(struct cl_relayd_rx *rx);

/*
 * Consumes bytes of data[0, len) up to and including the first event, and
 * stores it in *ret (CL_RELAYD_RX_NONE when all `len` bytes were consumed
 * without completing one). Returns the number of bytes consumed (which may
 * be 0 for an event that needs no input, such as the BODY_END of an empty
 * body), or:
 *   -E2BIG    a control payload over its limit (ret->hdr is the header);
 *   -EPROTO   a SEND_METADATA shorter than its sub-header (ret->hdr);
 *   -ENOMEM   no memory for a payload.
 * Call again with the remaining bytes (or none) until it returns NONE.
 */
int cl_relayd_rx_feed(struct cl_relayd_rx *rx, const uint8_t *data, size_t len,
		      struct cl_relayd_rx_event *ret);

/*
 * How many bytes the current message still needs before the next event (at
 * least 1): reading no more than this keeps every read inside one message.
 * Streamed bodies count in full (callers read them in pieces).
 */
uint64_t cl_relayd_rx_want(const struct cl_relayd_rx *rx);

/* True between messages (no byte of a message received yet). */
bool cl_relayd_rx_idle(const struct cl_relayd_rx *rx);

#endif
