/* SPDX-License-Identifier: MIT */
/*
 * `ctflive stream [OPTIONS] TRACE_DIR`: send a CTF trace directory to a
 * relay daemon as a live (or plain network) session, through libctflive's
 * producer (ctflive/producer.h).
 *
 * Modes
 *   recorded  every packet of every stream file, in timestamp_begin order
 *             across streams (with --pace at the recorded rate: a packet
 *             leaves when the wall clock reaches its timestamp_end), after
 *             the whole metadata; then the data-pending round, exit.
 *   --follow  the directory is still being written: every live-timer tick
 *             new traces, stream files and metadata are picked up; a packet
 *             is sent once it is whole on disk. Metadata first: each tick
 *             notes how far every stream file is written, then reads the
 *             metadata again and sends it, and only then sends the packets
 *             below the noted sizes, so the metadata of any packet sent was
 *             written before it (a writer writes the declarations of an
 *             event class before the packets that use it).
 *             The writer is done when --until-pid's process has exited, or
 *             when no file grew for --idle-exit seconds, or on SIGINT or
 *             SIGTERM; a final round then takes what is left.
 *   --metadata FILE with TRACE_DIR "-": packets back to back on standard
 *             input, one stream.
 *
 * When the relay goes away, the connection is retried with a backoff from
 * 100 ms doubling to 5 s, for --reconnect-timeout seconds; packets that
 * were in flight (not confirmed by the relay) are sent again to the new
 * session; those that cannot be are reported lost (with their events) and
 * the exit status is 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctflive/producer.h"
#include "grow.h"
#include "log.h"
#include "stream.h"

struct lost {
	struct ss_stream *st;
	uint64_t off;
};

struct run {
	struct ctflive_producer *p;
	struct ss_source src;
	bool live, pace, follow;
	unsigned flags;
	uint32_t timer_us;
	pid_t until_pid;
	int idle_exit_s;
	int reconnect_s;
	struct lost *lost; /* in flight when the relay went away, not sent again yet */
	size_t nlost, lcap;
	bool lost_oom;
	uint64_t resent;
	int64_t start_ns, first_ns;
	const char *stdin_md;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void help(FILE *f)
{
	fputs("usage: ctflive stream [OPTIONS] TRACE_DIR\n"
	      "\n"
	      "Send the CTF traces below TRACE_DIR to a relay daemon (lttng-relayd,\n"
	      "ctflive-relayd) as lttng-consumerd does, so live viewers can watch them.\n"
	      "\n"
	      "  -r, --relay URL          relay: net://HOST[:CTRL_PORT[:DATA_PORT]]\n"
	      "                           (default net://localhost, ports 5342 and 5343)\n"
	      "  -s, --session NAME       session name (default: TRACE_DIR's name)\n"
	      "      --hostname NAME      host name of the session (default: this host)\n"
	      "  -l, --live[=TIMER_US]    live session with this live timer in µs\n"
	      "                           (default 1000000)\n"
	      "      --follow             TRACE_DIR is still being written: send packets\n"
	      "                           as they are completed on disk\n"
	      "      --until-pid PID      with --follow: the writer is done when process\n"
	      "                           PID has exited\n"
	      "      --idle-exit SEC      with --follow: the writer is done when no file\n"
	      "                           grew for SEC seconds\n"
	      "      --pace               replay a recorded trace at its recorded rate\n"
	      "      --metadata FILE      TRACE_DIR is '-': one stream of packets on\n"
	      "                           standard input, described by FILE\n"
	      "      --beacons MODE       skip-idle (default: no beacon round when nothing\n"
	      "                           at all was sent since the last one) or always\n"
	      "      --beacon-time WHEN   packet (default: the end of the stream's last\n"
	      "                           packet) or clock (the stream clock's current\n"
	      "                           time when it is monotonic or realtime; only when\n"
	      "                           the writer flushes packets on every tick)\n"
	      "      --reconnect-timeout SEC  retry a lost relay for SEC seconds\n"
	      "                           (default 60; 0: do not reconnect)\n"
	      "      --max-minor N        offer relayd protocol 2.N (11 to 15, default 15)\n"
	      "      --stats              print counters on standard error at the end\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "SIGINT or SIGTERM ends --follow and standard input normally (a last round\n"
	      "sends what is left). Otherwise they cut the replay short: what was sent is\n"
	      "confirmed, then the connections close without closing the streams, so\n"
	      "the relay ends the session as interrupted (ctflive-relayd's session\n"
	      "marker; 'ctflive follow' then exits 3), and the exit status is 3.\n"
	      "Exit status: 0 when the relay confirmed every packet, 1 on lost packets,\n"
	      "bad input or a relay failure, 2 on a usage error, 3 when cut short.\n",
	      f);
}

static void on_lost(void *ctx, struct ctflive_producer_stream *ps, uint64_t tag)
{
	struct run *rn = ctx;

	for (size_t i = 0; i < rn->src.nstreams; i++) {
		if (rn->src.streams[i]->ps != ps)
			continue;
		if (cl_grow(&rn->lost, &rn->lcap, rn->nlost + 1) < 0) {
			rn->lost_oom = true;
			return;
		}
		rn->lost[rn->nlost++] = (struct lost){ .st = rn->src.streams[i], .off = tag };
	}
}

/* Sends the packet at byte `off` of st again (after a reconnection). */
static int resend_one(struct run *rn, struct ss_stream *st, uint64_t off)
{
	struct ctflive_producer_packet pk;
	uint8_t *buf = NULL;
	size_t len = 64 * 1024;
	int r;

	if (st->fd < 0)
		return -EBADF;
	for (;;) {
		uint8_t *nb = realloc(buf, len);
		ssize_t got;

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		got = pread(st->fd, buf, len, (off_t)off);
		if (got <= 0) {
			free(buf);
			return got < 0 ? -errno : -EIO;
		}
		r = ctflive_producer_packet_info(st->tr->pt, buf, (size_t)got, &pk, NULL);
		if (r == 0 && pk.size <= (size_t)got)
			break;
		if (r != -EMSGSIZE || (size_t)got < len || len >= (256u << 20)) {
			free(buf);
			return r < 0 ? r : -EIO;
		}
		len *= 2;
	}
	for (;;) {
		r = ctflive_producer_send_packet(st->ps, buf, pk.size, off, NULL);
		if (r != -EAGAIN)
			break;
		r = ctflive_producer_wait(rn->p, 100);
		if (r < 0 && r != -EAGAIN)
			break;
	}
	free(buf);
	return r;
}

/*
 * After a reconnection: the packets that were in flight when the relay went
 * away are sent again, in order, to the new session (the previous session
 * directory may hold some of them too: the relay had not confirmed them).
 * What cannot be sent again stays in rn->lost.
 */
static int resend_lost(struct run *rn)
{
	struct lost *v = rn->lost;
	size_t n = rn->nlost, i;
	int r = 0;

	rn->lost = NULL;
	rn->nlost = rn->lcap = 0;
	for (i = 0; i < n; i++) {
		r = resend_one(rn, v[i].st, v[i].off);
		if (r == -ENOTCONN || !ctflive_producer_is_connected(rn->p))
			break;
		if (r < 0)
			log_error("'%s': cannot send the packet at offset %" PRIu64 " again: %s",
				  v[i].st->path, v[i].off, strerror(-r));
		else
			rn->resent++;
	}
	for (; i < n; i++) {
		if (cl_grow(&rn->lost, &rn->lcap, rn->nlost + 1) < 0) {
			rn->lost_oom = true;
			break;
		}
		rn->lost[rn->nlost++] = v[i];
	}
	free(v);
	(void)r; /* a connection lost again is found by the caller */
	return 0;
}

/* Reconnects with bounded backoff. 0, or the last error. */
static int reconnect(struct run *rn)
{
	int64_t deadline = mono_ns() + (int64_t)rn->reconnect_s * 1000000000;
	int delay_ms = 100, r;

	log_warning("lost the relay: %s; reconnecting", ctflive_producer_error(rn->p));
	for (;;) {
		if (stop_requested)
			return -EINTR;
		r = ctflive_producer_connect(rn->p);
		if (r == 0) {
			log_warning("reconnected to the relay: new session '%s'; sending again "
				    "the %zu packets it had not confirmed",
				    ctflive_producer_output_path(rn->p), rn->nlost);
			return resend_lost(rn);
		}
		if (mono_ns() + (int64_t)delay_ms * 1000000 > deadline) {
			log_error("cannot reconnect to the relay: %s",
				  ctflive_producer_error(rn->p));
			return r;
		}
		poll(NULL, 0, delay_ms);
		delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
	}
}

/* The stream whose next packet begins first. */
static struct ss_stream *next_stream(struct run *rn)
{
	struct ss_stream *best = NULL;

	for (size_t i = 0; i < rn->src.nstreams; i++) {
		struct ss_stream *st = rn->src.streams[i];

		if (ss_peek(&rn->src, st) != 1)
			continue;
		if (!best || st->next.begin_ns < best->next.begin_ns)
			best = st;
	}
	return best;
}

/* Waits for the producer's sockets until `until_ns` (monotonic). */
static int wait_until(struct run *rn, int64_t until_ns)
{
	int64_t left = (until_ns - mono_ns()) / 1000000;
	int r;

	if (left < 0)
		left = 0;
	r = ctflive_producer_wait(rn->p, (int)(left > 1000 ? 1000 : left));
	if (r == 0 && left > 0) {
		/* nothing to write or read: sleep the rest */
		poll(NULL, 0, (int)(left > 1000 ? 1000 : left));
	}
	return r == -EAGAIN ? 0 : r;
}

static bool writer_done(struct run *rn, int64_t last_growth_ns)
{
	if (stop_requested)
		return true;
	if (rn->until_pid > 0 && kill(rn->until_pid, 0) < 0 && errno == ESRCH)
		return true;
	if (rn->idle_exit_s > 0 &&
	    mono_ns() - last_growth_ns > (int64_t)rn->idle_exit_s * 1000000000)
		return true;
	return false;
}

/* Sends st's framed packet; -ENOTCONN when the relay is gone (retry after
 * reconnecting), -EAGAIN when full, other errors are bad input (logged). */
static int send_one(struct run *rn, struct ss_stream *st)
{
	struct ctflive_ctf_diag d = { 0 };
	int r;

	r = ctflive_producer_send_packet(st->ps, st->cur, st->next.size, st->off, &d);
	if (r == 0) {
		ss_advance(st);
		return 0;
	}
	if (r == -EAGAIN || !ctflive_producer_is_connected(rn->p))
		return r == -EAGAIN ? r : -ENOTCONN;
	log_error("'%s': packet at offset %" PRIu64 " refused: %s", st->path, st->off,
		  d.msg[0] ? d.msg : ctflive_producer_error(rn->p));
	rn->src.errors++;
	st->done = true;
	st->have = false;
	return 0;
}

static int tick(struct run *rn)
{
	int r;

	if (!rn->live)
		return 0;
	r = ctflive_producer_tick(rn->p, rn->flags);
	return r == -EAGAIN || r >= 0 ? 0 : r;
}

static int run_loop(struct run *rn)
{
	int64_t period = (int64_t)rn->timer_us * 1000, next_tick = mono_ns() + period;
	int64_t last_growth = mono_ns();
	bool final_round = false, done = false;
	uint64_t sizes = 0;
	int r = 0;

	if (rn->live && !rn->follow && next_stream(rn)) {
		/* as a live consumer: the streams are announced, the first
		 * packets leave at the first live-timer tick */
		r = tick(rn);
		if (r == 0)
			r = wait_until(rn, next_tick);
		if (r < 0 && ctflive_producer_is_connected(rn->p))
			return r;
		rn->start_ns = mono_ns();
	}
	while (!done) {
		struct ss_stream *st;

		if (!ctflive_producer_is_connected(rn->p)) {
			if (rn->reconnect_s <= 0)
				return -ENOTCONN;
			r = reconnect(rn);
			if (r < 0)
				return r;
			next_tick = mono_ns() + period;
		}
		if (rn->follow && !rn->stdin_md) {
			uint64_t total = 0;

			/* pick up new files and metadata, note how far files are
			 * written, then send the metadata written up to now */
			final_round = final_round || writer_done(rn, last_growth);
			if ((r = ss_scan(&rn->src, rn->p)) < 0 || (r = ss_metadata(&rn->src)) < 0 ||
			    (r = ss_scan(&rn->src, rn->p)) < 0)
				return r;
			for (size_t i = 0; i < rn->src.nstreams; i++) {
				struct ss_stream *s = rn->src.streams[i];
				struct stat sb;

				if (!s->done && fstat(s->fd, &sb) == 0) {
					s->limit = (uint64_t)sb.st_size;
					total += (uint64_t)sb.st_size;
				}
			}
			if (total != sizes) {
				sizes = total;
				last_growth = mono_ns();
			}
			if ((r = ss_metadata(&rn->src)) < 0)
				return r;
		}
		/* send what is ready, ticking on time */
		for (;;) {
			if (mono_ns() >= next_tick) {
				r = tick(rn);
				if (r < 0)
					break;
				next_tick += period;
				if (next_tick < mono_ns())
					next_tick = mono_ns() + period;
				if (rn->follow)
					break; /* rescan on every tick */
			}
			if (stop_requested && !rn->follow)
				break;
			st = next_stream(rn);
			if (!st)
				break;
			if (rn->pace && st->next.end_ns != INT64_MIN) {
				int64_t due;

				if (rn->first_ns == INT64_MIN)
					rn->first_ns = st->next.begin_ns != INT64_MIN
							       ? st->next.begin_ns
							       : st->next.end_ns;
				due = rn->start_ns + (st->next.end_ns - rn->first_ns);
				if (mono_ns() < due) {
					r = wait_until(rn, due < next_tick ? due : next_tick);
					if (r < 0)
						break;
					continue;
				}
			}
			r = send_one(rn, st);
			if (r == -EAGAIN) {
				r = ctflive_producer_wait(rn->p, 100);
				if (r == -EAGAIN)
					r = 0;
			}
			if (r < 0)
				break;
		}
		if (r == -ENOTCONN || (r < 0 && !ctflive_producer_is_connected(rn->p))) {
			r = 0;
			continue; /* reconnect */
		}
		if (r < 0)
			return r;
		if (!rn->follow) {
			if (!next_stream(rn) || stop_requested)
				done = true;
			continue;
		}
		if (final_round) {
			/* one more pass took what the writer left: done */
			if (next_stream(rn) == NULL)
				done = true;
			continue;
		}
		r = wait_until(rn, next_tick);
		if (r < 0 && ctflive_producer_is_connected(rn->p))
			return r;
		r = 0;
	}
	return 0;
}

/* The whole of file `path` in *ret (malloc'd, *ret_len bytes). */
static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f = fopen(path, "rb");

	if (!f) {
		int r = -errno;

		log_error("cannot open '%s': %s", path, strerror(-r));
		return r;
	}
	for (;;) {
		size_t got;

		if (len == cap) {
			uint8_t *n = cap < (64u << 20) ? realloc(buf, cap ? cap * 2 : 65536) : NULL;

			if (!n) {
				fclose(f);
				free(buf);
				log_error("'%s': too large or out of memory", path);
				return -ENOMEM;
			}
			buf = n;
			cap = cap ? cap * 2 : 65536;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (!got)
			break;
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		log_error("cannot read '%s'", path);
		return -EIO;
	}
	fclose(f);
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Standard input's first bytes, read before the relay session is created
 * (an empty input creates none): 0 and *ret_len 0 at end of input. */
static int stdin_first(uint8_t **ret, size_t *ret_len, size_t *ret_cap)
{
	uint8_t *buf = malloc(131072);
	ssize_t got;

	if (!buf)
		return -ENOMEM;
	do
		got = read(STDIN_FILENO, buf, 131072);
	while (got < 0 && errno == EINTR && !stop_requested);
	if (got < 0) {
		int r = -errno;

		free(buf);
		log_error("cannot read standard input: %s", strerror(-r));
		return r;
	}
	*ret = buf;
	*ret_len = (size_t)got;
	*ret_cap = 131072;
	return 0;
}

/* Standard input: one stream of packets described by --metadata FILE
 * (md, mdlen bytes, borrowed), read into buf (owned; len bytes already
 * read, cap allocated) by a small framer of its own. Bad input is
 * reported and counted in rn->src.errors. */
static int run_stdin(struct run *rn, const uint8_t *md, size_t mdlen, uint8_t *buf, size_t len,
		     size_t cap)
{
	struct ss_trace *tr;
	struct ss_stream *st;
	struct ctflive_ctf_diag d = { 0 };
	int r;

	tr = calloc(1, sizeof(*tr));
	st = calloc(1, sizeof(*st));
	if (!tr || !st || cl_grow(&rn->src.traces, &rn->src.tcap, 1) < 0 ||
	    cl_grow(&rn->src.streams, &rn->src.scap, 1) < 0) {
		free(tr);
		free(st);
		free(buf);
		return -ENOMEM;
	}
	tr->dir = strdup(rn->stdin_md);
	tr->rel = strdup("trace");
	st->path = strdup("<stdin>");
	st->name = strdup("stream_0");
	st->fd = -1;
	st->tr = tr;
	rn->src.traces[rn->src.ntraces++] = tr;
	rn->src.streams[rn->src.nstreams++] = st;
	if (!tr->dir || !tr->rel || !st->path || !st->name) {
		free(buf);
		return -ENOMEM;
	}
	r = ctflive_producer_add_trace(rn->p, tr->rel, &tr->pt);
	if (r == 0) {
		r = ctflive_producer_send_metadata(tr->pt, md, mdlen, &d);
		if (r == -EBADMSG || r == -ENOTSUP || r == -E2BIG) {
			log_error("'%s': metadata does not parse at line %d: %s", rn->stdin_md,
				  d.line, d.msg);
			rn->src.errors++;
			free(buf);
			return 0;
		}
	}
	if (r == 0)
		r = ctflive_producer_add_stream(tr->pt, st->name, &st->ps);
	if (r < 0) {
		free(buf);
		return r;
	}
	for (bool eof = false, more = false; !eof || len;) {
		struct ctflive_producer_packet pk;

		if (!eof && (len < cap / 2 + 1 || more)) {
			more = false;
			if (cap - len < 65536) {
				uint8_t *n = cap < (256u << 20)
						     ? realloc(buf, cap ? cap * 2 : 131072)
						     : NULL;

				if (!n) {
					free(buf);
					return -E2BIG;
				}
				buf = n;
				cap = cap ? cap * 2 : 131072;
			}
			ssize_t got = read(STDIN_FILENO, buf + len, cap - len);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				eof = true;
			else
				len += (size_t)got;
		}
		r = ctflive_producer_packet_info(tr->pt, buf, len, &pk, &d);
		if (r == -EMSGSIZE && !eof) {
			more = true;
			continue;
		}
		if (r < 0) {
			/* bad input ends the stream: what was sent is confirmed by
			 * the data-pending round, at once */
			log_error("<stdin>: %s at offset %" PRIu64 ": %s",
				  r == -EMSGSIZE ? "truncated packet" : "bad packet", st->off,
				  d.msg[0] ? d.msg : "the input ends inside it");
			rn->src.errors++;
			free(buf);
			return 0;
		}
		for (;;) {
			r = ctflive_producer_send_packet(st->ps, buf, pk.size, st->off, &d);
			if (r != -EAGAIN)
				break;
			r = ctflive_producer_wait(rn->p, 100);
			if (r < 0 && r != -EAGAIN)
				break;
		}
		if (r < 0) {
			log_error("<stdin>: packet at offset %" PRIu64 " not sent: %s", st->off,
				  ctflive_producer_error(rn->p));
			free(buf);
			return r;
		}
		st->off += pk.size;
		memmove(buf, buf + pk.size, len - pk.size);
		len -= pk.size;
		if (mono_ns() > rn->start_ns + (int64_t)rn->timer_us * 1000) {
			rn->start_ns = mono_ns();
			(void)tick(rn);
		}
	}
	free(buf);
	return 0;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int cl_cmd_stream(int argc, char **argv)
{
	enum {
		O_HOSTNAME = 256,
		O_FOLLOW,
		O_UNTIL_PID,
		O_IDLE_EXIT,
		O_PACE,
		O_METADATA,
		O_BEACONS,
		O_BEACON_TIME,
		O_RECONNECT,
		O_MAX_MINOR,
		O_STATS,
	};
	static const struct option opts[] = {
		{ "relay", required_argument, NULL, 'r' },
		{ "session", required_argument, NULL, 's' },
		{ "hostname", required_argument, NULL, O_HOSTNAME },
		{ "live", optional_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, O_FOLLOW },
		{ "until-pid", required_argument, NULL, O_UNTIL_PID },
		{ "idle-exit", required_argument, NULL, O_IDLE_EXIT },
		{ "pace", no_argument, NULL, O_PACE },
		{ "metadata", required_argument, NULL, O_METADATA },
		{ "beacons", required_argument, NULL, O_BEACONS },
		{ "beacon-time", required_argument, NULL, O_BEACON_TIME },
		{ "reconnect-timeout", required_argument, NULL, O_RECONNECT },
		{ "max-minor", required_argument, NULL, O_MAX_MINOR },
		{ "stats", no_argument, NULL, O_STATS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ctflive_producer_config cfg = { .url = "net://localhost" };
	struct run rn = { .timer_us = 1000000, .reconnect_s = 60, .first_ns = INT64_MIN };
	struct ctflive_producer_stats stats;
	struct sigaction sa = { .sa_handler = on_signal };
	char root[PATH_MAX], name[256];
	uint8_t *md = NULL, *inbuf = NULL;
	size_t mdlen = 0, inlen = 0, incap = 0;
	bool want_stats = false;
	uint64_t lost_events = 0;
	unsigned long long v;
	int c, r, ret = 0;
	bool cut_short = false; /* a signal stopped the replay before its end */

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:s:l::h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			cfg.url = optarg;
			break;
		case 's':
			cfg.session_name = optarg;
			break;
		case O_HOSTNAME:
			cfg.hostname = optarg;
			break;
		case 'l':
			rn.live = true;
			if (optarg) {
				if (parse_uint(optarg, UINT32_MAX, &v) < 0 || v == 0) {
					log_error("invalid --live timer '%s' (µs)", optarg);
					return 2;
				}
				rn.timer_us = (uint32_t)v;
			}
			break;
		case O_FOLLOW:
			rn.follow = true;
			break;
		case O_UNTIL_PID:
			if (parse_uint(optarg, INT32_MAX, &v) < 0 || v == 0) {
				log_error("invalid --until-pid '%s'", optarg);
				return 2;
			}
			rn.until_pid = (pid_t)v;
			break;
		case O_IDLE_EXIT:
			if (parse_uint(optarg, 86400, &v) < 0 || v == 0) {
				log_error("invalid --idle-exit '%s' (seconds)", optarg);
				return 2;
			}
			rn.idle_exit_s = (int)v;
			break;
		case O_PACE:
			rn.pace = true;
			break;
		case O_METADATA:
			rn.stdin_md = optarg;
			break;
		case O_BEACONS:
			if (!strcmp(optarg, "always"))
				rn.flags |= CTFLIVE_PRODUCER_BEACONS_ALWAYS;
			else if (strcmp(optarg, "skip-idle") != 0) {
				log_error("invalid --beacons '%s' (skip-idle or always)", optarg);
				return 2;
			}
			break;
		case O_BEACON_TIME:
			if (!strcmp(optarg, "clock"))
				rn.flags |= CTFLIVE_PRODUCER_BEACONS_CLOCK_NOW;
			else if (strcmp(optarg, "packet") != 0) {
				log_error("invalid --beacon-time '%s' (packet or clock)", optarg);
				return 2;
			}
			break;
		case O_RECONNECT:
			if (parse_uint(optarg, 86400, &v) < 0) {
				log_error("invalid --reconnect-timeout '%s' (seconds)", optarg);
				return 2;
			}
			rn.reconnect_s = (int)v;
			break;
		case O_MAX_MINOR:
			if (parse_uint(optarg, 15, &v) < 0 || v < 11) {
				log_error("invalid --max-minor '%s' (11 to 15)", optarg);
				return 2;
			}
			cfg.max_minor = (uint32_t)v;
			break;
		case O_STATS:
			want_stats = true;
			break;
		case 'h':
			help(stdout);
			return 0;
		default:
			help(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		log_error(optind >= argc ? "missing TRACE_DIR" : "only one TRACE_DIR can be sent");
		return 2;
	}
	if (rn.stdin_md && strcmp(argv[optind], "-") != 0) {
		log_error("--metadata reads packets from standard input: TRACE_DIR must be '-'");
		return 2;
	}
	if (!rn.stdin_md && !strcmp(argv[optind], "-")) {
		log_error("standard input needs --metadata FILE");
		return 2;
	}
	if ((rn.until_pid || rn.idle_exit_s) && !rn.follow) {
		log_error("--until-pid and --idle-exit go with --follow");
		return 2;
	}
	if (rn.pace && rn.follow) {
		log_error("--pace replays a recorded trace: not with --follow");
		return 2;
	}
	if (!rn.stdin_md && !realpath(argv[optind], root)) {
		log_error("cannot open '%s': %s", argv[optind], strerror(errno));
		return 1;
	}
	if (!cfg.session_name) {
		const char *b = rn.stdin_md ? "stdin" : strrchr(root, '/');

		snprintf(name, sizeof(name), "%s", b && b[0] == '/' ? b + 1 : b ? b : "trace");
		if (!name[0] || name[0] == '.')
			snprintf(name, sizeof(name), "trace");
		cfg.session_name = name;
	}
	{
		const char *field = "", *why = "";

		if (ctflive_producer_config_check(&cfg, &field, &why) < 0) {
			if (!strcmp(field, "url"))
				log_error("invalid --relay URL '%s': %s", cfg.url, why);
			else if (!strcmp(field, "session_name"))
				log_error("invalid session name '%s'%s: %s", cfg.session_name,
					  cfg.session_name == name ? " (from TRACE_DIR's name: "
								     "give one with --session)"
								   : "",
					  why);
			else if (!strcmp(field, "hostname"))
				log_error("invalid --hostname '%s': %s", cfg.hostname, why);
			else
				log_error("invalid configuration (%s): %s", field, why);
			return 2;
		}
	}
	if (!rn.stdin_md && !rn.follow && !ss_has_trace(root)) {
		/* before the relay session exists: nothing to leave behind */
		log_error("no CTF trace (directory with a 'metadata' file) below '%s'", root);
		return 1;
	}
	cfg.live_timer_us = rn.live ? rn.timer_us : 0;
	/* a CTF 2 session needs relayd protocol 2.15 (its CREATE_SESSION
	 * carries the trace format) */
	cfg.ctf2 = rn.stdin_md ? false : ss_is_ctf2(root);
	if (rn.stdin_md) {
		/* before the relay session exists: the metadata can be read,
		 * standard input is not empty */
		if (read_file(rn.stdin_md, &md, &mdlen) < 0)
			return 1;
		if (stdin_first(&inbuf, &inlen, &incap) < 0 || inlen == 0) {
			if (inbuf)
				log_error("<stdin>: standard input is empty: no packet to send, "
					  "no relay session created");
			free(inbuf);
			free(md);
			return 1;
		}
	}
	r = ctflive_producer_new(&cfg, &rn.p);
	if (r < 0) {
		log_error("cannot create the producer: %s", strerror(-r));
		free(md);
		free(inbuf);
		return 2;
	}
	ctflive_producer_set_lost_cb(rn.p, on_lost, &rn);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = ctflive_producer_connect(rn.p);
	if (r < 0) {
		log_error("%s", ctflive_producer_error(rn.p));
		ctflive_producer_free(rn.p);
		free(md);
		free(inbuf);
		return 1;
	}
	log_info("relay session '%s'", ctflive_producer_output_path(rn.p));
	rn.src.follow = rn.follow;
	rn.start_ns = mono_ns();
	if (rn.stdin_md) {
		r = run_stdin(&rn, md, mdlen, inbuf, inlen, incap);
		inbuf = NULL; /* a signal ends standard input as --follow's writer */
	} else {
		rn.src.root = strdup(root);
		r = rn.src.root ? 0 : -ENOMEM;
		if (r == 0)
			r = ss_scan(&rn.src, rn.p);
		if (r == 0)
			r = ss_metadata(&rn.src);
		if (r == 0)
			r = ss_scan(&rn.src, rn.p);
		if (r == 0 && !rn.follow && !rn.src.ntraces) {
			log_error("no CTF trace (directory with a 'metadata' file) below '%s'",
				  root);
			r = -ENOENT;
		}
		if (r == 0)
			r = run_loop(&rn);
		/* A signal after the last packet (while lingering) cuts nothing. */
		cut_short = stop_requested && !rn.follow;
		if (r == 0 && rn.live && !rn.src.errors && ctflive_producer_is_connected(rn.p)) {
			/* one more live-timer period (at least 1 s) before the end,
			 * as between a tracer's last flush and the end of its
			 * session, with every stream idle up to the end: viewers
			 * polling the relay take the last packets while the streams
			 * are open (lttng-relayd 2.13 drops a viewer's unread rest
			 * of a stream once the stream is closed) */
			int64_t linger = rn.timer_us > 1000000 ? rn.timer_us : 1000000;
			int64_t until = mono_ns() + linger * 1000;

			r = ctflive_producer_tick(rn.p, rn.flags | CTFLIVE_PRODUCER_BEACONS_END);
			r = r == -EAGAIN || r >= 0 ? 0 : r;
			while (r == 0 && mono_ns() < until && !stop_requested)
				r = wait_until(&rn, until);
		}
	}
	if (cut_short)
		log_warning("stopped by a signal before the end of the trace: the session ends "
			    "interrupted");
	if (ctflive_producer_is_connected(rn.p)) {
		/* Cut short: what was sent stays, the streams are left open so that
		 * the relay and its viewers can tell the replay is not whole. */
		int rf = cut_short ? ctflive_producer_abandon(rn.p, 30000)
				   : ctflive_producer_finish(rn.p, 30000);

		if (rf < 0) {
			log_error("cannot end the session: %s", ctflive_producer_error(rn.p));
			if (r == 0)
				r = rf;
		}
	} else if (r == 0) {
		r = -ENOTCONN;
	}
	for (size_t i = 0; i < rn.nlost; i++)
		lost_events += ss_count_events(rn.lost[i].st, rn.lost[i].off);
	ctflive_producer_get_stats(rn.p, &stats);
	if (rn.nlost)
		log_error("%zu packets (%" PRIu64
			  " events) were sent, not confirmed by the relay, and could not be "
			  "sent again: lost",
			  rn.nlost, lost_events);
	if (want_stats)
		fprintf(stderr,
			"stats: packets=%" PRIu64 " bytes=%" PRIu64 " confirmed=%" PRIu64
			" lost_packets=%zu lost_events=%" PRIu64 " resent=%" PRIu64
			" beacons=%" PRIu64 " beacon_rounds=%" PRIu64 " skipped_rounds=%" PRIu64
			" metadata_bytes=%" PRIu64 " connects=%" PRIu64 " minor=%" PRIu32
			" bad_input=%d\n",
			stats.packets_sent, stats.packet_bytes, stats.packets_confirmed, rn.nlost,
			lost_events, rn.resent, stats.beacons, stats.beacon_rounds,
			stats.skipped_rounds, stats.metadata_bytes, stats.connects, stats.minor,
			rn.src.errors);
	if (r < 0 && r != -ENOTCONN && r != -EINTR)
		log_error("streaming failed: %s", strerror(-r));
	else if (r == -ENOTCONN)
		log_error("the relay is gone: %s", ctflive_producer_error(rn.p));
	ret = r < 0 || rn.nlost || rn.src.errors || rn.lost_oom ? 1 : cut_short ? 3 : 0;
	ss_free(&rn.src);
	free(md);
	free(inbuf);
	free(rn.lost);
	ctflive_producer_free(rn.p);
	return ret;
}
