/* SPDX-License-Identifier: MIT */
/*
 * Both halves of the lock protocol (src/proto/file-locks.h) against each
 * other. OFD locks belong to open file descriptions, so a writer and a
 * reader that open the file separately conflict even inside one process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "file-locks.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/cl-locks-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int open_reader(const char *name)
{
	char p[128];

	(void)snprintf(p, sizeof(p), "%s/%s", dir, name);
	return open(p, O_RDONLY | O_CLOEXEC);
}

static void test_create_publish_release(void **state)
{
	uint8_t buf[64], data[200];
	uint64_t end;
	int dfd, wfd, rfd;
	struct stat sb;

	(void)state;
	memset(data, 0x5A, sizeof(data));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(cl_lock_create_file(dfd, "f.idx", "HEADER!!", 8, &wfd), 0);
	/* The temporary name is gone; the file exists under its final name, locked. */
	assert_int_equal(fstatat(dfd, ".f.idx.tmp", &sb, 0), -1);
	rfd = open_reader("f.idx");
	assert_true(rfd >= 0);
	assert_true(cl_lock_is_held(rfd));
	assert_int_equal(cl_lock_safe_end(rfd, 0, &end), 0);
	assert_int_equal(end, 8);
	assert_int_equal(cl_lock_pread(rfd, buf, 8, 0), 0);
	assert_memory_equal(buf, "HEADER!!", 8);

	/* Written but not published: the reader must not see it. */
	assert_int_equal(pwrite(wfd, data, sizeof(data), 8), (ssize_t)sizeof(data));
	assert_int_equal(cl_lock_pread(rfd, buf, 16, 8), -EAGAIN);
	assert_int_equal(cl_lock_publish(wfd, 8, 108), 0);
	assert_int_equal(cl_lock_safe_end(rfd, 8, &end), 0);
	assert_int_equal(end, 108);
	assert_int_equal(cl_lock_pread(rfd, buf, 64, 44), 0);
	assert_int_equal(cl_lock_pread(rfd, buf, 16, 100), -EAGAIN);
	/* A safe point before `from` clamps to `from`. */
	assert_int_equal(cl_lock_safe_end(rfd, 150, &end), 0);
	assert_int_equal(end, 150);
	/* Publishing nothing, or on no file, is a no-op. */
	assert_int_equal(cl_lock_publish(wfd, 108, 108), 0);
	assert_int_equal(cl_lock_publish(-1, 0, 10), 0);

	/* Done with the file: all of it is safe. */
	assert_int_equal(cl_lock_release(wfd, 108), 0);
	assert_false(cl_lock_is_held(rfd));
	assert_int_equal(cl_lock_safe_end(rfd, 0, &end), 0);
	assert_true(end == UINT64_MAX);
	assert_int_equal(cl_lock_pread(rfd, buf, 16, 190), 0);
	assert_int_equal(cl_lock_pread(rfd, buf, 16, 200), -EMSGSIZE);
	assert_int_equal(cl_lock_pread(rfd, buf, 0, 0), -EINVAL);
	close(rfd);
	close(wfd);
	close(dfd);
}

static void test_try_write_conflicts(void **state)
{
	int dfd, wfd, other;

	(void)state;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(cl_lock_create_file(dfd, "marker", "active\n", 7, &wfd), 0);
	assert_int_equal(cl_lock_try_write(wfd, 0, 0), 0);
	other = open_reader("marker");
	assert_true(other >= 0);
	close(other);
	other = openat(dfd, "marker", O_RDWR | O_CLOEXEC);
	assert_true(other >= 0);
	/* Another open file description cannot take it while it is held... */
	assert_true(cl_lock_try_write(other, 0, 0) == -EAGAIN ||
		    cl_lock_try_write(other, 0, 0) == -EACCES);
	close(wfd);
	/* ...and can once the holder closed it (a relay that died). */
	assert_int_equal(cl_lock_try_write(other, 0, 0), 0);
	close(other);
	/* A name too long for the temporary name. */
	char name[400];
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(cl_lock_create_file(dfd, name, NULL, 0, &wfd), -ENAMETOOLONG);
	close(dfd);
}

/* A second writer of one name gets -EEXIST: the first one's file stays whole. */
static void test_create_never_replaces(void **state)
{
	char buf[8];
	int dfd, wfd, wfd2 = -1, rfd;

	(void)state;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(cl_lock_create_file(dfd, "chan_0", "FIRST", 5, &wfd), 0);
	assert_int_equal(cl_lock_create_file(dfd, "chan_0", "SECOND", 6, &wfd2), -EEXIST);
	assert_int_equal(wfd2, -1);
	rfd = openat(dfd, "chan_0", O_RDONLY | O_CLOEXEC);
	assert_true(rfd >= 0);
	assert_int_equal(pread(rfd, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "FIRST", 5);
	close(rfd);
	/* No temporary file is left behind. */
	assert_int_equal(faccessat(dfd, ".chan_0.tmp", F_OK, 0), -1);
	/* Replacing takes an unlink first. */
	assert_int_equal(unlinkat(dfd, "chan_0", 0), 0);
	assert_int_equal(cl_lock_create_file(dfd, "chan_0", "SECOND", 6, &wfd2), 0);
	close(wfd2);
	close(wfd);
	close(dfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_publish_release),
		cmocka_unit_test(test_try_write_conflicts),
		cmocka_unit_test(test_create_never_replaces),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
