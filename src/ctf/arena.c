/* SPDX-License-Identifier: MIT */
/* Bump allocator for metadata-lifetime objects; freed in one go. */
#include <stdlib.h>
#include <string.h>

#include "ctf-internal.h"

struct cl_arena_chunk {
	struct cl_arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

void *cl_arena_alloc(struct cl_arena *a, size_t size)
{
	struct cl_arena_chunk *c = a->head;
	size_t need = (size + 15u) & ~(size_t)15u;
	void *p;

	if (need < size)
		return NULL;
	if (!c || need > c->size - c->used) {
		size_t sz = need > 65536u ? need : 65536u;

		c = malloc(sizeof(*c) + sz);
		if (!c)
			return NULL;
		c->size = sz;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += need;
	a->used_total += need;
	memset(p, 0, size);
	return p;
}

char *cl_arena_strndup(struct cl_arena *a, const char *s, size_t n)
{
	char *p = cl_arena_alloc(a, n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cl_arena_strdup(struct cl_arena *a, const char *s)
{
	return cl_arena_strndup(a, s, strlen(s));
}

void cl_arena_release(struct cl_arena *a)
{
	while (a->head) {
		struct cl_arena_chunk *n = a->head->next;

		free(a->head);
		a->head = n;
	}
	a->used_total = 0;
}
