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
#include "io.h"
#include "log.h"
#include "macro.h"
#include "print-opts.h"

#define FLUSH_AT (1u << 20)
#define WAIT_MS  50 /* between polls while nothing can be printed */

static void help(FILE *f)
{
	fputs("usage: ctflive follow [OPTIONS] DIR\n"
	      "\n"
	      "Print the events of the CTF traces below DIR (a session directory written\n"
	      "by ctflive-relayd) while they are being written, merged by time, in\n"
	      "babeltrace2's default text format (or JSON Lines). Reads only what the relay\n"
	      "has published (file locks, doc/file-formats.md); exits once the session\n"
	      "ended. A directory without a session marker is read once, as it is.\n"
	      "\n" CLI_PRINT_HELP
	      "  --grace MS             how late a packet may be published after its\n"
	      "                         events, for merging idle streams (default 1000)\n"
	      "  -h, --help             show this help\n",
	      f);
}

static void print_warnings(struct ctflive_follow *f)
{
	const char *w;

	while ((w = ctflive_follow_next_warning(f)))
		log_warning("%s", w);
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
	struct ctflive_follow *f = NULL;
	struct ctflive_ctf_printer *pr = NULL;
	int c, r, ret = 1;

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
	r = ctflive_follow_new(argv[optind], &fo, &f);
	if (r < 0)
		return log_error_errno(r, "cannot follow '%s'", argv[optind]), 1;
	if (!ctflive_follow_has_marker(f))
		log_warning("no session marker in '%s': not written by ctflive-relayd, reading "
			    "what is complete",
			    argv[optind]);
	r = cli_printer_new(&po, &pr);
	if (r < 0) {
		log_error_errno(r, "cannot set up the viewer");
		goto out;
	}
	for (;;) {
		const struct ctflive_ctf_stream *s;
		struct ctflive_ctf_msg m;

		r = ctflive_follow_next(f, &s, &m);
		print_warnings(f);
		if (r == CTFLIVE_CTF_END)
			break;
		if (r == -EAGAIN) {
			r = cli_printer_flush(pr, 0);
			if (r < 0)
				goto out_write;
			r = ctflive_follow_wait(f, WAIT_MS);
			if (r < 0) {
				log_error_errno(r, "cannot wait for '%s'", argv[optind]);
				goto out;
			}
			continue;
		}
		if (r < 0) {
			(void)cli_printer_flush(pr, 0);
			(void)cli_printer_flush(pr, 1);
			log_error("%s", ctflive_follow_error(f));
			goto out;
		}
		r = ctflive_ctf_printer_msg(pr, s, &m);
		if (r >= 0 && !(po.flags & CTFLIVE_CTF_JSON) &&
		    (m.type == CTFLIVE_CTF_MSG_DISCARDED_EVENTS ||
		     m.type == CTFLIVE_CTF_MSG_DISCARDED_PACKETS)) {
			/* Warnings go out in order with the events before them. */
			r = cli_printer_flush(pr, 0);
			if (r < 0)
				goto out_write;
			r = ctflive_ctf_printer_warning(pr, s, &m);
			if (r >= 0)
				(void)cli_printer_flush(pr, 1);
		}
		if (r < 0) {
			log_error_errno(r, "out of memory");
			goto out;
		}
		if (ctflive_ctf_printer_output(pr, 0).len >= FLUSH_AT) {
			r = cli_printer_flush(pr, 0);
			if (r < 0)
				goto out_write;
		}
	}
	r = cli_printer_flush(pr, 0);
	(void)cli_printer_flush(pr, 1);
	if (r < 0)
		goto out_write;
	ret = 0;
	goto out;
out_write:
	if (r != -EPIPE)
		log_error_errno(r, "cannot write output");
out:
	ctflive_ctf_printer_free(pr);
	ctflive_follow_free(f);
	return ret;
}
