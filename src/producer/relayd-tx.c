/* SPDX-License-Identifier: MIT */
/*
 * Consumer-side encoders and reply decoders of the relayd protocol
 * (relayd-protocol.md §2, §5). Every integer big-endian, structs packed.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "relayd-tx.h"

static_assert(CL_RELAYD_CTRL_HDR_SIZE == 8 + 8 + 4 + 4, "control header");
static_assert(CL_RELAYD_DATA_HDR_SIZE == 8 + 8 + 8 + 4 + 4, "data header");
static_assert(CL_RELAYD_INDEX_SIZE_2_8 == 10 * 8, "index");
static_assert(CL_RELAYD_CREATE_SESSION_2_11_SIZE == 4 * 4 + 2 + 16 + 8 + 8 + 1 + 8,
	      "create session 2.11");
static_assert(CL_RELAYD_ADD_STREAM_2_11_SIZE == 4 + 4 + 8 + 8 + 8, "add stream 2.11");

int cl_relayd_tx_hdr(struct cl_wbuf *wb, uint32_t cmd, uint64_t size)
{
	size_t pos = wb->pos;

	if (cl_wbuf_put_be64(wb, 0) || cl_wbuf_put_be64(wb, size) || cl_wbuf_put_be32(wb, cmd) ||
	    cl_wbuf_put_be32(wb, 0)) {
		wb->pos = pos;
		return -EMSGSIZE;
	}
	return 0;
}

int cl_relayd_tx_version(struct cl_wbuf *wb, uint32_t major, uint32_t minor)
{
	size_t pos = wb->pos;

	if (cl_wbuf_put_be32(wb, major) || cl_wbuf_put_be32(wb, minor)) {
		wb->pos = pos;
		return -EMSGSIZE;
	}
	return 0;
}

int cl_relayd_tx_u64(struct cl_wbuf *wb, uint64_t v)
{
	return cl_wbuf_put_be64(wb, v);
}

int cl_relayd_tx_u64_pair(struct cl_wbuf *wb, uint64_t a, uint64_t b)
{
	size_t pos = wb->pos;

	if (cl_wbuf_put_be64(wb, a) || cl_wbuf_put_be64(wb, b)) {
		wb->pos = pos;
		return -EMSGSIZE;
	}
	return 0;
}

size_t cl_relayd_tx_create_session_size(uint32_t minor, const struct cl_relayd_create_session *cs)
{
	return (minor >= 15 ? CL_RELAYD_CREATE_SESSION_2_15_SIZE
			    : CL_RELAYD_CREATE_SESSION_2_11_SIZE) +
	       strlen(cs->session_name) + 1 + strlen(cs->hostname) + 1 + strlen(cs->base_path) + 1;
}

int cl_relayd_tx_create_session(struct cl_wbuf *wb, uint32_t minor,
				const struct cl_relayd_create_session *cs)
{
	size_t pos = wb->pos;
	size_t ln = strlen(cs->session_name) + 1, lh = strlen(cs->hostname) + 1,
	       lb = strlen(cs->base_path) + 1;
	int r = 0;

	if (ln > CL_RELAYD_NAME_MAX || lh > CL_RELAYD_HOST_NAME_MAX || lb > CL_RELAYD_PATH_MAX)
		return -EINVAL;
	r |= cl_wbuf_put_be32(wb, (uint32_t)ln);
	r |= cl_wbuf_put_be32(wb, (uint32_t)lh);
	r |= cl_wbuf_put_be32(wb, (uint32_t)lb);
	r |= cl_wbuf_put_be32(wb, cs->live_timer);
	r |= cl_wbuf_put_u8(wb, cs->snapshot);
	r |= cl_wbuf_put_u8(wb, cs->session_name_contains_creation_time);
	r |= cl_wbuf_put_bytes(wb, cs->sessiond_uuid, CL_RELAYD_UUID_LEN);
	r |= cl_wbuf_put_be64(wb, cs->sessiond_session_id);
	r |= cl_wbuf_put_be64(wb, cs->creation_time);
	r |= cl_wbuf_put_u8(wb, 0); /* current chunk id unset */
	r |= cl_wbuf_put_be64(wb, 0);
	if (minor >= 15)
		r |= cl_wbuf_put_be32(wb, cs->trace_format);
	r |= cl_wbuf_put_bytes(wb, cs->session_name, ln);
	r |= cl_wbuf_put_bytes(wb, cs->hostname, lh);
	r |= cl_wbuf_put_bytes(wb, cs->base_path, lb);
	if (r) {
		wb->pos = pos;
		return -EMSGSIZE;
	}
	return 0;
}

int cl_relayd_tx_add_stream(struct cl_wbuf *wb, const char *channel, const char *pathname,
			    uint64_t chunk_id)
{
	size_t pos = wb->pos, lc = strlen(channel) + 1, lp = strlen(pathname) + 1;
	int r = 0;

	if (lc > CL_RELAYD_STREAM_NAME_MAX || lp > CL_RELAYD_STREAM_PATH_MAX)
		return -EINVAL;
	r |= cl_wbuf_put_be32(wb, (uint32_t)lc);
	r |= cl_wbuf_put_be32(wb, (uint32_t)lp);
	r |= cl_wbuf_put_be64(wb, 0); /* tracefile_size: unlimited */
	r |= cl_wbuf_put_be64(wb, 0); /* tracefile_count */
	r |= cl_wbuf_put_be64(wb, chunk_id);
	r |= cl_wbuf_put_bytes(wb, channel, lc);
	r |= cl_wbuf_put_bytes(wb, pathname, lp);
	if (r) {
		wb->pos = pos;
		return -EMSGSIZE;
	}
	return 0;
}

int cl_relayd_tx_create_chunk(struct cl_wbuf *wb, uint64_t chunk_id, uint64_t created_s)
{
	size_t pos = wb->pos;

	if (cl_wbuf_put_be64(wb, chunk_id) || cl_wbuf_put_be64(wb, created_s) ||
	    cl_wbuf_put_be32(wb, 0)) {
		wb->pos = pos;
		return -EMSGSIZE;
	}
	return 0;
}

int cl_relayd_tx_index(struct cl_wbuf *wb, const struct cl_relayd_index *ix)
{
	const uint64_t v[] = { ix->relay_stream_id,  ix->net_seq_num,     ix->packet_size,
			       ix->content_size,     ix->timestamp_begin, ix->timestamp_end,
			       ix->events_discarded, ix->stream_id,       ix->stream_instance_id,
			       ix->packet_seq_num };
	size_t pos = wb->pos;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (cl_wbuf_put_be64(wb, v[i])) {
			wb->pos = pos;
			return -EMSGSIZE;
		}
	}
	return 0;
}

int cl_relayd_tx_metadata_hdr(struct cl_wbuf *wb, uint64_t stream_id, uint32_t padding)
{
	size_t pos = wb->pos;

	if (cl_wbuf_put_be64(wb, stream_id) || cl_wbuf_put_be32(wb, padding)) {
		wb->pos = pos;
		return -EMSGSIZE;
	}
	return 0;
}

int cl_relayd_tx_data_hdr(struct cl_wbuf *wb, const struct cl_relayd_data_hdr *h)
{
	size_t pos = wb->pos;

	if (cl_wbuf_put_be64(wb, 0) || cl_wbuf_put_be64(wb, h->stream_id) ||
	    cl_wbuf_put_be64(wb, h->net_seq_num) || cl_wbuf_put_be32(wb, h->data_size) ||
	    cl_wbuf_put_be32(wb, h->padding_size)) {
		wb->pos = pos;
		return -EMSGSIZE;
	}
	return 0;
}

uint32_t cl_relayd_rx_generic(const uint8_t *rep)
{
	return cl_load_be32(rep);
}

void cl_relayd_rx_status_stream(const uint8_t *rep, uint64_t *ret_handle, uint32_t *ret_code)
{
	*ret_handle = cl_load_be64(rep);
	*ret_code = cl_load_be32(rep + 8);
}

void cl_relayd_rx_create_session(const uint8_t *rep, uint64_t *ret_session_id, uint32_t *ret_code,
				 uint32_t *ret_path_len)
{
	*ret_session_id = cl_load_be64(rep);
	*ret_code = cl_load_be32(rep + 8);
	*ret_path_len = cl_load_be32(rep + 12);
}

const char *cl_relayd_status_words(uint32_t cmd, uint32_t code)
{
	static _Thread_local char unknown[64];

	switch (code) {
	case CL_LTTNG_OK:
		return "LTTNG_OK (status 10)";
	case CL_LTTNG_ERR_UNK:
		return "the request failed on the relay or names a stream it does not know "
		       "(LTTNG_ERR_UNK, status 11; the relay's log says why)";
	case CL_LTTNG_ERR_FATAL:
		if (cmd == CL_RELAYD_CREATE_SESSION)
			return "the relay cannot create the session: it refuses the session or "
			       "host name, or cannot create the session's directory below its "
			       "output directory (LTTNG_ERR_FATAL, status 25; the relay's log "
			       "says which)";
		return "fatal error on the relay (LTTNG_ERR_FATAL, status 25; the relay's log "
		       "says why)";
	case CL_LTTNG_ERR_NOMEM:
		return "the relay is out of memory or cannot create the trace chunk "
		       "(LTTNG_ERR_NOMEM, status 26)";
	case CL_LTTNG_ERR_INVALID:
		return "invalid request: a bad chunk name or an unknown stream "
		       "(LTTNG_ERR_INVALID, status 97)";
	case CL_LTTNG_ERR_INVALID_PROTOCOL:
		return "protocol error: the relay does not accept this request at the "
		       "negotiated protocol version (LTTNG_ERR_INVALID_PROTOCOL, status 152)";
	case CL_LTTNG_ERR_FILE_CREATION_ERROR:
		return "the relay cannot create a trace file (LTTNG_ERR_FILE_CREATION_ERROR, "
		       "status 153)";
	default:
		snprintf(unknown, sizeof(unknown), "status %u (not one the relay protocol uses)",
			 code);
		return unknown;
	}
}
