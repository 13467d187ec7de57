/* SPDX-License-Identifier: MIT */
/* test_rules.c - a room's rules (rules.c): who may join and send, which changes each role may
 * make, the owner that must remain, the bounds, and the JSON form read as hostile input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "core/rules.h"

#define NOW 1700000000
#define MAX 100

static int
change(struct cf_rules *r, enum cf_rules_op op, const char *actor, const char *target, int role,
       int64_t until)
{
	struct cf_rules_change c = {.op = op,
	                            .actor = actor,
	                            .target = target,
	                            .role = (uint8_t)role,
	                            .until = until,
	                            .topic = "t"};
	int e = cf_rules_check(r, &c, NOW, MAX);

	return e ? e : cf_rules_apply(r, &c, NOW);
}

/* A private room of alice (owner), mo (moderator), mem (member). */
static void
room(struct cf_rules *r, enum cf_room_kind kind)
{
	struct cf_rules_change c = {
	        .op = CF_RULES_CREATE, .actor = "alice", .kind = kind, .topic = "hello"};

	cf_rules_init(r);
	assert_int_equal(cf_rules_check(NULL, &c, NOW, MAX), 0);
	assert_int_equal(cf_rules_apply(r, &c, NOW), 0);
	assert_int_equal(change(r, CF_RULES_ROLE, "alice", "mo", CF_ROLE_MODERATOR, 0), 0);
	assert_int_equal(change(r, CF_RULES_ROLE, "alice", "mem", CF_ROLE_MEMBER, 0), 0);
}

static void
test_no_rules_is_open(void **state)
{
	assert_int_equal(cf_rules_may_join(NULL, "guest:x", 0, NOW), 0);
	assert_int_equal(cf_rules_may_send(NULL, "guest:x", 0, NOW), 0);
}

static void
test_join_and_send_by_kind(void **state)
{
	struct cf_rules r;

	room(&r, CF_KIND_PRIVATE);
	assert_int_equal(cf_rules_role(&r, "alice"), CF_ROLE_OWNER);
	assert_int_equal(cf_rules_may_join(&r, "mem", 1, NOW), 0);
	assert_int_equal(cf_rules_may_join(&r, "stranger", 1, NOW), -EACCES);
	assert_int_equal(cf_rules_may_join(&r, "guest:mem", 0, NOW), -EKEYREJECTED);
	assert_int_equal(cf_rules_may_send(&r, "mem", 1, NOW), 0);
	cf_rules_fini(&r);

	room(&r, CF_KIND_ANNOUNCE);
	assert_int_equal(cf_rules_may_join(&r, "stranger", 1, NOW), 0);
	assert_int_equal(cf_rules_may_join(&r, "guest:x", 0, NOW), -EKEYREJECTED);
	assert_int_equal(cf_rules_may_send(&r, "stranger", 1, NOW), -EACCES);
	assert_int_equal(cf_rules_may_send(&r, "mem", 1, NOW), -EACCES);
	assert_int_equal(cf_rules_may_send(&r, "mo", 1, NOW), 0);
	cf_rules_fini(&r);

	room(&r, CF_KIND_OPEN);
	assert_int_equal(cf_rules_may_join(&r, "guest:x", 0, NOW), 0);
	assert_int_equal(cf_rules_may_send(&r, "guest:x", 0, NOW), 0);
	cf_rules_fini(&r);
}

static void
test_ban_and_mute_expire(void **state)
{
	struct cf_rules r;

	room(&r, CF_KIND_OPEN);
	assert_int_equal(change(&r, CF_RULES_BAN, "mo", "bob", 0, NOW + 60), 0);
	assert_int_equal(cf_rules_may_join(&r, "bob", 1, NOW), -EPERM);
	assert_int_equal(cf_rules_may_send(&r, "bob", 1, NOW), -EPERM);
	assert_int_equal(cf_rules_may_join(&r, "bob", 1, NOW + 60), 0);
	assert_int_equal(change(&r, CF_RULES_MUTE, "mo", "carl", 0, CF_RULES_FOREVER), 0);
	assert_int_equal(cf_rules_may_join(&r, "carl", 1, NOW), 0);
	assert_int_equal(cf_rules_may_send(&r, "carl", 1, NOW), -EKEYEXPIRED);
	assert_int_equal(change(&r, CF_RULES_UNMUTE, "mo", "carl", 0, 0), 0);
	assert_int_equal(cf_rules_may_send(&r, "carl", 1, NOW), 0);
	/* carl's entry said nothing any more: it is gone. */
	assert_int_equal(r.nusers, 4);
	/* A ban or mute must end in the future. */
	assert_int_equal(change(&r, CF_RULES_BAN, "mo", "dan", 0, NOW), -EINVAL);
	cf_rules_fini(&r);
}

static void
test_who_may_change_what(void **state)
{
	struct cf_rules r;
	uint64_t v;

	room(&r, CF_KIND_PRIVATE);
	v = r.version;
	/* Members change nothing; moderators admit members, kick, ban and mute below them. */
	assert_int_equal(change(&r, CF_RULES_ROLE, "mem", "x", CF_ROLE_MEMBER, 0), -EPERM);
	assert_int_equal(change(&r, CF_RULES_KICK, "mem", "x", 0, 0), -EPERM);
	assert_int_equal(change(&r, CF_RULES_TOPIC, "mem", NULL, 0, 0), -EPERM);
	assert_int_equal(r.version, v);
	assert_int_equal(change(&r, CF_RULES_ROLE, "mo", "x", CF_ROLE_MEMBER, 0), 0);
	v = r.version;
	/* Again: allowed, but nothing to do. */
	assert_int_equal(change(&r, CF_RULES_ROLE, "mo", "x", CF_ROLE_MEMBER, 0), -EALREADY);
	assert_int_equal(r.version, v);
	assert_int_equal(change(&r, CF_RULES_ROLE, "mo", "x", CF_ROLE_NONE, 0), 0);
	assert_int_equal(change(&r, CF_RULES_ROLE, "mo", "x", CF_ROLE_MODERATOR, 0), -EPERM);
	assert_int_equal(change(&r, CF_RULES_BAN, "mo", "mem", 0, NOW + 5), 0);
	assert_int_equal(change(&r, CF_RULES_BAN, "mo", "alice", 0, NOW + 5), -EPERM);
	assert_int_equal(change(&r, CF_RULES_MUTE, "mo", "mo", 0, NOW + 5), -EPERM);
	assert_int_equal(change(&r, CF_RULES_TOPIC, "mo", NULL, 0, 0), 0);
	assert_int_equal(change(&r, CF_RULES_KIND, "mo", NULL, 0, 0), -EPERM);
	/* Owners do everything but leave the room without an owner, or ban an owner. */
	assert_int_equal(change(&r, CF_RULES_ROLE, "alice", "alice", CF_ROLE_MEMBER, 0), -EBUSY);
	assert_int_equal(change(&r, CF_RULES_ROLE, "alice", "mo", CF_ROLE_OWNER, 0), 0);
	assert_int_equal(change(&r, CF_RULES_BAN, "alice", "mo", 0, NOW + 5), -EPERM);
	assert_int_equal(change(&r, CF_RULES_ROLE, "alice", "alice", CF_ROLE_NONE, 0), 0);
	assert_int_equal(cf_rules_role(&r, "alice"), CF_ROLE_NONE);
	/* The operator may do anything. */
	assert_int_equal(change(&r, CF_RULES_BAN, NULL, "mo", 0, NOW + 5), 0);
	assert_int_equal(change(&r, CF_RULES_ROLE, NULL, "mo", CF_ROLE_NONE, 0), 0);
	/* A room without rules changes only by create; a room with rules is not created again. */
	assert_int_equal(change(NULL, CF_RULES_TOPIC, "alice", NULL, 0, 0), -ENOENT);
	assert_int_equal(change(&r, CF_RULES_CREATE, "bob", NULL, 0, 0), -EEXIST);
	cf_rules_fini(&r);
}

static void
test_bounds(void **state)
{
	struct cf_rules r;
	char id[16];
	struct cf_rules_change c = {.op = CF_RULES_TOPIC, .actor = "alice"};
	char topic[CF_RULES_TOPIC_MAX + 2];

	room(&r, CF_KIND_OPEN);
	for (int i = (int)r.nusers; i < MAX; i++) {
		snprintf(id, sizeof(id), "u%d", i);
		assert_int_equal(change(&r, CF_RULES_MUTE, "alice", id, 0, NOW + 9), 0);
	}
	assert_int_equal(change(&r, CF_RULES_MUTE, "alice", "one-more", 0, NOW + 9), -E2BIG);
	/* Changing someone listed, or unlisting, still works. */
	assert_int_equal(change(&r, CF_RULES_BAN, "alice", "u5", 0, NOW + 9), 0);
	memset(topic, 'x', sizeof(topic) - 1);
	topic[sizeof(topic) - 1] = '\0';
	c.topic = topic;
	assert_int_equal(cf_rules_check(&r, &c, NOW, MAX), -EINVAL);
	c.topic = "tab\there";
	assert_int_equal(cf_rules_check(&r, &c, NOW, MAX), -EINVAL);
	cf_rules_fini(&r);
}

static void
test_json_round_trip_and_hostile(void **state)
{
	struct cf_rules r, back;
	json_t *o;
	static const char *bad[] = {
	        "[]",
	        "{\"v\":1,\"kind\":\"open\",\"topic\":\"\"}",
	        "{\"v\":-1,\"kind\":\"open\",\"topic\":\"\",\"users\":{}}",
	        "{\"v\":1,\"kind\":\"secret\",\"topic\":\"\",\"users\":{}}",
	        "{\"v\":1,\"kind\":\"open\",\"topic\":\"\",\"users\":{\"a\":{\"role\":\"god\"}}}",
	        "{\"v\":1,\"kind\":\"open\",\"topic\":\"\",\"users\":{\"a:b\":{}}}",
	        "{\"v\":1,\"kind\":\"open\",\"topic\":\"\",\"users\":{\"a\":{\"ban\":-5}}}",
	        "{\"v\":1,\"kind\":\"open\",\"topic\":\"\",\"users\":{\"a\":{\"ban\":\"x\"}}}",
	        "{\"v\":1,\"kind\":\"open\",\"topic\":\"\",\"users\":{\"\":{}}}",
	        "{\"v\":1,\"kind\":\"open\",\"topic\":\"\\u0001\",\"users\":{}}",
	};

	room(&r, CF_KIND_ANNOUNCE);
	assert_int_equal(change(&r, CF_RULES_BAN, "alice", "guest:zed", 0, NOW + 9), 0);
	o = cf_rules_json(&r);
	assert_non_null(o);
	cf_rules_init(&back);
	assert_int_equal(cf_rules_from_json(&back, o, MAX, 32), 0);
	assert_int_equal(back.version, r.version);
	assert_int_equal(back.kind, CF_KIND_ANNOUNCE);
	assert_string_equal(back.topic, "hello");
	assert_int_equal(back.nusers, r.nusers);
	assert_int_equal(cf_rules_role(&back, "mo"), CF_ROLE_MODERATOR);
	assert_int_equal(cf_rules_may_join(&back, "guest:zed", 0, NOW), -EPERM);
	/* Too many users for the bound: refused, back unchanged. */
	assert_int_equal(cf_rules_from_json(&back, o, 2, 32), -EINVAL);
	assert_int_equal(back.nusers, r.nusers);
	json_decref(o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_loads(bad[i], 0, NULL);
		assert_non_null(o);
		assert_int_equal(cf_rules_from_json(&back, o, MAX, 32), -EINVAL);
		json_decref(o);
	}
	assert_int_equal(back.version, r.version);
	cf_rules_fini(&back);
	/* A copy is deep. */
	cf_rules_init(&back);
	assert_int_equal(cf_rules_copy(&back, &r), 0);
	cf_rules_fini(&r);
	assert_int_equal(cf_rules_role(&back, "alice"), CF_ROLE_OWNER);
	cf_rules_fini(&back);
}

/* Only an owner closes a room; the operator closes any, even one without rules. */
static void
test_close(void **state)
{
	struct cf_rules r;
	struct cf_rules_change op = {.op = CF_RULES_CLOSE};

	room(&r, CF_KIND_OPEN);
	assert_int_equal(change(&r, CF_RULES_CLOSE, "mo", NULL, 0, 0), -EPERM);
	assert_int_equal(change(&r, CF_RULES_CLOSE, "mem", NULL, 0, 0), -EPERM);
	assert_int_equal(change(&r, CF_RULES_CLOSE, "stranger", NULL, 0, 0), -EPERM);
	assert_int_equal(change(&r, CF_RULES_CLOSE, "alice", NULL, 0, 0), 0);
	assert_int_equal(change(NULL, CF_RULES_CLOSE, "alice", NULL, 0, 0), -ENOENT);
	assert_int_equal(cf_rules_check(NULL, &op, NOW, MAX), 0);
	assert_int_equal(cf_rules_check(&r, &op, NOW, MAX), 0);
	cf_rules_fini(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_no_rules_is_open),
	        cmocka_unit_test(test_join_and_send_by_kind),
	        cmocka_unit_test(test_ban_and_mute_expire),
	        cmocka_unit_test(test_who_may_change_what),
	        cmocka_unit_test(test_bounds),
	        cmocka_unit_test(test_json_round_trip_and_hostile),
	        cmocka_unit_test(test_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
