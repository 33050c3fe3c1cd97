/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the relay's socket plumbing (src/relayd/sock.h): the send
 * queue and its bound, EPOLLOUT while a reply is pending, close after a
 * reply, deferred free, accept and its limit. The loop's callbacks are
 * called directly, as cl_loop_run() would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "sock.h"

struct owner {
	struct sock sock;
	int closed_calls;
	bool closed_error;
	const char *closed_why;
	int *freed; /* counts ops->free calls; outlives the owner */
};

/* Answers every "ping" with "pong"; closes at end of stream. */
static void owner_readable(struct sock *s)
{
	char buf[4];

	for (;;) {
		ssize_t n = sock_recv(s, buf, sizeof(buf));

		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			sock_close(s, n < 0, n < 0 ? "read error" : "peer closed");
			return;
		}
		assert_int_equal(n, 4);
		assert_memory_equal(buf, "ping", 4);
		assert_int_equal(sock_queue(s, "pong", 4), 0);
	}
}

static void owner_closed(struct sock *s, bool error, const char *why)
{
	struct owner *o = cl_container_of(s, struct owner, sock);

	o->closed_calls++;
	o->closed_error = error;
	o->closed_why = why;
}

static void owner_free(struct sock *s)
{
	struct owner *o = cl_container_of(s, struct owner, sock);

	(*o->freed)++;
	sock_release(s);
	free(o);
}

static const struct sock_ops ops = {
	.readable = owner_readable,
	.closed = owner_closed,
	.free = owner_free,
};

struct fixture {
	struct cl_loop *loop;
	struct sock_set set;
	struct owner *o;
	int peer;
	int freed;
};

static struct fixture *start(size_t out_max, size_t out_keep)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	assert_int_equal(cl_loop_new(&f->loop), 0);
	sock_set_init(&f->set, 4, "test sockets");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	f->o = calloc(1, sizeof(*f->o));
	assert_non_null(f->o);
	f->o->freed = &f->freed;
	(void)snprintf(f->o->sock.peer, sizeof(f->o->sock.peer), "test");
	assert_int_equal(sock_start(&f->o->sock, &f->set, f->loop, sv[0], &ops, out_max, out_keep),
			 0);
	assert_int_equal(f->set.n, 1);
	f->peer = sv[1];
	return f;
}

static void finish(struct fixture *f)
{
	sock_set_close_all(&f->set, "test over");
	assert_int_equal(f->set.n, 0);
	assert_int_equal(f->freed, 1);
	close(f->peer);
	cl_loop_free(f->loop);
	free(f);
}

static void event(struct fixture *f, uint32_t events)
{
	f->o->sock.watch.cb(&f->o->sock.watch, events);
}

static void test_request_reply(void **state)
{
	struct fixture *f = start(64, 64);
	char buf[64] = { 0 };

	(void)state;
	assert_int_equal(write(f->peer, "pingping", 8), 8);
	event(f, EPOLLIN);
	/* Both replies went out at once; the socket polls for input again. */
	assert_false(sock_sending(&f->o->sock));
	assert_int_equal(f->o->sock.watch.events, EPOLLIN);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "pongpong", 8);
	/* The queue is bounded by out_max; a refused append changes nothing. */
	assert_int_equal(sock_queue(&f->o->sock, buf, 60), 0);
	assert_int_equal(sock_queue(&f->o->sock, buf, 5), -E2BIG);
	assert_null(sock_reserve(&f->o->sock, 5));
	assert_non_null(sock_reserve(&f->o->sock, 4));
	sock_commit(&f->o->sock, 4);
	assert_int_equal(f->o->sock.out.len, 64);
	finish(f);
}

static void test_pending_reply(void **state)
{
	const size_t big = 8u << 20; /* more than a socket buffer holds */
	struct fixture *f = start(big, 4096);
	uint8_t *p, *buf = malloc(65536);
	size_t got = 0;

	(void)state;
	assert_non_null(buf);
	p = sock_reserve(&f->o->sock, big);
	assert_non_null(p);
	memset(p, 0x5a, big);
	sock_commit(&f->o->sock, big);
	sock_flush(&f->o->sock);
	assert_true(sock_sending(&f->o->sock));
	assert_int_equal(f->o->sock.watch.events, EPOLLOUT);
	/* While the reply is pending, a readable socket is not read. */
	assert_int_equal(write(f->peer, "ping", 4), 4);
	while (got < big) {
		ssize_t n = read(f->peer, buf, 65536);

		if (n < 0) {
			event(f, EPOLLOUT);
			continue;
		}
		for (ssize_t i = 0; i < n; i++)
			assert_int_equal(buf[i], 0x5a);
		got += (size_t)n;
	}
	event(f, EPOLLOUT);
	assert_false(sock_sending(&f->o->sock));
	assert_int_equal(f->o->sock.watch.events, EPOLLIN);
	/* Past out_keep, the memory is given back between replies. */
	assert_null(f->o->sock.out.data);
	/* The request that waited is answered now. */
	event(f, EPOLLIN);
	assert_int_equal(read(f->peer, buf, 16), 4);
	assert_memory_equal(buf, "pong", 4);
	free(buf);
	finish(f);
}

static void test_close_after_send(void **state)
{
	struct fixture *f = start(64, 64);
	char buf[8];

	(void)state;
	assert_int_equal(sock_queue(&f->o->sock, "bye!", 4), 0);
	f->o->sock.close_after_send = true;
	f->o->sock.close_why = "closing after error reply";
	sock_flush(&f->o->sock);
	assert_true(f->o->sock.closed);
	assert_int_equal(f->o->closed_calls, 1);
	assert_true(f->o->closed_error);
	assert_string_equal(f->o->closed_why, "closing after error reply");
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 4);
	assert_int_equal(read(f->peer, buf, sizeof(buf)), 0); /* then end of stream */
	/* Closing again does nothing; the object lives until collected. */
	sock_close(&f->o->sock, false, "again");
	assert_int_equal(f->o->closed_calls, 1);
	assert_int_equal(f->freed, 0);
	assert_int_equal(f->set.n, 1);
	sock_set_collect(&f->set);
	assert_int_equal(f->freed, 1);
	assert_int_equal(f->set.n, 0);
	close(f->peer);
	cl_loop_free(f->loop);
	free(f);
}

static void test_peer_closes(void **state)
{
	struct fixture *f = start(64, 64);

	(void)state;
	close(f->peer);
	f->peer = -1;
	event(f, EPOLLIN);
	assert_int_equal(f->o->closed_calls, 1);
	assert_false(f->o->closed_error);
	assert_string_equal(f->o->closed_why, "peer closed");
	event(f, EPOLLIN); /* a closed socket ignores late events */
	assert_int_equal(f->o->closed_calls, 1);
	sock_set_collect(&f->set);
	assert_int_equal(f->freed, 1);
	cl_loop_free(f->loop);
	free(f);
}

static void test_accept(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_storage ss;
	struct sock_set set;
	socklen_t sl = sizeof(sin);
	char peer[64];
	int lfd, c1, c2, fd = -1;

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	sock_set_init(&set, 1, "test sockets");
	/* Nothing to accept yet. */
	assert_int_equal(sock_accept(&set, lfd, &fd, &ss), 0);
	c1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c1, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(sock_accept(&set, lfd, &fd, &ss), 1);
	assert_true(fd >= 0);
	sock_format_peer(&ss, "control", peer, sizeof(peer));
	assert_int_equal(strncmp(peer, "control 127.0.0.1:", 18), 0);
	close(fd);
	/* A full set refuses (and closes) the connection. */
	set.n = set.max;
	c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c2, (struct sockaddr *)&sin, sizeof(sin)), 0);
	fd = -1;
	assert_int_equal(sock_accept(&set, lfd, &fd, &ss), 0);
	assert_int_equal(fd, -1);
	close(c1);
	close(c2);
	close(lfd);
}

static struct sockaddr_storage addr_of(const char *text)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(text, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
	}
	return ss;
}

/* --allow-from networks: prefixes, IPv6, IPv4-mapped peers, errors. */
static void test_allow(void **state)
{
	struct sock_allow a = { 0 };
	struct sockaddr_storage ss;
	const char *why = NULL;

	(void)state;
	ss = addr_of("192.168.1.7");
	assert_true(sock_allowed(&a, &ss)); /* no network: any peer */
	assert_int_equal(sock_allow_parse(&a, "10.0.0.0/8,192.168.1.0/25,fd00::/8", &why), 0);
	assert_true(sock_allowed(&a, &ss));
	ss = addr_of("192.168.1.200");
	assert_false(sock_allowed(&a, &ss));
	ss = addr_of("10.255.0.1");
	assert_true(sock_allowed(&a, &ss));
	ss = addr_of("::ffff:10.1.2.3");
	assert_true(sock_allowed(&a, &ss));
	ss = addr_of("fdaa::1");
	assert_true(sock_allowed(&a, &ss));
	ss = addr_of("fe80::1");
	assert_false(sock_allowed(&a, &ss));
	ss = addr_of("127.0.0.1");
	assert_false(sock_allowed(&a, &ss));
	assert_int_equal(sock_allow_parse(&a, "127.0.0.1", &why), 0); /* a host: /32 */
	assert_true(sock_allowed(&a, &ss));
	ss = addr_of("127.0.0.2");
	assert_false(sock_allowed(&a, &ss));
	assert_int_equal(sock_allow_parse(&a, "0.0.0.0/0", &why), 0);
	assert_true(sock_allowed(&a, &ss));
	assert_int_equal(sock_allow_parse(&a, "10.0.0.0/33", &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(sock_allow_parse(&a, "10.0.0.x", &why), -EINVAL);
	assert_int_equal(sock_allow_parse(&a, "10.0.0.0/8,,", &why), -EINVAL);
	assert_int_equal(sock_allow_parse(&a, "::/129", &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_reply),    cmocka_unit_test(test_pending_reply),
		cmocka_unit_test(test_close_after_send), cmocka_unit_test(test_peer_closes),
		cmocka_unit_test(test_accept),           cmocka_unit_test(test_allow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
