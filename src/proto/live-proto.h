/* SPDX-License-Identifier: MIT */
/*
 * LTTng live viewer protocol (the relay's "live" port, default 5344): wire
 * constants and one pure decode and one pure encode function per message.
 *
 * Shared by ctflive-relayd's live server and libctflive's viewer client. No
 * I/O, no allocation, no logging: every function works on a bounded cursor
 * (src/common/bytes.h) and returns 0 or a negative errno.
 *
 * Wire facts (see live-protocol.md §1 in the shared protocol docs):
 *   - every integer is big-endian, every structure packed, strings are
 *     fixed-size fields, NUL-terminated and zero-padded;
 *   - a request is a 16-byte command header followed by a fixed-size payload
 *     that depends only on the command (cl_live_request_payload_size()): the
 *     2.13 relay ignores the header's data_size and cmd_version, and so must a
 *     compatible server (Trace Compass sends wrong data_size values);
 *   - a reply is a fixed-size part (cl_live_reply_fixed_size()) possibly
 *     followed by records (LIST_SESSIONS, ATTACH_SESSION, GET_NEW_STREAMS)
 *     or by data bytes (GET_PACKET, GET_METADATA) whose count the fixed part
 *     gives.
 *
 * Host-side structures below are NOT wire images: they hold decoded values in
 * host byte order; strings are copied into arrays the size of their wire
 * field and are always NUL-terminated.
 *
 * Decoders:
 *   - consume exactly the message's wire size from rb on success;
 *   - leave rb unchanged and *ret untouched on failure;
 *   - return -EMSGSIZE when rb holds fewer bytes than the message,
 *     -EPROTO for a malformed message (string without NUL inside its field,
 *     unknown status code, status 0, a non-zero length or count next to a
 *     status that forbids it), -E2BIG when a count or length exceeds the
 *     limits below.
 *   Request decoders (used by a server) validate only the structure: values
 *   such as an unknown seek type or connection type must reach the server so
 *   that it can answer the way LTTng does (SEEK_ERR, closing the connection).
 *   Reply decoders (used by a client) also validate every status code.
 *
 * Encoders:
 *   - append exactly the message's wire size to wb, zero-filling string
 *     padding (lttng-tools aaabc543e: never leak bytes after the NUL);
 *   - truncate strings that do not fit their field (keeping the NUL);
 *   - return -EMSGSIZE (wb unchanged) when wb lacks room, -EINVAL when asked
 *     to encode something the protocol cannot express (see each function).
 */
#ifndef CL_PROTO_LIVE_H
#define CL_PROTO_LIVE_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "bytes.h"

/* ---- Constants (live-protocol.md §1.3) ---------------------------------- */

#define CL_LIVE_DEFAULT_PORT 5344

/* Protocol major version: the relay closes the connection on any other. */
#define CL_LIVE_VERSION_MAJOR        2
/*
 * Minor version a client announces: 15, as babeltrace2 2.1 does. Both sides
 * use min(client, relay): against a relay below 15 (lttng-relayd up to
 * 2.14, ctflive-relayd announcing 13) that selects the fixed 339-byte
 * LIST_SESSIONS record of 2.4 (what babeltrace2 2.0.4, announcing 4, gets);
 * from 15 on the relay sends variable-length records with the trace format
 * and lists CTF 2 sessions (live-protocol.md §1.4).
 */
#define CL_LIVE_CLIENT_VERSION_MINOR 15
/* First minor with 2.15 session records and CTF 2 sessions. */
#define CL_LIVE_MINOR_2_15           15
/* Highest minor a server reports in its CONNECT reply (2.15 records). */
#define CL_LIVE_SERVER_VERSION_MINOR 15

/* Fixed string field sizes, in bytes, NUL included. */
#define CL_LIVE_PATH_MAX      4096
#define CL_LIVE_NAME_MAX      255
#define CL_LIVE_HOST_NAME_MAX 64

/* 4-byte reply of the relay to an unknown command, before it closes. */
#define CL_LIVE_ERR_UNK 11

/*
 * Limits on peer-controlled counts and lengths (decoders return -E2BIG
 * above them). Generous for real relays, small enough that a hostile peer
 * cannot make a reader loop or allocate without bound.
 */
#define CL_LIVE_MAX_SESSIONS     65536u
#define CL_LIVE_MAX_STREAMS      65536u
#define CL_LIVE_MAX_METADATA_LEN (64u * 1024 * 1024) /* bytes per GET_METADATA reply */

/* ---- Wire sizes (live-protocol.md §1.2, §1.5) ---------------------------- */

#define CL_LIVE_CMD_HDR_SIZE         16 /* u64 data_size, u32 cmd, u32 cmd_version */
#define CL_LIVE_CONNECT_SIZE         20 /* request and reply */
#define CL_LIVE_LIST_REPLY_SIZE      4  /* u32 sessions_count, then records */
#define CL_LIVE_SESSION_SIZE         339
#define CL_LIVE_ATTACH_REQUEST_SIZE  20
#define CL_LIVE_STREAMS_REPLY_SIZE   8  /* attach and new-streams replies, then records */
#define CL_LIVE_SESSION_2_15_SIZE    32 /* fixed part; the two names follow */
#define CL_LIVE_STREAM_SIZE          4371
#define CL_LIVE_GET_NEXT_INDEX_SIZE  8
#define CL_LIVE_INDEX_SIZE           64
#define CL_LIVE_GET_PACKET_SIZE      20
#define CL_LIVE_PACKET_REPLY_SIZE    12 /* then len data bytes iff OK */
#define CL_LIVE_GET_METADATA_SIZE    8
#define CL_LIVE_METADATA_REPLY_SIZE  12 /* then len data bytes */
#define CL_LIVE_SESSION_REQUEST_SIZE 8  /* new-streams and detach requests */
#define CL_LIVE_STATUS_REPLY_SIZE    4  /* create-session and detach replies */

static_assert(CL_LIVE_CMD_HDR_SIZE == 8 + 4 + 4, "lttng_viewer_cmd");
static_assert(CL_LIVE_CONNECT_SIZE == 8 + 4 + 4 + 4, "lttng_viewer_connect");
static_assert(CL_LIVE_LIST_REPLY_SIZE == 4, "lttng_viewer_list_sessions");
static_assert(CL_LIVE_SESSION_SIZE == 8 + 4 + 4 + 4 + CL_LIVE_HOST_NAME_MAX + CL_LIVE_NAME_MAX,
	      "lttng_viewer_session");
static_assert(CL_LIVE_SESSION_2_15_SIZE == 8 + 4 + 4 + 4 + 4 + 4 + 4, "lttng_viewer_session_2_15");
static_assert(CL_LIVE_ATTACH_REQUEST_SIZE == 8 + 8 + 4, "lttng_viewer_attach_session_request");
static_assert(CL_LIVE_STREAMS_REPLY_SIZE == 4 + 4, "lttng_viewer_attach_session_response");
static_assert(CL_LIVE_STREAM_SIZE == 8 + 8 + 4 + CL_LIVE_PATH_MAX + CL_LIVE_NAME_MAX,
	      "lttng_viewer_stream");
static_assert(CL_LIVE_GET_NEXT_INDEX_SIZE == 8, "lttng_viewer_get_next_index");
static_assert(CL_LIVE_INDEX_SIZE == 7 * 8 + 4 + 4, "lttng_viewer_index");
static_assert(CL_LIVE_GET_PACKET_SIZE == 8 + 8 + 4, "lttng_viewer_get_packet");
static_assert(CL_LIVE_PACKET_REPLY_SIZE == 4 + 4 + 4, "lttng_viewer_trace_packet");
static_assert(CL_LIVE_GET_METADATA_SIZE == 8, "lttng_viewer_get_metadata");
static_assert(CL_LIVE_METADATA_REPLY_SIZE == 8 + 4, "lttng_viewer_metadata_packet");
static_assert(CL_LIVE_SESSION_REQUEST_SIZE == 8, "lttng_viewer_new_streams_request");
static_assert(CL_LIVE_STATUS_REPLY_SIZE == 4, "lttng_viewer_create_session_response");

/* ---- Enumerations (live-protocol.md §1.4, §1.6) -------------------------- */

enum cl_live_cmd {
	CL_LIVE_CMD_CONNECT = 1,
	CL_LIVE_CMD_LIST_SESSIONS = 2,
	CL_LIVE_CMD_ATTACH_SESSION = 3,
	CL_LIVE_CMD_GET_NEXT_INDEX = 4,
	CL_LIVE_CMD_GET_PACKET = 5,
	CL_LIVE_CMD_GET_METADATA = 6,
	CL_LIVE_CMD_GET_NEW_STREAMS = 7,
	CL_LIVE_CMD_CREATE_SESSION = 8,
	CL_LIVE_CMD_DETACH_SESSION = 9,
};

enum cl_live_conn_type {
	CL_LIVE_CONN_COMMAND = 1,
	CL_LIVE_CONN_NOTIFICATION = 2,
};

enum cl_live_seek {
	CL_LIVE_SEEK_BEGINNING = 1,
	CL_LIVE_SEEK_LAST = 2,
};

/* Flags of GET_NEXT_INDEX (and, from relays before 2.8, GET_PACKET) replies. */
enum cl_live_flags {
	CL_LIVE_FLAG_NEW_METADATA = 1 << 0,
	CL_LIVE_FLAG_NEW_STREAM = 1 << 1,
};

enum cl_live_attach_status {
	CL_LIVE_ATTACH_OK = 1,
	CL_LIVE_ATTACH_ALREADY = 2,
	CL_LIVE_ATTACH_UNK = 3,
	CL_LIVE_ATTACH_NOT_LIVE = 4,
	CL_LIVE_ATTACH_SEEK_ERR = 5,
	CL_LIVE_ATTACH_NO_SESSION = 6,
};

enum cl_live_index_status {
	CL_LIVE_INDEX_OK = 1,
	CL_LIVE_INDEX_RETRY = 2,
	CL_LIVE_INDEX_HUP = 3,
	CL_LIVE_INDEX_ERR = 4,
	CL_LIVE_INDEX_INACTIVE = 5,
	CL_LIVE_INDEX_EOF = 6, /* never sent since lttng 2.8; decoded, treat as an error */
};

enum cl_live_packet_status {
	CL_LIVE_PACKET_OK = 1,
	CL_LIVE_PACKET_RETRY = 2,
	CL_LIVE_PACKET_ERR = 3,
	CL_LIVE_PACKET_EOF = 4,
};

enum cl_live_metadata_status {
	CL_LIVE_METADATA_OK = 1,
	CL_LIVE_METADATA_NO_NEW = 2,
	CL_LIVE_METADATA_ERR = 3,
};

enum cl_live_new_streams_status {
	CL_LIVE_NEW_STREAMS_OK = 1,
	CL_LIVE_NEW_STREAMS_NO_NEW = 2,
	CL_LIVE_NEW_STREAMS_ERR = 3,
	CL_LIVE_NEW_STREAMS_HUP = 4,
};

enum cl_live_create_session_status {
	CL_LIVE_CREATE_SESSION_OK = 1,
	CL_LIVE_CREATE_SESSION_ERR = 2,
};

enum cl_live_detach_status {
	CL_LIVE_DETACH_OK = 1,
	CL_LIVE_DETACH_UNK = 2,
	CL_LIVE_DETACH_ERR = 3,
};

/* ---- Host-side messages -------------------------------------------------- */

/* Command header, 16 bytes. */
struct cl_live_cmd_hdr {
	uint64_t data_size;   /* bytes of payload that follow; ignored by relays */
	uint32_t cmd;         /* enum cl_live_cmd */
	uint32_t cmd_version; /* 0; ignored by relays */
};

/* CONNECT request and reply (same layout), 20 bytes. */
struct cl_live_connect {
	uint64_t viewer_session_id; /* request: UINT64_MAX; reply: relay-assigned id */
	uint32_t major;
	uint32_t minor;
	uint32_t type; /* request: enum cl_live_conn_type; reply: 0 from lttng-relayd */
};

/*
 * Trace formats as the live protocol numbers them (lttng-tools 2.15
 * `enum lttng_live_trace_format`); the relayd protocol numbers the same
 * formats 1 and 2 (enum cl_relayd_trace_format).
 */
enum cl_live_trace_format {
	CL_LIVE_TRACE_FORMAT_CTF_1_8 = 0,
	CL_LIVE_TRACE_FORMAT_CTF_2 = 1,
};

/*
 * One LIST_SESSIONS record: the 339-byte 2.4 layout (fixed-size, NUL-padded
 * names; no trace format, the session is CTF 1.8), or the 2.15 layout for
 * connections that negotiated minor >= 15 (32-byte fixed part with the two
 * name lengths and the trace format, then the names without NUL).
 */
struct cl_live_session {
	uint64_t id;         /* relay session id */
	uint32_t live_timer; /* µs; 0 = not a live session */
	uint32_t clients;    /* viewers attached */
	uint32_t streams;    /* relay streams of the session */
	char hostname[CL_LIVE_HOST_NAME_MAX];
	char session_name[CL_LIVE_NAME_MAX];
	uint32_t trace_format; /* enum cl_live_trace_format; 2.4 layout: CTF 1.8 */
};

/* ATTACH_SESSION request, 20 bytes. */
struct cl_live_attach_request {
	uint64_t session_id;
	uint64_t offset; /* unused by relays; 0 */
	uint32_t seek;   /* enum cl_live_seek (not validated on decode) */
};

/* ATTACH_SESSION and GET_NEW_STREAMS replies (fixed part), 8 bytes. */
struct cl_live_streams_reply {
	uint32_t status;        /* enum cl_live_attach_status or cl_live_new_streams_status */
	uint32_t streams_count; /* records that follow (0 unless status is OK) */
};

/* One stream record, 4371 bytes. */
struct cl_live_stream {
	uint64_t id;                         /* viewer stream id (= relay stream handle) */
	uint64_t ctf_trace_id;               /* groups the streams of one CTF trace */
	bool metadata_flag;                  /* the trace's metadata stream */
	char path_name[CL_LIVE_PATH_MAX];    /* e.g. "ust/uid/1000/64-bit" */
	char channel_name[CL_LIVE_NAME_MAX]; /* e.g. "channel0_1", "metadata" */
};

/*
 * GET_NEXT_INDEX reply, 64 bytes. OK fills every field; INACTIVE only
 * timestamp_end (the beacon time) and stream_id; other statuses none.
 */
struct cl_live_index {
	uint64_t offset;           /* bytes, packet start in the relay's data file */
	uint64_t packet_size;      /* bits, padding included */
	uint64_t content_size;     /* bits */
	uint64_t timestamp_begin;  /* clock cycles of the stream's CTF clock */
	uint64_t timestamp_end;    /* clock cycles */
	uint64_t events_discarded; /* cumulative */
	uint64_t stream_id;        /* CTF stream-class id (not the viewer stream id) */
	uint32_t status;           /* enum cl_live_index_status */
	uint32_t flags;            /* enum cl_live_flags; unknown bits preserved */
};

/* GET_PACKET request, 20 bytes. */
struct cl_live_get_packet {
	uint64_t stream_id;
	uint64_t offset; /* bytes */
	uint32_t len;    /* bytes */
};

/* GET_PACKET reply (fixed part), 12 bytes; then len bytes iff status is OK. */
struct cl_live_packet_reply {
	uint32_t status; /* enum cl_live_packet_status */
	uint32_t len;    /* bytes; 0 unless status is OK */
	uint32_t flags;  /* enum cl_live_flags (only relays before 2.8 set them) */
};

/*
 * GET_METADATA reply (fixed part), 12 bytes; then len bytes. Note the field
 * order on the wire: u64 len first, then u32 status.
 */
struct cl_live_metadata_reply {
	uint64_t len;    /* bytes; 0 unless status is OK; <= CL_LIVE_MAX_METADATA_LEN */
	uint32_t status; /* enum cl_live_metadata_status */
};

/* ---- Size tables ---------------------------------------------------------- */

/*
 * Returns the fixed payload size in bytes that follows the command header of
 * a request `cmd` (0 for LIST_SESSIONS and CREATE_SESSION), or -EPROTO for an
 * unknown command (an LTTng relay answers the 4-byte CL_LIVE_ERR_UNK, then
 * closes). A server reads exactly this many bytes, whatever data_size says
 * (live-protocol.md §1.2, §1.4).
 */
int cl_live_request_payload_size(uint32_t cmd);

/*
 * Returns the size in bytes of the fixed part of the reply to `cmd` (the part
 * before records or data), or -EPROTO for an unknown command.
 */
int cl_live_reply_fixed_size(uint32_t cmd);

/* Name of a command ("CONNECT", ...) or "UNKNOWN"; static storage. */
const char *cl_live_cmd_name(uint32_t cmd);

/*
 * Name of status `status` of the reply to `cmd` ("OK", "RETRY", "HUP", ...)
 * or "UNKNOWN"; static storage. For error messages.
 */
const char *cl_live_status_name(uint32_t cmd, uint32_t status);

/* ---- Command header ------------------------------------------------------ */

/*
 * Returns the header a well-behaved client sends for `cmd`: data_size set to
 * the command's payload size (0 for an unknown command), cmd_version 0.
 */
struct cl_live_cmd_hdr cl_live_cmd_hdr_make(uint32_t cmd);

/* Decodes a 16-byte command header. Values are not validated (see above). */
int cl_live_cmd_hdr_decode(struct cl_rbuf *rb, struct cl_live_cmd_hdr *ret);
int cl_live_cmd_hdr_encode(struct cl_wbuf *wb, const struct cl_live_cmd_hdr *m);

/* ---- CONNECT (1), live-protocol.md §2.1 ------------------------------------ */

/*
 * The request and the reply share one 20-byte layout, hence one pair of
 * functions. Nothing is validated: a server closes on major != 2 or a type
 * other than 1/2; a client requires reply major == 2 (cl_live_connect_check_reply).
 */
int cl_live_connect_decode(struct cl_rbuf *rb, struct cl_live_connect *ret);
int cl_live_connect_encode(struct cl_wbuf *wb, const struct cl_live_connect *m);

/*
 * Checks a relay's CONNECT reply from a client's point of view: 0 if major is
 * CL_LIVE_VERSION_MAJOR, -ENOTSUP otherwise.
 */
int cl_live_connect_check_reply(const struct cl_live_connect *m);

/* ---- LIST_SESSIONS (2), §2.3: no request payload ------------------------- */

/*
 * Fixed part of the reply: u32 sessions_count, followed by that many
 * 339-byte session records. -E2BIG if count > CL_LIVE_MAX_SESSIONS.
 */
int cl_live_list_reply_decode(struct cl_rbuf *rb, uint32_t *ret_count);
int cl_live_list_reply_encode(struct cl_wbuf *wb, uint32_t count);

/*
 * One 339-byte session record. Decode: -EPROTO unless hostname and
 * session_name each hold a NUL inside their field (bytes after it are
 * ignored: 2.13.9 does not zero them). Encode: zero-pads, truncates.
 */
int cl_live_session_decode(struct cl_rbuf *rb, struct cl_live_session *ret);
int cl_live_session_encode(struct cl_wbuf *wb, const struct cl_live_session *m);

/*
 * One 2.15 session record (lttng-tools 2.15 `lttng_viewer_session_2_15`):
 * u64 id, u32 live_timer, clients, streams, hostname_len, session_name_len,
 * trace_format, then hostname_len and session_name_len bytes of names, not
 * NUL-terminated. Decode: -EMSGSIZE (rb unchanged) if rb does not hold the
 * whole record; -EPROTO (rb unchanged) if a name is longer than its 2.4
 * field can hold with a NUL (63 and 254 bytes, lttng-relayd's own limits)
 * or contains a NUL byte. Any trace_format value is returned as is (the
 * caller decides what an unknown format means). Encode: -EMSGSIZE if wb
 * lacks room; names are written without their NUL.
 */
int cl_live_session_decode_2_15(struct cl_rbuf *rb, struct cl_live_session *ret);
int cl_live_session_encode_2_15(struct cl_wbuf *wb, const struct cl_live_session *m);

/* Size of m's 2.15 record, in bytes. */
size_t cl_live_session_size_2_15(const struct cl_live_session *m);

/* ---- ATTACH_SESSION (3), §2.4 ---------------------------------------------- */

/* 20-byte request. seek is not validated (the server answers SEEK_ERR). */
int cl_live_attach_request_decode(struct cl_rbuf *rb, struct cl_live_attach_request *ret);
int cl_live_attach_request_encode(struct cl_wbuf *wb, const struct cl_live_attach_request *m);

/*
 * 8-byte reply fixed part, followed by streams_count 4371-byte stream
 * records. Decode: -EPROTO for a status outside enum cl_live_attach_status
 * or a non-zero count with a status other than OK; -E2BIG if count >
 * CL_LIVE_MAX_STREAMS. Encode: -EINVAL for a non-zero count with a status
 * other than OK.
 */
int cl_live_attach_reply_decode(struct cl_rbuf *rb, struct cl_live_streams_reply *ret);
int cl_live_attach_reply_encode(struct cl_wbuf *wb, const struct cl_live_streams_reply *m);

/*
 * One 4371-byte stream record (ATTACH_SESSION and GET_NEW_STREAMS replies).
 * Decode: -EPROTO unless path_name and channel_name hold a NUL inside their
 * field and metadata_flag is 0 or 1.
 */
int cl_live_stream_decode(struct cl_rbuf *rb, struct cl_live_stream *ret);
int cl_live_stream_encode(struct cl_wbuf *wb, const struct cl_live_stream *m);

/* ---- GET_NEXT_INDEX (4), §2.6 ---------------------------------------------- */

/* 8-byte request: viewer stream id. */
int cl_live_get_next_index_decode(struct cl_rbuf *rb, uint64_t *ret_stream_id);
int cl_live_get_next_index_encode(struct cl_wbuf *wb, uint64_t stream_id);

/*
 * 64-byte reply. Decode: -EPROTO for a status outside enum
 * cl_live_index_status, or, on OK, content_size > packet_size, a packet_size
 * that is not a whole number of bytes, or offset + packet_size / 8 beyond
 * UINT64_MAX. Fields other than those status defines are decoded as sent.
 * Encode writes every field as given (the server zeroes unused ones).
 */
int cl_live_index_decode(struct cl_rbuf *rb, struct cl_live_index *ret);
int cl_live_index_encode(struct cl_wbuf *wb, const struct cl_live_index *m);

/* ---- GET_PACKET (5), §2.8 ----------------------------------------------------- */

/* 20-byte request. len is not bounded here: the server must bound it. */
int cl_live_get_packet_decode(struct cl_rbuf *rb, struct cl_live_get_packet *ret);
int cl_live_get_packet_encode(struct cl_wbuf *wb, const struct cl_live_get_packet *m);

/*
 * 12-byte reply fixed part, followed by len data bytes iff status is OK.
 * Decode: -EPROTO for a status outside enum cl_live_packet_status or a
 * non-zero len with a status other than OK (relays before 2.13 sent a zero
 * payload after an error, which cannot be framed). The caller must also check
 * len against what it asked for. Encode: -EINVAL for len != 0 without OK.
 */
int cl_live_packet_reply_decode(struct cl_rbuf *rb, struct cl_live_packet_reply *ret);
int cl_live_packet_reply_encode(struct cl_wbuf *wb, const struct cl_live_packet_reply *m);

/* ---- GET_METADATA (6), §2.7 ---------------------------------------------------- */

/* 8-byte request: viewer id of a metadata stream. */
int cl_live_get_metadata_decode(struct cl_rbuf *rb, uint64_t *ret_stream_id);
int cl_live_get_metadata_encode(struct cl_wbuf *wb, uint64_t stream_id);

/*
 * 12-byte reply fixed part, followed by len data bytes. Decode: -EPROTO for
 * a status outside enum cl_live_metadata_status or a non-zero len without
 * OK; -E2BIG if len > CL_LIVE_MAX_METADATA_LEN. OK with len 0 is accepted
 * (lttng-relayd may send it during `clear`; treat it as "retry later").
 * Encode: -EINVAL for len != 0 without OK.
 */
int cl_live_metadata_reply_decode(struct cl_rbuf *rb, struct cl_live_metadata_reply *ret);
int cl_live_metadata_reply_encode(struct cl_wbuf *wb, const struct cl_live_metadata_reply *m);

/* ---- GET_NEW_STREAMS (7), §2.5 -------------------------------------------------- */

/* 8-byte request: relay session id. */
int cl_live_new_streams_request_decode(struct cl_rbuf *rb, uint64_t *ret_session_id);
int cl_live_new_streams_request_encode(struct cl_wbuf *wb, uint64_t session_id);

/*
 * 8-byte reply fixed part, followed by streams_count stream records. Same
 * rules as cl_live_attach_reply_decode() with enum cl_live_new_streams_status.
 */
int cl_live_new_streams_reply_decode(struct cl_rbuf *rb, struct cl_live_streams_reply *ret);
int cl_live_new_streams_reply_encode(struct cl_wbuf *wb, const struct cl_live_streams_reply *m);

/* ---- CREATE_SESSION (8), §2.2: no request payload --------------------------------- */

/* 4-byte reply. Decode: -EPROTO unless status is OK or ERR. */
int cl_live_create_session_reply_decode(struct cl_rbuf *rb, uint32_t *ret_status);
int cl_live_create_session_reply_encode(struct cl_wbuf *wb, uint32_t status);

/* ---- DETACH_SESSION (9), §2.9 ------------------------------------------------------ */

/* 8-byte request: relay session id. */
int cl_live_detach_request_decode(struct cl_rbuf *rb, uint64_t *ret_session_id);
int cl_live_detach_request_encode(struct cl_wbuf *wb, uint64_t session_id);

/* 4-byte reply. Decode: -EPROTO for a status outside enum cl_live_detach_status. */
int cl_live_detach_reply_decode(struct cl_rbuf *rb, uint32_t *ret_status);
int cl_live_detach_reply_encode(struct cl_wbuf *wb, uint32_t status);

#endif
