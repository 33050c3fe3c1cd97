/* SPDX-License-Identifier: MIT */
/*
 * Following a trace directory on disk (include/ctflive/follow.h,
 * doc/file-formats.md): the public API. Lifecycle of the follower, merging
 * of its streams, waiting and warnings; the objects are described in
 * follow-internal.h.
 *
 * Merging follows live-view.c: every stream has a head (its next message)
 * or is blocked; the oldest head is returned when every blocked stream has
 * a bound at least as late (see "Merging while live" in follow.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctf-internal.h"
#include "ctflive/ctf.h"
#include "ctflive/follow.h"
#include "follow-internal.h"

__attribute__((format(printf, 3, 4))) int cl_follow_fail(struct ctflive_follow *f, int r,
							 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->errmsg, sizeof(f->errmsg), fmt, ap);
	va_end(ap);
	f->err = r;
	return r;
}

/* Queues a warning for ctflive_follow_next_warning(); dropped without memory. */
__attribute__((format(printf, 2, 3))) void cl_follow_add_warning(struct ctflive_follow *f,
								 const char *fmt, ...)
{
	char buf[PATH_MAX + 300], *w, **n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = realloc(f->warnings, (f->nwarnings + 1) * sizeof(*n));
	if (!n)
		return;
	f->warnings = n;
	w = strdup(buf);
	if (w)
		f->warnings[f->nwarnings++] = w;
}

int64_t cl_follow_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

uint32_t cl_follow_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

char *cl_follow_path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s%s", a, *a && *b ? "/" : "", b);
	return p;
}

int cl_follow_file_size(int fd, uint64_t *ret)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return -errno;
	*ret = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
	return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

const char *ctflive_follow_error(const struct ctflive_follow *f)
{
	return f ? f->errmsg : "";
}

bool ctflive_follow_has_marker(const struct ctflive_follow *f)
{
	return f->has_marker;
}

uint64_t ctflive_follow_lost_packets(const struct ctflive_follow *f)
{
	return f->lost;
}

int ctflive_follow_new(const char *dir, const struct ctflive_follow_options *opts,
		       struct ctflive_follow **ret)
{
	struct ctflive_follow *f;
	struct stat sb;
	char *mpath;

	if (!dir || !ret)
		return -EINVAL;
	if (stat(dir, &sb) < 0)
		return -errno;
	if (!S_ISDIR(sb.st_mode))
		return -ENOTDIR;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->marker_fd = -1;
	f->ino_fd = -1;
	if (opts)
		f->opts = *opts;
	if (f->opts.grace_ms <= 0)
		f->opts.grace_ms = CTFLIVE_FOLLOW_DEFAULT_GRACE_MS;
	if (f->opts.rescan_ms <= 0)
		f->opts.rescan_ms = 1000;
	f->dir = strdup(dir);
	mpath = f->dir ? cl_follow_path_join(dir, MARKER_NAME) : NULL;
	if (!mpath) {
		ctflive_follow_free(f);
		return -ENOMEM;
	}
	f->marker_fd = open(mpath, O_RDONLY | O_CLOEXEC);
	free(mpath);
	f->has_marker = f->marker_fd >= 0;
	f->final = !f->has_marker;
	if (!f->opts.no_inotify && f->has_marker)
		f->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	f->dirty = true;
	f->last_ns = INT64_MIN;
	f->pushed = true;
	*ret = f;
	return 0;
}

void cl_follow_stream_free(struct fstream *s)
{
	if (!s)
		return;
	ctflive_ctf_stream_free(s->dec);
	ctflive_ctf_bufsrc_free(s->src);
	free(s->files);
	free(s->label);
	free(s);
}

struct ctflive_follow *ctflive_follow_free(struct ctflive_follow *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->nstreams; i++)
		cl_follow_stream_free(f->streams[i]);
	for (size_t i = 0; i < f->nfiles; i++) {
		struct ffile *fi = f->files[i];

		if (fi->data_fd >= 0)
			close(fi->data_fd);
		if (fi->idx_fd >= 0)
			close(fi->idx_fd);
		free(fi->name);
		free(fi->path);
		free(fi);
	}
	for (size_t i = 0; i < f->ntraces; i++) {
		struct ftrace *t = f->traces[i];

		ctflive_ctf_trace_free(t->trace);
		if (t->md_fd >= 0)
			close(t->md_fd);
		free(t->dir);
		free(t->rel);
		free(t->name);
		free(t);
	}
	if (f->marker_fd >= 0)
		close(f->marker_fd);
	if (f->ino_fd >= 0)
		close(f->ino_fd);
	for (size_t i = 0; i < f->nwarnings; i++)
		free(f->warnings[i]);
	free(f->warnings);
	free(f->streams);
	free(f->files);
	free(f->traces);
	free(f->buf);
	free(f->dir);
	free(f);
	return NULL;
}

/* ---- merging ---------------------------------------------------------- */

/* The message for lost entries after the last packet of an ended stream. */
static bool trailing_lost(struct fstream *s, struct ctflive_ctf_msg *m)
{
	const struct ctflive_ctf_stream *d = s->dec;

	if (!s->nlost || s->lost_emitted)
		return false;
	s->lost_emitted = true;
	memset(m, 0, sizeof(*m));
	m->type = CTFLIVE_CTF_MSG_DISCARDED_PACKETS;
	m->count = s->nlost;
	m->count_known = true;
	m->lost_in_transit = true;
	if (d->sc && d->sc->clock && s->has_end) {
		m->has_time = m->has_range = true;
		m->begin_cycles = m->cycles = s->last_end;
		m->end_cycles = s->lost_end;
		m->begin_ns = m->ns = cl_clock_ns(d->sc->clock, s->last_end);
		m->end_ns = cl_clock_ns(d->sc->clock, s->lost_end);
	}
	s->nlost = 0;
	return true;
}

/* Decodes a head for every stream without one. Returns 1 if some stream
 * needs bytes, 0 otherwise, or an error. */
static int fill_heads(struct ctflive_follow *f)
{
	int hungry = 0;

	for (size_t i = 0; i < f->nstreams; i++) {
		struct fstream *s = f->streams[i];
		struct ctflive_ctf_diag diag;
		int r;

		if (s->has_head || s->done)
			continue;
		memset(&diag, 0, sizeof(diag));
		r = ctflive_ctf_stream_next(s->dec, &s->head, &diag);
		if (r == 0) {
			s->has_head = true;
			if (s->head.type == CTFLIVE_CTF_MSG_PACKET_BEGIN)
				s->begins++;
			if (s->pushed - s->begins < MAX_AHEAD / 2)
				hungry = 1;
			continue;
		}
		if (r == CTFLIVE_CTF_END) {
			if (trailing_lost(s, &s->head))
				s->has_head = true;
			else
				s->done = true;
			continue;
		}
		if (r != -EAGAIN)
			return cl_follow_fail(f, r, "cannot decode '%s' at offset %" PRIu64 ": %s",
					      s->label, diag.offset, diag.msg);
		hungry = 1;
	}
	return hungry;
}

/*
 * A rotation or a clear is under way: streams are written out of sight, in
 * `.tmp_new_chunk`, and packets held up by it may be older than the grace
 * bound. Nothing is assumed about blocked streams until the new chunk is in
 * place (and the old one archived or deleted).
 */
static bool in_rotation(const struct ctflive_follow *f)
{
	static const char *const names[] = { ".tmp_new_chunk", ".tmp_old_chunk" };
	struct stat sb;
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]) < (int)sizeof(p) &&
		    lstat(p, &sb) == 0)
			return true;
	return false;
}

/*
 * Lower bound of the times a blocked stream (or a file not attached yet)
 * can still produce; false when it must be waited for.
 */
static bool blocked_bound(struct ctflive_follow *f, struct fstream *s, struct ffile *fi,
			  int64_t *ret)
{
	int64_t wall = cl_follow_clock_ns(CLOCK_REALTIME) - (int64_t)f->opts.grace_ms * 1000000;
	uint64_t end = 0, size = 0;

	if (s && s->cur < s->nfiles)
		fi = s->files[s->cur];
	if (!f->final && in_rotation(f))
		return false;
	if (s && fi && fi->exhausted && !f->final) {
		struct stat sb;

		if (stat(fi->path, &sb) == 0) {
			const struct ffile *n = cl_follow_newest_at(f, fi->path);

			if (n->dev != sb.st_dev || n->ino != sb.st_ino) {
				f->dirty = true; /* replaced, not scanned yet */
				return false;
			}
		}
	}
	/* Bytes written but not published: the relay is committing them. */
	if (fi &&
	    (ctflive_follow_safe_end(fi->data_fd, 0, &end) < 0 ||
	     cl_follow_file_size(fi->data_fd, &size) < 0 || (end != UINT64_MAX && end < size)))
		return false;
	if (s && s->has_end && s->dec->sc && s->dec->sc->clock) {
		int64_t e = cl_clock_ns(s->dec->sc->clock, s->last_end);

		if (e > wall)
			wall = e;
	}
	*ret = wall;
	return true;
}

/*
 * A stream waiting for bytes asks for a poll on every call; when the last
 * poll found nothing, polls are spaced POLL_GAP_NS apart so that an idle
 * stream does not cost a round of system calls per message of the others.
 */
#define POLL_GAP_NS 5000000LL

static bool may_poll(struct ctflive_follow *f)
{
	return f->pushed || cl_follow_clock_ns(CLOCK_MONOTONIC) - f->last_poll >= POLL_GAP_NS;
}

int ctflive_follow_next(struct ctflive_follow *f, const struct ctflive_ctf_stream **ret_stream,
			struct ctflive_ctf_msg *ret_msg)
{
	bool polled = false;
	int r;

	if (!f || !ret_stream || !ret_msg)
		return -EINVAL;
	if (f->err)
		return f->err;
	if (f->emitted) {
		f->emitted->has_head = false;
		f->emitted = NULL;
	}
	for (;;) {
		struct fstream *best = NULL;
		bool can_emit = true;
		int64_t best_key = 0;

		r = fill_heads(f);
		if (r < 0)
			return r;
		if (r > 0 && !polled && may_poll(f)) {
			polled = true;
			r = cl_follow_poll_all(f);
			if (r < 0)
				return r;
			continue;
		}
		for (size_t i = 0; i < f->nstreams; i++) {
			struct fstream *s = f->streams[i];
			int64_t k;

			if (s->has_head && cl_ctf_goes_first(s->dec, &s->head, f->last_ns, &k,
							     best ? best->dec : NULL,
							     best ? &best->head : NULL, best_key)) {
				best = s;
				best_key = k;
			}
		}
		if (!f->final_read) {
			for (size_t i = 0; can_emit && i < f->nstreams; i++) {
				struct fstream *s = f->streams[i];
				int64_t bound;

				if (s->has_head || s->done)
					continue;
				if (!best || !blocked_bound(f, s, NULL, &bound) || bound < best_key)
					can_emit = false;
			}
			for (size_t i = 0; can_emit && i < f->nfiles; i++) {
				struct ffile *fi = f->files[i];
				int64_t bound;

				if (fi->st || fi->exhausted)
					continue;
				if (!best || !blocked_bound(f, NULL, fi, &bound) ||
				    bound < best_key)
					can_emit = false;
			}
		}
		if (best && can_emit) {
			f->emitted = best;
			f->last_ns = best_key;
			*ret_stream = best->dec;
			*ret_msg = best->head;
			return 0;
		}
		if (f->final_read && !best) {
			bool all_done = true;

			for (size_t i = 0; i < f->nstreams; i++)
				all_done = all_done && f->streams[i]->done;
			if (all_done)
				return CTFLIVE_CTF_END;
		}
		if (!polled) {
			polled = true;
			r = cl_follow_poll_all(f);
			if (r < 0)
				return r;
			continue;
		}
		return -EAGAIN;
	}
}

/* ---- waiting and warnings --------------------------------------------- */

int ctflive_follow_wait(struct ctflive_follow *f, int timeout_ms)
{
	struct pollfd p = { .fd = f->ino_fd, .events = POLLIN };
	int r;

	if (f->ino_fd < 0) {
		struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return 0;
	}
	r = poll(&p, 1, timeout_ms);
	if (r < 0 && errno != EINTR)
		return -errno;
	if (r > 0)
		(void)cl_follow_drain_inotify(f);
	return 0;
}

const char *ctflive_follow_next_warning(struct ctflive_follow *f)
{
	if (f->warned < f->nwarnings) {
		snprintf(f->warning, sizeof(f->warning), "%s", f->warnings[f->warned]);
		free(f->warnings[f->warned]);
		f->warnings[f->warned++] = NULL;
		return f->warning;
	}
	if (f->final && f->has_marker && !f->state_warned &&
	    strcmp(f->marker_state, "complete") != 0) {
		/* doc/file-formats.md §4: anything but "complete" is an unfinished session. */
		f->state_warned = true;
		snprintf(f->warning, sizeof(f->warning),
			 "%s: the session did not end normally (session marker: '%s'%s); "
			 "everything published before that is printed",
			 f->dir, f->marker_state,
			 !strcmp(f->marker_state, "active") ? ", the relay stopped" : "");
		return f->warning;
	}
	for (size_t i = 0; i < f->ntraces; i++) {
		struct ftrace *t = f->traces[i];
		const struct ctflive_ctf_diag *d;

		if (t->warned >= ctflive_ctf_trace_warning_count(t->trace))
			continue;
		d = ctflive_ctf_trace_warning(t->trace, t->warned++);
		snprintf(f->warning, sizeof(f->warning), "%s/metadata:%d:%d: %s", t->dir, d->line,
			 d->col, d->msg);
		return f->warning;
	}
	return NULL;
}
