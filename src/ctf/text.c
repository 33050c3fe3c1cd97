/* SPDX-License-Identifier: MIT */
/*
 * babeltrace2 2.1.2 `sink.text.pretty` output, byte for byte (2.0.4 for CTF 1.8
 * but for the label order of enumerations: doc/ctf-decoder.md)
 * (ctf-decoding.md §5): line layout, timestamps and deltas, field values,
 * string escaping and the discarded-items warnings.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grow.h"
#include "print.h"

static const char *const loglevel_names[] = {
	"TRACE_EMERG",          "TRACE_ALERT",         "TRACE_CRIT",         "TRACE_ERR",
	"TRACE_WARNING",        "TRACE_NOTICE",        "TRACE_INFO",         "TRACE_DEBUG_SYSTEM",
	"TRACE_DEBUG_PROGRAM",  "TRACE_DEBUG_PROCESS", "TRACE_DEBUG_MODULE", "TRACE_DEBUG_UNIT",
	"TRACE_DEBUG_FUNCTION", "TRACE_DEBUG_LINE",    "TRACE_DEBUG",
};

int cl_obuf_grow(struct cl_obuf *b, size_t need)
{
	/* at least 64 KiB, then at least twice the size: few copies */
	size_t want = b->cap < 65536 ? 65536 : b->cap * 2;

	if (need > SIZE_MAX / 4 - b->len) {
		b->oom = true;
		return -ENOMEM;
	}
	if (want < b->len + need)
		want = b->len + need;
	if (cl_grow(&b->d, &b->cap, want) < 0) {
		b->oom = true;
		return -ENOMEM;
	}
	return 0;
}

int ctflive_ctf_printer_new(unsigned flags, struct ctflive_ctf_printer **ret)
{
	struct ctflive_ctf_printer *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->flags = flags;
	if (cl_obuf_grow(&p->out, 1 << 20) < 0) {
		free(p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

int cl_cache_tail(const struct cl_obuf *b, size_t start, char **text, size_t *len, size_t *cap)
{
	size_t n = b->len - start;

	if (b->oom)
		return -ENOMEM;
	if (cl_grow(text, cap, n) < 0)
		return -ENOMEM;
	memcpy(*text, b->d + start, n);
	*len = n;
	return 0;
}

struct ctflive_ctf_printer *ctflive_ctf_printer_free(struct ctflive_ctf_printer *p)
{
	if (p) {
		free(p->jev_text);
		free(p->out.d);
		free(p->warn.d);
		free(p);
	}
	return NULL;
}

void ctflive_ctf_printer_set_clock_offset(struct ctflive_ctf_printer *p, int64_t ns)
{
	p->offset_ns = ns;
}

struct ctflive_bytes ctflive_ctf_printer_output(const struct ctflive_ctf_printer *p, int which)
{
	const struct cl_obuf *b = which ? &p->warn : &p->out;

	return (struct ctflive_bytes){ .data = (const uint8_t *)b->d, .len = b->len };
}

void ctflive_ctf_printer_clear(struct ctflive_ctf_printer *p, int which)
{
	struct cl_obuf *b = which ? &p->warn : &p->out;

	b->len = 0;
}

/* ---- values ----------------------------------------------------------- */

/* babeltrace2's escaping of strings, text arrays and enum labels (§5.4),
 * without the quotes. */
static void put_escaped_body(struct cl_obuf *b, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	if (cl_ob_reserve(b, n + 2) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		const char *e = NULL;
		char x[4];

		if (c >= 0x20 && c != 0x7f && c != '\\' && c != '"' && c != '\'' && c != '?') {
			run++;
			continue;
		}
		if (run) {
			cl_ob_put(b, s + i - run, run);
			run = 0;
		}
		switch (c) {
		case '\\':
			e = "\\\\";
			break;
		case '"':
			e = "\\\"";
			break;
		case '\'':
			e = "\\'";
			break;
		case '?':
			e = "\\?";
			break;
		case 7:
			e = "\\a";
			break;
		case 8:
			e = "\\b";
			break;
		case 0x1b:
			e = "\\e";
			break;
		case 12:
			e = "\\f";
			break;
		case 10:
			e = "\\n";
			break;
		case 13:
			e = "\\r";
			break;
		case 9:
			e = "\\t";
			break;
		case 11:
			e = "\\v";
			break;
		default:
			x[0] = '\\';
			x[1] = 'x';
			x[2] = hex[c >> 4];
			x[3] = hex[c & 15];
			cl_ob_put(b, x, 4);
			continue;
		}
		cl_ob_put(b, e, 2);
	}
	if (run)
		cl_ob_put(b, s + n - run, run);
}

static void put_escaped(struct cl_obuf *b, const uint8_t *s, size_t n)
{
	cl_ob_putc(b, '"');
	put_escaped_body(b, s, n);
	cl_ob_putc(b, '"');
}

static void put_utf8(uint8_t *o, size_t *k, uint32_t cp)
{
	if (cp < 0x80) {
		o[(*k)++] = (uint8_t)cp;
	} else if (cp < 0x800) {
		o[(*k)++] = (uint8_t)(0xc0 | cp >> 6);
		o[(*k)++] = (uint8_t)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		o[(*k)++] = (uint8_t)(0xe0 | cp >> 12);
		o[(*k)++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[(*k)++] = (uint8_t)(0x80 | (cp & 0x3f));
	} else {
		o[(*k)++] = (uint8_t)(0xf0 | cp >> 18);
		o[(*k)++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		o[(*k)++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[(*k)++] = (uint8_t)(0x80 | (cp & 0x3f));
	}
}

static uint32_t load_unit(const uint8_t *p, unsigned unit, bool be)
{
	uint32_t v = 0;

	for (unsigned k = 0; k < unit; k++)
		v |= (uint32_t)p[be ? k : unit - 1 - k] << (8 * (unit - 1 - k));
	return v;
}

size_t cl_utf_to_utf8(const uint8_t *p, size_t n, unsigned enc, size_t *used, bool *nul,
		      uint8_t *out, size_t cap)
{
	unsigned unit = enc & CL_ENC_UNIT;
	bool be = (enc & CL_ENC_BE) != 0;
	size_t i = 0, k = 0;

	*nul = false;
	while (i < n && k + 4 <= cap) {
		uint32_t cp;

		if (n - i < unit) {
			put_utf8(out, &k, 0xfffd);
			i = n;
			break;
		}
		cp = load_unit(p + i, unit, be);
		if (cp == 0) {
			*nul = true;
			break;
		}
		i += unit;
		if (unit == 2 && cp >= 0xd800 && cp <= 0xdbff && n - i >= 2) {
			uint32_t lo = load_unit(p + i, 2, be);

			if (lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 2;
			}
		}
		if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			cp = 0xfffd;
		put_utf8(out, &k, cp);
	}
	*used = i;
	return k;
}

/* A string or text array value: UTF-8 bytes as they are, UTF-16/UTF-32
 * converted to UTF-8 (as babeltrace2 2.1 does) up to a zero code unit. */
static void put_text(struct cl_obuf *b, const uint8_t *s, size_t n, unsigned enc)
{
	uint8_t tmp[1024];
	size_t used, k;
	bool nul = false;

	if (!(enc & CL_ENC_UNIT) || (enc & CL_ENC_UNIT) == 1) {
		const uint8_t *z = memchr(s, 0, n);

		put_escaped(b, s, z ? (size_t)(z - s) : n);
		return;
	}
	cl_ob_putc(b, '"');
	while (n && !nul) {
		k = cl_utf_to_utf8(s, n, enc, &used, &nul, tmp, sizeof(tmp));
		put_escaped_body(b, tmp, k);
		s += used;
		n -= used;
	}
	cl_ob_putc(b, '"');
}

/* `{ 00 ab ff }`: a BLOB as babeltrace2 2.1 prints it. */
static void put_blob(struct cl_obuf *b, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	if (cl_ob_reserve(b, n * 3 + 4) < 0)
		return;
	CL_OB_LIT(b, "{ ");
	for (size_t i = 0; i < n; i++) {
		char x[3] = { hex[s[i] >> 4], hex[s[i] & 15], ' ' };

		cl_ob_put(b, x, 3);
	}
	cl_ob_putc(b, '}');
}

static void put_int(struct cl_obuf *b, const struct cl_node *n, uint64_t v)
{
	char tmp[80];
	unsigned size = n->size;

	switch (n->base) {
	case 16: {
		unsigned bits = (size + 3) / 4 * 4;

		if (bits < 64)
			v &= (UINT64_C(1) << bits) - 1;
		snprintf(tmp, sizeof(tmp), "0x%" PRIX64, v);
		cl_ob_puts(b, tmp);
		return;
	}
	case 8: {
		unsigned bits = (size + 2) / 3 * 3;

		if ((n->flags & CL_N_SIGNED) && bits < 64)
			v &= (UINT64_C(1) << bits) - 1;
		snprintf(tmp, sizeof(tmp), "0%" PRIo64, v);
		cl_ob_puts(b, tmp);
		return;
	}
	case 2:
		cl_ob_putc(b, '0');
		cl_ob_putc(b, 'b');
		for (unsigned i = size; i-- > 0;)
			cl_ob_putc(b, (v >> i) & 1 ? '1' : '0');
		return;
	default:
		if (n->flags & CL_N_SIGNED)
			cl_ob_i64(b, (int64_t)v);
		else
			cl_ob_u64(b, v);
	}
}

static bool map_has(const struct cl_type *et, const struct cl_enum_map *m, uint64_t v)
{
	if (et->is_signed)
		return (int64_t)v >= (int64_t)m->lo && (int64_t)v <= (int64_t)m->hi;
	return v >= m->lo && v <= m->hi;
}

/* A label as a JSON string (labels come from metadata: escaped here). */
static void put_json_label(struct cl_obuf *b, const char *lab)
{
	cl_ob_putc(b, '"');
	for (const char *c = lab; *c; c++) {
		if (*c == '"' || *c == '\\')
			cl_ob_putc(b, '\\');
		if ((unsigned char)*c < 0x20) {
			char x[8];

			snprintf(x, sizeof(x), "\\u%04x", (unsigned)(unsigned char)*c);
			cl_ob_puts(b, x);
			continue;
		}
		cl_ob_putc(b, *c);
	}
	cl_ob_putc(b, '"');
}

/*
 * Labels whose ranges contain v, each once. Text: in babeltrace2 2.1's order
 * (struct cl_type.lorder), `"A"`, or `{ "A", "B" }` for several,
 * `<unknown>` for none. JSON: `"A","B"` in order of first declaration.
 */
void cl_text_enum_labels(struct cl_obuf *b, const struct cl_type *et, uint64_t v, bool json)
{
	bool any = false;

	if (!json && et->lorder) {
		/* babeltrace2 2.1: its label order, `{ "A", "B" }` for several */
		uint32_t hits = 0;

		for (uint32_t k = 0; k < et->nlorder && hits < 2; k++) {
			const char *lab = et->maps[et->lorder[k]].label;

			for (uint32_t j = et->lorder[k]; j < et->nmaps; j++) {
				if (!strcmp(et->maps[j].label, lab) &&
				    map_has(et, &et->maps[j], v)) {
					hits++;
					break;
				}
			}
		}
		if (!hits) {
			CL_OB_LIT(b, "<unknown>");
			return;
		}
		if (hits > 1)
			CL_OB_LIT(b, "{ ");
		for (uint32_t k = 0; k < et->nlorder; k++) {
			const char *lab = et->maps[et->lorder[k]].label;

			for (uint32_t j = et->lorder[k]; j < et->nmaps; j++) {
				if (!strcmp(et->maps[j].label, lab) &&
				    map_has(et, &et->maps[j], v)) {
					if (any)
						CL_OB_LIT(b, ", ");
					put_escaped(b, (const uint8_t *)lab, strlen(lab));
					any = true;
					break;
				}
			}
		}
		if (hits > 1)
			CL_OB_LIT(b, " }");
		return;
	}

	for (uint32_t i = 0; i < et->nmaps; i++) {
		const char *lab = et->maps[i].label;
		bool seen = false, hit = false;

		for (uint32_t j = 0; j < i && !seen; j++)
			seen = !strcmp(et->maps[j].label, lab);
		if (seen)
			continue;
		for (uint32_t j = i; j < et->nmaps && !hit; j++)
			hit = !strcmp(et->maps[j].label, lab) && map_has(et, &et->maps[j], v);
		if (!hit)
			continue;
		if (any)
			cl_ob_puts(b, json ? "," : ", ");
		if (json) {
			put_json_label(b, lab);
		} else {
			put_escaped(b, (const uint8_t *)lab, strlen(lab));
		}
		any = true;
	}
	if (!any && !json)
		CL_OB_LIT(b, "<unknown>");
}

size_t cl_skip_values(const struct cl_node *n, const struct cl_val *v, size_t i)
{
	if (n->nvals != CL_NVALS_VAR)
		return i + n->nvals;
	switch (n->kind) {
	case CL_K_STRUCT:
		for (uint32_t k = 0; k < n->nkids; k++)
			i = cl_skip_values(n->kids[k], v, i);
		return i;
	case CL_K_VARIANT:
		return cl_skip_values(n->kids[v[i].n], v, i + 1);
	case CL_K_OPT:
		return v[i].n ? cl_skip_values(n->elem, v, i + 1) : i + 1;
	case CL_K_ARRAY:
	case CL_K_SEQ: {
		uint64_t len = v[i].n;

		if (n->flags & CL_N_TEXT)
			return i + 1;
		i++;
		if (n->elem->nvals != CL_NVALS_VAR)
			return i + (size_t)len * n->elem->nvals;
		for (uint64_t k = 0; k < len; k++)
			i = cl_skip_values(n->elem, v, i);
		return i;
	}
	default:
		return i + 1;
	}
}

static size_t print_node(struct cl_obuf *b, const struct cl_node *n, const struct cl_val *v,
			 size_t i, bool names);

/* CTF 2 bit map: ` { "A", "B" }` after the value, the flags with a set bit
 * in one of their ranges, by name (babeltrace2 2.1); nothing when none. The
 * maps are sorted by label, so a label's ranges are adjacent. */
void cl_bitmap_flags(struct cl_obuf *b, const struct cl_type *t, uint64_t v, bool json)
{
	bool any = false;

	for (uint32_t m = 0; m < t->nmaps; m++) {
		const struct cl_enum_map *mp = &t->maps[m];
		bool set = false;

		if (m > 0 && !strcmp(mp->label, t->maps[m - 1].label))
			continue;
		for (uint32_t k = m; k < t->nmaps && !strcmp(t->maps[k].label, mp->label); k++)
			for (uint64_t bit = t->maps[k].lo; bit <= t->maps[k].hi && bit < 64 && !set;
			     bit++)
				set = (v >> bit) & 1;
		if (!set)
			continue;
		if (json) {
			if (any)
				cl_ob_putc(b, ',');
			put_json_label(b, mp->label);
			any = true;
			continue;
		}
		if (any)
			CL_OB_LIT(b, ", \"");
		else
			CL_OB_LIT(b, " { \"");
		cl_ob_puts(b, mp->label);
		cl_ob_putc(b, '"');
		any = true;
	}
	if (any && !json)
		CL_OB_LIT(b, " }");
}

static size_t print_struct(struct cl_obuf *b, const struct cl_node *n, const struct cl_val *v,
			   size_t i, bool names)
{
	bool first = true;

	cl_ob_putc(b, '{');
	for (uint32_t k = 0; k < n->nkids; k++) {
		const struct cl_node *kid = n->kids[k];

		if (!(kid->flags & CL_N_PRINT)) {
			i = cl_skip_values(kid, v, i);
			continue;
		}
		if (names)
			cl_ob_put(b, kid->sep + first, kid->sep_len - first);
		else if (first)
			cl_ob_putc(b, ' ');
		else
			CL_OB_LIT(b, ", ");
		first = false;
		i = print_node(b, kid, v, i, names);
	}
	CL_OB_LIT(b, " }");
	return i;
}

static size_t print_node(struct cl_obuf *b, const struct cl_node *n, const struct cl_val *v,
			 size_t i, bool names)
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
		put_int(b, n, v[i].u);
		return i + 1;
	case CL_K_ENUM:
		if (n->flags & CL_N_BITMAP) {
			put_int(b, n, v[i].u);
			cl_bitmap_flags(b, n->type, v[i].u, false);
			return i + 1;
		}
		CL_OB_LIT(b, "( ");
		cl_text_enum_labels(b, n->type, v[i].u, false);
		CL_OB_LIT(b, " : container = ");
		put_int(b, n, v[i].u);
		CL_OB_LIT(b, " )");
		return i + 1;
	case CL_K_FLOAT:
		snprintf(tmp, sizeof(tmp), "%g", v[i].d);
		cl_ob_puts(b, tmp);
		return i + 1;
	case CL_K_STRING:
		if (n->enc)
			put_text(b, v[i].p, (size_t)v[i].n, n->enc);
		else
			put_escaped(b, v[i].p, (size_t)v[i].n);
		return i + 1;
	case CL_K_STRUCT:
		return print_struct(b, n, v, i, names);
	case CL_K_OPT:
		if (!v[i].n) {
			CL_OB_LIT(b, "<none>");
			return i + 1;
		}
		CL_OB_LIT(b, "{ ");
		i = print_node(b, n->elem, v, i + 1, names);
		CL_OB_LIT(b, " }");
		return i;
	case CL_K_VARIANT:
		CL_OB_LIT(b, "{ ");
		i = print_node(b, n->kids[v[i].n], v, i + 1, names);
		CL_OB_LIT(b, " }");
		return i;
	case CL_K_ARRAY:
	case CL_K_SEQ: {
		uint64_t len = v[i].n;

		if (n->flags & CL_N_BLOB) {
			put_blob(b, v[i].p, (size_t)len);
			return i + 1;
		}
		if (n->flags & CL_N_TEXT) {
			put_text(b, v[i].p, (size_t)len, n->enc);
			return i + 1;
		}
		i++;
		cl_ob_putc(b, '[');
		for (uint64_t k = 0; k < len; k++) {
			cl_ob_puts(b, k ? ", " : " ");
			if (names) {
				cl_ob_putc(b, '[');
				cl_ob_u64(b, k);
				CL_OB_LIT(b, "] = ");
			}
			i = print_node(b, n->elem, v, i, names);
		}
		CL_OB_LIT(b, " ]");
		return i;
	}
	default:
		return i + 1;
	}
}

void cl_print_value(struct cl_obuf *b, const struct cl_node *n, const struct cl_val *v)
{
	print_node(b, n, v, 0, true);
}

/* ---- timestamps ------------------------------------------------------- */

static void put_time(struct ctflive_ctf_printer *p, int64_t ns, uint64_t cycles)
{
	struct cl_obuf *b = &p->out;
	unsigned f = p->flags;

	if (f & CTFLIVE_CTF_CLOCK_CYCLES) {
		cl_ob_u64_pad(b, cycles, 20);
		return;
	}
	int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
	/*
	 * A negative time, as babeltrace2 2.0.4's print_timestamp_wall() does
	 * it: with --clock-seconds, or the first time (with a warning), its
	 * magnitude in seconds after a '-'; after that, the clock time of its
	 * magnitude (an oddity of babeltrace2, reproduced).
	 */
	if (ns < 0) {
		uint64_t m = (uint64_t)0 - (uint64_t)ns;

		if ((f & CTFLIVE_CTF_CLOCK_SECONDS) || !p->neg_warned) {
			if (!(f & CTFLIVE_CTF_CLOCK_SECONDS)) {
				cl_ob_puts(&p->warn,
					   "[warning] Fallback to [sec.ns] to print negative time "
					   "value. Use --clock-seconds.\n");
				p->neg_warned = true;
			}
			cl_ob_putc(b, '-');
			cl_ob_u64(b, m / 1000000000);
			cl_ob_putc(b, '.');
			cl_ob_u64_pad(b, m % 1000000000, 9);
			return;
		}
		sec = (int64_t)(m / 1000000000);
		nsec = (int64_t)(m % 1000000000);
	} else if (f & CTFLIVE_CTF_CLOCK_SECONDS) {
		cl_ob_i64(b, sec);
		cl_ob_putc(b, '.');
		cl_ob_u64_pad(b, (uint64_t)nsec, 9);
		return;
	}
	if (!p->cached_valid || p->cached_sec != sec) {
		struct tm tm;
		time_t tt = (time_t)sec;
		size_t n;

		if (f & CTFLIVE_CTF_CLOCK_GMT)
			gmtime_r(&tt, &tm);
		else
			localtime_r(&tt, &tm);
		if (f & CTFLIVE_CTF_CLOCK_DATE)
			n = strftime(p->cached, sizeof(p->cached), "%Y-%m-%d %H:%M:%S", &tm);
		else
			n = strftime(p->cached, sizeof(p->cached), "%H:%M:%S", &tm);
		p->cached_len = n;
		p->cached_sec = sec;
		p->cached_valid = true;
	}
	cl_ob_put(b, p->cached, p->cached_len);
	cl_ob_putc(b, '.');
	cl_ob_u64_pad(b, (uint64_t)nsec, 9);
}

static void put_delta(struct ctflive_ctf_printer *p, int64_t ns, uint64_t cycles)
{
	struct cl_obuf *b = &p->out;

	if (p->flags & CTFLIVE_CTF_CLOCK_CYCLES) {
		if (!p->have_last) {
			CL_OB_LIT(b, "+????????????");
		} else {
			cl_ob_putc(b, '+');
			cl_ob_u64_pad(b, cycles - p->last_cycles, 12);
		}
	} else if (!p->have_last) {
		CL_OB_LIT(b, "+?.?????????");
	} else {
		uint64_t d = (uint64_t)ns - p->last_ns;

		cl_ob_putc(b, '+');
		cl_ob_u64(b, d / 1000000000);
		cl_ob_putc(b, '.');
		cl_ob_u64_pad(b, d % 1000000000, 9);
	}
}

/* ---- event line ------------------------------------------------------- */

static void put_scope(struct ctflive_ctf_printer *p, bool *first, const char *scope_name,
		      const struct cl_node *n, const struct cl_vals *v, bool names)
{
	struct cl_obuf *b = &p->out;

	if (!*first)
		CL_OB_LIT(b, ", ");
	*first = false;
	if (p->flags & CTFLIVE_CTF_NAMES_SCOPE) {
		cl_ob_puts(b, scope_name);
		CL_OB_LIT(b, " = ");
	}
	print_struct(b, n, v->v, 0, names);
}

static int text_event(struct ctflive_ctf_printer *p, const struct ctflive_ctf_stream *s,
		      const struct ctflive_ctf_msg *m)
{
	const struct ctflive_ctf_event *e = m->event;
	const struct ctflive_ctf_trace *t = s->t;
	const struct cl_stream_class *sc = s->sc;
	struct cl_obuf *b = &p->out;
	unsigned f = p->flags;
	bool hn = f & CTFLIVE_CTF_NAMES_HEADER;
	/* `line_start` and the separators follow babeltrace2 2.0.4's
	 * print_event_header() (plugins/text/pretty/print.c) exactly, odd
	 * spots included: with header names the trace name is followed by
	 * ", , ", and without a clock the header fields are not separated. */
	bool dom = false, first = true, line_start = true;

	if (sc->clock) {
		cl_ob_puts(b, hn ? "timestamp = " : "[");
		put_time(p, (int64_t)((uint64_t)m->ns + (uint64_t)p->offset_ns), m->cycles);
		if (!hn)
			CL_OB_LIT(b, "] ");
		if (!(f & CTFLIVE_CTF_NO_DELTA)) {
			cl_ob_puts(b, hn ? ", delta = " : "(");
			put_delta(p, m->ns, m->cycles);
			if (!hn)
				CL_OB_LIT(b, ") ");
		}
		p->have_last = true;
		p->last_ns = (uint64_t)m->ns;
		p->last_cycles = m->cycles;
		line_start = !hn;
	}
	if ((f & CTFLIVE_CTF_FIELD_TRACE) && s->trace_name) {
		if (!line_start)
			CL_OB_LIT(b, ", ");
		if (hn)
			CL_OB_LIT(b, "trace = ");
		cl_ob_puts(b, s->trace_name);
		if (hn)
			CL_OB_LIT(b, ", ");
	}
	if ((f & CTFLIVE_CTF_FIELD_HOSTNAME) && t->hostname) {
		if (!line_start)
			CL_OB_LIT(b, ", ");
		if (hn)
			CL_OB_LIT(b, "trace:hostname = ");
		cl_ob_puts(b, t->hostname);
		dom = true;
	}
	if ((f & CTFLIVE_CTF_FIELD_DOMAIN) && t->domain) {
		if (!line_start)
			CL_OB_LIT(b, ", ");
		if (hn)
			CL_OB_LIT(b, "trace:domain = ");
		else if (dom)
			cl_ob_putc(b, ':');
		cl_ob_puts(b, t->domain);
		dom = true;
	}
	if ((f & CTFLIVE_CTF_FIELD_PROCNAME) && t->procname) {
		if (!line_start)
			CL_OB_LIT(b, ", ");
		if (hn)
			CL_OB_LIT(b, "trace:procname = ");
		else if (dom)
			cl_ob_putc(b, ':');
		cl_ob_puts(b, t->procname);
		dom = true;
	}
	if ((f & CTFLIVE_CTF_FIELD_VPID) && t->has_vpid) {
		if (!line_start)
			CL_OB_LIT(b, ", ");
		if (hn)
			CL_OB_LIT(b, "trace:vpid = ");
		else if (dom)
			cl_ob_putc(b, ':');
		cl_ob_putc(b, '(');
		cl_ob_i64(b, t->vpid);
		cl_ob_putc(b, ')');
		dom = true;
	}
	if ((f & CTFLIVE_CTF_FIELD_LOGLEVEL) && e->ec->loglevel >= 0) {
		if (!line_start)
			CL_OB_LIT(b, ", ");
		if (hn)
			CL_OB_LIT(b, "loglevel = ");
		else if (dom)
			cl_ob_putc(b, ':');
		cl_ob_puts(b, loglevel_names[e->ec->loglevel]);
		CL_OB_LIT(b, " (");
		cl_ob_u64(b, (uint64_t)e->ec->loglevel);
		cl_ob_putc(b, ')');
		dom = true;
	}
	if ((f & CTFLIVE_CTF_FIELD_EMF) && e->ec->emf_uri) {
		if (!line_start)
			CL_OB_LIT(b, ", ");
		if (hn)
			CL_OB_LIT(b, "model.emf.uri = ");
		else if (dom)
			cl_ob_putc(b, ':');
		cl_ob_puts(b, e->ec->emf_uri);
		dom = true;
	}
	if (dom && !hn)
		cl_ob_putc(b, ' ');
	if (!line_start)
		CL_OB_LIT(b, ", ");
	if (hn)
		CL_OB_LIT(b, "name = ");
	cl_ob_put(b, e->ec->name, e->ec->name_len);
	if (hn)
		CL_OB_LIT(b, ", ");
	else
		CL_OB_LIT(b, ": ");
	if (sc->pkt_ctx_printed) {
		/* the same for every event of a packet: formatted once per packet
		 * (the cache lives in the stream, which is otherwise read-only) */
		struct ctflive_ctf_stream *ms = (struct ctflive_ctf_stream *)(uintptr_t)s;

		if (ms->pc_owner != p || ms->pc_pkt != s->npackets || ms->pc_flags != f) {
			size_t start = b->len;

			put_scope(p, &first, "stream.packet.context", sc->pkt_ctx,
				  &s->vals[CL_V_PCTX], f & CTFLIVE_CTF_NAMES_CONTEXT);
			if (cl_grow(&ms->pc_text, &ms->pc_cap, b->len - start) < 0)
				return -ENOMEM;
			if (!b->oom) {
				memcpy(ms->pc_text, b->d + start, b->len - start);
				ms->pc_len = b->len - start;
				ms->pc_owner = p;
				ms->pc_pkt = s->npackets;
				ms->pc_flags = f;
			}
		} else {
			cl_ob_put(b, ms->pc_text, ms->pc_len);
			first = false;
		}
	}
	if (sc->ev_ctx_printed)
		put_scope(p, &first, "stream.event.context", sc->ev_ctx, &s->vals[CL_V_SCTX],
			  f & CTFLIVE_CTF_NAMES_CONTEXT);
	if (e->ec->ctx_printed)
		put_scope(p, &first, "event.context", e->ec->ctx, &s->vals[CL_V_ECTX],
			  f & CTFLIVE_CTF_NAMES_CONTEXT);
	if (e->ec->fields_printed)
		put_scope(p, &first, "event.fields", e->ec->fields, &s->vals[CL_V_PAY],
			  f & CTFLIVE_CTF_NAMES_PAYLOAD);
	cl_ob_putc(b, '\n');
	return b->oom ? -ENOMEM : 1;
}

int ctflive_ctf_printer_msg(struct ctflive_ctf_printer *p, const struct ctflive_ctf_stream *s,
			    const struct ctflive_ctf_msg *m)
{
	if (p->flags & CTFLIVE_CTF_JSON) {
		if (m->type == CTFLIVE_CTF_MSG_EVENT)
			return cl_json_event(p, s, m);
		if (m->type == CTFLIVE_CTF_MSG_DISCARDED_EVENTS ||
		    m->type == CTFLIVE_CTF_MSG_DISCARDED_PACKETS)
			return cl_json_discard(p, s, m);
		return 0;
	}
	if (m->type != CTFLIVE_CTF_MSG_EVENT)
		return 0;
	return text_event(p, s, m);
}

/* ---- warnings --------------------------------------------------------- */

static void warn_time(struct ctflive_ctf_printer *p, int64_t ns, uint64_t cycles)
{
	/* reuse put_time on the warning buffer */
	struct cl_obuf save = p->out;

	unsigned flags = p->flags;

	p->out = p->warn;
	/* babeltrace2 prints discard ranges as times even with --clock-cycles */
	p->flags &= ~(unsigned)CTFLIVE_CTF_CLOCK_CYCLES;
	p->cached_valid = false;
	cl_ob_putc(&p->out, '[');
	put_time(p, (int64_t)((uint64_t)ns + (uint64_t)p->offset_ns), cycles);
	p->flags = flags;
	p->cached_valid = false;
	cl_ob_putc(&p->out, ']');
	p->warn = p->out;
	p->out = save;
}

int ctflive_ctf_printer_warning(struct ctflive_ctf_printer *p, const struct ctflive_ctf_stream *s,
				const struct ctflive_ctf_msg *m)
{
	struct cl_obuf *w = &p->warn;
	bool ev = m->type == CTFLIVE_CTF_MSG_DISCARDED_EVENTS;

	if (!ev && m->type != CTFLIVE_CTF_MSG_DISCARDED_PACKETS)
		return 0;
	CL_OB_LIT(w, "WARNING: Tracer ");
	if (m->count_known) {
		CL_OB_LIT(w, "discarded ");
		cl_ob_u64(w, m->count);
		cl_ob_puts(w, ev ? " event" : " packet");
		if (m->count != 1)
			cl_ob_putc(w, 's');
	} else {
		cl_ob_puts(w, ev ? "may have discarded events" : "may have discarded packets");
	}
	if (m->has_range) {
		CL_OB_LIT(w, " between ");
		warn_time(p, m->begin_ns, m->begin_cycles);
		CL_OB_LIT(w, " and ");
		warn_time(p, m->end_ns, m->end_cycles);
	} else {
		CL_OB_LIT(w, " (unknown time range)");
	}
	CL_OB_LIT(w, " in trace \"");
	cl_ob_puts(w, s->trace_name ? s->trace_name : "(unknown)");
	CL_OB_LIT(w, "\" ");
	/* babeltrace2 2.1 (MIP 1) names the trace class UID: CTF 2's `uid`,
	 * the UUID of a CTF 1.8 trace (2.0.4 printed "(UUID: ...)") */
	if (s->t->ctf2 ? s->t->ctf2_uid != NULL : s->t->has_uuid) {
		CL_OB_LIT(w, "(UID: ");
		cl_ob_puts(w, s->t->ctf2 ? s->t->ctf2_uid : s->t->uuid_str);
		CL_OB_LIT(w, ")");
	} else {
		CL_OB_LIT(w, "(no UID)");
	}
	CL_OB_LIT(w, " within stream \"");
	cl_ob_puts(w, s->stream_name ? s->stream_name : "");
	CL_OB_LIT(w, "\" (stream class ID: ");
	cl_ob_u64(w, s->sc_id);
	CL_OB_LIT(w, ", stream ID: ");
	cl_ob_u64(w, s->stream_id);
	CL_OB_LIT(w, ").\n");
	return w->oom ? -ENOMEM : 1;
}
