/* SPDX-License-Identifier: MIT */
/*
 * Full reads and writes over file descriptors, retrying EINTR and short
 * transfers, plus a fault-injection hook used by tests.
 *
 * All functions return 0 (or a byte count where stated) on success and a
 * negative errno on failure. Sizes are in bytes.
 */
#ifndef CL_IO_H
#define CL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all n bytes of buf at the current position. -errno on failure. */
int cl_write_full(int fd, const void *buf, size_t n);
/* Writes all n bytes of buf at offset off. -errno on failure. */
int cl_pwrite_full(int fd, const void *buf, size_t n, uint64_t off);
/* Appends n zero bytes at the current position. */
int cl_write_zeros(int fd, uint64_t n);
/*
 * Appends the n bytes of buf, then `zeros` zero bytes, at the current
 * position, with as few writev(2) calls as the sizes allow (one when
 * n + zeros fits 1 MiB). -errno on failure (what was written stays).
 */
int cl_write_padded(int fd, const void *buf, size_t n, uint64_t zeros);
/*
 * Reads exactly n bytes at offset off. Returns 0, -EMSGSIZE if the file ends
 * first, or -errno.
 */
int cl_pread_full(int fd, void *buf, size_t n, uint64_t off);
/*
 * Sends bytes [*off, len) of buf on a non-blocking socket, advancing *off.
 * Returns 0 once everything is sent, -EAGAIN if the socket is full, or
 * -errno (never raises SIGPIPE).
 */
int cl_send_pending(int fd, const uint8_t *buf, size_t len, size_t *off);
struct addrinfo;
/*
 * Connects a new TCP socket to address `ai` (one getaddrinfo(3) result),
 * waiting at most timeout_ms milliseconds (-1: no limit). Returns the
 * socket, non-blocking and close-on-exec, with TCP_NODELAY set (protocol
 * messages are small: no Nagle stalls), owned by the caller; -ETIMEDOUT, or
 * the -errno of socket(2)/connect(2).
 */
int cl_connect_timeout(const struct addrinfo *ai, int timeout_ms);
/* fdatasync(2), retried on EINTR. Subject to fault injection. */
int cl_fdatasync(int fd);

/*
 * Fault injection for tests: when the environment variable
 * CTFLIVE_FAULT_WRITE=N is set, the Nth call to a cl_write* function (counting
 * from 1, process-wide) fails with ENOSPC. Read once at first use.
 */
int cl_io_fault_check(void);

/* Returns a negative errno from a libc return value (-1 sets errno). */
static inline int cl_negerrno(int r);

#include <errno.h>
static inline int cl_negerrno(int r)
{
	return r < 0 ? -errno : r;
}

#endif
