/* SPDX-License-Identifier: MIT */
/* CTF index codec: see ctf-index.h. */
#include "ctf-index.h"

#include <errno.h>
#include <stddef.h>

/* The layout of ctf-index.h, checked: 4 u32 header fields, 7 then 9 u64 fields. */
_Static_assert(CL_INDEX_HEADER_SIZE == 4 * sizeof(uint32_t), "index header size");
_Static_assert(CL_INDEX_ENTRY_SIZE_1_0 == CL_INDEX_OFF_STREAM_ID + sizeof(uint64_t),
	       "index 1.0 entry ends after stream_id");
_Static_assert(CL_INDEX_ENTRY_SIZE_1_1 == CL_INDEX_OFF_PACKET_SEQ_NUM + sizeof(uint64_t),
	       "index 1.1 entry ends after packet_seq_num");
_Static_assert(sizeof(struct cl_index_entry) == CL_INDEX_ENTRY_SIZE_1_1,
	       "one decoded field per 1.1 wire field");
_Static_assert(CL_INDEX_ENTRY_SIZE_1_0 <= CL_INDEX_ENTRY_SIZE_1_1 &&
		       CL_INDEX_ENTRY_SIZE_1_1 <= CL_INDEX_ENTRY_SIZE_MAX,
	       "entry size bounds");

int cl_index_header_encode(struct cl_wbuf *wb, uint32_t minor)
{
	uint8_t h[CL_INDEX_HEADER_SIZE];

	if (minor != CL_INDEX_MINOR_1_0 && minor != CL_INDEX_MINOR_1_1)
		return -EINVAL;
	cl_store_be32(h, CL_INDEX_MAGIC);
	cl_store_be32(h + 4, CL_INDEX_MAJOR);
	cl_store_be32(h + 8, minor);
	cl_store_be32(h + 12, cl_index_entry_size(minor));
	return cl_wbuf_put_bytes(wb, h, sizeof(h));
}

int cl_index_header_decode(struct cl_rbuf *rb, struct cl_index_header *ret)
{
	const uint8_t *p;
	int r = cl_rbuf_get_bytes(rb, CL_INDEX_HEADER_SIZE, &p);

	if (r < 0)
		return r;
	ret->magic = cl_load_be32(p);
	ret->major = cl_load_be32(p + 4);
	ret->minor = cl_load_be32(p + 8);
	ret->entry_size = cl_load_be32(p + 12);
	return 0;
}

int cl_index_header_check(const struct cl_index_header *h)
{
	if (h->magic != CL_INDEX_MAGIC)
		return -EBADMSG;
	if (h->major != CL_INDEX_MAJOR)
		return -ENOTSUP;
	if (h->entry_size < CL_INDEX_ENTRY_SIZE_MIN || h->entry_size > CL_INDEX_ENTRY_SIZE_MAX)
		return -ERANGE;
	return 0;
}

int cl_index_entry_encode(struct cl_wbuf *wb, const struct cl_index_entry *e, uint32_t entry_size)
{
	uint8_t b[CL_INDEX_ENTRY_SIZE_1_1];

	if (entry_size != CL_INDEX_ENTRY_SIZE_1_0 && entry_size != CL_INDEX_ENTRY_SIZE_1_1)
		return -EINVAL;
	cl_store_be64(b + CL_INDEX_OFF_OFFSET, e->offset);
	cl_store_be64(b + CL_INDEX_OFF_PACKET_SIZE, e->packet_size);
	cl_store_be64(b + CL_INDEX_OFF_CONTENT_SIZE, e->content_size);
	cl_store_be64(b + CL_INDEX_OFF_TIMESTAMP_BEGIN, e->timestamp_begin);
	cl_store_be64(b + CL_INDEX_OFF_TIMESTAMP_END, e->timestamp_end);
	cl_store_be64(b + CL_INDEX_OFF_EVENTS_DISCARDED, e->events_discarded);
	cl_store_be64(b + CL_INDEX_OFF_STREAM_ID, e->stream_id);
	cl_store_be64(b + CL_INDEX_OFF_STREAM_INSTANCE_ID, e->stream_instance_id);
	cl_store_be64(b + CL_INDEX_OFF_PACKET_SEQ_NUM, e->packet_seq_num);
	return cl_wbuf_put_bytes(wb, b, entry_size);
}

/* The u64 field at `off` if the entry covers it, else UINT64_MAX. */
static uint64_t field(const uint8_t *p, uint32_t entry_size, size_t off)
{
	return entry_size >= off + sizeof(uint64_t) ? cl_load_be64(p + off) : UINT64_MAX;
}

int cl_index_entry_decode(struct cl_rbuf *rb, uint32_t entry_size, struct cl_index_entry *ret)
{
	const uint8_t *p;
	int r;

	if (entry_size < CL_INDEX_ENTRY_SIZE_MIN)
		return -EINVAL;
	r = cl_rbuf_get_bytes(rb, entry_size, &p);
	if (r < 0)
		return r;
	ret->offset = cl_load_be64(p + CL_INDEX_OFF_OFFSET);
	ret->packet_size = cl_load_be64(p + CL_INDEX_OFF_PACKET_SIZE);
	ret->content_size = cl_load_be64(p + CL_INDEX_OFF_CONTENT_SIZE);
	ret->timestamp_begin = cl_load_be64(p + CL_INDEX_OFF_TIMESTAMP_BEGIN);
	ret->timestamp_end = cl_load_be64(p + CL_INDEX_OFF_TIMESTAMP_END);
	ret->events_discarded = cl_load_be64(p + CL_INDEX_OFF_EVENTS_DISCARDED);
	ret->stream_id = cl_load_be64(p + CL_INDEX_OFF_STREAM_ID);
	ret->stream_instance_id = field(p, entry_size, CL_INDEX_OFF_STREAM_INSTANCE_ID);
	ret->packet_seq_num = field(p, entry_size, CL_INDEX_OFF_PACKET_SEQ_NUM);
	return 0;
}
