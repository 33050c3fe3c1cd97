/* SPDX-License-Identifier: MIT */
/*
 * Internals of the follower of a trace directory on disk
 * (include/ctflive/follow.h, doc/file-formats.md), shared by its pieces:
 *   follow.c         lifecycle, the streams as inputs of the merger
 *                    (ctflive/merge.h), waiting and warnings
 *   follow-scan.c    discovery of traces and tracefiles, metadata
 *   follow-stream.c  streams and index entries, one round of reading
 *   follow-locks.c   the public lock helpers (src/proto/file-locks.c)
 *
 * Objects: a *trace* per directory holding a `metadata` file; a *file* per
 * tracefile with its index file; a *stream* per decoder. Files are attached
 * to streams once their first index entry is published: files of a trace
 * whose first entries name the same (stream class, stream_instance_id) are
 * the pieces of one stream (`--tracefile-size` rings), read one after the
 * other in the order of their first timestamp_begin. Published packets are
 * pushed into the stream's in-memory byte source, a bounded number ahead of
 * the decoder.
 */
#ifndef CL_FOLLOW_INTERNAL_H
#define CL_FOLLOW_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "ctf-index.h"
#include "ctflive/ctf.h"
#include "ctflive/follow.h"
#include "grow.h"
#include "tracedir.h"

#define MARKER_NAME CL_SESSION_MARKER_NAME
#define MAX_AHEAD   8u /* packets pushed ahead of the decoder, per stream */
#define MAX_DEPTH   16 /* directory levels searched for traces */
#define MD_CHUNK    (1u << 20)

struct ftrace {
	char *dir;                       /* owned, absolute */
	char *rel;                       /* owned, relative to the followed dir */
	char *name;                      /* owned once known: trace label */
	struct ctflive_ctf_trace *trace; /* owned */
	int md_fd;                       /* -1 until `metadata` exists */
	uint64_t md_off;                 /* metadata bytes fed to the decoder */
	size_t warned;                   /* metadata warnings handed out */
	uint64_t next_auto_id;           /* stream ids of streams without instance id */
	dev_t md_dev;                    /* identity of the metadata file read */
	ino_t md_ino;
	uint64_t md_skip; /* text of the current file already fed from a previous one */
	bool md_switched; /* the current file replaced another (new trace chunk) */
	bool md_any;      /* some metadata was fed */
};

struct fstream;

struct ffile {
	struct ftrace *tr;  /* borrowed */
	struct fstream *st; /* borrowed; NULL until the first entry is published */
	char *name;         /* owned: tracefile name */
	char *path;         /* owned: absolute tracefile path */
	int data_fd, idx_fd;
	uint32_t esize;    /* index entry size, 0 until the header was read */
	uint64_t next;     /* offset of the next index entry */
	uint64_t first_ts; /* timestamp_begin of the first entry (cycles) */
	bool exhausted;    /* the relay is done with it and it was read */
	dev_t dev;         /* identity of the tracefile (a ring or a new trace */
	ino_t ino;         /* chunk replaces the file at the same path) */
	dev_t idev;        /* identity of the index file, once opened */
	ino_t iino;
	bool has_iino;
};

struct fstream {
	struct ctflive_follow *f; /* owner */
	struct ftrace *tr;        /* borrowed */
	uint64_t sc_id, inst;     /* key; inst UINT64_MAX for index 1.0 */
	struct ffile **files;     /* borrowed from the follower, reading order */
	size_t nfiles, fcap, cur;
	struct ctflive_ctf_bufsrc *src; /* owned */
	struct ctflive_ctf_stream *dec; /* owned; borrows tr->trace and src */
	char *label;                    /* owned: absolute path of the first file */
	bool ended;                     /* bufsrc_end() was called */
	bool capped;                    /* the last poll stopped at MAX_AHEAD packets ahead */
	uint64_t pushed, begins;        /* packets pushed / PACKET_BEGIN decoded */
	bool has_end;                   /* a packet was pushed: last_end is valid */
	uint64_t last_end;              /* timestamp_end of the last pushed packet (cycles) */
	uint64_t nlost;                 /* lost entries after the last pushed packet */
	uint64_t lost_end;              /* timestamp_end of the last lost entry (cycles) */
};

struct ctflive_follow {
	char *dir; /* owned, as given */
	struct ctflive_follow_options opts;
	bool has_marker, final, final_read;
	int marker_fd;
	char marker_state[32]; /* read when the marker is found unlocked */
	bool state_warned;
	int ino_fd; /* -1 without inotify */
	bool dirty; /* inotify saw a change: rescan */
	int64_t last_scan;
	struct ftrace **traces; /* owned */
	size_t ntraces;
	struct ffile **files; /* owned */
	size_t nfiles;
	size_t tcap;
	size_t fcap;
	struct fstream **streams; /* owned */
	size_t nstreams, scap;
	struct ctflive_merge *merge; /* owned; borrows the streams' decoders */
	bool hungry;                 /* a stream read its buffer down: poll */
	int64_t last_poll;           /* CLOCK_MONOTONIC ns of the last poll that found nothing */
	bool pushed;                 /* the last poll pushed packets */
	uint64_t lost;
	char **warnings; /* owned: pending warnings of the follower */
	size_t nwarnings, warned, wcap;
	struct cl_buf buf; /* scratch buffer for packets */
	char warning[PATH_MAX + 300];
	int err;
	char errmsg[PATH_MAX + 300];
};

/* follow.c */
__attribute__((format(printf, 3, 4))) int cl_follow_fail(struct ctflive_follow *f, int r,
							 const char *fmt, ...);
__attribute__((format(printf, 2, 3))) void cl_follow_add_warning(struct ctflive_follow *f,
								 const char *fmt, ...);
int64_t cl_follow_clock_ns(clockid_t id);
uint32_t cl_follow_get_be32(const uint8_t *p);
char *cl_follow_path_join(const char *a, const char *b);
int cl_follow_file_size(int fd, uint64_t *ret);
void cl_follow_stream_free(struct fstream *s);

/* follow-scan.c */
struct ffile *cl_follow_newest_at(const struct ctflive_follow *f, const char *path);
bool cl_follow_superseded(const struct ctflive_follow *f, const struct ffile *fi);
int cl_follow_drain_inotify(struct ctflive_follow *f);
int cl_follow_rescan(struct ctflive_follow *f, bool force);
int cl_follow_poll_metadata(struct ctflive_follow *f, struct ftrace *t);
const char *cl_follow_trace_name(struct ftrace *t);

/* follow-stream.c */
int cl_follow_poll_all(struct ctflive_follow *f);

/* follow.c: makes stream `s` an input of the merger. */
int cl_follow_merge_add(struct ctflive_follow *f, struct fstream *s);

/* The state written in session marker `fd` ("complete", ...; "" if none)
 * into buf (n bytes), without its newline. */
void cl_follow_read_marker_state(int fd, char *buf, size_t n);
/* The warning for session directory `dir` whose marker ended in `state`
 * (anything but "complete": the session did not end normally), into buf. */
void cl_follow_state_warning(char *buf, size_t n, const char *dir, const char *state);

#endif
