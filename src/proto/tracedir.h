/* SPDX-License-Identifier: MIT */
/*
 * Names and constants of the trace-directory contract (doc/file-formats.md)
 * other than the index format (ctf-index.h) and the lock protocol
 * (file-locks.h): one definition each, for the relay that writes trace
 * directories and for the readers (follow, the offline decoder).
 */
#ifndef CL_PROTO_TRACEDIR_H
#define CL_PROTO_TRACEDIR_H

/*
 * The session marker in a session directory (doc/file-formats.md §4) and
 * its states: the marker holds one of them followed by a newline.
 */
#define CL_SESSION_MARKER_NAME ".ctflive-session"
#define CL_MARKER_ACTIVE       "active"
#define CL_MARKER_COMPLETE     "complete"
#define CL_MARKER_INTERRUPTED  "interrupted"
#define CL_MARKER_RECOVERED    "recovered"

/*
 * Packetized CTF 1.8 metadata: each packet starts with a 37-byte header
 * (magic, uuid[16], checksum, content_size, packet_size, compression,
 * encryption, checksum scheme, major, minor) in the trace's byte order;
 * sizes in bits.
 */
#define CL_METADATA_MAGIC            0x75D11D57u
#define CL_METADATA_HEADER_SIZE      37u /* bytes */
#define CL_METADATA_OFF_CHECKSUM     20u
#define CL_METADATA_OFF_CONTENT_SIZE 24u
#define CL_METADATA_OFF_PACKET_SIZE  28u
#define CL_METADATA_OFF_COMPRESSION  32u
#define CL_METADATA_OFF_MAJOR        35u
#define CL_METADATA_OFF_MINOR        36u

#endif
