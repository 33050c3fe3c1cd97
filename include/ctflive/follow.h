/* SPDX-License-Identifier: MIT */
/*
 * libctflive: following a trace directory on disk while ctflive-relayd
 * writes it.
 *
 * Implements the reader side of the lock protocol of doc/file-formats.md:
 * a region of a tracefile, index file or metadata file is read only once it
 * is published, that is once no open-file-description (OFD) write lock of
 * the relay covers it; the reader holds an OFD read lock on the region while
 * it reads it. A session marker (`.ctflive-session`) locked by the relay
 * says the session is still being written; once it is unlocked everything
 * readable is final.
 *
 * Two layers:
 *
 *   Lock helpers (ctflive_follow_safe_end(), ctflive_follow_pread_locked(),
 *   ctflive_follow_is_locked()): stateless, usable by any program that wants
 *   to read files of the protocol.
 *
 *   struct ctflive_follow: discovers the traces and streams below a
 *   directory (inotify, plus a periodic rescan), reads published metadata
 *   and packets stream by stream, decodes them with the CTF decoder
 *   (ctflive/ctf.h) and merges their messages by time with the merger of
 *   ctflive/merge.h (babeltrace2 2.1.2's muxer rules: smallest time first,
 *   ties broken by trace name, trace UID, stream class id, stream id). A
 *   tracefile joins the merge once the metadata read so far declares the
 *   stream class its first index entry names (or once the session is over).
 *   Stream
 *   names are the absolute paths of their first tracefile, as for
 *   `ctflive view`. An event older than one already returned (corrupt
 *   timestamps, or a packet published later than `grace` allows) is an
 *   error, -EBADMSG, as for every source (ctflive/iter.h).
 *
 * Merging while live. The files carry no inactivity beacons, so a stream
 * without a decoded message would block the merge until it publishes. A
 * stream whose tracefile has unpublished bytes is waited for (the relay is
 * committing them), and so is one whose index has a published entry not read
 * yet (the follower lags behind its writer). Otherwise it is assumed to
 * produce nothing older than max(timestamp_end of its last published packet,
 * wall clock - grace): `grace` must cover the time from an event to its
 * packet's publication (the tracer's live timer or flush period, plus the
 * relay's sync). Trace clocks are assumed to count from the Unix epoch, as
 * LTTng's do; for other clocks the wall-clock bound is meaningless and the
 * merge only waits for streams with unpublished bytes. Once the session
 * marker is unlocked (or when there is none) nothing is assumed: every
 * stream is read to its end and the merge is exact.
 *
 * Replaced files. A tracefile ring (`--tracefile-size/-count`) or a new
 * trace chunk (`lttng clear`) makes a path point to a new inode (st_dev,
 * st_ino, compared on every rescan). The file already open is read to the
 * end of what it publishes, then the new one is read, in time order; a file
 * deleted meanwhile is still read through its descriptor. A file replaced
 * before its index could be opened is reported by
 * ctflive_follow_next_warning(), and the packet_seq_num gap it leaves as
 * discarded packets. A new `metadata` file at the same path holds all the
 * metadata again: the text already fed to the decoder is skipped.
 *
 * Lost packets: index entries whose offset is all ones. Each one is counted
 * (ctflive_follow_lost_packets()); the decoder reports the packet_seq_num
 * gap they leave as a CTFLIVE_CTF_MSG_DISCARDED_PACKETS message, which is
 * then marked `lost_in_transit`; lost packets after the last packet of a
 * stream produce such a message at the end of the stream
 * (ctflive_merge_lost_after()).
 *
 * Conventions: functions return 0 (or a documented positive value) or a
 * negative errno; `ret*` outputs are written only on success; offsets and
 * lengths are bytes, packet sizes in index entries bits; nothing is logged
 * or printed. Not thread-safe.
 */
#ifndef CTFLIVE_FOLLOW_H
#define CTFLIVE_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Lock protocol helpers                                                   */
/* ---------------------------------------------------------------------- */

/*
 * Where the published region of `fd` ends, looking from byte `from`: asks
 * F_OFD_GETLK for a read lock on [from, end of file). Sets *ret_end to the
 * start of the first write lock there (clamped to `from`), or, when no lock
 * conflicts, to UINT64_MAX (everything is published: the file's size is the
 * limit). Errors: -EINVAL (from > INT64_MAX), -errno of fcntl(2).
 */
CTFLIVE_API int ctflive_follow_safe_end(int fd, uint64_t from, uint64_t *ret_end);

/*
 * True if some process holds a write lock on any byte of `fd` (F_OFD_GETLK
 * over the whole file). Used on the session marker. False on errors.
 */
CTFLIVE_API bool ctflive_follow_is_locked(int fd);

/*
 * Reads exactly `len` bytes at `off` into `buf` under an OFD read lock on
 * [off, off + len), released before returning. Errors: -EAGAIN the region
 * (or part of it) is still write-locked, i.e. not published yet;
 * -EMSGSIZE the file ends before off + len; -EINVAL a zero length or an
 * overflowing range; -errno of fcntl(2)/pread(2).
 */
CTFLIVE_API int ctflive_follow_pread_locked(int fd, void *buf, size_t len, uint64_t off);

/* ---------------------------------------------------------------------- */
/* Follower                                                                */
/* ---------------------------------------------------------------------- */

struct ctflive_follow;
struct ctflive_ctf_stream;
struct ctflive_ctf_msg;

/* Default `grace` (see above), in milliseconds. */
#define CTFLIVE_FOLLOW_DEFAULT_GRACE_MS 1000

struct ctflive_follow_options {
	int grace_ms;    /* <= 0: CTFLIVE_FOLLOW_DEFAULT_GRACE_MS */
	int rescan_ms;   /* period of the directory rescan; <= 0: 1000 */
	bool no_inotify; /* rely on the periodic rescan only */
};

/*
 * Starts following directory `dir` (a session directory written by
 * ctflive-relayd, or any directory holding CTF traces). `opts` may be NULL.
 * Nothing is read yet. Errors: -ENOENT/-ENOTDIR/-EACCES... for `dir`,
 * -ENOMEM.
 */
CTFLIVE_API int ctflive_follow_new(const char *dir, const struct ctflive_follow_options *opts,
				   struct ctflive_follow **ret);

/* Closes every file and frees everything. NULL-safe; returns NULL. */
CTFLIVE_API struct ctflive_follow *ctflive_follow_free(struct ctflive_follow *f);

/*
 * Whether `dir` has a session marker (decided by ctflive_follow_new()). A
 * directory without one is read once, as it is: only index entries that
 * are whole and whose packets lie inside their tracefile.
 */
CTFLIVE_API bool ctflive_follow_has_marker(const struct ctflive_follow *f);

/*
 * Returns the next message in time order: 0 with *ret_stream (borrowed,
 * valid until ctflive_follow_free()) and *ret_msg (valid until the next
 * call), -EAGAIN when nothing can be returned yet (call
 * ctflive_follow_wait(), then again), CTFLIVE_CTF_END (1) when the session
 * is over and every message was returned, or a negative errno
 * (ctflive_follow_error() explains: -EBADMSG corrupt metadata, index or
 * packet, -ENOTSUP unsupported index version, -E2BIG a limit, -ENOMEM,
 * I/O errors). After an error other than -EAGAIN every call returns it.
 */
CTFLIVE_API int ctflive_follow_next(struct ctflive_follow *f,
				    const struct ctflive_ctf_stream **ret_stream,
				    struct ctflive_ctf_msg *ret_msg);

/*
 * Sleeps until the directory changes (inotify) or `timeout_ms` passes,
 * whichever is first. Returns 0 or a negative errno.
 */
CTFLIVE_API int ctflive_follow_wait(struct ctflive_follow *f, int timeout_ms);

/* Description of the last error, "" if none. Borrowed from f. */
CTFLIVE_API const char *ctflive_follow_error(const struct ctflive_follow *f);

/* Index entries with an all-ones offset seen so far (packets lost in transit). */
CTFLIVE_API uint64_t ctflive_follow_lost_packets(const struct ctflive_follow *f);

/* Warnings: files replaced before they could be read (their packets are
 * lost), a session that did not end normally (marker not "complete"),
 * then metadata warnings of every trace, as "<metadata path>:<line>:<col>: <msg>",
 * each returned once: returns a borrowed string (valid until the next call)
 * or NULL when there is none left. */
CTFLIVE_API const char *ctflive_follow_next_warning(struct ctflive_follow *f);

#ifdef __cplusplus
}
#endif

#endif
