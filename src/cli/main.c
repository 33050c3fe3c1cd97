/* SPDX-License-Identifier: MIT */
/* ctflive: subcommand dispatcher. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "macro.h"

static const struct cl_cli_cmd cmds[] = {
	{ "view",
	  "print the events of CTF trace directories, of a live session (net://)\n"
	  "             or of a session published to NATS (nats://)",
	  cl_cmd_view },
	{ "ls", "list the sessions of a relay daemon's live port (or of NATS)", cl_cmd_ls },
	{ "follow", "print the events of a trace directory while it is written", cl_cmd_follow },
	{ "web", "watch the live sessions of a relay daemon in a browser", cl_cmd_web },
	{ "stream", "send a trace directory to a relay daemon as a live session", cl_cmd_stream },
};

int cl_cli_parse_ms(const char *s, int *ret)
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

const char *cl_cli_url_redact(const char *url, char *buf, size_t cap)
{
	const char *sep = strstr(url, "://");
	const char *auth = sep ? sep + 3 : url;
	size_t alen = strcspn(auth, "/");
	const char *at = memchr(auth, '@', alen);

	if (!at || cap == 0)
		return url;
	/* the last '@' of the authority ends the user information */
	for (const char *p = at; p < auth + alen; p++)
		if (*p == '@')
			at = p;
	(void)snprintf(buf, cap, "%.*s***%s", (int)(auth - url), url, at);
	return buf;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ctflive COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < CL_ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\nRun 'ctflive COMMAND --help' for the options of a command,\n"
		   "'ctflive --version' for the version.\n");
}

int main(int argc, char **argv)
{
	cl_log_set_program("ctflive");
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("ctflive %s\n", CTFLIVE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < CL_ARRAY_SIZE(cmds); i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			static char prog[64];

			/* getopt_long() names argv[0] in its errors */
			(void)snprintf(prog, sizeof(prog), "ctflive %s", cmds[i].name);
			argv[1] = prog;
			return cmds[i].run(argc - 1, argv + 1);
		}
	}
	log_error("unknown command '%s'", argv[1]);
	return 2;
}
