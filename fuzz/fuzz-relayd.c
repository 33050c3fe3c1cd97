/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the relayd control/data codec (src/proto/relayd.c).
 * The first byte picks a negotiated minor, the rest is one payload fed to
 * every decoder: none may read out of bounds or accept a string that is not
 * NUL-terminated inside its field.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "relayd-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, const uint8_t *data, size_t size)
{
	/* Decoded strings borrow from the input and end inside it. */
	if ((const uint8_t *)s >= data && (const uint8_t *)s < data + size &&
	    !memchr(s, '\0', size - (size_t)((const uint8_t *)s - data)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_relayd_create_session cs;
	struct cl_relayd_add_stream as;
	struct cl_relayd_index ix;
	struct cl_relayd_create_chunk cc;
	struct cl_relayd_close_chunk xc;
	struct cl_relayd_rotate_streams rs;
	struct cl_relayd_hdr h;
	struct cl_relayd_data_hdr dh;
	struct cl_relayd_metadata_hdr mh;
	uint32_t minor;

	if (size < 1 || size > 1 << 16)
		return 0;
	minor = data[0] % 16;
	data++;
	size--;

	(void)cl_relayd_decode_hdr(data, size, &h);
	(void)cl_relayd_decode_data_hdr(data, size, &dh);
	(void)cl_relayd_decode_metadata_hdr(data, size, &mh);
	if (cl_relayd_decode_create_session(data, size, minor, &cs) == 0) {
		check_str(cs.session_name, data, size);
		check_str(cs.hostname, data, size);
		check_str(cs.base_path, data, size);
	}
	if (cl_relayd_decode_add_stream(data, size, minor, &as) == 0) {
		check_str(as.channel_name, data, size);
		check_str(as.pathname, data, size);
	}
	(void)cl_relayd_decode_index(data, size, minor, &ix);
	if (cl_relayd_decode_create_chunk(data, size, &cc) == 0 && cc.override_name)
		check_str(cc.override_name, data, size);
	(void)cl_relayd_decode_close_chunk(data, size, &xc);
	if (cl_relayd_decode_rotate_streams(data, size, 1024, &rs) == 0) {
		for (uint32_t i = 0; i < rs.stream_count; i++) {
			uint64_t id, seq;

			cl_relayd_rotate_position(&rs, i, &id, &seq);
		}
	}
	return 0;
}
