/* SPDX-License-Identifier: MIT */
/* test_bus_local.c - seed 002's created rooms on the standalone bus (bus.h: room_create,
 * room_check, room_known), the contract dialect_chatty.c relies on: answers come before the
 * call returns, an id is created once, at most max ids are alive, an unknown id is unknown at
 * once and after the upgrade alike, and a bus without them says so instead of answering. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus/bus.h"
#include "config/config.h"

static struct {
	int calls, err;
	char room[64];
} got;

static void
on_room(void *ud, const char *room, int err)
{
	(void)ud;
	got.calls++;
	got.err = err;
	snprintf(got.room, sizeof(got.room), "%s", room);
}

/* What cf_bus_room_create() or cf_bus_room_check() answered: exactly one callback, before the
 * call returned. */
static int
answer(int r)
{
	assert_int_equal(r, 0);
	assert_int_equal(got.calls, 1);
	got.calls = 0;
	return got.err;
}

static void
test_created_rooms(void **state)
{
	struct cf_bus_host host = {0};
	struct cf_config cfg;
	struct cf_bus *b = cf_bus_local_new(NULL, &host);

	(void)state;
	assert_non_null(b);
	assert_int_equal(cf_config_init(&cfg), 0);
	/* Without cf_bus_local_rooms() the bus keeps none and says so. */
	assert_int_equal(cf_bus_room_create(b, "r1", 2, on_room, NULL), -EOPNOTSUPP);
	assert_int_equal(cf_bus_room_check(b, "r1", on_room, NULL), -EOPNOTSUPP);
	assert_int_equal(cf_bus_room_known(b, "r1"), 0);
	assert_int_equal(got.calls, 0);

	cf_bus_local_rooms(b, &cfg);
	assert_int_equal(cf_bus_room_known(b, "r1"), 0);
	assert_int_equal(answer(cf_bus_room_check(b, "r1", on_room, NULL)), -ENOENT);
	assert_int_equal(answer(cf_bus_room_create(b, "r1", 2, on_room, NULL)), 0);
	assert_string_equal(got.room, "r1");
	assert_int_equal(cf_bus_room_known(b, "r1"), 1);
	assert_int_equal(answer(cf_bus_room_check(b, "r1", on_room, NULL)), 0);
	assert_int_equal(answer(cf_bus_room_create(b, "r1", 2, on_room, NULL)), -EEXIST);
	/* max counts the ids alive. */
	assert_int_equal(answer(cf_bus_room_create(b, "r2", 2, on_room, NULL)), 0);
	assert_int_equal(answer(cf_bus_room_create(b, "r3", 2, on_room, NULL)), -ENOSPC);
	assert_int_equal(cf_bus_room_known(b, "r3"), 0);
	assert_int_equal(answer(cf_bus_room_create(b, "r3", 3, on_room, NULL)), 0);

	cf_bus_free(b); /* frees the ids (valgrind and ASan check) */
	cf_config_fini(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_created_rooms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
