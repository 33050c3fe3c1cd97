/* SPDX-License-Identifier: MIT */
/*
 * LTTng live viewer client: one blocking TCP connection, strictly request
 * then reply (live-protocol.md §1.1), turned into a queue of items.
 *
 * Every message goes through the codec (src/proto/live.c): fixed-size parts
 * are received in full, then decoded; counts and lengths are checked against
 * limits before anything is allocated or received.
 *
 * Object graph: the client owns its sessions (relay sessions attached), its
 * traces (one per relay CTF trace id: a metadata stream and its data
 * streams), its data streams, and the item queue (each queued item owns its
 * bytes; the last popped item is kept alive until the next call).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ctflive/live.h"
#include "live-proto.h"

/* babeltrace2 reads packets in requests of at most this many bytes. */
#define GET_PACKET_CHUNK   (256u * 1024)
#define DEFAULT_TIMEOUT_MS 30000

struct session {
	uint64_t id;
	bool ended;
};

struct trace {
	uint64_t id;
	uint64_t session_id;
	uint64_t metadata_stream_id;
	bool has_metadata_stream;
	bool metadata_closed; /* GET_METADATA answered ERR: nothing more will come */
	bool need_metadata;
	uint64_t metadata_total; /* bytes received */
	size_t data_streams;     /* live data streams of this trace */
};

struct stream {
	uint64_t id;
	uint64_t trace_id;
	uint64_t session_id;
};

struct qitem {
	struct ctflive_live_item item;
	uint8_t *data; /* owned */
	char *path;    /* owned */
	char *channel; /* owned */
};

struct ctflive_live_client {
	int fd;
	int timeout_ms;
	uint32_t major, minor;
	int broken; /* 0, or the error that broke the connection */
	char err[512];

	bool viewer_session; /* CREATE_SESSION done */
	bool need_new_streams;
	bool end_queued;

	struct session *sessions; /* owned */
	size_t nsessions;
	struct trace *traces; /* owned */
	size_t ntraces, traces_cap;
	struct stream *streams; /* owned */
	size_t nstreams, streams_cap;

	struct qitem *q; /* owned ring */
	size_t qhead, qlen, qcap;
	struct qitem cur; /* last item popped; owns its bytes until the next pop */
};

/* ---- Errors ---- */

__attribute__((format(printf, 3, 4))) static int set_err(struct ctflive_live_client *c, int r,
							 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return r;
}

/* Records a fatal error: the connection is out of sync or gone. */
__attribute__((format(printf, 3, 4))) static int set_broken(struct ctflive_live_client *c, int r,
							    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->broken = r;
	return r;
}

const char *ctflive_live_client_error(const struct ctflive_live_client *c)
{
	return c ? c->err : "";
}

void ctflive_live_client_version(const struct ctflive_live_client *c, uint32_t *ret_major,
				 uint32_t *ret_minor)
{
	if (ret_major)
		*ret_major = c->major;
	if (ret_minor)
		*ret_minor = c->minor;
}

/* ---- Socket I/O ---- */

static int send_all(struct ctflive_live_client *c, const uint8_t *buf, size_t n, uint32_t cmd)
{
	while (n > 0) {
		ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			return set_broken(c, -ECONNRESET,
					  "the relay closed the connection (sending %s)",
					  cl_live_cmd_name(cmd));
		if (w < 0) {
			int r = errno == EAGAIN ? -ETIMEDOUT : -errno;

			return set_broken(c, r, "cannot send %s to the relay: %s",
					  cl_live_cmd_name(cmd), strerror(-r));
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(struct ctflive_live_client *c, void *dst, size_t n, uint32_t cmd)
{
	uint8_t *buf = dst;

	while (n > 0) {
		ssize_t rd = recv(c->fd, buf, n, 0);

		if (rd < 0 && errno == EINTR)
			continue;
		if (rd == 0 || (rd < 0 && errno == ECONNRESET))
			return set_broken(
				c, -ECONNRESET,
				"the relay closed the connection (waiting for the %s reply)",
				cl_live_cmd_name(cmd));
		if (rd < 0) {
			int r = errno == EAGAIN ? -ETIMEDOUT : -errno;

			if (r == -ETIMEDOUT)
				return set_broken(c, r, "the relay did not answer %s within %d ms",
						  cl_live_cmd_name(cmd), c->timeout_ms);
			return set_broken(c, r, "cannot receive the %s reply: %s",
					  cl_live_cmd_name(cmd), strerror(-r));
		}
		buf += rd;
		n -= (size_t)rd;
	}
	return 0;
}

/* Sends header + payload in one write (lttng-tools b6025e947: Nagle stalls). */
static int send_cmd(struct ctflive_live_client *c, uint32_t cmd, const uint8_t *payload, size_t len)
{
	uint8_t buf[CL_LIVE_CMD_HDR_SIZE + CL_LIVE_CONNECT_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	struct cl_live_cmd_hdr h = cl_live_cmd_hdr_make(cmd);

	if (c->broken)
		return c->broken;
	if (cl_live_cmd_hdr_encode(&wb, &h) < 0 || cl_wbuf_put_bytes(&wb, payload, len) < 0)
		return set_broken(c, -EINVAL, "internal error encoding %s", cl_live_cmd_name(cmd));
	return send_all(c, buf, wb.pos, cmd);
}

/* Receives exactly `size` bytes into buf and returns a cursor over them. */
static int recv_fixed(struct ctflive_live_client *c, uint32_t cmd, uint8_t *buf, size_t size,
		      struct cl_rbuf *ret)
{
	int r = recv_all(c, buf, size, cmd);

	if (r < 0)
		return r;
	*ret = cl_rbuf_make(buf, size);
	return 0;
}

/* Sends request `cmd` and reads its fixed-size reply into rep (`size` bytes). */
static int round_trip(struct ctflive_live_client *c, uint32_t cmd, const uint8_t *req,
		      size_t req_len, uint8_t *rep, size_t size, struct cl_rbuf *ret)
{
	int r = send_cmd(c, cmd, req, req_len);

	return r < 0 ? r : recv_fixed(c, cmd, rep, size, ret);
}

static int malformed(struct ctflive_live_client *c, uint32_t cmd, int r)
{
	const char *why = r == -E2BIG ? "a count or length over the limit" : "a malformed reply";

	return set_broken(c, r == -E2BIG ? -E2BIG : -EPROTO, "the relay sent %s to %s", why,
			  cl_live_cmd_name(cmd));
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

static void qitem_release(struct qitem *it)
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
		return set_broken(c, -ENOMEM, "out of memory");
	return 0;
}

int ctflive_live_client_next_item(struct ctflive_live_client *c, struct ctflive_live_item *ret)
{
	if (!c || !ret)
		return -EINVAL;
	qitem_release(&c->cur);
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
	if (c->ntraces == c->traces_cap) {
		size_t ncap = c->traces_cap ? c->traces_cap * 2 : 8;
		struct trace *n = realloc(c->traces, ncap * sizeof(*n));

		if (!n)
			return NULL;
		c->traces = n;
		c->traces_cap = ncap;
	}
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
		return set_broken(c, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < count; i++) {
		struct cl_rbuf rb;
		struct trace *t;

		r = recv_fixed(c, cmd, buf, sizeof(buf), &rb);
		if (r < 0)
			break;
		r = cl_live_stream_decode(&rb, rec);
		if (r < 0) {
			r = malformed(c, cmd, r);
			break;
		}
		if (find_stream(c, rec->id) || metadata_stream_known(c, rec->id))
			continue; /* already known: a relay may send a record twice */
		t = get_trace(c, rec->ctf_trace_id, session_id);
		if (!t) {
			r = set_broken(c, -ENOMEM, "out of memory");
			break;
		}
		if (rec->metadata_flag) {
			t->has_metadata_stream = true;
			t->metadata_stream_id = rec->id;
			t->need_metadata = true;
			continue;
		}
		if (c->nstreams >= CL_LIVE_MAX_STREAMS) {
			r = set_broken(c, -E2BIG, "the relay announced more than %u streams",
				       CL_LIVE_MAX_STREAMS);
			break;
		}
		if (c->nstreams == c->streams_cap) {
			size_t ncap = c->streams_cap ? c->streams_cap * 2 : 16;
			struct stream *n = realloc(c->streams, ncap * sizeof(*n));

			if (!n) {
				r = set_broken(c, -ENOMEM, "out of memory");
				break;
			}
			c->streams = n;
			c->streams_cap = ncap;
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
			qitem_release(&it);
			r = set_broken(c, -ENOMEM, "out of memory");
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
		r = send_cmd(c, CL_LIVE_CMD_GET_METADATA, req, wb.pos);
		if (r < 0)
			return r;
		r = recv_fixed(c, CL_LIVE_CMD_GET_METADATA, rep, sizeof(rep), &rb);
		if (r < 0)
			return r;
		r = cl_live_metadata_reply_decode(&rb, &m);
		if (r < 0)
			return malformed(c, CL_LIVE_CMD_GET_METADATA, r);
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
			return set_broken(c, -E2BIG, "trace metadata larger than %u bytes",
					  CTFLIVE_LIVE_MAX_METADATA);
		it.data = malloc((size_t)m.len);
		if (!it.data)
			return set_broken(c, -ENOMEM, "out of memory");
		r = recv_all(c, it.data, (size_t)m.len, CL_LIVE_CMD_GET_METADATA);
		if (r < 0) {
			qitem_release(&it);
			return r;
		}
		t->metadata_total += m.len;
		it.item.type = CTFLIVE_LIVE_ITEM_METADATA;
		it.item.session_id = t->session_id;
		it.item.trace_id = t->id;
		it.item.len = (size_t)m.len;
		if (queue_push(c, &it) < 0) {
			qitem_release(&it);
			return set_broken(c, -ENOMEM, "out of memory");
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

/* ---- Connection ---- */

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd;
	int fd, r, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	if (r < 0) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (soerr) {
			close(fd);
			return -soerr;
		}
	}
	return fd;
}

static int set_blocking_with_timeout(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int one = 1, fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int handshake(struct ctflive_live_client *c)
{
	uint8_t req[CL_LIVE_CONNECT_SIZE], rep[CL_LIVE_CONNECT_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));
	struct cl_live_connect m = {
		.viewer_session_id = UINT64_MAX,
		.major = CL_LIVE_VERSION_MAJOR,
		.minor = CL_LIVE_CLIENT_VERSION_MINOR,
		.type = CL_LIVE_CONN_COMMAND,
	};
	struct cl_rbuf rb;
	int r;

	(void)cl_live_connect_encode(&wb, &m);
	r = send_cmd(c, CL_LIVE_CMD_CONNECT, req, wb.pos);
	if (r < 0)
		return r;
	r = recv_all(c, rep, sizeof(rep), CL_LIVE_CMD_CONNECT);
	if (r == -ECONNRESET)
		/* A relay closes without a reply on a major version mismatch. */
		return set_broken(c, r,
				  "the relay closed the connection during the handshake "
				  "(not a live port, or incompatible protocol version)");
	if (r < 0)
		return r;
	rb = cl_rbuf_make(rep, sizeof(rep));
	r = cl_live_connect_decode(&rb, &m);
	if (r < 0)
		return malformed(c, CL_LIVE_CMD_CONNECT, r);
	if (cl_live_connect_check_reply(&m) < 0) {
		/* LTTng live majors are small (2 since 2012): anything else is
		 * some other service answering on this port */
		if (m.major > 64)
			return set_broken(c, -EPROTO,
					  "the peer does not speak the LTTng live protocol "
					  "(not a relay's live port?)");
		return set_broken(c, -ENOTSUP, "incompatible relay protocol version %u.%u", m.major,
				  m.minor);
	}
	c->major = m.major;
	c->minor = m.minor < CL_LIVE_CLIENT_VERSION_MINOR ? m.minor : CL_LIVE_CLIENT_VERSION_MINOR;
	return 0;
}

int ctflive_live_client_connect(const char *host, uint16_t port, int family, int timeout_ms,
				struct ctflive_live_client **ret_client, char *reterr_msg,
				size_t reterr_len)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	struct ctflive_live_client *c;
	char portstr[8];
	int r, fd = -ECONNREFUSED;

	if (!host || !ret_client)
		return -EINVAL;
	if (timeout_ms <= 0)
		timeout_ms = DEFAULT_TIMEOUT_MS;
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", (unsigned int)port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0) {
		if (reterr_msg && reterr_len)
			snprintf(reterr_msg, reterr_len, "cannot resolve '%s': %s", host,
				 gai_strerror(r));
		return r == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
	}
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (reterr_msg && reterr_len)
			snprintf(reterr_msg, reterr_len, "cannot connect to '%s%s%s:%u': %s",
				 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
				 (unsigned int)port, strerror(-fd));
		return fd;
	}
	r = set_blocking_with_timeout(fd, timeout_ms);
	if (r < 0) {
		close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	r = handshake(c);
	if (r < 0) {
		if (reterr_msg && reterr_len)
			snprintf(reterr_msg, reterr_len, "%s", c->err);
		ctflive_live_client_free(c);
		return r;
	}
	*ret_client = c;
	return 0;
}

struct ctflive_live_client *ctflive_live_client_free(struct ctflive_live_client *c)
{
	if (!c)
		return NULL;
	/* DETACH each attached session, best effort (old relays lack it). */
	for (size_t i = 0; i < c->nsessions && !c->broken; i++) {
		uint8_t req[CL_LIVE_SESSION_REQUEST_SIZE], rep[CL_LIVE_STATUS_REPLY_SIZE];
		struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));

		(void)cl_live_detach_request_encode(&wb, c->sessions[i].id);
		if (send_cmd(c, CL_LIVE_CMD_DETACH_SESSION, req, wb.pos) < 0 ||
		    recv_all(c, rep, sizeof(rep), CL_LIVE_CMD_DETACH_SESSION) < 0)
			break;
	}
	if (c->fd >= 0)
		close(c->fd);
	qitem_release(&c->cur);
	for (size_t i = 0; i < c->qlen; i++)
		qitem_release(&c->q[(c->qhead + i) % c->qcap]);
	free(c->q);
	free(c->sessions);
	free(c->traces);
	free(c->streams);
	free(c);
	return NULL;
}

/* ---- LIST_SESSIONS ---- */

static int list_sessions(struct ctflive_live_client *c, struct cl_live_session **ret, size_t *ret_n)
{
	uint8_t rep[CL_LIVE_SESSION_SIZE];
	struct cl_live_session *v = NULL;
	struct cl_rbuf rb;
	uint32_t count;
	int r;

	r = round_trip(c, CL_LIVE_CMD_LIST_SESSIONS, NULL, 0, rep, CL_LIVE_LIST_REPLY_SIZE, &rb);
	if (r < 0)
		return r;
	r = cl_live_list_reply_decode(&rb, &count);
	if (r < 0)
		return malformed(c, CL_LIVE_CMD_LIST_SESSIONS, r);
	if (count) {
		v = calloc(count, sizeof(*v)); /* count <= CL_LIVE_MAX_SESSIONS */
		if (!v)
			return set_broken(c, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < count; i++) {
		r = recv_fixed(c, CL_LIVE_CMD_LIST_SESSIONS, rep, CL_LIVE_SESSION_SIZE, &rb);
		if (r < 0)
			goto fail;
		r = cl_live_session_decode(&rb, &v[i]);
		if (r < 0) {
			r = malformed(c, CL_LIVE_CMD_LIST_SESSIONS, r);
			goto fail;
		}
	}
	*ret = v;
	*ret_n = count;
	return 0;
fail:
	free(v);
	return r;
}

int ctflive_live_client_list(struct ctflive_live_client *c,
			     struct ctflive_live_session_info **ret_sessions, size_t *ret_count)
{
	struct cl_live_session *v = NULL;
	struct ctflive_live_session_info *out = NULL;
	size_t n = 0;
	int r;

	if (!c || !ret_sessions || !ret_count)
		return -EINVAL;
	r = list_sessions(c, &v, &n);
	if (r < 0)
		return r;
	if (n) {
		out = calloc(n, sizeof(*out));
		if (!out) {
			free(v);
			return set_broken(c, -ENOMEM, "out of memory");
		}
	}
	for (size_t i = 0; i < n; i++) {
		static_assert(sizeof(out[i].hostname) == sizeof(v[i].hostname), "hostname");
		static_assert(sizeof(out[i].session_name) == sizeof(v[i].session_name), "name");
		out[i].id = v[i].id;
		out[i].live_timer = v[i].live_timer;
		out[i].clients = v[i].clients;
		out[i].streams = v[i].streams;
		memcpy(out[i].hostname, v[i].hostname, sizeof(out[i].hostname));
		memcpy(out[i].session_name, v[i].session_name, sizeof(out[i].session_name));
	}
	free(v);
	*ret_sessions = out;
	*ret_count = n;
	return 0;
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
	r = round_trip(c, CL_LIVE_CMD_CREATE_SESSION, NULL, 0, rep, sizeof(rep), &rb);
	if (r < 0)
		return r;
	r = cl_live_create_session_reply_decode(&rb, &status);
	if (r < 0)
		return malformed(c, CL_LIVE_CMD_CREATE_SESSION, r);
	if (status != CL_LIVE_CREATE_SESSION_OK)
		return set_broken(c, -EPROTO, "the relay could not create a viewer session");
	c->viewer_session = true;
	return 0;
}

static int attach_one(struct ctflive_live_client *c, uint64_t id, enum ctflive_live_seek seek)
{
	uint8_t req[CL_LIVE_ATTACH_REQUEST_SIZE], rep[CL_LIVE_STREAMS_REPLY_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));
	struct cl_live_attach_request a = { .session_id = id, .offset = 0, .seek = (uint32_t)seek };
	struct cl_live_streams_reply m;
	struct session *s;
	struct cl_rbuf rb;
	int r;

	(void)cl_live_attach_request_encode(&wb, &a);
	r = round_trip(c, CL_LIVE_CMD_ATTACH_SESSION, req, wb.pos, rep, sizeof(rep), &rb);
	if (r < 0)
		return r;
	r = cl_live_attach_reply_decode(&rb, &m);
	if (r < 0)
		return malformed(c, CL_LIVE_CMD_ATTACH_SESSION, r);
	switch (m.status) {
	case CL_LIVE_ATTACH_OK:
		break;
	case CL_LIVE_ATTACH_ALREADY:
		return set_err(c, -EBUSY, "another viewer is already attached to this session");
	case CL_LIVE_ATTACH_UNK:
		return set_err(c, -ENOENT, "the session ended before it could be attached");
	case CL_LIVE_ATTACH_NOT_LIVE:
		return set_err(c, -EPROTO, "not a live session");
	default:
		return set_err(c, -EPROTO, "the relay refused to attach the session (%s)",
			       cl_live_status_name(CL_LIVE_CMD_ATTACH_SESSION, m.status));
	}
	s = realloc(c->sessions, (c->nsessions + 1) * sizeof(*s));
	if (!s)
		return set_broken(c, -ENOMEM, "out of memory");
	c->sessions = s;
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
	r = list_sessions(c, &v, &n);
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
		return set_err(c, -ENOENT, "no session '%s' of host '%s' on the relay",
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
	r = round_trip(c, CL_LIVE_CMD_GET_NEW_STREAMS, req, wb.pos, rep, sizeof(rep), &rb);
	if (r < 0)
		return r;
	r = cl_live_new_streams_reply_decode(&rb, &m);
	if (r < 0)
		return malformed(c, CL_LIVE_CMD_GET_NEW_STREAMS, r);
	switch (m.status) {
	case CL_LIVE_NEW_STREAMS_OK:
		return recv_streams(c, CL_LIVE_CMD_GET_NEW_STREAMS, id, m.streams_count);
	case CL_LIVE_NEW_STREAMS_NO_NEW:
		return 0;
	case CL_LIVE_NEW_STREAMS_HUP:
		s->ended = true;
		return queue_simple(c, CTFLIVE_LIVE_ITEM_SESSION_END, id, 0, 0);
	default:
		return set_broken(c, -EPROTO,
				  "the relay answered ERR to GET_NEW_STREAMS for session %llu",
				  (unsigned long long)id);
	}
}

static int all_new_streams(struct ctflive_live_client *c)
{
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
		return set_broken(c, -EPROTO, "the relay sent an empty index for stream %llu",
				  (unsigned long long)st->id);
	if (size > CTFLIVE_LIVE_MAX_PACKET)
		return set_broken(c, -E2BIG, "packet of %llu bytes on stream %llu (limit %u)",
				  (unsigned long long)size, (unsigned long long)st->id,
				  CTFLIVE_LIVE_MAX_PACKET);
	it.data = malloc((size_t)size);
	if (!it.data)
		return set_broken(c, -ENOMEM, "out of memory");
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
		r = send_cmd(c, CL_LIVE_CMD_GET_PACKET, req, wb.pos);
		if (r < 0)
			goto fail;
		r = recv_fixed(c, CL_LIVE_CMD_GET_PACKET, rep, sizeof(rep), &rb);
		if (r < 0)
			goto fail;
		r = cl_live_packet_reply_decode(&rb, &m);
		if (r < 0) {
			r = malformed(c, CL_LIVE_CMD_GET_PACKET, r);
			goto fail;
		}
		if (m.status != CL_LIVE_PACKET_OK) {
			r = set_broken(
				c, -EPROTO,
				"the relay answered %s to GET_PACKET for stream %llu at offset %llu",
				cl_live_status_name(CL_LIVE_CMD_GET_PACKET, m.status),
				(unsigned long long)st->id, (unsigned long long)g.offset);
			goto fail;
		}
		if (m.len != want) {
			r = set_broken(c, -EPROTO,
				       "the relay sent %u bytes instead of %u for GET_PACKET",
				       m.len, want);
			goto fail;
		}
		r = recv_all(c, it.data + done, want, CL_LIVE_CMD_GET_PACKET);
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
		r = set_broken(c, -ENOMEM, "out of memory");
		goto fail;
	}
	return 0;
fail:
	qitem_release(&it);
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

int ctflive_live_client_request_index(struct ctflive_live_client *c, uint64_t stream_id)
{
	uint8_t req[CL_LIVE_GET_NEXT_INDEX_SIZE], rep[CL_LIVE_INDEX_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(req, sizeof(req));
	struct cl_live_index x;
	struct stream *st;
	struct trace *t;
	struct cl_rbuf rb;
	int r;

	if (!c)
		return -EINVAL;
	if (c->broken)
		return c->broken;
	st = find_stream(c, stream_id);
	if (!st)
		return set_err(c, -EINVAL, "unknown stream %llu", (unsigned long long)stream_id);

	(void)cl_live_get_next_index_encode(&wb, stream_id);
	r = round_trip(c, CL_LIVE_CMD_GET_NEXT_INDEX, req, wb.pos, rep, sizeof(rep), &rb);
	if (r < 0)
		return r;
	r = cl_live_index_decode(&rb, &x);
	if (r < 0)
		return malformed(c, CL_LIVE_CMD_GET_NEXT_INDEX, r);

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
		return set_broken(c, -EPROTO, "stream %llu vanished",
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
			return set_broken(c, -ENOMEM, "out of memory");
		return 0;
	}
	case CL_LIVE_INDEX_RETRY:
		return queue_simple(c, CTFLIVE_LIVE_ITEM_RETRY, st->session_id, st->trace_id,
				    st->id);
	case CL_LIVE_INDEX_HUP:
		return stream_ended(c, st);
	default:
		return set_broken(c, -EPROTO,
				  "the relay answered %s to GET_NEXT_INDEX for stream %llu",
				  cl_live_status_name(CL_LIVE_CMD_GET_NEXT_INDEX, x.status),
				  (unsigned long long)stream_id);
	}
}
