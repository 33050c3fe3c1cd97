/* SPDX-License-Identifier: MIT */
/*
 * ctflive subcommands. Each lives in its own file and is listed in the
 * table of main.c. A subcommand gets argv with argv[0] = its name and
 * returns the process exit status: 0 success, 1 failure, 2 usage error.
 */
#ifndef CL_CLI_H
#define CL_CLI_H

struct cl_cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

int cl_cmd_view(int argc, char **argv);

#endif
