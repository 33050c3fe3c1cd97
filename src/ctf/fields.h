/* SPDX-License-Identifier: MIT */
/*
 * Field decoding shared by decode.c (packets, events) and fields.c (the
 * decode tree walk and the decode program interpreter). Private to src/ctf.
 */
#ifndef CL_CTF_FIELDS_H
#define CL_CTF_FIELDS_H

#include <stdint.h>

#include "ctf-internal.h"

/* Where a scope is being decoded. */
struct dctx {
	const uint8_t *buf;
	uint64_t lim; /* bits available */
	uint64_t pos; /* bits from packet start */
	struct ctflive_ctf_stream *s;
	struct cl_vals *out;
	int last_bo;
};

/*
 * Records a decoding error of stream `s` at bit `bitpos` of the current
 * packet in s->errdiag (byte offset in the stream, message) and returns
 * `code` (a negative errno: -EBADMSG, -EMSGSIZE, -E2BIG, ...).
 */
int cl_dec_err(struct ctflive_ctf_stream *s, int code, uint64_t bitpos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Decodes scope tree `n` (NULL: empty) of stream `s` from s->pos in `buf`
 * (`lim` bits) into s->vals[which]; s->pos advances. 0 or a negative errno
 * (cl_dec_err() has the details).
 */
int cl_dec_scope(struct ctflive_ctf_stream *s, const struct cl_node *n, int which,
		 const uint8_t *buf, uint64_t lim);

/*
 * Runs decode program `prog` in `d`: 0 at its end, 2 when an event header
 * program also decoded the event's payload (CL_OP_EVHDR_END), or a negative
 * errno.
 */
int cl_run_prog(struct dctx *d, const struct cl_op *prog);

#endif
