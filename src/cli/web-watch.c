/* SPDX-License-Identifier: MIT */
/*
 * ctflive web, relay side: the sessions lister and one reader thread per
 * viewed session (see web.h).
 *
 * A reader thread counts every message the libctflive iterator returns
 * (events per event name and per stream, in one-second buckets of trace
 * time; discarded events; discarded packets; packets lost in transit) and
 * turns at most `max_rows` events per second (a token bucket) into JSON
 * rows with the CTF printer (doc/ctf-json.md) for the browsers; the others
 * are only counted. Once a second it publishes its counts as one JSON
 * object that every browser of the session receives.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctflive/ctf.h"
#include "ctflive/iter.h"
#include "grow.h"
#include "log.h"
#include "macro.h"
#include "web.h"

#define MAX_WATCHES 64
#define TOP_SERIES  8 /* event names and streams plotted one by one */
#define HASH_SIZE   4096

int64_t web_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------- */
/* Sessions lister                                                         */
/* ---------------------------------------------------------------------- */

static const char *format_name(enum ctflive_trace_format f)
{
	switch (f) {
	case CTFLIVE_TRACE_FORMAT_CTF_1_8:
		return "CTF 1.8";
	case CTFLIVE_TRACE_FORMAT_CTF_2:
		return "CTF 2";
	default:
		return "unknown";
	}
}

/* The list as JSON: sessions with the same host and name (one per domain
 * or ABI) merged as `ctflive ls` merges them. */
static char *sessions_json(const struct web_ctx *ctx, const struct ctflive_live_session_info *v,
			   size_t n, const char *error)
{
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	bool *merged = calloc(n ? n : 1, sizeof(*merged));
	char *ret = NULL;

	if (!root || !arr || !merged)
		goto out;
	json_object_object_add(root, "relay", json_object_new_string(ctx->relay_text));
	json_object_object_add(root, "error", error ? json_object_new_string(error) : NULL);
	for (size_t i = 0; i < n; i++) {
		struct json_object *s;
		uint64_t streams = v[i].streams;
		uint32_t clients = v[i].clients;

		if (merged[i])
			continue;
		for (size_t j = i + 1; j < n; j++) {
			if (merged[j] || strcmp(v[i].hostname, v[j].hostname) ||
			    strcmp(v[i].session_name, v[j].session_name))
				continue;
			merged[j] = true;
			streams += v[j].streams;
			clients = CL_MAX(clients, v[j].clients);
		}
		s = json_object_new_object();
		if (!s)
			goto out;
		json_object_object_add(s, "host", json_object_new_string(v[i].hostname));
		json_object_object_add(s, "name", json_object_new_string(v[i].session_name));
		json_object_object_add(s, "format",
				       json_object_new_string(format_name(v[i].trace_format)));
		json_object_object_add(s, "streams", json_object_new_uint64(streams));
		json_object_object_add(s, "clients", json_object_new_int64(clients));
		json_object_object_add(s, "live_timer_us", json_object_new_int64(v[i].live_timer));
		json_object_array_add(arr, s);
	}
	json_object_object_add(root, "sessions", arr);
	arr = NULL;
	ret = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(arr);
	json_object_put(root);
	free(merged);
	return ret;
}

static void publish_sessions(struct web_ctx *ctx, char *json)
{
	if (!json)
		return;
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->sessions || strcmp(ctx->sessions, json)) {
		free(ctx->sessions);
		ctx->sessions = json;
		ctx->sessions_len = strlen(json);
		ctx->sessions_version++;
		pthread_cond_broadcast(&ctx->cond);
		json = NULL;
	}
	pthread_mutex_unlock(&ctx->lock);
	free(json);
}

static void reap_watches(struct web_ctx *ctx);

static void *lister_main(void *arg)
{
	struct web_ctx *ctx = arg;
	struct ctflive_live_client *c = NULL;

	for (;;) {
		struct ctflive_live_session_info *v = NULL;
		char err[512] = "";
		struct timespec until;
		size_t n = 0;
		int r = 0;

		if (!c)
			r = ctflive_live_client_connect(ctx->relay.relay_host, ctx->relay.port,
							ctx->relay.family, ctx->timeout_ms, &c, err,
							sizeof(err));
		if (r == 0) {
			r = ctflive_live_client_list(c, &v, &n);
			if (r < 0) {
				snprintf(err, sizeof(err), "%s", ctflive_live_client_error(c));
				c = ctflive_live_client_free(c);
			}
		}
		if (r < 0 && !err[0])
			snprintf(err, sizeof(err), "%s", strerror(-r));
		publish_sessions(ctx, sessions_json(ctx, v, n, r < 0 ? err : NULL));
		free(v);
		reap_watches(ctx);

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_mutex_lock(&ctx->lock);
		if (!ctx->stopping)
			pthread_cond_timedwait(&ctx->cond, &ctx->lock, &until);
		r = ctx->stopping;
		pthread_mutex_unlock(&ctx->lock);
		if (r)
			break;
	}
	ctflive_live_client_free(c);
	return NULL;
}

int web_lister_start(struct web_ctx *ctx)
{
	int r = pthread_create(&ctx->lister, NULL, lister_main, ctx);

	if (r)
		return -r;
	ctx->lister_started = true;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Counting                                                                */
/* ---------------------------------------------------------------------- */

struct cls_key {
	const struct ctflive_ctf_trace *trace;
	uint64_t id;
	int idx; /* -1: empty slot */
};

struct stream_ent {
	const struct ctflive_ctf_stream *s;
	char key[64]; /* the stream's label ("stream-N"): pointers are reused */
	char *label;  /* for the page */
	uint64_t total;
};

struct bucket {
	int64_t sec;
	uint64_t total;
	uint32_t cls[WEB_MAX_CLASSES + 1];
	uint32_t str[WEB_MAX_STREAMS + 1];
};

struct marker {
	double t; /* seconds */
	int kind; /* 0 discarded events, 1 discarded packets, 2 lost in transit */
	uint64_t count;
	bool count_known;
};

struct web_counts {
	struct cls_key hash[HASH_SIZE];
	size_t nhash;
	char *names[WEB_MAX_CLASSES + 1]; /* last: "(other)" */
	uint64_t name_total[WEB_MAX_CLASSES + 1];
	size_t nnames;
	struct stream_ent streams[WEB_MAX_STREAMS + 1];
	size_t nstreams;
	size_t last_stream;
	struct bucket hist[WEB_HIST];
	int64_t cur_sec, first_sec;
	bool have_sec;
	struct marker markers[WEB_MARKERS];
	uint64_t nmarkers;
	uint64_t events, discarded_events, discarded_packets, lost_packets;
	uint64_t events_at_last_publish;
	int64_t last_publish_ms;
	double rate; /* events per second over the last publication period */
	double tokens;
	int64_t tokens_ms;
};

static int class_index(struct web_counts *k, const struct ctflive_ctf_stream *s,
		       const struct ctflive_ctf_event *e)
{
	const struct ctflive_ctf_trace *t = ctflive_ctf_stream_trace(s);
	uint64_t id = ctflive_ctf_event_class_id(e);
	size_t h = (size_t)(((uintptr_t)t >> 4) ^ (id * 0x9E3779B97F4A7C15ull)) & (HASH_SIZE - 1);
	const char *name;
	size_t i;

	for (size_t probe = 0; probe < HASH_SIZE; probe++, h = (h + 1) & (HASH_SIZE - 1)) {
		struct cls_key *c = &k->hash[h];

		if (c->idx < 0)
			break;
		if (c->trace == t && c->id == id)
			return c->idx;
	}
	name = ctflive_ctf_event_name(e);
	if (!name)
		name = "(unnamed)";
	for (i = 0; i < k->nnames && i < WEB_MAX_CLASSES; i++)
		if (!strcmp(k->names[i], name))
			break;
	if (i == k->nnames) {
		if (k->nnames < WEB_MAX_CLASSES && (k->names[i] = strdup(name)))
			k->nnames++;
		else
			i = WEB_MAX_CLASSES; /* "(other)" */
	}
	/* remember the (trace, id) pair unless the table is nearly full */
	if (k->hash[h].idx < 0 && k->nhash < HASH_SIZE * 3 / 4) {
		k->hash[h] = (struct cls_key){ .trace = t, .id = id, .idx = (int)i };
		k->nhash++;
	}
	return (int)i;
}

/* The stream's label for the page: its trace and CPU when the first
 * event's JSON says them, else the stream's name. */
static char *stream_label(struct ctflive_ctf_printer *pr, const struct ctflive_ctf_stream *s,
			  const struct ctflive_ctf_msg *m, const char *key)
{
	struct json_object *o = NULL, *v, *pc;
	const char *trace = NULL;
	struct ctflive_bytes out;
	char *ret = NULL;
	int64_t cpu = -1;

	ctflive_ctf_printer_clear(pr, 0);
	if (ctflive_ctf_printer_msg(pr, s, m) > 0) {
		out = ctflive_ctf_printer_output(pr, 0);
		o = json_tokener_parse((const char *)out.data);
	}
	ctflive_ctf_printer_clear(pr, 0);
	if (o && json_object_object_get_ex(o, "trace", &v))
		trace = json_object_get_string(v);
	if (o && json_object_object_get_ex(o, "packet_context", &pc) &&
	    json_object_object_get_ex(pc, "cpu_id", &v))
		cpu = json_object_get_int64(v);
	if (trace && cpu >= 0) {
		if (asprintf(&ret, "%s cpu %" PRId64, trace, cpu) < 0)
			ret = NULL;
	} else if (trace) {
		if (asprintf(&ret, "%s %s", trace, key) < 0)
			ret = NULL;
	}
	json_object_put(o);
	return ret ? ret : strdup(key);
}

static size_t stream_index(struct web_counts *k, struct ctflive_ctf_printer *pr,
			   const struct ctflive_ctf_stream *s, const struct ctflive_ctf_msg *m)
{
	const char *key = ctflive_ctf_stream_name(s);
	struct stream_ent *e;

	if (!key)
		key = "";
	if (k->last_stream < k->nstreams) {
		e = &k->streams[k->last_stream];
		if (e->s == s && !strcmp(e->key, key))
			return k->last_stream;
	}
	for (size_t i = 0; i < k->nstreams; i++) {
		e = &k->streams[i];
		if (e->s == s && !strcmp(e->key, key))
			return k->last_stream = i;
	}
	if (k->nstreams == WEB_MAX_STREAMS)
		return WEB_MAX_STREAMS;
	e = &k->streams[k->nstreams];
	e->s = s;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->label = stream_label(pr, s, m, e->key);
	e->total = 0;
	return k->last_stream = k->nstreams++;
}

/* The bucket of second `sec` of trace time, clearing the seconds skipped. */
static struct bucket *bucket_at(struct web_counts *k, int64_t sec)
{
	struct bucket *b;

	if (!k->have_sec) {
		k->have_sec = true;
		k->cur_sec = k->first_sec = sec;
		b = &k->hist[((sec % WEB_HIST) + WEB_HIST) % WEB_HIST];
		memset(b, 0, sizeof(*b));
		b->sec = sec;
		return b;
	}
	if (sec > k->cur_sec) {
		int64_t from = CL_MAX(k->cur_sec + 1, sec - WEB_HIST + 1);

		for (int64_t x = from; x <= sec; x++) {
			b = &k->hist[((x % WEB_HIST) + WEB_HIST) % WEB_HIST];
			b->sec = x;
			b->total = 0;
			memset(b->cls, 0, sizeof(b->cls[0]) * (k->nnames + 1));
			b->cls[WEB_MAX_CLASSES] = 0;
			memset(b->str, 0, sizeof(b->str[0]) * (k->nstreams + 1));
			b->str[WEB_MAX_STREAMS] = 0;
		}
		k->cur_sec = sec;
	}
	/* older than the current second (events without a clock): the current */
	return &k->hist[((k->cur_sec % WEB_HIST) + WEB_HIST) % WEB_HIST];
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static void add_marker(struct web_counts *k, const struct ctflive_ctf_msg *m, int kind)
{
	struct marker *mk = &k->markers[k->nmarkers++ % WEB_MARKERS];
	int64_t ns = m->has_range ? m->end_ns : m->has_time ? m->ns : wall_ns();

	mk->t = (double)ns / 1e9;
	mk->kind = kind;
	mk->count = m->count;
	mk->count_known = m->count_known;
}

/* ---------------------------------------------------------------------- */
/* Publication                                                             */
/* ---------------------------------------------------------------------- */

static void set_state(struct web_watch *w, enum web_state st, const char *msg)
{
	pthread_mutex_lock(&w->lock);
	w->state = st;
	snprintf(w->state_msg, sizeof(w->state_msg), "%s", msg ? msg : "");
	w->state_version++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Pushes one row (a JSON object of `len` bytes, copied). */
static void push_row(struct web_watch *w, const char *json, size_t len, bool event)
{
	uint64_t events = w->counts->events;
	char *copy = malloc(len + 1);
	struct web_row *r;

	if (!copy)
		return;
	memcpy(copy, json, len);
	copy[len] = '\0';
	pthread_mutex_lock(&w->lock);
	r = &w->ring[w->head % WEB_RING];
	free(r->json);
	w->evrows += event;
	*r = (struct web_row){ .json = copy, .len = len, .evrows = w->evrows, .event = event };
	w->head++;
	w->events = events;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* A row whose JSON is over WEB_ROW_MAX: its identity, without the fields. */
static void push_cut_row(struct web_watch *w, const char *json, size_t len)
{
	struct json_object *o = json_tokener_parse(json), *small = json_object_new_object(), *v;
	static const char *const keep[] = { "type",   "timestamp_ns", "time", "trace",
					    "stream", "stream_id",    "name", "id" };

	if (o && small) {
		for (size_t i = 0; i < CL_ARRAY_SIZE(keep); i++)
			if (json_object_object_get_ex(o, keep[i], &v))
				json_object_object_add(small, keep[i], json_object_get(v));
		json_object_object_add(small, "cut_bytes", json_object_new_uint64(len));
		json = json_object_to_json_string_ext(small, JSON_C_TO_STRING_PLAIN);
		push_row(w, json, strlen(json), true);
	}
	json_object_put(o);
	json_object_put(small);
}

static void push_warning(struct web_watch *w, const struct ctflive_diag *d)
{
	char line[sizeof(d->where) + sizeof(d->msg) + 64];
	struct json_object *o = json_object_new_object();
	const char *s;

	if (!o)
		return;
	ctflive_diag_format(d, line, sizeof(line));
	json_object_object_add(o, "type", json_object_new_string("warning"));
	json_object_object_add(o, "message", json_object_new_string(line));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	push_row(w, s, strlen(s), false);
	json_object_put(o);
}

static struct json_object *series_of(const struct web_counts *k, int64_t from, int64_t to,
				     bool streams, size_t idx)
{
	struct json_object *a = json_object_new_array_ext((int)(to - from + 1));

	for (int64_t s = from; a && s <= to; s++) {
		const struct bucket *b = &k->hist[((s % WEB_HIST) + WEB_HIST) % WEB_HIST];
		uint64_t v = 0;

		if (b->sec == s)
			v = idx == SIZE_MAX ? b->total : streams ? b->str[idx] : b->cls[idx];
		json_object_array_add(a, json_object_new_uint64(v));
	}
	return a;
}

/* Indexes of the `n` largest of `tot` (count `len`), largest first. */
static size_t top_n(const uint64_t *tot, size_t len, size_t *out, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < len; i++) {
		size_t j;

		if (!tot[i])
			continue;
		for (j = m; j > 0 && tot[out[j - 1]] < tot[i]; j--)
			if (j < n)
				out[j] = out[j - 1];
		if (j < n) {
			out[j] = i;
			if (m < n)
				m++;
		}
	}
	return m;
}

static void publish_stats(struct web_watch *w)
{
	struct web_counts *k = w->counts;
	struct json_object *o = json_object_new_object(), *a, *x, *series;
	uint64_t stot[WEB_MAX_STREAMS + 1];
	size_t top[TOP_SERIES], n;
	int64_t now = web_now_ms(), from, to;
	const char *s;
	char *copy;

	if (!o)
		return;
	if (now > k->last_publish_ms)
		k->rate = (double)(k->events - k->events_at_last_publish) * 1000.0 /
			  (double)(now - k->last_publish_ms);
	k->events_at_last_publish = k->events;
	k->last_publish_ms = now;

	json_object_object_add(o, "events", json_object_new_uint64(k->events));
	json_object_object_add(o, "rate", json_object_new_double(k->rate));
	json_object_object_add(o, "discarded_events", json_object_new_uint64(k->discarded_events));
	json_object_object_add(o, "discarded_packets",
			       json_object_new_uint64(k->discarded_packets));
	json_object_object_add(o, "lost_packets", json_object_new_uint64(k->lost_packets));
	a = json_object_new_array();
	for (size_t i = 0; a && i <= WEB_MAX_CLASSES; i++) {
		if (i >= k->nnames && i < WEB_MAX_CLASSES)
			continue;
		if (i == WEB_MAX_CLASSES && !k->name_total[i])
			continue;
		x = json_object_new_object();
		json_object_object_add(
			x, "name", json_object_new_string(i < k->nnames ? k->names[i] : "(other)"));
		json_object_object_add(x, "total", json_object_new_uint64(k->name_total[i]));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "classes", a);
	a = json_object_new_array();
	for (size_t i = 0; a && i <= WEB_MAX_STREAMS; i++) {
		stot[i] = i < k->nstreams ? k->streams[i].total : 0;
		if (i >= k->nstreams)
			continue;
		x = json_object_new_object();
		json_object_object_add(x, "label",
				       json_object_new_string(k->streams[i].label
								      ? k->streams[i].label
								      : k->streams[i].key));
		json_object_object_add(x, "total", json_object_new_uint64(k->streams[i].total));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "streams", a);

	series = json_object_new_object();
	if (series && k->have_sec) {
		to = k->cur_sec;
		from = CL_MAX(k->first_sec, to - WEB_HIST + 1);
		json_object_object_add(series, "start", json_object_new_int64(from));
		json_object_object_add(series, "total", series_of(k, from, to, false, SIZE_MAX));
		a = json_object_new_array();
		n = top_n(k->name_total, CL_MIN(k->nnames, (size_t)WEB_MAX_CLASSES), top,
			  TOP_SERIES);
		for (size_t i = 0; a && i < n; i++) {
			x = json_object_new_object();
			json_object_object_add(x, "name", json_object_new_string(k->names[top[i]]));
			json_object_object_add(x, "data", series_of(k, from, to, false, top[i]));
			json_object_array_add(a, x);
		}
		json_object_object_add(series, "classes", a);
		a = json_object_new_array();
		n = top_n(stot, k->nstreams, top, TOP_SERIES);
		for (size_t i = 0; a && i < n; i++) {
			const struct stream_ent *e = &k->streams[top[i]];

			x = json_object_new_object();
			json_object_object_add(
				x, "name", json_object_new_string(e->label ? e->label : e->key));
			json_object_object_add(x, "data", series_of(k, from, to, true, top[i]));
			json_object_array_add(a, x);
		}
		json_object_object_add(series, "streams", a);
		a = json_object_new_array();
		for (uint64_t i = k->nmarkers > WEB_MARKERS ? k->nmarkers - WEB_MARKERS : 0;
		     a && i < k->nmarkers; i++) {
			const struct marker *mk = &k->markers[i % WEB_MARKERS];
			static const char *const kinds[] = { "discarded_events",
							     "discarded_packets", "lost_packets" };

			if (mk->t < (double)from)
				continue;
			x = json_object_new_object();
			json_object_object_add(x, "t", json_object_new_double(mk->t));
			json_object_object_add(x, "kind", json_object_new_string(kinds[mk->kind]));
			json_object_object_add(x, "count",
					       mk->count_known ? json_object_new_uint64(mk->count)
							       : NULL);
			json_object_array_add(a, x);
		}
		json_object_object_add(series, "markers", a);
	}
	json_object_object_add(o, "series", series);

	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	copy = strdup(s);
	json_object_put(o);
	if (!copy)
		return;
	pthread_mutex_lock(&w->lock);
	free(w->stats);
	w->stats = copy;
	w->stats_len = strlen(copy);
	w->stats_version++;
	w->events = k->events;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* ---------------------------------------------------------------------- */
/* The reader thread                                                       */
/* ---------------------------------------------------------------------- */

/* Whether the thread should stop: shutting down, or nobody has viewed the
 * session for WEB_LINGER_MS. Marks the watch `exiting` (under ctx->lock)
 * so that no new viewer takes it. */
static bool should_exit(struct web_watch *w)
{
	struct web_ctx *ctx = w->ctx;
	bool ret;

	pthread_mutex_lock(&ctx->lock);
	ret = ctx->stopping ||
	      (w->subscribers == 0 && web_now_ms() - w->idle_since_ms > WEB_LINGER_MS);
	if (ret)
		w->exiting = true;
	pthread_mutex_unlock(&ctx->lock);
	return ret;
}

/* Whether a row may be sent now (token bucket of max_rows per second). */
static bool take_token(struct web_counts *k, unsigned max_rows)
{
	int64_t now;

	if (k->tokens >= 1.0) {
		k->tokens -= 1.0;
		return true;
	}
	now = web_now_ms();
	k->tokens = CL_MIN((double)max_rows,
			   k->tokens + (double)(now - k->tokens_ms) * (double)max_rows / 1000.0);
	k->tokens_ms = now;
	if (k->tokens >= 1.0) {
		k->tokens -= 1.0;
		return true;
	}
	return false;
}

static int on_message(struct web_watch *w, struct ctflive_ctf_printer *pr,
		      const struct ctflive_ctf_msg *m, const struct ctflive_ctf_stream *s)
{
	struct web_counts *k = w->counts;
	struct ctflive_bytes out;
	struct bucket *b;
	size_t si;
	int ci;

	switch (m->type) {
	case CTFLIVE_CTF_MSG_EVENT:
		ci = class_index(k, s, m->event);
		si = stream_index(k, pr, s, m);
		b = bucket_at(k, floor_div(m->has_time ? m->ns : wall_ns(), 1000000000));
		k->events++;
		k->name_total[ci]++;
		if (si < WEB_MAX_STREAMS)
			k->streams[si].total++;
		b->total++;
		b->cls[ci]++;
		b->str[si]++;
		if (!take_token(k, w->ctx->max_rows))
			return 0;
		break;
	case CTFLIVE_CTF_MSG_DISCARDED_EVENTS:
		k->discarded_events += m->count;
		add_marker(k, m, 0);
		break;
	case CTFLIVE_CTF_MSG_DISCARDED_PACKETS:
		if (m->lost_in_transit)
			k->lost_packets += m->count;
		else
			k->discarded_packets += m->count;
		add_marker(k, m, m->lost_in_transit ? 2 : 1);
		break;
	default:
		return 0;
	}
	ctflive_ctf_printer_clear(pr, 0);
	if (ctflive_ctf_printer_msg(pr, s, m) <= 0)
		return 0;
	out = ctflive_ctf_printer_output(pr, 0);
	while (out.len && out.data[out.len - 1] == '\n')
		out.len--;
	if (out.len > WEB_ROW_MAX)
		push_cut_row(w, (const char *)out.data, out.len);
	else
		push_row(w, (const char *)out.data, out.len, m->type == CTFLIVE_CTF_MSG_EVENT);
	ctflive_ctf_printer_clear(pr, 0);
	return 0;
}

static void *watch_main(void *arg)
{
	struct web_watch *w = arg;
	struct web_ctx *ctx = w->ctx;
	struct ctflive_ctf_printer *pr = NULL;
	struct ctflive_live_url url = ctx->relay;
	struct ctflive_iter *it = NULL;
	struct ctflive_diag diag;
	unsigned since_check = 0;
	char msg[sizeof(diag.where) + sizeof(diag.msg) + 64];
	int r;

	w->counts->last_publish_ms = w->counts->tokens_ms = web_now_ms();
	w->counts->tokens = ctx->max_rows;
	url.has_session = true;
	snprintf(url.target_host, sizeof(url.target_host), "%s", w->host);
	snprintf(url.session_name, sizeof(url.session_name), "%s", w->name);
	r = ctflive_ctf_printer_new(CTFLIVE_CTF_PRINT_DEFAULT | CTFLIVE_CTF_JSON, &pr);
	if (r < 0) {
		set_state(w, WEB_FAILED, "out of memory");
		goto idle;
	}
	r = ctflive_iter_open_live(&url, CTFLIVE_LIVE_SEEK_BEGINNING, ctx->timeout_ms, &it, &diag);
	if (r < 0) {
		set_state(w, WEB_FAILED, ctflive_diag_format(&diag, msg, sizeof(msg)));
		goto idle;
	}
	set_state(w, WEB_LIVE, NULL);
	for (;;) {
		const struct ctflive_ctf_msg *m;
		const struct ctflive_ctf_stream *s;
		const struct ctflive_diag *wd;

		r = ctflive_iter_next(it, &m, &s);
		if (r == 0) {
			on_message(w, pr, m, s);
			if (++since_check < 4096)
				continue;
			since_check = 0;
			if (web_now_ms() - w->counts->last_publish_ms >= 1000) {
				publish_stats(w);
				if (should_exit(w))
					goto out;
			}
			continue;
		}
		if (r == CTFLIVE_ITER_WARNING) {
			while ((wd = ctflive_iter_next_warning(it)))
				push_warning(w, wd);
			continue;
		}
		if (r == -EAGAIN) {
			if (web_now_ms() - w->counts->last_publish_ms >= 1000)
				publish_stats(w);
			if (should_exit(w))
				goto out;
			r = ctflive_iter_wait(it, CTFLIVE_ITER_WAIT_DEFAULT);
			if (r < 0) {
				publish_stats(w);
				set_state(w, WEB_FAILED, strerror(-r));
				goto idle;
			}
			continue;
		}
		publish_stats(w);
		if (r == CTFLIVE_CTF_END)
			set_state(w, WEB_ENDED, NULL);
		else
			set_state(w, WEB_FAILED,
				  ctflive_diag_format(ctflive_iter_error(it), msg, sizeof(msg)));
		break;
	}
idle:
	/* keep what was counted for the viewers until nobody watches */
	it = ctflive_iter_free(it);
	while (!should_exit(w)) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_mutex_lock(&w->lock);
		pthread_cond_timedwait(&w->cond, &w->lock, &until);
		pthread_mutex_unlock(&w->lock);
	}
out:
	ctflive_iter_free(it);
	ctflive_ctf_printer_free(pr);
	pthread_mutex_lock(&ctx->lock);
	w->finished = true;
	pthread_mutex_unlock(&ctx->lock);
	return NULL;
}

static void watch_free(struct web_watch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < WEB_RING; i++)
		free(w->ring[i].json);
	free(w->stats);
	if (w->counts) {
		for (size_t i = 0; i < w->counts->nnames; i++)
			free(w->counts->names[i]);
		for (size_t i = 0; i < w->counts->nstreams; i++)
			free(w->counts->streams[i].label);
		free(w->counts);
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

int web_watch_get(struct web_ctx *ctx, const char *host, const char *name, struct web_watch **ret)
{
	struct web_watch *w;
	size_t n = 0;
	int r;

	if (strlen(host) >= sizeof(w->host) || strlen(name) >= sizeof(w->name))
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	for (w = ctx->watches; w; w = w->next, n++) {
		if (!w->exiting && !strcmp(w->host, host) && !strcmp(w->name, name)) {
			w->subscribers++;
			pthread_mutex_unlock(&ctx->lock);
			*ret = w;
			return 0;
		}
	}
	if (n >= MAX_WATCHES || ctx->stopping) {
		pthread_mutex_unlock(&ctx->lock);
		return -E2BIG;
	}
	w = calloc(1, sizeof(*w));
	if (w)
		w->counts = calloc(1, sizeof(*w->counts));
	if (!w || !w->counts) {
		pthread_mutex_unlock(&ctx->lock);
		if (w)
			free(w);
		return -ENOMEM;
	}
	for (size_t i = 0; i < HASH_SIZE; i++)
		w->counts->hash[i].idx = -1;
	w->ctx = ctx;
	snprintf(w->host, sizeof(w->host), "%s", host);
	snprintf(w->name, sizeof(w->name), "%s", name);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->subscribers = 1;
	w->state_version = 1;
	r = pthread_create(&w->thread, NULL, watch_main, w);
	if (r) {
		pthread_mutex_unlock(&ctx->lock);
		watch_free(w);
		return -EAGAIN;
	}
	w->started = true;
	w->next = ctx->watches;
	ctx->watches = w;
	pthread_mutex_unlock(&ctx->lock);
	*ret = w;
	return 0;
}

void web_watch_put(struct web_watch *w)
{
	struct web_ctx *ctx = w->ctx;

	pthread_mutex_lock(&ctx->lock);
	if (--w->subscribers == 0)
		w->idle_since_ms = web_now_ms();
	pthread_mutex_unlock(&ctx->lock);
}

/* Joins and frees the watches whose thread returned and nobody holds. */
static void reap_watches(struct web_ctx *ctx)
{
	for (;;) {
		struct web_watch **pp, *w = NULL;

		pthread_mutex_lock(&ctx->lock);
		for (pp = &ctx->watches; *pp; pp = &(*pp)->next) {
			if ((*pp)->finished && (*pp)->subscribers == 0) {
				w = *pp;
				*pp = w->next;
				break;
			}
		}
		pthread_mutex_unlock(&ctx->lock);
		if (!w)
			return;
		pthread_join(w->thread, NULL);
		watch_free(w);
	}
}

void web_ctx_signal_stop(struct web_ctx *ctx)
{
	struct web_watch *w;

	pthread_mutex_lock(&ctx->lock);
	__atomic_store_n(&ctx->stopping, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&ctx->cond);
	for (w = ctx->watches; w; w = w->next) {
		pthread_mutex_lock(&w->lock);
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_unlock(&ctx->lock);
}

void web_ctx_stop_threads(struct web_ctx *ctx)
{
	struct web_watch *w;

	web_ctx_signal_stop(ctx);
	if (ctx->lister_started)
		pthread_join(ctx->lister, NULL);
	ctx->lister_started = false;
	pthread_mutex_lock(&ctx->lock);
	w = ctx->watches;
	ctx->watches = NULL;
	pthread_mutex_unlock(&ctx->lock);
	while (w) {
		struct web_watch *next = w->next;

		if (w->started)
			pthread_join(w->thread, NULL);
		watch_free(w);
		w = next;
	}
}
