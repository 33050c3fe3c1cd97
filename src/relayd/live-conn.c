/* SPDX-License-Identifier: MIT */
/*
 * Viewer connections of the live server (live-protocol.md §1): accept,
 * request framing, close and collection. A request is a 16-byte header and
 * a payload whose size depends only on the command (the relay ignores the
 * header's data_size, as lttng-relayd does, §1.2); requests are read
 * without blocking and handed whole to live_dispatch() (live-server.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "live-internal.h"
#include "live.h"
#include "log.h"
#include "macro.h"

#define MAX_VIEWERS 1024
#define OUT_KEEP    (64u << 10) /* reply buffer kept between replies, bytes */

/*
 * Viewers that connect and stall must not lock the others out: until its
 * CREATE_SESSION a viewer counts against a budget of its own (sock.h,
 * sock_make_room()); one stalled mid-request, or without CONNECT, for
 * STALL_MS is closed.
 */
#define MAX_UNBOUND_VIEWERS          256
#define MAX_UNBOUND_VIEWERS_PER_ADDR 64
#define STALL_MS                     30000

static int viewer_rank(struct sock *s)
{
	const struct viewer *v = cl_container_of(s, struct viewer, sock);

	return v->has_session ? -1 : v->rx_have > 0 ? 0 : 1;
}

static const struct sock_budget viewer_budget = {
	.max_unbound = MAX_UNBOUND_VIEWERS,
	.max_unbound_per_addr = MAX_UNBOUND_VIEWERS_PER_ADDR,
	.evict_after_ms = 1000,
	.rank = viewer_rank,
};

/*
 * The largest reply buffered whole: the session list, or a GET_METADATA
 * reply when no descriptor was left to send it from the file. Packets and
 * metadata are sent from their files (sock_queue_file()), stream records
 * are encoded a piece at a time as the viewer reads (sock_queue_gen(), at
 * most SOCK_GEN_PIECE bytes a piece): neither grows the queue.
 */
#define OUT_MAX_METADATA (CL_LIVE_METADATA_REPLY_SIZE + (size_t)LIVE_MAX_METADATA_REPLY)
#define OUT_MAX_SESSIONS \
	(CL_LIVE_LIST_REPLY_SIZE + (size_t)RELAY_MAX_SESSIONS * CL_LIVE_SESSION_SIZE)
#define OUT_MAX CL_MAX(CL_MAX(OUT_MAX_METADATA, (size_t)SOCK_GEN_PIECE), OUT_MAX_SESSIONS)

int live_init(struct relay *relay)
{
	struct live *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->relay = relay;
	sock_set_init(&l->viewers, MAX_VIEWERS, "live viewers");
	cl_list_init(&l->waiting);
	l->timer.fd = -1;
	relay->live = l;
	return 0;
}

/* Reads one request (header, then the command's fixed payload); 1 when complete. */
static int receive(struct viewer *v)
{
	ssize_t n;

	if (v->rx_need == 0)
		v->rx_need = CL_LIVE_CMD_HDR_SIZE;
	n = sock_recv(&v->sock, v->rx + v->rx_have, v->rx_need - v->rx_have);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return (int)n;
	v->rx_have += (size_t)n;
	if (v->rx_have < v->rx_need)
		return 0;
	if (v->rx_need == CL_LIVE_CMD_HDR_SIZE) {
		/* The relay ignores data_size and reads a fixed payload per command (§1.2). */
		int size;

		v->cmd = cl_load_be32(v->rx + 8);
		size = cl_live_request_payload_size(v->cmd);
		if (size < 0) {
			uint8_t unk[4];

			if (!v->connected)
				return -EPROTO;
			/* Unknown command: LTTNG_ERR_UNK, then close (§1.4). */
			cl_store_be32(unk, CL_LIVE_ERR_UNK);
			(void)sock_queue(&v->sock, unk, sizeof(unk));
			return -EPROTO;
		}
		v->rx_need += (size_t)size;
		if (v->rx_have < v->rx_need)
			return 0;
	}
	return 1;
}

static void viewer_readable(struct sock *s)
{
	struct viewer *v = cl_container_of(s, struct viewer, sock);

	if (v->waiting) {
		/* Polled for the peer's hang-up only (sock_hold()). */
		if (sock_peer_gone(s))
			viewer_close(v, "viewer closed while its request was held");
		else
			sock_hold(s, 0); /* bytes wait: read after the answer */
		return;
	}
	for (int i = 0; i < 64 && !s->closed && !sock_sending(s) && !v->waiting; i++) {
		int r = receive(v);

		if (r == -EAGAIN)
			break;
		if (r < 0) {
			sock_send_now(s); /* the unknown-command reply, if any */
			viewer_close(v, r == -ECONNRESET ? "viewer closed" : "protocol error");
			return;
		}
		if (r == 0)
			continue;
		v->rx_have = v->rx_need = 0;
		if (live_dispatch(v) < 0) {
			viewer_close(v, "protocol error");
			return;
		}
	}
}

static void viewer_closed(struct sock *s, bool error, const char *why)
{
	struct viewer *v = cl_container_of(s, struct viewer, sock);

	(void)error;
	log_debug("%s: closed: %s", s->peer, why);
	live_viewer_stop_waiting(v);
	live_viewer_release(v);
}

static void viewer_free(struct sock *s)
{
	sock_release(s);
	free(cl_container_of(s, struct viewer, sock));
}

static const struct sock_ops viewer_ops = {
	.readable = viewer_readable,
	.closed = viewer_closed,
	.free = viewer_free,
};

int live_accept(struct relay *relay, int listen_fd)
{
	static uint64_t last_refusal; /* refusals logged at most once a second */
	struct live *l = relay->live;
	struct sockaddr_storage ss;
	struct viewer *v;
	char peer[64];
	uint64_t now;
	int fd, r;

	r = sock_accept(&l->viewers, listen_fd, &fd, &ss);
	if (r <= 0)
		return r;
	now = sock_now_ms();
	if (!sock_allowed(&relay->allow[2], &ss)) {
		if (now - last_refusal >= 1000) {
			sock_format_peer(&ss, "live", peer, sizeof(peer));
			log_notice("%s: refused: not in --allow-from", peer);
			last_refusal = now;
		}
		close(fd);
		return 0;
	}
	if (!sock_make_room(&l->viewers, &viewer_budget, &ss, now)) {
		if (now - last_refusal >= 1000) {
			sock_format_peer(&ss, "live", peer, sizeof(peer));
			log_warning("%s: refused: too many new viewer connections without a "
				    "session (%u per address, %u in all)",
				    peer, MAX_UNBOUND_VIEWERS_PER_ADDR, MAX_UNBOUND_VIEWERS);
			last_refusal = now;
		}
		close(fd);
		return 0;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		close(fd);
		return 0;
	}
	v->live = l;
	cl_list_init(&v->attached);
	cl_list_init(&v->streams);
	(void)snprintf(v->sock.peer, sizeof(v->sock.peer), "viewer fd %d", fd);
	v->sock.addr = ss;
	if (sock_start(&v->sock, &l->viewers, relay->loop, fd, &viewer_ops, OUT_MAX, OUT_KEEP) <
	    0) {
		free(v);
		return 0;
	}
	return 0;
}

void live_collect(struct relay *relay)
{
	static uint64_t last;
	uint64_t now = sock_now_ms();
	struct cl_list_node *n;

	if (now - last >= 1000) {
		last = now;
		cl_list_for_each (n, &relay->live->viewers.socks) {
			struct viewer *v = cl_container_of(n, struct viewer, sock.node);

			if (!v->sock.closed &&
			    ((v->rx_have > 0 && now - v->sock.last_rx_ms > STALL_MS) ||
			     (!v->connected && now - v->sock.since_ms > STALL_MS)))
				viewer_close(v, "stalled");
		}
	}
	live_answer_waiting(relay->live);
	sock_set_collect(&relay->live->viewers);
}

void live_fini(struct relay *relay)
{
	struct live *l = relay->live;

	if (!l)
		return;
	sock_set_close_all(&l->viewers, "relay shutting down");
	live_server_fini(l);
	free(l);
	relay->live = NULL;
}
