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

/*
 * Chooses the directory of new session `s` (protocol 2.11 and later) from
 * `path` (relative to the output directory, as lttng-relayd names it) and
 * creates it: sets s->output_path (owned) and s->dir_fd (O_PATH). A
 * directory is never handed to two tracing sessions: when `path` belongs to
 * another session of this relay (another sessiond UUID or session id), or
 * exists and is not empty (another relay's, an earlier run's), the next free
 * "<path>-<n>" is used and a notice names it. Sessions of one tracing
 * session (its consumer daemons, its snapshot records) share one directory.
 * The last component is cut on a UTF-8 character boundary to fit in 255
 * bytes. -EEXIST when no candidate is free, or the errno of mkdir/open.
 */
int marker_claim_dir(struct relay *relay, struct session *s, const char *path);

/* Takes (or shares) the marker of session `s`'s directory. */
int marker_acquire(struct relay *relay, struct session *s);
/* Drops `s`'s reference; the last one writes `complete` (if `complete`) and unlocks. */
void marker_release(struct relay *relay, struct session *s, int complete);

/*
 * Takes the relay's lock on its output directory (flock(LOCK_EX), held
 * until the process exits, inherited by --background's child), so that a
 * second ctflive-relayd on the same directory refuses to start instead of
 * writing sessions over the first one's; and checks that the directory is
 * writable. `dirfd` is the output directory (any descriptor, O_PATH too),
 * `shown` its name for the log. 0, -EBUSY (another relay holds it), -EROFS
 * or -EACCES (not writable), or -errno; each error is logged.
 */
int marker_lock_output(int dirfd, const char *shown);

/* Frees the markers remembered (shutdown, after every session is freed). */
void marker_free_all(struct relay *relay);

/* Recovers every session under the output directory whose relay died. */
void recover_output(struct relay *relay);

#endif
