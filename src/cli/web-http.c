/* SPDX-License-Identifier: MIT */
/*
 * ctflive web, HTTP side: libmicrohttpd with one thread per connection.
 *
 *   GET /                    the page (embedded, src/web/)
 *   GET /app.js, ...         its scripts and styles, uPlot and its licence
 *   GET /api/sessions        the relay's sessions (JSON)
 *   GET /api/sessions/events the same as server-sent events, on change
 *   GET /api/watch?host=H&name=N
 *                            server-sent events of one session: `rows`
 *                            (event rows, JSON of doc/ctf-json.md), `counts`
 *                            (shown, not shown, events), `stats` (counts per
 *                            event name and stream, per-second series,
 *                            loss/discard markers), `state` (live, ended,
 *                            failed)
 *
 * Every request is checked first: with a token (non-localhost listener),
 * `Authorization: Bearer TOKEN`, the cookie `ctflive_token` or the query
 * argument `token` must carry it (compared in constant time), else 401;
 * without a token (localhost listener), the Host header must name
 * localhost, 127.0.0.1 or [::1] (a page of another site that rebinds its
 * DNS name to 127.0.0.1 cannot read the traces), else 403.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "grow.h"
#include "log.h"
#include "macro.h"
#include "web.h"

#define SSE_PING_MS 5000
#define SSE_GAP_MS  100                /* at most ten messages a second: rows come in batches */
#define SSE_ROWS    256                /* rows per `rows` message at most */
#define SSE_BUF_MAX (4u * 1024 * 1024) /* pending bytes of one stream */
#define MAX_CONNS   64

/* Content-Security-Policy: nothing inline, nothing from elsewhere. */
#define CSP                                                                                \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "  \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " \
	"form-action 'none'"

bool web_token_equal(const char *want, size_t want_len, const char *got, size_t got_len)
{
	unsigned char diff = (unsigned char)(want_len != got_len);

	/* as long as the expected token whatever the candidate's length */
	for (size_t i = 0; i < want_len; i++) {
		unsigned char g = i < got_len ? (unsigned char)got[i] : 0;

		diff |= (unsigned char)((unsigned char)want[i] ^ g);
	}
	return diff == 0;
}

/* Host header of a localhost URL: localhost, 127.0.0.1 or [::1], any port. */
static bool host_is_local(const char *h)
{
	size_t n;

	if (!h)
		return false;
	if (h[0] == '[') {
		if (strncmp(h, "[::1]", 5))
			return false;
		h += 5;
		return !*h || *h == ':';
	}
	n = strcspn(h, ":");
	return (n == 9 && !strncasecmp(h, "localhost", 9)) ||
	       (n == 9 && !strncmp(h, "127.0.0.1", 9));
}

static void add_common_headers(struct MHD_Response *resp, const char *type)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Content-Security-Policy", CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text,
				  bool auth)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	add_common_headers(resp, "text/plain; charset=utf-8");
	if (auth)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"ctflive web\"");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Server-sent events                                                      */
/* ---------------------------------------------------------------------- */

struct sse {
	struct web_ctx *ctx;
	struct web_watch *w; /* NULL: the sessions stream */
	uint64_t cursor;     /* next row to send */
	uint64_t shown;      /* event rows sent */
	uint64_t stats_version, state_version, sessions_version;
	uint64_t counts_shown, counts_events; /* as last sent */
	int64_t last_send_ms;
	struct cl_buf out;
	size_t off;
	int fd; /* the client's socket, to see it go while nothing is sent; -1: unknown */
};

/*
 * Whether the client closed its connection. An event-stream client sends
 * nothing after its request, so end of file or an error on the socket means
 * it is gone: the thread then ends at once instead of at its next failed
 * write (the next ping, up to SSE_PING_MS later), which would hold one of the
 * MAX_CONNS connections for nothing.
 */
static bool client_gone(const struct sse *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	char b;

	if (c->fd < 0 || poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
		return true;
	return (p.revents & POLLIN) && recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static int put(struct sse *c, const char *s, size_t n)
{
	return cl_buf_append(&c->out, s, n);
}

static int puts_(struct sse *c, const char *s)
{
	return put(c, s, strlen(s));
}

/* One `event: NAME` with one data line (`data` has no newline). */
static int put_event(struct sse *c, const char *name, const char *data, size_t len)
{
	if (puts_(c, "event: ") || puts_(c, name) || puts_(c, "\ndata: ") || put(c, data, len) ||
	    puts_(c, "\n\n"))
		return -E2BIG;
	return 0;
}

/* What the watch has for this stream that it did not send yet (w->lock). */
static int fill_from_watch(struct sse *c)
{
	struct web_watch *w = c->w;
	uint64_t oldest = w->head > WEB_RING ? w->head - WEB_RING : 0, pending, events;
	char buf[160];
	int r = 0;

	if (c->cursor < oldest)
		c->cursor = oldest; /* fell behind: those rows are not shown */
	if (c->cursor < w->head) {
		unsigned n = 0;

		r = puts_(c, "event: rows\ndata: {\"rows\":[");
		while (!r && c->cursor < w->head && n < SSE_ROWS && c->out.len < SSE_BUF_MAX / 2) {
			const struct web_row *row = &w->ring[c->cursor % WEB_RING];

			if (n++)
				r = puts_(c, ",");
			if (!r)
				r = put(c, row->json, row->len);
			c->shown += row->event;
			c->cursor++;
		}
		if (!r)
			r = puts_(c, "]}\n\n");
	}
	if (!r && w->stats && c->stats_version != w->stats_version) {
		r = put_event(c, "stats", w->stats, w->stats_len);
		c->stats_version = w->stats_version;
	}
	/* shown + not shown = events counted, exactly once every row and the
	 * final count were sent */
	pending = 0;
	if (c->cursor < w->head) {
		const struct web_row *row = &w->ring[c->cursor % WEB_RING];

		pending = w->evrows - (row->evrows - row->event);
	}
	events = CL_MAX(w->events, c->shown + pending);
	if (!r && (c->counts_shown != c->shown || c->counts_events != events)) {
		int n = snprintf(buf, sizeof(buf),
				 "{\"shown\":%" PRIu64 ",\"not_shown\":%" PRIu64
				 ",\"events\":%" PRIu64 "}",
				 c->shown, events - c->shown - pending, events);

		r = put_event(c, "counts", buf, (size_t)n);
		c->counts_shown = c->shown;
		c->counts_events = events;
	}
	if (!r && c->cursor == w->head && c->state_version != w->state_version) {
		static const char *const names[] = { "connecting", "live", "ended", "failed" };
		struct json_object *o = json_object_new_object();
		const char *s;

		if (!o)
			return -ENOMEM;
		json_object_object_add(o, "state", json_object_new_string(names[w->state]));
		json_object_object_add(o, "message", json_object_new_string(w->state_msg));
		s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		r = put_event(c, "state", s, strlen(s));
		json_object_put(o);
		c->state_version = w->state_version;
	}
	return r;
}

static int fill_from_sessions(struct sse *c)
{
	struct web_ctx *ctx = c->ctx;

	if (!ctx->sessions || c->sessions_version == ctx->sessions_version)
		return 0;
	c->sessions_version = ctx->sessions_version;
	return put_event(c, "sessions", ctx->sessions, ctx->sessions_len);
}

/* Waits (at most a second at a time) until there is something to send. */
static int fill(struct sse *c)
{
	pthread_mutex_t *lock = c->w ? &c->w->lock : &c->ctx->lock;
	pthread_cond_t *cond = c->w ? &c->w->cond : &c->ctx->cond;
	int64_t since = web_now_ms() - c->last_send_ms;
	int r = 0;

	if (since >= 0 && since < SSE_GAP_MS) {
		struct timespec gap = { .tv_nsec = (long)(SSE_GAP_MS - since) * 1000000 };

		nanosleep(&gap, NULL);
	}
	pthread_mutex_lock(lock);
	for (;;) {
		struct timespec until;

		if (web_stopping(c->ctx)) {
			r = -ECANCELED;
			break;
		}
		if (client_gone(c)) {
			r = -ECONNRESET;
			break;
		}
		r = c->w ? fill_from_watch(c) : fill_from_sessions(c);
		if (r < 0 || c->out.len)
			break;
		if (web_now_ms() - c->last_send_ms >= SSE_PING_MS) {
			r = puts_(c, ": ping\n\n");
			break;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(cond, lock, &until);
	}
	pthread_mutex_unlock(lock);
	c->last_send_ms = web_now_ms();
	return r;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *c = cls;
	size_t n;

	(void)pos;
	if (c->off >= c->out.len) {
		cl_buf_clear(&c->out);
		c->off = 0;
		if (fill(c) < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = CL_MIN(max, c->out.len - c->off);
	memcpy(buf, c->out.data + c->off, n);
	c->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *c = cls;

	if (c->w)
		web_watch_put(c->w);
	cl_buf_free(&c->out);
	free(c);
}

static enum MHD_Result reply_sse(struct MHD_Connection *conn, struct web_ctx *ctx,
				 struct web_watch *w)
{
	struct sse *c = calloc(1, sizeof(*c));
	const union MHD_ConnectionInfo *info;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!c) {
		if (w)
			web_watch_put(w);
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", false);
	}
	c->ctx = ctx;
	c->w = w;
	c->out.max = SSE_BUF_MAX;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c->fd = info ? info->connect_fd : -1;
	c->last_send_ms = web_now_ms();
	/* the first message at once: a comment, so the browser sees the
	 * stream open even before anything happens */
	(void)puts_(c, ": ctflive web\n\n");
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, sse_read, c,
						 sse_free);
	if (!resp) {
		sse_free(c);
		return MHD_NO;
	}
	add_common_headers(resp, "text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Requests                                                                */
/* ---------------------------------------------------------------------- */

/* 0 allowed, else the HTTP status to answer; *set_cookie when the token
 * came as a query argument (the page then keeps it as a cookie). */
static unsigned check_access(struct web_ctx *ctx, struct MHD_Connection *conn, bool *set_cookie)
{
	const char *v;
	bool ok = false;

	*set_cookie = false;
	if (ctx->check_host &&
	    !host_is_local(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host")))
		return MHD_HTTP_FORBIDDEN;
	if (!ctx->token)
		return 0;
	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (v && !strncasecmp(v, "Bearer ", 7))
		ok |= web_token_equal(ctx->token, ctx->token_len, v + 7, strlen(v + 7));
	v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "ctflive_token");
	if (v)
		ok |= web_token_equal(ctx->token, ctx->token_len, v, strlen(v));
	v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "token");
	if (v && web_token_equal(ctx->token, ctx->token_len, v, strlen(v))) {
		ok = true;
		*set_cookie = true;
	}
	return ok ? 0 : MHD_HTTP_UNAUTHORIZED;
}

static enum MHD_Result reply_asset(struct MHD_Connection *conn, struct web_ctx *ctx,
				   const struct web_asset *a, bool set_cookie)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		a->len, (void *)(uintptr_t)a->data, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;
	char *cookie = NULL;

	if (!resp)
		return MHD_NO;
	add_common_headers(resp, a->mime);
	/* the token was checked to be made of cookie-safe characters */
	if (set_cookie && asprintf(&cookie, "ctflive_token=%s; Path=/; HttpOnly; SameSite=Strict",
				   ctx->token) >= 0) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
		free(cookie);
	}
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_sessions(struct MHD_Connection *conn, struct web_ctx *ctx)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *copy;

	pthread_mutex_lock(&ctx->lock);
	copy = strdup(ctx->sessions ? ctx->sessions : "{\"sessions\":[],\"error\":null}");
	pthread_mutex_unlock(&ctx->lock);
	if (!copy)
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", false);
	resp = MHD_create_response_from_buffer(strlen(copy), copy, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(copy);
		return MHD_NO;
	}
	add_common_headers(resp, "application/json");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	static int first_call;
	struct web_ctx *ctx = cls;
	struct web_watch *w;
	bool set_cookie;
	unsigned status;
	int r;

	(void)version;
	(void)upload_data;
	if (!*req_cls) {
		*req_cls = &first_call;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* bodies are not read: the answer is 405 */
		return MHD_YES;
	}
	status = check_access(ctx, conn, &set_cookie);
	if (status == MHD_HTTP_UNAUTHORIZED)
		return reply_text(conn, status, "401 unauthorized: a token is needed\n", true);
	if (status)
		return reply_text(conn, status, "403 forbidden: not a localhost Host header\n",
				  false);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "405 method not allowed\n",
				  false);
	if (!strcmp(url, "/api/sessions"))
		return reply_sessions(conn, ctx);
	if (!strcmp(url, "/api/sessions/events"))
		return reply_sse(conn, ctx, NULL);
	if (!strcmp(url, "/api/watch")) {
		const char *host = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "host");
		const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");

		if (!host || !name || !*name)
			return reply_text(conn, MHD_HTTP_BAD_REQUEST,
					  "400 bad request: host and name needed\n", false);
		r = web_watch_get(ctx, host, name, &w);
		if (r == -EINVAL)
			return reply_text(conn, MHD_HTTP_BAD_REQUEST,
					  "400 bad request: name too long\n", false);
		if (r < 0)
			return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "503 too many sessions viewed\n", false);
		return reply_sse(conn, ctx, w);
	}
	if (!strcmp(url, "/"))
		url = "/index.html";
	for (size_t i = 0; i < web_assets_count; i++)
		if (!strcmp(url, web_assets[i].path))
			return reply_asset(conn, ctx, &web_assets[i], set_cookie);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "404 not found\n", false);
}

/*
 * libmicrohttpd's own messages (a connection refused at MAX_CONNS, a
 * thread that could not be created, ...) as warnings, at most one a second
 * (a burst of refused connections makes one line, not hundreds).
 */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last_ms = -1000;
	static unsigned skipped;
	char msg[512];
	size_t n;
	int64_t now = web_now_ms();

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	pthread_mutex_lock(&lock);
	if (now - last_ms >= 1000) {
		if (skipped)
			log_warning("HTTP: %s (%u more message(s) not shown since the last)", msg,
				    skipped);
		else
			log_warning("HTTP: %s", msg);
		last_ms = now;
		skipped = 0;
	} else {
		skipped++;
	}
	pthread_mutex_unlock(&lock);
}

struct MHD_Daemon *web_http_start(struct web_ctx *ctx, int listen_fd)
{
	return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_POLL | MHD_USE_ERROR_LOG,
				0, NULL, NULL, handle, ctx, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
				NULL, MHD_OPTION_LISTEN_SOCKET, listen_fd,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
}
