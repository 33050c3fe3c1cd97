/* SPDX-License-Identifier: MIT */
/*
 * The print loop of every subcommand that prints events (`view DIR`,
 * `view net://...`, `follow DIR`): messages from the iterator of
 * libctflive (ctflive/iter.h), formatted by the CTF printer, babeltrace2's
 * discarded-items warnings and the source's warnings on stderr, in order
 * with the events before them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ctflive/iter.h"
#include "log.h"
#include "print-opts.h"

/* Write stdout out once the printer holds this much (and whenever the
 * source has nothing to return yet, so a live viewer sees events at once). */
#define FLUSH_AT (1u << 20)

static void print_diag(const struct ctflive_diag *d, bool warning)
{
	char line[sizeof(d->where) + sizeof(d->msg) + 64];

	ctflive_diag_format(d, line, sizeof(line));
	if (warning)
		log_warning("%s", line);
	else
		log_error("%s", line);
}

void cl_cli_print_diag(const struct ctflive_diag *d, bool warning)
{
	print_diag(d, warning);
}

int cl_cli_print_loop(struct ctflive_iter *it, const struct cli_print_opts *po, bool decode_only)
{
	struct ctflive_ctf_printer *pr = NULL;
	uint64_t nevents = 0;
	bool text = !(po->flags & CTFLIVE_CTF_JSON);
	int r, ret = 1;

	r = cli_printer_new(po, &pr);
	if (r < 0) {
		log_error_errno(r, "cannot set up the viewer");
		return 1;
	}
	for (;;) {
		const struct ctflive_ctf_msg *m;
		const struct ctflive_ctf_stream *s;
		const struct ctflive_diag *w;

		r = ctflive_iter_next(it, &m, &s);
		if (__builtin_expect(r == 0, 1)) {
			if (decode_only) {
				nevents += m->type == CTFLIVE_CTF_MSG_EVENT;
				continue;
			}
			r = ctflive_ctf_printer_msg(pr, s, m);
			if (r >= 0 && text &&
			    (m->type == CTFLIVE_CTF_MSG_DISCARDED_EVENTS ||
			     m->type == CTFLIVE_CTF_MSG_DISCARDED_PACKETS)) {
				/* in order with the events before it */
				r = cli_printer_flush(pr, 0);
				if (r < 0)
					goto out_write;
				r = ctflive_ctf_printer_warning(pr, s, m);
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
			continue;
		}
		if (r == CTFLIVE_ITER_WARNING) {
			r = cli_printer_flush(pr, 0);
			if (r < 0)
				goto out_write;
			while ((w = ctflive_iter_next_warning(it)))
				print_diag(w, true);
			continue;
		}
		if (r == -EAGAIN) {
			r = cli_printer_flush(pr, 0);
			if (r < 0)
				goto out_write;
			r = ctflive_iter_wait(it, CTFLIVE_ITER_WAIT_DEFAULT);
			if (r < 0) {
				log_error_errno(r, "cannot wait for the source");
				goto out;
			}
			continue;
		}
		if (r == CTFLIVE_CTF_END)
			break;
		(void)cli_printer_flush(pr, 0);
		(void)cli_printer_flush(pr, 1);
		print_diag(ctflive_iter_error(it), false);
		if (po->grace_option && strstr(ctflive_iter_error(it)->msg, "follower's grace"))
			log_notice("a larger %s may avoid this", po->grace_option);
		goto out;
	}
	if (decode_only && (printf("%" PRIu64 " events\n", nevents) < 0 || fflush(stdout) != 0)) {
		log_error_errno(-errno, "cannot write output");
		goto out;
	}
	r = cli_printer_flush(pr, 0);
	(void)cli_printer_flush(pr, 1);
	if (r < 0 && r != -EPIPE)
		goto out_write;
	ret = 0;
	goto out;
out_write:
	if (r != -EPIPE)
		log_error_errno(r, "cannot write output");
out:
	ctflive_ctf_printer_free(pr);
	return ret;
}
