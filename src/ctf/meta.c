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
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		struct ctflive_ctf_diag *ni;

		if (nc > 4096)
			return 0; /* enough warnings */
		ni = realloc(l->items, nc * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		l->items = ni;
		l->cap = nc;
	}
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

static int clock_calibrate(struct cl_clock *c)
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

/* ---- symbols ---------------------------------------------------------- */

static struct cl_type *sym_find(struct sema *s, const char *prefix, const char *name)
{
	char buf[300];

	if (prefix) {
		snprintf(buf, sizeof(buf), "%s %s", prefix, name);
		name = buf;
	}
	for (struct sym *y = s->syms; y; y = y->next) {
		if (strcmp(y->name, name) == 0)
			return y->type;
	}
	return NULL;
}

static int sym_add(struct sema *s, const char *prefix, const char *name, struct cl_type *type)
{
	struct sym *y = cl_arena_alloc(&s->t->arena, sizeof(*y));
	char buf[300];

	if (!y)
		return -ENOMEM;
	if (prefix) {
		snprintf(buf, sizeof(buf), "%s %s", prefix, name);
		name = buf;
	}
	y->name = cl_arena_strdup(&s->t->arena, name);
	if (!y->name)
		return -ENOMEM;
	y->type = type;
	y->next = s->syms;
	s->syms = y;
	return 0;
}

/* ---- value helpers ---------------------------------------------------- */

static int value_u64(struct sema *s, const struct ast_value *v, const char *what, uint64_t *ret)
{
	if (v->kind != AV_INT || v->i.neg)
		return SERR(s, v->line, v->col, "invalid %s: expecting an unsigned integer", what);
	*ret = v->i.mag;
	return 0;
}

static int value_bool(struct sema *s, const struct ast_value *v, const char *what, bool *ret)
{
	if (v->kind == AV_INT && !v->i.neg && v->i.mag <= 1) {
		*ret = v->i.mag == 1;
		return 0;
	}
	if (v->kind == AV_PATH) {
		if (!strcmp(v->s, "true") || !strcmp(v->s, "TRUE")) {
			*ret = true;
			return 0;
		}
		if (!strcmp(v->s, "false") || !strcmp(v->s, "FALSE")) {
			*ret = false;
			return 0;
		}
	}
	return SERR(s, v->line, v->col, "invalid %s: expecting a boolean", what);
}

static int value_bo(struct sema *s, const struct ast_value *v, bool allow_native, enum cl_bo *ret)
{
	if (v->kind == AV_PATH) {
		if (!strcmp(v->s, "le")) {
			*ret = CL_BO_LE;
			return 0;
		}
		if (!strcmp(v->s, "be") || !strcmp(v->s, "network")) {
			*ret = CL_BO_BE;
			return 0;
		}
		if (!strcmp(v->s, "native") && allow_native) {
			*ret = CL_BO_NATIVE;
			return 0;
		}
	}
	return SERR(s, v->line, v->col, "invalid byte order");
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* ---- types ------------------------------------------------------------ */

static int build_type(struct sema *s, const struct ast_type *a, struct cl_type **ret);

static struct cl_type *new_type(struct sema *s, enum cl_kind k, int line, int col)
{
	struct cl_type *t = cl_arena_alloc(&s->t->arena, sizeof(*t));

	if (t) {
		t->kind = k;
		t->line = line;
		t->col = col;
	}
	return t;
}

static int build_integer(struct sema *s, const struct ast_type *a, struct cl_type **ret)
{
	struct cl_type *t = new_type(s, CL_K_INT, a->line, a->col);
	bool have_size = false, have_align = false;
	uint64_t v;

	if (!t)
		return -ENOMEM;
	t->base = 10;
	for (const struct ast_entry *e = a->attrs; e; e = e->next) {
		const struct ast_value *val = &e->val;

		if (!strcmp(e->key, "size")) {
			TRY(value_u64(s, val, "integer size", &v));
			if (v == 0 || v > 64)
				return SERR(s, val->line, val->col,
					    "invalid integer size %" PRIu64 ": expecting 1 to 64",
					    v);
			t->size = (uint32_t)v;
			have_size = true;
		} else if (!strcmp(e->key, "align")) {
			TRY(value_u64(s, val, "integer alignment", &v));
			if (!is_pow2(v) || v > (1u << 20))
				return SERR(s, val->line, val->col,
					    "invalid alignment %" PRIu64
					    ": expecting a power of two",
					    v);
			t->align = (uint32_t)v;
			have_align = true;
		} else if (!strcmp(e->key, "signed")) {
			TRY(value_bool(s, val, "signedness", &t->is_signed));
		} else if (!strcmp(e->key, "byte_order")) {
			TRY(value_bo(s, val, true, &t->bo));
		} else if (!strcmp(e->key, "base")) {
			if (val->kind == AV_INT && !val->i.neg) {
				v = val->i.mag;
				if (v != 2 && v != 8 && v != 10 && v != 16)
					return SERR(s, val->line, val->col, "invalid base %" PRIu64,
						    v);
				t->base = (uint8_t)v;
			} else if (val->kind == AV_PATH) {
				const char *b = val->s;

				if (!strcmp(b, "binary") || !strcmp(b, "b"))
					t->base = 2;
				else if (!strcmp(b, "octal") || !strcmp(b, "oct") ||
					 !strcmp(b, "o"))
					t->base = 8;
				else if (!strcmp(b, "decimal") || !strcmp(b, "dec") ||
					 !strcmp(b, "d") || !strcmp(b, "i") || !strcmp(b, "u"))
					t->base = 10;
				else if (!strcmp(b, "hexadecimal") || !strcmp(b, "hex") ||
					 !strcmp(b, "x") || !strcmp(b, "X") || !strcmp(b, "p"))
					t->base = 16;
				else
					return SERR(s, val->line, val->col, "invalid base '%s'", b);
			} else {
				return SERR(s, val->line, val->col, "invalid base");
			}
		} else if (!strcmp(e->key, "encoding")) {
			if (val->kind != AV_PATH && val->kind != AV_STRING)
				return SERR(s, val->line, val->col, "invalid encoding");
			const char *en = val->s;
			if (!strcmp(en, "UTF8") || !strcmp(en, "utf8") || !strcmp(en, "UTF-8") ||
			    !strcmp(en, "utf-8") || !strcmp(en, "ASCII") || !strcmp(en, "ascii"))
				t->text = true;
			else if (!strcmp(en, "none"))
				t->text = false;
			else
				return SERR(s, val->line, val->col, "invalid encoding '%s'", en);
		} else if (!strcmp(e->key, "map")) {
			const char *m = val->s;
			size_t ml;
			struct cl_clock *c;

			if (val->kind != AV_PATH || strncmp(m, "clock.", 6) != 0 ||
			    (ml = strlen(m)) < 12 || strcmp(m + ml - 6, ".value") != 0)
				return SERR(s, val->line, val->col, "invalid integer map");
			for (c = s->t->clocks; c; c = c->next) {
				if (strlen(c->name) == ml - 12 && !memcmp(c->name, m + 6, ml - 12))
					break;
			}
			if (!c)
				TRY(WARN(s, val->line, val->col,
					 "integer mapped to unknown clock '%.*s', ignoring",
					 (int)(ml - 12), m + 6));
			t->clock = c;
		} else {
			TRY(WARN(s, e->line, e->col,
				 "unknown attribute '%s' in integer type, ignoring", e->key));
		}
	}
	if (!have_size)
		return SERR(s, a->line, a->col, "integer type without a size");
	if (!have_align)
		t->align = t->size % 8 == 0 ? 8 : 1;
	*ret = t;
	return 0;
}

static int build_float(struct sema *s, const struct ast_type *a, struct cl_type **ret)
{
	struct cl_type *t = new_type(s, CL_K_FLOAT, a->line, a->col);
	uint64_t exp = 0, mant = 0, v;

	if (!t)
		return -ENOMEM;
	t->align = 8;
	for (const struct ast_entry *e = a->attrs; e; e = e->next) {
		if (!strcmp(e->key, "exp_dig")) {
			TRY(value_u64(s, &e->val, "exp_dig", &exp));
		} else if (!strcmp(e->key, "mant_dig")) {
			TRY(value_u64(s, &e->val, "mant_dig", &mant));
		} else if (!strcmp(e->key, "byte_order")) {
			TRY(value_bo(s, &e->val, true, &t->bo));
		} else if (!strcmp(e->key, "align")) {
			TRY(value_u64(s, &e->val, "alignment", &v));
			if (!is_pow2(v) || v > (1u << 20))
				return SERR(s, e->line, e->col, "invalid alignment");
			t->align = (uint32_t)v;
		} else {
			TRY(WARN(s, e->line, e->col,
				 "unknown attribute '%s' in floating point type, ignoring",
				 e->key));
		}
	}
	if (exp == 8 && mant == 24)
		t->size = 32;
	else if (exp == 11 && mant == 53)
		t->size = 64;
	else
		return SERR(s, a->line, a->col,
			    "unsupported floating point type (exp_dig %" PRIu64
			    ", mant_dig %" PRIu64 "): only 32 and 64-bit IEEE 754 are supported",
			    exp, mant);
	*ret = t;
	return 0;
}

/* Applies array/sequence suffixes: name[a][b] = array a of (array b of T). */
static int apply_suffixes(struct sema *s, const struct ast_decl *d, struct cl_type *base,
			  struct cl_type **ret)
{
	struct cl_type *t = base;

	for (uint32_t i = d->nsuf; i-- > 0;) {
		struct cl_type *a =
			new_type(s, d->suf[i].is_path ? CL_K_SEQ : CL_K_ARRAY, d->line, d->col);

		if (!a)
			return -ENOMEM;
		a->elem = t;
		a->align = t->align;
		a->length = d->suf[i].len;
		a->length_path = d->suf[i].path;
		t = a;
	}
	*ret = t;
	return 0;
}

static int body_entry(struct sema *s, const struct ast_entry *e, struct cl_type *owner);

static int struct_align(const struct cl_type *t)
{
	uint32_t al = t->align ? t->align : 1;

	for (uint32_t i = 0; i < t->nfields; i++) {
		if (t->fields[i].type->align > al)
			al = t->fields[i].type->align;
	}
	return (int)al;
}

static int build_compound(struct sema *s, const struct ast_type *a, struct cl_type **ret)
{
	const char *prefix = a->kind == AT_STRUCT ? "struct" : "variant";
	struct cl_type *t;

	if (!a->has_body) {
		struct cl_type *found = sym_find(s, prefix, a->name);

		if (!found)
			return SERR(s, a->line, a->col, "unknown %s '%s'", prefix, a->name);
		if (a->kind == AT_VARIANT && a->tag) {
			t = new_type(s, CL_K_VARIANT, a->line, a->col);
			if (!t)
				return -ENOMEM;
			*t = *found;
			t->tag = a->tag;
			found = t;
		}
		*ret = found;
		return 0;
	}
	t = new_type(s, a->kind == AT_STRUCT ? CL_K_STRUCT : CL_K_VARIANT, a->line, a->col);
	if (!t)
		return -ENOMEM;
	if (a->has_align) {
		if (a->align.neg || !is_pow2(a->align.mag) || a->align.mag > (1u << 20))
			return SERR(s, a->line, a->col, "invalid struct alignment");
		t->align = (uint32_t)a->align.mag;
	}
	t->tag = a->tag;
	/* Named: declared in the enclosing scope before its body is visited so
	 * that the body cannot see itself half-built. */
	{
		struct sym *saved = s->syms;

		if (++s->depth > CL_TSDL_MAX_DEPTH)
			return (cl_diag_set(s->err, a->line, a->col, "nesting too deep"), -E2BIG);
		for (const struct ast_entry *e = a->body; e; e = e->next)
			TRY(body_entry(s, e, t));
		s->depth--;
		s->syms = saved;
	}
	if (t->kind == CL_K_STRUCT)
		t->align = (uint32_t)struct_align(t);
	else
		t->align = 1;
	if (a->name)
		TRY(sym_add(s, prefix, a->name, t));
	*ret = t;
	return 0;
}

static int build_enum(struct sema *s, const struct ast_type *a, struct cl_type **ret)
{
	struct cl_type *c, *t;
	uint32_t n = 0, i = 0;
	uint64_t next = 0;
	bool first = true;

	if (!a->has_body) {
		t = sym_find(s, "enum", a->name);
		if (!t)
			return SERR(s, a->line, a->col, "unknown enum '%s'", a->name);
		*ret = t;
		return 0;
	}
	if (a->container) {
		TRY(build_type(s, a->container, &c));
	} else {
		c = sym_find(s, NULL, "int");
		if (!c)
			return SERR(s, a->line, a->col,
				    "enum without container type and no 'int' type declared");
	}
	if (c->kind != CL_K_INT)
		return SERR(s, a->line, a->col, "enum container type is not an integer");
	t = new_type(s, CL_K_ENUM, a->line, a->col);
	if (!t)
		return -ENOMEM;
	*t = *c;
	t->kind = CL_K_ENUM;
	for (const struct ast_enumerator *e = a->enums; e; e = e->next)
		n++;
	t->maps = cl_arena_alloc(&s->t->arena, sizeof(*t->maps) * (n ? n : 1));
	if (!t->maps)
		return -ENOMEM;
	for (const struct ast_enumerator *e = a->enums; e; e = e->next, i++) {
		struct cl_enum_map *m = &t->maps[i];

		m->label = e->label;
		if (e->has_val) {
			m->lo = e->lo.neg ? (uint64_t)0 - e->lo.mag : e->lo.mag;
			m->hi = e->hi.neg ? (uint64_t)0 - e->hi.mag : e->hi.mag;
		} else {
			m->lo = m->hi = first ? 0 : next;
		}
		if (t->is_signed ? (int64_t)m->lo > (int64_t)m->hi : m->lo > m->hi) {
			uint64_t x = m->lo;

			m->lo = m->hi;
			m->hi = x;
		}
		next = m->hi + 1;
		first = false;
	}
	t->nmaps = n;
	if (a->name)
		TRY(sym_add(s, "enum", a->name, t));
	*ret = t;
	return 0;
}

static int build_type(struct sema *s, const struct ast_type *a, struct cl_type **ret)
{
	struct cl_type *t;

	switch (a->kind) {
	case AT_INTEGER:
		return build_integer(s, a, ret);
	case AT_FLOAT:
		return build_float(s, a, ret);
	case AT_STRING:
		t = new_type(s, CL_K_STRING, a->line, a->col);
		if (!t)
			return -ENOMEM;
		t->align = 8;
		for (const struct ast_entry *e = a->attrs; e; e = e->next) {
			if (strcmp(e->key, "encoding") != 0)
				TRY(WARN(s, e->line, e->col,
					 "unknown attribute '%s' in string type, ignoring",
					 e->key));
		}
		*ret = t;
		return 0;
	case AT_STRUCT:
	case AT_VARIANT:
		return build_compound(s, a, ret);
	case AT_ENUM:
		return build_enum(s, a, ret);
	case AT_NAMED:
		t = sym_find(s, NULL, a->name);
		if (!t)
			return SERR(s, a->line, a->col, "unknown type '%s'", a->name);
		*ret = t;
		return 0;
	}
	return SERR(s, a->line, a->col, "invalid type");
}

static int add_field(struct sema *s, struct cl_type *owner, const char *name, struct cl_type *ft,
		     int line, int col)
{
	struct cl_tfield *nf;

	for (uint32_t i = 0; i < owner->nfields; i++) {
		if (!strcmp(owner->fields[i].name, name))
			return SERR(s, line, col, "duplicate field '%s'", name);
	}
	if ((owner->nfields & (owner->nfields - 1)) == 0) {
		uint32_t nc = owner->nfields ? owner->nfields * 2 : 4;

		nf = cl_arena_alloc(&s->t->arena, sizeof(*nf) * nc);
		if (!nf)
			return -ENOMEM;
		if (owner->nfields)
			memcpy(nf, owner->fields, sizeof(*nf) * owner->nfields);
		owner->fields = nf;
	}
	owner->fields[owner->nfields].name = name;
	owner->fields[owner->nfields].type = ft;
	owner->nfields++;
	return 0;
}

/* Type declarations valid in any scope; fields only when owner != NULL. */
static int body_entry(struct sema *s, const struct ast_entry *e, struct cl_type *owner)
{
	struct cl_type *base, *ft;

	switch (e->kind) {
	case AE_TYPEALIAS:
		TRY(build_type(s, e->type, &base));
		TRY(apply_suffixes(s, &e->decls[0], base, &ft));
		return sym_add(s, NULL, e->decls[0].name, ft);
	case AE_TYPEDEF:
		TRY(build_type(s, e->type, &base));
		for (uint32_t i = 0; i < e->ndecls; i++) {
			TRY(apply_suffixes(s, &e->decls[i], base, &ft));
			TRY(sym_add(s, NULL, e->decls[i].name, ft));
		}
		return 0;
	case AE_TYPEDECL:
		return build_type(s, e->type, &base);
	case AE_FIELD:
		if (!owner)
			return SERR(s, e->line, e->col, "field declaration outside of a structure");
		TRY(build_type(s, e->type, &base));
		for (uint32_t i = 0; i < e->ndecls; i++) {
			TRY(apply_suffixes(s, &e->decls[i], base, &ft));
			TRY(add_field(s, owner, e->decls[i].name, ft, e->decls[i].line,
				      e->decls[i].col));
		}
		return 0;
	default:
		return SERR(s, e->line, e->col, "unexpected entry in structure");
	}
}

/* ---- blocks ----------------------------------------------------------- */

static int block_type(struct sema *s, const struct ast_entry *e, struct cl_type **ret)
{
	return build_type(s, e->type, ret);
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
			TRY(value_u64(s, &e->val, "trace major", &t->major));
			have_major = true;
			if (t->major != 1)
				return SERR(s, e->val.line, e->val.col,
					    "invalid trace major version %" PRIu64 ": expecting 1",
					    t->major);
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "minor")) {
			TRY(value_u64(s, &e->val, "trace minor", &t->minor));
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
			TRY(body_entry(s, e, NULL));
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
		/* later entries replace earlier ones */
		struct cl_env **pp = &s->t->env;
		while (*pp && strcmp((*pp)->key, v->key) != 0)
			pp = &(*pp)->next;
		if (*pp) {
			v->next = (*pp)->next;
			*pp = v;
		} else {
			*pp = v;
		}
		if (!strcmp(v->key, "hostname") && !v->is_int)
			s->t->hostname = v->sval;
		else if (!strcmp(v->key, "procname") && !v->is_int)
			s->t->procname = v->sval;
		else if (!strcmp(v->key, "domain") && !v->is_int)
			s->t->domain = v->sval;
		else if (!strcmp(v->key, "vpid") && v->is_int) {
			s->t->has_vpid = true;
			s->t->vpid = v->ival;
		} else if (!strcmp(v->key, "tracer_name") && !v->is_int &&
			   !strncmp(v->sval, "lttng", 5))
			s->t->is_lttng = true;
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
			TRY(value_u64(s, val, "clock frequency", &v));
			if (v == 0)
				return SERR(s, val->line, val->col, "invalid clock frequency 0");
			c->freq = v;
		} else if (!strcmp(e->key, "precision")) {
			TRY(value_u64(s, val, "clock precision", &c->precision));
		} else if (!strcmp(e->key, "offset_s")) {
			if (val->kind != AV_INT || val->i.mag > (uint64_t)INT64_MAX / 1000000000u)
				return SERR(s, val->line, val->col, "invalid clock offset_s");
			c->offset_s = val->i.neg ? -(int64_t)val->i.mag : (int64_t)val->i.mag;
		} else if (!strcmp(e->key, "offset")) {
			TRY(value_u64(s, val, "clock offset", &c->offset));
		} else if (!strcmp(e->key, "absolute")) {
			TRY(value_bool(s, val, "clock absolute", &c->absolute));
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
	if (clock_calibrate(c) < 0)
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
	struct cctx c = { .s = s };

	if (!sc)
		return -ENOMEM;
	for (const struct ast_entry *e = top->entries; e; e = e->next) {
		if (e->kind == AE_ATTR && !strcmp(e->key, "id")) {
			TRY(value_u64(s, &e->val, "stream id", &sc->id));
			have_id = true;
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "packet.context")) {
			TRY(block_type(s, e, &pc));
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "event.header")) {
			TRY(block_type(s, e, &eh));
		} else if (e->kind == AE_TYPE_ASSIGN && !strcmp(e->key, "event.context")) {
			TRY(block_type(s, e, &ec));
		} else if (e->kind == AE_TYPEALIAS || e->kind == AE_TYPEDEF ||
			   e->kind == AE_TYPEDECL) {
			TRY(body_entry(s, e, NULL));
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
	if (cl_trace_stream_class(s->t, sc->id))
		return SERR(s, top->line, top->col, "duplicate stream class id %" PRIu64, sc->id);
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
			uint64_t nc = sc->nby_id ? sc->nby_id : 16;
			struct cl_event_class **n;

			while (nc <= ev->id)
				nc *= 2;
			n = realloc(sc->by_id, (size_t)nc * sizeof(*n));
			if (!n)
				return -ENOMEM;
			memset(n + sc->nby_id, 0, (size_t)(nc - sc->nby_id) * sizeof(*n));
			sc->by_id = n;
			sc->nby_id = nc;
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
	struct cl_stream_class *sc;
	struct cctx c = { .s = s };

	if (!ev)
		return -ENOMEM;
	ev->loglevel = -1;
	for (const struct ast_entry *e = top->entries; e; e = e->next) {
		if (e->kind == AE_ATTR && !strcmp(e->key, "name")) {
			if (e->val.kind != AV_STRING && e->val.kind != AV_PATH)
				return SERR(s, e->val.line, e->val.col, "invalid event name");
			ev->name = e->val.s;
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "id")) {
			TRY(value_u64(s, &e->val, "event id", &ev->id));
			have_id = true;
		} else if (e->kind == AE_ATTR && !strcmp(e->key, "stream_id")) {
			TRY(value_u64(s, &e->val, "event stream_id", &ev->stream_id));
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
			TRY(body_entry(s, e, NULL));
		} else {
			TRY(WARN(s, e->line, e->col,
				 "unknown attribute '%s' in event block, ignoring",
				 e->key ? e->key : "?"));
		}
	}
	s->syms = saved;
	if (!ev->name)
		return SERR(s, top->line, top->col, "event block without a name");
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
				s, top->line, top->col,
				"event '%s' has no stream_id and there are several stream classes",
				ev->name);
		}
		ev->stream_id = s->t->streams->id;
	}
	sc = cl_trace_stream_class(s->t, ev->stream_id);
	if (!sc)
		return SERR(s, top->line, top->col, "event '%s': unknown stream class %" PRIu64,
			    ev->name, ev->stream_id);
	if (!have_id) {
		if (sc->nevents)
			return SERR(s, top->line, top->col, "event '%s' has no id", ev->name);
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
	return add_event(s, sc, ev, top->line, top->col);
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
				r = value_bo(&s, &e->val, false, &t->bo);
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
			r = body_entry(&s, a->entries, NULL);
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
