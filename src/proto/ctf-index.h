/* SPDX-License-Identifier: MIT */
/*
 * CTF index files (`index/<tracefile>.idx`): constants and one pure encode
 * and decode function for the header and for entries. The only code in
 * ctflive that knows the byte layout of an index file: the relay writes
 * with it (stream.c), reads back with it (live server, crash recovery), and
 * the readers of trace directories (follow, the offline decoder) parse with
 * it. The format is the public contract of doc/file-formats.md §2 (LTTng's
 * CTF index 1.0/1.1, relayd-protocol.md §6.4).
 *
 * Layout, every integer big-endian:
 *
 *   header (16 bytes)  magic, major, minor, entry size      (4 x u32)
 *   entry k            at CL_INDEX_HEADER_SIZE + k * entry size
 *     0  offset of the packet in the tracefile (bytes); all ones: lost
 *     8  packet_size (bits, padding included)
 *    16  content_size (bits)
 *    24  timestamp_begin (clock cycles)
 *    32  timestamp_end (clock cycles)
 *    40  events_discarded (cumulative)
 *    48  stream_id (CTF stream class id)
 *    56  stream_instance_id                                 (1.1)
 *    64  packet_seq_num                                     (1.1)
 *
 * Readers accept any entry size from CL_INDEX_ENTRY_SIZE_1_0 up (newer
 * producers may append fields) and take the fields the size covers; the
 * relay writes 56-byte entries under minor 0 and 72-byte ones under minor 1.
 *
 * No I/O, no allocation. Every function works on a bounded cursor
 * (src/common/bytes.h), returns 0 or a negative errno and, on failure,
 * leaves the cursor and *ret unchanged.
 */
#ifndef CL_PROTO_CTF_INDEX_H
#define CL_PROTO_CTF_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "bytes.h"

#define CL_INDEX_MAGIC          0xC1F1DCC1u
#define CL_INDEX_MAJOR          1u
#define CL_INDEX_MINOR_1_0      0u /* producers older than LTTng 2.8 */
#define CL_INDEX_MINOR_1_1      1u
#define CL_INDEX_HEADER_SIZE    16u /* bytes */
#define CL_INDEX_ENTRY_SIZE_1_0 56u /* bytes */
#define CL_INDEX_ENTRY_SIZE_1_1 72u /* bytes */
#define CL_INDEX_ENTRY_SIZE_MIN CL_INDEX_ENTRY_SIZE_1_0
#define CL_INDEX_ENTRY_SIZE_MAX 4096u /* larger entry sizes are refused as corrupt */

/* Offset of a lost packet (doc/file-formats.md §2): its data never came. */
#define CL_INDEX_LOST_OFFSET UINT64_MAX

/* Byte offsets of the fields inside an entry. */
enum cl_index_field {
	CL_INDEX_OFF_OFFSET = 0,
	CL_INDEX_OFF_PACKET_SIZE = 8,
	CL_INDEX_OFF_CONTENT_SIZE = 16,
	CL_INDEX_OFF_TIMESTAMP_BEGIN = 24,
	CL_INDEX_OFF_TIMESTAMP_END = 32,
	CL_INDEX_OFF_EVENTS_DISCARDED = 40,
	CL_INDEX_OFF_STREAM_ID = 48,
	CL_INDEX_OFF_STREAM_INSTANCE_ID = 56,
	CL_INDEX_OFF_PACKET_SEQ_NUM = 64,
};

/* A decoded header (host byte order). */
struct cl_index_header {
	uint32_t magic;
	uint32_t major;
	uint32_t minor;
	uint32_t entry_size; /* bytes */
};

/* A decoded entry (host byte order). */
struct cl_index_entry {
	uint64_t offset;             /* bytes; CL_INDEX_LOST_OFFSET for a lost packet */
	uint64_t packet_size;        /* bits, padding included */
	uint64_t content_size;       /* bits */
	uint64_t timestamp_begin;    /* clock cycles */
	uint64_t timestamp_end;      /* clock cycles */
	uint64_t events_discarded;   /* cumulative count */
	uint64_t stream_id;          /* CTF stream class id */
	uint64_t stream_instance_id; /* UINT64_MAX when the entry size lacks it */
	uint64_t packet_seq_num;     /* UINT64_MAX when the entry size lacks it */
};

/* Entry size the relay writes under `minor` (CL_INDEX_MINOR_1_0 or 1_1). */
static inline uint32_t cl_index_entry_size(uint32_t minor)
{
	return minor >= CL_INDEX_MINOR_1_1 ? CL_INDEX_ENTRY_SIZE_1_1 : CL_INDEX_ENTRY_SIZE_1_0;
}

/* Byte position of entry `k` in a file whose entries are `entry_size` bytes. */
static inline uint64_t cl_index_entry_pos(uint64_t k, uint32_t entry_size)
{
	return CL_INDEX_HEADER_SIZE + k * (uint64_t)entry_size;
}

static inline bool cl_index_entry_is_lost(const struct cl_index_entry *e)
{
	return e->offset == CL_INDEX_LOST_OFFSET;
}

/*
 * Appends the 16-byte header of an index of version 1.`minor` (0 or 1; the
 * entry size follows from it). -EINVAL for another minor, -EMSGSIZE when wb
 * lacks room.
 */
int cl_index_header_encode(struct cl_wbuf *wb, uint32_t minor);

/*
 * Reads 16 header bytes as they are, without judging them (see
 * cl_index_header_check()). -EMSGSIZE when rb holds fewer.
 */
int cl_index_header_decode(struct cl_rbuf *rb, struct cl_index_header *ret);

/*
 * Judges a decoded header: 0, -EBADMSG (bad magic), -ENOTSUP (major other
 * than 1), -ERANGE (entry size outside [CL_INDEX_ENTRY_SIZE_MIN,
 * CL_INDEX_ENTRY_SIZE_MAX]).
 */
int cl_index_header_check(const struct cl_index_header *h);

/*
 * Appends entry `e` in `entry_size` bytes (CL_INDEX_ENTRY_SIZE_1_0: the
 * fields up to stream_id, or CL_INDEX_ENTRY_SIZE_1_1: all of them).
 * -EINVAL for another size, -EMSGSIZE when wb lacks room.
 */
int cl_index_entry_encode(struct cl_wbuf *wb, const struct cl_index_entry *e, uint32_t entry_size);

/*
 * Consumes one entry of `entry_size` bytes (at least CL_INDEX_ENTRY_SIZE_MIN,
 * else -EINVAL; bytes past the known fields are skipped). Fields the size
 * does not cover are UINT64_MAX. -EMSGSIZE when rb holds fewer bytes.
 */
int cl_index_entry_decode(struct cl_rbuf *rb, uint32_t entry_size, struct cl_index_entry *ret);

#endif
