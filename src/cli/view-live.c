/* SPDX-License-Identifier: MIT */
/*
 * ctflive view net://RELAYHOST[:PORT]/host/HOSTNAME/SESSION: prints the
 * events of a live session as they arrive, merged by time across streams,
 * in the text format of the offline view (babeltrace2's) or as JSON Lines.
 * Exits 0 when the session ends (lttng destroy), 1 on error (relay gone,
 * protocol error, corrupt trace), 2 on usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ctflive/ctf.h"
#include "ctflive/live.h"
#include "log.h"
#include "print-opts.h"

/* babeltrace2's default --retry-duration. */
#define RETRY_DELAY_NS  100000000L
/* Write the printer's buffer out once it holds this much. */
#define FLUSH_THRESHOLD (64 * 1024)

static void usage(FILE *f)
{
	fputs("usage: ctflive view [OPTIONS] net://RELAYHOST[:PORT]/host/HOSTNAME/SESSION\n"
	      "\n"
	      "Print the events of a live tracing session while it is recorded, until it\n"
	      "is destroyed.\n"
	      "\n"
	      "  --from-now             only events recorded after attaching (default:\n"
	      "                         everything the relay still has)\n"
	      "  --timeout MS           fail when the relay does not answer within MS ms\n"
	      "                         (30000)\n" CLI_PRINT_HELP,
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
	enum { OPT_FROM_NOW = 256, OPT_TIMEOUT };
	static const struct option opts[] = {
		CLI_PRINT_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "from-now", no_argument, NULL, OPT_FROM_NOW },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ 0 },
	};
	struct cli_print_opts po;
	enum ctflive_live_seek seek = CTFLIVE_LIVE_SEEK_BEGINNING;
	struct ctflive_ctf_printer *printer = NULL;
	struct ctflive_live_client *c = NULL;
	struct ctflive_live_view *v = NULL;
	struct ctflive_live_url url;
	const char *why = NULL, *input;
	char err[512] = "";
	int opt, r, rc = 1, timeout_ms = 0;

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
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	input = argv[optind];
	r = ctflive_live_url_parse(input, &url, &why);
	if (r < 0) {
		log_error("invalid URL '%s': %s", input, why);
		return 2;
	}
	if (!url.has_session) {
		log_error(
			"invalid URL '%s': expecting net://RELAYHOST[:PORT]/host/HOSTNAME/SESSION "
			"(use 'ctflive ls' to list sessions)",
			input);
		return 2;
	}

	r = cli_printer_new(&po, &printer);
	if (r < 0) {
		log_error("cannot create the printer: %s", strerror(-r));
		return 1;
	}
	r = ctflive_live_client_connect(url.relay_host, url.port, url.family, timeout_ms, &c, err,
					sizeof(err));
	if (r < 0) {
		log_error("%s", err[0] ? err : strerror(-r));
		goto out;
	}
	r = ctflive_live_client_attach(c, url.target_host, url.session_name, seek);
	if (r < 0) {
		log_error("cannot attach to '%s': %s", input, ctflive_live_client_error(c));
		ctflive_live_client_free(c);
		goto out;
	}
	r = ctflive_live_view_new(c, &v);
	if (r < 0) {
		log_error("cannot create the live view: %s", strerror(-r));
		goto out;
	}

	for (;;) {
		const struct ctflive_ctf_stream *s;
		struct ctflive_ctf_msg m;

		r = ctflive_live_view_next(v, &s, &m);
		if (r == 0) {
			if (ctflive_ctf_printer_msg(printer, s, &m) < 0 ||
			    ctflive_ctf_printer_warning(printer, s, &m) < 0) {
				log_error("out of memory");
				goto out;
			}
			if (ctflive_ctf_printer_output(printer, 1).len) {
				/* Keep stdout and stderr in order for a terminal. */
				if (cli_printer_flush(printer, 0) < 0 ||
				    cli_printer_flush(printer, 1) < 0)
					goto write_error;
			}
			if (ctflive_ctf_printer_output(printer, 0).len >= FLUSH_THRESHOLD &&
			    cli_printer_flush(printer, 0) < 0)
				goto write_error;
			continue;
		}
		if (cli_printer_flush(printer, 0) < 0 || cli_printer_flush(printer, 1) < 0)
			goto write_error;
		if (r == -EAGAIN) {
			struct timespec ts = { .tv_sec = 0, .tv_nsec = RETRY_DELAY_NS };

			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			continue;
		}
		if (r == CTFLIVE_CTF_END) {
			rc = 0;
			break;
		}
		log_error("live session '%s': %s", input, ctflive_live_view_error(v));
		goto out;
	}
out:
	ctflive_live_view_free(v);
	ctflive_ctf_printer_free(printer);
	return rc;
write_error:
	log_error("cannot write events: %s", strerror(errno));
	rc = 1;
	goto out;
}
