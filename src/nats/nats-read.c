/* SPDX-License-Identifier: MIT */
/*
 * Reading relay sessions back from NATS JetStream: URLs, connection, the
 * list of ctflive streams, and the ordered reader of one relay session
 * (nats-read.h). The subjects, headers and payloads are the contract of
 * doc/nats.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "ctf-index.h"
#include "grow.h"
#include "log.h"
#include "nats-conn.h"
#include "nats-names.h"
#include "nats-read.h"

#define MAX_JOINED ((UINT64_C(1) << 32) + CL_INDEX_ENTRY_SIZE_MAX) /* bytes */

bool cl_nats_is_url(const char *s)
{
	return s && !strncmp(s, "nats://", 7);
}

void cl_nats_url_free(struct cl_nats_url *u)
{
	for (int i = 0; i < u->n_servers; i++)
		free(u->owned[i]);
	free(u->buf);
	free(u->host);
	free(u->session);
	memset(u, 0, sizeof(*u));
}

int cl_nats_url_parse(const char *s, struct cl_nats_url *u, const char **why)
{
	const char *p = s + 7, *slash = NULL;
	char *save = NULL;

	memset(u, 0, sizeof(*u));
	if (!cl_nats_is_url(s)) {
		*why = "expecting nats://";
		return -EINVAL;
	}
	/* The path starts at the first '/' that is not in a later "nats://". */
	for (const char *q = p; *q && !slash; q++) {
		if (*q == ',' && !strncmp(q + 1, "nats://", 7))
			q += 7;
		else if (*q == '/')
			slash = q;
	}
	u->buf = strndup(p, slash ? (size_t)(slash - p) : strlen(p));
	if (!u->buf)
		return -ENOMEM;
	for (char *t = strtok_r(u->buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *url;

		if (u->n_servers == CL_NATS_MAX_SERVERS) {
			*why = "too many servers";
			return -EINVAL;
		}
		if (!strncmp(t, "nats://", 7))
			t += 7;
		if (asprintf(&url, "nats://%s", t) < 0)
			return -ENOMEM;
		u->owned[u->n_servers] = url;
		u->servers[u->n_servers++] = url;
	}
	if (!u->n_servers) {
		*why = "no server";
		return -EINVAL;
	}
	if (!slash || !slash[1])
		return 0;
	if (strncmp(slash, "/host/", 6)) {
		*why = "expecting /host/HOSTNAME/SESSION after the servers";
		return -EINVAL;
	}
	p = slash + 6;
	slash = strchr(p, '/');
	if (!slash || slash == p || !slash[1] || strchr(slash + 1, '/')) {
		*why = "expecting /host/HOSTNAME/SESSION after the servers";
		return -EINVAL;
	}
	u->host = strndup(p, (size_t)(slash - p));
	u->session = strdup(slash + 1);
	return u->host && u->session ? 0 : -ENOMEM;
}

/* A reader's connection lost and back (libnats's callback thread): said
 * once each, so that a view that prints nothing says why. */
static char g_reader_where[512];
static atomic_bool g_reader_down;

static void reader_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	if (!atomic_exchange(&g_reader_down, true))
		log_warning("NATS: connection to %s lost, reconnecting", g_reader_where);
}

static void reader_reconnected(natsConnection *nc, void *closure)
{
	char url[256] = "", where[256];

	(void)closure;
	if (!atomic_exchange(&g_reader_down, false))
		return;
	if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) == NATS_OK && url[0])
		log_notice("NATS: reconnected to %s",
			   cl_nats_url_redact(url, where, sizeof(where)));
	else
		log_notice("NATS: reconnected");
}

int cl_nats_connect(const struct cl_nats_url *u, const struct cl_nats_conn_opts *co,
		    const char *name, int timeout_ms, bool reconnect_forever, natsConnection **nc,
		    jsCtx **js)
{
	char where[512];
	const char *srv[CL_NATS_MAX_SERVERS];
	natsOptions *o = NULL;
	jsOptions jo;
	natsStatus s = natsOptions_Create(&o);

	for (int i = 0; i < u->n_servers; i++)
		srv[i] = u->servers[i];
	*nc = NULL;
	*js = NULL;
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, srv, u->n_servers);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, timeout_ms);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, name);
	if (s == NATS_OK && reconnect_forever)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK && reconnect_forever)
		s = natsOptions_SetReconnectWait(o, 250);
	if (s == NATS_OK && reconnect_forever) {
		(void)cl_nats_url_redact(u->servers[0], g_reader_where, sizeof(g_reader_where));
		s = natsOptions_SetDisconnectedCB(o, reader_disconnected, NULL);
	}
	if (s == NATS_OK && reconnect_forever)
		s = natsOptions_SetReconnectedCB(o, reader_reconnected, NULL);
	if (s == NATS_OK)
		s = cl_nats_conn_apply(o, co);
	if (s == NATS_OK)
		s = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	if (s == NATS_OK) {
		jsOptions_Init(&jo);
		jo.Wait = timeout_ms;
		s = natsConnection_JetStream(js, *nc, &jo);
	}
	if (s != NATS_OK) {
		log_error("cannot connect to NATS at %s: %s",
			  cl_nats_url_redact(u->servers[0], where, sizeof(where)),
			  cl_nats_conn_error(*nc, s));
		natsConnection_Destroy(*nc);
		*nc = NULL;
		return -ECONNREFUSED;
	}
	return 0;
}

int cl_nats_desc_parse(const jsStreamInfo *si, struct cl_nats_desc *d)
{
	const char *ds;

	memset(d, 0, sizeof(*d));
	if (!si->Config || !si->Config->Name || strncmp(si->Config->Name, "CTFLIVE_", 8) ||
	    !(ds = si->Config->Description) ||
	    strncmp(ds, CL_NATS_DESC_PREFIX, strlen(CL_NATS_DESC_PREFIX)))
		return -ENOENT;
	d->prefix = ds + strlen(CL_NATS_DESC_PREFIX);
	return cl_nats_prefix_parse(d->prefix, d->host, d->session, d->relay, sizeof(d->host),
				    &d->session_id);
}

void cl_nats_slist_free(struct cl_nats_slist *l)
{
	for (size_t i = 0; i < l->n; i++)
		jsStreamInfo_Destroy(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * Lists the names (the meta leader answers alone), then asks each stream of
 * ctflive for its information (its own leader answers): listing every
 * stream's information at once needs every server, and gives partial
 * results while one is down. A cluster that just lost a leader answers once
 * it elected another: timeouts are retried.
 */
bool cl_nats_js_again(natsStatus s, jsErrCode jerr, int attempt)
{
	if (attempt + 1 >= CL_NATS_ELECTION_TRIES || s == NATS_OK)
		return false;
	if (s == NATS_TIMEOUT)
		return true;
	if (s != NATS_NO_RESPONDERS && jerr != JSClusterNotAvailErr)
		return false;
	usleep(250 * 1000);
	return true;
}

int cl_nats_list_streams(jsCtx *js, struct cl_nats_slist *l)
{
	jsStreamNamesList *names = NULL;
	jsErrCode jerr = 0;
	natsStatus s = NATS_TIMEOUT;
	int r = 0;

	memset(l, 0, sizeof(*l));
	for (int i = 0;; i++) {
		jerr = 0;
		s = js_StreamNames(&names, js, NULL, &jerr);
		if (!cl_nats_js_again(s, jerr, i))
			break;
	}
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK) {
		log_error("cannot list JetStream streams: %s", natsStatus_GetText(s));
		return -EIO;
	}
	for (int i = 0; i < names->Count && r == 0; i++) {
		jsStreamInfo *si = NULL;

		if (strncmp(names->List[i], "CTFLIVE_", 8))
			continue;
		for (int k = 0;; k++) {
			jerr = 0;
			s = js_GetStreamInfo(&si, js, names->List[i], NULL, &jerr);
			if (!cl_nats_js_again(s, jerr, k))
				break;
		}
		if (s == NATS_NOT_FOUND)
			continue; /* deleted meanwhile */
		if (s != NATS_OK) {
			log_error("cannot get JetStream stream %s: %s", names->List[i],
				  natsStatus_GetText(s));
			r = -EIO;
			break;
		}
		r = cl_grow(&l->v, &l->cap, l->n + 1);
		if (r < 0)
			jsStreamInfo_Destroy(si);
		else
			l->v[l->n++] = si;
	}
	jsStreamNamesList_Destroy(names);
	if (r < 0)
		cl_nats_slist_free(l);
	return r;
}

/* A JSON object from `len` bytes (not NUL-terminated), or NULL. */
static struct json_object *parse_json(const char *data, int len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, data, len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

const char *cl_nats_session_state(jsCtx *js, const char *name, const char *prefix)
{
	char subject[CL_NATS_PREFIX_MAX + 8];
	const char *state = "live";
	struct json_object *o, *v;
	natsMsg *m = NULL;
	jsErrCode jerr = 0;

	(void)snprintf(subject, sizeof(subject), "%s.ctl", prefix);
	if (js_GetLastMsg(&m, js, name, subject, NULL, &jerr) != NATS_OK)
		return "unknown";
	o = parse_json(natsMsg_GetData(m), natsMsg_GetDataLength(m));
	if (o && json_object_object_get_ex(o, "type", &v) &&
	    !strcmp(json_object_get_string(v), "end")) {
		state = json_object_object_get_ex(o, "interrupted", &v) &&
					json_object_get_boolean(v)
				? "interrupted"
				: "ended";
	}
	json_object_put(o);
	natsMsg_Destroy(m);
	return state;
}

uint64_t cl_nats_msg_stream_seq(natsMsg *m)
{
	jsMsgMetaData *md = NULL;
	uint64_t seq = 0;

	if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
		seq = md->Sequence.Stream;
		jsMsgMetaData_Destroy(md);
	}
	return seq;
}

uint64_t cl_nats_msg_pending(natsMsg *m)
{
	jsMsgMetaData *md = NULL;
	uint64_t n = UINT64_MAX;

	if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
		n = md->NumPending;
		jsMsgMetaData_Destroy(md);
	}
	return n;
}

/* ---- the ordered reader of one relay session ---- */

struct rstream {
	uint64_t handle;
	bool metadata;
	uint32_t esz;    /* index entry size */
	bool got_packet; /* a packet (or lost-packet entry) was applied */
	/* a message in parts: parts 1 to next_part - 1 of n_parts of Ctflive-Seq
	 * parts_seq are joined (n_parts 0: none) */
	uint8_t *parts;
	size_t parts_len, parts_cap;
	unsigned next_part, n_parts;
	uint64_t parts_seq;
	uint64_t lost_seq; /* the last message in parts given up as incomplete */
};

/* A message that arrived before its turn (a publication the relay retried). */
struct held {
	uint64_t seq;
	unsigned part, n;
	uint64_t js_seq;
	natsMsg *m; /* owned */
};

struct cl_nats_reader {
	char *prefix; /* owned */
	const struct cl_nats_read_ops *ops;
	void *ctx;
	struct rstream *streams;
	size_t n, cap;
	uint64_t next_seq;  /* Ctflive-Seq of the next message to apply */
	unsigned next_part; /* and its part (1 for a whole message) */
	struct held *held;  /* owned: messages that came before their turn, by key */
	size_t n_held, cap_held;
	uint64_t js_next; /* JetStream sequence after the last message delivered */
	struct cl_nats_read_stats stats;
	bool ended;
};

static struct rstream *rstream_find(struct cl_nats_reader *rs, uint64_t handle)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->streams[i].handle == handle)
			return &rs->streams[i];
	return NULL;
}

/* A relative path whose components are neither empty, "." nor "..". */
static bool safe_relpath(const char *p)
{
	if (!*p || *p == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

static int ctl_stream(struct cl_nats_reader *rs, struct json_object *o)
{
	struct cl_nats_stream_info si = { 0 };
	struct json_object *v;
	struct rstream *st;
	uint64_t esz = 0;
	int r;

	if (!json_object_object_get_ex(o, "handle", &v))
		return -EBADMSG;
	si.handle = (uint64_t)json_object_get_uint64(v);
	if (!json_object_object_get_ex(o, "path", &v) || !(si.path = json_object_get_string(v)) ||
	    !json_object_object_get_ex(o, "channel", &v) ||
	    !(si.channel = json_object_get_string(v)) ||
	    !json_object_object_get_ex(o, "metadata", &v))
		return -EBADMSG;
	si.metadata = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "index_entry_size", &v))
		esz = (uint64_t)json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "trace_id", &v))
		si.trace_id = (uint64_t)json_object_get_uint64(v);
	if (!safe_relpath(si.path) || strlen(si.path) > 4000 || !*si.channel ||
	    strlen(si.channel) > 255 || strchr(si.channel, '/') || !strcmp(si.channel, ".") ||
	    !strcmp(si.channel, "..") || !strcmp(si.channel, "index") ||
	    (!si.metadata && esz != CL_INDEX_ENTRY_SIZE_1_0 && esz != CL_INDEX_ENTRY_SIZE_1_1))
		return -EBADMSG;
	si.index_entry_size = si.metadata ? 0 : (uint32_t)esz;
	if (rstream_find(rs, si.handle))
		return 0;
	r = cl_grow(&rs->streams, &rs->cap, rs->n + 1);
	if (r < 0)
		return r;
	st = &rs->streams[rs->n++];
	memset(st, 0, sizeof(*st));
	st->handle = si.handle;
	st->metadata = si.metadata;
	st->esz = si.index_entry_size;
	return rs->ops->stream ? rs->ops->stream(rs->ctx, &si) : 0;
}

static int ctl_session(struct cl_nats_reader *rs, struct json_object *o)
{
	struct cl_nats_session_info si = { 0 };
	struct json_object *v;

	if (json_object_object_get_ex(o, "host", &v))
		si.host = json_object_get_string(v);
	if (json_object_object_get_ex(o, "session", &v))
		si.session = json_object_get_string(v);
	if (json_object_object_get_ex(o, "relay", &v))
		si.relay = json_object_get_string(v);
	if (json_object_object_get_ex(o, "output_path", &v))
		si.output_path = json_object_get_string(v);
	if (json_object_object_get_ex(o, "session_id", &v))
		si.session_id = (uint64_t)json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "live_timer_us", &v))
		si.live_timer_us = (uint32_t)json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "trace_format", &v))
		si.ctf2 = !strcmp(json_object_get_string(v), "CTF 2");
	if (!si.host || !si.session)
		return -EBADMSG;
	return rs->ops->session ? rs->ops->session(rs->ctx, &si) : 0;
}

static int on_ctl(struct cl_nats_reader *rs, const char *data, int len)
{
	struct json_object *o = parse_json(data, len);
	struct json_object *v;
	const char *type;
	int r = 0;

	if (!o)
		return -EBADMSG;
	if (!json_object_object_get_ex(o, "type", &v) || !(type = json_object_get_string(v))) {
		json_object_put(o);
		return -EBADMSG;
	}
	if (!strcmp(type, "session")) {
		r = ctl_session(rs, o);
	} else if (!strcmp(type, "stream")) {
		r = ctl_stream(rs, o);
	} else if (!strcmp(type, "close")) {
		if (!json_object_object_get_ex(o, "handle", &v))
			r = -EBADMSG;
		else if (rs->ops->close)
			r = rs->ops->close(rs->ctx, (uint64_t)json_object_get_uint64(v));
	} else if (!strcmp(type, "hangup")) {
		if (rs->ops->hangup)
			r = rs->ops->hangup(rs->ctx);
	} else if (!strcmp(type, "dropped")) {
		if (json_object_object_get_ex(o, "messages", &v))
			rs->stats.dropped = (uint64_t)json_object_get_uint64(v);
	} else if (!strcmp(type, "end")) {
		rs->ended = true;
		rs->stats.interrupted = json_object_object_get_ex(o, "interrupted", &v) &&
					json_object_get_boolean(v);
		if (rs->ops->end)
			r = rs->ops->end(rs->ctx, rs->stats.interrupted);
	}
	/* other types: a later version's, ignored */
	json_object_put(o);
	return r;
}

/* A whole data message: index entry, then the packet. */
static int on_packet(struct cl_nats_reader *rs, struct rstream *st, const uint8_t *d, size_t len)
{
	struct cl_rbuf rb = cl_rbuf_make(d, len);
	struct cl_index_entry ie;
	uint64_t plen = 0;
	int r;

	if (st->metadata || len < st->esz)
		return -EBADMSG;
	r = cl_index_entry_decode(&rb, st->esz, &ie);
	if (r < 0)
		return r;
	if (!cl_index_entry_is_lost(&ie)) {
		plen = ie.packet_size / 8;
		if (ie.packet_size % 8 || plen == 0 || plen != len - st->esz)
			return -EBADMSG;
	} else if (len != st->esz) {
		return -EBADMSG;
	}
	/* The first packet after what retention dropped: its packet_seq_num
	 * (from 0, index 1.1) counts the stream's packets before it. */
	if (!st->got_packet && rs->stats.expired && ie.packet_seq_num != UINT64_MAX &&
	    ie.packet_seq_num > 0 && rs->ops->expired)
		rs->ops->expired(rs->ctx, st->handle, ie.packet_seq_num);
	st->got_packet = true;
	return rs->ops->packet
		       ? rs->ops->packet(rs->ctx, st->handle, d, st->esz, d + st->esz, (size_t)plen)
		       : 0;
}

/*
 * Message `seq` of `st`, in `n` parts, lacks some: dropped whole, counted
 * once (stats.incomplete, also in stats.bad), and reported.
 */
static void parts_lost(struct cl_nats_reader *rs, struct rstream *st, uint64_t seq, unsigned n)
{
	if (st->lost_seq == seq)
		return;
	st->lost_seq = seq;
	rs->stats.incomplete++;
	rs->stats.bad++;
	if (rs->ops->incomplete)
		rs->ops->incomplete(rs->ctx, st->handle, seq, n);
}

/* Drops the message in parts that `st` was joining, as incomplete. */
static void parts_abandon(struct cl_nats_reader *rs, struct rstream *st)
{
	if (!st->n_parts)
		return;
	parts_lost(rs, st, st->parts_seq, st->n_parts);
	st->n_parts = 0;
	st->parts_len = 0;
}

/*
 * The reader moved on to Ctflive-Seq `seq` (what came before was given up,
 * or is gone): a message in parts before it gets no more parts.
 */
static void parts_abandon_below(struct cl_nats_reader *rs, uint64_t seq)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->streams[i].n_parts && rs->streams[i].parts_seq < seq)
			parts_abandon(rs, &rs->streams[i]);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end ? -EBADMSG : 0;
}

/*
 * A data or metadata message (Ctflive-Seq `seq`), whole or in parts: parts
 * K/N of one message are consecutive messages of its subject, with the same
 * headers (Ctflive-Seq included) but the part. Parts are joined only from
 * part 1 to part N of one Ctflive-Seq: a message that lacks some (retention
 * dropped its first parts, or they were given up) is dropped whole, never
 * joined with another message's parts.
 */
static int on_stream_msg(struct cl_nats_reader *rs, struct rstream *st, natsMsg *m, uint64_t seq,
			 bool meta)
{
	const char *part = NULL, *off_s = NULL, *epoch_s = NULL;
	const uint8_t *d = (const uint8_t *)natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m);
	uint64_t off = 0, epoch = 0;
	unsigned k, n;
	int r;

	if (meta) {
		if (natsMsgHeader_Get(m, CL_NATS_H_OFFSET, &off_s) != NATS_OK ||
		    natsMsgHeader_Get(m, CL_NATS_H_EPOCH, &epoch_s) != NATS_OK ||
		    parse_u64(off_s, &off) < 0 || parse_u64(epoch_s, &epoch) < 0)
			return -EBADMSG;
	}
	if (natsMsgHeader_Get(m, CL_NATS_H_PART, &part) == NATS_OK) {
		if (sscanf(part, "%u/%u", &k, &n) != 2 || k < 1 || k > n || n > (1u << 20))
			return -EBADMSG;
		if (k == 1) {
			parts_abandon(rs, st); /* an unfinished message before this one */
			st->parts_len = 0;
			st->n_parts = n;
			st->next_part = 1;
			st->parts_seq = seq;
		}
		if (!st->n_parts || seq != st->parts_seq || k != st->next_part ||
		    n != st->n_parts) {
			/* A part is missing: the message being joined (if
			 * another) lacks its last parts, this one its first. */
			parts_abandon(rs, st);
			parts_lost(rs, st, seq, n);
			return 0;
		}
		/* The largest message: an index entry and a packet (4 GiB at most). */
		if (st->parts_len + len > MAX_JOINED) {
			st->n_parts = 0;
			st->parts_len = 0;
			return -EMSGSIZE;
		}
		r = cl_grow(&st->parts, &st->parts_cap, st->parts_len + len);
		if (r < 0)
			return r;
		if (len)
			memcpy(st->parts + st->parts_len, d, len);
		st->parts_len += len;
		st->next_part++;
		if (k < n)
			return 0;
		st->n_parts = 0;
		d = st->parts;
		len = st->parts_len;
	} else {
		parts_abandon(rs, st); /* an unfinished message before this one */
	}
	if (meta) {
		if (!st->metadata)
			return -EBADMSG;
		if (off > (UINT64_C(1) << 30) || len > (UINT64_C(1) << 30))
			return -EMSGSIZE;
		return rs->ops->metadata
			       ? rs->ops->metadata(rs->ctx, st->handle, d, len, off, epoch)
			       : 0;
	}
	return on_packet(rs, st, d, len);
}

static int on_msg(struct cl_nats_reader *rs, natsMsg *m, uint64_t seq)
{
	const char *subj = natsMsg_GetSubject(m), *rest, *ts = NULL;
	size_t pl = strlen(rs->prefix);
	struct rstream *st;
	uint64_t handle, v;
	char *end;

	if (strncmp(subj, rs->prefix, pl) || subj[pl] != '.')
		return -EBADMSG;
	rest = subj + pl + 1;
	if (!strcmp(rest, "ctl"))
		return on_ctl(rs, natsMsg_GetData(m), natsMsg_GetDataLength(m));
	if (strncmp(rest, "data.", 5) && strncmp(rest, "meta.", 5) && strncmp(rest, "beacon.", 7))
		return 0; /* a later version's subject: ignored */
	errno = 0;
	handle = strtoull(rest + (rest[0] == 'b' ? 7 : 5), &end, 10);
	if (errno || *end || !(st = rstream_find(rs, handle)))
		return -EBADMSG;
	if (rest[0] == 'b') {
		if (st->metadata || natsMsgHeader_Get(m, CL_NATS_H_TS_END, &ts) != NATS_OK ||
		    parse_u64(ts, &v) < 0)
			return -EBADMSG;
		return rs->ops->beacon ? rs->ops->beacon(rs->ctx, handle, v) : 0;
	}
	return on_stream_msg(rs, st, m, seq, rest[0] == 'm');
}

/* The order of `m`: Ctflive-Seq, then part K of N (1/1 for a whole message). */
static int msg_key(natsMsg *m, struct held *k)
{
	const char *v = NULL;

	k->m = m;
	k->seq = 0;
	k->part = k->n = 1;
	if (natsMsgHeader_Get(m, CL_NATS_H_SEQ, &v) != NATS_OK || parse_u64(v, &k->seq) < 0 ||
	    k->seq == 0) {
		k->seq = 0;
		return -EBADMSG;
	}
	if (natsMsgHeader_Get(m, CL_NATS_H_PART, &v) == NATS_OK &&
	    (sscanf(v, "%u/%u", &k->part, &k->n) != 2 || k->part < 1 || k->part > k->n))
		return -EBADMSG;
	return 0;
}

static int key_cmp(const struct held *a, uint64_t seq, unsigned part)
{
	if (a->seq != seq)
		return a->seq < seq ? -1 : 1;
	return a->part < part ? -1 : a->part > part ? 1 : 0;
}

/* Applies the held messages whose turn it is, in order. */
static void drain(struct cl_nats_reader *rs)
{
	size_t i = 0;

	while (i < rs->n_held && !key_cmp(&rs->held[i], rs->next_seq, rs->next_part)) {
		struct held *h = &rs->held[i++];

		if (!rs->ended && on_msg(rs, h->m, h->seq) < 0)
			rs->stats.bad++;
		natsMsg_Destroy(h->m);
		if (h->part < h->n) {
			rs->next_part++;
		} else {
			rs->next_seq++;
			rs->next_part = 1;
		}
	}
	memmove(rs->held, rs->held + i, (rs->n_held - i) * sizeof(*rs->held));
	rs->n_held -= i;
}

void cl_nats_reader_deliver(struct cl_nats_reader *rs, natsMsg *m, uint64_t js_seq)
{
	struct held k;
	size_t lo = 0, hi;

	if (js_seq >= rs->js_next)
		rs->js_next = js_seq + 1;
	if (msg_key(m, &k) < 0 || key_cmp(&k, rs->next_seq, rs->next_part) < 0) {
		if (k.seq == 0)
			rs->stats.bad++;
		natsMsg_Destroy(m);
		return;
	}
	k.js_seq = js_seq;
	hi = rs->n_held;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(&rs->held[mid], k.seq, k.part) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if ((lo < rs->n_held && !key_cmp(&rs->held[lo], k.seq, k.part)) ||
	    cl_grow(&rs->held, &rs->cap_held, rs->n_held + 1) < 0) {
		natsMsg_Destroy(m); /* a duplicate (or out of memory: counted as missing) */
		return;
	}
	memmove(rs->held + lo + 1, rs->held + lo, (rs->n_held - lo) * sizeof(*rs->held));
	rs->held[lo] = k;
	rs->n_held++;
	drain(rs);
	if (rs->n_held > CL_NATS_MAX_HELD)
		cl_nats_reader_skip_gap(rs);
}

void cl_nats_reader_skip_gap(struct cl_nats_reader *rs)
{
	uint64_t n = 0;

	if (!rs->n_held)
		return;
	if (rs->held[0].seq > rs->next_seq)
		n = rs->held[0].seq - rs->next_seq;
	rs->stats.missing += n;
	rs->next_seq = rs->held[0].seq;
	rs->next_part = rs->held[0].part;
	/* A message in parts lacking its last parts is dropped now; one lacking
	 * its first parts when its next part is applied (on_stream_msg()). */
	parts_abandon_below(rs, rs->next_seq);
	if (n && rs->ops->gap)
		rs->ops->gap(rs->ctx, n);
	drain(rs);
}

void cl_nats_reader_expired_below(struct cl_nats_reader *rs, uint64_t seq)
{
	while (rs->next_seq < seq) {
		bool at_held = rs->n_held && rs->held[0].seq < seq;
		uint64_t to = at_held ? rs->held[0].seq : seq;
		uint64_t n = to - rs->next_seq;

		if (!n) {
			/* A message in parts lacks its first parts. */
			cl_nats_reader_skip_gap(rs);
			continue;
		}
		rs->stats.missing += n;
		rs->stats.expired += n;
		rs->next_seq = to;
		rs->next_part = 1;
		parts_abandon_below(rs, to);
		if (rs->ops->gap)
			rs->ops->gap(rs->ctx, n);
		drain(rs);
	}
}

uint64_t cl_nats_msg_ctflive_seq(natsMsg *m, unsigned *part)
{
	struct held k;

	*part = 1;
	if (msg_key(m, &k) < 0)
		return 0;
	*part = k.part;
	return k.seq;
}

struct cl_nats_reader *cl_nats_reader_new(const char *prefix, const struct cl_nats_read_ops *ops,
					  void *ctx)
{
	struct cl_nats_reader *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->prefix = strdup(prefix);
	if (!rs->prefix) {
		free(rs);
		return NULL;
	}
	rs->ops = ops;
	rs->ctx = ctx;
	rs->next_seq = 1;
	rs->next_part = 1;
	rs->js_next = 1;
	return rs;
}

void cl_nats_reader_free(struct cl_nats_reader *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n_held; i++)
		natsMsg_Destroy(rs->held[i].m);
	free(rs->held);
	for (size_t i = 0; i < rs->n; i++)
		free(rs->streams[i].parts);
	free(rs->streams);
	free(rs->prefix);
	free(rs);
}

size_t cl_nats_reader_held(const struct cl_nats_reader *rs)
{
	return rs->n_held;
}

bool cl_nats_reader_ended(const struct cl_nats_reader *rs)
{
	return rs->ended;
}

uint64_t cl_nats_reader_resume_seq(const struct cl_nats_reader *rs)
{
	uint64_t s = rs->js_next;

	/* What is held is not applied yet: it must be delivered again. */
	for (size_t i = 0; i < rs->n_held; i++)
		if (rs->held[i].js_seq && rs->held[i].js_seq < s)
			s = rs->held[i].js_seq;
	/* Parts already joined stay with the reader: what comes again of a
	 * message in parts is dropped as a duplicate. */
	return s;
}

void cl_nats_reader_stats(const struct cl_nats_reader *rs, struct cl_nats_read_stats *st)
{
	*st = rs->stats;
}
