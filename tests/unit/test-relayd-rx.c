/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the relayd receive state machine (src/proto/relayd-rx.h):
 * the events of a byte stream do not depend on how it is split, limits are
 * checked on the header alone, truncated input leaves the machine waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "grow.h"
#include "relayd-rx.h"

#define SMALL_LIMIT 64 /* bytes, for command 2 in limit() */

static uint64_t limit(uint32_t cmd, void *userdata)
{
	(void)userdata;
	if (cmd == CL_RELAYD_SEND_METADATA)
		return 1u << 20;
	return cmd == CL_RELAYD_CREATE_SESSION ? SMALL_LIMIT : 1u << 16;
}

/* ---- building input ---- */

static void put_ctrl(struct cl_buf *in, uint32_t cmd, const uint8_t *payload, size_t n)
{
	struct cl_relayd_hdr h = { .circuit_id = 7, .data_size = n, .cmd = cmd };
	uint8_t b[CL_RELAYD_CTRL_HDR_SIZE];

	assert_int_equal(cl_relayd_encode_hdr(b, sizeof(b), &h), sizeof(b));
	assert_int_equal(cl_buf_append(in, b, sizeof(b)), 0);
	assert_int_equal(cl_buf_append(in, payload, n), 0);
}

static void put_metadata(struct cl_buf *in, uint64_t stream, const uint8_t *body, size_t n,
			 uint32_t padding)
{
	uint8_t p[CL_RELAYD_METADATA_HDR_SIZE];

	cl_store_be64(p, stream);
	cl_store_be32(p + 8, padding);
	put_ctrl(in, CL_RELAYD_SEND_METADATA, p, 0);
	/* The header announced only the sub-header: patch in the body's size. */
	cl_store_be64(in->data + in->len - CL_RELAYD_CTRL_HDR_SIZE + 8, sizeof(p) + n);
	assert_int_equal(cl_buf_append(in, p, sizeof(p)), 0);
	assert_int_equal(cl_buf_append(in, body, n), 0);
}

static void put_packet(struct cl_buf *in, uint64_t stream, uint64_t seq, const uint8_t *body,
		       uint32_t n)
{
	struct cl_relayd_data_hdr h = {
		.stream_id = stream, .net_seq_num = seq, .data_size = n, .padding_size = 3
	};
	uint8_t b[CL_RELAYD_DATA_HDR_SIZE];

	assert_int_equal(cl_relayd_encode_data_hdr(b, sizeof(b), &h), sizeof(b));
	assert_int_equal(cl_buf_append(in, b, sizeof(b)), 0);
	assert_int_equal(cl_buf_append(in, body, n), 0);
}

static uint8_t *pattern(size_t n, uint8_t seed)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 31);
	return p;
}

/* ---- a transcript of the events, independent of how bodies were split ---- */

struct transcript {
	struct cl_buf log;
	struct cl_buf body; /* BODY bytes of the current message */
	size_t events;
};

static void log_u64(struct transcript *t, char tag, uint64_t v)
{
	uint8_t b[9];

	b[0] = (uint8_t)tag;
	cl_store_be64(b + 1, v);
	assert_int_equal(cl_buf_append(&t->log, b, sizeof(b)), 0);
}

static void record(struct transcript *t, const struct cl_relayd_rx_event *ev)
{
	t->events++;
	switch (ev->type) {
	case CL_RELAYD_RX_COMMAND:
		log_u64(t, 'C', ev->hdr.cmd);
		log_u64(t, 'n', ev->len);
		assert_int_equal(ev->len, ev->hdr.data_size);
		assert_int_equal(cl_buf_append(&t->log, ev->payload, ev->len), 0);
		break;
	case CL_RELAYD_RX_METADATA_START:
		log_u64(t, 'S', ev->hdr.data_size);
		break;
	case CL_RELAYD_RX_METADATA:
		log_u64(t, 'M', ev->metadata.stream_id);
		log_u64(t, 'p', ev->metadata.padding_size);
		break;
	case CL_RELAYD_RX_PACKET:
		log_u64(t, 'P', ev->data_hdr.stream_id);
		log_u64(t, 'q', ev->data_hdr.net_seq_num);
		log_u64(t, 'n', ev->data_hdr.data_size);
		break;
	case CL_RELAYD_RX_BODY:
		assert_true(ev->len > 0);
		assert_int_equal(cl_buf_append(&t->body, ev->payload, ev->len), 0);
		break;
	case CL_RELAYD_RX_BODY_END:
		log_u64(t, 'E', t->body.len);
		assert_int_equal(cl_buf_append(&t->log, t->body.data, t->body.len), 0);
		cl_buf_clear(&t->body);
		break;
	case CL_RELAYD_RX_NONE:
	default:
		fail();
	}
}

/* Feeds data[0, n) in one go, handling every event; returns the last feed's result. */
static int feed_all(struct cl_relayd_rx *rx, struct transcript *t, const uint8_t *data, size_t n)
{
	size_t used = 0;

	for (;;) {
		struct cl_relayd_rx_event ev;
		int r = cl_relayd_rx_feed(rx, data + used, n - used, &ev);

		if (r < 0)
			return r;
		used += (size_t)r;
		assert_true(used <= n);
		if (ev.type == CL_RELAYD_RX_NONE) {
			assert_int_equal(used, n);
			return 0;
		}
		record(t, &ev);
	}
}

static void transcript_release(struct transcript *t)
{
	cl_buf_free(&t->log);
	cl_buf_free(&t->body);
}

/* Runs `in` through a fresh machine in pieces cut at `cuts` (sorted, < n). */
static void run_split(enum cl_relayd_rx_socket sock, const struct cl_buf *in, const size_t *cuts,
		      size_t n_cuts, struct transcript *ret)
{
	struct cl_relayd_rx rx;
	size_t at = 0;

	cl_relayd_rx_init(&rx, sock, limit, NULL);
	*ret = (struct transcript){ 0 };
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : in->len;

		assert_int_equal(feed_all(&rx, ret, in->data + at, end - at), 0);
		at = end;
	}
	assert_true(cl_relayd_rx_idle(&rx));
	cl_relayd_rx_release(&rx);
}

static void check_every_split(enum cl_relayd_rx_socket sock, const struct cl_buf *in)
{
	struct transcript whole, t;
	size_t *cuts = malloc(in->len * sizeof(*cuts));

	assert_non_null(cuts);
	run_split(sock, in, NULL, 0, &whole);
	/* Cut once at every byte boundary. */
	for (size_t i = 1; i < in->len; i++) {
		run_split(sock, in, &i, 1, &t);
		assert_int_equal(t.log.len, whole.log.len);
		assert_memory_equal(t.log.data, whole.log.data, whole.log.len);
		transcript_release(&t);
	}
	/* And one byte at a time. */
	for (size_t i = 0; i + 1 < in->len; i++)
		cuts[i] = i + 1;
	run_split(sock, in, cuts, in->len - 1, &t);
	assert_int_equal(t.log.len, whole.log.len);
	assert_memory_equal(t.log.data, whole.log.data, whole.log.len);
	transcript_release(&t);
	transcript_release(&whole);
	free(cuts);
}

/* ---- tests ---- */

static void test_control_splits(void **state)
{
	struct cl_buf in = { 0 };
	uint8_t version[8] = { 0, 0, 0, 2, 0, 0, 0, 13 };
	uint8_t *index = pattern(CL_RELAYD_INDEX_SIZE_2_8, 1);
	uint8_t *big = pattern(5000, 2); /* split across feeds: buffered, grown */
	uint8_t *md = pattern(100, 3);
	struct transcript whole;

	(void)state;
	put_ctrl(&in, CL_RELAYD_VERSION, version, sizeof(version));
	put_ctrl(&in, CL_RELAYD_SEND_INDEX, index, CL_RELAYD_INDEX_SIZE_2_8);
	put_ctrl(&in, CL_RELAYD_STREAMS_SENT, NULL, 0);
	put_metadata(&in, 42, md, 100, 5);
	put_metadata(&in, 43, NULL, 0, 0);
	put_ctrl(&in, CL_RELAYD_ADD_STREAM, big, 5000);
	put_ctrl(&in, 0x7fff, NULL, 0); /* unknown commands are the caller's business */

	run_split(CL_RELAYD_RX_CONTROL, &in, NULL, 0, &whole);
	/* COMMAND x3, START+METADATA+BODY+END, START+METADATA+END, COMMAND x2 */
	assert_int_equal(whole.events, 3 + 4 + 3 + 2);
	transcript_release(&whole);
	check_every_split(CL_RELAYD_RX_CONTROL, &in);
	cl_buf_free(&in);
	free(index);
	free(big);
	free(md);
}

static void test_data_splits(void **state)
{
	struct cl_buf in = { 0 };
	uint8_t *a = pattern(100, 4), *b = pattern(3000, 5);
	struct transcript whole;

	(void)state;
	put_packet(&in, 1, 0, a, 100);
	put_packet(&in, 1, 1, NULL, 0);
	put_packet(&in, 2, 7, b, 3000);
	run_split(CL_RELAYD_RX_DATA, &in, NULL, 0, &whole);
	assert_int_equal(whole.events, 3 + 2 + 3);
	transcript_release(&whole);
	check_every_split(CL_RELAYD_RX_DATA, &in);
	cl_buf_free(&in);
	free(a);
	free(b);
}

/* Header bytes of a control message announcing `size` payload bytes. */
static void ctrl_header(uint8_t *b, uint32_t cmd, uint64_t size)
{
	struct cl_relayd_hdr h = { .data_size = size, .cmd = cmd };

	assert_int_equal(cl_relayd_encode_hdr(b, CL_RELAYD_CTRL_HDR_SIZE, &h),
			 CL_RELAYD_CTRL_HDR_SIZE);
}

static void test_oversized(void **state)
{
	const uint64_t sizes[] = { SMALL_LIMIT + 1, UINT64_C(1) << 61, UINT64_MAX };
	uint8_t b[CL_RELAYD_CTRL_HDR_SIZE + 8] = { 0 };
	struct cl_relayd_rx_event ev;
	struct cl_relayd_rx rx;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		/* Refused on the header alone, with nothing allocated, even byte by byte. */
		ctrl_header(b, CL_RELAYD_CREATE_SESSION, sizes[i]);
		cl_relayd_rx_init(&rx, CL_RELAYD_RX_CONTROL, limit, NULL);
		for (size_t j = 0; j + 1 < CL_RELAYD_CTRL_HDR_SIZE; j++) {
			assert_int_equal(cl_relayd_rx_feed(&rx, b + j, 1, &ev), 1);
			assert_int_equal(ev.type, CL_RELAYD_RX_NONE);
		}
		assert_int_equal(cl_relayd_rx_feed(&rx, b + CL_RELAYD_CTRL_HDR_SIZE - 1, 9, &ev),
				 -E2BIG);
		assert_int_equal(ev.hdr.cmd, CL_RELAYD_CREATE_SESSION);
		assert_int_equal(ev.hdr.data_size, sizes[i]);
		assert_null(rx.payload.data);
		cl_relayd_rx_release(&rx);
	}
	/* At the limit: accepted; the limit is per command. */
	ctrl_header(b, CL_RELAYD_CREATE_SESSION, SMALL_LIMIT);
	cl_relayd_rx_init(&rx, CL_RELAYD_RX_CONTROL, limit, NULL);
	assert_int_equal(cl_relayd_rx_feed(&rx, b, CL_RELAYD_CTRL_HDR_SIZE, &ev),
			 CL_RELAYD_CTRL_HDR_SIZE);
	assert_int_equal(ev.type, CL_RELAYD_RX_NONE);
	assert_int_equal(cl_relayd_rx_want(&rx), SMALL_LIMIT);
	cl_relayd_rx_release(&rx);
	ctrl_header(b, CL_RELAYD_ADD_STREAM, SMALL_LIMIT + 1);
	cl_relayd_rx_init(&rx, CL_RELAYD_RX_CONTROL, limit, NULL);
	assert_int_equal(cl_relayd_rx_feed(&rx, b, CL_RELAYD_CTRL_HDR_SIZE, &ev),
			 CL_RELAYD_CTRL_HDR_SIZE);
	cl_relayd_rx_release(&rx);
	/* SEND_METADATA shorter than its own sub-header. */
	ctrl_header(b, CL_RELAYD_SEND_METADATA, CL_RELAYD_METADATA_HDR_SIZE - 1);
	cl_relayd_rx_init(&rx, CL_RELAYD_RX_CONTROL, limit, NULL);
	assert_int_equal(cl_relayd_rx_feed(&rx, b, sizeof(b), &ev), -EPROTO);
	assert_int_equal(ev.hdr.cmd, CL_RELAYD_SEND_METADATA);
	cl_relayd_rx_release(&rx);
}

static void test_truncated(void **state)
{
	struct cl_buf in = { 0 };
	struct cl_relayd_rx_event ev;
	struct cl_relayd_rx rx;
	uint8_t body[10] = { 0 };

	(void)state;
	/* A truncated header: everything consumed, no event, mid-message. */
	put_ctrl(&in, CL_RELAYD_VERSION, body, 8);
	cl_relayd_rx_init(&rx, CL_RELAYD_RX_CONTROL, limit, NULL);
	assert_true(cl_relayd_rx_idle(&rx));
	assert_int_equal(cl_relayd_rx_want(&rx), CL_RELAYD_CTRL_HDR_SIZE);
	assert_int_equal(cl_relayd_rx_feed(&rx, in.data, CL_RELAYD_CTRL_HDR_SIZE - 1, &ev),
			 CL_RELAYD_CTRL_HDR_SIZE - 1);
	assert_int_equal(ev.type, CL_RELAYD_RX_NONE);
	assert_false(cl_relayd_rx_idle(&rx));
	assert_int_equal(cl_relayd_rx_want(&rx), 1);
	/* Nothing more: still nothing. */
	assert_int_equal(cl_relayd_rx_feed(&rx, NULL, 0, &ev), 0);
	assert_int_equal(ev.type, CL_RELAYD_RX_NONE);
	/* The header completes; a truncated payload waits for the rest. */
	assert_int_equal(cl_relayd_rx_feed(&rx, in.data + CL_RELAYD_CTRL_HDR_SIZE - 1, 5, &ev), 5);
	assert_int_equal(ev.type, CL_RELAYD_RX_NONE);
	assert_int_equal(cl_relayd_rx_want(&rx), 4);
	assert_int_equal(cl_relayd_rx_feed(&rx, in.data + CL_RELAYD_CTRL_HDR_SIZE + 4, 4, &ev), 4);
	assert_int_equal(ev.type, CL_RELAYD_RX_COMMAND);
	assert_int_equal(ev.len, 8);
	assert_true(cl_relayd_rx_idle(&rx));
	cl_relayd_rx_release(&rx);
	cl_buf_free(&in);

	/* Data socket: a header cut short, then a body cut short. */
	put_packet(&in, 9, 1, body, sizeof(body));
	cl_relayd_rx_init(&rx, CL_RELAYD_RX_DATA, NULL, NULL);
	assert_int_equal(cl_relayd_rx_want(&rx), CL_RELAYD_DATA_HDR_SIZE);
	assert_int_equal(cl_relayd_rx_feed(&rx, in.data, 20, &ev), 20);
	assert_int_equal(ev.type, CL_RELAYD_RX_NONE);
	assert_int_equal(cl_relayd_rx_feed(&rx, in.data + 20, 16, &ev), 12);
	assert_int_equal(ev.type, CL_RELAYD_RX_PACKET);
	assert_int_equal(ev.data_hdr.stream_id, 9);
	assert_int_equal(ev.data_hdr.padding_size, 3);
	assert_int_equal(cl_relayd_rx_want(&rx), sizeof(body));
	assert_int_equal(cl_relayd_rx_feed(&rx, in.data + 32, 4, &ev), 4);
	assert_int_equal(ev.type, CL_RELAYD_RX_BODY);
	assert_int_equal(ev.len, 4);
	assert_int_equal(cl_relayd_rx_feed(&rx, NULL, 0, &ev), 0);
	assert_int_equal(ev.type, CL_RELAYD_RX_NONE);
	assert_false(cl_relayd_rx_idle(&rx));
	assert_int_equal(cl_relayd_rx_want(&rx), sizeof(body) - 4);
	cl_relayd_rx_release(&rx);
	cl_buf_free(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_splits),
		cmocka_unit_test(test_data_splits),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
