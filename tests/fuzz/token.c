/* SPDX-License-Identifier: MIT */
/* token.c - cf_token_parse(): tokens come from clients (hello, Authorization headers).
 * Input byte 0 picks the mode: even, the rest is the token as sent; odd, the rest is a
 * payload the harness signs with the key, so the parser behind the MAC check (which a client
 * cannot pass without the key, but a leaked or old-format token could) is reached too. */
#include "fuzz.h"

#include <errno.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "auth/token.h"

static const unsigned char key[32] = "confab fuzz key: 32 bytes long!";

/* The token's spelling: lws's base64url without the '=' padding (as token.c signs). */
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
	char id[CF_STORE_ID_LEN + 1], *tok;
	uint64_t gen;
	int r;

	if (size < 1 || size > 1024)
		return -1;
	if (data[0] & 1) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mlen = 0;
		size_t o;

		tok = malloc(2 * size + 64);
		if (!tok || !HMAC(EVP_sha256(), key, sizeof(key), data + 1, size - 1, mac, &mlen))
			abort();
		o = b64url(data + 1, size - 1, tok, 2 * size + 64);
		tok[o++] = '.';
		b64url(mac, mlen, tok + o, 2 * size + 64 - o);
	} else {
		tok = fuzz_str(data + 1, size - 1);
	}
	r = cf_token_parse(key, sizeof(key), tok, 1700000000, id, &gen);
	if (r == 0 && (strlen(id) != CF_STORE_ID_LEN))
		abort();
	if (r < 0 && r != -EBADMSG && r != -EKEYEXPIRED)
		abort();
	free(tok);
	return 0;
}
