/* SPDX-License-Identifier: MIT */
/* test_sess.c - a session's held commands (sess.h: cf_sess_hold() and the rest): held while
 * one is served, replayed in order once it is done, bounded per session; and the loop turn's
 * flush list, one entry per session. The session has no
 * wsi, so the socket's flow control is not exercised here (the integration tests do); the
 * dialect is a small one of this file that serves its commands the way the real ones do. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/dialect.h"
#include "core/env.h"
#include "core/frame.h"
#include "core/sess.h"

#define LOG_MAX 64

/* What the dialect saw: each command it served, in order ("<bin>" for a binary one). */
static char seen[LOG_MAX][32];
static size_t nseen;
static int depth, max_depth;

/* Commands: "wait..." waits (an account operation), "sync..." is busy and done at once (a
 * request served without waiting), "fail" fails, "close" closes the session; others are
 * served at once. */
static int
t_on_text(struct cf_sess *s, const char *buf, size_t len)
{
	int r = 0;

	if (cf_sess_must_hold(s)) {
		r = cf_sess_hold(s, buf, len);
		return r == -ENOBUFS ? 0 : r;
	}
	if (++depth > max_depth)
		max_depth = depth;
	assert_true(nseen < LOG_MAX);
	snprintf(seen[nseen++], sizeof(seen[0]), "%s", buf ? buf : "<bin>");
	if (buf && !strncmp(buf, "wait", 4)) {
		cf_sess_wait(s);
	} else if (buf && !strncmp(buf, "sync", 4)) {
		cf_sess_busy(s);
		cf_sess_done(s);
	} else if (buf && !strcmp(buf, "fail")) {
		r = -1;
	} else if (buf && !strcmp(buf, "close")) {
		cf_sess_close_quiet(s, 4029, "rate limited");
	}
	depth--;
	return r;
}

static const struct cf_dialect t_dialect = {
        .name = "test",
        .on_text = t_on_text,
};

static int
setup(void **state)
{
	struct cf_sess *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->dialect = &t_dialect;
	nseen = 0;
	depth = max_depth = 0;
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct cf_sess *s = *state;

	cf_sess_hold_clear(s);
	assert_true(!s->x || !s->x->held.count);
	free(s->x);
	free(s);
	return 0;
}

static void
in(struct cf_sess *s, const char *cmd)
{
	assert_int_equal(s->dialect->on_text(s, cmd, cmd ? strlen(cmd) : 0), 0);
}

static void
test_idle_serves_at_once(void **state)
{
	struct cf_sess *s = *state;

	assert_false(cf_sess_must_hold(s));
	in(s, "a");
	in(s, "b");
	assert_int_equal(nseen, 2);
	assert_string_equal(seen[1], "b");
	assert_null(s->x); /* nothing held: no extension allocated */
}

static void
test_held_in_order_until_one_waits(void **state)
{
	struct cf_sess *s = *state;

	in(s, "wait1");
	assert_true(s->busy);
	in(s, "a");
	in(s, NULL);
	in(s, "wait2");
	in(s, "c");
	assert_int_equal(nseen, 1);
	assert_int_equal(s->x->held.count, 4);

	cf_sess_done(s); /* wait1's operation completed */
	assert_int_equal(nseen, 4);
	assert_string_equal(seen[1], "a");
	assert_string_equal(seen[2], "<bin>");
	assert_string_equal(seen[3], "wait2");
	assert_true(s->busy);
	assert_int_equal(s->x->held.count, 1);
	/* A command arriving now goes behind c, not before it. */
	assert_true(cf_sess_must_hold(s));
	in(s, "d");

	cf_sess_done(s);
	assert_int_equal(nseen, 6);
	assert_string_equal(seen[4], "c");
	assert_string_equal(seen[5], "d");
	assert_false(s->busy);
	assert_int_equal(s->x->held.count, 0);
	assert_false(cf_sess_must_hold(s));
}

static void
test_bounded(void **state)
{
	struct cf_sess *s = *state;
	char cmd[16];

	in(s, "wait");
	for (int i = 0; i < CF_SESS_HOLD_MAX; i++) {
		snprintf(cmd, sizeof(cmd), "c%d", i);
		assert_int_equal(cf_sess_hold(s, cmd, strlen(cmd)), 0);
	}
	assert_int_equal(cf_sess_hold(s, "over", 4), -ENOBUFS);
	assert_int_equal(cf_sess_hold(s, NULL, 0), -ENOBUFS);
	assert_int_equal(s->x->held.count, CF_SESS_HOLD_MAX);

	cf_sess_done(s);
	assert_int_equal(nseen, 1 + CF_SESS_HOLD_MAX);
	assert_string_equal(seen[CF_SESS_HOLD_MAX], "c15");
	/* Room again once replayed. */
	assert_int_equal(s->x->held.count, 0);
	in(s, "wait");
	assert_int_equal(cf_sess_hold(s, "again", 5), 0);
}

/* A held command served at once (busy, then done within the replay) lets the replay go on
 * without recursing into it. */
static void
test_served_at_once_in_replay(void **state)
{
	struct cf_sess *s = *state;

	in(s, "wait");
	in(s, "sync1");
	in(s, "sync2");
	in(s, "e");
	cf_sess_done(s);
	assert_int_equal(nseen, 4);
	assert_string_equal(seen[1], "sync1");
	assert_string_equal(seen[2], "sync2");
	assert_string_equal(seen[3], "e");
	assert_int_equal(max_depth, 1);
	assert_false(s->busy);
	assert_false(s->replaying);
}

static void
test_failed_command_closes(void **state)
{
	struct cf_sess *s = *state;

	in(s, "wait");
	in(s, "fail");
	in(s, "f");
	cf_sess_done(s);
	assert_int_equal(nseen, 2);
	assert_true(s->closing);
	assert_int_equal(s->close_code, 1011);
	/* Nothing more is served once the session closes; teardown frees what stays held. */
	assert_int_equal(s->x->held.count, 1);
}

static void
test_closing_stops_the_replay(void **state)
{
	struct cf_sess *s = *state;

	in(s, "wait");
	in(s, "close");
	in(s, "g");
	cf_sess_done(s);
	assert_int_equal(nseen, 2);
	assert_int_equal(s->close_code, 4029);
	assert_int_equal(s->x->held.count, 1);
	/* Not busy, but what is held keeps its place: a later command goes behind it. */
	assert_false(s->busy);
	assert_true(cf_sess_must_hold(s));
}

static void
test_held_bytes_are_copies(void **state)
{
	struct cf_sess *s = *state;
	char buf[8] = "hi";

	in(s, "wait");
	assert_int_equal(cf_sess_hold(s, buf, 2), 0);
	strcpy(buf, "xx");
	cf_sess_done(s);
	assert_int_equal(nseen, 2);
	assert_string_equal(seen[1], "hi");
}

/* A session whose queue fills goes on the loop turn's flush list once, however many frames are
 * queued in the turn, so the list never holds more entries than there are sessions; a session
 * already waiting for the transport (a non-empty queue) is not listed again. */
static void
test_flush_list_once_per_session(void **state)
{
	struct cf_sess *s = *state, *t = calloc(1, sizeof(*t));
	struct cf_config cfg = {.queue_bytes = 1 << 20, .queue_frames = 64};
	struct cf_env env = {.cfg = &cfg};
	struct cf_frame *f = cf_frame_new("x", 1);

	assert_non_null(t);
	assert_non_null(f);
	s->env = t->env = &env;
	/* Never dereferenced: with memory for the list, a push only lists the session. */
	s->wsi = t->wsi = (struct lws *)&env;
	for (int i = 0; i < 3; i++) {
		cf_sess_push(s, f);
		cf_sess_push(t, f);
	}
	assert_int_equal(s->out.count, 3);
	assert_int_equal(env.flush_n, 2);
	assert_ptr_equal(env.flush[0], s);
	assert_ptr_equal(env.flush[1], t);
	assert_true(s->flush_queued && t->flush_queued);

	/* The transport wrote t's queue but not all of s's at the turn's end: s is not listed
	 * again (it waits for WRITEABLE), t is, once its queue fills again. */
	env.flush_n = 0;
	s->flush_queued = t->flush_queued = 0;
	cf_ring_clear(&t->out);
	cf_sess_push(s, f);
	cf_sess_push(t, f);
	cf_sess_push(t, f);
	assert_int_equal(env.flush_n, 1);
	assert_ptr_equal(env.flush[0], t);

	cf_ring_clear(&s->out);
	cf_ring_clear(&t->out);
	s->wsi = NULL;
	s->env = NULL;
	free(env.flush);
	free(t);
	cf_frame_unref(f);
}

/* A queue past a quarter of session.queue_frames (or queue_bytes) tells the transport to write
 * instead of reading ahead (env.h flush_deep); below it, nothing is said. */
static void
test_deep_queue_stops_reading_ahead(void **state)
{
	struct cf_sess *s = *state;
	struct cf_config cfg = {.queue_bytes = 1 << 20, .queue_frames = 16};
	struct cf_env env = {.cfg = &cfg};
	struct cf_frame *f = cf_frame_new("x", 1), *big = cf_frame_alloc(300000);

	assert_non_null(f);
	assert_non_null(big);
	memset(cf_frame_payload(big), 'x', 300000);
	big->len = 300000;
	s->env = &env;
	for (int i = 0; i < 4; i++)
		cf_sess_push(s, f);
	assert_int_equal(env.flush_deep, 0);
	cf_sess_push(s, f); /* 5 of 16 frames */
	assert_int_equal(env.flush_deep, 1);
	assert_false(s->slow);

	cf_ring_clear(&s->out);
	env.flush_deep = 0;
	cf_sess_push(s, big); /* 300,000 of 1 MiB */
	assert_int_equal(env.flush_deep, 1);
	assert_false(s->slow);

	cf_ring_clear(&s->out);
	s->env = NULL;
	cf_frame_unref(f);
	cf_frame_unref(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_idle_serves_at_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_held_in_order_until_one_waits, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_served_at_once_in_replay, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_failed_command_closes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_closing_stops_the_replay, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_held_bytes_are_copies, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_flush_list_once_per_session, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_deep_queue_stops_reading_ahead, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
