/* SPDX-License-Identifier: MIT */
/* test_auth.c - the accounts file of the file store (auth_file.c): its round trip and the
 * corrupt files it refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_file.h"

static const char id[] = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

static void
test_file_roundtrip(void **state)
{
	struct cf_auth_rec in[2] = {
	        {.pub = {.name = (char *)"alice", .created = 1700000000, .gen = 0},
	         .hash = (char *)"$y$j9T$abc$def"},
	        {.pub = {.name = (char *)"bob \xc3\xa9", .created = 1700000001, .gen = 3},
	         .hash = (char *)"$y$j9T$ghi$jkl"},
	};
	struct cf_auth_rec *out = NULL;
	size_t n = 0;
	char err[256], *buf;

	(void)state;
	strcpy(in[0].pub.id, id);
	strcpy(in[1].pub.id, "9b2f8a3e-0c4d-4e5f-8a6b-7c8d9e0f1a2b");
	buf = cf_auth_file_encode(in, 2);
	assert_non_null(buf);
	assert_int_equal(cf_auth_file_decode(buf, strlen(buf), &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(out[i].pub.id, in[i].pub.id);
		assert_string_equal(out[i].pub.name, in[i].pub.name);
		assert_string_equal(out[i].hash, in[i].hash);
		assert_int_equal(out[i].pub.created, in[i].pub.created);
		assert_int_equal(out[i].pub.gen, in[i].pub.gen);
		free(out[i].pub.name);
		free(out[i].hash);
	}
	free(out);
	/* Corrupt: cut in the middle, a bad id, a hash that is no hash, wrong version. */
	assert_int_equal(cf_auth_file_decode(buf, strlen(buf) / 2, &out, &n, err, sizeof(err)),
	                 -EINVAL);
	free(buf);
	{
		static const char *bad[] = {
		        "{\"version\":1,\"accounts\":[{\"id\":\"nope\",\"name\":\"a\",\"hash\":\"$"
		        "y$\","
		        "\"created\":1,\"gen\":0}]}",
		        "{\"version\":1,\"accounts\":[{\"id\":\"1b4e28ba-2fa1-41d2-883f-"
		        "0016d3cca427\","
		        "\"name\":\"a\",\"hash\":\"secret\",\"created\":1,\"gen\":0}]}",
		        "{\"version\":2,\"accounts\":[]}",
		        "[]",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(cf_auth_file_decode(bad[i], strlen(bad[i]), &out, &n, err,
			                                     sizeof(err)),
			                 -EINVAL);
	}
	/* Empty is fine. */
	buf = cf_auth_file_encode(NULL, 0);
	assert_non_null(buf);
	assert_int_equal(cf_auth_file_decode(buf, strlen(buf), &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(out);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_file_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
