/* SPDX-License-Identifier: MIT */
/*
 * Publishing to NATS JetStream (`ctflive-relayd --publish`): everything the
 * relay has published locally (durable, see publish.h) is also published to
 * JetStream, one JetStream stream per relay session. Subjects, headers and
 * payloads are the public contract of doc/nats.md.
 *
 * Two halves:
 * - the loop thread: nats_pub_session() runs after publish_commit() moved
 *   what viewers may read; it reads what became visible since the last call
 *   (index entries, packets, metadata) from the relay's files (pread) and
 *   queues one message each. nats_pub_tick() sends beacons, stream closes,
 *   hang-ups and session ends, and reports what could not be published.
 *   The queue is bounded in bytes: when it is full, messages are dropped and
 *   counted, never waited for, so ingest never blocks on NATS.
 * - the publisher thread owns the NATS connection: it creates the JetStream
 *   streams and publishes the queued messages, in order, asynchronously with
 *   acknowledgements; packets larger than the server's payload limit are
 *   split in parts. Failed and unacknowledged messages are counted.
 *
 * Dependencies: called by publish.c (nats_pub_session) and main.c; reads
 * sessions and streams (relay.h), never changes them.
 */
#ifndef CL_RELAYD_NATS_PUB_H
#define CL_RELAYD_NATS_PUB_H

#include <stdint.h>

struct relay;
struct session;
struct cl_nats_conn_opts;

struct nats_pub_opts {
	const char *urls; /* "nats://HOST:PORT[,nats://...]" */
	/* authentication and TLS (src/nats/nats-conn.h), borrowed; NULL: none */
	const struct cl_nats_conn_opts *conn;
	const char *relay_id; /* this relay's id in subjects; NULL: hostname-starttime */
	int replicas;         /* JetStream stream replicas, 1 to 5 */
	int64_t retain_age;   /* seconds, 0 = unlimited */
	int64_t retain_bytes; /* bytes per session, 0 = unlimited */
	uint64_t queue_bytes; /* bound of the queue to the publisher thread */
};

#ifdef CTFLIVE_HAVE_NATS
/* Starts the publisher thread (the connection is made in the background). 0 or -errno. */
int nats_pub_start(struct relay *relay, const struct nats_pub_opts *o);
/*
 * Publishes to NATS what became visible to viewers in `s` since the last
 * call: metadata first, then index entries and their packets. No-op without
 * --publish.
 */
void nats_pub_session(struct session *s);
/* Beacons, stream closes, hang-ups, session ends; reports failures (every tick). */
void nats_pub_tick(struct relay *relay);
/*
 * Announces new sessions (their "session" message: listed at once, packets
 * or not) and notes hang-ups and aborts of sessions (before each loop sleep, ahead of
 * relay_collect(), which may free them): their end says whether they were
 * interrupted.
 */
void nats_pub_observe(struct relay *relay);
/* Ends the sessions still known, flushes for at most a few seconds, stops. */
void nats_pub_stop(struct relay *relay);
#else
static inline void nats_pub_session(struct session *s)
{
	(void)s;
}
static inline void nats_pub_tick(struct relay *relay)
{
	(void)relay;
}
static inline void nats_pub_observe(struct relay *relay)
{
	(void)relay;
}
static inline void nats_pub_stop(struct relay *relay)
{
	(void)relay;
}
#endif

#endif
