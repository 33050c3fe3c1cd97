/* SPDX-License-Identifier: MIT */
/*
 * `ctflive stream`: the trace directory side (stream-src.c) and the command
 * (cmd-stream.c) that sends it through the producer of libctflive.
 *
 * A source is a set of traces (directories holding a `metadata` file below
 * TRACE_DIR) and their stream files. Each stream file is read as it grows:
 * `off` is how far packets were taken, `size` how far the file was seen.
 * The next packet of each stream is framed ahead (`next`), so packets of all
 * streams can be sent in timestamp_begin order.
 */
#ifndef CL_CLI_STREAM_H
#define CL_CLI_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/producer.h"

struct ss_stream {
	char *path; /* owned, absolute file path */
	char *name; /* owned, the file name: the relay's channel name */
	struct ss_trace *tr;
	struct ctflive_producer_stream *ps; /* borrowed from the producer */
	int fd;
	uint64_t off;   /* bytes of the file taken as packets */
	uint64_t limit; /* frame nothing past this offset (follow: the size
			 * seen before the metadata was last read) */
	uint8_t *pkt;   /* owned: read buffer (--follow) */
	size_t pcap;
	uint8_t *map; /* owned mapping of a recorded file (munmap) */
	size_t maplen;
	const uint8_t *cur; /* the next packet's bytes when `have`: in pkt or map */
	bool have;          /* cur holds the next packet, framed in `next` */
	struct ctflive_producer_packet next;
	bool done; /* ended (recorded: end of file; error; removed) */
	uint64_t packets;
};

struct ss_trace {
	char *dir;                         /* owned, absolute */
	char *rel;                         /* owned, the relay path */
	struct ctflive_producer_trace *pt; /* borrowed from the producer */
	uint64_t md_off;                   /* metadata bytes sent */
	bool packetized;
	bool seen_md;
};

struct ss_source {
	char *root; /* owned */
	struct ss_trace **traces;
	size_t ntraces, tcap;
	struct ss_stream **streams;
	size_t nstreams, scap;
	bool follow;
	int errors; /* bad input reported */
};

/* Finds traces and stream files below root (again: only new ones are added
 * and announced through the producer). Returns 0 or a negative errno. */
int ss_scan(struct ss_source *s, struct ctflive_producer *p);
/* Reads new metadata bytes of every trace (whole metadata packets only when
 * packetized) and sends them. */
int ss_metadata(struct ss_source *s);
/* Frames the next packet of st if it is complete in the file: 1 when
 * st->have, 0 when not yet (follow) or at the end (recorded: st->done set),
 * or a negative errno after reporting bad input (st->done set). */
int ss_peek(struct ss_source *s, struct ss_stream *st);
/* The packet of st->next was sent: move on. */
void ss_advance(struct ss_stream *st);
void ss_free(struct ss_source *s);
/* Whether the first metadata file found below root is CTF 2 (it starts
 * with the record separator 0x1E, CTF2-SPEC-2.0 §5). */
bool ss_is_ctf2(const char *root);
/* Whether a readable 'metadata' file (a CTF trace) is below root, at most
 * 8 directories down, as ss_scan() looks for traces. */
bool ss_has_trace(const char *root);
/* Counts the events of the packet at byte `off` of stream st (for lost
 * packets). Returns the count, or 0 when it cannot be decoded. */
uint64_t ss_count_events(struct ss_stream *st, uint64_t off);

#endif
