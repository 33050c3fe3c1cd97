/* SPDX-License-Identifier: MIT */
/*
 * The publication order (src/relayd/publish.h), driven with fake steps:
 * data durable -> index durable -> safe points and locks moved (data, then
 * index) -> viewers told; nothing moves when the sync fails. The end-to-end
 * case runs the steps through the real sync worker with a fake sync
 * function, as the relay does.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "publish.h"
#include "sync.h"

/* The log of what happened, one word per step. */
static char steps[32][24];
static size_t n_steps;

static void note(const char *what)
{
	assert_true(n_steps < 32);
	(void)snprintf(steps[n_steps++], sizeof(steps[0]), "%s", what);
}

static void expect_steps(const char *const *want, size_t n)
{
	assert_int_equal(n_steps, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(steps[i], want[i]);
}

/* A fake publication: two data files (fds 11, 12) and one index file (21). */
struct fake {
	struct cl_sync_job job;
	int fds[8];
	size_t n_fds;
	int fail_collect; /* collect(files) fails for this value + 1 */
	int result;
};

static int fake_collect(void *ctx, enum publish_files files)
{
	struct fake *f = ctx;

	note(files == PUBLISH_DATA ? "collect-data" : "collect-index");
	if (f->fail_collect == (int)files + 1)
		return -ENOMEM;
	if (files == PUBLISH_DATA) {
		f->fds[f->n_fds++] = 11;
		f->fds[f->n_fds++] = 12;
	} else {
		f->fds[f->n_fds++] = 21;
	}
	return 0;
}

static void fake_advance(void *ctx)
{
	(void)ctx;
	note("advance");
}

static void fake_move_locks(void *ctx, enum publish_files files)
{
	(void)ctx;
	note(files == PUBLISH_DATA ? "locks-data" : "locks-index");
}

static void fake_tell_viewers(void *ctx)
{
	(void)ctx;
	note("viewers");
}

static const struct publish_ops fake_ops = {
	.collect = fake_collect,
	.advance = fake_advance,
	.move_locks = fake_move_locks,
	.tell_viewers = fake_tell_viewers,
};

static int setup(void **state)
{
	(void)state;
	n_steps = 0;
	return 0;
}

static void test_prepare_lists_data_before_index(void **state)
{
	struct fake f = { 0 };
	static const char *const want[] = { "collect-data", "collect-index" };

	(void)state;
	assert_int_equal(publish_prepare(&fake_ops, &f), 0);
	expect_steps(want, 2);
	assert_int_equal(f.n_fds, 3);
	assert_int_equal(f.fds[0], 11);
	assert_int_equal(f.fds[1], 12);
	assert_int_equal(f.fds[2], 21);
}

static void test_prepare_failure_stops(void **state)
{
	struct fake f = { .fail_collect = PUBLISH_DATA + 1 };
	static const char *const want[] = { "collect-data" };

	(void)state;
	assert_int_equal(publish_prepare(&fake_ops, &f), -ENOMEM);
	expect_steps(want, 1);
}

static void test_commit_order(void **state)
{
	struct fake f = { 0 };
	static const char *const want[] = { "advance", "locks-data", "locks-index", "viewers" };

	(void)state;
	assert_int_equal(publish_commit(&fake_ops, &f, 0), 0);
	expect_steps(want, 4);
}

static void test_commit_after_failed_sync_moves_nothing(void **state)
{
	struct fake f = { 0 };

	(void)state;
	assert_int_equal(publish_commit(&fake_ops, &f, -EIO), -EIO);
	assert_int_equal(n_steps, 0);
}

/* ---- through the real worker ---- */

static int fail_fd = -1;

static int fake_sync(int fd)
{
	char what[24];

	(void)snprintf(what, sizeof(what), "sync-%d", fd);
	note(what);
	return fd == fail_fd ? -EIO : 0;
}

static void fake_done(struct cl_sync_job *job, int result)
{
	struct fake *f = (struct fake *)job;

	f->result = publish_commit(&fake_ops, f, result);
}

static void run_through_worker(struct fake *f)
{
	struct cl_sync_worker *w;

	assert_int_equal(cl_sync_worker_new(fake_sync, &w), 0);
	assert_int_equal(publish_prepare(&fake_ops, f), 0);
	f->job.fds = f->fds;
	f->job.n_fds = f->n_fds;
	f->job.done = fake_done;
	f->result = 1;
	cl_sync_submit(w, &f->job);
	while (f->result == 1) {
		struct pollfd p = { .fd = cl_sync_worker_fd(w), .events = POLLIN };

		assert_true(poll(&p, 1, 5000) == 1);
		(void)cl_sync_worker_complete(w);
	}
	cl_sync_worker_free(w);
}

static void test_end_to_end(void **state)
{
	struct fake f = { 0 };
	static const char *const want[] = { "collect-data", "collect-index", "sync-11",
					    "sync-12",      "sync-21",       "advance",
					    "locks-data",   "locks-index",   "viewers" };

	(void)state;
	fail_fd = -1;
	run_through_worker(&f);
	assert_int_equal(f.result, 0);
	expect_steps(want, sizeof(want) / sizeof(want[0]));
}

static void test_end_to_end_data_sync_fails(void **state)
{
	struct fake f = { 0 };
	static const char *const want[] = { "collect-data", "collect-index", "sync-11", "sync-12" };

	(void)state;
	fail_fd = 12;
	run_through_worker(&f);
	/* The index file is not synced, and nothing becomes visible. */
	assert_int_equal(f.result, -EIO);
	expect_steps(want, sizeof(want) / sizeof(want[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_prepare_lists_data_before_index, setup),
		cmocka_unit_test_setup(test_prepare_failure_stops, setup),
		cmocka_unit_test_setup(test_commit_order, setup),
		cmocka_unit_test_setup(test_commit_after_failed_sync_moves_nothing, setup),
		cmocka_unit_test_setup(test_end_to_end, setup),
		cmocka_unit_test_setup(test_end_to_end_data_sync_fails, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
