/* SPDX-License-Identifier: MIT */
/*
 * A small epoll event loop, in the spirit of redis' ae: file descriptor
 * watches, one periodic tick, and a "before sleep" hook. Single-threaded: the
 * loop thread owns every object whose callbacks it runs.
 *
 * A watch is embedded in its owner (struct cl_watch); the owner must call
 * cl_loop_del() before freeing it. Objects are never freed inside their own
 * callback: callers defer destruction to the before-sleep hook, which runs
 * after each batch of events.
 */
#ifndef CL_RELAYD_LOOP_H
#define CL_RELAYD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct cl_loop;
struct cl_watch;

/* Called with the epoll event mask (EPOLLIN, EPOLLOUT, EPOLLHUP, ...). */
typedef void (*cl_watch_cb)(struct cl_watch *w, uint32_t events);
typedef void (*cl_loop_hook)(void *userdata);

struct cl_watch {
	int fd;
	uint32_t events;
	cl_watch_cb cb;
};

/* Creates a loop. Returns 0 or -errno; *ret owned by the caller. */
int cl_loop_new(struct cl_loop **ret);
/* Frees the loop (NULL-safe). Watches must have been removed. */
struct cl_loop *cl_loop_free(struct cl_loop *loop);

/* Starts watching w->fd for `events`. w is borrowed until cl_loop_del(). */
int cl_loop_add(struct cl_loop *loop, struct cl_watch *w, uint32_t events);
/* Changes the event mask of a watch. */
int cl_loop_mod(struct cl_loop *loop, struct cl_watch *w, uint32_t events);
/* Stops watching; safe to call from any callback, including w's own. */
void cl_loop_del(struct cl_loop *loop, struct cl_watch *w);

/* Runs `hook` every `period_ms` milliseconds (one tick hook per loop). */
int cl_loop_set_tick(struct cl_loop *loop, unsigned period_ms, cl_loop_hook hook, void *userdata);
/* Runs `hook` after every batch of events, before sleeping again. */
void cl_loop_set_before_sleep(struct cl_loop *loop, cl_loop_hook hook, void *userdata);

/* Runs until cl_loop_stop(). Returns 0 or -errno on a fatal epoll error. */
int cl_loop_run(struct cl_loop *loop);
/*
 * Runs the before-sleep hook, then one batch of events, waiting at most
 * `timeout_ms` (0: not at all) for it. Returns how many events ran, or
 * -errno. For harnesses that drive the loop themselves (fuzz-daemon).
 */
int cl_loop_run_once(struct cl_loop *loop, int timeout_ms);
/* Asks cl_loop_run() to return after the current batch (async-signal-safe). */
void cl_loop_stop(struct cl_loop *loop);

#endif
