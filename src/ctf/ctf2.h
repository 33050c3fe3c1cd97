/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the two halves of the CTF 2 metadata front end:
 * ctf2-meta.c (the JSON text sequence and its fragments) and ctf2-fields.c
 * (field classes). Errors are negative errno values with c->s.err set.
 */
#ifndef CL_CTF2_H
#define CL_CTF2_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "meta.h"

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
	/* names of the structure members being built, from the scope's root:
	 * relative field locations with parent (null) items are made absolute */
	const char *path[CL_TSDL_MAX_DEPTH + 8];
	int npath;
	bool in_alias; /* building an alias on its own: no scope to locate in */
};

/* Sets c->s.err to "CTF 2 <fragment> fragment (#n): <message>"; returns code. */
__attribute__((format(printf, 3, 4))) int cl_c2_err(struct c2 *c, int code, const char *fmt, ...);
/* Member `key` of object `o` (borrowed), NULL if absent or `o` is no object. */
json_object *cl_c2_member(json_object *o, const char *key);
/* Unsigned / signed integer and string members: -EBADMSG for a wrong type,
 * a negative or saturated value, or a missing required one; *ret untouched
 * when absent and not required. Strings are copied to the trace's arena. */
int cl_c2_get_u64(struct c2 *c, json_object *o, const char *key, bool required, uint64_t *ret);
int cl_c2_get_i64(struct c2 *c, json_object *o, const char *key, int64_t *ret);
int cl_c2_get_str(struct c2 *c, json_object *o, const char *key, bool required, const char **ret);
/* A non-empty `extensions` object is refused (-ENOTSUP), as babeltrace2
 * 2.1.2 supports no extension; an empty one is accepted. */
int cl_c2_check_extensions(struct c2 *c, json_object *o);
/* Field class `fc` (an object, or the name of an alias defined before) into
 * *ret (arena). -EBADMSG, -ENOTSUP, -E2BIG (nesting, field class count),
 * -ENOMEM. */
int cl_c2_build_fc(struct c2 *c, json_object *fc, struct cl_type **ret);
/* The structure field class of scope `sc` at `key` of `frag`, *ret NULL when
 * absent. */
int cl_c2_build_scope(struct c2 *c, json_object *frag, const char *key, enum scope_id sc,
		      struct cl_type **ret);

#endif
