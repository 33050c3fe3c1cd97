/* SPDX-License-Identifier: MIT */
/*
 * The merger (include/ctflive/merge.h) with fake inputs: every input state
 * (ready, idle up to a time, blocked, ended), ties, untimed messages, the
 * monotonic error, lost packets after a stream's last packet, inputs
 * without a stream, inputs read with ctflive_ctf_stream_next(), inputs
 * added while the merger asks another one, and input errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctflive/ctf.h"
#include "ctflive/merge.h"

#define UNTIMED INT64_MIN
#define MAXQ    16

/* A scripted input: queued messages, then `empty` when the queue is empty. */
struct fake {
	struct ctflive_ctf_stream *s; /* owned */
	struct ctflive_ctf_bufsrc *b; /* owned */
	int64_t q[MAXQ];              /* message times (UNTIMED: no time) */
	enum ctflive_ctf_msg_type qt[MAXQ];
	size_t qn, qi;
	int empty;               /* state answered when the queue is empty, or an errno */
	int64_t idle_ns;         /* for CTFLIVE_MERGE_IDLE */
	uint64_t lost, lost_end; /* reported when it ends */
	struct ctflive_merge *m;
	int64_t last_need;
	int asked, released;
	struct fake *add_on_pull; /* added to m on the next question */
};

static struct ctflive_ctf_trace *trace;

static int setup(void **state)
{
	(void)state;
	return ctflive_ctf_trace_new(&trace);
}

static int teardown(void **state)
{
	(void)state;
	trace = ctflive_ctf_trace_free(trace);
	return 0;
}

static void fake_init(struct fake *f, uint64_t stream_id)
{
	struct ctflive_ctf_source src;

	memset(f, 0, sizeof(*f));
	assert_int_equal(ctflive_ctf_bufsrc_new(&f->b), 0);
	src = ctflive_ctf_bufsrc_source(f->b);
	assert_int_equal(ctflive_ctf_stream_new(trace, &src, &f->s), 0);
	ctflive_ctf_stream_set_labels(f->s, "t", "s", stream_id);
	f->empty = CTFLIVE_MERGE_BLOCKED;
}

static void fake_fini(struct fake *f)
{
	ctflive_ctf_stream_free(f->s);
	ctflive_ctf_bufsrc_free(f->b);
}

static void push(struct fake *f, int64_t ns)
{
	assert_true(f->qn < MAXQ);
	f->qt[f->qn] = CTFLIVE_CTF_MSG_EVENT;
	f->q[f->qn++] = ns;
}

static void push_type(struct fake *f, int64_t ns, enum ctflive_ctf_msg_type t)
{
	push(f, ns);
	f->qt[f->qn - 1] = t;
}

static int pull(void *ctx, int64_t need_ns, struct ctflive_ctf_msg *ret, int64_t *ret_idle_ns,
		struct ctflive_ctf_diag *reterr)
{
	struct fake *f = ctx;

	f->asked++;
	f->last_need = need_ns;
	if (f->add_on_pull) {
		struct fake *n = f->add_on_pull;
		struct ctflive_merge_input in = { .stream = n->s, .pull = pull, .ctx = n };

		f->add_on_pull = NULL;
		n->m = f->m;
		assert_int_equal(ctflive_merge_add(f->m, &in), 0);
	}
	if (f->qi < f->qn) {
		memset(ret, 0, sizeof(*ret));
		ret->type = f->qt[f->qi];
		ret->has_time = f->q[f->qi] != UNTIMED;
		ret->ns = ret->has_time ? f->q[f->qi] : 0;
		f->qi++;
		return CTFLIVE_MERGE_READY;
	}
	if (f->empty < 0) {
		memset(reterr, 0, sizeof(*reterr));
		snprintf(reterr->msg, sizeof(reterr->msg), "fake failure");
		return f->empty;
	}
	if (f->empty == CTFLIVE_MERGE_IDLE)
		*ret_idle_ns = f->idle_ns;
	if (f->empty == CTFLIVE_MERGE_ENDED && f->lost)
		assert_int_equal(ctflive_merge_lost_after(f->m, f->s, f->lost, f->lost_end), 0);
	return f->empty;
}

static void release(void *ctx)
{
	((struct fake *)ctx)->released++;
}

static void add(struct ctflive_merge *m, struct fake *f)
{
	struct ctflive_merge_input in = {
		.stream = f->s, .pull = pull, .release = release, .ctx = f
	};

	f->m = m;
	assert_int_equal(ctflive_merge_add(m, &in), 0);
}

/* Next message: its time (UNTIMED without) and its input. */
static int next(struct ctflive_merge *m, int64_t *ns, struct fake **who, struct fake *const *all,
		size_t n)
{
	const struct ctflive_ctf_msg *msg;
	struct ctflive_ctf_stream *s = NULL;
	struct ctflive_ctf_diag d;
	int r = ctflive_merge_next(m, &msg, &s, &d);

	if (r != 0)
		return r;
	*ns = msg->has_time ? msg->ns : UNTIMED;
	*who = NULL;
	for (size_t i = 0; i < n; i++)
		if (all[i]->s == s)
			*who = all[i];
	assert_non_null(*who);
	return 0;
}

static void expect(struct ctflive_merge *m, struct fake *const *all, size_t n, int64_t ns,
		   struct fake *who)
{
	struct fake *w = NULL;
	int64_t t = 0;

	assert_int_equal(next(m, &t, &w, all, n), 0);
	assert_true(t == ns);
	assert_ptr_equal(w, who);
}

static void test_ready_interleaved(void **state)
{
	struct ctflive_merge *m;
	struct fake a, b;
	struct fake *all[] = { &a, &b };

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 2);
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	add(m, &b);
	push(&a, 1), push(&a, 3), push(&a, 5);
	push(&b, 2), push(&b, 4), push(&b, 6);
	a.empty = b.empty = CTFLIVE_MERGE_ENDED;
	for (int i = 1; i <= 6; i++)
		expect(m, all, 2, i, i % 2 ? &a : &b);
	{
		int64_t t;
		struct fake *w;

		assert_int_equal(next(m, &t, &w, all, 2), CTFLIVE_CTF_END);
	}
	assert_int_equal(a.released, 1);
	assert_int_equal(b.released, 1);
	assert_int_equal(ctflive_merge_input_count(m), 0);
	ctflive_merge_free(m);
	assert_int_equal(a.released, 1); /* not twice */
	fake_fini(&a);
	fake_fini(&b);
}

static void test_ties(void **state)
{
	struct ctflive_merge *m;
	struct fake a, b, c;
	struct fake *all[] = { &a, &b, &c };

	(void)state;
	fake_init(&a, 7);
	fake_init(&b, 3);
	fake_init(&c, 3); /* same labels as b: the message types decide */
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	add(m, &b);
	add(m, &c);
	push(&a, 5);
	push(&b, 5);
	push_type(&c, 5, CTFLIVE_CTF_MSG_PACKET_BEGIN);
	a.empty = b.empty = c.empty = CTFLIVE_MERGE_ENDED;
	/* equal times: stream id 3 before 7; for equal streams a packet
	 * beginning before an event (babeltrace2's message order) */
	expect(m, all, 3, 5, &c);
	expect(m, all, 3, 5, &b);
	expect(m, all, 3, 5, &a);
	ctflive_merge_free(m);
	fake_fini(&a);
	fake_fini(&b);
	fake_fini(&c);
}

static void test_untimed(void **state)
{
	struct ctflive_merge *m;
	struct fake a, b;
	struct fake *all[] = { &a, &b };

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 2);
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	add(m, &b);
	/* a message without time sorts at the time of the last one returned */
	push(&a, 1), push_type(&a, UNTIMED, CTFLIVE_CTF_MSG_DISCARDED_PACKETS), push(&a, 3);
	push(&b, 2);
	a.empty = b.empty = CTFLIVE_MERGE_ENDED;
	expect(m, all, 2, 1, &a);
	expect(m, all, 2, UNTIMED, &a);
	expect(m, all, 2, 2, &b);
	expect(m, all, 2, 3, &a);
	ctflive_merge_free(m);
	fake_fini(&a);
	fake_fini(&b);
}

static void test_idle_bound(void **state)
{
	struct ctflive_merge *m;
	struct fake a, b;
	struct fake *all[] = { &a, &b };
	struct fake *w;
	int64_t t;

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 2);
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	add(m, &b);
	push(&a, 10);
	b.empty = CTFLIVE_MERGE_IDLE;
	b.idle_ns = 5;
	/* idle up to 5 < 10: asked again with need_ns = 10, still 5 */
	assert_int_equal(next(m, &t, &w, all, 2), -EAGAIN);
	assert_true(b.last_need == 10);
	assert_int_equal(b.asked, 2);
	b.idle_ns = 9;
	assert_int_equal(next(m, &t, &w, all, 2), -EAGAIN);
	/* a bound equal to the message lets it through */
	b.idle_ns = 10;
	b.asked = 0;
	expect(m, all, 2, 10, &a);
	assert_int_equal(b.asked, 1);
	assert_true(b.last_need == INT64_MIN);
	/* nothing ready anywhere: an idle input is asked again at once */
	b.empty = CTFLIVE_MERGE_IDLE;
	b.asked = 0;
	a.empty = CTFLIVE_MERGE_IDLE;
	a.idle_ns = 100;
	assert_int_equal(next(m, &t, &w, all, 2), -EAGAIN);
	assert_int_equal(b.asked, 2);
	assert_true(b.last_need == INT64_MAX);
	/* b's new message is older than a bound it gave: still in order */
	a.empty = CTFLIVE_MERGE_IDLE;
	a.idle_ns = 100;
	push(&b, 11);
	expect(m, all, 2, 11, &b);
	a.empty = b.empty = CTFLIVE_MERGE_ENDED;
	assert_int_equal(next(m, &t, &w, all, 2), CTFLIVE_CTF_END);
	ctflive_merge_free(m);
	fake_fini(&a);
	fake_fini(&b);
}

static void test_blocked(void **state)
{
	struct ctflive_merge *m;
	struct fake a, b;
	struct fake *all[] = { &a, &b };
	struct fake *w;
	int64_t t;

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 2);
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	add(m, &b);
	push(&a, 1);
	b.empty = CTFLIVE_MERGE_BLOCKED;
	assert_int_equal(next(m, &t, &w, all, 2), -EAGAIN);
	assert_int_equal(next(m, &t, &w, all, 2), -EAGAIN);
	assert_int_equal(b.asked, 2); /* once per call: blocked is not asked twice */
	push(&b, 0);
	expect(m, all, 2, 0, &b);
	/* b blocked again: a waits */
	assert_int_equal(next(m, &t, &w, all, 2), -EAGAIN);
	b.empty = CTFLIVE_MERGE_ENDED;
	expect(m, all, 2, 1, &a);
	a.empty = CTFLIVE_MERGE_BLOCKED;
	assert_int_equal(next(m, &t, &w, all, 2), -EAGAIN);
	a.empty = CTFLIVE_MERGE_ENDED;
	assert_int_equal(next(m, &t, &w, all, 2), CTFLIVE_CTF_END);
	/* inputs may come after the end */
	{
		struct fake c;
		struct fake *all3[] = { &a, &b, &c };

		fake_init(&c, 3);
		add(m, &c);
		push(&c, 4);
		c.empty = CTFLIVE_MERGE_ENDED;
		expect(m, all3, 3, 4, &c);
		assert_int_equal(next(m, &t, &w, all3, 3), CTFLIVE_CTF_END);
		ctflive_merge_free(m);
		fake_fini(&c);
	}
	fake_fini(&a);
	fake_fini(&b);
}

static void test_monotonic_error(void **state)
{
	struct ctflive_merge *m;
	struct fake a, b;
	struct fake *all[] = { &a, &b };
	const struct ctflive_ctf_msg *msg;
	struct ctflive_ctf_stream *s;
	struct ctflive_ctf_diag d;
	struct fake *w;
	int64_t t;

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 2);
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	add(m, &b);
	/* a discarded-items message older than an event is not an error; an
	 * event is */
	push(&a, 5), push(&a, 3);
	push_type(&b, 4, CTFLIVE_CTF_MSG_DISCARDED_EVENTS);
	a.empty = b.empty = CTFLIVE_MERGE_ENDED;
	expect(m, all, 2, 4, &b);
	expect(m, all, 2, 5, &a);
	memset(&d, 0, sizeof(d));
	assert_int_equal(ctflive_merge_next(m, &msg, &s, &d), -EBADMSG);
	assert_ptr_equal(s, a.s);
	assert_non_null(strstr(d.msg, "earlier than the previous event"));
	/* sticky, with the same details */
	memset(&d, 0, sizeof(d));
	assert_int_equal(next(m, &t, &w, all, 2), -EBADMSG);
	assert_int_equal(ctflive_merge_next(m, &msg, &s, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "earlier than the previous event"));
	ctflive_merge_free(m);
	fake_fini(&a);
	fake_fini(&b);
}

static void test_lost_after_last(void **state)
{
	struct ctflive_merge *m;
	struct fake a, b;
	const struct ctflive_ctf_msg *msg;
	struct ctflive_ctf_stream *s;
	struct ctflive_ctf_diag d;

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 2);
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	add(m, &b);
	push(&a, 1);
	push(&b, 2);
	a.empty = b.empty = CTFLIVE_MERGE_ENDED;
	a.lost = 3;
	a.lost_end = 99;
	assert_int_equal(ctflive_merge_lost_after(m, NULL, 1, 1), -ENOENT);
	assert_int_equal(ctflive_merge_next(m, &msg, &s, &d), 0);
	assert_ptr_equal(s, a.s);
	/* a ended with 3 lost packets: one message, untimed (no clock), which
	 * sorts at the last time, before b's 2 */
	assert_int_equal(ctflive_merge_next(m, &msg, &s, &d), 0);
	assert_ptr_equal(s, a.s);
	assert_int_equal(msg->type, CTFLIVE_CTF_MSG_DISCARDED_PACKETS);
	assert_true(msg->lost_in_transit && msg->count_known);
	assert_int_equal(msg->count, 3);
	assert_false(msg->has_time);
	assert_int_equal(ctflive_merge_next(m, &msg, &s, &d), 0);
	assert_ptr_equal(s, b.s);
	assert_int_equal(ctflive_merge_next(m, &msg, &s, &d), CTFLIVE_CTF_END);
	assert_int_equal(a.released, 1);
	ctflive_merge_free(m);
	fake_fini(&a);
	fake_fini(&b);
}

static void test_bound_only_input(void **state)
{
	struct ctflive_merge *m;
	struct fake a, g;
	struct fake *all[] = { &a };
	struct ctflive_merge_input in = { .pull = pull, .ctx = &g };
	struct fake *w;
	int64_t t;

	(void)state;
	fake_init(&a, 1);
	memset(&g, 0, sizeof(g));
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	g.m = m;
	assert_int_equal(ctflive_merge_add(m, &in), 0);
	push(&a, 50), push(&a, 150);
	a.empty = CTFLIVE_MERGE_ENDED;
	g.empty = CTFLIVE_MERGE_BLOCKED;
	assert_int_equal(next(m, &t, &w, all, 1), -EAGAIN);
	g.empty = CTFLIVE_MERGE_IDLE;
	g.idle_ns = 100;
	expect(m, all, 1, 50, &a);
	assert_int_equal(next(m, &t, &w, all, 1), -EAGAIN);
	g.empty = CTFLIVE_MERGE_ENDED;
	expect(m, all, 1, 150, &a);
	assert_int_equal(next(m, &t, &w, all, 1), CTFLIVE_CTF_END);
	/* an input without stream that claims a message is refused */
	{
		const struct ctflive_ctf_msg *msg;
		struct ctflive_ctf_stream *s;
		struct ctflive_ctf_diag d;
		struct ctflive_merge *m2;

		assert_int_equal(ctflive_merge_new(&m2), 0);
		memset(&g, 0, sizeof(g));
		push(&g, 1);
		assert_int_equal(ctflive_merge_add(m2, &in), 0);
		assert_int_equal(ctflive_merge_next(m2, &msg, &s, &d), -EINVAL);
		ctflive_merge_free(m2);
	}
	in.pull = NULL;
	assert_int_equal(ctflive_merge_add(m, &in), -EINVAL);
	ctflive_merge_free(m);
	fake_fini(&a);
}

/* Inputs read with ctflive_ctf_stream_next(): -EAGAIN is blocked, the end
 * of the byte source is ended. */
static void test_plain_stream(void **state)
{
	struct ctflive_merge *m;
	struct fake a, p;
	struct fake *all[] = { &a, &p };
	struct ctflive_merge_input in;
	struct fake *w;
	int64_t t;

	(void)state;
	fake_init(&a, 1);
	fake_init(&p, 2);
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	in = (struct ctflive_merge_input){ .stream = p.s, .release = release, .ctx = &p };
	assert_int_equal(ctflive_merge_add(m, &in), 0);
	push(&a, 1);
	a.empty = CTFLIVE_MERGE_ENDED;
	assert_int_equal(next(m, &t, &w, all, 2), -EAGAIN);
	ctflive_ctf_bufsrc_end(p.b);
	expect(m, all, 2, 1, &a);
	assert_int_equal(next(m, &t, &w, all, 2), CTFLIVE_CTF_END);
	assert_int_equal(p.released, 1);
	ctflive_merge_free(m);
	fake_fini(&a);
	fake_fini(&p);
}

static void test_add_while_asking_and_errors(void **state)
{
	struct ctflive_merge *m;
	struct fake a, b, c;
	struct fake *all[] = { &a, &b, &c };
	const struct ctflive_ctf_msg *msg;
	struct ctflive_ctf_stream *s;
	struct ctflive_ctf_diag d;
	struct fake *w;
	int64_t t;

	(void)state;
	fake_init(&a, 1);
	fake_init(&b, 2);
	fake_init(&c, 3);
	assert_int_equal(ctflive_merge_new(&m), 0);
	add(m, &a);
	add(m, &b);
	/* asking b adds c (a live stream announced with b's index): c holds
	 * the merge back at once, and its messages are merged */
	b.add_on_pull = &c;
	for (int i = 0; i < 8; i++)
		push(&a, 10 + 10 * i);
	push(&b, 15);
	push(&c, 5);
	c.empty = CTFLIVE_MERGE_BLOCKED;
	expect(m, all, 3, 5, &c);
	assert_int_equal(next(m, &t, &w, all, 3), -EAGAIN);
	c.empty = CTFLIVE_MERGE_ENDED;
	expect(m, all, 3, 10, &a);
	expect(m, all, 3, 15, &b);
	/* an input's error stops the merge; it names the input */
	b.empty = -EPROTO;
	assert_int_equal(ctflive_merge_next(m, &msg, &s, &d), -EPROTO);
	assert_ptr_equal(s, b.s);
	assert_string_equal(d.msg, "fake failure");
	assert_int_equal(ctflive_merge_next(m, &msg, &s, &d), -EPROTO);
	assert_string_equal(d.msg, "fake failure");
	ctflive_merge_free(m);
	fake_fini(&a);
	fake_fini(&b);
	fake_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_interleaved),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_untimed),
		cmocka_unit_test(test_idle_bound),
		cmocka_unit_test(test_blocked),
		cmocka_unit_test(test_monotonic_error),
		cmocka_unit_test(test_lost_after_last),
		cmocka_unit_test(test_bound_only_input),
		cmocka_unit_test(test_plain_stream),
		cmocka_unit_test(test_add_while_asking_and_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
