/* SPDX-License-Identifier: MIT */
/*
 * Session markers and crash recovery (doc/file-formats.md §4, §5): the
 * relay's bookkeeping of the `.ctflive-session` marker of each session
 * directory (shared by the sessions written into one directory), and the
 * recovery of directories left "active" by a relay that died. The lock
 * protocol itself is src/proto/file-locks.h. All functions return 0 or a
 * negative errno.
 */
#ifndef CL_RELAYD_MARKER_H
#define CL_RELAYD_MARKER_H

struct relay;
struct session;

/* Takes (or shares) the marker of session `s`'s directory. */
int marker_acquire(struct relay *relay, struct session *s);
/* Drops `s`'s reference; the last one writes `complete` (if `complete`) and unlocks. */
void marker_release(struct relay *relay, struct session *s, int complete);

/* Recovers every session under the output directory whose relay died. */
void recover_output(struct relay *relay);

#endif
