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

/* Bytes of one GET_METADATA reply at most (after its header). */
#define LIVE_MAX_METADATA_REPLY (1u << 20)

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
	bool is_metadata;
	bool no_hold;            /* requests about it are never held (hold_allowed()) */
	struct session *session; /* borrowed: attached, outlives us */
	struct vattach *att;     /* borrowed: the attachment of `session`, outlives us */
	uint64_t meta_handle;    /* handle of its trace's metadata stream */
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
	size_t n_live;            /* its viewer streams not done */
	size_t n_live_data;       /* same, data streams only */
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
	/*
	 * The same viewer streams by handle: open addressing, linear probing,
	 * vmap_cap a power of two (0: none yet), at most 3/4 full. Requests
	 * name streams by handle; a viewer of 10 000 streams must not scan.
	 */
	struct vstream **vmap;
	size_t vmap_cap, vmap_n;
	size_t n_unsent; /* viewer streams whose record was not sent yet */
	size_t n_done;   /* viewer streams done (kept while their relay stream exists) */
	uint8_t rx[CL_LIVE_CMD_HDR_SIZE + 32];
	size_t rx_have, rx_need;
	uint32_t cmd;
	/* A request with nothing new to answer yet, held (live-server.c). */
	bool waiting;
	struct cl_list_node wait_node; /* in live->waiting while waiting */
	uint32_t wait_cmd;
	uint64_t wait_id;       /* its stream or session id */
	uint64_t wait_gen;      /* sum of the attached sessions' live_gen when last looked at */
	uint64_t wait_deadline; /* CLOCK_MONOTONIC ns: answered as it stands then */
	uint64_t wait_ns;       /* the hold bound of the request being held, ns */
};

struct live {
	struct relay *relay;
	struct sock_set viewers;
	uint64_t next_viewer_id;
	struct cl_list waiting; /* struct viewer (wait_node) */
	struct cl_watch timer;  /* timerfd: the earliest deadline of a waiting viewer */
	uint64_t timer_armed;   /* deadline the timer is armed for, 0: none */
};

/* Closes the viewer's connection (logged at debug level with `why`). */
static inline void viewer_close(struct viewer *v, const char *why)
{
	sock_close(&v->sock, true, why);
}

/* ---- live-server.c ---- */
/*
 * Runs the request in v->rx (v->cmd, its payload). 0 (answered, or held:
 * v->waiting), or -errno: close the viewer.
 */
int live_dispatch(struct viewer *v);
/* The viewer is closing: it stops waiting (no answer). */
void live_viewer_stop_waiting(struct viewer *v);
/*
 * Answers the held requests that have news (something published for their
 * viewer) or whose deadline passed, then arms the timer for the next
 * deadline. Runs before the loop sleeps.
 */
void live_answer_waiting(struct live *l);
/* Frees what the held requests use (the timer); viewers are closed. */
void live_server_fini(struct live *l);
/* Detaches every session and drops every viewer stream (the viewer is closing). */
void live_viewer_release(struct viewer *v);

#endif
