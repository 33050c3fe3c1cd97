/* SPDX-License-Identifier: MIT */
/*
 * TSDL (CTF 1.8 metadata language) lexer, parser and AST.
 *
 * The AST mirrors the text and knows nothing about decoding; meta.c turns it
 * into the trace model. Every node carries the line:column of its first
 * token. All nodes and strings live in the arena given to the parser.
 */
#ifndef CL_TSDL_H
#define CL_TSDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctf-internal.h"

struct ast_int {
	uint64_t mag;
	bool neg;
};

enum ast_value_kind { AV_INT = 1, AV_STRING, AV_PATH };

struct ast_value {
	enum ast_value_kind kind;
	struct ast_int i;
	const char *s; /* string contents or dotted path */
	int line, col;
};

struct ast_suffix {
	bool is_path;
	uint64_t len;
	const char *path;
};

struct ast_decl {
	const char *name;
	struct ast_suffix *suf;
	uint32_t nsuf;
	int line, col;
};

enum ast_type_kind {
	AT_INTEGER = 1,
	AT_FLOAT,
	AT_STRING,
	AT_STRUCT,
	AT_VARIANT,
	AT_ENUM,
	AT_NAMED
};

struct ast_enumerator {
	const char *label;
	bool has_val, range;
	struct ast_int lo, hi;
	int line, col;
	struct ast_enumerator *next;
};

struct ast_entry;

struct ast_type {
	enum ast_type_kind kind;
	int line, col;
	const char *name;        /* tag name (struct/variant/enum) or type name */
	struct ast_entry *attrs; /* integer/floating_point/string attributes */
	bool has_body;
	struct ast_entry *body; /* struct/variant body */
	bool has_align;
	struct ast_int align;
	const char *tag;            /* variant <tag> */
	struct ast_type *container; /* enum : container */
	struct ast_enumerator *enums;
};

enum ast_entry_kind {
	AE_ATTR = 1,    /* key = value; */
	AE_TYPE_ASSIGN, /* key := type; */
	AE_FIELD,       /* type decl, decl...; */
	AE_TYPEALIAS,   /* typealias type [suffixes] := name; (decls[0]) */
	AE_TYPEDEF,     /* typedef type decl...; */
	AE_TYPEDECL,    /* struct X {...}; enum X {...}; variant X {...}; */
};

struct ast_entry {
	enum ast_entry_kind kind;
	int line, col;
	const char *key;
	struct ast_value val;
	struct ast_type *type;
	struct ast_decl *decls;
	uint32_t ndecls;
	struct ast_entry *next;
};

enum ast_top_kind {
	TOP_TRACE = 1,
	TOP_STREAM,
	TOP_EVENT,
	TOP_ENV,
	TOP_CLOCK,
	TOP_CALLSITE,
	TOP_DECL, /* typealias/typedef/type declaration at root (entries: one) */
};

struct ast_top {
	enum ast_top_kind kind;
	int line, col;
	struct ast_entry *entries;
	struct ast_top *next;
};

struct tsdl_parser;

/* Creates a parser allocating from `a` (borrowed). NULL on ENOMEM. */
struct tsdl_parser *tsdl_parser_new(struct cl_arena *a);
void tsdl_parser_free(struct tsdl_parser *p);

/*
 * Parses the complete top-level declarations of text[*pos, len). On return
 * pos, line and col point just after the last complete declaration and
 * *ret_list holds their ASTs in text order. When `final` is false an
 * incomplete last declaration is not an error (it is parsed again once more
 * text arrives). Errors: -EBADMSG (with reterr line:col and message), -E2BIG
 * (nesting deeper than CL_TSDL_MAX_DEPTH), -ENOMEM.
 */
int tsdl_parse(struct tsdl_parser *p, const char *text, size_t len, size_t *pos, int *line,
	       int *col, bool final, struct ast_top **ret_list, struct ctflive_ctf_diag *reterr);

#endif
