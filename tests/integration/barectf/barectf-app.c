/* SPDX-License-Identifier: MIT */
/*
 * Test program for `ctflive stream --follow`: a barectf tracer (generated
 * from config.yaml) writing two stream files of 512-byte packets in
 * TRACE_DIR, as barectf's linux-fs platform does (a packet is written to
 * its file when it is closed), with a platform of its own:
 *
 *   stream_a  busy: one event every 2 ms for SECONDS seconds;
 *   stream_b  created midway (the file appears then), one event every
 *             700 ms in between: idle for long stretches. Its packet is
 *             closed after each event, as a tracer flushing on a timer
 *             would, so the events reach the file while the program runs.
 *
 * Usage: barectf-app TRACE_DIR SECONDS [GO_FILE]: with GO_FILE, tracing
 * starts once that file exists. Prints "busy=N sparse=M" at the end.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "barectf.h"

#define PACKET_SIZE 512

struct stream {
	struct barectf_default_ctx ctx;
	uint8_t buf[PACKET_SIZE];
	int fd;
};

static uint64_t now_ns(void *data)
{
	struct timespec ts;

	(void)data;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int is_full(void *data)
{
	(void)data;
	return 0;
}

static void open_packet(void *data)
{
	struct stream *s = data;

	barectf_default_open_packet(&s->ctx);
}

static void close_packet(void *data)
{
	struct stream *s = data;
	size_t n = barectf_packet_buf_size(&s->ctx), off = 0;

	barectf_default_close_packet(&s->ctx);
	while (off < n) {
		ssize_t w = write(s->fd, s->buf + off, n - off);

		if (w <= 0) {
			perror("write");
			exit(1);
		}
		off += (size_t)w;
	}
}

static struct stream *stream_new(const char *dir, const char *name)
{
	struct barectf_platform_callbacks cbs = {
		.default_clock_get_value = now_ns,
		.is_backend_full = is_full,
		.open_packet = open_packet,
		.close_packet = close_packet,
	};
	struct stream *s = calloc(1, sizeof(*s));
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (s->fd < 0) {
		perror(path);
		exit(1);
	}
	barectf_init(&s->ctx, s->buf, PACKET_SIZE, cbs, s);
	open_packet(s);
	return s;
}

/* Writes the current packet now (a flush), then opens the next one. */
static void flush(struct stream *s)
{
	if (barectf_packet_is_open(&s->ctx) && !barectf_packet_is_empty(&s->ctx)) {
		close_packet(s);
		open_packet(s);
	}
}

int main(int argc, char **argv)
{
	struct stream *a, *b = NULL;
	unsigned busy = 0, sparse = 0;
	uint64_t start, end, next_sparse = 0;

	if (argc != 3 && argc != 4)
		return 2;
	while (argc == 4 && access(argv[3], F_OK) != 0)
		usleep(10000);
	a = stream_new(argv[1], "stream_a");
	start = now_ns(NULL);
	end = start + (uint64_t)atoi(argv[2]) * 1000000000u;
	while (now_ns(NULL) < end) {
		uint64_t t = now_ns(NULL);

		if (!b && t > start + (end - start) / 2) {
			/* the second stream file appears midway: its first
			 * packet is written at once, before any later busy event */
			b = stream_new(argv[1], "stream_b");
			barectf_default_trace_sparse(&b->ctx, sparse++);
			flush(b);
			next_sparse = t + 700000000u;
		} else if (b && t >= next_sparse) {
			barectf_default_trace_sparse(&b->ctx, sparse++);
			flush(b);
			next_sparse = t + 700000000u;
		}
		barectf_default_trace_busy(&a->ctx, busy++);
		usleep(2000);
	}
	flush(a);
	close(a->fd);
	if (b) {
		flush(b);
		close(b->fd);
	}
	printf("busy=%u sparse=%u\n", busy, sparse);
	return 0;
}
