/* SPDX-License-Identifier: MIT */
/*
 * Discovery and metadata of a followed trace directory: finding the traces
 * (directories holding a `metadata` file) and their tracefiles, watched with
 * inotify and rescanned, and feeding each trace's metadata to its decoder,
 * switching to the new `metadata` file of a new trace chunk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctflive/ctf.h"
#include "ctflive/follow.h"
#include "ctflive/live.h"
#include "follow-internal.h"

/* ---- discovery -------------------------------------------------------- */

static void watch(struct ctflive_follow *f, const char *dir)
{
	if (f->ino_fd >= 0)
		(void)inotify_add_watch(f->ino_fd, dir,
					IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR);
}

static bool has_trace(const struct ctflive_follow *f, const char *dir)
{
	for (size_t i = 0; i < f->ntraces; i++)
		if (!strcmp(f->traces[i]->dir, dir))
			return true;
	return false;
}

/* The newest file opened at `path` (the previous ones were replaced). */
struct ffile *cl_follow_newest_at(const struct ctflive_follow *f, const char *path)
{
	for (size_t i = f->nfiles; i-- > 0;)
		if (!strcmp(f->files[i]->path, path))
			return f->files[i];
	return NULL;
}

/* A newer file replaced `fi` at its path (tracefile ring, new trace chunk). */
bool cl_follow_superseded(const struct ctflive_follow *f, const struct ffile *fi)
{
	return cl_follow_newest_at(f, fi->path) != fi;
}

/*
 * Whether the tracefile `sb` at `path` is known: the newest file opened at
 * that path is this inode, or a file still open is (a directory moved by a
 * rotation shows the same files under another path).
 */
static bool has_file(const struct ctflive_follow *f, const char *path, const struct stat *sb)
{
	const struct ffile *n = cl_follow_newest_at(f, path);

	if (n && n->dev == sb->st_dev && n->ino == sb->st_ino)
		return true;
	for (size_t i = 0; i < f->nfiles; i++)
		if (f->files[i]->data_fd >= 0 && f->files[i]->dev == sb->st_dev &&
		    f->files[i]->ino == sb->st_ino)
			return true;
	return false;
}

/* A trace moved by a rotation (to archives/) is the same metadata file. */
static bool has_metadata(const struct ctflive_follow *f, const struct stat *sb)
{
	for (size_t i = 0; i < f->ntraces; i++)
		if (f->traces[i]->md_fd >= 0 && f->traces[i]->md_dev == sb->st_dev &&
		    f->traces[i]->md_ino == sb->st_ino)
			return true;
	return false;
}

static int add_trace(struct ctflive_follow *f, const char *dir, const char *rel)
{
	struct ftrace *t;
	int r;

	if (cl_grow(&f->traces, &f->tcap, f->ntraces + 1) < 0)
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	t = calloc(1, sizeof(*t));
	if (!t)
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	t->md_fd = -1;
	t->dir = strdup(dir);
	t->rel = strdup(rel);
	if (!t->dir || !t->rel) {
		free(t->dir);
		free(t->rel);
		free(t);
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	}
	r = ctflive_ctf_trace_new(&t->trace);
	if (r < 0) {
		free(t->dir);
		free(t->rel);
		free(t);
		return cl_follow_fail(f, r, "out of memory");
	}
	f->traces[f->ntraces++] = t;
	return 0;
}

/* Opens tracefile `name` of trace `t` (its index file is opened later). */
static int add_file(struct ctflive_follow *f, struct ftrace *t, const char *name,
		    const struct stat *sb)
{
	struct ffile *fi;
	struct stat osb;
	char *path;

	path = cl_follow_path_join(t->dir, name);
	if (!path)
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	if (has_file(f, path, sb)) {
		free(path);
		return 0;
	}
	fi = calloc(1, sizeof(*fi));
	if (!fi || cl_grow(&f->files, &f->fcap, f->nfiles + 1) < 0) {
		free(fi);
		free(path);
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	}
	fi->tr = t;
	fi->path = path;
	fi->name = strdup(name);
	fi->next = CL_INDEX_HEADER_SIZE;
	/* The index file may come after the tracefile: read_entry() opens it. */
	fi->idx_fd = -1;
	fi->data_fd = open(path, O_RDONLY | O_CLOEXEC);
	/* Replaced again between stat() and open(): the next scan sees it. */
	if (fi->data_fd >= 0 && (fstat(fi->data_fd, &osb) < 0 || osb.st_dev != sb->st_dev ||
				 osb.st_ino != sb->st_ino)) {
		close(fi->data_fd);
		fi->data_fd = -1;
	}
	fi->dev = sb->st_dev;
	fi->ino = sb->st_ino;
	if (!fi->name || fi->data_fd < 0) {
		int r = fi->name ? 0 : cl_follow_fail(f, -ENOMEM, "out of memory");

		if (fi->data_fd >= 0)
			close(fi->data_fd);
		free(fi->name);
		free(fi->path);
		free(fi);
		return r;
	}
	f->files[f->nfiles++] = fi;
	return 0;
}

static int scan_trace_files(struct ctflive_follow *f, struct ftrace *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return 0;
	while (r >= 0 && (de = readdir(d))) {
		char p[PATH_MAX];
		struct stat sb;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, "metadata"))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", t->dir, de->d_name) >= (int)sizeof(p))
			continue;
		if (stat(p, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		r = add_file(f, t, de->d_name, &sb);
	}
	closedir(d);
	return r;
}

static int scan_dir(struct ctflive_follow *f, const char *dir, const char *rel, int depth)
{
	char p[PATH_MAX];
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (depth > MAX_DEPTH)
		return 0;
	watch(f, dir);
	if (snprintf(p, sizeof(p), "%s/metadata", dir) < (int)sizeof(p) && stat(p, &sb) == 0 &&
	    S_ISREG(sb.st_mode) && !has_trace(f, dir) && !has_metadata(f, &sb)) {
		r = add_trace(f, dir, rel);
		if (r < 0)
			return r;
		if (snprintf(p, sizeof(p), "%s/index", dir) < (int)sizeof(p))
			watch(f, p);
	}
	d = opendir(dir);
	if (!d)
		return depth == 0 ? cl_follow_fail(f, -errno, "cannot open '%s': %s", dir,
						   strerror(errno))
				  : 0;
	while (r >= 0 && (de = readdir(d))) {
		char sub[PATH_MAX];

		/* The relay's own names (marker, temporary files and directories)
		 * start with a dot; index/ holds index files only. */
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "index"))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p))
			continue;
		if (stat(p, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
		    (int)sizeof(sub))
			continue;
		r = scan_dir(f, p, sub, depth + 1);
	}
	closedir(d);
	for (size_t i = 0; r >= 0 && i < f->ntraces; i++)
		if (!strcmp(f->traces[i]->dir, dir))
			r = scan_trace_files(f, f->traces[i]);
	return r;
}

int cl_follow_drain_inotify(struct ctflive_follow *f)
{
	uint8_t buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	if (f->ino_fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(f->ino_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		any = true;
	}
	if (any)
		f->dirty = true;
	return any;
}

int cl_follow_rescan(struct ctflive_follow *f, bool force)
{
	int64_t now = cl_follow_clock_ns(CLOCK_MONOTONIC);
	int r;

	(void)cl_follow_drain_inotify(f);
	if (!force && !f->dirty && now - f->last_scan < (int64_t)f->opts.rescan_ms * 1000000)
		return 0;
	f->dirty = false;
	f->last_scan = now;
	r = scan_dir(f, f->dir, "", 0);
	/* Files read to their end and replaced since, once the newer file has
	 * its own index (read_entry() compares it with the older ones). */
	for (size_t i = 0; r >= 0 && i < f->nfiles; i++) {
		struct ffile *fi = f->files[i];

		if (!fi->exhausted || fi->data_fd < 0 || !cl_follow_superseded(f, fi) ||
		    !cl_follow_newest_at(f, fi->path)->has_iino ||
		    (fi->st && fi->st->files[fi->st->cur] == fi))
			continue;
		close(fi->data_fd);
		fi->data_fd = -1;
		if (fi->idx_fd >= 0)
			close(fi->idx_fd);
		fi->idx_fd = -1;
	}
	return r;
}

/* ---- metadata --------------------------------------------------------- */

/* Byte order of a packetized metadata header: 1 big-endian, 0 little, -1 none. */
static int md_order(const uint8_t *h)
{
	if (cl_follow_get_be32(h) == CL_METADATA_MAGIC)
		return 1;
	if (((uint32_t)h[3] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[1] << 8 | h[0]) ==
	    CL_METADATA_MAGIC)
		return 0;
	return -1;
}

static uint32_t md_get32(const uint8_t *p, int be)
{
	return be ? cl_follow_get_be32(p)
		  : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void md_put32(uint8_t *p, int be, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[be ? i : 3 - i] = (uint8_t)(v >> (24 - 8 * i));
}

/*
 * Walks the packets of packetized metadata `buf[0, len)`: *ret_used is the
 * bytes of whole packets (the last one may lack its padding when `all`),
 * *ret_text their text. Without a packet header the whole is text.
 * When `out` is given, the text past the first `*skip` bytes is written
 * there as packets (one per input packet with text left, same header),
 * *out_len its size, and *skip is decreased. -EBADMSG on a bad header.
 */
static int md_walk(const uint8_t *buf, uint64_t len, bool all, uint64_t *ret_used,
		   uint64_t *ret_text, uint64_t *skip, uint8_t *out, uint64_t *out_len)
{
	uint64_t off = 0, text = 0, o = 0;
	int be = len >= 4 ? md_order(buf) : -1;

	if (be < 0 && len >= 4) {
		/* plain TSDL text */
		uint64_t k = skip ? (*skip < len ? *skip : len) : 0;

		if (out) {
			memcpy(out, buf + k, (size_t)(len - k));
			*out_len = len - k;
			*skip -= k;
		}
		*ret_used = *ret_text = len;
		return 0;
	}
	while (len - off >= CL_METADATA_HEADER_SIZE) {
		const uint8_t *h = buf + off;
		uint64_t cb = md_get32(h + CL_METADATA_OFF_CONTENT_SIZE, be) / 8,
			 pb = md_get32(h + CL_METADATA_OFF_PACKET_SIZE, be) / 8;
		uint64_t tl, k;

		if (md_order(h) != be || cb < CL_METADATA_HEADER_SIZE || cb > pb)
			return -EBADMSG;
		if (pb > len - off) {
			if (!all || cb > len - off)
				break;
			pb = len - off;
		}
		tl = cb - CL_METADATA_HEADER_SIZE;
		text += tl;
		if (out) {
			k = *skip < tl ? *skip : tl;
			*skip -= k;
			if (tl > k) {
				memcpy(out + o, h, CL_METADATA_HEADER_SIZE);
				md_put32(out + o + CL_METADATA_OFF_CONTENT_SIZE, be,
					 (uint32_t)((CL_METADATA_HEADER_SIZE + tl - k) * 8));
				md_put32(out + o + CL_METADATA_OFF_PACKET_SIZE, be,
					 (uint32_t)((CL_METADATA_HEADER_SIZE + tl - k) * 8));
				memcpy(out + o + CL_METADATA_HEADER_SIZE,
				       h + CL_METADATA_HEADER_SIZE + k, (size_t)(tl - k));
				o += CL_METADATA_HEADER_SIZE + tl - k;
			}
		}
		off += pb;
	}
	*ret_used = off;
	*ret_text = text;
	if (out)
		*out_len = o;
	return 0;
}

/*
 * A new trace chunk (`lttng clear`) re-creates `metadata` at the same path
 * with all the metadata again. Once the file we read is published to its
 * end and read, switch to the new one, remembering how much of its text
 * the decoder already has. Returns 0 or a negative errno.
 */
static int switch_metadata(struct ctflive_follow *f, struct ftrace *t, const char *path)
{
	uint64_t end = 0, size = 0, used = 0, text = 0;
	struct stat sb;
	uint8_t *buf;
	int r;

	if (stat(path, &sb) < 0 || (sb.st_dev == t->md_dev && sb.st_ino == t->md_ino))
		return 0;
	if (ctflive_follow_safe_end(t->md_fd, t->md_off, &end) < 0 || end != UINT64_MAX ||
	    cl_follow_file_size(t->md_fd, &size) < 0 || t->md_off < size)
		return 0; /* the old one first */
	if (t->md_off) {
		buf = malloc((size_t)t->md_off);
		if (!buf)
			return cl_follow_fail(f, -ENOMEM, "out of memory");
		r = ctflive_follow_pread_locked(t->md_fd, buf, (size_t)t->md_off, 0);
		if (r == 0)
			r = md_walk(buf, t->md_off, true, &used, &text, NULL, NULL, NULL);
		free(buf);
		if (r < 0)
			return cl_follow_fail(f, r, "cannot read '%s/metadata' again: %s", t->dir,
					      strerror(-r));
	}
	close(t->md_fd);
	t->md_fd = -1;
	t->md_off = 0;
	t->md_skip = text;
	t->md_switched = true;
	return 0;
}

/* Reads [md_off, end) of a metadata file that replaced another one. */
static int poll_switched_metadata(struct ctflive_follow *f, struct ftrace *t, uint64_t end,
				  bool all)
{
	uint64_t len = end - t->md_off, used = 0, text = 0, olen = 0;
	struct ctflive_ctf_diag diag;
	uint8_t *buf, *out;
	int r;

	buf = malloc((size_t)len);
	out = malloc((size_t)len);
	if (!buf || !out) {
		free(buf);
		free(out);
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	}
	r = ctflive_follow_pread_locked(t->md_fd, buf, (size_t)len, t->md_off);
	if (r == -EAGAIN || r == -EMSGSIZE) {
		r = 0;
		goto out;
	}
	if (r == 0) {
		/* Packet headers are parsed from the start of each read: read
		 * from a packet boundary (md_off only moves by whole packets). */
		r = md_walk(buf, len, all, &used, &text, &t->md_skip, out, &olen);
		if (r < 0) {
			cl_follow_fail(f, r,
				       "%s/metadata: bad metadata packet after a new trace chunk",
				       t->dir);
			goto out;
		}
	}
	if (r < 0) {
		cl_follow_fail(f, r, "cannot read '%s/metadata': %s", t->dir, strerror(-r));
		goto out;
	}
	if (olen) {
		memset(&diag, 0, sizeof(diag));
		r = ctflive_ctf_trace_add_metadata(t->trace, out, (size_t)olen, &diag);
		if (r < 0) {
			cl_follow_fail(f, r, "%s/metadata:%d:%d: %s", t->dir, diag.line, diag.col,
				       diag.msg);
			goto out;
		}
		t->md_any = true;
	}
	t->md_off += used;
out:
	free(buf);
	free(out);
	return r;
}

int cl_follow_poll_metadata(struct ctflive_follow *f, struct ftrace *t)
{
	uint64_t end = 0, size = 0;
	uint8_t *buf;
	int r;

	if (t->md_fd >= 0 && !f->final_read) {
		char *p = cl_follow_path_join(t->dir, "metadata");

		if (!p)
			return cl_follow_fail(f, -ENOMEM, "out of memory");
		r = switch_metadata(f, t, p);
		free(p);
		if (r < 0)
			return r;
	}
	if (t->md_fd < 0) {
		char *p = cl_follow_path_join(t->dir, "metadata");
		struct stat sb;

		if (!p)
			return cl_follow_fail(f, -ENOMEM, "out of memory");
		t->md_fd = open(p, O_RDONLY | O_CLOEXEC);
		free(p);
		if (t->md_fd < 0)
			return 0;
		if (fstat(t->md_fd, &sb) == 0) {
			t->md_dev = sb.st_dev;
			t->md_ino = sb.st_ino;
		}
	}
	r = ctflive_follow_safe_end(t->md_fd, t->md_off, &end);
	if (r == 0)
		r = cl_follow_file_size(t->md_fd, &size);
	if (r < 0)
		return cl_follow_fail(f, r, "cannot read '%s/metadata': %s", t->dir, strerror(-r));
	if (end > size)
		end = size;
	if (end <= t->md_off)
		return 0;
	if (end > CTFLIVE_LIVE_MAX_METADATA)
		return cl_follow_fail(f, -E2BIG, "metadata of '%s' is too large", t->dir);
	if (t->md_switched)
		return poll_switched_metadata(f, t, end, end == size && f->final);
	buf = malloc(MD_CHUNK);
	if (!buf)
		return cl_follow_fail(f, -ENOMEM, "out of memory");
	while (t->md_off < end) {
		size_t n = end - t->md_off > MD_CHUNK ? MD_CHUNK : (size_t)(end - t->md_off);
		struct ctflive_ctf_diag diag;

		r = ctflive_follow_pread_locked(t->md_fd, buf, n, t->md_off);
		if (r == -EAGAIN || r == -EMSGSIZE) {
			r = 0; /* raced with the relay: next time */
			break;
		}
		if (r < 0) {
			cl_follow_fail(f, r, "cannot read '%s/metadata': %s", t->dir, strerror(-r));
			break;
		}
		memset(&diag, 0, sizeof(diag));
		r = ctflive_ctf_trace_add_metadata(t->trace, buf, n, &diag);
		if (r < 0) {
			cl_follow_fail(f, r, "%s/metadata:%d:%d: %s", t->dir, diag.line, diag.col,
				       diag.msg);
			break;
		}
		t->md_off += n;
		t->md_any = true;
	}
	free(buf);
	return r;
}

const char *cl_follow_trace_name(struct ftrace *t)
{
	const char *host = NULL;

	if (t->name)
		return t->name;
	(void)ctflive_ctf_trace_env(t->trace, "hostname", &host, NULL, NULL);
	if (host && *t->rel) {
		size_t n = strlen(host) + strlen(t->rel) + 2;

		t->name = malloc(n);
		if (t->name)
			snprintf(t->name, n, "%s/%s", host, t->rel);
	} else {
		t->name = strdup(host ? host : t->rel);
	}
	return t->name;
}
