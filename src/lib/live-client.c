/* SPDX-License-Identifier: MIT */
/*
 * LTTng live viewer client: one blocking TCP connection, strictly request
 * then reply (live-protocol.md §1.1), turned into a queue of items.
 *
 * Every message goes through the codec (src/proto/live.c): fixed-size parts
 * are received in full, then decoded; counts and lengths are checked against
 * limits before anything is allocated or received.
 *
 * This file holds the connection (connect, handshake, free), the socket I/O
 * and request/reply round trips, and LIST_SESSIONS; attaching, streams,
 * metadata, packets and the item queue are in live-client-items.c.
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

#include "io.h"
#include "live-client-internal.h"

#define DEFAULT_TIMEOUT_MS 30000

/* ---- Errors ---- */

__attribute__((format(printf, 3, 4))) int cl_live_client_set_err(struct ctflive_live_client *c,
								 int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return r;
}

/* Records a fatal error: the connection is out of sync or gone. */
__attribute__((format(printf, 3, 4))) int cl_live_client_set_broken(struct ctflive_live_client *c,
								    int r, const char *fmt, ...)
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
			return cl_live_client_set_broken(
				c, -ECONNRESET, "the relay closed the connection (sending %s)",
				cl_live_cmd_name(cmd));
		if (w < 0) {
			int r = errno == EAGAIN ? -ETIMEDOUT : -errno;

			return cl_live_client_set_broken(c, r, "cannot send %s to the relay: %s",
							 cl_live_cmd_name(cmd), strerror(-r));
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int cl_live_client_recv_all(struct ctflive_live_client *c, void *dst, size_t n, uint32_t cmd)
{
	uint8_t *buf = dst;

	while (n > 0) {
		ssize_t rd = recv(c->fd, buf, n, 0);

		if (rd < 0 && errno == EINTR)
			continue;
		if (rd == 0 || (rd < 0 && errno == ECONNRESET))
			return cl_live_client_set_broken(
				c, -ECONNRESET,
				"the relay closed the connection (waiting for the %s reply)",
				cl_live_cmd_name(cmd));
		if (rd < 0) {
			int r = errno == EAGAIN ? -ETIMEDOUT : -errno;

			if (r == -ETIMEDOUT)
				return cl_live_client_set_broken(
					c, r, "the relay did not answer %s within %d ms",
					cl_live_cmd_name(cmd), c->timeout_ms);
			return cl_live_client_set_broken(c, r, "cannot receive the %s reply: %s",
							 cl_live_cmd_name(cmd), strerror(-r));
		}
		buf += rd;
		n -= (size_t)rd;
	}
	return 0;
}

/* Sends header + payload in one write (lttng-tools b6025e947: Nagle stalls). */
int cl_live_client_send_cmd(struct ctflive_live_client *c, uint32_t cmd, const uint8_t *payload,
			    size_t len)
{
	uint8_t buf[CL_LIVE_CMD_HDR_SIZE + CL_LIVE_CONNECT_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	struct cl_live_cmd_hdr h = cl_live_cmd_hdr_make(cmd);

	if (c->broken)
		return c->broken;
	if (c->index_pending) {
		/* one request at a time: take the reply in flight first */
		int r = cl_live_client_index_finish(c);

		if (r < 0)
			return r;
	}
	if (cl_live_cmd_hdr_encode(&wb, &h) < 0 || cl_wbuf_put_bytes(&wb, payload, len) < 0)
		return cl_live_client_set_broken(c, -EINVAL, "internal error encoding %s",
						 cl_live_cmd_name(cmd));
	return send_all(c, buf, wb.pos, cmd);
}

int cl_live_client_reply_ready(struct ctflive_live_client *c, int timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	int r;

	if (c->broken)
		return c->broken;
	if (!c->index_pending)
		return 0;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return cl_live_client_set_broken(c, -errno, "cannot poll the relay connection: %s",
						 strerror(errno));
	/* a hang-up or error is read (and reported) by the receive */
	return r > 0;
}

/* Receives exactly `size` bytes into buf and returns a cursor over them. */
int cl_live_client_recv_fixed(struct ctflive_live_client *c, uint32_t cmd, uint8_t *buf,
			      size_t size, struct cl_rbuf *ret)
{
	int r = cl_live_client_recv_all(c, buf, size, cmd);

	if (r < 0)
		return r;
	*ret = cl_rbuf_make(buf, size);
	return 0;
}

/* Sends request `cmd` and reads its fixed-size reply into rep (`size` bytes). */
int cl_live_client_round_trip(struct ctflive_live_client *c, uint32_t cmd, const uint8_t *req,
			      size_t req_len, uint8_t *rep, size_t size, struct cl_rbuf *ret)
{
	int r = cl_live_client_send_cmd(c, cmd, req, req_len);

	return r < 0 ? r : cl_live_client_recv_fixed(c, cmd, rep, size, ret);
}

int cl_live_client_malformed(struct ctflive_live_client *c, uint32_t cmd, int r)
{
	const char *why = r == -E2BIG ? "a count or length over the limit" : "a malformed reply";

	return cl_live_client_set_broken(c, r == -E2BIG ? -E2BIG : -EPROTO,
					 "the relay sent %s to %s", why, cl_live_cmd_name(cmd));
}

/* ---- Connection ---- */

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
	r = cl_live_client_send_cmd(c, CL_LIVE_CMD_CONNECT, req, wb.pos);
	if (r >= 0)
		r = cl_live_client_recv_all(c, rep, sizeof(rep), CL_LIVE_CMD_CONNECT);
	if (r == -ECONNRESET)
		/* Closed before any reply: a relay refusing the address
		 * (--allow-from) or over a connection limit, or a relay of
		 * another major version (it closes without a reply). */
		return cl_live_client_set_broken(
			c, r,
			"the relay closed the connection during the handshake "
			"(refused by --allow-from or a connection limit, or an "
			"incompatible protocol version?)");
	if (r < 0)
		return r;
	rb = cl_rbuf_make(rep, sizeof(rep));
	r = cl_live_connect_decode(&rb, &m);
	if (r < 0)
		return cl_live_client_malformed(c, CL_LIVE_CMD_CONNECT, r);
	if (cl_live_connect_check_reply(&m) < 0) {
		/* LTTng live majors are small (2 since 2012): anything else is
		 * some other service answering on this port */
		if (m.major > 64)
			return cl_live_client_set_broken(
				c, -EPROTO,
				"the peer does not speak the LTTng live protocol "
				"(not a relay's live port?)");
		return cl_live_client_set_broken(
			c, -ENOTSUP, "incompatible relay protocol version %u.%u", m.major, m.minor);
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
		fd = cl_connect_timeout(ai, timeout_ms);
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
		if (cl_live_client_send_cmd(c, CL_LIVE_CMD_DETACH_SESSION, req, wb.pos) < 0 ||
		    cl_live_client_recv_all(c, rep, sizeof(rep), CL_LIVE_CMD_DETACH_SESSION) < 0)
			break;
	}
	if (c->fd >= 0)
		close(c->fd);
	cl_live_client_qitem_release(&c->cur);
	for (size_t i = 0; i < c->qlen; i++)
		cl_live_client_qitem_release(&c->q[(c->qhead + i) % c->qcap]);
	free(c->q);
	free(c->sessions);
	for (size_t i = 0; i < c->ntraces; i++)
		free(c->traces[i].path);
	free(c->traces);
	free(c->streams);
	free(c);
	return NULL;
}

/* ---- LIST_SESSIONS ---- */

/*
 * Receives one 2.15 session record: the 32-byte fixed part, then the two
 * names, whose lengths are bounded (by the decoder's limits) before they
 * are read. `buf` holds CL_LIVE_SESSION_2_15_SIZE + both name maxima.
 */
static int recv_session_2_15(struct ctflive_live_client *c, uint8_t *buf,
			     struct cl_live_session *ret)
{
	struct cl_rbuf rb;
	uint32_t host_len, name_len;
	int r;

	r = cl_live_client_recv_fixed(c, CL_LIVE_CMD_LIST_SESSIONS, buf, CL_LIVE_SESSION_2_15_SIZE,
				      &rb);
	if (r < 0)
		return r;
	host_len = cl_load_be32(buf + 20);
	name_len = cl_load_be32(buf + 24);
	if (host_len >= CL_LIVE_HOST_NAME_MAX || name_len >= CL_LIVE_NAME_MAX)
		return cl_live_client_malformed(c, CL_LIVE_CMD_LIST_SESSIONS, -EPROTO);
	if (host_len + name_len) {
		r = cl_live_client_recv_all(c, buf + CL_LIVE_SESSION_2_15_SIZE, host_len + name_len,
					    CL_LIVE_CMD_LIST_SESSIONS);
		if (r < 0)
			return r;
	}
	rb = cl_rbuf_make(buf, CL_LIVE_SESSION_2_15_SIZE + host_len + name_len);
	r = cl_live_session_decode_2_15(&rb, ret);
	return r < 0 ? cl_live_client_malformed(c, CL_LIVE_CMD_LIST_SESSIONS, r) : 0;
}

int cl_live_client_list_sessions(struct ctflive_live_client *c, struct cl_live_session **ret,
				 size_t *ret_n)
{
	uint8_t rep[CL_LIVE_SESSION_SIZE > CL_LIVE_SESSION_2_15_SIZE + CL_LIVE_HOST_NAME_MAX +
						   CL_LIVE_NAME_MAX
			    ? CL_LIVE_SESSION_SIZE
			    : CL_LIVE_SESSION_2_15_SIZE + CL_LIVE_HOST_NAME_MAX + CL_LIVE_NAME_MAX];
	struct cl_live_session *v = NULL;
	struct cl_rbuf rb;
	uint32_t count;
	int r;

	r = cl_live_client_round_trip(c, CL_LIVE_CMD_LIST_SESSIONS, NULL, 0, rep,
				      CL_LIVE_LIST_REPLY_SIZE, &rb);
	if (r < 0)
		return r;
	r = cl_live_list_reply_decode(&rb, &count);
	if (r < 0)
		return cl_live_client_malformed(c, CL_LIVE_CMD_LIST_SESSIONS, r);
	if (count) {
		v = calloc(count, sizeof(*v)); /* count <= CL_LIVE_MAX_SESSIONS */
		if (!v)
			return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < count; i++) {
		if (c->minor >= CL_LIVE_MINOR_2_15) {
			r = recv_session_2_15(c, rep, &v[i]);
			if (r < 0)
				goto fail;
			continue;
		}
		r = cl_live_client_recv_fixed(c, CL_LIVE_CMD_LIST_SESSIONS, rep,
					      CL_LIVE_SESSION_SIZE, &rb);
		if (r < 0)
			goto fail;
		r = cl_live_session_decode(&rb, &v[i]);
		if (r < 0) {
			r = cl_live_client_malformed(c, CL_LIVE_CMD_LIST_SESSIONS, r);
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
	r = cl_live_client_list_sessions(c, &v, &n);
	if (r < 0)
		return r;
	if (n) {
		out = calloc(n, sizeof(*out));
		if (!out) {
			free(v);
			return cl_live_client_set_broken(c, -ENOMEM, "out of memory");
		}
	}
	for (size_t i = 0; i < n; i++) {
		static_assert(sizeof(out[i].hostname) == sizeof(v[i].hostname), "hostname");
		static_assert(sizeof(out[i].session_name) == sizeof(v[i].session_name), "name");
		out[i].id = v[i].id;
		out[i].live_timer = v[i].live_timer;
		out[i].clients = v[i].clients;
		out[i].streams = v[i].streams;
		out[i].trace_format = v[i].trace_format == CL_LIVE_TRACE_FORMAT_CTF_1_8
					      ? CTFLIVE_TRACE_FORMAT_CTF_1_8
				      : v[i].trace_format == CL_LIVE_TRACE_FORMAT_CTF_2
					      ? CTFLIVE_TRACE_FORMAT_CTF_2
					      : CTFLIVE_TRACE_FORMAT_UNKNOWN;
		memcpy(out[i].hostname, v[i].hostname, sizeof(out[i].hostname));
		memcpy(out[i].session_name, v[i].session_name, sizeof(out[i].session_name));
	}
	free(v);
	*ret_sessions = out;
	*ret_count = n;
	return 0;
}
