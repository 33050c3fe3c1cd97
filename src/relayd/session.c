/* SPDX-License-Identifier: MIT */
/*
 * Sessions and trace chunks (relayd-protocol.md §5.3, §5.12–§5.14, §8).
 *
 * A trace chunk is a directory scope for a session's files. The first chunk
 * of a session that never rotated is the session directory itself (dir "");
 * a rotation moves the current chunk to ".tmp_old_chunk" and starts the new
 * one in ".tmp_new_chunk"; closing the old chunk names the new directory
 * "<start>-<id>" (or moves it back to the session root for a clear of a
 * session that never rotated), then archives the old chunk as
 * "archives/<start>-<end>-<id>" or deletes it once no stream uses it any more.
 * That is the layout lttng-relayd 2.13 produces, which `lttng rotate`,
 * `lttng clear` and the viewers expect.
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
#include "relay.h"

#define TMP_OLD_CHUNK ".tmp_old_chunk"
#define TMP_NEW_CHUNK ".tmp_new_chunk"
#define ISO8601_FMT   "%Y%m%dT%H%M%S%z"

static char *xasprintf(const char *fmt, ...) CL_PRINTF(1, 2);
static char *xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

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

static int compute_output_path(const struct cl_relayd_create_session *m, char **ret)
{
	char base[CL_RELAYD_PATH_MAX], when[32];
	int r;

	r = cl_normalize_relpath(m->base_path, true, true, base, sizeof(base));
	if (r < 0)
		return r;
	if (base[0])
		*ret = xasprintf("%s/%s", m->hostname, base);
	else if (m->session_name_contains_creation_time)
		*ret = xasprintf("%s/%s", m->hostname, m->session_name);
	else {
		r = cl_format_time(m->creation_time, "%Y%m%d-%H%M%S", when, sizeof(when));
		if (r < 0)
			return r;
		*ret = xasprintf("%s/%s-%s", m->hostname, m->session_name, when);
	}
	return *ret ? 0 : -ENOMEM;
}

static struct chunk *chunk_lookup(struct relay *relay, const struct session *s, uint64_t id)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->chunks) {
		struct chunk *c = cl_container_of(n, struct chunk, node);

		if (c->id == id && !c->anonymous &&
		    c->sessiond_session_id == s->sessiond_session_id &&
		    !memcmp(c->sessiond_uuid, s->sessiond_uuid, sizeof(c->sessiond_uuid)))
			return c;
	}
	return NULL;
}

static struct chunk *chunk_new(struct relay *relay, const struct session *s, const char *dir,
			       int dir_fd)
{
	struct chunk *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->dir = strdup(dir);
	c->serial = ++relay->next_chunk_serial;
	c->session_dir_fd = fcntl(s->dir_fd, F_DUPFD_CLOEXEC, 0);
	c->dir_fd = dir_fd;
	memcpy(c->sessiond_uuid, s->sessiond_uuid, sizeof(c->sessiond_uuid));
	c->sessiond_session_id = s->sessiond_session_id;
	if (!c->dir || c->session_dir_fd < 0) {
		free(c->dir);
		if (c->session_dir_fd >= 0)
			close(c->session_dir_fd);
		free(c);
		return NULL;
	}
	cl_list_append(&relay->chunks, &c->node);
	return c;
}

static void chunk_free(struct chunk *c)
{
	cl_list_remove(&c->node);
	for (size_t i = 0; i < c->n_top_entries; i++)
		free(c->top_entries[i]);
	free(c->top_entries);
	free(c->override_name);
	free(c->dir);
	free(c->dir_before_move);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	if (c->session_dir_fd >= 0)
		close(c->session_dir_fd);
	free(c);
}

struct chunk *chunk_ref(struct chunk *c)
{
	c->refs++;
	return c;
}

int chunk_note_top_entry(struct chunk *c, const char *rel_path)
{
	size_t n = strcspn(rel_path, "/");
	char **v;

	for (size_t i = 0; i < c->n_top_entries; i++)
		if (strlen(c->top_entries[i]) == n && !strncmp(c->top_entries[i], rel_path, n))
			return 0;
	v = realloc(c->top_entries, (c->n_top_entries + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->top_entries = v;
	v[c->n_top_entries] = strndup(rel_path, n);
	if (!v[c->n_top_entries])
		return -ENOMEM;
	c->n_top_entries++;
	return 0;
}

static int archive_name(const struct chunk *c, char *out, size_t cap)
{
	char start[40], end[40];
	int r;

	r = cl_format_time(c->creation_ts, ISO8601_FMT, start, sizeof(start));
	if (r == 0)
		r = cl_format_time(c->close_ts, ISO8601_FMT, end, sizeof(end));
	if (r == 0 &&
	    snprintf(out, cap, "%s-%s-%llu", start, end, (unsigned long long)c->id) >= (int)cap)
		r = -ENAMETOOLONG;
	return r;
}

/* Moves chunk `c` (its directory, or its entries when rooted at the session
 * directory) to `to`, relative to the session directory. */
static int chunk_move(struct chunk *c, const char *to)
{
	int r, fd;

	if (c->dir[0] == '\0')
		r = cl_move_entries(c->session_dir_fd, "", to, c->top_entries, c->n_top_entries);
	else if (to[0] == '\0')
		r = cl_move_entries(c->session_dir_fd, c->dir, "", c->top_entries,
				    c->n_top_entries);
	else {
		const char *slash = strrchr(to, '/');

		if (slash) {
			char parent[256];
			int pfd;

			(void)snprintf(parent, sizeof(parent), "%.*s", (int)(slash - to), to);
			r = cl_mkdir_beneath(c->session_dir_fd, parent, &pfd);
			if (r < 0)
				return r;
			close(pfd);
		}
		r = renameat(c->session_dir_fd, c->dir, c->session_dir_fd, to) < 0 ? -errno : 0;
	}
	if (r < 0)
		return r;
	if (c->dir[0] && to[0] == '\0')
		(void)unlinkat(c->session_dir_fd, c->dir, AT_REMOVEDIR);
	r = cl_open_dir_beneath(c->session_dir_fd, to, &fd);
	if (r < 0)
		return r;
	close(c->dir_fd);
	c->dir_fd = fd;
	free(c->dir);
	c->dir = strdup(to);
	return c->dir ? 0 : -ENOMEM;
}

/* What happens to a closed chunk once no stream writes into it any more. */
static void chunk_finish(struct relay *relay, struct chunk *c)
{
	char name[128], path[160];
	int r = 0;

	if (!c->has_close_command)
		return;
	switch (c->close_command) {
	case CL_CHUNK_CLOSE_MOVE_TO_COMPLETED:
		r = archive_name(c, name, sizeof(name));
		if (r == 0) {
			(void)snprintf(path, sizeof(path), "archives/%s", name);
			r = chunk_move(c, path);
		}
		break;
	case CL_CHUNK_CLOSE_DELETE:
		relay_chunk_deleted(relay, c->serial);
		if (c->dir[0])
			r = cl_remove_tree(c->session_dir_fd, c->dir);
		else
			for (size_t i = 0; i < c->n_top_entries && r == 0; i++)
				r = cl_remove_tree(c->session_dir_fd, c->top_entries[i]);
		break;
	default:
		break;
	}
	if (r < 0)
		log_warning_errno(r, "cannot finish closing trace chunk %llu",
				  (unsigned long long)c->id);
}

void chunk_unref(struct relay *relay, struct chunk *c)
{
	if (!c || --c->refs > 0)
		return;
	if (c->closed)
		chunk_finish(relay, c);
	chunk_free(c);
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
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	cl_list_init(&s->streams);
	cl_list_node_init(&s->node);
	s->dir_fd = -1;
	s->relay = relay;
	s->minor = minor;
	s->live_timer = m->live_timer;
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
		r = compute_output_path(m, &s->output_path);
		if (r < 0)
			goto fail;
		r = cl_mkdir_beneath(relay->output_fd, s->output_path, &s->dir_fd);
		if (r < 0)
			goto fail;
		r = marker_acquire(relay, s);
		if (r < 0)
			goto fail;
		if (m->has_current_chunk_id) {
			struct chunk *c = chunk_lookup(relay, s, m->current_chunk_id);

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
		 * rooted at the output directory.
		 */
		struct chunk *c;
		int fd;

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

int chunk_create(struct relay *relay, struct session *s, const struct cl_relayd_create_chunk *m,
		 uint32_t *ret_status)
{
	struct chunk *c = chunk_lookup(relay, s, m->chunk_id);
	char dir[256];
	int fd, r;

	*ret_status = CL_LTTNG_ERR_INVALID_PROTOCOL;
	if (c && c->closed)
		c = NULL; /* a chunk id can be reused once closed (snapshots) */
	if (c && (s->current_chunk == c || s->pending_closure_chunk == c))
		return -EPROTO;
	if (!c) {
		if (s->current_chunk && s->pending_closure_chunk)
			return -EPROTO; /* second rotation before the first completed */
		if (m->override_name)
			(void)snprintf(dir, sizeof(dir), "%s", m->override_name);
		else if (s->current_chunk)
			(void)snprintf(dir, sizeof(dir), "%s", TMP_NEW_CHUNK);
		else if (!s->has_rotated)
			dir[0] = '\0';
		else {
			char start[40];

			r = cl_format_time(m->creation_timestamp, ISO8601_FMT, start,
					   sizeof(start));
			if (r < 0)
				return r;
			(void)snprintf(dir, sizeof(dir), "%s-%llu", start,
				       (unsigned long long)m->chunk_id);
		}
		if (s->current_chunk) {
			/* A rotation begins: the current chunk moves aside. */
			struct chunk *old = s->current_chunk;

			free(old->dir_before_move);
			old->dir_before_move = strdup(old->dir);
			r = old->dir_before_move ? chunk_move(old, TMP_OLD_CHUNK) : -ENOMEM;
			if (r < 0) {
				*ret_status = CL_LTTNG_ERR_NOMEM;
				return r;
			}
		}
		r = cl_mkdir_beneath(s->dir_fd, dir, &fd);
		if (r < 0) {
			*ret_status = CL_LTTNG_ERR_NOMEM;
			return r;
		}
		c = chunk_new(relay, s, dir, fd);
		if (!c) {
			close(fd);
			*ret_status = CL_LTTNG_ERR_NOMEM;
			return -ENOMEM;
		}
		c->id = m->chunk_id;
		c->creation_ts = m->creation_timestamp;
		if (m->override_name && !(c->override_name = strdup(m->override_name))) {
			chunk_free(c);
			*ret_status = CL_LTTNG_ERR_NOMEM;
			return -ENOMEM;
		}
	}
	if (s->current_chunk) {
		s->pending_closure_chunk = s->current_chunk; /* takes the reference */
		s->current_chunk = NULL;
	}
	s->current_chunk = chunk_ref(c);
	*ret_status = CL_LTTNG_OK;
	log_debug("session %llu: trace chunk %llu created in '%s'", (unsigned long long)s->id,
		  (unsigned long long)c->id, c->dir);
	return 0;
}

int chunk_close(struct relay *relay, struct session *s, const struct cl_relayd_close_chunk *m,
		uint32_t *ret_status, char **ret_path)
{
	struct chunk *c = chunk_lookup(relay, s, m->chunk_id);
	struct chunk *cur = s->current_chunk;
	char name[128];
	int r;

	*ret_status = CL_LTTNG_ERR_INVALID_PROTOCOL;
	if (!c || c->closed)
		return -ENOENT;
	if (m->has_close_command && m->close_command == CL_CHUNK_CLOSE_DELETE &&
	    !relay->allow_clear)
		return -EPERM;

	c->close_ts = m->close_timestamp;
	/* Reply path, computed before "has rotated" changes (§5.13). */
	if (c->override_name)
		*ret_path = xasprintf("%s/%s", s->output_path, c->override_name);
	else if (!s->has_rotated)
		*ret_path = strdup(s->output_path);
	else if ((r = archive_name(c, name, sizeof(name))) == 0)
		*ret_path = xasprintf("%s/archives/%s", s->output_path, name);
	else
		return r;
	if (!*ret_path) {
		*ret_status = CL_LTTNG_ERR_NOMEM;
		return -ENOMEM;
	}

	/* The new current chunk gets its final directory. */
	if (cur && cur != c && s->pending_closure_chunk == c && !strcmp(cur->dir, TMP_NEW_CHUNK)) {
		if (m->has_close_command && m->close_command == CL_CHUNK_CLOSE_DELETE &&
		    !s->has_rotated) {
			r = chunk_move(cur, "");
		} else {
			char start[40], dir[80];

			r = cl_format_time(cur->creation_ts, ISO8601_FMT, start, sizeof(start));
			(void)snprintf(dir, sizeof(dir), "%s-%llu", start,
				       (unsigned long long)cur->id);
			if (r == 0)
				r = chunk_move(cur, dir);
		}
		if (r < 0)
			log_warning_errno(r, "cannot rename the new trace chunk of session %llu",
					  (unsigned long long)s->id);
	}

	c->closed = true;
	c->has_close_command = m->has_close_command;
	c->close_command = m->close_command;
	if (!m->has_close_command || m->close_command == CL_CHUNK_CLOSE_NO_OPERATION) {
		if (c->dir_before_move && strcmp(c->dir, c->dir_before_move)) {
			r = chunk_move(c, c->dir_before_move);
			if (r < 0)
				log_warning_errno(r, "cannot move trace chunk %llu back",
						  (unsigned long long)c->id);
		}
	} else if (m->close_command == CL_CHUNK_CLOSE_MOVE_TO_COMPLETED) {
		s->has_rotated = true;
	}

	if (s->pending_closure_chunk == c) {
		s->pending_closure_chunk = NULL;
		chunk_unref(relay, c);
	}
	if (s->current_chunk == c) {
		s->current_chunk = NULL;
		chunk_unref(relay, c);
	}
	*ret_status = CL_LTTNG_OK;
	return 0;
}

bool chunk_exists(struct relay *relay, struct session *s, uint64_t chunk_id)
{
	struct chunk *c = chunk_lookup(relay, s, chunk_id);

	return c && !c->closed;
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

static void stream_free(struct stream *st)
{
	for (size_t i = 0; i < st->n_segs; i++) {
		if (st->segs[i].data_fd >= 0)
			close(st->segs[i].data_fd);
		if (st->segs[i].index_fd >= 0)
			close(st->segs[i].index_fd);
	}
	free(st->segs);
	cl_list_remove(&st->node);
	cl_list_remove(&st->global_node);
	st->session->n_streams--;
	free(st->pending);
	free(st->channel_name);
	free(st->pathname);
	free(st);
}

void relay_collect(struct relay *relay)
{
	struct cl_list_node *n, *tmp, *m, *mtmp;

	cl_list_for_each_safe (n, tmp, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);

		cl_list_for_each_safe (m, mtmp, &s->streams) {
			struct stream *st = cl_container_of(m, struct stream, node);

			if (st->closed && !st->busy && !st->viewer_refs && !sync_busy(st))
				stream_free(st);
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
	relay_collect(relay);
	while (!cl_list_empty(&relay->chunks)) {
		struct chunk *c = cl_container_of(relay->chunks.head.next, struct chunk, node);

		c->refs = 1;
		chunk_unref(relay, c);
	}
}
