/* SPDX-License-Identifier: MIT */
/*
 * libctflive: LTTng live viewer client.
 *
 * Reads traces from a relay daemon (lttng-relayd 2.13, ctflive-relayd) over
 * the LTTng live protocol while they are being recorded.
 *
 * Two layers:
 *
 *   struct ctflive_live_client  one TCP connection to a relay's live port.
 *       Lists sessions, attaches to every relay session matching a host name
 *       and a session name, and turns the protocol into a queue of *items*:
 *       metadata bytes to append to a trace, new data streams, packets with
 *       their index entry, inactivity beacons, stream and session ends. It
 *       never decodes CTF, never sleeps and never logs.
 *
 *   struct ctflive_live_view    a client plus the CTF decoder (ctflive/ctf.h):
 *       decodes every data stream and merges their messages by time, using
 *       inactivity beacons to move past idle streams, like babeltrace2's
 *       src.ctf.lttng-live, through the merger of ctflive/merge.h (each
 *       stream an input: ready, idle up to its beacon, blocked, ended).
 *       Returns one message at a time, or -EAGAIN when nothing can be
 *       emitted yet (the caller waits a little, typically 100 ms, and calls
 *       again). An event older than one already returned is an error,
 *       -EBADMSG, as in babeltrace2's lttng-live source.
 *
 * Conventions
 *   - Functions return 0 (or a documented positive value) or a negative
 *     errno: -EINVAL bad argument, -ECONNREFUSED/-EHOSTUNREACH/... from
 *     connect(2), -ECONNRESET the relay closed the connection, -ETIMEDOUT the
 *     relay did not answer in time, -EPROTO the relay broke the protocol or
 *     reported an error, -ENOTSUP incompatible protocol version, -ENOENT no
 *     such session, -EBUSY another viewer is attached, -E2BIG a limit was hit,
 *     -ENOMEM.
 *   - After any error other than -EINVAL and -EAGAIN, a client is broken:
 *     every further call returns the same error. ctflive_live_client_error()
 *     describes it in one lowercase line for the user.
 *   - `ret*` outputs are written only on success.
 *   - Sizes are bytes, index sizes (packet_size, content_size) are bits as on
 *     the wire; timestamps are clock cycles of the stream's CTF clock.
 *   - Every length received from the relay is checked before use (fixed-size
 *     replies, counts, metadata and packet sizes are bounded).
 *   - Not thread-safe; sockets are blocking with a timeout.
 *
 * Protocol version: the client announces 2.15, as babeltrace2 2.1 does, and
 * uses min(its minor, the relay's), as both sides do. Relays below 15
 * (lttng-relayd 2.4 to 2.14, a ctflive-relayd announcing 13) then send the
 * fixed 339-byte session records of 2.4 and carry CTF 1.8 only; relays of
 * 2.15 and later send variable-length records with each session's trace
 * format and also list CTF 2 sessions (lttng-tools 2.15
 * `lttng_viewer_session_2_15`). Nothing else in the protocol differs.
 */
#ifndef CTFLIVE_LIVE_H
#define CTFLIVE_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CTFLIVE_LIVE_DEFAULT_PORT 5344

/* Largest packet accepted from a relay (bytes); bigger indexes are -E2BIG. */
#define CTFLIVE_LIVE_MAX_PACKET   (256u * 1024 * 1024)
/* Largest metadata accepted per trace (bytes). */
#define CTFLIVE_LIVE_MAX_METADATA (64u * 1024 * 1024)

/* ---------------------------------------------------------------------- */
/* URLs                                                                    */
/* ---------------------------------------------------------------------- */

/*
 * net[4|6]://RELAYHOST[:PORT][/host/TARGETHOST/SESSION], as babeltrace2
 * accepts it. RELAYHOST may be a bracketed IPv6 address ([::1]).
 */
struct ctflive_live_url {
	char relay_host[256];
	uint16_t port; /* CTFLIVE_LIVE_DEFAULT_PORT when absent */
	int family;    /* AF_UNSPEC (net://), AF_INET (net4://), AF_INET6 (net6://) */
	bool has_session;
	char target_host[256]; /* host name of the traced machine, as listed */
	char session_name[256];
};

/*
 * Parses `url`. Errors: -EINVAL, and *reterr_msg (may be NULL) points at a
 * static description ("missing port", ...).
 */
CTFLIVE_API int ctflive_live_url_parse(const char *url, struct ctflive_live_url *ret,
				       const char **reterr_msg);

/*
 * Parses a URL naming several relays that serve the same session (edge
 * relays of one NATS JetStream, or one relay reached by several addresses):
 * net[4|6]://RELAY1[:PORT1][,RELAY2[:PORT2]...][/host/TARGETHOST/SESSION].
 * Each relay takes the protocol and the path of the URL; a URL without ','
 * gives one relay, as ctflive_live_url_parse(). *ret is a malloc'd array of
 * *ret_n (>= 1) URLs that the caller frees with free(). Errors: -EINVAL
 * (*reterr_msg, may be NULL, as ctflive_live_url_parse() says, for the first
 * relay that does not parse), -ENOMEM.
 */
CTFLIVE_API int ctflive_live_url_parse_list(const char *url, struct ctflive_live_url **ret,
					    size_t *ret_n, const char **reterr_msg);

/* ---------------------------------------------------------------------- */
/* Client                                                                  */
/* ---------------------------------------------------------------------- */

struct ctflive_live_client;

/*
 * Connects to `host`:`port` (family as in struct ctflive_live_url, AF_UNSPEC
 * tries every address) and performs the CONNECT handshake. `timeout_ms`
 * bounds every later wait for the relay (connect, each send and receive);
 * <= 0 selects 30 s. On failure *ret_client is untouched and, if
 * reterr_msg is not NULL, a description is written into it (reterr_len
 * bytes, NUL-terminated).
 */
CTFLIVE_API int ctflive_live_client_connect(const char *host, uint16_t port, int family,
					    int timeout_ms, struct ctflive_live_client **ret_client,
					    char *reterr_msg, size_t reterr_len);

/*
 * Detaches from attached sessions (best effort, skipped when the connection
 * is broken), closes the connection and frees everything. NULL-safe;
 * returns NULL.
 */
CTFLIVE_API struct ctflive_live_client *ctflive_live_client_free(struct ctflive_live_client *c);

/* Description of the last error, "" if none. Borrowed from c. */
CTFLIVE_API const char *ctflive_live_client_error(const struct ctflive_live_client *c);

/* Relay and negotiated protocol versions, after connect. */
CTFLIVE_API void ctflive_live_client_version(const struct ctflive_live_client *c,
					     uint32_t *ret_major, uint32_t *ret_minor);

/* Trace format of a session (numbered here, not as on either wire). */
enum ctflive_trace_format {
	CTFLIVE_TRACE_FORMAT_UNKNOWN = 0, /* a value this library does not know */
	CTFLIVE_TRACE_FORMAT_CTF_1_8 = 1,
	CTFLIVE_TRACE_FORMAT_CTF_2 = 2,
};

/* One relay session, as listed. */
struct ctflive_live_session_info {
	uint64_t id;         /* relay session id */
	uint32_t live_timer; /* µs; 0: not a live session */
	uint32_t clients;    /* viewers attached */
	uint32_t streams;    /* relay streams */
	char hostname[64];   /* traced host */
	char session_name[255];
	/* CTF_1_8 from relays below protocol 2.15, which list no other */
	enum ctflive_trace_format trace_format;
};

/*
 * LIST_SESSIONS. *ret_sessions is a malloc'd array of *ret_count entries
 * (NULL when 0) that the caller frees with free().
 */
CTFLIVE_API int ctflive_live_client_list(struct ctflive_live_client *c,
					 struct ctflive_live_session_info **ret_sessions,
					 size_t *ret_count);

enum ctflive_live_seek {
	CTFLIVE_LIVE_SEEK_BEGINNING = 1, /* everything the relay still has */
	CTFLIVE_LIVE_SEEK_LAST = 2,      /* only packets arriving after the attach */
};

/*
 * Creates a viewer session (once per client) and attaches every relay
 * session whose host name and session name equal `hostname` and
 * `session_name` (one per tracing domain / ABI), with `seek`. Streams of
 * these sessions then arrive as items. Returns the number of sessions
 * attached (> 0). Errors: -ENOENT no such session, -EBUSY another viewer is
 * attached, -EPROTO (not a live session, relay error), connection errors.
 * Data streams discovered later (GET_NEW_STREAMS) start at their beginning
 * whatever `seek` is (relay behaviour).
 */
CTFLIVE_API int ctflive_live_client_attach(struct ctflive_live_client *c, const char *hostname,
					   const char *session_name, enum ctflive_live_seek seek);

/* ---- Items ----------------------------------------------------------- */

enum ctflive_live_item_type {
	/* Bytes to append to the metadata of trace `trace_id` (in order);
	 * `path_name` is the trace's path as its stream records give it. */
	CTFLIVE_LIVE_ITEM_METADATA = 1,
	/* A data stream: `stream_id`, `trace_id`, `path_name`, `channel_name`. */
	CTFLIVE_LIVE_ITEM_STREAM,
	/* A whole packet of `stream_id` (data, len = index.packet_size / 8). */
	CTFLIVE_LIVE_ITEM_PACKET,
	/* `stream_id` has no data up to index.timestamp_end (a beacon). */
	CTFLIVE_LIVE_ITEM_INACTIVE,
	/* `stream_id` has nothing new yet; ask again later. */
	CTFLIVE_LIVE_ITEM_RETRY,
	/* `stream_id` ended (all its packets were delivered). */
	CTFLIVE_LIVE_ITEM_STREAM_END,
	/* Relay session `session_id` ended (no stream will come any more). */
	CTFLIVE_LIVE_ITEM_SESSION_END,
	/* Every attached session ended. Always the last item. */
	CTFLIVE_LIVE_ITEM_END,
};

/* An index entry as sent by the relay (GET_NEXT_INDEX). */
struct ctflive_live_index {
	uint64_t offset;           /* bytes, in the relay's data file */
	uint64_t packet_size;      /* bits, padding included */
	uint64_t content_size;     /* bits */
	uint64_t timestamp_begin;  /* cycles */
	uint64_t timestamp_end;    /* cycles; for INACTIVE: the beacon time */
	uint64_t events_discarded; /* cumulative */
	uint64_t stream_class_id;  /* CTF stream class id */
};

/*
 * One item. Pointers are borrowed from the client and valid until the next
 * call on the client.
 */
struct ctflive_live_item {
	enum ctflive_live_item_type type;
	uint64_t session_id;   /* relay session id */
	uint64_t trace_id;     /* relay CTF trace id: groups a metadata stream and data streams */
	uint64_t stream_id;    /* viewer stream id */
	const char *path_name; /* STREAM: e.g. "ust/uid/1000/64-bit" */
	const char *channel_name; /* STREAM: e.g. "channel0_0" */
	struct ctflive_live_index
		index;       /* PACKET (all), INACTIVE (timestamp_end, stream_class_id) */
	const uint8_t *data; /* METADATA, PACKET */
	size_t len;
};

/*
 * Pops the next queued item. Returns 0, or -EAGAIN when the queue is empty
 * (call ctflive_live_client_request_index() or _refresh() to fill it).
 */
CTFLIVE_API int ctflive_live_client_next_item(struct ctflive_live_client *c,
					      struct ctflive_live_item *ret);

/*
 * Asks the relay for the next index of data stream `stream_id` and queues
 * what follows: first metadata and new streams if the reply's flags ask for
 * them, then exactly one of PACKET (the packet is fetched, in pieces of at
 * most 256 KiB), INACTIVE, RETRY, or STREAM_END. -EINVAL if the stream is
 * unknown or already ended.
 */
CTFLIVE_API int ctflive_live_client_request_index(struct ctflive_live_client *c,
						  uint64_t stream_id);

/*
 * Asks every attached, not yet ended session for new streams
 * (GET_NEW_STREAMS) and every trace that needs it for metadata; queues
 * METADATA, STREAM, SESSION_END, and END once every session ended.
 * A viewer calls it while it has no live stream, and now and then anyway:
 * lttng-relayd 2.13.9 announces new streams only on index replies carrying
 * data, so a viewer whose streams are all idle would never see a new
 * application otherwise (lttng bug #1406).
 */
CTFLIVE_API int ctflive_live_client_refresh(struct ctflive_live_client *c);

/* ---------------------------------------------------------------------- */
/* View: decoding and merging (needs the CTF decoder, ctflive/ctf.h)       */
/* ---------------------------------------------------------------------- */

struct ctflive_live_view;
struct ctflive_ctf_stream;
struct ctflive_ctf_msg;

/*
 * Creates a view reading from `c` (taken: freed with the view, even on
 * error), which must be attached.
 */
CTFLIVE_API int ctflive_live_view_new(struct ctflive_live_client *c,
				      struct ctflive_live_view **ret);
CTFLIVE_API struct ctflive_live_view *ctflive_live_view_free(struct ctflive_live_view *v);

/*
 * Returns the next message in time order (across every stream of every
 * attached trace): 0 with *ret_stream (borrowed, valid until the stream
 * ends) and *ret_msg (valid until the next call), -EAGAIN when a stream has
 * no data yet and no beacon lets the merge move past it (wait, then call
 * again), 1 (CTFLIVE_CTF_END) when the session ended and every message was
 * returned, or a negative errno (ctflive_live_view_error() explains).
 */
CTFLIVE_API int ctflive_live_view_next(struct ctflive_live_view *v,
				       const struct ctflive_ctf_stream **ret_stream,
				       struct ctflive_ctf_msg *ret_msg);

/*
 * After ctflive_live_view_next() returned -EAGAIN: when the view has a
 * GET_NEXT_INDEX in flight (sent, its reply not read: a relay may hold the
 * request until it has news for the stream), waits until the reply can be
 * read or `timeout_ms` ms pass (< 0: up to the client's timeout, after which
 * the reply is waited for and a relay that did not answer is the view's
 * error), and returns 1: call ctflive_live_view_next() again at once. When
 * nothing is in flight (the relay had nothing new for any stream that needs
 * it): against a relay seen holding requests (a reply took 50 ms or more),
 * sleeps 20 ms (at most `timeout_ms` if >= 0) and returns 1, the next
 * beacon being due at the next live-timer tick; else returns 0 at once and
 * the caller waits its own period (babeltrace2: 100 ms) before asking
 * again. Errors are the view's (the next ctflive_live_view_next() returns
 * them).
 */
CTFLIVE_API int ctflive_live_view_wait(struct ctflive_live_view *v, int timeout_ms);

/* Description of the last error, "" if none. Borrowed from v. */
CTFLIVE_API const char *ctflive_live_view_error(const struct ctflive_live_view *v);

/* The client of the view (borrowed; a new one after each reconnection). */
CTFLIVE_API struct ctflive_live_client *ctflive_live_view_client(struct ctflive_live_view *v);

/*
 * Lets the view reconnect when its connection is lost (the relay closed or
 * reset it, or did not answer within `timeout_ms`): it connects to the next
 * relay of `urls` (`n` relays serving the session `urls[0]` names, the one
 * connected now being urls[current]; the list wraps around, so one relay is
 * tried again), attaches the session from its beginning and resumes every
 * stream after the last packet it had received, so that no event is
 * returned twice and none is skipped. Packets are recognised by their index
 * timestamps (timestamp_end, then timestamp_begin, then their rank among
 * packets with equal ones), streams by their trace path and channel name,
 * and the metadata by its length: what every relay of the list serves
 * identically (the same trace, as edge relays of one JetStream serve it).
 * Attempts go from relay to relay, each round of the list waiting twice as
 * long as the one before (100 ms to 2 s), until `reconnect_ms` passed since
 * the connection was lost; then ctflive_live_view_next() fails with the
 * error of the loss. Attempts are made by ctflive_live_view_next(), which
 * returns -EAGAIN meanwhile. `reconnect_ms` <= 0 disables reconnection (the
 * default: a lost connection is an error). `urls` is copied. Each
 * reconnection is reported once by ctflive_live_view_next_warning().
 * Errors: -EINVAL, -ENOMEM.
 */
CTFLIVE_API int ctflive_live_view_set_failover(struct ctflive_live_view *v,
					       const struct ctflive_live_url *urls, size_t n,
					       size_t current, int timeout_ms, int reconnect_ms);

/*
 * Next warning of the view (a reconnection, a stream the new relay does not
 * serve), or NULL. Borrowed from v, valid until the next call on v.
 */
CTFLIVE_API const char *ctflive_live_view_next_warning(struct ctflive_live_view *v);

#ifdef __cplusplus
}
#endif

#endif
