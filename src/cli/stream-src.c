/* SPDX-License-Identifier: MIT */
/*
 * `ctflive stream`: traces and stream files of TRACE_DIR, read as they grow
 * (see stream.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grow.h"
#include "log.h"
#include "stream.h"

#define MAX_PACKET (256u * 1024u * 1024u) /* bytes: larger is refused */
#define MAX_DEPTH  8

static struct ss_trace *find_trace(struct ss_source *s, const char *dir)
{
	for (size_t i = 0; i < s->ntraces; i++)
		if (!strcmp(s->traces[i]->dir, dir))
			return s->traces[i];
	return NULL;
}

static bool have_stream(struct ss_source *s, const char *path)
{
	for (size_t i = 0; i < s->nstreams; i++)
		if (!strcmp(s->streams[i]->path, path))
			return true;
	return false;
}

static int add_trace(struct ss_source *s, struct ctflive_producer *p, const char *dir)
{
	struct ss_trace *tr;
	const char *rel = dir + strlen(s->root);
	int r;

	while (*rel == '/')
		rel++;
	if (!*rel) {
		/* the trace is TRACE_DIR itself: name it after the directory */
		rel = strrchr(s->root, '/');
		rel = rel && rel[1] ? rel + 1 : "trace";
	}
	if (cl_grow(&s->traces, &s->tcap, s->ntraces + 1) < 0)
		return -ENOMEM;
	tr = calloc(1, sizeof(*tr));
	if (!tr)
		return -ENOMEM;
	tr->dir = strdup(dir);
	tr->rel = strdup(rel);
	if (!tr->dir || !tr->rel) {
		free(tr->dir);
		free(tr->rel);
		free(tr);
		return -ENOMEM;
	}
	r = ctflive_producer_add_trace(p, tr->rel, &tr->pt);
	if (r < 0) {
		log_error("cannot add trace '%s' to the relay session: %s", tr->rel,
			  r == -EINVAL ? "invalid path" : ctflive_producer_error(p));
		free(tr->dir);
		free(tr->rel);
		free(tr);
		return r;
	}
	s->traces[s->ntraces++] = tr;
	return 0;
}

static bool is_stream_file(const char *name)
{
	return name[0] != '.' && strcmp(name, "metadata") != 0;
}

/* Adds the stream files of trace tr not known yet. */
static int scan_streams(struct ss_source *s, struct ss_trace *tr, struct ctflive_producer *p)
{
	struct dirent **ents = NULL;
	int n, r = 0;

	n = scandir(tr->dir, &ents, NULL, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct ss_stream *st;
		struct stat sb;

		if (r < 0 || !is_stream_file(ents[i]->d_name))
			goto next;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", tr->dir, ents[i]->d_name) >=
			    sizeof(path) ||
		    stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || have_stream(s, path))
			goto next;
		if (cl_grow(&s->streams, &s->scap, s->nstreams + 1) < 0) {
			r = -ENOMEM;
			goto next;
		}
		st = calloc(1, sizeof(*st));
		if (!st) {
			r = -ENOMEM;
			goto next;
		}
		st->fd = open(path, O_RDONLY | O_CLOEXEC);
		st->path = strdup(path);
		st->name = strdup(ents[i]->d_name);
		st->tr = tr;
		st->limit = UINT64_MAX;
		if (st->fd < 0 || !st->path || !st->name) {
			r = st->fd < 0 ? -errno : -ENOMEM;
			log_error("cannot open '%s': %s", path, strerror(-r));
		} else {
			r = ctflive_producer_add_stream(tr->pt, st->name, &st->ps);
			if (r < 0)
				log_error("cannot add stream '%s' to the relay session: %s", path,
					  ctflive_producer_error(p));
		}
		if (r < 0) {
			if (st->fd >= 0)
				close(st->fd);
			free(st->path);
			free(st->name);
			free(st);
			goto next;
		}
		s->streams[s->nstreams++] = st;
	next:
		free(ents[i]);
	}
	free(ents);
	return r;
}

static int walk(struct ss_source *s, struct ctflive_producer *p, const char *dir, int depth)
{
	char path[PATH_MAX];
	struct dirent **ents = NULL;
	struct ss_trace *tr;
	struct stat sb;
	int n, r = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/metadata", dir) < sizeof(path) &&
	    stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		tr = find_trace(s, dir);
		if (!tr) {
			r = add_trace(s, p, dir);
			if (r < 0)
				return r;
			tr = s->traces[s->ntraces - 1];
		}
		/* stream files are added once the trace has metadata to frame them */
		return tr->seen_md ? scan_streams(s, tr, p) : 0;
	}
	if (depth >= MAX_DEPTH)
		return 0;
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return depth == 0 ? -errno : 0;
	for (int i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;

		if (r == 0 && nm[0] != '.' && strcmp(nm, "index") != 0 &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, nm) < sizeof(path) &&
		    stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			r = walk(s, p, path, depth + 1);
		free(ents[i]);
	}
	free(ents);
	return r;
}

int ss_scan(struct ss_source *s, struct ctflive_producer *p)
{
	return walk(s, p, s->root, 0);
}

/* Length of the whole metadata packets at the start of buf (CTF 1.8 §7.1:
 * 37-byte header, magic 0x75D11D57 in the writer's byte order,
 * packet_size in bits at offset 28). */
static size_t whole_md_packets(const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= 37) {
		const uint8_t *h = buf + off;
		bool le = h[0] == 0x57;
		uint32_t psize = le ? (uint32_t)h[28] | (uint32_t)h[29] << 8 |
						 (uint32_t)h[30] << 16 | (uint32_t)h[31] << 24
				    : (uint32_t)h[28] << 24 | (uint32_t)h[29] << 16 |
						 (uint32_t)h[30] << 8 | (uint32_t)h[31];

		if (psize < 37 * 8 || psize / 8 > len - off)
			break;
		off += psize / 8;
	}
	return off;
}

static int trace_metadata(struct ss_trace *tr)
{
	char path[PATH_MAX];
	struct ctflive_ctf_diag d;
	struct stat sb;
	uint8_t *buf;
	size_t len, take;
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "%s/metadata", tr->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		log_error("cannot read '%s': %s", path, strerror(-r));
		return r;
	}
	if ((uint64_t)sb.st_size <= tr->md_off) {
		close(fd);
		return 0;
	}
	len = (size_t)((uint64_t)sb.st_size - tr->md_off);
	buf = malloc(len);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, buf, len, (off_t)tr->md_off);
	close(fd);
	if (n < 0) {
		r = -errno;
		free(buf);
		log_error("cannot read '%s': %s", path, strerror(-r));
		return r;
	}
	len = (size_t)n;
	if (tr->md_off == 0 && len >= 4)
		tr->packetized =
			(buf[0] == 0x57 && buf[1] == 0x1d && buf[2] == 0xd1 && buf[3] == 0x75) ||
			(buf[0] == 0x75 && buf[1] == 0xd1 && buf[2] == 0x1d && buf[3] == 0x57);
	take = tr->packetized ? whole_md_packets(buf, len) : len;
	r = 0;
	if (take) {
		r = ctflive_producer_send_metadata(tr->pt, buf, take, &d);
		if (r == -EBADMSG || r == -ENOTSUP || r == -E2BIG) {
			if (d.line)
				log_error("'%s': metadata does not parse at line %d, column %d: %s",
					  path, d.line, d.col, d.msg);
			else
				log_error("'%s': metadata does not parse: %s", path, d.msg);
		} else if (r == 0 || r == -ENOTCONN) {
			tr->md_off += take;
			tr->seen_md = true;
		}
	}
	free(buf);
	return r;
}

int ss_metadata(struct ss_source *s)
{
	for (size_t i = 0; i < s->ntraces; i++) {
		int r = trace_metadata(s->traces[i]);

		if (r < 0 && r != -ENOTCONN)
			return r;
	}
	return 0;
}

/* Reports bad input as "'FILE': WHAT at offset N[: DETAIL]". */
static void bad_input(struct ss_source *s, struct ss_stream *st, const char *what,
		      const char *detail)
{
	log_error("'%s': %s at offset %" PRIu64 "%s%s", st->path, what, st->off,
		  detail && detail[0] ? ": " : "", detail ? detail : "");
	s->errors++;
	st->done = true;
}

int ss_peek(struct ss_source *s, struct ss_stream *st)
{
	struct ctflive_ctf_diag d = { 0 };
	struct stat sb;
	size_t want = 64 * 1024;
	uint64_t avail;
	int r;

	if (st->have)
		return 1;
	if (st->done)
		return 0;
	if (fstat(st->fd, &sb) < 0) {
		r = -errno;
		bad_input(s, st, "cannot read", strerror(-r));
		return r;
	}
	if (s->follow && sb.st_nlink == 0) {
		bad_input(s, st, "stream file removed while followed", "");
		return -ENOENT;
	}
	if ((uint64_t)sb.st_size < st->off) {
		bad_input(s, st, "stream file shrank below what was sent", "");
		return -EBADMSG;
	}
	avail = (uint64_t)sb.st_size - st->off;
	if (st->limit - st->off < avail)
		avail = st->limit > st->off ? st->limit - st->off : 0;
	if (avail == 0) {
		if (!s->follow)
			st->done = true;
		return 0;
	}
	if (!s->follow && st->limit == UINT64_MAX) {
		/* a recorded file: mapped once, packets sent from the mapping */
		if (!st->map) {
			void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, st->fd, 0);

			if (m == MAP_FAILED) {
				r = -errno;
				bad_input(s, st, "cannot map", strerror(-r));
				return r;
			}
			st->map = m;
			st->maplen = (size_t)sb.st_size;
		}
		if (st->off >= st->maplen) {
			st->done = true;
			return 0;
		}
		avail = st->maplen - st->off;
		r = ctflive_producer_packet_info(st->tr->pt, st->map + st->off, (size_t)avail,
						 &st->next, &d);
		if (r == -EMSGSIZE) {
			bad_input(s, st, "truncated packet",
				  d.msg[0] ? d.msg : "the file ends inside it");
			return r;
		}
		if (r < 0) {
			bad_input(s, st, "bad packet", d.msg);
			return r;
		}
		st->cur = st->map + st->off;
		st->have = true;
		return 1;
	}
	for (;;) {
		size_t n = avail < want ? (size_t)avail : want;
		ssize_t got;

		if (n > st->pcap) {
			uint8_t *nb = realloc(st->pkt, n);

			if (!nb)
				return -ENOMEM;
			st->pkt = nb;
			st->pcap = n;
		}
		got = pread(st->fd, st->pkt, n, (off_t)st->off);
		if (got < 0) {
			r = -errno;
			bad_input(s, st, "cannot read", strerror(-r));
			return r;
		}
		if ((size_t)got < n)
			n = (size_t)got;
		r = ctflive_producer_packet_info(st->tr->pt, st->pkt, n, &st->next, &d);
		if (r == 0)
			break;
		if (r == -EMSGSIZE && n == avail) {
			if (s->follow || st->limit < (uint64_t)sb.st_size)
				return 0; /* the rest is still being written */
			bad_input(s, st, "truncated packet",
				  d.msg[0] ? d.msg : "the file ends inside it");
			return -EMSGSIZE;
		}
		if (r == -EMSGSIZE && want < MAX_PACKET) {
			want *= 2;
			continue;
		}
		bad_input(s, st, "bad packet", r == -EMSGSIZE ? "packet over 256 MiB" : d.msg);
		return r == -EMSGSIZE ? -E2BIG : r;
	}
	/* framing succeeded: the whole packet is in the bytes read */
	st->cur = st->pkt;
	st->have = true;
	return 1;
}

void ss_advance(struct ss_stream *st)
{
	st->off += st->next.size;
	st->have = false;
	st->packets++;
}

uint64_t ss_count_events(struct ss_stream *st, uint64_t off)
{
	struct ctflive_ctf_bufsrc *b = NULL;
	struct ctflive_ctf_stream *ds = NULL;
	struct ctflive_ctf_source src;
	struct ctflive_producer_packet pk;
	struct ctflive_ctf_msg m;
	uint8_t *buf = NULL;
	uint64_t n = 0;
	size_t len = 64 * 1024;

	for (;;) {
		uint8_t *nb = realloc(buf, len);
		ssize_t got;
		int r;

		if (!nb)
			goto out;
		buf = nb;
		got = pread(st->fd, buf, len, (off_t)off);
		if (got <= 0)
			goto out;
		r = ctflive_producer_packet_info(st->tr->pt, buf, (size_t)got, &pk, NULL);
		if (r == 0 && pk.size <= (size_t)got)
			break;
		if (r != -EMSGSIZE || (size_t)got < len || len >= MAX_PACKET)
			goto out;
		len *= 2;
	}
	if (ctflive_ctf_bufsrc_new(&b) < 0 || ctflive_ctf_bufsrc_push(b, buf, pk.size) < 0)
		goto out;
	ctflive_ctf_bufsrc_end(b);
	src = ctflive_ctf_bufsrc_source(b);
	if (ctflive_ctf_stream_new(ctflive_producer_trace_ctf(st->tr->pt), &src, &ds) < 0)
		goto out;
	while (ctflive_ctf_stream_next(ds, &m, NULL) == 0)
		if (m.type == CTFLIVE_CTF_MSG_EVENT)
			n++;
out:
	ctflive_ctf_stream_free(ds);
	ctflive_ctf_bufsrc_free(b);
	free(buf);
	return n;
}

void ss_free(struct ss_source *s)
{
	for (size_t i = 0; i < s->nstreams; i++) {
		if (s->streams[i]->fd >= 0)
			close(s->streams[i]->fd);
		free(s->streams[i]->path);
		free(s->streams[i]->name);
		free(s->streams[i]->pkt);
		if (s->streams[i]->map)
			munmap(s->streams[i]->map, s->streams[i]->maplen);
		free(s->streams[i]);
	}
	for (size_t i = 0; i < s->ntraces; i++) {
		free(s->traces[i]->dir);
		free(s->traces[i]->rel);
		free(s->traces[i]);
	}
	free(s->streams);
	free(s->traces);
	free(s->root);
}

static int find_ctf2(const char *dir, int depth)
{
	char path[PATH_MAX];
	struct dirent **ents = NULL;
	struct stat sb;
	int n, found = -1;

	if ((size_t)snprintf(path, sizeof(path), "%s/metadata", dir) < sizeof(path) &&
	    stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		uint8_t c = 0;

		if (fd < 0)
			return -1;
		found = read(fd, &c, 1) == 1 && c == 0x1e;
		close(fd);
		return found;
	}
	if (depth >= MAX_DEPTH)
		return -1;
	n = scandir(dir, &ents, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *nm = ents[i]->d_name;

		if (found < 0 && nm[0] != '.' &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, nm) < sizeof(path) &&
		    stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
			found = find_ctf2(path, depth + 1);
		free(ents[i]);
	}
	free(ents);
	return found;
}

bool ss_is_ctf2(const char *root)
{
	return find_ctf2(root, 0) == 1;
}

bool ss_has_trace(const char *root)
{
	return find_ctf2(root, 0) >= 0;
}
