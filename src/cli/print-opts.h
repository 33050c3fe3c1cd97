/* SPDX-License-Identifier: MIT */
/*
 * The printing options babeltrace2 users know (--clock-*, --no-delta,
 * -n/--names, -f/--fields, --json), parsed once for every subcommand that
 * prints events: `view` of directories, live `view` and `follow`.
 *
 * A subcommand puts CLI_PRINT_LONGOPTS in its getopt_long() table and
 * CLI_PRINT_SHORTOPTS in its short option string, hands every option to
 * cli_print_opt() first, and creates its printer with cli_printer_new().
 */
#ifndef CL_CLI_PRINT_OPTS_H
#define CL_CLI_PRINT_OPTS_H

#include <getopt.h>
#include <stdint.h>

#include "ctflive/ctf.h"

enum {
	CLI_O_CYCLES = 0x1000,
	CLI_O_DATE,
	CLI_O_GMT,
	CLI_O_SECONDS,
	CLI_O_NODELTA,
	CLI_O_JSON,
	CLI_O_OFFSET,
	CLI_O_OFFSET_NS,
};

#define CLI_PRINT_SHORTOPTS "n:f:"
#define CLI_PRINT_LONGOPTS                                                       \
	{ "clock-cycles", no_argument, NULL, CLI_O_CYCLES },                     \
		{ "clock-date", no_argument, NULL, CLI_O_DATE },                 \
		{ "clock-gmt", no_argument, NULL, CLI_O_GMT },                   \
		{ "clock-seconds", no_argument, NULL, CLI_O_SECONDS },           \
		{ "no-delta", no_argument, NULL, CLI_O_NODELTA },                \
		{ "clock-offset", required_argument, NULL, CLI_O_OFFSET },       \
		{ "clock-offset-ns", required_argument, NULL, CLI_O_OFFSET_NS }, \
		{ "names", required_argument, NULL, 'n' },                       \
		{ "fields", required_argument, NULL, 'f' },                      \
	{                                                                        \
		"json", no_argument, NULL, CLI_O_JSON                            \
	}

/* Help lines for those options, for the subcommands' --help. */
#define CLI_PRINT_HELP                                                                   \
	"  --clock-cycles         print timestamps in clock cycles\n"                    \
	"  --clock-date           print timestamps with the date\n"                      \
	"  --clock-gmt            print timestamps in UTC instead of local time\n"       \
	"  --clock-seconds        print timestamps as seconds since the epoch\n"         \
	"  --no-delta             do not print the time since the previous event\n"      \
	"  --clock-offset SEC     add SEC seconds to printed times\n"                    \
	"  --clock-offset-ns NS   add NS nanoseconds to printed times\n"                 \
	"  -n, --names LIST       field names to print: payload (or arg, args),\n"       \
	"                         context (or ctx), scope, header, all, none\n"          \
	"  -f, --fields LIST      header fields to print: trace, trace:hostname,\n"      \
	"                         trace:domain, trace:procname, trace:vpid,\n"           \
	"                         loglevel, emf, callsite, all\n"                        \
	"                         (-n and -f add up when repeated, as in babeltrace2)\n" \
	"  --json                 one JSON object per line (see doc/ctf-json.md)\n"

/* What the -n (or -f) options said so far, combined as babeltrace2 does. */
struct cli_word_opts {
	enum { CLI_DEFAULT_UNSET, CLI_DEFAULT_SHOW, CLI_DEFAULT_HIDE } dflt; /* last all/none */
	unsigned yes; /* every word named in any option */
};

struct cli_print_opts {
	unsigned flags;    /* CTFLIVE_CTF_* printer flags */
	int64_t offset_ns; /* added to printed times */
	struct cli_word_opts names, fields;
	/* The option setting the follower's grace ("--grace"), named after an
	 * error that the grace may explain; NULL: the command has none. */
	const char *grace_option;
};

/* The defaults: babeltrace2's default text format. */
void cli_print_opts_init(struct cli_print_opts *o);

/*
 * Handles getopt_long()'s result `c` (argument `arg`) if it is a printing
 * option. Returns 1 when handled, 0 when `c` is another option, -1 (after
 * logging why) for an invalid argument: the caller exits 2.
 */
int cli_print_opt(int c, const char *arg, struct cli_print_opts *o);

/* Creates the printer for `o`. 0 or a negative errno; *ret owned by the caller. */
int cli_printer_new(const struct cli_print_opts *o, struct ctflive_ctf_printer **ret);

/* Writes and clears the printer's stdout (which = 0) or stderr (1) buffer. */
int cli_printer_flush(struct ctflive_ctf_printer *p, int which);

#endif
