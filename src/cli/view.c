/* SPDX-License-Identifier: MIT */
/*
 * `ctflive view TRACE_DIR...`: print the events of CTF trace directories
 * like `babeltrace2 TRACE_DIR...` (default sink.text.pretty output, byte for
 * byte, and its discarded-items warnings on stderr), or as JSON Lines,
 * through the iterator of libctflive and the print loop (print-loop.c).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ctflive/ctf.h"
#include "ctflive/iter.h"
#include "log.h"
#ifdef CTFLIVE_HAVE_NATS
#include "nats-conn.h"
#endif
#include "print-opts.h"
#include "tracedir.h"

/*
 * A session directory that ctflive-relayd is still writing (its session
 * marker locked, doc/file-formats.md §4) or that did not end normally (not
 * "complete"): said on stderr; what is published is printed all the same,
 * as babeltrace2 would.
 */
static void warn_unfinished(const char *dir)
{
	char state[32];
	bool locked;

	if (cl_cli_marker(dir, state, sizeof(state), &locked) < 0)
		return; /* not a session directory of ctflive-relayd */
	if (locked)
		log_warning("%s: the session is still being written: this prints what is "
			    "published now; 'ctflive follow %s' prints it as it is written",
			    dir, dir);
	else if (strcmp(state, CL_MARKER_COMPLETE) != 0)
		log_warning("%s: the session did not end normally (session marker: '%s')", dir,
			    state);
}

static void help(FILE *f)
{
	fputs("usage: ctflive view [OPTIONS] TRACE_DIR...\n"
	      "       ctflive view [OPTIONS] [--from-now] net://RELAY[:PORT][,...]/host/HOST/SESSION\n"
	      "       ctflive view [OPTIONS] nats://SERVER[:PORT][,...]/host/HOST/SESSION\n"
	      "\n"
	      "Print the events of the CTF traces found below each TRACE_DIR, merged by\n"
	      "time, in babeltrace2's default text format (or JSON Lines); or those of a\n"
	      "live session served by a relay daemon (ctflive-relayd or lttng-relayd),\n"
	      "as they are recorded, until the session ends; or those of a session that\n"
	      "ctflive-relayd published to NATS JetStream, as it arrives, until the session\n"
	      "ends (doc/nats.md).\n"
	      "\n" CLI_PRINT_HELP
	      "  --decode-only          decode everything, print only the event count\n"
	      "  --from-now             (live) only events recorded after attaching\n"
	      "  --timeout MS           (live) fail if the relay does not answer in MS ms\n"
	      "  --reconnect-timeout MS (net://) on a lost connection, resume with the\n"
	      "                         next relay (or the same) for up to MS ms (30000\n"
	      "                         with several relays, else 0: fail)\n"
	      "  --session-not-found-action continue|fail|end\n"
	      "                         (net://) no such session on the relay: wait for\n"
	      "                         it, fail (default), or print nothing, exit 0\n"
	      "  -h, --help             show this help\n"
#ifdef CTFLIVE_HAVE_NATS
	      "\nWith a nats:// URL (then --timeout: stop when nothing new arrived for MS ms;\n"
	      "--grace MS: once caught up, how late a stream's packet may come after newer\n"
	      "events of the others, default 10000).\n" CL_NATS_CONN_HELP
#endif
	      ,
	      f);
}

int cl_cmd_view(int argc, char **argv)
{
	enum { O_DECODE = 256, O_FROM_NOW, O_TIMEOUT, O_RECONNECT };
	static const struct option opts[] = {
		CLI_PRINT_LONGOPTS,
		{ "decode-only", no_argument, NULL, O_DECODE },
		/* live options, refused with a reason for trace directories */
		{ "from-now", no_argument, NULL, O_FROM_NOW },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "reconnect-timeout", required_argument, NULL, O_RECONNECT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_print_opts po;
	bool decode_only = false;
	struct ctflive_iter *it = NULL;
	struct ctflive_diag diag;
	int c, r, ret;

	for (int i = 1; i < argc; i++) {
		if (cl_cli_is_live_url(argv[i]))
			return cl_cmd_view_live(argc, argv);
		if (!strncmp(argv[i], "nats://", 7)) {
#ifdef CTFLIVE_HAVE_NATS
			return cl_cmd_view_nats(argc, argv);
#else
			log_error("this ctflive was built without NATS support (libnats)");
			return 2;
#endif
		}
	}
	cli_print_opts_init(&po);
	optind = 1;
	while ((c = getopt_long(argc, argv, CLI_PRINT_SHORTOPTS "h", opts, NULL)) != -1) {
		r = cli_print_opt(c, optarg, &po);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (c) {
		case O_DECODE:
			decode_only = true;
			break;
		case O_FROM_NOW:
		case O_TIMEOUT:
		case O_RECONNECT:
			log_error("'--%s' applies to net:// URLs only",
				  c == O_FROM_NOW  ? "from-now"
				  : c == O_TIMEOUT ? "timeout"
						   : "reconnect-timeout");
			return 2;
		case 'h':
			help(stdout);
			return 0;
		default:
			log_error("invalid arguments, see 'ctflive view --help'");
			return 2;
		}
	}
	if (optind >= argc) {
		log_error("missing TRACE_DIR");
		return 2;
	}
	r = ctflive_iter_open_dirs((const char *const *)argv + optind, (size_t)(argc - optind), &it,
				   &diag);
	if (r < 0) {
		cl_cli_print_diag(&diag, false);
		for (int i = optind; i < argc; i++)
			if (strstr(argv[i], "://"))
				log_notice("'%s' is read as a directory: live URLs are "
					   "net://RELAY[:PORT]/host/HOST/SESSION",
					   argv[i]);
		return 1;
	}
	for (int i = optind; i < argc; i++)
		warn_unfinished(argv[i]);
	ret = cl_cli_print_loop(it, &po, decode_only);
	ctflive_iter_free(it);
	return ret;
}
