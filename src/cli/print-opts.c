/* SPDX-License-Identifier: MIT */
#include "print-opts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "macro.h"

struct word {
	const char *name;
	unsigned bits;
};

#define NAME_BITS                                                                          \
	(CTFLIVE_CTF_NAMES_PAYLOAD | CTFLIVE_CTF_NAMES_CONTEXT | CTFLIVE_CTF_NAMES_SCOPE | \
	 CTFLIVE_CTF_NAMES_HEADER)
#define FIELD_BITS                                                                          \
	(CTFLIVE_CTF_FIELD_TRACE | CTFLIVE_CTF_FIELD_HOSTNAME | CTFLIVE_CTF_FIELD_DOMAIN |  \
	 CTFLIVE_CTF_FIELD_PROCNAME | CTFLIVE_CTF_FIELD_VPID | CTFLIVE_CTF_FIELD_LOGLEVEL | \
	 CTFLIVE_CTF_FIELD_EMF)

static const struct word names[] = {
	{ "payload", CTFLIVE_CTF_NAMES_PAYLOAD },
	{ "arg", CTFLIVE_CTF_NAMES_PAYLOAD },
	{ "args", CTFLIVE_CTF_NAMES_PAYLOAD },
	{ "context", CTFLIVE_CTF_NAMES_CONTEXT },
	{ "ctx", CTFLIVE_CTF_NAMES_CONTEXT },
	{ "scope", CTFLIVE_CTF_NAMES_SCOPE },
	{ "header", CTFLIVE_CTF_NAMES_HEADER },
	{ "all", 0 },
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
	{ "all", 0 },
};

/*
 * Adds one -n/-f list to *o the way babeltrace2 2.0.4's command line turns
 * it into text sink parameters (babeltrace2-cfg-cli-args.c,
 * insert_flat_params_from_array()): "all" and "none" set the default to
 * show or hide; any other word turns its item on; a list without "all" or
 * "none" also sets the default to hide. Later options add to earlier ones.
 */
static int parse_words(const char *list, const struct word *w, size_t n, struct cli_word_opts *o)
{
	const char *p = list;
	struct cli_word_opts next = *o;
	bool dflt = false, other = false;

	for (;; p++) {
		size_t len = strcspn(p, ","), i;

		/* empty items are skipped, as babeltrace2's scanner does */
		if (len == 0) {
			if (!*p)
				break;
			continue;
		}
		for (i = 0; i < n; i++)
			if (strlen(w[i].name) == len && !strncmp(w[i].name, p, len))
				break;
		if (i == n)
			return -EINVAL;
		if (!strcmp(w[i].name, "all") || !strcmp(w[i].name, "none")) {
			next.dflt = w[i].name[0] == 'a' ? CLI_DEFAULT_SHOW : CLI_DEFAULT_HIDE;
			dflt = true;
		} else {
			next.yes |= w[i].bits;
			other = true;
		}
		p += len;
		if (!*p)
			break;
	}
	if (other && !dflt)
		next.dflt = CLI_DEFAULT_HIDE;
	*o = next;
	return 0;
}

/* The printer bits of `mask` for *o, `unset` being the default's bits. */
static unsigned word_bits(const struct cli_word_opts *o, unsigned mask, unsigned unset)
{
	unsigned base = o->dflt == CLI_DEFAULT_UNSET  ? unset
			: o->dflt == CLI_DEFAULT_SHOW ? mask
						      : 0;

	return (base | o->yes) & mask;
}

static void update_flags(struct cli_print_opts *o)
{
	o->flags &= ~(unsigned)(NAME_BITS | FIELD_BITS);
	o->flags |= word_bits(&o->names, NAME_BITS, CTFLIVE_CTF_PRINT_DEFAULT & NAME_BITS) |
		    word_bits(&o->fields, FIELD_BITS, CTFLIVE_CTF_PRINT_DEFAULT & FIELD_BITS);
}

void cli_print_opts_init(struct cli_print_opts *o)
{
	*o = (struct cli_print_opts){ .flags = CTFLIVE_CTF_PRINT_DEFAULT };
}

int cli_print_opt(int c, const char *arg, struct cli_print_opts *o)
{
	switch (c) {
	case CLI_O_CYCLES:
		o->flags |= CTFLIVE_CTF_CLOCK_CYCLES;
		return 1;
	case CLI_O_DATE:
		o->flags |= CTFLIVE_CTF_CLOCK_DATE;
		return 1;
	case CLI_O_GMT:
		o->flags |= CTFLIVE_CTF_CLOCK_GMT;
		return 1;
	case CLI_O_SECONDS:
		o->flags |= CTFLIVE_CTF_CLOCK_SECONDS;
		return 1;
	case CLI_O_NODELTA:
		o->flags |= CTFLIVE_CTF_NO_DELTA;
		return 1;
	case CLI_O_JSON:
		o->flags |= CTFLIVE_CTF_JSON;
		return 1;
	case CLI_O_OFFSET:
	case CLI_O_OFFSET_NS: {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(arg, &end, 10);
		if (errno || end == arg || *end ||
		    (c == CLI_O_OFFSET &&
		     (v > INT64_MAX / 1000000000 || v < INT64_MIN / 1000000000))) {
			log_error("invalid clock offset '%s'", arg);
			return -1;
		}
		o->offset_ns += c == CLI_O_OFFSET ? (int64_t)v * 1000000000 : (int64_t)v;
		return 1;
	}
	case 'n':
		if (parse_words(arg, names, CL_ARRAY_SIZE(names), &o->names) < 0) {
			log_error("invalid --names list '%s'", arg);
			return -1;
		}
		update_flags(o);
		return 1;
	case 'f':
		if (parse_words(arg, fields, CL_ARRAY_SIZE(fields), &o->fields) < 0) {
			log_error("invalid --fields list '%s'", arg);
			return -1;
		}
		update_flags(o);
		return 1;
	default:
		return 0;
	}
}

int cli_printer_new(const struct cli_print_opts *o, struct ctflive_ctf_printer **ret)
{
	int r = ctflive_ctf_printer_new(o->flags, ret);

	if (r == 0)
		ctflive_ctf_printer_set_clock_offset(*ret, o->offset_ns);
	return r;
}

int cli_printer_flush(struct ctflive_ctf_printer *p, int which)
{
	struct ctflive_bytes b = ctflive_ctf_printer_output(p, which);
	int r = 0;

	if (b.len)
		r = cl_write_full(which ? STDERR_FILENO : STDOUT_FILENO, b.data, b.len);
	ctflive_ctf_printer_clear(p, which);
	return r;
}
