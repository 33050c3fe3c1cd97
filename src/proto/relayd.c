/* SPDX-License-Identifier: MIT */
/*
 * Relayd control/data message codec. See relayd.h; every field is read
 * through the bounded cursor of common/bytes.h, so a short payload fails with
 * -EMSGSIZE before any field is used.
 */
#include "relayd-proto.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "bytes.h"

static_assert(CL_RELAYD_CREATE_SESSION_2_4_SIZE ==
		      CL_RELAYD_NAME_MAX_2_4 + CL_RELAYD_HOST_NAME_MAX_2_4 + 4 + 4,
	      "2.4 create-session layout");
static_assert(CL_RELAYD_ADD_STREAM_2_1_SIZE == CL_RELAYD_STREAM_NAME_MAX + CL_RELAYD_PATH_MAX,
	      "2.1 add-stream layout");
static_assert(CL_RELAYD_ADD_STREAM_2_2_SIZE == CL_RELAYD_ADD_STREAM_2_1_SIZE + 16,
	      "2.2 add-stream layout");
static_assert(CL_RELAYD_CREATE_SESSION_2_11_SIZE == 4 * 4 + 1 + 1 + 16 + 8 + 8 + 1 + 8,
	      "2.11 create-session layout");
static_assert(CL_RELAYD_INDEX_SIZE_2_8 == 10 * 8, "index layout");

const char *cl_relayd_cmd_name(uint32_t cmd)
{
	static const char *const names[] = {
		[CL_RELAYD_ADD_STREAM] = "ADD_STREAM",
		[CL_RELAYD_CREATE_SESSION] = "CREATE_SESSION",
		[CL_RELAYD_START_DATA] = "START_DATA",
		[CL_RELAYD_UPDATE_SYNC_INFO] = "UPDATE_SYNC_INFO",
		[CL_RELAYD_VERSION] = "VERSION",
		[CL_RELAYD_SEND_METADATA] = "SEND_METADATA",
		[CL_RELAYD_CLOSE_STREAM] = "CLOSE_STREAM",
		[CL_RELAYD_DATA_PENDING] = "DATA_PENDING",
		[CL_RELAYD_QUIESCENT_CONTROL] = "QUIESCENT_CONTROL",
		[CL_RELAYD_BEGIN_DATA_PENDING] = "BEGIN_DATA_PENDING",
		[CL_RELAYD_END_DATA_PENDING] = "END_DATA_PENDING",
		[CL_RELAYD_ADD_INDEX] = "ADD_INDEX",
		[CL_RELAYD_SEND_INDEX] = "SEND_INDEX",
		[CL_RELAYD_CLOSE_INDEX] = "CLOSE_INDEX",
		[CL_RELAYD_LIST_SESSIONS] = "LIST_SESSIONS",
		[CL_RELAYD_STREAMS_SENT] = "STREAMS_SENT",
		[CL_RELAYD_RESET_METADATA] = "RESET_METADATA",
		[CL_RELAYD_ROTATE_STREAMS] = "ROTATE_STREAMS",
		[CL_RELAYD_CREATE_TRACE_CHUNK] = "CREATE_TRACE_CHUNK",
		[CL_RELAYD_CLOSE_TRACE_CHUNK] = "CLOSE_TRACE_CHUNK",
		[CL_RELAYD_TRACE_CHUNK_EXISTS] = "TRACE_CHUNK_EXISTS",
		[CL_RELAYD_GET_CONFIGURATION] = "GET_CONFIGURATION",
	};

	if (cmd < sizeof(names) / sizeof(names[0]) && names[cmd])
		return names[cmd];
	return "UNKNOWN";
}

int cl_relayd_decode_hdr(const uint8_t *data, size_t len, struct cl_relayd_hdr *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_hdr h;

	if (cl_rbuf_get_be64(&rb, &h.circuit_id) || cl_rbuf_get_be64(&rb, &h.data_size) ||
	    cl_rbuf_get_be32(&rb, &h.cmd) || cl_rbuf_get_be32(&rb, &h.cmd_version))
		return -EMSGSIZE;
	*ret = h;
	return 0;
}

ssize_t cl_relayd_encode_hdr(uint8_t *buf, size_t cap, const struct cl_relayd_hdr *hdr)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);

	if (cl_wbuf_put_be64(&wb, hdr->circuit_id) || cl_wbuf_put_be64(&wb, hdr->data_size) ||
	    cl_wbuf_put_be32(&wb, hdr->cmd) || cl_wbuf_put_be32(&wb, hdr->cmd_version))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}

int cl_relayd_decode_data_hdr(const uint8_t *data, size_t len, struct cl_relayd_data_hdr *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_data_hdr h;

	if (cl_rbuf_get_be64(&rb, &h.circuit_id) || cl_rbuf_get_be64(&rb, &h.stream_id) ||
	    cl_rbuf_get_be64(&rb, &h.net_seq_num) || cl_rbuf_get_be32(&rb, &h.data_size) ||
	    cl_rbuf_get_be32(&rb, &h.padding_size))
		return -EMSGSIZE;
	*ret = h;
	return 0;
}

ssize_t cl_relayd_encode_data_hdr(uint8_t *buf, size_t cap, const struct cl_relayd_data_hdr *h)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);

	if (cl_wbuf_put_be64(&wb, h->circuit_id) || cl_wbuf_put_be64(&wb, h->stream_id) ||
	    cl_wbuf_put_be64(&wb, h->net_seq_num) || cl_wbuf_put_be32(&wb, h->data_size) ||
	    cl_wbuf_put_be32(&wb, h->padding_size))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}

int cl_relayd_decode_version(const uint8_t *data, size_t len, struct cl_relayd_version *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_version v;

	if (cl_rbuf_get_be32(&rb, &v.major) || cl_rbuf_get_be32(&rb, &v.minor))
		return -EMSGSIZE;
	*ret = v;
	return 0;
}

int cl_relayd_decode_u64(const uint8_t *data, size_t len, uint64_t *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);

	return cl_rbuf_get_be64(&rb, ret);
}

int cl_relayd_decode_u64_pair(const uint8_t *data, size_t len, uint64_t *ret_a, uint64_t *ret_b)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	uint64_t a, b;

	if (cl_rbuf_get_be64(&rb, &a) || cl_rbuf_get_be64(&rb, &b))
		return -EMSGSIZE;
	*ret_a = a;
	*ret_b = b;
	return 0;
}

/* The 2.11 layout, and the 2.15 one (with_format): the same fixed part
 * followed by `u32 trace_format`, then the names. */
static int decode_create_session_2_11(struct cl_rbuf *rb, struct cl_relayd_create_session *s,
				      bool with_format)
{
	uint32_t name_len, host_len, base_len;
	uint8_t snapshot, has_ctime, chunk_set;
	const uint8_t *uuid;
	int r;

	if (cl_rbuf_get_be32(rb, &name_len) || cl_rbuf_get_be32(rb, &host_len) ||
	    cl_rbuf_get_be32(rb, &base_len) || cl_rbuf_get_be32(rb, &s->live_timer) ||
	    cl_rbuf_get_u8(rb, &snapshot) || cl_rbuf_get_u8(rb, &has_ctime) ||
	    cl_rbuf_get_bytes(rb, CL_RELAYD_UUID_LEN, &uuid) ||
	    cl_rbuf_get_be64(rb, &s->sessiond_session_id) ||
	    cl_rbuf_get_be64(rb, &s->creation_time) || cl_rbuf_get_u8(rb, &chunk_set) ||
	    cl_rbuf_get_be64(rb, &s->current_chunk_id))
		return -EMSGSIZE;
	if (with_format) {
		if (cl_rbuf_get_be32(rb, &s->trace_format))
			return -EMSGSIZE;
		if (s->trace_format != CL_RELAYD_TRACE_FORMAT_CTF_1_8 &&
		    s->trace_format != CL_RELAYD_TRACE_FORMAT_CTF_2)
			return -EPROTO;
	}

	/* Bounds of lttng-relayd's cmd-2-11.c, except that an empty host name is
	 * refused (the real relay then reads byte -1). */
	if (name_len < 1 || name_len > CL_RELAYD_NAME_MAX || host_len < 1 ||
	    host_len > CL_RELAYD_HOST_NAME_MAX || base_len > CL_RELAYD_PATH_MAX)
		return -EPROTO;
	r = cl_rbuf_get_cstr(rb, name_len, &s->session_name);
	if (r == 0)
		r = cl_rbuf_get_cstr(rb, host_len, &s->hostname);
	if (r < 0)
		return r;
	if (base_len == 0)
		s->base_path = "";
	else if ((r = cl_rbuf_get_cstr(rb, base_len, &s->base_path)) < 0)
		return r;

	s->snapshot = snapshot != 0;
	s->session_name_contains_creation_time = has_ctime != 0;
	s->has_current_chunk_id = chunk_set != 0;
	memcpy(s->sessiond_uuid, uuid, CL_RELAYD_UUID_LEN);
	return 0;
}

int cl_relayd_decode_create_session(const uint8_t *data, size_t len, uint32_t minor,
				    struct cl_relayd_create_session *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_create_session s = { .session_name = "",
					      .hostname = "",
					      .base_path = "",
					      .trace_format = CL_RELAYD_TRACE_FORMAT_CTF_1_8 };
	uint32_t snapshot;
	int r;

	if (minor >= 11) {
		r = decode_create_session_2_11(&rb, &s, minor >= 15);
		if (r < 0)
			return r;
	} else if (minor >= 4) {
		if (cl_rbuf_get_fixed_str(&rb, CL_RELAYD_NAME_MAX_2_4, &s.session_name) ||
		    cl_rbuf_get_fixed_str(&rb, CL_RELAYD_HOST_NAME_MAX_2_4, &s.hostname))
			return len < CL_RELAYD_NAME_MAX_2_4 + CL_RELAYD_HOST_NAME_MAX_2_4
				       ? -EMSGSIZE
				       : -EPROTO;
		if (cl_rbuf_get_be32(&rb, &s.live_timer) || cl_rbuf_get_be32(&rb, &snapshot))
			return -EMSGSIZE;
		s.snapshot = snapshot != 0;
	}
	*ret = s;
	return 0;
}

int cl_relayd_decode_add_stream(const uint8_t *data, size_t len, uint32_t minor,
				struct cl_relayd_add_stream *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_add_stream s = { 0 };
	int r;

	if (minor >= 11) {
		uint32_t chan_len, path_len;

		if (cl_rbuf_get_be32(&rb, &chan_len) || cl_rbuf_get_be32(&rb, &path_len) ||
		    cl_rbuf_get_be64(&rb, &s.tracefile_size) ||
		    cl_rbuf_get_be64(&rb, &s.tracefile_count) ||
		    cl_rbuf_get_be64(&rb, &s.trace_chunk_id))
			return -EMSGSIZE;
		if (chan_len > CL_RELAYD_STREAM_NAME_MAX || path_len > CL_RELAYD_STREAM_PATH_MAX)
			return -EPROTO;
		r = cl_rbuf_get_cstr(&rb, chan_len, &s.channel_name);
		if (r == 0)
			r = cl_rbuf_get_cstr(&rb, path_len, &s.pathname);
		if (r < 0)
			return r;
	} else {
		if (len < CL_RELAYD_ADD_STREAM_2_1_SIZE)
			return -EMSGSIZE;
		if (cl_rbuf_get_fixed_str(&rb, CL_RELAYD_STREAM_NAME_MAX, &s.channel_name) ||
		    cl_rbuf_get_fixed_str(&rb, CL_RELAYD_PATH_MAX, &s.pathname))
			return -EPROTO;
		if (strlen(s.pathname) >= CL_RELAYD_STREAM_PATH_MAX)
			return -EPROTO;
		if (minor >= 2 && (cl_rbuf_get_be64(&rb, &s.tracefile_size) ||
				   cl_rbuf_get_be64(&rb, &s.tracefile_count)))
			return -EMSGSIZE;
	}
	*ret = s;
	return 0;
}

int cl_relayd_decode_metadata_hdr(const uint8_t *data, size_t len,
				  struct cl_relayd_metadata_hdr *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_metadata_hdr h;

	if (cl_rbuf_get_be64(&rb, &h.stream_id) || cl_rbuf_get_be32(&rb, &h.padding_size))
		return -EMSGSIZE;
	*ret = h;
	return 0;
}

int cl_relayd_decode_index(const uint8_t *data, size_t len, uint32_t minor,
			   struct cl_relayd_index *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_index ix;

	if (cl_rbuf_get_be64(&rb, &ix.relay_stream_id) || cl_rbuf_get_be64(&rb, &ix.net_seq_num) ||
	    cl_rbuf_get_be64(&rb, &ix.packet_size) || cl_rbuf_get_be64(&rb, &ix.content_size) ||
	    cl_rbuf_get_be64(&rb, &ix.timestamp_begin) ||
	    cl_rbuf_get_be64(&rb, &ix.timestamp_end) ||
	    cl_rbuf_get_be64(&rb, &ix.events_discarded) || cl_rbuf_get_be64(&rb, &ix.stream_id))
		return -EMSGSIZE;
	if (minor >= 8) {
		if (cl_rbuf_get_be64(&rb, &ix.stream_instance_id) ||
		    cl_rbuf_get_be64(&rb, &ix.packet_seq_num))
			return -EMSGSIZE;
	} else {
		ix.stream_instance_id = UINT64_MAX;
		ix.packet_seq_num = UINT64_MAX;
	}
	*ret = ix;
	return 0;
}

int cl_relayd_decode_create_chunk(const uint8_t *data, size_t len,
				  struct cl_relayd_create_chunk *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_create_chunk c = { 0 };
	uint32_t name_len;
	int r;

	if (cl_rbuf_get_be64(&rb, &c.chunk_id) || cl_rbuf_get_be64(&rb, &c.creation_timestamp) ||
	    cl_rbuf_get_be32(&rb, &name_len))
		return -EMSGSIZE;
	if (name_len > 0) {
		/* 1..254 characters plus the NUL (trace-chunk.c is_valid_chunk_name). */
		if (name_len < 2 || name_len > 255)
			return -EPROTO;
		r = cl_rbuf_get_cstr(&rb, name_len, &c.override_name);
		if (r < 0)
			return r;
		if (strchr(c.override_name, '/') || c.override_name[0] == '.')
			return -EPROTO;
	}
	*ret = c;
	return 0;
}

int cl_relayd_decode_close_chunk(const uint8_t *data, size_t len, struct cl_relayd_close_chunk *ret)
{
	struct cl_rbuf rb = cl_rbuf_make(data, len);
	struct cl_relayd_close_chunk c;
	uint8_t is_set;

	if (cl_rbuf_get_be64(&rb, &c.chunk_id) || cl_rbuf_get_be64(&rb, &c.close_timestamp) ||
	    cl_rbuf_get_u8(&rb, &is_set) || cl_rbuf_get_be32(&rb, &c.close_command))
		return -EMSGSIZE;
	c.has_close_command = is_set != 0;
	if (c.has_close_command && c.close_command > CL_CHUNK_CLOSE_DELETE)
		return -EPROTO;
	*ret = c;
	return 0;
}

int cl_relayd_decode_rotate_streams(const uint8_t *data, size_t len, uint32_t max_streams,
				    struct cl_relayd_rotate_streams *ret)
{
	/* Header sizes with the chunk id's value offset (§5.15): amd64, i386, packed. */
	static const struct {
		size_t hdr;
		size_t value_off;
	} layouts[] = { { 20, 12 }, { 16, 8 }, { 13, 5 } };
	struct cl_relayd_rotate_streams rs;
	uint64_t body;

	if (len < 4)
		return -EMSGSIZE;
	rs.stream_count = cl_load_be32(data);
	if (rs.stream_count > max_streams)
		return -E2BIG;
	body = (uint64_t)rs.stream_count * CL_RELAYD_ROTATE_POSITION_SIZE;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		if ((uint64_t)len != layouts[i].hdr + body)
			continue;
		/* Padding bytes are uninitialised on the sender: never check them. */
		rs.has_new_chunk_id = data[4] != 0;
		rs.new_chunk_id = cl_load_be64(data + layouts[i].value_off);
		rs.positions = data + layouts[i].hdr;
		*ret = rs;
		return 0;
	}
	return len < 13 + body ? -EMSGSIZE : -EPROTO;
}

void cl_relayd_rotate_position(const struct cl_relayd_rotate_streams *rs, uint32_t i,
			       uint64_t *ret_stream_id, uint64_t *ret_rotate_at_seq_num)
{
	const uint8_t *p;

	assert(i < rs->stream_count);
	p = rs->positions + (size_t)i * CL_RELAYD_ROTATE_POSITION_SIZE;
	*ret_stream_id = cl_load_be64(p);
	*ret_rotate_at_seq_num = cl_load_be64(p + 8);
}

ssize_t cl_relayd_encode_generic_reply(uint8_t *buf, size_t cap, uint32_t ret_code)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);

	if (cl_wbuf_put_be32(&wb, ret_code))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}

ssize_t cl_relayd_encode_version_reply(uint8_t *buf, size_t cap, uint32_t major, uint32_t minor)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);

	if (cl_wbuf_put_be32(&wb, major) || cl_wbuf_put_be32(&wb, minor))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}

ssize_t cl_relayd_encode_status_session(uint8_t *buf, size_t cap, uint64_t session_id,
					uint32_t ret_code)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);

	if (cl_wbuf_put_be64(&wb, session_id) || cl_wbuf_put_be32(&wb, ret_code))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}

ssize_t cl_relayd_encode_create_session_reply(uint8_t *buf, size_t cap, uint64_t session_id,
					      uint32_t ret_code, const char *path)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);
	size_t n = path ? strlen(path) + 1 : 0;

	if (n > UINT32_MAX || cl_wbuf_put_be64(&wb, session_id) ||
	    cl_wbuf_put_be32(&wb, ret_code) || cl_wbuf_put_be32(&wb, (uint32_t)n) ||
	    cl_wbuf_put_bytes(&wb, path, n))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}

ssize_t cl_relayd_encode_status_stream(uint8_t *buf, size_t cap, uint64_t handle, uint32_t ret_code)
{
	return cl_relayd_encode_status_session(buf, cap, handle, ret_code);
}

ssize_t cl_relayd_encode_configuration_reply(uint8_t *buf, size_t cap, uint32_t ret_code,
					     uint64_t flags)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);

	if (cl_wbuf_put_be32(&wb, ret_code) || cl_wbuf_put_be64(&wb, flags))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}

ssize_t cl_relayd_encode_chunk_exists_reply(uint8_t *buf, size_t cap, uint32_t ret_code,
					    bool exists)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);

	if (cl_wbuf_put_be32(&wb, ret_code) || cl_wbuf_put_u8(&wb, exists ? 1 : 0))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}

ssize_t cl_relayd_encode_close_chunk_reply(uint8_t *buf, size_t cap, uint32_t ret_code,
					   const char *path)
{
	struct cl_wbuf wb = cl_wbuf_make(buf, cap);
	size_t n = ret_code == CL_LTTNG_OK && path ? strlen(path) + 1 : 0;

	if (n > UINT32_MAX || cl_wbuf_put_be32(&wb, ret_code) ||
	    cl_wbuf_put_be32(&wb, (uint32_t)n) || cl_wbuf_put_bytes(&wb, path, n))
		return -EMSGSIZE;
	return (ssize_t)wb.pos;
}
