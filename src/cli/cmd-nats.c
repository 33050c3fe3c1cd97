/* SPDX-License-Identifier: MIT */
/*
 * ctflive view nats://SERVER[,SERVER...]/host/HOSTNAME/SESSION and
 * ctflive ls nats://SERVER[,SERVER...]: sessions that relays published to
 * NATS JetStream (`ctflive-relayd --publish`), read from JetStream directly
 * with an ordered consumer. The subjects, headers and payloads are the
 * contract of doc/nats.md.
 *
 * `view` rebuilds each relay session of HOSTNAME/SESSION as a trace
 * directory laid out as the relay's own (metadata, data files, their
 * index/NAME.idx with the same entries, offsets made local) in a temporary
 * directory, once the session has ended (or, with --timeout, once nothing
 * new arrived for that long), then prints it with the offline reader, so
 * the output is the same as `ctflive view` of the relay's directory. Not yet
 * incremental: nothing is printed before the session ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "cli.h"
#include "ctf-index.h"
#include "ctflive/iter.h"
#include "grow.h"
#include "io.h"
#include "log.h"
#include "nats-names.h"
#include "print-opts.h"

#define MAX_SERVERS    16
#define GAP_WAIT_MS    35000 /* a missing message is given up after this long */
/* JetStream requests that time out (Wait: 5 s) while a cluster elects a leader. */
#define ELECTION_TRIES 6
#define MAX_HELD       65536 /* messages held waiting for an earlier one */
#define MAX_JOINED     ((UINT64_C(1) << 32) + CL_INDEX_ENTRY_SIZE_MAX) /* bytes */

bool cl_cli_is_nats_url(const char *s)
{
	return s && !strncmp(s, "nats://", 7);
}

/* nats://A:P[,B:Q...][/host/HOST/SESSION]: the server URLs and the path. */
struct nats_url {
	char *buf;                        /* owned: the servers, NUL-separated */
	const char *servers[MAX_SERVERS]; /* borrowed from owned[] */
	char *owned[MAX_SERVERS];
	int n_servers;
	char *host, *session; /* owned, or NULL */
};

static void nats_url_free(struct nats_url *u)
{
	for (int i = 0; i < u->n_servers; i++)
		free(u->owned[i]);
	free(u->buf);
	free(u->host);
	free(u->session);
}

static int nats_url_parse(const char *s, struct nats_url *u, const char **why)
{
	const char *p = s + 7, *slash = NULL;
	char *save = NULL;

	/* The path starts at the first '/' that is not in a later "nats://". */
	for (const char *q = p; *q && !slash; q++) {
		if (*q == ',' && !strncmp(q + 1, "nats://", 7))
			q += 7;
		else if (*q == '/')
			slash = q;
	}
	memset(u, 0, sizeof(*u));
	u->buf = strndup(p, slash ? (size_t)(slash - p) : strlen(p));
	if (!u->buf)
		return -ENOMEM;
	for (char *t = strtok_r(u->buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *url;

		if (u->n_servers == MAX_SERVERS) {
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

static int connect_js(struct nats_url *u, int timeout_ms, natsConnection **nc, jsCtx **js)
{
	natsOptions *o = NULL;
	jsOptions jo;
	natsStatus s = natsOptions_Create(&o);

	if (s == NATS_OK)
		s = natsOptions_SetServers(o, u->servers, u->n_servers);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, timeout_ms);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "ctflive");
	if (s == NATS_OK)
		s = natsConnection_Connect(nc, o);
	natsOptions_Destroy(o);
	if (s == NATS_OK) {
		jsOptions_Init(&jo);
		jo.Wait = timeout_ms;
		s = natsConnection_JetStream(js, *nc, &jo);
	}
	if (s != NATS_OK) {
		log_error("cannot connect to NATS at %s: %s", u->servers[0], natsStatus_GetText(s));
		return -ECONNREFUSED;
	}
	return 0;
}

/* What a stream's description says (doc/nats.md). */
struct desc {
	char host[256], session[256], relay[256];
	const char *prefix; /* borrowed from the stream info */
	uint64_t session_id;
};

static int desc_parse(const jsStreamInfo *si, struct desc *d)
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

/* ---- rebuilding one relay session as a trace directory ---- */

struct rstream {
	uint64_t handle;
	bool metadata;
	uint32_t esz; /* index entry size */
	int data_fd, index_fd;
	uint64_t data_size;
	uint64_t meta_epoch;
	/* a packet in parts */
	uint8_t *parts;
	size_t parts_len, parts_cap;
	unsigned next_part, n_parts;
};

/* A message that arrived before its turn (a publication the relay retried). */
struct held {
	uint64_t seq;
	unsigned part, n;
	natsMsg *m; /* owned */
};

struct rsess {
	int dir_fd;
	struct rstream *streams;
	size_t n, cap;
	uint64_t next_seq;  /* Ctflive-Seq of the next message to apply */
	unsigned next_part; /* and its part (1 for a whole message) */
	struct held *held;  /* owned: messages that came before their turn, by key */
	size_t n_held, cap_held;
	uint64_t missing; /* messages never found (gaps in Ctflive-Seq) */
	uint64_t dropped; /* messages the relay dropped (its "dropped" messages) */
	uint64_t bad;     /* messages that could not be used */
	bool ended, interrupted;
};

static struct rstream *rstream_find(struct rsess *rs, uint64_t handle)
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

static int ctl_stream(struct rsess *rs, struct json_object *o)
{
	struct json_object *v;
	const char *path, *channel;
	char rel[4096];
	struct rstream *st;
	uint64_t handle, esz = 0;
	bool metadata;
	int r;

	if (!json_object_object_get_ex(o, "handle", &v))
		return -EBADMSG;
	handle = (uint64_t)json_object_get_uint64(v);
	if (!json_object_object_get_ex(o, "path", &v) || !(path = json_object_get_string(v)) ||
	    !json_object_object_get_ex(o, "channel", &v) ||
	    !(channel = json_object_get_string(v)) || !json_object_object_get_ex(o, "metadata", &v))
		return -EBADMSG;
	metadata = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "index_entry_size", &v))
		esz = (uint64_t)json_object_get_uint64(v);
	if (!safe_relpath(path) || !*channel || strchr(channel, '/') || !strcmp(channel, ".") ||
	    !strcmp(channel, "..") || !strcmp(channel, "index") ||
	    (!metadata && esz != CL_INDEX_ENTRY_SIZE_1_0 && esz != CL_INDEX_ENTRY_SIZE_1_1))
		return -EBADMSG;
	if (rstream_find(rs, handle))
		return 0;
	r = cl_grow(&rs->streams, &rs->cap, rs->n + 1);
	if (r < 0)
		return r;
	st = &rs->streams[rs->n];
	memset(st, 0, sizeof(*st));
	st->handle = handle;
	st->metadata = metadata;
	st->esz = (uint32_t)esz;
	st->data_fd = st->index_fd = -1;
	r = mkdirs(rs->dir_fd, path);
	if (r < 0)
		return r;
	if (snprintf(rel, sizeof(rel), "%s/%s", path, metadata ? "metadata" : channel) >=
	    (int)sizeof(rel))
		return -ENAMETOOLONG;
	st->data_fd = openat(rs->dir_fd, rel, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (st->data_fd < 0)
		return -errno;
	rs->n++;
	if (!metadata) {
		uint8_t hdr[CL_INDEX_HEADER_SIZE];
		struct cl_wbuf wb = cl_wbuf_make(hdr, sizeof(hdr));

		if (snprintf(rel, sizeof(rel), "%s/index", path) >= (int)sizeof(rel))
			return -ENAMETOOLONG;
		r = mkdirs(rs->dir_fd, rel);
		if (r < 0)
			return r;
		if (snprintf(rel, sizeof(rel), "%s/index/%s.idx", path, channel) >=
		    (int)sizeof(rel))
			return -ENAMETOOLONG;
		st->index_fd =
			openat(rs->dir_fd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (st->index_fd < 0)
			return -errno;
		r = cl_index_header_encode(&wb, esz == CL_INDEX_ENTRY_SIZE_1_1
							? CL_INDEX_MINOR_1_1
							: CL_INDEX_MINOR_1_0);
		if (r < 0 || cl_write_full(st->index_fd, hdr, sizeof(hdr)) < 0)
			return r < 0 ? r : -EIO;
	}
	return 0;
}

static int on_ctl(struct rsess *rs, const char *data, int len)
{
	struct json_object *o = parse_json(data, len);
	struct json_object *v;
	const char *type;
	int r = 0;

	if (!o)
		return -EBADMSG;
	if (!json_object_object_get_ex(o, "type", &v) || !(type = json_object_get_string(v))) {
		json_object_put(o);
		return 0; /* the first message of a session describes it: no type */
	}
	if (!strcmp(type, "stream")) {
		r = ctl_stream(rs, o);
	} else if (!strcmp(type, "dropped")) {
		if (json_object_object_get_ex(o, "messages", &v))
			rs->dropped = (uint64_t)json_object_get_uint64(v);
	} else if (!strcmp(type, "end")) {
		rs->ended = true;
		rs->interrupted = json_object_object_get_ex(o, "interrupted", &v) &&
				  json_object_get_boolean(v);
	}
	json_object_put(o);
	return r;
}

/* A whole data message: index entry, then the packet. */
static int on_packet(struct rstream *st, const uint8_t *d, size_t len)
{
	uint8_t entry[CL_INDEX_ENTRY_SIZE_MAX];
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
		if (ie.packet_size % 8 || plen != len - st->esz)
			return -EBADMSG;
	} else if (len != st->esz) {
		return -EBADMSG;
	}
	memcpy(entry, d, st->esz);
	if (plen) {
		/* The entry's offset, made local: where the packet goes in our file. */
		for (int i = 0; i < 8; i++)
			entry[CL_INDEX_OFF_OFFSET + i] = (uint8_t)(st->data_size >> (56 - 8 * i));
		if (cl_write_full(st->data_fd, d + st->esz, plen) < 0)
			return -EIO;
		st->data_size += plen;
	}
	return cl_write_full(st->index_fd, entry, st->esz) < 0 ? -EIO : 0;
}

/* A whole metadata message: `len` bytes at offset `off` of generation `epoch`. */
static int on_metadata(struct rstream *st, const uint8_t *d, size_t len, uint64_t off,
		       uint64_t epoch)
{
	if (!st->metadata)
		return -EBADMSG;
	if (epoch != st->meta_epoch) {
		/* The metadata was regenerated: the new copy replaces the old. */
		st->meta_epoch = epoch;
		if (ftruncate(st->data_fd, 0) < 0)
			return -errno;
	}
	if (off > (UINT64_C(1) << 30) || len > (UINT64_C(1) << 30) ||
	    pwrite(st->data_fd, d, len, (off_t)off) != (ssize_t)len)
		return -EIO;
	return 0;
}

/*
 * A data or metadata message, whole or in parts: parts K/N of one message are
 * consecutive messages of its subject, with the same headers but the part.
 */
static int on_stream_msg(struct rsess *rs, struct rstream *st, natsMsg *m, bool meta)
{
	const char *part = NULL, *off_s = NULL, *epoch_s = NULL;
	const uint8_t *d = (const uint8_t *)natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m);
	uint64_t off = 0, epoch = 0;
	unsigned k, n;
	int r;

	if (meta) {
		if (natsMsgHeader_Get(m, CL_NATS_H_OFFSET, &off_s) != NATS_OK ||
		    natsMsgHeader_Get(m, CL_NATS_H_EPOCH, &epoch_s) != NATS_OK)
			return -EBADMSG;
		off = strtoull(off_s, NULL, 10);
		epoch = strtoull(epoch_s, NULL, 10);
	}
	if (natsMsgHeader_Get(m, CL_NATS_H_PART, &part) == NATS_OK) {
		if (sscanf(part, "%u/%u", &k, &n) != 2 || k < 1 || k > n || n > (1u << 20))
			return -EBADMSG;
		if (k == 1) {
			if (st->n_parts)
				rs->bad++; /* an unfinished message before this one */
			st->parts_len = 0;
			st->n_parts = n;
			st->next_part = 1;
		}
		if (!st->n_parts || k != st->next_part || n != st->n_parts) {
			st->n_parts = 0;
			return -EBADMSG;
		}
		/* The largest message: an index entry and a packet (4 GiB at most). */
		if (st->parts_len + len > MAX_JOINED) {
			st->n_parts = 0;
			return -EMSGSIZE;
		}
		r = cl_grow(&st->parts, &st->parts_cap, st->parts_len + len);
		if (r < 0)
			return r;
		memcpy(st->parts + st->parts_len, d, len);
		st->parts_len += len;
		st->next_part++;
		if (k < n)
			return 0;
		st->n_parts = 0;
		d = st->parts;
		len = st->parts_len;
	}
	return meta ? on_metadata(st, d, len, off, epoch) : on_packet(st, d, len);
}

static int on_msg(struct rsess *rs, const char *prefix, natsMsg *m)
{
	const char *subj = natsMsg_GetSubject(m), *rest;
	size_t pl = strlen(prefix);
	struct rstream *st;
	uint64_t handle;
	char *end;

	if (strncmp(subj, prefix, pl) || subj[pl] != '.')
		return -EBADMSG;
	rest = subj + pl + 1;
	if (!strcmp(rest, "ctl"))
		return on_ctl(rs, natsMsg_GetData(m), natsMsg_GetDataLength(m));
	if (!strncmp(rest, "beacon.", 7))
		return 0; /* offline: beacons tell nothing more */
	if (strncmp(rest, "data.", 5) && strncmp(rest, "meta.", 5))
		return 0; /* a later version's subject: ignored */
	errno = 0;
	handle = strtoull(rest + 5, &end, 10);
	if (errno || *end || !(st = rstream_find(rs, handle)))
		return -EBADMSG;
	return on_stream_msg(rs, st, m, rest[0] == 'm');
}

/* The order of `m`: Ctflive-Seq, then part K of N (1/1 for a whole message). */
static int msg_key(natsMsg *m, struct held *k)
{
	const char *v = NULL;
	char *end;

	k->m = m;
	k->seq = 0;
	k->part = k->n = 1;
	if (natsMsgHeader_Get(m, CL_NATS_H_SEQ, &v) != NATS_OK)
		return -EBADMSG;
	errno = 0;
	k->seq = strtoull(v, &end, 10);
	if (errno || *end || k->seq == 0)
		return -EBADMSG;
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
static void drain(struct rsess *rs, const char *prefix)
{
	size_t i = 0;

	while (i < rs->n_held && !key_cmp(&rs->held[i], rs->next_seq, rs->next_part)) {
		struct held *h = &rs->held[i++];

		if (on_msg(rs, prefix, h->m) < 0)
			rs->bad++;
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

/*
 * Takes `m`: applies it if it is its turn (and what it unblocks), holds it if
 * it came early (a publication the relay retried comes after later ones),
 * drops it if it is a duplicate.
 */
static void deliver(struct rsess *rs, const char *prefix, natsMsg *m)
{
	struct held k;
	size_t lo = 0, hi;

	if (msg_key(m, &k) < 0 || key_cmp(&k, rs->next_seq, rs->next_part) < 0) {
		if (k.seq == 0)
			rs->bad++;
		natsMsg_Destroy(m);
		return;
	}
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
	drain(rs, prefix);
}

/* Gives up waiting for what the first held message waits for. */
static void skip_gap(struct rsess *rs, const char *prefix)
{
	if (!rs->n_held)
		return;
	if (rs->held[0].seq > rs->next_seq)
		rs->missing += rs->held[0].seq - rs->next_seq;
	if (rs->next_part > 1 || rs->held[0].part > 1)
		rs->bad++; /* a message in parts lacks some */
	rs->next_seq = rs->held[0].seq;
	rs->next_part = rs->held[0].part;
	drain(rs, prefix);
}

static void rsess_fini(struct rsess *rs)
{
	for (size_t i = 0; i < rs->n_held; i++)
		natsMsg_Destroy(rs->held[i].m);
	free(rs->held);
	for (size_t i = 0; i < rs->n; i++) {
		if (rs->streams[i].data_fd >= 0)
			close(rs->streams[i].data_fd);
		if (rs->streams[i].index_fd >= 0)
			close(rs->streams[i].index_fd);
		free(rs->streams[i].parts);
	}
	free(rs->streams);
	if (rs->dir_fd >= 0)
		close(rs->dir_fd);
}

/*
 * Reads the JetStream stream `name` (subjects "<prefix>.>") from its first
 * message into directory `dir`, until the session's end message, or until
 * nothing arrives for `idle_ms` (0: wait for the end).
 */
static int read_session(jsCtx *js, const char *name, const struct desc *d, const char *dir,
			int idle_ms)
{
	struct rsess rs = { .dir_fd = -1, .next_seq = 1, .next_part = 1 };
	int64_t idle = 0; /* ms without a message */
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	char subject[CL_NATS_PREFIX_MAX + 4];
	natsStatus s;
	int r = 0;

	if (mkdir(dir, 0755) < 0)
		return -errno;
	rs.dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rs.dir_fd < 0)
		return -errno;
	(void)snprintf(subject, sizeof(subject), "%s.>", d->prefix);
	jsSubOptions_Init(&so);
	so.Stream = name;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverAll;
	s = NATS_TIMEOUT;
	for (int i = 0; i < ELECTION_TRIES && s == NATS_TIMEOUT; i++)
		s = js_SubscribeSync(&sub, js, subject, NULL, &so, &jerr);
	if (s != NATS_OK) {
		log_error("cannot read JetStream stream %s: %s", name, natsStatus_GetText(s));
		rsess_fini(&rs);
		return -EIO;
	}
	while (!rs.ended) {
		natsMsg *m = NULL;

		s = natsSubscription_NextMsg(&m, sub, 500);
		if (s == NATS_TIMEOUT) {
			idle += 500;
			/* The relay retries a failed publication for about 30 s. */
			if (rs.n_held &&
			    (idle >= GAP_WAIT_MS || (idle_ms > 0 && idle >= idle_ms))) {
				skip_gap(&rs, d->prefix);
				continue;
			}
			if (idle_ms > 0 && idle >= idle_ms) {
				log_warning("%s/%s: nothing new for %d ms, the session has not "
					    "ended: printing what was published",
					    d->host, d->session, idle_ms);
				break;
			}
			continue;
		}
		if (s != NATS_OK) {
			log_error("reading JetStream stream %s: %s", name, natsStatus_GetText(s));
			r = -EIO;
			break;
		}
		idle = 0;
		deliver(&rs, d->prefix, m);
		if (rs.n_held > MAX_HELD)
			skip_gap(&rs, d->prefix);
	}
	natsSubscription_Destroy(sub);
	if (rs.missing)
		log_warning("%s/%s (relay %s, session %" PRIu64 "): %" PRIu64
			    " message(s) are missing (publication given up, or dropped by the "
			    "stream's retention limits)",
			    d->host, d->session, d->relay, d->session_id, rs.missing);
	if (rs.dropped)
		log_warning("%s/%s (relay %s, session %" PRIu64 "): %" PRIu64
			    " message(s) dropped by the relay (publication queue full)",
			    d->host, d->session, d->relay, d->session_id, rs.dropped);
	if (rs.bad)
		log_warning("%s/%s: %" PRIu64 " message(s) could not be used", d->host, d->session,
			    rs.bad);
	if (rs.interrupted)
		log_warning("%s/%s: the session was interrupted", d->host, d->session);
	rsess_fini(&rs);
	return r;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int parse_common(int argc, char **argv, struct cli_print_opts *po, int *timeout_ms,
			bool *decode_only, void (*usage)(FILE *))
{
	enum { O_TIMEOUT = 256, O_DECODE };
	static const struct option opts[] = {
		CLI_PRINT_LONGOPTS,
		{ "decode-only", no_argument, NULL, O_DECODE },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, CLI_PRINT_SHORTOPTS "h", opts, NULL)) != -1) {
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
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1)
		goto bad;
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
	      "(--publish), read from JetStream, once the session has ended: the same\n"
	      "output as 'ctflive view' of the relay's session directory.\n"
	      "\n"
	      "  --timeout MS           also stop when nothing new arrived for MS ms and\n"
	      "                         print what was published (default: wait for the end)\n"
	      "  --decode-only          decode everything, print only the event count\n" CLI_PRINT_HELP,
	      f);
}

/* The JetStream streams of ctflive. */
struct slist {
	jsStreamInfo **v; /* owned */
	size_t n, cap;
};

static void slist_free(struct slist *l)
{
	for (size_t i = 0; i < l->n; i++)
		jsStreamInfo_Destroy(l->v[i]);
	free(l->v);
}

/*
 * Lists the names (the meta leader answers alone), then asks each stream of
 * ctflive for its information (its own leader answers): listing every
 * stream's information at once needs every server, and gives partial
 * results while one is down. A cluster that just lost a leader answers once
 * it elected another: timeouts are retried.
 */
static int list_streams(jsCtx *js, struct slist *l)
{
	jsStreamNamesList *names = NULL;
	jsErrCode jerr = 0;
	natsStatus s = NATS_TIMEOUT;
	int r = 0;

	memset(l, 0, sizeof(*l));
	for (int i = 0; i < ELECTION_TRIES && s == NATS_TIMEOUT; i++)
		s = js_StreamNames(&names, js, NULL, &jerr);
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
		s = NATS_TIMEOUT;
		for (int k = 0; k < ELECTION_TRIES && s == NATS_TIMEOUT; k++)
			s = js_GetStreamInfo(&si, js, names->List[i], NULL, &jerr);
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
		slist_free(l);
	return r;
}

int cl_cmd_view_nats(int argc, char **argv)
{
	struct cli_print_opts po;
	struct nats_url u;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	struct slist list = { 0 };
	char tmpl[4096], dir[64];
	char **paths = NULL;
	size_t n_paths = 0, cap_paths = 0;
	const char *why = "invalid URL";
	struct ctflive_iter *it = NULL;
	struct ctflive_diag diag;
	bool decode_only = false, tmp_made = false;
	int timeout_ms = 0, r, ret = 1;

	cli_print_opts_init(&po);
	r = parse_common(argc, argv, &po, &timeout_ms, &decode_only, view_usage);
	if (r >= 0)
		return r;
	r = nats_url_parse(argv[optind], &u, &why);
	if (r < 0 || !u.host) {
		log_error("invalid URL '%s': %s", argv[optind],
			  r < 0 ? why : "expecting nats://SERVER[:PORT]/host/HOSTNAME/SESSION");
		nats_url_free(&u);
		return 2;
	}
	if (connect_js(&u, 5000, &nc, &js) < 0 || list_streams(js, &list) < 0)
		goto out;
	if (snprintf(tmpl, sizeof(tmpl), "%s/ctflive-nats-XXXXXX",
		     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") >= (int)sizeof(tmpl) ||
	    !mkdtemp(tmpl)) {
		log_error("cannot create a temporary directory: %s", strerror(errno));
		goto out;
	}
	tmp_made = true;
	for (size_t i = 0; i < list.n; i++) {
		struct desc d;

		if (desc_parse(list.v[i], &d) < 0)
			continue;
		if (!strcmp(d.host, u.host) && !strcmp(d.session, u.session)) {
			char *path = NULL;

			(void)snprintf(dir, sizeof(dir), "%zu", n_paths);

			if (asprintf(&path, "%s/%s", tmpl, dir) < 0 ||
			    cl_grow(&paths, &cap_paths, n_paths + 1) < 0) {
				free(path);
				goto out;
			}
			paths[n_paths++] = path;
			r = read_session(js, list.v[i]->Config->Name, &d, path, timeout_ms);
			if (r < 0)
				goto out;
		}
	}
	if (!n_paths) {
		log_error("no session %s/%s on NATS at %s (see 'ctflive ls %s')", u.host, u.session,
			  u.servers[0], u.servers[0]);
		goto out;
	}
	r = ctflive_iter_open_dirs((const char *const *)paths, n_paths, &it, &diag);
	if (r < 0) {
		cl_cli_print_diag(&diag, false);
		goto out;
	}
	ret = cl_cli_print_loop(it, &po, decode_only);
	ctflive_iter_free(it);
out:
	if (tmp_made && !getenv("CTFLIVE_NATS_KEEP"))
		(void)nftw(tmpl, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < n_paths; i++)
		free(paths[i]);
	free(paths);
	slist_free(&list);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_url_free(&u);
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
	      "  -h, --help         show this help\n",
	      f);
}

/* The session's state from its last life-cycle message. */
static const char *session_state(jsCtx *js, const char *name, const char *prefix)
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
	struct nats_url u;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	struct slist list = { 0 };
	const char *why = "invalid URL", *url = NULL;
	int timeout_ms = 5000, r, ret = 1;

	r = parse_common(argc, argv, NULL, &timeout_ms, NULL, ls_usage);
	if (r >= 0)
		return r;
	url = argv[optind];
	r = nats_url_parse(url, &u, &why);
	if (r < 0 || u.host) {
		log_error("invalid URL '%s': %s", url,
			  r < 0 ? why : "expecting nats://SERVER[:PORT] without a session");
		nats_url_free(&u);
		return 2;
	}
	if (connect_js(&u, timeout_ms, &nc, &js) < 0 || list_streams(js, &list) < 0)
		goto out;
	for (size_t i = 0; i < list.n; i++) {
		const jsStreamInfo *si = list.v[i];
		struct desc d;

		if (desc_parse(si, &d) < 0)
			continue;
		printf("%.*s/host/", (int)strcspn(url + 7, "/") + 7, url);
		print_name(d.host);
		putchar('/');
		print_name(d.session);
		printf(" (relay ");
		print_name(d.relay);
		printf(", session %" PRIu64 ", %" PRIu64 " message(s), %" PRIu64 " byte(s), %s)\n",
		       d.session_id, si->State.Msgs, si->State.Bytes,
		       session_state(js, si->Config->Name, d.prefix));
	}
	ret = fflush(stdout) ? 1 : 0;
out:
	slist_free(&list);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_url_free(&u);
	nats_CloseAndWait(1000);
	return ret;
}
