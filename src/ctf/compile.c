/* SPDX-License-Identifier: MIT */
/*
 * Compilation of dynamic scopes: declared types -> decode trees
 * (`struct cl_node`: byte order, alignment, printed/special flags, value
 * registers for sequence lengths and variant tags) -> flat decode programs
 * (`struct cl_op`), with babeltrace2's rules for special fields and
 * timestamp mapping (ctf-decoding.md §2.4, §4).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "macro.h"
#include "meta.h"

/* ---- compilation of dynamic scopes ------------------------------------ */

static struct cl_node *find_kid(struct cl_node *n, uint32_t upto, const char *name, size_t len)
{
	if (!n || n->kind != CL_K_STRUCT)
		return NULL;
	for (uint32_t i = 0; i < upto && i < n->nkids; i++) {
		const char *on = n->kids[i]->orig_name;

		if (strlen(on) == len && !memcmp(on, name, len))
			return n->kids[i];
	}
	return NULL;
}

static struct cl_node *walk_path(struct cl_node *n, const char *rest)
{
	while (n && *rest) {
		const char *dot = strchr(rest, '.');
		size_t len = dot ? (size_t)(dot - rest) : strlen(rest);

		n = find_kid(n, UINT32_MAX, rest, len);
		rest = dot ? dot + 1 : rest + len;
	}
	return n;
}

/*
 * A path from the root of the scope being compiled: its structures are still
 * open, so a name may be the member being compiled (the next open structure,
 * when it is that member itself) rather than one already done.
 */
static struct cl_node *walk_open(struct cctx *c, const char *rest)
{
	struct cl_node *n = c->depth > 0 ? c->stack[0].node : NULL;
	int lvl = 0;

	while (n && *rest) {
		const char *dot = strchr(rest, '.');
		size_t len = dot ? (size_t)(dot - rest) : strlen(rest);
		struct cl_node *k = find_kid(n, UINT32_MAX, rest, len);

		if (!k && lvl + 1 < c->depth && n == c->stack[lvl].node && n->type &&
		    n->nkids < n->type->nfields) {
			const struct cl_tfield *f = &n->type->fields[n->nkids];

			if (strlen(f->name) == len && !memcmp(f->name, rest, len) &&
			    c->stack[lvl + 1].node->type == f->type)
				k = c->stack[++lvl].node;
		} else if (k && lvl + 1 < c->depth && k == c->stack[lvl + 1].node) {
			lvl++;
		}
		n = k;
		rest = dot ? dot + 1 : rest + len;
	}
	return n;
}

static struct cl_node *resolve_path(struct cctx *c, const char *path, struct cl_node **ret_root)
{
	*ret_root = NULL;
	static const struct {
		const char *prefix;
		enum scope_id sc;
	} abs[] = {
		{ "trace.packet.header.", SC_PKT_HDR }, { "stream.packet.context.", SC_PKT_CTX },
		{ "stream.event.header.", SC_EV_HDR },  { "stream.event.context.", SC_EV_SCTX },
		{ "event.context.", SC_EV_CTX },        { "event.fields.", SC_PAYLOAD },
	};
	const char *dot = strchr(path, '.');
	size_t len = dot ? (size_t)(dot - path) : strlen(path);

	for (size_t i = 0; i < CL_ARRAY_SIZE(abs); i++) {
		size_t pl = strlen(abs[i].prefix);

		if (!strncmp(path, abs[i].prefix, pl)) {
			if (abs[i].sc == c->scope)
				return walk_open(c, path + pl);
			*ret_root = c->roots[abs[i].sc];
			return walk_path(c->roots[abs[i].sc], path + pl);
		}
	}
	/* relative: enclosing structures, innermost first, fields before */
	for (int d = c->depth - 1; d >= 0; d--) {
		struct cl_node *n = find_kid(c->stack[d].node, c->stack[d].nkids, path, len);

		if (n)
			return dot ? walk_path(n, dot + 1) : n;
	}
	/* then the previous scopes */
	for (int sc = (int)c->scope - 1; sc >= 0; sc--) {
		struct cl_node *n = find_kid(c->roots[sc], UINT32_MAX, path, len);

		*ret_root = c->roots[sc];
		if (n)
			return dot ? walk_path(n, dot + 1) : n;
	}
	return NULL;
}

static int build_prog(struct cctx *c, struct cl_node *root);

static bool scope_printed(enum scope_id sc)
{
	return sc != SC_PKT_HDR && sc != SC_EV_HDR;
}

static int compile(struct cctx *c, const struct cl_type *t, const char *name, struct cl_node **ret);

/* ---- CTF 2 field locations ----------------------------------------------
 *
 * A location (struct cl_floc, absolute) names structure members from the
 * root of its scope. As babeltrace2 2.1.2 (and CTF2-SPEC-2.0) read it:
 * arrays, optionals and variants on the way are crossed without a name; an
 * array or optional only when the requesting field is inside it (its
 * current element), a variant by the option the requesting field is in, or
 * else by all its options (the location then names one field per option,
 * all of the same kind, and the one decoded is used). The field located
 * must be a boolean or an integer decoded before the requesting one.
 */

#define LOC_MAX_TARGETS 1024

struct locwalk {
	struct cctx *c;
	const struct cl_type *t; /* the requesting field class */
	const struct cl_floc *loc;
	struct cl_node **tg;
	uint32_t ntg;
};

static const char *scope_name(unsigned sc)
{
	static const char *const names[] = {
		[SC_PKT_HDR] = "packet header",
		[SC_PKT_CTX] = "packet context",
		[SC_EV_HDR] = "event record header",
		[SC_EV_SCTX] = "event record common context",
		[SC_EV_CTX] = "event record specific context",
		[SC_PAYLOAD] = "event record payload",
	};

	return sc < SC_COUNT ? names[sc] : "?";
}

/* The location as `<scope>: "a", "b"` (names cut to stay short). */
static const char *loc_str(const struct cl_floc *l, char *buf, size_t sz)
{
	size_t k = (size_t)snprintf(buf, sz, "%s:", scope_name(l->origin));

	for (uint32_t i = 0; i < l->n && k < sz; i++)
		k += (size_t)snprintf(buf + k, sz - k, "%s \"%.40s\"", i ? "," : "", l->items[i]);
	return buf;
}

__attribute__((format(printf, 2, 3))) static int loc_err(struct locwalk *w, const char *fmt, ...)
{
	char msg[256], where[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return SERR(w->c->s, w->t->line, w->t->col, "field location %s: %s",
		    loc_str(w->loc, where, sizeof(where)), msg);
}

/* Location items from `i` on, inside the completed field `n`. */
static int loc_walk_done(struct locwalk *w, struct cl_node *n, uint32_t i, int depth)
{
	const struct cl_floc *l = w->loc;

	if (depth > CL_TSDL_MAX_DEPTH * 2)
		return loc_err(w, "nested too deep");
	switch (n->kind) {
	case CL_K_INT:
	case CL_K_ENUM:
		if (i != l->n)
			return loc_err(w, "\"%.40s\" goes past an integer or boolean", l->items[i]);
		if (w->ntg >= LOC_MAX_TARGETS)
			return loc_err(w, "locates more than %u fields", LOC_MAX_TARGETS);
		w->tg[w->ntg++] = n;
		return 0;
	case CL_K_STRUCT:
		if (i == l->n)
			return loc_err(w, "locates a structure");
		for (uint32_t k = 0; k < n->nkids; k++)
			if (n->kids[k]->orig_name && !strcmp(n->kids[k]->orig_name, l->items[i]))
				return loc_walk_done(w, n->kids[k], i + 1, depth + 1);
		return loc_err(w, "no structure member named \"%.40s\"", l->items[i]);
	case CL_K_VARIANT:
		for (uint32_t k = 0; k < n->nkids; k++)
			TRY(loc_walk_done(w, n->kids[k], i, depth + 1));
		return 0;
	case CL_K_ARRAY:
	case CL_K_SEQ:
		if (!(n->flags & CL_N_TEXT))
			return loc_err(w, "goes into an array the requesting field is not in");
		break;
	case CL_K_OPT:
		return loc_err(w, "goes into an optional the requesting field is not in");
	default:
		break;
	}
	return loc_err(w, "locates a field that is neither an integer nor a boolean");
}

/* Location items from `i` on, from open node c->open[lvl] (being compiled:
 * the requesting field is inside its part open[lvl].idx). */
static int loc_walk_open(struct locwalk *w, int lvl, uint32_t i)
{
	const struct cl_floc *l = w->loc;
	struct cctx *c = w->c;
	struct cl_node *n = c->open[lvl].node;
	uint32_t idx = c->open[lvl].idx;
	bool last = lvl + 1 == c->nopen; /* the part being compiled is the requesting field */

	if (n->kind != CL_K_STRUCT)
		/* array or optional element, variant option: no name */
		return last ? 0 : loc_walk_open(w, lvl + 1, i);
	if (i == l->n)
		return loc_err(w, "locates a structure");
	for (uint32_t k = 0; k < idx; k++)
		if (n->kids[k]->orig_name && !strcmp(n->kids[k]->orig_name, l->items[i]))
			return loc_walk_done(w, n->kids[k], i + 1, lvl + 1);
	if (!strcmp(n->type->fields[idx].name, l->items[i]))
		return last ? 0 : loc_walk_open(w, lvl + 1, i + 1);
	for (uint32_t k = idx + 1; k < n->type->nfields; k++)
		if (!strcmp(n->type->fields[k].name, l->items[i]))
			return loc_err(w, "locates a field after the requesting one");
	return loc_err(w, "no structure member named \"%.40s\"", l->items[i]);
}

/* The fields location w->loc names, into w->tg; *ret_root: the root of their
 * scope when it is an earlier one (its program must save them). */
static int loc_resolve(struct locwalk *w, struct cl_node **ret_root)
{
	struct cctx *c = w->c;
	unsigned o = w->loc->origin;

	*ret_root = NULL;
	if (o > (unsigned)c->scope)
		return loc_err(w, "a field of the %s cannot depend on one of the %s",
			       scope_name(c->scope), scope_name(o));
	if (o < (unsigned)c->scope) {
		if (!c->roots[o])
			return loc_err(w, "no %s field class", scope_name(o));
		*ret_root = c->roots[o];
		TRY(loc_walk_done(w, c->roots[o], 0, 0));
	} else {
		if (c->nopen < 1)
			return loc_err(w, "outside any structure");
		TRY(loc_walk_open(w, 0, 0));
	}
	if (!w->ntg)
		return loc_err(w, "locates nothing decoded before the requesting field");
	for (uint32_t k = 1; k < w->ntg; k++)
		if ((w->tg[k]->flags & (CL_N_BOOL | CL_N_SIGNED)) !=
		    (w->tg[0]->flags & (CL_N_BOOL | CL_N_SIGNED)))
			return loc_err(w, "locates fields of different kinds "
					  "(boolean, signed or unsigned integer)");
	return 0;
}

/* want_enum: variant tag (an enumeration; CTF 2: any integer); else a
 * sequence length, or with t->kind CL_K_OPT an optional's selector (a
 * boolean, or any integer when the optional has selector ranges). TSDL
 * names the field by `path`, CTF 2 by t->loc (maybe several fields, one
 * per variant option on the way: they share one value register). */
static int compile_ref(struct cctx *c, struct cl_node *n, const char *path, bool want_enum,
		       const struct cl_type *t)
{
	bool opt = t->kind == CL_K_OPT;
	struct cl_node *root = NULL, *one = NULL;
	struct cl_node **tgs = &one;
	uint32_t ntg = 1, reg = 0;
	bool rebuild = false, multi = false;
	char where[320];
	int r = 0;

	if (t->loc) {
		struct locwalk w = { .c = c, .t = t, .loc = t->loc };

		w.tg = malloc(LOC_MAX_TARGETS * sizeof(*w.tg));
		if (!w.tg)
			return -ENOMEM;
		r = loc_resolve(&w, &root);
		tgs = w.tg;
		ntg = w.ntg;
		path = loc_str(t->loc, where, sizeof(where));
	} else {
		one = resolve_path(c, path, &root);
		if (!one)
			return SERR(c->s, t->line, t->col, "cannot resolve %s '%s'",
				    want_enum ? "variant tag" : "sequence length", path);
	}
	for (uint32_t k = 0; k < ntg && r >= 0; k++) {
		struct cl_node *target = tgs[k];

		if (target->type && target->type->bitmap) {
			r = SERR(c->s, t->line, t->col, "%s '%s' is a bit map",
				 want_enum || opt ? "selector" : "length", path);
		} else if (opt) {
			bool is_bool = (target->flags & CL_N_BOOL) != 0;

			if ((target->kind != CL_K_INT && target->kind != CL_K_ENUM) ||
			    is_bool != (t->sel == NULL))
				r = SERR(c->s, t->line, t->col, "optional selector '%s' is not %s",
					 path, t->sel ? "an integer" : "a boolean");
		} else if (target->flags & CL_N_BOOL) {
			r = SERR(c->s, t->line, t->col, "%s '%s' is a boolean",
				 want_enum ? "variant selector" : "length", path);
		} else if (want_enum && t->sel && target->kind == CL_K_INT) {
			; /* CTF 2: options selected by ranges of any integer */
		} else if (want_enum ? target->kind != CL_K_ENUM
				     : (target->kind != CL_K_INT && target->kind != CL_K_ENUM)) {
			r = SERR(c->s, t->line, t->col, "%s '%s' is not %s",
				 want_enum ? "variant tag" : "sequence length", path,
				 want_enum ? "an enumeration" : "an integer");
		}
		if (r >= 0 && !want_enum && !opt && (target->flags & CL_N_SIGNED))
			r = SERR(c->s, t->line, t->col, "sequence length '%s' is signed", path);
		if (r >= 0 && target->reg) {
			/* fields already located by other locations with
			 * other registers (one option's field from inside its
			 * option, say): a new register for this location,
			 * written as their second one */
			if (reg && reg != target->reg)
				multi = true;
			reg = target->reg;
		}
	}
	if (multi)
		reg = 0;
	if (r >= 0 && !reg) {
		if (c->s->t->nregs >= (1u << 20))
			r = (cl_diag_set(c->s->err, t->line, t->col, "too many referenced fields"),
			     -E2BIG);
		else
			reg = ++c->s->t->nregs;
	}
	for (uint32_t k = 0; k < ntg && r >= 0; k++) {
		struct cl_node *target = tgs[k];

		if (!target->reg || (target->reg != reg && !target->reg2)) {
			*(target->reg ? &target->reg2 : &target->reg) = reg;
			target->side = 1;
			/* a field of an earlier scope: its program must now save it */
			rebuild |= root && root->prog;
		} else if (target->reg != reg && target->reg2 != reg) {
			r = SERR(c->s, t->line, t->col,
				 "field location %s: its fields are located by too many other "
				 "field locations",
				 path);
		}
		if (scope_printed(c->scope))
			target->flags |= CL_N_PRINT;
	}
	if (r >= 0) {
		n->ref_reg = reg;
		if (want_enum || opt)
			n->tag = tgs[0];
		/* several selectors (one per variant option): select by the
		 * option ranges, never by one selector's mappings */
		if (ntg > 1)
			n->flags |= CL_N_MULTI_SEL;
	}
	if (tgs != &one)
		free(tgs);
	if (r >= 0 && rebuild)
		return build_prog(c, root);
	return r;
}

static void set_meaning(struct cctx *c, struct cl_node *n)
{
	const char *nm = n->orig_name;
	bool top = c->depth == 1;

	if (!nm)
		return;
	switch (c->scope) {
	case SC_PKT_HDR:
		if (!top)
			return;
		if (!strcmp(nm, "magic"))
			n->meaning = CL_M_MAGIC;
		else if (!strcmp(nm, "stream_id"))
			n->meaning = CL_M_STREAM_ID;
		else if (!strcmp(nm, "stream_instance_id"))
			n->meaning = CL_M_STREAM_INSTANCE_ID;
		break;
	case SC_PKT_CTX:
		if (!top)
			return;
		if (!strcmp(nm, "timestamp_begin"))
			n->meaning = CL_M_TS_BEGIN;
		else if (!strcmp(nm, "timestamp_end"))
			n->meaning = CL_M_TS_END;
		else if (!strcmp(nm, "content_size"))
			n->meaning = CL_M_CONTENT_SIZE;
		else if (!strcmp(nm, "packet_size"))
			n->meaning = CL_M_PACKET_SIZE;
		else if (!strcmp(nm, "events_discarded"))
			n->meaning = CL_M_EVENTS_DISCARDED;
		else if (!strcmp(nm, "packet_seq_num"))
			n->meaning = CL_M_PACKET_SEQ_NUM;
		break;
	case SC_EV_HDR:
		if (!strcmp(nm, "id"))
			n->meaning = CL_M_EVENT_ID;
		else if (!strcmp(nm, "timestamp"))
			n->meaning = CL_M_TIMESTAMP;
		break;
	default:
		break;
	}
}

static struct cl_clock *default_clock(struct cctx *c)
{
	struct ctflive_ctf_trace *t = c->s->t;
	struct cl_clock *k;

	if (t->nclocks == 1)
		return t->clocks;
	if (t->nclocks > 1)
		return NULL;
	k = cl_arena_alloc(&t->arena, sizeof(*k));
	if (!k)
		return NULL;
	k->name = "default";
	k->freq = 1000000000u;
	t->clocks = k;
	t->nclocks = 1;
	return k;
}

static int compile_scalar(struct cctx *c, const struct cl_type *t, struct cl_node *n)
{
	struct cl_clock *clk = t->clock;

	n->size = (uint16_t)t->size;
	n->base = t->base;
	n->bo = (uint8_t)(t->bo == CL_BO_NATIVE ? c->s->t->bo : t->bo);
	if (t->is_signed)
		n->flags |= CL_N_SIGNED;
	if (t->bitmap)
		n->flags |= CL_N_BITMAP;
	if (t->boolean)
		n->flags |= CL_N_BOOL;
	if (t->varint)
		n->flags |= CL_N_VARINT;
	n->enc = t->enc;
	if (t->kind == CL_K_FLOAT || t->kind == CL_K_STRING) {
		if (scope_printed(c->scope))
			n->flags |= CL_N_PRINT;
		return 0;
	}
	if (c->s->t->ctf2)
		n->meaning = t->role; /* CTF 2: roles only, never names */
	else
		set_meaning(c, n);
	if (!clk && (n->meaning == CL_M_TIMESTAMP || n->meaning == CL_M_TS_BEGIN ||
		     n->meaning == CL_M_TS_END))
		clk = default_clock(c);
	if (clk) {
		if (n->meaning != CL_M_TS_END)
			n->flags |= CL_N_CLOCK;
		if (c->sc && !c->sc->clock)
			c->sc->clock = clk;
	}
	/* special packet-context fields and clock values are not printed */
	if (scope_printed(c->scope) && !clk && !(c->scope == SC_PKT_CTX && n->meaning != CL_M_NONE))
		n->flags |= CL_N_PRINT;
	return 0;
}

/* Precomputations for the decoder and printers. */
static int finish_node(struct cctx *c, struct cl_node *n)
{
	uint64_t nv = 0;

	if ((n->kind == CL_K_INT || n->kind == CL_K_ENUM) && n->size % 8 == 0 &&
	    n->align % 8 == 0 && !(n->flags & CL_N_VARINT)) {
		bool le = n->bo == CL_BO_LE;

		switch (n->size) {
		case 8:
			n->fast = CL_FAST_U8;
			break;
		case 16:
			n->fast = le ? CL_FAST_LE16 : CL_FAST_BE16;
			break;
		case 32:
			n->fast = le ? CL_FAST_LE32 : CL_FAST_BE32;
			break;
		case 64:
			n->fast = le ? CL_FAST_LE64 : CL_FAST_BE64;
			break;
		default:
			break;
		}
	}
	switch (n->kind) {
	case CL_K_STRUCT:
		for (uint32_t i = 0; i < n->nkids; i++) {
			if (n->kids[i]->nvals == CL_NVALS_VAR) {
				nv = CL_NVALS_VAR;
				break;
			}
			nv += n->kids[i]->nvals;
		}
		break;
	case CL_K_VARIANT:
	case CL_K_SEQ:
	case CL_K_OPT:
		nv = CL_NVALS_VAR;
		break;
	case CL_K_ARRAY:
		if (n->flags & CL_N_TEXT)
			nv = 1;
		else if (n->elem->nvals == CL_NVALS_VAR || n->length > CL_MAX_VALUES)
			nv = CL_NVALS_VAR;
		else
			nv = 1 + n->length * n->elem->nvals;
		break;
	default:
		nv = 1;
	}
	n->nvals = nv >= CL_NVALS_VAR ? CL_NVALS_VAR : (uint32_t)nv;
	n->side = n->reg || n->meaning || (n->flags & CL_N_CLOCK);
	if (n->name) {
		size_t l = strlen(n->name);
		char *sep = cl_arena_alloc(&c->s->t->arena, l + 6);

		if (!sep)
			return -ENOMEM;
		memcpy(sep, ", ", 2);
		memcpy(sep + 2, n->name, l);
		memcpy(sep + 2 + l, " = ", 4);
		n->sep = sep;
		n->sep_len = l + 5;
		/* JSON key, escaped once here */
		char *jk = cl_arena_alloc(&c->s->t->arena, l * 6 + 4);
		size_t k = 0;

		if (!jk)
			return -ENOMEM;
		jk[k++] = '"';
		for (size_t i = 0; i < l; i++) {
			unsigned char ch = (unsigned char)n->name[i];

			if (ch == '"' || ch == '\\') {
				jk[k++] = '\\';
				jk[k++] = (char)ch;
			} else if (ch < 0x20) {
				k += (size_t)snprintf(jk + k, 7, "\\u%04x", ch);
			} else {
				jk[k++] = (char)ch;
			}
		}
		jk[k++] = '"';
		jk[k++] = ':';
		jk[k] = '\0';
		n->jkey = jk;
		n->jkey_len = k;
	}
	return 0;
}

/*
 * CTF 2 variant: true if the selector is an enumeration whose every mapping
 * lies within the ranges of the option named like it, so selecting through
 * the selector's mappings (and the fused LTTng header) gives the same option.
 */
static bool sel_matches_tag(const struct cl_type *tag, const struct cl_type *sel)
{
	if (tag->kind != CL_K_ENUM)
		return false;
	for (uint32_t k = 0; k < sel->nmaps; k++)
		if (!sel->maps[k].label)
			return false; /* unnamed option */
	for (uint32_t m = 0; m < tag->nmaps; m++) {
		const struct cl_enum_map *mp = &tag->maps[m];
		bool ok = false;

		for (uint32_t k = 0; k < sel->nmaps && !ok; k++) {
			const struct cl_enum_map *o = &sel->maps[k];

			if (strcmp(o->label, mp->label))
				continue;
			ok = tag->is_signed ? (int64_t)o->lo <= (int64_t)mp->lo &&
						      (int64_t)mp->hi <= (int64_t)o->hi
					    : o->lo <= mp->lo && mp->hi <= o->hi;
		}
		if (!ok)
			return false;
	}
	/* and no option range outside the selector's mappings */
	for (uint32_t k = 0; k < sel->nmaps; k++) {
		const struct cl_enum_map *o = &sel->maps[k];
		bool ok = false;

		for (uint32_t m = 0; m < tag->nmaps && !ok; m++)
			ok = !strcmp(o->label, tag->maps[m].label) && tag->maps[m].lo == o->lo &&
			     tag->maps[m].hi == o->hi;
		if (!ok)
			return false;
	}
	return true;
}

/* Part `idx` of compound node `n` (member, option, element), noted as open
 * for CTF 2 field locations. */
static int compile_part(struct cctx *c, struct cl_node *n, uint32_t idx, const struct cl_type *t,
			const char *name, struct cl_node **ret)
{
	int r;

	if (!c->s->t->ctf2)
		return compile(c, t, name, ret);
	if (c->nopen >= (int)CL_ARRAY_SIZE(c->open))
		return (cl_diag_set(c->s->err, t->line, t->col, "nesting too deep"), -E2BIG);
	c->open[c->nopen].node = n;
	c->open[c->nopen].idx = idx;
	c->nopen++;
	r = compile(c, t, name, ret);
	c->nopen--;
	return r;
}

static int compile(struct cctx *c, const struct cl_type *t, const char *name, struct cl_node **ret)
{
	struct cl_node *n = cl_arena_alloc(&c->s->t->arena, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->kind = (uint8_t)t->kind;
	n->align = t->align ? t->align : 1;
	n->type = t;
	n->orig_name = name;
	if (name) {
		n->name = name[0] == '_' && !c->s->t->ctf2 ? name + 1 : name;
	}
	switch (t->kind) {
	case CL_K_INT:
	case CL_K_ENUM:
	case CL_K_FLOAT:
	case CL_K_STRING:
		TRY(compile_scalar(c, t, n));
		break;
	case CL_K_STRUCT:
	case CL_K_VARIANT:
		if (c->depth >= (int)CL_ARRAY_SIZE(c->stack) - 1)
			return (cl_diag_set(c->s->err, t->line, t->col, "nesting too deep"),
				-E2BIG);
		n->kids = cl_arena_alloc(&c->s->t->arena, sizeof(*n->kids) * (t->nfields + 1));
		if (!n->kids)
			return -ENOMEM;
		if (t->kind == CL_K_VARIANT) {
			if (!t->tag && !t->loc)
				return SERR(c->s, t->line, t->col, "variant '%s' has no tag",
					    name ? name : "");
			TRY(compile_ref(c, n, t->tag, true, t));
		}
		if (t->kind == CL_K_STRUCT) {
			c->stack[c->depth].node = n;
			c->stack[c->depth].nkids = 0;
			c->depth++;
		}
		if (t->nfields == 0)
			n->flags |= CL_N_EMPTY_ORIG | CL_N_PRINT;
		for (uint32_t i = 0; i < t->nfields; i++) {
			r = compile_part(c, n, i, t->fields[i].type, t->fields[i].name,
					 &n->kids[i]);
			if (r < 0)
				return r;
			n->nkids = i + 1;
			if (t->kind == CL_K_STRUCT)
				c->stack[c->depth - 1].nkids = i + 1;
			if (n->kids[i]->flags & CL_N_PRINT)
				n->flags |= CL_N_PRINT;
		}
		if (t->kind == CL_K_STRUCT)
			c->depth--;
		if (t->kind == CL_K_VARIANT && t->sel &&
		    ((n->flags & CL_N_MULTI_SEL) || !sel_matches_tag(n->tag->type, t->sel))) {
			/* CTF 2: select by the option ranges, not the selector's mappings */
			struct cl_node *sn = cl_arena_alloc(&c->s->t->arena, sizeof(*sn));
			struct cl_type *st = cl_arena_alloc(&c->s->t->arena, sizeof(*st));

			if (!sn || !st)
				return -ENOMEM;
			*st = *t->sel;
			st->is_signed = (n->tag->flags & CL_N_SIGNED) != 0;
			sn->kind = CL_K_ENUM;
			sn->type = st;
			n->tag = sn;
		}
		if (t->kind == CL_K_VARIANT) {
			const struct cl_type *et = n->tag->type;

			n->opt_of_map =
				cl_arena_alloc(&c->s->t->arena, sizeof(int32_t) * (et->nmaps + 1));
			if (!n->opt_of_map)
				return -ENOMEM;
			for (uint32_t m = 0; m < et->nmaps; m++) {
				n->opt_of_map[m] = -1;
				if (t->sel && et->maps[m].opt >= 0 &&
				    (uint32_t)et->maps[m].opt < n->nkids) {
					/* CTF 2 ranges: the option they belong to */
					n->opt_of_map[m] = et->maps[m].opt;
					continue;
				}
				if (!et->maps[m].label)
					continue;
				for (uint32_t k = 0; k < n->nkids; k++) {
					if (!n->kids[k]->orig_name)
						continue;
					if (!strcmp(n->kids[k]->orig_name, et->maps[m].label)) {
						n->opt_of_map[m] = (int32_t)k;
						break;
					}
				}
			}
		}
		break;
	case CL_K_ARRAY:
	case CL_K_SEQ:
		if (t->kind == CL_K_SEQ)
			TRY(compile_ref(c, n, t->length_path, false, t));
		n->length = t->length;
		TRY(compile_part(c, n, 0, t->elem, NULL, &n->elem));
		if (n->elem->align > n->align)
			n->align = n->elem->align;
		if (n->elem->flags & CL_N_PRINT)
			n->flags |= CL_N_PRINT;
		if (t->elem->kind == CL_K_INT && t->elem->size == 8 && t->elem->align == 8 &&
		    t->elem->text)
			n->flags |= CL_N_TEXT;
		if (t->blob)
			n->flags |= CL_N_BLOB;
		n->enc = t->enc;
		break;
	case CL_K_OPT:
		/* CTF 2 optional: selector, then the field when present */
		TRY(compile_ref(c, n, t->tag, false, t));
		TRY(compile_part(c, n, 0, t->elem, NULL, &n->elem));
		n->align = 1;
		if (n->elem->flags & CL_N_PRINT)
			n->flags |= CL_N_PRINT;
		break;
	}
	TRY(finish_node(c, n));
	*ret = n;
	return 0;
}

struct pbuf {
	struct cl_op *ops; /* owned (malloc) while building */
	uint32_t n;
	size_t cap;
};

static int emit(struct pbuf *p, uint8_t code, uint32_t arg, const struct cl_node *n)
{
	if (p->n >= (1u << 24))
		return -E2BIG;
	if (cl_grow(&p->ops, &p->cap, (size_t)p->n + 1) < 0)
		return -ENOMEM;
	memset(&p->ops[p->n], 0, sizeof(p->ops[p->n]));
	p->ops[p->n].code = code;
	p->ops[p->n].arg = arg;
	p->ops[p->n].n = n;
	if (n->kind == CL_K_INT || n->kind == CL_K_ENUM) {
		p->ops[p->n].fast = n->fast;
		p->ops[p->n].meaning = n->meaning;
		p->ops[p->n].size = n->size;
		p->ops[p->n].reg = n->reg;
		p->ops[p->n].flags = (uint8_t)(((n->flags & CL_N_SIGNED) ? CL_OPF_SIGNED : 0) |
					       ((n->flags & CL_N_CLOCK) ? CL_OPF_CLOCK : 0) |
					       (n->side ? CL_OPF_SIDE : 0));
	}
	p->n++;
	return 0;
}

static int gen(struct cctx *c, struct pbuf *p, struct cl_node *n)
{
	if (n->fast && !n->reg2) {
		/* plain loads get their own opcodes (side effects are decided
		 * later when a sequence refers to the field, so check `reg` at
		 * run time through CL_OP_FAST_INT only for fields that may get one:
		 * every integer may, hence the test on `side` at run time too) */
		static const uint8_t plain[] = { [CL_FAST_U8] = CL_OP_U8,
						 [CL_FAST_LE16] = CL_OP_LE16,
						 [CL_FAST_LE32] = CL_OP_LE32,
						 [CL_FAST_LE64] = CL_OP_LE64 };

		if (!(n->flags & CL_N_SIGNED) && n->fast < sizeof(plain) && plain[n->fast])
			return emit(p, plain[n->fast], n->align, n);
		return emit(p, CL_OP_FAST_INT, n->align, n);
	}
	if ((n->kind == CL_K_SEQ) && (n->flags & CL_N_TEXT) && (n->enc & CL_ENC_UNIT) <= 1)
		return emit(p, CL_OP_TEXT_SEQ, 0, n); /* (UTF-16/32 are checked: node) */
	if (n->kind == CL_K_STRUCT) {
		/* the first field aligns itself: only a stricter struct alignment
		 * (or an empty struct) needs its own step */
		if (n->align > 1 && (n->nkids == 0 || n->kids[0]->kind == CL_K_VARIANT ||
				     n->kids[0]->align < n->align))
			TRY(emit(p, CL_OP_ALIGN, n->align, n));
		for (uint32_t i = 0; i < n->nkids; i++)
			TRY(gen(c, p, n->kids[i]));
		return 0;
	}
	if (n->kind == CL_K_VARIANT) {
		uint32_t *jumps;

		n->opt_pc = cl_arena_alloc(&c->s->t->arena, sizeof(uint32_t) * (n->nkids + 1));
		jumps = calloc(n->nkids + 1, sizeof(*jumps));
		if (!n->opt_pc || !jumps) {
			free(jumps);
			return -ENOMEM;
		}
		TRY(emit(p, CL_OP_VARIANT, 0, n));
		for (uint32_t k = 0; k < n->nkids; k++) {
			int r;

			n->opt_pc[k] = p->n;
			r = gen(c, p, n->kids[k]);
			if (r >= 0) {
				jumps[k] = p->n;
				r = emit(p, CL_OP_JMP, 0, n);
			}
			if (r < 0) {
				free(jumps);
				return r;
			}
		}
		for (uint32_t k = 0; k < n->nkids; k++)
			p->ops[jumps[k]].arg = p->n;
		free(jumps);
		return 0;
	}
	return emit(p, CL_OP_NODE, 0, n);
}

static int build_prog(struct cctx *c, struct cl_node *root)
{
	struct pbuf p = { 0 };
	int r = gen(c, &p, root);

	if (r >= 0)
		r = emit(&p, CL_OP_END, 0, root);
	if (r >= 0) {
		root->prog = cl_arena_alloc(&c->s->t->arena, sizeof(*p.ops) * p.n);
		if (!root->prog)
			r = -ENOMEM;
		else
			memcpy(root->prog, p.ops, sizeof(*p.ops) * p.n);
	}
	free(p.ops);
	return r;
}

static bool is_uint(const struct cl_node *n, const char *name, unsigned size, unsigned align)
{
	return n && (n->kind == CL_K_INT || n->kind == CL_K_ENUM) && n->orig_name &&
	       !strcmp(n->orig_name, name) && n->size == size && n->align == align &&
	       !(n->flags & (CL_N_SIGNED | CL_N_VARINT | CL_N_BOOL | CL_N_BITMAP)) &&
	       n->bo == CL_BO_LE && !n->reg2;
}

static bool is_struct(const struct cl_node *n, const char *name, uint32_t nkids)
{
	return n && n->kind == CL_K_STRUCT && n->orig_name && !strcmp(n->orig_name, name) &&
	       n->nkids == nkids;
}

/*
 * LTTng's two event headers (ctf-decoding.md §2.2) are in every LTTng
 * event: when the stream's header is exactly one of them, its program is
 * replaced by a single fused instruction producing the same values and side
 * effects. Anything else keeps the generic program.
 */
int cl_fuse_lttng_header(struct cctx *c, struct cl_node *h)
{
	const struct cl_node *id, *v, *cs, *ex;
	unsigned idsize, tssize;
	uint8_t code;
	struct cl_op *prog;

	if (h->kind != CL_K_STRUCT || h->nkids != 2 || h->align != 8)
		return 0;
	id = h->kids[0];
	v = h->kids[1];
	if (!id || id->kind != CL_K_ENUM || v->kind != CL_K_VARIANT || v->tag != id ||
	    v->nkids != 2 || id->type->nmaps != 2)
		return 0;
	if (is_uint(id, "id", 16, 8)) {
		idsize = 16;
		tssize = 32;
		code = CL_OP_LTTNG_LARGE;
	} else if (is_uint(id, "id", 5, 1)) {
		idsize = 5;
		tssize = 27;
		code = CL_OP_LTTNG_COMPACT;
	} else {
		return 0;
	}
	cs = v->kids[0];
	ex = v->kids[1];
	if (!is_struct(cs, "compact", 1) || !is_struct(ex, "extended", 2) ||
	    !is_uint(cs->kids[0], "timestamp", tssize, tssize == 32 ? 8 : 1) ||
	    !is_uint(ex->kids[0], "id", 32, 8) || !is_uint(ex->kids[1], "timestamp", 64, 8))
		return 0;
	/* labels: compact = 0 ... max-1 -> option 0, extended = max -> option 1,
	 * declared in either order (LTTng 2.16's CTF 1.8 has "extended" first) */
	{
		const struct cl_enum_map *m = id->type->maps;
		uint64_t max = (UINT64_C(1) << idsize) - 1;
		unsigned ic = m[0].lo == 0 ? 0 : 1, ie = 1 - ic;

		if (m[ic].lo != 0 || m[ic].hi != max - 1 || m[ie].lo != max || m[ie].hi != max ||
		    v->opt_of_map[ic] != 0 || v->opt_of_map[ie] != 1)
			return 0;
	}
	if (cs->align > 8 || ex->align != 8)
		return 0;
	prog = cl_arena_alloc(&c->s->t->arena, 2 * sizeof(*prog));
	if (!prog)
		return -ENOMEM;
	prog[0].code = code;
	prog[0].n = h;
	/* what the hot loop needs, so it does not walk the tree; a register
	 * given to the id later rebuilds the header program unfused */
	prog[0].reg = id->reg;
	prog[0].flags = (uint8_t)(((cs->kids[0]->flags & CL_N_CLOCK) ? CL_OPF_CLOCK : 0) |
				  ((ex->kids[1]->flags & CL_N_CLOCK) ? CL_OPF_CLOCK_EXT : 0));
	prog[1].code = CL_OP_END;
	prog[1].n = h;
	h->prog_generic = h->prog;
	h->prog = prog;
	return 0;
}

int cl_compile_scope(struct cctx *c, enum scope_id sc, const struct cl_type *t,
		     struct cl_node **ret)
{
	if (!t) {
		*ret = NULL;
		c->roots[sc] = NULL;
		return 0;
	}
	if (t->kind != CL_K_STRUCT)
		return SERR(c->s, t->line, t->col, "dynamic scope type is not a structure");
	c->scope = sc;
	c->depth = 0;
	c->nopen = 0;
	TRY(compile(c, t, NULL, ret));
	c->roots[sc] = *ret;
	return build_prog(c, *ret);
}
