/* SPDX-License-Identifier: MIT */
/* test_inbox.c - the standalone offline inboxes: order, the bounds (messages, bytes, users),
 * the TTL, held messages (kept until written, at least once), and persistence through the state
 * directory (round trip, removal, corrupt files). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "base/metrics.h"
#include "base/state.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/inbox.h"

#define T0 1700000000000LL

static char base[PATH_MAX];
static struct cf_config cfg;

static int
setup(void **state)
{
	char err[256];

	(void)state;
	cf_metrics_init();
	snprintf(base, sizeof(base), "/tmp/confab-inbox-XXXXXX");
	if (!mkdtemp(base) || cf_config_init(&cfg) < 0)
		return -1;
	cfg.inbox_max_messages = 5;
	cfg.inbox_max_bytes = 1024;
	cfg.inbox_ttl = 60;
	cfg.inbox_max_users = 3;
	return cf_state_open(base, err, sizeof(err));
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	cf_state_close();
	cf_config_fini(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static int
put(struct cf_inbox *ib, const char *to, const char *text, int64_t now)
{
	struct cf_msg *m = cf_msg_new(to, "alice", "Alice", text, NULL);
	int r;

	assert_non_null(m);
	m->dm = 1;
	m->keep = 1;
	m->ts_ms = now - 5;
	snprintf(m->mid, sizeof(m->mid), "id-%s", text);
	r = cf_inbox_put(ib, m, now);
	cf_msg_unref(m);
	return r;
}

/* Drains uid's messages and checks their texts, in order ("a,b,c"); with written, each is then
 * written (cf_inbox_done()), as a session does. */
static void
expect_drain(struct cf_inbox *ib, const char *uid, int64_t now, const char *want, int written)
{
	struct cf_msg **v;
	size_t n = cf_inbox_drain(ib, uid, now, &v);
	char got[1024] = "";

	for (size_t i = 0; i < n; i++) {
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
		         v[i]->text);
		assert_true(v[i]->queued && v[i]->dm && v[i]->held);
		if (written)
			assert_int_equal(cf_inbox_done(ib, uid, v[i]->mid), 0);
		assert_string_equal(v[i]->room, uid);
		assert_string_equal(v[i]->from_id, "alice");
		assert_string_equal(v[i]->from_name, "Alice");
		cf_msg_unref(v[i]);
	}
	free(v);
	assert_string_equal(got, want);
}

static void
expect_take(struct cf_inbox *ib, const char *uid, int64_t now, const char *want)
{
	expect_drain(ib, uid, now, want, 1);
}

static size_t
files(void)
{
	DIR *d = opendir(base);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "inbox-", 6))
			n++;
	closedir(d);
	return n;
}

static void
test_order_and_take_once(void **state)
{
	struct cf_inbox *ib = cf_inbox_new(NULL, &cfg);

	(void)state;
	assert_int_equal(put(ib, "bob", "a", T0), 0);
	assert_int_equal(put(ib, "bob", "b", T0 + 1), 0);
	assert_int_equal(put(ib, "carol", "x", T0 + 2), 0);
	assert_int_equal(put(ib, "bob", "c", T0 + 3), 0);
	assert_int_equal(cf_inbox_count(ib, "bob"), 3);
	assert_int_equal(cf_metrics.inbox_queued_total, 4);
	assert_int_equal(cf_metrics.inbox_users, 2);
	assert_int_equal(cf_metrics.inbox_messages, 4);
	expect_take(ib, "bob", T0 + 10, "a,b,c");
	expect_take(ib, "bob", T0 + 10, "");
	assert_int_equal(cf_inbox_count(ib, "bob"), 0);
	expect_take(ib, "carol", T0 + 10, "x");
	expect_take(ib, "nobody", T0 + 10, "");
	assert_int_equal(cf_metrics.inbox_users, 0);
	assert_int_equal(cf_metrics.inbox_messages, 0);
	cf_inbox_free(ib);
}

static void
test_bounds_drop_the_oldest(void **state)
{
	struct cf_inbox *ib = cf_inbox_new(NULL, &cfg);
	char big[600];

	(void)state;
	for (int i = 0; i < 7; i++) {
		char t[8];

		snprintf(t, sizeof(t), "m%d", i);
		assert_int_equal(put(ib, "bob", t, T0 + i), 0);
	}
	assert_int_equal(cf_metrics.inbox_dropped_count, 2);
	expect_take(ib, "bob", T0 + 10, "m2,m3,m4,m5,m6");

	/* Bytes: two 590-byte texts (+ "alice" + "Alice") do not fit in 1024: the first goes. */
	memset(big, 'y', 590);
	big[590] = '\0';
	assert_int_equal(put(ib, "bob", "small", T0), 0);
	big[0] = '1';
	assert_int_equal(put(ib, "bob", big, T0), 0);
	big[0] = '2';
	assert_int_equal(put(ib, "bob", big, T0), 0);
	assert_int_equal(cf_metrics.inbox_dropped_bytes, 2);
	assert_int_equal(cf_inbox_count(ib, "bob"), 1);
	/* Alone over the bound: refused. */
	cfg.inbox_max_bytes = 100;
	assert_int_equal(put(ib, "bob", big, T0), -EMSGSIZE);
	cfg.inbox_max_bytes = 1024;

	/* Users: three have inboxes (bob, u1, u2); a fourth is refused, an existing one not. */
	assert_int_equal(put(ib, "u1", "a", T0), 0);
	assert_int_equal(put(ib, "u2", "a", T0), 0);
	assert_int_equal(put(ib, "u3", "a", T0), -ENOSPC);
	assert_int_equal(cf_metrics.inbox_dropped_users, 1);
	assert_int_equal(put(ib, "u2", "b", T0), 0);
	expect_take(ib, "u1", T0, "a");
	assert_int_equal(put(ib, "u3", "a", T0), 0);
	cf_inbox_free(ib);
}

static void
test_ttl_drops_expired(void **state)
{
	struct cf_inbox *ib = cf_inbox_new(NULL, &cfg);

	(void)state;
	assert_int_equal(put(ib, "bob", "old", T0), 0);
	assert_int_equal(put(ib, "bob", "new", T0 + 30000), 0);
	assert_int_equal(put(ib, "carol", "old", T0), 0);
	/* 60 s after the first: it is gone, the second is not. */
	expect_take(ib, "bob", T0 + 60000, "new");
	assert_int_equal(cf_metrics.inbox_dropped_expired, 1);
	assert_int_equal(cf_inbox_expire(ib, T0 + 60000), 1);
	assert_int_equal(cf_inbox_count(ib, "carol"), 0);
	cf_inbox_free(ib);
}

static void
test_persistence_round_trip(void **state)
{
	struct cf_inbox *ib = cf_inbox_new(NULL, &cfg);
	struct cf_msg **v;
	char err[512];
	size_t n;

	(void)state;
	assert_int_equal(put(ib, "bob", "a", T0), 0);
	assert_int_equal(put(ib, "bob", "b \"quoted\" é", T0 + 1), 0);
	assert_int_equal(put(ib, "carol", "c", T0 + 2), 0);
	assert_int_equal(put(ib, "gone", "old", T0 - 120000), 0);
	/* Nothing is written before a flush (ctx NULL: no timer). */
	assert_int_equal(files(), 0);
	assert_int_equal(cf_inbox_flush(ib), 0);
	assert_int_equal(files(), 3);
	cf_inbox_free(ib);

	ib = cf_inbox_new(NULL, &cfg);
	assert_int_equal(cf_inbox_load(ib, T0 + 10, err, sizeof(err)), 0);
	assert_int_equal(cf_inbox_count(ib, "bob"), 2);
	assert_int_equal(cf_inbox_count(ib, "carol"), 1);
	/* Expired while stopped: dropped at load, its file removed. */
	assert_int_equal(cf_inbox_count(ib, "gone"), 0);
	assert_int_equal(files(), 2);
	n = cf_inbox_drain(ib, "bob", T0 + 10, &v);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->text, "a");
	assert_string_equal(v[0]->mid, "id-a");
	assert_int_equal(v[0]->ts_ms, T0 - 5);
	assert_int_equal(v[0]->queued_ms, T0);
	assert_string_equal(v[1]->text, "b \"quoted\" é");
	/* Delivered but not written yet: still in the file, so a crash delivers them again. */
	assert_int_equal(cf_inbox_flush(ib), 0);
	assert_int_equal(files(), 2);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(cf_inbox_done(ib, "bob", v[i]->mid), 0);
		cf_msg_unref(v[i]);
	}
	free(v);
	/* Written: bob's file goes with the next batch. */
	assert_int_equal(cf_inbox_flush(ib), 0);
	assert_int_equal(files(), 1);
	cf_inbox_free(ib);

	ib = cf_inbox_new(NULL, &cfg);
	assert_int_equal(cf_inbox_load(ib, T0 + 10, err, sizeof(err)), 0);
	assert_int_equal(cf_inbox_count(ib, "bob"), 0);
	expect_take(ib, "carol", T0 + 10, "c");
	cf_inbox_free(ib);
	assert_int_equal(files(), 0);
}

/* A user's file is named by the SHA-256 of the user id in lowercase hex: the name files of an
 * earlier run are found and replaced by. */
static void
test_file_name(void **state)
{
	struct cf_inbox *ib = cf_inbox_new(NULL, &cfg);
	char path[sizeof(base) + 96];

	(void)state;
	assert_int_equal(put(ib, "bob", "a", T0), 0);
	assert_int_equal(cf_inbox_flush(ib), 0);
	snprintf(path, sizeof(path),
	         "%s/inbox-81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9.json",
	         base);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(files(), 1);
	cf_inbox_free(ib);
}

/* A message delivered live to a user who has sessions is held: kept, in memory only, until a
 * session has written it; one that no session wrote comes again with the user's next drain. */
static void
test_held_until_written(void **state)
{
	struct cf_inbox *ib = cf_inbox_new(NULL, &cfg);
	struct cf_msg *m = cf_msg_new("bob", "alice", "Alice", "live", NULL);

	(void)state;
	assert_non_null(m);
	m->dm = m->keep = m->held = 1;
	snprintf(m->mid, sizeof(m->mid), "id-live");
	assert_int_equal(cf_inbox_put(ib, m, T0), 0);
	cf_msg_unref(m);
	/* Held, not waiting: a newer live message need not queue behind it. */
	assert_int_equal(cf_inbox_count(ib, "bob"), 1);
	assert_false(cf_inbox_waiting(ib, "bob"));
	assert_int_equal(cf_metrics.inbox_queued_total, 0);
	/* Never written to the state directory. */
	assert_int_equal(cf_inbox_flush(ib), 0);
	assert_int_equal(files(), 0);
	/* The session that had it closed before writing it: the next drain brings it again,
	 * marked as kept, with the same id. */
	expect_drain(ib, "bob", T0 + 10, "live", 0);
	expect_drain(ib, "bob", T0 + 10, "live", 1);
	assert_int_equal(cf_inbox_count(ib, "bob"), 0);
	assert_int_equal(cf_inbox_done(ib, "bob", "id-live"), -ENOENT);

	/* A waiting message (the user was offline) keeps later ones behind it until drained. */
	assert_int_equal(put(ib, "bob", "w", T0), 0);
	assert_true(cf_inbox_waiting(ib, "bob"));
	/* Only a held message is done by a write: a waiting one was never delivered. */
	assert_int_equal(cf_inbox_done(ib, "bob", "id-w"), -ENOENT);
	expect_drain(ib, "bob", T0 + 10, "w", 0);
	assert_false(cf_inbox_waiting(ib, "bob"));
	assert_int_equal(cf_inbox_done(ib, "bob", "id-w"), 0);
	assert_int_equal(cf_metrics.inbox_users, 0);
	assert_int_equal(cf_metrics.inbox_messages, 0);
	cf_inbox_free(ib);
	assert_int_equal(files(), 0);
}

static void
test_corrupt_file_is_an_error_naming_it(void **state)
{
	struct cf_inbox *ib = cf_inbox_new(NULL, &cfg);
	char err[512] = "", path[PATH_MAX + 64];
	FILE *f;

	(void)state;
	assert_int_equal(put(ib, "bob", "a", T0), 0);
	cf_inbox_free(ib); /* writes */
	assert_int_equal(files(), 1);
	snprintf(path, sizeof(path), "%s/inbox-0000.json", base);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"version\":1,\"user\":", f);
	fclose(f);
	ib = cf_inbox_new(NULL, &cfg);
	assert_int_equal(cf_inbox_load(ib, T0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "inbox-0000.json"));
	cf_inbox_free(ib);

	/* Valid JSON under another user's name is corrupt too. */
	f = fopen(path, "w");
	fputs("{\"version\":1,\"user\":\"bob\",\"messages\":[]}", f);
	fclose(f);
	ib = cf_inbox_new(NULL, &cfg);
	err[0] = '\0';
	assert_int_equal(cf_inbox_load(ib, T0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "inbox-0000.json"));
	cf_inbox_free(ib);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_order_and_take_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bounds_drop_the_oldest, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ttl_drops_expired, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_persistence_round_trip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_file_name, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_held_until_written, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_corrupt_file_is_an_error_naming_it, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
