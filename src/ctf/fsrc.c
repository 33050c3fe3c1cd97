/* SPDX-License-Identifier: MIT */
/*
 * Trace directories on the file system (babeltrace2 src.ctf.fs rules,
 * ctf-decoding.md §1): finding traces, merging those with one UUID, grouping
 * files into streams, and the mmap-backed byte source. Framing the files is
 * in fsrc-frame.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctf-internal.h"
#include "ctflive/ctf-fs.h"
#include "fsrc.h"
#include "grow.h"

/* ---- source ----------------------------------------------------------- */

static int fs_request(void *ctx, size_t want, struct ctflive_bytes *ret)
{
	struct fstream *st = ctx;

	const struct frun *run;

	while (st->cur < st->nruns && st->pos == st->runs[st->cur].len) {
		st->cur++;
		st->pos = 0;
	}
	if (st->cur >= st->nruns) {
		ret->data = NULL;
		ret->len = 0;
		return CTFLIVE_CTF_END;
	}
	run = &st->runs[st->cur];
	ret->data = st->files[run->file].map + run->off + st->pos;
	ret->len = run->len - st->pos;
	return ret->len >= want ? 0 : CTFLIVE_CTF_END;
}

static void fs_consume(void *ctx, size_t n)
{
	struct fstream *st = ctx;
	size_t left = st->runs[st->cur].len - st->pos;

	st->pos += n < left ? n : left;
}

/* ---- helpers ---------------------------------------------------------- */

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *buf;
	size_t off = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || sb.st_size < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if ((uint64_t)sb.st_size > CL_TSDL_MAX_TEXT * 2u) {
		close(fd);
		return -E2BIG;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)sb.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_len = off;
	return 0;
}

int cl_fsrc_map_file(const char *path, const uint8_t **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	void *p;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (sb.st_size == 0) {
		close(fd);
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	/* prefault moderate files in one go (page faults cost more than the
	 * decoding on VMs); map big ones lazily */
	p = mmap(NULL, (size_t)sb.st_size, PROT_READ,
		 MAP_PRIVATE | (sb.st_size <= (256 << 20) ? MAP_POPULATE : 0), fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	(void)madvise(p, (size_t)sb.st_size, MADV_SEQUENTIAL);
	*ret = p;
	*ret_len = (size_t)sb.st_size;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int strv_add(struct strv *s, const char *str)
{
	if (cl_grow(&s->v, &s->cap, s->n + 1) < 0)
		return -ENOMEM;
	s->v[s->n] = strdup(str);
	if (!s->v[s->n])
		return -ENOMEM;
	s->n++;
	return 0;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* The directories being searched, from the input down, by device and
 * inode: a symbolic link back to one of them would loop. */
struct search {
	struct {
		dev_t dev;
		ino_t ino;
	} * v;
	size_t n, cap;
	char *unreadable; /* owned: the first metadata file that could not be read */
	struct strv *warnings;
};

static int push_dir(struct search *se, const struct stat *sb)
{
	if (cl_grow(&se->v, &se->cap, se->n + 1) < 0)
		return -ENOMEM;
	se->v[se->n].dev = sb->st_dev;
	se->v[se->n].ino = sb->st_ino;
	se->n++;
	return 0;
}

static bool on_path(const struct search *se, const struct stat *sb)
{
	for (size_t i = 0; i < se->n; i++)
		if (se->v[i].dev == sb->st_dev && se->v[i].ino == sb->st_ino)
			return true;
	return false;
}

static int warn(struct search *se, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int warn(struct search *se, const char *fmt, ...)
{
	char msg[PATH_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return strv_add(se->warnings, msg);
}

/*
 * Collects trace directories as babeltrace2 2.0.4's source discovery does:
 * a directory holding a readable `metadata` file is a trace and is not
 * searched further; other directories are searched, following symbolic
 * links (so a trace reached twice is read twice, and merged with itself if
 * it has a UUID) except back into a directory being searched. A
 * subdirectory that cannot be read is skipped with a warning; the input
 * itself must be readable (`errpath` names what failed).
 */
static int find_traces(const char *dir, struct strv *out, int depth, struct search *se,
		       char *errpath, size_t errpath_size)
{
	char path[PATH_MAX];
	struct stat sb;
	DIR *d;
	struct dirent *de;
	struct strv subs = { 0 };
	int r = 0;

	if (depth > 32)
		return warn(se, "'%s': more than 32 directory levels, ignoring", dir);
	if (stat(dir, &sb) < 0) {
		snprintf(errpath, errpath_size, "%s", dir);
		return -errno;
	}
	if (on_path(se, &sb))
		return 0;
	if (snprintf(path, sizeof(path), "%s/metadata", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* a metadata file this user cannot read does not make a trace: an
	 * error only when nothing else is found */
	if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		if (access(path, R_OK) == 0)
			return strv_add(out, dir);
		if (!se->unreadable)
			se->unreadable = strdup(path);
		r = warn(se, "cannot read '%s': %s, ignoring this trace", path, strerror(errno));
		if (r < 0)
			return r;
	}
	d = opendir(dir);
	if (!d) {
		if (depth > 0)
			return warn(se, "cannot open directory '%s': %s, ignoring", dir,
				    strerror(errno));
		snprintf(errpath, errpath_size, "%s", dir);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			r = strv_add(&subs, path);
			if (r < 0)
				break;
		}
	}
	closedir(d);
	if (subs.n)
		qsort(subs.v, subs.n, sizeof(*subs.v), cmp_str);
	if (r >= 0 && subs.n) {
		size_t level = se->n;

		if (stat(dir, &sb) == 0)
			r = push_dir(se, &sb);
		for (size_t i = 0; r >= 0 && i < subs.n; i++)
			r = find_traces(subs.v[i], out, depth + 1, se, errpath, errpath_size);
		se->n = level;
	}
	strv_free(&subs);
	return r;
}

static int add_trace(struct ctflive_ctf_fs *fs, const char *dir, const char *input,
		     struct ctflive_ctf_diag *reterr)
{
	struct ftrace *tr;
	char mpath[PATH_MAX];
	char *md = NULL;
	size_t mdlen = 0;
	const char *host = NULL, *rel;
	int r;

	if (cl_grow(&fs->traces, &fs->tcap, fs->ntraces + 1) < 0)
		return -ENOMEM;
	tr = &fs->traces[fs->ntraces];
	memset(tr, 0, sizeof(*tr));
	snprintf(mpath, sizeof(mpath), "%s/metadata", dir);
	snprintf(fs->errpath, sizeof(fs->errpath), "%s", mpath);
	r = read_file(mpath, &md, &mdlen);
	if (r < 0)
		return r;
	r = ctflive_ctf_trace_new(&tr->t);
	if (r < 0) {
		free(md);
		return r;
	}
	fs->ntraces++;
	tr->dir = strdup(dir);
	tr->md_len = mdlen;
	r = ctflive_ctf_trace_add_metadata(tr->t, md, mdlen, reterr);
	free(md);
	if (r < 0)
		return r;
	r = ctflive_ctf_trace_end_metadata(tr->t, reterr);
	if (r < 0)
		return r;
	/* trace name: hostname + "/" + path relative to the input */
	rel = dir + strlen(input);
	while (*rel == '/')
		rel++;
	host = tr->t->hostname;
	{
		size_t n = (host ? strlen(host) : 0) + strlen(rel) + 2;

		tr->name = malloc(n);
		if (!tr->name || !tr->dir)
			return -ENOMEM;
		if (host && *rel)
			snprintf(tr->name, n, "%s/%s", host, rel);
		else if (host)
			snprintf(tr->name, n, "%s", host);
		else
			snprintf(tr->name, n, "%s", rel);
	}
	return 0;
}

static uint64_t classes(const struct ctflive_ctf_trace *t)
{
	uint64_t n = 0;

	for (const struct cl_stream_class *sc = t->streams; sc; sc = sc->next)
		n += 1 + sc->nevents;
	return n;
}

/*
 * Streams can be merged only if their times compare: babeltrace2's muxer
 * (muxer.c, validate_clock_class()) takes the first stream's clock as the
 * model (none; absolute, i.e. origin at the Unix epoch, which LTTng's
 * "monotonic" clock is; not absolute with a UUID; not absolute without) and
 * refuses any stream that differs. So does ctflive, before printing.
 */
static int check_clocks(struct ctflive_ctf_fs *fs, struct ctflive_ctf_diag *reterr)
{
	enum clock_kind { ANY, NONE, ABSOLUTE, SAME_UUID, NO_UUID } want = ANY;
	static const char *const what[] = { "", "no clock", "an absolute clock",
					    "a non-absolute clock with UUID",
					    "a non-absolute clock without UUID" };
	const char *uuid = NULL;

	for (size_t i = 0; i < fs->nstreams; i++) {
		const struct fstream *st = &fs->streams[i];
		const struct cl_stream_class *sc =
			cl_trace_stream_class(st->tr->t, st->files[0].sc_id);
		const struct cl_clock *c = sc ? sc->clock : NULL;
		bool abs = c &&
			   (c->absolute || (st->tr->t->is_lttng && !strcmp(c->name, "monotonic")));
		enum clock_kind has = !c            ? NONE
				      : abs         ? ABSOLUTE
				      : c->uuid_str ? SAME_UUID
						    : NO_UUID;

		if (want == ANY) {
			want = has;
			uuid = c ? c->uuid_str : NULL;
			continue;
		}
		if (has == want && (want != SAME_UUID || !strcasecmp(uuid, c->uuid_str)))
			continue;
		snprintf(fs->errpath, sizeof(fs->errpath), "%s", st->files[0].path);
		if (reterr) {
			memset(reterr, 0, sizeof(*reterr));
			reterr->offset = UINT64_MAX;
			snprintf(
				reterr->msg, sizeof(reterr->msg),
				"cannot merge streams by time: this stream has %s%s, the first has %s",
				what[has],
				has == SAME_UUID && want == SAME_UUID ? " (another one)" : "",
				what[want]);
		}
		return -EINVAL;
	}
	return 0;
}

static int cmp_file_begin(const void *a, const void *b)
{
	const struct dfile *x = a, *y = b;

	if (x->begin_ns != y->begin_ns)
		return x->begin_ns < y->begin_ns ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int add_stream_files(struct ctflive_ctf_fs *fs, struct ftrace *tr, struct ftrace *owner,
			    struct ctflive_ctf_diag *reterr)
{
	DIR *d = opendir(tr->dir);
	struct dirent *de;
	struct strv names = { 0 };
	int r = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct stat sb;

		if (de->d_name[0] == '.' || !strcmp(de->d_name, "metadata"))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", tr->dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0)
			continue;
		r = strv_add(&names, path);
		if (r < 0)
			break;
	}
	closedir(d);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; r >= 0 && i < names.n; i++) {
		struct dfile f = { 0 };
		char abs[PATH_MAX];
		size_t k;
		struct ctflive_bytes view;

		if (!realpath(names.v[i], abs))
			snprintf(abs, sizeof(abs), "%s", names.v[i]);
		snprintf(fs->errpath, sizeof(fs->errpath), "%s", abs);
		f.path = strdup(abs);
		if (!f.path) {
			r = -ENOMEM;
			break;
		}
		r = cl_fsrc_map_file(names.v[i], &f.map, &f.len);
		if (r < 0) {
			free(f.path);
			break;
		}
		view.data = f.map;
		view.len = f.len;
		/* every packet is framed before anything is printed, as babeltrace2
		 * does when it indexes a trace: a truncated or corrupt packet
		 * header anywhere is an error now */
		r = cl_fsrc_frame_file(owner->t, f.path, view.data, view.len, cl_fsrc_first_packet,
				       &f, reterr);
		if (r < 0) {
			munmap((void *)(uintptr_t)f.map, f.len);
			free(f.path);
			break;
		}
		/* group with an existing stream of the same trace? */
		for (k = 0; k < fs->nstreams; k++) {
			struct fstream *st = &fs->streams[k];

			if (st->tr != owner || f.inst == UINT64_MAX || !f.has_begin)
				continue;
			if (st->files[0].inst == f.inst && st->files[0].sc_id == f.sc_id &&
			    st->files[0].has_begin)
				break;
		}
		if (k < fs->nstreams) {
			struct fstream *st = &fs->streams[k];

			if (cl_grow(&st->files, &st->fcap, st->nfiles + 1) < 0) {
				r = -ENOMEM;
				break;
			}
			st->files[st->nfiles++] = f;
			continue;
		}
		if (cl_grow(&fs->streams, &fs->scap, fs->nstreams + 1) < 0) {
			r = -ENOMEM;
			break;
		}
		struct fstream *st = &fs->streams[fs->nstreams];
		memset(st, 0, sizeof(*st));
		st->files = malloc(sizeof(*st->files));
		if (!st->files) {
			r = -ENOMEM;
			break;
		}
		st->files[0] = f;
		st->nfiles = 1;
		st->fcap = 1;
		st->tr = owner;
		fs->nstreams++;
	}
	strv_free(&names);
	return r;
}

int ctflive_ctf_fs_open(const char *const *inputs, size_t n, struct ctflive_ctf_fs **ret,
			struct ctflive_ctf_diag *reterr, const char **reterr_path)
{
	struct ctflive_ctf_fs *fs = calloc(1, sizeof(*fs));
	struct search se = { 0 };
	int r = 0, first_err = 0;
	struct ctflive_ctf_diag first_diag = { 0 };
	char first_path[sizeof(fs->errpath)] = "";

	if (reterr_path)
		*reterr_path = NULL;
	if (!fs)
		return -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct strv dirs = { 0 };
		char input[PATH_MAX];
		size_t il;

		snprintf(input, sizeof(input), "%s", inputs[i]);
		il = strlen(input);
		while (il > 1 && input[il - 1] == '/')
			input[--il] = '\0';
		se.n = 0;
		free(se.unreadable);
		se.unreadable = NULL;
		se.warnings = &fs->warnings;
		r = find_traces(input, &dirs, 0, &se, fs->errpath, sizeof(fs->errpath));
		if (r >= 0 && dirs.n == 0 && se.unreadable) {
			snprintf(fs->errpath, sizeof(fs->errpath), "%s", se.unreadable);
			r = -EACCES;
		}
		if (r >= 0 && dirs.n == 0) {
			snprintf(fs->errpath, sizeof(fs->errpath), "%s", input);
			if (reterr) {
				memset(reterr, 0, sizeof(*reterr));
				reterr->offset = UINT64_MAX;
				snprintf(reterr->msg, sizeof(reterr->msg), "no CTF trace found");
			}
			r = -ENOENT;
		}
		/* as babeltrace2: an input without a trace only fails the whole
		 * when no input has one */
		if (r < 0 && r != -ENOMEM && n > 1) {
			if (!first_err) {
				first_err = r;
				if (reterr)
					first_diag = *reterr;
				snprintf(first_path, sizeof(first_path), "%s", fs->errpath);
			}
			r = warn(&se, "'%s': %s, ignoring", input,
				 reterr && reterr->msg[0] ? reterr->msg : strerror(-r));
			if (reterr)
				memset(reterr, 0, sizeof(*reterr));
		}
		for (size_t k = 0; r >= 0 && k < dirs.n; k++)
			r = add_trace(fs, dirs.v[k], input, reterr);
		strv_free(&dirs);
	}
	if (r >= 0 && fs->ntraces == 0 && first_err) {
		r = first_err;
		if (reterr)
			*reterr = first_diag;
		snprintf(fs->errpath, sizeof(fs->errpath), "%s", first_path);
	}
	/* merge traces with the same UUID into one, whose metadata serves all
	 * (babeltrace2's merge_ctf_fs_traces(): the most stream and event
	 * classes, then the first by path) */
	for (size_t i = 0; r >= 0 && i < fs->ntraces; i++) {
		struct ftrace *a = &fs->traces[i];

		for (size_t k = 0; k < i && !a->merged_into; k++) {
			struct ftrace *b = &fs->traces[k];

			while (b->merged_into)
				b = b->merged_into;
			if (a->t->has_uuid && b->t->has_uuid &&
			    !memcmp(a->t->uuid, b->t->uuid, 16)) {
				if (classes(a->t) > classes(b->t) ||
				    (classes(a->t) == classes(b->t) &&
				     strcmp(a->dir, b->dir) < 0)) {
					/* a becomes the owner */
					struct ftrace tmp;

					b->merged_into = NULL;
					tmp = *a;
					*a = *b;
					*b = tmp;
					a->merged_into = b;
				} else {
					a->merged_into = b;
				}
			}
		}
	}
	for (size_t i = 0; r >= 0 && i < fs->ntraces; i++) {
		struct ftrace *owner = &fs->traces[i];

		while (owner->merged_into)
			owner = owner->merged_into;
		if (owner != &fs->traces[i] && owner->name) {
			/* a merged trace is named after the host only */
			const char *h = owner->t->hostname;

			snprintf(owner->name, strlen(owner->name) + 1, "%s", h ? h : "");
		}
		r = add_stream_files(fs, &fs->traces[i], owner, reterr);
	}
	if (r >= 0) {
		/* order: files by first timestamp, streams by first file path */
		for (size_t i = 0; i < fs->nstreams; i++) {
			struct fstream *st = &fs->streams[i];

			if (st->nfiles > 1)
				qsort(st->files, st->nfiles, sizeof(*st->files), cmp_file_begin);
		}
		for (size_t i = 0; r >= 0 && i < fs->nstreams; i++)
			r = cl_fsrc_plan_runs(&fs->streams[i], fs->streams[i].tr, reterr);
		for (size_t i = 1; i < fs->nstreams; i++) {
			for (size_t k = i; k > 0; k--) {
				struct fstream *x = &fs->streams[k - 1], *y = &fs->streams[k];
				const char *px = x->files[0].path, *py = y->files[0].path;
				size_t jx = 0, jy = 0;

				/* babeltrace sorts by the path of the group's first file, taken
				 * in directory order: use the smallest path of each group */
				for (size_t j = 1; j < x->nfiles; j++)
					if (strcmp(x->files[j].path, x->files[jx].path) < 0)
						jx = j;
				for (size_t j = 1; j < y->nfiles; j++)
					if (strcmp(y->files[j].path, y->files[jy].path) < 0)
						jy = j;
				px = x->files[jx].path;
				py = y->files[jy].path;
				if (strcmp(px, py) <= 0)
					break;
				struct fstream tmp = *x;
				*x = *y;
				*y = tmp;
			}
		}
	}
	if (r >= 0)
		r = check_clocks(fs, reterr);
	/* decoders */
	for (size_t i = 0; r >= 0 && i < fs->nstreams; i++) {
		struct fstream *st = &fs->streams[i];
		struct ctflive_ctf_source src = { .request = fs_request,
						  .consume = fs_consume,
						  .ctx = st };
		uint64_t auto_id = 0;

		for (size_t k = 0; k < i; k++) {
			if (fs->streams[k].tr == st->tr &&
			    (fs->streams[k].files[0].inst == UINT64_MAX ||
			     !fs->streams[k].files[0].has_begin))
				auto_id++;
		}
		st->stream_id = (st->files[0].inst != UINT64_MAX && st->files[0].has_begin)
					? st->files[0].inst
					: auto_id;
		r = ctflive_ctf_stream_new(st->tr->t, &src, &st->dec);
		if (r < 0)
			break;
		ctflive_ctf_stream_set_labels(st->dec, st->tr->name, st->files[0].path,
					      st->stream_id);
		for (size_t k = 0; k < st->nfiles; k++) {
			uint64_t tr, tr_end;

			fs->lost += cl_fsrc_index_lost(st->files[k].path, st->dec, &tr, &tr_end);
			/* lost after the stream's last packet: those of the file
			 * read last */
			if (st->nruns && k == st->runs[st->nruns - 1].file) {
				st->lost_after = tr;
				st->lost_after_end = tr_end;
			}
		}
	}
	free(se.v);
	free(se.unreadable);
	if (r < 0) {
		if (reterr_path) {
			static char path_copy[PATH_MAX + 64];

			snprintf(path_copy, sizeof(path_copy), "%s", fs->errpath);
			*reterr_path = path_copy;
		}
		ctflive_ctf_fs_free(fs);
		return r;
	}
	*ret = fs;
	return 0;
}

struct ctflive_ctf_fs *ctflive_ctf_fs_free(struct ctflive_ctf_fs *fs)
{
	if (!fs)
		return NULL;
	for (size_t i = 0; i < fs->nstreams; i++) {
		struct fstream *st = &fs->streams[i];

		ctflive_ctf_stream_free(st->dec);
		for (size_t k = 0; k < st->nfiles; k++) {
			if (st->files[k].map)
				munmap((void *)(uintptr_t)st->files[k].map, st->files[k].len);
			free(st->files[k].path);
		}
		free(st->files);
		free(st->runs);
	}
	free(fs->streams);
	for (size_t i = 0; i < fs->ntraces; i++) {
		ctflive_ctf_trace_free(fs->traces[i].t);
		free(fs->traces[i].dir);
		free(fs->traces[i].name);
	}
	free(fs->traces);
	strv_free(&fs->warnings);
	free(fs);
	return NULL;
}

size_t ctflive_ctf_fs_trace_count(const struct ctflive_ctf_fs *fs)
{
	return fs->ntraces;
}

struct ctflive_ctf_trace *ctflive_ctf_fs_trace(const struct ctflive_ctf_fs *fs, size_t i,
					       const char **ret_dir)
{
	if (i >= fs->ntraces)
		return NULL;
	if (ret_dir)
		*ret_dir = fs->traces[i].dir;
	return fs->traces[i].t;
}

size_t ctflive_ctf_fs_stream_count(const struct ctflive_ctf_fs *fs)
{
	return fs->nstreams;
}

struct ctflive_ctf_stream *ctflive_ctf_fs_stream(const struct ctflive_ctf_fs *fs, size_t i)
{
	return i < fs->nstreams ? fs->streams[i].dec : NULL;
}

uint64_t ctflive_ctf_fs_lost_packets(const struct ctflive_ctf_fs *fs)
{
	return fs->lost;
}

int ctflive_ctf_fs_merge_add(const struct ctflive_ctf_fs *fs, struct ctflive_merge *m)
{
	for (size_t i = 0; i < fs->nstreams; i++) {
		const struct fstream *st = &fs->streams[i];
		struct ctflive_merge_input in = { .stream = st->dec };
		int r = ctflive_merge_add(m, &in);

		if (r == 0 && st->lost_after)
			r = ctflive_merge_lost_after(m, st->dec, st->lost_after,
						     st->lost_after_end);
		if (r < 0)
			return r;
	}
	return 0;
}

size_t ctflive_ctf_fs_warning_count(const struct ctflive_ctf_fs *fs)
{
	return fs->warnings.n;
}

const char *ctflive_ctf_fs_warning(const struct ctflive_ctf_fs *fs, size_t i)
{
	return i < fs->warnings.n ? fs->warnings.v[i] : NULL;
}

bool ctflive_ctf_fs_locate(const struct ctflive_ctf_fs *fs, const struct ctflive_ctf_stream *s,
			   uint64_t offset, const char **ret_path, uint64_t *ret_file_offset)
{
	for (size_t i = 0; i < fs->nstreams; i++) {
		const struct fstream *st = &fs->streams[i];

		if (st->dec != s)
			continue;
		for (size_t k = 0; k < st->nruns; k++) {
			const struct frun *run = &st->runs[k];

			if (offset < run->len) {
				*ret_path = st->files[run->file].path;
				*ret_file_offset = run->off + offset;
				return true;
			}
			offset -= run->len;
		}
		return false;
	}
	return false;
}
