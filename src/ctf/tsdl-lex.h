/* SPDX-License-Identifier: MIT */
/*
 * TSDL tokens and the parser state shared by the lexer (tsdl-lex.c) and the
 * parser (tsdl.c). Internal.
 */
#ifndef CL_TSDL_LEX_H
#define CL_TSDL_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdl.h"

/* "need more text": the declaration is parsed again after the next append */
#define EINCOMPLETE EAGAIN

enum tok_kind {
	T_EOF = 0,
	T_IDENT,
	T_KW,
	T_INT,
	T_STRING,
	T_CHAR,
	T_LBRACE,
	T_RBRACE,
	T_LBRACK,
	T_RBRACK,
	T_LPAREN,
	T_RPAREN,
	T_LT,
	T_GT,
	T_SEMI,
	T_COMMA,
	T_COLON,
	T_ASSIGN_TYPE, /* := */
	T_EQ,
	T_DOT,
	T_ARROW,
	T_ELLIPSIS,
	T_PLUS,
	T_MINUS,
	T_STAR,
};

enum kw {
	KW_ALIGN,
	KW_CONST,
	KW_CHAR,
	KW_CLOCK,
	KW_DOUBLE,
	KW_ENUM,
	KW_ENV,
	KW_EVENT,
	KW_FLOATING_POINT,
	KW_FLOAT,
	KW_INTEGER,
	KW_INT,
	KW_LONG,
	KW_SHORT,
	KW_SIGNED,
	KW_STREAM,
	KW_STRING,
	KW_STRUCT,
	KW_TRACE,
	KW_CALLSITE,
	KW_TYPEALIAS,
	KW_TYPEDEF,
	KW_UNSIGNED,
	KW_VARIANT,
	KW_VOID,
	KW_BOOL,
	KW_COMPLEX,
	KW_IMAGINARY,
};

struct tok {
	enum tok_kind kind;
	int kw;
	size_t start, len;
	int line, col;
	uint64_t ival;
	const char *sval; /* decoded string/char literal (arena) */
};

struct lexer {
	const char *s;
	size_t len, pos;
	int line, col;
};

struct tname {
	const char *name;
	int depth;
};

struct tsdl_parser {
	struct cl_arena *arena;
	struct lexer lx;
	struct tok tok; /* current token */
	bool final;
	int depth;
	struct tname *names; /* owned */
	size_t nnames, cap;
	struct ctflive_ctf_diag *err;
};

/* Reports a syntax error at line:col into p->err; returns -EBADMSG. */
int cl_tsdl_perr(struct tsdl_parser *p, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Next token (whitespace and comments skipped). 0, -EINCOMPLETE at the end
 * of non-final text inside a token or comment, -EBADMSG, -ENOMEM. */
int cl_tsdl_lex(struct tsdl_parser *p, struct tok *t);

#endif
