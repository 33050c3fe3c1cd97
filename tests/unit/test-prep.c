/* SPDX-License-Identifier: MIT */
/*
 * Files made ahead (src/relayd/prep.h) and the two-step creation under them
 * (cl_lock_create_unnamed(), cl_lock_link_file()): a file taken is unnamed
 * until linked, starts with its header, is write-locked from the header's
 * end, and never replaces a file of the same name; requests taken before
 * the helper reached them, cancelled ones and ones left to prep_free() leave
 * nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "file-locks.h"
#include "prep.h"

static char dir[64];
static int dir_fd = -1;

static int setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/ctflive-test-prep-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return dir_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	(void)state;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			(void)unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	close(dir_fd);
	return rmdir(dir);
}

static size_t entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* True when another open file description cannot lock [start, start+1). */
static bool locked_at(const char *name, off_t start)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = 1 };
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	bool r;

	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
	r = fl.l_type != F_UNLCK;
	close(fd);
	return r;
}

static void test_take_link(void **state)
{
	static const char hdr[] = "HDR!";
	struct prep_file *f[4];
	struct prep *p;
	char buf[16];
	int fd, fd2;

	(void)state;
	assert_int_equal(prep_new(dir_fd, &p), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(prep_submit(p, hdr, 4, &f[i]), 0);
	/* The last one may still be queued: made on the caller's thread then. */
	assert_int_equal(prep_take(p, f[3], &fd), 0);
	assert_int_equal(prep_take(p, f[0], &fd2), 0);
	prep_cancel(p, f[1]);
	assert_int_equal(entries(), 0); /* nothing named yet */
	assert_int_equal(cl_lock_link_file(fd, dir_fd, "a.idx"), 0);
	assert_int_equal(entries(), 1);
	/* Never replaces: the second file stays unnamed and open. */
	assert_int_equal(cl_lock_link_file(fd2, dir_fd, "a.idx"), -EEXIST);
	assert_int_equal(entries(), 1);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, hdr, 4);
	assert_false(locked_at("a.idx", 0));
	assert_true(locked_at("a.idx", 4));
	assert_true(locked_at("a.idx", 1 << 20));
	close(fd2);
	close(fd);
	assert_false(locked_at("a.idx", 4)); /* closing drops the lock */
	/* f[2], made or not: its file is closed, nothing is named. */
	prep_cancel(p, f[2]);
	prep_free(p);
	assert_int_equal(entries(), 1);
}

static void test_bad_header(void **state)
{
	char big[65] = { 0 };
	struct prep_file *f = NULL;
	struct prep *p;

	(void)state;
	assert_int_equal(prep_new(dir_fd, &p), 0);
	assert_int_equal(prep_submit(p, big, sizeof(big), &f), -EINVAL);
	assert_null(f);
	prep_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_take_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
