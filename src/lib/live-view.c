/* SPDX-License-Identifier: MIT */
/*
 * Live view: a live client feeding the CTF decoder, with messages of every
 * stream merged by time (live-protocol.md §4.3-§4.5).
 *
 * Each data stream has a decoder reading an in-memory byte source into which
 * whole packets are pushed as the relay hands them out, and is an input of
 * the merger (ctflive/merge.h), which owns the order. Asked for its next
 * message, a stream answers:
 *   - READY: a decoded message;
 *   - IDLE: no data, but an inactivity beacon says it will produce nothing
 *     older than bound_ns;
 *   - BLOCKED: no data and no usable beacon (RETRY, or its bound was passed
 *     and the relay has nothing newer yet);
 *   - ENDED: the relay ended it and every packet was decoded.
 * Out of bytes, a stream asks the relay for its next index. A bound older
 * than the best message is consumed: the merger asks again (need_ns) and
 * the stream asks the relay for its next index. The relay is asked at most
 * once per stream per round: when nothing can be returned, the call returns
 * -EAGAIN and the caller waits (babeltrace2 waits 100 ms).
 *
 * A relay may hold GET_NEXT_INDEX until it has news for the stream (its next
 * index or beacon), so the request is not waited for in the call: it is
 * sent, the stream is BLOCKED and the call returns -EAGAIN (the caller
 * flushes its output), then ctflive_live_view_wait() waits on the socket
 * for the reply, which the next call handles. A round (each stream asked at
 * most once) then goes on over calls until a call returns a message or
 * nothing is in flight: only such a round ends with the caller's sleep.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctflive/ctf.h"
#include "ctflive/live.h"
#include "ctflive/merge.h"
#include "grow.h"
#include "live-client-internal.h"

/* Poll GET_NEW_STREAMS at least this often while waiting (bug #1406). */
#define REFRESH_PERIOD_NS 1000000000LL
/*
 * How long a stream waits for the metadata declaring the stream class of its
 * first packet. A relay may hand out a packet's index before the metadata of
 * its class (LTTng 2.16 sessions under load: the consumer's metadata and data
 * flushes are not ordered across streams): the view asks for metadata again
 * until the class appears, then decodes; past this bound it is an error.
 */
#define CLASS_WAIT_NS     (10 * 1000000000LL)
/*
 * An index reply that took this long was held by the relay until it had
 * news or its bound passed (CTFLIVE_RELAYD_HOLD_MS): asking again at once
 * costs no busy loop. Quicker replies of nothing new end the round with the
 * caller's sleep (100 ms).
 */
#define HELD_NS           (50 * 1000000LL)
/*
 * Against a relay seen holding requests, a quick reply of nothing new is an
 * INACTIVE with a beacon already given (such a relay holds RETRY but answers
 * that at once: babeltrace2 needs it, see src/relayd/live-server.c). The next
 * beacon comes with the next live-timer tick: the view asks again after this
 * much rather than the caller's 100 ms, which would add up to a whole poll
 * period to every event that waits for that stream's bound.
 */
#define STALE_POLL_NS     (20 * 1000000LL)
/* Reconnection: first delay after a round of the relay list, and the largest. */
#define RETRY_FIRST_MS    100
#define RETRY_MAX_MS      2000
/* No client id (a stream or trace not announced by the relay connected now). */
#define NO_ID             UINT64_MAX

struct vtrace {
	uint64_t id;                     /* the client's trace id; NO_ID: not mapped yet */
	uint64_t meta_bytes;             /* metadata bytes applied */
	uint64_t meta_skip;              /* bytes the relay sends again after a reconnection */
	struct ctflive_ctf_trace *trace; /* owned */
	size_t refs;                     /* streams using it */
	char *name;                      /* owned: trace path, for labels */
	char *json_name; /* owned: "<hostname>/<path>" once the metadata names the host */
};

struct vstream {
	struct ctflive_live_view *v; /* owner */
	uint64_t id;                 /* the first client's stream id, for labels */
	uint64_t cid;                /* the client's stream id now; NO_ID: not mapped */
	char *channel;               /* owned: channel name (with the trace path: the key) */
	bool src_ended;              /* the relay ended it: every packet was pushed */
	/* Resumption: the last packet pushed, and how many pushed had its times. */
	bool has_last;
	uint64_t last_begin, last_end, same;
	bool resync;          /* after a reconnection, until a packet after the last */
	uint64_t skip_same;   /* packets with the last one's times still to skip */
	int64_t unmapped_ns;  /* CLOCK_MONOTONIC ns of the reconnection left it unmapped */
	struct vtrace *trace; /* ref */
	struct ctflive_ctf_bufsrc *src; /* owned */
	struct ctflive_ctf_stream *dec; /* owned; borrows trace and src */
	char name[32];                  /* "stream-<id>", for labels */
	bool has_bound;
	int64_t bound_ns;
	bool queried;          /* its index reply was handled during this round */
	bool id_set;           /* stream ID taken from the first packet header */
	bool class_known;      /* the metadata declares the stream's class */
	bool class_wait;       /* a packet waits for the metadata of its class */
	uint64_t class_id;     /* the class it waits for */
	int64_t class_wait_ns; /* CLOCK_MONOTONIC ns when the wait began */
};

struct ctflive_live_view {
	struct ctflive_live_client *c; /* owned */
	struct ctflive_merge *merge;   /* owned: its inputs own the streams */
	struct vtrace **traces;        /* owned */
	size_t ntraces, tcap;
	struct vstream **streams; /* owned (freed when the merger drops them) */
	size_t nstreams, scap;
	uint64_t *dead_traces; /* ids of traces whose streams all ended */
	size_t ndead, dcap;
	bool ended;           /* the client reported END */
	bool keep_round;      /* the last call returned -EAGAIN with a request in flight */
	int64_t sent_ns;      /* CLOCK_MONOTONIC ns when the request in flight was sent */
	bool relay_holds;     /* a reply took HELD_NS or more: the relay holds requests */
	bool quick_reply;     /* the reply being handled came before HELD_NS */
	int64_t last_refresh; /* CLOCK_MONOTONIC ns */
	int err;
	char errmsg[512];

	/* Failover (ctflive_live_view_set_failover()). */
	struct ctflive_live_url *urls; /* owned */
	size_t nurls, cur;
	int timeout_ms, reconnect_ms;
	int lost;           /* 0, or the error that lost the connection */
	char lost_msg[512]; /* the client's description of it */
	char try_msg[512];  /* why the last attempt failed */
	int64_t lost_ns, next_try_ns;
	size_t attempts;
	bool progress;     /* a message was returned since the last loss */
	size_t reconnects; /* successful reconnections */
	char **ended_keys; /* owned: "path/channel" of streams ended and dropped */
	size_t nended, ecap;
	char **dead_names; /* owned: paths of traces whose streams all ended */
	size_t ndeadn, dncap;
	uint64_t *ghosts; /* client ids of streams already ended here, to drain */
	size_t nghosts, gcap;
	bool ghost_packet; /* a packet of a ghost was dropped */
	char **warnings;   /* owned queue */
	size_t nwarn, whead, wcap;
	char *warning; /* owned: the one handed out */
};

__attribute__((format(printf, 3, 4))) static int fail(struct ctflive_live_view *v, int r,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->errmsg, sizeof(v->errmsg), fmt, ap);
	va_end(ap);
	v->err = r;
	return r;
}

static int from_client(struct ctflive_live_view *v, int r)
{
	return fail(v, r, "%s", ctflive_live_client_error(v->c));
}

/* Errors of a connection that another one may replace. */
static bool is_connection_error(int r)
{
	switch (-r) {
	case ECONNRESET:
	case ETIMEDOUT:
	case EPIPE:
	case ECONNABORTED:
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return true;
	default:
		return false;
	}
}

static int64_t now_ns(void);

/*
 * The client failed with `r`: with failover, a lost connection is recorded
 * (ctflive_live_view_next() reconnects) and 0 returned, the streams then
 * answering BLOCKED; otherwise the view fails.
 */
static int client_failed(struct ctflive_live_view *v, int r)
{
	if (v->reconnect_ms <= 0 || !is_connection_error(r))
		return from_client(v, r);
	if (v->lost)
		return 0;
	v->lost = r;
	snprintf(v->lost_msg, sizeof(v->lost_msg), "%s", ctflive_live_client_error(v->c));
	if (v->progress || v->lost_ns == 0) {
		/* a new loss; else the time and attempts go on from the one
		 * before: a relay that breaks every connection is given up */
		v->lost_ns = now_ns();
		v->next_try_ns = 0;
		v->attempts = 0;
		v->try_msg[0] = '\0';
	}
	v->progress = false;
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const char *ctflive_live_view_error(const struct ctflive_live_view *v)
{
	return v ? v->errmsg : "";
}

struct ctflive_live_client *ctflive_live_view_client(struct ctflive_live_view *v)
{
	return v->c;
}

int ctflive_live_view_new(struct ctflive_live_client *c, struct ctflive_live_view **ret)
{
	struct ctflive_live_view *v;

	if (!c || !ret) {
		ctflive_live_client_free(c);
		return -EINVAL;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		ctflive_live_client_free(c);
		return -ENOMEM;
	}
	v->c = c;
	v->last_refresh = now_ns();
	if (ctflive_merge_new(&v->merge) < 0) {
		ctflive_live_view_free(v);
		return -ENOMEM;
	}
	*ret = v;
	return 0;
}

static void vtrace_free(struct vtrace *t)
{
	if (!t)
		return;
	ctflive_ctf_trace_free(t->trace);
	free(t->name);
	free(t->json_name);
	free(t);
}

static void vstream_free(struct vstream *s)
{
	if (!s)
		return;
	ctflive_ctf_stream_free(s->dec);
	ctflive_ctf_bufsrc_free(s->src);
	free(s->channel);
	free(s);
}

struct ctflive_live_view *ctflive_live_view_free(struct ctflive_live_view *v)
{
	if (!v)
		return NULL;
	ctflive_merge_free(v->merge); /* releases (frees) every stream */
	for (size_t i = 0; i < v->nstreams; i++)
		vstream_free(v->streams[i]);
	for (size_t i = 0; i < v->ntraces; i++)
		vtrace_free(v->traces[i]);
	free(v->streams);
	free(v->traces);
	free(v->dead_traces);
	for (size_t i = 0; i < v->nended; i++)
		free(v->ended_keys[i]);
	free(v->ended_keys);
	for (size_t i = 0; i < v->ndeadn; i++)
		free(v->dead_names[i]);
	free(v->dead_names);
	for (size_t i = v->whead; i < v->nwarn; i++)
		free(v->warnings[i]);
	free(v->warnings);
	free(v->warning);
	free(v->ghosts);
	free(v->urls);
	ctflive_live_client_free(v->c);
	free(v);
	return NULL;
}

static struct vtrace *find_trace(struct ctflive_live_view *v, uint64_t id)
{
	for (size_t i = 0; i < v->ntraces; i++)
		if (v->traces[i]->id == id)
			return v->traces[i];
	return NULL;
}

static bool trace_is_dead(const struct ctflive_live_view *v, uint64_t id)
{
	for (size_t i = 0; i < v->ndead; i++)
		if (v->dead_traces[i] == id)
			return true;
	return false;
}

static struct vstream *find_stream(struct ctflive_live_view *v, uint64_t cid)
{
	for (size_t i = 0; i < v->nstreams; i++)
		if (v->streams[i]->cid == cid)
			return v->streams[i];
	return NULL;
}

static bool in_names(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static int add_name(char ***names, size_t *n, size_t *cap, const char *name)
{
	char *d;

	if (in_names(*names, *n, name))
		return 0;
	if (cl_grow(names, cap, *n + 1) < 0 || !(d = strdup(name)))
		return -ENOMEM;
	(*names)[(*n)++] = d;
	return 0;
}

/* "path/channel": a stream's key across relays (a channel name has no '/'). */
static char *stream_key(const char *path, const char *channel)
{
	char *k;

	return asprintf(&k, "%s/%s", path ? path : "", channel ? channel : "") < 0 ? NULL : k;
}

/*
 * Whether client trace `id` (path `path`, may be NULL) is one whose streams
 * all ended: by id, or, after a reconnection, by path (its id is then
 * recorded).
 */
static bool trace_dead(struct ctflive_live_view *v, uint64_t id, const char *path)
{
	if (trace_is_dead(v, id))
		return true;
	if (!path || v->reconnects == 0 || !in_names(v->dead_names, v->ndeadn, path))
		return false;
	if (cl_grow(&v->dead_traces, &v->dcap, v->ndead + 1) == 0)
		v->dead_traces[v->ndead++] = id;
	return true;
}

/*
 * The trace of client trace `id`: known by id, or, after a reconnection, a
 * trace not mapped yet with the same path (now mapped to `id`). NULL if new.
 */
static struct vtrace *map_trace(struct ctflive_live_view *v, uint64_t id, const char *path)
{
	struct vtrace *t = find_trace(v, id);

	if (t || !path || v->reconnects == 0)
		return t;
	for (size_t i = 0; i < v->ntraces; i++) {
		t = v->traces[i];
		if (t->id == NO_ID && t->name && !strcmp(t->name, path)) {
			t->id = id;
			return t;
		}
	}
	return NULL;
}

static bool is_ghost(const struct ctflive_live_view *v, uint64_t cid)
{
	for (size_t i = 0; i < v->nghosts; i++)
		if (v->ghosts[i] == cid)
			return true;
	return false;
}

static int add_ghost(struct ctflive_live_view *v, uint64_t cid)
{
	if (is_ghost(v, cid))
		return 0;
	if (cl_grow(&v->ghosts, &v->gcap, v->nghosts + 1) < 0)
		return fail(v, -ENOMEM, "out of memory");
	v->ghosts[v->nghosts++] = cid;
	return 0;
}

static void drop_ghost(struct ctflive_live_view *v, uint64_t cid)
{
	for (size_t i = 0; i < v->nghosts; i++) {
		if (v->ghosts[i] == cid) {
			v->ghosts[i] = v->ghosts[--v->nghosts];
			return;
		}
	}
}

__attribute__((format(printf, 2, 3))) static void warn(struct ctflive_live_view *v, const char *fmt,
						       ...)
{
	va_list ap;
	char *m;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&m, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	if (v->whead == v->nwarn)
		v->whead = v->nwarn = 0;
	if (cl_grow(&v->warnings, &v->wcap, v->nwarn + 1) < 0) {
		free(m);
		return;
	}
	v->warnings[v->nwarn++] = m;
}

const char *ctflive_live_view_next_warning(struct ctflive_live_view *v)
{
	if (!v)
		return NULL;
	free(v->warning);
	v->warning = NULL;
	if (v->whead >= v->nwarn)
		return NULL;
	v->warning = v->warnings[v->whead++];
	return v->warning;
}

static int get_trace(struct ctflive_live_view *v, uint64_t id, struct vtrace **ret)
{
	struct vtrace *t = find_trace(v, id);
	int r;

	if (t) {
		*ret = t;
		return 0;
	}
	if (cl_grow(&v->traces, &v->tcap, v->ntraces + 1) < 0)
		return fail(v, -ENOMEM, "out of memory");
	t = calloc(1, sizeof(*t));
	if (!t)
		return fail(v, -ENOMEM, "out of memory");
	t->id = id;
	r = ctflive_ctf_trace_new(&t->trace);
	if (r < 0) {
		free(t);
		return fail(v, r, "cannot create a trace: %s", strerror(-r));
	}
	v->traces[v->ntraces++] = t;
	*ret = t;
	return 0;
}

/* Releases a stream's reference on its trace; frees the trace at 0. */
static void trace_unref(struct ctflive_live_view *v, struct vtrace *t)
{
	if (--t->refs > 0)
		return;
	for (size_t i = 0; i < v->ntraces; i++) {
		if (v->traces[i] == t) {
			v->traces[i] = v->traces[--v->ntraces];
			break;
		}
	}
	/* Metadata still in flight for it is to be ignored, also from the
	 * relay of a later connection. */
	if (t->id != NO_ID && cl_grow(&v->dead_traces, &v->dcap, v->ndead + 1) == 0)
		v->dead_traces[v->ndead++] = t->id;
	if (t->name && v->reconnect_ms > 0)
		(void)add_name(&v->dead_names, &v->ndeadn, &v->dncap, t->name);
	vtrace_free(t);
}

static int live_pull(void *ctx, int64_t need_ns, struct ctflive_ctf_msg *ret, int64_t *ret_idle_ns,
		     struct ctflive_ctf_diag *reterr);

/* The merger dropped the stream: it ended and its last message was returned. */
static void live_release(void *ctx)
{
	struct vstream *s = ctx;
	struct ctflive_live_view *v = s->v;
	/* a relay of a later connection serves it again: drained unread */
	if (v->reconnect_ms > 0) {
		char *key = stream_key(s->trace->name, s->channel);

		if (key)
			(void)add_name(&v->ended_keys, &v->nended, &v->ecap, key);
		free(key);
	}
	for (size_t i = 0; i < v->nstreams; i++) {
		if (v->streams[i] == s) {
			memmove(&v->streams[i], &v->streams[i + 1],
				(v->nstreams - i - 1) * sizeof(s));
			v->nstreams--;
			break;
		}
	}
	trace_unref(v, s->trace);
	vstream_free(s);
}

static int add_stream(struct ctflive_live_view *v, const struct ctflive_live_item *it)
{
	struct ctflive_ctf_source src;
	struct ctflive_merge_input in;
	const char *chan = it->channel_name ? it->channel_name : "";
	struct vstream *s;
	struct vtrace *t;
	bool ended;
	char *key;
	int r;

	if (find_stream(v, it->stream_id) || is_ghost(v, it->stream_id))
		return 0;
	if (v->reconnects > 0) {
		key = stream_key(it->path_name, chan);
		if (!key)
			return fail(v, -ENOMEM, "out of memory");
		ended = in_names(v->ended_keys, v->nended, key);
		free(key);
		if (ended)
			return add_ghost(v, it->stream_id);
	}
	if (trace_dead(v, it->trace_id, it->path_name))
		return fail(v, -EPROTO,
			    "the relay announced stream %" PRIu64
			    " of a trace whose streams all ended",
			    it->stream_id);
	t = map_trace(v, it->trace_id, it->path_name);
	for (size_t i = 0; t && v->reconnects > 0 && i < v->nstreams; i++) {
		s = v->streams[i];
		if (s->trace != t || s->cid != NO_ID || strcmp(s->channel, chan) != 0)
			continue;
		/* a stream of the connection before: resumed */
		if (s->src_ended)
			return add_ghost(v, it->stream_id);
		s->cid = it->stream_id;
		return 0;
	}
	if (!t) {
		r = get_trace(v, it->trace_id, &t);
		if (r < 0)
			return r;
	}
	if (!t->name) {
		t->name = strdup(it->path_name ? it->path_name : "");
		if (!t->name)
			return fail(v, -ENOMEM, "out of memory");
	}
	if (cl_grow(&v->streams, &v->scap, v->nstreams + 1) < 0)
		return fail(v, -ENOMEM, "out of memory");
	s = calloc(1, sizeof(*s));
	if (!s)
		return fail(v, -ENOMEM, "out of memory");
	s->v = v;
	s->id = it->stream_id;
	s->cid = it->stream_id;
	s->trace = t;
	s->channel = strdup(chan);
	if (!s->channel) {
		vstream_free(s);
		return fail(v, -ENOMEM, "out of memory");
	}
	snprintf(s->name, sizeof(s->name), "stream-%" PRIu64, s->id);
	r = ctflive_ctf_bufsrc_new(&s->src);
	if (r < 0) {
		vstream_free(s);
		return fail(v, r, "out of memory");
	}
	src = ctflive_ctf_bufsrc_source(s->src);
	r = ctflive_ctf_stream_new(t->trace, &src, &s->dec);
	if (r < 0) {
		vstream_free(s);
		return fail(v, r, "cannot create a stream decoder: %s", strerror(-r));
	}
	/* as babeltrace2's lttng-live source: an unnamed trace, streams named
	 * "stream-<viewer stream id>", with the packets' stream_instance_id as
	 * stream ID once known (set_stream_id()) */
	ctflive_ctf_stream_set_labels(s->dec, NULL, s->name, s->id);
	ctflive_ctf_stream_set_trace_path(s->dec, t->name);
	in = (struct ctflive_merge_input){
		.stream = s->dec, .pull = live_pull, .release = live_release, .ctx = s
	};
	r = ctflive_merge_add(v->merge, &in);
	if (r < 0) {
		vstream_free(s);
		return fail(v, r, "out of memory");
	}
	t->refs++;
	v->streams[v->nstreams++] = s;
	return 0;
}

/*
 * Converts a beacon time of `s` (cycles of the clock of stream class
 * `class_id`) to ns. False when the metadata does not tell yet.
 */
static bool beacon_ns(const struct vstream *s, uint64_t class_id, uint64_t cycles, int64_t *ret)
{
	return ctflive_ctf_trace_clock_ns(s->trace->trace, class_id, cycles, ret) == 0;
}

/*
 * After the stream's first message: its ID becomes the packets'
 * stream_instance_id, as in babeltrace2, and JSON names its trace as
 * babeltrace2 names the same trace on disk, "<hostname>/<path>".
 */
static void set_stream_id(struct vstream *s)
{
	uint64_t iid = ctflive_ctf_stream_instance_id(s->dec);
	struct vtrace *t = s->trace;
	const char *host = NULL;
	bool is_int = false;

	if (iid != UINT64_MAX)
		ctflive_ctf_stream_set_labels(s->dec, NULL, s->name, iid);
	if (ctflive_ctf_trace_env(t->trace, "hostname", &host, NULL, &is_int) != 1 || is_int)
		host = NULL;
	if (!t->json_name && host && asprintf(&t->json_name, "%s/%s", host, t->name) < 0)
		t->json_name = NULL; /* out of memory: keep the path alone */
	if (t->json_name)
		ctflive_ctf_stream_set_trace_path(s->dec, t->json_name);
	s->id_set = true;
}

/*
 * Whether the packet of `s` indexed `x` is to be decoded (and recorded as
 * the last one), or, after a reconnection, is one that was pushed already.
 * Packets of a stream follow each other in time: (timestamp_end,
 * timestamp_begin) never decreases, and packets with equal pairs are told
 * apart by their rank.
 */
static bool accept_packet(struct vstream *s, const struct ctflive_live_index *x)
{
	bool same = s->has_last && x->timestamp_end == s->last_end &&
		    x->timestamp_begin == s->last_begin;

	if (s->resync) {
		if (x->timestamp_end < s->last_end ||
		    (x->timestamp_end == s->last_end && x->timestamp_begin < s->last_begin))
			return false;
		if (same && s->skip_same > 0) {
			s->skip_same--;
			return false;
		}
		s->resync = false;
	}
	if (same) {
		s->same++;
	} else {
		s->has_last = true;
		s->last_begin = x->timestamp_begin;
		s->last_end = x->timestamp_end;
		s->same = 1;
	}
	return true;
}

/* Applies every queued client item. */
static int drain_items(struct ctflive_live_view *v)
{
	struct ctflive_live_item it;
	int r;

	while ((r = ctflive_live_client_next_item(v->c, &it)) == 0) {
		struct ctflive_ctf_diag diag;
		struct vstream *s;
		struct vtrace *t;

		switch (it.type) {
		case CTFLIVE_LIVE_ITEM_METADATA:
			if (trace_dead(v, it.trace_id, it.path_name))
				break;
			t = map_trace(v, it.trace_id, it.path_name);
			if (!t) {
				r = get_trace(v, it.trace_id, &t);
				if (r < 0)
					return r;
				if (!t->name && it.path_name && !(t->name = strdup(it.path_name)))
					return fail(v, -ENOMEM, "out of memory");
			}
			if (t->meta_skip >= it.len) {
				/* sent again by the relay of a new connection */
				t->meta_skip -= it.len;
				break;
			}
			memset(&diag, 0, sizeof(diag));
			r = ctflive_ctf_trace_add_metadata(t->trace, it.data + t->meta_skip,
							   it.len - t->meta_skip, &diag);
			if (r < 0)
				return fail(v, r,
					    "invalid metadata of trace %" PRIu64 " (%d:%d): %s",
					    it.trace_id, diag.line, diag.col, diag.msg);
			t->meta_bytes += it.len - t->meta_skip;
			t->meta_skip = 0;
			break;
		case CTFLIVE_LIVE_ITEM_STREAM:
			r = add_stream(v, &it);
			if (r < 0)
				return r;
			break;
		case CTFLIVE_LIVE_ITEM_PACKET:
			s = find_stream(v, it.stream_id);
			if (!s) {
				v->ghost_packet = v->ghost_packet || is_ghost(v, it.stream_id);
				break;
			}
			if (!accept_packet(s, &it.index)) {
				s->queried = false; /* ask for the next one at once */
				break;
			}
			r = ctflive_ctf_bufsrc_push(s->src, it.data, it.len);
			if (r < 0)
				return fail(v, r, "out of memory");
			s->has_bound = false;
			if (!s->class_known && !s->class_wait) {
				s->class_id = it.index.stream_class_id;
				s->class_wait = true;
				s->class_wait_ns = now_ns();
			}
			break;
		case CTFLIVE_LIVE_ITEM_INACTIVE:
			s = find_stream(v, it.stream_id);
			if (s)
				s->has_bound = beacon_ns(s, it.index.stream_class_id,
							 it.index.timestamp_end, &s->bound_ns);
			break;
		case CTFLIVE_LIVE_ITEM_RETRY:
			if (v->quick_reply)
				v->relay_holds = false;
			break;
		case CTFLIVE_LIVE_ITEM_STREAM_END:
			s = find_stream(v, it.stream_id);
			if (s) {
				ctflive_ctf_bufsrc_end(s->src);
				s->src_ended = true;
			} else {
				drop_ghost(v, it.stream_id);
			}
			break;
		case CTFLIVE_LIVE_ITEM_SESSION_END:
			break;
		case CTFLIVE_LIVE_ITEM_END:
			v->ended = true;
			break;
		}
	}
	if (r != -EAGAIN)
		return client_failed(v, r);
	return 0;
}

/*
 * Receives and handles the index reply in flight; *ret_id is the stream it
 * was about. That stream counts as asked in this round, unless the relay
 * took HELD_NS or more to answer: a relay that holds requests until it has
 * news may be asked again at once (no busy loop: it holds that one too).
 */
static int settle(struct ctflive_live_view *v, uint64_t *ret_id)
{
	uint64_t id = v->c->pending_stream;
	bool held = now_ns() - v->sent_ns >= HELD_NS;
	struct vstream *s;
	int r;

	*ret_id = id;
	r = cl_live_client_index_finish(v->c);
	if (r < 0)
		return client_failed(v, r); /* 0 when lost: failover */
	s = find_stream(v, id);
	if (s && !held)
		s->queried = true;
	/* a reply that came late was held (or the machine is slow); a quick
	 * RETRY says the relay does not hold (drain_items()) */
	v->relay_holds |= held;
	v->quick_reply = !held;
	r = drain_items(v);
	v->quick_reply = false;
	return r;
}

/*
 * Asks the relay for the next index of `s` (the reply of another stream's
 * request first, if it came). 1: its reply was handled, 0: it is in flight
 * (or another one still is: s is asked later), or an error.
 */
static int request_index(struct ctflive_live_view *v, struct vstream *s)
{
	struct ctflive_live_client *c = v->c;
	uint64_t id;
	int r;

	if (c->index_pending) {
		r = cl_live_client_reply_ready(c, 0);
		if (r < 0)
			return client_failed(v, r);
		if (r == 0)
			return 0;
		r = settle(v, &id);
		if (r < 0 || v->lost)
			return r;
		if (id == s->cid)
			return 1;
	}
	r = cl_live_client_index_send(c, s->cid);
	if (r < 0)
		return client_failed(v, r);
	v->sent_ns = now_ns();
	return 0;
}

static int refresh(struct ctflive_live_view *v)
{
	int r;

	v->last_refresh = now_ns();
	if (v->lost)
		return 0;
	r = ctflive_live_client_refresh(v->c);
	if (r < 0)
		return client_failed(v, r);
	return drain_items(v);
}

/*
 * Stream `s` holds a packet of a stream class the trace's metadata may not
 * declare yet: 1 when it does (now), 0 while waiting for it (metadata asked
 * for again), or an error past CLASS_WAIT_NS.
 */
static int wait_class(struct ctflive_live_view *v, struct vstream *s)
{
	int r;

	for (int pass = 0;; pass++) {
		if (ctflive_ctf_trace_has_stream_class(s->trace->trace, s->class_id)) {
			s->class_wait = false;
			s->class_known = true;
			return 1;
		}
		if (pass == 1)
			break;
		r = v->lost ? 0 : cl_live_client_fetch_metadata(v->c, s->trace->id);
		if (r < 0)
			r = client_failed(v, r);
		if (r < 0)
			return r;
		r = drain_items(v);
		if (r < 0)
			return r;
		if (v->err)
			return v->err;
	}
	if (now_ns() - s->class_wait_ns > CLASS_WAIT_NS)
		return fail(v, -EBADMSG,
			    "stream %" PRIu64 " of trace '%s': a packet of stream class %" PRIu64
			    " and, after %lld s, still no metadata declaring that class",
			    s->id, s->trace->name, s->class_id,
			    (long long)(CLASS_WAIT_NS / 1000000000LL));
	return 0;
}

/*
 * The merger asks stream `s` for its next message (ctflive/merge.h): decode
 * what was pushed; out of bytes, use the beacon if it is not older than
 * `need_ns`, else ask the relay for the next index (once per call).
 */
static int live_pull(void *ctx, int64_t need_ns, struct ctflive_ctf_msg *ret, int64_t *ret_idle_ns,
		     struct ctflive_ctf_diag *reterr)
{
	struct vstream *s = ctx;
	struct ctflive_live_view *v = s->v;

	for (;;) {
		struct ctflive_ctf_diag diag;
		int r;

		if (s->class_wait) {
			r = wait_class(v, s);
			if (r < 0)
				goto err;
			if (r == 0)
				return CTFLIVE_MERGE_BLOCKED;
		}
		memset(&diag, 0, sizeof(diag));
		r = ctflive_ctf_stream_next(s->dec, ret, &diag);
		if (r == 0) {
			s->has_bound = false;
			if (!s->id_set)
				set_stream_id(s);
			return CTFLIVE_MERGE_READY;
		}
		if (r == CTFLIVE_CTF_END)
			return CTFLIVE_MERGE_ENDED;
		if (r != -EAGAIN) {
			r = fail(v, r,
				 "cannot decode stream %" PRIu64 " of trace '%s' at offset %" PRIu64
				 ": %s",
				 s->id, s->trace->name, diag.offset, diag.msg);
			goto err;
		}
		if (s->has_bound && s->bound_ns >= need_ns) {
			*ret_idle_ns = s->bound_ns;
			return CTFLIVE_MERGE_IDLE;
		}
		if (s->cid == NO_ID || v->lost) {
			s->has_bound = false; /* asked again once reconnected */
			return CTFLIVE_MERGE_BLOCKED;
		}
		/* passed (or nothing is ready at all): ask for newer news */
		if (!s->queried) {
			r = request_index(v, s);
			if (r < 0)
				goto err;
			if (r == 1)
				continue;
		}
		/* Nothing newer yet (or the reply is in flight): the bound
		 * still holds, and may be all the merger needs once another
		 * stream's reply comes. */
		if (s->has_bound) {
			*ret_idle_ns = s->bound_ns;
			return CTFLIVE_MERGE_IDLE;
		}
		return CTFLIVE_MERGE_BLOCKED;
	err:
		memset(reterr, 0, sizeof(*reterr));
		reterr->offset = UINT64_MAX;
		/* the view keeps the whole message (ctflive_live_view_error()) */
		snprintf(reterr->msg, sizeof(reterr->msg), "%.200s", v->errmsg);
		return r;
	}
}

int ctflive_live_view_set_failover(struct ctflive_live_view *v, const struct ctflive_live_url *urls,
				   size_t n, size_t current, int timeout_ms, int reconnect_ms)
{
	struct ctflive_live_url *copy;

	if (!v || !urls || n == 0 || current >= n || !urls[0].has_session)
		return -EINVAL;
	copy = calloc(n, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, urls, n * sizeof(*copy));
	free(v->urls);
	v->urls = copy;
	v->nurls = n;
	v->cur = current;
	v->timeout_ms = timeout_ms;
	v->reconnect_ms = reconnect_ms;
	return 0;
}

static void url_name(const struct ctflive_live_url *u, char *buf, size_t len)
{
	bool v6 = strchr(u->relay_host, ':') != NULL;

	snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", u->relay_host, v6 ? "]" : "",
		 (unsigned)u->port);
}

/*
 * The connection was lost: one attempt at the next relay of the list, when
 * its time came. 0 when connected and attached again (streams are mapped as
 * the new relay announces them, and resume after their last packet),
 * -EAGAIN when not (yet), or the view's error once reconnect_ms passed.
 */
static int reconnect(struct ctflive_live_view *v)
{
	const struct ctflive_live_url *u;
	struct ctflive_live_client *c = NULL;
	char from[300], to[300], err[512] = "";
	int64_t now = now_ns();
	size_t idx;
	int r;

	if (now < v->next_try_ns)
		return -EAGAIN;
	if (now - v->lost_ns > (int64_t)v->reconnect_ms * 1000000)
		return fail(v, v->lost, "%s; no relay resumed the session within %d ms%s%s",
			    v->lost_msg, v->reconnect_ms, v->try_msg[0] ? " (last attempt: " : "",
			    v->try_msg[0] ? v->try_msg : "");
	idx = (v->cur + 1 + v->attempts) % v->nurls;
	u = &v->urls[idx];
	v->attempts++;
	r = ctflive_live_client_connect(u->relay_host, u->port, u->family, v->timeout_ms, &c, err,
					sizeof(err));
	if (r == 0) {
		r = ctflive_live_client_attach(c, u->target_host, u->session_name,
					       CTFLIVE_LIVE_SEEK_BEGINNING);
		if (r < 0)
			snprintf(err, sizeof(err), "%s", ctflive_live_client_error(c));
	}
	if (r < 0) {
		int64_t delay = 0;

		ctflive_live_client_free(c);
		url_name(u, to, sizeof(to));
		snprintf(v->try_msg, sizeof(v->try_msg), "%.200s: %.250s)", to,
			 err[0] ? err : strerror(-r));
		if (v->attempts % v->nurls == 0) {
			size_t round = v->attempts / v->nurls - 1;

			delay = (int64_t)RETRY_FIRST_MS << (round < 5 ? round : 5);
			if (delay > RETRY_MAX_MS)
				delay = RETRY_MAX_MS;
		}
		v->next_try_ns = now_ns() + delay * 1000000;
		return -EAGAIN;
	}
	url_name(&v->urls[v->cur], from, sizeof(from));
	url_name(u, to, sizeof(to));
	ctflive_live_client_free(v->c);
	v->c = c;
	v->cur = idx;
	v->lost = 0;
	v->keep_round = false; /* the request in flight went with the old client */
	v->relay_holds = false;
	/* Ids are the new relay's: every trace and stream is mapped again. */
	for (size_t i = 0; i < v->ntraces; i++) {
		v->traces[i]->id = NO_ID;
		v->traces[i]->meta_skip = v->traces[i]->meta_bytes;
	}
	for (size_t i = 0; i < v->nstreams; i++) {
		struct vstream *s = v->streams[i];

		s->cid = NO_ID;
		s->resync = s->has_last;
		s->skip_same = s->same;
		s->queried = false;
		s->unmapped_ns = now;
	}
	v->ndead = 0;
	v->nghosts = 0;
	v->reconnects++;
	warn(v, "connection to relay %s lost (%s): reconnected to relay %s, resuming", from,
	     v->lost_msg, to);
	r = drain_items(v);
	if (r < 0)
		return r;
	v->last_refresh = now_ns();
	return 0;
}

/*
 * After a reconnection: streams the new relay did not announce within
 * reconnect_ms end with what they have (a warning says so), and streams
 * that had ended here are read out (their packets dropped) so that the relay
 * can end the session.
 */
static int after_reconnection(struct ctflive_live_view *v)
{
	int64_t now = now_ns();
	int r;

	for (size_t i = 0; i < v->nstreams; i++) {
		struct vstream *s = v->streams[i];

		if (s->cid != NO_ID || s->src_ended ||
		    now - s->unmapped_ns <= (int64_t)v->reconnect_ms * 1000000)
			continue;
		ctflive_ctf_bufsrc_end(s->src);
		s->src_ended = true;
		warn(v,
		     "stream %s/%s is not served by the relay reconnected to: ended after "
		     "its last packet received",
		     s->trace->name ? s->trace->name : "", s->channel);
	}
	for (size_t i = 0; i < v->nghosts && !v->lost && !v->err;) {
		uint64_t cid = v->ghosts[i];

		v->ghost_packet = false;
		r = ctflive_live_client_request_index(v->c, cid);
		if (r < 0)
			r = client_failed(v, r);
		else
			r = drain_items(v);
		if (r < 0)
			return r;
		if (v->ghost_packet)
			continue; /* more to drop, at once */
		if (i < v->nghosts && v->ghosts[i] == cid)
			i++;
	}
	return 0;
}

int ctflive_live_view_next(struct ctflive_live_view *v,
			   const struct ctflive_ctf_stream **ret_stream,
			   struct ctflive_ctf_msg *ret_msg)
{
	bool refreshed = false;
	int r;

	if (!v || !ret_stream || !ret_msg)
		return -EINVAL;
	if (v->err)
		return v->err;
	if (!v->keep_round)
		for (size_t i = 0; i < v->nstreams; i++)
			v->streams[i]->queried = false;
	v->keep_round = false;

	r = drain_items(v);
	if (r < 0)
		return r;
	if (v->lost) {
		r = reconnect(v);
		if (r < 0)
			return r;
	}
	if (v->nurls) {
		r = after_reconnection(v);
		if (r < 0)
			return r;
	}
	for (;;) {
		const struct ctflive_ctf_msg *m;
		struct ctflive_ctf_stream *s;
		struct ctflive_ctf_diag diag;

		r = ctflive_merge_next(v->merge, &m, &s, &diag);
		if (r == 0) {
			*ret_stream = s;
			*ret_msg = *m;
			v->progress = true;
			return 0;
		}
		if (r == CTFLIVE_CTF_END) {
			/* no stream left */
			if (v->ended)
				return CTFLIVE_CTF_END;
			if (!refreshed) {
				refreshed = true;
				r = refresh(v);
				if (r < 0)
					return r;
				continue;
			}
			return -EAGAIN;
		}
		if (r == -EAGAIN) {
			if (v->lost) {
				r = reconnect(v);
				if (r < 0)
					return r;
				continue;
			}
			/* not while a request is in flight: the refresh would
			 * wait for its reply */
			if (!refreshed && !v->c->index_pending &&
			    now_ns() - v->last_refresh >= REFRESH_PERIOD_NS) {
				refreshed = true;
				r = refresh(v);
				if (r < 0)
					return r;
				continue;
			}
			v->keep_round = v->c->index_pending;
			return -EAGAIN;
		}
		if (v->err)
			return v->err;
		return fail(v, r, "%s%s%s", s ? ctflive_ctf_stream_name(s) : "", s ? ": " : "",
			    diag.msg);
	}
}

int ctflive_live_view_wait(struct ctflive_live_view *v, int timeout_ms)
{
	int r;

	if (!v || v->err || v->lost)
		return 0;
	if (!v->c->index_pending) {
		int64_t ns = timeout_ms >= 0 && (int64_t)timeout_ms * 1000000 < STALE_POLL_NS
				     ? (int64_t)timeout_ms * 1000000
				     : STALE_POLL_NS;
		struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

		if (!v->relay_holds)
			return 0;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return 1;
	}
	r = cl_live_client_reply_ready(v->c, timeout_ms < 0 ? v->c->timeout_ms : timeout_ms);
	if (r < 0) {
		(void)client_failed(v, r);
	} else if (r == 0 && timeout_ms < 0) {
		/* no reply within the client's timeout: the receive says so */
		uint64_t id;

		(void)settle(v, &id);
	}
	return 1;
}
