/* SPDX-License-Identifier: MIT */
/*
 * CTF 2 field classes (CTF2-SPEC-2.0 §field classes) -> struct cl_type trees
 * of the TSDL front end: fixed-length bit arrays, bit maps, booleans,
 * integers (with mappings) and floating point numbers (16, 32, 64 bits),
 * LEB128 integers, null-terminated / static / dynamic strings in
 * UTF-8/16/32, static / dynamic BLOBs, structures, arrays (minimum
 * alignment), optionals, variants (named or unnamed options); field
 * locations, absolute or relative with parent (null) items; roles. As
 * babeltrace2 2.1.2: any non-empty `extensions` is refused, bit orders are
 * read as the byte order's default, floating point numbers of more than 64
 * bits are refused. The fragments are in ctf2-meta.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctf2.h"
#include "macro.h"

__attribute__((format(printf, 3, 4))) int cl_c2_err(struct c2 *c, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(c->frag, "?"))
		cl_diag_set(c->s.err, 0, 0, "CTF 2 %s fragment (#%d): %s", c->frag, c->fragno, msg);
	else
		cl_diag_set(c->s.err, 0, 0, "CTF 2 fragment #%d: %s", c->fragno, msg);
	return code;
}

json_object *cl_c2_member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* Unsigned integer member; *ret untouched when absent and !required. */
int cl_c2_get_u64(struct c2 *c, json_object *o, const char *key, bool required, uint64_t *ret)
{
	json_object *v = cl_c2_member(o, key);

	if (!v) {
		if (required)
			return cl_c2_err(c, -EBADMSG, "missing '%s'", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return cl_c2_err(c, -EBADMSG, "'%s' is not an integer", key);
	errno = 0;
	if (json_object_get_int64(v) < 0 && !json_object_get_uint64(v))
		return cl_c2_err(c, -EBADMSG, "'%s' is negative", key);
	*ret = json_object_get_uint64(v);
	/* json-c saturates integers it cannot hold: refuse the saturated value */
	if (errno || *ret == UINT64_MAX)
		return cl_c2_err(c, -EBADMSG, "'%s' is out of range", key);
	return 0;
}

int cl_c2_get_i64(struct c2 *c, json_object *o, const char *key, int64_t *ret)
{
	json_object *v = cl_c2_member(o, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return cl_c2_err(c, -EBADMSG, "'%s' is not an integer", key);
	errno = 0;
	*ret = json_object_get_int64(v);
	if (errno || *ret == INT64_MAX || *ret == INT64_MIN)
		return cl_c2_err(c, -EBADMSG, "'%s' is out of range", key);
	return 0;
}

int cl_c2_get_str(struct c2 *c, json_object *o, const char *key, bool required, const char **ret)
{
	json_object *v = cl_c2_member(o, key);

	if (!v) {
		if (required)
			return cl_c2_err(c, -EBADMSG, "missing '%s'", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return cl_c2_err(c, -EBADMSG, "'%s' is not a string", key);
	*ret = cl_arena_strdup(&c->s.t->arena, json_object_get_string(v));
	return *ret ? 0 : -ENOMEM;
}

static struct cl_type *new_type(struct c2 *c, enum cl_kind k)
{
	struct cl_type *t = cl_arena_alloc(&c->s.t->arena, sizeof(*t));

	if (t) {
		t->kind = k;
		t->line = c->fragno;
	}
	return t;
}

static int role_meaning(struct c2 *c, json_object *fc, uint8_t *ret)
{
	static const struct {
		const char *role;
		uint8_t m;
	} roles[] = {
		{ "packet-magic-number", CL_M_MAGIC },
		{ "metadata-stream-uuid", CL_M_UUID },
		{ "data-stream-class-id", CL_M_STREAM_ID },
		{ "data-stream-id", CL_M_STREAM_INSTANCE_ID },
		{ "packet-total-length", CL_M_PACKET_SIZE },
		{ "packet-content-length", CL_M_CONTENT_SIZE },
		{ "default-clock-timestamp", CL_M_TIMESTAMP },
		{ "packet-end-default-clock-timestamp", CL_M_TS_END },
		{ "discarded-event-record-counter-snapshot", CL_M_EVENTS_DISCARDED },
		{ "packet-sequence-number", CL_M_PACKET_SEQ_NUM },
		{ "event-record-class-id", CL_M_EVENT_ID },
	};
	json_object *r = cl_c2_member(fc, "roles");

	*ret = 0;
	if (!r)
		return 0;
	if (!json_object_is_type(r, json_type_array))
		return cl_c2_err(c, -EBADMSG, "'roles' is not an array");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *e = json_object_array_get_idx(r, i);
		const char *s;
		size_t k;

		if (!json_object_is_type(e, json_type_string))
			return cl_c2_err(c, -EBADMSG, "role is not a string");
		s = json_object_get_string(e);
		for (k = 0; k < CL_ARRAY_SIZE(roles); k++)
			if (!strcmp(s, roles[k].role))
				break;
		if (k == CL_ARRAY_SIZE(roles))
			return cl_c2_err(c, -EBADMSG, "unknown role '%s'", s);
		*ret = roles[k].m;
	}
	if (*ret == CL_M_TIMESTAMP && c->scope == SC_PKT_CTX)
		*ret = CL_M_TS_BEGIN;
	return 0;
}

static int get_align(struct c2 *c, json_object *fc, const char *key, uint32_t *ret)
{
	uint64_t v = 1;

	TRY(cl_c2_get_u64(c, fc, key, false, &v));
	if (v == 0 || (v & (v - 1)) || v > (1u << 20))
		return cl_c2_err(c, -EBADMSG, "invalid '%s'", key);
	*ret = (uint32_t)v;
	return 0;
}

static int get_bo(struct c2 *c, json_object *fc, enum cl_bo *ret)
{
	const char *s = NULL;

	TRY(cl_c2_get_str(c, fc, "byte-order", true, &s));
	if (!strcmp(s, "little-endian"))
		*ret = CL_BO_LE;
	else if (!strcmp(s, "big-endian"))
		*ret = CL_BO_BE;
	else
		return cl_c2_err(c, -EBADMSG, "invalid byte order '%s'", s);
	if (cl_c2_member(fc, "bit-order")) {
		const char *bo = NULL;

		/* babeltrace2 2.1.2 reads either order as the byte order's
		 * default one (last-to-first for little-endian): so do we */
		TRY(cl_c2_get_str(c, fc, "bit-order", false, &bo));
		if (strcmp(bo, "last-to-first") && strcmp(bo, "first-to-last"))
			return cl_c2_err(c, -EBADMSG, "invalid bit order '%s'", bo);
	}
	return 0;
}

static int add_range_maps(struct c2 *c, struct cl_type *t, const char *label, json_object *ranges,
			  bool allow_neg, size_t *cap)
{
	if (!json_object_is_type(ranges, json_type_array))
		return cl_c2_err(c, -EBADMSG, "mapping '%s' is not an array of ranges", label);
	for (size_t i = 0; i < json_object_array_length(ranges); i++) {
		json_object *rg = json_object_array_get_idx(ranges, i);
		uint64_t v[2];

		if (!json_object_is_type(rg, json_type_array) || json_object_array_length(rg) != 2)
			return cl_c2_err(c, -EBADMSG, "invalid range in mapping '%s'", label);
		for (int k = 0; k < 2; k++) {
			json_object *n = json_object_array_get_idx(rg, (size_t)k);

			if (!json_object_is_type(n, json_type_int))
				return cl_c2_err(c, -EBADMSG, "invalid range in mapping '%s'",
						 label);
			errno = 0;
			if (t->is_signed || json_object_get_int64(n) < 0)
				v[k] = (uint64_t)json_object_get_int64(n);
			else
				v[k] = json_object_get_uint64(n);
			if (!allow_neg && !t->is_signed && json_object_get_int64(n) < 0)
				return cl_c2_err(c, -EBADMSG, "negative range in mapping '%s'",
						 label);
			if (errno)
				return cl_c2_err(c, -EBADMSG, "range out of range in mapping '%s'",
						 label);
		}
		if (t->nmaps >= 65536)
			return cl_c2_err(c, -E2BIG, "too many mappings");
		if (t->nmaps + 1 > *cap) {
			size_t nc = *cap ? *cap * 2 : 8;
			struct cl_enum_map *m = cl_arena_alloc(&c->s.t->arena, nc * sizeof(*m));

			if (!m)
				return -ENOMEM;
			if (t->nmaps)
				memcpy(m, t->maps, t->nmaps * sizeof(*m));
			t->maps = m;
			*cap = nc;
		}
		t->maps[t->nmaps].label = label;
		t->maps[t->nmaps].lo = v[0];
		t->maps[t->nmaps].hi = v[1];
		t->maps[t->nmaps].opt = -1;
		t->nmaps++;
	}
	return 0;
}

enum int_kind { IK_FIXED, IK_VARINT, IK_BOOL, IK_BITS };

/* Fixed-length and LEB128 integers, booleans and bit arrays: integers to
 * the decoder; booleans print true/false, bit arrays in hexadecimal. */
static int build_int(struct c2 *c, json_object *fc, bool is_signed, enum int_kind ik,
		     struct cl_type **ret)
{
	struct cl_type *t = new_type(c, CL_K_INT);
	json_object *maps;
	uint64_t len = 0, base = ik == IK_BITS ? 16 : 10;

	if (!t)
		return -ENOMEM;
	t->is_signed = is_signed;
	if (ik == IK_VARINT) {
		/* LEB128: byte-aligned, at most 64 significant bits */
		t->varint = true;
		t->size = 64;
		t->align = 8;
		t->bo = CL_BO_LE;
	} else {
		TRY(cl_c2_get_u64(c, fc, "length", true, &len));
		if (len == 0 || len > 64)
			return cl_c2_err(c, ik == IK_FIXED ? -EBADMSG : -ENOTSUP,
					 "%s length %" PRIu64 " not supported (1 to 64 bits)",
					 ik == IK_FIXED  ? "integer"
					 : ik == IK_BOOL ? "boolean"
							 : "bit array",
					 len);
		t->size = (uint32_t)len;
		TRY(get_bo(c, fc, &t->bo));
		TRY(get_align(c, fc, "alignment", &t->align));
	}
	t->boolean = ik == IK_BOOL;
	if (ik == IK_BOOL || ik == IK_BITS) {
		if (ik == IK_BITS)
			t->base = 16;
		TRY(role_meaning(c, fc, &t->role));
		if (t->role)
			return cl_c2_err(c, -EBADMSG, "roles on a %s",
					 ik == IK_BOOL ? "boolean" : "bit array");
		*ret = t;
		return 0;
	}
	TRY(cl_c2_get_u64(c, fc, "preferred-display-base", false, &base));
	if (base != 2 && base != 8 && base != 10 && base != 16)
		return cl_c2_err(c, -EBADMSG, "invalid display base %" PRIu64, base);
	t->base = (uint8_t)base;
	TRY(role_meaning(c, fc, &t->role));
	maps = cl_c2_member(fc, "mappings");
	if (maps) {
		size_t cap = 0;

		if (!json_object_is_type(maps, json_type_object))
			return cl_c2_err(c, -EBADMSG, "'mappings' is not an object");
		t->kind = CL_K_ENUM;
		json_object_object_foreach(maps, k, v)
		{
			const char *label = cl_arena_strdup(&c->s.t->arena, k);

			if (!label)
				return -ENOMEM;
			TRY(add_range_maps(c, t, label, v, false, &cap));
		}
		TRY(cl_enum_label_order(&c->s.t->arena, t, true));
	}
	*ret = t;
	return 0;
}

static int cmp_map_label(const void *a, const void *b)
{
	return strcmp(((const struct cl_enum_map *)a)->label,
		      ((const struct cl_enum_map *)b)->label);
}

/* Fixed-length bit map: an unsigned integer printed in hexadecimal with the
 * names of its flags (bit index ranges), sorted by name. */
static int build_bitmap(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	/* an enumeration node (the printers' rare path) flagged as a bit map */
	struct cl_type *t = new_type(c, CL_K_ENUM);
	json_object *flags = cl_c2_member(fc, "flags");
	uint64_t len = 0;
	size_t cap = 0;

	if (!t)
		return -ENOMEM;
	TRY(cl_c2_get_u64(c, fc, "length", true, &len));
	if (len == 0 || len > 64)
		return cl_c2_err(c, -ENOTSUP, "bit map length %" PRIu64 " not supported", len);
	t->size = (uint32_t)len;
	t->base = 16;
	t->bitmap = true;
	TRY(get_bo(c, fc, &t->bo));
	TRY(get_align(c, fc, "alignment", &t->align));
	if (!flags || !json_object_is_type(flags, json_type_object) ||
	    !json_object_object_length(flags))
		return cl_c2_err(c, -EBADMSG, "bit map without flags");
	json_object_object_foreach(flags, k, v)
	{
		const char *label = cl_arena_strdup(&c->s.t->arena, k);

		if (!label)
			return -ENOMEM;
		TRY(add_range_maps(c, t, label, v, false, &cap));
	}
	for (uint32_t m = 0; m < t->nmaps; m++)
		if (t->maps[m].lo > t->maps[m].hi || t->maps[m].hi >= len)
			return cl_c2_err(c, -EBADMSG, "bit map flag '%s' outside the bit map",
					 t->maps[m].label);
	qsort(t->maps, t->nmaps, sizeof(*t->maps), cmp_map_label);
	*ret = t;
	return 0;
}

static int build_float(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	struct cl_type *t = new_type(c, CL_K_FLOAT);
	uint64_t len = 0;

	if (!t)
		return -ENOMEM;
	TRY(cl_c2_get_u64(c, fc, "length", true, &len));
	/* CTF2-SPEC-2.0: 16, 32, 64, 128 or more (multiple of 32) bits;
	 * babeltrace2 2.1.2 refuses more than 64 (and aborts on 16) */
	if (len != 16 && len != 32 && len != 64)
		return cl_c2_err(c, -ENOTSUP, "floating point length %" PRIu64 " not supported",
				 len);
	t->size = (uint32_t)len;
	TRY(get_bo(c, fc, &t->bo));
	TRY(get_align(c, fc, "alignment", &t->align));
	*ret = t;
	return 0;
}

/* A string's encoding as CL_ENC_*. */
static int get_encoding(struct c2 *c, json_object *fc, uint8_t *ret)
{
	static const struct {
		const char *name;
		uint8_t enc;
	} encs[] = {
		{ "utf-8", CL_ENC_UTF8 }, { "utf-16be", 2 | CL_ENC_BE },
		{ "utf-16le", 2 },        { "utf-32be", 4 | CL_ENC_BE },
		{ "utf-32le", 4 },
	};
	const char *enc = NULL;

	*ret = CL_ENC_UTF8;
	TRY(cl_c2_get_str(c, fc, "encoding", false, &enc));
	if (!enc)
		return 0;
	for (size_t k = 0; k < CL_ARRAY_SIZE(encs); k++) {
		if (!strcmp(enc, encs[k].name)) {
			*ret = encs[k].enc;
			return 0;
		}
	}
	return cl_c2_err(c, -EBADMSG, "invalid string encoding '%s'", enc);
}

/*
 * A field location (CTF2-SPEC-2.0 "field location") into *ret, made
 * absolute: an `origin` scope and the member names from its root. A
 * relative location (no origin) starts at the structure holding the
 * requesting field, in the scope being built: each name goes down to that
 * member, each parent item (null) goes back up one structure, wherever it
 * is in the path. (babeltrace2 2.1.2 agrees except for a parent item right
 * after another one, which it reads as cancelling it: we follow the
 * specification there.) Absolute locations have names only. Whether the
 * names exist is checked when the scopes are compiled (compile.c), as are
 * the kind of the field located and that it comes before the requesting
 * one. *ret is NULL while an alias is built on its own: relative
 * locations only mean something where the alias is used.
 */
static int build_loc(struct c2 *c, json_object *loc, const struct cl_floc **ret)
{
	static const char *const origins[] = {
		[SC_PKT_HDR] = "packet-header",
		[SC_PKT_CTX] = "packet-context",
		[SC_EV_HDR] = "event-record-header",
		[SC_EV_SCTX] = "event-record-common-context",
		[SC_EV_CTX] = "event-record-specific-context",
		[SC_PAYLOAD] = "event-record-payload",
	};
	struct cl_floc *l;
	json_object *path;
	const char *origin = NULL;
	size_t n, k = 0, base;

	*ret = NULL;
	if (!loc || !json_object_is_type(loc, json_type_object))
		return cl_c2_err(c, -EBADMSG, "invalid field location");
	TRY(cl_c2_get_str(c, loc, "origin", false, &origin));
	path = cl_c2_member(loc, "path");
	if (!path || !json_object_is_type(path, json_type_array) ||
	    !(n = json_object_array_length(path)))
		return cl_c2_err(c, -EBADMSG, "invalid field location path");
	if (n > CL_TSDL_MAX_DEPTH)
		return cl_c2_err(c, -E2BIG, "field location path too long");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(path, i);

		if (json_object_is_type(e, json_type_null) && origin)
			return cl_c2_err(c, -EBADMSG,
					 "parent item (null) in an absolute field location");
		if (!json_object_is_type(e, json_type_null) &&
		    !json_object_is_type(e, json_type_string))
			return cl_c2_err(c, -EBADMSG,
					 "field location path item is neither a name nor null");
	}
	l = cl_arena_alloc(&c->s.t->arena, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (origin) {
		size_t o;

		for (o = 0; o < CL_ARRAY_SIZE(origins); o++)
			if (!strcmp(origin, origins[o]))
				break;
		if (o == CL_ARRAY_SIZE(origins))
			return cl_c2_err(c, -EBADMSG, "invalid field location origin '%s'", origin);
		l->origin = (uint8_t)o;
		base = 0;
	} else {
		if (c->in_alias)
			return 0; /* resolved where the alias is used */
		if (c->npath < 1)
			return cl_c2_err(c, -EBADMSG, "field location outside any structure");
		l->origin = (uint8_t)c->scope;
		base = (size_t)c->npath - 1; /* names of the holding structure */
	}
	l->items = cl_arena_alloc(&c->s.t->arena, (base + n) * sizeof(*l->items));
	if (!l->items)
		return -ENOMEM;
	for (; k < base; k++)
		l->items[k] = c->path[k];
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(path, i);

		if (json_object_is_type(e, json_type_null)) {
			if (k == 0)
				return cl_c2_err(c, -EBADMSG,
						 "field location goes above the root of its scope "
						 "(too many parent items)");
			k--;
			continue;
		}
		l->items[k] = cl_arena_strdup(&c->s.t->arena, json_object_get_string(e));
		if (!l->items[k++])
			return -ENOMEM;
	}
	if (k == 0)
		return cl_c2_err(c, -EBADMSG, "field location locates the root of its scope");
	l->n = (uint32_t)k;
	*ret = l;
	return 0;
}

/* babeltrace2 2.1.2 supports no CTF 2 extension: a non-empty `extensions`
 * object anywhere (preamble, fragment, field class) is an error there, an
 * empty one is accepted. */
int cl_c2_check_extensions(struct c2 *c, json_object *o)
{
	json_object *e = cl_c2_member(o, "extensions");

	if (e && !json_object_is_type(e, json_type_object))
		return cl_c2_err(c, -EBADMSG, "'extensions' is not an object");
	if (e && json_object_object_length(e))
		return cl_c2_err(c, -ENOTSUP, "CTF 2 extensions not supported");
	return 0;
}

/* Static/dynamic-length strings (text) and BLOBs (!text): arrays of bytes
 * decoded as one value. */
static int build_text_array(struct c2 *c, json_object *fc, bool dynamic, bool text,
			    struct cl_type **ret)
{
	struct cl_type *t = new_type(c, dynamic ? CL_K_SEQ : CL_K_ARRAY);
	struct cl_type *e = new_type(c, CL_K_INT);

	if (!t || !e)
		return -ENOMEM;
	e->size = 8;
	e->align = 8;
	e->base = text ? 10 : 16;
	e->bo = CL_BO_LE;
	e->text = true;
	t->elem = e;
	t->align = 8;
	if (text) {
		TRY(get_encoding(c, fc, &t->enc));
	} else {
		t->blob = true;
		t->media_type = "application/octet-stream";
		TRY(cl_c2_get_str(c, fc, "media-type", false, &t->media_type));
	}
	if (dynamic)
		TRY(build_loc(c, cl_c2_member(fc, "length-field-location"), &t->loc));
	else
		TRY(cl_c2_get_u64(c, fc, "length", true, &t->length));
	TRY(role_meaning(c, fc, &t->role));
	*ret = t;
	return 0;
}

static int build_struct(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	struct cl_type *t = new_type(c, CL_K_STRUCT);
	json_object *mc = cl_c2_member(fc, "member-classes");
	size_t n = 0;
	uint32_t al = 1;
	int r;

	if (!t)
		return -ENOMEM;
	TRY(get_align(c, fc, "minimum-alignment", &t->align));
	if (mc && !json_object_is_type(mc, json_type_array))
		return cl_c2_err(c, -EBADMSG, "'member-classes' is not an array");
	n = mc ? json_object_array_length(mc) : 0;
	if (n > 65536)
		return cl_c2_err(c, -E2BIG, "too many structure members");
	if (n) {
		t->fields = cl_arena_alloc(&c->s.t->arena, n * sizeof(*t->fields));
		if (!t->fields)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(mc, i);
		struct cl_tfield *f = &t->fields[i];

		if (!json_object_is_type(m, json_type_object))
			return cl_c2_err(c, -EBADMSG, "structure member is not an object");
		TRY(cl_c2_get_str(c, m, "name", true, &f->name));
		for (size_t k = 0; k < i; k++)
			if (!strcmp(t->fields[k].name, f->name))
				return cl_c2_err(c, -EBADMSG, "duplicate structure member '%s'",
						 f->name);
		if (c->npath >= (int)CL_ARRAY_SIZE(c->path))
			return cl_c2_err(c, -E2BIG, "structures nested too deep");
		c->path[c->npath++] = f->name;
		r = cl_c2_build_fc(c, cl_c2_member(m, "field-class"), &f->type);
		c->npath--;
		if (r < 0)
			return r;
		if (f->type->align > al)
			al = f->type->align;
		t->nfields = (uint32_t)i + 1;
	}
	if (al > t->align)
		t->align = al;
	*ret = t;
	return 0;
}

static int build_array(struct c2 *c, json_object *fc, bool dynamic, struct cl_type **ret)
{
	struct cl_type *t = new_type(c, dynamic ? CL_K_SEQ : CL_K_ARRAY);
	uint32_t minal = 1;

	if (!t)
		return -ENOMEM;
	TRY(get_align(c, fc, "minimum-alignment", &minal));
	if (dynamic)
		TRY(build_loc(c, cl_c2_member(fc, "length-field-location"), &t->loc));
	else
		TRY(cl_c2_get_u64(c, fc, "length", true, &t->length));
	TRY(cl_c2_build_fc(c, cl_c2_member(fc, "element-field-class"), &t->elem));
	t->align = t->elem->align > minal ? t->elem->align : minal;
	*ret = t;
	return 0;
}

/* Optional: present when its boolean selector is true, or when its integer
 * selector is in `selector-field-ranges` (kept as the maps of t->sel). */
static int build_optional(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	struct cl_type *t = new_type(c, CL_K_OPT);
	json_object *ranges = cl_c2_member(fc, "selector-field-ranges");

	if (!t)
		return -ENOMEM;
	TRY(build_loc(c, cl_c2_member(fc, "selector-field-location"), &t->loc));
	if (ranges) {
		size_t cap = 0;

		t->sel = new_type(c, CL_K_ENUM);
		if (!t->sel)
			return -ENOMEM;
		TRY(add_range_maps(c, t->sel, "", ranges, true, &cap));
		if (!t->sel->nmaps)
			return cl_c2_err(c, -EBADMSG, "optional without selector ranges");
	}
	TRY(cl_c2_build_fc(c, cl_c2_member(fc, "field-class"), &t->elem));
	*ret = t;
	return 0;
}

static int build_variant(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	struct cl_type *t = new_type(c, CL_K_VARIANT);
	json_object *opts = cl_c2_member(fc, "options");
	size_t n, cap = 0;

	if (!t)
		return -ENOMEM;
	TRY(build_loc(c, cl_c2_member(fc, "selector-field-location"), &t->loc));
	t->sel = new_type(c, CL_K_ENUM);
	if (!t->sel)
		return -ENOMEM;
	if (!opts || !json_object_is_type(opts, json_type_array) ||
	    !(n = json_object_array_length(opts)))
		return cl_c2_err(c, -EBADMSG, "variant without options");
	if (n > 65536)
		return cl_c2_err(c, -E2BIG, "too many variant options");
	t->fields = cl_arena_alloc(&c->s.t->arena, n * sizeof(*t->fields));
	if (!t->fields)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(opts, i);
		struct cl_tfield *f = &t->fields[i];

		uint32_t first;

		if (!json_object_is_type(o, json_type_object))
			return cl_c2_err(c, -EBADMSG, "variant option is not an object");
		f->name = NULL; /* unnamed option */
		TRY(cl_c2_get_str(c, o, "name", false, &f->name));
		if (!cl_c2_member(o, "selector-field-ranges"))
			return cl_c2_err(c, -EBADMSG, "variant option without selector ranges");
		first = t->sel->nmaps;
		TRY(add_range_maps(c, t->sel, f->name, cl_c2_member(o, "selector-field-ranges"),
				   true, &cap));
		for (uint32_t m = first; m < t->sel->nmaps; m++)
			t->sel->maps[m].opt = (int32_t)i;
		TRY(cl_c2_build_fc(c, cl_c2_member(o, "field-class"), &f->type));
		t->nfields = (uint32_t)i + 1;
	}
	*ret = t;
	return 0;
}

int cl_c2_build_fc(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	const char *type;
	int r;

	if (!fc)
		return cl_c2_err(c, -EBADMSG, "missing field class");
	if (c->depth >= CL_TSDL_MAX_DEPTH)
		return cl_c2_err(c, -E2BIG, "field classes nested too deep");
	if (++c->s.t->ctf2_nfc > CTF2_MAX_FIELD_CLASSES)
		return cl_c2_err(c, -E2BIG, "more than %u field classes", CTF2_MAX_FIELD_CLASSES);
	if (json_object_is_type(fc, json_type_string)) {
		/* field class alias name */
		const char *name = json_object_get_string(fc);

		for (struct cl_ctf2_alias *a = c->s.t->ctf2_aliases; a; a = a->next) {
			if (!strcmp(a->name, name)) {
				c->depth++;
				r = cl_c2_build_fc(c, a->fc, ret);
				c->depth--;
				return r;
			}
		}
		return cl_c2_err(c, -EBADMSG, "unknown field class alias '%s'", name);
	}
	if (!json_object_is_type(fc, json_type_object))
		return cl_c2_err(c, -EBADMSG, "field class is not an object");
	TRY(cl_c2_check_extensions(c, fc));
	type = json_object_get_string(cl_c2_member(fc, "type"));
	if (!cl_c2_member(fc, "type") ||
	    !json_object_is_type(cl_c2_member(fc, "type"), json_type_string))
		return cl_c2_err(c, -EBADMSG, "field class without a type");
	c->depth++;
	if (!strcmp(type, "fixed-length-unsigned-integer"))
		r = build_int(c, fc, false, IK_FIXED, ret);
	else if (!strcmp(type, "fixed-length-signed-integer"))
		r = build_int(c, fc, true, IK_FIXED, ret);
	else if (!strcmp(type, "variable-length-unsigned-integer"))
		r = build_int(c, fc, false, IK_VARINT, ret);
	else if (!strcmp(type, "variable-length-signed-integer"))
		r = build_int(c, fc, true, IK_VARINT, ret);
	else if (!strcmp(type, "fixed-length-boolean"))
		r = build_int(c, fc, false, IK_BOOL, ret);
	else if (!strcmp(type, "fixed-length-bit-array"))
		r = build_int(c, fc, false, IK_BITS, ret);
	else if (!strcmp(type, "fixed-length-bit-map"))
		r = build_bitmap(c, fc, ret);
	else if (!strcmp(type, "fixed-length-floating-point-number"))
		r = build_float(c, fc, ret);
	else if (!strcmp(type, "null-terminated-string")) {
		*ret = new_type(c, CL_K_STRING);
		r = *ret ? 0 : -ENOMEM;
		if (r >= 0) {
			(*ret)->align = 8;
			r = get_encoding(c, fc, &(*ret)->enc);
		}
	} else if (!strcmp(type, "static-length-string") ||
		   !strcmp(type, "dynamic-length-string")) {
		r = build_text_array(c, fc, type[0] == 'd', true, ret);
	} else if (!strcmp(type, "static-length-blob") || !strcmp(type, "dynamic-length-blob")) {
		r = build_text_array(c, fc, type[0] == 'd', false, ret);
	} else if (!strcmp(type, "structure"))
		r = build_struct(c, fc, ret);
	else if (!strcmp(type, "static-length-array"))
		r = build_array(c, fc, false, ret);
	else if (!strcmp(type, "dynamic-length-array"))
		r = build_array(c, fc, true, ret);
	else if (!strcmp(type, "variant"))
		r = build_variant(c, fc, ret);
	else if (!strcmp(type, "optional"))
		r = build_optional(c, fc, ret);
	else
		r = cl_c2_err(c, -EBADMSG, "unknown field class type '%s'", type);
	c->depth--;
	return r;
}

/* A scope's field class (a structure), or NULL when absent. */
int cl_c2_build_scope(struct c2 *c, json_object *frag, const char *key, enum scope_id sc,
		      struct cl_type **ret)
{
	json_object *fc = cl_c2_member(frag, key);

	*ret = NULL;
	if (!fc)
		return 0;
	c->scope = sc;
	c->depth = 0;
	c->npath = 0;
	TRY(cl_c2_build_fc(c, fc, ret));
	if ((*ret)->kind != CL_K_STRUCT)
		return cl_c2_err(c, -EBADMSG, "'%s' is not a structure", key);
	return 0;
}
