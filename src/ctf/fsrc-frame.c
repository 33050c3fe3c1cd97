/* SPDX-License-Identifier: MIT */
/*
 * Framing the data files of a trace directory as babeltrace2 2.0.4 indexes
 * them, merging the packets of streams made of several files, and reading
 * the packets an index marks as lost in transit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bytes.h"
#include "ctf-index.h"
#include "fsrc.h"
#include "grow.h"

/* Maps the index of data file `path`, `index/<name>.idx` beside it (LTTng's
 * layout): true with a non-empty mapping for the caller to munmap(). */
static bool map_index(const char *path, const uint8_t **ret, size_t *ret_len)
{
	char ipath[PATH_MAX];
	const char *slash = strrchr(path, '/');

	*ret = NULL;
	return slash &&
	       snprintf(ipath, sizeof(ipath), "%.*s/index/%s.idx", (int)(slash - path), path,
			slash + 1) < (int)sizeof(ipath) &&
	       cl_fsrc_map_file(ipath, ret, ret_len) == 0 && *ret;
}

int cl_fsrc_first_packet(void *ctx, const struct cl_packet_info *p)
{
	struct dfile *f = ctx;

	if (p->offset == 0) {
		f->sc_id = p->sc_id;
		f->inst = p->instance_id;
		f->has_begin = p->has_begin;
		f->begin_ns = p->begin_ns;
	}
	return 0;
}

struct scanned {
	int (*fn)(void *ctx, const struct cl_packet_info *p);
	void *ctx;
};

/* A packet found by decoding headers: babeltrace2 leaves its index
 * entry's packet_seq_num unset. */
static int scanned_packet(void *ctx, const struct cl_packet_info *p)
{
	const struct scanned *sc = ctx;
	struct cl_packet_info pi = *p;

	pi.seq = UINT64_MAX;
	return sc->fn(sc->ctx, &pi);
}

static int stop_after_first(void *ctx, const struct cl_packet_info *p)
{
	*(struct cl_packet_info *)ctx = *p;
	return 1;
}

/*
 * Frames the packets of one data file as babeltrace2 2.0.4 indexes it
 * (fs-src/data-stream-file.c, build_index_from_idx_file()): from its
 * `index/<file>.idx` when that index is sound (version 1, entries of at
 * least 56 bytes, whole entries, byte-sized packets at non-decreasing
 * offsets, timestamp_end >= timestamp_begin, packet sizes adding up to the
 * file size, a stream class with a clock), else by decoding every packet
 * header and context. Calls `fn` for each packet; packet_seq_num comes only
 * from a version 1.1 index (UINT64_MAX otherwise), as babeltrace2 compares
 * packets with it. With an index, only the first packet header is decoded
 * here: a later bad header is met while reading, after the events before it.
 */
int cl_fsrc_frame_file(struct ctflive_ctf_trace *t, const char *path, const uint8_t *data,
		       size_t len, int (*fn)(void *ctx, const struct cl_packet_info *p), void *ctx,
		       struct ctflive_ctf_diag *reterr)
{
	struct cl_packet_info first = { 0 }, pi;
	const struct cl_stream_class *sc;
	struct cl_index_header h = { 0 };
	struct cl_index_entry e;
	struct cl_rbuf rb = { 0 };
	const uint8_t *m = NULL;
	size_t mlen = 0, n;
	uint64_t total = 0, prev_off = 0;
	bool sound;
	int r;

	r = cl_ctf_scan_packets(t, data, len, stop_after_first, &first, reterr);
	if (r < 0)
		return r;
	sc = cl_trace_stream_class(t, first.sc_id);
	sound = sc && sc->clock && map_index(path, &m, &mlen);
	if (sound) {
		rb = cl_rbuf_make(m, mlen);
		sound = cl_index_header_decode(&rb, &h) == 0 && h.magic == CL_INDEX_MAGIC &&
			h.major == CL_INDEX_MAJOR && h.entry_size >= CL_INDEX_ENTRY_SIZE_MIN &&
			cl_rbuf_left(&rb) % h.entry_size == 0;
	}
	n = sound ? cl_rbuf_left(&rb) / h.entry_size : 0;
	for (size_t i = 0; sound && i < n; i++) {
		struct cl_rbuf eb =
			cl_rbuf_make(m + cl_index_entry_pos(i, h.entry_size), h.entry_size);

		sound = cl_index_entry_decode(&eb, h.entry_size, &e) == 0 &&
			e.packet_size % 8 == 0 && (i == 0 || e.offset >= prev_off) &&
			e.timestamp_end >= e.timestamp_begin;
		prev_off = e.offset;
		total += e.packet_size / 8;
	}
	sound = sound && total == len;
	for (size_t i = 0; sound && r >= 0 && i < n; i++) {
		struct cl_rbuf eb =
			cl_rbuf_make(m + cl_index_entry_pos(i, h.entry_size), h.entry_size);

		if (cl_index_entry_decode(&eb, h.entry_size, &e) < 0)
			break; /* cannot happen: checked above */
		pi = first;
		pi.offset = (size_t)e.offset;
		pi.size = (size_t)(e.packet_size / 8);
		pi.begin = e.timestamp_begin;
		pi.end = e.timestamp_end;
		pi.begin_ns = cl_clock_ns(sc->clock, pi.begin);
		/* packet_seq_num only from a version 1.1 index */
		pi.seq = h.minor >= CL_INDEX_MINOR_1_1 ? e.packet_seq_num : UINT64_MAX;
		r = fn(ctx, &pi);
	}
	if (m)
		munmap((void *)(uintptr_t)m, mlen);
	if (sound)
		return r < 0 ? r : 0;
	return cl_ctf_scan_packets(t, data, len, scanned_packet,
				   &(struct scanned){ .fn = fn, .ctx = ctx }, reterr);
}

/* A packet of a stream made of several files. */
struct mpacket {
	size_t file, off, size;
	uint64_t begin, end, seq;
};

struct mlist {
	struct mpacket *v;
	size_t n, cap;
	size_t file; /* file being scanned */
};

/*
 * Adds a packet where babeltrace2 2.0.4 puts it when it merges the indexes
 * of a stream's files (ds_index_insert_ds_index_entry_sorted()): before the
 * first packet that does not begin earlier, unless that packet is the same
 * one (same size, timestamp_begin, timestamp_end and packet_seq_num: a copy
 * of the trace, or of a file), which is dropped.
 */
static int merge_packet(void *ctx, const struct cl_packet_info *p)
{
	struct mlist *l = ctx;
	size_t lo = 0, hi = l->n;
	struct mpacket m = { l->file, p->offset, p->size, p->begin, p->end, p->seq };

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].begin < m.begin)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < l->n && l->v[lo].size == m.size && l->v[lo].begin == m.begin &&
	    l->v[lo].end == m.end && l->v[lo].seq == m.seq)
		return 0;
	if (cl_grow(&l->v, &l->cap, l->n + 1) < 0)
		return -ENOMEM;
	memmove(&l->v[lo + 1], &l->v[lo], (l->n - lo) * sizeof(*l->v));
	l->v[lo] = m;
	l->n++;
	return 0;
}

/*
 * The reading order of a stream: its file when it has one, else the
 * packets of all its files merged by timestamp_begin with copies dropped,
 * as runs of packets that follow each other in one file.
 */
int cl_fsrc_plan_runs(struct fstream *st, struct ftrace *owner, struct ctflive_ctf_diag *reterr)
{
	struct mlist l = { 0 };
	int r = 0;

	if (st->nfiles == 1) {
		st->runs = malloc(sizeof(*st->runs));
		if (!st->runs)
			return -ENOMEM;
		st->runs[0] = (struct frun){ 0, 0, st->files[0].len };
		st->nruns = 1;
		return 0;
	}
	for (size_t i = 0; r >= 0 && i < st->nfiles; i++) {
		l.file = i;
		r = cl_fsrc_frame_file(owner->t, st->files[i].path, st->files[i].map,
				       st->files[i].len, merge_packet, &l, reterr);
	}
	if (r >= 0 && l.n) {
		st->runs = malloc(l.n * sizeof(*st->runs));
		if (!st->runs)
			r = -ENOMEM;
	}
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		struct frun *last = st->nruns ? &st->runs[st->nruns - 1] : NULL;

		if (last && last->file == l.v[i].file && last->off + last->len == l.v[i].off)
			last->len += l.v[i].size;
		else
			st->runs[st->nruns++] =
				(struct frun){ l.v[i].file, l.v[i].off, l.v[i].size };
	}
	free(l.v);
	return r;
}

/*
 * Reads the CTF index of a data file (index/<file>.idx, big-endian, v1.0 or
 * v1.1: relayd-protocol.md §6.4) and reports the packets it marks as lost in
 * transit (offset all ones) to the stream decoder; *ret_trailing is how many
 * of them follow the file's last packet, *ret_trailing_end the
 * timestamp_end of the last one (UINT64_MAX if none). Indexes are optional and
 * only advisory here: the decoder walks the packet headers itself, so a
 * missing or damaged index changes nothing else.
 */
uint64_t cl_fsrc_index_lost(const char *data_path, struct ctflive_ctf_stream *dec,
			    uint64_t *ret_trailing, uint64_t *ret_trailing_end)
{
	struct cl_index_header h;
	struct cl_index_entry e;
	struct cl_rbuf rb;
	const uint8_t *m;
	uint64_t lost = 0;
	size_t len;

	*ret_trailing = 0;
	*ret_trailing_end = UINT64_MAX;
	if (!map_index(data_path, &m, &len))
		return 0;
	rb = cl_rbuf_make(m, len);
	if (cl_index_header_decode(&rb, &h) == 0 && cl_index_header_check(&h) == 0) {
		while (cl_index_entry_decode(&rb, h.entry_size, &e) == 0) {
			if (!cl_index_entry_is_lost(&e)) {
				*ret_trailing = 0; /* a packet follows them */
				continue;
			}
			lost++;
			++*ret_trailing;
			*ret_trailing_end = e.timestamp_end;
			if (h.entry_size >= CL_INDEX_ENTRY_SIZE_1_1)
				(void)ctflive_ctf_stream_mark_lost(dec, e.packet_seq_num);
		}
	}
	munmap((void *)(uintptr_t)m, len);
	return lost;
}
