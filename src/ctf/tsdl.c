/* SPDX-License-Identifier: MIT */
/*
 * Hand-written TSDL lexer and recursive-descent parser.
 *
 * Lexical rules follow babeltrace2 2.0.4's lexer: C comments, decimal/octal/
 * hex integers with C suffixes (too large = error), string and character
 * literals with C escapes (an unknown escape is an error), identifiers,
 * keywords, punctuation. Like C, an identifier naming a previously declared
 * typedef/typealias is a type name (the "lexer hack"); names are scoped by
 * braces.
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

#include "macro.h"
#include "tsdl.h"

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

static const char *const kw_names[] = {
	"align",   "const",          "char",    "clock",   "double", "enum",     "env",
	"event",   "floating_point", "float",   "integer", "int",    "long",     "short",
	"signed",  "stream",         "string",  "struct",  "trace",  "callsite", "typealias",
	"typedef", "unsigned",       "variant", "void",    "_Bool",  "_Complex", "_Imaginary",
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

#define EINCOMPLETE EAGAIN

static int perr(struct tsdl_parser *p, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int perr(struct tsdl_parser *p, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (p->err) {
		p->err->line = line;
		p->err->col = col;
		p->err->offset = UINT64_MAX;
		va_start(ap, fmt);
		vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* ---- lexer ------------------------------------------------------------ */

static void lx_adv(struct lexer *lx, size_t n)
{
	while (n-- > 0 && lx->pos < lx->len) {
		if (lx->s[lx->pos] == '\n') {
			lx->line++;
			lx->col = 1;
		} else {
			lx->col++;
		}
		lx->pos++;
	}
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Skips whitespace and comments; -EINCOMPLETE inside an unterminated comment. */
static int lx_skip(struct tsdl_parser *p)
{
	struct lexer *lx = &p->lx;

	for (;;) {
		if (lx->pos >= lx->len)
			return 0;
		char c = lx->s[lx->pos];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			lx_adv(lx, 1);
		} else if (c == '/' && lx->pos + 1 < lx->len && lx->s[lx->pos + 1] == '*') {
			const char *e = NULL;
			size_t i;

			for (i = lx->pos + 2; i + 1 < lx->len; i++) {
				if (lx->s[i] == '*' && lx->s[i + 1] == '/') {
					e = lx->s + i;
					break;
				}
			}
			if (!e) {
				if (!p->final)
					return -EINCOMPLETE;
				return perr(p, lx->line, lx->col, "unterminated comment");
			}
			lx_adv(lx, (size_t)(e - (lx->s + lx->pos)) + 2);
		} else if (c == '/' && lx->pos + 1 < lx->len && lx->s[lx->pos + 1] == '/') {
			while (lx->pos < lx->len && lx->s[lx->pos] != '\n')
				lx_adv(lx, 1);
			if (lx->pos >= lx->len && !p->final)
				return -EINCOMPLETE;
		} else if (c == '/' && lx->pos + 1 >= lx->len && !p->final) {
			return -EINCOMPLETE;
		} else {
			return 0;
		}
	}
}

/* Decodes a string or char literal starting at the quote. */
static int lx_quoted(struct tsdl_parser *p, struct tok *t, char q)
{
	struct lexer *lx = &p->lx;
	size_t i = lx->pos + 1, cap = 64, n = 0;
	char *out = malloc(cap);
	int r = 0;

	if (!out)
		return -ENOMEM;
	for (;;) {
		if (i >= lx->len) {
			r = p->final ? perr(p, t->line, t->col, "unterminated literal")
				     : -EINCOMPLETE;
			goto out;
		}
		char c = lx->s[i];
		unsigned v;
		if (c == q) {
			i++;
			break;
		}
		if (c == '\n') {
			r = perr(p, t->line, t->col, "newline in literal");
			goto out;
		}
		if (c == '\\') {
			if (i + 1 >= lx->len) {
				r = p->final ? perr(p, t->line, t->col, "unterminated literal")
					     : -EINCOMPLETE;
				goto out;
			}
			char e = lx->s[i + 1];
			i += 2;
			switch (e) {
			case '\\':
			case '"':
			case '\'':
			case '?':
				v = (unsigned char)e;
				break;
			case 'a':
				v = 7;
				break;
			case 'b':
				v = 8;
				break;
			case 'f':
				v = 12;
				break;
			case 'n':
				v = 10;
				break;
			case 'r':
				v = 13;
				break;
			case 't':
				v = 9;
				break;
			case 'v':
				v = 11;
				break;
			case 'x': {
				int h, k = 0;

				v = 0;
				while (i < lx->len && (h = hexval(lx->s[i])) >= 0) {
					v = (v << 4 | (unsigned)h) & 0xffu;
					i++;
					k++;
				}
				if (k == 0) {
					r = perr(p, t->line, t->col,
						 "invalid escape '\\x' in literal");
					goto out;
				}
				break;
			}
			default:
				if (e >= '0' && e <= '7') {
					int k = 1;

					v = (unsigned)(e - '0');
					while (k < 3 && i < lx->len && lx->s[i] >= '0' &&
					       lx->s[i] <= '7') {
						v = v * 8 + (unsigned)(lx->s[i] - '0');
						i++;
						k++;
					}
					v &= 0xffu;
					break;
				}
				r = perr(p, t->line, t->col,
					 "invalid escape sequence '\\%c' in literal", e);
				goto out;
			}
			c = (char)v;
		} else {
			i++;
		}
		if (n + 2 > cap) {
			char *nb;

			cap *= 2;
			nb = realloc(out, cap);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			out = nb;
		}
		out[n++] = c;
	}
	t->sval = cl_arena_strndup(p->arena, out, n);
	if (!t->sval) {
		r = -ENOMEM;
		goto out;
	}
	t->len = i - lx->pos;
	lx_adv(lx, t->len);
out:
	free(out);
	return r;
}

static int lx_number(struct tsdl_parser *p, struct tok *t)
{
	struct lexer *lx = &p->lx;
	size_t i = lx->pos;
	unsigned base = 10;
	uint64_t v = 0;
	bool over = false, any = false;

	if (lx->s[i] == '0' && i + 1 < lx->len && (lx->s[i + 1] == 'x' || lx->s[i + 1] == 'X')) {
		base = 16;
		i += 2;
	} else if (lx->s[i] == '0') {
		base = 8;
	}
	for (; i < lx->len; i++) {
		int d = hexval(lx->s[i]);

		if (d < 0 || (unsigned)d >= base)
			break;
		any = true;
		if (v > (UINT64_MAX - (unsigned)d) / base)
			over = true;
		v = v * base + (unsigned)d;
	}
	if (base == 16 && !any)
		return perr(p, t->line, t->col, "invalid hexadecimal literal");
	while (i < lx->len &&
	       (lx->s[i] == 'u' || lx->s[i] == 'U' || lx->s[i] == 'l' || lx->s[i] == 'L'))
		i++;
	if (i < lx->len && is_ident_char(lx->s[i]))
		return perr(p, t->line, t->col, "invalid integer literal");
	if (i >= lx->len && !p->final)
		return -EINCOMPLETE;
	if (over)
		return perr(p, t->line, t->col, "integer literal '%.*s' does not fit in 64 bits",
			    (int)CL_MIN(i - lx->pos, 64u), lx->s + lx->pos);
	t->kind = T_INT;
	t->ival = v;
	t->len = i - lx->pos;
	lx_adv(lx, t->len);
	return 0;
}

static int lx_next(struct tsdl_parser *p, struct tok *t)
{
	struct lexer *lx = &p->lx;
	int r = lx_skip(p);

	if (r < 0)
		return r;
	memset(t, 0, sizeof(*t));
	t->start = lx->pos;
	t->line = lx->line;
	t->col = lx->col;
	if (lx->pos >= lx->len) {
		t->kind = T_EOF;
		return 0;
	}
	const char *s = lx->s + lx->pos;
	size_t left = lx->len - lx->pos;
	char c = s[0];

	if (is_ident_start(c)) {
		size_t n = 1;

		while (n < left && is_ident_char(s[n]))
			n++;
		if (n == left && !p->final)
			return -EINCOMPLETE;
		t->kind = T_IDENT;
		t->len = n;
		for (size_t k = 0; k < CL_ARRAY_SIZE(kw_names); k++) {
			if (strlen(kw_names[k]) == n && memcmp(kw_names[k], s, n) == 0) {
				t->kind = T_KW;
				t->kw = (int)k;
				break;
			}
		}
		lx_adv(lx, n);
		return 0;
	}
	if (c >= '0' && c <= '9')
		return lx_number(p, t);
	if (c == '"') {
		t->kind = T_STRING;
		return lx_quoted(p, t, '"');
	}
	if (c == '\'') {
		t->kind = T_CHAR;
		r = lx_quoted(p, t, '\'');
		if (r == 0)
			t->ival = t->sval[0] ? (uint64_t)(unsigned char)t->sval[0] : 0;
		return r;
	}
	t->len = 1;
	switch (c) {
	case '{':
		t->kind = T_LBRACE;
		break;
	case '}':
		t->kind = T_RBRACE;
		break;
	case '[':
		t->kind = T_LBRACK;
		break;
	case ']':
		t->kind = T_RBRACK;
		break;
	case '(':
		t->kind = T_LPAREN;
		break;
	case ')':
		t->kind = T_RPAREN;
		break;
	case '<':
		t->kind = T_LT;
		break;
	case '>':
		t->kind = T_GT;
		break;
	case ';':
		t->kind = T_SEMI;
		break;
	case ',':
		t->kind = T_COMMA;
		break;
	case '+':
		t->kind = T_PLUS;
		break;
	case '*':
		t->kind = T_STAR;
		break;
	case '=':
		t->kind = T_EQ;
		break;
	case ':':
		if (left < 2 && !p->final)
			return -EINCOMPLETE;
		if (left >= 2 && s[1] == '=') {
			t->kind = T_ASSIGN_TYPE;
			t->len = 2;
		} else {
			t->kind = T_COLON;
		}
		break;
	case '-':
		if (left < 2 && !p->final)
			return -EINCOMPLETE;
		if (left >= 2 && s[1] == '>') {
			t->kind = T_ARROW;
			t->len = 2;
		} else {
			t->kind = T_MINUS;
		}
		break;
	case '.':
		if (left < 3 && !p->final)
			return -EINCOMPLETE;
		if (left >= 3 && s[1] == '.' && s[2] == '.') {
			t->kind = T_ELLIPSIS;
			t->len = 3;
		} else {
			t->kind = T_DOT;
		}
		break;
	default:
		if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
			return perr(p, t->line, t->col, "unexpected character '%c'", c);
		return perr(p, t->line, t->col, "unexpected byte 0x%02x",
			    (unsigned)(unsigned char)c);
	}
	lx_adv(lx, t->len);
	return 0;
}

/* ---- parser helpers --------------------------------------------------- */

#define TRY(expr)                  \
	do {                       \
		int r_ = (expr);   \
		if (r_ < 0)        \
			return r_; \
	} while (0)

static int advance(struct tsdl_parser *p)
{
	return lx_next(p, &p->tok);
}

static int eof_or_err(struct tsdl_parser *p, const char *what)
{
	if (p->tok.kind == T_EOF && !p->final)
		return -EINCOMPLETE;
	if (p->tok.kind == T_EOF)
		return perr(p, p->tok.line, p->tok.col, "unexpected end of metadata, expecting %s",
			    what);
	return perr(p, p->tok.line, p->tok.col, "syntax error near '%.*s', expecting %s",
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
	if (p->nnames == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 32;
		struct tname *n = realloc(p->names, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->names = n;
		p->cap = nc;
	}
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
		perr(p, p->tok.line, p->tok.col, "nesting deeper than %d", CL_TSDL_MAX_DEPTH);
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
				return perr(p, p->tok.line, p->tok.col, "path too long");
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
		return perr(p, v.line, v.col, "expecting an integer");
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
			return perr(p, p->tok.line, p->tok.col, "type name too long");
		memcpy(buf, p->lx.s + p->tok.start, p->tok.len);
		n = p->tok.len;
		TRY(advance(p));
	}
	while (!named && p->tok.kind == T_KW && is_ctype_kw(p->tok.kw)) {
		if (p->tok.len + 2 > sizeof(buf) - n)
			return perr(p, p->tok.line, p->tok.col, "type name too long");
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
					return perr(p, v.line, v.col,
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
				return perr(p, v.line, v.col, "expecting a length");
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
			return perr(p, p->tok.line, p->tok.col, "type name too long");
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
