/* SPDX-License-Identifier: MIT */
/*
 * Bounded byte cursors for wire and file formats.
 *
 * `struct cl_rbuf` reads from a borrowed buffer; `struct cl_wbuf` writes into a
 * borrowed, fixed-capacity buffer. Neither owns memory.
 *
 * Invariants: pos <= len (rbuf), pos <= cap (wbuf). Every read or write either
 * succeeds completely or fails with -EMSGSIZE leaving the position unchanged,
 * so a decoder can check once at the end. Bounds are checked as
 * `n > len - pos` so that a huge n cannot wrap around.
 *
 * Integer helpers carry the byte order in their names (be = big-endian, as on
 * every LTTng socket; le = little-endian).
 */
#ifndef CL_BYTES_H
#define CL_BYTES_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cl_rbuf {
	const uint8_t *data; /* borrowed */
	size_t len;
	size_t pos;
};

struct cl_wbuf {
	uint8_t *data; /* borrowed */
	size_t cap;
	size_t pos;
};

static inline struct cl_rbuf cl_rbuf_make(const void *data, size_t len)
{
	return (struct cl_rbuf){ .data = data, .len = len, .pos = 0 };
}

static inline struct cl_wbuf cl_wbuf_make(void *data, size_t cap)
{
	return (struct cl_wbuf){ .data = data, .cap = cap, .pos = 0 };
}

static inline size_t cl_rbuf_left(const struct cl_rbuf *rb)
{
	return rb->len - rb->pos;
}

/* Points *ret at the next n bytes (borrowed from rb) and advances. */
static inline int cl_rbuf_get_bytes(struct cl_rbuf *rb, size_t n, const uint8_t **ret)
{
	if (n > rb->len - rb->pos)
		return -EMSGSIZE;
	*ret = rb->data + rb->pos;
	rb->pos += n;
	return 0;
}

static inline int cl_rbuf_skip(struct cl_rbuf *rb, size_t n)
{
	const uint8_t *p;

	return cl_rbuf_get_bytes(rb, n, &p);
}

static inline uint16_t cl_load_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t cl_load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t cl_load_be64(const uint8_t *p)
{
	return (uint64_t)cl_load_be32(p) << 32 | cl_load_be32(p + 4);
}

static inline uint32_t cl_load_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline void cl_store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void cl_store_be64(uint8_t *p, uint64_t v)
{
	cl_store_be32(p, (uint32_t)(v >> 32));
	cl_store_be32(p + 4, (uint32_t)v);
}

static inline int cl_rbuf_get_u8(struct cl_rbuf *rb, uint8_t *ret)
{
	const uint8_t *p;
	int r = cl_rbuf_get_bytes(rb, 1, &p);

	if (r == 0)
		*ret = p[0];
	return r;
}

static inline int cl_rbuf_get_be32(struct cl_rbuf *rb, uint32_t *ret)
{
	const uint8_t *p;
	int r = cl_rbuf_get_bytes(rb, 4, &p);

	if (r == 0)
		*ret = cl_load_be32(p);
	return r;
}

static inline int cl_rbuf_get_be64(struct cl_rbuf *rb, uint64_t *ret)
{
	const uint8_t *p;
	int r = cl_rbuf_get_bytes(rb, 8, &p);

	if (r == 0)
		*ret = cl_load_be64(p);
	return r;
}

/*
 * Reads a string field of exactly n bytes whose last byte must be NUL and
 * which holds no other NUL before it (the 2.11+ relayd layout: lengths
 * include the NUL). *ret borrows from rb. Errors: -EMSGSIZE (short),
 * -EPROTO (n == 0 or not NUL-terminated).
 */
static inline int cl_rbuf_get_cstr(struct cl_rbuf *rb, size_t n, const char **ret)
{
	const uint8_t *p;

	if (n == 0)
		return -EPROTO;
	if (n > rb->len - rb->pos)
		return -EMSGSIZE;
	p = rb->data + rb->pos;
	if (p[n - 1] != '\0' || memchr(p, '\0', n) != p + n - 1)
		return -EPROTO;
	rb->pos += n;
	*ret = (const char *)p;
	return 0;
}

/*
 * Reads a fixed-size, NUL-padded char array of n bytes (pre-2.11 layouts):
 * it must contain a NUL. *ret borrows from rb.
 */
static inline int cl_rbuf_get_fixed_str(struct cl_rbuf *rb, size_t n, const char **ret)
{
	const uint8_t *p;

	if (n > rb->len - rb->pos)
		return -EMSGSIZE;
	p = rb->data + rb->pos;
	if (!memchr(p, '\0', n))
		return -EPROTO;
	rb->pos += n;
	*ret = (const char *)p;
	return 0;
}

static inline int cl_wbuf_put_bytes(struct cl_wbuf *wb, const void *src, size_t n)
{
	if (n > wb->cap - wb->pos)
		return -EMSGSIZE;
	if (n)
		memcpy(wb->data + wb->pos, src, n);
	wb->pos += n;
	return 0;
}

static inline int cl_wbuf_put_zeros(struct cl_wbuf *wb, size_t n)
{
	if (n > wb->cap - wb->pos)
		return -EMSGSIZE;
	memset(wb->data + wb->pos, 0, n);
	wb->pos += n;
	return 0;
}

static inline int cl_wbuf_put_u8(struct cl_wbuf *wb, uint8_t v)
{
	return cl_wbuf_put_bytes(wb, &v, 1);
}

static inline int cl_wbuf_put_be32(struct cl_wbuf *wb, uint32_t v)
{
	uint8_t b[4];

	cl_store_be32(b, v);
	return cl_wbuf_put_bytes(wb, b, 4);
}

static inline int cl_wbuf_put_be64(struct cl_wbuf *wb, uint64_t v)
{
	uint8_t b[8];

	cl_store_be64(b, v);
	return cl_wbuf_put_bytes(wb, b, 8);
}

/* Copies string s into a fixed n-byte field, NUL-padded; truncates to n-1. */
static inline int cl_wbuf_put_fixed_str(struct cl_wbuf *wb, const char *s, size_t n)
{
	size_t l = strnlen(s, n ? n - 1 : 0);

	if (n > wb->cap - wb->pos)
		return -EMSGSIZE;
	memcpy(wb->data + wb->pos, s, l);
	memset(wb->data + wb->pos + l, 0, n - l);
	wb->pos += n;
	return 0;
}

#endif
