/* SPDX-License-Identifier: MIT */
/*
 * Publication: see publish.h. Runs on the loop thread; the sync worker only
 * sees the descriptors of a batch.
 *
 * A batch covers one session (so that a session's index entries never
 * become visible before the metadata they need): it snapshots, for each of
 * its streams with unpublished data, how far each data file, index file and
 * the metadata are written, and holds duplicates of their descriptors. The
 * streams and the session stay allocated while the batch is in flight
 * (stream->sync_in_flight, session->sync_in_flight: relay_collect() waits).
 */
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "ctf-index.h"
#include "file-locks.h"
#include "grow.h"
#include "log.h"
#include "nats-pub.h"
#include "relay.h"
#include "sync.h"

int publish_prepare(const struct publish_ops *ops, void *ctx)
{
	int r = ops->collect(ctx, PUBLISH_DATA);

	return r < 0 ? r : ops->collect(ctx, PUBLISH_INDEX);
}

int publish_commit(const struct publish_ops *ops, void *ctx, int synced)
{
	if (synced < 0)
		return synced;
	ops->advance(ctx);
	ops->move_locks(ctx, PUBLISH_DATA);
	ops->move_locks(ctx, PUBLISH_INDEX);
	ops->tell_viewers(ctx);
	return 0;
}

/* ---- locks of one stream ---- */

/* Whether a packet written to the file of generation `gen` waits for its
 * index entry (its control half comes later, possibly files later). */
static bool awaits_entries(const struct stream *st, uint64_t gen)
{
	for (size_t i = 0; i < st->n_pending; i++)
		if (st->pending[i].has_data && !st->pending[i].has_ctrl &&
		    st->pending[i].gen == gen)
			return true;
	return false;
}

/* Moves the locks of `files` of `st` to its safe points; releases retired files. */
static void move_stream_locks(struct stream *st, enum publish_files files)
{
	uint32_t esz = st->index_entry_size;

	for (size_t i = 0; i < st->n_segs; i++) {
		struct segment *sg = &st->segs[i];
		bool last = i + 1 == st->n_segs;
		bool retired = !last || st->closed || sg->gen != st->gen;

		if (sg->gone || sg->released)
			continue;
		if (st->is_metadata) {
			/* Older metadata files are superseded by the full copy in the new one. */
			uint64_t safe = last ? st->metadata_synced : UINT64_MAX;

			if (files != PUBLISH_DATA)
				continue;
			if (retired && (!last || st->metadata_synced == st->complete_size)) {
				(void)cl_lock_release(sg->data_fd, sg->data_unlocked);
				sg->released = true;
			} else if (safe > sg->data_unlocked) {
				(void)cl_lock_publish(sg->data_fd, sg->data_unlocked, safe);
				sg->data_unlocked = safe;
			}
			continue;
		}
		if (files == PUBLISH_DATA && sg->synced_size > sg->data_unlocked) {
			(void)cl_lock_publish(sg->data_fd, sg->data_unlocked, sg->synced_size);
			sg->data_unlocked = sg->synced_size;
		}
		if (files == PUBLISH_INDEX) {
			uint64_t safe = cl_index_entry_pos(sg->synced_entries, esz);

			if (sg->index_fd >= 0 && safe > sg->index_unlocked) {
				(void)cl_lock_publish(sg->index_fd, sg->index_unlocked, safe);
				sg->index_unlocked = safe;
			}
			/* Done with a file once it is retired and all of it is published. */
			if (retired && sg->synced_size == sg->size &&
			    sg->synced_entries == sg->n_entries && !awaits_entries(st, sg->gen)) {
				(void)cl_lock_release(sg->data_fd, sg->data_unlocked);
				(void)cl_lock_release(sg->index_fd, sg->index_unlocked);
				sg->released = true;
			}
		}
	}
}

/* ---- publishing what is written, without a sync (--sync none) ---- */

static int now_collect(void *ctx, enum publish_files files)
{
	(void)ctx;
	(void)files;
	return 0;
}

static void now_advance(void *ctx)
{
	struct stream *st = ctx;

	for (size_t i = 0; i < st->n_segs; i++) {
		st->segs[i].synced_size = st->segs[i].size;
		st->segs[i].synced_entries = st->segs[i].n_entries;
	}
	/* Metadata is published by whole SEND_METADATA messages only. */
	if (st->is_metadata)
		st->metadata_synced = st->complete_size;
}

static void now_move_locks(void *ctx, enum publish_files files)
{
	move_stream_locks(ctx, files);
}

static void now_tell_viewers(void *ctx)
{
	struct stream *st = ctx;

	st->published_entries = st->index_entries;
	if (st->is_metadata)
		st->metadata_published = st->complete_size;
	session_touch(st->session);
	nats_pub_session(st->session); /* --publish: what viewers may now read */
}

static const struct publish_ops now_ops = {
	.collect = now_collect,
	.advance = now_advance,
	.move_locks = now_move_locks,
	.tell_viewers = now_tell_viewers,
};

/* ---- batches: publishing after a sync (--sync data) ---- */

struct batch_target {
	uint64_t gen;     /* segment (data file generation) */
	uint64_t size;    /* bytes of its data file covered */
	uint64_t entries; /* its index entries covered */
};

/* What one stream may publish once the batch's files are synced. */
struct batch_stream {
	struct stream *st; /* pinned: st->sync_in_flight */
	uint64_t entries;  /* st->index_entries when collected */
	uint64_t metadata; /* st->complete_size of metadata when collected */
	uint64_t metadata_epoch;
	struct batch_target *targets; /* owned, one per dirty segment */
	size_t n_targets, cap_targets;
};

struct batch {
	struct cl_sync_job job;
	struct relay *relay;     /* borrowed */
	struct session *session; /* pinned: session->sync_in_flight */
	int *fds;                /* owned: data and metadata files, then index files */
	size_t n_fds, cap_fds;
	struct batch_stream *streams; /* owned */
	size_t n_streams, cap_streams;
};

struct publisher {
	struct cl_watch watch; /* the worker's completion eventfd */
	struct cl_sync_worker *worker;
};

static bool seg_dirty(const struct segment *sg)
{
	return !sg->gone && (sg->synced_size != sg->size || sg->synced_entries != sg->n_entries);
}

static bool stream_dirty(const struct stream *st)
{
	if (st->published_entries != st->index_entries ||
	    (st->is_metadata && st->metadata_published != st->complete_size))
		return true;
	for (size_t i = 0; i < st->n_segs; i++)
		if (!st->segs[i].gone && st->segs[i].synced_size != st->segs[i].size)
			return true;
	return false;
}

static int batch_add_fd(struct batch *b, int fd)
{
	int d, r;

	r = cl_grow(&b->fds, &b->cap_fds, b->n_fds + 1);
	if (r < 0)
		return r;
	d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0)
		return -errno;
	b->fds[b->n_fds++] = d;
	return 0;
}

/* Snapshots what `st` may publish once synced. */
static int batch_add_stream(struct batch *b, struct stream *st)
{
	struct batch_stream *bs;
	int r = cl_grow(&b->streams, &b->cap_streams, b->n_streams + 1);

	if (r < 0)
		return r;
	bs = &b->streams[b->n_streams++];
	memset(bs, 0, sizeof(*bs));
	bs->st = st;
	bs->entries = st->index_entries;
	bs->metadata = st->is_metadata ? st->complete_size : 0;
	bs->metadata_epoch = st->metadata_epoch;
	for (size_t i = 0; i < st->n_segs; i++) {
		const struct segment *sg = &st->segs[i];

		if (!seg_dirty(sg))
			continue;
		r = cl_grow(&bs->targets, &bs->cap_targets, bs->n_targets + 1);
		if (r < 0)
			return r;
		bs->targets[bs->n_targets++] = (struct batch_target){ .gen = sg->gen,
								      .size = sg->size,
								      .entries = sg->n_entries };
	}
	return 0;
}

/* Data pass: snapshots the session's dirty streams and lists data and
 * metadata files; index pass: lists the index files of the same segments. */
static int batch_collect(void *ctx, enum publish_files files)
{
	struct batch *b = ctx;
	struct cl_list_node *n;
	int r = 0;

	if (files == PUBLISH_INDEX) {
		for (size_t k = 0; k < b->n_streams && r == 0; k++) {
			const struct stream *st = b->streams[k].st;

			for (size_t i = 0; !st->is_metadata && i < st->n_segs && r == 0; i++)
				if (seg_dirty(&st->segs[i]) && st->segs[i].index_fd >= 0)
					r = batch_add_fd(b, st->segs[i].index_fd);
		}
		return r;
	}
	cl_list_for_each (n, &b->session->dirty) {
		struct stream *st = cl_container_of(n, struct stream, dirty_node);

		if (!stream_dirty(st))
			continue;
		r = batch_add_stream(b, st);
		if (r < 0)
			return r;
		if (st->is_metadata) {
			struct segment *sg = st->n_segs ? &st->segs[st->n_segs - 1] : NULL;

			if (sg && !sg->gone && st->complete_size > st->metadata_published)
				r = batch_add_fd(b, sg->data_fd);
			if (r < 0)
				return r;
			continue;
		}
		for (size_t i = 0; i < st->n_segs && r == 0; i++)
			if (seg_dirty(&st->segs[i]))
				r = batch_add_fd(b, st->segs[i].data_fd);
		if (r < 0)
			return r;
	}
	return 0;
}

static void batch_advance(void *ctx)
{
	struct batch *b = ctx;

	for (size_t k = 0; k < b->n_streams; k++) {
		const struct batch_stream *bs = &b->streams[k];
		struct stream *st = bs->st;

		for (size_t i = 0; i < bs->n_targets; i++) {
			for (size_t n = 0; n < st->n_segs; n++) {
				struct segment *sg = &st->segs[n];

				if (sg->gen != bs->targets[i].gen)
					continue;
				/* Never past the file's end: a tail dropped while
				 * the batch was synced (drop_unindexed_tail())
				 * would leave the stream dirty for good, the
				 * session synced again and again, never ending. */
				sg->synced_size = CL_MIN(
					CL_MAX(sg->synced_size, bs->targets[i].size), sg->size);
				sg->synced_entries =
					CL_MIN(CL_MAX(sg->synced_entries, bs->targets[i].entries),
					       sg->n_entries);
			}
		}
		if (bs->metadata_epoch == st->metadata_epoch)
			st->metadata_synced = CL_MAX(st->metadata_synced, bs->metadata);
	}
}

static void batch_move_locks(void *ctx, enum publish_files files)
{
	struct batch *b = ctx;

	for (size_t k = 0; k < b->n_streams; k++)
		move_stream_locks(b->streams[k].st, files);
}

static void batch_tell_viewers(void *ctx)
{
	struct batch *b = ctx;

	for (size_t k = 0; k < b->n_streams; k++) {
		const struct batch_stream *bs = &b->streams[k];
		struct stream *st = bs->st;

		st->published_entries = CL_MAX(st->published_entries, bs->entries);
		if (bs->metadata_epoch == st->metadata_epoch)
			st->metadata_published = CL_MAX(st->metadata_published, bs->metadata);
		session_touch(st->session);
	}
	nats_pub_session(b->session); /* --publish: what viewers may now read */
}

static const struct publish_ops batch_ops = {
	.collect = batch_collect,
	.advance = batch_advance,
	.move_locks = batch_move_locks,
	.tell_viewers = batch_tell_viewers,
};

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n_fds; i++)
		close(b->fds[i]);
	for (size_t i = 0; i < b->n_streams; i++)
		free(b->streams[i].targets);
	free(b->streams);
	free(b->fds);
	free(b);
}

static void request_sync(struct relay *relay, struct session *s);

void publish_drop_undurable(struct stream *st)
{
	uint32_t esz = st->index_entry_size;

	for (size_t i = 0; i < st->n_segs; i++) {
		struct segment *sg = &st->segs[i];
		bool last = i + 1 == st->n_segs;
		uint64_t keep;

		if (sg->gone || sg->released)
			continue;
		if (st->is_metadata) {
			/* Older metadata files were replaced by a whole copy in the last one. */
			if (last && sg->data_fd >= 0)
				(void)ftruncate(sg->data_fd, (off_t)st->metadata_synced);
			continue;
		}
		if (sg->data_fd >= 0 && sg->size > sg->synced_size)
			(void)ftruncate(sg->data_fd, (off_t)sg->synced_size);
		sg->size = sg->synced_size;
		keep = cl_index_entry_pos(sg->synced_entries, esz);
		if (sg->index_fd >= 0 && sg->n_entries > sg->synced_entries)
			(void)ftruncate(sg->index_fd, (off_t)keep);
		sg->n_entries = sg->synced_entries;
		if (sg->n_entries == 0)
			sg->has_entries = false;
	}
	if (st->is_metadata) {
		st->complete_size = st->metadata_synced;
		st->metadata_received = st->metadata_synced;
	} else {
		st->file_size = st->n_segs ? st->segs[st->n_segs - 1].size : 0;
		st->complete_size = st->file_size;
	}
	/* What viewers were handed is all there is: they end after it. */
	st->index_entries = st->published_entries;
	st->n_pending = 0;
}

/*
 * A sync of `s` failed: the session stops. One log line per session, and at
 * most one per second for all of them (a dying disk fails every session).
 */
static void session_sync_failed(struct relay *relay, struct session *s, int err)
{
	static struct timespec last;
	static unsigned quiet;
	struct timespec now;
	struct cl_list_node *n;

	s->sync_error = err;
	s->aborted = true;
	relay->sessions_stopped = true;
	cl_list_for_each (n, &s->streams) {
		publish_drop_undurable(cl_container_of(n, struct stream, node));
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (last.tv_sec != 0 && now.tv_sec == last.tv_sec) {
		quiet++;
		return;
	}
	last = now;
	log_error_errno(err,
			"session %llu ('%s'): cannot sync to disk: session stopped, its producer "
			"refused, data after the last durable packet dropped%s",
			(unsigned long long)s->id, s->output_path,
			quiet ? " (more sessions stopped in the last second)" : "");
	quiet = 0;
}

static void batch_done(struct cl_sync_job *job, int result)
{
	struct batch *b = cl_container_of(job, struct batch, job);
	struct relay *relay = b->relay;
	struct session *s = b->session;
	int r;

	if (result == -ECANCELED) {
		/* The worker is stopping with the relay: publish nothing. */
		batch_free(b);
		return;
	}
	r = publish_commit(&batch_ops, b, result);
	s->sync_in_flight = false;
	for (size_t k = 0; k < b->n_streams; k++) {
		b->streams[k].st->sync_in_flight = false;
		if (stream_dirty(b->streams[k].st))
			publish_stream_changed(b->streams[k].st);
		if (b->streams[k].st->closed)
			relay->collect_streams = true; /* relay_collect() frees it */
	}
	if (r < 0 && !s->sync_error)
		session_sync_failed(relay, s, r);
	batch_free(b);
	/* Group commit: what arrived while this batch was synced goes now. */
	request_sync(relay, s);
}

static void completions_cb(struct cl_watch *watch, uint32_t events)
{
	struct publisher *p = cl_container_of(watch, struct publisher, watch);

	(void)events;
	(void)cl_sync_worker_complete(p->worker);
}

static void request_sync(struct relay *relay, struct session *s)
{
	struct publisher *p = relay->publisher;
	struct cl_list_node *n;
	struct batch *b;
	struct cl_list_node *tmp;
	bool dirty = false;
	int r;

	if (!p || s->sync_in_flight || s->sync_error)
		return;
	/* Only the streams written since the last batch: O(dirty streams). */
	cl_list_for_each_safe (n, tmp, &s->dirty) {
		struct stream *st = cl_container_of(n, struct stream, dirty_node);

		if (stream_dirty(st))
			dirty = true;
		else
			cl_list_remove(&st->dirty_node);
	}
	if (!dirty)
		return;
	b = calloc(1, sizeof(*b));
	if (!b) {
		r = -ENOMEM;
		goto fail;
	}
	b->relay = relay;
	b->session = s;
	r = publish_prepare(&batch_ops, b);
	if (r < 0)
		goto fail;
	for (size_t k = 0; k < b->n_streams; k++) {
		/* Covered: marked again by its next write. */
		cl_list_remove(&b->streams[k].st->dirty_node);
		b->streams[k].st->sync_in_flight = true;
	}
	s->sync_in_flight = true;
	b->job.fds = b->fds;
	b->job.n_fds = b->n_fds;
	b->job.done = batch_done;
	cl_sync_submit(p->worker, &b->job);
	return;
fail:
	if (b)
		batch_free(b);
	/* Retried at the next tick; out of descriptors, it may fail for a while. */
	{
		static uint64_t last_s;
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((uint64_t)now.tv_sec != last_s) {
			last_s = (uint64_t)now.tv_sec;
			log_warning_errno(r, "session %llu: cannot queue a sync (retried)",
					  (unsigned long long)s->id);
		}
	}
}

/* ---- the relay's entry points ---- */

int publish_init(struct relay *relay)
{
	struct publisher *p;
	int r;

	if (!relay->sync_publish)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = cl_sync_worker_new(NULL, &p->worker);
	if (r < 0) {
		free(p);
		return r;
	}
	p->watch.fd = cl_sync_worker_fd(p->worker);
	p->watch.cb = completions_cb;
	r = cl_loop_add(relay->loop, &p->watch, EPOLLIN);
	if (r < 0) {
		cl_sync_worker_free(p->worker);
		free(p);
		return r;
	}
	relay->publisher = p;
	return 0;
}

void publish_fini(struct relay *relay)
{
	struct publisher *p = relay->publisher;

	if (!p)
		return;
	cl_loop_del(relay->loop, &p->watch);
	cl_sync_worker_free(p->worker);
	free(p);
	relay->publisher = NULL;
}

void publish_stream_changed(struct stream *st)
{
	if (st->session->relay->sync_publish && st->dirty_node.next == &st->dirty_node)
		cl_list_append(&st->session->dirty, &st->dirty_node);
}

void publish_data_written(struct stream *st)
{
	if (!st->session->relay->sync_publish)
		(void)publish_commit(&now_ops, st, 0);
	else
		publish_stream_changed(st);
}

void publish_entry_written(struct stream *st)
{
	if (!st->session->relay->sync_publish) {
		(void)publish_commit(&now_ops, st, 0);
	} else {
		publish_stream_changed(st);
		request_sync(st->session->relay, st->session);
	}
}

void publish_tick(struct relay *relay)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->sessions) {
		request_sync(relay, cl_container_of(n, struct session, node));
	}
}

bool publish_wait(struct relay *relay)
{
	struct publisher *p = relay->publisher;
	struct cl_list_node *n;
	struct pollfd pfd;
	bool any = false;

	if (!p)
		return false;
	cl_list_for_each (n, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);

		request_sync(relay, s); /* what is not covered yet, now */
		any |= s->sync_in_flight;
	}
	if (!any)
		return false;
	pfd = (struct pollfd){ .fd = p->watch.fd, .events = POLLIN };
	if (poll(&pfd, 1, 2000) <= 0)
		return false;
	return cl_sync_worker_complete(p->worker) > 0;
}

bool publish_busy(const struct stream *st)
{
	return st->sync_in_flight;
}
