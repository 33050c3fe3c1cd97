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

#define FLUSH_AT (1u << 20)
#define WAIT_MS  50 /* between polls while nothing can be printed */
#define NAME_BITS                                                                          \
	(CTFLIVE_CTF_NAMES_PAYLOAD | CTFLIVE_CTF_NAMES_CONTEXT | CTFLIVE_CTF_NAMES_SCOPE | \
	 CTFLIVE_CTF_NAMES_HEADER)
#define FIELD_BITS                                                                          \
	(CTFLIVE_CTF_FIELD_TRACE | CTFLIVE_CTF_FIELD_HOSTNAME | CTFLIVE_CTF_FIELD_DOMAIN |  \
	 CTFLIVE_CTF_FIELD_PROCNAME | CTFLIVE_CTF_FIELD_VPID | CTFLIVE_CTF_FIELD_LOGLEVEL | \
	 CTFLIVE_CTF_FIELD_EMF)

struct word {
	const char *name;
	unsigned bits;
};

/* The words of `ctflive view --names/--fields` (babeltrace2's). */
static const struct word names[] = {
	{ "payload", CTFLIVE_CTF_NAMES_PAYLOAD },
	{ "arg", CTFLIVE_CTF_NAMES_PAYLOAD },
	{ "args", CTFLIVE_CTF_NAMES_PAYLOAD },
	{ "context", CTFLIVE_CTF_NAMES_CONTEXT },
	{ "ctx", CTFLIVE_CTF_NAMES_CONTEXT },
	{ "scope", CTFLIVE_CTF_NAMES_SCOPE },
	{ "header", CTFLIVE_CTF_NAMES_HEADER },
	{ "all", NAME_BITS },
	{ "none", 0 },
};

static const struct word fields[] = {
	{ "trace", CTFLIVE_CTF_FIELD_TRACE },
	{ "trace:hostname", CTFLIVE_CTF_FIELD_HOSTNAME },
	{ "trace:domain", CTFLIVE_CTF_FIELD_DOMAIN },
	{ "trace:procname", CTFLIVE_CTF_FIELD_PROCNAME },
	{ "trace:vpid", CTFLIVE_CTF_FIELD_VPID },
	{ "loglevel", CTFLIVE_CTF_FIELD_LOGLEVEL },
	{ "emf", CTFLIVE_CTF_FIELD_EMF },
	{ "callsite", 0 }, /* accepted, not printed (as babeltrace2 2.0.4) */
	{ "all", FIELD_BITS },
};

static void help(FILE *f)
{
	fputs("usage: ctflive follow [OPTIONS] DIR\n"
	      "\n"
	      "Print the events of the CTF traces below DIR (a session directory written\n"
	      "by ctflive-relayd) while they are being written, merged by time, in\n"
	      "babeltrace2's default text format (or JSON Lines). Reads only what the relay\n"
	      "has published (file locks, doc/file-formats.md); exits once the session\n"
	      "ended. A directory without a session marker is read once, as it is.\n"
	      "\n"
	      "  --clock-cycles         print timestamps in clock cycles\n"
	      "  --clock-date           print timestamps with the date\n"
	      "  --clock-gmt            print timestamps in UTC instead of local time\n"
	      "  --clock-seconds        print timestamps as seconds since the epoch\n"
	      "  --no-delta             do not print the time since the previous event\n"
	      "  -n, --names LIST       field names to print: payload (or arg, args),\n"
	      "                         context (or ctx), scope, header, all, none\n"
	      "  -f, --fields LIST      header fields to print: trace, trace:hostname,\n"
	      "                         trace:domain, trace:procname, trace:vpid,\n"
	      "                         loglevel, emf, callsite, all\n"
	      "  --json                 one JSON object per line (see doc/ctf-json.md)\n"
	      "  --grace MS             how late a packet may be published after its\n"
	      "                         events, for merging idle streams (default 1000)\n"
	      "  -h, --help             show this help\n",
	      f);
}

/* Parses a comma-separated LIST of words into the bits of `mask`. */
static int parse_words(const char *list, const struct word *w, size_t n, unsigned mask,
		       unsigned *flags)
{
	unsigned bits = 0;
	const char *p = list;

	for (;;) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < n; i++)
			if (strlen(w[i].name) == len && !strncmp(w[i].name, p, len))
				break;
		if (i == n)
			return -EINVAL;
		if (!strcmp(w[i].name, "none"))
			bits = 0;
		bits |= w[i].bits;
		if (!p[len])
			break;
		p += len + 1;
	}
	*flags = (*flags & ~mask) | bits;
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

static void print_warnings(struct ctflive_follow *f)
{
	const char *w;

	while ((w = ctflive_follow_next_warning(f)))
		log_warning("%s", w);
}

static int parse_ms(const char *s, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 3600000)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int cl_cmd_follow(int argc, char **argv)
{
	enum { O_CYCLES = 256, O_DATE, O_GMT, O_SECONDS, O_NODELTA, O_JSON, O_GRACE };
	static const struct option opts[] = {
		{ "clock-cycles", no_argument, NULL, O_CYCLES },
		{ "clock-date", no_argument, NULL, O_DATE },
		{ "clock-gmt", no_argument, NULL, O_GMT },
		{ "clock-seconds", no_argument, NULL, O_SECONDS },
		{ "no-delta", no_argument, NULL, O_NODELTA },
		{ "names", required_argument, NULL, 'n' },
		{ "fields", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, O_JSON },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ctflive_follow_options fo = { 0 };
	unsigned flags = CTFLIVE_CTF_PRINT_DEFAULT;
	struct ctflive_follow *f = NULL;
	struct ctflive_ctf_printer *pr = NULL;
	int c, r, ret = 1;

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
		case O_GRACE:
			if (parse_ms(optarg, &fo.grace_ms) < 0) {
				log_error("invalid --grace '%s'", optarg);
				return 2;
			}
			break;
		case 'n':
			if (parse_words(optarg, names, CL_ARRAY_SIZE(names), NAME_BITS, &flags) <
			    0) {
				log_error("invalid --names list '%s'", optarg);
				return 2;
			}
			break;
		case 'f':
			if (parse_words(optarg, fields, CL_ARRAY_SIZE(fields), FIELD_BITS, &flags) <
			    0) {
				log_error("invalid --fields list '%s'", optarg);
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
	r = ctflive_follow_new(argv[optind], &fo, &f);
	if (r < 0)
		return log_error_errno(r, "cannot follow '%s'", argv[optind]), 1;
	if (!ctflive_follow_has_marker(f))
		log_warning("no session marker in '%s': not written by ctflive-relayd, reading "
			    "what is complete",
			    argv[optind]);
	r = ctflive_ctf_printer_new(flags, &pr);
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
			r = flush(pr, 0);
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
			(void)flush(pr, 0);
			(void)flush(pr, 1);
			log_error("%s", ctflive_follow_error(f));
			goto out;
		}
		r = ctflive_ctf_printer_msg(pr, s, &m);
		if (r >= 0 && !(flags & CTFLIVE_CTF_JSON) &&
		    (m.type == CTFLIVE_CTF_MSG_DISCARDED_EVENTS ||
		     m.type == CTFLIVE_CTF_MSG_DISCARDED_PACKETS)) {
			/* Warnings go out in order with the events before them. */
			r = flush(pr, 0);
			if (r < 0)
				goto out_write;
			r = ctflive_ctf_printer_warning(pr, s, &m);
			if (r >= 0)
				(void)flush(pr, 1);
		}
		if (r < 0) {
			log_error_errno(r, "out of memory");
			goto out;
		}
		if (ctflive_ctf_printer_output(pr, 0).len >= FLUSH_AT) {
			r = flush(pr, 0);
			if (r < 0)
				goto out_write;
		}
	}
	r = flush(pr, 0);
	(void)flush(pr, 1);
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
