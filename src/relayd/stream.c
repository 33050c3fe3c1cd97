/* SPDX-License-Identifier: MIT */
/*
 * Streams: their files (tracefiles with an optional size/count ring, index
 * files, metadata), the matching of index halves, rotation between trace
 * chunks, and closing. Follows lttng-relayd 2.13's on-disk behaviour
 * (relayd-protocol.md §5.4–§5.7, §5.15, §6), plus ctflive's lost-packet index
 * entries (DESIGN.md point 4).
 *
 * Index halves: each (stream, net_seq_num) has a data half (the packet's
 * offset, recorded when its bytes and padding are written) and a control
 * half (SEND_INDEX). The second to arrive writes the entry. A control half
 * whose data can no longer arrive (a later packet arrived, or the stream is
 * closed) is written with offset UINT64_MAX: a packet lost in transit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "ctf-index.h"
#include "file-locks.h"
#include "fsutil.h"
#include "grow.h"
#include "io.h"
#include "log.h"
#include "marker.h"
#include "prep.h"
#include "publish.h"
#include "relay.h"

/* Signed, wrap-safe "a is at or after b" on 64-bit sequence numbers. */
static bool seq_ge(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) >= 0;
}

/* Index version 1.1 from protocol 2.8 on, 1.0 before. */
static uint32_t index_minor(const struct stream *st)
{
	return st->session->minor >= 8 ? CL_INDEX_MINOR_1_1 : CL_INDEX_MINOR_1_0;
}

static bool stream_is_indexed(const struct stream *st)
{
	return !st->is_metadata && !st->session->snapshot && st->session->minor >= 4;
}

static int stream_flush(struct stream *st);
static bool fds_exhausted(int r);
static void make_room(struct relay *relay);
static void close_fd(int *fd);
struct pdir;
static struct pdir *pdir_get(struct relay *relay, int *fd);
static void close_idle_segments(struct stream *st);
static bool all_published(const struct stream *st);
static bool park(struct relay *relay, struct stream *st);

static void tracefile_name(const struct stream *st, uint64_t n, char *buf, size_t cap)
{
	stream_tracefile_name(st, n, buf, cap);
}

static struct segment *seg_by_gen(struct stream *st, uint64_t gen)
{
	for (size_t i = st->n_segs; i-- > 0;)
		if (st->segs[i].gen == gen)
			return &st->segs[i];
	return NULL;
}

static struct segment *cur_seg(struct stream *st)
{
	return seg_by_gen(st, st->gen);
}

/* Starts a segment for the data file just opened (its fd is duplicated). */
static int add_segment(struct stream *st)
{
	struct segment *sg;
	int r = cl_grow(&st->segs, &st->cap_segs, st->n_segs + 1);

	if (r < 0)
		return r;
	sg = &st->segs[st->n_segs];
	memset(sg, 0, sizeof(*sg));
	sg->index_fd = -1;
	sg->data_fd = fcntl(st->data_fd, F_DUPFD_CLOEXEC, 0);
	if (sg->data_fd < 0)
		return -errno;
	sg->gen = st->gen;
	sg->index_unlocked = CL_INDEX_HEADER_SIZE;
	sg->chunk_serial = st->chunk ? st->chunk->serial : 0;
	sg->tracefile = st->tracefile_index;
	st->n_segs++;
	return 0;
}

static int open_data_file(struct stream *st)
{
	char name[300];
	int fd;

	int r;

	tracefile_name(st, st->tracefile_index, name, sizeof(name));
	r = cl_lock_create_file(st->dir_fd, name, NULL, 0, &fd);
	if (r < 0)
		return r;
	st->data_fd = fd;
	st->file_size = 0;
	st->complete_size = 0;
	st->indexed_end = 0;
	st->gen++;
	return add_segment(st);
}

/* Asks the helper for the stream's next index file (prep.h), if there is one. */
static void prep_index_file(struct stream *st)
{
	struct prep *p = st->session->relay->prep;
	uint8_t hdr[CL_INDEX_HEADER_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(hdr, sizeof(hdr));

	if (!p || st->idx_prep || !stream_is_indexed(st) ||
	    cl_index_header_encode(&wb, index_minor(st)) < 0)
		return;
	(void)prep_submit(p, hdr, sizeof(hdr), &st->idx_prep); /* else made when needed */
}

static void prep_drop(struct stream *st)
{
	prep_cancel(st->session->relay->prep, st->idx_prep);
	st->idx_prep = NULL;
}

/*
 * Names the index file made ahead `name` beneath `dfd`: 0 and *ret_fd, or
 * -EAGAIN when there is none or it cannot be used here (made the usual way
 * then), or another -errno (the name exists, ...).
 */
static int link_prepared(struct stream *st, int dfd, const char *name, int *ret_fd)
{
	struct prep_file *f = st->idx_prep;
	int fd, r;

	if (!f)
		return -EAGAIN;
	st->idx_prep = NULL;
	r = prep_take(st->session->relay->prep, f, &fd);
	if (r < 0)
		return -EAGAIN;
	r = cl_lock_link_file(fd, dfd, name);
	if (r < 0) {
		close(fd);
		return r == -EEXIST ? r : -EAGAIN;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * Creates the index file of tracefile slot `tracefile` (header written,
 * locked): the one made ahead (prep.h) when `prepared`, else now.
 */
static int create_index_file(struct stream *st, uint64_t tracefile, bool prepared, int *ret_fd)
{
	char name[320], tf[300];
	uint8_t hdr[CL_INDEX_HEADER_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(hdr, sizeof(hdr));
	int dfd, r;

	r = cl_index_header_encode(&wb, index_minor(st));
	if (r < 0)
		return r;

	r = cl_mkdir_beneath(st->dir_fd, "index", &dfd);
	if (r < 0)
		return r;
	tracefile_name(st, tracefile, tf, sizeof(tf));
	(void)snprintf(name, sizeof(name), "%s.idx", tf);
	/* Replacing (not truncating) an old file keeps it whole for readers that hold it. */
	r = prepared ? link_prepared(st, dfd, name, ret_fd) : -EAGAIN;
	if (r == -EAGAIN)
		r = cl_lock_create_file(dfd, name, hdr, sizeof(hdr), ret_fd);
	close(dfd);
	return r;
}

static int open_index_file(struct stream *st)
{
	int fd, r = create_index_file(st, st->tracefile_index, true, &fd);

	if (r < 0)
		return r;
	if (st->tracefile_size > 0)
		prep_index_file(st); /* the next tracefile's */
	st->index_fd = fd;
	if (cur_seg(st) && cur_seg(st)->index_fd < 0)
		cur_seg(st)->index_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return 0;
}

/*
 * The index descriptor of an older file of the stream (data switched to
 * newer tracefiles before this entry's control half came: the data and
 * control connections are separate sockets, and a producer that does not
 * wait for SEND_INDEX replies lets the data run packets ahead). Its own
 * descriptor (a duplicate of the one it was written
 * with, sharing its position: the end), or its index file created now if no
 * entry of it was written yet. -ENOENT: the file is gone (the tracefile
 * ring reused its slot, or a clear deleted it) or in another trace chunk.
 */
static int old_index_fd(struct stream *st, uint64_t gen, int *ret_fd)
{
	struct segment *sg = seg_by_gen(st, gen);
	int r;

	if (!sg || sg->gone || sg->released || !st->chunk ||
	    sg->chunk_serial != st->chunk->serial || st->dir_fd < 0)
		return -ENOENT;
	if (sg->index_fd < 0) {
		r = create_index_file(st, sg->tracefile, false, &sg->index_fd);
		if (r < 0)
			return r;
	}
	*ret_fd = sg->index_fd;
	return 0;
}

/* Closes the current data file; its index file becomes the previous one. */
static void retire_files(struct stream *st)
{
	int r = stream_flush(st);

	if (r < 0)
		log_warning_errno(r, "stream %llu: cannot write before switching files",
				  (unsigned long long)st->handle);
	if (st->data_fd >= 0)
		close(st->data_fd);
	st->data_fd = -1;
	if (st->prev_index_fd >= 0)
		close(st->prev_index_fd);
	st->prev_index_fd = st->index_fd;
	st->index_fd = -1;
}

static struct pending_index *pending_find(struct stream *st, uint64_t seq)
{
	for (size_t i = 0; i < st->n_pending; i++)
		if (st->pending[i].net_seq_num == seq)
			return &st->pending[i];
	return NULL;
}

static int pending_get(struct stream *st, uint64_t seq, struct pending_index **ret)
{
	struct pending_index *p = pending_find(st, seq);
	int r;

	if (!p) {
		if (st->n_pending >= RELAY_MAX_PENDING_INDEXES)
			return -E2BIG;
		r = cl_grow(&st->pending, &st->cap_pending, st->n_pending + 1);
		if (r < 0)
			return r;
		p = &st->pending[st->n_pending++];
		memset(p, 0, sizeof(*p));
		p->net_seq_num = seq;
	}
	*ret = p;
	return 0;
}

static void pending_drop(struct stream *st, struct pending_index *p)
{
	size_t i = (size_t)(p - st->pending);

	st->pending[i] = st->pending[--st->n_pending];
}

/* ---- write batches (relay.h: stream.wv, stream.idx_q) ---- */

#define WV_MAX   1024        /* iovecs per writev (IOV_MAX on Linux) */
#define ZEROS    (64u << 10) /* bytes of padding per iovec */
#define KEEP_CAP (16u << 10) /* bytes of batch arrays a stream keeps between reads */

static const uint8_t zeros[ZEROS];

static void queue_stream(struct stream *st)
{
	struct relay *relay = st->session->relay;

	if (st->queued)
		return;
	/* Growth failure: the stream is flushed at once instead. */
	if (cl_grow(&relay->wq, &relay->cap_wq, relay->n_wq + 1) < 0)
		return;
	relay->wq[relay->n_wq++] = st;
	st->queued = true;
}

static int packet_done(struct stream *st, const struct ended_packet *p);
static int flush_index(struct stream *st);

/* writev() of all of st->wv; *ret_done: bytes written, also on error. */
static int writev_all(int fd, struct iovec *v, size_t n, uint64_t *ret_done)
{
	*ret_done = 0;
	while (n > 0) {
		ssize_t w = writev(fd, v, (int)CL_MIN(n, (size_t)WV_MAX));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		*ret_done += (uint64_t)w;
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (uint8_t *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Does the stream's batched writes, then what they complete. Reentrant
 * (a packet's end may close or rotate the stream, which flushes). */
static int stream_flush(struct stream *st)
{
	size_t n_ended = st->n_ended;
	uint64_t done;
	int r = 0;

	st->n_ended = 0;
	if (st->n_wv) {
		size_t n = st->n_wv;

		st->n_wv = 0;
		st->wv_bytes = 0;
		r = st->data_fd < 0 ? -EBADF : writev_all(st->data_fd, st->wv, n, &done);
		if (st->data_fd >= 0)
			st->file_size += done;
	}
	for (size_t i = 0; i < n_ended && r == 0; i++)
		r = packet_done(st, &st->ended[i]);
	if (r == 0)
		r = flush_index(st);
	if (r < 0) {
		cl_buf_clear(&st->idx_q);
		st->idx_q_n = 0;
	}
	return r;
}

/* Between reads: a stream keeps little memory for its next batch (never
 * inside stream_flush(), whose callers may still walk st->ended). */
static void batch_shrink(struct stream *st)
{
	if (st->cap_wv * sizeof(*st->wv) > KEEP_CAP) {
		free(st->wv);
		st->wv = NULL;
		st->cap_wv = 0;
	}
	if (st->cap_ended * sizeof(*st->ended) > KEEP_CAP) {
		free(st->ended);
		st->ended = NULL;
		st->cap_ended = 0;
	}
	if (st->idx_q.cap > KEEP_CAP)
		cl_buf_free(&st->idx_q);
}

int stream_flush_all(struct relay *relay)
{
	int r = 0;

	if (relay->in_flush)
		return 0; /* the outer call goes on with the list */
	relay->in_flush = true;

	/* Streams may queue again while flushed (a packet's end writes an
	 * index entry): they are appended and flushed in turn. */
	for (size_t i = 0; i < relay->n_wq; i++) {
		struct stream *st = relay->wq[i];
		int e;

		st->queued = false;
		e = stream_flush(st);
		batch_shrink(st);
		if (e < 0) {
			log_error_errno(e, "session %llu: stream %llu: cannot write",
					(unsigned long long)st->session->id,
					(unsigned long long)st->handle);
			if (r == 0)
				r = e;
		}
	}
	relay->n_wq = 0;
	relay->in_flush = false;
	return r;
}

void stream_batch_free(struct relay *relay, struct stream *st)
{
	if (st->queued) {
		for (size_t i = 0; i < relay->n_wq; i++)
			if (relay->wq[i] == st)
				relay->wq[i] = relay->wq[--relay->n_wq];
		st->queued = false;
	}
	free(st->wv);
	free(st->ended);
	cl_buf_free(&st->idx_q);
}

/* Queues n data bytes borrowed from the caller until the stream is flushed. */
static int wv_add(struct stream *st, const uint8_t *buf, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	if (st->n_wv >= WV_MAX) {
		r = stream_flush(st);
		if (r < 0)
			return r;
	}
	r = cl_grow(&st->wv, &st->cap_wv, st->n_wv + 1);
	if (r < 0)
		return r;
	st->wv[st->n_wv++] = (struct iovec){ .iov_base = (void *)(uintptr_t)buf, .iov_len = n };
	st->wv_bytes += n;
	queue_stream(st);
	return st->queued ? 0 : stream_flush(st);
}

static int wv_add_zeros(struct stream *st, uint64_t n)
{
	int r = 0;

	while (n > 0 && r == 0) {
		size_t k = (size_t)CL_MIN(n, (uint64_t)ZEROS);

		r = wv_add(st, zeros, k);
		n -= k;
	}
	return r;
}

/* Writes the queued index entries and counts them. */
static int flush_index(struct stream *st)
{
	uint64_t n = st->idx_q_n;
	struct segment *sg;
	int r;

	if (st->idx_q.len == 0)
		return 0;
	r = st->session->sync_error;
	if (r == 0)
		r = cl_write_full(st->idx_q_fd, st->idx_q.data, st->idx_q.len);
	cl_buf_clear(&st->idx_q);
	st->idx_q_n = 0;
	if (r < 0)
		return r;
	sg = seg_by_gen(st, st->idx_q_gen);
	if (sg) {
		if (!sg->has_entries) {
			sg->has_entries = true;
			sg->first_entry = st->index_entries;
		}
		sg->n_entries += n;
	}
	st->index_entries += n;
	publish_entry_written(st);
	return 0;
}

/* Queues one .idx entry. `offset` is CL_INDEX_LOST_OFFSET for a lost packet. */
static int write_index_entry(struct stream *st, const struct cl_relayd_index *ix, uint64_t offset,
			     uint64_t gen)
{
	struct cl_index_entry e = {
		.offset = offset,
		.packet_size = ix->packet_size,
		.content_size = ix->content_size,
		.timestamp_begin = ix->timestamp_begin,
		.timestamp_end = ix->timestamp_end,
		.events_discarded = ix->events_discarded,
		.stream_id = ix->stream_id,
		.stream_instance_id = ix->stream_instance_id,
		.packet_seq_num = ix->packet_seq_num,
	};
	uint8_t buf[CL_INDEX_ENTRY_SIZE_1_1];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	uint64_t sg_gen;
	int fd, r;

	if (st->session->sync_error)
		return st->session->sync_error;
	/* Only now are its files needed (a control half alone needs none). */
	r = stream_use(st->session->relay, st);
	if (r < 0)
		return r;
	if (gen == st->gen || offset == CL_INDEX_LOST_OFFSET) {
		if (st->index_fd < 0) {
			if (st->dir_fd < 0)
				return -EBADF;
			r = open_index_file(st);
			if (r < 0)
				return r;
		}
		fd = st->index_fd;
	} else if (gen + 1 == st->gen && st->prev_index_fd >= 0) {
		fd = st->prev_index_fd;
	} else if ((r = old_index_fd(st, gen, &fd)) < 0) {
		log_warning("stream %llu: index of packet %llu is for a file already rotated away "
			    "or deleted (%s), dropping it",
			    (unsigned long long)st->handle, (unsigned long long)ix->net_seq_num,
			    strerror(-r));
		return 0;
	}

	sg_gen = fd == st->index_fd ? st->gen : gen;
	if (st->idx_q.len && (st->idx_q_fd != fd || st->idx_q_gen != sg_gen)) {
		r = flush_index(st);
		if (r < 0)
			return r;
	}
	r = cl_index_entry_encode(&wb, &e, st->index_entry_size);
	if (r == 0)
		r = cl_buf_append(&st->idx_q, buf, wb.pos);
	if (r < 0)
		return r;
	st->idx_q_fd = fd;
	st->idx_q_gen = sg_gen;
	st->idx_q_n++;
	queue_stream(st);
	if (!st->queued) {
		r = flush_index(st);
		if (r < 0)
			return r;
	}

	if (gen == st->gen && offset != CL_INDEX_LOST_OFFSET)
		st->indexed_end = CL_MAX(st->indexed_end, offset + ix->packet_size / 8);
	st->prev_index_seq = ix->net_seq_num;
	st->has_index = true;
	st->last_index_packet_seq = ix->packet_seq_num;
	st->last_index_net_seq = ix->net_seq_num;
	st->has_beacon = false;
	st->ctf_stream_id = ix->stream_id;
	return 0;
}

/* Control halves older than `seq` whose data never came: lost in transit. */
static int write_lost_before(struct stream *st, uint64_t seq, bool all)
{
	int r = 0;

	for (size_t i = 0; i < st->n_pending;) {
		struct pending_index *p = &st->pending[i];

		if (p->has_ctrl && !p->has_data && (all || !seq_ge(p->net_seq_num, seq))) {
			log_debug("stream %llu: packet %llu lost in transit",
				  (unsigned long long)st->handle,
				  (unsigned long long)p->net_seq_num);
			st->lost_packets++;
			r = write_index_entry(st, &p->ctrl, CL_INDEX_LOST_OFFSET, st->gen);
			pending_drop(st, p);
			if (r < 0)
				return r;
			continue;
		}
		i++;
	}
	return r;
}

/*
 * Pre-2.11 peers name the session directory only in their stream paths
 * ("<host>/<session>-<datetime>/ust/..."): the first stream tells where the
 * session marker goes.
 */
static void legacy_session_dir(struct relay *relay, struct session *s, const char *path)
{
	size_t host_len = strcspn(path, "/"), name_len = strlen(s->session_name);
	const char *second = path + host_len + (path[host_len] ? 1 : 0);
	size_t second_len = strcspn(second, "/");
	char *dir;
	int fd;

	if (host_len != strlen(s->hostname) || strncmp(path, s->hostname, host_len) ||
	    second_len <= name_len || strncmp(second, s->session_name, name_len) ||
	    second[name_len] != '-' || !second[second_len])
		return;
	dir = strndup(path, host_len + 1 + second_len);
	if (!dir)
		return;
	if (cl_open_dir_beneath(relay->output_fd, dir, &fd) < 0) {
		free(dir);
		return;
	}
	free(s->output_path);
	s->output_path = dir;
	close(s->dir_fd);
	s->dir_fd = fd;
	if (marker_acquire(relay, s) < 0)
		log_warning("session %llu: cannot create the session marker in '%s'",
			    (unsigned long long)s->id, dir);
}

/* ---- streams by handle: every data header and SEND_INDEX looks one up ---- */

static size_t handle_slot(size_t cap, uint64_t handle)
{
	return (size_t)((handle * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (cap - 1);
}

static int table_add(struct relay *relay, struct stream *st)
{
	size_t slot;

	if (relay->stream_tab_n >= relay->stream_tab_cap) {
		size_t cap = relay->stream_tab_cap ? relay->stream_tab_cap * 2 : 64;
		struct stream **tab = calloc(cap, sizeof(*tab));

		if (!tab)
			return -ENOMEM;
		for (size_t i = 0; i < relay->stream_tab_cap; i++) {
			struct stream *o = relay->stream_tab[i], *next;

			for (; o; o = next) {
				next = o->hash_next;
				slot = handle_slot(cap, o->handle);
				o->hash_next = tab[slot];
				tab[slot] = o;
			}
		}
		free(relay->stream_tab);
		relay->stream_tab = tab;
		relay->stream_tab_cap = cap;
	}
	slot = handle_slot(relay->stream_tab_cap, st->handle);
	st->hash_next = relay->stream_tab[slot];
	relay->stream_tab[slot] = st;
	relay->stream_tab_n++;
	return 0;
}

void stream_forget(struct relay *relay, struct stream *st)
{
	struct stream **p;

	if (!relay->stream_tab_cap)
		return;
	for (p = &relay->stream_tab[handle_slot(relay->stream_tab_cap, st->handle)]; *p;
	     p = &(*p)->hash_next) {
		if (*p == st) {
			*p = st->hash_next;
			/* The last stream gone: nothing kept (relays torn down by
			 * freeing their streams need no other call). */
			if (--relay->stream_tab_n == 0)
				stream_table_free(relay);
			return;
		}
	}
}

void stream_table_free(struct relay *relay)
{
	free(relay->wq);
	relay->wq = NULL;
	relay->n_wq = relay->cap_wq = 0;
	free(relay->stream_tab);
	relay->stream_tab = NULL;
	relay->stream_tab_cap = relay->stream_tab_n = 0;
}

struct stream *stream_find_any(struct relay *relay, uint64_t handle)
{
	struct stream *st;

	if (!relay->stream_tab_cap)
		return NULL;
	for (st = relay->stream_tab[handle_slot(relay->stream_tab_cap, handle)]; st;
	     st = st->hash_next)
		if (st->handle == handle)
			return st;
	return NULL;
}

/* Streams with the same path in a session form one CTF trace. */
static uint64_t trace_id_for(struct relay *relay, struct session *s, const char *path)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &s->streams) {
		struct stream *o = cl_container_of(n, struct stream, node);

		if (!strcmp(o->pathname, path))
			return o->trace_id;
	}
	return ++relay->next_trace_id;
}

int stream_create(struct relay *relay, struct session *s, const struct cl_relayd_add_stream *m,
		  struct stream **ret)
{
	char path[CL_RELAYD_PATH_MAX], name[300];
	struct stream *st;
	int r;

	if (!s->current_chunk)
		return -ENOENT;
	if (s->n_streams >= RELAY_MAX_STREAMS_PER_SESS)
		return -E2BIG;
	if (!cl_is_safe_component(m->channel_name))
		return -EINVAL;
	r = cl_normalize_relpath(m->pathname, true, false, path, sizeof(path));
	if (r < 0)
		return r;

	make_room(relay);
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->session = s;
	st->index_entry_size = cl_index_entry_size(index_minor(st));
	st->dir_fd = st->data_fd = st->index_fd = st->prev_index_fd = st->idx_q_fd = -1;
	st->prev_data_seq = st->prev_index_seq = UINT64_MAX;
	st->tracefile_size = m->tracefile_size;
	st->tracefile_count = m->tracefile_count;
	st->is_metadata = strcmp(m->channel_name, "metadata") == 0;
	if (st->is_metadata)
		st->tracefile_size = 0; /* metadata is never split */
	st->channel_name = strdup(m->channel_name);
	st->pathname = strdup(path);
	cl_list_node_init(&st->node);
	cl_list_node_init(&st->global_node);
	cl_list_node_init(&st->dirty_node);
	cl_list_node_init(&st->lru_node);
	if (!st->channel_name || !st->pathname) {
		r = -ENOMEM;
		goto fail;
	}
	r = cl_mkdir_beneath(s->current_chunk->dir_fd, path, &st->dir_fd);
	if (fds_exhausted(r) && stream_park_idle(relay, 8) > 0)
		r = cl_mkdir_beneath(s->current_chunk->dir_fd, path, &st->dir_fd);
	if (r < 0)
		goto fail;
	r = chunk_note_top_entry(s->current_chunk, path);
	if (r < 0)
		goto fail;
	if (s->minor < 11 && !s->has_marker)
		legacy_session_dir(relay, s, path);
	tracefile_name(st, 0, name, sizeof(name));
	r = cl_lock_create_file(st->dir_fd, name, NULL, 0, &st->data_fd);
	if (fds_exhausted(r) && stream_park_idle(relay, 8) > 0)
		r = cl_lock_create_file(st->dir_fd, name, NULL, 0, &st->data_fd);
	if (r < 0)
		goto fail;
	st->gen = 1;
	st->chunk = chunk_ref(s->current_chunk);
	r = add_segment(st);
	if (r < 0) {
		chunk_unref(relay, st->chunk);
		close(st->data_fd);
		goto fail;
	}
	st->trace_id = trace_id_for(relay, s, path);
	st->handle = relay->next_stream_handle;
	r = table_add(relay, st);
	if (r < 0) {
		chunk_unref(relay, st->chunk);
		close(st->data_fd);
		close(st->segs[0].data_fd);
		free(st->segs);
		goto fail;
	}
	relay->next_stream_handle++;
	cl_list_append(&s->streams, &st->node);
	cl_list_append(&relay->streams, &st->global_node);
	cl_list_append(&relay->active, &st->lru_node);
	relay->n_active++;
	s->n_streams++;
	prep_index_file(st);
	*ret = st;
	return 0;
fail:
	if (st->dir_fd >= 0)
		close(st->dir_fd);
	free(st->channel_name);
	free(st->pathname);
	free(st);
	return r;
}

struct stream *stream_find(struct relay *relay, uint64_t handle)
{
	struct stream *st = stream_find_any(relay, handle);

	return st && !st->closed ? st : NULL;
}

int stream_write_metadata_padding(struct stream *st, uint64_t padding)
{
	int r;

	if (st->data_fd < 0)
		return -EBADF;
	if (st->session->sync_error)
		return st->session->sync_error;
	r = cl_write_zeros(st->data_fd, padding);
	if (r == 0)
		st->metadata_received += padding;
	if (r == 0) {
		st->complete_size = st->metadata_received;
		publish_entry_written(st);
	}
	return r;
}

int stream_reset_metadata(struct stream *st)
{
	if (st->data_fd < 0)
		return -EBADF;
	if (ftruncate(st->data_fd, 0) < 0 || lseek(st->data_fd, 0, SEEK_SET) < 0)
		return -errno;
	st->metadata_received = 0;
	st->metadata_synced = 0;
	st->metadata_published = 0;
	st->metadata_epoch++;
	publish_stream_changed(st);
	return 0;
}

/* Moves the stream's files to its rotation target (or closes them for "no chunk"). */
static int do_rotate(struct relay *relay, struct stream *st)
{
	struct chunk *target = st->rotation_chunk;
	int r = 0;

	retire_files(st);
	if (st->dir_fd >= 0)
		close(st->dir_fd);
	st->dir_fd = -1;
	if (st->chunk)
		chunk_unref(relay, st->chunk);
	st->chunk = NULL;
	st->rotation_pending = false;
	st->rotation_chunk = NULL;
	st->rotate_net_seq_known = false;

	if (st->rotation_to_chunk && target) {
		st->chunk = target; /* takes the rotation reference */
		r = cl_mkdir_beneath(target->dir_fd, st->pathname, &st->dir_fd);
		if (r == 0)
			r = chunk_note_top_entry(target, st->pathname);
		if (r == 0) {
			st->tracefile_index = 0;
			st->tracefiles_used = 0;
			r = open_data_file(st);
		}
		if (r == 0 && st->is_metadata) {
			/* The new file gets the whole metadata again. */
			st->metadata_received = 0;
			st->metadata_synced = 0;
			st->metadata_published = 0;
			st->metadata_epoch++;
			publish_stream_changed(st);
		}
	} else {
		st->gen++;
	}
	log_debug("stream %llu: rotated to %s", (unsigned long long)st->handle,
		  target ? "a new trace chunk" : "no trace chunk");
	return r;
}

/*
 * Data written past the last packet of the old chunk (the data socket ran
 * ahead of the control socket) moves to the new file.
 */
static int move_excess(struct relay *relay, struct stream *st, uint64_t cut)
{
	uint64_t len = st->file_size - cut, old_gen = st->gen;
	int old_fd = dup(st->data_fd), r;
	uint8_t buf[65536];

	if (old_fd < 0)
		return -errno;
	r = do_rotate(relay, st);
	for (uint64_t off = 0; r == 0 && off < len;) {
		size_t n = (size_t)CL_MIN((uint64_t)sizeof(buf), len - off);

		r = cl_pread_full(old_fd, buf, n, cut + off);
		if (r == 0 && st->data_fd >= 0)
			r = cl_write_full(st->data_fd, buf, n);
		off += n;
	}
	if (r == 0 && ftruncate(old_fd, (off_t)cut) < 0)
		r = -errno;
	close(old_fd);
	if (r < 0)
		return r;
	st->file_size = st->data_fd >= 0 ? len : 0;
	for (size_t i = 0; i < st->n_pending; i++) {
		struct pending_index *p = &st->pending[i];

		if (p->has_data && p->gen == old_gen && p->offset >= cut) {
			p->offset -= cut;
			p->gen = st->gen;
		}
	}
	return 0;
}

/* Performs a pending rotation once the last packet of the old chunk is known and written. */
static int try_rotate(struct relay *relay, struct stream *st)
{
	uint64_t boundary;

	if (!st->rotation_pending || !st->rotate_net_seq_known || st->busy)
		return 0;
	boundary = st->rotate_after_net_seq;
	if (boundary != UINT64_MAX && st->prev_data_seq != UINT64_MAX &&
	    !seq_ge(st->prev_data_seq, boundary))
		return 0; /* old-chunk data still to come */
	if (boundary != UINT64_MAX && st->prev_data_seq == UINT64_MAX)
		return 0;
	if (st->prev_data_seq != boundary && st->prev_data_seq != UINT64_MAX) {
		/* Excess: the first new-chunk packet's offset is where the old file ends. */
		uint64_t cut = st->file_size;

		for (size_t i = 0; i < st->n_pending; i++) {
			struct pending_index *p = &st->pending[i];

			if (p->has_data && p->gen == st->gen && !seq_ge(boundary, p->net_seq_num) &&
			    p->offset < cut)
				cut = p->offset;
		}
		return move_excess(relay, st, cut);
	}
	return do_rotate(relay, st);
}

/* Learns the last net_seq_num of the old chunk from an index entry. */
static void note_rotation_boundary(struct stream *st, const struct cl_relayd_index *ix)
{
	if (!st->rotation_pending || st->rotate_net_seq_known || ix->packet_seq_num == UINT64_MAX)
		return;
	if (ix->packet_seq_num + 1 >= st->rotate_at_packet_seq) {
		/* This packet or an earlier one is the last of the old chunk. */
		uint64_t back = ix->packet_seq_num + 1 - st->rotate_at_packet_seq;

		st->rotate_after_net_seq = ix->net_seq_num - back;
		st->rotate_net_seq_known = true;
	}
}

int stream_set_rotation(struct relay *relay, struct stream *st, struct chunk *new_chunk,
			uint64_t rotate_at_packet_seq)
{
	int r = stream_flush(st);

	if (r < 0)
		return r;
	if (st->rotation_pending)
		return -EPROTO; /* a second rotation while one is pending */
	r = stream_use(relay, st);
	if (r < 0)
		return r;
	st->rotation_pending = true;
	st->rotation_to_chunk = new_chunk != NULL;
	st->rotation_chunk = new_chunk ? chunk_ref(new_chunk) : NULL;
	st->rotate_at_packet_seq = rotate_at_packet_seq;
	st->rotate_net_seq_known = false;

	if (st->is_metadata || !stream_is_indexed(st)) {
		/* Metadata switches at once (it is resent in full); unindexed streams too. */
		st->rotate_after_net_seq = st->prev_data_seq;
		st->rotate_net_seq_known = true;
	} else if (rotate_at_packet_seq == 0 && !st->has_index) {
		st->rotate_after_net_seq = UINT64_MAX;
		st->rotate_net_seq_known = true;
	} else if (st->has_index && st->last_index_packet_seq != UINT64_MAX &&
		   st->last_index_packet_seq + 1 >= rotate_at_packet_seq) {
		st->rotate_after_net_seq = st->last_index_net_seq -
					   (st->last_index_packet_seq + 1 - rotate_at_packet_seq);
		st->rotate_net_seq_known = true;
	}
	return try_rotate(relay, st);
}

static int next_tracefile(struct stream *st)
{
	char name[300];
	int r;

	retire_files(st);
	close_idle_segments(st);
	st->tracefile_index++;
	if (st->tracefile_count > 0)
		st->tracefile_index %= st->tracefile_count;
	st->tracefiles_used++;
	if (st->tracefile_count > 0 && st->tracefiles_used >= st->tracefile_count) {
		int idx_fd;

		/* The ring wrapped: unlink the old file so readers holding it keep it. */
		for (size_t i = 0; i < st->n_segs; i++)
			if (st->segs[i].tracefile == st->tracefile_index &&
			    (!st->chunk || st->segs[i].chunk_serial == st->chunk->serial))
				segment_gone(&st->segs[i]);
		tracefile_name(st, st->tracefile_index, name, sizeof(name));
		(void)unlinkat(st->dir_fd, name, 0);
		if (cl_open_dir_beneath(st->dir_fd, "index", &idx_fd) == 0) {
			size_t l = strlen(name);

			(void)snprintf(name + l, sizeof(name) - l, ".idx");
			(void)unlinkat(idx_fd, name, 0);
			close(idx_fd);
		}
	}
	r = open_data_file(st);
	/* Out of descriptors: older files become closable once published. */
	for (int i = 0; i < 3 && (r == -EMFILE || r == -ENFILE) && publish_wait(st->session->relay);
	     i++) {
		close_idle_segments(st);
		r = open_data_file(st);
	}
	return r;
}

int stream_begin_packet(struct relay *relay, struct stream *st, uint64_t net_seq_num,
			uint64_t data_size, uint64_t padding_size)
{
	uint64_t last;
	int r;

	(void)padding_size;
	if (st->is_metadata)
		return -EPROTO;
	r = stream_use(relay, st);
	if (r < 0)
		return r;
	/* What may switch files or end the stream works on written files. */
	if ((st->rotation_pending || st->tracefile_size > 0 || st->close_requested) &&
	    (st->n_wv || st->n_ended)) {
		r = stream_flush(st);
		if (r < 0)
			return r;
	}
	r = try_rotate(relay, st);
	if (r < 0)
		return r;
	if (st->data_fd < 0)
		return -EPROTO; /* closed, or rotated to no chunk */
	if (st->session->sync_error)
		return st->session->sync_error;
	last = st->n_ended ? st->ended[st->n_ended - 1].net_seq_num : st->prev_data_seq;
	if (last != UINT64_MAX && seq_ge(last, net_seq_num))
		return -EPROTO; /* net_seq_num must increase */
	if (st->tracefile_size > 0 && st->file_size > 0 &&
	    st->file_size + data_size > st->tracefile_size) {
		r = next_tracefile(st);
		if (r < 0)
			return r;
	}
	st->packet_start = st->file_size + st->wv_bytes;
	st->busy++;
	return 0;
}

int stream_write(struct stream *st, const uint8_t *buf, size_t n)
{
	int r;

	if (st->data_fd < 0)
		return -EBADF;
	if (st->session->sync_error)
		return st->session->sync_error;
	if (!st->is_metadata)
		return wv_add(st, buf, n); /* borrowed until the end of the read */
	r = cl_write_full(st->data_fd, buf, n);
	if (r == 0)
		st->metadata_received += n; /* published by whole messages, at the padding */
	return r;
}

int stream_end_packet(struct relay *relay, struct stream *st, uint64_t net_seq_num,
		      const uint8_t *tail, size_t tail_len, uint64_t padding_size)
{
	int r;

	(void)relay;
	st->busy--;
	if (st->data_fd < 0)
		return -EBADF;
	if (st->session->sync_error)
		return st->session->sync_error;
	/* The body's last bytes and the padding join the stream's batch. */
	r = wv_add(st, tail, tail_len);
	if (r == 0)
		r = wv_add_zeros(st, padding_size);
	if (r == 0)
		r = cl_grow(&st->ended, &st->cap_ended, st->n_ended + 1);
	if (r < 0)
		return r;
	st->ended[st->n_ended++] = (struct ended_packet){
		.net_seq_num = net_seq_num,
		.start = st->packet_start,
		.end = st->file_size + st->wv_bytes,
	};
	queue_stream(st);
	return st->queued ? 0 : stream_flush(st);
}

/* A packet's bytes are written: it is whole, its index entry may follow. */
static int packet_done(struct stream *st, const struct ended_packet *pk)
{
	struct relay *relay = st->session->relay;
	struct pending_index *p;
	int r;

	if (st->data_fd < 0)
		return -EBADF;
	if (st->session->sync_error)
		return st->session->sync_error;
	st->complete_size = pk->end;
	st->prev_data_seq = pk->net_seq_num;
	if (cur_seg(st))
		cur_seg(st)->size = pk->end;
	publish_data_written(st);

	if (stream_is_indexed(st)) {
		r = write_lost_before(st, pk->net_seq_num, false);
		if (r < 0)
			return r;
		r = pending_get(st, pk->net_seq_num, &p);
		if (r < 0)
			return r;
		p->has_data = true;
		p->offset = pk->start;
		p->gen = st->gen;
		if (p->has_ctrl) {
			struct cl_relayd_index ix = p->ctrl;
			uint64_t off = p->offset, gen = p->gen;

			pending_drop(st, p);
			r = write_index_entry(st, &ix, off, gen);
			if (r < 0)
				return r;
		}
	}
	r = try_rotate(relay, st);
	if (r < 0)
		return r;
	if (st->close_requested && seq_ge(pk->net_seq_num, st->last_net_seq_num))
		stream_close(relay, st);
	return 0;
}

int stream_add_index(struct relay *relay, struct stream *st, const struct cl_relayd_index *ix)
{
	struct pending_index *p;
	int r;

	if (ix->packet_size == 0) {
		/* Beacon (§7.2): the stream is idle up to timestamp_end. */
		bool half = false;

		for (size_t i = 0; i < st->n_pending; i++)
			half |= st->pending[i].has_ctrl != st->pending[i].has_data;
		if (!half) {
			st->has_beacon = true;
			st->beacon_ts_end = ix->timestamp_end;
			st->ctf_stream_id = ix->stream_id;
			session_touch(st->session);
		}
		return 0;
	}
	if (!stream_is_indexed(st))
		return 0;
	if (st->prev_index_seq != UINT64_MAX && seq_ge(st->prev_index_seq, ix->net_seq_num))
		return -EPROTO; /* duplicate or out of order */

	p = pending_find(st, ix->net_seq_num);
	if (p && p->has_ctrl)
		return -EPROTO;
	if (!p && st->prev_data_seq != UINT64_MAX && seq_ge(st->prev_data_seq, ix->net_seq_num)) {
		/* Its data was skipped: the packet was lost in transit. */
		st->lost_packets++;
		r = write_index_entry(st, ix, CL_INDEX_LOST_OFFSET, st->gen);
	} else {
		r = pending_get(st, ix->net_seq_num, &p);
		if (r < 0)
			return r;
		p->has_ctrl = true;
		p->ctrl = *ix;
		if (p->has_data) {
			uint64_t off = p->offset, gen = p->gen;

			pending_drop(st, p);
			r = write_index_entry(st, ix, off, gen);
		}
	}
	if (r < 0)
		return r;
	note_rotation_boundary(st, ix);
	return try_rotate(relay, st);
}

bool stream_data_pending(const struct stream *st, uint64_t last_net_seq_num)
{
	uint64_t received = st->prev_data_seq;

	if (stream_is_indexed(st) && (int64_t)st->prev_index_seq < (int64_t)received)
		received = st->prev_index_seq;
	return !seq_ge(received, last_net_seq_num);
}

void stream_request_close(struct relay *relay, struct stream *st, uint64_t last_net_seq_num)
{
	st->close_requested = true;
	st->last_net_seq_num = last_net_seq_num;
	/* Data still on its way is waited for even in an interrupted session
	 * (a refused ADD_STREAM marks it so, its other streams' data still
	 * comes): only a closed data connection means none will. */
	if (last_net_seq_num == UINT64_MAX || st->is_metadata || st->session->data_closed ||
	    (st->prev_data_seq != UINT64_MAX && seq_ge(st->prev_data_seq, last_net_seq_num)))
		stream_close(relay, st);
}

/*
 * A stream closed in the middle of a packet (its peer vanished, the disk is
 * full) would leave a partial packet that offline readers choke on: cut the
 * file after its last whole packet, as crash recovery would.
 */
static void drop_incomplete_tail(struct stream *st)
{
	uint64_t size = st->is_metadata ? st->metadata_received : st->file_size;

	if (st->data_fd < 0 || size <= st->complete_size)
		return;
	if (ftruncate(st->data_fd, (off_t)st->complete_size) < 0) {
		log_warning("stream %llu: cannot drop an incomplete packet: %s",
			    (unsigned long long)st->handle, strerror(errno));
		return;
	}
	log_notice("session %llu: stream %llu ('%s/%s'): dropped %llu bytes of an incomplete %s",
		   (unsigned long long)st->session->id, (unsigned long long)st->handle,
		   st->pathname, st->channel_name, (unsigned long long)(size - st->complete_size),
		   st->is_metadata ? "metadata packet" : "packet");
	if (st->is_metadata)
		st->metadata_received = st->complete_size;
	else
		st->file_size = st->complete_size;
	if (st->n_segs > 0 && !st->is_metadata) {
		struct segment *sg = &st->segs[st->n_segs - 1];

		sg->size = st->complete_size;
		sg->synced_size = CL_MIN(sg->synced_size, sg->size);
		sg->data_unlocked = CL_MIN(sg->data_unlocked, sg->size);
	}
}

/*
 * Whole packets without a valid index entry (the producer vanished between
 * a packet and its SEND_INDEX, or writing the entry failed) are cut too
 * when they end the current file, after the last packet that has an entry:
 * no reader can use them, and an index that does not match its file makes
 * some readers fail (babeltrace2 2.0 asserts).
 */
static void drop_unindexed_tail(struct stream *st)
{
	struct segment *sg = cur_seg(st);
	uint64_t cut = st->indexed_end;

	if (!stream_is_indexed(st) || st->data_fd < 0 || cut >= st->file_size)
		return;
	if (ftruncate(st->data_fd, (off_t)cut) < 0) {
		log_warning("stream %llu: cannot drop packets without an index entry: %s",
			    (unsigned long long)st->handle, strerror(errno));
		return;
	}
	log_notice("session %llu: stream %llu ('%s/%s'): dropped %llu bytes of packets that "
		   "never got an index entry",
		   (unsigned long long)st->session->id, (unsigned long long)st->handle,
		   st->pathname, st->channel_name, (unsigned long long)(st->file_size - cut));
	st->file_size = st->complete_size = cut;
	if (sg) {
		sg->size = cut;
		sg->synced_size = CL_MIN(sg->synced_size, cut);
		sg->data_unlocked = CL_MIN(sg->data_unlocked, cut);
	}
}

/* A metadata file still empty at close (its first write failed, or nothing
 * came) is removed: an empty `metadata` makes readers fail on the whole tree. */
static void drop_empty_metadata(struct stream *st)
{
	if (!st->is_metadata || st->data_fd < 0 || st->dir_fd < 0 || st->complete_size > 0 ||
	    st->metadata_received > 0)
		return;
	if (unlinkat(st->dir_fd, st->channel_name, 0) < 0)
		return;
	if (st->session->close_error)
		log_notice("session %llu: '%s/%s' removed: empty, the session stopped on an "
			   "error: %s",
			   (unsigned long long)st->session->id, st->pathname, st->channel_name,
			   strerror(-st->session->close_error));
	else
		log_notice("session %llu: '%s/%s' removed: no metadata was ever written",
			   (unsigned long long)st->session->id, st->pathname, st->channel_name);
}

/*
 * A closed stream with everything published: with no viewer it is freed
 * before the loop sleeps, and its descriptors are closed now (their locks
 * go with them: the files are complete), so that a burst of CLOSE_STREAM
 * does not run out of descriptors first; viewers still reading it find
 * its last file parked (reopened read-only when they ask).
 */
static void drop_descriptors_if_done(struct relay *relay, struct stream *st)
{
	if (!all_published(st))
		return;
	if (st->viewer_refs) {
		/* Short of descriptors: its last file is parked at once. */
		if (relay->n_active >= relay->max_active && !st->parked && !st->is_metadata &&
		    st->n_segs > 0 && st->segs[st->n_segs - 1].data_fd >= 0 &&
		    !st->segs[st->n_segs - 1].gone && st->pdir) {
			for (size_t i = 0; i < st->n_segs; i++)
				st->segs[i].released = true;
			(void)park(relay, st);
		}
		return;
	}
	for (size_t i = 0; i < st->n_segs; i++) {
		close_fd(&st->segs[i].data_fd);
		close_fd(&st->segs[i].index_fd);
		st->segs[i].released = true;
	}
}

void stream_close(struct relay *relay, struct stream *st)
{
	if (st->closed)
		return;
	(void)stream_flush(st);
	if (st->closed)
		return; /* a packet's end in that batch closed it */
	/*
	 * A parked stream has no packet in progress: its files are reopened
	 * only when index halves are pending (lost-packet entries, packets
	 * without an entry cut); viewers reopen its last file when they ask.
	 */
	if (st->parked && st->n_pending > 0)
		(void)stream_use(relay, st);
	if (stream_is_indexed(st) && st->dir_fd >= 0)
		(void)write_lost_before(st, 0, true);
	(void)stream_flush(st);
	drop_unindexed_tail(st);
	st->n_pending = 0;
	drop_incomplete_tail(st);
	if (st->session->sync_error)
		publish_drop_undurable(st);
	drop_empty_metadata(st);
	retire_files(st);
	if (st->prev_index_fd >= 0)
		close(st->prev_index_fd);
	st->prev_index_fd = -1;
	close_idle_segments(st);
	prep_drop(st);
	/* Viewers still reading it: its directory is kept to reopen its last file. */
	if (st->dir_fd >= 0 && st->viewer_refs > 0 && !st->pdir)
		st->pdir = pdir_get(relay, &st->dir_fd);
	close_fd(&st->dir_fd);
	drop_descriptors_if_done(relay, st);
	if (st->chunk)
		chunk_unref(relay, st->chunk);
	st->chunk = NULL;
	if (st->rotation_chunk)
		chunk_unref(relay, st->rotation_chunk);
	st->rotation_chunk = NULL;
	st->closed = true;
	relay->collect_streams = true;
	session_touch(st->session);
	if (st->lost_packets)
		log_warning("session %llu: stream %llu ('%s/%s'): %llu packets lost in transit, "
			    "indexed with an all-ones offset",
			    (unsigned long long)st->session->id, (unsigned long long)st->handle,
			    st->pathname, st->channel_name, (unsigned long long)st->lost_packets);
	log_debug("stream %llu closed", (unsigned long long)st->handle);
}

struct segment *stream_segment_of(struct stream *st, uint64_t entry)
{
	for (size_t i = 0; i < st->n_segs; i++) {
		struct segment *sg = &st->segs[i];

		if (sg->has_entries && entry >= sg->first_entry &&
		    entry - sg->first_entry < sg->n_entries)
			return sg;
	}
	return NULL;
}

/* ---- descriptors: parking idle streams ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void file_id(int fd, uint64_t *dev, uint64_t *ino)
{
	struct stat sb;

	*dev = *ino = 0;
	if (fstat(fd, &sb) == 0) {
		*dev = sb.st_dev;
		*ino = sb.st_ino;
	}
}

/* A reference on the shared entry of directory *fd, which is taken (closed
 * when an entry exists, else kept by the new entry). NULL: no memory, *fd
 * untouched. */
static struct pdir *pdir_get(struct relay *relay, int *fd)
{
	struct cl_list_node *n;
	struct pdir *d;
	uint64_t dev, ino;

	file_id(*fd, &dev, &ino);
	cl_list_for_each (n, &relay->pdirs) {
		d = cl_container_of(n, struct pdir, node);
		if (d->dev == dev && d->ino == ino) {
			d->refs++;
			close_fd(fd);
			return d;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->dev = dev;
	d->ino = ino;
	d->fd = *fd;
	d->refs = 1;
	*fd = -1;
	cl_list_append(&relay->pdirs, &d->node);
	return d;
}

static void pdir_put(struct pdir **dp)
{
	struct pdir *d = *dp;

	*dp = NULL;
	if (!d || --d->refs > 0)
		return;
	cl_list_remove(&d->node);
	close(d->fd);
	free(d);
}

/* Everything written is published (and no sync may still touch it). */
static bool all_published(const struct stream *st)
{
	if (st->sync_in_flight || st->published_entries != st->index_entries ||
	    (st->is_metadata && st->metadata_published != st->complete_size))
		return false;
	for (size_t i = 0; i < st->n_segs; i++)
		if (!st->segs[i].gone && st->segs[i].synced_size != st->segs[i].size)
			return false;
	return true;
}

/* Idle with everything written published: its locks cover nothing written.
 * A closed stream: its last file is open for viewers only. */
static bool parkable(const struct stream *st)
{
	const struct segment *sg;

	/* Batched writes (and the counts they will move) still to come. */
	if (st->queued || st->n_wv || st->n_ended || st->idx_q.len)
		return false;
	if (st->parked || st->is_metadata || st->busy || st->n_segs == 0 || !all_published(st))
		return false;
	for (size_t i = 0; i < st->n_segs; i++)
		if (st->segs[i].gone)
			return false;
	sg = &st->segs[st->n_segs - 1];
	if (st->closed)
		return st->pdir && sg->data_fd >= 0;
	if (st->prev_index_fd >= 0 || st->rotation_pending || st->data_fd < 0 || st->dir_fd < 0 ||
	    !st->chunk || st->session->sync_error)
		return false;
	/* Index halves waiting for their other half: their entries go to the
	 * current index file once it comes (the packet's bytes are published). */
	for (size_t i = 0; i < st->n_pending; i++)
		if (st->pending[i].has_data && st->pending[i].gen != st->gen)
			return false;
	return sg->gen == st->gen && !sg->released && sg->data_fd >= 0 &&
	       sg->size == st->file_size && sg->data_unlocked == sg->size &&
	       sg->synced_entries == sg->n_entries && (st->index_fd >= 0) == (sg->index_fd >= 0) &&
	       (sg->index_fd < 0 ||
		sg->index_unlocked == cl_index_entry_pos(sg->n_entries, st->index_entry_size));
}

/* Closes the descriptors of st's last file (and st's own, if open). */
static bool park(struct relay *relay, struct stream *st)
{
	struct segment *sg = &st->segs[st->n_segs - 1];

	if (!st->pdir) {
		st->pdir = pdir_get(relay, &st->dir_fd);
		if (!st->pdir)
			return false;
	}
	file_id(sg->data_fd, &st->parked_dev, &st->parked_ino);
	st->parked_index = sg->index_fd >= 0;
	if (st->parked_index)
		file_id(sg->index_fd, &st->parked_index_dev, &st->parked_index_ino);
	/*
	 * Released explicitly: a viewer's reply being sent from the file holds
	 * a duplicate (sock_queue_file()), which would keep the lock alive
	 * (and make taking it again on the reopened file fail).
	 */
	(void)cl_lock_release(sg->data_fd, sg->data_unlocked);
	(void)cl_lock_release(sg->index_fd, sg->index_unlocked);
	close_fd(&sg->data_fd);
	close_fd(&sg->index_fd);
	close_fd(&st->data_fd);
	close_fd(&st->index_fd);
	close_fd(&st->dir_fd);
	prep_drop(st);
	st->parked = true;
	if (st->lru_node.next != &st->lru_node) {
		cl_list_remove(&st->lru_node);
		relay->n_active--;
	}
	if (relay->parks++ == 0)
		log_notice("more streams than descriptors for their files (%zu open at once): "
			   "closing idle streams' files, reopened when used",
			   relay->max_active);
	return true;
}

size_t stream_park_idle(struct relay *relay, size_t n)
{
	struct cl_list_node *node, *tmp;
	size_t done = 0;

	cl_list_for_each_safe (node, tmp, &relay->active) {
		struct stream *st = cl_container_of(node, struct stream, lru_node);

		if (done >= n)
			break;
		if (parkable(st) && park(relay, st))
			done++;
	}
	return done;
}

void stream_release(struct relay *relay, struct stream *st)
{
	for (size_t i = 0; i < st->n_segs; i++)
		pdir_put(&st->segs[i].dir);
	prep_drop(st);
	if (st->lru_node.next != &st->lru_node) {
		cl_list_remove(&st->lru_node);
		relay->n_active--;
	}
	pdir_put(&st->pdir);
}

/* Out of descriptors (or of the process's share of them). */
static bool fds_exhausted(int r)
{
	return r == -EMFILE || r == -ENFILE;
}

/* Takes the write lock from `from` to the end again (readers' read locks
 * are brief and lie before `from`: retried a few times, never waited for). */
static int relock(int fd, uint64_t from)
{
	int r = -EAGAIN;

	for (int i = 0; i < 50 && (r == -EAGAIN || r == -EACCES); i++) {
		r = cl_lock_try_write(fd, from, 0);
		if (r == -EAGAIN || r == -EACCES)
			(void)usleep(1000);
	}
	return r;
}

/*
 * Opens `name` beneath dirfd (read-write positioned at `size`, or
 * read-only when size is UINT64_MAX) and checks it is the file parked.
 */
static int reopen_file(int dirfd, const char *name, uint64_t size, uint64_t dev, uint64_t ino,
		       int *ret_fd)
{
	bool ro = size == UINT64_MAX;
	struct stat sb;
	int fd = openat(dirfd, name, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0)
		r = -errno;
	else if ((uint64_t)sb.st_dev != dev || (uint64_t)sb.st_ino != ino ||
		 (!ro && (uint64_t)sb.st_size != size))
		r = -ESTALE; /* replaced or cut behind the relay's back */
	else if (!ro && lseek(fd, (off_t)size, SEEK_SET) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * Closes the descriptors of the stream's older data files that nothing
 * needs open: retired and released (everything published, locks dropped),
 * no viewer pinned to them, in the stream's current directory (files of an
 * older trace chunk keep theirs), not metadata. A stream with a tracefile
 * size otherwise holds two descriptors per file it ever wrote. Reopened
 * read-only when read (stream_segment_open()).
 */
static void close_idle_segments(struct stream *st)
{
	struct relay *relay = st->session->relay;

	if (st->is_metadata || st->dir_fd < 0 || !st->chunk)
		return;
	for (size_t i = 0; i + 1 < st->n_segs; i++) {
		struct segment *sg = &st->segs[i];

		if (sg->idle_closed || sg->gone || !sg->released || sg->viewer_pins ||
		    sg->data_fd < 0 || sg->chunk_serial != st->chunk->serial)
			continue;
		if (!sg->dir) {
			int dir = fcntl(st->dir_fd, F_DUPFD_CLOEXEC, 0);

			if (dir < 0)
				return;
			sg->dir = pdir_get(relay, &dir);
			if (!sg->dir) {
				close_fd(&dir);
				return;
			}
		}
		file_id(sg->data_fd, &sg->data_dev, &sg->data_ino);
		sg->has_index_file = sg->index_fd >= 0;
		if (sg->has_index_file)
			file_id(sg->index_fd, &sg->index_dev, &sg->index_ino);
		close_fd(&sg->data_fd);
		close_fd(&sg->index_fd);
		sg->idle_closed = true;
	}
}

int stream_segment_open(struct stream *st, struct segment *sg)
{
	char name[320];
	size_t len;
	int idir = -1, r;

	if (!sg->idle_closed)
		return 0;
	if (sg->gone || !sg->dir)
		return -ENOENT;
	/* Files reopened for readers that moved on are closed again first:
	 * a viewer reading a long history holds the file it is in only. */
	for (size_t i = 0; i + 1 < st->n_segs; i++) {
		struct segment *o = &st->segs[i];

		if (o != sg && o->reopened && !o->viewer_pins && o->data_fd >= 0) {
			close_fd(&o->data_fd);
			close_fd(&o->index_fd);
			o->reopened = false;
			o->idle_closed = true;
		}
	}
	tracefile_name(st, sg->tracefile, name, sizeof(name) - 4);
	r = reopen_file(sg->dir->fd, name, UINT64_MAX, sg->data_dev, sg->data_ino, &sg->data_fd);
	if (r == 0 && sg->has_index_file) {
		len = strlen(name);
		(void)snprintf(name + len, sizeof(name) - len, ".idx");
		r = cl_open_dir_beneath(sg->dir->fd, "index", &idir);
		if (r == 0)
			r = reopen_file(idir, name, UINT64_MAX, sg->index_dev, sg->index_ino,
					&sg->index_fd);
		close_fd(&idir);
	}
	if (r < 0) {
		close_fd(&sg->data_fd);
		close_fd(&sg->index_fd);
		return r;
	}
	sg->idle_closed = false;
	sg->reopened = true;
	return 0;
}

/* Reopens the last file of a parked stream: to write (open stream) or for
 * viewers (closed stream). */
static int unpark(struct stream *st)
{
	struct segment *sg = &st->segs[st->n_segs - 1];
	uint64_t size = st->closed ? UINT64_MAX : sg->size;
	uint64_t isize =
		st->closed ? UINT64_MAX : cl_index_entry_pos(sg->n_entries, st->index_entry_size);
	char name[300], iname[320];
	int dir = -1, data = -1, index = -1, idir = -1, r = 0;

	if (sg->gone) {
		/* Deleted meanwhile (a clear): viewers skip it, nothing to reopen. */
		if (!st->closed)
			return -ENOENT;
		st->parked = false;
		return 0;
	}
	tracefile_name(st, sg->tracefile, name, sizeof(name));
	dir = fcntl(st->pdir->fd, F_DUPFD_CLOEXEC, 0);
	if (dir < 0)
		r = -errno;
	if (r == 0)
		r = reopen_file(dir, name, size, st->parked_dev, st->parked_ino, &data);
	if (r == 0 && !st->closed)
		r = relock(data, sg->data_unlocked);
	if (r == 0 && st->parked_index) {
		(void)snprintf(iname, sizeof(iname), "%s.idx", name);
		r = cl_open_dir_beneath(dir, "index", &idir);
		if (r == 0)
			r = reopen_file(idir, iname, isize, st->parked_index_dev,
					st->parked_index_ino, &index);
		close_fd(&idir);
		if (r == 0 && !st->closed)
			r = relock(index, sg->index_unlocked);
	}
	if (r == 0 && st->closed) {
		/* Viewers only: the segment's own descriptors, no lock. */
		sg->data_fd = data;
		sg->index_fd = index;
		close_fd(&dir);
		st->parked = false;
		return 0;
	}
	if (r == 0) {
		sg->data_fd = fcntl(data, F_DUPFD_CLOEXEC, 0);
		if (sg->data_fd < 0)
			r = -errno;
	}
	if (r == 0 && index >= 0) {
		sg->index_fd = fcntl(index, F_DUPFD_CLOEXEC, 0);
		if (sg->index_fd < 0)
			r = -errno;
	}
	if (r < 0) {
		/* Parked as before: nothing of it stays open (its locks go too). */
		close_fd(&sg->data_fd);
		close_fd(&sg->index_fd);
		close_fd(&data);
		close_fd(&index);
		close_fd(&dir);
		return r;
	}
	st->dir_fd = dir;
	st->data_fd = data;
	st->index_fd = index;
	st->parked = false;
	pdir_put(&st->pdir);
	return 0;
}

/*
 * Before a stream's files are opened: with relay->max_active streams
 * active, the least recently used idle one is parked; when every active
 * stream waits for its sync, that sync is waited for (its streams become
 * idle), so that the streams waiting for a sync never hold more
 * descriptors than the limit leaves (their batches need some too).
 */
static void make_room(struct relay *relay)
{
	if (relay->n_active < relay->max_active)
		return;
	if (stream_park_idle(relay, relay->n_active + 1 - relay->max_active) > 0)
		return;
	if (publish_wait(relay))
		(void)stream_park_idle(relay, relay->n_active + 1 - relay->max_active);
}

int stream_use(struct relay *relay, struct stream *st)
{
	int r;

	if (!st->parked) {
		/* Most recently used last. */
		if (st->lru_node.next != &st->lru_node) {
			cl_list_remove(&st->lru_node);
			cl_list_append(&relay->active, &st->lru_node);
		}
		return 0;
	}
	/* Streams with batched writes cannot be parked: flushed first, so
	 * that reopening this one can close the files of idle ones. */
	if (relay->n_wq) {
		r = stream_flush_all(relay);
		if (r < 0)
			return r;
	}
	make_room(relay);
	r = unpark(st);
	if (fds_exhausted(r) && stream_park_idle(relay, 8) > 0)
		r = unpark(st);
	if (fds_exhausted(r) && publish_wait(relay) && stream_park_idle(relay, 8) > 0)
		r = unpark(st);
	if (r < 0) {
		log_warning_errno(r, "session %llu: stream %llu ('%s/%s'): cannot reopen its files",
				  (unsigned long long)st->session->id,
				  (unsigned long long)st->handle, st->pathname, st->channel_name);
		return r;
	}
	relay->unparks++;
	cl_list_append(&relay->active, &st->lru_node);
	relay->n_active++;
	return 0;
}
