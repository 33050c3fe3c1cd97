/* SPDX-License-Identifier: MIT */
/*
 * ctflive view nats://SERVER[,SERVER...]/host/HOSTNAME/SESSION and
 * ctflive ls nats://SERVER[,SERVER...]: sessions that relays published to
 * NATS JetStream (`ctflive-relayd --publish`), read from JetStream directly
 * with ordered consumers (src/nats/nats-read.h). The subjects, headers and
 * payloads are the contract of doc/nats.md.
 *
 * `view` rebuilds each relay session of HOSTNAME/SESSION as a trace
 * directory laid out as the relay's own (metadata, data files, their
 * index/NAME.idx with the same entries, offsets made local), one
 * subdirectory each of a temporary session directory, written as
 * ctflive-relayd writes its directories (doc/file-formats.md §3-4: files
 * created locked, each packet and its entry published by unlocking them,
 * the session marker locked until every relay session ended). One thread
 * per relay session writes; the main thread follows the directory
 * (ctflive_iter_open_follow()) and prints as packets arrive, so the output
 * is the same as `ctflive follow` of the relay's directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "cli.h"
#include "ctf-index.h"
#include "ctflive/iter.h"
#include "file-locks.h"
#include "grow.h"
#include "io.h"
#include "log.h"
#include "nats-conn.h"
#include "nats-names.h"
#include "nats-read.h"
#include "print-opts.h"
#include "tracedir.h"

/* --nats-* options of view and ls (authentication, TLS). */
static struct cl_nats_conn_opts g_conn;

bool cl_cli_is_nats_url(const char *s)
{
	return cl_nats_is_url(s);
}

/* ---- rebuilding one relay session as a trace directory ---- */

struct wstream {
	uint64_t handle;
	int data_fd, index_fd; /* created locked (file-locks.h) */
	uint64_t data_size;    /* bytes written and published */
	uint64_t index_size;   /* bytes written and published */
	uint64_t meta_end;     /* metadata: bytes written from 0 without a hole */
	uint64_t meta_epoch;
	uint64_t expired; /* packets retention dropped before the next one, 0: none */
	bool held;        /* a byte past data_size is written, not published */
	char *name;       /* owned: "<path>/<channel>", for reports */
};

/*
 * The callbacks' state: one relay session's directory.
 *
 * While its reader catches up with what JetStream already holds (until it
 * was given the last message each JetStream stream held when reading
 * began, or a pending count of 0, or nothing for CATCHUP_IDLE_MS), packets of
 * one stream may come after newer ones of others (the relay publishes each
 * stream as its packets are published locally): a data stream read to its
 * end then says nothing of when its next packet was recorded, and the
 * follower's grace, a bound in wall-clock time, does not apply to packets
 * recorded long ago. So while catching up, every data file holds one byte
 * past its published end, written but not published: to the follower the
 * writer is still committing bytes there, and it waits for such a stream
 * instead of printing the others past it (doc/file-formats.md §3). Once
 * caught up (live), the bytes go and the grace applies as for a relay's
 * directory.
 */
struct wsess {
	int dir_fd;
	struct wstream *streams;
	size_t n, cap;
	bool behind; /* the reader is catching up */
};

/* Writes (held) or removes the unpublished byte past the end of data
 * stream `st` (see struct wsess). */
static int hold_stream(struct wstream *st, bool held)
{
	static const uint8_t zero;
	int r;

	if (st->index_fd < 0 || st->data_fd < 0 || st->held == held)
		return 0;
	if (held)
		r = cl_pwrite_full(st->data_fd, &zero, 1, st->data_size);
	else
		r = ftruncate(st->data_fd, (off_t)st->data_size) < 0 ? -errno : 0;
	if (r == 0)
		st->held = held;
	return r;
}

/* The reader catches up (behind), or is caught up: see struct wsess. */
static void wsess_set_behind(struct wsess *ws, bool behind)
{
	if (ws->behind == behind)
		return;
	ws->behind = behind;
	for (size_t i = 0; i < ws->n; i++) {
		int r = hold_stream(&ws->streams[i], behind);

		if (r < 0)
			log_warning("%s: %s", ws->streams[i].name, strerror(-r));
	}
}

static struct wstream *wstream_find(struct wsess *ws, uint64_t handle)
{
	for (size_t i = 0; i < ws->n; i++)
		if (ws->streams[i].handle == handle)
			return &ws->streams[i];
	return NULL;
}

/* mkdir -p of `rel` below `dir_fd`. */
static int mkdirs(int dir_fd, const char *rel)
{
	char buf[4096];
	size_t n = strlen(rel);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, rel, n + 1);
	for (char *p = buf;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = 0;
			if (mkdirat(dir_fd, buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				return 0;
		}
	}
}

/* The data file of a stream added while the reader catches up, named with
 * its held byte already in it (struct wsess): named without, it would look
 * idle to the follower for a moment. Where the file system has no unnamed
 * files, it is named first, then held. */
static int create_held(int dfd, const char *name, struct wstream *st)
{
	static const uint8_t zero;
	int fd, r;

	r = cl_lock_create_unnamed(dfd, NULL, 0, &fd);
	if (r == 0) {
		r = cl_pwrite_full(fd, &zero, 1, 0);
		if (r == 0)
			r = cl_lock_link_file(fd, dfd, name);
		if (r < 0)
			close(fd);
	}
	if (r == -EOPNOTSUPP || r == -EISDIR || r == -ENOENT) {
		r = cl_lock_create_file(dfd, name, NULL, 0, &st->data_fd);
		return r < 0 ? r : hold_stream(st, true);
	}
	if (r < 0)
		return r;
	st->data_fd = fd;
	st->held = true;
	return 0;
}

/* A `stream` message (checked by the reader): its data or metadata file and
 * its index file with the index header. */
static int w_stream(void *ctx, const struct cl_nats_stream_info *si)
{
	struct wsess *ws = ctx;
	struct wstream *st;
	char rel[4096];
	int dfd, r;

	r = cl_grow(&ws->streams, &ws->cap, ws->n + 1);
	if (r < 0)
		return r;
	st = &ws->streams[ws->n];
	memset(st, 0, sizeof(*st));
	st->handle = si->handle;
	st->data_fd = st->index_fd = -1;
	r = mkdirs(ws->dir_fd, si->path);
	if (r < 0)
		return r;
	dfd = openat(ws->dir_fd, si->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	ws->n++;
	if (asprintf(&st->name, "%s/%s", si->path, si->metadata ? "metadata" : si->channel) < 0) {
		st->name = NULL;
		close(dfd);
		return -ENOMEM;
	}
	if (!si->metadata && ws->behind)
		r = create_held(dfd, si->channel, st);
	else
		r = cl_lock_create_file(dfd, si->metadata ? "metadata" : si->channel, NULL, 0,
					&st->data_fd);
	if (r == 0 && !si->metadata) {
		uint8_t hdr[CL_INDEX_HEADER_SIZE];
		struct cl_wbuf wb = cl_wbuf_make(hdr, sizeof(hdr));
		int ifd;

		r = mkdirs(dfd, "index");
		if (r == 0)
			r = cl_index_header_encode(&wb,
						   si->index_entry_size == CL_INDEX_ENTRY_SIZE_1_1
							   ? CL_INDEX_MINOR_1_1
							   : CL_INDEX_MINOR_1_0);
		if (r == 0 && snprintf(rel, sizeof(rel), "%s.idx", si->channel) >= (int)sizeof(rel))
			r = -ENAMETOOLONG;
		ifd = r == 0 ? openat(dfd, "index", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
		if (r == 0 && ifd < 0)
			r = -errno;
		if (r == 0)
			r = cl_lock_create_file(ifd, rel, hdr, sizeof(hdr), &st->index_fd);
		if (ifd >= 0)
			close(ifd);
		st->index_size = CL_INDEX_HEADER_SIZE;
		if (r == 0)
			r = hold_stream(st, ws->behind);
	}
	close(dfd);
	return r;
}

/* Appends `len` bytes to locked file `fd` at *size and publishes them
 * (doc/file-formats.md §3); *size is the end of what is published. */
static int append_published(int fd, const void *buf, size_t len, uint64_t *size)
{
	int r;

	r = cl_pwrite_full(fd, buf, len, *size);
	if (r == 0)
		r = cl_lock_publish(fd, *size, *size + len);
	if (r < 0)
		return r;
	*size += len;
	return 0;
}

/*
 * Before the first packet after what retention dropped (st->expired
 * packets, numbered from 0, index 1.1): one lost-packet entry (offset all
 * ones) with the last of their numbers, the stream ids of that packet's
 * entry `e` and its begin time, so that the decoder reports them as
 * discarded packets as it reports a gap between two packets
 * (ctflive_ctf_stream_mark_lost()).
 */
static int w_lost_before(struct wstream *st, const uint8_t *e, uint32_t esz)
{
	struct cl_rbuf rb = cl_rbuf_make(e, esz);
	uint8_t lost[CL_INDEX_ENTRY_SIZE_MAX];
	struct cl_wbuf wb = cl_wbuf_make(lost, sizeof(lost));
	struct cl_index_entry ie;
	int r = cl_index_entry_decode(&rb, esz, &ie);

	if (r < 0)
		return r;
	ie.offset = CL_INDEX_LOST_OFFSET;
	ie.packet_size = ie.content_size = 0;
	ie.timestamp_end = ie.timestamp_begin;
	ie.packet_seq_num = st->expired - 1;
	st->expired = 0;
	r = cl_index_entry_encode(&wb, &ie, esz);
	return r < 0 ? r : append_published(st->index_fd, lost, esz, &st->index_size);
}

/* An index entry and its packet: the entry's offset made local; the
 * packet published first, then its entry (doc/file-formats.md §3). */
static int w_packet(void *ctx, uint64_t handle, const uint8_t *e, uint32_t esz, const uint8_t *pkt,
		    size_t plen)
{
	struct wsess *ws = ctx;
	struct wstream *st = wstream_find(ws, handle);
	uint8_t entry[CL_INDEX_ENTRY_SIZE_MAX];
	int r;

	if (!st || st->index_fd < 0 || esz > sizeof(entry))
		return -EBADMSG;
	if (st->expired && plen) {
		r = w_lost_before(st, e, esz);
		if (r < 0)
			return r;
	}
	memcpy(entry, e, esz);
	if (plen) {
		cl_store_be64(entry + CL_INDEX_OFF_OFFSET, st->data_size);
		/* over the held byte, if any: held again past the packet */
		st->held = false;
		/* While held, the byte past the packet is written before the
		 * packet covers the held one: at no time does the file end at
		 * its published end, where the follower would take the stream
		 * for idle up to its grace bound and print others past it. */
		if (st->held) {
			static const uint8_t zero;

			r = cl_pwrite_full(st->data_fd, &zero, 1, st->data_size + plen);
			if (r < 0)
				return r;
		}
		r = append_published(st->data_fd, pkt, plen, &st->data_size);
		if (r == 0)
			r = hold_stream(st, ws->behind);
		if (r < 0)
			return r;
	}
	return append_published(st->index_fd, entry, esz, &st->index_size);
}

static int w_metadata(void *ctx, uint64_t handle, const uint8_t *d, size_t len, uint64_t off,
		      uint64_t epoch)
{
	struct wstream *st = wstream_find(ctx, handle);
	int r;

	if (!st || st->index_fd >= 0)
		return -EBADMSG;
	if (epoch != st->meta_epoch) {
		/* The metadata was regenerated: the new copy replaces the old. */
		st->meta_epoch = epoch;
		if (ftruncate(st->data_fd, 0) < 0)
			return -errno;
		r = cl_lock_try_write(st->data_fd, 0, 0);
		if (r < 0)
			return r;
		st->meta_end = 0;
	}
	if (off > st->meta_end)
		return -EBADMSG; /* a metadata message is missing */
	if (cl_pwrite_full(st->data_fd, d, len, off) < 0)
		return -EIO;
	if (off + len > st->meta_end) {
		r = cl_lock_publish(st->data_fd, st->meta_end, off + len);
		if (r < 0)
			return r;
		st->meta_end = off + len;
	}
	return 0;
}

/* The first packet of a stream after what retention dropped. */
/* The first packet of a stream after what retention dropped: `n` packets
 * before it (index 1.1 entries), reported before it (w_lost_before()). */
static void w_expired(void *ctx, uint64_t handle, uint64_t n)
{
	struct wstream *st = wstream_find(ctx, handle);

	if (st)
		st->expired = n;
}

static const struct cl_nats_read_ops w_ops = {
	.stream = w_stream,
	.packet = w_packet,
	.metadata = w_metadata,
	.expired = w_expired,
};

static void wsess_fini(struct wsess *ws)
{
	for (size_t i = 0; i < ws->n; i++) {
		if (ws->streams[i].data_fd >= 0)
			close(ws->streams[i].data_fd);
		if (ws->streams[i].index_fd >= 0)
			close(ws->streams[i].index_fd);
		free(ws->streams[i].name);
	}
	free(ws->streams);
	if (ws->dir_fd >= 0)
		close(ws->dir_fd);
}

/* One relay session read by its own thread into its directory. */
struct job {
	jsCtx *js;                    /* borrowed */
	const char *name;             /* borrowed: JetStream stream name */
	const struct cl_nats_desc *d; /* borrowed */
	char *dir;                    /* owned */
	int idle_ms;
	pthread_t thr;
	bool started;
	int r;
	bool interrupted; /* the session's end said so, or it did not end */
};

/* How long the printing waits for a stream that has nothing yet (ms). */
#define NATS_GRACE_MS   10000
/* A consumer lost for good is replaced this often at most, per relay session. */
#define MAX_RESUBSCRIBE 20
/* A reader that got nothing for this long is caught up, whatever it was
 * told (ms): see struct wsess. */
#define CATCHUP_IDLE_MS 5000

/* Shared by the reading threads of one `view`. */
static atomic_bool g_stop;    /* the printing ended: stop reading */
static atomic_int g_running;  /* reading threads still running */
static atomic_bool g_unclean; /* some relay session did not end normally */
static int g_marker_fd = -1;  /* the session marker, locked while reading */

/* The session marker: "active" while reading, then how it ended, unlocked. */
static void marker_finish(void)
{
	const char *state =
		atomic_load(&g_unclean) ? CL_MARKER_INTERRUPTED "\n" : CL_MARKER_COMPLETE "\n";

	if (g_marker_fd < 0)
		return;
	if (ftruncate(g_marker_fd, 0) < 0 ||
	    cl_pwrite_full(g_marker_fd, state, strlen(state), 0) < 0)
		log_warning("cannot write the session marker: %s", strerror(errno));
	close(g_marker_fd); /* drops the lock: readers take what is there */
	g_marker_fd = -1;
}

/* An ordered consumer of JetStream stream `name` from its sequence `start`. */
static natsStatus subscribe_from(struct job *j, const char *name, const char *subject,
				 uint64_t start, natsSubscription **sub)
{
	jsErrCode jerr = 0;
	jsSubOptions so;
	natsStatus s = NATS_TIMEOUT;

	jsSubOptions_Init(&so);
	so.Stream = name;
	so.Ordered = true;
	if (start > 1) {
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = start;
	} else {
		so.Config.DeliverPolicy = js_DeliverAll;
	}
	for (int i = 0;; i++) {
		jerr = 0;
		s = js_SubscribeSync(sub, j->js, subject, NULL, &so, &jerr);
		if (!cl_nats_js_again(s, jerr, i))
			break;
	}
	return s;
}

/* The last sequence of JetStream stream `name` (0: empty, or unknown). */
static uint64_t last_seq(jsCtx *js, const char *name)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = NATS_TIMEOUT;
	uint64_t n = 0;

	for (int i = 0;; i++) {
		jerr = 0;
		s = js_GetStreamInfo(&si, js, name, NULL, &jerr);
		if (!cl_nats_js_again(s, jerr, i))
			break;
	}
	if (s == NATS_OK)
		n = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	return n;
}

/*
 * Reads the JetStream stream `name` (subjects "<prefix>.>") from its first
 * message into directory `dir`, until the session's end message, until
 * nothing arrives for `idle_ms` (0: wait for the end), or until g_stop. The
 * connection reconnects by itself; the ordered consumer then continues from
 * the next JetStream sequence (doc/nats.md, "Reading").
 */
static void read_session(struct job *j)
{
	const struct cl_nats_desc *d = j->d;
	struct wsess ws = { .dir_fd = -1 };
	struct cl_nats_reader *rd = NULL;
	struct cl_nats_read_stats stats;
	int64_t idle = 0; /* ms without a message */
	natsSubscription *sub = NULL;
	char subject[CL_NATS_PREFIX_MAX + 4];
	int resubscribed = 0;
	natsStatus s;
	/* the packet stream, with retention limits */
	char pname[CL_NATS_NAME_MAX + 8];
	jsStreamInfo *psi = NULL;
	jsErrCode jerr = 0;
	natsSubscription *psub = NULL;
	bool split = false, caught_up = false, p_first = false;
	uint64_t p_next = 1, js_seq;
	/* catching up (struct wsess): until the last sequence each stream had
	 * when reading began, or a pending count of 0 */
	uint64_t s_last, p_last = 0;
	bool s_behind, p_behind = false;
	unsigned turn = 0, part;

	j->interrupted = true;
	j->r = mkdir(j->dir, 0755) < 0 ? -errno : 0;
	if (j->r < 0)
		return;
	ws.dir_fd = open(j->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ws.dir_fd < 0) {
		j->r = -errno;
		return;
	}
	rd = cl_nats_reader_new(d->prefix, &w_ops, &ws);
	if (!rd) {
		wsess_fini(&ws);
		j->r = -ENOMEM;
		return;
	}
	(void)snprintf(subject, sizeof(subject), "%s.>", d->prefix);
	s = subscribe_from(j, j->name, subject, 1, &sub);
	if (s != NATS_OK) {
		log_error("cannot read JetStream stream %s: %s", j->name, natsStatus_GetText(s));
		cl_nats_reader_free(rd);
		wsess_fini(&ws);
		j->r = -EIO;
		return;
	}
	/* With retention limits, the packets are in a stream of their own
	 * (doc/nats.md, "JetStream streams"): it is read once the session
	 * stream is caught up with. */
	(void)snprintf(pname, sizeof(pname), "%s%s", j->name, CL_NATS_PACKETS_SUFFIX);
	for (int i = 0;; i++) {
		jerr = 0;
		s = js_GetStreamInfo(&psi, j->js, pname, NULL, &jerr);
		if (!cl_nats_js_again(s, jerr, i))
			break;
	}
	if (s != NATS_OK && s != NATS_NOT_FOUND) {
		log_error("cannot read JetStream stream %s: %s", pname, natsStatus_GetText(s));
		natsSubscription_Destroy(sub);
		cl_nats_reader_free(rd);
		wsess_fini(&ws);
		j->r = -EIO;
		return;
	}
	if (s == NATS_OK) {
		split = true;
		p_last = psi->State.LastSeq;
		p_behind = p_last > 0;
	}
	jsStreamInfo_Destroy(psi);
	s_last = last_seq(j->js, j->name);
	s_behind = s_last > 0;
	wsess_set_behind(&ws, s_behind || p_behind);
	while (!cl_nats_reader_ended(rd) && !atomic_load(&g_stop)) {
		natsMsg *m = NULL;
		bool from_p = psub && (turn++ & 1);
		natsSubscription *cur = from_p ? psub : sub;
		int wait = psub ? 250 : 500;

		if (split && !psub && caught_up) {
			s = subscribe_from(j, pname, subject, p_next, &psub);
			if (s != NATS_OK) {
				log_error("cannot read JetStream stream %s: %s", pname,
					  natsStatus_GetText(s));
				j->r = -EIO;
				break;
			}
			continue;
		}
		s = natsSubscription_NextMsg(&m, cur, wait);
		if (s == NATS_TIMEOUT || s == NATS_CONNECTION_DISCONNECTED ||
		    s == NATS_SLOW_CONSUMER || s == NATS_MISSED_HEARTBEAT ||
		    s == NATS_NO_RESPONDERS) {
			/* No news, or reconnecting, or the ordered consumer is being
			 * recreated from the next sequence: the client does it. */
			if (s != NATS_TIMEOUT)
				usleep(500 * 1000);
			if (s == NATS_TIMEOUT && !from_p)
				caught_up = true;
			idle += wait;
			if (idle >= CATCHUP_IDLE_MS) {
				s_behind = p_behind = false;
				wsess_set_behind(&ws, false);
			}
			/* The relay retries a failed publication for about 30 s. */
			if (cl_nats_reader_held(rd) && (idle >= CL_NATS_GAP_WAIT_MS ||
							(j->idle_ms > 0 && idle >= j->idle_ms))) {
				cl_nats_reader_skip_gap(rd);
				continue;
			}
			if (j->idle_ms > 0 && idle >= j->idle_ms) {
				log_warning("%s/%s: nothing new for %d ms, the session has not "
					    "ended: printing what was published",
					    d->host, d->session, j->idle_ms);
				break;
			}
			continue;
		}
		if (s != NATS_OK && resubscribed < MAX_RESUBSCRIBE) {
			/* The consumer is gone for good: a new one from where we are. */
			uint64_t from = from_p ? p_next : cl_nats_reader_resume_seq(rd);
			const char *name = from_p ? pname : j->name;

			log_warning("reading JetStream stream %s: %s: reading again from its "
				    "sequence %" PRIu64,
				    name, natsStatus_GetText(s), from);
			natsSubscription_Destroy(cur);
			cur = NULL;
			resubscribed++;
			usleep(500 * 1000);
			s = subscribe_from(j, name, subject, from, &cur);
			if (from_p)
				psub = cur;
			else
				sub = cur;
			if (s == NATS_OK)
				continue;
		}
		if (s != NATS_OK) {
			log_error("reading JetStream stream %s: %s", from_p ? pname : j->name,
				  natsStatus_GetText(s));
			j->r = -EIO;
			break;
		}
		idle = 0;
		js_seq = cl_nats_msg_stream_seq(m);
		if (!from_p) {
			uint64_t pending = (split && !caught_up) || s_behind
						   ? cl_nats_msg_pending(m)
						   : UINT64_MAX;

			if (split && !caught_up && pending == 0)
				caught_up = true;
			if (s_behind && (js_seq >= s_last || pending == 0))
				s_behind = false;
			cl_nats_reader_deliver(rd, m, js_seq);
			wsess_set_behind(&ws, s_behind || p_behind);
			continue;
		}
		if (p_behind && (js_seq >= p_last || cl_nats_msg_pending(m) == 0))
			p_behind = false;
		/* The packet stream: its own positions (the reader's resume
		 * position is that of the session stream). */
		if (js_seq >= p_next)
			p_next = js_seq + 1;
		if (!p_first) {
			p_first = true;
			/* Retention dropped the packet stream's first messages:
			 * what the session stream does not have below this one is
			 * gone, no need to wait for it. */
			uint64_t first = cl_nats_msg_ctflive_seq(m, &part);

			/* A message of which retention kept the last parts only
			 * is gone too (its other parts are dropped as old). */
			if (js_seq > 1 && first)
				cl_nats_reader_expired_below(rd, first + (part > 1));
		}
		cl_nats_reader_deliver(rd, m, 0);
		wsess_set_behind(&ws, s_behind || p_behind);
	}
	natsSubscription_Destroy(psub);
	natsSubscription_Destroy(sub);
	cl_nats_reader_stats(rd, &stats);
	j->interrupted = !cl_nats_reader_ended(rd) ? j->idle_ms == 0 : stats.interrupted;
	if (stats.expired)
		log_warning("%s/%s (relay %s, session %" PRIu64 "): %" PRIu64
			    " message(s) dropped by the stream's retention limits",
			    d->host, d->session, d->relay, d->session_id, stats.expired);
	stats.missing -= stats.expired;
	if (stats.missing)
		log_warning("%s/%s (relay %s, session %" PRIu64 "): %" PRIu64
			    " message(s) are missing (publication given up, or dropped by the "
			    "stream's retention limits)",
			    d->host, d->session, d->relay, d->session_id, stats.missing);
	if (stats.dropped)
		log_warning("%s/%s (relay %s, session %" PRIu64 "): %" PRIu64
			    " message(s) dropped by the relay (publication queue full)",
			    d->host, d->session, d->relay, d->session_id, stats.dropped);
	if (stats.bad) {
		/* What was printed lacks what they held: the exit status says so. */
		log_warning("%s/%s: %" PRIu64 " message(s) could not be used", d->host, d->session,
			    stats.bad);
		if (j->r == 0)
			j->r = -EBADMSG;
	}
	if (stats.interrupted)
		log_warning("%s/%s: the session was interrupted", d->host, d->session);
	cl_nats_reader_free(rd);
	wsess_fini(&ws);
}

static void *job_thread(void *arg)
{
	struct job *j = arg;

	read_session(j);
	if (j->r < 0 || j->interrupted)
		atomic_store(&g_unclean, true);
	if (atomic_fetch_sub(&g_running, 1) == 1)
		marker_finish(); /* the last one: the follower ends after it */
	return NULL;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int parse_common(int argc, char **argv, struct cli_print_opts *po, int *timeout_ms,
			int *grace_ms, bool *decode_only, void (*usage)(FILE *))
{
	enum { O_TIMEOUT = 256, O_DECODE, O_GRACE };
	static const struct option opts[] = {
		CLI_PRINT_LONGOPTS,
		CL_NATS_CONN_LONGOPTS,
		{ "decode-only", no_argument, NULL, O_DECODE },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *why = NULL;
	int c, r;

	optind = 1;
	memset(&g_conn, 0, sizeof(g_conn));
	while ((c = getopt_long(argc, argv, CLI_PRINT_SHORTOPTS "h", opts, NULL)) != -1) {
		if (cl_nats_conn_opt(c, optarg, &g_conn))
			continue;
		r = po ? cli_print_opt(c, optarg, po) : 0;
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (c) {
		case O_DECODE:
			if (!decode_only)
				goto bad;
			*decode_only = true;
			break;
		case O_TIMEOUT:
			if (cl_cli_parse_ms(optarg, timeout_ms) < 0) {
				log_error("invalid timeout '%s'", optarg);
				return 2;
			}
			break;
		case O_GRACE:
			if (!grace_ms)
				goto bad;
			if (cl_cli_parse_ms(optarg, grace_ms) < 0 || *grace_ms <= 0) {
				log_error("invalid --grace '%s'", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1)
		goto bad;
	if (cl_nats_conn_check(&g_conn, &why) < 0) {
		log_error("%s", why);
		return 2;
	}
	return -1;
bad:
	usage(stderr);
	return 2;
}

static void view_usage(FILE *f)
{
	fputs("usage: ctflive view [OPTIONS] nats://SERVER[:PORT][,...]/host/HOSTNAME/SESSION\n"
	      "\n"
	      "Print the events of a session that ctflive-relayd published to NATS JetStream\n"
	      "(--publish), read from JetStream, as they arrive, until the session ends:\n"
	      "the same output as 'ctflive follow' of the relay's session directory. A\n"
	      "broken connection is resumed (any server of the list) where it was.\n"
	      "\n"
	      "  --timeout MS           also stop when nothing new arrived for MS ms and\n"
	      "                         print what was published (default: wait for the end)\n"
	      "  --grace MS             once caught up with what JetStream held, how late\n"
	      "                         a stream's packet may come after newer events of\n"
	      "                         the others (default 10000); while catching up,\n"
	      "                         every stream is waited for\n"
	      "  --decode-only          decode everything, print only the event count\n" CLI_PRINT_HELP
	      "\n" CL_NATS_CONN_HELP,
	      f);
}

/* The servers of URL `url` (what precedes its path) for messages, without
 * user information: cl_nats_url_redact(). Returns `out`. */
static const char *servers_for_msg(const char *url, char *out, size_t cap)
{
	char prefix[1024];

	(void)snprintf(prefix, sizeof(prefix), "%.*s", (int)strcspn(url + 7, "/") + 7, url);
	return cl_nats_url_redact(prefix, out, cap);
}

int cl_cmd_view_nats(int argc, char **argv)
{
	struct cli_print_opts po;
	struct cl_nats_url u;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	struct cl_nats_slist list = { 0 };
	struct cl_nats_desc *descs = NULL;
	struct job *jobs = NULL;
	size_t n_jobs = 0, cap_jobs = 0;
	char tmpl[4096], where[1024];
	const char *why = "invalid URL";
	struct ctflive_iter *it = NULL;
	struct ctflive_follow_options fo = { 0 };
	struct ctflive_diag diag;
	bool decode_only = false, tmp_made = false;
	int timeout_ms = 0, grace_ms = NATS_GRACE_MS, tmp_fd = -1, r, ret = 1;

	cli_print_opts_init(&po);
	po.grace_option = "--grace";
	r = parse_common(argc, argv, &po, &timeout_ms, &grace_ms, &decode_only, view_usage);
	if (r >= 0)
		return r;
	r = cl_nats_url_parse(argv[optind], &u, &why);
	if (r < 0 || !u.host) {
		log_error("invalid URL '%s': %s",
			  cl_nats_url_redact(argv[optind], where, sizeof(where)),
			  r < 0 ? why : "expecting nats://SERVER[:PORT]/host/HOSTNAME/SESSION");
		cl_nats_url_free(&u);
		return 2;
	}
	atomic_store(&g_stop, false);
	atomic_store(&g_unclean, false);
	atomic_store(&g_running, 0);
	if (cl_nats_connect(&u, &g_conn, "ctflive", 5000, true, &nc, &js) < 0 ||
	    cl_nats_list_streams(js, &list) < 0)
		goto out;
	descs = calloc(list.n ? list.n : 1, sizeof(*descs));
	if (!descs)
		goto out;
	for (size_t i = 0; i < list.n; i++) {
		struct cl_nats_desc *d = &descs[i];
		struct job *j;

		if (cl_nats_desc_parse(list.v[i], d) < 0 || strcmp(d->host, u.host) ||
		    strcmp(d->session, u.session))
			continue;
		if (cl_grow(&jobs, &cap_jobs, n_jobs + 1) < 0)
			goto out;
		j = &jobs[n_jobs++];
		memset(j, 0, sizeof(*j));
		j->js = js;
		j->name = list.v[i]->Config->Name;
		j->d = d;
		j->idle_ms = timeout_ms;
	}
	if (!n_jobs) {
		servers_for_msg(argv[optind], where, sizeof(where));
		log_error("no session %s/%s on NATS at %s (see 'ctflive ls %s')", u.host, u.session,
			  where, where);
		goto out;
	}
	if (snprintf(tmpl, sizeof(tmpl), "%s/ctflive-nats-XXXXXX",
		     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") >= (int)sizeof(tmpl) ||
	    !mkdtemp(tmpl)) {
		log_error("cannot create a temporary directory: %s", strerror(errno));
		goto out;
	}
	tmp_made = true;
	tmp_fd = open(tmpl, O_PATH | O_DIRECTORY | O_CLOEXEC);
	r = tmp_fd < 0 ? -errno
		       : cl_lock_create_file(tmp_fd, CL_SESSION_MARKER_NAME, NULL, 0, &g_marker_fd);
	if (r == 0 && cl_pwrite_full(g_marker_fd, CL_MARKER_ACTIVE "\n",
				     strlen(CL_MARKER_ACTIVE "\n"), 0) < 0)
		r = -EIO;
	if (r < 0) {
		log_error("cannot create the session marker in %s: %s", tmpl, strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < n_jobs; i++)
		if (asprintf(&jobs[i].dir, "%s/%zu", tmpl, i) < 0)
			goto out;
	atomic_store(&g_running, (int)n_jobs);
	for (size_t i = 0; i < n_jobs; i++) {
		r = pthread_create(&jobs[i].thr, NULL, job_thread, &jobs[i]);
		if (r) {
			log_error("cannot start a thread: %s", strerror(r));
			atomic_store(&g_stop, true);
			atomic_fetch_sub(&g_running, (int)(n_jobs - i) - 1);
			job_thread(&jobs[i]); /* counts itself; ends the marker if last */
			goto out;
		}
		jobs[i].started = true;
	}
	/* Packets of one relay session come in the order the relay published
	 * them, all streams mixed, as fast as this process reads them: a
	 * stream's packet may come seconds after later events of another
	 * (a reader catching up): a longer grace than a local directory's. */
	fo.grace_ms = grace_ms;
	r = ctflive_iter_open_follow(tmpl, &fo, &it, &diag);
	if (r < 0) {
		cl_cli_print_diag(&diag, false);
		goto out;
	}
	ret = cl_cli_print_loop(it, &po, decode_only);
	ctflive_iter_free(it);
	for (size_t i = 0; i < n_jobs && ret == 0; i++)
		if (jobs[i].r < 0)
			ret = 1;
out:
	atomic_store(&g_stop, true);
	for (size_t i = 0; i < n_jobs; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].thr, NULL);
	if (atomic_load(&g_running) == 0 && g_marker_fd >= 0)
		marker_finish(); /* no thread ran */
	if (g_marker_fd >= 0) {
		close(g_marker_fd);
		g_marker_fd = -1;
	}
	if (tmp_fd >= 0)
		close(tmp_fd);
	if (tmp_made && !getenv("CTFLIVE_NATS_KEEP"))
		(void)nftw(tmpl, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < n_jobs; i++)
		free(jobs[i].dir);
	free(jobs);
	free(descs);
	cl_nats_slist_free(&list);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	cl_nats_url_free(&u);
	nats_CloseAndWait(1000);
	return ret;
}

static void ls_usage(FILE *f)
{
	fputs("usage: ctflive ls [--timeout MS] nats://SERVER[:PORT][,...]\n"
	      "\n"
	      "List the sessions that ctflive-relayd published to NATS JetStream, one\n"
	      "JetStream stream (one relay session) per line:\n"
	      "  URL/host/HOSTNAME/SESSION (relay ID, session N, M message(s), B byte(s), STATE)\n"
	      "STATE: live, ended or interrupted.\n"
	      "\n"
	      "      --timeout MS   give up when NATS does not answer within MS ms (5000)\n"
	      "  -h, --help         show this help\n"
	      "\n" CL_NATS_CONN_HELP,
	      f);
}

static void print_name(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

int cl_cmd_ls_nats(int argc, char **argv)
{
	struct cl_nats_url u;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	struct cl_nats_slist list = { 0 };
	const char *why = "invalid URL", *url = NULL;
	char where[1024];
	int timeout_ms = 5000, r, ret = 1;

	r = parse_common(argc, argv, NULL, &timeout_ms, NULL, NULL, ls_usage);
	if (r >= 0)
		return r;
	url = argv[optind];
	r = cl_nats_url_parse(url, &u, &why);
	if (r < 0 || u.host) {
		/* `ls` lists every session: a path is of no use to it */
		log_error("invalid URL '%s': %s", cl_nats_url_redact(url, where, sizeof(where)),
			  r == 0 || strstr(why, "/host/")
				  ? "ls takes nats://SERVER[:PORT][,...] without a path"
				  : why);
		cl_nats_url_free(&u);
		return 2;
	}
	if (cl_nats_connect(&u, &g_conn, "ctflive", timeout_ms, false, &nc, &js) < 0 ||
	    cl_nats_list_streams(js, &list) < 0)
		goto out;
	for (size_t i = 0; i < list.n; i++) {
		const jsStreamInfo *si = list.v[i];
		struct cl_nats_desc d;

		if (cl_nats_desc_parse(si, &d) < 0)
			continue;
		printf("%s/host/", servers_for_msg(url, where, sizeof(where)));
		print_name(d.host);
		putchar('/');
		print_name(d.session);
		printf(" (relay ");
		print_name(d.relay);
		printf(", session %" PRIu64 ", %" PRIu64 " message(s), %" PRIu64 " byte(s), %s)\n",
		       d.session_id, si->State.Msgs, si->State.Bytes,
		       cl_nats_session_state(js, si->Config->Name, d.prefix));
	}
	ret = fflush(stdout) ? 1 : 0;
out:
	cl_nats_slist_free(&list);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	cl_nats_url_free(&u);
	nats_CloseAndWait(1000);
	return ret;
}
