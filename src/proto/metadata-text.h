/* SPDX-License-Identifier: MIT */
/*
 * Where a metadata stream sent as text can be cut without breaking it.
 *
 * LTTng 2.14 and later send metadata as plain text, not in 0x75D11D57
 * packets: TSDL for CTF 1.8, an RFC 7464 JSON text sequence for CTF 2
 * (every fragment is RS (0x1E), one JSON object, then usually a newline;
 * CTF2-SPEC-2.0 §5). A relay killed while receiving metadata may leave an
 * incomplete declaration or fragment at the end of the file; crash
 * recovery (doc/file-formats.md §5) cuts it so that the file parses again.
 * A data packet never needs such a tail: a tracer sends the metadata that
 * describes a packet, complete, before the packet.
 *
 * Pure functions over a byte buffer; no I/O.
 */
#ifndef CL_PROTO_METADATA_TEXT_H
#define CL_PROTO_METADATA_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The first byte of a CTF 2 metadata stream (RFC 7464 record separator). */
#define CL_METADATA_JSON_RS 0x1Eu

/*
 * Length of the longest prefix of `text` (len bytes, a metadata stream that
 * starts at its beginning) made only of complete units, trailing blanks
 * after the last one included:
 *   - JSON text sequence (text[0] == 0x1E): complete fragments, that is
 *     RS followed by a JSON value whose braces and brackets (outside
 *     strings, with backslash escapes) are balanced;
 *   - TSDL otherwise: complete top-level statements, each ending with ';'
 *     at brace depth 0 outside comments (C and C++ style), string and
 *     character literals.
 * Returns len when the whole text is complete (nothing to cut), 0 when no
 * unit is complete. Never reads past text[len - 1].
 */
size_t cl_metadata_text_complete_len(const uint8_t *text, size_t len);

#endif
