/* SPDX-License-Identifier: MIT */
/*
 * `ctflive follow DIR`: print the events of a trace directory while
 * ctflive-relayd writes it, reading the files directly under the lock
 * protocol of doc/file-formats.md (libctflive's ctflive/follow.h). Output
 * is `ctflive view`'s: babeltrace2's text (discarded-items warnings on
 * stderr) or JSON Lines. Exits 0 once the session ended and every event was
 * printed.
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
#include "ctflive/follow.h"
#include "ctflive/iter.h"
#include "log.h"
#include "print-opts.h"

static void help(FILE *f)
{
	fputs("usage: ctflive follow [OPTIONS] DIR\n"
	      "\n"
	      "Print the events of the CTF traces below DIR (a session directory written\n"
	      "by ctflive-relayd) while they are being written, merged by time, in\n"
	      "babeltrace2's default text format (or JSON Lines). Reads only what the relay\n"
	      "has published (file locks, doc/file-formats.md); exits once the session\n"
	      "ended. A directory the relay is not writing (no session marker, or a\n"
	      "session that is over) is read once, as 'ctflive view DIR' reads it.\n"
	      "\n" CLI_PRINT_HELP
	      "  --grace MS             how late a packet may be published after its\n"
	      "                         events, for merging idle streams (default 1000)\n"
	      "  -h, --help             show this help\n",
	      f);
}

int cl_cmd_follow(int argc, char **argv)
{
	enum { O_GRACE = 256 };
	static const struct option opts[] = {
		CLI_PRINT_LONGOPTS,
		{ "grace", required_argument, NULL, O_GRACE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ctflive_follow_options fo = { 0 };
	struct cli_print_opts po;
	struct ctflive_iter *it = NULL;
	struct ctflive_diag diag;
	int c, r, ret;

	cli_print_opts_init(&po);
	optind = 1;
	while ((c = getopt_long(argc, argv, CLI_PRINT_SHORTOPTS "h", opts, NULL)) != -1) {
		r = cli_print_opt(c, optarg, &po);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (c) {
		case O_GRACE:
			if (cl_cli_parse_ms(optarg, &fo.grace_ms) < 0) {
				log_error("invalid --grace '%s'", optarg);
				return 2;
			}
			break;
		case 'h':
			help(stdout);
			return 0;
		default:
			help(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		log_error(optind >= argc ? "missing DIR" : "only one DIR can be followed");
		return 2;
	}
	if (cl_cli_is_live_url(argv[optind])) {
		log_error("'follow' reads a directory on this machine; for a relay use "
			  "'ctflive view %s'",
			  argv[optind]);
		return 2;
	}
	r = ctflive_iter_open_follow(argv[optind], &fo, &it, &diag);
	if (r < 0) {
		cl_cli_print_diag(&diag, false);
		return 1;
	}
	ret = cl_cli_print_loop(it, &po, false);
	ctflive_iter_free(it);
	return ret;
}
