/* SPDX-License-Identifier: MIT */
/*
 * ctflive merger: the one place where messages of several inputs are put in
 * time order, for every source (trace directories, live relay sessions,
 * followed directories).
 *
 * Follows babeltrace2 2.0.4's filter.utils.muxer (ordering, ties) and its
 * src.ctf.lttng-live source (inactivity bounds, an event older than one
 * already returned is an error).
 *
 * Inputs. An input is a stream decoder (struct ctflive_ctf_stream) and,
 * optionally, a `pull` function that gets its next message. Each time the
 * merger needs the input's next message it asks it, and the input answers
 * with its state:
 *   CTFLIVE_MERGE_READY    a message is ready (with a time, or untimed);
 *   CTFLIVE_MERGE_IDLE     no message now, and none older than *ret_idle_ns
 *                          will come (a live inactivity beacon; follow's
 *                          grace bound);
 *   CTFLIVE_MERGE_BLOCKED  no message now and no bound: wait for more data;
 *   CTFLIVE_MERGE_ENDED    no message will ever come.
 * Without `pull` the merger calls ctflive_ctf_stream_next() itself: 0 is
 * READY, CTFLIVE_CTF_END is ENDED and -EAGAIN is BLOCKED. An input without
 * a stream (stream NULL) only ever answers IDLE, BLOCKED or ENDED: it holds
 * the merge back for something that has no decoder yet (follow: a file whose
 * first packet is not published).
 *
 * Rules (owned here, and nowhere else):
 *   - order: smallest time first; a message without time sorts at the time
 *     of the last message returned; equal times are broken by trace UUID,
 *     trace name, stream class id, stream id, then by the messages (type,
 *     event class), as babeltrace2's muxer does; the order within an input
 *     is kept; fully equal inputs go in the order they were added;
 *   - bounds: a message is returned only when every input that has not
 *     ended has a ready message or an idle bound not earlier than it;
 *     otherwise ctflive_merge_next() returns -EAGAIN;
 *   - monotonic check: an event whose time is earlier than the time of an
 *     event already returned (corrupt timestamps, or a live bound that was
 *     wrong) is an error, -EBADMSG, as in babeltrace2's muxer and lttng-live
 *     source: the merger never returns time going backwards;
 *   - lost packets after the last packet of a stream (relay index entries
 *     with an all-ones offset that no packet follows, which no packet_seq_num
 *     gap can show) are reported when the input ends, as one
 *     CTFLIVE_CTF_MSG_DISCARDED_PACKETS message with `lost_in_transit` set
 *     (see ctflive_merge_lost_after()).
 *
 * Cost: the message returned is the input's own slot, nothing is copied.
 * While every input has a message ready, returning the next one of the
 * same input costs one comparison with the best of the others.
 *
 * Conventions as in <ctflive/ctf.h>: negative errno on failure, `ret*`
 * written only on success, `reterr` (may be NULL) only on failure; times
 * named *_ns are ns from the clock's origin, *_cycles clock cycles. Not
 * thread-safe.
 */
#ifndef CTFLIVE_MERGE_H
#define CTFLIVE_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/export.h"

#include "ctflive/ctf.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ctflive_merge_state {
	CTFLIVE_MERGE_READY = 0,
	CTFLIVE_MERGE_IDLE = 1,
	CTFLIVE_MERGE_BLOCKED = 2,
	CTFLIVE_MERGE_ENDED = 3,
};

struct ctflive_merge_input {
	/* Decoder of the input (borrowed: must stay valid until `release` is
	 * called or the merger is freed). NULL for an input that only bounds. */
	struct ctflive_ctf_stream *stream;
	/*
	 * Optional. Gets the next message of the input into *ret_msg and
	 * returns an enum ctflive_merge_state; for CTFLIVE_MERGE_IDLE also sets
	 * *ret_idle_ns. `need_ns` is INT64_MIN on the first question of a
	 * ctflive_merge_next() call; when the idle bound it returned is earlier
	 * than the best ready message, the merger asks once more in the same
	 * call with `need_ns` set to that message's time, or to INT64_MAX when
	 * no input has a message ready (a live source asks the relay again
	 * then). A negative errno stops the merge: it is
	 * returned by ctflive_merge_next() (with reterr filled by `pull`), then
	 * by every later call. `pull` may add inputs (ctflive_merge_add()).
	 */
	int (*pull)(void *ctx, int64_t need_ns, struct ctflive_ctf_msg *ret_msg,
		    int64_t *ret_idle_ns, struct ctflive_ctf_diag *reterr);
	/* Optional: called once the merger no longer uses the input (after it
	 * ended and its last message was returned, or by ctflive_merge_free()). */
	void (*release)(void *ctx);
	void *ctx;
};

struct ctflive_merge;

/* Creates an empty merger. Errors: -ENOMEM. */
CTFLIVE_API int ctflive_merge_new(struct ctflive_merge **ret);

/* Frees the merger, calling `release` of every input it still holds.
 * NULL-safe; returns NULL. */
CTFLIVE_API struct ctflive_merge *ctflive_merge_free(struct ctflive_merge *m);

/*
 * Adds an input (`in` is copied). Allowed at any time, also from a `pull`
 * function and after ctflive_merge_next() returned CTFLIVE_CTF_END.
 * Errors: -EINVAL (NULL `in`, or neither stream nor pull), -ENOMEM, -E2BIG.
 */
CTFLIVE_API int ctflive_merge_add(struct ctflive_merge *m, const struct ctflive_merge_input *in);

/*
 * Records that `count` packets of input stream `s` were lost in transit
 * after its last packet (index entries with an all-ones offset, the last of
 * them ending at `end_cycles`, UINT64_MAX if unknown). Replaces what was
 * recorded before. When the input ends, the merger returns one
 * CTFLIVE_CTF_MSG_DISCARDED_PACKETS message for them (lost_in_transit,
 * count_known; time range from the timestamp_end of the stream's last packet
 * to `end_cycles` when the stream has a clock, no time otherwise).
 * Errors: -ENOENT (`s` is not an input).
 */
CTFLIVE_API int ctflive_merge_lost_after(struct ctflive_merge *m,
					 const struct ctflive_ctf_stream *s, uint64_t count,
					 uint64_t end_cycles);

/*
 * Returns the next message: 0 with *ret (borrowed: valid until the next
 * call) and *ret_stream (borrowed from the input); CTFLIVE_CTF_END when no
 * input is left (inputs may still be added); -EAGAIN when an input is
 * blocked or idle up to a time earlier than the next message (call again
 * once it may have progressed); -EBADMSG with reterr filled for an event
 * older than one already returned; or the error of an input (*ret_stream
 * names its stream, possibly NULL). After an error every call returns it
 * (with the same reterr).
 */
CTFLIVE_API int ctflive_merge_next(struct ctflive_merge *m, const struct ctflive_ctf_msg **ret,
				   struct ctflive_ctf_stream **ret_stream,
				   struct ctflive_ctf_diag *reterr);

/*
 * The error that stopped the merge: returns it (0 when none) and sets
 * *ret_stream (the input's stream, possibly NULL) and *ret_diag (either may
 * be NULL), as ctflive_merge_next() returned them.
 */
CTFLIVE_API int ctflive_merge_error(const struct ctflive_merge *m,
				    struct ctflive_ctf_stream **ret_stream,
				    struct ctflive_ctf_diag *ret_diag);

/* Inputs held (ended inputs are dropped by the next ctflive_merge_next()). */
CTFLIVE_API size_t ctflive_merge_input_count(const struct ctflive_merge *m);

#ifdef __cplusplus
}
#endif

#endif
