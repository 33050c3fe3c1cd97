/* SPDX-License-Identifier: MIT */
/*
 * Semantic pass, types: the symbol scopes of typealias/typedef and named
 * struct/variant/enum declarations, attribute value helpers, and the
 * building of integer, floating point, string, enum, struct, variant, array
 * and sequence types from the AST, type names resolved through the scopes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "meta.h"

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

int cl_meta_value_u64(struct sema *s, const struct ast_value *v, const char *what, uint64_t *ret)
{
	if (v->kind != AV_INT || v->i.neg)
		return SERR(s, v->line, v->col, "invalid %s: expecting an unsigned integer", what);
	*ret = v->i.mag;
	return 0;
}

int cl_meta_value_bool(struct sema *s, const struct ast_value *v, const char *what, bool *ret)
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

int cl_meta_value_bo(struct sema *s, const struct ast_value *v, bool allow_native, enum cl_bo *ret)
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
			TRY(cl_meta_value_u64(s, val, "integer size", &v));
			if (v == 0 || v > 64)
				return SERR(s, val->line, val->col,
					    "invalid integer size %" PRIu64 ": expecting 1 to 64",
					    v);
			t->size = (uint32_t)v;
			have_size = true;
		} else if (!strcmp(e->key, "align")) {
			TRY(cl_meta_value_u64(s, val, "integer alignment", &v));
			if (!is_pow2(v) || v > (1u << 20))
				return SERR(s, val->line, val->col,
					    "invalid alignment %" PRIu64
					    ": expecting a power of two",
					    v);
			t->align = (uint32_t)v;
			have_align = true;
		} else if (!strcmp(e->key, "signed")) {
			TRY(cl_meta_value_bool(s, val, "signedness", &t->is_signed));
		} else if (!strcmp(e->key, "byte_order")) {
			TRY(cl_meta_value_bo(s, val, true, &t->bo));
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
			TRY(cl_meta_value_u64(s, &e->val, "exp_dig", &exp));
		} else if (!strcmp(e->key, "mant_dig")) {
			TRY(cl_meta_value_u64(s, &e->val, "mant_dig", &mant));
		} else if (!strcmp(e->key, "byte_order")) {
			TRY(cl_meta_value_bo(s, &e->val, true, &t->bo));
		} else if (!strcmp(e->key, "align")) {
			TRY(cl_meta_value_u64(s, &e->val, "alignment", &v));
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
			TRY(cl_meta_body_entry(s, e, t));
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
		TRY(cl_meta_build_type(s, a->container, &c));
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

int cl_meta_build_type(struct sema *s, const struct ast_type *a, struct cl_type **ret)
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
int cl_meta_body_entry(struct sema *s, const struct ast_entry *e, struct cl_type *owner)
{
	struct cl_type *base, *ft;

	switch (e->kind) {
	case AE_TYPEALIAS:
		TRY(cl_meta_build_type(s, e->type, &base));
		TRY(apply_suffixes(s, &e->decls[0], base, &ft));
		return sym_add(s, NULL, e->decls[0].name, ft);
	case AE_TYPEDEF:
		TRY(cl_meta_build_type(s, e->type, &base));
		for (uint32_t i = 0; i < e->ndecls; i++) {
			TRY(apply_suffixes(s, &e->decls[i], base, &ft));
			TRY(sym_add(s, NULL, e->decls[i].name, ft));
		}
		return 0;
	case AE_TYPEDECL:
		return cl_meta_build_type(s, e->type, &base);
	case AE_FIELD:
		if (!owner)
			return SERR(s, e->line, e->col, "field declaration outside of a structure");
		TRY(cl_meta_build_type(s, e->type, &base));
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
