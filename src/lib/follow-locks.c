/* SPDX-License-Identifier: MIT */
/*
 * The public reader-side lock helpers of ctflive/follow.h: the reader half
 * of the lock protocol (doc/file-formats.md §3), implemented once for the
 * relay and the readers in src/proto/file-locks.c.
 */
#include "ctflive/follow.h"
#include "file-locks.h"

int ctflive_follow_safe_end(int fd, uint64_t from, uint64_t *ret_end)
{
	return cl_lock_safe_end(fd, from, ret_end);
}

bool ctflive_follow_is_locked(int fd)
{
	return cl_lock_is_held(fd);
}

int ctflive_follow_pread_locked(int fd, void *buf, size_t len, uint64_t off)
{
	return cl_lock_pread(fd, buf, len, off);
}
