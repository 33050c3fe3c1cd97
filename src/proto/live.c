/* SPDX-License-Identifier: MIT */
/*
 * LTTng live viewer protocol codec. See live-proto.h for the contract.
 *
 * Every decoder first takes the whole fixed-size message from the caller's
 * cursor, then parses a private cursor over those bytes: field reads cannot
 * fail after that, and a validation failure simply restores the caller's
 * position. Every encoder checks for room once, then writes.
 */
#include "live-proto.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "macro.h"

/* Size of the fixed request payload per command, indexed by command. */
static const int8_t request_payload_size[] = {
	[CL_LIVE_CMD_CONNECT] = CL_LIVE_CONNECT_SIZE,
	[CL_LIVE_CMD_LIST_SESSIONS] = 0,
	[CL_LIVE_CMD_ATTACH_SESSION] = CL_LIVE_ATTACH_REQUEST_SIZE,
	[CL_LIVE_CMD_GET_NEXT_INDEX] = CL_LIVE_GET_NEXT_INDEX_SIZE,
	[CL_LIVE_CMD_GET_PACKET] = CL_LIVE_GET_PACKET_SIZE,
	[CL_LIVE_CMD_GET_METADATA] = CL_LIVE_GET_METADATA_SIZE,
	[CL_LIVE_CMD_GET_NEW_STREAMS] = CL_LIVE_SESSION_REQUEST_SIZE,
	[CL_LIVE_CMD_CREATE_SESSION] = 0,
	[CL_LIVE_CMD_DETACH_SESSION] = CL_LIVE_SESSION_REQUEST_SIZE,
};

/* Size of the fixed part of the reply per command. */
static const int8_t reply_fixed_size[] = {
	[CL_LIVE_CMD_CONNECT] = CL_LIVE_CONNECT_SIZE,
	[CL_LIVE_CMD_LIST_SESSIONS] = CL_LIVE_LIST_REPLY_SIZE,
	[CL_LIVE_CMD_ATTACH_SESSION] = CL_LIVE_STREAMS_REPLY_SIZE,
	[CL_LIVE_CMD_GET_NEXT_INDEX] = CL_LIVE_INDEX_SIZE,
	[CL_LIVE_CMD_GET_PACKET] = CL_LIVE_PACKET_REPLY_SIZE,
	[CL_LIVE_CMD_GET_METADATA] = CL_LIVE_METADATA_REPLY_SIZE,
	[CL_LIVE_CMD_GET_NEW_STREAMS] = CL_LIVE_STREAMS_REPLY_SIZE,
	[CL_LIVE_CMD_CREATE_SESSION] = CL_LIVE_STATUS_REPLY_SIZE,
	[CL_LIVE_CMD_DETACH_SESSION] = CL_LIVE_STATUS_REPLY_SIZE,
};

static bool cmd_is_known(uint32_t cmd)
{
	return cmd >= CL_LIVE_CMD_CONNECT && cmd <= CL_LIVE_CMD_DETACH_SESSION;
}

int cl_live_request_payload_size(uint32_t cmd)
{
	if (!cmd_is_known(cmd))
		return -EPROTO;
	return request_payload_size[cmd];
}

int cl_live_reply_fixed_size(uint32_t cmd)
{
	if (!cmd_is_known(cmd))
		return -EPROTO;
	return reply_fixed_size[cmd];
}

const char *cl_live_cmd_name(uint32_t cmd)
{
	static const char *const names[] = {
		[CL_LIVE_CMD_CONNECT] = "CONNECT",
		[CL_LIVE_CMD_LIST_SESSIONS] = "LIST_SESSIONS",
		[CL_LIVE_CMD_ATTACH_SESSION] = "ATTACH_SESSION",
		[CL_LIVE_CMD_GET_NEXT_INDEX] = "GET_NEXT_INDEX",
		[CL_LIVE_CMD_GET_PACKET] = "GET_PACKET",
		[CL_LIVE_CMD_GET_METADATA] = "GET_METADATA",
		[CL_LIVE_CMD_GET_NEW_STREAMS] = "GET_NEW_STREAMS",
		[CL_LIVE_CMD_CREATE_SESSION] = "CREATE_SESSION",
		[CL_LIVE_CMD_DETACH_SESSION] = "DETACH_SESSION",
	};

	return cmd_is_known(cmd) ? names[cmd] : "UNKNOWN";
}

const char *cl_live_status_name(uint32_t cmd, uint32_t status)
{
	static const char *const attach[] = { NULL,       "OK",       "ALREADY",   "UNK",
					      "NOT_LIVE", "SEEK_ERR", "NO_SESSION" };
	static const char *const idx[] = { NULL, "OK", "RETRY", "HUP", "ERR", "INACTIVE", "EOF" };
	static const char *const packet[] = { NULL, "OK", "RETRY", "ERR", "EOF" };
	static const char *const metadata[] = { NULL, "OK", "NO_NEW", "ERR" };
	static const char *const new_streams[] = { NULL, "OK", "NO_NEW", "ERR", "HUP" };
	static const char *const create[] = { NULL, "OK", "ERR" };
	static const char *const detach[] = { NULL, "OK", "UNK", "ERR" };
	const char *const *t;
	size_t n;

	switch (cmd) {
	case CL_LIVE_CMD_ATTACH_SESSION:
		t = attach;
		n = CL_ARRAY_SIZE(attach);
		break;
	case CL_LIVE_CMD_GET_NEXT_INDEX:
		t = idx;
		n = CL_ARRAY_SIZE(idx);
		break;
	case CL_LIVE_CMD_GET_PACKET:
		t = packet;
		n = CL_ARRAY_SIZE(packet);
		break;
	case CL_LIVE_CMD_GET_METADATA:
		t = metadata;
		n = CL_ARRAY_SIZE(metadata);
		break;
	case CL_LIVE_CMD_GET_NEW_STREAMS:
		t = new_streams;
		n = CL_ARRAY_SIZE(new_streams);
		break;
	case CL_LIVE_CMD_CREATE_SESSION:
		t = create;
		n = CL_ARRAY_SIZE(create);
		break;
	case CL_LIVE_CMD_DETACH_SESSION:
		t = detach;
		n = CL_ARRAY_SIZE(detach);
		break;
	default:
		return "UNKNOWN";
	}
	if (status == 0 || status >= n)
		return "UNKNOWN";
	return t[status];
}

/*
 * Takes the next `size` bytes of rb into *msg (a private cursor over them).
 * -EMSGSIZE, rb unchanged, if rb is short.
 */
static int take(struct cl_rbuf *rb, size_t size, struct cl_rbuf *msg)
{
	const uint8_t *p;
	int r = cl_rbuf_get_bytes(rb, size, &p);

	if (r < 0)
		return r;
	*msg = cl_rbuf_make(p, size);
	return 0;
}

/* Field readers over a cursor known to hold enough bytes. */
static uint32_t rd32(struct cl_rbuf *m)
{
	uint32_t v = 0;
	int r = cl_rbuf_get_be32(m, &v);

	assert(r == 0);
	(void)r;
	return v;
}

static uint64_t rd64(struct cl_rbuf *m)
{
	uint64_t v = 0;
	int r = cl_rbuf_get_be64(m, &v);

	assert(r == 0);
	(void)r;
	return v;
}

/*
 * Copies a fixed-size string field of n bytes into dst (n bytes). -EPROTO if
 * the field holds no NUL. Bytes after the first NUL are not copied (lttng
 * 2.13.9 may leave garbage there) and dst is zero-filled after it.
 */
static int rdstr(struct cl_rbuf *m, char *dst, size_t n)
{
	const char *s;
	size_t l;
	int r = cl_rbuf_get_fixed_str(m, n, &s);

	if (r < 0)
		return r == -EMSGSIZE ? -EMSGSIZE : -EPROTO;
	l = strnlen(s, n);
	memcpy(dst, s, l);
	memset(dst + l, 0, n - l);
	return 0;
}

/* Reserves `size` bytes in wb: -EMSGSIZE if it lacks room. */
static int room(const struct cl_wbuf *wb, size_t size)
{
	return size > wb->cap - wb->pos ? -EMSGSIZE : 0;
}

/* Field writers after room() succeeded. */
static void wr32(struct cl_wbuf *wb, uint32_t v)
{
	int r = cl_wbuf_put_be32(wb, v);

	assert(r == 0);
	(void)r;
}

static void wr64(struct cl_wbuf *wb, uint64_t v)
{
	int r = cl_wbuf_put_be64(wb, v);

	assert(r == 0);
	(void)r;
}

static void wrstr(struct cl_wbuf *wb, const char *s, size_t n)
{
	int r = cl_wbuf_put_fixed_str(wb, s, n);

	assert(r == 0);
	(void)r;
}

/* Restores rb to `pos` and returns r: for validation failures after take(). */
static int reject(struct cl_rbuf *rb, size_t pos, int r)
{
	rb->pos = pos;
	return r;
}

/* ---- Command header ---- */

struct cl_live_cmd_hdr cl_live_cmd_hdr_make(uint32_t cmd)
{
	int size = cl_live_request_payload_size(cmd);

	return (struct cl_live_cmd_hdr){
		.data_size = size > 0 ? (uint64_t)size : 0,
		.cmd = cmd,
		.cmd_version = 0,
	};
}

int cl_live_cmd_hdr_decode(struct cl_rbuf *rb, struct cl_live_cmd_hdr *ret)
{
	struct cl_rbuf m;
	int r = take(rb, CL_LIVE_CMD_HDR_SIZE, &m);

	if (r < 0)
		return r;
	ret->data_size = rd64(&m);
	ret->cmd = rd32(&m);
	ret->cmd_version = rd32(&m);
	return 0;
}

int cl_live_cmd_hdr_encode(struct cl_wbuf *wb, const struct cl_live_cmd_hdr *m)
{
	int r = room(wb, CL_LIVE_CMD_HDR_SIZE);

	if (r < 0)
		return r;
	wr64(wb, m->data_size);
	wr32(wb, m->cmd);
	wr32(wb, m->cmd_version);
	return 0;
}

/* ---- CONNECT ---- */

int cl_live_connect_decode(struct cl_rbuf *rb, struct cl_live_connect *ret)
{
	struct cl_rbuf m;
	int r = take(rb, CL_LIVE_CONNECT_SIZE, &m);

	if (r < 0)
		return r;
	ret->viewer_session_id = rd64(&m);
	ret->major = rd32(&m);
	ret->minor = rd32(&m);
	ret->type = rd32(&m);
	return 0;
}

int cl_live_connect_encode(struct cl_wbuf *wb, const struct cl_live_connect *m)
{
	int r = room(wb, CL_LIVE_CONNECT_SIZE);

	if (r < 0)
		return r;
	wr64(wb, m->viewer_session_id);
	wr32(wb, m->major);
	wr32(wb, m->minor);
	wr32(wb, m->type);
	return 0;
}

int cl_live_connect_check_reply(const struct cl_live_connect *m)
{
	return m->major == CL_LIVE_VERSION_MAJOR ? 0 : -ENOTSUP;
}

/* ---- LIST_SESSIONS ---- */

static int decode_u32_bounded(struct cl_rbuf *rb, uint32_t max, uint32_t *ret)
{
	struct cl_rbuf m;
	uint32_t v;
	int r = take(rb, 4, &m);

	if (r < 0)
		return r;
	v = rd32(&m);
	if (v > max)
		return reject(rb, rb->pos - 4, -E2BIG);
	*ret = v;
	return 0;
}

static int encode_u32(struct cl_wbuf *wb, uint32_t v)
{
	int r = room(wb, 4);

	if (r < 0)
		return r;
	wr32(wb, v);
	return 0;
}

static int decode_u64(struct cl_rbuf *rb, uint64_t *ret)
{
	struct cl_rbuf m;
	int r = take(rb, 8, &m);

	if (r < 0)
		return r;
	*ret = rd64(&m);
	return 0;
}

static int encode_u64(struct cl_wbuf *wb, uint64_t v)
{
	int r = room(wb, 8);

	if (r < 0)
		return r;
	wr64(wb, v);
	return 0;
}

int cl_live_list_reply_decode(struct cl_rbuf *rb, uint32_t *ret_count)
{
	return decode_u32_bounded(rb, CL_LIVE_MAX_SESSIONS, ret_count);
}

int cl_live_list_reply_encode(struct cl_wbuf *wb, uint32_t count)
{
	return encode_u32(wb, count);
}

int cl_live_session_decode(struct cl_rbuf *rb, struct cl_live_session *ret)
{
	struct cl_live_session s;
	struct cl_rbuf m;
	size_t pos = rb->pos;
	int r = take(rb, CL_LIVE_SESSION_SIZE, &m);

	if (r < 0)
		return r;
	s.id = rd64(&m);
	s.live_timer = rd32(&m);
	s.clients = rd32(&m);
	s.streams = rd32(&m);
	s.trace_format = CL_LIVE_TRACE_FORMAT_CTF_1_8;
	if (rdstr(&m, s.hostname, sizeof(s.hostname)) < 0 ||
	    rdstr(&m, s.session_name, sizeof(s.session_name)) < 0)
		return reject(rb, pos, -EPROTO);
	*ret = s;
	return 0;
}

int cl_live_session_encode(struct cl_wbuf *wb, const struct cl_live_session *m)
{
	int r = room(wb, CL_LIVE_SESSION_SIZE);

	if (r < 0)
		return r;
	wr64(wb, m->id);
	wr32(wb, m->live_timer);
	wr32(wb, m->clients);
	wr32(wb, m->streams);
	wrstr(wb, m->hostname, sizeof(m->hostname));
	wrstr(wb, m->session_name, sizeof(m->session_name));
	return 0;
}

/* A 2.15 name of len bytes (no NUL) into dst (n bytes, zero-filled after it). */
static int rdname(struct cl_rbuf *m, uint32_t len, char *dst, size_t n)
{
	const uint8_t *p;

	if (len >= n)
		return -EPROTO;
	if (cl_rbuf_get_bytes(m, len, &p) < 0)
		return -EMSGSIZE;
	if (memchr(p, '\0', len))
		return -EPROTO;
	memcpy(dst, p, len);
	memset(dst + len, 0, n - len);
	return 0;
}

int cl_live_session_decode_2_15(struct cl_rbuf *rb, struct cl_live_session *ret)
{
	struct cl_live_session s;
	struct cl_rbuf m = *rb;
	uint32_t host_len, name_len;
	int r;

	if (cl_rbuf_left(&m) < CL_LIVE_SESSION_2_15_SIZE)
		return -EMSGSIZE;
	s.id = rd64(&m);
	s.live_timer = rd32(&m);
	s.clients = rd32(&m);
	s.streams = rd32(&m);
	host_len = rd32(&m);
	name_len = rd32(&m);
	s.trace_format = rd32(&m);
	r = rdname(&m, host_len, s.hostname, sizeof(s.hostname));
	if (r == 0)
		r = rdname(&m, name_len, s.session_name, sizeof(s.session_name));
	if (r < 0)
		return r;
	*rb = m;
	*ret = s;
	return 0;
}

size_t cl_live_session_size_2_15(const struct cl_live_session *m)
{
	return CL_LIVE_SESSION_2_15_SIZE + strnlen(m->hostname, sizeof(m->hostname) - 1) +
	       strnlen(m->session_name, sizeof(m->session_name) - 1);
}

int cl_live_session_encode_2_15(struct cl_wbuf *wb, const struct cl_live_session *m)
{
	size_t hl = strnlen(m->hostname, sizeof(m->hostname) - 1);
	size_t nl = strnlen(m->session_name, sizeof(m->session_name) - 1);
	int r = room(wb, cl_live_session_size_2_15(m));

	if (r < 0)
		return r;
	wr64(wb, m->id);
	wr32(wb, m->live_timer);
	wr32(wb, m->clients);
	wr32(wb, m->streams);
	wr32(wb, (uint32_t)hl);
	wr32(wb, (uint32_t)nl);
	wr32(wb, m->trace_format);
	r = cl_wbuf_put_bytes(wb, m->hostname, hl);
	if (r == 0)
		r = cl_wbuf_put_bytes(wb, m->session_name, nl);
	assert(r == 0);
	return 0;
}

/* ---- ATTACH_SESSION ---- */

int cl_live_attach_request_decode(struct cl_rbuf *rb, struct cl_live_attach_request *ret)
{
	struct cl_rbuf m;
	int r = take(rb, CL_LIVE_ATTACH_REQUEST_SIZE, &m);

	if (r < 0)
		return r;
	ret->session_id = rd64(&m);
	ret->offset = rd64(&m);
	ret->seek = rd32(&m);
	return 0;
}

int cl_live_attach_request_encode(struct cl_wbuf *wb, const struct cl_live_attach_request *m)
{
	int r = room(wb, CL_LIVE_ATTACH_REQUEST_SIZE);

	if (r < 0)
		return r;
	wr64(wb, m->session_id);
	wr64(wb, m->offset);
	wr32(wb, m->seek);
	return 0;
}

/* Shared by the ATTACH_SESSION and GET_NEW_STREAMS replies. */
static int streams_reply_decode(struct cl_rbuf *rb, uint32_t max_status,
				struct cl_live_streams_reply *ret)
{
	struct cl_live_streams_reply s;
	struct cl_rbuf m;
	size_t pos = rb->pos;
	int r = take(rb, CL_LIVE_STREAMS_REPLY_SIZE, &m);

	if (r < 0)
		return r;
	s.status = rd32(&m);
	s.streams_count = rd32(&m);
	if (s.status == 0 || s.status > max_status)
		return reject(rb, pos, -EPROTO);
	/* OK is 1 in both enums. */
	if (s.status != 1 && s.streams_count != 0)
		return reject(rb, pos, -EPROTO);
	if (s.streams_count > CL_LIVE_MAX_STREAMS)
		return reject(rb, pos, -E2BIG);
	*ret = s;
	return 0;
}

static int streams_reply_encode(struct cl_wbuf *wb, const struct cl_live_streams_reply *m)
{
	int r;

	if (m->status != 1 && m->streams_count != 0)
		return -EINVAL;
	r = room(wb, CL_LIVE_STREAMS_REPLY_SIZE);
	if (r < 0)
		return r;
	wr32(wb, m->status);
	wr32(wb, m->streams_count);
	return 0;
}

static_assert(CL_LIVE_ATTACH_OK == 1 && CL_LIVE_NEW_STREAMS_OK == 1, "OK shared");

int cl_live_attach_reply_decode(struct cl_rbuf *rb, struct cl_live_streams_reply *ret)
{
	return streams_reply_decode(rb, CL_LIVE_ATTACH_NO_SESSION, ret);
}

int cl_live_attach_reply_encode(struct cl_wbuf *wb, const struct cl_live_streams_reply *m)
{
	return streams_reply_encode(wb, m);
}

int cl_live_stream_decode(struct cl_rbuf *rb, struct cl_live_stream *ret)
{
	struct cl_rbuf m;
	size_t pos = rb->pos;
	uint64_t id, trace_id;
	uint32_t flag;
	int r = take(rb, CL_LIVE_STREAM_SIZE, &m);

	if (r < 0)
		return r;
	id = rd64(&m);
	trace_id = rd64(&m);
	flag = rd32(&m);
	if (flag > 1)
		return reject(rb, pos, -EPROTO);
	/*
	 * Validate both strings before touching *ret (which is ~4 KiB: no
	 * local copy).
	 */
	if (!memchr(m.data + m.pos, '\0', CL_LIVE_PATH_MAX) ||
	    !memchr(m.data + m.pos + CL_LIVE_PATH_MAX, '\0', CL_LIVE_NAME_MAX))
		return reject(rb, pos, -EPROTO);
	ret->id = id;
	ret->ctf_trace_id = trace_id;
	ret->metadata_flag = flag != 0;
	r = rdstr(&m, ret->path_name, sizeof(ret->path_name));
	assert(r == 0);
	r = rdstr(&m, ret->channel_name, sizeof(ret->channel_name));
	assert(r == 0);
	(void)r;
	return 0;
}

int cl_live_stream_encode(struct cl_wbuf *wb, const struct cl_live_stream *m)
{
	int r = room(wb, CL_LIVE_STREAM_SIZE);

	if (r < 0)
		return r;
	wr64(wb, m->id);
	wr64(wb, m->ctf_trace_id);
	wr32(wb, m->metadata_flag ? 1 : 0);
	wrstr(wb, m->path_name, sizeof(m->path_name));
	wrstr(wb, m->channel_name, sizeof(m->channel_name));
	return 0;
}

/* ---- GET_NEXT_INDEX ---- */

int cl_live_get_next_index_decode(struct cl_rbuf *rb, uint64_t *ret_stream_id)
{
	return decode_u64(rb, ret_stream_id);
}

int cl_live_get_next_index_encode(struct cl_wbuf *wb, uint64_t stream_id)
{
	return encode_u64(wb, stream_id);
}

int cl_live_index_decode(struct cl_rbuf *rb, struct cl_live_index *ret)
{
	struct cl_live_index x;
	struct cl_rbuf m;
	size_t pos = rb->pos;
	int r = take(rb, CL_LIVE_INDEX_SIZE, &m);

	if (r < 0)
		return r;
	x.offset = rd64(&m);
	x.packet_size = rd64(&m);
	x.content_size = rd64(&m);
	x.timestamp_begin = rd64(&m);
	x.timestamp_end = rd64(&m);
	x.events_discarded = rd64(&m);
	x.stream_id = rd64(&m);
	x.status = rd32(&m);
	x.flags = rd32(&m);
	if (x.status < CL_LIVE_INDEX_OK || x.status > CL_LIVE_INDEX_EOF)
		return reject(rb, pos, -EPROTO);
	if (x.status == CL_LIVE_INDEX_OK &&
	    (x.content_size > x.packet_size || x.packet_size % 8 != 0 ||
	     x.packet_size / 8 > UINT64_MAX - x.offset))
		return reject(rb, pos, -EPROTO);
	*ret = x;
	return 0;
}

int cl_live_index_encode(struct cl_wbuf *wb, const struct cl_live_index *m)
{
	int r = room(wb, CL_LIVE_INDEX_SIZE);

	if (r < 0)
		return r;
	wr64(wb, m->offset);
	wr64(wb, m->packet_size);
	wr64(wb, m->content_size);
	wr64(wb, m->timestamp_begin);
	wr64(wb, m->timestamp_end);
	wr64(wb, m->events_discarded);
	wr64(wb, m->stream_id);
	wr32(wb, m->status);
	wr32(wb, m->flags);
	return 0;
}

/* ---- GET_PACKET ---- */

int cl_live_get_packet_decode(struct cl_rbuf *rb, struct cl_live_get_packet *ret)
{
	struct cl_rbuf m;
	int r = take(rb, CL_LIVE_GET_PACKET_SIZE, &m);

	if (r < 0)
		return r;
	ret->stream_id = rd64(&m);
	ret->offset = rd64(&m);
	ret->len = rd32(&m);
	return 0;
}

int cl_live_get_packet_encode(struct cl_wbuf *wb, const struct cl_live_get_packet *m)
{
	int r = room(wb, CL_LIVE_GET_PACKET_SIZE);

	if (r < 0)
		return r;
	wr64(wb, m->stream_id);
	wr64(wb, m->offset);
	wr32(wb, m->len);
	return 0;
}

int cl_live_packet_reply_decode(struct cl_rbuf *rb, struct cl_live_packet_reply *ret)
{
	struct cl_live_packet_reply x;
	struct cl_rbuf m;
	size_t pos = rb->pos;
	int r = take(rb, CL_LIVE_PACKET_REPLY_SIZE, &m);

	if (r < 0)
		return r;
	x.status = rd32(&m);
	x.len = rd32(&m);
	x.flags = rd32(&m);
	if (x.status < CL_LIVE_PACKET_OK || x.status > CL_LIVE_PACKET_EOF)
		return reject(rb, pos, -EPROTO);
	if (x.status != CL_LIVE_PACKET_OK && x.len != 0)
		return reject(rb, pos, -EPROTO);
	*ret = x;
	return 0;
}

int cl_live_packet_reply_encode(struct cl_wbuf *wb, const struct cl_live_packet_reply *m)
{
	int r;

	if (m->status != CL_LIVE_PACKET_OK && m->len != 0)
		return -EINVAL;
	r = room(wb, CL_LIVE_PACKET_REPLY_SIZE);
	if (r < 0)
		return r;
	wr32(wb, m->status);
	wr32(wb, m->len);
	wr32(wb, m->flags);
	return 0;
}

/* ---- GET_METADATA ---- */

int cl_live_get_metadata_decode(struct cl_rbuf *rb, uint64_t *ret_stream_id)
{
	return decode_u64(rb, ret_stream_id);
}

int cl_live_get_metadata_encode(struct cl_wbuf *wb, uint64_t stream_id)
{
	return encode_u64(wb, stream_id);
}

int cl_live_metadata_reply_decode(struct cl_rbuf *rb, struct cl_live_metadata_reply *ret)
{
	struct cl_live_metadata_reply x;
	struct cl_rbuf m;
	size_t pos = rb->pos;
	int r = take(rb, CL_LIVE_METADATA_REPLY_SIZE, &m);

	if (r < 0)
		return r;
	x.len = rd64(&m);
	x.status = rd32(&m);
	if (x.status < CL_LIVE_METADATA_OK || x.status > CL_LIVE_METADATA_ERR)
		return reject(rb, pos, -EPROTO);
	if (x.status != CL_LIVE_METADATA_OK && x.len != 0)
		return reject(rb, pos, -EPROTO);
	if (x.len > CL_LIVE_MAX_METADATA_LEN)
		return reject(rb, pos, -E2BIG);
	*ret = x;
	return 0;
}

int cl_live_metadata_reply_encode(struct cl_wbuf *wb, const struct cl_live_metadata_reply *m)
{
	int r;

	if (m->status != CL_LIVE_METADATA_OK && m->len != 0)
		return -EINVAL;
	r = room(wb, CL_LIVE_METADATA_REPLY_SIZE);
	if (r < 0)
		return r;
	wr64(wb, m->len);
	wr32(wb, m->status);
	return 0;
}

/* ---- GET_NEW_STREAMS ---- */

int cl_live_new_streams_request_decode(struct cl_rbuf *rb, uint64_t *ret_session_id)
{
	return decode_u64(rb, ret_session_id);
}

int cl_live_new_streams_request_encode(struct cl_wbuf *wb, uint64_t session_id)
{
	return encode_u64(wb, session_id);
}

int cl_live_new_streams_reply_decode(struct cl_rbuf *rb, struct cl_live_streams_reply *ret)
{
	return streams_reply_decode(rb, CL_LIVE_NEW_STREAMS_HUP, ret);
}

int cl_live_new_streams_reply_encode(struct cl_wbuf *wb, const struct cl_live_streams_reply *m)
{
	return streams_reply_encode(wb, m);
}

/* ---- CREATE_SESSION ---- */

static int status_decode(struct cl_rbuf *rb, uint32_t max_status, uint32_t *ret_status)
{
	struct cl_rbuf m;
	size_t pos = rb->pos;
	uint32_t v;
	int r = take(rb, CL_LIVE_STATUS_REPLY_SIZE, &m);

	if (r < 0)
		return r;
	v = rd32(&m);
	if (v == 0 || v > max_status)
		return reject(rb, pos, -EPROTO);
	*ret_status = v;
	return 0;
}

int cl_live_create_session_reply_decode(struct cl_rbuf *rb, uint32_t *ret_status)
{
	return status_decode(rb, CL_LIVE_CREATE_SESSION_ERR, ret_status);
}

int cl_live_create_session_reply_encode(struct cl_wbuf *wb, uint32_t status)
{
	return encode_u32(wb, status);
}

/* ---- DETACH_SESSION ---- */

int cl_live_detach_request_decode(struct cl_rbuf *rb, uint64_t *ret_session_id)
{
	return decode_u64(rb, ret_session_id);
}

int cl_live_detach_request_encode(struct cl_wbuf *wb, uint64_t session_id)
{
	return encode_u64(wb, session_id);
}

int cl_live_detach_reply_decode(struct cl_rbuf *rb, uint32_t *ret_status)
{
	return status_decode(rb, CL_LIVE_DETACH_ERR, ret_status);
}

int cl_live_detach_reply_encode(struct cl_wbuf *wb, uint32_t status)
{
	return encode_u32(wb, status);
}
