/* SPDX-License-Identifier: MIT */
/*
 * Producer sockets: connecting, the two send queues, and the replies of the
 * control socket read in request order (relayd-protocol.md §2.2: replies
 * have no header, their size follows from the request).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "producer-internal.h"
#include "relayd-tx.h"

int cl_prod_set_err(struct ctflive_producer *p, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return r;
}

void cl_prod_close(struct ctflive_producer *p)
{
	if (p->cfd >= 0)
		close(p->cfd);
	if (p->dfd >= 0)
		close(p->dfd);
	p->cfd = p->dfd = -1;
	cl_buf_clear(&p->cq.buf);
	cl_buf_clear(&p->dq.buf);
	p->cq.head = p->dq.head = 0;
	p->cq.queued = p->cq.written = p->dq.queued = p->dq.written = 0;
	p->md_end = 0;
	p->phead = p->pn = 0;
	p->inlen = 0;
	p->sync_done = false;
	for (size_t i = 0; i < p->ntraces; i++)
		p->traces[i]->added = false;
	for (size_t i = 0; i < p->nstreams; i++) {
		struct ctflive_producer_stream *st = p->streams[i];

		/* every packet still in flight is lost: say which */
		while (st->in) {
			struct inflight *f = &st->inflight[st->ihead];

			st->ihead = (st->ihead + 1) % CTFLIVE_PRODUCER_MAX_INFLIGHT;
			st->in--;
			p->stats.packets_lost++;
			if (p->lost_fn)
				p->lost_fn(p->lost_ctx, st, f->tag);
		}
		st->ihead = 0;
		st->added = false;
		st->dp_query = false;
		st->has_packet = false;
		st->sent_since_tick = false;
		st->next_seq = 0;
	}
}

int cl_prod_fail(struct ctflive_producer *p, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	cl_prod_close(p);
	return r;
}

static int connect_port(struct ctflive_producer *p, uint16_t port, const char *role)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char portstr[8];
	int r, fd = -ECONNREFUSED;

	hints.ai_family = p->family;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", (unsigned int)port);
	r = getaddrinfo(p->host, portstr, &hints, &res);
	if (r != 0)
		return cl_prod_set_err(p, r == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH,
				       "cannot resolve '%s': %s", p->host, gai_strerror(r));
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = cl_connect_timeout(ai, p->timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return cl_prod_set_err(p, fd,
				       "cannot connect to '%s' port %u (the relay's %s port: "
				       "net://HOST[:CONTROL[:DATA]], default 5342 and 5343): %s",
				       p->host, (unsigned int)port, role, strerror(-fd));
	return fd;
}

int cl_prod_open(struct ctflive_producer *p)
{
	int fd;

	cl_prod_close(p);
	fd = connect_port(p, p->ctrl_port, "control");
	if (fd < 0)
		return fd;
	p->cfd = fd;
	fd = connect_port(p, p->data_port, "data");
	if (fd < 0) {
		cl_prod_close(p);
		return fd;
	}
	p->dfd = fd;
	return 0;
}

int cl_prod_queue(struct ctflive_producer *p, struct sendq *q, const void *data, size_t len)
{
	/* compact once the written part dominates, so memory stays bounded */
	if (q->head && q->head >= q->buf.len / 2) {
		memmove(q->buf.data, q->buf.data + q->head, q->buf.len - q->head);
		q->buf.len -= q->head;
		q->head = 0;
	}
	if (cl_buf_append(&q->buf, data, len) < 0)
		return cl_prod_set_err(p, -ENOMEM, "out of memory for the send queue");
	q->queued += len;
	return 0;
}

int cl_prod_data(struct ctflive_producer *p, const void *hdr, size_t hlen, const void *data,
		 size_t dlen)
{
	struct iovec iov[2] = { { (void *)(uintptr_t)hdr, hlen },
				{ (void *)(uintptr_t)data, dlen } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	size_t sent = 0;
	ssize_t n;
	int r;

	/* nothing waits before it: straight to the socket, no copy; what the
	 * socket does not take now is queued */
	if (!cl_prod_qlen(&p->dq) && cl_prod_data_gate(p)) {
		do
			n = sendmsg(p->dfd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN)
			return cl_prod_fail(p, -errno, "data connection: %s", strerror(errno));
		if (n > 0)
			sent = (size_t)n;
	}
	p->dq.written += sent;
	p->dq.queued += sent;
	if (sent < hlen) {
		r = cl_prod_queue(p, &p->dq, (const uint8_t *)hdr + sent, hlen - sent);
		if (r == 0)
			r = cl_prod_queue(p, &p->dq, data, dlen);
		return r;
	}
	sent -= hlen;
	return sent < dlen ? cl_prod_queue(p, &p->dq, (const uint8_t *)data + sent, dlen - sent)
			   : 0;
}

int cl_prod_ctrl(struct ctflive_producer *p, uint32_t cmd, const void *payload, size_t len,
		 int kind, struct ctflive_producer_stream *st, uint64_t seq)
{
	uint8_t hdr[CL_RELAYD_CTRL_HDR_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(hdr, sizeof(hdr));
	int r;

	if (p->cfd < 0)
		return -ENOTCONN;
	if (kind >= 0) {
		if (p->pn >= CL_PRODUCER_MAX_PENDING)
			return cl_prod_set_err(p, -EAGAIN, "too many replies awaited");
		if (p->pn == p->pcap) {
			/* grow the ring: unroll it first */
			struct pend *n = malloc((p->pcap ? p->pcap * 2 : 64) * sizeof(*n));

			if (!n)
				return -ENOMEM;
			for (size_t i = 0; i < p->pn; i++)
				n[i] = p->pend[(p->phead + i) % p->pcap];
			free(p->pend);
			p->pend = n;
			p->pcap = p->pcap ? p->pcap * 2 : 64;
			p->phead = 0;
		}
	}
	(void)cl_relayd_tx_hdr(&wb, cmd, len);
	r = cl_prod_queue(p, &p->cq, hdr, wb.pos);
	if (r == 0 && len)
		r = cl_prod_queue(p, &p->cq, payload, len);
	if (r < 0)
		return r;
	if (kind >= 0) {
		p->pend[(p->phead + p->pn) % p->pcap] =
			(struct pend){ .cmd = cmd, .kind = (uint8_t)kind, .st = st, .seq = seq };
		p->pn++;
	}
	return 0;
}

void cl_prod_confirm(struct ctflive_producer_stream *st, uint64_t seq)
{
	while (st->in) {
		struct inflight *f = &st->inflight[st->ihead];

		if ((int64_t)(f->net_seq_num - seq) > 0)
			break;
		st->ihead = (st->ihead + 1) % CTFLIVE_PRODUCER_MAX_INFLIGHT;
		st->in--;
		st->p->stats.packets_confirmed++;
	}
}

/* Size of the reply to the head request given the bytes read so far;
 * 0 if more bytes are needed to know. */
static size_t reply_size(const struct pend *pd, const uint8_t *in, size_t len)
{
	switch (pd->cmd) {
	case CL_RELAYD_VERSION:
		return 8;
	case CL_RELAYD_GET_CONFIGURATION:
	case CL_RELAYD_ADD_STREAM:
		return 12;
	case CL_RELAYD_CREATE_SESSION:
		if (len < 16)
			return 16;
		return 16 + cl_load_be32(in + 12);
	default:
		return 4;
	}
}

static int handle_reply(struct ctflive_producer *p, const struct pend *pd, const uint8_t *rep,
			size_t len)
{
	uint32_t code = len >= 4 ? cl_relayd_rx_generic(rep) : 0;

	switch (pd->kind) {
	case PEND_SYNC:
		memcpy(p->sync_rep, rep, len);
		p->sync_len = len;
		p->sync_done = true;
		return 0;
	case PEND_CHECK:
		if (code != CL_LTTNG_OK)
			return cl_prod_fail(p, -EPROTO, "the relay refused %s: %s",
					    cl_relayd_cmd_name(pd->cmd),
					    cl_relayd_status_words(pd->cmd, code));
		return 0;
	case PEND_DATA_PENDING:
		pd->st->dp_query = false;
		if (code == 0)
			cl_prod_confirm(pd->st, pd->seq);
		else if (code != 1)
			return cl_prod_fail(
				p, -EPROTO,
				"the relay answered DATA_PENDING of stream '%s' with %u",
				pd->st->name, code);
		return 0;
	}
	return 0;
}

static int read_replies(struct ctflive_producer *p)
{
	for (;;) {
		ssize_t n;
		size_t used = 0;

		if (!p->pn)
			return 0;
		n = recv(p->cfd, p->in + p->inlen, sizeof(p->in) - p->inlen, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cl_prod_fail(p, -errno, "control connection: %s", strerror(errno));
		if (n == 0)
			return cl_prod_fail(
				p, -ECONNRESET, "the relay closed the control connection%s",
				p->minor ? ""
					 : " before its first reply (is it the relay's "
					   "control port? net://HOST[:CONTROL[:DATA]])");
		p->inlen += (size_t)n;
		while (p->pn) {
			struct pend pd = p->pend[p->phead];
			size_t want = reply_size(&pd, p->in + used, p->inlen - used);
			int r;

			if (want > sizeof(p->sync_rep))
				return cl_prod_fail(p, -EPROTO, "the relay sent a %zu-byte reply",
						    want);
			if (p->inlen - used < want) {
				want = reply_size(&pd, p->in + used, p->inlen - used);
				if (p->inlen - used < want)
					break;
			}
			p->phead = (p->phead + 1) % p->pcap;
			p->pn--;
			r = handle_reply(p, &pd, p->in + used, want);
			if (r < 0)
				return r;
			used += want;
		}
		memmove(p->in, p->in + used, p->inlen - used);
		p->inlen -= used;
		if (p->inlen == sizeof(p->in))
			return cl_prod_fail(p, -EPROTO, "reply buffer overflow");
	}
}

/* Writes q up to its absolute byte `limit` (UINT64_MAX: everything). */
static int write_queue(struct ctflive_producer *p, int fd, struct sendq *q, const char *what,
		       uint64_t limit)
{
	while (cl_prod_qlen(q) && q->written < limit) {
		size_t want = cl_prod_qlen(q);
		ssize_t n;

		if (limit - q->written < want)
			want = (size_t)(limit - q->written);
		n = send(fd, q->buf.data + q->head, want, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cl_prod_fail(p, -errno, "%s connection: %s", what, strerror(errno));
		q->head += (size_t)n;
		q->written += (uint64_t)n;
	}
	if (!cl_prod_qlen(q)) {
		q->head = 0;
		q->buf.len = 0;
	}
	return 0;
}

/* One round of non-blocking writes and reads. */
static int io_once(struct ctflive_producer *p)
{
	int r;

	if (p->cfd < 0)
		return -ENOTCONN;
	/* the metadata a packet needs reaches the relay before the packet's
	 * first byte (the design's point 7); then, as lttng-consumerd sends
	 * them, a packet's data before its index */
	r = write_queue(p, p->cfd, &p->cq, "control", p->md_end);
	if (r == 0 && cl_prod_data_gate(p))
		r = write_queue(p, p->dfd, &p->dq, "data", UINT64_MAX);
	if (r == 0 && !cl_prod_qlen(&p->dq))
		r = write_queue(p, p->cfd, &p->cq, "control", UINT64_MAX);
	if (r == 0)
		r = read_replies(p);
	return r;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until `done` (or the queues are empty and nothing is awaited, when
 * done is NULL). */
static int pump_until(struct ctflive_producer *p, int timeout_ms, const bool *done)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd[2];
		int64_t left;
		int r = io_once(p);

		if (r < 0)
			return r;
		if (done ? *done : (!cl_prod_qlen(&p->cq) && !cl_prod_qlen(&p->dq) && !p->pn))
			return 0;
		left = deadline - now_ms();
		if (left <= 0)
			return -EAGAIN;
		pfd[0] = (struct pollfd){
			.fd = p->cfd,
			.events = (short)((cl_prod_qlen(&p->cq) && (!cl_prod_data_gate(p) ||
								    !cl_prod_qlen(&p->dq))
						   ? POLLOUT
						   : 0) |
					  (p->pn ? POLLIN : 0))
		};
		pfd[1] = (struct pollfd){
			.fd = p->dfd,
			.events =
				(short)(cl_prod_qlen(&p->dq) && cl_prod_data_gate(p) ? POLLOUT : 0)
		};
		r = poll(pfd, 2, left > 1000 ? 1000 : (int)left);
		if (r < 0 && errno != EINTR)
			return cl_prod_fail(p, -errno, "poll: %s", strerror(errno));
		/* a peer that closed shows as POLLIN/POLLHUP: recv() finds it */
		if (r > 0 && ((pfd[0].revents | pfd[1].revents) & (POLLHUP | POLLERR))) {
			char c;
			ssize_t n = recv(pfd[1].revents & (POLLHUP | POLLERR) ? p->dfd : p->cfd, &c,
					 1, MSG_DONTWAIT | MSG_PEEK);

			if (n == 0 || (n < 0 && errno != EAGAIN))
				return cl_prod_fail(
					p, n == 0 ? -ECONNRESET : -errno,
					"the relay closed the connection%s",
					p->minor ? ""
						 : " before its first reply (are those the relay's "
						   "control and data ports? "
						   "net://HOST[:CONTROL[:DATA]])");
		}
	}
}

int cl_prod_pump(struct ctflive_producer *p, int timeout_ms)
{
	return pump_until(p, timeout_ms, NULL);
}

int cl_prod_request(struct ctflive_producer *p, uint32_t cmd, const void *payload, size_t len)
{
	int r;

	p->sync_done = false;
	r = cl_prod_ctrl(p, cmd, payload, len, PEND_SYNC, NULL, 0);
	if (r < 0)
		return r;
	r = pump_until(p, p->timeout_ms, &p->sync_done);
	if (r == -EAGAIN)
		return cl_prod_fail(p, -ETIMEDOUT, "no reply from the relay to %s within %d ms",
				    cl_relayd_cmd_name(cmd), p->timeout_ms);
	return r;
}
