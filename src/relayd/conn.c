/* SPDX-License-Identifier: MIT */
/*
 * Control and data connections of the relayd protocol: non-blocking sockets
 * with an incremental receive state machine (header, then payload), and the
 * dispatch of control commands (relayd-protocol.md §2–§5).
 *
 * Bounds: a control header's data_size is checked against its command's
 * limit before anything is allocated; payload buffers grow with the bytes
 * that actually arrive. Metadata and packet bodies are streamed to disk as
 * they arrive and never buffered whole.
 *
 * Errors: a malformed message, an unknown command or an I/O error closes that
 * connection with one log line (after the reply LTTng peers expect, if any);
 * the rest of the relay carries on. After an error reply carrying a length
 * field the connection is always closed (§10.2: the session daemon would
 * otherwise block forever on a zero-length read).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "live.h"
#include "log.h"
#include "relay.h"

#define READ_BUDGET  (4u << 20) /* bytes per wake-up, for fairness */
#define BODY_CHUNK   65536
#define OUT_CAP      (16u * 1024u)
#define METADATA_MAX CL_RELAYD_CTRL_MAX_PAYLOAD

enum rx_state {
	RX_HEADER,
	RX_PAYLOAD,   /* control payload, buffered */
	RX_MD_HEADER, /* SEND_METADATA sub-header */
	RX_MD_BODY,   /* metadata bytes, streamed */
	RX_DATA_BODY, /* packet bytes, streamed */
};

struct conn {
	struct cl_list_node node; /* in relay->conns */
	struct cl_watch watch;
	struct relay *relay; /* borrowed */
	enum conn_kind kind;
	bool closed;
	bool close_after_reply;
	const char *refused; /* static text: why a receive check failed, to log at close */
	char peer[64];
	struct session *session; /* control: its session; data: bound session */
	bool version_done;
	uint32_t minor;

	enum rx_state state;
	uint8_t hdr[CL_RELAYD_DATA_HDR_SIZE];
	size_t hdr_have;
	struct cl_relayd_hdr chdr;
	struct cl_relayd_data_hdr dhdr;
	uint8_t *payload; /* owned */
	size_t payload_len, payload_have, payload_cap;
	struct stream *stream; /* busy ref while a body is being received */
	uint64_t body_left;
	uint64_t padding;

	uint8_t out[OUT_CAP];
	size_t out_len, out_off;
};

static uint8_t body_buf[BODY_CHUNK];

static void conn_close(struct conn *c, bool error, const char *why);

static void update_events(struct conn *c)
{
	uint32_t ev = c->out_len > c->out_off ? EPOLLOUT : EPOLLIN;

	if (cl_loop_mod(c->relay->loop, &c->watch, ev) < 0)
		conn_close(c, true, "cannot update poll events");
}

static void flush_out(struct conn *c)
{
	int r = cl_send_pending(c->watch.fd, c->out, c->out_len, &c->out_off);

	if (r < 0 && r != -EAGAIN) {
		conn_close(c, true, "send failed");
		return;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->close_after_reply) {
			conn_close(c, true, "closing after error reply");
			return;
		}
	}
	update_events(c);
}

/* Queues a reply; `len` < 0 means the encoder failed (a ctflive bug). */
static void reply(struct conn *c, const uint8_t *buf, ssize_t len)
{
	if (len < 0 || (size_t)len > OUT_CAP - c->out_len) {
		conn_close(c, true, "reply does not fit");
		return;
	}
	memcpy(c->out + c->out_len, buf, (size_t)len);
	c->out_len += (size_t)len;
}

static void reply_status(struct conn *c, uint32_t status)
{
	uint8_t b[4];

	reply(c, b, cl_relayd_encode_generic_reply(b, sizeof(b), status));
}

/* Replies `status` then closes: the protocol error paths of lttng-relayd. */
static int reply_error_close(struct conn *c, uint32_t status, const char *why)
{
	reply_status(c, status);
	c->close_after_reply = true;
	log_debug("%s: %s", c->peer, why);
	return 0;
}

static bool need_version(struct conn *c)
{
	return c->version_done;
}

static int cmd_version(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_version v;
	uint8_t b[8];

	if (cl_relayd_decode_version(p, n, &v) < 0)
		return -EPROTO;
	reply(c, b,
	      cl_relayd_encode_version_reply(b, sizeof(b), CL_RELAYD_VERSION_MAJOR,
					     c->relay->max_minor));
	if (v.major != CL_RELAYD_VERSION_MAJOR) {
		c->close_after_reply = true;
		log_notice("%s: peer speaks protocol %u.%u, closing", c->peer, v.major, v.minor);
		return 0;
	}
	c->minor = CL_MIN(v.minor, c->relay->max_minor);
	c->version_done = true;
	log_debug("%s: protocol 2.%u", c->peer, c->minor);
	return 0;
}

static int cmd_get_configuration(struct conn *c, const uint8_t *p, size_t n)
{
	uint64_t flags;
	uint8_t b[12];

	if (cl_relayd_decode_u64(p, n, &flags) < 0)
		return -EPROTO;
	if (flags != 0) {
		reply(c, b,
		      cl_relayd_encode_configuration_reply(b, sizeof(b),
							   CL_LTTNG_ERR_INVALID_PROTOCOL, 0));
		return 0;
	}
	reply(c, b,
	      cl_relayd_encode_configuration_reply(
		      b, sizeof(b), CL_LTTNG_OK,
		      c->relay->allow_clear ? CL_RELAYD_CONFIG_FLAG_CLEAR_ALLOWED : 0));
	return 0;
}

static void reply_create_session(struct conn *c, uint64_t id, uint32_t status, const char *path)
{
	uint8_t b[16 + CL_RELAYD_PATH_MAX];

	if (c->minor >= 11)
		reply(c, b, cl_relayd_encode_create_session_reply(b, sizeof(b), id, status, path));
	else
		reply(c, b, cl_relayd_encode_status_session(b, sizeof(b), id, status));
}

static int cmd_create_session(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_create_session m;
	struct session *s;
	int r;

	if (c->session) {
		reply_create_session(c, 0, CL_LTTNG_ERR_FATAL, NULL);
		c->close_after_reply = true;
		log_notice("%s: second CREATE_SESSION on one connection, closing", c->peer);
		return 0;
	}
	r = cl_relayd_decode_create_session(p, n, c->minor, &m);
	if (r == 0)
		r = session_create(c->relay, &m, c->minor, &s);
	if (r < 0) {
		reply_create_session(c, 0, CL_LTTNG_ERR_FATAL, NULL);
		c->close_after_reply = true;
		char name[64], host[64];

		if (r == -EINVAL)
			log_notice(
				"%s: session '%s' from host '%s' refused: session, host and base path names must be "
				"path components, not empty, not starting with '.'",
				c->peer, cl_log_escape(m.session_name, name, sizeof(name)),
				cl_log_escape(m.hostname, host, sizeof(host)));
		else
			log_notice("%s: session refused: %s", c->peer, strerror(-r));
		return 0;
	}
	c->session = s;
	reply_create_session(c, s->id, CL_LTTNG_OK, s->output_path);
	return 0;
}

static int cmd_add_stream(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_add_stream m;
	struct stream *st;
	uint8_t b[12];
	int r;

	if (!c->session || !need_version(c))
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "ADD_STREAM without a session");
	r = cl_relayd_decode_add_stream(p, n, c->minor, &m);
	if (r < 0) {
		reply(c, b,
		      cl_relayd_encode_status_stream(b, sizeof(b), UINT64_MAX, CL_LTTNG_ERR_UNK));
		c->close_after_reply = true;
		log_notice("%s: malformed ADD_STREAM, closing", c->peer);
		return 0;
	}
	r = stream_create(c->relay, c->session, &m, &st);
	if (r < 0) {
		char chan[64], path[128];

		log_warning_errno(r, "session %llu: cannot add stream '%s' in '%s'",
				  (unsigned long long)c->session->id,
				  cl_log_escape(m.channel_name, chan, sizeof(chan)),
				  cl_log_escape(m.pathname, path, sizeof(path)));
		reply(c, b,
		      cl_relayd_encode_status_stream(b, sizeof(b), UINT64_MAX, CL_LTTNG_ERR_UNK));
		return 0;
	}
	reply(c, b, cl_relayd_encode_status_stream(b, sizeof(b), st->handle, CL_LTTNG_OK));
	return 0;
}

static int cmd_streams_sent(struct conn *c)
{
	struct cl_list_node *n;

	if (!c->session || !need_version(c))
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "STREAMS_SENT without a session");
	cl_list_for_each (n, &c->session->streams) {
		cl_container_of(n, struct stream, node)->published = true;
	}
	live_streams_published(c->relay, c->session);
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

/* Finds a stream of this connection's session, or NULL. */
static struct stream *own_stream(struct conn *c, uint64_t handle)
{
	struct stream *st = stream_find(c->relay, handle);

	return st && st->session == c->session ? st : NULL;
}

static int cmd_send_index(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_index ix;
	struct stream *st;
	int r;

	if (!c->session || !need_version(c))
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "SEND_INDEX without a session");
	if (cl_relayd_decode_index(p, n, c->minor, &ix) < 0)
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "malformed SEND_INDEX");
	st = own_stream(c, ix.relay_stream_id);
	if (!st)
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "SEND_INDEX for an unknown stream");
	r = stream_add_index(c->relay, st, &ix);
	if (r < 0) {
		log_warning_errno(r, "session %llu: stream %llu: cannot add index %llu",
				  (unsigned long long)c->session->id,
				  (unsigned long long)st->handle,
				  (unsigned long long)ix.net_seq_num);
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "index refused");
	}
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

static int cmd_close_stream(struct conn *c, const uint8_t *p, size_t n)
{
	uint64_t handle, last;
	struct stream *st;

	if (!c->session || !need_version(c))
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "CLOSE_STREAM without a session");
	if (cl_relayd_decode_u64_pair(p, n, &handle, &last) < 0)
		return -EPROTO;
	st = own_stream(c, handle);
	if (!st)
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "CLOSE_STREAM for an unknown stream");
	reply_status(c, CL_LTTNG_OK);
	stream_request_close(c->relay, st, last);
	return 0;
}

static int cmd_data_pending(struct conn *c, const uint8_t *p, size_t n)
{
	uint64_t handle, last;
	struct stream *st;

	if (!c->session || !need_version(c))
		return reply_error_close(c, UINT32_MAX, "DATA_PENDING without a session");
	if (cl_relayd_decode_u64_pair(p, n, &handle, &last) < 0)
		return -EPROTO;
	st = own_stream(c, handle);
	if (!st)
		return reply_error_close(c, UINT32_MAX, "DATA_PENDING for an unknown stream");
	st->data_pending_checked = true;
	reply_status(c, stream_data_pending(st, last) ? 1 : 0);
	return 0;
}

static int cmd_quiescent_control(struct conn *c, const uint8_t *p, size_t n)
{
	uint64_t handle;
	struct stream *st;

	if (cl_relayd_decode_u64(p, n, &handle) < 0)
		return -EPROTO;
	st = c->session ? own_stream(c, handle) : NULL;
	if (st)
		st->data_pending_checked = true;
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

static int cmd_data_pending_round(struct conn *c, const uint8_t *p, size_t n, bool begin)
{
	struct cl_list_node *it;
	uint64_t id;
	bool in_flight = false;

	if (cl_relayd_decode_u64(p, n, &id) < 0)
		return -EPROTO;
	if (!c->session || c->session->id != id)
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "data pending for another session");
	cl_list_for_each (it, &c->session->streams) {
		struct stream *st = cl_container_of(it, struct stream, node);

		if (begin)
			st->data_pending_checked = false;
		else if (!st->data_pending_checked &&
			 (!st->closed || stream_data_pending(st, st->last_net_seq_num)))
			in_flight = true;
	}
	reply_status(c, begin ? CL_LTTNG_OK : (in_flight ? 1 : 0));
	return 0;
}

static int cmd_reset_metadata(struct conn *c, const uint8_t *p, size_t n)
{
	uint64_t handle, version;
	struct stream *st;

	if (!c->session || !need_version(c))
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "RESET_METADATA without a session");
	if (cl_relayd_decode_u64_pair(p, n, &handle, &version) < 0)
		return -EPROTO;
	st = own_stream(c, handle);
	if (!st || !st->is_metadata || c->session->live_timer > 0 || stream_reset_metadata(st) < 0)
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "RESET_METADATA refused");
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

static int cmd_rotate_streams(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_rotate_streams rs;
	struct cl_relayd_create_chunk lookup = { 0 };
	struct chunk *target = NULL;
	struct cl_list_node *it;
	int r;

	(void)lookup;
	if (!c->session || c->minor < 11)
		return reply_error_close(c, CL_LTTNG_ERR_INVALID_PROTOCOL,
					 "unexpected ROTATE_STREAMS");
	r = cl_relayd_decode_rotate_streams(p, n, RELAY_MAX_ROTATE_STREAMS, &rs);
	if (r < 0)
		return reply_error_close(c, CL_LTTNG_ERR_INVALID_PROTOCOL,
					 "malformed ROTATE_STREAMS");
	if (rs.has_new_chunk_id) {
		cl_list_for_each (it, &c->relay->chunks) {
			struct chunk *ch = cl_container_of(it, struct chunk, node);

			if (ch->id == rs.new_chunk_id && !ch->closed &&
			    ch->sessiond_session_id == c->session->sessiond_session_id &&
			    !memcmp(ch->sessiond_uuid, c->session->sessiond_uuid, 16))
				target = ch;
		}
		if (!target)
			return reply_error_close(c, CL_LTTNG_ERR_INVALID_PROTOCOL,
						 "ROTATE_STREAMS to an unknown trace chunk");
	}
	for (uint32_t i = 0; i < rs.stream_count; i++) {
		uint64_t handle, seq;
		struct stream *st;

		cl_relayd_rotate_position(&rs, i, &handle, &seq);
		st = own_stream(c, handle);
		if (!st)
			return reply_error_close(c, CL_LTTNG_ERR_INVALID,
						 "ROTATE_STREAMS for an unknown stream");
		r = stream_set_rotation(c->relay, st, target, seq);
		if (r == -EPROTO)
			return reply_error_close(c, CL_LTTNG_ERR_INVALID_PROTOCOL,
						 "stream already rotating");
		if (r < 0) {
			log_warning_errno(r, "session %llu: cannot rotate stream %llu",
					  (unsigned long long)c->session->id,
					  (unsigned long long)handle);
			return reply_error_close(c, CL_LTTNG_ERR_FILE_CREATION_ERROR,
						 "rotation failed");
		}
	}
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

static int cmd_create_trace_chunk(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_create_chunk m;
	uint32_t status;
	int r;

	if (!c->session || c->minor < 11)
		return reply_error_close(c, CL_LTTNG_ERR_INVALID_PROTOCOL,
					 "unexpected CREATE_TRACE_CHUNK");
	if (cl_relayd_decode_create_chunk(p, n, &m) < 0)
		return reply_error_close(c, CL_LTTNG_ERR_INVALID, "malformed CREATE_TRACE_CHUNK");
	r = chunk_create(c->relay, c->session, &m, &status);
	if (r < 0)
		log_warning_errno(r, "session %llu: cannot create trace chunk %llu",
				  (unsigned long long)c->session->id,
				  (unsigned long long)m.chunk_id);
	reply_status(c, status);
	return 0;
}

static int cmd_close_trace_chunk(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_close_chunk m;
	uint8_t b[8 + CL_RELAYD_PATH_MAX];
	char *path = NULL;
	uint32_t status;
	int r;

	if (!c->session || c->minor < 11 || cl_relayd_decode_close_chunk(p, n, &m) < 0) {
		reply(c, b,
		      cl_relayd_encode_close_chunk_reply(b, sizeof(b),
							 CL_LTTNG_ERR_INVALID_PROTOCOL, NULL));
		c->close_after_reply = true;
		return 0;
	}
	r = chunk_close(c->relay, c->session, &m, &status, &path);
	if (r < 0 || !path || strlen(path) >= CL_RELAYD_PATH_MAX) {
		log_warning_errno(
			r < 0 ? r : -ENAMETOOLONG, "session %llu: cannot close trace chunk %llu",
			(unsigned long long)c->session->id, (unsigned long long)m.chunk_id);
		reply(c, b,
		      cl_relayd_encode_close_chunk_reply(
			      b, sizeof(b), r < 0 ? status : CL_LTTNG_ERR_NOMEM, NULL));
		c->close_after_reply = true; /* §10.2: never leave a length-0 reply open */
		free(path);
		return 0;
	}
	reply(c, b, cl_relayd_encode_close_chunk_reply(b, sizeof(b), CL_LTTNG_OK, path));
	if (c->session->snapshot && !c->session->current_chunk)
		session_snapshot_done(c->relay, c->session);
	free(path);
	return 0;
}

static int cmd_trace_chunk_exists(struct conn *c, const uint8_t *p, size_t n)
{
	uint64_t id;
	uint8_t b[5];

	if (!c->session || c->minor < 11 || cl_relayd_decode_u64(p, n, &id) < 0)
		return reply_error_close(c, CL_LTTNG_ERR_INVALID_PROTOCOL,
					 "unexpected TRACE_CHUNK_EXISTS");
	reply(c, b,
	      cl_relayd_encode_chunk_exists_reply(b, sizeof(b), CL_LTTNG_OK,
						  chunk_exists(c->relay, c->session, id)));
	return 0;
}

static int dispatch_control(struct conn *c)
{
	const uint8_t *p = c->payload;
	size_t n = c->payload_len;
	uint32_t cmd = c->chdr.cmd;

	log_debug("%s: %s (%zu bytes)", c->peer, cl_relayd_cmd_name(cmd), n);
	if (cmd != CL_RELAYD_VERSION && cmd != CL_RELAYD_CREATE_SESSION &&
	    cmd != CL_RELAYD_START_DATA && !c->version_done)
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "command before VERSION");

	switch (cmd) {
	case CL_RELAYD_VERSION:
		return cmd_version(c, p, n);
	case CL_RELAYD_GET_CONFIGURATION:
		return cmd_get_configuration(c, p, n);
	case CL_RELAYD_CREATE_SESSION:
		return cmd_create_session(c, p, n);
	case CL_RELAYD_ADD_STREAM:
		return cmd_add_stream(c, p, n);
	case CL_RELAYD_STREAMS_SENT:
		return cmd_streams_sent(c);
	case CL_RELAYD_SEND_INDEX:
		return cmd_send_index(c, p, n);
	case CL_RELAYD_CLOSE_STREAM:
		return cmd_close_stream(c, p, n);
	case CL_RELAYD_DATA_PENDING:
		return cmd_data_pending(c, p, n);
	case CL_RELAYD_QUIESCENT_CONTROL:
		return cmd_quiescent_control(c, p, n);
	case CL_RELAYD_BEGIN_DATA_PENDING:
		return cmd_data_pending_round(c, p, n, true);
	case CL_RELAYD_END_DATA_PENDING:
		return cmd_data_pending_round(c, p, n, false);
	case CL_RELAYD_RESET_METADATA:
		return cmd_reset_metadata(c, p, n);
	case CL_RELAYD_ROTATE_STREAMS:
		return cmd_rotate_streams(c, p, n);
	case CL_RELAYD_CREATE_TRACE_CHUNK:
		return cmd_create_trace_chunk(c, p, n);
	case CL_RELAYD_CLOSE_TRACE_CHUNK:
		return cmd_close_trace_chunk(c, p, n);
	case CL_RELAYD_TRACE_CHUNK_EXISTS:
		return cmd_trace_chunk_exists(c, p, n);
	case CL_RELAYD_START_DATA:
		reply_status(c, CL_LTTNG_OK);
		return 0;
	default:
		log_notice("%s: unknown command %u, closing", c->peer, cmd);
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "unknown command");
	}
}

/* Largest payload accepted for a control command (checked before reading it). */
static uint64_t max_payload(uint32_t cmd)
{
	return cmd == CL_RELAYD_SEND_METADATA ? METADATA_MAX : RELAY_MAX_CTRL_PAYLOAD;
}

/* A receive check failed: returns r, and `why` becomes the closing log line's reason. */
static int refuse(struct conn *c, int r, const char *why)
{
	c->refused = why;
	return r;
}

static int on_control_header(struct conn *c)
{
	(void)cl_relayd_decode_hdr(c->hdr, CL_RELAYD_CTRL_HDR_SIZE, &c->chdr);
	if (c->chdr.data_size > max_payload(c->chdr.cmd)) {
		log_notice("%s: %s of %llu bytes is over the limit, closing", c->peer,
			   cl_relayd_cmd_name(c->chdr.cmd), (unsigned long long)c->chdr.data_size);
		return refuse(c, -E2BIG, "message over the size limit");
	}
	if (c->chdr.cmd == CL_RELAYD_SEND_METADATA) {
		if (!c->session || c->chdr.data_size < CL_RELAYD_METADATA_HDR_SIZE)
			return -EPROTO;
		c->state = RX_MD_HEADER;
		c->hdr_have = 0;
		return 0;
	}
	c->payload_len = (size_t)c->chdr.data_size;
	c->payload_have = 0;
	c->state = RX_PAYLOAD;
	return 0;
}

static int on_metadata_header(struct conn *c)
{
	struct cl_relayd_metadata_hdr mh;
	struct stream *st;

	(void)cl_relayd_decode_metadata_hdr(c->hdr, CL_RELAYD_METADATA_HDR_SIZE, &mh);
	st = own_stream(c, mh.stream_id);
	if (!st || !st->is_metadata) {
		log_notice("%s: SEND_METADATA for unknown stream %llu, closing", c->peer,
			   (unsigned long long)mh.stream_id);
		return -EPROTO;
	}
	if (c->chdr.data_size - CL_RELAYD_METADATA_HDR_SIZE + mh.padding_size >
	    RELAY_MAX_METADATA_SIZE - st->metadata_received) {
		log_notice("%s: metadata of stream %llu would exceed %llu bytes, closing", c->peer,
			   (unsigned long long)mh.stream_id,
			   (unsigned long long)RELAY_MAX_METADATA_SIZE);
		return refuse(c, -E2BIG, "metadata over the size limit");
	}
	c->stream = st;
	st->busy++;
	c->body_left = c->chdr.data_size - CL_RELAYD_METADATA_HDR_SIZE;
	c->padding = mh.padding_size;
	c->state = RX_MD_BODY;
	return 0;
}

static int end_body(struct conn *c)
{
	struct stream *st = c->stream;
	int r;

	c->stream = NULL;
	c->state = RX_HEADER;
	c->hdr_have = 0;
	if (c->kind == CONN_CONTROL) {
		st->busy--;
		return stream_write_metadata_padding(st, c->padding);
	}
	r = stream_end_packet(c->relay, st, c->dhdr.net_seq_num, c->padding);
	return r;
}

static int on_data_header(struct conn *c)
{
	struct stream *st;
	uint64_t total;
	int r;

	(void)cl_relayd_decode_data_hdr(c->hdr, CL_RELAYD_DATA_HDR_SIZE, &c->dhdr);
	st = stream_find(c->relay, c->dhdr.stream_id);
	if (!st) {
		log_notice("%s: data for unknown or closed stream %llu, closing", c->peer,
			   (unsigned long long)c->dhdr.stream_id);
		return -EPROTO;
	}
	if (c->session && st->session != c->session) {
		log_notice("%s: data for stream %llu of another session, closing", c->peer,
			   (unsigned long long)c->dhdr.stream_id);
		return -EPROTO;
	}
	total = (uint64_t)c->dhdr.data_size + c->dhdr.padding_size;
	if (total > RELAY_MAX_PACKET_SIZE) {
		log_notice("%s: packet of %llu bytes for stream %llu is over the limit, closing",
			   c->peer, (unsigned long long)total,
			   (unsigned long long)c->dhdr.stream_id);
		return refuse(c, -E2BIG, "message over the size limit");
	}
	if (!c->session) {
		c->session = st->session;
		c->session->data_conns++;
	}
	r = stream_begin_packet(c->relay, st, c->dhdr.net_seq_num, c->dhdr.data_size,
				c->dhdr.padding_size);
	if (r < 0) {
		log_notice("%s: stream %llu refuses packet %llu: %s", c->peer,
			   (unsigned long long)st->handle, (unsigned long long)c->dhdr.net_seq_num,
			   strerror(-r));
		return r;
	}
	c->stream = st;
	c->body_left = c->dhdr.data_size;
	c->padding = c->dhdr.padding_size;
	c->state = RX_DATA_BODY;
	if (c->body_left == 0)
		return end_body(c);
	return 0;
}

static int grow_payload(struct conn *c, size_t want)
{
	size_t cap;
	uint8_t *p;

	if (want <= c->payload_cap)
		return 0;
	/* Grow with the bytes that actually arrive, never to the announced size at once. */
	cap = CL_MAX(c->payload_cap * 2, (size_t)4096);
	cap = CL_MIN(CL_MAX(cap, want), c->payload_len);
	p = realloc(c->payload, cap);
	if (!p)
		return -ENOMEM;
	c->payload = p;
	c->payload_cap = cap;
	return 0;
}

/* Returns bytes consumed (> 0), 0 on EOF, -EAGAIN, or another -errno. */
static ssize_t receive(struct conn *c)
{
	size_t hdr_size =
		c->kind == CONN_CONTROL ? CL_RELAYD_CTRL_HDR_SIZE : CL_RELAYD_DATA_HDR_SIZE;
	ssize_t n;
	int r = 0;

	switch (c->state) {
	case RX_HEADER:
	case RX_MD_HEADER: {
		size_t want = c->state == RX_HEADER ? hdr_size : CL_RELAYD_METADATA_HDR_SIZE;

		n = recv(c->watch.fd, c->hdr + c->hdr_have, want - c->hdr_have, 0);
		if (n <= 0)
			break;
		c->hdr_have += (size_t)n;
		if (c->hdr_have < want)
			break;
		if (c->state == RX_MD_HEADER)
			r = on_metadata_header(c);
		else if (c->kind == CONN_CONTROL)
			r = on_control_header(c);
		else
			r = on_data_header(c);
		break;
	}
	case RX_PAYLOAD: {
		size_t want = CL_MIN(c->payload_len - c->payload_have, (size_t)BODY_CHUNK);

		if (want > 0) {
			r = grow_payload(c, c->payload_have + want);
			if (r < 0)
				return r;
			n = recv(c->watch.fd, c->payload + c->payload_have, want, 0);
			if (n <= 0)
				break;
			c->payload_have += (size_t)n;
		} else {
			n = 1; /* empty payload: dispatch now */
		}
		if (c->payload_have < c->payload_len)
			break;
		c->state = RX_HEADER;
		c->hdr_have = 0;
		r = dispatch_control(c);
		break;
	}
	case RX_MD_BODY:
	case RX_DATA_BODY: {
		size_t want = (size_t)CL_MIN(c->body_left, (uint64_t)BODY_CHUNK);

		if (want > 0) {
			n = recv(c->watch.fd, body_buf, want, 0);
			if (n <= 0)
				break;
			r = stream_write(c->stream, body_buf, (size_t)n);
			if (r < 0) {
				log_error_errno(r, "session %llu: stream %llu: cannot write",
						(unsigned long long)c->stream->session->id,
						(unsigned long long)c->stream->handle);
				return r;
			}
			c->body_left -= (uint64_t)n;
		} else {
			n = 1;
		}
		if (c->body_left == 0)
			r = end_body(c);
		break;
	}
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	return n;
}

static void conn_on_event(struct cl_watch *w, uint32_t events)
{
	struct conn *c = cl_container_of(w, struct conn, watch);
	size_t budget = READ_BUDGET;

	if (c->closed)
		return;
	if (events & EPOLLOUT) {
		flush_out(c);
		return;
	}
	while (budget > 0 && !c->closed && c->out_len == 0) {
		ssize_t n = receive(c);

		if (n == -EAGAIN)
			break;
		if (n == 0) {
			bool mid = c->state != RX_HEADER || c->hdr_have > 0;

			conn_close(c, mid, mid ? "peer vanished mid-message" : "peer closed");
			return;
		}
		if (n < 0) {
			conn_close(c, true, c->refused ? c->refused : strerror((int)-n));
			return;
		}
		budget -= CL_MIN((size_t)n, budget);
	}
	if (!c->closed && c->out_len > 0)
		flush_out(c);
}

static void conn_close(struct conn *c, bool error, const char *why)
{
	if (c->closed)
		return;
	c->closed = true;
	if (error)
		log_notice("%s: connection closed: %s", c->peer, why);
	else
		log_debug("%s: connection closed: %s", c->peer, why);
	cl_loop_del(c->relay->loop, &c->watch);
	close(c->watch.fd);
	c->watch.fd = -1;
	if (c->stream) {
		c->stream->busy--;
		c->stream = NULL;
	}
	if (!c->session)
		return;
	if (c->kind == CONN_CONTROL) {
		session_connection_closed(c->relay, c->session, error);
	} else {
		struct cl_list_node *n, *tmp;

		/* No more data can come: streams waiting for data close now. */
		c->session->data_conns--;
		c->session->data_closed = true;
		if (error)
			c->session->aborted = true; /* a packet or more was lost */
		cl_list_for_each_safe (n, tmp, &c->session->streams) {
			struct stream *st = cl_container_of(n, struct stream, node);

			if (st->close_requested || c->session->connection_closed || error)
				stream_close(c->relay, st);
		}
	}
}

int conn_accept(struct relay *relay, int listen_fd, enum conn_kind kind)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	struct conn *c;
	int fd, one = 1;

	fd = accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (relay->n_conns >= RELAY_MAX_CONNECTIONS) {
		log_warning("too many connections, refusing one");
		close(fd);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return 0;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ss.ss_family == AF_INET)
		(void)inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
				sizeof(host));
	else if (ss.ss_family == AF_INET6)
		(void)inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				sizeof(host));
	(void)snprintf(c->peer, sizeof(c->peer), "%s %s:%u",
		       kind == CONN_CONTROL ? "control" : "data", host,
		       ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
		       : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
						  : 0u);
	c->relay = relay;
	c->kind = kind;
	c->watch.fd = fd;
	c->watch.cb = conn_on_event;
	if (cl_loop_add(relay->loop, &c->watch, EPOLLIN) < 0) {
		close(fd);
		free(c);
		return 0;
	}
	cl_list_append(&relay->conns, &c->node);
	relay->n_conns++;
	log_debug("%s: connected", c->peer);
	return 0;
}

void conn_collect(struct relay *relay)
{
	struct cl_list_node *n, *tmp;

	cl_list_for_each_safe (n, tmp, &relay->conns) {
		struct conn *c = cl_container_of(n, struct conn, node);

		if (!c->closed)
			continue;
		cl_list_remove(&c->node);
		relay->n_conns--;
		free(c->payload);
		free(c);
	}
}

void conn_close_all(struct relay *relay)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->conns) {
		/* Sessions still being written when the relay stops are interrupted. */
		conn_close(cl_container_of(n, struct conn, node), true, "relay shutting down");
	}
	conn_collect(relay);
}
