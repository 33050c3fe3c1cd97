/* SPDX-License-Identifier: MIT */
/*
 * Recursive-descent TSDL parser (tokens from tsdl-lex.c).
 *
 * Like C, an identifier naming a previously declared typedef/typealias is a
 * type name (the "lexer hack"); names are scoped by braces.
 *
 * The parser works one top-level declaration at a time so metadata can
 * arrive in pieces: hitting the end of the text inside a declaration yields
 * -EAGAIN internally and the declaration is parsed again later.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "macro.h"
#include "tsdl-lex.h"

/* ---- parser helpers --------------------------------------------------- */

#define TRY(expr)                  \
	do {                       \
		int r_ = (expr);   \
		if (r_ < 0)        \
			return r_; \
	} while (0)

static int advance(struct tsdl_parser *p)
{
	return cl_tsdl_lex(p, &p->tok);
}

static int eof_or_err(struct tsdl_parser *p, const char *what)
{
	if (p->tok.kind == T_EOF && !p->final)
		return -EINCOMPLETE;
	if (p->tok.kind == T_EOF)
		return cl_tsdl_perr(p, p->tok.line, p->tok.col,
				    "unexpected end of metadata, expecting %s", what);
	return cl_tsdl_perr(p, p->tok.line, p->tok.col, "syntax error near '%.*s', expecting %s",
			    (int)CL_MIN(p->tok.len, 40u), p->lx.s + p->tok.start, what);
}

static int expect(struct tsdl_parser *p, enum tok_kind k, const char *what)
{
	if (p->tok.kind != k)
		return eof_or_err(p, what);
	return advance(p);
}

static bool is_kw(const struct tsdl_parser *p, int kw)
{
	return p->tok.kind == T_KW && p->tok.kw == kw;
}

static const char *tok_text(struct tsdl_parser *p)
{
	return cl_arena_strndup(p->arena, p->lx.s + p->tok.start, p->tok.len);
}

static bool is_typename(const struct tsdl_parser *p, const char *s, size_t n)
{
	for (size_t i = p->nnames; i-- > 0;) {
		if (strlen(p->names[i].name) == n && memcmp(p->names[i].name, s, n) == 0)
			return true;
	}
	return false;
}

static int add_typename(struct tsdl_parser *p, const char *name)
{
	if (cl_grow(&p->names, &p->cap, p->nnames + 1) < 0)
		return -ENOMEM;
	p->names[p->nnames].name = name;
	p->names[p->nnames].depth = p->depth;
	p->nnames++;
	return 0;
}

static void pop_scope(struct tsdl_parser *p)
{
	while (p->nnames > 0 && p->names[p->nnames - 1].depth > p->depth)
		p->nnames--;
}

static int push_depth(struct tsdl_parser *p)
{
	if (++p->depth > CL_TSDL_MAX_DEPTH) {
		cl_tsdl_perr(p, p->tok.line, p->tok.col, "nesting deeper than %d",
			     CL_TSDL_MAX_DEPTH);
		return -E2BIG;
	}
	return 0;
}

static void pop_depth(struct tsdl_parser *p)
{
	p->depth--;
	pop_scope(p);
}

static bool is_ctype_kw(int kw)
{
	switch (kw) {
	case KW_CONST:
	case KW_CHAR:
	case KW_DOUBLE:
	case KW_FLOAT:
	case KW_INT:
	case KW_LONG:
	case KW_SHORT:
	case KW_SIGNED:
	case KW_UNSIGNED:
	case KW_VOID:
	case KW_BOOL:
	case KW_COMPLEX:
	case KW_IMAGINARY:
		return true;
	default:
		return false;
	}
}

static bool at_type_start(const struct tsdl_parser *p)
{
	if (p->tok.kind == T_KW) {
		switch (p->tok.kw) {
		case KW_INTEGER:
		case KW_FLOATING_POINT:
		case KW_STRING:
		case KW_STRUCT:
		case KW_VARIANT:
		case KW_ENUM:
			return true;
		default:
			return is_ctype_kw(p->tok.kw);
		}
	}
	return p->tok.kind == T_IDENT && is_typename(p, p->lx.s + p->tok.start, p->tok.len);
}

/* ---- values ----------------------------------------------------------- */

/* unary expression: [+-] int | string | char | path (ident/keyword . ident ...) */
static int parse_value(struct tsdl_parser *p, struct ast_value *v)
{
	bool neg = false, sign = false;

	memset(v, 0, sizeof(*v));
	v->line = p->tok.line;
	v->col = p->tok.col;
	while (p->tok.kind == T_MINUS || p->tok.kind == T_PLUS) {
		if (p->tok.kind == T_MINUS)
			neg = !neg;
		sign = true;
		TRY(advance(p));
	}
	if (p->tok.kind == T_INT || p->tok.kind == T_CHAR) {
		v->kind = AV_INT;
		v->i.mag = p->tok.ival;
		v->i.neg = neg && p->tok.ival != 0;
		return advance(p);
	}
	if (sign)
		return eof_or_err(p, "an integer");
	if (p->tok.kind == T_STRING) {
		v->kind = AV_STRING;
		v->s = p->tok.sval;
		return advance(p);
	}
	if (p->tok.kind == T_IDENT || p->tok.kind == T_KW) {
		char buf[512];
		size_t n = 0;

		for (;;) {
			if (p->tok.len + 2 > sizeof(buf) - n)
				return cl_tsdl_perr(p, p->tok.line, p->tok.col, "path too long");
			memcpy(buf + n, p->lx.s + p->tok.start, p->tok.len);
			n += p->tok.len;
			TRY(advance(p));
			if (p->tok.kind != T_DOT && p->tok.kind != T_ARROW)
				break;
			buf[n++] = '.';
			TRY(advance(p));
			if (p->tok.kind != T_IDENT && p->tok.kind != T_KW)
				return eof_or_err(p, "an identifier");
		}
		v->kind = AV_PATH;
		v->s = cl_arena_strndup(p->arena, buf, n);
		return v->s ? 0 : -ENOMEM;
	}
	return eof_or_err(p, "a value");
}

static int parse_int_value(struct tsdl_parser *p, struct ast_int *ret)
{
	struct ast_value v;

	TRY(parse_value(p, &v));
	if (v.kind != AV_INT)
		return cl_tsdl_perr(p, v.line, v.col, "expecting an integer");
	*ret = v.i;
	return 0;
}

/* ---- types ------------------------------------------------------------ */

static int parse_type(struct tsdl_parser *p, struct ast_type **ret);
static int parse_body(struct tsdl_parser *p, struct ast_entry **ret, bool is_block);

static int parse_attr_block(struct tsdl_parser *p, struct ast_entry **ret)
{
	struct ast_entry *head = NULL, **tail = &head;

	TRY(expect(p, T_LBRACE, "'{'"));
	TRY(push_depth(p));
	while (p->tok.kind != T_RBRACE) {
		struct ast_entry *e = cl_arena_alloc(p->arena, sizeof(*e));

		if (!e)
			return -ENOMEM;
		e->kind = AE_ATTR;
		e->line = p->tok.line;
		e->col = p->tok.col;
		if (p->tok.kind != T_IDENT && p->tok.kind != T_KW)
			return eof_or_err(p, "an attribute name");
		e->key = tok_text(p);
		TRY(advance(p));
		TRY(expect(p, T_EQ, "'='"));
		TRY(parse_value(p, &e->val));
		TRY(expect(p, T_SEMI, "';'"));
		*tail = e;
		tail = &e->next;
	}
	pop_depth(p);
	*ret = head;
	return advance(p);
}

static int parse_enum_body(struct tsdl_parser *p, struct ast_type *t)
{
	struct ast_enumerator **tail = &t->enums;

	TRY(expect(p, T_LBRACE, "'{'"));
	while (p->tok.kind != T_RBRACE) {
		struct ast_enumerator *e = cl_arena_alloc(p->arena, sizeof(*e));

		if (!e)
			return -ENOMEM;
		e->line = p->tok.line;
		e->col = p->tok.col;
		if (p->tok.kind == T_STRING)
			e->label = p->tok.sval;
		else if (p->tok.kind == T_IDENT || p->tok.kind == T_KW)
			e->label = tok_text(p);
		else
			return eof_or_err(p, "an enumerator");
		if (!e->label)
			return -ENOMEM;
		TRY(advance(p));
		if (p->tok.kind == T_EQ) {
			TRY(advance(p));
			TRY(parse_int_value(p, &e->lo));
			e->has_val = true;
			e->hi = e->lo;
			if (p->tok.kind == T_ELLIPSIS) {
				TRY(advance(p));
				TRY(parse_int_value(p, &e->hi));
				e->range = true;
			}
		}
		*tail = e;
		tail = &e->next;
		if (p->tok.kind == T_COMMA) {
			TRY(advance(p));
			continue;
		}
		if (p->tok.kind != T_RBRACE)
			return eof_or_err(p, "',' or '}'");
	}
	return advance(p);
}

/* Type name made of C keywords ("unsigned long") or a single typedef name. */
static int parse_named(struct tsdl_parser *p, struct ast_type *t)
{
	char buf[256];
	size_t n = 0;

	bool named = p->tok.kind == T_IDENT;

	if (named) {
		if (p->tok.len + 1 > sizeof(buf))
			return cl_tsdl_perr(p, p->tok.line, p->tok.col, "type name too long");
		memcpy(buf, p->lx.s + p->tok.start, p->tok.len);
		n = p->tok.len;
		TRY(advance(p));
	}
	while (!named && p->tok.kind == T_KW && is_ctype_kw(p->tok.kw)) {
		if (p->tok.len + 2 > sizeof(buf) - n)
			return cl_tsdl_perr(p, p->tok.line, p->tok.col, "type name too long");
		if (n)
			buf[n++] = ' ';
		memcpy(buf + n, p->lx.s + p->tok.start, p->tok.len);
		n += p->tok.len;
		TRY(advance(p));
		if (!(p->tok.kind == T_KW && is_ctype_kw(p->tok.kw)))
			break;
	}
	while (n > 0 && p->tok.kind == T_STAR && n + 3 < sizeof(buf)) {
		buf[n++] = ' ';
		buf[n++] = '*';
		TRY(advance(p));
	}
	if (n == 0)
		return eof_or_err(p, "a type");
	t->kind = AT_NAMED;
	t->name = cl_arena_strndup(p->arena, buf, n);
	return t->name ? 0 : -ENOMEM;
}

static int parse_type(struct tsdl_parser *p, struct ast_type **ret)
{
	struct ast_type *t = cl_arena_alloc(p->arena, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->line = p->tok.line;
	t->col = p->tok.col;
	*ret = t;
	if (p->tok.kind == T_KW) {
		switch (p->tok.kw) {
		case KW_INTEGER:
			t->kind = AT_INTEGER;
			TRY(advance(p));
			return parse_attr_block(p, &t->attrs);
		case KW_FLOATING_POINT:
			t->kind = AT_FLOAT;
			TRY(advance(p));
			return parse_attr_block(p, &t->attrs);
		case KW_STRING:
			t->kind = AT_STRING;
			TRY(advance(p));
			if (p->tok.kind == T_LBRACE)
				return parse_attr_block(p, &t->attrs);
			return 0;
		case KW_STRUCT:
		case KW_VARIANT:
			t->kind = p->tok.kw == KW_STRUCT ? AT_STRUCT : AT_VARIANT;
			TRY(advance(p));
			if (p->tok.kind == T_IDENT ||
			    (p->tok.kind == T_KW && !is_kw(p, KW_ALIGN))) {
				/* tag names share no namespace with type names */
				t->name = tok_text(p);
				TRY(advance(p));
			}
			if (t->kind == AT_VARIANT && p->tok.kind == T_LT) {
				struct ast_value v;

				TRY(advance(p));
				TRY(parse_value(p, &v));
				if (v.kind != AV_PATH)
					return cl_tsdl_perr(p, v.line, v.col,
							    "expecting a variant tag path");
				t->tag = v.s;
				TRY(expect(p, T_GT, "'>'"));
			}
			if (p->tok.kind == T_LBRACE) {
				t->has_body = true;
				TRY(advance(p));
				TRY(push_depth(p));
				TRY(parse_body(p, &t->body, false));
				pop_depth(p);
				TRY(expect(p, T_RBRACE, "'}'"));
			} else if (!t->name) {
				return eof_or_err(p, "'{'");
			}
			if (t->kind == AT_STRUCT && is_kw(p, KW_ALIGN)) {
				TRY(advance(p));
				TRY(expect(p, T_LPAREN, "'('"));
				TRY(parse_int_value(p, &t->align));
				t->has_align = true;
				TRY(expect(p, T_RPAREN, "')'"));
			}
			return 0;
		case KW_ENUM:
			t->kind = AT_ENUM;
			TRY(advance(p));
			if (p->tok.kind == T_IDENT ||
			    (p->tok.kind == T_KW && !is_ctype_kw(p->tok.kw))) {
				t->name = tok_text(p);
				TRY(advance(p));
			}
			if (p->tok.kind == T_COLON) {
				TRY(advance(p));
				TRY(parse_type(p, &t->container));
			}
			if (p->tok.kind == T_LBRACE) {
				t->has_body = true;
				return parse_enum_body(p, t);
			}
			if (!t->name)
				return eof_or_err(p, "'{'");
			return 0;
		default:
			break;
		}
	}
	return parse_named(p, t);
}

/* declarator: IDENT { '[' (int | path) ']' } */
static int parse_suffixes(struct tsdl_parser *p, struct ast_decl *d)
{
	while (p->tok.kind == T_LBRACK) {
		struct ast_suffix *ns;

		TRY(advance(p));
		ns = cl_arena_alloc(p->arena, sizeof(*ns) * (d->nsuf + 1));
		if (!ns)
			return -ENOMEM;
		if (d->nsuf)
			memcpy(ns, d->suf, sizeof(*ns) * d->nsuf);
		d->suf = ns;
		if (p->tok.kind == T_INT) {
			ns[d->nsuf].len = p->tok.ival;
			TRY(advance(p));
		} else {
			struct ast_value v;

			TRY(parse_value(p, &v));
			if (v.kind != AV_PATH)
				return cl_tsdl_perr(p, v.line, v.col, "expecting a length");
			ns[d->nsuf].is_path = true;
			ns[d->nsuf].path = v.s;
		}
		d->nsuf++;
		TRY(expect(p, T_RBRACK, "']'"));
	}
	return 0;
}

static int parse_declarators(struct tsdl_parser *p, struct ast_entry *e, bool allow_none)
{
	if (allow_none && p->tok.kind == T_SEMI)
		return 0;
	for (;;) {
		struct ast_decl *nd = cl_arena_alloc(p->arena, sizeof(*nd) * (e->ndecls + 1));

		if (!nd)
			return -ENOMEM;
		if (e->ndecls)
			memcpy(nd, e->decls, sizeof(*nd) * e->ndecls);
		e->decls = nd;
		nd += e->ndecls;
		nd->line = p->tok.line;
		nd->col = p->tok.col;
		if (p->tok.kind != T_IDENT && p->tok.kind != T_KW)
			return eof_or_err(p, "a field name");
		nd->name = tok_text(p);
		if (!nd->name)
			return -ENOMEM;
		TRY(advance(p));
		TRY(parse_suffixes(p, nd));
		e->ndecls++;
		if (p->tok.kind != T_COMMA)
			return 0;
		TRY(advance(p));
	}
}

/* typealias T [suffixes] := NAME words ; */
static int parse_typealias(struct tsdl_parser *p, struct ast_entry *e)
{
	char buf[256];
	size_t n = 0;
	struct ast_decl *d = cl_arena_alloc(p->arena, sizeof(*d));

	if (!d)
		return -ENOMEM;
	e->kind = AE_TYPEALIAS;
	TRY(advance(p));
	TRY(parse_type(p, &e->type));
	TRY(parse_suffixes(p, d));
	TRY(expect(p, T_ASSIGN_TYPE, "':='"));
	d->line = p->tok.line;
	d->col = p->tok.col;
	while (p->tok.kind == T_IDENT || p->tok.kind == T_KW) {
		if (p->tok.len + 2 > sizeof(buf) - n)
			return cl_tsdl_perr(p, p->tok.line, p->tok.col, "type name too long");
		if (n)
			buf[n++] = ' ';
		memcpy(buf + n, p->lx.s + p->tok.start, p->tok.len);
		n += p->tok.len;
		TRY(advance(p));
	}
	while (p->tok.kind == T_STAR && n + 3 < sizeof(buf)) {
		buf[n++] = ' ';
		buf[n++] = '*';
		TRY(advance(p));
	}
	if (n == 0)
		return eof_or_err(p, "an alias name");
	d->name = cl_arena_strndup(p->arena, buf, n);
	if (!d->name)
		return -ENOMEM;
	e->decls = d;
	e->ndecls = 1;
	return add_typename(p, d->name);
}

/* One entry of a struct/variant body or of a trace/stream/event/... block. */
static int parse_entry(struct tsdl_parser *p, struct ast_entry **ret, bool is_block)
{
	struct ast_entry *e = cl_arena_alloc(p->arena, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->line = p->tok.line;
	e->col = p->tok.col;
	*ret = e;
	if (is_kw(p, KW_TYPEALIAS)) {
		TRY(parse_typealias(p, e));
	} else if (is_kw(p, KW_TYPEDEF)) {
		e->kind = AE_TYPEDEF;
		TRY(advance(p));
		TRY(parse_type(p, &e->type));
		TRY(parse_declarators(p, e, false));
		for (uint32_t i = 0; i < e->ndecls; i++)
			TRY(add_typename(p, e->decls[i].name));
	} else if (is_block && (p->tok.kind == T_IDENT || p->tok.kind == T_KW) &&
		   !at_type_start(p)) {
		/* key [. key]* ( = value | := type ) */
		struct ast_value path;

		TRY(parse_value(p, &path));
		if (path.kind != AV_PATH)
			return eof_or_err(p, "an attribute");
		e->key = path.s;
		if (p->tok.kind == T_EQ) {
			e->kind = AE_ATTR;
			TRY(advance(p));
			TRY(parse_value(p, &e->val));
		} else if (p->tok.kind == T_ASSIGN_TYPE) {
			e->kind = AE_TYPE_ASSIGN;
			TRY(advance(p));
			TRY(parse_type(p, &e->type));
		} else {
			return eof_or_err(p, "'=' or ':='");
		}
	} else {
		struct tok save = p->tok;
		struct lexer lsave = p->lx;

		/* In a block, `name = string;` style entries start with a keyword
		 * that is also a type start: look ahead for '=' / ':='. */
		if (is_block && p->tok.kind == T_KW) {
			TRY(advance(p));
			if (p->tok.kind == T_EQ || p->tok.kind == T_ASSIGN_TYPE ||
			    p->tok.kind == T_DOT) {
				p->tok = save;
				p->lx = lsave;
				struct ast_value path;

				TRY(parse_value(p, &path));
				e->key = path.s;
				if (p->tok.kind == T_EQ) {
					e->kind = AE_ATTR;
					TRY(advance(p));
					TRY(parse_value(p, &e->val));
				} else {
					TRY(expect(p, T_ASSIGN_TYPE, "':='"));
					e->kind = AE_TYPE_ASSIGN;
					TRY(parse_type(p, &e->type));
				}
				return expect(p, T_SEMI, "';'");
			}
			p->tok = save;
			p->lx = lsave;
		}
		if (!at_type_start(p))
			return eof_or_err(p, "a declaration");
		TRY(parse_type(p, &e->type));
		if (p->tok.kind == T_SEMI &&
		    (e->type->kind == AT_STRUCT || e->type->kind == AT_VARIANT ||
		     e->type->kind == AT_ENUM)) {
			e->kind = AE_TYPEDECL;
		} else {
			e->kind = AE_FIELD;
			TRY(parse_declarators(p, e, false));
		}
	}
	return expect(p, T_SEMI, "';'");
}

static int parse_body(struct tsdl_parser *p, struct ast_entry **ret, bool is_block)
{
	struct ast_entry *head = NULL, **tail = &head;

	while (p->tok.kind != T_RBRACE) {
		struct ast_entry *e;

		if (p->tok.kind == T_EOF)
			return eof_or_err(p, "'}'");
		TRY(parse_entry(p, &e, is_block));
		*tail = e;
		tail = &e->next;
	}
	*ret = head;
	return 0;
}

static int parse_top(struct tsdl_parser *p, struct ast_top **ret)
{
	struct ast_top *t = cl_arena_alloc(p->arena, sizeof(*t));
	int kind = 0;

	if (!t)
		return -ENOMEM;
	t->line = p->tok.line;
	t->col = p->tok.col;
	*ret = t;
	if (p->tok.kind == T_KW) {
		switch (p->tok.kw) {
		case KW_TRACE:
			kind = TOP_TRACE;
			break;
		case KW_STREAM:
			kind = TOP_STREAM;
			break;
		case KW_EVENT:
			kind = TOP_EVENT;
			break;
		case KW_ENV:
			kind = TOP_ENV;
			break;
		case KW_CLOCK:
			kind = TOP_CLOCK;
			break;
		case KW_CALLSITE:
			kind = TOP_CALLSITE;
			break;
		default:
			break;
		}
	}
	if (kind) {
		t->kind = (enum ast_top_kind)kind;
		TRY(advance(p));
		TRY(expect(p, T_LBRACE, "'{'"));
		TRY(push_depth(p));
		TRY(parse_body(p, &t->entries, true));
		pop_depth(p);
		TRY(expect(p, T_RBRACE, "'}'"));
		return expect(p, T_SEMI, "';'");
	}
	t->kind = TOP_DECL;
	return parse_entry(p, &t->entries, false);
}

struct tsdl_parser *tsdl_parser_new(struct cl_arena *a)
{
	struct tsdl_parser *p = calloc(1, sizeof(*p));

	if (p)
		p->arena = a;
	return p;
}

void tsdl_parser_free(struct tsdl_parser *p)
{
	if (!p)
		return;
	free(p->names);
	free(p);
}

int tsdl_parse(struct tsdl_parser *p, const char *text, size_t len, size_t *pos, int *line,
	       int *col, bool final, struct ast_top **ret_list, struct ctflive_ctf_diag *reterr)
{
	struct ast_top *head = NULL, **tail = &head;
	int r = 0;

	p->lx.s = text;
	p->lx.len = len;
	p->lx.pos = *pos;
	p->lx.line = *line;
	p->lx.col = *col;
	p->final = final;
	p->err = reterr;
	for (;;) {
		struct lexer start = p->lx;
		size_t nnames = p->nnames;
		struct ast_top *t = NULL;

		p->depth = 0;
		r = advance(p);
		if (r == 0 && p->tok.kind == T_EOF)
			break; /* only whitespace and comments left: commit them */
		if (r == 0)
			r = parse_top(p, &t);
		if (r == -EINCOMPLETE) {
			p->lx = start;
			p->nnames = nnames;
			r = 0;
			break;
		}
		if (r < 0) {
			p->nnames = nnames;
			break;
		}
		/* The lexer read one token past the ';': step back to it. */
		p->lx.pos = p->tok.start;
		p->lx.line = p->tok.line;
		p->lx.col = p->tok.col;
		*tail = t;
		tail = &t->next;
		*pos = p->lx.pos;
		*line = p->lx.line;
		*col = p->lx.col;
	}
	if (r == 0) {
		/* Skip trailing whitespace/comments so callers see progress. */
		*pos = p->lx.pos;
		*line = p->lx.line;
		*col = p->lx.col;
	}
	*ret_list = head;
	return r;
}
