/* SPDX-License-Identifier: MIT */
/*
 * net[4|6]://RELAYHOST[:PORT][/host/TARGETHOST/SESSION] parsing, with the
 * grammar and error cases of babeltrace2's lttng-live URL parser
 * (live-protocol.md §4.1), and lists of relays serving one session,
 * net://RELAY1[:PORT1],RELAY2[:PORT2].../host/TARGETHOST/SESSION.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctflive/live.h"
#include "grow.h"

static int fail(const char **reterr_msg, const char *msg)
{
	if (reterr_msg)
		*reterr_msg = msg;
	return -EINVAL;
}

/* Copies [s, s+n) into dst (cap bytes); false if it does not fit. */
static bool copy_part(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

int ctflive_live_url_parse(const char *url, struct ctflive_live_url *ret, const char **reterr_msg)
{
	struct ctflive_live_url u;
	const char *p, *sep, *end;
	unsigned long port;

	if (!url || !ret)
		return fail(reterr_msg, "missing URL");
	memset(&u, 0, sizeof(u));
	u.port = CTFLIVE_LIVE_DEFAULT_PORT;

	sep = strstr(url, "://");
	if (sep == url)
		return fail(reterr_msg, "missing protocol");
	if (!sep) {
		if (strchr(url, ':'))
			return fail(reterr_msg, "expecting '://' after protocol");
		return fail(reterr_msg, "missing protocol");
	}
	if ((size_t)(sep - url) == 3 && strncmp(url, "net", 3) == 0)
		u.family = AF_UNSPEC;
	else if ((size_t)(sep - url) == 4 && strncmp(url, "net4", 4) == 0)
		u.family = AF_INET;
	else if ((size_t)(sep - url) == 4 && strncmp(url, "net6", 4) == 0)
		u.family = AF_INET6;
	else
		return fail(reterr_msg, "unknown protocol (expecting 'net', 'net4' or 'net6')");
	p = sep + 3;
	if (memchr(p, '@', strcspn(p, "/")))
		return fail(reterr_msg, "user information is not supported (the LTTng live "
					"protocol has no authentication)");

	/* Relay host: bracketed IPv6 address or up to ':' or '/'. */
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end)
			return fail(reterr_msg, "missing ']' after IPv6 address");
		if (!copy_part(u.relay_host, sizeof(u.relay_host), p + 1, (size_t)(end - p - 1)))
			return fail(reterr_msg, "hostname too long");
		p = end + 1;
	} else {
		end = p + strcspn(p, ":/");
		if (!copy_part(u.relay_host, sizeof(u.relay_host), p, (size_t)(end - p)))
			return fail(reterr_msg, "hostname too long");
		p = end;
	}
	if (u.relay_host[0] == '\0')
		return fail(reterr_msg, "missing hostname");

	if (*p == ':') {
		char *e;

		p++;
		if (*p < '0' || *p > '9')
			return fail(reterr_msg,
				    *p == '\0' || *p == '/' ? "missing port" : "invalid port");
		errno = 0;
		port = strtoul(p, &e, 10);
		if (errno || port == 0 || port > 65535 || (*e != '\0' && *e != '/'))
			return fail(reterr_msg, "invalid port");
		u.port = (uint16_t)port;
		p = e;
	}

	if (*p == '\0') {
		*ret = u;
		return 0;
	}
	if (strncmp(p, "/host/", 6) != 0)
		return fail(reterr_msg, "expecting '/host/' after hostname or port");
	p += 6;
	end = strchr(p, '/');
	if (p[0] == '\0' || end == p)
		return fail(reterr_msg, "missing target hostname");
	if (!end)
		return fail(reterr_msg, "missing '/' after target hostname");
	if (!copy_part(u.target_host, sizeof(u.target_host), p, (size_t)(end - p)))
		return fail(reterr_msg, "target hostname too long");
	p = end + 1;
	if (*p == '\0')
		return fail(reterr_msg, "missing session name");
	if (strchr(p, '/'))
		return fail(reterr_msg, "unexpected '/' after session name");
	if (!copy_part(u.session_name, sizeof(u.session_name), p, strlen(p)))
		return fail(reterr_msg, "session name too long");
	u.has_session = true;
	*ret = u;
	return 0;
}

int ctflive_live_url_parse_list(const char *url, struct ctflive_live_url **ret, size_t *ret_n,
				const char **reterr_msg)
{
	struct ctflive_live_url *v = NULL;
	const char *sep, *auth, *path, *p;
	size_t n = 0, cap = 0;
	char one[1024];
	int r;

	if (!url || !ret || !ret_n)
		return fail(reterr_msg, "missing URL");
	sep = strstr(url, "://");
	if (!sep) {
		struct ctflive_live_url u;

		return ctflive_live_url_parse(url, &u, reterr_msg); /* its error */
	}
	auth = sep + 3;
	/* The relay list ends at the first '/' outside brackets. */
	path = auth;
	for (bool br = false; *path && (br || *path != '/'); path++)
		br = *path == '[' ? true : *path == ']' ? false : br;
	for (p = auth;;) {
		const char *end = p;
		int len;

		for (bool br = false; end < path && (br || *end != ','); end++)
			br = *end == '[' ? true : *end == ']' ? false : br;
		len = snprintf(one, sizeof(one), "%.*s%.*s%s", (int)(auth - url), url,
			       (int)(end - p), p, path);
		if (len < 0 || (size_t)len >= sizeof(one)) {
			free(v);
			return fail(reterr_msg, "URL too long");
		}
		if (cl_grow(&v, &cap, n + 1) < 0) {
			free(v);
			return -ENOMEM;
		}
		r = ctflive_live_url_parse(one, &v[n], reterr_msg);
		if (r < 0) {
			free(v);
			return r;
		}
		n++;
		if (end >= path)
			break;
		p = end + 1;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
