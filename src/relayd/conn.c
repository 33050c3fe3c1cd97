/* SPDX-License-Identifier: MIT */
/*
 * A control or data connection of the relayd protocol: reads what the peer
 * sends, feeds it to the receive state machine (src/proto/relayd-rx.h) and
 * routes its events: whole control messages to the command table
 * (conn-ctrl.c), packet headers to conn-data.c, metadata and packet bytes to
 * the stream's files as they arrive (never buffered whole). See conn.h.
 *
 * Both sockets are read in large pieces, many messages per recv(): a data
 * connection up to the scratch buffer (its bytes are always consumed before
 * the read returns), a control connection up to CTRL_READ bytes, whose
 * requests are all handled and their replies sent with one send(). When
 * the replies fill the send queue, the requests left are kept (c->in) and
 * handled once the queue is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "macro.h"

#define READ_BUDGET (4u << 20) /* data bytes per wake-up, for fairness */
/* Control bytes handled per wake-up (read or kept): a control connection
 * pipelining small requests costs far more per byte than packet data. */
#define CTRL_BUDGET (64u * 1024u)
#define OUT_CAP     (16u * 1024u) /* bytes: the largest reply is a path plus a few fields */
#define OUT_BATCH   (OUT_CAP / 2) /* queued reply bytes after which requests wait */
#define CTRL_READ   (64u * 1024u) /* bytes per control read: many pipelined requests */

/*
 * Peers that hold connections without using them must not lock producers
 * out. A connection without a session ("unbound": a control connection
 * before CREATE_SESSION, a data connection before its first packet) counts
 * against a budget of its own, overall and per peer address; when a new
 * connection finds it full, the oldest unbound connection (at least
 * EVICT_AFTER_MS old) is closed to make room: a real producer binds its
 * connections within milliseconds. A data connection may legitimately stay
 * silent (no packet yet), so only the budget applies to it; a control
 * connection gets HANDSHAKE_MS to create its session, and any connection
 * stalled in the middle of a message for STALL_MS is closed.
 */
#define MAX_UNBOUND          256
#define MAX_UNBOUND_PER_ADDR 64
#define EVICT_AFTER_MS       1000
#define HANDSHAKE_MS         30000
#define STALL_MS             30000

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

/* Feeds n bytes (n may be 0) and handles the events; returns the bytes consumed. */
static int feed_events(struct conn *c, const uint8_t *buf, size_t n);

/* Feeds buf to the state machine; body bytes kept from it are written before
 * returning. Returns the bytes consumed or -errno. */
static int feed(struct conn *c, const uint8_t *buf, size_t n)
{
	int used = feed_events(c, buf, n), r = 0, f;

	if (used < 0) {
		c->tail = NULL;
		c->tail_len = 0;
	} else if (!c->sock.closed) {
		r = flush_tail(c);
	}
	/* The batched writes borrow from buf: done before it is reused. */
	f = stream_flush_all(c->relay);
	if (f < 0)
		c->write_failed = true; /* replies already queued may promise it */
	if (used < 0)
		return used;
	if (r == 0 && f < 0 && !c->sock.closed)
		r = f;
	return r < 0 ? r : used;
}

/* A control connection stops taking requests while its replies wait. */
static bool replies_full(const struct conn *c)
{
	return c->sock.close_after_send || c->sock.out.len - c->sock.out_off > OUT_BATCH;
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
			return (int)used;
		r = on_rx_event(c, &ev);
		if (r < 0)
			return r;
		if (c->sock.closed || (c->kind == CONN_CONTROL && replies_full(c)))
			return (int)used;
	}
}

/* Handles the kept control requests. Returns the bytes handled (> 0) or -errno. */
static ssize_t receive_kept(struct conn *c)
{
	int r = feed(c, c->in.data + c->in_off, c->in.len - c->in_off);

	if (r < 0)
		return r;
	c->in_off += (size_t)r;
	if (c->in_off == c->in.len) {
		c->in_off = 0;
		cl_buf_free(&c->in);
	}
	c->sock.input_pending = c->in_off < c->in.len;
	return r > 0 ? r : 1;
}

/* Reads and handles one piece. Returns bytes read (> 0), 0 at EOF, -EAGAIN or -errno. */
static ssize_t receive(struct conn *c)
{
	uint64_t want = cl_relayd_rx_want(&c->rx);
	uint8_t *buf = sock_scratch();
	ssize_t n;
	int r;

	if (c->in_off < c->in.len)
		return receive_kept(c);
	if (want == 0) {
		/* An event that needs no input is due (never left pending today). */
		r = feed(c, buf, 0);
		return r < 0 ? r : 1;
	}
	n = sock_recv(&c->sock, buf, c->kind == CONN_DATA ? SOCK_SCRATCH_SIZE : CTRL_READ);
	if (n <= 0)
		return n;
	r = feed(c, buf, (size_t)n);
	if (r < 0)
		return r;
	if ((size_t)r < (size_t)n && !c->sock.closed) {
		/* Requests behind replies that filled the queue: kept for later. */
		if (cl_buf_append(&c->in, buf + r, (size_t)n - (size_t)r) < 0)
			return -ENOMEM;
		c->sock.input_pending = true;
	}
	return n;
}

static void conn_readable(struct sock *s)
{
	struct conn *c = cl_container_of(s, struct conn, sock);
	size_t budget = c->kind == CONN_DATA ? READ_BUDGET : CTRL_BUDGET;

	/* Requests kept when the budget runs out are handled on the loop's
	 * next turn (input_pending: sock.c runs this again). */
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
			/* Replies to the requests before the bad one still go,
			 * unless a write they count on failed. */
			if (!c->write_failed)
				sock_send_now(s);
			c->close_error = (int)n;
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
	if (error && c->close_error < 0 && !c->session->close_error)
		c->session->close_error = c->close_error;
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
	cl_buf_free(&c->in);
	sock_release(s);
	free(c);
}

static const struct sock_ops conn_ops = {
	.readable = conn_readable,
	.closed = conn_closed,
	.free = conn_free,
};

/* Unbound connections: stalled mid-message first, then control connections
 * without a session, then silent data connections; bound: -1. */
static int conn_rank(struct sock *s)
{
	const struct conn *c = cl_container_of(s, struct conn, sock);

	if (c->session)
		return -1;
	return !cl_relayd_rx_idle(&c->rx) ? 0 : c->kind == CONN_CONTROL ? 1 : 2;
}

static const struct sock_budget budget = {
	.max_unbound = MAX_UNBOUND,
	.max_unbound_per_addr = MAX_UNBOUND_PER_ADDR,
	.evict_after_ms = EVICT_AFTER_MS,
	.rank = conn_rank,
};

/* Closes control connections that never created a session, and connections
 * stalled in the middle of a message. At most once a second. */
static void sweep(struct relay *relay, uint64_t now)
{
	static uint64_t last;
	struct cl_list_node *n;

	if (now - last < 1000)
		return;
	last = now;
	cl_list_for_each (n, &relay->conns.socks) {
		struct conn *c = cl_container_of(n, struct conn, sock.node);

		if (c->sock.closed)
			continue;
		if (c->kind == CONN_CONTROL && !c->session && now - c->sock.since_ms > HANDSHAKE_MS)
			sock_close(&c->sock, true, "no session created in time");
		else if (!cl_relayd_rx_idle(&c->rx) && now - c->sock.last_rx_ms > STALL_MS)
			sock_close(&c->sock, true, "stalled in the middle of a message");
	}
}

int conn_accept(struct relay *relay, int listen_fd, enum conn_kind kind)
{
	static uint64_t last_refusal;
	struct sockaddr_storage ss;
	uint64_t now;
	struct conn *c;
	int fd, r;

	r = sock_accept(&relay->conns, listen_fd, &fd, &ss);
	if (r <= 0)
		return r;
	now = sock_now_ms();
	if (!sock_allowed(&relay->allow[kind == CONN_CONTROL ? 0 : 1], &ss)) {
		char peer[64];

		if (now - last_refusal >= 1000) {
			sock_format_peer(&ss, kind == CONN_CONTROL ? "control" : "data", peer,
					 sizeof(peer));
			log_notice("%s: refused: not in --allow-from", peer);
			last_refusal = now;
		}
		close(fd);
		return 0;
	}
	if (!sock_make_room(&relay->conns, &budget, &ss, now)) {
		char peer[64];

		if (now - last_refusal >= 1000) {
			sock_format_peer(&ss, kind == CONN_CONTROL ? "control" : "data", peer,
					 sizeof(peer));
			log_warning("%s: refused: too many new connections without a session "
				    "(%u per address, %u in all)",
				    peer, MAX_UNBOUND_PER_ADDR, MAX_UNBOUND);
			last_refusal = now;
		}
		close(fd);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return 0;
	}
	c->sock.addr = ss;
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

/* Closes the data connections of sessions whose sync failed (their control
 * connections get an error reply to their next command, then close). */
static void close_stopped(struct relay *relay)
{
	struct cl_list_node *n;

	relay->sessions_stopped = false;
	cl_list_for_each (n, &relay->conns.socks) {
		struct conn *c = cl_container_of(n, struct conn, sock.node);

		if (c->kind == CONN_DATA && !c->sock.closed && c->session && c->session->sync_error)
			sock_close(&c->sock, true, "its session stopped (sync failure)");
	}
}

void conn_collect(struct relay *relay)
{
	/* Batches are flushed at the end of each read; this is a safety net for
	 * entries queued by closes outside a read. */
	(void)stream_flush_all(relay);
	if (relay->sessions_stopped)
		close_stopped(relay);
	sweep(relay, sock_now_ms());
	sock_set_collect(&relay->conns);
}

void conn_close_all(struct relay *relay)
{
	/* Sessions still being written when the relay stops are interrupted. */
	sock_set_close_all(&relay->conns, "relay shutting down");
}
