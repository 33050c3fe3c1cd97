/* SPDX-License-Identifier: MIT */
/*
 * One iterator over every source (include/ctflive/iter.h): trace
 * directories (ctflive_ctf_fs and the merger), live sessions (the live
 * view) and followed directories (the follower). All three merge their
 * streams with ctflive/merge.h; this file only dispatches, queues warnings
 * and turns each source's errors into a struct ctflive_diag.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctflive/ctf-fs.h"
#include "ctflive/ctf.h"
#include "ctflive/follow.h"
#include "ctflive/iter.h"
#include "ctflive/live.h"
#include "ctflive/merge.h"
#include "follow-internal.h"
#include "grow.h"
#include "tracedir.h"

#define LIVE_WAIT_MS   100 /* babeltrace2's default --retry-duration */
#define FOLLOW_WAIT_MS 50

enum kind { K_DIRS = 1, K_LIVE, K_FOLLOW };

struct ctflive_iter {
	/* trace directories, no warning waiting: ctflive_iter_next() is the
	 * merger's */
	bool fast;
	enum kind kind;
	struct ctflive_ctf_fs *fs;      /* K_DIRS, owned */
	struct ctflive_merge *merge;    /* K_DIRS, owned (borrows fs streams) */
	struct ctflive_live_view *live; /* K_LIVE, owned */
	struct ctflive_follow *follow;  /* K_FOLLOW, owned */
	struct ctflive_diag *warnings;  /* owned queue */
	size_t nwarn, whead, wcap;
	struct ctflive_diag warning; /* the one handed out */
	bool held;                   /* msg/stream wait behind warnings */
	struct ctflive_ctf_msg msg;  /* live, follow: copy of the message */
	const struct ctflive_ctf_stream *stream;
	int err;
	struct ctflive_diag errd;
	struct ctflive_ctf_diag mdiag; /* K_DIRS: the merger's error details */
	int64_t live_wait_end_ns;      /* K_LIVE: CLOCK_MONOTONIC when the last wait ended */
};

char *ctflive_diag_format(const struct ctflive_diag *d, char *buf, size_t len)
{
	if (!len)
		return buf;
	if (!d->where[0])
		snprintf(buf, len, "%s", d->msg);
	else if (d->line > 0)
		snprintf(buf, len, "%s:%d:%d: %s", d->where, d->line, d->col, d->msg);
	else if (d->offset != UINT64_MAX)
		snprintf(buf, len, "%s: offset %" PRIu64 ": %s", d->where, d->offset, d->msg);
	else
		snprintf(buf, len, "%s: %s", d->where, d->msg);
	return buf;
}

__attribute__((format(printf, 3, 4))) static void set_diag(struct ctflive_diag *d,
							   const char *where, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	memset(d, 0, sizeof(*d));
	d->offset = UINT64_MAX;
	snprintf(d->where, sizeof(d->where), "%s", where ? where : "");
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
}

/* Queues a warning; dropped when out of memory (they are advisory). */
static struct ctflive_diag *add_warning(struct ctflive_iter *it)
{
	if (it->whead == it->nwarn)
		it->whead = it->nwarn = 0; /* all handed out: reuse the queue */
	it->fast = false;
	if (cl_grow(&it->warnings, &it->wcap, it->nwarn + 1) < 0)
		return NULL;
	return &it->warnings[it->nwarn++];
}

static int new_iter(enum kind kind, struct ctflive_iter **ret)
{
	struct ctflive_iter *it = calloc(1, sizeof(*it));

	if (!it)
		return -ENOMEM;
	it->kind = kind;
	it->errd.offset = UINT64_MAX;
	it->mdiag.offset = UINT64_MAX;
	*ret = it;
	return 0;
}

struct ctflive_iter *ctflive_iter_free(struct ctflive_iter *it)
{
	if (!it)
		return NULL;
	ctflive_merge_free(it->merge); /* before the streams it borrows */
	ctflive_ctf_fs_free(it->fs);
	ctflive_live_view_free(it->live);
	ctflive_follow_free(it->follow);
	free(it->warnings);
	free(it);
	return NULL;
}

/* ---- trace directories -------------------------------------------------- */

int ctflive_iter_open_dirs(const char *const *paths, size_t n, struct ctflive_iter **ret,
			   struct ctflive_diag *reterr)
{
	struct ctflive_ctf_diag d = { 0 };
	const char *errpath = NULL;
	struct ctflive_iter *it;
	int r;

	r = new_iter(K_DIRS, &it);
	if (r < 0) {
		set_diag(reterr, NULL, "out of memory");
		return r;
	}
	r = ctflive_ctf_fs_open(paths, n, &it->fs, &d, &errpath);
	if (r < 0) {
		if (reterr) {
			if (d.msg[0]) {
				set_diag(reterr, errpath, "%s", d.msg);
				reterr->line = d.line;
				reterr->col = d.col;
				reterr->offset = d.line > 0 ? UINT64_MAX : d.offset;
			} else if ((!errpath || !errpath[0]) && n && !paths[0][0]) {
				set_diag(reterr, NULL, "cannot open '': %s", strerror(-r));
			} else {
				set_diag(reterr,
					 errpath ? errpath
					 : n     ? paths[0]
						 : "",
					 "cannot open: %s", strerror(-r));
			}
		}
		ctflive_iter_free(it);
		return r;
	}
	for (size_t i = 0; i < ctflive_ctf_fs_warning_count(it->fs); i++) {
		struct ctflive_diag *w = add_warning(it);

		if (w)
			set_diag(w, NULL, "%s", ctflive_ctf_fs_warning(it->fs, i));
	}
	for (size_t i = 0; i < ctflive_ctf_fs_trace_count(it->fs); i++) {
		const char *dir;
		struct ctflive_ctf_trace *t = ctflive_ctf_fs_trace(it->fs, i, &dir);

		for (size_t k = 0; k < ctflive_ctf_trace_warning_count(t); k++) {
			const struct ctflive_ctf_diag *md = ctflive_ctf_trace_warning(t, k);
			struct ctflive_diag *w = add_warning(it);

			if (!w)
				continue;
			set_diag(w, NULL, "%s", md->msg);
			snprintf(w->where, sizeof(w->where), "%s/metadata", dir);
			w->line = md->line;
			w->col = md->col;
		}
	}
	r = ctflive_merge_new(&it->merge);
	if (r == 0)
		r = ctflive_ctf_fs_merge_add(it->fs, it->merge);
	if (r < 0) {
		set_diag(reterr, NULL, "cannot set up the merge: %s", strerror(-r));
		ctflive_iter_free(it);
		return r;
	}
	it->fast = it->whead == it->nwarn;
	*ret = it;
	return 0;
}

static __attribute__((noinline)) int dirs_fail(struct ctflive_iter *it, int r,
					       const struct ctflive_ctf_stream *s,
					       const struct ctflive_ctf_diag *d)
{
	const char *where = s ? ctflive_ctf_stream_name(s) : NULL;
	uint64_t off = UINT64_MAX;

	/* name the file the error is in (a stream may span several) */
	if (s && d->offset != UINT64_MAX &&
	    !ctflive_ctf_fs_locate(it->fs, s, d->offset, &where, &off))
		off = d->offset;
	set_diag(&it->errd, where, "%s", d->msg);
	it->errd.line = d->line;
	it->errd.col = d->col;
	it->errd.offset = off;
	it->err = r;
	return r;
}

/* ---- live --------------------------------------------------------------- */

/* Connects to relay `url` and attaches its session; 0 or *reterr says why not. */
static int live_connect(const struct ctflive_live_url *url, enum ctflive_live_seek seek,
			int timeout_ms, struct ctflive_live_client **ret,
			struct ctflive_diag *reterr)
{
	struct ctflive_live_client *c = NULL;
	char err[512] = "";
	int r;

	r = ctflive_live_client_connect(url->relay_host, url->port, url->family, timeout_ms, &c,
					err, sizeof(err));
	if (r < 0) {
		set_diag(reterr, NULL, "%s", err[0] ? err : strerror(-r));
		return r;
	}
	r = ctflive_live_client_attach(c, url->target_host, url->session_name, seek);
	if (r < 0) {
		set_diag(reterr, NULL, "cannot attach to session '%s' of host '%s': %s",
			 url->session_name, url->target_host, ctflive_live_client_error(c));
		ctflive_live_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int ctflive_iter_open_live_list(const struct ctflive_live_url *urls, size_t n,
				enum ctflive_live_seek seek, int timeout_ms, int reconnect_ms,
				struct ctflive_iter **ret, struct ctflive_diag *reterr)
{
	struct ctflive_live_client *c = NULL;
	struct ctflive_iter *it;
	size_t i;
	int r = -EINVAL;

	if (!urls || n == 0 || !urls[0].has_session) {
		set_diag(reterr, NULL, "the URL names no session");
		return -EINVAL;
	}
	r = new_iter(K_LIVE, &it);
	if (r < 0) {
		set_diag(reterr, NULL, "out of memory");
		return r;
	}
	/* the first relay of the list that serves the session */
	for (i = 0; i < n; i++) {
		r = live_connect(&urls[i], seek, timeout_ms, &c, reterr);
		if (r == 0)
			break;
	}
	if (r < 0) {
		ctflive_iter_free(it);
		return r;
	}
	r = ctflive_live_view_new(c, &it->live); /* takes c */
	if (r == 0 && reconnect_ms > 0)
		r = ctflive_live_view_set_failover(it->live, urls, n, i, timeout_ms, reconnect_ms);
	if (r < 0) {
		set_diag(reterr, NULL, "cannot create the live view: %s", strerror(-r));
		ctflive_iter_free(it);
		return r;
	}
	*ret = it;
	return 0;
}

int ctflive_iter_open_live(const struct ctflive_live_url *url, enum ctflive_live_seek seek,
			   int timeout_ms, struct ctflive_iter **ret, struct ctflive_diag *reterr)
{
	if (!url || !url->has_session) {
		set_diag(reterr, NULL, "the URL names no session");
		return -EINVAL;
	}
	return ctflive_iter_open_live_list(url, 1, seek, timeout_ms, 0, ret, reterr);
}

/* ---- follow ------------------------------------------------------------- */

/*
 * Whether `dir` is a session that ctflive-relayd is writing now: its session
 * marker exists and is write-locked (doc/file-formats.md §4). When it is
 * not, *ret_state is the marker's state ("" without a marker).
 */
static bool being_written(const char *dir, char *ret_state, size_t state_len, bool *ret_marker)
{
	char path[4096];
	int fd;
	bool locked;

	ret_state[0] = '\0';
	*ret_marker = false;
	if (snprintf(path, sizeof(path), "%s/%s", dir, CL_SESSION_MARKER_NAME) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	*ret_marker = true;
	locked = ctflive_follow_is_locked(fd);
	cl_follow_read_marker_state(fd, ret_state, state_len);
	close(fd);
	return locked;
}

int ctflive_iter_open_follow(const char *dir, const struct ctflive_follow_options *opts,
			     struct ctflive_iter **ret, struct ctflive_diag *reterr)
{
	struct ctflive_iter *it;
	char state[32];
	bool marker;
	int r;

	if (!being_written(dir, state, sizeof(state), &marker)) {
		/* Nothing will be added: read it exactly as a finished trace
		 * (ctflive view), whatever indexes it has. */
		struct ctflive_diag *w = NULL;

		r = ctflive_iter_open_dirs(&dir, 1, &it, reterr);
		if (r < 0)
			return r;
		if (!marker || strcmp(state, "complete") != 0)
			w = add_warning(it);
		if (w && !marker)
			set_diag(w, NULL,
				 "no session marker in '%s': not written by ctflive-relayd, "
				 "read as a finished trace",
				 dir);
		else if (w) {
			char msg[sizeof(w->msg)];

			cl_follow_state_warning(msg, sizeof(msg), dir, state);
			set_diag(w, NULL, "%s", msg);
		}
		if (w)
			it->fast = false; /* the fast path does not look for warnings */
		*ret = it;
		return 0;
	}
	r = new_iter(K_FOLLOW, &it);
	if (r < 0) {
		set_diag(reterr, NULL, "out of memory");
		return r;
	}
	r = ctflive_follow_new(dir, opts, &it->follow);
	if (r < 0) {
		set_diag(reterr, dir, "cannot follow: %s", strerror(-r));
		ctflive_iter_free(it);
		return r;
	}
	*ret = it;
	return 0;
}

static void follow_warnings(struct ctflive_iter *it)
{
	const char *s;

	while ((s = ctflive_follow_next_warning(it->follow))) {
		struct ctflive_diag *w = add_warning(it);

		if (w)
			set_diag(w, NULL, "%s", s);
	}
}

/* ---- iteration ---------------------------------------------------------- */

static __attribute__((noinline)) int next_other(struct ctflive_iter *it,
						const struct ctflive_ctf_msg **ret_msg,
						const struct ctflive_ctf_stream **ret_stream)
{
	int r;

	if (it->err)
		return it->err;
	if (it->held) {
		it->held = false;
		*ret_msg = &it->msg;
		*ret_stream = it->stream;
		return 0;
	}
	if (it->kind == K_LIVE) {
		const char *w;

		r = ctflive_live_view_next(it->live, &it->stream, &it->msg);
		while ((w = ctflive_live_view_next_warning(it->live))) {
			struct ctflive_diag *d = add_warning(it);

			if (d)
				set_diag(d, NULL, "live session: %s", w);
		}
		if (r < 0 && r != -EAGAIN) {
			set_diag(&it->errd, NULL, "live session: %s",
				 ctflive_live_view_error(it->live));
			it->err = r;
		}
	} else {
		r = ctflive_follow_next(it->follow, &it->stream, &it->msg);
		follow_warnings(it);
		if (r < 0 && r != -EAGAIN) {
			set_diag(&it->errd, NULL, "%s", ctflive_follow_error(it->follow));
			it->err = r;
		}
	}
	if (r != 0)
		return r;
	if (it->whead < it->nwarn) {
		/* the warnings came first */
		it->held = true;
		return CTFLIVE_ITER_WARNING;
	}
	*ret_msg = &it->msg;
	*ret_stream = it->stream;
	return 0;
}

static __attribute__((noinline)) int next_slow(struct ctflive_iter *it,
					       const struct ctflive_ctf_msg **ret_msg,
					       const struct ctflive_ctf_stream **ret_stream)
{
	struct ctflive_ctf_stream *s = NULL;
	int r;

	if (it->whead < it->nwarn)
		return CTFLIVE_ITER_WARNING;
	if (it->kind != K_DIRS)
		return next_other(it, ret_msg, ret_stream);
	it->fast = true;
	r = ctflive_merge_next(it->merge, ret_msg, &s, &it->mdiag);
	*ret_stream = s;
	return r;
}

/*
 * Trace directories: the merger's own call (the hot path); an error is
 * described by ctflive_iter_error() from the merger's state.
 */
int ctflive_iter_next(struct ctflive_iter *it, const struct ctflive_ctf_msg **ret_msg,
		      const struct ctflive_ctf_stream **ret_stream)
{
	if (__builtin_expect(it->fast, 1))
		return ctflive_merge_next(it->merge, ret_msg,
					  (struct ctflive_ctf_stream **)(uintptr_t)ret_stream,
					  &it->mdiag);
	return next_slow(it, ret_msg, ret_stream);
}

int ctflive_iter_wait(struct ctflive_iter *it, int timeout_ms)
{
	switch (it->kind) {
	case K_FOLLOW:
		return ctflive_follow_wait(it->follow,
					   timeout_ms < 0 ? FOLLOW_WAIT_MS : timeout_ms);
	case K_LIVE: {
		/*
		 * The default wait makes rounds that found nothing at least
		 * LIVE_WAIT_MS apart, counting the time since the last wait:
		 * against a relay that held the requests until it had news (or
		 * its bound passed), or after a long decoding round, nothing is
		 * left to sleep; against one that answers at once, the full
		 * period, as babeltrace2.
		 */
		int64_t ns = (int64_t)(timeout_ms < 0 ? LIVE_WAIT_MS : timeout_ms) * 1000000;
		struct timespec now;

		if (ctflive_live_view_wait(it->live, timeout_ms) > 0) {
			/* a request was in flight: its reply came (or the
			 * timeout passed), no sleep */
			(void)clock_gettime(CLOCK_MONOTONIC, &now);
			it->live_wait_end_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
			return 0;
		}
		(void)clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout_ms < 0)
			ns -= (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - it->live_wait_end_ns;
		if (ns > 0) {
			struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			(void)clock_gettime(CLOCK_MONOTONIC, &now);
		}
		it->live_wait_end_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
		return 0;
	}
	default:
		return 0;
	}
}

const struct ctflive_diag *ctflive_iter_error(struct ctflive_iter *it)
{
	struct ctflive_ctf_stream *s = NULL;
	struct ctflive_ctf_diag d;
	int r;

	if (it->kind == K_DIRS && !it->err && (r = ctflive_merge_error(it->merge, &s, &d)) != 0)
		dirs_fail(it, r, s, &d);
	return &it->errd;
}

const struct ctflive_diag *ctflive_iter_next_warning(struct ctflive_iter *it)
{
	if (it->whead >= it->nwarn)
		return NULL;
	it->warning = it->warnings[it->whead++];
	return &it->warning;
}

struct ctflive_ctf_fs *ctflive_iter_fs(struct ctflive_iter *it)
{
	return it->fs;
}

struct ctflive_live_view *ctflive_iter_live_view(struct ctflive_iter *it)
{
	return it->live;
}

struct ctflive_follow *ctflive_iter_follow(struct ctflive_iter *it)
{
	return it->follow;
}
