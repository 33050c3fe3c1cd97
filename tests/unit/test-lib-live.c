/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of libctflive's live client helpers: URL parsing (babeltrace2's
 * grammar, live-protocol.md §4.1) and connection errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctflive/live.h"

static void test_url_ok(void **state)
{
	struct ctflive_live_url u;
	const char *why = NULL;

	(void)state;
	assert_int_equal(ctflive_live_url_parse("net://localhost", &u, &why), 0);
	assert_string_equal(u.relay_host, "localhost");
	assert_int_equal(u.port, CTFLIVE_LIVE_DEFAULT_PORT);
	assert_int_equal(u.family, AF_UNSPEC);
	assert_false(u.has_session);

	assert_int_equal(ctflive_live_url_parse("net4://127.0.0.1:25344/host/vm/lc1", &u, &why), 0);
	assert_string_equal(u.relay_host, "127.0.0.1");
	assert_int_equal(u.port, 25344);
	assert_int_equal(u.family, AF_INET);
	assert_true(u.has_session);
	assert_string_equal(u.target_host, "vm");
	assert_string_equal(u.session_name, "lc1");

	assert_int_equal(ctflive_live_url_parse("net6://[::1]:7/host/h.example/s-1", &u, &why), 0);
	assert_string_equal(u.relay_host, "::1");
	assert_int_equal(u.port, 7);
	assert_int_equal(u.family, AF_INET6);
	assert_string_equal(u.target_host, "h.example");
	assert_string_equal(u.session_name, "s-1");
}

static void test_url_list(void **state)
{
	struct ctflive_live_url *v = NULL;
	const char *why = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(ctflive_live_url_parse_list("net://a:1,[::1]:2,c/host/h/s", &v, &n, &why),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].relay_host, "a");
	assert_int_equal(v[0].port, 1);
	assert_string_equal(v[1].relay_host, "::1");
	assert_int_equal(v[1].port, 2);
	assert_string_equal(v[2].relay_host, "c");
	assert_int_equal(v[2].port, CTFLIVE_LIVE_DEFAULT_PORT);
	for (size_t i = 0; i < n; i++) {
		assert_true(v[i].has_session);
		assert_string_equal(v[i].target_host, "h");
		assert_string_equal(v[i].session_name, "s");
	}
	free(v);

	assert_int_equal(ctflive_live_url_parse_list("net4://127.0.0.1:9", &v, &n, &why), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].family, AF_INET);
	assert_false(v[0].has_session);
	free(v);

	why = NULL;
	assert_int_equal(ctflive_live_url_parse_list("net://a:1,/host/h/s", &v, &n, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(ctflive_live_url_parse_list("net://a:1,b:x/host/h/s", &v, &n, &why),
			 -EINVAL);
	assert_int_equal(ctflive_live_url_parse_list("a,b", &v, &n, &why), -EINVAL);
}

static void test_url_errors(void **state)
{
	static const struct {
		const char *url, *why;
	} cases[] = {
		{ "localhost", "missing protocol" },
		{ "://x", "missing protocol" },
		{ "tcp://x", "unknown protocol (expecting 'net', 'net4' or 'net6')" },
		{ "net:x", "expecting '://' after protocol" },
		{ "net://", "missing hostname" },
		{ "net://:5344", "missing hostname" },
		{ "net://h:", "missing port" },
		{ "net://h:/host/a/b", "missing port" },
		{ "net://h:x", "invalid port" },
		{ "net://h:0", "invalid port" },
		{ "net://h:65536", "invalid port" },
		{ "net://user:pw@h:5344/host/a/b",
		  "user information is not supported (the LTTng live protocol has no authentication)" },
		{ "net://h:12x", "invalid port" },
		{ "net://h/x", "expecting '/host/' after hostname or port" },
		{ "net://h/host/", "missing target hostname" },
		{ "net://h/host//s", "missing target hostname" },
		{ "net://h/host/t", "missing '/' after target hostname" },
		{ "net://h/host/t/", "missing session name" },
		{ "net://h/host/t/s/", "unexpected '/' after session name" },
		{ "net://[::1", "missing ']' after IPv6 address" },
	};
	struct ctflive_live_url u;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;

		memset(&u, 0x5a, sizeof(u));
		assert_int_equal(ctflive_live_url_parse(cases[i].url, &u, &why), -EINVAL);
		assert_non_null(why);
		assert_string_equal(why, cases[i].why);
		assert_int_equal(u.port, 0x5a5a); /* untouched */
	}
	assert_int_equal(ctflive_live_url_parse(NULL, &u, NULL), -EINVAL);
}

static void test_connect_refused(void **state)
{
	struct ctflive_live_client *c = NULL;
	char err[256] = "";
	int fd, r;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint16_t port;

	(void)state;
	/* A port that was just free: bind, read it back, close. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	{
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	close(fd);
	r = ctflive_live_client_connect("127.0.0.1", port, AF_INET, 2000, &c, err, sizeof(err));
	assert_int_equal(r, -ECONNREFUSED);
	assert_null(c);
	assert_non_null(strstr(err, "Connection refused"));
	assert_null(ctflive_live_client_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_ok),
		cmocka_unit_test(test_url_errors),
		cmocka_unit_test(test_url_list),
		cmocka_unit_test(test_connect_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
