/* SPDX-License-Identifier: MIT */
/*
 * Decoding the fields of one scope (ctf-decoding.md §3): the recursive walk
 * of a compiled decode tree (dec_node(), for everything), and the flat
 * decode program interpreter that does the common cases fast (cl_run_prog(),
 * see struct cl_op). Values go to the stream's per-scope arrays, one slot
 * per scalar, variant, array or sequence in pre-order; strings and text
 * point into the packet. decode.c frames packets and calls these.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "fields.h"
#include "grow.h"

/* Error with position: returned as -EBADMSG (or given code). */
int cl_dec_err(struct ctflive_ctf_stream *s, int code, uint64_t bitpos, const char *fmt, ...)
{
	va_list ap;

	s->errdiag.line = 0;
	s->errdiag.col = 0;
	s->errdiag.offset = s->stream_off + bitpos / 8;
	va_start(ap, fmt);
	vsnprintf(s->errdiag.msg, sizeof(s->errdiag.msg), fmt, ap);
	va_end(ap);
	return code;
}

static int vals_grow(struct ctflive_ctf_stream *s, struct cl_vals *v)
{
	if (v->n >= CL_MAX_VALUES)
		return cl_dec_err(s, -E2BIG, 0, "more than %u values in one scope", CL_MAX_VALUES);
	if (cl_grow(&v->v, &v->cap, v->n + 1) < 0)
		return -ENOMEM;
	return 0;
}

static inline struct cl_val *push(struct dctx *d, int *r)
{
	struct cl_vals *v = d->out;

	if (__builtin_expect(v->n == v->cap, 0)) {
		*r = vals_grow(d->s, v);
		if (*r < 0)
			return NULL;
	}
	return &v->v[v->n++];
}

static int dec_node(struct dctx *d, const struct cl_node *n);

static int dec_int(struct dctx *d, const struct cl_node *n)
{
	struct ctflive_ctf_stream *s = d->s;
	struct cl_val *val;
	uint64_t v;
	int r = 0;

	if (__builtin_expect(n->size > d->lim - d->pos || d->pos > d->lim, 0))
		return cl_dec_err(s, -EBADMSG, d->pos,
				  "%u-bit field '%s' goes past the end of the packet", n->size,
				  n->orig_name ? n->orig_name : "");
	if ((d->pos % 8 || n->size % 8) && d->last_bo && d->last_bo != n->bo && d->pos % 8)
		return cl_dec_err(s, -EBADMSG, d->pos,
				  "byte order change not at a byte boundary for field '%s'",
				  n->orig_name ? n->orig_name : "");
	v = cl_read_bits(d->buf, d->pos, n->size, n->bo);
	d->pos += n->size;
	d->last_bo = n->bo;
	if ((n->flags & CL_N_SIGNED) && n->size < 64) {
		uint64_t m = UINT64_C(1) << (n->size - 1);

		v = (v ^ m) - m;
	}
	val = push(d, &r);
	if (!val)
		return r;
	val->u = v;
	if (n->reg) {
		s->regs[n->reg] = v;
		if (n->reg2)
			s->regs[n->reg2] = v;
	}
	if (n->meaning) {
		s->mv[n->meaning] = v;
		s->mset |= 1u << n->meaning;
	}
	if (n->flags & CL_N_CLOCK)
		s->clock = cl_clock_update(s->clock, v, n->size);
	return 0;
}

/* CTF 2 LEB128 integer (CTF2-SPEC-2.0 variable-length integers): 7 bits
 * per byte, least significant group first, the high bit of a byte set when
 * another follows; signed ones sign-extend from the last group. At most 64
 * significant bits (babeltrace2 2.1 keeps 64-bit values too). */
static int dec_varint(struct dctx *d, const struct cl_node *n)
{
	struct ctflive_ctf_stream *s = d->s;
	struct cl_val *val;
	uint64_t v = 0, pos = d->pos;
	unsigned shift = 0;
	uint8_t byte;
	int r = 0;

	do {
		if (pos > d->lim || d->lim - pos < 8)
			return cl_dec_err(s, -EBADMSG, d->pos,
					  "LEB128 field '%s' goes past the end of the packet",
					  n->orig_name ? n->orig_name : "");
		byte = d->buf[pos / 8];
		pos += 8;
		if (shift >= 64 || (shift == 63 && (byte & 0x7f) > 1 &&
				    !((n->flags & CL_N_SIGNED) && (byte & 0x7f) == 0x7f)))
			return cl_dec_err(s, -EBADMSG, d->pos,
					  "LEB128 field '%s' has more than 64 bits",
					  n->orig_name ? n->orig_name : "");
		v |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	if ((n->flags & CL_N_SIGNED) && shift < 64 && (byte & 0x40))
		v |= ~UINT64_C(0) << shift;
	d->pos = pos;
	d->last_bo = 0;
	val = push(d, &r);
	if (!val)
		return r;
	val->u = v;
	if (n->reg) {
		s->regs[n->reg] = v;
		if (n->reg2)
			s->regs[n->reg2] = v;
	}
	if (n->meaning) {
		s->mv[n->meaning] = v;
		s->mset |= 1u << n->meaning;
	}
	if (n->flags & CL_N_CLOCK)
		s->clock = cl_clock_update(s->clock, v, 64);
	return 0;
}

/* IEEE 754 binary16 to double. */
static double half_to_double(uint16_t h)
{
	int e = (h >> 10) & 0x1f;
	unsigned mant = h & 0x3ffu;
	double m = mant, v;

	if (e == 0)
		v = ldexp(m, -24);
	else if (e == 31)
		v = mant ? NAN : INFINITY;
	else
		v = ldexp(m + 1024, e - 25);
	return (h & 0x8000) ? -v : v;
}

/*
 * UTF-16/UTF-32 text (enc: CL_ENC_*) up to its first zero code unit: 0 if
 * valid, else -1 (an unpaired surrogate, a value above U+10FFFF, or a
 * partial code unit before any zero one). babeltrace2 2.1.2 converts the
 * same bytes with iconv and fails on the same ones.
 */
static int utf_check(const uint8_t *p, size_t n, unsigned enc)
{
	unsigned unit = enc & CL_ENC_UNIT;
	bool be = (enc & CL_ENC_BE) != 0;
	size_t i = 0;

	while (i < n) {
		uint32_t cp = 0;

		if (n - i < unit)
			return -1;
		for (unsigned k = 0; k < unit; k++)
			cp |= (uint32_t)p[i + (be ? k : unit - 1 - k)] << (8 * (unit - 1 - k));
		i += unit;
		if (cp == 0)
			return 0;
		if (unit == 2 && cp >= 0xd800 && cp <= 0xdbff) {
			uint32_t lo;

			if (n - i < 2)
				return -1;
			lo = be ? (uint32_t)p[i] << 8 | p[i + 1] : (uint32_t)p[i + 1] << 8 | p[i];
			if (lo < 0xdc00 || lo > 0xdfff)
				return -1;
			i += 2;
		} else if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
			return -1;
		}
	}
	return 0;
}

static int dec_node(struct dctx *d, const struct cl_node *n);

/* Byte-aligned 8/16/32/64-bit integer: the common case, kept inline. */

/* A byte-aligned integer of one of the CL_FAST_* layouts at `p`. */
static inline __attribute__((always_inline)) uint64_t load_fast(const uint8_t *p, unsigned fast)
{
	uint64_t v;
	uint32_t x;

	switch (fast) {
	case CL_FAST_U8:
		return p[0];
	case CL_FAST_LE16:
		return (uint64_t)p[0] | (uint64_t)p[1] << 8;
	case CL_FAST_LE32:
		memcpy(&x, p, 4);
		return le32toh(x);
	case CL_FAST_LE64:
		memcpy(&v, p, 8);
		return le64toh(v);
	case CL_FAST_BE16:
		return (uint64_t)p[0] << 8 | p[1];
	case CL_FAST_BE32:
		memcpy(&x, p, 4);
		return be32toh(x);
	default:
		memcpy(&v, p, 8);
		return be64toh(v);
	}
}

static inline __attribute__((always_inline)) int dec_fast_int(struct dctx *d,
							      const struct cl_node *n)
{
	struct ctflive_ctf_stream *s = d->s;
	const uint8_t *p;
	uint64_t v, pos;
	int r;

	pos = (d->pos + n->align - 1) & ~(uint64_t)(n->align - 1);
	if (__builtin_expect(pos > d->lim || n->size > d->lim - pos, 0))
		return dec_int(d, n); /* reports the error */
	d->pos = pos;
	p = d->buf + pos / 8;
	v = load_fast(p, n->fast);
	d->pos += n->size;
	d->last_bo = n->bo;
	if ((n->flags & CL_N_SIGNED) && n->size < 64) {
		uint64_t m = UINT64_C(1) << (n->size - 1);

		v = (v ^ m) - m;
	}
	if (__builtin_expect(d->out->n == d->out->cap, 0)) {
		r = vals_grow(s, d->out);
		if (r < 0)
			return r;
	}
	d->out->v[d->out->n++].u = v;
	if (n->side) {
		if (n->reg) {
			s->regs[n->reg] = v;
			if (n->reg2)
				s->regs[n->reg2] = v;
		}
		if (n->meaning) {
			s->mv[n->meaning] = v;
			s->mset |= 1u << n->meaning;
		}
		if (n->flags & CL_N_CLOCK)
			s->clock = cl_clock_update(s->clock, v, n->size);
	}
	return 0;
}

static int dec_node(struct dctx *d, const struct cl_node *n)
{
	struct ctflive_ctf_stream *s = d->s;
	struct cl_val *val;
	uint64_t len;
	int r = 0;

	if (n->fast)
		return dec_fast_int(d, n);
	if (n->align > 1) {
		uint64_t a = n->align;
		uint64_t np = (d->pos + a - 1) & ~(a - 1);

		if (np > d->lim)
			return cl_dec_err(s, -EBADMSG, d->pos,
					  "alignment goes past the end of the packet");
		d->pos = np;
	}
	switch (n->kind) {
	case CL_K_INT:
	case CL_K_ENUM:
		if (n->flags & CL_N_VARINT)
			return dec_varint(d, n);
		return dec_int(d, n);
	case CL_K_OPT: {
		const struct cl_type *st = n->type->sel;
		uint64_t sv = s->regs[n->ref_reg];
		bool present = !st;

		if (st) {
			bool sg = (n->tag->flags & CL_N_SIGNED) != 0;

			for (uint32_t m = 0; m < st->nmaps && !present; m++) {
				const struct cl_enum_map *mp = &st->maps[m];

				present = sg ? ((int64_t)sv >= (int64_t)mp->lo &&
						(int64_t)sv <= (int64_t)mp->hi)
					     : (sv >= mp->lo && sv <= mp->hi);
			}
		} else {
			present = sv != 0;
		}
		val = push(d, &r);
		if (!val)
			return r;
		val->n = present;
		return present ? dec_node(d, n->elem) : 0;
	}
	case CL_K_FLOAT: {
		uint64_t v;

		if (n->size > d->lim - d->pos)
			return cl_dec_err(s, -EBADMSG, d->pos,
					  "float field past the end of the packet");
		v = cl_read_bits(d->buf, d->pos, n->size, n->bo);
		d->pos += n->size;
		d->last_bo = n->bo;
		val = push(d, &r);
		if (!val)
			return r;
		if (n->size == 16) {
			val->d = half_to_double((uint16_t)v);
		} else if (n->size == 32) {
			float f;
			uint32_t w = (uint32_t)v;

			memcpy(&f, &w, 4);
			val->d = (double)f;
		} else {
			memcpy(&val->d, &v, 8);
		}
		return 0;
	}
	case CL_K_STRING: {
		const uint8_t *p = d->buf + d->pos / 8, *z;
		size_t avail = (size_t)((d->lim - d->pos) / 8);

		size_t unit = n->enc & CL_ENC_UNIT, slen;

		if (unit > 1) {
			/* UTF-16/UTF-32: a zero code unit ends it */
			z = NULL;
			for (size_t off = 0; off + unit <= avail; off += unit) {
				bool zero = true;

				for (size_t k = 0; k < unit && zero; k++)
					zero = !p[off + k];
				if (zero) {
					z = p + off;
					break;
				}
			}
		} else {
			unit = 1;
			z = memchr(p, 0, avail);
		}
		if (!z)
			return cl_dec_err(s, -EBADMSG, d->pos, "unterminated string '%s'",
					  n->orig_name ? n->orig_name : "");
		if (unit > 1 && utf_check(p, (size_t)(z - p), n->enc) < 0)
			return cl_dec_err(s, -EBADMSG, d->pos, "invalid UTF-%zu string '%s'",
					  unit * 8, n->orig_name ? n->orig_name : "");
		val = push(d, &r);
		if (!val)
			return r;
		val->p = p;
		val->n = (uint64_t)(z - p);
		slen = (size_t)val->n + unit;
		d->pos += (uint64_t)slen * 8;
		d->last_bo = 0;
		return 0;
	}
	case CL_K_STRUCT:
		for (uint32_t i = 0; i < n->nkids; i++) {
			const struct cl_node *k = n->kids[i];

			r = k->fast ? dec_fast_int(d, k) : dec_node(d, k);
			if (r < 0)
				return r;
		}
		return 0;
	case CL_K_VARIANT: {
		const struct cl_type *et = n->tag->type;
		uint64_t tv = s->regs[n->ref_reg];
		bool sg = et->is_signed;
		int32_t opt = -1;

		for (uint32_t m = 0; m < et->nmaps; m++) {
			const struct cl_enum_map *mp = &et->maps[m];
			bool in = sg ? ((int64_t)tv >= (int64_t)mp->lo &&
					(int64_t)tv <= (int64_t)mp->hi)
				     : (tv >= mp->lo && tv <= mp->hi);

			if (in) {
				opt = n->opt_of_map[m];
				break;
			}
		}
		if (opt < 0)
			return cl_dec_err(s, -EBADMSG, d->pos,
					  "no variant option for tag value %" PRId64 " of '%s'",
					  (int64_t)tv, n->orig_name ? n->orig_name : "");
		val = push(d, &r);
		if (!val)
			return r;
		val->n = (uint64_t)opt;
		return dec_node(d, n->kids[opt]);
	}
	case CL_K_ARRAY:
	case CL_K_SEQ:
		len = n->kind == CL_K_ARRAY ? n->length : s->regs[n->ref_reg];
		if (n->flags & CL_N_TEXT) {
			if (len > (d->lim - d->pos) / 8)
				return cl_dec_err(s, -EBADMSG, d->pos,
						  "text array '%s' past the end of the packet",
						  n->orig_name ? n->orig_name : "");
			if ((n->enc & CL_ENC_UNIT) > 1 &&
			    utf_check(d->buf + d->pos / 8, (size_t)len, n->enc) < 0)
				return cl_dec_err(s, -EBADMSG, d->pos,
						  "invalid UTF-%zu string '%s'",
						  (size_t)(n->enc & CL_ENC_UNIT) * 8,
						  n->orig_name ? n->orig_name : "");
			val = push(d, &r);
			if (!val)
				return r;
			val->p = d->buf + d->pos / 8;
			val->n = len;
			d->pos += len * 8;
			d->last_bo = 0;
			return 0;
		}
		if (len > CL_MAX_VALUES)
			return cl_dec_err(s, -E2BIG, d->pos,
					  "array '%s' of %" PRIu64 " elements is too long",
					  n->orig_name ? n->orig_name : "", len);
		val = push(d, &r);
		if (!val)
			return r;
		val->n = len;
		for (uint64_t i = 0; i < len; i++) {
			r = dec_node(d, n->elem);
			if (r < 0)
				return r;
		}
		/* zero-length arrays still align (done above) */
		return 0;
	}
	return cl_dec_err(s, -EBADMSG, d->pos, "invalid node");
}

int cl_dec_scope(struct ctflive_ctf_stream *s, const struct cl_node *n, int which,
		 const uint8_t *buf, uint64_t lim)
{
	struct dctx d = { .buf = buf, .lim = lim, .pos = s->pos, .s = s, .out = &s->vals[which] };
	int r;

	d.out->n = 0;
	if (!n)
		return 0;
	r = dec_node(&d, n);
	s->pos = d.pos;
	return r;
}

/*
 * Runs a flat decode program (see struct cl_op).
 *
 * Dispatch uses GCC/clang computed gotos ("labels as values"): each handler
 * ends with its own indirect jump, which the branch predictor learns per
 * opcode; this is the hot loop of every viewer (about 2x faster than a
 * switch here). The extension is confined to this function.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
int cl_run_prog(struct dctx *d, const struct cl_op *prog)
{
	static const void *const labels[] = {
		[CL_OP_END] = &&l_end,
		[CL_OP_ALIGN] = &&l_align,
		[CL_OP_FAST_INT] = &&l_fast_int,
		[CL_OP_NODE] = &&l_node,
		[CL_OP_VARIANT] = &&l_variant,
		[CL_OP_JMP] = &&l_jmp,
		[CL_OP_TEXT_SEQ] = &&l_text_seq,
		[CL_OP_U8] = &&l_u8,
		[CL_OP_LE16] = &&l_le16,
		[CL_OP_LE32] = &&l_le32,
		[CL_OP_LE64] = &&l_le64,
		[CL_OP_LTTNG_LARGE] = &&l_lttng,
		[CL_OP_LTTNG_COMPACT] = &&l_lttng,
		[CL_OP_EVHDR_END] = &&l_evhdr_end,
	};
	struct ctflive_ctf_stream *s = d->s;
	const struct cl_op *op = prog;
	/* hot state in locals; d->pos is synced around calls */
	const uint8_t *const buf = d->buf;
	const uint64_t lim = d->lim;
	struct cl_vals *out = d->out;
	bool chained = false;
	uint64_t pos = d->pos;
	int r;

#define DISPATCH() goto *labels[op->code]
#define NEXT()              \
	do {                \
		op++;       \
		DISPATCH(); \
	} while (0)
#define SLOW(call)                              \
	do {                                    \
		d->pos = pos;                   \
		r = (call);                     \
		if (__builtin_expect(r < 0, 0)) \
			return r;               \
		pos = d->pos;                   \
	} while (0)

	DISPATCH();
l_end:
	d->pos = pos;
	return chained ? 2 : 0;
l_evhdr_end : {
	/* Event header done: when the event has only a payload (the common
	 * case), look up its class and run the payload program in the same
	 * call; decode_event() handles every other layout. */
	const struct cl_stream_class *sc = s->sc;
	uint64_t id = (s->mset & (1u << CL_M_EVENT_ID)) ? s->mv[CL_M_EVENT_ID] : 0;
	const struct cl_event_class *ec =
		id < sc->nby_id ? sc->by_id[id] : cl_stream_class_event(sc, id);

	d->pos = pos;
	if (!ec || sc->ev_ctx || ec->ctx || !ec->fields)
		return 0;
	s->ev.ec = ec;
	s->vals[CL_V_SCTX].n = 0;
	s->vals[CL_V_ECTX].n = 0;
	out = &s->vals[CL_V_PAY];
	out->n = 0;
	d->out = out;
	chained = true;
	prog = ec->fields->prog;
	op = prog;
	DISPATCH();
}
l_align : {
	uint64_t np = (pos + op->arg - 1) & ~(uint64_t)(op->arg - 1);

	if (np > lim)
		return cl_dec_err(s, -EBADMSG, pos, "alignment goes past the end of the packet");
	pos = np;
	NEXT();
}
l_fast_int : {
	uint64_t v, np = (pos + op->arg - 1) & ~(uint64_t)(op->arg - 1);
	const uint8_t *p;

	if (__builtin_expect(np > lim || op->size > lim - np || out->n == out->cap, 0)) {
		SLOW(dec_fast_int(d, op->n));
		NEXT();
	}
	p = buf + np / 8;
	v = load_fast(p, op->fast);
	pos = np + op->size;
	if ((op->flags & CL_OPF_SIGNED) && op->size < 64) {
		uint64_t m = UINT64_C(1) << (op->size - 1);

		v = (v ^ m) - m;
	}
	out->v[out->n++].u = v;
	if (op->reg)
		s->regs[op->reg] = v;
	if (op->meaning) {
		s->mv[op->meaning] = v;
		s->mset |= 1u << op->meaning;
	}
	if (op->flags & CL_OPF_CLOCK)
		s->clock = cl_clock_update(s->clock, v, op->size);
	NEXT();
}
l_node:
	SLOW(dec_node(d, op->n));
	NEXT();
l_variant : {
	const struct cl_node *n = op->n;
	const struct cl_type *et = n->tag->type;
	uint64_t tv = s->regs[n->ref_reg];
	int32_t opt = -1;

	for (uint32_t m = 0; m < et->nmaps; m++) {
		const struct cl_enum_map *mp = &et->maps[m];
		bool in = et->is_signed ? ((int64_t)tv >= (int64_t)mp->lo &&
					   (int64_t)tv <= (int64_t)mp->hi)
					: (tv >= mp->lo && tv <= mp->hi);

		if (in) {
			opt = n->opt_of_map[m];
			break;
		}
	}
	if (opt < 0)
		return cl_dec_err(s, -EBADMSG, pos,
				  "no variant option for tag value %" PRId64 " of '%s'",
				  (int64_t)tv, n->orig_name ? n->orig_name : "");
	if (__builtin_expect(out->n == out->cap, 0)) {
		r = vals_grow(s, out);
		if (r < 0)
			return r;
	}
	out->v[out->n++].n = (uint64_t)opt;
	op = prog + n->opt_pc[opt];
	DISPATCH();
}
l_jmp:
	op = prog + op->arg;
	DISPATCH();
	/* unsigned little-endian byte-aligned loads, one label each */
#define PLAIN(load)                                                                               \
	do {                                                                                      \
		uint64_t np = (pos + op->arg - 1) & ~(uint64_t)(op->arg - 1), v;                  \
		const uint8_t *p;                                                                 \
                                                                                                  \
		if (__builtin_expect(np > lim || op->size > lim - np || out->n == out->cap, 0)) { \
			SLOW(dec_fast_int(d, op->n));                                             \
			NEXT();                                                                   \
		}                                                                                 \
		p = buf + np / 8;                                                                 \
		load;                                                                             \
		pos = np + op->size;                                                              \
		out->v[out->n++].u = v;                                                           \
		if (op->flags & CL_OPF_SIDE) {                                                    \
			if (op->reg)                                                              \
				s->regs[op->reg] = v;                                             \
			if (op->meaning) {                                                        \
				s->mv[op->meaning] = v;                                           \
				s->mset |= 1u << op->meaning;                                     \
			}                                                                         \
			if (op->flags & CL_OPF_CLOCK)                                             \
				s->clock = cl_clock_update(s->clock, v, op->size);                \
		}                                                                                 \
		NEXT();                                                                           \
	} while (0)
l_u8:
	PLAIN(v = p[0]);
l_le16:
	PLAIN(v = (uint64_t)p[0] | (uint64_t)p[1] << 8);
l_le32:
	PLAIN({
		uint32_t x;

		memcpy(&x, p, 4);
		v = le32toh(x);
	});
l_le64:
	PLAIN({
		memcpy(&v, p, 8);
		v = le64toh(v);
	});
#undef PLAIN
l_lttng : {
	/* fused LTTng event header, see fuse_lttng_header() */
	uint64_t np = (pos + 7) & ~(uint64_t)7, eid, ts;
	const uint8_t *p = buf + np / 8;
	bool large = op->code == CL_OP_LTTNG_LARGE;
	uint32_t w;
	unsigned tsbits;

	/* need the longest form (extended) in bounds and room for 4 values,
	 * else run the generic program, which reports errors precisely */
	if (np > lim || lim - np < (large ? 112u : 104u) || out->cap - out->n < 4) {
		if (np <= lim && lim - np >= (large ? 48u : 32u) && out->cap - out->n >= 4) {
			/* compact form may still fit: peek at the id */
			uint64_t pid =
				large ? ((uint64_t)p[0] | (uint64_t)p[1] << 8) : (p[0] & 31u);

			if (pid != (large ? 65535u : 31u))
				goto lttng_compact_ok;
		}
		SLOW(cl_run_prog(d, op->n->prog_generic));
		NEXT();
	}
lttng_compact_ok:
	if (large) {
		eid = (uint64_t)p[0] | (uint64_t)p[1] << 8;
		out->v[out->n++].u = eid;
		if (eid != 65535) {
			memcpy(&w, p + 2, 4);
			ts = le32toh(w);
			tsbits = 32;
			pos = np + 48;
		}
	} else {
		memcpy(&w, p, 4);
		w = le32toh(w);
		eid = w & 31u;
		out->v[out->n++].u = eid;
		ts = w >> 5;
		tsbits = 27;
		pos = np + 32;
	}
	if (op->reg)
		s->regs[op->reg] = eid;
	if (eid == (large ? 65535u : 31u)) {
		const uint8_t *q = p + (large ? 2 : 1);
		uint32_t x;

		out->v[out->n++].n = 1;
		memcpy(&x, q, 4);
		eid = le32toh(x);
		memcpy(&ts, q + 4, 8);
		ts = le64toh(ts);
		out->v[out->n++].u = eid;
		out->v[out->n++].u = ts;
		pos = np + (large ? 112 : 104);
		if (op->flags & CL_OPF_CLOCK_EXT)
			s->clock = ts;
	} else {
		out->v[out->n++].n = 0;
		out->v[out->n++].u = ts;
		if (op->flags & CL_OPF_CLOCK)
			s->clock = cl_clock_update(s->clock, ts, tsbits);
	}
	s->mv[CL_M_EVENT_ID] = eid;
	s->mv[CL_M_TIMESTAMP] = ts;
	s->mset |= 1u << CL_M_EVENT_ID | 1u << CL_M_TIMESTAMP;
	NEXT();
}
l_text_seq : {
	const struct cl_node *n = op->n;
	uint64_t len = s->regs[n->ref_reg];
	uint64_t np = (pos + 7) & ~(uint64_t)7;
	struct cl_val *val;

	if (np > lim || len > (lim - np) / 8)
		return cl_dec_err(s, -EBADMSG, pos, "text sequence '%s' past the end of the packet",
				  n->orig_name ? n->orig_name : "");
	if (__builtin_expect(out->n == out->cap, 0)) {
		r = vals_grow(s, out);
		if (r < 0)
			return r;
	}
	val = &out->v[out->n++];
	val->p = buf + np / 8;
	val->n = len;
	pos = np + len * 8;
	NEXT();
}
#undef SLOW
#undef NEXT
#undef DISPATCH
}
#pragma GCC diagnostic pop
