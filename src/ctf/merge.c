/* SPDX-License-Identifier: MIT */
/*
 * The merger of every source (include/ctflive/merge.h): babeltrace2's muxer
 * rules (ctf-decoding.md §3.8), inactivity bounds, the monotonic check and
 * the lost packets after a stream's last packet.
 *
 * Every input has a head slot. An input whose head was returned last is
 * `pending`: the next call decodes its next message into the same slot and,
 * while every other input has a head (or ended), compares it with `bound`,
 * the best of the other heads when it was chosen. Anything else (an input
 * without a head, with a pull function, a tie, an untimed head) goes
 * through the full scan.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctf-internal.h"
#include "ctflive/merge.h"
#include "grow.h"

struct merge_in {
	struct ctflive_merge_input in;
	struct ctflive_ctf_msg head;
	bool has_head, ended;
	enum ctflive_merge_state state; /* of the last question (no head) */
	int64_t idle_ns;
	uint64_t asked;          /* call number of the last question */
	uint64_t lost, lost_end; /* ctflive_merge_lost_after() */
};

struct ctflive_merge {
	struct merge_in *in; /* owned array */
	size_t n, cap;
	int64_t last_ns;       /* sort time of the last message returned */
	int64_t last_event_ns; /* time of the last event returned */
	uint64_t calls;        /* full scans: an input asked in this one is not asked again */
	ptrdiff_t pending;     /* < 0: full scan */
	ptrdiff_t bound;       /* < 0: no other head */
	int64_t bound_ts;
	bool fast; /* bound is usable: the other heads all have a time */
	int err;   /* sticky */
	struct ctflive_ctf_diag errdiag;
	struct ctflive_ctf_stream *errstream; /* the input that failed, if known */
};

int ctflive_merge_new(struct ctflive_merge **ret)
{
	struct ctflive_merge *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->last_ns = INT64_MIN;
	m->last_event_ns = INT64_MIN;
	m->pending = -1;
	m->bound = -1;
	*ret = m;
	return 0;
}

struct ctflive_merge *ctflive_merge_free(struct ctflive_merge *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (m->in[i].in.release)
			m->in[i].in.release(m->in[i].in.ctx);
	free(m->in);
	free(m);
	return NULL;
}

size_t ctflive_merge_input_count(const struct ctflive_merge *m)
{
	return m->n;
}

int ctflive_merge_add(struct ctflive_merge *m, const struct ctflive_merge_input *in)
{
	int r;

	if (!m || !in || (!in->stream && !in->pull))
		return -EINVAL;
	r = cl_grow(&m->in, &m->cap, m->n + 1);
	if (r < 0)
		return r;
	memset(&m->in[m->n], 0, sizeof(m->in[0]));
	m->in[m->n].in = *in;
	m->in[m->n].state = CTFLIVE_MERGE_BLOCKED;
	m->n++;
	m->pending = -1; /* rescan: the new input may come first */
	m->bound = -1;
	return 0;
}

int ctflive_merge_lost_after(struct ctflive_merge *m, const struct ctflive_ctf_stream *s,
			     uint64_t count, uint64_t end_cycles)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->in[i].in.stream == s && s) {
			m->in[i].lost = count;
			m->in[i].lost_end = end_cycles;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- ordering ----------------------------------------------------------- */

/* The trace's UID as babeltrace2 2.1 gives it under MIP 1: the trace class
 * "uid" of CTF 2, the UUID (as text) of CTF 1.8; NULL when it has none. */
static const char *trace_uid(const struct ctflive_ctf_trace *t)
{
	if (t->ctf2_preamble)
		return t->ctf2_uid;
	return t->has_uuid ? t->uuid_str : NULL;
}

/* A non-NULL string before NULL, then strcmp() (babeltrace2 2.1's muxer). */
static int cmp_opt_str(const char *a, const char *b)
{
	if (!a != !b)
		return a ? -1 : 1;
	return a ? strcmp(a, b) : 0;
}

int cl_ctf_stream_order(const struct ctflive_ctf_stream *a, const struct ctflive_ctf_stream *b)
{
	int r;

	/* babeltrace2 2.1.2's muxer (MessageComparator::compare() under MIP 1,
	 * which its command line uses for CTF 1.8 and CTF 2 alike): the traces'
	 * identities (namespace, unset by the CTF sources; name; UID), then the
	 * names again. babeltrace2 2.0.4 (MIP 0) compared UUIDs before names. */
	if (a->t != b->t) {
		r = cmp_opt_str(a->trace_name, b->trace_name);
		if (r)
			return r;
		r = cmp_opt_str(trace_uid(a->t), trace_uid(b->t));
		if (r)
			return r;
	}
	if (a->sc_id != b->sc_id)
		return a->sc_id < b->sc_id ? -1 : 1;
	if (a->stream_id != b->stream_id)
		return a->stream_id < b->stream_id ? -1 : 1;
	return 0;
}

static int type_weight(enum ctflive_ctf_msg_type t)
{
	/* babeltrace2: stream beginning < packet beginning < event < discarded
	 * events < message iterator inactivity < packet end < discarded packets
	 * < stream end */
	switch (t) {
	case CTFLIVE_CTF_MSG_PACKET_BEGIN:
		return 1;
	case CTFLIVE_CTF_MSG_EVENT:
		return 2;
	case CTFLIVE_CTF_MSG_DISCARDED_EVENTS:
		return 3;
	case CTFLIVE_CTF_MSG_PACKET_END:
		return 5;
	case CTFLIVE_CTF_MSG_DISCARDED_PACKETS:
		return 6;
	}
	return 7;
}

int cl_ctf_msg_order(const struct ctflive_ctf_stream *sa, const struct ctflive_ctf_msg *a,
		     const struct ctflive_ctf_stream *sb, const struct ctflive_ctf_msg *b)
{
	const struct cl_event_class *x, *y;
	int r = cl_ctf_stream_order(sa, sb);

	if (r)
		return r;
	/* distinct streams that compare equal (traces without UUID or name):
	 * babeltrace2 goes on with the messages themselves */
	if (a->type != b->type)
		return type_weight(a->type) - type_weight(b->type);
	if (a->type != CTFLIVE_CTF_MSG_EVENT)
		return 0;
	x = a->event->ec;
	y = b->event->ec;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	r = strcmp(x->name, y->name);
	if (r)
		return r;
	if ((x->loglevel >= 0) != (y->loglevel >= 0))
		return x->loglevel >= 0 ? -1 : 1;
	if (x->loglevel != y->loglevel)
		return x->loglevel - y->loglevel;
	if (!x->emf_uri != !y->emf_uri)
		return x->emf_uri ? -1 : 1;
	return x->emf_uri ? strcmp(x->emf_uri, y->emf_uri) : 0;
}

bool cl_ctf_goes_first(const struct ctflive_ctf_stream *s, const struct ctflive_ctf_msg *m,
		       int64_t last_ns, int64_t *ret_key, const struct ctflive_ctf_stream *bs,
		       const struct ctflive_ctf_msg *best, int64_t best_key)
{
	int64_t k = m->has_time ? m->ns : last_ns;

	*ret_key = k;
	return !bs || k < best_key || (k == best_key && cl_ctf_msg_order(s, m, bs, best) < 0);
}

/* ---- inputs ------------------------------------------------------------- */

/* The message for packets lost after the last packet of an ended input. */
static void lost_msg(struct merge_in *in)
{
	const struct ctflive_ctf_stream *s = in->in.stream;
	struct ctflive_ctf_msg *m = &in->head;

	memset(m, 0, sizeof(*m));
	m->type = CTFLIVE_CTF_MSG_DISCARDED_PACKETS;
	m->count = in->lost;
	m->count_known = true;
	m->lost_in_transit = true;
	if (s->sc && s->sc->clock && s->npackets > 0 && in->lost_end != UINT64_MAX) {
		m->has_time = m->has_range = true;
		m->begin_cycles = m->cycles = s->prev_ts_end;
		m->end_cycles = in->lost_end;
		m->begin_ns = m->ns = cl_clock_ns(s->sc->clock, s->prev_ts_end);
		m->end_ns = cl_clock_ns(s->sc->clock, in->lost_end);
	}
	in->lost = 0;
	in->has_head = true;
}

static int fail(struct ctflive_merge *m, int r, const struct ctflive_ctf_diag *d,
		struct ctflive_ctf_diag *reterr)
{
	m->err = r;
	m->pending = -1; /* every later call goes to merge_slow(), which returns it */
	if (d)
		m->errdiag = *d;
	if (reterr)
		*reterr = m->errdiag;
	return r;
}

/*
 * Asks input i for its next message (it has no head). Returns 0 or the
 * input's error. The input array may move (pull may add inputs).
 */
static int ask(struct ctflive_merge *m, size_t i, int64_t need_ns, struct ctflive_ctf_diag *reterr)
{
	struct merge_in *in = &m->in[i];
	struct ctflive_ctf_diag d;
	int64_t idle = 0;
	int r;

	memset(&d, 0, sizeof(d));
	d.offset = UINT64_MAX;
	in->asked = m->calls;
	if (!in->in.pull) {
		r = ctflive_ctf_stream_next(in->in.stream, &in->head, &d);
		r = r == 0                 ? CTFLIVE_MERGE_READY
		    : r == CTFLIVE_CTF_END ? CTFLIVE_MERGE_ENDED
		    : r == -EAGAIN         ? CTFLIVE_MERGE_BLOCKED
					   : r;
	} else {
		struct ctflive_ctf_msg msg;

		r = in->in.pull(in->in.ctx, need_ns, &msg, &idle, &d);
		in = &m->in[i];
		if (r == CTFLIVE_MERGE_READY && in->in.stream)
			in->head = msg;
		else if (r == CTFLIVE_MERGE_READY)
			r = -EINVAL; /* an input without a stream has no message */
	}
	if (r < 0)
		return fail(m, r, &d, reterr);
	in->state = (enum ctflive_merge_state)r;
	switch (r) {
	case CTFLIVE_MERGE_READY:
		in->has_head = true;
		break;
	case CTFLIVE_MERGE_IDLE:
		in->idle_ns = idle;
		break;
	case CTFLIVE_MERGE_ENDED:
		in->ended = true;
		if (in->lost && in->in.stream)
			lost_msg(in);
		break;
	default:
		break;
	}
	return 0;
}

/* Drops ended inputs without a head, keeping the order of the others. */
static void compact(struct ctflive_merge *m)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n; i++) {
		struct merge_in *in = &m->in[i];

		if (in->ended && !in->has_head) {
			if (in->in.release)
				in->in.release(in->in.ctx);
			continue;
		}
		if (k != i)
			m->in[k] = *in;
		k++;
	}
	m->n = k;
}

/* ---- merging ------------------------------------------------------------ */

static __attribute__((noinline)) int merge_slow(struct ctflive_merge *m,
						const struct ctflive_ctf_msg **ret,
						struct ctflive_ctf_stream **ret_stream,
						struct ctflive_ctf_diag *reterr)
{
	ptrdiff_t best = -1, second = -1;
	int64_t best_ts = 0, second_ts = 0;
	size_t untimed = 0;
	bool waiting = false;
	int r;

	if (__builtin_expect(m->err != 0, 0)) {
		/* sticky (fail() made every call come here) */
		if (reterr)
			*reterr = m->errdiag;
		*ret_stream = m->errstream;
		return m->err;
	}
	m->calls++; /* one full scan per ctflive_merge_next() at most */
	m->pending = -1;
	compact(m);
	for (size_t i = 0; i < m->n; i++) {
		struct merge_in *in = &m->in[i];

		if (in->has_head || in->ended || in->asked == m->calls)
			continue;
		r = ask(m, i, INT64_MIN, reterr);
		if (r < 0) {
			*ret_stream = m->in[i].in.stream;
			return r;
		}
	}
	for (int round = 0;; round++) {
		bool again = false;

		/* one pass: the smallest head and the next one (the new bound) */
		best = second = -1;
		untimed = 0;
		for (size_t i = 0; i < m->n; i++) {
			struct merge_in *in = &m->in[i];
			const struct merge_in *b = best >= 0 ? &m->in[best] : NULL;
			const struct merge_in *s2 = second >= 0 ? &m->in[second] : NULL;
			int64_t ts;

			if (!in->has_head)
				continue;
			untimed += !in->head.has_time;
			if (cl_ctf_goes_first(in->in.stream, &in->head, m->last_ns, &ts,
					      b ? b->in.stream : NULL, b ? &b->head : NULL,
					      best_ts)) {
				second = best;
				second_ts = best_ts;
				best = (ptrdiff_t)i;
				best_ts = ts;
			} else if (cl_ctf_goes_first(in->in.stream, &in->head, m->last_ns, &ts,
						     s2 ? s2->in.stream : NULL,
						     s2 ? &s2->head : NULL, second_ts)) {
				second = (ptrdiff_t)i;
				second_ts = ts;
			}
		}
		/* bounds: every input without a head must be idle up to the best */
		waiting = false;
		for (size_t i = 0; i < m->n; i++) {
			struct merge_in *in = &m->in[i];

			if (in->has_head || in->ended)
				continue;
			if (in->state == CTFLIVE_MERGE_IDLE && best >= 0 && in->idle_ns >= best_ts)
				continue;
			waiting = true;
			if (round == 0 && in->in.pull && in->state == CTFLIVE_MERGE_IDLE) {
				/* passed its bound, or nothing is ready at all: ask
				 * again for newer news */
				r = ask(m, i, best >= 0 ? best_ts : INT64_MAX, reterr);
				if (r < 0) {
					*ret_stream = m->in[i].in.stream;
					return r;
				}
				again = true;
			}
		}
		if (!again)
			break;
	}
	if (best < 0) {
		for (size_t i = 0; i < m->n; i++)
			if (!m->in[i].ended)
				return -EAGAIN;
		compact(m); /* every input ended: release them now */
		return CTFLIVE_CTF_END;
	}
	if (waiting)
		return -EAGAIN;
	{
		struct merge_in *b = &m->in[best];

		m->bound = second;
		m->bound_ts = second_ts;
		/* a waiting head without time moves with the last time: always
		 * rescan; so do inputs with a pull function or ended ones */
		m->fast = untimed == (size_t)!b->head.has_time;
		b->has_head = false;
		*ret = &b->head;
		*ret_stream = b->in.stream;
		m->last_ns = best_ts;
		if (!b->in.pull && !b->ended) {
			bool others = true;

			for (size_t i = 0; others && i < m->n; i++)
				others =
					(ptrdiff_t)i == best || m->in[i].has_head || m->in[i].ended;
			if (others)
				m->pending = best;
		}
	}
	return 0;
}

/*
 * The message returned is the head slot of its input: nothing is copied.
 * The next call decodes that input's next message into the same slot, then
 * compares it with `bound`, the best of the other heads.
 */
static inline __attribute__((always_inline)) int merge_next(struct ctflive_merge *m,
							    const struct ctflive_ctf_msg **ret,
							    struct ctflive_ctf_stream **ret_stream,
							    struct ctflive_ctf_diag *reterr)
{
	struct merge_in *p, *b;
	int64_t t;
	int r;

	if (m->pending < 0)
		return merge_slow(m, ret, ret_stream, reterr);
	p = &m->in[m->pending];
	r = ctflive_ctf_stream_next(p->in.stream, &p->head, reterr);
	if (__builtin_expect(r != 0, 0)) {
		if (r == CTFLIVE_CTF_END) {
			p->ended = true;
			p->state = CTFLIVE_MERGE_ENDED;
			if (p->lost)
				lost_msg(p);
		} else if (r == -EAGAIN) {
			p->state = CTFLIVE_MERGE_BLOCKED;
			p->asked = m->calls + 1; /* asked in the scan that follows */
		} else {
			*ret_stream = p->in.stream;
			return fail(m, r, reterr, NULL);
		}
		return merge_slow(m, ret, ret_stream, reterr);
	}
	t = p->head.ns;
	if (m->bound < 0 || __builtin_expect(p->head.has_time && m->fast && t < m->bound_ts, 1)) {
		/* still first (or the only input left) */
		*ret = &p->head;
		*ret_stream = p->in.stream;
		if (p->head.has_time)
			m->last_ns = t;
		return 0;
	}
	p->has_head = true;
	b = &m->in[m->bound];
	/* equal times need the stream tie-break: leave them to the scan */
	if (__builtin_expect(!p->head.has_time || !m->fast || t == m->bound_ts || m->n != 2 ||
				     b->in.pull || b->ended,
			     0))
		return merge_slow(m, ret, ret_stream, reterr);
	/* two inputs and the other one comes first: it is next, this one
	 * becomes the bound */
	m->last_ns = m->bound_ts;
	m->bound = m->pending;
	m->bound_ts = t;
	m->pending = b - m->in;
	b->has_head = false;
	*ret = &b->head;
	*ret_stream = b->in.stream;
	return 0;
}

/*
 * An event earlier than one already returned means corrupt times (a stream
 * whose clock jumped ahead, then back at the next packet's
 * timestamp_begin) or a wrong idle bound: babeltrace2's muxer and its
 * lttng-live source stop with an error there too, rather than print time
 * going backwards.
 */
static __attribute__((noinline)) int older_event(struct ctflive_merge *m,
						 const struct ctflive_ctf_msg *msg,
						 struct ctflive_ctf_stream *s,
						 struct ctflive_ctf_diag *reterr)
{
	struct ctflive_ctf_diag d;

	memset(&d, 0, sizeof(d));
	d.offset = UINT64_MAX;
	snprintf(d.msg, sizeof(d.msg),
		 "event time %" PRId64 " ns is earlier than the previous event's "
		 "(%" PRId64 " ns): corrupt timestamps",
		 msg->ns, m->last_event_ns);
	m->pending = -1;
	m->errstream = s;
	return fail(m, -EBADMSG, &d, reterr);
}

int ctflive_merge_next(struct ctflive_merge *m, const struct ctflive_ctf_msg **ret,
		       struct ctflive_ctf_stream **ret_stream, struct ctflive_ctf_diag *reterr)
{
	int r;

	r = merge_next(m, ret, ret_stream, reterr);
	if (__builtin_expect(r != 0, 0)) {
		if (r < 0 && r != -EAGAIN)
			m->errstream = *ret_stream;
		return r;
	}
	if ((*ret)->type != CTFLIVE_CTF_MSG_EVENT || !(*ret)->has_time)
		return 0;
	if (__builtin_expect((*ret)->ns < m->last_event_ns, 0))
		return older_event(m, *ret, *ret_stream, reterr);
	m->last_event_ns = (*ret)->ns;
	return 0;
}

int ctflive_merge_error(const struct ctflive_merge *m, struct ctflive_ctf_stream **ret_stream,
			struct ctflive_ctf_diag *ret_diag)
{
	if (!m->err)
		return 0;
	if (ret_stream)
		*ret_stream = m->errstream;
	if (ret_diag)
		*ret_diag = m->errdiag;
	return m->err;
}
