/* SPDX-License-Identifier: MIT */
/*
 * Streams and index entries of a followed trace directory: reading the
 * header and entries of each tracefile's index file, attaching files to
 * streams by their first entry, and pushing published packets into the
 * streams' byte sources, a bounded number ahead of the decoder.
 *
 * Reading order within one poll: the session marker first (once it is seen
 * unlocked the relay is done, so everything read afterwards is final), then
 * index entries and packets, then metadata: metadata the relay received
 * before an index entry is unlocked before it, so metadata read after the
 * entry covers it. The metadata of a new stream class can still come after
 * the first entry of its tracefile (seen with LTTng 2.16 under load): such
 * a file is attached once the metadata declares its class.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctf-index.h"
#include "ctflive/ctf.h"
#include "ctflive/follow.h"
#include "ctflive/live.h"
#include "follow-internal.h"

/* ---- streams and index entries ---------------------------------------- */

/* Reads the index header of `fi`. 0 if not published yet, 1 when read. */
static int read_header(struct ctflive_follow *f, struct ffile *fi)
{
	uint8_t raw[CL_INDEX_HEADER_SIZE];
	struct cl_rbuf rb = cl_rbuf_make(raw, sizeof(raw));
	struct cl_index_header h;
	int r = ctflive_follow_pread_locked(fi->idx_fd, raw, sizeof(raw), 0);

	if (r == -EAGAIN || r == -EMSGSIZE)
		return 0;
	if (r < 0)
		return cl_follow_fail(f, r, "cannot read the index of '%s': %s", fi->path,
				      strerror(-r));
	r = cl_index_header_decode(&rb, &h);
	if (r == 0)
		r = cl_index_header_check(&h);
	if (r == -EBADMSG)
		return cl_follow_fail(f, -EBADMSG, "bad index magic in the index of '%s'",
				      fi->path);
	if (r == -ENOTSUP)
		return cl_follow_fail(f, -ENOTSUP, "unsupported index version %" PRIu32 " of '%s'",
				      h.major, fi->path);
	if (r == -ERANGE)
		return cl_follow_fail(f, -EBADMSG, "bad index entry size %" PRIu32 " of '%s'",
				      h.entry_size, fi->path);
	if (r < 0)
		return cl_follow_fail(f, r, "cannot read the index of '%s': %s", fi->path,
				      strerror(-r));
	fi->esize = h.entry_size;
	return 1;
}

/*
 * Reads and decodes the index entry at fi->next. Returns 1 when read, 0 if it
 * is not published (or not whole), negative errno.
 */
static int read_entry(struct ctflive_follow *f, struct ffile *fi, struct cl_index_entry *ret)
{
	uint8_t raw[CL_INDEX_ENTRY_SIZE_MAX];
	struct cl_rbuf rb;
	int r;

	if (fi->idx_fd < 0) {
		char ipath[PATH_MAX];
		struct stat isb, dsb;

		/* The index at this path belongs to a newer tracefile now. */
		if (cl_follow_superseded(f, fi))
			return 0;
		if (snprintf(ipath, sizeof(ipath), "%s/index/%s.idx", fi->tr->dir, fi->name) >=
		    (int)sizeof(ipath))
			return 0;
		fi->idx_fd = open(ipath, O_RDONLY | O_CLOEXEC);
		if (fi->idx_fd < 0)
			return 0;
		/* The relay replaces the tracefile, then its index: the index
		 * must not be the one of an older file at the same path, and the
		 * tracefile must still be ours (else it belongs to a newer one). */
		bool bad = fstat(fi->idx_fd, &isb) < 0 || stat(fi->path, &dsb) < 0 ||
			   dsb.st_dev != fi->dev || dsb.st_ino != fi->ino;

		for (size_t i = 0; !bad && i < f->nfiles; i++) {
			const struct ffile *o = f->files[i];

			/* Only open ones: a closed inode may be reused. */
			bad = o != fi && o->idx_fd >= 0 && o->idev == isb.st_dev &&
			      o->iino == isb.st_ino && !strcmp(o->path, fi->path);
		}
		if (bad) {
			close(fi->idx_fd);
			fi->idx_fd = -1;
			return 0;
		}
		fi->idev = isb.st_dev;
		fi->iino = isb.st_ino;
		fi->has_iino = true;
	}
	if (!fi->esize) {
		r = read_header(f, fi);
		if (r <= 0)
			return r;
	}
	r = ctflive_follow_pread_locked(fi->idx_fd, raw, fi->esize, fi->next);
	if (r == -EAGAIN || r == -EMSGSIZE)
		return 0;
	rb = cl_rbuf_make(raw, fi->esize);
	if (r == 0)
		r = cl_index_entry_decode(&rb, fi->esize, ret);
	if (r < 0)
		return cl_follow_fail(f, r, "cannot read the index of '%s': %s", fi->path,
				      strerror(-r));
	return 1;
}

static int cmp_files(const void *a, const void *b)
{
	const struct ffile *x = *(struct ffile *const *)a, *y = *(struct ffile *const *)b;

	if (x->first_ts != y->first_ts)
		return x->first_ts < y->first_ts ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Attaches `fi`, whose first entry is `e`, to its stream (created if new). */
static int attach_file(struct ctflive_follow *f, struct ffile *fi, const struct cl_index_entry *e)
{
	struct ctflive_ctf_source src;
	struct fstream *s = NULL;
	int r;

	fi->first_ts = e->timestamp_begin;
	for (size_t i = 0; e->stream_instance_id != UINT64_MAX && i < f->nstreams; i++) {
		struct fstream *o = f->streams[i];

		if (o->tr == fi->tr && o->sc_id == e->stream_id &&
		    o->inst == e->stream_instance_id && !o->ended) {
			s = o;
			break;
		}
	}
	if (!s) {
		if (cl_grow(&f->streams, &f->scap, f->nstreams + 1) < 0)
			return cl_follow_fail(f, -ENOMEM, "out of memory");
		s = calloc(1, sizeof(*s));
		if (!s)
			return cl_follow_fail(f, -ENOMEM, "out of memory");
		s->tr = fi->tr;
		s->sc_id = e->stream_id;
		s->inst = e->stream_instance_id;
		s->label = strdup(fi->path);
		r = s->label ? ctflive_ctf_bufsrc_new(&s->src) : -ENOMEM;
		if (r >= 0) {
			src = ctflive_ctf_bufsrc_source(s->src);
			r = ctflive_ctf_stream_new(fi->tr->trace, &src, &s->dec);
		}
		if (r < 0) {
			cl_follow_stream_free(s);
			return cl_follow_fail(f, r, "cannot create a stream decoder: %s",
					      strerror(-r));
		}
		ctflive_ctf_stream_set_labels(s->dec, cl_follow_trace_name(fi->tr), s->label,
					      e->stream_instance_id != UINT64_MAX
						      ? e->stream_instance_id
						      : fi->tr->next_auto_id++);
		r = cl_follow_merge_add(f, s);
		if (r < 0) {
			cl_follow_stream_free(s);
			return cl_follow_fail(f, r, "out of memory");
		}
		f->streams[f->nstreams++] = s;
	}
	if (cl_grow(&s->files, &s->fcap, s->nfiles + 1) < 0)
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	s->files[s->nfiles++] = fi;
	fi->st = s;
	/* Keep the files not read yet in time order (the current one too if
	 * nothing was read from it). */
	{
		size_t from = s->files[s->cur]->next == CL_INDEX_HEADER_SIZE ? s->cur : s->cur + 1;

		if (s->nfiles > from + 1)
			qsort(s->files + from, s->nfiles - from, sizeof(*s->files), cmp_files);
	}
	return 0;
}

static int grow_buf(struct ctflive_follow *f, size_t n)
{
	cl_buf_clear(&f->buf);
	if (cl_buf_reserve(&f->buf, n) < 0)
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	return 0;
}

/*
 * Reads published entries and packets of the current file of `s`, at most
 * MAX_AHEAD packets ahead of the decoder. Moves to the next file when the
 * relay is done with this one. Returns 0 or a negative errno.
 */
static int poll_stream(struct ctflive_follow *f, struct fstream *s)
{
	s->capped = false;
	while (s->cur < s->nfiles && s->pushed - s->begins < MAX_AHEAD) {
		struct ffile *fi = s->files[s->cur];
		struct cl_index_entry e;
		uint64_t dsize = 0, len;
		int r;

		if (fi->exhausted && s->cur + 1 >= s->nfiles) {
			/*
			 * The last file of the stream, read to its end and unlocked:
			 * the relay may only have closed it for a while (an idle
			 * stream's files are closed when descriptors run short, and
			 * locked again when reopened): look for new entries.
			 */
			r = read_entry(f, fi, &e);
			if (r <= 0)
				return r;
			fi->exhausted = false;
		}
		if (fi->exhausted) {
			/* Read to its end: continue with the next file in time order
			 * (ring slot or trace chunk replaced: a new file). */
			if (s->cur + 1 >= s->nfiles)
				return 0;
			s->cur++;
			continue;
		}
		r = read_entry(f, fi, &e);
		if (r < 0)
			return r;
		if (r == 0) {
			uint64_t end;

			/* Nothing published: is the relay done with this file? */
			if (!f->final) {
				r = ctflive_follow_safe_end(fi->idx_fd, 0, &end);
				if (r < 0 || end != UINT64_MAX)
					return 0;
			}
			fi->exhausted = true;
			if (s->cur + 1 >= s->nfiles)
				return 0;
			s->cur++;
			continue;
		}
		if (cl_index_entry_is_lost(&e)) {
			/* The decoder reports the packet_seq_num gap it leaves before
			 * the next packet; lost packets at the end are ours to report. */
			if (e.packet_seq_num != UINT64_MAX) {
				r = ctflive_ctf_stream_mark_lost(s->dec, e.packet_seq_num);
				if (r < 0 && r != -E2BIG)
					return cl_follow_fail(f, r, "out of memory");
			}
			s->nlost++;
			s->lost_end = e.timestamp_end;
			f->lost++;
			fi->next += fi->esize;
			continue;
		}
		len = e.packet_size / 8;
		if (e.packet_size % 8 || len == 0 || len > CTFLIVE_LIVE_MAX_PACKET ||
		    e.content_size > e.packet_size)
			return cl_follow_fail(f, -EBADMSG,
					      "bad index entry %" PRIu64
					      " of '%s' (packet of %" PRIu64 " bits)",
					      (fi->next - CL_INDEX_HEADER_SIZE) / fi->esize,
					      fi->path, e.packet_size);
		r = cl_follow_file_size(fi->data_fd, &dsize);
		if (r < 0)
			return cl_follow_fail(f, r, "cannot read '%s': %s", fi->path, strerror(-r));
		if (e.offset > dsize || len > dsize - e.offset) {
			/* Without the relay (crash, no marker) such an entry is not whole. */
			if (f->final) {
				fi->exhausted = true;
				if (s->cur + 1 >= s->nfiles)
					return 0;
				s->cur++;
				continue;
			}
			return 0; /* the relay broke the contract, or a race: retry */
		}
		r = grow_buf(f, (size_t)len);
		if (r < 0)
			return r;
		r = ctflive_follow_pread_locked(fi->data_fd, f->buf.data, (size_t)len, e.offset);
		if (r == -EAGAIN || r == -EMSGSIZE)
			return 0;
		if (r < 0)
			return cl_follow_fail(f, r, "cannot read '%s': %s", fi->path, strerror(-r));
		r = ctflive_ctf_bufsrc_push(s->src, f->buf.data, (size_t)len);
		if (r < 0)
			return cl_follow_fail(f, r, "out of memory");
		s->pushed++;
		s->nlost = 0;
		s->has_end = true;
		s->last_end = e.timestamp_end;
		fi->next += fi->esize;
	}
	/* stopped by the read-ahead limit: more may be published already */
	s->capped = s->cur < s->nfiles;
	return 0;
}

/* Reads the first entry of files not attached to a stream yet. */
static int poll_new_files(struct ctflive_follow *f)
{
	for (size_t i = 0; i < f->nfiles; i++) {
		struct ffile *fi = f->files[i];
		struct cl_index_entry e;
		int r;

		if (fi->st || fi->exhausted)
			continue;
		if (fi->idx_fd < 0 && cl_follow_superseded(f, fi)) {
			uint64_t size = 0;

			/* Replaced before its index could be opened (the relay
			 * wrapped its ring or cleared the session faster than we
			 * read): its packets are gone. */
			fi->exhausted = true;
			if (cl_follow_file_size(fi->data_fd, &size) == 0 && size > 0)
				cl_follow_add_warning(
					f,
					"'%s' was replaced before it could be read: its "
					"packets (%" PRIu64 " bytes) are lost",
					fi->path, size);
			continue;
		}
		r = read_entry(f, fi, &e);
		if (r < 0)
			return r;
		if (r == 0) {
			if (f->final)
				fi->exhausted = true;
			continue;
		}
		/* The metadata declaring its stream class may be published after
		 * the first index entry: attach the file once it is (at the end,
		 * in any case, so that a missing class is a decoding error). */
		if (!f->final && !ctflive_ctf_trace_has_stream_class(fi->tr->trace, e.stream_id))
			continue;
		r = attach_file(f, fi, &e);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * One round of reading: marker, new directories and files, index entries
 * and packets, then metadata. Once the marker is seen unlocked a last full
 * round makes every stream final.
 */
int cl_follow_poll_all(struct ctflive_follow *f)
{
	bool was_final = f->final;
	uint64_t before = 0, after = 0;
	int r;

	if (f->final_read)
		return 0;
	for (size_t i = 0; i < f->nstreams; i++)
		before += f->streams[i]->pushed;
	if (!f->final && !ctflive_follow_is_locked(f->marker_fd)) {
		cl_follow_read_marker_state(f->marker_fd, f->marker_state, sizeof(f->marker_state));
		f->final = true;
	}
	r = cl_follow_rescan(f, f->final && !was_final);
	if (r < 0)
		return r;
	/* Metadata first too: new streams need it to be decoded at all. */
	for (size_t i = 0; i < f->ntraces; i++) {
		r = cl_follow_poll_metadata(f, f->traces[i]);
		if (r < 0)
			return r;
	}
	r = poll_new_files(f);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f->nstreams; i++) {
		r = poll_stream(f, f->streams[i]);
		if (r < 0)
			return r;
		after += f->streams[i]->pushed;
	}
	f->pushed = after != before;
	if (!f->pushed)
		f->last_poll = cl_follow_clock_ns(CLOCK_MONOTONIC);
	/* A file created between the scan above and the packets just read is
	 * rescanned for before the merge goes past them (files_pull()). */
	(void)cl_follow_drain_inotify(f);
	for (size_t i = 0; i < f->ntraces; i++) {
		r = cl_follow_poll_metadata(f, f->traces[i]);
		if (r < 0)
			return r;
	}
	if (!f->final)
		return 0;
	/* Final: a stream whose last file is read ends. */
	for (size_t i = 0; i < f->nstreams; i++) {
		struct fstream *s = f->streams[i];

		if (!s->ended && s->cur + 1 >= s->nfiles && s->files[s->cur]->exhausted) {
			ctflive_ctf_bufsrc_end(s->src);
			s->ended = true;
		}
	}
	f->final_read = true;
	for (size_t i = 0; i < f->nstreams; i++)
		if (!f->streams[i]->ended)
			f->final_read = false; /* bounded read-ahead: more rounds */
	if (f->final_read) {
		for (size_t i = 0; i < f->ntraces; i++) {
			struct ctflive_ctf_diag diag;

			memset(&diag, 0, sizeof(diag));
			if (!f->traces[i]->md_any)
				continue;
			r = ctflive_ctf_trace_end_metadata(f->traces[i]->trace, &diag);
			if (r < 0)
				return cl_follow_fail(f, r, "%s/metadata:%d:%d: %s",
						      f->traces[i]->dir, diag.line, diag.col,
						      diag.msg);
		}
	}
	return 0;
}
