/* SPDX-License-Identifier: MIT */
/* The lock protocol of trace directories: see file-locks.h. */
#include "file-locks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

static void region(struct flock *fl, short type, uint64_t start, uint64_t len)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)start;
	fl->l_len = (off_t)len;
	fl->l_pid = 0; /* required by OFD locks */
}

static int set_lock(int fd, short type, uint64_t start, uint64_t len)
{
	struct flock fl;

	region(&fl, type, start, len);
	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* ---- writer half ---- */

int cl_lock_create_file(int dirfd, const char *name, const void *header, size_t hdr_len,
			int *ret_fd)
{
	char tmp[300];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    CL_LOCK_FILE_MODE);
	if (fd < 0)
		return -errno;
	r = hdr_len ? cl_write_full(fd, header, hdr_len) : 0;
	if (r == 0)
		r = set_lock(fd, F_WRLCK, hdr_len, 0);
	if (r == 0 && renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) < 0) {
		r = -errno;
		/* File systems without RENAME_NOREPLACE: a hard link never replaces either. */
		if (r == -EINVAL && linkat(dirfd, tmp, dirfd, name, 0) == 0)
			r = 0;
		if (r == 0)
			(void)unlinkat(dirfd, tmp, 0);
	}
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int cl_lock_create_unnamed(int dirfd, const void *header, size_t hdr_len, int *ret_fd)
{
	int fd, r;

	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, CL_LOCK_FILE_MODE);
	if (fd < 0)
		return -errno;
	r = hdr_len ? cl_write_full(fd, header, hdr_len) : 0;
	if (r == 0)
		r = set_lock(fd, F_WRLCK, hdr_len, 0);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int cl_lock_link_file(int fd, int dirfd, const char *name)
{
	char path[64];

	if (snprintf(path, sizeof(path), "/proc/self/fd/%d", fd) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

int cl_lock_publish(int fd, uint64_t from, uint64_t to)
{
	if (fd < 0 || to <= from)
		return 0;
	return set_lock(fd, F_UNLCK, from, to - from);
}

int cl_lock_release(int fd, uint64_t from)
{
	if (fd < 0)
		return 0;
	return set_lock(fd, F_UNLCK, from, 0);
}

int cl_lock_try_write(int fd, uint64_t start, uint64_t len)
{
	return set_lock(fd, F_WRLCK, start, len);
}

/* ---- reader half ---- */

int cl_lock_safe_end(int fd, uint64_t from, uint64_t *ret_end)
{
	struct flock fl;

	if (from > INT64_MAX)
		return -EINVAL;
	region(&fl, F_RDLCK, from, 0);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	if (fl.l_type == F_UNLCK) {
		*ret_end = UINT64_MAX;
		return 0;
	}
	/* The conflicting lock may start before `from` (a writer that locked
	 * from an older safe point): nothing past `from` is published then. */
	*ret_end = fl.l_start > 0 && (uint64_t)fl.l_start > from ? (uint64_t)fl.l_start : from;
	return 0;
}

bool cl_lock_is_held(int fd)
{
	struct flock fl;

	region(&fl, F_RDLCK, 0, 0);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return false;
	return fl.l_type != F_UNLCK;
}

int cl_lock_pread(int fd, void *buf, size_t len, uint64_t off)
{
	struct flock fl;
	size_t done = 0;
	int r = 0;

	if (len == 0 || off > INT64_MAX || len > INT64_MAX - off)
		return -EINVAL;
	region(&fl, F_RDLCK, off, len);
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
