/* SPDX-License-Identifier: MIT */
/*
 * The relay side of the lock protocol of doc/file-formats.md: files created
 * under a temporary name, locked, then renamed; open-file-description write
 * locks from each file's safe point to its end, moved forward when data is
 * published; the per-session marker; crash recovery of sessions whose relay
 * died. All functions return 0 or a negative errno.
 */
#ifndef CL_RELAYD_LOCKS_H
#define CL_RELAYD_LOCKS_H

#include <stddef.h>
#include <stdint.h>

struct relay;
struct session;

/*
 * Creates (or replaces) file `name` beneath `dirfd`: opened O_RDWR under the
 * name ".<name>.tmp", `header` (hdr_len bytes, may be 0) written, an OFD
 * write lock taken from offset hdr_len to the end, then renamed to `name`.
 * *ret_fd is owned by the caller; closing its last duplicate drops the lock.
 */
int cl_create_locked(int dirfd, const char *name, const void *header, size_t hdr_len, int *ret_fd);
/* Unlocks [from, to) of a file locked by cl_create_locked (to == 0: to the end). */
int cl_unlock_range(int fd, uint64_t from, uint64_t to);

/* Takes (or shares) the marker of session `s`'s directory. */
int marker_acquire(struct relay *relay, struct session *s);
/* Drops `s`'s reference; the last one writes `complete` (if `complete`) and unlocks. */
void marker_release(struct relay *relay, struct session *s, int complete);

/* Recovers every session under the output directory whose relay died. */
void recover_output(struct relay *relay);

#endif
