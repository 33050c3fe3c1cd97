/* SPDX-License-Identifier: MIT */
/*
 * ctflive-loadgen: a synthetic session daemon + consumer for ingest
 * benchmarks. It speaks the relayd protocol (relayd-protocol.md §2, §5) to
 * any relay (ctflive-relayd, lttng-relayd): VERSION, CREATE_SESSION,
 * CREATE_TRACE_CHUNK 0, one ADD_STREAM per stream plus a metadata stream,
 * STREAMS_SENT, SEND_METADATA; then packets of S streams, round-robin, as
 * fast as the relay takes them (data socket, many packets per sendmsg), each
 * packet's SEND_INDEX pipelined on the control socket (replies counted as
 * they come; at most --window bytes of packets unanswered); then
 * BEGIN_DATA_PENDING / DATA_PENDING / QUIESCENT_CONTROL / END_DATA_PENDING
 * rounds until nothing is pending, as `lttng stop` does; then CLOSE_STREAM.
 *
 * Messages are encoded by the producer's relayd encoders (relayd-tx.h).
 * Packet bodies are zeros (the relay does not read them); the last
 * --padding bytes of each packet travel as padding, appended by the relay.
 *
 * Output (stdout): one line of JSON: bytes (trace data, padding included),
 * packets, seconds (first data byte sent to "nothing pending"), mb_s (10^6
 * bytes per second) and, with --relay-pid, the relay's CPU seconds (utime +
 * stime from /proc/PID/stat) over the same span and per GB (10^9 bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "io.h"
#include "relayd-tx.h"

#define IDX_MSG_SIZE (CL_RELAYD_CTRL_HDR_SIZE + CL_RELAYD_INDEX_SIZE_2_8)
#define MAX_IOV      1024 /* per sendmsg: IOV_MAX on Linux */

static const char metadata_text[] =
	"/* CTF 1.8 */\n"
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
	"typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
	"trace {\n\tmajor = 1;\n\tminor = 8;\n\tbyte_order = le;\n"
	"\tpacket.header := struct { uint32_t magic; uint32_t stream_id; };\n};\n"
	"clock {\n\tname = \"monotonic\";\n\tfreq = 1000000000;\n\toffset = 0;\n};\n"
	"typealias integer { size = 64; align = 8; signed = false; "
	"map = clock.monotonic.value; } := uint64_clock_t;\n"
	"stream {\n\tid = 0;\n\tpacket.context := struct {\n"
	"\t\tuint64_clock_t timestamp_begin;\n\t\tuint64_clock_t timestamp_end;\n"
	"\t\tuint64_t content_size;\n\t\tuint64_t packet_size;\n"
	"\t\tuint64_t packet_seq_num;\n\t\tuint64_t events_discarded;\n"
	"\t\tuint32_t cpu_id;\n\t};\n"
	"\tevent.header := struct { uint32_t id; uint64_clock_t timestamp; };\n};\n"
	"event {\n\tname = \"loadgen:tick\";\n\tid = 0;\n\tstream_id = 0;\n"
	"\tfields := struct { uint64_t index; };\n};\n";

struct opts {
	const char *host;
	const char *ctrl_port;
	const char *data_port;
	uint32_t streams;
	uint32_t packet_size; /* bytes, padding included */
	uint32_t padding;     /* bytes of each packet sent as padding */
	uint64_t total;       /* bytes of trace data to send (all streams) */
	uint64_t window;      /* bytes of packets whose SEND_INDEX is unanswered */
	uint64_t batch;       /* bytes of packets per sendmsg on the data socket */
	uint32_t minor;       /* protocol minor asked for */
	const char *session;
	int relay_pid; /* 0: no CPU measurement */
};

struct gen {
	struct opts o;
	int cfd, dfd;
	uint32_t minor;
	uint64_t session_id;
	uint64_t *handles;
	uint64_t meta_handle;
	uint64_t npackets; /* in all */
	uint64_t data_sent, idx_sent, replied;
	uint8_t *body;  /* shared zero body */
	uint8_t *dhdrs; /* data headers of the batch being sent */
	struct iovec *iov;
	size_t n_iov, iov_at;
	uint64_t batch_first, batch_n;
	uint8_t *cout; /* SEND_INDEX messages being sent */
	size_t cout_len, cout_off;
	uint8_t rep[4096];
	size_t rep_have;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int relay_cpu(int pid, double *ret)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EPROTO;
	*ret = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	int fd, r, one = 1;

	r = getaddrinfo(host, port, &hints, &ai);
	if (r)
		return -EHOSTUNREACH;
	fd = cl_connect_timeout(ai, 10000);
	freeaddrinfo(ai);
	if (fd < 0)
		return fd;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int set_blocking(int fd, bool blocking)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int recv_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Sends one control command (payload from wb) and reads `rep_len` reply bytes. */
static int request(struct gen *g, uint32_t cmd, const uint8_t *payload, size_t len, void *rep,
		   size_t rep_len)
{
	uint8_t hdr[CL_RELAYD_CTRL_HDR_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(hdr, sizeof(hdr));
	int r = cl_relayd_tx_hdr(&wb, cmd, len);

	if (r == 0)
		r = cl_write_full(g->cfd, hdr, wb.pos);
	if (r == 0 && len)
		r = cl_write_full(g->cfd, payload, len);
	if (r == 0 && rep_len)
		r = recv_full(g->cfd, rep, rep_len);
	return r;
}

static int generic(struct gen *g, uint32_t cmd, const uint8_t *payload, size_t len,
		   uint32_t *ret_code)
{
	uint8_t rep[4];
	int r = request(g, cmd, payload, len, rep, sizeof(rep));

	if (r == 0)
		*ret_code = cl_relayd_rx_generic(rep);
	return r;
}

static int expect_ok(struct gen *g, const char *what, uint32_t cmd, const uint8_t *payload,
		     size_t len)
{
	uint32_t code = 0;
	int r = generic(g, cmd, payload, len, &code);

	if (r < 0) {
		fprintf(stderr, "loadgen: %s: %s\n", what, strerror(-r));
		return r;
	}
	if (code != CL_LTTNG_OK) {
		fprintf(stderr, "loadgen: %s: relay answered %u\n", what, code);
		return -EPROTO;
	}
	return 0;
}

static int add_stream(struct gen *g, const char *channel, uint64_t *ret)
{
	uint8_t buf[CL_RELAYD_ADD_STREAM_2_11_SIZE + CL_RELAYD_STREAM_NAME_MAX +
		    CL_RELAYD_STREAM_PATH_MAX],
		rep[12];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	uint32_t code = 0;
	int r = cl_relayd_tx_add_stream(&wb, channel, "ust/uid/1000/64-bit", 0);

	if (r == 0)
		r = request(g, CL_RELAYD_ADD_STREAM, buf, wb.pos, rep, sizeof(rep));
	if (r < 0) {
		fprintf(stderr, "loadgen: ADD_STREAM: %s\n", strerror(-r));
		return r;
	}
	cl_relayd_rx_status_stream(rep, ret, &code);
	if (code != CL_LTTNG_OK) {
		fprintf(stderr, "loadgen: ADD_STREAM %s: relay answered %u\n", channel, code);
		return -EPROTO;
	}
	return 0;
}

static int setup(struct gen *g)
{
	uint8_t buf[1024], rep[16];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	struct cl_relayd_create_session cs = {
		.session_name = g->o.session,
		.hostname = "loadgen",
		.base_path = "",
		.sessiond_session_id = 1,
		.creation_time = (uint64_t)time(NULL),
		.trace_format = CL_RELAYD_TRACE_FORMAT_CTF_1_8,
	};
	uint32_t code, path_len;
	char name[64];
	int r;

	/* §5.1: the connection speaks the lower of both minors. */
	r = cl_relayd_tx_version(&wb, CL_RELAYD_VERSION_MAJOR, g->o.minor);
	if (r == 0)
		r = request(g, CL_RELAYD_VERSION, buf, wb.pos, rep, 8);
	if (r < 0)
		return r;
	if (cl_load_be32(rep) != CL_RELAYD_VERSION_MAJOR) {
		fprintf(stderr, "loadgen: relay speaks major %u\n", cl_load_be32(rep));
		return -EPROTO;
	}
	g->minor = cl_load_be32(rep + 4) < g->o.minor ? cl_load_be32(rep + 4) : g->o.minor;
	if (g->minor < 11) {
		fprintf(stderr, "loadgen: relay speaks minor %u, 11 or later needed\n", g->minor);
		return -EPROTO;
	}
	for (int i = 0; i < 16; i++)
		cs.sessiond_uuid[i] = (uint8_t)(rand() & 0xff);
	wb = cl_wbuf_make(buf, sizeof(buf));
	r = cl_relayd_tx_create_session(&wb, g->minor, &cs);
	if (r == 0)
		r = request(g, CL_RELAYD_CREATE_SESSION, buf, wb.pos, rep, 16);
	if (r < 0)
		return r;
	cl_relayd_rx_create_session(rep, &g->session_id, &code, &path_len);
	while (r == 0 && path_len > 0) {
		size_t n = path_len < sizeof(buf) ? path_len : sizeof(buf);

		r = recv_full(g->cfd, buf, n);
		path_len -= (uint32_t)n;
	}
	if (r < 0 || code != CL_LTTNG_OK) {
		fprintf(stderr, "loadgen: CREATE_SESSION failed (%d, %u)\n", r, code);
		return r < 0 ? r : -EPROTO;
	}
	wb = cl_wbuf_make(buf, sizeof(buf));
	r = cl_relayd_tx_create_chunk(&wb, 0, cs.creation_time);
	if (r == 0)
		r = expect_ok(g, "CREATE_TRACE_CHUNK", CL_RELAYD_CREATE_TRACE_CHUNK, buf, wb.pos);
	for (uint32_t i = 0; r == 0 && i < g->o.streams; i++) {
		(void)snprintf(name, sizeof(name), "chan_%u", i);
		r = add_stream(g, name, &g->handles[i]);
	}
	if (r == 0)
		r = add_stream(g, "metadata", &g->meta_handle);
	if (r == 0)
		r = expect_ok(g, "STREAMS_SENT", CL_RELAYD_STREAMS_SENT, NULL, 0);
	if (r < 0)
		return r;
	/* §2.5 SEND_METADATA: header, sub-header, text; no reply. */
	wb = cl_wbuf_make(buf, sizeof(buf));
	r = cl_relayd_tx_hdr(&wb, CL_RELAYD_SEND_METADATA,
			     CL_RELAYD_METADATA_HDR_SIZE + sizeof(metadata_text) - 1);
	if (r == 0)
		r = cl_relayd_tx_metadata_hdr(&wb, g->meta_handle, 0);
	if (r == 0)
		r = cl_write_full(g->cfd, buf, wb.pos);
	if (r == 0)
		r = cl_write_full(g->cfd, metadata_text, sizeof(metadata_text) - 1);
	return r;
}

static uint64_t pkt_stream(const struct gen *g, uint64_t i)
{
	return g->handles[i % g->o.streams];
}

static uint64_t pkt_seq(const struct gen *g, uint64_t i)
{
	return i / g->o.streams;
}

/* Prepares the next batch of packets for the data socket. */
static void build_batch(struct gen *g)
{
	uint64_t per = g->o.batch / g->o.packet_size, n;
	uint32_t body = g->o.packet_size - g->o.padding;

	if (per == 0)
		per = 1;
	if (per > MAX_IOV / 2)
		per = MAX_IOV / 2;
	n = g->npackets - g->data_sent < per ? g->npackets - g->data_sent : per;
	g->n_iov = 0;
	g->iov_at = 0;
	for (uint64_t k = 0; k < n; k++) {
		uint64_t i = g->data_sent + k;
		uint8_t *h = g->dhdrs + k * CL_RELAYD_DATA_HDR_SIZE;
		struct cl_wbuf wb = cl_wbuf_make(h, CL_RELAYD_DATA_HDR_SIZE);
		struct cl_relayd_data_hdr dh = {
			.stream_id = pkt_stream(g, i),
			.net_seq_num = pkt_seq(g, i),
			.data_size = body,
			.padding_size = g->o.padding,
		};

		(void)cl_relayd_tx_data_hdr(&wb, &dh);
		g->iov[g->n_iov++] = (struct iovec){ h, CL_RELAYD_DATA_HDR_SIZE };
		if (body)
			g->iov[g->n_iov++] = (struct iovec){ g->body, body };
	}
	g->batch_first = g->data_sent;
	g->batch_n = n;
}

/* SEND_INDEX of packets [first, first + n) into the control output buffer. */
static void build_indexes(struct gen *g, uint64_t first, uint64_t n)
{
	struct cl_wbuf wb = cl_wbuf_make(g->cout, n * IDX_MSG_SIZE);

	for (uint64_t i = first; i < first + n; i++) {
		uint64_t seq = pkt_seq(g, i);
		struct cl_relayd_index ix = {
			.relay_stream_id = pkt_stream(g, i),
			.net_seq_num = seq,
			.packet_size = (uint64_t)g->o.packet_size * 8,
			.content_size = (uint64_t)(g->o.packet_size - g->o.padding) * 8,
			.timestamp_begin = seq * 1000,
			.timestamp_end = seq * 1000 + 999,
			.events_discarded = 0,
			.stream_id = 0,
			.stream_instance_id = i % g->o.streams,
			.packet_seq_num = seq,
		};

		(void)cl_relayd_tx_hdr(&wb, CL_RELAYD_SEND_INDEX, CL_RELAYD_INDEX_SIZE_2_8);
		(void)cl_relayd_tx_index(&wb, &ix);
	}
	g->cout_len = wb.pos;
	g->cout_off = 0;
}

static int send_data(struct gen *g)
{
	while (g->iov_at < g->n_iov) {
		size_t cnt = g->n_iov - g->iov_at;
		struct msghdr mh = { .msg_iov = g->iov + g->iov_at,
				     .msg_iovlen = cnt > MAX_IOV ? MAX_IOV : cnt };
		ssize_t n = sendmsg(g->dfd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		while (n > 0) {
			struct iovec *v = &g->iov[g->iov_at];

			if ((size_t)n >= v->iov_len) {
				n -= (ssize_t)v->iov_len;
				g->iov_at++;
			} else {
				v->iov_base = (uint8_t *)v->iov_base + n;
				v->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

static int read_replies(struct gen *g)
{
	for (;;) {
		ssize_t n = recv(g->cfd, g->rep + g->rep_have, sizeof(g->rep) - g->rep_have, 0);
		size_t i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		g->rep_have += (size_t)n;
		for (i = 0; i + 4 <= g->rep_have; i += 4) {
			uint32_t code = cl_relayd_rx_generic(g->rep + i);

			if (code != CL_LTTNG_OK) {
				fprintf(stderr, "loadgen: SEND_INDEX refused (%u)\n", code);
				return -EPROTO;
			}
			g->replied++;
		}
		memmove(g->rep, g->rep + i, g->rep_have - i);
		g->rep_have -= i;
	}
}

static int pump(struct gen *g)
{
	uint64_t per_window = g->o.window / g->o.packet_size, before;
	int r;

	if (per_window == 0)
		per_window = 1;
	r = set_blocking(g->cfd, false);
	if (r == 0)
		r = set_blocking(g->dfd, false);
	if (r < 0)
		return r;
	while (g->replied < g->npackets) {
		struct pollfd p[2] = { { .fd = g->dfd }, { .fd = g->cfd, .events = POLLIN } };

		/* Next data batch: within the window of unanswered packets. */
		if (g->iov_at == g->n_iov) {
			if (g->batch_n) {
				g->data_sent = g->batch_first + g->batch_n;
				g->batch_n = 0;
			}
			if (g->data_sent < g->npackets && g->data_sent - g->replied < per_window)
				build_batch(g);
		}
		/* Indexes of the packets whose data went. */
		if (g->cout_off == g->cout_len && g->idx_sent < g->data_sent) {
			uint64_t n = g->data_sent - g->idx_sent;

			if (n > MAX_IOV)
				n = MAX_IOV;
			build_indexes(g, g->idx_sent, n);
			g->idx_sent += n;
		}
		r = send_data(g);
		if (r < 0)
			return r;
		while (g->cout_off < g->cout_len) {
			ssize_t n = send(g->cfd, g->cout + g->cout_off, g->cout_len - g->cout_off,
					 MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0)
				return -errno;
			g->cout_off += (size_t)n;
		}
		before = g->replied;
		r = read_replies(g);
		if (r < 0)
			return r;
		if (g->replied >= g->npackets)
			break;
		/* Replies may have opened the window: build the next batch first. */
		if (g->replied != before)
			continue;
		if (g->iov_at < g->n_iov)
			p[0].events = POLLOUT;
		if (g->cout_off < g->cout_len)
			p[1].events |= POLLOUT;
		/* Progress possible without waiting: loop again. */
		if (g->iov_at == g->n_iov && g->batch_n)
			continue;
		if (g->cout_off == g->cout_len && g->idx_sent < g->data_sent)
			continue;
		if (poll(p, 2, 30000) == 0) {
			fprintf(stderr,
				"loadgen: no progress for 30 s (%" PRIu64 " of %" PRIu64
				" packets answered)\n",
				g->replied, g->npackets);
			return -ETIMEDOUT;
		}
	}
	r = set_blocking(g->cfd, true);
	return r;
}

/* Data-pending rounds (§5.8, §5.10) until the relay has every packet. */
static int drain(struct gen *g)
{
	uint8_t buf[16];
	struct cl_wbuf wb;
	uint64_t last = g->npackets / g->o.streams - 1;
	double deadline = now_s() + 120;
	uint32_t code = 0;
	int r;

	for (;;) {
		bool pending = false;

		if (now_s() > deadline) {
			fprintf(stderr, "loadgen: data still pending after 120 s\n");
			return -ETIMEDOUT;
		}
		wb = cl_wbuf_make(buf, sizeof(buf));
		(void)cl_relayd_tx_u64(&wb, g->session_id);
		r = expect_ok(g, "BEGIN_DATA_PENDING", CL_RELAYD_BEGIN_DATA_PENDING, buf, wb.pos);
		for (uint32_t i = 0; r == 0 && i < g->o.streams; i++) {
			wb = cl_wbuf_make(buf, sizeof(buf));
			(void)cl_relayd_tx_u64_pair(&wb, g->handles[i], last);
			r = generic(g, CL_RELAYD_DATA_PENDING, buf, wb.pos, &code);
			pending |= code != 0;
		}
		wb = cl_wbuf_make(buf, sizeof(buf));
		(void)cl_relayd_tx_u64(&wb, g->meta_handle);
		if (r == 0)
			r = expect_ok(g, "QUIESCENT_CONTROL", CL_RELAYD_QUIESCENT_CONTROL, buf,
				      wb.pos);
		wb = cl_wbuf_make(buf, sizeof(buf));
		(void)cl_relayd_tx_u64(&wb, g->session_id);
		if (r == 0)
			r = generic(g, CL_RELAYD_END_DATA_PENDING, buf, wb.pos, &code);
		if (r < 0)
			return r;
		if (code == 0 && !pending)
			return 0;
		usleep(1000);
	}
}

static int close_streams(struct gen *g)
{
	uint64_t last = g->npackets / g->o.streams - 1;
	uint8_t buf[16];
	int r = 0;

	for (uint32_t i = 0; r == 0 && i < g->o.streams; i++) {
		struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));

		(void)cl_relayd_tx_u64_pair(&wb, g->handles[i], last);
		r = expect_ok(g, "CLOSE_STREAM", CL_RELAYD_CLOSE_STREAM, buf, wb.pos);
	}
	if (r == 0) {
		/* The metadata stream last: relays differ on its last sequence
		 * number, so any answer will do. */
		struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
		uint32_t code;

		(void)cl_relayd_tx_u64_pair(&wb, g->meta_handle, 0);
		r = generic(g, CL_RELAYD_CLOSE_STREAM, buf, wb.pos, &code);
	}
	return r;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ctflive-loadgen [options]\n"
		"  --host H            relay host (127.0.0.1)\n"
		"  --control-port P    control port (5342)\n"
		"  --data-port P       data port (5343)\n"
		"  --streams N         streams (4)\n"
		"  --packet-size B     bytes per packet, padding included (4096)\n"
		"  --padding B         bytes of each packet sent as padding (64)\n"
		"  --bytes B           bytes of trace data in all (200000000)\n"
		"  --window B          packet bytes whose SEND_INDEX may be unanswered (16 MiB)\n"
		"  --batch B           packet bytes per data sendmsg (1 MiB)\n"
		"  --minor M           protocol minor to ask for (13)\n"
		"  --session NAME      session name (loadgen)\n"
		"  --relay-pid PID     report that process's CPU time over the run\n");
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "control-port", required_argument, NULL, 'c' },
		{ "data-port", required_argument, NULL, 'd' },
		{ "streams", required_argument, NULL, 's' },
		{ "packet-size", required_argument, NULL, 'p' },
		{ "padding", required_argument, NULL, 'P' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "window", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'B' },
		{ "minor", required_argument, NULL, 'm' },
		{ "session", required_argument, NULL, 'n' },
		{ "relay-pid", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct gen g = { .cfd = -1, .dfd = -1 };
	struct opts *o = &g.o;
	double ts, t0, t1, cpu0 = 0, cpu1 = 0;
	uint64_t v, bytes;
	int c, r;

	*o = (struct opts){ .host = "127.0.0.1",
			    .ctrl_port = "5342",
			    .data_port = "5343",
			    .streams = 4,
			    .packet_size = 4096,
			    .padding = 64,
			    .total = 200000000,
			    .window = 16u << 20,
			    .batch = 1u << 20,
			    .minor = 13,
			    .session = "loadgen" };
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == '?') {
			usage(stderr);
			return 2;
		}
		if (c == 'H' || c == 'c' || c == 'd' || c == 'n') {
			*(c == 'H'   ? &o->host
			  : c == 'c' ? &o->ctrl_port
			  : c == 'd' ? &o->data_port
				     : &o->session) = optarg;
			continue;
		}
		if (parse_u64(optarg, &v) < 0 ||
		    (c != 'b' && c != 'w' && c != 'B' && v > UINT32_MAX)) {
			fprintf(stderr, "loadgen: bad value '%s'\n", optarg);
			return 2;
		}
		switch (c) {
		case 's':
			o->streams = (uint32_t)v;
			break;
		case 'p':
			o->packet_size = (uint32_t)v;
			break;
		case 'P':
			o->padding = (uint32_t)v;
			break;
		case 'b':
			o->total = v;
			break;
		case 'w':
			o->window = v;
			break;
		case 'B':
			o->batch = v;
			break;
		case 'm':
			o->minor = (uint32_t)v;
			break;
		case 'r':
			o->relay_pid = (int)v;
			break;
		default:
			break;
		}
	}
	if (o->streams == 0 || o->packet_size == 0 || o->padding > o->packet_size ||
	    o->packet_size - o->padding == 0) {
		fprintf(stderr, "loadgen: need streams > 0 and a packet larger than its padding\n");
		return 2;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	g.npackets = o->total / o->packet_size / o->streams;
	if (g.npackets == 0)
		g.npackets = 1;
	g.npackets *= o->streams;
	g.handles = calloc(o->streams, sizeof(*g.handles));
	g.body = calloc(1, o->packet_size);
	g.dhdrs = calloc(MAX_IOV / 2, CL_RELAYD_DATA_HDR_SIZE);
	g.iov = calloc(MAX_IOV, sizeof(*g.iov));
	g.cout = calloc(MAX_IOV, IDX_MSG_SIZE);
	if (!g.handles || !g.body || !g.dhdrs || !g.iov || !g.cout) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	g.cfd = connect_to(o->host, o->ctrl_port);
	g.dfd = g.cfd < 0 ? g.cfd : connect_to(o->host, o->data_port);
	if (g.cfd < 0 || g.dfd < 0) {
		fprintf(stderr, "loadgen: cannot connect to %s: %s\n", o->host,
			strerror(-(g.cfd < 0 ? g.cfd : g.dfd)));
		return 1;
	}
	/* Both sockets were made non-blocking by the connect; setup is blocking. */
	r = set_blocking(g.cfd, true);
	if (r == 0)
		r = set_blocking(g.dfd, true);
	ts = now_s();
	if (r == 0)
		r = setup(&g);
	if (r < 0) {
		fprintf(stderr, "loadgen: setup failed: %s\n", strerror(-r));
		return 1;
	}
	if (o->relay_pid && relay_cpu(o->relay_pid, &cpu0) < 0) {
		fprintf(stderr, "loadgen: cannot read /proc/%d/stat\n", o->relay_pid);
		return 1;
	}
	t0 = now_s();
	r = pump(&g);
	if (r == 0)
		r = drain(&g);
	t1 = now_s();
	if (r == 0 && o->relay_pid)
		r = relay_cpu(o->relay_pid, &cpu1);
	if (r == 0)
		r = close_streams(&g);
	if (r < 0) {
		fprintf(stderr, "loadgen: %s\n", strerror(-r));
		return 1;
	}
	bytes = g.npackets * o->packet_size;
	printf("{\"bytes\": %" PRIu64 ", \"packets\": %" PRIu64 ", \"streams\": %u, "
	       "\"packet_size\": %u, \"setup_s\": %.6f, \"seconds\": %.6f, \"mb_s\": %.3f",
	       bytes, g.npackets, o->streams, o->packet_size, t0 - ts, t1 - t0,
	       (double)bytes / (t1 - t0) / 1e6);
	if (o->relay_pid)
		printf(", \"relay_cpu_s\": %.3f, \"cpu_s_per_gb\": %.4f", cpu1 - cpu0,
		       (cpu1 - cpu0) / ((double)bytes / 1e9));
	printf("}\n");
	close(g.cfd);
	close(g.dfd);
	free(g.handles);
	free(g.body);
	free(g.dhdrs);
	free(g.iov);
	free(g.cout);
	return 0;
}
