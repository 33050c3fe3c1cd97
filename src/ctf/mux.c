/* SPDX-License-Identifier: MIT */
/* Time-ordered merge of stream messages (babeltrace2 muxer rules, §3.8). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctf-internal.h"
#include "ctflive/ctf-fs.h"

struct mux_in {
	struct ctflive_ctf_stream *s;
	struct ctflive_ctf_msg head;
	bool has_head, ended;
};

struct ctflive_ctf_mux {
	struct mux_in *in; /* owned array */
	size_t n, cap;
	int64_t last_ns;
	int64_t last_event_ns; /* time of the last event returned */
	/* input whose head was returned last (has_head false): the next call
	 * decodes its next message into its head slot, then compares it with
	 * `bound`, the best of the other heads when it was chosen */
	ssize_t pending;
	struct mux_in *bound; /* NULL: every other input had ended */
	int64_t bound_ts;
	/* bound is usable: the other heads all have a time */
	bool fast;
};

int ctflive_ctf_mux_new(struct ctflive_ctf_mux **ret)
{
	struct ctflive_ctf_mux *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->last_ns = INT64_MIN;
	m->last_event_ns = INT64_MIN;
	m->pending = -1;
	*ret = m;
	return 0;
}

struct ctflive_ctf_mux *ctflive_ctf_mux_free(struct ctflive_ctf_mux *m)
{
	if (m) {
		free(m->in);
		free(m);
	}
	return NULL;
}

int ctflive_ctf_mux_add(struct ctflive_ctf_mux *m, struct ctflive_ctf_stream *s)
{
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 8;
		struct mux_in *ni = realloc(m->in, nc * sizeof(*ni));

		if (!ni)
			return -ENOMEM;
		m->in = ni;
		m->cap = nc;
	}
	memset(&m->in[m->n], 0, sizeof(m->in[0]));
	m->in[m->n++].s = s;
	m->pending = -1; /* rescan: the new stream may come first */
	return 0;
}

int cl_ctf_stream_order(const struct ctflive_ctf_stream *a, const struct ctflive_ctf_stream *b)
{
	int r;

	/* babeltrace2 2.0.4, common_muxing_compare_messages(): a trace with a
	 * UUID, then a trace with a name, comes before one without */
	if (a->t != b->t) {
		if (a->t->has_uuid != b->t->has_uuid)
			return a->t->has_uuid ? -1 : 1;
		if (a->t->has_uuid) {
			r = memcmp(a->t->uuid, b->t->uuid, 16);
			if (r)
				return r;
		}
		if (!a->trace_name != !b->trace_name)
			return a->trace_name ? -1 : 1;
		r = a->trace_name ? strcmp(a->trace_name, b->trace_name) : 0;
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

static int fill(struct ctflive_ctf_mux *m, struct mux_in *in, struct ctflive_ctf_diag *reterr)
{
	int r;

	if (in->has_head || in->ended)
		return 0;
	r = ctflive_ctf_stream_next(in->s, &in->head, reterr);
	if (r == CTFLIVE_CTF_END) {
		in->ended = true;
		return 0;
	}
	if (r < 0)
		return r;
	in->has_head = true;
	(void)m;
	return 0;
}

static __attribute__((noinline)) int mux_next_slow(struct ctflive_ctf_mux *m,
						   const struct ctflive_ctf_msg **ret,
						   struct ctflive_ctf_stream **ret_stream,
						   struct ctflive_ctf_diag *reterr);

/*
 * The message returned is the head slot of its input: nothing is copied.
 * The next call decodes that input's next message into the same slot, then
 * compares it with `bound`, the best of the other heads.
 */
static inline __attribute__((always_inline)) int mux_next(struct ctflive_ctf_mux *m,
							  const struct ctflive_ctf_msg **ret,
							  struct ctflive_ctf_stream **ret_stream,
							  struct ctflive_ctf_diag *reterr)
{
	struct mux_in *p, *b;
	int64_t t;
	int r;

	if (m->pending < 0)
		return mux_next_slow(m, ret, ret_stream, reterr);
	p = &m->in[m->pending];
	r = ctflive_ctf_stream_next(p->s, &p->head, reterr);
	if (__builtin_expect(r != 0, 0)) {
		if (r < 0) {
			*ret_stream = p->s; /* stays pending: retried next call */
			return r;
		}
		p->ended = true;
		m->pending = -1;
		return mux_next_slow(m, ret, ret_stream, reterr);
	}
	b = m->bound;
	t = p->head.ns;
	if (!b || __builtin_expect(p->head.has_time && m->fast && t < m->bound_ts, 1)) {
		/* still first (or the only stream left) */
		*ret = &p->head;
		*ret_stream = p->s;
		if (p->head.has_time)
			m->last_ns = t;
		return 0;
	}
	p->has_head = true;
	/* equal times need the stream tie-break: leave them to the scan */
	if (__builtin_expect(!p->head.has_time || !m->fast || t == m->bound_ts || m->n != 2, 0)) {
		m->pending = -1;
		return mux_next_slow(m, ret, ret_stream, reterr);
	}
	/* two inputs and the other one comes first: it is next, this one
	 * becomes the bound */
	m->last_ns = m->bound_ts;
	m->bound = p;
	m->bound_ts = t;
	m->pending = b - m->in;
	b->has_head = false;
	*ret = &b->head;
	*ret_stream = b->s;
	return 0;
}

/*
 * An event earlier than one already returned means corrupt times (a stream
 * whose clock jumped ahead, then back at the next packet's
 * timestamp_begin): babeltrace2's muxer stops with an error there too,
 * rather than print time going backwards.
 */
int ctflive_ctf_mux_next(struct ctflive_ctf_mux *m, const struct ctflive_ctf_msg **ret,
			 struct ctflive_ctf_stream **ret_stream, struct ctflive_ctf_diag *reterr)
{
	int r = mux_next(m, ret, ret_stream, reterr);

	if (r != 0 || (*ret)->type != CTFLIVE_CTF_MSG_EVENT || !(*ret)->has_time)
		return r;
	if (__builtin_expect((*ret)->ns < m->last_event_ns, 0)) {
		if (reterr) {
			memset(reterr, 0, sizeof(*reterr));
			reterr->offset = UINT64_MAX;
			snprintf(reterr->msg, sizeof(reterr->msg),
				 "event time %" PRId64 " ns is earlier than the previous event's "
				 "(%" PRId64 " ns): corrupt timestamps",
				 (*ret)->ns, m->last_event_ns);
		}
		return -EBADMSG;
	}
	m->last_event_ns = (*ret)->ns;
	return 0;
}

static int mux_next_slow(struct ctflive_ctf_mux *m, const struct ctflive_ctf_msg **ret,
			 struct ctflive_ctf_stream **ret_stream, struct ctflive_ctf_diag *reterr)
{
	struct mux_in *best = NULL, *second = NULL;
	int64_t best_ts = 0, second_ts = 0;
	size_t untimed = 0;
	int r;

	/* one pass: the smallest head and the next one (the new bound) */
	for (size_t i = 0; i < m->n; i++) {
		struct mux_in *in = &m->in[i];
		int64_t ts;

		if (!in->has_head && !in->ended) {
			r = fill(m, in, reterr);
			if (r < 0) {
				*ret_stream = in->s;
				return r;
			}
		}
		if (!in->has_head)
			continue;
		untimed += !in->head.has_time;
		if (cl_ctf_goes_first(in->s, &in->head, m->last_ns, &ts, best ? best->s : NULL,
				      best ? &best->head : NULL, best_ts)) {
			second = best;
			second_ts = best_ts;
			best = in;
			best_ts = ts;
		} else if (cl_ctf_goes_first(in->s, &in->head, m->last_ns, &ts,
					     second ? second->s : NULL,
					     second ? &second->head : NULL, second_ts)) {
			second = in;
			second_ts = ts;
		}
	}
	if (!best)
		return CTFLIVE_CTF_END;
	m->bound = second;
	m->bound_ts = second_ts;
	/* a waiting head without time moves with the last time: always rescan */
	m->fast = untimed == (size_t)!best->head.has_time;
	best->has_head = false;
	*ret = &best->head;
	*ret_stream = best->s;
	m->last_ns = best_ts;
	m->pending = best - m->in;
	return 0;
}
