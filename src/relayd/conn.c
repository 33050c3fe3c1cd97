/* SPDX-License-Identifier: MIT */
/*
 * A control or data connection of the relayd protocol: reads what the peer
 * sends, feeds it to the receive state machine (src/proto/relayd-rx.h) and
 * routes its events: whole control messages to the command table
 * (conn-ctrl.c), packet headers to conn-data.c, metadata and packet bytes to
 * the stream's files as they arrive (never buffered whole). See conn.h.
 *
 * Reads are sized by cl_relayd_rx_want(), so one read never spans two
 * messages: the bytes read are always consumed before the next read, and a
 * connection keeps no receive buffer beyond a control payload being
 * assembled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "macro.h"

#define READ_BUDGET (4u << 20)    /* bytes per wake-up, for fairness */
#define OUT_CAP     (16u * 1024u) /* bytes: the largest reply is a path plus a few fields */

struct stream *conn_own_stream(struct conn *c, uint64_t handle)
{
	struct stream *st = stream_find(c->relay, handle);

	return st && st->session == c->session ? st : NULL;
}

/* Acts on one event of the receive state machine. */
static int write_body(struct conn *c, const uint8_t *buf, size_t n)
{
	int r = stream_write(c->stream, buf, n);

	if (r < 0)
		log_error_errno(r, "session %llu: stream %llu: cannot write",
				(unsigned long long)c->stream->session->id,
				(unsigned long long)c->stream->handle);
	return r;
}

/* Writes the body bytes kept in the read buffer (before it is reused). */
static int flush_tail(struct conn *c)
{
	const uint8_t *buf = c->tail;
	size_t n = c->tail_len;

	if (n == 0)
		return 0;
	c->tail = NULL;
	c->tail_len = 0;
	return write_body(c, buf, n);
}

static int on_rx_event(struct conn *c, const struct cl_relayd_rx_event *ev)
{
	int r;

	switch (ev->type) {
	case CL_RELAYD_RX_COMMAND:
		return ctrl_dispatch(c, &ev->hdr, ev->payload, ev->len);
	case CL_RELAYD_RX_METADATA_START:
		return ctrl_metadata_start(c, &ev->hdr);
	case CL_RELAYD_RX_METADATA:
		return ctrl_metadata_begin(c, &ev->hdr, &ev->metadata);
	case CL_RELAYD_RX_PACKET:
		return data_packet_begin(c, &ev->data_hdr);
	case CL_RELAYD_RX_BODY:
		r = flush_tail(c);
		if (r < 0)
			return r;
		if (c->kind == CONN_DATA) {
			/* Written with the padding if the packet ends in this read. */
			c->tail = ev->payload;
			c->tail_len = ev->len;
			return 0;
		}
		return write_body(c, ev->payload, ev->len);
	case CL_RELAYD_RX_BODY_END:
		return c->kind == CONN_CONTROL ? ctrl_metadata_end(c) : data_packet_end(c);
	case CL_RELAYD_RX_NONE:
	default:
		return 0;
	}
}

/* Feeds n bytes (n may be 0) and handles the events, stopping when a reply is queued. */
static int feed_events(struct conn *c, const uint8_t *buf, size_t n);

/* Feeds buf to the state machine; body bytes kept from it are written before returning. */
static int feed(struct conn *c, const uint8_t *buf, size_t n)
{
	int r = feed_events(c, buf, n);

	if (r < 0) {
		c->tail = NULL;
		c->tail_len = 0;
		return r;
	}
	return c->sock.closed ? 0 : flush_tail(c);
}

static int feed_events(struct conn *c, const uint8_t *buf, size_t n)
{
	size_t used = 0;

	for (;;) {
		struct cl_relayd_rx_event ev;
		int r = cl_relayd_rx_feed(&c->rx, buf + used, n - used, &ev);

		if (r == -E2BIG) {
			log_notice("%s: %s of %llu bytes is over the limit, closing", c->sock.peer,
				   cl_relayd_cmd_name(ev.hdr.cmd),
				   (unsigned long long)ev.hdr.data_size);
			return conn_refuse(c, r, "message over the size limit");
		}
		if (r < 0)
			return r;
		used += (size_t)r;
		if (ev.type == CL_RELAYD_RX_NONE)
			return 0;
		r = on_rx_event(c, &ev);
		if (r < 0)
			return r;
		/* Reads are sized to one message: nothing is left behind a reply. */
		if (c->sock.closed || (sock_sending(&c->sock) && used == n))
			return 0;
	}
}

/* Reads and handles one piece. Returns bytes read (> 0), 0 at EOF, -EAGAIN or -errno. */
static ssize_t receive(struct conn *c)
{
	uint64_t want = cl_relayd_rx_want(&c->rx);
	uint8_t *buf = sock_scratch();
	ssize_t n;
	int r;

	if (want == 0) {
		/* An event that needs no input is due (never left pending today). */
		r = feed(c, buf, 0);
		return r < 0 ? r : 1;
	}
	/*
	 * A control connection reads one message at a time (nothing is left
	 * behind a reply); a data connection, which never replies, reads as
	 * much as the buffer holds: many packets per read.
	 */
	if (c->kind == CONN_DATA)
		want = SOCK_SCRATCH_SIZE;
	n = sock_recv(&c->sock, buf, (size_t)CL_MIN(want, (uint64_t)SOCK_SCRATCH_SIZE));
	if (n <= 0)
		return n;
	r = feed(c, buf, (size_t)n);
	return r < 0 ? r : n;
}

static void conn_readable(struct sock *s)
{
	struct conn *c = cl_container_of(s, struct conn, sock);
	size_t budget = READ_BUDGET;

	while (budget > 0 && !s->closed) {
		ssize_t n;

		/* A reply is sent at once; if it all went, the next request is read
		 * now (a pipelining producer is not served one command per loop
		 * turn, far behind its data connection). */
		if (sock_sending(s) && !sock_try_send(s))
			break;
		n = receive(c);

		if (n == -EAGAIN)
			break;
		if (n == 0) {
			bool mid = !cl_relayd_rx_idle(&c->rx);

			sock_close(s, mid, mid ? "peer vanished mid-message" : "peer closed");
			return;
		}
		if (n < 0) {
			sock_close(s, true, c->refused ? c->refused : strerror((int)-n));
			return;
		}
		budget -= CL_MIN((size_t)n, budget);
	}
}

static void conn_closed(struct sock *s, bool error, const char *why)
{
	struct conn *c = cl_container_of(s, struct conn, sock);

	if (error)
		log_notice("%s: connection closed: %s", s->peer, why);
	else
		log_debug("%s: connection closed: %s", s->peer, why);
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

static void conn_free(struct sock *s)
{
	struct conn *c = cl_container_of(s, struct conn, sock);

	cl_relayd_rx_release(&c->rx);
	sock_release(s);
	free(c);
}

static const struct sock_ops conn_ops = {
	.readable = conn_readable,
	.closed = conn_closed,
	.free = conn_free,
};

int conn_accept(struct relay *relay, int listen_fd, enum conn_kind kind)
{
	struct sockaddr_storage ss;
	struct conn *c;
	int fd, r;

	r = sock_accept(&relay->conns, listen_fd, &fd, &ss);
	if (r <= 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return 0;
	}
	sock_format_peer(&ss, kind == CONN_CONTROL ? "control" : "data", c->sock.peer,
			 sizeof(c->sock.peer));
	c->relay = relay;
	c->kind = kind;
	cl_relayd_rx_init(&c->rx, kind == CONN_CONTROL ? CL_RELAYD_RX_CONTROL : CL_RELAYD_RX_DATA,
			  ctrl_max_payload, NULL);
	if (sock_start(&c->sock, &relay->conns, relay->loop, fd, &conn_ops, OUT_CAP, SIZE_MAX) <
	    0) {
		free(c);
		return 0;
	}
	log_debug("%s: connected", c->sock.peer);
	return 0;
}

void conn_collect(struct relay *relay)
{
	sock_set_collect(&relay->conns);
}

void conn_close_all(struct relay *relay)
{
	/* Sessions still being written when the relay stops are interrupted. */
	sock_set_close_all(&relay->conns, "relay shutting down");
}
