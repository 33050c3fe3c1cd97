/* SPDX-License-Identifier: MIT */
/*
 * Internal data structures of the CTF 1.8 decoder.
 *
 * Layers (each in its own file):
 *   tsdl-lex.c    TSDL tokens with line:column
 *   tsdl.c        recursive-descent parser producing the AST (tsdl.h)
 *   meta.c        AST -> trace model: trace, env, clock, stream and event
 *                 blocks (meta-types.c: types and symbol scopes)
 *   compile.c     every dynamic scope into a decode tree of `struct cl_node`
 *                 and a flat decode program (byte order, alignment, sequence
 *                 lengths and variant tags resolved once, at metadata time)
 *   trace.c       trace lifecycle, packetized metadata, the buffer source
 *   decode.c      streams, packets and events through the pull source
 *   fields.c      the fields of one scope (tree walk, program interpreter)
 *   text.c/json.c printers
 *   fsrc.c        trace directories: discovery, merging, stream grouping
 *   fsrc-frame.c  framing data files (.idx or headers), multi-file order
 *   merge.c       merging inputs by time (include/ctflive/merge.h)
 *
 * Memory: everything the metadata creates lives in the trace's arena and is
 * freed with the trace. Decoded values live in per-stream growable arrays
 * reused for every event: no allocation per event.
 */
#ifndef CL_CTF_INTERNAL_H
#define CL_CTF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/ctf.h"

/* Limits on what untrusted metadata and data may make us allocate. */
#define CL_TSDL_MAX_DEPTH 64          /* nesting of types/blocks */
#define CL_TSDL_MAX_TEXT  (64u << 20) /* metadata text bytes */
#define CL_MAX_VALUES     (1u << 22)  /* decoded values per scope */
#define CL_MAX_EVENT_IDS  (1u << 20)  /* dense event-id table */

/* ---- arena ------------------------------------------------------------ */

struct cl_arena_chunk;
struct cl_arena {
	struct cl_arena_chunk *head; /* owned list */
	size_t used_total;
};

void *cl_arena_alloc(struct cl_arena *a, size_t size);
char *cl_arena_strndup(struct cl_arena *a, const char *s, size_t n);
char *cl_arena_strdup(struct cl_arena *a, const char *s);
void cl_arena_release(struct cl_arena *a);

/* ---- model ------------------------------------------------------------ */

enum cl_kind {
	CL_K_INT = 1,
	CL_K_ENUM,
	CL_K_FLOAT,
	CL_K_STRING,
	CL_K_STRUCT,
	CL_K_VARIANT,
	CL_K_ARRAY,
	CL_K_SEQ,
	CL_K_OPT, /* CTF 2 optional: elem, present when the selector says so */
};

enum cl_bo { CL_BO_NATIVE = 0, CL_BO_LE, CL_BO_BE };

enum cl_meaning {
	CL_M_NONE = 0,
	CL_M_MAGIC,
	CL_M_UUID,
	CL_M_STREAM_ID,
	CL_M_STREAM_INSTANCE_ID,
	CL_M_TS_BEGIN,
	CL_M_TS_END,
	CL_M_CONTENT_SIZE,
	CL_M_PACKET_SIZE,
	CL_M_EVENTS_DISCARDED,
	CL_M_PACKET_SEQ_NUM,
	CL_M_EVENT_ID,
	CL_M_TIMESTAMP,
	CL_M_COUNT,
};

struct cl_clock {
	const char *name;
	const char *id;       /* CTF 2 clock class id, NULL for TSDL */
	const char *uuid_str; /* may be NULL */
	const char *description;
	uint64_t freq;
	int64_t offset_s;
	uint64_t offset; /* cycles, normalized: < freq */
	uint64_t precision;
	bool absolute;
	int64_t base_ns; /* offset_s * 1e9 + ns(offset) */
	struct cl_clock *next;
};

struct cl_enum_map {
	const char *label; /* NULL: unnamed CTF 2 variant option */
	uint64_t lo, hi;   /* as signed when the container is signed */
	int32_t opt;       /* CTF 2 variant selector ranges: option index */
};

/* CTF 2 string encodings (cl_type.enc, cl_node.enc): code unit size in
 * bytes, with CL_ENC_BE for big-endian UTF-16/UTF-32; 0 is UTF-8. */
enum { CL_ENC_UTF8 = 0, CL_ENC_UNIT = 7, CL_ENC_BE = 8 };

/* CTF 2 field location (CTF2-SPEC-2.0), made absolute when the metadata
 * is read: the names of the structure members from the root of scope
 * `origin` (an enum scope_id of meta.h). Arrays, optionals and variants on
 * the way are crossed without a name: the current element or option when
 * the requesting field is inside them, every option of a variant that is
 * not. Names are any text ('.' and "" included). */
struct cl_floc {
	uint8_t origin;
	uint32_t n;
	const char **items;
};

/* Declared type (shared, immutable once built). */
struct cl_type {
	enum cl_kind kind;
	uint32_t align; /* bits; for struct: declared align() */
	/* int, enum (container), float */
	uint32_t size; /* bits */
	bool is_signed;
	enum cl_bo bo;
	uint8_t base;
	bool text; /* encoding UTF8/ASCII */
	struct cl_clock *clock;
	/* enum */
	struct cl_enum_map *maps;
	uint32_t nmaps;
	/* struct, variant */
	struct cl_tfield *fields;
	uint32_t nfields;
	const char *tag; /* variant tag path, NULL until given */
	/* CTF 2 variant: option ranges as mappings labelled with option names
	 * (selector may be any integer), NULL for TSDL */
	struct cl_type *sel;
	/* array, seq */
	struct cl_type *elem;
	uint64_t length;
	const char *length_path;
	/* CTF 2 (instead of tag / length_path): the location of the length
	 * (dynamic-length array, string, BLOB) or of the selector (variant,
	 * optional); NULL in an alias built on its own, never compiled */
	const struct cl_floc *loc;
	uint8_t role;           /* CTF 2: CL_M_* meaning from the field's roles (0: by name) */
	bool bitmap;            /* CTF 2 bit map: enum whose maps are bit index ranges, by label */
	bool boolean;           /* CTF 2 fixed-length boolean: an integer printed true/false */
	bool varint;            /* CTF 2 LEB128 integer (size 64 for printing) */
	bool blob;              /* CTF 2 BLOB: byte array/sequence printed as hex bytes */
	uint8_t enc;            /* string, text array/sequence: CL_ENC_* */
	const char *media_type; /* BLOB */
	/* enum: the first mapping of each label, in babeltrace2 2.1's print
	 * order (cl_enum_label_order()); NULL until computed */
	uint32_t *lorder;
	uint32_t nlorder;
	int line, col;
};

struct cl_tfield {
	const char *name;
	struct cl_type *type;
};

/* Compiled decode node. */
enum cl_node_flags {
	CL_N_SIGNED = 1 << 0,
	CL_N_TEXT = 1 << 1,       /* text array/sequence */
	CL_N_PRINT = 1 << 2,      /* reaches the printers */
	CL_N_CLOCK = 1 << 3,      /* updates the stream clock */
	CL_N_EMPTY_ORIG = 1 << 4, /* struct declared empty (kept when printing) */
	CL_N_BITMAP = 1 << 5,     /* CTF 2 bit map (type->maps: bit ranges) */
	CL_N_BOOL = 1 << 6,       /* CTF 2 boolean */
	CL_N_VARINT = 1 << 7,     /* CTF 2 LEB128 integer */
	CL_N_BLOB = 1 << 8,       /* CTF 2 BLOB (with CL_N_TEXT: one value, the bytes) */
	CL_N_MULTI_SEL = 1 << 9,  /* CTF 2 variant: selector located in several options */
};

struct cl_node {
	uint8_t kind;
	uint8_t bo;
	uint8_t base;
	uint8_t meaning;
	uint16_t flags;
	uint8_t fast;          /* CL_FAST_*: byte-aligned integer load */
	uint8_t side;          /* has reg, meaning or clock: slow bookkeeping */
	uint16_t size;         /* bits */
	uint8_t enc;           /* strings, text arrays: CL_ENC_* */
	uint32_t align;        /* bits */
	uint32_t reg;          /* 0 = value not kept in a register */
	uint32_t reg2;         /* CTF 2: a second register (with reg), decoded by node */
	const char *name;      /* printed name (one '_' stripped) */
	const char *orig_name; /* as declared */
	const struct cl_type *type;
	struct cl_node **kids;
	uint32_t nkids;
	uint32_t ref_reg;          /* sequence length / variant tag register */
	const struct cl_node *tag; /* variant: the enum node; optional: the selector */
	int32_t *opt_of_map;       /* variant: option index for each enum mapping */
	struct cl_node *elem;      /* array/seq, optional */
	uint64_t length;           /* array */
	uint32_t nvals;            /* values it produces, CL_NVALS_VAR if variable */
	const char *sep;           /* ", <name> = " (printers: +1 for the first field) */
	const char *jkey;          /* JSON key: \"<name>\": */
	size_t jkey_len;
	size_t sep_len;
	struct cl_op *prog;         /* scope roots: flat decode program */
	struct cl_op *prog_generic; /* same without fused ops (error paths) */
	uint32_t *opt_pc;           /* variants in a program: start of each option */
};

/*
 * Flat decode program of a scope: structures are flattened into a linear
 * list of field loads, variants become indirect jumps; only arrays and
 * sequences of non-text elements fall back to the recursive decoder.
 */
enum cl_opcode {
	CL_OP_END = 0,
	CL_OP_ALIGN,
	CL_OP_FAST_INT, /* byte-aligned integer with side effects or sign */
	CL_OP_NODE,
	CL_OP_VARIANT,
	CL_OP_JMP,
	CL_OP_TEXT_SEQ, /* text sequence (length from a register) */
	CL_OP_U8,       /* plain unsigned byte-aligned loads, no side effects */
	CL_OP_LE16,
	CL_OP_LE32,
	CL_OP_LE64,
	CL_OP_LTTNG_LARGE,   /* whole LTTng event_header_large (fused) */
	CL_OP_LTTNG_COMPACT, /* whole LTTng event_header_compact (fused) */
	CL_OP_EVHDR_END,     /* end of an event header: chain to the payload */
};

struct cl_op {
	uint8_t code;
	uint8_t fast;    /* integer ops: copy of the node's fields, so the hot */
	uint8_t meaning; /* loop does not chase the node pointer */
	uint8_t flags;   /* CL_OPF_* */
	uint16_t size;
	uint32_t arg; /* alignment (bits) or jump target */
	uint32_t reg;
	const struct cl_node *n;
};

/* CL_OPF_CLOCK_EXT: fused LTTng header, the extended timestamp maps to a
 * clock (CL_OPF_CLOCK is then the compact one) */
enum { CL_OPF_SIGNED = 1, CL_OPF_CLOCK = 2, CL_OPF_SIDE = 4, CL_OPF_CLOCK_EXT = 8 };

#define CL_NVALS_VAR UINT32_MAX

enum cl_fast {
	CL_FAST_NONE = 0,
	CL_FAST_U8,
	CL_FAST_LE16,
	CL_FAST_LE32,
	CL_FAST_LE64,
	CL_FAST_BE16,
	CL_FAST_BE32,
	CL_FAST_BE64
};

struct cl_event_class {
	uint64_t id;
	uint64_t stream_id;
	const char *name;
	size_t name_len;
	int loglevel; /* -1 none */
	const char *emf_uri;
	struct cl_node *ctx;    /* may be NULL */
	struct cl_node *fields; /* may be NULL */
	bool ctx_printed, fields_printed;
	struct cl_event_class *next_in_list;
};

struct cl_stream_class {
	uint64_t id;
	struct cl_node *pkt_ctx, *ev_hdr, *ev_ctx;
	bool pkt_ctx_printed, ev_ctx_printed;
	struct cl_clock *clock; /* default clock or NULL */
	bool has_disc_events, has_seq_num, has_ts_begin_end;
	struct cl_event_class **by_id; /* dense, nby_id entries */
	uint64_t nby_id;
	struct cl_event_class *sparse; /* ids >= CL_MAX_EVENT_IDS */
	uint64_t nevents;
	struct cl_stream_class *next;
};

struct cl_env {
	const char *key;
	bool is_int;
	int64_t ival;
	const char *sval;
	struct cl_env *next;
};

struct cl_diag_list {
	struct ctflive_ctf_diag *items; /* owned (malloc) */
	size_t n, cap;
};

struct tsdl_parser;

struct ctflive_ctf_trace {
	struct cl_arena arena;
	/* metadata text accumulated (owned malloc buffer) */
	char *text;
	size_t text_len, text_cap;
	size_t committed; /* bytes fully parsed */
	int committed_line, committed_col;
	struct tsdl_parser *parser; /* owned */
	/* packetized metadata reassembly */
	int packetized; /* -1 unknown, 0 text, 1 packets */
	bool pk_be;
	uint8_t *pk_buf;
	size_t pk_len, pk_cap;
	bool have_pk_uuid;
	uint8_t pk_uuid[16];

	/* model */
	bool have_trace;
	enum cl_bo bo;
	bool have_bo;
	uint64_t major, minor;
	bool has_uuid;
	uint8_t uuid[16];
	char uuid_str[37];
	struct cl_node *pkt_hdr;
	struct cl_env *env;
	struct cl_clock *clocks;
	uint32_t nclocks;
	struct cl_stream_class *streams;
	uint32_t nregs;
	bool is_lttng;
	struct cl_diag_list warnings;
	const char *hostname, *procname, *domain;
	bool has_vpid;
	int64_t vpid;
	/* root-scope declarations of the semantic pass */
	struct sym *root_syms;
	/* CTF 2 (JSON text sequence metadata, ctf2-meta.c) */
	bool ctf2;
	bool ctf2_preamble;
	const char *ctf2_uid; /* trace class "uid", NULL if none */
	int ctf2_nfrags;      /* fragments applied */
	uint32_t ctf2_nfc;    /* field classes built (limited) */
	struct cl_ctf2_alias *ctf2_aliases;
	/* pending AST of non-trace blocks waiting for the trace block */
	struct ast_top *pending, **pending_tail;
};

/* ctf2-meta.c: parses the complete fragments of t->text past t->committed
 * (CTF 2 metadata, RFC 7464 JSON text sequence) into the model. With
 * `final`, an incomplete last fragment is an error. Errors: -EBADMSG,
 * -ENOTSUP (feature not supported yet; the fragment is named), -E2BIG,
 * -ENOMEM, all with reterr. */
int cl_ctf2_parse_more(struct ctflive_ctf_trace *t, bool final, struct ctflive_ctf_diag *reterr);
/* Releases what the CTF 2 front end keeps outside the arena. */
void cl_ctf2_release(struct ctflive_ctf_trace *t);

/* meta-types.c: computes t->lorder (see struct cl_type) from t->maps:
 * babeltrace2 2.1's order of the labels, reversed for CTF 2. -ENOMEM. */
int cl_enum_label_order(struct cl_arena *a, struct cl_type *t, bool reverse);

/* meta.c */
int cl_meta_process(struct ctflive_ctf_trace *t, struct ast_top *list, bool final,
		    struct ctflive_ctf_diag *reterr);
struct cl_stream_class *cl_trace_stream_class(const struct ctflive_ctf_trace *t, uint64_t id);
struct cl_event_class *cl_stream_class_event(const struct cl_stream_class *sc, uint64_t id);
/* The event class of a stream class that has exactly one, else NULL. */
struct cl_event_class *cl_stream_class_only_event(const struct cl_stream_class *sc);
int cl_diag_add(struct cl_diag_list *l, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void cl_diag_set(struct ctflive_ctf_diag *d, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int64_t cl_clock_ns(const struct cl_clock *c, uint64_t cycles);

/* ---- decoded values ----------------------------------------------------- */

struct cl_val {
	union {
		uint64_t u;
		int64_t i;
		double d;
	};
	const uint8_t *p; /* string/text bytes (borrowed from the packet) */
	uint64_t n;       /* string length, sequence length, variant option */
};

struct cl_vals {
	struct cl_val *v; /* owned */
	size_t n, cap;
};

struct ctflive_ctf_event {
	const struct cl_event_class *ec;
	const struct ctflive_ctf_stream *s;
	uint64_t cycles;
	int64_t ns;
};

enum cl_scope_vals { CL_V_PHDR, CL_V_PCTX, CL_V_EHDR, CL_V_SCTX, CL_V_ECTX, CL_V_PAY, CL_V_COUNT };

struct ctflive_ctf_stream {
	struct ctflive_ctf_trace *t; /* borrowed */
	struct ctflive_ctf_source src;
	const char *trace_name, *stream_name; /* borrowed labels */
	const char *trace_path;               /* borrowed: JSON name of an unnamed trace */
	uint64_t stream_id;
	int err; /* sticky error */
	struct ctflive_ctf_diag errdiag;
	uint64_t stream_off; /* bytes consumed before the current packet */
	/* current packet */
	bool in_packet, end_sent;
	const uint8_t *pkt;
	size_t pkt_bytes;
	uint64_t content_bits, packet_bits, pos;
	size_t want; /* pending request size while reading a packet header */
	struct cl_stream_class *sc;
	uint64_t sc_id, instance_id;
	uint64_t clock;
	uint64_t *regs; /* owned, nregs + 1 */
	uint32_t nregs;
	size_t regs_cap;
	uint64_t mv[CL_M_COUNT];
	uint32_t mset;
	struct cl_vals vals[CL_V_COUNT];
	/* previous packet, for discarded items */
	uint64_t npackets;
	uint64_t prev_ts_end, prev_disc, prev_seq;
	uint64_t cur_ts_begin, cur_ts_end, cur_disc, cur_seq;
	/* queued messages */
	struct ctflive_ctf_msg q[4];
	int qn, qi;
	struct ctflive_ctf_event ev;
	/* text printer cache of the current packet's context (owned) */
	char *pc_text;
	size_t pc_len, pc_cap;
	uint64_t pc_pkt;
	const void *pc_owner;
	unsigned pc_flags;
	/* packet_seq_num values reported lost in transit (owned) */
	uint64_t *lost;
	size_t nlost, lost_cap;
	/* JSON printer cache of the stream identity members (owned) */
	char *jid_text;
	size_t jid_len;
	const void *jid_owner;
};

/*
 * babeltrace2's order between two streams whose next messages have equal
 * times (ctf-decoding.md §3.8): traces by UUID presence, UUID, then name;
 * then stream class id and stream id. <0, 0 or >0. Used by the merger
 * (merge.c), the one place that orders messages.
 */
int cl_ctf_stream_order(const struct ctflive_ctf_stream *a, const struct ctflive_ctf_stream *b);
/* The same, then for distinct streams that compare equal, the messages as
 * babeltrace2 compares them (type, then event class id, name, log level,
 * EMF URI). <0: `a` goes first. */
int cl_ctf_msg_order(const struct ctflive_ctf_stream *sa, const struct ctflive_ctf_msg *a,
		     const struct ctflive_ctf_stream *sb, const struct ctflive_ctf_msg *b);

/*
 * The merge rule of merge.c (every source: trace directories, live, follow)
 * applied to two candidate messages: *ret_key is the time `m` sorts at (its
 * own, or `last_ns`, the time of the last message returned, when it has
 * none); true if it goes before `best` of `bs` (sorting at `best_key`),
 * or if there is no best yet (bs NULL).
 */
bool cl_ctf_goes_first(const struct ctflive_ctf_stream *s, const struct ctflive_ctf_msg *m,
		       int64_t last_ns, int64_t *ret_key, const struct ctflive_ctf_stream *bs,
		       const struct ctflive_ctf_msg *best, int64_t best_key);

/* One packet of a stream file, as cl_ctf_scan_packets() finds it. */
struct cl_packet_info {
	size_t offset, size;   /* bytes, in the file */
	uint64_t sc_id;        /* stream class id */
	uint64_t instance_id;  /* stream_instance_id, UINT64_MAX if absent */
	bool has_begin;        /* timestamp_begin present and mapped to a clock */
	uint64_t begin, end;   /* timestamp_begin/_end in cycles (0 if absent) */
	int64_t begin_ns;      /* timestamp_begin in ns from origin, INT64_MIN if none */
	uint64_t seq;          /* packet_seq_num, UINT64_MAX if absent */
	uint64_t content_bits; /* content size, bits */
	uint64_t discarded;    /* events_discarded, 0 if absent */
};

/*
 * Walks the packet headers and contexts of a whole stream file (`len`
 * bytes at `data`, borrowed) and calls `fn` for each packet in file order;
 * a negative return from `fn` stops the walk and is returned, a positive
 * one stops it with success. Reads only
 * headers and contexts, and checks what frames the packets as the decoder
 * does: -EBADMSG for a bad header or inconsistent sizes, -EMSGSIZE for a
 * packet longer than the rest of the file (reterr has the byte offset and a
 * message). This is what babeltrace2 checks before it prints anything.
 */
int cl_ctf_scan_packets(struct ctflive_ctf_trace *t, const uint8_t *data, size_t len,
			int (*fn)(void *ctx, const struct cl_packet_info *p), void *ctx,
			struct ctflive_ctf_diag *reterr);

#endif
