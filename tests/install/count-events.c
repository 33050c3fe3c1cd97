/* SPDX-License-Identifier: MIT */
/*
 * Counts the events of the CTF traces below the directories given, with an
 * installed libctflive (<ctflive/iter.h>), and prints the count. Built by
 * test_install.py with `pkg-config --cflags --libs ctflive`, as C and as
 * C++. Exit status 1 with a message on stderr when the trace fails.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <ctflive/iter.h>

int main(int argc, char **argv)
{
	struct ctflive_diag diag;
	struct ctflive_iter *it = NULL;
	const struct ctflive_ctf_msg *msg;
	const struct ctflive_ctf_stream *stream;
	const struct ctflive_diag *w;
	char line[5120];
	uint64_t events = 0;
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s TRACE_DIR...\n", argv[0]);
		return 2;
	}
	ret = ctflive_iter_open_dirs((const char *const *)(argv + 1), (size_t)(argc - 1), &it,
				     &diag);
	if (ret < 0) {
		fprintf(stderr, "error: %s\n", ctflive_diag_format(&diag, line, sizeof(line)));
		return 1;
	}
	for (;;) {
		ret = ctflive_iter_next(it, &msg, &stream);
		if (ret == CTFLIVE_ITER_WARNING) {
			while ((w = ctflive_iter_next_warning(it)) != NULL)
				fprintf(stderr, "warning: %s\n",
					ctflive_diag_format(w, line, sizeof(line)));
			continue;
		}
		if (ret == -EAGAIN) {
			ret = ctflive_iter_wait(it, CTFLIVE_ITER_WAIT_DEFAULT);
			if (ret < 0)
				break;
			continue;
		}
		if (ret != 0)
			break;
		if (msg->type == CTFLIVE_CTF_MSG_EVENT)
			events++;
	}
	if (ret < 0) {
		fprintf(stderr, "error: %s\n",
			ctflive_diag_format(ctflive_iter_error(it), line, sizeof(line)));
		ctflive_iter_free(it);
		return 1;
	}
	ctflive_iter_free(it);
	printf("%llu\n", (unsigned long long)events);
	return 0;
}
