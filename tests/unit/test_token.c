/* SPDX-License-Identifier: MIT */
/* test_token.c - token signing and verification (tampering, expiry, wrong key), and the bytes
 * of the format pinned: tokens and derived names made by another implementation (Python's
 * hmac and base64.urlsafe_b64encode, padding cut), so that tokens issued before an upgrade keep
 * verifying and every node derives the same names, and only the one spelling sign writes is
 * accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "auth/token.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[32] = "fedcba9876543210fedcba9876543210";
static const char id[] = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

static void
test_token(void **state)
{
	char tok[CF_TOKEN_MAX], got[CF_STORE_ID_LEN + 1], bad[CF_TOKEN_MAX];
	uint64_t gen = 0;

	(void)state;
	assert_int_equal(cf_token_sign(key, sizeof(key), id, 7, 2000, tok, sizeof(tok)), 0);
	assert_non_null(strchr(tok, '.'));
	assert_int_equal(cf_token_parse(key, sizeof(key), tok, 1999, got, &gen), 0);
	assert_string_equal(got, id);
	assert_int_equal(gen, 7);
	/* The same account, gen and expiry: still another token (a random nonce), as good. */
	{
		char tok2[CF_TOKEN_MAX];

		assert_int_equal(cf_token_sign(key, sizeof(key), id, 7, 2000, tok2, sizeof(tok2)),
		                 0);
		assert_string_not_equal(tok, tok2);
		assert_int_equal(cf_token_parse(key, sizeof(key), tok2, 1999, got, &gen), 0);
	}
	/* Expiry. */
	assert_int_equal(cf_token_parse(key, sizeof(key), tok, 2000, got, &gen), -EKEYEXPIRED);
	/* Wrong key. */
	assert_int_equal(cf_token_parse(key2, sizeof(key2), tok, 1000, got, &gen), -EBADMSG);
	/* Every single-character change is detected. */
	for (size_t i = 0; tok[i]; i++) {
		strcpy(bad, tok);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_int_not_equal(cf_token_parse(key, sizeof(key), bad, 1000, got, &gen), 0);
	}
	/* A payload re-signed with another gen does not carry the old MAC. */
	{
		char t2[CF_TOKEN_MAX], mix[2 * CF_TOKEN_MAX];

		assert_int_equal(cf_token_sign(key, sizeof(key), id, 8, 2000, t2, sizeof(t2)), 0);
		snprintf(mix, sizeof(mix), "%.*s%s", (int)(strchr(t2, '.') - t2), t2,
		         strchr(tok, '.'));
		assert_int_equal(cf_token_parse(key, sizeof(key), mix, 1000, got, &gen), -EBADMSG);
	}
	/* Garbage. */
	assert_int_equal(cf_token_parse(key, sizeof(key), "", 1000, got, &gen), -EBADMSG);
	assert_int_equal(cf_token_parse(key, sizeof(key), ".", 1000, got, &gen), -EBADMSG);
	assert_int_equal(cf_token_parse(key, sizeof(key), "abc.def", 1000, got, &gen), -EBADMSG);
	/* A bad id is refused when signing. */
	assert_int_equal(cf_token_sign(key, sizeof(key), "x", 0, 1, tok, sizeof(tok)), -EINVAL);
}

/* Tokens made outside confab (see the file's head) for id at gens 7, 70 and 700, expiry 2000,
 * nonce 00ff10fe20fd30fc: payloads of each length modulo 3. */
static const struct {
	uint64_t gen;
	const char *tok;
} pinned[] = {
        {7, "MToxYjRlMjhiYS0yZmExLTQxZDItODgzZi0wMDE2ZDNjY2E0Mjc6NzoyMDAwOjAwZmYxMGZlMjBmZDMwZmM."
            "mJIZDvkc-tSYobNWQoG0O-qy-dAwgf7a_Xao6-ih5QQ"},
        {70, "MToxYjRlMjhiYS0yZmExLTQxZDItODgzZi0wMDE2ZDNjY2E0Mjc6NzA6MjAwMDowMGZmMTBmZTIwZmQzMGZj."
             "WcdCT8v5h2B-YNnXiO-1UwcVD7QHNlRPu1zG13bDTEY"},
        {700,
         "MToxYjRlMjhiYS0yZmExLTQxZDItODgzZi0wMDE2ZDNjY2E0Mjc6NzAwOjIwMDA6MDBmZjEwZmUyMGZkMzBmYw."
         "qVq26o_ohF78Fk7bKiH2jroIGhHuirj9-5fUsY1TAtg"},
};

static void
test_token_pinned(void **state)
{
	char got[CF_STORE_ID_LEN + 1], tok[CF_TOKEN_MAX];
	uint64_t gen = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		assert_int_equal(cf_token_parse(key, sizeof(key), pinned[i].tok, 1999, got, &gen),
		                 0);
		assert_string_equal(got, id);
		assert_int_equal(gen, pinned[i].gen);
		assert_int_equal(cf_token_parse(key, sizeof(key), pinned[i].tok, 2000, got, &gen),
		                 -EKEYEXPIRED);
		/* What sign writes has the same shape: unpadded, the MAC in 43 characters. A
		 * strict parser takes one spelling of a payload, so a round trip pins the rest. */
		assert_int_equal(
		        cf_token_sign(key, sizeof(key), id, pinned[i].gen, 2000, tok, sizeof(tok)),
		        0);
		assert_int_equal(strlen(tok), strlen(pinned[i].tok));
		assert_int_equal(strchr(tok, '.') - tok,
		                 strchr(pinned[i].tok, '.') - pinned[i].tok);
		assert_null(strchr(tok, '='));
		assert_int_equal(cf_token_parse(key, sizeof(key), tok, 1999, got, &gen), 0);
		assert_int_equal(gen, pinned[i].gen);
	}
}

/* Spellings other base64 decoders take for the same bytes (lws_b64_decode_stateful() takes
 * each of them): refused, so a token has one spelling. */
static void
test_token_one_spelling(void **state)
{
	const char *t = pinned[0].tok, *dot = strchr(t, '.');
	char bad[CF_TOKEN_MAX + 2], got[CF_STORE_ID_LEN + 1];
	uint64_t gen = 0;
	size_t n = strlen(t);

	(void)state;
	assert_int_equal(cf_token_parse(key, sizeof(key), t, 1000, got, &gen), 0);
	/* The other alphabet. */
	strcpy(bad, t);
	*strchr(bad, '-') = '+';
	assert_int_equal(cf_token_parse(key, sizeof(key), bad, 1000, got, &gen), -EBADMSG);
	strcpy(bad, t);
	*strchr(bad, '_') = '/';
	assert_int_equal(cf_token_parse(key, sizeof(key), bad, 1000, got, &gen), -EBADMSG);
	/* Padding, after the payload or the MAC. */
	snprintf(bad, sizeof(bad), "%.*s=%s", (int)(dot - t), t, dot);
	assert_int_equal(cf_token_parse(key, sizeof(key), bad, 1000, got, &gen), -EBADMSG);
	snprintf(bad, sizeof(bad), "%s=", t);
	assert_int_equal(cf_token_parse(key, sizeof(key), bad, 1000, got, &gen), -EBADMSG);
	/* A character outside the alphabet, which a lenient decoder skips. */
	snprintf(bad, sizeof(bad), "%.8s!%s", t, t + 8);
	assert_int_equal(cf_token_parse(key, sizeof(key), bad, 1000, got, &gen), -EBADMSG);
	/* The MAC's last character with a leftover bit set: the same 32 bytes to a decoder that
	 * ignores those bits ('Q' is 010000: four bits of the MAC, two left over). */
	strcpy(bad, t);
	assert_int_equal(bad[n - 1], 'Q');
	bad[n - 1] = 'R';
	assert_int_equal(cf_token_parse(key, sizeof(key), bad, 1000, got, &gen), -EBADMSG);
}

static void
test_derive_pinned(void **state)
{
	char out[45];

	(void)state;
	assert_int_equal(cf_token_derive(key, sizeof(key), "redis_chat private channel",
	                                 "alice:bob", out, sizeof(out)),
	                 0);
	assert_string_equal(out, "C-FXFGXKr5SJWqtLtLqlSXEH86Nabj-OQPUTMooEmbk");
	assert_int_equal(cf_token_derive(key, sizeof(key), "x", "", out, sizeof(out)), 0);
	assert_string_equal(out, "ZO4rTh8gvJa-POOkyh8QwzxfwGuVJgc2IknqC9CP0ds");
	/* Room for the padded length and the NUL, as before lws encoded: 45 bytes, not 44. */
	assert_int_equal(cf_token_derive(key, sizeof(key), "x", "", out, sizeof(out) - 1), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_token),
	        cmocka_unit_test(test_token_pinned),
	        cmocka_unit_test(test_token_one_spelling),
	        cmocka_unit_test(test_derive_pinned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
