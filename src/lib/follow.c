/* SPDX-License-Identifier: MIT */
/*
 * Following a trace directory on disk (include/ctflive/follow.h,
 * doc/file-formats.md): the public API. Lifecycle of the follower, its
 * streams as inputs of the merger (ctflive/merge.h), waiting and warnings;
 * the objects are described in follow-internal.h.
 *
 * Asked for its next message, a stream answers READY (decoded), IDLE up to
 * its grace bound, BLOCKED (its relay is committing bytes, a rotation is
 * under way) or ENDED; one more input without a stream holds the merge back
 * for files whose first packet is not published yet (see "Merging while
 * live" in follow.h).
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

#include "ctflive/ctf.h"
#include "ctflive/follow.h"
#include "ctflive/live.h"
#include "ctflive/merge.h"
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
	char buf[PATH_MAX + 300], *w;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cl_grow(&f->warnings, &f->wcap, f->nwarnings + 1) < 0)
		return;
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

static int files_pull(void *ctx, int64_t need_ns, struct ctflive_ctf_msg *ret, int64_t *ret_idle_ns,
		      struct ctflive_ctf_diag *reterr);

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
	/* absolute, so that stream names are the absolute file paths that
	 * `ctflive view` and babeltrace2 print */
	f->dir = realpath(dir, NULL);
	if (!f->dir)
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
	f->pushed = true;
	f->buf.max = CTFLIVE_LIVE_MAX_PACKET;
	{
		struct ctflive_merge_input in = { .pull = files_pull, .ctx = f };
		int r = ctflive_merge_new(&f->merge);

		if (r == 0)
			r = ctflive_merge_add(f->merge, &in);
		if (r < 0) {
			ctflive_follow_free(f);
			return r;
		}
	}
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
	ctflive_merge_free(f->merge);
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
	cl_buf_free(&f->buf);
	free(f->dir);
	free(f);
	return NULL;
}

/* ---- merging ---------------------------------------------------------- */

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
 * Whether index file `fi` has an entry published past the last one read:
 * then its stream is not idle, it is behind (the follower polls less often
 * than the writer appends), and no bound may be assumed until it is read.
 */
static bool unread_entry(struct ffile *fi)
{
	uint64_t end = 0, size = 0;

	if (fi->idx_fd < 0 || !fi->esize)
		return false;
	if (ctflive_follow_safe_end(fi->idx_fd, fi->next, &end) < 0 ||
	    cl_follow_file_size(fi->idx_fd, &size) < 0)
		return false;
	return size >= fi->next + fi->esize && end >= fi->next + fi->esize;
}

/*
 * Lower bound of the times a blocked stream (or a file not attached yet)
 * can still produce; false when it must be waited for: bytes written but
 * not published, or index entries published but not read yet (a writer
 * that catches up, `ctflive view nats://` of a stored session, writes
 * packets recorded long before the grace bound).
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
	if (s) {
		for (size_t i = s->cur; i < s->nfiles; i++)
			if (unread_entry(s->files[i]))
				return false;
	} else if (fi && unread_entry(fi)) {
		return false;
	}
	if (s && s->has_end) {
		int64_t e;

		if (ctflive_ctf_stream_clock_ns(s->dec, s->last_end, &e) == 0 && e > wall)
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

/* The merger asks stream `s` (ctx) for its next message. */
static int stream_pull(void *ctx, int64_t need_ns, struct ctflive_ctf_msg *ret,
		       int64_t *ret_idle_ns, struct ctflive_ctf_diag *reterr)
{
	struct fstream *s = ctx;
	struct ctflive_follow *f = s->f;
	struct ctflive_ctf_diag diag;
	int r;

	(void)need_ns;
	memset(&diag, 0, sizeof(diag));
	r = ctflive_ctf_stream_next(s->dec, ret, &diag);
	if (r == 0) {
		if (ret->type == CTFLIVE_CTF_MSG_PACKET_BEGIN)
			s->begins++;
		if (s->pushed - s->begins < MAX_AHEAD / 2)
			f->hungry = true;
		return CTFLIVE_MERGE_READY;
	}
	if (r == CTFLIVE_CTF_END) {
		/* lost entries after the last packet: the merger reports them */
		if (s->nlost)
			(void)ctflive_merge_lost_after(f->merge, s->dec, s->nlost, s->lost_end);
		return CTFLIVE_MERGE_ENDED;
	}
	if (r != -EAGAIN) {
		r = cl_follow_fail(f, r, "cannot decode '%s' at offset %" PRIu64 ": %s", s->label,
				   diag.offset, diag.msg);
		memset(reterr, 0, sizeof(*reterr));
		reterr->offset = UINT64_MAX;
		snprintf(reterr->msg, sizeof(reterr->msg), "%.200s", f->errmsg);
		return r;
	}
	f->hungry = true;
	/* a stream whose last poll stopped at the read-ahead limit has more
	 * published packets: read them before assuming anything */
	if (!f->final_read && !s->capped && blocked_bound(f, s, NULL, ret_idle_ns))
		return CTFLIVE_MERGE_IDLE;
	return CTFLIVE_MERGE_BLOCKED;
}

/*
 * The input without a stream: files not attached to a stream yet (their
 * first index entry is not published) hold the merge back to their bound.
 * So do files not found yet: while the directory changed since the last
 * scan (inotify, checked after each poll: cl_follow_poll_all()), a stream
 * created before the packets just read (the scan ran before it was, the
 * packets were read after) may be there, unknown.
 */
static int files_pull(void *ctx, int64_t need_ns, struct ctflive_ctf_msg *ret, int64_t *ret_idle_ns,
		      struct ctflive_ctf_diag *reterr)
{
	struct ctflive_follow *f = ctx;
	int64_t min = INT64_MAX;

	(void)need_ns;
	(void)ret;
	(void)reterr;
	if (f->final_read)
		return CTFLIVE_MERGE_ENDED;
	if (!f->final && f->dirty)
		return CTFLIVE_MERGE_BLOCKED; /* rescan first */
	for (size_t i = 0; i < f->nfiles; i++) {
		struct ffile *fi = f->files[i];
		int64_t bound;

		if (fi->st || fi->exhausted)
			continue;
		if (!blocked_bound(f, NULL, fi, &bound))
			return CTFLIVE_MERGE_BLOCKED;
		if (bound < min)
			min = bound;
	}
	*ret_idle_ns = min;
	return CTFLIVE_MERGE_IDLE;
}

/* Polls of one ctflive_follow_next() call for a directory that changed. */
#define MAX_RESCANS 4

int cl_follow_merge_add(struct ctflive_follow *f, struct fstream *s)
{
	struct ctflive_merge_input in = { .stream = s->dec, .pull = stream_pull, .ctx = s };

	s->f = f;
	return ctflive_merge_add(f->merge, &in);
}

int ctflive_follow_next(struct ctflive_follow *f, const struct ctflive_ctf_stream **ret_stream,
			struct ctflive_ctf_msg *ret_msg)
{
	bool polled = false;
	int rescans = 0, r;

	if (!f || !ret_stream || !ret_msg)
		return -EINVAL;
	if (f->err)
		return f->err;
	if (f->hungry && may_poll(f)) {
		/* a stream read its buffer down: read ahead */
		f->hungry = false;
		polled = true;
		r = cl_follow_poll_all(f);
		if (r < 0)
			return r;
	}
	for (;;) {
		const struct ctflive_ctf_msg *m;
		struct ctflive_ctf_stream *s = NULL;
		struct ctflive_ctf_diag diag;

		r = ctflive_merge_next(f->merge, &m, &s, &diag);
		if (r == 0) {
			*ret_stream = s;
			*ret_msg = *m;
			return 0;
		}
		if (r == CTFLIVE_CTF_END && f->final_read)
			return CTFLIVE_CTF_END;
		if (r == -EAGAIN || r == CTFLIVE_CTF_END) {
			/* poll again as long as polls bring packets, or while the
			 * directory changed since the last scan (a few times) */
			if (polled && !f->pushed && (!f->dirty || ++rescans > MAX_RESCANS))
				return -EAGAIN;
			polled = true;
			f->hungry = false;
			r = cl_follow_poll_all(f);
			if (r < 0)
				return r;
			continue;
		}
		if (f->err)
			return f->err;
		/* the merger's own error: an event older than one returned */
		if (!f->has_marker)
			return cl_follow_fail(f, r, "%s%s%s", s ? ctflive_ctf_stream_name(s) : "",
					      s ? ": " : "", diag.msg);
		return cl_follow_fail(f, r,
				      "%s%s%s (or a packet published later than the "
				      "follower's grace, %d ms, allows)",
				      s ? ctflive_ctf_stream_name(s) : "", s ? ": " : "", diag.msg,
				      f->opts.grace_ms);
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

void cl_follow_read_marker_state(int fd, char *buf, size_t n)
{
	ssize_t r = pread(fd, buf, n - 1, 0);

	buf[r > 0 ? r : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

void cl_follow_state_warning(char *buf, size_t n, const char *dir, const char *state)
{
	snprintf(buf, n,
		 "%s: the session did not end normally (session marker: '%s'%s); "
		 "everything published before that is printed",
		 dir, state, !strcmp(state, "active") ? ", the relay stopped" : "");
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
		cl_follow_state_warning(f->warning, sizeof(f->warning), f->dir, f->marker_state);
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
