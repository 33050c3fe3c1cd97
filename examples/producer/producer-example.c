/* SPDX-License-Identifier: MIT */
/*
 * ctflive-producer-example: a CTF writer of its own that feeds the LTTng
 * live ecosystem through libctflive's producer (ctflive/producer.h).
 *
 * It builds everything in memory: a small TSDL metadata text (one stream
 * class, one event class "example:counter" with a 64-bit value, a
 * "monotonic" clock) and, every 100 ms, one packet per CPU-like stream
 * holding a few events, with the packet context a relay needs for its index
 * (timestamp_begin/_end, content_size, packet_size, packet_seq_num,
 * events_discarded). The live timer is the program's own loop: it calls
 * ctflive_producer_tick() every 100 ms.
 *
 *   usage: ctflive-producer-example URL SESSION [PACKETS]
 *   e.g.   ctflive-producer-example net://127.0.0.1 example 50
 *          babeltrace2 -i lttng-live net://127.0.0.1/host/HOST/example
 *
 * Exit status 0 once the relay confirmed every packet.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ctflive/producer.h>

#define NSTREAMS       2
#define EVENTS_PER_PKT 8
#define PACKET_SIZE    1024        /* bytes */
#define HEADER_BYTES   (4 + 4 + 8) /* magic, stream_id, stream_instance_id */
#define CONTEXT_BYTES  (6 * 8)     /* see the metadata below */
#define EVENT_BYTES    (4 + 8 + 8) /* id, timestamp, value */

static const char metadata[] =
	"/* CTF 1.8 */\n"
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
	"typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
	"trace {\n"
	"	major = 1; minor = 8; byte_order = le;\n"
	"	packet.header := struct { uint32_t magic; uint32_t stream_id;\n"
	"		uint64_t stream_instance_id; };\n"
	"};\n"
	"env { hostname = \"example\"; domain = \"ust\"; };\n"
	"clock { name = \"monotonic\"; freq = 1000000000; offset = 0; };\n"
	"typealias integer { size = 64; align = 8; signed = false;\n"
	"	map = clock.monotonic.value; } := uint64_clock_t;\n"
	"stream {\n"
	"	id = 0;\n"
	"	packet.context := struct {\n"
	"		uint64_clock_t timestamp_begin; uint64_clock_t timestamp_end;\n"
	"		uint64_t content_size; uint64_t packet_size;\n"
	"		uint64_t packet_seq_num; uint64_t events_discarded; };\n"
	"	event.header := struct { uint32_t id; uint64_clock_t timestamp; };\n"
	"};\n"
	"event { name = \"example:counter\"; id = 0; stream_id = 0;\n"
	"	fields := struct { uint64_t value; }; };\n";

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put32(uint8_t **p, uint32_t v)
{
	memcpy(*p, &v, 4); /* little-endian host assumed, as the metadata says */
	*p += 4;
}

static void put64(uint8_t **p, uint64_t v)
{
	memcpy(*p, &v, 8);
	*p += 8;
}

/* One packet of `cpu`: EVENTS_PER_PKT events between t0 and t1. */
static void build_packet(uint8_t *buf, uint64_t cpu, uint64_t seq, uint64_t t0, uint64_t t1,
			 uint64_t *counter)
{
	uint8_t *p = buf;
	const uint64_t content = HEADER_BYTES + CONTEXT_BYTES + EVENTS_PER_PKT * EVENT_BYTES;

	memset(buf, 0, PACKET_SIZE);
	put32(&p, 0xC1FC1FC1);
	put32(&p, 0);
	put64(&p, cpu);
	put64(&p, t0);
	put64(&p, t1);
	put64(&p, content * 8);
	put64(&p, PACKET_SIZE * 8);
	put64(&p, seq);
	put64(&p, 0);
	for (int i = 0; i < EVENTS_PER_PKT; i++) {
		put32(&p, 0);
		put64(&p, t0 + (t1 - t0) * (uint64_t)i / EVENTS_PER_PKT);
		put64(&p, (*counter)++);
	}
}

int main(int argc, char **argv)
{
	struct ctflive_producer_config cfg = { 0 };
	struct ctflive_producer *p = NULL;
	struct ctflive_producer_trace *tr;
	struct ctflive_producer_stream *st[NSTREAMS];
	struct ctflive_producer_stats stats;
	struct ctflive_ctf_diag d;
	uint8_t pkt[PACKET_SIZE];
	uint64_t counter = 0, t_prev;
	long packets = argc > 3 ? strtol(argv[3], NULL, 10) : 20;
	int r;

	if (argc < 3 || packets <= 0) {
		fprintf(stderr, "usage: %s URL SESSION [PACKETS]\n", argv[0]);
		return 2;
	}
	cfg.url = argv[1];
	cfg.session_name = argv[2];
	cfg.hostname = "example";
	cfg.live_timer_us = 100000;
	r = ctflive_producer_new(&cfg, &p);
	if (r == 0)
		r = ctflive_producer_connect(p);
	if (r == 0)
		r = ctflive_producer_add_trace(p, "example/64-bit", &tr);
	if (r == 0)
		r = ctflive_producer_send_metadata(tr, metadata, sizeof(metadata) - 1, &d);
	for (int s = 0; r == 0 && s < NSTREAMS; s++) {
		char name[32];

		snprintf(name, sizeof(name), "channel0_%d", s);
		r = ctflive_producer_add_stream(tr, name, &st[s]);
	}
	if (r < 0)
		goto fail;
	t_prev = now_ns();
	for (long n = 0; n < packets; n++) {
		uint64_t t;

		nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
		t = now_ns();
		for (int s = 0; s < NSTREAMS; s++) {
			build_packet(pkt, (uint64_t)s, (uint64_t)n, t_prev, t, &counter);
			while ((r = ctflive_producer_send_packet(st[s], pkt, sizeof(pkt), 0, &d)) ==
			       -EAGAIN)
				ctflive_producer_wait(p, 100);
			if (r < 0)
				goto fail;
		}
		t_prev = t;
		r = ctflive_producer_tick(p, 0);
		if (r < 0)
			goto fail;
	}
	r = ctflive_producer_finish(p, 10000);
	if (r < 0)
		goto fail;
	ctflive_producer_get_stats(p, &stats);
	printf("sent %llu packets (%llu events), %llu confirmed by the relay\n",
	       (unsigned long long)stats.packets_sent, (unsigned long long)counter,
	       (unsigned long long)stats.packets_confirmed);
	ctflive_producer_free(p);
	return stats.packets_confirmed == stats.packets_sent ? 0 : 1;
fail:
	fprintf(stderr, "%s: %s (%s)\n", argv[0], p ? ctflive_producer_error(p) : "", strerror(-r));
	ctflive_producer_free(p);
	return 1;
}
