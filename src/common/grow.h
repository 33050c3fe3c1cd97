/* SPDX-License-Identifier: MIT */
/*
 * Overflow-checked growth of heap arrays and a bounded growable byte buffer.
 *
 * Every array that grows as things arrive (streams, files, index entries,
 * output bytes) grows through these, so the size arithmetic is checked in one
 * place. Shapes after git's ALLOC_GROW (grow to at least the needed count,
 * geometrically) and systemd's GREEDY_REALLOC (keep the capacity beside the
 * pointer; the old block stays valid on failure).
 *
 *   struct foo *v = NULL; size_t n = 0, cap = 0;
 *   if (cl_grow(&v, &cap, n + 1))   // -> -ENOMEM or -E2BIG
 *           return -ENOMEM;
 *   v[n++] = item;
 *
 * Errors: -E2BIG when count * element size would overflow size_t (or exceed
 * PTRDIFF_MAX), -ENOMEM when realloc() fails. On error the array and its
 * capacity are unchanged.
 */
#ifndef CL_GROW_H
#define CL_GROW_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Makes the array at *p (elements of `size` bytes, *cap of them allocated)
 * hold at least `need` elements: grows to max(need, 3/2 * cap, 8) when
 * needed, never shrinks. New elements are uninitialized. Returns 0, -E2BIG
 * (overflow) or -ENOMEM.
 */
int cl_grow_array(void **p, size_t *cap, size_t need, size_t size);

/* cl_grow_array() for a typed pointer: cl_grow(&v, &cap, need). */
#define cl_grow(pp, capp, need) cl_grow_array((void **)(pp), (capp), (need), sizeof(**(pp)))

/*
 * A growable byte buffer with a hard limit. `data` is owned (free with
 * cl_buf_free()); bytes [0, len) are valid; len <= cap <= max.
 * A zero-initialized struct with `max` set is an empty buffer.
 */
struct cl_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* limit on len, in bytes; 0 means SIZE_MAX / 2 */
};

/* Makes room for `n` more bytes after len. -E2BIG past max, -ENOMEM. */
int cl_buf_reserve(struct cl_buf *b, size_t n);

/* Appends n bytes (copied). -E2BIG past max, -ENOMEM; nothing appended then. */
int cl_buf_append(struct cl_buf *b, const void *data, size_t n);

/* Drops the first n bytes (n > len drops everything), keeping the rest. */
void cl_buf_consume(struct cl_buf *b, size_t n);

/* Empties the buffer, keeping its memory. */
static inline void cl_buf_clear(struct cl_buf *b)
{
	b->len = 0;
}

/* Frees the memory; the buffer is empty (max kept) and reusable. */
void cl_buf_free(struct cl_buf *b);

#endif
