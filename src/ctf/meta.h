/* SPDX-License-Identifier: MIT */
/*
 * Shared between the semantic pass (meta.c: top-level blocks; meta-types.c:
 * types and symbol scopes) and the compilation of dynamic scopes into decode
 * trees and flat programs (compile.c).
 */
#ifndef CL_CTF_META_H
#define CL_CTF_META_H

#include "tsdl.h"

struct sym {
	const char *name; /* "struct X", "enum X", "variant X" or a type name */
	struct cl_type *type;
	struct sym *next;
};

struct sema {
	struct ctflive_ctf_trace *t;
	struct sym *syms; /* innermost first, ends with the root list */
	struct ctflive_ctf_diag *err;
	int depth;
};

#define SERR(s, line, col, ...) (cl_diag_set((s)->err, (line), (col), __VA_ARGS__), -EBADMSG)
#define WARN(s, line, col, ...) cl_diag_add(&(s)->t->warnings, (line), (col), __VA_ARGS__)

#define TRY(expr)                  \
	do {                       \
		int r_ = (expr);   \
		if (r_ < 0)        \
			return r_; \
	} while (0)

/* Attribute values (meta-types.c). Errors: -EBADMSG (with s->err). */
int cl_meta_value_u64(struct sema *s, const struct ast_value *v, const char *what, uint64_t *ret);
int cl_meta_value_bool(struct sema *s, const struct ast_value *v, const char *what, bool *ret);
int cl_meta_value_bo(struct sema *s, const struct ast_value *v, bool allow_native, enum cl_bo *ret);
/* Builds the type of AST node `a` into *ret, resolving type names in s->syms
 * (meta-types.c). Errors: -EBADMSG (with s->err), -ENOMEM. */
int cl_meta_build_type(struct sema *s, const struct ast_type *a, struct cl_type **ret);
/* Type declarations valid in any scope; fields only when owner != NULL
 * (meta-types.c). Errors: -EBADMSG (with s->err), -ENOMEM. */
int cl_meta_body_entry(struct sema *s, const struct ast_entry *e, struct cl_type *owner);

enum scope_id {
	SC_PKT_HDR,
	SC_PKT_CTX,
	SC_EV_HDR,
	SC_EV_SCTX,
	SC_EV_CTX,
	SC_PAYLOAD,
	SC_COUNT,
};

struct cframe {
	struct cl_node *node; /* struct being built */
	uint32_t nkids;       /* kids completed so far */
};

/* CTF 2: a compound node being compiled and which of its parts is (member
 * or option index; 0 for an array's or optional's element) */
struct copen {
	struct cl_node *node;
	uint32_t idx;
};

struct cctx {
	struct sema *s;
	struct cl_stream_class *sc;
	enum scope_id scope;
	struct cl_node *roots[SC_COUNT];
	struct cframe stack[CL_TSDL_MAX_DEPTH + 8];
	int depth;
	/* CTF 2: every compound node from the scope's root to the field being
	 * compiled, for field locations (struct cl_floc) */
	struct copen open[2 * CL_TSDL_MAX_DEPTH + 16];
	int nopen;
};

/* Compiles scope `sc` of type `t` (a structure, or NULL) into *ret and its
 * flat decode program. Errors: -EBADMSG (with c->s->err), -E2BIG, -ENOMEM. */
int cl_compile_scope(struct cctx *c, enum scope_id sc, const struct cl_type *t,
		     struct cl_node **ret);
/* Replaces an LTTng event header's program by a fused instruction when it
 * matches exactly; otherwise leaves it alone. Errors: -ENOMEM. */
int cl_fuse_lttng_header(struct cctx *c, struct cl_node *h);

/* The end of a stream class and of an event class, shared by the TSDL and
 * CTF 2 front ends (meta.c): compiles the scopes, checks ids, links the
 * class into the trace. Errors: -EBADMSG (with s->err), -E2BIG, -ENOMEM. */
int cl_meta_stream_finish(struct sema *s, struct cl_stream_class *sc, const struct cl_type *pc,
			  const struct cl_type *eh, const struct cl_type *ec, int line, int col);
int cl_meta_event_finish(struct sema *s, struct cl_event_class *ev, bool have_id, bool have_sid,
			 const struct cl_type *ctx, const struct cl_type *fields, int line,
			 int col);
/* Adds (or replaces) an environment entry, noting the LTTng ones (meta.c). */
void cl_meta_env_add(struct ctflive_ctf_trace *t, struct cl_env *v);
/* Normalizes a clock's offset and computes base_ns; -ERANGE if out of range. */
int cl_clock_calibrate(struct cl_clock *c);

#endif
