/* SPDX-License-Identifier: MIT */
/*
 * The edge relay (`ctflive-relayd --from nats://…`): every relay session that
 * ingest relays publish to NATS JetStream (doc/nats.md) becomes a session of
 * this relay, with its streams and files, and is served to live viewers as
 * the relay serves its own ingest sessions.
 *
 * Two halves:
 * - the follower thread owns the NATS connection: every second it lists the
 *   ctflive JetStream streams and follows each new one whose session has not
 *   ended, with an ordered push consumer from its first message; libnats
 *   hands the messages to a queue (bounded in bytes: beyond it, the
 *   delivering thread waits, and JetStream flow control slows the server)
 *   and wakes the loop through an eventfd.
 * - the loop thread takes the queue and gives each message to the session's
 *   reader (src/nats/nats-read.h: (Ctflive-Seq, part) order, parts joined),
 *   whose callbacks do what a session daemon's control and data connections
 *   do: create the session and its first trace chunk, add and announce
 *   streams, write metadata, packets and their index entries, beacons,
 *   close streams, end the session (interrupted: as a producer that
 *   vanished). The relay's own publication path then makes them visible.
 *
 * The cache: each data stream is a ring of 4 trace files of a quarter of
 * `cache_bytes` (the relay's tracefile rotation): older packets are deleted,
 * viewers that had not read them skip them (the packet_seq_num gap tells
 * them). A session's directory is deleted once the session ended and the
 * relay let go of it (no viewer left).
 *
 * A session that receives nothing for `idle_ms` (its ingest relay died:
 * LTTng sends beacons every live timer period) ends as interrupted.
 *
 * Dependencies: main.c calls it; it calls session, chunk, stream and live
 * server functions of relay.h/live.h on the loop thread only.
 */
#ifndef CL_RELAYD_NATS_EDGE_H
#define CL_RELAYD_NATS_EDGE_H

#include <stdint.h>

struct relay;
struct cl_nats_conn_opts;

struct nats_edge_opts {
	const char *urls;     /* "nats://HOST:PORT[,HOST:PORT...]" */
	uint64_t cache_bytes; /* per data stream, bytes (>= 4 KiB) */
	int idle_ms;          /* a live session without any message this long ends */
	const char *hosts;    /* fnmatch(3) pattern of the host names served, or NULL: all */
	/* authentication and TLS (src/nats/nats-conn.h), borrowed; NULL: none */
	const struct cl_nats_conn_opts *conn;
};

#ifdef CTFLIVE_HAVE_NATS
/* Connects and starts the follower thread. 0, or -errno (logged). */
int nats_edge_start(struct relay *relay, const struct nats_edge_opts *o);
/* Idle sessions, gaps given up, directories of sessions gone (every tick). */
void nats_edge_tick(struct relay *relay);
/* Stops the thread, ends the sessions still followed (interrupted). */
void nats_edge_stop(struct relay *relay);
#else
static inline void nats_edge_tick(struct relay *relay)
{
	(void)relay;
}
static inline void nats_edge_stop(struct relay *relay)
{
	(void)relay;
}
#endif

#endif
