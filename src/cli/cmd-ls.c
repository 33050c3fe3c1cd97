/* SPDX-License-Identifier: MIT */
/*
 * ctflive ls net://RELAYHOST[:PORT]: lists the sessions a relay serves, one
 * line per host/session pair, in the format of babeltrace2's
 * `babeltrace2 -i lttng-live net://RELAYHOST` listing, as 2.1 prints it:
 * with the trace format at the end (`, CTF 1.8)`, also for relays below
 * live protocol 2.15, whose sessions are all CTF 1.8). Relay sessions with
 * the same host and name (one per tracing domain/ABI) are merged: streams
 * summed, clients the maximum.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctflive/live.h"
#include "log.h"
#ifdef CTFLIVE_HAVE_NATS
#include "nats-conn.h"
#endif

/* A name from the relay, with control characters escaped (\xNN) so that a
 * hostile relay cannot drive the terminal or forge lines. */
static void print_name(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

/* The trace format as babeltrace2 2.1's listing spells it. */
static const char *format_name(enum ctflive_trace_format f)
{
	switch (f) {
	case CTFLIVE_TRACE_FORMAT_CTF_1_8:
		return "CTF 1.8";
	case CTFLIVE_TRACE_FORMAT_CTF_2:
		return "CTF 2";
	default:
		return "unknown trace format";
	}
}

static void usage(FILE *f)
{
	fputs("usage: ctflive ls [--timeout MS] net://RELAYHOST[:PORT]\n"
	      "       ctflive ls [--timeout MS] nats://SERVER[:PORT][,...] (see doc/nats.md)\n"
	      "       ctflive ls -h|--help\n"
	      "\n"
	      "List the tracing sessions served by a relay daemon's live port\n"
	      "(default port 5344), one per line:\n"
	      "  URL/host/HOSTNAME/SESSION (timer = US, N stream(s), N client(s) connected, FORMAT)\n"
	      "as babeltrace2 2.1 lists them (FORMAT: CTF 1.8 or CTF 2).\n"
	      "\n"
	      "      --timeout MS   give up when the relay does not answer within MS ms (30000)\n"
	      "  -h, --help         show this help\n"
#ifdef CTFLIVE_HAVE_NATS
	      "\nWith a nats:// URL: the sessions published to NATS JetStream.\n" CL_NATS_CONN_HELP
#endif
	      ,
	      f);
}

int cl_cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 },
	};
	struct ctflive_live_session_info *v = NULL;
	struct ctflive_live_client *c = NULL;
	struct ctflive_live_url url;
	const char *why = NULL;
	char redacted[1024];
	char err[512] = "";
	size_t n = 0, base_len;
	int opt, r, timeout_ms = 0;
	bool *merged;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "nats://", 7)) {
#ifdef CTFLIVE_HAVE_NATS
			return cl_cmd_ls_nats(argc, argv);
#else
			log_error("this ctflive was built without NATS support (libnats)");
			return 2;
#endif
		}
	}
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 't':
			if (cl_cli_parse_ms(optarg, &timeout_ms) < 0) {
				log_error("invalid timeout '%s'", optarg);
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	r = ctflive_live_url_parse(argv[optind], &url, &why);
	if (r < 0) {
		log_error("invalid URL '%s': %s",
			  cl_cli_url_redact(argv[optind], redacted, sizeof(redacted)), why);
		return 2;
	}
	if (url.has_session) {
		log_error("invalid URL '%s': expecting net://RELAYHOST[:PORT] without a session",
			  argv[optind]);
		return 2;
	}
	r = ctflive_live_client_connect(url.relay_host, url.port, url.family, timeout_ms, &c, err,
					sizeof(err));
	if (r < 0) {
		log_error("%s", err[0] ? err : strerror(-r));
		return 1;
	}
	r = ctflive_live_client_list(c, &v, &n);
	if (r < 0) {
		log_error("cannot list sessions of '%s': %s", argv[optind],
			  ctflive_live_client_error(c));
		ctflive_live_client_free(c);
		return 1;
	}
	ctflive_live_client_free(c);

	/* The URL as given, without a trailing '/', like babeltrace2. */
	base_len = strlen(argv[optind]);
	while (base_len > 0 && argv[optind][base_len - 1] == '/')
		base_len--;
	merged = calloc(n ? n : 1, sizeof(*merged));
	if (!merged) {
		free(v);
		log_error("out of memory");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t streams = v[i].streams;
		uint32_t clients = v[i].clients;

		if (merged[i])
			continue;
		for (size_t j = i + 1; j < n; j++) {
			if (merged[j] || strcmp(v[i].hostname, v[j].hostname) != 0 ||
			    strcmp(v[i].session_name, v[j].session_name) != 0)
				continue;
			merged[j] = true;
			streams += v[j].streams;
			if (v[j].clients > clients)
				clients = v[j].clients;
		}
		printf("%.*s/host/", (int)base_len, argv[optind]);
		print_name(v[i].hostname);
		putchar('/');
		print_name(v[i].session_name);
		printf(" (timer = %" PRIu32 ", %" PRIu64 " stream(s), %" PRIu32
		       " client(s) connected, %s)\n",
		       v[i].live_timer, streams, clients, format_name(v[i].trace_format));
	}
	free(merged);
	free(v);
	if (fflush(stdout) != 0) {
		log_error("cannot write the session list: %s", strerror(errno));
		return 1;
	}
	return 0;
}
