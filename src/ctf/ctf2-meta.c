/* SPDX-License-Identifier: MIT */
/*
 * CTF 2 metadata front end (CTF2-SPEC-2.0): the metadata stream is an
 * RFC 7464 JSON text sequence (each fragment starts with 0x1E); every
 * fragment is parsed with json-c and compiled into the same trace model
 * the TSDL front end builds (struct cl_type -> cl_compile_scope), so
 * decoding, muxing and printing are shared.
 *
 * This file: the text sequence and the fragments (preamble, trace class,
 * clock class, data stream class, event record class, field class alias);
 * field classes are built by ctf2-fields.c.
 *
 * Fragments are applied as soon as they are complete (followed by the next
 * 0x1E, or with balanced braces and brackets outside strings:
 * cl_metadata_text_complete_len()), so metadata may arrive cut anywhere.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctf2.h"
#include "macro.h"
#include "metadata-text.h"

void cl_ctf2_release(struct ctflive_ctf_trace *t)
{
	for (struct cl_ctf2_alias *a = t->ctf2_aliases; a; a = a->next)
		json_object_put(a->fc);
	t->ctf2_aliases = NULL;
}

static int do_preamble(struct c2 *c, json_object *frag)
{
	struct ctflive_ctf_trace *t = c->s.t;
	uint64_t version = 0;
	json_object *u = cl_c2_member(frag, "uuid");

	if (t->ctf2_preamble)
		return cl_c2_err(c, -EBADMSG, "duplicate preamble");
	TRY(cl_c2_get_u64(c, frag, "version", true, &version));
	if (version != 2)
		return cl_c2_err(c, -ENOTSUP, "CTF version %" PRIu64 " not supported", version);
	if (u) {
		if (!json_object_is_type(u, json_type_array) || json_object_array_length(u) != 16)
			return cl_c2_err(c, -EBADMSG, "invalid metadata stream UUID");
		for (size_t i = 0; i < 16; i++) {
			json_object *b = json_object_array_get_idx(u, i);

			if (!json_object_is_type(b, json_type_int) ||
			    json_object_get_int64(b) < 0 || json_object_get_int64(b) > 255)
				return cl_c2_err(c, -EBADMSG, "invalid metadata stream UUID");
			t->uuid[i] = (uint8_t)json_object_get_int64(b);
		}
		t->has_uuid = true;
		snprintf(t->uuid_str, sizeof(t->uuid_str),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 t->uuid[0], t->uuid[1], t->uuid[2], t->uuid[3], t->uuid[4], t->uuid[5],
			 t->uuid[6], t->uuid[7], t->uuid[8], t->uuid[9], t->uuid[10], t->uuid[11],
			 t->uuid[12], t->uuid[13], t->uuid[14], t->uuid[15]);
	}
	t->ctf2_preamble = true;
	t->major = 2;
	t->minor = 0;
	return 0;
}

static int do_trace_class(struct c2 *c, json_object *frag)
{
	struct ctflive_ctf_trace *t = c->s.t;
	struct cl_type *hdr = NULL;
	json_object *env = cl_c2_member(frag, "environment");

	if (t->have_trace)
		return cl_c2_err(c, -EBADMSG,
				 "duplicate trace class, or trace class after a data "
				 "stream class");
	if (env) {
		if (!json_object_is_type(env, json_type_object))
			return cl_c2_err(c, -EBADMSG, "'environment' is not an object");
		json_object_object_foreach(env, k, v)
		{
			struct cl_env *e = cl_arena_alloc(&t->arena, sizeof(*e));

			if (!e || !(e->key = cl_arena_strdup(&t->arena, k)))
				return -ENOMEM;
			if (json_object_is_type(v, json_type_string)) {
				e->sval = cl_arena_strdup(&t->arena, json_object_get_string(v));
				if (!e->sval)
					return -ENOMEM;
			} else if (json_object_is_type(v, json_type_int)) {
				e->is_int = true;
				errno = 0;
				e->ival = json_object_get_int64(v);
				if (errno)
					return cl_c2_err(c, -EBADMSG,
							 "environment entry '%s' out of range", k);
			} else {
				return cl_c2_err(c, -EBADMSG, "invalid environment entry '%s'", k);
			}
			cl_meta_env_add(t, e);
		}
	}
	TRY(cl_c2_get_str(c, frag, "uid", false, &t->ctf2_uid));
	TRY(cl_c2_build_scope(c, frag, "packet-header-field-class", SC_PKT_HDR, &hdr));
	t->have_trace = true;
	t->have_bo = true;
	t->bo = CL_BO_LE;
	if (hdr) {
		struct cctx cc = { .s = &c->s };

		TRY(cl_compile_scope(&cc, SC_PKT_HDR, hdr, &t->pkt_hdr));
	}
	return 0;
}

static int do_clock_class(struct c2 *c, json_object *frag)
{
	struct ctflive_ctf_trace *t = c->s.t;
	struct cl_clock *k = cl_arena_alloc(&t->arena, sizeof(*k));
	json_object *off = cl_c2_member(frag, "offset-from-origin"),
		    *origin = cl_c2_member(frag, "origin");

	if (!k)
		return -ENOMEM;
	TRY(cl_c2_get_str(c, frag, "id", true, &k->id));
	TRY(cl_c2_get_str(c, frag, "name", false, &k->name));
	if (!k->name)
		k->name = k->id;
	TRY(cl_c2_get_str(c, frag, "description", false, &k->description));
	TRY(cl_c2_get_u64(c, frag, "frequency", true, &k->freq));
	if (!k->freq)
		return cl_c2_err(c, -EBADMSG, "clock frequency 0");
	TRY(cl_c2_get_u64(c, frag, "precision", false, &k->precision));
	if (off) {
		if (!json_object_is_type(off, json_type_object))
			return cl_c2_err(c, -EBADMSG, "invalid 'offset-from-origin'");
		TRY(cl_c2_get_i64(c, off, "seconds", &k->offset_s));
		TRY(cl_c2_get_u64(c, off, "cycles", false, &k->offset));
		if (k->offset_s > INT64_MAX / 1000000000 || k->offset_s < INT64_MIN / 1000000000)
			return cl_c2_err(c, -EBADMSG, "clock offset out of range");
	}
	if (origin && json_object_is_type(origin, json_type_string) &&
	    !strcmp(json_object_get_string(origin), "unix-epoch"))
		k->absolute = true;
	for (struct cl_clock *o = t->clocks; o; o = o->next)
		if (o->id && !strcmp(o->id, k->id))
			return cl_c2_err(c, -EBADMSG, "duplicate clock class '%s'", k->id);
	if (cl_clock_calibrate(k) < 0)
		return cl_c2_err(c, -EBADMSG, "clock offset out of range");
	k->next = t->clocks;
	t->clocks = k;
	t->nclocks++;
	return 0;
}

/* Sets `clk` on every field class of `ty` whose role is a timestamp. */
static void set_clock(struct cl_type *ty, struct cl_clock *clk, int depth)
{
	if (!ty || depth > CL_TSDL_MAX_DEPTH + 8)
		return;
	if (ty->role == CL_M_TIMESTAMP || ty->role == CL_M_TS_BEGIN || ty->role == CL_M_TS_END)
		ty->clock = clk;
	for (uint32_t i = 0; i < ty->nfields; i++)
		set_clock(ty->fields[i].type, clk, depth + 1);
	set_clock(ty->elem, clk, depth + 1);
}

static void implicit_trace(struct ctflive_ctf_trace *t)
{
	if (!t->have_trace) {
		t->have_trace = true;
		t->have_bo = true;
		t->bo = CL_BO_LE;
	}
}

static int do_stream_class(struct c2 *c, json_object *frag)
{
	struct ctflive_ctf_trace *t = c->s.t;
	struct cl_stream_class *sc = cl_arena_alloc(&t->arena, sizeof(*sc));
	struct cl_type *pc, *eh, *ec;
	const char *clk_id = NULL;
	struct cl_clock *clk = NULL;

	if (!sc)
		return -ENOMEM;
	implicit_trace(t);
	TRY(cl_c2_get_u64(c, frag, "id", false, &sc->id));
	TRY(cl_c2_get_str(c, frag, "default-clock-class-id", false, &clk_id));
	if (clk_id) {
		for (clk = t->clocks; clk; clk = clk->next)
			if (clk->id && !strcmp(clk->id, clk_id))
				break;
		if (!clk)
			return cl_c2_err(c, -EBADMSG, "unknown clock class '%s'", clk_id);
	}
	TRY(cl_c2_build_scope(c, frag, "packet-context-field-class", SC_PKT_CTX, &pc));
	TRY(cl_c2_build_scope(c, frag, "event-record-header-field-class", SC_EV_HDR, &eh));
	TRY(cl_c2_build_scope(c, frag, "event-record-common-context-field-class", SC_EV_SCTX, &ec));
	if (clk) {
		set_clock(pc, clk, 0);
		set_clock(eh, clk, 0);
		sc->clock = clk;
	}
	return cl_meta_stream_finish(&c->s, sc, pc, eh, ec, c->fragno, 0);
}

/* A string attribute of an event record class as babeltrace2 2.1 reads it:
 * namespace "babeltrace.org,2020" first, else "lttng.org,2009"; NULL when
 * neither holds a string of that name. */
static const char *user_attr_str(json_object *frag, const char *name)
{
	static const char *const nss[] = { "babeltrace.org,2020", "lttng.org,2009" };
	json_object *a = cl_c2_member(frag, "attributes");

	if (!a || !json_object_is_type(a, json_type_object))
		return NULL;
	for (size_t i = 0; i < CL_ARRAY_SIZE(nss); i++) {
		json_object *ns = cl_c2_member(a, nss[i]), *v;

		if (!ns || !json_object_is_type(ns, json_type_object))
			continue;
		v = cl_c2_member(ns, name);
		if (v && json_object_is_type(v, json_type_string))
			return json_object_get_string(v);
	}
	return NULL;
}

/* The log level attribute, as the CTF 1.8 `loglevel` number; left at -1
 * when absent or unknown. */
static void attr_log_level(json_object *frag, int *ret)
{
	static const char *const levels[] = {
		"emergency",    "alert",      "critical",       "error",         "warning",
		"notice",       "info",       "debug:system",   "debug:program", "debug:process",
		"debug:module", "debug:unit", "debug:function", "debug:line",    "debug",
	};
	const char *v = user_attr_str(frag, "log-level");

	if (!v)
		return;
	for (size_t i = 0; i < CL_ARRAY_SIZE(levels); i++)
		if (!strcmp(v, levels[i]))
			*ret = (int)i;
}

static int do_event_class(struct c2 *c, json_object *frag)
{
	struct ctflive_ctf_trace *t = c->s.t;
	struct cl_event_class *ev = cl_arena_alloc(&t->arena, sizeof(*ev));
	struct cl_type *ctx, *fields;
	const char *emf;

	if (!ev)
		return -ENOMEM;
	ev->loglevel = -1;
	TRY(cl_c2_get_u64(c, frag, "id", false, &ev->id));
	TRY(cl_c2_get_u64(c, frag, "data-stream-class-id", false, &ev->stream_id));
	TRY(cl_c2_get_str(c, frag, "name", false, &ev->name));
	if (!ev->name)
		ev->name = "";
	attr_log_level(frag, &ev->loglevel);
	emf = user_attr_str(frag, "emf-uri");
	if (emf && !(ev->emf_uri = cl_arena_strdup(&t->arena, emf)))
		return -ENOMEM;
	TRY(cl_c2_build_scope(c, frag, "specific-context-field-class", SC_EV_CTX, &ctx));
	TRY(cl_c2_build_scope(c, frag, "payload-field-class", SC_PAYLOAD, &fields));
	if (!t->streams)
		return cl_c2_err(c, -EBADMSG, "event record class before any data stream class");
	/* CTF 2: both ids default to 0 */
	return cl_meta_event_finish(&c->s, ev, true, true, ctx, fields, c->fragno, 0);
}

static int do_alias(struct c2 *c, json_object *frag)
{
	struct ctflive_ctf_trace *t = c->s.t;
	struct cl_ctf2_alias *a = cl_arena_alloc(&t->arena, sizeof(*a));
	struct cl_type *ty;
	json_object *fc = cl_c2_member(frag, "field-class");
	int r;

	if (!a)
		return -ENOMEM;
	TRY(cl_c2_get_str(c, frag, "name", true, &a->name));
	for (struct cl_ctf2_alias *o = t->ctf2_aliases; o; o = o->next)
		if (!strcmp(o->name, a->name))
			return cl_c2_err(c, -EBADMSG, "duplicate field class alias '%s'", a->name);
	/* checked now, so an alias only names earlier aliases: no cycles */
	c->scope = SC_PAYLOAD;
	c->depth = 0;
	c->npath = 0;
	c->in_alias = true;
	r = cl_c2_build_fc(c, fc, &ty);
	c->in_alias = false;
	if (r < 0)
		return r;
	a->fc = json_object_get(fc);
	a->next = t->ctf2_aliases;
	t->ctf2_aliases = a;
	return 0;
}

static int do_fragment(struct c2 *c, json_object *frag)
{
	static const struct {
		const char *type;
		int (*fn)(struct c2 *c, json_object *frag);
	} kinds[] = {
		{ "preamble", do_preamble },
		{ "trace-class", do_trace_class },
		{ "clock-class", do_clock_class },
		{ "data-stream-class", do_stream_class },
		{ "event-record-class", do_event_class },
		{ "field-class-alias", do_alias },
	};
	json_object *ty = cl_c2_member(frag, "type");

	c->frag = "?";
	if (!json_object_is_type(frag, json_type_object) || !ty ||
	    !json_object_is_type(ty, json_type_string))
		return cl_c2_err(c, -EBADMSG, "fragment is not an object with a 'type'");
	c->frag = json_object_get_string(ty);
	for (size_t k = 0; k < CL_ARRAY_SIZE(kinds); k++) {
		if (!strcmp(c->frag, kinds[k].type)) {
			if (k > 0 && !c->s.t->ctf2_preamble)
				return cl_c2_err(c, -EBADMSG, "first fragment is not a preamble");
			TRY(cl_c2_check_extensions(c, frag));
			return kinds[k].fn(c, frag);
		}
	}
	return cl_c2_err(c, -EBADMSG, "unknown fragment type");
}

static int parse_fragment(struct c2 *c, const char *p, size_t n, json_object **ret)
{
	struct json_tokener *tok = json_tokener_new_ex(CTF2_MAX_JSON_DEPTH);
	json_object *o;
	enum json_tokener_error e;

	*ret = NULL;
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, p, (int)n);
	e = json_tokener_get_error(tok);
	if (o && json_tokener_get_parse_end(tok) < n) {
		/* only whitespace may follow the value */
		for (size_t i = json_tokener_get_parse_end(tok); i < n; i++) {
			if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
				json_object_put(o);
				json_tokener_free(tok);
				c->frag = "?";
				return cl_c2_err(c, -EBADMSG, "trailing data after the JSON value");
			}
		}
	}
	if (!o) {
		json_tokener_free(tok);
		c->frag = "?";
		return cl_c2_err(c, -EBADMSG, "invalid JSON: %s",
				 e == json_tokener_continue ? "incomplete value"
							    : json_tokener_error_desc(e));
	}
	json_tokener_free(tok);
	*ret = o;
	return 0;
}

int cl_ctf2_parse_more(struct ctflive_ctf_trace *t, bool final, struct ctflive_ctf_diag *reterr)
{
	struct c2 c = { .s = { .t = t, .err = reterr }, .frag = "?" };
	int r = 0;

	while (t->committed < t->text_len) {
		const char *start = t->text + t->committed, *end = t->text + t->text_len;
		const char *next;
		json_object *o = NULL;
		size_t n;

		c.fragno = t->ctf2_nfrags + 1;
		if (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r') {
			/* the end of a fragment applied when it ended a line */
			t->committed++;
			continue;
		}
		if (*start != 0x1e) {
			c.frag = "?";
			return cl_c2_err(&c, -EBADMSG, "expecting 0x1E at offset %zu",
					 t->committed);
		}
		next = memchr(start + 1, 0x1e, (size_t)(end - start - 1));
		n = (size_t)((next ? next : end) - start - 1);
		/* The last fragment is parsed once its braces balance (the
		 * scanner crash recovery uses): before, it may still grow. */
		if (!next && !final &&
		    cl_metadata_text_complete_len((const uint8_t *)start, n + 1) < n + 1)
			return 0;
		if (n > (size_t)INT32_MAX)
			return cl_c2_err(&c, -E2BIG, "fragment too large");
		r = parse_fragment(&c, start + 1, n, &o);
		if (r < 0)
			return r;
		r = do_fragment(&c, o);
		json_object_put(o);
		if (r < 0)
			return r;
		t->committed += n + 1;
		t->ctf2_nfrags++;
	}
	if (final && !t->have_trace) {
		c.frag = "?";
		return cl_c2_err(&c, -EBADMSG, "no trace class and no data stream class");
	}
	if (final && !t->streams) {
		c.frag = "?";
		return cl_c2_err(&c, -EBADMSG, "no data stream class");
	}
	return 0;
}
