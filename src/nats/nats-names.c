/* SPDX-License-Identifier: MIT */
/* Names on NATS JetStream: see nats-names.h and doc/nats.md. */
#include "nats-names.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int cl_nats_token(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	if (!*in) {
		if (cap < 2)
			return -ENAMETOOLONG;
		out[0] = '~';
		out[1] = 0;
		return 1;
	}
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (token_char(*p)) {
			if (n + 2 > cap)
				return -ENAMETOOLONG;
			out[n++] = (char)*p;
			continue;
		}
		if (n + 4 > cap)
			return -ENAMETOOLONG;
		out[n++] = '~';
		out[n++] = hex[*p >> 4];
		out[n++] = hex[*p & 15];
	}
	out[n] = 0;
	return (int)n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cl_nats_untoken(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	if (!strcmp(in, "~")) {
		if (cap < 1)
			return -ENAMETOOLONG;
		out[0] = 0;
		return 0;
	}
	for (const char *p = in; *p; p++) {
		int c = (unsigned char)*p;

		if (*p == '~') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			c = hi << 4 | lo;
			p += 2;
		} else if (!token_char((unsigned char)*p)) {
			return -EINVAL;
		}
		if (n + 2 > cap)
			return -ENAMETOOLONG;
		out[n++] = (char)c;
	}
	out[n] = 0;
	return (int)n;
}

int cl_nats_prefix(const char *host, const char *session, const char *relay, uint64_t sid,
		   char *out, size_t cap)
{
	char h[CL_NATS_TOKEN_MAX], s[CL_NATS_TOKEN_MAX], r[CL_NATS_TOKEN_MAX];
	int n;

	if (cl_nats_token(host, h, sizeof(h)) < 0 || cl_nats_token(session, s, sizeof(s)) < 0 ||
	    cl_nats_token(relay, r, sizeof(r)) < 0)
		return -ENAMETOOLONG;
	n = snprintf(out, cap, "ctflive.%s.%s.%s.%" PRIu64, h, s, r, sid);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : n;
}

int cl_nats_prefix_parse(const char *prefix, char *host, char *session, char *relay, size_t cap,
			 uint64_t *sid)
{
	char tok[CL_NATS_TOKEN_MAX];
	char *outs[3] = { host, session, relay };
	const char *p = prefix, *dot;
	char *end;

	if (strncmp(p, "ctflive.", 8))
		return -EINVAL;
	p += 8;
	for (int i = 0; i < 3; i++) {
		dot = strchr(p, '.');
		if (!dot || dot == p || (size_t)(dot - p) >= sizeof(tok))
			return -EINVAL;
		memcpy(tok, p, (size_t)(dot - p));
		tok[dot - p] = 0;
		if (cl_nats_untoken(tok, outs[i], cap) < 0)
			return -EINVAL;
		p = dot + 1;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	*sid = strtoull(p, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= ((const unsigned char *)p)[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static size_t name_part(const char *in, size_t max, char *out)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && n < max; p++)
		out[n++] = token_char(*p) && *p != '_' ? (char)*p : '-';
	return n;
}

void cl_nats_stream_name(const char *host, const char *session, const char *relay, uint64_t sid,
			 char out[CL_NATS_NAME_MAX])
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t n = 0;

	h = fnv1a(h, host, strlen(host) + 1);
	h = fnv1a(h, session, strlen(session) + 1);
	h = fnv1a(h, relay, strlen(relay) + 1);
	h = fnv1a(h, &sid, sizeof(sid));
	memcpy(out, "CTFLIVE_", 8);
	n = 8;
	n += name_part(host, 24, out + n);
	out[n++] = '_';
	n += name_part(session, 40, out + n);
	(void)snprintf(out + n, CL_NATS_NAME_MAX - n, "_%016" PRIx64, h);
}
