/* SPDX-License-Identifier: MIT */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "io.h"
#include "macro.h"

#define MAX_EVENTS 64

struct cl_loop {
	int epoll_fd;
	volatile sig_atomic_t stop;
	struct cl_watch tick_watch;
	cl_loop_hook tick;
	void *tick_data;
	cl_loop_hook before_sleep;
	void *before_sleep_data;
	/* Watches removed during the current batch: their pending events are skipped. */
	struct cl_watch *removed[MAX_EVENTS * 4];
	size_t n_removed;
	bool in_batch;
};

int cl_loop_new(struct cl_loop **ret)
{
	struct cl_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd < 0) {
		int r = -errno;

		free(loop);
		return r;
	}
	loop->tick_watch.fd = -1;
	*ret = loop;
	return 0;
}

struct cl_loop *cl_loop_free(struct cl_loop *loop)
{
	if (!loop)
		return NULL;
	if (loop->tick_watch.fd >= 0)
		close(loop->tick_watch.fd);
	close(loop->epoll_fd);
	free(loop);
	return NULL;
}

int cl_loop_add(struct cl_loop *loop, struct cl_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->events = events;
	return cl_negerrno(epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, w->fd, &ev));
}

int cl_loop_mod(struct cl_loop *loop, struct cl_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	w->events = events;
	return cl_negerrno(epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, w->fd, &ev));
}

void cl_loop_del(struct cl_loop *loop, struct cl_watch *w)
{
	(void)epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
	if (loop->in_batch && loop->n_removed < sizeof(loop->removed) / sizeof(loop->removed[0]))
		loop->removed[loop->n_removed++] = w;
}

static bool was_removed(const struct cl_loop *loop, const struct cl_watch *w)
{
	for (size_t i = 0; i < loop->n_removed; i++)
		if (loop->removed[i] == w)
			return true;
	return false;
}

static void tick_cb(struct cl_watch *w, uint32_t events)
{
	struct cl_loop *loop = cl_container_of(w, struct cl_loop, tick_watch);
	uint64_t expirations;

	(void)events;
	if (read(w->fd, &expirations, sizeof(expirations)) < 0)
		return;
	loop->tick(loop->tick_data);
}

int cl_loop_set_tick(struct cl_loop *loop, unsigned period_ms, cl_loop_hook hook, void *userdata)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = period_ms / 1000,
				 .tv_nsec = (long)(period_ms % 1000) * 1000000L },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	loop->tick_watch.fd = fd;
	loop->tick_watch.cb = tick_cb;
	loop->tick = hook;
	loop->tick_data = userdata;
	return cl_loop_add(loop, &loop->tick_watch, EPOLLIN);
}

void cl_loop_set_before_sleep(struct cl_loop *loop, cl_loop_hook hook, void *userdata)
{
	loop->before_sleep = hook;
	loop->before_sleep_data = userdata;
}

void cl_loop_stop(struct cl_loop *loop)
{
	loop->stop = 1;
}

int cl_loop_run_once(struct cl_loop *loop, int timeout_ms)
{
	struct epoll_event events[MAX_EVENTS];
	int n;

	if (loop->before_sleep)
		loop->before_sleep(loop->before_sleep_data);
	n = epoll_wait(loop->epoll_fd, events, MAX_EVENTS, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->in_batch = true;
	loop->n_removed = 0;
	for (int i = 0; i < n; i++) {
		struct cl_watch *w = events[i].data.ptr;

		if (was_removed(loop, w))
			continue;
		w->cb(w, events[i].events);
	}
	loop->in_batch = false;
	return n;
}

int cl_loop_run(struct cl_loop *loop)
{
	while (!loop->stop) {
		int r = cl_loop_run_once(loop, -1);

		if (r < 0)
			return r;
	}
	return 0;
}
