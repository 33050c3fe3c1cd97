/* SPDX-License-Identifier: MIT */
/*
 * The iterator of libctflive (include/ctflive/iter.h) over trace
 * directories and followed directories of the shared fixtures: warnings
 * come first, in order, as CTFLIVE_ITER_WARNING; errors are described by
 * one struct ctflive_diag (file, offset, message) whatever the source; the
 * same directory gives the same messages through both sources.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctflive/iter.h"

static char path[4096];

static const char *fixture(const char *rel)
{
	snprintf(path, sizeof(path), "%s/ctf-traces/%s", CTFLIVE_FIXTURES_DIR, rel);
	return path;
}

static int have_fixtures(void)
{
	return access(fixture("succeed/warnings/metadata"), R_OK) == 0;
}

/* Messages (events counted) until the end or an error; warnings counted. */
static int drain(struct ctflive_iter *it, size_t *nevents, size_t *nwarn)
{
	for (;;) {
		const struct ctflive_ctf_msg *m;
		const struct ctflive_ctf_stream *s;
		const struct ctflive_diag *w;
		int r = ctflive_iter_next(it, &m, &s);

		if (r == 0) {
			assert_non_null(s);
			*nevents += m->type == CTFLIVE_CTF_MSG_EVENT;
			continue;
		}
		if (r == CTFLIVE_ITER_WARNING) {
			assert_non_null(w = ctflive_iter_next_warning(it));
			do
				++*nwarn;
			while ((w = ctflive_iter_next_warning(it)));
			continue;
		}
		if (r == -EAGAIN) {
			assert_int_equal(ctflive_iter_wait(it, 10), 0);
			continue;
		}
		return r;
	}
}

static void test_dirs_warnings_first(void **state)
{
	struct ctflive_iter *it;
	struct ctflive_diag d;
	const struct ctflive_ctf_msg *m;
	const struct ctflive_ctf_stream *s;
	const struct ctflive_diag *w;
	char line[sizeof(d.where) + sizeof(d.msg) + 64];
	const char *in[1];
	size_t nev = 0, nw = 0;

	(void)state;
	if (!have_fixtures())
		skip();
	in[0] = fixture("succeed/warnings");
	assert_int_equal(ctflive_iter_open_dirs(in, 1, &it, &d), 0);
	/* metadata warnings before any message, with file and line:col */
	assert_int_equal(ctflive_iter_next(it, &m, &s), CTFLIVE_ITER_WARNING);
	assert_non_null(w = ctflive_iter_next_warning(it));
	assert_int_equal(w->line, 2);
	assert_int_equal(w->col, 58);
	assert_non_null(strstr(w->where, "/metadata"));
	ctflive_diag_format(w, line, sizeof(line));
	assert_non_null(strstr(line, "/metadata:2:58: unknown attribute 'aa'"));
	nw = 1;
	assert_int_equal(drain(it, &nev, &nw), CTFLIVE_CTF_END);
	assert_int_equal(nw, 5); /* as `ctflive view` prints them */
	assert_int_equal(nev, 7809);
	assert_null(ctflive_iter_next_warning(it));
	assert_non_null(ctflive_iter_fs(it));
	assert_null(ctflive_iter_follow(it));
	ctflive_iter_free(it);
}

static void test_dirs_errors(void **state)
{
	struct ctflive_iter *it = NULL;
	const struct ctflive_diag *e;
	struct ctflive_diag d;
	const char *in[1];
	size_t nev = 0, nw = 0;

	(void)state;
	if (!have_fixtures())
		skip();
	/* at open: a packet larger than its file, named with file and offset */
	in[0] = fixture("fail/invalid-packet-size");
	assert_int_equal(ctflive_iter_open_dirs(in, 1, &it, &d), -EMSGSIZE);
	assert_non_null(strstr(d.where, "channel0_3"));
	assert_int_equal(d.offset, 0);
	assert_non_null(strstr(d.msg, "larger than the remaining data"));
	/* while reading: the events before it, then the error, sticky */
	in[0] = fixture("fail/valid-events-then-invalid-events");
	assert_int_equal(ctflive_iter_open_dirs(in, 1, &it, &d), 0);
	assert_int_equal(drain(it, &nev, &nw), -EBADMSG);
	assert_int_equal(nev, 2);
	e = ctflive_iter_error(it);
	assert_non_null(strstr(e->where, "dummystream"));
	assert_int_equal(e->offset, 2);
	assert_non_null(strstr(e->msg, "no event class with id 255"));
	assert_int_equal(drain(it, &nev, &nw), -EBADMSG);
	ctflive_iter_free(it);
	/* a missing directory */
	in[0] = fixture("no-such-trace");
	assert_true(ctflive_iter_open_dirs(in, 1, &it, &d) < 0);
	assert_true(d.msg[0] != '\0');
}

/* The same finished directory through ctflive_iter_open_follow(): not being
 * written (no session marker), it is read as a trace directory: same
 * events, plus one warning. */
static void test_follow_like_dirs(void **state)
{
	static const char *const traces[] = { "succeed/trace-with-index", "succeed/multi-domains" };
	struct ctflive_iter *a, *b;
	struct ctflive_diag d;

	(void)state;
	if (!have_fixtures())
		skip();
	for (size_t i = 0; i < sizeof(traces) / sizeof(traces[0]); i++) {
		const char *in[1] = { fixture(traces[i]) };
		size_t na = 0, nb = 0, wa = 0, wb = 0;

		assert_int_equal(ctflive_iter_open_dirs(in, 1, &a, &d), 0);
		assert_int_equal(ctflive_iter_open_follow(in[0], NULL, &b, &d), 0);
		assert_null(ctflive_iter_follow(b));
		assert_non_null(ctflive_iter_fs(b));
		assert_int_equal(drain(a, &na, &wa), CTFLIVE_CTF_END);
		assert_int_equal(drain(b, &nb, &wb), CTFLIVE_CTF_END);
		assert_int_equal(na, nb);
		assert_true(na > 0);
		assert_int_equal(wb, wa + 1); /* + "no session marker" */
		ctflive_iter_free(a);
		ctflive_iter_free(b);
	}
}

static void test_diag_format(void **state)
{
	struct ctflive_diag d = { .offset = UINT64_MAX };
	char buf[64];

	(void)state;
	snprintf(d.msg, sizeof(d.msg), "m");
	assert_string_equal(ctflive_diag_format(&d, buf, sizeof(buf)), "m");
	snprintf(d.where, sizeof(d.where), "f");
	assert_string_equal(ctflive_diag_format(&d, buf, sizeof(buf)), "f: m");
	d.offset = 7;
	assert_string_equal(ctflive_diag_format(&d, buf, sizeof(buf)), "f: offset 7: m");
	d.line = 3;
	d.col = 4;
	assert_string_equal(ctflive_diag_format(&d, buf, sizeof(buf)), "f:3:4: m");
	assert_string_equal(ctflive_diag_format(&d, buf, 3), "f:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dirs_warnings_first),
		cmocka_unit_test(test_dirs_errors),
		cmocka_unit_test(test_follow_like_dirs),
		cmocka_unit_test(test_diag_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
