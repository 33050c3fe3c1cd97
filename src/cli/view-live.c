/* SPDX-License-Identifier: MIT */
/*
 * ctflive view net://RELAYHOST[:PORT][,RELAYHOST[:PORT]...]/host/HOSTNAME/SESSION: prints the
 * events of a live session as they arrive, merged by time across streams,
 * in the text format of the offline view (babeltrace2's) or as JSON Lines,
 * through the iterator of libctflive and the print loop (print-loop.c).
 * With several relays (edge relays serving one session), or
 * --reconnect-timeout, a lost connection is resumed on the next relay (or
 * the same one) where it stopped (ctflive_live_view_set_failover()).
 * Exits 0 when the session ends (lttng destroy), 1 on error (relay gone,
 * protocol error, corrupt trace), 2 on usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctflive/ctf.h"
#include "ctflive/iter.h"
#include "ctflive/live.h"
#include "log.h"
#include "print-opts.h"

static void usage(FILE *f)
{
	fputs("usage: ctflive view [OPTIONS] net://RELAYHOST[:PORT][,RELAYHOST[:PORT]...]"
	      "/host/HOSTNAME/SESSION\n"
	      "\n"
	      "Print the events of a live tracing session while it is recorded, until it\n"
	      "is destroyed. Several relays serving the same session (edge relays of one\n"
	      "NATS JetStream) can be given, separated by ',': the view starts with the\n"
	      "first that serves it and, when its connection is lost, goes on with the\n"
	      "next (or the same) from where it was, printing no event twice.\n"
	      "\n"
	      "  --from-now             only events recorded after attaching (default:\n"
	      "                         everything the relay still has)\n"
	      "  --timeout MS           fail when the relay does not answer within MS ms\n"
	      "                         (30000)\n"
	      "  --reconnect-timeout MS when the connection is lost, reconnect and resume\n"
	      "                         for up to MS ms, trying each relay in turn (30000\n"
	      "                         with several relays, 0 with one: fail at once)\n"
	      "  --session-not-found-action continue|fail|end\n"
	      "                         when the relay has no such session: wait for it,\n"
	      "                         fail (default), or print nothing and exit 0 (as\n"
	      "                         babeltrace2's lttng-live parameter)\n" CLI_PRINT_HELP,
	      f);
}

static bool is_live_url(const char *s)
{
	return !strncmp(s, "net://", 6) || !strncmp(s, "net4://", 7) || !strncmp(s, "net6://", 7);
}

bool cl_cli_is_live_url(const char *s)
{
	return s && is_live_url(s);
}

int cl_cmd_view_live(int argc, char **argv)
{
	enum { OPT_FROM_NOW = 256, OPT_TIMEOUT, OPT_RECONNECT, OPT_NOT_FOUND };
	static const struct option opts[] = {
		CLI_PRINT_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "from-now", no_argument, NULL, OPT_FROM_NOW },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "reconnect-timeout", required_argument, NULL, OPT_RECONNECT },
		{ "session-not-found-action", required_argument, NULL, OPT_NOT_FOUND },
		{ 0 },
	};
	struct cli_print_opts po;
	enum ctflive_live_seek seek = CTFLIVE_LIVE_SEEK_BEGINNING;
	struct ctflive_iter *it = NULL;
	struct ctflive_live_url *urls = NULL;
	struct ctflive_diag diag;
	const char *why = NULL, *input;
	char redacted[1024];
	int opt, r, rc, timeout_ms = 0, reconnect_ms = -1;
	/* as babeltrace2's lttng-live session-not-found-action, default fail */
	enum { NF_FAIL, NF_CONTINUE, NF_END } not_found = NF_FAIL;
	bool waiting = false;
	size_t nurls = 0;

	cli_print_opts_init(&po);
	optind = 1;
	while ((opt = getopt_long(argc, argv, CLI_PRINT_SHORTOPTS "h", opts, NULL)) != -1) {
		r = cli_print_opt(opt, optarg, &po);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_FROM_NOW:
			seek = CTFLIVE_LIVE_SEEK_LAST;
			break;
		case OPT_TIMEOUT:
			if (cl_cli_parse_ms(optarg, &timeout_ms) < 0) {
				log_error("invalid timeout '%s'", optarg);
				return 2;
			}
			break;
		case OPT_RECONNECT:
			if (cl_cli_parse_ms(optarg, &reconnect_ms) < 0) {
				log_error("invalid reconnect timeout '%s'", optarg);
				return 2;
			}
			break;
		case OPT_NOT_FOUND:
			if (!strcmp(optarg, "fail")) {
				not_found = NF_FAIL;
			} else if (!strcmp(optarg, "continue")) {
				not_found = NF_CONTINUE;
			} else if (!strcmp(optarg, "end")) {
				not_found = NF_END;
			} else {
				log_error("invalid --session-not-found-action '%s' (continue, fail "
					  "or end)",
					  optarg);
				return 2;
			}
			break;
		default:
			log_error("invalid arguments, see 'ctflive view --help'");
			return 2;
		}
	}
	if (optind != argc - 1) {
		log_error(optind >= argc
				  ? "missing URL"
				  : "one net:// URL is read at a time, not with other URLs or "
				    "trace directories");
		return 2;
	}
	input = argv[optind];
	r = ctflive_live_url_parse_list(input, &urls, &nurls, &why);
	if (r == -ENOMEM) {
		log_error("out of memory");
		return 1;
	}
	if (r < 0) {
		log_error("invalid URL '%s': %s",
			  cl_cli_url_redact(input, redacted, sizeof(redacted)), why);
		return 2;
	}
	if (!urls[0].has_session) {
		free(urls);
		log_error(
			"invalid URL '%s': expecting net://RELAYHOST[:PORT]/host/HOSTNAME/SESSION "
			"(use 'ctflive ls' to list sessions)",
			input);
		return 2;
	}

	if (reconnect_ms < 0)
		reconnect_ms = nurls > 1 ? 30000 : 0;
	for (;;) {
		r = ctflive_iter_open_live_list(urls, nurls, seek, timeout_ms, reconnect_ms, &it,
						&diag);
		if (r != -ENOENT || not_found == NF_FAIL)
			break;
		if (not_found == NF_END) {
			free(urls);
			return 0; /* nothing to print */
		}
		if (!waiting)
			log_notice("%s: waiting for it (--session-not-found-action continue)",
				   diag.msg);
		waiting = true;
		usleep(250 * 1000);
	}
	free(urls);
	if (r < 0) {
		cl_cli_print_diag(&diag, false);
		return 1;
	}
	rc = cl_cli_print_loop(it, &po, false);
	ctflive_iter_free(it);
	return rc;
}
