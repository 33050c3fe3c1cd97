/* SPDX-License-Identifier: MIT */
/*
 * Reading CTF trace directories from the file system. Their streams are
 * merged by time with <ctflive/merge.h> (ctflive_ctf_fs_merge_add()), or read
 * through the iterator of <ctflive/iter.h>.
 *
 * Trace discovery and stream grouping follow babeltrace2 2.0.4's src.ctf.fs
 * (ctf-decoding.md §1): a directory below an input that holds a readable
 * `metadata` file is a trace, and is not searched further; symbolic links
 * are followed, except back into a directory being searched; traces with
 * the same UUID are merged (session rotation chunks, copies); every other
 * regular, non-empty, non-dot file of a trace directory is a data stream
 * file; files are grouped into streams by (stream class,
 * stream_instance_id), their packets read by timestamp_begin with
 * duplicates dropped; stream names are absolute file paths; trace names
 * are `<env hostname>/<path relative to the input>`. Every packet is framed
 * when the traces are opened, so a bad packet header is an error before the
 * first message; streams whose clocks cannot be compared are refused.
 *
 * Data files are memory-mapped read-only and served to the decoder through
 * the pull interface of <ctflive/ctf.h>.
 */
#ifndef CTFLIVE_CTF_FS_H
#define CTFLIVE_CTF_FS_H

#include <stddef.h>
#include <stdint.h>

#include "ctflive/export.h"

#include "ctflive/ctf.h"
#include "ctflive/merge.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ctflive_ctf_fs;

/*
 * Opens every trace below the `n` input paths (files are not accepted: give
 * directories). On failure *reterr describes the problem and *reterr_path
 * (borrowed from a static buffer of the call, may be NULL) names the file.
 * Metadata warnings are available through ctflive_ctf_fs_trace().
 * Errors: -ENOENT (no trace found / path missing), -EBADMSG, -ENOTSUP,
 * -EMSGSIZE (metadata or data errors), -ENOMEM, other negative errno from
 * the file system.
 */
CTFLIVE_API int ctflive_ctf_fs_open(const char *const *inputs, size_t n,
				    struct ctflive_ctf_fs **ret, struct ctflive_ctf_diag *reterr,
				    const char **reterr_path);
CTFLIVE_API struct ctflive_ctf_fs *ctflive_ctf_fs_free(struct ctflive_ctf_fs *fs);

/* Traces (after UUID merging) and their metadata directory, borrowed. */
CTFLIVE_API size_t ctflive_ctf_fs_trace_count(const struct ctflive_ctf_fs *fs);
CTFLIVE_API struct ctflive_ctf_trace *ctflive_ctf_fs_trace(const struct ctflive_ctf_fs *fs,
							   size_t i, const char **ret_dir);

/* Streams in babeltrace's order (borrowed, owned by fs). */
CTFLIVE_API size_t ctflive_ctf_fs_stream_count(const struct ctflive_ctf_fs *fs);
CTFLIVE_API struct ctflive_ctf_stream *ctflive_ctf_fs_stream(const struct ctflive_ctf_fs *fs,
							     size_t i);

/* Packets that an index marks as lost in transit (offset all ones). */
CTFLIVE_API uint64_t ctflive_ctf_fs_lost_packets(const struct ctflive_ctf_fs *fs);

/*
 * Adds every stream of `fs` to merger `m` (in babeltrace's order, as inputs
 * read with ctflive_ctf_stream_next(): never blocked), with the packets an
 * index marks as lost after a stream's last packet
 * (ctflive_merge_lost_after()). The streams stay owned by fs: free `m`
 * first. Errors: those of ctflive_merge_add().
 */
CTFLIVE_API int ctflive_ctf_fs_merge_add(const struct ctflive_ctf_fs *fs, struct ctflive_merge *m);

/*
 * Where byte `offset` of stream `s` (the offset of a struct ctflive_ctf_diag
 * from that stream, counted over all its files in reading order) lies: the
 * data file (*ret_path, borrowed) and the byte offset in that file. False
 * if `s` is not a stream of `fs` or the offset is past its data.
 */
CTFLIVE_API bool ctflive_ctf_fs_locate(const struct ctflive_ctf_fs *fs,
				       const struct ctflive_ctf_stream *s, uint64_t offset,
				       const char **ret_path, uint64_t *ret_file_offset);

/* What was skipped while searching the inputs (a subdirectory that cannot
 * be read, ...), one message each, borrowed, for the caller to show. */
CTFLIVE_API size_t ctflive_ctf_fs_warning_count(const struct ctflive_ctf_fs *fs);
CTFLIVE_API const char *ctflive_ctf_fs_warning(const struct ctflive_ctf_fs *fs, size_t i);

#ifdef __cplusplus
}
#endif

#endif
