/* SPDX-License-Identifier: MIT */
#include "metadata-text.h"

#include <stdbool.h>

static bool is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Extends a cut point over the blanks that follow it. */
static size_t after_blanks(const uint8_t *t, size_t len, size_t i)
{
	while (i < len && is_blank(t[i]))
		i++;
	return i;
}

static size_t json_seq_complete_len(const uint8_t *t, size_t len)
{
	size_t good = 0, depth = 0, i = 0;
	bool in_str = false, esc = false, started = false;

	for (i = 0; i < len; i++) {
		uint8_t c = t[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == CL_METADATA_JSON_RS) {
			/* A new fragment: whatever came before it is over. An
			 * unbalanced previous fragment is corrupt: stop there. */
			if (started && depth != 0)
				return good;
			depth = 0;
			started = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
			started = true;
		} else if (c == '{' || c == '[') {
			depth++;
			started = true;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return good; /* unbalanced: corrupt from here */
			if (--depth == 0)
				good = after_blanks(t, len, i + 1);
		} else if (!is_blank(c)) {
			started = true;
		}
	}
	return good;
}

static size_t tsdl_complete_len(const uint8_t *t, size_t len)
{
	size_t good = 0, depth = 0;
	bool pending = false; /* a token since the last complete statement */

	/* good: end of the last complete statement, with the blanks and
	 * comments after it */

	for (size_t i = 0; i < len; i++) {
		uint8_t c = t[i];

		if (c == '/' && i + 1 < len && t[i + 1] == '*') {
			for (i += 2; i + 1 < len && !(t[i] == '*' && t[i + 1] == '/'); i++)
				;
			if (i + 1 >= len)
				return good; /* unterminated comment */
			i++;
		} else if (c == '/' && i + 1 < len && t[i + 1] == '/') {
			while (i + 1 < len && t[i + 1] != '\n')
				i++;
		} else if (c == '"' || c == '\'') {
			for (i++; i < len && t[i] != c; i++)
				if (t[i] == '\\')
					i++;
			if (i >= len)
				return good; /* unterminated literal */
			pending = true;
		} else if (c == '{') {
			depth++;
			pending = true;
		} else if (c == '}') {
			if (depth == 0)
				return good; /* unbalanced: corrupt from here */
			depth--;
		} else if (c == ';' && depth == 0) {
			pending = false;
		} else if (!is_blank(c)) {
			pending = true;
		}
		/* Blanks and comments after a statement go with it. */
		if (!pending)
			good = i + 1;
	}
	return good;
}

size_t cl_metadata_text_complete_len(const uint8_t *text, size_t len)
{
	if (len == 0)
		return 0;
	if (text[0] == CL_METADATA_JSON_RS)
		return json_seq_complete_len(text, len);
	return tsdl_complete_len(text, len);
}
