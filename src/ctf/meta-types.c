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
	TRY(cl_enum_label_order(&s->t->arena, t, false));
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

/* ---- order of enumeration labels in babeltrace2 2.1 text ----------------
 *
 * babeltrace2 2.1 keeps the mappings of an enumeration field class in a C++
 * std::unordered_map keyed by label (libstdc++), and prints the labels of a
 * value in the order the IR gets them from iterating that container: for
 * TSDL the iteration order of the labels inserted in declaration order, for
 * CTF 2 the reverse of it (observed with babeltrace2 2.1.2). The iteration
 * order of libstdc++'s hash table is a fact of its algorithm (std::hash of a
 * string: 64-bit _Hash_bytes with seed 0xc70f6907; prime bucket counts, load
 * factor 1; a node goes first in its bucket, a bucket met for the first
 * time goes first in the list, a rehash walks the list in order); it is
 * reproduced here once per enumeration, at metadata time.
 */

static uint64_t std_hash_bytes(const char *s, size_t len)
{
	const uint64_t mul = (UINT64_C(0xc6a4a793) << 32) + UINT64_C(0x5bd1e995);
	const size_t aligned = len & ~(size_t)7;
	uint64_t h = UINT64_C(0xc70f6907) ^ (len * mul);

	for (size_t p = 0; p < aligned; p += 8) {
		uint64_t d = 0;

		for (int k = 7; k >= 0; k--)
			d = d << 8 | (uint8_t)s[p + (size_t)k];
		d *= mul;
		d ^= d >> 47;
		d *= mul;
		h ^= d;
		h *= mul;
	}
	if (len & 7) {
		uint64_t d = 0;

		for (size_t k = len; k-- > aligned;)
			d = d << 8 | (uint8_t)s[k];
		h ^= d;
		h *= mul;
	}
	h ^= h >> 47;
	h *= mul;
	h ^= h >> 47;
	return h;
}

/* libstdc++'s bucket counts: _M_next_bkt() of its prime rehash policy. */
static uint64_t next_bucket_count(uint64_t n, uint64_t *next_resize)
{
	static const uint8_t fast[] = { 2, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13 };
	static const uint32_t primes[] = {
		17,    19,    23,    29,    31,     37,     41,     43,     47,     53,     59,
		61,    67,    71,    73,    79,     83,     89,     97,     103,    109,    113,
		127,   137,   139,   149,   157,    167,    179,    193,    199,    211,    227,
		241,   257,   277,   293,   313,    337,    359,    383,    409,    439,    467,
		503,   541,   577,   619,   661,    709,    761,    823,    887,    953,    1031,
		1109,  1193,  1289,  1381,  1493,   1613,   1741,   1879,   2029,   2179,   2357,
		2549,  2753,  2971,  3209,  3469,   3739,   4027,   4349,   4703,   5087,   5503,
		5953,  6427,  6949,  7517,  8123,   8783,   9497,   10273,  11113,  12011,  12983,
		14033, 15173, 16411, 17749, 19183,  20753,  22447,  24281,  26267,  28411,  30727,
		33223, 35933, 38873, 42043, 45481,  49201,  53201,  57557,  62233,  67307,  72817,
		78779, 85229, 92203, 99733, 107897, 116731, 126271, 136607, 147793, 159871,
	};

	if (n < sizeof(fast)) {
		*next_resize = fast[n];
		return fast[n];
	}
	for (size_t i = 0; i < CL_ARRAY_SIZE(primes); i++) {
		if (primes[i] >= n) {
			*next_resize = primes[i];
			return primes[i];
		}
	}
	*next_resize = UINT64_MAX;
	return n | 1;
}

struct lo_node {
	uint32_t map;  /* first mapping of the label */
	uint64_t hash; /* cached, as libstdc++ does for strings */
	int32_t next;  /* list link, -1 ends */
};

int cl_enum_label_order(struct cl_arena *a, struct cl_type *t, bool reverse)
{
	struct lo_node *nodes;
	int32_t *before; /* per bucket: node before its first one, -2 none, -1 the list head */
	int32_t head = -1;
	uint64_t nb = 1, next_resize = 0;
	uint32_t n = 0;

	t->lorder = NULL;
	t->nlorder = 0;
	if (!t->nmaps)
		return 0;
	nodes = calloc(t->nmaps, sizeof(*nodes));
	before = NULL;
	if (!nodes)
		return -ENOMEM;
	for (uint32_t m = 0; m < t->nmaps; m++) {
		const char *lab = t->maps[m].label;
		uint64_t h, b;
		bool dup = false;

		if (!lab)
			continue;
		for (uint32_t k = 0; k < m && !dup; k++)
			dup = t->maps[k].label && !strcmp(t->maps[k].label, lab);
		if (dup)
			continue;
		h = std_hash_bytes(lab, strlen(lab));
		/* _M_need_rehash(nb, n, 1) */
		if ((uint64_t)n + 1 > next_resize) {
			uint64_t min_bkts = n + 1 > (next_resize ? 0 : 11) ? n + 1 : 11;

			if (min_bkts >= nb) {
				uint64_t want = min_bkts + 1 > nb * 2 ? min_bkts + 1 : nb * 2;
				uint64_t nnb = next_bucket_count(want, &next_resize);
				int32_t *nbef = malloc(nnb * sizeof(*nbef));
				int32_t p = head, prev_first_bkt = -1;

				if (!nbef) {
					free(nodes);
					free(before);
					return -ENOMEM;
				}
				for (uint64_t i = 0; i < nnb; i++)
					nbef[i] = -2;
				head = -1;
				/* _M_rehash_aux for unique keys */
				while (p >= 0) {
					int32_t nx = nodes[p].next;
					uint64_t bk = nodes[p].hash % nnb;

					if (nbef[bk] == -2) {
						nodes[p].next = head;
						head = p;
						nbef[bk] = -1;
						if (nodes[p].next >= 0)
							nbef[prev_first_bkt] = p;
						prev_first_bkt = (int32_t)bk;
					} else {
						int32_t bf = nbef[bk];
						int32_t *link = bf == -1 ? &head : &nodes[bf].next;

						nodes[p].next = *link;
						*link = p;
					}
					p = nx;
				}
				free(before);
				before = nbef;
				nb = nnb;
			} else {
				next_resize = nb;
			}
		}
		if (!before) {
			before = malloc(sizeof(*before));
			if (!before) {
				free(nodes);
				return -ENOMEM;
			}
			before[0] = -2;
		}
		nodes[n].map = m;
		nodes[n].hash = h;
		b = h % nb;
		if (before[b] != -2) {
			int32_t bf = before[b];
			int32_t *link = bf == -1 ? &head : &nodes[bf].next;

			nodes[n].next = *link;
			*link = (int32_t)n;
		} else {
			nodes[n].next = head;
			head = (int32_t)n;
			if (nodes[n].next >= 0)
				before[nodes[nodes[n].next].hash % nb] = (int32_t)n;
			before[b] = -1;
		}
		n++;
	}
	free(before);
	t->lorder = cl_arena_alloc(a, sizeof(*t->lorder) * (n ? n : 1));
	if (!t->lorder) {
		free(nodes);
		return -ENOMEM;
	}
	for (uint32_t i = 0, p = (uint32_t)head; i < n; i++, p = (uint32_t)nodes[p].next)
		t->lorder[reverse ? n - 1 - i : i] = nodes[p].map;
	t->nlorder = n;
	free(nodes);
	return 0;
}
