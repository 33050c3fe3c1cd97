/* SPDX-License-Identifier: MIT */
/*
 * Reading relay sessions back from NATS JetStream (doc/nats.md, "Reading"):
 * shared by `ctflive view/ls nats://` and the edge relay
 * (`ctflive-relayd --from`).
 *
 * - URLs, connection, listing: nats://A:P[,B:Q...][/host/HOST/SESSION]
 *   parsed into server URLs; a JetStream context; the ctflive streams with
 *   their descriptions parsed; a session's state from its last life-cycle
 *   message.
 * - struct cl_nats_reader: the messages of one relay session, in the order
 *   JetStream delivers them, turned into calls in (Ctflive-Seq, part) order:
 *   messages that come early (a publication the relay retried) are held,
 *   duplicates dropped, parts joined (all the parts of one message, or it
 *   is dropped whole: incomplete); a number never found is a gap, given
 *   up by cl_nats_reader_skip_gap() and counted. Payloads and paths are
 *   checked before any callback sees them. Not thread-safe: one reader is
 *   used by one thread.
 * - The position: cl_nats_reader_resume_seq() is the JetStream stream
 *   sequence from which a new consumer continues with no gap (what it
 *   delivers again is dropped as duplicate).
 */
#ifndef CL_NATS_READ_H
#define CL_NATS_READ_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CL_NATS_MAX_SERVERS    16
/* A missing message is given up after this long without news (the relay
 * retries a publication for about 30 s). */
#define CL_NATS_GAP_WAIT_MS    35000
/* Messages held waiting for an earlier one, at most. */
#define CL_NATS_MAX_HELD       65536
/* JetStream requests retried after a timeout (a cluster electing a leader). */
#define CL_NATS_ELECTION_TRIES 6

/* nats://A:P[,B:Q...][/host/HOST/SESSION]. */
struct cl_nats_url {
	char *buf;                                /* owned */
	const char *servers[CL_NATS_MAX_SERVERS]; /* borrowed from owned[] */
	char *owned[CL_NATS_MAX_SERVERS];
	int n_servers;
	char *host, *session; /* owned, or NULL without a path */
};

/* True when `s` starts with "nats://". */
bool cl_nats_is_url(const char *s);
/* Parses `s` into `u` (to be freed with cl_nats_url_free() also on error).
 * -EINVAL with a static reason in *why, or -ENOMEM. */
int cl_nats_url_parse(const char *s, struct cl_nats_url *u, const char **why);
void cl_nats_url_free(struct cl_nats_url *u);

struct cl_nats_conn_opts;

/*
 * Connects to the servers of `u` with the authentication and TLS options
 * `co` (nats-conn.h; NULL: none) (the client reconnects by itself, to any of
 * them, forever, when `reconnect_forever`; else its defaults) and makes a
 * JetStream context whose requests wait `timeout_ms`. `name` is the client
 * name servers show. Logs why (the server's error, e.g. "Authorization
 * Violation", or the TLS handshake's) and returns -ECONNREFUSED when no
 * server accepted the connection.
 */
int cl_nats_connect(const struct cl_nats_url *u, const struct cl_nats_conn_opts *co,
		    const char *name, int timeout_ms, bool reconnect_forever, natsConnection **nc,
		    jsCtx **js);

/* What a JetStream stream's description says (doc/nats.md). */
struct cl_nats_desc {
	char host[256], session[256], relay[256];
	const char *prefix; /* borrowed from the stream information */
	uint64_t session_id;
};

/* -ENOENT when `si` is not a ctflive stream of format 1, -EINVAL malformed. */
int cl_nats_desc_parse(const jsStreamInfo *si, struct cl_nats_desc *d);

/* The ctflive streams (named CTFLIVE_*), their information owned. */
struct cl_nats_slist {
	jsStreamInfo **v;
	size_t n, cap;
};

/* Lists them, retrying timeouts (a cluster electing a leader); -EIO logged. */
int cl_nats_list_streams(jsCtx *js, struct cl_nats_slist *l);

/*
 * Whether a JetStream API request that returned `s` (`jerr` its JetStream
 * error code) is worth sending again, as attempt number `attempt` (from 0)
 * of at most CL_NATS_ELECTION_TRIES: a timeout, no responders, or "JetStream
 * system temporarily unavailable" (10008), as a cluster answers while it
 * elects a leader. Sleeps 250 ms before saying yes to an answer that came at
 * once (not to a timeout, which took its own time).
 */
bool cl_nats_js_again(natsStatus s, jsErrCode jerr, int attempt);
void cl_nats_slist_free(struct cl_nats_slist *l);

/* "live", "ended", "interrupted" (from the last .ctl message) or "unknown". */
const char *cl_nats_session_state(jsCtx *js, const char *name, const char *prefix);

/* The `stream` life-cycle message, checked: path relative without "." or ".."
 * components, channel without '/', entry size 56 or 72 for data streams. */
struct cl_nats_stream_info {
	uint64_t handle;
	const char *channel, *path; /* borrowed for the call */
	bool metadata;
	uint32_t index_entry_size; /* bytes, 0 for metadata */
	uint64_t trace_id;
};

/* The `session` life-cycle message. */
struct cl_nats_session_info {
	const char *host, *session, *relay, *output_path; /* borrowed for the call */
	uint64_t session_id;
	uint32_t live_timer_us;
	bool ctf2;
};

/*
 * What a reader calls, in the session's order. A callback returns 0, or a
 * negative errno: the message is counted as unusable (cl_nats_reader.bad)
 * and reading goes on. NULL callbacks are skipped.
 */
struct cl_nats_read_ops {
	int (*session)(void *ctx, const struct cl_nats_session_info *si);
	int (*stream)(void *ctx, const struct cl_nats_stream_info *si);
	/* `len` bytes at byte `off` of metadata generation `epoch`. */
	int (*metadata)(void *ctx, uint64_t handle, const uint8_t *d, size_t len, uint64_t off,
			uint64_t epoch);
	/* Index entry (`esz` bytes, big-endian as in the relay's .idx; its offset
	 * all ones for a packet lost in transit, then `plen` is 0) and packet. */
	int (*packet)(void *ctx, uint64_t handle, const uint8_t *entry, uint32_t esz,
		      const uint8_t *pkt, size_t plen);
	int (*beacon)(void *ctx, uint64_t handle, uint64_t ts_end);
	int (*close)(void *ctx, uint64_t handle);
	int (*hangup)(void *ctx);
	int (*end)(void *ctx, bool interrupted);
	/* `n` messages (Ctflive-Seq numbers) were given up: never found. */
	void (*gap)(void *ctx, uint64_t n);
	/* After cl_nats_reader_expired_below(): the first packet of data stream
	 * `handle` has packet_seq_num `n` (> 0, index 1.1 entries only): `n`
	 * packets of that stream came before it and are not in JetStream. */
	void (*expired)(void *ctx, uint64_t handle, uint64_t n);
	/* Message `seq` of stream `handle`, published in `n` parts, lacks some
	 * (retention dropped its first parts, or parts were given up): it is
	 * dropped whole, never joined with another message's parts (its packet,
	 * or metadata, is lost). Called once per message. */
	void (*incomplete)(void *ctx, uint64_t handle, uint64_t seq, unsigned n);
};

struct cl_nats_reader;

/* A reader of the session whose subject prefix is `prefix` (copied). */
struct cl_nats_reader *cl_nats_reader_new(const char *prefix, const struct cl_nats_read_ops *ops,
					  void *ctx);
void cl_nats_reader_free(struct cl_nats_reader *r);

/*
 * Takes `m` (destroyed here), delivered by JetStream at stream sequence
 * `js_seq` (0: unknown): applies it if it is its turn, with what it
 * unblocks; holds it if it came early; drops duplicates. Gives up the gap
 * itself when more than CL_NATS_MAX_HELD messages are held.
 */
void cl_nats_reader_deliver(struct cl_nats_reader *r, natsMsg *m, uint64_t js_seq);
/* Gives up waiting for the first missing message (counted, gap callback). */
void cl_nats_reader_skip_gap(struct cl_nats_reader *r);
/*
 * Ctflive-Seq numbers below `seq` that were neither applied nor held are
 * gone for good (retention dropped them: `seq` is the first message of the
 * session's packet stream, doc/nats.md "Reading"): applies what is held
 * below it and counts the rest as missing and expired (gap callback), with
 * no wait. Call it once the messages of the session stream below `seq` were
 * delivered.
 */
void cl_nats_reader_expired_below(struct cl_nats_reader *r, uint64_t seq);
/* Messages held, waiting for an earlier one. */
size_t cl_nats_reader_held(const struct cl_nats_reader *r);
/* The `end` message was applied. */
bool cl_nats_reader_ended(const struct cl_nats_reader *r);
/* JetStream stream sequence to continue from (1 before any message). */
uint64_t cl_nats_reader_resume_seq(const struct cl_nats_reader *r);

/* Counts, for reports. */
struct cl_nats_read_stats {
	uint64_t missing;    /* Ctflive-Seq numbers never found */
	uint64_t dropped;    /* messages the relay dropped (its "dropped" messages) */
	uint64_t bad;        /* messages that could not be used */
	uint64_t expired;    /* of `missing`: below the packet stream's first message */
	uint64_t incomplete; /* of `bad`: messages in parts that lacked some */
	bool interrupted;    /* the end said so */
};
void cl_nats_reader_stats(const struct cl_nats_reader *r, struct cl_nats_read_stats *st);

/* The JetStream stream sequence of a message a consumer delivered, or 0. */
uint64_t cl_nats_msg_stream_seq(natsMsg *m);
/* Messages of its consumer still to deliver after `m` (UINT64_MAX unknown). */
uint64_t cl_nats_msg_pending(natsMsg *m);
/* The Ctflive-Seq header of `m` and in *part its part (1 for a whole
 * message), or 0 when they are not valid. */
uint64_t cl_nats_msg_ctflive_seq(natsMsg *m, unsigned *part);

#endif
