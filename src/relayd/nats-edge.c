/* SPDX-License-Identifier: MIT */
/*
 * The edge relay: JetStream sessions served to live viewers (nats-edge.h,
 * doc/nats.md "Edge relays").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "ctf-index.h"
#include "grow.h"
#include "live.h"
#include "log.h"
#include "macro.h"
#include "nats-edge.h"
#include "nats-names.h"
#include "nats-read.h"
#include "relay.h"

#define QUEUE_MAX   (UINT64_C(64) << 20) /* bytes of messages the loop has not taken */
#define DISCOVER_MS 1000
#define CACHE_FILES 4 /* trace files per data stream in the ring */
#define JS_WAIT_MS  5000

/* A message (or a new session) from the follower to the loop thread. */
struct qitem {
	struct qitem *next;
	uint64_t id;     /* of the followed JetStream stream */
	natsMsg *m;      /* owned, NULL for a new session */
	uint64_t js_seq; /* JetStream sequence of m */
	bool packets;    /* m comes from the session's packet stream */
	char *prefix;    /* new session: owned subject prefix */
};

struct efollow;

/* What libnats hands to on_js_msg(): which stream of which session. */
struct esub {
	struct efollow *f;
	bool packets; /* the packet stream (retention limits) */
};

/* A JetStream stream followed (or seen and left alone): the thread's. */
struct efollow {
	struct nats_edge *e;
	uint64_t id;
	char *name; /* owned */
	natsSubscription *sub;
	natsSubscription *psub; /* its packet stream (retention limits), or NULL */
	struct esub ses, pkt;   /* the closures of sub and psub */
};

/* A publisher's stream, as this relay's stream. */
struct emap {
	uint64_t pub;      /* the publisher's handle */
	uint64_t local;    /* this relay's handle, 0 when not created */
	uint64_t next_seq; /* net_seq_num of the next packet */
	uint64_t epoch;    /* metadata generation */
	uint64_t sc_id;    /* CTF stream class id of the last packet (for beacons) */
	char *name;        /* owned: "<path>/<channel>", for reports */
	bool metadata;
};

/* A followed session: the loop thread's. */
struct esess {
	uint64_t id;
	struct nats_edge *e;
	struct cl_nats_reader *rd;
	char *prefix;
	struct session *s;   /* borrowed while live (NULL once ended) */
	uint64_t session_id; /* this relay's, 0 before the session message */
	char *out_path;      /* owned: the session's directory below the output */
	struct emap *map;
	size_t n_map, cap_map;
	int64_t last_ms; /* monotonic time of the last message */
	bool done;       /* ended: no more messages wanted */
	/* Retention (a packet stream): what it dropped is counted at once. */
	uint64_t p_next;       /* packet stream sequence expected next, 0: none yet */
	uint64_t expire_below; /* Ctflive-Seq below which all is gone, 0: none */
	int64_t expire_ms;     /* when expire_below was set */
	uint64_t ses_max_seq;  /* highest Ctflive-Seq of the session stream */
	bool ses_caught_up;    /* its last message had nothing pending after it */
	bool expiring;         /* in cl_nats_reader_expired_below() */
};

struct nats_edge {
	struct relay *relay;
	struct nats_edge_opts o;
	struct cl_nats_url url;
	natsConnection *nc;
	jsCtx *js;
	pthread_t thr;
	bool thr_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	struct qitem *qhead, **qtail;
	uint64_t qbytes;
	uint64_t *done_ids;
	size_t n_done, cap_done;
	bool stop;
	/* the thread's */
	struct efollow **fl;
	size_t n_fl, cap_fl;
	uint64_t next_id;
	/* the loop's */
	struct cl_watch watch; /* eventfd */
	struct esess **ss;
	size_t n_ss, cap_ss;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct nats_edge *e)
{
	uint64_t one = 1;

	(void)!write(e->watch.fd, &one, sizeof(one));
}

static void push(struct nats_edge *e, struct qitem *q, bool wait)
{
	size_t len = q->m ? (size_t)natsMsg_GetDataLength(q->m) + 256 : 256;

	pthread_mutex_lock(&e->mu);
	while (wait && e->qbytes > QUEUE_MAX && !e->stop)
		pthread_cond_wait(&e->cv, &e->mu);
	q->next = NULL;
	*e->qtail = q;
	e->qtail = &q->next;
	e->qbytes += len;
	pthread_mutex_unlock(&e->mu);
	wake(e);
}

/* libnats delivers a message of a followed stream (its own thread). */
static void on_js_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	struct esub *sb = closure;
	struct efollow *f = sb->f;
	struct qitem *q = calloc(1, sizeof(*q));

	(void)nc;
	(void)sub;
	if (!q) {
		natsMsg_Destroy(m); /* the reader reports it as a gap */
		return;
	}
	q->id = f->id;
	q->m = m;
	q->js_seq = cl_nats_msg_stream_seq(m);
	q->packets = sb->packets;
	push(f->e, q, true);
}

static struct efollow *follow_find(struct nats_edge *e, const char *name)
{
	for (size_t i = 0; i < e->n_fl; i++)
		if (!strcmp(e->fl[i]->name, name))
			return e->fl[i];
	return NULL;
}

static int follow_subscribe(struct nats_edge *e, struct efollow *f, const char *prefix)
{
	char subject[CL_NATS_PREFIX_MAX + 4];
	char pname[CL_NATS_NAME_MAX + 8];
	jsStreamInfo *psi = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	(void)snprintf(subject, sizeof(subject), "%s.>", prefix);
	jsSubOptions_Init(&so);
	so.Stream = f->name;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverAll;
	f->ses.f = f->pkt.f = f;
	f->pkt.packets = true;
	s = js_Subscribe(&f->sub, e->js, subject, on_js_msg, &f->ses, NULL, &so, &jerr);
	if (s != NATS_OK) {
		log_warning("edge: cannot follow JetStream stream %s: %s (retried)", f->name,
			    natsStatus_GetText(s));
		f->sub = NULL;
		return -EIO;
	}
	/* With retention limits the packets are in a stream of their own
	 * (doc/nats.md, "JetStream streams"); the reader orders both. */
	(void)snprintf(pname, sizeof(pname), "%s%s", f->name, CL_NATS_PACKETS_SUFFIX);
	if (js_GetStreamInfo(&psi, e->js, pname, NULL, &jerr) == NATS_OK) {
		so.Stream = pname;
		s = js_Subscribe(&f->psub, e->js, subject, on_js_msg, &f->pkt, NULL, &so, &jerr);
		if (s != NATS_OK) {
			log_warning("edge: cannot follow JetStream stream %s: %s (retried)", pname,
				    natsStatus_GetText(s));
			(void)natsSubscription_Unsubscribe(f->sub);
			natsSubscription_Destroy(f->sub);
			f->sub = f->psub = NULL;
			jsStreamInfo_Destroy(psi);
			return -EIO;
		}
	}
	jsStreamInfo_Destroy(psi);
	log_info("edge: following %s", f->name);
	return 0;
}

static bool stopping(struct nats_edge *e)
{
	bool stop;

	pthread_mutex_lock(&e->mu);
	stop = e->stop;
	pthread_mutex_unlock(&e->mu);
	return stop;
}

/* Follows the ctflive streams not seen yet whose session has not ended. */
static void discover(struct nats_edge *e)
{
	jsStreamNamesList *names = NULL;
	jsErrCode jerr = 0;

	if (js_StreamNames(&names, e->js, NULL, &jerr) != NATS_OK)
		return; /* none yet, or no answer: next round */
	for (int i = 0; i < names->Count && !stopping(e); i++) {
		const char *name = names->List[i];
		struct cl_nats_desc d;
		jsStreamInfo *si = NULL;
		struct efollow *f;
		struct qitem *q;
		const char *state;

		if (strncmp(name, "CTFLIVE_", 8))
			continue;
		f = follow_find(e, name);
		if (f)
			continue;
		if (js_GetStreamInfo(&si, e->js, name, NULL, &jerr) != NATS_OK)
			continue;
		f = calloc(1, sizeof(*f));
		if (!f || !(f->name = strdup(name)) ||
		    cl_grow(&e->fl, &e->cap_fl, e->n_fl + 1) < 0) {
			if (f)
				free(f->name);
			free(f);
			jsStreamInfo_Destroy(si);
			continue;
		}
		f->e = e;
		f->id = ++e->next_id;
		e->fl[e->n_fl++] = f;
		if (cl_nats_desc_parse(si, &d) < 0 ||
		    (e->o.hosts && fnmatch(e->o.hosts, d.host, 0) != 0)) {
			jsStreamInfo_Destroy(si);
			continue; /* not ours, or another edge's: seen, left alone */
		}
		state = cl_nats_session_state(e->js, name, d.prefix);
		if (!strcmp(state, "ended") || !strcmp(state, "interrupted")) {
			jsStreamInfo_Destroy(si);
			continue;
		}
		q = calloc(1, sizeof(*q));
		if (q && (q->prefix = strdup(d.prefix))) {
			q->id = f->id;
			push(e, q, false);
			(void)follow_subscribe(e, f, d.prefix);
		} else {
			free(q);
		}
		jsStreamInfo_Destroy(si);
	}
	jsStreamNamesList_Destroy(names);
}

static void *follower(void *arg)
{
	struct nats_edge *e = arg;

	pthread_mutex_lock(&e->mu);
	while (!e->stop) {
		uint64_t *ids;
		size_t n;
		struct timespec ts;

		ids = e->done_ids;
		n = e->n_done;
		e->done_ids = NULL;
		e->n_done = e->cap_done = 0;
		pthread_mutex_unlock(&e->mu);
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < e->n_fl; k++)
				if (e->fl[k]->id == ids[i] && e->fl[k]->sub) {
					(void)natsSubscription_Unsubscribe(e->fl[k]->sub);
					natsSubscription_Destroy(e->fl[k]->sub);
					e->fl[k]->sub = NULL;
					if (e->fl[k]->psub) {
						(void)natsSubscription_Unsubscribe(e->fl[k]->psub);
						natsSubscription_Destroy(e->fl[k]->psub);
						e->fl[k]->psub = NULL;
					}
				}
		free(ids);
		discover(e);
		pthread_mutex_lock(&e->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += DISCOVER_MS / 1000;
		if (!e->stop)
			(void)pthread_cond_timedwait(&e->cv, &e->mu, &ts);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* ---- the loop thread: sessions ---- */

static struct emap *emap_find(struct esess *es, uint64_t pub)
{
	for (size_t i = 0; i < es->n_map; i++)
		if (es->map[i].pub == pub)
			return &es->map[i];
	return NULL;
}

static struct stream *estream(struct esess *es, uint64_t pub, struct emap **ret)
{
	struct emap *m = emap_find(es, pub);
	struct stream *st;

	if (!m || !m->local || !es->s)
		return NULL;
	st = stream_find(es->e->relay, m->local);
	if (!st || st->session != es->s)
		return NULL;
	if (ret)
		*ret = m;
	return st;
}

/* 64-bit FNV-1a of `s`, from `h`. */
static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static int cb_session(void *ctx, const struct cl_nats_session_info *si)
{
	struct esess *es = ctx;
	struct relay *relay = es->e->relay;
	struct cl_relayd_create_session m = { 0 };
	struct cl_relayd_create_chunk c = { 0 };
	uint64_t h1 = fnv(UINT64_C(0xcbf29ce484222325), es->prefix), h2 = fnv(h1, "edge");
	struct session *s;
	uint32_t status;
	int r;

	if (es->s || es->session_id)
		return 0; /* one session message per relay session */
	if (si->ctf2 && relay->max_minor < 15)
		return -ENOTSUP;
	m.session_name = si->session;
	m.hostname = si->host;
	m.base_path = "";
	m.live_timer = si->live_timer_us ? si->live_timer_us : 1000000;
	for (int i = 0; i < 8; i++) {
		m.sessiond_uuid[i] = (uint8_t)(h1 >> (8 * i));
		m.sessiond_uuid[8 + i] = (uint8_t)(h2 >> (8 * i));
	}
	m.sessiond_session_id = si->session_id;
	m.creation_time = (uint64_t)time(NULL);
	m.trace_format = si->ctf2 ? CL_RELAYD_TRACE_FORMAT_CTF_2 : CL_RELAYD_TRACE_FORMAT_CTF_1_8;
	r = session_create(relay, &m, relay->max_minor, &s);
	if (r < 0) {
		log_warning_errno(r, "edge: cannot create session %s", es->prefix);
		return r;
	}
	es->s = s;
	es->session_id = s->id;
	es->out_path = strdup(s->output_path);
	c.chunk_id = 0;
	c.creation_timestamp = m.creation_time;
	r = chunk_create(relay, s, &c, &status);
	if (r < 0) {
		log_warning_errno(r, "edge: session %s: cannot create its trace chunk", es->prefix);
		s->aborted = true;
		return r;
	}
	log_info("edge: session %llu is %s/%s of relay %s (session %llu)",
		 (unsigned long long)s->id, si->host, si->session, si->relay ? si->relay : "?",
		 (unsigned long long)si->session_id);
	return 0;
}

static int cb_stream(void *ctx, const struct cl_nats_stream_info *si)
{
	struct esess *es = ctx;
	struct relay *relay = es->e->relay;
	struct cl_relayd_add_stream m = { 0 };
	struct stream *st;
	struct emap *em;
	int r;

	if (!es->s || emap_find(es, si->handle))
		return es->s ? 0 : -ENOENT;
	r = cl_grow(&es->map, &es->cap_map, es->n_map + 1);
	if (r < 0)
		return r;
	em = &es->map[es->n_map++];
	memset(em, 0, sizeof(*em));
	em->pub = si->handle;
	em->metadata = si->metadata;
	if (asprintf(&em->name, "%s/%s", si->path, si->metadata ? "metadata" : si->channel) < 0)
		em->name = NULL;
	m.channel_name = si->metadata ? "metadata" : si->channel;
	m.pathname = si->path;
	if (!si->metadata) {
		m.tracefile_size = es->e->o.cache_bytes / CACHE_FILES;
		m.tracefile_count = CACHE_FILES;
	}
	r = stream_create(relay, es->s, &m, &st);
	if (r < 0)
		return r;
	em->local = st->handle;
	st->published = true;
	live_streams_published(relay, es->s);
	return 0;
}

static int cb_metadata(void *ctx, uint64_t handle, const uint8_t *d, size_t len, uint64_t off,
		       uint64_t epoch)
{
	struct esess *es = ctx;
	struct emap *em;
	struct stream *st = estream(es, handle, &em);
	int r;

	if (!st || !st->is_metadata)
		return -ENOENT;
	if (epoch != em->epoch) {
		em->epoch = epoch;
		r = stream_reset_metadata(st);
		if (r < 0)
			return r;
	}
	if (off > st->metadata_received)
		return -EBADMSG; /* a metadata message is missing: nothing after it decodes */
	if (off + len <= st->metadata_received)
		return 0; /* already have it */
	d += st->metadata_received - off;
	len -= (size_t)(st->metadata_received - off);
	if (len > RELAY_MAX_METADATA_SIZE - st->metadata_received)
		return -E2BIG;
	r = stream_write(st, d, len);
	if (r < 0)
		return r;
	return stream_write_metadata_padding(st, 0);
}

static int cb_packet(void *ctx, uint64_t handle, const uint8_t *entry, uint32_t esz,
		     const uint8_t *pkt, size_t plen)
{
	struct esess *es = ctx;
	struct relay *relay = es->e->relay;
	struct cl_rbuf rb = cl_rbuf_make(entry, esz);
	struct cl_relayd_index ix = { 0 };
	struct cl_index_entry ie;
	struct emap *em;
	struct stream *st = estream(es, handle, &em);
	uint64_t seq;
	int r;

	if (!st || st->is_metadata)
		return -ENOENT;
	r = cl_index_entry_decode(&rb, esz, &ie);
	if (r < 0)
		return r;
	seq = em->next_seq++;
	em->sc_id = ie.stream_id;
	if (plen) {
		r = stream_begin_packet(relay, st, seq, plen, 0);
		if (r < 0)
			return r;
		r = stream_write(st, pkt, plen);
		if (r >= 0)
			r = stream_end_packet(relay, st, seq, NULL, 0, 0);
		/* The bytes are borrowed until written (stream_write()): `pkt`
		 * is the message's, freed once this returns. */
		if (r >= 0)
			r = stream_flush_all(relay);
		if (r < 0)
			return r;
	}
	/* A packet lost in transit: the index half alone, written lost once
	 * the next packet (or the close) shows its data cannot come. */
	ix.relay_stream_id = st->handle;
	ix.net_seq_num = seq;
	ix.packet_size = ie.packet_size;
	ix.content_size = ie.content_size;
	ix.timestamp_begin = ie.timestamp_begin;
	ix.timestamp_end = ie.timestamp_end;
	ix.events_discarded = ie.events_discarded;
	ix.stream_id = ie.stream_id;
	ix.stream_instance_id = ie.stream_instance_id;
	ix.packet_seq_num = ie.packet_seq_num;
	return stream_add_index(relay, st, &ix);
}

static int cb_beacon(void *ctx, uint64_t handle, uint64_t ts_end)
{
	struct esess *es = ctx;
	struct emap *em;
	struct stream *st = estream(es, handle, &em);
	struct cl_relayd_index ix = { 0 };

	if (!st || st->is_metadata)
		return -ENOENT;
	ix.relay_stream_id = st->handle;
	ix.net_seq_num = UINT64_MAX;
	ix.timestamp_end = ts_end;
	ix.stream_instance_id = ix.packet_seq_num = UINT64_MAX;
	ix.stream_id = em->sc_id;
	return stream_add_index(es->e->relay, st, &ix);
}

static int cb_close(void *ctx, uint64_t handle)
{
	struct esess *es = ctx;
	struct stream *st = estream(es, handle, NULL);

	if (!st)
		return 0; /* closed already */
	stream_request_close(es->e->relay, st, UINT64_MAX);
	return 0;
}

static void esess_end(struct esess *es, bool interrupted)
{
	struct nats_edge *e = es->e;

	if (es->s) {
		if (interrupted)
			es->s->aborted = true;
		session_connection_closed(e->relay, es->s, interrupted);
		log_info("edge: session %llu %s", (unsigned long long)es->session_id,
			 interrupted ? "interrupted" : "ended");
		es->s = NULL;
	}
	if (es->done)
		return;
	es->done = true;
	pthread_mutex_lock(&e->mu);
	if (cl_grow(&e->done_ids, &e->cap_done, e->n_done + 1) == 0)
		e->done_ids[e->n_done++] = es->id;
	pthread_mutex_unlock(&e->mu);
}

static int cb_end(void *ctx, bool interrupted)
{
	esess_end(ctx, interrupted);
	return 0;
}

static void cb_gap(void *ctx, uint64_t n)
{
	struct esess *es = ctx;

	if (es->expiring) {
		log_warning("edge: %s: %" PRIu64 " message(s) dropped by the stream's retention "
			    "limits",
			    es->prefix, n);
		return;
	}
	log_warning("edge: %s: %" PRIu64 " message(s) never found (publication given up, or "
		    "dropped by retention): their packets are lost",
		    es->prefix, n);
}

/*
 * The first packet of a data stream after what retention dropped: `n`
 * packets came before it. Live viewers are served the stream from that
 * packet: the live protocol has no way to tell them about packets before
 * the first one a viewer gets (doc/nats.md, "Edge relays").
 */
static void cb_expired(void *ctx, uint64_t handle, uint64_t n)
{
	struct esess *es = ctx;
	struct emap *em = emap_find(es, handle);

	log_warning("edge: %s: %" PRIu64 " packet(s) of stream %s dropped by retention before "
		    "the first one kept (packet_seq_num %" PRIu64 ")",
		    es->prefix, n, em && em->name ? em->name : "?", n);
}

/*
 * A message in parts that lacks some (retention dropped its first parts
 * while this edge was behind, or they were given up): the reader dropped it
 * whole. Its packet is not stored; live viewers see the packet_seq_num gap.
 */
static void cb_incomplete(void *ctx, uint64_t handle, uint64_t seq, unsigned n)
{
	struct esess *es = ctx;
	struct emap *em = emap_find(es, handle);

	log_warning("edge: %s: message %" PRIu64 " of stream %s lacks some of its %u parts "
		    "(retention dropped them, or they were given up): dropped whole, its %s is "
		    "lost",
		    es->prefix, seq, em && em->name ? em->name : "?", n,
		    em && em->metadata ? "metadata" : "packet");
}

static const struct cl_nats_read_ops edge_ops = {
	.session = cb_session,
	.stream = cb_stream,
	.metadata = cb_metadata,
	.packet = cb_packet,
	.beacon = cb_beacon,
	.close = cb_close,
	.end = cb_end,
	.gap = cb_gap,
	.expired = cb_expired,
	.incomplete = cb_incomplete,
};

static struct esess *esess_find(struct nats_edge *e, uint64_t id)
{
	for (size_t i = 0; i < e->n_ss; i++)
		if (e->ss[i]->id == id)
			return e->ss[i];
	return NULL;
}

static void esess_new(struct nats_edge *e, uint64_t id, char *prefix)
{
	struct esess *es;

	if (esess_find(e, id) || cl_grow(&e->ss, &e->cap_ss, e->n_ss + 1) < 0 ||
	    !(es = calloc(1, sizeof(*es)))) {
		free(prefix);
		return;
	}
	es->id = id;
	es->e = e;
	es->prefix = prefix;
	es->last_ms = now_ms();
	es->rd = cl_nats_reader_new(prefix, &edge_ops, es);
	if (!es->rd) {
		free(prefix);
		free(es);
		return;
	}
	e->ss[e->n_ss++] = es;
}

/* Removes `name` (a directory tree) below `dir_fd`. */
static void rm_tree(int dir_fd, const char *name, int depth)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0) {
		(void)unlinkat(dir_fd, name, 0);
		return;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR && depth < 32)
			rm_tree(dirfd(d), de->d_name, depth + 1);
		else
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	(void)unlinkat(dir_fd, name, AT_REMOVEDIR);
}

static void esess_free(struct nats_edge *e, struct esess *es)
{
	if (es->out_path && *es->out_path)
		rm_tree(e->relay->output_fd, es->out_path, 0);
	cl_nats_reader_free(es->rd);
	free(es->prefix);
	free(es->out_path);
	for (size_t i = 0; i < es->n_map; i++)
		free(es->map[i].name);
	free(es->map);
	free(es);
}

/*
 * Numbers below es->expire_below are gone for good once the session stream
 * gave what it has below it (its metadata and life cycle are never
 * dropped): it delivered a number at least that high, or it had caught up
 * and 250 ms went by (as `ctflive view nats://` reads, doc/nats.md).
 */
static void try_expire(struct esess *es, int64_t now)
{
	if (!es->expire_below || es->done ||
	    (es->ses_max_seq + 1 < es->expire_below &&
	     (!es->ses_caught_up || now - es->expire_ms < 250)))
		return;
	es->expiring = true;
	cl_nats_reader_expired_below(es->rd, es->expire_below);
	es->expiring = false;
	es->expire_below = 0;
}

/*
 * A message of the packet stream: its first one past sequence 1, or one
 * after a jump of sequence (the ordered consumer skips what retention
 * deleted while this edge was behind), says retention dropped what came
 * before it, and that message itself when it is not its part 1.
 */
static void packet_stream_msg(struct esess *es, natsMsg *m, uint64_t js_seq, int64_t now)
{
	unsigned part = 1;
	uint64_t seq;

	if (!js_seq)
		return;
	if (js_seq > (es->p_next ? es->p_next : 1) && (seq = cl_nats_msg_ctflive_seq(m, &part))) {
		seq += part > 1;
		if (seq > es->expire_below)
			es->expire_below = seq;
		es->expire_ms = now;
	}
	if (js_seq >= es->p_next)
		es->p_next = js_seq + 1;
}

static void on_wake(struct cl_watch *w, uint32_t events)
{
	struct nats_edge *e = cl_container_of(w, struct nats_edge, watch);
	struct qitem *q, *next;
	uint64_t v;
	int64_t now = now_ms();

	(void)events;
	(void)!read(w->fd, &v, sizeof(v));
	pthread_mutex_lock(&e->mu);
	q = e->qhead;
	e->qhead = NULL;
	e->qtail = &e->qhead;
	e->qbytes = 0;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	for (; q; q = next) {
		struct esess *es;

		next = q->next;
		if (!q->m) {
			esess_new(e, q->id, q->prefix);
		} else if ((es = esess_find(e, q->id)) && !es->done) {
			es->last_ms = now;
			if (q->packets) {
				packet_stream_msg(es, q->m, q->js_seq, now);
				try_expire(es, now);
				/* (the reader's resume position is the session stream's) */
				cl_nats_reader_deliver(es->rd, q->m, 0);
			} else {
				unsigned part;
				uint64_t seq = cl_nats_msg_ctflive_seq(q->m, &part);

				if (seq > es->ses_max_seq)
					es->ses_max_seq = seq;
				es->ses_caught_up = cl_nats_msg_pending(q->m) == 0;
				cl_nats_reader_deliver(es->rd, q->m, q->js_seq);
				try_expire(es, now);
			}
		} else {
			natsMsg_Destroy(q->m);
		}
		free(q);
	}
}

void nats_edge_tick(struct relay *relay)
{
	struct nats_edge *e = relay->edge;
	int64_t now;

	if (!e)
		return;
	now = now_ms();
	for (size_t i = 0; i < e->n_ss;) {
		struct esess *es = e->ss[i];

		try_expire(es, now);
		if (!es->done && cl_nats_reader_held(es->rd) &&
		    now - es->last_ms >= CL_NATS_GAP_WAIT_MS)
			cl_nats_reader_skip_gap(es->rd);
		if (!es->done && now - es->last_ms >= e->o.idle_ms) {
			log_warning("edge: %s: nothing received for %d ms (its relay is gone?): "
				    "session interrupted",
				    es->prefix, e->o.idle_ms);
			esess_end(es, true);
		}
		/* Its files go once the relay let go of the session (no viewer left). */
		if (es->done && (!es->session_id || !session_find(relay, es->session_id))) {
			esess_free(e, es);
			e->ss[i] = e->ss[--e->n_ss];
			continue;
		}
		i++;
	}
}

int nats_edge_start(struct relay *relay, const struct nats_edge_opts *o)
{
	struct nats_edge *e = calloc(1, sizeof(*e));
	char *urls = NULL;
	const char *why = "invalid URL";
	int r;

	if (!e)
		return -ENOMEM;
	e->relay = relay;
	e->o = *o;
	e->qtail = &e->qhead;
	e->watch.fd = -1;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	relay->edge = e;
	if (asprintf(&urls, "%s", o->urls) < 0)
		return -ENOMEM;
	r = cl_nats_url_parse(urls, &e->url, &why);
	free(urls);
	if (r < 0 || e->url.host) {
		log_error("invalid --from '%s': %s", o->urls, r < 0 ? why : "no path expected");
		return r < 0 ? r : -EINVAL;
	}
	e->watch.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	e->watch.cb = on_wake;
	if (e->watch.fd < 0 || cl_loop_add(relay->loop, &e->watch, EPOLLIN) < 0) {
		log_error("edge: cannot watch its eventfd");
		return -EIO;
	}
	r = cl_nats_connect(&e->url, o->conn, "ctflive-relayd edge", JS_WAIT_MS, true, &e->nc,
			    &e->js);
	if (r < 0)
		return r;
	r = pthread_create(&e->thr, NULL, follower, e);
	if (r) {
		log_error("edge: cannot start its thread: %s", strerror(r));
		return -r;
	}
	e->thr_started = true;
	log_info("edge: serving the sessions published to %s", o->urls);
	return 0;
}

void nats_edge_stop(struct relay *relay)
{
	struct nats_edge *e = relay->edge;
	struct qitem *q, *next;

	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	e->stop = true;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	/* Closed first: a JetStream request of the follower in flight (servers
	 * gone, a cluster electing) fails at once instead of timing out, and the
	 * ephemeral consumers go with the connection, without a request each. */
	if (e->nc)
		natsConnection_Close(e->nc);
	if (e->thr_started)
		pthread_join(e->thr, NULL);
	for (size_t i = 0; i < e->n_fl; i++) {
		natsSubscription_Destroy(e->fl[i]->sub);
		natsSubscription_Destroy(e->fl[i]->psub);
	}
	jsCtx_Destroy(e->js);
	natsConnection_Destroy(e->nc);
	nats_CloseAndWait(2000);
	for (size_t i = 0; i < e->n_fl; i++) {
		free(e->fl[i]->name);
		free(e->fl[i]);
	}
	free(e->fl);
	for (q = e->qhead; q; q = next) {
		next = q->next;
		natsMsg_Destroy(q->m);
		free(q->prefix);
		free(q);
	}
	for (size_t i = 0; i < e->n_ss; i++) {
		e->ss[i]->s = NULL; /* the relay ended its sessions already */
		esess_free(e, e->ss[i]);
	}
	free(e->ss);
	free(e->done_ids);
	if (e->watch.fd >= 0) {
		if (relay->loop)
			cl_loop_del(relay->loop, &e->watch);
		close(e->watch.fd);
	}
	cl_nats_url_free(&e->url);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
	relay->edge = NULL;
}
