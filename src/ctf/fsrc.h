/* SPDX-License-Identifier: MIT */
/*
 * Trace directories, private to src/ctf: fsrc.c finds traces and groups
 * their files into streams; fsrc-frame.c frames data files (by their .idx
 * or their packet headers) and plans the reading order of streams made of
 * several files.
 */
#ifndef CL_CTF_FSRC_H
#define CL_CTF_FSRC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctf-internal.h"

struct dfile {
	char *path; /* owned, absolute */
	const uint8_t *map;
	size_t len;
	uint64_t sc_id, inst;
	bool has_begin;
	int64_t begin_ns;
};

/* Bytes of one file read in one go: packets in reading order that are
 * contiguous in the same file. */
struct frun {
	size_t file;
	size_t off, len;
};

struct fstream {
	struct dfile *files; /* owned array (maps owned) */
	size_t nfiles, fcap;
	struct frun *runs; /* owned: the reading order */
	size_t nruns, cur;
	size_t pos; /* in the current run */
	struct ctflive_ctf_stream *dec;
	struct ftrace *tr;
	uint64_t stream_id;
	/* index entries lost after the stream's last packet (merge.h) */
	uint64_t lost_after, lost_after_end;
};

struct ftrace {
	char *dir;  /* owned */
	char *name; /* owned trace name */
	struct ctflive_ctf_trace *t;
	size_t md_len;
	struct ftrace *merged_into;
};

struct strv {
	char **v;
	size_t n, cap;
};

struct ctflive_ctf_fs {
	struct ftrace *traces; /* owned */
	size_t ntraces, tcap;
	struct fstream *streams; /* owned */
	size_t nstreams, scap;
	uint64_t lost;
	struct strv warnings;
	char errpath[PATH_MAX + 64];
};

/* Maps a whole file read-only (*ret NULL for an empty file). 0 or -errno. */
int cl_fsrc_map_file(const char *path, const uint8_t **ret, size_t *ret_len);

/* Frames one data file as babeltrace2 indexes it, calling `fn` per packet
 * (see fsrc-frame.c). 0 or a negative errno with *reterr. */
int cl_fsrc_frame_file(struct ctflive_ctf_trace *t, const char *path, const uint8_t *data,
		       size_t len, int (*fn)(void *ctx, const struct cl_packet_info *p), void *ctx,
		       struct ctflive_ctf_diag *reterr);

/* A cl_fsrc_frame_file() callback recording the first packet's stream class,
 * stream_instance_id and timestamp_begin in the struct dfile `ctx`. */
int cl_fsrc_first_packet(void *ctx, const struct cl_packet_info *p);

/* The reading order (runs) of stream `st` of trace `owner`. */
int cl_fsrc_plan_runs(struct fstream *st, struct ftrace *owner, struct ctflive_ctf_diag *reterr);

/* Packets the index of `data_path` marks as lost in transit, reported to
 * `dec`; their count, and how many follow the file's last packet (and the
 * timestamp_end of the last of them, UINT64_MAX if none). */
uint64_t cl_fsrc_index_lost(const char *data_path, struct ctflive_ctf_stream *dec,
			    uint64_t *ret_trailing, uint64_t *ret_trailing_end);

#endif
