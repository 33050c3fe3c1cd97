/* SPDX-License-Identifier: MIT */
/*
 * `ctflive view TRACE_DIR...`: print the events of CTF trace directories
 * like `babeltrace2 TRACE_DIR...` (default sink.text.pretty output, byte for
 * byte, and its discarded-items warnings on stderr), or as JSON Lines.
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
#include "ctflive/ctf-fs.h"
#include "ctflive/ctf.h"
#include "io.h"
#include "log.h"
#include "print-opts.h"

#define FLUSH_AT (1u << 20)

static void help(FILE *f)
{
	fputs("usage: ctflive view [OPTIONS] TRACE_DIR...\n"
	      "       ctflive view [OPTIONS] [--from-now] net://RELAY[:PORT]/host/HOST/SESSION\n"
	      "\n"
	      "Print the events of the CTF traces found below each TRACE_DIR, merged by\n"
	      "time, in babeltrace2's default text format (or JSON Lines); or those of a\n"
	      "live session served by a relay daemon (ctflive-relayd or lttng-relayd),\n"
	      "as they are recorded, until the session ends.\n"
	      "\n" CLI_PRINT_HELP
	      "  --decode-only          decode everything, print only the event count\n"
	      "  --from-now             (live) only events recorded after attaching\n"
	      "  --timeout MS           (live) fail if the relay does not answer in MS ms\n"
	      "  -h, --help             show this help\n",
	      f);
}

static void print_diag(const char *path, const struct ctflive_ctf_diag *d, bool warning)
{
	char where[64] = "";

	if (d->line > 0)
		snprintf(where, sizeof(where), ":%d:%d", d->line, d->col);
	else if (d->offset != UINT64_MAX)
		snprintf(where, sizeof(where), ": offset %" PRIu64, d->offset);
	if (warning)
		log_warning("%s%s: %s", path ? path : "", where, d->msg);
	else
		log_error("%s%s: %s", path ? path : "", where, d->msg);
}

int cl_cmd_view(int argc, char **argv)
{
	enum { O_DECODE = 256, O_FROM_NOW, O_TIMEOUT };
	static const struct option opts[] = {
		CLI_PRINT_LONGOPTS,
		{ "decode-only", no_argument, NULL, O_DECODE },
		/* live options, refused with a reason for trace directories */
		{ "from-now", no_argument, NULL, O_FROM_NOW },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_print_opts po;
	bool decode_only = false;
	struct ctflive_ctf_fs *fs = NULL;
	struct ctflive_ctf_mux *mux = NULL;
	struct ctflive_ctf_printer *pr = NULL;
	struct ctflive_ctf_diag diag = { 0 };
	const char *errpath = NULL;
	uint64_t nevents = 0;
	int c, r, ret = 1;

	for (int i = 1; i < argc; i++)
		if (cl_cli_is_live_url(argv[i]))
			return cl_cmd_view_live(argc, argv);
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
			log_error("'--%s' applies to net:// URLs only",
				  c == O_FROM_NOW ? "from-now" : "timeout");
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
	r = ctflive_ctf_fs_open((const char *const *)argv + optind, (size_t)(argc - optind), &fs,
				&diag, &errpath);
	if (r < 0) {
		if (diag.msg[0])
			print_diag(errpath, &diag, false);
		else
			log_error_errno(r, "cannot open '%s'", errpath ? errpath : argv[optind]);
		for (int i = optind; i < argc; i++)
			if (strstr(argv[i], "://"))
				log_notice("'%s' is read as a directory: live URLs are "
					   "net://RELAY[:PORT]/host/HOST/SESSION",
					   argv[i]);
		return 1;
	}
	for (size_t i = 0; i < ctflive_ctf_fs_warning_count(fs); i++)
		log_warning("%s", ctflive_ctf_fs_warning(fs, i));
	for (size_t i = 0; i < ctflive_ctf_fs_trace_count(fs); i++) {
		const char *dir;
		struct ctflive_ctf_trace *t = ctflive_ctf_fs_trace(fs, i, &dir);
		char path[4200];

		snprintf(path, sizeof(path), "%s/metadata", dir);
		for (size_t k = 0; k < ctflive_ctf_trace_warning_count(t); k++)
			print_diag(path, ctflive_ctf_trace_warning(t, k), true);
	}
	r = ctflive_ctf_mux_new(&mux);
	for (size_t i = 0; r >= 0 && i < ctflive_ctf_fs_stream_count(fs); i++)
		r = ctflive_ctf_mux_add(mux, ctflive_ctf_fs_stream(fs, i));
	if (r >= 0)
		r = cli_printer_new(&po, &pr);
	if (r < 0) {
		log_error_errno(r, "cannot set up the viewer");
		goto out;
	}
	for (;;) {
		const struct ctflive_ctf_msg *m;
		struct ctflive_ctf_stream *s = NULL;

		r = ctflive_ctf_mux_next(mux, &m, &s, &diag);
		if (r == CTFLIVE_CTF_END)
			break;
		if (r < 0) {
			(void)cli_printer_flush(pr, 0);
			(void)cli_printer_flush(pr, 1);
			/* name the file the error is in (a stream may span several) */
			const char *where = s ? ctflive_ctf_stream_name(s) : NULL;
			uint64_t off;

			if (s && diag.offset != UINT64_MAX &&
			    ctflive_ctf_fs_locate(fs, s, diag.offset, &where, &off))
				diag.offset = off;
			print_diag(where, &diag, false);
			goto out;
		}
		if (decode_only) {
			nevents += m->type == CTFLIVE_CTF_MSG_EVENT;
			continue;
		}
		r = ctflive_ctf_printer_msg(pr, s, m);
		if (r < 0)
			goto oom;
		if (!(po.flags & CTFLIVE_CTF_JSON) &&
		    (m->type == CTFLIVE_CTF_MSG_DISCARDED_EVENTS ||
		     m->type == CTFLIVE_CTF_MSG_DISCARDED_PACKETS)) {
			r = ctflive_ctf_printer_warning(pr, s, m);
			if (r < 0)
				goto oom;
			(void)cli_printer_flush(pr, 1);
		}
		if (ctflive_ctf_printer_output(pr, 0).len >= FLUSH_AT) {
			r = cli_printer_flush(pr, 0);
			if (r < 0) {
				if (r != -EPIPE)
					log_error_errno(r, "cannot write output");
				goto out;
			}
		}
	}
	if (decode_only && (printf("%" PRIu64 " events\n", nevents) < 0 || fflush(stdout) != 0)) {
		log_error_errno(-errno, "cannot write output");
		goto out;
	}
	r = cli_printer_flush(pr, 0);
	(void)cli_printer_flush(pr, 1);
	if (r < 0 && r != -EPIPE) {
		log_error_errno(r, "cannot write output");
		goto out;
	}
	ret = 0;
	goto out;
oom:
	log_error_errno(r, "out of memory");
out:
	ctflive_ctf_printer_free(pr);
	ctflive_ctf_mux_free(mux);
	ctflive_ctf_fs_free(fs);
	return ret;
}
