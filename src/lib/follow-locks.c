/* SPDX-License-Identifier: MIT */
/*
 * Reader side of the lock protocol (doc/file-formats.md §3): where the
 * published region of a file ends, and reads under an OFD read lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "ctflive/follow.h"

static void lock_region(struct flock *fl, short type, uint64_t start, uint64_t len)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)start;
	fl->l_len = (off_t)len;
	fl->l_pid = 0; /* required by OFD locks */
}

int ctflive_follow_safe_end(int fd, uint64_t from, uint64_t *ret_end)
{
	struct flock fl;

	if (from > INT64_MAX)
		return -EINVAL;
	lock_region(&fl, F_RDLCK, from, 0);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	if (fl.l_type == F_UNLCK) {
		*ret_end = UINT64_MAX;
		return 0;
	}
	/* The conflicting lock may start before `from` (a relay that locked
	 * from an older safe point): nothing past `from` is published then. */
	*ret_end = fl.l_start > 0 && (uint64_t)fl.l_start > from ? (uint64_t)fl.l_start : from;
	return 0;
}

bool ctflive_follow_is_locked(int fd)
{
	struct flock fl;

	lock_region(&fl, F_RDLCK, 0, 0);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return false;
	return fl.l_type != F_UNLCK;
}

int ctflive_follow_pread_locked(int fd, void *buf, size_t len, uint64_t off)
{
	struct flock fl;
	size_t done = 0;
	int r = 0;

	if (len == 0 || off > INT64_MAX || len > INT64_MAX - off)
		return -EINVAL;
	lock_region(&fl, F_RDLCK, off, len);
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return errno == EACCES ? -EAGAIN : -errno;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = -EMSGSIZE;
			break;
		}
		done += (size_t)n;
	}
	fl.l_type = F_UNLCK;
	(void)fcntl(fd, F_OFD_SETLK, &fl);
	return r;
}
