/* SPDX-License-Identifier: MIT */
/*
 * Control and data connections of the relayd protocol, inside the relay
 * (the relay's entry points are in relay.h). Three files, one concern each:
 *
 *   conn.c       the connection: accept, read, feed the receive state
 *                machine (src/proto/relayd-rx.h), route its events, close
 *   conn-ctrl.c  control commands: the command table and its handlers,
 *                SEND_METADATA
 *   conn-data.c  the data socket: packet headers and ends
 *
 * Socket plumbing (send queue, deferred close) is sock.c's.
 *
 * Errors: a malformed message, an unknown command or an I/O error closes that
 * connection with one log line (after the reply LTTng peers expect, if any);
 * the rest of the relay carries on. After an error reply carrying a length
 * field the connection is always closed (§10.2: the session daemon would
 * otherwise block forever on a zero-length read).
 */
#ifndef CL_RELAYD_CONN_H
#define CL_RELAYD_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "relay.h"
#include "relayd-rx.h"
#include "sock.h"

struct conn {
	struct sock sock;    /* in relay->conns */
	struct relay *relay; /* borrowed */
	enum conn_kind kind;
	const char *refused;     /* static text: why a receive check failed, to log at close */
	struct session *session; /* control: its session; data: bound session */
	bool version_done;
	uint32_t minor;
	struct cl_relayd_rx rx;
	struct stream *stream; /* busy ref while a body is being received */
	uint64_t net_seq_num;  /* data: packet being received */
	uint64_t padding;      /* bytes appended after the body */
	/* data: body bytes received but not yet written, inside the read buffer
	 * (written with the padding at the packet's end, or before the buffer
	 * is reused) */
	const uint8_t *tail;
	size_t tail_len;
	/* control: bytes read but not handled yet (requests behind a reply
	 * that filled the send queue), from in_off on; at most CTRL_READ */
	struct cl_buf in;
	size_t in_off;
	int close_error;   /* -errno that closed the connection, 0: none */
	bool write_failed; /* a batched write failed: queued replies are not sent */
};

/* A receive check failed: returns r, and `why` becomes the closing log line's reason. */
static inline int conn_refuse(struct conn *c, int r, const char *why)
{
	c->refused = why;
	return r;
}

/* Finds a stream of this connection's session, or NULL. */
struct stream *conn_own_stream(struct conn *c, uint64_t handle);

/* ---- conn-ctrl.c ---- */
/* Largest payload accepted for control command `cmd` (the table's), bytes. */
uint64_t ctrl_max_payload(uint32_t cmd, void *userdata);
/* A whole control message arrived: checks it against the table and runs it. */
int ctrl_dispatch(struct conn *c, const struct cl_relayd_hdr *hdr, const uint8_t *p, size_t n);
/* SEND_METADATA header: refused without a session (the table says so). */
int ctrl_metadata_start(struct conn *c, const struct cl_relayd_hdr *hdr);
/* SEND_METADATA sub-header: picks the stream its bytes go to. */
int ctrl_metadata_begin(struct conn *c, const struct cl_relayd_hdr *hdr,
			const struct cl_relayd_metadata_hdr *mh);
/* End of a SEND_METADATA's bytes. */
int ctrl_metadata_end(struct conn *c);

/* ---- conn-data.c ---- */
/* Data header: checks it and starts the packet. */
int data_packet_begin(struct conn *c, const struct cl_relayd_data_hdr *dh);
/* End of a packet's bytes. */
int data_packet_end(struct conn *c);

#endif
