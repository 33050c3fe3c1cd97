/* SPDX-License-Identifier: MIT */
/*
 * The requests a consumer sends to a relay (control and data sockets) and
 * the replies it reads back: the client half of src/proto/relayd-proto.h,
 * whose message structs it reuses. Pure functions, no I/O.
 *
 * Reference: shared docs "relayd-protocol.md" (section per function).
 * Encoders append to a bounded cursor and return 0 or -EMSGSIZE (nothing
 * useful written then); decoders read a borrowed reply and return 0,
 * -EMSGSIZE (too short) or -EPROTO.
 */
#ifndef CL_PRODUCER_RELAYD_TX_H
#define CL_PRODUCER_RELAYD_TX_H

#include <stdint.h>

#include "bytes.h"
#include "relayd-proto.h"

/* §2.1 control header for `cmd` with `size` payload bytes. */
int cl_relayd_tx_hdr(struct cl_wbuf *wb, uint32_t cmd, uint64_t size);
/* §5.1 VERSION payload. */
int cl_relayd_tx_version(struct cl_wbuf *wb, uint32_t major, uint32_t minor);
/* A single u64 payload (§5.2, §5.9, §5.10, §5.14). */
int cl_relayd_tx_u64(struct cl_wbuf *wb, uint64_t v);
/* Two u64s (§5.7 CLOSE_STREAM, §5.8 DATA_PENDING). */
int cl_relayd_tx_u64_pair(struct cl_wbuf *wb, uint64_t a, uint64_t b);
/* §5.3 CREATE_SESSION payload, 2.11 layout, or 2.15 (trace format after the
 * fixed part) when minor >= 15. Uses session_name, hostname, base_path,
 * live_timer, sessiond_uuid, sessiond_session_id, creation_time,
 * trace_format of `cs`; current chunk unset. */
int cl_relayd_tx_create_session(struct cl_wbuf *wb, uint32_t minor,
				const struct cl_relayd_create_session *cs);
/* Size of that payload. */
size_t cl_relayd_tx_create_session_size(uint32_t minor, const struct cl_relayd_create_session *cs);
/* §5.4 ADD_STREAM payload, 2.11 layout (tracefile size and count 0). */
int cl_relayd_tx_add_stream(struct cl_wbuf *wb, const char *channel, const char *pathname,
			    uint64_t chunk_id);
/* §5.12 CREATE_TRACE_CHUNK payload without an override name. */
int cl_relayd_tx_create_chunk(struct cl_wbuf *wb, uint64_t chunk_id, uint64_t created_s);
/* §5.6 SEND_INDEX payload (80 bytes). */
int cl_relayd_tx_index(struct cl_wbuf *wb, const struct cl_relayd_index *ix);
/* §2.5 SEND_METADATA sub-header. */
int cl_relayd_tx_metadata_hdr(struct cl_wbuf *wb, uint64_t stream_id, uint32_t padding);
/* §2.3 data header. */
int cl_relayd_tx_data_hdr(struct cl_wbuf *wb, const struct cl_relayd_data_hdr *h);

/* §2.2 replies. */
uint32_t cl_relayd_rx_generic(const uint8_t *rep); /* 4 bytes */
/* ADD_STREAM reply (12 bytes): handle, ret_code. */
void cl_relayd_rx_status_stream(const uint8_t *rep, uint64_t *ret_handle, uint32_t *ret_code);
/* CREATE_SESSION 2.11 reply fixed part (16 bytes). */
void cl_relayd_rx_create_session(const uint8_t *rep, uint64_t *ret_session_id, uint32_t *ret_code,
				 uint32_t *ret_path_len);

/* §0.1: what relay status `code` in the reply to `cmd` means, in words,
 * with the status name and number. Static string (a thread-local buffer
 * for a code it does not know: valid until the next call). */
const char *cl_relayd_status_words(uint32_t cmd, uint32_t code);

#endif
