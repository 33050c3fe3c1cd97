/* SPDX-License-Identifier: MIT */
/*
 * Commit before publish (DESIGN.md point 2): on each tick the loop thread
 * hands every stream that has unpublished index entries or metadata to a
 * worker thread as a job. The job owns duplicates of the files' descriptors,
 * fdatasync()s the data files first, then the index files, and reports back
 * through an eventfd; only then does the loop move the stream's published
 * counters that viewers see. The worker touches nothing but its job, so the
 * loop thread keeps sole ownership of every relay object.
 *
 * With `--sync none` nothing goes through here: streams publish on write.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "relay.h"

struct sync_target {
	uint64_t gen;
	uint64_t size;    /* bytes of the segment's data file covered */
	uint64_t entries; /* entries of the segment covered */
};

/* What one stream of the job may publish once the job's files are synced. */
struct sync_stream {
	uint64_t handle;
	uint64_t entries;  /* stream->index_entries when queued */
	uint64_t metadata; /* stream->metadata_received when queued */
	uint64_t metadata_epoch;
	struct sync_target *targets; /* owned, one per dirty segment */
	size_t n_targets;
};

/*
 * One job per session, so that a session's index entries never become
 * visible before the metadata they need (DESIGN points 2 and 6): data and
 * metadata files are synced first, index files last, and everything is
 * published together.
 */
struct sync_job {
	struct sync_job *next;
	uint64_t session_id;
	int *fds; /* owned: data and metadata files first, then index files */
	size_t n_fds, cap_fds;
	struct sync_stream *streams; /* owned */
	size_t n_streams;
	int result; /* 0 or -errno, set by the worker */
};

struct sync_worker {
	struct cl_watch watch; /* eventfd: completions */
	struct relay *relay;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sync_job *todo, *done; /* LIFO lists, protected by lock */
	bool stop;
	unsigned in_flight;
};

static void job_free(struct sync_job *j)
{
	for (size_t i = 0; i < j->n_fds; i++)
		close(j->fds[i]);
	for (size_t i = 0; i < j->n_streams; i++)
		free(j->streams[i].targets);
	free(j->streams);
	free(j->fds);
	free(j);
}

static void *worker_main(void *arg)
{
	struct sync_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct sync_job *j;
		uint64_t one = 1;

		while (!w->todo && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		j = w->todo;
		w->todo = j->next;
		pthread_mutex_unlock(&w->lock);

		j->result = 0;
		for (size_t i = 0; i < j->n_fds && j->result == 0; i++)
			j->result = cl_fdatasync(j->fds[i]);

		pthread_mutex_lock(&w->lock);
		j->next = w->done;
		w->done = j;
		if (write(w->watch.fd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow here; nothing to do. */
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void apply(struct relay *relay, struct sync_job *j)
{
	struct session *s = session_find(relay, j->session_id);

	if (s)
		s->sync_in_flight = false;
	for (size_t k = 0; k < j->n_streams; k++) {
		const struct sync_stream *ss = &j->streams[k];
		struct stream *st = stream_find_any(relay, ss->handle);

		if (!st)
			continue;
		st->sync_in_flight = false;
		if (j->result < 0)
			continue;
		for (size_t i = 0; i < ss->n_targets; i++) {
			for (size_t n = 0; n < st->n_segs; n++) {
				struct segment *sg = &st->segs[n];

				if (sg->gen != ss->targets[i].gen)
					continue;
				sg->synced_size = CL_MAX(sg->synced_size, ss->targets[i].size);
				sg->synced_entries =
					CL_MAX(sg->synced_entries, ss->targets[i].entries);
			}
		}
		st->published_entries = CL_MAX(st->published_entries, ss->entries);
		if (ss->metadata_epoch == st->metadata_epoch)
			st->metadata_published = CL_MAX(st->metadata_published, ss->metadata);
	}
	/* Data and metadata unlock before any index entry that describes them. */
	for (int pass = 0; pass < 2 && j->result == 0; pass++) {
		for (size_t k = 0; k < j->n_streams; k++) {
			struct stream *st = stream_find_any(relay, j->streams[k].handle);

			if (st)
				stream_update_locks(st, pass);
		}
	}
	if (j->result < 0)
		log_error_errno(j->result,
				"session %llu: cannot sync to disk; new data stays hidden "
				"from viewers",
				(unsigned long long)j->session_id);
}

static void completions_cb(struct cl_watch *watch, uint32_t events)
{
	struct sync_worker *w = cl_container_of(watch, struct sync_worker, watch);
	struct sync_job *list;
	uint64_t n;

	(void)events;
	if (read(watch->fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->lock);
	while (list) {
		struct sync_job *j = list;
		struct session *s;

		list = j->next;
		apply(w->relay, j);
		w->in_flight--;
		/* Group commit: what arrived while this job ran goes in the next one now. */
		s = session_find(w->relay, j->session_id);
		job_free(j);
		if (s)
			sync_session(w->relay, s);
	}
}

int sync_init(struct relay *relay)
{
	struct sync_worker *w;
	int r;

	if (!relay->sync_publish)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->relay = relay;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->watch.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->watch.cb = completions_cb;
	if (w->watch.fd < 0) {
		free(w);
		return -errno;
	}
	r = cl_loop_add(relay->loop, &w->watch, EPOLLIN);
	if (r == 0)
		r = -pthread_create(&w->thread, NULL, worker_main, w);
	if (r < 0) {
		close(w->watch.fd);
		free(w);
		return r;
	}
	relay->sync = w;
	return 0;
}

void sync_fini(struct relay *relay)
{
	struct sync_worker *w = relay->sync;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	while (w->todo) {
		struct sync_job *j = w->todo;

		w->todo = j->next;
		job_free(j);
	}
	while (w->done) {
		struct sync_job *j = w->done;

		w->done = j->next;
		job_free(j);
	}
	cl_loop_del(relay->loop, &w->watch);
	close(w->watch.fd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	relay->sync = NULL;
}

static int add_fd(struct sync_job *j, int fd)
{
	int d;

	if (j->n_fds == j->cap_fds) {
		size_t cap = j->cap_fds ? j->cap_fds * 2 : 8;
		int *n = realloc(j->fds, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		j->fds = n;
		j->cap_fds = cap;
	}
	d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0)
		return -errno;
	j->fds[j->n_fds++] = d;
	return 0;
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

static bool seg_dirty(const struct segment *sg)
{
	return !sg->gone && (sg->synced_size != sg->size || sg->synced_entries != sg->n_entries);
}

/* Pass 0 adds data and metadata files, pass 1 index files. */
static int add_stream_fds(struct sync_job *j, struct stream *st, int pass)
{
	int r = 0;

	if (st->is_metadata) {
		struct segment *sg = st->n_segs ? &st->segs[st->n_segs - 1] : NULL;

		if (pass == 0 && sg && !sg->gone && st->complete_size > st->metadata_published)
			r = add_fd(j, sg->data_fd);
		return r;
	}
	for (size_t i = 0; i < st->n_segs && r == 0; i++) {
		struct segment *sg = &st->segs[i];

		if (!seg_dirty(sg))
			continue;
		if (pass == 0)
			r = add_fd(j, sg->data_fd);
		else if (sg->index_fd >= 0)
			r = add_fd(j, sg->index_fd);
	}
	return r;
}

static int add_stream(struct sync_job *j, struct stream *st)
{
	struct sync_stream *ss = &j->streams[j->n_streams];

	ss->handle = st->handle;
	ss->entries = st->index_entries;
	ss->metadata = st->is_metadata ? st->complete_size : 0;
	ss->metadata_epoch = st->metadata_epoch;
	ss->targets = calloc(st->n_segs + 1, sizeof(*ss->targets));
	if (!ss->targets)
		return -ENOMEM;
	j->n_streams++;
	for (size_t i = 0; i < st->n_segs; i++) {
		const struct segment *sg = &st->segs[i];

		if (seg_dirty(sg))
			ss->targets[ss->n_targets++] = (struct sync_target){
				.gen = sg->gen, .size = sg->size, .entries = sg->n_entries
			};
	}
	return 0;
}

static int make_job(struct session *s, struct sync_job **ret)
{
	struct sync_job *j = calloc(1, sizeof(*j));
	struct cl_list_node *n;
	int r = 0;

	if (!j)
		return -ENOMEM;
	j->session_id = s->id;
	j->streams = calloc(s->n_streams + 1, sizeof(*j->streams));
	if (!j->streams) {
		free(j);
		return -ENOMEM;
	}
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		cl_list_for_each (n, &s->streams) {
			struct stream *st = cl_container_of(n, struct stream, node);

			if (r < 0 || !stream_dirty(st))
				continue;
			r = add_stream_fds(j, st, pass);
			if (r == 0 && pass == 0)
				r = add_stream(j, st);
		}
	}
	if (r < 0) {
		job_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

void sync_session(struct relay *relay, struct session *s)
{
	struct sync_worker *w = relay->sync;
	struct cl_list_node *m;
	struct sync_job *j;
	bool dirty = false;
	int r;

	if (!w || s->sync_in_flight)
		return;
	cl_list_for_each (m, &s->streams) {
		dirty |= stream_dirty(cl_container_of(m, struct stream, node));
	}
	if (!dirty)
		return;
	r = make_job(s, &j);
	if (r < 0) {
		log_warning_errno(r, "session %llu: cannot queue a sync",
				  (unsigned long long)s->id);
		return;
	}
	for (size_t i = 0; i < j->n_streams; i++)
		stream_find_any(relay, j->streams[i].handle)->sync_in_flight = true;
	s->sync_in_flight = true;
	w->in_flight++;
	pthread_mutex_lock(&w->lock);
	j->next = w->todo;
	w->todo = j;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void sync_tick(struct relay *relay)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->sessions) {
		sync_session(relay, cl_container_of(n, struct session, node));
	}
}

bool sync_busy(const struct stream *st)
{
	return st->sync_in_flight;
}
