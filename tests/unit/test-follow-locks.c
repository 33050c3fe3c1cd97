/* SPDX-License-Identifier: MIT */
/*
 * Reader-side lock helpers of ctflive/follow.h against a separate process
 * that holds OFD write locks the way the relay does (doc/file-formats.md
 * §3): one write lock from the safe point to the end of the file, moved
 * forward by unlocking [old, new).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctflive/follow.h"

/* A "relay" child: opens the file itself (its own open file description)
 * and applies lock commands sent over a pipe, acknowledging each. */
struct cmd {
	char op; /* 'W' write-lock [a, a+b) (b = 0: to EOF), 'U' unlock, 'Q' quit */
	uint64_t a, b;
};

struct holder {
	pid_t pid;
	int to, from;
};

static char path[4096];

static void child(int in, int out)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct cmd c;

	while (read(in, &c, sizeof(c)) == (ssize_t)sizeof(c)) {
		struct flock fl = { .l_type = c.op == 'W' ? F_WRLCK : F_UNLCK,
				    .l_whence = SEEK_SET,
				    .l_start = (off_t)c.a,
				    .l_len = (off_t)c.b };
		char ok;

		if (c.op == 'Q')
			break;
		ok = fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 'y' : 'n';
		if (write(out, &ok, 1) != 1)
			break;
	}
	_exit(0);
}

static void holder_start(struct holder *h)
{
	int p1[2], p2[2];

	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		close(p1[1]);
		close(p2[0]);
		child(p1[0], p2[1]);
	}
	close(p1[0]);
	close(p2[1]);
	h->to = p1[1];
	h->from = p2[0];
}

static void holder_do(struct holder *h, char op, uint64_t a, uint64_t b)
{
	struct cmd c = { .op = op, .a = a, .b = b };
	char ok = 0;

	assert_int_equal(write(h->to, &c, sizeof(c)), (ssize_t)sizeof(c));
	assert_int_equal(read(h->from, &ok, 1), 1);
	assert_int_equal(ok, 'y');
}

static void holder_stop(struct holder *h)
{
	struct cmd c = { .op = 'Q' };
	int st;

	assert_int_equal(write(h->to, &c, sizeof(c)), (ssize_t)sizeof(c));
	assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
	close(h->to);
	close(h->from);
}

static int setup(void **state)
{
	uint8_t buf[100];
	int fd;
	const char *tmp = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/test-follow-locks-%ld", tmp && *tmp ? tmp : "/tmp",
		 (long)getpid());
	(void)state;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void unlocked_file(void **state)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t end = 0;
	uint8_t b[10];

	(void)state;
	assert_int_equal(ctflive_follow_safe_end(fd, 0, &end), 0);
	assert_true(end == UINT64_MAX);
	assert_false(ctflive_follow_is_locked(fd));
	assert_int_equal(ctflive_follow_pread_locked(fd, b, sizeof(b), 90), 0);
	assert_int_equal(b[0], 90);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, sizeof(b), 95), -EMSGSIZE);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 0, 0), -EINVAL);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, sizeof(b), UINT64_MAX - 3), -EINVAL);
	close(fd);
}

static void safe_point_moves(void **state)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct holder h;
	uint64_t end = 0;
	uint8_t b[20];

	(void)state;
	holder_start(&h);
	holder_do(&h, 'W', 40, 0); /* published: [0, 40) */
	assert_true(ctflive_follow_is_locked(fd));
	assert_int_equal(ctflive_follow_safe_end(fd, 0, &end), 0);
	assert_int_equal(end, 40);
	/* A lock starting before `from`: nothing is published past `from`. */
	assert_int_equal(ctflive_follow_safe_end(fd, 50, &end), 0);
	assert_int_equal(end, 50);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 20, 20), 0);
	assert_int_equal(b[0], 20);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 20, 30), -EAGAIN);
	/* Beyond EOF is locked too (l_len = 0 grows with the file). */
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 20, 200), -EAGAIN);

	holder_do(&h, 'U', 40, 20); /* publish [40, 60) */
	assert_int_equal(ctflive_follow_safe_end(fd, 40, &end), 0);
	assert_int_equal(end, 60);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 20, 30), 0);
	assert_int_equal(b[19], 49);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 20, 41), -EAGAIN);

	holder_do(&h, 'U', 0, 0); /* done with the file */
	assert_false(ctflive_follow_is_locked(fd));
	assert_int_equal(ctflive_follow_safe_end(fd, 60, &end), 0);
	assert_true(end == UINT64_MAX);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 20, 80), 0);
	holder_stop(&h);
	close(fd);
}

static void read_lock_does_not_block_writer_elsewhere(void **state)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct holder h;
	uint64_t end = 0;
	uint8_t b[4];

	(void)state;
	holder_start(&h);
	holder_do(&h, 'W', 0, 0); /* new file: locked from 0 */
	assert_int_equal(ctflive_follow_safe_end(fd, 0, &end), 0);
	assert_int_equal(end, 0);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 4, 0), -EAGAIN);
	/* Readers release their lock: the relay can still lock [10, EOF)
	 * after publishing [0, 10), and the reader then reads [0, 10). */
	holder_do(&h, 'U', 0, 10);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 4, 6), 0);
	holder_do(&h, 'W', 10, 0);
	assert_int_equal(ctflive_follow_pread_locked(fd, b, 4, 8), -EAGAIN);
	holder_stop(&h);
	/* The lock dies with the holder (relay crash): everything is readable. */
	assert_false(ctflive_follow_is_locked(fd));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unlocked_file),
		cmocka_unit_test(safe_point_moves),
		cmocka_unit_test(read_lock_does_not_block_writer_elsewhere),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
