/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/proto/metadata-text.h: the complete prefix of text
 * metadata (TSDL and CTF 2 JSON text sequences), as crash recovery cuts it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metadata-text.h"

static size_t cut(const char *s)
{
	return cl_metadata_text_complete_len((const uint8_t *)s, strlen(s));
}

/* Every prefix of a complete text is cut at a statement boundary, and the
 * cut only grows with the prefix. */
static void check_prefixes(const char *text, const size_t *bounds, size_t nb)
{
	size_t len = strlen(text), prev = 0;

	for (size_t n = 0; n <= len; n++) {
		size_t c = cl_metadata_text_complete_len((const uint8_t *)text, n);
		size_t expect = 0;

		for (size_t b = 0; b < nb; b++)
			if (bounds[b] <= n)
				expect = bounds[b];
		if (n == len)
			expect = len;
		assert_true(c <= n);
		assert_true(c >= prev);
		if (c != expect && c != n)
			fail_msg("prefix %zu: cut %zu, expected %zu", n, c, expect);
		prev = c;
	}
}

static void test_tsdl(void **state)
{
	static const char text[] = "/* CTF 1.8 */\n"
				   "typealias integer { size = 8; } := uint8_t;\n"
				   "trace { major = 1; minor = 8; /* } ; */ byte_order = le; };\n"
				   "env { hostname = \"a;b}\"; c = 'x'; };\n"
				   "// done; really\n";
	size_t b1 = strlen("/* CTF 1.8 */\ntypealias integer { size = 8; } := uint8_t;\n");
	size_t b2 = b1 + strlen("trace { major = 1; minor = 8; /* } ; */ byte_order = le; };\n");
	size_t b3 = b2 + strlen("env { hostname = \"a;b}\"; c = 'x'; };\n");
	size_t bounds[] = { strlen("/* CTF 1.8 */\n"), b1, b2, b3 };

	(void)state;
	assert_int_equal(cut(text), strlen(text));
	check_prefixes(text, bounds, 4);
	/* A signature only: nothing to cut. */
	assert_int_equal(cut("/* CTF 1.8 */\n"), strlen("/* CTF 1.8 */\n"));
	/* Cut inside a declaration, a string, a comment. */
	assert_int_equal(cut("trace { major = 1; };\nevent { name = \"x"),
			 strlen("trace { major = 1; };\n"));
	assert_int_equal(cut("trace { major = 1; };\n/* unterminated"),
			 strlen("trace { major = 1; };\n"));
	assert_int_equal(cut("trace { major = 1; };\nstream {"), strlen("trace { major = 1; };\n"));
	/* Corrupt: a closing brace too many stops the scan. */
	assert_int_equal(cut("a; }; b;"), 3);
	assert_int_equal(cut(""), 0);
}

static void test_json_seq(void **state)
{
	static const char text[] =
		"\x1e{\"type\":\"preamble\",\"version\":2}\n"
		"\x1e{\"type\":\"trace-class\",\"x\":\"}{\\\"\",\"a\":[1,{\"b\":[]}]}\n"
		"\x1e{\"type\":\"event-record-class\",\"id\":1}\n";
	size_t b1 = strlen("\x1e{\"type\":\"preamble\",\"version\":2}\n");
	size_t b2 =
		b1 +
		strlen("\x1e{\"type\":\"trace-class\",\"x\":\"}{\\\"\",\"a\":[1,{\"b\":[]}]}\n");
	size_t bounds[] = { b1, b2 };

	(void)state;
	assert_int_equal(cut(text), strlen(text));
	check_prefixes(text, bounds, 2);
	/* A lone RS after a complete fragment is cut. */
	assert_int_equal(cut("\x1e{\"a\":1}\n\x1e"), strlen("\x1e{\"a\":1}\n"));
	/* An unbalanced fragment followed by another: keep what came before. */
	assert_int_equal(cut("\x1e{\"a\":1}\n\x1e{\"b\":\n\x1e{\"c\":2}\n"),
			 strlen("\x1e{\"a\":1}\n"));
	assert_int_equal(cut("\x1e]"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tsdl),
		cmocka_unit_test(test_json_seq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
