/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzz inputs without libFuzzer: every file given, or every file of
 * every directory given, goes once through LLVMFuzzerTestOneInput. Used by
 * ctest so committed corpora and crash reproducers stay regression tests.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "grow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct cl_buf b = { 0 };
	size_t n;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (cl_buf_reserve(&b, 4096) < 0) {
			cl_buf_free(&b);
			fclose(f);
			return -1;
		}
		n = fread(b.data + b.len, 1, b.cap - b.len, f);
		b.len += n;
	} while (n > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(b.data ? b.data : (const uint8_t *)"", b.len);
	cl_buf_free(&b);
	return 0;
}

int main(int argc, char **argv)
{
	int ran = 0;

	for (int i = 1; i < argc; i++) {
		struct stat sb;

		if (stat(argv[i], &sb) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (S_ISDIR(sb.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *de;

			if (!d)
				return 1;
			while ((de = readdir(d))) {
				char p[4096];

				if (de->d_name[0] == '.')
					continue;
				snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
				if (run_file(p) < 0)
					return 1;
				ran++;
			}
			closedir(d);
		} else {
			if (run_file(argv[i]) < 0)
				return 1;
			ran++;
		}
	}
	printf("replayed %d inputs\n", ran);
	return ran > 0 ? 0 : 1;
}
