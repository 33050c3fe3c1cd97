/* SPDX-License-Identifier: MIT */
/*
 * Fault injection by operation, for tests: an LD_PRELOAD library that makes
 * chosen calls of the relay fail, in the spirit of SQLite's test VFS.
 *
 *   CTFLIVE_FAULT=OP:MODE:N:ERR[:MATCH]
 *
 *   OP     write, pwrite, fdatasync, rename, ftruncate, open or mkdirat
 *          (write covers writev, rename covers rename/renameat/renameat2,
 *          open open/openat with
 *          O_CREAT, mkdirat mkdir/mkdirat; write and pwrite only count
 *          regular files, never sockets, pipes or event descriptors)
 *   MODE   nth (only the Nth matching call), every (every Nth), from (the
 *          Nth and every later one)
 *   N      counted from 1, over matching calls of OP only
 *   ERR    an errno name (EIO, ENOSPC, EDQUOT, EROFS, EMFILE, ENOMEM,
 *          EACCES, EEXIST) or "short": a write or pwrite that writes half
 *          of its bytes (at least one) and returns that count, or "stall"
 *          (fdatasync only, with CTFLIVE_FAULT_ARM): the call waits while
 *          the arm file exists, then runs (a sync that takes as long as the
 *          test wants)
 *   MATCH  optional: only calls whose file path contains this text count
 *          (the descriptor's path for write/pwrite/fdatasync/ftruncate, the
 *          name for the others, resolved against its directory descriptor)
 *
 *   CTFLIVE_FAULT_LOG=FILE  each injected fault appends "OP N PATH" to FILE.
 *   CTFLIVE_FAULT_ARM=FILE  calls are counted only while FILE exists (a test
 *                           arms the fault at the moment it chooses).
 *
 * Calls are counted process-wide under a mutex (the relay's sync worker is
 * a second thread).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum op { OP_WRITE, OP_PWRITE, OP_FDATASYNC, OP_RENAME, OP_FTRUNCATE, OP_OPEN, OP_MKDIRAT };
static const char *const op_names[] = { "write",     "pwrite", "fdatasync", "rename",
					"ftruncate", "open",   "mkdirat" };
enum mode { MODE_NTH, MODE_EVERY, MODE_FROM };

static struct {
	bool on;
	enum op op;
	enum mode mode;
	long n;
	int err; /* 0: short write */
	bool stall;
	char match[256];
	char log[512];
	char arm[512];
	long calls;
} cfg;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread bool inside; /* our own calls (readlink, log writes) are not counted */

static int errno_of(const char *s)
{
	static const struct {
		const char *name;
		int value;
	} t[] = { { "EIO", EIO },       { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
		  { "EROFS", EROFS },   { "EMFILE", EMFILE }, { "ENOMEM", ENOMEM },
		  { "EACCES", EACCES }, { "EEXIST", EEXIST }, { "short", 0 } };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(s, t[i].name))
			return t[i].value;
	return -1;
}

static void setup(void)
{
	const char *spec = getenv("CTFLIVE_FAULT"), *log = getenv("CTFLIVE_FAULT_LOG");
	const char *arm = getenv("CTFLIVE_FAULT_ARM");
	char buf[512], *save = NULL, *f[5] = { 0 };
	int n = 0;

	if (!spec || strlen(spec) >= sizeof(buf))
		return;
	strcpy(buf, spec);
	for (char *t = strtok_r(buf, ":", &save); t && n < 5; t = strtok_r(NULL, ":", &save))
		f[n++] = t;
	if (n < 4)
		return;
	for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (!strcmp(f[0], op_names[i])) {
			cfg.op = (enum op)i;
			cfg.on = true;
		}
	cfg.mode = !strcmp(f[1], "every")  ? MODE_EVERY
		   : !strcmp(f[1], "from") ? MODE_FROM
					   : MODE_NTH;
	cfg.n = strtol(f[2], NULL, 10);
	cfg.stall = !strcmp(f[3], "stall");
	cfg.err = cfg.stall ? EIO : errno_of(f[3]);
	if (cfg.n < 1 || cfg.err < 0 || (cfg.stall && (cfg.op != OP_FDATASYNC || !arm)))
		cfg.on = false;
	if (f[4])
		(void)snprintf(cfg.match, sizeof(cfg.match), "%s", f[4]);
	if (log)
		(void)snprintf(cfg.log, sizeof(cfg.log), "%s", log);
	if (arm)
		(void)snprintf(cfg.arm, sizeof(cfg.arm), "%s", arm);
}

static bool fd_path(int fd, char *out, size_t cap)
{
	char link[64];
	ssize_t n;

	(void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, cap - 1);
	if (n < 0)
		return false;
	out[n] = '\0';
	return out[0] == '/';
}

static void at_path(int dirfd, const char *name, char *out, size_t cap)
{
	char dir[PATH_MAX];

	size_t l;

	out[0] = '\0';
	if (name[0] != '/' && dirfd != AT_FDCWD && fd_path(dirfd, dir, sizeof(dir)) &&
	    (l = strlen(dir)) + 1 < cap) {
		memcpy(out, dir, l);
		out[l++] = '/';
		out[l] = '\0';
	}
	l = strlen(out);
	(void)snprintf(out + l, cap - l, "%s", name);
}

/* Counts a call of `op` on `path` (NULL: not a file, never counted); true to fail it. */
static bool hit(enum op op, const char *path)
{
	bool fail = false;
	long n = 0;

	pthread_once(&once, setup);
	if (!cfg.on || cfg.op != op || !path || (cfg.match[0] && !strstr(path, cfg.match)))
		return false;
	if (cfg.arm[0]) {
		bool armed;

		inside = true;
		armed = access(cfg.arm, F_OK) == 0;
		inside = false;
		if (!armed)
			return false;
	}
	pthread_mutex_lock(&lock);
	n = ++cfg.calls;
	switch (cfg.mode) {
	case MODE_NTH:
		fail = n == cfg.n;
		break;
	case MODE_EVERY:
		fail = n % cfg.n == 0;
		break;
	case MODE_FROM:
		fail = n >= cfg.n;
		break;
	}
	if (fail && cfg.log[0]) {
		FILE *f;

		inside = true;
		f = fopen(cfg.log, "ae");
		if (f) {
			(void)fprintf(f, "%s %ld %s\n", op_names[op], n, path);
			(void)fclose(f);
		}
		inside = false;
	}
	pthread_mutex_unlock(&lock);
	return fail;
}

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*fd_fn)(int);
typedef int (*trunc_fn)(int, off_t);
typedef int (*rename2_fn)(int, const char *, int, const char *, unsigned);
typedef int (*link_fn)(int, const char *, int, const char *, int);
typedef int (*mkdirat_fn)(int, const char *, mode_t);
typedef int (*openat_fn)(int, const char *, int, ...);

/* The next definition of `name` (libc's); dlsym's object pointer converted
 * through memcpy (ISO C has no cast between object and function pointers). */
#define NEXT(name, type)                               \
	static type next_##name;                       \
	if (!next_##name) {                            \
		void *p_ = dlsym(RTLD_NEXT, #name);    \
		memcpy(&next_##name, &p_, sizeof(p_)); \
	}

/* For descriptor operations: the path of `fd` when it is a regular file. */
static const char *file_of(int fd, char *buf, size_t cap)
{
	struct stat st;
	const char *r = NULL;

	if (inside || !cfg.on)
		return NULL;
	inside = true;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fd_path(fd, buf, cap))
		r = buf;
	inside = false;
	return r;
}

static const char *name_of(int dirfd, const char *name, char *buf, size_t cap)
{
	if (inside || !cfg.on)
		return NULL;
	inside = true;
	at_path(dirfd, name, buf, cap);
	inside = false;
	return buf;
}

static ssize_t do_write(enum op op, int fd, const void *b, size_t n, off_t off)
{
	NEXT(write, write_fn);
	NEXT(pwrite64, pwrite_fn);
	char path[PATH_MAX];

	pthread_once(&once, setup);
	if (hit(op, file_of(fd, path, sizeof(path)))) {
		if (cfg.err != 0) {
			errno = cfg.err;
			return -1;
		}
		n = n > 1 ? n / 2 : n;
	}
	return op == OP_WRITE ? next_write(fd, b, n) : next_pwrite64(fd, b, n, off);
}

ssize_t write(int fd, const void *b, size_t n)
{
	return do_write(OP_WRITE, fd, b, n, 0);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	NEXT(writev, writev_fn);
	struct iovec cut[64];
	char path[PATH_MAX];
	size_t total = 0, keep;
	int n = 0;

	pthread_once(&once, setup);
	if (!hit(OP_WRITE, file_of(fd, path, sizeof(path))))
		return next_writev(fd, iov, cnt);
	if (cfg.err != 0) {
		errno = cfg.err;
		return -1;
	}
	/* A short write: the first half of the bytes (at least one). */
	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	keep = total > 1 ? total / 2 : total;
	for (int i = 0; i < cnt && keep > 0 && n < 64; i++) {
		cut[n] = iov[i];
		if (cut[n].iov_len > keep)
			cut[n].iov_len = keep;
		keep -= cut[n].iov_len;
		n++;
	}
	return next_writev(fd, cut, n);
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t off)
{
	return do_write(OP_PWRITE, fd, b, n, off);
}

ssize_t pwrite64(int fd, const void *b, size_t n, off_t off)
{
	return do_write(OP_PWRITE, fd, b, n, off);
}

/* An injected fault that is not a short write fails the call with its errno. */
#define FAIL_IF(cond)                                    \
	do {                                             \
		if ((cond)) {                            \
			errno = cfg.err ? cfg.err : EIO; \
			return -1;                       \
		}                                        \
	} while (0)

int fdatasync(int fd)
{
	NEXT(fdatasync, fd_fn);
	char path[PATH_MAX];

	pthread_once(&once, setup);
	if (cfg.stall) {
		if (hit(OP_FDATASYNC, file_of(fd, path, sizeof(path))) && cfg.arm[0]) {
			inside = true;
			while (access(cfg.arm, F_OK) == 0)
				(void)usleep(10000);
			inside = false;
		}
		return next_fdatasync(fd);
	}
	FAIL_IF(hit(OP_FDATASYNC, file_of(fd, path, sizeof(path))));
	return next_fdatasync(fd);
}

int ftruncate(int fd, off_t len)
{
	NEXT(ftruncate64, trunc_fn);
	char path[PATH_MAX];

	pthread_once(&once, setup);
	FAIL_IF(hit(OP_FTRUNCATE, file_of(fd, path, sizeof(path))));
	return next_ftruncate64(fd, len);
}

int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

int renameat2(int ofd, const char *o, int nfd, const char *n, unsigned flags)
{
	NEXT(renameat2, rename2_fn);
	char path[PATH_MAX];

	pthread_once(&once, setup);
	FAIL_IF(hit(OP_RENAME, name_of(nfd, n, path, sizeof(path))));
	return next_renameat2(ofd, o, nfd, n, flags);
}

int renameat(int ofd, const char *o, int nfd, const char *n)
{
	return renameat2(ofd, o, nfd, n, 0);
}

int rename(const char *o, const char *n)
{
	return renameat2(AT_FDCWD, o, AT_FDCWD, n, 0);
}

int linkat(int ofd, const char *o, int nfd, const char *n, int flags)
{
	NEXT(linkat, link_fn);
	char path[PATH_MAX];

	pthread_once(&once, setup);
	FAIL_IF(hit(OP_RENAME, name_of(nfd, n, path, sizeof(path))));
	return next_linkat(ofd, o, nfd, n, flags);
}

int mkdirat(int dfd, const char *name, mode_t mode)
{
	NEXT(mkdirat, mkdirat_fn);
	char path[PATH_MAX];

	pthread_once(&once, setup);
	FAIL_IF(hit(OP_MKDIRAT, name_of(dfd, name, path, sizeof(path))));
	return next_mkdirat(dfd, name, mode);
}

int mkdir(const char *name, mode_t mode)
{
	return mkdirat(AT_FDCWD, name, mode);
}

static int do_openat(int dfd, const char *name, int flags, mode_t mode)
{
	NEXT(openat64, openat_fn);
	char path[PATH_MAX];

	pthread_once(&once, setup);
	/* Only creations: the relay's files, not libraries, /proc or the marker scan. */
	FAIL_IF((flags & O_CREAT) && hit(OP_OPEN, name_of(dfd, name, path, sizeof(path))));
	return next_openat64(dfd, name, flags, mode);
}

int openat(int dfd, const char *name, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, unsigned);
		va_end(ap);
	}
	return do_openat(dfd, name, flags, mode);
}

int openat64(int dfd, const char *name, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, unsigned);
		va_end(ap);
	}
	return do_openat(dfd, name, flags, mode);
}

int open(const char *name, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, unsigned);
		va_end(ap);
	}
	return do_openat(AT_FDCWD, name, flags, mode);
}

int open64(const char *name, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, unsigned);
		va_end(ap);
	}
	return do_openat(AT_FDCWD, name, flags, mode);
}
