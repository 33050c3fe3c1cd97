/* SPDX-License-Identifier: MIT */
/* Socket plumbing shared by the relay's servers: see sock.h. */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "macro.h"

void sock_set_init(struct sock_set *set, size_t max, const char *what)
{
	cl_list_init(&set->socks);
	set->n = 0;
	set->max = max;
	set->out_held = 0;
	set->files = 0;
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
	uint32_t ev = sock_sending(s) ? EPOLLOUT
		      : s->held       ? s->hold_events
		      : s->resume     ? EPOLLIN | EPOLLOUT
				      : EPOLLIN;

	if (cl_loop_mod(s->loop, &s->watch, ev) < 0)
		sock_close(s, true, "cannot update poll events");
}

static void drop_file(struct sock *s)
{
	if (s->file_fd < 0)
		return;
	close(s->file_fd);
	s->file_fd = -1;
	s->file_left = 0;
	s->set->files--;
}

static void drop_gen(struct sock *s)
{
	struct sock_gen *g = s->gen;

	if (!g)
		return;
	s->gen = NULL;
	g->free(g);
}

int sock_queue_gen(struct sock *s, struct sock_gen *g)
{
	if (s->gen || s->file_fd >= 0) {
		g->free(g);
		return -EBUSY;
	}
	s->gen = g;
	return 0;
}

int sock_queue_file(struct sock *s, int fd, uint64_t off, uint64_t len)
{
	if (s->file_fd >= 0 || s->gen || off > INT64_MAX || len > INT64_MAX - off) {
		close(fd);
		return s->file_fd >= 0 || s->gen ? -EBUSY : -EINVAL;
	}
	if (len == 0) {
		close(fd);
		return 0;
	}
	s->file_fd = fd;
	s->file_off = off;
	s->file_left = len;
	s->set->files++;
	return 0;
}

/*
 * Sends the queue, refilled by the generator while it has more, then the
 * file range, as far as the socket takes them (the generator and the file:
 * at most SOCK_FILE_BURST bytes per call). 0 when all is sent, -EAGAIN when
 * bytes remain, -EIO when the file ended early, or the negative errno of
 * send/sendfile or of the generator.
 */
static int send_pending(struct sock *s)
{
	uint64_t burst = SOCK_FILE_BURST;
	int r;

	for (;;) {
		if (s->out_off < s->out.len) {
			r = cl_send_pending(s->watch.fd, s->out.data, s->out.len, &s->out_off);
			if (r < 0)
				return r;
		}
		if (!s->gen)
			break;
		if (burst == 0)
			return -EAGAIN;
		s->out_off = 0;
		cl_buf_clear(&s->out);
		r = s->gen->fill(s->gen, s, SOCK_GEN_PIECE);
		if (r < 0)
			return r;
		if (r > 0)
			drop_gen(s);
		burst -= CL_MIN(burst, (uint64_t)s->out.len);
	}
	while (s->file_left > 0) {
		off_t off = (off_t)s->file_off;
		ssize_t n;

		if (burst == 0)
			return -EAGAIN;
		n = sendfile(s->watch.fd, s->file_fd, &off,
			     (size_t)CL_MIN(CL_MIN(s->file_left, burst), (uint64_t)SSIZE_MAX));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		s->file_off += (uint64_t)n;
		s->file_left -= (uint64_t)n;
		burst -= CL_MIN(burst, (uint64_t)n);
	}
	drop_file(s);
	return 0;
}

/* Everything was sent: the queue gives back what it holds past out_keep. */
static void sent_all(struct sock *s)
{
	s->out_off = 0;
	cl_buf_clear(&s->out);
	if (s->out.cap > s->out_keep) {
		s->set->out_held -= s->out.cap;
		cl_buf_free(&s->out);
	}
}

void sock_flush(struct sock *s)
{
	int r = send_pending(s);

	if (r < 0 && r != -EAGAIN) {
		sock_close(s, true, r == -EIO ? "file shorter than its reply" : "send failed");
		return;
	}
	if (r == 0) {
		sent_all(s);
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
	r = send_pending(s);
	if (r < 0 && r != -EAGAIN) {
		sock_close(s, true, r == -EIO ? "file shorter than its reply" : "send failed");
		return false;
	}
	if (r < 0)
		return false;
	/* Still polled for input: nothing to change. */
	sent_all(s);
	return true;
}

void sock_send_now(struct sock *s)
{
	if (s->out_off < s->out.len)
		(void)send(s->watch.fd, s->out.data + s->out_off, s->out.len - s->out_off,
			   MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void on_event(struct cl_watch *w, uint32_t events)
{
	struct sock *s = cl_container_of(w, struct sock, watch);

	if (s->closed)
		return;
	s->resume = false;
	if (events & EPOLLOUT) {
		sock_flush(s);
		/* Requests read before the reply went out (or left by the
		 * owner's budget) are handled now: the socket may have nothing
		 * more to read to wake us. */
		if (s->closed || sock_sending(s) || !s->input_pending)
			return;
	}
	/* Once per wake-up: a peer that keeps sending gets its budget, then
	 * waits for the other ready sockets (the loop's next turn). */
	s->ops->readable(s);
	if (s->closed)
		return;
	if (sock_sending(s))
		sock_flush(s);
	if (s->closed || sock_sending(s) || !s->input_pending)
		return;
	/* All sent, requests kept: run again on the next turn (EPOLLOUT will
	 * not come by itself, and the peer may send nothing more). */
	s->resume = true;
	update_events(s);
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
	s->gen = NULL;
	s->file_fd = -1;
	s->file_left = 0;
	s->watch.fd = fd;
	s->watch.cb = on_event;
	s->since_ms = s->last_rx_ms = sock_now_ms();
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
	if (r > 0)
		s->last_rx_ms = sock_now_ms();
	return r;
}

uint8_t *sock_scratch(void)
{
	static uint8_t scratch[SOCK_SCRATCH_SIZE];

	return scratch;
}

uint8_t *sock_reserve(struct sock *s, size_t n)
{
	size_t cap = s->out.cap;

	if (cl_buf_reserve(&s->out, n) < 0)
		return NULL;
	s->set->out_held += s->out.cap - cap;
	return s->out.data + s->out.len;
}

void sock_commit(struct sock *s, size_t n)
{
	s->out.len += n;
}

int sock_queue(struct sock *s, const void *buf, size_t n)
{
	size_t cap = s->out.cap;
	int r = cl_buf_append(&s->out, buf, n);

	s->set->out_held += s->out.cap - cap;
	return r;
}

void sock_close(struct sock *s, bool error, const char *why)
{
	if (s->closed)
		return;
	s->closed = true;
	cl_loop_del(s->loop, &s->watch);
	close(s->watch.fd);
	s->watch.fd = -1;
	drop_file(s);
	drop_gen(s);
	s->ops->closed(s, error, why);
}

void sock_release(struct sock *s)
{
	if (s->set) {
		s->set->out_held -= s->out.cap;
		drop_file(s);
	}
	drop_gen(s);
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

/* Descriptors an active stream holds at most: directory, data and index
 * files, the duplicates its segment keeps for viewers, and those a sync in
 * flight holds for its data and index files. */
#define FDS_PER_STREAM 7
#define FDS_RESERVED   40 /* listeners, loop, worker, log, a few connections */
#define MIN_ACTIVE     4

size_t sock_max_active_streams(unsigned long nofile)
{
	if (nofile < FDS_RESERVED + MIN_ACTIVE * FDS_PER_STREAM)
		return MIN_ACTIVE;
	return (size_t)CL_MIN((nofile - FDS_RESERVED) / FDS_PER_STREAM, (unsigned long)SIZE_MAX);
}

unsigned long sock_raise_fd_limit(void)
{
	struct rlimit rl;
	unsigned long n;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit raised = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl = raised;
	}
	n = rl.rlim_cur == RLIM_INFINITY ? ULONG_MAX : (unsigned long)rl.rlim_cur;
	if (n < 4096)
		log_notice("up to %lu open descriptors (the hard limit): files of about %zu "
			   "streams open at once, idle streams' files are closed past that and "
			   "reopened when used; raise 'ulimit -Hn' for more",
			   n, sock_max_active_streams(n));
	else
		log_info("up to %lu open descriptors: files of about %zu streams open at once", n,
			 sock_max_active_streams(n));
	return n;
}

int sock_allow_parse(struct sock_allow *a, const char *list, const char **why)
{
	char buf[128];

	while (*list) {
		size_t len = strcspn(list, ",");
		char *slash, *end;
		unsigned max;
		long bits;

		if (len == 0 || len >= sizeof(buf)) {
			*why = "an empty or over-long network";
			return -EINVAL;
		}
		if (a->n >= SOCK_ALLOW_MAX) {
			*why = "too many networks";
			return -EINVAL;
		}
		memcpy(buf, list, len);
		buf[len] = '\0';
		list += len + (list[len] == ',');
		slash = strchr(buf, '/');
		if (slash)
			*slash++ = '\0';
		memset(a->nets[a->n].addr, 0, sizeof(a->nets[a->n].addr));
		if (inet_pton(AF_INET, buf, a->nets[a->n].addr) == 1) {
			a->nets[a->n].family = AF_INET;
			max = 32;
		} else if (inet_pton(AF_INET6, buf, a->nets[a->n].addr) == 1) {
			a->nets[a->n].family = AF_INET6;
			max = 128;
		} else {
			*why = "not an IPv4 or IPv6 address";
			return -EINVAL;
		}
		bits = max;
		if (slash) {
			errno = 0;
			bits = strtol(slash, &end, 10);
			if (end == slash || *end || errno || bits < 0 || bits > (long)max) {
				*why = "a prefix length out of range";
				return -EINVAL;
			}
		}
		a->nets[a->n].prefix = (unsigned)bits;
		a->n++;
	}
	return 0;
}

/* True when the first `bits` bits of a and b are equal. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	uint8_t mask = (uint8_t)(0xFF << (8 - rest));

	if (memcmp(a, b, whole))
		return false;
	return rest == 0 || ((a[whole] ^ b[whole]) & mask) == 0;
}

bool sock_allowed(const struct sock_allow *a, const struct sockaddr_storage *ss)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
	const uint8_t *addr;
	int family = ss->ss_family;

	if (a->n == 0)
		return true;
	if (family == AF_INET) {
		addr = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
	} else if (family == AF_INET6) {
		addr = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		if (!memcmp(addr, mapped, sizeof(mapped))) {
			addr += sizeof(mapped);
			family = AF_INET;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < a->n; i++)
		if (a->nets[i].family == family &&
		    prefix_equal(addr, a->nets[i].addr, a->nets[i].prefix))
			return true;
	return false;
}

uint64_t sock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Same peer address (ports ignored). */
static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return true;
}

/* True when `a` should be closed before `b` (both unbound, ranks ra, rb). */
static bool evict_before(const struct sock *a, int ra, const struct sock *b, int rb)
{
	return ra < rb || (ra == rb && a->since_ms < b->since_ms);
}

bool sock_make_room(struct sock_set *set, const struct sock_budget *b,
		    const struct sockaddr_storage *addr, uint64_t now)
{
	for (;;) {
		struct sock *first = NULL, *first_here = NULL;
		int rank_first = 0, rank_here = 0;
		size_t total = 0, here = 0;
		struct cl_list_node *n;
		struct sock *victim;

		cl_list_for_each (n, &set->socks) {
			struct sock *s = cl_container_of(n, struct sock, node);
			int rank = s->closed ? -1 : b->rank(s);
			bool old = now - s->since_ms >= b->evict_after_ms;

			if (rank < 0)
				continue;
			total++;
			if (old && (!first || evict_before(s, rank, first, rank_first))) {
				first = s;
				rank_first = rank;
			}
			if (same_host(&s->addr, addr)) {
				here++;
				if (old &&
				    (!first_here || evict_before(s, rank, first_here, rank_here))) {
					first_here = s;
					rank_here = rank;
				}
			}
		}
		if (here < b->max_unbound_per_addr && total < b->max_unbound)
			return true;
		victim = here >= b->max_unbound_per_addr ? first_here : first;
		if (!victim)
			return false;
		sock_close(victim, true,
			   "no session yet; closed to make room for a new connection");
	}
}
