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
	      "\n"
	      "  --clock-cycles         print timestamps in clock cycles\n"
	      "  --clock-date           print timestamps with the date\n"
	      "  --clock-gmt            print timestamps in UTC instead of local time\n"
	      "  --clock-seconds        print timestamps as seconds since the epoch\n"
	      "  --no-delta             do not print the time since the previous event\n"
	      "  --clock-offset SEC     add SEC seconds to printed times\n"
	      "  --clock-offset-ns NS   add NS nanoseconds to printed times\n"
	      "  -n, --names LIST       field names to print: payload (or arg, args),\n"
	      "                         context (or ctx), scope, header, all, none\n"
	      "  -f, --fields LIST      header fields to print: trace, trace:hostname,\n"
	      "                         trace:domain, trace:procname, trace:vpid,\n"
	      "                         loglevel, emf, callsite, all\n"
	      "  --json                 one JSON object per line (see doc/ctf-json.md)\n"
	      "  --decode-only          decode everything, print only the event count\n"
	      "  --from-now             (live) only events recorded after attaching\n"
	      "  --timeout MS           (live) fail if the relay does not answer in MS ms\n"
	      "  -h, --help             show this help\n",
	      f);
}

static int parse_names(const char *list, unsigned *flags)
{
	unsigned names = 0;
	char *dup = strdup(list), *save = NULL;

	if (!dup)
		return -ENOMEM;
	for (char *it = strtok_r(dup, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		if (!strcmp(it, "payload") || !strcmp(it, "arg") || !strcmp(it, "args"))
			names |= CTFLIVE_CTF_NAMES_PAYLOAD;
		else if (!strcmp(it, "context") || !strcmp(it, "ctx"))
			names |= CTFLIVE_CTF_NAMES_CONTEXT;
		else if (!strcmp(it, "scope"))
			names |= CTFLIVE_CTF_NAMES_SCOPE;
		else if (!strcmp(it, "header"))
			names |= CTFLIVE_CTF_NAMES_HEADER;
		else if (!strcmp(it, "all"))
			names |= CTFLIVE_CTF_NAMES_PAYLOAD | CTFLIVE_CTF_NAMES_CONTEXT |
				 CTFLIVE_CTF_NAMES_SCOPE | CTFLIVE_CTF_NAMES_HEADER;
		else if (!strcmp(it, "none"))
			names = 0;
		else {
			free(dup);
			return -EINVAL;
		}
	}
	free(dup);
	*flags &= ~(unsigned)(CTFLIVE_CTF_NAMES_PAYLOAD | CTFLIVE_CTF_NAMES_CONTEXT |
			      CTFLIVE_CTF_NAMES_SCOPE | CTFLIVE_CTF_NAMES_HEADER);
	*flags |= names;
	return 0;
}

static int parse_fields(const char *list, unsigned *flags)
{
	const unsigned all = CTFLIVE_CTF_FIELD_TRACE | CTFLIVE_CTF_FIELD_HOSTNAME |
			     CTFLIVE_CTF_FIELD_DOMAIN | CTFLIVE_CTF_FIELD_PROCNAME |
			     CTFLIVE_CTF_FIELD_VPID | CTFLIVE_CTF_FIELD_LOGLEVEL |
			     CTFLIVE_CTF_FIELD_EMF;
	unsigned fields = 0;
	char *dup = strdup(list), *save = NULL;

	if (!dup)
		return -ENOMEM;
	for (char *it = strtok_r(dup, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		if (!strcmp(it, "trace"))
			fields |= CTFLIVE_CTF_FIELD_TRACE;
		else if (!strcmp(it, "trace:hostname"))
			fields |= CTFLIVE_CTF_FIELD_HOSTNAME;
		else if (!strcmp(it, "trace:domain"))
			fields |= CTFLIVE_CTF_FIELD_DOMAIN;
		else if (!strcmp(it, "trace:procname"))
			fields |= CTFLIVE_CTF_FIELD_PROCNAME;
		else if (!strcmp(it, "trace:vpid"))
			fields |= CTFLIVE_CTF_FIELD_VPID;
		else if (!strcmp(it, "loglevel"))
			fields |= CTFLIVE_CTF_FIELD_LOGLEVEL;
		else if (!strcmp(it, "emf"))
			fields |= CTFLIVE_CTF_FIELD_EMF;
		else if (!strcmp(it, "callsite"))
			; /* accepted, not printed (as babeltrace2 2.0.4) */
		else if (!strcmp(it, "all"))
			fields |= all;
		else {
			free(dup);
			return -EINVAL;
		}
	}
	free(dup);
	*flags &= ~all;
	*flags |= fields;
	return 0;
}

static int flush(struct ctflive_ctf_printer *p, int which)
{
	struct ctflive_bytes b = ctflive_ctf_printer_output(p, which);
	int r = 0;

	if (b.len)
		r = cl_write_full(which ? STDERR_FILENO : STDOUT_FILENO, b.data, b.len);
	ctflive_ctf_printer_clear(p, which);
	return r;
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
	enum {
		O_CYCLES = 256,
		O_DATE,
		O_GMT,
		O_SECONDS,
		O_NODELTA,
		O_JSON,
		O_DECODE,
		O_OFFSET,
		O_OFFSET_NS
	};
	static const struct option opts[] = {
		{ "clock-cycles", no_argument, NULL, O_CYCLES },
		{ "clock-date", no_argument, NULL, O_DATE },
		{ "clock-gmt", no_argument, NULL, O_GMT },
		{ "clock-seconds", no_argument, NULL, O_SECONDS },
		{ "no-delta", no_argument, NULL, O_NODELTA },
		{ "clock-offset", required_argument, NULL, O_OFFSET },
		{ "clock-offset-ns", required_argument, NULL, O_OFFSET_NS },
		{ "names", required_argument, NULL, 'n' },
		{ "fields", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, O_JSON },
		{ "decode-only", no_argument, NULL, O_DECODE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned flags = CTFLIVE_CTF_PRINT_DEFAULT;
	bool decode_only = false;
	int64_t offset_ns = 0;
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
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:f:h", opts, NULL)) != -1) {
		switch (c) {
		case O_CYCLES:
			flags |= CTFLIVE_CTF_CLOCK_CYCLES;
			break;
		case O_DATE:
			flags |= CTFLIVE_CTF_CLOCK_DATE;
			break;
		case O_GMT:
			flags |= CTFLIVE_CTF_CLOCK_GMT;
			break;
		case O_SECONDS:
			flags |= CTFLIVE_CTF_CLOCK_SECONDS;
			break;
		case O_NODELTA:
			flags |= CTFLIVE_CTF_NO_DELTA;
			break;
		case O_JSON:
			flags |= CTFLIVE_CTF_JSON;
			break;
		case O_DECODE:
			decode_only = true;
			break;
		case O_OFFSET:
		case O_OFFSET_NS: {
			char *end;
			long long v;

			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end ||
			    (c == O_OFFSET &&
			     (v > INT64_MAX / 1000000000 || v < INT64_MIN / 1000000000))) {
				log_error("invalid clock offset '%s'", optarg);
				return 2;
			}
			offset_ns += c == O_OFFSET ? (int64_t)v * 1000000000 : (int64_t)v;
			break;
		}
		case 'n':
			if (parse_names(optarg, &flags) < 0) {
				log_error("invalid --names list '%s'", optarg);
				return 2;
			}
			break;
		case 'f':
			if (parse_fields(optarg, &flags) < 0) {
				log_error("invalid --fields list '%s'", optarg);
				return 2;
			}
			break;
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
			log_error_errno(r, "cannot open trace '%s'",
					errpath ? errpath : argv[optind]);
		return 1;
	}
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
		r = ctflive_ctf_printer_new(flags, &pr);
	if (r >= 0)
		ctflive_ctf_printer_set_clock_offset(pr, offset_ns);
	if (r < 0) {
		log_error_errno(r, "cannot set up the viewer");
		goto out;
	}
	for (;;) {
		struct ctflive_ctf_msg m;
		struct ctflive_ctf_stream *s = NULL;

		r = ctflive_ctf_mux_next(mux, &m, &s, &diag);
		if (r == CTFLIVE_CTF_END)
			break;
		if (r < 0) {
			(void)flush(pr, 0);
			(void)flush(pr, 1);
			print_diag(s ? ctflive_ctf_stream_name(s) : NULL, &diag, false);
			goto out;
		}
		if (decode_only) {
			nevents += m.type == CTFLIVE_CTF_MSG_EVENT;
			continue;
		}
		r = ctflive_ctf_printer_msg(pr, s, &m);
		if (r < 0)
			goto oom;
		if (!(flags & CTFLIVE_CTF_JSON) && (m.type == CTFLIVE_CTF_MSG_DISCARDED_EVENTS ||
						    m.type == CTFLIVE_CTF_MSG_DISCARDED_PACKETS)) {
			r = ctflive_ctf_printer_warning(pr, s, &m);
			if (r < 0)
				goto oom;
			(void)flush(pr, 1);
		}
		if (ctflive_ctf_printer_output(pr, 0).len >= FLUSH_AT) {
			r = flush(pr, 0);
			if (r < 0) {
				if (r != -EPIPE)
					log_error_errno(r, "cannot write output");
				goto out;
			}
		}
	}
	if (decode_only)
		printf("%" PRIu64 " events\n", nevents);
	r = flush(pr, 0);
	(void)flush(pr, 1);
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
