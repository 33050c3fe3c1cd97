/* SPDX-License-Identifier: MIT */
/*
 * Semantic pass: TSDL AST -> trace model, and compilation of each dynamic
 * scope into a decode tree (`struct cl_node`).
 *
 * Rules follow babeltrace2 2.0.4 (ctf-decoding.md §2.4, §4): blocks of one
 * batch are applied in the order trace byte_order, env, clocks, root type
 * declarations, trace, streams, events; special fields are recognised by
 * name; timestamps without `map` are mapped to the only clock; sequence
 * lengths and variant tags are resolved once, here, to value registers.
 *
 * This file holds diagnostics, clock math, the top-level blocks (trace, env,
 * clock, stream, event) and the driver, cl_meta_process(); types and symbol
 * scopes are built in meta-types.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "macro.h"
#include "meta.h"

/* ---- diagnostics ------------------------------------------------------- */

void cl_diag_set(struct ctflive_ctf_diag *d, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	d->line = line;
	d->col = col;
	d->offset = UINT64_MAX;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
}

int cl_diag_add(struct cl_diag_list *l, int line, int col, const char *fmt, ...)
{
	va_list ap;
	struct ctflive_ctf_diag *d;

	if (l->n >= 4096)
		return 0; /* enough warnings */
	if (cl_grow(&l->items, &l->cap, l->n + 1) < 0)
		return -ENOMEM;
	d = &l->items[l->n++];
	d->line = line;
	d->col = col;
	d->offset = UINT64_MAX;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	return 0;
}

/* ---- clock math ------------------------------------------------------- */

/* babeltrace2's cycles -> ns conversion: exact at 1 GHz, else in double. */
static uint64_t cycles_to_ns(uint64_t freq, uint64_t cycles)
{
	double ns;

	if (freq == 1000000000u)
		return cycles;
	ns = (1e9 * (double)cycles) / (double)freq;
	if (!(ns < 18446744073709551616.0))
		return UINT64_MAX;
	return (uint64_t)ns;
}

int64_t cl_clock_ns(const struct cl_clock *c, uint64_t cycles)
{
	/* wraps instead of overflowing (babeltrace2 reports an error there) */
	return (int64_t)((uint64_t)c->base_ns + cycles_to_ns(c->freq, cycles));
}

int cl_clock_calibrate(struct cl_clock *c)
{
	int64_t base;

	if (c->offset >= c->freq) {
		uint64_t extra = c->offset / c->freq;

		if (extra > (uint64_t)INT64_MAX ||
		    __builtin_add_overflow(c->offset_s, (int64_t)extra, &c->offset_s))
			return -ERANGE;
		c->offset %= c->freq;
	}
	if (__builtin_mul_overflow(c->offset_s, (int64_t)1000000000, &base) ||
	    __builtin_add_overflow(base, (int64_t)cycles_to_ns(c->freq, c->offset), &base))
		return -ERANGE;
	c->base_ns = base;
	return 0;
}

/* ---- blocks ----------------------------------------------------------- */

static int block_type(struct sema *s, const struct ast_entry *e, struct cl_type **ret)
{
	return cl_meta_build_type(s, e->type, ret);
}

static int parse_uuid(const char *str, uint8_t out[16])
{
	size_t k = 0;

	if (strlen(str) != 36)
		return -1;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (str[i] != '-')
				return -1;
			continue;
		}
		char ch = str[i];
		int v = (ch >= '0' && ch <= '9')   ? ch - '0'
			: (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
			: (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
						   : -1;
		if (v < 0)
			return -1;
		if (k % 2 == 0)
			out[k / 2] = (uint8_t)(v << 4);
		else
			out[k / 2] |= (uint8_t)v;
		k++;
	}
	return 0;
}

static int do_trace(struct sema *s, const struct ast_top *top)
{
	struct ctflive_ctf_trace *t = s->t;
	bool have_major = false, have_minor = false;
	struct cl_type *hdr = NULL;
	struct sym *saved = s->syms;

	if (t->have_trace)
		return SERR(s, top->line, top->col, "duplicate trace block");
	for (const struct ast_entry *e = top->entries; e; e = e->next) {
		if (e->kind == AE_ATTR && !strcmp(e->key, "major")) {
			TRY(cl_meta_value_u64(s, &e->val, "trace major", &t->major));
			have_major = true;
			if (t->major != 1)
				return SERR(s, e->val.line, e->val.col,
					    "invalid trace major version %" PRIu64 ": expecting 1",
					    t->major);
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "minor")) {
			TRY(cl_meta_value_u64(s, &e->val, "trace minor", &t->minor));
			have_minor = true;
			if (t->minor != 8)
				return SERR(s, e->val.line, e->val.col,
					    "invalid trace minor version %" PRIu64 ": expecting 8",
					    t->minor);
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "uuid")) {
			if (e->val.kind != AV_STRING || parse_uuid(e->val.s, t->uuid) < 0)
				return SERR(s, e->val.line, e->val.col, "invalid trace uuid");
			t->has_uuid = true;
			snprintf(t->uuid_str, sizeof(t->uuid_str), "%s", e->val.s);
			for (char *p = t->uuid_str; *p; p++) {
				if (*p >= 'A' && *p <= 'F')
					*p = (char)(*p - 'A' + 'a');
			}
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "byte_order")) {
			/* applied first, see cl_meta_process */
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "packet.header")) {
			TRY(block_type(s, e, &hdr));
		} else if (e->kind == AE_TYPEALIAS || e->kind == AE_TYPEDEF ||
			   e->kind == AE_TYPEDECL) {
			TRY(cl_meta_body_entry(s, e, NULL));
		} else {
			TRY(WARN(s, e->line, e->col,
				 "unknown attribute '%s' in trace block, ignoring",
				 e->key ? e->key : "?"));
		}
	}
	s->syms = saved;
	if (!have_major)
		return SERR(s, top->line, top->col, "missing 'major' attribute in trace block");
	if (!have_minor)
		return SERR(s, top->line, top->col, "missing 'minor' attribute in trace block");
	if (!t->have_bo)
		return SERR(s, top->line, top->col,
			    "missing 'byte_order' attribute in trace block");
	t->have_trace = true;
	if (hdr) {
		struct cctx c = { .s = s };

		TRY(cl_compile_scope(&c, SC_PKT_HDR, hdr, &t->pkt_hdr));
	}
	return 0;
}

void cl_meta_env_add(struct ctflive_ctf_trace *t, struct cl_env *v)
{
	/* later entries replace earlier ones */
	struct cl_env **pp = &t->env;
	while (*pp && strcmp((*pp)->key, v->key) != 0)
		pp = &(*pp)->next;
	if (*pp) {
		v->next = (*pp)->next;
		*pp = v;
	} else {
		*pp = v;
	}
	if (!strcmp(v->key, "hostname") && !v->is_int)
		t->hostname = v->sval;
	else if (!strcmp(v->key, "procname") && !v->is_int)
		t->procname = v->sval;
	else if (!strcmp(v->key, "domain") && !v->is_int)
		t->domain = v->sval;
	else if (!strcmp(v->key, "vpid") && v->is_int) {
		t->has_vpid = true;
		t->vpid = v->ival;
	} else if (!strcmp(v->key, "tracer_name") && !v->is_int && !strncmp(v->sval, "lttng", 5))
		t->is_lttng = true;
}

static int do_env(struct sema *s, const struct ast_top *top)
{
	for (const struct ast_entry *e = top->entries; e; e = e->next) {
		struct cl_env *v;

		if (e->kind != AE_ATTR) {
			TRY(WARN(s, e->line, e->col, "unexpected entry in env block, ignoring"));
			continue;
		}
		v = cl_arena_alloc(&s->t->arena, sizeof(*v));
		if (!v)
			return -ENOMEM;
		v->key = e->key;
		if (e->val.kind == AV_STRING) {
			v->sval = e->val.s;
		} else if (e->val.kind == AV_INT) {
			v->is_int = true;
			v->ival = e->val.i.neg ? -(int64_t)e->val.i.mag : (int64_t)e->val.i.mag;
		} else {
			TRY(WARN(s, e->line, e->col,
				 "unexpected value for env entry '%s', ignoring", e->key));
			continue;
		}
		cl_meta_env_add(s->t, v);
	}
	return 0;
}

static int do_clock(struct sema *s, const struct ast_top *top)
{
	struct cl_clock *c = cl_arena_alloc(&s->t->arena, sizeof(*c));
	uint64_t v;

	if (!c)
		return -ENOMEM;
	c->freq = 1000000000u;
	for (const struct ast_entry *e = top->entries; e; e = e->next) {
		const struct ast_value *val = &e->val;

		if (e->kind != AE_ATTR) {
			TRY(WARN(s, e->line, e->col, "unexpected entry in clock block, ignoring"));
			continue;
		}
		if (!strcmp(e->key, "name")) {
			if (val->kind != AV_PATH && val->kind != AV_STRING)
				return SERR(s, val->line, val->col, "invalid clock name");
			c->name = val->s;
		} else if (!strcmp(e->key, "uuid")) {
			if (val->kind != AV_STRING)
				return SERR(s, val->line, val->col, "invalid clock uuid");
			c->uuid_str = val->s;
		} else if (!strcmp(e->key, "description")) {
			if (val->kind != AV_STRING)
				return SERR(s, val->line, val->col, "invalid clock description");
			c->description = val->s;
		} else if (!strcmp(e->key, "freq")) {
			TRY(cl_meta_value_u64(s, val, "clock frequency", &v));
			if (v == 0)
				return SERR(s, val->line, val->col, "invalid clock frequency 0");
			c->freq = v;
		} else if (!strcmp(e->key, "precision")) {
			TRY(cl_meta_value_u64(s, val, "clock precision", &c->precision));
		} else if (!strcmp(e->key, "offset_s")) {
			if (val->kind != AV_INT || val->i.mag > (uint64_t)INT64_MAX / 1000000000u)
				return SERR(s, val->line, val->col, "invalid clock offset_s");
			c->offset_s = val->i.neg ? -(int64_t)val->i.mag : (int64_t)val->i.mag;
		} else if (!strcmp(e->key, "offset")) {
			TRY(cl_meta_value_u64(s, val, "clock offset", &c->offset));
		} else if (!strcmp(e->key, "absolute")) {
			TRY(cl_meta_value_bool(s, val, "clock absolute", &c->absolute));
		} else {
			TRY(WARN(s, e->line, e->col,
				 "unknown attribute '%s' in clock block, ignoring", e->key));
		}
	}
	if (!c->name)
		return SERR(s, top->line, top->col, "clock block without a name");
	for (struct cl_clock *o = s->t->clocks; o; o = o->next) {
		if (!strcmp(o->name, c->name))
			return SERR(s, top->line, top->col, "duplicate clock '%s'", c->name);
	}
	if (cl_clock_calibrate(c) < 0)
		return SERR(s, top->line, top->col, "clock offset out of range");
	c->next = s->t->clocks;
	s->t->clocks = c;
	s->t->nclocks++;
	return 0;
}

struct cl_stream_class *cl_trace_stream_class(const struct ctflive_ctf_trace *t, uint64_t id)
{
	for (struct cl_stream_class *sc = t->streams; sc; sc = sc->next) {
		if (sc->id == id)
			return sc;
	}
	return NULL;
}

struct cl_event_class *cl_stream_class_only_event(const struct cl_stream_class *sc)
{
	if (sc->nevents != 1)
		return NULL;
	for (uint64_t i = 0; i < sc->nby_id; i++)
		if (sc->by_id[i])
			return sc->by_id[i];
	return sc->sparse;
}

struct cl_event_class *cl_stream_class_event(const struct cl_stream_class *sc, uint64_t id)
{
	if (id < sc->nby_id)
		return sc->by_id[id];
	for (struct cl_event_class *e = sc->sparse; e; e = e->next_in_list) {
		if (e->id == id)
			return e;
	}
	return NULL;
}

static void fill_roots(struct cctx *c, struct cl_stream_class *sc)
{
	c->roots[SC_PKT_HDR] = c->s->t->pkt_hdr;
	c->roots[SC_PKT_CTX] = sc->pkt_ctx;
	c->roots[SC_EV_HDR] = sc->ev_hdr;
	c->roots[SC_EV_SCTX] = sc->ev_ctx;
	c->sc = sc;
}

static int do_stream(struct sema *s, const struct ast_top *top)
{
	struct cl_stream_class *sc = cl_arena_alloc(&s->t->arena, sizeof(*sc));
	struct cl_type *pc = NULL, *eh = NULL, *ec = NULL;
	struct sym *saved = s->syms;
	bool have_id = false;

	if (!sc)
		return -ENOMEM;
	for (const struct ast_entry *e = top->entries; e; e = e->next) {
		if (e->kind == AE_ATTR && !strcmp(e->key, "id")) {
			TRY(cl_meta_value_u64(s, &e->val, "stream id", &sc->id));
			have_id = true;
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "packet.context")) {
			TRY(block_type(s, e, &pc));
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "event.header")) {
			TRY(block_type(s, e, &eh));
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "event.context")) {
			TRY(block_type(s, e, &ec));
		} else if (e->kind == AE_TYPEALIAS || e->kind == AE_TYPEDEF ||
			   e->kind == AE_TYPEDECL) {
			TRY(cl_meta_body_entry(s, e, NULL));
		} else {
			TRY(WARN(s, e->line, e->col,
				 "unknown attribute '%s' in stream block, ignoring",
				 e->key ? e->key : "?"));
		}
	}
	s->syms = saved;
	/* babeltrace2 (visitor-generate-ir.c): an explicit id needs an integer
	 * stream_id in the packet header to select the stream class */
	if (have_id) {
		const struct cl_node *h = s->t->pkt_hdr, *sid = NULL;

		for (uint32_t i = 0; h && h->kind == CL_K_STRUCT && i < h->nkids; i++)
			if (h->kids[i]->orig_name && !strcmp(h->kids[i]->orig_name, "stream_id"))
				sid = h->kids[i];
		if (!sid || (sid->kind != CL_K_INT && sid->kind != CL_K_ENUM))
			return SERR(s, top->line, top->col,
				    "stream class has an 'id' attribute, but the trace's packet "
				    "header has no integer 'stream_id' field");
	}
	return cl_meta_stream_finish(s, sc, pc, eh, ec, top->line, top->col);
}

int cl_meta_stream_finish(struct sema *s, struct cl_stream_class *sc, const struct cl_type *pc,
			  const struct cl_type *eh, const struct cl_type *ec, int line, int col)
{
	struct cctx c = { .s = s };

	if (cl_trace_stream_class(s->t, sc->id))
		return SERR(s, line, col, "duplicate stream class id %" PRIu64, sc->id);
	fill_roots(&c, sc);
	TRY(cl_compile_scope(&c, SC_PKT_CTX, pc, &sc->pkt_ctx));
	sc->pkt_ctx_printed = sc->pkt_ctx && (sc->pkt_ctx->flags & CL_N_PRINT);
	c.roots[SC_PKT_CTX] = sc->pkt_ctx;
	TRY(cl_compile_scope(&c, SC_EV_HDR, eh, &sc->ev_hdr));
	if (sc->ev_hdr)
		TRY(cl_fuse_lttng_header(&c, sc->ev_hdr));
	if (sc->ev_hdr) {
		/* the header program continues into the event's payload program */
		struct cl_op *op = sc->ev_hdr->prog;

		while (op->code != CL_OP_END)
			op++;
		op->code = CL_OP_EVHDR_END;
	}
	c.roots[SC_EV_HDR] = sc->ev_hdr;
	TRY(cl_compile_scope(&c, SC_EV_SCTX, ec, &sc->ev_ctx));
	sc->ev_ctx_printed = sc->ev_ctx && (sc->ev_ctx->flags & CL_N_PRINT);
	if (sc->pkt_ctx) {
		bool b = false, e = false;

		for (uint32_t i = 0; i < sc->pkt_ctx->nkids; i++) {
			switch (sc->pkt_ctx->kids[i]->meaning) {
			case CL_M_EVENTS_DISCARDED:
				sc->has_disc_events = true;
				break;
			case CL_M_PACKET_SEQ_NUM:
				sc->has_seq_num = true;
				break;
			case CL_M_TS_BEGIN:
				b = true;
				break;
			case CL_M_TS_END:
				e = true;
				break;
			default:
				break;
			}
		}
		sc->has_ts_begin_end = b && e;
	}
	/* keep the list sorted by id (stable automatic ordering) */
	struct cl_stream_class **pp = &s->t->streams;
	while (*pp && (*pp)->id < sc->id)
		pp = &(*pp)->next;
	sc->next = *pp;
	*pp = sc;
	return 0;
}

static int add_event(struct sema *s, struct cl_stream_class *sc, struct cl_event_class *ev,
		     int line, int col)
{
	if (cl_stream_class_event(sc, ev->id))
		return SERR(s, line, col, "duplicate event id %" PRIu64 " in stream class %" PRIu64,
			    ev->id, sc->id);
	if (ev->id < CL_MAX_EVENT_IDS) {
		if (ev->id >= sc->nby_id) {
			/* dense: every slot up to the capacity is valid (NULL) */
			size_t cap = (size_t)sc->nby_id;

			if (cl_grow(&sc->by_id, &cap, (size_t)ev->id + 1) < 0)
				return -ENOMEM;
			memset(sc->by_id + sc->nby_id, 0,
			       (cap - (size_t)sc->nby_id) * sizeof(*sc->by_id));
			sc->nby_id = cap;
		}
		sc->by_id[ev->id] = ev;
	} else {
		ev->next_in_list = sc->sparse;
		sc->sparse = ev;
	}
	sc->nevents++;
	return 0;
}

static int do_event(struct sema *s, const struct ast_top *top)
{
	struct cl_event_class *ev = cl_arena_alloc(&s->t->arena, sizeof(*ev));
	struct cl_type *ctx = NULL, *fields = NULL;
	struct sym *saved = s->syms;
	bool have_id = false, have_sid = false;

	if (!ev)
		return -ENOMEM;
	ev->loglevel = -1;
	for (const struct ast_entry *e = top->entries; e; e = e->next) {
		if (e->kind == AE_ATTR && !strcmp(e->key, "name")) {
			if (e->val.kind != AV_STRING && e->val.kind != AV_PATH)
				return SERR(s, e->val.line, e->val.col, "invalid event name");
			ev->name = e->val.s;
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "id")) {
			TRY(cl_meta_value_u64(s, &e->val, "event id", &ev->id));
			have_id = true;
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "stream_id")) {
			TRY(cl_meta_value_u64(s, &e->val, "event stream_id", &ev->stream_id));
			have_sid = true;
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "loglevel")) {
			if (e->val.kind == AV_INT && !e->val.i.neg && e->val.i.mag <= 14)
				ev->loglevel = (int)e->val.i.mag;
			else
				TRY(WARN(s, e->val.line, e->val.col,
					 "unknown log level, ignoring"));
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "model.emf.uri")) {
			if (e->val.kind == AV_STRING)
				ev->emf_uri = e->val.s;
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "context")) {
			TRY(block_type(s, e, &ctx));
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "fields")) {
			TRY(block_type(s, e, &fields));
		} else if (e->kind == AE_TYPEALIAS || e->kind == AE_TYPEDEF ||
			   e->kind == AE_TYPEDECL) {
			TRY(cl_meta_body_entry(s, e, NULL));
		} else {
			TRY(WARN(s, e->line, e->col,
				 "unknown attribute '%s' in event block, ignoring",
				 e->key ? e->key : "?"));
		}
	}
	s->syms = saved;
	if (!ev->name)
		return SERR(s, top->line, top->col, "event block without a name");
	return cl_meta_event_finish(s, ev, have_id, have_sid, ctx, fields, top->line, top->col);
}

int cl_meta_event_finish(struct sema *s, struct cl_event_class *ev, bool have_id, bool have_sid,
			 const struct cl_type *ctx, const struct cl_type *fields, int line, int col)
{
	struct cl_stream_class *sc;
	struct cctx c = { .s = s };

	ev->name_len = strlen(ev->name);
	if (!have_sid) {
		if (!s->t->streams) {
			/* implicit stream class 0 */
			struct cl_stream_class *n = cl_arena_alloc(&s->t->arena, sizeof(*n));

			if (!n)
				return -ENOMEM;
			s->t->streams = n;
		} else if (s->t->streams->next) {
			return SERR(
				s, line, col,
				"event '%s' has no stream_id and there are several stream classes",
				ev->name);
		}
		ev->stream_id = s->t->streams->id;
	}
	sc = cl_trace_stream_class(s->t, ev->stream_id);
	if (!sc)
		return SERR(s, line, col, "event '%s': unknown stream class %" PRIu64, ev->name,
			    ev->stream_id);
	if (!have_id) {
		if (sc->nevents)
			return SERR(s, line, col, "event '%s' has no id", ev->name);
		ev->id = 0;
	}
	fill_roots(&c, sc);
	TRY(cl_compile_scope(&c, SC_EV_CTX, ctx, &ev->ctx));
	c.roots[SC_EV_CTX] = ev->ctx;
	TRY(cl_compile_scope(&c, SC_PAYLOAD, fields, &ev->fields));
	ev->ctx_printed = ev->ctx && (ev->ctx->flags & CL_N_PRINT);
	ev->fields_printed = ev->fields && (ev->fields->flags & CL_N_PRINT);
	/* references from this event may have made stream-level fields printed */
	sc->pkt_ctx_printed = sc->pkt_ctx && (sc->pkt_ctx->flags & CL_N_PRINT);
	sc->ev_ctx_printed = sc->ev_ctx && (sc->ev_ctx->flags & CL_N_PRINT);
	return add_event(s, sc, ev, line, col);
}

/* Applies a batch of top-level declarations in babeltrace's order. */
int cl_meta_process(struct ctflive_ctf_trace *t, struct ast_top *list, bool final,
		    struct ctflive_ctf_diag *reterr)
{
	struct sema s = { .t = t, .syms = t->root_syms, .err = reterr };
	int r = 0;

	(void) final;
	/* 1. trace byte order */
	for (struct ast_top *a = list; a; a = a->next) {
		if (a->kind != TOP_TRACE)
			continue;
		for (struct ast_entry *e = a->entries; e; e = e->next) {
			if (e->kind == AE_ATTR && !strcmp(e->key, "byte_order")) {
				r = cl_meta_value_bo(&s, &e->val, false, &t->bo);
				if (r < 0)
					goto out;
				t->have_bo = true;
			}
		}
	}
	/* 2. env, 3. clocks */
	for (struct ast_top *a = list; a && r >= 0; a = a->next) {
		if (a->kind == TOP_ENV)
			r = do_env(&s, a);
	}
	for (struct ast_top *a = list; a && r >= 0; a = a->next) {
		if (a->kind == TOP_CLOCK)
			r = do_clock(&s, a);
	}
	/* 4. root declarations */
	for (struct ast_top *a = list; a && r >= 0; a = a->next) {
		if (a->kind == TOP_DECL)
			r = cl_meta_body_entry(&s, a->entries, NULL);
		else if (a->kind == TOP_CALLSITE)
			r = WARN(&s, a->line, a->col, "callsite block is not supported, ignoring");
	}
	t->root_syms = s.syms;
	/* 5. trace */
	for (struct ast_top *a = list; a && r >= 0; a = a->next) {
		if (a->kind == TOP_TRACE)
			r = do_trace(&s, a);
	}
	if (r < 0)
		goto out;
	/* streams and events wait for the trace block (byte order, header) */
	for (struct ast_top *a = list; a; a = a->next) {
		if (a->kind == TOP_STREAM || a->kind == TOP_EVENT) {
			struct ast_top *cp = cl_arena_alloc(&t->arena, sizeof(*cp));

			if (!cp) {
				r = -ENOMEM;
				goto out;
			}
			*cp = *a;
			cp->next = NULL;
			*t->pending_tail = cp;
			t->pending_tail = &cp->next;
		}
	}
	if (!t->have_trace)
		goto out;
	/* 6. streams, 7. events */
	for (struct ast_top *a = t->pending; a && r >= 0; a = a->next) {
		if (a->kind == TOP_STREAM)
			r = do_stream(&s, a);
	}
	for (struct ast_top *a = t->pending; a && r >= 0; a = a->next) {
		if (a->kind == TOP_EVENT)
			r = do_event(&s, a);
	}
	t->pending = NULL;
	t->pending_tail = &t->pending;
out:
	t->root_syms = s.syms;
	return r;
}
