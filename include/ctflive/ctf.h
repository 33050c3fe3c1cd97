/* SPDX-License-Identifier: MIT */
/*
 * ctflive CTF decoder: metadata (CTF 1.8 TSDL, CTF 2 JSON), packets, events,
 * printers.
 *
 * Follows the Common Trace Format 1.8 as written by LTTng 2.13 and read by
 * babeltrace2 2.0.4 (whose behaviour, quirks included, is the reference for
 * every choice below), and CTF 2 (CTF2-SPEC-2.0) as read by babeltrace2
 * 2.1.2 for the subset described in doc/ctf-decoder.md.
 *
 * Objects and lifecycle
 *   struct ctflive_ctf_trace    one trace class: parsed metadata. Created
 *                               empty, fed with metadata bytes (whole file or
 *                               pieces as they arrive), freed last.
 *   struct ctflive_ctf_stream   one data stream decoder. Pulls bytes through a
 *                               `struct ctflive_ctf_source` and returns
 *                               messages (events, discarded items, packet
 *                               boundaries). Borrows its trace: free every
 *                               stream before its trace.
 *   struct ctflive_ctf_printer  babeltrace2-compatible text or JSON Lines
 *                               formatting into an internal buffer.
 *
 * Conventions
 *   - Functions return 0 (or a documented positive value) on success and a
 *     negative errno on failure: -EINVAL bad argument, -EBADMSG corrupt trace
 *     or metadata, -EMSGSIZE truncated input, -E2BIG a limit was hit,
 *     -ENOTSUP unsupported version/feature, -EAGAIN more bytes needed (live
 *     sources), -ENOMEM.
 *   - `ret*` outputs are written only on success; `reterr` diagnostics (may
 *     be NULL) only on failure.
 *   - Sizes named *_bits are bits; other sizes are bytes. Clock values named
 *     *cycles are raw clock cycles; *ns are nanoseconds from the clock's
 *     origin (usually the Unix epoch), as babeltrace2's ns-from-origin.
 *   - The library never logs and never writes to stdout/stderr. Metadata
 *     warnings are kept as a list of diagnostics.
 *   - Not thread-safe: one thread per trace and its streams.
 */
#ifndef CTFLIVE_CTF_H
#define CTFLIVE_CTF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed, read-only view of bytes. Never owns memory. */
struct ctflive_bytes {
	const uint8_t *data;
	size_t len;
};

/* Where a problem was found. line/col are 1-based positions in the metadata
 * text (0 when not applicable); offset is a byte offset in the data stream
 * (or UINT64_MAX when not applicable). */
struct ctflive_ctf_diag {
	int line, col;
	uint64_t offset;
	char msg[240];
};

/* ---------------------------------------------------------------------- */
/* Trace class (metadata)                                                  */
/* ---------------------------------------------------------------------- */

struct ctflive_ctf_trace;

/* Creates an empty trace class. Errors: -ENOMEM. */
CTFLIVE_API int ctflive_ctf_trace_new(struct ctflive_ctf_trace **ret);

/* Frees the trace and everything it owns; NULL-safe; returns NULL. */
CTFLIVE_API struct ctflive_ctf_trace *ctflive_ctf_trace_free(struct ctflive_ctf_trace *t);

/*
 * Appends `len` bytes of the metadata stream (copied). The first bytes decide
 * the container: packetized metadata (magic 0x75D11D57 in either byte order,
 * 37-byte packet headers, CTF 1.8 spec §7.1), CTF 2 metadata (first byte
 * 0x1E: an RFC 7464 JSON text sequence of fragments, CTF2-SPEC-2.0 §5,
 * parsed with json-c) or plain TSDL text. Both metadata languages build the
 * same trace class: everything below works the same for either. Pieces may
 * be cut anywhere (mid-packet, mid-token, mid-fragment): complete top-level
 * declarations or fragments are parsed and applied immediately, an
 * incomplete trailing one waits for the next append (a CTF 2 fragment is
 * complete when the next 0x1E arrives, or when its braces and brackets
 * balance outside strings). New event and stream classes may arrive
 * after data has been decoded; existing streams see them at once.
 *
 * Errors: -EBADMSG (syntax or semantic error; reterr has line:col and the
 * message, or for CTF 2 the fragment's type and number; the trace keeps
 * what was applied before), -ENOTSUP (metadata version other than 1.8 or 2,
 * or a CTF 2 feature not supported yet, named in reterr: see
 * doc/ctf-decoder.md), -E2BIG (metadata text over 64 MiB or nesting deeper
 * than 64), -ENOMEM.
 */
CTFLIVE_API int ctflive_ctf_trace_add_metadata(struct ctflive_ctf_trace *t, const void *data,
					       size_t len, struct ctflive_ctf_diag *reterr);

/*
 * Declares the metadata complete (end of the metadata file, or live session
 * ended). An incomplete trailing declaration becomes an error (-EBADMSG).
 * Also checks that a `trace {}` block was seen (CTF 2: a trace class or a
 * data stream class, and a data stream class). Calling it is optional for a
 * live viewer that keeps decoding.
 */
CTFLIVE_API int ctflive_ctf_trace_end_metadata(struct ctflive_ctf_trace *t,
					       struct ctflive_ctf_diag *reterr);

/* Metadata warnings (unknown attributes, ignored values...), in order. */
CTFLIVE_API size_t ctflive_ctf_trace_warning_count(const struct ctflive_ctf_trace *t);
CTFLIVE_API const struct ctflive_ctf_diag *
ctflive_ctf_trace_warning(const struct ctflive_ctf_trace *t, size_t i);

/*
 * Whether the metadata added so far declares stream class `id` (CTF 1.8
 * `stream { id = ...; }`, or the one stream without an id; CTF 2: a data
 * stream class). A reader of a directory being written asks before it
 * decodes a tracefile whose index names that class: a relay may publish a
 * packet's index before the metadata that declares the packet's class
 * (ctflive-relayd's and lttng-relayd's live servers flag such an index
 * "new metadata" for the same reason).
 */
CTFLIVE_API bool ctflive_ctf_trace_has_stream_class(const struct ctflive_ctf_trace *t, uint64_t id);

/* Trace UUID as 36-char text, or NULL when the trace has none. Borrowed. */
CTFLIVE_API const char *ctflive_ctf_trace_uuid(const struct ctflive_ctf_trace *t);

/* Environment entry `key` (trace `env {}` block): returns 1 and sets *ret_str
 * (borrowed) or *ret_int, 0 when absent. Either output may be NULL. */
CTFLIVE_API int ctflive_ctf_trace_env(const struct ctflive_ctf_trace *t, const char *key,
				      const char **ret_str, int64_t *ret_int, bool *ret_is_int);

/* ---------------------------------------------------------------------- */
/* Byte sources: the pull interface                                        */
/* ---------------------------------------------------------------------- */

/* Returned by request() when the stream ended for good. */
#define CTFLIVE_CTF_END 1

/*
 * A stream of bytes (one CTF data stream: packets back to back).
 *
 * request(ctx, want, ret): points *ret at the bytes starting at the current
 * position (borrowed; valid until the next consume() or request()) and
 * returns:
 *   0                ret->len >= want;
 *   CTFLIVE_CTF_END  the stream has ended; ret->len < want is everything left
 *                    (0 at a clean end);
 *   -EAGAIN          fewer than `want` bytes are available now, more may come
 *                    (live); the decoder returns -EAGAIN to its caller and
 *                    retries the same request on the next call;
 *   other negative errno on I/O errors.
 * `want` may be SIZE_MAX ("everything until the end"), used only for packets
 * without a size (whole-file packets).
 * consume(ctx, n): the decoder is done with the next n bytes (n <= the last
 * view's length); called once per packet, with the packet size in bytes.
 *
 * Packets never straddle what a source considers separate files: a source
 * chaining several tracefiles must end a view at each file boundary.
 */
struct ctflive_ctf_source {
	int (*request)(void *ctx, size_t want, struct ctflive_bytes *ret);
	void (*consume)(void *ctx, size_t n);
	void *ctx;
};

/*
 * Ready-made in-memory source for live use: a FIFO of bytes the caller
 * pushes packets into (copied), e.g. one pushed packet per live index entry.
 */
struct ctflive_ctf_bufsrc;
CTFLIVE_API int ctflive_ctf_bufsrc_new(struct ctflive_ctf_bufsrc **ret);
CTFLIVE_API struct ctflive_ctf_bufsrc *ctflive_ctf_bufsrc_free(struct ctflive_ctf_bufsrc *b);
/* Appends bytes (copied). Errors: -ENOMEM, -EINVAL after bufsrc_end(). */
CTFLIVE_API int ctflive_ctf_bufsrc_push(struct ctflive_ctf_bufsrc *b, const void *data, size_t len);
/* No more bytes will be pushed: request() then returns CTFLIVE_CTF_END. */
CTFLIVE_API void ctflive_ctf_bufsrc_end(struct ctflive_ctf_bufsrc *b);
/* The source interface of `b` (borrowed: b must outlive its users). */
CTFLIVE_API struct ctflive_ctf_source ctflive_ctf_bufsrc_source(struct ctflive_ctf_bufsrc *b);

/* ---------------------------------------------------------------------- */
/* Stream decoding                                                         */
/* ---------------------------------------------------------------------- */

struct ctflive_ctf_stream;
struct ctflive_ctf_event;

enum ctflive_ctf_msg_type {
	CTFLIVE_CTF_MSG_EVENT = 1,
	CTFLIVE_CTF_MSG_DISCARDED_EVENTS,
	CTFLIVE_CTF_MSG_DISCARDED_PACKETS,
	CTFLIVE_CTF_MSG_PACKET_BEGIN,
	CTFLIVE_CTF_MSG_PACKET_END,
};

/*
 * One decoded message. Everything it points to is borrowed from the stream
 * and valid until the next ctflive_ctf_stream_next() on that stream. For
 * MSG_EVENT only type, has_time, ns, cycles and event are set (the other
 * members keep whatever they held, so a caller may reuse one struct).
 * Discarded items follow babeltrace2 (CTF 1.8 §5 packet context fields):
 * events = delta of the cumulative `events_discarded` counter between
 * consecutive packets, range [previous timestamp_end, this timestamp_end];
 * packets = `packet_seq_num` gap - 1, range [previous timestamp_end, this
 * timestamp_begin]. `count_known` is false for a first packet whose counter is
 * already non-zero ("may have discarded"). `lost_in_transit` is set for
 * packets reported missing by an index (offset all ones) rather than by the
 * tracer.
 */
struct ctflive_ctf_msg {
	enum ctflive_ctf_msg_type type;
	bool has_time;   /* stream has a clock: ns/cycles are valid */
	int64_t ns;      /* event time, packet begin/end time, or range begin */
	uint64_t cycles; /* same in clock cycles */
	const struct ctflive_ctf_event *event; /* MSG_EVENT only */
	uint64_t count;                        /* discarded items */
	bool count_known;
	bool has_range;
	bool lost_in_transit;
	int64_t begin_ns, end_ns;
	uint64_t begin_cycles, end_cycles;
};

/*
 * Creates a decoder for one data stream of trace `t`, reading through `src`
 * (copied; src->ctx borrowed). Errors: -EINVAL, -ENOMEM.
 */
CTFLIVE_API int ctflive_ctf_stream_new(struct ctflive_ctf_trace *t,
				       const struct ctflive_ctf_source *src,
				       struct ctflive_ctf_stream **ret);
CTFLIVE_API struct ctflive_ctf_stream *ctflive_ctf_stream_free(struct ctflive_ctf_stream *s);

/*
 * Decodes the next message. Returns 0 (*ret filled), CTFLIVE_CTF_END at the
 * clean end of the stream, -EAGAIN when the source needs more bytes (call
 * again later; nothing is lost), -EBADMSG on corrupt data (unknown event id,
 * field past the packet, bad magic, content_size > packet_size, ...),
 * -EMSGSIZE when the stream ends inside a packet, -E2BIG on a limit. After an
 * error other than -EAGAIN the stream is dead: further calls return the same
 * error. Messages decoded before an error stay valid and were returned
 * normally. reterr->offset is the byte offset in the stream.
 */
CTFLIVE_API int ctflive_ctf_stream_next(struct ctflive_ctf_stream *s, struct ctflive_ctf_msg *ret,
					struct ctflive_ctf_diag *reterr);

/*
 * Identity of the stream: the stream class id (CTF `stream_id`) and the
 * `stream_instance_id` of the last packet header (UINT64_MAX when absent).
 * Valid after the first message.
 */
CTFLIVE_API uint64_t ctflive_ctf_stream_class_id(const struct ctflive_ctf_stream *s);
CTFLIVE_API uint64_t ctflive_ctf_stream_instance_id(const struct ctflive_ctf_stream *s);

/*
 * Converts `cycles` of the default clock of stream class `stream_class_id`
 * of trace `t` to ns from the clock's origin (CTF 1.8 §8: offset_s, offset
 * and freq of the clock), as message times are computed. Used for times
 * that come from outside the data (live inactivity beacons, index entries).
 * Errors: -ENOENT when the metadata has no such stream class (yet) or the
 * stream class has no clock.
 */
CTFLIVE_API int ctflive_ctf_trace_clock_ns(const struct ctflive_ctf_trace *t,
					   uint64_t stream_class_id, uint64_t cycles,
					   int64_t *ret_ns);

/* The same for the stream class of `s` (known after its first message).
 * Errors: -ENOENT (no stream class yet, or no clock). */
CTFLIVE_API int ctflive_ctf_stream_clock_ns(const struct ctflive_ctf_stream *s, uint64_t cycles,
					    int64_t *ret_ns);

/*
 * Reads only the header and context of the first packet of `data` (a whole
 * stream file) to learn its stream class id, stream_instance_id (UINT64_MAX
 * if absent) and timestamp_begin in ns (*ret_has_begin false if absent).
 * Errors as for ctflive_ctf_stream_next().
 */
CTFLIVE_API int ctflive_ctf_peek_first_packet(struct ctflive_ctf_trace *t,
					      struct ctflive_bytes data,
					      uint64_t *ret_stream_class_id,
					      uint64_t *ret_instance_id, bool *ret_has_begin,
					      int64_t *ret_begin_ns);

/*
 * Labels owned by the caller and attached to a stream for printers and
 * warnings (borrowed pointers, must outlive the stream). A NULL trace_name
 * is a trace without a name, as babeltrace2's lttng-live source makes them:
 * the text output then prints no `trace` field and calls it "(unknown)" in
 * warnings. `stream_id` is the stream's ID in those warnings and in JSON.
 */
CTFLIVE_API void ctflive_ctf_stream_set_labels(struct ctflive_ctf_stream *s, const char *trace_name,
					       const char *stream_name, uint64_t stream_id);

/*
 * What JSON output calls the trace of `s` when it has no name (see
 * ctflive_ctf_stream_set_labels()); the live viewer gives the name the
 * trace has on disk, e.g. "myhost/ust/uid/1000/64-bit". Borrowed, must
 * outlive the stream.
 */
CTFLIVE_API void ctflive_ctf_stream_set_trace_path(struct ctflive_ctf_stream *s, const char *path);

/*
 * Records that the packet with `packet_seq_num` of this stream was lost in
 * transit (a relay index entry whose offset is all ones, DESIGN point 4)
 * rather than discarded by the tracer. The discarded-packets message of the
 * sequence gap that covers it then has `lost_in_transit` set (its count and
 * text output are unchanged: babeltrace2 reports such gaps as discarded
 * packets). A mark below the packet_seq_num of the stream's first packet
 * (packets lost before it, which no gap between two packets shows) makes
 * the decoder report those packets too, before that packet: one
 * discarded-packets message with `lost_in_transit` set, count the first
 * packet's packet_seq_num (LTTng numbers packets from 0), no time range.
 * At most 65536 pending marks. Errors: -E2BIG, -ENOMEM.
 */
CTFLIVE_API int ctflive_ctf_stream_mark_lost(struct ctflive_ctf_stream *s, uint64_t packet_seq_num);

/* Stream label given to ctflive_ctf_stream_set_labels(), or NULL. */
CTFLIVE_API const char *ctflive_ctf_stream_name(const struct ctflive_ctf_stream *s);

/* Event accessors (the event is borrowed from its stream). */
CTFLIVE_API const char *ctflive_ctf_event_name(const struct ctflive_ctf_event *e);
CTFLIVE_API uint64_t ctflive_ctf_event_class_id(const struct ctflive_ctf_event *e);
CTFLIVE_API const struct ctflive_ctf_stream *
ctflive_ctf_event_stream(const struct ctflive_ctf_event *e);
CTFLIVE_API const struct ctflive_ctf_trace *
ctflive_ctf_stream_trace(const struct ctflive_ctf_stream *s);

/* ---------------------------------------------------------------------- */
/* Printers                                                                */
/* ---------------------------------------------------------------------- */

enum ctflive_ctf_print_flags {
	/* babeltrace2 sink.text.pretty options */
	CTFLIVE_CTF_CLOCK_GMT = 1 << 0,
	CTFLIVE_CTF_CLOCK_SECONDS = 1 << 1,
	CTFLIVE_CTF_CLOCK_CYCLES = 1 << 2,
	CTFLIVE_CTF_CLOCK_DATE = 1 << 3,
	CTFLIVE_CTF_NO_DELTA = 1 << 4,
	CTFLIVE_CTF_NAMES_PAYLOAD = 1 << 5,
	CTFLIVE_CTF_NAMES_CONTEXT = 1 << 6,
	CTFLIVE_CTF_NAMES_SCOPE = 1 << 7,
	CTFLIVE_CTF_NAMES_HEADER = 1 << 8,
	CTFLIVE_CTF_FIELD_TRACE = 1 << 9,
	CTFLIVE_CTF_FIELD_HOSTNAME = 1 << 10,
	CTFLIVE_CTF_FIELD_DOMAIN = 1 << 11,
	CTFLIVE_CTF_FIELD_PROCNAME = 1 << 12,
	CTFLIVE_CTF_FIELD_VPID = 1 << 13,
	CTFLIVE_CTF_FIELD_LOGLEVEL = 1 << 14,
	CTFLIVE_CTF_FIELD_EMF = 1 << 15,
	/* output JSON Lines instead of text (schema in doc/ctf-json.md) */
	CTFLIVE_CTF_JSON = 1 << 16,
};

/* babeltrace2's defaults: payload and context names, hostname/procname/vpid. */
#define CTFLIVE_CTF_PRINT_DEFAULT                                                             \
	(CTFLIVE_CTF_NAMES_PAYLOAD | CTFLIVE_CTF_NAMES_CONTEXT | CTFLIVE_CTF_FIELD_HOSTNAME | \
	 CTFLIVE_CTF_FIELD_PROCNAME | CTFLIVE_CTF_FIELD_VPID)

struct ctflive_ctf_printer;

/* Creates a printer with `flags`. Errors: -ENOMEM. */
CTFLIVE_API int ctflive_ctf_printer_new(unsigned flags, struct ctflive_ctf_printer **ret);
CTFLIVE_API struct ctflive_ctf_printer *ctflive_ctf_printer_free(struct ctflive_ctf_printer *p);

/*
 * Appends one line for message `m` of stream `s` to the printer's buffer:
 * for events, babeltrace2's pretty text line (or a JSON object line); for
 * discarded events/packets, nothing in text mode (see printer_warning) and a
 * JSON record in JSON mode; packet messages are ignored. Returns 1 when
 * something was appended, 0 otherwise, -ENOMEM.
 */
CTFLIVE_API int ctflive_ctf_printer_msg(struct ctflive_ctf_printer *p,
					const struct ctflive_ctf_stream *s,
					const struct ctflive_ctf_msg *m);

/*
 * Formats babeltrace2's stderr warning for a discarded events/packets
 * message (`WARNING: Tracer discarded ...`, newline included) into the
 * printer's separate warning buffer. Returns 1 if formatted, 0 if `m` is not
 * a discard message, -ENOMEM.
 */
CTFLIVE_API int ctflive_ctf_printer_warning(struct ctflive_ctf_printer *p,
					    const struct ctflive_ctf_stream *s,
					    const struct ctflive_ctf_msg *m);

/*
 * Shifts every printed time by `ns` nanoseconds, like babeltrace2's
 * --clock-offset/--clock-offset-ns (deltas and cycle values unchanged).
 */
CTFLIVE_API void ctflive_ctf_printer_set_clock_offset(struct ctflive_ctf_printer *p, int64_t ns);

/* Buffered output (borrowed) and reset. `which` 0 = main output, 1 = warnings. */
CTFLIVE_API struct ctflive_bytes ctflive_ctf_printer_output(const struct ctflive_ctf_printer *p,
							    int which);
CTFLIVE_API void ctflive_ctf_printer_clear(struct ctflive_ctf_printer *p, int which);

#ifdef __cplusplus
}
#endif

#endif
