/* SPDX-License-Identifier: MIT */
/* Time-ordered merge of stream messages (babeltrace2 muxer rules, §3.8). */
#include <errno.h>
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
	ssize_t pending; /* input whose head was returned last: refill before use */
	/* smallest head among the other inputs when `pending` was chosen: while
	 * the pending input stays below it, no scan is needed */
	struct mux_in *bound;
	int64_t bound_ts;
};

int ctflive_ctf_mux_new(struct ctflive_ctf_mux **ret)
{
	struct ctflive_ctf_mux *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->last_ns = INT64_MIN;
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
	return 0;
}

static int cmp_streams(const struct ctflive_ctf_stream *a, const struct ctflive_ctf_stream *b)
{
	int r;

	if (a->t != b->t) {
		if (a->t->has_uuid != b->t->has_uuid)
			return a->t->has_uuid ? 1 : -1;
		if (a->t->has_uuid) {
			r = memcmp(a->t->uuid, b->t->uuid, 16);
			if (r)
				return r;
		}
		r = strcmp(a->trace_name ? a->trace_name : "", b->trace_name ? b->trace_name : "");
		if (r)
			return r;
	}
	if (a->sc_id != b->sc_id)
		return a->sc_id < b->sc_id ? -1 : 1;
	if (a->stream_id != b->stream_id)
		return a->stream_id < b->stream_id ? -1 : 1;
	return 0;
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
						   struct ctflive_ctf_msg *ret,
						   struct ctflive_ctf_stream **ret_stream,
						   struct ctflive_ctf_diag *reterr);

int ctflive_ctf_mux_next(struct ctflive_ctf_mux *m, struct ctflive_ctf_msg *ret,
			 struct ctflive_ctf_stream **ret_stream, struct ctflive_ctf_diag *reterr)
{
	/* Hot path: refill the stream returned last, decoding straight into
	 * *ret; while it stays before every other stream's head (`bound`, the
	 * best of the others when it was chosen), no scan and no copy. */
	if (m->pending >= 0) {
		struct mux_in *in = &m->in[m->pending];
		int r = ctflive_ctf_stream_next(in->s, ret, reterr);

		if (r == 0 && ret->has_time &&
		    (!m->bound || ret->ns < m->bound_ts ||
		     (ret->ns == m->bound_ts && cmp_streams(in->s, m->bound->s) < 0))) {
			*ret_stream = in->s;
			m->last_ns = ret->ns;
			return 0;
		}
		if (r < 0) {
			*ret_stream = in->s;
			return r;
		}
		in->has_head = false;
		if (r == CTFLIVE_CTF_END) {
			in->ended = true;
		} else {
			in->head = *ret;
			in->has_head = true;
		}
		m->pending = -1;
	}
	return mux_next_slow(m, ret, ret_stream, reterr);
}

static int mux_next_slow(struct ctflive_ctf_mux *m, struct ctflive_ctf_msg *ret,
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
		ts = in->head.has_time ? in->head.ns : m->last_ns;
		if (!best || ts < best_ts || (ts == best_ts && cmp_streams(in->s, best->s) < 0)) {
			second = best;
			second_ts = best_ts;
			best = in;
			best_ts = ts;
		} else if (!second || ts < second_ts ||
			   (ts == second_ts && cmp_streams(in->s, second->s) < 0)) {
			second = in;
			second_ts = ts;
		}
	}
	if (!best)
		return CTFLIVE_CTF_END;
	m->bound = second;
	/* a waiting head without time moves with the last time: always rescan */
	m->bound_ts = untimed > !best->head.has_time ? INT64_MIN : second_ts;
	*ret = best->head;
	*ret_stream = best->s;
	m->last_ns = best_ts;
	m->pending = best - m->in;
	return 0;
}
