/* SPDX-License-Identifier: MIT */
/* jwt.c - cf_jwt_verify(): application tokens come from clients (hello). Input byte 0 picks
 * the mode: even, the rest is the token as sent; odd, the rest is a claims payload (any bytes)
 * the harness signs with the key under an HS256 header, so the claim rules behind the
 * signature check (which a client cannot pass without the key, but the application could
 * mint badly) are reached too. */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "auth/jwt.h"
#include "config/config.h"

static const char key[] = "confab fuzz jwt key: at least 32 bytes";
static struct cf_jwt *verifier;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct cf_config cfg;
	char path[] = "/tmp/confab-fuzz-jwt-XXXXXX", err[256];
	int fd = mkstemp(path), off;

	if (fd < 0 || write(fd, key, strlen(key)) != (ssize_t)strlen(key) || close(fd) < 0 ||
	    cf_config_init(&cfg) < 0)
		abort();
	if (cf_config_set(&cfg, "auth", "jwt_alg", "HS256", 1, err, sizeof(err)) < 0 ||
	    cf_config_set(&cfg, "auth", "jwt_key_file", path, 1, err, sizeof(err)) < 0 ||
	    cf_config_set(&cfg, "auth", "jwt_audience", "fuzz", 1, err, sizeof(err)) < 0)
		abort();
	verifier = cf_jwt_new(&cfg, &off, err, sizeof(err));
	unlink(path);
	if (!verifier) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	return 0;
}

static size_t
b64url(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	int o = lws_b64_encode_string_url((const char *)in, (int)n, out, (int)outlen);

	if (o < 0)
		abort();
	while (o > 0 && out[o - 1] == '=')
		out[--o] = '\0';
	return (size_t)o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_jwt_claims c;
	char why[160], *tok;
	int r;

	if (size < 1 || size > 4096)
		return -1;
	if (data[0] & 1) {
		static const char head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
		size_t cap = 2 * size + 256, o;
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mlen = 0;

		tok = malloc(cap);
		if (!tok)
			abort();
		o = b64url((const unsigned char *)head, strlen(head), tok, cap);
		tok[o++] = '.';
		o += b64url(data + 1, size - 1, tok + o, cap - o);
		if (!HMAC(EVP_sha256(), key, strlen(key), (unsigned char *)tok, o, mac, &mlen))
			abort();
		tok[o++] = '.';
		b64url(mac, mlen, tok + o, cap - o);
	} else {
		tok = fuzz_str(data + 1, size - 1);
	}
	r = cf_jwt_verify(verifier, tok, 1700000000, 32, &c, why, sizeof(why));
	if (r == 0) {
		if (!c.sub || !c.name || strlen(c.sub) > 32 || (c.nrooms && !c.rooms))
			abort();
		for (size_t i = 0; i < c.nrooms; i++)
			(void)cf_jwt_room_allowed(&c, c.rooms[i]);
		cf_jwt_claims_free(&c);
	} else if (r != -EBADMSG && r != -EKEYEXPIRED && r != -EKEYREJECTED) {
		abort();
	}
	free(tok);
	return 0;
}
