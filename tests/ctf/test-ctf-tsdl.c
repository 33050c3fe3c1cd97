/* SPDX-License-Identifier: MIT */
/* TSDL parser: diagnostics with line:column, limits, incremental input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctflive/ctf.h"

static const char header[] =
	"/* CTF 1.8 */\n"
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
	"trace { major = 1; minor = 8; byte_order = le; };\n";

/* Parses `text` in one piece; returns the error of add+end and the diag. */
static int parse(const char *text, struct ctflive_ctf_diag *d)
{
	struct ctflive_ctf_trace *t;
	int r;

	memset(d, 0, sizeof(*d));
	assert_int_equal(ctflive_ctf_trace_new(&t), 0);
	r = ctflive_ctf_trace_add_metadata(t, text, strlen(text), d);
	if (r == 0)
		r = ctflive_ctf_trace_end_metadata(t, d);
	ctflive_ctf_trace_free(t);
	return r;
}

static void expect_error(const char *body, int err, int line, int col, const char *needle)
{
	char text[4096];
	struct ctflive_ctf_diag d;

	snprintf(text, sizeof(text), "%s%s", header, body);
	assert_int_equal(parse(text, &d), err);
	if (line) {
		if (d.line != line || d.col != col)
			fail_msg("expected %d:%d, got %d:%d (%s)", line, col, d.line, d.col, d.msg);
	}
	if (needle && !strstr(d.msg, needle))
		fail_msg("message '%s' lacks '%s'", d.msg, needle);
}

static void test_ok(void **state)
{
	struct ctflive_ctf_diag d;
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), "%s%s", header,
		 "event { name = \"a\"; fields := struct { uint8_t x; string s; }; };\n");
	assert_int_equal(parse(text, &d), 0);
}

static void test_errors(void **state)
{
	(void)state;
	/* unknown type name: reported at the type */
	expect_error("event {\n\tname = x;\n\tfields := struct { int8 y; };\n};\n", -EBADMSG, 6, 21,
		     NULL);
	/* lexer: bad escape, integer too large, stray character */
	expect_error("env { a = \"x\\qy\"; };\n", -EBADMSG, 4, 11, "escape");
	expect_error("env { a = 123456789012345678901234567890; };\n", -EBADMSG, 4, 11, "64 bits");
	expect_error("env { a = 1; };\n@\n", -EBADMSG, 5, 1, "unexpected character");
	/* syntax: missing ';' is reported at the next token */
	expect_error("env { a = 1 };\n", -EBADMSG, 4, 13, "expecting ';'");
	/* semantic: integer size */
	expect_error("typealias integer { size = 65; } := big;\n", -EBADMSG, 4, 28, "size");
	/* unterminated declaration at the end */
	expect_error("event { name = x;\n", -EBADMSG, 0, 0, "end of metadata");
}

static void test_version(void **state)
{
	struct ctflive_ctf_diag d;

	(void)state;
	assert_int_equal(parse("trace { major = 2; minor = 0; byte_order = le; };", &d), -EBADMSG);
	assert_true(d.line == 1 && d.col == 17);
	assert_int_equal(parse("trace { major = 1; minor = 8; };", &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "byte_order"));
}

static void test_nesting_limit(void **state)
{
	size_t n = 200, cap = 64 + n * 40;
	char *text = malloc(cap);
	struct ctflive_ctf_diag d;
	size_t len;
	int r;

	(void)state;
	assert_non_null(text);
	len = (size_t)snprintf(text, cap, "typealias ");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "struct { ");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "} f%zu; ", i);
	snprintf(text + len, cap - len, ":= deep;\n");
	r = parse(text, &d);
	assert_int_equal(r, -E2BIG);
	free(text);
}

/* Metadata arriving in pieces gives the same result as in one piece. */
static void test_incremental(void **state)
{
	char text[2048];
	struct ctflive_ctf_trace *t;
	struct ctflive_ctf_diag d;
	size_t len;

	(void)state;
	snprintf(text, sizeof(text), "%s%s", header,
		 "clock { name = c; freq = 1000; offset = 1500; };\n"
		 "stream { event.header := struct { uint8_t id; }; };\n"
		 "event { name = \"first\"; id = 0; fields := struct { uint8_t a; }; };\n"
		 "event { name = \"second\"; id = 1; fields := struct { string s; }; };\n");
	len = strlen(text);
	for (size_t step = 1; step < 40; step += 3) {
		assert_int_equal(ctflive_ctf_trace_new(&t), 0);
		for (size_t off = 0; off < len; off += step) {
			size_t n = len - off < step ? len - off : step;

			int r = ctflive_ctf_trace_add_metadata(t, text + off, n, &d);

			if (r)
				fail_msg("step %zu off %zu: %d:%d %s", step, off, d.line, d.col,
					 d.msg);
		}
		if (ctflive_ctf_trace_end_metadata(t, &d))
			fail_msg("end step %zu: %d:%d %s", step, d.line, d.col, d.msg);
		ctflive_ctf_trace_free(t);
	}
	/* an incomplete tail waits, then completes */
	assert_int_equal(ctflive_ctf_trace_new(&t), 0);
	assert_int_equal(ctflive_ctf_trace_add_metadata(t, text, len - 10, &d), 0);
	assert_int_equal(ctflive_ctf_trace_add_metadata(t, text + len - 10, 10, &d), 0);
	assert_int_equal(ctflive_ctf_trace_end_metadata(t, &d), 0);
	ctflive_ctf_trace_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),          cmocka_unit_test(test_errors),
		cmocka_unit_test(test_version),     cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_incremental),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
