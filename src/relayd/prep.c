/* SPDX-License-Identifier: MIT */
/* Files made ahead of need: see prep.h. */
#include "prep.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file-locks.h"
#include "list.h"

#define PREP_HDR_MAX 64

enum prep_state {
	PREP_QUEUED,  /* in p->todo */
	PREP_MAKING,  /* the helper makes it */
	PREP_DONE,    /* fd or err set */
	PREP_DROPPED, /* cancelled while being made: the helper frees it */
};

struct prep_file {
	struct cl_list_node node; /* in p->todo while queued */
	enum prep_state state;
	uint8_t hdr[PREP_HDR_MAX];
	size_t hdr_len;
	int fd;
	int err;
};

struct prep {
	int dir_fd; /* borrowed */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct cl_list todo; /* protected by lock */
	bool stop;
};

static void *helper_main(void *arg)
{
	struct prep *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct prep_file *f;
		int fd = -1, r;

		if (cl_list_empty(&p->todo)) {
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		f = cl_container_of(p->todo.head.next, struct prep_file, node);
		cl_list_remove(&f->node);
		f->state = PREP_MAKING;
		pthread_mutex_unlock(&p->lock);
		r = cl_lock_create_unnamed(p->dir_fd, f->hdr, f->hdr_len, &fd);
		pthread_mutex_lock(&p->lock);
		if (f->state == PREP_DROPPED) {
			if (r == 0)
				close(fd);
			free(f);
			continue;
		}
		f->fd = r == 0 ? fd : -1;
		f->err = r;
		f->state = PREP_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int prep_new(int dir_fd, struct prep **ret)
{
	struct prep *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->dir_fd = dir_fd;
	cl_list_init(&p->todo);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	r = pthread_create(&p->thread, NULL, helper_main, p);
	if (r != 0) {
		pthread_cond_destroy(&p->done);
		pthread_cond_destroy(&p->work);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -r;
	}
	*ret = p;
	return 0;
}

void prep_free(struct prep *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	/* Requests still queued belong to their streams (prep_cancel()). */
	while (!cl_list_empty(&p->todo)) {
		struct prep_file *f = cl_container_of(p->todo.head.next, struct prep_file, node);

		cl_list_remove(&f->node);
		f->state = PREP_DONE;
		f->fd = -1;
		f->err = -ECANCELED;
	}
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int prep_submit(struct prep *p, const void *hdr, size_t hdr_len, struct prep_file **ret)
{
	struct prep_file *f;

	if (hdr_len > PREP_HDR_MAX)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	memcpy(f->hdr, hdr, hdr_len);
	f->hdr_len = hdr_len;
	f->fd = -1;
	f->state = PREP_QUEUED;
	pthread_mutex_lock(&p->lock);
	cl_list_append(&p->todo, &f->node);
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	*ret = f;
	return 0;
}

int prep_take(struct prep *p, struct prep_file *f, int *ret_fd)
{
	int r;

	pthread_mutex_lock(&p->lock);
	if (f->state == PREP_QUEUED) {
		/* Not started: made here rather than after the requests before it. */
		cl_list_remove(&f->node);
		pthread_mutex_unlock(&p->lock);
		r = cl_lock_create_unnamed(p->dir_fd, f->hdr, f->hdr_len, ret_fd);
		free(f);
		return r;
	}
	while (f->state != PREP_DONE)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
	r = f->err;
	if (r == 0)
		*ret_fd = f->fd;
	free(f);
	return r;
}

void prep_cancel(struct prep *p, struct prep_file *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&p->lock);
	switch (f->state) {
	case PREP_QUEUED:
		cl_list_remove(&f->node);
		break;
	case PREP_MAKING:
		f->state = PREP_DROPPED; /* the helper frees it */
		f = NULL;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&p->lock);
	if (f) {
		if (f->fd >= 0)
			close(f->fd);
		free(f);
	}
}
