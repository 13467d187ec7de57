/* SPDX-License-Identifier: MIT */
/* test_auth.c - the building blocks of accounts: yescrypt hash and check, token signing and
 * verification (tampering, expiry, wrong key), the accounts file round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <crypt.h>

#include "confab/auth.h"
#include "confab/auth_file.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[32] = "fedcba9876543210fedcba9876543210";
static const char id[] = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

static void
test_hash(void **state)
{
	char h[CRYPT_OUTPUT_SIZE], h2[CRYPT_OUTPUT_SIZE];

	(void)state;
	assert_int_equal(cf_auth_hash("password123", 11, h, sizeof(h)), 0);
	assert_memory_equal(h, "$y$", 3);
	assert_null(strstr(h, "password123"));
	assert_int_equal(cf_auth_hash_check(h, "password123", 11), 0);
	assert_int_equal(cf_auth_hash_check(h, "password124", 11), -EACCES);
	assert_int_equal(cf_auth_hash_check(h, "password12", 10), -EACCES);
	assert_int_equal(cf_auth_hash_check(h, "", 0), -EACCES);
	/* A fresh salt each time. */
	assert_int_equal(cf_auth_hash("password123", 11, h2, sizeof(h2)), 0);
	assert_string_not_equal(h, h2);
	/* Embedded NUL: refused, not truncated. */
	assert_int_equal(cf_auth_hash("pass\0word", 9, h2, sizeof(h2)), -EINVAL);
	assert_int_equal(cf_auth_hash_check(h, "password123\0x", 13), -EACCES);
	assert_int_equal(cf_auth_hash_check("plain", "plain", 5), -EINVAL);
}

static void
test_token(void **state)
{
	char tok[CF_AUTH_TOKEN_MAX], got[CF_AUTH_ID_LEN + 1], bad[CF_AUTH_TOKEN_MAX];
	uint64_t gen = 0;

	(void)state;
	assert_int_equal(cf_auth_token_sign(key, sizeof(key), id, 7, 2000, tok, sizeof(tok)), 0);
	assert_non_null(strchr(tok, '.'));
	assert_int_equal(cf_auth_token_parse(key, sizeof(key), tok, 1999, got, &gen), 0);
	assert_string_equal(got, id);
	assert_int_equal(gen, 7);
	/* The same account, gen and expiry: still another token (a random nonce), as good. */
	{
		char tok2[CF_AUTH_TOKEN_MAX];

		assert_int_equal(
		        cf_auth_token_sign(key, sizeof(key), id, 7, 2000, tok2, sizeof(tok2)), 0);
		assert_string_not_equal(tok, tok2);
		assert_int_equal(cf_auth_token_parse(key, sizeof(key), tok2, 1999, got, &gen), 0);
	}
	/* Expiry. */
	assert_int_equal(cf_auth_token_parse(key, sizeof(key), tok, 2000, got, &gen), -EKEYEXPIRED);
	/* Wrong key. */
	assert_int_equal(cf_auth_token_parse(key2, sizeof(key2), tok, 1000, got, &gen), -EBADMSG);
	/* Every single-character change is detected. */
	for (size_t i = 0; tok[i]; i++) {
		strcpy(bad, tok);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_int_not_equal(cf_auth_token_parse(key, sizeof(key), bad, 1000, got, &gen),
		                     0);
	}
	/* A payload re-signed with another gen does not carry the old MAC. */
	{
		char t2[CF_AUTH_TOKEN_MAX], mix[2 * CF_AUTH_TOKEN_MAX];

		assert_int_equal(cf_auth_token_sign(key, sizeof(key), id, 8, 2000, t2, sizeof(t2)),
		                 0);
		snprintf(mix, sizeof(mix), "%.*s%s", (int)(strchr(t2, '.') - t2), t2,
		         strchr(tok, '.'));
		assert_int_equal(cf_auth_token_parse(key, sizeof(key), mix, 1000, got, &gen),
		                 -EBADMSG);
	}
	/* Garbage. */
	assert_int_equal(cf_auth_token_parse(key, sizeof(key), "", 1000, got, &gen), -EBADMSG);
	assert_int_equal(cf_auth_token_parse(key, sizeof(key), ".", 1000, got, &gen), -EBADMSG);
	assert_int_equal(cf_auth_token_parse(key, sizeof(key), "abc.def", 1000, got, &gen),
	                 -EBADMSG);
	/* A bad id is refused when signing. */
	assert_int_equal(cf_auth_token_sign(key, sizeof(key), "x", 0, 1, tok, sizeof(tok)),
	                 -EINVAL);
}

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
	        cmocka_unit_test(test_hash),
	        cmocka_unit_test(test_token),
	        cmocka_unit_test(test_file_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
