/* SPDX-License-Identifier: MIT */
/*
 * The lock protocol of trace directories (doc/file-formats.md §3): both
 * halves, so that the writer (ctflive-relayd) and the readers (libctflive's
 * follower, through the public ctflive_follow_*() lock helpers) share one
 * implementation of it.
 *
 * The protocol
 * ------------
 *
 * A file that a reader may open while it is written (tracefile, index file,
 * metadata file, session marker) carries, while it is written, one
 * open-file-description write lock (fcntl(F_OFD_SETLK), F_WRLCK, SEEK_SET)
 * from its *safe point* to the end of the file (l_len 0: the region grows
 * with the file). Every byte before the safe point is complete and, under
 * the relay's default sync policy, durable; nothing after it may be read.
 *
 * Writer:
 *
 *   - Create the file with cl_lock_create_file(): it is opened under the
 *     temporary name ".<name>.tmp" (readers ignore names starting with '.'),
 *     its header is written, the write lock is taken from the end of the
 *     header, and only then is it renamed to <name>. So a reader never finds
 *     the file under its final name without its lock, and the header is
 *     safe from the start.
 *
 *   - Publish with cl_lock_publish(fd, old safe point, new safe point): one
 *     F_UNLCK on [old, new). The region is never locked again. The caller
 *     publishes a session's files in the order doc/file-formats.md states:
 *     data and metadata files first, index files last, so that an unlocked
 *     index entry always describes unlocked bytes (src/relayd/publish.c).
 *
 *   - When done with a file (stream closed, tracefile rotated away), release
 *     the rest with cl_lock_release(fd, safe point): the whole file is safe.
 *     Closing the last descriptor of the open file description drops the
 *     lock too; a relay that dies therefore leaves files unlocked, and the
 *     session marker tells readers whether that was a clean end.
 *
 *   - cl_lock_try_write() takes a write lock without waiting (the session
 *     marker, and crash recovery, which must not touch a directory another
 *     relay holds).
 *
 * Reader:
 *
 *   - cl_lock_safe_end(fd, from): where the unsafe region begins at or after
 *     `from` (F_OFD_GETLK on [from, end of file)), UINT64_MAX when nothing
 *     past `from` is locked.
 *   - cl_lock_pread(fd, buf, len, off): reads [off, off + len) under an OFD
 *     read lock taken with F_OFD_SETLK (never waiting): -EAGAIN while any of
 *     it is unpublished. Read locks never delay the writer: it never locks a
 *     published region again.
 *   - cl_lock_is_held(fd): whether any lock is held on the file (the
 *     session marker: unlocked means the relay is done with the session).
 *
 * All functions are stateless, thread-safe as fcntl() is, and return 0 or a
 * negative errno unless stated otherwise. Offsets and lengths are bytes.
 */
#ifndef CL_PROTO_FILE_LOCKS_H
#define CL_PROTO_FILE_LOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Writer half -------------------------------------------------------- */

/* Mode of the files created, before umask (as lttng-relayd). */
#define CL_LOCK_FILE_MODE 0660

/*
 * Creates file `name` beneath directory `dirfd`, never replacing one that
 * exists (two writers of one name must not overwrite each other's data): it
 * is opened O_RDWR under ".<name>.tmp" (created, truncated, not following
 * links), `header` (hdr_len bytes, may be 0) written, an OFD write lock taken
 * from hdr_len to the end, then renamed to `name` with RENAME_NOREPLACE (or,
 * where the file system lacks it, linked then unlinked). A caller that means
 * to replace a file (a tracefile ring that wraps) unlinks the old one first:
 * readers that hold it keep it whole. On success *ret_fd is owned by the
 * caller; closing its last duplicate drops the lock. On failure the
 * temporary file is removed and *ret_fd is untouched. Errors: -EEXIST when
 * `name` exists, those of openat/write/fcntl/renameat2/linkat,
 * -ENAMETOOLONG.
 */
int cl_lock_create_file(int dirfd, const char *name, const void *header, size_t hdr_len,
			int *ret_fd);

/*
 * The same file made in two steps, so that the costly one (allocating the
 * inode) can run ahead of need, on another thread: cl_lock_create_unnamed()
 * makes an unnamed file (open(2) O_TMPFILE) in the file system of directory
 * `dirfd`, writes `header` (hdr_len bytes, may be 0) and takes the OFD
 * write lock from hdr_len to the end; *ret_fd is owned by the caller, and
 * closing it before it is named frees the file. Errors: those of
 * openat/write/fcntl (-EOPNOTSUPP or -EISDIR where the file system has no
 * O_TMPFILE). cl_lock_link_file() names it `name` beneath `dirfd`, never
 * replacing a file that exists (linkat(2) through /proc/self/fd). Errors:
 * -EEXIST when `name` exists, -EXDEV when `dirfd` is on another file system,
 * -ENOENT without /proc, those of linkat, -ENAMETOOLONG; on failure the
 * file stays unnamed and `fd` open.
 */
int cl_lock_create_unnamed(int dirfd, const void *header, size_t hdr_len, int *ret_fd);
int cl_lock_link_file(int fd, int dirfd, const char *name);

/*
 * Publishes [from, to) of a file locked by cl_lock_create_file(): unlocks
 * that region. No-op (0) when fd < 0 or to <= from.
 */
int cl_lock_publish(int fd, uint64_t from, uint64_t to);

/* Unlocks everything from `from` to the end of the file. No-op when fd < 0. */
int cl_lock_release(int fd, uint64_t from);

/*
 * Write-locks [start, start + len) (len 0: to the end of the file) without
 * waiting. -EAGAIN (or -EACCES) when another open file description holds a
 * conflicting lock.
 */
int cl_lock_try_write(int fd, uint64_t start, uint64_t len);

/* ---- Reader half -------------------------------------------------------- */

/*
 * Sets *ret_end to the first byte at or after `from` that is still locked
 * by a writer, or to UINT64_MAX when nothing at or after `from` is locked.
 * A conflicting lock that starts before `from` gives `from` itself.
 * Errors: -EINVAL (from > INT64_MAX), those of fcntl(F_OFD_GETLK).
 */
int cl_lock_safe_end(int fd, uint64_t from, uint64_t *ret_end);

/*
 * Reads exactly `len` bytes at `off` under an OFD read lock on that region,
 * released before returning. Errors: -EAGAIN (part of the region is locked:
 * not published yet), -EMSGSIZE (the file ends before off + len), -EINVAL
 * (len 0, or the region overflows off_t), those of pread.
 */
int cl_lock_pread(int fd, void *buf, size_t len, uint64_t off);

/* True when some lock conflicts with a read lock on the whole file. */
bool cl_lock_is_held(int fd);

#endif
