/* SPDX-License-Identifier: MIT */
/*
 * Internals of the LTTng live viewer client (include/ctflive/live.h), shared
 * by its two pieces:
 *   live-client.c        connection, handshake, socket I/O, request/reply
 *                        round trips, LIST_SESSIONS, free
 *   live-client-items.c  item queue, ATTACH_SESSION, GET_NEW_STREAMS,
 *                        GET_METADATA, GET_NEXT_INDEX, GET_PACKET
 *
 * Object graph: the client owns its sessions (relay sessions attached), its
 * traces (one per relay CTF trace id: a metadata stream and its data
 * streams), its data streams, and the item queue (each queued item owns its
 * bytes; the last popped item is kept alive until the next call).
 */
#ifndef CL_LIVE_CLIENT_INTERNAL_H
#define CL_LIVE_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/live.h"
#include "live-proto.h"

struct session {
	uint64_t id;
	bool ended;
};

struct trace {
	uint64_t id;
	uint64_t session_id;
	uint64_t metadata_stream_id;
	bool has_metadata_stream;
	bool metadata_closed; /* GET_METADATA answered ERR: nothing more will come */
	bool need_metadata;
	uint64_t metadata_total; /* bytes received */
	size_t data_streams;     /* live data streams of this trace */
	char *path;              /* owned: path name of its first stream record, or NULL */
};

struct stream {
	uint64_t id;
	uint64_t trace_id;
	uint64_t session_id;
};

struct qitem {
	struct ctflive_live_item item;
	uint8_t *data; /* owned */
	char *path;    /* owned */
	char *channel; /* owned */
};

struct ctflive_live_client {
	int fd;
	int timeout_ms;
	uint32_t major, minor;
	int broken; /* 0, or the error that broke the connection */
	char err[512];

	bool viewer_session; /* CREATE_SESSION done */
	bool need_new_streams;
	bool end_queued;
	bool index_pending;      /* a GET_NEXT_INDEX was sent, its reply not read */
	uint64_t pending_stream; /* the stream it is about */

	struct session *sessions; /* owned */
	size_t nsessions, sessions_cap;
	struct trace *traces; /* owned */
	size_t ntraces, traces_cap;
	struct stream *streams; /* owned */
	size_t nstreams, streams_cap;

	struct qitem *q; /* owned ring */
	size_t qhead, qlen, qcap;
	struct qitem cur; /* last item popped; owns its bytes until the next pop */
};

/* live-client.c */

/* Sets the error message and returns r. */
__attribute__((format(printf, 3, 4))) int cl_live_client_set_err(struct ctflive_live_client *c,
								 int r, const char *fmt, ...);
/* Records a fatal error: the connection is out of sync or gone. */
__attribute__((format(printf, 3, 4))) int cl_live_client_set_broken(struct ctflive_live_client *c,
								    int r, const char *fmt, ...);
int cl_live_client_recv_all(struct ctflive_live_client *c, void *dst, size_t n, uint32_t cmd);
/* Sends header + payload in one write (lttng-tools b6025e947: Nagle stalls). */
int cl_live_client_send_cmd(struct ctflive_live_client *c, uint32_t cmd, const uint8_t *payload,
			    size_t len);
/*
 * Whether the reply to the request in flight can be read now, or within
 * `timeout_ms` (0: no wait; the socket is polled): 1, 0 when not yet (or no
 * request is in flight), or the client's fatal error (the relay hung up).
 */
int cl_live_client_reply_ready(struct ctflive_live_client *c, int timeout_ms);
/* Receives exactly `size` bytes into buf and returns a cursor over them. */
int cl_live_client_recv_fixed(struct ctflive_live_client *c, uint32_t cmd, uint8_t *buf,
			      size_t size, struct cl_rbuf *ret);
/* Sends request `cmd` and reads its fixed-size reply into rep (`size` bytes). */
int cl_live_client_round_trip(struct ctflive_live_client *c, uint32_t cmd, const uint8_t *req,
			      size_t req_len, uint8_t *rep, size_t size, struct cl_rbuf *ret);
/* Records a malformed reply to `cmd` (decode error r) as a fatal error. */
int cl_live_client_malformed(struct ctflive_live_client *c, uint32_t cmd, int r);
/* LIST_SESSIONS: *ret (to free) holds *ret_n sessions. */
int cl_live_client_list_sessions(struct ctflive_live_client *c, struct cl_live_session **ret,
				 size_t *ret_n);

/* live-client-items.c */

/* Frees what a queued item owns and clears it. */
void cl_live_client_qitem_release(struct qitem *it);
/*
 * Asks the relay for the metadata of trace `trace_id` it has not sent yet
 * (GET_METADATA until NO_NEW_METADATA) and queues it as METADATA items, even
 * though no index reply asked for it. 0 (also for an unknown trace or one
 * whose metadata stream is closed) or the client's fatal error.
 */
int cl_live_client_fetch_metadata(struct ctflive_live_client *c, uint64_t trace_id);
/*
 * GET_NEXT_INDEX in two halves, so that a viewer can do something else (flush
 * its output, wait on the socket) while the relay holds the request until it
 * has news (live-protocol.md: one request at a time, replies in order).
 * _send() sends the request for data stream `stream_id` (receiving first the
 * reply of one still in flight); _finish() receives and handles its reply
 * exactly as ctflive_live_client_request_index() (a no-op when nothing is in
 * flight). Any other request receives the reply in flight first
 * (cl_live_client_send_cmd()). 0, -EINVAL (unknown stream) or the client's
 * fatal error.
 */
int cl_live_client_index_send(struct ctflive_live_client *c, uint64_t stream_id);
int cl_live_client_index_finish(struct ctflive_live_client *c);

#endif
