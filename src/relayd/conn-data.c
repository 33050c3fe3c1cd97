/* SPDX-License-Identifier: MIT */
/*
 * The data socket of the relayd protocol (relayd-protocol.md §2.3): each
 * message is a header naming a stream, then the packet's bytes, which
 * conn.c streams to the stream's tracefile as they arrive. A data
 * connection is bound to the session of the first stream it carries.
 */
#include <errno.h>
#include <string.h>

#include "conn.h"
#include "log.h"

int data_packet_begin(struct conn *c, const struct cl_relayd_data_hdr *dh)
{
	struct stream *st;
	uint64_t total;
	int r;

	st = stream_find(c->relay, dh->stream_id);
	if (!st) {
		log_notice("%s: data for unknown or closed stream %llu, closing", c->sock.peer,
			   (unsigned long long)dh->stream_id);
		return -EPROTO;
	}
	if (c->session && st->session != c->session) {
		log_notice("%s: data for stream %llu of another session, closing", c->sock.peer,
			   (unsigned long long)dh->stream_id);
		return -EPROTO;
	}
	total = (uint64_t)dh->data_size + dh->padding_size;
	if (total > c->relay->max_packet) {
		/* The padding costs the peer nothing to send: refused before a
		 * byte is written. The data socket has no replies: closing it is
		 * the error this producer sees (its session ends interrupted). */
		log_warning("%s: packet %llu of stream %llu: %u data + %u padding bytes is over "
			    "--max-packet-size %llu, closing",
			    c->sock.peer, (unsigned long long)dh->net_seq_num,
			    (unsigned long long)dh->stream_id, dh->data_size, dh->padding_size,
			    (unsigned long long)c->relay->max_packet);
		return conn_refuse(c, -E2BIG, "packet over --max-packet-size");
	}
	if (!c->session) {
		c->session = st->session;
		c->session->data_conns++;
	}
	r = stream_begin_packet(c->relay, st, dh->net_seq_num, dh->data_size, dh->padding_size);
	if (r < 0) {
		log_notice("%s: stream %llu refuses packet %llu: %s", c->sock.peer,
			   (unsigned long long)st->handle, (unsigned long long)dh->net_seq_num,
			   strerror(-r));
		return r;
	}
	c->stream = st;
	c->net_seq_num = dh->net_seq_num;
	c->padding = dh->padding_size;
	return 0;
}

int data_packet_end(struct conn *c)
{
	struct stream *st = c->stream;

	const uint8_t *tail = c->tail;
	size_t tail_len = c->tail_len;

	c->stream = NULL;
	c->tail = NULL;
	c->tail_len = 0;
	return stream_end_packet(c->relay, st, c->net_seq_num, tail, tail_len, c->padding);
}
