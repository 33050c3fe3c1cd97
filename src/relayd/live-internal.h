/* SPDX-License-Identifier: MIT */
/*
 * The live viewer server, inside the relay (its entry points are live.h).
 * Two files, one concern each:
 *
 *   live-conn.c    viewer connections: accept, request framing (header,
 *                  then the command's fixed payload), close, collect
 *   live-server.c  the viewer commands: viewer sessions and streams, index
 *                  entries, packets and metadata handed to viewers
 *
 * Socket plumbing (send queue, deferred close) is sock.c's.
 */
#ifndef CL_RELAYD_LIVE_INTERNAL_H
#define CL_RELAYD_LIVE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"
#include "live-proto.h"
#include "relay.h"
#include "sock.h"

struct vstream {
	struct cl_list_node node; /* in viewer->streams */
	struct stream *st;        /* ref (st->viewer_refs); NULL once done */
	uint64_t handle;          /* st->handle, kept once done */
	/*
	 * Finished (data: HUP given; metadata: ERR given). Kept, without its
	 * stream ref, while the relay stream exists, so that the stream is
	 * never offered again to this viewer (another viewer may still hold
	 * it), and answered like an unknown id.
	 */
	bool done;
	struct session *session; /* borrowed: attached, outlives us */
	uint64_t next_entry;     /* index entry to hand out next */
	uint64_t cur_gen;        /* segment of the last index handed out */
	uint64_t pkt_offset;     /* bytes: the packet of the last index handed out, */
	uint64_t pkt_len;        /* the only bytes GET_PACKET may ask for */
	bool has_index;
	bool sent;              /* stream record sent to the viewer */
	uint64_t metadata_sent; /* bytes */
	bool no_new_given;      /* metadata: NO_NEW answered since the last bytes */
};

struct vattach {
	struct cl_list_node node; /* in viewer->attached */
	struct session *session;  /* ref (session->viewer_refs) */
};

struct viewer {
	struct sock sock;  /* in live->viewers */
	struct live *live; /* borrowed */
	bool connected;    /* CONNECT done */
	bool has_session;  /* CREATE_SESSION done */
	uint32_t minor;    /* negotiated: min(viewer's, ours); >= 15: CTF 2 sessions */
	uint64_t id;
	struct cl_list attached; /* struct vattach */
	struct cl_list streams;  /* struct vstream */
	uint8_t rx[CL_LIVE_CMD_HDR_SIZE + 32];
	size_t rx_have, rx_need;
	uint32_t cmd;
};

struct live {
	struct relay *relay;
	struct sock_set viewers;
	uint64_t next_viewer_id;
};

/* Closes the viewer's connection (logged at debug level with `why`). */
static inline void viewer_close(struct viewer *v, const char *why)
{
	sock_close(&v->sock, true, why);
}

/* ---- live-server.c ---- */
/* Runs the request in v->rx (v->cmd, its payload). 0, or -errno: close the viewer. */
int live_dispatch(struct viewer *v);
/* Detaches every session and drops every viewer stream (the viewer is closing). */
void live_viewer_release(struct viewer *v);

#endif
