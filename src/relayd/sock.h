/* SPDX-License-Identifier: MIT */
/*
 * Socket plumbing shared by the relay's servers (control/data connections,
 * conn.c; live viewers, live-conn.c): accepting, reading, the send queue and
 * deferred close. What a connection says is its owner's business; this
 * module only moves bytes.
 *
 * A struct sock is embedded in its owner and lives in one struct sock_set.
 * All of it runs on the loop thread.
 *
 * Reading: when the socket is readable and no reply is waiting to be sent,
 * ops->readable() runs; it reads with sock_recv() as much as it wants
 * (typically until -EAGAIN or a reply is queued). Replies are appended to
 * the send queue (sock_reserve()/sock_commit(), sock_queue()), optionally
 * followed by a range of a file (sock_queue_file(): sent with sendfile(2)
 * as the socket accepts it, never buffered, so what a reply of a large
 * packet costs the relay does not grow with the packet); sock_flush()
 * sends what it can and polls for EPOLLOUT until the rest is gone. While a
 * reply is pending, nothing more is read from that peer: a peer that does
 * not read its replies stalls only itself.
 *
 * Fairness: ops->readable() runs at most once per wake-up of the socket and
 * bounds its own work (conn.c, live-conn.c). An owner that stops with
 * requests read but not handled (input_pending) is run again on the next
 * turn of the loop, after every other ready socket had its turn: the socket
 * is then polled for EPOLLOUT too, which a socket with room to send reports
 * at once.
 *
 * Closing: sock_close() stops polling and closes the descriptor at once,
 * then runs ops->closed() (the owner's part: logging, detaching from
 * sessions). The object itself stays allocated until sock_set_collect(),
 * which the loop calls before sleeping, so it is never freed inside one of
 * its own callbacks.
 */
#ifndef CL_RELAYD_SOCK_H
#define CL_RELAYD_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "grow.h"
#include "list.h"
#include "loop.h"

struct sock;

/*
 * A reply produced piece by piece as the socket drains (sock_queue_gen()):
 * what a large reply costs the relay is its generator's state and one
 * piece, not the whole reply.
 */
struct sock_gen {
	/*
	 * Appends the next piece of the reply to the (empty) send queue with
	 * sock_reserve()/sock_commit(), about `room` bytes or fewer (at least
	 * one byte unless it is done). 1 when the reply is complete (the
	 * generator is then freed), 0 when more remains, or a negative errno
	 * (the socket closes).
	 */
	int (*fill)(struct sock_gen *g, struct sock *s, size_t room);
	/* Frees the generator (complete, or the socket closed). */
	void (*free)(struct sock_gen *g);
};

struct sock_ops {
	/* The socket is readable and no reply is pending: read and handle requests. */
	void (*readable)(struct sock *s);
	/* After sock_close() closed the descriptor: the owner's part (`why`: static text). */
	void (*closed)(struct sock *s, bool error, const char *why);
	/* Frees the owner (from sock_set_collect()); it must call sock_release(). */
	void (*free)(struct sock *s);
};

struct sock {
	struct cl_list_node node; /* in set->socks */
	struct cl_watch watch;
	struct cl_loop *loop; /* borrowed */
	const struct sock_ops *ops;
	struct sock_set *set; /* borrowed */
	bool closed;
	bool close_after_send;         /* close (as an error) once the send queue is empty */
	bool held;                     /* a request waits for its answer: sock_hold() */
	bool input_pending;            /* the owner holds bytes read but not handled yet:
					* ops->readable() runs again once the queue is sent,
					* on the loop's next turn */
	bool resume;                   /* input_pending: polled for EPOLLOUT to run again */
	uint32_t hold_events;          /* what is polled while held */
	const char *close_why;         /* static text for that close */
	char peer[64];                 /* for log lines: "control 10.0.0.1:41000" */
	struct cl_buf out;             /* send queue, owned; out.max bounds one reply */
	size_t out_off;                /* bytes of `out` already sent */
	size_t out_keep;               /* capacity kept once the queue is empty, bytes */
	struct sock_gen *gen;          /* owned: fills `out` once it is sent, NULL: none */
	int file_fd;                   /* owned: file bytes sent after `out`, -1: none */
	uint64_t file_off, file_left;  /* bytes: where the next file byte is, how many remain */
	struct sockaddr_storage addr;  /* the peer (set by the owner before sock_start()) */
	uint64_t since_ms, last_rx_ms; /* sock_now_ms(): started, last byte received */
};

/* Networks a port accepts connections from (--allow-from); none: any. */
#define SOCK_ALLOW_MAX 64
struct sock_allow {
	size_t n;
	struct {
		int family;       /* AF_INET or AF_INET6 */
		uint8_t addr[16]; /* network byte order, 4 or 16 bytes used */
		unsigned prefix;  /* bits */
	} nets[SOCK_ALLOW_MAX];
};

/*
 * Appends the networks of `list` ("CIDR[,CIDR...]", each ADDR or ADDR/BITS,
 * IPv4 or IPv6) to `a`. 0, or -EINVAL with *why saying what is wrong
 * (a bad address or prefix, more than SOCK_ALLOW_MAX networks).
 */
int sock_allow_parse(struct sock_allow *a, const char *list, const char **why);

/* True when `a` is empty or `addr` is in one of its networks (an IPv4-mapped
 * IPv6 address counts as its IPv4 address). */
bool sock_allowed(const struct sock_allow *a, const struct sockaddr_storage *addr);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t sock_now_ms(void);

/*
 * Peers that hold connections without using them must not lock the others
 * out: connections that have not yet shown they are real ("unbound": no
 * session yet) count against a budget of their own, overall and per peer
 * address. When a new connection from `addr` finds it full, the unbound
 * connection that `rank` puts first (lowest rank, then oldest), and that is
 * at least `evict_after_ms` old, is closed to make room (a real peer binds
 * within milliseconds); else the new connection is to be refused (false).
 * `rank` returns -1 for a bound connection (not counted), else 0, 1, ...
 */
struct sock_budget {
	size_t max_unbound, max_unbound_per_addr;
	uint64_t evict_after_ms;
	int (*rank)(struct sock *s);
};
bool sock_make_room(struct sock_set *set, const struct sock_budget *b,
		    const struct sockaddr_storage *addr, uint64_t now);

/* The connections of one server, with their limit. */
struct sock_set {
	struct cl_list socks;
	size_t n, max;
	size_t out_held;  /* bytes allocated for the send queues of all its sockets */
	size_t files;     /* sockets sending file bytes (each holds one descriptor) */
	const char *what; /* "connections", "live viewers": for the refusal warning */
};

void sock_set_init(struct sock_set *set, size_t max, const char *what);

/*
 * Accepts one connection on `listen_fd` (non-blocking, close-on-exec,
 * TCP_NODELAY). Returns 1 with *ret_fd and *ret_addr set; 0 when there was
 * nothing to accept, or the set is full (the connection is then closed with
 * a warning); or accept4()'s negative errno (e.g. -EMFILE).
 */
int sock_accept(struct sock_set *set, int listen_fd, int *ret_fd,
		struct sockaddr_storage *ret_addr);

/* Writes "<kind> <address>:<port>" for log lines into buf (`size` bytes). */
void sock_format_peer(const struct sockaddr_storage *addr, const char *kind, char *buf,
		      size_t size);

/*
 * Starts serving accepted descriptor `fd` (taken over: on error it is closed).
 * `out_max` bounds the send queue (bytes, the largest reply), `out_keep` is
 * the capacity kept between replies. s->peer should be set by the caller.
 * Returns 0, or -errno from the loop; the caller then frees its object.
 */
int sock_start(struct sock *s, struct sock_set *set, struct cl_loop *loop, int fd,
	       const struct sock_ops *ops, size_t out_max, size_t out_keep);

/*
 * recv(2) of at most n bytes into buf. Returns the bytes read (> 0), 0 at
 * end of stream, -EAGAIN when nothing is available (EINTR included), or
 * another negative errno.
 */
ssize_t sock_recv(struct sock *s, void *buf, size_t n);

/*
 * One loop-wide scratch buffer of SOCK_SCRATCH_SIZE bytes for reads whose
 * bytes are consumed before the callback returns (packet bodies). Loop
 * thread only.
 */
#define SOCK_SCRATCH_SIZE (512u * 1024u)
uint8_t *sock_scratch(void);

/* True while queued bytes (of the queue or of a file) wait to be sent. */
static inline bool sock_sending(const struct sock *s)
{
	return s->out_off < s->out.len || s->gen || s->file_left > 0;
}

/*
 * Returns room for n bytes at the end of the send queue, or NULL (-E2BIG
 * past out_max, or no memory). The bytes count once sock_commit() says so.
 */
uint8_t *sock_reserve(struct sock *s, size_t n);
void sock_commit(struct sock *s, size_t n);
/* Appends n bytes to the send queue. 0, -E2BIG (over out_max) or -ENOMEM. */
int sock_queue(struct sock *s, const void *buf, size_t n);

/*
 * Sends `len` bytes of file `fd` from offset `off` after what the send
 * queue holds (the reply's header), with sendfile(2), at most
 * SOCK_FILE_BURST bytes per wake-up so that one fast reader does not hold
 * the loop. `fd` is taken over (closed once sent, or with the socket), even
 * on error; the caller passes a duplicate whose bytes in that range stay
 * as they are (published packets). A file found shorter than announced
 * closes the socket (the reply cannot be completed). At most one file range
 * per socket at a time. 0, or -EBUSY when one is already queued.
 */
#define SOCK_FILE_BURST (1u << 20)
int sock_queue_file(struct sock *s, int fd, uint64_t off, uint64_t len);

/*
 * Sends the reply that generator `g` produces after what the send queue
 * holds (the reply's header): each time the queue is all sent, g->fill()
 * appends the next piece of at most SOCK_GEN_PIECE bytes (and at most
 * SOCK_FILE_BURST bytes per wake-up are produced). `g` is taken over (freed
 * once complete, or with the socket), even on error. Nothing else may be
 * queued until the reply is sent (sock_sending() false): the owner reads no
 * request meanwhile. At most one generator and no file range at a time.
 * 0, or -EBUSY when a generator or a file range is already queued.
 */
#define SOCK_GEN_PIECE (64u << 10)
int sock_queue_gen(struct sock *s, struct sock_gen *g);

/*
 * A request of this peer is held: its owner answers it later (sock_flush()
 * after sock_unhold()). Nothing is read meanwhile; the socket is polled for
 * `events` only (EPOLLRDHUP: the peer closing; 0: only hang-ups and errors,
 * which epoll always reports), and ops->readable() runs when one happens, to
 * find out whether the peer went away (sock_peer_gone()).
 */
void sock_hold(struct sock *s, uint32_t events);
/* The held request was answered (or dropped): back to reading requests. */
void sock_unhold(struct sock *s);
/*
 * Without consuming anything: 1 if the peer closed its side with nothing
 * left to read (or the socket failed), 0 if bytes wait or nothing happened.
 */
int sock_peer_gone(struct sock *s);

/*
 * One non-blocking send of the queue from ops->readable(): true if it is now
 * empty (the owner may read the next request at once, without waiting for
 * the loop), false if bytes remain (sock_flush() then runs after readable())
 * or the send failed (the socket is closed).
 */
bool sock_try_send(struct sock *s);

/* Sends what it can of the queue; closes the socket on a send error. */
void sock_flush(struct sock *s);
/* Best effort: one non-blocking send of the queue (not of a file range),
 * whatever remains is dropped. */
void sock_send_now(struct sock *s);

/*
 * Closes the socket once (later calls do nothing): stops polling, closes the
 * descriptor, then runs ops->closed(). Safe inside any callback.
 */
void sock_close(struct sock *s, bool error, const char *why);

/* Frees the send queue (from the owner's ops->free). */
void sock_release(struct sock *s);

/*
 * Raises the soft limit on open descriptors to the hard one (a relay holds
 * a few per stream: under the common soft limit of 1024 it ran out at a few
 * hundred streams) and logs the capacity: a notice when it stays under
 * 4096 descriptors, else at info level. Returns the limit in force.
 */
unsigned long sock_raise_fd_limit(void);

/* How many streams may keep their files open under a limit of `nofile`
 * descriptors (relay->max_active, see stream_use()); at least 4. */
size_t sock_max_active_streams(unsigned long nofile);

/* Frees every closed socket of the set (ops->free). */
void sock_set_collect(struct sock_set *set);
/* Closes every socket of the set (as errors, `why`) and frees them. */
void sock_set_close_all(struct sock_set *set, const char *why);

#endif
