/* SPDX-License-Identifier: MIT */
/* test_pwhash.c - the yescrypt hash and check of pwhash.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <crypt.h>

#include "auth/pwhash.h"

static void
test_hash(void **state)
{
	char h[CRYPT_OUTPUT_SIZE], h2[CRYPT_OUTPUT_SIZE];

	(void)state;
	assert_int_equal(cf_pwhash_hash("password123", 11, h, sizeof(h)), 0);
	assert_memory_equal(h, "$y$", 3);
	assert_null(strstr(h, "password123"));
	assert_int_equal(cf_pwhash_check(h, "password123", 11), 0);
	assert_int_equal(cf_pwhash_check(h, "password124", 11), -EACCES);
	assert_int_equal(cf_pwhash_check(h, "password12", 10), -EACCES);
	assert_int_equal(cf_pwhash_check(h, "", 0), -EACCES);
	/* A fresh salt each time. */
	assert_int_equal(cf_pwhash_hash("password123", 11, h2, sizeof(h2)), 0);
	assert_string_not_equal(h, h2);
	/* Embedded NUL: refused, not truncated. */
	assert_int_equal(cf_pwhash_hash("pass\0word", 9, h2, sizeof(h2)), -EINVAL);
	assert_int_equal(cf_pwhash_check(h, "password123\0x", 13), -EACCES);
	assert_int_equal(cf_pwhash_check("plain", "plain", 5), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
