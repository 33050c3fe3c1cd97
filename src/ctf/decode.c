/* SPDX-License-Identifier: MIT */
/*
 * Packet and event decoding (ctf-decoding.md §3).
 *
 * A packet is requested whole from the source once its header and context
 * told its size; events are then decoded from that contiguous view by
 * walking the compiled decode trees. Values go to per-stream arrays reused
 * for every event (one slot per scalar, variant, array or sequence, in
 * pre-order), so decoding allocates nothing in the steady state.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bits.h"
#include "ctf-internal.h"

#define CTF_MAGIC 0xC1FC1FC1u

struct dctx {
	const uint8_t *buf;
	uint64_t lim; /* bits available */
	uint64_t pos; /* bits from packet start */
	struct ctflive_ctf_stream *s;
	struct cl_vals *out;
	int last_bo;
};

/* Error with position: returned as -EBADMSG (or given code). */
static int derr(struct ctflive_ctf_stream *s, int code, uint64_t bitpos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int derr(struct ctflive_ctf_stream *s, int code, uint64_t bitpos, const char *fmt, ...)
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
	size_t nc = v->cap ? v->cap * 2 : 64;
	struct cl_val *n;

	if (nc > CL_MAX_VALUES)
		return derr(s, -E2BIG, 0, "more than %u values in one scope", CL_MAX_VALUES);
	n = realloc(v->v, nc * sizeof(*n));
	if (!n)
		return -ENOMEM;
	v->v = n;
	v->cap = nc;
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
		return derr(s, -EBADMSG, d->pos,
			    "%u-bit field '%s' goes past the end of the packet", n->size,
			    n->orig_name ? n->orig_name : "");
	if ((d->pos % 8 || n->size % 8) && d->last_bo && d->last_bo != n->bo && d->pos % 8)
		return derr(s, -EBADMSG, d->pos,
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
	if (n->reg)
		s->regs[n->reg] = v;
	if (n->meaning) {
		s->mv[n->meaning] = v;
		s->mset |= 1u << n->meaning;
	}
	if (n->flags & CL_N_CLOCK)
		s->clock = cl_clock_update(s->clock, v, n->size);
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
		if (n->reg)
			s->regs[n->reg] = v;
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
			return derr(s, -EBADMSG, d->pos,
				    "alignment goes past the end of the packet");
		d->pos = np;
	}
	switch (n->kind) {
	case CL_K_INT:
	case CL_K_ENUM:
		return dec_int(d, n);
	case CL_K_FLOAT: {
		uint64_t v;

		if (n->size > d->lim - d->pos)
			return derr(s, -EBADMSG, d->pos, "float field past the end of the packet");
		v = cl_read_bits(d->buf, d->pos, n->size, n->bo);
		d->pos += n->size;
		d->last_bo = n->bo;
		val = push(d, &r);
		if (!val)
			return r;
		if (n->size == 32) {
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

		z = memchr(p, 0, avail);
		if (!z)
			return derr(s, -EBADMSG, d->pos, "unterminated string '%s'",
				    n->orig_name ? n->orig_name : "");
		val = push(d, &r);
		if (!val)
			return r;
		val->p = p;
		val->n = (uint64_t)(z - p);
		d->pos += (val->n + 1) * 8;
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
			return derr(s, -EBADMSG, d->pos,
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
				return derr(s, -EBADMSG, d->pos,
					    "text array '%s' past the end of the packet",
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
			return derr(s, -E2BIG, d->pos,
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
	return derr(s, -EBADMSG, d->pos, "invalid node");
}

static int dec_scope(struct ctflive_ctf_stream *s, const struct cl_node *n, int which,
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

/* ---- stream ----------------------------------------------------------- */

int ctflive_ctf_stream_new(struct ctflive_ctf_trace *t, const struct ctflive_ctf_source *src,
			   struct ctflive_ctf_stream **ret)
{
	struct ctflive_ctf_stream *s;

	if (!t || !src || !src->request || !src->consume)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->t = t;
	s->src = *src;
	s->instance_id = UINT64_MAX;
	s->ev.s = s;
	*ret = s;
	return 0;
}

struct ctflive_ctf_stream *ctflive_ctf_stream_free(struct ctflive_ctf_stream *s)
{
	if (!s)
		return NULL;
	for (int i = 0; i < CL_V_COUNT; i++)
		free(s->vals[i].v);
	free(s->regs);
	free(s->pc_text);
	free(s->jid_text);
	free(s->lost);
	free(s);
	return NULL;
}

void ctflive_ctf_stream_set_labels(struct ctflive_ctf_stream *s, const char *trace_name,
				   const char *stream_name, uint64_t stream_id)
{
	s->trace_name = trace_name;
	s->stream_name = stream_name;
	s->stream_id = stream_id;
}

void ctflive_ctf_stream_set_trace_path(struct ctflive_ctf_stream *s, const char *path)
{
	s->trace_path = path;
}

int ctflive_ctf_stream_mark_lost(struct ctflive_ctf_stream *s, uint64_t packet_seq_num)
{
	if (s->nlost == s->lost_cap) {
		size_t nc = s->lost_cap ? s->lost_cap * 2 : 16;
		uint64_t *n;

		if (nc > 65536)
			return -E2BIG;
		n = realloc(s->lost, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->lost = n;
		s->lost_cap = nc;
	}
	s->lost[s->nlost++] = packet_seq_num;
	return 0;
}

/* True if a packet marked lost lies strictly between a and b; drops those marks. */
static bool take_lost(struct ctflive_ctf_stream *s, uint64_t a, uint64_t b)
{
	bool any = false;

	for (size_t i = 0; i < s->nlost;) {
		if (s->lost[i] - a - 1 < b - a - 1) {
			s->lost[i] = s->lost[--s->nlost];
			any = true;
		} else {
			i++;
		}
	}
	return any;
}

const char *ctflive_ctf_stream_name(const struct ctflive_ctf_stream *s)
{
	return s->stream_name;
}

uint64_t ctflive_ctf_stream_class_id(const struct ctflive_ctf_stream *s)
{
	return s->sc_id;
}

uint64_t ctflive_ctf_stream_instance_id(const struct ctflive_ctf_stream *s)
{
	return s->instance_id;
}

const char *ctflive_ctf_event_name(const struct ctflive_ctf_event *e)
{
	return e->ec->name;
}

uint64_t ctflive_ctf_event_class_id(const struct ctflive_ctf_event *e)
{
	return e->ec->id;
}

const struct ctflive_ctf_stream *ctflive_ctf_event_stream(const struct ctflive_ctf_event *e)
{
	return e->s;
}

const struct ctflive_ctf_trace *ctflive_ctf_stream_trace(const struct ctflive_ctf_stream *s)
{
	return s->t;
}

static int ensure_regs(struct ctflive_ctf_stream *s)
{
	if (s->t->nregs > s->nregs || !s->regs) {
		uint64_t *n = realloc(s->regs, sizeof(*n) * ((size_t)s->t->nregs + 1));

		if (!n)
			return -ENOMEM;
		memset(n + (s->regs ? s->nregs + 1 : 0), 0,
		       sizeof(*n) * ((size_t)s->t->nregs + 1 - (s->regs ? s->nregs + 1 : 0)));
		s->regs = n;
		s->nregs = s->t->nregs;
	}
	return 0;
}

#define HAS(s, m) ((s)->mset & (1u << (m)))

/*
 * Decodes the packet header and context from `view` (lim bits). Returns 0,
 * -EMSGSIZE when the view is too short for them, or another error.
 */
static int dec_packet_head(struct ctflive_ctf_stream *s, const uint8_t *buf, uint64_t lim)
{
	struct ctflive_ctf_trace *t = s->t;
	struct cl_stream_class *sc;
	int r;

	s->pos = 0;
	s->mset = 0;
	r = dec_scope(s, t->pkt_hdr, CL_V_PHDR, buf, lim);
	if (r < 0)
		return r;
	if (HAS(s, CL_M_MAGIC) && s->mv[CL_M_MAGIC] != CTF_MAGIC)
		return derr(s, -EBADMSG, 0, "bad packet magic 0x%08" PRIx64 " (expecting 0x%08x)",
			    s->mv[CL_M_MAGIC], CTF_MAGIC);
	if (HAS(s, CL_M_STREAM_ID)) {
		sc = cl_trace_stream_class(t, s->mv[CL_M_STREAM_ID]);
		if (!sc)
			return derr(s, -EBADMSG, 0, "unknown stream class id %" PRIu64,
				    s->mv[CL_M_STREAM_ID]);
	} else {
		sc = t->streams;
		if (!sc)
			return derr(s, -EBADMSG, 0, "metadata declares no stream class");
	}
	if (s->sc && s->sc != sc)
		return derr(s, -EBADMSG, 0,
			    "stream class changed from %" PRIu64 " to %" PRIu64 " within a stream",
			    s->sc->id, sc->id);
	s->sc = sc;
	s->sc_id = sc->id;
	if (HAS(s, CL_M_STREAM_INSTANCE_ID))
		s->instance_id = s->mv[CL_M_STREAM_INSTANCE_ID];
	return dec_scope(s, sc->pkt_ctx, CL_V_PCTX, buf, lim);
}

static void queue_msg(struct ctflive_ctf_stream *s, const struct ctflive_ctf_msg *m)
{
	if (s->qn < (int)(sizeof(s->q) / sizeof(s->q[0])))
		s->q[s->qn++] = *m;
}

static void set_range(struct ctflive_ctf_stream *s, struct ctflive_ctf_msg *m, uint64_t b,
		      uint64_t e)
{
	const struct cl_clock *c = s->sc->clock;

	m->has_range = c && s->sc->has_ts_begin_end;
	if (!m->has_range)
		return;
	m->has_time = true;
	m->begin_cycles = b;
	m->end_cycles = e;
	m->begin_ns = cl_clock_ns(c, b);
	m->end_ns = cl_clock_ns(c, e);
	m->cycles = b;
	m->ns = m->begin_ns;
}

static __attribute__((noinline)) int begin_packet(struct ctflive_ctf_stream *s)
{
	struct ctflive_bytes v = { 0 };
	uint64_t psize, csize;
	int r, rr;

	if (!s->want)
		s->want = 1;
	for (;;) {
		rr = s->src.request(s->src.ctx, s->want, &v);
		if (rr < 0 && rr != -EAGAIN)
			return derr(s, rr, 0, "cannot read stream data");
		if (rr == -EAGAIN)
			return -EAGAIN;
		if (rr == CTFLIVE_CTF_END && v.len == 0)
			return CTFLIVE_CTF_END;
		if (v.len > UINT64_MAX / 8 / 2)
			return derr(s, -E2BIG, 0, "view too large");
		r = ensure_regs(s);
		if (r < 0)
			return r;
		r = dec_packet_head(s, v.data, (uint64_t)v.len * 8);
		if (r == 0)
			break;
		if (r != -EBADMSG || !strstr(s->errdiag.msg, "past the end"))
			return r;
		if (rr == CTFLIVE_CTF_END)
			return derr(s, -EMSGSIZE, 0,
				    "stream ends inside a packet header (%zu bytes left)", v.len);
		s->want = v.len * 2 > s->want * 2 ? v.len * 2 : s->want * 2;
	}
	/* packet sizes (bits, from the packet start) */
	psize = HAS(s, CL_M_PACKET_SIZE) ? s->mv[CL_M_PACKET_SIZE] : 0;
	csize = HAS(s, CL_M_CONTENT_SIZE) ? s->mv[CL_M_CONTENT_SIZE] : 0;
	if (!HAS(s, CL_M_PACKET_SIZE) && HAS(s, CL_M_CONTENT_SIZE))
		psize = csize;
	if (HAS(s, CL_M_PACKET_SIZE) && !HAS(s, CL_M_CONTENT_SIZE))
		csize = psize;
	if (!HAS(s, CL_M_PACKET_SIZE) && !HAS(s, CL_M_CONTENT_SIZE)) {
		/* the packet runs to the end of the stream */
		rr = s->src.request(s->src.ctx, SIZE_MAX, &v);
		if (rr < 0)
			return rr == -EAGAIN ? -EAGAIN : derr(s, rr, 0, "cannot read stream data");
		psize = csize = (uint64_t)v.len * 8;
	}
	if (csize > psize)
		return derr(s, -EBADMSG, 0,
			    "content size (%" PRIu64 " bits) larger than packet size (%" PRIu64
			    " bits)",
			    csize, psize);
	if (psize % 8)
		return derr(s, -EBADMSG, 0,
			    "packet size %" PRIu64 " bits is not a whole number of bytes", psize);
	if (csize < s->pos)
		return derr(s, -EBADMSG, 0,
			    "content size (%" PRIu64
			    " bits) smaller than the packet header and context",
			    csize);
	if (psize / 8 > SIZE_MAX / 2)
		return derr(s, -E2BIG, 0, "packet too large");
	rr = s->src.request(s->src.ctx, (size_t)(psize / 8), &v);
	if (rr == -EAGAIN)
		return -EAGAIN;
	if (rr < 0)
		return derr(s, rr, 0, "cannot read stream data");
	if (v.len < psize / 8)
		return derr(s, -EMSGSIZE, 0,
			    "packet size (%" PRIu64
			    " bytes) larger than the remaining data (%zu bytes)",
			    psize / 8, v.len);
	s->want = 0;
	s->pkt = v.data;
	s->pkt_bytes = (size_t)(psize / 8);
	s->packet_bits = psize;
	s->content_bits = csize;
	s->in_packet = true;
	s->end_sent = false;

	/* packet time range and discarded items (babeltrace2 msg-iter rules) */
	s->cur_ts_begin = HAS(s, CL_M_TS_BEGIN) ? s->clock : 0;
	s->cur_ts_end = HAS(s, CL_M_TS_END) ? s->mv[CL_M_TS_END] : 0;
	s->cur_disc = s->mv[CL_M_EVENTS_DISCARDED];
	s->cur_seq = s->mv[CL_M_PACKET_SEQ_NUM];
	if (s->sc->has_disc_events && HAS(s, CL_M_EVENTS_DISCARDED)) {
		struct ctflive_ctf_msg m = { .type = CTFLIVE_CTF_MSG_DISCARDED_EVENTS };

		if (s->npackets == 0 && s->cur_disc > 0) {
			m.count_known = false;
			set_range(s, &m, s->cur_ts_begin, s->cur_ts_end);
			queue_msg(s, &m);
		} else if (s->npackets > 0 && s->cur_disc != s->prev_disc) {
			m.count = s->cur_disc - s->prev_disc;
			m.count_known = true;
			set_range(s, &m, s->prev_ts_end, s->cur_ts_end);
			queue_msg(s, &m);
		}
	}
	if (s->sc->has_seq_num && HAS(s, CL_M_PACKET_SEQ_NUM) && s->npackets > 0 &&
	    s->cur_seq - s->prev_seq > 1) {
		struct ctflive_ctf_msg m = { .type = CTFLIVE_CTF_MSG_DISCARDED_PACKETS };

		m.count = s->cur_seq - s->prev_seq - 1;
		m.count_known = true;
		m.lost_in_transit = s->nlost && take_lost(s, s->prev_seq, s->cur_seq);
		set_range(s, &m, s->prev_ts_end, s->cur_ts_begin);
		queue_msg(s, &m);
	}
	{
		struct ctflive_ctf_msg m = { .type = CTFLIVE_CTF_MSG_PACKET_BEGIN };

		if (s->sc->clock && HAS(s, CL_M_TS_BEGIN)) {
			m.has_time = true;
			m.cycles = s->cur_ts_begin;
			m.ns = cl_clock_ns(s->sc->clock, m.cycles);
		}
		queue_msg(s, &m);
	}
	s->npackets++;
	s->prev_ts_end = s->cur_ts_end;
	s->prev_disc = s->cur_disc;
	s->prev_seq = s->cur_seq;
	return 0;
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
static int run_prog(struct dctx *d, const struct cl_op *prog)
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
		return derr(s, -EBADMSG, pos, "alignment goes past the end of the packet");
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
		return derr(s, -EBADMSG, pos, "no variant option for tag value %" PRId64 " of '%s'",
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
		SLOW(run_prog(d, op->n->prog_generic));
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
		return derr(s, -EBADMSG, pos, "text sequence '%s' past the end of the packet",
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

static inline __attribute__((always_inline)) int decode_event(struct ctflive_ctf_stream *s,
							      struct ctflive_ctf_msg *ret)
{
	const struct cl_stream_class *sc = s->sc;
	const struct cl_event_class *ec;
	struct dctx d = { .buf = s->pkt, .lim = s->packet_bits, .pos = s->pos, .s = s };
	uint64_t id = 0;
	uint64_t start = s->pos;
	int r;

	/* Prefetch the bytes a few events ahead: when the muxer alternates
	 * between streams, the hardware's per-instruction stride prefetch sees
	 * two interleaved address sequences and gives up. A prefetch cannot
	 * fault, so running past the packet is harmless. */
	__builtin_prefetch((const void *)((uintptr_t)s->pkt + (s->pos >> 3) + 512));
	/* one context for the four scopes: the position stays in a register */
	s->mset &= ~(1u << CL_M_EVENT_ID);
	d.out = &s->vals[CL_V_EHDR];
	d.out->n = 0;
	if (sc->ev_hdr && (r = run_prog(&d, sc->ev_hdr->prog)) != 0) {
		if (r < 0)
			return r;
		/* r == 2: the header program also decoded the payload */
		ec = s->ev.ec;
		goto done;
	}
	if (__builtin_expect(!(s->mset & (1u << CL_M_EVENT_ID)), 0)) {
		/* no id in the event header: the stream class must have exactly
		 * one event class, whatever its id (babeltrace2's msg-iter rule) */
		ec = sc->nevents == 1 ? cl_stream_class_only_event(sc) : NULL;
		if (!ec)
			return derr(s, -EBADMSG, start,
				    "no event id in the event header and %" PRIu64
				    " event classes in stream class %" PRIu64,
				    sc->nevents, sc->id);
	} else {
		id = s->mv[CL_M_EVENT_ID];
		ec = id < sc->nby_id ? sc->by_id[id] : cl_stream_class_event(sc, id);
		if (!ec)
			return derr(s, -EBADMSG, start,
				    "no event class with id %" PRIu64 " in stream class %" PRIu64,
				    id, sc->id);
	}
	d.out = &s->vals[CL_V_SCTX];
	d.out->n = 0;
	if (sc->ev_ctx && (r = run_prog(&d, sc->ev_ctx->prog)) < 0)
		return r;
	d.out = &s->vals[CL_V_ECTX];
	d.out->n = 0;
	if (ec->ctx && (r = run_prog(&d, ec->ctx->prog)) < 0)
		return r;
	d.out = &s->vals[CL_V_PAY];
	d.out->n = 0;
	if (ec->fields && (r = run_prog(&d, ec->fields->prog)) < 0)
		return r;
	s->ev.ec = ec;
done:
	s->pos = d.pos;
	s->ev.cycles = s->clock;
	ret->type = CTFLIVE_CTF_MSG_EVENT;
	ret->event = &s->ev;
	ret->cycles = s->clock;
	if (sc->clock) {
		s->ev.ns = sc->clock->freq == 1000000000u
				   ? (int64_t)((uint64_t)sc->clock->base_ns + s->clock)
				   : cl_clock_ns(sc->clock, s->clock);
		ret->has_time = true;
		ret->ns = s->ev.ns;
	} else {
		ret->has_time = false;
		ret->ns = 0;
	}
	return 0;
}

static __attribute__((noinline)) int stream_next_slow(struct ctflive_ctf_stream *s,
						      struct ctflive_ctf_msg *ret,
						      struct ctflive_ctf_diag *reterr);

static __attribute__((noinline, cold)) int stream_fail(struct ctflive_ctf_stream *s, int r,
						       struct ctflive_ctf_diag *reterr)
{
	s->err = r;
	if (reterr)
		*reterr = s->errdiag;
	return r;
}

int ctflive_ctf_stream_next(struct ctflive_ctf_stream *s, struct ctflive_ctf_msg *ret,
			    struct ctflive_ctf_diag *reterr)
{
	/* hot path: the next event of the current packet */
	if (__builtin_expect(!s->err && s->qi >= s->qn && s->in_packet &&
				     s->pos < s->content_bits && s->nregs == s->t->nregs,
			     1)) {
		int r = decode_event(s, ret);

		return __builtin_expect(r == 0, 1) ? 0 : stream_fail(s, r, reterr);
	}
	return stream_next_slow(s, ret, reterr);
}

static int stream_next_slow(struct ctflive_ctf_stream *s, struct ctflive_ctf_msg *ret,
			    struct ctflive_ctf_diag *reterr)
{
	int r;

	if (s->err) {
		if (reterr)
			*reterr = s->errdiag;
		return s->err;
	}
	for (;;) {
		if (s->qi < s->qn) {
			*ret = s->q[s->qi++];
			if (s->qi == s->qn)
				s->qi = s->qn = 0;
			return 0;
		}
		if (!s->in_packet) {
			r = begin_packet(s);
			if (r == 0)
				continue;
			if (r == CTFLIVE_CTF_END || r == -EAGAIN)
				return r;
			goto fail;
		}
		if (s->pos < s->content_bits) {
			/* metadata may have grown (live): registers for new fields */
			r = ensure_regs(s);
			if (r < 0)
				goto fail;
			r = decode_event(s, ret);
			if (r < 0)
				goto fail;
			return 0;
		}
		if (s->pos > s->content_bits) {
			r = derr(s, -EBADMSG, s->pos,
				 "event ends past the packet content (%" PRIu64 " > %" PRIu64
				 " bits)",
				 s->pos, s->content_bits);
			goto fail;
		}
		if (!s->end_sent) {
			memset(ret, 0, sizeof(*ret));
			ret->type = CTFLIVE_CTF_MSG_PACKET_END;
			if (s->sc->clock && (s->mset & (1u << CL_M_TS_END))) {
				ret->has_time = true;
				ret->cycles = s->cur_ts_end;
				ret->ns = cl_clock_ns(s->sc->clock, ret->cycles);
			}
			s->end_sent = true;
			return 0;
		}
		s->src.consume(s->src.ctx, s->pkt_bytes);
		s->stream_off += s->pkt_bytes;
		s->in_packet = false;
		s->pkt = NULL;
	}
fail:
	s->err = r;
	if (reterr)
		*reterr = s->errdiag;
	return r;
}

/* ---- peeking at a file's first packet ---------------------------------- */

int cl_ctf_scan_packets(struct ctflive_ctf_trace *t, const uint8_t *data, size_t len,
			int (*fn)(void *ctx, const struct cl_packet_info *p), void *ctx,
			struct ctflive_ctf_diag *reterr)
{
	struct ctflive_ctf_stream s;
	size_t off = 0;
	int r;

	memset(&s, 0, sizeof(s));
	s.t = t;
	r = ensure_regs(&s);
	while (r == 0 && off < len) {
		size_t left = len - off;
		uint64_t psize, csize;
		struct cl_packet_info pi = { .offset = off };

		s.stream_off = off;
		r = dec_packet_head(&s, data + off, (uint64_t)left * 8);
		if (r < 0)
			break;
		/* the sizes as begin_packet() takes them */
		psize = HAS(&s, CL_M_PACKET_SIZE) ? s.mv[CL_M_PACKET_SIZE] : 0;
		csize = HAS(&s, CL_M_CONTENT_SIZE) ? s.mv[CL_M_CONTENT_SIZE] : psize;
		if (!HAS(&s, CL_M_PACKET_SIZE))
			psize = HAS(&s, CL_M_CONTENT_SIZE) ? csize : (uint64_t)left * 8;
		if (!HAS(&s, CL_M_PACKET_SIZE) && !HAS(&s, CL_M_CONTENT_SIZE))
			csize = psize;
		if (csize > psize) {
			r = derr(&s, -EBADMSG, 0,
				 "content size (%" PRIu64 " bits) larger than packet size (%" PRIu64
				 " bits)",
				 csize, psize);
		} else if (psize % 8) {
			r = derr(&s, -EBADMSG, 0,
				 "packet size %" PRIu64 " bits is not a whole number of bytes",
				 psize);
		} else if (csize < s.pos) {
			r = derr(&s, -EBADMSG, 0,
				 "content size (%" PRIu64
				 " bits) smaller than the packet header and context",
				 csize);
		} else if (psize == 0) {
			r = derr(&s, -EBADMSG, 0, "packet size of 0 bits");
		} else if (psize / 8 > left) {
			r = derr(&s, -EMSGSIZE, 0,
				 "packet size (%" PRIu64
				 " bytes) larger than the remaining data (%zu bytes)",
				 psize / 8, left);
		}
		if (r < 0)
			break;
		pi.size = (size_t)(psize / 8);
		pi.sc_id = s.sc_id;
		pi.instance_id = HAS(&s, CL_M_STREAM_INSTANCE_ID) ? s.mv[CL_M_STREAM_INSTANCE_ID]
								  : UINT64_MAX;
		pi.has_begin = HAS(&s, CL_M_TS_BEGIN) && s.sc->clock;
		pi.begin = HAS(&s, CL_M_TS_BEGIN) ? s.clock : 0;
		pi.begin_ns = pi.has_begin ? cl_clock_ns(s.sc->clock, s.clock) : INT64_MIN;
		pi.end = HAS(&s, CL_M_TS_END) ? s.mv[CL_M_TS_END] : 0;
		pi.seq = HAS(&s, CL_M_PACKET_SEQ_NUM) ? s.mv[CL_M_PACKET_SEQ_NUM] : UINT64_MAX;
		r = fn(ctx, &pi);
		off += pi.size;
	}
	if (r < 0 && reterr)
		*reterr = s.errdiag;
	for (int i = 0; i < CL_V_COUNT; i++)
		free(s.vals[i].v);
	free(s.regs);
	return r < 0 ? r : 0;
}

int ctflive_ctf_peek_first_packet(struct ctflive_ctf_trace *t, struct ctflive_bytes data,
				  uint64_t *ret_stream_class_id, uint64_t *ret_instance_id,
				  bool *ret_has_begin, int64_t *ret_begin_ns)
{
	struct ctflive_ctf_stream s;
	int r;

	memset(&s, 0, sizeof(s));
	s.t = t;
	r = ensure_regs(&s);
	if (r < 0)
		return r;
	r = dec_packet_head(&s, data.data, (uint64_t)data.len * 8);
	if (r == 0) {
		*ret_stream_class_id = s.sc_id;
		*ret_instance_id = (s.mset & (1u << CL_M_STREAM_INSTANCE_ID))
					   ? s.mv[CL_M_STREAM_INSTANCE_ID]
					   : UINT64_MAX;
		*ret_has_begin = (s.mset & (1u << CL_M_TS_BEGIN)) && s.sc->clock;
		*ret_begin_ns = *ret_has_begin ? cl_clock_ns(s.sc->clock, s.clock) : INT64_MIN;
	}
	for (int i = 0; i < CL_V_COUNT; i++)
		free(s.vals[i].v);
	free(s.regs);
	return r;
}
