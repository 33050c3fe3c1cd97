/* SPDX-License-Identifier: MIT */
/*
 * The sync worker: one thread that makes files durable (fdatasync) off the
 * loop thread, in the shape of libuv's uv__work_submit() and redis' bio.c.
 * It knows nothing of its callers: a job is an array of file descriptors to
 * sync, in order, and a completion that runs back on the caller's thread.
 *
 *   - Jobs run one at a time, in the order they were submitted (FIFO), and
 *     complete in that order: with several busy sessions, the oldest job
 *     never waits behind newer ones.
 *   - Within a job, descriptors are synced in array order and the job stops
 *     at the first failure: a caller that lists data files before index
 *     files knows the index files were synced only if the data files were.
 *   - The worker thread touches nothing but the job's fds array (borrowed
 *     from submission until completion) and its result: the caller keeps
 *     sole ownership of every other object, and no lock order exists beyond
 *     the worker's own mutex.
 *   - Completions are announced on an eventfd (cl_sync_worker_fd()) that the
 *     caller watches; cl_sync_worker_complete() then runs each finished
 *     job's `done` on the caller's thread.
 *
 * A job is embedded in its owner's structure (container_of). Its fds are
 * owned by the owner, who closes them in `done` (or later).
 */
#ifndef CL_RELAYD_SYNC_H
#define CL_RELAYD_SYNC_H

#include <stddef.h>

struct cl_sync_worker;
struct cl_sync_job;

/*
 * Called on the caller's thread once the job is finished: result 0 when
 * every fd was synced, the first negative errno otherwise, -ECANCELED when
 * the worker was freed before running it. The worker is done with the job.
 */
typedef void (*cl_sync_done_fn)(struct cl_sync_job *job, int result);

struct cl_sync_job {
	const int *fds; /* borrowed by the worker from submit to done */
	size_t n_fds;
	cl_sync_done_fn done;
	/* private to the worker */
	struct cl_sync_job *next;
	int result;
};

/*
 * Starts a worker thread. `sync_fd` makes one fd durable (0 or -errno);
 * NULL means cl_fdatasync(). 0, -ENOMEM, or the -errno of eventfd or
 * pthread_create. *ret is owned by the caller.
 */
int cl_sync_worker_new(int (*sync_fd)(int fd), struct cl_sync_worker **ret);

/*
 * Stops and joins the thread; jobs not yet completed get done(-ECANCELED)
 * (the one running finishes first). NULL-safe.
 */
void cl_sync_worker_free(struct cl_sync_worker *w);

/* Queues `job` (its fds, n_fds and done set) at the end of the queue. */
void cl_sync_submit(struct cl_sync_worker *w, struct cl_sync_job *job);

/* Non-blocking eventfd, readable when completions are waiting. */
int cl_sync_worker_fd(const struct cl_sync_worker *w);

/* Runs the completions of finished jobs, oldest first. Returns how many. */
size_t cl_sync_worker_complete(struct cl_sync_worker *w);

#endif
