/* SPDX-License-Identifier: MIT */
/* The sync worker: see sync.h. */
#include "sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io.h"

/* A FIFO of jobs linked through job->next. */
struct queue {
	struct cl_sync_job *head, *tail;
};

struct cl_sync_worker {
	int (*sync_fd)(int fd);
	int event_fd; /* completions waiting */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct queue todo, done; /* protected by lock */
	bool stop;
};

static void push(struct queue *q, struct cl_sync_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct cl_sync_job *pop(struct queue *q)
{
	struct cl_sync_job *j = q->head;

	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		j->next = NULL;
	}
	return j;
}

static void *worker_main(void *arg)
{
	struct cl_sync_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct cl_sync_job *j;
		uint64_t one = 1;

		while (!w->todo.head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		j = pop(&w->todo);
		pthread_mutex_unlock(&w->lock);

		j->result = 0;
		for (size_t i = 0; i < j->n_fds && j->result == 0; i++)
			j->result = w->sync_fd(j->fds[i]);

		pthread_mutex_lock(&w->lock);
		push(&w->done, j);
		if (write(w->event_fd, &one, sizeof(one)) < 0) {
			/* The counter cannot overflow here; nothing to do. */
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int cl_sync_worker_new(int (*sync_fd)(int fd), struct cl_sync_worker **ret)
{
	struct cl_sync_worker *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->sync_fd = sync_fd ? sync_fd : cl_fdatasync;
	w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->event_fd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	r = -pthread_create(&w->thread, NULL, worker_main, w);
	if (r < 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		close(w->event_fd);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

void cl_sync_worker_free(struct cl_sync_worker *w)
{
	struct cl_sync_job *j;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	/* The thread is gone: the queues are ours. Oldest first, as always. */
	while ((j = pop(&w->done)))
		j->done(j, -ECANCELED);
	while ((j = pop(&w->todo)))
		j->done(j, -ECANCELED);
	close(w->event_fd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

void cl_sync_submit(struct cl_sync_worker *w, struct cl_sync_job *job)
{
	pthread_mutex_lock(&w->lock);
	push(&w->todo, job);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int cl_sync_worker_fd(const struct cl_sync_worker *w)
{
	return w->event_fd;
}

size_t cl_sync_worker_complete(struct cl_sync_worker *w)
{
	struct queue list;
	struct cl_sync_job *j;
	uint64_t n;
	size_t count = 0;

	if (read(w->event_fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing signalled since the last call; look anyway. */
	}
	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done.head = w->done.tail = NULL;
	pthread_mutex_unlock(&w->lock);
	/* A completion may submit a new job: it goes to todo, not to `list`. */
	while ((j = pop(&list))) {
		j->done(j, j->result);
		count++;
	}
	return count;
}
