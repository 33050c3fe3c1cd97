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
 *   built whole and written with one send, but for packet and metadata
 *   bytes, sent from the file as the viewer reads them (cmd_get_packet(),
 *   get_metadata()), and stream and session records, encoded a few at a
 *   time as the viewer reads them from a compact copy
 *   (put_stream_records(), cmd_list_sessions()).
 * - A request whose answer would only say "nothing yet" (GET_NEXT_INDEX:
 *   RETRY; GET_METADATA: NO_NEW before any metadata; GET_NEW_STREAMS: no
 *   stream at all for that session) is held instead of answered, and
 *   answered exactly as it then stands once something is published for the
 *   viewer (an index, a beacon, metadata, a stream, a close) or the hold
 *   bound passed (the live timer period and a margin: see HOLD_MARGIN_PCT). babeltrace2 sleeps 100
 * ms after every such answer; holding removes that poll delay. While a request is held nothing more
 * is read from that viewer (replies keep their order); other viewers and the producers are served
 * as usual.
 *
 * This file holds the viewer commands; connections are live-conn.c's (see
 * live-internal.h).
 */
#include <errno.h>
#include <fcntl.h>
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

#define MAX_PACKET_REPLY (64u << 20) /* bytes of one GET_PACKET reply */

/*
 * Longest hold of a request that has nothing new to answer: see
 * live_answer_waiting(). Requests are not held unless the relay's
 * environment says so: CTFLIVE_RELAYD_HOLD_MS=N (1 to 10000) holds every
 * request up to N ms; CTFLIVE_RELAYD_HOLD_MS=timer up to the session's live
 * timer period plus HOLD_MARGIN_PCT percent (every timer tick publishes
 * something for each stream, an index or a beacon, so a held request is
 * answered at the next tick), except requests about per-process buffer
 * streams ("ust/pid/" paths).
 *
 * Off by default. `ctflive view` no longer waits for a held request (its
 * live source keeps the request in flight while it flushes its output and
 * polls the socket): held, its p50 of emission -> printed is 53-71 ms
 * against 96-131 not held (bench/live, 2-core machine under load, 100 ms
 * timer); babeltrace2 2.0.4 and 2.1.2 gain on p50 too (65-94 against
 * 102-115 ms); p99 stays within the noise of the tracer's own flush timer
 * (ticks late by 20-80 ms at p99), measured for both ways.
 *
 * Per-process buffers: babeltrace2 2.0.4 reads NEW_STREAM only on OK
 * index replies and fails when a stream it learns of later has a message
 * older than one it already printed ("Message's timestamp is less than
 * lttng-live's message iterator's last returned timestamp", or, for a
 * stream without a beacon yet, a cycles-to-ns overflow on INT64_MIN). A
 * process that starts while another one's packets are being read is such
 * a stream: a viewer that never waits reaches the other process's newer
 * packets before it learns of the new one. Measured with
 * test_live_per_pid_short_lived: 1 failure in 20 runs held (150 ms), none
 * in 20 not held. Per-user and kernel buffers keep the set of streams of
 * a trace fixed while it runs.
 */
#define HOLD_MARGIN_PCT 10
#define HOLD_MAX_MS     10000

/* How a request may be held. */
enum hold {
	HOLD_NEW,   /* a new request: held if it has nothing new */
	HOLD_WOKEN, /* something was published for the viewer: held only while RETRY */
	HOLD_NEVER, /* the deadline passed: answered as it stands */
};

#define HELD 1 /* returned by a command that did not answer */

#define HOLD_TIMER (-1) /* hold_env_ms(): the session's live timer and a margin */

static long hold_env_ms(void);

/* How a new request may be held (not at all when the hold is 0 ms). */
static enum hold first_hold(void)
{
	return hold_env_ms() != 0 ? HOLD_NEW : HOLD_NEVER;
}

/* The longest hold of a request about session s, ns (0: not held). */
static uint64_t hold_ns(const struct session *s)
{
	long env = hold_env_ms();
	uint64_t ms100; /* hundredths of a millisecond */

	if (env != HOLD_TIMER)
		return (uint64_t)env * 1000000u;
	ms100 = (uint64_t)s->live_timer / 10 * (100 + HOLD_MARGIN_PCT) / 100;
	return CL_MIN(ms100, (uint64_t)HOLD_MAX_MS * 100) * 10000u;
}

/* The command about session s does not answer: held (live_dispatch()),
 * unless its bound is 0. */
static bool held(struct viewer *v, const struct session *s)
{
	v->wait_ns = hold_ns(s);
	return v->wait_ns > 0;
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

/* ---- the viewer's streams by handle (viewer->vmap) ---- */

static size_t vmap_home(uint64_t handle, size_t cap)
{
	return (size_t)((handle * 0x9E3779B97F4A7C15u) >> 32) & (cap - 1);
}

static struct vstream *find_vstream(struct viewer *v, uint64_t handle)
{
	if (!v->vmap_cap)
		return NULL;
	for (size_t i = vmap_home(handle, v->vmap_cap);; i = (i + 1) & (v->vmap_cap - 1)) {
		struct vstream *vs = v->vmap[i];

		if (!vs || vs->handle == handle)
			return vs;
	}
}

static void vmap_put(struct vstream **map, size_t cap, struct vstream *vs)
{
	size_t i = vmap_home(vs->handle, cap);

	while (map[i])
		i = (i + 1) & (cap - 1);
	map[i] = vs;
}

/* Adds vs (its handle not in the map yet). 0 or -ENOMEM. */
static int vmap_add(struct viewer *v, struct vstream *vs)
{
	if ((v->vmap_n + 1) * 4 > v->vmap_cap * 3) {
		size_t cap = v->vmap_cap ? v->vmap_cap * 2 : 16;
		struct vstream **map;

		if (cap > SIZE_MAX / 2 / sizeof(*map))
			return -ENOMEM;
		map = calloc(cap, sizeof(*map));
		if (!map)
			return -ENOMEM;
		for (size_t i = 0; i < v->vmap_cap; i++)
			if (v->vmap[i])
				vmap_put(map, cap, v->vmap[i]);
		free(v->vmap);
		v->vmap = map;
		v->vmap_cap = cap;
	}
	vmap_put(v->vmap, v->vmap_cap, vs);
	v->vmap_n++;
	return 0;
}

/* Removes vs (backward-shift deletion: no tombstones). */
static void vmap_del(struct viewer *v, struct vstream *vs)
{
	size_t mask = v->vmap_cap - 1, i, j;

	if (!v->vmap_cap)
		return;
	for (i = vmap_home(vs->handle, v->vmap_cap); v->vmap[i] != vs; i = (i + 1) & mask)
		if (!v->vmap[i])
			return;
	for (j = (i + 1) & mask; v->vmap[j]; j = (j + 1) & mask) {
		size_t k = vmap_home(v->vmap[j]->handle, v->vmap_cap);

		/* Moved to the hole at i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			v->vmap[i] = v->vmap[j];
			i = j;
		}
	}
	v->vmap[i] = NULL;
	v->vmap_n--;
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

/* vs is no longer served: its attachment counts one stream less. */
static void vstream_unlive(struct vstream *vs)
{
	vs->att->n_live--;
	if (!vs->is_metadata)
		vs->att->n_live_data--;
}

static void vstream_release(struct viewer *v, struct vstream *vs)
{
	cl_list_remove(&vs->node);
	vmap_del(v, vs);
	if (!vs->sent)
		v->n_unsent--;
	if (vs->done)
		v->n_done--;
	else
		vstream_unlive(vs);
	if (vs->st) {
		struct segment *cur = vstream_cur_segment(vs);

		if (cur)
			segment_unpin(cur);
		if (--vs->st->viewer_refs == 0)
			v->live->relay->collect_streams = true;
	}
	free(vs);
}

/* Ends a viewer stream for good (HUP or final metadata ERR given). */
static void vstream_finish(struct viewer *v, struct vstream *vs)
{
	struct segment *cur = vstream_cur_segment(vs);

	if (cur)
		segment_unpin(cur);
	if (--vs->st->viewer_refs == 0)
		v->live->relay->collect_streams = true;
	vs->st = NULL;
	vs->done = true;
	v->n_done++;
	vstream_unlive(vs);
	if (!vs->sent)
		v->n_unsent--;
	vs->sent = true;
}

/* A trace of a session and its published metadata stream. */
struct trace_meta {
	uint64_t trace_id, handle;
};

/* The published metadata streams of `s`, one per trace (few: one per trace,
 * not per stream). 0 or -ENOMEM; *ret owned by the caller. */
static int trace_metas(struct session *s, struct trace_meta **ret, size_t *ret_n)
{
	struct trace_meta *tm = NULL;
	size_t n_tm = 0, cap = 0;
	struct cl_list_node *n;

	cl_list_for_each (n, &s->streams) {
		struct stream *st = cl_container_of(n, struct stream, node);
		size_t i;

		if (!st->is_metadata || !st->published)
			continue;
		for (i = 0; i < n_tm && tm[i].trace_id != st->trace_id; i++)
			;
		if (i < n_tm)
			continue; /* the first one of the trace counts */
		if (cl_grow(&tm, &cap, n_tm + 1) < 0) {
			free(tm);
			return -ENOMEM;
		}
		tm[n_tm++] = (struct trace_meta){ .trace_id = st->trace_id, .handle = st->handle };
	}
	*ret = tm;
	*ret_n = n_tm;
	return 0;
}

/* Releases the finished viewer streams of `s` whose relay stream is gone:
 * they are kept only while it exists. One pass over the relay's streams. */
static int release_gone(struct viewer *v, struct session *s)
{
	struct relay *relay = v->live->relay;
	struct cl_list_node *n, *tmp;
	uint64_t *set;
	size_t cap = 16, count = 0;

	cl_list_for_each (n, &relay->streams)
		count++;
	while (cap < count * 2)
		cap *= 2;
	set = calloc(cap, sizeof(*set)); /* handles + 1: 0 is an empty slot */
	if (!set)
		return -ENOMEM;
	cl_list_for_each (n, &relay->streams) {
		uint64_t h = cl_container_of(n, struct stream, global_node)->handle + 1;
		size_t i = vmap_home(h, cap);

		while (set[i] && set[i] != h)
			i = (i + 1) & (cap - 1);
		set[i] = h;
	}
	cl_list_for_each_safe (n, tmp, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);
		size_t i;

		if (!vs->done || vs->session != s)
			continue;
		for (i = vmap_home(vs->handle + 1, cap); set[i] && set[i] != vs->handle + 1;
		     i = (i + 1) & (cap - 1))
			;
		if (!set[i])
			vstream_release(v, vs);
	}
	free(set);
	return 0;
}

/* Whether requests about relay stream st may be held: not for per-process
 * buffers unless CTFLIVE_RELAYD_HOLD_MS says so (see HOLD_MARGIN_PCT). */
static bool hold_allowed(const struct stream *st)
{
	return hold_env_ms() != HOLD_TIMER || strncmp(st->pathname, "ust/pid/", 8) != 0;
}

/*
 * Creates the viewer streams this viewer lacks for its attached session
 * a->session: every published stream of a trace whose metadata stream is
 * published, all of a trace or none. `seek_last` starts data streams after
 * what is already published (closed streams are then skipped: nothing new
 * can come). O(streams of the session + traces x their metadata streams).
 */
static int create_vstreams(struct viewer *v, struct vattach *a, bool seek_last)
{
	struct session *s = a->session;
	struct trace_meta *tm;
	struct cl_list_node *n;
	size_t n_tm;
	int r = 0;

	if (v->n_done && release_gone(v, s) < 0)
		return -ENOMEM;
	if (trace_metas(s, &tm, &n_tm) < 0)
		return -ENOMEM;
	cl_list_for_each (n, &s->streams) {
		struct stream *st = cl_container_of(n, struct stream, node);
		struct vstream *vs;
		size_t i;

		if (!st->published || find_vstream(v, st->handle))
			continue;
		for (i = 0; i < n_tm && tm[i].trace_id != st->trace_id; i++)
			;
		if (i == n_tm)
			continue;
		if (seek_last && st->closed && !st->is_metadata)
			continue;
		vs = calloc(1, sizeof(*vs));
		if (!vs) {
			r = -ENOMEM;
			break;
		}
		vs->handle = st->handle;
		if (vmap_add(v, vs) < 0) {
			free(vs);
			r = -ENOMEM;
			break;
		}
		vs->st = st;
		vs->is_metadata = st->is_metadata;
		vs->no_hold = !hold_allowed(st);
		vs->session = s;
		vs->att = a;
		vs->meta_handle = tm[i].handle;
		vs->next_entry = seek_last ? st->published_entries : 0;
		st->viewer_refs++;
		a->n_live++;
		if (!vs->is_metadata)
			a->n_live_data++;
		v->n_unsent++;
		cl_list_append(&v->streams, &vs->node);
	}
	free(tm);
	return r;
}

static bool has_unsent_streams(struct viewer *v)
{
	return v->n_unsent > 0;
}

static struct vstream *metadata_vstream(struct viewer *v, const struct vstream *data)
{
	struct vstream *vs = find_vstream(v, data->meta_handle);

	return vs && !vs->done && vs->is_metadata ? vs : NULL;
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

/*
 * The stream records of one ATTACH_SESSION or GET_NEW_STREAMS reply, encoded
 * piece by piece as the viewer reads them (sock_queue_gen()): the reply's
 * streams are chosen, counted and marked sent when it is queued, and what
 * each record says is copied then into `recs` (a few dozen bytes a stream
 * instead of the 4 371 of its record), so relay streams closed or freed
 * meanwhile are never touched.
 */
struct records_gen {
	struct sock_gen gen;
	struct cl_buf recs; /* per record: id, ctf_trace_id (8 B each), metadata flag
			     * (1 B), path name and channel name (NUL-terminated) */
	size_t pos;         /* bytes of `recs` already encoded */
};

static void records_gen_free(struct sock_gen *g)
{
	struct records_gen *rg = cl_container_of(g, struct records_gen, gen);

	cl_buf_free(&rg->recs);
	free(rg);
}

static int records_gen_fill(struct sock_gen *g, struct sock *s, size_t room)
{
	struct records_gen *rg = cl_container_of(g, struct records_gen, gen);
	size_t n = CL_MAX(room / CL_LIVE_STREAM_SIZE, (size_t)1);

	while (n-- > 0 && rg->pos < rg->recs.len) {
		const uint8_t *p = rg->recs.data + rg->pos;
		size_t left = rg->recs.len - rg->pos, path_len, chan_len;
		struct cl_live_stream rec = { 0 };
		struct cl_wbuf wb;
		uint8_t *out;

		/* Written by put_stream_records(): checked all the same. */
		if (left < 17)
			return -EPROTO;
		path_len = strnlen((const char *)p + 17, left - 17);
		if (17 + path_len + 1 >= left)
			return -EPROTO;
		chan_len = strnlen((const char *)p + 17 + path_len + 1, left - 17 - path_len - 1);
		if (17 + path_len + 1 + chan_len + 1 > left)
			return -EPROTO;
		memcpy(&rec.id, p, 8);
		memcpy(&rec.ctf_trace_id, p + 8, 8);
		rec.metadata_flag = p[16];
		(void)snprintf(rec.path_name, sizeof(rec.path_name), "%s", (const char *)p + 17);
		(void)snprintf(rec.channel_name, sizeof(rec.channel_name), "%s",
			       (const char *)p + 17 + path_len + 1);
		out = sock_reserve(s, CL_LIVE_STREAM_SIZE);
		if (!out)
			return -ENOMEM;
		wb = cl_wbuf_make(out, CL_LIVE_STREAM_SIZE);
		if (cl_live_stream_encode(&wb, &rec) < 0 || wb.pos != CL_LIVE_STREAM_SIZE)
			return -EPROTO;
		sock_commit(s, CL_LIVE_STREAM_SIZE);
		rg->pos += 17 + path_len + 1 + chan_len + 1;
	}
	return rg->pos >= rg->recs.len;
}

/* Appends what the record of vs says to rg->recs. 0 or -ENOMEM. */
static int records_gen_add(struct records_gen *rg, const struct stream *st)
{
	size_t path_len = strlen(st->pathname), chan_len = strlen(st->channel_name);
	uint8_t head[17];

	memcpy(head, &st->handle, 8);
	memcpy(head + 8, &st->trace_id, 8);
	head[16] = st->is_metadata ? 1 : 0;
	if (cl_buf_append(&rg->recs, head, sizeof(head)) < 0 ||
	    cl_buf_append(&rg->recs, st->pathname, path_len + 1) < 0 ||
	    cl_buf_append(&rg->recs, st->channel_name, chan_len + 1) < 0)
		return -ENOMEM;
	return 0;
}

static int put_stream_records(struct viewer *v, struct session *s, uint32_t status,
			      bool attach_reply)
{
	struct cl_live_streams_reply hdr = { .status = status };
	struct records_gen *rg;
	struct cl_list_node *n;
	size_t hdr_at = v->sock.out.len;

	OUT_ENCODE(v, CL_LIVE_STREAMS_REPLY_SIZE,
		   attach_reply ? cl_live_attach_reply_encode(&wb_, &hdr)
				: cl_live_new_streams_reply_encode(&wb_, &hdr));
	if (status != CL_LIVE_ATTACH_OK || !v->n_unsent)
		return 0;
	rg = calloc(1, sizeof(*rg));
	if (!rg) {
		viewer_close(v, "out of memory");
		return -ENOMEM;
	}
	rg->gen = (struct sock_gen){ .fill = records_gen_fill, .free = records_gen_free };
	cl_list_for_each (n, &v->streams) {
		struct vstream *vs = cl_container_of(n, struct vstream, node);

		if (vs->session != s || vs->sent || vs->done)
			continue;
		if (records_gen_add(rg, vs->st) < 0) {
			records_gen_free(&rg->gen);
			viewer_close(v, "out of memory");
			return -ENOMEM;
		}
		vs->sent = true;
		v->n_unsent--;
		hdr.streams_count++;
	}
	/* The count is that of the records copied, by construction. */
	cl_store_be32(v->sock.out.data + hdr_at + 4, hdr.streams_count);
	if (hdr.streams_count == 0) {
		records_gen_free(&rg->gen);
		return 0;
	}
	if (sock_queue_gen(&v->sock, &rg->gen) < 0) {
		viewer_close(v, "cannot queue a reply");
		return -EPROTO;
	}
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

/*
 * The records of a LIST_SESSIONS reply, encoded a piece at a time as the
 * viewer reads them (sock_queue_gen()), like the stream records above: what
 * each record says is copied when the reply is queued (about 30 bytes and
 * the two names a session, instead of the 339 of its record), so the reply
 * is that of the moment it was asked for and sessions freed meanwhile are
 * never touched.
 */
struct sessions_gen {
	struct sock_gen gen;
	struct cl_buf recs; /* per record: id (8 B), live timer, clients, streams,
			     * trace format (4 B each), host name and session name
			     * (NUL-terminated) */
	size_t pos;         /* bytes of `recs` already encoded */
	bool v2_15;         /* the viewer's protocol is 2.15 or later */
};

#define SESSION_HEAD 24

static void sessions_gen_free(struct sock_gen *g)
{
	struct sessions_gen *sg = cl_container_of(g, struct sessions_gen, gen);

	cl_buf_free(&sg->recs);
	free(sg);
}

static int sessions_gen_fill(struct sock_gen *g, struct sock *s, size_t room)
{
	struct sessions_gen *sg = cl_container_of(g, struct sessions_gen, gen);
	size_t n = CL_MAX(room / CL_LIVE_SESSION_SIZE, (size_t)1);

	while (n-- > 0 && sg->pos < sg->recs.len) {
		const uint8_t *p = sg->recs.data + sg->pos;
		size_t left = sg->recs.len - sg->pos, host_len, name_len, size;
		struct cl_live_session rec = { 0 };
		struct cl_wbuf wb;
		uint8_t *out;
		int r;

		/* Written by cmd_list_sessions(): checked all the same. */
		if (left < SESSION_HEAD)
			return -EPROTO;
		host_len = strnlen((const char *)p + SESSION_HEAD, left - SESSION_HEAD);
		if (SESSION_HEAD + host_len + 1 >= left)
			return -EPROTO;
		name_len = strnlen((const char *)p + SESSION_HEAD + host_len + 1,
				   left - SESSION_HEAD - host_len - 1);
		if (SESSION_HEAD + host_len + 1 + name_len + 1 > left)
			return -EPROTO;
		memcpy(&rec.id, p, 8);
		memcpy(&rec.live_timer, p + 8, 4);
		memcpy(&rec.clients, p + 12, 4);
		memcpy(&rec.streams, p + 16, 4);
		memcpy(&rec.trace_format, p + 20, 4);
		/* Truncated to the wire fields rather than failing (§7.1). */
		(void)snprintf(rec.hostname, sizeof(rec.hostname), "%s",
			       (const char *)p + SESSION_HEAD);
		(void)snprintf(rec.session_name, sizeof(rec.session_name), "%s",
			       (const char *)p + SESSION_HEAD + host_len + 1);
		size = sg->v2_15 ? cl_live_session_size_2_15(&rec) : CL_LIVE_SESSION_SIZE;
		out = sock_reserve(s, size);
		if (!out)
			return -ENOMEM;
		wb = cl_wbuf_make(out, size);
		r = sg->v2_15 ? cl_live_session_encode_2_15(&wb, &rec)
			      : cl_live_session_encode(&wb, &rec);
		if (r < 0 || wb.pos != size)
			return -EPROTO;
		sock_commit(s, size);
		sg->pos += SESSION_HEAD + host_len + 1 + name_len + 1;
	}
	return sg->pos >= sg->recs.len;
}

static int cmd_list_sessions(struct viewer *v)
{
	struct relay *relay = v->live->relay;
	struct sessions_gen *sg;
	struct cl_list_node *n;
	uint32_t count = 0;

	cl_list_for_each (n, &relay->sessions) {
		count += viewer_sees(v, cl_container_of(n, struct session, node));
	}
	OUT_ENCODE(v, CL_LIVE_LIST_REPLY_SIZE, cl_live_list_reply_encode(&wb_, count));
	if (count == 0)
		return 0;
	/* The records of the same sessions, by construction (nothing changes between). */
	sg = calloc(1, sizeof(*sg));
	if (!sg) {
		viewer_close(v, "out of memory");
		return -ENOMEM;
	}
	sg->gen = (struct sock_gen){ .fill = sessions_gen_fill, .free = sessions_gen_free };
	sg->v2_15 = v->minor >= CL_LIVE_MINOR_2_15;
	cl_list_for_each (n, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);
		uint32_t streams = (uint32_t)CL_MIN(s->n_streams, (size_t)UINT32_MAX);
		uint32_t format = cl_relayd_trace_format_to_live(s->trace_format);
		uint32_t clients = s->viewer_refs;
		uint8_t head[SESSION_HEAD];

		if (!viewer_sees(v, s))
			continue;
		memcpy(head, &s->id, 8);
		memcpy(head + 8, &s->live_timer, 4);
		memcpy(head + 12, &clients, 4);
		memcpy(head + 16, &streams, 4);
		memcpy(head + 20, &format, 4);
		if (cl_buf_append(&sg->recs, head, sizeof(head)) < 0 ||
		    cl_buf_append(&sg->recs, s->hostname, strlen(s->hostname) + 1) < 0 ||
		    cl_buf_append(&sg->recs, s->session_name, strlen(s->session_name) + 1) < 0) {
			sessions_gen_free(&sg->gen);
			viewer_close(v, "out of memory");
			return -ENOMEM;
		}
	}
	if (sock_queue_gen(&v->sock, &sg->gen) < 0) {
		viewer_close(v, "cannot queue a reply");
		return -EPROTO;
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
	if (create_vstreams(v, a, req.seek == CL_LIVE_SEEK_LAST) < 0)
		return -ENOMEM;
	log_debug("%s: attached session %llu", v->sock.peer, (unsigned long long)s->id);
	return put_stream_records(v, s, CL_LIVE_ATTACH_OK, true);
}

/* True once the producer is gone and this viewer has nothing left to read of a's session. */
static bool session_drained(const struct vattach *a)
{
	return a->session->connection_closed && a->n_live_data == 0;
}

/* True while this viewer has no stream of a's session being served or to announce. */
static bool no_stream_of(const struct vattach *a)
{
	return a->n_live == 0;
}

static int get_new_streams(struct viewer *v, uint64_t id, enum hold hold)
{
	struct vattach *a = find_attach(v, id);

	if (!a)
		return put_stream_records(v, NULL, CL_LIVE_NEW_STREAMS_ERR, false);
	if (create_vstreams(v, a, false) < 0)
		return put_stream_records(v, NULL, CL_LIVE_NEW_STREAMS_ERR, false);
	if (!has_unsent_streams(v) && session_drained(a))
		return put_stream_records(v, NULL, CL_LIVE_NEW_STREAMS_HUP, false);
	/* "OK, 0 streams" while none exists: babeltrace2 polls it. */
	if (hold == HOLD_NEW && no_stream_of(a) && !a->session->connection_closed &&
	    held(v, a->session))
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

	r = stream_segment_open(st, sg); /* an older file closed while idle */
	if (r < 0)
		return r;
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

	if (st->parked && vs->next_entry < st->published_entries &&
	    stream_use(v->live->relay, st) < 0) {
		/* Its files cannot be reopened now (out of descriptors): later. */
		ix.status = CL_LIVE_INDEX_RETRY;
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
	/* HUP only once the stream is closed: after its producer's control
	 * connection ends, a stream still waits for the data of the indexes it
	 * received (session_connection_closed()); entries still to come are
	 * not counted in index_entries yet. */
	if (drained && st->closed) {
		ix.status = CL_LIVE_INDEX_HUP;
		vstream_finish(v, vs);
	} else if (drained && st->has_beacon) {
		ix.status = CL_LIVE_INDEX_INACTIVE;
		ix.timestamp_end = st->beacon_ts_end;
		ix.stream_id = st->ctf_stream_id;
	} else {
		/* RETRY stalls the viewer whatever its other streams have: held
		 * until this stream has something or the deadline. */
		if (hold != HOLD_NEVER && ix.flags == 0 && !vs->no_hold &&
		    (hold == HOLD_WOKEN || held(v, vs->session)))
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

static int put_packet_status(struct viewer *v, uint32_t status)
{
	struct cl_live_packet_reply rep = { .status = status };

	OUT_ENCODE(v, CL_LIVE_PACKET_REPLY_SIZE, cl_live_packet_reply_encode(&wb_, &rep));
	return 0;
}

/*
 * The reply's header is queued; the packet's bytes are sent from the file
 * (sock_queue_file()) as the viewer reads them, never held in memory: a
 * viewer that asks for a large packet and does not read costs the relay a
 * descriptor, not the packet.
 */
static int cmd_get_packet(struct viewer *v, struct cl_rbuf *rb)
{
	struct cl_live_get_packet req;
	struct cl_live_packet_reply rep = { .status = CL_LIVE_PACKET_OK };
	struct segment *sg = NULL;
	struct vstream *vs;
	int fd = -1, r;

	if (cl_live_get_packet_decode(rb, &req) < 0)
		return -EPROTO;
	vs = find_live_vstream(v, req.stream_id);
	if (vs && vs->st->parked && stream_use(v->live->relay, vs->st) < 0)
		return put_packet_status(v, CL_LIVE_PACKET_RETRY); /* out of descriptors */
	if (vs)
		sg = vstream_cur_segment(vs);
	if (sg && stream_segment_open(vs->st, sg) < 0)
		return put_packet_status(v, CL_LIVE_PACKET_RETRY); /* out of descriptors */
	/* Only published bytes of the file of the last index handed out (kept
	 * open for this viewer even if a clear or the ring removed the file),
	 * within the packet that index describes: a viewer cannot make the
	 * relay read more than the packet it was given. */
	if (!sg || sg->data_fd < 0 || req.len > MAX_PACKET_REPLY || req.offset > sg->synced_size ||
	    req.len > sg->synced_size - req.offset || req.offset < vs->pkt_offset ||
	    req.offset - vs->pkt_offset > vs->pkt_len ||
	    req.len > vs->pkt_len - (req.offset - vs->pkt_offset))
		return put_packet_error(v);
	if (req.len > 0) {
		fd = fcntl(sg->data_fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0) {
			/* Out of descriptors for now: the viewer asks again. */
			log_debug("%s: GET_PACKET: no descriptor (%s), RETRY", v->sock.peer,
				  strerror(errno));
			return put_packet_status(v, CL_LIVE_PACKET_RETRY);
		}
	}
	rep.len = req.len;
	{
		uint8_t *p = out_reserve(v, CL_LIVE_PACKET_REPLY_SIZE);
		struct cl_wbuf wb;

		if (!p) {
			if (fd >= 0)
				close(fd);
			viewer_close(v, "out of memory");
			return -ENOMEM;
		}
		wb = cl_wbuf_make(p, CL_LIVE_PACKET_REPLY_SIZE);
		if (cl_live_packet_reply_encode(&wb, &rep) < 0) {
			if (fd >= 0)
				close(fd);
			return -EPROTO;
		}
		sock_commit(&v->sock, CL_LIVE_PACKET_REPLY_SIZE);
	}
	if (fd >= 0) {
		r = sock_queue_file(&v->sock, fd, req.offset, req.len);
		if (r < 0)
			return r;
	}
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
	struct cl_wbuf wb;
	uint8_t *data;
	int fd;

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
			vstream_finish(v, vs);
			return put_metadata_status(v, CL_LIVE_METADATA_ERR);
		}
		/* NO_NEW before any metadata: babeltrace2 polls it. (NO_NEW after
		 * bytes ends its fetch loop: answered at once.) */
		if (hold == HOLD_NEW && vs->metadata_sent == 0 && !st->closed &&
		    !vs->session->connection_closed && !vs->no_hold && held(v, vs->session))
			return HELD;
		vs->no_new_given = true;
		return put_metadata_status(v, CL_LIVE_METADATA_NO_NEW);
	}
	rep.len = CL_MIN(st->metadata_published - vs->metadata_sent,
			 (uint64_t)LIVE_MAX_METADATA_REPLY);
	/* Published metadata bytes never change: sent from the file as the
	 * viewer reads them, like packets (buffered only when no descriptor
	 * is left to spare). */
	fd = sg->data_fd >= 0 ? fcntl(sg->data_fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (fd >= 0) {
		data = out_reserve(v, CL_LIVE_METADATA_REPLY_SIZE);
		if (!data) {
			close(fd);
			viewer_close(v, "out of memory");
			return -ENOMEM;
		}
		wb = cl_wbuf_make(data, CL_LIVE_METADATA_REPLY_SIZE);
		if (cl_live_metadata_reply_encode(&wb, &rep) < 0) {
			close(fd);
			return -EPROTO;
		}
		sock_commit(&v->sock, CL_LIVE_METADATA_REPLY_SIZE);
		if (sock_queue_file(&v->sock, fd, vs->metadata_sent, rep.len) < 0) {
			viewer_close(v, "cannot queue a reply");
			return -EPROTO;
		}
		vs->metadata_sent += rep.len;
		vs->no_new_given = false;
		return 0;
	}
	data = out_reserve(v, CL_LIVE_METADATA_REPLY_SIZE + (size_t)rep.len);
	if (!data) {
		viewer_close(v, "out of memory");
		return -ENOMEM;
	}
	if (cl_pread_full(sg->data_fd, data + CL_LIVE_METADATA_REPLY_SIZE, (size_t)rep.len,
			  vs->metadata_sent) < 0)
		return put_metadata_status(v, CL_LIVE_METADATA_ERR);
	wb = cl_wbuf_make(data, CL_LIVE_METADATA_REPLY_SIZE);
	if (cl_live_metadata_reply_encode(&wb, &rep) < 0)
		return -EPROTO;
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
			vstream_release(v, vs);
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

/* CTFLIVE_RELAYD_HOLD_MS: milliseconds, HOLD_TIMER, or 0 (unset or invalid). */
static long hold_env_ms(void)
{
	static long ms = -2;

	if (ms == -2) {
		const char *e = getenv("CTFLIVE_RELAYD_HOLD_MS");
		char *end;

		ms = 0;
		if (e && !strcmp(e, "timer")) {
			ms = HOLD_TIMER;
		} else if (e && *e) {
			long x = strtol(e, &end, 10);

			if (*end == '\0' && x >= 0 && x <= HOLD_MAX_MS)
				ms = x;
		}
	}
	return ms;
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
 * An INACTIVE equal to the last one given is not held: measured (bench/live,
 * 1 s timer), babeltrace2 2.0.4 and 2.1.2 then print the last events of a
 * burst only when the session ends (2-3.7 s late, against one timer period
 * answered at once), although every beacon they are given is newer than
 * those events.
 * The deadline (hold_ns()) bounds how long a viewer waits for
 * a "nothing yet" answer, while every publication (each live-timer tick
 * brings one per stream: an index or a beacon) wakes it at once. Measured
 * (bench/live, 100 ms timer, babeltrace2): a bound below the timer period
 * expires between ticks, and the viewer's 100 ms sleep then costs about
 * the bound again (50 ms: p50 beyond the timer 25-40 ms); a bound above it
 * leaves 9-15 ms.
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
	v->wait_deadline = now_ns() + v->wait_ns;
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
		vstream_release(v, cl_container_of(v->streams.head.next, struct vstream, node));
	free(v->vmap);
	v->vmap = NULL;
	v->vmap_cap = v->vmap_n = 0;
}

void live_streams_published(struct relay *relay, struct session *s)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->live->viewers.socks) {
		struct viewer *v = cl_container_of(n, struct viewer, sock.node);

		struct vattach *a = v->sock.closed ? NULL : find_attach(v, s->id);

		if (a && create_vstreams(v, a, false) < 0)
			viewer_close(v, "out of memory");
	}
	session_touch(s); /* held GET_NEW_STREAMS look again */
}
