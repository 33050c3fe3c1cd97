/* SPDX-License-Identifier: MIT */
/*
 * `ctflive follow DIR`: print the events of a trace directory while
 * ctflive-relayd writes it, reading the files directly under the lock
 * protocol of doc/file-formats.md (libctflive's ctflive/follow.h). Output
 * is `ctflive view`'s: babeltrace2's text (discarded-items warnings on
 * stderr) or JSON Lines. Exits 0 once the session ended and every event was
 * printed, 3 when it did not end normally (session marker other than
 * "complete": interrupted, or the relay stopped) and everything published
 * was printed.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "tracedir.h"

/* Exit status of a session that did not end normally (documented in the help). */
#define EXIT_UNFINISHED 3

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
	      "\n"
	      "Exit status: 0 when the session ended normally and every event was printed;\n"
	      "3 when it did not (session marker 'interrupted': a producer that vanished or\n"
	      "was cut short, a disk error; or 'active': the relay stopped), after every\n"
	      "event published before that was printed and a warning on stderr; 1 when the\n"
	      "trace fails; 2 on a usage error.\n"
	      "\n" CLI_PRINT_HELP
	      "  --grace MS             how late a packet may be published after its\n"
	      "                         events, for merging idle streams (default 1000)\n"
	      "  -h, --help             show this help\n",
	      f);
}

int cl_cli_marker(const char *dir, char *state, size_t n, bool *locked)
{
	char path[4096];
	ssize_t r;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, CL_SESSION_MARKER_NAME) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1; /* not written by ctflive-relayd */
	r = pread(fd, state, n - 1, 0);
	state[r > 0 ? r : 0] = '\0';
	state[strcspn(state, "\n")] = '\0';
	*locked = ctflive_follow_is_locked(fd);
	close(fd);
	return 0;
}

/* False when DIR has a session marker whose final state is not "complete"
 * (doc/file-formats.md §4); read once the session is over. */
static bool ended_normally(const char *dir)
{
	char state[32];
	bool locked;

	/* no marker: read as a finished trace */
	return cl_cli_marker(dir, state, sizeof(state), &locked) < 0 ||
	       strcmp(state, CL_MARKER_COMPLETE) == 0;
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
	po.grace_option = "--grace";
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
	if (!strncmp(argv[optind], "nats://", 7)) {
		/* not repeated: the URL may hold a password */
		log_error("'follow' reads a directory on this machine; for a session "
			  "published to NATS use 'ctflive view nats://...'");
		return 2;
	}
	r = ctflive_iter_open_follow(argv[optind], &fo, &it, &diag);
	if (r < 0) {
		cl_cli_print_diag(&diag, false);
		return 1;
	}
	ret = cl_cli_print_loop(it, &po, false);
	ctflive_iter_free(it);
	if (ret == 0 && !ended_normally(argv[optind]))
		ret = EXIT_UNFINISHED; /* the print loop printed the marker's warning */
	return ret;
}
