/* SPDX-License-Identifier: MIT */
/*
 * LTTng live viewer client, the item side: the queue of items, sessions
 * attached (CREATE_SESSION, ATTACH_SESSION), streams announced
 * (GET_NEW_STREAMS), trace metadata (GET_METADATA), and packets, beacons and
 * stream ends (GET_NEXT_INDEX, GET_PACKET). Requests go through the round
 * trips of live-client.c (live-client-internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grow.h"
#include "live-client-internal.h"

/* babeltrace2 reads packets in requests of at most this many bytes. */
#define GET_PACKET_CHUNK (256u * 1024)

/*
 * CTFLIVE_LIVE_TRACE=1 in the environment: one line on stderr per
 * GET_NEXT_INDEX sent and per reply, with the real-time clock (us), for
 * latency analysis (bench/live).
 */
static void trace_index(const char *what, uint64_t stream_id, int status, uint64_t ts_end)
{
	static int on = -1;
	struct timespec ts;

	if (on < 0)
		on = getenv("CTFLIVE_LIVE_TRACE") != NULL;
	if (!on)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "live-trace %lld.%06ld %s stream=%llu status=%d ts_end=%llu\n",
		(long long)ts.tv_sec, ts.tv_nsec / 1000, what, (unsigned long long)stream_id,
		status, (unsigned long long)ts_end);
}

/* ---- Queue ---- */

static int queue_push(struct ctflive_live_client *c, struct qitem *it)
{
	if (c->qlen == c->qcap) {
		size_t ncap = c->qcap ? c->qcap * 2 : 16;
		struct qitem *n = calloc(ncap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < c->qlen; i++)
			n[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = n;
		c->qcap = ncap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qlen) % c->qcap] = *it;
	c->qlen++;
	return 0;
}

void cl_live_client_qitem_release(struct qitem *it)
{
	free(it->data);
	free(it->path);
	free(it->channel);
	memset(it, 0, sizeof(*it));
}

static int queue_simple(struct ctflive_live_client *c, enum ctflive_live_item_type type,
			uint64_t session_id, uint64_t trace_id, uint64_t stream_id)
{
	struct qitem it = { 0 };

	it.item.type = type;
	it.item.session_id = session_id;
	it.item.trace_id = trace_id;
	it.item.stream_id = stream_id;
	if (queue_push(c, &it) < 0)
		return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
	return 0;
}

int ctflive_live_client_next_item(struct ctflive_live_client *c, struct ctflive_live_item *ret)
{
	if (!c || !ret)
		return -EINVAL;
	cl_live_client_qitem_release(&c->cur);
	if (c->qlen == 0)
		return c->broken ? c->broken : -EAGAIN;
	c->cur = c->q[c->qhead];
	c->qhead = (c->qhead + 1) % c->qcap;
	c->qlen--;
	c->cur.item.data = c->cur.data;
	c->cur.item.path_name = c->cur.path;
	c->cur.item.channel_name = c->cur.channel;
	*ret = c->cur.item;
	return 0;
}

/* ---- Lookups ---- */

static struct trace *find_trace(struct ctflive_live_client *c, uint64_t id)
{
	for (size_t i = 0; i < c->ntraces; i++)
		if (c->traces[i].id == id)
			return &c->traces[i];
	return NULL;
}

static struct stream *find_stream(struct ctflive_live_client *c, uint64_t id)
{
	for (size_t i = 0; i < c->nstreams; i++)
		if (c->streams[i].id == id)
			return &c->streams[i];
	return NULL;
}

static struct session *find_session(struct ctflive_live_client *c, uint64_t id)
{
	for (size_t i = 0; i < c->nsessions; i++)
		if (c->sessions[i].id == id)
			return &c->sessions[i];
	return NULL;
}

static bool metadata_stream_known(struct ctflive_live_client *c, uint64_t id)
{
	for (size_t i = 0; i < c->ntraces; i++)
		if (c->traces[i].has_metadata_stream && c->traces[i].metadata_stream_id == id)
			return true;
	return false;
}

static struct trace *get_trace(struct ctflive_live_client *c, uint64_t id, uint64_t session_id)
{
	struct trace *t = find_trace(c, id);

	if (t)
		return t;
	if (cl_grow(&c->traces, &c->traces_cap, c->ntraces + 1) < 0)
		return NULL;
	t = &c->traces[c->ntraces++];
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->session_id = session_id;
	return t;
}

/* ---- Streams (ATTACH_SESSION, GET_NEW_STREAMS replies) ---- */

/*
 * Receives `count` stream records of session `session_id`, registers them and
 * queues a STREAM item per new data stream.
 */
static int recv_streams(struct ctflive_live_client *c, uint32_t cmd, uint64_t session_id,
			uint32_t count)
{
	static_assert(CL_LIVE_STREAM_SIZE < 8192, "record buffer");
	uint8_t buf[CL_LIVE_STREAM_SIZE];
	struct cl_live_stream *rec;
	int r = 0;

	rec = malloc(sizeof(*rec));
	if (!rec)
		return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < count; i++) {
		struct cl_rbuf rb;
		struct trace *t;

		r = cl_live_client_recv_fixed(c, cmd, buf, sizeof(buf), &rb);
		if (r < 0)
			break;
		r = cl_live_stream_decode(&rb, rec);
		if (r < 0) {
			r = cl_live_client_malformed(c, cmd, r);
			break;
		}
		if (find_stream(c, rec->id) || metadata_stream_known(c, rec->id))
			continue; /* already known: a relay may send a record twice */
		t = get_trace(c, rec->ctf_trace_id, session_id);
		if (!t) {
			r = cl_live_client_set_broken(c, -ENOMEM, "out of memory");
			break;
		}
		if (!t->path && !(t->path = strdup(rec->path_name))) {
			r = cl_live_client_set_broken(c, -ENOMEM, "out of memory");
			break;
		}
		if (rec->metadata_flag) {
			t->has_metadata_stream = true;
			t->metadata_stream_id = rec->id;
			t->need_metadata = true;
			continue;
		}
		if (c->nstreams >= CL_LIVE_MAX_STREAMS) {
			r = cl_live_client_set_broken(c, -E2BIG,
						      "the relay announced more than %u streams",
						      CL_LIVE_MAX_STREAMS);
			break;
		}
		if (cl_grow(&c->streams, &c->streams_cap, c->nstreams + 1) < 0) {
			r = cl_live_client_set_broken(c, -ENOMEM, "out of memory");
			break;
		}
		c->streams[c->nstreams++] = (struct stream){
			.id = rec->id,
			.trace_id = rec->ctf_trace_id,
			.session_id = session_id,
		};
		t->data_streams++;

		struct qitem it = { 0 };

		it.item.type = CTFLIVE_LIVE_ITEM_STREAM;
		it.item.session_id = session_id;
		it.item.trace_id = rec->ctf_trace_id;
		it.item.stream_id = rec->id;
		it.path = strdup(rec->path_name);
		it.channel = strdup(rec->channel_name);
		if (!it.path || !it.channel || queue_push(c, &it) < 0) {
			cl_live_client_qitem_release(&it);
			r = cl_live_client_set_broken(c, -ENOMEM, "out of memory");
			break;
		}
	}
	free(rec);
	return r;
}

/* ---- Metadata ---- */

/* GET_METADATA until NO_NEW or ERR; queues one METADATA item per reply. */
static int fetch_metadata(struct ctflive_live_client *c, struct trace *t)
{
	t->need_metadata = false;
	if (!t->has_metadata_stream || t->metadata_closed)
		return 0;
	for (;;) {
		uint8_t req[CL_LIVE_GET_METADATA_SIZE], rep[CL_LIVE_METADATA_REPLY_SIZE];
		struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));
		struct cl_live_metadata_reply m;
		struct qitem it = { 0 };
		struct cl_rbuf rb;
		int r;

		(void)cl_live_get_metadata_encode(&wb, t->metadata_stream_id);
		r = cl_live_client_send_cmd(c, CL_LIVE_CMD_GET_METADATA, req, wb.pos);
		if (r < 0)
			return r;
		r = cl_live_client_recv_fixed(c, CL_LIVE_CMD_GET_METADATA, rep, sizeof(rep), &rb);
		if (r < 0)
			return r;
		r = cl_live_metadata_reply_decode(&rb, &m);
		if (r < 0)
			return cl_live_client_malformed(c, CL_LIVE_CMD_GET_METADATA, r);
		if (m.status == CL_LIVE_METADATA_NO_NEW)
			return 0;
		if (m.status == CL_LIVE_METADATA_ERR) {
			/* The metadata stream is gone: what we have is complete. */
			t->metadata_closed = true;
			return 0;
		}
		if (m.len == 0)
			return 0; /* OK with nothing (relay `clear` path): try later */
		if (m.len > CTFLIVE_LIVE_MAX_METADATA - t->metadata_total)
			return cl_live_client_set_broken(c, -E2BIG,
							 "trace metadata larger than %u bytes",
							 CTFLIVE_LIVE_MAX_METADATA);
		it.data = malloc((size_t)m.len);
		if (t->path)
			it.path = strdup(t->path);
		if (!it.data || (t->path && !it.path)) {
			cl_live_client_qitem_release(&it);
			return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
		}
		r = cl_live_client_recv_all(c, it.data, (size_t)m.len, CL_LIVE_CMD_GET_METADATA);
		if (r < 0) {
			cl_live_client_qitem_release(&it);
			return r;
		}
		t->metadata_total += m.len;
		it.item.type = CTFLIVE_LIVE_ITEM_METADATA;
		it.item.session_id = t->session_id;
		it.item.trace_id = t->id;
		it.item.len = (size_t)m.len;
		if (queue_push(c, &it) < 0) {
			cl_live_client_qitem_release(&it);
			return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
		}
	}
}

static int fetch_pending_metadata(struct ctflive_live_client *c)
{
	for (size_t i = 0; i < c->ntraces; i++) {
		if (c->traces[i].need_metadata) {
			int r = fetch_metadata(c, &c->traces[i]);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

int cl_live_client_fetch_metadata(struct ctflive_live_client *c, uint64_t trace_id)
{
	struct trace *t;

	if (c->broken)
		return c->broken;
	t = find_trace(c, trace_id);
	return t ? fetch_metadata(c, t) : 0;
}

/* ---- CREATE_SESSION, ATTACH_SESSION ---- */

static int create_viewer_session(struct ctflive_live_client *c)
{
	uint8_t rep[CL_LIVE_STATUS_REPLY_SIZE];
	struct cl_rbuf rb;
	uint32_t status;
	int r;

	if (c->viewer_session)
		return 0;
	r = cl_live_client_round_trip(c, CL_LIVE_CMD_CREATE_SESSION, NULL, 0, rep, sizeof(rep),
				      &rb);
	if (r < 0)
		return r;
	r = cl_live_create_session_reply_decode(&rb, &status);
	if (r < 0)
		return cl_live_client_malformed(c, CL_LIVE_CMD_CREATE_SESSION, r);
	if (status != CL_LIVE_CREATE_SESSION_OK)
		return cl_live_client_set_broken(c, -EPROTO,
						 "the relay could not create a viewer session");
	c->viewer_session = true;
	return 0;
}

static int attach_one(struct ctflive_live_client *c, uint64_t id, enum ctflive_live_seek seek)
{
	uint8_t req[CL_LIVE_ATTACH_REQUEST_SIZE], rep[CL_LIVE_STREAMS_REPLY_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));
	struct cl_live_attach_request a = { .session_id = id, .offset = 0, .seek = (uint32_t)seek };
	struct cl_live_streams_reply m;
	struct cl_rbuf rb;
	int r;

	(void)cl_live_attach_request_encode(&wb, &a);
	r = cl_live_client_round_trip(c, CL_LIVE_CMD_ATTACH_SESSION, req, wb.pos, rep, sizeof(rep),
				      &rb);
	if (r < 0)
		return r;
	r = cl_live_attach_reply_decode(&rb, &m);
	if (r < 0)
		return cl_live_client_malformed(c, CL_LIVE_CMD_ATTACH_SESSION, r);
	switch (m.status) {
	case CL_LIVE_ATTACH_OK:
		break;
	case CL_LIVE_ATTACH_ALREADY:
		return cl_live_client_set_err(c, -EBUSY,
					      "another viewer is already attached to this session");
	case CL_LIVE_ATTACH_UNK:
		return cl_live_client_set_err(c, -ENOENT,
					      "the session ended before it could be attached");
	case CL_LIVE_ATTACH_NOT_LIVE:
		return cl_live_client_set_err(c, -EPROTO, "not a live session");
	default:
		return cl_live_client_set_err(
			c, -EPROTO, "the relay refused to attach the session (%s)",
			cl_live_status_name(CL_LIVE_CMD_ATTACH_SESSION, m.status));
	}
	if (cl_grow(&c->sessions, &c->sessions_cap, c->nsessions + 1) < 0)
		return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
	c->sessions[c->nsessions++] = (struct session){ .id = id };
	return recv_streams(c, CL_LIVE_CMD_ATTACH_SESSION, id, m.streams_count);
}

int ctflive_live_client_attach(struct ctflive_live_client *c, const char *hostname,
			       const char *session_name, enum ctflive_live_seek seek)
{
	struct cl_live_session *v = NULL;
	size_t n = 0;
	int r, attached = 0;

	if (!c || !hostname || !session_name ||
	    (seek != CTFLIVE_LIVE_SEEK_BEGINNING && seek != CTFLIVE_LIVE_SEEK_LAST))
		return -EINVAL;
	if (c->broken)
		return c->broken;
	r = create_viewer_session(c);
	if (r < 0)
		return r;
	r = cl_live_client_list_sessions(c, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].hostname, hostname) != 0 ||
		    strcmp(v[i].session_name, session_name) != 0 || find_session(c, v[i].id))
			continue;
		r = attach_one(c, v[i].id, seek);
		if (r == -ENOENT)
			continue; /* destroyed meanwhile */
		if (r < 0)
			break;
		attached++;
	}
	free(v);
	if (r < 0 && r != -ENOENT)
		return r;
	if (attached == 0)
		return cl_live_client_set_err(c, -ENOENT,
					      "no session '%s' of host '%s' on the relay",
					      session_name, hostname);
	r = fetch_pending_metadata(c);
	return r < 0 ? r : attached;
}

/* ---- GET_NEW_STREAMS ---- */

static int check_end(struct ctflive_live_client *c)
{
	if (c->end_queued)
		return 0;
	for (size_t i = 0; i < c->nsessions; i++)
		if (!c->sessions[i].ended)
			return 0;
	c->end_queued = true;
	return queue_simple(c, CTFLIVE_LIVE_ITEM_END, 0, 0, 0);
}

static int new_streams(struct ctflive_live_client *c, struct session *s)
{
	uint8_t req[CL_LIVE_SESSION_REQUEST_SIZE], rep[CL_LIVE_STREAMS_REPLY_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));
	struct cl_live_streams_reply m;
	struct cl_rbuf rb;
	uint64_t id = s->id;
	int r;

	(void)cl_live_new_streams_request_encode(&wb, id);
	r = cl_live_client_round_trip(c, CL_LIVE_CMD_GET_NEW_STREAMS, req, wb.pos, rep, sizeof(rep),
				      &rb);
	if (r < 0)
		return r;
	r = cl_live_new_streams_reply_decode(&rb, &m);
	if (r < 0)
		return cl_live_client_malformed(c, CL_LIVE_CMD_GET_NEW_STREAMS, r);
	switch (m.status) {
	case CL_LIVE_NEW_STREAMS_OK:
		return recv_streams(c, CL_LIVE_CMD_GET_NEW_STREAMS, id, m.streams_count);
	case CL_LIVE_NEW_STREAMS_NO_NEW:
		return 0;
	case CL_LIVE_NEW_STREAMS_HUP:
		s->ended = true;
		return queue_simple(c, CTFLIVE_LIVE_ITEM_SESSION_END, id, 0, 0);
	default:
		return cl_live_client_set_broken(
			c, -EPROTO, "the relay answered ERR to GET_NEW_STREAMS for session %llu",
			(unsigned long long)id);
	}
}

static int all_new_streams(struct ctflive_live_client *c)
{
	trace_index("new-streams", 0, 0, 0);
	c->need_new_streams = false;
	for (size_t i = 0; i < c->nsessions; i++) {
		if (!c->sessions[i].ended) {
			int r = new_streams(c, &c->sessions[i]);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

int ctflive_live_client_refresh(struct ctflive_live_client *c)
{
	int r;

	if (!c)
		return -EINVAL;
	if (c->broken)
		return c->broken;
	r = all_new_streams(c);
	if (r < 0)
		return r;
	r = fetch_pending_metadata(c);
	if (r < 0)
		return r;
	return check_end(c);
}

/* ---- GET_NEXT_INDEX, GET_PACKET ---- */

static int fetch_packet(struct ctflive_live_client *c, const struct stream *st,
			const struct cl_live_index *x)
{
	uint64_t size = x->packet_size / 8, done = 0;
	struct qitem it = { 0 };
	int r;

	if (size == 0)
		return cl_live_client_set_broken(c, -EPROTO,
						 "the relay sent an empty index for stream %llu",
						 (unsigned long long)st->id);
	if (size > CTFLIVE_LIVE_MAX_PACKET)
		return cl_live_client_set_broken(
			c, -E2BIG, "packet of %llu bytes on stream %llu (limit %u)",
			(unsigned long long)size, (unsigned long long)st->id,
			CTFLIVE_LIVE_MAX_PACKET);
	it.data = malloc((size_t)size);
	if (!it.data)
		return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
	while (done < size) {
		uint8_t req[CL_LIVE_GET_PACKET_SIZE], rep[CL_LIVE_PACKET_REPLY_SIZE];
		struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));
		uint32_t want =
			size - done > GET_PACKET_CHUNK ? GET_PACKET_CHUNK : (uint32_t)(size - done);
		struct cl_live_get_packet g = { .stream_id = st->id,
						.offset = x->offset + done,
						.len = want };
		struct cl_live_packet_reply m;
		struct cl_rbuf rb;

		(void)cl_live_get_packet_encode(&wb, &g);
		r = cl_live_client_send_cmd(c, CL_LIVE_CMD_GET_PACKET, req, wb.pos);
		if (r < 0)
			goto fail;
		r = cl_live_client_recv_fixed(c, CL_LIVE_CMD_GET_PACKET, rep, sizeof(rep), &rb);
		if (r < 0)
			goto fail;
		r = cl_live_packet_reply_decode(&rb, &m);
		if (r < 0) {
			r = cl_live_client_malformed(c, CL_LIVE_CMD_GET_PACKET, r);
			goto fail;
		}
		if (m.status != CL_LIVE_PACKET_OK) {
			r = cl_live_client_set_broken(
				c, -EPROTO,
				"the relay answered %s to GET_PACKET for stream %llu at offset %llu",
				cl_live_status_name(CL_LIVE_CMD_GET_PACKET, m.status),
				(unsigned long long)st->id, (unsigned long long)g.offset);
			goto fail;
		}
		if (m.len != want) {
			r = cl_live_client_set_broken(
				c, -EPROTO, "the relay sent %u bytes instead of %u for GET_PACKET",
				m.len, want);
			goto fail;
		}
		r = cl_live_client_recv_all(c, it.data + done, want, CL_LIVE_CMD_GET_PACKET);
		if (r < 0)
			goto fail;
		done += want;
	}
	it.item.type = CTFLIVE_LIVE_ITEM_PACKET;
	it.item.session_id = st->session_id;
	it.item.trace_id = st->trace_id;
	it.item.stream_id = st->id;
	it.item.len = (size_t)size;
	it.item.index = (struct ctflive_live_index){
		.offset = x->offset,
		.packet_size = x->packet_size,
		.content_size = x->content_size,
		.timestamp_begin = x->timestamp_begin,
		.timestamp_end = x->timestamp_end,
		.events_discarded = x->events_discarded,
		.stream_class_id = x->stream_id,
	};
	if (queue_push(c, &it) < 0) {
		r = cl_live_client_set_broken(c, -ENOMEM, "out of memory");
		goto fail;
	}
	return 0;
fail:
	cl_live_client_qitem_release(&it);
	return r;
}

/*
 * Stream `st` got HUP: forget it. Its trace stays known (a few bytes): a
 * relay may still announce streams of it.
 */
static int stream_ended(struct ctflive_live_client *c, struct stream *st)
{
	struct stream copy = *st;
	struct trace *t;

	c->streams[st - c->streams] = c->streams[--c->nstreams];
	t = find_trace(c, copy.trace_id);
	if (t && t->data_streams > 0)
		t->data_streams--;
	return queue_simple(c, CTFLIVE_LIVE_ITEM_STREAM_END, copy.session_id, copy.trace_id,
			    copy.id);
}

/*
 * Sends GET_NEXT_INDEX for stream `stream_id` without waiting for the reply:
 * it is in flight until cl_live_client_index_finish() (any other request
 * first receives it, cl_live_client_send_cmd()).
 */
int cl_live_client_index_send(struct ctflive_live_client *c, uint64_t stream_id)
{
	uint8_t req[CL_LIVE_GET_NEXT_INDEX_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));
	int r;

	if (!c)
		return -EINVAL;
	if (c->broken)
		return c->broken;
	if (c->index_pending) {
		r = cl_live_client_index_finish(c);
		if (r < 0)
			return r;
	}
	if (!find_stream(c, stream_id))
		return cl_live_client_set_err(c, -EINVAL, "unknown stream %llu",
					      (unsigned long long)stream_id);
	(void)cl_live_get_next_index_encode(&wb, stream_id);
	r = cl_live_client_send_cmd(c, CL_LIVE_CMD_GET_NEXT_INDEX, req, wb.pos);
	if (r < 0)
		return r;
	c->index_pending = true;
	c->pending_stream = stream_id;
	trace_index("send", stream_id, 0, 0);
	return 0;
}

int ctflive_live_client_request_index(struct ctflive_live_client *c, uint64_t stream_id)
{
	int r = cl_live_client_index_send(c, stream_id);

	return r < 0 ? r : cl_live_client_index_finish(c);
}

int cl_live_client_index_finish(struct ctflive_live_client *c)
{
	uint8_t rep[CL_LIVE_INDEX_SIZE];
	uint64_t stream_id = c->pending_stream;
	struct cl_live_index x;
	struct stream *st;
	struct trace *t;
	struct cl_rbuf rb;
	int r;

	if (!c->index_pending)
		return 0;
	c->index_pending = false;
	r = cl_live_client_recv_fixed(c, CL_LIVE_CMD_GET_NEXT_INDEX, rep, sizeof(rep), &rb);
	if (r < 0)
		return r;
	r = cl_live_index_decode(&rb, &x);
	if (r < 0)
		return cl_live_client_malformed(c, CL_LIVE_CMD_GET_NEXT_INDEX, r);
	trace_index("reply", stream_id, (int)x.status, x.timestamp_end);
	st = find_stream(c, stream_id);
	if (!st)
		return cl_live_client_set_broken(c, -EPROTO, "stream %llu vanished",
						 (unsigned long long)stream_id);

	/*
	 * Flags first, on every reply kind (lttng-tools 5d2369e39, babeltrace
	 * ca6225465): metadata must be appended before the packet is decoded.
	 */
	t = find_trace(c, st->trace_id);
	if ((x.flags & CL_LIVE_FLAG_NEW_METADATA) && t)
		t->need_metadata = true;
	if (x.flags & CL_LIVE_FLAG_NEW_STREAM)
		c->need_new_streams = true;
	if (c->need_new_streams) {
		r = all_new_streams(c);
		if (r < 0)
			return r;
	}
	r = fetch_pending_metadata(c);
	if (r < 0)
		return r;
	/* Streams may have moved in the array. */
	st = find_stream(c, stream_id);
	if (!st)
		return cl_live_client_set_broken(c, -EPROTO, "stream %llu vanished",
						 (unsigned long long)stream_id);

	switch (x.status) {
	case CL_LIVE_INDEX_OK:
		return fetch_packet(c, st, &x);
	case CL_LIVE_INDEX_INACTIVE: {
		struct qitem it = { 0 };

		it.item.type = CTFLIVE_LIVE_ITEM_INACTIVE;
		it.item.session_id = st->session_id;
		it.item.trace_id = st->trace_id;
		it.item.stream_id = st->id;
		it.item.index.timestamp_end = x.timestamp_end;
		it.item.index.stream_class_id = x.stream_id;
		if (queue_push(c, &it) < 0)
			return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
		return 0;
	}
	case CL_LIVE_INDEX_RETRY:
		return queue_simple(c, CTFLIVE_LIVE_ITEM_RETRY, st->session_id, st->trace_id,
				    st->id);
	case CL_LIVE_INDEX_HUP:
		return stream_ended(c, st);
	default:
		return cl_live_client_set_broken(
			c, -EPROTO, "the relay answered %s to GET_NEXT_INDEX for stream %llu",
			cl_live_status_name(CL_LIVE_CMD_GET_NEXT_INDEX, x.status),
			(unsigned long long)stream_id);
	}
}
