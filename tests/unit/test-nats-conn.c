/* SPDX-License-Identifier: MIT */
/* Unit tests of src/nats/nats-conn.c: NKey public keys from seeds (the NKeys
 * encoding; the pairs were made with Python's ed25519 of the cryptography
 * package), URL redaction, option parsing and checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nats-conn.h"

/* Seed bytes 0, 1, ..., 31 and 32 zero bytes. */
#define SEED_A "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y"
#define PUB_A  "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK"
#define SEED_0 "SUAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEQ"
#define PUB_0  "UA5WUJ54Z23KILLCUOUNAKTPBVZWKMQVO4O6EQ5GHLAERIMLLHNCTYM5"

static char g_path[64];

static int pub_of(const char *text, char *out, size_t cap)
{
	FILE *f;
	int fd;

	(void)snprintf(g_path, sizeof(g_path), "/tmp/ctflive-nkey-XXXXXX");
	fd = mkstemp(g_path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	fd = cl_nats_nkey_public(g_path, out, cap);
	(void)unlink(g_path);
	return fd;
}

static void test_nkey_public(void **state)
{
	char pub[64];

	(void)state;
	assert_int_equal(pub_of(SEED_A "\n", pub, sizeof(pub)), 0);
	assert_string_equal(pub, PUB_A);
	assert_int_equal(pub_of(SEED_0, pub, sizeof(pub)), 0);
	assert_string_equal(pub, PUB_0);
	/* A credentials file: the seed is in its own block, after a JWT. */
	assert_int_equal(pub_of("-----BEGIN NATS USER JWT-----\neyJhbGciOi.x.y\n"
				"------END NATS USER JWT------\n\n"
				"-----BEGIN USER NKEY SEED-----\n" SEED_A "\n"
				"------END USER NKEY SEED------\n",
				pub, sizeof(pub)),
			 0);
	assert_string_equal(pub, PUB_A);
	/* A wrong checksum, no seed, too small a buffer, no file. */
	assert_int_equal(pub_of("SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776A\n", pub,
				sizeof(pub)),
			 -EINVAL);
	assert_int_equal(pub_of("no seed here\nUAB2CB576PHBBPQ5\n", pub, sizeof(pub)), -ENOENT);
	assert_int_equal(pub_of(SEED_A, pub, 56), -ENOSPC);
	assert_int_equal(cl_nats_nkey_public("/nonexistent/seed", pub, sizeof(pub)), -ENOENT);
}

static void test_url_redact(void **state)
{
	char out[128];

	(void)state;
	assert_string_equal(cl_nats_url_redact("nats://a:1", out, sizeof(out)), "nats://a:1");
	assert_string_equal(
		cl_nats_url_redact("nats://u:secret@a:1,tls://tok@b:2,c:3", out, sizeof(out)),
		"nats://a:1,tls://b:2,c:3");
	assert_string_equal(cl_nats_url_redact("u:p@h:4222", out, sizeof(out)), "h:4222");
	/* Cut, never more than the buffer. */
	assert_string_equal(cl_nats_url_redact("nats://a:1,nats://b:2", out, 12), "nats://a:1");
}

static void test_options(void **state)
{
	struct cl_nats_conn_opts o = { 0 };
	const char *why = NULL;

	(void)state;
	assert_int_equal(cl_nats_conn_opt('x', "a", &o), 0);
	assert_int_equal(cl_nats_conn_opt(CL_NATS_O_USER, "alice", &o), 1);
	assert_int_equal(cl_nats_conn_opt(CL_NATS_O_PASSWORD, "pw", &o), 1);
	assert_int_equal(cl_nats_conn_check(&o, &why), 0);
	assert_int_equal(cl_nats_conn_opt(CL_NATS_O_TOKEN, "t", &o), 1);
	assert_int_equal(cl_nats_conn_check(&o, &why), -EINVAL);
	assert_non_null(strstr(why, "exclusive"));
	memset(&o, 0, sizeof(o));
	assert_int_equal(cl_nats_conn_opt(CL_NATS_O_PASSWORD, "pw", &o), 1);
	assert_int_equal(cl_nats_conn_check(&o, &why), -EINVAL);
	memset(&o, 0, sizeof(o));
	assert_int_equal(cl_nats_conn_opt(CL_NATS_O_TLS_CERT, "c.pem", &o), 1);
	assert_int_equal(cl_nats_conn_check(&o, &why), -EINVAL);
	assert_int_equal(cl_nats_conn_opt(CL_NATS_O_TLS_KEY, "k.pem", &o), 1);
	assert_int_equal(cl_nats_conn_check(&o, &why), 0);
	assert_int_equal(cl_nats_conn_opt(CL_NATS_O_TLS_INSECURE, NULL, &o), 1);
	assert_true(o.tls_insecure);
	assert_int_equal(cl_nats_conn_check(&o, &why), 0);
	assert_int_equal(cl_nats_conn_opt(CL_NATS_O_TLS_CA, "ca.pem", &o), 1);
	assert_int_equal(cl_nats_conn_check(&o, &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nkey_public),
		cmocka_unit_test(test_url_redact),
		cmocka_unit_test(test_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
