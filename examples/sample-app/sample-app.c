/* SPDX-License-Identifier: MIT */
/*
 * ctflive-sample-app: emits a known sequence of lttng-ust events.
 *
 *   ctflive-sample-app [--count N] [--interval-us U] [--name X]
 *
 * Emits ctflive_sample:start, then N ctflive_sample:tick events numbered
 * 0 … N-1, one every U microseconds on an absolute schedule (no drift), then
 * ctflive_sample:stop.  Integration tests check that every index arrives.
 * With --types, each tick is followed by ctflive_sample:types,
 * ctflive_extra:arrays and, from lttng-ust's own providers, one
 * lttng_ust_tracef:event and one lttng_ust_tracelog:LTTNG_UST_TRACEPOINT_LOGLEVEL_WARNING.
 *
 * When a session daemon is reachable, liblttng-ust registers the program
 * from a constructor and waits (LTTNG_UST_REGISTER_TIMEOUT, 3 s by default)
 * until the enabled events are known, so events emitted from main() are
 * recorded when the session was started beforehand.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The tracepoints of this program's providers are defined here, their
 * probes in *-tp.c; sample-log.c calls lttng-ust's tracef and tracelog. */
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "extra-tp.h"
#include "sample-log.h"
#include "sample-tp.h"

#define NSEC_PER_SEC 1000000000LL

static void usage(FILE *out)
{
	fputs("usage: ctflive-sample-app [--count N] [--interval-us U] [--name X] [--types]\n"
	      "  --count N        number of tick events (default 100)\n"
	      "  --interval-us U  microseconds between ticks (default 1000)\n"
	      "  --name X         string stored in every event (default \"sample\")\n"
	      "  --types          also emit a 'types' event per tick (every lttng-ust field kind)\n",
	      out);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || *s == '\0' || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

static void timespec_add_ns(struct timespec *ts, long long ns)
{
	long long total = (long long)ts->tv_nsec + ns;

	ts->tv_sec += (time_t)(total / NSEC_PER_SEC);
	ts->tv_nsec = (long)(total % NSEC_PER_SEC);
}

int main(int argc, char **argv)
{
	uint64_t count = 100, interval_us = 1000;
	const char *name = "sample";
	bool types = false;
	struct timespec next;
	int32_t seq[8];
	uint8_t bytes[4];

	for (int i = 1; i < argc; i += 2) {
		const char *opt = argv[i];

		if (strcmp(opt, "--types") == 0) {
			types = true;
			i--; /* no value */
			continue;
		}
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int r = 0;

		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(opt, "--count") == 0) {
			r = parse_u64(val, UINT64_MAX, &count);
		} else if (strcmp(opt, "--interval-us") == 0) {
			r = parse_u64(val, UINT32_MAX, &interval_us);
		} else if (strcmp(opt, "--name") == 0) {
			if (!val)
				r = -EINVAL;
			else
				name = val;
		} else {
			fprintf(stderr, "ctflive-sample-app: unknown option '%s'\n", opt);
			usage(stderr);
			return 2;
		}
		if (r < 0) {
			fprintf(stderr, "ctflive-sample-app: bad or missing value for '%s'\n", opt);
			return 2;
		}
	}

	lttng_ust_tracepoint(ctflive_sample, start, name, count, (uint32_t)interval_us);

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint64_t i = 0; i < count; i++) {
		uint32_t seq_len = (uint32_t)(i % 5);

		for (unsigned k = 0; k < 4; k++)
			bytes[k] = (uint8_t)((i + k) & 0xff);
		for (uint32_t k = 0; k < seq_len; k++)
			seq[k] = (int32_t)(i % 100000) * 10 + (int32_t)k;

		lttng_ust_tracepoint(ctflive_sample, tick, name, i, bytes, seq, seq_len);
		if (types) {
			/*
			 * Text with a NUL inside, every length 1..8 (babeltrace2 2.0.4
			 * prints a stale value for an empty text sequence).
			 */
			static const char text[] = "ab\"\\\n\tz\0q";

			static const double special[] = { 0.0,       -0.0,  1.0 / 3.0, INFINITY,
							  -INFINITY, 1e300, -2.5e-310 };
			uint32_t words[8];

			lttng_ust_tracepoint(ctflive_sample, types, (int64_t)i, text,
					     (uint32_t)(i % 8 + 1));
			for (unsigned k = 0; k < 8; k++)
				words[k] = (uint32_t)(i * 2654435761u) ^ (k * 0x01010101u);
			lttng_ust_tracepoint(ctflive_extra, arrays, i, words, (uint32_t)(i % 9),
					     special[i % (sizeof(special) / sizeof(special[0]))]);
			sample_log(i, name);
		}

		if (interval_us > 0 && i + 1 < count) {
			timespec_add_ns(&next, (long long)interval_us * 1000);
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) ==
			       EINTR)
				;
		}
	}

	lttng_ust_tracepoint(ctflive_sample, stop, name, count);
	printf("ctflive-sample-app: %s emitted %" PRIu64 " ticks\n", name, count);
	return 0;
}
