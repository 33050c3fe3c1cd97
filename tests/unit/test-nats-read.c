/* SPDX-License-Identifier: MIT */
/* Unit tests of the ordered reader of src/nats/nats-read.c: messages in parts
 * (doc/nats.md "Parts"), joined only from part 1 to part N of one
 * Ctflive-Seq; a message lacking some parts is dropped whole, never joined
 * with another message's parts (what retention leaves to a reader that was
 * behind). */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "ctf-index.h"
#include "nats-names.h"
#include "nats-read.h"

#define PREFIX "ctflive.h.s.r.1"
#define PLEN   300 /* bytes of each packet */
#define ESZ    CL_INDEX_ENTRY_SIZE_1_1
#define NPARTS 3

/* What the callbacks saw. */
struct seen {
	int packets;
	uint64_t psn[8]; /* packet_seq_num of each packet */
	bool whole[8];   /* its bytes are all those of its own packet */
	int incomplete;
	uint64_t lost[8];   /* Ctflive-Seq of each incomplete message */
	unsigned lost_n[8]; /* its number of parts */
};

static int cb_packet(void *ctx, uint64_t handle, const uint8_t *entry, uint32_t esz,
		     const uint8_t *pkt, size_t plen)
{
	struct seen *s = ctx;
	struct cl_rbuf rb = cl_rbuf_make(entry, esz);
	struct cl_index_entry ie;
	bool whole = true;

	assert_int_equal(handle, 1);
	assert_int_equal(cl_index_entry_decode(&rb, esz, &ie), 0);
	assert_int_equal(ie.packet_size, plen * 8);
	/* Each packet's bytes are its packet_seq_num (see payload()). */
	for (size_t i = 0; i < plen; i++)
		whole &= pkt[i] == (uint8_t)(0xa0 + ie.packet_seq_num);
	assert_true(s->packets < 8);
	s->psn[s->packets] = ie.packet_seq_num;
	s->whole[s->packets++] = whole;
	return 0;
}

static void cb_incomplete(void *ctx, uint64_t handle, uint64_t seq, unsigned n)
{
	struct seen *s = ctx;

	assert_int_equal(handle, 1);
	assert_true(s->incomplete < 8);
	s->lost[s->incomplete] = seq;
	s->lost_n[s->incomplete++] = n;
}

static const struct cl_nats_read_ops ops = {
	.packet = cb_packet,
	.incomplete = cb_incomplete,
};

static natsMsg *msg(const char *suffix, uint64_t seq, unsigned k, unsigned n, const void *d,
		    size_t len)
{
	char subj[128], v[32];
	natsMsg *m = NULL;

	(void)snprintf(subj, sizeof(subj), "%s.%s", PREFIX, suffix);
	assert_int_equal(natsMsg_Create(&m, subj, NULL, d, (int)len), NATS_OK);
	(void)snprintf(v, sizeof(v), "%" PRIu64, seq);
	assert_int_equal(natsMsgHeader_Set(m, CL_NATS_H_SEQ, v), NATS_OK);
	if (n > 1) {
		(void)snprintf(v, sizeof(v), "%u/%u", k, n);
		assert_int_equal(natsMsgHeader_Set(m, CL_NATS_H_PART, v), NATS_OK);
	}
	return m;
}

/* A data message: index entry of packet `psn`, then PLEN bytes 0xa0 + psn. */
static void payload(uint64_t psn, uint8_t *buf)
{
	struct cl_index_entry e = {
		.offset = 0,
		.packet_size = PLEN * 8,
		.content_size = PLEN * 8,
		.stream_id = 0,
		.packet_seq_num = psn,
	};
	struct cl_wbuf wb = cl_wbuf_make(buf, ESZ);

	assert_int_equal(cl_index_entry_encode(&wb, &e, ESZ), 0);
	memset(buf + ESZ, 0xa0 + (int)psn, PLEN);
}

static uint64_t js_seq;

/* Part k (1 to NPARTS) of the message Ctflive-Seq `seq` carrying packet `psn`. */
static void part(struct cl_nats_reader *rd, uint64_t seq, uint64_t psn, unsigned k)
{
	uint8_t buf[ESZ + PLEN];
	size_t chunk = (sizeof(buf) + NPARTS - 1) / NPARTS;
	size_t off = (k - 1) * chunk;
	size_t len = sizeof(buf) - off < chunk ? sizeof(buf) - off : chunk;

	payload(psn, buf);
	cl_nats_reader_deliver(rd, msg("data.1", seq, k, NPARTS, buf + off, len), ++js_seq);
}

static void whole_msg(struct cl_nats_reader *rd, uint64_t seq, uint64_t psn)
{
	for (unsigned k = 1; k <= NPARTS; k++)
		part(rd, seq, psn, k);
}

/* A reader with a session (seq 1) and data stream 1 (seq 2). */
static struct cl_nats_reader *reader(struct seen *s)
{
	static const char ses[] = "{\"type\":\"session\",\"host\":\"h\",\"session\":\"s\"}";
	static const char str[] = "{\"type\":\"stream\",\"handle\":1,\"path\":\"ust/uid\","
				  "\"channel\":\"ch_0\",\"metadata\":false,"
				  "\"index_entry_size\":72}";
	struct cl_nats_reader *rd = cl_nats_reader_new(PREFIX, &ops, s);

	assert_non_null(rd);
	memset(s, 0, sizeof(*s));
	cl_nats_reader_deliver(rd, msg("ctl", 1, 1, 1, ses, strlen(ses)), ++js_seq);
	cl_nats_reader_deliver(rd, msg("ctl", 2, 1, 1, str, strlen(str)), ++js_seq);
	return rd;
}

static void test_parts_joined(void **state)
{
	struct cl_nats_read_stats st;
	struct seen s;
	struct cl_nats_reader *rd = reader(&s);

	(void)state;
	whole_msg(rd, 3, 0);
	whole_msg(rd, 4, 1);
	cl_nats_reader_stats(rd, &st);
	assert_int_equal(s.packets, 2);
	assert_int_equal(s.psn[0], 0);
	assert_int_equal(s.psn[1], 1);
	assert_true(s.whole[0] && s.whole[1]);
	assert_int_equal(s.incomplete, 0);
	assert_int_equal(st.bad, 0);
	assert_int_equal(st.incomplete, 0);
	cl_nats_reader_free(rd);
}

/*
 * A reader that was behind got parts 1-2 of message 3; retention dropped
 * its part 3 and parts 1-2 of message 4 (same size, same number of parts);
 * part 3 of message 4 comes next. Neither message is whole: both are
 * dropped (they used to be joined into one packet with another's tail).
 */
static void check_two_halves(bool expire)
{
	struct cl_nats_read_stats st;
	struct seen s;
	struct cl_nats_reader *rd = reader(&s);

	part(rd, 3, 0, 1);
	part(rd, 3, 0, 2);
	part(rd, 4, 1, 3);
	assert_int_equal(cl_nats_reader_held(rd), 1);
	if (expire)
		cl_nats_reader_expired_below(rd, 5); /* as the edge: 4 + (part > 1) */
	else
		cl_nats_reader_skip_gap(rd);
	assert_int_equal(cl_nats_reader_held(rd), 0);
	assert_int_equal(s.packets, 0);
	assert_int_equal(s.incomplete, 2);
	assert_int_equal(s.lost[0], 3);
	assert_int_equal(s.lost[1], 4);
	assert_int_equal(s.lost_n[0], NPARTS);
	assert_int_equal(s.lost_n[1], NPARTS);
	/* The next message is whole again. */
	whole_msg(rd, 5, 2);
	cl_nats_reader_stats(rd, &st);
	assert_int_equal(s.packets, 1);
	assert_int_equal(s.psn[0], 2);
	assert_true(s.whole[0]);
	assert_int_equal(st.incomplete, 2);
	assert_int_equal(st.bad, 2);
	cl_nats_reader_free(rd);
}

static void test_two_halves_expired(void **state)
{
	(void)state;
	check_two_halves(true);
}

static void test_two_halves_given_up(void **state)
{
	(void)state;
	check_two_halves(false);
}

/* A part in the middle never came: the message is dropped, counted once. */
static void test_middle_part_missing(void **state)
{
	struct cl_nats_read_stats st;
	struct seen s;
	struct cl_nats_reader *rd = reader(&s);

	(void)state;
	part(rd, 3, 0, 1);
	part(rd, 3, 0, 3);
	cl_nats_reader_skip_gap(rd);
	whole_msg(rd, 4, 1);
	cl_nats_reader_stats(rd, &st);
	assert_int_equal(s.incomplete, 1);
	assert_int_equal(s.lost[0], 3);
	assert_int_equal(s.packets, 1);
	assert_int_equal(s.psn[0], 1);
	assert_true(s.whole[0]);
	assert_int_equal(st.incomplete, 1);
	assert_int_equal(st.bad, 1);
	assert_int_equal(st.missing, 0);
	cl_nats_reader_free(rd);
}

/* The oldest message retention kept lacks its first parts (a late reader). */
static void test_first_parts_gone(void **state)
{
	struct cl_nats_read_stats st;
	struct seen s;
	struct cl_nats_reader *rd = reader(&s);

	(void)state;
	part(rd, 4, 1, 2);
	part(rd, 4, 1, 3);
	whole_msg(rd, 5, 2);
	assert_int_equal(s.packets, 0);
	cl_nats_reader_expired_below(rd, 5);
	cl_nats_reader_stats(rd, &st);
	assert_int_equal(s.incomplete, 1);
	assert_int_equal(s.lost[0], 4);
	assert_int_equal(s.packets, 1);
	assert_int_equal(s.psn[0], 2);
	assert_true(s.whole[0]);
	assert_int_equal(st.expired, 1); /* message 3 */
	assert_int_equal(st.incomplete, 1);
	cl_nats_reader_free(rd);
}

/* Part 1 of a new message before the last part of the previous one. */
static void test_new_message_before_last_part(void **state)
{
	struct cl_nats_read_stats st;
	struct seen s;
	struct cl_nats_reader *rd = reader(&s);

	(void)state;
	part(rd, 3, 0, 1);
	part(rd, 3, 0, 2);
	whole_msg(rd, 4, 1);
	cl_nats_reader_skip_gap(rd);
	cl_nats_reader_stats(rd, &st);
	assert_int_equal(s.incomplete, 1);
	assert_int_equal(s.lost[0], 3);
	assert_int_equal(s.packets, 1);
	assert_int_equal(s.psn[0], 1);
	assert_true(s.whole[0]);
	assert_int_equal(st.incomplete, 1);
	cl_nats_reader_free(rd);
}

static int setup(void **state)
{
	(void)state;
	return nats_Open(-1) == NATS_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	nats_Close();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parts_joined),
		cmocka_unit_test(test_two_halves_expired),
		cmocka_unit_test(test_two_halves_given_up),
		cmocka_unit_test(test_middle_part_missing),
		cmocka_unit_test(test_first_parts_gone),
		cmocka_unit_test(test_new_message_before_last_part),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
