/* SPDX-License-Identifier: MIT */
/*
 * Sessions (relayd-protocol.md §5.3, §8): creation and the session
 * directory, the end of a control connection, and freeing sessions and
 * streams once nothing uses them (relay_collect()). Trace chunks are in
 * chunk.c, streams in stream.c, publication in publish.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "marker.h"
#include "publish.h"
#include "relay.h"

struct session *session_find(struct relay *relay, uint64_t id)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);

		if (s->id == id)
			return s;
	}
	return NULL;
}

/*
 * Room kept in a directory name for "-<datetime>" and a "-<n>" of
 * marker_claim_dir(): longer session names are cut (on a UTF-8 character
 * boundary) rather than refused, since the directory name may not exceed
 * 255 bytes.
 */
#define NAME_ROOM (sizeof("-YYYYmmdd-HHMMSS") - 1 + sizeof("-9999") - 1)

static int name_len_in_dir(const char *name)
{
	size_t len = strlen(name);

	while (len > 0 && len > 255 - NAME_ROOM) {
		len--;
		while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80)
			len--;
	}
	return (int)len;
}

/*
 * The session directory, as lttng-relayd names it: by host (the default),
 * HOST/BASE_PATH, HOST/SESSION (a name that holds its creation time) or
 * HOST/SESSION-DATETIME; by session, SESSION/HOST-DATETIME[/BASE_PATH].
 */
static int compute_output_path(const struct relay *relay, const struct cl_relayd_create_session *m,
			       char **ret)
{
	char base[CL_RELAYD_PATH_MAX], when[32];
	int r;

	r = cl_normalize_relpath(m->base_path, true, true, base, sizeof(base));
	if (r < 0)
		return r;
	if (relay->group_by_session) {
		r = cl_format_time(m->creation_time, "%Y%m%d-%H%M%S", when, sizeof(when));
		if (r < 0)
			return r;
		*ret = cl_asprintf("%s/%s-%s%s%s", m->session_name, m->hostname, when,
				   base[0] ? "/" : "", base);
	} else if (base[0])
		*ret = cl_asprintf("%s/%s", m->hostname, base);
	else if (m->session_name_contains_creation_time)
		*ret = cl_asprintf("%s/%s", m->hostname, m->session_name);
	else {
		r = cl_format_time(m->creation_time, "%Y%m%d-%H%M%S", when, sizeof(when));
		if (r < 0)
			return r;
		*ret = cl_asprintf("%s/%.*s-%s", m->hostname, name_len_in_dir(m->session_name),
				   m->session_name, when);
	}
	return *ret ? 0 : -ENOMEM;
}

/* Frees a session that is off every list; `complete` goes to its marker. */
static void session_free(struct relay *relay, struct session *s, bool complete)
{
	marker_release(relay, s, complete);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->session_name);
	free(s->hostname);
	free(s->base_path);
	free(s->output_path);
	free(s);
}

int session_create(struct relay *relay, const struct cl_relayd_create_session *m, uint32_t minor,
		   struct session **ret)
{
	struct session *s;
	int r;

	if (relay->n_sessions >= RELAY_MAX_SESSIONS)
		return -E2BIG;
	if (minor >= 4 &&
	    (!cl_is_safe_component(m->session_name) || !cl_is_safe_component(m->hostname)))
		return -EINVAL;
	/* The live session list gives viewers 63 bytes of it: a longer name
	 * could never be matched by a viewer (live-protocol.md). */
	if (strlen(m->hostname) > RELAY_MAX_HOSTNAME)
		return -EMSGSIZE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	cl_list_init(&s->streams);
	cl_list_init(&s->dirty);
	cl_list_node_init(&s->node);
	s->dir_fd = -1;
	s->relay = relay;
	s->minor = minor;
	s->live_timer = m->live_timer;
	s->trace_format = m->trace_format;
	s->snapshot = m->snapshot;
	memcpy(s->sessiond_uuid, m->sessiond_uuid, sizeof(s->sessiond_uuid));
	s->sessiond_session_id = m->sessiond_session_id;
	s->creation_time = m->creation_time;
	s->session_name = strdup(m->session_name);
	s->hostname = strdup(m->hostname);
	s->base_path = strdup(m->base_path);
	if (!s->session_name || !s->hostname || !s->base_path) {
		r = -ENOMEM;
		goto fail;
	}

	if (minor >= 11) {
		char *path;

		r = compute_output_path(relay, m, &path);
		if (r < 0)
			goto fail;
		r = marker_claim_dir(relay, s, path);
		free(path);
		if (r < 0)
			goto fail;
		r = marker_acquire(relay, s);
		if (r < 0)
			goto fail;
		if (m->has_current_chunk_id) {
			struct chunk *c = chunk_find(relay, s, m->current_chunk_id);

			if (!c || c->closed) {
				r = -ENOENT;
				goto fail;
			}
			s->current_chunk = chunk_ref(c);
		}
	} else {
		/*
		 * Pre-2.11 peers send stream paths that start with
		 * "<host>/<session>-<datetime>/": they get one anonymous chunk
		 * rooted at the output directory (whatever the grouping).
		 */
		struct chunk *c;
		int fd;

		if (relay->group_by_session)
			log_warning("session '%s': a protocol 2.%u peer names its own paths, "
				    "grouped by host",
				    s->session_name, minor);
		s->output_path = strdup(s->hostname[0] ? s->hostname : "");
		s->dir_fd = fcntl(relay->output_fd, F_DUPFD_CLOEXEC, 0);
		if (!s->output_path || s->dir_fd < 0) {
			r = -ENOMEM;
			goto fail;
		}
		fd = fcntl(relay->output_fd, F_DUPFD_CLOEXEC, 0);
		c = fd >= 0 ? chunk_new(relay, s, "", fd) : NULL;
		if (!c) {
			if (fd >= 0)
				close(fd);
			r = -ENOMEM;
			goto fail;
		}
		c->anonymous = true;
		s->current_chunk = chunk_ref(c);
	}

	s->id = ++relay->next_session_id;
	cl_list_append(&relay->sessions, &s->node);
	relay->n_sessions++;
	log_info("session %llu created: '%s'", (unsigned long long)s->id, s->output_path);
	*ret = s;
	return 0;
fail:
	session_free(relay, s, false);
	return r;
}

void session_snapshot_done(struct relay *relay, struct session *s)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &s->streams) {
		if (!cl_container_of(n, struct stream, node)->closed)
			return;
	}
	marker_release(relay, s, !s->aborted);
}

void session_connection_closed(struct relay *relay, struct session *s, bool error)
{
	struct cl_list_node *n, *tmp;
	size_t open = 0;

	/*
	 * A consumer closes every stream (CLOSE_STREAM) before it closes its
	 * connection: a connection that ends while streams are open, even at a
	 * message boundary, is a peer that vanished (killed, crashed).
	 */
	cl_list_for_each (n, &s->streams) {
		const struct stream *st = cl_container_of(n, struct stream, node);

		open += !st->closed && !st->close_requested;
	}
	if (open > 0 && !error && !s->aborted)
		log_notice("session %llu: control connection closed with %zu stream(s) open, "
			   "session interrupted",
			   (unsigned long long)s->id, open);
	s->connection_closed = true;
	session_touch(s);
	if (error)
		s->aborted = true;
	cl_list_for_each_safe (n, tmp, &s->streams) {
		struct stream *st = cl_container_of(n, struct stream, node);
		uint64_t last = UINT64_MAX;
		bool waiting = false;

		if (st->closed)
			continue;
		/* Wait for the data of indexes already received, unless aborted. */
		for (size_t i = 0; i < st->n_pending; i++) {
			if (st->pending[i].has_ctrl && !st->pending[i].has_data &&
			    (last == UINT64_MAX ||
			     (int64_t)(st->pending[i].net_seq_num - last) > 0)) {
				last = st->pending[i].net_seq_num;
				waiting = true;
			}
		}
		if (s->aborted || !waiting)
			stream_close(relay, st);
		else
			stream_request_close(relay, st, last);
	}
	/* After the loop: data already announced may still arrive and be kept. */
	if (open > 0)
		s->aborted = true;
	if (s->current_chunk) {
		chunk_unref(relay, s->current_chunk);
		s->current_chunk = NULL;
	}
	if (s->pending_closure_chunk) {
		chunk_unref(relay, s->pending_closure_chunk);
		s->pending_closure_chunk = NULL;
	}
}

static void stream_free(struct relay *relay, struct stream *st)
{
	stream_release(relay, st);
	for (size_t i = 0; i < st->n_segs; i++) {
		if (st->segs[i].data_fd >= 0)
			close(st->segs[i].data_fd);
		if (st->segs[i].index_fd >= 0)
			close(st->segs[i].index_fd);
	}
	free(st->segs);
	stream_batch_free(st->session->relay, st);
	cl_list_remove(&st->node);
	cl_list_remove(&st->global_node);
	cl_list_remove(&st->dirty_node);
	stream_forget(st->session->relay, st);
	st->session->n_streams--;
	free(st->pending);
	free(st->channel_name);
	free(st->pathname);
	free(st);
}

void relay_collect(struct relay *relay)
{
	struct cl_list_node *n, *tmp, *m, *mtmp;
	bool streams = relay->collect_streams;

	/* Runs before every sleep of the loop: thousands of streams are not
	 * scanned at each wake-up, only when one may have become freeable. */
	relay->collect_streams = false;
	cl_list_for_each_safe (n, tmp, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);

		cl_list_for_each_safe (m, mtmp, &s->streams) {
			struct stream *st = cl_container_of(m, struct stream, node);

			if (!streams)
				break;
			if (st->closed && !st->busy && !st->viewer_refs && !publish_busy(st))
				stream_free(relay, st);
		}
		if (!s->connection_closed || s->n_streams > 0 || s->data_conns > 0 ||
		    s->viewer_refs > 0 || s->sync_in_flight)
			continue;
		log_info("session %llu ended%s: '%s'", (unsigned long long)s->id,
			 s->aborted ? " (interrupted)" : "", s->output_path);
		cl_list_remove(&s->node);
		relay->n_sessions--;
		session_free(relay, s, !s->aborted);
	}
}

void relay_shutdown(struct relay *relay)
{
	struct cl_list_node *n, *m;

	cl_list_for_each (n, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);

		if (!s->connection_closed)
			session_connection_closed(relay, s, true); /* interrupted */
		cl_list_for_each (m, &s->streams) {
			struct stream *st = cl_container_of(m, struct stream, node);

			st->busy = 0;
			st->viewer_refs = 0;
			st->sync_in_flight = false;
			stream_close(relay, st);
		}
		s->data_conns = 0;
		s->viewer_refs = 0;
		s->sync_in_flight = false;
	}
	relay->collect_streams = true;
	relay_collect(relay);
	while (!cl_list_empty(&relay->chunks)) {
		struct chunk *c = cl_container_of(relay->chunks.head.next, struct chunk, node);

		c->refs = 1;
		chunk_unref(relay, c);
	}
	marker_free_all(relay);
}
