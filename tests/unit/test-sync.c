/* SPDX-License-Identifier: MIT */
/*
 * The sync worker (src/relayd/sync.h) with a fake sync function: jobs run
 * and complete in submission order (FIFO), a job syncs its descriptors in
 * order and stops at the first failure, and freeing the worker cancels what
 * has not completed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sync.h"

/* The fake: records each fd; fd 666 fails; while `hold` is set, the first
 * call blocks until released. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int synced[64];
static size_t n_synced;
static bool hold, entered;

static int fake_sync(int fd)
{
	pthread_mutex_lock(&mu);
	synced[n_synced++] = fd;
	entered = true;
	pthread_cond_broadcast(&cv);
	while (hold)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return fd == 666 ? -EIO : 0;
}

static void reset(bool block)
{
	pthread_mutex_lock(&mu);
	n_synced = 0;
	hold = block;
	entered = false;
	pthread_mutex_unlock(&mu);
}

static void wait_entered(void)
{
	pthread_mutex_lock(&mu);
	while (!entered)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void release(void)
{
	pthread_mutex_lock(&mu);
	hold = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

struct tjob {
	struct cl_sync_job job;
	int fds[4];
	int id;
};

static int completed[16], results[16];
static size_t n_completed;

static void done(struct cl_sync_job *job, int result)
{
	struct tjob *t = (struct tjob *)job;

	completed[n_completed] = t->id;
	results[n_completed++] = result;
}

static void make(struct tjob *t, int id, const int *fds, size_t n)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->fds, fds, n * sizeof(*fds));
	t->job.fds = t->fds;
	t->job.n_fds = n;
	t->job.done = done;
	t->id = id;
}

/* Runs completions until `n` jobs completed in total. */
static void complete_until(struct cl_sync_worker *w, size_t n)
{
	while (n_completed < n) {
		struct pollfd p = { .fd = cl_sync_worker_fd(w), .events = POLLIN };

		assert_true(poll(&p, 1, 5000) == 1);
		(void)cl_sync_worker_complete(w);
	}
}

static void test_fifo(void **state)
{
	struct cl_sync_worker *w;
	struct tjob j[5];

	(void)state;
	n_completed = 0;
	reset(true);
	assert_int_equal(cl_sync_worker_new(fake_sync, &w), 0);
	make(&j[0], 0, (int[]){ 10 }, 1);
	cl_sync_submit(w, &j[0].job);
	/* While the worker is busy with the first job, four more queue up. */
	wait_entered();
	for (int i = 1; i < 5; i++) {
		make(&j[i], i, (int[]){ 10 * (i + 1), 10 * (i + 1) + 1 }, 2);
		cl_sync_submit(w, &j[i].job);
	}
	release();
	complete_until(w, 5);
	/* Oldest first, in the worker and in the completions. */
	assert_int_equal(n_synced, 9);
	assert_int_equal(synced[0], 10);
	for (int i = 1; i < 5; i++) {
		assert_int_equal(synced[2 * i - 1], 10 * (i + 1));
		assert_int_equal(synced[2 * i], 10 * (i + 1) + 1);
	}
	for (int i = 0; i < 5; i++) {
		assert_int_equal(completed[i], i);
		assert_int_equal(results[i], 0);
	}
	cl_sync_worker_free(w);
}

static void test_stops_at_first_failure(void **state)
{
	struct cl_sync_worker *w;
	struct tjob j;

	(void)state;
	n_completed = 0;
	reset(false);
	assert_int_equal(cl_sync_worker_new(fake_sync, &w), 0);
	make(&j, 7, (int[]){ 1, 666, 3 }, 3);
	cl_sync_submit(w, &j.job);
	complete_until(w, 1);
	assert_int_equal(n_synced, 2); /* fd 3 (an index file, say) is never synced */
	assert_int_equal(completed[0], 7);
	assert_int_equal(results[0], -EIO);
	cl_sync_worker_free(w);
}

static void *release_later(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	release();
	return NULL;
}

static void test_free_cancels(void **state)
{
	struct cl_sync_worker *w;
	struct tjob a, b;
	pthread_t t;

	(void)state;
	n_completed = 0;
	reset(true);
	assert_int_equal(cl_sync_worker_new(fake_sync, &w), 0);
	make(&a, 1, (int[]){ 5 }, 1);
	make(&b, 2, (int[]){ 6 }, 1);
	cl_sync_submit(w, &a.job);
	wait_entered();
	cl_sync_submit(w, &b.job);
	assert_int_equal(pthread_create(&t, NULL, release_later, NULL), 0);
	cl_sync_worker_free(w); /* waits for the running job, runs nothing more */
	pthread_join(t, NULL);
	/* B runs only if the release came before the stop (a stalled test). */
	assert_true(n_synced == 1 || n_synced == 2);
	assert_int_equal(n_completed, 2);
	assert_int_equal(completed[0], 1);
	assert_int_equal(results[0], -ECANCELED);
	assert_int_equal(completed[1], 2);
	assert_int_equal(results[1], -ECANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_stops_at_first_failure),
		cmocka_unit_test(test_free_cancels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
