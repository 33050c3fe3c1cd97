/* SPDX-License-Identifier: MIT */
/*
 * CTF 2 metadata front end (CTF2-SPEC-2.0): the metadata stream is an
 * RFC 7464 JSON text sequence (each fragment starts with 0x1E); every
 * fragment is parsed with json-c and compiled into the same trace model
 * the TSDL front end builds (struct cl_type -> cl_compile_scope), so
 * decoding, muxing and printing are shared.
 *
 * Supported: preamble (without extensions), trace class (packet header,
 * environment), clock class, data stream class, event record class, field
 * class alias; field classes fixed-length unsigned/signed integers (with
 * mappings), fixed-length floating point (32/64), null-terminated UTF-8
 * strings, static/dynamic-length UTF-8 strings, static-length BLOBs in
 * non-printed scopes, structures, static/dynamic-length arrays, variants
 * whose selector is an integer with mappings named like the options.
 * Everything else is refused with -ENOTSUP naming the fragment.
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

#include "macro.h"
#include "meta.h"
#include "metadata-text.h"

#define CTF2_MAX_JSON_DEPTH    64
/* Field classes a trace may build: aliases expand where they are used, so a
 * few bytes naming aliases of aliases could otherwise make billions. */
#define CTF2_MAX_FIELD_CLASSES (1u << 21)

struct cl_ctf2_alias {
	const char *name;
	json_object *fc; /* owned reference */
	struct cl_ctf2_alias *next;
};

struct c2 {
	struct sema s;
	const char *frag; /* fragment type, for messages */
	int fragno;
	int depth;
	enum scope_id scope;
};

__attribute__((format(printf, 3, 4))) static int C2ERR(struct c2 *c, int code, const char *fmt, ...)
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

void cl_ctf2_release(struct ctflive_ctf_trace *t)
{
	for (struct cl_ctf2_alias *a = t->ctf2_aliases; a; a = a->next)
		json_object_put(a->fc);
	t->ctf2_aliases = NULL;
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* Unsigned integer member; *ret untouched when absent and !required. */
static int get_u64(struct c2 *c, json_object *o, const char *key, bool required, uint64_t *ret)
{
	json_object *v = member(o, key);

	if (!v) {
		if (required)
			return C2ERR(c, -EBADMSG, "missing '%s'", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return C2ERR(c, -EBADMSG, "'%s' is not an integer", key);
	errno = 0;
	if (json_object_get_int64(v) < 0 && !json_object_get_uint64(v))
		return C2ERR(c, -EBADMSG, "'%s' is negative", key);
	*ret = json_object_get_uint64(v);
	/* json-c saturates integers it cannot hold: refuse the saturated value */
	if (errno || *ret == UINT64_MAX)
		return C2ERR(c, -EBADMSG, "'%s' is out of range", key);
	return 0;
}

static int get_i64(struct c2 *c, json_object *o, const char *key, int64_t *ret)
{
	json_object *v = member(o, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return C2ERR(c, -EBADMSG, "'%s' is not an integer", key);
	errno = 0;
	*ret = json_object_get_int64(v);
	if (errno || *ret == INT64_MAX || *ret == INT64_MIN)
		return C2ERR(c, -EBADMSG, "'%s' is out of range", key);
	return 0;
}

static int get_str(struct c2 *c, json_object *o, const char *key, bool required, const char **ret)
{
	json_object *v = member(o, key);

	if (!v) {
		if (required)
			return C2ERR(c, -EBADMSG, "missing '%s'", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return C2ERR(c, -EBADMSG, "'%s' is not a string", key);
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
	json_object *r = member(fc, "roles");

	*ret = 0;
	if (!r)
		return 0;
	if (!json_object_is_type(r, json_type_array))
		return C2ERR(c, -EBADMSG, "'roles' is not an array");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *e = json_object_array_get_idx(r, i);
		const char *s;
		size_t k;

		if (!json_object_is_type(e, json_type_string))
			return C2ERR(c, -EBADMSG, "role is not a string");
		s = json_object_get_string(e);
		for (k = 0; k < CL_ARRAY_SIZE(roles); k++)
			if (!strcmp(s, roles[k].role))
				break;
		if (k == CL_ARRAY_SIZE(roles))
			return C2ERR(c, -EBADMSG, "unknown role '%s'", s);
		*ret = roles[k].m;
	}
	if (*ret == CL_M_TIMESTAMP && c->scope == SC_PKT_CTX)
		*ret = CL_M_TS_BEGIN;
	return 0;
}

static int get_align(struct c2 *c, json_object *fc, const char *key, uint32_t *ret)
{
	uint64_t v = 1;

	TRY(get_u64(c, fc, key, false, &v));
	if (v == 0 || (v & (v - 1)) || v > (1u << 20))
		return C2ERR(c, -EBADMSG, "invalid '%s'", key);
	*ret = (uint32_t)v;
	return 0;
}

static int get_bo(struct c2 *c, json_object *fc, enum cl_bo *ret)
{
	const char *s = NULL;

	TRY(get_str(c, fc, "byte-order", true, &s));
	if (!strcmp(s, "little-endian"))
		*ret = CL_BO_LE;
	else if (!strcmp(s, "big-endian"))
		*ret = CL_BO_BE;
	else
		return C2ERR(c, -EBADMSG, "invalid byte order '%s'", s);
	if (member(fc, "bit-order")) {
		const char *bo = NULL;

		TRY(get_str(c, fc, "bit-order", false, &bo));
		if (strcmp(bo, *ret == CL_BO_LE ? "last-to-first" : "first-to-last"))
			return C2ERR(c, -ENOTSUP, "bit order '%s' not supported", bo);
	}
	return 0;
}

static int add_range_maps(struct c2 *c, struct cl_type *t, const char *label, json_object *ranges,
			  bool allow_neg, size_t *cap)
{
	if (!json_object_is_type(ranges, json_type_array))
		return C2ERR(c, -EBADMSG, "mapping '%s' is not an array of ranges", label);
	for (size_t i = 0; i < json_object_array_length(ranges); i++) {
		json_object *rg = json_object_array_get_idx(ranges, i);
		uint64_t v[2];

		if (!json_object_is_type(rg, json_type_array) || json_object_array_length(rg) != 2)
			return C2ERR(c, -EBADMSG, "invalid range in mapping '%s'", label);
		for (int k = 0; k < 2; k++) {
			json_object *n = json_object_array_get_idx(rg, (size_t)k);

			if (!json_object_is_type(n, json_type_int))
				return C2ERR(c, -EBADMSG, "invalid range in mapping '%s'", label);
			errno = 0;
			if (t->is_signed || json_object_get_int64(n) < 0)
				v[k] = (uint64_t)json_object_get_int64(n);
			else
				v[k] = json_object_get_uint64(n);
			if (!allow_neg && !t->is_signed && json_object_get_int64(n) < 0)
				return C2ERR(c, -EBADMSG, "negative range in mapping '%s'", label);
			if (errno)
				return C2ERR(c, -EBADMSG, "range out of range in mapping '%s'",
					     label);
		}
		if (t->nmaps >= 65536)
			return C2ERR(c, -E2BIG, "too many mappings");
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
		t->nmaps++;
	}
	return 0;
}

static int build_int(struct c2 *c, json_object *fc, bool is_signed, struct cl_type **ret)
{
	struct cl_type *t = new_type(c, CL_K_INT);
	json_object *maps;
	uint64_t len = 0, base = 10;

	if (!t)
		return -ENOMEM;
	t->is_signed = is_signed;
	TRY(get_u64(c, fc, "length", true, &len));
	if (len == 0 || len > 64)
		return C2ERR(c, -EBADMSG, "invalid integer length %" PRIu64, len);
	t->size = (uint32_t)len;
	TRY(get_bo(c, fc, &t->bo));
	TRY(get_align(c, fc, "alignment", &t->align));
	TRY(get_u64(c, fc, "preferred-display-base", false, &base));
	if (base != 2 && base != 8 && base != 10 && base != 16)
		return C2ERR(c, -EBADMSG, "invalid display base %" PRIu64, base);
	t->base = (uint8_t)base;
	TRY(role_meaning(c, fc, &t->role));
	maps = member(fc, "mappings");
	if (maps) {
		size_t cap = 0;

		if (!json_object_is_type(maps, json_type_object))
			return C2ERR(c, -EBADMSG, "'mappings' is not an object");
		t->kind = CL_K_ENUM;
		json_object_object_foreach(maps, k, v)
		{
			const char *label = cl_arena_strdup(&c->s.t->arena, k);

			if (!label)
				return -ENOMEM;
			TRY(add_range_maps(c, t, label, v, false, &cap));
		}
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
	json_object *flags = member(fc, "flags");
	uint64_t len = 0;
	size_t cap = 0;

	if (!t)
		return -ENOMEM;
	TRY(get_u64(c, fc, "length", true, &len));
	if (len == 0 || len > 64)
		return C2ERR(c, -ENOTSUP, "bit map length %" PRIu64 " not supported", len);
	t->size = (uint32_t)len;
	t->base = 16;
	t->bitmap = true;
	TRY(get_bo(c, fc, &t->bo));
	TRY(get_align(c, fc, "alignment", &t->align));
	if (!flags || !json_object_is_type(flags, json_type_object) ||
	    !json_object_object_length(flags))
		return C2ERR(c, -EBADMSG, "bit map without flags");
	json_object_object_foreach(flags, k, v)
	{
		const char *label = cl_arena_strdup(&c->s.t->arena, k);

		if (!label)
			return -ENOMEM;
		TRY(add_range_maps(c, t, label, v, false, &cap));
	}
	for (uint32_t m = 0; m < t->nmaps; m++)
		if (t->maps[m].lo > t->maps[m].hi || t->maps[m].hi >= len)
			return C2ERR(c, -EBADMSG, "bit map flag '%s' outside the bit map",
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
	TRY(get_u64(c, fc, "length", true, &len));
	if (len != 32 && len != 64)
		return C2ERR(c, -ENOTSUP, "floating point length %" PRIu64 " not supported", len);
	t->size = (uint32_t)len;
	TRY(get_bo(c, fc, &t->bo));
	TRY(get_align(c, fc, "alignment", &t->align));
	*ret = t;
	return 0;
}

static int check_utf8(struct c2 *c, json_object *fc)
{
	const char *enc = NULL;

	TRY(get_str(c, fc, "encoding", false, &enc));
	if (enc && strcmp(enc, "utf-8"))
		return C2ERR(c, -ENOTSUP, "string encoding '%s' not supported", enc);
	return 0;
}

/* A field location as a TSDL-style path for compile.c's resolver. */
static int location_path(struct c2 *c, json_object *loc, const char **ret)
{
	static const struct {
		const char *origin, *prefix;
	} origins[] = {
		{ "packet-header", "trace.packet.header." },
		{ "packet-context", "stream.packet.context." },
		{ "event-record-header", "stream.event.header." },
		{ "event-record-common-context", "stream.event.context." },
		{ "event-record-specific-context", "event.context." },
		{ "event-record-payload", "event.fields." },
	};
	json_object *path;
	const char *origin = NULL, *prefix = "";
	size_t n, total;
	char *out;

	if (!loc || !json_object_is_type(loc, json_type_object))
		return C2ERR(c, -EBADMSG, "invalid field location");
	TRY(get_str(c, loc, "origin", false, &origin));
	if (origin) {
		size_t k;

		for (k = 0; k < CL_ARRAY_SIZE(origins); k++)
			if (!strcmp(origin, origins[k].origin))
				break;
		if (k == CL_ARRAY_SIZE(origins))
			return C2ERR(c, -EBADMSG, "invalid field location origin '%s'", origin);
		prefix = origins[k].prefix;
	}
	path = member(loc, "path");
	if (!path || !json_object_is_type(path, json_type_array) ||
	    !(n = json_object_array_length(path)))
		return C2ERR(c, -EBADMSG, "invalid field location path");
	total = strlen(prefix) + 1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(path, i);

		if (!json_object_is_type(e, json_type_string))
			return C2ERR(c, -ENOTSUP,
				     "field location path items other than names not supported");
		if (strchr(json_object_get_string(e), '.') || !*json_object_get_string(e))
			return C2ERR(c, -ENOTSUP,
				     "field location through a name with '.' not supported");
		total += strlen(json_object_get_string(e)) + 1;
	}
	out = cl_arena_alloc(&c->s.t->arena, total);
	if (!out)
		return -ENOMEM;
	strcpy(out, prefix);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, ".");
		strcat(out, json_object_get_string(json_object_array_get_idx(path, i)));
	}
	*ret = out;
	return 0;
}

static int build_fc(struct c2 *c, json_object *fc, struct cl_type **ret);

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
	e->text = text;
	t->elem = e;
	t->align = 8;
	if (dynamic)
		TRY(location_path(c, member(fc, "length-field-location"), &t->length_path));
	else
		TRY(get_u64(c, fc, "length", true, &t->length));
	TRY(role_meaning(c, fc, &t->role));
	*ret = t;
	return 0;
}

static int build_struct(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	struct cl_type *t = new_type(c, CL_K_STRUCT);
	json_object *mc = member(fc, "member-classes");
	size_t n = 0;
	uint32_t al = 1;

	if (!t)
		return -ENOMEM;
	TRY(get_align(c, fc, "minimum-alignment", &t->align));
	if (mc && !json_object_is_type(mc, json_type_array))
		return C2ERR(c, -EBADMSG, "'member-classes' is not an array");
	n = mc ? json_object_array_length(mc) : 0;
	if (n > 65536)
		return C2ERR(c, -E2BIG, "too many structure members");
	if (n) {
		t->fields = cl_arena_alloc(&c->s.t->arena, n * sizeof(*t->fields));
		if (!t->fields)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(mc, i);
		struct cl_tfield *f = &t->fields[i];

		if (!json_object_is_type(m, json_type_object))
			return C2ERR(c, -EBADMSG, "structure member is not an object");
		TRY(get_str(c, m, "name", true, &f->name));
		for (size_t k = 0; k < i; k++)
			if (!strcmp(t->fields[k].name, f->name))
				return C2ERR(c, -EBADMSG, "duplicate structure member '%s'",
					     f->name);
		TRY(build_fc(c, member(m, "field-class"), &f->type));
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
	if (minal > 1)
		return C2ERR(c, -ENOTSUP, "array minimum alignment not supported");
	if (dynamic)
		TRY(location_path(c, member(fc, "length-field-location"), &t->length_path));
	else
		TRY(get_u64(c, fc, "length", true, &t->length));
	TRY(build_fc(c, member(fc, "element-field-class"), &t->elem));
	t->align = t->elem->align;
	*ret = t;
	return 0;
}

static int build_variant(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	struct cl_type *t = new_type(c, CL_K_VARIANT);
	json_object *opts = member(fc, "options");
	size_t n, cap = 0;

	if (!t)
		return -ENOMEM;
	TRY(location_path(c, member(fc, "selector-field-location"), &t->tag));
	t->sel = new_type(c, CL_K_ENUM);
	if (!t->sel)
		return -ENOMEM;
	if (!opts || !json_object_is_type(opts, json_type_array) ||
	    !(n = json_object_array_length(opts)))
		return C2ERR(c, -EBADMSG, "variant without options");
	if (n > 65536)
		return C2ERR(c, -E2BIG, "too many variant options");
	t->fields = cl_arena_alloc(&c->s.t->arena, n * sizeof(*t->fields));
	if (!t->fields)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(opts, i);
		struct cl_tfield *f = &t->fields[i];

		if (!json_object_is_type(o, json_type_object))
			return C2ERR(c, -EBADMSG, "variant option is not an object");
		if (!member(o, "name"))
			return C2ERR(c, -ENOTSUP, "unnamed variant options not supported");
		TRY(get_str(c, o, "name", true, &f->name));
		if (!member(o, "selector-field-ranges"))
			return C2ERR(c, -EBADMSG, "variant option without selector ranges");
		TRY(add_range_maps(c, t->sel, f->name, member(o, "selector-field-ranges"), true,
				   &cap));
		TRY(build_fc(c, member(o, "field-class"), &f->type));
		t->nfields = (uint32_t)i + 1;
	}
	*ret = t;
	return 0;
}

static int build_fc(struct c2 *c, json_object *fc, struct cl_type **ret)
{
	const char *type;
	int r;

	if (!fc)
		return C2ERR(c, -EBADMSG, "missing field class");
	if (c->depth >= CL_TSDL_MAX_DEPTH)
		return C2ERR(c, -E2BIG, "field classes nested too deep");
	if (++c->s.t->ctf2_nfc > CTF2_MAX_FIELD_CLASSES)
		return C2ERR(c, -E2BIG, "more than %u field classes", CTF2_MAX_FIELD_CLASSES);
	if (json_object_is_type(fc, json_type_string)) {
		/* field class alias name */
		const char *name = json_object_get_string(fc);

		for (struct cl_ctf2_alias *a = c->s.t->ctf2_aliases; a; a = a->next) {
			if (!strcmp(a->name, name)) {
				c->depth++;
				r = build_fc(c, a->fc, ret);
				c->depth--;
				return r;
			}
		}
		return C2ERR(c, -EBADMSG, "unknown field class alias '%s'", name);
	}
	if (!json_object_is_type(fc, json_type_object))
		return C2ERR(c, -EBADMSG, "field class is not an object");
	type = json_object_get_string(member(fc, "type"));
	if (!member(fc, "type") || !json_object_is_type(member(fc, "type"), json_type_string))
		return C2ERR(c, -EBADMSG, "field class without a type");
	c->depth++;
	if (!strcmp(type, "fixed-length-unsigned-integer"))
		r = build_int(c, fc, false, ret);
	else if (!strcmp(type, "fixed-length-signed-integer"))
		r = build_int(c, fc, true, ret);
	else if (!strcmp(type, "fixed-length-bit-map"))
		r = build_bitmap(c, fc, ret);
	else if (!strcmp(type, "fixed-length-floating-point-number"))
		r = build_float(c, fc, ret);
	else if (!strcmp(type, "null-terminated-string")) {
		r = check_utf8(c, fc);
		if (r >= 0) {
			*ret = new_type(c, CL_K_STRING);
			r = *ret ? 0 : -ENOMEM;
			if (r >= 0)
				(*ret)->align = 8;
		}
	} else if (!strcmp(type, "static-length-string") ||
		   !strcmp(type, "dynamic-length-string")) {
		r = check_utf8(c, fc);
		if (r >= 0)
			r = build_text_array(c, fc, type[0] == 'd', true, ret);
	} else if (!strcmp(type, "static-length-blob")) {
		if (c->scope != SC_PKT_HDR && c->scope != SC_EV_HDR)
			r = C2ERR(c, -ENOTSUP, "printed BLOB fields not supported");
		else
			r = build_text_array(c, fc, false, false, ret);
	} else if (!strcmp(type, "structure"))
		r = build_struct(c, fc, ret);
	else if (!strcmp(type, "static-length-array"))
		r = build_array(c, fc, false, ret);
	else if (!strcmp(type, "dynamic-length-array"))
		r = build_array(c, fc, true, ret);
	else if (!strcmp(type, "variant"))
		r = build_variant(c, fc, ret);
	else if (!strcmp(type, "fixed-length-bit-array") || !strcmp(type, "fixed-length-boolean") ||
		 !strcmp(type, "variable-length-unsigned-integer") ||
		 !strcmp(type, "variable-length-signed-integer") ||
		 !strcmp(type, "dynamic-length-blob") || !strcmp(type, "optional"))
		r = C2ERR(c, -ENOTSUP, "%s field classes not supported yet", type);
	else
		r = C2ERR(c, -EBADMSG, "unknown field class type '%s'", type);
	c->depth--;
	return r;
}

/* A scope's field class (a structure), or NULL when absent. */
static int build_scope(struct c2 *c, json_object *frag, const char *key, enum scope_id sc,
		       struct cl_type **ret)
{
	json_object *fc = member(frag, key);

	*ret = NULL;
	if (!fc)
		return 0;
	c->scope = sc;
	c->depth = 0;
	TRY(build_fc(c, fc, ret));
	if ((*ret)->kind != CL_K_STRUCT)
		return C2ERR(c, -EBADMSG, "'%s' is not a structure", key);
	return 0;
}

static int check_extensions(struct c2 *c, json_object *frag)
{
	json_object *e = member(frag, "extensions");

	if (e && (!json_object_is_type(e, json_type_object) || json_object_object_length(e)))
		return C2ERR(c, -ENOTSUP, "extensions not supported");
	return 0;
}

static int do_preamble(struct c2 *c, json_object *frag)
{
	struct ctflive_ctf_trace *t = c->s.t;
	uint64_t version = 0;
	json_object *u = member(frag, "uuid");

	if (t->ctf2_preamble)
		return C2ERR(c, -EBADMSG, "duplicate preamble");
	TRY(get_u64(c, frag, "version", true, &version));
	if (version != 2)
		return C2ERR(c, -ENOTSUP, "CTF version %" PRIu64 " not supported", version);
	TRY(check_extensions(c, frag));
	if (u) {
		if (!json_object_is_type(u, json_type_array) || json_object_array_length(u) != 16)
			return C2ERR(c, -EBADMSG, "invalid metadata stream UUID");
		for (size_t i = 0; i < 16; i++) {
			json_object *b = json_object_array_get_idx(u, i);

			if (!json_object_is_type(b, json_type_int) ||
			    json_object_get_int64(b) < 0 || json_object_get_int64(b) > 255)
				return C2ERR(c, -EBADMSG, "invalid metadata stream UUID");
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
	json_object *env = member(frag, "environment");

	if (t->have_trace)
		return C2ERR(c, -EBADMSG,
			     "duplicate trace class, or trace class after a data "
			     "stream class");
	if (env) {
		if (!json_object_is_type(env, json_type_object))
			return C2ERR(c, -EBADMSG, "'environment' is not an object");
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
					return C2ERR(c, -EBADMSG,
						     "environment entry '%s' out of range", k);
			} else {
				return C2ERR(c, -EBADMSG, "invalid environment entry '%s'", k);
			}
			cl_meta_env_add(t, e);
		}
	}
	TRY(get_str(c, frag, "uid", false, &t->ctf2_uid));
	TRY(build_scope(c, frag, "packet-header-field-class", SC_PKT_HDR, &hdr));
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
	json_object *off = member(frag, "offset-from-origin"), *origin = member(frag, "origin");

	if (!k)
		return -ENOMEM;
	TRY(get_str(c, frag, "id", true, &k->id));
	TRY(get_str(c, frag, "name", false, &k->name));
	if (!k->name)
		k->name = k->id;
	TRY(get_str(c, frag, "description", false, &k->description));
	TRY(get_u64(c, frag, "frequency", true, &k->freq));
	if (!k->freq)
		return C2ERR(c, -EBADMSG, "clock frequency 0");
	TRY(get_u64(c, frag, "precision", false, &k->precision));
	if (off) {
		if (!json_object_is_type(off, json_type_object))
			return C2ERR(c, -EBADMSG, "invalid 'offset-from-origin'");
		TRY(get_i64(c, off, "seconds", &k->offset_s));
		TRY(get_u64(c, off, "cycles", false, &k->offset));
		if (k->offset_s > INT64_MAX / 1000000000 || k->offset_s < INT64_MIN / 1000000000)
			return C2ERR(c, -EBADMSG, "clock offset out of range");
	}
	if (origin && json_object_is_type(origin, json_type_string) &&
	    !strcmp(json_object_get_string(origin), "unix-epoch"))
		k->absolute = true;
	for (struct cl_clock *o = t->clocks; o; o = o->next)
		if (o->id && !strcmp(o->id, k->id))
			return C2ERR(c, -EBADMSG, "duplicate clock class '%s'", k->id);
	if (cl_clock_calibrate(k) < 0)
		return C2ERR(c, -EBADMSG, "clock offset out of range");
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
	TRY(get_u64(c, frag, "id", false, &sc->id));
	TRY(get_str(c, frag, "default-clock-class-id", false, &clk_id));
	if (clk_id) {
		for (clk = t->clocks; clk; clk = clk->next)
			if (clk->id && !strcmp(clk->id, clk_id))
				break;
		if (!clk)
			return C2ERR(c, -EBADMSG, "unknown clock class '%s'", clk_id);
	}
	TRY(build_scope(c, frag, "packet-context-field-class", SC_PKT_CTX, &pc));
	TRY(build_scope(c, frag, "event-record-header-field-class", SC_EV_HDR, &eh));
	TRY(build_scope(c, frag, "event-record-common-context-field-class", SC_EV_SCTX, &ec));
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
	json_object *a = member(frag, "attributes");

	if (!a || !json_object_is_type(a, json_type_object))
		return NULL;
	for (size_t i = 0; i < CL_ARRAY_SIZE(nss); i++) {
		json_object *ns = member(a, nss[i]), *v;

		if (!ns || !json_object_is_type(ns, json_type_object))
			continue;
		v = member(ns, name);
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
	TRY(get_u64(c, frag, "id", false, &ev->id));
	TRY(get_u64(c, frag, "data-stream-class-id", false, &ev->stream_id));
	TRY(get_str(c, frag, "name", false, &ev->name));
	if (!ev->name)
		ev->name = "";
	attr_log_level(frag, &ev->loglevel);
	emf = user_attr_str(frag, "emf-uri");
	if (emf && !(ev->emf_uri = cl_arena_strdup(&t->arena, emf)))
		return -ENOMEM;
	TRY(build_scope(c, frag, "specific-context-field-class", SC_EV_CTX, &ctx));
	TRY(build_scope(c, frag, "payload-field-class", SC_PAYLOAD, &fields));
	if (!t->streams)
		return C2ERR(c, -EBADMSG, "event record class before any data stream class");
	/* CTF 2: both ids default to 0 */
	return cl_meta_event_finish(&c->s, ev, true, true, ctx, fields, c->fragno, 0);
}

static int do_alias(struct c2 *c, json_object *frag)
{
	struct ctflive_ctf_trace *t = c->s.t;
	struct cl_ctf2_alias *a = cl_arena_alloc(&t->arena, sizeof(*a));
	struct cl_type *ty;
	json_object *fc = member(frag, "field-class");

	if (!a)
		return -ENOMEM;
	TRY(get_str(c, frag, "name", true, &a->name));
	for (struct cl_ctf2_alias *o = t->ctf2_aliases; o; o = o->next)
		if (!strcmp(o->name, a->name))
			return C2ERR(c, -EBADMSG, "duplicate field class alias '%s'", a->name);
	/* checked now, so an alias only names earlier aliases: no cycles */
	c->scope = SC_PAYLOAD;
	c->depth = 0;
	TRY(build_fc(c, fc, &ty));
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
	json_object *ty = member(frag, "type");

	c->frag = "?";
	if (!json_object_is_type(frag, json_type_object) || !ty ||
	    !json_object_is_type(ty, json_type_string))
		return C2ERR(c, -EBADMSG, "fragment is not an object with a 'type'");
	c->frag = json_object_get_string(ty);
	for (size_t k = 0; k < CL_ARRAY_SIZE(kinds); k++) {
		if (!strcmp(c->frag, kinds[k].type)) {
			if (k > 0 && !c->s.t->ctf2_preamble)
				return C2ERR(c, -EBADMSG, "first fragment is not a preamble");
			return kinds[k].fn(c, frag);
		}
	}
	return C2ERR(c, -EBADMSG, "unknown fragment type");
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
				return C2ERR(c, -EBADMSG, "trailing data after the JSON value");
			}
		}
	}
	if (!o) {
		json_tokener_free(tok);
		c->frag = "?";
		return C2ERR(c, -EBADMSG, "invalid JSON: %s",
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
			return C2ERR(&c, -EBADMSG, "expecting 0x1E at offset %zu", t->committed);
		}
		next = memchr(start + 1, 0x1e, (size_t)(end - start - 1));
		n = (size_t)((next ? next : end) - start - 1);
		/* The last fragment is parsed once its braces balance (the
		 * scanner crash recovery uses): before, it may still grow. */
		if (!next && !final &&
		    cl_metadata_text_complete_len((const uint8_t *)start, n + 1) < n + 1)
			return 0;
		if (n > (size_t)INT32_MAX)
			return C2ERR(&c, -E2BIG, "fragment too large");
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
		return C2ERR(&c, -EBADMSG, "no trace class and no data stream class");
	}
	if (final && !t->streams) {
		c.frag = "?";
		return C2ERR(&c, -EBADMSG, "no data stream class");
	}
	return 0;
}
