/* SPDX-License-Identifier: MIT */
/*
 * The live viewer server: the LTTng live protocol as babeltrace2 2.0.4 and
 * Trace Compass expect it from lttng-relayd 2.13 (live-protocol.md §1–§3),
 * with ctflive's deliberate differences:
 *
 * - Any number of viewers per session. Each viewer connection has its own
 *   viewer session and its own viewer streams: position in the index,
 *   metadata offset, "sent" flag. A connection can only touch the streams of
 *   sessions it attached (lttng-relayd shares one global table).
 * - A viewer is handed an index entry only once the packet and the entry are
 *   published: durable on disk under the default sync policy (DESIGN point 2).
 * - NEW_STREAM is raised on every GET_NEXT_INDEX reply while this viewer has
 *   streams it was not told about (DESIGN point 5); streams published while a
 *   viewer is attached get viewer streams at once, from the beginning, so
 *   short-lived applications are never missed.
 * - Index entries whose offset is all ones (packets lost in transit, DESIGN
 *   point 4) are skipped; the viewer sees the packet_seq_num gap.
 * - Requests are read without blocking, per connection; each reply is
 *   built whole and written with one send.
 * - A request whose answer would only say "nothing yet" (GET_NEXT_INDEX:
 *   RETRY; GET_METADATA: NO_NEW before any metadata; GET_NEW_STREAMS: no
 *   stream at all for that session) is held instead of answered, and
 *   answered exactly as it then stands once something is published for the
 *   viewer (an index, a beacon, metadata, a stream, a close) or the hold
 *   bound passed (HOLD_MS, off by default: see there). babeltrace2 sleeps 100 ms after every such
 * answer; holding removes that poll delay. While a request is held nothing more is read from that
 * viewer (replies keep their order); other viewers and the producers are served as usual.
 *
 * This file holds the viewer commands; connections are live-conn.c's (see
 * live-internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "ctf-index.h"
#include "io.h"
#include "live-internal.h"
#include "live-proto.h"
#include "live.h"
#include "log.h"
#include "relay.h"

#define MAX_PACKET_REPLY   (64u << 20) /* bytes of one GET_PACKET reply */
/* Bytes of send queues all viewers together may hold: past it, GET_PACKET
 * answers RETRY (viewers that do not read their replies hold them). */
#define MAX_VIEWERS_HELD   (256u << 20)
#define MAX_METADATA_REPLY (1u << 20) /* bytes of one GET_METADATA reply */

/*
 * Longest hold of a request that has nothing new to answer, milliseconds:
 * see live_answer_waiting(). 0: requests are never held (the default).
 * CTFLIVE_RELAYD_HOLD_MS (0 to 10000) in the relay's environment sets it.
 *
 * Off by default because of babeltrace2 2.0.4: it reads NEW_STREAM only on
 * OK replies, so a per-process buffer stream announced (ADD_STREAM) after
 * the relay received another stream's packet whose events are later than
 * the new stream's first events is learnt too late by a viewer that keeps
 * up with the relay, which then fails ("message older than the last one").
 * A viewer that sleeps 100 ms between polls usually learns of it in time.
 * The race is the producer's (the relay cannot know of a stream before
 * ADD_STREAM); holding only makes the viewer fast enough to hit it.
 */
#define HOLD_MS 0

/* How a request may be held. */
enum hold {
	HOLD_NEW,   /* a new request: held if it has nothing new */
	HOLD_WOKEN, /* something was published for the viewer: held only while RETRY */
	HOLD_NEVER, /* the deadline passed: answered as it stands */
};

#define HELD 1 /* returned by a command that did not answer */

static uint64_t hold_ns(void);

/* How a new request may be held (not at all when the hold is 0 ms). */
static enum hold first_hold(void)
{
	return hold_ns() > 0 ? HOLD_NEW : HOLD_NEVER;
}

/* ---- replies ---- */

static uint8_t *out_reserve(struct viewer *v, size_t n)
{
	return sock_reserve(&v->sock, n);
}

/* Appends an encoded message; encode() writes into a cursor over `n` bytes. */
#define OUT_ENCODE(v, n, call)                                      \
	do {                                                        \
		uint8_t *p_ = out_reserve((v), (n));                \
		struct cl_wbuf wb_;                                 \
		if (!p_) {                                          \
			viewer_close((v), "out of memory");         \
			return -ENOMEM;                             \
		}                                                   \
		wb_ = cl_wbuf_make(p_, (n));                        \
		if ((call) < 0 || wb_.pos != (n)) {                 \
			viewer_close((v), "cannot encode a reply"); \
			return -EPROTO;                             \
		}                                                   \
		sock_commit(&(v)->sock, (n));                       \
	} while (0)

/* ---- viewer streams ---- */

static struct vattach *find_attach(struct viewer *v, uint64_t session_id)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &v->attached) {
		struct vattach *a = cl_container_of(n, struct vattach, node);

		if (a->session->id == session_id)
			return a;
	}
	return NULL;
}

static struct vstream *find_vstream(struct viewer *v, uint64_t handle)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);

		if (vs->handle == handle)
			return vs;
	}
	return NULL;
}

/* The viewer stream of `handle` if it is still being served, else NULL. */
static struct vstream *find_live_vstream(struct viewer *v, uint64_t handle)
{
	struct vstream *vs = find_vstream(v, handle);

	return vs && !vs->done ? vs : NULL;
}

/* The segment of the last index handed out to vs, or NULL. */
static struct segment *vstream_cur_segment(const struct vstream *vs)
{
	if (!vs->st || !vs->has_index)
		return NULL;
	for (size_t i = 0; i < vs->st->n_segs; i++)
		if (vs->st->segs[i].gen == vs->cur_gen)
			return &vs->st->segs[i];
	return NULL;
}

/* vs hands out an index entry of segment sg: sg's file stays readable for
 * the packet even if it is unlinked or deleted before the viewer asks. */
static void vstream_set_cur(struct vstream *vs, struct segment *sg)
{
	struct segment *old = vstream_cur_segment(vs);

	if (old == sg)
		return;
	segment_pin(sg);
	if (old)
		segment_unpin(old);
	vs->cur_gen = sg->gen;
	vs->has_index = true;
}

static void vstream_release(struct vstream *vs)
{
	cl_list_remove(&vs->node);
	if (vs->st) {
		struct segment *cur = vstream_cur_segment(vs);

		if (cur)
			segment_unpin(cur);
		vs->st->viewer_refs--;
	}
	free(vs);
}

/* Ends a viewer stream for good (HUP or final metadata ERR given). */
static void vstream_finish(struct vstream *vs)
{
	struct segment *cur = vstream_cur_segment(vs);

	if (cur)
		segment_unpin(cur);
	vs->st->viewer_refs--;
	vs->st = NULL;
	vs->done = true;
	vs->sent = true;
}

static struct stream *trace_metadata(struct session *s, uint64_t trace_id)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &s->streams) {
		struct stream *st = cl_container_of(n, struct stream, node);

		if (st->trace_id == trace_id && st->is_metadata && st->published)
			return st;
	}
	return NULL;
}

/*
 * Creates the viewer streams this viewer lacks for session `s`: every
 * published stream of a trace whose metadata stream is published, all of a
 * trace or none. `seek_last` starts data streams after what is already
 * published (closed streams are then skipped: nothing new can come).
 */
static int create_vstreams(struct viewer *v, struct session *s, bool seek_last)
{
	struct cl_list_node *n, *tmp;

	/* Finished viewer streams are kept only while their relay stream exists. */
	cl_list_for_each_safe (n, tmp, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);

		if (vs->done && vs->session == s && !stream_find_any(v->live->relay, vs->handle))
			vstream_release(vs);
	}
	cl_list_for_each (n, &s->streams) {
		struct stream *st = cl_container_of(n, struct stream, node);
		struct vstream *vs;

		if (!st->published || find_vstream(v, st->handle) ||
		    !trace_metadata(s, st->trace_id))
			continue;
		if (seek_last && st->closed && !st->is_metadata)
			continue;
		vs = calloc(1, sizeof(*vs));
		if (!vs)
			return -ENOMEM;
		vs->st = st;
		vs->handle = st->handle;
		vs->session = s;
		vs->next_entry = seek_last ? st->published_entries : 0;
		st->viewer_refs++;
		cl_list_append(&v->streams, &vs->node);
	}
	return 0;
}

static bool has_unsent_streams(struct viewer *v)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &v->streams) {
		if (!cl_container_of(n, struct vstream, node)->sent)
			return true;
	}
	return false;
}

static struct vstream *metadata_vstream(struct viewer *v, const struct vstream *data)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);

		if (!vs->done && vs->st->is_metadata && vs->session == data->session &&
		    vs->st->trace_id == data->st->trace_id)
			return vs;
	}
	return NULL;
}

/* Flags for a GET_NEXT_INDEX reply about `vs` (computed on every reply kind). */
static uint32_t index_flags(struct viewer *v, const struct vstream *vs)
{
	struct vstream *m = metadata_vstream(v, vs);
	uint32_t flags = 0;

	if (m && (m->st->metadata_published == 0 || m->st->metadata_published > m->metadata_sent))
		flags |= CL_LIVE_FLAG_NEW_METADATA;
	if (has_unsent_streams(v))
		flags |= CL_LIVE_FLAG_NEW_STREAM;
	return flags;
}

static int put_stream_records(struct viewer *v, struct session *s, uint32_t status,
			      bool attach_reply)
{
	struct cl_live_streams_reply hdr = { .status = status };
	struct cl_list_node *n;
	size_t hdr_at = v->sock.out.len;

	OUT_ENCODE(v, CL_LIVE_STREAMS_REPLY_SIZE,
		   attach_reply ? cl_live_attach_reply_encode(&wb_, &hdr)
				: cl_live_new_streams_reply_encode(&wb_, &hdr));
	if (status != CL_LIVE_ATTACH_OK)
		return 0;
	cl_list_for_each (n, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);
		struct cl_live_stream rec = { 0 };

		if (vs->session != s || vs->sent || vs->done)
			continue;
		rec.id = vs->st->handle;
		rec.ctf_trace_id = vs->st->trace_id;
		rec.metadata_flag = vs->st->is_metadata;
		(void)snprintf(rec.path_name, sizeof(rec.path_name), "%s", vs->st->pathname);
		(void)snprintf(rec.channel_name, sizeof(rec.channel_name), "%s",
			       vs->st->channel_name);
		OUT_ENCODE(v, CL_LIVE_STREAM_SIZE, cl_live_stream_encode(&wb_, &rec));
		vs->sent = true;
		hdr.streams_count++;
	}
	/* The count is that of the records written, by construction. */
	cl_store_be32(v->sock.out.data + hdr_at + 4, hdr.streams_count);
	return 0;
}

/* ---- commands ---- */

static int cmd_connect(struct viewer *v, struct cl_rbuf *rb)
{
	struct cl_live_connect req, rep = { 0 };

	if (cl_live_connect_decode(rb, &req) < 0 || req.major != CL_LIVE_VERSION_MAJOR ||
	    (req.type != CL_LIVE_CONN_COMMAND && req.type != CL_LIVE_CONN_NOTIFICATION)) {
		viewer_close(v, "bad CONNECT");
		return -EPROTO;
	}
	v->connected = true;
	if (req.type == CL_LIVE_CONN_COMMAND)
		v->id = ++v->live->next_viewer_id;
	rep.viewer_session_id = req.type == CL_LIVE_CONN_COMMAND ? v->id : 0;
	rep.major = CL_LIVE_VERSION_MAJOR;
	/* The live minor follows the relayd one, as in lttng-relayd. */
	rep.minor = CL_MIN(v->live->relay->max_minor, (uint32_t)CL_LIVE_SERVER_VERSION_MINOR);
	v->minor = CL_MIN(req.minor, rep.minor);
	OUT_ENCODE(v, CL_LIVE_CONNECT_SIZE, cl_live_connect_encode(&wb_, &rep));
	return 0;
}

/*
 * Whether viewer v may see session s: viewers below live protocol 2.15 know
 * nothing of trace formats and would decode CTF 2 as CTF 1.8, so CTF 2
 * sessions are not listed to them and refused at attach (ATTACH_UNK), as
 * lttng-relayd 2.15 does.
 */
static bool viewer_sees(const struct viewer *v, const struct session *s)
{
	return !s->connection_closed &&
	       (v->minor >= CL_LIVE_MINOR_2_15 || s->trace_format != CL_RELAYD_TRACE_FORMAT_CTF_2);
}

static int cmd_list_sessions(struct viewer *v)
{
	struct relay *relay = v->live->relay;
	struct cl_list_node *n;
	uint32_t count = 0;

	cl_list_for_each (n, &relay->sessions) {
		count += viewer_sees(v, cl_container_of(n, struct session, node));
	}
	OUT_ENCODE(v, CL_LIVE_LIST_REPLY_SIZE, cl_live_list_reply_encode(&wb_, count));
	cl_list_for_each (n, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);
		struct cl_live_session rec = { 0 };

		if (!viewer_sees(v, s))
			continue;
		rec.id = s->id;
		rec.live_timer = s->live_timer;
		rec.clients = s->viewer_refs;
		rec.streams = (uint32_t)CL_MIN(s->n_streams, (size_t)UINT32_MAX);
		/* Truncated to the wire fields rather than failing (§7.1). */
		(void)snprintf(rec.hostname, sizeof(rec.hostname), "%s", s->hostname);
		(void)snprintf(rec.session_name, sizeof(rec.session_name), "%s", s->session_name);
		rec.trace_format = cl_relayd_trace_format_to_live(s->trace_format);
		if (v->minor >= CL_LIVE_MINOR_2_15)
			OUT_ENCODE(v, cl_live_session_size_2_15(&rec),
				   cl_live_session_encode_2_15(&wb_, &rec));
		else
			OUT_ENCODE(v, CL_LIVE_SESSION_SIZE, cl_live_session_encode(&wb_, &rec));
	}
	return 0;
}

static int cmd_create_session(struct viewer *v)
{
	v->has_session = true;
	OUT_ENCODE(v, CL_LIVE_STATUS_REPLY_SIZE,
		   cl_live_create_session_reply_encode(&wb_, CL_LIVE_CREATE_SESSION_OK));
	return 0;
}

static int cmd_attach(struct viewer *v, struct cl_rbuf *rb)
{
	struct cl_live_attach_request req;
	struct session *s;
	struct vattach *a;
	uint32_t status;

	if (cl_live_attach_request_decode(rb, &req) < 0)
		return -EPROTO;
	s = session_find(v->live->relay, req.session_id);
	if (!v->has_session)
		status = CL_LIVE_ATTACH_NO_SESSION;
	else if (!s || !viewer_sees(v, s))
		status = CL_LIVE_ATTACH_UNK;
	else if (s->live_timer == 0)
		status = CL_LIVE_ATTACH_NOT_LIVE;
	else if (find_attach(v, s->id))
		status = CL_LIVE_ATTACH_ALREADY;
	else if (req.seek != CL_LIVE_SEEK_BEGINNING && req.seek != CL_LIVE_SEEK_LAST)
		status = CL_LIVE_ATTACH_SEEK_ERR; /* checked before attaching (§7.1) */
	else
		status = CL_LIVE_ATTACH_OK;
	if (status != CL_LIVE_ATTACH_OK)
		return put_stream_records(v, NULL, status, true);

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->session = s;
	s->viewer_refs++;
	cl_list_append(&v->attached, &a->node);
	if (create_vstreams(v, s, req.seek == CL_LIVE_SEEK_LAST) < 0)
		return -ENOMEM;
	log_debug("%s: attached session %llu", v->sock.peer, (unsigned long long)s->id);
	return put_stream_records(v, s, CL_LIVE_ATTACH_OK, true);
}

/* True once the producer is gone and this viewer has nothing left to read of `s`. */
static bool session_drained(struct viewer *v, struct session *s)
{
	struct cl_list_node *n;

	if (!s->connection_closed)
		return false;
	cl_list_for_each (n, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);

		if (vs->session == s && !vs->done && !vs->st->is_metadata)
			return false;
	}
	return true;
}

/* True while this viewer has no stream of `s` being served or to announce. */
static bool no_stream_of(struct viewer *v, const struct session *s)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);

		if (vs->session == s && !vs->done)
			return false;
	}
	return true;
}

static int get_new_streams(struct viewer *v, uint64_t id, enum hold hold)
{
	struct vattach *a = find_attach(v, id);

	if (!a)
		return put_stream_records(v, NULL, CL_LIVE_NEW_STREAMS_ERR, false);
	if (create_vstreams(v, a->session, false) < 0)
		return put_stream_records(v, NULL, CL_LIVE_NEW_STREAMS_ERR, false);
	if (!has_unsent_streams(v) && session_drained(v, a->session))
		return put_stream_records(v, NULL, CL_LIVE_NEW_STREAMS_HUP, false);
	/* "OK, 0 streams" while none exists: babeltrace2 polls it. */
	if (hold == HOLD_NEW && no_stream_of(v, a->session) && !a->session->connection_closed)
		return HELD;
	return put_stream_records(v, a->session, CL_LIVE_NEW_STREAMS_OK, false);
}

static int cmd_get_new_streams(struct viewer *v, struct cl_rbuf *rb, uint64_t *ret_id)
{
	if (cl_live_new_streams_request_decode(rb, ret_id) < 0)
		return -EPROTO;
	return get_new_streams(v, *ret_id, first_hold());
}

static int put_index(struct viewer *v, const struct cl_live_index *ix)
{
	OUT_ENCODE(v, CL_LIVE_INDEX_SIZE, cl_live_index_encode(&wb_, ix));
	return 0;
}

/* Reads index entry `entry` of `st` from its segment's index file. */
static int read_entry(struct stream *st, struct segment *sg, uint64_t entry,
		      struct cl_live_index *ret)
{
	uint32_t esz = st->index_entry_size;
	uint8_t buf[CL_INDEX_ENTRY_SIZE_1_1];
	struct cl_rbuf rb = cl_rbuf_make(buf, esz);
	struct cl_index_entry e;
	int r;

	if (sg->index_fd < 0)
		return -ENOENT;
	r = cl_pread_full(sg->index_fd, buf, esz, cl_index_entry_pos(entry - sg->first_entry, esz));
	if (r == 0)
		r = cl_index_entry_decode(&rb, esz, &e);
	if (r < 0)
		return r;
	ret->offset = e.offset;
	ret->packet_size = e.packet_size;
	ret->content_size = e.content_size;
	ret->timestamp_begin = e.timestamp_begin;
	ret->timestamp_end = e.timestamp_end;
	ret->events_discarded = e.events_discarded;
	ret->stream_id = e.stream_id;
	return 0;
}

static int get_next_index(struct viewer *v, uint64_t id, enum hold hold)
{
	struct cl_live_index ix = { 0 };
	struct vstream *vs;
	struct stream *st;
	bool drained;

	vs = find_live_vstream(v, id);
	if (!vs) {
		ix.status = CL_LIVE_INDEX_ERR;
		return put_index(v, &ix);
	}
	st = vs->st;
	ix.flags = index_flags(v, vs);
	if (st->is_metadata) {
		ix.status = CL_LIVE_INDEX_HUP;
		return put_index(v, &ix);
	}

	while (vs->next_entry < st->published_entries) {
		struct segment *sg = stream_segment_of(st, vs->next_entry);
		int r;

		if (!sg) {
			vs->next_entry++;
			continue;
		}
		if (sg->gone) {
			/* Overwritten by the tracefile ring, or cleared: skip the file. */
			vs->next_entry = sg->first_entry + sg->n_entries;
			continue;
		}
		r = read_entry(st, sg, vs->next_entry, &ix);
		if (r < 0) {
			log_warning_errno(r, "stream %llu: cannot read index entry %llu",
					  (unsigned long long)st->handle,
					  (unsigned long long)vs->next_entry);
			ix = (struct cl_live_index){ .status = CL_LIVE_INDEX_ERR };
			return put_index(v, &ix);
		}
		vs->next_entry++;
		if (ix.offset == CL_INDEX_LOST_OFFSET)
			continue; /* lost in transit: the viewer sees the packet_seq_num gap */
		vstream_set_cur(vs, sg);
		vs->pkt_offset = ix.offset;
		vs->pkt_len = ix.packet_size / 8;
		ix.status = CL_LIVE_INDEX_OK;
		ix.flags = index_flags(v, vs);
		return put_index(v, &ix);
	}

	drained = st->published_entries == st->index_entries;
	memset(&ix, 0, offsetof(struct cl_live_index, status));
	if (drained && (st->closed || vs->session->connection_closed)) {
		ix.status = CL_LIVE_INDEX_HUP;
		vstream_finish(vs);
	} else if (drained && st->has_beacon) {
		ix.status = CL_LIVE_INDEX_INACTIVE;
		ix.timestamp_end = st->beacon_ts_end;
		ix.stream_id = st->ctf_stream_id;
	} else {
		/* RETRY stalls the viewer whatever its other streams have: held
		 * until this stream has something or the deadline. */
		if (hold != HOLD_NEVER && ix.flags == 0)
			return HELD;
		ix.status = CL_LIVE_INDEX_RETRY;
	}
	return put_index(v, &ix);
}

static int cmd_get_next_index(struct viewer *v, struct cl_rbuf *rb, uint64_t *ret_id)
{
	if (cl_live_get_next_index_decode(rb, ret_id) < 0)
		return -EPROTO;
	return get_next_index(v, *ret_id, first_hold());
}

static int put_packet_error(struct viewer *v)
{
	struct cl_live_packet_reply rep = { .status = CL_LIVE_PACKET_ERR };

	OUT_ENCODE(v, CL_LIVE_PACKET_REPLY_SIZE, cl_live_packet_reply_encode(&wb_, &rep));
	return 0;
}

static int cmd_get_packet(struct viewer *v, struct cl_rbuf *rb)
{
	struct cl_live_get_packet req;
	struct cl_live_packet_reply rep = { .status = CL_LIVE_PACKET_OK };
	struct segment *sg = NULL;
	struct vstream *vs;
	uint8_t *data;

	if (cl_live_get_packet_decode(rb, &req) < 0)
		return -EPROTO;
	vs = find_live_vstream(v, req.stream_id);
	if (vs)
		sg = vstream_cur_segment(vs);
	/* Only published bytes of the file of the last index handed out (kept
	 * open for this viewer even if a clear or the ring removed the file),
	 * within the packet that index describes: a viewer cannot make the
	 * relay read and hold more than the packet it was given. */
	if (!sg || sg->data_fd < 0 || req.len > MAX_PACKET_REPLY || req.offset > sg->synced_size ||
	    req.len > sg->synced_size - req.offset || req.offset < vs->pkt_offset ||
	    req.offset - vs->pkt_offset > vs->pkt_len ||
	    req.len > vs->pkt_len - (req.offset - vs->pkt_offset))
		return put_packet_error(v);
	if (v->sock.set->out_held + req.len > MAX_VIEWERS_HELD) {
		struct cl_live_packet_reply retry = { .status = CL_LIVE_PACKET_RETRY };

		OUT_ENCODE(v, CL_LIVE_PACKET_REPLY_SIZE, cl_live_packet_reply_encode(&wb_, &retry));
		return 0;
	}

	rep.len = req.len;
	data = out_reserve(v, CL_LIVE_PACKET_REPLY_SIZE + (size_t)req.len);
	if (!data) {
		viewer_close(v, "out of memory");
		return -ENOMEM;
	}
	if (req.len > 0 &&
	    cl_pread_full(sg->data_fd, data + CL_LIVE_PACKET_REPLY_SIZE, req.len, req.offset) < 0)
		return put_packet_error(v);
	{
		struct cl_wbuf wb = cl_wbuf_make(data, CL_LIVE_PACKET_REPLY_SIZE);

		if (cl_live_packet_reply_encode(&wb, &rep) < 0)
			return -EPROTO;
	}
	sock_commit(&v->sock, CL_LIVE_PACKET_REPLY_SIZE + (size_t)req.len);
	return 0;
}

static int put_metadata_status(struct viewer *v, uint32_t status)
{
	struct cl_live_metadata_reply rep = { .status = status };

	OUT_ENCODE(v, CL_LIVE_METADATA_REPLY_SIZE, cl_live_metadata_reply_encode(&wb_, &rep));
	return 0;
}

static int get_metadata(struct viewer *v, uint64_t id, enum hold hold)
{
	struct cl_live_metadata_reply rep = { .status = CL_LIVE_METADATA_OK };
	struct segment *sg;
	struct vstream *vs;
	struct stream *st;
	uint8_t *data;

	vs = find_live_vstream(v, id);
	if (!vs || !vs->st->is_metadata)
		return put_metadata_status(v, CL_LIVE_METADATA_ERR);
	st = vs->st;
	sg = st->n_segs ? &st->segs[st->n_segs - 1] : NULL;
	if (!sg || sg->gone || vs->metadata_sent >= st->metadata_published) {
		/* Ended only once all it received is published (or never will be). */
		if ((st->closed || vs->session->connection_closed) && vs->no_new_given &&
		    (st->metadata_published >= st->complete_size || st->session->sync_error)) {
			/* Once closed: one NO_NEW after the last bytes, then ERR (§2.7). */
			vstream_finish(vs);
			return put_metadata_status(v, CL_LIVE_METADATA_ERR);
		}
		/* NO_NEW before any metadata: babeltrace2 polls it. (NO_NEW after
		 * bytes ends its fetch loop: answered at once.) */
		if (hold == HOLD_NEW && vs->metadata_sent == 0 && !st->closed &&
		    !vs->session->connection_closed)
			return HELD;
		vs->no_new_given = true;
		return put_metadata_status(v, CL_LIVE_METADATA_NO_NEW);
	}
	rep.len = CL_MIN(st->metadata_published - vs->metadata_sent, (uint64_t)MAX_METADATA_REPLY);
	data = out_reserve(v, CL_LIVE_METADATA_REPLY_SIZE + (size_t)rep.len);
	if (!data) {
		viewer_close(v, "out of memory");
		return -ENOMEM;
	}
	if (cl_pread_full(sg->data_fd, data + CL_LIVE_METADATA_REPLY_SIZE, (size_t)rep.len,
			  vs->metadata_sent) < 0)
		return put_metadata_status(v, CL_LIVE_METADATA_ERR);
	{
		struct cl_wbuf wb = cl_wbuf_make(data, CL_LIVE_METADATA_REPLY_SIZE);

		if (cl_live_metadata_reply_encode(&wb, &rep) < 0)
			return -EPROTO;
	}
	sock_commit(&v->sock, CL_LIVE_METADATA_REPLY_SIZE + (size_t)rep.len);
	vs->metadata_sent += rep.len;
	vs->no_new_given = false;
	return 0;
}

static int cmd_get_metadata(struct viewer *v, struct cl_rbuf *rb, uint64_t *ret_id)
{
	if (cl_live_get_metadata_decode(rb, ret_id) < 0)
		return -EPROTO;
	return get_metadata(v, *ret_id, first_hold());
}

static void detach(struct viewer *v, struct vattach *a)
{
	struct cl_list_node *n, *tmp;

	cl_list_for_each_safe (n, tmp, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);

		if (vs->session == a->session)
			vstream_release(vs);
	}
	a->session->viewer_refs--;
	cl_list_remove(&a->node);
	free(a);
}

static int cmd_detach(struct viewer *v, struct cl_rbuf *rb)
{
	struct vattach *a;
	uint32_t status;
	uint64_t id;

	if (cl_live_detach_request_decode(rb, &id) < 0)
		return -EPROTO;
	a = find_attach(v, id);
	if (!v->has_session)
		status = CL_LIVE_DETACH_ERR;
	else if (!session_find(v->live->relay, id))
		status = CL_LIVE_DETACH_UNK;
	else if (!a)
		status = CL_LIVE_DETACH_ERR;
	else {
		detach(v, a);
		status = CL_LIVE_DETACH_OK;
	}
	OUT_ENCODE(v, CL_LIVE_STATUS_REPLY_SIZE, cl_live_detach_reply_encode(&wb_, status));
	return 0;
}

/* ---- held requests ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t hold_ns(void)
{
	static long ms = -1;

	if (ms < 0) {
		const char *e = getenv("CTFLIVE_RELAYD_HOLD_MS");
		char *end;

		ms = HOLD_MS;
		if (e && *e) {
			long x = strtol(e, &end, 10);

			if (*end == '\0' && x >= 0 && x <= 10000)
				ms = x;
		}
	}
	return (uint64_t)ms * 1000000u;
}

/* Changes whenever something is published for one of v's sessions. */
static uint64_t viewer_gen(struct viewer *v)
{
	struct cl_list_node *n;
	uint64_t gen = 0;

	cl_list_for_each (n, &v->attached)
		gen += cl_container_of(n, struct vattach, node)->session->live_gen;
	return gen;
}

static void timer_cb(struct cl_watch *w, uint32_t events)
{
	struct live *l = cl_container_of(w, struct live, timer);
	uint64_t expirations;

	(void)events;
	(void)!read(w->fd, &expirations, sizeof(expirations));
	l->timer_armed = 0;
	/* The held requests are looked at before the loop sleeps. */
}

static void arm_timer(struct live *l, uint64_t deadline)
{
	struct itimerspec its = { 0 };

	if (deadline == l->timer_armed)
		return;
	if (l->timer.fd < 0) {
		int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

		if (fd < 0)
			return; /* held requests then wait for news only */
		l->timer.fd = fd;
		l->timer.cb = timer_cb;
		if (cl_loop_add(l->relay->loop, &l->timer, EPOLLIN) < 0) {
			close(fd);
			l->timer.fd = -1;
			return;
		}
	}
	its.it_value.tv_sec = (time_t)(deadline / 1000000000u);
	its.it_value.tv_nsec = (long)(deadline % 1000000000u);
	/* A zero it_value would disarm: deadline 0 disarms, as wanted. */
	if (timerfd_settime(l->timer.fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		l->timer_armed = deadline;
}

void live_server_fini(struct live *l)
{
	if (l->timer.fd >= 0) {
		cl_loop_del(l->relay->loop, &l->timer);
		close(l->timer.fd);
		l->timer.fd = -1;
	}
}

/* Runs v's held request again. HELD, 0 (answered) or -errno. */
static int rerun(struct viewer *v, enum hold hold)
{
	switch (v->wait_cmd) {
	case CL_LIVE_CMD_GET_NEXT_INDEX:
		return get_next_index(v, v->wait_id, hold);
	case CL_LIVE_CMD_GET_METADATA:
		return get_metadata(v, v->wait_id, hold);
	case CL_LIVE_CMD_GET_NEW_STREAMS:
		return get_new_streams(v, v->wait_id, hold);
	default:
		return -EPROTO;
	}
}

void live_viewer_stop_waiting(struct viewer *v)
{
	if (!v->waiting)
		return;
	v->waiting = false;
	cl_list_remove(&v->wait_node);
	sock_unhold(&v->sock);
}

/*
 * Held requests, looked at before each sleep of the loop (after every batch
 * of events, so after every publication):
 *  - something was published for the viewer since it was held (live_gen of
 *    an attached session moved): run again; GET_NEXT_INDEX stays held while
 *    the answer would still be RETRY (neither babeltrace2 nor ctflive can
 *    go on with any stream while one answers RETRY), everything else is
 *    answered as it now stands;
 *  - the deadline passed: answered as it stands.
 * An INACTIVE equal to the last one given is not held: measured, holding
 * it did not lower babeltrace2's latency, and it delayed ctflive view,
 * which asks every idle stream in turn for a newer beacon.
 * The deadline (CTFLIVE_RELAYD_HOLD_MS) bounds how long a viewer waits for
 * a "nothing yet" answer, while every publication (each live-timer tick
 * brings one per stream: an index or a beacon) wakes it at once. Measured
 * (bench/live, 100 ms timer, babeltrace2): a bound below the timer period
 * expires between ticks, and the viewer's 100 ms sleep then costs about
 * the bound again (50 ms: p50 beyond the timer 25-40 ms); a bound above it
 * leaves 9-15 ms. ctflive view does not gain from holding yet (slower with
 * 50 ms, far slower with 300 ms): its live source needs its own look.
 */
void live_answer_waiting(struct live *l)
{
	struct cl_list_node *n, *tmp;
	uint64_t now = 0, next = 0;

	cl_list_for_each_safe (n, tmp, &l->waiting) {
		struct viewer *v = cl_container_of(n, struct viewer, wait_node);
		uint64_t gen = viewer_gen(v);
		bool expired;
		int r;

		if (v->sock.closed) {
			live_viewer_stop_waiting(v);
			continue;
		}
		if (!now)
			now = now_ns();
		expired = now >= v->wait_deadline;
		if (!expired && gen == v->wait_gen) {
			if (!next || v->wait_deadline < next)
				next = v->wait_deadline;
			continue;
		}
		v->wait_gen = gen;
		r = rerun(v, expired ? HOLD_NEVER : HOLD_WOKEN);
		if (r == HELD) {
			if (!next || v->wait_deadline < next)
				next = v->wait_deadline;
			continue;
		}
		live_viewer_stop_waiting(v);
		if (r < 0) {
			viewer_close(v, "protocol error");
			continue;
		}
		if (!v->sock.closed)
			sock_flush(&v->sock);
	}
	arm_timer(l, next);
}

/* Request answered later: v waits (live_answer_waiting()). */
static int start_waiting(struct viewer *v, uint64_t id)
{
	struct live *l = v->live;

	v->waiting = true;
	v->wait_cmd = v->cmd;
	v->wait_id = id;
	v->wait_gen = viewer_gen(v);
	v->wait_deadline = now_ns() + hold_ns();
	cl_list_append(&l->waiting, &v->wait_node);
	/* Only the peer's hang-up is polled meanwhile. */
	sock_hold(&v->sock, EPOLLRDHUP);
	if (!l->timer_armed || v->wait_deadline < l->timer_armed)
		arm_timer(l, v->wait_deadline);
	return 0;
}

int live_dispatch(struct viewer *v)
{
	struct cl_rbuf rb =
		cl_rbuf_make(v->rx + CL_LIVE_CMD_HDR_SIZE, v->rx_need - CL_LIVE_CMD_HDR_SIZE);
	uint64_t id = 0;
	int r;

	log_debug("%s: %s", v->sock.peer, cl_live_cmd_name(v->cmd));
	if (!v->connected && v->cmd != CL_LIVE_CMD_CONNECT) {
		viewer_close(v, "command before CONNECT");
		return -EPROTO;
	}
	switch (v->cmd) {
	case CL_LIVE_CMD_CONNECT:
		return cmd_connect(v, &rb);
	case CL_LIVE_CMD_LIST_SESSIONS:
		return cmd_list_sessions(v);
	case CL_LIVE_CMD_CREATE_SESSION:
		return cmd_create_session(v);
	case CL_LIVE_CMD_ATTACH_SESSION:
		return cmd_attach(v, &rb);
	case CL_LIVE_CMD_GET_NEW_STREAMS:
		r = cmd_get_new_streams(v, &rb, &id);
		break;
	case CL_LIVE_CMD_GET_NEXT_INDEX:
		r = cmd_get_next_index(v, &rb, &id);
		break;
	case CL_LIVE_CMD_GET_PACKET:
		return cmd_get_packet(v, &rb);
	case CL_LIVE_CMD_GET_METADATA:
		r = cmd_get_metadata(v, &rb, &id);
		break;
	case CL_LIVE_CMD_DETACH_SESSION:
		return cmd_detach(v, &rb);
	default:
		return -EPROTO;
	}
	if (r == HELD)
		return start_waiting(v, id);
	return r;
}

void live_viewer_release(struct viewer *v)
{
	while (!cl_list_empty(&v->attached))
		detach(v, cl_container_of(v->attached.head.next, struct vattach, node));
	while (!cl_list_empty(&v->streams))
		vstream_release(cl_container_of(v->streams.head.next, struct vstream, node));
}

void live_streams_published(struct relay *relay, struct session *s)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->live->viewers.socks) {
		struct viewer *v = cl_container_of(n, struct viewer, sock.node);

		if (!v->sock.closed && find_attach(v, s->id) && create_vstreams(v, s, false) < 0)
			viewer_close(v, "out of memory");
	}
	session_touch(s); /* held GET_NEW_STREAMS look again */
}
