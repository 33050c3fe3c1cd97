/* SPDX-License-Identifier: MIT */
/*
 * Following a trace directory on disk (include/ctflive/follow.h,
 * doc/file-formats.md).
 *
 * Objects: a *trace* per directory holding a `metadata` file; a *file* per
 * tracefile with its index file; a *stream* per decoder. Files are attached
 * to streams once their first index entry is published: files of a trace
 * whose first entries name the same (stream class, stream_instance_id) are
 * the pieces of one stream (`--tracefile-size` rings), read one after the
 * other in the order of their first timestamp_begin. Published packets are
 * pushed into the stream's in-memory byte source, a bounded number ahead of
 * the decoder.
 *
 * Reading order within one poll: the session marker first (once it is seen
 * unlocked the relay is done, so everything read afterwards is final), then
 * index entries and packets, then metadata: an unlocked index entry
 * guarantees its metadata was unlocked before it, so metadata read after
 * the entry covers it.
 *
 * Merging follows live-view.c: every stream has a head (its next message)
 * or is blocked; the oldest head is returned when every blocked stream has
 * a bound at least as late (see "Merging while live" in follow.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctf-internal.h"
#include "ctflive/ctf.h"
#include "ctflive/follow.h"
#include "ctflive/live.h"

#define MARKER_NAME   ".ctflive-session"
#define IDX_MAGIC     0xC1F1DCC1u
#define IDX_HDR       16u
#define IDX_ENTRY_MAX 4096u /* entry sizes above this are refused */
#define MAX_AHEAD     8u    /* packets pushed ahead of the decoder, per stream */
#define MAX_DEPTH     16    /* directory levels searched for traces */
#define MD_CHUNK      (1u << 20)

struct ftrace {
	char *dir;                       /* owned, absolute */
	char *rel;                       /* owned, relative to the followed dir */
	char *name;                      /* owned once known: trace label */
	struct ctflive_ctf_trace *trace; /* owned */
	int md_fd;                       /* -1 until `metadata` exists */
	uint64_t md_off;                 /* metadata bytes fed to the decoder */
	size_t warned;                   /* metadata warnings handed out */
	uint64_t next_auto_id;           /* stream ids of streams without instance id */
	dev_t md_dev;                    /* identity of the metadata file read */
	ino_t md_ino;
	uint64_t md_skip; /* text of the current file already fed from a previous one */
	bool md_switched; /* the current file replaced another (new trace chunk) */
	bool md_any;      /* some metadata was fed */
};

struct fstream;

struct ffile {
	struct ftrace *tr;  /* borrowed */
	struct fstream *st; /* borrowed; NULL until the first entry is published */
	char *name;         /* owned: tracefile name */
	char *path;         /* owned: absolute tracefile path */
	int data_fd, idx_fd;
	uint32_t esize;    /* index entry size, 0 until the header was read */
	uint64_t next;     /* offset of the next index entry */
	uint64_t first_ts; /* timestamp_begin of the first entry (cycles) */
	bool exhausted;    /* the relay is done with it and it was read */
	dev_t dev;         /* identity of the tracefile (a ring or a new trace */
	ino_t ino;         /* chunk replaces the file at the same path) */
	dev_t idev;        /* identity of the index file, once opened */
	ino_t iino;
	bool has_iino;
};

struct fstream {
	struct ftrace *tr;    /* borrowed */
	uint64_t sc_id, inst; /* key; inst UINT64_MAX for index 1.0 */
	struct ffile **files; /* borrowed from the follower, reading order */
	size_t nfiles, cur;
	struct ctflive_ctf_bufsrc *src; /* owned */
	struct ctflive_ctf_stream *dec; /* owned; borrows tr->trace and src */
	char *label;                    /* owned: absolute path of the first file */
	struct ctflive_ctf_msg head;
	bool has_head, done, ended;
	uint64_t pushed, begins; /* packets pushed / PACKET_BEGIN decoded */
	bool has_end;            /* a packet was pushed: last_end is valid */
	uint64_t last_end;       /* timestamp_end of the last pushed packet (cycles) */
	uint64_t nlost;          /* lost entries after the last pushed packet */
	uint64_t lost_end;       /* timestamp_end of the last lost entry (cycles) */
	bool lost_emitted;       /* the end-of-stream lost message was returned */
};

struct ctflive_follow {
	char *dir; /* owned, as given */
	struct ctflive_follow_options opts;
	bool has_marker, final, final_read;
	int marker_fd;
	char marker_state[32]; /* read when the marker is found unlocked */
	bool state_warned;
	int ino_fd; /* -1 without inotify */
	bool dirty; /* inotify saw a change: rescan */
	int64_t last_scan;
	struct ftrace **traces; /* owned */
	size_t ntraces;
	struct ffile **files; /* owned */
	size_t nfiles;
	struct fstream **streams; /* owned */
	size_t nstreams;
	struct fstream *emitted; /* its head was returned by the last call */
	int64_t last_ns;         /* time of the last message returned */
	int64_t last_poll;       /* CLOCK_MONOTONIC ns of the last poll that found nothing */
	bool pushed;             /* the last poll pushed packets */
	uint64_t lost;
	char **warnings; /* owned: pending warnings of the follower */
	size_t nwarnings, warned;
	uint8_t *buf; /* owned scratch buffer for packets */
	size_t buflen;
	char warning[PATH_MAX + 300];
	int err;
	char errmsg[PATH_MAX + 300];
};

__attribute__((format(printf, 3, 4))) static int fail(struct ctflive_follow *f, int r,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->errmsg, sizeof(f->errmsg), fmt, ap);
	va_end(ap);
	f->err = r;
	return r;
}

/* Queues a warning for ctflive_follow_next_warning(); dropped without memory. */
__attribute__((format(printf, 2, 3))) static void add_warning(struct ctflive_follow *f,
							      const char *fmt, ...)
{
	char buf[PATH_MAX + 300], *w, **n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = realloc(f->warnings, (f->nwarnings + 1) * sizeof(*n));
	if (!n)
		return;
	f->warnings = n;
	w = strdup(buf);
	if (w)
		f->warnings[f->nwarnings++] = w;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s%s", a, *a && *b ? "/" : "", b);
	return p;
}

static int file_size(int fd, uint64_t *ret)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return -errno;
	*ret = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
	return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

const char *ctflive_follow_error(const struct ctflive_follow *f)
{
	return f ? f->errmsg : "";
}

bool ctflive_follow_has_marker(const struct ctflive_follow *f)
{
	return f->has_marker;
}

uint64_t ctflive_follow_lost_packets(const struct ctflive_follow *f)
{
	return f->lost;
}

int ctflive_follow_new(const char *dir, const struct ctflive_follow_options *opts,
		       struct ctflive_follow **ret)
{
	struct ctflive_follow *f;
	struct stat sb;
	char *mpath;

	if (!dir || !ret)
		return -EINVAL;
	if (stat(dir, &sb) < 0)
		return -errno;
	if (!S_ISDIR(sb.st_mode))
		return -ENOTDIR;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->marker_fd = -1;
	f->ino_fd = -1;
	if (opts)
		f->opts = *opts;
	if (f->opts.grace_ms <= 0)
		f->opts.grace_ms = CTFLIVE_FOLLOW_DEFAULT_GRACE_MS;
	if (f->opts.rescan_ms <= 0)
		f->opts.rescan_ms = 1000;
	f->dir = strdup(dir);
	mpath = f->dir ? path_join(dir, MARKER_NAME) : NULL;
	if (!mpath) {
		ctflive_follow_free(f);
		return -ENOMEM;
	}
	f->marker_fd = open(mpath, O_RDONLY | O_CLOEXEC);
	free(mpath);
	f->has_marker = f->marker_fd >= 0;
	f->final = !f->has_marker;
	if (!f->opts.no_inotify && f->has_marker)
		f->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	f->dirty = true;
	f->last_ns = INT64_MIN;
	f->pushed = true;
	*ret = f;
	return 0;
}

static void stream_free(struct fstream *s)
{
	if (!s)
		return;
	ctflive_ctf_stream_free(s->dec);
	ctflive_ctf_bufsrc_free(s->src);
	free(s->files);
	free(s->label);
	free(s);
}

struct ctflive_follow *ctflive_follow_free(struct ctflive_follow *f)
{
	if (!f)
		return NULL;
	for (size_t i = 0; i < f->nstreams; i++)
		stream_free(f->streams[i]);
	for (size_t i = 0; i < f->nfiles; i++) {
		struct ffile *fi = f->files[i];

		if (fi->data_fd >= 0)
			close(fi->data_fd);
		if (fi->idx_fd >= 0)
			close(fi->idx_fd);
		free(fi->name);
		free(fi->path);
		free(fi);
	}
	for (size_t i = 0; i < f->ntraces; i++) {
		struct ftrace *t = f->traces[i];

		ctflive_ctf_trace_free(t->trace);
		if (t->md_fd >= 0)
			close(t->md_fd);
		free(t->dir);
		free(t->rel);
		free(t->name);
		free(t);
	}
	if (f->marker_fd >= 0)
		close(f->marker_fd);
	if (f->ino_fd >= 0)
		close(f->ino_fd);
	for (size_t i = 0; i < f->nwarnings; i++)
		free(f->warnings[i]);
	free(f->warnings);
	free(f->streams);
	free(f->files);
	free(f->traces);
	free(f->buf);
	free(f->dir);
	free(f);
	return NULL;
}

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
static struct ffile *newest_at(const struct ctflive_follow *f, const char *path)
{
	for (size_t i = f->nfiles; i-- > 0;)
		if (!strcmp(f->files[i]->path, path))
			return f->files[i];
	return NULL;
}

/* A newer file replaced `fi` at its path (tracefile ring, new trace chunk). */
static bool superseded(const struct ctflive_follow *f, const struct ffile *fi)
{
	return newest_at(f, fi->path) != fi;
}

/*
 * Whether the tracefile `sb` at `path` is known: the newest file opened at
 * that path is this inode, or a file still open is (a directory moved by a
 * rotation shows the same files under another path).
 */
static bool has_file(const struct ctflive_follow *f, const char *path, const struct stat *sb)
{
	const struct ffile *n = newest_at(f, path);

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
	struct ftrace *t, **n;
	int r;

	n = realloc(f->traces, (f->ntraces + 1) * sizeof(*n));
	if (!n)
		return fail(f, -ENOMEM, "out of memory");
	f->traces = n;
	t = calloc(1, sizeof(*t));
	if (!t)
		return fail(f, -ENOMEM, "out of memory");
	t->md_fd = -1;
	t->dir = strdup(dir);
	t->rel = strdup(rel);
	if (!t->dir || !t->rel) {
		free(t->dir);
		free(t->rel);
		free(t);
		return fail(f, -ENOMEM, "out of memory");
	}
	r = ctflive_ctf_trace_new(&t->trace);
	if (r < 0) {
		free(t->dir);
		free(t->rel);
		free(t);
		return fail(f, r, "out of memory");
	}
	f->traces[f->ntraces++] = t;
	return 0;
}

/* Opens tracefile `name` of trace `t` (its index file is opened later). */
static int add_file(struct ctflive_follow *f, struct ftrace *t, const char *name,
		    const struct stat *sb)
{
	struct ffile *fi, **n;
	struct stat osb;
	char *path;

	path = path_join(t->dir, name);
	if (!path)
		return fail(f, -ENOMEM, "out of memory");
	if (has_file(f, path, sb)) {
		free(path);
		return 0;
	}
	fi = calloc(1, sizeof(*fi));
	n = realloc(f->files, (f->nfiles + 1) * sizeof(*n));
	if (n)
		f->files = n;
	if (!fi || !n) {
		free(fi);
		free(path);
		return fail(f, -ENOMEM, "out of memory");
	}
	fi->tr = t;
	fi->path = path;
	fi->name = strdup(name);
	fi->next = IDX_HDR;
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
		int r = fi->name ? 0 : fail(f, -ENOMEM, "out of memory");

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
		return depth == 0 ? fail(f, -errno, "cannot open '%s': %s", dir, strerror(errno))
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

static int drain_inotify(struct ctflive_follow *f)
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

static int rescan(struct ctflive_follow *f, bool force)
{
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	int r;

	(void)drain_inotify(f);
	if (!force && !f->dirty && now - f->last_scan < (int64_t)f->opts.rescan_ms * 1000000)
		return 0;
	f->dirty = false;
	f->last_scan = now;
	r = scan_dir(f, f->dir, "", 0);
	/* Files read to their end and replaced since, once the newer file has
	 * its own index (read_entry() compares it with the older ones). */
	for (size_t i = 0; r >= 0 && i < f->nfiles; i++) {
		struct ffile *fi = f->files[i];

		if (!fi->exhausted || fi->data_fd < 0 || !superseded(f, fi) ||
		    !newest_at(f, fi->path)->has_iino ||
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

#define MD_MAGIC 0x75D11D57u
#define MD_HDR   37u

/* Byte order of a packetized metadata header: 1 big-endian, 0 little, -1 none. */
static int md_order(const uint8_t *h)
{
	if (get_be32(h) == MD_MAGIC)
		return 1;
	if (((uint32_t)h[3] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[1] << 8 | h[0]) == MD_MAGIC)
		return 0;
	return -1;
}

static uint32_t md_get32(const uint8_t *p, int be)
{
	return be ? get_be32(p)
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
	while (len - off >= MD_HDR) {
		const uint8_t *h = buf + off;
		uint64_t cb = md_get32(h + 24, be) / 8, pb = md_get32(h + 28, be) / 8;
		uint64_t tl, k;

		if (md_order(h) != be || cb < MD_HDR || cb > pb)
			return -EBADMSG;
		if (pb > len - off) {
			if (!all || cb > len - off)
				break;
			pb = len - off;
		}
		tl = cb - MD_HDR;
		text += tl;
		if (out) {
			k = *skip < tl ? *skip : tl;
			*skip -= k;
			if (tl > k) {
				memcpy(out + o, h, MD_HDR);
				md_put32(out + o + 24, be, (uint32_t)((MD_HDR + tl - k) * 8));
				md_put32(out + o + 28, be, (uint32_t)((MD_HDR + tl - k) * 8));
				memcpy(out + o + MD_HDR, h + MD_HDR + k, (size_t)(tl - k));
				o += MD_HDR + tl - k;
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
	    file_size(t->md_fd, &size) < 0 || t->md_off < size)
		return 0; /* the old one first */
	if (t->md_off) {
		buf = malloc((size_t)t->md_off);
		if (!buf)
			return fail(f, -ENOMEM, "out of memory");
		r = ctflive_follow_pread_locked(t->md_fd, buf, (size_t)t->md_off, 0);
		if (r == 0)
			r = md_walk(buf, t->md_off, true, &used, &text, NULL, NULL, NULL);
		free(buf);
		if (r < 0)
			return fail(f, r, "cannot read '%s/metadata' again: %s", t->dir,
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
		return fail(f, -ENOMEM, "out of memory");
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
			fail(f, r, "%s/metadata: bad metadata packet after a new trace chunk",
			     t->dir);
			goto out;
		}
	}
	if (r < 0) {
		fail(f, r, "cannot read '%s/metadata': %s", t->dir, strerror(-r));
		goto out;
	}
	if (olen) {
		memset(&diag, 0, sizeof(diag));
		r = ctflive_ctf_trace_add_metadata(t->trace, out, (size_t)olen, &diag);
		if (r < 0) {
			fail(f, r, "%s/metadata:%d:%d: %s", t->dir, diag.line, diag.col, diag.msg);
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

static int poll_metadata(struct ctflive_follow *f, struct ftrace *t)
{
	uint64_t end = 0, size = 0;
	uint8_t *buf;
	int r;

	if (t->md_fd >= 0 && !f->final_read) {
		char *p = path_join(t->dir, "metadata");

		if (!p)
			return fail(f, -ENOMEM, "out of memory");
		r = switch_metadata(f, t, p);
		free(p);
		if (r < 0)
			return r;
	}
	if (t->md_fd < 0) {
		char *p = path_join(t->dir, "metadata");
		struct stat sb;

		if (!p)
			return fail(f, -ENOMEM, "out of memory");
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
		r = file_size(t->md_fd, &size);
	if (r < 0)
		return fail(f, r, "cannot read '%s/metadata': %s", t->dir, strerror(-r));
	if (end > size)
		end = size;
	if (end <= t->md_off)
		return 0;
	if (end > CTFLIVE_LIVE_MAX_METADATA)
		return fail(f, -E2BIG, "metadata of '%s' is too large", t->dir);
	if (t->md_switched)
		return poll_switched_metadata(f, t, end, end == size && f->final);
	buf = malloc(MD_CHUNK);
	if (!buf)
		return fail(f, -ENOMEM, "out of memory");
	while (t->md_off < end) {
		size_t n = end - t->md_off > MD_CHUNK ? MD_CHUNK : (size_t)(end - t->md_off);
		struct ctflive_ctf_diag diag;

		r = ctflive_follow_pread_locked(t->md_fd, buf, n, t->md_off);
		if (r == -EAGAIN || r == -EMSGSIZE) {
			r = 0; /* raced with the relay: next time */
			break;
		}
		if (r < 0) {
			fail(f, r, "cannot read '%s/metadata': %s", t->dir, strerror(-r));
			break;
		}
		memset(&diag, 0, sizeof(diag));
		r = ctflive_ctf_trace_add_metadata(t->trace, buf, n, &diag);
		if (r < 0) {
			fail(f, r, "%s/metadata:%d:%d: %s", t->dir, diag.line, diag.col, diag.msg);
			break;
		}
		t->md_off += n;
		t->md_any = true;
	}
	free(buf);
	return r;
}

static const char *trace_name(struct ftrace *t)
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

/* ---- streams and index entries ---------------------------------------- */

struct entry {
	uint64_t offset, packet_bits, content_bits, ts_begin, ts_end, sc_id, inst, seq;
};

static void parse_entry(const uint8_t *p, uint32_t esize, struct entry *e)
{
	e->offset = get_be64(p);
	e->packet_bits = get_be64(p + 8);
	e->content_bits = get_be64(p + 16);
	e->ts_begin = get_be64(p + 24);
	e->ts_end = get_be64(p + 32);
	e->sc_id = get_be64(p + 48);
	e->inst = esize >= 64 ? get_be64(p + 56) : UINT64_MAX;
	e->seq = esize >= 72 ? get_be64(p + 64) : UINT64_MAX;
}

/* Reads the index header of `fi`. 0 if not published yet, 1 when read. */
static int read_header(struct ctflive_follow *f, struct ffile *fi)
{
	uint8_t h[IDX_HDR];
	uint32_t major, esize;
	int r = ctflive_follow_pread_locked(fi->idx_fd, h, sizeof(h), 0);

	if (r == -EAGAIN || r == -EMSGSIZE)
		return 0;
	if (r < 0)
		return fail(f, r, "cannot read the index of '%s': %s", fi->path, strerror(-r));
	major = get_be32(h + 4);
	esize = get_be32(h + 12);
	if (get_be32(h) != IDX_MAGIC)
		return fail(f, -EBADMSG, "bad index magic in the index of '%s'", fi->path);
	if (major != 1)
		return fail(f, -ENOTSUP, "unsupported index version %" PRIu32 " of '%s'", major,
			    fi->path);
	if (esize < 56 || esize > IDX_ENTRY_MAX)
		return fail(f, -EBADMSG, "bad index entry size %" PRIu32 " of '%s'", esize,
			    fi->path);
	fi->esize = esize;
	return 1;
}

/*
 * Reads index entry at fi->next into `raw`. Returns 1 when read, 0 if it is
 * not published (or not whole), negative errno.
 */
static int read_entry(struct ctflive_follow *f, struct ffile *fi, uint8_t *raw)
{
	int r;

	if (fi->idx_fd < 0) {
		char ipath[PATH_MAX];
		struct stat isb, dsb;

		/* The index at this path belongs to a newer tracefile now. */
		if (superseded(f, fi))
			return 0;
		if (snprintf(ipath, sizeof(ipath), "%s/index/%s.idx", fi->tr->dir, fi->name) >=
		    (int)sizeof(ipath))
			return 0;
		fi->idx_fd = open(ipath, O_RDONLY | O_CLOEXEC);
		if (fi->idx_fd < 0)
			return 0;
		/* The relay replaces the tracefile, then its index: the index
		 * must not be the one of an older file at the same path, and the
		 * tracefile must still be ours (else it belongs to a newer one). */
		bool bad = fstat(fi->idx_fd, &isb) < 0 || stat(fi->path, &dsb) < 0 ||
			   dsb.st_dev != fi->dev || dsb.st_ino != fi->ino;

		for (size_t i = 0; !bad && i < f->nfiles; i++) {
			const struct ffile *o = f->files[i];

			/* Only open ones: a closed inode may be reused. */
			bad = o != fi && o->idx_fd >= 0 && o->idev == isb.st_dev &&
			      o->iino == isb.st_ino && !strcmp(o->path, fi->path);
		}
		if (bad) {
			close(fi->idx_fd);
			fi->idx_fd = -1;
			return 0;
		}
		fi->idev = isb.st_dev;
		fi->iino = isb.st_ino;
		fi->has_iino = true;
	}
	if (!fi->esize) {
		r = read_header(f, fi);
		if (r <= 0)
			return r;
	}
	r = ctflive_follow_pread_locked(fi->idx_fd, raw, fi->esize, fi->next);
	if (r == -EAGAIN || r == -EMSGSIZE)
		return 0;
	if (r < 0)
		return fail(f, r, "cannot read the index of '%s': %s", fi->path, strerror(-r));
	return 1;
}

static int cmp_files(const void *a, const void *b)
{
	const struct ffile *x = *(struct ffile *const *)a, *y = *(struct ffile *const *)b;

	if (x->first_ts != y->first_ts)
		return x->first_ts < y->first_ts ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Attaches `fi`, whose first entry is `e`, to its stream (created if new). */
static int attach_file(struct ctflive_follow *f, struct ffile *fi, const struct entry *e)
{
	struct ctflive_ctf_source src;
	struct fstream *s = NULL, **ns;
	struct ffile **nf;
	int r;

	fi->first_ts = e->ts_begin;
	for (size_t i = 0; e->inst != UINT64_MAX && i < f->nstreams; i++) {
		struct fstream *o = f->streams[i];

		if (o->tr == fi->tr && o->sc_id == e->sc_id && o->inst == e->inst && !o->ended) {
			s = o;
			break;
		}
	}
	if (!s) {
		ns = realloc(f->streams, (f->nstreams + 1) * sizeof(*ns));
		if (!ns)
			return fail(f, -ENOMEM, "out of memory");
		f->streams = ns;
		s = calloc(1, sizeof(*s));
		if (!s)
			return fail(f, -ENOMEM, "out of memory");
		s->tr = fi->tr;
		s->sc_id = e->sc_id;
		s->inst = e->inst;
		s->label = strdup(fi->path);
		r = s->label ? ctflive_ctf_bufsrc_new(&s->src) : -ENOMEM;
		if (r >= 0) {
			src = ctflive_ctf_bufsrc_source(s->src);
			r = ctflive_ctf_stream_new(fi->tr->trace, &src, &s->dec);
		}
		if (r < 0) {
			stream_free(s);
			return fail(f, r, "cannot create a stream decoder: %s", strerror(-r));
		}
		ctflive_ctf_stream_set_labels(s->dec, trace_name(fi->tr), s->label,
					      e->inst != UINT64_MAX ? e->inst
								    : fi->tr->next_auto_id++);
		f->streams[f->nstreams++] = s;
	}
	nf = realloc(s->files, (s->nfiles + 1) * sizeof(*nf));
	if (!nf)
		return fail(f, -ENOMEM, "out of memory");
	s->files = nf;
	s->files[s->nfiles++] = fi;
	fi->st = s;
	/* Keep the files not read yet in time order (the current one too if
	 * nothing was read from it). */
	{
		size_t from = s->files[s->cur]->next == IDX_HDR ? s->cur : s->cur + 1;

		if (s->nfiles > from + 1)
			qsort(s->files + from, s->nfiles - from, sizeof(*nf), cmp_files);
	}
	return 0;
}

static int grow_buf(struct ctflive_follow *f, size_t n)
{
	uint8_t *b;

	if (n <= f->buflen)
		return 0;
	b = realloc(f->buf, n);
	if (!b)
		return fail(f, -ENOMEM, "out of memory");
	f->buf = b;
	f->buflen = n;
	return 0;
}

/*
 * Reads published entries and packets of the current file of `s`, at most
 * MAX_AHEAD packets ahead of the decoder. Moves to the next file when the
 * relay is done with this one. Returns 0 or a negative errno.
 */
static int poll_stream(struct ctflive_follow *f, struct fstream *s)
{
	uint8_t raw[IDX_ENTRY_MAX];

	while (s->cur < s->nfiles && s->pushed - s->begins < MAX_AHEAD) {
		struct ffile *fi = s->files[s->cur];
		struct entry e;
		uint64_t dsize = 0, len;
		int r;

		if (fi->exhausted) {
			/* Read to its end: continue with the next file in time order
			 * (ring slot or trace chunk replaced: a new file). */
			if (s->cur + 1 >= s->nfiles)
				return 0;
			s->cur++;
			continue;
		}
		r = read_entry(f, fi, raw);
		if (r < 0)
			return r;
		if (r == 0) {
			uint64_t end;

			/* Nothing published: is the relay done with this file? */
			if (!f->final) {
				r = ctflive_follow_safe_end(fi->idx_fd, 0, &end);
				if (r < 0 || end != UINT64_MAX)
					return 0;
			}
			fi->exhausted = true;
			if (s->cur + 1 >= s->nfiles)
				return 0;
			s->cur++;
			continue;
		}
		parse_entry(raw, fi->esize, &e);
		if (e.offset == UINT64_MAX) {
			/* The decoder reports the packet_seq_num gap it leaves before
			 * the next packet; lost packets at the end are ours to report. */
			if (e.seq != UINT64_MAX) {
				r = ctflive_ctf_stream_mark_lost(s->dec, e.seq);
				if (r < 0 && r != -E2BIG)
					return fail(f, r, "out of memory");
			}
			s->nlost++;
			s->lost_end = e.ts_end;
			f->lost++;
			fi->next += fi->esize;
			continue;
		}
		len = e.packet_bits / 8;
		if (e.packet_bits % 8 || len == 0 || len > CTFLIVE_LIVE_MAX_PACKET ||
		    e.content_bits > e.packet_bits)
			return fail(f, -EBADMSG,
				    "bad index entry %" PRIu64 " of '%s' (packet of %" PRIu64
				    " bits)",
				    (fi->next - IDX_HDR) / fi->esize, fi->path, e.packet_bits);
		r = file_size(fi->data_fd, &dsize);
		if (r < 0)
			return fail(f, r, "cannot read '%s': %s", fi->path, strerror(-r));
		if (e.offset > dsize || len > dsize - e.offset) {
			/* Without the relay (crash, no marker) such an entry is not whole. */
			if (f->final) {
				fi->exhausted = true;
				if (s->cur + 1 >= s->nfiles)
					return 0;
				s->cur++;
				continue;
			}
			return 0; /* the relay broke the contract, or a race: retry */
		}
		r = grow_buf(f, (size_t)len);
		if (r < 0)
			return r;
		r = ctflive_follow_pread_locked(fi->data_fd, f->buf, (size_t)len, e.offset);
		if (r == -EAGAIN || r == -EMSGSIZE)
			return 0;
		if (r < 0)
			return fail(f, r, "cannot read '%s': %s", fi->path, strerror(-r));
		r = ctflive_ctf_bufsrc_push(s->src, f->buf, (size_t)len);
		if (r < 0)
			return fail(f, r, "out of memory");
		s->pushed++;
		s->nlost = 0;
		s->has_end = true;
		s->last_end = e.ts_end;
		fi->next += fi->esize;
	}
	return 0;
}

/* Reads the first entry of files not attached to a stream yet. */
static int poll_new_files(struct ctflive_follow *f)
{
	uint8_t raw[IDX_ENTRY_MAX];

	for (size_t i = 0; i < f->nfiles; i++) {
		struct ffile *fi = f->files[i];
		struct entry e;
		int r;

		if (fi->st || fi->exhausted)
			continue;
		if (fi->idx_fd < 0 && superseded(f, fi)) {
			uint64_t size = 0;

			/* Replaced before its index could be opened (the relay
			 * wrapped its ring or cleared the session faster than we
			 * read): its packets are gone. */
			fi->exhausted = true;
			if (file_size(fi->data_fd, &size) == 0 && size > 0)
				add_warning(f,
					    "'%s' was replaced before it could be read: its "
					    "packets (%" PRIu64 " bytes) are lost",
					    fi->path, size);
			continue;
		}
		r = read_entry(f, fi, raw);
		if (r < 0)
			return r;
		if (r == 0) {
			if (f->final)
				fi->exhausted = true;
			continue;
		}
		parse_entry(raw, fi->esize, &e);
		r = attach_file(f, fi, &e);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * One round of reading: marker, new directories and files, index entries
 * and packets, then metadata. Once the marker is seen unlocked a last full
 * round makes every stream final.
 */
static int poll_all(struct ctflive_follow *f)
{
	bool was_final = f->final;
	uint64_t before = 0, after = 0;
	int r;

	if (f->final_read)
		return 0;
	for (size_t i = 0; i < f->nstreams; i++)
		before += f->streams[i]->pushed;
	if (!f->final && !ctflive_follow_is_locked(f->marker_fd)) {
		ssize_t n = pread(f->marker_fd, f->marker_state, sizeof(f->marker_state) - 1, 0);

		f->marker_state[n > 0 ? n : 0] = '\0';
		f->marker_state[strcspn(f->marker_state, "\n")] = '\0';
		f->final = true;
	}
	r = rescan(f, f->final && !was_final);
	if (r < 0)
		return r;
	/* Metadata first too: new streams need it to be decoded at all. */
	for (size_t i = 0; i < f->ntraces; i++) {
		r = poll_metadata(f, f->traces[i]);
		if (r < 0)
			return r;
	}
	r = poll_new_files(f);
	if (r < 0)
		return r;
	for (size_t i = 0; i < f->nstreams; i++) {
		r = poll_stream(f, f->streams[i]);
		if (r < 0)
			return r;
		after += f->streams[i]->pushed;
	}
	f->pushed = after != before;
	if (!f->pushed)
		f->last_poll = clock_ns(CLOCK_MONOTONIC);
	for (size_t i = 0; i < f->ntraces; i++) {
		r = poll_metadata(f, f->traces[i]);
		if (r < 0)
			return r;
	}
	if (!f->final)
		return 0;
	/* Final: a stream whose last file is read ends. */
	for (size_t i = 0; i < f->nstreams; i++) {
		struct fstream *s = f->streams[i];

		if (!s->ended && s->cur + 1 >= s->nfiles && s->files[s->cur]->exhausted) {
			ctflive_ctf_bufsrc_end(s->src);
			s->ended = true;
		}
	}
	f->final_read = true;
	for (size_t i = 0; i < f->nstreams; i++)
		if (!f->streams[i]->ended)
			f->final_read = false; /* bounded read-ahead: more rounds */
	if (f->final_read) {
		for (size_t i = 0; i < f->ntraces; i++) {
			struct ctflive_ctf_diag diag;

			memset(&diag, 0, sizeof(diag));
			if (!f->traces[i]->md_any)
				continue;
			r = ctflive_ctf_trace_end_metadata(f->traces[i]->trace, &diag);
			if (r < 0)
				return fail(f, r, "%s/metadata:%d:%d: %s", f->traces[i]->dir,
					    diag.line, diag.col, diag.msg);
		}
	}
	return 0;
}

/* ---- merging ---------------------------------------------------------- */

/* The message for lost entries after the last packet of an ended stream. */
static bool trailing_lost(struct fstream *s, struct ctflive_ctf_msg *m)
{
	const struct ctflive_ctf_stream *d = s->dec;

	if (!s->nlost || s->lost_emitted)
		return false;
	s->lost_emitted = true;
	memset(m, 0, sizeof(*m));
	m->type = CTFLIVE_CTF_MSG_DISCARDED_PACKETS;
	m->count = s->nlost;
	m->count_known = true;
	m->lost_in_transit = true;
	if (d->sc && d->sc->clock && s->has_end) {
		m->has_time = m->has_range = true;
		m->begin_cycles = m->cycles = s->last_end;
		m->end_cycles = s->lost_end;
		m->begin_ns = m->ns = cl_clock_ns(d->sc->clock, s->last_end);
		m->end_ns = cl_clock_ns(d->sc->clock, s->lost_end);
	}
	s->nlost = 0;
	return true;
}

/* Decodes a head for every stream without one. Returns 1 if some stream
 * needs bytes, 0 otherwise, or an error. */
static int fill_heads(struct ctflive_follow *f)
{
	int hungry = 0;

	for (size_t i = 0; i < f->nstreams; i++) {
		struct fstream *s = f->streams[i];
		struct ctflive_ctf_diag diag;
		int r;

		if (s->has_head || s->done)
			continue;
		memset(&diag, 0, sizeof(diag));
		r = ctflive_ctf_stream_next(s->dec, &s->head, &diag);
		if (r == 0) {
			s->has_head = true;
			if (s->head.type == CTFLIVE_CTF_MSG_PACKET_BEGIN)
				s->begins++;
			if (s->pushed - s->begins < MAX_AHEAD / 2)
				hungry = 1;
			continue;
		}
		if (r == CTFLIVE_CTF_END) {
			if (trailing_lost(s, &s->head))
				s->has_head = true;
			else
				s->done = true;
			continue;
		}
		if (r != -EAGAIN)
			return fail(f, r, "cannot decode '%s' at offset %" PRIu64 ": %s", s->label,
				    diag.offset, diag.msg);
		hungry = 1;
	}
	return hungry;
}

static int64_t head_key(const struct fstream *s, int64_t last)
{
	return s->head.has_time ? s->head.ns : last;
}

/*
 * A rotation or a clear is under way: streams are written out of sight, in
 * `.tmp_new_chunk`, and packets held up by it may be older than the grace
 * bound. Nothing is assumed about blocked streams until the new chunk is in
 * place (and the old one archived or deleted).
 */
static bool in_rotation(const struct ctflive_follow *f)
{
	static const char *const names[] = { ".tmp_new_chunk", ".tmp_old_chunk" };
	struct stat sb;
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]) < (int)sizeof(p) &&
		    lstat(p, &sb) == 0)
			return true;
	return false;
}

/*
 * Lower bound of the times a blocked stream (or a file not attached yet)
 * can still produce; false when it must be waited for.
 */
static bool blocked_bound(struct ctflive_follow *f, struct fstream *s, struct ffile *fi,
			  int64_t *ret)
{
	int64_t wall = clock_ns(CLOCK_REALTIME) - (int64_t)f->opts.grace_ms * 1000000;
	uint64_t end = 0, size = 0;

	if (s && s->cur < s->nfiles)
		fi = s->files[s->cur];
	if (!f->final && in_rotation(f))
		return false;
	if (s && fi && fi->exhausted && !f->final) {
		struct stat sb;

		if (stat(fi->path, &sb) == 0) {
			const struct ffile *n = newest_at(f, fi->path);

			if (n->dev != sb.st_dev || n->ino != sb.st_ino) {
				f->dirty = true; /* replaced, not scanned yet */
				return false;
			}
		}
	}
	/* Bytes written but not published: the relay is committing them. */
	if (fi && (ctflive_follow_safe_end(fi->data_fd, 0, &end) < 0 ||
		   file_size(fi->data_fd, &size) < 0 || (end != UINT64_MAX && end < size)))
		return false;
	if (s && s->has_end && s->dec->sc && s->dec->sc->clock) {
		int64_t e = cl_clock_ns(s->dec->sc->clock, s->last_end);

		if (e > wall)
			wall = e;
	}
	*ret = wall;
	return true;
}

/*
 * A stream waiting for bytes asks for a poll on every call; when the last
 * poll found nothing, polls are spaced POLL_GAP_NS apart so that an idle
 * stream does not cost a round of system calls per message of the others.
 */
#define POLL_GAP_NS 5000000LL

static bool may_poll(struct ctflive_follow *f)
{
	return f->pushed || clock_ns(CLOCK_MONOTONIC) - f->last_poll >= POLL_GAP_NS;
}

int ctflive_follow_next(struct ctflive_follow *f, const struct ctflive_ctf_stream **ret_stream,
			struct ctflive_ctf_msg *ret_msg)
{
	bool polled = false;
	int r;

	if (!f || !ret_stream || !ret_msg)
		return -EINVAL;
	if (f->err)
		return f->err;
	if (f->emitted) {
		f->emitted->has_head = false;
		f->emitted = NULL;
	}
	for (;;) {
		struct fstream *best = NULL;
		bool can_emit = true;
		int64_t best_key = 0;

		r = fill_heads(f);
		if (r < 0)
			return r;
		if (r > 0 && !polled && may_poll(f)) {
			polled = true;
			r = poll_all(f);
			if (r < 0)
				return r;
			continue;
		}
		for (size_t i = 0; i < f->nstreams; i++) {
			struct fstream *s = f->streams[i];
			int64_t k;

			if (!s->has_head)
				continue;
			k = head_key(s, f->last_ns);
			if (!best || k < best_key ||
			    (k == best_key && cl_ctf_stream_order(s->dec, best->dec) < 0)) {
				best = s;
				best_key = k;
			}
		}
		if (!f->final_read) {
			for (size_t i = 0; can_emit && i < f->nstreams; i++) {
				struct fstream *s = f->streams[i];
				int64_t bound;

				if (s->has_head || s->done)
					continue;
				if (!best || !blocked_bound(f, s, NULL, &bound) || bound < best_key)
					can_emit = false;
			}
			for (size_t i = 0; can_emit && i < f->nfiles; i++) {
				struct ffile *fi = f->files[i];
				int64_t bound;

				if (fi->st || fi->exhausted)
					continue;
				if (!best || !blocked_bound(f, NULL, fi, &bound) ||
				    bound < best_key)
					can_emit = false;
			}
		}
		if (best && can_emit) {
			f->emitted = best;
			f->last_ns = best_key;
			*ret_stream = best->dec;
			*ret_msg = best->head;
			return 0;
		}
		if (f->final_read && !best) {
			bool all_done = true;

			for (size_t i = 0; i < f->nstreams; i++)
				all_done = all_done && f->streams[i]->done;
			if (all_done)
				return CTFLIVE_CTF_END;
		}
		if (!polled) {
			polled = true;
			r = poll_all(f);
			if (r < 0)
				return r;
			continue;
		}
		return -EAGAIN;
	}
}

/* ---- waiting and warnings --------------------------------------------- */

int ctflive_follow_wait(struct ctflive_follow *f, int timeout_ms)
{
	struct pollfd p = { .fd = f->ino_fd, .events = POLLIN };
	int r;

	if (f->ino_fd < 0) {
		struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return 0;
	}
	r = poll(&p, 1, timeout_ms);
	if (r < 0 && errno != EINTR)
		return -errno;
	if (r > 0)
		(void)drain_inotify(f);
	return 0;
}

const char *ctflive_follow_next_warning(struct ctflive_follow *f)
{
	if (f->warned < f->nwarnings) {
		snprintf(f->warning, sizeof(f->warning), "%s", f->warnings[f->warned]);
		free(f->warnings[f->warned]);
		f->warnings[f->warned++] = NULL;
		return f->warning;
	}
	if (f->final && f->has_marker && !f->state_warned &&
	    strcmp(f->marker_state, "complete") != 0) {
		/* doc/file-formats.md §4: anything but "complete" is an unfinished session. */
		f->state_warned = true;
		snprintf(f->warning, sizeof(f->warning),
			 "%s: the session did not end normally (session marker: '%s'%s); "
			 "everything published before that is printed",
			 f->dir, f->marker_state,
			 !strcmp(f->marker_state, "active") ? ", the relay stopped" : "");
		return f->warning;
	}
	for (size_t i = 0; i < f->ntraces; i++) {
		struct ftrace *t = f->traces[i];
		const struct ctflive_ctf_diag *d;

		if (t->warned >= ctflive_ctf_trace_warning_count(t->trace))
			continue;
		d = ctflive_ctf_trace_warning(t->trace, t->warned++);
		snprintf(f->warning, sizeof(f->warning), "%s/metadata:%d:%d: %s", t->dir, d->line,
			 d->col, d->msg);
		return f->warning;
	}
	return NULL;
}
