/* SPDX-License-Identifier: MIT */
/* Unit tests of src/common/grow.h: array growth and the bounded buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grow.h"

static void test_grow_array(void **state)
{
	uint32_t *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(cl_grow(&v, &cap, 0), 0);
	assert_null(v);
	for (size_t i = 0; i < 1000; i++) {
		assert_int_equal(cl_grow(&v, &cap, i + 1), 0);
		assert_true(cap >= i + 1);
		v[i] = (uint32_t)i;
	}
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(v[i], i);
	/* Already big enough: nothing moves. */
	uint32_t *old = v;
	size_t oldcap = cap;
	assert_int_equal(cl_grow(&v, &cap, 10), 0);
	assert_ptr_equal(v, old);
	assert_int_equal(cap, oldcap);
	free(v);
}

static void test_grow_overflow(void **state)
{
	uint64_t *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(cl_grow(&v, &cap, SIZE_MAX / 4), -E2BIG);
	assert_int_equal(cl_grow(&v, &cap, SIZE_MAX), -E2BIG);
	assert_null(v);
	assert_int_equal(cap, 0);
	assert_int_equal(cl_grow_array((void **)&v, &cap, 1, 0), -E2BIG);
}

static void test_buf(void **state)
{
	struct cl_buf b = { .max = 10 };

	(void)state;
	assert_int_equal(cl_buf_append(&b, "hello", 5), 0);
	assert_int_equal(cl_buf_append(&b, "world", 5), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "helloworld", 10);
	/* The limit holds and a refused append changes nothing. */
	assert_int_equal(cl_buf_append(&b, "!", 1), -E2BIG);
	assert_int_equal(b.len, 10);
	assert_int_equal(cl_buf_reserve(&b, SIZE_MAX), -E2BIG);
	cl_buf_consume(&b, 3);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "loworld", 7);
	assert_int_equal(cl_buf_append(&b, "abc", 3), 0);
	cl_buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	assert_int_equal(cl_buf_append(&b, NULL, 0), 0);
	cl_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.max, 10);

	struct cl_buf u = { 0 }; /* no limit given */
	assert_int_equal(cl_buf_reserve(&u, SIZE_MAX), -E2BIG);
	assert_int_equal(cl_buf_append(&u, "x", 1), 0);
	cl_buf_clear(&u);
	assert_int_equal(u.len, 0);
	cl_buf_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_array),
		cmocka_unit_test(test_grow_overflow),
		cmocka_unit_test(test_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
