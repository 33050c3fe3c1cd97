/* SPDX-License-Identifier: MIT */
/*
 * File-system helpers that keep every operation beneath a directory file
 * descriptor. Names sent by peers are validated here: a relay must never
 * create or write anything outside its output directory, whatever a session
 * daemon or consumer sends (relayd-protocol.md §10.4 lists how lttng-relayd
 * 2.13 fails at this).
 *
 * All functions return 0 or a negative errno (-EINVAL for a rejected name).
 */
#ifndef CL_RELAYD_FSUTIL_H
#define CL_RELAYD_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CL_DIR_MODE 0770 /* before umask, as lttng-relayd (files: file-locks.h) */

/*
 * True if `name` is acceptable as a single path component: non-empty, at most
 * 255 bytes, no '/', does not start with '.' (which also rules out "." and
 * "..").
 */
bool cl_is_safe_component(const char *name);

/*
 * Checks and normalises a relative path sent by a peer into `out` (capacity
 * `cap` bytes): one leading '/' is stripped when `strip_leading_slash`, empty
 * components ("a//b") are collapsed, every other component must pass
 * cl_is_safe_component(). An empty result is accepted only if `allow_empty`.
 * Errors: -EINVAL (rejected), -ENAMETOOLONG (does not fit in cap).
 */
int cl_normalize_relpath(const char *path, bool strip_leading_slash, bool allow_empty, char *out,
			 size_t cap);

/*
 * Creates (like mkdir -p) the normalised relative path `rel` beneath
 * `dirfd`, never following symbolic links, and returns an O_PATH directory
 * descriptor of the result in *ret_fd (owned by the caller). `rel` may be
 * "" (returns a new descriptor of dirfd itself).
 */
int cl_mkdir_beneath(int dirfd, const char *rel, int *ret_fd);

/* Opens directory `rel` (normalised) beneath dirfd without following links. */
int cl_open_dir_beneath(int dirfd, const char *rel, int *ret_fd);

/* Removes `name` (a file or a whole directory tree) beneath dirfd; links
 * are removed, never followed. A missing name is not an error. */
int cl_remove_tree(int dirfd, const char *name);

/*
 * Moves every entry of directory `from` (beneath dirfd, may be "" for dirfd
 * itself) whose name is listed in `names` (n entries) into directory `to`
 * (created if needed). Used to move a trace chunk rooted at a session
 * directory.
 */
int cl_move_entries(int dirfd, const char *from, const char *to, char *const *names, size_t n);

/* Formats a time in the relay's local time zone with strftime `fmt`. */
int cl_format_time(uint64_t epoch_seconds, const char *fmt, char *out, size_t cap);

/* asprintf() that returns the string, or NULL when out of memory. */
char *cl_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
