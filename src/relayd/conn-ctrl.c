/* SPDX-License-Identifier: MIT */
/*
 * Control commands of the relayd protocol (relayd-protocol.md §5): one table
 * says, per command, its name, the largest payload accepted, whether it may
 * come before VERSION, whether it needs the connection's session and
 * protocol 2.11, how a refusal is answered, and its handler. The checks the
 * table describes are made here, once, before any handler runs; handlers
 * decode their payload and act.
 *
 * SEND_METADATA is the one streamed command: its bytes go to disk as they
 * arrive (ctrl_metadata_*), the others are buffered whole by the receive
 * state machine and handed to ctrl_dispatch().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "live.h"
#include "log.h"
#include "macro.h"

#define METADATA_MAX CL_RELAYD_CTRL_MAX_PAYLOAD

/* How a command refused by the table is answered (then the connection closes). */
enum refusal {
	REFUSE_UNK,         /* status LTTNG_ERR_UNK; logs "<NAME> without a session" */
	REFUSE_PENDING,     /* status UINT32_MAX (DATA_PENDING's error); same log */
	REFUSE_PROTOCOL,    /* status LTTNG_ERR_INVALID_PROTOCOL; logs "unexpected <NAME>" */
	REFUSE_CLOSE_CHUNK, /* a close-chunk reply with LTTNG_ERR_INVALID_PROTOCOL */
};

enum cmd_flags {
	CMD_BEFORE_VERSION = 1 << 0, /* accepted before VERSION */
	CMD_SESSION = 1 << 1,        /* needs the connection's session */
	CMD_2_11 = 1 << 2,           /* needs protocol 2.11 or later */
};

struct ctrl_cmd {
	const char *name;     /* NULL: not a command ctflive-relayd serves */
	uint64_t max_payload; /* bytes, checked before the payload is read */
	unsigned flags;       /* enum cmd_flags */
	enum refusal refusal; /* when CMD_SESSION or CMD_2_11 is not met */
	/* NULL for SEND_METADATA, which is streamed (ctrl_metadata_*). */
	int (*handle)(struct conn *c, const uint8_t *p, size_t n);
};

/* ---- replies ---- */

/* Queues a reply; `len` < 0 means the encoder failed (a ctflive bug). */
static void reply(struct conn *c, const uint8_t *buf, ssize_t len)
{
	if (len < 0 || sock_queue(&c->sock, buf, (size_t)len) < 0)
		sock_close(&c->sock, true, "reply does not fit");
}

static void reply_status(struct conn *c, uint32_t status)
{
	uint8_t b[4];

	reply(c, b, cl_relayd_encode_generic_reply(b, sizeof(b), status));
}

/* Closes the connection once the queued reply is sent. */
static void close_after_reply(struct conn *c)
{
	c->sock.close_after_send = true;
	c->sock.close_why = "closing after error reply";
}

/* Replies `status` then closes: the protocol error paths of lttng-relayd. */
static int reply_error_close(struct conn *c, uint32_t status, const char *why)
{
	reply_status(c, status);
	close_after_reply(c);
	if (c->session && c->session->close_error)
		log_notice("%s: %s (the session stopped on an error: %s)", c->sock.peer, why,
			   strerror(-c->session->close_error));
	else
		log_debug("%s: %s", c->sock.peer, why);
	return 0;
}

/* ---- handlers ---- */

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
		close_after_reply(c);
		log_notice("%s: peer speaks protocol %u.%u, closing", c->sock.peer, v.major,
			   v.minor);
		return 0;
	}
	c->minor = CL_MIN(v.minor, c->relay->max_minor);
	c->version_done = true;
	log_debug("%s: protocol 2.%u", c->sock.peer, c->minor);
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
	bool decoded;
	int r;

	if (c->session) {
		reply_create_session(c, 0, CL_LTTNG_ERR_FATAL, NULL);
		close_after_reply(c);
		log_notice("%s: second CREATE_SESSION on one connection, closing", c->sock.peer);
		return 0;
	}
	r = cl_relayd_decode_create_session(p, n, c->minor, &m);
	decoded = r == 0;
	if (r == 0)
		r = session_create(c->relay, &m, c->minor, &s);
	if (r < 0) {
		reply_create_session(c, 0, CL_LTTNG_ERR_FATAL, NULL);
		close_after_reply(c);
		char name[64], host[64];

		/* A payload that did not decode has no names to show. */
		if (!decoded)
			log_notice("%s: malformed CREATE_SESSION, closing", c->sock.peer);
		else if (r == -EINVAL)
			log_notice(
				"%s: session '%s' from host '%s' refused: session, host and base path names must be "
				"path components, not empty, not starting with '.'",
				c->sock.peer, cl_log_escape(m.session_name, name, sizeof(name)),
				cl_log_escape(m.hostname, host, sizeof(host)));
		else if (r == -EMSGSIZE)
			log_notice("%s: session '%s' refused: host name '%s...' is %zu bytes long, "
				   "live viewers can only be given %d",
				   c->sock.peer, cl_log_escape(m.session_name, name, sizeof(name)),
				   cl_log_escape(m.hostname, host, sizeof(host)),
				   strlen(m.hostname), RELAY_MAX_HOSTNAME);
		else
			log_notice("%s: session refused: %s", c->sock.peer, strerror(-r));
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

	r = cl_relayd_decode_add_stream(p, n, c->minor, &m);
	if (r < 0) {
		reply(c, b,
		      cl_relayd_encode_status_stream(b, sizeof(b), UINT64_MAX, CL_LTTNG_ERR_UNK));
		close_after_reply(c);
		log_notice("%s: malformed ADD_STREAM, closing", c->sock.peer);
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
		/* Whatever comes next, this trace lacks a stream: not "complete". */
		c->session->aborted = true;
		return 0;
	}
	reply(c, b, cl_relayd_encode_status_stream(b, sizeof(b), st->handle, CL_LTTNG_OK));
	return 0;
}

static int cmd_streams_sent(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_list_node *it;

	(void)p;
	(void)n;
	cl_list_for_each (it, &c->session->streams) {
		cl_container_of(it, struct stream, node)->published = true;
	}
	live_streams_published(c->relay, c->session);
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

static int cmd_send_index(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_index ix;
	struct stream *st;
	int r;

	if (cl_relayd_decode_index(p, n, c->minor, &ix) < 0)
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "malformed SEND_INDEX");
	st = conn_own_stream(c, ix.relay_stream_id);
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

	if (cl_relayd_decode_u64_pair(p, n, &handle, &last) < 0)
		return -EPROTO;
	st = conn_own_stream(c, handle);
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

	if (cl_relayd_decode_u64_pair(p, n, &handle, &last) < 0)
		return -EPROTO;
	st = conn_own_stream(c, handle);
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
	st = c->session ? conn_own_stream(c, handle) : NULL;
	if (st)
		st->data_pending_checked = true;
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

static int data_pending_round(struct conn *c, const uint8_t *p, size_t n, bool begin)
{
	struct cl_list_node *it;
	uint64_t id;
	bool in_flight = false;

	if (cl_relayd_decode_u64(p, n, &id) < 0)
		return -EPROTO;
	/* Checked after decoding (not by the table): a malformed payload closes silently. */
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

static int cmd_begin_data_pending(struct conn *c, const uint8_t *p, size_t n)
{
	return data_pending_round(c, p, n, true);
}

static int cmd_end_data_pending(struct conn *c, const uint8_t *p, size_t n)
{
	return data_pending_round(c, p, n, false);
}

static int cmd_reset_metadata(struct conn *c, const uint8_t *p, size_t n)
{
	uint64_t handle, version;
	struct stream *st;

	if (cl_relayd_decode_u64_pair(p, n, &handle, &version) < 0)
		return -EPROTO;
	st = conn_own_stream(c, handle);
	if (!st || !st->is_metadata || c->session->live_timer > 0 || stream_reset_metadata(st) < 0)
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "RESET_METADATA refused");
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

static int cmd_rotate_streams(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_rotate_streams rs;
	struct chunk *target = NULL;
	struct cl_list_node *it;
	int r;

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
		st = conn_own_stream(c, handle);
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

	if (cl_relayd_decode_create_chunk(p, n, &m) < 0)
		return reply_error_close(c, CL_LTTNG_ERR_INVALID, "malformed CREATE_TRACE_CHUNK");
	r = chunk_create(c->relay, c->session, &m, &status);
	if (r < 0) {
		log_warning_errno(r, "session %llu: cannot create trace chunk %llu",
				  (unsigned long long)c->session->id,
				  (unsigned long long)m.chunk_id);
		c->session->aborted = true; /* its data has nowhere to go */
	}
	reply_status(c, status);
	return 0;
}

static void reply_close_chunk_refused(struct conn *c)
{
	uint8_t b[8];

	reply(c, b,
	      cl_relayd_encode_close_chunk_reply(b, sizeof(b), CL_LTTNG_ERR_INVALID_PROTOCOL,
						 NULL));
	close_after_reply(c);
}

static int cmd_close_trace_chunk(struct conn *c, const uint8_t *p, size_t n)
{
	struct cl_relayd_close_chunk m;
	uint8_t b[8 + CL_RELAYD_PATH_MAX];
	char *path = NULL;
	uint32_t status;
	int r;

	if (cl_relayd_decode_close_chunk(p, n, &m) < 0) {
		reply_close_chunk_refused(c);
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
		close_after_reply(c); /* §10.2: never leave a length-0 reply open */
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

	if (cl_relayd_decode_u64(p, n, &id) < 0)
		return reply_error_close(c, CL_LTTNG_ERR_INVALID_PROTOCOL,
					 "unexpected TRACE_CHUNK_EXISTS");
	reply(c, b,
	      cl_relayd_encode_chunk_exists_reply(b, sizeof(b), CL_LTTNG_OK,
						  chunk_exists(c->relay, c->session, id)));
	return 0;
}

static int cmd_start_data(struct conn *c, const uint8_t *p, size_t n)
{
	(void)p;
	(void)n;
	reply_status(c, CL_LTTNG_OK);
	return 0;
}

/* ---- the table ---- */

#define MAX_PAYLOAD RELAY_MAX_CTRL_PAYLOAD

/* Commands absent here (UPDATE_SYNC_INFO, ADD_INDEX, CLOSE_INDEX, LIST_SESSIONS,
 * anything else) are answered LTTNG_ERR_UNK, then the connection closes. */
static const struct ctrl_cmd ctrl_cmds[] = {
	[CL_RELAYD_VERSION] = { "VERSION", MAX_PAYLOAD, CMD_BEFORE_VERSION, REFUSE_UNK,
				cmd_version },
	[CL_RELAYD_GET_CONFIGURATION] = { "GET_CONFIGURATION", MAX_PAYLOAD, 0, REFUSE_UNK,
					  cmd_get_configuration },
	[CL_RELAYD_CREATE_SESSION] = { "CREATE_SESSION", MAX_PAYLOAD, CMD_BEFORE_VERSION,
				       REFUSE_UNK, cmd_create_session },
	[CL_RELAYD_ADD_STREAM] = { "ADD_STREAM", MAX_PAYLOAD, CMD_SESSION, REFUSE_UNK,
				   cmd_add_stream },
	[CL_RELAYD_STREAMS_SENT] = { "STREAMS_SENT", MAX_PAYLOAD, CMD_SESSION, REFUSE_UNK,
				     cmd_streams_sent },
	[CL_RELAYD_SEND_METADATA] = { "SEND_METADATA", METADATA_MAX, CMD_SESSION, REFUSE_UNK,
				      NULL },
	[CL_RELAYD_SEND_INDEX] = { "SEND_INDEX", MAX_PAYLOAD, CMD_SESSION, REFUSE_UNK,
				   cmd_send_index },
	[CL_RELAYD_CLOSE_STREAM] = { "CLOSE_STREAM", MAX_PAYLOAD, CMD_SESSION, REFUSE_UNK,
				     cmd_close_stream },
	[CL_RELAYD_DATA_PENDING] = { "DATA_PENDING", MAX_PAYLOAD, CMD_SESSION, REFUSE_PENDING,
				     cmd_data_pending },
	[CL_RELAYD_QUIESCENT_CONTROL] = { "QUIESCENT_CONTROL", MAX_PAYLOAD, 0, REFUSE_UNK,
					  cmd_quiescent_control },
	[CL_RELAYD_BEGIN_DATA_PENDING] = { "BEGIN_DATA_PENDING", MAX_PAYLOAD, 0, REFUSE_UNK,
					   cmd_begin_data_pending },
	[CL_RELAYD_END_DATA_PENDING] = { "END_DATA_PENDING", MAX_PAYLOAD, 0, REFUSE_UNK,
					 cmd_end_data_pending },
	[CL_RELAYD_RESET_METADATA] = { "RESET_METADATA", MAX_PAYLOAD, CMD_SESSION, REFUSE_UNK,
				       cmd_reset_metadata },
	[CL_RELAYD_ROTATE_STREAMS] = { "ROTATE_STREAMS", MAX_PAYLOAD, CMD_SESSION | CMD_2_11,
				       REFUSE_PROTOCOL, cmd_rotate_streams },
	[CL_RELAYD_CREATE_TRACE_CHUNK] = { "CREATE_TRACE_CHUNK", MAX_PAYLOAD,
					   CMD_SESSION | CMD_2_11, REFUSE_PROTOCOL,
					   cmd_create_trace_chunk },
	[CL_RELAYD_CLOSE_TRACE_CHUNK] = { "CLOSE_TRACE_CHUNK", MAX_PAYLOAD, CMD_SESSION | CMD_2_11,
					  REFUSE_CLOSE_CHUNK, cmd_close_trace_chunk },
	[CL_RELAYD_TRACE_CHUNK_EXISTS] = { "TRACE_CHUNK_EXISTS", MAX_PAYLOAD,
					   CMD_SESSION | CMD_2_11, REFUSE_PROTOCOL,
					   cmd_trace_chunk_exists },
	[CL_RELAYD_START_DATA] = { "START_DATA", MAX_PAYLOAD, CMD_BEFORE_VERSION, REFUSE_UNK,
				   cmd_start_data },
};

/* The table's entry for `cmd`, or NULL for a command not served. */
static const struct ctrl_cmd *find_cmd(uint32_t cmd)
{
	if (cmd < CL_ARRAY_SIZE(ctrl_cmds) && ctrl_cmds[cmd].name)
		return &ctrl_cmds[cmd];
	return NULL;
}

uint64_t ctrl_max_payload(uint32_t cmd, void *userdata)
{
	const struct ctrl_cmd *e = find_cmd(cmd);

	(void)userdata;
	return e ? e->max_payload : MAX_PAYLOAD;
}

/* True when the connection meets the entry's CMD_SESSION and CMD_2_11. */
static bool cmd_allowed(const struct conn *c, const struct ctrl_cmd *e)
{
	if ((e->flags & CMD_SESSION) && !c->session)
		return false;
	return !(e->flags & CMD_2_11) || c->minor >= 11;
}

static int refuse_cmd(struct conn *c, const struct ctrl_cmd *e)
{
	switch (e->refusal) {
	case REFUSE_CLOSE_CHUNK:
		reply_close_chunk_refused(c);
		return 0;
	case REFUSE_PROTOCOL:
		reply_status(c, CL_LTTNG_ERR_INVALID_PROTOCOL);
		close_after_reply(c);
		log_debug("%s: unexpected %s", c->sock.peer, e->name);
		return 0;
	case REFUSE_PENDING:
	case REFUSE_UNK:
	default:
		reply_status(c, e->refusal == REFUSE_PENDING ? UINT32_MAX : CL_LTTNG_ERR_UNK);
		close_after_reply(c);
		log_debug("%s: %s without a session", c->sock.peer, e->name);
		return 0;
	}
}

int ctrl_dispatch(struct conn *c, const struct cl_relayd_hdr *hdr, const uint8_t *p, size_t n)
{
	const struct ctrl_cmd *e = find_cmd(hdr->cmd);

	log_debug("%s: %s (%zu bytes)", c->sock.peer, cl_relayd_cmd_name(hdr->cmd), n);
	if (!c->version_done && !(e && (e->flags & CMD_BEFORE_VERSION)))
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "command before VERSION");
	if (!e || !e->handle) {
		log_notice("%s: unknown command %u, closing", c->sock.peer, hdr->cmd);
		return reply_error_close(c, CL_LTTNG_ERR_UNK, "unknown command");
	}
	if (!cmd_allowed(c, e))
		return refuse_cmd(c, e);
	if (c->session && c->session->sync_error && hdr->cmd != CL_RELAYD_VERSION)
		return reply_error_close(c, CL_LTTNG_ERR_FATAL, "session stopped (sync failure)");
	return e->handle(c, p, n);
}

/* ---- SEND_METADATA (streamed) ---- */

int ctrl_metadata_start(struct conn *c, const struct cl_relayd_hdr *hdr)
{
	if (c->session && c->session->sync_error)
		return conn_refuse(c, c->session->sync_error, "session stopped (sync failure)");
	return cmd_allowed(c, find_cmd(hdr->cmd)) ? 0 : -EPROTO;
}

int ctrl_metadata_begin(struct conn *c, const struct cl_relayd_hdr *hdr,
			const struct cl_relayd_metadata_hdr *mh)
{
	struct stream *st = conn_own_stream(c, mh->stream_id);

	if (!st && c->session && c->session->close_error) {
		/* its streams closed when the session stopped: say why */
		log_notice("%s: SEND_METADATA for stream %llu, closed when the session stopped "
			   "on an error (%s), closing",
			   c->sock.peer, (unsigned long long)mh->stream_id,
			   strerror(-c->session->close_error));
		return c->session->close_error;
	}
	if (!st || !st->is_metadata) {
		log_notice("%s: SEND_METADATA for unknown stream %llu, closing", c->sock.peer,
			   (unsigned long long)mh->stream_id);
		return -EPROTO;
	}
	if (hdr->data_size - CL_RELAYD_METADATA_HDR_SIZE + mh->padding_size >
	    RELAY_MAX_METADATA_SIZE - st->metadata_received) {
		log_notice("%s: metadata of stream %llu would exceed %llu bytes, closing",
			   c->sock.peer, (unsigned long long)mh->stream_id,
			   (unsigned long long)RELAY_MAX_METADATA_SIZE);
		return conn_refuse(c, -E2BIG, "metadata over the size limit");
	}
	c->stream = st;
	st->busy++;
	c->padding = mh->padding_size;
	return 0;
}

int ctrl_metadata_end(struct conn *c)
{
	struct stream *st = c->stream;

	c->stream = NULL;
	st->busy--;
	return stream_write_metadata_padding(st, c->padding);
}
