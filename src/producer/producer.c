/* SPDX-License-Identifier: MIT */
/*
 * Producer of live traces (include/ctflive/producer.h): the session, its
 * traces and streams, packets and their index entries, beacons and the end
 * of a session, in the message order of lttng-consumerd 2.13
 * (relayd-protocol.md §7.1, §7.5, §9.1). Sockets: producer-io.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctf-internal.h"
#include "macro.h"
#include "producer-internal.h"
#include "relayd-tx.h"

/* ---- URL ---- */

static int url_fail(const char **reterr_msg, const char *msg)
{
	if (reterr_msg)
		*reterr_msg = msg;
	return -EINVAL;
}

static int parse_port(const char *s, size_t n, uint16_t *ret)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

static int url_parse(const char *url, char *host, size_t host_cap, uint16_t *ret_ctrl,
		     uint16_t *ret_data, int *ret_family, const char **reterr_msg)
{
	const char *p, *sep, *hend, *rest;
	uint16_t ctrl = CTFLIVE_PRODUCER_DEFAULT_CTRL_PORT,
		 data = CTFLIVE_PRODUCER_DEFAULT_DATA_PORT;
	int family;
	size_t hl;

	if (!url || !host || !host_cap)
		return url_fail(reterr_msg, "missing URL");
	sep = strstr(url, "://");
	if (!sep)
		return url_fail(reterr_msg, "expecting net://HOST[:CTRL_PORT[:DATA_PORT]]");
	if ((size_t)(sep - url) == 3 && !strncmp(url, "net", 3))
		family = AF_UNSPEC;
	else if ((size_t)(sep - url) == 4 && !strncmp(url, "net4", 4))
		family = AF_INET;
	else if ((size_t)(sep - url) == 4 && !strncmp(url, "net6", 4))
		family = AF_INET6;
	else
		return url_fail(reterr_msg, "unknown protocol (expecting 'net', 'net4' or 'net6')");
	p = sep + 3;
	if (*p == '[') {
		hend = strchr(p, ']');
		if (!hend)
			return url_fail(reterr_msg, "missing ']' after the IPv6 address");
		p++;
		rest = hend + 1;
	} else {
		hend = p + strcspn(p, ":/");
		rest = hend;
	}
	hl = (size_t)(hend - p);
	if (hl == 0)
		return url_fail(reterr_msg, "missing host");
	if (hl >= host_cap)
		return url_fail(reterr_msg, "host name too long");
	if (*rest == ':') {
		const char *c2 = strchr(rest + 1, ':');
		size_t n1 = c2 ? (size_t)(c2 - rest - 1) : strlen(rest + 1);

		if (parse_port(rest + 1, n1, &ctrl) < 0)
			return url_fail(reterr_msg, "bad control port (expecting 1 to 65535)");
		if (c2 && parse_port(c2 + 1, strlen(c2 + 1), &data) < 0)
			return url_fail(reterr_msg, "bad data port (expecting 1 to 65535)");
	} else if (*rest) {
		return url_fail(reterr_msg, "unexpected text after the host (paths are not "
					    "supported)");
	}
	memcpy(host, p, hl);
	host[hl] = '\0';
	*ret_ctrl = ctrl;
	*ret_data = data;
	if (ret_family)
		*ret_family = family;
	return 0;
}

int ctflive_producer_url_parse(const char *url, char *host, size_t host_cap,
			       uint16_t *ret_ctrl_port, uint16_t *ret_data_port,
			       const char **reterr_msg)
{
	return url_parse(url, host, host_cap, ret_ctrl_port, ret_data_port, NULL, reterr_msg);
}

/* ---- names ---- */

/* Why s is not a single path component as relays accept it
 * (relayd-protocol.md §5.3, §10.4), or NULL if it is one. */
static const char *name_problem(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0)
		return "empty";
	if (n >= max)
		return max == CL_RELAYD_NAME_MAX ? "longer than 254 bytes"
						 : "longer than 255 bytes";
	if (s[0] == '.')
		return "starts with '.' (relays refuse hidden names)";
	if (strchr(s, '/'))
		return "contains '/' (it names one directory on the relay)";
	return NULL;
}

static bool is_name(const char *s, size_t max)
{
	return name_problem(s, max) == NULL;
}

/* A relative path of components that are names. */
static bool is_rel_path(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= CL_RELAYD_STREAM_PATH_MAX || s[0] == '/' || s[n - 1] == '/')
		return false;
	for (const char *c = s; *c;) {
		size_t l = strcspn(c, "/");

		if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += l;
		if (*c)
			c++;
	}
	return true;
}

/* ---- lifecycle ---- */

static int config_fail(const char **reterr_field, const char *field, const char **reterr_msg,
		       const char *msg)
{
	if (reterr_field)
		*reterr_field = field;
	if (reterr_msg)
		*reterr_msg = msg;
	return -EINVAL;
}

int ctflive_producer_config_check(const struct ctflive_producer_config *c,
				  const char **reterr_field, const char **reterr_msg)
{
	char host[256];
	const char *why;
	uint16_t cp, dp;
	int family;

	if (!c)
		return config_fail(reterr_field, "", reterr_msg, "no configuration");
	if (url_parse(c->url, host, sizeof(host), &cp, &dp, &family, &why) < 0)
		return config_fail(reterr_field, "url", reterr_msg, why);
	why = name_problem(c->session_name, CL_RELAYD_NAME_MAX);
	if (why)
		return config_fail(reterr_field, "session_name", reterr_msg, why);
	if (c->hostname && (why = name_problem(c->hostname, CL_RELAYD_HOST_NAME_MAX)))
		return config_fail(reterr_field, "hostname", reterr_msg, why);
	if (c->max_minor && (c->max_minor < 11 || c->max_minor > 15))
		return config_fail(reterr_field, "max_minor", reterr_msg,
				   "the producer speaks relayd protocol 2.11 to 2.15");
	return 0;
}

int ctflive_producer_new(const struct ctflive_producer_config *c, struct ctflive_producer **ret)
{
	struct ctflive_producer *p;
	char host[256], hn[256];
	uint16_t cp, dp;
	int family, r;

	if (!ret || ctflive_producer_config_check(c, NULL, NULL) < 0)
		return -EINVAL;
	r = url_parse(c->url, host, sizeof(host), &cp, &dp, &family, NULL);
	if (r < 0)
		return r;
	if (c->hostname) {
		snprintf(hn, sizeof(hn), "%s", c->hostname);
	} else if (gethostname(hn, sizeof(hn)) < 0 || !is_name(hn, CL_RELAYD_HOST_NAME_MAX)) {
		snprintf(hn, sizeof(hn), "localhost");
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfd = p->dfd = -1;
	p->host = strdup(host);
	p->session_name = strdup(c->session_name);
	p->hostname = strdup(hn);
	if (!p->host || !p->session_name || !p->hostname) {
		ctflive_producer_free(p);
		return -ENOMEM;
	}
	p->ctrl_port = cp;
	p->data_port = dp;
	p->family = family;
	p->live_timer_us = c->live_timer_us;
	p->max_minor = c->max_minor ? c->max_minor : 15;
	p->ctf2 = c->ctf2;
	p->queue_max = c->queue_max ? c->queue_max : 16u * 1024u * 1024u;
	p->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000;
	/* a sessiond uuid the relay does not confuse with another producer's
	 * (all zeros is reserved for pre-2.11 peers) */
	{
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, p->uuid, sizeof(p->uuid)) : -1;

		if (fd >= 0)
			close(fd);
		if (n != (ssize_t)sizeof(p->uuid)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			cl_store_be64(p->uuid, (uint64_t)ts.tv_nsec ^ (uint64_t)getpid());
			cl_store_be64(p->uuid + 8, (uint64_t)ts.tv_sec);
		}
		p->uuid[0] |= 1;
	}
	p->creation_time = (uint64_t)time(NULL);
	*ret = p;
	return 0;
}

struct ctflive_producer *ctflive_producer_free(struct ctflive_producer *p)
{
	if (!p)
		return NULL;
	if (p->cfd >= 0 || p->dfd >= 0) {
		p->lost_fn = NULL;
		cl_prod_close(p);
	}
	for (size_t i = 0; i < p->nstreams; i++) {
		free(p->streams[i]->name);
		free(p->streams[i]->inflight);
		free(p->streams[i]);
	}
	for (size_t i = 0; i < p->ntraces; i++) {
		free(p->traces[i]->path);
		ctflive_ctf_trace_free(p->traces[i]->ctf);
		cl_buf_free(&p->traces[i]->md);
		free(p->traces[i]);
	}
	free(p->streams);
	free(p->traces);
	free(p->pend);
	cl_buf_free(&p->cq.buf);
	cl_buf_free(&p->dq.buf);
	free(p->host);
	free(p->session_name);
	free(p->hostname);
	free(p);
	return NULL;
}

bool ctflive_producer_is_connected(const struct ctflive_producer *p)
{
	return p && p->cfd >= 0;
}

/* ---- session setup ---- */

static int check_ok(struct ctflive_producer *p, uint32_t cmd, size_t off)
{
	uint32_t code;

	if (p->sync_len < off + 4)
		return cl_prod_fail(p, -EPROTO, "short reply to %s", cl_relayd_cmd_name(cmd));
	code = cl_load_be32(p->sync_rep + off);
	if (code != CL_LTTNG_OK)
		return cl_prod_fail(p, -EPROTO, "the relay refused %s: %s", cl_relayd_cmd_name(cmd),
				    cl_relayd_status_words(cmd, code));
	return 0;
}

static int add_relay_stream(struct ctflive_producer *p, const char *channel, const char *path,
			    uint64_t *ret_handle)
{
	uint8_t buf[CL_RELAYD_ADD_STREAM_2_11_SIZE + CL_RELAYD_STREAM_NAME_MAX +
		    CL_RELAYD_STREAM_PATH_MAX];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	uint64_t handle;
	uint32_t code;
	int r;

	r = cl_relayd_tx_add_stream(&wb, channel, path, 0);
	if (r < 0)
		return r;
	r = cl_prod_request(p, CL_RELAYD_ADD_STREAM, buf, wb.pos);
	if (r < 0)
		return r;
	cl_relayd_rx_status_stream(p->sync_rep, &handle, &code);
	if (code != CL_LTTNG_OK)
		return cl_prod_fail(p, -EPROTO, "the relay refused stream '%s/%s': %s", path,
				    channel, cl_relayd_status_words(CL_RELAYD_ADD_STREAM, code));
	*ret_handle = handle;
	/* a metadata stream alone is not announced: babeltrace2 2.0 attached
	 * to a trace without data streams never finds the ones added later */
	if (strcmp(channel, "metadata") != 0)
		p->need_streams_sent = true;
	return 0;
}

#define MD_PKT_HDR  37          /* CTF 1.8 §7.1 metadata packet header, bytes */
#define MD_PKT_TEXT (64 * 1024) /* text bytes per metadata packet */

static void le32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

/* One SEND_METADATA (§2.5) of [pre, pre + npre) then [data, data + len). */
static int queue_md_msg(struct ctflive_producer_trace *tr, const void *pre, size_t npre,
			const void *data, size_t len)
{
	struct ctflive_producer *p = tr->p;
	uint8_t sub[CL_RELAYD_METADATA_HDR_SIZE];
	struct cl_wbuf wb = cl_wbuf_make(sub, sizeof(sub));
	int r;

	/* SEND_METADATA has no reply */
	(void)cl_relayd_tx_metadata_hdr(&wb, tr->md_handle, 0);
	r = cl_prod_ctrl(p, CL_RELAYD_SEND_METADATA, sub, sizeof(sub), -1, NULL, 0);
	if (r < 0)
		return r;
	/* the header announced 12 bytes: fix its size to cover the metadata */
	cl_store_be64(p->cq.buf.data + p->cq.buf.len - sizeof(sub) - CL_RELAYD_CTRL_HDR_SIZE + 8,
		      sizeof(sub) + (uint64_t)npre + (uint64_t)len);
	if (npre && (r = cl_prod_queue(p, &p->cq, pre, npre)) < 0)
		return r;
	if ((r = cl_prod_queue(p, &p->cq, data, len)) < 0)
		return r;
	p->md_end = p->cq.queued;
	p->stats.metadata_bytes += npre + len;
	return 0;
}

static int queue_metadata(struct ctflive_producer_trace *tr, const void *data, size_t len)
{
	const uint8_t *d = data;

	if (!len)
		return 0;
	if (tr->packetize < 0) {
		/* the first bytes decide, as for the decoder: packets (either
		 * byte order), CTF 2 (RS), or TSDL text */
		bool pk = len >= 4 &&
			  ((d[0] == 0x57 && d[1] == 0x1d && d[2] == 0xd1 && d[3] == 0x75) ||
			   (d[0] == 0x75 && d[1] == 0xd1 && d[2] == 0x1d && d[3] == 0x57));

		tr->packetize = !pk && d[0] != 0x1e;
		memset(tr->md_uuid, 0, sizeof(tr->md_uuid));
		if (tr->ctf->has_uuid)
			memcpy(tr->md_uuid, tr->ctf->uuid, sizeof(tr->md_uuid));
	}
	if (!tr->packetize)
		return queue_md_msg(tr, NULL, 0, data, len);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < MD_PKT_TEXT ? len - off : MD_PKT_TEXT;
		uint32_t bits = (uint32_t)((MD_PKT_HDR + n) * 8);
		uint8_t h[MD_PKT_HDR] = { 0 };
		int r;

		/* magic, uuid, checksum 0, content and packet size (no
		 * padding), no compression/encryption/checksum, CTF 1.8 */
		le32(h, 0x75D11D57);
		memcpy(h + 4, tr->md_uuid, 16);
		le32(h + 24, bits);
		le32(h + 28, bits);
		h[35] = 1;
		h[36] = 8;
		r = queue_md_msg(tr, h, sizeof(h), d + off, n);
		if (r < 0)
			return r;
		off += n;
	}
	return 0;
}

static int streams_sent(struct ctflive_producer *p)
{
	int r;

	if (!p->need_streams_sent)
		return 0;
	r = cl_prod_ctrl(p, CL_RELAYD_STREAMS_SENT, NULL, 0, PEND_CHECK, NULL, 0);
	if (r == 0)
		p->need_streams_sent = false;
	return r;
}

static int add_trace_streams(struct ctflive_producer_trace *tr)
{
	struct ctflive_producer *p = tr->p;
	int r;

	r = add_relay_stream(p, "metadata", tr->path, &tr->md_handle);
	if (r < 0)
		return r;
	tr->added = true;
	return 0;
}

int ctflive_producer_connect(struct ctflive_producer *p)
{
	uint8_t buf[CL_RELAYD_CREATE_SESSION_2_15_SIZE + CL_RELAYD_NAME_MAX +
		    CL_RELAYD_HOST_NAME_MAX + 1];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	struct cl_relayd_create_session cs = { 0 };
	uint32_t major, minor, code, plen;
	int r;

	if (!p)
		return -EINVAL;
	r = cl_prod_open(p);
	if (r < 0)
		return r;
	/* §4: offer ours, use min(ours, relay's) */
	(void)cl_relayd_tx_version(&wb, CL_RELAYD_VERSION_MAJOR, p->max_minor);
	r = cl_prod_request(p, CL_RELAYD_VERSION, buf, wb.pos);
	if (r < 0)
		return r;
	major = cl_load_be32(p->sync_rep);
	minor = cl_load_be32(p->sync_rep + 4);
	if (major != CL_RELAYD_VERSION_MAJOR)
		return cl_prod_fail(p, -ENOTSUP, "incompatible relay protocol version %u.%u", major,
				    minor);
	p->minor = minor < p->max_minor ? minor : p->max_minor;
	if (p->minor < 11)
		return cl_prod_fail(p, -ENOTSUP,
				    "relay protocol 2.%u is too old (2.11 or later needed)", minor);
	if (p->ctf2 && p->minor < 15)
		return cl_prod_fail(p, -ENOTSUP,
				    "relay protocol 2.%u cannot carry CTF 2 (2.15 or later needed)",
				    minor);
	if (p->minor >= 12) {
		wb = cl_wbuf_make(buf, sizeof(buf));
		(void)cl_relayd_tx_u64(&wb, 0);
		r = cl_prod_request(p, CL_RELAYD_GET_CONFIGURATION, buf, wb.pos);
		if (r < 0 || (r = check_ok(p, CL_RELAYD_GET_CONFIGURATION, 0)) < 0)
			return r;
	}
	cs.session_name = p->session_name;
	cs.hostname = p->hostname;
	cs.base_path = "";
	cs.live_timer = p->live_timer_us;
	memcpy(cs.sessiond_uuid, p->uuid, sizeof(cs.sessiond_uuid));
	/* a new sessiond session per connection: the relay starts a new
	 * session directory, never reuses (and truncates) the old one */
	cs.sessiond_session_id = p->stats.connects + 1;
	if (p->stats.connects) {
		uint64_t now = (uint64_t)time(NULL);

		p->creation_time = now > p->creation_time ? now : p->creation_time + 1;
	}
	cs.creation_time = p->creation_time;
	cs.trace_format = p->ctf2 ? CL_RELAYD_TRACE_FORMAT_CTF_2 : CL_RELAYD_TRACE_FORMAT_CTF_1_8;
	wb = cl_wbuf_make(buf, sizeof(buf));
	r = cl_relayd_tx_create_session(&wb, p->minor, &cs);
	if (r < 0)
		return cl_prod_fail(p, -EINVAL, "session or host name too long");
	r = cl_prod_request(p, CL_RELAYD_CREATE_SESSION, buf, wb.pos);
	if (r < 0)
		return r;
	cl_relayd_rx_create_session(p->sync_rep, &p->session_id, &code, &plen);
	if (code != CL_LTTNG_OK)
		return cl_prod_fail(p, -EPROTO, "the relay refused session '%s' (host '%s'): %s",
				    p->session_name, p->hostname,
				    cl_relayd_status_words(CL_RELAYD_CREATE_SESSION, code));
	if (plen == 0 || p->sync_rep[16 + plen - 1] != '\0')
		return cl_prod_fail(p, -EPROTO, "malformed CREATE_SESSION reply");
	snprintf(p->out_path, sizeof(p->out_path), "%s", (const char *)p->sync_rep + 16);
	wb = cl_wbuf_make(buf, sizeof(buf));
	(void)cl_relayd_tx_create_chunk(&wb, 0, cs.creation_time);
	r = cl_prod_request(p, CL_RELAYD_CREATE_TRACE_CHUNK, buf, wb.pos);
	if (r < 0 || (r = check_ok(p, CL_RELAYD_CREATE_TRACE_CHUNK, 0)) < 0)
		return r;
	/* a reconnection: everything again, on the new session */
	for (size_t i = 0; i < p->nstreams; i++) {
		struct ctflive_producer_stream *st = p->streams[i];

		if (st->closed)
			continue;
		r = add_relay_stream(p, st->name, st->tr->path, &st->handle);
		if (r < 0)
			return r;
		st->added = true;
	}
	for (size_t i = 0; i < p->ntraces; i++) {
		struct ctflive_producer_trace *tr = p->traces[i];

		r = add_trace_streams(tr);
		if (r < 0)
			return r;
	}
	r = streams_sent(p);
	for (size_t i = 0; r == 0 && i < p->ntraces; i++) {
		if (p->traces[i]->md.len)
			r = queue_metadata(p->traces[i], p->traces[i]->md.data,
					   p->traces[i]->md.len);
	}
	if (r < 0)
		return r;
	p->activity = false;
	p->had_round = false;
	p->stats.connects++;
	p->stats.minor = p->minor;
	p->stats.relay_session_id = p->session_id;
	p->err[0] = '\0';
	return 0;
}

int ctflive_producer_add_trace(struct ctflive_producer *p, const char *pathname,
			       struct ctflive_producer_trace **ret)
{
	struct ctflive_producer_trace *tr;
	int r;

	if (!p || !ret || !is_rel_path(pathname))
		return -EINVAL;
	if (p->cfd < 0)
		return -ENOTCONN;
	if (cl_grow(&p->traces, &p->tcap, p->ntraces + 1) < 0)
		return -ENOMEM;
	tr = calloc(1, sizeof(*tr));
	if (!tr)
		return -ENOMEM;
	tr->p = p;
	tr->packetize = -1;
	tr->md.max = CL_PRODUCER_MAX_METADATA;
	tr->path = strdup(pathname);
	r = tr->path ? ctflive_ctf_trace_new(&tr->ctf) : -ENOMEM;
	if (r == 0)
		r = add_trace_streams(tr);
	if (r < 0) {
		free(tr->path);
		ctflive_ctf_trace_free(tr->ctf);
		free(tr);
		return r;
	}
	p->traces[p->ntraces++] = tr;
	*ret = tr;
	return 0;
}

struct ctflive_ctf_trace *ctflive_producer_trace_ctf(const struct ctflive_producer_trace *tr)
{
	return tr ? tr->ctf : NULL;
}

int ctflive_producer_send_metadata(struct ctflive_producer_trace *tr, const void *data, size_t len,
				   struct ctflive_ctf_diag *reterr)
{
	struct ctflive_producer *p;
	int r;

	if (!tr || (!data && len))
		return -EINVAL;
	p = tr->p;
	if (len > CL_PRODUCER_MAX_METADATA - tr->md.len)
		return cl_prod_set_err(p, -E2BIG, "metadata over %u bytes",
				       CL_PRODUCER_MAX_METADATA);
	r = ctflive_ctf_trace_add_metadata(tr->ctf, data, len, reterr);
	if (r < 0)
		return cl_prod_set_err(p, r, "metadata of '%s' does not parse", tr->path);
	r = cl_buf_append(&tr->md, data, len);
	if (r < 0)
		return cl_prod_set_err(p, r, "out of memory for metadata");
	if (p->cfd < 0)
		return -ENOTCONN; /* kept: sent at the next connect */
	/* no STREAMS_SENT here: viewers learn of the trace together with its
	 * data streams, at the first packet (a viewer attached to a session
	 * that has only a metadata stream waits for data streams forever) */
	return queue_metadata(tr, data, len);
}

int ctflive_producer_add_stream(struct ctflive_producer_trace *tr, const char *channel_name,
				struct ctflive_producer_stream **ret)
{
	struct ctflive_producer *p;
	struct ctflive_producer_stream *st;
	int r;

	if (!tr || !ret || !is_name(channel_name, CL_RELAYD_STREAM_NAME_MAX) ||
	    !strcmp(channel_name, "metadata"))
		return -EINVAL;
	p = tr->p;
	if (p->cfd < 0)
		return -ENOTCONN;
	if (cl_grow(&p->streams, &p->scap, p->nstreams + 1) < 0)
		return -ENOMEM;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->p = p;
	st->tr = tr;
	st->name = strdup(channel_name);
	st->inflight = calloc(CTFLIVE_PRODUCER_MAX_INFLIGHT, sizeof(*st->inflight));
	r = st->name && st->inflight ? add_relay_stream(p, st->name, tr->path, &st->handle)
				     : -ENOMEM;
	if (r < 0) {
		free(st->name);
		free(st->inflight);
		free(st);
		return r;
	}
	st->added = true;
	p->streams[p->nstreams++] = st;
	*ret = st;
	return 0;
}

/* ---- packets ---- */

struct first_packet {
	struct cl_packet_info pi;
	bool found;
};

static int take_first(void *ctx, const struct cl_packet_info *pi)
{
	struct first_packet *fp = ctx;

	fp->pi = *pi;
	fp->found = true;
	return 1;
}

/* Frames the first packet of [data, data + len): 0, -EMSGSIZE when it is
 * not all there, -EBADMSG. */
static int frame(struct ctflive_ctf_trace *t, const void *data, size_t len, struct first_packet *fp,
		 struct ctflive_ctf_diag *reterr)
{
	struct ctflive_ctf_diag d;
	int r;

	memset(fp, 0, sizeof(*fp));
	r = cl_ctf_scan_packets(t, data, len, take_first, fp, &d);
	/* the header decoder reports a header cut short as "past the end" */
	if (r == -EBADMSG && strstr(d.msg, "past the end"))
		r = -EMSGSIZE;
	if (r == 0 && !fp->found)
		r = -EMSGSIZE;
	if (r < 0 && reterr)
		*reterr = d;
	return r;
}

int ctflive_producer_packet_info(struct ctflive_producer_trace *tr, const void *data, size_t len,
				 struct ctflive_producer_packet *ret,
				 struct ctflive_ctf_diag *reterr)
{
	const struct cl_stream_class *sc;
	struct first_packet fp;
	int r;

	if (!tr || !ret || (!data && len))
		return -EINVAL;
	if (!len)
		return -EMSGSIZE;
	r = frame(tr->ctf, data, len, &fp, reterr);
	if (r < 0)
		return r;
	sc = cl_trace_stream_class(tr->ctf, fp.pi.sc_id);
	*ret = (struct ctflive_producer_packet){
		.size = fp.pi.size,
		.content_bits = fp.pi.content_bits,
		.timestamp_begin = fp.pi.begin,
		.timestamp_end = fp.pi.end,
		.begin_ns = fp.pi.begin_ns,
		.end_ns = sc && sc->clock && fp.pi.end ? cl_clock_ns(sc->clock, fp.pi.end)
						       : INT64_MIN,
		.events_discarded = fp.pi.discarded,
		.stream_class_id = fp.pi.sc_id,
		.stream_instance_id = fp.pi.instance_id,
		.packet_seq_num = fp.pi.seq,
	};
	return 0;
}

static int dp_query(struct ctflive_producer_stream *st)
{
	uint8_t buf[16];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	int r;

	if (st->dp_query || !st->in || !st->added)
		return 0;
	(void)cl_relayd_tx_u64_pair(&wb, st->handle, st->next_seq - 1);
	r = cl_prod_ctrl(st->p, CL_RELAYD_DATA_PENDING, buf, wb.pos, PEND_DATA_PENDING, st,
			 st->next_seq - 1);
	if (r == 0)
		st->dp_query = true;
	return r;
}

int ctflive_producer_send_packet(struct ctflive_producer_stream *st, const void *data, size_t len,
				 uint64_t tag, struct ctflive_ctf_diag *reterr)
{
	struct ctflive_producer *p;
	struct first_packet fp;
	uint8_t hdr[CL_RELAYD_DATA_HDR_SIZE], ix[CL_RELAYD_INDEX_SIZE_2_8];
	struct cl_wbuf wb;
	struct cl_relayd_index idx;
	uint64_t content;
	int r;

	if (!st || !data || !len)
		return -EINVAL;
	p = st->p;
	if (st->closed)
		return cl_prod_set_err(p, -EINVAL, "stream '%s' is closed", st->name);
	if (p->cfd < 0)
		return -ENOTCONN;
	r = frame(st->tr->ctf, data, len, &fp, reterr);
	if (r < 0)
		return cl_prod_set_err(p, r, "bad packet for stream '%s'", st->name);
	if (fp.pi.size != len) {
		if (reterr) {
			memset(reterr, 0, sizeof(*reterr));
			reterr->offset = fp.pi.size;
			snprintf(reterr->msg, sizeof(reterr->msg),
				 "%zu bytes given for a packet of %zu bytes", len, fp.pi.size);
		}
		return cl_prod_set_err(p, -EBADMSG, "packet size mismatch for stream '%s'",
				       st->name);
	}
	content = (fp.pi.content_bits + 7) / 8;
	if (content > UINT32_MAX || len > UINT32_MAX)
		return cl_prod_set_err(p, -E2BIG, "packet over 4 GiB");
	/* bounded memory: refuse, the caller waits and retries */
	if (st->in >= CTFLIVE_PRODUCER_MAX_INFLIGHT ||
	    (cl_prod_qlen(&p->dq) && cl_prod_qlen(&p->dq) + content > p->queue_max) ||
	    cl_prod_qlen(&p->cq) > p->queue_max) {
		(void)dp_query(st);
		(void)cl_prod_pump(p, 0);
		return -EAGAIN;
	}
	r = streams_sent(p);
	if (r < 0)
		return r;
	/* the data half (§2.3): content, the relay appends the padding */
	wb = cl_wbuf_make(hdr, sizeof(hdr));
	(void)cl_relayd_tx_data_hdr(&wb, &(struct cl_relayd_data_hdr){
						 .stream_id = st->handle,
						 .net_seq_num = st->next_seq,
						 .data_size = (uint32_t)content,
						 .padding_size = (uint32_t)(len - content),
					 });
	r = cl_prod_data(p, hdr, sizeof(hdr), data, content);
	if (r < 0)
		return r;
	/* the control half (§5.6), after any metadata queued before it */
	idx = (struct cl_relayd_index){
		.relay_stream_id = st->handle,
		.net_seq_num = st->next_seq,
		.packet_size = (uint64_t)len * 8,
		.content_size = fp.pi.content_bits,
		.timestamp_begin = fp.pi.begin,
		.timestamp_end = fp.pi.end,
		.events_discarded = fp.pi.discarded,
		.stream_id = fp.pi.sc_id,
		.stream_instance_id = fp.pi.instance_id,
		.packet_seq_num = fp.pi.seq,
	};
	wb = cl_wbuf_make(ix, sizeof(ix));
	(void)cl_relayd_tx_index(&wb, &idx);
	r = cl_prod_ctrl(p, CL_RELAYD_SEND_INDEX, ix, sizeof(ix), PEND_CHECK, NULL, 0);
	if (r < 0)
		return r;
	st->inflight[(st->ihead + st->in) % CTFLIVE_PRODUCER_MAX_INFLIGHT] =
		(struct inflight){ .net_seq_num = st->next_seq, .tag = tag };
	st->in++;
	st->next_seq++;
	st->has_packet = true;
	st->sent_since_tick = true;
	st->sc_id = fp.pi.sc_id;
	st->last_end = fp.pi.end;
	p->activity = true;
	p->stats.packets_sent++;
	p->stats.packet_bytes += content;
	if (st->in >= CTFLIVE_PRODUCER_MAX_INFLIGHT / 2)
		(void)dp_query(st);
	/* the packet is accepted (in flight): a connection error found while
	 * writing is reported by the next call, the packet by the lost-packet
	 * callback */
	(void)cl_prod_pump(p, 0);
	return 0;
}

/* ---- beacons ---- */

static uint64_t clock_now_cycles(const struct ctflive_producer_stream *st, bool *ok)
{
	const struct cl_stream_class *sc = cl_trace_stream_class(st->tr->ctf, st->sc_id);
	const struct cl_clock *c = sc ? sc->clock : NULL;
	struct timespec ts;
	clockid_t id;

	*ok = false;
	if (!c || !c->name || !c->freq)
		return 0;
	if (!strcmp(c->name, "monotonic"))
		id = CLOCK_MONOTONIC;
	else if (!strcmp(c->name, "monotonic_raw"))
		id = CLOCK_MONOTONIC_RAW;
	else if (!strcmp(c->name, "realtime"))
		id = CLOCK_REALTIME;
	else
		return 0;
	if (clock_gettime(id, &ts) < 0)
		return 0;
	*ok = true;
	return (uint64_t)ts.tv_sec * c->freq +
	       (uint64_t)((double)ts.tv_nsec * (double)c->freq / 1e9);
}

static int beacon_at(struct ctflive_producer_stream *st, unsigned flags, uint64_t ts)
{
	uint8_t ix[CL_RELAYD_INDEX_SIZE_2_8];
	struct cl_wbuf wb = cl_wbuf_make(ix, sizeof(ix));

	if (flags & CTFLIVE_PRODUCER_BEACONS_CLOCK_NOW) {
		bool ok;
		uint64_t now = clock_now_cycles(st, &ok);

		if (ok && now > ts)
			ts = now;
	}
	/* §7.2: only timestamp_end and the CTF stream class id */
	(void)cl_relayd_tx_index(&wb, &(struct cl_relayd_index){
					      .relay_stream_id = st->handle,
					      .net_seq_num = st->next_seq - 1,
					      .timestamp_end = ts,
					      .stream_id = st->sc_id,
				      });
	return cl_prod_ctrl(st->p, CL_RELAYD_SEND_INDEX, ix, sizeof(ix), PEND_CHECK, NULL, 0);
}

static int beacon(struct ctflive_producer_stream *st, unsigned flags)
{
	return beacon_at(st, flags, st->last_end);
}

/*
 * At the end of a live session nothing more will come on any stream: each
 * stream is idle up to the last packet end of its trace (streams of a
 * trace share their clock), as the empty packets a tracer flushes at
 * `lttng stop` tell viewers. Without it a viewer may wait on a stream that
 * ended early until the stream is closed (babeltrace2 2.0 with
 * lttng-relayd 2.13 then stops short of the last events of the others).
 */
static int final_beacons(struct ctflive_producer *p)
{
	int r = 0;

	if (!p->live_timer_us)
		return 0;
	for (size_t i = 0; r == 0 && i < p->nstreams; i++) {
		struct ctflive_producer_stream *st = p->streams[i];
		uint64_t end = 0;

		if (st->closed || !st->added || !st->has_packet)
			continue;
		for (size_t j = 0; j < p->nstreams; j++) {
			const struct ctflive_producer_stream *o = p->streams[j];

			if (o->tr == st->tr && o->has_packet && o->last_end > end)
				end = o->last_end;
		}
		if (end > st->last_end)
			r = beacon_at(st, 0, end);
	}
	return r;
}

int ctflive_producer_tick(struct ctflive_producer *p, unsigned flags)
{
	int n = 0, r;

	if (!p)
		return -EINVAL;
	if (p->cfd < 0)
		return -ENOTCONN;
	/* streams added since the last tick are announced now, as a consumer
	 * announces the streams of a new application before its first flush */
	r = streams_sent(p);
	for (size_t i = 0; r == 0 && i < p->nstreams; i++)
		r = dp_query(p->streams[i]);
	if (r == 0 && (flags & CTFLIVE_PRODUCER_BEACONS_END))
		r = final_beacons(p);
	if (r < 0)
		return r;
	if (!(flags & CTFLIVE_PRODUCER_BEACONS_ALWAYS) && !p->activity && p->had_round) {
		/* power saving: nothing happened since the last round */
		p->stats.skipped_rounds++;
		r = cl_prod_pump(p, 0);
		return r < 0 && r != -EAGAIN ? r : 0;
	}
	if (cl_prod_qlen(&p->cq) > p->queue_max) {
		p->stats.refused_rounds++;
		return -EAGAIN;
	}
	for (size_t i = 0; i < p->nstreams; i++) {
		struct ctflive_producer_stream *st = p->streams[i];

		if (!st->closed && st->added && st->has_packet && !st->sent_since_tick) {
			r = beacon(st, flags);
			if (r < 0)
				return r;
			n++;
		}
		st->sent_since_tick = false;
	}
	if (n) {
		p->stats.beacons += (uint64_t)n;
		p->stats.beacon_rounds++;
		p->had_round = true;
		p->activity = false;
	}
	r = cl_prod_pump(p, 0);
	if (r < 0 && r != -EAGAIN)
		return r;
	return n;
}

/* ---- waiting, closing, the end ---- */

int ctflive_producer_wait(struct ctflive_producer *p, int timeout_ms)
{
	if (!p)
		return -EINVAL;
	if (p->cfd < 0)
		return -ENOTCONN;
	return cl_prod_pump(p, timeout_ms);
}

void ctflive_producer_poll_fds(const struct ctflive_producer *p, int ret_fd[2], short ret_events[2])
{
	ret_fd[0] = p->cfd;
	ret_fd[1] = p->dfd;
	ret_events[0] = (short)((cl_prod_qlen(&p->cq) ? POLLOUT : 0) | (p->pn ? POLLIN : 0));
	ret_events[1] = (short)(cl_prod_qlen(&p->dq) && cl_prod_data_gate(p) ? POLLOUT : 0);
}

static int64_t mono_ms(void);

/* Waits until the relay has every packet of st (DATA_PENDING answers 0),
 * at most the producer's timeout. */
static int confirm_stream(struct ctflive_producer_stream *st)
{
	struct ctflive_producer *p = st->p;
	int64_t deadline = mono_ms() + p->timeout_ms;
	uint8_t buf[16];
	int r;

	while (st->in) {
		struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));

		(void)cl_relayd_tx_u64_pair(&wb, st->handle, st->next_seq - 1);
		r = cl_prod_request(p, CL_RELAYD_DATA_PENDING, buf, wb.pos);
		if (r < 0)
			return r;
		if (cl_load_be32(p->sync_rep) == 0) {
			cl_prod_confirm(st, st->next_seq - 1);
			break;
		}
		if (cl_load_be32(p->sync_rep) != 1)
			return cl_prod_fail(p, -EPROTO, "the relay answered DATA_PENDING with %u",
					    cl_load_be32(p->sync_rep));
		if (mono_ms() > deadline)
			return cl_prod_fail(p, -ETIMEDOUT,
					    "the relay still misses packets of stream '%s'",
					    st->name);
		nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	}
	return 0;
}

int ctflive_producer_close_stream(struct ctflive_producer_stream *st)
{
	uint8_t buf[16];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	int r;

	if (!st || st->closed)
		return -EINVAL;
	if (st->p->cfd < 0 || !st->added) {
		st->closed = true;
		return -ENOTCONN;
	}
	r = confirm_stream(st);
	if (r < 0)
		return r;
	/* §5.7: the last net_seq_num sent, all ones if none */
	(void)cl_relayd_tx_u64_pair(&wb, st->handle,
				    st->has_packet ? st->next_seq - 1 : UINT64_MAX);
	r = cl_prod_ctrl(st->p, CL_RELAYD_CLOSE_STREAM, buf, wb.pos, PEND_CHECK, NULL, 0);
	if (r == 0)
		st->closed = true;
	return r;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One data-pending round (§5.8-5.10): 0 nothing pending, 1 pending. */
static int data_pending_round(struct ctflive_producer *p)
{
	uint8_t buf[16];
	struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));
	int r;

	(void)cl_relayd_tx_u64(&wb, p->session_id);
	r = cl_prod_request(p, CL_RELAYD_BEGIN_DATA_PENDING, buf, wb.pos);
	if (r < 0 || (r = check_ok(p, CL_RELAYD_BEGIN_DATA_PENDING, 0)) < 0)
		return r;
	for (size_t i = 0; i < p->nstreams; i++) {
		struct ctflive_producer_stream *st = p->streams[i];

		/* every stream, also one that sent nothing (last net_seq_num
		 * all ones): the relay counts a stream not asked about as
		 * pending until it is closed */
		if (!st->added || st->closed)
			continue;
		wb = cl_wbuf_make(buf, sizeof(buf));
		(void)cl_relayd_tx_u64_pair(&wb, st->handle,
					    st->has_packet ? st->next_seq - 1 : UINT64_MAX);
		r = cl_prod_request(p, CL_RELAYD_DATA_PENDING, buf, wb.pos);
		if (r < 0)
			return r;
		if (cl_load_be32(p->sync_rep) == 1)
			return 1; /* as the consumer: no END after a pending stream */
		if (cl_load_be32(p->sync_rep) != 0)
			return cl_prod_fail(p, -EPROTO, "the relay answered DATA_PENDING with %u",
					    cl_load_be32(p->sync_rep));
		cl_prod_confirm(st, st->next_seq - 1);
	}
	for (size_t i = 0; i < p->ntraces; i++) {
		wb = cl_wbuf_make(buf, sizeof(buf));
		(void)cl_relayd_tx_u64(&wb, p->traces[i]->md_handle);
		r = cl_prod_request(p, CL_RELAYD_QUIESCENT_CONTROL, buf, wb.pos);
		if (r < 0 || (r = check_ok(p, CL_RELAYD_QUIESCENT_CONTROL, 0)) < 0)
			return r;
	}
	wb = cl_wbuf_make(buf, sizeof(buf));
	(void)cl_relayd_tx_u64(&wb, p->session_id);
	r = cl_prod_request(p, CL_RELAYD_END_DATA_PENDING, buf, wb.pos);
	if (r < 0)
		return r;
	return cl_load_be32(p->sync_rep) == 0 ? 0 : 1;
}

/* Final beacons, then data-pending rounds until the relay has every packet
 * sent, until *deadline (ms, mono_ms()). Returns 0 or -errno. */
static int drain(struct ctflive_producer *p, int timeout_ms, int64_t *deadline)
{
	int r;

	*deadline = mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	r = final_beacons(p);
	if (r == 0)
		r = cl_prod_pump(p, timeout_ms < 0 ? 0 : timeout_ms);
	while (r == 0) {
		r = data_pending_round(p);
		if (r <= 0)
			break;
		if (mono_ms() + 200 > *deadline) {
			r = cl_prod_fail(p, -ETIMEDOUT, "the relay still misses data after %d ms",
					 timeout_ms);
			break;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 200000000 }, NULL);
		r = cl_prod_pump(p, (int)(*deadline - mono_ms()));
	}
	if (r == -EAGAIN)
		r = cl_prod_fail(p, -ETIMEDOUT, "the relay did not take the data within %d ms",
				 timeout_ms);
	return r;
}

int ctflive_producer_finish(struct ctflive_producer *p, int timeout_ms)
{
	int64_t deadline;
	uint8_t buf[16];
	int r;

	if (!p)
		return -EINVAL;
	if (p->cfd < 0)
		return -ENOTCONN;
	r = drain(p, timeout_ms, &deadline);
	if (r < 0)
		return r;
	/* §7.5: metadata streams first, then the data streams */
	for (size_t i = 0; r == 0 && i < p->ntraces; i++) {
		struct cl_wbuf wb = cl_wbuf_make(buf, sizeof(buf));

		(void)cl_relayd_tx_u64_pair(&wb, p->traces[i]->md_handle, UINT64_MAX);
		r = cl_prod_ctrl(p, CL_RELAYD_CLOSE_STREAM, buf, wb.pos, PEND_CHECK, NULL, 0);
	}
	for (size_t i = 0; r == 0 && i < p->nstreams; i++) {
		if (!p->streams[i]->closed && p->streams[i]->added)
			r = ctflive_producer_close_stream(p->streams[i]);
	}
	if (r == 0)
		r = cl_prod_pump(p, (int)CL_MAX(deadline - mono_ms(), 1000));
	if (r == -EAGAIN)
		r = cl_prod_fail(p, -ETIMEDOUT, "no reply to CLOSE_STREAM");
	if (r < 0)
		return r;
	p->lost_fn = NULL; /* nothing is in flight any more */
	cl_prod_close(p);
	return 0;
}

int ctflive_producer_abandon(struct ctflive_producer *p, int timeout_ms)
{
	int64_t deadline;
	int r;

	if (!p)
		return -EINVAL;
	if (p->cfd < 0)
		return -ENOTCONN;
	r = drain(p, timeout_ms, &deadline);
	if (r < 0)
		return r;
	/* No CLOSE_STREAM: the streams are open when the connections close,
	 * which a relay takes for a consumer that went away. */
	p->lost_fn = NULL; /* every packet sent is confirmed */
	cl_prod_close(p);
	return 0;
}

void ctflive_producer_set_lost_cb(struct ctflive_producer *p, ctflive_producer_lost_fn fn,
				  void *ctx)
{
	p->lost_fn = fn;
	p->lost_ctx = ctx;
}

void ctflive_producer_get_stats(const struct ctflive_producer *p,
				struct ctflive_producer_stats *ret)
{
	*ret = p->stats;
}

const char *ctflive_producer_output_path(const struct ctflive_producer *p)
{
	return p->out_path;
}

const char *ctflive_producer_error(const struct ctflive_producer *p)
{
	return p->err;
}

const char *ctflive_producer_stream_name(const struct ctflive_producer_stream *st)
{
	return st->name;
}

struct ctflive_producer_trace *
ctflive_producer_stream_trace(const struct ctflive_producer_stream *st)
{
	return st->tr;
}
