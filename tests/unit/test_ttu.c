/* SPDX-License-Identifier: MIT */
/* test_ttu.c - seed 004's request parsing: the socket's `username:<name>` frame and the body
 * of POST /api/send and /api/receive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/dialect.h"
#include "dialects/dialects.h"

static int
user(const char *frame, size_t len, char *out)
{
	return cf_ttu_parse_username(frame, len, out, 64);
}

static void
test_username(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(user("username:bob", 12, out), 3);
	assert_string_equal(out, "bob");
	/* Between the first and the second ':'. */
	assert_int_equal(user("username:bob:extra", 18, out), 3);
	assert_string_equal(out, "bob");
	/* Any frame starting with "username", as the seed's StartsWith. */
	assert_int_equal(user("usernameX:al", 12, out), 2);
	assert_string_equal(out, "al");
	/* NULs are stripped. */
	assert_int_equal(user("username:a\0b", 12, out), 2);
	assert_string_equal(out, "ab");
	/* Not registrations: ignored by the caller. */
	assert_int_equal(user("username", 8, out), -EINVAL);
	assert_int_equal(user("username:", 9, out), -EINVAL);
	assert_int_equal(user("user:bob", 8, out), -EINVAL);
	assert_int_equal(user("hello", 5, out), -EINVAL);
	assert_int_equal(user("", 0, out), -EINVAL);
	/* Longer than the buffer. */
	{
		char big[200];

		memcpy(big, "username:", 9);
		memset(big + 9, 'x', sizeof(big) - 9);
		assert_int_equal(user(big, sizeof(big), out), -E2BIG);
	}
}

static void
test_body(void **state)
{
	char *rcv, *snd, *pl;
	const char *why;

	(void)state;
#define BODY(s) (s), strlen(s), &rcv, &snd, &pl, &why
	assert_int_equal(cf_ttu_parse_body(BODY("{\"receiver\":\"B\",\"payload\":\"hi\"}")), 0);
	assert_string_equal(rcv, "B");
	assert_string_equal(pl, "hi");
	assert_null(snd);
	free(rcv);
	free(pl);
	assert_int_equal(
	        cf_ttu_parse_body(BODY("{\"receiver\":\"B\",\"sender\":\"A\",\"payload\":\"x\"}")),
	        0);
	assert_string_equal(snd, "A");
	free(rcv);
	free(snd);
	free(pl);
	/* Keys in any case, extra fields dropped, scalars as their text. */
	assert_int_equal(cf_ttu_parse_body(BODY("{\"Receiver\":\"B\",\"PAYLOAD\":42,\"x\":[1]}")),
	                 0);
	assert_string_equal(rcv, "B");
	assert_string_equal(pl, "42");
	free(rcv);
	free(pl);
	assert_int_equal(cf_ttu_parse_body(BODY("{\"receiver\":\"B\",\"payload\":true}")), 0);
	assert_string_equal(pl, "true");
	free(rcv);
	free(pl);
	/* Refused: not JSON, not an object, missing or unusable fields. */
	assert_int_equal(cf_ttu_parse_body(BODY("not json")), -EINVAL);
	assert_int_equal(cf_ttu_parse_body(BODY("[1,2]")), -EINVAL);
	assert_int_equal(cf_ttu_parse_body(BODY("{\"receiver\":\"B\"}")), -EINVAL);
	assert_int_equal(cf_ttu_parse_body(BODY("{\"payload\":\"x\"}")), -EINVAL);
	assert_int_equal(cf_ttu_parse_body(BODY("{\"receiver\":\"B\",\"payload\":{\"a\":1}}")),
	                 -EINVAL);
	assert_int_equal(cf_ttu_parse_body(BODY("{\"receiver\":null,\"payload\":\"x\"}")), -EINVAL);
	assert_null(rcv);
	assert_null(snd);
	assert_null(pl);
	/* A sender that is no string is refused like the seed's 500. */
	assert_int_equal(
	        cf_ttu_parse_body(BODY("{\"receiver\":\"B\",\"sender\":[1],\"payload\":\"x\"}")),
	        -EINVAL);
	assert_int_equal(cf_ttu_parse_body(NULL, 0, &rcv, &snd, &pl, &why), -EINVAL);
	assert_non_null(why);
#undef BODY
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_username),
	        cmocka_unit_test(test_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
