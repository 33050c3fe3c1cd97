/* SPDX-License-Identifier: MIT */
/*
 * JSON Lines output: one object per event or discarded-items record.
 * Schema: doc/ctf-json.md.
 *
 * The escaper is written here rather than taken from a JSON library: it is
 * the only JSON operation on the hot path, it is small, and doing it in place
 * in the output buffer avoids building a DOM per event (jansson would
 * allocate every node of every event). Invalid UTF-8 bytes are replaced by
 * U+FFFD so every line is valid JSON whatever the trace contains.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "print.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1fu;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0fu;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07u;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

static void json_str(struct cl_obuf *b, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	cl_ob_putc(b, '"');
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			size_t k = i + 1;

			while (k < n && s[k] >= 0x20 && s[k] < 0x80 && s[k] != '"' && s[k] != '\\')
				k++;
			cl_ob_put(b, s + i, k - i);
			i = k;
			continue;
		}
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			cl_ob_put(b, e, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			switch (c) {
			case '\n':
				CL_OB_LIT(b, "\\n");
				break;
			case '\t':
				CL_OB_LIT(b, "\\t");
				break;
			case '\r':
				CL_OB_LIT(b, "\\r");
				break;
			default:
				cl_ob_put(b, e, 6);
			}
			i++;
		} else {
			size_t l = utf8_len(s + i, n - i);

			if (l == 0) {
				CL_OB_LIT(b, "\\ufffd");
				i++;
			} else {
				cl_ob_put(b, s + i, l);
				i += l;
			}
		}
	}
	cl_ob_putc(b, '"');
}

/* A string value: UTF-16/UTF-32 converted to UTF-8, up to a zero code unit. */
static void json_text(struct cl_obuf *b, const uint8_t *s, size_t n, unsigned enc)
{
	uint8_t tmp[1024];
	size_t used, k, start;
	bool nul = false;

	if ((enc & CL_ENC_UNIT) <= 1) {
		const uint8_t *z = memchr(s, 0, n);

		json_str(b, s, z ? (size_t)(z - s) : n);
		return;
	}
	/* whole code points per chunk, so escaping chunk by chunk is exact */
	cl_ob_putc(b, '"');
	while (n && !nul) {
		k = cl_utf_to_utf8(s, n, enc, &used, &nul, tmp, sizeof(tmp));
		start = b->len;
		json_str(b, tmp, k);
		/* drop the quotes json_str put around the chunk */
		if (!b->oom && b->len >= start + 2) {
			memmove(b->d + start, b->d + start + 1, b->len - start - 2);
			b->len -= 2;
		}
		s += used;
		n -= used;
	}
	cl_ob_putc(b, '"');
}

static void json_cstr(struct cl_obuf *b, const char *s)
{
	json_str(b, (const uint8_t *)s, strlen(s));
}

static size_t json_node(struct cl_obuf *b, const struct cl_node *n, const struct cl_val *v,
			size_t i);

static size_t json_struct(struct cl_obuf *b, const struct cl_node *n, const struct cl_val *v,
			  size_t i)
{
	bool first = true;

	cl_ob_putc(b, '{');
	for (uint32_t k = 0; k < n->nkids; k++) {
		const struct cl_node *kid = n->kids[k];

		if (!(kid->flags & CL_N_PRINT)) {
			i = cl_skip_values(kid, v, i);
			continue;
		}
		if (!first)
			cl_ob_putc(b, ',');
		first = false;
		cl_ob_put(b, kid->jkey, kid->jkey_len);
		i = json_node(b, kid, v, i);
	}
	cl_ob_putc(b, '}');
	return i;
}

static void json_int(struct cl_obuf *b, const struct cl_node *n, uint64_t v)
{
	if (n->flags & CL_N_SIGNED)
		cl_ob_i64(b, (int64_t)v);
	else
		cl_ob_u64(b, v);
}

static size_t json_node(struct cl_obuf *b, const struct cl_node *n, const struct cl_val *v,
			size_t i)
{
	char tmp[64];

	switch (n->kind) {
	case CL_K_INT:
		if (n->flags & CL_N_BOOL) {
			if (v[i].u)
				CL_OB_LIT(b, "true");
			else
				CL_OB_LIT(b, "false");
			return i + 1;
		}
		json_int(b, n, v[i].u);
		return i + 1;
	case CL_K_ENUM:
		if (n->flags & CL_N_BITMAP) {
			CL_OB_LIT(b, "{\"value\":");
			json_int(b, n, v[i].u);
			CL_OB_LIT(b, ",\"flags\":[");
			cl_bitmap_flags(b, n->type, v[i].u, true);
			CL_OB_LIT(b, "]}");
			return i + 1;
		}
		CL_OB_LIT(b, "{\"value\":");
		json_int(b, n, v[i].u);
		CL_OB_LIT(b, ",\"labels\":[");
		cl_text_enum_labels(b, n->type, v[i].u, true);
		CL_OB_LIT(b, "]}");
		return i + 1;
	case CL_K_FLOAT:
		if (isfinite(v[i].d)) {
			snprintf(tmp, sizeof(tmp), "%.17g", v[i].d);
			cl_ob_puts(b, tmp);
		} else {
			CL_OB_LIT(b, "null");
		}
		return i + 1;
	case CL_K_STRING:
		if (n->enc)
			json_text(b, v[i].p, (size_t)v[i].n, n->enc);
		else
			json_str(b, v[i].p, (size_t)v[i].n);
		return i + 1;
	case CL_K_OPT:
		if (!v[i].n) {
			CL_OB_LIT(b, "null");
			return i + 1;
		}
		return json_node(b, n->elem, v, i + 1);
	case CL_K_STRUCT:
		return json_struct(b, n, v, i);
	case CL_K_VARIANT: {
		const struct cl_node *opt = n->kids[v[i].n];

		CL_OB_LIT(b, "{\"option\":");
		if (opt->name)
			json_cstr(b, opt->name);
		else
			cl_ob_u64(b, v[i].n); /* unnamed CTF 2 option: its index */
		CL_OB_LIT(b, ",\"value\":");
		i = json_node(b, opt, v, i + 1);
		cl_ob_putc(b, '}');
		return i;
	}
	case CL_K_ARRAY:
	case CL_K_SEQ: {
		uint64_t len = v[i].n;

		if (n->flags & CL_N_BLOB) {
			static const char hex[] = "0123456789abcdef";

			CL_OB_LIT(b, "{\"media_type\":");
			json_cstr(b, n->type->media_type ? n->type->media_type
							 : "application/octet-stream");
			CL_OB_LIT(b, ",\"hex\":\"");
			for (uint64_t k = 0; k < len; k++) {
				char x[2] = { hex[v[i].p[k] >> 4], hex[v[i].p[k] & 15] };

				cl_ob_put(b, x, 2);
			}
			CL_OB_LIT(b, "\"}");
			return i + 1;
		}
		if (n->flags & CL_N_TEXT) {
			json_text(b, v[i].p, (size_t)len, n->enc);
			return i + 1;
		}
		i++;
		cl_ob_putc(b, '[');
		for (uint64_t k = 0; k < len; k++) {
			if (k)
				cl_ob_putc(b, ',');
			i = json_node(b, n->elem, v, i);
		}
		cl_ob_putc(b, ']');
		return i;
	}
	default:
		return i + 1;
	}
}

void cl_format_iso8601(struct cl_obuf *b, int64_t ns)
{
	int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
	struct tm tm;
	time_t tt;
	char tmp[40];
	size_t n;

	if (nsec < 0) {
		sec--;
		nsec += 1000000000;
	}
	tt = (time_t)sec;
	if (!gmtime_r(&tt, &tm)) {
		CL_OB_LIT(b, "null");
		return;
	}
	n = strftime(tmp, sizeof(tmp), "\"%Y-%m-%dT%H:%M:%S.", &tm);
	cl_ob_put(b, tmp, n);
	cl_ob_u64_pad(b, (uint64_t)nsec, 9);
	CL_OB_LIT(b, "Z\"");
}

static void json_identity(struct cl_obuf *b, const struct ctflive_ctf_stream *s)
{
	CL_OB_LIT(b, ",\"trace\":");
	json_cstr(b, s->trace_name ? s->trace_name : s->trace_path ? s->trace_path : "");
	CL_OB_LIT(b, ",\"trace_uuid\":");
	if (s->t->has_uuid)
		json_cstr(b, s->t->uuid_str);
	else
		CL_OB_LIT(b, "null");
	CL_OB_LIT(b, ",\"stream\":");
	json_cstr(b, s->stream_name ? s->stream_name : "");
	CL_OB_LIT(b, ",\"stream_class_id\":");
	cl_ob_u64(b, s->sc_id);
	CL_OB_LIT(b, ",\"stream_id\":");
	cl_ob_u64(b, s->stream_id);
}

static void json_scope(struct cl_obuf *b, const char *key, const struct cl_node *n,
		       const struct cl_vals *v)
{
	CL_OB_LIT(b, ",\"");
	cl_ob_puts(b, key);
	CL_OB_LIT(b, "\":");
	json_struct(b, n, v->v, 0);
}

/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" with the date part cached per second */
static void json_time(struct ctflive_ctf_printer *p, int64_t ns)
{
	struct cl_obuf *b = &p->out;
	int64_t sec = ns / 1000000000, nsec = ns % 1000000000;

	if (nsec < 0) {
		sec--;
		nsec += 1000000000;
	}
	if (!p->cached_valid || p->cached_sec != sec) {
		struct tm tm;
		time_t tt = (time_t)sec;

		if (!gmtime_r(&tt, &tm)) {
			CL_OB_LIT(b, "null");
			return;
		}
		p->cached_len = strftime(p->cached, sizeof(p->cached), "\"%Y-%m-%dT%H:%M:%S.", &tm);
		p->cached_sec = sec;
		p->cached_valid = true;
	}
	cl_ob_put(b, p->cached, p->cached_len);
	cl_ob_u64_pad(b, (uint64_t)nsec, 9);
	CL_OB_LIT(b, "Z\"");
}

int cl_json_event(struct ctflive_ctf_printer *p, const struct ctflive_ctf_stream *s,
		  const struct ctflive_ctf_msg *m)
{
	struct cl_obuf *b = &p->out;
	const struct ctflive_ctf_event *e = m->event;
	const struct cl_stream_class *sc = s->sc;
	/* caches live in the stream, which is otherwise read-only here */
	struct ctflive_ctf_stream *ms = (struct ctflive_ctf_stream *)(uintptr_t)s;
	size_t start;

	CL_OB_LIT(b, "{\"type\":\"event\"");
	if (m->has_time) {
		int64_t ns = (int64_t)((uint64_t)m->ns + (uint64_t)p->offset_ns);

		CL_OB_LIT(b, ",\"timestamp_ns\":");
		cl_ob_i64(b, ns);
		CL_OB_LIT(b, ",\"time\":");
		json_time(p, ns);
		CL_OB_LIT(b, ",\"cycles\":");
		cl_ob_u64(b, m->cycles);
	}
	if (ms->jid_owner == p) {
		cl_ob_put(b, ms->jid_text, ms->jid_len);
	} else {
		size_t cap = ms->jid_len;

		start = b->len;
		json_identity(b, s);
		if (cl_cache_tail(b, start, &ms->jid_text, &ms->jid_len, &cap) < 0)
			return -ENOMEM;
		ms->jid_owner = p;
	}
	if (p->jev_ec == e->ec) {
		cl_ob_put(b, p->jev_text, p->jev_len);
	} else {
		start = b->len;
		CL_OB_LIT(b, ",\"name\":");
		json_cstr(b, e->ec->name);
		CL_OB_LIT(b, ",\"id\":");
		cl_ob_u64(b, e->ec->id);
		if (e->ec->loglevel >= 0) {
			CL_OB_LIT(b, ",\"loglevel\":");
			cl_ob_u64(b, (uint64_t)e->ec->loglevel);
		}
		if (cl_cache_tail(b, start, &p->jev_text, &p->jev_len, &p->jev_cap) < 0)
			return -ENOMEM;
		p->jev_ec = e->ec;
	}
	if (sc->pkt_ctx_printed) {
		if (ms->pc_owner == p && ms->pc_pkt == s->npackets && ms->pc_flags == p->flags) {
			cl_ob_put(b, ms->pc_text, ms->pc_len);
		} else {
			start = b->len;
			json_scope(b, "packet_context", sc->pkt_ctx, &s->vals[CL_V_PCTX]);
			if (cl_cache_tail(b, start, &ms->pc_text, &ms->pc_len, &ms->pc_cap) < 0)
				return -ENOMEM;
			ms->pc_owner = p;
			ms->pc_pkt = s->npackets;
			ms->pc_flags = p->flags;
		}
	}
	if (sc->ev_ctx_printed)
		json_scope(b, "stream_event_context", sc->ev_ctx, &s->vals[CL_V_SCTX]);
	if (e->ec->ctx_printed)
		json_scope(b, "event_context", e->ec->ctx, &s->vals[CL_V_ECTX]);
	if (e->ec->fields_printed)
		json_scope(b, "payload", e->ec->fields, &s->vals[CL_V_PAY]);
	CL_OB_LIT(b, "}\n");
	return b->oom ? -ENOMEM : 1;
}

int cl_json_discard(struct ctflive_ctf_printer *p, const struct ctflive_ctf_stream *s,
		    const struct ctflive_ctf_msg *m)
{
	struct cl_obuf *b = &p->out;
	bool ev = m->type == CTFLIVE_CTF_MSG_DISCARDED_EVENTS;

	cl_ob_puts(b, ev ? "{\"type\":\"discarded_events\"" : "{\"type\":\"discarded_packets\"");
	if (!ev && m->lost_in_transit)
		CL_OB_LIT(b, ",\"lost_in_transit\":true");
	CL_OB_LIT(b, ",\"count\":");
	if (m->count_known)
		cl_ob_u64(b, m->count);
	else
		CL_OB_LIT(b, "null");
	if (m->has_range) {
		int64_t bns = (int64_t)((uint64_t)m->begin_ns + (uint64_t)p->offset_ns);
		int64_t ens = (int64_t)((uint64_t)m->end_ns + (uint64_t)p->offset_ns);

		CL_OB_LIT(b, ",\"begin_ns\":");
		cl_ob_i64(b, bns);
		CL_OB_LIT(b, ",\"begin_time\":");
		cl_format_iso8601(b, bns);
		CL_OB_LIT(b, ",\"end_ns\":");
		cl_ob_i64(b, ens);
		CL_OB_LIT(b, ",\"end_time\":");
		cl_format_iso8601(b, ens);
	}
	json_identity(b, s);
	CL_OB_LIT(b, "}\n");
	return b->oom ? -ENOMEM : 1;
}
