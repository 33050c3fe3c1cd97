/* SPDX-License-Identifier: MIT */
/*
 * Names ctflive uses on NATS JetStream (doc/nats.md is the contract):
 * subject tokens, subject prefixes, JetStream stream names and the message
 * header keys. Shared by the relay's publisher and the `ctflive` reader.
 *
 * NATS subjects are tokens separated by '.'; a token cannot contain '.',
 * '*', '>' or white space. JetStream stream names cannot contain those nor
 * path separators. Both are made from peer-controlled host and session names
 * here, so every function bounds its output and escapes what is not allowed.
 */
#ifndef CL_NATS_NAMES_H
#define CL_NATS_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Header keys (values are decimal unless said otherwise). */
#define CL_NATS_H_SEQ        "Ctflive-Seq"           /* per-session message number, from 1 */
#define CL_NATS_H_PART       "Ctflive-Part"          /* "K/N": part K (from 1) of N */
#define CL_NATS_H_ENTRY_SIZE "Ctflive-Entry-Size"    /* bytes of index entry before the packet */
#define CL_NATS_H_OFFSET     "Ctflive-Offset"        /* metadata: byte offset in the metadata */
#define CL_NATS_H_EPOCH      "Ctflive-Epoch"         /* metadata: file generation (reset) */
#define CL_NATS_H_TS_END     "Ctflive-Timestamp-End" /* beacon: clock cycles */
#define CL_NATS_H_MSG_ID     "Nats-Msg-Id"           /* JetStream de-duplication */

/* A JetStream stream's description: this, then the session's subject prefix. */
#define CL_NATS_DESC_PREFIX         "ctflive/1 "
/* With retention limits, a session's packets and beacons are in a second
 * JetStream stream: the session stream's name with this suffix, described
 * as CL_NATS_PACKETS_DESC_PREFIX then the subject prefix (doc/nats.md). */
#define CL_NATS_PACKETS_SUFFIX      "_P"
#define CL_NATS_PACKETS_DESC_PREFIX "ctflive/1-packets "

/* Longest subject prefix, stream name and token made here, with the NUL. */
#define CL_NATS_TOKEN_MAX  (3 * 255 + 1)
#define CL_NATS_PREFIX_MAX (8 + 3 * CL_NATS_TOKEN_MAX + 24)
#define CL_NATS_NAME_MAX   128

/*
 * Escapes `in` as one subject token into `out` (`cap` bytes): ASCII letters,
 * digits, '-' and '_' are kept, every other byte is "~XX" (upper-case hex),
 * so the mapping is one to one. An empty input is "~". -ENAMETOOLONG when
 * it does not fit, else the length.
 */
int cl_nats_token(const char *in, char *out, size_t cap);

/* Reverses cl_nats_token(); -EINVAL on a malformed token, else the length. */
int cl_nats_untoken(const char *in, char *out, size_t cap);

/*
 * The subject prefix of one relay session:
 * "ctflive.<host>.<session>.<relay>.<session id>" (tokens escaped).
 * -ENAMETOOLONG when it does not fit in `cap`, else the length.
 */
int cl_nats_prefix(const char *host, const char *session, const char *relay, uint64_t sid,
		   char *out, size_t cap);

/*
 * Splits a subject prefix made by cl_nats_prefix() into its names (each
 * buffer `cap` bytes, unescaped) and session id. -EINVAL when it is not one.
 */
int cl_nats_prefix_parse(const char *prefix, char *host, char *session, char *relay, size_t cap,
			 uint64_t *sid);

/*
 * The JetStream stream name of one relay session: "CTFLIVE_" + host and
 * session names cut to 24 and 40 bytes, characters other than letters,
 * digits and '-' as '-', then '_' and 16 hex digits of a 64-bit FNV-1a hash
 * of host, session, relay id and session id (what makes it unique; the rest
 * is for people). `out` holds CL_NATS_NAME_MAX bytes.
 */
void cl_nats_stream_name(const char *host, const char *session, const char *relay, uint64_t sid,
			 char out[CL_NATS_NAME_MAX]);

#endif
