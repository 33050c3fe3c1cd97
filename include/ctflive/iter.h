/* SPDX-License-Identifier: MIT */
/*
 * libctflive: one iterator over the messages of any source, in time order.
 *
 * Sources:
 *   trace directories  ctflive_iter_open_dirs(): finished CTF traces read
 *                      from disk (<ctflive/ctf-fs.h>, babeltrace2's
 *                      src.ctf.fs); never -EAGAIN;
 *   live relay         ctflive_iter_open_live(): a session served over the
 *                      LTTng live protocol (<ctflive/live.h>, babeltrace2's
 *                      src.ctf.lttng-live);
 *   followed directory ctflive_iter_open_follow(): a session directory read
 *                      while ctflive-relayd writes it (<ctflive/follow.h>).
 * Every source merges its streams with the one merger of
 * <ctflive/merge.h>, so ordering, ties, inactivity bounds, the lost-packet
 * reports and the monotonic check are the same for all three.
 *
 * Events older than one already returned: every source stops with
 * -EBADMSG (ctflive_iter_error() says "earlier than the previous event's"),
 * as babeltrace2's muxer and its lttng-live source do. Nothing printed
 * before is taken back; time never goes backwards in the output.
 *
 * Errors and warnings use one convention, struct ctflive_diag: the file,
 * directory, stream or URL concerned (`where`), a metadata position or a
 * byte offset in it when known, and a message. ctflive_diag_format() gives
 * the line to show the user. Warnings (metadata warnings, directories
 * skipped, files replaced before they could be read, a session that did not
 * end normally) are queued by the source; ctflive_iter_next() returns
 * CTFLIVE_ITER_WARNING while one is waiting, in order with the messages.
 * Discarded events and packets are messages, not warnings
 * (ctflive_ctf_printer_warning() formats babeltrace2's text for them).
 *
 * Conventions as in <ctflive/ctf.h>: negative errno on failure, `ret*`
 * written only on success, the library never prints or logs. Not
 * thread-safe.
 */
#ifndef CTFLIVE_ITER_H
#define CTFLIVE_ITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/export.h"

#include "ctflive/ctf.h"
#include "ctflive/follow.h"
#include "ctflive/live.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An error or warning of a source. */
struct ctflive_diag {
	char where[4096]; /* file, directory, stream or URL; "" when none */
	int line, col;    /* 1-based position in a metadata file, 0 when none */
	uint64_t offset;  /* byte offset in the file `where`, UINT64_MAX when none */
	char msg[768];    /* one line, no trailing newline */
};

/*
 * Formats `d` as "WHERE:LINE:COL: MSG", "WHERE: offset N: MSG", "WHERE: MSG"
 * or "MSG" (the parts that are known) into `buf` (`len` bytes,
 * NUL-terminated, truncated if needed). Returns `buf`.
 */
CTFLIVE_API char *ctflive_diag_format(const struct ctflive_diag *d, char *buf, size_t len);

/* Returned by ctflive_iter_next() when a warning waits (see above). */
#define CTFLIVE_ITER_WARNING 2

/* Default wait of ctflive_iter_wait(). */
#define CTFLIVE_ITER_WAIT_DEFAULT (-1)

struct ctflive_iter;

/*
 * Opens every trace below the `n` directories `paths` (ctflive_ctf_fs_open()).
 * Its warnings (unreadable directories, metadata warnings) are queued. On
 * failure *reterr (may be NULL) says what and where. Errors: those of
 * ctflive_ctf_fs_open(), -ENOMEM.
 */
CTFLIVE_API int ctflive_iter_open_dirs(const char *const *paths, size_t n,
				       struct ctflive_iter **ret, struct ctflive_diag *reterr);

/*
 * Connects to the relay of `url` (which must name a session), attaches
 * with `seek` and reads every stream of the session until it ends.
 * `timeout_ms` bounds every wait for the relay (<= 0: 30 s). Errors: those
 * of ctflive_live_client_connect() and ctflive_live_client_attach()
 * (-EINVAL when `url` names no session), with *reterr.
 */
CTFLIVE_API int ctflive_iter_open_live(const struct ctflive_live_url *url,
				       enum ctflive_live_seek seek, int timeout_ms,
				       struct ctflive_iter **ret, struct ctflive_diag *reterr);

/*
 * As ctflive_iter_open_live(), for a session served by any of the `n`
 * relays `urls` (ctflive_live_url_parse_list(); urls[0] names the session):
 * connects to the first that serves it and, with `reconnect_ms` > 0, lets
 * the view go on with another (or the same) when the connection is lost,
 * for up to `reconnect_ms` ms (ctflive_live_view_set_failover()); each
 * reconnection is a warning. Errors of the last relay tried, with *reterr.
 */
CTFLIVE_API int ctflive_iter_open_live_list(const struct ctflive_live_url *urls, size_t n,
					    enum ctflive_live_seek seek, int timeout_ms,
					    int reconnect_ms, struct ctflive_iter **ret,
					    struct ctflive_diag *reterr);

/*
 * Follows directory `dir` (ctflive_follow_new(); `opts` may be NULL) while
 * ctflive-relayd writes it, that is while its session marker is
 * write-locked. A directory that is not being written (no marker: not
 * written by ctflive-relayd; or a marker no longer locked: the session is
 * over) is read once, exactly as ctflive_iter_open_dirs() reads it, with a
 * warning first unless its marker says `complete`. Errors: those of
 * ctflive_follow_new() or ctflive_iter_open_dirs(), with *reterr.
 */
CTFLIVE_API int ctflive_iter_open_follow(const char *dir, const struct ctflive_follow_options *opts,
					 struct ctflive_iter **ret, struct ctflive_diag *reterr);

/* Closes the source and frees everything. NULL-safe; returns NULL. */
CTFLIVE_API struct ctflive_iter *ctflive_iter_free(struct ctflive_iter *it);

/*
 * Next message in time order over every stream of the source. Returns:
 *   0                     *ret_msg and *ret_stream set (borrowed: the
 *                         message until the next call, the stream until it
 *                         ends or the iterator is freed);
 *   CTFLIVE_ITER_WARNING  a warning waits: take it with
 *                         ctflive_iter_next_warning(), then call again;
 *   -EAGAIN               nothing can be returned yet (live, follow): call
 *                         ctflive_iter_wait(), then again;
 *   CTFLIVE_CTF_END       the source ended and everything was returned;
 *   negative errno        the source failed (ctflive_iter_error() says
 *                         why: -EBADMSG corrupt trace or an event older
 *                         than one already returned, -EMSGSIZE truncated
 *                         data, connection and protocol errors for live,
 *                         ...). Every later call returns it.
 */
CTFLIVE_API int ctflive_iter_next(struct ctflive_iter *it, const struct ctflive_ctf_msg **ret_msg,
				  const struct ctflive_ctf_stream **ret_stream);

/*
 * Waits until the source may have more (follow: a change in the directory)
 * or `timeout_ms` passes; CTFLIVE_ITER_WAIT_DEFAULT waits the source's
 * usual period (live: while a request is in flight, until its reply can be
 * read, ctflive_live_view_wait(), with no sleep; else until 100 ms,
 * babeltrace2's retry delay, have passed since the previous wait ended, so
 * that time spent waiting for the relay, or decoding, is not slept again;
 * follow: 50 ms; directories: no wait). Returns 0 or a negative errno.
 */
CTFLIVE_API int ctflive_iter_wait(struct ctflive_iter *it, int timeout_ms);

/* The error of the last failed call (borrowed, valid until the iterator is
 * freed; msg "" when none). */
CTFLIVE_API const struct ctflive_diag *ctflive_iter_error(struct ctflive_iter *it);

/*
 * Next queued warning, each returned once (borrowed, valid until the next
 * call on `it`), or NULL when none waits.
 */
CTFLIVE_API const struct ctflive_diag *ctflive_iter_next_warning(struct ctflive_iter *it);

/*
 * The source's own objects, borrowed, or NULL for another kind of source:
 * the trace directories (e.g. ctflive_ctf_fs_lost_packets()), the live view
 * and the follower.
 */
CTFLIVE_API struct ctflive_ctf_fs *ctflive_iter_fs(struct ctflive_iter *it);
CTFLIVE_API struct ctflive_live_view *ctflive_iter_live_view(struct ctflive_iter *it);
CTFLIVE_API struct ctflive_follow *ctflive_iter_follow(struct ctflive_iter *it);

#ifdef __cplusplus
}
#endif

#endif
