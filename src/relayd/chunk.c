/* SPDX-License-Identifier: MIT */
/*
 * Trace chunks (relayd-protocol.md §5.12–§5.14).
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
 *
 * Streams hold references on chunks; this file calls nothing in session.c
 * or stream.c (it reads and writes their fields only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "grow.h"
#include "log.h"
#include "relay.h"

#define TMP_OLD_CHUNK ".tmp_old_chunk"
#define TMP_NEW_CHUNK ".tmp_new_chunk"
#define ISO8601_FMT   "%Y%m%dT%H%M%S%z"

struct chunk *chunk_find(struct relay *relay, const struct session *s, uint64_t id)
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

struct chunk *chunk_new(struct relay *relay, const struct session *s, const char *dir, int dir_fd)
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
	int r;

	for (size_t i = 0; i < c->n_top_entries; i++)
		if (strlen(c->top_entries[i]) == n && !strncmp(c->top_entries[i], rel_path, n))
			return 0;
	r = cl_grow(&c->top_entries, &c->cap_top_entries, c->n_top_entries + 1);
	if (r < 0)
		return r;
	c->top_entries[c->n_top_entries] = strndup(rel_path, n);
	if (!c->top_entries[c->n_top_entries])
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

/* The files of a deleted chunk are gone for viewers too. */
static void chunk_deleted(struct relay *relay, uint64_t chunk_serial)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->streams) {
		struct stream *st = cl_container_of(n, struct stream, global_node);

		for (size_t i = 0; i < st->n_segs; i++)
			if (st->segs[i].chunk_serial == chunk_serial)
				segment_gone(&st->segs[i]);
	}
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
		chunk_deleted(relay, c->serial);
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

int chunk_create(struct relay *relay, struct session *s, const struct cl_relayd_create_chunk *m,
		 uint32_t *ret_status)
{
	struct chunk *c = chunk_find(relay, s, m->chunk_id);
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
	struct chunk *c = chunk_find(relay, s, m->chunk_id);
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
		*ret_path = cl_asprintf("%s/%s", s->output_path, c->override_name);
	else if (!s->has_rotated)
		*ret_path = strdup(s->output_path);
	else if ((r = archive_name(c, name, sizeof(name))) == 0)
		*ret_path = cl_asprintf("%s/archives/%s", s->output_path, name);
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
	struct chunk *c = chunk_find(relay, s, chunk_id);

	return c && !c->closed;
}
