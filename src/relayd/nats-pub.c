/* SPDX-License-Identifier: MIT */
/*
 * Publishing to NATS JetStream: see nats-pub.h; the format is doc/nats.md.
 *
 * The loop thread and the publisher thread share only the queue (a FIFO of
 * items under one mutex) and the counters (atomics). An item is one
 * JetStream stream to create or one logical message; the publisher thread
 * owns an item once it took it from the queue.
 */
#include "nats-pub.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "ctf-index.h"
#include "fsutil.h"
#include "grow.h"
#include "io.h"
#include "log.h"
#include "nats-conn.h"
#include "nats-names.h"
#include "relay.h"

#define ITEM_OVERHEAD    256u /* bytes counted per item on top of its payload */
#define STOP_FLUSH_MS    3000 /* at most this long flushing at shutdown, connected */
#define CREATE_RETRY_NS  (1000000000LL)
#define REPORT_PERIOD_NS (5000000000LL)
#define MAX_HEADERS      4
#define ACK_WAIT_MS      5000
#define RETRY_PERIOD_MS  250 /* between two rounds of retries */
#define MAX_ATTEMPTS     120 /* a message that failed this often is given up */
#define H_ATTEMPT        "Ctflive-Attempt"
#define ALIVE_MS         5000 /* a live session says so this often (doc/nats.md) */

/* Thread side of one relay session: its JetStream stream. */
struct tsess {
	char name[CL_NATS_NAME_MAX];
	char *subjects;    /* owned: "<prefix>.>" */
	char *description; /* owned: "ctflive/1 PREFIX" (doc/nats.md) */
	bool created;
	bool warned;      /* a creation failure was logged */
	int64_t last_try; /* CLOCK_MONOTONIC ns of the last creation attempt */
};

enum item_kind {
	ITEM_CREATE, /* create the stream of `ts` */
	ITEM_MSG,    /* publish a message on the stream of `ts` */
	ITEM_END,    /* last item of `ts`: free it */
};

struct item {
	struct item *next;
	enum item_kind kind;
	struct tsess *ts;
	char *subject; /* owned */
	uint64_t seq;  /* Ctflive-Seq */
	char *msg_id;  /* owned: Nats-Msg-Id of the message (parts add "/K") */
	uint8_t *data; /* owned */
	size_t len;    /* bytes of data */
	size_t n_hdrs;
	struct {
		const char *key;
		char value[32];
	} hdrs[MAX_HEADERS];
};

/* Loop side of one trace stream. */
struct nstream {
	uint64_t handle;
	uint64_t sent_entries; /* index entries handed to the queue (or dropped) */
	uint64_t sent_meta;    /* metadata bytes handed to the queue (or dropped) */
	uint64_t meta_epoch;
	uint64_t beacon_ts;
	bool has_beacon;
	bool seen; /* still in its session (tick) */
};

/* Loop side of one relay session. */
struct nsess {
	struct cl_list_node node; /* in nats_pub->sessions */
	uint64_t id;
	char *prefix;     /* owned */
	struct tsess *ts; /* handed to the thread with ITEM_CREATE, freed by it at ITEM_END */
	uint64_t seq;     /* last Ctflive-Seq given */
	uint64_t dropped, dropped_told; /* messages not queued; told readers so far */
	struct nstream *streams;
	size_t n_streams, cap_streams;
	bool hangup_sent;
	bool aborted;
	int64_t alive_ms; /* monotonic ms of the last "alive" message (or of the start) */
};

struct nats_pub {
	struct nats_pub_opts o;
	char relay_id[256];
	struct cl_list sessions;
	/* queue */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *head, *tail;
	uint64_t queued_bytes;
	bool stopping;
	pthread_t thread;
	bool thread_started;
	/* counters (any thread) */
	atomic_uint_fast64_t dropped; /* messages not queued: queue full or read error */
	atomic_uint_fast64_t failed;  /* publish refused, nacked or never acknowledged */
	atomic_uint_fast64_t acked;   /* message parts acknowledged */
	uint64_t reported;            /* dropped + failed at the last report */
	int64_t last_report;
	/* publications to retry (under `lock`): refused or unacknowledged */
	natsMsg **retry;
	size_t n_retry, cap_retry;
	/* publisher thread only */
	struct tsess **uncreated; /* streams whose creation failed, until their end */
	size_t n_uncreated, cap_uncreated;
	natsConnection *nc;
	jsCtx *js;
	/* loop thread: the connection's last error reported, and when (ms) */
	char conn_err[256];
	int64_t conn_err_ms;
	char where[512]; /* the URLs without user information, for messages */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	free(it->subject);
	free(it->msg_id);
	free(it->data);
	free(it);
}

static void tsess_free(struct tsess *ts)
{
	if (!ts)
		return;
	free(ts->subjects);
	free(ts->description);
	free(ts);
}

/* ---- loop thread: queueing ---- */

static void item_header(struct item *it, const char *key, uint64_t v);

/*
 * Queues `it` (of session `ns`, NULL for creations and ends) unless it is a
 * message, not `forced`, and the queue is full: then it is freed and
 * counted, and the session's next "dropped" message tells readers. A queued
 * message gets the session's next Ctflive-Seq and its Nats-Msg-Id here, so
 * numbers have no gaps: a gap in what readers get is a message JetStream
 * does not have (yet).
 */
static void enqueue(struct nats_pub *p, struct nsess *ns, struct item *it, bool forced)
{
	uint64_t cost = it->len + ITEM_OVERHEAD;
	bool full;

	if (it->kind == ITEM_MSG) {
		if (asprintf(&it->msg_id, "%s/%" PRIu64 "/%" PRIu64, p->relay_id, ns->id,
			     ns->seq + 1) < 0) {
			it->msg_id = NULL;
			goto drop;
		}
	}
	pthread_mutex_lock(&p->lock);
	/* Creations and ends are always queued: they carry no payload and own `ts`. */
	full = it->kind == ITEM_MSG && !forced && p->queued_bytes + cost > p->o.queue_bytes;
	if (!full) {
		if (it->kind == ITEM_MSG) {
			it->seq = ++ns->seq;
			item_header(it, CL_NATS_H_SEQ, it->seq);
		}
		it->next = NULL;
		if (p->tail)
			p->tail->next = it;
		else
			p->head = it;
		p->tail = it;
		p->queued_bytes += cost;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	if (!full)
		return;
drop:
	ns->dropped++;
	atomic_fetch_add(&p->dropped, 1);
	item_free(it);
}

/* True when `len` more bytes would not fit: the caller skips reading them. */
static bool queue_full(struct nats_pub *p, uint64_t len)
{
	bool full;

	pthread_mutex_lock(&p->lock);
	full = p->queued_bytes + len + ITEM_OVERHEAD > p->o.queue_bytes;
	pthread_mutex_unlock(&p->lock);
	return full;
}

static void item_header(struct item *it, const char *key, uint64_t v)
{
	if (it->n_hdrs >= MAX_HEADERS)
		return;
	it->hdrs[it->n_hdrs].key = key;
	(void)snprintf(it->hdrs[it->n_hdrs].value, sizeof(it->hdrs[0].value), "%" PRIu64, v);
	it->n_hdrs++;
}

/*
 * A message on "<prefix>.<what>[.<handle>]" of `ns`, taking `data` (`len`
 * bytes, may be NULL). NULL when out of memory (`data` is freed).
 */
static struct item *new_msg(struct nats_pub *p, struct nsess *ns, const char *what, bool handle,
			    uint64_t h, uint8_t *data, size_t len)
{
	struct item *it = calloc(1, sizeof(*it));
	int n;

	if (!it)
		goto fail;
	it->kind = ITEM_MSG;
	it->ts = ns->ts;
	it->data = data;
	it->len = len;
	if (handle)
		n = asprintf(&it->subject, "%s.%s.%" PRIu64, ns->prefix, what, h);
	else
		n = asprintf(&it->subject, "%s.%s", ns->prefix, what);
	if (n < 0) {
		it->subject = NULL;
		it->data = NULL;
		item_free(it);
		goto fail;
	}
	return it;
fail:
	free(data);
	ns->dropped++;
	atomic_fetch_add(&p->dropped, 1);
	return NULL;
}

/* A life-cycle message (JSON object `o`, taken) on "<prefix>.ctl". */
static void send_ctl(struct nats_pub *p, struct nsess *ns, struct json_object *o)
{
	const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
	uint8_t *d = s ? (uint8_t *)strdup(s) : NULL;
	struct item *it;

	json_object_put(o);
	if (!d) {
		ns->dropped++;
		atomic_fetch_add(&p->dropped, 1);
		return;
	}
	it = new_msg(p, ns, "ctl", false, 0, d, strlen((char *)d));
	if (it)
		enqueue(p, ns, it, true); /* small, and readers need every one */
}

static struct json_object *ctl_new(const char *type)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "type", json_object_new_string(type));
	return o;
}

static struct nsess *nsess_find(struct nats_pub *p, uint64_t id)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &p->sessions) {
		struct nsess *ns = cl_container_of(n, struct nsess, node);

		if (ns->id == id)
			return ns;
	}
	return NULL;
}

static struct json_object *session_json(struct nats_pub *p, const struct session *s,
					const char *prefix)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "host", json_object_new_string(s->hostname));
	json_object_object_add(o, "session", json_object_new_string(s->session_name));
	json_object_object_add(o, "relay", json_object_new_string(p->relay_id));
	json_object_object_add(o, "session_id", json_object_new_uint64(s->id));
	json_object_object_add(o, "subject_prefix", json_object_new_string(prefix));
	json_object_object_add(o, "live_timer_us", json_object_new_uint64(s->live_timer));
	json_object_object_add(
		o, "trace_format",
		json_object_new_string(
			s->trace_format == CL_RELAYD_TRACE_FORMAT_CTF_2 ? "CTF 2" : "CTF 1.8"));
	json_object_object_add(o, "output_path",
			       json_object_new_string(s->output_path ? s->output_path : ""));
	return o;
}

/* The state of `s`, created on first use with its stream and "session" message. */
static struct nsess *nsess_get(struct nats_pub *p, struct session *s)
{
	struct nsess *ns = nsess_find(p, s->id);
	char prefix[CL_NATS_PREFIX_MAX];
	struct json_object *o;
	struct item *it;

	if (ns)
		return ns;
	if (cl_nats_prefix(s->hostname, s->session_name, p->relay_id, s->id, prefix,
			   sizeof(prefix)) < 0)
		return NULL;
	ns = calloc(1, sizeof(*ns));
	it = calloc(1, sizeof(*it));
	if (!ns || !it)
		goto fail;
	ns->id = s->id;
	ns->prefix = strdup(prefix);
	ns->ts = calloc(1, sizeof(*ns->ts));
	if (!ns->prefix || !ns->ts || asprintf(&ns->ts->subjects, "%s.>", prefix) < 0)
		goto fail;
	cl_nats_stream_name(s->hostname, s->session_name, p->relay_id, s->id, ns->ts->name);
	/* Plain text: the client library does not escape it in its JSON request. */
	if (asprintf(&ns->ts->description, "%s%s", CL_NATS_DESC_PREFIX, prefix) < 0) {
		ns->ts->description = NULL;
		goto fail;
	}
	it->kind = ITEM_CREATE;
	it->ts = ns->ts;
	cl_list_append(&p->sessions, &ns->node);
	enqueue(p, NULL, it, true);
	o = session_json(p, s, prefix);
	if (o)
		json_object_object_add(o, "type", json_object_new_string("session"));
	send_ctl(p, ns, o);
	log_info("session %" PRIu64 ": publishing to JetStream stream %s", s->id, ns->ts->name);
	return ns;
fail:
	if (ns) {
		tsess_free(ns->ts);
		free(ns->prefix);
	}
	free(ns);
	free(it);
	return NULL;
}

static struct nstream *nstream_get(struct nats_pub *p, struct nsess *ns, struct stream *st)
{
	struct json_object *o;
	struct nstream *nst;

	for (size_t i = 0; i < ns->n_streams; i++)
		if (ns->streams[i].handle == st->handle)
			return &ns->streams[i];
	if (cl_grow(&ns->streams, &ns->cap_streams, ns->n_streams + 1) < 0)
		return NULL;
	nst = &ns->streams[ns->n_streams++];
	memset(nst, 0, sizeof(*nst));
	nst->handle = st->handle;
	nst->meta_epoch = st->metadata_epoch;
	o = ctl_new("stream");
	if (o) {
		json_object_object_add(o, "handle", json_object_new_uint64(st->handle));
		json_object_object_add(o, "channel", json_object_new_string(st->channel_name));
		json_object_object_add(o, "path", json_object_new_string(st->pathname));
		json_object_object_add(o, "metadata", json_object_new_boolean(st->is_metadata));
		json_object_object_add(o, "trace_id", json_object_new_uint64(st->trace_id));
		json_object_object_add(o, "index_entry_size",
				       json_object_new_uint64(st->index_entry_size));
	}
	send_ctl(p, ns, o);
	return nst;
}

/*
 * Opens a file whose descriptors are closed read-only (its index file when
 * `index`): the last file of a parked stream, or an older file closed
 * while idle, beneath the directory descriptor kept for it, checked to be
 * the file closed (device, inode). Nothing of the stream changes (publication
 * -> NATS must not call back into streams). 0 or -errno.
 */
static int open_parked(const struct stream *st, const struct segment *sg, bool index, int *ret_fd)
{
	bool last = st->n_segs > 0 && sg == &st->segs[st->n_segs - 1];
	bool parked = last && st->parked && st->pdir;
	int base = parked ? st->pdir->fd : sg->idle_closed && sg->dir ? sg->dir->fd : -1;
	uint64_t dev = parked ? (index ? st->parked_index_dev : st->parked_dev)
			      : (index ? sg->index_dev : sg->data_dev);
	uint64_t ino = parked ? (index ? st->parked_index_ino : st->parked_ino)
			      : (index ? sg->index_ino : sg->data_ino);
	char name[320];
	struct stat sb;
	size_t len;
	int dir = -1, fd, r = 0;

	if (base < 0 || sg->gone || (index && !(parked ? st->parked_index : sg->has_index_file)))
		return -EBADF;
	stream_tracefile_name(st, sg->tracefile, name, sizeof(name) - 4);
	len = strlen(name);
	if (index) {
		(void)snprintf(name + len, sizeof(name) - len, ".idx");
		r = cl_open_dir_beneath(base, "index", &dir);
		if (r < 0)
			return r;
	}
	fd = openat(index ? dir : base, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		r = -errno;
	else if (fstat(fd, &sb) < 0)
		r = -errno;
	else if ((uint64_t)sb.st_dev != dev || (uint64_t)sb.st_ino != ino)
		r = -ESTALE;
	if (dir >= 0)
		close(dir);
	if (r < 0 && fd >= 0)
		close(fd);
	if (r == 0)
		*ret_fd = fd;
	return r;
}

/*
 * Reads len bytes at off of file `sg` of `st` (its index file when `index`)
 * through the segment's descriptor or, if the stream is parked (its files
 * closed to save descriptors), through one opened for this read only.
 * 0 or -errno.
 */
static int read_seg(struct stream *st, struct segment *sg, bool index, void *buf, size_t len,
		    uint64_t off)
{
	int fd = index ? sg->index_fd : sg->data_fd, own = -1, r;

	if (fd < 0) {
		r = open_parked(st, sg, index, &own);
		if (r < 0)
			return r;
		fd = own;
	}
	r = cl_pread_full(fd, buf, len, off);
	if (own >= 0)
		close(own);
	return r;
}

static void send_metadata(struct nats_pub *p, struct nsess *ns, struct nstream *nst,
			  struct stream *st)
{
	struct segment *sg = st->n_segs ? &st->segs[st->n_segs - 1] : NULL;
	uint64_t from = nst->sent_meta, to = st->metadata_published;
	uint8_t *buf;
	struct item *it;

	if (st->metadata_epoch != nst->meta_epoch) {
		nst->meta_epoch = st->metadata_epoch;
		from = nst->sent_meta = 0;
	}
	if (to <= from)
		return;
	nst->sent_meta = to;
	buf = to - from <= SIZE_MAX && !queue_full(p, to - from) ? malloc((size_t)(to - from))
								 : NULL;
	if (!buf || !sg || read_seg(st, sg, false, buf, (size_t)(to - from), from) < 0) {
		free(buf);
		ns->dropped++;
		atomic_fetch_add(&p->dropped, 1);
		return;
	}
	it = new_msg(p, ns, "meta", true, st->handle, buf, (size_t)(to - from));
	if (!it)
		return;
	item_header(it, CL_NATS_H_OFFSET, from);
	item_header(it, CL_NATS_H_EPOCH, nst->meta_epoch);
	enqueue(p, ns, it, true); /* every reader needs all of it */
}

/* The segment holding index entry `e` (as stream_segment_of(), without calling
 * back into stream.c: publication -> NATS must not depend on streams). */
static struct segment *segment_of(struct stream *st, uint64_t e)
{
	for (size_t i = 0; i < st->n_segs; i++) {
		struct segment *sg = &st->segs[i];

		if (sg->has_entries && e >= sg->first_entry && e - sg->first_entry < sg->n_entries)
			return sg;
	}
	return NULL;
}

static struct session *find_session(struct relay *relay, uint64_t id)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);

		if (s->id == id)
			return s;
	}
	return NULL;
}

/* Index entry `e` of `st` and its packet: one message (entry bytes, then packet). */
static void send_entry(struct nats_pub *p, struct nsess *ns, struct stream *st, uint64_t e)
{
	struct segment *sg = segment_of(st, e);
	uint32_t esz = st->index_entry_size;
	struct cl_index_entry ie;
	uint8_t ebuf[CL_INDEX_ENTRY_SIZE_MAX];
	struct cl_rbuf rb;
	uint64_t plen = 0;
	uint8_t *buf = NULL;
	struct item *it;

	if (!sg || esz > sizeof(ebuf) ||
	    read_seg(st, sg, true, ebuf, esz, cl_index_entry_pos(e - sg->first_entry, esz)) < 0)
		goto drop;
	rb = cl_rbuf_make(ebuf, esz);
	if (cl_index_entry_decode(&rb, esz, &ie) < 0)
		goto drop;
	if (!cl_index_entry_is_lost(&ie)) {
		if (ie.packet_size % 8 || ie.packet_size / 8 > RELAY_MAX_PACKET_SIZE)
			goto drop;
		plen = ie.packet_size / 8;
	}
	if (queue_full(p, esz + plen))
		goto drop;
	buf = malloc(esz + plen);
	if (!buf)
		goto drop;
	memcpy(buf, ebuf, esz);
	if (plen && read_seg(st, sg, false, buf + esz, plen, ie.offset) < 0)
		goto drop;
	it = new_msg(p, ns, "data", true, st->handle, buf, esz + plen);
	if (!it)
		return;
	item_header(it, CL_NATS_H_ENTRY_SIZE, esz);
	enqueue(p, ns, it, false);
	return;
drop:
	free(buf);
	ns->dropped++;
	atomic_fetch_add(&p->dropped, 1);
}

/* Whether the metadata stream of trace `trace_id` of `s` was announced. */
static bool trace_announced(const struct nsess *ns, struct session *s, uint64_t trace_id)
{
	struct cl_list_node *n;

	cl_list_for_each (n, &s->streams) {
		struct stream *st = cl_container_of(n, struct stream, node);

		if (!st->is_metadata || st->trace_id != trace_id)
			continue;
		for (size_t i = 0; i < ns->n_streams; i++)
			if (ns->streams[i].handle == st->handle)
				return true;
	}
	return false;
}

void nats_pub_session(struct session *s)
{
	struct nats_pub *p = s->relay->nats;
	struct nsess *ns;

	if (!p || !(ns = nsess_get(p, s)))
		return;
	/* Metadata first: a packet is never published before the metadata it
	 * needs; then every data stream to announce, then their packets, so
	 * that a reader learns all the streams of a trace before any packet
	 * of it (a stream announced after another's packets may be found by a
	 * reader after newer events of the others were printed). */
	for (int pass = 0; pass < 3; pass++) {
		struct cl_list_node *n;

		cl_list_for_each (n, &s->streams) {
			struct stream *st = cl_container_of(n, struct stream, node);
			struct nstream *nst;

			if (st->is_metadata != (pass == 0))
				continue;
			/* Every data stream is announced once its trace's metadata is,
			 * packets or not: a live viewer of an edge lists the streams
			 * of a trace at once, as the relay's own viewers do (a stream
			 * learnt late, after newer events of others were printed,
			 * makes babeltrace2 2.0.4 fail). */
			if (!st->is_metadata && st->published_entries == 0 &&
			    !trace_announced(ns, s, st->trace_id))
				continue;
			if (st->is_metadata && st->metadata_published == 0)
				continue;
			nst = nstream_get(p, ns, st);
			if (!nst)
				continue;
			if (st->is_metadata) {
				send_metadata(p, ns, nst, st);
				continue;
			}
			if (pass == 1)
				continue; /* announced */
			for (; nst->sent_entries < st->published_entries; nst->sent_entries++)
				send_entry(p, ns, st, nst->sent_entries);
		}
	}
}

/* ---- loop thread: life cycle ---- */

/* Tells readers how many messages of the session were dropped so far. */
static void tell_dropped(struct nats_pub *p, struct nsess *ns)
{
	struct json_object *o;

	if (ns->dropped == ns->dropped_told)
		return;
	ns->dropped_told = ns->dropped;
	o = ctl_new("dropped");
	if (o)
		json_object_object_add(o, "messages", json_object_new_uint64(ns->dropped));
	send_ctl(p, ns, o);
}

static void nsess_end(struct nats_pub *p, struct nsess *ns, bool interrupted)
{
	struct json_object *o;
	struct item *it;

	for (size_t i = 0; i < ns->n_streams; i++) {
		o = ctl_new("close");
		if (o)
			json_object_object_add(o, "handle",
					       json_object_new_uint64(ns->streams[i].handle));
		send_ctl(p, ns, o);
	}
	tell_dropped(p, ns);
	o = ctl_new("end");
	if (o)
		json_object_object_add(o, "interrupted", json_object_new_boolean(interrupted));
	send_ctl(p, ns, o);
	it = calloc(1, sizeof(*it));
	if (it) {
		it->kind = ITEM_END;
		it->ts = ns->ts;
		enqueue(p, NULL, it, true);
	} else {
		log_warning("NATS: out of memory ending a session"); /* ts leaks */
	}
	cl_list_remove(&ns->node);
	free(ns->streams);
	free(ns->prefix);
	free(ns);
}

static void report(struct nats_pub *p, bool final)
{
	uint64_t dropped = atomic_load(&p->dropped), failed = atomic_load(&p->failed);
	uint64_t acked = atomic_load(&p->acked);
	int64_t now = now_ns();

	if (!final && (dropped + failed == p->reported || now - p->last_report < REPORT_PERIOD_NS))
		return;
	p->last_report = now;
	p->reported = dropped + failed;
	if (dropped + failed)
		log_warning("NATS: %" PRIu64 " message(s) not published (%" PRIu64
			    " dropped: queue full or unreadable, %" PRIu64
			    " refused or unacknowledged), %" PRIu64 " message part(s) acknowledged",
			    dropped + failed, dropped, failed, acked);
	else if (final)
		log_info("NATS: %" PRIu64 " message part(s) published and acknowledged", acked);
}

void nats_pub_observe(struct relay *relay)
{
	struct nats_pub *p = relay->nats;
	struct cl_list_node *n;

	if (!p)
		return;
	cl_list_for_each (n, &relay->sessions) {
		struct session *s = cl_container_of(n, struct session, node);
		struct nsess *ns;

		/* A session is announced once created, packets or not: edges and
		 * `ls nats://` list it at once, as the relay's own viewers do. */
		if (!s->nats_announced && !s->aborted && !s->connection_closed)
			s->nats_announced = nsess_get(p, s) != NULL;
		if (!s->connection_closed && !s->aborted)
			continue;
		ns = nsess_find(p, s->id);
		if (!ns)
			continue;
		ns->aborted |= s->aborted;
		if (s->connection_closed && !ns->hangup_sent) {
			ns->hangup_sent = true;
			send_ctl(p, ns, ctl_new("hangup"));
		}
	}
}

/*
 * While the client is not connected (it retries by itself), logs why: the
 * server's refusal (authorization, TLS) or the connection error, when it
 * changes and every 30 s while it lasts; once connected again, says so.
 */
static atomic_bool g_down; /* see disconnected_cb() */

static void report_connection(struct nats_pub *p, int64_t now_ms)
{
	char err[sizeof(p->conn_err)] = "";
	const char *txt = NULL;

	if (natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED) {
		if (p->conn_err[0])
			log_notice("NATS: connected to %s", p->where);
		p->conn_err[0] = 0;
		return;
	}
	if (natsConnection_GetLastError(p->nc, &txt) != NATS_OK && txt && *txt)
		(void)snprintf(err, sizeof(err), "%s", txt);
	else if (natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTING ||
		 (natsConnection_Status(p->nc) == NATS_CONN_STATUS_RECONNECTING &&
		  !atomic_load(&g_down)))
		/* a start with no server reachable: libnats retries in the
		 * background and records no error */
		(void)snprintf(err, sizeof(err), "no server answers yet");
	else
		return;
	if (!strcmp(err, p->conn_err) && now_ms - p->conn_err_ms < 30000)
		return;
	memcpy(p->conn_err, err, sizeof(err));
	p->conn_err_ms = now_ms;
	log_error("NATS: not connected to %s (retrying): %s", p->where, err);
}

void nats_pub_tick(struct relay *relay)
{
	struct nats_pub *p = relay->nats;
	struct cl_list_node *n, *next;
	struct timespec tsn;
	int64_t now;

	if (!p)
		return;
	clock_gettime(CLOCK_MONOTONIC, &tsn);
	now = (int64_t)tsn.tv_sec * 1000 + tsn.tv_nsec / 1000000;
	report_connection(p, now);
	for (n = p->sessions.head.next; n != &p->sessions.head; n = next) {
		struct nsess *ns = cl_container_of(n, struct nsess, node);
		struct session *s = find_session(relay, ns->id);
		struct cl_list_node *m;

		next = n->next;
		if (!s) {
			nsess_end(p, ns, ns->aborted || !ns->hangup_sent);
			continue;
		}
		ns->aborted |= s->aborted;
		for (size_t i = 0; i < ns->n_streams; i++)
			ns->streams[i].seen = false;
		cl_list_for_each (m, &s->streams) {
			struct stream *st = cl_container_of(m, struct stream, node);
			struct nstream *nst = NULL;

			for (size_t i = 0; i < ns->n_streams && !nst; i++)
				if (ns->streams[i].handle == st->handle)
					nst = &ns->streams[i];
			if (!nst)
				continue;
			nst->seen = true;
			/* A beacon only once every entry before it is published. */
			if (!st->is_metadata && st->has_beacon &&
			    nst->sent_entries == st->index_entries &&
			    (!nst->has_beacon || nst->beacon_ts != st->beacon_ts_end)) {
				struct item *it =
					new_msg(p, ns, "beacon", true, st->handle, NULL, 0);

				nst->has_beacon = true;
				nst->beacon_ts = st->beacon_ts_end;
				if (it) {
					item_header(it, CL_NATS_H_TS_END, st->beacon_ts_end);
					enqueue(p, ns, it, false);
				}
			}
		}
		for (size_t i = 0; i < ns->n_streams;) {
			struct json_object *o;

			if (ns->streams[i].seen) {
				i++;
				continue;
			}
			o = ctl_new("close");
			if (o)
				json_object_object_add(
					o, "handle", json_object_new_uint64(ns->streams[i].handle));
			send_ctl(p, ns, o);
			ns->streams[i] = ns->streams[--ns->n_streams];
		}
		if (s->connection_closed && !ns->hangup_sent) {
			ns->hangup_sent = true;
			send_ctl(p, ns, ctl_new("hangup"));
		}
		tell_dropped(p, ns);
		/* Readers (edges) tell a quiet session from a dead relay by these. */
		if (!ns->alive_ms) {
			ns->alive_ms = now;
		} else if (now - ns->alive_ms >= ALIVE_MS) {
			ns->alive_ms = now;
			send_ctl(p, ns, ctl_new("alive"));
		}
	}
	report(p, false);
}

/* ---- publisher thread ---- */

/* Keeps `m` (taken) for another attempt, or gives it up (counted). */
static void retry_later(struct nats_pub *p, natsMsg *m, const char *why)
{
	const char *v = NULL;
	unsigned attempt = 1;
	bool kept = false;
	char buf[16];

	if (natsMsgHeader_Get(m, H_ATTEMPT, &v) == NATS_OK)
		attempt = (unsigned)strtoul(v, NULL, 10);
	if (attempt < MAX_ATTEMPTS) {
		(void)snprintf(buf, sizeof(buf), "%u", attempt + 1);
		pthread_mutex_lock(&p->lock);
		if (!p->stopping && natsMsgHeader_Set(m, H_ATTEMPT, buf) == NATS_OK &&
		    cl_grow(&p->retry, &p->cap_retry, p->n_retry + 1) == 0) {
			p->retry[p->n_retry++] = m;
			kept = true;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (kept)
		return;
	if (atomic_fetch_add(&p->failed, 1) < 3)
		log_warning("NATS: publish of '%s' failed: %s", natsMsg_GetSubject(m), why);
	natsMsg_Destroy(m);
}

static void ack_cb(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct nats_pub *p = closure;

	(void)js;
	(void)pa;
	if (pae) {
		/* Same Nats-Msg-Id: JetStream drops it if the first one was stored. */
		retry_later(p, msg, pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
		return;
	}
	atomic_fetch_add(&p->acked, 1);
	natsMsg_Destroy(msg);
}

static bool create_stream(struct nats_pub *p, struct tsess *ts);

/* Publishes again what failed (readers order messages by Ctflive-Seq). */
static void retry_round(struct nats_pub *p)
{
	natsMsg **v;
	size_t n;
	jsPubOptions po;

	/* Messages to a stream not created yet would only be refused again. */
	for (size_t i = 0; i < p->n_uncreated;) {
		if (create_stream(p, p->uncreated[i]))
			p->uncreated[i] = p->uncreated[--p->n_uncreated];
		else
			i++;
	}
	pthread_mutex_lock(&p->lock);
	v = p->retry;
	n = p->n_retry;
	p->retry = NULL;
	p->n_retry = p->cap_retry = 0;
	pthread_mutex_unlock(&p->lock);
	jsPubOptions_Init(&po);
	po.MaxWait = ACK_WAIT_MS;
	for (size_t i = 0; i < n; i++) {
		natsMsg *m = v[i];
		natsStatus s = js_PublishMsgAsync(p->js, &m, &po);

		if (m)
			retry_later(p, m, natsStatus_GetText(s));
	}
	free(v);
}

/*
 * Adds one JetStream stream (an existing one of that name is kept as it is).
 * Retention limits apply when `limits`.
 */
static natsStatus add_stream(struct nats_pub *p, const char *name, const char *desc,
			     const char **subjects, int n_subjects, bool limits, jsErrCode *jerr)
{
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	natsStatus s;

	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Description = desc;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = n_subjects;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = p->o.replicas;
	cfg.Discard = js_DiscardOld;
	if (limits) {
		cfg.MaxAge = p->o.retain_age * 1000000000LL;
		cfg.MaxBytes = p->o.retain_bytes ? p->o.retain_bytes : -1;
	}
	s = js_AddStream(&si, p->js, &cfg, NULL, jerr);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK && *jerr == JSStreamNameExistErr)
		s = NATS_OK;
	return s;
}

/*
 * Creates the session's JetStream stream(s) (doc/nats.md, "JetStream
 * streams"): one for every subject without retention limits; with limits,
 * the life cycle and metadata in the session's stream (no limits) and the
 * packets and beacons in its packet stream (the limits), so that what
 * retention drops never includes what readers need to decode the rest.
 */
static bool create_stream(struct nats_pub *p, struct tsess *ts)
{
	bool split = p->o.retain_age || p->o.retain_bytes;
	size_t plen = strlen(ts->subjects) - 2; /* without ".>" */
	char ctl[CL_NATS_PREFIX_MAX + 8], meta[CL_NATS_PREFIX_MAX + 8];
	char data[CL_NATS_PREFIX_MAX + 8], beacon[CL_NATS_PREFIX_MAX + 8];
	char pname[CL_NATS_NAME_MAX + 8];
	char *pdesc = NULL;
	const char *all[1] = { ts->subjects };
	const char *life[2] = { ctl, meta };
	const char *pkts[2] = { data, beacon };
	const char *name = ts->name;
	jsErrCode jerr = 0;
	natsStatus s;

	if (ts->created)
		return true;
	if (ts->last_try && now_ns() - ts->last_try < CREATE_RETRY_NS)
		return false;
	ts->last_try = now_ns();
	if (!split) {
		s = add_stream(p, ts->name, ts->description, all, 1, false, &jerr);
	} else {
		(void)snprintf(ctl, sizeof(ctl), "%.*s.ctl", (int)plen, ts->subjects);
		(void)snprintf(meta, sizeof(meta), "%.*s.meta.>", (int)plen, ts->subjects);
		(void)snprintf(data, sizeof(data), "%.*s.data.>", (int)plen, ts->subjects);
		(void)snprintf(beacon, sizeof(beacon), "%.*s.beacon.>", (int)plen, ts->subjects);
		(void)snprintf(pname, sizeof(pname), "%s%s", ts->name, CL_NATS_PACKETS_SUFFIX);
		if (asprintf(&pdesc, "%s%.*s", CL_NATS_PACKETS_DESC_PREFIX, (int)plen,
			     ts->subjects) < 0)
			return false;
		/* The packet stream first: a reader that finds the session
		 * stream finds it too. */
		name = pname;
		s = add_stream(p, pname, pdesc, pkts, 2, true, &jerr);
		if (s == NATS_OK) {
			name = ts->name;
			s = add_stream(p, ts->name, ts->description, life, 2, false, &jerr);
		}
		free(pdesc);
	}
	if (s != NATS_OK) {
		if (ts->warned)
			return false;
		ts->warned = true;
		log_warning("NATS: cannot create JetStream stream %s: %s (error %d)", name,
			    natsStatus_GetText(s), (int)jerr);
		return false;
	}
	ts->created = true;
	return true;
}

static natsStatus publish_part(struct nats_pub *p, const struct item *it, const uint8_t *d,
			       size_t len, size_t k, size_t n)
{
	natsMsg *m = NULL;
	char val[64];
	natsStatus s;

	s = natsMsg_Create(&m, it->subject, NULL, (const char *)d, (int)len);
	for (size_t i = 0; s == NATS_OK && i < it->n_hdrs; i++)
		s = natsMsgHeader_Set(m, it->hdrs[i].key, it->hdrs[i].value);
	if (s == NATS_OK && n > 1) {
		(void)snprintf(val, sizeof(val), "%zu/%zu", k + 1, n);
		s = natsMsgHeader_Set(m, CL_NATS_H_PART, val);
	}
	if (s == NATS_OK) {
		char *id = NULL;

		if (n > 1 && asprintf(&id, "%s/%zu", it->msg_id, k + 1) < 0)
			s = NATS_NO_MEMORY;
		else
			s = natsMsgHeader_Set(m, CL_NATS_H_MSG_ID, id ? id : it->msg_id);
		free(id);
	}
	if (s == NATS_OK) {
		jsPubOptions po;

		/* An acknowledgement that does not come in time is a failure. */
		jsPubOptions_Init(&po);
		po.MaxWait = ACK_WAIT_MS;
		s = js_PublishMsgAsync(p->js, &m, &po);
		if (m) {
			retry_later(p, m, natsStatus_GetText(s));
			return NATS_OK; /* counted there if given up */
		}
	}
	natsMsg_Destroy(m); /* NULL once the library owns it */
	return s;
}

static void publish_item(struct nats_pub *p, const struct item *it)
{
	int64_t max = natsConnection_GetMaxPayload(p->nc);
	size_t chunk, n;
	uint64_t fails = 0;

	/* Not created yet: published anyway, refused, and retried (retry_later()). */
	(void)create_stream(p, it->ts);
	/* Room for the headers (well under 1 KiB) within the server's payload limit. */
	chunk = max > 2048 ? (size_t)max - 1024 : 1024 * 1024 - 1024;
	n = it->len ? (it->len + chunk - 1) / chunk : 1;
	for (size_t k = 0; k < n; k++) {
		size_t off = k * chunk, len = it->len - off < chunk ? it->len - off : chunk;
		natsStatus s = publish_part(p, it, it->len ? it->data + off : NULL,
					    it->len ? len : 0, k, n);

		if (s != NATS_OK) {
			if (fails++ == 0 && atomic_load(&p->failed) < 3)
				log_warning("NATS: cannot publish '%s': %s", it->subject,
					    natsStatus_GetText(s));
		}
	}
	if (fails)
		atomic_fetch_add(&p->failed, 1);
}

static void *thread_main(void *arg)
{
	struct nats_pub *p = arg;
	int64_t deadline = 0, next_retry = 0;

	for (;;) {
		struct item *it;
		bool retry, stopping;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping && !(p->n_retry && now_ns() >= next_retry)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += RETRY_PERIOD_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			(void)pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		}
		retry = p->n_retry && now_ns() >= next_retry && !p->stopping;
		pthread_mutex_unlock(&p->lock);
		if (retry) {
			next_retry = now_ns() + RETRY_PERIOD_MS * 1000000LL;
			retry_round(p);
		}
		pthread_mutex_lock(&p->lock);
		/* Stopping: a few more seconds while connected, none without a server. */
		if (p->stopping && !deadline)
			deadline = now_ns() +
				   (natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED
					    ? STOP_FLUSH_MS * 1000000LL / 2
					    : 1);
		it = p->head;
		if (it) {
			p->head = it->next;
			if (!p->head)
				p->tail = NULL;
			p->queued_bytes -= it->len + ITEM_OVERHEAD;
		}
		stopping = p->stopping;
		pthread_mutex_unlock(&p->lock);
		if (!it) {
			if (!stopping)
				continue;
			break;
		}
		switch (it->kind) {
		case ITEM_CREATE:
			if ((!deadline || now_ns() <= deadline) && !create_stream(p, it->ts) &&
			    cl_grow(&p->uncreated, &p->cap_uncreated, p->n_uncreated + 1) == 0)
				p->uncreated[p->n_uncreated++] = it->ts;
			break;
		case ITEM_MSG:
			if (deadline && now_ns() > deadline)
				atomic_fetch_add(&p->failed, 1);
			else
				publish_item(p, it);
			break;
		case ITEM_END:
			for (size_t i = 0; i < p->n_uncreated; i++)
				if (p->uncreated[i] == it->ts)
					p->uncreated[i--] = p->uncreated[--p->n_uncreated];
			tsess_free(it->ts);
			break;
		}
		item_free(it);
	}
	return NULL;
}

/*
 * Connection state changes, from libnats's callback thread: the server list
 * for messages and whether "disconnected" was said, in static storage (a
 * callback may still run while a failed start frees its nats_pub). Each
 * change is logged once: libnats may report a disconnection again while it
 * retries.
 */
static char g_where[512];
static atomic_bool g_closing;

static void disconnected_cb(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	if (!atomic_load(&g_closing) && !atomic_exchange(&g_down, true))
		log_warning("NATS: disconnected from %s, reconnecting", g_where);
}

static void reconnected_cb(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	if (!atomic_load(&g_closing) && atomic_exchange(&g_down, false))
		log_notice("NATS: reconnected to %s", g_where);
}

/* First connection after a start with no server reachable (logged by
 * report_connection()). Given, it makes libnats retry in the background:
 * without it, natsConnection_Connect() retries in the foreground, forever. */
static void connected_cb(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
}

static natsStatus set_options(natsOptions *opts, const struct nats_pub_opts *o, bool retry)
{
	char *urls = strdup(o->urls), *save = NULL;
	const char *list[16];
	int n = 0;
	natsStatus s = urls ? NATS_OK : NATS_NO_MEMORY;

	for (char *t = urls ? strtok_r(urls, ",", &save) : NULL; t && n < 16;
	     t = strtok_r(NULL, ",", &save))
		list[n++] = t;
	if (s == NATS_OK)
		s = natsOptions_SetServers(opts, list, n);
	free(urls);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, "ctflive-relayd");
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(opts, 250);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(opts, retry, retry ? connected_cb : NULL,
							NULL);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(opts, disconnected_cb, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, reconnected_cb, NULL);
	if (s == NATS_OK)
		s = cl_nats_conn_apply(opts, o->conn);
	return s;
}

int nats_pub_start(struct relay *relay, const struct nats_pub_opts *o)
{
	struct nats_pub *p = calloc(1, sizeof(*p));
	natsOptions *opts = NULL;
	jsOptions jo;
	natsStatus s;
	int r;

	if (!p)
		return -ENOMEM;
	p->o = *o;
	if (o->relay_id) {
		(void)snprintf(p->relay_id, sizeof(p->relay_id), "%s", o->relay_id);
	} else {
		char host[200] = "relay";

		(void)gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = 0;
		(void)snprintf(p->relay_id, sizeof(p->relay_id), "%s-%lld", host,
			       (long long)time(NULL));
	}
	(void)cl_nats_url_redact(o->urls, p->where, sizeof(p->where));
	memcpy(g_where, p->where, sizeof(g_where));
	atomic_store(&g_down, false);
	atomic_store(&g_closing, false);
	cl_list_init(&p->sessions);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/*
	 * One attempt first: a server that refuses us (authorization, TLS) is
	 * an error at start (the client would retry it in the foreground,
	 * forever). No server reachable: the client keeps trying in the
	 * background while the relay ingests.
	 */
	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = set_options(opts, o, false);
	if (s == NATS_OK)
		s = natsConnection_Connect(&p->nc, opts);
	natsOptions_Destroy(opts);
	opts = NULL;
	if (s == NATS_NO_SERVER) {
		s = natsOptions_Create(&opts);
		if (s == NATS_OK)
			s = set_options(opts, o, true);
		if (s == NATS_OK)
			s = natsConnection_Connect(&p->nc, opts);
		/* Not connected yet: the library keeps trying in the background. */
		if (s == NATS_NOT_YET_CONNECTED)
			s = NATS_OK;
		natsOptions_Destroy(opts);
	}
	if (s == NATS_OK) {
		jsOptions_Init(&jo);
		jo.Wait = 2000;
		jo.PublishAsync.MaxPending = 1024;
		jo.PublishAsync.AckHandler = ack_cb;
		jo.PublishAsync.AckHandlerClosure = p;
		s = natsConnection_JetStream(&p->js, p->nc, &jo);
	}
	if (s != NATS_OK) {
		log_error("cannot connect to NATS at %s: %s", p->where,
			  cl_nats_conn_error(NULL, s));
		atomic_store(&g_closing, true);
		natsConnection_Destroy(p->nc);
		free(p);
		return -EINVAL;
	}
	r = -pthread_create(&p->thread, NULL, thread_main, p);
	if (r < 0) {
		jsCtx_Destroy(p->js);
		atomic_store(&g_closing, true);
		natsConnection_Destroy(p->nc);
		free(p);
		return r;
	}
	p->thread_started = true;
	relay->nats = p;
	log_info("publishing to NATS JetStream at %s as relay '%s'", p->where, p->relay_id);
	return 0;
}

void nats_pub_stop(struct relay *relay)
{
	struct nats_pub *p = relay->nats;
	jsPubOptions po;
	natsMsgList pending = { 0 };

	if (!p)
		return;
	while (!cl_list_empty(&p->sessions)) {
		struct nsess *ns = cl_container_of(p->sessions.head.next, struct nsess, node);
		struct session *s = find_session(relay, ns->id);

		nsess_end(p, ns, ns->aborted || !ns->hangup_sent || (s && !s->connection_closed));
	}
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	(void)pthread_join(p->thread, NULL);
	jsPubOptions_Init(&po);
	po.MaxWait =
		natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED ? STOP_FLUSH_MS / 2 : 1;
	/* The pending list only when some are left (libnats 3.4 crashes on none). */
	if (js_PublishAsyncComplete(p->js, &po) == NATS_TIMEOUT &&
	    js_PublishAsyncGetPendingList(&pending, p->js) == NATS_OK) {
		atomic_fetch_add(&p->failed, (uint64_t)pending.Count);
		natsMsgList_Destroy(&pending);
	}
	free(p->uncreated); /* every one was ended: nothing left to free in it */
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n_retry; i++)
		natsMsg_Destroy(p->retry[i]);
	atomic_fetch_add(&p->failed, p->n_retry);
	free(p->retry);
	p->retry = NULL;
	p->n_retry = 0;
	pthread_mutex_unlock(&p->lock);
	report(p, true);
	jsCtx_Destroy(p->js);
	atomic_store(&g_closing, true);
	natsConnection_Destroy(p->nc);
	/* No callback of the library runs any more once it is closed. */
	nats_CloseAndWait(1000);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	relay->nats = NULL;
}
