/* SPDX-License-Identifier: MIT */
/*
 * libctflive: producer of live traces (the consumer side of the relayd
 * protocol).
 *
 * Sends CTF packets and metadata to a relay daemon (lttng-relayd 2.13 or
 * later, ctflive-relayd) over its control and data sockets, the way
 * lttng-consumerd does, so that any live viewer (babeltrace2, ctflive view,
 * Trace Compass) can watch a trace that LTTng did not record: a recorded
 * trace replayed, a barectf or custom CTF writer, packets built in memory.
 *
 * Objects
 *   struct ctflive_producer          one relay session: a control and a data
 *                                    connection, its traces and streams.
 *   struct ctflive_producer_trace    one CTF trace of the session (a
 *                                    directory such as "ust/uid/0/64-bit" on
 *                                    the relay) with its metadata stream.
 *                                    Owned by the producer.
 *   struct ctflive_producer_stream   one data stream of a trace (a file such
 *                                    as "channel0_0"). Owned by the producer.
 *   Handles stay valid until ctflive_producer_free(), also across
 *   reconnections.
 *
 * Message order (relayd-protocol.md §9.1, what lttng-consumerd 2.13 sends):
 *   VERSION, GET_CONFIGURATION (minor >= 12), CREATE_SESSION (2.11 layout,
 *   2.15 layout with the trace format when the relay speaks 15),
 *   CREATE_TRACE_CHUNK 0, ADD_STREAM per data stream and per trace metadata
 *   stream, STREAMS_SENT at the next tick or before the first packet that
 *   follows new streams, whichever comes first (so a trace is announced
 *   with its data streams), then per packet: the packet on the data
 *   socket, pending metadata on the control socket, SEND_INDEX. At the
 *   end: the data-pending round (BEGIN_DATA_PENDING, DATA_PENDING per data
 *   stream, QUIESCENT_CONTROL per metadata stream, END_DATA_PENDING) until
 *   nothing is pending, then CLOSE_STREAM of every stream.
 *
 * Synchronization rules the producer implements
 *   - Metadata first: no byte of a packet is written on the data socket
 *     before every metadata byte given before it is written on the control
 *     socket, where its SEND_INDEX (what makes it visible to viewers) also
 *     follows the metadata; metadata is parsed before it is sent, and
 *     metadata that does not parse is refused (never sent).
 *   - New streams are announced (STREAMS_SENT) before their first packet.
 *   - Beacons: ctflive_producer_tick(), the live timer's work.
 *   - Nothing is lost silently: packets accepted by
 *     ctflive_producer_send_packet() are in flight until a DATA_PENDING
 *     round confirms that the relay has their data and index; when the
 *     connection breaks, every packet in flight is counted as lost and
 *     handed to the lost-packet callback.
 *
 * Blocking and memory
 *   Sockets are non-blocking. Each socket has one send queue of at most
 *   `queue_max` bytes; a packet that does not fit is refused with -EAGAIN
 *   (nothing queued) and the caller calls ctflive_producer_wait() and tries
 *   again, or gives up and counts it. Requests whose reply carries
 *   something the producer needs (VERSION, CREATE_SESSION, ADD_STREAM, the
 *   data-pending round) wait for it, at most `timeout_ms`; other replies
 *   (SEND_INDEX, DATA_PENDING checks) are read as they arrive. Memory is
 *   bounded by the two queues, the in-flight records (at most
 *   CTFLIVE_PRODUCER_MAX_INFLIGHT per stream) and a copy of each trace's
 *   metadata (resent in full after a reconnection; at most 64 MiB).
 *
 * Conventions
 *   - Functions return 0 or a negative errno: -EINVAL bad argument,
 *     -ECONNREFUSED/-EHOSTUNREACH/... from connect(2), -ENOTCONN not
 *     connected (the connection broke earlier: see
 *     ctflive_producer_connect()), -ECONNRESET the relay closed a
 *     connection, -ETIMEDOUT no reply in time, -EPROTO the relay refused a
 *     request or broke the protocol, -ENOTSUP protocol major other than 2,
 *     -EAGAIN a send queue or the in-flight records are full, -EBADMSG a
 *     packet or metadata that does not decode, -EMSGSIZE a truncated packet,
 *     -E2BIG a limit, -ENOMEM.
 *   - After a connection error the producer is disconnected: calls that
 *     need the relay return -ENOTCONN until ctflive_producer_connect()
 *     succeeds again. ctflive_producer_error() describes the last error.
 *   - Sizes are bytes, except index sizes (bits, as on the wire); times are
 *     cycles of the stream's CTF clock.
 *   - Not thread-safe. The library never logs and never prints.
 */
#ifndef CTFLIVE_PRODUCER_H
#define CTFLIVE_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/ctf.h"
#include "ctflive/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CTFLIVE_PRODUCER_DEFAULT_CTRL_PORT 5342
#define CTFLIVE_PRODUCER_DEFAULT_DATA_PORT 5343
/* Packets per stream sent and not yet confirmed by the relay. */
#define CTFLIVE_PRODUCER_MAX_INFLIGHT      4096

struct ctflive_producer;
struct ctflive_producer_trace;
struct ctflive_producer_stream;

struct ctflive_producer_config {
	/* net[4|6]://HOST[:CTRL_PORT[:DATA_PORT]] (lttng's --set-url syntax;
	 * the ports default to 5342 and 5343). Borrowed. */
	const char *url;
	const char *session_name; /* 1..254 bytes, no '/', not starting with '.' */
	const char *hostname;     /* NULL: this machine's host name */
	uint32_t live_timer_us;   /* 0: not a live session */
	uint32_t max_minor;       /* protocol minor to offer: 0 means 15; 11..15 */
	bool ctf2;                /* the trace is CTF 2 (needs a relay of minor >= 15) */
	size_t queue_max;         /* bytes per socket queue; 0 means 16 MiB */
	int timeout_ms;           /* reply and connect timeout; 0 means 10000 */
};

/*
 * Parses `url` (net://, net4://, net6://; HOST a name, an IPv4 address or
 * a bracketed IPv6 address) into a host (copied into `host`, `host_cap`
 * bytes) and the two ports. Errors: -EINVAL, with a static message in
 * *reterr_msg (may be NULL).
 */
CTFLIVE_API int ctflive_producer_url_parse(const char *url, char *host, size_t host_cap,
					   uint16_t *ret_ctrl_port, uint16_t *ret_data_port,
					   const char **reterr_msg);

/*
 * Checks a configuration as ctflive_producer_new() does, saying what is
 * wrong: on -EINVAL, *reterr_field names the member at fault ("url",
 * "session_name", "hostname", "max_minor") and *reterr_msg why, both
 * static strings (either pointer may be NULL). Names follow the relay's
 * rules (relayd-protocol.md §5.3): 1..254 bytes (host names 1..255), not
 * starting with '.', no '/'. Nothing is resolved or connected. 0 if the
 * configuration is usable.
 */
CTFLIVE_API int ctflive_producer_config_check(const struct ctflive_producer_config *c,
					      const char **reterr_field, const char **reterr_msg);

/* Creates a producer (nothing connected yet); the config is copied.
 * Errors: -EINVAL (bad URL, session or host name: see
 * ctflive_producer_config_check() for which and why), -ENOMEM. */
CTFLIVE_API int ctflive_producer_new(const struct ctflive_producer_config *c,
				     struct ctflive_producer **ret);

/* Closes the connections (without the data-pending round: use
 * ctflive_producer_finish() first) and frees everything; NULL-safe. */
CTFLIVE_API struct ctflive_producer *ctflive_producer_free(struct ctflive_producer *p);

/*
 * Connects both sockets, negotiates the version (offers max_minor, uses
 * min(offered, relay's); a relay major other than 2 is -ENOTSUP; minor
 * below 11 is -ENOTSUP), creates the relay session and its first trace
 * chunk. On a reconnection (after a connection error) it also re-adds every
 * trace and stream that is not closed, with new relay handles and
 * net_seq_num restarting at 0, and resends each trace's whole metadata: the
 * relay starts a new session directory. Blocks at most about 3 ×
 * timeout_ms.
 */
CTFLIVE_API int ctflive_producer_connect(struct ctflive_producer *p);

/* True while both connections are up. */
CTFLIVE_API bool ctflive_producer_is_connected(const struct ctflive_producer *p);

/*
 * Adds a trace at relay path `pathname` (e.g. "ust/uid/1000/64-bit";
 * 1..254 bytes, no ".." component, relative) and its metadata stream.
 * Errors: -EINVAL, -ENOTCONN, -EPROTO, -ETIMEDOUT, -ENOMEM.
 */
CTFLIVE_API int ctflive_producer_add_trace(struct ctflive_producer *p, const char *pathname,
					   struct ctflive_producer_trace **ret);

/*
 * Appends `len` bytes of the trace's metadata (copied): TSDL text,
 * packetized TSDL or CTF 2, as a metadata file holds it, cut anywhere. The
 * bytes are parsed first (ctflive_ctf_trace_add_metadata()); if they do not
 * parse, nothing is sent and the error is returned with *reterr (may be
 * NULL). Then they are queued on the control socket (SEND_METADATA), before
 * any later packet's index. Errors: -EBADMSG, -ENOTSUP, -E2BIG (over 64
 * MiB), -ENOTCONN (the metadata is kept and sent at the next connect),
 * -ENOMEM. Metadata is never refused for a full queue (it is bounded by
 * the 64 MiB limit).
 */
CTFLIVE_API int ctflive_producer_send_metadata(struct ctflive_producer_trace *tr, const void *data,
					       size_t len, struct ctflive_ctf_diag *reterr);

/* The trace's parsed metadata (borrowed; valid until the producer is
 * freed), e.g. to decode or frame packets before sending them. */
CTFLIVE_API struct ctflive_ctf_trace *
ctflive_producer_trace_ctf(const struct ctflive_producer_trace *tr);

/* What the header and context of one packet say (CTF 1.8 §5). */
struct ctflive_producer_packet {
	size_t size;                 /* bytes: packet_size / 8 */
	uint64_t content_bits;       /* content_size */
	uint64_t timestamp_begin;    /* cycles, 0 when absent */
	uint64_t timestamp_end;      /* cycles, 0 when absent */
	int64_t begin_ns;            /* timestamp_begin in ns from origin, INT64_MIN if none */
	int64_t end_ns;              /* timestamp_end likewise */
	uint64_t events_discarded;   /* cumulative counter, 0 when absent */
	uint64_t stream_class_id;    /* stream_id of the packet header */
	uint64_t stream_instance_id; /* UINT64_MAX when absent */
	uint64_t packet_seq_num;     /* UINT64_MAX when absent */
};

/*
 * Frames the packet that starts at `data` (`len` bytes available, borrowed)
 * with the metadata of `tr` received so far, as send_packet() does,
 * without sending anything: to find packet boundaries in a file or a pipe.
 * Errors: -EMSGSIZE (the packet, or its header, is longer than `len`: read
 * more), -EBADMSG (bad magic, unknown stream class, inconsistent sizes;
 * *reterr has the message), -EINVAL.
 */
CTFLIVE_API int ctflive_producer_packet_info(struct ctflive_producer_trace *tr, const void *data,
					     size_t len, struct ctflive_producer_packet *ret,
					     struct ctflive_ctf_diag *reterr);

/*
 * Adds a data stream named `channel_name` (the file name on the relay,
 * e.g. "channel0_0"; 1..263 bytes, no '/', not "metadata") to trace `tr`.
 * It is announced to viewers (STREAMS_SENT) at the next tick or before its
 * first packet.
 * Errors: -EINVAL, -ENOTCONN, -EPROTO, -ETIMEDOUT, -ENOMEM.
 */
CTFLIVE_API int ctflive_producer_add_stream(struct ctflive_producer_trace *tr,
					    const char *channel_name,
					    struct ctflive_producer_stream **ret);

/*
 * Queues one whole CTF packet (`len` bytes, copied) of stream `st`: its
 * header and context are decoded with the trace's metadata to build the
 * index entry (packet and content size, timestamp_begin/_end,
 * events_discarded, stream class id, stream_instance_id, packet_seq_num;
 * CTF 1.8 §5, relayd-protocol.md §5.6). `len` may exceed the packet size
 * `len` must be the packet size (packet_size / 8). The packet is sent with
 * data_size = content bytes and
 * padding_size = the rest, as lttng-consumerd sends UST packets. `tag` is
 * the caller's (e.g. the packet's file offset), handed back by the
 * lost-packet callback.
 *
 * Errors: -EBADMSG (bad header or sizes; *reterr has the message and the
 * byte offset within the packet), -EMSGSIZE (len shorter than the packet
 * size claims), -EAGAIN (a queue or the stream's in-flight records are
 * full: nothing queued; call ctflive_producer_wait() and retry),
 * -ENOTCONN, -EINVAL (stream closed), -ENOMEM.
 */
CTFLIVE_API int ctflive_producer_send_packet(struct ctflive_producer_stream *st, const void *data,
					     size_t len, uint64_t tag,
					     struct ctflive_ctf_diag *reterr);

enum ctflive_producer_tick_flags {
	/* Send beacons even when nothing at all was sent since the last
	 * beacon round (no power saving). */
	CTFLIVE_PRODUCER_BEACONS_ALWAYS = 1 << 0,
	/* A beacon carries the current time of the stream's clock when it is
	 * a clock the producer can read (a clock named "monotonic",
	 * "monotonic_raw" or "realtime": clock_gettime() of the same name, in
	 * the clock's frequency, offset excluded as the tracer records it);
	 * only valid when the writer has no event older than now left to send
	 * for an idle stream. Without the flag, or for other clocks, a beacon
	 * carries the timestamp_end of the stream's last packet. */
	CTFLIVE_PRODUCER_BEACONS_CLOCK_NOW = 1 << 1,
	/* The writer is done: nothing more will come on any stream, so every
	 * stream gets a beacon up to the last packet end of its trace (as the
	 * empty packets a tracer flushes when it stops); ctflive_producer_finish()
	 * sends the same beacons. */
	CTFLIVE_PRODUCER_BEACONS_END = 1 << 2,
};

/*
 * The live timer's work (relayd-protocol.md §7.1-7.2), to be called every
 * live_timer_us. Sends a beacon (SEND_INDEX with packet_size 0 and only
 * timestamp_end) for each open data stream that has sent at least one
 * packet and none since the previous tick. Power saving (the design's
 * point 1): when no stream at all has sent anything since the last beacon
 * round, the whole round is skipped unless CTFLIVE_PRODUCER_BEACONS_ALWAYS.
 * Also announces the streams added since the last tick (STREAMS_SENT), so
 * viewers see them before their first packet, and asks the relay which
 * in-flight packets it has (DATA_PENDING). Returns
 * the number of beacons sent, or -ENOTCONN / -EAGAIN (queue full: the round
 * is skipped and counted).
 */
CTFLIVE_API int ctflive_producer_tick(struct ctflive_producer *p, unsigned flags);

/*
 * Writes what the send queues hold and reads the replies that arrived,
 * waiting up to `timeout_ms` (0: do not wait; -1: until both queues are
 * empty and every reply arrived). Returns 0 when the queues are empty and
 * no reply is expected, -EAGAIN when the time ran out first, or a connection
 * error.
 */
CTFLIVE_API int ctflive_producer_wait(struct ctflive_producer *p, int timeout_ms);

/* The two descriptors to poll (control, data) and the events to wait for
 * (POLLOUT when a queue holds bytes, POLLIN when a reply is expected); -1
 * when disconnected. Call ctflive_producer_wait(p, 0) when one is ready. */
CTFLIVE_API void ctflive_producer_poll_fds(const struct ctflive_producer *p, int ret_fd[2],
					   short ret_events[2]);

/* Closes a data stream: waits (at most timeout_ms, polling DATA_PENDING
 * every 50 ms) until the relay has every packet of the stream, then sends
 * CLOSE_STREAM with its last net_seq_num (relayd-protocol.md §5.7).
 * Errors: -ENOTCONN (the stream is closed locally all the same),
 * -ETIMEDOUT, -EPROTO, -EINVAL (already closed). */
CTFLIVE_API int ctflive_producer_close_stream(struct ctflive_producer_stream *st);

/*
 * Ends the session as a consumer does at `lttng destroy`: flushes the
 * queues, runs data-pending rounds (every 200 ms) until the relay has
 * every packet sent, at most `timeout_ms` in all, then closes every stream
 * (metadata streams first) and both connections. In-flight packets
 * confirmed by the round are no longer counted as in flight; what is still
 * unconfirmed when the time runs out is counted as lost. Returns 0, or
 * -ETIMEDOUT / a connection error (losses then counted).
 */
CTFLIVE_API int ctflive_producer_finish(struct ctflive_producer *p, int timeout_ms);

/*
 * Ends the session as one that was cut short (a replay stopped before its
 * end): like ctflive_producer_finish(), final beacons and data-pending
 * rounds until the relay has every packet sent (at most `timeout_ms`, in
 * ms), then both connections close *without* CLOSE_STREAM. A relay takes
 * streams still open at the end of the control connection for a consumer
 * * that went away: it keeps every packet it
 * received and indexed, and ctflive-relayd marks the session
 * "interrupted" (doc/file-formats.md §4) instead of "complete"; its live
 * viewers get every published packet, then the end of each stream.
 * Returns 0, -EINVAL (p NULL), -ENOTCONN, or -ETIMEDOUT / a connection
 * error (losses then counted, as for ctflive_producer_finish()).
 */
CTFLIVE_API int ctflive_producer_abandon(struct ctflive_producer *p, int timeout_ms);

/* Called once per packet that was accepted and will not reach the relay
 * (connection lost before the relay confirmed it): its stream and tag. */
typedef void (*ctflive_producer_lost_fn)(void *ctx, struct ctflive_producer_stream *st,
					 uint64_t tag);
CTFLIVE_API void ctflive_producer_set_lost_cb(struct ctflive_producer *p,
					      ctflive_producer_lost_fn fn, void *ctx);

/* Counters since ctflive_producer_new(). */
struct ctflive_producer_stats {
	uint64_t packets_sent;      /* accepted by send_packet() */
	uint64_t packets_confirmed; /* confirmed by DATA_PENDING */
	uint64_t packets_lost;      /* in flight when a connection broke */
	uint64_t packet_bytes;      /* data bytes sent, padding excluded */
	uint64_t metadata_bytes;    /* metadata bytes sent (resent ones included) */
	uint64_t beacons;           /* beacons sent */
	uint64_t beacon_rounds;     /* ticks that sent at least one beacon */
	uint64_t skipped_rounds;    /* ticks skipped by power saving */
	uint64_t refused_rounds;    /* ticks skipped because a queue was full */
	uint64_t connects;          /* successful ctflive_producer_connect() */
	uint32_t minor;             /* negotiated protocol minor (0: never) */
	uint64_t relay_session_id;  /* relay session id of the current connection */
};
CTFLIVE_API void ctflive_producer_get_stats(const struct ctflive_producer *p,
					    struct ctflive_producer_stats *ret);

/* The session directory the relay reported at the last CREATE_SESSION
 * (relative to its output directory), or "" (borrowed). */
CTFLIVE_API const char *ctflive_producer_output_path(const struct ctflive_producer *p);

/* One lowercase line describing the last error (borrowed), "" if none. */
CTFLIVE_API const char *ctflive_producer_error(const struct ctflive_producer *p);

/* The stream's channel name (borrowed) and its trace. */
CTFLIVE_API const char *ctflive_producer_stream_name(const struct ctflive_producer_stream *st);
CTFLIVE_API struct ctflive_producer_trace *
ctflive_producer_stream_trace(const struct ctflive_producer_stream *st);

#ifdef __cplusplus
}
#endif

#endif
