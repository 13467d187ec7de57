/* SPDX-License-Identifier: MIT */
/* test_jwt.c - the application tokens' rules (jwt.c): what is accepted, what each refusal
 * answers. Tokens are signed here with OpenSSL's HMAC (HS256), so the claims reach the rules;
 * the integration tests verify tokens minted by python3-jwt, and the public-key algorithms. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/jwt.h"
#include "config/config.h"

#define NOW 1700000000
static const char key[] = "unit test secret of more than 32 bytes";

static struct cf_jwt *
verifier(const char *aud, const char *iss)
{
	static struct cf_config cfg;
	char path[] = "/tmp/confab-test-jwt-XXXXXX", err[256];
	int fd = mkstemp(path), off;
	struct cf_jwt *j;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, key, strlen(key)), (ssize_t)strlen(key));
	close(fd);
	cf_config_fini(&cfg);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(cf_config_init(&cfg), 0);
	assert_int_equal(cf_config_set(&cfg, "auth", "jwt_alg", "HS256", 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&cfg, "auth", "jwt_key_file", path, 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&cfg, "auth", "jwt_audience", aud, 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&cfg, "auth", "jwt_issuer", iss, 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&cfg, "auth", "jwt_leeway", "10", 1, err, sizeof(err)), 0);
	j = cf_jwt_new(&cfg, &off, err, sizeof(err));
	unlink(path);
	assert_non_null(j);
	return j;
}

static void
b64(const char *in, size_t n, char *out, size_t outlen)
{
	int o = lws_b64_encode_string_url(in, (int)n, out, (int)outlen);

	assert_true(o >= 0);
	while (o > 0 && out[o - 1] == '=')
		out[--o] = '\0';
}

/* header and payload are JSON texts; the token is signed with k. */
static char *
mint_with(const char *header, const char *payload, const char *k)
{
	static char tok[4096];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	size_t o;

	b64(header, strlen(header), tok, sizeof(tok));
	o = strlen(tok);
	tok[o++] = '.';
	b64(payload, strlen(payload), tok + o, sizeof(tok) - o);
	o = strlen(tok);
	assert_non_null(HMAC(EVP_sha256(), k, strlen(k), (unsigned char *)tok, o, mac, &mlen));
	tok[o++] = '.';
	b64((const char *)mac, mlen, tok + o, sizeof(tok) - o);
	return tok;
}

static char *
mint(const char *payload)
{
	return mint_with("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, key);
}

static int
verify(struct cf_jwt *j, const char *tok, char *why)
{
	struct cf_jwt_claims c;
	int r = cf_jwt_verify(j, tok, NOW, 32, &c, why, 160);

	cf_jwt_claims_free(&c);
	return r;
}

static void
test_accepts_and_reads_claims(void **state)
{
	struct cf_jwt *j = verifier("", "");
	struct cf_jwt_claims c;
	char why[160];

	assert_int_equal(cf_jwt_verify(j,
	                               mint("{\"sub\":\"alice\",\"exp\":1700000100,\"name\":"
	                                    "\"Alice\",\"rooms\":[\"lobby\",\"team-*\"]}"),
	                               NOW, 32, &c, why, sizeof(why)),
	                 0);
	assert_string_equal(c.sub, "alice");
	assert_string_equal(c.name, "Alice");
	assert_int_equal(c.exp, 1700000100);
	assert_int_equal(c.nrooms, 2);
	assert_true(cf_jwt_room_allowed(&c, "lobby"));
	assert_true(cf_jwt_room_allowed(&c, "team-"));
	assert_true(cf_jwt_room_allowed(&c, "team-red"));
	assert_false(cf_jwt_room_allowed(&c, "lobby2"));
	assert_false(cf_jwt_room_allowed(&c, "team"));
	cf_jwt_claims_free(&c);
	/* name defaults to sub; no rooms claim: any room. */
	assert_int_equal(cf_jwt_verify(j, mint("{\"sub\":\"bob\",\"exp\":1700000100}"), NOW, 32, &c,
	                               why, sizeof(why)),
	                 0);
	assert_string_equal(c.name, "bob");
	assert_null(c.rooms);
	assert_true(cf_jwt_room_allowed(&c, "anything"));
	cf_jwt_claims_free(&c);
	cf_jwt_free(j);
}

static void
test_time_claims(void **state)
{
	struct cf_jwt *j = verifier("", "");
	char why[160];

	/* exp passed, beyond the 10 s leeway; inside it; exactly at the edge. */
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":1699999980}"), why), -EKEYEXPIRED);
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":1699999995}"), why), 0);
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":1699999990}"), why), -EKEYEXPIRED);
	assert_int_equal(
	        verify(j, mint("{\"sub\":\"a\",\"exp\":1700000100,\"nbf\":1700000020}"), why),
	        -EKEYREJECTED);
	assert_int_equal(
	        verify(j, mint("{\"sub\":\"a\",\"exp\":1700000100,\"nbf\":1700000005}"), why), 0);
	/* exp missing or not a number; nbf, iat not numbers. */
	assert_int_equal(verify(j, mint("{\"sub\":\"a\"}"), why), -EBADMSG);
	assert_non_null(strstr(why, "exp"));
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":\"1800000000\"}"), why), -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":1800000000,\"iat\":\"x\"}"), why),
	                 -EBADMSG);
	/* Fractional NumericDates are numbers too. */
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":1700000100.5}"), why), 0);
	cf_jwt_free(j);
}

static void
test_audience_and_issuer(void **state)
{
	struct cf_jwt *none = verifier("", ""), *j = verifier("chat", "https://app");
	char why[160];

	/* Without auth.jwt_audience a token with an aud is refused (RFC 7519 4.1.3). */
	assert_int_equal(
	        verify(none, mint("{\"sub\":\"a\",\"exp\":1800000000,\"aud\":\"x\"}"), why),
	        -EBADMSG);
	assert_int_equal(verify(j,
	                        mint("{\"sub\":\"a\",\"exp\":1800000000,\"aud\":\"chat\","
	                             "\"iss\":\"https://app\"}"),
	                        why),
	                 0);
	assert_int_equal(verify(j,
	                        mint("{\"sub\":\"a\",\"exp\":1800000000,\"aud\":[1,\"chat\"],"
	                             "\"iss\":\"https://app\"}"),
	                        why),
	                 0);
	assert_int_equal(verify(j,
	                        mint("{\"sub\":\"a\",\"exp\":1800000000,\"aud\":[\"chatx\"],"
	                             "\"iss\":\"https://app\"}"),
	                        why),
	                 -EBADMSG);
	assert_int_equal(
	        verify(j, mint("{\"sub\":\"a\",\"exp\":1800000000,\"iss\":\"https://app\"}"), why),
	        -EBADMSG);
	assert_int_equal(
	        verify(j, mint("{\"sub\":\"a\",\"exp\":1800000000,\"aud\":\"chat\"}"), why),
	        -EBADMSG);
	assert_int_equal(verify(j,
	                        mint("{\"sub\":\"a\",\"exp\":1800000000,\"aud\":\"chat\","
	                             "\"iss\":\"https://app.evil\"}"),
	                        why),
	                 -EBADMSG);
	cf_jwt_free(none);
	cf_jwt_free(j);
}

static void
test_identity_claims(void **state)
{
	struct cf_jwt *j = verifier("", "");
	char why[160];

	assert_int_equal(verify(j, mint("{\"exp\":1800000000}"), why), -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":1,\"exp\":1800000000}"), why), -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":\"guest:a\",\"exp\":1800000000}"), why),
	                 -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":\"guest-1\",\"exp\":1800000000}"), why),
	                 -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":\"a\\u0000b\",\"exp\":1800000000}"), why),
	                 -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":\"\",\"exp\":1800000000}"), why), -EBADMSG);
	assert_int_equal(verify(j,
	                        mint("{\"sub\":\"123456789012345678901234567890123\","
	                             "\"exp\":1800000000}"),
	                        why),
	                 -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":1800000000,\"name\":\" a\"}"), why),
	                 -EBADMSG);
	assert_int_equal(
	        verify(j, mint("{\"sub\":\"a\",\"exp\":1800000000,\"name\":\"\\u202eecila\"}"),
	               why),
	        -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":1800000000,\"rooms\":\"x\"}"), why),
	                 -EBADMSG);
	assert_int_equal(
	        verify(j, mint("{\"sub\":\"a\",\"exp\":1800000000,\"rooms\":[\"\"]}"), why),
	        -EBADMSG);
	assert_int_equal(verify(j, mint("{\"sub\":\"a\",\"exp\":1800000000,\"rooms\":[7]}"), why),
	                 -EBADMSG);
	{
		char big[2048] = "{\"sub\":\"a\",\"exp\":1800000000,\"rooms\":[";

		for (int i = 0; i <= CF_JWT_ROOMS_MAX; i++)
			strcat(big, i ? ",\"r\"" : "\"r\"");
		strcat(big, "]}");
		assert_int_equal(verify(j, mint(big), why), -EBADMSG);
	}
	cf_jwt_free(j);
}

static void
test_header_and_signature(void **state)
{
	struct cf_jwt *j = verifier("", "");
	const char *p = "{\"sub\":\"a\",\"exp\":1800000000}";
	char why[160], *t;

	/* Another algorithm in the header, none, a crit header, another key. */
	assert_int_equal(verify(j, mint_with("{\"alg\":\"HS512\"}", p, key), why), -EBADMSG);
	assert_non_null(strstr(why, "HS512"));
	assert_int_equal(verify(j, mint_with("{\"alg\":\"none\"}", p, key), why), -EBADMSG);
	assert_int_equal(verify(j, mint_with("{\"alg\":\"HS256\",\"crit\":[\"x\"]}", p, key), why),
	                 -EBADMSG);
	assert_int_equal(
	        verify(j, mint_with("{\"alg\":\"HS256\"}", p, "another key of 32 bytes or more"),
	               why),
	        -EBADMSG);
	assert_int_equal(verify(j, mint_with("{\"alg\":\"HS256\",\"alg\":\"none\"}", p, key), why),
	                 -EBADMSG);
	assert_int_equal(verify(j, mint_with("[]", p, key), why), -EBADMSG);
	/* A flipped signature character; a payload that is not an object. */
	t = mint(p);
	t[strlen(t) - 3] = t[strlen(t) - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(j, t, why), -EBADMSG);
	assert_int_equal(verify(j, mint("[1]"), why), -EBADMSG);
	cf_jwt_free(j);
}

static void
test_looks_like(void **state)
{
	assert_true(cf_jwt_looks_like("a.b.c"));
	assert_true(cf_jwt_looks_like("eyJ-_.x_.Zz9"));
	assert_false(cf_jwt_looks_like("a.b"));  /* confab's own token */
	assert_false(cf_jwt_looks_like("a.b.")); /* unsigned */
	assert_false(cf_jwt_looks_like(".b.c"));
	assert_false(cf_jwt_looks_like("a..c"));
	assert_false(cf_jwt_looks_like("a.b.c.d"));
	assert_false(cf_jwt_looks_like("a.b+.c"));
	assert_false(cf_jwt_looks_like(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_accepts_and_reads_claims),
	        cmocka_unit_test(test_time_claims),
	        cmocka_unit_test(test_audience_and_issuer),
	        cmocka_unit_test(test_identity_claims),
	        cmocka_unit_test(test_header_and_signature),
	        cmocka_unit_test(test_looks_like),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
