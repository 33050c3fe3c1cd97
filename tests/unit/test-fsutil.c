/* SPDX-License-Identifier: MIT */
/*
 * Peer-sent names must never lead outside the relay's output directory
 * (relayd-protocol.md §10.4).
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

#include "fsutil.h"

static void components(void **state)
{
	(void)state;
	assert_true(cl_is_safe_component("channel0_0"));
	assert_true(cl_is_safe_component("metadata"));
	assert_false(cl_is_safe_component(""));
	assert_false(cl_is_safe_component("."));
	assert_false(cl_is_safe_component(".."));
	assert_false(cl_is_safe_component(".hidden"));
	assert_false(cl_is_safe_component("a/b"));
	assert_false(cl_is_safe_component("../../../../escape3"));
}

static void relpaths(void **state)
{
	static const char *const bad[] = { "..",     "../escape2", "ust/../..", "ust/./x",
					   "ust/.x", "/abs",       "a/../../b" };
	char out[256];

	(void)state;
	assert_int_equal(cl_normalize_relpath("ust/uid/0/64-bit", false, false, out, sizeof(out)),
			 0);
	assert_string_equal(out, "ust/uid/0/64-bit");
	/* Pre-2.11 peers: one leading '/' and empty components. */
	assert_int_equal(cl_normalize_relpath("/vm/s-20261129-105252//ust/uid/0/64-bit", true,
					      false, out, sizeof(out)),
			 0);
	assert_string_equal(out, "vm/s-20261129-105252/ust/uid/0/64-bit");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cl_normalize_relpath(bad[i], i == 5 ? false : true, false, out,
						      sizeof(out)),
				 -EINVAL);
	assert_int_equal(cl_normalize_relpath("", true, false, out, sizeof(out)), -EINVAL);
	assert_int_equal(cl_normalize_relpath("", true, true, out, sizeof(out)), 0);
	assert_int_equal(cl_normalize_relpath("abcdef/ghij", false, false, out, 8), -ENAMETOOLONG);
}

static void no_symlink_escape(void **state)
{
	char tmpl[] = "/tmp/ctflive-fsutil-XXXXXX";
	char *root = mkdtemp(tmpl);
	char link[300], outside[300];
	int rootfd, fd;

	(void)state;
	assert_non_null(root);
	rootfd = open(root, O_PATH | O_DIRECTORY);
	assert_true(rootfd >= 0);
	assert_int_equal(cl_mkdir_beneath(rootfd, "a/b/c", &fd), 0);
	close(fd);
	/* A symbolic link planted in the tree is never followed. */
	(void)snprintf(link, sizeof(link), "%s/a/ln", root);
	(void)snprintf(outside, sizeof(outside), "%s-outside", root);
	assert_int_equal(mkdir(outside, 0700), 0);
	assert_int_equal(symlink(outside, link), 0);
	assert_int_not_equal(cl_mkdir_beneath(rootfd, "a/ln/x", &fd), 0);
	assert_int_equal(cl_remove_tree(rootfd, "a"), 0);
	assert_int_equal(access(outside, F_OK), 0); /* the link's target survived */
	assert_int_equal(rmdir(outside), 0);
	close(rootfd);
	assert_int_equal(rmdir(root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(components),
		cmocka_unit_test(relpaths),
		cmocka_unit_test(no_symlink_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
