/* SPDX-License-Identifier: MIT */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

bool cl_is_safe_component(const char *name)
{
	size_t n = strnlen(name, 256);

	return n > 0 && n <= 255 && name[0] != '.' && !memchr(name, '/', n);
}

int cl_normalize_relpath(const char *path, bool strip_leading_slash, bool allow_empty, char *out,
			 size_t cap)
{
	const char *p = path;
	size_t o = 0;

	if (cap == 0)
		return -ENAMETOOLONG;
	if (*p == '/') {
		if (!strip_leading_slash)
			return -EINVAL;
		p++;
	}
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		char comp[256];

		if (n == 0) { /* "a//b": collapse */
			p = end + 1;
			continue;
		}
		if (n >= sizeof(comp))
			return -EINVAL;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (!cl_is_safe_component(comp))
			return -EINVAL;
		if (o + (o ? 1 : 0) + n + 1 > cap)
			return -ENAMETOOLONG;
		if (o)
			out[o++] = '/';
		memcpy(out + o, comp, n);
		o += n;
		p = *end ? end + 1 : end;
	}
	out[o] = '\0';
	if (o == 0 && !allow_empty)
		return -EINVAL;
	return 0;
}

static int walk(int dirfd, const char *rel, bool create, int *ret_fd)
{
	int fd = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *p = rel;

	if (fd < 0)
		return -errno;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		char comp[256];
		int next;

		if (n == 0 || n >= sizeof(comp)) {
			close(fd);
			return -EINVAL;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (create && mkdirat(fd, comp, CL_DIR_MODE) < 0 && errno != EEXIST) {
			int r = -errno;

			close(fd);
			return r;
		}
		next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return -errno;
		fd = next;
		p = *end ? end + 1 : end;
	}
	*ret_fd = fd;
	return 0;
}

int cl_mkdir_beneath(int dirfd, const char *rel, int *ret_fd)
{
	return walk(dirfd, rel, true, ret_fd);
}

int cl_open_dir_beneath(int dirfd, const char *rel, int *ret_fd)
{
	return walk(dirfd, rel, false, ret_fd);
}

static int remove_at(int parent_fd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth > 64)
		return -ELOOP;
	fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = remove_at(dirfd(d), de->d_name, depth + 1);
		if (r < 0)
			break;
	}
	closedir(d);
	if (r == 0 && unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

int cl_remove_tree(int dirfd, const char *name)
{
	return remove_at(dirfd, name, 0);
}

int cl_move_entries(int dirfd, const char *from, const char *to, char *const *names, size_t n)
{
	int from_fd, to_fd, r;

	r = cl_open_dir_beneath(dirfd, from, &from_fd);
	if (r < 0)
		return r;
	r = cl_mkdir_beneath(dirfd, to, &to_fd);
	if (r < 0) {
		close(from_fd);
		return r;
	}
	for (size_t i = 0; i < n && r == 0; i++)
		if (renameat(from_fd, names[i], to_fd, names[i]) < 0 && errno != ENOENT)
			r = -errno;
	close(from_fd);
	close(to_fd);
	return r;
}

int cl_format_time(uint64_t epoch_seconds, const char *fmt, char *out, size_t cap)
{
	time_t t = (time_t)epoch_seconds;
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return -EINVAL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (strftime(out, cap, fmt, &tm) == 0)
		return -ENAMETOOLONG;
#pragma GCC diagnostic pop
	return 0;
}

char *cl_asprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}
