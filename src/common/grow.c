/* SPDX-License-Identifier: MIT */
#include "grow.h"

#include <stdlib.h>
#include <string.h>

int cl_grow_array(void **p, size_t *cap, size_t need, size_t size)
{
	size_t nc;
	void *n;

	if (need <= *cap)
		return 0;
	if (size == 0 || need > PTRDIFF_MAX / size)
		return -E2BIG;
	nc = *cap < 8 ? 8 : *cap + *cap / 2;
	if (nc < need || nc > PTRDIFF_MAX / size)
		nc = need;
	n = realloc(*p, nc * size);
	if (!n)
		return -ENOMEM;
	*p = n;
	*cap = nc;
	return 0;
}

static size_t buf_max(const struct cl_buf *b)
{
	return b->max ? b->max : SIZE_MAX / 2;
}

int cl_buf_reserve(struct cl_buf *b, size_t n)
{
	if (n > buf_max(b) - b->len)
		return -E2BIG;
	return cl_grow_array((void **)&b->data, &b->cap, b->len + n, 1);
}

int cl_buf_append(struct cl_buf *b, const void *data, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	r = cl_buf_reserve(b, n);
	if (r)
		return r;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return 0;
}

void cl_buf_consume(struct cl_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void cl_buf_free(struct cl_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
