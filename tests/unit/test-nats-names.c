/* SPDX-License-Identifier: MIT */
/* Unit tests of src/nats/nats-names.c: subject tokens, prefixes, stream names
 * (doc/nats.md). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nats-names.h"

static void test_token_round_trip(void **state)
{
	static const char *const names[] = {
		"host", "my.session",  "a*b>c d\te",       "~tilde_under-dash",
		"",     "\xff\x01/\\", "UPPER.lower.0123",
	};
	char tok[CL_NATS_TOKEN_MAX], back[256];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_true(cl_nats_token(names[i], tok, sizeof(tok)) > 0);
		/* Nothing NATS forbids in a token. */
		for (const char *p = tok; *p; p++)
			assert_null(strchr(".*> \t\r\n", *p));
		assert_int_equal(cl_nats_untoken(tok, back, sizeof(back)), strlen(names[i]));
		assert_string_equal(back, names[i]);
	}
	assert_int_equal(cl_nats_token("a.b", tok, sizeof(tok)), 5);
	assert_string_equal(tok, "a~2Eb");
	assert_int_equal(cl_nats_token("", tok, sizeof(tok)), 1);
	assert_string_equal(tok, "~");
	/* Distinct names, distinct tokens: '~' itself is escaped. */
	assert_int_equal(cl_nats_token("~2E", tok, sizeof(tok)), 5);
	assert_string_equal(tok, "~7E2E");
}

static void test_token_bounds(void **state)
{
	char tok[8], back[4];

	(void)state;
	assert_int_equal(cl_nats_token("abcdefg", tok, sizeof(tok)), 7);
	assert_int_equal(cl_nats_token("abcdefgh", tok, sizeof(tok)), -ENAMETOOLONG);
	assert_int_equal(cl_nats_token("abcd.", tok, sizeof(tok)), 7);
	assert_int_equal(cl_nats_token("abcde.", tok, sizeof(tok)), -ENAMETOOLONG);
	assert_int_equal(cl_nats_untoken("abcd", back, sizeof(back)), -ENAMETOOLONG);
	assert_int_equal(cl_nats_untoken("a~2", back, sizeof(back)), -EINVAL);
	assert_int_equal(cl_nats_untoken("a~zz", back, sizeof(back)), -EINVAL);
	assert_int_equal(cl_nats_untoken("a~00", back, sizeof(back)), -EINVAL);
	assert_int_equal(cl_nats_untoken("a.b", back, sizeof(back)), -EINVAL);
}

static void test_prefix(void **state)
{
	char prefix[CL_NATS_PREFIX_MAX], host[256], session[256], relay[256];
	uint64_t sid = 0;

	(void)state;
	assert_true(cl_nats_prefix("h.example", "s 1", "r>", 42, prefix, sizeof(prefix)) > 0);
	assert_string_equal(prefix, "ctflive.h~2Eexample.s~201.r~3E.42");
	assert_int_equal(cl_nats_prefix_parse(prefix, host, session, relay, sizeof(host), &sid), 0);
	assert_string_equal(host, "h.example");
	assert_string_equal(session, "s 1");
	assert_string_equal(relay, "r>");
	assert_int_equal(sid, 42);
	assert_int_equal(
		cl_nats_prefix_parse("ctflive.a.b.c", host, session, relay, sizeof(host), &sid),
		-EINVAL);
	assert_int_equal(
		cl_nats_prefix_parse("ctflive.a.b.c.1x", host, session, relay, sizeof(host), &sid),
		-EINVAL);
	assert_int_equal(
		cl_nats_prefix_parse("other.a.b.c.1", host, session, relay, sizeof(host), &sid),
		-EINVAL);
	assert_int_equal(cl_nats_prefix("h", "s", "r", 1, prefix, 10), -ENAMETOOLONG);
}

static void test_stream_name(void **state)
{
	char a[CL_NATS_NAME_MAX], b[CL_NATS_NAME_MAX];
	char longname[300];

	(void)state;
	cl_nats_stream_name("host.example", "my session/x", "relay", 1, a);
	assert_true(!strncmp(a, "CTFLIVE_host-example_my-session-x_", 34));
	for (const char *p = a; *p; p++)
		assert_null(strchr(".*> /\\\t", *p));
	/* The hash tells sessions apart when the readable parts are the same. */
	cl_nats_stream_name("host.example", "my session/x", "relay", 2, b);
	assert_string_not_equal(a, b);
	cl_nats_stream_name("host-example", "my session/x", "relay", 1, b);
	assert_string_not_equal(a, b);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	cl_nats_stream_name(longname, longname, longname, UINT64_MAX, a);
	assert_true(strlen(a) < CL_NATS_NAME_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_round_trip),
		cmocka_unit_test(test_token_bounds),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_stream_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
