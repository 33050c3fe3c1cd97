/* SPDX-License-Identifier: MIT */
/*
 * Session markers and crash recovery: see marker.h and the contract in
 * doc/file-formats.md. Everything here runs on the loop thread.
 */
#include "marker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "ctf-index.h"
#include "file-locks.h"
#include "fsutil.h"
#include "io.h"
#include "log.h"
#include "metadata-text.h"
#include "relay.h"
#include "tracedir.h"

#define MAX_SCAN_DEPTH 12
#define MAX_RECENT     256 /* markers of ended sessions remembered (directory owners) */
#define MAX_DIR_SUFFIX 9999

/*
 * The marker of a session directory of this relay. Sessions of one tracing
 * session (one per consumer daemon, one per snapshot record: same sessiond
 * UUID and session id) share it; no other session may use its directory.
 * Once the last of them ended (refs 0, fd -1) it is kept a while, so that a
 * later snapshot record of the same tracing session finds its directory.
 */
struct marker {
	struct cl_list_node node; /* in the relay's marker list, oldest first */
	char *path;               /* owned: session directory, relative to the output */
	int fd;                   /* owned: holds the lock; -1 once released */
	unsigned refs;
	uint8_t owner_uuid[16]; /* sessiond UUID and session id of its sessions */
	uint64_t owner_id;
};

/* ---- markers ---- */

/*
 * Overwrites the state, then cuts what a longer previous state left: readers
 * take the first line, so a failed write leaves the previous state whole
 * (never an empty marker) and a failed cut leaves the new one readable.
 */
static int write_state(int fd, const char *state)
{
	size_t len = strlen(state);
	int r = cl_pwrite_full(fd, state, len, 0);

	if (r == 0 && ftruncate(fd, (off_t)len) < 0)
		r = -errno;
	if (r == 0)
		r = cl_fdatasync(fd);
	return r;
}

static int read_state(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void recover_tree(int top, int depth);

static struct marker *find_marker(struct relay *relay, const char *path)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->markers) {
		struct marker *m = cl_container_of(n, struct marker, node);

		if (!strcmp(m->path, path))
			return m;
	}
	return NULL;
}

static bool same_owner(const struct marker *m, const struct session *s)
{
	return m->owner_id == s->sessiond_session_id &&
	       !memcmp(m->owner_uuid, s->sessiond_uuid, sizeof(m->owner_uuid));
}

/* Creates the marker, or takes over one this relay wrote before (not locked). */
static int open_marker(int dirfd, int *ret_fd)
{
	int fd, r;

	r = cl_lock_create_file(dirfd, CL_SESSION_MARKER_NAME, CL_MARKER_ACTIVE "\n",
				sizeof(CL_MARKER_ACTIVE "\n") - 1, &fd);
	if (r == -EEXIST) {
		fd = openat(dirfd, CL_SESSION_MARKER_NAME, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		r = cl_lock_try_write(fd, 0, 0);
		if (r == 0)
			r = write_state(fd, CL_MARKER_ACTIVE "\n");
		if (r < 0) {
			close(fd);
			return r == -EAGAIN || r == -EACCES ? -EBUSY : r;
		}
		*ret_fd = fd;
		return 0;
	}
	if (r == 0)
		r = cl_lock_try_write(fd, 0, 0);
	if (r == 0)
		*ret_fd = fd;
	return r;
}

int marker_acquire(struct relay *relay, struct session *s)
{
	struct marker *m = find_marker(relay, s->output_path);
	char state[32];
	int fd, r;

	if (m && m->refs > 0) {
		m->refs++;
		s->has_marker = true;
		return 0;
	}
	if (m) {
		/* A later session of the same tracing session (a snapshot record). */
		r = open_marker(s->dir_fd, &m->fd);
		if (r < 0)
			return r;
		m->refs = 1;
		cl_list_remove(&m->node);
		cl_list_append(&relay->markers, &m->node);
		s->has_marker = true;
		return 0;
	}
	/* A marker left by a relay that died: recover that session first. */
	fd = openat(s->dir_fd, CL_SESSION_MARKER_NAME, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (cl_lock_try_write(fd, 0, 0) == 0 && read_state(fd, state, sizeof(state)) == 0 &&
		    !strcmp(state, CL_MARKER_ACTIVE)) {
			log_notice("session directory '%s' was not closed cleanly, recovering it",
				   s->output_path);
			recover_tree(s->dir_fd, 0);
		}
		close(fd);
	}
	r = open_marker(s->dir_fd, &fd);
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->path = strdup(s->output_path))) {
		free(m);
		close(fd);
		return -ENOMEM;
	}
	m->fd = fd;
	m->refs = 1;
	memcpy(m->owner_uuid, s->sessiond_uuid, sizeof(m->owner_uuid));
	m->owner_id = s->sessiond_session_id;
	cl_list_append(&relay->markers, &m->node);
	s->has_marker = true;
	return 0;
}

/* Forgets the oldest released markers beyond MAX_RECENT. */
static void prune_recent(struct relay *relay)
{
	struct cl_list_node *n, *tmp;
	size_t released = 0;

	cl_list_for_each (n, &relay->markers) {
		released += cl_container_of(n, struct marker, node)->refs == 0;
	}
	cl_list_for_each_safe (n, tmp, &relay->markers) {
		struct marker *m = cl_container_of(n, struct marker, node);

		if (released <= MAX_RECENT)
			break;
		if (m->refs > 0)
			continue;
		cl_list_remove(&m->node);
		free(m->path);
		free(m);
		released--;
	}
}

void marker_free_all(struct relay *relay)
{
	while (!cl_list_empty(&relay->markers)) {
		struct marker *m = cl_container_of(relay->markers.head.next, struct marker, node);

		if (m->fd >= 0)
			close(m->fd);
		cl_list_remove(&m->node);
		free(m->path);
		free(m);
	}
}

/* True when directory `name` beneath `pfd` has no entry. */
static bool dir_is_empty(int pfd, const char *name)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	bool empty = true;
	DIR *d;

	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

/* Candidate `k` for `path`: "<path>" then "<path>-<k>", the last component cut
 * (on a UTF-8 character boundary) to fit in NAME_MAX bytes. */
static char *candidate(const char *path, unsigned k)
{
	const char *last = strrchr(path, '/');
	size_t dir_len = last ? (size_t)(last - path) + 1 : 0, len = strlen(path) - dir_len;
	char suffix[16] = "";

	if (k > 0)
		(void)snprintf(suffix, sizeof(suffix), "-%u", k);
	while (len > 0 && len + strlen(suffix) > 255) {
		len--;
		while (len > 0 && ((unsigned char)path[dir_len + len] & 0xC0) == 0x80)
			len--;
	}
	return cl_asprintf("%.*s%.*s%s", (int)dir_len, path, (int)len, path + dir_len, suffix);
}

int marker_claim_dir(struct relay *relay, struct session *s, const char *path)
{
	for (unsigned k = 0; k <= MAX_DIR_SUFFIX; k++) {
		char *cand = candidate(path, k), *slash;
		const struct marker *m;
		bool fresh = false;
		int pfd, fd, r;

		if (!cand)
			return -ENOMEM;
		m = find_marker(relay, cand);
		if (m && !same_owner(m, s)) {
			free(cand);
			continue;
		}
		slash = strrchr(cand, '/');
		if (slash)
			*slash = '\0';
		r = cl_mkdir_beneath(relay->output_fd, slash ? cand : "", &pfd);
		if (slash)
			*slash = '/';
		if (r < 0) {
			free(cand);
			return r;
		}
		if (mkdirat(pfd, slash ? slash + 1 : cand, CL_DIR_MODE) == 0)
			fresh = true;
		else if (errno != EEXIST)
			r = -errno;
		/* In use: a directory of another of our sessions, or not empty (another
		 * relay's, an earlier run's). Never hand it out again. */
		if (r == 0 && !m && !fresh && !dir_is_empty(pfd, slash ? slash + 1 : cand))
			r = 1;
		if (r == 0)
			r = cl_open_dir_beneath(pfd, slash ? slash + 1 : cand, &fd);
		close(pfd);
		if (r < 0) {
			free(cand);
			return r;
		}
		if (r > 0) {
			free(cand);
			continue;
		}
		if (strcmp(cand, path))
			log_notice("session '%s' from '%s': directory '%s' is in use by another "
				   "session, writing to '%s'",
				   s->session_name, s->hostname, path, cand);
		s->output_path = cand;
		s->dir_fd = fd;
		return 0;
	}
	return -EEXIST;
}

void marker_release(struct relay *relay, struct session *s, int complete)
{
	struct cl_list_node *n;

	if (!s->has_marker)
		return;
	s->has_marker = false;
	cl_list_for_each (n, &relay->markers) {
		struct marker *m = cl_container_of(n, struct marker, node);

		if (strcmp(m->path, s->output_path))
			continue;
		if (!complete)
			m->refs |= 1u << 31; /* one session ended abnormally: stays "active" */
		if ((--m->refs & ~(1u << 31)) > 0)
			return;
		/* A session that ended abnormally while the relay lives (its peer
		 * vanished, the disk filled, the relay is stopping) had its
		 * incomplete tails cut at close: "interrupted", nothing to recover. */
		(void)write_state(m->fd, m->refs & (1u << 31) ? CL_MARKER_INTERRUPTED "\n"
							      : CL_MARKER_COMPLETE "\n");
		close(m->fd);
		m->fd = -1;
		m->refs = 0;
		/* Kept as the directory's owner for a while (later snapshot records). */
		cl_list_remove(&m->node);
		cl_list_append(&relay->markers, &m->node);
		prune_recent(relay);
		return;
	}
}

int marker_lock_output(int dirfd, const char *shown)
{
	static int lock_fd = -1; /* held for the life of the process */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return log_error_errno(-errno, "cannot open output directory '%s'", shown);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		if (r == -EBUSY)
			log_error("output directory '%s' is in use by another ctflive-relayd: "
				  "refusing to start (two relays on one directory overwrite each "
				  "other's sessions)",
				  shown);
		else
			log_error_errno(r, "cannot lock output directory '%s'", shown);
		return r;
	}
	if (faccessat(fd, ".", W_OK, AT_EACCESS) < 0) {
		r = -errno;
		close(fd);
		return log_error_errno(r, "output directory '%s' is not writable", shown);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = fd;
	return 0;
}

/* ---- recovery ---- */

/* Keeps the whole index entries whose packets lie inside the tracefile. */
static void recover_stream(int dirfd, int idxdir, const char *idx_name)
{
	char data_name[300];
	uint8_t hdr[CL_INDEX_HEADER_SIZE], e[CL_INDEX_ENTRY_SIZE_1_1];
	uint64_t kept = 0, data_end = 0, n, idx_size, data_size, idx_end;
	struct cl_rbuf rb = cl_rbuf_make(hdr, sizeof(hdr));
	struct cl_index_header h;
	struct stat sti, std;
	uint32_t esz;
	int ifd, dfd = -1;

	if (snprintf(data_name, sizeof(data_name), "%.*s", (int)(strlen(idx_name) - 4), idx_name) >=
	    (int)sizeof(data_name))
		return;
	ifd = openat(idxdir, idx_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (ifd < 0)
		return;
	dfd = openat(dirfd, data_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(ifd, &sti) < 0 || fstat(dfd, &std) < 0)
		goto out;
	idx_size = (uint64_t)sti.st_size;
	data_size = (uint64_t)std.st_size;
	if (cl_pread_full(ifd, hdr, sizeof(hdr), 0) < 0 || cl_index_header_decode(&rb, &h) < 0 ||
	    h.magic != CL_INDEX_MAGIC) {
		/* No usable header: no entry of this file was ever published. */
		(void)ftruncate(ifd, 0);
		(void)ftruncate(dfd, 0);
		log_notice("recovery: '%s' had no valid index header, emptied", data_name);
		goto out;
	}
	/* Only the sizes this relay writes. */
	esz = h.entry_size;
	if (esz != CL_INDEX_ENTRY_SIZE_1_0 && esz != CL_INDEX_ENTRY_SIZE_1_1)
		goto out;
	n = (idx_size - CL_INDEX_HEADER_SIZE) / esz;
	for (; kept < n; kept++) {
		struct cl_index_entry ie;
		uint64_t bytes;

		rb = cl_rbuf_make(e, esz);
		if (cl_pread_full(ifd, e, esz, cl_index_entry_pos(kept, esz)) < 0 ||
		    cl_index_entry_decode(&rb, esz, &ie) < 0)
			break;
		bytes = ie.packet_size / 8;
		if (cl_index_entry_is_lost(&ie))
			continue; /* lost in transit: no bytes */
		if (ie.offset < data_end || ie.offset > data_size || bytes > data_size - ie.offset)
			break;
		data_end = ie.offset + bytes;
	}
	idx_end = cl_index_entry_pos(kept, esz);
	if (idx_end != idx_size || data_end != data_size)
		log_notice(
			"recovery: '%s': kept %llu index entries, %llu bytes (dropped %llu bytes "
			"of index, %llu of data)",
			data_name, (unsigned long long)kept, (unsigned long long)data_end,
			(unsigned long long)(idx_size - idx_end),
			(unsigned long long)(data_size - data_end));
	if (ftruncate(ifd, (off_t)idx_end) < 0 || ftruncate(dfd, (off_t)data_end) < 0)
		log_warning("recovery: cannot truncate '%s': %s", data_name, strerror(errno));
	(void)cl_fdatasync(dfd);
	(void)cl_fdatasync(ifd);
out:
	if (dfd >= 0)
		close(dfd);
	close(ifd);
}

/*
 * Cuts text metadata (LTTng >= 2.14: TSDL or a CTF 2 JSON text sequence)
 * after its last complete declaration or fragment (metadata-text.h), so that
 * it parses again: a relay killed while receiving metadata may have written
 * part of one.
 */
static void recover_text_metadata(int fd, uint64_t size)
{
	uint8_t *text;
	size_t keep;

	if (size == 0 || size > RELAY_MAX_METADATA_SIZE)
		return;
	text = malloc((size_t)size);
	if (!text) {
		log_warning("recovery: no memory to check the metadata (%llu bytes)",
			    (unsigned long long)size);
		return;
	}
	if (cl_pread_full(fd, text, (size_t)size, 0) == 0) {
		keep = cl_metadata_text_complete_len(text, (size_t)size);
		if (keep != size) {
			log_notice("recovery: text metadata cut after %zu bytes (%llu dropped: "
				   "an incomplete declaration)",
				   keep, (unsigned long long)(size - keep));
			if (ftruncate(fd, (off_t)keep) < 0)
				log_warning("recovery: cannot truncate metadata: %s",
					    strerror(errno));
			(void)cl_fdatasync(fd);
		}
	}
	free(text);
}

/* Cuts packetized metadata after its last complete packet, text metadata
 * after its last complete declaration. */
static void recover_metadata(int dirfd)
{
	uint8_t h[CL_METADATA_HEADER_SIZE];
	uint64_t pos = 0, size;
	struct stat stm;
	int fd = openat(dirfd, "metadata", O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &stm) < 0)
		goto out;
	size = (uint64_t)stm.st_size;
	while (size - pos >= CL_METADATA_HEADER_SIZE && cl_pread_full(fd, h, sizeof(h), pos) == 0) {
		bool le = cl_load_le32(h) == CL_METADATA_MAGIC;
		uint64_t bits;

		if (!le && cl_load_be32(h) != CL_METADATA_MAGIC) {
			if (pos == 0) {
				recover_text_metadata(fd, size);
				goto out;
			}
			break;
		}
		bits = le ? cl_load_le32(h + CL_METADATA_OFF_PACKET_SIZE)
			  : cl_load_be32(h + CL_METADATA_OFF_PACKET_SIZE);
		if (bits < CL_METADATA_HEADER_SIZE * 8 || bits / 8 > size - pos)
			break;
		pos += bits / 8;
	}
	if (pos != size) {
		log_notice("recovery: metadata cut after %llu bytes (%llu dropped)",
			   (unsigned long long)pos, (unsigned long long)(size - pos));
		if (ftruncate(fd, (off_t)pos) < 0)
			log_warning("recovery: cannot truncate metadata: %s", strerror(errno));
		(void)cl_fdatasync(fd);
	}
out:
	close(fd);
}

/* Opens directory `top` (any descriptor of it) for reading its entries. */
static DIR *open_dir(int top)
{
	int fd = openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* Opens subdirectory `name` of `d` without following links, or -1. */
static int open_subdir(DIR *d, const struct dirent *de)
{
	if (de->d_name[0] == '.' || de->d_type != DT_DIR)
		return -1;
	return openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static void recover_tree(int top, int depth)
{
	struct dirent *de;
	DIR *d;

	if (depth > MAX_SCAN_DEPTH)
		return;
	d = open_dir(top);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int sub;

		sub = open_subdir(d, de);
		if (sub < 0)
			continue;
		if (!strcmp(de->d_name, "index")) {
			DIR *id = fdopendir(sub);
			struct dirent *ie;

			if (!id) {
				close(sub);
				continue;
			}
			while ((ie = readdir(id))) {
				size_t l = strlen(ie->d_name);

				if (ie->d_name[0] != '.' && l > 4 &&
				    !strcmp(ie->d_name + l - 4, ".idx"))
					recover_stream(dirfd(d), dirfd(id), ie->d_name);
			}
			closedir(id);
			recover_metadata(dirfd(d));
			continue;
		}
		recover_tree(sub, depth + 1);
		close(sub);
	}
	closedir(d);
}

/* What the start-up scan went through. */
struct scan_stats {
	unsigned long dirs, recovered;
};

/* Finds markers beneath `top` (at `path`, relative to the output directory)
 * and recovers the sessions whose relay died. */
static void scan(int top, const char *path, int depth, struct scan_stats *st)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (depth > MAX_SCAN_DEPTH)
		return;
	d = open_dir(top);
	if (!d)
		return;
	st->dirs++;
	fd = openat(dirfd(d), CL_SESSION_MARKER_NAME, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		char state[32];

		/* Locked means another relay is writing it right now: leave it alone. */
		if (cl_lock_try_write(fd, 0, 0) == 0 && read_state(fd, state, sizeof(state)) == 0 &&
		    !strcmp(state, CL_MARKER_ACTIVE)) {
			log_notice("recovering session directory '%s', left active by a relay that "
				   "stopped",
				   path[0] ? path : ".");
			recover_tree(dirfd(d), 0);
			(void)write_state(fd, CL_MARKER_RECOVERED "\n");
			st->recovered++;
		}
		close(fd);
		closedir(d);
		return; /* sessions do not nest */
	}
	while ((de = readdir(d))) {
		char sub_path[4096];
		int sub;

		sub = open_subdir(d, de);
		if (sub < 0)
			continue;
		(void)snprintf(sub_path, sizeof(sub_path), "%s%s%s", path, path[0] ? "/" : "",
			       de->d_name);
		scan(sub, sub_path, depth + 1, st);
		close(sub);
	}
	closedir(d);
}

void recover_output(struct relay *relay)
{
	struct scan_stats st = { 0 };
	struct timespec t0, t1;
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	scan(relay->output_fd, "", 0, &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* A large tree takes seconds, before the ports are bound: say so. */
	if (secs >= 1.0 || st.dirs >= 1000 || st.recovered > 0)
		log_notice("recovery scan of the output directory: %lu directories in %.1f s, "
			   "%lu session(s) recovered",
			   st.dirs, secs, st.recovered);
	else
		log_info("recovery scan of the output directory: %lu directories in %.3f s",
			 st.dirs, secs);
}
