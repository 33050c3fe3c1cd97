/* SPDX-License-Identifier: MIT */
/*
 * TSDL lexer. Lexical rules follow babeltrace2 2.0.4's: C comments,
 * decimal/octal/hex integers with C suffixes (too large = error), string and
 * character literals with C escapes (an unknown escape is an error),
 * identifiers, keywords, punctuation. Every token carries its line:column.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "macro.h"
#include "tsdl-lex.h"

static const char *const kw_names[] = {
	"align",   "const",          "char",    "clock",   "double", "enum",     "env",
	"event",   "floating_point", "float",   "integer", "int",    "long",     "short",
	"signed",  "stream",         "string",  "struct",  "trace",  "callsite", "typealias",
	"typedef", "unsigned",       "variant", "void",    "_Bool",  "_Complex", "_Imaginary",
};

int cl_tsdl_perr(struct tsdl_parser *p, int line, int col, const char *fmt, ...)
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
				return cl_tsdl_perr(p, lx->line, lx->col, "unterminated comment");
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
			r = p->final ? cl_tsdl_perr(p, t->line, t->col, "unterminated literal")
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
			r = cl_tsdl_perr(p, t->line, t->col, "newline in literal");
			goto out;
		}
		if (c == '\\') {
			if (i + 1 >= lx->len) {
				r = p->final ? cl_tsdl_perr(p, t->line, t->col,
							    "unterminated literal")
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
					r = cl_tsdl_perr(p, t->line, t->col,
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
				r = cl_tsdl_perr(p, t->line, t->col,
						 "invalid escape sequence '\\%c' in literal", e);
				goto out;
			}
			c = (char)v;
		} else {
			i++;
		}
		if (cl_grow(&out, &cap, n + 2) < 0) {
			r = -ENOMEM;
			goto out;
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
		return cl_tsdl_perr(p, t->line, t->col, "invalid hexadecimal literal");
	while (i < lx->len &&
	       (lx->s[i] == 'u' || lx->s[i] == 'U' || lx->s[i] == 'l' || lx->s[i] == 'L'))
		i++;
	if (i < lx->len && is_ident_char(lx->s[i]))
		return cl_tsdl_perr(p, t->line, t->col, "invalid integer literal");
	if (i >= lx->len && !p->final)
		return -EINCOMPLETE;
	if (over)
		return cl_tsdl_perr(p, t->line, t->col,
				    "integer literal '%.*s' does not fit in 64 bits",
				    (int)CL_MIN(i - lx->pos, 64u), lx->s + lx->pos);
	t->kind = T_INT;
	t->ival = v;
	t->len = i - lx->pos;
	lx_adv(lx, t->len);
	return 0;
}

int cl_tsdl_lex(struct tsdl_parser *p, struct tok *t)
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
			return cl_tsdl_perr(p, t->line, t->col, "unexpected character '%c'", c);
		return cl_tsdl_perr(p, t->line, t->col, "unexpected byte 0x%02x",
				    (unsigned)(unsigned char)c);
	}
	lx_adv(lx, t->len);
	return 0;
}
