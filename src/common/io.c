/* SPDX-License-Identifier: MIT */
#include "io.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "macro.h"

/* Zero bytes for padding: one iovec entry covers this much. */
static const uint8_t zero_page[65536];

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
	return cl_write_padded(fd, NULL, 0, n);
}

int cl_write_padded(int fd, const void *buf, size_t n, uint64_t zeros)
{
	const uint8_t *p = buf;
	int r = cl_io_fault_check();

	if (r < 0)
		return r;
	while (n > 0 || zeros > 0) {
		struct iovec iov[17];
		int cnt = 0;
		uint64_t z = zeros;
		ssize_t w;

		if (n > 0)
			iov[cnt++] =
				(struct iovec){ .iov_base = (void *)(uintptr_t)p, .iov_len = n };
		while (z > 0 && cnt < (int)CL_ARRAY_SIZE(iov)) {
			size_t chunk = (size_t)CL_MIN(z, (uint64_t)sizeof(zero_page));

			iov[cnt++] = (struct iovec){ .iov_base = (void *)(uintptr_t)zero_page,
						     .iov_len = chunk };
			z -= chunk;
		}
		w = writev(fd, iov, cnt);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		if ((size_t)w <= n) {
			p += w;
			n -= (size_t)w;
		} else {
			zeros -= (uint64_t)w - n;
			n = 0;
		}
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

int cl_connect_timeout(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd;
	int fd, r, soerr = 0, one = 1;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	if (r < 0) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (soerr) {
			close(fd);
			return -soerr;
		}
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}
