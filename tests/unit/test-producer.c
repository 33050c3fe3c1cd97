/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the producer's wire half (src/producer/relayd-tx.c): every
 * request it encodes is decoded back by the relay's own decoders
 * (src/proto/relayd.c) field for field; the URL parser of
 * ctflive/producer.h; packet framing (ctflive_producer_packet_info) without
 * a relay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctflive/producer.h"
#include "relayd-tx.h"

static void test_create_session(void **state)
{
	uint8_t buf[512];
	struct cl_relayd_create_session in = {
		.session_name = "sess",
		.hostname = "host",
		.base_path = "",
		.live_timer = 100000,
		.sessiond_uuid = { 1, 2, 3 },
		.sessiond_session_id = 7,
		.creation_time = 1700000000,
		.trace_format = CL_RELAYD_TRACE_FORMAT_CTF_2,
	};
	struct cl_relayd_create_session out;

	(void)state;
	for (uint32_t minor = 11; minor <= 15; minor += 4) {
		struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));

		assert_int_equal(cl_relayd_tx_create_session(&wb, minor, &in), 0);
		assert_int_equal(wb.pos, cl_relayd_tx_create_session_size(minor, &in));
		assert_int_equal(cl_relayd_decode_create_session(buf, wb.pos, minor, &out), 0);
		assert_string_equal(out.session_name, "sess");
		assert_string_equal(out.hostname, "host");
		assert_string_equal(out.base_path, "");
		assert_int_equal(out.live_timer, 100000);
		assert_int_equal(out.sessiond_session_id, 7);
		assert_int_equal(out.creation_time, 1700000000);
		assert_false(out.has_current_chunk_id);
		assert_memory_equal(out.sessiond_uuid, in.sessiond_uuid, 16);
		assert_int_equal(out.trace_format, minor >= 15 ? CL_RELAYD_TRACE_FORMAT_CTF_2
							       : CL_RELAYD_TRACE_FORMAT_CTF_1_8);
	}
	/* too small a buffer: nothing written */
	struct cl_wbuf small = cl_wbuf_make(buf, 20);

	assert_int_equal(cl_relayd_tx_create_session(&small, 13, &in), -EMSGSIZE);
	assert_int_equal(small.pos, 0);
}

static void test_add_stream_index_data(void **state)
{
	uint8_t buf[600];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	struct cl_relayd_add_stream as;
	struct cl_relayd_index in = { 3, 4, 32768, 30016, 10, 20, 5, 1, 2, 9 }, out;
	struct cl_relayd_data_hdr dh = { .stream_id = 3,
					 .net_seq_num = 4,
					 .data_size = 100,
					 .padding_size = 28 },
				  dout;
	struct cl_relayd_hdr h;
	struct cl_relayd_metadata_hdr mh;

	(void)state;
	assert_int_equal(cl_relayd_tx_add_stream(&wb, "channel0_0", "ust/uid/0/64-bit", 0), 0);
	assert_int_equal(cl_relayd_decode_add_stream(buf, wb.pos, 13, &as), 0);
	assert_string_equal(as.channel_name, "channel0_0");
	assert_string_equal(as.pathname, "ust/uid/0/64-bit");
	assert_int_equal(as.tracefile_size, 0);

	wb = cl_wbuf_make(buf, sizeof(buf));
	assert_int_equal(cl_relayd_tx_index(&wb, &in), 0);
	assert_int_equal(wb.pos, CL_RELAYD_INDEX_SIZE_2_8);
	assert_int_equal(cl_relayd_decode_index(buf, wb.pos, 13, &out), 0);
	assert_memory_equal(&in, &out, sizeof(in));

	wb = cl_wbuf_make(buf, sizeof(buf));
	assert_int_equal(cl_relayd_tx_data_hdr(&wb, &dh), 0);
	assert_int_equal(cl_relayd_decode_data_hdr(buf, wb.pos, &dout), 0);
	assert_int_equal(dout.stream_id, 3);
	assert_int_equal(dout.net_seq_num, 4);
	assert_int_equal(dout.data_size, 100);
	assert_int_equal(dout.padding_size, 28);

	wb = cl_wbuf_make(buf, sizeof(buf));
	assert_int_equal(cl_relayd_tx_hdr(&wb, CL_RELAYD_SEND_METADATA, 12 + 5), 0);
	assert_int_equal(cl_relayd_tx_metadata_hdr(&wb, 9, 0), 0);
	assert_int_equal(cl_relayd_decode_hdr(buf, CL_RELAYD_CTRL_HDR_SIZE, &h), 0);
	assert_int_equal(h.cmd, CL_RELAYD_SEND_METADATA);
	assert_int_equal(h.data_size, 17);
	assert_int_equal(cl_relayd_decode_metadata_hdr(buf + CL_RELAYD_CTRL_HDR_SIZE, 12, &mh), 0);
	assert_int_equal(mh.stream_id, 9);

	/* names over the protocol's limits are refused */
	char longname[300];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	wb = cl_wbuf_make(buf, sizeof(buf));
	assert_int_equal(cl_relayd_tx_add_stream(&wb, longname, "p", 0), -EINVAL);
}

static void test_url(void **state)
{
	char host[64];
	uint16_t c, d;
	const char *msg = NULL;

	(void)state;
	assert_int_equal(
		ctflive_producer_url_parse("net://relay", host, sizeof(host), &c, &d, &msg), 0);
	assert_string_equal(host, "relay");
	assert_int_equal(c, 5342);
	assert_int_equal(d, 5343);
	assert_int_equal(ctflive_producer_url_parse("net4://10.0.0.1:6000", host, sizeof(host), &c,
						    &d, &msg),
			 0);
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(c, 6000);
	assert_int_equal(d, 5343);
	assert_int_equal(ctflive_producer_url_parse("net6://[::1]:7000:7001", host, sizeof(host),
						    &c, &d, &msg),
			 0);
	assert_string_equal(host, "::1");
	assert_int_equal(c, 7000);
	assert_int_equal(d, 7001);
	const char *bad[] = { "relay",         "tcp://relay",   "net://",     "net://h:0",
			      "net://h:70000", "net://h:1:x",   "net://[::1", "net://h/path",
			      "net://h:12:",   "net://h:1:2:3", NULL };
	for (int i = 0; bad[i]; i++) {
		msg = NULL;
		assert_int_equal(
			ctflive_producer_url_parse(bad[i], host, sizeof(host), &c, &d, &msg),
			-EINVAL);
		assert_non_null(msg);
	}
}

static void test_config(void **state)
{
	struct ctflive_producer *p = NULL;
	struct ctflive_producer_config c = { .url = "net://127.0.0.1:1", .session_name = "s" };

	(void)state;
	assert_int_equal(ctflive_producer_new(&c, &p), 0);
	/* nothing connected: the relay is needed */
	assert_false(ctflive_producer_is_connected(p));
	assert_int_equal(ctflive_producer_tick(p, 0), -ENOTCONN);
	assert_int_equal(ctflive_producer_wait(p, 0), -ENOTCONN);
	ctflive_producer_free(p);
	c.session_name = "../x";
	assert_int_equal(ctflive_producer_new(&c, &p), -EINVAL);
	c.session_name = ".hidden";
	assert_int_equal(ctflive_producer_new(&c, &p), -EINVAL);
	c.session_name = "s";
	c.max_minor = 4;
	assert_int_equal(ctflive_producer_new(&c, &p), -EINVAL);
	c.max_minor = 0;
	c.hostname = "a/b";
	assert_int_equal(ctflive_producer_new(&c, &p), -EINVAL);
	assert_null(ctflive_producer_free(NULL));
}

static void test_config_check(void **state)
{
	struct ctflive_producer_config c = { .url = "net://127.0.0.1:1", .session_name = "s" };
	const char *field = NULL, *why = NULL;

	(void)state;
	assert_int_equal(ctflive_producer_config_check(&c, &field, &why), 0);
	c.url = "net://h:0";
	assert_int_equal(ctflive_producer_config_check(&c, &field, &why), -EINVAL);
	assert_string_equal(field, "url");
	assert_non_null(strstr(why, "control port"));
	c.url = "net://h";
	c.session_name = "";
	assert_int_equal(ctflive_producer_config_check(&c, &field, &why), -EINVAL);
	assert_string_equal(field, "session_name");
	assert_string_equal(why, "empty");
	c.session_name = "a/b";
	assert_int_equal(ctflive_producer_config_check(&c, &field, &why), -EINVAL);
	assert_non_null(strstr(why, "'/'"));
	c.session_name = "s";
	c.hostname = ".h";
	assert_int_equal(ctflive_producer_config_check(&c, &field, &why), -EINVAL);
	assert_string_equal(field, "hostname");
	assert_non_null(strstr(why, "'.'"));
	c.hostname = NULL;
	c.max_minor = 16;
	assert_int_equal(ctflive_producer_config_check(&c, NULL, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_session),
		cmocka_unit_test(test_add_stream_index_data),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
