/* SPDX-License-Identifier: MIT */
/*
 * ctflive subcommands. Each lives in its own file and is listed in the
 * table of main.c. A subcommand gets argv with argv[0] = "ctflive NAME" and
 * returns the process exit status: 0 success, 1 failure, 2 usage error.
 */
#ifndef CL_CLI_H
#define CL_CLI_H

#include <stdbool.h>

struct cl_cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

int cl_cmd_view(int argc, char **argv);
/* cmd-ls.c; view-live.c: `view` of a net:// URL (cl_cmd_view hands over). */
int cl_cmd_ls(int argc, char **argv);
int cl_cmd_view_live(int argc, char **argv);
int cl_cmd_follow(int argc, char **argv); /* cmd-follow.c */
/* cmd-follow.c: the session marker of DIR (doc/file-formats.md §4): 0, its
 * state (first line, cut to n - 1 bytes) in `state` and *locked when a
 * writer still holds it; -1 when DIR has none. */
int cl_cli_marker(const char *dir, char *state, size_t n, bool *locked);
int cl_cmd_web(int argc, char **argv);    /* cmd-web.c, web-*.c */
int cl_cmd_stream(int argc, char **argv); /* cmd-stream.c */
bool cl_cli_is_live_url(const char *s);
/* cmd-nats.c (built with libnats): nats:// URLs of `view` and `ls`. */
bool cl_cli_is_nats_url(const char *s);
int cl_cmd_view_nats(int argc, char **argv);
int cl_cmd_ls_nats(int argc, char **argv);
/* A duration option in milliseconds, 1 to 3600000 (one hour): 0, or
 * -EINVAL for anything else (the caller reports it). main.c. */
int cl_cli_parse_ms(const char *s, int *ret);
/* `url` for messages: user information ("USER:PASSWORD@") replaced with
 * "***"; `url` itself when it has none, else `buf` (cut to `cap` bytes). */
const char *cl_cli_url_redact(const char *url, char *buf, size_t cap);

struct ctflive_iter;
struct ctflive_diag;
struct cli_print_opts;
/*
 * print-loop.c: prints every message of `it` as `po` says (or only counts
 * events with `decode_only`), the source's warnings and its error, until it
 * ends. Returns the exit status: 0 at the end, 1 on an error.
 */
int cl_cli_print_loop(struct ctflive_iter *it, const struct cli_print_opts *po, bool decode_only);
/* Logs a diagnostic of the library as an error or a warning. */
void cl_cli_print_diag(const struct ctflive_diag *d, bool warning);

#endif
