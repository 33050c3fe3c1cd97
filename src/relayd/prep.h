/* SPDX-License-Identifier: MIT */
/*
 * Files made ahead of need. Creating a file costs an inode allocation that
 * may take a millisecond on a busy ext4 (it scans for inodes not freed
 * recently): at the first packet of a thousand streams that is most of the
 * relay's time. A stream asks for its index file when it is added; one
 * helper thread makes it unnamed (cl_lock_create_unnamed(): O_TMPFILE,
 * header written, write-locked), and the loop thread only names it
 * (cl_lock_link_file()) when the first index entry is written. Nothing is
 * visible on disk before that, and an unnamed file left over by a crash
 * does not exist.
 *
 * Threads: the loop thread calls every function; the helper touches only
 * the requests it has taken off the queue, under the mutex. A request
 * still queued when the loop thread needs it is made on the loop thread at
 * once (it never waits behind other streams' requests); one in progress is
 * waited for.
 */
#ifndef CL_RELAYD_PREP_H
#define CL_RELAYD_PREP_H

#include <stddef.h>

struct prep;
struct prep_file;

/*
 * Starts the helper. Files are made in the file system of directory
 * `dir_fd` (borrowed: it must stay open until prep_free()). 0 or -errno
 * (pthread_create).
 */
int prep_new(int dir_fd, struct prep **ret);

/* Stops the helper (joins it) and frees every request, closing its file. */
void prep_free(struct prep *p);

/*
 * Queues a request for an unnamed file starting with `hdr` (hdr_len bytes,
 * copied; at most 64). *ret is owned by the caller until prep_take() or
 * prep_cancel(). 0, -ENOMEM, -EINVAL (header too long).
 */
int prep_submit(struct prep *p, const void *hdr, size_t hdr_len, struct prep_file **ret);

/*
 * The file of request `f` (freed): *ret_fd, owned by the caller, unnamed,
 * its header written and write-locked from its end. Made now if the helper
 * has not started it, waited for if it is being made. 0 or the error of
 * cl_lock_create_unnamed().
 */
int prep_take(struct prep *p, struct prep_file *f, int *ret_fd);

/* Drops request `f` (freed; its file, made or being made, is closed). */
void prep_cancel(struct prep *p, struct prep_file *f);

#endif
