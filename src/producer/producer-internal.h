/* SPDX-License-Identifier: MIT */
/*
 * Producer internals (include/ctflive/producer.h): the objects and the
 * socket layer shared by producer.c (session, traces, streams, packets,
 * beacons, end) and producer-io.c (connections, send queues, replies).
 */
#ifndef CL_PRODUCER_INTERNAL_H
#define CL_PRODUCER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/producer.h"
#include "grow.h"

#define CL_PRODUCER_MAX_METADATA (64u * 1024u * 1024u) /* bytes, as the decoder */
#define CL_PRODUCER_MAX_PENDING  (1u << 20)            /* replies awaited */

/* A packet sent and not yet confirmed by the relay. */
struct inflight {
	uint64_t net_seq_num;
	uint64_t tag;
};

struct ctflive_producer_stream {
	struct ctflive_producer *p;        /* borrowed: the owner */
	struct ctflive_producer_trace *tr; /* borrowed */
	char *name;                        /* owned */
	uint64_t handle;                   /* relay handle on the current connection */
	bool added;                        /* ADD_STREAM done on the current connection */
	bool closed;
	uint64_t next_seq;         /* net_seq_num of the next packet */
	bool has_packet;           /* a packet was sent on this connection */
	bool sent_since_tick;      /* a packet was sent since the previous tick */
	uint64_t sc_id;            /* CTF stream class id of the last packet */
	uint64_t last_end;         /* timestamp_end of the last packet (cycles) */
	struct inflight *inflight; /* owned ring, CTFLIVE_PRODUCER_MAX_INFLIGHT */
	size_t ihead, in;
	bool dp_query; /* a DATA_PENDING check is awaited */
};

struct ctflive_producer_trace {
	struct ctflive_producer *p;    /* borrowed */
	char *path;                    /* owned, relay path of the trace */
	struct ctflive_ctf_trace *ctf; /* owned: the metadata parsed */
	struct cl_buf md;              /* owned: every metadata byte, for reconnections */
	uint64_t md_handle;
	bool added;
	/* TSDL text is sent in metadata packets, as LTTng 2.13 sends it
	 * (babeltrace2 2.0's live reader fails on text appended unpacketized) */
	int packetize;       /* -1 not known yet, 0 no, 1 yes */
	uint8_t md_uuid[16]; /* uuid of those packets: the trace's, once */
};

enum pend_kind {
	PEND_SYNC,  /* a caller waits for this reply */
	PEND_CHECK, /* generic reply that must be LTTNG_OK */
	PEND_DATA_PENDING,
};

/* A reply the producer waits for, in request order. */
struct pend {
	uint32_t cmd;
	uint8_t kind;                       /* enum pend_kind */
	struct ctflive_producer_stream *st; /* PEND_DATA_PENDING: borrowed */
	uint64_t seq;                       /* PEND_DATA_PENDING: last net_seq_num asked */
};

/* A send queue: bytes [head, buf.len) of buf are still to be written. */
struct sendq {
	struct cl_buf buf;
	size_t head;
	uint64_t queued, written; /* bytes since the connection opened */
};

struct ctflive_producer {
	/* configuration (owned copies) */
	char *host;
	uint16_t ctrl_port, data_port;
	int family;
	char *session_name, *hostname;
	uint32_t live_timer_us, max_minor;
	bool ctf2;
	size_t queue_max;
	int timeout_ms;

	/* connection */
	int cfd, dfd; /* -1 when disconnected */
	struct sendq cq, dq;
	/* metadata first: no data byte is written before the control queue is
	 * written up to here (the end of the last metadata queued) */
	uint64_t md_end;
	struct pend *pend; /* owned ring */
	size_t pcap, phead, pn;
	uint8_t in[8192]; /* reply bytes read, not yet handled */
	size_t inlen;
	uint8_t sync_rep[16 + 4096]; /* the last PEND_SYNC reply */
	size_t sync_len;
	bool sync_done;
	uint32_t minor;
	uint64_t session_id;
	char out_path[4096];
	uint8_t uuid[16];
	uint64_t creation_time;

	/* objects (owned arrays of owned pointers) */
	struct ctflive_producer_trace **traces;
	size_t ntraces, tcap;
	struct ctflive_producer_stream **streams;
	size_t nstreams, scap;
	bool need_streams_sent;

	/* beacons */
	bool activity; /* a packet was sent since the last beacon round */
	bool had_round;

	struct ctflive_producer_stats stats;
	ctflive_producer_lost_fn lost_fn;
	void *lost_ctx;
	char err[320];
};

/* producer-io.c */
int cl_prod_set_err(struct ctflive_producer *p, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Breaks the connection (error r described by fmt): in-flight packets are
 * counted lost. Returns r. */
int cl_prod_fail(struct ctflive_producer *p, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cl_prod_open(struct ctflive_producer *p);
void cl_prod_close(struct ctflive_producer *p);
/* Queues a control request (header + payload) and, unless kind is -1, the
 * reply it expects. */
int cl_prod_ctrl(struct ctflive_producer *p, uint32_t cmd, const void *payload, size_t len,
		 int kind, struct ctflive_producer_stream *st, uint64_t seq);
/* A data packet (its header, then its content): written at once when the
 * data queue is empty and the metadata before it is written, the rest
 * queued. A broken connection is an error (cl_prod_fail). */
int cl_prod_data(struct ctflive_producer *p, const void *hdr, size_t hlen, const void *data,
		 size_t dlen);
/* Queues bytes on a queue without a header (SEND_METADATA's parts, data). */
int cl_prod_queue(struct ctflive_producer *p, struct sendq *q, const void *data, size_t len);
/* cl_prod_ctrl() with PEND_SYNC, then waits for the reply (copied to
 * p->sync_rep, p->sync_len bytes). */
int cl_prod_request(struct ctflive_producer *p, uint32_t cmd, const void *payload, size_t len);
/* Writes and reads until the queues are empty and no reply is awaited, or
 * timeout_ms (-1: p->timeout_ms... never less) runs out: 0, -EAGAIN, or an
 * error. */
int cl_prod_pump(struct ctflive_producer *p, int timeout_ms);
/* Confirms the in-flight packets of st up to net_seq_num seq. */
void cl_prod_confirm(struct ctflive_producer_stream *st, uint64_t seq);
static inline size_t cl_prod_qlen(const struct sendq *q)
{
	return q->buf.len - q->head;
}
/* Whether data bytes may be written now (all metadata queued is written). */
static inline bool cl_prod_data_gate(const struct ctflive_producer *p)
{
	return p->cq.written >= p->md_end;
}

#endif
