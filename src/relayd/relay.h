/* SPDX-License-Identifier: MIT */
/*
 * ctflive-relayd core objects: the relay, its sessions, trace chunks,
 * streams and connections, and the operations the protocol handlers call.
 *
 * Object graph and ownership (all owned by the loop thread, no locks):
 *
 *   struct relay  owns  sessions (list), connections (list), chunks (list)
 *   session       owns  its streams (list); refs its current and
 *                       pending-closure chunks
 *   stream        owns  its data/index/metadata file descriptors; refs the
 *                       chunk its files live in
 *   ctrl conn     refs  its session (one per control connection)
 *   data conn     refs  the session of the first stream it carried
 *
 * Lifetime: a session lives while its control connection is open or it has
 * streams; a stream lives until it is closed (CLOSE_STREAM with all data
 * received, or its session went away). Objects are freed only from the loop's
 * before-sleep hook (relay_collect()), never inside a callback.
 *
 * On-disk layout follows lttng-relayd 2.13 (relayd-protocol.md §6.5):
 *   <output>/<host>/<session>-<datetime>/<chunk dir>/<pathname>/<channel>[_<n>]
 *   .../<pathname>/index/<channel>[_<n>].idx, .../<pathname>/metadata
 */
#ifndef CL_RELAYD_RELAY_H
#define CL_RELAYD_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "list.h"
#include "loop.h"
#include "relayd-proto.h"
#include "sock.h"

/* Limits on what peers control (each rejected with an error, never trusted). */
#define RELAY_MAX_CONNECTIONS      1024
#define RELAY_MAX_SESSIONS         4096
#define RELAY_MAX_STREAMS_PER_SESS 65536
#define RELAY_MAX_CTRL_PAYLOAD     (1u << 20)          /* bytes, every command but metadata */
#define RELAY_MAX_PACKET_SIZE      (UINT64_C(1) << 32) /* data + padding, bytes */
/*
 * Default of --max-packet-size: data + padding of one packet, bytes. An LTTng
 * consumer sends a whole sub-buffer per packet (data = its content rounded up
 * to a page, padding = the rest of the sub-buffer, so data + padding is the
 * channel's sub-buffer size); the padding is not on the wire, so without a
 * bound a 32-byte header would make the relay write up to 4 GiB of zeros.
 * 64 MiB is also the largest GET_PACKET reply the live server gives.
 */
#define RELAY_DEFAULT_MAX_PACKET   (UINT64_C(64) << 20)
#define RELAY_MAX_PENDING_INDEXES  4096 /* per stream, half-received index entries */
#define RELAY_MAX_ROTATE_STREAMS   65536
#define RELAY_MAX_METADATA_SIZE    (UINT64_C(1) << 30) /* bytes per metadata file */
#define RELAY_MAX_HOSTNAME         63                  /* bytes: the live session list's field */

struct relay;
struct session;
struct stream;

struct chunk {
	struct cl_list_node node; /* in relay->chunks */
	uint64_t serial;          /* relay-unique, never reused */
	uint8_t sessiond_uuid[16];
	uint64_t sessiond_session_id;
	uint64_t id;
	uint64_t creation_ts; /* seconds since the epoch */
	uint64_t close_ts;
	char *override_name;   /* owned or NULL */
	char *dir;             /* owned; relative to session dir, "" = the session dir */
	char *dir_before_move; /* owned or NULL: where it was before .tmp_old_chunk */
	int session_dir_fd;    /* owned dup of the session directory (O_PATH) */
	int dir_fd;            /* owned O_PATH fd of `dir` */
	char **top_entries;    /* owned: first components created in a root chunk */
	size_t n_top_entries, cap_top_entries;
	unsigned refs; /* sessions' current/pending + streams */
	bool closed;
	bool has_close_command;
	uint32_t close_command;
	bool anonymous; /* pre-2.11 peers: rooted at the output root */
};

struct pending_index {
	uint64_t net_seq_num;
	bool has_data, has_ctrl;
	uint64_t offset; /* bytes, in tracefile `tracefile` */
	uint64_t gen;    /* stream->gen when the data was written */
	struct cl_relayd_index ctrl;
};

/*
 * One data file of a stream (a tracefile, or the file of one trace chunk)
 * with its index file, as viewers see it. Index entries are numbered per
 * stream across all its segments, in the order they were written.
 */
/* A directory parked streams share (stream.c): one descriptor for all of
 * its streams, O_PATH; read-only users open files beneath it. */
struct pdir {
	struct cl_list_node node; /* in relay->pdirs */
	uint64_t dev, ino;
	int fd; /* owned, O_PATH */
	unsigned refs;
};

struct segment {
	uint64_t gen;          /* stream->gen of the data file */
	uint64_t chunk_serial; /* chunk->serial the file lives in */
	uint64_t tracefile;    /* tracefile slot */
	int data_fd;           /* owned dup (read with pread), -1 once gone */
	int index_fd;          /* owned dup, -1 until the index file exists */
	uint64_t first_entry;  /* number of its first index entry */
	uint64_t n_entries;    /* entries written */
	bool has_entries;
	uint64_t size;           /* bytes written to the data file */
	uint64_t synced_size;    /* bytes known durable (or published, sync none) */
	uint64_t synced_entries; /* entries known durable */
	bool gone;               /* unlinked (tracefile ring) or deleted (clear) */
	uint64_t data_unlocked;  /* bytes of the data file no longer write-locked */
	uint64_t index_unlocked; /* bytes of the index file no longer write-locked */
	bool released;           /* whole-file locks dropped */
	/*
	 * An older file nothing needs open (retired, released, no viewer pinned):
	 * its descriptors are closed to save them (stream.c), reopened
	 * read-only when read (stream_segment_open()) beneath `dir`, checked
	 * against the identities recorded at close.
	 */
	bool idle_closed;
	bool has_index_file; /* an index file was open when it was closed */
	bool reopened;       /* idle_closed, then reopened for a reader */
	struct pdir *dir;    /* ref: its directory, once closed idle */
	uint64_t data_dev, data_ino, index_dev, index_ino;
	/*
	 * Live viewer streams whose last index handed out is in this file: the
	 * viewer may still ask for that packet, so a file unlinked (tracefile
	 * ring) or deleted (clear) meanwhile keeps its data descriptor until
	 * the last of them moves on.
	 */
	uint32_t viewer_pins;
};

/*
 * The segment's files were unlinked or deleted: skip it from now on. The
 * index descriptor is closed; the data descriptor too, unless a viewer was
 * handed an index entry of this file and may still read its packet.
 */
static inline void segment_gone(struct segment *sg)
{
	if (sg->data_fd >= 0 && sg->viewer_pins == 0) {
		close(sg->data_fd);
		sg->data_fd = -1;
	}
	if (sg->index_fd >= 0)
		close(sg->index_fd);
	sg->index_fd = -1;
	sg->gone = true;
}

/* A viewer stream moves its last index handed out into (pin) or out of
 * (unpin) this segment; the last unpin of a gone segment closes its file. */
static inline void segment_pin(struct segment *sg)
{
	sg->viewer_pins++;
}

static inline void segment_unpin(struct segment *sg)
{
	if (sg->viewer_pins > 0 && --sg->viewer_pins == 0 && sg->gone && sg->data_fd >= 0) {
		close(sg->data_fd);
		sg->data_fd = -1;
	}
}

struct stream {
	struct cl_list_node node;        /* in session->streams */
	struct cl_list_node global_node; /* in relay->streams */
	struct cl_list_node dirty_node;  /* in session->dirty while it may need a sync */
	struct stream *hash_next;        /* next in its relay->stream_tab chain */
	struct session *session;         /* borrowed (session outlives stream) */
	uint64_t handle;
	char *channel_name; /* owned */
	char *pathname;     /* owned, normalised */
	bool is_metadata;
	uint32_t index_entry_size;  /* bytes (ctf-index.h), by the session's protocol minor */
	bool published;             /* STREAMS_SENT received */
	bool closed;                /* no more data accepted; freed at collect */
	struct chunk *chunk;        /* ref or NULL (rotated to no chunk) */
	int dir_fd;                 /* owned, O_PATH directory of the stream in its chunk */
	int data_fd;                /* owned, -1 when closed */
	int index_fd;               /* owned, -1 until the first packet of a tracefile */
	int prev_index_fd;          /* owned, index file of the previous generation, or -1 */
	struct prep_file *idx_prep; /* owned: its next index file, made ahead (prep.h), or NULL */
	uint64_t gen;               /* data file generation: bumped at each file switch */
	uint64_t packet_start;      /* offset of the packet being received, bytes */
	uint64_t complete_size;     /* bytes of the current file up to its last whole packet
				     * (metadata: its last whole SEND_METADATA) */
	uint64_t indexed_end;       /* bytes of the current file up to the end of its last
				     * packet with an index entry */
	unsigned busy;              /* a data connection is inside a packet of this stream */
	uint64_t tracefile_size, tracefile_count; /* bytes, 0 = unlimited */
	uint64_t tracefile_index;                 /* current tracefile number */
	uint64_t tracefiles_used;                 /* how many slots were ever used (ring wrap) */
	uint64_t file_size;                       /* bytes written to the current tracefile */
	uint64_t prev_data_seq;     /* last net_seq_num fully written, UINT64_MAX none */
	uint64_t prev_index_seq;    /* last net_seq_num with an index entry written */
	uint64_t index_entries;     /* entries written in total */
	uint64_t metadata_received; /* bytes written to the metadata file */
	bool close_requested;
	uint64_t last_net_seq_num;
	bool data_pending_checked;
	bool has_beacon;
	uint64_t beacon_ts_end; /* clock cycles */
	uint64_t ctf_stream_id;
	struct pending_index *pending; /* owned array */
	size_t n_pending, cap_pending;
	/* Rotation (ROTATE_STREAMS) state. */
	bool rotation_pending;
	bool rotation_to_chunk;        /* false: to "no chunk" */
	struct chunk *rotation_chunk;  /* ref */
	uint64_t rotate_at_packet_seq; /* first packet_seq_num of the new chunk */
	bool rotate_net_seq_known;
	uint64_t rotate_after_net_seq;  /* last net_seq_num of the old chunk */
	uint64_t last_index_packet_seq; /* packet_seq_num of the last entry written */
	uint64_t last_index_net_seq;
	bool has_index;
	uint64_t trace_id; /* groups the streams of one CTF trace (same path) */
	/* What viewers may see (DESIGN point 2: durable before visible). */
	struct segment *segs; /* owned array, oldest first */
	size_t n_segs, cap_segs;
	uint64_t published_entries;  /* index entries viewers may read */
	uint64_t metadata_synced;    /* bytes of the current metadata file safe (lock target) */
	uint64_t metadata_published; /* bytes of the current metadata file viewers may read */
	uint64_t metadata_epoch;     /* bumped when the metadata file is replaced */
	bool sync_in_flight;         /* a publication batch (publish.c) covers this stream */
	unsigned viewer_refs;        /* viewer streams pointing here */
	uint64_t lost_packets;       /* index entries written with an all-ones offset */
	/*
	 * Descriptors (stream_use()): an open stream is either active (its
	 * files open, in relay->active, least recently used first) or parked:
	 * idle with all it wrote published, its descriptors closed, the
	 * locks of its current files released; reopened on demand.
	 */
	struct cl_list_node lru_node; /* in relay->active while its files are open */
	struct pdir *pdir;            /* while parked, and once closed: its directory */
	bool parked;
	bool parked_index; /* the index file existed when parked */
	uint64_t parked_dev, parked_ino, parked_index_dev, parked_index_ino;
	/*
	 * Writes batched over one read of a connection, done by stream_flush()
	 * (stream_flush_all() at the end of each read): the data bytes
	 * (borrowed from the read buffer) and padding of the packets received,
	 * then what each packet's end does (in order), then the index entries,
	 * one write each. Nothing counts as written before it is.
	 */
	struct iovec *wv; /* owned array */
	size_t n_wv, cap_wv;
	uint64_t wv_bytes;          /* bytes in wv */
	struct ended_packet *ended; /* owned array, packets whose bytes are all in wv */
	size_t n_ended, cap_ended;
	struct cl_buf idx_q; /* encoded index entries for idx_q_fd */
	int idx_q_fd;        /* index_fd or prev_index_fd */
	uint64_t idx_q_gen;  /* generation of the segment they count in */
	uint64_t idx_q_n;    /* entries in idx_q */
	bool queued;         /* in relay->wq */
};

/* A packet whose bytes are queued (stream.wv). */
struct ended_packet {
	uint64_t net_seq_num;
	uint64_t start, end; /* bytes: offset of its first byte and past its last */
};

struct session {
	struct cl_list_node node; /* in relay->sessions */
	uint64_t id;
	char *session_name, *hostname, *base_path; /* owned */
	char *output_path;                         /* owned, relative to the output root */
	int dir_fd;                                /* owned O_PATH fd of the session directory */
	uint32_t live_timer;                       /* µs */
	bool snapshot;
	uint32_t minor;
	uint32_t trace_format; /* enum cl_relayd_trace_format (CTF 1.8 below minor 15) */
	uint8_t sessiond_uuid[16];
	uint64_t sessiond_session_id;
	uint64_t creation_time;
	bool nats_announced;                 /* --publish: its "session" message is queued */
	struct chunk *current_chunk;         /* ref or NULL */
	struct chunk *pending_closure_chunk; /* ref or NULL */
	bool has_rotated;
	bool connection_closed; /* control connection gone */
	bool aborted;           /* ended abnormally (protocol/IO error, peer vanished with
				 * streams open, a stream or chunk refused): its marker
				 * says "interrupted"; CLOSE_STREAM still waits for data
				 * sent before it while a data connection is open */
	struct cl_list streams;
	/* Streams written since the last batch covering them was collected
	 * (publish.c): a batch looks at these only, not at every stream. */
	struct cl_list dirty;
	size_t n_streams;
	unsigned data_conns;  /* data connections bound to this session */
	bool data_closed;     /* a bound data connection went away: no more data */
	unsigned viewer_refs; /* viewer sessions attached */
	uint64_t live_gen;    /* bumped when viewers may see something new (session_touch) */
	bool sync_in_flight;  /* a sync job covers this session's streams */
	bool has_marker;      /* holds a reference on its directory's marker */
	/*
	 * First failed fdatasync (-errno), 0 while none: the session is
	 * stopped for good (publish.c). Its files are cut back to what was
	 * durable, it accepts no more data (the producer's next command gets
	 * an error reply, then the connection closes; data connections close
	 * at once), its viewers end after the last published entry, and its
	 * marker says "interrupted". Retrying a failed fdatasync proves
	 * nothing on Linux: the kernel may have dropped the dirty pages.
	 */
	int sync_error;
	/* -errno that closed a connection of the session (e.g. -ENOSPC of a
	 * write), 0 while none: the cause named for what it leaves (a removed
	 * empty metadata file, commands for its closed streams). */
	int close_error;
	struct relay *relay; /* borrowed */
};

struct relay {
	struct cl_loop *loop;
	int output_fd; /* O_PATH fd of the output root */
	struct cl_list sessions, streams, chunks;
	/* Streams by handle (stream.c): chains, stream_tab_cap a power of two */
	struct stream **stream_tab;
	size_t stream_tab_cap, stream_tab_n;
	struct stream **wq; /* streams with batched writes (stream.c) */
	size_t n_wq, cap_wq;
	bool in_flush;          /* stream_flush_all() runs */
	struct sock_set conns;  /* control and data connections (conn.c) */
	struct cl_list markers; /* session markers held (locks.c) */
	size_t n_sessions;
	uint64_t next_session_id, next_stream_handle, next_trace_id, next_chunk_serial;
	struct publisher *publisher; /* owned (publish.c): the sync worker, or NULL */
	struct prep *prep;           /* owned (prep.h): index files made ahead, or NULL */
	bool allow_clear;
	uint32_t max_minor;     /* highest relayd and live protocol minor announced (<= 15) */
	uint64_t max_packet;    /* --max-packet-size: data + padding of a packet, bytes */
	bool sync_publish;      /* publish to viewers only after fdatasync (publish.h) */
	bool group_by_session;  /* OUTPUT/SESSION/HOST-DATETIME, not OUTPUT/HOST/... */
	struct live *live;      /* owned: the live viewer server */
	struct nats_pub *nats;  /* owned (nats-pub.c): --publish, or NULL */
	struct nats_edge *edge; /* owned (nats-edge.c): --from, or NULL */
	bool sessions_stopped;  /* a session's sync failed since the last conn_collect() */
	/* A stream may have become freeable (closed, last viewer or batch gone,
	 * or the periodic tick): relay_collect() looks at the streams only then. */
	bool collect_streams;
	struct sock_allow allow[3]; /* --allow-from of the control, data and live ports */
	struct cl_list active;      /* struct stream (lru_node): files open, oldest use first */
	struct cl_list pdirs;       /* directories of parked streams, shared (stream.c) */
	size_t n_active;            /* streams in `active` */
	size_t max_active;          /* past it, idle streams are parked (stream_use()) */
	uint64_t parks, unparks;    /* streams parked, reopened (counted for the logs) */
};

/*
 * Something viewers of `s` may see changed: entries or metadata published, a
 * beacon, a stream published or closed, the producer gone. Viewers waiting
 * for news of `s` (live-server.c) look again before the loop sleeps.
 */
static inline void session_touch(struct session *s)
{
	s->live_gen++;
}

/* ---- connections (conn.c) ---- */
enum conn_kind { CONN_CONTROL, CONN_DATA };
/* Accepts a new connection of `kind` on listening socket `fd`. Returns 0, or
 * the negative errno of accept4() (e.g. -EMFILE: out of descriptors). */
int conn_accept(struct relay *relay, int listen_fd, enum conn_kind kind);
/* Frees connections that were closed (called before each loop sleep). */
void conn_collect(struct relay *relay);
/* Closes every connection (shutdown). */
void conn_close_all(struct relay *relay);

/* ---- sessions (session.c) ---- */
/* CREATE_SESSION. 0, -EINVAL (a name is not a path component), -EMSGSIZE
 * (host name over RELAY_MAX_HOSTNAME), -E2BIG (too many sessions), -ENOMEM,
 * or the errors of marker_claim_dir() and marker_acquire(). */
int session_create(struct relay *relay, const struct cl_relayd_create_session *msg, uint32_t minor,
		   struct session **ret);
/* Control connection closed: close or schedule closing of every stream. */
void session_connection_closed(struct relay *relay, struct session *s, bool error);
struct session *session_find(struct relay *relay, uint64_t id);
/*
 * A snapshot record is complete once its trace chunk is closed and its
 * streams are closed: the session stops holding its directory's marker (the
 * consumer never closes snapshot connections, so their end cannot mark it).
 */
void session_snapshot_done(struct relay *relay, struct session *s);
/* Frees sessions and streams that are done (called before each loop sleep). */
void relay_collect(struct relay *relay);
/* Closes every stream and frees every session and chunk (shutdown). */
void relay_shutdown(struct relay *relay);

/* ---- trace chunks (chunk.c) ---- */
/* The open or closed chunk `id` of `s`'s session daemon session, or NULL. */
struct chunk *chunk_find(struct relay *relay, const struct session *s, uint64_t id);
/* A new chunk in directory `dir` (relative to the session directory), O_PATH
 * fd `dir_fd` (taken on success), registered with the relay, no reference. */
struct chunk *chunk_new(struct relay *relay, const struct session *s, const char *dir, int dir_fd);
int chunk_create(struct relay *relay, struct session *s, const struct cl_relayd_create_chunk *c,
		 uint32_t *ret_status);
int chunk_close(struct relay *relay, struct session *s, const struct cl_relayd_close_chunk *c,
		uint32_t *ret_status, char **ret_path);
bool chunk_exists(struct relay *relay, struct session *s, uint64_t chunk_id);
struct chunk *chunk_ref(struct chunk *c);
void chunk_unref(struct relay *relay, struct chunk *c);
/* Records that a root chunk gained a top-level entry (e.g. "ust"). */
int chunk_note_top_entry(struct chunk *c, const char *rel_path);

/* ---- streams (stream.c) ---- */
int stream_create(struct relay *relay, struct session *s, const struct cl_relayd_add_stream *m,
		  struct stream **ret);
struct stream *stream_find(struct relay *relay, uint64_t handle);
/* Appends metadata bytes to the stream's file; packet bytes join the stream's
 * write batch (borrowed: valid until the next stream_flush_all()). */
int stream_write(struct stream *st, const uint8_t *buf, size_t n);
/* Ends a SEND_METADATA: appends its padding zeros; the message is then whole. */
int stream_write_metadata_padding(struct stream *st, uint64_t padding);
/* Data path: start of a packet (may switch tracefile), bytes, end of packet. */
int stream_begin_packet(struct relay *relay, struct stream *st, uint64_t net_seq_num,
			uint64_t data_size, uint64_t padding_size);
/* End of packet: `tail` (tail_len bytes: the body's last bytes not yet
 * written, may be 0, borrowed like stream_write()'s) then the padding join
 * the write batch; the packet counts as received once it is flushed. */
int stream_end_packet(struct relay *relay, struct stream *st, uint64_t net_seq_num,
		      const uint8_t *tail, size_t tail_len, uint64_t padding_size);
/* Control half of an index (or a beacon). */
int stream_add_index(struct relay *relay, struct stream *st, const struct cl_relayd_index *ix);
/* CLOSE_STREAM. */
void stream_request_close(struct relay *relay, struct stream *st, uint64_t last_net_seq_num);
/* Closes files now; pending control-only index entries become lost-packet entries. */
void stream_close(struct relay *relay, struct stream *st);
bool stream_data_pending(const struct stream *st, uint64_t last_net_seq_num);
int stream_set_rotation(struct relay *relay, struct stream *st, struct chunk *new_chunk,
			uint64_t rotate_at_packet_seq);
int stream_reset_metadata(struct stream *st);
/* Finds a stream by handle, closed ones included (for viewers and sync). */
struct stream *stream_find_any(struct relay *relay, uint64_t handle);
/* Does the writes batched for every stream (stream.wv, stream.idx_q) and
 * what they complete. 0 or the first error (-errno; that stream's batch is
 * dropped, its files cut back to what was whole when it closes). */
int stream_flush_all(struct relay *relay);
/* Releases the write batch of a stream being freed (done or dropped). */
void stream_batch_free(struct relay *relay, struct stream *st);
/* Removes a stream being freed from the handle lookup. */
void stream_forget(struct relay *relay, struct stream *st);
/* Frees the handle lookup and the batch list (relay shutdown). */
void stream_table_free(struct relay *relay);
/* Segment holding index entry `entry`, or NULL. */
struct segment *stream_segment_of(struct stream *st, uint64_t entry);
/*
 * Descriptors: a relay may serve more streams than it may hold files open
 * (RLIMIT_NOFILE). Every use of a stream's files goes through
 * stream_use(): a parked stream's files are reopened (checked to be the
 * same files), their write locks taken again from their safe points to the
 * end (doc/file-formats.md §3), and the stream becomes the most recently
 * used; when more than relay->max_active streams are active, the least
 * recently used idle ones are parked first. A stream is parked only when
 * idle with everything it wrote published (no packet in progress, no sync
 * in flight, no rotation, not metadata; index halves may wait for their
 * other half): its locks then cover only bytes not written yet, so
 * readers lose nothing while it is parked (they find its current files
 * unlocked and fully published, as after a flush). A closed stream that
 * viewers still read is parked too (its last file, complete, is reopened
 * read-only). Parked streams share one descriptor per directory. 0 or
 * -errno (the stream stays parked).
 */
int stream_use(struct relay *relay, struct stream *st);
/*
 * Reopens (read-only) the files of segment `sg` of `st` if they were closed
 * idle; a no-op otherwise. Readers of a segment's descriptors call it first.
 * 0, or -ENOENT (removed), -ESTALE (replaced), -EMFILE or -errno.
 */
int stream_segment_open(struct stream *st, struct segment *sg);

/* Name of tracefile slot n of st: CHANNEL, or CHANNEL_N with a tracefile size. */
static inline void stream_tracefile_name(const struct stream *st, uint64_t n, char *buf, size_t cap)
{
	if (st->tracefile_size > 0)
		(void)snprintf(buf, cap, "%s_%llu", st->channel_name, (unsigned long long)n);
	else
		(void)snprintf(buf, cap, "%s", st->channel_name);
}
/*
 * Out of descriptors: parks up to `n` idle streams, least recently used
 * first. Returns how many were parked.
 */
size_t stream_park_idle(struct relay *relay, size_t n);
/* The stream is freed: its directory reference and its place among the
 * active streams go. */
void stream_release(struct relay *relay, struct stream *st);

#endif
