/* SPDX-License-Identifier: MIT */
/*
 * Packet and event decoding (ctf-decoding.md §3).
 *
 * A packet is requested whole from the source once its header and context
 * told its size; events are then decoded from that contiguous view, scope
 * by scope, by fields.c. Values go to per-stream arrays reused for every
 * event, so decoding allocates nothing in the steady state. Also here: the
 * packet framing scan used when trace directories are opened.
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
#include "fields.h"
#include "grow.h"

#define CTF_MAGIC 0xC1FC1FC1u

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
	if (s->nlost >= 65536)
		return -E2BIG;
	if (cl_grow(&s->lost, &s->lost_cap, s->nlost + 1) < 0)
		return -ENOMEM;
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

int ctflive_ctf_trace_clock_ns(const struct ctflive_ctf_trace *t, uint64_t stream_class_id,
			       uint64_t cycles, int64_t *ret_ns)
{
	const struct cl_stream_class *sc = cl_trace_stream_class(t, stream_class_id);

	if (!sc || !sc->clock)
		return -ENOENT;
	*ret_ns = cl_clock_ns(sc->clock, cycles);
	return 0;
}

int ctflive_ctf_stream_clock_ns(const struct ctflive_ctf_stream *s, uint64_t cycles,
				int64_t *ret_ns)
{
	if (!s->sc || !s->sc->clock)
		return -ENOENT;
	*ret_ns = cl_clock_ns(s->sc->clock, cycles);
	return 0;
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
		size_t old = s->regs ? (size_t)s->nregs + 1 : 0, need = (size_t)s->t->nregs + 1;

		if (cl_grow(&s->regs, &s->regs_cap, need) < 0)
			return -ENOMEM;
		memset(s->regs + old, 0, sizeof(*s->regs) * (need - old));
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
	r = cl_dec_scope(s, t->pkt_hdr, CL_V_PHDR, buf, lim);
	if (r < 0)
		return r;
	if (HAS(s, CL_M_MAGIC) && s->mv[CL_M_MAGIC] != CTF_MAGIC)
		return cl_dec_err(s, -EBADMSG, 0,
				  "bad packet magic 0x%08" PRIx64 " (expecting 0x%08x)",
				  s->mv[CL_M_MAGIC], CTF_MAGIC);
	if (HAS(s, CL_M_STREAM_ID)) {
		sc = cl_trace_stream_class(t, s->mv[CL_M_STREAM_ID]);
		if (!sc)
			return cl_dec_err(s, -EBADMSG, 0, "unknown stream class id %" PRIu64,
					  s->mv[CL_M_STREAM_ID]);
	} else {
		sc = t->streams;
		if (!sc)
			return cl_dec_err(s, -EBADMSG, 0, "metadata declares no stream class");
	}
	if (s->sc && s->sc != sc)
		return cl_dec_err(s, -EBADMSG, 0,
				  "stream class changed from %" PRIu64 " to %" PRIu64
				  " within a stream",
				  s->sc->id, sc->id);
	s->sc = sc;
	s->sc_id = sc->id;
	if (HAS(s, CL_M_STREAM_INSTANCE_ID))
		s->instance_id = s->mv[CL_M_STREAM_INSTANCE_ID];
	return cl_dec_scope(s, sc->pkt_ctx, CL_V_PCTX, buf, lim);
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
			return cl_dec_err(s, rr, 0, "cannot read stream data");
		if (rr == -EAGAIN)
			return -EAGAIN;
		if (rr == CTFLIVE_CTF_END && v.len == 0)
			return CTFLIVE_CTF_END;
		if (v.len > UINT64_MAX / 8 / 2)
			return cl_dec_err(s, -E2BIG, 0, "view too large");
		r = ensure_regs(s);
		if (r < 0)
			return r;
		r = dec_packet_head(s, v.data, (uint64_t)v.len * 8);
		if (r == 0)
			break;
		if (r != -EBADMSG || !strstr(s->errdiag.msg, "past the end"))
			return r;
		if (rr == CTFLIVE_CTF_END)
			return cl_dec_err(s, -EMSGSIZE, 0,
					  "stream ends inside a packet header (%zu bytes left)",
					  v.len);
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
			return rr == -EAGAIN ? -EAGAIN
					     : cl_dec_err(s, rr, 0, "cannot read stream data");
		psize = csize = (uint64_t)v.len * 8;
	}
	if (csize > psize)
		return cl_dec_err(s, -EBADMSG, 0,
				  "content size (%" PRIu64
				  " bits) larger than packet size (%" PRIu64 " bits)",
				  csize, psize);
	if (psize % 8)
		return cl_dec_err(s, -EBADMSG, 0,
				  "packet size %" PRIu64 " bits is not a whole number of bytes",
				  psize);
	if (csize < s->pos)
		return cl_dec_err(s, -EBADMSG, 0,
				  "content size (%" PRIu64
				  " bits) smaller than the packet header and context",
				  csize);
	if (psize / 8 > SIZE_MAX / 2)
		return cl_dec_err(s, -E2BIG, 0, "packet too large");
	rr = s->src.request(s->src.ctx, (size_t)(psize / 8), &v);
	if (rr == -EAGAIN)
		return -EAGAIN;
	if (rr < 0)
		return cl_dec_err(s, rr, 0, "cannot read stream data");
	if (v.len < psize / 8)
		return cl_dec_err(s, -EMSGSIZE, 0,
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
	} else if (s->sc->has_seq_num && HAS(s, CL_M_PACKET_SEQ_NUM) && s->npackets == 0 &&
		   s->cur_seq > 0 && s->nlost && take_lost(s, UINT64_MAX, s->cur_seq)) {
		/* Packets marked lost before the first one (no gap shows them):
		 * how many came before it, from 0, time range unknown. */
		struct ctflive_ctf_msg m = { .type = CTFLIVE_CTF_MSG_DISCARDED_PACKETS };

		m.count = s->cur_seq;
		m.count_known = true;
		m.lost_in_transit = true;
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
	if (sc->ev_hdr && (r = cl_run_prog(&d, sc->ev_hdr->prog)) != 0) {
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
			return cl_dec_err(s, -EBADMSG, start,
					  "no event id in the event header and %" PRIu64
					  " event classes in stream class %" PRIu64,
					  sc->nevents, sc->id);
	} else {
		id = s->mv[CL_M_EVENT_ID];
		ec = id < sc->nby_id ? sc->by_id[id] : cl_stream_class_event(sc, id);
		if (!ec)
			return cl_dec_err(s, -EBADMSG, start,
					  "no event class with id %" PRIu64
					  " in stream class %" PRIu64,
					  id, sc->id);
	}
	d.out = &s->vals[CL_V_SCTX];
	d.out->n = 0;
	if (sc->ev_ctx && (r = cl_run_prog(&d, sc->ev_ctx->prog)) < 0)
		return r;
	d.out = &s->vals[CL_V_ECTX];
	d.out->n = 0;
	if (ec->ctx && (r = cl_run_prog(&d, ec->ctx->prog)) < 0)
		return r;
	d.out = &s->vals[CL_V_PAY];
	d.out->n = 0;
	if (ec->fields && (r = cl_run_prog(&d, ec->fields->prog)) < 0)
		return r;
	s->ev.ec = ec;
done:
	if (__builtin_expect(d.pos == start, 0))
		return cl_dec_err(s, -EBADMSG, start, "invalid empty event record");
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
			r = cl_dec_err(s, -EBADMSG, s->pos,
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
			r = cl_dec_err(&s, -EBADMSG, 0,
				       "content size (%" PRIu64
				       " bits) larger than packet size (%" PRIu64 " bits)",
				       csize, psize);
		} else if (psize % 8) {
			r = cl_dec_err(&s, -EBADMSG, 0,
				       "packet size %" PRIu64
				       " bits is not a whole number of bytes",
				       psize);
		} else if (csize < s.pos) {
			r = cl_dec_err(&s, -EBADMSG, 0,
				       "content size (%" PRIu64
				       " bits) smaller than the packet header and context",
				       csize);
		} else if (psize == 0) {
			r = cl_dec_err(&s, -EBADMSG, 0, "packet size of 0 bits");
		} else if (psize / 8 > left) {
			r = cl_dec_err(&s, -EMSGSIZE, 0,
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
		pi.content_bits = csize;
		pi.discarded = HAS(&s, CL_M_EVENTS_DISCARDED) ? s.mv[CL_M_EVENTS_DISCARDED] : 0;
		r = fn(ctx, &pi);
		if (r > 0)
			break; /* fn has seen enough */
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
