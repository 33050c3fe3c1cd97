/* SPDX-License-Identifier: MIT */
/*
 * LTTng relayd protocol (control and data sockets), as spoken by
 * lttng-sessiond/lttng-consumerd 2.13: message layouts, constants, and one
 * pure decode or encode function per message. No I/O happens here.
 *
 * Reference: shared docs "relayd-protocol.md" (sections cited per function),
 * itself derived from lttng-tools v2.13.9 src/common/sessiond-comm/relayd.h.
 *
 * Conventions:
 * - Every integer on the wire is big-endian; structs are packed.
 * - Decoders take a borrowed payload (`data`, `len` bytes) and fill a struct
 *   whose string pointers borrow from that payload. They return 0, -EMSGSIZE
 *   when the payload is shorter than the layout needs, -EPROTO when a field is
 *   malformed (string not NUL-terminated, length out of the protocol's bounds),
 *   or -E2BIG when a count exceeds ctflive's limits. Trailing extra bytes are
 *   ignored, as lttng-relayd does for fixed-size commands.
 * - Encoders write into a caller buffer and return the number of bytes
 *   written, or -EMSGSIZE if it does not fit.
 */
#ifndef CL_PROTO_RELAYD_H
#define CL_PROTO_RELAYD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* §0 constants */
#define CL_RELAYD_VERSION_MAJOR             2
#define CL_RELAYD_VERSION_MINOR             15
#define CL_RELAYD_CTRL_HDR_SIZE             24
#define CL_RELAYD_DATA_HDR_SIZE             32
#define CL_RELAYD_CTRL_MAX_PAYLOAD          (128u * 1024u * 1024u) /* bytes, as lttng-relayd */
#define CL_RELAYD_NAME_MAX                  255  /* LTTNG_NAME_MAX, includes NUL */
#define CL_RELAYD_HOST_NAME_MAX             256  /* LTTNG_HOST_NAME_MAX, includes NUL */
#define CL_RELAYD_PATH_MAX                  4096 /* LTTNG_PATH_MAX, includes NUL */
#define CL_RELAYD_STREAM_NAME_MAX           264  /* DEFAULT_STREAM_NAME_LEN, includes NUL */
#define CL_RELAYD_STREAM_PATH_MAX           255  /* 2.11 pathname limit, includes NUL */
#define CL_RELAYD_HOST_NAME_MAX_2_4         64
#define CL_RELAYD_NAME_MAX_2_4              255
#define CL_RELAYD_UUID_LEN                  16
#define CL_RELAYD_CREATE_SESSION_2_4_SIZE   327
#define CL_RELAYD_CREATE_SESSION_2_11_SIZE  59
#define CL_RELAYD_CREATE_SESSION_2_15_SIZE  63 /* 2.11 fixed part + u32 trace_format */
#define CL_RELAYD_ADD_STREAM_2_1_SIZE       4360
#define CL_RELAYD_ADD_STREAM_2_2_SIZE       4376
#define CL_RELAYD_ADD_STREAM_2_11_SIZE      32
#define CL_RELAYD_INDEX_SIZE_2_4            64 /* minor < 8 */
#define CL_RELAYD_INDEX_SIZE_2_8            80 /* minor >= 8 */
#define CL_RELAYD_METADATA_HDR_SIZE         12
#define CL_RELAYD_ROTATE_POSITION_SIZE      16
#define CL_RELAYD_CLOSE_CHUNK_SIZE          21
#define CL_RELAYD_CREATE_CHUNK_SIZE         20
#define CL_RELAYD_CONFIG_FLAG_CLEAR_ALLOWED (UINT64_C(1) << 0)

/* §3 enum lttcomm_relayd_command */
enum cl_relayd_cmd {
	CL_RELAYD_ADD_STREAM = 1,
	CL_RELAYD_CREATE_SESSION = 2,
	CL_RELAYD_START_DATA = 3,
	CL_RELAYD_UPDATE_SYNC_INFO = 4,
	CL_RELAYD_VERSION = 5,
	CL_RELAYD_SEND_METADATA = 6,
	CL_RELAYD_CLOSE_STREAM = 7,
	CL_RELAYD_DATA_PENDING = 8,
	CL_RELAYD_QUIESCENT_CONTROL = 9,
	CL_RELAYD_BEGIN_DATA_PENDING = 10,
	CL_RELAYD_END_DATA_PENDING = 11,
	CL_RELAYD_ADD_INDEX = 12,
	CL_RELAYD_SEND_INDEX = 13,
	CL_RELAYD_CLOSE_INDEX = 14,
	CL_RELAYD_LIST_SESSIONS = 15,
	CL_RELAYD_STREAMS_SENT = 16,
	CL_RELAYD_RESET_METADATA = 17,
	CL_RELAYD_ROTATE_STREAMS = 18,
	CL_RELAYD_CREATE_TRACE_CHUNK = 19,
	CL_RELAYD_CLOSE_TRACE_CHUNK = 20,
	CL_RELAYD_TRACE_CHUNK_EXISTS = 21,
	CL_RELAYD_GET_CONFIGURATION = 22,
};

/* §0.1 status codes (include/lttng/lttng-error.h) */
enum cl_relayd_status {
	CL_LTTNG_OK = 10,
	CL_LTTNG_ERR_UNK = 11,
	CL_LTTNG_ERR_FATAL = 25,
	CL_LTTNG_ERR_NOMEM = 26,
	CL_LTTNG_ERR_INVALID = 97,
	CL_LTTNG_ERR_INVALID_PROTOCOL = 152,
	CL_LTTNG_ERR_FILE_CREATION_ERROR = 153,
};

/* §5.13 enum lttng_trace_chunk_command_type */
enum cl_chunk_close_cmd {
	CL_CHUNK_CLOSE_MOVE_TO_COMPLETED = 0,
	CL_CHUNK_CLOSE_NO_OPERATION = 1,
	CL_CHUNK_CLOSE_DELETE = 2,
};

/* Returns the command's name ("ADD_STREAM"...) or "UNKNOWN". Static string. */
const char *cl_relayd_cmd_name(uint32_t cmd);

/* §2.1 control request header. */
struct cl_relayd_hdr {
	uint64_t circuit_id;
	uint64_t data_size; /* payload bytes that follow */
	uint32_t cmd;
	uint32_t cmd_version;
};
int cl_relayd_decode_hdr(const uint8_t *data, size_t len, struct cl_relayd_hdr *ret);
ssize_t cl_relayd_encode_hdr(uint8_t *buf, size_t cap, const struct cl_relayd_hdr *hdr);

/* §2.3 data socket header. */
struct cl_relayd_data_hdr {
	uint64_t circuit_id;
	uint64_t stream_id; /* relay stream handle */
	uint64_t net_seq_num;
	uint32_t data_size;    /* bytes of packet data that follow */
	uint32_t padding_size; /* zero bytes the relay appends; not sent */
};
int cl_relayd_decode_data_hdr(const uint8_t *data, size_t len, struct cl_relayd_data_hdr *ret);
ssize_t cl_relayd_encode_data_hdr(uint8_t *buf, size_t cap, const struct cl_relayd_data_hdr *h);

/* §5.1 VERSION request and reply share this layout. */
struct cl_relayd_version {
	uint32_t major;
	uint32_t minor;
};
int cl_relayd_decode_version(const uint8_t *data, size_t len, struct cl_relayd_version *ret);

/* A single u64 payload: GET_CONFIGURATION query_flags (§5.2), QUIESCENT_CONTROL
 * stream id (§5.9), BEGIN/END_DATA_PENDING session id (§5.10),
 * TRACE_CHUNK_EXISTS chunk id (§5.14). */
int cl_relayd_decode_u64(const uint8_t *data, size_t len, uint64_t *ret);

/* Two u64s: CLOSE_STREAM and DATA_PENDING {stream_id, last_net_seq_num} (§5.7,
 * §5.8), RESET_METADATA {stream_id, version} (§5.11). */
int cl_relayd_decode_u64_pair(const uint8_t *data, size_t len, uint64_t *ret_a, uint64_t *ret_b);

/*
 * Trace formats as the relayd protocol numbers them (lttng-tools'
 * `enum lttng_trace_format`, carried by CREATE_SESSION from minor 15). The
 * live protocol numbers the same formats differently: see
 * CL_LIVE_TRACE_FORMAT_* and cl_relayd_trace_format_to_live().
 */
enum cl_relayd_trace_format {
	CL_RELAYD_TRACE_FORMAT_CTF_1_8 = 1,
	CL_RELAYD_TRACE_FORMAT_CTF_2 = 2,
};

/* The live protocol's number (0 = CTF 1.8, 1 = CTF 2) of relayd format f. */
static inline uint32_t cl_relayd_trace_format_to_live(uint32_t f)
{
	return f == CL_RELAYD_TRACE_FORMAT_CTF_2 ? 1 : 0;
}

/*
 * §5.3 CREATE_SESSION. `minor` is the connection's negotiated minor: >= 15
 * selects the 2.15 layout (the 2.11 fixed part, then `u32 trace_format`,
 * then the names), 11..14 the 2.11 layout, 4..10 the 2.4 layout, below 4
 * the empty 2.1 layout (all fields zero, strings empty). Sessions of
 * layouts without a trace format are CTF 1.8. A 2.15 trace format other
 * than CTF 1.8 or CTF 2 is refused with -EPROTO, as lttng-relayd 2.15's
 * cmd-2-15 does.
 */
struct cl_relayd_create_session {
	const char *session_name; /* borrowed, NUL-terminated */
	const char *hostname;     /* borrowed */
	const char *base_path;    /* borrowed, may be "" */
	uint32_t live_timer;      /* µs; 0 = not live */
	bool snapshot;
	bool session_name_contains_creation_time;
	uint8_t sessiond_uuid[CL_RELAYD_UUID_LEN];
	uint64_t sessiond_session_id;
	uint64_t creation_time; /* seconds since the epoch */
	bool has_current_chunk_id;
	uint64_t current_chunk_id;
	uint32_t trace_format; /* enum cl_relayd_trace_format */
};
int cl_relayd_decode_create_session(const uint8_t *data, size_t len, uint32_t minor,
				    struct cl_relayd_create_session *ret);

/* §5.4 ADD_STREAM, layout chosen by minor (>= 11: 2.11; >= 2: 2.2; else 2.1). */
struct cl_relayd_add_stream {
	const char *channel_name; /* borrowed */
	const char *pathname;     /* borrowed */
	uint64_t tracefile_size;  /* bytes, 0 = unlimited */
	uint64_t tracefile_count; /* 0 = unlimited */
	uint64_t trace_chunk_id;  /* 2.11 only; informative */
};
int cl_relayd_decode_add_stream(const uint8_t *data, size_t len, uint32_t minor,
				struct cl_relayd_add_stream *ret);

/* §2.5 SEND_METADATA sub-header (the metadata bytes follow it). */
struct cl_relayd_metadata_hdr {
	uint64_t stream_id;
	uint32_t padding_size; /* zero bytes to append after the metadata */
};
int cl_relayd_decode_metadata_hdr(const uint8_t *data, size_t len,
				  struct cl_relayd_metadata_hdr *ret);

/* §5.6 SEND_INDEX (64 bytes if minor < 8, else 80). Sizes in bits,
 * timestamps in clock cycles. packet_size == 0 marks a beacon (§7.2). */
struct cl_relayd_index {
	uint64_t relay_stream_id;
	uint64_t net_seq_num;
	uint64_t packet_size;  /* bits */
	uint64_t content_size; /* bits */
	uint64_t timestamp_begin;
	uint64_t timestamp_end;
	uint64_t events_discarded;
	uint64_t stream_id;          /* CTF stream class id */
	uint64_t stream_instance_id; /* UINT64_MAX when absent (minor < 8) */
	uint64_t packet_seq_num;     /* UINT64_MAX when absent (minor < 8) */
};
int cl_relayd_decode_index(const uint8_t *data, size_t len, uint32_t minor,
			   struct cl_relayd_index *ret);

/* §5.12 CREATE_TRACE_CHUNK. override_name is NULL when not given. Names must
 * be 1..254 characters without '/' and not start with '.'; else -EPROTO. */
struct cl_relayd_create_chunk {
	uint64_t chunk_id;
	uint64_t creation_timestamp; /* seconds since the epoch */
	const char *override_name;   /* borrowed or NULL */
};
int cl_relayd_decode_create_chunk(const uint8_t *data, size_t len,
				  struct cl_relayd_create_chunk *ret);

/* §5.13 CLOSE_TRACE_CHUNK. */
struct cl_relayd_close_chunk {
	uint64_t chunk_id;
	uint64_t close_timestamp; /* seconds since the epoch */
	bool has_close_command;
	uint32_t close_command; /* enum cl_chunk_close_cmd */
};
int cl_relayd_decode_close_chunk(const uint8_t *data, size_t len,
				 struct cl_relayd_close_chunk *ret);

/*
 * §5.15 ROTATE_STREAMS. The header is 20, 16 or 13 bytes depending on the
 * sender's alignment of the optional chunk id; the layout is found from the
 * total length. Positions are decoded one by one with
 * cl_relayd_rotate_position() to avoid allocating. stream_count is bounded
 * by `max_streams` (-E2BIG).
 */
struct cl_relayd_rotate_streams {
	uint32_t stream_count;
	bool has_new_chunk_id;
	uint64_t new_chunk_id;
	const uint8_t *positions; /* borrowed, stream_count * 16 bytes */
};
int cl_relayd_decode_rotate_streams(const uint8_t *data, size_t len, uint32_t max_streams,
				    struct cl_relayd_rotate_streams *ret);
/* i-th position of a decoded ROTATE_STREAMS; i < stream_count. */
void cl_relayd_rotate_position(const struct cl_relayd_rotate_streams *rs, uint32_t i,
			       uint64_t *ret_stream_id, uint64_t *ret_rotate_at_seq_num);

/* ---- Replies (§2.2). Each returns bytes written or -EMSGSIZE. ---- */
ssize_t cl_relayd_encode_generic_reply(uint8_t *buf, size_t cap, uint32_t ret_code);
ssize_t cl_relayd_encode_version_reply(uint8_t *buf, size_t cap, uint32_t major, uint32_t minor);
/* ≤ 2.10 create-session reply: {session_id, ret_code}. */
ssize_t cl_relayd_encode_status_session(uint8_t *buf, size_t cap, uint64_t session_id,
					uint32_t ret_code);
/* 2.11 create-session reply; `path` (may be NULL when empty) is sent with its NUL. */
ssize_t cl_relayd_encode_create_session_reply(uint8_t *buf, size_t cap, uint64_t session_id,
					      uint32_t ret_code, const char *path);
ssize_t cl_relayd_encode_status_stream(uint8_t *buf, size_t cap, uint64_t handle,
				       uint32_t ret_code);
ssize_t cl_relayd_encode_configuration_reply(uint8_t *buf, size_t cap, uint32_t ret_code,
					     uint64_t flags);
ssize_t cl_relayd_encode_chunk_exists_reply(uint8_t *buf, size_t cap, uint32_t ret_code,
					    bool exists);
/* Close-chunk reply; `path` is sent (with NUL) only when ret_code is OK. */
ssize_t cl_relayd_encode_close_chunk_reply(uint8_t *buf, size_t cap, uint32_t ret_code,
					   const char *path);

#endif
