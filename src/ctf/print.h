/* SPDX-License-Identifier: MIT */
/* Output buffers shared by the text and JSON printers. */
#ifndef CL_CTF_PRINT_H
#define CL_CTF_PRINT_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctf-internal.h"

struct cl_obuf {
	char *d; /* owned */
	size_t len, cap;
	bool oom;
};

struct ctflive_ctf_printer {
	unsigned flags;
	struct cl_obuf out, warn;
	bool have_last;
	uint64_t last_ns, last_cycles;
	/* cache of the formatted time of day of one second */
	int64_t cached_sec;
	bool cached_valid;
	char cached[32];
	size_t cached_len;
	bool neg_warned;
	int64_t offset_ns; /* --clock-offset */
	/* JSON: last event class fragment ("name", "id", "loglevel" members) */
	const void *jev_ec;
	char *jev_text; /* owned */
	size_t jev_len, jev_cap;
};

/* Copies b->d[start..] into a malloc'd cache buffer. */
int cl_cache_tail(const struct cl_obuf *b, size_t start, char **text, size_t *len, size_t *cap);

/* Out of line: the reserve above is on the hot path of every printed field. */
__attribute__((noinline, cold)) int cl_obuf_grow(struct cl_obuf *b, size_t need);

static inline int cl_ob_reserve(struct cl_obuf *b, size_t n)
{
	if (__builtin_expect(n > b->cap - b->len, 0))
		return cl_obuf_grow(b, n);
	return 0;
}

/* Small copies inline (fixed-size moves), big ones through memcpy. */
static inline void cl_copy_small(char *d, const char *s, size_t n)
{
	if (n >= 8) {
		if (n <= 16) {
			memcpy(d, s, 8);
			memcpy(d + n - 8, s + n - 8, 8);
		} else {
			memcpy(d, s, n);
		}
	} else if (n >= 4) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}

static inline void cl_ob_put(struct cl_obuf *b, const void *s, size_t n)
{
	if (cl_ob_reserve(b, n) < 0)
		return;
	cl_copy_small(b->d + b->len, s, n);
	b->len += n;
}

/* String literal without strlen. */
#define CL_OB_LIT(b, lit) cl_ob_put((b), "" lit, sizeof(lit) - 1)

static inline void cl_ob_puts(struct cl_obuf *b, const char *s)
{
	cl_ob_put(b, s, strlen(s));
}

static inline void cl_ob_putc(struct cl_obuf *b, char c)
{
	if (cl_ob_reserve(b, 1) < 0)
		return;
	b->d[b->len++] = c;
}

/* Decimal digits of v, written at the end of the buffer. */
static inline void cl_ob_u64(struct cl_obuf *b, uint64_t v)
{
	char tmp[24];
	char *e = tmp + sizeof(tmp), *p = e;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	cl_ob_put(b, p, (size_t)(e - p));
}

static inline void cl_ob_i64(struct cl_obuf *b, int64_t v)
{
	if (v < 0) {
		cl_ob_putc(b, '-');
		cl_ob_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		cl_ob_u64(b, (uint64_t)v);
	}
}

/* v zero-padded to `width` digits */
static inline void cl_ob_u64_pad(struct cl_obuf *b, uint64_t v, int width)
{
	char tmp[24];
	char *e = tmp + sizeof(tmp), *p = e;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (e - p < width && p > tmp)
		*--p = '0';
	cl_ob_put(b, p, (size_t)(e - p));
}

int cl_json_event(struct ctflive_ctf_printer *p, const struct ctflive_ctf_stream *s,
		  const struct ctflive_ctf_msg *m);
int cl_json_discard(struct ctflive_ctf_printer *p, const struct ctflive_ctf_stream *s,
		    const struct ctflive_ctf_msg *m);
void cl_print_value(struct cl_obuf *b, const struct cl_node *n, const struct cl_val *v);
size_t cl_skip_values(const struct cl_node *n, const struct cl_val *v, size_t i);
void cl_text_enum_labels(struct cl_obuf *b, const struct cl_type *et, uint64_t v, bool json);
void cl_format_iso8601(struct cl_obuf *b, int64_t ns);
/* CTF 2 UTF-16/UTF-32 text (enc: CL_ENC_*, unit size > 1) at p, n bytes, to
 * UTF-8 in out (cap >= 8): converts whole code points until out is nearly
 * full, the bytes end or a zero code unit (*nul set); returns the bytes
 * written, *used the bytes read. Unpaired surrogates, values above U+10FFFF
 * and a trailing partial code unit become U+FFFD. */
size_t cl_utf_to_utf8(const uint8_t *p, size_t n, unsigned enc, size_t *used, bool *nul,
		      uint8_t *out, size_t cap);
/* CTF 2 bit map: the names of its flags with a set bit, sorted by name;
 * text ` { "A", "B" }` (nothing when none) or JSON `"A","B"`. */
void cl_bitmap_flags(struct cl_obuf *b, const struct cl_type *t, uint64_t v, bool json);

#endif
