/* SPDX-License-Identifier: MIT */
/*
 * ctflive web: a browser view of the live sessions of a relay.
 *
 *   cmd-web.c      command line, listening sockets, signals, shutdown
 *   web-http.c     the HTTP side (libmicrohttpd, one thread per connection):
 *                  access checks, the embedded page, the JSON list of
 *                  sessions and the server-sent event streams
 *   web-watch.c    the relay side: one lister thread (LIST_SESSIONS every
 *                  second) and one thread per viewed session reading the
 *                  libctflive iterator (ctflive/iter.h), counting every
 *                  message and keeping a bounded ring of event rows
 *   web-assets.c   generated at build time from src/web/ (the page)
 *
 * Locks: web_ctx.lock (list of watches, subscribers, sessions list) is
 * taken before web_watch.lock (rows, statistics, state), never after.
 * Memory is bounded: WEB_RING rows of at most WEB_ROW_MAX bytes per
 * watch, WEB_MAX_CLASSES event names and WEB_MAX_STREAMS streams counted
 * one by one (the rest together), WEB_HIST seconds of per-second counts.
 */
#ifndef CL_WEB_H
#define CL_WEB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctflive/live.h"

#define WEB_RING         4096  /* rows kept per viewed session */
#define WEB_ROW_MAX      8192  /* bytes of one row's JSON, larger ones are cut */
#define WEB_MAX_CLASSES  512   /* event names counted separately */
#define WEB_MAX_STREAMS  512   /* streams counted separately */
#define WEB_HIST         180   /* seconds of per-second counts (trace time) */
#define WEB_MARKERS      256   /* loss/discard markers kept */
#define WEB_LINGER_MS    10000 /* a session nobody views is left after this */
#define WEB_ROWS_DEFAULT 200   /* rows per second sent to the browser */

enum web_state {
	WEB_CONNECTING = 0,
	WEB_LIVE,
	WEB_ENDED,
	WEB_FAILED,
};

struct web_row {
	char *json; /* one JSON object, no newline (owned) */
	size_t len;
	uint64_t evrows; /* event rows pushed up to and including this one */
	bool event;      /* an event (not a discarded-items record or a warning) */
};

struct web_ctx;
struct web_counts; /* private to the watch thread (web-watch.c) */

/* One viewed session (host, name) and its reader thread. */
struct web_watch {
	struct web_ctx *ctx;
	struct web_watch *next;
	char host[64];
	char name[256];
	pthread_t thread;
	bool started; /* thread created (joined at exit) */

	/* under ctx->lock */
	unsigned subscribers;
	int64_t idle_since_ms; /* monotonic, when subscribers dropped to 0 */
	bool exiting;          /* the thread decided to stop: not to be reused */
	bool finished;         /* the thread returned: join and free */

	/* under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct web_row ring[WEB_RING];
	uint64_t head;   /* rows pushed so far (ring[head % WEB_RING] is next) */
	uint64_t evrows; /* event rows pushed so far */
	uint64_t events; /* events counted, as last published */
	char *stats;     /* JSON object, owned */
	size_t stats_len;
	uint64_t stats_version;
	enum web_state state;
	char state_msg[1024];
	uint64_t state_version;

	struct web_counts *counts; /* the thread's own */
};

struct web_ctx {
	struct ctflive_live_url relay; /* without a session */
	char relay_text[600];
	int timeout_ms;
	unsigned max_rows; /* rows per second per session */
	const char *token; /* NULL: no token (localhost listener) */
	size_t token_len;
	bool check_host; /* only Host: localhost/127.0.0.1/[::1] */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* sessions list changed, or stopping */
	bool stopping;
	char *sessions; /* JSON object, owned */
	size_t sessions_len;
	uint64_t sessions_version;
	struct web_watch *watches;
	pthread_t lister;
	bool lister_started;
};

/* Monotonic clock in ms. */
int64_t web_now_ms(void);

/* web-watch.c */
int web_lister_start(struct web_ctx *ctx);
/* Finds the watch of (host, name) or starts one; takes a subscription.
 * -ENOMEM, -EAGAIN (thread), -E2BIG (too many watches). */
int web_watch_get(struct web_ctx *ctx, const char *host, const char *name, struct web_watch **ret);
void web_watch_put(struct web_watch *w);
/* Sets ctx->stopping and wakes every waiting thread (readers of the HTTP
 * side return then). */
void web_ctx_signal_stop(struct web_ctx *ctx);
/* Stops and joins every thread of the relay side (after the HTTP server
 * stopped: nobody holds a watch any more). */
void web_ctx_stop_threads(struct web_ctx *ctx);
/* ctx->stopping, read without the lock. */
static inline bool web_stopping(struct web_ctx *ctx)
{
	return __atomic_load_n(&ctx->stopping, __ATOMIC_ACQUIRE);
}

/* web-http.c */
struct MHD_Daemon;
struct MHD_Daemon *web_http_start(struct web_ctx *ctx, int listen_fd);
/* Constant-time comparison of a candidate token with the expected one. */
bool web_token_equal(const char *want, size_t want_len, const char *got, size_t got_len);

/* web-assets.c (generated) */
struct web_asset {
	const char *path; /* "/app.js" */
	const char *mime;
	const unsigned char *data;
	size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

#endif
