/* SPDX-License-Identifier: MIT */
/* Socket plumbing shared by the relay's servers: see sock.h. */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "macro.h"

void sock_set_init(struct sock_set *set, size_t max, const char *what)
{
	cl_list_init(&set->socks);
	set->n = 0;
	set->max = max;
	set->what = what;
}

int sock_accept(struct sock_set *set, int listen_fd, int *ret_fd, struct sockaddr_storage *ret_addr)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);
	int fd, one = 1;

	fd = accept4(listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (set->n >= set->max) {
		log_warning("too many %s, refusing one", set->what);
		close(fd);
		return 0;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*ret_fd = fd;
	*ret_addr = ss;
	return 1;
}

void sock_format_peer(const struct sockaddr_storage *ss, const char *kind, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		(void)inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		(void)inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	(void)snprintf(buf, size, "%s %s:%u", kind, host, port);
}

static void update_events(struct sock *s)
{
	uint32_t ev = sock_sending(s) ? EPOLLOUT : s->held ? s->hold_events : EPOLLIN;

	if (cl_loop_mod(s->loop, &s->watch, ev) < 0)
		sock_close(s, true, "cannot update poll events");
}

void sock_flush(struct sock *s)
{
	int r = cl_send_pending(s->watch.fd, s->out.data, s->out.len, &s->out_off);

	if (r < 0 && r != -EAGAIN) {
		sock_close(s, true, "send failed");
		return;
	}
	if (s->out_off == s->out.len) {
		s->out_off = 0;
		cl_buf_clear(&s->out);
		if (s->out.cap > s->out_keep)
			cl_buf_free(&s->out);
		if (s->close_after_send) {
			sock_close(s, true, s->close_why);
			return;
		}
	}
	update_events(s);
}

void sock_hold(struct sock *s, uint32_t events)
{
	s->held = true;
	s->hold_events = events;
	update_events(s);
}

void sock_unhold(struct sock *s)
{
	s->held = false;
	s->hold_events = 0;
	if (!s->closed && !sock_sending(s))
		update_events(s);
}

int sock_peer_gone(struct sock *s)
{
	uint8_t b;
	ssize_t r = recv(s->watch.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (r > 0)
		return 0;
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return 1;
}

bool sock_try_send(struct sock *s)
{
	int r;

	if (s->close_after_send)
		return false; /* sock_flush() sends, then closes */
	r = cl_send_pending(s->watch.fd, s->out.data, s->out.len, &s->out_off);
	if (r < 0 && r != -EAGAIN) {
		sock_close(s, true, "send failed");
		return false;
	}
	if (s->out_off < s->out.len)
		return false;
	/* Still polled for input: nothing to change. */
	s->out_off = 0;
	cl_buf_clear(&s->out);
	if (s->out.cap > s->out_keep)
		cl_buf_free(&s->out);
	return true;
}

void sock_send_now(struct sock *s)
{
	if (sock_sending(s))
		(void)send(s->watch.fd, s->out.data + s->out_off, s->out.len - s->out_off,
			   MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void on_event(struct cl_watch *w, uint32_t events)
{
	struct sock *s = cl_container_of(w, struct sock, watch);

	if (s->closed)
		return;
	if (events & EPOLLOUT) {
		sock_flush(s);
		return;
	}
	s->ops->readable(s);
	if (!s->closed && sock_sending(s))
		sock_flush(s);
}

int sock_start(struct sock *s, struct sock_set *set, struct cl_loop *loop, int fd,
	       const struct sock_ops *ops, size_t out_max, size_t out_keep)
{
	int r;

	s->loop = loop;
	s->ops = ops;
	s->set = set;
	s->out = (struct cl_buf){ .max = out_max };
	s->out_keep = out_keep;
	s->watch.fd = fd;
	s->watch.cb = on_event;
	r = cl_loop_add(loop, &s->watch, EPOLLIN);
	if (r < 0) {
		close(fd);
		s->watch.fd = -1;
		return r;
	}
	cl_list_append(&set->socks, &s->node);
	set->n++;
	return 0;
}

ssize_t sock_recv(struct sock *s, void *buf, size_t n)
{
	ssize_t r = recv(s->watch.fd, buf, n, 0);

	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? -EAGAIN : -errno;
	return r;
}

uint8_t *sock_scratch(void)
{
	static uint8_t scratch[SOCK_SCRATCH_SIZE];

	return scratch;
}

uint8_t *sock_reserve(struct sock *s, size_t n)
{
	if (cl_buf_reserve(&s->out, n) < 0)
		return NULL;
	return s->out.data + s->out.len;
}

void sock_commit(struct sock *s, size_t n)
{
	s->out.len += n;
}

int sock_queue(struct sock *s, const void *buf, size_t n)
{
	return cl_buf_append(&s->out, buf, n);
}

void sock_close(struct sock *s, bool error, const char *why)
{
	if (s->closed)
		return;
	s->closed = true;
	cl_loop_del(s->loop, &s->watch);
	close(s->watch.fd);
	s->watch.fd = -1;
	s->ops->closed(s, error, why);
}

void sock_release(struct sock *s)
{
	cl_buf_free(&s->out);
}

void sock_set_collect(struct sock_set *set)
{
	struct cl_list_node *n, *tmp;

	cl_list_for_each_safe (n, tmp, &set->socks) {
		struct sock *s = cl_container_of(n, struct sock, node);

		if (!s->closed)
			continue;
		cl_list_remove(&s->node);
		set->n--;
		s->ops->free(s);
	}
}

void sock_set_close_all(struct sock_set *set, const char *why)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &set->socks) {
		sock_close(cl_container_of(n, struct sock, node), true, why);
	}
	sock_set_collect(set);
}
