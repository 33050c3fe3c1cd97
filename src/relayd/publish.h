/* SPDX-License-Identifier: MIT */
/*
 * Publication: when what the relay wrote becomes visible to viewers, both
 * on disk (the lock protocol, doc/file-formats.md §3) and on the live port.
 * The one rule, enforced here and nowhere else:
 *
 *   data durable -> index durable -> safe points and locks moved
 *   (data and metadata files, then index files) -> viewers told
 *
 * "Durable" is fdatasync() on the sync worker (sync.h) under the default
 * policy (`--sync data`), or nothing under `--sync none` (written is
 * published). "Viewers told" moves the counters the live server hands out
 * (stream->published_entries, stream->metadata_published); on disk, the
 * lock moves are what readers see.
 *
 * The order is written once, as two functions over a table of steps, so a
 * unit test can drive it with fakes (tests/unit/test-publish.c):
 * publish_prepare() lists the files to sync, data and metadata before index
 * (the worker syncs them in that order and stops at the first failure);
 * publish_commit() runs after the sync (or at once without one) and is the
 * only code that moves safe points, locks and viewer counters.
 *
 * Dependencies: stream.c and session.c call this module; it calls only the
 * sync worker and the lock protocol (src/proto/file-locks.h), never back
 * into sessions or streams (doc/architecture.md).
 */
#ifndef CL_RELAYD_PUBLISH_H
#define CL_RELAYD_PUBLISH_H

#include <stdbool.h>

struct relay;
struct session;
struct stream;

/* Which files a step is about. */
enum publish_files {
	PUBLISH_DATA,  /* tracefiles and metadata files */
	PUBLISH_INDEX, /* index files */
};

/* The steps of one publication; ctx is the publication's own state. */
struct publish_ops {
	/* Lists the descriptors of `files` to sync. 0 or -errno. */
	int (*collect)(void *ctx, enum publish_files files);
	/* Moves the safe points to what was synced (or written). */
	void (*advance)(void *ctx);
	/* Moves the write locks of `files` to their safe points. */
	void (*move_locks)(void *ctx, enum publish_files files);
	/* Moves what live viewers are handed to what is now safe. */
	void (*tell_viewers)(void *ctx);
};

/* Collects the files to sync: data and metadata files first, index files last. */
int publish_prepare(const struct publish_ops *ops, void *ctx);

/*
 * Publishes once the files are synced: `synced` is the sync's result (0
 * when there was no sync to do). On a negative result nothing moves and it
 * is returned; else advance, locks of data files, locks of index files,
 * viewers, in that order, and 0.
 */
int publish_commit(const struct publish_ops *ops, void *ctx, int synced);

/* ---- The relay's publications ---------------------------------------- */

/* Starts the sync worker when relay->sync_publish. 0 or -errno. */
int publish_init(struct relay *relay);
/* Stops it; publications not completed are dropped (their data stays hidden). */
void publish_fini(struct relay *relay);

/*
 * A packet's bytes (and padding) are written to `st`: under `--sync none`
 * they are published at once; else they wait for their index entry.
 */
void publish_data_written(struct stream *st);

/*
 * An index entry or a whole metadata message is written to `st`: published
 * at once under `--sync none`; else a sync of its session's files is queued
 * unless one is in flight (group commit: what arrives meanwhile goes in the
 * next one, queued as soon as the current one completes).
 */
void publish_entry_written(struct stream *st);

/*
 * `st` may have something to sync and publish (its sizes, entries or
 * metadata changed otherwise than by the two calls above): the next batch
 * of its session looks at it. Batches look only at streams marked so.
 */
void publish_stream_changed(struct stream *st);

/* Queues a sync for every session with unpublished data (a periodic safety net). */
void publish_tick(struct relay *relay);

/*
 * The session of `st` is stopped (session->sync_error): cuts every file of
 * `st` back to what was durable (data and metadata to their safe points,
 * index files to their synced entries) and forgets the entries past them,
 * so that nothing past the last durable point is ever visible, on disk or
 * live. Called once a sync failed, and again when a stream of a stopped
 * session closes (closing may have appended lost-packet entries).
 */
void publish_drop_undurable(struct stream *st);

/*
 * No room for one more stream's files and every active stream waits for
 * its sync: queues the syncs not queued yet, then waits (up to 2 s,
 * blocking the loop) for the oldest to complete and publishes what it
 * covered, so that its streams become idle (stream_park_idle() may then
 * close their descriptors). True when a sync completed.
 */
bool publish_wait(struct relay *relay);

/* True while a sync may still touch the files of `st` (it must not be freed). */
bool publish_busy(const struct stream *st);

#endif
