/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the relay daemon itself, not only its codecs: an
 * in-process relay (src/relayd: its loop, connections, command table,
 * sessions, trace chunks, streams, publication, live server) fed control,
 * data and live byte streams over real loopback connections, writing under
 * a temporary output directory that is emptied between inputs.
 *
 * Input: a sequence of records, each
 *
 *   byte 0   what: bits 0-1 the port (0 control, 1 data, 2 live, 3 none),
 *            bit 2 the second connection of that port, bit 3 close that
 *            connection after the bytes, bits 4-7 unused
 *   byte 1-2 length, little-endian (cut to what is left)
 *   bytes    sent on that connection (opened on first use)
 *
 * After each record the loop runs until it is idle and the replies are read
 * and dropped. Byte 0 of the whole input is the sync policy (bit 0: publish
 * after fdatasync, as the default relay does; else --sync none). A fresh
 * relay serves every input. fuzz/gen-daemon-corpus.py writes the seeds:
 * whole sessions (control, data, a live viewer) in this format.
 *
 * Speed (executions per second) matters as much as reach here: the output
 * directory is on tmpfs (/dev/shm, or $FUZZ_DAEMON_TMPDIR), where creating,
 * syncing and removing files costs no disk I/O; a connection is accepted
 * right after the harness connects instead of polling the three listeners
 * on every turn of the loop; inputs over MAX_INPUT bytes or MAX_RECORDS
 * records are not run (more of the same, slower). The protocol lets a
 * producer ask for up to 4 GiB of zero padding per packet, which the relay
 * writes: RLIMIT_FSIZE (MAX_FILE, SIGXFSZ ignored) turns such writes into
 * EFBIG, one more way for a write to fail, instead of seconds of zeros.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "live.h"
#include "log.h"
#include "loop.h"
#include "marker.h"
#include "publish.h"
#include "relay.h"

/* A failure of the harness itself (not of the relay): says why on stderr and,
 * since libFuzzer's -close_fd_mask may have closed stderr, also appends it to
 * the file named by CTFLIVE_FUZZ_LOG when set; then aborts. */
static void harness_fail(const char *what, int err)
{
	const char *log = getenv("CTFLIVE_FUZZ_LOG");

	fprintf(stderr, "fuzz-daemon: %s: %s\n", what, strerror(err));
	if (log) {
		FILE *f = fopen(log, "a");

		if (f) {
			fprintf(f, "fuzz-daemon: %s: %s\n", what, strerror(err));
			fclose(f);
		}
	}
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT   (64u << 10)
#define MAX_RECORDS 256
#define MAX_FILE    (1u << 20) /* bytes */

static int listeners[3] = { -1, -1, -1 };
static uint16_t ports[3];
static char root[256]; /* temporary directory holding "out" */

static int listen_loopback(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		harness_fail("listener", errno);
	*port = ntohs(a.sin_port);
	return fd;
}

static void remove_root(void)
{
	(void)rmdir(root);
}

static void setup_once(void)
{
	struct rlimit fsize;
	const char *tmp;

	if (listeners[0] >= 0)
		return;
	cl_log_set_program("fuzz-daemon");
	cl_log_set_level(getenv("FUZZ_DAEMON_LOG") ? CL_LOG_DEBUG : CL_LOG_ERROR);
	tmp = getenv("FUZZ_DAEMON_TMPDIR");
	if (!tmp)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	(void)snprintf(root, sizeof(root), "%s/ctflive-fuzz-daemon-XXXXXX", tmp);
	if (!mkdtemp(root))
		harness_fail(root, errno);
	(void)atexit(remove_root);
	if (getrlimit(RLIMIT_FSIZE, &fsize) < 0)
		abort();
	fsize.rlim_cur = MAX_FILE;
	if (setrlimit(RLIMIT_FSIZE, &fsize) < 0 || signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		abort();
	for (int i = 0; i < 3; i++)
		listeners[i] = listen_loopback(&ports[i]);
}

struct client {
	int fd;
};

/* Runs the loop until idle (twice in a row: a reply flushed lets the next
 * message be read). */
static void pump(struct relay *relay, struct client *clients)
{
	static uint8_t sink[65536];
	int idle = 0;

	for (int round = 0; round < 4096 && idle < 2; round++) {
		int n;

		n = cl_loop_run_once(relay->loop, 0);
		/* Drop the replies so that the relay never waits on a full socket. */
		for (int i = 0; i < 6; i++)
			while (clients[i].fd >= 0 &&
			       recv(clients[i].fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
			}
		idle = n <= 0 ? idle + 1 : 0;
	}
}

static void pump(struct relay *relay, struct client *clients);

/* Sends all of buf, letting the relay run while the socket is full. */
static int send_all(struct relay *relay, struct client *clients, struct client *c,
		    const uint8_t *buf, size_t len)
{
	for (int tries = 0; len > 0 && tries < 1000; tries++) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
		if (len > 0)
			pump(relay, clients);
	}
	return len > 0 ? -1 : 0;
}

/* Connects to port_index's listener; the relay accepts it at once (on
 * loopback, connect() returns with the connection queued on the listener). */
static int client_connect(struct relay *relay, int port_index)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(ports[port_index]) };
	/* Each connection from the next of 65536 loopback source addresses:
	 * millions of short connections to one port leave every ephemeral
	 * port of one source address in TIME_WAIT (connect: EADDRNOTAVAIL). */
	static uint32_t next_src;
	struct sockaddr_in src = { .sin_family = AF_INET };
	int fd = -1, one = 1, err = 0;

	/* A source address whose ports are all busy is skipped: up to 16 are
	 * tried before the harness gives up (a harness failure, not the relay's). */
	for (int tries = 0; tries < 16; tries++) {
		src.sin_addr.s_addr = htonl(0x7f010000u | (next_src++ & 0xffffu));
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* Without it, Nagle holds a small message behind one the relay does
		 * not answer (SEND_METADATA) until a delayed ACK, long after the pump. */
		if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
		    bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0 &&
		    connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		err = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (err != EADDRNOTAVAIL && err != EADDRINUSE)
			break;
	}
	if (fd < 0)
		harness_fail("client connection", err);
	if (port_index == 2)
		(void)live_accept(relay, listeners[port_index]);
	else
		(void)conn_accept(relay, listeners[port_index],
				  port_index == 0 ? CONN_CONTROL : CONN_DATA);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay relay = { .output_fd = -1 };
	struct client clients[6];
	char out[sizeof(root) + 8];
	size_t pos = 1;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	for (size_t p = 1, n = 0; p + 3 <= size; n++) {
		if (n == MAX_RECORDS)
			return 0;
		p += 3 + ((size_t)data[p + 1] | (size_t)data[p + 2] << 8);
	}
	setup_once();
	for (int i = 0; i < 6; i++)
		clients[i].fd = -1;
	(void)snprintf(out, sizeof(out), "%s/out", root);
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		harness_fail(out, errno);
	relay.output_fd = open(out, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (relay.output_fd < 0)
		harness_fail(out, errno);
	cl_list_init(&relay.sessions);
	cl_list_init(&relay.streams);
	cl_list_init(&relay.chunks);
	cl_list_init(&relay.markers);
	cl_list_init(&relay.active);
	cl_list_init(&relay.pdirs);
	relay.max_active = 4; /* few: streams are parked and reopened (stream_use()) */
	sock_set_init(&relay.conns, RELAY_MAX_CONNECTIONS, "connections");
	relay.allow_clear = true;
	relay.max_minor = 15;
	relay.max_packet = RELAY_DEFAULT_MAX_PACKET;
	relay.next_stream_handle = 1;
	relay.sync_publish = data[0] & 1;
	if (cl_loop_new(&relay.loop) < 0 || live_init(&relay) < 0 || publish_init(&relay) < 0)
		harness_fail("relay set-up", errno);

	while (pos + 3 <= size) {
		unsigned what = data[pos], port = what & 3;
		size_t len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;
		struct client *c = port < 3 ? &clients[port * 2 + ((what >> 2) & 1)] : NULL;

		pos += 3;
		len = len < size - pos ? len : size - pos;
		if (c) {
			if (c->fd < 0) {
				c->fd = client_connect(&relay, (int)port);
				pump(&relay, clients);
			}
			if (len > 0 && send_all(&relay, clients, c, data + pos, len) < 0) {
				close(c->fd);
				c->fd = -1;
			}
			pump(&relay, clients);
			if ((what & 8) && c->fd >= 0) {
				close(c->fd);
				c->fd = -1;
			}
		}
		pos += len;
		pump(&relay, clients);
	}
	/* The sync worker completes what was queued: let its completions run. */
	for (int i = 0; i < 6; i++)
		if (clients[i].fd >= 0)
			close(clients[i].fd);
	for (int i = 0; i < 6; i++)
		clients[i].fd = -1;
	pump(&relay, clients);

	conn_close_all(&relay);
	live_fini(&relay);
	publish_fini(&relay);
	relay_shutdown(&relay);
	cl_loop_free(relay.loop);
	close(relay.output_fd);
	if (cl_remove_tree(AT_FDCWD, out) < 0)
		harness_fail("removing the output directory", errno);
	return 0;
}
