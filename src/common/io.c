/* SPDX-License-Identifier: MIT */
#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int cl_io_fault_check(void)
{
	static long fault_at = -1;
	static long calls;

	if (fault_at < 0) {
		const char *s = getenv("CTFLIVE_FAULT_WRITE");

		fault_at = s ? strtol(s, NULL, 10) : 0;
	}
	if (fault_at > 0 && ++calls == fault_at)
		return -ENOSPC;
	return 0;
}

int cl_write_full(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	int r = cl_io_fault_check();

	if (r < 0)
		return r;
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int cl_pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;
	int r = cl_io_fault_check();

	if (r < 0)
		return r;
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int cl_write_zeros(int fd, uint64_t n)
{
	static const uint8_t zeros[4096];

	while (n > 0) {
		size_t chunk = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
		int r = cl_write_full(fd, zeros, chunk);

		if (r < 0)
			return r;
		n -= chunk;
	}
	return 0;
}

int cl_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t rd = pread(fd, p, n, (off_t)off);

		if (rd < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (rd == 0)
			return -EMSGSIZE;
		p += rd;
		n -= (size_t)rd;
		off += (uint64_t)rd;
	}
	return 0;
}

int cl_fdatasync(int fd)
{
	for (;;) {
		if (fdatasync(fd) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int cl_send_pending(int fd, const uint8_t *buf, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t n = send(fd, buf + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*off += (size_t)n;
	}
	return 0;
}
